#!/usr/bin/env bash
# Minimal spark-daemon.sh: (submit|stop|status) <class> <instance> [args].
# Pid files in SPARK_PID_DIR (default /tmp), logs in SPARK_LOG_DIR (default SPARK_HOME/logs).
usage="Usage: spark-daemon.sh (submit|stop|status) <spark-command> <instance-number> <args...>"
if [ $# -le 2 ]; then
  echo "$usage"
  exit 1
fi
if [ -z "${SPARK_HOME}" ]; then
  SPARK_HOME="$(cd "$(dirname "$0")"/.. && pwd)"
  export SPARK_HOME
fi
. "${SPARK_HOME}/bin/load-spark-env.sh"

option=$1
command=$2
instance=$3
shift 3

SPARK_IDENT_STRING=${SPARK_IDENT_STRING:-$USER}
SPARK_LOG_DIR=${SPARK_LOG_DIR:-${SPARK_HOME}/logs}
SPARK_PID_DIR=${SPARK_PID_DIR:-/tmp}
log="${SPARK_LOG_DIR}/spark-${SPARK_IDENT_STRING}-${command}-${instance}-$(hostname).out"
pid="${SPARK_PID_DIR}/spark-${SPARK_IDENT_STRING}-${command}-${instance}.pid"

case $option in
  submit)
    if [ -n "${SPARK_NO_DAEMONIZE}" ]; then
      exec "${SPARK_HOME}/bin/spark-submit" --class "$command" "$@"
    fi
    mkdir -p "${SPARK_LOG_DIR}" "${SPARK_PID_DIR}"
    if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then
      echo "$command running as process $(cat "$pid").  Stop it first."
      exit 1
    fi
    echo "starting $command, logging to $log"
    nohup "${SPARK_HOME}/bin/spark-submit" --class "$command" "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$pid"
    ;;
  stop)
    if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then
      echo "stopping $command"
      kill "$(cat "$pid")" && rm -f "$pid"
    else
      echo "no $command to stop"
    fi
    ;;
  status)
    if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then
      echo "$command is running."
    else
      echo "$command is not running."
      exit 1
    fi
    ;;
  *)
    echo "$usage"
    exit 1
    ;;
esac
