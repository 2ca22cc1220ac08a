#!/usr/bin/env bash
# Conv forwards whose gathered panel words are built in the GEMM's tile
# (cg/convgather.c; x86 with AVX512-VBMI), against the reference byte for
# byte, and against the panel form (NITC_GATHER_TILE=0):
#   gather  c1 two groups of one input channel and 3 outputs (a group's
#           tile: 7 panels of 16 positions, the last of 14, as two tiles
#           of 3 and one of 1), c3 one input channel and 6 outputs (the
#           tile's whole height), its input a relu's; also with every
#           conv rounding ahead (NITC_AHEAD_BYTES=0), and trained with one
#           thread and three at uneven speeds to the checkpoint the panel
#           form writes
#   gather.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$build/tests/gather"
rm -rf "$work"; mkdir -p "$work"
cc="${CC:-cc}"

cat > "$work/gather.nit" <<'NIT'
model gather {
  input x[2, 10, 11]
  output classes(5)
  conv c1(6, kernel=5, pad=2, groups=2)
  relu
  conv c2(1, kernel=3, pad=1)
  relu
  conv c3(6, kernel=5, pad=2)
  relu
  maxpool(2)
  flatten
  dense out(5)
}
train { batch 7 }
NIT
cp "$work/gather.nit" "$work/gather_ahead.nit"

# shellcheck source=tests/codegen/against_ref.sh
. "$(dirname "$0")/against_ref.sh"

# where the host gathers (VBMI), c1's and c3's forwards take the tile, and
# with NITC_GATHER_TILE=0 they gather into stored panels instead
"$build/compiler/nitc" "$work/gather.nit" --emit llvm -o "$work/gather.ll"
NITC_GATHER_TILE=0 "$build/compiler/nitc" "$work/gather.nit" --emit llvm -o "$work/gather_off.ll"
body_has() { awk -v f="^define internal void @$2\\.body\\(" -v p="$3" '$0 ~ f { on = 1 } on && $0 ~ p { n = 1 } on && /^}/ { on = 0 } END { exit !n }' "$1"; }
if grep -q 'permvar\.qi\.512' "$work/gather.ll"; then
  for c in c1 c3; do
    if ! body_has "$work/gather.ll" $c '%gj' || body_has "$work/gather_off.ll" $c '%gj' ||
       ! body_has "$work/gather_off.ll" $c '%gather\.e'; then
      echo "gather: $c's forward not gathered in the tile, or in the tile with NITC_GATHER_TILE=0" >&2
      exit 1
    fi
  done
else
  echo "gather: this host has no AVX512-VBMI; the forwards take other forms (checked against the reference only)"
fi

against_ref -O2 gather
NITC_AHEAD_BYTES=0 against_ref -O2 gather_ahead

mkdir -p "$work/data"
"$build/tests/nitrt_mkdata" idx "$work/data" 40 10 2 10 11 5
on_off gather data NITC_GATHER_TILE
echo "gather: panel words in the tile and stored panels write the same checkpoint"
