# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# tests/e2e/lib/dev.sh — the shell harness of the tests that start `lepton dev` (broker, agent and
# workers in one process) in the background: a scratch directory, a free block of loopback ports,
# starting `lepton dev` and waiting for "ready", stopping it and its workers on exit (also on
# failure), and the ok/FAIL helpers. Sourced (bash), never run:
#   . "$(dirname "$0")/../lib/dev.sh"          (from tests/e2e/<dir>/)
#   . "$(dirname "$0")/../e2e/lib/dev.sh"      (from tests/remote/)
#
# Variables the caller sets:
#   LEPTON                 the `lepton` binary (before dev_start)
#   DEV_STOP_GRACE         seconds dev_cleanup gives `lepton dev` after a SIGINT before SIGKILL;
#                          0 or unset: SIGKILL at once
#   DEV_KEEP_FAILED_WORK   1: dev_cleanup keeps $WORK when a check failed ("logs kept in ...")
# Variables the library sets:
#   WORK        the test's scratch directory (dev_init); removed on exit
#   DEV_DATA    `lepton dev --data` directory, $WORK/data (dev_init); a restart keeps its history
#   FAILS       the number of failed checks (dev_init: 0; fail and die add one)
#   PORT        the broker's port (dev_start); P+10..P+12 are free for the agent too
#   LEPTON_ENDPOINT  http://127.0.0.1:$PORT, exported (dev_start)
#   DEV_PID     the background `lepton dev` ("" when none runs)
#   TOKEN       the dev token printed in the banner of the last dev_start ("" when none)
#
# Functions:
#   dev_init NAME        makes WORK ($TMPDIR/NAME.XXXXXX), resets the variables above, unsets
#                        LEPTON_TOKEN (a fresh `lepton dev` has its own) and traps EXIT to dev_cleanup
#   dev_start ARGS...    starts `$LEPTON dev --port $PORT ARGS... --data $DEV_DATA` (stdout and stderr
#                        in $WORK/dev.out, dev.err) and waits up to 30 s for "ready"; when the port
#                        was taken meanwhile (tests run in parallel) it tries another, 3 times in
#                        all; PORT already set (a restart) is tried first. Environment variables for
#                        `lepton dev` alone: VAR=value dev_start ...
#   dev_stop             stops `lepton dev` (SIGINT, up to 10 s to end its leases and workers, then
#                        SIGKILL); DEV_PID becomes "" and a later dev_start may start another
#   dev_pick_port        prints a port P with P, P+10, P+11, P+12 free, below the ephemeral range
#   dev_cleanup          the EXIT trap: calls before_dev_cleanup when the script defines it (its own
#                        background processes), kills `lepton dev` and its workers, removes WORK
#   ok MSG / fail MSG    prints "ok: MSG" / "FAIL: MSG" (fail counts it in FAILS)
#   die MSG              prints "FATAL: MSG" and `lepton dev`'s output, exits 1
#   json FILE EXPR       prints the python expression EXPR over d, the JSON in FILE (nothing if bad)
#   expect CODE WHAT -- COMMAND...  runs COMMAND (stdout → $WORK/out, stderr → $WORK/err); fails
#                        WHAT unless it exits CODE without a sanitizer report, else ok WHAT
#   pycheck WHAT CODE    runs python CODE with d = the JSON in $WORK/out; ok WHAT unless it raises
#   sanitizer_check FILE...  fails "sanitizer report" (and shows it) when a FILE holds one

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
die() {
  echo "FATAL: $*"
  echo "--- lepton dev stdout"; cat "$WORK/dev.out" 2>/dev/null
  echo "--- lepton dev stderr (tail)"; tail -30 "$WORK/dev.err" 2>/dev/null
  FAILS=$((FAILS + 1))
  exit 1
}

dev_init() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")" || { echo "FATAL: no scratch directory"; exit 1; }
  DEV_DATA="$WORK/data"
  DEV_PID=""
  PORT=""
  TOKEN=""
  FAILS=0
  unset LEPTON_TOKEN
  trap dev_cleanup EXIT
}

dev_cleanup() {
  if declare -F before_dev_cleanup >/dev/null; then before_dev_cleanup; fi
  if [ -n "${DEV_PID:-}" ] && kill -0 "$DEV_PID" 2>/dev/null; then
    if [ "${DEV_STOP_GRACE:-0}" -gt 0 ]; then # let it end its leases and workers itself first
      kill -INT "$DEV_PID" 2>/dev/null
      for _ in $(seq 1 $((DEV_STOP_GRACE * 10))); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    for w in $(pgrep -P "$DEV_PID" 2>/dev/null); do kill -9 "$w" 2>/dev/null; done
    kill -9 "$DEV_PID" 2>/dev/null
    wait "$DEV_PID" 2>/dev/null
  fi
  if [ "${DEV_KEEP_FAILED_WORK:-0}" = 1 ] && [ "${FAILS:-0}" -ne 0 ]; then
    echo "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}

dev_pick_port() {
  python3 - <<'PY'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    low = 32768
hi = max(low - 20, 12000)
for _ in range(500):
    p = random.randint(10000, hi)
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

dev_stop() {
  [ -n "${DEV_PID:-}" ] || return 0
  kill -INT "$DEV_PID" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.1; done
  for w in $(pgrep -P "$DEV_PID" 2>/dev/null); do kill -9 "$w" 2>/dev/null; done
  kill -9 "$DEV_PID" 2>/dev/null
  wait "$DEV_PID" 2>/dev/null
  DEV_PID=""
}

dev_start() {
  local _try
  [ -n "$PORT" ] || PORT="$(dev_pick_port)"
  for _try in 1 2 3; do
    [ -n "$PORT" ] || die "no free port"
    export LEPTON_ENDPOINT="http://127.0.0.1:$PORT"
    # the previous run's output says "ready" too: remove it here, in this shell, before the child
    # starts (the child's own truncation of the file may come after the first look below)
    rm -f "$WORK/dev.out" "$WORK/dev.err"
    "$LEPTON" dev --port "$PORT" "$@" --data "$DEV_DATA" >"$WORK/dev.out" 2>"$WORK/dev.err" &
    DEV_PID=$!
    for _ in $(seq 1 300); do
      if grep -q "ready" "$WORK/dev.out" 2>/dev/null; then
        # shellcheck disable=SC2034 # TOKEN is for the script that sources this
        TOKEN="$(sed -n 's/^lepton dev: token *\(lpt_[0-9a-f]*\).*/\1/p' "$WORK/dev.out")"
        return 0
      fi
      kill -0 "$DEV_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$DEV_PID" 2>/dev/null && die "lepton dev did not become ready in 30 s"
    wait "$DEV_PID" 2>/dev/null
    DEV_PID=""
    grep -q "in use" "$WORK/dev.err" || die "lepton dev exited early"
    echo "note: port $PORT taken meanwhile; trying another"
    PORT="$(dev_pick_port)"
  done
  die "lepton dev could not get a free port"
}

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }

expect() {
  local want="$1" what="$2"
  shift 3
  "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "$what: exit $rc, expected $want"; sed 's/^/    out: /' "$WORK/out" | head -20; sed 's/^/    err: /' "$WORK/err" | head -20
    return 1
  fi
  if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/err"; then
    fail "$what: sanitizer report"; head -30 "$WORK/err"; return 1
  fi
  ok "$what"
}

pycheck() {
  local what="$1" code="$2"
  if python3 -c "import json,sys
d=json.load(open(sys.argv[1]))
$code" "$WORK/out"; then ok "$what"; else fail "$what"; sed 's/^/    out: /' "$WORK/out" | head -30; fi
}

sanitizer_check() {
  if grep -qE "runtime error|AddressSanitizer|LeakSanitizer|ThreadSanitizer" "$@" 2>/dev/null; then
    fail "sanitizer report"
    grep -h -A30 -E "runtime error|Sanitizer" "$@" 2>/dev/null | head -60
  fi
}
