#!/usr/bin/env bash
# Batches larger than gennet's (1..8) against the reference, byte for byte:
# the paths that work on 16 samples at a time (the dense weight gradient's
# error transpose in 16 x 16 tiles, cg/dense.c) and their edges.
#   dense35   batch 35 (two tiles of rows, three left over); layers of 37
#             outputs (two tiles of columns, five left), 16 (one, none
#             left) and 10 (no whole tile)
#   conv17    batch 17, a conv, relu and max pool before dense layers of 48
#             and 7
#   batches.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$build/tests/batches"
rm -rf "$work"; mkdir -p "$work"
cc="${CC:-cc}"

cat > "$work/dense35.nit" <<'NIT'
model dense35 {
  input x[1, 6, 7]
  output classes(10)
  flatten
  dense d1(37)
  relu
  dense d2(16)
  relu
  dense out(10)
}
train { batch 35 }
NIT

cat > "$work/conv17.nit" <<'NIT'
model conv17 {
  input x[2, 8, 8]
  output classes(7)
  conv c1(5, kernel=3, pad=1)
  relu
  maxpool(2)
  flatten
  dense d1(48)
  relu
  dense out(7)
}
train { batch 17 }
NIT

# shellcheck source=tests/codegen/against_ref.sh
. "$(dirname "$0")/against_ref.sh"
against_ref -O2 dense35 conv17
