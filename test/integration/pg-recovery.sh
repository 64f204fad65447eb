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
#   previous-leader  loss of quorum where the deposed leader has the freshest
#                    WAL: rm no-start-pgsql, backstay restart (there is no
#                    separate postgresql service), promote
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
	local leader f out lip
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

	# A name works too (looked up among the members at --endpoint); the data
	# directory is LEADER's already: pg_rewind, or its fallback.
	out=$(on "$f" env PSQL_INTERNAL_OK=true "$BACKSTAY" pgsql-follow "backend-$leader" \
		--endpoint "$lip:2380" --verbose 2>&1) || nh_fail "pgsql-follow backend-$leader: $out"
	echo "$out" | sed 's/^/    | /'

	on "$f" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$f"
	pgc_wait_state "$f" follower 60 || nh_fail "backend-$f did not follow: $(pgc_state "$f")"
	nh_wait 20 "backend-$f eligible again" cs_is "$leader" "$f" eligible true
	cs_is "$leader" "$f" partially_synced false || nh_fail "backend-$f still partially synced"
	expect_synced "$leader" 2
	nh_log "backend-$f follows again; status: $(st_row "$leader" postgresql)"
	pgc_write_stop
	grep summary "$PGC_W/out" || true
	pgc_verify
}

case $SCENARIO in
unsynced)
	nh_setup 3
	pgc_up 3
	scenario_unsynced
	;;
*)
	nh_fail "unknown scenario $SCENARIO"
	;;
esac
nh_log "PASS ($(( ($(nh_now_ms) - T_START) / 1000 )) s)"
