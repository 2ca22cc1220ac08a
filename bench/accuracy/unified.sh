#!/usr/bin/env bash
# unified.sh: experiments E7 and E8 of the unified recipe (docs/results.md,
# "Recipe unified"): lenet5 and resnet_bn on Fashion-MNIST, EPOCHS (5)
# epochs, lr cosine(0.1, period=EPOCHS), momentum 0.9, decay 0.0005, batch 64:
#   g8          recipe ghaffari (8 bits): the baseline
#   u8          recipe unified, its defaults (clip cosine(every=100, range=4),
#               lrscale exp(alpha=20, beta=0.1))
#   u8-off      unified, clip off, lrscale off
#   u4, u4-off  the same two at bits grad=4 (the stress setting of E7a)
#   a10b1, a10b2, a20b2
#               unified with lrscale exp(alpha=10|20, beta=0.1|0.2) (E7b;
#               alpha 20, beta 0.1 is u8)
#   p1, p10, p1000
#               unified with clip cosine(every=1|10|1000) (E7c; 100 is u8)
# Each variant is the network's example file (lenet5_ghaffari.nit,
# resnet_bn.nit) with its train block edited, trained with --seed S and
# logged to OUT/logs/NET-VARIANT-sS.jsonl. Prints, per cell, the final test
# accuracy per seed, the mean, and the median training samples/s; then E8:
# d_c per DSGC site and epoch (the log's "clip" records) of u8 and u4 seed
# 1, and OUT/NET-dc.svg, d_c over the epochs per site (gnuplot).
#
# Environment: NETS="lenet5 resnet_bn", SEEDS="1 2 3" (every lenet5 cell and
# resnet_bn's g8, u8, u4 and u4-off), RSEEDS="1" (resnet_bn's other cells),
# EPOCHS=5, THREADS=2, OUT=out/accuracy/unified, VARIANTS (default: all of
# the above, in that order), DATA=data/fashion-mnist, TRAIN_ARGS (more
# arguments for every train command).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
NITC=${NITC:-$REPO/build/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/unified}
NETS=${NETS:-lenet5 resnet_bn}
SEEDS=${SEEDS:-1 2 3}
RSEEDS=${RSEEDS:-1}
EPOCHS=${EPOCHS:-5}
VARIANTS=${VARIANTS:-g8 u8 u8-off u4 u4-off a10b1 a10b2 a20b2 p1 p10 p1000}
THREADS=${THREADS:-2}
DATA=${DATA:-data/fashion-mnist}
TRAIN_ARGS=${TRAIN_ARGS:-}
mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/nit"
[ -f "$DATA/train-images-idx3-ubyte" ] || { echo "no $DATA: run scripts/fetch-data" >&2; exit 2; }

base() { case "$1" in lenet5) echo examples/lenet5_ghaffari.nit ;; *) echo "examples/$1.nit" ;; esac; }

# variant NET VARIANT -> OUT/nit/NET-VARIANT.nit
variant() {
  local net=$1 v=$2 f="$OUT/nit/$1-$2.nit" recipe=unified extra=""
  case "$v" in
    g8) recipe=ghaffari ;;
    u8) ;;
    u8-off) extra="clip off|lrscale off" ;;
    u4) extra="bits grad=4" ;;
    u4-off) extra="bits grad=4|clip off|lrscale off" ;;
    a10b1) extra="lrscale exp(alpha=10, beta=0.1)" ;;
    a10b2) extra="lrscale exp(alpha=10, beta=0.2)" ;;
    a20b2) extra="lrscale exp(alpha=20, beta=0.2)" ;;
    p1 | p10 | p1000) extra="clip cosine(every=${v#p})" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  local lines="    recipe    $recipe\n    lr        cosine(0.1, period=$EPOCHS)"
  local IFS='|'
  for e in $extra; do lines="$lines\n    $e"; done
  local src
  src=$(base "$net")
  sed -e "s/^model [a-z0-9_]* /model ${net}_${v//-/_} /" -e '/^ *recipe /d' -e '/^ *lr /d' -e '/^ *bits /d' \
      -e '/^ *clip /d' -e '/^ *lrscale /d' -e "s/^train {/train {\n$lines/" "$src" > "$f"
  grep -q "recipe *$recipe" "$f" || { echo "could not make $f" >&2; exit 2; }
  echo "$f"
}

run() { # NET VARIANT SEED -> "ACC SAMPLES_PER_SEC"
  local f exe log
  f=$(variant "$1" "$2")
  exe="$OUT/bin/$1-$2"
  [ -x "$exe" ] && [ "$exe" -nt "$f" ] && [ "$exe" -nt "$NITC" ] || "$NITC" "$f" -o "$exe"
  log="$OUT/logs/$1-$2-s$3.jsonl"
  if [ ! -s "$log" ] || [ "$(grep -c '"test_acc"' "$log")" -lt "$EPOCHS" ]; then
    rm -f "$log"
    echo "[$(date +%H:%M:%S)] $1 $2 seed $3" >&2
    # shellcheck disable=SC2086
    "$exe" train --data "$DATA" --seed "$3" --epochs "$EPOCHS" --threads "$THREADS" --quiet \
      --log "$log" $TRAIN_ARGS > /dev/null
  fi
  local acc sps
  acc=$(grep '"test_acc"' "$log" | tail -1 | sed -E 's/.*"test_acc": ?([0-9.]+).*/\1/')
  sps=$(grep '"samples_per_sec"' "$log" | sed -E 's/.*"samples_per_sec": ?([0-9]+).*/\1/' | sort -n |
        awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  echo "$acc $sps"
}

printf '| network | variant | seeds | test accuracy per seed (%%) | mean | training samples/s (median epoch, seed 1) |\n'
printf '|---|---|---|---|---|---|\n'
for net in $NETS; do
  for v in $VARIANTS; do
    seeds=$SEEDS
    if [ "$net" != lenet5 ]; then
      case "$v" in g8 | u8 | u4 | u4-off) ;; *) seeds=$RSEEDS ;; esac
    fi
    accs=(); sps=""
    for s in $seeds; do
      read -r a r <<< "$(run "$net" "$v" "$s")"
      accs+=("$a"); [ -n "$sps" ] || sps=$r
    done
    mean=$(printf '%s\n' "${accs[@]}" | awk '{s += $1} END {printf "%.2f", 100 * s / NR}')
    list=$(printf '%s\n' "${accs[@]}" | awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), 100 * $1}')
    printf '| %s | %s | %s | %s | %s | %s |\n' "$net" "$v" "$(echo $seeds)" "$list" "$mean" "$sps"
  done
done

# E8: d_c per DSGC site over the epochs (seed 1)
echo
for net in $NETS; do
  for v in u8 u4; do
    log="$OUT/logs/$net-$v-s1.jsonl"
    [ -s "$log" ] || continue
    echo "$net $v, seed 1: per epoch, d_c of each DSGC site (site: d_c / held level)"
    /usr/bin/python3 - "$log" "$OUT/$net-$v-dc.dat" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"clip"' in l]
with open(sys.argv[2], "w") as out:
    for r in rows:
        sites = r["clip"]
        print("  epoch %d: %s" % (r["epoch"], "  ".join("%d: %.5f / %d" % (k, s["dc"], s["level"]) for k, s in enumerate(sites))))
        out.write("%d %s\n" % (r["epoch"], " ".join("%.6f" % s["dc"] for s in sites)))
EOF
  done
  if command -v gnuplot > /dev/null && [ -s "$OUT/$net-u8-dc.dat" ]; then
    n=$(head -1 "$OUT/$net-u8-dc.dat" | awk '{print NF - 1}')
    gnuplot <<EOF
set terminal svg size 720,420
set output "$OUT/$net-dc.svg"
set title "$net, recipe unified, Fashion-MNIST: mean d_c = 1 - cos per DSGC site"
set xlabel "epoch"; set ylabel "mean d_c"; set logscale y; set key outside right
plot for [k=2:$((n + 1))] "$OUT/$net-u8-dc.dat" using 1:k with linespoints title sprintf("site %d, 8-bit", k - 2), \
     for [k=2:$((n + 1))] "$OUT/$net-u4-dc.dat" using 1:k with lines dashtype 2 title sprintf("site %d, 4-bit", k - 2)
EOF
    echo "wrote $OUT/$net-dc.svg"
  fi
done
