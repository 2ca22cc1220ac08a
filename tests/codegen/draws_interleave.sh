#!/usr/bin/env bash
# The loops that draw (round8's stochastic loop and its gated twin, the optimizer's nit_rq_*
# passes) carry llvm.loop.interleave.count 4 on x86 with AVX2 and no
# AVX-512, and no loop carries it elsewhere (cg/round.c, l_next_draws;
# docs/performance.md, "Draw loops interleaved on AVX2"). What the hint
# computes is the differential tests' business; this checks that it is
# placed where it was measured, and only there.
#   draws_interleave.sh NITC MODEL.nit
set -euo pipefail
nitc="$1" model="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# the functions with a loop whose metadata holds the interleave hint
interleaved() {
  awk '
    /^![0-9]+ = !\{!"llvm.loop.interleave.count", i32 4\}/ { hint[$1] = 1; next }
    /^![0-9]+ = distinct !\{/ { node[$1] = $0; next }
    /^define/ { f = $0; sub(/\(.*/, "", f); sub(/.*@/, "", f); next }
    match($0, /!llvm.loop ![0-9]+/) { id = substr($0, RSTART + 11, RLENGTH - 11); uses[f] = uses[f] " " id }
    END {
      for (l in node) for (h in hint) if (index(node[l], ", " h "}") || index(node[l], ", " h ",")) loop[l] = 1
      for (f in uses) { n = split(uses[f], ids, " "); for (i = 1; i <= n; i++) if (ids[i] in loop) { print f; break } }
    }
  ' "$1" | sort
}

"$nitc" "$model" --target x86_64-linux-gnu --cpu x86-64-v3 --emit llvm -O0 -o "$work/v3.ll"
got="$(interleaved "$work/v3.ll" | tr '\n' ' ')"
# nit_round8g_i32: the gated round8, where a relu's backward folds into the
# next layer's error rounding (mlp_ln's, under ghaffari)
want="nit_round8_i32 nit_round8_i64 nit_round8g_i32 nit_rq_g31_i32 nit_rq_g31_i64 nit_rq_master nit_rq_view "
if [ "$got" != "$want" ]; then
  echo "x86-64-v3: the interleaved loops are in [$got], expected [$want]" >&2
  exit 1
fi
for t in "x86_64-linux-gnu --cpu x86-64-v4" "x86_64-linux-gnu --cpu x86-64" aarch64-linux-gnu riscv64-linux-gnu; do
  # shellcheck disable=SC2086
  "$nitc" "$model" --target $t --emit llvm -O0 -o "$work/other.ll"
  if grep -q 'llvm.loop.interleave.count' "$work/other.ll"; then
    echo "$t: a loop is interleaved, though only AVX2 without AVX-512 was measured" >&2
    exit 1
  fi
done
echo "draws_interleave: the draw loops interleaved on x86-64-v3 ($want), nowhere else"
