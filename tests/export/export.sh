#!/usr/bin/env bash
# Exported C computes what the trainer computes. For each MODEL: train one
# epoch on synthetic data, `export`, compile the exported C with
# examples/classify_idx.c under -std=c99 -Wall -Wextra -Werror for x86-64
# (and, when their compilers and qemu are installed, AArch64, RISC-V 64 and
# 32-bit ARM), and require every test sample's class and logits to equal
# `predict --per-sample --logits` byte for byte, and the accuracy to equal
# `eval --per-sample`. Also: no floating point (-mgeneral-regs-only), and
# the refusals (bad -o, a missing checkpoint) leave nothing behind.
#   export.sh BUILD_DIR MKDATA WORK_DIR EXAMPLES_DIR MODEL...
set -uo pipefail
build="$1"; mkdata="$2"; work="$3"; examples="$4"; shift 4
rm -rf "$work"; mkdir -p "$work/data"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
"$mkdata" idx "$work/data" 300 200 1 28 28 10 || exit 2
images="$work/data/t10k-images-idx3-ubyte"; labels="$work/data/t10k-labels-idx1-ubyte"
# shellcheck source=tests/export/targets.sh
. "$(dirname "$0")/targets.sh"

for model in "$@"; do
  w="$work/$model"; mkdir -p "$w"
  exe="$w/model"
  if ! "$build/compiler/nitc" "$examples/$model.nit" --batch 32 -o "$exe" > "$w/nitc.log" 2>&1; then
    echo "FAIL $model: nitc"; cat "$w/nitc.log"; fails=$((fails + 1)); continue
  fi
  "$exe" train --data "$work/data" --epochs 1 --seed 3 --quiet --save "$w/m.ckpt" > "$w/train.log" 2>&1
  check "$model: trains" test -f "$w/m.ckpt"
  check "$model: export" "$exe" export --load "$w/m.ckpt" -o "$w/out" --verify 32
  check "$model: header and source" test -s "$w/out/$model.h" -a -s "$w/out/$model.c"
  "$exe" predict --load "$w/m.ckpt" --idx "$images" --count 200 --per-sample --logits > "$w/predict.txt"
  acc=$("$exe" eval --load "$w/m.ckpt" --data "$work/data" --per-sample | sed -E 's/^test ([0-9.]+)%.*/\1/')
  # the exported code holds no floating point: GCC refuses any under -mgeneral-regs-only
  check "$model: no floating point" cc "${cflags[@]}" -mgeneral-regs-only -c "$w/out/$model.c" -o "$w/nofloat.o"
  for t in "${targets[@]}"; do
    read -r name cc qemu root <<< "$t"
    bin="$w/classify-$name"
    if ! $cc "${cflags[@]}" -I"$w/out" -DMODEL_HEADER="\"$model.h\"" "$examples/classify_idx.c" \
         "$w/out/$model.c" -o "$bin" 2> "$w/cc-$name.log"; then
      echo "FAIL $model on $name: the exported C does not compile cleanly"; cat "$w/cc-$name.log"
      fails=$((fails + 1)); total=$((total + 1)); continue
    fi
    export_run "$qemu" "$root" "$bin" "$images" "$labels" --logits > "$w/export-$name.txt" 2> "$w/run-$name.log"
    check "$model on $name: logits of 200 samples equal predict --per-sample" \
      cmp "$w/predict.txt" <(grep '^sample' "$w/export-$name.txt")
    check "$model on $name: accuracy equals eval --per-sample ($acc%)" \
      grep -q "accuracy $acc%" "$w/export-$name.txt"
  done
done

# refusals: an exit status of 1, a message, nothing written
m="$work/refuse"; mkdir -p "$m"
exe="$work/lenet5/model"
if [ -x "$exe" ]; then
  : > "$m/file"
  "$exe" export --load "$work/lenet5/m.ckpt" -o "$m/file" > "$m/file.out" 2>&1
  check "-o naming a file refused" test $? -eq 1
  check "the message names it" grep -q "file: exists and is not a directory" "$m/file.out"
  "$exe" export --load "$work/lenet5/m.ckpt" -o "$m/no/such/dir" > "$m/dir.out" 2>&1
  check "-o under a missing directory refused" test $? -eq 1
  "$exe" export --load "$m/missing.ckpt" -o "$m/x" > "$m/missing.out" 2>&1
  check "a missing checkpoint refused" test $? -eq 1
  "$exe" export -o "$m/x" > "$m/noload.out" 2>&1
  check "export without --load refused" grep -q "export needs --load CKPT and -o DIR" "$m/noload.out"
  check "no directory left behind" test ! -e "$m/x"
fi
checks_done
