#!/bin/sh
# The remote driver exports cu* only (liblepton's objects inside it stay hidden), and has the
# entry points a CUDA program resolves first.
set -e
lib="$1"
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^cu' | grep -v '^$' | grep -v '^CUDA_' || true)
if [ -n "$bad" ]; then
  echo "FAIL: $lib exports non-cu symbols:"; echo "$bad" | head -20; exit 1
fi
for s in cuInit cuDeviceGet cuCtxCreate_v4 cuMemAlloc_v2 cuLaunchKernel cuGetProcAddress_v2 cuModuleLoadData; do
  nm -D --defined-only "$lib" | awk '{print $3}' | grep -qx "$s" || { echo "FAIL: $lib lacks $s"; exit 1; }
done
echo "ok: $(nm -D --defined-only "$lib" | wc -l) symbols, all cu*"
