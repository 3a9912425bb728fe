#!/usr/bin/env bash
# run-h2spec.sh — h2spec (github.com/summerwind/h2spec, installed here with `go install`) against sluice's HTTP/2
# server connection (protocols/http2, served by bench/h2serve over h2c with a 100 KiB body, so that h2spec runs its
# flow-control cases). Prints h2spec's summary; exits non-zero when a case fails. Not run by CI.
#
# It runs twice: over h2c with prior knowledge, and over TLS (ALPN h2, a certificate made at start).
#
# Usage: bench/run-h2spec.sh [PORT]    (default 18443)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${1:-18443}
TMP=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
GOBIN=$TMP go install github.com/summerwind/h2spec/cmd/h2spec@v2.6.0 2>/dev/null ||
	GOBIN=$TMP go install github.com/summerwind/h2spec/cmd/h2spec@latest
(cd "$ROOT" && go build -o "$TMP/h2serve" ./bench/h2serve)
status=0
for mode in h2c tls; do
	flags=() spec=()
	[[ $mode == tls ]] && flags=(-tls) spec=(-t -k)
	"$TMP/h2serve" -listen "127.0.0.1:$PORT" -size 102400 "${flags[@]}" &
	PID=$!
	for _ in $(seq 50); do ss -Hltn "sport = :$PORT" | grep -q . && break; sleep 0.1; done
	echo "== h2spec over $mode"
	"$TMP/h2spec" -h 127.0.0.1 -p "$PORT" -o 5 "${spec[@]}" >"$TMP/out" 2>&1 || status=1
	grep -a -A8 '×' "$TMP/out" || true
	tail -n 1 "$TMP/out"
	kill "$PID"; wait "$PID" 2>/dev/null || true
	for _ in $(seq 50); do ss -Hltn "sport = :$PORT" | grep -q . || break; sleep 0.1; done
done
exit $status
