#!/usr/bin/env bash
# The README's first command: installs the build dependencies, builds Lepton, starts a broker on
# loopback with its own SQLite store, registers a demo node the way a node agent does, and runs the
# lease example through liblepton: a real lease, its price and its per-second cost.
#
# Until the node agent (leptond) lands, the node is registered over the broker's HTTP API by this
# script: its GPUs are a description, no CUDA work runs on them yet. It says so below.
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

echo "quickstart: registering demo node 'demo-node' (2 x 'Demo GPU 80GB' at \$2.40/GPU-hour)."
echo "quickstart: NOTE: this node is a description registered over HTTP; the node agent that runs CUDA work is not built yet."
curl -fsS -X POST "http://127.0.0.1:$PORT/v1/nodes" -H "Authorization: Bearer $NODE_TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"name": "demo-node", "address": "http://127.0.0.1:7710", "price_per_gpu_hour": 2.40,
       "gpus": [{"uuid": "GPU-demo-0", "model": "Demo GPU 80GB", "memory": 85899345920},
                {"uuid": "GPU-demo-1", "model": "Demo GPU 80GB", "memory": 85899345920}]}' >/dev/null

LEPTON_ENDPOINT="http://127.0.0.1:$PORT" LEPTON_TOKEN="$TENANT_TOKEN" "$BUILD/examples/example_lease" 3
echo "quickstart: tenant usage as the broker records it:"
curl -fsS "http://127.0.0.1:$PORT/v1/usage" -H "Authorization: Bearer $TENANT_TOKEN"; echo
