#!/usr/bin/env bash
# check-format.sh — every tracked C/C++/CUDA source and header under $FORMAT_DIRS (default: src
# bindings examples tests) is as clang-format (the committed .clang-format) writes it, except the
# generated api_stubs.c files (gen_stubs.py writes those) and the CUDA sources under tests/ (the
# committed PTX of tests/kernels is generated from them, line information included). The public header include/lepton/lepton.h is laid
# out by hand (aligned enum and field comments that tools and readers parse; clang-format would split
# them), and so is the frozen 1.0.0 header of tests/abi.
# Prints the files that differ and exits 1; with --fix, rewrites them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
CF="${CLANG_FORMAT:-clang-format}"
command -v "$CF" >/dev/null || { echo "check-format: $CF not installed (Debian clang-format)"; exit 2; }
read -r -a dirs <<<"${FORMAT_DIRS:-src bindings examples tests}"
mapfile -t files < <(git ls-files -- "${dirs[@]}" | grep -E '\.(c|h|cpp|cu)$' | grep -v '/api_stubs\.c$' |
  grep -v '^tests/abi/lepton-1\.0\.0/' | grep -v '^tests/.*\.cu$')
if [ "${1:-}" = "--fix" ]; then
  "$CF" -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$CF" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'not formatted (scripts/check-format.sh --fix):\n'; printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "check-format: ${#files[@]} files formatted as .clang-format says"
