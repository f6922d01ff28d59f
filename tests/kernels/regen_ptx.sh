#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Regenerates the committed PTX of the kernel corpus: ptx/<name>.sm_75.ptx and ptx/<name>.sm_90.ptx
# from every <name>.cu here. Usage: regen_ptx.sh [OUTDIR] [ARCH...]  (defaults: ./ptx, sm_75 sm_90)
# NVCC selects the compiler (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/ptx}
[ $# -gt 0 ] && shift
archs=${*:-sm_75 sm_90}
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$nvcc" ] || { echo "regen_ptx.sh: nvcc not found (set NVCC)" >&2; exit 1; }
mkdir -p "$out"
count=0
for cu in "$here"/*.cu; do
    name=$(basename "$cu" .cu)
    for arch in $archs; do
        "$nvcc" -ptx -O3 -arch="$arch" -o "$out/$name.$arch.ptx" "$cu"
        count=$((count + 1))
    done
done
echo "regen_ptx.sh: wrote $count files to $out"
