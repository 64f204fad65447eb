#!/usr/bin/env bash
# The leader module's benchmark: three network-namespace hosts with real
# PostgreSQL 15 and backstay (test/integration/pg_cluster.sh), a client
# writing numbered rows through /leader from its own namespace
# (test/fault/pgwrite, 200 rows/s), and TRIALS trials of each:
#
#   failover    kill -9 of the leader's whole node: time to the first
#               acknowledged write after the kill (pgwrite's outage), and to
#               /leader 200 elsewhere; the same time for two more writers in
#               the client namespace, one through the VIP (vip NET.100 on
#               eth0) and one through a stock Chef frontend's HAProxy
#               (test/integration/pg_vip_lib.sh), each `pgwrite --direct`;
#               the node is started again and follows before the next trial
#   switchover  backstay demote: write unavailability (pgwrite's outage)
#   stall       SIGSTOP of the leader's backstay for 1.0 s: failovers counted
#   disk stall  the leader's disk frozen for 1.0 s (fsfreeze: each host's
#               /var/lib/backstay — the Raft store and PostgreSQL — is its
#               own ext4 on a loop device): failovers counted
#   delay       100 ms added to every packet between the leader's host and
#               the others, both ways, for 5 s: failovers counted
#
# then every acknowledged row is checked (pgwrite --verify). Prints the
# figures and, unless --no-doc, writes them into docs/BENCHMARKS.md between
# the pg-bench:begin / pg-bench:end markers.
#
#   scripts/pg-bench.sh [TRIALS] [--no-doc]       # TRIALS default 20; ~15 min
#
# KINDS="failover switchover" (say) runs only those kinds (the others print as
# 0 trials) and implies --no-doc. NH_KEEP=1 keeps the hosts' logs.
#
# Needs root (namespaces) and a build (BUILD, default build). Safety: as
# netns_lib.sh: traffic only inside this run's namespaces, bounded waits,
# cleanup on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."

TRIALS=20
DOC=1
for a in "$@"; do
	case $a in
	--no-doc) DOC=0 ;;
	*) TRIALS=$a ;;
	esac
done
BUILD=${BUILD:-build}
ALL_KINDS="failover switchover stall disk delay"
KINDS=${KINDS:-$ALL_KINDS}
[ "$KINDS" = "$ALL_KINDS" ] || DOC=0
want() { [[ " $KINDS " == *" $1 "* ]]; }
[ "$(id -u)" -eq 0 ] || { echo "pg-bench: needs root (network namespaces)" >&2; exit 1; }
export BACKSTAY=$PWD/$BUILD/tools/backstay PGWRITE=$PWD/$BUILD/test/fault/pgwrite
export CTL_STATUS=$PWD/$BUILD/test/integration/ctl_status NFQDELAY=$PWD/$BUILD/test/fault/nfqdelay
for f in "$BACKSTAY" "$PGWRITE" "$CTL_STATUS" "$NFQDELAY"; do
	[ -x "$f" ] || { echo "pg-bench: $f missing: build first (scripts/setup.sh)" >&2; exit 1; }
done

NH_PREFIX=bspb
NH_NAME=pg-bench
# shellcheck source=../test/integration/netns_lib.sh
. test/integration/netns_lib.sh
# shellcheck source=../test/integration/pg_cluster.sh
. test/integration/pg_cluster.sh
# shellcheck source=../test/integration/pg_vip_lib.sh
. test/integration/pg_vip_lib.sh
# shellcheck source=../test/fault/fault_disks.sh
. test/fault/fault_disks.sh
HAPROXY=$(command -v haproxy || true)
[ -n "$HAPROXY" ] || { echo "pg-bench: haproxy missing: scripts/setup.sh installs it" >&2; exit 1; }

RATE=200
OUT=$(mktemp -d /tmp/pg-bench.XXXXXX)
NH_CLEANUP_HOOK=pv_cleanup # haproxy and the --direct writers, by pid
nh_setup 3
VIP=$NH_NET.100
bench_exit() {
	local rc=$?
	trap - EXIT INT TERM
	for ((i = 1; i <= 3; i++)); do fd_thaw "$i"; done
	nh_cleanup
	fd_release
	rm -rf "$OUT"
	exit "$rc"
}
trap bench_exit EXIT
# Each host's /var/lib/backstay on its own small ext4 (a loop device), so
# that one host's disk can be frozen alone (test/fault/fault_disks.sh; the
# 4 GB are sparse: 40 failovers of WAL, timelines and base backups fit).
fd_setup 3
pgc_up 3 "vip '$VIP'" "vip_interface 'eth0'"
want failover && pv_haproxy_start
nh_log "cluster up; $TRIALS trials of each kind"

epoch_of() { pgc_status_json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("leader",{}).get("epoch",0))' 2>/dev/null; }

# The outage pgwrite reports for the one outage of a short run.
one_outage() { sed -n "s/.*outage_ms=\([0-9]*\).*/\1/p" "${1:-$PGC_W/out}" | sed -n 1p; }

# Every run writes its own table; all are verified at the end, after every
# later failover: (table, run dir) pairs.
: >"$OUT/runs"
PGC_N=0
run_table() { PGC_TABLE=bench_$1_$((++PGC_N)); }
keep_acked() { echo "$PGC_TABLE $PGC_W" >>"$OUT/runs"; }

touch "$OUT/failover" "$OUT/switchover"
# ---- failover -------------------------------------------------------------------
for ((t = 1; t <= TRIALS; t++)); do
	want failover || break
	leader=$(pgc_wait_leader 0 60) || nh_fail "no leader before failover trial $t"
	run_table failover
	pgc_write_start 6 "$RATE"
	pv_writer_start vip "$VIP" "bench_vip_$t" "$RATE"
	pv_writer_start hap 127.0.0.1:5432 "bench_hap_$t" "$RATE"
	sleep 1.5
	t0=$(nh_now_ms)
	node_kill9 "$leader" >/dev/null
	new=$(pgc_wait_leader "$leader" 30) || nh_fail "failover trial $t: no new leader"
	t_leader=$(($(nh_now_ms) - t0))
	pgc_write_wait
	keep_acked
	pv_writer_stop vip
	pv_writer_stop hap
	echo "bench_vip_$t ${PV_WDIR[vip]}" >>"$OUT/runs"
	echo "bench_hap_$t ${PV_WDIR[hap]}" >>"$OUT/runs"
	o=$(one_outage)
	o_vip=$(one_outage "${PV_WDIR[vip]}/out")
	o_hap=$(one_outage "${PV_WDIR[hap]}/out")
	echo "$o $t_leader ${o_vip:-x} ${o_hap:-x}" >>"$OUT/failover"
	nh_log "failover $t: writes back after ${o:-?} ms (/leader 200 on backend-$new after $t_leader ms; through the VIP after ${o_vip:-?} ms, through HAProxy after ${o_hap:-?} ms)"
	on "$leader" "$BACKSTAY" start >/dev/null
	pgc_wait_state "$leader" follower 120 || nh_fail "failover trial $t: backend-$leader did not rejoin"
done

# ---- switchover -----------------------------------------------------------------
sw_fail=0
for ((t = 1; t <= TRIALS; t++)); do
	want switchover || break
	leader=$(pgc_wait_leader 0 60) || nh_fail "no leader before switchover trial $t"
	run_table switchover
	pgc_write_start 5 "$RATE"
	sleep 1.5
	on "$leader" "$BACKSTAY" demote >/dev/null 2>&1 || nh_fail "switchover trial $t: demote failed"
	pgc_write_wait
	keep_acked
	o=$(one_outage)
	echo "${o:-0}" >>"$OUT/switchover"
	nh_log "switchover $t: writes paused ${o:-0} ms"
	if ! pgc_wait_state "$leader" follower 60; then
		sw_fail=$((sw_fail + 1)) # reported, and the run goes on once some node leads
		nh_log "switchover $t: FAILED: backend-$leader did not follow within 60 s ($(pgc_state "$leader"))"
		pgc_wait_leader 0 120 >/dev/null || nh_fail "switchover trial $t: no leader for 120 s"
	fi
done

# ---- stalls and delay: failovers counted -----------------------------------------
count_failover() { # LEADER EPOCH_BEFORE: 1 if leadership or the epoch changed
	local l
	l=$(pgc_wait_leader 0 30) || { echo 1; return; }
	if [ "$l" != "$1" ] || [ "$(epoch_of "$l")" != "$2" ]; then echo 1; else echo 0; fi
}
stall_fo=0
for ((t = 1; t <= TRIALS; t++)); do
	want stall || break
	leader=$(pgc_wait_leader 0 60) || nh_fail "no leader before stall trial $t"
	e=$(epoch_of "$leader")
	run_table stall
	pgc_write_start 4 "$RATE"
	sleep 1
	node_stop_pids "$leader"
	sleep 1.0
	node_cont_pids "$leader"
	pgc_write_wait
	keep_acked
	f=$(count_failover "$leader" "$e")
	stall_fo=$((stall_fo + f))
	nh_log "stall $t: failover=$f"
	[ "$f" = 0 ] || pgc_wait_state "$leader" follower 90 || true
done
disk_fo=0
for ((t = 1; t <= TRIALS; t++)); do
	want disk || break
	leader=$(pgc_wait_leader 0 60) || nh_fail "no leader before disk stall trial $t"
	e=$(epoch_of "$leader")
	run_table disk
	pgc_write_start 4 "$RATE"
	sleep 1
	fd_freeze "$leader"
	sleep 1.0
	fd_thaw "$leader"
	pgc_write_wait
	keep_acked
	f=$(count_failover "$leader" "$e")
	disk_fo=$((disk_fo + f))
	nh_log "disk stall $t: failover=$f"
	[ "$f" = 0 ] || pgc_wait_state "$leader" follower 90 || true
done
delay_fo=0
for ((t = 1; t <= TRIALS; t++)); do
	want delay || break
	leader=$(pgc_wait_leader 0 60) || nh_fail "no leader before delay trial $t"
	e=$(epoch_of "$leader")
	run_table delay
	pgc_write_start 7 "$RATE"
	sleep 1
	delay_add "$leader" 100 both
	sleep 5
	delay_clear "$leader"
	pgc_write_wait
	keep_acked
	f=$(count_failover "$leader" "$e")
	delay_fo=$((delay_fo + f))
	nh_log "delay $t: failover=$f"
	[ "$f" = 0 ] || pgc_wait_state "$leader" follower 90 || true
done

# ---- nothing acknowledged lost ----------------------------------------------------
acked=0 present=0 lost=0
while read -r PGC_TABLE PGC_W; do
	v=$(pgc_verify) || nh_fail "$PGC_TABLE: $v"
	acked=$((acked + $(grep -o "acknowledged=[0-9]*" <<<"$v" | cut -d= -f2)))
	present=$((present + $(grep -o "present=[0-9]*" <<<"$v" | cut -d= -f2)))
	lost=$((lost + $(grep -o "lost=[0-9]*" <<<"$v" | cut -d= -f2)))
done <"$OUT/runs"
verify="acknowledged=$acked present=$present lost=$lost (over $(wc -l <"$OUT/runs") runs, each its own table)"

# ---- figures -----------------------------------------------------------------------
stats() { # FILE COLUMN: p50 p99 min max (ms)
	python3 - "$1" "$2" <<'PY'
import sys
v = sorted(int(l.split()[int(sys.argv[2])]) for l in open(sys.argv[1]) if l.split() and l.split()[int(sys.argv[2])].isdigit())
q = lambda p: v[min(len(v) - 1, max(0, int(round(p * len(v) + 0.5)) - 1))]
if not v:
    print("0 0 0 0 0")
    sys.exit(0)
print("%d %d %d %d %d" % (q(0.5), q(0.99), v[0], v[-1], len(v)))
PY
}
read -r f50 f99 fmin fmax fn < <(stats "$OUT/failover" 0)
read -r l50 l99 lmin lmax ln < <(stats "$OUT/failover" 1)
read -r v50 v99 vmin vmax vn < <(stats "$OUT/failover" 2)
read -r h50 h99 hmin hmax hn < <(stats "$OUT/failover" 3)
read -r s50 s99 smin smax sn < <(stats "$OUT/switchover" 0)
met() { if [ "$1" -le "$2" ]; then echo "met"; else echo "**missed**"; fi; }
table=$(cat <<EOF
| measure (${TRIALS} trials each; with 20 trials p99 is the maximum) | p50 | p99 | min | max | target |
|---|---|---|---|---|---|
| unplanned failover: kill -9 of the leader's node → first acknowledged write (ms) | $f50 | $f99 | $fmin | $fmax | p50 ≤ 2000 ($(met "$f50" 2000)), p99 ≤ 3000 ($(met "$f99" 3000)) |
| unplanned failover: kill -9 → /leader 200 on another node (ms) | $l50 | $l99 | $lmin | $lmax | |
| unplanned failover: kill -9 → first acknowledged write through the VIP ($vn trials) (ms) | $v50 | $v99 | $vmin | $vmax | |
| unplanned failover: kill -9 → first acknowledged write through a stock frontend's HAProxy ($hn trials) (ms) | $h50 | $h99 | $hmin | $hmax | |
| planned switchover (demote): write unavailability (ms) | $s50 | $s99 | $smin | $smax | p99 ≤ 500 ($(met "$s99" 500)) |
| switchovers after which the old leader did not follow within 60 s | $sw_fail of $TRIALS | | | | 0 ($(met "$sw_fail" 0)) |

| fault (${TRIALS} trials each) | failovers | target |
|---|---|---|
| leader's backstay stopped (SIGSTOP) for 1.0 s | $stall_fo | 0 ($(met "$stall_fo" 0)) |
| leader's disk (Raft store and PostgreSQL) frozen (fsfreeze) for 1.0 s | $disk_fo | 0 ($(met "$disk_fo" 0)) |
| 100 ms added each way between the leader's host and the others for 5 s | $delay_fo | 0 ($(met "$delay_fo" 0)) |
| acknowledged rows lost over the whole run (pgwrite --verify) | $lost | 0 ($(met "${lost:-1}" 0)) |
EOF
)
echo
echo "$table"
echo "$verify"

if [ "$DOC" = 1 ]; then
	section=$(cat <<EOF
<!-- pg-bench:begin -->
Run on $(date -u +%Y-%m-%d) with \`scripts/pg-bench.sh $TRIALS\`: $(nproc) cores, kernel $(uname -r),
$(/usr/lib/postgresql/15/bin/postgres --version), three network-namespace hosts on one bridge,
backstay's defaults (election timeout 1000 ms randomised to [1000, 2000), heartbeat 100 ms, lease
TTL 1.5 s renewed every 100 ms, quorum-synchronous replication), pgwrite at $RATE rows/s through
\`/leader\` (polled every 20 ms, as a fast HAProxy would). chef-backend's defaults give about 30 s
of unplanned failover (30 s leader TTL, 5 s health checks), Patroni's about 30 s (ttl 30, loop_wait 10).

$table

$verify
<!-- pg-bench:end -->
EOF
)
	python3 - docs/BENCHMARKS.md "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
head = "## Leader module: failover, switchover, stalls (scripts/pg-bench.sh)\n\n"
if "<!-- pg-bench:begin -->" in text:
    text = re.sub(r"<!-- pg-bench:begin -->.*?<!-- pg-bench:end -->", lambda m: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + head + section + "\n"
open(path, "w").write(text)
PY
	echo "written to docs/BENCHMARKS.md"
fi
