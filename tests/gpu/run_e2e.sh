#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs Lepton's end-to-end suite (CTest label e2e: broker, leptond, lease workers, liblepton) against
# the system's real libcuda.so.1 instead of the CPU driver, then the kernel corpus on the GPU
# (tests/gpu/run_kernels.sh), the real-program tests (tests/gpu/run_programs.sh: tests/programs,
# lepton-difftest --gpu, tests/python_cuda) and `lepton-bench --gpu`. Builds first when needed. PTX is compiled for
# the GPU's own architecture with nvcc when there is one, else the committed PTX is used.
# Prints "skipped: no GPU" and exits 0 where there is no GPU.
#
# Environment: BUILD_DIR (CMake build directory; default build-gpu in the source tree, configured and
# built here when it lacks the programs), CUDA_HOME (default /usr/local/cuda), NVCC,
# LEPTON_CUDA_LIBRARY_DIR (a directory holding the libcuda.so.1 to use), BENCH_ARGS (extra
# arguments for lepton-bench, e.g. --quick), CTEST_ARGS (extra arguments for ctest, e.g. -R fault),
# and those of tests/gpu/run_programs.sh (DIFFTEST_ARGS, PYTHON_CUDA, PYTHON_CUDA_VENV), which
# reconfigures BUILD_DIR with -DLEPTON_TEST_DRIVER_DIR=system (its tests/programs then use the real driver).
set -eu

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "skipped: no GPU"
    exit 0
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}

echo "== GPU and driver"
nvidia-smi --query-gpu=index,name,driver_version,compute_cap,memory.total --format=csv
nvidia-smi -L
capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .' || true)
case "$capability" in
    [0-9][0-9] | [0-9][0-9][0-9]) arch="sm_$capability" ;;
    *) arch=sm_90 ;;
esac

echo "== build ($build)"
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 4)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# PTX for this GPU: compiled from tests/kernels/*.cu, or the committed sm_75 / sm_90 files.
nvcc=${NVCC:-$(command -v nvcc || { [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ] && echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"; } || true)}
if [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
    NVCC="$nvcc" "$root/tests/kernels/regen_ptx.sh" "$tmp/ptx" "$arch"
    export LEPTON_TEST_PTX_DIR="$tmp/ptx" LEPTON_TEST_PTX_ARCH="$arch"
else
    export LEPTON_TEST_PTX_DIR="$root/tests/kernels/ptx"
    case "$arch" in
        sm_[0-8]? | sm_[0-8]?a) LEPTON_TEST_PTX_ARCH=sm_75 ;;
        *) LEPTON_TEST_PTX_ARCH=sm_90 ;;
    esac
    export LEPTON_TEST_PTX_ARCH
    echo "no nvcc: using the committed PTX ($LEPTON_TEST_PTX_ARCH)"
fi

# The real driver, never the emulator.
unset CUDAEMU_DEVICES CUDAEMU_DEVICE_COUNT CUDAEMU_WATCHDOG_MS
if [ -n "${LEPTON_CUDA_LIBRARY_DIR:-}" ]; then
    LEPTON_TEST_CUDA_LIBRARY="$LEPTON_CUDA_LIBRARY_DIR/libcuda.so.1"
else
    LEPTON_TEST_CUDA_LIBRARY=libcuda.so.1
fi
export LEPTON_TEST_CUDA_LIBRARY
echo "driver: $LEPTON_TEST_CUDA_LIBRARY; PTX: $LEPTON_TEST_PTX_DIR/*.$LEPTON_TEST_PTX_ARCH.ptx"

status=0
echo "== end-to-end suite on the GPU"
# shellcheck disable=SC2086
ctest --test-dir "$build" -L e2e --output-on-failure ${CTEST_ARGS:-} || status=1

echo "== kernel corpus on the GPU"
BUILD_DIR="$build" sh "$root/tests/gpu/run_kernels.sh" || status=1

echo "== real-program tests on the GPU"
BUILD_DIR="$build" sh "$root/tests/gpu/run_programs.sh" || status=1

echo "== lepton-bench --gpu"
# shellcheck disable=SC2086
"$build/tests/bench/lepton-bench" --gpu ${BENCH_ARGS:-} || status=1

if [ $status -eq 0 ]; then echo "run_e2e.sh: all passed"; else echo "run_e2e.sh: FAILURES (see above)"; fi
exit $status
