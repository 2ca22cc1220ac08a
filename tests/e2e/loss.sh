#!/usr/bin/env bash
# Either softmax under either kind of recipe (docs/recipes.md, "Loss"), end
# to end with real generated code:
#   1. niti with the table softmax: info, the log's run record and the
#      checkpoint say so; resume is bit-exact; an executable of NITI's
#      softmax refuses to resume from it (and evaluates it);
#   2. ghaffari with NITI's softmax: the same the other way round.
#   loss.sh BUILD_DIR EXAMPLES_DIR MKDATA WORK_DIR
set -uo pipefail
build="$1"; examples="$2"; mkdata="$3"; work="$4"
rm -rf "$work"; mkdir -p "$work/data"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
"$mkdata" idx "$work/data" 320 64 1 28 28 10 || exit 2
nitc="$build/compiler/nitc"
# with_loss SRC EXP OUT: SRC with `loss softmax_ce(exp=EXP)` in its train block
with_loss() { sed "s/^train {/train {\n    loss softmax_ce(exp=$2)/" "$1" > "$3"; }
train() { local exe=$1; shift; "$exe" train --data "$work/data" --seed 3 --quiet "$@" > "$work/last.out" 2>&1; }
refused() { # EXE CKPT PATTERN: resuming CKPT exits 1 with PATTERN
  "$1" train --data "$work/data" --epochs 2 --resume "$2" --save "$work/no.ckpt" > "$work/last.out" 2>&1
  [ $? -eq 1 ] && grep -qF -- "$3" "$work/last.out" && [ ! -e "$work/no.ckpt" ]
}

for pair in "mlp table NITI's" "lenet5_ghaffari niti the table"; do
  set -- $pair
  base=$1 exp=$2 theirs="$3"
  [ "$exp" = table ] && mine="the table softmax (exp=table)" || mine="NITI's softmax (exp=niti)"
  with_loss "$examples/$base.nit" "$exp" "$work/$base-$exp.nit"
  other="$work/$base" exe="$work/$base-$exp"
  check "$base, exp=$exp: compiles" "$nitc" "$work/$base-$exp.nit" --batch 32 -o "$exe"
  check "$base: compiles" "$nitc" "$examples/$base.nit" --batch 32 -o "$other"
  check "$base, exp=$exp: trains 2 epochs" train "$exe" --epochs 2 --save "$work/$exp-2.ckpt" --log "$work/$exp.jsonl"
  check "$base, exp=$exp: 1 epoch" train "$exe" --epochs 1 --save "$work/$exp-1.ckpt"
  check "$base, exp=$exp: resumed to 2" train "$exe" --epochs 2 --resume "$work/$exp-1.ckpt" --save "$work/$exp-r.ckpt"
  check "$base, exp=$exp: resume is bit-exact" cmp "$work/$exp-2.ckpt" "$work/$exp-r.ckpt"
  check "$base: trains 2 epochs with its own loss" train "$other" --epochs 2 --save "$work/own-$exp.ckpt"
  check "$base, exp=$exp: not the recipe's own loss" test "$(cmp "$work/$exp-2.ckpt" "$work/own-$exp.ckpt" 2>&1 |
    grep -c differ)" = 1
  check "$base, exp=$exp: info names the loss" grep -q "loss $([ "$exp" = table ] && echo "table softmax" || echo "softmax")" \
    <("$exe" info --load "$work/$exp-1.ckpt")
  check "$base, exp=$exp: the run record names it" grep -q "\"loss\":\"$([ "$exp" = table ] && echo "table softmax" || echo "softmax")\"" \
    "$work/$exp.jsonl"
  check "$base, exp=$exp: the recipe's own loss refuses to resume it" \
    refused "$other" "$work/$exp-1.ckpt" "trained with $mine, this executable computes $theirs"
  check "$base, exp=$exp: and evaluates it" "$other" eval --data "$work/data" --load "$work/$exp-2.ckpt" --quiet
done
checks_done
