#!/usr/bin/env bash
# run-http.sh — sluice's HTTP proxy side by side with HAProxy, nginx, Caddy and Go's httputil.ReverseProxy, and direct.
#
# Usage:
#   bench/run-http.sh                 run every installed target
#   bench/run-http.sh --install       apt-get install the peers first (haproxy nginx wrk caddy; caddy skipped if apt lacks it)
#   bench/run-http.sh --repeat N      N rounds, the table shows the median (same as REPEAT=N)
#   bench/run-http.sh --profile       also profile sluice under the same load and print its top 15 functions (PROFILE=1)
#   bench/run-http.sh --help
#
# What is measured (all on 127.0.0.1, one proxy running at a time, a fresh proxy process per measurement):
#   wrk -t WRK_THREADS -c CONNS -d DURATION --latency, keep-alive connections, GET / answered 200 with a BODY-byte body,
#   after WARMUP seconds of the same load (discarded). Figures: requests/s, latency p50 and p99, and the CPU (user+sys)
#   that the proxy and the origin used per request. Every target is first checked to answer 200 with BODY bytes
#   (bench/httpsidebyside/httpcheck).
# Targets:
#   direct   wrk straight to the origin: the ceiling; a proxied figure near it would mean the origin is the bottleneck
#   sluice   `sluice run -c` with an http: section when the binary accepts one (probed with `sluice check`), otherwise
#            bench/httpsidebyside/sluicehttp (the same httpproxy package, one peer). SLUICE_HTTP=run|bench forces one.
#   haproxy  mode http, keep-alive both sides, `http-reuse always`
#   nginx    proxy_pass to an upstream block with `keepalive 64`, proxy_http_version 1.1, Connection ""
#   caddy    reverse_proxy with keep-alive (100 idle per host); skipped with a note when not installed
#   httputil Go's httputil.ReverseProxy behind net/http (bench/httpsidebyside/revproxy, MaxIdleConnsPerHost 100)
# The origin (ORIGIN) is shared by every target: nginx serving a fixed body with `return 200` (default), or
# bench/httpsidebyside/origin (ORIGIN=go). No target logs requests.
#
# CPU placement (the machine this was written on has 2 cores): PIN=isolate (the default) puts wrk and the origin on
# CPU 0 and the proxy alone on CPU 1, so what is measured is the proxy on one core (direct shows how far the wrk+origin
# core is from being the bottleneck); PIN=split puts wrk on CPU 0 and the proxy and the origin on CPU 1; PIN=none lets
# the scheduler place everything (on 2 cores that gave p99s of 50-70 ms from the three fighting over both cores). WRK_CPUS, PROXY_CPUS and ORIGIN_CPUS (taskset lists)
# override the preset. Every proxy gets as many threads/workers/GOMAXPROCS as PROXY_CPUS has CPUs (all CPUs unpinned).
#
# Environment (defaults in brackets):
#   DURATION [10]  WARMUP [2]  seconds per measurement and per warm-up, the same for every target
#   REPEAT   [1]   rounds; each round runs every target once (even rounds in reverse order)
#   TARGETS  ["direct sluice haproxy nginx caddy httputil"]
#   CONNS [50]  WRK_THREADS [1]  BODY [1024]
#   ORIGIN [nginx]  nginx | go          ORIGIN_WORKERS [1]  nginx worker processes of the origin
#   PIN [isolate]   isolate | split | none   WRK_CPUS, PROXY_CPUS, ORIGIN_CPUS override it
#   PORT_BASE [19000]  proxies listen on PORT_BASE+1.., the origin on PORT_BASE+1000
#   SLUICE_HTTP [auto]  auto | run | bench (see above)
#   SLUICE_REF     build sluice from this git ref (git archive into the temp dir) instead of the work tree
#   PROFILE [0]    1: after the rounds, run sluicehttp -cpuprofile under the same load and print `pprof -top` (15)
#   QUIET_MAX [10]  QUIET_TRIES [4]  QUIET_WAIT [15]  a measurement during which processes other than wrk, the proxy
#                  and the origin used more than QUIET_MAX % of a CPU is repeated (after QUIET_WAIT s), up to
#                  QUIET_TRIES tries, keeping the quietest; the report shows that other load per target
#   OUT            also write the markdown report to this file
#   KEEP_TMP [0]   keep the temp dir (configs, logs, profile)
#
# The report (markdown) goes to stdout, progress to stderr.
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

INSTALL=0
REPEAT=${REPEAT:-1}
PROFILE=${PROFILE:-0}
while (($#)); do
	case "$1" in
	--install) INSTALL=1 ;;
	--repeat) REPEAT=${2:?--repeat needs a number}; shift ;;
	--repeat=*) REPEAT=${1#--repeat=} ;;
	--profile) PROFILE=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run-http.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "run-http.sh: --repeat wants a positive number" >&2; exit 2; }

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
TARGETS=${TARGETS:-"direct sluice haproxy nginx caddy httputil"}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
BODY=${BODY:-1024}
ORIGIN=${ORIGIN:-nginx}
ORIGIN_WORKERS=${ORIGIN_WORKERS:-1}
PIN=${PIN:-isolate}
PORT_BASE=${PORT_BASE:-19000}
SLUICE_HTTP=${SLUICE_HTTP:-auto}
OUT=${OUT:-}
KEEP_TMP=${KEEP_TMP:-0}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_TRIES=${QUIET_TRIES:-4}
QUIET_WAIT=${QUIET_WAIT:-15}

case $PIN in
split) : "${WRK_CPUS=0}" "${PROXY_CPUS=1}" "${ORIGIN_CPUS=1}" ;;
isolate) : "${WRK_CPUS=0}" "${PROXY_CPUS=1}" "${ORIGIN_CPUS=0}" ;;
none) : "${WRK_CPUS=}" "${PROXY_CPUS=}" "${ORIGIN_CPUS=}" ;;
*) echo "run-http.sh: PIN must be split, isolate or none" >&2; exit 2 ;;
esac
NCPU=$(nproc)
if ((NCPU < 2)) && [[ $PIN != none ]]; then
	WRK_CPUS="" PROXY_CPUS="" ORIGIN_CPUS=""
	PIN="none ($PIN needs 2 CPUs)"
fi
PROXY_THREADS=$NCPU
[[ -n $PROXY_CPUS ]] && PROXY_THREADS=$(cpu_count "$PROXY_CPUS")

ORIGIN_PORT=$((PORT_BASE + 1000))
declare -A PROXY_PORT=([sluice]=$((PORT_BASE + 1)) [haproxy]=$((PORT_BASE + 2)) [nginx]=$((PORT_BASE + 3)) [caddy]=$((PORT_BASE + 4)) [httputil]=$((PORT_BASE + 5)))

REPO=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/sluice-httpbench.XXXXXX)
BIN=$TMP/bin
STARTED=() # PIDs (each its own process group) to kill on exit

trap cleanup EXIT
trap 'exit 130' INT TERM

# pin CPUS: the command prefix that runs a command on CPUS (taskset -c CPUS), or `env` when CPUS is empty; used
# unquoted, as in `spawn LOG $(pin "$PROXY_CPUS") CMD...` (CPU lists hold no spaces).
pin() { if [[ -n $1 ]]; then echo "taskset -c $1"; else echo env; fi; }

# ---------------------------------------------------------------- setup

if [[ $INSTALL == 1 ]]; then
	log "installing peers"
	apt-get update || exit 1
	pkgs="haproxy nginx wrk"
	if apt-cache show caddy >/dev/null 2>&1; then pkgs+=" caddy"; else log "caddy is not in apt: it will be skipped"; fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y $pkgs || exit 1
fi

have wrk || { log "wrk is not installed (--install)"; exit 1; }
have taskset || { [[ -n $WRK_CPUS$PROXY_CPUS$ORIGIN_CPUS ]] && { log "taskset missing (util-linux): set PIN=none"; exit 1; }; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576

declare -A SKIP # target -> reason it has no figures at all
declare -A VERSION
VERSION[wrk]=$(wrk -v 2>&1 | sed -n '1s/ \[.*//p')

log "building tools into $BIN"
(cd "$REPO" && go build -o "$BIN/" ./bench/httpsidebyside/httpcheck ./bench/httpsidebyside/revproxy ./bench/httpsidebyside/origin) || {
	log "build of bench/httpsidebyside failed"
	exit 1
}

SLUICE_COMMIT=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(cd "$REPO" && git status --porcelain 2>/dev/null) ]] && SLUICE_COMMIT+=" + uncommitted work tree"

# build_sluice: builds cmd/sluice and bench/httpsidebyside/sluicehttp from the work tree or SLUICE_REF into $BIN.
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
	(cd "$src" && go build -o "$BIN/" ./bench/httpsidebyside/sluicehttp) >"$TMP/sluice-build.log" 2>&1 || return 1
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
	haproxy) if have haproxy; then VERSION[haproxy]=$(haproxy -v | sed -n '1s/ - .*//p'); else SKIP[haproxy]="not installed (--install)"; fi ;;
	nginx) if have nginx; then VERSION[nginx]=$(nginx -v 2>&1 | sed 's/^nginx version: //'); else SKIP[nginx]="not installed (--install)"; fi ;;
	caddy) if have caddy; then VERSION[caddy]="Caddy $(caddy version | cut -d' ' -f1)"; else SKIP[caddy]="not installed (no caddy package in apt, or not --install)"; fi ;;
	httputil) VERSION[httputil]="httputil.ReverseProxy ($(go env GOVERSION))" ;;
	*) log "unknown target $t"; exit 2 ;;
	esac
	[[ -n ${SKIP[$t]:-} ]] && log "skipping $t: ${SKIP[$t]}"
done
if [[ $ORIGIN == nginx ]] && ! have nginx; then
	log "ORIGIN=nginx but nginx is not installed: using ORIGIN=go"
	ORIGIN=go
fi
[[ $ORIGIN == nginx || $ORIGIN == go ]] || { log "ORIGIN must be nginx or go"; exit 2; }

# ---------------------------------------------------------------- process control

nginx_common() { # DIR: the top of an nginx.conf whose prefix is DIR
	cat <<-EOF
		daemon off;
		worker_rlimit_nofile $NOFILE;
		pid $1/nginx.pid;
		error_log $1/error.log warn;
		events {
		    worker_connections 4096;
		}
	EOF
}

nginx_http_common() { # DIR
	cat <<-EOF
		    access_log off;
		    keepalive_timeout 60s;
		    keepalive_requests 1000000;
		    client_body_temp_path $1/client_body;
		    proxy_temp_path $1/proxy;
		    fastcgi_temp_path $1/fastcgi;
		    uwsgi_temp_path $1/uwsgi;
		    scgi_temp_path $1/scgi;
	EOF
}

start_origin() {
	listening "$ORIGIN_PORT" && { log "port $ORIGIN_PORT (origin) is already in use; set PORT_BASE"; exit 1; }
	if [[ $ORIGIN == nginx ]]; then
		local d=$TMP/origin
		mkdir -p "$d"
		head -c "$BODY" /dev/zero | tr '\0' x >"$d/body"
		{
			echo "# generated by bench/run-http.sh: the origin"
			echo "worker_processes $ORIGIN_WORKERS;"
			nginx_common "$d"
			echo "http {"
			nginx_http_common "$d"
			cat <<-EOF
				    server {
				        listen 127.0.0.1:$ORIGIN_PORT reuseport backlog=4096;
				        location / {
				            default_type text/plain;
				            return 200 "$(cat "$d/body")";
				        }
				    }
				}
			EOF
		} >"$d/nginx.conf"
		spawn "$TMP/origin.log" $(pin "$ORIGIN_CPUS") nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
		VERSION[origin]="nginx $(nginx -v 2>&1 | sed 's/^nginx version: nginx\///') return 200, $ORIGIN_WORKERS worker(s)"
	else
		spawn "$TMP/origin.log" $(pin "$ORIGIN_CPUS") env GOMAXPROCS="$ORIGIN_WORKERS" "$BIN/origin" -listen "127.0.0.1:$ORIGIN_PORT" -size "$BODY"
		VERSION[origin]="bench/httpsidebyside/origin, GOMAXPROCS=$ORIGIN_WORKERS"
	fi
	ORIGIN_PID=$PID
	wait_listen "$ORIGIN_PORT" "$ORIGIN_PID" || { log "origin did not start"; cat "$TMP/origin.log" "$TMP/origin/error.log" >&2 2>/dev/null; exit 1; }
	"$BIN/httpcheck" -addr "127.0.0.1:$ORIGIN_PORT" -size "$BODY" >/dev/null || { log "origin does not answer as expected"; exit 1; }
}

write_haproxy_cfg() { # PORT
	cat >"$TMP/haproxy.cfg" <<-EOF
		# generated by bench/run-http.sh
		global
		    nbthread $PROXY_THREADS
		    maxconn 4096
		    pidfile $TMP/haproxy.pid
		defaults
		    mode http
		    option http-keep-alive
		    http-reuse always
		    maxconn 4096
		    timeout connect 5s
		    timeout client 60s
		    timeout server 60s
		    timeout http-request 10s
		    timeout http-keep-alive 60s
		frontend fe
		    bind 127.0.0.1:$1
		    default_backend be
		backend be
		    server s1 127.0.0.1:$ORIGIN_PORT
	EOF
}

write_nginx_conf() { # PORT
	local d=$TMP/nginx
	mkdir -p "$d"
	{
		echo "# generated by bench/run-http.sh"
		echo "worker_processes $PROXY_THREADS;"
		nginx_common "$d"
		echo "http {"
		nginx_http_common "$d"
		cat <<-EOF
			    upstream origin {
			        server 127.0.0.1:$ORIGIN_PORT;
			        keepalive 64;
			        keepalive_requests 1000000;
			        keepalive_timeout 60s;
			    }
			    server {
			        listen 127.0.0.1:$1 reuseport backlog=4096;
			        location / {
			            proxy_pass http://origin;
			            proxy_http_version 1.1;
			            proxy_set_header Connection "";
			        }
			    }
			}
		EOF
	} >"$d/nginx.conf"
}

write_caddyfile() { # PORT
	mkdir -p "$TMP/caddy"
	cat >"$TMP/caddy/Caddyfile" <<-EOF
		# generated by bench/run-http.sh
		{
		    admin off
		    auto_https off
		}
		http://:$1 {
		    bind 127.0.0.1
		    reverse_proxy 127.0.0.1:$ORIGIN_PORT {
		        transport http {
		            keepalive 60s
		            keepalive_idle_conns 100
		            keepalive_idle_conns_per_host 100
		        }
		    }
		}
	EOF
}

write_sluice_cfg() { # PORT
	cat >"$TMP/sluice.yaml" <<-EOF
		# generated by bench/run-http.sh
		log: {level: warn, access_log: false}
		http:
		  - name: web
		    listen: ["127.0.0.1:$1"]
		    upstreams: [{addr: "127.0.0.1:$ORIGIN_PORT"}]
		    balance: round_robin
		    timeouts: {connect: 5s, header_read: 10s, idle: 60s}
	EOF
}

# sluice_cmd PORT: sets SLUICE_CMD, the command line that runs sluice's HTTP proxy.
SLUICE_MODE=""
sluice_cmd() {
	write_sluice_cfg "$1"
	if [[ -z $SLUICE_MODE ]]; then
		SLUICE_MODE=bench
		if [[ $SLUICE_HTTP != bench && -x $BIN/sluice ]] && "$BIN/sluice" check -c "$TMP/sluice.yaml" >"$TMP/sluice-check.log" 2>&1; then
			SLUICE_MODE=run
		fi
		if [[ $SLUICE_HTTP == run && $SLUICE_MODE != run ]]; then
			log "SLUICE_HTTP=run but \`sluice check\` rejects the http: section:"
			sed 's/^/  /' "$TMP/sluice-check.log" >&2
			exit 1
		fi
		log "sluice runs as: $(sluice_mode_name)"
	fi
	if [[ $SLUICE_MODE == run ]]; then
		SLUICE_CMD=("$BIN/sluice" run -c "$TMP/sluice.yaml")
	else
		SLUICE_CMD=("$BIN/sluicehttp" -listen "127.0.0.1:$1" -upstream "127.0.0.1:$ORIGIN_PORT")
	fi
}

sluice_mode_name() { [[ $SLUICE_MODE == run ]] && echo 'sluice run -c (http: section)' || echo 'bench/httpsidebyside/sluicehttp'; }

# start_target TARGET: sets TPORT (where wrk connects) and TPID (0 for direct).
start_target() {
	local t=$1
	TPID=0
	if [[ $t == direct ]]; then
		TPORT=$ORIGIN_PORT
		return 0
	fi
	TPORT=${PROXY_PORT[$t]}
	wait_free "$TPORT" || { log "port $TPORT is already in use; set PORT_BASE"; return 1; }
	case $t in
	sluice)
		sluice_cmd "$TPORT"
		spawn "$TMP/sluice.log" $(pin "$PROXY_CPUS") env GOMAXPROCS="$PROXY_THREADS" "${SLUICE_CMD[@]}"
		;;
	haproxy)
		write_haproxy_cfg "$TPORT"
		spawn "$TMP/haproxy.log" $(pin "$PROXY_CPUS") haproxy -db -f "$TMP/haproxy.cfg"
		;;
	nginx)
		write_nginx_conf "$TPORT"
		spawn "$TMP/nginx.log" $(pin "$PROXY_CPUS") nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf"
		;;
	caddy)
		write_caddyfile "$TPORT"
		spawn "$TMP/caddy.log" $(pin "$PROXY_CPUS") env GOMAXPROCS="$PROXY_THREADS" HOME="$TMP/caddy" XDG_DATA_HOME="$TMP/caddy/data" XDG_CONFIG_HOME="$TMP/caddy/config" \
			caddy run --config "$TMP/caddy/Caddyfile" --adapter caddyfile
		;;
	httputil)
		spawn "$TMP/httputil.log" $(pin "$PROXY_CPUS") env GOMAXPROCS="$PROXY_THREADS" "$BIN/revproxy" -listen "127.0.0.1:$TPORT" -upstream "127.0.0.1:$ORIGIN_PORT"
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
declare -A ERRNOTE # target -> wrk's error lines, for the report
declare -A NOISY   # target -> other-load figures of measurements kept although above QUIET_MAX

# wrk_run SECONDS PORT: runs wrk, output on stdout.
wrk_run() {
	$(pin "$WRK_CPUS") wrk -t "$WRK_THREADS" -c "$CONNS" -d "${1}s" --latency "http://127.0.0.1:$2/"
}

# to_us VALUE: a wrk latency (12.3us, 1.2ms, 1.01s) in µs.
to_us() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.1f", v }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.1f", v * 1000 }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.1f", v * 60000000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.1f", v * 1000000 }
	}'
}

# other_cpu: CPU seconds used so far by every process outside this script's process tree (kernel threads left
# out: they carry the loopback traffic of the measurement itself), including their reaped children, plus the time
# the hypervisor stole. A process that started and whose parent ended between two calls is missed.
other_cpu() {
	local mine
	mine=$(tree_pids $$ | tr '\n' ' ')
	{
		awk '/^cpu / {print "steal", $9}' /proc/stat
		cat /proc/[0-9]*/stat 2>/dev/null
	} | awk -v mine=" $mine " -v hz="$(getconf CLK_TCK)" '
		$1 == "steal" { t += $2; next }
		{
			s = $0; sub(/.*\) /, "", s); split(s, f, " ")
			if ($1 == 2 || f[2] == 2 || index(mine, " " $1 " ")) next
			t += f[12] + f[13] + f[14] + f[15]
		}
		END { printf "%.2f", t / hz }'
}

# wrk_measure TARGET: one measured wrk run against TPORT; sets M_* (empty M_RPS when wrk failed) and M_OTHER, the CPU
# that processes other than wrk, the proxy and the origin used meanwhile (other_cpu), in % of one CPU.
wrk_measure() {
	local t=$1 cpu0=0 cpu1=0 ocpu0 ocpu1 s0 s1
	((TPID)) && cpu0=$(tree_cpu "$TPID")
	ocpu0=$(tree_cpu "$ORIGIN_PID")
	s0=$(other_cpu)
	M_OUT=$(wrk_run "$DURATION" "$TPORT" 2>&1)
	s1=$(other_cpu)
	((TPID)) && cpu1=$(tree_cpu "$TPID")
	ocpu1=$(tree_cpu "$ORIGIN_PID")
	M_RPS=$(awk '/^Requests\/sec:/ {print $2}' <<<"$M_OUT")
	M_REQS=$(awk '/requests in/ {print $1}' <<<"$M_OUT")
	M_P50=$(awk '$1 == "50%" {print $2}' <<<"$M_OUT")
	M_P99=$(awk '$1 == "99%" {print $2}' <<<"$M_OUT")
	M_ERRS=$(grep -E 'Non-2xx|Socket errors' <<<"$M_OUT" | sed 's/^ *//' | paste -sd ';' -)
	[[ -z $M_REQS || $M_REQS == 0 ]] && M_RPS=""
	[[ -n $M_RPS ]] || return 1
	M_CPU=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$M_REQS" 'BEGIN {printf "%.2f", (b - a) * 1000000 / n}')
	M_OCPU=$(awk -v a="$ocpu0" -v b="$ocpu1" -v n="$M_REQS" 'BEGIN {printf "%.2f", (b - a) * 1000000 / n}')
	M_OBUSY=$(awk -v a="$ocpu0" -v b="$ocpu1" -v d="$DURATION" 'BEGIN {printf "%.0f", (b - a) * 100 / d}')
	M_OTHER=$(awk -v a="$s0" -v b="$s1" -v d="$DURATION" 'BEGIN {v = (b - a) * 100 / d; if (v < 0) v = 0; printf "%.0f", v}')
}

measure() { # TARGET
	local t=$1 try best_other="" line
	if ! kill -0 "$ORIGIN_PID" 2>/dev/null || ! listening "$ORIGIN_PORT"; then
		log "the origin has gone (killed from outside?): starting it again"
		ORIGIN_RESTARTS=$((ORIGIN_RESTARTS + 1))
		stop "$ORIGIN_PID"
		start_origin
	fi
	start_target "$t" || { CELLNOTE["rps $t"]="failed to start"; return; }
	if ! "$BIN/httpcheck" -addr "127.0.0.1:$TPORT" -size "$BODY" >"$TMP/check.log" 2>&1; then
		log "$t does not answer 200 with $BODY bytes: $(cat "$TMP/check.log")"
		CELLNOTE["rps $t"]="wrong answer"
		stop_target
		return
	fi
	log "$t (port $TPORT): warm-up ${WARMUP}s"
	((WARMUP > 0)) && wrk_run "$WARMUP" "$TPORT" >/dev/null 2>&1
	# Other work on the machine (a compiler, a test) distorts a measurement; retry while it used more than
	# QUIET_MAX % of a CPU, and keep the quietest try.
	local B_RPS B_P50 B_P99 B_CPU B_OCPU B_OBUSY B_ERRS
	for ((try = 1; try <= QUIET_TRIES; try++)); do
		log "$t: measuring ${DURATION}s$( ((try > 1)) && echo " (try $try)")"
		if ! wrk_measure "$t"; then
			log "wrk through $t failed:"
			sed 's/^/  /' <<<"$M_OUT" >&2
			CELLNOTE["rps $t"]="failed"
			stop_target
			return
		fi
		line="  $M_RPS req/s, p50 $M_P50, p99 $M_P99"
		((TPID)) && line+=", proxy CPU $M_CPU µs/req"
		log "$line, origin CPU $M_OCPU µs/req (busy $M_OBUSY% of one CPU), other load $M_OTHER% of one CPU"
		if [[ -z $best_other ]] || ((M_OTHER < best_other)); then
			best_other=$M_OTHER B_RPS=$M_RPS B_P50=$M_P50 B_P99=$M_P99 B_CPU=$M_CPU B_OCPU=$M_OCPU B_OBUSY=$M_OBUSY B_ERRS=$M_ERRS
		fi
		((M_OTHER <= QUIET_MAX)) && break
		((try < QUIET_TRIES)) && { log "  other load above QUIET_MAX=$QUIET_MAX%: waiting ${QUIET_WAIT}s and measuring again"; sleep "$QUIET_WAIT"; }
	done
	((best_other > QUIET_MAX)) && NOISY[$t]+="$best_other "
	[[ -n $B_ERRS ]] && { log "  wrk reports: $B_ERRS"; ERRNOTE[$t]+="$B_ERRS. "; }
	add rps "$t" "$B_RPS"
	add p50 "$t" "$(to_us "$B_P50")"
	add p99 "$t" "$(to_us "$B_P99")"
	if ((TPID)); then add cpu "$t" "$B_CPU"; else CELLNOTE["cpu $t"]="n/a"; fi
	add ocpu "$t" "$B_OCPU"
	add obusy "$t" "$B_OBUSY"
	add other "$t" "$best_other"
	stop_target
}

# profile_sluice: runs sluicehttp with -cpuprofile under the measurement's load; sets PROFILE_TOP.
PROFILE_TOP=""
profile_sluice() {
	local port=${PROXY_PORT[sluice]} prof=$TMP/sluice-cpu.pprof
	wait_free "$port" || return 1
	spawn "$TMP/sluice-profile.log" $(pin "$PROXY_CPUS") env GOMAXPROCS="$PROXY_THREADS" "$BIN/sluicehttp" -listen "127.0.0.1:$port" -upstream "127.0.0.1:$ORIGIN_PORT" -cpuprofile "$prof"
	local pid=$PID
	wait_listen "$port" "$pid" || { log "sluicehttp did not start for the profile"; return 1; }
	log "profiling sluicehttp: ${DURATION}s"
	wrk_run "$DURATION" "$port" >"$TMP/profile-wrk.log" 2>&1
	stop "$pid"
	PROFILE_TOP=$(go tool pprof -top -nodecount=15 "$BIN/sluicehttp" "$prof" 2>/dev/null)
	PROFILE_CUM=$(go tool pprof -top -cum -nodecount=25 "$BIN/sluicehttp" "$prof" 2>/dev/null)
	[[ -n $PROFILE_TOP ]]
}

# ---------------------------------------------------------------- run

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ORIGIN_RESTARTS=0
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
start_origin
log "origin: ${VERSION[origin]}; placement: PIN=$PIN wrk=${WRK_CPUS:-any} proxy=${PROXY_CPUS:-any} origin=${ORIGIN_CPUS:-any}, proxy threads $PROXY_THREADS"

for ((round = 1; round <= REPEAT; round++)); do
	((REPEAT > 1)) && log "round $round of $REPEAT"
	for t in $(round_order "$round" $TARGETS); do
		[[ -n ${SKIP[$t]:-} ]] && continue
		measure "$t"
	done
done
if [[ $PROFILE == 1 && " $TARGETS " == *" sluice "* && -z ${SKIP[sluice]:-} ]]; then
	profile_sluice || log "profile failed"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report

fmt() { # METRIC VALUE
	case $1 in
	rps | obusy | other) printf '%.0f' "$2" ;;
	cpu | ocpu) printf '%.2f' "$2" ;;
	*) printf '%.0f' "$2" ;;
	esac
}

ROWS=(
	"rps|requests/s|↑"
	"p50|latency p50 µs|↓"
	"p99|latency p99 µs|↓"
	"cpu|proxy CPU µs per request|↓"
	"ocpu|origin CPU µs per request|↓"
	"obusy|origin busy, % of one CPU|"
	"other|other load during the run, % of one CPU|"
)
declare -A ROW_METRIC=([rps]=rps [p50]=rps [p99]=rps [cpu]=rps [ocpu]=rps [obusy]=rps [other]=rps)

PEERS=()
for t in $TARGETS; do [[ $t != sluice ]] && PEERS+=("$t"); done

# pratio METRIC A B: the median of the per-round ratios A/B (each round runs every target once, back to back, so
# a pair shares the machine's state of the moment); the ratio of medians when the rounds do not pair up.
pratio() {
	local -a a b
	read -ra a <<<"${VALS["$1 $2"]:-}"
	read -ra b <<<"${VALS["$1 $3"]:-}"
	if ((${#a[@]} == 0 || ${#a[@]} != ${#b[@]})); then ratio "$@"; return; fi
	local i out=""
	for i in "${!a[@]}"; do out+="$(awk -v x="${a[i]}" -v y="${b[i]}" 'BEGIN {if (y > 0) printf "%.4f", x / y}') "; done
	median <<<"$out" | awk '{printf "%.2f", $1}'
}

# check_paired LABEL METRIC PEER MIN: PASS when the paired ratio sluice/PEER >= MIN.
check_paired() {
	local r
	r=$(pratio "$2" sluice "$3")
	if [[ -z $r ]]; then printf -- '- %s: N/A (no figure for sluice or %s)\n' "$1" "$3"
	elif awk -v r="$r" -v m="$4" 'BEGIN {exit !(r >= m)}'; then printf -- '- %s: **PASS** (%s×)\n' "$1" "$r"
	else printf -- '- %s: **FAIL** (%s×)\n' "$1" "$r"; fi
}

# check_lower LABEL METRIC PEER: PASS when sluice <= PEER (paired ratio <= 1).
check_lower() {
	local r
	r=$(pratio "$2" sluice "$3")
	if [[ -z $r ]]; then printf -- '- %s: N/A (no figure for sluice or %s)\n' "$1" "$3"
	elif awk -v r="$r" 'BEGIN {exit !(r <= 1)}'; then printf -- '- %s: **PASS** (%s µs vs %s µs, %s×)\n' "$1" "$(cell "$2" sluice)" "$(cell "$2" "$3")" "$r"
	else printf -- '- %s: **FAIL** (%s µs vs %s µs, %s×)\n' "$1" "$(cell "$2" sluice)" "$(cell "$2" "$3")" "$r"; fi
}

report() {
	local t row key label dir line
	echo "Command: \`bench/run-http.sh --repeat $REPEAT\` (DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS WRK_THREADS=$WRK_THREADS BODY=$BODY ORIGIN=$ORIGIN ORIGIN_WORKERS=$ORIGIN_WORKERS PIN=$PIN)"
	echo "Date: $START_DATE. Machine: $NCPU cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo); load average before $LOAD_BEFORE, after $LOAD_AFTER."
	echo "Placement: wrk on CPU ${WRK_CPUS:-any}, proxy on CPU ${PROXY_CPUS:-any} with $PROXY_THREADS thread(s)/worker(s)/GOMAXPROCS, origin on CPU ${ORIGIN_CPUS:-any}."
	printf 'Versions: sluice %s' "${VERSION[sluice]:-${SKIP[sluice]:-not run}}"
	[[ -n $SLUICE_MODE ]] && printf ' (%s)' "$(sluice_mode_name)"
	printf '; '
	for t in haproxy nginx caddy httputil wrk; do [[ -n ${VERSION[$t]:-} ]] && printf '%s; ' "${VERSION[$t]}"; done
	echo "origin: ${VERSION[origin]}."
	echo
	line="| metric | better |"
	local sep="|---|:-:|"
	for t in $TARGETS; do line+=" $t |"; sep+="--:|"; done
	for t in "${PEERS[@]}"; do line+=" sluice/$t |"; sep+="--:|"; done
	echo "$line"
	echo "$sep"
	for row in "${ROWS[@]}"; do
		IFS='|' read -r key label dir <<<"$row"
		line="| $label | $dir |"
		for t in $TARGETS; do line+=" $(cell "$key" "$t") |"; done
		for t in "${PEERS[@]}"; do
			local r=""
			[[ -n $dir ]] && r=$(ratio "$key" sluice "$t")
			line+=" ${r:-—} |"
		done
		echo "$line"
	done
	echo
	echo "wrk -t $WRK_THREADS -c $CONNS -d ${DURATION}s --latency, after a ${WARMUP}s warm-up; GET / answered 200 with $BODY bytes. Ratios are sluice ÷ peer: above 1 is better for ↑ rows, below 1 for ↓ rows. CPU is user+system time of the process tree during the measurement divided by the requests wrk completed. Each figure is the median of $REPEAT round(s) (even rounds run the targets in reverse order); one proxy runs at a time, each in a fresh process."
	((ORIGIN_RESTARTS)) && echo "The origin was found dead and restarted $ORIGIN_RESTARTS time(s) during the run."
	for t in $TARGETS; do [[ -n ${NOISY[$t]:-} ]] && echo "Kept although other load stayed above QUIET_MAX=$QUIET_MAX% after $QUIET_TRIES tries, $t: ${NOISY[$t]% }% of a CPU."; done
	for t in $TARGETS; do [[ -n ${ERRNOTE[$t]:-} ]] && echo "wrk errors through $t: ${ERRNOTE[$t]}"; done
	for t in $TARGETS; do [[ -n ${SKIP[$t]:-} ]] && echo "$t: ${SKIP[$t]}."; done
	echo
	echo "Targets (ratios here are medians of per-round ratios, which cancels drift in the machine's speed between rounds; the table's are ratios of medians):"
	check_paired "sluice req/s ≥ 1.0× HAProxy" rps haproxy 1.0
	check_paired "sluice req/s ≥ 3× httputil.ReverseProxy" rps httputil 3.0
	check_lower "sluice p99 ≤ nginx p99" p99 nginx
	if [[ -n $PROFILE_TOP ]]; then
		echo
		echo "CPU profile of sluice (bench/httpsidebyside/sluicehttp -cpuprofile, same load, ${DURATION}s), top 15 by flat time:"
		echo
		echo '```'
		sed -n '/flat%/,$p' <<<"$PROFILE_TOP"
		echo '```'
		echo
		echo "By cumulative time (top 25):"
		echo
		echo '```'
		sed -n '/flat%/,$p' <<<"$PROFILE_CUM"
		echo '```'
	fi
	return 0
}

if [[ -n $OUT ]]; then report | tee "$OUT"; else report; fi
