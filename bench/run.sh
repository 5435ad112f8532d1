#!/bin/sh
# make bench: every benchmark appends its figures to $OUT.
# RUNS (default 5) runs per figure; HEALTH_SECONDS (default 10) per load pass;
# REAL_ROUNDS/REAL_WARMUP for the real-Spark section (bench/real_spark.py);
# FD_ROUNDS/FD_STREAM_MIB for the front door section (bench/front_door.py).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-$BUILD/bench/results.txt}
RUNS=${RUNS:-5}
mkdir -p "$(dirname "$OUT")"
{
	echo "== sparkshim bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(uname -r)"
} >"$OUT"
# The PySpark client sends SPARK_USER or USER as its user_id, which the front
# door checks against the engine's user (the OS user here).
USER=${USER:-$(id -un)}
export USER
export BUILD SPARKSHIM_BIN="$PWD/$BUILD/sparkshim" SPARKSHIM_STANDIN="$PWD/$BUILD/spark-home"
# sparkshim's start-up cache (launcher results, class-data archives): a temp
# dir for this run, not the user's ~/.cache (the real-Spark section manages
# its own cold and warm dirs).
XDG_CACHE_HOME=$(mktemp -d)
export XDG_CACHE_HOME
trap 'rm -rf "$XDG_CACHE_HOME"' EXIT
/usr/bin/python3 bench/startup.py --runs "$RUNS" --out "$OUT"
/usr/bin/python3 bench/health_busy.py --runs "$RUNS" --seconds "${HEALTH_SECONDS:-10}" --out "$OUT"
/usr/bin/python3 bench/registration.py --runs "$RUNS" --out "$OUT"
if [ -x /usr/bin/etcd ]; then
	/usr/bin/python3 bench/registration.py --backend etcd --runs "$RUNS" --out "$OUT"
fi
# Real Spark 4 (SPARK4_HOME from .venv/spark-homes.env; skipped without it).
# REAL_ROUNDS (default 5), REAL_WARMUP (default 1). Alone: bench/real_spark.py
/usr/bin/python3 bench/real_spark.py --out "$OUT"
# The Connect front door: direct vs door vs nginx grpc_pass, TLS off and on,
# stand-in stream and real Spark 4. FD_ROUNDS (default 3), FD_STREAM_MIB
# (default 1024). Alone: bench/front_door.py --help
/usr/bin/python3 bench/front_door.py --out "$OUT"
# sparkshim as the driver of a real standalone cluster vs local[1] (skipped
# without the real Spark home; REAL_ROUNDS/REAL_WARMUP). Alone: bench/cluster.py
/usr/bin/python3 bench/cluster.py --out "$OUT"
for b in bench/bench_*.sh; do
	[ -x "$b" ] && "$b" "$OUT"
done
echo "figures written to $OUT"
