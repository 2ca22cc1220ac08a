#!/usr/bin/env bash
# loss_table.sh: docs/results.md's item 7 measured. NITI's loss gradient
# (docs/numerics.md, "Loss gradient") clamps each class's exponent distance
# at 10 binary orders, so a sample stops pushing its margin once the
# runner-up is about 2^-10 as likely; the table softmax of the recipes with
# masters (docs/recipes.md, "Loss") follows 31 orders. This trains each
# NET of NETS on DATA twice per seed, as shipped (NITI's softmax) and with
# `loss softmax_ce(exp=table)` added to its train block (recipe niti
# otherwise unchanged: the row then goes through RQ_8 in the err mode), and
# prints per run the final training loss (the runtime's, from the int8
# logits), the final test loss and accuracy, then the means over seeds.
# A NET of a recipe with masters (lenet5_ghaffari, ...) is trained the other
# way round: as shipped (the table softmax) and with `loss
# softmax_ce(exp=niti)` (NITI's row through the recipe's error quantizer).
#
# Environment: NETS="lenet5 mlp", DATA=fashion-mnist, SEEDS="1 2 3",
# THREADS=2, OUT=out/accuracy/loss_table, NITC=build/compiler/nitc,
# DATA_ROOT=data (DATA is a directory in it), TRAIN_ARGS (more arguments
# for every train command).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
NITC=${NITC:-$REPO/build/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/loss_table}
NETS=${NETS:-lenet5 mlp}
DATA=${DATA:-fashion-mnist}
SEEDS=${SEEDS:-1 2 3}
THREADS=${THREADS:-2}
DATA_ROOT=${DATA_ROOT:-data}
TRAIN_ARGS=${TRAIN_ARGS:-}
[ -x "$NITC" ] || { echo "loss_table.sh: no nitc at $NITC (build first, or set NITC)" >&2; exit 2; }
[ -d "$DATA_ROOT/$DATA" ] || { echo "loss_table.sh: no $DATA_ROOT/$DATA: run scripts/fetch-data" >&2; exit 2; }
mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/nit"
# last LOG FIELD: FIELD of the log's last epoch record
last() { grep '"epoch"' "$1" | tail -1 | sed -E "s/.*\"$2\":([0-9.]+).*/\\1/"; }
printf '| network | softmax | seed | train loss | test loss | test accuracy |\n|---|---|---|---:|---:|---:|\n'
summary=""
for net in $NETS; do
  grep -q "^train {" "examples/$net.nit" || { echo "loss_table.sh: $net.nit has no 'train {' line" >&2; exit 2; }
  own=niti other=table # the file's softmax and the variant's
  grep -Eq "^ *recipe +(ghaffari|shiftquant|unified)" "examples/$net.nit" && own=table other=niti
  cp "examples/$net.nit" "$OUT/nit/$net-$own.nit"
  sed "s/^train {/train {\n    loss softmax_ce(exp=$other)/" "examples/$net.nit" > "$OUT/nit/$net-$other.nit"
  for loss in $own $other; do
    "$NITC" "$OUT/nit/$net-$loss.nit" -o "$OUT/bin/$net-$loss"
    sums="" # "train test acc" per seed, averaged below
    for seed in $SEEDS; do
      log="$OUT/logs/$net-$loss-$DATA-s$seed.jsonl"
      rm -f "$log"
      # shellcheck disable=SC2086
      "$OUT/bin/$net-$loss" train --data "$DATA_ROOT/$DATA" --seed "$seed" --threads "$THREADS" --quiet --log "$log" \
        $TRAIN_ARGS 2> /dev/null
      a=$(last "$log" train_loss) b=$(last "$log" test_loss) c=$(last "$log" test_acc)
      printf '| %s | %s | %s | %s | %s | %s%% |\n' "$net" "$loss" "$seed" "$a" "$b" "$(awk -v c="$c" 'BEGIN { printf "%.2f", 100 * c }')"
      sums+="$a $b $c"$'\n'
    done
    summary+=$(printf '%s' "$sums" | awk -v net="$net" -v loss="$loss" \
      '{ t += $1; x += $2; a += $3; n++ }
       END { printf "| %s | %s | mean of %d | %.4f | %.4f | %.2f%% |", net, loss, n, t / n, x / n, 100 * a / n }')$'\n'
  done
done
printf '%s' "$summary"
