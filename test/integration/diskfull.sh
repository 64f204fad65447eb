#!/usr/bin/env bash
# diskfull.sh follower|leader: node 3 of three keeps its data_dir on a 2 MiB
# tmpfs, mounted in a private mount namespace of its own. A filler file
# fills the tmpfs under a write load: the cluster keeps working with the
# other two nodes while node 3 logs the disk error (as leader, node 3 first
# hands leadership away: a leader that cannot write refuses every entry);
# once the filler is removed, node 3 recovers and catches up. Needs root
# (mount, nsenter): skips otherwise.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

mode=${1:?usage: diskfull.sh follower|leader}
IT_NAME="diskfull-$mode"

skip() {
	echo "SKIP: $IT_NAME: $*"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (a tmpfs in a private mount namespace)"
command -v unshare >/dev/null && command -v nsenter >/dev/null || skip "needs unshare and nsenter"
probe=$(mktemp -d "${TMPDIR:-/tmp}/backstay-it-probe.XXXXXX")
if ! unshare -m --propagation private mount -t tmpfs -o size=1m tmpfs "$probe" 2>/dev/null; then
	rmdir "$probe"
	skip "cannot mount a tmpfs in a private mount namespace here"
fi
rmdir "$probe"

MAX_PUTS=600	   # the load's bound
AFTER_ERROR=50	   # puts that must succeed once node 3 reports the full disk
HANDOFF_SECONDS=20 # leader mode: writes fail at most this long after the error
VALUE=$(head -c 1024 /dev/zero | tr '\0' x)

start_node3() {
	mkdir -p "$TMP/n3/data"
	start_node 3 unshare -m --propagation private bash -c \
		'mount -t tmpfs -o size=2m tmpfs "$0" && exec "$1" run -c "$2"' \
		"$TMP/n3/data" "$BACKSTAY" "$TMP/n3/backstay.rb"
}

it_setup 3
if [ "$mode" = follower ]; then
	# Node 3 starts after the election, so that it follows.
	for i in 1 2 3; do write_config "$i"; done
	start_node 1
	start_node 2
	l=$(wait_leader)
	start_node3
else
	# Node 3's election timer runs ten times faster: it wins the first
	# election.
	write_config 3 "consensus.election_timeout_ms 300" "consensus.heartbeat_interval_ms 30"
	for i in 1 2; do write_config "$i" "consensus.election_timeout_ms 3000"; done
	start_node3
	start_node 1
	start_node 2
	l=$(wait_leader)
	[ "$l" = 3 ] || fail "node $l won the first election, not node 3"
fi
log "node $l leads"
kv 1 put probe 1 >/dev/null || fail "put probe"
wait_for 30 "node 3 to apply the probe" bash -c \
	"[ \"\$(\"$BACKSTAY\" kv get --local probe -c $TMP/n3/backstay.rb)\" = 'probe = 1' ]"
nsenter -t "${PIDS[3]}" -m -- findmnt -n "$TMP/n3/data" | grep -q tmpfs || fail "no tmpfs on node 3"

# Fill node 3's tmpfs from inside its namespace.
nsenter -t "${PIDS[3]}" -m -- dd if=/dev/zero of="$TMP/n3/data/filler" bs=64k \
	>/dev/null 2>&1 || true
log "node 3's disk: $(nsenter -t "${PIDS[3]}" -m -- df -h --output=used,avail "$TMP/n3/data" | tail -n 1)"

# Write until node 3 has reported the error and AFTER_ERROR more puts went
# through (nodes 1 and 2 are a majority). A follower's full disk must not
# fail a single put; a leader's may, until it has handed leadership over.
: >"$TMP/acked"
seen_error=0 error_ms=0 ok_after=0 k=0
while [ "$k" -lt "$MAX_PUTS" ] && [ "$ok_after" -lt "$AFTER_ERROR" ]; do
	k=$((k + 1))
	if kv $((k % 2 + 1)) put "d$k" "$VALUE" >/dev/null 2>"$TMP/put.err"; then
		echo "d$k" >>"$TMP/acked"
		[ "$seen_error" -eq 0 ] || ok_after=$((ok_after + 1))
	elif [ "$mode" = follower ]; then
		fail "put d$k failed while node 3's disk is full: $(cat "$TMP/put.err")"
	elif [ "$seen_error" -gt 0 ] && [ "$(now_ms)" -gt $((error_ms + HANDOFF_SECONDS * 1000)) ]; then
		fail "writes still fail ${HANDOFF_SECONDS} s after the leader's disk filled: $(cat "$TMP/put.err")"
	fi
	# The error is ENOSPC, or EIO when LMDB's write came up short.
	if [ "$seen_error" -eq 0 ] && grep -q "refusing new entries until writes succeed" "$TMP/n3/log"; then
		seen_error=$k error_ms=$(now_ms)
		log "node 3 reported the full disk after $k puts"
	fi
done
[ "$seen_error" -gt 0 ] || fail "node 3 never reported the full disk in $MAX_PUTS puts"
[ "$ok_after" -ge "$AFTER_ERROR" ] || fail "only $ok_after puts succeeded after the disk error"
log "$ok_after puts succeeded after the disk error ($k attempted in all)"
s=$(status 3) || fail "node 3 does not answer status"
[ "$(json_field disk_failing <<<"$s")" = true ] || fail "node 3's status: $s"
l=$(wait_leader)
[ "$l" != 3 ] || fail "node 3 leads with a full disk"
if [ "$mode" = leader ]; then
	grep -q "handing leadership to another voter" "$TMP/n3/log" || fail "node 3 did not hand over"
	log "node $l leads now"
fi

# Space comes back: node 3 recovers and catches up.
nsenter -t "${PIDS[3]}" -m -- rm -f "$TMP/n3/data/filler"
last=$(tail -n 1 "$TMP/acked")
wait_for 60 "node 3 to catch up after the disk emptied" bash -c \
	"\"$BACKSTAY\" kv get --local $last -c $TMP/n3/backstay.rb | grep -q '^$last = '"
wait_for 30 "node 3 to log its recovery" grep -q "disk writes succeed again" "$TMP/n3/log"
s=$(status 3)
[ "$(json_field disk_failing <<<"$s")" = false ] || fail "node 3 still failing: $s"
out=$(kv 3 list --local --json d) || fail "node 3's local list"
python3 -c '
import json, sys
keys = {kv["key"] for kv in json.load(sys.stdin)["kvs"]}
acked = [l.strip() for l in open(sys.argv[1]) if l.strip()]
missing = [k for k in acked if k not in keys]
sys.exit("missing on node 3: %s" % missing[:10] if missing else 0)
' "$TMP/acked" <<<"$out" || fail "node 3 did not catch up"
kv 3 put after-recovery yes >/dev/null || fail "put through node 3 after its recovery"

for i in 1 2 3; do stop_node "$i"; done
check_sanitizers
log "ok"
