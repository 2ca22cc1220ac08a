#!/usr/bin/env bash
# Bodies of one shape fold (compiler/cg/fold.c), bodies of different shapes
# do not:
#   - resnet_tiny's conv1 to conv4 (one shape, different slab offsets): one
#     forward body, conv1.body, which reads its offset from a table; every
#     layer has its own table, with its own offset;
#   - vgg_small's c3 and c4 (different shapes): two forward bodies, no table.
# Their bytes are the differential suite's to check (codegen_diff compares
# random networks that fold against tests/ref).
#   fold.sh NITC EXAMPLES_DIR WORK_DIR
set -uo pipefail
nitc="$1"; examples="$2"; work="$3"
mkdir -p "$work"
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

ll="$work/resnet_tiny.ll"
"$nitc" "$examples/resnet_tiny.nit" --emit llvm -O0 -o "$ll" || { echo "FAIL nitc on resnet_tiny"; exit 1; }
grep -q '^define internal void @conv1\.body(' "$ll" || fail "resnet_tiny: no conv1.body"
for c in conv2 conv3 conv4; do
  grep -q "^define internal void @$c\.body(" "$ll" && fail "resnet_tiny: $c.body was not folded into conv1.body"
done
grep -A3 '^define internal void @conv1\.body(' "$ll" | grep -q '%consts = load ptr' ||
  fail "resnet_tiny: conv1.body does not read its offsets from env.consts"
# one table per layer, four different offsets
tabs="$(grep -E '^@conv[1-4]\.consts = private' "$ll" | sed -E 's/^@(conv[1-4])\.consts = .*\[i64 ([0-9]+)\]$/\1 \2/')"
[ "$(echo "$tabs" | awk 'NF == 2' | wc -l)" = 4 ] || fail "resnet_tiny: want a table of one offset for each of conv1..conv4, got: $tabs"
[ "$(echo "$tabs" | awk '{ print $2 }' | sort -u | wc -l)" = 4 ] || fail "resnet_tiny: the four tables do not hold four offsets: $tabs"

ll="$work/vgg_small.ll"
"$nitc" "$examples/vgg_small.nit" --emit llvm -O0 -o "$ll" || { echo "FAIL nitc on vgg_small"; exit 1; }
for c in c3 c4; do
  grep -q "^define internal void @$c\.body(" "$ll" || fail "vgg_small: $c.body (a shape of its own) was folded"
done
grep -qE '^@c[34]\.consts = ' "$ll" && fail "vgg_small: c3 or c4 has a table of offsets"

[ "$fails" = 0 ] && echo "fold: resnet_tiny's conv1..conv4 share one body; vgg_small's c3 and c4 keep theirs"
exit $((fails > 0))
