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
#   ABLO_FUZZ_SECONDS=N                          runs each fuzz target (clang, libFuzzer) for N seconds
#                                                on its committed corpus; with ASan+UBSan above, the
#                                                targets are built in that build (one compile of the
#                                                server for both), else scripts/fuzz.sh builds its own
#
# The extra builds compile in the background at idle CPU priority (SCHED_IDLE) from the start:
# they take only what the plain build and the tests leave (an integration test mostly waits on a
# server or a socket), so their compile time hides behind the test phases.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ -z "${ABLO_TEST_DATABASE_URL:-}" ]; then exec scripts/with-postgres.sh "$0" "$@"; fi

cores=$(nproc)
# Tests run two per core in the plain pass: an integration test spends most of its time waiting
# (a server starting, a socket, a deadline): the SQLite integration suite used 44 s of CPU in 81 s
# of wall at 4 jobs on 2 cores. Sanitized tests use far more CPU each: one per core.
# ABLO_TEST_JOBS overrides both.
plain_jobs=${ABLO_TEST_JOBS:-$((2 * cores))}
sanitized_jobs=${ABLO_TEST_JOBS:-$cores}
timings=()
# timed NAME COMMAND...: runs COMMAND and records its wall time for the summary at the end.
timed() {
  local name=$1 start=$SECONDS; shift
  echo "== $name ($(date +%T))"
  "$@"
  timings+=("$(printf '%-36s %5d s' "$name" $((SECONDS - start)))")
}
# run_tests DIR JOBS EXCLUDE: DIR's tests, JOBS at a time, but those matching EXCLUDE.
run_tests() {
  (cd "$1" && ctest --output-on-failure --timeout 300 -j "$2" ${3:+-E "$3"})
}

# The extra builds: one per sanitizer set; the fuzz targets join the ASan+UBSan one.
fuzz_dir=""
extra_dirs=()
declare -A extra_args
for sanitizer in ${ABLO_SANITIZERS:-}; do
  dir="build-${sanitizer//,/-}"
  extra_dirs+=("$dir")
  # ASan+UBSan compiles with clang-14 (in about 60% of g++'s time here, and the fuzz targets need
  # clang); TSan stays on g++ (clang's TSan build has not been run through the suite yet).
  compiler=g++; [[ $sanitizer == *address* ]] && compiler=clang++-14
  extra_args[$dir]="-DCMAKE_CXX_COMPILER=$compiler -DCMAKE_BUILD_TYPE=Debug -DABLO_SANITIZE=$sanitizer -DABLO_BUILD_BENCH=OFF"
  if [ -n "${ABLO_FUZZ_SECONDS:-}" ] && [ -z "$fuzz_dir" ] && [[ $sanitizer == *address* ]]; then
    fuzz_dir=$dir
    extra_args[$dir]+=" -DABLO_FUZZ=ON"
  fi
done
build_logs=$(mktemp -d)
background_builder=""
trap '[ -z "$background_builder" ] || kill -- -"$background_builder" 2>/dev/null || true; rm -rf "$build_logs"' EXIT
if [ ${#extra_dirs[@]} -gt 0 ]; then
  # Its own process group (set -m), so the trap can stop every compiler it started.
  set -m
  (
    idle=(chrt --idle 0); "${idle[@]}" true 2>/dev/null || idle=(nice -n 19)
    for dir in "${extra_dirs[@]}"; do
      start=$SECONDS
      # shellcheck disable=SC2086  # the arguments are words
      if "${idle[@]}" scripts/build.sh "$dir" ${extra_args[$dir]} > "$build_logs/$dir.log" 2>&1; then status=0; else status=$?; fi
      echo "$status $((SECONDS - start))" > "$build_logs/$dir.status"
    done
  ) &
  background_builder=$!
  set +m
fi
# wait_for_build DIR: waits for DIR's background build, prints its output, fails when it failed.
wait_for_build() {
  local dir=$1 start=$SECONDS
  while [ ! -f "$build_logs/$1.status" ]; do sleep 2; done
  local status seconds
  read -r status seconds < "$build_logs/$dir.status"
  cat "$build_logs/$dir.log"
  timings+=("$(printf '%-36s %5d s (waited %d s)' "build $dir (background)" "$seconds" $((SECONDS - start)))")
  if [ "$status" != 0 ]; then echo "test.sh: the build of $dir failed" >&2; exit 1; fi
}

timed "build build" scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
timed "test build" run_tests build "$plain_jobs" ""
for sanitizer in ${ABLO_SANITIZERS:-}; do
  dir="build-${sanitizer//,/-}"
  # The Python reference endpoint's own tests run no C++: once, in the plain pass, is enough.
  exclude='^source_endpoint\.'
  if [ "${ABLO_SANITIZER_STORES:-split}" != both ]; then
    if [ "$sanitizer" = thread ]; then exclude+='|^sqlite\.'; else exclude+='|^postgres\.'; fi
  fi
  wait_for_build "$dir"
  timed "test $dir" run_tests "$dir" "$sanitized_jobs" "$exclude"
done
if [ -n "${ABLO_FUZZ_SECONDS:-}" ]; then
  timed "fuzz" env ABLO_FUZZ_BUILD="$fuzz_dir" scripts/fuzz.sh "$ABLO_FUZZ_SECONDS"
fi
echo "== done ($(date +%T)), $SECONDS s in all:"
printf '   %s\n' "${timings[@]}"
