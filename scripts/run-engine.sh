#!/usr/bin/env bash
# `make run`: start sparkshim on a real Spark the way a person would by hand,
# and say how to try it with the real PySpark client.
#
#   scripts/run-engine.sh BINARY [spark-submit args...]
#
# SPARK_HOME wins when set; otherwise the Spark 4.x home that `make deps`
# installed into .venv. The connect port is Spark's default (15002) on
# loopback unless the arguments say otherwise; Ctrl-C stops the engine
# cleanly (exit 0).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$1
shift
homes="$root/.venv/spark-homes.env"
python=python3
if [ -r "$homes" ]; then
	# shellcheck source=/dev/null
	. "$homes"
	python=$SPARK4_PYTHON
fi
if [ -z "${SPARK_HOME:-}" ]; then
	if [ -z "${SPARK4_HOME:-}" ]; then
		echo "run-engine: error: no real Spark installed ($homes missing); expected 'make deps' first, or SPARK_HOME=DIR" >&2
		exit 66
	fi
	export SPARK_HOME=$SPARK4_HOME
fi
echo "run-engine: Spark home $SPARK_HOME" >&2
# Python UDFs run in Spark's Python workers: give them the venv that has
# pyarrow and pandas (Debian's python3 has neither). Spark otherwise picks
# the host's first non-loopback address for itself despite spark.driver.host.
if [ -z "${PYSPARK_PYTHON:-}" ] && [ -x "$python" ] && [ "$python" != python3 ]; then
	export PYSPARK_PYTHON=$python
fi
export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}

# The front door admits the engine's user (this OS user unless --proxy-user):
# the client line names it, whatever USER says in the shell that runs it.
me=$(id -un)

annotate() {
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in
		sc://*)
			printf 'try it:  %s -c "from pyspark.sql import SparkSession; SparkSession.builder.remote('"'"'%s'"'"').getOrCreate().range(10).selectExpr('"'"'sum(id)'"'"').show()"\n' \
				"$python" "$line/;user_id=$me"
			printf '    or:  make client URL=%s\n' "$line"
			;;
		esac
	done
}

# Ctrl-C reaches the engine too (same process group); it stops by itself.
# This shell keeps reading its output until then: a handler, not SIG_IGN,
# since an ignored signal would be inherited by the engine.
trap ':' INT TERM
"$bin" -- --master 'local[2]' \
	--conf spark.connect.grpc.binding.address=127.0.0.1 \
	--conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
	--conf spark.sql.shuffle.partitions=4 \
	"$@" | annotate
exit "${PIPESTATUS[0]}"
