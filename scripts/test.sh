#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit and integration tests (the real
# server on loopback, once on SQLite and once on PostgreSQL) in a normal build, then again
# under ASan+UBSan and under TSan. A throwaway PostgreSQL is started for the run unless
# ABLO_TEST_DATABASE_URL already names one. ABLO_SANITIZERS="" skips the sanitizer passes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ -z "${ABLO_TEST_DATABASE_URL:-}" ]; then exec scripts/with-postgres.sh "$0" "$@"; fi
run_suite() {
  local dir=$1; shift
  echo "== build $dir"
  scripts/build.sh "$dir" "$@"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure --timeout 300 -j 2)
}
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
for sanitizer in ${ABLO_SANITIZERS-address,undefined thread}; do
  run_suite "build-${sanitizer//,/-}" -DCMAKE_BUILD_TYPE=Debug -DABLO_SANITIZE="$sanitizer" -DABLO_BUILD_BENCH=OFF
done
