#!/usr/bin/env bash
# netns-selftest.sh: proves netns_lib.sh and the fault tools on three hosts
# and a client namespace, with figures:
#
#   1. hosts: private /etc/backstay, /var/lib/backstay, /var/log/backstay,
#      /run/postgresql and host name per host; the root namespace untouched
#   2. PostgreSQL 15 as the postgres user with its data and log under a
#      host's /var/lib/backstay and /var/log/backstay (initdb, start, a
#      query from the client over TCP with a password) on hosts 1 and 2
#   3. partitions (nft bridge rules in the switch): isolate, selective, the
#      client, ARP cut too; heal
#   4. delay (NFQUEUE + nfqdelay): ping RTT host 1 <-> host 2 before, with
#      delay_add 1 50 (both ways: >= 100 ms), out only (>= 50 ms), after
#   5. pgwrite against stand-in /leader servers (200 where a file says):
#      rows, the split-leader count, a failover 1 -> 2 with its outage line,
#      --rate, --verify finding nothing lost, then finding the rows lost
#   6. a real backstay daemon on host 3: node_stop_pids / node_cont_pids
#      (process state T / S), node_kill9 of host 2 (PostgreSQL gone, its
#      SysV segment freed)
#   7. cleanup: a run stopped by SIGTERM leaves nothing; one killed by
#      SIGKILL is cleaned by the next; neither disturbs this run's mounts
#
# Safety: see netns_lib.sh; every client runs in the client namespace or a
# host's. Needs root, iproute2, nft, iptables, ping, python3, PostgreSQL 15:
# else exit 77. Env (meson): BACKSTAY, GEN_SECRETS, NFQDELAY and PGWRITE
# (each part that needs a missing one is skipped, said so).
set -euo pipefail

skip() {
	echo "netns-selftest: skipped: $*"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, mounts, nft)"
PGBIN=/usr/lib/postgresql/15/bin
for c in ip unshare nft iptables ping python3 runuser flock; do
	command -v "$c" >/dev/null || skip "needs $c (scripts/setup.sh installs it)"
done
[ -x "$PGBIN/initdb" ] || skip "needs PostgreSQL 15 ($PGBIN)"
id -u postgres >/dev/null 2>&1 || skip "needs the postgres user"

NH_PREFIX=bsst
NH_NAME=netns-selftest
# shellcheck source=netns_lib.sh
. "$(dirname "$0")/netns_lib.sh"

PASSED=0
SKIPPED=0
pass() {
	PASSED=$((PASSED + 1))
	nh_log "ok - $*"
}
skip_part() {
	SKIPPED=$((SKIPPED + 1))
	nh_log "SKIP - $*"
}
fail() { nh_fail "$@"; }

nh_setup 3
SELF=$(cd "$(dirname "$0")" && pwd)

# ---- 1. the hosts ------------------------------------------------------------------
[ "$(on 2 hostname)" = backend-2 ] || fail "host 2's name: $(on 2 hostname)"
[ "$(hostname)" != backend-2 ] || fail "the root namespace's host name changed"
on 2 touch /var/lib/backstay/mark /var/log/backstay/mark /etc/backstay/mark
[ -f "$(host_dir 2)/lib/mark" ] && [ -f "$(host_dir 2)/log/mark" ] && [ -f "$(host_dir 2)/etc/mark" ] ||
	fail "host 2's files are not in its directories"
on 1 test ! -e /var/lib/backstay/mark || fail "host 1 sees host 2's /var/lib/backstay"
[ ! -e /var/lib/backstay/mark ] || fail "the real /var/lib/backstay got host 2's file"
if ip -4 addr | grep -q "$NH_NET\."; then fail "the root namespace has a $NH_NET address"; fi
if ip route | grep -q "$NH_NET\."; then fail "the root namespace has a $NH_NET route"; fi
pass "private /etc/backstay /var/lib/backstay /var/log/backstay and host name per host; root namespace untouched"

# ---- 2. PostgreSQL as the postgres user under /var/lib/backstay ----------------------
"$GEN_SECRETS" "$NH_TMP/secrets.json"
PW=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["postgresql"]["db_superuser_password"])' \
	"$NH_TMP/secrets.json")
pg_init() { # pg_init i: a PostgreSQL like the daemon's: data and log owned by postgres
	local i=$1 t
	t=$(nh_now_ms)
	on "$i" bash -c 'mkdir -p /var/lib/backstay/pg /var/log/backstay/pg &&
		chown postgres:postgres /var/lib/backstay/pg /var/log/backstay/pg'
	on "$i" runuser -u postgres -- "$PGBIN/initdb" -D /var/lib/backstay/pg -U postgres \
		--auth-local=trust --auth-host=scram-sha-256 >"$NH_TMP/initdb-$i.log" 2>&1 ||
		fail "initdb on host $i: $(tail -n 5 "$NH_TMP/initdb-$i.log")"
	echo "host all all $NH_NET.0/24 scram-sha-256" >>"$(host_dir "$i")/lib/pg/pg_hba.conf"
	pg_start "$i"
	on "$i" runuser -u postgres -- "$PGBIN/psql" -X -q -h /run/postgresql -d postgres \
		-c "CREATE ROLE chef_pgsql LOGIN SUPERUSER PASSWORD '$PW'" || fail "role on host $i"
	nh_log "host $i: initdb + start + role in $(($(nh_now_ms) - t)) ms"
}
pg_start() {
	on "$1" runuser -u postgres -- "$PGBIN/pg_ctl" -D /var/lib/backstay/pg -w -t 20 \
		-l /var/log/backstay/pg/postgresql.log \
		-o "-c listen_addresses=$(host_ip "$1") -c port=5432 -c fsync=off" \
		-o "-c unix_socket_directories=/run/postgresql" start >/dev/null ||
		fail "pg_ctl start on host $1: $(tail -n 5 "$(host_dir "$1")/log/pg/postgresql.log")"
}
pg_stop() { # pg_stop i MODE
	on "$1" runuser -u postgres -- "$PGBIN/pg_ctl" -D /var/lib/backstay/pg -w -t 20 -m "$2" stop >/dev/null
}
fe_sql() { # fe_sql i SQL: from the client, over TCP, with the password
	on_fe env PGPASSWORD="$PW" PGCONNECT_TIMEOUT=2 "$PGBIN/psql" -X -At -h "$(host_ip "$1")" \
		-U chef_pgsql -d postgres -c "$2"
}
pg_init 1
[ "$(stat -c %U "$(host_dir 1)/lib/pg/PG_VERSION")" = postgres ] || fail "data not owned by postgres"
[ -S "$(host_dir 1)/run-pg/.s.PGSQL.5432" ] || fail "host 1's socket is not in its own /run/postgresql"
[ "$(fe_sql 1 "select current_user || ' ' || host(inet_server_addr())")" = "chef_pgsql $(host_ip 1)" ] ||
	fail "query from the client to host 1"
pg_stop 1 fast || fail "pg_ctl stop on host 1"
pg_start 1
pass "PostgreSQL 15 as postgres: initdb, start, stop, start with data in host 1's /var/lib/backstay/pg, log in /var/log/backstay/pg; client query over TCP with a password"
pg_init 2

# ---- 3. partitions ---------------------------------------------------------------------
reach() { # reach FROM TO: FROM (a host index or fe) pings TO's address once
	local ip
	ip=$(host_ip "$([ "$2" = fe ] && echo 9 || echo "$2")")
	if [ "$1" = fe ]; then
		on_fe ping -c 1 -W 0.5 "$ip" >/dev/null 2>&1
	else
		ip netns exec "$(nh_ns "$1")" ping -c 1 -W 0.5 "$ip" >/dev/null 2>&1
	fi
}
# expect "FROM>TO ..." yes|no. Reachable: within 3 s (after a heal, a
# neighbour entry in PROBE waits for its next unicast probe, 1 s apart);
# cut: no answer to one ping in 0.5 s.
expect() {
	local pair try ok
	for pair in $1; do
		ok=no
		for try in 1 2 3 4 5 6; do
			if reach "${pair%>*}" "${pair#*>}"; then
				ok=yes
				break
			fi
			[ "$2" = yes ] || break
		done
		[ "$ok" = "$2" ] || fail "$pair: reachable=$ok, expected $2"
	done
}
expect "1>2 1>3 2>1 2>3 3>1 3>2 fe>1 fe>2 fe>3" yes
partition 1
ip -n "$(nh_ns 2)" neigh flush all
expect "1>2 1>3 2>1 3>1" no
expect "2>3 3>2 fe>1 fe>2" yes
state=$(ip -n "$(nh_ns 2)" neigh show "$(host_ip 1)" | awk '{print $NF}')
[[ $state =~ ^(INCOMPLETE|FAILED)$ ]] || fail "ARP crossed the partition (host 2's entry for host 1: '$state')"
heal
expect "1>2 2>1 1>3 3>1" yes
pass "partition 1: 1 cut from 2 and 3 both ways (ARP too: host 2's entry $state), 2-3 and the client untouched; heal"
partition 1 2
expect "1>2 2>1" no
expect "1>3 3>1 2>3" yes
partition 3 fe
expect "1>2 fe>3 3>fe" no
expect "1>3 fe>1 fe>2" yes
heal
expect "1>2 2>1 fe>3" yes
pass "partition 1 2 (selective) plus partition 3 fe (the client), both at once; heal"

# ---- 4. delay ----------------------------------------------------------------------------
# rtt FROM TO: "min avg max" of 5 pings, in ms, user to user (-U): ping's
# default takes the reply's kernel receive time, from before the INPUT
# hook, and so would not see the delay on the way in.
rtt() {
	ip netns exec "$(nh_ns "$1")" ping -U -c 5 -i 0.2 -W 2 "$(host_ip "$2")" |
		awk -F'[=/ ]+' '/^rtt/ { print $6, $7, $8 }'
}
in_range() { # in_range "min avg max" LOW HIGH: LOW <= min and max < HIGH
	awk -v lo="$2" -v hi="$3" '{ exit !($1 >= lo && $3 < hi) }' <<<"$1"
}
avg_below() { # avg_below "min avg max" HIGH
	awk -v hi="$2" '{ exit !($2 < hi) }' <<<"$1"
}
if [ -x "${NFQDELAY:-}" ]; then
	base=$(rtt 1 2)
	avg_below "$base" 1 || fail "baseline RTT 1->2 not below 1 ms: $base"
	delay_add 1 50
	both=$(rtt 1 2)
	other=$(rtt 2 3)
	in_range "$both" 100 150 || fail "RTT 1->2 with delay_add 1 50: $both, expected [100, 150)"
	avg_below "$other" 1 || fail "RTT 2->3 changed by host 1's delay: $other"
	delay_add 1 50 out
	out=$(rtt 1 2)
	in_range "$out" 50 100 || fail "RTT 1->2 with delay_add 1 50 out: $out, expected [50, 100)"
	delay_clear 1
	after=$(rtt 1 2)
	avg_below "$after" 1 || fail "RTT 1->2 after delay_clear: $after"
	nh_log "RTT host 1 -> host 2 (min avg max, ms): before $base | delay_add 1 50: $both | out only: $out | after delay_clear: $after | 2 -> 3 meanwhile: $other"
	pass "delay: RTT 1->2 from <1 ms to >= 100 ms (2x50) and back; 2->3 untouched"
else
	skip_part "delay: NFQDELAY not built (libnetfilter-queue-dev missing)"
fi

# ---- 5. pgwrite -------------------------------------------------------------------------
cat >"$NH_TMP/leader.py" <<'PY'
# Stand-in for a node's GET /leader: 200 if this host's index is listed in
# the file, 503 otherwise.
import http.server, sys
addr, port, me, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            leaders = open(path).read().split()
        except OSError:
            leaders = []
        self.send_response(200 if self.path == "/leader" and me in leaders else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((addr, port), H).serve_forever()
PY
PGW_HOSTS=("$(host_ip 1)" "$(host_ip 2)" "$(host_ip 3)") # host 3 serves no /leader: refused
pgw() { on_fe "$PGWRITE" --secrets "$NH_TMP/secrets.json" "$@" "${PGW_HOSTS[@]}"; }
has_lines() { [ -f "$2" ] && [ "$(wc -l <"$2")" -ge "$1" ]; }
field() { grep -o "$1=[0-9]*" <<<"$2" | tail -n 1 | cut -d= -f2; }
if [ -x "${PGWRITE:-}" ]; then
	for i in 1 2; do
		ip netns exec "$(nh_ns "$i")" python3 "$NH_TMP/leader.py" "$(host_ip "$i")" 7331 "$i" \
			"$NH_TMP/leader" >/dev/null 2>&1 &
		disown # killed with its host (node_kill9, cleanup): no job notice
	done
	echo "1 2" >"$NH_TMP/leader" # both claim: pgwrite takes the first and counts it
	nh_wait 5 "stand-in /leader servers" on_fe python3 -c '
import sys, urllib.request
urllib.request.urlopen("http://%s:7331/leader" % sys.argv[1], timeout=1)' "$(host_ip 1)"

	t=$(nh_now_ms)
	out=$(pgw --rows 300 --table t_a --acked "$NH_TMP/a.acked" 2>&1) || fail "pgwrite --rows 300: $out"
	ms=$(($(nh_now_ms) - t))
	grep -q "summary acked=300 failed_writes=0 outages=0 " <<<"$out" || fail "pgwrite --rows 300: $out"
	[ "$(field split_leader_rounds "$out")" -ge 1 ] || fail "two 200s not counted: $out"
	[ "$(fe_sql 1 'select count(*) from t_a')" = 300 ] || fail "host 1 lacks the 300 rows"
	[ "$(wc -l <"$NH_TMP/a.acked")" = 300 ] || fail "the acknowledged-id file has not 300 lines"
	v=$(pgw --verify "$NH_TMP/a.acked" --table t_a 2>&1) || fail "verify a: $v"
	grep -q "^acknowledged=300 present=300 lost=0$" <<<"$v" || fail "verify a: $v"
	nh_log "pgwrite: 300 rows in $ms ms (process start to exit), verify: $(head -n 2 <<<"$v" | tail -n 1)"
	pass "pgwrite --rows 300: 300 acknowledged and present; two nodes answering 200 counted as split_leader_rounds"

	# A failover 1 -> 2 under a 200 rows/s load: /leader moves to 2, host
	# 1's PostgreSQL stops (immediate); host 2 never had host 1's rows.
	echo 1 >"$NH_TMP/leader"
	pgw --seconds 4 --rate 200 --table t_b --acked "$NH_TMP/b.acked" >"$NH_TMP/b.out" 2>"$NH_TMP/b.err" &
	PGW_PID=$!
	nh_wait 10 "pgwrite's first 100 rows" has_lines 100 "$NH_TMP/b.acked"
	echo 2 >"$NH_TMP/leader"
	pg_stop 1 immediate || true
	wait "$PGW_PID" || fail "pgwrite --seconds 4: $(cat "$NH_TMP/b.out" "$NH_TMP/b.err")"
	out=$(cat "$NH_TMP/b.out")
	grep -c "^outage_ms=" <<<"$out" | grep -qx 1 || fail "not one outage: $out"
	line=$(grep "^outage_ms=" <<<"$out")
	grep -qE "^outage_ms=[0-9]+ from=$(host_ip 1) to=$(host_ip 2)$" <<<"$line" || fail "outage line: $line"
	oms=$(field outage_ms "$line")
	[ "$oms" -lt 3000 ] || fail "outage of $oms ms for a stand-in failover"
	acked=$(field acked "$(grep ^summary <<<"$out")")
	[ "$acked" -ge 300 ] && [ "$acked" -le 810 ] || fail "--rate 200 for 4 s gave $acked rows"
	grep -q "^progress t=1s" <<<"$out" || fail "no progress line: $out"
	v=$(pgw --verify "$NH_TMP/b.acked" --table t_b 2>&1) && fail "verify b found nothing lost: $v"
	read -r n_ack n_present n_lost < <(sed -n 's/^acknowledged=\([0-9]*\) present=\([0-9]*\) lost=\([0-9]*\)$/\1 \2 \3/p' <<<"$v")
	[ "${n_ack:-0}" = "$acked" ] && [ "$n_lost" -gt 0 ] && [ "$n_present" -gt 0 ] &&
		[ $((n_present + n_lost)) = "$n_ack" ] || fail "verify b: $v"
	[ "$n_present" = "$(fe_sql 2 'select count(*) from t_b')" ] || fail "verify b's present: $v"
	nh_log "pgwrite failover: $line; $(grep ^summary <<<"$out")"
	nh_log "pgwrite --verify at the new leader: $(grep -v '^lost_ids' <<<"$v" | tr '\n' ' ')"
	if grep -qE "runtime error:|ERROR: (Address|Leak)Sanitizer" "$NH_TMP/b.err" "$NH_TMP"/nfqdelay-n*.log 2>/dev/null; then
		fail "sanitizer report from pgwrite or nfqdelay: $(grep -hE "runtime error:|Sanitizer" "$NH_TMP/b.err" "$NH_TMP"/nfqdelay-n*.log | head -n 3)"
	fi
	pass "pgwrite failover 1 -> 2: one outage line ($oms ms), --rate 200 held ($acked rows in 4 s), --verify reports the $n_lost rows host 2 never had and exits 1"
	pg_start 1
else
	skip_part "pgwrite: PGWRITE not built (libcurl missing)"
fi

# ---- 6. stop/cont/kill9 -----------------------------------------------------------------
pstate() { sed 's/.*) //' "/proc/$1/stat" | cut -c1; }
if [ -x "${BACKSTAY:-}" ]; then
	echo "publish_address '$(host_ip 3)'" >"$(host_dir 3)/etc/backstay.rb"
	out=$(on 3 "$BACKSTAY" create-cluster --accept-license --yes 2>&1) || fail "create-cluster on host 3: $out"
	pid=$(node_pid 3) || fail "no daemon pid on host 3"
	node_stop_pids 3
	# A signal is delivered asynchronously: poll (bounded) for the state.
	nh_wait 5 "host 3's daemon stopped (state T)" bash -c "[ \"\$(sed 's/.*) //' /proc/$pid/stat | cut -c1)\" = T ]"
	node_cont_pids 3
	nh_wait 5 "host 3's daemon running again" bash -c "[ \"\$(sed 's/.*) //' /proc/$pid/stat | cut -c1)\" != T ]"
	nh_wait 10 "host 3's daemon answers after SIGCONT" on 3 "$BACKSTAY" status
	pass "node_stop_pids 3 / node_cont_pids 3: the daemon (pid $pid) in state T, then running and answering"
else
	skip_part "node_stop_pids: BACKSTAY not set"
fi
read -r _ shmid < <(sed -n 7p "$(host_dir 2)/lib/pg/postmaster.pid")
pm=$(head -n 1 "$(host_dir 2)/lib/pg/postmaster.pid")
node_kill9 2
[ -z "$(ip netns pids "$(nh_ns 2)")" ] || fail "processes left on host 2"
if on_fe env PGCONNECT_TIMEOUT=1 "$PGBIN/pg_isready" -h "$(host_ip 2)" -q; then fail "host 2's PostgreSQL answers"; fi
if nh__alive "$pm"; then fail "postmaster $pm survived"; fi
fe_sql 1 "select 1" >/dev/null || fail "host 1 hurt by host 2's kill"
shm_there() { awk -v id="$1" '$2 == id { f = 1 } END { exit !f }' /proc/sysvipc/shm; }
shm_there "$shmid" || fail "no SysV segment $shmid after kill -9 of its postmaster (test broken?)"
nh__pg_ipc_cleanup "$(host_dir 2)" # what nh_cleanup does
if shm_there "$shmid"; then fail "SysV segment $shmid of the killed postmaster still there"; fi
pass "node_kill9 2: its PostgreSQL (postmaster $pm) and everything else on host 2 gone, SysV segment $shmid freed; host 1 unhurt"

# ---- 7. cleanup of other runs ------------------------------------------------------------
ns_busy() { [ -n "$(ip netns pids "$1" 2>/dev/null)" ]; }
child() { # child SIGNAL: a run with prefix bsstc that is sent SIGNAL once set up
	NH_PREFIX=bsstc bash -c '
		. "$1/netns_lib.sh"
		nh_setup 2
		on 1 sleep 60 &
		sleep 30 &
		echo $! >"$2.sleep"
		echo "$NH_TMP" >"$2"
		wait $!' child "$SELF" "$NH_TMP/child.$1" >"$NH_TMP/child.$1.log" 2>&1 &
	local cpid=$!
	nh_wait 10 "child run set up" test -s "$NH_TMP/child.$1"
	nh_wait 5 "child's process on its host 1" ns_busy "bsstc-$cpid-n1"
	kill -"$1" "$cpid"
	wait "$cpid" 2>/dev/null || true
	kill "$(cat "$NH_TMP/child.$1.sleep")" 2>/dev/null || true # its sleep 30, in the root namespace
	echo "$cpid"
}
cpid=$(child TERM)
ip netns list | grep -q "^bsstc-$cpid-" && fail "SIGTERM'd run left namespaces"
[ ! -e "$(cat "$NH_TMP/child.TERM")" ] || fail "SIGTERM'd run left its temp dir"
cpid=$(child KILL)
ip netns list | grep -q "^bsstc-$cpid-" || fail "SIGKILL'd run left nothing to clean? (test broken)"
leftpid=$(ip netns pids "bsstc-$cpid-n1")
NH_PREFIX=bsstc bash -c '. "$1/netns_lib.sh"; nh_clean_leftovers' x "$SELF"
ip netns list | grep -q "^bsstc-$cpid-" && fail "leftover namespaces not removed"
if nh__alive "$leftpid"; then fail "leftover process $leftpid not killed"; fi
[ ! -e "$(cat "$NH_TMP/child.KILL")" ] || fail "leftover temp dir not removed"
[ -d /etc/backstay ] && [ -d /var/lib/backstay ] || fail "a child's cleanup removed the mount points in use"
if [ -x "${BACKSTAY:-}" ]; then
	[ -f "/proc/$(node_pid 3)/root/etc/backstay/secrets.json" ] ||
		fail "host 3's daemon lost its /etc/backstay after the other runs' cleanup"
fi
pass "a run stopped by SIGTERM cleans itself; one killed by SIGKILL is cleaned by the next (namespaces, process $leftpid, temp dir); the mounts of this run stay"

nh_log "RESULT: $PASSED passed, 0 failed, $SKIPPED skipped"
