#!/usr/bin/env bash
# No loop that holds loops is unrolled in the optimized IR (cg/llvm.c,
# l_next; docs/performance.md, "Loops that hold loops kept rolled"): an
# unrolled outer loop leaves copies of its inner loops, blocks named
# NAME.N (the unroller's suffix) that branch back to themselves, each one
# more loop for the code generator to compile. Full unrolling of innermost
# loops leaves NAME.N blocks too, but none of them is a loop. Before the
# change LeNet-5 had 35 such copies on the host, the MLP 13, vgg_small 18.
#   nest_rolled.sh NITC MODEL.nit...
set -euo pipefail
nitc="$1"
shift
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# "function block" for each copy of a loop: a block NAME.N among its own predecessors
copies() {
  awk '
    /^define/ { f = $0; sub(/\(.*/, "", f); sub(/.*@/, "", f); next }
    /^[A-Za-z0-9._]+\.[0-9]+:/ {
      b = $1; sub(/:$/, "", b)
      p = $0; sub(/.*; preds = /, "", p)
      n = split(p, pr, /, /)
      for (i = 1; i <= n; i++) if (pr[i] == "%" b) { print f, b; break }
    }
  ' "$1"
}

status=0
for model in "$@"; do
  for t in "" "--target x86_64-linux-gnu --cpu x86-64" "--target aarch64-linux-gnu" "--target riscv64-linux-gnu"; do
    # shellcheck disable=SC2086
    "$nitc" "$model" $t --emit llvm -o "$work/opt.ll"
    found="$(copies "$work/opt.ll")"
    if [ -n "$found" ]; then
      echo "$(basename "$model") (${t:-host}): loops copied by unrolling the loop around them:" >&2
      echo "$found" | head -10 >&2
      status=1
    fi
  done
done
[ "$status" = 0 ] && echo "nest_rolled: no inner loop copied by unrolling, on four targets, in $# models"
exit "$status"
