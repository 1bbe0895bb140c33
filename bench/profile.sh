#!/usr/bin/env bash
# Profiles the server under one ablo_load run: starts `ablo_load ARGS…`, waits until it names
# the server's pid and the warm-up has passed, samples every server thread with `perf record`
# for --seconds, then prints ablo_load's own report, the share of samples by binary (kernel,
# ablo, libc, SQLite…) and by thread, and the top symbols by self time. This is how the issue-17 profiles
# in docs/performance.md were taken.
#
#   bench/profile.sh [--seconds 5] [--delay 3] [--out DIR] [--ablo-load PATH] -- ABLO_LOAD_ARGS…
#
# Example (the commit path at 64 in flight, and the fan-out at 1,000 subscribers):
#   bench/profile.sh -- commits --writers 8 --inflight 8 --seconds 12
#   bench/profile.sh -- --server-cpus 1 --load-cpus 0 fanout --subscribers 1000 --writes 1500 --inflight 1
# Add `--server-bin OTHER/build/src/ablo` to the ablo_load arguments to profile another build.
# Needs perf and permission to sample the server (root, or kernel.perf_event_paranoid <= 1).
set -euo pipefail

seconds=5
delay=3
out=""
ablo_load="$(cd "$(dirname "$0")/.." && pwd)/build/bench/ablo_load"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --delay) delay="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --ablo-load) ablo_load="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "profile.sh: unknown option $1 (ablo_load's arguments go after --)" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "profile.sh: no ablo_load arguments after --" >&2; exit 2; }
command -v perf > /dev/null || { echo "profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
[[ -x "$ablo_load" ]] || { echo "profile.sh: $ablo_load not built (ninja -C build ablo_load)" >&2; exit 2; }

out="${out:-$(mktemp -d /tmp/ablo-profile.XXXXXX)}"
mkdir -p "$out"
"$ablo_load" "$@" > "$out/load.txt" 2>&1 &
load_pid=$!
trap 'kill "$load_pid" 2> /dev/null || true' EXIT

# ablo_load prints "pid=N" once its server answers; the figure window starts after its warm-up.
server_pid=""
for _ in $(seq 1 600); do
  server_pid="$(grep -o -m1 'pid=[0-9]*' "$out/load.txt" | cut -d= -f2 || true)"
  [[ -n "$server_pid" ]] && break
  kill -0 "$load_pid" 2> /dev/null || break
  sleep 0.1
done
[[ -n "$server_pid" ]] || { cat "$out/load.txt" >&2; echo "profile.sh: ablo_load never named a server pid" >&2; exit 1; }
sleep "$delay"
perf record -q -F 999 -p "$server_pid" -o "$out/perf.data" -- sleep "$seconds" > /dev/null 2>&1
wait "$load_pid" || echo "profile.sh: ablo_load exited with status $? (see its report)"
trap - EXIT

grep -v '^\[' "$out/load.txt" || true

# One perf report: its sample lines only, without the trailing padding.
report() {
  perf report -i "$out/perf.data" --no-children --stdio "$@" 2> /dev/null | grep -E '^ +[0-9]' |
    sed -E 's/[[:space:]-]+$//; s/  +/  /g'
}
echo
echo "== samples by binary (server pid $server_pid, ${seconds} s at 999 Hz; $out/perf.data)"
report --sort dso --percent-limit 1
echo
echo "== samples by thread"
report --sort comm --percent-limit 1
echo
echo "== top symbols by self time"
report --sort dso,symbol --percent-limit 0.7 | cut -c1-150 | head -40
