# shellcheck shell=bash
# netns_lib.sh: N test "hosts" (1..8, usually 3 or 5) and one client
# namespace on a bridge, for scripts that run real backstay daemons (and the
# PostgreSQL they drive) the way they run on separate machines. Sourced.
#
#   namespaces  PREFIX-OWNERPID-n1..nN (hosts), -fe (client), -sw (switch)
#   addresses   NET.11 .. NET.1N (hosts), NET.19 (client), on NET.0/24;
#               NET is 10.89.<random> unless NH_NET is set. They exist only
#               inside these namespaces: the root namespace gets no link,
#               address, route or rule.
#   per host    `on i CMD` runs CMD in host i's network namespace plus a
#               private mount and UTS namespace: /etc/backstay,
#               /var/lib/backstay, /var/log/backstay (and /run/postgresql)
#               are this run's directories NH_TMP/ni/{etc,lib,log,run-pg},
#               the host name is backend-i. A daemon it starts stays there.
#               lib/ and log/ are mode 755 so that the postgres OS user can
#               reach a data directory the daemon makes (and chowns) in them.
#
# Faults (all reversible, all inside this run's namespaces):
#   partition i [j... | fe]   cut host i off from hosts j... (default: every
#                             other host; `fe` names the client), both ways,
#                             ARP included: nft bridge rules in the switch
#   heal                      remove every partition
#   node_kill9 i              kill -9 every process in host i's namespace
#                             (the daemon, its PostgreSQL), not the delay helper
#   node_stop_pids i / node_cont_pids i
#                             SIGSTOP / SIGCONT the backstay daemon of host i
#                             only (its pidfile, checked to be in host i)
#   delay_add i MS [both|out] hold host i's packets to the other hosts (and,
#                             with `both`, the default, theirs to it) MS ms:
#                             iptables NFQUEUE + test/fault/nfqdelay (there is
#                             no netem in this kernel). A round trip between
#                             host i and another host takes >= 2*MS (both) or
#                             >= MS (out). Needs NFQDELAY (path of the helper).
#   delay_clear i             remove the rules, stop the helper (which first
#                             releases every packet it holds)
#
# Safety: every command reaches the test addresses from inside a namespace
# of this run (`on`, `on_fe`, `ip netns exec`); every wait is a bounded poll;
# only processes inside this run's namespaces, or recorded by pid, are
# signalled, never by name. nh_setup installs EXIT/INT/TERM traps that run
# nh_cleanup (idempotent, safe to call from a trap): it kills what runs in
# the namespaces, deletes them, frees PostgreSQL's SysV segment of a killed
# postmaster, and removes the temp dir. A run killed before its trap ran is
# cleaned up by the next one with the same prefix (owner pid gone).
#
# The mount points (/etc/backstay ...) must exist on the real filesystem.
# Those a harness creates are listed in $NH_RUNDIR/netns-hosts.made and
# removed (if empty) by the last run that holds no shared lock on
# $NH_RUNDIR/netns-hosts.lock: a concurrent run's bind mounts are never
# pulled from under it.
#
# Caller's knobs (before nh_setup): NH_PREFIX (letters and digits, default
# bsnh), NH_NET, NH_NAME (log name), NH_KEEP=1 (keep the temp dir),
# NH_CLEANUP_HOOK (a command run first at cleanup), NFQDELAY.
# Set by nh_setup: NH_N, NH_TMP, NH_NET, NH_NS_SW, NH_NS_FE.

NH_PREFIX=${NH_PREFIX:-bsnh}
NH_NAME=${NH_NAME:-$(basename "$0" .sh)}
NH_RUNDIR=${NH_RUNDIR:-/run}
NH_QNUM=7 # the NFQUEUE number used in each host's own namespace
NH_MOUNTPOINTS=(/etc/backstay /var/lib/backstay /var/log/backstay)
NH_T0=$(date +%s%3N)
NH_N=0
NH_TMP=
NH_CLEANED=
NH_LOCKFD=
declare -a NH_DELAY_PID=()

nh_now_ms() { date +%s%3N; }
nh_log() { echo "[$(($(nh_now_ms) - NH_T0)) ms] $NH_NAME: $*"; }
nh_fail() {
	local i
	echo "FAIL: $NH_NAME: $*" >&2
	for ((i = 1; i <= NH_N; i++)); do
		[ -f "$NH_TMP/n$i/log/backstay.log" ] || continue
		echo "---- backend-$i log (last 30 lines)" >&2
		tail -n 30 "$NH_TMP/n$i/log/backstay.log" >&2
	done
	exit 1
}

# nh_wait SECONDS WHAT CMD...: run CMD until it succeeds, at most SECONDS.
nh_wait() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$(($(nh_now_ms) + secs * 1000))
	until "$@" >/dev/null 2>&1; do
		[ "$(nh_now_ms)" -lt "$deadline" ] || nh_fail "$what: not within $secs s"
		sleep 0.05
	done
}

nh_ns() { # nh_ns i|fe|sw: a namespace's name
	case $1 in
	fe | sw) echo "$NH_PREFIX-$$-$1" ;;
	*) echo "$NH_PREFIX-$$-n$1" ;;
	esac
}
host_ip() { echo "$NH_NET.1$1"; } # host i: NET.1i; the client: host_ip 9
fe_ip() { host_ip 9; }
host_dir() { echo "$NH_TMP/n$1"; } # host i's etc/, lib/, log/ seen from outside

nh__check_host() {
	[[ $1 =~ ^[1-8]$ ]] && [ "$1" -le "$NH_N" ] || nh_fail "no host '$1' (hosts are 1..$NH_N)"
}

# on i CMD...: CMD on host i (see the top of this file).
on() {
	local i=$1
	shift
	nh__check_host "$i"
	ip netns exec "$(nh_ns "$i")" unshare -m -u --propagation private bash -c '
		set -e
		d=$1; shift
		mount --bind "$d/etc" /etc/backstay
		mount --bind "$d/lib" /var/lib/backstay
		mount --bind "$d/log" /var/log/backstay
		if [ -d "$d/run-pg" ]; then mount --bind "$d/run-pg" /run/postgresql; fi
		hostname "$1"; shift
		exec "$@"' on "$(host_dir "$i")" "backend-$i" "$@"
}

# on_fe CMD...: CMD in the client namespace (no private mounts).
on_fe() { ip netns exec "$(nh_ns fe)" "$@"; }

# ---- leftovers, setup, cleanup ------------------------------------------------

# Is pid $1 alive? A zombie (killed, not yet reaped by its parent) is not.
nh__alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st%% *}" != Z ]
}

# Kill what runs in namespace $1 (the namespace is ours, so are they), wait
# (bounded) until they are gone, delete it.
nh__ns_remove() {
	local p pids deadline
	pids=$(ip netns pids "$1" 2>/dev/null) || return 0
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	deadline=$(($(nh_now_ms) + 5000))
	for p in $pids; do
		while nh__alive "$p" && [ "$(nh_now_ms)" -lt "$deadline" ]; do
			sleep 0.02
		done
	done
	ip netns del "$1" 2>/dev/null || true
}

# A postmaster killed with -9 leaves its SysV segment: free those that the
# postmaster.pid files under $1 name, if nothing is attached any more.
nh__pg_ipc_cleanup() {
	local f id
	while IFS= read -r f; do
		read -r _ id < <(sed -n 7p "$f" 2>/dev/null) || continue
		[[ ${id:-} =~ ^[0-9]+$ ]] || continue
		# /proc/sysvipc/shm: key shmid perms size cpid lpid nattch ...
		if awk -v id="$id" '$2 == id && $7 == 0 { found = 1 } END { exit !found }' \
			/proc/sysvipc/shm 2>/dev/null; then
			ipcrm -m "$id" 2>/dev/null || true
		fi
	done < <(find "$1" -maxdepth 6 -name postmaster.pid 2>/dev/null)
}

nh_clean_leftovers() {
	local n owner d
	for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$NH_PREFIX-[0-9]+-" || true); do
		owner=$(cut -d- -f2 <<<"$n")
		kill -0 "$owner" 2>/dev/null && continue # its run is alive
		nh__ns_remove "$n"
	done
	for d in /tmp/backstay-"$NH_PREFIX".*; do
		[ -d "$d" ] && [ -f "$d/owner" ] || continue
		kill -0 "$(cat "$d/owner")" 2>/dev/null && continue
		nh__pg_ipc_cleanup "$d"
		# a killed pg-failover promotefail run leaves a pg_wal immutable
		find "$d" -maxdepth 8 -type d -name pg_wal -exec chattr -i {} + 2>/dev/null || true
		rm -rf "$d" 2>/dev/null || true
	done
	return 0
}

# Shared lock for the lifetime of the run; create the mount points missing.
nh__mountpoints_take() {
	local d
	exec {NH_LOCKFD}>>"$NH_RUNDIR/netns-hosts.lock"
	flock -s -w 30 "$NH_LOCKFD" || nh_fail "no shared lock on $NH_RUNDIR/netns-hosts.lock in 30 s"
	for d in "${NH_MOUNTPOINTS[@]}"; do
		if [ ! -e "$d" ]; then
			mkdir -p "$d"
			echo "$d" >>"$NH_RUNDIR/netns-hosts.made"
		fi
	done
}

# Drop the shared lock; if no other run holds one, remove the mount points
# that harnesses made (only if empty).
nh__mountpoints_release() {
	local fd d
	[ -n "$NH_LOCKFD" ] || return 0
	exec {NH_LOCKFD}>&-
	NH_LOCKFD=
	exec {fd}>>"$NH_RUNDIR/netns-hosts.lock"
	if flock -xn "$fd"; then
		if [ -f "$NH_RUNDIR/netns-hosts.made" ]; then
			for d in $(sort -u "$NH_RUNDIR/netns-hosts.made"); do
				rmdir "$d" 2>/dev/null || true
			done
			rm -f "$NH_RUNDIR/netns-hosts.made"
		fi
	fi
	exec {fd}>&-
}

# The backstay daemon of host i (its pidfile), if it runs in host i's
# namespace; prints its pid or returns 1.
node_pid() {
	local i=$1 pid
	pid=$(cat "$NH_TMP/n$i/lib/backstay.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	grep -qx "$(nh_ns "$i")" <<<"$(ip netns identify "$pid" 2>/dev/null)" || return 1
	echo "$pid"
}

nh_cleanup() {
	local i pid
	[ -z "$NH_CLEANED" ] || return 0
	NH_CLEANED=1
	if [ -n "${NH_CLEANUP_HOOK:-}" ]; then $NH_CLEANUP_HOOK || true; fi
	[ -n "$NH_TMP" ] || return 0
	for ((i = 1; i <= NH_N; i++)); do
		pid=$(node_pid "$i") && kill -CONT "$pid" 2>/dev/null # a stopped one dies as well
		pid=${NH_DELAY_PID[$i]:-}
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	done
	for ((i = 1; i <= NH_N; i++)); do nh__ns_remove "$(nh_ns "$i")"; done
	nh__ns_remove "$(nh_ns fe)"
	nh__ns_remove "$(nh_ns sw)"
	nh__pg_ipc_cleanup "$NH_TMP"
	nh__mountpoints_release
	if [ -n "${NH_KEEP:-}" ]; then
		rm -f "$NH_TMP/owner" # not a leftover: kept on purpose
		echo "$NH_NAME: NH_KEEP: configs, data and logs kept in $NH_TMP" >&2
	else
		rm -rf "$NH_TMP"
	fi
	return 0
}

nh__on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	nh_cleanup
	exit "$rc"
}

# nh_setup N: the namespaces, the bridge, the hosts' directories; checks that
# the client reaches every host.
nh_setup() {
	local n=$1 i ns d
	[[ $n =~ ^[1-8]$ ]] || nh_fail "nh_setup: 1 to 8 hosts, not '$n'"
	[[ $NH_PREFIX =~ ^[A-Za-z0-9]+$ ]] || nh_fail "NH_PREFIX: letters and digits only"
	[ "$NH_N" -eq 0 ] || nh_fail "nh_setup: called twice"
	nh_clean_leftovers
	NH_TMP=$(mktemp -d /tmp/backstay-"$NH_PREFIX".XXXXXX)
	chmod 755 "$NH_TMP"
	echo $$ >"$NH_TMP/owner"
	trap nh__on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	NH_N=$n
	NH_NET=${NH_NET:-10.89.$((RANDOM % 250 + 1))}
	NH_NS_SW=$(nh_ns sw)
	NH_NS_FE=$(nh_ns fe)
	nh__mountpoints_take

	ip netns add "$NH_NS_SW"
	ip -n "$NH_NS_SW" link set lo up
	ip -n "$NH_NS_SW" link add br0 type bridge
	ip -n "$NH_NS_SW" link set br0 up
	for i in $(seq 1 "$n") 9; do
		ns=$([ "$i" = 9 ] && echo "$NH_NS_FE" || nh_ns "$i")
		ip netns add "$ns"
		ip -n "$NH_NS_SW" link add "p$i" type veth peer name eth0 netns "$ns"
		ip -n "$NH_NS_SW" link set "p$i" master br0
		ip -n "$NH_NS_SW" link set "p$i" up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$(host_ip "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
	for ((i = 1; i <= n; i++)); do
		d=$(host_dir "$i")
		mkdir -p "$d/etc" "$d/lib" "$d/log"
		chmod 755 "$d" "$d/lib" "$d/log"
		# A private /run/postgresql like a real host's (postgres, 2775).
		if [ -d /run/postgresql ] && id -u postgres >/dev/null 2>&1; then
			mkdir -p "$d/run-pg"
			chown postgres:postgres "$d/run-pg"
			chmod 2775 "$d/run-pg"
		fi
	done
	for ((i = 1; i <= n; i++)); do
		nh_wait 5 "client reaches host $i" on_fe ping -c 1 -W 1 "$(host_ip "$i")"
	done
	nh_log "$n hosts on $NH_NET.0/24 (namespaces $NH_PREFIX-$$-*), temp dir $NH_TMP"
}

# ---- faults --------------------------------------------------------------------

# nh__port i|fe: host i's port on the bridge.
nh__port() {
	if [ "$1" = fe ]; then
		echo p9
	elif [[ $1 =~ ^[1-8]$ ]] && [ "$1" -le "$NH_N" ]; then
		echo "p$1"
	else
		return 1
	fi
}

partition() {
	local i=$1 j set="" p
	shift
	p=$(nh__port "$i") || nh_fail "partition: no host '$i'"
	if [ $# -eq 0 ]; then
		for ((j = 1; j <= NH_N; j++)); do [ "$j" = "$i" ] || set+="${set:+, }\"p$j\""; done
	else
		for j in "$@"; do
			[ "$j" != "$i" ] || nh_fail "partition: host $i from itself"
			j=$(nh__port "$j") || nh_fail "partition: no host '$j'"
			set+="${set:+, }\"$j\""
		done
	fi
	[ -n "$set" ] || nh_fail "partition $i: nobody to cut it from"
	ip netns exec "$NH_NS_SW" nft -f - <<EOF || nh_fail "partition $i: nft"
add table bridge nh_partition
add chain bridge nh_partition cut { type filter hook forward priority 0; policy accept; }
add rule bridge nh_partition cut iifname "$p" oifname { $set } drop
add rule bridge nh_partition cut iifname { $set } oifname "$p" drop
EOF
	nh_log "partition: $p | ${set//\"/}"
}

heal() {
	if ip netns exec "$NH_NS_SW" nft list table bridge nh_partition >/dev/null 2>&1; then
		ip netns exec "$NH_NS_SW" nft delete table bridge nh_partition || nh_fail "heal: nft"
	fi
	nh_log "healed"
}

# node_kill9 i: every process in host i's network namespace but the delay
# helper; returns once they are gone (bounded).
node_kill9() {
	local i=$1 p pids=() all=() deadline
	nh__check_host "$i"
	# A few passes: a process may fork while the first pass runs.
	for _ in 1 2 3; do
		pids=()
		for p in $(ip netns pids "$(nh_ns "$i")"); do
			[ "$p" = "${NH_DELAY_PID[$i]:-}" ] || pids+=("$p")
		done
		[ "${#pids[@]}" -gt 0 ] || break
		all+=("${pids[@]}")
		for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
		deadline=$(($(nh_now_ms) + 5000))
		for p in "${pids[@]}"; do
			while nh__alive "$p"; do
				[ "$(nh_now_ms)" -lt "$deadline" ] ||
					nh_fail "node_kill9 $i: pid $p still there 5 s after kill -9"
				sleep 0.02
			done
		done
	done
	nh_log "host $i: kill -9 of ${#all[@]} processes${all[*]:+ (${all[*]})}"
}

node_stop_pids() {
	local pid
	pid=$(node_pid "$1") || nh_fail "node_stop_pids $1: no backstay daemon of host $1 runs"
	kill -STOP "$pid"
	nh_log "host $1: SIGSTOP backstay (pid $pid)"
}

node_cont_pids() {
	local pid
	pid=$(node_pid "$1") || nh_fail "node_cont_pids $1: no backstay daemon of host $1 runs"
	kill -CONT "$pid"
	nh_log "host $1: SIGCONT backstay (pid $pid)"
}

delay_add() {
	local i=$1 ms=$2 dir=${3:-both} ns peers="" j
	nh__check_host "$i"
	[[ $ms =~ ^[0-9]+$ ]] || nh_fail "delay_add: '$ms' is not a number of ms"
	[[ $dir =~ ^(both|out)$ ]] || nh_fail "delay_add: direction both or out, not '$dir'"
	[ -x "${NFQDELAY:-}" ] || nh_fail "delay_add: NFQDELAY (test/fault/nfqdelay) not set or not built"
	[ -z "${NH_DELAY_PID[$i]:-}" ] || delay_clear "$i"
	ns=$(nh_ns "$i")
	for ((j = 1; j <= NH_N; j++)); do [ "$j" = "$i" ] || peers+="${peers:+,}$(host_ip "$j")"; done
	: >"$NH_TMP/nfqdelay-n$i.log"
	ip netns exec "$ns" "$NFQDELAY" "$NH_QNUM" "$ms" >"$NH_TMP/nfqdelay-n$i.log" 2>&1 &
	NH_DELAY_PID[$i]=$!
	nh_wait 5 "nfqdelay on host $i ready" grep -q '^ready' "$NH_TMP/nfqdelay-n$i.log"
	# --queue-bypass: should the helper be gone, packets pass undelayed
	# instead of being dropped.
	ip netns exec "$ns" iptables -w 5 -N NH_DELAY_OUT
	ip netns exec "$ns" iptables -w 5 -A NH_DELAY_OUT -d "$peers" -j NFQUEUE \
		--queue-num "$NH_QNUM" --queue-bypass
	ip netns exec "$ns" iptables -w 5 -A OUTPUT -j NH_DELAY_OUT
	if [ "$dir" = both ]; then
		ip netns exec "$ns" iptables -w 5 -N NH_DELAY_IN
		ip netns exec "$ns" iptables -w 5 -A NH_DELAY_IN -s "$peers" -j NFQUEUE \
			--queue-num "$NH_QNUM" --queue-bypass
		ip netns exec "$ns" iptables -w 5 -A INPUT -j NH_DELAY_IN
	fi
	if [ "$dir" = both ]; then
		nh_log "host $i: +$ms ms on its packets to $peers and on theirs to it"
	else
		nh_log "host $i: +$ms ms on its packets to $peers"
	fi
}

delay_clear() {
	local i=$1 ns pid c deadline
	nh__check_host "$i"
	ns=$(nh_ns "$i")
	for c in OUTPUT:NH_DELAY_OUT INPUT:NH_DELAY_IN; do
		if ip netns exec "$ns" iptables -w 5 -n -L "${c#*:}" >/dev/null 2>&1; then
			ip netns exec "$ns" iptables -w 5 -D "${c%%:*}" -j "${c#*:}"
			ip netns exec "$ns" iptables -w 5 -F "${c#*:}"
			ip netns exec "$ns" iptables -w 5 -X "${c#*:}"
		fi
	done
	pid=${NH_DELAY_PID[$i]:-}
	NH_DELAY_PID[$i]=
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(nh_now_ms) + 3000))
	while nh__alive "$pid" && [ "$(nh_now_ms)" -lt "$deadline" ]; do sleep 0.02; done
	if nh__alive "$pid"; then
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		nh_fail "delay_clear $i: nfqdelay ignored SIGTERM for 3 s"
	fi
	wait "$pid" 2>/dev/null || nh_fail "delay_clear $i: nfqdelay: $(tail -n 3 "$NH_TMP/nfqdelay-n$i.log")"
	nh_log "host $i: delay removed ($(tail -n 1 "$NH_TMP/nfqdelay-n$i.log"))"
}
