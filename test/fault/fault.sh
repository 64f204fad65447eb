#!/usr/bin/env bash
# test/fault/fault.sh — one run of the fault suite: a cluster of N network-
# namespace hosts with real PostgreSQL, a workload, faults on a schedule
# drawn from a seed, the heal, the recovery, the checks and the report.
#
#   fault.sh [--seed N] [--nodes 3|5] [--nemesis KIND|mix] [--faults K]
#            [--mode quorum|async] [--recovery-bound-ms MS] [--out DIR]
#
# The run directory (default fault-runs/seed-N-NEMESIS-Nn) gets the files of
# test/fault/README.md ("The histories a run leaves"): run.json,
# schedule.jsonl, writes-{vip,haproxy,leader}.jsonl, kv.jsonl, status.jsonl,
# final/, checks/, report.html, timeline.svg, and logs/ (each node's
# backstay.log). The last lines printed are the verdicts.
#
# Workload, all in the client namespace: three PostgreSQL writers (through
# the VIP, through a stock Chef frontend's HAProxy, through /leader), each
# inserting unique rows that record the epoch and server that took them;
# the KV register workload (kvload.py); a status sampler (every node's
# /status, 200 ms); a VIP sampler (never two holders).
#
# The schedule: K faults, one after another, each after a gap of 1-3 s and
# lasting a drawn time; with --nemesis mix each slot draws one kind, or two
# at once. Everything is drawn from the seed before the run starts (bash's
# RANDOM seeded with it), so one seed gives one schedule; a target given as
# a role ("leader", "follower") is resolved to a node when the fault starts.
#
# Exit: 0 every checker passed, 1 one failed, 3 none failed but one could not
# decide (UNKNOWN), 77 cannot run here (not root, no PostgreSQL 15 or
# haproxy), 2 bad usage.
#
# Env: BACKSTAY PGWRITE CTL_STATUS BACKSTAY_CHECK NFQDELAY ES_FIXTURE CLOCKRATE_LIB (the
# build's tools; meson sets them). Safety: netns_lib.sh (traffic only inside
# this run's namespaces, bounded waits, cleanup on every exit, leftovers of
# killed runs removed first); our own processes are ended by pid.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
INTEG=$HERE/../integration
# mix draws from KINDS_MIX (fixed: the same seed, the same schedule as
# before clock-rate existed); clock-rate runs alone, never with clock-skew,
# whose libfaketime would fake the monotonic clocks too.
KINDS_MIX=(partition split bridge ring loss delay kill-node kill-backstay kill-postgres
	pause-backstay pause-postgres disk-stall disk-full es clock-skew)
KINDS_ALL=("${KINDS_MIX[@]}" clock-rate)
RATES=(0.5 0.8 0.95 0.99 1.01 1.05 1.25 2) # clock-rate: 1% is the lease's bound

SEED=$((($(date +%s%N) / 1000) % 1000000))
NODES=3
NEMESIS=mix
FAULTS=4
MODE=quorum
BOUND_MS=60000
OUT=
usage() {
	sed -n '4,6p' "$0" >&2
	echo "kinds: ${KINDS_ALL[*]} mix" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--seed) SEED=${2:?}; shift 2 ;;
	--nodes) NODES=${2:?}; shift 2 ;;
	--nemesis) NEMESIS=${2:?}; shift 2 ;;
	--faults) FAULTS=${2:?}; shift 2 ;;
	--mode) MODE=${2:?}; shift 2 ;;
	--recovery-bound-ms) BOUND_MS=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	*) echo "fault.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
[[ $SEED =~ ^[0-9]+$ && $FAULTS =~ ^[0-9]+$ && $BOUND_MS =~ ^[0-9]+$ ]] || usage
[[ $NODES =~ ^[35]$ ]] || { echo "fault.sh: --nodes 3 or 5" >&2; exit 2; }
[[ $MODE =~ ^(quorum|async)$ ]] || { echo "fault.sh: --mode quorum or async" >&2; exit 2; }
[[ " ${KINDS_ALL[*]} mix " == *" $NEMESIS "* ]] || { echo "fault.sh: unknown nemesis '$NEMESIS'" >&2; usage; }

: "${BACKSTAY:?}" "${PGWRITE:?}" "${CTL_STATUS:?}" "${BACKSTAY_CHECK:?}"
[ "$(id -u)" -eq 0 ] || { echo "fault.sh: skipped: needs root (namespaces)"; exit 77; }
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "fault.sh: skipped: no PostgreSQL 15"; exit 77; }
id postgres >/dev/null 2>&1 || { echo "fault.sh: skipped: no postgres OS user"; exit 77; }
HAPROXY=${HAPROXY:-$(command -v haproxy || true)}
[ -n "$HAPROXY" ] || { echo "fault.sh: skipped: no haproxy (scripts/setup.sh installs it)"; exit 77; }
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1

# ---- the schedule, drawn from the seed ---------------------------------------------
RANDOM=$SEED
# No command substitution below: a subshell draws from a fresh seed.
draw() { D=$(($1 + RANDOM % ($2 - $1 + 1))); } # draw MIN MAX -> D

# One fault into P1: "kind role arg dur_ms" (role: leader|follower|-).
plan_one() {
	local kind=$1 role arg=- dur
	case $((RANDOM % 3)) in 0 | 1) role=leader ;; *) role=follower ;; esac
	case $kind in
	partition | split | bridge | es) draw 3000 8000; dur=$D ;;
	ring) role=-; draw 3000 6000; dur=$D ;;
	loss) role=-; draw 10 40; arg=$D; draw 3000 8000; dur=$D ;;
	delay) draw 50 250; arg=$D; draw 3000 6000; dur=$D ;;
	kill-node | kill-backstay | kill-postgres | disk-full) draw 2000 6000; dur=$D ;;
	pause-backstay | pause-postgres | disk-stall) draw 300 3000; dur=$D ;;
	clock-skew) draw 5 120; arg=$((D * (RANDOM % 2 ? 1 : -1))); draw 4000 10000; dur=$D ;;
	clock-rate) arg=${RATES[RANDOM % ${#RATES[@]}]}; draw 4000 10000; dur=$D ;;
	esac
	P1="$kind $role $arg $dur"
}

declare -a PLAN_GAP=() PLAN=()
for ((k = 0; k < FAULTS; k++)); do
	draw 1000 3000
	PLAN_GAP[k]=$D
	if [ "$NEMESIS" = mix ]; then
		a=${KINDS_MIX[RANDOM % ${#KINDS_MIX[@]}]}
		plan_one "$a"
		PLAN[k]=$P1
		if [ $((RANDOM % 3)) -eq 0 ]; then # a second fault at once
			b=${KINDS_MIX[RANDOM % ${#KINDS_MIX[@]}]}
			plan_one "$b"
			[ "$b" = "$a" ] || PLAN[k]+=" + $P1"
		fi
	else
		plan_one "$NEMESIS"
		PLAN[k]=$P1
	fi
	PLAN[k]+=" @$RANDOM" # the draw that picks among candidate nodes
done
plan_has() { [[ " ${PLAN[*]} " == *" $1 "* ]]; }

OUT=${OUT:-fault-runs/seed-$SEED-$NEMESIS-${NODES}n}
rm -rf "$OUT"
mkdir -p "$OUT/final" "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
for ((k = 0; k < FAULTS; k++)); do echo "gap ${PLAN_GAP[k]} ms, then ${PLAN[k]}"; done >"$OUT/plan.txt"

# ---- the cluster --------------------------------------------------------------------
NH_PREFIX=bsft
NH_NAME="fault seed $SEED"
# shellcheck source=../integration/netns_lib.sh
. "$INTEG/netns_lib.sh"
# shellcheck source=../integration/pg_cluster.sh
. "$INTEG/pg_cluster.sh"
# shellcheck source=../integration/pg_vip_lib.sh
. "$INTEG/pg_vip_lib.sh"
# shellcheck source=fault_disks.sh
. "$HERE/fault_disks.sh"
# shellcheck source=nemesis.sh
. "$HERE/nemesis.sh"

declare -a BG_PIDS=() # the kv workload and the status sampler
fault_stop_bg() {
	local p
	for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	BG_PIDS=()
}
fault_cleanup_hook() {
	nem_heal_all
	fault_stop_bg
	pv_cleanup
}
fault_exit() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = 1; i <= NH_N; i++)); do
		cp "$(host_dir "$i")/log/backstay.log" "$OUT/logs/backend-$i.log" 2>/dev/null || true
		cp "$(host_dir "$i")/log/postgresql/postgresql.log" "$OUT/logs/backend-$i.postgresql.log" \
			2>/dev/null || true
	done
	nh_cleanup
	fd_release
	exit "$rc"
}
NH_CLEANUP_HOOK=fault_cleanup_hook
nh_setup "$NODES"
trap fault_exit EXIT
trap 'exit 130' INT TERM
fd_setup "$NODES"
VIP=$NH_NET.100

extra=("vip '$VIP'" "vip_interface 'eth0'" "postgresql.synchronous_mode '$MODE'")
if plan_has es; then
	: "${ES_FIXTURE:?}"
	for ((i = 1; i <= NODES; i++)); do
		echo green >"$NH_TMP/es-mode-$i"
		on "$i" "$ES_FIXTURE" --exit-with-parent 127.0.0.1 9200 "$NH_TMP/es-mode-$i" >/dev/null &
	done
	extra+=("elasticsearch.enable true" "leaderl.health_check.max_elasticsearch_failures 2")
fi
if plan_has clock-skew; then
	# Every daemon (and what it starts) reads its wall clock through
	# libfaketime, offset by its host's etc/faketime (re-read each second);
	# CLOCK_MONOTONIC, which the lease uses, is left alone.
	[ -e "$FAKETIME_LIB" ] || nh_fail "clock-skew needs libfaketime (scripts/setup.sh installs it)"
	for ((i = 1; i <= NODES; i++)); do echo "+0" >"$(host_dir "$i")/etc/faketime"; done
	cat >"$NH_TMP/backstay-faketime" <<EOF
#!/bin/sh
exec env LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=/etc/backstay/faketime \
	FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1 "$BACKSTAY" "\$@"
EOF
	chmod 755 "$NH_TMP/backstay-faketime"
	BACKSTAY=$NH_TMP/backstay-faketime
fi
if plan_has clock-rate; then
	# Every daemon (and what it starts) reads its monotonic clocks -- the
	# lease's, Raft's timers' -- through libbsclockrate.so (clockrate.c),
	# at the rate in its host's etc/clockrate (re-read every 100 ms).
	: "${CLOCKRATE_LIB:?clock-rate needs CLOCKRATE_LIB (libbsclockrate.so of the build)}"
	for ((i = 1; i <= NODES; i++)); do echo 1 >"$(host_dir "$i")/etc/clockrate"; done
	cat >"$NH_TMP/backstay-clockrate" <<EOF
#!/bin/sh
exec env LD_PRELOAD=$CLOCKRATE_LIB BS_CLOCKRATE_FILE=/etc/backstay/clockrate "$BACKSTAY" "\$@"
EOF
	chmod 755 "$NH_TMP/backstay-clockrate"
	BACKSTAY=$NH_TMP/backstay-clockrate
fi
pgc_up "$NODES" "${extra[@]}"
pv_haproxy_start
nh_log "cluster up: $NODES nodes, $MODE replication, VIP $VIP; plan: $(tr '\n' ';' <"$OUT/plan.txt")"

# ---- clocks and the schedule file ----------------------------------------------------
# Every history uses CLOCK_MONOTONIC in ns; bash has the wall clock in µs:
# one offset, read once, converts (the root namespace's clock: no nemesis
# touches it).
MONO_OFF=$(python3 -c 'import time; print(time.time_ns() - time.monotonic_ns())')
mono_ns() { echo $((${EPOCHREALTIME/./} * 1000 - MONO_OFF)); }
sched() { # FAULT TARGET PHASE
	printf '{"t_ns":%s,"fault":"%s","target":"%s","phase":"%s"}\n' "$(mono_ns)" "$1" "$2" "$3" \
		>>"$OUT/schedule.jsonl"
}

# ---- the workload --------------------------------------------------------------------
hosts_ip=()
hosts_named=()
for ((i = 1; i <= NODES; i++)); do
	hosts_ip+=("$(host_ip "$i")")
	hosts_named+=("backend-$i=$(host_ip "$i")")
done
writer() { # ROUTE K [ADDR]
	local route=$1 k=$2 addr=${3:-} d=$NH_TMP/w-$1
	local args=(--history "$OUT/writes-$route.jsonl" --client "$route" --route "$route"
		--id-base $((k * 1000000000)) --table fault_rows --rate 40 --seconds 3600
		--secrets "$NH_TMP/secrets.json" --user chef_pgsql --acked "$d/acked")
	mkdir -p "$d"
	PV_WDIR[$route]=$d
	if [ -n "$addr" ]; then
		ip netns exec "$NH_NS_FE" "$PGWRITE" --direct "$addr" "${args[@]}" >"$d/out" 2>"$d/err" &
	else
		ip netns exec "$NH_NS_FE" "$PGWRITE" "${args[@]}" "${hosts_ip[@]}" >"$d/out" 2>"$d/err" &
	fi
	PV_WPID[$route]=$!
}
fault_kv_start() { # the register workload on the replicated KV store
	local eps="" i
	for ((i = 1; i <= NODES; i++)); do eps+="${eps:+,}$(host_ip "$i"):2380"; done
	ip netns exec "$NH_NS_FE" python3 "$HERE/kvload.py" --backstay "$BACKSTAY" \
		--secrets "$NH_TMP/secrets.json" --endpoints "$eps" --out "$OUT/kv.jsonl" \
		--seconds 3600 --seed "$SEED" --processes 4 --ops-per-key 40 >"$OUT/kvload.out" 2>&1 &
	BG_PIDS+=($!)
}
ip netns exec "$NH_NS_FE" python3 "$HERE/status_sample.py" --out "$OUT/status.jsonl" \
	--interval-ms 200 "${hosts_named[@]}" >"$NH_TMP/status_sample.out" 2>&1 &
BG_PIDS+=($!)
fault_kv_start
writer vip 1 "$VIP"
writer haproxy 2 127.0.0.1:5432
writer leader 3
pv_sampler_start
for route in vip haproxy leader; do
	nh_wait 30 "writes through $route before the faults" bash -c "[ \$(wc -l <${PV_WDIR[$route]}/acked 2>/dev/null || echo 0) -ge 5 ]"
done
nh_log "workload running"

# ---- the faults ------------------------------------------------------------------------
leader_now() { pgc_leader || true; }

# A node for ROLE, picked with the plan's draw R among the candidates.
pick() { # ROLE R
	local role=$1 r=$2 l c=()
	l=$(leader_now)
	for ((i = 1; i <= NODES; i++)); do
		case $role in
		leader) [ -n "$l" ] && { c=("$l"); break; } || c+=("$i") ;;
		follower) [ "$i" = "$l" ] || c+=("$i") ;;
		*) c+=("$i") ;;
		esac
	done
	echo "${c[r % ${#c[@]}]}"
}

# The nemesis target of a planned fault: a host, or a spec (nemesis.sh).
target_of() { # KIND ROLE ARG R
	local kind=$1 role=$2 arg=$3 r=$4 n m others=() side=() rest=() j
	n=$(pick "$role" "$r")
	case $kind in
	split) # a minority of floor((N-1)/2) with n in it; the rest
		m=$(((NODES - 1) / 2))
		for ((j = 1; j <= NODES; j++)); do [ "$j" = "$n" ] || others+=("$j"); done
		side=("$n" "${others[@]:0:$((m - 1))}")
		rest=("${others[@]:$((m - 1))}")
		echo "$(IFS=,; echo "${side[*]}")|$(IFS=,; echo "${rest[*]}")"
		;;
	bridge) # n in the middle; the others in two halves
		for ((j = 1; j <= NODES; j++)); do [ "$j" = "$n" ] || others+=("$j"); done
		m=$((${#others[@]} / 2))
		echo "$(IFS=,; echo "${others[*]:0:$m}")|$n|$(IFS=,; echo "${others[*]:$m}")"
		;;
	ring) echo - ;;
	loss) echo "$arg" ;;
	delay | clock-skew | clock-rate) echo "$n:$arg" ;;
	*) echo "$n" ;;
	esac
}

sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

for ((k = 0; k < FAULTS; k++)); do
	sleep_ms "${PLAN_GAP[k]}"
	spec=${PLAN[k]% @*}
	r=${PLAN[k]##*@}
	IFS='+' read -r -a parts <<<"$spec"
	kinds=() targets=() whats=() dur=0
	for p in "${parts[@]}"; do
		read -r kind role arg d <<<"$p"
		t=$(target_of "$kind" "$role" "$arg" "$r")
		nem_start "$kind" "$t"
		sched "$kind" "$NEM_WHAT" start
		nh_log "fault $((k + 1))/$FAULTS: $kind on $NEM_WHAT for $d ms"
		kinds+=("$kind") targets+=("$t") whats+=("$NEM_WHAT")
		[ "$d" -le "$dur" ] || dur=$d
	done
	sleep_ms "$dur"
	for ((j = ${#kinds[@]} - 1; j >= 0; j--)); do
		nem_end "${kinds[j]}" "${targets[j]}"
		sched "${kinds[j]}" "${whats[j]}" end
	done
done
nem_heal_all
nh_log "healed: every fault ended"

# ---- recovery, then the final state ----------------------------------------------------
# The recovery checker's criterion: one leader, every other node a follower
# and the leader's PostgreSQL counting every one of them streaming (a node
# stays "follower" a while after its stream is gone).
streaming_at() { # NODE: the standbys streaming from NODE's PostgreSQL, -1 unknown
	pgc_status_json "$1" | python3 -c '
import json, sys
try:
    print(int(json.load(sys.stdin)["leader"]["standbys_streaming"]))
except Exception:
    print(-1)' 2>/dev/null || echo -1
}
recovered() {
	local i l
	l=$(leader_now)
	[ -n "$l" ] || return 1
	for ((i = 1; i <= NODES; i++)); do
		[ "$i" = "$l" ] || [ "$(pgc_state "$i")" = follower ] || return 1
	done
	[ "$(streaming_at "$l")" -ge $((NODES - 1)) ]
}
t_heal=$(nh_now_ms)
deadline=$((t_heal + BOUND_MS))
until recovered; do
	[ "$(nh_now_ms)" -lt "$deadline" ] || break
	sleep 0.3
done
nh_log "recovery: $(recovered && echo "one leader, every other node streaming from it, $(($(nh_now_ms) - t_heal)) ms after the heal" || echo "not within $BOUND_MS ms")"
sleep 3 # writes through the recovered cluster, in every history
pv_writer_stop vip
pv_writer_stop haproxy
pv_writer_stop leader
fault_stop_bg
pv_sampler_stop_quiet() {
	touch "$NH_TMP/sampler.stop"
	wait "$PV_SAMPLER_PID" 2>/dev/null || true
	PV_SAMPLER_PID=
}
pv_sampler_stop_quiet

# Every follower replays what the leader has before the ids are read.
final_leader=$(leader_now)
if [ -n "$final_leader" ]; then
	echo "backend-$final_leader" >"$OUT/final/leader"
	lsn=$(pgc_sql "$final_leader" "select pg_current_wal_lsn()" 2>/dev/null || true)
	for ((i = 1; i <= NODES; i++)); do
		[ "$i" != "$final_leader" ] && [ -n "$lsn" ] || continue
		deadline=$(($(nh_now_ms) + 30000))
		until [ "$(pgc_sql "$i" "select pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null || true)" = t ]; do
			[ "$(nh_now_ms)" -lt "$deadline" ] || break
			sleep 0.2
		done
	done
fi
for ((i = 1; i <= NODES; i++)); do
	on_fe "$PGWRITE" --ids --at "$(host_ip "$i")" --table fault_rows --secrets "$NH_TMP/secrets.json" \
		--user chef_pgsql >"$OUT/final/backend-$i.ids" 2>"$NH_TMP/ids-$i.err" ||
		{ rm -f "$OUT/final/backend-$i.ids"; nh_log "ids of backend-$i: $(head -c 300 "$NH_TMP/ids-$i.err")"; }
done

# ---- the verdicts -----------------------------------------------------------------------
python3 - "$OUT/run.json" "$SEED" "$NODES" "$NEMESIS" "$MODE" "$BOUND_MS" "$OUT/plan.txt" <<'PY'
import json, sys
out, seed, nodes, nemesis, mode, bound, plan = sys.argv[1:]
json.dump({"seed": int(seed), "nodes": int(nodes), "nemesis": nemesis, "mode": mode,
           "recovery_bound_ms": int(bound),
           "plan": open(plan).read().splitlines()}, open(out, "w"), indent=1)
PY
samples=$(wc -l <"$NH_TMP/vip-samples")
two=$(awk 'length($2) > 1 && $2 != "-"' "$NH_TMP/vip-samples" | head -5)
{
	if [ -n "$two" ]; then
		echo "FAIL checker=vip-holders samples=$samples"
		sed 's/^/  two holders at (µs wall time, hosts): /' <<<"$two"
	elif [ "$samples" -lt 20 ]; then
		echo "UNKNOWN checker=vip-holders samples=$samples"
	else
		echo "PASS checker=vip-holders samples=$samples"
	fi
} >"$OUT/vip-holders.txt"
python3 "$HERE/report.py" --run-checks "$BACKSTAY_CHECK" "$OUT" >/dev/null
cp "$OUT/vip-holders.txt" "$OUT/checks/vip-holders.txt"
python3 "$HERE/report.py" "$OUT" >/dev/null
rc=0
for f in "$OUT"/checks/*.txt; do
	line=$(head -1 "$f")
	echo "$line"
	case $line in
	FAIL*) rc=1 ;;
	PASS*) ;;
	*) [ "$rc" = 1 ] || rc=3 ;;
	esac
done
nh_log "report: $OUT/report.html"
exit "$rc"
