#!/usr/bin/env bash
# Installs the Debian 12 packages the build and tests need (no-op when they are present).
set -euo pipefail
packages=(g++ cmake ninja-build ccache pkg-config libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
          libssl-dev libsqlite3-dev libpq-dev libfmt-dev libspdlog-dev libcli11-dev libexpected-dev
          libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
          postgresql     # the server, for the PostgreSQL pass of the tests (scripts/with-postgres.sh)
          redis-server   # for the Redis client and cluster wake-up tests (tests/support/private_redis.h)
          python3-psycopg2  # the PostgreSQL backing of examples/source-endpoint (its tests run under CTest)
          clang-14 libclang-rt-14-dev)  # libFuzzer and the sanitizer runtimes for scripts/fuzz.sh
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Chromium for the web console's browser tests (tests/console drives it headless).
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  echo "installing: chromium"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# Node and npm for the MCP SDK tests (tests/mcp) and the console tests (tests/console). A machine that has them from elsewhere
# (e.g. a newer Node with its own npm) keeps them: Debian's npm would conflict with it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing: nodejs npm"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
