#!/usr/bin/env bash
# backstay's main job, as far as it exists today. Sets everything up
# (packages, build), then walks through what an operator does first:
# generate the sample configuration, adapt it, check it, and see a mistake
# reported with file:line. The 3-node cluster with real PostgreSQL, a
# write, a failover and the status table replaces this walk-through as the
# consensus, lifecycle and PostgreSQL issues land.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bin=build/tools/backstay
work=$(mktemp -d /tmp/backstay-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "backstay version"
"$bin" version

step "gen-sample-backend-config: $("$bin" gen-sample-backend-config | grep -c '^[a-z]') settings; the first few"
"$bin" gen-sample-backend-config >"$work/backstay.rb"
head -n 12 "$work/backstay.rb"

step "an existing chef-backend.rb is accepted as it is"
cat >"$work/chef-backend.rb" <<'RB'
publish_address '192.0.2.11'
vip = '192.0.2.100'
vip_interface = 'eth0'
postgresql.md5_auth_cidr_addresses = ["samehost", "samenet", "198.51.100.0/24"]
leaderl.leader_ttl_seconds = 30
etcd.election_timeout = 5000   # chef-backend's etcd; accepted, unused
RB
cat "$work/chef-backend.rb"
echo "-- show-config, the settings above as backstay reads them:"
"$bin" show-config -c "$work/chef-backend.rb" |
	grep -E "^(publish_address|vip|vip_interface|postgresql.md5|leaderl.leader_ttl)"

step "a typo is refused with file:line and a suggestion (exit code 1)"
printf "publish_address '192.0.2.11'\npostgresql.prot 5433\n" >"$work/typo.rb"
"$bin" show-config -c "$work/typo.rb" || echo "(exit code $?)"

step "an unknown command (exit code 2)"
"$bin" show-confg || echo "(exit code $?)"
