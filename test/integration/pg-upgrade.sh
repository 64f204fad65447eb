#!/usr/bin/env bash
# pg-upgrade.sh: chef-backend's zero-downtime rolling upgrade (seed 003,
# upgrade_server_ha) step by step with backstay's verbs, on three netns
# hosts with real PostgreSQL 15 (pg_cluster.sh), a client writing through
# /leader all along. The "upgrade" of a node is its stop and start (the
# package install in between changes nothing the cluster sees).
#
#   1  set-cluster-failover off
#   2  for each follower: backstay stop, backstay start, then `status` until
#      the postgresql row counts synced: 2 again
#   3  set-cluster-failover on; demote; set-cluster-failover off; then
#      cluster-status: a new leader, the old one on its way to follower
#   4  the demoted leader as in 2
#   5  set-cluster-failover on
#   6  status: leader 1, follower 2, synced 2, consensus green
#
# Asserted besides: the serving node (/leader, watched every 100 ms) changed
# once, at the demote, and the epoch grew by one; no acknowledged row lost.
# Where backstay differs from chef-backend (the demoted leader reads
# waiting_for_leader, not deposed_leader, on its way to follower), the
# script asserts backstay's behaviour and docs/ctl.md says why.
#
# Safety: netns_lib.sh (traffic only inside this run's namespaces, bounded
# waits, cleanup on every exit, leftovers of killed runs removed first).
# Needs root and PostgreSQL 15: else exit 77.
set -euo pipefail

: "${BACKSTAY:?}" "${PGWRITE:?}" "${CTL_STATUS:?}"
[ "$(id -u)" -eq 0 ] || { echo "pg-upgrade: skipped: needs root (namespaces)"; exit 77; }
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "pg-upgrade: skipped: no PostgreSQL 15"; exit 77; }
id postgres >/dev/null 2>&1 || { echo "pg-upgrade: skipped: no postgres OS user"; exit 77; }

HERE=$(cd "$(dirname "$0")" && pwd)
NH_PREFIX=bspu
NH_NAME="pg-upgrade"
# shellcheck source=netns_lib.sh
. "$HERE/netns_lib.sh"
# shellcheck source=pg_cluster.sh
. "$HERE/pg_cluster.sh"
# shellcheck source=pg_seeds.sh
. "$HERE/pg_seeds.sh"

T_START=$(nh_now_ms)
WATCH_PID=

# Every change of the node serving /leader, "ms node" lines in $2, until $1
# exists (or 170 s, the test's bound).
watch_leaders() {
	local last="" l deadline=$(($(nh_now_ms) + 170000))
	while [ ! -e "$1" ] && [ "$(nh_now_ms)" -lt "$deadline" ]; do
		l=$(pgc_leader)
		if [ -n "$l" ] && [ "$l" != "$last" ]; then
			echo "$(nh_now_ms) $l" >>"$2"
			last=$l
		fi
		sleep 0.1
	done
}

watch_stop() {
	[ -n "$WATCH_PID" ] || return 0
	touch "$NH_TMP/watch.stop"
	wait "$WATCH_PID" 2>/dev/null || true
	WATCH_PID=
}
NH_CLEANUP_HOOK=watch_stop

serving_epoch() { cs_get "$1" "$1" epoch; }

# The leader and its epoch have not moved since the start of the step.
assert_no_failover() {
	local l
	l=$(pgc_wait_leader 0 10) || nh_fail "$1: no node serves /leader"
	[ "$l" = "$LEADER" ] || nh_fail "$1: backend-$l serves, not backend-$LEADER: a failover with failover off"
	[ "$(serving_epoch "$LEADER")" = "$EPOCH" ] ||
		nh_fail "$1: epoch $(serving_epoch "$LEADER"), expected $EPOCH"
}

# Step 2 for node $1 (a follower): stop, start, synced again.
upgrade_follower() {
	local f=$1 out
	out=$(on "$f" "$BACKSTAY" stop 2>&1) || nh_fail "backstay stop on backend-$f: $out"
	nh_log "backend-$f: $out"
	out=$(on "$f" "$BACKSTAY" start 2>&1) || nh_fail "backstay start on backend-$f: $out"
	nh_log "backend-$f: $out"
	nh_wait 60 "backend-$f a follower again" cs_is "$LEADER" "$f" role follower
	nh_wait 30 "backend-$f's PostgreSQL a standby again" cs_is "$LEADER" "$f" pg follower
	expect_synced "$LEADER" 2 60
	nh_log "backend-$f upgraded and synced: $(st_row "$LEADER" postgresql | tr -s ' ')"
}

# The states node $1 goes through until follower (at most $2 s): the roles
# cluster-status shows, asked on host $3, each once in order.
roles_until_follower() {
	local i=$1 secs=$2 ask=$3 seen="" r last="" deadline
	deadline=$(($(nh_now_ms) + secs * 1000))
	while [ "$(nh_now_ms)" -lt "$deadline" ]; do
		r=$(cs_get "$ask" "$i" role)
		if [ -n "$r" ] && [ "$r" != "$last" ]; then
			seen+="${seen:+ }$r"
			last=$r
		fi
		[ "$r" = follower ] && break
		sleep 0.05
	done
	echo "$seen"
}

nh_setup 3
pgc_up 3
LEADER=$(pgc_wait_leader) || nh_fail "no leader"
EPOCH=$(serving_epoch "$LEADER")
FOLLOWERS=()
for ((i = 1; i <= 3; i++)); do [ "$i" = "$LEADER" ] || FOLLOWERS+=("$i"); done
nh_log "backend-$LEADER leads at epoch $EPOCH; followers: ${FOLLOWERS[*]/#/backend-}"
: >"$NH_TMP/leaders"
watch_leaders "$NH_TMP/watch.stop" "$NH_TMP/leaders" &
WATCH_PID=$!
pgc_write_start 170 100
nh_wait 10 "rows acknowledged" grep -q . "$PGC_W/acked"

# Step 1: block failover.
out=$(on "$LEADER" "$BACKSTAY" set-cluster-failover off 2>&1) || nh_fail "set-cluster-failover off: $out"
grep -q "cluster failover: disabled" <<<"$(on "$LEADER" "$BACKSTAY" cluster-status)" ||
	nh_fail "cluster-status does not show failover disabled"
nh_log "step 1: set-cluster-failover off"

# Step 2: the followers, one at a time.
for f in "${FOLLOWERS[@]}"; do
	upgrade_follower "$f"
	assert_no_failover "step 2 (backend-$f)"
done
nh_log "step 2: both followers upgraded, no failover"

# Step 3: fail over to an upgraded follower, block again.
on "$LEADER" "$BACKSTAY" set-cluster-failover on >/dev/null || nh_fail "set-cluster-failover on"
t0=$(nh_now_ms)
# Right after the switch: the deciding node's view of it counts, not each
# follower's own (which may lag a heartbeat).
out=$(on "$LEADER" "$BACKSTAY" demote 2>&1) || nh_fail "demote right after set-cluster-failover on: $out"
nh_log "step 3: demote: $out ($(($(nh_now_ms) - t0)) ms)"
on "$LEADER" "$BACKSTAY" set-cluster-failover off >/dev/null || nh_fail "set-cluster-failover off (2)"
NEW=$(pgc_wait_leader "$LEADER" 30) || nh_fail "no new leader after demote"
[[ " ${FOLLOWERS[*]} " == *" $NEW "* ]] || nh_fail "backend-$NEW leads: not an upgraded follower"
roles=$(roles_until_follower "$LEADER" 60 "$NEW")
nh_log "step 3: cluster-status: backend-$NEW leads; backend-$LEADER went: $roles"
[ "${roles##* }" = follower ] || nh_fail "backend-$LEADER did not become a follower: $roles"
[[ " $roles " != *" leader "* ]] || nh_fail "backend-$LEADER led again after demote: $roles"
on "$NEW" "$BACKSTAY" cluster-status | sed 's/^/    | /'
[ "$(serving_epoch "$NEW")" = $((EPOCH + 1)) ] ||
	nh_fail "epoch $(serving_epoch "$NEW") after demote, expected $((EPOCH + 1))"
OLD=$LEADER
LEADER=$NEW
EPOCH=$((EPOCH + 1))

# Step 4: the demoted leader, as in step 2.
upgrade_follower "$OLD"
assert_no_failover "step 4"
nh_log "step 4: backend-$OLD (the demoted leader) upgraded"

# Step 5: failover allowed again.
on "$LEADER" "$BACKSTAY" set-cluster-failover on >/dev/null || nh_fail "set-cluster-failover on (2)"
grep -q "cluster failover: enabled" <<<"$(on "$LEADER" "$BACKSTAY" cluster-status)" ||
	nh_fail "cluster-status does not show failover enabled"
nh_log "step 5: set-cluster-failover on"

# Step 6: the cluster is stable.
nh_wait 20 "every node eligible" cs_is "$LEADER" "$OLD" eligible true
on "$LEADER" "$BACKSTAY" status | sed 's/^/    | /'
grep -q "leader: 1; waiting: 0; follower: 2; total: 3" <<<"$(st_row "$LEADER" leader)" ||
	nh_fail "status: leader row: $(st_row "$LEADER" leader)"
grep -q "health: green; healthy nodes: 3/3" <<<"$(st_row "$LEADER" consensus)" ||
	nh_fail "status: consensus row: $(st_row "$LEADER" consensus)"
st_pg_is "$LEADER" synced 2 || nh_fail "status: $(st_row "$LEADER" postgresql)"
assert_no_failover "step 6"

pgc_write_stop
watch_stop
grep -E "outage_ms|summary" "$PGC_W/out" || true
changes=$(awk '{print $2}' "$NH_TMP/leaders" | tr '\n' ' ')
[ "$changes" = "$OLD $LEADER " ] ||
	nh_fail "the serving node went: $changes (expected backend-$OLD then backend-$LEADER only)"
[ "$(grep -c '^outage_ms=' "$PGC_W/out")" -le 1 ] ||
	nh_fail "more than one write outage: $(grep outage_ms "$PGC_W/out" | tr '\n' ';')"
pgc_verify
nh_log "PASS ($((($(nh_now_ms) - T_START) / 1000)) s)"
