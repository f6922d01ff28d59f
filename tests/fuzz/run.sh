#!/bin/sh
# tests/fuzz/run.sh SECONDS [TARGET...] — builds the libFuzzer targets with clang (ASan+UBSan,
# -DLEPTON_FUZZ=ON) into build-fuzz and runs each target for SECONDS on its committed corpus plus
# the new inputs it finds (those go to build-fuzz/corpus/<target>, not into the repository).
# Exits non-zero when any target crashes, leaks, hits undefined behaviour or times out on an input;
# the reproducer is left in build-fuzz/crashes/<target>/. Environment: BUILD_DIR (default
# build-fuzz), FUZZ_JOBS (parallel build jobs, default 2), CC/CXX (default clang/clang++).
set -eu
secs=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
bdir=${BUILD_DIR:-$root/build-fuzz}
all="ptx job batch result lease_token lease_request node_register heartbeat fatbin http_head"
targets=${*:-$all}
command -v "${CC:-clang}" >/dev/null || { echo "run.sh: clang is needed (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER="${CC:-clang}" \
      -DCMAKE_CXX_COMPILER="${CXX:-clang++}" -DLEPTON_FUZZ=ON >/dev/null
set --
for t in $targets; do set -- "$@" --target "fuzz_$t"; done
cmake --build "$bdir" -j "${FUZZ_JOBS:-2}" "$@" >"$bdir/fuzz-build.log" 2>&1 || { tail -40 "$bdir/fuzz-build.log"; exit 1; }

fail=0
for t in $targets; do
  work="$bdir/corpus/$t"
  crashes="$bdir/crashes/$t"
  mkdir -p "$work" "$crashes"
  echo "--- fuzz_$t: ${secs} s"
  dict=""
  [ -f "$root/tests/fuzz/$t.dict" ] && dict="-dict=$root/tests/fuzz/$t.dict"
  # the first corpus directory receives new inputs; the committed one is only read
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$bdir/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$crashes/" $dict "$work" "$root/tests/fuzz/corpus/$t" \
      >"$bdir/fuzz_$t.log" 2>&1; then
    echo "FAIL fuzz_$t (log: $bdir/fuzz_$t.log; reproducer in $crashes/):"
    grep -E "ERROR|runtime error|SUMMARY|Test unit written" "$bdir/fuzz_$t.log" | head -20
    fail=1
  else
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$bdir/fuzz_$t.log" | tr '\n' ' '
    echo
  fi
done
exit $fail
