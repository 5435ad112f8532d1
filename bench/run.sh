#!/bin/sh
# make bench: every benchmark appends its figures to $OUT.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD/bench/results.txt}
mkdir -p "$(dirname "$OUT")"
{
	echo "== sparkshim bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(uname -r)"
} >"$OUT"
export SPARKSHIM_BIN="$PWD/$BUILD/sparkshim" SPARKSHIM_STANDIN="$PWD/$BUILD/spark-home"
/usr/bin/python3 bench/startup.py --runs "${RUNS:-5}" --out "$OUT"
for b in bench/bench_*.sh; do
	[ -x "$b" ] && "$b" "$OUT"
done
echo "figures written to $OUT"
