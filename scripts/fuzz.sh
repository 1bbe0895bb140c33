#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET...]: builds the libFuzzer targets with clang (ASan+UBSan) into
# build-fuzz and runs each for SECONDS (default 60) on a scratch copy of its seed corpus
# (fuzz/corpus/<target>/). Fails if any target crashes, leaks or times out; the reproducer
# is left in <build>/artifacts/<target>/.
# ABLO_FUZZ_BUILD=DIR runs the targets already built in DIR (a clang build configured with
# -DABLO_FUZZ=ON, as scripts/test.sh's ASan+UBSan build is) instead of building build-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ws_frame_fuzz http_request_fuzz cursor_fuzz commit_fuzz schema_fuzz mcp_message_fuzz source_contract_fuzz)

out=${ABLO_FUZZ_BUILD:-}
if [ -z "$out" ]; then
  out=build-fuzz
  # -O1 (the level libFuzzer's documentation uses) for a long run by hand: the whole instrumented
  # server compiles faster than at -O2, for somewhat fewer executions per second.
  cmake -S . -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DABLO_FUZZ=ON \
    -DABLO_BUILD_TESTS=OFF -DABLO_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" >/dev/null
  ninja -C "$out" -j "${ABLO_JOBS:-2}" "${targets[@]}"
fi

# run_target TARGET: one fuzzing run; its log is <build>/TARGET.log.
run_target() {
  local target=$1 work=$out/corpus/$1 artifacts=$out/artifacts/$1
  mkdir -p "$work" "$artifacts"
  cp -n fuzz/corpus/"$target"/* "$work"/ 2>/dev/null || true
  # The store lives in a temporary directory per process; detect_leaks=0: the environment is
  # built once and never torn down (its threads run until exit).
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out"/fuzz/"$target" -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts"/ -print_final_stats=1 "$work" > "$out"/"$target".log 2>&1 || true
}
# The targets run ABLO_JOBS (2) at a time: each is one single-threaded process, so a 2-core
# machine fuzzes two surfaces for the time of one.
jobs=${ABLO_JOBS:-2}
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  batch=("${targets[@]:i:jobs}")
  echo "== ${batch[*]}: ${seconds}s"
  for target in "${batch[@]}"; do run_target "$target" & done
  wait
done
failed=()
for target in "${targets[@]}"; do
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|exception boundary)' \
    "$out"/"$target".log | sed "s/^/$target: /" || true
  if grep -qE 'ERROR: libFuzzer|==[0-9]+==ERROR|SUMMARY: |exception boundary reached|runtime error' "$out"/"$target".log; then
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs in $out/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: no crashes"
