# shellcheck shell=bash
# pg_seeds.sh: what the operator-procedure scenarios (pg-upgrade.sh,
# pg-recovery.sh) read from the cluster the way an operator does, through
# `backstay status` and `cluster-status`. Sourced after netns_lib.sh and
# pg_cluster.sh.
#
#   cs_get ASK NODE FIELD       NODE's FIELD in `cluster-status --json` asked
#                               on host ASK (a string, or JSON for the rest)
#   cs_is ASK NODE FIELD VALUE  the same, compared (for nh_wait)
#   st_pg ASK KEY               `status --json` on host ASK: its postgresql
#                               row's count KEY (leader, offline, syncing, synced)
#   st_pg_is ASK KEY N          the same, compared (for nh_wait)
#   st_row ASK SERVICE          the text row of SERVICE in `backstay status`
#   pg_block i j / pg_unblock i j
#                               host i's connections to host j's PostgreSQL
#                               port refused (iptables in host i's namespace)
#   sql_is i SQL VALUE          pgc_sql's answer on host i is VALUE (for nh_wait)
#   no_start i / unsynced i     host i's sentinel file exists
#   pgdata i                    host i's PostgreSQL data directory, from outside

cs_get() {
	on "$1" "$BACKSTAY" cluster-status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for n in d.get("nodes", []):
    if n.get("name") == sys.argv[1]:
        v = n.get(sys.argv[2])
        print(v if isinstance(v, str) else json.dumps(v))
' "backend-$2" "$3"
}

cs_is() { [ "$(cs_get "$1" "$2" "$3")" = "$4" ]; }

st_pg() {
	on "$1" "$BACKSTAY" status --json 2>/dev/null | python3 -c '
import json, sys
print(json.load(sys.stdin).get("postgresql", {}).get(sys.argv[1], ""))
' "$2"
}

st_pg_is() { [ "$(st_pg "$1" "$2")" = "$3" ]; }

st_row() { on "$1" "$BACKSTAY" status 2>/dev/null | grep "^$2 " || true; }

pg_block() {
	ip netns exec "$(nh_ns "$1")" iptables -w 5 -A OUTPUT -p tcp -d "$(host_ip "$2")" \
		--dport 5432 -j REJECT --reject-with tcp-reset
	nh_log "host $1: connections to backend-$2's PostgreSQL refused"
}

pg_unblock() {
	ip netns exec "$(nh_ns "$1")" iptables -w 5 -D OUTPUT -p tcp -d "$(host_ip "$2")" \
		--dport 5432 -j REJECT --reject-with tcp-reset
	nh_log "host $1: connections to backend-$2's PostgreSQL allowed again"
}

sql_is() { [ "$(pgc_sql "$1" "$2" 2>/dev/null)" = "$3" ]; }

no_start() { [ -e "$(host_dir "$1")/lib/no-start-pgsql" ]; }
unsynced() { [ -e "$(host_dir "$1")/lib/unsynced" ]; }
pgdata() { echo "$(host_dir "$1")/lib/postgresql/15/data"; }

# The first follower other than the nodes given.
pick_follower() {
	local i x skip
	for ((i = 1; i <= NH_N; i++)); do
		skip=
		for x in "$@"; do [ "$i" = "$x" ] && skip=1; done
		[ -z "$skip" ] && [ "$(pgc_state "$i")" = follower ] && { echo "$i"; return 0; }
	done
	return 1
}

# expect_synced ASK N [SECONDS]: wait until `status` on host ASK counts N
# synced followers (seed 003's check after a node's upgrade).
expect_synced() {
	local deadline=$(($(nh_now_ms) + ${3:-30} * 1000))
	until st_pg_is "$1" synced "$2"; do
		[ "$(nh_now_ms)" -lt "$deadline" ] ||
			nh_fail "status on backend-$1: expected synced: $2; $(st_row "$1" postgresql | tr -s ' ')"
		sleep 0.2
	done
}

# End the write client now (SIGTERM ends its run as if its time were up)
# and wait for it. pgc_write_start's background job is a subshell running
# pgwrite (through ip netns exec, which execs it): its child, by pid.
pgc_write_stop() {
	local c
	[ -n "$PGC_WPID" ] || return 0
	for c in $(cat "/proc/$PGC_WPID/task/$PGC_WPID/children" 2>/dev/null); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = pgwrite ] && kill -TERM "$c" 2>/dev/null
	done
	pgc_write_wait
}

# check_slot_dropped LEADER SLOT WHO: the replication slot of a member that
# left (remove-node) is dropped by the leader: an inactive slot would keep
# every WAL segment from its position on, and the leader's disk would fill.
check_slot_dropped() {
	local leader=$1 slot=$2 who=$3
	nh_wait 10 "backend-$leader drops $who's replication slot $slot" \
		sql_is "$leader" "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'" 0
	nh_log "$who's replication slot $slot dropped on backend-$leader"
}
