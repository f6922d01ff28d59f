#!/usr/bin/env bash
# test_run_signals.sh — `lepton run` and keepalive on the command line, against `lepton dev`:
# Ctrl-C (SIGINT) and SIGTERM during a long kernel close the run's lease at once and exit 130 / 143;
# `lepton run` leases with a 30 s keepalive by default; `lepton lease open --keepalive S` makes a
# lease that ends (expired, "holder stopped answering") when `lepton lease renew` stops.
# usage: test_run_signals.sh LEPTON_BIN SPIN_PTX (tests/kernels/ptx/watchdog_spin.*.ptx)
set -u
LEPTON="$1"
PTX="$2"
# shellcheck source=SCRIPTDIR/../lib/dev.sh
. "$(dirname "$0")/../lib/dev.sh"
dev_init lepton-cli-signals
RUN_PID=""
before_dev_cleanup() { [ -n "$RUN_PID" ] && kill -9 "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null; }

dev_start --emulate 1

# ---------------------------------------------------------------- lease open --keepalive / renew
# (6 s: long enough that a loaded machine starts the worker before the lease expires unrenewed)
"$LEPTON" lease open --keepalive 6 --json >"$WORK/ka.json" 2>"$WORK/err" || fail "lease open --keepalive 6: $(cat "$WORK/err")"
KA="$(json "$WORK/ka.json" 'd["id"]')"
[ "$(json "$WORK/ka.json" 'd["keepalive_seconds"]')" = "6" ] && ok "lease open --keepalive 6" \
  || fail "keepalive_seconds: $(cat "$WORK/ka.json")"
workers() { pgrep -P "$DEV_PID" 2>/dev/null | wc -l; }
for _ in $(seq 1 50); do [ "$(workers)" -gt 0 ] && break; sleep 0.1; done
[ "$(workers)" -gt 0 ] && ok "a worker runs for the keepalive lease" || fail "no worker process for the lease"
"$LEPTON" lease renew "$KA" >"$WORK/out" 2>&1 && grep -q "renewed" "$WORK/out" && ok "lease renew" \
  || fail "lease renew: $(cat "$WORK/out")"
STATE=""
for _ in $(seq 1 300); do # not renewed any more: it ends within ~6 s
  "$LEPTON" lease info "$KA" --json >"$WORK/info.json" 2>/dev/null
  STATE="$(json "$WORK/info.json" 'd["state"]')"
  [ "$STATE" = "active" ] || break
  sleep 0.1
done
[ "$STATE" = "expired" ] && json "$WORK/info.json" 'd["end_reason"]' | grep -q "holder stopped answering" \
  && ok "a lease not renewed for its keepalive ends expired" || fail "after the keepalive: $(cat "$WORK/info.json")"
"$LEPTON" lease info "$KA" >"$WORK/out" 2>&1
grep -q "holder stopped answering" "$WORK/out" && ok "lease info shows why" || fail "lease info: $(cat "$WORK/out")"
for _ in $(seq 1 100); do [ "$(workers)" -eq 0 ] && break; sleep 0.1; done
[ "$(workers)" -eq 0 ] && ok "its worker stopped" || fail "worker still running after the keepalive ended the lease"
"$LEPTON" lease open --json >"$WORK/plain.json" 2>"$WORK/err" || fail "lease open: $(cat "$WORK/err")"
[ "$(json "$WORK/plain.json" 'd["keepalive_seconds"]')" = "None" ] && ok "lease open has no keepalive by default" \
  || fail "lease open default keepalive: $(cat "$WORK/plain.json")"
"$LEPTON" lease close "$(json "$WORK/plain.json" 'd["id"]')" >/dev/null 2>&1 || fail "closing the plain lease"
"$LEPTON" lease open --keepalive x >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" -eq 2 ] && ok "lease open --keepalive x → 2" || fail "--keepalive x: exit $rc"

# ---------------------------------------------------------------- lepton run: SIGINT → 130, SIGTERM → 143
# the kernel spins until a flag (a zeroed buffer) becomes non-zero: it runs until stopped
run_and_signal() { # SIGNAL WANT_EXIT
  local sig="$1" want="$2"
  "$LEPTON" run --ptx "$PTX" --kernel watchdog_spin --grid 1 --block 1 --timeout 300 zero:4 u32:1 zero:4 \
    >"$WORK/run.out" 2>"$WORK/run.err" &
  RUN_PID=$!
  local id=""
  for _ in $(seq 1 200); do # the lease is open once run says so on stderr
    id="$(sed -n 's/^lepton: lease \(ls_[0-9a-f]*\):.*/\1/p' "$WORK/run.err" | head -1)"
    [ -n "$id" ] && break
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$id" ]; then fail "$sig: lepton run did not open a lease: $(cat "$WORK/run.err")"; return; fi
  "$LEPTON" lease info "$id" --json >"$WORK/run_lease.json" 2>/dev/null
  [ "$(json "$WORK/run_lease.json" 'd["keepalive_seconds"]')" = "30" ] && ok "$sig: lepton run's lease has keepalive 30 s" \
    || fail "$sig: run lease keepalive: $(cat "$WORK/run_lease.json")"
  sleep 1 # the kernel is running (or being sent)
  kill -0 "$RUN_PID" 2>/dev/null || { fail "$sig: lepton run ended early: $(cat "$WORK/run.err")"; RUN_PID=""; return; }
  local t0=$SECONDS
  kill "-$sig" "$RUN_PID"
  local rc=0
  for _ in $(seq 1 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$RUN_PID" 2>/dev/null; then fail "$sig: lepton run still running 10 s after the signal"; return; fi
  wait "$RUN_PID"; rc=$?
  RUN_PID=""
  [ "$rc" -eq "$want" ] && ok "$sig: lepton run exited $rc in $((SECONDS - t0)) s" \
    || fail "$sig: exit $rc, expected $want; stderr: $(cat "$WORK/run.err")"
  "$LEPTON" lease info "$id" --json >"$WORK/after.json" 2>/dev/null
  [ "$(json "$WORK/after.json" 'd["state"]')" = "closed" ] && ok "$sig: the lease is closed on the broker" \
    || fail "$sig: lease after the signal: $(cat "$WORK/after.json")"
  grep -q "lepton: SIG$sig: lease $id closed" "$WORK/run.err" && ok "$sig: run says it closed the lease" \
    || fail "$sig: run stderr: $(cat "$WORK/run.err")"
}
run_and_signal INT 130
run_and_signal TERM 143

sanitizer_check "$WORK/dev.err" "$WORK/run.err"
echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
