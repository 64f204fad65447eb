# shellcheck shell=bash
# pg_cluster.sh: a backstay cluster with real PostgreSQL 15 on netns hosts
# (netns_lib.sh), formed the operator's way — create-cluster on backend-1,
# join-cluster on the others — plus what the scenarios ask of it. Sourced
# after netns_lib.sh.
#
#   pgc_up N [extra backstay.rb lines...]   hosts, configs, the cluster; waits
#                                           until one node serves /leader and
#                                           every other one follows
#   pgc_leader                              the index of the node whose /leader
#                                           answers 200 (from the client ns), or ""
#   pgc_wait_leader [NOT] [SECONDS]         wait for a leader (other than NOT)
#   pgc_state i                             node i's leader-module state
#   pgc_wait_state i STATE [SECONDS]
#   pgc_sql i SQL                           psql on node i as the db superuser
#   pgc_write_start SECONDS [RATE]          pgwrite in the client namespace (bg);
#                                           into table $PGC_TABLE if set
#   pgc_write_wait                          wait for it; its output in $PGC_W/out
#   pgc_verify                              every acknowledged row is present
#
# Needs: BACKSTAY, CTL_STATUS, PGWRITE (test/fault/pgwrite), root, PostgreSQL 15.

PGC_BIN=/usr/lib/postgresql/15/bin
PGC_W=
PGC_WPID=

pgc_config() { # pgc_config i [lines...]: /etc/backstay/backstay.rb of host i
	local i=$1 line
	shift
	mkdir -p "$(host_dir "$i")/etc"
	{
		echo "fqdn 'backend-$i'"
		echo "publish_address '$(host_ip "$i")'"
		echo "consensus.heartbeat_interval_ms 100"
		echo "consensus.election_timeout_ms 1000"
		echo "elasticsearch.enable false # no Elasticsearch here: see es scenarios"
		echo "leaderl.health_check.interval_seconds 1"
		echo "postgresql.md5_auth_cidr_addresses ['samehost', 'samenet']"
		for line in "$@"; do echo "$line"; done
	} >"$(host_dir "$i")/etc/backstay.rb"
}

# Node i's own status answer (JSON), straight from its daemon.
pgc_status_json() {
	on "$1" "$CTL_STATUS" "$(host_dir "$1")/etc/secrets.json" "$(host_ip "$1"):2380" 2>/dev/null
}

pgc_state() {
	pgc_status_json "$1" | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin).get("leader", {}).get("state", ""))
except Exception:
    pass' 2>/dev/null
}

# The node whose /leader answers 200, asked from the client namespace.
pgc_leader() {
	on_fe python3 - "$NH_N" "$NH_NET" <<'PY' 2>/dev/null
import sys, urllib.request
n, net = int(sys.argv[1]), sys.argv[2]
found = []
for i in range(1, n + 1):
    try:
        r = urllib.request.urlopen("http://%s.1%d:7331/leader" % (net, i), timeout=0.5)
        if r.status == 200:
            found.append(i)
    except Exception:
        pass
print(found[0] if len(found) == 1 else "")
PY
}

pgc_wait_leader() { # [NOT] [SECONDS]
	local not=${1:-0} secs=${2:-60} deadline l
	deadline=$(($(nh_now_ms) + secs * 1000))
	while [ "$(nh_now_ms)" -lt "$deadline" ]; do
		l=$(pgc_leader)
		if [ -n "$l" ] && [ "$l" != "$not" ]; then
			echo "$l"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

pgc_wait_state() { # i STATE [SECONDS]
	local i=$1 want=$2 secs=${3:-60} deadline
	deadline=$(($(nh_now_ms) + secs * 1000))
	while [ "$(nh_now_ms)" -lt "$deadline" ]; do
		[ "$(pgc_state "$i")" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}

pgc_password() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["postgresql"]["db_superuser_password"])' \
		"$(host_dir 1)/etc/secrets.json"
}

pgc_sql() { # i SQL: from the client namespace, over TCP, as the db superuser
	local i=$1
	shift
	PGPASSWORD=$(pgc_password) on_fe "$PGC_BIN/psql" -X -q -At \
		"host=$(host_ip "$i") user=chef_pgsql dbname=postgres connect_timeout=2" -c "$*"
}

pgc_up() { # N [extra config lines...]
	local n=$1 i out
	shift
	for ((i = 1; i <= n; i++)); do pgc_config "$i" "$@"; done
	out=$(on 1 "$BACKSTAY" create-cluster --yes 2>&1) || nh_fail "create-cluster: $out"
	cp "$(host_dir 1)/etc/secrets.json" "$NH_TMP/secrets.json"
	nh_log "backend-1: create-cluster (PostgreSQL initialised)"
	pgc_wait_state 1 leader 60 || nh_fail "backend-1 did not lead: state $(pgc_state 1)"
	for ((i = 2; i <= n; i++)); do
		out=$(on "$i" "$BACKSTAY" join-cluster "$(host_ip 1)" -s "$NH_TMP/secrets.json" --yes 2>&1) ||
			nh_fail "join backend-$i: $out"
		pgc_wait_state "$i" follower 120 || nh_fail "backend-$i did not follow: state $(pgc_state "$i")"
		nh_log "backend-$i joined and follows (base backup)"
	done
	[ "$(pgc_wait_leader)" = 1 ] || nh_fail "/leader: expected backend-1 alone"
}

pgc_write_start() { # SECONDS [RATE]
	local secs=$1 rate=${2:-}
	PGC_W=$NH_TMP/write.$((++PGC_WN))
	mkdir -p "$PGC_W"
	local hosts=() i
	for ((i = 1; i <= NH_N; i++)); do hosts+=("$(host_ip "$i")"); done
	on_fe "$PGWRITE" --seconds "$secs" ${rate:+--rate "$rate"} ${PGC_TABLE:+--table "$PGC_TABLE"} \
		--secrets "$NH_TMP/secrets.json" \
		--user chef_pgsql --acked "$PGC_W/acked" --timeout $((secs + 60)) "${hosts[@]}" \
		>"$PGC_W/out" 2>&1 &
	PGC_WPID=$!
}
PGC_WN=0

pgc_write_wait() {
	wait "$PGC_WPID" || true
	PGC_WPID=
}

pgc_verify() {
	local hosts=() i out
	for ((i = 1; i <= NH_N; i++)); do hosts+=("$(host_ip "$i")"); done
	out=$(on_fe "$PGWRITE" --verify "$PGC_W/acked" ${PGC_TABLE:+--table "$PGC_TABLE"} \
		--secrets "$NH_TMP/secrets.json" \
		--user chef_pgsql "${hosts[@]}" 2>&1) || nh_fail "acknowledged writes lost: $out"
	grep -m1 "acknowledged=" <<<"$out" # no pipe: grep -m1 leaving early must not SIGPIPE (pipefail)
}
