#!/usr/bin/env bash
# lib.sh — process control, measurement bookkeeping and ratio helpers shared by run-tcp.sh and run-udp.sh.
# Sourced, not run: the functions use the caller's globals (STARTED, TPID, VALS, TMP, KEEP_TMP, ...).

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

cleanup() {
	local pid
	for pid in "${STARTED[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null
	done
	for pid in "${STARTED[@]}"; do
		wait "$pid" 2>/dev/null
	done
	if [[ $KEEP_TMP == 1 ]]; then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
}

have() { command -v "$1" >/dev/null 2>&1; }

# spawn LOG CMD...: start CMD in its own session/process group; sets PID.
spawn() {
	local logf=$1
	shift
	setsid "$@" </dev/null >"$logf" 2>&1 &
	PID=$!
	STARTED+=("$PID")
}

# stop PID: TERM the process group, KILL after 5 s.
stop() {
	local pid=$1 i
	kill -TERM -- "-$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	local keep=()
	for i in "${STARTED[@]}"; do [[ $i == "$pid" ]] || keep+=("$i"); done
	STARTED=("${keep[@]}")
}

# tree_cpu PID: CPU seconds (user+sys, including reaped children) of PID and its live descendants.
tree_pids() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1"); do tree_pids "$c"; done
}

tree_cpu() {
	local p
	for p in $(tree_pids "$1"); do
		sed 's/.*) //' "/proc/$p/stat" 2>/dev/null
	done | awk -v hz="$(getconf CLK_TCK)" '{t += $12 + $13 + $14 + $15} END {printf "%.3f", t / hz}'
}

stop_target() { [[ $TPID != 0 ]] && stop "$TPID"; TPID=0; }

add() { VALS["$1 $2"]+="$3 "; }

kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# round_order ROUND TARGET...: the targets in the order round ROUND runs them: as given in odd rounds, reversed
# in even ones, so that a drift of the machine's speed during a round favours no target across rounds.
round_order() {
	local round=$1 out=()
	shift
	if ((round % 2)); then
		out=("$@")
	else
		for ((i = $#; i >= 1; i--)); do out+=("${!i}"); done
	fi
	echo "${out[@]}"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

value() { [[ -n ${VALS["$1 $2"]:-} ]] && median <<<"${VALS["$1 $2"]}"; }

cell() { # METRIC TARGET
	local v
	v=$(value "$1" "$2")
	if [[ -n $v ]]; then fmt "$1" "$v"
	elif [[ -n ${SKIP[$2]:-} ]]; then printf '%s' "${SKIP[$2]%% (*}"
	elif [[ -n ${CELLNOTE["$1 $2"]:-} ]]; then printf '%s' "${CELLNOTE["$1 $2"]}"
	elif [[ -n ${CELLNOTE["${ROW_METRIC[$1]} $2"]:-} ]]; then printf '%s' "${CELLNOTE["${ROW_METRIC[$1]} $2"]}"
	else printf '—'; fi
}

ratio() { # METRIC A B -> A/B or empty
	local a b
	a=$(value "$1" "$2")
	b=$(value "$1" "$3")
	[[ -n $a && -n $b ]] && awk -v a="$a" -v b="$b" 'BEGIN {if (b > 0) printf "%.2f", a / b}'
}

# check LABEL METRIC PEER MIN: PASS when sluice/PEER >= MIN.  check_max LABEL METRIC MAX: PASS when sluice <= MAX.
check() {
	local r
	r=$(ratio "$2" sluice "$3")
	if [[ -z $r ]]; then printf -- '- %s: N/A (no figure for sluice or %s)\n' "$1" "$3"
	elif awk -v r="$r" -v m="$4" 'BEGIN {exit !(r >= m)}'; then printf -- '- %s: **PASS** (%s×)\n' "$1" "$r"
	else printf -- '- %s: **FAIL** (%s×)\n' "$1" "$r"; fi
}

check_max() {
	local v
	v=$(value "$2" sluice)
	if [[ -z $v ]]; then printf -- '- %s: N/A (no figure for sluice)\n' "$1"
	elif awk -v v="$v" -v m="$3" 'BEGIN {exit !(v <= m)}'; then printf -- '- %s: **PASS** (%s KiB)\n' "$1" "$(fmt "$2" "$v")"
	else printf -- '- %s: **FAIL** (%s KiB)\n' "$1" "$(fmt "$2" "$v")"; fi
}

# listening PORT: a TCP socket is in LISTEN state on PORT (no probe connection is made).
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# udp_bound PORT: a UDP socket is bound on PORT.
udp_bound() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }

# not CMD...: succeeds when CMD fails.
not() { ! "$@"; }

# poll_until PID CMD...: run CMD every 0.1 s until it succeeds (0) or 10 s pass (1); PID, when not empty, must
# stay alive meanwhile.
poll_until() {
	local pid=$1 i
	shift
	for ((i = 0; i < 100; i++)); do
		"$@" && return 0
		[[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# wait_listen PORT PID: until PORT listens (TCP); wait_free PORT: until nothing listens there.
wait_listen() { poll_until "$2" listening "$1"; }
wait_free() { poll_until "" not listening "$1"; }

# wait_bound PORT PID: until a UDP socket is bound on PORT; wait_udp_free PORT: until none is.
wait_bound() { poll_until "$2" udp_bound "$1"; }
wait_udp_free() { poll_until "" not udp_bound "$1"; }

# cpu_count LIST: the number of CPUs in a taskset-style list ("1", "0,1", "0-3,6").
cpu_count() {
	local n=0 part a b parts
	IFS=, read -ra parts <<<"$1"
	for part in "${parts[@]}"; do
		if [[ $part == *-* ]]; then a=${part%-*} b=${part#*-}; n=$((n + b - a + 1)); else n=$((n + 1)); fi
	done
	echo "$n"
}
