#!/usr/bin/env bash
# run_example.sh — runs one program of examples/ against a real broker and node agent, the way
# scripts/quickstart.sh does: a SQLite store in a temporary directory, a tenant and a node token,
# `lepton-broker serve` on a port it picks itself, `leptond` with the CPU CUDA driver (cudaemu) and
# two emulated GPUs on a free block of ports; then the example, whose exit status must be 0 and
# whose output must match a pattern. Both daemons are always stopped and waited for.
#
#   run_example.sh BROKER LEPTOND LIBCUDA PATTERN [--sigint-after SECONDS [--ready REGEX]] -- EXAMPLE [ARGS...]
#
# PATTERN is an extended regular expression (grep -E) that some line of the example's stdout and
# stderr must match; --sigint-after sends the example SIGINT that many seconds after it started,
# or after a line of its output first matched the --ready REGEX (so that a slow start, e.g. under
# sanitizers, does not turn the test into one of an interrupted start).
# LEPTON_TEST_CUDA_LIBRARY, when set, replaces LIBCUDA (a real driver offers what it finds).
#
# Copyright 2026 The Lepton Authors. Licensed under the Apache License, Version 2.0.
set -euo pipefail

if [ $# -lt 6 ]; then
  echo "usage: $0 BROKER LEPTOND LIBCUDA PATTERN [--sigint-after S] -- EXAMPLE [ARGS...]" >&2
  exit 2
fi
BROKER="$1" LEPTOND="$2" LIBCUDA="${LEPTON_TEST_CUDA_LIBRARY:-$3}" PATTERN="$4"
shift 4
SIGINT_AFTER="" READY=""
if [ "$1" = "--sigint-after" ]; then SIGINT_AFTER="$2"; shift 2; fi
if [ "$1" = "--ready" ]; then READY="$2"; shift 2; fi
[ "$1" = "--" ] || { echo "run_example: expected -- before the example" >&2; exit 2; }
shift
for f in "$BROKER" "$LEPTOND" "$1"; do
  [ -x "$f" ] || { echo "run_example: $f is not an executable (built?)" >&2; exit 2; }
done
[ -e "$LIBCUDA" ] || { echo "run_example: no CUDA driver at $LIBCUDA (built?)" >&2; exit 2; }

DATA="$(mktemp -d "${TMPDIR:-/tmp}/lepton-example.XXXXXX")"
BROKER_PID="" AGENT_PID="" EXAMPLE_PID=""

# Stops one process: SIGTERM, up to 8 s to exit, then SIGKILL; always reaped.
stop() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
show_logs() {
  for f in broker.log agent.log; do
    [ -s "$DATA/$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$DATA/$f"; }
  done
  return 0
}
cleanup() {
  local rc=$?
  stop "$EXAMPLE_PID"
  stop "$AGENT_PID" # before the broker: the agent ends its lease workers itself
  stop "$BROKER_PID"
  [ $rc -eq 0 ] || show_logs
  rm -rf "$DATA"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whether something accepts connections on a loopback port.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

TENANT_TOKEN="$("$BROKER" token create --db "$DATA/broker.db" --tenant examples)"
NODE_TOKEN="$("$BROKER" token create --db "$DATA/broker.db" --tenant fleet --node)"

# The broker binds a free port itself (port 0) and names it on its first line of stdout. The file
# exists before the broker starts: the loop below may look before the child has opened it.
: >"$DATA/broker.out"
"$BROKER" serve --listen 127.0.0.1:0 --db "$DATA/broker.db" >"$DATA/broker.out" 2>"$DATA/broker.log" &
BROKER_PID=$!
PORT=""
for _ in $(seq 1 100); do
  PORT="$(sed -n 's|.*http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$DATA/broker.out" 2>/dev/null | head -n 1 || true)"
  [ -n "$PORT" ] && break
  kill -0 "$BROKER_PID" 2>/dev/null || { echo "run_example: the broker did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "run_example: the broker did not announce its port" >&2; exit 1; }
ENDPOINT="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -fsS "$ENDPOINT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# leptond listens on AGENT_PORT and its lease workers on AGENT_PORT+1+i: take a block of 16 ports
# below the ephemeral range, aligned like the e2e harness's so that agents of tests running at the
# same time do not share one; a start that fails (a port taken meanwhile) is retried elsewhere.
export CUDAEMU_DEVICES="Lepton CPU Device (emulated):4G;Lepton CPU Device (emulated):4G"
unset CUDAEMU_DEVICE_COUNT
ready=0
for attempt in 1 2 3; do
  AGENT_PORT=""
  for _ in $(seq 1 200); do
    base=$((20000 + 16 * (RANDOM % 750)))
    busy=0
    for i in 0 1 2 3; do listening $((base + i)) && { busy=1; break; }; done
    [ $busy -eq 0 ] && { AGENT_PORT=$base; break; }
  done
  [ -n "$AGENT_PORT" ] || { echo "run_example: no free ports" >&2; exit 1; }
  "$LEPTOND" --broker "$ENDPOINT" --token "$NODE_TOKEN" --name examples-node \
    --listen "127.0.0.1:$AGENT_PORT" --price 2.40 --cuda-library "$LIBCUDA" \
    --state-dir "$DATA/agent-$attempt" 2>>"$DATA/agent.log" >&2 &
  AGENT_PID=$!
  for _ in $(seq 1 300); do
    if curl -fsS "$ENDPOINT/v1/nodes" -H "Authorization: Bearer $TENANT_TOKEN" 2>/dev/null | grep -q '"ready"'; then
      ready=1
      break
    fi
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ $ready -eq 1 ] && break
  stop "$AGENT_PID"
  AGENT_PID=""
  echo "run_example: leptond did not register on port $AGENT_PORT (attempt $attempt)" >&2
done
[ $ready -eq 1 ] || exit 1
echo "run_example: broker $ENDPOINT, node agent on 127.0.0.1:$AGENT_PORT with $LIBCUDA"

export LEPTON_ENDPOINT="$ENDPOINT" LEPTON_TOKEN="$TENANT_TOKEN"
echo "run_example: $*"
set +e
"$@" >"$DATA/example.out" 2>&1 &
EXAMPLE_PID=$!
started=$SECONDS begun=$SECONDS
signaled=0
while kill -0 "$EXAMPLE_PID" 2>/dev/null; do
  if [ -n "$READY" ] && grep -Eq -- "$READY" "$DATA/example.out"; then
    READY=""
    started=$SECONDS
  fi
  if [ -n "$SIGINT_AFTER" ] && [ -z "$READY" ] && [ $signaled -eq 0 ] && [ $((SECONDS - started)) -ge "$SIGINT_AFTER" ]; then
    kill -INT "$EXAMPLE_PID"
    signaled=1
  fi
  if [ $((SECONDS - begun)) -ge 240 ]; then
    echo "run_example: the example still runs after 240 s; killing it" >&2
    kill -KILL "$EXAMPLE_PID"
    break
  fi
  sleep 0.2
done
wait "$EXAMPLE_PID"
rc=$?
EXAMPLE_PID=""
set -e
cat "$DATA/example.out"
if [ $rc -ne 0 ]; then
  echo "run_example: FAILED: the example exited with status $rc" >&2
  exit 1
fi
if ! grep -Eq -- "$PATTERN" "$DATA/example.out"; then
  echo "run_example: FAILED: no line of the output matches /$PATTERN/" >&2
  exit 1
fi
echo "run_example: passed (exit 0, output matches /$PATTERN/)"
