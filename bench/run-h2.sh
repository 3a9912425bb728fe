#!/usr/bin/env bash
# run-h2.sh — sluice's HTTP/2 proxying side by side with HAProxy and nginx, driven by h2load.
#
# Usage:
#   bench/run-h2.sh             run every metric in both placements
#   bench/run-h2.sh --install   apt-get install haproxy nginx nghttp2-client first
#   bench/run-h2.sh --help
#
# Metrics (127.0.0.1 only; one proxy at a time, a fresh process per measurement; h2load -c CONNS -m STREAMS,
# BODY-byte answers; proxy CPU µs per request beside each rate):
#   h2c    h2c (prior knowledge) downstream to the HTTP/1.1 origin (bench/httpsidebyside/origin)
#   h2tls  the same over TLS (ALPN h2, ECDSA P-256)
#   h2up   h2c downstream to an h2c origin (origin -h2c): sluice `protocol: h2c, max_streams: MAX_STREAMS`,
#          HAProxy `server ... proto h2`; nginx has no HTTP/2 upstreams and sits this one out. The upstream
#          connections the proxy opened are counted after the run.
# Placements (PLACEMENTS, both by default):
#   isolate  the proxy alone on CPU 1 (one thread/worker/GOMAXPROCS), the load and the origin on CPU 0
#   shared   nothing pinned but the origin (CPU 0), every proxy with its default threads
#
# Environment (defaults in brackets):
#   DURATION [5]  REPEAT [1]  CONNS [50]  STREAMS [10]  BODY [1024]  MAX_STREAMS [100]
#   METRICS ["h2c h2tls h2up"]  PLACEMENTS ["isolate shared"]  TARGETS ["sluice haproxy nginx"]
#   PORT_BASE [23000]  OUT (also write the report here)  KEEP_TMP [0]
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
for arg in "$@"; do
	case "$arg" in
	--install) apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy nginx nghttp2-client >&2 || exit 1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run-h2.sh: unknown argument $arg" >&2; usage >&2; exit 2 ;;
	esac
done

DURATION=${DURATION:-5}
REPEAT=${REPEAT:-1}
CONNS=${CONNS:-50}
STREAMS=${STREAMS:-10}
BODY=${BODY:-1024}
MAX_STREAMS=${MAX_STREAMS:-100}
METRICS=${METRICS:-"h2c h2tls h2up"}
PLACEMENTS=${PLACEMENTS:-"isolate shared"}
TARGETS=${TARGETS:-"sluice haproxy nginx"}
PORT_BASE=${PORT_BASE:-23000}
KEEP_TMP=${KEEP_TMP:-0}
OUT=${OUT:-}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
STARTED=()
declare -A VALS
trap cleanup EXIT
PROXY_PORT=$((PORT_BASE + 1))
ORIGIN_PORT=$((PORT_BASE + 1000))
H2_ORIGIN_PORT=$((PORT_BASE + 1001))

have h2load || { echo "run-h2.sh: h2load not installed (--install)" >&2; exit 1; }
for t in $TARGETS; do
	have "$t" || [[ $t == sluice ]] || { echo "run-h2.sh: $t not installed (--install)" >&2; exit 1; }
done

log "building sluice and the origin"
BIN=$TMP/bin
mkdir -p "$BIN"
(cd "$ROOT" && go build -o "$BIN/sluice" ./cmd/sluice && go build -o "$BIN/" ./bench/httpsidebyside/origin) || exit 1
VERSION="git $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' + work tree')"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null || exit 1
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/combined.pem"

pin() { # PLACEMENT ROLE
	[[ $1 == isolate ]] || return 0
	if [[ $2 == proxy ]]; then echo "taskset -c 1"; else echo "taskset -c 0"; fi
}

sluice_config() { # METRIC
	local up=$ORIGIN_PORT extra="" tls=""
	[[ $1 == h2up ]] && up=$H2_ORIGIN_PORT extra=", protocol: h2c, max_streams: $MAX_STREAMS"
	[[ $1 == h2tls ]] && tls="    tls: {certificates: [{cert: \"$TMP/cert.pem\", key: \"$TMP/key.pem\"}], alpn: [h2, http/1.1]}"
	cat <<-EOF
		log: {level: error, access_log: false}
		http:
		  - name: h2
		    listen: ["127.0.0.1:$PROXY_PORT"]
		    h2c: true
		    upstreams: [{addr: "127.0.0.1:$up"$extra}]
		$tls
	EOF
}

haproxy_config() { # METRIC PLACEMENT
	local bind="bind 127.0.0.1:$PROXY_PORT proto h2" server="server s1 127.0.0.1:$ORIGIN_PORT"
	[[ $1 == h2tls ]] && bind="bind 127.0.0.1:$PROXY_PORT ssl crt $TMP/combined.pem alpn h2,http/1.1"
	[[ $1 == h2up ]] && server="server s1 127.0.0.1:$H2_ORIGIN_PORT proto h2"
	echo "global"
	echo "  maxconn 9000"
	[[ $2 == isolate ]] && echo "  nbthread 1"
	printf '%s\n' "defaults" "  mode http" "  timeout connect 5s" "  timeout client 60s" "  timeout server 60s" "  http-reuse always"
	printf '%s\n' "frontend fe" "  $bind" "  default_backend be" "backend be" "  $server"
}

nginx_config() { # METRIC PLACEMENT
	# Debian 12's nginx 1.22: "http2" is a listen parameter (cleartext: prior knowledge only).
	local listen="listen 127.0.0.1:$PROXY_PORT http2;" workers=auto
	[[ $1 == h2tls ]] && listen="listen 127.0.0.1:$PROXY_PORT ssl http2; ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;"
	[[ $2 == isolate ]] && workers=1
	cat <<-EOF
		worker_processes $workers;
		pid $TMP/nginx.pid;
		error_log $TMP/nginx.err error;
		daemon off;
		events { worker_connections 9000; }
		http {
		  access_log off;
		  keepalive_requests 10000000;
		  upstream o { server 127.0.0.1:$ORIGIN_PORT; keepalive 128; }
		  server {
		    $listen
		    http2_max_concurrent_streams 128;
		    location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; }
		  }
		}
	EOF
}

start_proxy() { # TARGET METRIC PLACEMENT; sets TPID
	local target=$1 metric=$2 placement=$3
	case $target in
	sluice) sluice_config "$metric" >"$TMP/sluice.yaml"
		spawn "$TMP/proxy.log" $(pin "$placement" proxy) "$BIN/sluice" run -c "$TMP/sluice.yaml" ;;
	haproxy) haproxy_config "$metric" "$placement" >"$TMP/haproxy.cfg"
		spawn "$TMP/proxy.log" $(pin "$placement" proxy) haproxy -f "$TMP/haproxy.cfg" -db ;;
	nginx) nginx_config "$metric" "$placement" >"$TMP/nginx.conf"
		spawn "$TMP/proxy.log" $(pin "$placement" proxy) nginx -c "$TMP/nginx.conf" ;;
	esac
	TPID=$PID
	wait_listen "$PROXY_PORT" "$TPID" || { log "$target did not listen:"; cat "$TMP/proxy.log" >&2; return 1; }
}

measure() { # TARGET METRIC PLACEMENT
	local target=$1 metric=$2 placement=$3 out cpu0 cpu1 n rate url="http://127.0.0.1:$PROXY_PORT/" ups
	[[ $target == nginx && $metric == h2up ]] && return 0
	[[ $metric == h2tls ]] && url="https://127.0.0.1:$PROXY_PORT/"
	start_proxy "$target" "$metric" "$placement" || return 1
	$(pin "$placement" load) h2load -c "$CONNS" -m "$STREAMS" -D 1 "$url" >/dev/null 2>&1
	cpu0=$(tree_cpu "$TPID")
	out=$($(pin "$placement" load) h2load -c "$CONNS" -m "$STREAMS" -D "$DURATION" "$url" 2>&1)
	cpu1=$(tree_cpu "$TPID")
	rate=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
	n=$(awk '/^requests:/ {print $8}' <<<"$out")
	add "${metric}_rate $placement" "$target" "$rate"
	add "${metric}_cpu $placement" "$target" "$(awk -v c="$cpu1" -v d="$cpu0" -v n="$n" 'BEGIN {if (n > 0) printf "%.1f", (c - d) * 1e6 / n}')"
	if [[ $metric == h2up ]]; then
		ups=$(ss -Htn state established "dport = :$H2_ORIGIN_PORT" | wc -l)
		add "h2up_conns $placement" "$target" "$ups"
	fi
	log "  $target $placement $metric: $rate req/s, $n succeeded ${ups:+, $ups upstream connections}"
	grep -q " 0 failed, 0 errored" <<<"$out" || grep "^requests:" <<<"$out" >&2
	stop_target
	wait_free "$PROXY_PORT"
}

TPID=0
spawn "$TMP/origin.log" taskset -c 0 "$BIN/origin" -listen "127.0.0.1:$ORIGIN_PORT" -size "$BODY"
wait_listen "$ORIGIN_PORT" "$PID" || { cat "$TMP/origin.log" >&2; exit 1; }
spawn "$TMP/h2origin.log" taskset -c 0 "$BIN/origin" -h2c -listen "127.0.0.1:$H2_ORIGIN_PORT" -size "$BODY"
wait_listen "$H2_ORIGIN_PORT" "$PID" || { cat "$TMP/h2origin.log" >&2; exit 1; }

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

report() {
	echo "Command: \`bench/run-h2.sh\` (DURATION=$DURATION REPEAT=$REPEAT CONNS=$CONNS STREAMS=$STREAMS BODY=$BODY MAX_STREAMS=$MAX_STREAMS)"
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'). Machine: $(nproc) cores, $(uname -r)."
	echo "Versions: sluice $VERSION; $(haproxy -v 2>/dev/null | head -1); $(nginx -v 2>&1); $(h2load --version 2>/dev/null | head -1); $(go version | awk '{print $3}')."
	echo
	echo "| placement | metric | better | sluice | haproxy | nginx | sluice/haproxy | sluice/nginx |"
	echo "|---|---|:-:|--:|--:|--:|--:|--:|"
	local p m
	for p in $PLACEMENTS; do
		for m in $METRICS; do
			case $m in
			h2c) row "$p" h2c_rate "h2c → HTTP/1.1 origin, req/s" ↑; row "$p" h2c_cpu "  proxy CPU µs per request" ↓ ;;
			h2tls) row "$p" h2tls_rate "h2 over TLS → HTTP/1.1 origin, req/s" ↑; row "$p" h2tls_cpu "  proxy CPU µs per request" ↓ ;;
			h2up) row "$p" h2up_rate "h2c → h2c origin, req/s" ↑; row "$p" h2up_cpu "  proxy CPU µs per request" ↓; row "$p" h2up_conns "  upstream connections" ↓ ;;
			esac
		done
	done
	echo
	echo "h2load -c$CONNS -m$STREAMS, $BODY-byte answers. Each figure is the median of $REPEAT round(s) (even rounds run the targets in reverse order). Proxy CPU is user+system time of the proxy's process tree during the measurement, divided by the requests done. isolate: proxy alone on CPU 1 (1 thread / worker / GOMAXPROCS 1), h2load and the origins on CPU 0; shared: nothing pinned but the origins (CPU 0), every proxy with its default threads."
	echo
	echo "Targets (each must hold in both placements):"
	for p in $PLACEMENTS; do
		[[ " $METRICS " == *" h2c "* ]] && { check "$p: h2c req/s ≥ 1.0× HAProxy" "h2c_rate $p" haproxy 1.0; check_le "$p: h2c CPU per request ≤ HAProxy's" "h2c_cpu $p"; }
		[[ " $METRICS " == *" h2tls "* ]] && check "$p: h2 over TLS req/s ≥ 1.0× HAProxy" "h2tls_rate $p" haproxy 1.0
		[[ " $METRICS " == *" h2up "* ]] && { check "$p: h2c → h2c req/s ≥ 1.0× HAProxy" "h2up_rate $p" haproxy 1.0; check_conns "$p: sluice upstream connections ≤ 2" "h2up_conns $p" 2; }
	done
}
row() { # PLACEMENT KEY LABEL BETTER
	echo "| $1 | $3 | $4 | $(value "$2 $1" sluice) | $(value "$2 $1" haproxy) | $(value "$2 $1" nginx) | $(ratio "$2 $1" sluice haproxy) | $(ratio "$2 $1" sluice nginx) |"
}
check_le() { # LABEL METRIC: PASS when sluice/haproxy <= 1
	local r
	r=$(ratio "$2" sluice haproxy)
	if [[ -z $r ]]; then printf -- '- %s: N/A\n' "$1"
	elif awk -v r="$r" 'BEGIN {exit !(r <= 1.0)}'; then printf -- '- %s: **PASS** (%s×)\n' "$1" "$r"
	else printf -- '- %s: **FAIL** (%s×)\n' "$1" "$r"; fi
}
check_conns() { # LABEL METRIC MAX
	local v
	v=$(value "$2" sluice)
	if [[ -z $v ]]; then printf -- '- %s: N/A\n' "$1"
	elif awk -v v="$v" -v m="$3" 'BEGIN {exit !(v <= m)}'; then printf -- '- %s: **PASS** (%s)\n' "$1" "$v"
	else printf -- '- %s: **FAIL** (%s)\n' "$1" "$v"; fi
}
if [[ -n $OUT ]]; then report | tee "$OUT"; else report; fi
