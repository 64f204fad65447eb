#!/usr/bin/env bash
# backstay's main job: PostgreSQL that keeps every acknowledged write through
# the loss of its primary. Sets everything up (packages and build, through
# scripts/setup.sh), then, on three network-namespace "hosts" of this machine
# (test/integration/netns_lib.sh) with real PostgreSQL 15 and one backstay
# daemon each (test/integration/pg_cluster.sh):
#
#   create-cluster on backend-1, join-cluster on backend-2 and -3;
#   status and cluster-status; GET /leader as a frontend's HAProxy sees it;
#   rows written with psql and by pgwrite (numbered rows through whichever
#   node's /leader answers 200); kill -9 of the leader's whole node; the time
#   until writes succeed again; every acknowledged row read back; the old
#   leader started again and rejoining as a follower; a planned switchover
#   (demote) and its write pause; a configuration mistake refused.
#
# Ends with a summary; exit 0 only if every check passed.
#
# Safety: every client (psql, pgwrite, the /leader probes) runs inside the
# client namespace this run creates; the root namespace never reaches a test
# address. Every wait is bounded. netns_lib.sh's traps kill what runs in this
# run's namespaces, delete them and remove the temp dir on every exit path
# (and clean up what a killed earlier demo left behind).
# shellcheck source-path=SCRIPTDIR/..
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (packages, network namespaces)" >&2; exit 1; }

B=$'\033[1m' D=$'\033[2m' G=$'\033[32m' R=$'\033[31m' N=$'\033[0m'
[ -t 1 ] || B='' D='' G='' R='' N=''
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
say() { printf '%s%s%s\n' "$D" "$*" "$N"; } # a command line, as typed
indent() { sed 's/^/  /'; }

step "installing packages and building (scripts/setup.sh: apt, meson, ninja)"
bash scripts/setup.sh >/dev/null
export BACKSTAY=$PWD/build/tools/backstay
export PGWRITE=$PWD/build/test/fault/pgwrite
export CTL_STATUS=$PWD/build/test/integration/ctl_status
for f in "$BACKSTAY" "$PGWRITE" "$CTL_STATUS"; do
	[ -x "$f" ] || { echo "demo: $f was not built" >&2; exit 1; }
done
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "demo: PostgreSQL 15 missing" >&2; exit 1; }
"$BACKSTAY" version

NH_PREFIX=bsdemo # read by netns_lib.sh: namespaces bsdemo-PID-*
export NH_PREFIX NH_NAME=demo
# shellcheck source=test/integration/netns_lib.sh
. test/integration/netns_lib.sh
# shellcheck source=test/integration/pg_cluster.sh
. test/integration/pg_cluster.sh

# ---- the demo's own helpers --------------------------------------------------

T_START=$(nh_now_ms)
CHECKS=() # "ok|FAIL text"
check() { # check TEXT CMD...: run CMD, record and print the outcome
	local what=$1
	shift
	if "$@"; then
		CHECKS+=("ok|$what")
		printf '%scheck ok:%s %s\n' "$G" "$N" "$what"
	else
		CHECKS+=("FAIL|$what")
		printf '%scheck FAILED:%s %s\n' "$R" "$N" "$what"
		return 1
	fi
}
ok() { CHECKS+=("ok|$1"); printf '%scheck ok:%s %s\n' "$G" "$N" "$1"; }
bad() { CHECKS+=("FAIL|$1"); printf '%scheck FAILED:%s %s\n' "$R" "$N" "$1"; }

# host i BACKSTAY-ARGS...: backstay on backend-i, shown as typed there.
host() {
	local i=$1
	shift
	say "backend-$i# backstay $*"
	on "$i" "$BACKSTAY" "$@"
}

# sql i SQL: psql from the client machine to backend-i, shown as typed there.
sql() {
	say "client\$ psql -h $(host_ip "$1") -U chef_pgsql -c \"$2\""
	pgc_sql "$1" "$2" 2>&1 | indent
	return "${PIPESTATUS[0]}"
}

# What a frontend's HAProxy sees: GET /leader on each node, from the client
# namespace. Prints one line per node; returns 0 if exactly one answers 200.
leader_answers() {
	local out
	say "client\$ GET http://<each node>:7331/leader   # what HAProxy's health check asks"
	out=$(on_fe python3 - "$NH_N" "$NH_NET" <<'PY'
import sys, urllib.request, urllib.error
n, net = int(sys.argv[1]), sys.argv[2]
for i in range(1, n + 1):
    url = "http://%s.1%d:7331/leader" % (net, i)
    try:
        r = urllib.request.urlopen(url, timeout=1)
        code, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read()
    except Exception as e:
        code, body = "---", ("no answer (%s)" % getattr(e, "reason", e)).encode()
    print("  backend-%d  %-34s %s  %s" % (i, url, code, body.decode(errors="replace").strip()))
PY
	)
	echo "$out"
	[ "$(awk '$3 == 200' <<<"$out" | wc -l)" -eq 1 ]
}

# streams i: node i's PostgreSQL receives WAL from the leader (bounded wait).
streams() {
	local i=$1 deadline=$(($(nh_now_ms) + 15000))
	while [ "$(nh_now_ms)" -lt "$deadline" ]; do
		[ "$(pgc_sql "$i" "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)" = streaming ] && return 0
		sleep 0.2
	done
	return 1
}

# A field of pgwrite's summary line in the current write run ($PGC_W/out).
pgw_field() { sed -n "s/^summary .*\b$1=\([0-9]*\).*/\1/p" "$PGC_W/out" | tail -1; }
# acknowledged= / lost= of a pgc_verify line.
verify_field() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" <<<"$1" | head -1; }

summary() {
	local c n_ok=0 n_bad=0 rc
	step "summary"
	printf '  %-40s %s\n' \
		"failover (kill -9 of backend-$OLD's node):" \
		"/leader 200 on backend-${NEW:-?} after ${FAILOVER_MS:-?} ms; writes paused ${FO_OUTAGE:-?} ms (pgwrite)" \
		"rows acknowledged during the failover:" "${FO_ACKED:-?}, lost: ${FO_LOST:-?}" \
		"old leader rejoined as a follower:" "${REJOIN_MS:-?} ms after backstay start (${REJOIN_HOW:-?})" \
		"planned switchover (demote):" "backend-${NEW:-?} -> backend-${SW_NEW:-?} in ${DEMOTE_MS:-?} ms; writes paused ${SW_OUTAGE:-?} ms" \
		"rows acknowledged during the switchover:" "${SW_ACKED:-?}, lost: ${SW_LOST:-?}" \
		"run time after the build:" "$((($(nh_now_ms) - T_START) / 1000)) s"
	echo
	for c in "${CHECKS[@]}"; do
		if [ "${c%%|*}" = ok ]; then n_ok=$((n_ok + 1)); else n_bad=$((n_bad + 1)); fi
		printf '  %-6s %s\n' "${c%%|*}" "${c#*|}"
	done
	if [ "$n_bad" -eq 0 ] && [ "$n_ok" -gt 0 ]; then
		printf '\n%sall %d checks passed%s\n' "$G" "$n_ok" "$N"
		rc=0
	else
		printf '\n%s%d of %d checks FAILED%s\n' "$R" "$n_bad" $((n_ok + n_bad)) "$N"
		rc=1
	fi
	return "$rc"
}
# A check that the rest depends on failed: summary, then exit 1.
give_up() { summary || true; exit 1; }

# ---- the cluster ---------------------------------------------------------------

step "three hosts: network namespaces backend-1..3 and a client on one bridge"
nh_setup 3
echo "Elasticsearch is not installed here: the nodes run with elasticsearch.enable false."
pgc_config 1
say "backend-1# cat /etc/backstay/backstay.rb"
indent <"$(host_dir 1)/etc/backstay.rb"

step "create-cluster on backend-1 (initialises PostgreSQL), join-cluster on backend-2 and -3 (base backup)"
say "backend-1# backstay create-cluster --yes"
say "backend-2# backstay join-cluster $(host_ip 1) -s secrets.json --yes   # backend-1's secrets file"
say "backend-3# backstay join-cluster $(host_ip 1) -s secrets.json --yes"
t0=$(nh_now_ms)
pgc_up 3 # exits (with each node's log) if the cluster does not form
ok "cluster formed in $(($(nh_now_ms) - t0)) ms: backend-1 leads, backend-2 and -3 follow"

step "status and cluster-status"
host 1 status
echo
host 1 cluster-status

step "GET /leader on port 7331, as a Chef frontend's HAProxy sees it"
check "exactly one node answers 200 on /leader" leader_answers || true

step "a few rows through psql: written on the leader, read back on a standby"
LEAD=$(pgc_leader)
F=$((LEAD % 3 + 1))
sql "$LEAD" "CREATE TABLE orgs (name text PRIMARY KEY, full_name text)" || give_up
check "rows written on leader backend-$LEAD" \
	sql "$LEAD" "INSERT INTO orgs VALUES ('acme', 'Acme Inc.'), ('initech', 'Initech')" || give_up
nh_wait 5 "the rows on backend-$F" pgc_sql "$F" "SELECT 1 FROM orgs WHERE name = 'initech'"
check "the rows are on standby backend-$F" sql "$F" "SELECT * FROM orgs ORDER BY name" || true
if sql "$F" "INSERT INTO orgs VALUES ('umbrella', 'Umbrella')"; then
	bad "standby backend-$F refuses writes"
else
	ok "standby backend-$F refuses writes (read-only)"
fi

# ---- failover ------------------------------------------------------------------

OLD=$LEAD
step "kill -9 of the leader's whole node (backend-$OLD: backstay and PostgreSQL) under a write load"
say "client\$ pgwrite --seconds 7 $(host_ip 1) $(host_ip 2) $(host_ip 3) &   # numbered rows, through /leader"
pgc_write_start 7
sleep 2
check "a row written on backend-$OLD just before the kill" \
	sql "$OLD" "INSERT INTO orgs VALUES ('globex', 'Globex')" || true
say "backend-$OLD# kill -9 <every process of this host>"
t0=$(nh_now_ms)
node_kill9 "$OLD"
if NEW=$(pgc_wait_leader "$OLD" 30); then
	FAILOVER_MS=$(($(nh_now_ms) - t0))
	ok "backend-$NEW answers 200 on /leader $FAILOVER_MS ms after the kill"
else
	bad "a new leader within 30 s of the kill"
	give_up
fi
pgc_write_wait
say "client\$ # pgwrite's output (outage: from the first failed write to the next acknowledged one)"
grep -E '^(pgwrite|progress|outage_ms|summary)' "$PGC_W/out" | indent
FO_OUTAGE=$(pgw_field max_outage_ms)
FO_ACKED=$(pgw_field acked)
check "pgwrite wrote through the failover (result=ok)" grep -q '^summary .*result=ok' "$PGC_W/out" || true

step "every acknowledged row is still there (read through the new leader)"
say "client\$ pgwrite --verify acked $(host_ip 1) $(host_ip 2) $(host_ip 3)"
if v=$(pgc_verify 2>&1); then
	echo "  $v"
	FO_LOST=$(verify_field "$v" lost)
	ok "failover: ${FO_ACKED:-?} rows acknowledged, none lost"
else
	indent <<<"$v"
	FO_LOST=$(verify_field "$v" lost)
	bad "failover: acknowledged rows lost"
fi
check "psql rows written before the kill are on backend-$NEW" \
	sql "$NEW" "SELECT * FROM orgs ORDER BY name" || true
echo
host "$NEW" cluster-status || true

step "backend-$OLD started again: it rejoins as a follower"
echo "It re-points its PostgreSQL at the new leader as a standby; if that does not stream within"
echo "15 s (typically: the killed primary wrote WAL the new leader never received), it runs pg_rewind."
t0=$(nh_now_ms)
if ! host "$OLD" start; then
	bad "backstay start on backend-$OLD"
elif pgc_wait_state "$OLD" follower 90; then
	REJOIN_MS=$(($(nh_now_ms) - t0))
	ok "backend-$OLD follows again, $REJOIN_MS ms after backstay start"
	say "backend-$OLD# grep -E 'leader: .* -> |postgresql: ' /var/log/backstay/backstay.log   # since the start"
	log=$(awk '/leader module started/ { buf = "" }
		/ INFO  leader: [a-z_]+ -> | (INFO|WARN)  postgresql: / { buf = buf $0 "\n" }
		END { printf "%s", buf }' "$(host_dir "$OLD")/log/backstay.log")
	indent <<<"$log"
	if grep -q 'pg_rewind against' <<<"$log"; then
		REJOIN_HOW="re-pointed, not streaming after 15 s, then pg_rewind"
	elif grep -q 'base backup from' <<<"$log"; then
		REJOIN_HOW="base backup"
	else
		REJOIN_HOW="re-pointed, no rewind needed"
	fi
	say "client\$ psql -h $(host_ip "$OLD") -U chef_pgsql -c \"SELECT status, sender_host FROM pg_stat_wal_receiver\""
	check "backend-$OLD's PostgreSQL streams WAL from the leader" streams "$OLD" || true
	pgc_sql "$OLD" "SELECT status, sender_host FROM pg_stat_wal_receiver" 2>&1 | indent
else
	bad "backend-$OLD rejoins as a follower within 90 s (state: $(pgc_state "$OLD"))"
fi
echo
host "$OLD" cluster-status || true

# ---- switchover ----------------------------------------------------------------

step "planned switchover: demote backend-$NEW under a write load (200 rows/s)"
say "client\$ pgwrite --seconds 6 --rate 200 $(host_ip 1) $(host_ip 2) $(host_ip 3) &"
pgc_write_start 6 200
sleep 2
t0=$(nh_now_ms)
if host "$OLD" demote; then
	DEMOTE_MS=$(($(nh_now_ms) - t0))
	ok "demote returned 0 after $DEMOTE_MS ms"
else
	bad "demote returned non-zero"
fi
if SW_NEW=$(pgc_wait_leader "$NEW" 30); then
	ok "backend-$SW_NEW leads after the switchover"
else
	bad "a new leader within 30 s of demote"
	SW_NEW=
fi
pgc_write_wait
grep -E '^(outage_ms|summary)' "$PGC_W/out" | indent
SW_OUTAGE=$(pgw_field max_outage_ms)
SW_ACKED=$(pgw_field acked)
say "client\$ pgwrite --verify acked $(host_ip 1) $(host_ip 2) $(host_ip 3)"
if v=$(pgc_verify 2>&1); then
	echo "  $v"
	SW_LOST=$(verify_field "$v" lost)
	ok "switchover: ${SW_ACKED:-?} rows acknowledged, none lost"
else
	indent <<<"$v"
	SW_LOST=$(verify_field "$v" lost)
	bad "switchover: acknowledged rows lost"
fi
echo
check "after the switchover exactly one node answers 200 on /leader" leader_answers || true

# ---- a configuration mistake ---------------------------------------------------

step "configuration mistakes are refused with file:line (exit code 1)"
printf "publish_address '192.0.2.11'\npostgresql.prot 5433\n" >"$NH_TMP/typo.rb"
say "# backstay show-config -c typo.rb    # line 2: postgresql.prot"
rc=0
out=$("$BACKSTAY" show-config -c "$NH_TMP/typo.rb" 2>&1) || rc=$?
echo "  $out"
echo "  (exit code $rc)"
if [ "$rc" -eq 1 ] && grep -q 'typo.rb:2:' <<<"$out"; then
	ok "a misspelt setting is refused with file:line and exit code 1"
else
	bad "a misspelt setting is refused with file:line and exit code 1"
fi

summary
