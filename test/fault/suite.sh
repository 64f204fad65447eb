#!/usr/bin/env bash
# test/fault/suite.sh — many runs of fault.sh and their summary.
#
#   suite.sh --short DIR          the CI run: a handful of seeds across the
#                                 nemeses, 3 and 5 nodes (a few minutes)
#   suite.sh --long DIR [ROUNDS]  every nemesis and mix, on 3 and 5 nodes,
#                                 and mix in async mode, ROUNDS times
#                                 (default 10: 360 runs, hours)
#   suite.sh --runs DIR "SEED NODES NEMESIS [MODE]" ...   the runs given
#
# Each run goes to DIR/NNN-seed-S-NEMESIS-Nn[-async]/; then DIR/summary.html
# and DIR/summary.md (report.py --summary). A run's seed replays it:
# fault.sh --seed S --nodes N --nemesis NEMESIS [--mode MODE].
#
# Exit: 0 every run passed, 1 a run failed a checker, 3 a run could not be
# decided (and none failed), 77 cannot run here. Env: as fault.sh.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
KINDS=(partition split bridge ring loss delay kill-node kill-backstay kill-postgres
	pause-backstay pause-postgres disk-stall disk-full es clock-skew clock-rate mix)

usage() {
	sed -n '4,9p' "$0" >&2
	exit 2
}
[ $# -ge 2 ] || usage
how=$1 dir=$2
shift 2
runs=()
case $how in
--short)
	# Fixed seeds: the same schedules on every CI run.
	runs=("101 3 partition" "102 3 split" "103 3 kill-node" "104 3 pause-backstay"
		"105 3 disk-stall" "106 5 bridge" "107 3 mix")
	;;
--long)
	rounds=${1:-10}
	[[ $rounds =~ ^[0-9]+$ ]] || usage
	seed=1000
	for ((r = 0; r < rounds; r++)); do
		for n in 3 5; do
			for k in "${KINDS[@]}"; do runs+=("$((seed++)) $n $k"); done
			runs+=("$((seed++)) $n mix async")
		done
	done
	;;
--runs) runs=("$@") ;;
*) usage ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "suite.sh: skipped: needs root (namespaces)"; exit 77; }

mkdir -p "$dir"
rc=0 n=0 pass=0 fail=0 unknown=0
for run in "${runs[@]}"; do
	read -r seed nodes nemesis mode <<<"$run"
	mode=${mode:-quorum}
	n=$((n + 1))
	out=$dir/$(printf '%03d' "$n")-seed-$seed-$nemesis-${nodes}n
	[ "$mode" = quorum ] || out+=-$mode
	echo "== run $n/${#runs[@]}: seed $seed, $nodes nodes, $nemesis, $mode"
	set +e
	bash "$HERE/fault.sh" --seed "$seed" --nodes "$nodes" --nemesis "$nemesis" --mode "$mode" \
		--out "$out" >"$out.log" 2>&1
	r=$?
	set -e
	case $r in
	0) pass=$((pass + 1)) ;;
	77) cat "$out.log"; exit 77 ;;
	3) unknown=$((unknown + 1)); [ "$rc" = 1 ] || rc=3 ;;
	*) fail=$((fail + 1)); rc=1 ;;
	esac
	grep -E "^(PASS|FAIL|UNKNOWN) " "$out.log" | sed 's/^/   /' || true
	[ "$r" = 0 ] || [ "$r" = 3 ] || { echo "   exit $r; last lines of $out.log:"; tail -n 15 "$out.log" | sed 's/^/   | /'; }
done
python3 "$HERE/report.py" --summary "$dir" >/dev/null
echo "suite: ${#runs[@]} runs: $pass passed, $fail failed, $unknown undecided; $dir/summary.html"
exit "$rc"
