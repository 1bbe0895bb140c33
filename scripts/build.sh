#!/usr/bin/env bash
# build.sh [DIR] [extra cmake args...]: configures and builds with Ninja (2 jobs: Beast TUs are heavy).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}; shift || true
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
ninja -C "$dir" -j "${ABLO_JOBS:-2}"
