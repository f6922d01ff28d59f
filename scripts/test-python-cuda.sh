#!/usr/bin/env bash
# Runs tests/python_cuda: programs written against NVIDIA's Python packages (cuda.bindings driver and
# runtime, cuda.core, numba-cuda) and CuPy (from PyPI, pinned in tests/python_cuda/requirements.txt,
# installed in a venv under the build directory; conftest.py sets CuPy's CUPY_COMPILE_WITH_PTX,
# CUDA_PATH and a fresh CUPY_CACHE_DIR for cudaemu) on cudaemu, the libcuda.so.1 of the build. Each
# test checks its results against numpy on the host. Prints pytest's summary line; fails on any
# failure or unexpected pass.
#
# nvJitLink: numba-cuda links @cuda.jit kernels through cuda.core's Linker, which uses nvJitLink when
# cuda-pathfinder can load it (the toolkit's makes SASS, which cudaemu cannot run). cuda-pathfinder
# takes, in order: a libnvJitLink.so.13 already loaded, NVIDIA wheels in site-packages (none in this
# venv), $CONDA_PREFIX, then the dynamic loader (LD_LIBRARY_PATH), then CUDA_PATH/CUDA_HOME; so
# <build>/cudaemu/jitlink (Lepton's libnvJitLink.so.13, linking PTX) goes first on LD_LIBRARY_PATH.
#
# Environment: LEPTON_BUILD_DIR (default ./build), PYTHON_CUDA_VENV (default
# $LEPTON_BUILD_DIR/python-cuda-venv), CUDA_HOME (default /usr/local/cuda: nvcc, NVRTC, libNVVM),
# PYTHON_CUDA_DRIVER (default cudaemu; "system": the system's libcuda.so.1, a GPU's driver, with
# only Lepton's nvJitLink put on LD_LIBRARY_PATH; conftest.py then skips the checks of cudaemu's own
# behaviour and the cudaemu-only strict xfails; tests/gpu/run_programs.sh uses it).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${LEPTON_BUILD_DIR:-$ROOT/build}"
EMU="$BUILD/cudaemu"
VENV="${PYTHON_CUDA_VENV:-$BUILD/python-cuda-venv}"
REQ="$ROOT/tests/python_cuda/requirements.txt"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
DRIVER="${PYTHON_CUDA_DRIVER:-cudaemu}"
case "$DRIVER" in
  cudaemu) [ -e "$EMU/libcuda.so.1" ] || { echo "test-python-cuda: build first ($EMU/libcuda.so.1 missing)"; exit 1; } ;;
  system) ;;
  *) echo "test-python-cuda: PYTHON_CUDA_DRIVER is cudaemu or system, not '$DRIVER'"; exit 1 ;;
esac
[ -e "$EMU/jitlink/libnvJitLink.so.13" ] || { echo "test-python-cuda: build lepton_nvjitlink first ($EMU/jitlink/libnvJitLink.so.13 missing)"; exit 1; }
[ -x "$CUDA_HOME/bin/nvcc" ] || { echo "test-python-cuda: no CUDA toolkit in $CUDA_HOME (nvcc, NVRTC, libNVVM needed)"; exit 1; }
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  echo "$WANT" >"$STAMP"
fi
export PYTHON_CUDA_DRIVER="$DRIVER" LEPTON_NVJITLINK_DIR="$EMU/jitlink"
if [ "$DRIVER" = system ]; then
  # the system's libcuda.so.1: nothing of cudaemu's on the path, only Lepton's nvJitLink
  unset CUDAEMU_DIR CUDAEMU_DEVICES CUDAEMU_DEVICE_COUNT CUDAEMU_WATCHDOG_MS
  export LD_LIBRARY_PATH="$EMU/jitlink${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  export LD_LIBRARY_PATH="$EMU/jitlink:$EMU${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CUDAEMU_DIR="$EMU" # conftest.py refuses to run when libcuda.so.1 is not this one
  export CUDAEMU_LOG=1      # a refusal prints the entry point or PTX line in the failing test's output
fi
cd "$ROOT"
timeout 300 "$VENV/bin/python" -m pytest -q -rfExX -p no:cacheprovider tests/python_cuda
