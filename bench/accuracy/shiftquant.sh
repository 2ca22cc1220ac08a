#!/usr/bin/env bash
# shiftquant.sh: experiments E5 and E6 of the shiftquant recipe
# (docs/results.md, "Recipe shiftquant"): resnet_bn and resnet_l1 on
# Fashion-MNIST, 10 epochs, under `recipe shiftquant`:
#   sq4-channel   bits grad=4, groups channel (the recipe's defaults)
#   sq4-tensor    bits grad=4, groups tensor (per-tensor 4-bit errors)
#   sq444         bits act=4 weight=4 grad=4, groups channel
#   sq4-warmup    sq4-channel with one epoch of warmup (steps(940, ratio=0.01))
#   g8-warmup     the same warmup under `recipe ghaffari` (8-bit errors, no
#                 groups): against the same fp32 mirror, the part of
#                 sq4-warmup's gap that is not its 4-bit errors (not in the
#                 default VARIANTS)
#   w4-tensor     bits act=8 weight=4 grad=4, groups channel: 4-bit weight
#                 views, one scale per tensor (not in the default VARIANTS)
#   w4-channel    the same with groups channel weight=channel: the views by
#                 output channel (not in the default VARIANTS)
# Each variant is the example file with its train block edited (resnet_bn's
# recipe line becomes shiftquant), trained by nitc with --seed S and logged
# to OUT/logs/int8-NET-fashion-mnist-VARIANT-sS.jsonl (its epoch-0 state in
# OUT/ckpt). The fp32 side, trained by bench/accuracy/torch_mirror.py from the
# integer runs' initial states (same seeds) and the same variant file (the
# mirror ignores bits and groups but follows the schedule, warmup included):
#   - resnet_l1 sq4-channel: the L1 norm module, no warmup,
#     OUT/logs/fp32-resnet_l1-fashion-mnist-sS.jsonl;
#   - resnet_bn and resnet_l1 sq4-warmup: the same one epoch of warmup,
#     OUT/logs/fp32-NET-fashion-mnist-warmup-sS.jsonl (E5 like for like);
#     g8-warmup likewise from its own initial states,
#     OUT/logs/fp32-NET-fashion-mnist-warmup-g8-sS.jsonl;
#   - resnet_bn without warmup is E1's (bench/accuracy/norm_mirror.sh).
# Prints the final test accuracy per run and the mean per cell, then per
# seed int8 against its fp32 mirror (the gap int8 - fp32 and each run's
# training seconds), and writes both tables to RESULTS.
#
# Environment: SEEDS="1 2 3" (the sq4-channel, sq4-warmup and g8-warmup cells),
# VSEEDS="1" (the other variants), NETS="resnet_bn resnet_l1",
# VARIANTS="sq4-channel sq4-warmup sq4-tensor sq444", EPOCHS (the file's),
# THREADS=2 (both sides), NICE=5 (nice level of every run),
# OUT=out/accuracy/shiftquant, RESULTS=bench/accuracy/results/shiftquant.md
# (shiftquant-V1+V2.md when VARIANTS is not the default),
# DATA=data/fashion-mnist, TRAIN_ARGS (more arguments for nitc's train
# commands, not the mirror's).
#
# E5 like for like (one epoch of warmup on both sides, 3 seeds, one thread):
#   VARIANTS=sq4-warmup THREADS=1 NICE=10 bench/accuracy/shiftquant.sh
# and its 8-bit counterpart on resnet_bn:
#   NETS=resnet_bn VARIANTS=g8-warmup bench/accuracy/shiftquant.sh
# 4-bit weight views per tensor against by output channel, 3 seeds:
#   VARIANTS="w4-tensor w4-channel" VSEEDS="1 2 3" bench/accuracy/shiftquant.sh
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
NITC=${NITC:-$REPO/build/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/shiftquant}
SEEDS=${SEEDS:-1 2 3}
VSEEDS=${VSEEDS:-1}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-}
NETS=${NETS:-resnet_bn resnet_l1}
ALL_VARIANTS="sq4-channel sq4-warmup sq4-tensor sq444"
VARIANTS=${VARIANTS:-$ALL_VARIANTS}
NICE=${NICE:-5}
if [ -z "${RESULTS:-}" ]; then
  if [ "$(echo $VARIANTS)" = "$ALL_VARIANTS" ]; then RESULTS=$REPO/bench/accuracy/results/shiftquant.md
  else RESULTS=$REPO/bench/accuracy/results/shiftquant-$(echo $VARIANTS | tr ' ' '+').md; fi
fi
DATA=${DATA:-data/fashion-mnist}
TRAIN_ARGS=${TRAIN_ARGS:-}
mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/nit" "$OUT/ckpt"
PY=/usr/bin/python3
[ -f "$DATA/train-images-idx3-ubyte" ] || { echo "no $DATA: run scripts/fetch-data" >&2; exit 2; }

# variant NET VARIANT -> OUT/nit/NET-VARIANT.nit
variant() {
  local net=$1 v=$2 f="$OUT/nit/$1-$2.nit" bits groups warm="" recipe=shiftquant
  case "$v" in
    sq4-channel) bits="grad=4"; groups=channel ;;
    sq4-tensor) bits="grad=4"; groups=tensor ;;
    sq444) bits="act=4 weight=4 grad=4"; groups=channel ;;
    sq4-warmup) bits="grad=4"; groups=channel; warm="\n    warmup    steps(940, ratio=0.01)" ;;
    g8-warmup) recipe=ghaffari; warm="\n    warmup    steps(940, ratio=0.01)" ;;
    w4-tensor) bits="act=8 weight=4 grad=4"; groups=channel ;;
    w4-channel) bits="act=8 weight=4 grad=4"; groups="channel weight=channel" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  local extra="$warm"
  [ "$recipe" = ghaffari ] || extra="\n    bits      $bits\n    groups    $groups$warm"
  sed -e "s/^model $net /model ${net}_${v//-/_} /" -e "s/^\\( *recipe *\\)\\(ghaffari\\|shiftquant\\)/\\1$recipe/" \
      -e '/^ *bits /d' -e '/^ *groups /d' "examples/$net.nit" |
    sed -e "s/^\\( *recipe *$recipe.*\\)$/\\1$extra/" > "$f.new"
  grep -q "recipe *$recipe" "$f.new" || { echo "could not make $f" >&2; exit 2; }
  # unchanged files keep their time, so the executables are not rebuilt
  if cmp -s "$f.new" "$f"; then rm -f "$f.new"; else mv "$f.new" "$f"; fi
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
    # shellcheck disable=SC2086
    nice -n "$NICE" "$exe" train --data "$DATA" --seed "$3" --threads "$THREADS" --quiet --log "$log" \
      --save-init "$OUT/ckpt/$1-$2-s$3-init.ckpt" ${EPOCHS:+--epochs "$EPOCHS"} $TRAIN_ARGS > /dev/null
  fi
  tail -1 "$log" | sed -E 's/.*"test_acc": ?([0-9.]+).*/\1/'
}

acc() { tail -1 "$1" | sed -E 's/.*"test_acc": ?([0-9.]+).*/\1/'; }
secs() { grep -v '^{"record":"run"' "$1" | sed -E 's/.*"seconds": ?([0-9.]+).*/\1/' | awk '{s += $1} END {printf "%.0f", s}'; }
cell() { # NAME SEEDS ACC...: one row of the first table
  local name=$1 seeds=$2 mean list
  shift 2
  mean=$(printf '%s\n' "$@" | awk '{s += $1} END {printf "%.2f", 100 * s / NR}')
  list=$(printf '%s\n' "$@" | awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), 100 * $1}')
  printf '| %s | %s | %s | %s | %s |\n' "${name%% *}" "${name#* }" "$(echo $seeds)" "$list" "$mean"
}

{
printf '| network | variant | seeds | test accuracy per seed (%%) | mean |\n|---|---|---|---|---|\n'
for net in $NETS; do
  for v in $VARIANTS; do
    seeds=$VSEEDS
    [ "$v" = sq4-channel ] || [ "$v" = sq4-warmup ] || [ "$v" = g8-warmup ] && seeds=$SEEDS
    accs=()
    for s in $seeds; do accs+=("$(run "$net" "$v" "$s")"); done
    cell "$net $v" "$seeds" "${accs[@]}"
  done
done
# fp32 mirrors from the same initial weights: resnet_l1 without warmup (the
# sq4-channel file) and both networks with warmup (the sq4-warmup file)
pairs=()
for net in $NETS; do
  for v in $VARIANTS; do
    case "$net:$v" in
      resnet_l1:sq4-channel) tag="" name="fp32 mirror (L1 norm)" ;;
      *:sq4-warmup) tag="-warmup" name="fp32 mirror with warmup" ;;
      *:g8-warmup) tag="-warmup-g8" name="fp32 mirror with warmup (g8-warmup's initial weights)" ;;
      *) continue ;;
    esac
    pairs+=("$net:$v:$tag")
    accs=()
    for s in $SEEDS; do
      log="$OUT/logs/fp32-$net-fashion-mnist$tag-s$s.jsonl" ck="$OUT/ckpt/$net-$v-s$s-init.ckpt"
      [ -f "$ck" ] || { echo "no initial checkpoint $ck" >&2; exit 2; }
      if [ ! -s "$log" ] || [ "$(wc -l < "$log")" -lt "${EPOCHS:-10}" ]; then
        rm -f "$log"
        echo "[$(date +%H:%M:%S)] fp32 $net$tag seed $s" >&2
        OMP_NUM_THREADS=$THREADS nice -n "$NICE" "$PY" bench/accuracy/torch_mirror.py "$OUT/nit/$net-$v.nit" \
          --data "$DATA" --seed "$s" --init "$ck" --threads "$THREADS" --log "$log" \
          ${EPOCHS:+--epochs "$EPOCHS"} > /dev/null
      fi
      accs+=("$(acc "$log")")
    done
    cell "$net $name" "$SEEDS" "${accs[@]}"
  done
done
# per seed: int8 against its fp32 mirror from the same initial weights
if [ ${#pairs[@]} -gt 0 ]; then
  printf '\n| network | variant | seed | int8 (%%) | fp32 mirror (%%) | int8 - fp32 | int8 s | fp32 s |\n|---|---|---|---|---|---|---|---|\n'
  for p in "${pairs[@]}"; do
    IFS=: read -r net v tag <<< "$p"
    for s in $SEEDS; do
      i="$OUT/logs/int8-$net-fashion-mnist-$v-s$s.jsonl" f="$OUT/logs/fp32-$net-fashion-mnist$tag-s$s.jsonl"
      echo "$net $v $s $(acc "$i") $(acc "$f") $(secs "$i") $(secs "$f")"
    done | awk '{d = 100 * ($4 - $5); si += $4; sf += $5; n++; net = $1; v = $2
                 printf "| %s | %s | %s | %.2f | %.2f | %+.2f | %s | %s |\n", $1, $2, $3, 100 * $4, 100 * $5, d, $6, $7}
                END {printf "| %s | %s | mean | %.2f | %.2f | %+.2f | | |\n", net, v, 100 * si / n, 100 * sf / n, 100 * (si - sf) / n}'
  done
fi
} | tee "$RESULTS.$$"
mv "$RESULTS.$$" "$RESULTS"
echo "wrote ${RESULTS#"$REPO"/}" >&2
