#!/usr/bin/env bash
# run-tcp.sh — sluice side by side with HAProxy, nginx stream and socat, and direct (no proxy).
#
# Usage:
#   bench/run-tcp.sh             run every metric against every installed peer
#   bench/run-tcp.sh --install   apt-get install the peers first (haproxy nginx libnginx-mod-stream socat iperf3)
#   bench/run-tcp.sh --help
#
# Metrics (all on 127.0.0.1, one proxy running at a time, a fresh proxy process per measurement):
#   bulk      iperf3 client -> proxy -> iperf3 server, Gbit/s            (iperf3 -c ... -t DURATION)
#   bulk_r    the same with -R (server sends), Gbit/s
#   pingpong  CONNS connections, SIZE-byte request / echo, tx/s, p50, p99  (bench/sidebyside/pingpong)
#   connrate  WORKERS loops of connect, 1-byte echo, close, conns/s     (bench/sidebyside/connrate)
#   idle      IDLE_CONNS idle proxied connections, proxy KiB per conn   (bench/sidebyside/idleconns)
# The echo upstream is bench/sidebyside/echo, shared by all targets.
#
# Environment (defaults in brackets):
#   DURATION [5]         seconds per throughput/rate measurement, the same for every target
#   METRICS  ["bulk bulk_r pingpong connrate idle"]
#   TARGETS  ["direct sluice haproxy nginx socat"]  (a peer not installed is skipped with a note)
#   REPEAT   [1]         rounds; each runs every target once (even rounds in reverse order); the table shows the median
#   CONNS [16]  SIZE [64]  WORKERS [16]  IPERF_PARALLEL [1]
#   IDLE_CONNS [10000, lowered to fit RLIMIT_NOFILE]  IDLE_SETTLE [2] seconds  IDLE_SOCAT [0]
#   PORT_BASE [16000]    proxies listen on PORT_BASE+1.., echo on PORT_BASE+1000, iperf3 on PORT_BASE+1201
#   SLUICE_BIN           use this sluice binary instead of building ./cmd/sluice
#   SLUICE_REF           build sluice from this git ref (git archive into the temp dir) instead of the work tree
#   SLUICE_ARGS [-access-log=false]  flags for `sluice forward FLAGS LISTEN UPSTREAM` (the peers log nothing either)
#   OUT                  also write the markdown report to this file
#   KEEP_TMP [0]         keep the temp dir (configs, proxy logs)
#
# The report (markdown) goes to stdout, progress to stderr.
# Caveat: on a small machine the load generator and the proxy share the cores; that is the same for all targets.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

INSTALL=0
for arg in "$@"; do
	case "$arg" in
	--install) INSTALL=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run-tcp.sh: unknown argument $arg" >&2; usage >&2; exit 2 ;;
	esac
done

DURATION=${DURATION:-5}
METRICS=${METRICS:-"bulk bulk_r pingpong connrate idle"}
TARGETS=${TARGETS:-"direct sluice haproxy nginx socat"}
REPEAT=${REPEAT:-1}
CONNS=${CONNS:-16}
SIZE=${SIZE:-64}
WORKERS=${WORKERS:-16}
IPERF_PARALLEL=${IPERF_PARALLEL:-1}
IDLE_SETTLE=${IDLE_SETTLE:-2}
IDLE_SOCAT=${IDLE_SOCAT:-0}
PORT_BASE=${PORT_BASE:-16000}
SLUICE_ARGS=${SLUICE_ARGS--access-log=false}
OUT=${OUT:-}
KEEP_TMP=${KEEP_TMP:-0}

ECHO_PORT=$((PORT_BASE + 1000))
IPERF_PORT=$((PORT_BASE + 1201))
declare -A PROXY_PORT=([sluice]=$((PORT_BASE + 1)) [haproxy]=$((PORT_BASE + 2)) [nginx]=$((PORT_BASE + 3)) [socat]=$((PORT_BASE + 4)))

REPO=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/sluice-bench.XXXXXX)
BIN=$TMP/bin
STARTED=() # PIDs (each its own process group) to kill on exit

trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup

if [[ $INSTALL == 1 ]]; then
	log "installing peers"
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy nginx libnginx-mod-stream socat iperf3 || exit 1
fi

# Raise the soft descriptor limit to the hard one; each idle proxied connection costs the proxy two.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
# HAProxy sizes its fd needs as 2×maxconn + 2×maxpipes (+ a few) and refuses to start above the limit, so
# maxpipes (splice pipes, only needed by connections moving bulk data right now) is set to 256 explicitly.
HAPROXY_MAXPIPES=256
HAPROXY_MAXCONN=$(((NOFILE - 2 * HAPROXY_MAXPIPES - 400) / 2))
FIT_CONNS=$(((NOFILE - 2 * HAPROXY_MAXPIPES - 600) / 2))
((HAPROXY_MAXCONN > 100000)) && HAPROXY_MAXCONN=100000
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_NOTE=""
if ((IDLE_CONNS > FIT_CONNS)); then
	IDLE_NOTE="IDLE_CONNS lowered from $IDLE_CONNS to $FIT_CONNS: RLIMIT_NOFILE is $NOFILE and cannot be raised here (a proxy needs 2 fds per connection, HAProxy also 2 per splice pipe)"
	IDLE_CONNS=$FIT_CONNS
	log "$IDLE_NOTE"
fi

declare -A SKIP # target -> reason it has no figures at all
declare -A VERSION

log "building load generators into $BIN"
(cd "$REPO" && go build -o "$BIN/" ./bench/sidebyside/echo ./bench/sidebyside/pingpong ./bench/sidebyside/connrate ./bench/sidebyside/idleconns) || {
	log "build of bench/sidebyside failed"
	exit 1
}

SLUICE_COMMIT=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(cd "$REPO" && git status --porcelain 2>/dev/null) ]] && SLUICE_COMMIT+=" + uncommitted work tree"
for t in $TARGETS; do
	case $t in
	direct) ;;
	sluice)
		if [[ -n ${SLUICE_BIN:-} ]]; then
			SLUICE=$SLUICE_BIN
			VERSION[sluice]="$SLUICE_BIN"
		elif [[ -n ${SLUICE_REF:-} ]]; then
			log "building sluice from $SLUICE_REF"
			mkdir -p "$TMP/src"
			if (cd "$REPO" && git archive "$SLUICE_REF" | tar -x -C "$TMP/src" && cd "$TMP/src" && go build -o "$BIN/sluice" ./cmd/sluice) >"$TMP/sluice-build.log" 2>&1; then
				SLUICE=$BIN/sluice
				VERSION[sluice]="git $(cd "$REPO" && git rev-parse --short "$SLUICE_REF") ($SLUICE_REF)"
			else
				SKIP[sluice]="not built (go build of $SLUICE_REF failed)"
				sed 's/^/  /' "$TMP/sluice-build.log" >&2
			fi
		elif [[ -d $REPO/cmd/sluice ]]; then
			log "building sluice"
			if (cd "$REPO" && go build -o "$BIN/sluice" ./cmd/sluice) >"$TMP/sluice-build.log" 2>&1; then
				SLUICE=$BIN/sluice
				VERSION[sluice]="git $SLUICE_COMMIT"
			else
				SKIP[sluice]="not built (go build ./cmd/sluice failed)"
				sed 's/^/  /' "$TMP/sluice-build.log" >&2
			fi
		else
			SKIP[sluice]="not built (no cmd/sluice yet)"
		fi
		;;
	haproxy) if have haproxy; then VERSION[haproxy]=$(haproxy -v | sed -n '1s/ - .*//p'); else SKIP[haproxy]="not installed (--install)"; fi ;;
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
	*) log "unknown target $t"; exit 2 ;;
	esac
	[[ -n ${SKIP[$t]:-} ]] && log "skipping $t: ${SKIP[$t]}"
done
case " $METRICS " in *" bulk "* | *" bulk_r "*)
	if ! have iperf3; then
		log "iperf3 not installed: dropping bulk metrics (--install)"
		METRICS=$(sed 's/\bbulk_r\b//; s/\bbulk\b//' <<<"$METRICS")
	else
		VERSION[iperf3]=$(iperf3 -v | sed -n '1s/ (.*//p')
	fi
	;;
esac

# ---------------------------------------------------------------- process control

start_echo() {
	listening "$ECHO_PORT" && { log "port $ECHO_PORT (echo) is already in use; set PORT_BASE"; exit 1; }
	spawn "$TMP/echo.log" "$BIN/echo" -listen "127.0.0.1:$ECHO_PORT"
	ECHO_PID=$PID
	wait_listen "$ECHO_PORT" "$ECHO_PID" || { log "echo server did not start"; cat "$TMP/echo.log" >&2; exit 1; }
}

start_iperf_server() {
	wait_free "$IPERF_PORT" || { log "port $IPERF_PORT (iperf3) is already in use; set PORT_BASE"; exit 1; }
	spawn "$TMP/iperf3-server.log" iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
	IPERF_PID=$PID
	wait_listen "$IPERF_PORT" "$IPERF_PID" || { log "iperf3 server did not start"; cat "$TMP/iperf3-server.log" >&2; exit 1; }
}

write_haproxy_cfg() { # PORT UPSTREAM_PORT
	cat >"$TMP/haproxy.cfg" <<-EOF
		# generated by bench/run-tcp.sh; threads default to one per CPU
		global
		    maxconn $HAPROXY_MAXCONN
		    maxpipes $HAPROXY_MAXPIPES
		    pidfile $TMP/haproxy.pid
		defaults
		    mode tcp
		    option splice-auto
		    maxconn $HAPROXY_MAXCONN
		    timeout connect 5s
		    timeout client 1h
		    timeout server 1h
		frontend fe
		    bind 127.0.0.1:$1
		    default_backend be
		backend be
		    server s1 127.0.0.1:$2
	EOF
}

write_nginx_conf() { # PORT UPSTREAM_PORT
	mkdir -p "$TMP/nginx"
	local load=""
	[[ -f $NGINX_STREAM_MOD ]] && load="load_module $NGINX_STREAM_MOD;"
	cat >"$TMP/nginx/nginx.conf" <<-EOF
		# generated by bench/run-tcp.sh
		$load
		daemon off;
		worker_processes auto;
		worker_rlimit_nofile $NOFILE;
		pid $TMP/nginx/nginx.pid;
		error_log $TMP/nginx/error.log warn;
		events {
		    worker_connections $((NOFILE - 100));
		}
		stream {
		    server {
		        listen 127.0.0.1:$1 reuseport backlog=4096;
		        proxy_pass 127.0.0.1:$2;
		        proxy_timeout 1h;
		    }
		}
	EOF
}

# start_target TARGET UPSTREAM_PORT: sets TPORT (where clients connect) and TPID (0 for direct).
start_target() {
	local t=$1 up=$2
	TPID=0
	if [[ $t == direct ]]; then
		TPORT=$up
		return 0
	fi
	TPORT=${PROXY_PORT[$t]}
	wait_free "$TPORT" || { log "port $TPORT is already in use; set PORT_BASE"; return 1; }
	case $t in
	sluice)
		# shellcheck disable=SC2086
		spawn "$TMP/sluice.log" "$SLUICE" forward $SLUICE_ARGS "127.0.0.1:$TPORT" "127.0.0.1:$up"
		;;
	haproxy)
		write_haproxy_cfg "$TPORT" "$up"
		spawn "$TMP/haproxy.log" haproxy -db -f "$TMP/haproxy.cfg"
		;;
	nginx)
		write_nginx_conf "$TPORT" "$up"
		spawn "$TMP/nginx.log" nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf"
		;;
	socat)
		spawn "$TMP/socat.log" socat "TCP-LISTEN:$TPORT,bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay" "TCP:127.0.0.1:$up,nodelay"
		;;
	esac
	TPID=$PID
	if ! wait_listen "$TPORT" "$TPID"; then
		log "$t did not start listening on $TPORT:"
		sed 's/^/  /' "$TMP/$t.log" >&2
		[[ $t == nginx ]] && sed 's/^/  /' "$TMP/nginx/error.log" >&2
		stop "$TPID"
		return 1
	fi
}

# ---------------------------------------------------------------- measurements

declare -A VALS # "metric target" -> space-separated values, one per round
declare -A CELLNOTE

run_bulk() { # TARGET PORT [-R]
	local out gbps try
	for try in 1 2; do
		out=$(iperf3 -c 127.0.0.1 -p "$2" -t "$DURATION" -P "$IPERF_PARALLEL" -f g ${3:-} 2>&1)
		gbps=$(awk '/receiver/ && $(NF-1) == "Gbits/sec" {v = $(NF-2)} END {print v}' <<<"$out")
		[[ -n $gbps ]] && break
		log "iperf3 through $1 failed (try $try): $(tail -1 <<<"$out")"
		stop "$IPERF_PID"
		start_iperf_server
	done
	[[ -n $gbps ]] || return 1
	log "  $gbps Gbit/s"
	local key=bulk
	[[ -n ${3:-} ]] && key=bulk_r
	add "$key" "$1" "$gbps"
	OPS=$(awk -v g="$gbps" -v d="$DURATION" 'BEGIN {print g * d / 8}') # GB moved
}

run_pingpong() {
	local out
	out=$("$BIN/pingpong" -addr "127.0.0.1:$2" -conns "$CONNS" -size "$SIZE" -duration "${DURATION}s" 2>"$TMP/pingpong.err") || {
		log "pingpong through $1 failed: $(cat "$TMP/pingpong.err")"
		return 1
	}
	log "  $out"
	add pp_tx "$1" "$(kv tx_per_s "$out")"
	OPS=$(kv tx "$out")
	add pp_p50 "$1" "$(kv p50_us "$out")"
	add pp_p99 "$1" "$(kv p99_us "$out")"
}

run_connrate() {
	local out
	out=$("$BIN/connrate" -addr "127.0.0.1:$2" -workers "$WORKERS" -duration "${DURATION}s" 2>"$TMP/connrate.err") || {
		log "connrate through $1 failed: $(cat "$TMP/connrate.err")"
		return 1
	}
	log "  $out"
	[[ -s $TMP/connrate.err ]] && log "  $(cat "$TMP/connrate.err")"
	add cr_rate "$1" "$(kv conns_per_s "$out")"
	OPS=$(kv conns "$out")
	add cr_p99 "$1" "$(kv p99_us "$out")"
}

run_idle() {
	local out
	out=$("$BIN/idleconns" -addr "127.0.0.1:$2" -pid "$TPID" -conns "$IDLE_CONNS" -settle "${IDLE_SETTLE}s" 2>"$TMP/idle.err") || {
		log "idleconns through $1 failed: $(cat "$TMP/idle.err")"
		CELLNOTE["idle_rss $1"]="failed: $(sed -n 's/.*\(opened [0-9]* of [0-9]*\).*/\1/p' "$TMP/idle.err" | head -1)"
		return 1
	}
	log "  $out"
	[[ -s $TMP/idle.err ]] && log "  $(cat "$TMP/idle.err")"
	add idle_rss "$1" "$(kv rss_kib_per_conn "$out")"
	add idle_pss "$1" "$(kv pss_kib_per_conn "$out")"
}

measure() { # METRIC TARGET
	local m=$1 t=$2 up
	case $m in
	bulk | bulk_r) up=$IPERF_PORT ;;
	*) up=$ECHO_PORT ;;
	esac
	if [[ $m == idle && $t == direct ]]; then CELLNOTE["idle $t"]="n/a"; return; fi
	[[ $t == direct ]] && CELLNOTE["${m}_cpu $t"]="n/a"
	if [[ $m == idle && $t == socat && $IDLE_SOCAT != 1 ]]; then CELLNOTE["idle $t"]="skipped¹"; return; fi
	start_target "$t" "$up" || { CELLNOTE["$m $t"]="failed to start"; return; }
	log "$m via $t (port $TPORT)"
	local ok=0 cpu0=0
	OPS=0
	((TPID)) && cpu0=$(tree_cpu "$TPID")
	case $m in
	bulk) run_bulk "$t" "$TPORT" && ok=1 ;;
	bulk_r) run_bulk "$t" "$TPORT" -R && ok=1 ;;
	pingpong) run_pingpong "$t" "$TPORT" && ok=1 ;;
	connrate) run_connrate "$t" "$TPORT" && ok=1 ;;
	idle) run_idle "$t" "$TPORT" && ok=1 ;;
	*) log "unknown metric $m"; exit 2 ;;
	esac
	((ok)) || : "${CELLNOTE["$m $t"]:=failed}"
	if ((ok && TPID)) && [[ $m != idle && $OPS != 0 ]]; then
		# Proxy CPU per unit of work: ms per GB for bulk, µs per transaction or connection otherwise.
		local scale=1000000
		[[ $m == bulk* ]] && scale=1000
		local per
		per=$(awk -v a="$cpu0" -v b="$(tree_cpu "$TPID")" -v n="$OPS" -v s="$scale" 'BEGIN {printf "%.3f", (b - a) * s / n}')
		log "  proxy CPU: $per $([[ $m == bulk* ]] && echo ms/GB || echo µs/op)"
		add "${m}_cpu" "$t" "$per"
	fi
	stop_target
}

# ---------------------------------------------------------------- run

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
case " $METRICS " in *" pingpong "* | *" connrate "* | *" idle "*) start_echo ;; esac
case " $METRICS " in *" bulk"*) start_iperf_server ;; esac

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
	bulk | bulk_r) printf '%.2f' "$2" ;;
	*_cpu) printf '%.1f' "$2" ;;
	pp_tx | cr_rate) printf '%.0f' "$2" ;;
	idle_*) printf '%.2f' "$2" ;;
	*) printf '%.1f' "$2" ;;
	esac
}

ROWS=(
	"bulk|bulk Gbit/s (iperf3, client→server)|↑"
	"bulk_cpu|  proxy CPU ms per GB|↓"
	"bulk_r|bulk Gbit/s (iperf3 -R, server→client)|↑"
	"bulk_r_cpu|  proxy CPU ms per GB|↓"
	"pp_tx|ping-pong tx/s (${CONNS} conns × ${SIZE} B)|↑"
	"pp_p50|ping-pong p50 µs|↓"
	"pp_p99|ping-pong p99 µs|↓"
	"pingpong_cpu|  proxy CPU µs per tx|↓"
	"cr_rate|conns/s (${WORKERS} workers, 1 B echo)|↑"
	"cr_p99|conn p99 µs (connect+echo+close)|↓"
	"connrate_cpu|  proxy CPU µs per conn|↓"
	"idle_rss|idle KiB/conn, RSS (${IDLE_CONNS} conns)|↓"
	"idle_pss|idle KiB/conn, PSS (${IDLE_CONNS} conns)|↓"
)
declare -A ROW_METRIC=([bulk]=bulk [bulk_cpu]=bulk [bulk_r]=bulk_r [bulk_r_cpu]=bulk_r [pingpong_cpu]=pingpong [connrate_cpu]=connrate [pp_tx]=pingpong [pp_p50]=pingpong [pp_p99]=pingpong [cr_rate]=connrate [cr_p99]=connrate [idle_rss]=idle [idle_pss]=idle)

PEERS=()
for t in $TARGETS; do [[ $t != sluice ]] && PEERS+=("$t"); done

report() {
	local t row key label dir m line
	echo "Command: \`bench/run-tcp.sh\` (DURATION=$DURATION REPEAT=$REPEAT CONNS=$CONNS SIZE=$SIZE WORKERS=$WORKERS IPERF_PARALLEL=$IPERF_PARALLEL IDLE_CONNS=$IDLE_CONNS)"
	echo "Date: $START_DATE. Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); load average before $LOAD_BEFORE, after $LOAD_AFTER."
	printf 'Versions: sluice %s; ' "${VERSION[sluice]:-${SKIP[sluice]:-not run}}"
	for t in haproxy nginx socat iperf3; do [[ -n ${VERSION[$t]:-} ]] && printf '%s; ' "${VERSION[$t]}"; done
	echo "$(go version | cut -d' ' -f3)."
	echo
	line="| metric | better |"
	local sep="|---|:-:|"
	for t in $TARGETS; do line+=" $t |"; sep+="--:|"; done
	for t in "${PEERS[@]}"; do line+=" sluice/$t |"; sep+="--:|"; done
	echo "$line"
	echo "$sep"
	for row in "${ROWS[@]}"; do
		IFS='|' read -r key label dir <<<"$row"
		m=${ROW_METRIC[$key]}
		[[ " $METRICS " == *" $m "* ]] || continue
		line="| $label | $dir |"
		for t in $TARGETS; do line+=" $(cell "$key" "$t") |"; done
		for t in "${PEERS[@]}"; do
			local r
			r=$(ratio "$key" sluice "$t")
			line+=" ${r:-—} |"
		done
		echo "$line"
	done
	echo
	echo "Ratios are sluice ÷ peer: above 1 is better for ↑ rows, below 1 is better for ↓ rows. Proxy CPU is user+system time of the proxy's process tree (socat's reaped children included) during the measurement, divided by the work done; it shows efficiency apart from how the cores were shared with the load generator. Each figure is the median of $REPEAT round(s) (even rounds run the targets in reverse order); every target gets the same duration, one proxy runs at a time, each measurement starts a fresh proxy process."
	[[ " $METRICS " == *" idle "* ]] && echo "¹ socat forks a process per connection; its idle cost is not measured unless IDLE_SOCAT=1. Idle cost is the growth of VmRSS (and PSS) of the proxy's process tree after opening the connections, divided by their number; each connection completes one 1-byte echo first."
	[[ -n $IDLE_NOTE ]] && echo "Note: $IDLE_NOTE."
	echo
	echo "Targets:"
	[[ " $METRICS " == *" bulk "* ]] && { check "bulk ≥ 0.85× direct" bulk direct 0.85; check "bulk ≥ 1.3× HAProxy" bulk haproxy 1.3; }
	[[ " $METRICS " == *" bulk_r "* ]] && { check "bulk -R ≥ 0.85× direct" bulk_r direct 0.85; check "bulk -R ≥ 1.3× HAProxy" bulk_r haproxy 1.3; }
	[[ " $METRICS " == *" pingpong "* ]] && check "ping-pong tx/s ≥ 1.1× nginx stream" pp_tx nginx 1.1
	[[ " $METRICS " == *" connrate "* ]] && check "conns/s ≥ 1.1× nginx stream" cr_rate nginx 1.1
	[[ " $METRICS " == *" idle "* ]] && check_max "idle ≤ 16 KiB per connection (RSS)" idle_rss 16
	return 0
}

if [[ -n $OUT ]]; then report | tee "$OUT"; else report; fi
