fqdn 'x'
postgresql.prot 1
