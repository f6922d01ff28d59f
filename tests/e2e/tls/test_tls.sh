#!/usr/bin/env bash
# test_tls.sh — a fleet that speaks HTTPS end to end: `lepton-broker serve --tls-cert/--tls-key`,
# `leptond` with the same certificate for itself and its lease workers (https:// worker addresses)
# and `--ca-file` to trust the broker, and the `lepton` command line (liblepton underneath) trusting
# the certificate through --ca-file or $LEPTON_CA_FILE: a kernel runs on a lease and its output is
# checked; without the CA, or with http:// against the TLS port, the calls fail fast with a message
# that says what to do. The certificate is self-signed, made here with openssl.
# liblepton's stream to the workers runs over TLS too (tls_stream_probe: the worker counts the jobs
# that came on it), and so does plain HTTP (LEPTON_DP_STREAM=0).
# usage: test_tls.sh BROKER LEPTOND LEPTON LIBCUDA SAXPY_PTX [TLS_STREAM_PROBE]   (exit 77: skipped, no openssl)
set -u
BROKER="$1" LEPTOND="$2" LEPTON="$3" LIBCUDA="${LEPTON_TEST_CUDA_LIBRARY:-$4}" PTX="$5" PROBE="${6:-}"
command -v openssl >/dev/null || { echo "skipped: openssl is not installed (scripts/install-deps.sh installs it)"; exit 77; }
W="$(mktemp -d "${TMPDIR:-/tmp}/lepton-tls-test.XXXXXX")"
BROKER_PID="" AGENT_PID="" FAILS=0

stop() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$AGENT_PID"
  stop "$BROKER_PID"
  if [ "$FAILS" -ne 0 ]; then
    for f in broker.log agent.log; do [ -s "$W/$f" ] && { echo "--- $f (last 30 lines)"; tail -n 30 "$W/$f"; }; done
  fi
  rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
die() { echo "FATAL: $*"; FAILS=$((FAILS + 1)); exit 1; }
# expect CODE DESCRIPTION -- command...: stdout → $W/out, stderr → $W/err
expect() {
  local want="$1" what="$2"
  shift 3
  timeout 60 "$@" >"$W/out" 2>"$W/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "$what: exit $rc, expected $want"; sed 's/^/    out: /' "$W/out" | head -20; sed 's/^/    err: /' "$W/err" | head -20
    return 1
  fi
  ok "$what"
}

# ---------------------------------------------------------------- a certificate for 127.0.0.1
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >"$W/openssl.log" 2>&1 \
  || { cat "$W/openssl.log"; die "openssl could not make a certificate"; }
CA="$W/cert.pem"

# ---------------------------------------------------------------- broker (HTTPS)
TENANT="$("$BROKER" token create --db "$W/b.db" --tenant acme)" || die "token create"
NODE="$("$BROKER" token create --db "$W/b.db" --tenant fleet --node)" || die "node token create"
: >"$W/broker.out" # before the child starts: the loop below may look first
"$BROKER" serve --listen 127.0.0.1:0 --db "$W/b.db" --tls-cert "$CA" --tls-key "$W/key.pem" \
  >"$W/broker.out" 2>"$W/broker.log" &
BROKER_PID=$!
PORT=""
for _ in $(seq 1 100); do
  PORT="$(sed -n 's|.*listening on https://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$W/broker.out" | head -n 1)"
  [ -n "$PORT" ] && break
  kill -0 "$BROKER_PID" 2>/dev/null || { cat "$W/broker.out" "$W/broker.log"; die "the broker did not start"; }
  sleep 0.1
done
[ -n "$PORT" ] && ok "broker says: $(head -n 1 "$W/broker.out")" || die "the broker did not announce an https:// address"
EP="https://127.0.0.1:$PORT"

# the same flags, one missing: a usage error, nothing served
expect 2 "serve --tls-cert without --tls-key → exit 2" -- "$BROKER" serve --listen 127.0.0.1:0 --db "$W/b2.db" --tls-cert "$CA"
grep -q -- "--tls-key" "$W/err" || fail "the usage error does not name --tls-key: $(cat "$W/err")"

# ---------------------------------------------------------------- leptond (HTTPS for itself and its workers)
export CUDAEMU_DEVICES="Lepton CPU Device (emulated):4G"
unset CUDAEMU_DEVICE_COUNT
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ready=0
for attempt in 1 2 3; do
  AP=""
  for _ in $(seq 1 200); do
    base=$((20000 + 16 * (RANDOM % 750)))
    busy=0
    for i in 0 1 2; do listening $((base + i)) && { busy=1; break; }; done
    [ $busy -eq 0 ] && { AP=$base; break; }
  done
  [ -n "$AP" ] || die "no free ports"
  "$LEPTOND" --broker "$EP" --token "$NODE" --name tls-node --listen "127.0.0.1:$AP" --price 1.80 \
    --cuda-library "$LIBCUDA" --state-dir "$W/agent-$attempt" --tls-cert "$CA" --tls-key "$W/key.pem" \
    --ca-file "$CA" 2>>"$W/agent.log" >&2 &
  AGENT_PID=$!
  for _ in $(seq 1 300); do
    if "$LEPTON" --endpoint "$EP" --token "$TENANT" --ca-file "$CA" nodes --json 2>/dev/null | grep -q '"ready"'; then
      ready=1; break
    fi
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ $ready -eq 1 ] && break
  stop "$AGENT_PID"; AGENT_PID=""
  echo "note: leptond did not register on port $AP (attempt $attempt)"
done
[ $ready -eq 1 ] || die "leptond did not register over https"
ok "leptond registered over https"

# ---------------------------------------------------------------- the command line over HTTPS
export LEPTON_ENDPOINT="$EP" LEPTON_TOKEN="$TENANT"
unset LEPTON_CA_FILE
expect 0 "nodes --json with --ca-file" -- "$LEPTON" --ca-file "$CA" nodes --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); a=d[0]["address"]; sys.exit(0 if a.startswith("https://127.0.0.1:") else 1)' "$W/out" \
  && ok "the node's worker address is https://" || fail "node address is not https: $(cat "$W/out")"

python3 - "$W" <<'PY'
import struct, sys
w = sys.argv[1]
n = 4096
open(w + "/x.bin", "wb").write(struct.pack("<%df" % n, *[float(i) for i in range(n)]))
open(w + "/y.bin", "wb").write(struct.pack("<%df" % n, *[1.0 + i % 7 for i in range(n)]))
PY
check_saxpy() { # FILE: y = 3*x + y
  python3 - "$W" "$1" <<'PY'
import struct, sys
w, f = sys.argv[1], sys.argv[2]
n = 4096
x = struct.unpack("<%df" % n, open(w + "/x.bin", "rb").read())
y = struct.unpack("<%df" % n, open(w + "/y.bin", "rb").read())
z = struct.unpack("<%df" % n, open(f, "rb").read())
bad = [i for i in range(n) if abs(z[i] - (3.0 * x[i] + y[i])) > 1e-3 * max(1.0, abs(z[i]))]
sys.exit(1 if bad else 0)
PY
}
expect 0 "run saxpy over https (--ca-file): lease, module, buffers, job, close" -- \
  "$LEPTON" --ca-file "$CA" run --ptx "$PTX" --kernel saxpy --grid 16 --block 256 u32:4096 f32:3.0 \
  "in:$W/x.bin" "inout:$W/y.bin:$W/z1.bin"
check_saxpy "$W/z1.bin" && ok "saxpy output over https equals the host computation" || fail "saxpy output wrong"

expect 0 "run saxpy over https (\$LEPTON_CA_FILE)" -- env LEPTON_CA_FILE="$CA" \
  "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 16 --block 256 u32:4096 f32:3.0 \
  "in:$W/x.bin" "inout:$W/y.bin:$W/z2.bin"
check_saxpy "$W/z2.bin" && ok "saxpy output (\$LEPTON_CA_FILE) right" || fail "saxpy output wrong (env)"
if [ -n "$PROBE" ]; then
  expect 0 "jobs on the worker's stream over https" -- "$PROBE" "$EP" "$TENANT" "$CA" "$PTX" \
    && sed 's/^/    /' "$W/out"
  expect 0 "the same jobs over plain https requests (LEPTON_DP_STREAM=0)" -- env LEPTON_DP_STREAM=0 "$PROBE" "$EP" "$TENANT" "$CA" "$PTX" \
    && sed 's/^/    /' "$W/out"
fi
expect 0 "usage with \$LEPTON_CA_FILE" -- env LEPTON_CA_FILE="$CA" "$LEPTON" usage --json
NLEASES=$([ -n "$PROBE" ] && echo 4 || echo 2)
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d["leases"]) == int(sys.argv[2]) and d["cost"] > 0 else 1)' "$W/out" "$NLEASES" \
  && ok "both leases billed" || fail "usage: $(cat "$W/out")"

# ---------------------------------------------------------------- refusals that explain themselves
t0=$SECONDS
expect 3 "nodes without the CA → ENET (3)" -- "$LEPTON" nodes
grep -qi "certificate" "$W/err" && grep -q -- "--ca-file" "$W/err" && ok "it says the certificate is not trusted and names --ca-file" \
  || fail "message: $(cat "$W/err")"
expect 3 "run (liblepton) without the CA → ENET (3)" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 16 \
  --block 256 u32:4096 f32:3.0 "in:$W/x.bin" "inout:$W/y.bin:$W/z3.bin"
grep -qi "certificate" "$W/err" && grep -q "LEPTON_CA_FILE" "$W/err" && ok "liblepton's message names ca_file / \$LEPTON_CA_FILE" \
  || fail "message: $(cat "$W/err")"
expect 3 "http:// against the TLS port → ENET (3)" -- "$LEPTON" --endpoint "http://127.0.0.1:$PORT" --ca-file "$CA" nodes
[ $((SECONDS - t0)) -lt 20 ] && ok "the refusals came fast ($((SECONDS - t0)) s)" || fail "refusals took $((SECONDS - t0)) s"
expect 1 "an unreadable --ca-file → EINVAL (1)" -- "$LEPTON" --ca-file "$W/nope.pem" lease list
expect 0 "nothing left open" -- "$LEPTON" --ca-file "$CA" lease list --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if not [l for l in d if l["state"] == "active"] else 1)' "$W/out" \
  && ok "no active lease" || fail "active leases left: $(cat "$W/out")"

echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
