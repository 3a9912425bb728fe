#!/bin/sh
# Usage: fuzz/run.sh SECONDS
#
# Fuzzes every Fuzz* target found in fuzz/*_test.go for SECONDS each, one
# after the other, and exits non-zero at the first target that fails (its
# failing input is then under fuzz/testdata/fuzz/<Target>/).
set -eu

secs=${1:-}
case $secs in
'' | *[!0-9]*)
	echo "usage: $0 SECONDS" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
targets=$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' fuzz/*_test.go | sort -u)
if [ -z "$targets" ]; then
	echo "$0: no Fuzz* targets in fuzz/*_test.go" >&2
	exit 1
fi

for name in $targets; do
	echo "== $name: ${secs}s"
	go test ./fuzz -run '^$' -fuzz "^${name}\$" -fuzztime "${secs}s"
done
