#!/usr/bin/env bash
# run-udp.sh — sluice's UDP forwarder side by side with nginx stream (udp) and socat, and direct (no proxy).
#
# Usage:
#   bench/run-udp.sh             run every metric against every installed peer
#   bench/run-udp.sh --install   apt-get install the peers first (nginx libnginx-mod-stream socat)
#   bench/run-udp.sh --help
#
# Metrics (all on 127.0.0.1, one proxy running at a time, a fresh proxy process per measurement):
#   pps      FLOWS client sockets, each keeping INFLIGHT datagrams of SIZE bytes in flight through the proxy to a
#            UDP echo: echoed datagrams/s, round-trip p50/p99, proxy CPU µs per datagram (bench/udpsidebyside/udpload).
#            Plain clients and echo: one datagram per message (recvmmsg/sendmmsg batches), like DNS or syslog peers.
#   pps_gso  the same with the clients and the echo using UDP GSO to send and UDP GRO to receive, as QUIC stacks do
#            (udpload -offload, udpecho -offload). Every datagram still travels and counts on its own.
#   idle   IDLE_SESSIONS sessions, each from its own source address and proven by one echo, then left idle:
#          proxy KiB per session (RSS and PSS growth / sessions)                          (bench/udpsidebyside/udpidle)
# The echo upstream is bench/udpsidebyside/udpecho (batched recvmmsg/sendmmsg), shared by all targets.
# nginx gets `multi_accept on` (NGINX_MULTI_ACCEPT): without it, it reads one datagram per readiness event and falls far
# behind under bursts.
# HAProxy is not a target: its community edition does not forward UDP.
#
# sluice: `sluice forward -udp` when cmd/sluice has it (probed at start), otherwise bench/udpsidebyside/sluiceudp,
# a bench-only main that runs the udpproxy package with the same defaults and no access log. SLUICE_UDP=bench or
# SLUICE_UDP=forward forces one.
#
# Environment (defaults in brackets):
#   DURATION [5]         seconds per pps measurement, the same for every target
#   METRICS  ["pps pps_gso idle"]
#   TARGETS  ["direct sluice nginx socat"]  (a peer not installed is skipped with a note)
#   REPEAT   [1]         rounds; each runs every target once (even rounds in reverse order); the table shows the median
#   FLOWS [8]  INFLIGHT [8]  SIZE [256]
#   IDLE_SESSIONS [50000, lowered to fit RLIMIT_NOFILE]  IDLE_SETTLE [2] seconds  IDLE_SOCAT [0]
#   PORT_BASE [18000]    proxies listen on PORT_BASE+1.., the echoes on PORT_BASE+1000 and +1001 (UDP)
#   SLUICE_UDP [auto]    auto | forward | bench (see above)
#   SLUICE_WORKERS [0]   -workers for the bench main (0: GOMAXPROCS)
#   NGINX_MULTI_ACCEPT [on]  nginx's events { multi_accept } (off is nginx's default)
#   SLUICE_REF           build sluice from this git ref (git archive into the temp dir) instead of the work tree
#   OUT                  also write the markdown report to this file
#   KEEP_TMP [0]         keep the temp dir (configs, proxy logs)
#
# The report (markdown) goes to stdout, progress to stderr.
# Caveat: on a small machine the load generator, the echo and the proxy share the cores; that is the same for all targets.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

INSTALL=0
for arg in "$@"; do
	case "$arg" in
	--install) INSTALL=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run-udp.sh: unknown argument $arg" >&2; usage >&2; exit 2 ;;
	esac
done

DURATION=${DURATION:-5}
METRICS=${METRICS:-"pps pps_gso idle"}
TARGETS=${TARGETS:-"direct sluice nginx socat"}
REPEAT=${REPEAT:-1}
FLOWS=${FLOWS:-8}
INFLIGHT=${INFLIGHT:-8}
SIZE=${SIZE:-256}
IDLE_SETTLE=${IDLE_SETTLE:-2}
IDLE_SOCAT=${IDLE_SOCAT:-0}
PORT_BASE=${PORT_BASE:-18000}
SLUICE_UDP=${SLUICE_UDP:-auto}
SLUICE_WORKERS=${SLUICE_WORKERS:-0}
NGINX_MULTI_ACCEPT=${NGINX_MULTI_ACCEPT:-on}
OUT=${OUT:-}
KEEP_TMP=${KEEP_TMP:-0}

ECHO_PORT=$((PORT_BASE + 1000))
GSO_ECHO_PORT=$((PORT_BASE + 1001))
declare -A PROXY_PORT=([sluice]=$((PORT_BASE + 1)) [nginx]=$((PORT_BASE + 3)) [socat]=$((PORT_BASE + 4)))

REPO=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/sluice-udpbench.XXXXXX)
BIN=$TMP/bin
STARTED=() # PIDs (each its own process group) to kill on exit

trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup

if [[ $INSTALL == 1 ]]; then
	log "installing peers"
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx libnginx-mod-stream socat || exit 1
fi

# Raise the soft descriptor limit to the hard one; each UDP session costs the proxy one socket.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
FIT_SESSIONS=$((NOFILE - 500))
IDLE_SESSIONS=${IDLE_SESSIONS:-50000}
IDLE_NOTE=""
if ((IDLE_SESSIONS > FIT_SESSIONS)); then
	IDLE_NOTE="IDLE_SESSIONS lowered from $IDLE_SESSIONS to $FIT_SESSIONS: RLIMIT_NOFILE is $NOFILE and cannot be raised here (a proxy needs one socket per UDP session)"
	IDLE_SESSIONS=$FIT_SESSIONS
	log "$IDLE_NOTE"
fi

declare -A SKIP # target -> reason it has no figures at all
declare -A VERSION

log "building load generators into $BIN"
(cd "$REPO" && go build -o "$BIN/" ./bench/udpsidebyside/udpecho ./bench/udpsidebyside/udpload ./bench/udpsidebyside/udpidle) || {
	log "build of bench/udpsidebyside failed"
	exit 1
}

SLUICE_COMMIT=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(cd "$REPO" && git status --porcelain 2>/dev/null) ]] && SLUICE_COMMIT+=" + uncommitted work tree"

# build_sluice: builds cmd/sluice and bench/udpsidebyside/sluiceudp from the work tree or SLUICE_REF into $BIN.
build_sluice() {
	local src=$REPO
	if [[ -n ${SLUICE_REF:-} ]]; then
		log "building sluice from $SLUICE_REF"
		mkdir -p "$TMP/src"
		(cd "$REPO" && git archive "$SLUICE_REF" | tar -x -C "$TMP/src") || return 1
		src=$TMP/src
		VERSION[sluice]="git $(cd "$REPO" && git rev-parse --short "$SLUICE_REF") ($SLUICE_REF)"
	else
		log "building sluice"
		VERSION[sluice]="git $SLUICE_COMMIT"
	fi
	(cd "$src" && go build -o "$BIN/" ./bench/udpsidebyside/sluiceudp) >"$TMP/sluice-build.log" 2>&1 || return 1
	(cd "$src" && go build -o "$BIN/sluice" ./cmd/sluice) >>"$TMP/sluice-build.log" 2>&1 || rm -f "$BIN/sluice"
	return 0
}

for t in $TARGETS; do
	case $t in
	direct) ;;
	sluice)
		if ! build_sluice; then
			SKIP[sluice]="not built (go build failed)"
			sed 's/^/  /' "$TMP/sluice-build.log" >&2
		fi
		;;
	nginx)
		NGINX_STREAM_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
		if ! have nginx; then
			SKIP[nginx]="not installed (--install)"
		elif [[ ! -f $NGINX_STREAM_MOD ]] && ! nginx -V 2>&1 | grep -q -- '--with-stream\b'; then
			SKIP[nginx]="no stream module (libnginx-mod-stream)"
		else
			VERSION[nginx]=$(nginx -v 2>&1 | sed 's/^nginx version: //')
		fi
		;;
	socat) if have socat; then VERSION[socat]=$(socat -V | sed -n 's/^socat version \([^ ]*\).*/socat \1/p'); else SKIP[socat]="not installed (--install)"; fi ;;
	haproxy) SKIP[haproxy]="no UDP forwarding in HAProxy community"; log "skipping haproxy: ${SKIP[haproxy]}" ;;
	*) log "unknown target $t"; exit 2 ;;
	esac
	[[ -n ${SKIP[$t]:-} ]] && log "skipping $t: ${SKIP[$t]}"
done

# ---------------------------------------------------------------- process control

start_echo() { # PORT [-offload]
	udp_bound "$1" && { log "UDP port $1 (echo) is already in use; set PORT_BASE"; exit 1; }
	spawn "$TMP/udpecho-$1.log" "$BIN/udpecho" -listen "127.0.0.1:$1" ${2:-}
	wait_bound "$1" "$PID" || { log "echo server did not start"; cat "$TMP/udpecho-$1.log" >&2; exit 1; }
}

write_nginx_conf() { # PORT UPSTREAM_PORT
	mkdir -p "$TMP/nginx"
	local load=""
	[[ -f $NGINX_STREAM_MOD ]] && load="load_module $NGINX_STREAM_MOD;"
	cat >"$TMP/nginx/nginx.conf" <<-EOF
		# generated by bench/run-udp.sh
		$load
		daemon off;
		worker_processes auto;
		worker_rlimit_nofile $NOFILE;
		pid $TMP/nginx/nginx.pid;
		error_log $TMP/nginx/error.log warn;
		events {
		    worker_connections $((NOFILE - 100));
		    multi_accept $NGINX_MULTI_ACCEPT;
		}
		stream {
		    server {
		        listen 127.0.0.1:$1 udp reuseport;
		        proxy_pass 127.0.0.1:$2;
		        proxy_timeout 5m;
		    }
		}
	EOF
}

# sluice_cmd PORT UPSTREAM_PORT: sets SLUICE_CMD, the command line that runs sluice's UDP forwarder.
SLUICE_MODE=""
sluice_cmd() {
	if [[ -z $SLUICE_MODE ]]; then
		SLUICE_MODE=bench
		if [[ $SLUICE_UDP != bench && -x $BIN/sluice ]]; then
			# Probe: does `sluice forward -udp` bind?
			spawn "$TMP/sluice-probe.log" "$BIN/sluice" forward -udp -access-log=false "127.0.0.1:$1" "127.0.0.1:$2"
			if wait_bound "$1" "$PID"; then SLUICE_MODE=forward; fi
			stop "$PID"
			wait_udp_free "$1"
		fi
		if [[ $SLUICE_UDP == forward && $SLUICE_MODE != forward ]]; then
			log "SLUICE_UDP=forward but \`sluice forward -udp\` does not bind:"
			sed 's/^/  /' "$TMP/sluice-probe.log" >&2
			exit 1
		fi
		log "sluice runs as: $([[ $SLUICE_MODE == forward ]] && echo 'sluice forward -udp' || echo 'bench/udpsidebyside/sluiceudp')"
	fi
	if [[ $SLUICE_MODE == forward ]]; then
		SLUICE_CMD=("$BIN/sluice" forward -udp -access-log=false "127.0.0.1:$1" "127.0.0.1:$2")
	else
		SLUICE_CMD=("$BIN/sluiceudp" -listen "127.0.0.1:$1" -upstream "127.0.0.1:$2" -workers "$SLUICE_WORKERS")
	fi
}

# start_target TARGET UPSTREAM_PORT: sets TPORT (where clients send) and TPID (0 for direct).
start_target() {
	local t=$1 up=$2
	TPID=0
	if [[ $t == direct ]]; then
		TPORT=$up
		return 0
	fi
	TPORT=${PROXY_PORT[$t]}
	wait_udp_free "$TPORT" || { log "UDP port $TPORT is already in use; set PORT_BASE"; return 1; }
	case $t in
	sluice)
		sluice_cmd "$TPORT" "$up"
		spawn "$TMP/sluice.log" "${SLUICE_CMD[@]}"
		;;
	nginx)
		write_nginx_conf "$TPORT" "$up"
		spawn "$TMP/nginx.log" nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf"
		;;
	socat)
		spawn "$TMP/socat.log" socat "UDP-LISTEN:$TPORT,bind=127.0.0.1,fork,reuseaddr" "UDP:127.0.0.1:$up"
		;;
	esac
	TPID=$PID
	if ! wait_bound "$TPORT" "$TPID"; then
		log "$t did not bind UDP port $TPORT:"
		sed 's/^/  /' "$TMP/$t.log" >&2
		[[ $t == nginx ]] && sed 's/^/  /' "$TMP/nginx/error.log" >&2
		stop "$TPID"
		return 1
	fi
}

# slab_kib: the kernel's slab memory, system-wide (sockets, files, epoll items live there).
slab_kib() { awk '/^Slab:/ {print $2}' /proc/meminfo; }

# ---------------------------------------------------------------- measurements

declare -A VALS # "metric target" -> space-separated values, one per round
declare -A CELLNOTE

run_pps() { # TARGET PORT KEY [-offload]
	local out k=$3
	out=$("$BIN/udpload" -addr "127.0.0.1:$2" -flows "$FLOWS" -inflight "$INFLIGHT" -size "$SIZE" -duration "${DURATION}s" ${4:-} 2>"$TMP/udpload.err") || {
		log "udpload through $1 failed: $(cat "$TMP/udpload.err")"
		return 1
	}
	log "  $out"
	add "$k" "$1" "$(kv datagrams_per_s "$out")"
	OPS=$(kv datagrams "$out")
	add "${k}_p50" "$1" "$(kv p50_us "$out")"
	add "${k}_p99" "$1" "$(kv p99_us "$out")"
	add "${k}_lost" "$1" "$(kv lost "$out")"
}

run_idle() {
	local out slab0 slab1
	slab0=$(slab_kib)
	out=$("$BIN/udpidle" -addr "127.0.0.1:$2" -pid "$TPID" -sessions "$IDLE_SESSIONS" -settle "${IDLE_SETTLE}s" 2>"$TMP/udpidle.err") || {
		log "udpidle through $1 failed: $(cat "$TMP/udpidle.err")"
		CELLNOTE["idle_rss $1"]="failed: $(sed -n 's/.*\(created [0-9]* of [0-9]*\).*/\1/p' "$TMP/udpidle.err" | head -1)"
		return 1
	}
	slab1=$(slab_kib)
	log "  $out"
	add idle_rss "$1" "$(kv rss_kib_per_session "$out")"
	add idle_pss "$1" "$(kv pss_kib_per_session "$out")"
	add idle_slab "$1" "$(awk -v a="$slab0" -v b="$slab1" -v n="$IDLE_SESSIONS" 'BEGIN {printf "%.2f", (b - a) / n}')"
}

measure() { # METRIC TARGET
	local m=$1 t=$2
	if [[ $m == idle && $t == direct ]]; then CELLNOTE["idle $t"]="n/a"; return; fi
	[[ $t == direct ]] && CELLNOTE["${m}_cpu $t"]="n/a"
	if [[ $m == idle && $t == socat && $IDLE_SOCAT != 1 ]]; then CELLNOTE["idle $t"]="skipped¹"; return; fi
	local up=$ECHO_PORT
	[[ $m == pps_gso ]] && up=$GSO_ECHO_PORT
	start_target "$t" "$up" || { CELLNOTE["$m $t"]="failed to start"; return; }
	log "$m via $t (port $TPORT)"
	local ok=0 cpu0=0
	OPS=0
	((TPID)) && cpu0=$(tree_cpu "$TPID")
	case $m in
	pps) run_pps "$t" "$TPORT" pps && ok=1 ;;
	pps_gso) run_pps "$t" "$TPORT" pps_gso -offload && ok=1 ;;
	idle) run_idle "$t" "$TPORT" && ok=1 ;;
	*) log "unknown metric $m"; exit 2 ;;
	esac
	((ok)) || : "${CELLNOTE["$m $t"]:=failed}"
	if ((ok && TPID)) && [[ $m == pps* && $OPS != 0 ]]; then
		# Proxy CPU per echoed datagram (each crosses the proxy twice), in µs.
		local per
		per=$(awk -v a="$cpu0" -v b="$(tree_cpu "$TPID")" -v n="$OPS" 'BEGIN {printf "%.3f", (b - a) * 1000000 / n}')
		log "  proxy CPU: $per µs per echoed datagram"
		add "${m}_cpu" "$t" "$per"
	fi
	stop_target
}

# ---------------------------------------------------------------- run

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
case " $METRICS " in *" pps "* | *" idle "*) start_echo "$ECHO_PORT" ;; esac
case " $METRICS " in *" pps_gso "*) start_echo "$GSO_ECHO_PORT" -offload ;; esac

for ((round = 1; round <= REPEAT; round++)); do
	((REPEAT > 1)) && log "round $round of $REPEAT"
	for m in $METRICS; do
		for t in $(round_order "$round" $TARGETS); do
			[[ -n ${SKIP[$t]:-} ]] && continue
			measure "$m" "$t"
		done
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report

fmt() { # METRIC VALUE
	case $1 in
	pps | pps_gso | *_lost) printf '%.0f' "$2" ;;
	idle_*) printf '%.2f' "$2" ;;
	*) printf '%.1f' "$2" ;;
	esac
}

ROWS=(
	"pps|datagrams/s (${FLOWS} flows × ${INFLIGHT} in flight × ${SIZE} B, echoed)|↑"
	"pps_cpu|  proxy CPU µs per echoed datagram|↓"
	"pps_p50|round trip p50 µs|↓"
	"pps_p99|round trip p99 µs|↓"
	"pps_lost|datagrams lost|↓"
	"pps_gso|datagrams/s, GSO/GRO clients and echo (same shape)|↑"
	"pps_gso_cpu|  proxy CPU µs per echoed datagram|↓"
	"pps_gso_p50|round trip p50 µs|↓"
	"pps_gso_p99|round trip p99 µs|↓"
	"pps_gso_lost|datagrams lost|↓"
	"idle_rss|idle KiB/session, RSS (${IDLE_SESSIONS} sessions)|↓"
	"idle_pss|idle KiB/session, PSS (${IDLE_SESSIONS} sessions)|↓"
	"idle_slab|  kernel slab KiB/session (system-wide)|↓"
)
declare -A ROW_METRIC=([pps]=pps [pps_cpu]=pps [pps_p50]=pps [pps_p99]=pps [pps_lost]=pps
	[pps_gso]=pps_gso [pps_gso_cpu]=pps_gso [pps_gso_p50]=pps_gso [pps_gso_p99]=pps_gso [pps_gso_lost]=pps_gso
	[idle_rss]=idle [idle_pss]=idle [idle_slab]=idle)

PEERS=()
for t in $TARGETS; do [[ $t != sluice && $t != haproxy ]] && PEERS+=("$t"); done

report() {
	local t row key label dir m line
	echo "Command: \`bench/run-udp.sh\` (DURATION=$DURATION REPEAT=$REPEAT FLOWS=$FLOWS INFLIGHT=$INFLIGHT SIZE=$SIZE IDLE_SESSIONS=$IDLE_SESSIONS SLUICE_WORKERS=$SLUICE_WORKERS NGINX_MULTI_ACCEPT=$NGINX_MULTI_ACCEPT)"
	echo "Date: $START_DATE. Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); load average before $LOAD_BEFORE, after $LOAD_AFTER."
	printf 'Versions: sluice %s' "${VERSION[sluice]:-${SKIP[sluice]:-not run}}"
	[[ -n $SLUICE_MODE ]] && printf ' (%s)' "$([[ $SLUICE_MODE == forward ]] && echo 'sluice forward -udp' || echo 'bench/udpsidebyside/sluiceudp')"
	printf '; '
	for t in nginx socat; do [[ -n ${VERSION[$t]:-} ]] && printf '%s; ' "${VERSION[$t]}"; done
	echo "$(go version | cut -d' ' -f3)."
	echo
	line="| metric | better |"
	local sep="|---|:-:|"
	for t in $TARGETS; do [[ $t == haproxy ]] && continue; line+=" $t |"; sep+="--:|"; done
	for t in "${PEERS[@]}"; do line+=" sluice/$t |"; sep+="--:|"; done
	echo "$line"
	echo "$sep"
	for row in "${ROWS[@]}"; do
		IFS='|' read -r key label dir <<<"$row"
		m=${ROW_METRIC[$key]}
		[[ " $METRICS " == *" $m "* ]] || continue
		line="| $label | $dir |"
		for t in $TARGETS; do [[ $t == haproxy ]] && continue; line+=" $(cell "$key" "$t") |"; done
		for t in "${PEERS[@]}"; do
			local r=""
			[[ $key != *_lost ]] && r=$(ratio "$key" sluice "$t")
			line+=" ${r:-—} |"
		done
		echo "$line"
	done
	echo
	echo "Ratios are sluice ÷ peer: above 1 is better for ↑ rows, below 1 is better for ↓ rows. Proxy CPU is user+system time of the proxy's process tree (socat's reaped children included) during the measurement, divided by the datagrams echoed (each crossed the proxy twice); it shows efficiency apart from how the cores were shared with the load generator and the echo. Each figure is the median of $REPEAT round(s) (even rounds run the targets in reverse order); every target gets the same duration, one proxy runs at a time, each measurement starts a fresh proxy process."
	[[ " $METRICS " == *" idle "* ]] && echo "¹ socat forks a process per session; its idle cost is not measured unless IDLE_SOCAT=1. Idle cost is the growth of VmRSS (and PSS) of the proxy's process tree after creating the sessions, divided by their number; each session is proven by one echoed datagram, then its client socket is closed (the proxy keeps the session until its idle timeout). Kernel slab is the growth of the system-wide Slab figure in /proc/meminfo over the same time: the sockets, files and epoll items behind the sessions, plus whatever else the machine did meanwhile."
	[[ -n $IDLE_NOTE ]] && echo "Note: $IDLE_NOTE."
	echo
	echo "Targets:"
	[[ " $METRICS " == *" pps "* ]] && { check "datagrams/s ≥ 2× nginx stream (plain clients)" pps nginx 2; check "datagrams/s ≥ 1.5× socat (plain clients)" pps socat 1.5; }
	[[ " $METRICS " == *" pps_gso "* ]] && { check "datagrams/s ≥ 2× nginx stream (GSO/GRO clients)" pps_gso nginx 2; check "datagrams/s ≥ 1.5× socat (GSO/GRO clients)" pps_gso socat 1.5; }
	[[ " $METRICS " == *" idle "* ]] && check_max "idle ≤ 8 KiB per session (RSS)" idle_rss 8
	return 0
}

if [[ -n $OUT ]]; then report | tee "$OUT"; else report; fi
