#!/usr/bin/env bash
# clip_curve.sh: experiment E8's curve for recipe unified (docs/results.md,
# "Recipe unified on Fashion-MNIST (E7, E8)"): at a few steps of a LeNet-5
# training on Fashion-MNIST, the cosine of the clip-quantized error of every
# DSGC site against the exact one, per clip level, as Zhu et al. plot the
# cosine against the clip value.
#
#   1. nitc compiles NET (examples/lenet5_unified.nit; with GRAD=4 the same
#      file with `bits grad=4`) to an object, linked with the clipdump
#      harness (tests/codegen/errdump.c built with ERRDUMP_CLIP,
#      build/tests/libclipdump.a) and -Wl,--wrap=nitrt_clip_site;
#   2. the harness trains it exactly as `NET train --seed SEED` would (same
#      init, shuffled order, lr schedule; one thread), and at each step of
#      STEPS the wrapper writes the wide error every DSGC site hands to the
#      runtime's quantizer (times its multiplier), with its exponent, key and
#      the level the runtime's search chose, before calling the kernel;
#   3. clipcurve (tests/ref/clipcurve.c, the reference's rec_cq and
#      rec_cos_q30) gives per tensor and width of BITS the d_c = 1 - cos of
#      every level from l0 down to max(0, l0 - 8 R), the clip value relative
#      to max |x| and the search's pick, and checks that the pick equals the
#      reference's search and, at the width trained, the runtime's;
#   4. gnuplot draws d_c against clip/max, one panel per step, a line per
#      site and width, the picks marked.
#
# APPROXIMATIONS: the errors are those of one training run at GRAD bits;
# the curves at the other widths of BITS quantize those same tensors, not
# the errors a training at that width would have produced. Levels below
# max(0, l0 - 8 R) (R = the file's range, 4) are not computed: the search
# never sees them. The draws are the site's own (its key at that step), so
# every curve is one stochastic sample per level, not an expectation.
#
# Environment: STEPS="0 500 5000" (quick: STEPS="0 100"), BITS="8,4",
# GRAD=8, SEED (the file's), LIMIT (training samples, default all 60000),
# NET=examples/lenet5_unified.nit, BUILD=build, NITC, OUT=out/accuracy/clip_curve,
# RESULTS (when set, the .svg and .md are copied there as
# unified-cos-NAME.svg/.md, NAME the net's file name without _unified, and
# -gGRAD after it when GRAD is not 8),
# NICE=10. Writes OUT/dumps/*.clip, OUT/curve.txt (clipcurve's lines),
# OUT/table.md, OUT/cos.svg, OUT/cos.md (the table with its command). Exit status: clipcurve's (1 when a pick
# differs from a search).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
BUILD=${BUILD:-$REPO/build}
NITC=${NITC:-$BUILD/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/clip_curve}
STEPS=${STEPS:-0 500 5000}
BITS=${BITS:-8,4}
GRAD=${GRAD:-8}
NICE=${NICE:-10}
NET=${NET:-examples/lenet5_unified.nit}
CC=${CC:-cc}
[ -f data/fashion-mnist/train-images-idx3-ubyte ] || { echo "no data/fashion-mnist: run scripts/fetch-data" >&2; exit 2; }
for f in "$NITC" "$BUILD/tests/libclipdump.a" "$BUILD/runtime/libnitrt.a" "$BUILD/runtime/libnitrt_s31.a" "$BUILD/tests/clipcurve"; do
  [ -e "$f" ] || { echo "missing $f: cmake --build $BUILD --target nitc clipdump clipcurve nitrt_s31" >&2; exit 2; }
done
mkdir -p "$OUT/bin"
rm -rf "$OUT/dumps"; mkdir -p "$OUT/dumps"
name=$(basename "$NET" .nit)
src="$NET"
if [ "$GRAD" != 8 ]; then
  src="$OUT/bin/$name-g$GRAD.nit"
  sed -e '/^ *bits /d' -e "s/^train {/train {\n    bits      grad=$GRAD/" "$NET" > "$src"
  grep -q "bits *grad=$GRAD" "$src" || { echo "could not make $src" >&2; exit 2; }
fi
base="$OUT/bin/$name-g$GRAD"
"$NITC" "$src" --emit obj -O2 -o "$base.o"
$CC -o "$base-clipdump" "$base.o" "$BUILD/tests/libclipdump.a" "$BUILD/runtime/libnitrt.a" \
  "$BUILD/runtime/libnitrt_s31.a" -lz -lpthread -Wl,--wrap=nitrt_clip_site

echo "[$(date +%H:%M:%S)] clipdump $NET (grad=$GRAD) steps $STEPS" >&2
nice -n "$NICE" "$base-clipdump" --data data/fashion-mnist --steps "$STEPS" --out "$OUT/dumps" \
  ${SEED:+--seed "$SEED"} ${LIMIT:+--limit "$LIMIT"} | tee "$OUT/clipdump.txt"

files=("$OUT/dumps"/*.clip) # s<step>-k<site>-<name>.clip: by step, then site
echo "[$(date +%H:%M:%S)] clipcurve on ${#files[@]} tensors at bits $BITS" >&2
rc=0
nice -n "$NICE" "$BUILD/tests/clipcurve" --bits "$BITS" "${files[@]}" > "$OUT/curve.txt" || rc=$?
nice -n "$NICE" "$BUILD/tests/clipcurve" --bits "$BITS" --markdown "${files[@]}" > "$OUT/table.md" 2> /dev/null || true
summary=$(tail -1 "$OUT/curve.txt")

# the plot: per step a panel; per (site, width) a line; the picks as points
steps=$(awk '$1 == "pick" {print $2}' "$OUT/curve.txt" | sort -nu | tr '\n' ' ')
widths=$(echo "$BITS" | tr ',' ' ')
sites=$(awk '$1 == "pick" {print $3 " " $4}' "$OUT/curve.txt" | sort -nu -k1,1)
mkdir -p "$OUT/plot"; rm -f "$OUT/plot"/*.dat
awk -v dir="$OUT/plot" '$1 == "curve" && $8 > 0 {f = sprintf("%s/s%s-k%s-b%s.dat", dir, $2, $3, $5); print $7, $8 > f}
  $1 == "pick" && $11 > 0 {f = sprintf("%s/pick-s%s-b%s.dat", dir, $2, $5); print $9, $11 > f}' "$OUT/curve.txt"
nsteps=$(echo $steps | wc -w)
ymin=$(awk '$1 == "curve" && $8 > 0 {if (m == "" || $8 < m) m = $8} END {e = int(log(m) / log(10)); if (10 ^ e > m) e--; print "1e" e}' "$OUT/curve.txt")
dashed=""; [ "$widths" = "${widths%% *}" ] || dashed=", dashed: $(echo ${widths#* } | sed 's/ /, /g')-bit"
if command -v gnuplot > /dev/null && [ "$nsteps" -gt 0 ]; then
  {
    echo "set terminal svg size $((380 * nsteps + 160)),460 font 'sans,11'"
    echo "set output '$OUT/cos.svg'"
    echo "set multiplot layout 1,$nsteps title \"${name//_/\\\\_} on Fashion-MNIST, trained at grad=$GRAD: d_c = 1 - cos of the clip-quantized error per clip level (solid: ${widths%% *}-bit$dashed; circles: the search's pick)\""
    echo "set logscale xy; set xrange [0.055:1.3]; set yrange [$ymin:1]; set xtics (0.0625, 0.125, 0.25, 0.5, 1)"
    echo "set format y '10^{%L}'; set xlabel 'clip / max|x|'; set grid"
    first=1
    for s in $steps; do
      echo "set title 'step $s'"
      [ "$first" = 1 ] && echo "set ylabel 'd_c'; set key bottom left font ',9'" || echo "unset ylabel; unset key"
      plot=""
      for b in $widths; do
        dt=1; [ "$b" = "${widths%% *}" ] || dt=2
        while read -r k site_name; do
          f="$OUT/plot/s$s-k$k-b$b.dat"
          [ -s "$f" ] || continue
          title="notitle"; [ "$b" = "${widths%% *}" ] && title="title '$k $site_name'"
          plot="$plot${plot:+, }'$f' using 1:2 with lines lc $((k + 1)) dt $dt lw 1.5 $title"
        done <<< "$sites"
        f="$OUT/plot/pick-s$s-b$b.dat"
        [ -s "$f" ] && plot="$plot, '$f' using 1:2 with points pt 6 ps 1.2 lc rgb 'black' notitle"
      done
      echo "plot $plot"
      first=0
    done
    echo "unset multiplot"
  } > "$OUT/plot/cos.gp"
  gnuplot "$OUT/plot/cos.gp" && echo "wrote $OUT/cos.svg" >&2
fi

{
  echo "# Recipe unified, $name on Fashion-MNIST: the cosine per clip level (E8)"
  echo
  echo "\`STEPS=\"$STEPS\" BITS=$BITS GRAD=$GRAD bench/accuracy/clip_curve.sh\` ($(date -u +%Y-%m-%d)):"
  echo "the wide errors of the DSGC sites of a training run at bits grad=$GRAD, seed $(sed -n 's/.*, seed \([0-9]*\),.*/\1/p' "$OUT/clipdump.txt");"
  echo "per tensor and width, l0 the no-clip level, the level the search picks"
  echo "(the largest cosine over l0 .. max(0, l0 - 8 R), ties to the larger), the"
  echo "clip value there relative to max |x|, and d_c = 1 - cos at l0 and at the pick."
  echo "$summary"
  echo
  cat "$OUT/table.md"
} > "$OUT/cos.md"
cat "$OUT/cos.md"
if [ -n "${RESULTS:-}" ]; then
  mkdir -p "$RESULTS"
  short=${name%_unified}
  [ "$GRAD" = 8 ] || short="$short-g$GRAD"
  cp "$OUT/cos.md" "$RESULTS/unified-cos-$short.md"
  [ -f "$OUT/cos.svg" ] && cp "$OUT/cos.svg" "$RESULTS/unified-cos-$short.svg"
  echo "copied to $RESULTS/unified-cos-$short.{md,svg}" >&2
fi
exit "$rc"
