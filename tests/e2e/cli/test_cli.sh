#!/usr/bin/env bash
# test_cli.sh — the `lepton` command line end to end: `lepton dev` (broker + agent + workers in one
# process, CPU driver with 2 emulated GPUs) in the background, then every verb against it, with
# --json output parsed and a kernel's output compared with a host computation; SIGINT must end
# every lease and worker and exit 0, and a restart on the same data directory keeps the history.
# usage: test_cli.sh LEPTON_BIN SAXPY_PTX
set -u
LEPTON="$1"
PTX="$2"
# shellcheck source=SCRIPTDIR/../lib/dev.sh
. "$(dirname "$0")/../lib/dev.sh"
dev_init lepton-cli-test

stop_dev() { # SIGINT; must exit 0 within 10 s with no worker left
  local workers
  workers="$(pgrep -P "$DEV_PID" 2>/dev/null | tr '\n' ' ')"
  kill -INT "$DEV_PID"
  local t0=$SECONDS rc
  for _ in $(seq 1 100); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$DEV_PID" 2>/dev/null; then fail "lepton dev still running 10 s after SIGINT"; return; fi
  wait "$DEV_PID"; rc=$?
  [ "$rc" -eq 0 ] && ok "SIGINT: lepton dev exited 0 in $((SECONDS - t0)) s" || fail "SIGINT: exit $rc"
  local left=""
  for w in $workers; do kill -0 "$w" 2>/dev/null && left="$left $w"; done
  [ -z "$left" ] && ok "no worker process left (had: ${workers:-none})" || fail "workers still running:$left"
  if python3 -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1', $PORT)) != 0 else 1)"; then
    ok "broker port closed"; else fail "broker port $PORT still open"; fi
  if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/dev.err"; then
    fail "lepton dev: sanitizer report"; grep -A20 -E "runtime error|Sanitizer" "$WORK/dev.err" | head -40
  fi
  DEV_PID=""
}

# ---------------------------------------------------------------- start
dev_start --emulate 2
head -1 "$WORK/dev.out" | grep -q '^\*\*\* NO GPU: running CUDA on the CPU driver (cudaemu) with 2 emulated GPUs \*\*\*' \
  && ok "banner says NO GPU first" || fail "no NO-GPU banner on the first line: $(head -1 "$WORK/dev.out")"
[ -n "$TOKEN" ] && ok "dev token printed" || fail "no token in the banner"

# ---------------------------------------------------------------- version, help
expect 0 "version" -- "$LEPTON" version
grep -q "^lepton 1\." "$WORK/out" || fail "version output: $(cat "$WORK/out")"
for verb in "dev" "quote" "lease" "lease open" "lease list" "run" "nodes" "usage" "version"; do
  expect 0 "$verb --help" -- $LEPTON $verb --help
  grep -qi "example" "$WORK/out" || fail "$verb --help has no example"
done

# ---------------------------------------------------------------- bad command lines → 2
expect 2 "quote --gpus x" -- "$LEPTON" quote --gpus x
grep -q -- "--gpus: 'x' is not a number" "$WORK/err" || fail "message for --gpus x: $(cat "$WORK/err")"
expect 2 "unknown verb" -- "$LEPTON" frobnicate
expect 2 "unknown flag" -- "$LEPTON" nodes --bogus
expect 2 "lease extend without seconds" -- "$LEPTON" lease extend ls_x
expect 2 "lease extend bad seconds" -- "$LEPTON" lease extend ls_x soon
expect 2 "run without --ptx" -- "$LEPTON" run --kernel saxpy --grid 1 --block 1
expect 2 "run --grid 0" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 0 --block 1
expect 2 "run bad arg type" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 1 --block 1 q7:3
expect 2 "lease open --ttl -5" -- "$LEPTON" lease open --ttl -5
expect 2 "--endpoint not a URL" -- "$LEPTON" --endpoint foo nodes

# ---------------------------------------------------------------- quote
expect 0 "quote (table)" -- "$LEPTON" quote
grep -q "^dev .*emulated" "$WORK/out" || fail "quote table lacks the dev node: $(cat "$WORK/out")"
expect 0 "quote --json" -- "$LEPTON" quote --json --gpus 2
pycheck "quote --json: one offer of 2 free GPUs at \$1" \
  'assert len(d) == 1 and d[0]["node"] == "dev" and d[0]["gpus_free"] == 2 and abs(d[0]["price_per_gpu_hour"] - 1.0) < 1e-9, d'
expect 0 "quote with the token" -- "$LEPTON" --token "$TOKEN" quote --json
expect 4 "quote with a wrong token → EAUTH (4)" -- "$LEPTON" --token lpt_nope quote

# ---------------------------------------------------------------- leases
expect 0 "lease open --json" -- "$LEPTON" lease open --gpus 1 --ttl 600 --json
pycheck "lease open: active, 1 GPU" 'assert d["state"] == "active" and d["gpu_count"] == 1 and d["id"].startswith("ls_") and "data_plane" not in d, d'
ID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/out")"
EXP0="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["expires_at"])' "$WORK/out")"
expect 0 "lease list --json" -- "$LEPTON" lease list --json
pycheck "lease list has $ID active" "assert any(l['id'] == '$ID' and l['state'] == 'active' for l in d), d"
expect 0 "lease list (table)" -- "$LEPTON" lease list
grep -q "^$ID  *active" "$WORK/out" || fail "lease list table: $(cat "$WORK/out")"
expect 0 "lease info --json" -- "$LEPTON" lease info "$ID" --json
pycheck "lease info" "assert d['id'] == '$ID' and d['node'] == 'dev' and d['state'] == 'active', d"
expect 0 "lease info (human)" -- "$LEPTON" lease info "$ID"
grep -q "^state *active" "$WORK/out" || fail "lease info text: $(cat "$WORK/out")"
expect 0 "lease extend 60 --json" -- "$LEPTON" lease extend "$ID" 60 --json
pycheck "lease extend adds 60 s" "assert d['expires_at'] == $EXP0 + 60, (d['expires_at'], $EXP0)"
expect 0 "second lease (2 GPUs now held)" -- "$LEPTON" lease open --json
ID2="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/out")"
expect 5 "lease open with no GPU free → ENOCAPACITY (5)" -- "$LEPTON" lease open
grep -q "LEPTON_ENOCAPACITY" "$WORK/err" && grep -q "0 are free" "$WORK/err" || fail "refusal message: $(cat "$WORK/err")"
expect 5 "lease open --gpus 3 → ENOCAPACITY (5)" -- "$LEPTON" lease open --gpus 3
expect 5 "run --wait 0 with no GPU free → 5" -- "$LEPTON" run --wait 0 --ptx "$PTX" --kernel saxpy --grid 1 --block 1 u32:0 f32:1 zero:4 zero:4

# run that waits for capacity: it must say so, then run once a lease is closed
python3 - "$WORK" <<'PY'
import struct, sys
n = 1000
w = sys.argv[1]
open(w + "/x.bin", "wb").write(struct.pack("<%df" % n, *[i * 0.25 - 7.0 for i in range(n)]))
open(w + "/y.bin", "wb").write(struct.pack("<%df" % n, *[3.0 - i * 0.125 for i in range(n)]))
PY
"$LEPTON" run --wait 30 --ptx "$PTX" --kernel saxpy --grid 4 --block 256 u32:1000 f32:2.5 \
  "in:$WORK/x.bin" "inout:$WORK/y.bin:$WORK/w.bin" >"$WORK/wait.out" 2>"$WORK/wait.err" &
WAIT_PID=$!
for _ in $(seq 1 100); do grep -q "waiting for capacity" "$WORK/wait.err" && break; sleep 0.1; done
grep -q "waiting for capacity" "$WORK/wait.err" && ok "run says 'waiting for capacity…'" || fail "no waiting line: $(cat "$WORK/wait.err")"
expect 0 "lease close --json" -- "$LEPTON" lease close "$ID" --json
pycheck "lease close: closed, billed" "assert d['state'] == 'closed' and d['cost'] > 0 and d['gpu_seconds'] >= 1, d"
wait "$WAIT_PID"; rc=$?
[ "$rc" -eq 0 ] && ok "the waiting run ran once a GPU was free" || { fail "waiting run exit $rc"; cat "$WORK/wait.err"; }
expect 0 "lease close (human) of the second lease" -- "$LEPTON" lease close "$ID2"
grep -qF 'closed; cost $0.0' "$WORK/out" || fail "close text: $(cat "$WORK/out")"
expect 6 "lease open --max-price 0.5 → EBUDGET (6)" -- "$LEPTON" lease open --max-price 0.5
grep -q "LEPTON_EBUDGET" "$WORK/err" || fail "budget message: $(cat "$WORK/err")"
expect 0 "closing a closed lease again is fine" -- "$LEPTON" lease close "$ID"
expect 7 "extending a closed lease → EEXPIRED (7)" -- "$LEPTON" lease extend "$ID" 10
expect 13 "lease info of an unknown id → ENOTFOUND (13)" -- "$LEPTON" lease info ls_doesnotexist

# ---------------------------------------------------------------- run: saxpy on files, checked on the host
expect 0 "run saxpy (human)" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 4 --block 256 u32:1000 f32:2.5 \
  "in:$WORK/x.bin" "inout:$WORK/y.bin:$WORK/y_out.bin"
grep -q "^kernel saxpy" "$WORK/out" && grep -qF 'closed; cost $' "$WORK/out" || fail "run output: $(cat "$WORK/out")"
check_saxpy() {
  python3 - "$WORK" "$1" <<'PY'
import struct, sys
w, out = sys.argv[1], sys.argv[2]
n = 1000
x = struct.unpack("<%df" % n, open(w + "/x.bin", "rb").read())
y = struct.unpack("<%df" % n, open(w + "/y.bin", "rb").read())
r = struct.unpack("<%df" % n, open(out, "rb").read())
want = [struct.unpack("<f", struct.pack("<f", 2.5 * a + b))[0] for a, b in zip(x, y)]
bad = [i for i in range(n) if abs(r[i] - want[i]) > 1e-6 * max(1.0, abs(want[i]))]
sys.exit(1 if bad else 0)
PY
}
check_saxpy "$WORK/y_out.bin" && ok "saxpy output equals the host computation" || fail "saxpy output differs"
check_saxpy "$WORK/w.bin" && ok "the waiting run's output is right too" || fail "waiting run output differs"
expect 0 "run saxpy --json with out:FILE:SIZE" -- "$LEPTON" run --json --ptx "$PTX" --kernel saxpy --grid 4 --block 256 \
  --arg u32:1000 --arg f32:2.5 --arg "in:$WORK/x.bin" --arg "inout:$WORK/y.bin:$WORK/y2.bin"
pycheck "run --json: timing, cost, outputs" \
  'assert d["kernel"] == "saxpy" and d["cost"] > 0 and d["timing_ms"]["kernel"] >= 0 and d["outputs"][0]["bytes"] == 4000, d'
check_saxpy "$WORK/y2.bin" && ok "saxpy --json output right" || fail "saxpy --json output differs"
expect 1 "run with a missing input file → 1" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 1 --block 1 u32:1 f32:1 \
  "in:$WORK/nope.bin" zero:4
expect 2 "run with a wrong argument count → refused before leasing (2)" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 1 --block 1 u32:1
grep -q "kernel saxpy takes 4 arguments" "$WORK/err" || fail "arg count message: $(cat "$WORK/err")"
expect 0 "lease list after runs: nothing active" -- "$LEPTON" lease list --active --json
pycheck "no active lease left by run" 'assert d == [], d'

# ---------------------------------------------------------------- nodes, usage
expect 0 "nodes" -- "$LEPTON" nodes
grep -q "^dev  *ready .*2/2" "$WORK/out" || fail "nodes table: $(cat "$WORK/out")"
expect 0 "nodes --json" -- "$LEPTON" nodes --json
pycheck "nodes --json: dev ready with 2 GPUs" 'assert [n["name"] for n in d] == ["dev"] and d[0]["gpus_total"] == 2 and d[0]["state"] == "ready", d'
expect 0 "usage" -- "$LEPTON" usage
grep -q '^tenant dev: .*cost [$]0[.]0' "$WORK/out" || fail "usage text: $(cat "$WORK/out")"
expect 0 "usage --json" -- "$LEPTON" usage --json
pycheck "usage --json: the leases and their cost" 'assert d["tenant"] == "dev" and d["cost"] > 0 and len(d["leases"]) >= 5, d'
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["leases"]), d["cost"])' "$WORK/out" >"$WORK/usage1"

# a lease left open must be ended (closed, billed) by the shutdown
expect 0 "lease left open for the shutdown" -- "$LEPTON" lease open --json
IDOPEN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/out")"
sleep 1
stop_dev
grep -q "lease $IDOPEN of tenant dev ended and billed" "$WORK/dev.out" && ok "shutdown ended the open lease" \
  || fail "shutdown did not report ending $IDOPEN"
expect 3 "broker gone → ENET (3)" -- "$LEPTON" nodes

# ---------------------------------------------------------------- restart on the same data
TOKEN1="$TOKEN"
dev_start --emulate 2
[ "$TOKEN1" = "$TOKEN" ] && ok "the dev token is kept across restarts" || fail "token changed: $TOKEN1 → $TOKEN"
expect 0 "usage --json after restart" -- "$LEPTON" --token "$TOKEN1" usage --json
read -r N1 C1 <"$WORK/usage1"
pycheck "usage history kept (at least $N1 + 1 leases, cost > $C1)" \
  "assert len(d['leases']) == $N1 + 1 and d['cost'] > $C1, d"
expect 0 "lease info of the lease ended at shutdown" -- "$LEPTON" lease info "$IDOPEN" --json
pycheck "it was closed (not failed) and billed" "assert d['state'] == 'closed' and d['gpu_seconds'] >= 1 and d['cost'] > 0, d"
stop_dev

echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
