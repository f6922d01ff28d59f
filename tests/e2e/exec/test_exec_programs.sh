#!/usr/bin/env bash
# test_exec_programs.sh — unmodified CUDA programs on a leased GPU through `lepton exec` (the remote
# driver) against `lepton dev` (2 emulated GPUs, cudaemu behind the workers).
# usage: test_exec_programs.sh SECTION LEPTON_BIN SAMPLES_DIR SAMPLES_PTX SAMPLES_FATBIN REMOTE_LOOP EMPTY_PTX
#   SECTION programs: the sample programs (tests/programs/samples) through exec, each checking its
#                     results; the lease closed and its cost printed; device count = --gpus; attach
#                     with --lease (the lease stays active); two programs on two leases at once
#   SECTION faults:   the program killed with SIGKILL mid-run (exec exits 137, closes the lease);
#                     exec itself killed with SIGKILL (the lease ends by its keepalive); the lease's
#                     worker killed mid-run (the program gets a CUDA error, not a hang)
#   SECTION runtime:  the CUDA runtime-API programs of tests/programs/runtime (nvcc-built, static and
#                     shared cudart: $RUNTIME_DIR, listed in $RUNTIME_PROGRAMS as "binary|args,...")
#                     through exec, each checking its results; one on 2 GPUs; the lease closed;
#                     device printf on exec's stdout (rt_hello_printf), fetched only when printed;
#                     a device assertion's message on exec's stderr
#                     (RUNTIME_PRELOAD: words put before each such program, e.g. the sanitizer
#                     runtimes an uninstrumented program needs to load an instrumented driver)
#   SECTION python:   cuda.bindings, cuda.core, numba and CuPy scripts through exec (CUPY_COMPILE_WITH_PTX
#                     set by exec on emulated GPUs only, a user's own kept), with $LEPTON_PYTHON_CUDA (a
#                     python with the pinned packages; default: the venv of scripts/test-python-cuda.sh,
#                     $PYTHON_CUDA_DEFAULT; exit 77 = skipped when there is none)
set -u
SECTION="$1" LEPTON="$2" SAMPLES="$3" PTX="$4" FATBIN="$5" LOOP="$6" EMPTY="$7"
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=SCRIPTDIR/../lib/dev.sh
. "$HERE/../lib/dev.sh"
dev_init lepton-exec-test
DEV_KEEP_FAILED_WORK=1
BG=()
before_dev_cleanup() { for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done; }
show() { sed 's/^/    out: /' "$1.out" | tail -15; sed 's/^/    err: /' "$1.err" | tail -15; }

# The GPUs `lepton dev` offers: the CPU driver's 2 emulated ones, or the machine's when the suite runs
# against a real driver (tests/gpu/run_e2e.sh sets LEPTON_TEST_CUDA_LIBRARY to the system's).
if [ -n "${LEPTON_TEST_CUDA_LIBRARY:-}" ] && [ "${LEPTON_TEST_CUDA_LIBRARY#*cudaemu}" = "$LEPTON_TEST_CUDA_LIBRARY" ]; then
  DEV_ARGS=()
  NGPUS="$(nvidia-smi -L 2>/dev/null | wc -l)"
else
  DEV_ARGS=(--emulate 2)
  NGPUS=2
fi

unset LEPTON_REMOTE_LEASE LEPTON_REMOTE_FORWARD

# lease_state ID: the broker's state of a lease ("active", "closed", "expired", ...)
lease_state() {
  "$LEPTON" lease info "$1" --json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['state'])" 2>/dev/null
}
# The lease id and cost line that `lepton exec` prints on stderr when it closes its lease.
exec_lease_id() { sed -n 's/^lepton exec: lease \([^ :]*\) closed.*/\1/p' "$1" | head -1; }

# run_exec NAME WANT_RC [exec flags...] -- PROGRAM ARGS...: runs it; checks the exit status
run_exec() {
  local name="$1" want="$2"
  shift 2
  timeout 300 "$LEPTON" exec "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$name: exit $rc, expected $want"; show "$WORK/$name"; return 1; fi
  return 0
}

# wait_for FILE PATTERN SECONDS
wait_for() {
  local i
  for i in $(seq 1 $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

section_programs() {
  local p args name id state
  for p in device_query vector_add matrix_mul streams_events pointers_globals launch_error nvrtc_saxpy; do
    [ -x "$SAMPLES/samples_$p" ] || { echo "note: $p not built here"; continue; }
    args=()
    case "$p" in
      vector_add) args=("$FATBIN") ;;
      device_query|nvrtc_saxpy) ;;
      *) args=("$PTX") ;;
    esac
    run_exec "$p" 0 --ttl 600 -- env SAMPLES_EXPECT_DEVICES=1 "$SAMPLES/samples_$p" "${args[@]}" || continue
    grep -q "PASS" "$WORK/$p.out" && ok "$p through lepton exec: $(grep PASS "$WORK/$p.out" | tail -1)" \
      || { fail "$p: no PASS line"; show "$WORK/$p"; }
    id="$(exec_lease_id "$WORK/$p.err")"
    if [ -z "$id" ]; then fail "$p: no 'lease ... closed' line with the cost on stderr"; show "$WORK/$p"; continue; fi
    grep -q '\$' "$WORK/$p.err" && ok "$p: cost printed: $(grep '^lepton exec: lease' "$WORK/$p.err")" \
      || fail "$p: the closing line has no cost"
    state="$(lease_state "$id")"
    [ "$state" = "closed" ] && ok "$p: lease $id closed" || fail "$p: lease $id is '$state' after exec"
  done

  # --gpus 2: the program sees the lease's two GPUs as devices 0 and 1
  if [ "$NGPUS" -lt 2 ]; then
    echo "note: one GPU here: --gpus 2 and two leases at once left out"
  elif run_exec query2 0 --gpus 2 -- env SAMPLES_EXPECT_DEVICES=2 "$SAMPLES/samples_device_query"; then
    grep -q "2 device(s)" "$WORK/query2.out" && ok "--gpus 2: two devices" || { fail "--gpus 2: not two devices"; show "$WORK/query2"; }
  fi

  # attach: a lease opened by `lepton lease open` is used by two programs in turn and stays active
  "$LEPTON" lease open --ttl 600 --json >"$WORK/open.json" 2>"$WORK/open.err" || fail "lease open: $(cat "$WORK/open.err")"
  id="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$WORK/open.json" 2>/dev/null)"
  if [ -n "$id" ]; then
    run_exec attach1 0 --lease "$id" -- "$SAMPLES/samples_vector_add" "$FATBIN" && ok "exec --lease $id: vector_add"
    run_exec attach2 0 --lease "$id" -- "$SAMPLES/samples_pointers_globals" "$PTX" && ok "exec --lease $id: pointers_globals"
    state="$(lease_state "$id")"
    [ "$state" = "active" ] && ok "attached lease still active after the programs" || fail "attached lease is '$state'"
    # two programs attached to the lease at once, on its one GPU: each its own job session
    "$LEPTON" exec --lease "$id" -- "$SAMPLES/samples_streams_events" "$PTX" >"$WORK/same_a.out" 2>"$WORK/same_a.err" &
    local sa=$!
    "$LEPTON" exec --lease "$id" -- "$SAMPLES/samples_pointers_globals" "$PTX" >"$WORK/same_b.out" 2>"$WORK/same_b.err" &
    local sb=$!
    BG+=("$sa" "$sb")
    wait "$sa"; local rsa=$?
    wait "$sb"; local rsb=$?
    if [ "$rsa" -eq 0 ] && [ "$rsb" -eq 0 ] && grep -q PASS "$WORK/same_a.out" && grep -q PASS "$WORK/same_b.out"; then
      ok "two programs at once on one lease's GPU"
    else
      fail "two programs at once on one lease: exits $rsa/$rsb"; show "$WORK/same_a"; show "$WORK/same_b"
    fi
    # the environment variables alone, without lepton exec
    if [ -n "${REMOTE_DIR:-}" ]; then
      LEPTON_REMOTE_LEASE="$id" LD_LIBRARY_PATH="$REMOTE_DIR" timeout 120 "$SAMPLES/samples_matrix_mul" "$PTX" \
        >"$WORK/envonly.out" 2>"$WORK/envonly.err" && grep -q PASS "$WORK/envonly.out" \
        && ok "LEPTON_REMOTE_LEASE + LD_LIBRARY_PATH without lepton exec: matrix_mul" \
        || { fail "environment-only attach"; show "$WORK/envonly"; }
    fi
    "$LEPTON" lease close "$id" >/dev/null 2>&1 || fail "lease close $id"
  fi

  # two programs on two leases at once (one GPU each), isolated
  [ "$NGPUS" -ge 2 ] || return 0
  "$LEPTON" exec -- "$SAMPLES/samples_streams_events" "$PTX" >"$WORK/two_a.out" 2>"$WORK/two_a.err" &
  local pa=$!
  "$LEPTON" exec -- "$SAMPLES/samples_matrix_mul" "$PTX" >"$WORK/two_b.out" 2>"$WORK/two_b.err" &
  local pb=$!
  BG+=("$pa" "$pb")
  wait "$pa"; local ra=$?
  wait "$pb"; local rb=$?
  local ia ib
  ia="$(exec_lease_id "$WORK/two_a.err")" ib="$(exec_lease_id "$WORK/two_b.err")"
  if [ "$ra" -eq 0 ] && [ "$rb" -eq 0 ] && grep -q PASS "$WORK/two_a.out" && grep -q PASS "$WORK/two_b.out" \
     && [ -n "$ia" ] && [ -n "$ib" ] && [ "$ia" != "$ib" ]; then
    ok "two programs at once on two leases ($ia, $ib)"
  else
    fail "two programs at once: exits $ra/$rb, leases '$ia'/'$ib'"; show "$WORK/two_a"; show "$WORK/two_b"
  fi
}

# the pid of the program lepton exec (pid $1) runs
child_of() { pgrep -P "$1" | head -1; }

section_faults() {
  # 1. the program killed with SIGKILL mid-run: exec exits 137 and closes the lease at once
  "$LEPTON" exec -- "$LOOP" "$EMPTY" launch_sync 100000000 1 >"$WORK/k1.out" 2>"$WORK/k1.err" &
  local ex=$!
  BG+=("$ex")
  if wait_for "$WORK/k1.err" "remote_loop: running" 60; then
    sleep 0.5
    local prog
    prog="$(child_of "$ex")"
    kill -9 "$prog"
    wait "$ex"; local rc=$?
    [ "$rc" -eq 137 ] && ok "program killed with SIGKILL: exec exits 137" || fail "program killed: exec exit $rc"
    local id
    id="$(exec_lease_id "$WORK/k1.err")"
    [ -n "$id" ] && [ "$(lease_state "$id")" = "closed" ] && ok "its lease $id closed, cost printed" \
      || { fail "after the kill: lease '$id' state '$(lease_state "$id")'"; show "$WORK/k1"; }
  else
    fail "the loop did not start"; show "$WORK/k1"
  fi

  # 2. lepton exec and the program killed together (the whole process group, as a crashing shell
  #    would): nobody closes the lease; it ends by its keepalive (2 s here), not by its TTL
  "$LEPTON" lease list --json >/dev/null 2>&1
  setsid "$LEPTON" exec --keepalive 2 --ttl 3600 -- "$LOOP" "$EMPTY" launch_sync 100000000 1 >"$WORK/k2.out" 2>"$WORK/k2.err" &
  ex=$!
  BG+=("$ex")
  if wait_for "$WORK/k2.err" "remote_loop: running" 60; then
    local id
    id="$("$LEPTON" lease list --json 2>/dev/null | python3 -c "
import json,sys
d=json.load(sys.stdin); d=d.get('leases', d) if isinstance(d, dict) else d
act=[l['id'] for l in d if l.get('state')=='active']
print(act[-1] if act else '')")"
    kill -9 -- "-$ex"
    wait "$ex" 2>/dev/null
    local state="" t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 20 ]; do
      state="$(lease_state "$id")"
      [ "$state" = "active" ] || break
      sleep 0.5
    done
    [ -n "$id" ] && [ "$state" = "expired" ] && ok "exec + program killed: lease $id expired by its keepalive in $((SECONDS - t0)) s" \
      || fail "exec killed: lease '$id' is '$state' after $((SECONDS - t0)) s"
  else
    fail "the loop did not start (2)"; show "$WORK/k2"
  fi

  # 3. the lease's worker killed mid-run: the program gets a CUDA error at its next call, not a hang
  "$LEPTON" exec -- "$LOOP" "$EMPTY" launch_sync 100000000 1 >"$WORK/k3.out" 2>"$WORK/k3.err" &
  ex=$!
  BG+=("$ex")
  if wait_for "$WORK/k3.err" "remote_loop: running" 60; then
    sleep 0.5
    local w
    w="$(pgrep -P "$DEV_PID" -f "lepton-worker" | head -1)"   # this lepton dev's worker, not another test's
    [ -n "$w" ] || fail "no worker process found"
    kill -9 "$w"
    local t0=$SECONDS
    while kill -0 "$ex" 2>/dev/null && [ $((SECONDS - t0)) -lt 60 ]; do sleep 0.2; done
    if kill -0 "$ex" 2>/dev/null; then
      fail "the program still runs 60 s after its worker was killed (a hang)"; kill -9 "$ex"
    else
      wait "$ex"; local rc=$?
      if [ "$rc" -eq 3 ] && grep -q "CUDA_ERROR_" "$WORK/k3.err"; then
        ok "worker killed: the program got $(grep -o 'CUDA_ERROR_[A-Z_]*' "$WORK/k3.err" | head -1) in $((SECONDS - t0)) s"
      elif [ "$rc" -eq 0 ]; then
        fail "worker killed: the program finished as if nothing happened"
      else
        fail "worker killed: exit $rc"; show "$WORK/k3"
      fi
    fi
  else
    fail "the loop did not start (3)"; show "$WORK/k3"
  fi

  # 4. the worker killed while the program holds its context between two synchronisations: a fresh
  #    worker would run the next job on a context whose memory is gone; the driver sees another
  #    worker instance and fails the synchronisation instead of carrying on
  mkfifo "$WORK/k4.in"
  "$LEPTON" exec -- "$LOOP" "$EMPTY" pause 1 1 <"$WORK/k4.in" >"$WORK/k4.out" 2>"$WORK/k4.err" &
  ex=$!
  BG+=("$ex")
  exec 7>"$WORK/k4.in"
  if wait_for "$WORK/k4.err" "remote_loop: paused" 60; then
    local w t0
    w="$(pgrep -P "$DEV_PID" -f "lepton-worker" | head -1)"
    kill -9 "$w"
    t0=$SECONDS # the agent starts a fresh worker for the GPU at once; give it a moment
    while [ $((SECONDS - t0)) -lt 10 ] && ! pgrep -P "$DEV_PID" -f "lepton-worker" >/dev/null; do sleep 0.1; done
    sleep 1
    echo go >&7
    exec 7>&-
    t0=$SECONDS
    while kill -0 "$ex" 2>/dev/null && [ $((SECONDS - t0)) -lt 60 ]; do sleep 0.2; done
    if kill -0 "$ex" 2>/dev/null; then
      fail "replaced worker: the program hangs"; kill -9 "$ex"
    else
      wait "$ex"; local rc=$?
      if [ "$rc" -eq 3 ] && grep -q "CUDA_ERROR_LAUNCH_FAILED\|CUDA_ERROR_DEVICE_UNAVAILABLE" "$WORK/k4.err"; then
        ok "worker replaced between synchronisations: $(grep -o 'CUDA_ERROR_[A-Z_]*' "$WORK/k4.err" | head -1), not a silent carry-on"
      else
        fail "replaced worker: exit $rc"; show "$WORK/k4"
      fi
    fi
  else
    exec 7>&-
    fail "the pausing program did not start"; show "$WORK/k4"
  fi
}

section_python() {
  if [ -z "${LEPTON_PYTHON_CUDA:-}" ] && [ -x "${PYTHON_CUDA_DEFAULT:-}" ]; then LEPTON_PYTHON_CUDA="$PYTHON_CUDA_DEFAULT"; fi
  if [ -z "${LEPTON_PYTHON_CUDA:-}" ]; then
    echo "skipped: no python with NVIDIA's packages (LEPTON_PYTHON_CUDA, or the venv of scripts/test-python-cuda.sh)"
    exit 77
  fi
  export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
  local s
  # numba links @cuda.jit kernels on the client; Lepton's nvJitLink (JITLINK_DIR) makes PTX, which the
  # cudaemu behind the worker runs (the toolkit's makes SASS for a real GPU)
  [ -n "${JITLINK_DIR:-}" ] && export LD_LIBRARY_PATH="$JITLINK_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  for s in remote_bindings remote_core remote_numba; do
    if run_exec "$s" 0 -- "$LEPTON_PYTHON_CUDA" "$HERE/$s.py" "$PTX"; then
      grep -q PASS "$WORK/$s.out" && ok "$s.py through lepton exec: $(grep PASS "$WORK/$s.out" | tail -1)" \
        || { fail "$s.py: no PASS"; show "$WORK/$s"; }
    fi
  done

  # CuPy (its own static cudart, through the remote driver's export tables): NVRTC from the toolkit
  # (CUDA_PATH), a kernel cache of its own; CUPY_COMPILE_WITH_PTX is left to lepton exec, which sets
  # it on the emulated GPUs (they run PTX only) and not on real ones
  if ! "$LEPTON_PYTHON_CUDA" -c "import cupy" 2>/dev/null; then
    fail "remote_cupy.py: no cupy in $LEPTON_PYTHON_CUDA (tests/python_cuda/requirements.txt lists it)"
    return
  fi
  mkdir -p "$WORK/cupy-cache"
  unset CUPY_COMPILE_WITH_PTX
  if run_exec remote_cupy 0 -- env CUDA_PATH="${CUDA_PATH:-$CUDA_HOME}" \
       CUPY_CACHE_DIR="$WORK/cupy-cache" "$LEPTON_PYTHON_CUDA" "$HERE/remote_cupy.py"; then
    grep -q PASS "$WORK/remote_cupy.out" && ok "remote_cupy.py through lepton exec: $(grep PASS "$WORK/remote_cupy.out" | tail -1)" \
      || { fail "remote_cupy.py: no PASS"; show "$WORK/remote_cupy"; }
  fi
  local want=1
  [ "${DEV_ARGS[*]}" = "--emulate 2" ] || want=""
  grep -qx "remote_cupy: CUPY_COMPILE_WITH_PTX=$want" "$WORK/remote_cupy.out" \
    && ok "lepton exec set CUPY_COMPILE_WITH_PTX='$want' for $([ -n "$want" ] && echo emulated || echo real) GPUs" \
    || { fail "CUPY_COMPILE_WITH_PTX: expected '$want'"; show "$WORK/remote_cupy"; }
  # a value of the user's own is kept
  if CUPY_COMPILE_WITH_PTX=0 run_exec remote_cupy_user 0 -- "$LEPTON_PYTHON_CUDA" -c \
       "import os; print('CUPY_COMPILE_WITH_PTX=' + os.environ['CUPY_COMPILE_WITH_PTX'])"; then
    grep -qx "CUPY_COMPILE_WITH_PTX=0" "$WORK/remote_cupy_user.out" && ok "a CUPY_COMPILE_WITH_PTX of the user's own is kept" \
      || { fail "CUPY_COMPILE_WITH_PTX=0 was not kept"; show "$WORK/remote_cupy_user"; }
  fi
}

# round_trips FILE: the round trips LEPTON_REMOTE_STATS=1 printed on stderr at exit
round_trips() { sed -n 's/^lepton-remote: round trips \([0-9]*\),.*/\1/p' "$1" | tail -1; }

section_printf() {
  local want printed silent
  want="$(for b in 0 1 2; do for t in 0 1 2 3; do echo "hello from block $b thread $t (launch 1)"; done; done
          for b in 0 1; do for t in 0 1 2; do echo "hello from block $b thread $t (launch 2)"; done; done)"
  run_exec printf_print 0 --ttl 600 -- env ${RUNTIME_PRELOAD:-} LEPTON_REMOTE_STATS=1 "$RUNTIME_DIR/rt_hello_printf" --print || return
  run_exec printf_silent 0 --ttl 600 -- env ${RUNTIME_PRELOAD:-} LEPTON_REMOTE_STATS=1 "$RUNTIME_DIR/rt_hello_printf" --silent || return
  if [ "$(grep '^hello from' "$WORK/printf_print.out" | sort)" = "$(echo "$want" | sort)" ]; then
    ok "device printf: the 18 lines of 2 launches on exec's stdout"
  else
    fail "device printf: exec's stdout does not hold the kernels' 18 lines"; show "$WORK/printf_print"
  fi
  # launch 1's lines all come before launch 2's (each launch's output is printed at its sync)
  if grep '^hello from' "$WORK/printf_print.out" | awk '/launch 2/ {two=1} /launch 1/ && two {bad=1} END {exit bad}'; then
    ok "device printf: each synchronising call printed its launch's lines, in order"
  else
    fail "device printf: launch 1's lines are not all before launch 2's"; show "$WORK/printf_print"
  fi
  grep -q '^hello from' "$WORK/printf_silent.out" && fail "device printf: --silent printed kernel lines"
  # a device assertion: the lines printed before it on stdout, the driver's message on stderr
  # (fetched from the worker while it lingers after the sticky error)
  if run_exec printf_assert 0 --ttl 600 -- env ${RUNTIME_PRELOAD:-} "$RUNTIME_DIR/rt_hello_printf" --assert; then
    if grep -q '^block 0 before the assert$' "$WORK/printf_assert.out" && grep -q '^block 1 before the assert$' "$WORK/printf_assert.out" \
       && grep -q 'block: \[1,0,0\], thread: \[0,0,0\] Assertion `blockIdx.x != 1 || threadIdx.x != 0 || limit < 0` failed.' "$WORK/printf_assert.err"; then
      ok "device assert: the kernel's lines on exec's stdout, the assertion message on its stderr"
    else
      fail "device assert: lines or assertion message missing"; show "$WORK/printf_assert"
    fi
  fi
  printed="$(round_trips "$WORK/printf_print.err")" silent="$(round_trips "$WORK/printf_silent.err")"
  if [ -n "$printed" ] && [ -n "$silent" ] && [ "$printed" -eq $((silent + 2)) ]; then
    ok "device printf: $printed round trips printing, $silent without (one fetch per printing sync, none otherwise)"
  else
    fail "device printf: round trips '$printed' printing and '$silent' silent; expected a difference of 2"
    show "$WORK/printf_print"; show "$WORK/printf_silent"
  fi
}

section_runtime() {
  local entry bin args id
  if [ -z "${RUNTIME_DIR:-}" ] || [ -z "${RUNTIME_PROGRAMS:-}" ]; then
    echo "skipped: no runtime-API programs were built (RUNTIME_DIR, RUNTIME_PROGRAMS)"
    exit 77
  fi
  IFS=',' read -r -a entries <<<"$RUNTIME_PROGRAMS"
  for entry in "${entries[@]}"; do
    bin="${entry%%|*}" args="${entry#*|}"
    [ -x "$RUNTIME_DIR/$bin" ] || { fail "$bin: not built in $RUNTIME_DIR"; continue; }
    # shellcheck disable=SC2086
    run_exec "$bin" 0 --ttl 600 -- env ${RUNTIME_PRELOAD:-} RT_EXPECT_DEVICES=1 "$RUNTIME_DIR/$bin" $args || continue
    grep -q "PASS" "$WORK/$bin.out" && ok "$bin through lepton exec: $(grep PASS "$WORK/$bin.out" | tail -1)" \
      || { fail "$bin: no PASS line"; show "$WORK/$bin"; continue; }
    id="$(exec_lease_id "$WORK/$bin.err")"
    [ -n "$id" ] && [ "$(lease_state "$id")" = "closed" ] && ok "$bin: lease $id closed" \
      || { fail "$bin: the lease was not closed ('$id')"; show "$WORK/$bin"; }
  done
  # the runtime sees every leased GPU; work on both, and cudaMemcpyPeer between them
  if [ "$NGPUS" -ge 2 ] && run_exec rt_two 0 --gpus 2 -- env ${RUNTIME_PRELOAD:-} RT_EXPECT_DEVICES=2 "$RUNTIME_DIR/rt_multi_gpu"; then
    grep -q "multi_gpu: 2 device(s), 1 peer copies" "$WORK/rt_two.out" && grep -q PASS "$WORK/rt_two.out" \
      && ok "multi_gpu with --gpus 2: $(grep 'multi_gpu: 2' "$WORK/rt_two.out")" || { fail "rt_two: no PASS on 2 devices"; show "$WORK/rt_two"; }
  fi
  # two GPUs whose workers hand out the same addresses (CUDAEMU_DEVICE_WINDOWS=0 makes the CPU driver
  # do what separate GPU processes may): the remote driver must still tell their memory apart
  if [ "$NGPUS" -ge 2 ] && [ "${DEV_ARGS[*]}" = "--emulate 2" ]; then
    dev_stop
    CUDAEMU_DEVICE_WINDOWS=0 dev_start "${DEV_ARGS[@]}"
    export LEPTON_TOKEN="$TOKEN"
    if run_exec rt_collide 0 --gpus 2 -- env ${RUNTIME_PRELOAD:-} LEPTON_LOG_LEVEL=debug RT_EXPECT_DEVICES=2 "$RUNTIME_DIR/rt_multi_gpu"; then
      grep -q PASS "$WORK/rt_collide.out" && grep -q "allocating again" "$WORK/rt_collide.err" \
        && ok "multi_gpu with colliding worker addresses: $(grep -c 'allocating again' "$WORK/rt_collide.err") allocation(s) moved, results right" \
        || { fail "rt_collide: no PASS, or no collision seen"; show "$WORK/rt_collide"; }
    fi
  fi
  # device printf: the kernels' lines reach exec's stdout (rt_hello_printf checks itself above; here
  # the lines are compared from outside), and a job that printed nothing costs no request: the same
  # calls with kernels that print nothing make exactly 2 round trips fewer (one GET /v1/output per
  # synchronising call that printed)
  if [ -x "$RUNTIME_DIR/rt_hello_printf" ]; then
    section_printf
  fi
  # a fault reaches the program as the runtime's error, and exec passes its exit status on
  grep -q "bad store: cudaErrorIllegalAddress\|bad store: cudaErrorLaunchFailure" "$WORK/rt_device_errors.out" 2>/dev/null \
    && ok "device_errors: the illegal address came back as $(sed -n 's/^bad store: \([^,]*\),.*/\1/p' "$WORK/rt_device_errors.out")" \
    || fail "device_errors: no illegal-address report through exec"
}

dev_start "${DEV_ARGS[@]}"
export LEPTON_TOKEN="$TOKEN"
case "$SECTION" in
  programs) section_programs ;;
  faults) section_faults ;;
  python) section_python ;;
  runtime) section_runtime ;;
  *) die "unknown section $SECTION" ;;
esac
echo "$SECTION: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
