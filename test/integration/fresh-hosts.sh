#!/usr/bin/env bash
# fresh-hosts.sh: three "fresh hosts" the way an operator meets them, with
# every default in place: each node is a network namespace on a bridge (own
# address, default ports 2380 and 2379) plus a private mount and UTS
# namespace in which /etc/backstay, /var/lib/backstay and /var/log/backstay
# are empty directories of this run and the host name is backend-N.
#
#   backend-1: /etc/backstay/backstay.rb holds publish_address only;
#              `backstay create-cluster` with no flags
#   backend-2: no configuration file at all; `backstay join-cluster IP -p IP
#              -s FILE` writes it
#   backend-3: the same through the `chef-backend-ctl` name, with -i eth0
#
# Then, from a fourth namespace standing in for a Chef frontend: the member
# list on port 2379 (what `chef-server-ctl reconfigure` reads) and the
# chef-server.rb that gen-server-config writes for it.
#
# Safety: traffic only inside the namespaces this run creates (every command
# runs through `ip netns exec`); the root namespace gets no address, route
# or link. Bounded waits. On every exit path: the daemons this run started
# (their pidfiles) are killed, then the namespaces deleted; a run killed
# before its trap ran is cleaned up by the next (namespaces named
# bsfh-<owner pid>-*, owner gone). Needs root, iproute2, unshare: else
# exit 77.
set -euo pipefail

: "${BACKSTAY:?}"
[ "$(id -u)" -eq 0 ] || { echo "fresh-hosts: skipped: needs root (namespaces, mounts)"; exit 77; }
command -v ip >/dev/null && command -v unshare >/dev/null ||
	{ echo "fresh-hosts: skipped: needs iproute2 and unshare"; exit 77; }

PREFIX=bsfh
ME=$$
NS_SW=$PREFIX-$ME-sw
NS_FE=$PREFIX-$ME-fe
T0=$(date +%s%3N)
log() { echo "[$(($(date +%s%3N) - T0)) ms] fresh-hosts: $*"; }
fail() {
	echo "FAIL: fresh-hosts: $*" >&2
	for i in 1 2 3; do
		[ -f "$TMP/n$i/log/backstay.log" ] || continue
		echo "---- backend-$i log (last 30 lines)" >&2
		tail -n 30 "$TMP/n$i/log/backstay.log" >&2
	done
	exit 1
}
ns() { echo "$PREFIX-$ME-n$1"; }

# Kill what runs in namespace $1 (our own processes: the namespace is ours)
# and delete it.
ns_remove() {
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	ip netns del "$1" 2>/dev/null || true
}

clean_leftovers() {
	local n owner
	for n in $(ip netns list | awk '{print $1}' | grep "^$PREFIX-" || true); do
		owner=$(cut -d- -f2 <<<"$n")
		kill -0 "$owner" 2>/dev/null && continue
		ns_remove "$n"
	done
	for n in /tmp/backstay-fh.*; do
		[ -d "$n" ] && [ -f "$n/owner" ] && ! kill -0 "$(cat "$n/owner")" 2>/dev/null &&
			rm -rf "$n"
	done
	return 0
}

cleanup() {
	local rc=$? i pid
	trap - EXIT INT TERM
	for i in 1 2 3; do
		pid=$(cat "$TMP/n$i/lib/backstay.pid" 2>/dev/null) || continue
		# Only a daemon of this run: its pidfile is ours and it runs backstay.
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'backstay run'; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	for i in 1 2 3; do ns_remove "$(ns "$i")"; done
	ns_remove "$NS_FE"
	ns_remove "$NS_SW"
	for d in "${MADE_DIRS[@]}"; do rmdir "$d" 2>/dev/null || true; done # only if still empty
	rm -rf "$TMP"
	exit "$rc"
}

declare -a MADE_DIRS=()
clean_leftovers
TMP=$(mktemp -d /tmp/backstay-fh.XXXXXX)
echo $ME >"$TMP/owner"
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the network: a bridge in a switch namespace, one veth per host -------------
NET=10.89.$((RANDOM % 250 + 1))
ip netns add "$NS_SW"
ip -n "$NS_SW" link set lo up
ip -n "$NS_SW" link add br0 type bridge
ip -n "$NS_SW" link set br0 up
host_ip() { echo "$NET.1$1"; } # backend-i: .11 .12 .13; the frontend: .19
for i in 1 2 3 9; do
	n=$([ "$i" = 9 ] && echo "$NS_FE" || ns "$i")
	ip netns add "$n"
	ip -n "$NS_SW" link add "p$i" type veth peer name eth0 netns "$n"
	ip -n "$NS_SW" link set "p$i" master br0
	ip -n "$NS_SW" link set "p$i" up
	ip -n "$n" link set lo up
	ip -n "$n" addr add "$(host_ip "$i")/24" dev eth0
	ip -n "$n" link set eth0 up
done
log "hosts on $NET.0/24"

# on i CMD...: run CMD on backend-i: its network namespace, a private mount
# and UTS namespace with this run's /etc/backstay, /var/lib/backstay,
# /var/log/backstay, host name backend-i. A daemon it starts stays in them.
for i in 1 2 3; do mkdir -p "$TMP/n$i/etc" "$TMP/n$i/lib" "$TMP/n$i/log"; done
# The mount points must exist on the real filesystem: the ones this run
# creates are removed again (if still empty) at cleanup.
for d in /etc/backstay /var/lib/backstay /var/log/backstay; do
	if [ ! -e "$d" ]; then
		mkdir -p "$d"
		MADE_DIRS+=("$d")
	fi
done
on() {
	local i=$1
	shift
	ip netns exec "$(ns "$i")" unshare -m -u --propagation private bash -c '
		set -e
		d=$1; shift
		mount --bind "$d/etc" /etc/backstay
		mount --bind "$d/lib" /var/lib/backstay
		mount --bind "$d/log" /var/log/backstay
		hostname "$1"; shift
		exec "$@"' on "$TMP/n$i" "backend-$i" "$@"
}

# ---- backend-1: create-cluster with the defaults ------------------------------
echo "publish_address '$(host_ip 1)'" >"$TMP/n1/etc/backstay.rb"
out=$(on 1 "$BACKSTAY" create-cluster --accept-license --yes 2>&1) || fail "create-cluster: $out"
grep -q "ok: created a cluster with backend-1 ($(host_ip 1):2380)" <<<"$out" || fail "create-cluster said: $out"
[ "$(stat -c %a "$TMP/n1/etc/secrets.json")" = 600 ] || fail "/etc/backstay/secrets.json is not 0600"
[ -f "$TMP/n1/lib/node.json" ] && [ -f "$TMP/n1/lib/consensus/data.mdb" ] ||
	fail "create-cluster did not write /var/lib/backstay/{node.json,consensus}"
[ -s "$TMP/n1/log/backstay.log" ] || fail "no /var/log/backstay/backstay.log"
cp "$TMP/n1/etc/secrets.json" "$TMP/shared-secrets.json" # what the operator copies over
log "backend-1: create-cluster with /etc/backstay/backstay.rb = publish_address only"

# ---- backend-2 and -3: join-cluster on hosts with no configuration -------------
out=$(on 2 "$BACKSTAY" join-cluster "$(host_ip 1)" -p "$(host_ip 2)" -s "$TMP/shared-secrets.json" 2>&1) ||
	fail "join backend-2: $out"
grep -q "ok: backend-2 ($(host_ip 2):2380) joined" <<<"$out" || fail "join backend-2 said: $out"
grep -qx "publish_address '$(host_ip 2)'" "$TMP/n2/etc/backstay.rb" || fail "backend-2's config: $(cat "$TMP/n2/etc/backstay.rb")"
cmp -s "$TMP/shared-secrets.json" "$TMP/n2/etc/secrets.json" || fail "secrets not copied to /etc/backstay on backend-2"
ln -sf "$BACKSTAY" "$TMP/chef-backend-ctl"
out=$(on 3 "$TMP/chef-backend-ctl" join-cluster "$(host_ip 2)" -p "$(host_ip 3)" -i eth0 \
	--secrets-file-path "$TMP/shared-secrets.json" --accept-license --yes --quiet 2>&1) ||
	fail "join backend-3: $out"
grep -q "vip_interface 'eth0'" "$TMP/n3/etc/backstay.rb" || fail "backend-3's config: $(cat "$TMP/n3/etc/backstay.rb")"
log "backend-2 and backend-3 joined from empty hosts (-p, -i written to /etc/backstay/backstay.rb)"

# cluster-status on backend-2 (its own member list: it may apply the last
# join's metadata a moment after backend-3 did).
three_members() {
	local out
	out=$(on 2 "$BACKSTAY" cluster-status --json) || return 1
	python3 - "$out" "$NET" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); net = sys.argv[2]
got = sorted((x["name"], x["ip"]) for x in d["nodes"] if x["reachable"] and x["voter"])
assert got == [("backend-%d" % i, "%s.1%d" % (net, i)) for i in (1, 2, 3)], got
PY
}
deadline=$(($(date +%s) + 10))
until three_members 2>/dev/null; do
	[ "$(date +%s)" -lt "$deadline" ] || { three_members || true; fail "cluster-status on backend-2"; }
	sleep 0.1
done

# ---- a frontend's view: member discovery on 2379, chef-server.rb ---------------
disc() {
	ip netns exec "$NS_FE" python3 - "$(host_ip 3)" "$NET" <<'PY'
import json, sys, urllib.request
host, net = sys.argv[1], sys.argv[2]
m = json.load(urllib.request.urlopen("http://%s:2379/v2/members" % host, timeout=5))["members"]
got = sorted((x["name"], x["peerURLs"][0]) for x in m)
assert got == [("backend-%d" % i, "http://%s.1%d:2380" % (net, i)) for i in (1, 2, 3)], got
PY
}
deadline=$(($(date +%s) + 10))
until disc 2>/dev/null; do
	[ "$(date +%s)" -lt "$deadline" ] || { disc || true; fail "member discovery from the frontend namespace"; }
	sleep 0.1
done
on 3 "$BACKSTAY" gen-server-config fe1.example.com -f /etc/backstay/chef-server.rb >/dev/null ||
	fail "gen-server-config"
for i in 1 2 3; do
	grep "^chef_backend_members" "$TMP/n3/etc/chef-server.rb" | grep -qF "'$(host_ip "$i")'" ||
		fail "chef-server.rb lacks backend-$i"
done
log "a frontend namespace reads the three members on :2379; gen-server-config lists them"

out=$(on 1 "$BACKSTAY" status) || fail "status: $out"
grep -qE "^consensus .*health: green; healthy nodes: 3/3" <<<"$out" || fail "status: $out"

# A clean stop of every node (a sanitizer build reports leaks at exit).
for i in 1 2 3; do on "$i" "$BACKSTAY" stop >/dev/null || fail "stop backend-$i"; done
if grep -qE "runtime error:|ERROR: (Address|Leak)Sanitizer" "$TMP"/n*/log/backstay.log; then
	fail "sanitizer report in a node's log"
fi
log "PASS"
