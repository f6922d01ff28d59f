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
# shellcheck source=SCRIPTDIR/../e2e/lib/dev.sh
. "$(dirname "$0")/../e2e/lib/dev.sh"
dev_init lepton-remote-test
DEV_STOP_GRACE=5

# the watchdog ends the spinning kernel of the last check on the worker
CUDAEMU_WATCHDOG_MS=20000 dev_start --emulate 2

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
