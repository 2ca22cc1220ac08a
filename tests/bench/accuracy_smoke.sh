#!/usr/bin/env bash
# The accuracy experiments still run: bench/accuracy's scripts train for
# minutes to hours and nothing else runs them, so an example, a flag or a
# log field they rely on could change under them unseen (quant_error.sh's
# harness did, and bench_programs now runs it). Each script runs here end
# to end at a tiny size: synthetic 28 x 28 data of 10 classes
# (nitrt_mkdata), 320 training samples, one epoch, one seed, one or two of
# its settings; its table must have a row per setting with an accuracy in
# it. The figures themselves are not checked. The runs that train the fp32
# mirror (torch_mirror.py) run where python3 has torch (bench/run's
# packages) and are skipped, with a line that says so, where it has not.
#   accuracy_smoke.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -uo pipefail
src="$1" build="$2" work="$3"
rm -rf "$work"; mkdir -p "$work"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
export NITC="$build/compiler/nitc" THREADS=1 SEEDS=1 TRAIN_ARGS="--limit 320 --test-limit 100"
data="$work/data"
for d in "$data" "$work/sets/mnist" "$work/sets/fashion-mnist"; do
  mkdir -p "$d" && "$build/tests/nitrt_mkdata" idx "$d" 320 100 1 28 28 10 > /dev/null || exit 2
done
acc='[0-9]+\.[0-9]+'

# rows SCRIPT.out REGEX N: the output has N lines matching REGEX
rows() { [ "$(grep -Ec "$2" "$1")" = "$3" ] || { echo "--- $1:"; cat "$1"; return 1; }; }
run() { # NAME ENV...: bench/accuracy/NAME.sh with ENV, output in WORK/NAME.out
  local name="$1"; shift
  env OUT="$work/$name" "$@" "$src/bench/accuracy/$name.sh" > "$work/$name.out" 2> "$work/$name.err" ||
    { echo "--- $name.sh failed:"; tail -5 "$work/$name.err"; return 1; }
}

check "moved.sh runs" run moved EPOCHS=1 EVERY=2 DATA="$data"
check "... a row per setting, each with its layers' moved shares" \
  rows "$work/moved.out" "^\| (shipped|nearest|mu1|mu1-nearest) \| 1 \| $acc% \|( [0-9.]+% \|)+$" 4

check "narrow.sh runs" run narrow EPOCHS=1 DATA="$data" PICK='^(ghaffari-grad4|shiftquant-w4-channel)$'
check "... a row per setting, with c1's zero shares" \
  rows "$work/narrow.out" "^\| (ghaffari-grad4|shiftquant-w4-channel) \| [a-z]+ \| .* \| 1 \| $acc \| [0-9.]+%( \(relu1\))? \| [0-9.]+% \|$" 2

check "unified.sh runs" run unified NETS=lenet5 EPOCHS=1 VARIANTS="u8 u4-off" DATA="$data"
check "... a row per variant" rows "$work/unified.out" "^\| lenet5 \| (u8|u4-off) \| 1 \| $acc \| $acc \| [0-9]+ \|$" 2
check "... and u8's d_c per site" rows "$work/unified.out" "^  epoch 1: 0: [0-9.]+ / [0-9]+" 1

check "loss_table.sh runs" run loss_table NETS=mlp DATA_ROOT="$work" DATA=data TRAIN_ARGS="$TRAIN_ARGS --epochs 1"
check "... a row per softmax, and their means" \
  rows "$work/loss_table.out" "^\| mlp \| (niti|table) \| (1|mean of 1) \| $acc \| $acc \| $acc% \|$" 4

check "shiftquant.sh runs" run shiftquant NETS=resnet_bn VARIANTS=sq4-channel EPOCHS=1 NICE=0 DATA="$data" \
  RESULTS="$work/shiftquant.md"
check "... its row, also in RESULTS" rows "$work/shiftquant.md" "^\| resnet_bn \| sq4-channel \| 1 \| $acc \| $acc \|$" 1

if /usr/bin/python3 -c 'import torch' 2> /dev/null; then
  check "l1_eps.sh runs" run l1_eps EPSS=0.003 EPOCHS=1 DATA="$work/sets/fashion-mnist"
  check "... its row, with the fp32 mirror's accuracy" \
    rows "$work/l1_eps.out" "^\| ghaffari \| 0.003 \| 1 \| $acc \| $acc \|$" 1
  check "norm_mirror.sh runs" run norm_mirror EPOCHS=1 SEEDS=1 THREADS=1 NICE=0 DATA_ROOT="$work/sets"
  check "... a table per network, each with both sides' accuracy" \
    rows "$work/norm_mirror.out" "^\| 1 \| $acc \| $acc \| [0-9]+ \| [0-9]+ \|$" 2
  check "... and the mirror's BLAS" rows "$work/norm_mirror.out" "^fp32: torch .*BLAS" 1
  check "norm_mirror.sh again reuses its logs" run norm_mirror EPOCHS=1 SEEDS=1 THREADS=1 NICE=0 DATA_ROOT="$work/sets"
  check "... all four" rows "$work/norm_mirror.err" "reuse .*\.jsonl$" 4
  check "shiftquant.sh's g8-warmup runs, with its mirror" run shiftquant NETS=resnet_bn VARIANTS=g8-warmup EPOCHS=1 \
    NICE=0 DATA="$data" RESULTS="$work/shiftquant-g8.md"
  check "... its row, its mirror's and the pair's" \
    rows "$work/shiftquant-g8.md" "^\| resnet_bn \| (g8-warmup|fp32 mirror with warmup \(g8-warmup's initial weights\)) \| 1 \| $acc \| $acc \|$|^\| resnet_bn \| g8-warmup \| (1|mean) \| $acc \| $acc \| [-+]$acc \|" 4
else
  echo "skipped: l1_eps.sh, norm_mirror.sh and shiftquant.sh's g8-warmup (python3 has no torch; scripts/install-deps --bench installs it)"
fi
checks_done
