#!/bin/sh
# spark-submit-wrapper.sh - run by a gateway (Apache Kyuubi or alike) in place
# of $SPARK_HOME/bin/spark-submit.
#
# A Spark Connect engine launch is handed to sparkshim, which runs the
# Spark Connect server in-process; anything else goes, untouched, to the real
# spark-submit. Either way the arguments are passed on exactly as received.
#
# A launch is a Spark Connect launch when, among spark-submit's own options
# (before the application jar), either
#   --conf spark.kyuubi.engine.type=SPARK_CONNECT   (any case; also -c K=V and
#                                                   --conf=K=V; the last
#                                                   setting of the key counts)
#   --class org.apache.spark.sql.connect.service.SparkConnectServer
#                                                  (also --class=...)
#
# sparkshim is $SPARKSHIM_BIN, else ../../bin/sparkshim next to this script
# (installed as PREFIX/libexec/sparkshim/), else sparkshim on PATH.
# The real spark-submit is $SPARKSHIM_REAL_SPARK_SUBMIT, else
# $SPARK_HOME/bin/spark-submit; never this script itself.
#
# Exit status: that of the program run, or 64 (configuration: SPARK_HOME
# unset, the wrapper would run itself) or 127 (program not found).
# SPARKSHIM_WRAPPER_DEBUG=1 prints the decision on stderr.
set -u

PROG=spark-submit-wrapper
CONNECT_CLASS=org.apache.spark.sql.connect.service.SparkConnectServer

die() {
	printf '%s: error: %s\n' "$PROG" "$2" >&2
	exit "$1"
}

debug() {
	if [ "${SPARKSHIM_WRAPPER_DEBUG:-}" = 1 ]; then
		printf '%s: %s\n' "$PROG" "$1" >&2
	fi
}

# exec keeps the process id, so finding our own pid in the environment means
# whatever we exec'd was this wrapper again (a symlink, a copy, a wrong
# SPARKSHIM_BIN): stop instead of looping forever.
if [ "${SPARKSHIM_WRAPPER_PID:-}" = "$$" ]; then
	die 64 "the program this wrapper ran is the wrapper itself; set SPARKSHIM_REAL_SPARK_SUBMIT to Spark's own bin/spark-submit (and SPARKSHIM_BIN to sparkshim)"
fi

# Canonical path of a file (symlinks resolved) when readlink -f exists,
# else the path as given.
canon() {
	readlink -f -- "$1" 2>/dev/null || printf '%s\n' "$1"
}

# This script's canonical path, found only when needed (a Spark Connect
# launch with SPARKSHIM_BIN set, the gateway's case, forks nothing before
# exec'ing sparkshim).
self_real=
find_self() {
	[ -n "$self_real" ] && return
	self=$0
	case $self in
	*/*) ;;
	*) self=$(command -v -- "$self" 2>/dev/null || printf '%s\n' "$self") ;;
	esac
	self_real=$(canon "$self")
}

# spark-submit options that take a value (Spark 3.x-4.x); everything else
# that starts with '-' and is not a switch ends option parsing, as does the
# first non-option (the application jar).
takes_value() {
	case $1 in
	--archives | --class | --conf | -c | --deploy-mode | --driver-class-path | \
		--driver-cores | --driver-default-class-path | --driver-java-options | \
		--driver-library-path | --driver-memory | --executor-cores | \
		--executor-memory | --files | --jars | --keytab | --kill | --master | \
		--remote | --name | --num-executors | --packages | --exclude-packages | \
		--principal | --properties-file | --proxy-user | --py-files | --queue | \
		--repositories | --status | --total-executor-cores)
		return 0
		;;
	esac
	return 1
}

is_switch() {
	case $1 in
	--help | -h | --supervise | --usage-error | --verbose | -v | --version | \
		--load-spark-defaults)
		return 0
		;;
	esac
	return 1
}

engine_type=
main_class=
option_value() {
	case $1 in
	--class) main_class=$2 ;;
	--conf | -c)
		case $2 in
		spark.kyuubi.engine.type=*) engine_type=${2#*=} ;;
		esac
		;;
	esac
}

pending=
for arg in "$@"; do
	if [ -n "$pending" ]; then
		option_value "$pending" "$arg"
		pending=
		continue
	fi
	case $arg in
	--?*=?*)
		# spark-submit's "--option=value" form (value must be non-empty).
		name=${arg%%=*}
		if takes_value "$name"; then
			option_value "$name" "${arg#*=}"
			continue
		fi
		if is_switch "$name"; then
			continue
		fi
		break
		;;
	esac
	if takes_value "$arg"; then
		pending=$arg
	elif ! is_switch "$arg"; then
		break
	fi
done

connect=0
case $engine_type in
[Ss][Pp][Aa][Rr][Kk]_[Cc][Oo][Nn][Nn][Ee][Cc][Tt]) connect=1 ;;
esac
if [ "$main_class" = "$CONNECT_CLASS" ]; then
	connect=1
fi

SPARKSHIM_WRAPPER_PID=$$
export SPARKSHIM_WRAPPER_PID

if [ "$connect" = 1 ]; then
	if [ -n "${SPARKSHIM_BIN:-}" ]; then
		bin=$SPARKSHIM_BIN
	else
		find_self
		bin=$(dirname -- "$self_real")/../../bin/sparkshim
		if [ ! -x "$bin" ]; then
			bin=$(command -v sparkshim 2>/dev/null) || bin=
		fi
	fi
	if [ -z "$bin" ] || [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		find_self
		die 127 "sparkshim not found (tried ${SPARKSHIM_BIN:+SPARKSHIM_BIN=$SPARKSHIM_BIN, }$(dirname -- "$self_real")/../../bin/sparkshim and PATH)"
	fi
	debug "Spark Connect launch: exec $bin"
	exec "$bin" "$@"
fi

if [ -n "${SPARKSHIM_REAL_SPARK_SUBMIT:-}" ]; then
	real=$SPARKSHIM_REAL_SPARK_SUBMIT
elif [ -n "${SPARK_HOME:-}" ]; then
	real=$SPARK_HOME/bin/spark-submit
else
	die 64 "SPARK_HOME is not set and SPARKSHIM_REAL_SPARK_SUBMIT is empty: cannot find spark-submit"
fi
find_self
if [ "$(canon "$real")" = "$self_real" ]; then
	die 64 "$real is this wrapper; set SPARKSHIM_REAL_SPARK_SUBMIT to Spark's own bin/spark-submit"
fi
if [ ! -f "$real" ] || [ ! -x "$real" ]; then
	die 127 "$real is not an executable file"
fi
debug "pass-through: exec $real"
exec "$real" "$@"
