#!/usr/bin/env bash
# Benchmark: a 3-node backstay cluster against a 3-node etcd 3.4 cluster
# (Debian's etcd-server), both on loopback on this machine, same workload,
# one invocation. Prints the side-by-side table and writes it, with this
# command and the machine, into docs/BENCHMARKS.md (between the
# bench:begin / bench:end markers; text outside them is kept).
#
#   scripts/bench.sh                 # about 6-8 minutes
#   BENCH_DURATION_MS=3000 BENCH_KEYS=20000 scripts/bench.sh --no-doc   # a quick look
#
# Knobs (environment): BENCH_SYSTEMS ("backstay etcd"), BENCH_DURATION_MS,
# BENCH_WARMUP_MS, BENCH_KEYS, BENCH_BACKSTAY_CONF (extra backstay.rb lines),
# BENCH_NICE, BENCH_QUIET_WAIT (s), BENCH_KEEP=1 (keep logs), BENCH_TRACE=1
# (every failover attempt), BUILD (build dir).
#
# Needs root (apt-get) unless etcd-server and libcurl4-openssl-dev are
# installed. Bench-only dependencies stay here, not in setup.sh. Not part
# of the test suite. Traffic stays on 127.0.0.1; every node this script
# starts is killed on every exit path, and leftovers of an earlier run that
# was killed (its temp dir under /var/tmp) are cleaned up first.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
DURATION_MS=${BENCH_DURATION_MS:-10000}
WARMUP_MS=${BENCH_WARMUP_MS:-1000}
KEYS=${BENCH_KEYS:-100000}
ELECTION_MS=1000 # etcd's --election-timeout = backstay's consensus.election_timeout_ms
HEARTBEAT_MS=100 # etcd's --heartbeat-interval = consensus.heartbeat_interval_ms
RETRY_MS=100     # failover client: a put unanswered this long is retried elsewhere
PREFIX=/var/tmp/backstay-bench.
LOCK=/var/tmp/backstay-bench.lock
DOC=docs/BENCHMARKS.md
WRITE_DOC=1
SYSTEMS=${BENCH_SYSTEMS:-backstay etcd} # one of them alone: for trying the bench itself
# Extra lines for every backstay.rb, for experiments (e.g.
# 'consensus.snapshot_threshold 100000'); the published figures use none.
BACKSTAY_CONF=${BENCH_BACKSTAY_CONF:-}
# On a machine shared with other work, BENCH_NICE=-10 runs the nodes and the
# client ahead of it (both systems alike); the 'other' column shows what the
# rest of the machine still took.
NICE=${BENCH_NICE:-0}
COMMAND="scripts/bench.sh${*:+ $*}"

for arg in "$@"; do
	case $arg in
	--no-doc) WRITE_DOC=0 ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument: $arg (try --help)" >&2; exit 2 ;;
	esac
done

say() { echo "bench: $*" >&2; }

# ---- dependencies and build ---------------------------------------------------

install_deps() {
	local missing=() p
	for p in etcd-server libcurl4-openssl-dev; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		say "needs ${missing[*]}: run as root, or install them first"
		exit 1
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian's package may start its own etcd service on 2379/2380; ours use
	# other ports, so it does not matter, but it is not ours to stop either.
}

build() {
	local dir targets=(tools/bench/backstay-bench) log
	if [[ " $SYSTEMS " == *" backstay "* ]]; then
		targets+=(tools/backstay)
		# The secrets writer (bs_secrets_generate/_write); built with the tests.
		if ninja -C "$BUILD" -t targets all | grep -q '^test/integration/gen_secrets:'; then
			targets+=(test/integration/gen_secrets)
		fi
	fi
	if [ ! -d "$BUILD" ]; then
		meson setup "$BUILD" --buildtype=debugoptimized >/dev/null
	fi
	if ! ninja -C "$BUILD" -t targets all | grep -q '^tools/bench/backstay-bench:'; then
		# libcurl was installed after the build dir was configured.
		meson setup --reconfigure "$BUILD" >/dev/null
	fi
	log=$(mktemp)
	if ! ninja -C "$BUILD" "${targets[@]}" >"$log" 2>&1; then
		grep -E 'error|FAILED' "$log" | head -20 >&2
		rm -f "$log"
		say "build failed"
		exit 1
	fi
	rm -f "$log"
	dir=$(cd "$BUILD" && pwd)
	BENCH=$dir/tools/bench/backstay-bench
	BACKSTAY=$dir/tools/backstay
	GEN_SECRETS=$dir/test/integration/gen_secrets
}

# ---- processes ------------------------------------------------------------------

# Kill the nodes recorded under a run dir, but only processes whose command
# line names that dir (a recycled pid is left alone), then remove the dir
# (unless keep is given: BENCH_KEEP=1 leaves the logs for a look; the next
# run removes them).
clean_run_dir() {
	local dir=$1 keep=${2:-} pidf pid
	for pidf in "$dir"/*/n*/pid; do
		[ -f "$pidf" ] || continue
		pid=$(cat "$pidf" 2>/dev/null || true)
		[[ $pid =~ ^[0-9]+$ ]] || continue
		if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir/"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	if [ -n "$keep" ]; then
		say "kept $dir (logs, data)"
	else
		rm -rf -- "$dir"
	fi
}

RUN=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$RUN" ] && [ -d "$RUN" ]; then
		if [ "$rc" -ne 0 ]; then
			tail -n 5 "$RUN"/*/n*/log 2>/dev/null | sed 's/^/bench: log: /' >&2 || true
		fi
		clean_run_dir "$RUN" "${BENCH_KEEP:-}"
	fi
	exit "$rc"
}

# Free TCP ports on loopback: n of them, from a random base below the
# kernel's ephemeral range (a node port inside it can be taken as the source
# port of a client's connection while the node is down, and a client
# redialing the dead node then connects to itself).
pick_ports() {
	local n=$1 used base p out=() lo
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$lo" -gt 12000 ] || { say "ephemeral ports start at $lo: no room below"; exit 1; }
	used=$(ss -Htan | awk '{n = split($4, a, ":"); print a[n]}' | sort -u)
	base=$((10000 + RANDOM % (lo - 12000)))
	for ((p = base; ${#out[@]} < n && p < lo; p++)); do
		grep -qx "$p" <<<"$used" || out+=("$p")
	done
	[ ${#out[@]} -eq "$n" ] || { say "no $n free ports in $base..$lo"; exit 1; }
	echo "${out[@]}"
}

hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# The cluster's secrets file (mode 0600): written by base's bs_secrets through
# test/integration/gen_secrets, or, in a build without the tests, here in
# the same format.
write_secrets() {
	if [ -x "$GEN_SECRETS" ]; then
		"$GEN_SECRETS" "$1"
		return
	fi
	(
		umask 077
		cat >"$1" <<EOF
{ "backstay": { "cluster_id": "$(hex 16)", "cluster_secret": "$(hex 32)" },
  "postgresql": { "db_superuser_password": "$(hex 24)", "replication_password": "$(hex 24)" } }
EOF
	)
}

# A start script: runs the node in the background, records its pid.
write_start() {
	local dir=$1
	shift
	{
		echo '#!/bin/bash'
		[ "$NICE" = 0 ] || printf 'nice -n %q ' "$NICE"
		printf '%q ' "$@"
		echo ">>'$dir/log' 2>&1 &"
		echo "echo \$! >'$dir/pid'"
	} >"$dir/start"
	chmod +x "$dir/start"
}

setup_etcd() {
	local base=$RUN/etcd i cluster="" d
	for i in 1 2 3; do
		cluster+="${cluster:+,}n$i=http://127.0.0.1:${EPEER[$i]}"
	done
	for i in 1 2 3; do
		d=$base/n$i
		mkdir -p "$d"
		echo "127.0.0.1:${ECLIENT[$i]}" >"$d/endpoint"
		write_start "$d" etcd --name "n$i" --data-dir "$d/data" \
			--listen-client-urls "http://127.0.0.1:${ECLIENT[$i]}" \
			--advertise-client-urls "http://127.0.0.1:${ECLIENT[$i]}" \
			--listen-peer-urls "http://127.0.0.1:${EPEER[$i]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${EPEER[$i]}" \
			--initial-cluster "$cluster" --initial-cluster-state new \
			--initial-cluster-token "bench-$$" \
			--heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
			--logger zap --log-outputs stderr
	done
}

setup_backstay() {
	local base=$RUN/backstay i members="" d
	mkdir -p "$base"
	write_secrets "$base/secrets.json"
	for i in 1 2 3; do
		members+="${members:+, }'$i=127.0.0.1:${BPORT[$i]}'"
	done
	for i in 1 2 3; do
		d=$base/n$i
		mkdir -p "$d"
		echo "127.0.0.1:${BPORT[$i]}" >"$d/endpoint"
		cat >"$d/backstay.rb" <<EOF
# backstay bench node $i (scripts/bench.sh)
publish_address '127.0.0.1'
data_dir '$d/data'
secrets_file '$base/secrets.json'
log_level 'info'
consensus.node_id $i
consensus.initial_cluster [$members]
consensus.bind_address '127.0.0.1'
consensus.port ${BPORT[$i]}
consensus.heartbeat_interval_ms $HEARTBEAT_MS
consensus.election_timeout_ms $ELECTION_MS
leaderl.http_port ${BHTTP[$i]}
etcd.client_port ${BETCD[$i]}
postgresql.enable false
$BACKSTAY_CONF
EOF
		write_start "$d" "$BACKSTAY" run -c "$d/backstay.rb"
	done
}

# Wait (bounded) until every endpoint of a cluster accepts connections.
wait_listening() {
	local base=$1 i ep deadline=$((SECONDS + 30))
	for i in 1 2 3; do
		ep=$(cat "$base/n$i/endpoint")
		until (exec 3<>"/dev/tcp/${ep%:*}/${ep#*:}") 2>/dev/null; do
			if [ $SECONDS -ge $deadline ]; then
				say "$base/n$i ($ep) is not listening after 30 s"
				tail -n 20 "$base/n$i/log" >&2 || true
				exit 1
			fi
			sleep 0.1
		done
	done
}

# What the machine does over 2 s, before our nodes start (so all of it is
# someone else's): "CPU FORKS", CPU in hundredths of a core and processes
# started.
machine_activity() {
	local a b fa fb
	a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
	fa=$(awk '/^processes / {print $2}' /proc/stat)
	sleep 2
	b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
	fb=$(awk '/^processes / {print $2}' /proc/stat)
	echo "$(((b - a) * 100 / $(getconf CLK_TCK) / 2)) $((fb - fa))"
}

# The figures mean little while something else loads the CPUs: wait (at
# most BENCH_QUIET_WAIT seconds, default 300) for a machine that is idle and
# starts no processes.
wait_quiet() {
	local deadline=$((SECONDS + ${BENCH_QUIET_WAIT:-300})) busy forks
	while read -r busy forks < <(machine_activity) && { [ "$busy" -gt 20 ] || [ "$forks" -gt 10 ]; }; do
		if [ $SECONDS -ge $deadline ]; then
			say "other work still uses $busy% of a CPU and started $forks processes in 2 s: running anyway (see the 'other', 'unattributed' and 'forks/s' columns)"
			return 0
		fi
		say "other work uses $busy% of a CPU and started $forks processes in 2 s: waiting for a quiet machine"
		sleep 8
	done
}

# ---- the document -----------------------------------------------------------------

machine() {
	local disk
	disk=$(findmnt -no SOURCE,FSTYPE -T /var/tmp | tr '\n' ' ')
	echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, Linux $(uname -r)"
	echo "- data dirs: /var/tmp on $disk(both systems; etcd fsyncs by default, backstay always does)"
	echo "- versions: $("$BACKSTAY" version 2>/dev/null | head -1), etcd $(etcd --version | awk 'NR == 1 {print $NF}'), $(dpkg-query -W -f='libraft ${Version}, ' libraft-dev 2>/dev/null)$(dpkg-query -W -f='libuv ${Version}, ' libuv1-dev 2>/dev/null)$(dpkg-query -W -f='liblmdb ${Version}, ' liblmdb-dev 2>/dev/null)$(dpkg-query -W -f='libcurl ${Version}' libcurl4-openssl-dev 2>/dev/null); build: $(meson introspect "$BUILD" --buildoptions 2>/dev/null | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' 2>/dev/null || echo '?')"
	echo "- source: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' with uncommitted changes')"
	echo "- the bench client, both clusters (all 6 nodes run throughout) and the kernel share these CPUs"
}

write_doc() {
	local table=$1 gen
	gen=$(mktemp)
	{
		echo "<!-- bench:begin (generated by scripts/bench.sh; edit outside these markers) -->"
		echo
		echo "Run $(date -u +%Y-%m-%dT%H:%MZ) with \`$COMMAND\`"
		if [ "$DURATION_MS" != 10000 ] || [ "$KEYS" != 100000 ]; then
			echo "(BENCH_DURATION_MS=$DURATION_MS BENCH_KEYS=$KEYS)"
		fi
		if [ -n "$BACKSTAY_CONF" ]; then
			echo "(BENCH_BACKSTAY_CONF='$BACKSTAY_CONF')"
		fi
		if [ "$NICE" != 0 ]; then
			echo "(BENCH_NICE=$NICE: nodes and client at nice $NICE, ahead of other work on the machine)"
		fi
		echo
		machine
		echo
		cat "$table"
		echo
		echo "<!-- bench:end -->"
	} >"$gen"
	if [ ! -f "$DOC" ]; then
		{
			echo "# Benchmarks: backstay against etcd 3.4"
			echo
			echo "Produced by \`scripts/bench.sh\` (tools/bench/); see tools/bench/README.md."
			echo
			cat "$gen"
		} >"$DOC"
	elif grep -q '<!-- bench:begin' "$DOC"; then
		python3 - "$DOC" "$gen" <<'PY'
import re, sys
doc, gen = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
text = open(doc).read()
text = re.sub(r"<!-- bench:begin.*?<!-- bench:end -->", lambda m: gen, text, flags=re.S)
open(doc, "w").write(text)
PY
	else
		{ echo; cat "$gen"; } >>"$DOC"
	fi
	rm -f "$gen"
	say "wrote $DOC"
}

# ---- main ---------------------------------------------------------------------------

install_deps
build

exec 9>"$LOCK"
flock -n 9 || { say "another scripts/bench.sh is running"; exit 1; }
for old in "$PREFIX"*; do
	[ -d "$old" ] || continue
	say "cleaning up an earlier run: $old"
	clean_run_dir "$old"
done

wait_quiet
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
RUN=$(mktemp -d "${PREFIX}XXXXXX")

read -r -a P <<<"$(pick_ports 15)"
ECLIENT=([1]=${P[0]} [2]=${P[1]} [3]=${P[2]})
EPEER=([1]=${P[3]} [2]=${P[4]} [3]=${P[5]})
BPORT=([1]=${P[6]} [2]=${P[7]} [3]=${P[8]})
BHTTP=([1]=${P[9]} [2]=${P[10]} [3]=${P[11]})
BETCD=([1]=${P[12]} [2]=${P[13]} [3]=${P[14]})

ARGS=()
for sys in $SYSTEMS; do
	case $sys in
	etcd) setup_etcd; ARGS+=(--etcd "$RUN/etcd") ;;
	backstay)
		setup_backstay
		ARGS+=(--backstay "$RUN/backstay" --secrets "$RUN/backstay/secrets.json")
		;;
	*) say "BENCH_SYSTEMS: unknown system $sys"; exit 2 ;;
	esac
done
say "starting 3 nodes each of: $SYSTEMS (under $RUN)"
for sys in $SYSTEMS; do
	for d in "$RUN/$sys"/n*; do
		"$d/start"
	done
done
for sys in $SYSTEMS; do
	wait_listening "$RUN/$sys"
done

TABLE=$RUN/table.md
NICE_CMD=()
[ "$NICE" = 0 ] || NICE_CMD=(nice -n "$NICE")
"${NICE_CMD[@]}" "$BENCH" "${ARGS[@]}" --out "$TABLE" \
	--duration-ms "$DURATION_MS" --warmup-ms "$WARMUP_MS" --keys "$KEYS" \
	--election-timeout-ms "$ELECTION_MS" --heartbeat-ms "$HEARTBEAT_MS" \
	--retry-timeout-ms "$RETRY_MS"

if [ "$WRITE_DOC" = 1 ]; then
	write_doc "$TABLE"
fi
