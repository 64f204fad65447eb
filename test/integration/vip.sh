#!/usr/bin/env bash
# vip.sh: the vip/ adapter against the real kernel, in two network namespaces
# of its own joined by a veth pair:
#
#   a (the node)      eth0  10.88.X.1/24  fd88:X::1/64   runs vip_test
#   b (the observer)  eth0  10.88.X.2/24  fd88:X::2/64   runs vip_capture
#
# X is random per run. Checks: add/present/del and their idempotence (vip_test
# cycle, against vip_present and getifaddrs, and `ip -n a addr` here); every
# refusal (vip_test errors); the observer sees exactly N gratuitous ARPs and
# N unsolicited NAs with the right fields, and its neighbour table, seeded
# with a wrong MAC, follows the VIP to a's MAC before b sends anything; a ping
# from b then reaches the VIP.
#
# Safety: all traffic stays inside the two namespaces (every command goes
# through `ip -n` or `ip netns exec`; nothing addresses 10.88.x.x from the
# root namespace). Every wait is bounded. On every exit path the trap kills
# the processes this run started (by pid) and deletes its namespaces; a run
# killed before its trap ran is cleaned up by the next one (namespaces named
# bsvip-<owner pid>-..., whose owner is gone).
#
# Needs root, iproute2 and ping (scripts/setup.sh installs them); skips
# (exit 77) without root or namespaces. Env: VIP_TEST, VIP_CAPTURE (meson).
set -euo pipefail

: "${VIP_TEST:?}" "${VIP_CAPTURE:?}"

PREFIX=bsvip
N4=3   # IPv4: the config's announce_count is 0, so the default (3)
N6=4   # IPv6: announce_count 4
GAP_MS=50
T0=$(date +%s%N)
PASSED=0
CAP_PID=

log() { echo "[$(( ($(date +%s%N) - T0) / 1000000 )) ms] vip: $*"; }
pass() {
	PASSED=$((PASSED + 1))
	log "ok - $*"
}
fail() {
	echo "FAIL: vip: $*" >&2
	if [ -n "${TMP:-}" ] && [ -f "$TMP/cap.txt" ]; then
		echo "--- observer saw:" >&2
		cat "$TMP/cap.txt" >&2
	fi
	exit 1
}
skip() {
	echo "vip: skipped: $*"
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, CAP_NET_ADMIN)"
command -v ip >/dev/null || skip "needs iproute2's ip"
command -v ping >/dev/null || skip "needs ping (iputils-ping; scripts/setup.sh installs it)"

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# has REGEX COMMAND...: does COMMAND's output match the extended regex? The
# output is read whole first: `cmd | grep -q` lets cmd die of SIGPIPE when
# grep stops early, and pipefail then reports no match.
has() {
	local out
	out=$("${@:2}" 2>/dev/null) || true
	grep -qE -- "$1" <<<"$out"
}

# Processes inside namespace $1 that this script's helpers run: kill -9.
kill_ns_helpers() {
	local pid
	for pid in $(ip netns pids "$1" 2>/dev/null); do
		if has 'vip_(test|capture)' tr '\0' ' ' <"/proc/$pid/cmdline"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
}

# Namespaces and temp dirs of an earlier run that died before its trap.
clean_leftovers() {
	local ns owner d
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-[0-9]+-[0-9a-f]+-[ab]$" || true); do
		owner=${ns#"$PREFIX"-}
		owner=${owner%%-*}
		if kill -0 "$owner" 2>/dev/null &&
			has 'vip\.sh' tr '\0' ' ' <"/proc/$owner/cmdline"; then
			continue # that run is alive
		fi
		log "removing leftover namespace $ns (owner $owner is gone)"
		kill_ns_helpers "$ns"
		ip netns del "$ns" 2>/dev/null || true
	done
	for d in "${TMPDIR:-/tmp}/$PREFIX"-*; do
		[ -d "$d" ] || continue
		owner=${d##*/"$PREFIX"-}
		owner=${owner%%-*}
		kill -0 "$owner" 2>/dev/null || rm -rf "$d"
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$CAP_PID" ]; then
		kill -9 "$CAP_PID" 2>/dev/null || true
		wait "$CAP_PID" 2>/dev/null || true
	fi
	kill_ns_helpers "$NSA"
	kill_ns_helpers "$NSB"
	ip netns del "$NSA" 2>/dev/null || true
	ip netns del "$NSB" 2>/dev/null || true
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
	exit "$rc"
}

clean_leftovers
RUN=$PREFIX-$$-$(rand_hex 3)
NSA=$RUN-a
NSB=$RUN-b
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
TMP=${TMPDIR:-/tmp}/$RUN
mkdir -p "$TMP"

X=$(( 0x$(rand_hex 1) % 250 + 1 ))
NET4=10.88.$X.0/24
NET6=fd88:$X::/64
VIP4=10.88.$X.100
VIP6=fd88:$X::100
BOGUS_MAC=00:00:5e:00:53:01 # RFC 7042 documentation range

in_a() { ip netns exec "$NSA" "$@"; }
in_b() { ip netns exec "$NSB" "$@"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 20 ms until COMMAND
# succeeds, or fail after SECONDS.
wait_for() {
	local secs=$1 what=$2 _
	shift 2
	for _ in $(seq $((secs * 50))); do
		"$@" && return 0
		sleep 0.02
	done
	fail "waited ${secs} s for $what"
}

# ---- the two hosts ------------------------------------------------------
ip netns add "$NSA" || skip "cannot create network namespaces"
ip netns add "$NSB"
ip -n "$NSA" link add eth0 type veth peer name eth0 netns "$NSB"
ip -n "$NSA" link set lo up
ip -n "$NSB" link set lo up
ip -n "$NSA" addr add "10.88.$X.1/24" dev eth0
ip -n "$NSA" addr add "fd88:$X::1/64" dev eth0 nodad
ip -n "$NSB" addr add "10.88.$X.2/24" dev eth0
ip -n "$NSB" addr add "fd88:$X::2/64" dev eth0 nodad
ip -n "$NSA" link set eth0 up
ip -n "$NSB" link set eth0 up
MAC_A=$(ip -n "$NSA" -o link show eth0 | sed -n 's|.*link/ether \([0-9a-f:]*\) .*|\1|p')
[ -n "$MAC_A" ] || fail "no MAC on $NSA's eth0"
log "namespaces $NSA (node, eth0 $MAC_A) and $NSB (observer), networks $NET4 $NET6"

addr_text() { ip -n "$NSA" -o addr show dev eth0; }

# ---- add / present / del ------------------------------------------------
in_a "$VIP_TEST" cycle eth0 "$VIP4" 24 || fail "IPv4 add/present/del cycle"
pass "IPv4 cycle: add, present, add again, del, del again"
in_a "$VIP_TEST" cycle eth0 "$VIP6" 64 || fail "IPv6 add/present/del cycle"
pass "IPv6 cycle: add, present, add again, del, del again"

# ---- refusals -----------------------------------------------------------
in_a "$VIP_TEST" errors eth0 "$VIP4" "$VIP6" "$NET4" "$NET6" || fail "error cases"
pass "errors: -ENODEV, -EADDRNOTAVAIL, -EINVAL, -EOPNOTSUPP, -EPERM, no crash"

# ---- a lifetime: kept by renewals, dropped by the kernel without them -----
# (the daemon renews on each confirmed lease renewal, so that a holder killed
# with -9 loses the VIP before its lease can end elsewhere). Both families at
# once: each takes about 3 s.
in_a "$VIP_TEST" lifetime eth0 "$VIP4" >"$TMP/life4" 2>&1 &
l4=$!
in_a "$VIP_TEST" lifetime eth0 "$VIP6" >"$TMP/life6" 2>&1 || fail "IPv6 lifetime: $(cat "$TMP/life6")"
wait "$l4" || fail "IPv4 lifetime: $(cat "$TMP/life4")"
pass "lifetime: renewed it stays, unrenewed the kernel drops it ($(grep -o 'removed it [0-9]* ms' "$TMP/life4"), IPv6 $(grep -o 'removed it [0-9]* ms' "$TMP/life6"))"

# ---- del removes every entry of the VIP ---------------------------------
ip -n "$NSA" addr add "$VIP4/32" dev eth0
ip -n "$NSA" addr add "$VIP4/24" dev eth0
[ "$(addr_text | grep -c "inet $VIP4/")" -eq 2 ] || fail "could not set up two entries"
in_a "$VIP_TEST" del eth0 "$VIP4" || fail "del of a doubly held VIP"
has "inet $VIP4/" addr_text && fail "an entry of $VIP4 survived del: $(addr_text)"
pass "del removes both entries (/32 and /24) of the VIP"

# ---- add, as ip sees it ---------------------------------------------------
in_a "$VIP_TEST" add eth0 "$VIP4" || fail "add $VIP4"
in_a "$VIP_TEST" add eth0 "$VIP6" || fail "add $VIP6"
has "inet $VIP4/24 .*secondary" addr_text || fail "ip addr lacks $VIP4/24 secondary: $(addr_text)"
has "inet6 $VIP6/64 .*nodad" addr_text || fail "ip addr lacks $VIP6/64 nodad: $(addr_text)"
pass "ip -n a addr: $VIP4/24 secondary, $VIP6/64 nodad"

# ---- announcements ---------------------------------------------------------
# A fresh interface's IPv6 multicast route (ff00::/8, table local) appears
# only after the kernel's link watch has seen the carrier, up to ~1 s after
# link up; until then b drops every packet to ff02::1 (Ip6InNoRoutes).
b_mroute() { has '^multicast ff00::/8 dev eth0' ip -6 -n "$NSB" route show table local; }
wait_for 5 "b's IPv6 multicast route" b_mroute

# b knows the VIP at a wrong MAC: only the announcements can correct that
# before b sends anything (arp_accept=0: neighbours update, never create).
ip -n "$NSB" neigh replace "$VIP4" lladdr "$BOGUS_MAC" dev eth0 nud stale
ip -n "$NSB" neigh replace "$VIP6" lladdr "$BOGUS_MAC" dev eth0 nud stale

in_b "$VIP_CAPTURE" eth0 10000 >"$TMP/cap.txt" 2>"$TMP/cap.err" &
CAP_PID=$!
cap_ready() { grep -q '^ready$' "$TMP/cap.txt" || ! kill -0 "$CAP_PID" 2>/dev/null; }
wait_for 5 "the observer" cap_ready
grep -q '^ready$' "$TMP/cap.txt" || fail "observer not ready: $(cat "$TMP/cap.err")"

in_a "$VIP_TEST" announce eth0 "$VIP4" 0 "$GAP_MS" || fail "announce $VIP4"
in_a "$VIP_TEST" announce eth0 "$VIP6" "$N6" "$GAP_MS" || fail "announce $VIP6"
in_a "$VIP_TEST" end eth0 || fail "end marker"
rc=0
wait "$CAP_PID" || rc=$?
CAP_PID=
[ "$rc" -eq 0 ] || fail "observer: rc=$rc $(cat "$TMP/cap.err")"

GARP_OK="garp dst=ff:ff:ff:ff:ff:ff src=$MAC_A sha=$MAC_A spa=$VIP4 tpa=$VIP4 tha=00:00:00:00:00:00"
n_all=$(grep -c "^garp .* spa=$VIP4 " "$TMP/cap.txt" || true)
n_ok=$(grep -cxF "$GARP_OK" "$TMP/cap.txt" || true)
if [ "$n_all" -ne "$N4" ] || [ "$n_ok" -ne "$N4" ]; then
	fail "wanted $N4 gratuitous ARPs like '$GARP_OK'; saw $n_all for $VIP4, $n_ok right"
fi
pass "observer saw exactly $N4 gratuitous ARPs: sender IP = target IP = $VIP4, sender MAC $MAC_A"

NA_OK="na dst=33:33:00:00:00:01 src=$MAC_A ip6src=$VIP6 ip6dst=ff02::1 hlim=255 code=0 r=0 s=0 o=1 target=$VIP6 tlla=$MAC_A cksum=ok"
n_all=$(grep -c "^na .* target=$VIP6 " "$TMP/cap.txt" || true)
n_ok=$(grep -cxF "$NA_OK" "$TMP/cap.txt" || true)
if [ "$n_all" -ne "$N6" ] || [ "$n_ok" -ne "$N6" ]; then
	fail "wanted $N6 NAs like '$NA_OK'; saw $n_all for $VIP6, $n_ok right"
fi
pass "observer saw exactly $N6 NAs: O set, S clear, target $VIP6, TLLA $MAC_A, hop limit 255, checksum valid"

# ---- the observer's neighbour table follows --------------------------------
neigh_b() { ip -n "$NSB" neigh show "$1" dev eth0; }
has "lladdr $MAC_A" neigh_b "$VIP4" || fail "b's ARP entry for $VIP4 did not follow: $(neigh_b "$VIP4")"
has "lladdr $MAC_A" neigh_b "$VIP6" || fail "b's ND entry for $VIP6 did not follow: $(neigh_b "$VIP6")"
pass "b's neighbour table maps $VIP4 and $VIP6 to $MAC_A (was $BOGUS_MAC) before b sent anything"
in_b ping -c 1 -W 2 "$VIP4" >/dev/null || fail "ping $VIP4 from b"
in_b ping -6 -c 1 -W 2 "$VIP6" >/dev/null || fail "ping $VIP6 from b"
has "lladdr $MAC_A" neigh_b "$VIP4" || fail "after ping: $(neigh_b "$VIP4")"
has "lladdr $MAC_A" neigh_b "$VIP6" || fail "after ping: $(neigh_b "$VIP6")"
pass "ping from b reaches $VIP4 and $VIP6 at $MAC_A: $(neigh_b "$VIP4") / $(neigh_b "$VIP6")"

# ---- and off again ---------------------------------------------------------
in_a "$VIP_TEST" del eth0 "$VIP4" || fail "del $VIP4"
in_a "$VIP_TEST" del eth0 "$VIP6" || fail "del $VIP6"
has "inet6? ($VIP4|$VIP6)/" addr_text && fail "VIP still on eth0: $(addr_text)"
pass "del: neither VIP left on eth0"

log "$PASSED passed, 0 failed in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
