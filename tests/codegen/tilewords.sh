#!/usr/bin/env bash
# Conv GEMMs whose panel words are built in the tile (cg/convtile.c; x86
# with AVX512-VBMI), against the reference byte for byte, and against the
# panel forms (NITC_TILE_WORDS=0):
#   tilewords  c1 two groups of one input channel and 3 outputs, c3 one
#              input channel and 6 outputs (the tile's whole height), its
#              input a relu's. Their forwards gather 8 panels of 16
#              positions, the last of 8, as two tiles of 3 panels and one
#              of 2; their weight gradients have the 25 taps in 2 panels,
#              the second of 9. Also with every conv rounding ahead
#              (NITC_AHEAD_BYTES=0), and trained with one thread and three
#              at uneven speeds to the checkpoint the panel forms write
#   tilewords.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$build/tests/tilewords"
rm -rf "$work"; mkdir -p "$work"
cc="${CC:-cc}"

cat > "$work/tilewords.nit" <<'NIT'
model tilewords {
  input x[2, 10, 12]
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
cp "$work/tilewords.nit" "$work/tilewords_ahead.nit"

# shellcheck source=tests/codegen/against_ref.sh
. "$(dirname "$0")/against_ref.sh"

# where the host has VBMI, c1's and c3's forwards (c1.body, c3.body) and
# weight gradients (a later cN.body.M) build their words in the tile, and
# with NITC_TILE_WORDS=0 store panels instead
"$build/compiler/nitc" "$work/tilewords.nit" --emit llvm -o "$work/on.ll"
NITC_TILE_WORDS=0 "$build/compiler/nitc" "$work/tilewords.nit" --emit llvm -o "$work/off.ll"
# in_body LL BODY PATTERN: some function @BODY (an awk pattern) has a line matching PATTERN
in_body() { awk -v f="^define internal void @$2\\(" -v p="$3" '$0 ~ f { on = 1 } on && $0 ~ p { n = 1 } on && /^}/ { on = 0 } END { exit !n }' "$1"; }
if grep -q 'permvar\.qi\.512' "$work/on.ll"; then
  for c in c1 c3; do
    if ! in_body "$work/on.ll" "$c\\.body" '%gj' || in_body "$work/off.ll" "$c\\.body" '%gj' ||
       ! in_body "$work/off.ll" "$c\\.body" '%gather\.e'; then
      echo "tilewords: $c's forward not gathered in the tile, or in the tile with NITC_TILE_WORDS=0" >&2
      exit 1
    fi
    if ! in_body "$work/on.ll" "$c\\.body\\.[0-9]+" '%e\.q' || in_body "$work/off.ll" "$c\\.body\\.[0-9]+" '%e\.q'; then
      echo "tilewords: $c's weight gradient not in the tile, or in the tile with NITC_TILE_WORDS=0" >&2
      exit 1
    fi
  done
else
  echo "tilewords: this host has no AVX512-VBMI; the GEMMs take other forms (checked against the reference only)"
fi

against_ref -O2 tilewords
NITC_AHEAD_BYTES=0 against_ref -O2 tilewords_ahead

mkdir -p "$work/data"
"$build/tests/nitrt_mkdata" idx "$work/data" 40 10 2 10 12 5
on_off tilewords data NITC_TILE_WORDS
echo "tilewords: words in the tile and stored panels write the same checkpoint"
