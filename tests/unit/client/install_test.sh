#!/bin/sh
# install_test.sh BUILD_DIR C_COMPILER CMAKE — installs liblepton (component "lepton") into a
# temporary prefix and builds a small program against it three ways: find_package(Lepton) with
# Lepton::lepton, find_package(Lepton COMPONENTS static) with Lepton::lepton_static, and
# `cc app.c $(pkg-config --cflags --libs lepton)`; each program runs and checks the version.
set -eu
build=$1
cc=$2
cmake=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/lepton-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" --component lepton >/dev/null

cat >"$work/app.c" <<'APP'
#include <lepton/lepton.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    lepton_client *c = NULL;
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = "http://127.0.0.1:1";
    if (lepton_client_open(&c, &o) != LEPTON_OK) { fprintf(stderr, "%s\n", lepton_last_error()); return 1; }
    lepton_client_close(c);
    if (strcmp(lepton_version(), LEPTON_VERSION_STRING)) return 1;
    printf("lepton %s\n", lepton_version());
    return 0;
}
APP

# 1. CMake package, shared and static.
mkdir -p "$work/proj"
cp "$work/app.c" "$work/proj/app.c"
cat >"$work/proj/CMakeLists.txt" <<'PROJ'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(Lepton 1.0 REQUIRED COMPONENTS static)
add_executable(app_shared app.c)
target_link_libraries(app_shared PRIVATE Lepton::lepton)
add_executable(app_static app.c)
target_link_libraries(app_static PRIVATE Lepton::lepton_static)
PROJ
"$cmake" -S "$work/proj" -B "$work/proj/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >/dev/null
"$cmake" --build "$work/proj/build" >/dev/null
"$work/proj/build/app_shared"
"$work/proj/build/app_static"
if readelf -d "$work/proj/build/app_static" | grep -q 'liblepton'; then
    echo "app_static depends on liblepton.so" >&2; exit 1
fi
readelf -d "$work/proj/build/app_shared" | grep -q 'NEEDED.*\[liblepton.so.1\]' || {
    echo "app_shared does not need liblepton.so.1" >&2; exit 1; }

# 2. pkg-config.
export PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name lepton.pc)")"
# shellcheck disable=SC2046
"$cc" -o "$work/app_pc" "$work/app.c" $(pkg-config --cflags --libs lepton)
LD_LIBRARY_PATH="$(pkg-config --variable=libdir lepton)" "$work/app_pc"
echo "ok: installed to a temporary prefix and built with find_package (shared, static) and pkg-config"
