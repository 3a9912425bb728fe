#!/usr/bin/env bash
# run-tls.sh — sluice's TLS termination side by side with HAProxy (`bind ... ssl crt`).
#
# Usage:
#   bench/run-tls.sh             run every metric in both placements
#   bench/run-tls.sh --install   apt-get install haproxy wrk first
#   bench/run-tls.sh --help
#
# Metrics (127.0.0.1 only; one proxy at a time, a fresh process per measurement; ECDSA P-256 certificate):
#   hs     full TLS 1.3 handshakes per second: WORKERS loops of connect, handshake (no resumption), 1-byte echo,
#          close (bench/sidebyside/connrate -tls) through a TCP service terminating TLS in front of the echo server;
#          proxy CPU µs per handshake
#   https  HTTPS keep-alive: wrk -c CONNS, GET answered with BODY bytes by the Go origin; proxy CPU µs per request
#   bulk   TLS-terminated bulk TCP to a cleartext sink (bench/sidebyside/tlsbulk), Gbit/s; proxy CPU ms per GB
# Placements (PLACEMENTS, both by default):
#   isolate  the proxy alone on CPU 1 (one thread/worker/GOMAXPROCS), the load and the upstream on CPU 0
#   shared   nothing pinned, every proxy with its default threads (HAProxy: one per CPU; sluice: GOMAXPROCS)
#
# Environment (defaults in brackets):
#   DURATION [5]  REPEAT [1]  WORKERS [16]  CONNS [50]  BODY [1024]
#   METRICS ["hs https bulk"]  PLACEMENTS ["isolate shared"]  TARGETS ["sluice haproxy"]
#   PORT_BASE [21000]  SLUICE_REF (build sluice from a git ref)  OUT (also write the report here)  KEEP_TMP [0]
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
for arg in "$@"; do
	case "$arg" in
	--install) apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy wrk >&2 || exit 1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run-tls.sh: unknown argument $arg" >&2; usage >&2; exit 2 ;;
	esac
done

DURATION=${DURATION:-5}
REPEAT=${REPEAT:-1}
WORKERS=${WORKERS:-16}
CONNS=${CONNS:-50}
BODY=${BODY:-1024}
METRICS=${METRICS:-"hs https bulk"}
PLACEMENTS=${PLACEMENTS:-"isolate shared"}
TARGETS=${TARGETS:-"sluice haproxy"}
PORT_BASE=${PORT_BASE:-21000}
KEEP_TMP=${KEEP_TMP:-0}
OUT=${OUT:-}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
STARTED=()
declare -A VALS
trap cleanup EXIT
PROXY_PORT=$((PORT_BASE + 1))
ECHO_PORT=$((PORT_BASE + 1000))
ORIGIN_PORT=$((PORT_BASE + 1001))
SINK_PORT=$((PORT_BASE + 1002))

for t in $TARGETS; do
	[[ $t == haproxy ]] && ! have haproxy && { echo "run-tls.sh: haproxy not installed (--install)" >&2; exit 1; }
done
have wrk || [[ " $METRICS " != *" https "* ]] || { echo "run-tls.sh: wrk not installed (--install)" >&2; exit 1; }

log "building sluice and the load tools"
BIN=$TMP/bin
mkdir -p "$BIN"
if [[ -n ${SLUICE_REF:-} ]]; then
	mkdir -p "$TMP/src" && git -C "$ROOT" archive "$SLUICE_REF" | tar -x -C "$TMP/src"
	(cd "$TMP/src" && go build -o "$BIN/sluice" ./cmd/sluice) || exit 1
	VERSION="git $SLUICE_REF"
else
	(cd "$ROOT" && go build -o "$BIN/sluice" ./cmd/sluice) || exit 1
	VERSION="git $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' + work tree')"
fi
(cd "$ROOT" && go build -o "$BIN/" ./bench/sidebyside/connrate ./bench/sidebyside/echo ./bench/sidebyside/tlsbulk ./bench/httpsidebyside/origin) || exit 1

log "making an ECDSA P-256 certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null || exit 1
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/combined.pem"

# pin PLACEMENT ROLE: the taskset prefix of a role (proxy, load) in a placement.
pin() {
	[[ $1 == isolate ]] || return 0
	if [[ $2 == proxy ]]; then echo "taskset -c 1"; else echo "taskset -c 0"; fi
}

# start_proxy TARGET METRIC PLACEMENT: writes the config and starts the proxy on PROXY_PORT; sets TPID.
start_proxy() {
	local target=$1 metric=$2 placement=$3 up mode threads=""
	case $metric in hs) up=$ECHO_PORT ;; https) up=$ORIGIN_PORT ;; bulk) up=$SINK_PORT ;; esac
	[[ $placement == isolate ]] && threads=1
	if [[ $target == sluice ]]; then
		if [[ $metric == https ]]; then
			cat >"$TMP/sluice.yaml" <<-EOF
				log: {level: error, access_log: false}
				http:
				  - name: tls
				    listen: ["127.0.0.1:$PROXY_PORT"]
				    upstreams: [{addr: "127.0.0.1:$up"}]
				    tls: {certificates: [{cert: "$TMP/cert.pem", key: "$TMP/key.pem"}]}
			EOF
		else
			cat >"$TMP/sluice.yaml" <<-EOF
				log: {level: error, access_log: false}
				tcp:
				  - name: tls
				    listen: ["127.0.0.1:$PROXY_PORT"]
				    upstreams: [{addr: "127.0.0.1:$up"}]
				    tls: {certificates: [{cert: "$TMP/cert.pem", key: "$TMP/key.pem"}]}
			EOF
		fi
		spawn "$TMP/proxy.log" $(pin "$placement" proxy) "$BIN/sluice" run -c "$TMP/sluice.yaml"
	else
		mode=tcp
		[[ $metric == https ]] && mode=http
		{
			echo "global"
			echo "  maxconn 9000"
			[[ -n $threads ]] && echo "  nbthread $threads"
			echo "defaults"
			echo "  mode $mode"
			echo "  timeout connect 5s"
			echo "  timeout client 60s"
			echo "  timeout server 60s"
			[[ $mode == http ]] && echo "  http-reuse always"
			echo "frontend fe"
			echo "  bind 127.0.0.1:$PROXY_PORT ssl crt $TMP/combined.pem alpn http/1.1"
			echo "  default_backend be"
			echo "backend be"
			echo "  server s1 127.0.0.1:$up"
		} >"$TMP/haproxy.cfg"
		spawn "$TMP/proxy.log" $(pin "$placement" proxy) haproxy -f "$TMP/haproxy.cfg" -db
	fi
	TPID=$PID
	wait_listen "$PROXY_PORT" "$TPID" || { log "$target did not listen:"; cat "$TMP/proxy.log" >&2; return 1; }
}

# measure TARGET METRIC PLACEMENT: one measurement; records the figure and the proxy CPU per unit.
measure() {
	local target=$1 metric=$2 placement=$3 out cpu0 cpu1 n rate
	start_proxy "$target" "$metric" "$placement" || return 1
	cpu0=$(tree_cpu "$TPID")
	case $metric in
	hs)
		out=$($(pin "$placement" load) "$BIN/connrate" -tls -addr "127.0.0.1:$PROXY_PORT" -workers "$WORKERS" -duration "${DURATION}s")
		cpu1=$(tree_cpu "$TPID")
		n=$(kv conns "$out") rate=$(kv conns_per_s "$out")
		add "hs_rate $placement" "$target" "$rate"
		add "hs_cpu $placement" "$target" "$(awk -v c="$cpu1" -v d="$cpu0" -v n="$n" 'BEGIN {printf "%.1f", (c - d) * 1e6 / n}')"
		log "  $target $placement: $rate handshakes/s ($out)"
		;;
	https)
		$(pin "$placement" load) wrk -t 1 -c "$CONNS" -d 1s "https://127.0.0.1:$PROXY_PORT/" >/dev/null 2>&1
		cpu0=$(tree_cpu "$TPID")
		out=$($(pin "$placement" load) wrk -t 1 -c "$CONNS" -d "${DURATION}s" "https://127.0.0.1:$PROXY_PORT/" 2>&1)
		cpu1=$(tree_cpu "$TPID")
		rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
		n=$(awk '/requests in/ {print $1}' <<<"$out")
		add "https_rate $placement" "$target" "$rate"
		add "https_cpu $placement" "$target" "$(awk -v c="$cpu1" -v d="$cpu0" -v n="$n" 'BEGIN {if (n > 0) printf "%.1f", (c - d) * 1e6 / n}')"
		log "  $target $placement: $rate req/s"
		;;
	bulk)
		out=$($(pin "$placement" load) "$BIN/tlsbulk" -addr "127.0.0.1:$PROXY_PORT" -duration "${DURATION}s")
		cpu1=$(tree_cpu "$TPID")
		rate=$(kv gbit_s "$out") n=$(kv bytes "$out")
		add "bulk_rate $placement" "$target" "$rate"
		add "bulk_cpu $placement" "$target" "$(awk -v c="$cpu1" -v d="$cpu0" -v n="$n" 'BEGIN {printf "%.1f", (c - d) * 1e3 / (n / 1e9)}')"
		log "  $target $placement: $rate Gbit/s"
		;;
	esac
	stop_target
	wait_free "$PROXY_PORT"
}

TPID=0
spawn "$TMP/echo.log" taskset -c 0 "$BIN/echo" -listen "127.0.0.1:$ECHO_PORT"
wait_listen "$ECHO_PORT" "$PID" || { cat "$TMP/echo.log" >&2; exit 1; }
spawn "$TMP/origin.log" taskset -c 0 "$BIN/origin" -listen "127.0.0.1:$ORIGIN_PORT" -size "$BODY"
wait_listen "$ORIGIN_PORT" "$PID" || { cat "$TMP/origin.log" >&2; exit 1; }
spawn "$TMP/sink.log" taskset -c 0 "$BIN/tlsbulk" -sink "127.0.0.1:$SINK_PORT"
wait_listen "$SINK_PORT" "$PID" || { cat "$TMP/sink.log" >&2; exit 1; }

for ((round = 1; round <= REPEAT; round++)); do
	for placement in $PLACEMENTS; do
		for metric in $METRICS; do
			for t in $(round_order "$round" $TARGETS); do
				log "round $round: $metric via $t ($placement)"
				measure "$t" "$metric" "$placement"
			done
		done
	done
done

fmt() { printf '%s' "$2"; }
report() {
	echo "Command: \`bench/run-tls.sh\` (DURATION=$DURATION REPEAT=$REPEAT WORKERS=$WORKERS CONNS=$CONNS BODY=$BODY)"
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Machine: $(nproc) cores, $(uname -r)."
	echo "Versions: sluice $VERSION; $(haproxy -v 2>/dev/null | head -1); $(openssl version); $(go version | awk '{print $3}')."
	echo
	echo "| placement | metric | better | sluice | haproxy | sluice/haproxy |"
	echo "|---|---|:-:|--:|--:|--:|"
	local p m
	for p in $PLACEMENTS; do
		for m in $METRICS; do
			case $m in
			hs) row "$p" "hs_rate" "TLS 1.3 handshakes/s (new connection each, 1-byte echo)" ↑; row "$p" "hs_cpu" "  proxy CPU µs per handshake" ↓ ;;
			https) row "$p" "https_rate" "HTTPS keep-alive req/s (wrk -c$CONNS, $BODY B)" ↑; row "$p" "https_cpu" "  proxy CPU µs per request" ↓ ;;
			bulk) row "$p" "bulk_rate" "TLS-terminated bulk Gbit/s" ↑; row "$p" "bulk_cpu" "  proxy CPU ms per GB" ↓ ;;
			esac
		done
	done
	echo
	echo "Each figure is the median of $REPEAT round(s) (even rounds run the targets in reverse order). Proxy CPU is user+system time of the proxy's process tree during the measurement, divided by the work done. isolate: proxy alone on CPU 1 (1 thread / GOMAXPROCS 1), load and upstream on CPU 0; shared: nothing pinned but the upstreams (CPU 0), every proxy with its default threads."
	echo
	echo "Targets (each must hold in both placements):"
	for p in $PLACEMENTS; do
		[[ " $METRICS " == *" hs "* ]] && { check "$p: handshakes/s ≥ 1.0× HAProxy" "hs_rate $p" haproxy 1.0; check_le "$p: proxy CPU per handshake ≤ HAProxy's" "hs_cpu $p"; }
		[[ " $METRICS " == *" https "* ]] && check "$p: HTTPS req/s ≥ 1.0× HAProxy" "https_rate $p" haproxy 1.0
		[[ " $METRICS " == *" bulk "* ]] && check "$p: TLS bulk ≥ 1.0× HAProxy" "bulk_rate $p" haproxy 1.0
	done
}
row() { # PLACEMENT KEY LABEL BETTER
	echo "| $1 | $3 | $4 | $(value "$2 $1" sluice) | $(value "$2 $1" haproxy) | $(ratio "$2 $1" sluice haproxy) |"
}
check_le() { # LABEL METRIC: PASS when sluice/haproxy <= 1
	local r
	r=$(ratio "$2" sluice haproxy)
	if [[ -z $r ]]; then printf -- '- %s: N/A\n' "$1"
	elif awk -v r="$r" 'BEGIN {exit !(r <= 1.0)}'; then printf -- '- %s: **PASS** (%s×)\n' "$1" "$r"
	else printf -- '- %s: **FAIL** (%s×)\n' "$1" "$r"; fi
}
if [[ -n $OUT ]]; then report | tee "$OUT"; else report; fi
