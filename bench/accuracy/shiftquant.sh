#!/usr/bin/env bash
# shiftquant.sh: experiments E5 and E6 of the shiftquant recipe
# (docs/results.md, "Recipe shiftquant"): resnet_bn and resnet_l1 on
# Fashion-MNIST, 10 epochs, under `recipe shiftquant`:
#   sq4-channel   bits grad=4, groups channel (the recipe's defaults)
#   sq4-tensor    bits grad=4, groups tensor (per-tensor 4-bit errors)
#   sq444         bits act=4 weight=4 grad=4, groups channel
#   sq4-warmup    sq4-channel with one epoch of warmup (steps(940, ratio=0.01))
# Each variant is the example file with its train block edited (resnet_bn's
# recipe line becomes shiftquant), trained by nitc with --seed S and logged
# to OUT/logs/int8-NET-fashion-mnist-VARIANT-sS.jsonl (its epoch-0 state in
# OUT/ckpt). The fp32 side: resnet_bn's is E1's (bench/accuracy/norm_mirror.sh);
# resnet_l1's is trained here by bench/accuracy/torch_mirror.py (the L1 norm
# module) from the sq4-channel runs' initial states, same seeds. Prints the
# final test accuracy per run and the mean per cell.
#
# Environment: SEEDS="1 2 3" (the sq4-channel cells), VSEEDS="1" (the other
# variants), EPOCHS (the file's), THREADS=2, OUT=out/accuracy/shiftquant.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
NITC=${NITC:-$REPO/build/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/shiftquant}
SEEDS=${SEEDS:-1 2 3}
VSEEDS=${VSEEDS:-1}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-}
mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/nit" "$OUT/ckpt"
PY=/usr/bin/python3
[ -f data/fashion-mnist/train-images-idx3-ubyte ] || { echo "no data/fashion-mnist: run scripts/fetch-data" >&2; exit 2; }

# variant NET VARIANT -> OUT/nit/NET-VARIANT.nit
variant() {
  local net=$1 v=$2 f="$OUT/nit/$1-$2.nit" bits groups warm=""
  case "$v" in
    sq4-channel) bits="grad=4"; groups=channel ;;
    sq4-tensor) bits="grad=4"; groups=tensor ;;
    sq444) bits="act=4 weight=4 grad=4"; groups=channel ;;
    sq4-warmup) bits="grad=4"; groups=channel; warm="\n    warmup    steps(940, ratio=0.01)" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  sed -e "s/^model $net /model ${net}_${v//-/_} /" -e 's/^\( *recipe *\)ghaffari/\1shiftquant/' \
      -e '/^ *bits /d' -e '/^ *groups /d' "examples/$net.nit" |
    sed -e "s/^\( *recipe *shiftquant.*\)$/\1\n    bits      $bits\n    groups    $groups$warm/" > "$f"
  grep -q "recipe *shiftquant" "$f" || { echo "could not make $f" >&2; exit 2; }
  echo "$f"
}

run() { # NET VARIANT SEED
  local f exe log
  f=$(variant "$1" "$2")
  exe="$OUT/bin/$1-$2"
  [ -x "$exe" ] && [ "$exe" -nt "$f" ] && [ "$exe" -nt "$NITC" ] || "$NITC" "$f" -o "$exe"
  log="$OUT/logs/int8-$1-fashion-mnist-$2-s$3.jsonl"
  # epoch records: the nitc log starts with a run record
  if [ ! -s "$log" ] || [ "$(grep -vc '^{"record":"run"' "$log")" -lt "${EPOCHS:-10}" ]; then
    rm -f "$log"
    echo "[$(date +%H:%M:%S)] $1 $2 seed $3" >&2
    "$exe" train --data data/fashion-mnist --seed "$3" --threads "$THREADS" --quiet --log "$log" \
      --save-init "$OUT/ckpt/$1-$2-s$3-init.ckpt" ${EPOCHS:+--epochs "$EPOCHS"} > /dev/null
  fi
  tail -1 "$log" | sed -E 's/.*"test_acc": ?([0-9.]+).*/\1/'
}

printf '| network | variant | seeds | test accuracy per seed (%%) | mean |\n|---|---|---|---|---|\n'
for net in resnet_bn resnet_l1; do
  for v in sq4-channel sq4-warmup sq4-tensor sq444; do
    seeds=$VSEEDS
    [ "$v" = sq4-channel ] || [ "$v" = sq4-warmup ] && seeds=$SEEDS
    accs=()
    for s in $seeds; do accs+=("$(run "$net" "$v" "$s")"); done
    mean=$(printf '%s\n' "${accs[@]}" | awk '{s += $1} END {printf "%.2f", 100 * s / NR}')
    list=$(printf '%s\n' "${accs[@]}" | awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), 100 * $1}')
    printf '| %s | %s | %s | %s | %s |\n' "$net" "$v" "$(echo $seeds)" "$list" "$mean"
  done
done
# fp32 mirror of resnet_l1 from the same initial weights
accs=()
for s in $SEEDS; do
  log="$OUT/logs/fp32-resnet_l1-fashion-mnist-s$s.jsonl"
  if [ ! -s "$log" ] || [ "$(wc -l < "$log")" -lt "${EPOCHS:-10}" ]; then
    echo "[$(date +%H:%M:%S)] fp32 resnet_l1 seed $s" >&2
    nice -n 5 "$PY" bench/accuracy/torch_mirror.py "$OUT/nit/resnet_l1-sq4-channel.nit" --data data/fashion-mnist --seed "$s" \
      --init "$OUT/ckpt/resnet_l1-sq4-channel-s$s-init.ckpt" --threads "$THREADS" --log "$log" \
      ${EPOCHS:+--epochs "$EPOCHS"} > /dev/null
  fi
  accs+=("$(tail -1 "$log" | sed -E 's/.*"test_acc": ?([0-9.]+).*/\1/')")
done
mean=$(printf '%s\n' "${accs[@]}" | awk '{s += $1} END {printf "%.2f", 100 * s / NR}')
list=$(printf '%s\n' "${accs[@]}" | awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), 100 * $1}')
printf '| resnet_l1 | fp32 mirror (L1 norm) | %s | %s | %s |\n' "$(echo $SEEDS)" "$list" "$mean"
