#!/usr/bin/env bash
# Installs what Lepton needs on Debian 12 / Ubuntu 22.04+, from the distribution's packages. Safe to
# run again; uses sudo when not root. Prints one line per step; apt's own output goes to a log that
# is shown only when apt fails.
#
#   scripts/install-deps.sh          what building Lepton and running it needs (the README's first
#                                    command, scripts/quickstart.sh)
#   scripts/install-deps.sh --test   that, and what only the test suite needs (the README's second
#                                    command, CI): a PostgreSQL server (the tests of the PostgreSQL
#                                    store start a throwaway cluster each; without a server they are
#                                    reported skipped), openssl (TLS tests), abigail-tools (ABI check),
#                                    iproute2 (`ss -K`), python3-venv, and pytest in a virtual
#                                    environment, $LEPTON_BUILD_DIR/test-venv (default build/test-venv),
#                                    which the `python` tests use; promtool (Debian `prometheus`: every
#                                    /metrics is checked with it) and a headless Chromium (the broker
#                                    page's test), both optional: without them those tests are reported
#                                    skipped. Nothing is pip-installed into the system's Python.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TEST=0
case "${1:-}" in
  "") ;;
  --test) TEST=1 ;;
  -h | --help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "install-deps: unknown option '$1' (scripts/install-deps.sh [--test])" >&2; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# Building: the compiler, CMake, pkg-config, python3 (CMake's configure step and the build's
# generators), and the libraries liblepton, the broker and the agent link.
PKGS=(build-essential cmake pkg-config python3
      libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev libsqlite3-dev libpq-dev)
if [ "$TEST" = 1 ]; then
  PKGS+=(postgresql openssl ca-certificates abigail-tools iproute2 python3-venv)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]} (apt-get)"
  LOG="$(mktemp "${TMPDIR:-/tmp}/lepton-install-deps.XXXXXX")"
  if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
      >"$LOG" 2>&1; then
    echo "install-deps: apt-get failed; its last lines:" >&2
    tail -n 30 "$LOG" >&2
    rm -f "$LOG"
    exit 1
  fi
  rm -f "$LOG"
else
  what="build"
  [ "$TEST" = 0 ] || what="build and test"
  echo "install-deps: the $what dependencies are already installed"
fi

# Optional test tools: each installed on its own, so that a distribution without one (Ubuntu ships
# Chromium as a snap) still gets the rest; the tests that need it are then reported skipped.
if [ "$TEST" = 1 ]; then
  for p in prometheus chromium-headless-shell; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
    echo "install-deps: installing $p (optional, for the tests)"
    if ! $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1; then
      echo "install-deps: $p is not available here; the tests that need it will be reported skipped"
    elif [ "$p" = prometheus ]; then # we want promtool, not a Prometheus server running
      $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
  done
fi

# The Python test tools, in a virtual environment under the build directory (like the other venvs
# of the test scripts), never in the system's Python.
if [ "$TEST" = 1 ]; then
  VENV="${LEPTON_BUILD_DIR:-$ROOT/build}/test-venv"
  if "$VENV/bin/python" -c 'import pytest' >/dev/null 2>&1; then
    echo "install-deps: pytest is in $VENV"
  else
    echo "install-deps: installing pytest into $VENV (pip, a venv the python tests use)"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check pytest
  fi
fi
