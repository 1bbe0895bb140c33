#!/usr/bin/env bash
# Installs what is missing, builds, and runs the server on the embedded default
# (SQLite in ./ablo-data, http://127.0.0.1:8787). Extra arguments go to `ablo serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
ABLO_JOBS=${ABLO_JOBS:-2} scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DABLO_BUILD_TESTS=OFF -DABLO_BUILD_BENCH=OFF
exec build/src/ablo serve "$@"
