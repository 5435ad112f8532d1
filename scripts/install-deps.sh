#!/bin/sh
# Install every Debian package sparkshim needs to build, test and benchmark.
# Idempotent: does nothing when all are present. Needs root (or sudo).
set -eu

PKGS="build-essential pkg-config
libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libsystemd-dev
openjdk-17-jdk-headless libzookeeper-mt-dev zookeeper
python3-grpcio python3-protobuf python3-pytest python3-venv maven libcmocka-dev valgrind shellcheck
libgrpc-java libperfmark-java libprotobuf-java grpc-proto
protobuf-compiler clang libclang-rt-14-dev libjackson2-databind-java
etcd-server etcd-client
systemd-container python3-yaml"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
