# /etc/chef-backend/chef-backend.rb
#
# Written by chef-backend-ctl gen-sample-backend-config for be1, then edited
# by hand over the years. Service settings must match on all three nodes.

fqdn "be1.example.com"
publish_address '10.0.1.11'
hide_sensitive true
ip_version 'ipv4'
vip = "10.0.1.100"
vip_interface = 'eth0'

## PostgreSQL
postgresql.log_min_duration_statement = 500
postgresql['max_connections'] = 500
postgresql["port"] = 5432
postgresql.md5_auth_cidr_addresses = [
  "samehost",
  "samenet",
  "10.0.1.0/24",   # frontends
  '10.0.2.0/24',   # frontends, second AZ
]
postgresql.checkpoint_completion_target = 0.9
postgresql.shared_buffers = '4GB'
postgresql.effective_cache_size nil
postgresql.work_mem '16MB'
postgresql.shmmax 17179869184    # removed in 1.2.5, left over
postgresql.shmall 4194304
postgresql.environment = { 'LC_ALL' => 'C', "TZ" => "UTC" }
postgresql.log_checkpoints false
postgresql.log_rotation.num_to_keep = 20

## etcd
etcd.election_timeout = 5000
etcd.heartbeat_interval = 500
etcd.snapshot_count 5000
etcd.ionice.class = 1          # realtime: the disks are shared
etcd.ionice.level = 0
etcd.client_port 2379
etcd.log_rotation.file_maxbytes 104_857_600

## Elasticsearch
elasticsearch.heap_size = 4096
elasticsearch.new_size 512
elasticsearch.jvm_opts = ["-XX:+UseG1GC", '-Xss1m']
elasticsearch.port 9200

## leaderl
leaderl.leader_ttl_seconds = 30
leaderl.health_check.interval_seconds = 5
leaderl['health_check']['max_bytes_behind_leader'] = 104_857_600
leaderl.health_check.fatal_system_checks true
leaderl.health_check.disk_paths ['/var/log/chef-backend', '/var/opt/chef-backend']
leaderl.required_active_followers = 1
leaderl.http_acceptors 20
leaderl.etcd_pool.cull_interval_seconds = 60
leaderl.etcd_pool.http_timeout_ms = 5000
leaderl.etcd_pool.ibrowse_options = '{inactivity_timeout, infinity}'
leaderl.log_rotation.max_messages_per_second 1000
leaderl.start_down true

## SSL for replication
ssl.certificate nil
ssl.company_name 'Example, Inc.'
ssl.organizational_unit_name "Ops #3"   # the '#' is inside the string
ssl.duration 730
