#!/usr/bin/env bash
# The README's first command: installs what building and running Lepton needs (Debian packages; the
# test suite's extra tools come with `scripts/install-deps.sh --test`), builds what this needs
# (lepton, its worker, the CPU CUDA driver, the saxpy example), starts `lepton dev` (broker + node
# agent in one process on loopback, with this machine's GPUs — or, where there are none, the CPU
# CUDA driver with 2 emulated GPUs, which it says loudly), runs the saxpy example on a real lease,
# shows the verified result and the lease's cost, and stops `lepton dev` with Ctrl-C's signal (every
# lease ended and billed, every worker reaped). One line per step while it works; the compiler's
# output goes to $LEPTON_BUILD_DIR/quickstart.log and is shown when a step fails.
#
# Environment: LEPTON_BUILD_DIR (default ./build), LEPTON_PORT (default 7700), LEPTON_DEV_ARGS
# (extra arguments for `lepton dev`, e.g. "--emulate 4"), KEEP_RUNNING=1 to leave `lepton dev` up.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${LEPTON_BUILD_DIR:-$ROOT/build}"
PORT="${LEPTON_PORT:-7700}"
JOBS="$(nproc)"
cd "$ROOT"

echo "quickstart: [1/4] dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh
mkdir -p "$BUILD"
LOG="$BUILD/quickstart.log"
: >"$LOG"
# step WHAT -- COMMAND...: runs COMMAND with its output in $LOG; on failure shows the end of it
step() {
  local what="$1"
  shift 2
  if ! "$@" >>"$LOG" 2>&1; then
    echo "quickstart: $what failed; the last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}
echo "quickstart: [2/4] configuring the build in $BUILD (cmake)"
step "cmake" -- cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "quickstart: [3/4] building lepton, lepton-worker, the CPU CUDA driver and the saxpy example" \
     "($JOBS jobs; a few minutes on 2 cores; log in $LOG)"
step "the build" -- cmake --build "$BUILD" -j"$JOBS" --target lepton_cli example_saxpy
echo "quickstart: [4/4] starting lepton dev on port $PORT, then a lease running saxpy"

DATA="$(mktemp -d "${TMPDIR:-/tmp}/lepton-quickstart.XXXXXX")"
LEPTON="$BUILD/src/cli/lepton"
cleanup() {
  if [ -n "${DEV_PID:-}" ] && [ -z "${KEEP_RUNNING:-}" ]; then
    kill -INT "$DEV_PID" 2>/dev/null || true
    wait "$DEV_PID" 2>/dev/null || true
  fi
  [ -n "${KEEP_RUNNING:-}" ] || rm -rf "$DATA"
}
trap cleanup EXIT

# shellcheck disable=SC2086
"$LEPTON" dev --port "$PORT" --data "$DATA" ${LEPTON_DEV_ARGS:-} >"$DATA/dev.out" 2>"$DATA/dev.log" &
DEV_PID=$!
for _ in $(seq 1 200); do
  grep -q "ready" "$DATA/dev.out" 2>/dev/null && break
  kill -0 "$DEV_PID" 2>/dev/null || { echo "quickstart: lepton dev did not start:"; cat "$DATA/dev.out" "$DATA/dev.log"; exit 1; }
  sleep 0.1
done
sed 's/^/lepton dev | /' "$DATA/dev.out"

export LEPTON_ENDPOINT="http://127.0.0.1:$PORT"
"$LEPTON" nodes
"$BUILD/examples/example_saxpy" examples/kernels/saxpy.ptx
echo "quickstart: usage as the broker records it:"
"$LEPTON" usage
if [ -n "${KEEP_RUNNING:-}" ]; then
  echo "quickstart: lepton dev keeps running (pid $DEV_PID, data $DATA); stop it with: kill -INT $DEV_PID"
fi
