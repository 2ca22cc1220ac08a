#!/usr/bin/env bash
# Exported C on real data (docs/deploy.md): LeNet-5 trained one epoch on
# MNIST, exported, compiled for x86-64, AArch64, RISC-V 64 and 32-bit ARM
# (qemu), and run on the 10,000 test images: the accuracy must equal
# `eval --per-sample` and every logit `predict --per-sample --logits`.
# Then the speed of the exported C on one x86-64 core (median of RUNS) beside
# the trainer's forward pass, and the flash and RAM of every example.
#   bench/export.sh [BUILD_DIR]      (about 5 minutes; needs scripts/fetch-data)
set -uo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"; runs="${RUNS:-3}"
work="$build/bench-export"; rm -rf "$work"; mkdir -p "$work"
data=data/mnist
[ -f "$data/t10k-images-idx3-ubyte" ] || { echo "bench/export.sh: no MNIST in $data (run scripts/fetch-data)" >&2; exit 1; }
nitc="$build/compiler/nitc"; mkdata="$build/tests/nitrt_mkdata"
images="$data/t10k-images-idx3-ubyte"; labels="$data/t10k-labels-idx1-ubyte"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== LeNet-5, 1 epoch of MNIST, exported, on four targets"
"$nitc" examples/lenet5.nit -o "$work/lenet5" || exit 1
"$work/lenet5" train --data "$data" --epochs 1 --quiet --save "$work/lenet5.ckpt" || exit 1
"$work/lenet5" export --load "$work/lenet5.ckpt" -o "$work/out" || exit 1
eval_line=$("$work/lenet5" eval --load "$work/lenet5.ckpt" --data "$data" --per-sample)
echo "trainer: eval --per-sample: $eval_line"
acc=$(sed -E 's/^test ([0-9.]+)%.*/\1/' <<< "$eval_line")
"$work/lenet5" predict --load "$work/lenet5.ckpt" --idx "$images" --count 10000 --per-sample --logits \
  > "$work/predict.txt"
cflags=(-O2 -std=c99 -Wall -Wextra -Werror -I"$work/out" -DMODEL_HEADER='"lenet5.h"')
status=0
for t in "x86-64 cc -" "aarch64 aarch64-linux-gnu-gcc qemu-aarch64 /usr/aarch64-linux-gnu" \
         "riscv64 riscv64-linux-gnu-gcc qemu-riscv64 /usr/riscv64-linux-gnu" \
         "arm32 arm-linux-gnueabihf-gcc qemu-arm /usr/arm-linux-gnueabihf"; do
  read -r name cc qemu root <<< "$t"
  command -v "$cc" > /dev/null || { echo "$name: $cc missing, skipped"; continue; }
  $cc "${cflags[@]}" examples/classify_idx.c "$work/out/lenet5.c" -o "$work/cls-$name" || { status=1; continue; }
  run=("$work/cls-$name"); [ "$qemu" = - ] || run=("$qemu" -L "$root" "$work/cls-$name")
  "${run[@]}" "$images" "$labels" --logits > "$work/out-$name.txt"
  got=$(sed -nE 's/.*accuracy ([0-9.]+)%.*/\1/p' "$work/out-$name.txt")
  if [ "$got" = "$acc" ] && cmp -s "$work/predict.txt" <(grep '^sample' "$work/out-$name.txt"); then
    echo "$name: accuracy $got% = eval --per-sample; 10000 x 10 logits identical to predict --per-sample"
  else
    echo "$name: MISMATCH (accuracy $got%, eval --per-sample $acc%)"; status=1
  fi
done

echo
echo "== speed on one x86-64 core, samples/s, median of $runs (10,000 MNIST test images, one at a time)"
for o in "-O2" "-O3 -march=native"; do
  cc $o -std=c99 -I"$work/out" -DMODEL_HEADER='"lenet5.h"' examples/classify_idx.c "$work/out/lenet5.c" \
    -o "$work/cls-speed"
  v=$(for i in $(seq "$runs"); do taskset -c 0 "$work/cls-speed" "$images" --time | sed -nE 's/.* ([0-9]+) samples\/s.*/\1/p'; done | median)
  echo "exported C, cc $o: $v"
done
for b in "--per-sample" "--batch 64"; do
  v=$(for i in $(seq "$runs"); do "$work/lenet5" eval --load "$work/lenet5.ckpt" --data "$data" --threads 1 $b \
      | sed -nE 's/.* ([0-9]+) samples\/s.*/\1/p'; done | median)
  echo "trainer's forward pass, eval --threads 1 $b: $v"
done

echo
echo "== flash (int8 weights) and RAM (the arena) of every example that export writes"
printf '%-16s %12s %12s\n' model "flash bytes" "RAM bytes"
for f in examples/*.nit; do
  m=$(basename "$f" .nit); w="$work/ex-$m"; mkdir -p "$w/data"
  "$nitc" "$f" -o "$w/model" > /dev/null 2>&1 || continue
  read -r c h wd classes < <("$w/model" info | sed -nE 's/^input ([0-9]+)x([0-9]+)x([0-9]+) .*, ([0-9]+) classes,.*/\1 \2 \3 \4/p')
  "$mkdata" idx "$w/data" 64 8 "$c" "$h" "$wd" "$classes" > /dev/null
  "$w/model" train --data "$w/data" --epochs 1 --quiet --save "$w/m.ckpt" > /dev/null 2>&1
  if "$w/model" export --load "$w/m.ckpt" -o "$w/out" > "$w/export.log" 2>&1; then
    up=$(tr a-z A-Z <<< "$m")
    printf '%-16s %12s %12s\n' "$m" "$(sed -nE "s/#define ${up}_FLASH_BYTES ([0-9]+).*/\1/p" "$w/out/$m.h")" \
      "$(sed -nE "s/#define ${up}_RAM_BYTES ([0-9]+).*/\1/p" "$w/out/$m.h")"
  else
    printf '%-16s %s\n' "$m" "not exported: $(sed -E 's/.*export: //' "$w/export.log" | head -1 | cut -c1-60)"
  fi
done
exit $status
