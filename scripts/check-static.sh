#!/usr/bin/env bash
# check-static.sh — static analysis of src/: cppcheck (warnings: real defects, not style) and
# clang-tidy (the checks .clang-tidy names, over the build's compile_commands.json). A finding fails.
# A false positive is silenced where it is, with the reason (cppcheck: `// cppcheck-suppress id ; why`,
# clang-tidy: `// NOLINT(check): why`).
# jansson's iteration macros are unknown to cppcheck without its headers' configuration: not a finding.
# Environment: JOBS (parallel runs, default 2), LEPTON_BUILD_DIR (default ./build: configured, with
# compile_commands.json; CMAKE_EXPORT_COMPILE_COMMANDS is on), CHECK_STATIC_ONLY=cppcheck|clang-tidy.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${LEPTON_BUILD_DIR:-build}"
ONLY="${CHECK_STATIC_ONLY:-}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

if [ "$ONLY" != clang-tidy ]; then
  command -v cppcheck >/dev/null || { echo "check-static: cppcheck not installed (Debian cppcheck)"; exit 2; }
  cppcheck --quiet --enable=warning --inline-suppr --std=c11 --suppress=unknownMacro --error-exitcode=1 \
    -I include -I src/common -j"${JOBS:-2}" src/ 2>"$out" || { cat "$out"; echo "check-static: cppcheck found the above"; exit 1; }
  [ -s "$out" ] && { cat "$out"; echo "check-static: cppcheck found the above"; exit 1; }
  echo "check-static: cppcheck --enable=warning: no finding in src/"
fi

if [ "$ONLY" != cppcheck ]; then
  command -v clang-tidy >/dev/null || { echo "check-static: clang-tidy not installed (Debian clang-tidy)"; exit 2; }
  [ -f "$BUILD/compile_commands.json" ] || { echo "check-static: $BUILD/compile_commands.json missing (configure first)"; exit 2; }
  # every C source of src/ the build compiles (generated sources are left out)
  python3 -c "
import json, os, sys
root = os.path.realpath('src') + os.sep
seen = sorted({os.path.realpath(e['file']) for e in json.load(open(sys.argv[1]))})
print('\n'.join(f for f in seen if f.startswith(root) and f.endswith('.c')))" "$BUILD/compile_commands.json" >"$out.files"
  n="$(wc -l <"$out.files")"
  if ! xargs -a "$out.files" -P"${JOBS:-2}" -n4 clang-tidy -p "$BUILD" --quiet >"$out" 2>&1; then
    grep -E "(error|warning): " "$out" | sort -u
    echo "check-static: clang-tidy found the above (.clang-tidy; $n files)"
    rm -f "$out.files"
    exit 1
  fi
  rm -f "$out.files"
  echo "check-static: clang-tidy (.clang-tidy): no finding in $n files of src/"
fi
