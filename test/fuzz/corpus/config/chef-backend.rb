publish_address '10.0.0.11'
vip = "10.0.0.100"
vip_interface 'eth0'
postgresql.log_min_duration_statement = 500
postgresql['port'] = 5433
postgresql.md5_auth_cidr_addresses = ["samehost", "samenet", "10.0.0.0/8"]
elasticsearch.heap_size = nil
leaderl.health_check.interval_seconds 2
leaderl.environment = { 'FOO' => 'bar', "baz" => "qux" }
postgresql.checkpoint_completion_target 0.9
hide_sensitive false # a comment
