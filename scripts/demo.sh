#!/usr/bin/env bash
# backstay's main job, as far as it exists today. Sets everything up
# (packages, build), then runs a 3-node backstay cluster on this machine's
# loopback the way an operator would on three hosts: create-cluster on the
# first node, join-cluster on the others, status and cluster-status, a
# write, kill -9 of the leader, a failover, every write read back, the
# killed node started again. The PostgreSQL half (leader module, real
# PostgreSQL, /leader on 7331) joins this demo with its issue.
# Each node has its own loopback address (127.A.B.1-3); everything lives in
# one temp dir; only the processes started here are stopped, on every exit
# path.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >/dev/null
export BACKSTAY=$PWD/build/tools/backstay
export GEN_SECRETS=$PWD/build/test/integration/gen_secrets
export CTL_STATUS=$PWD/build/test/integration/ctl_status
IT_NAME=demo
# shellcheck source=../test/integration/lib.sh
. test/integration/lib.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { # show CMD...: print the command line, run it
	printf '\033[2m$ %s\033[0m\n' "$*"
	"$@"
}
# The node that leads, among those running (excluding $1), by cluster-status.
leader_of() {
	bs "$1" cluster-status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next(x["name"].split("-")[1] for x in d["nodes"] if x["consensus"] == "leader"))'
}

step "backstay version"
"$BACKSTAY" version

it_setup 3
hosts_setup 3
step "three nodes, each with its own address; node 1's configuration:"
cat "$(cfg 1)"

step "create-cluster on node 1 (writes the secrets file), join-cluster on nodes 2 and 3"
show "$BACKSTAY" create-cluster -c "$(cfg 1)"
track 1
for i in 2 3; do
	show "$BACKSTAY" join-cluster "$(hip 1)" -s "$TMP/n1/secrets.json" -c "$(cfg "$i")"
	track "$i"
done
wait_for 10 "three healthy members" sh -c "'$BACKSTAY' status --json -c '$(cfg 2)' | grep -q '\"healthy_nodes\":3'"
show "$BACKSTAY" status -c "$(cfg 2)"
echo
show "$BACKSTAY" cluster-status -c "$(cfg 3)"

step "a write through a follower (redirected to the leader), read back linearizably"
first=$(leader_of 1)
follower=$((first % 3 + 1))
show "$BACKSTAY" kv put chef/org/acme '{"full_name":"Acme"}' -c "$(cfg "$follower")"
show "$BACKSTAY" kv get chef/org/acme -c "$(cfg "$follower")"

step "kill -9 the leader (node $first)"
t0=$(now_ms)
kill -9 "${PIDS[$first]}"
untrack "$first"
survivor=$((first % 3 + 1))
wait_for 30 "a write after the failover" \
	"$BACKSTAY" kv put chef/org/globex '{"full_name":"Globex"}' -c "$(cfg "$survivor")"
echo "a write succeeds again $(($(now_ms) - t0)) ms after the kill"
show "$BACKSTAY" cluster-status -c "$(cfg "$survivor")" || true

step "every write is still there, read through each survivor"
for i in 1 2 3; do
	[ "$i" = "$first" ] && continue
	show "$BACKSTAY" kv list chef/ -c "$(cfg "$i")"
done

step "node $first is started again and catches up"
show "$BACKSTAY" start -c "$(cfg "$first")"
track "$first"
wait_for 20 "node $first to catch up" sh -c "'$BACKSTAY' kv get chef/org/globex --local -c '$(cfg "$first")'"
show "$BACKSTAY" kv get chef/org/globex --local -c "$(cfg "$first")"
show "$BACKSTAY" cluster-status -c "$(cfg "$first")"

step "member discovery for stock Chef frontends (etcd v2 shape, port $DPORT)"
python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
	"http://$(hip 1):$DPORT/v2/members"

step "configuration mistakes are refused with file:line (exit code 1)"
printf "publish_address '192.0.2.11'\npostgresql.prot 5433\n" >"$TMP/typo.rb"
"$BACKSTAY" show-config -c "$TMP/typo.rb" || echo "(exit code $?)"
