#!/usr/bin/env bash
# check-abi.sh — is the liblepton.so.1 just built still compatible with release 1.0.0?
#
#   scripts/check-abi.sh [BUILD_DIR]        (default: build)
#
# Two checks against the baseline committed at release time (tests/abi/):
#  1. abidiff (Debian abigail-tools) of the built library against tests/abi/liblepton-1.0.0.abi:
#     a removed or incompatibly changed function or type fails; additions are reported and pass.
#  2. the version nodes (objdump -T): every 1.0.0 symbol is still exported under LEPTON_1, and every
#     symbol added since is exported under a later node (LEPTON_1.1, ...), never under LEPTON_1 —
#     so a program linked against a newer library fails to load on 1.0.0 with a clear message
#     instead of failing at the call.
# How to refresh the baseline at a new release is in tests/abi/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
LIB="$BUILD/src/client/liblepton.so.1"
BASE=tests/abi/liblepton-1.0.0.abi
SYMS=tests/abi/liblepton-1.0.0.symbols

[ -e "$LIB" ] || { echo "check-abi: $LIB not found (build first)" >&2; exit 2; }
if ! command -v abidiff >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends abigail-tools >/dev/null
fi

fail=0
set +e
abidiff --headers-dir2 include/lepton "$BASE" "$LIB" >"$BUILD/abidiff.txt" 2>&1
rc=$?
set -e
cat "$BUILD/abidiff.txt"
# abidiff's exit status is a bit field: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
if [ $((rc & 3)) -ne 0 ]; then
  echo "check-abi: abidiff could not compare (exit $rc)" >&2
  fail=1
elif [ $((rc & 8)) -ne 0 ]; then
  echo "check-abi: INCOMPATIBLE with 1.0.0 (a symbol was removed or changed): see above" >&2
  fail=1
fi

exports="$(objdump -T "$LIB" | awk '$NF ~ /^lepton_/ { print $(NF-1), $NF }')"
while read -r sym; do
  if ! grep -qx "LEPTON_1 $sym" <<<"$exports"; then
    echo "check-abi: 1.0.0 symbol $sym is no longer exported under LEPTON_1" >&2
    fail=1
  fi
done <"$SYMS"
while read -r node sym; do
  if [ "$node" = "LEPTON_1" ] && ! grep -qx "$sym" "$SYMS"; then
    echo "check-abi: $sym was added after 1.0.0 but is exported under LEPTON_1;" \
         "list it in a later node (LEPTON_1.1) of src/client/lepton.map" >&2
    fail=1
  fi
done <<<"$exports"

added=$(awk '$1 != "LEPTON_1"' <<<"$exports" | wc -l)
if [ $fail -eq 0 ]; then
  echo "check-abi: compatible with liblepton 1.0.0 ($(wc -l <"$SYMS") symbols kept, $added added under later nodes)"
fi
exit $fail
