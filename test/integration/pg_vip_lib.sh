# shellcheck shell=bash
# pg_vip_lib.sh: the VIP and a stock frontend's HAProxy around a pg_cluster.sh
# cluster, for pg-vip.sh and scripts/pg-bench.sh. Sourced after netns_lib.sh
# and pg_cluster.sh; VIP must be set (NET.100, say) before use.
#
#   pv_holds i / pv_holders          host i holds the VIP / the hosts that do
#   pv_mac i / pv_fe_neigh_mac       host i's eth0 MAC / the client's
#                                    neighbour entry for the VIP
#   pv_haproxy_start                 haproxy in the client namespace, in the
#                                    foreground (PV_HAP_PID), config and
#                                    stats socket in NH_TMP/haproxy
#   pv_hap_only i                    exactly backend-i UP in both backends
#   pv_writer_start NAME ADDR TABLE  pgwrite --direct ADDR in the client ns
#   pv_writer_stop NAME              SIGTERM, wait; output in PV_WDIR[NAME]/out
#   pv_sampler_start / _stop         every host's addresses every 50 ms;
#                                    _stop fails the run if any sample saw two
#                                    holders
#   pv_cleanup                       ends all of the above by pid (the
#                                    NH_CLEANUP_HOOK)
#
# HAProxy's configuration is the one chef-server's infra-server cookbook
# renders for a frontend with use_chef_backend (templates/default/
# haproxy.cfg.erb: its defaults, two TCP frontends, and per backend `option
# httpchk GET /leader` checked on leaderl's port with `default-server inter
# 2s rise 1 fall 1`, plus `on-marked-down shutdown-sessions` for
# PostgreSQL), with this run's addresses: listen 127.0.0.1, members the
# hosts, ports 5432 / 9200 / 7331.

PV_HAP_PID=
PV_SAMPLER_PID=
declare -A PV_WPID=() PV_WDIR=()

# No pipe into grep -q: with pipefail, grep leaving early can SIGPIPE ip
# and turn a match into a failure.
pv_holds() {
	local a
	a=$(ip -n "$(nh_ns "$1")" -o addr show dev eth0 2>/dev/null) || return 1
	grep -qF "inet $VIP/" <<<"$a"
}

pv_holders() {
	local i out=""
	for ((i = 1; i <= NH_N; i++)); do pv_holds "$i" && out+=$i; done
	echo "$out"
}

pv_mac() { ip -n "$(nh_ns "$1")" -o link show eth0 | sed -n 's|.*link/ether \([0-9a-f:]*\) .*|\1|p'; }
pv_fe_neigh_mac() { ip -n "$NH_NS_FE" neigh show "$VIP" dev eth0 | sed -n 's/.* lladdr \([0-9a-f:]*\).*/\1/p'; }

pv_log_has() { grep -qF -- "$2" "$(host_dir "$1")/log/backstay.log"; }
pv_log_line() { grep -m1 -F -- "$2" "$(host_dir "$1")/log/backstay.log" | cut -d' ' -f3- || true; }

# ---- HAProxy ---------------------------------------------------------------------

pv__hap_config() {
	local i d=$NH_TMP/haproxy
	cat <<EOF
global
        stats socket $d/haproxy.sock mode 600

defaults
        timeout connect 5s
        timeout tunnel 300s
        timeout client-fin 1s
        timeout server-fin 1s
        timeout client 50s
        timeout server 50s

frontend postgresql
         bind 127.0.0.1:5432
         mode tcp
         default_backend chef_backend_postgresql

frontend elasticsearch
         bind 127.0.0.1:9200
         mode tcp
         default_backend chef_backend_elasticsearch

backend chef_backend_postgresql
        mode tcp
        option httpchk GET /leader HTTP/1.1\r\nHost:localhost:7331\r\n\r\n
        default-server inter 2s rise 1 fall 1 on-marked-down shutdown-sessions
EOF
	for ((i = 1; i <= NH_N; i++)); do
		echo "        server backend$i $(host_ip "$i"):5432 check port 7331"
	done
	cat <<EOF

backend chef_backend_elasticsearch
        mode tcp
        option httpchk GET /leader HTTP/1.1\r\nHost:localhost:7331\r\n\r\n
        default-server inter 2s rise 1 fall 1
EOF
	for ((i = 1; i <= NH_N; i++)); do
		echo "        server backend$i $(host_ip "$i"):9200 check port 7331"
	done
}

pv_haproxy_start() {
	local d=$NH_TMP/haproxy out
	mkdir -p "$d"
	pv__hap_config >"$d/haproxy.cfg"
	out=$(on_fe "$HAPROXY" -c -f "$d/haproxy.cfg" 2>&1) || nh_fail "haproxy -c: $out"
	# -db: foreground, no daemon. `ip netns exec` (not the on_fe function,
	# which would put a subshell between) execs it: $! is haproxy itself.
	ip netns exec "$NH_NS_FE" "$HAPROXY" -db -f "$d/haproxy.cfg" -p "$d/haproxy.pid" >"$d/haproxy.log" 2>&1 &
	PV_HAP_PID=$!
	nh_wait 10 "haproxy's stats socket" test -S "$d/haproxy.sock"
	nh__alive "$PV_HAP_PID" || nh_fail "haproxy exited: $(tail -5 "$d/haproxy.log")"
}

# "BACKEND SERVER STATUS" per server, from HAProxy's stats socket (a unix
# socket: no network traffic).
pv_hap_servers() {
	python3 - "$NH_TMP/haproxy/haproxy.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
lines = data.decode().splitlines()
head = lines[0].lstrip("# ").split(",")
px, sv, st = head.index("pxname"), head.index("svname"), head.index("status")
for line in lines[1:]:
    f = line.split(",")
    if len(f) > st and f[sv] not in ("FRONTEND", "BACKEND"):
        print(f[px], f[sv], f[st])
PY
}

pv_hap_only() {
	local s
	s=$(pv_hap_servers) || return 1
	[ "$(awk '$1 == "chef_backend_postgresql" && $3 == "UP" {print $2}' <<<"$s")" = "backend$1" ] &&
		[ "$(awk '$1 == "chef_backend_elasticsearch" && $3 == "UP" {print $2}' <<<"$s")" = "backend$1" ]
}

# ---- writers ---------------------------------------------------------------------

pv_writer_start() { # NAME ADDR TABLE [RATE]
	local name=$1 d=$NH_TMP/w-$1-$3
	mkdir -p "$d"
	PV_WDIR[$name]=$d
	echo "$3" >"$d/table"
	ip netns exec "$NH_NS_FE" "$PGWRITE" --direct "$2" --seconds 600 --rate "${4:-100}" --table "$3" \
		--secrets "$NH_TMP/secrets.json" --user chef_pgsql --acked "$d/acked" \
		>"$d/out" 2>"$d/err" &
	PV_WPID[$name]=$! # pgwrite itself (ip netns exec execs it)
}

pv_acked() { wc -l <"${PV_WDIR[$1]}/acked" 2>/dev/null || echo 0; }

pv_writer_stop() {
	local pid=${PV_WPID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	PV_WPID[$1]=
}

# ---- the sampler -------------------------------------------------------------------

# Each sample reads every host's addresses twice, in order; a host counts
# as a holder only if both reads saw the VIP. Two such holders held it at
# the same instant (between the first read of the later one and the second
# read of the earlier one), so a move from one host to another between two
# reads is not mistaken for an overlap. Bounded: PV_SAMPLER_MAX_S.
pv__sampler() {
	local out=$1 stop=$2 end a b both i n=0
	end=$((${EPOCHREALTIME%.*} + ${PV_SAMPLER_MAX_S:-900}))
	while [ ! -e "$stop" ] && [ "${EPOCHREALTIME%.*}" -lt "$end" ]; do
		a="" b="" both=""
		for ((i = 1; i <= NH_N; i++)); do pv_holds "$i" && a+=$i; done
		for ((i = 1; i <= NH_N; i++)); do pv_holds "$i" && b+=$i; done
		for ((i = 1; i <= NH_N; i++)); do [[ $a == *$i* && $b == *$i* ]] && both+=$i; done
		echo "${EPOCHREALTIME/./} ${both:--}" >>"$out"
		n=$((n + 1))
		sleep 0.05
	done
}

pv_sampler_start() {
	: >"$NH_TMP/vip-samples"
	rm -f "$NH_TMP/sampler.stop"
	pv__sampler "$NH_TMP/vip-samples" "$NH_TMP/sampler.stop" &
	PV_SAMPLER_PID=$!
}

pv_sampler_stop() {
	local n two
	[ -n "$PV_SAMPLER_PID" ] || return 0
	touch "$NH_TMP/sampler.stop"
	wait "$PV_SAMPLER_PID" 2>/dev/null || true
	PV_SAMPLER_PID=
	n=$(wc -l <"$NH_TMP/vip-samples")
	two=$(awk 'length($2) > 1 && $2 != "-"' "$NH_TMP/vip-samples" | head -5)
	[ -z "$two" ] || nh_fail "two hosts held the VIP at once (sample: µs-time hosts): $two"
	[ "$n" -ge 20 ] || nh_fail "the sampler took only $n samples"
	nh_log "sampler: $n samples, never two holders ($(awk '$2 == "-"' "$NH_TMP/vip-samples" | wc -l) with none)"
}

pv_cleanup() {
	local name
	if [ -n "$PV_SAMPLER_PID" ]; then
		touch "$NH_TMP/sampler.stop" 2>/dev/null || true
		kill "$PV_SAMPLER_PID" 2>/dev/null || true
		wait "$PV_SAMPLER_PID" 2>/dev/null || true
	fi
	for name in "${!PV_WPID[@]}"; do
		[ -z "${PV_WPID[$name]}" ] || kill -TERM "${PV_WPID[$name]}" 2>/dev/null || true
	done
	if [ -n "$PV_HAP_PID" ]; then
		kill -TERM "$PV_HAP_PID" 2>/dev/null || true
		wait "$PV_HAP_PID" 2>/dev/null || true
	fi
	return 0
}
