#!/bin/sh
# Install real Apache Spark homes and the real PySpark Connect client from
# PyPI and Maven Central, into project-local virtual environments:
#
#   .venv/          pyspark[connect] 4.x: a Spark home (bin/ + jars/, the
#                   connect server jar included) and the Python client
#   .venv-spark35/  pyspark[connect] 3.5.x: the Spark 3.5 home and its client
#   build/connect-jars-3.5/
#                   org.apache.spark:spark-connect_2.12 for Spark 3.5 (not in
#                   the wheel; passed with --jars)
#
# The pins live in scripts/spark/requirements-*.txt. A venv whose pins did not
# change is reused as it is (a stamp holds the requirement file's hash), and
# pip's and Maven's caches make a rebuild after a pin change cheap. This is the
# only place that downloads Spark: tests and `make run` only read what it
# wrote into .venv/spark-homes.env.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${SPARKSHIM_VENV_PYTHON:-/usr/bin/python3}
SPARK35_JAR_VERSION=3.5.7
JAR_DIR="$ROOT/build/connect-jars-3.5"
HOMES_ENV="$ROOT/.venv/spark-homes.env"

say() { printf 'install-spark: %s\n' "$*"; }

# install_venv DIR REQUIREMENTS: (re)create DIR unless its stamp matches.
install_venv() {
	dir=$1 req=$2
	want=$(sha256sum "$req" | cut -d' ' -f1)
	if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.sparkshim-pins" 2>/dev/null)" = "$want" ]; then
		say "$dir is up to date"
		return 0
	fi
	say "creating $dir from $req"
	rm -rf "$dir"
	"$PY" -m venv "$dir"
	# wheel: pyspark ships as an sdist; with wheel present pip builds a
	# wheel once and keeps it in its cache instead of a legacy install.
	"$dir/bin/pip" install -q --disable-pip-version-check wheel==0.45.1
	"$dir/bin/pip" install -q --disable-pip-version-check -r "$req"
	echo "$want" >"$dir/.sparkshim-pins"
}

spark_home_of() {
	"$1/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'
}

install_venv "$ROOT/.venv" "$ROOT/scripts/spark/requirements-4.txt"
install_venv "$ROOT/.venv-spark35" "$ROOT/scripts/spark/requirements-3.5.txt"

jar="$JAR_DIR/spark-connect_2.12-$SPARK35_JAR_VERSION.jar"
if [ ! -s "$jar" ]; then
	say "fetching org.apache.spark:spark-connect_2.12:$SPARK35_JAR_VERSION"
	mkdir -p "$JAR_DIR"
	mvn -q -B -Dstyle.color=never dependency:copy \
		-Dartifact="org.apache.spark:spark-connect_2.12:$SPARK35_JAR_VERSION" \
		-DoutputDirectory="$JAR_DIR"
fi

home4=$(spark_home_of "$ROOT/.venv")
home35=$(spark_home_of "$ROOT/.venv-spark35")
cat >"$HOMES_ENV.tmp" <<EOF
SPARK4_HOME=$home4
SPARK4_PYTHON=$ROOT/.venv/bin/python
SPARK35_HOME=$home35
SPARK35_PYTHON=$ROOT/.venv-spark35/bin/python
SPARK35_CONNECT_JAR=$jar
EOF
mv "$HOMES_ENV.tmp" "$HOMES_ENV"
say "Spark 4 home:   $home4"
say "Spark 3.5 home: $home35 (+ --jars $jar)"
say "written to $HOMES_ENV"
