#!/usr/bin/env bash
# run_smoke.sh — the remote driver end to end: `lepton dev` (CPU driver, 2 emulated GPUs) in the
# background, then the driver-API program smoke.c with LD_LIBRARY_PATH=<build>/remote: with a
# lease the driver opens itself, attached to a lease opened by the CLI (left running), in forward
# mode (more round trips than batched), and with no broker (cuInit fails with a reason).
# Last, exit while a thread waits in cuCtxSynchronize on a spinning kernel: bounded.
# usage: run_smoke.sh LEPTON_BIN SMOKE_BIN REMOTE_LIBDIR SAXPY_PTX EXIT_WAIT_BIN WATCHDOG_SPIN_PTX
set -u
LEPTON="$1"
SMOKE="$2"
LIBDIR="$3"
PTX="$4"
EXIT_WAIT="$5"
SPIN_PTX="$6"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lepton-remote-test.XXXXXX")"
DEV_PID=""
FAILS=0
cleanup() {
  if [ -n "$DEV_PID" ] && kill -0 "$DEV_PID" 2>/dev/null; then
    kill -INT "$DEV_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.1; done
    for w in $(pgrep -P "$DEV_PID" 2>/dev/null); do kill -9 "$w" 2>/dev/null; done
    kill -9 "$DEV_PID" 2>/dev/null
    wait "$DEV_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
die() { echo "FATAL: $*"; tail -30 "$WORK/dev.err" 2>/dev/null; exit 1; }

pick_port() {
  python3 - <<'PY'
import random, socket
for _ in range(500):
    p = random.randint(10000, 30000)
    socks = []
    try:
        for q in (p, p + 10, p + 11, p + 12):
            s = socket.socket(); socks.append(s); s.bind(("127.0.0.1", q))
        print(p); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
}

for _try in 1 2 3; do
  PORT="$(pick_port)"
  export LEPTON_ENDPOINT="http://127.0.0.1:$PORT"
  unset LEPTON_TOKEN
  rm -f "$WORK/dev.out" "$WORK/dev.err"
  # the watchdog ends the spinning kernel of the last check on the worker
  CUDAEMU_WATCHDOG_MS=20000 "$LEPTON" dev --port "$PORT" --emulate 2 --data "$WORK/data" >"$WORK/dev.out" 2>"$WORK/dev.err" &
  DEV_PID=$!
  for _ in $(seq 1 300); do
    grep -q "ready" "$WORK/dev.out" 2>/dev/null && break
    kill -0 "$DEV_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "ready" "$WORK/dev.out" 2>/dev/null && break
  wait "$DEV_PID" 2>/dev/null
  DEV_PID=""
  grep -q "in use" "$WORK/dev.err" || die "lepton dev did not start"
done
[ -n "$DEV_PID" ] || die "lepton dev could not get a free port"

run_smoke() { # WHAT ENV...: runs smoke with the remote driver, output in $WORK/s.out / s.err
  local what="$1"
  shift
  env LD_LIBRARY_PATH="$LIBDIR" "$@" timeout 120 "$SMOKE" "$PTX" >"$WORK/s.out" 2>"$WORK/s.err"
  local rc=$?
  if [ "$rc" -eq 0 ] && grep -q "smoke ok" "$WORK/s.out"; then ok "$what"; else
    fail "$what (exit $rc)"; sed 's/^/    out: /' "$WORK/s.out" | head -20; sed 's/^/    err: /' "$WORK/s.err" | head -30
  fi
}
round_trips() { sed -n 's/^lepton-remote: round trips \([0-9]*\),.*/\1/p' "$WORK/s.err" | tail -1; }

# 1. the driver opens a lease of its own (both GPUs: copies and events across them) and closes it at exit
run_smoke "smoke with a lease of 2 GPUs the driver opens" LEPTON_REMOTE_GPUS=2 LEPTON_REMOTE_STATS=1
grep -q "second GPU: copies and events across GPUs ok" "$WORK/s.out" && ok "2 GPUs: copies and events across them" \
  || fail "the 2-GPU part did not run"
BATCHED="$(round_trips)"
[ -n "$BATCHED" ] && ok "stats line: $BATCHED round trips" || fail "no stats line on stderr"
"$LEPTON" lease list --json >"$WORK/list.json" 2>/dev/null
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); l=d if isinstance(d,list) else d.get('leases',[]); sys.exit(0 if not [x for x in l if x.get('state')=='active'] else 1)" "$WORK/list.json" \
  && ok "no lease left active after exit" || fail "a lease is still active after the program exited"

# 2. attached to a lease opened elsewhere: left running
"$LEPTON" lease open --gpus 1 --ttl 600 --json >"$WORK/lease.json" 2>"$WORK/lease.err" || die "lease open: $(cat "$WORK/lease.err")"
ID="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$WORK/lease.json")"
run_smoke "smoke attached to lease $ID" LEPTON_REMOTE_LEASE="$ID"
"$LEPTON" lease list --json >"$WORK/list.json" 2>/dev/null
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); l=d if isinstance(d,list) else d.get('leases',[]); sys.exit(0 if [x for x in l if x.get('id')==sys.argv[2] and x.get('state')=='active'] else 1)" "$WORK/list.json" "$ID" \
  && ok "attached lease still active after exit" || fail "attached lease $ID ended with the program"

"$LEPTON" lease close "$ID" >/dev/null 2>&1

# 3. forward mode: one round trip per call (a lease of its own: handles that follow each other on
# one lease's GPU share the worker's job numbering, see e2e.dataplane.attach_seq)
run_smoke "smoke in forward mode" LEPTON_REMOTE_GPUS=1 LEPTON_REMOTE_FORWARD=1 LEPTON_REMOTE_STATS=1
FORWARD="$(round_trips)"
if [ -n "$BATCHED" ] && [ -n "$FORWARD" ] && [ "$FORWARD" -gt "$BATCHED" ]; then
  ok "forward mode costs more round trips ($FORWARD > $BATCHED)"; else fail "round trips: forward $FORWARD, batched $BATCHED"; fi

# 4. no broker: cuInit fails with a reason on stderr
env LD_LIBRARY_PATH="$LIBDIR" LEPTON_ENDPOINT="http://127.0.0.1:9" timeout 60 "$SMOKE" "$PTX" >"$WORK/s.out" 2>"$WORK/s.err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "^lepton-remote: cuInit:" "$WORK/s.err" && grep -q "CUDA_ERROR_NO_DEVICE\|-> 100" "$WORK/s.err"; then
  ok "no broker: cuInit fails with CUDA_ERROR_NO_DEVICE and says why"
else
  fail "no broker: exit $rc"; sed 's/^/    err: /' "$WORK/s.err" | head -10
fi

# 5. exit with a thread still waiting: the driver waits 10 s for the queue, then leaves the lease
t0=$SECONDS
env LD_LIBRARY_PATH="$LIBDIR" LEPTON_REMOTE_GPUS=1 LEPTON_LOG_LEVEL=debug timeout 60 "$EXIT_WAIT" "$SPIN_PTX" \
  >"$WORK/x.out" 2>"$WORK/x.err"
rc=$?
took=$((SECONDS - t0))
if [ "$rc" -eq 0 ] && [ "$took" -le 30 ] && grep -q "a CUDA call is still waiting" "$WORK/x.err"; then
  ok "exit with a thread waiting in the driver: bounded ($took s)"
else
  fail "exit with a waiting thread: exit $rc after $took s"; sed 's/^/    err: /' "$WORK/x.err" | head -10
fi

[ "$FAILS" -eq 0 ] && echo "all remote smoke checks passed" || echo "$FAILS remote smoke check(s) failed"
exit $((FAILS > 0))
