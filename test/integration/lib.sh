# shellcheck shell=bash
# Shared by the integration scripts (sourced, bash). Real `backstay run`
# processes on 127.0.0.1, each with its own config, data_dir and log in one
# temp dir per test run.
#
# Rules kept here: every wait is a bounded poll with a deadline; only
# processes this run started are killed (by pid); the temp dir goes on every
# exit path; ports are checked free and lie below the ephemeral range, so
# that no client connection can take a stopped node's port.
#
# Needs: BACKSTAY, GEN_SECRETS, CTL_STATUS (set by meson), python3.
# IT_KEEP=1 keeps the temp dir (configs, logs, data) for a look afterwards.

: "${BACKSTAY:?}" "${GEN_SECRETS:?}" "${CTL_STATUS:?}"

IT_NAME=${IT_NAME:-$(basename "$0" .sh)}
IT_TMPROOT=${TMPDIR:-/tmp}
declare -a PIDS=() PORTS=() DPORTS=()
N=0

log() { echo "[$(date +%H:%M:%S.%N | cut -c1-12)] $IT_NAME: $*"; }
fail() {
	echo "FAIL: $IT_NAME: $*" >&2
	dump_logs >&2
	exit 1
}
now_ms() { date +%s%3N; }
pause() { sleep "$1"; } # only inside bounded polls

# A directory left by an earlier run that was killed before its trap ran:
# kill the nodes it recorded (only those still running its binary with its
# config) and remove it.
clean_leftovers() {
	local d owner pid
	for d in "$IT_TMPROOT"/backstay-it.*; do
		[ -d "$d" ] && [ -f "$d/owner" ] || continue
		owner=$(cat "$d/owner")
		kill -0 "$owner" 2>/dev/null && continue # its run is alive
		for pid in $(cat "$d"/pids 2>/dev/null); do
			if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$d/"; then
				kill -9 "$pid" 2>/dev/null || true
			fi
		done
		kill_spawned "$d"
		rm -rf "$d" 2>/dev/null || true # a straggler may still write there
	done
}

# The pids the next run's clean_leftovers may kill (if they still run a
# command line naming this run's directory).
record_pids() {
	local pid
	for pid in "${PIDS[@]}" "${EXTRA_PIDS[@]}"; do
		if [ -n "$pid" ]; then echo "$pid"; fi
	done >"$TMP/pids"
}

# Daemons that `backstay start` spawned under directory $1 and that still
# run (their pidfile names them, their command line names $1): kill -9.
kill_spawned() {
	local f pid
	for f in "$1"/n*/data/backstay.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$1/"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}" "${EXTRA_PIDS[@]}"; do
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	done
	[ -n "${TMP:-}" ] && kill_spawned "$TMP"
	for pid in "${PIDS[@]}" "${EXTRA_PIDS[@]}"; do
		[ -n "$pid" ] && wait "$pid" 2>/dev/null || true
	done
	if [ -n "${IT_CLEANUP_HOOK:-}" ]; then $IT_CLEANUP_HOOK || true; fi
	if [ -n "${IT_KEEP:-}" ] && [ -n "${TMP:-}" ]; then
		rm -f "$TMP/owner" # not a leftover: kept on purpose
		echo "$IT_NAME: IT_KEEP: logs and data kept in $TMP" >&2
	elif [ -n "${TMP:-}" ]; then
		rm -rf "$TMP"
	fi
	exit "$rc"
}
declare -a EXTRA_PIDS=()

it_setup() { # it_setup N
	N=$1
	clean_leftovers
	TMP=$(mktemp -d "$IT_TMPROOT/backstay-it.XXXXXX")
	echo $$ >"$TMP/owner"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	"$GEN_SECRETS" "$TMP/secrets.json" || fail "gen_secrets"
	local all
	mapfile -t all < <(free_ports $((2 * N)))
	[ "${#all[@]}" -eq $((2 * N)) ] || fail "could not find $((2 * N)) free ports"
	PORTS=("${all[@]:0:N}")
	DPORTS=("${all[@]:N}") # member discovery (etcd.client_port)
	log "temp dir $TMP, ports ${PORTS[*]}"
}

# N distinct TCP ports on 127.0.0.1, each bound once to prove it free, from
# below the ephemeral range (>= 10000).
free_ports() {
	python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
rng = random.SystemRandom()
got = []
for _ in range(2000):
    if len(got) == n:
        break
    p = rng.randrange(10000, max(low, 10001))
    if p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        got.append(p)
    except OSError:
        pass
    finally:
        s.close()
print("\n".join(map(str, got)))
PY
}

addr() { echo "127.0.0.1:${PORTS[$1 - 1]}"; }

# Write node i's config. Extra lines (settings) may follow as arguments.
write_config() {
	local i=$1 j members=""
	shift
	for ((j = 1; j <= N; j++)); do
		members+="${members:+, }'$j=$(addr "$j")'"
	done
	mkdir -p "$TMP/n$i"
	{
		echo "publish_address '127.0.0.1'"
		echo "consensus.bind_address '127.0.0.1'"
		echo "consensus.port ${PORTS[$i - 1]}"
		echo "etcd.client_port ${DPORTS[$i - 1]}"
		echo "consensus.node_id $i"
		echo "consensus.initial_cluster [$members]"
		echo "consensus.heartbeat_interval_ms 100"
		echo "consensus.election_timeout_ms 1000"
		echo "data_dir '$TMP/n$i/data'"
		echo "secrets_file '$TMP/secrets.json'"
		echo "log_level 'info'"
		echo "postgresql.enable false # the replicated KV alone"
		local line
		for line in "$@"; do echo "$line"; done
	} >"$TMP/n$i/backstay.rb"
}

# Start node i in the background (optionally under a wrapper command given
# as arguments, which must exec backstay in the same process).
start_node() {
	local i=$1
	shift
	if ! port_free "${PORTS[$i - 1]}"; then
		fail "port ${PORTS[$i - 1]} of node $i is taken"
	fi
	if [ $# -gt 0 ]; then
		"$@" >>"$TMP/n$i/log" 2>&1 &
	else
		"$BACKSTAY" run -c "$TMP/n$i/backstay.rb" >>"$TMP/n$i/log" 2>&1 &
	fi
	PIDS[$i]=$!
	record_pids
	log "node $i started (pid ${PIDS[$i]})"
}

port_free() {
	python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
' "$1"
}

kill_node() { # kill -9 node i, by the pid this run recorded
	local i=$1
	kill -9 "${PIDS[$i]}"
	wait "${PIDS[$i]}" 2>/dev/null || true
	log "node $i killed (pid ${PIDS[$i]})"
	PIDS[$i]=""
	record_pids
}

# Stop node i with SIGTERM; it must exit 0 within the deadline.
stop_node() {
	local i=$1 rc=0 deadline=$(($(now_ms) + 15000))
	kill -TERM "${PIDS[$i]}"
	while kill -0 "${PIDS[$i]}" 2>/dev/null; do
		[ "$(now_ms)" -lt "$deadline" ] || fail "node $i ignored SIGTERM for 15 s"
		pause 0.05
	done
	wait "${PIDS[$i]}" || rc=$?
	PIDS[$i]=""
	[ "$rc" -eq 0 ] || fail "node $i exited $rc after SIGTERM"
	grep -q "stopped" "$TMP/n$i/log" || fail "node $i did not log its stop"
	log "node $i stopped cleanly"
}

kv() { # kv i VERB ARGS...: backstay kv VERB through node i
	local i=$1
	shift
	"$BACKSTAY" kv "$@" -c "$TMP/n$i/backstay.rb"
}

status() { "$CTL_STATUS" "$TMP/secrets.json" "$(addr "$1")" 2>/dev/null; }

json_field() { # json_field FIELD < json
	python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1"
}

# wait_for SECONDS WHAT CMD...: run CMD until it succeeds, at most SECONDS.
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$(($(now_ms) + secs * 1000))
	until "$@" >/dev/null 2>&1; do
		[ "$(now_ms)" -lt "$deadline" ] || fail "$what: not within ${secs} s"
		pause 0.1
	done
}

# The index of the node that leads and is ready, among the running ones
# (excluding $2 if given); prints it, returns 1 if none does.
leader() {
	local i s
	for ((i = 1; i <= N; i++)); do
		[ -n "${PIDS[$i]:-}" ] && [ "$i" != "${1:-}" ] || continue
		s=$(status "$i") || continue
		if [ "$(json_field role <<<"$s")" = leader ] && [ "$(json_field ready <<<"$s")" = true ]; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

wait_leader() { # wait_leader [EXCLUDED]: prints the leader's index
	local deadline=$(($(now_ms) + 30000)) l
	until l=$(leader "${1:-}"); do
		[ "$(now_ms)" -lt "$deadline" ] || fail "no leader within 30 s"
		pause 0.1
	done
	echo "$l"
}

# A sanitizer build's reports go to the nodes' logs: any is a failure.
check_sanitizers() {
	local i
	for ((i = 1; i <= N; i++)); do
		if grep -qE "runtime error:|ERROR: (Address|Leak)Sanitizer" "$TMP/n$i/${IT_LOG:-log}" 2>/dev/null; then
			fail "node $i: sanitizer report in its log"
		fi
	done
}

dump_logs() {
	local i
	[ -n "${TMP:-}" ] || return 0
	for ((i = 1; i <= N; i++)); do
		[ -f "$TMP/n$i/${IT_LOG:-log}" ] || continue
		echo "---- node $i log (last 40 lines)"
		tail -n 40 "$TMP/n$i/${IT_LOG:-log}"
	done
}

# ---- host-style nodes: one loopback address each (127.A.B.i, one random
# block per run), the same ports on every node, as on real hosts; started
# and stopped with backstay's own verbs (create-cluster, join-cluster,
# start, stop), which run the daemon detached with its log in
# $TMP/ni/backstay.log. IT_LOG tells dump_logs where that is.

# hosts_setup MAX: pick the block and the ports, write nodes 1..MAX's configs.
hosts_setup() {
	local max=$1 i
	read -r NET PORT DPORT HPORT < <(
		python3 - "$max" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
rng = random.SystemRandom()
for _ in range(200):
    net = "127.%d.%d" % (rng.randrange(100, 250), rng.randrange(1, 250))
    ports = rng.sample(range(12000, 30000), 3)
    ok = True
    for i in range(1, n + 1):
        for p in ports:
            s = socket.socket()
            try:
                s.bind(("%s.%d" % (net, i), p))
            except OSError:
                ok = False
            finally:
                s.close()
    if ok:
        print(net, *ports)
        break
PY
	)
	[ -n "${PORT:-}" ] || fail "no free address block"
	IT_LOG=backstay.log
	log "addresses $NET.1..$max, ports raft $PORT discovery $DPORT http $HPORT"
	for ((i = 1; i <= max; i++)); do
		mkdir -p "$TMP/n$i"
		cat >"$(cfg "$i")" <<EOF
fqdn 'backend-$i'
publish_address '$(hip "$i")'
consensus.bind_address '$(hip "$i")'
consensus.port $PORT
consensus.heartbeat_interval_ms 100
consensus.election_timeout_ms 1000
etcd.client_port $DPORT
leaderl.http_port $HPORT
data_dir '$TMP/n$i/data'
log_directory '$TMP/n$i'
secrets_file '$TMP/n$i/secrets.json'
postgresql.enable false
EOF
	done
}

hip() { echo "$NET.$1"; }
cfg() { echo "$TMP/n$1/backstay.rb"; }
bs() { # bs i VERB ARGS...: backstay VERB on node i
	local i=$1
	shift
	"$BACKSTAY" "$@" -c "$(cfg "$i")"
}

# The daemon that `backstay start` (create-cluster, join-cluster) spawned on
# node i: its pid, for cleanup.
track() {
	local i=$1 pid
	pid=$(cat "$TMP/n$i/data/backstay.pid" 2>/dev/null) || fail "node $i has no pidfile"
	PIDS[$i]=$pid
	record_pids
}
untrack() {
	PIDS[$1]=""
	record_pids
}
