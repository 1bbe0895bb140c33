#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit and integration tests (the real
# server on loopback, once on SQLite and once on a throwaway PostgreSQL). A PostgreSQL is
# started for the run unless ABLO_TEST_DATABASE_URL already names one.
#
# Extra passes, off by default so a developer's run stays short; CI (.ci/run) turns them on:
#   ABLO_SANITIZERS="address,undefined thread"  the suite again under each sanitizer set (ASan+UBSan,
#                                                then TSan), each in its own build. Every unit test
#                                                runs in both; the integration suite, which the plain
#                                                pass runs once per store, runs on SQLite under
#                                                ASan+UBSan and on PostgreSQL (with the cluster
#                                                tests) under TSan, so each store is sanitized once
#                                                at half the time. ABLO_SANITIZER_STORES=both runs
#                                                both stores under each.
#   ABLO_FUZZ_SECONDS=N                          builds the fuzz targets (clang, libFuzzer) and
#                                                runs each for N seconds on its committed corpus
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ -z "${ABLO_TEST_DATABASE_URL:-}" ]; then exec scripts/with-postgres.sh "$0" "$@"; fi
# run_suite DIR JOBS EXCLUDE CMAKE_ARGS...: builds DIR and runs its tests, JOBS at a time, but
# those matching EXCLUDE.
run_suite() {
  local dir=$1 jobs=$2 exclude=$3; shift 3
  echo "== build $dir ($(date +%T))"
  scripts/build.sh "$dir" "$@"
  echo "== test $dir ($(date +%T))"
  (cd "$dir" && ctest --output-on-failure --timeout 300 -j "$jobs" ${exclude:+-E "$exclude"})
}
# Tests run two per core in the plain pass: an integration test spends most of its time waiting
# (a server starting, a socket, a deadline): the SQLite integration suite used 44 s of CPU in 81 s
# of wall at 4 jobs on 2 cores. Sanitized tests use far more CPU each:
# one per core. ABLO_TEST_JOBS overrides both.
cores=$(nproc)
run_suite build "${ABLO_TEST_JOBS:-$((2 * cores))}" "" -DCMAKE_BUILD_TYPE=RelWithDebInfo
for sanitizer in ${ABLO_SANITIZERS:-}; do
  # The Python reference endpoint's own tests run no C++: once, in the plain pass, is enough.
  exclude='^source_endpoint\.'
  if [ "${ABLO_SANITIZER_STORES:-split}" != both ]; then
    if [ "$sanitizer" = thread ]; then exclude+='|^sqlite\.'; else exclude+='|^postgres\.'; fi
  fi
  run_suite "build-${sanitizer//,/-}" "${ABLO_TEST_JOBS:-$cores}" "$exclude" -DCMAKE_BUILD_TYPE=Debug -DABLO_SANITIZE="$sanitizer" -DABLO_BUILD_BENCH=OFF
done
if [ -n "${ABLO_FUZZ_SECONDS:-}" ]; then
  echo "== fuzz ($(date +%T))"
  scripts/fuzz.sh "$ABLO_FUZZ_SECONDS"
fi
echo "== done ($(date +%T))"
