#!/bin/sh
# Usage: fuzz/run.sh SECONDS
#
# Fuzzes every Fuzz* target in the module for SECONDS each, one after the
# other: the targets in fuzz/ (parsers as sluice uses them) and those kept
# beside unexported parsers in their own packages (udpproxy's control-message
# parser). Exits non-zero at the first target that fails; its failing input
# is then under <package>/testdata/fuzz/<Target>/.
set -eu

secs=${1:-}
case $secs in
'' | *[!0-9]*)
	echo "usage: $0 SECONDS" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
found=$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | sort)
if [ -z "$found" ]; then
	echo "$0: no Fuzz* targets found" >&2
	exit 1
fi

for file in $found; do
	pkg=./$(dirname "$file")
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "== $pkg $name: ${secs}s"
		go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "${secs}s"
	done
done
