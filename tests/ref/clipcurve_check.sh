#!/usr/bin/env bash
# clipcurve_check.sh BUILD: clipcurve (tests/ref/clipcurve.c) on a tiny
# synthetic dump set. Passes when
#   - every pick equals rec_dsgc_site's search (recorded in the dumps and
#     recomputed by the tool) at 8 bits, and the tool's own re-search at 4;
#   - every curve starts at its pick's l0 and marks exactly one pick;
#   - the tensor within L (max |x| <= 127) has, at 8 bits, l0 = 0 and d_c = 0 (the
#     quantization is exact);
#   - dumps whose recorded levels are off by one are rejected (exit 1).
set -euo pipefail
tool="$1/tests/clipcurve"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "clipcurve_check: $*" >&2; exit 1; }

mkdir "$dir/good" "$dir/bad"
"$tool" --synth "$dir/good"
"$tool" --bits 8,4 "$dir"/good/*.clip > "$dir/out.txt" || fail "the tool rejected its own synthetic dumps"
npick=$(grep -c '^pick ' "$dir/out.txt")
[ "$npick" -eq 10 ] || fail "expected 10 pick lines (5 dumps x 2 widths), got $npick"
marked=$(awk '$1 == "curve" && $9 == 1' "$dir/out.txt" | wc -l)
[ "$marked" -eq 10 ] || fail "expected one marked level per curve, got $marked"
# the runtime column: at 8 bits the recorded level, compared and equal
awk '$1 == "pick" && $5 == 8 && $12 != $8 {bad = 1} END {exit bad}' "$dir/out.txt" || fail "recorded level differs at 8 bits"
awk '$1 == "pick" && $4 == "within" && $5 == 8 && ($7 != 0 || $10 != 0) {bad = 1} END {exit bad}' "$dir/out.txt" ||
  fail "a tensor within L must have l0 = 0 and d_c = 0"
# a pick below l0 somewhere (the heavy-tailed tensors are clipped at 4 bits)
awk '$1 == "pick" && $8 < $7 {n++} END {exit n > 0 ? 0 : 1}' "$dir/out.txt" || fail "no tensor clipped at all"

"$tool" --synth "$dir/bad" --skew 1
if "$tool" --bits 8 "$dir"/bad/*.clip > /dev/null 2>&1; then fail "skewed recorded levels were accepted"; fi
echo "clipcurve_check: ok"
