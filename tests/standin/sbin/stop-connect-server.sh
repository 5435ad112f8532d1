#!/usr/bin/env bash
# Stops a Spark Connect server started by start-connect-server.sh.
if [ -z "${SPARK_HOME}" ]; then
  SPARK_HOME="$(cd "$(dirname "$0")"/.. && pwd)"
  export SPARK_HOME
fi
exec "${SPARK_HOME}/sbin/spark-daemon.sh" stop org.apache.spark.sql.connect.service.SparkConnectServer 1
