#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs the kernel corpus and the driver-API tests against the system's real libcuda.so.1.
# PTX is compiled for the GPU's own architecture (from nvidia-smi; sm_90 if it cannot say) as
# well as sm_75 and sm_90; without nvcc the committed PTX (sm_75, sm_90) is used.
# Prints "skipped: no GPU" and exits 0 where there is no GPU.
#
# Environment: BUILD_DIR (default: a temporary build), NVCC, LEPTON_CUDA_LIBRARY_DIR (a directory
# holding the libcuda.so.1 to use, e.g. for a driver outside the loader path).
set -eu

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "skipped: no GPU"
    exit 0
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
info=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .' || true)
case "$cc" in
    [0-9][0-9] | [0-9][0-9][0-9]) arch="sm_$cc" ;;
    *) arch=sm_90 ;;
esac
echo "GPU: ${info:-unknown}; arch for the corpus: $arch"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
build=${BUILD_DIR:-$tmp/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log"; exit 1; }
cmake --build "$build" --target lepton_run_kernels lepton_test_driver_api -j "$(nproc 2>/dev/null || echo 2)" \
    >"$tmp/build.log" 2>&1 || { tail -n 50 "$tmp/build.log"; exit 1; }
runner="$build/tests/kernels/lepton_run_kernels"
apitest="$build/tests/kernels/lepton_test_driver_api"

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
