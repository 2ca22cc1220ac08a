#!/usr/bin/env bash
# The cost of a recipe-ghaffari training step against niti's, on the same
# network: lenet5.nit vs lenet5_ghaffari.nit, and resnet_bn.nit vs the same
# residual body without its batchnorm layers under niti (written here; niti
# has no normalization layers). Each executable trains one short epoch
# (--limit N) R times, alternating with its partner; the table shows the
# median samples/s (the executable's own timer, training steps only) and the
# ratio ghaffari/niti.
#   bench/recipe_cost.sh [--build DIR] [--samples N] [--runs R] [--threads T]
# Needs data/mnist (scripts/fetch-data). About 2 minutes on two idle cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build"; samples=6400; runs=5; threads=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "usage: bench/recipe_cost.sh [--build DIR] [--samples N] [--runs R] [--threads T]" >&2; exit 2 ;;
  esac
done
data="$root/data/mnist"
[ -f "$data/train-images-idx3-ubyte" ] || { echo "no $data: run scripts/fetch-data" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# resnet_bn's body with every batchnorm(...) removed, under the niti defaults
sed -e 's/batchnorm(\(conv[^)]*)\))/\1/g' -e '/^train {/,$d' "$root/examples/resnet_bn.nit" |
  sed -e 's/model resnet_bn/model resnet_plain/' > "$work/resnet_plain.nit"
printf 'train {\n    batch 64\n}\n' >> "$work/resnet_plain.nit"
grep -q batchnorm "$work/resnet_plain.nit" && { echo "could not strip batchnorm from resnet_bn.nit" >&2; exit 2; }
cp "$root/examples/lenet5.nit" "$root/examples/lenet5_ghaffari.nit" "$root/examples/resnet_bn.nit" "$work/"
for m in lenet5 lenet5_ghaffari resnet_plain resnet_bn; do
  "$build/compiler/nitc" "$work/$m.nit" --batch 64 -o "$work/$m"
done
rate() { # executable -> samples/s of one epoch
  "$work/$1" train --data "$data" --epochs 1 --limit "$samples" --test-limit 100 --batch 64 \
    --threads "$threads" --quiet --log "$work/$1.jsonl" > /dev/null
  sed -E 's/.*"samples_per_sec":([0-9.]+).*/\1/' "$work/$1.jsonl" | tail -1
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
printf '| network | niti samples/s | ghaffari samples/s | ghaffari / niti |\n|---|---|---|---|\n'
for pair in lenet5:lenet5_ghaffari resnet_plain:resnet_bn; do
  a=${pair%%:*}; b=${pair##*:}
  : > "$work/a"; : > "$work/b"
  for _ in $(seq "$runs"); do
    rate "$a" >> "$work/a"; rate "$b" >> "$work/b"
  done
  ma=$(median < "$work/a"); mb=$(median < "$work/b")
  printf '| %s / %s | %.0f | %.0f | %.2f |\n' "$a" "$b" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)"
done
echo "($runs runs each, median; $samples samples of MNIST, batch 64, $threads threads)"
