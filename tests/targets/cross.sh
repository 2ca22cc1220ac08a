#!/usr/bin/env bash
# One source, three targets, the same bytes: compile MODEL.nit for x86-64,
# AArch64 and RISC-V, train each (the cross ones under qemu-user) for STEPS
# steps on the first SAMPLES training images with the same seed, and demand
# byte-identical checkpoints and identical logs apart from timing fields.
#   cross.sh BUILD_DIR MODEL.nit DATA_DIR SAMPLES WORK_DIR
set -uo pipefail
build="$1"; model="$2"; data="$3"; samples="$4"; work="$5"
name="$(basename "$model" .nit)"
mkdir -p "$work"
nitc="$build/compiler/nitc"
declare -A runner=(
  [x86_64-linux-gnu]=""
  [aarch64-linux-gnu]="qemu-aarch64 -L /usr/aarch64-linux-gnu"
  [riscv64-linux-gnu]="qemu-riscv64 -L /usr/riscv64-linux-gnu"
)
ref=""; fails=0; total=0
for t in x86_64-linux-gnu aarch64-linux-gnu riscv64-linux-gnu; do
  total=$((total + 1))
  exe="$work/$name-$t"
  if ! "$nitc" "$model" --target "$t" -o "$exe"; then
    echo "FAIL $name $t: nitc failed"; fails=$((fails + 1)); continue
  fi
  rm -f "$work/$name-$t.ckpt" "$work/$name-$t.jsonl"
  # shellcheck disable=SC2086
  if ! ${runner[$t]} "$exe" train --data "$data" --epochs 1 --limit "$samples" --test-limit 500 \
        --seed 7 --save "$work/$name-$t.ckpt" --log "$work/$name-$t.jsonl" > "$work/$name-$t.out" 2>&1; then
    echo "FAIL $name $t: training failed"; cat "$work/$name-$t.out"; fails=$((fails + 1)); continue
  fi
  # timing fields vary; everything else must be identical
  sed -E 's/"(samples_per_sec|seconds)":[0-9.]+/"\1":T/g' "$work/$name-$t.jsonl" > "$work/$name-$t.log.cmp"
  sum=$(sha256sum < "$work/$name-$t.ckpt" | cut -c1-16)
  echo "$t: checkpoint $sum $(wc -c < "$work/$name-$t.ckpt") bytes; $(tail -1 "$work/$name-$t.out")"
  if [ -z "$ref" ]; then ref="$t"; continue; fi
  if ! cmp "$work/$name-$ref.ckpt" "$work/$name-$t.ckpt"; then
    echo "FAIL $name: $t checkpoint differs from $ref"; fails=$((fails + 1)); continue
  fi
  if ! diff "$work/$name-$ref.log.cmp" "$work/$name-$t.log.cmp"; then
    echo "FAIL $name: $t log differs from $ref"; fails=$((fails + 1)); continue
  fi
done
echo "$((total - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
