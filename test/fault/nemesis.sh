# shellcheck shell=bash
# nemesis.sh: the faults of the fault suite (test/fault/fault.sh), on the
# hosts of test/integration/netns_lib.sh. Sourced after netns_lib.sh,
# pg_cluster.sh and fault_disks.sh.
#
#   nem_start KIND TARGET   inject; TARGET is a host number, or for the
#                           network kinds a spec (see below). Sets NEM_WHAT
#                           to what it hit ("backend-2", "backend-1|backend-2").
#   nem_end KIND TARGET     undo it (the same arguments)
#   nem_heal_all            undo every fault still on (cleanup, end of run)
#
# Network faults are nft rules in the switch namespace's own table
# (bridge nh_nemesis), apart from netns_lib's `partition` table; the client
# namespace is never cut off: clients keep reaching every node, so a
# deposed primary that still accepted writes would be seen.
#
# KINDS (and what TARGET is):
#   partition   host i cut off from every other host (both ways)
#   split       "a,b|c,d,e": the two sides cut from each other
#   bridge      "a|m|b...": the sides cut from each other, m sees both
#   ring        every host drops what it sends to the next (i -> i+1 mod N)
#   loss        P: P% of host-to-host packets dropped, at random
#   delay       "i:MS": MS ms added each way between host i and the others
#   kill-node   kill -9 of every process of host i; end: backstay start
#   kill-backstay  kill -9 of host i's backstay only; end: backstay start
#   kill-postgres  kill -9 of host i's postmaster (backstay restarts it)
#   pause-backstay SIGSTOP of host i's backstay; end: SIGCONT
#   pause-postgres SIGSTOP of every PostgreSQL process of host i; end: SIGCONT
#   disk-stall  host i's disk (Raft store and PostgreSQL) frozen: fsfreeze
#   disk-full   host i's disk filled to the last block; end: the filler removed
#   es          host i's Elasticsearch fixture answers red; end: green
#   clock-skew  "i:S": host i's backstay reads a wall clock S seconds off
#               (libfaketime: every daemon runs under it in such a run)
#   clock-rate  "i:R": host i's monotonic clocks run at R times real time
#               (libbsclockrate.so: every daemon runs under it in such a run)
#
# Safety: every rule lives in this run's switch namespace; signals go only
# to pids found in this run's host namespaces (node_pid, ip netns pids).

NEM_TABLE=nh_nemesis
NEM_WHAT=
declare -A NEM_PAUSED=() # host -> the PostgreSQL pids it stopped

nem__nft() { ip netns exec "$NH_NS_SW" nft "$@"; }

nem__table() {
	nem__nft -f - <<EOF || nh_fail "nemesis: nft table"
add table bridge $NEM_TABLE
add chain bridge $NEM_TABLE cut { type filter hook forward priority -1; policy accept; }
EOF
}

nem__ports() { # "1,2" -> "p1", "p2" (bridge ports of hosts)
	local i out="" p
	for i in ${1//,/ }; do
		p=$(nh__port "$i") || nh_fail "nemesis: no host '$i'"
		out+="${out:+, }\"$p\""
	done
	echo "$out"
}

nem__cut() { # SIDE_A SIDE_B [oneway]: drop between the two sets of hosts
	local a b
	a=$(nem__ports "$1")
	b=$(nem__ports "$2")
	nem__table
	nem__nft add rule bridge $NEM_TABLE cut iifname "{ $a }" oifname "{ $b }" drop ||
		nh_fail "nemesis: nft rule"
	[ "${3:-}" = oneway ] && return 0
	nem__nft add rule bridge $NEM_TABLE cut iifname "{ $b }" oifname "{ $a }" drop ||
		nh_fail "nemesis: nft rule"
}

nem__net_clear() {
	if nem__nft list table bridge $NEM_TABLE >/dev/null 2>&1; then
		nem__nft delete table bridge $NEM_TABLE || nh_fail "nemesis: nft delete"
	fi
}

nem__others() { # i -> "1,3,4": every other host
	local j out=""
	for ((j = 1; j <= NH_N; j++)); do [ "$j" = "$1" ] || out+="${out:+,}$j"; done
	echo "$out"
}

nem__names() { # "1,2|3" -> "backend-1,backend-2|backend-3"
	local s=$1
	s=$(sed -E 's/([0-9]+)/backend-\1/g' <<<"$s")
	echo "$s"
}

nem__pg_pids() { # every process of host i run by the postgres OS user
	local p
	for p in $(ip netns pids "$(nh_ns "$1")"); do
		[ "$(stat -c %U "/proc/$p" 2>/dev/null)" = postgres ] && echo "$p"
	done
	return 0
}

nem__postmaster() {
	local pid
	pid=$(head -1 "$(host_dir "$1")/lib/postgresql/15/data/postmaster.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	grep -qx "$(nh_ns "$1")" <<<"$(ip netns identify "$pid" 2>/dev/null)" || return 1
	echo "$pid"
}

nem__start_node() {
	local out
	out=$(on "$1" "$BACKSTAY" start 2>&1) || nh_log "nemesis: backstay start on backend-$1: $out"
}

nem_start() {
	local kind=$1 t=$2 i j pids
	case $kind in
	partition)
		nem__cut "$t" "$(nem__others "$t")"
		NEM_WHAT=$(nem__names "$t")
		;;
	split)
		nem__cut "${t%|*}" "${t#*|}"
		NEM_WHAT=$(nem__names "$t")
		;;
	bridge) # a|m|b
		nem__cut "${t%%|*}" "${t##*|}"
		NEM_WHAT=$(nem__names "$t")
		;;
	ring)
		for ((i = 1; i <= NH_N; i++)); do
			j=$((i % NH_N + 1))
			nem__cut "$i" "$j" oneway
		done
		NEM_WHAT="ring"
		;;
	loss)
		nem__table
		nem__nft add rule bridge $NEM_TABLE cut iifname "{ $(nem__ports "$(nem__others 0)") }" \
			oifname "{ $(nem__ports "$(nem__others 0)") }" numgen random mod 100 "<" "$t" drop ||
			nh_fail "nemesis: nft loss rule"
		NEM_WHAT="$t%"
		;;
	delay)
		delay_add "${t%:*}" "${t#*:}" both >/dev/null
		NEM_WHAT="backend-${t%:*}:${t#*:}ms"
		;;
	kill-node)
		node_kill9 "$t" >/dev/null
		NEM_WHAT="backend-$t"
		;;
	kill-backstay)
		i=$(node_pid "$t") && kill -9 "$i"
		NEM_WHAT="backend-$t"
		;;
	kill-postgres)
		i=$(nem__postmaster "$t") && kill -9 "$i"
		NEM_WHAT="backend-$t"
		;;
	pause-backstay)
		i=$(node_pid "$t") && kill -STOP "$i"
		NEM_WHAT="backend-$t"
		;;
	pause-postgres)
		pids=$(nem__pg_pids "$t")
		NEM_PAUSED[$t]=$pids
		for i in $pids; do kill -STOP "$i" 2>/dev/null || true; done
		NEM_WHAT="backend-$t"
		;;
	disk-stall)
		fd_freeze "$t"
		NEM_WHAT="backend-$t"
		;;
	disk-full)
		fd_fill "$t"
		NEM_WHAT="backend-$t"
		;;
	es)
		echo red >"$NH_TMP/es-mode-$t"
		NEM_WHAT="backend-$t"
		;;
	clock-skew)
		printf '%+d\n' "${t#*:}" >"$(host_dir "${t%:*}")/etc/faketime" # re-read each second
		NEM_WHAT="backend-${t%:*}:${t#*:}s"
		;;
	clock-rate)
		echo "${t#*:}" >"$(host_dir "${t%:*}")/etc/clockrate" # re-read every 100 ms
		NEM_WHAT="backend-${t%:*}:x${t#*:}"
		;;
	*) nh_fail "nemesis: unknown kind '$kind'" ;;
	esac
}

nem_end() {
	local kind=$1 t=$2 i
	case $kind in
	partition | split | bridge | ring | loss) nem__net_clear ;;
	delay) delay_clear "${t%:*}" >/dev/null ;;
	kill-node | kill-backstay) node_pid "$t" >/dev/null || nem__start_node "$t" ;;
	kill-postgres) ;; # backstay restarts its PostgreSQL itself
	pause-backstay) i=$(node_pid "$t") && kill -CONT "$i" ;;
	pause-postgres)
		for i in ${NEM_PAUSED[$t]:-}; do kill -CONT "$i" 2>/dev/null || true; done
		NEM_PAUSED[$t]=
		;;
	disk-stall) fd_thaw "$t" ;;
	disk-full) fd_unfill "$t" ;;
	es) echo green >"$NH_TMP/es-mode-$t" ;;
	clock-skew) echo "+0" >"$(host_dir "${t%:*}")/etc/faketime" ;;
	clock-rate) echo 1 >"$(host_dir "${t%:*}")/etc/clockrate" ;;
	esac
	return 0
}

# Everything back: network, signals, disks, fixtures, clocks; every
# node's backstay running. Safe to call twice and from cleanup.
nem_heal_all() {
	local i p
	nem__net_clear 2>/dev/null || true
	for ((i = 1; i <= NH_N; i++)); do
		[ -z "${NH_DELAY_PID[$i]:-}" ] || delay_clear "$i" >/dev/null 2>&1 || true
		for p in ${NEM_PAUSED[$i]:-}; do kill -CONT "$p" 2>/dev/null || true; done
		NEM_PAUSED[$i]=
		p=$(node_pid "$i" 2>/dev/null) && kill -CONT "$p" 2>/dev/null
		fd_thaw "$i" 2>/dev/null || true
		fd_unfill "$i" 2>/dev/null || true
		[ ! -e "$NH_TMP/es-mode-$i" ] || echo green >"$NH_TMP/es-mode-$i"
		[ ! -e "$(host_dir "$i")/etc/faketime" ] || echo "+0" >"$(host_dir "$i")/etc/faketime"
		[ ! -e "$(host_dir "$i")/etc/clockrate" ] || echo 1 >"$(host_dir "$i")/etc/clockrate"
	done
	return 0
}
