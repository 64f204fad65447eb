#!/usr/bin/env bash
# kill.sh leader|follower: kill -9 one node of three in the middle of a write
# load that goes through every node. The cluster keeps (or gets back) a
# leader and the load goes on; the killed node restarts and catches up.
# Then: every put that exited 0 is readable (linearizable) with its value —
# no acknowledged write lost — and no key holds a value nobody wrote.
# Snapshots are taken every 64 entries (16 kept behind), so the leader has
# compacted past the restarted node's log: it catches up through
# InstallSnapshot, not only through AppendEntries.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

victim_role=${1:?usage: kill.sh leader|follower}
IT_NAME="kill-$victim_role"
PUTS=400	   # the load's size: puts in all
KILL_AFTER=60	   # acknowledged puts before the kill
RESTART_AFTER=120  # acknowledged puts after the kill before the restart
LOAD_SECONDS=120   # the load's time limit

it_setup 3
for i in 1 2 3; do
	write_config "$i" "consensus.snapshot_threshold 64" "consensus.snapshot_trailing 16"
	start_node "$i"
done
l=$(wait_leader)
if [ "$victim_role" = leader ]; then victim=$l; else victim=$((l % 3 + 1)); fi
log "node $l leads; the victim is node $victim ($victim_role)"

# The load: put kN vN through node N % 3 + 1 (the endpoint rotates, so a
# dead node's share fails fast and the others redirect to the leader);
# acknowledged keys go to acked, one per line, in order.
load() {
	local k i deadline=$(($(now_ms) + LOAD_SECONDS * 1000))
	for ((k = 1; k <= PUTS; k++)); do
		[ "$(now_ms)" -lt "$deadline" ] || break
		kill -0 $$ 2>/dev/null || exit 0 # the test is gone: so is the load
		i=$((k % 3 + 1))
		if "$BACKSTAY" kv put "k$k" "v$k" -c "$TMP/n$i/backstay.rb" >/dev/null 2>>"$TMP/load.err"; then
			echo "k$k" >>"$TMP/acked"
		fi
	done
	echo finished >"$TMP/load.done"
}
: >"$TMP/acked"
load &
load_pid=$!
EXTRA_PIDS+=("$load_pid")
record_pids

acked() { wc -l <"$TMP/acked"; }
wait_for 60 "$KILL_AFTER acknowledged puts" bash -c "[ \$(wc -l <$TMP/acked) -ge $KILL_AFTER ]"
kill_node "$victim"
at_kill=$(acked)
t_kill=$(now_ms)

if [ "$victim_role" = leader ]; then
	nl=$(wait_leader "$victim")
	log "node $nl leads $(($(now_ms) - t_kill)) ms after the kill"
fi
want=$((at_kill + RESTART_AFTER))
wait_for 90 "the load to go on ($want acknowledged puts)" bash -c "[ \$(wc -l <$TMP/acked) -ge $want ]"
log "$(($(acked) - at_kill)) puts acknowledged while node $victim was down"
start_node "$victim"

wait_for $((LOAD_SECONDS + 30)) "the load to finish" test -f "$TMP/load.done"
wait "$load_pid" || true
n_acked=$(acked)
log "load done: $n_acked of $PUTS puts acknowledged"
[ "$n_acked" -ge $((KILL_AFTER + RESTART_AFTER)) ] || fail "only $n_acked puts acknowledged"

# Every acknowledged put is there with its value (one linearizable range
# read through every node: followers redirect it to the leader), and every
# key present holds the value written with it.
cat >"$TMP/check.py" <<'PY'
import json, sys
kvs = {kv["key"]: kv["value"] for kv in json.load(sys.stdin)["kvs"]}
acked = [line.strip() for line in open(sys.argv[1]) if line.strip()]
lost = [k for k in acked if k not in kvs]
wrong = [k for k, v in kvs.items() if v != "v" + k[1:]]
if lost or wrong:
    print("lost:", lost[:20], "wrong:", wrong[:20], file=sys.stderr)
    sys.exit(1)
PY
for i in 1 2 3; do
	out=$(kv "$i" list --json k) || fail "list through node $i"
	python3 "$TMP/check.py" "$TMP/acked" <<<"$out" || fail "acknowledged writes lost (list through node $i)"
done
# Spot checks with single-key linearizable reads on the restarted node.
for k in $(sed -n '1p;$p' "$TMP/acked") "k$((at_kill))"; do
	grep -qx "$k" "$TMP/acked" || continue
	out=$(kv "$victim" get "$k") || fail "get $k through node $victim"
	[ "$out" = "$k = v${k#k}" ] || fail "get $k through node $victim: '$out'"
done

# The restarted node caught up: its own copy has the last acknowledged key,
# and then everything the leader has.
last=$(tail -n 1 "$TMP/acked")
wait_for 30 "node $victim to catch up (local $last)" bash -c \
	"[ \"\$(\"$BACKSTAY\" kv get --local $last -c $TMP/n$victim/backstay.rb)\" = '$last = v${last#k}' ]"
out=$(kv "$victim" list --local --json k) || fail "local list on node $victim"
python3 "$TMP/check.py" "$TMP/acked" <<<"$out" || fail "node $victim's local copy lacks acknowledged writes"

for i in 1 2 3; do stop_node "$i"; done
check_sanitizers
log "ok"
