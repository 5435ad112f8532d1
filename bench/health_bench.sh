#!/bin/sh
# Health Check load against a running sparkshim control endpoint.
#
#   bench/health_bench.sh --address 127.0.0.1:15003 --out results.txt
#                         [--seconds 10] [--clients 64] [--rate 20000]
#
# Builds bench/health_load.c (gRPC C core client; a Python client saturates
# long before the server does) into $BUILD/bench/ and runs three passes:
#   closed  : 64 clients, one connection each, one call in flight each
#             -> maximum throughput (mean latency = clients / throughput)
#   mux     : 64 clients over 8 connections (a gateway multiplexing probes)
#   open    : a fixed offered rate (--rate) spread over the 64 clients
#             -> latency percentiles at that load, measured from the
#                scheduled send time
# --rate R1,R2,... runs one open pass per rate: the first is named "open",
# the others "open<R>" (e.g. a rate the server sustains, next to the goal).
# Results are appended to --out as key=value lines, prefixed by the pass.
set -eu

ADDRESS="" OUT="" SECONDS_=10 CLIENTS=64 RATE=20000
while [ $# -gt 0 ]; do
	case "$1" in
	--address) ADDRESS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--seconds) SECONDS_=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	*) echo "health_bench: unknown argument $1" >&2; exit 64 ;;
	esac
done
if [ -z "$ADDRESS" ] || [ -z "$OUT" ]; then
	echo "usage: $0 --address HOST:PORT --out FILE [--seconds S] [--clients N] [--rate R]" >&2
	exit 64
fi

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${BUILD:-build}
BIN="$BUILD_DIR/bench/health_load"
mkdir -p "$BUILD_DIR/bench"
if [ ! -x "$BIN" ] || [ -n "$(find "$HERE/health_load.c" -newer "$BIN")" ]; then
	${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -o "$BIN" "$HERE/health_load.c" \
		-lgrpc -lgpr -lpthread
fi

run_pass() {
	name=$1
	shift
	echo "== health Check, $name: $*" >&2
	"$BIN" --address "$ADDRESS" --clients "$CLIENTS" --seconds "$SECONDS_" "$@" >"$OUT.tmp"
	sed "s/^/${name}_/" "$OUT.tmp" >>"$OUT"
	grep -E 'rps|p50|p99|errors' "$OUT.tmp" | tr '\n' ' ' >&2
	echo >&2
	rm -f "$OUT.tmp"
}

echo "# health_bench $(date -u +%Y-%m-%dT%H:%M:%SZ) address=$ADDRESS cpus=$(nproc)" >>"$OUT"
run_pass closed
run_pass mux --channels 8
first=1
for r in $(echo "$RATE" | tr ',' ' '); do
	if [ $first = 1 ]; then
		run_pass open --rate "$r"
		first=0
	else
		run_pass "open$r" --rate "$r"
	fi
done
