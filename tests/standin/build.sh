#!/usr/bin/env bash
# Builds the stand-in Spark homes from tests/standin/src with the JDK's javac and jar.
#
#   tests/standin/build.sh OUTDIR        (the Makefile uses build/spark-home)
#
# Produces, next to each other:
#   OUTDIR                      Spark 4.0.1 / Scala 2.13 home (connect jar in jars/)
#   OUTDIR-3.5                  Spark 3.5.3 / Scala 2.12 home (no connect jar in jars/)
#   <parent>/connect-jars/      spark-connect_2.12-3.5.3.jar, for --jars
#   <parent>/connect-ivy/jars/  the same jar under its Ivy retrieval name, for --packages
#                               with --conf spark.jars.ivy=<parent>/connect-ivy
# Every output is rebuilt from scratch in a temporary directory and then moved into place,
# so the script is idempotent. Any failure stops it with a message and a non-zero status.
set -euo pipefail

die() {
  echo "standin/build.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$HERE/src"
mkdir -p "$(dirname "$1")"
OUT="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
PARENT="$(dirname "$OUT")"
OUT35="$OUT-3.5"
CONNECT_JARS="$PARENT/connect-jars"
CONNECT_IVY="$PARENT/connect-ivy"

if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
  JAVAC="$JAVA_HOME/bin/javac"
  JAR="$JAVA_HOME/bin/jar"
else
  JAVAC="$(command -v javac || true)"
  JAR="$(command -v jar || true)"
fi
if [ -z "$JAVAC" ] || [ ! -x "$JAVAC" ]; then
  die "javac not found (install openjdk-17-jdk-headless)"
fi
if [ -z "$JAR" ] || [ ! -x "$JAR" ]; then
  die "jar not found (install openjdk-17-jdk-headless)"
fi

# Debian's grpc-java stack and its runtime dependencies, by /usr/share/java base name.
DEBIAN_JARS="grpc-api grpc-core grpc-netty grpc-stub grpc-context guava perfmark-api
netty-buffer netty-codec netty-codec-http netty-codec-http2 netty-common netty-handler
netty-resolver netty-transport protobuf"
JAVA_SHARE="${STANDIN_JAVA_SHARE:-/usr/share/java}"
DEPS=()
for j in $DEBIAN_JARS; do
  f="$JAVA_SHARE/$j.jar"
  [ -e "$f" ] || die "missing $f (see scripts/install-deps.sh: libgrpc-java libperfmark-java libprotobuf-java)"
  DEPS+=("$(readlink -f "$f")")
done
DEP_CP="$(IFS=:; echo "${DEPS[*]}")"

WORK="$(mktemp -d "$PARENT/.standin-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Fixed timestamp for reproducible jars.
JAR_DATE="2025-09-01T00:00:00Z"
# Short-lived tool JVMs start faster with the client compiler and the serial GC.
FAST_JVM=(-J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC)

compile() { # module classpath
  local mod=$1 cp=$2
  local files=()
  mapfile -t files < <(find "$SRC/$mod" -name '*.java' | LC_ALL=C sort)
  [ ${#files[@]} -gt 0 ] || die "no sources in $SRC/$mod"
  mkdir -p "$WORK/classes/$mod"
  "$JAVAC" "${FAST_JVM[@]}" --release 17 -encoding UTF-8 -nowarn -Xlint:none -g \
    ${cp:+-cp "$cp"} -d "$WORK/classes/$mod" "${files[@]}" \
    || die "javac failed for $mod"
}

C="$WORK/classes"
compile scala-library "" &
pid_scala=$!
compile spark-launcher "" &
pid_launcher=$!
wait "$pid_scala" || die "compiling scala-library failed"
wait "$pid_launcher" || die "compiling spark-launcher failed"
compile spark-core "$C/scala-library:$C/spark-launcher"
compile spark-sql "$C/scala-library:$C/spark-core"
compile spark-connect "$C/scala-library:$C/spark-core:$C/spark-sql:$DEP_CP"

make_jar() { # jarfile classesdir [extra resource dir]
  local jar=$1 dir=$2 extra=${3:-}
  if [ -n "$extra" ]; then
    "$JAR" "${FAST_JVM[@]}" --create --date="$JAR_DATE" --file "$jar" -C "$dir" . -C "$extra" . \
      || die "jar failed for $jar"
  else
    "$JAR" "${FAST_JVM[@]}" --create --date="$JAR_DATE" --file "$jar" -C "$dir" . || die "jar failed for $jar"
  fi
}

make_home() { # dest version scala-binary scala-full hadoop with-connect(yes|no)
  local dest=$1 ver=$2 sb=$3 sfull=$4 hadoop=$5 connect=$6
  local tmp="$WORK/home-$ver"
  mkdir -p "$tmp/bin" "$tmp/sbin" "$tmp/conf" "$tmp/jars" "$WORK/res-$ver"
  cat >"$WORK/res-$ver/spark-version-info.properties" <<EOF
version=$ver
user=standin
revision=0000000000000000000000000000000000000000
branch=v$ver
date=$JAR_DATE
url=https://github.com/apache/spark
scala.binary.version=$sb
EOF
  make_jar "$tmp/jars/scala-library-$sfull.jar" "$C/scala-library"
  make_jar "$tmp/jars/spark-launcher_$sb-$ver.jar" "$C/spark-launcher"
  make_jar "$tmp/jars/spark-core_$sb-$ver.jar" "$C/spark-core" "$WORK/res-$ver"
  make_jar "$tmp/jars/spark-sql_$sb-$ver.jar" "$C/spark-sql"
  make_jar "$WORK/spark-connect_$sb-$ver.jar" "$C/spark-connect"
  if [ "$connect" = yes ]; then
    cp "$WORK/spark-connect_$sb-$ver.jar" "$tmp/jars/"
  fi
  for d in "${DEPS[@]}"; do
    cp "$d" "$tmp/jars/"
  done
  for f in "$HERE"/bin/*; do
    sed "s/@SCALA_BINARY@/$sb/g" "$f" >"$tmp/bin/$(basename "$f")"
    chmod 755 "$tmp/bin/$(basename "$f")"
  done
  cp "$HERE"/sbin/* "$tmp/sbin/"
  chmod 755 "$tmp"/sbin/*
  cp "$HERE"/conf/* "$tmp/conf/"
  printf 'Spark %s built for Hadoop %s\nBuild flags: -B -Pstandin\n' "$ver" "$hadoop" >"$tmp/RELEASE"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

make_home "$OUT" 4.0.1 2.13 2.13.16 3.4.1 yes &
pid_40=$!
make_home "$OUT35" 3.5.3 2.12 2.12.18 3.3.4 no &
pid_35=$!
wait "$pid_40" || die "assembling the 4.0.1 home failed"
wait "$pid_35" || die "assembling the 3.5.3 home failed"

mkdir -p "$WORK/cj" "$WORK/ivy/jars"
cp "$WORK/spark-connect_2.12-3.5.3.jar" "$WORK/cj/"
cp "$WORK/spark-connect_2.12-3.5.3.jar" \
  "$WORK/ivy/jars/org.apache.spark_spark-connect_2.12-3.5.3.jar"
rm -rf "$CONNECT_JARS" "$CONNECT_IVY"
mv "$WORK/cj" "$CONNECT_JARS"
mv "$WORK/ivy" "$CONNECT_IVY"

echo "standin: built $OUT (4.0.1), $OUT35 (3.5.3), $CONNECT_JARS, $CONNECT_IVY"
