#!/usr/bin/env bash
# fresh-hosts.sh: three "fresh hosts" the way an operator meets them, with
# every default in place: each node is a network namespace on a bridge (own
# address, default ports 2380 and 2379) plus a private mount and UTS
# namespace in which /etc/backstay, /var/lib/backstay and /var/log/backstay
# are empty directories of this run and the host name is backend-N.
#
#   backend-1: /etc/backstay/backstay.rb holds publish_address and the VIP
#              (vip, vip_interface) only; `backstay create-cluster` with no
#              flags
#   backend-2: no configuration file at all; `backstay join-cluster IP -p IP
#              -s FILE` writes it (publish_address only: no -i, no vip)
#   backend-3: the same through the `chef-backend-ctl` name, with -i eth0:
#              its file also gets the cluster's vip, as chef-backend's did
#
# Then, from a fourth namespace standing in for a Chef frontend: the member
# list on port 2379 (what `chef-server-ctl reconfigure` reads) and the
# chef-server.rb that gen-server-config writes for it.
#
# Safety: traffic only inside the namespaces this run creates (every command
# runs through `ip netns exec`); the root namespace gets no address, route
# or link. Bounded waits. The hosts, their private directories and the
# cleanup on every exit path (and of a killed run's leftovers, namespaces
# bsfh-<owner pid>-*) come from netns_lib.sh. Needs root, iproute2,
# unshare: else exit 77.
set -euo pipefail

: "${BACKSTAY:?}"
[ "$(id -u)" -eq 0 ] || { echo "fresh-hosts: skipped: needs root (namespaces, mounts)"; exit 77; }
command -v ip >/dev/null && command -v unshare >/dev/null && command -v flock >/dev/null ||
	{ echo "fresh-hosts: skipped: needs iproute2, unshare and flock"; exit 77; }

NH_PREFIX=bsfh
NH_NAME=fresh-hosts
# shellcheck source=netns_lib.sh
. "$(dirname "$0")/netns_lib.sh"
log() { nh_log "$@"; }
fail() { nh_fail "$@"; }

# backend-i: NET.11 .. NET.13 in namespaces of their own, each with private
# /etc/backstay, /var/lib/backstay, /var/log/backstay (TMP/ni/{etc,lib,log})
# and host name backend-i (`on i CMD`); the frontend: NET.19 (`on_fe CMD`).
nh_setup 3
TMP=$NH_TMP
NET=$NH_NET

# ---- backend-1: create-cluster with the defaults ------------------------------
printf "publish_address '%s'\nvip '%s'\nvip_interface 'eth0'\n" "$(host_ip 1)" "$NET.100" >"$TMP/n1/etc/backstay.rb"
out=$(on 1 "$BACKSTAY" create-cluster --accept-license --yes 2>&1) || fail "create-cluster: $out"
grep -q "ok: created a cluster with backend-1 ($(host_ip 1):2380)" <<<"$out" || fail "create-cluster said: $out"
[ "$(stat -c %a "$TMP/n1/etc/secrets.json")" = 600 ] || fail "/etc/backstay/secrets.json is not 0600"
[ -f "$TMP/n1/lib/node.json" ] && [ -f "$TMP/n1/lib/consensus/data.mdb" ] ||
	fail "create-cluster did not write /var/lib/backstay/{node.json,consensus}"
[ -s "$TMP/n1/log/backstay.log" ] || fail "no /var/log/backstay/backstay.log"
cp "$TMP/n1/etc/secrets.json" "$TMP/shared-secrets.json" # what the operator copies over
log "backend-1: create-cluster with /etc/backstay/backstay.rb = publish_address and the VIP only"

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
grep -qx "vip_interface 'eth0'" "$TMP/n3/etc/backstay.rb" && grep -qx "vip '$NET.100'" "$TMP/n3/etc/backstay.rb" &&
	grep -qx "publish_address '$(host_ip 3)'" "$TMP/n3/etc/backstay.rb" ||
	fail "backend-3's config: $(cat "$TMP/n3/etc/backstay.rb")"
! grep -q "^vip" "$TMP/n2/etc/backstay.rb" || fail "backend-2 (joined without -i) got a vip: $(cat "$TMP/n2/etc/backstay.rb")"
log "backend-2 and backend-3 joined from empty hosts (-p, and -i with the cluster's vip, written to /etc/backstay/backstay.rb)"

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
	on_fe python3 - "$(host_ip 3)" "$NET" <<'PY'
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
