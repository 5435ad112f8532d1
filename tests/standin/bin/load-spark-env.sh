#!/usr/bin/env bash
# Sourced by spark-class: sets SPARK_CONF_DIR and loads conf/spark-env.sh once (exporting
# every variable it sets), and pins the Scala binary version of this distribution.
if [ -z "${SPARK_HOME}" ]; then
  # shellcheck disable=SC1091
  source "$(dirname "$0")"/find-spark-home
fi

if [ -z "${SPARK_ENV_LOADED}" ]; then
  export SPARK_ENV_LOADED=1
  export SPARK_CONF_DIR="${SPARK_CONF_DIR:-"${SPARK_HOME}"/conf}"
  if [ -f "${SPARK_CONF_DIR}/spark-env.sh" ]; then
    set -a
    # shellcheck disable=SC1091
    . "${SPARK_CONF_DIR}/spark-env.sh"
    set +a
  fi
fi

if [ -z "${SPARK_SCALA_VERSION}" ]; then
  export SPARK_SCALA_VERSION=@SCALA_BINARY@
fi
