#!/usr/bin/env bash
# Conv forwards whose panels are gathered by groups of four rows (im2col.c,
# pack_gather4: the ubs kernel, forced here with NITC_GEMM=ubs so that any
# x86-64 host with AVX2 runs it), against the reference byte for byte, and
# against the panels with ky segments padded to words (NITC_GATHER=0):
#   gather4  c1 three input channels, 3 x 3 (K 27 in 28 bytes, padded 36);
#            c2 two groups of three channels, 5 x 5, its input a relu's
#            (K 75 in 76, padded 80); c3 four channels, 3 x 3 (K 36
#            either way: a group's word is 16 contiguous bytes, one load);
#            c4 one channel, 5 x 5 at stride 2 (K 25 in 28, padded 40: a
#            word's taps from up to two kernel rows, rows two bytes apart),
#            48 positions (3 panels)
#   gather4.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$build/tests/gather4"
rm -rf "$work"; mkdir -p "$work"
cc="${CC:-cc}"
export NITC_GEMM=ubs

cat > "$work/gather4.nit" <<'NIT'
model gather4 {
  input x[3, 12, 16]
  output classes(5)
  conv c1(6, kernel=3, pad=1)
  relu
  conv c2(4, kernel=5, pad=2, groups=2)
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
  echo "gather4: the host is not x86-64 with AVX2 (no ubs kernel); nothing to test"
  exit 0
fi
"$build/compiler/nitc" "$work/gather4.nit" --emit llvm -o "$work/on.ll"
NITC_GATHER=0 "$build/compiler/nitc" "$work/gather4.nit" --emit llvm -o "$work/off.ll"
# in_body LL BODY PATTERN: the function @BODY has a line matching PATTERN
in_body() { awk -v f="^define internal void @$2\\(" -v p="$3" '$0 ~ f { on = 1 } on && $0 ~ p { n = 1 } on && /^}/ { on = 0 } END { exit !n }' "$1"; }
for c in c1 c2 c3 c4; do
  if ! in_body "$work/on.ll" "$c\\.body" '%g4\.at' || in_body "$work/off.ll" "$c\\.body" '%g4\.at'; then
    echo "gather4: $c's forward not gathered by groups of four, or gathered with NITC_GATHER=0" >&2
    exit 1
  fi
done
echo "gather4: c1..c4 gather their forward panels by groups of four rows"

against_ref -O2 gather4

mkdir -p "$work/data"
"$build/tests/nitrt_mkdata" idx "$work/data" 40 10 3 12 16 5
on_off gather4 data NITC_GATHER
echo "gather4: groups of four and padded segments write the same checkpoint"
