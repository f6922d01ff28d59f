#!/usr/bin/env bash
# check-static.sh — cppcheck over src/ (warnings: real defects, not style). A finding fails; a false
# positive is suppressed inline where it is, with the reason (// cppcheck-suppress id ; why).
# jansson's iteration macros are unknown to cppcheck without its headers' configuration: not a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cppcheck >/dev/null || { echo "check-static: cppcheck not installed (Debian cppcheck)"; exit 2; }
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
cppcheck --quiet --enable=warning --inline-suppr --std=c11 --suppress=unknownMacro --error-exitcode=1 \
  -I include -I src/common -j"${JOBS:-2}" src/ 2>"$out" || { cat "$out"; echo "check-static: cppcheck found the above"; exit 1; }
[ -s "$out" ] && { cat "$out"; echo "check-static: cppcheck found the above"; exit 1; }
echo "check-static: cppcheck --enable=warning: no finding in src/"
