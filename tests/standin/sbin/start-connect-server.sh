#!/usr/bin/env bash
# Starts the Spark Connect server in the background (or in the foreground with --wait or
# SPARK_NO_DAEMONIZE), through spark-submit, like Spark's sbin script.
if [ -z "${SPARK_HOME}" ]; then
  SPARK_HOME="$(cd "$(dirname "$0")"/.. && pwd)"
  export SPARK_HOME
fi
CLASS="org.apache.spark.sql.connect.service.SparkConnectServer"

if [[ "$*" = *--help ]] || [[ "$*" = *-h ]]; then
  echo "Usage: ./sbin/start-connect-server.sh [--wait] [options]"
  "${SPARK_HOME}"/bin/spark-submit --help 2>&1 | grep -v Usage 1>&2
  exit 1
fi
if [ "$1" = "--wait" ]; then
  shift
  export SPARK_NO_DAEMONIZE=1
fi

. "${SPARK_HOME}/bin/load-spark-env.sh"
exec "${SPARK_HOME}/sbin/spark-daemon.sh" submit "$CLASS" 1 --name "Spark Connect server" "$@"
