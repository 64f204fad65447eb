#!/usr/bin/env bash
# failover-trials.sh [TRIALS]: the consensus layer's unplanned failover,
# measured: a 3-node cluster on this machine's loopback (one address per
# node, formed with create-cluster/join-cluster), then TRIALS times: wait
# until the followers have heard the leader for 1.5 s, kill -9 the leader,
# and take the time from the kill to the new leader's own "leader in term"
# log line; start the killed node again. Prints every trial and the median,
# p90 and max. Election timeout 1000 ms, heartbeat 100 ms (the defaults).
# BUILD=dir picks the build (default build/). Needs a built tree.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
export BACKSTAY=$PWD/$B/tools/backstay
export GEN_SECRETS=$PWD/$B/test/integration/gen_secrets
export CTL_STATUS=$PWD/$B/test/integration/ctl_status
IT_NAME=failover-trials
TRIALS=${1:-20}
# shellcheck source=../test/integration/lib.sh
. test/integration/lib.sh

it_setup 3
hosts_setup 3
bs 1 create-cluster >/dev/null
track 1
for i in 2 3; do
	bs "$i" join-cluster "$(hip 1)" -s "$TMP/n1/secrets.json" >/dev/null
	track "$i"
done

ready_leader() { # ready_leader EXCLUDED: the index of a ready leader, else 1
	local i s
	for i in 1 2 3; do
		[ "$i" = "$1" ] && continue
		s=$("$CTL_STATUS" "$TMP/n1/secrets.json" "$(hip "$i"):$PORT" 2>/dev/null) || continue
		if grep -q '"role": *"leader"' <<<"$s" && grep -q '"ready": *true' <<<"$s"; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

results=()
for ((t = 1; t <= TRIALS; t++)); do
	deadline=$(($(now_ms) + 20000))
	until l=$(ready_leader 0); do
		[ "$(now_ms)" -lt "$deadline" ] || fail "no leader before trial $t"
		pause 0.05
	done
	pause 1.5
	t0=$(now_ms)
	kill -9 "${PIDS[$l]}"
	untrack "$l"
	deadline=$((t0 + 20000))
	until ready_leader "$l" >/dev/null; do
		[ "$(now_ms)" -lt "$deadline" ] || fail "no leader within 20 s of trial $t"
		pause 0.01
	done
	# The new leader's own log line says when it won, not our polling.
	won=$(grep -h 'consensus: leader in term' "$TMP"/n*/backstay.log | sort | tail -1 | cut -c1-23)
	ms=$(($(date -d "${won}Z" +%s%3N) - t0))
	results+=("$ms")
	echo "trial $t: killed node $l, a new leader after $ms ms"
	bs "$l" start >/dev/null
	track "$l"
	wait_for 20 "node $l back as a follower" \
		bash -c "'$CTL_STATUS' '$TMP/n1/secrets.json' '$(hip "$l"):$PORT' | grep -q follower"
done
printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR] = $1}
END { printf "%d trials: median %d ms, p90 %d ms, max %d ms\n", NR, a[int((NR + 1) / 2)],
      a[int(NR * 0.9 + 0.5)], a[NR] }'
