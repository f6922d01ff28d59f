#!/usr/bin/env bash
# Installs what building and testing Lepton needs on Debian 12 / Ubuntu 22.04+ (all from the
# distribution's packages). Safe to run again. Uses sudo when not root.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
PKGS=(build-essential cmake pkg-config curl ca-certificates openssl python3 python3-pip python3-venv abigail-tools
      libcurl4-openssl-dev libjansson-dev libgnutls28-dev libsqlite3-dev libpq-dev
      postgresql) # the server only for the tests of the PostgreSQL store (a throwaway cluster each)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: everything is already installed"
fi

# The Python bindings' tests run with pytest under the python3 found on PATH (which may not be the
# distribution's): install it there when it is missing.
if ! python3 -c 'import pytest' >/dev/null 2>&1; then
  echo "install-deps: installing pytest for $(command -v python3)"
  python3 -m pip install --quiet pytest 2>/dev/null || \
    python3 -m pip install --quiet --break-system-packages pytest 2>/dev/null || \
    $SUDO apt-get install -y -qq --no-install-recommends python3-pytest
fi
