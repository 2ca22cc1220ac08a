#!/usr/bin/env bash
# Batches larger than gennet's (1..8) against the reference, byte for byte:
# the paths that work on 16 samples at a time (the dense weight gradient's
# error transpose in 16 x 16 tiles, cg/dense.c) and their edges.
#   dense35   batch 35 (two tiles of rows, three left over); layers of 37
#             outputs (two tiles of columns, five left), 16 (one, none
#             left) and 10 (no whole tile); also trained with one thread
#             and with three at uneven speeds to the same bytes (each
#             worker transposes its own rows of e^T: d1's three blocks, the
#             last a partial tile, go to three workers), compiled with
#             NITC_DENSE_MACS=0 so that its small layers split at all;
#             by default d2's and out's backward GEMMs run side by side
#             (plan_pairs), with NITC_PAIR=0 one after the other: the same
#             checkpoint all three ways
#   rows33    batch 33, a dense layer of 130 outputs (eight panels and
#             two columns) over 255 inputs (no whole quad at the end):
#             1.09 M multiply-adds, so its forward splits by samples, each
#             worker packing every panel (plan.c, plan_fwd_rows); against
#             the reference, on one thread and three at uneven speeds, and
#             the same checkpoint as with NITC_DENSE_ROWS=0 (one worker);
#             rows33_ghaffari is rows33 under recipe ghaffari
#   krows     convs whose input error takes kernel rows (cg/conv.c,
#             krows_fits; VNNI targets): rows of 17 pixels (two panels)
#             and of 13 with a border; against the reference, and the
#             same checkpoint as with NITC_KROWS=0 (col2im)
#   conv17    batch 17, a conv, relu and max pool before dense layers of 48
#             and 7
#   quads     convs whose forward reads its input in place (stride 1, input
#             channels per group a multiple of 4, output width a multiple
#             of 16: im2col.c's quad_copy; on VNNI targets), and whose input
#             error reads the error in place (output channels per group a
#             multiple of 4, input width a multiple of 16): two panels per
#             row with a border, a 1x1 conv, groups of 4 channels (c1's
#             weight gradient packs its error by 16 x 16 quads: gemm.c's
#             PACK_ROWS); quads14
#             and quads17 copy rows of 14 and 17 pixels (no whole 16, and
#             one 16 and 1 left); quads_unified is quads under recipe unified
#   wsum      conv weight gradients whose workers' partials are summed by
#             16 x 16 tiles (conv.c's wsum_tile: output channels per group
#             and K multiples of 16): c1 and c2 (groups of 16) by the
#             caller, c3 (36,864 weights) in a parallel loop; trained with
#             one thread and with three at uneven speeds, the checkpoints
#             must be the same bytes (the partials of three workers)
#   quads_stream  quads with NITC_STREAM_BYTES=0: every conv GEMM whose
#             rows of C start on cache lines stores them non-temporally
#             (gemm.c's .nt kernels; the IR must have them); trained with
#             one thread and with three at uneven speeds to the same bytes
#   wsum_ahead  wsum with NITC_AHEAD_BYTES=0: every conv rounds ahead
#             (cg/round.c, "Rounding ahead"; the IR must have it), against
#             the reference, and trained with one thread and with three at
#             uneven speeds to wsum's checkpoint
#   wsum_ghaffari  wsum under recipe ghaffari (masters, momentum 0.9):
#             c3's 36,864 weights take the optimizer's element passes on
#             the workers (cg/sgd.c, pass), the smaller tensors on the
#             caller; against the reference, and trained with one thread
#             and with three at uneven speeds to the same bytes
#   convrows  conv forwards by output rows (cg/convrows.c, rows_fits; VNNI
#             targets, input a relu's or a pool's): c2 two panels of
#             output channels over rows of 6 with a border (36 positions,
#             a partial block of 16), c3 a valid 5x5 of 32 channels (K of
#             800) over rows of 2, c4 groups of 16 (c1's input may be
#             negative: panels); against the reference
#             (also rounding ahead), and the same checkpoint as with
#             NITC_ROWS=0 (panels), on one thread and three
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

cat > "$work/rows33.nit" <<'NIT'
model rows33 {
  input x[1, 15, 17]
  output classes(10)
  flatten
  dense d1(130)
  relu
  dense out(10)
}
train { batch 33 }
NIT

cat > "$work/krows.nit" <<'NIT'
model krows {
  input x[4, 19, 19]
  output classes(5)
  conv a(8, kernel=3)
  relu
  conv b(8, kernel=5)
  relu
  conv c(4, kernel=5, pad=1)
  relu
  flatten
  dense out(5)
}
train { batch 6 }
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

cat > "$work/quads.nit" <<'NIT'
model quads {
  input x[4, 6, 32]
  output classes(5)
  conv c1(16, kernel=3, pad=1)
  relu
  maxpool(2)
  conv c2(8, kernel=1)
  relu
  conv c3(8, kernel=3, pad=1, groups=2)
  relu
  flatten
  dense out(5)
}
train { batch 5 }
NIT

sed -e 's/model quads /model quads_stream /' "$work/quads.nit" > "$work/quads_stream.nit"
sed -e 's/model quads /model quads_unified /' -e 's/train { batch 5 }/train { batch 5\n  recipe unified }/' \
  "$work/quads.nit" > "$work/quads_unified.nit"

cat > "$work/quads14.nit" <<'NIT'
model quads14 {
  input x[4, 3, 14]
  output classes(3)
  conv c1(4, kernel=3, pad=2)
  relu
  flatten
  dense out(3)
}
train { batch 3 }
NIT

cat > "$work/quads17.nit" <<'NIT'
model quads17 {
  input x[8, 3, 17]
  output classes(3)
  conv c1(4, kernel=2)
  relu
  flatten
  dense out(3)
}
train { batch 3 }
NIT

cat > "$work/wsum.nit" <<'NIT'
model wsum {
  input x[16, 6, 8]
  output classes(5)
  conv c1(32, kernel=3, pad=1)
  relu
  conv c2(32, kernel=3, pad=1, groups=2)
  relu
  conv c3(128, kernel=3, pad=1)
  relu
  flatten
  dense out(5)
}
train { batch 6 }
NIT

cat > "$work/convrows.nit" <<'NIT'
model convrows {
  input x[3, 12, 12]
  output classes(5)
  conv c1(16, kernel=3, pad=1)
  relu
  maxpool(2)
  conv c2(32, kernel=3, pad=1)
  relu
  conv c3(32, kernel=5)
  relu
  conv c4(32, kernel=3, pad=1, groups=2)
  relu
  flatten
  dense out(5)
}
train { batch 7 }
NIT
cp "$work/convrows.nit" "$work/convrows_ahead.nit"

sed -e 's/^model rows33 {/model rows33_ghaffari {/' -e 's/^train { batch 33 }/train { recipe ghaffari\n  batch 33\n  momentum 0.9 }/' \
  "$work/rows33.nit" > "$work/rows33_ghaffari.nit"
sed -e 's/^model wsum {/model wsum_ghaffari {/' -e 's/^train { batch 6 }/train { recipe ghaffari\n  batch 6\n  momentum 0.9 }/' \
  "$work/wsum.nit" > "$work/wsum_ghaffari.nit"

# shellcheck source=tests/codegen/against_ref.sh
. "$(dirname "$0")/against_ref.sh"
against_ref -O2 dense35 rows33 rows33_ghaffari conv17 quads quads14 quads17 quads_unified wsum wsum_ghaffari krows \
  convrows
NITC_AHEAD_BYTES=0 against_ref -O2 convrows_ahead
NITC_STREAM_BYTES=0 "$build/compiler/nitc" "$work/quads_stream.nit" --emit llvm -o "$work/quads_stream.ll"
if ! grep -q '^define.*@nit_gemm\.[a-z]*\.i32.*\.nt(' "$work/quads_stream.ll"; then
  echo "quads_stream: no .nt GEMM kernel in the IR" >&2
  exit 1
fi
NITC_STREAM_BYTES=0 against_ref -O2 quads_stream

mkdir -p "$work/ddata"
"$build/tests/nitrt_mkdata" idx "$work/ddata" 70 10 1 6 7 10
# every dense layer on all the workers: dense35's are far below
# DENSE_MACS_PER_WORKER, which would leave them on one
NITC_DENSE_MACS=0 "$build/compiler/nitc" "$work/dense35.nit" -o "$work/dense35"
NITC_DENSE_MACS=0 "$build/compiler/nitc" "$work/dense35.nit" --emit llvm -o "$work/dense35.all.ll"
"$build/compiler/nitc" "$work/dense35.nit" --emit llvm -o "$work/dense35.one.ll"
if cmp -s "$work/dense35.all.ll" "$work/dense35.one.ll"; then
  echo "dense35: NITC_DENSE_MACS=0 left the IR as it was (its dense layers would not split)" >&2
  exit 1
fi
same_bytes dense35 ddata
# by default each of dense35's layers runs on one worker, and d2's and out's
# input error and weight gradient side by side (plan.c, plan_pairs; against
# the reference above); NITC_PAIR=0 runs them one after the other: the
# same bytes as the split layers' on one thread and three
NITC_PAIR=0 "$build/compiler/nitc" "$work/dense35.nit" --emit llvm -o "$work/dense35.nopair.ll"
if ! grep -q '^define internal void @d2\.pair\.body' "$work/dense35.one.ll" ||
  grep -q '\.pair\.body' "$work/dense35.nopair.ll"; then
  echo "dense35: no paired backward in the IR, or one with NITC_PAIR=0" >&2
  exit 1
fi
"$build/compiler/nitc" "$work/dense35.nit" -o "$work/dense35_pair"
NITC_PAIR=0 "$build/compiler/nitc" "$work/dense35.nit" -o "$work/dense35_nopair"
same_bytes dense35_pair ddata
same_bytes dense35_nopair ddata
cmp "$work/dense35.1.ckpt" "$work/dense35_pair.1.ckpt"
cmp "$work/dense35.1.ckpt" "$work/dense35_nopair.1.ckpt"
echo "dense35: paired, one after the other and split write the same checkpoint"

# rows33: d1's forward by samples (against the reference above); with
# NITC_DENSE_ROWS=0 on one worker: the same bytes on one thread and three
mkdir -p "$work/rdata"
"$build/tests/nitrt_mkdata" idx "$work/rdata" 70 10 1 15 17 10
"$build/compiler/nitc" "$work/rows33.nit" --emit llvm -o "$work/rows33.ll"
NITC_DENSE_ROWS=0 "$build/compiler/nitc" "$work/rows33.nit" --emit llvm -o "$work/rows33.one.ll"
if ! grep -q '%w\.pan' "$work/rows33.ll" || grep -q '%w\.pan' "$work/rows33.one.ll"; then
  echo "rows33: no forward by samples in the IR, or one with NITC_DENSE_ROWS=0" >&2
  exit 1
fi
"$build/compiler/nitc" "$work/rows33.nit" -o "$work/rows33"
NITC_DENSE_ROWS=0 "$build/compiler/nitc" "$work/rows33.nit" -o "$work/rows33_one"
"$build/compiler/nitc" "$work/rows33_ghaffari.nit" -o "$work/rows33_ghaffari"
NITC_DENSE_ROWS=0 "$build/compiler/nitc" "$work/rows33_ghaffari.nit" -o "$work/rows33_ghaffari_one"
same_bytes rows33 rdata
same_bytes rows33_one rdata
same_bytes rows33_ghaffari rdata
same_bytes rows33_ghaffari_one rdata
cmp "$work/rows33.1.ckpt" "$work/rows33_one.1.ckpt"
cmp "$work/rows33_ghaffari.1.ckpt" "$work/rows33_ghaffari_one.1.ckpt"
echo "rows33: the forward by samples and on one worker write the same checkpoint"

# krows: b's and c's input errors by kernel rows on VNNI targets (conv.c,
# krows_fits: rows of 17 and 13 pixels, in 32 and 16 lanes; c padded);
# NITC_KROWS=0 takes col2im: the same checkpoint, on one thread and three
"$build/compiler/nitc" "$work/krows.nit" --emit llvm -o "$work/krows.ll"
NITC_KROWS=0 "$build/compiler/nitc" "$work/krows.nit" --emit llvm -o "$work/krows_off.ll"
if grep -q 'kquads' "$work/krows_off.ll" ||
  { grep -q '@nit_gemm\.vnni' "$work/krows.ll" && ! grep -q '@b\.kquads' "$work/krows.ll"; }; then
  echo "krows: kernel rows missing from the IR on a VNNI host, or present with NITC_KROWS=0" >&2
  exit 1
fi
mkdir -p "$work/kdata"
"$build/tests/nitrt_mkdata" idx "$work/kdata" 40 10 4 19 19 5
on_off krows kdata NITC_KROWS
echo "krows: kernel rows and col2im write the same checkpoint"

# convrows: c2's, c3's and c4's forwards by output rows on VNNI targets,
# c2's and c4's on ubs (in chunks of positions; c3's 160 dots a kernel row
# are past its unrolling bound) (conv.c, ConvK.rows); NITC_ROWS=0 takes
# panels: the same checkpoint, on one thread and three
"$build/compiler/nitc" "$work/convrows.nit" --emit llvm -o "$work/convrows.ll"
NITC_ROWS=0 "$build/compiler/nitc" "$work/convrows.nit" --emit llvm -o "$work/convrows_off.ll"
by_rows() { awk -v f="^define internal void @$2\\.body\\(" '$0 ~ f { on = 1 } on && /%in\.row/ { n = 1 } on && /^}/ { on = 0 } END { exit !n }' "$1"; }
rows_convs=""
grep -q '@nit_gemm\.vnni' "$work/convrows.ll" && rows_convs="c2 c3 c4"
grep -q '@nit_gemm\.ubs' "$work/convrows.ll" && rows_convs="c2 c4"
if [ -n "$rows_convs" ]; then
  for c in $rows_convs; do
    if ! by_rows "$work/convrows.ll" $c || by_rows "$work/convrows_off.ll" $c; then
      echo "convrows: $c's forward not by output rows on a VNNI or ubs host, or by rows with NITC_ROWS=0" >&2
      exit 1
    fi
  done
  if by_rows "$work/convrows.ll" c1; then
    echo "convrows: c1's forward by output rows, though its input may be negative" >&2
    exit 1
  fi
fi
mkdir -p "$work/cdata"
"$build/tests/nitrt_mkdata" idx "$work/cdata" 40 10 3 12 12 5
on_off convrows cdata NITC_ROWS
echo "convrows: forwards by output rows and by panels write the same checkpoint"

mkdir -p "$work/data"
"$build/tests/nitrt_mkdata" idx "$work/data" 48 12 16 6 8 5
"$build/compiler/nitc" "$work/wsum.nit" -o "$work/wsum"
same_bytes wsum data
"$build/compiler/nitc" "$work/wsum_ghaffari.nit" --emit llvm -o "$work/wsum_ghaffari.ll"
if ! grep -q '^define internal void @sgd\.g31\.body' "$work/wsum_ghaffari.ll"; then
  echo "wsum_ghaffari: no parallel optimizer pass in the IR" >&2
  exit 1
fi
"$build/compiler/nitc" "$work/wsum_ghaffari.nit" -o "$work/wsum_ghaffari"
same_bytes wsum_ghaffari data

mkdir -p "$work/qdata"
"$build/tests/nitrt_mkdata" idx "$work/qdata" 40 10 4 6 32 5
NITC_STREAM_BYTES=0 "$build/compiler/nitc" "$work/quads_stream.nit" -o "$work/quads_stream"
"$work/quads_stream" train --data "$work/qdata" --epochs 1 --threads 1 --quiet --save "$work/s1.ckpt"
NITRT_POOL_PACE=5,1,2 "$work/quads_stream" train --data "$work/qdata" --epochs 1 --threads 3 --quiet --save "$work/s3.ckpt"
cmp "$work/s1.ckpt" "$work/s3.ckpt"
echo "quads_stream: one thread and three at uneven speeds write the same checkpoint"

NITC_AHEAD_BYTES=0 "$build/compiler/nitc" "$work/wsum.nit" --emit llvm -o "$work/wsum_ahead.ll"
if ! grep -q 'ahead\.pass' "$work/wsum_ahead.ll" || grep -q 'ahead\.pass' "$work/quads_stream.ll"; then
  echo "wsum_ahead: rounding ahead missing from the IR, or present without NITC_AHEAD_BYTES" >&2
  exit 1
fi
cp "$work/wsum.nit" "$work/wsum_ahead.nit"
NITC_AHEAD_BYTES=0 against_ref -O2 wsum_ahead
NITC_AHEAD_BYTES=0 "$build/compiler/nitc" "$work/wsum.nit" -o "$work/wsum_ahead"
"$work/wsum_ahead" train --data "$work/data" --epochs 1 --threads 1 --quiet --save "$work/a1.ckpt"
NITRT_POOL_PACE=5,1,2 "$work/wsum_ahead" train --data "$work/data" --epochs 1 --threads 3 --quiet --save "$work/a3.ckpt"
cmp "$work/wsum.1.ckpt" "$work/a1.ckpt"
cmp "$work/wsum.1.ckpt" "$work/a3.ckpt"
echo "wsum_ahead: rounding ahead on one thread and on three at uneven speeds writes wsum's checkpoint"
