#!/usr/bin/env bash
# l1_eps.sh: the integer L1 norm's epsilon (docs/results.md, "Recipe
# shiftquant", the L1 layer). In real units an l1norm divides by
# K mean|x - mean| + eps where a batchnorm divides by sqrt(var + eps): with
# the default eps = 0.00001 a channel whose values are nearly constant is
# amplified up to 1/eps = 100,000 times by the L1 layer and only
# 1/sqrt(eps) = 316 times by the L2 one. 8-bit activations (many exact
# zeros after ReLU) make such channels far more common than fp32 does.
# This trains examples/resnet_l1.nit with every l1norm given eps=E, under
# RECIPES (ghaffari: 8-bit errors; shiftquant: the file's 4-bit channel
# groups), and the fp32 mirror (bench/accuracy/torch_mirror.py) of the same
# file from the same initial state, per seed, and prints the final test
# accuracy of each.
#
# Environment: EPSS="0.00001 0.003" (0.003 is about sqrt(0.00001), the L2
# layer's floor on the deviation), RECIPES="ghaffari", SEEDS="1",
# EPOCHS (the file's 10), THREADS=1, OUT=out/accuracy/l1_eps, FP32=1 (0: the
# integer runs only), WARMUP=0 (1: one epoch of warmup, steps(940,
# ratio=0.01), as the sq4-warmup variant of bench/accuracy/shiftquant.sh),
# DATA=data/fashion-mnist.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
NITC=${NITC:-$REPO/build/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/l1_eps}
EPSS=${EPSS:-0.00001 0.003}
RECIPES=${RECIPES:-ghaffari}
SEEDS=${SEEDS:-1}
THREADS=${THREADS:-1}
FP32=${FP32:-1}
WARMUP=${WARMUP:-0}
W=""; [ "$WARMUP" = 1 ] && W="-w"
EPOCHS=${EPOCHS:-}
DATA=${DATA:-data/fashion-mnist}
PY=/usr/bin/python3
mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/nit" "$OUT/ckpt"
[ -f "$DATA/train-images-idx3-ubyte" ] || { echo "no $DATA: run scripts/fetch-data" >&2; exit 2; }

# variant RECIPE EPS -> OUT/nit/resnet_l1-RECIPE-eEPS.nit: every l1norm(...)
# gets eps=EPS as its last argument; ghaffari replaces the recipe and drops
# the shiftquant-only lines
variant() {
  local f="$OUT/nit/resnet_l1-$1-e$2$W.nit"
  "$PY" - "$1" "$2" "$f" "$WARMUP" <<'EOF'
import sys
recipe, eps, out, warmup = sys.argv[1:]
s = open('examples/resnet_l1.nit').read()
r, i = '', 0
while True:
    k = s.find('l1norm(', i)
    if k < 0:
        r += s[i:]
        break
    j, depth = k + len('l1norm('), 1
    while depth:
        depth += {'(': 1, ')': -1}.get(s[j], 0)
        j += 1
    r, i = r + s[i:j - 1] + ', eps=' + eps + ')', j
name = 'resnet_l1_%s_e%s%s' % (recipe, eps.replace('.', '_'), '_w' if warmup == '1' else '')
r = r.replace('model resnet_l1 ', 'model %s ' % name, 1)
if recipe != 'shiftquant':
    lines = [l for l in r.split('\n') if not l.strip().startswith(('bits ', 'groups '))]
    r = '\n'.join(lines).replace('recipe    shiftquant', 'recipe    ' + recipe)
if warmup == '1':
    r = r.replace('    momentum  0.9', '    warmup    steps(940, ratio=0.01)\n    momentum  0.9', 1)
open(out, 'w').write(r)
EOF
  grep -q "eps=$2" "$f" || { echo "could not make $f" >&2; exit 2; }
  echo "$f"
}

acc() { tail -1 "$1" | sed -E 's/.*"test_acc": ?([0-9.]+).*/\1/' | awk '{printf "%.2f", 100 * $1}'; }

printf '| recipe | l1norm eps%s | seed | integer test accuracy (%%) | fp32 mirror (%%) |\n|---|---|---|---|---|\n' "$( [ "$WARMUP" = 1 ] && echo ', warmup')"
for r in $RECIPES; do
  for e in $EPSS; do
    f=$(variant "$r" "$e")
    exe="$OUT/bin/resnet_l1-$r-e$e$W"
    [ -x "$exe" ] && [ "$exe" -nt "$f" ] && [ "$exe" -nt "$NITC" ] || "$NITC" "$f" -o "$exe"
    for s in $SEEDS; do
      log="$OUT/logs/int8-$r-e$e$W-s$s.jsonl" init="$OUT/ckpt/$r-e$e$W-s$s-init.ckpt"
      if [ ! -s "$log" ] || [ "$(grep -c '"test_acc"' "$log")" -lt "${EPOCHS:-10}" ]; then
        echo "[$(date +%H:%M:%S)] $r eps $e seed $s" >&2
        "$exe" train --data "$DATA" --seed "$s" --threads "$THREADS" --quiet --log "$log" \
          --save-init "$init" ${EPOCHS:+--epochs "$EPOCHS"} > /dev/null
      fi
      fp="-"
      if [ "$FP32" = 1 ]; then
        flog="$OUT/logs/fp32-$r-e$e$W-s$s.jsonl"
        if [ ! -s "$flog" ] || [ "$(wc -l < "$flog")" -lt "${EPOCHS:-10}" ]; then
          echo "[$(date +%H:%M:%S)] fp32 mirror, $r eps $e seed $s" >&2
          "$PY" bench/accuracy/torch_mirror.py "$f" --data "$DATA" --seed "$s" --init "$init" \
            --threads "$THREADS" --log "$flog" ${EPOCHS:+--epochs "$EPOCHS"} > /dev/null
        fi
        fp=$(acc "$flog")
      fi
      printf '| %s | %s | %s | %s | %s |\n' "$r" "$e" "$s" "$(acc "$log")" "$fp"
    done
  done
done
