#!/usr/bin/env bash
# pg-recovery.sh SCENARIO: chef-backend's failure-recovery procedures (seed
# 004, backend_failure_recovery) run step by step with backstay's verbs on
# netns hosts with real PostgreSQL 15 (pg_cluster.sh), a client writing
# through /leader, and every acknowledged row checked at the end. Where
# backstay's steps differ from chef-backend's, the script asserts backstay's
# and docs/ctl.md ("Recovering from failures") says why.
#
#   single           a follower's node lost for good: remove-node it from
#                    another node, a fresh host (backend-4) joins with
#                    join-cluster and follows
#   twonode          two nodes lost: create-cluster --quorum-loss-recovery on
#                    the survivor (a follower that had caught up), which
#                    leads with its data; two fresh hosts join
#   twonode-leader   the same with the leader as the survivor
#   previous-leader  loss of quorum where the deposed leader has the freshest
#                    WAL: after the heal it leads again by itself (its
#                    PostgreSQL started as a standby reports the freshest
#                    position); else seed 004's procedure: rm no-start-pgsql,
#                    backstay restart, promote
#   leaderl          the leader's daemon killed (not its PostgreSQL, which
#                    ends with it): a new leader, nothing acknowledged lost,
#                    the old node back as a follower once its daemon starts
#   unsynced         a follower's base backup fails: partially_synced, not
#                    eligible; backstay stop, PSQL_INTERNAL_OK=true
#                    backstay pgsql-follow LEADER --verbose, rm -f unsynced,
#                    backstay start: a follower again
#
# Safety: netns_lib.sh (traffic only inside this run's namespaces, bounded
# waits, cleanup on every exit, leftovers of killed runs removed first).
# Needs root and PostgreSQL 15: else exit 77.
set -euo pipefail

: "${BACKSTAY:?}" "${PGWRITE:?}" "${CTL_STATUS:?}"
SCENARIO=${1:?scenario: single, twonode, previous-leader or unsynced}
[ "$(id -u)" -eq 0 ] || { echo "pg-recovery: skipped: needs root (namespaces)"; exit 77; }
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "pg-recovery: skipped: no PostgreSQL 15"; exit 77; }
id postgres >/dev/null 2>&1 || { echo "pg-recovery: skipped: no postgres OS user"; exit 77; }

HERE=$(cd "$(dirname "$0")" && pwd)
NH_PREFIX=bspr
NH_NAME="pg-recovery $SCENARIO"
# shellcheck source=netns_lib.sh
. "$HERE/netns_lib.sh"
# shellcheck source=pg_cluster.sh
. "$HERE/pg_cluster.sh"
# shellcheck source=pg_seeds.sh
. "$HERE/pg_seeds.sh"

T_START=$(nh_now_ms)

# ---- unsynced -----------------------------------------------------------------------
# FR "Handling nodes reporting partially_synced: true".
scenario_unsynced() {
	local leader f g out lip pm
	leader=$(pgc_wait_leader) || nh_fail "no leader"
	f=$(pick_follower "$leader") || nh_fail "no follower"
	lip=$(host_ip "$leader")
	pgc_write_start 80 100

	# A sync that fails: the follower lost its data directory (a replaced
	# disk) and cannot reach the leader's PostgreSQL; its daemon's base
	# backup fails and leaves the unsynced sentinel.
	on "$f" "$BACKSTAY" stop >/dev/null || nh_fail "backstay stop on backend-$f"
	rm -rf "$(pgdata "$f")"
	pg_block "$f" "$leader"
	on "$f" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$f"
	nh_wait 60 "backend-$f reports partially_synced" cs_is "$leader" "$f" partially_synced true
	nh_wait 30 "backend-$f waits for a leader" cs_is "$leader" "$f" role waiting_for_leader
	cs_is "$leader" "$f" eligible false || nh_fail "backend-$f partially synced but eligible"
	unsynced "$f" || nh_fail "backend-$f: no unsynced sentinel after the failed sync"
	nh_log "backend-$f: role $(cs_get "$leader" "$f" role), partially_synced, eligible: $(cs_get "$leader" "$f" blocked)"
	nh_log "status: $(st_row "$leader" postgresql)"
	expect_synced "$leader" 1 5

	# The documented fix. Refusals first: the daemon runs; no PSQL_INTERNAL_OK.
	out=$(on "$f" env PSQL_INTERNAL_OK=true "$BACKSTAY" pgsql-follow "$lip" 2>&1) &&
		nh_fail "pgsql-follow ran beside the daemon: $out"
	grep -q "backstay stop" <<<"$out" || nh_fail "pgsql-follow's refusal does not say why: $out"
	on "$f" "$BACKSTAY" stop >/dev/null || nh_fail "backstay stop on backend-$f"
	out=$(on "$f" env -u PSQL_INTERNAL_OK "$BACKSTAY" pgsql-follow "$lip" 2>&1) &&
		nh_fail "pgsql-follow ran without PSQL_INTERNAL_OK: $out"
	grep -q "PSQL_INTERNAL_OK=true" <<<"$out" || nh_fail "refusal without the variable's name: $out"
	nh_log "pgsql-follow refused beside the daemon and without PSQL_INTERNAL_OK=true"

	# Running the sync by hand shows the cause.
	out=$(on "$f" env PSQL_INTERNAL_OK=true "$BACKSTAY" pgsql-follow "$lip" --verbose 2>&1) &&
		nh_fail "pgsql-follow succeeded while blocked: $out"
	echo "$out" | sed 's/^/    | /'
	grep -qi "refused\|could not connect" <<<"$out" || nh_fail "pgsql-follow does not show the cause"
	unsynced "$f" || nh_fail "the unsynced sentinel went away after a failed sync"

	# The cause resolved, the sync again: it succeeds and clears unsynced.
	pg_unblock "$f" "$leader"
	out=$(on "$f" env PSQL_INTERNAL_OK=true "$BACKSTAY" pgsql-follow "$lip" --verbose 2>&1) ||
		nh_fail "pgsql-follow: $out"
	echo "$out" | sed 's/^/    | /'
	grep -q "base backup" <<<"$out" || nh_fail "pgsql-follow: no base backup in its output"
	grep -qE "kB \([0-9]+%\)" <<<"$out" || nh_fail "pgsql-follow --verbose: no progress lines"
	unsynced "$f" && nh_fail "backstay: pgsql-follow should have removed the unsynced sentinel"
	# The procedure's `rm`: the file is gone already (see docs/ctl.md), so -f.
	on "$f" rm -f /var/lib/backstay/unsynced

	# A name works too (looked up among the members at --endpoint), and
	# --force-basebackup copies without trying pg_rewind.
	out=$(on "$f" env PSQL_INTERNAL_OK=true "$BACKSTAY" pgsql-follow "backend-$leader" \
		--endpoint "$lip:2380" --force-basebackup --verbose 2>&1) ||
		nh_fail "pgsql-follow backend-$leader: $out"
	echo "$out" | sed 's/^/    | /'
	grep -q "(base backup)" <<<"$out" || nh_fail "--force-basebackup: no base backup"
	grep -q "pg_rewind" <<<"$out" && nh_fail "--force-basebackup tried pg_rewind"

	on "$f" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$f"
	pgc_wait_state "$f" follower 60 || nh_fail "backend-$f did not follow: $(pgc_state "$f")"
	nh_wait 20 "backend-$f eligible again" cs_is "$leader" "$f" eligible true
	cs_is "$leader" "$f" partially_synced false || nh_fail "backend-$f still partially synced"
	expect_synced "$leader" 2
	nh_log "backend-$f follows again; status: $(st_row "$leader" postgresql)"

	# pgsql-follow on a node whose PostgreSQL was left running outside the
	# daemon (started by hand here: the daemon's own dies with it): it
	# stops that postmaster first; a standby shut down cleanly is rewound
	# (nothing to do) rather than copied.
	g=$(pick_follower "$leader" "$f") || nh_fail "no second follower"
	on "$g" "$BACKSTAY" stop >/dev/null || nh_fail "backstay stop on backend-$g"
	on "$g" runuser -u postgres -- "$PGC_BIN/pg_ctl" -D /var/lib/backstay/postgresql/15/data \
		-w -t 30 start >/dev/null 2>&1 || nh_fail "backend-$g: pg_ctl start"
	pm=$(head -1 "$(pgdata "$g")/postmaster.pid")
	kill -0 "$pm" || nh_fail "backend-$g: no postmaster started by hand"
	out=$(on "$g" env PSQL_INTERNAL_OK=true "$BACKSTAY" pgsql-follow "$lip" --verbose 2>&1) ||
		nh_fail "pgsql-follow on backend-$g: $out"
	echo "$out" | sed 's/^/    | /'
	grep -q "stopping the PostgreSQL left running on this node (pid $pm, fast)" <<<"$out" ||
		nh_fail "pgsql-follow did not stop the postmaster left running"
	grep -q "(pg_rewind)" <<<"$out" || nh_fail "pgsql-follow copied a standby it could rewind"
	nh_wait 5 "postmaster $pm gone" bash -c "! kill -0 $pm 2>/dev/null || grep -q '^State:.*Z' /proc/$pm/status"
	on "$g" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$g"
	pgc_wait_state "$g" follower 60 || nh_fail "backend-$g did not follow: $(pgc_state "$g")"
	nh_log "backend-$g: the PostgreSQL left running stopped, rewound, follows again"
	pgc_write_stop
	grep summary "$PGC_W/out" || true
	pgc_verify
}

# ---- single ----------------------------------------------------------------------------
# FR "Single-node Failure", the node cannot be brought back: remove-node it
# from any node, join a new one.
scenario_single() {
	local leader f g out id
	leader=$(pgc_wait_leader) || nh_fail "no leader"
	f=$(pick_follower "$leader") || nh_fail "no follower"
	g=$(pick_follower "$leader" "$f") || nh_fail "no second follower"
	id=$(python3 -c 'import json,sys; print("%016x" % json.load(open(sys.argv[1]))["id"])' \
		"$(host_dir "$f")/lib/node.json")
	pgc_write_start 80 100
	nh_wait 10 "rows acknowledged" grep -q . "$PGC_W/acked"

	node_kill9 "$f"
	out=$(on "$g" "$BACKSTAY" remove-node "backend-$f" 2>&1) || nh_fail "remove-node backend-$f: $out"
	nh_log "remove-node on backend-$g: $out"
	[ "$(cs_get "$g" "$f" name)" = "" ] || nh_fail "backend-$f still listed by cluster-status"
	check_slot_dropped "$leader" "backstay_$id" "backend-$f"

	pgc_config 4
	out=$(on 4 "$BACKSTAY" join-cluster "$(host_ip "$g")" -s "$NH_TMP/secrets.json" --yes 2>&1) ||
		nh_fail "join-cluster on backend-4: $out"
	pgc_wait_state 4 follower 60 || nh_fail "backend-4 did not follow: $(pgc_state 4)"
	nh_wait 20 "backend-4 eligible" cs_is "$leader" 4 eligible true
	[ "$(on "$leader" "$BACKSTAY" cluster-status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))')" = 3 ] ||
		nh_fail "cluster-status does not list three nodes"
	nh_log "backend-4 joined through backend-$g and follows; status: $(st_row "$leader" postgresql | tr -s ' ')"
	expect_synced "$leader" 2
	pgc_write_stop
	grep -E "outage_ms|summary" "$PGC_W/out" || true
	pgc_verify
}

# ---- twonode --------------------------------------------------------------------------
# FR "Two-node Failure": the survivor becomes the cluster again with
# create-cluster --quorum-loss-recovery; two new nodes join it.
#   twonode          the survivor is a follower
#   twonode-leader   the survivor is the leader (which fenced itself when its
#                    quorum went: deposed, no-start-pgsql)
# Rows:
#   A  acknowledged before the loss, the survivor caught up: all there
#   B  written while the two nodes die. Acknowledged = on the leader and ANY
#      one standby: all there when the leader survives; with a follower
#      surviving, a row only the lost standby confirmed can be gone
#      (reported, not asserted; docs/ctl.md)
#   C  written after the recovery, through the joins: all there
scenario_twonode() {
	local kind=$1 leader s x out flush wa wb i
	leader=$(pgc_wait_leader) || nh_fail "no leader"
	if [ "$kind" = leader ]; then
		s=$leader
		x=$(pick_follower "$leader") || nh_fail "no follower"
		leader=$(pick_follower "$s" "$x") || nh_fail "no second follower"
	else
		s=$(pick_follower "$leader") || nh_fail "no follower"
		x=$(pick_follower "$leader" "$s") || nh_fail "no second follower"
	fi
	# From here on, $s survives; $leader and $x are lost.

	pgc_write_start 4 100
	pgc_write_wait
	wa=$PGC_W
	flush=$(pgc_sql "$(pgc_leader)" "SELECT pg_current_wal_flush_lsn()")
	[ "$kind" = leader ] || nh_wait 10 "backend-$s replayed $flush" \
		sql_is "$s" "SELECT pg_last_wal_replay_lsn() >= '$flush'::pg_lsn" t
	nh_log "rows A: $(wc -l <"$wa/acked") acknowledged; backend-$s (the survivor, a $kind) has them"

	pgc_write_start 80 100
	wb=$PGC_W
	nh_wait 10 "rows B acknowledged" grep -q . "$wb/acked"
	node_kill9 "$leader"
	node_kill9 "$x"
	nh_log "backend-$leader and backend-$x lost; backend-$s: $(pgc_state "$s")"
	if [ "$kind" = leader ]; then
		pgc_wait_state "$s" deposed_leader 20 || nh_fail "backend-$s: $(pgc_state "$s")"
		no_start "$s" || nh_fail "backend-$s deposed without its sentinel"
		nh_log "backend-$s fenced itself (no quorum): deposed_leader, no-start-pgsql"
	fi

	out=$(on "$s" "$BACKSTAY" create-cluster --quorum-loss-recovery --yes 2>&1) ||
		nh_fail "create-cluster --quorum-loss-recovery: $out"
	nh_log "create-cluster --quorum-loss-recovery on backend-$s: $(head -1 <<<"$out")"
	# --quorum-loss-recovery clears a deposed survivor's no-start-pgsql: the
	# operator named it the node with the freshest data.
	[ "$(pgc_wait_leader 0 30)" = "$s" ] || nh_fail "backend-$s does not lead: $(pgc_state "$s")"
	no_start "$s" && nh_fail "backend-$s leads with its no-start-pgsql sentinel"
	nh_log "backend-$s leads alone with its data"
	pgc_write_stop
	pgc_write_start 80 100

	# The lost nodes are replaced by new ones: the same hosts, wiped.
	for i in "$leader" "$x"; do
		nh__pg_ipc_cleanup "$(host_dir "$i")/lib" # the killed postmaster's segment
		find "$(host_dir "$i")/lib" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
		out=$(on "$i" "$BACKSTAY" join-cluster "$(host_ip "$s")" -s "$NH_TMP/secrets.json" --yes 2>&1) ||
			nh_fail "join-cluster on backend-$i: $out"
		pgc_wait_state "$i" follower 60 || nh_fail "backend-$i did not follow: $(pgc_state "$i")"
		nh_log "backend-$i (new) joined and follows"
	done
	nh_wait 20 "three eligible nodes" cs_is "$s" "$x" eligible true
	expect_synced "$s" 2
	pgc_write_stop
	grep -E "outage_ms|summary" "$PGC_W/out" || true
	PGC_W=$wa pgc_verify | sed 's/^/rows A: /'
	if [ "$kind" = leader ]; then
		PGC_W=$wb pgc_verify | sed 's/^/rows B: /'
	else
		out=$(on_fe "$PGWRITE" --verify "$wb/acked" --secrets "$NH_TMP/secrets.json" \
			--user chef_pgsql "$(host_ip 1)" "$(host_ip 2)" "$(host_ip 3)" 2>&1) || true
		nh_log "rows B (not guaranteed): $(grep -m1 acknowledged= <<<"$out")"
	fi
	pgc_verify | sed 's/^/rows C: /'
}

# ---- leaderl --------------------------------------------------------------------------
# FR "Service Level Failures / Leaderl": the leader's supervisor dies (here
# the daemon, kill -9). chef-backend warned that its PostgreSQL "may still
# be up and accepting connections"; backstay's ends with the daemon
# (docs/leader.md), the others take over with nothing acknowledged lost,
# and the restarted daemon brings the node back as a follower.
scenario_leaderl() {
	local leader new pid pm out
	leader=$(pgc_wait_leader) || nh_fail "no leader"
	pgc_write_start 80 100
	nh_wait 10 "rows acknowledged" grep -q . "$PGC_W/acked"
	pid=$(node_pid "$leader") || nh_fail "backend-$leader: no daemon"
	pm=$(head -1 "$(pgdata "$leader")/postmaster.pid")
	kill -9 "$pid"
	nh_log "backend-$leader: kill -9 of its daemon (pid $pid), not of its postmaster ($pm)"
	nh_wait 10 "backend-$leader's postmaster ends with its daemon" \
		bash -c "! kill -0 $pm 2>/dev/null || grep -q '^State:.*Z' /proc/$pm/status"
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "no new leader after the daemon's death"
	nh_log "backend-$new leads; backend-$leader's PostgreSQL ended with its daemon"
	sleep 2 # bounded: writes go on with the new leader
	pgc_write_stop
	grep -E "outage_ms|summary" "$PGC_W/out" || true
	pgc_verify
	out=$(on "$leader" "$BACKSTAY" start 2>&1) || nh_fail "backstay start on backend-$leader: $out"
	pgc_wait_state "$leader" follower 60 ||
		nh_fail "backend-$leader did not rejoin as a follower: $(pgc_state "$leader") ($(cs_get "$new" "$leader" why))"
	nh_log "backend-$leader started again: a follower (its log: $(grep -ohE "postgresql: (pg_rewind against|base backup from|following) .*" "$(host_dir "$leader")/log/backstay.log" | tail -n 2 | tr '\n' ';'))"
}

# ---- previous-leader ---------------------------------------------------------------
# FR "Loss of Quorum / Promoting a Previous Leader": the deposed leader has
# the freshest WAL (a commit it wrote as the quorum went, never
# acknowledged); the operator reinstates it.
scenario_previous_leader() {
	local leader a b out rc l
	leader=$(pgc_wait_leader) || nh_fail "no leader"
	a=$(pick_follower "$leader") || nh_fail "no follower"
	b=$(pick_follower "$leader" "$a") || nh_fail "no second follower"
	pgc_sql "$leader" "CREATE TABLE in_doubt (id int)" || nh_fail "create table in_doubt"
	pgc_write_start 80 100
	nh_wait 10 "rows acknowledged" grep -q . "$PGC_W/acked"

	# Quorum lost: backend-$b's node dies, then backend-$leader and
	# backend-$a are cut apart. A commit sent to the leader at the cut is
	# written to its WAL and waits for a standby that never confirms it.
	node_kill9 "$b"
	partition "$leader" "$a"
	on_fe timeout 10 env PGPASSWORD="$(pgc_password)" "$PGC_BIN/psql" -X -q -At \
		"host=$(host_ip "$leader") user=chef_pgsql dbname=postgres connect_timeout=2" \
		-c "INSERT INTO in_doubt VALUES (1)" >/dev/null 2>&1 &
	local insert=$!
	pgc_wait_state "$leader" deposed_leader 20 ||
		nh_fail "backend-$leader was not deposed: $(pgc_state "$leader")"
	wait "$insert" && nh_fail "the in-doubt insert was acknowledged without a standby"
	no_start "$leader" || nh_fail "backend-$leader: no no-start-pgsql sentinel after its fence"
	nh_log "backend-$leader deposed (no-start-pgsql written), the in-doubt insert unanswered"
	heal

	# Connectivity is back. The deposed leader starts its PostgreSQL as a
	# standby (its sentinel stays) so that its report carries its position:
	# it holds the freshest WAL, so the election picks it and it leads again
	# by itself -- what seed 004's procedure (rm no-start-pgsql, restart,
	# promote) did by hand. A leader without its data would fail below.
	l=$(pgc_wait_leader 0 30) || l=
	if [ "$l" = "$leader" ]; then
		nh_log "backend-$leader leads again by itself: seed 004's procedure is not needed"
	elif [ -n "$l" ]; then
		# A tie: the in-doubt commit's WAL reached backend-$a before the cut
		# (only its confirmation was lost). Step 3 of the procedure puts the
		# previous leader back.
		# It follows first: promote refuses a node that reports no position
		# (its PostgreSQL restarting to follow backend-$l: CI, ASan build).
		pgc_wait_state "$leader" follower 60 ||
			nh_fail "backend-$leader did not follow backend-$l: $(pgc_state "$leader")"
		nh_log "backend-$l leads by itself (at the deposed leader's position); promote backend-$leader"
		out=$(on "$a" "$BACKSTAY" promote "backend-$leader" 2>&1) || nh_fail "promote backend-$leader: $out"
	else
		nh_log "no leader by itself ($(cs_get "$a" "$a" why)): seed 004's procedure"
		on "$leader" rm -f /var/lib/backstay/no-start-pgsql
		out=$(on "$leader" "$BACKSTAY" restart 2>&1) || nh_fail "backstay restart: $out"
		rc=0
		out=$(on "$a" "$BACKSTAY" promote "backend-$leader" 2>&1) || rc=$?
		if [ "$rc" -ne 0 ]; then
			grep -q "already leads" <<<"$out" || nh_fail "promote backend-$leader: $out"
		fi
		nh_log "promote backend-$leader: exit $rc: $out"
	fi
	no_start "$leader" && nh_fail "backend-$leader leads with its no-start-pgsql sentinel still there"
	[ "$(pgc_wait_leader 0 30)" = "$leader" ] || nh_fail "backend-$leader does not lead: $(pgc_leader)"
	[ "$(pgc_sql "$leader" "SELECT count(*) FROM in_doubt")" = 1 ] ||
		nh_fail "the deposed leader's in-doubt commit is gone"
	nh_log "backend-$leader leads again with its freshest WAL (the in-doubt row is there)"
	pgc_wait_state "$a" follower 60 || nh_fail "backend-$a did not follow: $(pgc_state "$a")"

	# The lost node comes back as it was: it rejoins on its own.
	on "$b" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$b"
	pgc_wait_state "$b" follower 60 || nh_fail "backend-$b did not follow: $(pgc_state "$b")"
	expect_synced "$leader" 2
	pgc_write_stop
	grep -E "outage_ms|summary" "$PGC_W/out" || true
	pgc_verify
}

case $SCENARIO in
leaderl)
	nh_setup 3
	pgc_up 3
	scenario_leaderl
	;;
unsynced)
	nh_setup 3
	pgc_up 3
	scenario_unsynced
	;;
single)
	nh_setup 4 # backend-4: the new node, outside the first cluster
	pgc_up 3
	scenario_single
	;;
twonode | twonode-leader)
	nh_setup 3
	pgc_up 3
	scenario_twonode "$([ "$SCENARIO" = twonode ] && echo follower || echo leader)"
	;;
previous-leader)
	nh_setup 3
	pgc_up 3
	scenario_previous_leader
	;;
*)
	nh_fail "unknown scenario $SCENARIO"
	;;
esac
nh_log "PASS ($(( ($(nh_now_ms) - T_START) / 1000 )) s)"
