# backstay configuration: every setting with its default.
# Settings marked as chef-backend compatibility are accepted so that an
# existing chef-backend.rb works unchanged; backstay does not use them.
# Settings must be identical on every node unless they describe the node
# itself (fqdn, publish_address, vip_interface, paths).

# this node's name in the cluster (lower case); nil = the host name
fqdn nil

# this node's address, reachable by every other node; required by create-cluster and join-cluster
publish_address nil

# 'ipv4' or 'ipv6'
ip_version 'ipv4'

# keep passwords out of show-config and logs
hide_sensitive true

# virtual IP held by the current leader (nil = no VIP; frontends use HAProxy and /leader)
vip nil

# interface the VIP is added to when this node leads
vip_interface nil

# backstay's state: the consensus log (LMDB), sentinels
data_dir '/var/lib/backstay'

# cluster id, cluster secret and PostgreSQL passwords (mode 0600)
secrets_file '/etc/backstay/secrets.json'

# where `backstay start` sends the daemon's log (backstay.log) when systemd does not run it
log_directory '/var/log/backstay'

# debug, info, warn or error
log_level 'info'

# this node's Raft id, only with consensus.initial_cluster; create-cluster and join-cluster keep the id in data_dir/node.json instead
consensus.node_id 0

# bootstrap: every initial voter as 'ID=IP:PORT'; used only when data_dir holds no Raft state (create-cluster/join-cluster replace it)
consensus.initial_cluster []

# address the Raft/ctl port listens on
consensus.bind_address '0.0.0.0'

# Raft peer port; ctl RPC rides the same port
consensus.port 2380

# Raft leader heartbeat period (ms)
consensus.heartbeat_interval_ms 100

# Raft election timeout (ms); 5-10x the heartbeat
consensus.election_timeout_ms 1000

# take a snapshot after this many applied entries
consensus.snapshot_threshold 8192

# entries kept in the log behind a snapshot
consensus.snapshot_trailing 2048

# largest frame accepted from a peer or client
consensus.max_frame_bytes 16777216

# port of the read-only etcd-v2-shaped member discovery (/v2/members, /version, /health)
etcd.client_port 2379

# chef-backend's etcd peer port; backstay uses consensus.port (chef-backend compatibility; unused by backstay)
etcd.peer_port 2380

# chef-backend's etcd heartbeat; backstay uses consensus.heartbeat_interval_ms (chef-backend compatibility; unused by backstay)
etcd.heartbeat_interval 500

# chef-backend's etcd election timeout; backstay uses consensus.election_timeout_ms (chef-backend compatibility; unused by backstay)
etcd.election_timeout 5000

# chef-backend's etcd snapshot count; backstay uses consensus.snapshot_threshold (chef-backend compatibility; unused by backstay)
etcd.snapshot_count 5000

# chef-backend's etcd ionice class (chef-backend compatibility; unused by backstay)
etcd.ionice.class 2

# chef-backend's etcd ionice level (chef-backend compatibility; unused by backstay)
etcd.ionice.level 0

# chef-backend runit flag (chef-backend compatibility; unused by backstay)
etcd.enable true

# chef-backend runit environment (chef-backend compatibility; unused by backstay)
etcd.environment {}

# chef-backend log directory (chef-backend compatibility; unused by backstay)
etcd.log_directory '/var/log/chef-backend/etcd'

# chef-backend svlogd setting (chef-backend compatibility; unused by backstay)
etcd.log_rotation.file_maxbytes 104857600

# chef-backend svlogd setting (chef-backend compatibility; unused by backstay)
etcd.log_rotation.num_to_keep 10

# address of the /leader, /status, /metrics HTTP endpoint; must be reachable from frontends
leaderl.http_address '0.0.0.0'

# port of the /leader HTTP endpoint that frontends' HAProxy checks
leaderl.http_port 7331

# leader lease TTL (s); the holder fences itself before it can expire anywhere
leaderl.leader_ttl_seconds 10

# followers that must be streaming before /leader answers 200
leaderl.required_active_followers 0

# timeout of a PostgreSQL request (ms)
leaderl.db_timeout 2000

# how often local service status is sampled (s)
leaderl.status_internal_update_interval_seconds 5

# how often this node's status is published to the cluster (s)
leaderl.status_post_update_interval_seconds 10

# health check period (s)
leaderl.health_check.interval_seconds 5

# a follower further behind than this is not eligible to lead
leaderl.health_check.max_bytes_behind_leader 52428800

# consecutive Elasticsearch check failures tolerated
leaderl.health_check.max_elasticsearch_failures 5

# consecutive PostgreSQL check failures tolerated
leaderl.health_check.max_pgsql_failures 5

# chef-backend's etcd check (removed in chef-backend 2.2) (chef-backend compatibility; unused by backstay)
leaderl.health_check.max_etcd_failures 5

# when true, a failed disk check makes the node ineligible to lead
leaderl.health_check.fatal_system_checks false

# paths whose free space is checked
leaderl.health_check.disk_paths ['/var/lib/backstay']

# free space below which the disk check fails (MB)
leaderl.health_check.disk_min_space_mb 250

# chef-backend's leaderl OS user (chef-backend compatibility; unused by backstay)
leaderl.username 'chef_pgsql'

# chef-backend's leaderl HTTP acceptor count (chef-backend compatibility; unused by backstay)
leaderl.http_acceptors 10

# chef-backend runit group (chef-backend compatibility; unused by backstay)
leaderl.runsv_group 'chef_pgsql'

# chef-backend's leaderl control timeout (chef-backend compatibility; unused by backstay)
leaderl.control_worker_timeout_seconds 30

# chef-backend runit flag (chef-backend compatibility; unused by backstay)
leaderl.start_down true

# chef-backend runit flag (chef-backend compatibility; unused by backstay)
leaderl.enable true

# chef-backend runit environment (chef-backend compatibility; unused by backstay)
leaderl.environment {}

# chef-backend log directory (chef-backend compatibility; unused by backstay)
leaderl.log_directory '/var/log/chef-backend/leaderl'

# chef-backend svlogd setting (chef-backend compatibility; unused by backstay)
leaderl.log_rotation.file_maxbytes 104857600

# chef-backend svlogd setting (chef-backend compatibility; unused by backstay)
leaderl.log_rotation.num_to_keep 10

# chef-backend Erlang logger rate limit (chef-backend compatibility; unused by backstay)
leaderl.log_rotation.max_messages_per_second 1000

# chef-backend epmd check (ms) (chef-backend compatibility; unused by backstay)
leaderl.epmd_monitor.check_interval 60000

# chef-backend etcd client pool (chef-backend compatibility; unused by backstay)
leaderl.etcd_pool.cull_interval_seconds 60

# chef-backend etcd client pool (chef-backend compatibility; unused by backstay)
leaderl.etcd_pool.http_timeout_ms 5000

# chef-backend etcd client pool (chef-backend compatibility; unused by backstay)
leaderl.etcd_pool.init_count 10

# chef-backend etcd client pool (chef-backend compatibility; unused by backstay)
leaderl.etcd_pool.max_count 10

# chef-backend etcd client pool (chef-backend compatibility; unused by backstay)
leaderl.etcd_pool.max_age_seconds 60

# chef-backend etcd client pool (chef-backend compatibility; unused by backstay)
leaderl.etcd_pool.max_connection_duration_seconds 300

# chef-backend etcd client options (chef-backend compatibility; unused by backstay)
leaderl.etcd_pool.ibrowse_options '{inactivity_timeout, infinity}'

# PostgreSQL 15 server binaries
postgresql.bin_dir '/usr/lib/postgresql/15/bin'

# PostgreSQL data directory
postgresql.data_dir '/var/lib/backstay/postgresql/15/data'

# OS user that runs PostgreSQL
postgresql.username 'postgres'

# PostgreSQL port
postgresql.port 5432

# database superuser for frontends; password in the secrets file
postgresql.db_superuser 'chef_pgsql'

# streaming replication user; password in the secrets file
postgresql.replication_user 'replicator'

# pg_hba allow-list: each entry gives 'host all all X md5' and 'hostssl replication replicator X md5'
postgresql.md5_auth_cidr_addresses ['samehost', 'samenet']

# max_connections
postgresql.max_connections 350

# max_replication_slots
postgresql.max_replication_slots 12

# max_wal_senders
postgresql.max_wal_senders 12

# max_wal_size, in 16 MB segments as chef-backend counted it
postgresql.max_wal_size 64

# min_wal_size, in 16 MB segments
postgresql.min_wal_size 5

# WAL kept for followers (rendered as wal_keep_size on PostgreSQL 15)
postgresql.wal_keep_segments 32

# wal_level ('hot_standby' means 'replica' on PostgreSQL 15)
postgresql.wal_level 'hot_standby'

# wal_log_hints (pg_rewind needs it on)
postgresql.wal_log_hints 'on'

# followers answer read-only queries
postgresql.hot_standby 'on'

# archive_mode
postgresql.archive_mode 'off'

# archive_command
postgresql.archive_command ''

# archive_timeout (s)
postgresql.archive_timeout 0

# checkpoint_completion_target
postgresql.checkpoint_completion_target 0.5

# checkpoint_timeout
postgresql.checkpoint_timeout '5min'

# checkpoint_warning
postgresql.checkpoint_warning '30s'

# effective_cache_size; nil = half of RAM
postgresql.effective_cache_size nil

# shared_buffers; nil = a quarter of RAM
postgresql.shared_buffers nil

# work_mem
postgresql.work_mem '8MB'

# tcp_keepalives_count
postgresql.keepalives_count 2

# tcp_keepalives_idle (s)
postgresql.keepalives_idle 60

# tcp_keepalives_interval (s)
postgresql.keepalives_interval 15

# log_checkpoints
postgresql.log_checkpoints true

# log_min_duration_statement (ms; -1 = off)
postgresql.log_min_duration_statement -1

# removed in chef-backend 1.2.5 (chef-backend compatibility; unused by backstay)
postgresql.shmmax 17179869184

# removed in chef-backend 1.2.5 (chef-backend compatibility; unused by backstay)
postgresql.shmall 4194304

# supervise PostgreSQL on this node
postgresql.enable true

# extra environment for the postgres process
postgresql.environment {}

# PostgreSQL server log directory
postgresql.log_directory '/var/log/backstay/postgresql'

# chef-backend svlogd setting (chef-backend compatibility; unused by backstay)
postgresql.log_rotation.file_maxbytes 104857600

# chef-backend svlogd setting (chef-backend compatibility; unused by backstay)
postgresql.log_rotation.num_to_keep 10

# port of the local Elasticsearch, probed with GET /_cluster/health
elasticsearch.port 9200

# check Elasticsearch health; false = leadership ignores it
elasticsearch.enable true

# chef-backend ES heap (MB) (chef-backend compatibility; unused by backstay)
elasticsearch.heap_size nil

# chef-backend ES young generation (MB) (chef-backend compatibility; unused by backstay)
elasticsearch.new_size nil

# chef-backend ES JVM flags (chef-backend compatibility; unused by backstay)
elasticsearch.jvm_opts []

# chef-backend ES JVM flags (old name) (chef-backend compatibility; unused by backstay)
elasticsearch.java_opts []

# chef-backend ES path.data (chef-backend compatibility; unused by backstay)
elasticsearch.data_dir '/var/opt/chef-backend/elasticsearch/data'

# chef-backend ES path.plugins (chef-backend compatibility; unused by backstay)
elasticsearch.plugins_directory '/var/opt/chef-backend/elasticsearch/plugins'

# chef-backend ES path.scripts (chef-backend compatibility; unused by backstay)
elasticsearch.scripts_directory '/var/opt/chef-backend/elasticsearch/scripts'

# chef-backend ES temp directory (chef-backend compatibility; unused by backstay)
elasticsearch.temp_directory '/var/opt/chef-backend/elasticsearch/tmp'

# chef-backend runit environment (chef-backend compatibility; unused by backstay)
elasticsearch.environment {}

# chef-backend log directory (chef-backend compatibility; unused by backstay)
elasticsearch.log_directory '/var/log/chef-backend/elasticsearch'

# chef-backend svlogd setting (chef-backend compatibility; unused by backstay)
elasticsearch.log_rotation.file_maxbytes 104857600

# chef-backend svlogd setting (chef-backend compatibility; unused by backstay)
elasticsearch.log_rotation.num_to_keep 10

# server certificate (PEM); nil = a self-signed one made at create-cluster
ssl.certificate nil

# key of ssl.certificate (PEM)
ssl.certificate_key nil

# OpenSSL cipher list for PostgreSQL
ssl.ciphers 'HIGH:!aNULL:!MD5'

# where the self-signed certificate is written
ssl.data_dir '/var/lib/backstay/ssl'

# validity of the self-signed certificate (days)
ssl.duration 3650

# RSA key length of the self-signed certificate
ssl.key_length 2048

# O= of the self-signed certificate
ssl.company_name 'YouCorp'

# C= of the self-signed certificate
ssl.country_name 'US'

# OU= of the self-signed certificate
ssl.organizational_unit_name 'Operations'
