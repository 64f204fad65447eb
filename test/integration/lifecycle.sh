#!/usr/bin/env bash
# The cluster lifecycle with the operator's verbs, on real processes: each
# node has its own loopback address (127.A.B.i, one random block per run)
# and the same ports, as on real hosts. Usage: lifecycle.sh N (3 or 5).
#
#   1. create-cluster on node 1, join-cluster of nodes 2..N one after
#      another; status healthy N/N; cluster-status --json agrees with the
#      table; etcd-v2 member discovery on etcd.client_port lists them all
#   2. a join with a wrong secret is refused and changes nothing
#   3. failover switches, shown by cluster-status; gen-server-config
#   4. remove-node refusals (itself, a running node); remove-node of a
#      stopped node, which then comes back with join-cluster --recovery
#   5. every node stopped, every node started: a leader by itself
#      (chef/chef-server#1473)
#   6. the majority lost for good (kill -9): create-cluster
#      --quorum-loss-recovery on the survivor, two fresh nodes joining at
#      the same moment, every key written before still there
#   7. a join cut short by the loss of its leader (the standby left in the
#      configuration): the add asked again through a survivor finishes it
set -euo pipefail
. "$(dirname "$0")/lib.sh"

NODES=${1:-3}
IT_NAME="lifecycle-$NODES"
MAX=$((NODES + 3)) # two fresh nodes for step 6, one for step 7

it_setup "$MAX"

hosts_setup "$MAX"

cstatus() { bs "$1" cluster-status --json; } # cstatus i: JSON
# members_are i N: node i's cluster-status lists N reachable members, one leader.
members_are() {
	cstatus "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin); n = int(sys.argv[1])
nodes = d["nodes"]
assert len(nodes) == n, nodes
assert all(x["reachable"] and x["voter"] and x["guid"] for x in nodes), nodes
assert [x["consensus"] for x in nodes].count("leader") == 1, nodes
assert d["unreachable"] == [], d
' "$2"
}

# ---- 1. create and join ------------------------------------------------------------
out=$(bs 1 create-cluster) || fail "create-cluster: $out"
grep -q "ok: created a cluster with backend-1" <<<"$out" || fail "create-cluster said: $out"
track 1
[ "$(stat -c %a "$TMP/n1/secrets.json")" = 600 ] || fail "secrets file is not 0600"
bs 1 kv put key-1 one >/dev/null || fail "write on the new cluster"
out=$(bs 1 create-cluster 2>&1) && fail "a second create-cluster succeeded"
grep -q "already part of a cluster" <<<"$out" || fail "second create-cluster said: $out"

for ((i = 2; i <= NODES; i++)); do
	out=$(bs "$i" join-cluster "$(hip 1)" -s "$TMP/n1/secrets.json") || fail "join $i: $out"
	track "$i"
	grep -q "ok: backend-$i ($(hip "$i"):$PORT) joined" <<<"$out" || fail "join $i said: $out"
	cmp -s "$TMP/n1/secrets.json" "$TMP/n$i/secrets.json" || fail "secrets not copied to $i"
	bs "$i" kv put "key-$i" "v$i" >/dev/null || fail "write through node $i"
done
wait_for 20 "every member listed with its name, from every node" \
	bash -c "$(declare -f members_are cstatus bs cfg); TMP=$TMP BACKSTAY=$BACKSTAY;
	for ((i = 1; i <= $NODES; i++)); do members_are \$i $NODES || exit 1; done"
log "created and joined $NODES nodes"

table=$(bs 2 status) || fail "status: $table"
grep -qE "^consensus +running \(pid [0-9]+\) +0d 0h [0-9]+m [0-9]+s +health: green; healthy nodes: $NODES/$NODES; leader: backend-" <<<"$table" ||
	fail "status table: $table"
for row in leader postgresql elasticsearch; do
	# These clusters run without PostgreSQL (postgresql.enable false).
	grep -qE "^$row +not managed .*postgresql.enable false" <<<"$table" || fail "status row $row: $table"
done
bs 2 status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["consensus"]["health"] == "green", d
assert d["consensus"]["healthy_nodes"] == d["consensus"]["total_nodes"] == int(sys.argv[1]), d
assert d["local"]["node"]["name"] == "backend-2" and d["local"]["last_applied"] > 0, d["local"]
' "$NODES" || fail "status --json"
bs 1 status --simple | grep -qE "^run: backstay: \(pid ${PIDS[1]}\) [0-9]+s$" || fail "status --simple"

# The table and the JSON say the same, node by node.
table=$(bs 3 cluster-status) || fail "cluster-status: $table"
cstatus 3 | python3 -c '
import json, sys
d = json.load(sys.stdin)
import re
lines = sys.argv[1].splitlines()
# Columns are left-aligned and at least two spaces apart; cells may hold
# one space ("not managed"): cut where the header columns start.
starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
head = [lines[0][a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
assert head[:6] == ["Name", "IP", "GUID", "Role", "PG", "ES"], head
rows = [[l[a:b].strip() for a, b in zip(starts, starts[1:] + [None])] for l in lines[1:]]
for x in d["nodes"]:
    row = next(r for r in rows if r and r[0] == x["name"])
    assert row[1] == x["ip"] and row[2] == x["guid"] and len(x["guid"]) == 32, (row, x)
    assert row[3] == x["role"] == "not managed", (row, x)
    assert row[6] == x["consensus"] and row[7] == x["failover"], (row, x)
' "$table" || fail "cluster-status table and JSON disagree: $table"

# Member discovery as a stock frontend does it (etcd v2 shape).
discovery() {
	python3 - "$(hip 1)" "$DPORT" "$NODES" "$NET" "$PORT" <<'PY'
import json, sys, urllib.request
host, port, n, net, raft = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
get = lambda p: json.load(urllib.request.urlopen("http://%s:%s%s" % (host, port, p), timeout=5))
m = get("/v2/members")["members"]
assert sorted(x["name"] for x in m) == ["backend-%d" % i for i in range(1, n + 1)], m
for x in m:
    i = x["name"].split("-")[1]
    assert x["peerURLs"] == ["http://%s.%s:%s" % (net, i, raft)], x
assert "etcdserver" in get("/version")
assert get("/health") == {"health": "true"}
PY
}
wait_for 10 "member discovery on etcd.client_port (etcd v2 /v2/members)" discovery

# ---- 2. a wrong secret ---------------------------------------------------------------
W=$((NODES + 1))
python3 - "$TMP/n1/secrets.json" "$TMP/wrong.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
d["backstay"]["cluster_secret"] = "00" * 32
fd = os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
os.write(fd, json.dumps(d).encode()); os.close(fd)
PY
before=$(bs 1 kv list cluster/members/)
out=$(bs "$W" join-cluster "$(hip 1)" -s "$TMP/wrong.json" 2>&1) && fail "a join with a wrong secret succeeded"
grep -q "authentication failed" <<<"$out" || fail "wrong-secret join said: $out"
[ ! -e "$TMP/n$W/data/node.json" ] && [ ! -e "$TMP/n$W/secrets.json" ] ||
	fail "the refused join left files behind"
[ "$(bs 1 kv list cluster/members/)" = "$before" ] || fail "the refused join changed the members"
members_are 1 "$NODES" || fail "members after the refused join"
log "a wrong secret: refused, nothing changed"

# ---- 3. switches and the frontend's configuration ---------------------------------
out=$(bs 2 set-cluster-failover off) || fail "set-cluster-failover: $out"
out=$(bs 1 set-node-failover disabled backend-2) || fail "set-node-failover: $out"
bs 3 set-cluster-failover maybe >/dev/null 2>&1 && fail "a bad STATE was accepted"
[ $? -eq 2 ] || true
wait_for 10 "switches shown by cluster-status" bash -c "
	'$BACKSTAY' cluster-status --json -c '$(cfg 3)' | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = {x[\"name\"]: x[\"failover\"] for x in d[\"nodes\"]}
assert d[\"cluster_failover\"] == \"disabled\" and f[\"backend-2\"] == \"disabled\", d
assert list(f.values()).count(\"enabled\") == len(f) - 1, f'"
bs 2 set-cluster-failover on >/dev/null && bs 2 set-node-failover true >/dev/null || fail "switches back on"

bs 1 gen-server-config fe1.example.com -f "$TMP/chef-server.rb" >/dev/null || fail "gen-server-config"
[ "$(stat -c %a "$TMP/chef-server.rb")" = 600 ] || fail "chef-server.rb is not 0600"
pw=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["postgresql"]["db_superuser_password"])' "$TMP/n1/secrets.json")
grep -q "^api_fqdn 'fe1.example.com'" "$TMP/chef-server.rb" &&
	grep -q "^use_chef_backend true" "$TMP/chef-server.rb" &&
	grep -q "db_superuser_password'\] = '$pw'" "$TMP/chef-server.rb" || fail "chef-server.rb: $(cat "$TMP/chef-server.rb")"
for ((i = 1; i <= NODES; i++)); do
	grep "^chef_backend_members" "$TMP/chef-server.rb" | grep -qF "'$(hip "$i")'" || fail "chef-server.rb lacks node $i"
done
log "failover switches and gen-server-config"

# ---- 4. remove-node and --recovery -------------------------------------------------
out=$(bs 1 remove-node backend-1 2>&1) && fail "remove-node of itself succeeded"
grep -q "is this node" <<<"$out" || fail "remove-node itself said: $out"
out=$(bs 1 remove-node "$(hip "$NODES")" 2>&1) && fail "remove-node of a running node succeeded"
grep -q "still running" <<<"$out" || fail "remove-node running said: $out"
bs "$NODES" stop >/dev/null || fail "stop node $NODES"
untrack "$NODES"
out=$(bs 1 remove-node "backend-$NODES") || fail "remove-node: $out"
wait_for 10 "$((NODES - 1)) members after remove-node" members_are 1 $((NODES - 1))
out=$(bs "$NODES" join-cluster "$(hip 1)" 2>&1) && fail "a rejoin without --recovery succeeded"
grep -q -- "--recovery" <<<"$out" || fail "rejoin without --recovery said: $out"
out=$(bs "$NODES" join-cluster "$(hip 2)" --recovery) || fail "join --recovery: $out"
track "$NODES"
wait_for 15 "$NODES members after --recovery" members_are 1 "$NODES"
wait_for 15 "the rejoined node has the data" bash -c "'$BACKSTAY' kv get key-1 --local -c '$(cfg "$NODES")' | grep -q 'key-1 = one'"
log "remove-node and join-cluster --recovery"

# ---- 5. everything stopped, everything started -------------------------------------
for ((i = 1; i <= NODES; i++)); do
	bs "$i" stop >/dev/null || fail "stop $i"
	untrack "$i"
done
bs 1 status --simple >/dev/null && fail "status --simple says a stopped node runs"
for ((i = NODES; i >= 1; i--)); do
	bs "$i" start >/dev/null || fail "start $i"
	track "$i"
done
wait_for 30 "a leader after every node was stopped and started" members_are 2 "$NODES"
bs 3 kv put after-restart yes >/dev/null || fail "write after the full restart"
log "full stop and start: a leader by itself"

# ---- 6. the majority lost for good ----------------------------------------------------
# Seed 004's procedure assumes the survivor has the most recent data (a
# write acknowledged by a majority that did not include it would be lost
# with the others): wait until node 1 has applied the last write.
wait_for 10 "node 1 up to date before the loss" \
	bash -c "'$BACKSTAY' kv get after-restart --local -c '$(cfg 1)' | grep -q 'after-restart = yes'"
for ((i = 2; i <= NODES; i++)); do
	kill -9 "${PIDS[$i]}"
	untrack "$i"
done
out=$(bs 1 create-cluster --quorum-loss-recovery) || fail "quorum-loss recovery: $out"
track 1
wait_for 10 "the survivor alone" members_are 1 1
A=$((NODES + 1)) B=$((NODES + 2))
bs "$A" join-cluster "$(hip 1)" -s "$TMP/n1/secrets.json" >"$TMP/join-a" 2>&1 &
ja=$!
bs "$B" join-cluster "$(hip 1)" -s "$TMP/n1/secrets.json" >"$TMP/join-b" 2>&1 &
jb=$!
wait "$ja" || fail "simultaneous join A: $(cat "$TMP/join-a")"
wait "$jb" || fail "simultaneous join B: $(cat "$TMP/join-b")"
track "$A"
track "$B"
wait_for 15 "three members after the recovery" members_are "$A" 3
for ((i = 1; i <= NODES; i++)); do
	[ "$(bs "$B" kv get "key-$i")" = "key-$i = $([ "$i" = 1 ] && echo one || echo "v$i")" ] ||
		fail "key-$i lost in the recovery"
done
[ "$(bs "$A" kv get after-restart)" = "after-restart = yes" ] || fail "after-restart lost"
log "quorum-loss recovery with two simultaneous joins: nothing lost"

# ---- 7. a join cut short by the loss of its leader ------------------------------------
# A member.join add (crafted, as join-cluster sends it) for a node that is
# not running yet: the leader adds it as a standby and waits for its
# catch-up; the leader dies; the node starts; the add asked again through a
# survivor (what join-cluster does when its answer is lost) must finish it.
W=$((NODES + 3))
L=$(cstatus 1 | python3 -c 'import json,sys; print(next(x["name"] for x in json.load(sys.stdin)["nodes"] if x["consensus"] == "leader").split("-")[1])')
S=$(for i in 1 "$A" "$B"; do [ "$i" != "$L" ] && echo "$i"; done | head -1)
guid=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
id=$((RANDOM * 32768 + RANDOM + 1))
add=(join member.join add "$id" "$(hip "$W"):$PORT" "backend-$W" "$guid" "$(hip "$W")")
"$CTL_STATUS" "$TMP/n1/secrets.json" "$(hip "$L"):$PORT" "${add[@]}" >/dev/null 2>&1 || true
wait_for 10 "backend-$W a standby" bash -c "'$BACKSTAY' cluster-status --json -c '$(cfg "$L")' |
	grep -q '\"address\":\"$(hip "$W"):$PORT\"[^}]*\"voter\":false'"
kill -9 "${PIDS[$L]}"
untrack "$L"
mkdir -p -m 700 "$TMP/n$W/data"
(umask 077 && printf '{"name": "backend-%s", "guid": "%s", "id": %s}\n' "$W" "$guid" "$id" \
	>"$TMP/n$W/data/node.json")
install -m 600 "$TMP/n1/secrets.json" "$TMP/n$W/secrets.json"
bs "$W" start >/dev/null || fail "start backend-$W"
track "$W"
add_again() { # through whichever survivor leads (ctl_status follows no redirect)
	local i
	for i in 1 "$A" "$B"; do
		[ "$i" = "$L" ] && continue
		"$CTL_STATUS" "$TMP/n1/secrets.json" "$(hip "$i"):$PORT" "${add[@]}" && return 0
	done
	return 1
}
wait_for 30 "the add asked again through a survivor" add_again
wait_for 15 "backend-$W a voter, by name" bash -c "'$BACKSTAY' cluster-status --json -c '$(cfg "$S")' |
	python3 -c 'import json,sys; d=json.load(sys.stdin);
assert any(x[\"name\"] == \"backend-$W\" and x[\"voter\"] and x[\"reachable\"] for x in d[\"nodes\"])'"
log "a join cut short by its leader's death: finished by the next leader"

check_sanitizers
log "PASS"
