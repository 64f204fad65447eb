#!/usr/bin/env bash
# pg-vip.sh: the VIP (vip, vip_interface) and a stock Chef frontend's HAProxy
# in front of three netns hosts with real PostgreSQL 15 (pg_cluster.sh).
#
#   vip   = NET.100 (unused in the hosts' /24), vip_interface = eth0
#   haproxy (Debian's) in the client namespace, configured as a Chef Infra
#   Server frontend configures it for chef-backend (haproxy.cfg.erb of
#   chef-server's infra-server cookbook): TCP 5432 and 9200 on 127.0.0.1 to
#   every backend, option httpchk GET /leader on 7331, inter 2s rise 1 fall
#   1, on-marked-down shutdown-sessions; run in the foreground, by pid.
#
# Before any writes:
#   start-up  the VIP added by hand on a follower whose backstay is stopped:
#             started again, it removes it (log line "at start")
#   running   the VIP added by hand on a running follower: its next health
#             check removes it; removed by hand from the leader: put back
#             at once and announced ("was missing")
# Then, with a sampler reading every host's addresses every 50 ms, and two
# pgwrite --direct clients in the client namespace (one to the VIP, one to
# HAProxy), three faults of the leader, one after the other:
#   kill       kill -9 of its node (the node started again afterwards)
#   partition  cut off from the other hosts (healed afterwards)
#   demote     backstay demote
# After each: a new leader; writes resume through the VIP and through
# HAProxy, and land on the new leader's PostgreSQL (cluster_name); the
# client's neighbour entry for the VIP holds the new leader's MAC; HAProxy
# shows exactly the new leader UP in both backends. At the end: no sample
# ever saw two hosts holding the VIP, and every acknowledged row is there.
#
# Safety: netns_lib.sh (traffic only inside this run's namespaces, bounded
# waits, cleanup on every exit, leftovers of killed runs removed first);
# haproxy, the writers and the sampler are ended by pid.
# Needs root, PostgreSQL 15 and haproxy: else exit 77.
set -euo pipefail

: "${BACKSTAY:?}" "${PGWRITE:?}" "${CTL_STATUS:?}"
[ "$(id -u)" -eq 0 ] || { echo "pg-vip: skipped: needs root (namespaces)"; exit 77; }
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "pg-vip: skipped: no PostgreSQL 15"; exit 77; }
id postgres >/dev/null 2>&1 || { echo "pg-vip: skipped: no postgres OS user"; exit 77; }
HAPROXY=${HAPROXY:-$(command -v haproxy || true)}
[ -n "$HAPROXY" ] || { echo "pg-vip: skipped: no haproxy (scripts/setup.sh installs it)"; exit 77; }

HERE=$(cd "$(dirname "$0")" && pwd)
NH_PREFIX=bspv
NH_NAME=pg-vip
# shellcheck source=netns_lib.sh
. "$HERE/netns_lib.sh"
# shellcheck source=pg_cluster.sh
. "$HERE/pg_cluster.sh"
# shellcheck source=pg_vip_lib.sh
. "$HERE/pg_vip_lib.sh"

# cluster_name of the PostgreSQL that ADDR[:PORT] reaches, from the client.
served_by() {
	local host=${1%:*} port=5432
	[ "$host" = "$1" ] || port=${1##*:}
	PGPASSWORD=$(pgc_password) on_fe "$PGC_BIN/psql" -X -q -At \
		"host=$host port=$port user=chef_pgsql dbname=postgres connect_timeout=2" \
		-c "show cluster_name" 2>/dev/null
}

# One fault of the leader under the two writers, and every check after it.
: >"$NH_TMP/runs"
pv_round() {
	local fault=$1 old new c_vip c_hap t0 t_new mac want
	old=$(pgc_wait_leader 0 60) || nh_fail "$fault: no leader before the fault"
	pv_writer_start vip "$VIP" "vip_$fault"
	pv_writer_start hap 127.0.0.1:5432 "hap_$fault"
	nh_wait 20 "$fault: writes through the VIP before the fault" bash -c "[ \$(wc -l <${PV_WDIR[vip]}/acked) -ge 20 ]"
	nh_wait 20 "$fault: writes through HAProxy before the fault" bash -c "[ \$(wc -l <${PV_WDIR[hap]}/acked) -ge 20 ]"
	t0=$(nh_now_ms)
	case $fault in
	kill) node_kill9 "$old" ;;
	partition) partition "$old" ;;
	demote) out=$(on "$old" "$BACKSTAY" demote 2>&1) || nh_fail "demote: $out" ;;
	esac
	new=$(pgc_wait_leader "$old" 30) || nh_fail "$fault: no new leader"
	t_new=$(($(nh_now_ms) - t0))
	# From here the old leader has fenced (or is dead): an acknowledgement
	# now is the new leader's.
	c_vip=$(pv_acked vip) c_hap=$(pv_acked hap)
	nh_wait 20 "$fault: writes through the VIP to resume" bash -c "[ \$(wc -l <${PV_WDIR[vip]}/acked) -gt $c_vip ]"
	t_vip=$(($(nh_now_ms) - t0))
	nh_wait 20 "$fault: writes through HAProxy to resume" bash -c "[ \$(wc -l <${PV_WDIR[hap]}/acked) -gt $c_hap ]"
	t_hap=$(($(nh_now_ms) - t0))
	want=$(pgc_sql "$new" "show cluster_name")
	[ "$(served_by "$VIP")" = "$want" ] || nh_fail "$fault: the VIP reaches '$(served_by "$VIP")', not backend-$new ($want)"
	# The old leader stays UP in HAProxy until its next check (inter 2s): a
	# new connection may still reach it (a standby now, refusing writes).
	nh_wait 10 "$fault: HAProxy to show backend-$new alone UP" pv_hap_only "$new"
	[ "$(served_by 127.0.0.1:5432)" = "$want" ] || nh_fail "$fault: HAProxy reaches '$(served_by 127.0.0.1:5432)', not backend-$new ($want)"
	mac=$(pv_mac "$new")
	nh_wait 5 "$fault: the client's neighbour entry for $VIP to hold backend-$new's MAC $mac" \
		bash -c "ip -n $NH_NS_FE neigh show $VIP dev eth0 | grep -q 'lladdr $mac'"
	[ "$(pv_holders)" = "$new" ] || nh_fail "$fault: VIP holders '$(pv_holders)', expected backend-$new"
	nh_log "$fault of backend-$old: backend-$new serves after $t_new ms; writes again through the VIP after $t_vip ms, through HAProxy after $t_hap ms (polled); the client's ARP entry: $mac"
	pv_writer_stop vip
	pv_writer_stop hap
	nh_log "$fault: VIP writer: $(grep -m1 outage_ms "${PV_WDIR[vip]}/out" || echo 'no outage'); $(grep summary "${PV_WDIR[vip]}/out")"
	nh_log "$fault: HAProxy writer: $(grep -m1 outage_ms "${PV_WDIR[hap]}/out" || echo 'no outage'); $(grep summary "${PV_WDIR[hap]}/out")"
	echo "vip_$fault ${PV_WDIR[vip]}" >>"$NH_TMP/runs"
	echo "hap_$fault ${PV_WDIR[hap]}" >>"$NH_TMP/runs"
	case $fault in
	kill)
		on "$old" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$old"
		;;
	partition) heal ;;
	esac
	pgc_wait_state "$old" follower 120 || nh_fail "$fault: backend-$old did not follow again: $(pgc_state "$old")"
	pv_holds "$old" && nh_fail "$fault: backend-$old, a follower again, holds the VIP"
	nh_log "$fault: backend-$old follows again, without the VIP"
}

pv_verify_all() {
	local t d
	while read -r t d; do
		PGC_TABLE=$t PGC_W=$d
		nh_log "$t: $(pgc_verify)"
	done <"$NH_TMP/runs"
}

NH_CLEANUP_HOOK=pv_cleanup
nh_setup 3
VIP=$NH_NET.100
pgc_up 3 "vip '$VIP'" "vip_interface 'eth0'"
leader=$(pgc_wait_leader) || nh_fail "no leader"
nh_wait 10 "the VIP on backend-$leader" pv_holds "$leader"
[ "$(pv_holders)" = "$leader" ] || nh_fail "VIP holders: '$(pv_holders)', expected backend-$leader alone"
nh_log "backend-$leader leads and holds $VIP"

# ---- the VIP where it does not belong --------------------------------------
f=$((leader % 3 + 1))
on "$f" "$BACKSTAY" stop >/dev/null || nh_fail "backstay stop on backend-$f"
ip -n "$(nh_ns "$f")" addr add "$VIP/24" dev eth0
on "$f" "$BACKSTAY" start >/dev/null || nh_fail "backstay start on backend-$f"
nh_wait 20 "backend-$f to remove the VIP at start" pv_log_has "$f" "was on eth0 at start"
pv_holds "$f" && nh_fail "backend-$f still holds the VIP after its start"
pgc_wait_state "$f" follower 60 || nh_fail "backend-$f did not follow again: $(pgc_state "$f")"
nh_log "backend-$f, started with the VIP on eth0, removed it: $(pv_log_line "$f" "at start")"

ip -n "$(nh_ns "$f")" addr add "$VIP/24" dev eth0
nh_wait 5 "backend-$f's health check to remove the VIP" bash -c "! ip -n $(nh_ns "$f") -o addr show dev eth0 | grep -qF 'inet $VIP/'"
pv_log_has "$f" "on a health check" || nh_fail "backend-$f removed the VIP without its log line"
nh_log "backend-$f (running, a follower) removed a VIP added by hand on its next health check"

ip -n "$(nh_ns "$leader")" addr del "$VIP/24" dev eth0
nh_wait 5 "backend-$leader to put the VIP back" pv_holds "$leader"
pv_log_has "$leader" "was missing from eth0" || nh_fail "backend-$leader put the VIP back without its log line"
nh_log "backend-$leader put back the VIP removed by hand: $(pv_log_line "$leader" "was missing")"

# ---- HAProxy, the sampler ---------------------------------------------------
pv_haproxy_start
nh_wait 10 "HAProxy to mark backend-$leader UP, alone" pv_hap_only "$leader"
nh_log "haproxy (pid $PV_HAP_PID): backend$leader alone UP in both backends"
pv_sampler_start

# ---- faults ------------------------------------------------------------------
for fault in kill partition demote; do
	pv_round "$fault"
done

# ---- the end --------------------------------------------------------------------
pv_sampler_stop
pv_verify_all
nh_log "PASS"
