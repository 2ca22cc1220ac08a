#!/usr/bin/env bash
# The conv panel forms of the ubs kernel (x86-64 with AVX2, forced here with
# NITC_GEMM=ubs so that any such host runs them): forward panels gathered by
# groups of four rows (im2col.c, pack_gather4) and panels read in place from
# a quad-major copy (implicit_fits), against the reference byte for byte, and
# against the padded panels (NITC_GATHER=0, NITC_IMPLICIT=0):
#   ubs_panels  c1 three input channels, 3 x 3 (gathered: K 27 in 28 bytes,
#               padded 36); c2 two groups of three channels, 5 x 5, its
#               input a relu's (gathered: K 75 in 76, padded 80), and its
#               input error implicit (four outputs a group, rows of 16);
#               c3 eight channels, 3 x 3, rows of 16 (implicit forward); c4
#               one channel, 5 x 5 at stride 2 (gathered: K 25 in 28,
#               padded 40, a word's taps from up to two kernel rows, rows
#               two bytes apart), 48 positions (3 panels)
#   ubs_panels.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$build/tests/ubs_panels"
rm -rf "$work"; mkdir -p "$work"
cc="${CC:-cc}"
export NITC_GEMM=ubs

cat > "$work/ubs_panels.nit" <<'NIT'
model ubs_panels {
  input x[3, 12, 16]
  output classes(5)
  conv c1(6, kernel=3, pad=1)
  relu
  conv c2(8, kernel=5, pad=2, groups=2)
  relu
  conv c3(1, kernel=3, pad=1)
  relu
  conv c4(3, kernel=5, pad=2, stride=2)
  relu
  flatten
  dense out(5)
}
train { batch 5 }
NIT

# shellcheck source=tests/codegen/against_ref.sh
. "$(dirname "$0")/against_ref.sh"

if [[ "$(uname -m)" != x86_64 ]] || ! grep -qw avx2 /proc/cpuinfo; then
  echo "ubs_panels: the host is not x86-64 with AVX2 (no ubs kernel); nothing to test"
  exit 0
fi
"$build/compiler/nitc" "$work/ubs_panels.nit" --emit llvm -o "$work/on.ll"
NITC_GATHER=0 NITC_IMPLICIT=0 "$build/compiler/nitc" "$work/ubs_panels.nit" --emit llvm -o "$work/off.ll"
# in_body LL BODY PATTERN: the function @BODY has a line matching PATTERN
in_body() { awk -v f="^define internal void @$2\\(" -v p="$3" '$0 ~ f { on = 1 } on && $0 ~ p { n = 1 } on && /^}/ { on = 0 } END { exit !n }' "$1"; }
for c in c1 c2 c4; do
  if ! in_body "$work/on.ll" "$c\\.body" '%g4\.at' || in_body "$work/off.ll" "$c\\.body" '%g4\.at'; then
    echo "ubs_panels: $c's forward not gathered by groups of four, or gathered with NITC_GATHER=0" >&2
    exit 1
  fi
done
# the implicit forms' tap tables: c3's forward, c2's input error (flipped rows)
for t in c3.quads c2.equads; do
  if ! grep -q "^@$t = " "$work/on.ll" || grep -q "^@$t = " "$work/off.ll"; then
    echo "ubs_panels: no $t table (implicit panels), or one with NITC_IMPLICIT=0" >&2
    exit 1
  fi
done
echo "ubs_panels: c1, c2, c4 gather their forward panels by groups of four; c3's forward and c2's input error read theirs in place"

against_ref -O2 ubs_panels

mkdir -p "$work/data"
"$build/tests/nitrt_mkdata" idx "$work/data" 40 10 3 12 16 5
on_off ubs_panels data NITC_GATHER NITC_IMPLICIT
echo "ubs_panels: gathered, implicit and padded panels write the same checkpoint"
