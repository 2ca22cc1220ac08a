#!/usr/bin/env bash
# One source, three targets, the same bytes: compile MODEL.nit for x86-64,
# AArch64 and RISC-V, each with its GEMM micro-kernels (the variants of
# variants.sh), train each (the cross ones under qemu-user) on the first
# SAMPLES training images with the same seed, and demand byte-identical
# checkpoints and identical logs apart from timing fields.
# RVV under qemu-user runs about 5x slower than scalar RISC-V code (qemu
# emulates vector instructions element by element), so ctest runs it
# separately on fewer samples: the optional VARIANTS regex picks variants.
#   cross.sh BUILD_DIR MODEL.nit DATA_DIR SAMPLES WORK_DIR [VARIANTS]
set -uo pipefail
build="$1"; model="$2"; data="$3"; samples="$4"; work="$5"; pick="${6:-.}"
name="$(basename "$model" .nit)"
mkdir -p "$work"
nitc="$build/compiler/nitc"
# the variants (name | nitc flags | runner)
# shellcheck source=tests/targets/variants.sh
source "$(dirname "$0")/variants.sh"
ref=""; fails=0; total=0
for v in "${variants[@]}"; do
  IFS='|' read -r t flags run _ <<< "$v"
  [[ "$t" =~ $pick ]] || continue
  total=$((total + 1))
  exe="$work/$name-$t-$samples"
  # shellcheck disable=SC2086
  if ! "$nitc" "$model" $flags -o "$exe"; then
    echo "FAIL $name $t: nitc failed"; fails=$((fails + 1)); continue
  fi
  rm -f "$work/$name-$t-$samples.ckpt" "$work/$name-$t-$samples.jsonl"
  # shellcheck disable=SC2086
  if ! $run "$exe" train --data "$data" --epochs 1 --limit "$samples" --test-limit 500 \
        --seed 7 --save "$work/$name-$t-$samples.ckpt" --log "$work/$name-$t-$samples.jsonl" > "$work/$name-$t-$samples.out" 2>&1; then
    echo "FAIL $name $t: training failed"; cat "$work/$name-$t-$samples.out"; fails=$((fails + 1)); continue
  fi
  # timing fields vary, and the run record names the command and the time; the
  # epoch records must be identical otherwise
  grep -v '^{"record":"run"' "$work/$name-$t-$samples.jsonl" |
    sed -E 's/"(samples_per_sec|seconds)":[0-9.]+/"\1":T/g' > "$work/$name-$t-$samples.log.cmp"
  sum=$(sha256sum < "$work/$name-$t-$samples.ckpt" | cut -c1-16)
  echo "$t: checkpoint $sum $(wc -c < "$work/$name-$t-$samples.ckpt") bytes; $(tail -1 "$work/$name-$t-$samples.out")"
  if [ -z "$ref" ]; then ref="$t"; continue; fi
  if ! cmp "$work/$name-$ref-$samples.ckpt" "$work/$name-$t-$samples.ckpt"; then
    echo "FAIL $name: $t checkpoint differs from $ref"; fails=$((fails + 1)); continue
  fi
  if ! diff "$work/$name-$ref-$samples.log.cmp" "$work/$name-$t-$samples.log.cmp"; then
    echo "FAIL $name: $t log differs from $ref"; fails=$((fails + 1)); continue
  fi
done
echo "$((total - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
