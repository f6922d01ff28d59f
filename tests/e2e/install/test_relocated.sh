#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_relocated.sh — an installation works where it lands: `cmake --install` into a temporary
# prefix, the prefix moved elsewhere (the build tree left as it is), then from the moved tree:
#   - no file names the prefix it was installed into; `lepton` finds liblepton.so.1 through its
#     relative RUNPATH ($ORIGIN/...) with LD_LIBRARY_PATH unset, and no RUNPATH names the build tree;
#   - `lepton dev` runs on the moved tree's own CPU driver and lepton-worker (the agent's log line
#     names them), not the build tree's, with LEPTON_CUDAEMU_LIBRARY and LEPTON_WORKER unset;
#   - lepton.pc (${pcfiledir}-relative) points pkg-config into the moved tree: examples/c/saxpy.c
#     built with `pkg-config --cflags --libs lepton` leases a GPU of that `lepton dev`, runs saxpy,
#     verifies it, and the moved `lepton usage` shows the lease and its cost;
#   - `lepton exec` from the moved tree hands PROGRAM the moved tree's remote driver directory.
# usage: test_relocated.sh BUILD_DIR CMAKE C_COMPILER SOURCE_DIR
set -u
BUILD="$1" CMAKE="$2" CC="$3" SRC="$4"
# shellcheck source=SCRIPTDIR/../lib/dev.sh
. "$(dirname "$0")/../lib/dev.sh"
dev_init lepton-relocated
# shellcheck disable=SC2034 # read by dev.sh
DEV_STOP_GRACE=10
unset LD_LIBRARY_PATH LEPTON_CUDAEMU_LIBRARY LEPTON_WORKER LEPTON_CUDA_LIBRARY LEPTON_REMOTE_LIBDIR PKG_CONFIG_PATH
BUILD_REAL="$(realpath "$BUILD")"

"$CMAKE" --install "$BUILD" --prefix "$WORK/first" >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log"; die "cmake --install $BUILD --prefix $WORK/first failed"; }
mv "$WORK/first" "$WORK/moved" || die "cannot move the installed tree"
P="$WORK/moved"
ok "installed into $WORK/first and moved to $P"

# ---------------------------------------------------------------- nothing names the first prefix
named="$(grep -rl -- "$WORK/first" "$P" 2>/dev/null)"
if [ -z "$named" ]; then ok "no installed file names the prefix it was installed into"
else fail "these installed files name the prefix they were installed into: $named"; fi

# ---------------------------------------------------------------- RUNPATH
for exe in "$P"/bin/*; do
  rp="$(readelf -d "$exe" 2>/dev/null | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')"
  case "$rp" in *"$BUILD_REAL"*|*"$BUILD"*) fail "$(basename "$exe") has the build tree in its RUNPATH: $rp" ;; esac
done
rp="$(readelf -d "$P/bin/lepton" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')"
# shellcheck disable=SC2016 # a literal $ORIGIN
case "$rp" in '$ORIGIN/'*) ok "lepton's RUNPATH is relative: $rp" ;; *) fail "lepton's RUNPATH is not \$ORIGIN-relative: '$rp'" ;; esac
resolved="$(ldd "$P/bin/lepton" | sed -n 's/.*liblepton\.so\.1 => \([^ ]*\).*/\1/p')"
if [ -n "$resolved" ] && [ "$(realpath "$resolved")" = "$(realpath "$P/lib"*/liblepton.so.1 2>/dev/null | head -1)" ]; then
  ok "lepton loads liblepton.so.1 from the moved tree ($resolved)"
else
  fail "lepton loads liblepton.so.1 from '${resolved:-nowhere}', not from $P"
fi
expect 0 "the moved lepton runs without LD_LIBRARY_PATH" -- "$P/bin/lepton" version

# ---------------------------------------------------------------- lepton dev on its own driver and worker
LEPTON="$P/bin/lepton"
dev_start --emulate 2
line="$(grep -m1 'leptond on' "$WORK/dev.err")"
want_cuda="$(realpath "$(find "$P" -path '*/lepton/libcuda.so.1' | head -1)")"
want_worker="$(realpath "$P/bin/lepton-worker")"
case "$line" in
  *"CUDA $want_cuda "*) ok "lepton dev uses the moved tree's CPU driver ($want_cuda)" ;;
  *) fail "lepton dev does not use $want_cuda: $line" ;;
esac
case "$line" in
  *"worker $want_worker,"*) ok "lepton dev uses the moved tree's lepton-worker" ;;
  *) fail "lepton dev does not use $want_worker: $line" ;;
esac
if grep -q -- "$BUILD_REAL" "$WORK/dev.out" "$WORK/dev.err"; then
  fail "lepton dev's output names the build tree:"; grep -h -- "$BUILD_REAL" "$WORK/dev.out" "$WORK/dev.err" | head -5
fi

# ---------------------------------------------------------------- pkg-config, an example, a lease
export PKG_CONFIG_PATH
PKG_CONFIG_PATH="$(dirname "$(find "$P" -name lepton.pc | head -1)")"
prefix="$(pkg-config --variable=prefix lepton)"
if [ "$(realpath "$prefix")" = "$(realpath "$P")" ]; then ok "pkg-config's prefix is the moved tree ($prefix)"
else fail "pkg-config's prefix is '$prefix', not $P"; fi
# shellcheck disable=SC2046 # pkg-config's flags are words
expect 0 "examples/c/saxpy.c builds with pkg-config against the moved tree" -- \
  "$CC" -std=c11 -Wall -Werror "$SRC/examples/c/saxpy.c" $(pkg-config --cflags --libs lepton) -lm -o "$WORK/saxpy"
libdir="$(pkg-config --variable=libdir lepton)"
expect 0 "saxpy leases a GPU of the moved lepton dev and verifies its result" -- \
  env LD_LIBRARY_PATH="$libdir" "$WORK/saxpy" "$SRC/examples/kernels/saxpy.ptx"
grep -q "verified (0 mismatches)" "$WORK/out" || fail "saxpy did not verify: $(cat "$WORK/out")"
expect 0 "the moved lepton usage --json" -- "$LEPTON" usage --json
pycheck "usage shows the saxpy lease and its cost" 'assert len(d["leases"]) == 1 and d["cost"] > 0, d'

# ---------------------------------------------------------------- lepton exec: its own remote driver
want_remote="$(realpath "$(dirname "$want_cuda")/remote")"
# shellcheck disable=SC2016 # expanded by the program's shell
expect 0 "the moved lepton exec runs a program" -- "$LEPTON" exec --gpus 1 -- sh -c 'echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"'
case "$(grep -m1 '^LD_LIBRARY_PATH=' "$WORK/out")" in
  "LD_LIBRARY_PATH=$want_remote"*) ok "lepton exec puts the moved tree's remote driver first ($want_remote)" ;;
  *) fail "lepton exec does not put $want_remote first: $(grep -m1 '^LD_LIBRARY_PATH=' "$WORK/out")" ;;
esac

dev_stop
[ "$FAILS" -eq 0 ] || { echo "$FAILS check(s) failed"; exit 1; }
echo "ok: the installed tree works where it was moved"
