#!/usr/bin/env bash
# quant_error.sh: experiment E4 of the recipes' accuracy experiments
# (../shared/spec/recipes.md 13.6): ShiftQuant's group quantization against
# its upper bound, on error tensors of an E1 run (examples/resnet_bn.nit,
# Fashion-MNIST, recipe ghaffari, the file's seed and schedule).
#
#   1. nitc compiles examples/resnet_bn.nit to an object with every error
#      buffer kept and no relu folded into its consumer (NITC_ERR_REUSE=0
#      NITC_FOLD_RELU=0), linked with tests/codegen/errdump.c
#      (build/tests/liberrdump.a), the runtime (parameter init, data order) and libnitrt_s31;
#   2. errdump trains it exactly as `resnet_bn train` would (same init, same
#      shuffled order, same lr schedule, one thread) and at each step of
#      STEPS writes the int8 error tensor of every quantization site (ERR(i)
#      of the conv, batchnorm and dense layers, SUM(i) of fan-outs, LOSS);
#   3. refquant (tests/ref/refquant.c, the reference's rec_rq / rec_sq)
#      computes per tensor the exact expected squared error under stochastic
#      rounding, relative to sum x^2 on the elements no quantizer saturates,
#      and the cosine of one stochastic sample, for RQ_4 (per tensor), SQ_4
#      and SQ_6 (channel groups) and free per-channel 4-bit scales (the upper
#      bound of group quantization); the share of the RQ_4 -> free gap that
#      SQ_4 closes; and checks SQ_4 <= RQ_4 on non-saturated elements.
#
# APPROXIMATION: the generated code does not keep the wide error before a
# site's quantizer, only its int8 result, which under ghaffari (bits grad=8)
# is RQ_8 of the wide error. The "exact" reference here is that 8-bit
# tensor, not the wide one: the 4- and 6-bit quantizers are applied to
# already 8-bit values (groups whose maximum is below 8 are exact under SQ_4).
#
# Environment: STEPS="0 500 5000" (a quick run: STEPS="0 500"), SEED (the
# file's), LIMIT (training samples, default all 60000), NITC, BUILD=build,
# OUT=out/accuracy/quant_error, NICE=10. Writes OUT/dumps/*.err,
# OUT/refquant.txt (one line per tensor), OUT/table.md (the markdown table,
# also printed). Exit status: refquant's (1 when SQ_4 <= RQ_4 fails).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
BUILD=${BUILD:-$REPO/build}
NITC=${NITC:-$BUILD/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/quant_error}
STEPS=${STEPS:-0 500 5000}
NICE=${NICE:-10}
NET=${NET:-examples/resnet_bn.nit}
CC=${CC:-cc}
[ -f data/fashion-mnist/train-images-idx3-ubyte ] || { echo "no data/fashion-mnist: run scripts/fetch-data" >&2; exit 2; }
for f in "$NITC" "$BUILD/tests/liberrdump.a" "$BUILD/runtime/libnitrt.a" "$BUILD/runtime/libnitrt_s31.a" "$BUILD/tests/refquant"; do
  [ -e "$f" ] || { echo "missing $f: make -C $BUILD nitc errdump refquant nitrt_s31" >&2; exit 2; }
done
mkdir -p "$OUT/bin"
rm -rf "$OUT/dumps"; mkdir -p "$OUT/dumps"
base="$OUT/bin/$(basename "$NET" .nit)"

NITC_ERR_REUSE=0 NITC_FOLD_RELU=0 "$NITC" "$NET" --emit obj -O2 -o "$base.o"
$CC -o "$base-errdump" "$base.o" "$BUILD/tests/liberrdump.a" "$BUILD/runtime/libnitrt.a" "$BUILD/runtime/libnitrt_s31.a" -lz -lpthread

echo "[$(date +%H:%M:%S)] errdump $NET steps $STEPS" >&2
nice -n "$NICE" "$base-errdump" --data data/fashion-mnist --steps "$STEPS" --out "$OUT/dumps" \
  ${SEED:+--seed "$SEED"} ${LIMIT:+--limit "$LIMIT"} | tee "$OUT/errdump.txt"

files=("$OUT/dumps"/*.err) # s<step>-n<node>-<name>.err: by step, then node
echo "[$(date +%H:%M:%S)] refquant on ${#files[@]} tensors" >&2
rc=0
nice -n "$NICE" "$BUILD/tests/refquant" "${files[@]}" > "$OUT/refquant.txt" || rc=$?
nice -n "$NICE" "$BUILD/tests/refquant" --markdown "${files[@]}" > "$OUT/table.md" || true
cat "$OUT/table.md"
echo
tail -1 "$OUT/refquant.txt"
exit "$rc"
