#!/usr/bin/env bash
# test_exec.sh — `lepton exec` and `lepton run --lease` end to end against `lepton dev`: the program's
# exit status, stdio and environment (LEPTON_REMOTE_LEASE names the lease, active while it runs;
# LD_LIBRARY_PATH starts with the remote driver's directory), the lease closed and its cost printed
# afterwards, signals sent to lepton passed on, a program killed with SIGKILL (137, lease closed),
# --lease (attach, left running), and the local failures that must not cost a lease.
# The remote driver itself is not needed here: LEPTON_REMOTE_LIBDIR names a directory holding an
# empty libcuda.so.1 (the programs run are shell commands that never load it).
# usage: test_exec.sh LEPTON_BIN SAXPY_PTX
set -u
LEPTON="$1"
PTX="$2"
# shellcheck source=SCRIPTDIR/../lib/dev.sh
. "$(dirname "$0")/../lib/dev.sh"
dev_init lepton-exec-test
BG_PID=""
before_dev_cleanup() {
  [ -n "$BG_PID" ] && kill -9 "$BG_PID" 2>/dev/null && wait "$BG_PID" 2>/dev/null
  [ -f "$WORK/child.pid" ] && kill -9 "$(cat "$WORK/child.pid")" 2>/dev/null
}

state_of() { "$LEPTON" lease info "$1" --json >"$WORK/state.json" 2>/dev/null; json "$WORK/state.json" 'd["state"]'; }
count_leases() { "$LEPTON" lease list --json >"$WORK/list.json" 2>/dev/null; json "$WORK/list.json" 'len(d)'; }
# the lease id in exec's cost line on stderr
billed_id() { sed -n 's/^lepton exec: lease \(ls_[0-9a-f]*\) closed: [0-9]* s, 1 GPU at \$[0-9.]* per GPU-hour = \$[0-9.]*$/\1/p' "$1" | head -1; }

unset LEPTON_CA_FILE
dev_start --emulate 1

mkdir -p "$WORK/remote"
: >"$WORK/remote/libcuda.so.1"
export LEPTON_REMOTE_LIBDIR="$WORK/remote"
export LEPTON

# ---------------------------------------------------------------- help
"$LEPTON" help >"$WORK/out" 2>&1 && grep -q "^  exec " "$WORK/out" && ok "lepton help lists exec" \
  || fail "lepton help: $(cat "$WORK/out")"
"$LEPTON" exec --help >"$WORK/out" 2>&1 && grep -q "LEPTON_REMOTE_LEASE" "$WORK/out" && ok "exec --help" \
  || fail "exec --help: $(cat "$WORK/out")"

# ---------------------------------------------------------------- local failures cost no lease
BEFORE="$(count_leases)"
"$LEPTON" exec >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" -eq 2 ] && ok "exec without a program → 2" || fail "exec without a program: exit $rc"
"$LEPTON" exec --bogus -- true >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" -eq 2 ] && ok "exec --bogus → 2" || fail "exec --bogus: exit $rc"
"$LEPTON" exec --gpus 2 --lease ls_x -- true >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" -eq 2 ] && ok "exec --gpus with --lease → 2" || fail "exec --gpus --lease: exit $rc"
LEPTON_REMOTE_LIBDIR="$WORK/nowhere" "$LEPTON" exec -- true >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" -eq 1 ] && grep -qx "lepton exec: the remote driver is not at $WORK/nowhere/libcuda.so.1 (set LEPTON_REMOTE_LIBDIR)" "$WORK/err" \
  && ok "missing remote driver → 1 with the directory named" || fail "missing driver: exit $rc: $(cat "$WORK/err")"
"$LEPTON" exec -- "$WORK/no-such-program" >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" -eq 127 ] && grep -q "cannot run $WORK/no-such-program" "$WORK/err" && ok "missing program → 127" \
  || fail "missing program: exit $rc: $(cat "$WORK/err")"
"$LEPTON" exec -- no-such-program-in-path-xyz >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" -eq 127 ] && ok "program not in PATH → 127" || fail "program not in PATH: exit $rc: $(cat "$WORK/err")"
[ "$(count_leases)" = "$BEFORE" ] && ok "no lease was opened by the failures above" \
  || fail "leases before $BEFORE, after $(count_leases)"

# ---------------------------------------------------------------- exit status, lease closed, cost line
"$LEPTON" exec -- sh -c 'exit 3' >"$WORK/out" 2>"$WORK/err"; rc=$?
[ "$rc" -eq 3 ] && ok "exit status 3 passed through" || fail "exit 3: got $rc: $(cat "$WORK/err")"
ID="$(billed_id "$WORK/err")"
[ -n "$ID" ] && ok "cost line on stderr: $(cat "$WORK/err")" || fail "no cost line: $(cat "$WORK/err")"
[ -n "$ID" ] && [ "$(state_of "$ID")" = "closed" ] && ok "the lease is closed afterwards (lease info)" \
  || fail "lease $ID after exec: $(cat "$WORK/state.json")"
[ -n "$ID" ] && [ "$(json "$WORK/state.json" 'd["keepalive_seconds"]')" = "30" ] && ok "the lease had keepalive 30 s" \
  || fail "keepalive: $(cat "$WORK/state.json")"
"$LEPTON" exec --keepalive 5 --ttl 120 -- true >"$WORK/out" 2>"$WORK/err"; rc=$?
ID="$(billed_id "$WORK/err")"
[ "$rc" -eq 0 ] && [ -n "$ID" ] && [ "$(state_of "$ID")" = "closed" ] \
  && [ "$(json "$WORK/state.json" 'd["keepalive_seconds"]')" = "5" ] && [ "$(json "$WORK/state.json" 'd["ttl_seconds"]')" = "120" ] \
  && ok "--keepalive 5 --ttl 120" || fail "--keepalive/--ttl: exit $rc: $(cat "$WORK/err") $(cat "$WORK/state.json")"

# ---------------------------------------------------------------- stdin and stdout
echo hello | "$LEPTON" exec -- sh -c 'read x; echo got $x' >"$WORK/out" 2>"$WORK/err"; rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$WORK/out")" = "got hello" ] && ok "stdin and stdout are the program's" \
  || fail "stdio: exit $rc, out '$(cat "$WORK/out")', err $(cat "$WORK/err")"
"$LEPTON" exec -- sh -c 'echo to-stderr >&2' >"$WORK/out" 2>"$WORK/err"; rc=$?
[ "$rc" -eq 0 ] && grep -qx "to-stderr" "$WORK/err" && ok "stderr is the program's" || fail "stderr: $(cat "$WORK/err")"

# ---------------------------------------------------------------- the environment
# shellcheck disable=SC2016
"$LEPTON" exec -- sh -c 'echo "$LEPTON_REMOTE_LEASE"; echo "$LD_LIBRARY_PATH"; echo "$LEPTON_ENDPOINT";
  "$LEPTON" lease info "$LEPTON_REMOTE_LEASE" --json' >"$WORK/out" 2>"$WORK/err"; rc=$?
LID="$(sed -n 1p "$WORK/out")"
ID="$(billed_id "$WORK/err")"
[ "$rc" -eq 0 ] && [ -n "$LID" ] && [ "$LID" = "$ID" ] && ok "LEPTON_REMOTE_LEASE is the lease exec opened ($LID)" \
  || fail "LEPTON_REMOTE_LEASE '$LID' vs billed '$ID' (exit $rc): $(cat "$WORK/err")"
[ "$(sed -n 2p "$WORK/out")" = "$WORK/remote" ] && ok "LD_LIBRARY_PATH starts with the remote driver's directory" \
  || fail "LD_LIBRARY_PATH: $(sed -n 2p "$WORK/out")"
[ "$(sed -n 3p "$WORK/out")" = "$LEPTON_ENDPOINT" ] && ok "LEPTON_ENDPOINT passed on" || fail "endpoint: $(sed -n 3p "$WORK/out")"
sed -n '4,$p' "$WORK/out" >"$WORK/inside.json"
[ "$(json "$WORK/inside.json" 'd["state"]')" = "active" ] && [ "$(json "$WORK/inside.json" 'd["id"]')" = "$LID" ] \
  && ok "the lease is active while the program runs" || fail "lease seen from inside: $(cat "$WORK/inside.json")"
LD_LIBRARY_PATH=/opt/x "$LEPTON" exec -- sh -c 'echo "$LD_LIBRARY_PATH"' >"$WORK/out" 2>"$WORK/err"
[ "$(cat "$WORK/out")" = "$WORK/remote:/opt/x" ] && ok "LD_LIBRARY_PATH keeps what was there after the driver" \
  || fail "LD_LIBRARY_PATH prefix: $(cat "$WORK/out")"
DEV_TOKEN="$(sed -n 's/^lepton dev: token *\(lpt_[0-9a-f]*\).*/\1/p' "$WORK/dev.out")"
"$LEPTON" --token "$DEV_TOKEN" exec -- sh -c 'echo "$LEPTON_TOKEN"' >"$WORK/out" 2>"$WORK/err"
[ -n "$DEV_TOKEN" ] && [ "$(cat "$WORK/out")" = "$DEV_TOKEN" ] && ok "LEPTON_TOKEN is the token lepton used (--token)" \
  || fail "--token: '$DEV_TOKEN' vs '$(cat "$WORK/out")': $(cat "$WORK/err")"

# ---------------------------------------------------------------- SIGTERM to lepton reaches the program
rm -f "$WORK/child.pid"
# shellcheck disable=SC2016
"$LEPTON" exec -- sh -c 'trap "echo trapped TERM; exit 42" TERM; echo $$ >"$0"; while :; do sleep 0.1; done' \
  "$WORK/child.pid" >"$WORK/out" 2>"$WORK/err" &
BG_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/child.pid" ] && break; sleep 0.1; done
if [ -s "$WORK/child.pid" ]; then
  kill -TERM "$BG_PID"
  for _ in $(seq 1 100); do kill -0 "$BG_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$BG_PID"; rc=$?
  BG_PID=""
  ID="$(billed_id "$WORK/err")"
  [ "$rc" -eq 42 ] && grep -qx "trapped TERM" "$WORK/out" && ok "SIGTERM passed on: the program trapped it and exited 42" \
    || fail "SIGTERM: exit $rc, out $(cat "$WORK/out"), err $(cat "$WORK/err")"
  [ -n "$ID" ] && [ "$(state_of "$ID")" = "closed" ] && ok "lease closed after the SIGTERM" || fail "after SIGTERM: $(cat "$WORK/err")"
else
  fail "the program of the SIGTERM case did not start: $(cat "$WORK/err")"
fi

# ---------------------------------------------------------------- the program killed with SIGKILL
rm -f "$WORK/child.pid"
# shellcheck disable=SC2016
"$LEPTON" exec -- sh -c 'echo $$ >"$0"; "$LEPTON" lease info "$LEPTON_REMOTE_LEASE" --json >"$0.json"; while :; do sleep 0.1; done' \
  "$WORK/child.pid" >"$WORK/out" 2>"$WORK/err" &
BG_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/child.pid.json" ] && break; sleep 0.1; done
if [ -s "$WORK/child.pid" ]; then
  sleep 0.2
  LID="$(json "$WORK/child.pid.json" 'd["id"]')"
  kill -9 "$(cat "$WORK/child.pid")"
  for _ in $(seq 1 100); do kill -0 "$BG_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$BG_PID"; rc=$?
  BG_PID=""
  ID="$(billed_id "$WORK/err")"
  [ "$rc" -eq 137 ] && ok "program killed with SIGKILL → 137" || fail "SIGKILL: exit $rc: $(cat "$WORK/err")"
  [ -n "$ID" ] && [ "$ID" = "$LID" ] && [ "$(state_of "$ID")" = "closed" ] && ok "lease closed after the program was killed" \
    || fail "after SIGKILL: '$LID' '$ID': $(cat "$WORK/err")"
else
  fail "the program of the SIGKILL case did not start: $(cat "$WORK/err")"
fi
rm -f "$WORK/child.pid"

# ---------------------------------------------------------------- --lease: attach, leave it running
"$LEPTON" lease open --json >"$WORK/open.json" 2>"$WORK/err" || fail "lease open: $(cat "$WORK/err")"
OID="$(json "$WORK/open.json" 'd["id"]')"
"$LEPTON" exec --lease "$OID" -- sh -c 'echo "$LEPTON_REMOTE_LEASE"; exit 5' >"$WORK/out" 2>"$WORK/err"; rc=$?
[ "$rc" -eq 5 ] && [ "$(cat "$WORK/out")" = "$OID" ] && ok "--lease: the program gets that lease (exit 5 passed through)" \
  || fail "--lease: exit $rc, out $(cat "$WORK/out"), err $(cat "$WORK/err")"
[ ! -s "$WORK/err" ] && ok "--lease prints nothing about cost" || fail "--lease stderr: $(cat "$WORK/err")"
[ "$(state_of "$OID")" = "active" ] && ok "--lease leaves the lease active" || fail "after --lease: $(cat "$WORK/state.json")"
"$LEPTON" exec --lease ls_000000000000 -- true >"$WORK/out" 2>"$WORK/err"; rc=$?
[ "$rc" -eq 13 ] && ok "--lease of an unknown lease → 13 (LEPTON_ENOTFOUND)" || fail "unknown --lease: exit $rc: $(cat "$WORK/err")"

# ---------------------------------------------------------------- lepton run --lease
python3 - "$WORK" <<'PY'
import struct, sys
w, n = sys.argv[1], 1000
open(w + "/x.bin", "wb").write(struct.pack("<%df" % n, *[i * 0.25 - 7.0 for i in range(n)]))
open(w + "/y.bin", "wb").write(struct.pack("<%df" % n, *[3.0 - i * 0.125 for i in range(n)]))
PY
"$LEPTON" run --lease "$OID" --ptx "$PTX" --kernel saxpy --grid 4 --block 256 u32:1000 f32:2.5 \
  "in:$WORK/x.bin" "inout:$WORK/y.bin:$WORK/y_out.bin" >"$WORK/out" 2>"$WORK/err"; rc=$?
[ "$rc" -eq 0 ] && grep -q "lease $OID left running" "$WORK/out" && ok "run --lease runs on that lease" \
  || fail "run --lease: exit $rc: $(cat "$WORK/out") $(cat "$WORK/err")"
python3 - "$WORK" <<'PY' && ok "run --lease: saxpy output matches the host" || fail "run --lease: wrong saxpy output"
import struct, sys
w, n = sys.argv[1], 1000
x = struct.unpack("<%df" % n, open(w + "/x.bin", "rb").read())
y = struct.unpack("<%df" % n, open(w + "/y.bin", "rb").read())
out = struct.unpack("<%df" % n, open(w + "/y_out.bin", "rb").read())
sys.exit(0 if all(abs(o - (2.5 * a + b)) <= 1e-5 * max(1.0, abs(2.5 * a + b)) for o, a, b in zip(out, x, y)) else 1)
PY
[ "$(state_of "$OID")" = "active" ] && ok "run --lease leaves the lease active" || fail "after run --lease: $(cat "$WORK/state.json")"
"$LEPTON" run --lease "$OID" --gpu-model X --ptx "$PTX" --kernel saxpy --grid 1 --block 1 u32:1 >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] && ok "run --lease with --gpu-model → 2" || fail "run --lease --gpu-model: exit $rc"
"$LEPTON" lease close "$OID" >/dev/null 2>&1 || fail "closing $OID"
"$LEPTON" run --lease "$OID" --ptx "$PTX" --kernel saxpy --grid 1 --block 1 u32:1 f32:1 zero:4 zero:4 >/dev/null 2>"$WORK/err"; rc=$?
[ "$rc" -eq 7 ] && ok "run --lease of a closed lease → 7 (LEPTON_EEXPIRED)" || fail "run --lease closed: exit $rc: $(cat "$WORK/err")"

sanitizer_check "$WORK/dev.err" "$WORK/err"
echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
