#!/usr/bin/env bash
# Installs every Debian package Courier builds, tests and benchmarks with.
# Idempotent; needs root (or sudo). Used by the README's two commands and CI.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libabsl-dev libhiredis-dev libmongoc-dev libbson-dev libsodium-dev libssl-dev
  libfmt-dev catch2 libbenchmark-dev libboost-dev librocksdb-dev libsqlite3-dev libpq-dev
  libjwt-dev libsimdjson-dev rapidjson-dev libspdlog-dev libcli11-dev
  redis-server postgresql python3 python3-mockupdb python3-pytest python3-websocket openssl
  clang-14 libclang-rt-14-dev
)
if [ "${COURIER_INSTALL_EXTRA:-}" != "" ]; then
  # shellcheck disable=SC2206
  packages+=(${COURIER_INSTALL_EXTRA})
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
