#!/usr/bin/env bash
# The README's first command: installs the build dependencies, builds Lepton, starts a broker on
# loopback with its own SQLite store and a node agent (leptond) offering 2 GPUs — the CPU CUDA
# driver's emulated ones unless LEPTON_CUDA_LIBRARY names a real driver — then runs the saxpy
# example through liblepton: a real lease, a real kernel, the verified result and the lease's cost.
# (`lepton dev`, which does all this in one process, arrives with the command-line issue.)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${LEPTON_BUILD_DIR:-$ROOT/build}"
PORT="${LEPTON_PORT:-7700}"
cd "$ROOT"

scripts/install-deps.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
echo "quickstart: built into $BUILD"

DATA="$(mktemp -d "${TMPDIR:-/tmp}/lepton-quickstart.XXXXXX")"
BROKER="$BUILD/src/broker/lepton-broker"
cleanup() {
  if [ -n "${AGENT_PID:-}" ]; then kill "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; fi
  if [ -n "${BROKER_PID:-}" ]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

TENANT_TOKEN="$("$BROKER" token create --db "$DATA/broker.db" --tenant quickstart)"
NODE_TOKEN="$("$BROKER" token create --db "$DATA/broker.db" --tenant fleet --node)"
"$BROKER" serve --listen "127.0.0.1:$PORT" --db "$DATA/broker.db" >"$DATA/broker.out" 2>"$DATA/broker.log" &
BROKER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$BROKER_PID" 2>/dev/null || { echo "quickstart: the broker did not start:"; cat "$DATA/broker.log"; exit 1; }
  sleep 0.1
done
echo "quickstart: lepton-broker listening on http://127.0.0.1:$PORT (store: $DATA/broker.db)"

AGENT_PORT=$((PORT + 10))
if [ -n "${LEPTON_CUDA_LIBRARY:-}" ]; then
  CUDA_LIB="$LEPTON_CUDA_LIBRARY"
  echo "quickstart: node agent uses the CUDA driver $CUDA_LIB"
else
  CUDA_LIB="$BUILD/cudaemu/libcuda.so.1"
  export CUDAEMU_DEVICES="${CUDAEMU_DEVICES:-Lepton CPU Device (emulated):16G;Lepton CPU Device (emulated):16G}"
  echo "quickstart: *** NO GPU IS USED: the node agent runs CUDA on the CPU driver (cudaemu), 2 emulated GPUs ***"
  echo "quickstart: (set LEPTON_CUDA_LIBRARY=/usr/lib/x86_64-linux-gnu/libcuda.so.1 to offer real GPUs)"
fi
"$BUILD/src/agent/leptond" --broker "http://127.0.0.1:$PORT" --token "$NODE_TOKEN" --name demo-node \
  --listen "127.0.0.1:$AGENT_PORT" --price 2.40 --cuda-library "$CUDA_LIB" --state-dir "$DATA/agent" \
  2>"$DATA/agent.log" &
AGENT_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/v1/nodes" -H "Authorization: Bearer $TENANT_TOKEN" 2>/dev/null | grep -q '"ready"' && break
  kill -0 "$AGENT_PID" 2>/dev/null || { echo "quickstart: the node agent did not start:"; cat "$DATA/agent.log"; exit 1; }
  sleep 0.1
done
echo "quickstart: leptond registered node 'demo-node' at \$2.40/GPU-hour"

export LEPTON_ENDPOINT="http://127.0.0.1:$PORT" LEPTON_TOKEN="$TENANT_TOKEN"
"$BUILD/examples/example_saxpy" examples/kernels/saxpy.ptx
echo "quickstart: tenant usage as the broker records it:"
curl -fsS "http://127.0.0.1:$PORT/v1/usage" -H "Authorization: Bearer $TENANT_TOKEN"; echo
