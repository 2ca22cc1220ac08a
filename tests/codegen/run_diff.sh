#!/usr/bin/env bash
# The differential suite: COUNT random networks from gennet, each compiled by
# nitc, linked with the diffrun harness, and trained side by side with the
# reference; any byte of difference fails the test.
#   run_diff.sh BUILD_DIR SEED COUNT [JOBS]
# NITC_DIFF_RECIPE=ghaffari draws networks of that recipe instead.
# NITC_DIFF_VARIANT=NAME compiles for a cross variant of
# tests/targets/variants.sh (aarch64, aarch64-sdot, riscv64, riscv64-rvv):
# the harness and the reference then come from the build's
# tests/libdiffrun-<triple>.a (tests/targets.cmake), linked by
# <triple>-gcc, and each network runs under the variant's qemu.
set -uo pipefail
build="$1"; seed="$2"; count="$3"; jobs="${4:-$(nproc)}"
recipe="${NITC_DIFF_RECIPE:-niti}"
# a directory of its own for each corpus and kernel: ctest runs the variants
# side by side, and two of the same recipe and seed (the pools and the other
# softmax, rounding ahead on two kernels) must not share one
work="$build/tests/diff-$recipe-$seed${NITC_DIFF_POOLS:+-pools$NITC_DIFF_POOLS}${NITC_DIFF_LOSS:+-loss$NITC_DIFF_LOSS}${NITC_GEMM:+-$NITC_GEMM}"
cc="${CC:-cc}"
libs="$build/tests/libdiffrun.a $build/tests/libnitref.a $build/compiler/libnitfront.a $build/runtime/libnitrt_s31.a"
# shellcheck source=tests/targets/variants.sh
source "$(dirname "$0")/../targets/variants.sh"
if diff_variant run_diff.sh; then
  work="$work-$NITC_DIFF_VARIANT" cc="$v_cc" libs="$build/tests/libdiffrun-$v_triple.a -lm"
fi
rm -rf "$work"; mkdir -p "$work"
if [ "$recipe" = niti ]; then
  "$build/tests/gennet" "$seed" "$count" "$work" || exit 2
else
  "$build/tests/gennet" "$seed" "$count" "$work" "$recipe" || exit 2
fi
run_one() {
  local line="$1" net flags
  net="${line%% *}"; flags="${line#* }"
  local base="$work/${net%.nit}"
  # shellcheck disable=SC2086
  if ! "$build/compiler/nitc" "$work/$net" $v_flags --emit obj -O2 -o "$base.o" 2> "$base.log"; then
    echo "FAIL $net: nitc failed"; cat "$base.log"; return 1
  fi
  # shellcheck disable=SC2086
  if ! $cc $NITC_LINK_FLAGS -o "$base.bin" "$base.o" $libs 2>> "$base.log"; then
    echo "FAIL $net: link failed"; cat "$base.log"; return 1
  fi
  # shellcheck disable=SC2086
  if ! $v_run "$base.bin" "$work/$net" $flags --quiet >> "$base.log" 2>&1; then
    echo "FAIL $net $flags"; cat "$base.log"; echo "--- $net:"; cat "$work/$net"; return 1
  fi
  rm -f "$base.o" "$base.bin"
}
export -f run_one; export work build cc libs v_flags v_run NITC_LINK_FLAGS
fails=0; total=0
while IFS= read -r line; do
  total=$((total + 1))
  printf '%s\n' "$line"
done < "$work/list.txt" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} > "$work/results.txt"
fails=$(grep -c '^FAIL' "$work/results.txt")
total=$(wc -l < "$work/list.txt")
cat "$work/results.txt"
echo "$((total - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
