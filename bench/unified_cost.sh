#!/usr/bin/env bash
# The cost of recipe unified's clip search (experiment E7c's speed side,
# docs/results.md "Recipe unified"): examples/lenet5_unified.nit with
# clip cosine(every=P) for P = 1, 10, 100 (the default), 1000, with clip off
# (CQ at the no-clip level and the cosine every step, no search), and the same
# network under recipe ghaffari. Each executable trains one short epoch
# (--limit N) R times, interleaved; the table shows the median samples/s
# (the executable's own timer, training steps only) and the step time
# against clip off: the search's cost is the difference, and one search's
# cost in steps is every1's ratio minus one.
#   bench/unified_cost.sh [--build DIR] [--samples N] [--runs R] [--threads T]
# Needs data/mnist (scripts/fetch-data). About 3 minutes on two idle cores.
set -euo pipefail
usage="bench/unified_cost.sh [--build DIR] [--samples N] [--runs R] [--threads T]"
. "$(dirname "$0")/lib.sh"
src="$root/examples/lenet5_unified.nit"
variants="every1 every10 every100 every1000 off ghaffari"
for v in $variants; do
  case "$v" in
    every*) sed -e "s/^\( *clip *\).*/\1cosine(every=${v#every}, range=4)/" "$src" > "$work/$v.nit" ;;
    off) sed -e "s/^\( *clip *\).*/\1off/" "$src" > "$work/$v.nit" ;;
    ghaffari) sed -e 's/^\( *recipe *\)unified/\1ghaffari/' -e '/^ *clip /d' -e '/^ *lrscale /d' "$src" > "$work/$v.nit" ;;
  esac
  sed -i "s/^model lenet5_unified /model lenet5_$v /" "$work/$v.nit"
  "$build/compiler/nitc" "$work/$v.nit" --batch 64 -o "$work/$v"
done
for v in $variants; do : > "$work/$v.r"; done
for _ in $(seq "$runs"); do
  for v in $variants; do rate "$v" >> "$work/$v.r"; done
done
off=$(median < "$work/off.r")
printf '| lenet5, recipe unified | samples/s | step time / clip off |\n|---|---|---|\n'
for v in $variants; do
  m=$(median < "$work/$v.r")
  printf '| %s | %.0f | %.3f |\n' "$v" "$m" "$(echo "$off / $m" | bc -l)"
done
# A search every step costs (every1 - off) of clip off's step time; at the
# default period that is a hundredth of it: the difference every100 - off
# itself is within the run-to-run noise.
e1=$(median < "$work/every1.r")
printf 'one search: %.2f steps of clip off (from every1); at every=100: %.2f%% of a step\n' \
  "$(echo "$off / $e1 - 1" | bc -l)" "$(echo "($off / $e1 - 1)" | bc -l)"
echo "($runs runs each, interleaved, median; $samples samples of MNIST, batch 64, $threads threads; load average $(cut -d' ' -f1-3 /proc/loadavg))"
