#!/usr/bin/env bash
# build.sh [DIR] [extra cmake args...]: configures and builds with Ninja (2 jobs: Beast TUs are heavy).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}; shift || true
# ccache caches compilations that use a precompiled header only with this sloppiness (the header's
# compile embeds __DATE__/__TIME__ state and defines; ccache checks the header's content instead).
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
ninja -C "$dir" -j "${ABLO_JOBS:-2}"
