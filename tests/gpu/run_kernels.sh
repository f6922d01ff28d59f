#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the kernel corpus and the driver-API tests against the system's real libcuda.so.1.
# PTX is compiled for the GPU's own architecture (from nvidia-smi; sm_90 if it cannot say) as
# well as sm_75 and sm_90; without nvcc the committed PTX (sm_75, sm_90) is used.
# Prints "skipped: no GPU" and exits 0 where there is no GPU.
#
# Environment: BUILD_DIR (a CMake build directory whose lepton_run_kernels / lepton_test_driver_api
# to use; by default both are compiled here with $CC against the toolkit's cuda.h), CUDA_HOME
# (default /usr/local/cuda), NVCC, LEPTON_CUDA_LIBRARY_DIR (a directory holding the libcuda.so.1 to
# use, e.g. a driver outside the loader path).
set -eu

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "skipped: no GPU"
    exit 0
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
info=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .' || true)
case "$capability" in
    [0-9][0-9] | [0-9][0-9][0-9]) arch="sm_$capability" ;;
    *) arch=sm_90 ;;
esac
echo "GPU: ${info:-unknown}; arch for the corpus: $arch"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
kdir="$root/tests/kernels"
if [ -n "${BUILD_DIR:-}" ]; then
    runner="$BUILD_DIR/tests/kernels/lepton_run_kernels"
    apitest="$BUILD_DIR/tests/kernels/lepton_test_driver_api"
    if [ ! -x "$runner" ] || [ ! -x "$apitest" ]; then
        echo "no corpus programs in $BUILD_DIR (build lepton_run_kernels and lepton_test_driver_api)"
        exit 1
    fi
else
    cuda=${CUDA_HOME:-/usr/local/cuda}
    [ -f "$cuda/include/cuda.h" ] || { echo "no $cuda/include/cuda.h: set CUDA_HOME or BUILD_DIR"; exit 1; }
    if [ -f "$cuda/lib64/stubs/libcuda.so" ]; then culib="$cuda/lib64/stubs/libcuda.so"; else culib="-l:libcuda.so.1"; fi
    cc=${CC:-cc}
    runner="$tmp/lepton_run_kernels"
    apitest="$tmp/lepton_test_driver_api"
    # shellcheck disable=SC2086
    "$cc" -std=c11 -O2 -D_GNU_SOURCE -I"$cuda/include" -o "$runner" "$kdir"/run_kernels.c "$kdir"/kcheck.c \
        "$kdir"/checks_*.c $culib -lpthread -lm
    # shellcheck disable=SC2086
    "$cc" -std=c11 -O2 -D_GNU_SOURCE -I"$cuda/include" -o "$apitest" "$kdir"/test_driver_api.c $culib -lpthread -lm
fi

nvcc=${NVCC:-$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)}
archs="sm_75 sm_90"
if [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
    case " $archs " in *" $arch "*) ;; *) archs="$archs $arch" ;; esac
    ptx="$tmp/ptx"
    # shellcheck disable=SC2086
    NVCC="$nvcc" "$root/tests/kernels/regen_ptx.sh" "$ptx" $archs
else
    echo "no nvcc: using the committed PTX (sm_75, sm_90)"
    ptx="$root/tests/kernels/ptx"
fi

# The real driver, never the emulator.
unset CUDAEMU_DEVICES CUDAEMU_DEVICE_COUNT CUDAEMU_WATCHDOG_MS
if [ -n "${LEPTON_CUDA_LIBRARY_DIR:-}" ]; then
    export LD_LIBRARY_PATH="$LEPTON_CUDA_LIBRARY_DIR"
else
    unset LD_LIBRARY_PATH
fi

status=0
arch_args=""
for a in $archs; do arch_args="$arch_args --arch $a"; done
# shellcheck disable=SC2086
"$runner" --gpu --ptx-dir "$ptx" $arch_args || status=1
"$apitest" --gpu "$ptx" || status=1
if [ $status -eq 0 ]; then echo "GPU corpus: all passed"; else echo "GPU corpus: FAILURES"; fi
exit $status
