#!/usr/bin/env bash
# basic.sh N: an N-node cluster from consensus.initial_cluster. A leader
# emerges; `kv put` works through every node (followers redirect); a
# linearizable `kv get` from every node sees every write; list, limit,
# delete, prefix delete; `kv watch --count` on a follower sees the writes;
# --local reads converge; bad secrets and a dead endpoint fail cleanly;
# SIGHUP applies log_level; a watcher that vanishes is noticed; SIGTERM
# stops a node with exit 0; systemd hears READY=1, STATUS= and STOPPING=1.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

n=${1:?usage: basic.sh N}
IT_NAME="basic-$n"
it_setup "$n"
for ((i = 1; i <= n; i++)); do write_config "$i"; done

# Node 1 talks to a stand-in for systemd's notify socket (Type=notify).
python3 - "$TMP/notify.sock" "$TMP/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.time() + 300
with open(sys.argv[2], "a") as log:
    while time.time() < end:
        try:
            data = s.recv(4096).decode(errors="replace")
        except socket.timeout:
            continue
        log.write(data + "\n")
        log.flush()
        if "STOPPING=1" in data:
            break
PY
EXTRA_PIDS+=($!)
wait_for 10 "the notify socket" test -S "$TMP/notify.sock"
start_node 1 env NOTIFY_SOCKET="$TMP/notify.sock" "$BACKSTAY" run -c "$TMP/n1/backstay.rb"
for ((i = 2; i <= n; i++)); do start_node "$i"; done
wait_for 15 "node 1 to notify READY=1" grep -qx "READY=1" "$TMP/notify.log"

t0=$(now_ms)
l=$(wait_leader)
log "node $l leads after $(($(now_ms) - t0)) ms"
f=$((l % n + 1)) # a follower

# A watch on a follower, in place before the writes it must see.
# (The binary itself, not the kv function: $! must be its pid.)
"$BACKSTAY" kv watch --count 2 w/ -c "$TMP/n$f/backstay.rb" >"$TMP/watch.out" 2>"$TMP/watch.err" &
watch_pid=$!
EXTRA_PIDS+=("$watch_pid")
record_pids
wait_for 15 "the watch to be in place" grep -q watching "$TMP/watch.err"

# Writes through every node: followers send the client to the leader.
for ((i = 1; i <= n; i++)); do
	out=$(kv "$i" put "k$i" "v$i") || fail "put through node $i"
	[[ $out == "OK revision "* ]] || fail "put through node $i printed '$out'"
done
kv "$f" put w/1 a >/dev/null || fail "put w/1"
kv "$f" put w/2 b >/dev/null || fail "put w/2"

# Linearizable reads from every node see every acknowledged write.
for ((i = 1; i <= n; i++)); do
	for ((j = 1; j <= n; j++)); do
		out=$(kv "$i" get "k$j") || fail "get k$j through node $i"
		[ "$out" = "k$j = v$j" ] || fail "get k$j through node $i: '$out'"
	done
done
out=$(kv "$f" get --json k1) || fail "get --json"
[ "$(json_field value <<<"$out")" = v1 ] || fail "get --json: $out"
[ "$(json_field version <<<"$out")" = 1 ] || fail "get --json version: $out"

# list, in key order, and its limit.
expected=$(for ((j = 1; j <= n; j++)); do echo "k$j = v$j"; done | sort)
out=$(kv "$f" list k) || fail "list"
[ "$out" = "$expected" ] || fail "list: '$out', want '$expected'"
out=$(kv "$l" list --limit 2 --json '') || fail "list --limit"
python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["more"] and len(r["kvs"]) == 2, r' \
	<<<"$out" || fail "list --limit 2: $out"

# The watch saw both writes, in order, and exited 0 by itself.
wait_for 15 "the watch to exit" bash -c "! kill -0 $watch_pid"
wait "$watch_pid" || fail "kv watch exited $?"
[ "$(cat "$TMP/watch.out")" = $'put w/1 = a\nput w/2 = b' ] ||
	fail "watch printed: $(cat "$TMP/watch.out")"

# del and del --prefix; a deleted key is gone everywhere.
kv "$f" del k1 >/dev/null || fail "del k1"
for ((i = 1; i <= n; i++)); do
	rc=0
	kv "$i" get k1 >/dev/null 2>"$TMP/err" || rc=$?
	[ "$rc" -eq 1 ] && grep -q "not found" "$TMP/err" || fail "k1 after del through node $i: rc $rc"
done
out=$(kv "$f" del --prefix --json w/) || fail "del --prefix"
[ "$(json_field deleted <<<"$out")" = 2 ] || fail "del --prefix: $out"

# Compare-and-swap: --expect OLD and --create-only; a failed compare exits 3
# and changes nothing (the register workload of the fault suite uses them).
kv "$f" put cas 1 >/dev/null || fail "put cas"
kv "$f" put --expect 1 cas 2 >/dev/null || fail "put --expect 1 (it holds 1)"
rc=0
kv "$l" put --expect 1 cas 3 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" -eq 3 ] && grep -q "the compare failed" "$TMP/err" || fail "put --expect 1 (it holds 2): rc $rc: $(cat "$TMP/err")"
rc=0
kv "$f" put --create-only cas 4 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "put --create-only on an existing key: rc $rc"
rc=0
kv "$f" put --expect 1 absent 1 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "put --expect on an absent key: rc $rc"
kv "$f" put --create-only fresh 1 >/dev/null || fail "put --create-only on a new key"
[ "$(kv "$l" get cas)" = "cas = 2" ] || fail "cas after the failed compares: $(kv "$l" get cas)"
kv "$f" del cas >/dev/null && kv "$f" del fresh >/dev/null || fail "del cas, fresh"

# Local reads converge on every node.
for ((i = 1; i <= n; i++)); do
	wait_for 15 "node $i's local copy of k$n" bash -c \
		"[ \"\$(\"$BACKSTAY\" kv get --local k$n -c $TMP/n$i/backstay.rb)\" = 'k$n = v$n' ]"
done

# Failures are reported, not hung on.
"$GEN_SECRETS" "$TMP/other.json"
rc=0
kv "$l" get -s "$TMP/other.json" k2 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "authentication failed" "$TMP/err" || fail "wrong secrets: rc $rc: $(cat "$TMP/err")"
rc=0
kv "$l" get --endpoint 127.0.0.1:1 k2 >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" -eq 1 ] || fail "dead endpoint: rc $rc"

# SIGHUP: log_level applies at once, other settings at the next restart.
echo "log_level 'debug'" >>"$TMP/n$f/backstay.rb"
echo "consensus.snapshot_threshold 100" >>"$TMP/n$f/backstay.rb"
kill -HUP "${PIDS[$f]}"
wait_for 10 "the reload" grep -q "log_level is now debug" "$TMP/n$f/log"
grep -q "consensus.snapshot_threshold changed; it applies at the next restart" "$TMP/n$f/log" ||
	fail "reload did not name the changed setting"

# A watcher that goes away without a word: the node (now logging at debug)
# ends its watch by the next progress note, every 2 s.
"$BACKSTAY" kv watch gone/ -c "$TMP/n$f/backstay.rb" >/dev/null 2>"$TMP/watch2.err" &
w2=$!
EXTRA_PIDS+=("$w2")
record_pids
wait_for 15 "the second watch" grep -q watching "$TMP/watch2.err"
id=$(sed -n "s/.*watch \([0-9]*\) on 'gone\/'.*/\1/p" "$TMP/n$f/log")
[ -n "$id" ] || fail "node $f did not log the second watch"
closed=$(grep -c "(ctl): closed" "$TMP/n$f/log" || true)
kill -9 "$w2"
wait "$w2" 2>/dev/null || true
# Once the node has seen the connection go, an event for the watch ends it
# from inside the watch callback (or the next progress note does).
wait_for 15 "node $f to see the watcher go" \
	bash -c "[ \$(grep -c '(ctl): closed' $TMP/n$f/log) -gt $closed ]"
kv "$l" put gone/x 1 >/dev/null || fail "put gone/x"
wait_for 15 "node $f to end the abandoned watch $id" grep -q "watch $id ended" "$TMP/n$f/log"

# SIGTERM: every node stops cleanly (exit 0), followers first.
for ((i = 1; i <= n; i++)); do [ "$i" = "$l" ] || stop_node "$i"; done
stop_node "$l"
grep -qx "STOPPING=1" "$TMP/notify.log" || fail "node 1 did not notify STOPPING=1"
grep -q "^STATUS=" "$TMP/notify.log" || fail "node 1 did not report its role (STATUS=)"
check_sanitizers
log "ok"
