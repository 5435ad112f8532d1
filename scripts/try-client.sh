#!/bin/sh
# Connect the real PySpark Connect client (from .venv, installed by
# `make deps`) to an engine, run one query and exit 0.
#
#   scripts/try-client.sh [sc://host:port]     (default: $SPARK_REMOTE, else sc://127.0.0.1:15002)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
url=${1:-${SPARK_REMOTE:-sc://127.0.0.1:15002}}
case $url in
sc://*) ;;
*)
	echo "try-client: error: '$url' is not a Spark Connect URL; expected sc://host:port" >&2
	exit 64
	;;
esac
python="$root/.venv/bin/python"
if [ ! -x "$python" ]; then
	echo "try-client: error: no PySpark client in $root/.venv; expected 'make deps' first" >&2
	exit 66
fi
# The PySpark client sends SPARK_USER or USER as the session's user_id; the
# engine's front door admits its own user (this OS user for `make run`).
if [ -z "${SPARK_USER:-}" ] && [ -z "${USER:-}" ]; then
	USER=$(id -un)
	export USER
fi
exec "$python" - "$url" <<'PY'
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
print("connected to Spark %s at %s" % (spark.version, sys.argv[1]))
spark.range(10).selectExpr("sum(id)").show()
spark.stop()
PY
