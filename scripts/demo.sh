#!/usr/bin/env bash
# backstay's main job, as far as it exists today. Sets everything up
# (packages, build), then runs a 3-node backstay cluster on this machine's
# loopback: a write, kill -9 of the leader, a failover, the write read back
# from the survivors, and each node's state. The PostgreSQL half (leader
# module, real PostgreSQL, /leader on 7331) joins this demo with its issue.
# Everything runs in one temp dir on 127.0.0.1; only the processes started
# here are stopped, on every exit path.
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
table() { # one row per running node: its own view of the cluster
	local i s
	printf '%-6s %-21s %-10s %-6s %-8s %-8s %s\n' node address role term leader applied revision
	for ((i = 1; i <= N; i++)); do
		if [ -z "${PIDS[$i]:-}" ]; then
			printf '%-6s %-21s %s\n' "n$i" "$(addr "$i")" "down (killed)"
			continue
		fi
		s=$(status "$i") || { printf '%-6s %-21s %s\n' "n$i" "$(addr "$i")" unreachable; continue; }
		python3 - "$i" "$(addr "$i")" "$s" <<'PY'
import json, sys
s = json.loads(sys.argv[3])
print("%-6s %-21s %-10s %-6s %-8s %-8s %s" % ("n" + sys.argv[1], sys.argv[2], s["role"],
      s["term"], s["leader_id"], s["last_applied"], s["revision"]))
PY
	done
}

step "backstay version"
"$BACKSTAY" version

step "three nodes on 127.0.0.1 (consensus.initial_cluster, one secrets file)"
it_setup 3
for i in 1 2 3; do write_config "$i"; done
cat "$TMP/n1/backstay.rb"
for i in 1 2 3; do start_node "$i"; done
first=$(wait_leader)
table

step "a write through a follower (redirected to the leader), read back linearizably"
follower=$((first % 3 + 1))
kv "$follower" put chef/org/acme '{"full_name":"Acme"}'
kv "$follower" get chef/org/acme

step "kill -9 the leader (node $first)"
t0=$(now_ms)
kill_node "$first"
second=$(wait_leader "$first")
echo "node $second leads after $(($(now_ms) - t0)) ms"
kv "$second" put chef/org/globex '{"full_name":"Globex"}'

step "every write is still there, read through each survivor"
for i in 1 2 3; do
	[ "$i" = "$first" ] && continue
	echo "-- through node $i:"
	kv "$i" list chef/
done

step "node $first comes back and catches up"
start_node "$first"
wait_for 20 "node $first to catch up" sh -c "'$BACKSTAY' kv get chef/org/globex --local -c '$TMP/n$first/backstay.rb'"
kv "$first" get chef/org/globex --local
table

step "configuration mistakes are refused with file:line (exit code 1)"
printf "publish_address '192.0.2.11'\npostgresql.prot 5433\n" >"$TMP/typo.rb"
"$BACKSTAY" show-config -c "$TMP/typo.rb" || echo "(exit code $?)"
