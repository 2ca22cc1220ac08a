#!/usr/bin/env bash
# Data parallelism without MPI: every example and COUNT random networks of
# each recipe (gennet; a third as many again with the other recipe's
# softmax) compiled by nitc and linked with the ranks harness,
# which runs 1, 2, 3 and 8 ranks as threads with in-process collectives
# and demands one process's bytes after every step and in evaluation
# (tests/codegen/ranks.c). A negative control (no collectives, local draw
# indices) must differ. Networks of every kind, normalization layers
# included (their kernels reduce over the ranks too).
#   run_ranks.sh BUILD_DIR EXAMPLES_DIR SEED COUNT
# NITC_DIFF_VARIANT=NAME compiles for a cross variant of
# tests/targets/variants.sh (aarch64, aarch64-sdot, riscv64, riscv64-rvv):
# the harness from the build's tests/libranks-<triple>.a and the runtime's
# libnitrt-<triple>.a, linked by <triple>-gcc, each run under the variant's
# qemu. NITC_RANKS_EXAMPLES="lenet5 mlp_ln" takes those examples only
# (default: all).
set -uo pipefail
build="$1"; examples="$2"; seed="$3"; count="$4"
work="$build/tests/ranks-$seed"
cc="${CC:-cc}"; NITC_LINK_FLAGS="${NITC_LINK_FLAGS:-}"
libs=("$build/tests/libranks.a" "$build/runtime/libnitrt.a" "$build/runtime/libnitrt_s31.a" -lz -lpthread)
# shellcheck source=tests/targets/variants.sh
source "$(dirname "$0")/../targets/variants.sh"
if diff_variant run_ranks.sh; then
  work="$work-$NITC_DIFF_VARIANT" cc="$v_cc"
  libs=("$build/tests/libranks-$v_triple.a" "$build/runtime/libnitrt-$v_triple.a" -lpthread -lm)
fi
rm -rf "$work"; mkdir -p "$work"
fails=0; passed=0
one() { # name file.nit batch
  local name="$1" src="$2" batch="$3" base="$work/$1"
  # shellcheck disable=SC2086
  if ! "$build/compiler/nitc" "$src" $v_flags --emit obj $batch -o "$base.o" > "$base.log" 2>&1 ||
     ! $cc $NITC_LINK_FLAGS -o "$base.bin" "$base.o" "${libs[@]}" >> "$base.log" 2>&1; then
    echo "FAIL $name: build"; cat "$base.log"; fails=$((fails + 1)); return
  fi
  for n in 1 2 3 8; do
    # shellcheck disable=SC2086
    if ! $v_run "$base.bin" --ranks "$n" --steps 2 --seed "$seed" >> "$base.log" 2>&1; then
      echo "FAIL $name: $n ranks"; tail -2 "$base.log"; fails=$((fails + 1)); return
    fi
  done
  passed=$((passed + 1)); rm -f "$base.o" "$base.bin"
}
for f in "$examples"/*.nit; do
  name="$(basename "$f" .nit)"
  [ -z "${NITC_RANKS_EXAMPLES+set}" ] || [[ " $NITC_RANKS_EXAMPLES " == *" $name "* ]] || continue
  one "$name" "$f" "--batch 12"
done
# each recipe's networks, then a third as many with the other recipe's
# softmax (gennet's NITC_DIFF_LOSS: the loss's error through the recipe's
# quantizer, whose maximum spans the ranks)
for recipe in niti ghaffari shiftquant unified; do
  for loss in own other; do
    dir="$work/$recipe-$loss" n=$count
    [ "$loss" = other ] && n=$(((count + 2) / 3))
    mkdir -p "$dir"
    arg=("$recipe"); [ "$recipe" = niti ] && arg=()
    NITC_DIFF_LOSS=$loss "$build/tests/gennet" "$seed" "$n" "$dir" "${arg[@]}" > /dev/null || exit 2
    while read -r net _; do one "$recipe-$loss-${net%.nit}" "$dir/$net" ""; done < "$dir/list.txt"
  done
done
# the negative control: without collectives two ranks must differ
# shellcheck disable=SC2086
"$build/compiler/nitc" "$examples/lenet5.nit" $v_flags --emit obj --batch 12 -o "$work/neg.o" &&
  $cc $NITC_LINK_FLAGS -o "$work/neg.bin" "$work/neg.o" "${libs[@]}" &&
  if $v_run "$work/neg.bin" --ranks 2 --steps 2 --local 1 > /dev/null 2>&1; then
    echo "FAIL the negative control (no collectives) gave one process's bytes: the check cannot fail"; fails=$((fails + 1))
  else echo "ok   the negative control differs"; fi
echo "$passed passed, $fails failed"
[ "$fails" -eq 0 ] && [ "$passed" -gt 0 ]
