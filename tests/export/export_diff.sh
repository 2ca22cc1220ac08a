#!/usr/bin/env bash
# Export on random networks: COUNT networks from gennet (the differential
# suite's generator; RECIPE niti, ghaffari, shiftquant or unified), each
# compiled by nitc, trained one epoch on synthetic data of its input shape, and
# exported. `export` itself runs the exported tables against the generated
# forward pass before writing (--verify); here the exported C is also
# compiled (-std=c99 -Wall -Wextra -Werror) for every target of targets.sh
# (x86-64, and AArch64, RISC-V 64 and 32-bit ARM under qemu) and its logits
# compared with `predict --per-sample --logits` byte for byte, norm layers
# included.
#   export_diff.sh BUILD_DIR MKDATA EXAMPLES_DIR SEED COUNT RECIPE
set -uo pipefail
build="$1"; mkdata="$2"; examples="$3"; seed="$4"; count="$5"; recipe="$6"
work="$build/tests/export-diff-$recipe-$seed"
rm -rf "$work"; mkdir -p "$work"
if [ "$recipe" = niti ]; then
  "$build/tests/gennet" "$seed" "$count" "$work" > /dev/null || exit 2
else
  "$build/tests/gennet" "$seed" "$count" "$work" "$recipe" > /dev/null || exit 2
fi
# shellcheck source=tests/export/targets.sh
. "$(dirname "$0")/targets.sh"
fails=0; passed=0
while read -r net _; do
  base="$work/${net%.nit}"
  fail() { echo "FAIL $net: $1"; [ -f "$2" ] && tail -5 "$2"; fails=$((fails + 1)); }
  if ! "$build/compiler/nitc" "$work/$net" -o "$base.exe" > "$base.log" 2>&1; then
    fail "nitc" "$base.log"; continue
  fi
  # "input 3x9x1 (...), 8 classes, compiled batch <= 5"
  read -r c h w classes < <("$base.exe" info | sed -nE 's/^input ([0-9]+)x([0-9]+)x([0-9]+) .*, ([0-9]+) classes,.*/\1 \2 \3 \4/p')
  mkdir -p "$base.data"
  "$mkdata" idx "$base.data" 40 12 "$c" "$h" "$w" "$classes" || { fail "mkdata" /dev/null; continue; }
  if ! "$base.exe" train --data "$base.data" --epochs 1 --seed "$seed" --quiet --save "$base.ckpt" >> "$base.log" 2>&1; then
    fail "train" "$base.log"; continue
  fi
  if ! "$base.exe" export --load "$base.ckpt" -o "$base.out" --verify 16 >> "$base.log" 2>&1; then
    fail "export" "$base.log"; continue
  fi
  name=$(basename "$base.out"/*.h .h)
  images=$(ls "$base.data"/t10k-images-*)
  "$base.exe" predict --load "$base.ckpt" --idx "$images" --count 12 --per-sample --logits > "$base.want"
  ok=1
  for t in "${targets[@]}"; do
    read -r tname cc qemu root <<< "$t"
    if ! $cc "${cflags[@]}" -I"$base.out" -DMODEL_HEADER="\"$name.h\"" \
         "$examples/classify_idx.c" "$base.out/$name.c" -o "$base.cls-$tname" >> "$base.log" 2>&1; then
      fail "the exported C does not compile cleanly for $tname" "$base.log"; ok=0; break
    fi
    export_run "$qemu" "$root" "$base.cls-$tname" "$images" --logits > "$base.got-$tname"
    if ! cmp -s "$base.want" "$base.got-$tname"; then
      fail "logits on $tname differ from predict --per-sample" /dev/null
      diff "$base.want" "$base.got-$tname" | head -4; ok=0; break
    fi
  done
  [ "$ok" = 1 ] || continue
  passed=$((passed + 1))
  rm -rf "$base.exe" "$base".cls-* "$base.data"
done < "$work/list.txt"
echo "$passed passed, $fails failed"
[ "$fails" -eq 0 ] && [ "$passed" -gt 0 ]
