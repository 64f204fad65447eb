#!/usr/bin/env bash
# pg-failover.sh SCENARIO: the leader module with real PostgreSQL 15 on three
# netns hosts (create-cluster + join-cluster), a client writing numbered
# rows through /leader from its own namespace, and one fault:
#
#   kill       kill -9 of the leader's whole node (backstay and PostgreSQL);
#              writes resume on another node, every acknowledged row is
#              there; the old leader, started again, rejoins as a follower
#   partition  the leader's host cut off from the others: it stops serving
#              (503, PostgreSQL stopped) before the new leader serves; after
#              the heal it rejoins (pg_rewind) as a follower
#   diverged   the leader holds WAL no follower has (its walsenders stopped,
#              a commit with synchronous_commit local), then its whole node
#              is killed: started again, it cannot stream from
#              the new leader (its timeline forked before its own end) and
#              must not call itself a follower until pg_rewind has brought
#              it onto the new timeline and it streams there
#   pgcrash    kill -9 of the leader's postmaster only: leadership moves
#   daemon     kill -9 of the leader's backstay only: its PostgreSQL shuts
#              down with it (no unfenced primary left), leadership moves
#   switchover demote, then promote NODE, under a write load: no acknowledged
#              row lost either time
#   blocked    set-cluster-failover off: demote refused, killing the
#              leader's PostgreSQL moves nothing (the leader may take it up
#              again); with the leader's backstay stopped nobody is elected;
#              force-leader on another node makes it the leader; a second
#              force-leader is refused
#   es         the Elasticsearch health of the leader (an es_fixture per
#              host, serving Elasticsearch's _cluster/health answers; not
#              Elasticsearch) turns red: leadership moves to a healthy node
#   promotefail  promote NODE whose PostgreSQL cannot promote (its pg_wal
#              made immutable, chattr +i: the timeline history file cannot be
#              written and PostgreSQL exits, as on a full disk): another node
#              leads within seconds, nothing acknowledged is lost, and once
#              pg_wal is writable again NODE rejoins as a follower
#   behind     a follower stopped while the leader writes and recycles the
#              WAL it would need (its slot dropped, wal_keep_size small):
#              started again, it cannot stream, and gets a base backup
#
# Safety: netns_lib.sh (traffic only inside this run's namespaces, bounded
# waits, cleanup on every exit, leftovers of killed runs removed first).
# Needs root and PostgreSQL 15: else exit 77.
set -euo pipefail

: "${BACKSTAY:?}" "${PGWRITE:?}" "${CTL_STATUS:?}"
SCENARIO=${1:?scenario}
[ "$(id -u)" -eq 0 ] || { echo "pg-failover: skipped: needs root (namespaces)"; exit 77; }
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "pg-failover: skipped: no PostgreSQL 15"; exit 77; }
id postgres >/dev/null 2>&1 || { echo "pg-failover: skipped: no postgres OS user"; exit 77; }

HERE=$(cd "$(dirname "$0")" && pwd)
NH_PREFIX=bspf
NH_NAME="pg-failover $SCENARIO"
# shellcheck source=netns_lib.sh
. "$HERE/netns_lib.sh"
# shellcheck source=pg_cluster.sh
. "$HERE/pg_cluster.sh"

nh_setup 3
extra=()
[ -z "${PGC_EXTRA:-}" ] || extra+=("$PGC_EXTRA")
case $SCENARIO in
es)
	: "${ES_FIXTURE:?}"
	for i in 1 2 3; do
		echo green >"$NH_TMP/es-mode-$i"
		on "$i" "$ES_FIXTURE" --exit-with-parent 127.0.0.1 9200 "$NH_TMP/es-mode-$i" >/dev/null &
	done
	extra+=("elasticsearch.enable true" "leaderl.health_check.max_elasticsearch_failures 2")
	;;
promotefail)
	mkdir "$NH_TMP/attr-probe"
	if ! chattr +i "$NH_TMP/attr-probe" 2>/dev/null; then
		rmdir "$NH_TMP/attr-probe"
		echo "pg-failover promotefail: skipped: $NH_TMP's file system has no immutable flag (chattr)"
		exit 77
	fi
	chattr -i "$NH_TMP/attr-probe" && rmdir "$NH_TMP/attr-probe"
	;;
behind)
	extra+=("postgresql.wal_keep_segments 1" "postgresql.max_wal_size 4" "postgresql.min_wal_size 2")
	;;
esac
pgc_up 3 "${extra[@]}"

leader=$(pgc_wait_leader) || nh_fail "no leader"
nh_log "backend-$leader leads"

pg_pid() { # the postmaster of host i (its postmaster.pid)
	head -1 "$(host_dir "$1")/lib/postgresql/15/data/postmaster.pid" 2>/dev/null
}

case $SCENARIO in
kill)
	pgc_write_start 8
	sleep 2
	t0=$(nh_now_ms)
	node_kill9 "$leader"
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "no new leader after kill -9 of backend-$leader"
	nh_log "backend-$new serves $(($(nh_now_ms) - t0)) ms after the kill"
	pgc_write_wait
	grep -E "outage_ms|summary" "$PGC_W/out" || true
	pgc_verify
	on "$leader" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$leader"
	pgc_wait_state "$leader" follower 90 || nh_fail "backend-$leader did not rejoin: $(pgc_state "$leader")"
	nh_log "backend-$leader rejoined as a follower"
	;;
partition)
	pgc_write_start 10
	sleep 2
	old_pid=$(pg_pid "$leader")
	partition "$leader"
	t0=$(nh_now_ms)
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "no new leader after the partition"
	t_new=$(nh_now_ms)
	# The old primary must have stopped before the new one served.
	[ -z "$old_pid" ] || ! kill -0 "$old_pid" 2>/dev/null ||
		nh_fail "backend-$leader's PostgreSQL ($old_pid) still runs after backend-$new serves"
	# In the logs (one clock: the hosts share this machine): the old
	# primary stopped taking writes before the new one took any.
	t_stop=$(grep -m1 -o "^[^ ]* INFO  postgresql: PostgreSQL stopped (immediate" \
		"$(host_dir "$leader")/log/backstay.log" | cut -d' ' -f1) || nh_fail "backend-$leader never fenced itself"
	t_serve=$(grep "serving writes: /leader answers 200" "$(host_dir "$new")/log/backstay.log" | tail -1 | cut -d' ' -f1)
	[[ "$t_stop" < "$t_serve" ]] || nh_fail "backend-$new served at $t_serve, before backend-$leader stopped at $t_stop"
	nh_log "backend-$leader's PostgreSQL stopped at $t_stop; backend-$new served from $t_serve"
	nh_log "backend-$new serves $((t_new - t0)) ms after the cut; backend-$leader fenced itself first"
	pgc_write_wait
	heal
	pgc_verify
	pgc_wait_state "$leader" follower 90 || nh_fail "backend-$leader did not rejoin: $(pgc_state "$leader")"
	grep -q "pg_rewind against $(host_ip "$new"): done" "$(host_dir "$leader")/log/backstay.log" ||
		nh_fail "backend-$leader rejoined without pg_rewind"
	nh_log "backend-$leader rejoined as a follower after the heal (pg_rewind)"
	;;
pgcrash)
	pgc_write_start 8
	sleep 2
	kill -9 "$(pg_pid "$leader")"
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "no new leader after the postmaster's crash"
	nh_log "backend-$new serves after backend-$leader's PostgreSQL crashed"
	pgc_write_wait
	pgc_verify
	pgc_wait_state "$leader" follower 90 || nh_fail "backend-$leader did not rejoin: $(pgc_state "$leader")"
	;;
diverged)
	# The fork point 12 MB into a segment: each refused try of the diverged
	# standby streams those 12 MB again, "streaming" for a good part of the
	# time (a short stream hid the bug from most samples).
	lsn=$(pgc_sql "$leader" "select pg_switch_wal(); create table filler as select repeat('x', 1000) from generate_series(1, 12000); select pg_current_wal_lsn()" | tail -1)
	for ((i = 1; i <= 3; i++)); do
		[ "$i" = "$leader" ] && continue
		nh_wait 20 "backend-$i to replay past $lsn" bash -c \
			"[ \"\$(PGPASSWORD=$(pgc_password) ip netns exec $(nh_ns fe) $PGC_BIN/psql -X -At 'host=$(host_ip "$i") user=chef_pgsql dbname=postgres connect_timeout=2' -c \"select pg_last_wal_replay_lsn() >= '$lsn'\")\" = t ]"
	done
	# The leader's walsenders stopped: its next WAL stays its own. (Stopping
	# the followers' walreceivers is not enough: what was sent waits in their
	# sockets.)
	pm=$(pg_pid "$leader")
	ws=()
	for p in $(ip netns pids "$(nh_ns "$leader")"); do
		grep -q "walsender" "/proc/$p/cmdline" 2>/dev/null && ws+=("$p")
	done
	[ "${#ws[@]}" = 2 ] || nh_fail "expected 2 walsenders on backend-$leader, found ${#ws[@]}"
	kill -STOP "${ws[@]}"
	pgc_sql "$leader" "create table diverged(x int); set synchronous_commit = local; insert into diverged values (1)" >/dev/null
	node_kill9 "$leader"
	# Until PID 1 reaps it, the dead postmaster's pid answers kill -0 and
	# PostgreSQL refuses to start over its lock file (as after a reboot, it
	# is gone here before the node starts again).
	nh_wait 30 "backend-$leader's postmaster $pm to be reaped" bash -c "! kill -0 $pm 2>/dev/null"
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "no new leader after kill -9 of backend-$leader"
	nh_log "backend-$new leads; backend-$leader holds WAL past the fork point"
	t_start=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
	on "$leader" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$leader"
	pgc_wait_state "$leader" follower 90 || nh_fail "backend-$leader did not rejoin: $(pgc_state "$leader")"
	app=$(pgc_sql "$leader" "show cluster_name")
	nh_wait 10 "backend-$leader to stream from backend-$new" bash -c \
		"[ \"\$(PGPASSWORD=$(pgc_password) ip netns exec $(nh_ns fe) $PGC_BIN/psql -X -At 'host=$(host_ip "$new") user=chef_pgsql dbname=postgres connect_timeout=2' -c \"select state from pg_stat_replication where application_name = '$app'\")\" = streaming ]"
	grep -q "pg_rewind against $(host_ip "$new"): done" "$(host_dir "$leader")/log/backstay.log" ||
		nh_fail "backend-$leader follows without pg_rewind: $(grep -m3 'following\|pg_rewind' "$(host_dir "$leader")/log/backstay.log")"
	# Never a follower before the rewind: the diverged standby's walreceiver
	# reads "streaming" for an instant at each of its refused tries.
	log=$(host_dir "$leader")/log/backstay.log
	t_rw=$(grep -m1 "pg_rewind against $(host_ip "$new"): done" "$log" | cut -d' ' -f1)
	t_fo=$(grep "leader: .* -> follower" "$log" | awk -v t="$t_start" '$1 > t' | head -1 | cut -d' ' -f1)
	[[ -n "$t_fo" && ! "$t_fo" < "$t_rw" ]] ||
		nh_fail "backend-$leader called itself a follower at $t_fo, before its rewind at $t_rw"
	[ "$(pgc_sql "$leader" "select count(*) from pg_tables where tablename = 'diverged'")" = 0 ] ||
		nh_fail "backend-$leader still has the table only it had"
	nh_log "backend-$leader was rewound onto backend-$new's timeline and streams from it"
	;;
daemon)
	pgc_write_start 8
	sleep 2
	pm=$(pg_pid "$leader")
	kill -9 "$(node_pid "$leader")"
	nh_wait 10 "backend-$leader's postmaster to end with its backstay" bash -c "! kill -0 $pm 2>/dev/null" ||
		nh_fail "backend-$leader's PostgreSQL ($pm) outlived its backstay"
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "no new leader after kill -9 of backend-$leader's backstay"
	nh_log "backend-$leader's PostgreSQL ended with its backstay; backend-$new serves"
	pgc_write_wait
	pgc_verify
	on "$leader" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$leader"
	pgc_wait_state "$leader" follower 90 || nh_fail "backend-$leader did not rejoin: $(pgc_state "$leader")"
	;;
switchover)
	pgc_write_start 12 200
	sleep 2
	out=$(on 2 "$BACKSTAY" demote 2>&1) || nh_fail "demote: $out"
	nh_log "demote: $out"
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "no new leader after demote"
	target=$((new % 3 + 1))
	# The target must have rejoined (a deposed leader rewinds first): promote
	# refuses a node that reports no WAL position.
	pgc_wait_state "$target" follower 90 || nh_fail "backend-$target did not follow: $(pgc_state "$target")"
	# A node that has just rejoined may not have reported a WAL position
	# yet ("the node reported no position": refused, nothing changes): an
	# operator asks again; so does the test, a bounded number of times.
	for try in 1 2 3 4 5; do
		sleep 1
		out=$(on 3 "$BACKSTAY" promote "backend-$target" 2>&1) && break
		grep -q "reported no position" <<<"$out" || nh_fail "promote backend-$target: $out"
		nh_log "promote backend-$target, try $try: $out"
	done
	[ "$try" != 5 ] || grep -q "^ok" <<<"$out" || nh_fail "promote backend-$target: $out"
	nh_log "promote: $out"
	[ "$(pgc_wait_leader "$new" 30)" = "$target" ] || nh_fail "backend-$target does not serve"
	pgc_write_wait
	grep -E "outage_ms|summary" "$PGC_W/out" || true
	pgc_verify
	;;
blocked)
	on 1 "$BACKSTAY" set-cluster-failover off >/dev/null || nh_fail "set-cluster-failover off"
	out=$(on 2 "$BACKSTAY" demote 2>&1) && nh_fail "demote with failover off succeeded: $out"
	nh_log "demote refused: $out"
	kill -9 "$(pg_pid "$leader")"
	sleep 8 # bounded: long enough for several health checks and elections
	l=$(pgc_leader)
	[ -z "$l" ] || [ "$l" = "$leader" ] || nh_fail "leadership moved with failover off"
	# The leader itself may lead again (its PostgreSQL started as a standby,
	# it is the last holder: failover off does not block it).
	nh_log "no failover while blocked (leader now: backend-${l:-none})"
	# Leaderless: the leader's backstay stopped; nobody else may take over.
	on "$leader" "$BACKSTAY" stop >/dev/null || nh_fail "backstay stop on backend-$leader"
	sleep 5 # bounded: several elections' worth
	[ -z "$(pgc_leader)" ] || nh_fail "leadership moved with failover off: backend-$(pgc_leader) leads"
	nh_log "backend-$leader stopped: no leader, none elected"
	other=$((leader % 3 + 1))
	out=$(on "$other" "$BACKSTAY" force-leader 2>&1) || nh_fail "force-leader on backend-$other: $out"
	nh_log "force-leader on backend-$other: $out"
	[ "$(pgc_wait_leader 0 30)" = "$other" ] || nh_fail "backend-$other does not serve after force-leader"
	third=$((other % 3 + 1))
	[ "$third" != "$leader" ] || third=$((third % 3 + 1))
	out=$(on "$third" "$BACKSTAY" force-leader 2>&1) && nh_fail "a second force-leader succeeded: $out"
	nh_log "force-leader with a leader refused: $out"
	on "$other" "$BACKSTAY" set-cluster-failover on >/dev/null || nh_fail "set-cluster-failover on"
	;;
es)
	pgc_write_start 10
	sleep 2
	echo red >"$NH_TMP/es-mode-$leader"
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "leadership did not move off backend-$leader (Elasticsearch red)"
	nh_log "backend-$leader's Elasticsearch (fixture) red: backend-$new leads"
	pgc_write_wait
	pgc_verify
	pgc_wait_state "$leader" follower 90 || nh_fail "backend-$leader did not follow: $(pgc_state "$leader")"
	;;
promotefail)
	target=$((leader % 3 + 1))
	wal=$(host_dir "$target")/lib/postgresql/15/data/pg_wal
	pgc_write_start 14 200
	sleep 1
	# A fresh segment on the target: it has 16 MB of room before it would need
	# a new file in pg_wal, so only the promotion's history file is refused.
	lsn=$(pgc_sql "$leader" "select pg_switch_wal(); select pg_current_wal_lsn()" | tail -1)
	nh_wait 20 "backend-$target to receive past $lsn" bash -c \
		"[ \"\$(PGPASSWORD=$(pgc_password) ip netns exec $(nh_ns fe) $PGC_BIN/psql -X -At 'host=$(host_ip "$target") user=chef_pgsql dbname=postgres connect_timeout=2' -c \"select pg_last_wal_receive_lsn() >= '$lsn'\")\" = t ]"
	unfreeze() { chattr -i "$wal" 2>/dev/null; }
	NH_CLEANUP_HOOK=unfreeze
	chattr +i "$wal"
	t0=$(nh_now_ms)
	out=$(on "$leader" "$BACKSTAY" promote "backend-$target" 2>&1) || true
	nh_log "promote backend-$target: $out"
	log=$(host_dir "$target")/log/backstay.log
	nh_wait 30 "backend-$target's promotion to fail" grep -q "promotion failed" "$log"
	unfreeze
	NH_CLEANUP_HOOK=
	nh_log "backend-$target: $(grep -m1 -o "promotion failed.*" "$log")"
	new=$(pgc_wait_leader "$target" 30) || nh_fail "no leader after backend-$target's promotion failed"
	nh_log "backend-$new leads $(($(nh_now_ms) - t0)) ms after the promote command"
	pgc_write_wait
	grep -E "outage_ms|summary" "$PGC_W/out" || true
	pgc_verify
	# The target was fenced (no-start sentinel) and rejoins by pg_rewind or a
	# base backup: at once if pg_wal was writable again in time, else on the
	# follow chain's retry (4 follow timeouts: 60 s).
	pgc_wait_state "$target" follower 120 || nh_fail "backend-$target did not rejoin: $(pgc_state "$target")"
	nh_log "backend-$target follows backend-$new again"
	;;
behind)
	lag=$((leader % 3 + 1))
	on "$lag" "$BACKSTAY" stop >/dev/null || nh_fail "backstay stop on backend-$lag"
	pgc_sql "$leader" "select pg_drop_replication_slot(slot_name) from pg_replication_slots where not active" >/dev/null ||
		nh_fail "dropping the stopped follower's slot"
	pgc_write_start 6
	pgc_write_wait
	for _ in 1 2 3 4 5 6; do # recycle the WAL: 96 MB of it, a checkpoint each time
		pgc_sql "$leader" "create table if not exists filler(x text); insert into filler select repeat('x', 1000) from generate_series(1, 16000); delete from filler; select pg_switch_wal(); checkpoint" >/dev/null
	done
	on "$lag" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$lag"
	pgc_wait_state "$lag" follower 120 || nh_fail "backend-$lag did not follow again: $(pgc_state "$lag")"
	grep -q "base backup from $(host_ip "$leader"): done" "$(host_dir "$lag")/log/backstay.log" ||
		nh_fail "backend-$lag caught up without a base backup (its WAL was still there?)"
	nh_log "backend-$lag, too far behind to stream, was brought back by a base backup"
	pgc_verify
	# A slot of backstay's naming that no member uses (a removed member's)
	# is dropped by the leader; the members' own slots stay.
	pgc_sql "$leader" "select pg_create_physical_replication_slot('backstay_00000000000000ff')" >/dev/null
	nh_wait 10 "the stale slot to be dropped" bash -c "[ \"\$(PGPASSWORD=$(pgc_password) ip netns exec $(nh_ns fe) /usr/lib/postgresql/15/bin/psql -X -At 'host=$(host_ip "$leader") user=chef_pgsql dbname=postgres' -c \"select count(*) from pg_replication_slots where slot_name = 'backstay_00000000000000ff'\")\" = 0 ]"
	[ "$(pgc_sql "$leader" "select count(*) from pg_replication_slots where slot_name like 'backstay%'")" = 2 ] ||
		nh_fail "the members' slots: $(pgc_sql "$leader" "select slot_name from pg_replication_slots")"
	nh_log "a former member's slot was dropped, the members' two kept"
	;;
*)
	nh_fail "unknown scenario $SCENARIO"
	;;
esac
nh_log "PASS"
