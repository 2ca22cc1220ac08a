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
usage="bench/recipe_cost.sh [--build DIR] [--samples N] [--runs R] [--threads T]"
. "$(dirname "$0")/lib.sh"
# resnet_bn's body with every batchnorm(...) removed, under the niti defaults
sed -e 's/batchnorm(\(conv[^)]*)\))/\1/g' -e '/^train {/,$d' "$root/examples/resnet_bn.nit" |
  sed -e 's/model resnet_bn/model resnet_plain/' > "$work/resnet_plain.nit"
printf 'train {\n    batch 64\n}\n' >> "$work/resnet_plain.nit"
grep -q batchnorm "$work/resnet_plain.nit" && { echo "could not strip batchnorm from resnet_bn.nit" >&2; exit 2; }
cp "$root/examples/lenet5.nit" "$root/examples/lenet5_ghaffari.nit" "$root/examples/resnet_bn.nit" "$work/"
for m in lenet5 lenet5_ghaffari resnet_plain resnet_bn; do
  "$build/compiler/nitc" "$work/$m.nit" --batch 64 -o "$work/$m"
done
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
