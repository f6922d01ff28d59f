#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the real-program tests against the system's real libcuda.so.1 instead of cudaemu:
#   1. the C programs of tests/programs (`ctest -L programs`, driver API, NVRTC, libNVVM, nvJitLink),
#      from a build configured with -DLEPTON_TEST_DRIVER_DIR=system (their cudaemu-only checks are
#      left out at run time, see tests/programs/README.md);
#   2. the differential tester, `lepton-difftest --gpu --regress --seeds 1..300` (random PTX kernels
#      against the host reference: on a GPU this checks the generator and the reference);
#   3. the Python suite (tests/python_cuda: cuda.bindings, cuda.core, numba-cuda) through
#      scripts/test-python-cuda.sh with PYTHON_CUDA_DRIVER=system.
# Prints "skipped: no GPU" and exits 0 where there is no GPU; exits non-zero when any step fails.
#
# Environment: BUILD_DIR (CMake build directory; default build-gpu in the source tree, configured
# here with -DLEPTON_TEST_DRIVER_DIR=system and built), LEPTON_CUDA_LIBRARY_DIR (a directory holding
# the libcuda.so.1 to use instead of the system's: the build is configured with
# -DLEPTON_TEST_DRIVER_DIR=<it>), DIFFTEST_ARGS (default "--regress --seeds 1..300"), PYTHON_CUDA
# (0: leave out the Python suite, e.g. where its venv cannot be installed from PyPI),
# PYTHON_CUDA_VENV (passed on to scripts/test-python-cuda.sh).
set -eu

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "skipped: no GPU"
    exit 0
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}
info=$(nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader 2>/dev/null | head -n 1)
echo "GPU: ${info:-unknown}"

# The real driver, never the emulator.
unset CUDAEMU_DEVICES CUDAEMU_DEVICE_COUNT CUDAEMU_WATCHDOG_MS CUDAEMU_LOG CUDAEMU_DIR
if [ -n "${LEPTON_CUDA_LIBRARY_DIR:-}" ]; then
    driver="$LEPTON_CUDA_LIBRARY_DIR"
    export LD_LIBRARY_PATH="$LEPTON_CUDA_LIBRARY_DIR"
else
    driver=system
    unset LD_LIBRARY_PATH
fi

echo "== build ($build, LEPTON_TEST_DRIVER_DIR=$driver)"
if [ -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DLEPTON_TEST_DRIVER_DIR="$driver" >/dev/null
else
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEPTON_TEST_DRIVER_DIR="$driver"
fi
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 4)"

status=0
echo "== tests/programs on the GPU (ctest -L programs)"
ctest --test-dir "$build" -L programs --output-on-failure || status=1

echo "== lepton-difftest --gpu"
difftest="$build/tests/difftest/lepton-difftest"
if [ -x "$difftest" ]; then
    # shellcheck disable=SC2086
    "$difftest" --gpu ${DIFFTEST_ARGS:---regress --seeds 1..300} || status=1
else
    echo "no $difftest (no CUDA toolkit stub at configure time?)"
    status=1
fi

if [ "${PYTHON_CUDA:-1}" = 0 ]; then
    echo "== tests/python_cuda: left out (PYTHON_CUDA=0)"
else
    echo "== tests/python_cuda on the GPU (PYTHON_CUDA_DRIVER=system)"
    LEPTON_BUILD_DIR="$build" PYTHON_CUDA_DRIVER=system bash "$root/scripts/test-python-cuda.sh" || status=1
fi

if [ $status -eq 0 ]; then echo "run_programs.sh: all passed"; else echo "run_programs.sh: FAILURES (see above)"; fi
exit $status
