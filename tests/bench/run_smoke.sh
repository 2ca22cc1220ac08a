#!/usr/bin/env bash
# bench/run end to end at a tiny size: vgg_small (its data made by bench/run
# itself, so no data set is needed) at batch 8 on one thread and on two,
# one round, without PyTorch and without the compile-time table. Its
# figures are not checked, only that every part of the report is there:
# the table's rows, the peak and GEMM lines, the scaling, the cores alone
# (where CPUs 0 and 1 are ours), and every target's verdict, those this
# run leaves out said to be not measured. An even --rounds is refused.
#   run_smoke.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -uo pipefail
src="$1" build="$2" work="$3"
rm -rf "$work"; mkdir -p "$work"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
out="$work/out.txt"
check "bench/run runs" sh -c "'$src/bench/run' --build '$build' --nets vgg_small --batches 8 --samples 16 \
  --rounds 1 --threads '1 2' --no-torch --no-compile-time > '$out' 2> '$work/err.txt'"
has() { grep -q -- "$1" "$out"; }
check "a row for one thread" has '^| vgg_small | 8 | 1 | [0-9.]* | [0-9]* |'
check "a row for two threads" has '^| vgg_small | 8 | 2 | [0-9.]* | [0-9]* |'
check "the peak line" has '^Peak: [0-9.]* GOP/s per core'
check "the GEMM line, checked" has '^Standalone int8 GEMM, one core: gemm 512x512x512: [0-9.]* GOP/s ([0-9]* runs, checked)'
check "the scaling line" has '^Scaling, the median of paired rounds: vgg_small, batch 8: [0-9.]*x from 1 to 2 threads'
if [ "$(nproc)" -ge 2 ] && taskset -c 0 true 2> /dev/null && taskset -c 1 true 2> /dev/null; then
  check "the cores alone" has '^Cores alone: vgg_small, batch 8: one thread pinned to each CPU (medians): CPU 0 [0-9]*, CPU 1 [0-9]* samples/s; 2 threads reach [0-9.]* of their sum; the faster core alone leaves room for at most [0-9.]*x$'
fi
check "the GEMM's verdict" has '^  512^3 int8 GEMM (A and B signed) on one core, share of the peak: [0-9.]*% (target >= 85%): \(met\|missed\)$'
check "LeNet-5's ratio not measured" has '^  LeNet-5, batch 64, nitc / PyTorch fp32: not measured in this run (target >= 20x)$'
check "compile time not measured" has "^  compile time, the slowest example's wall time: not measured in this run (target < 1 s)$"
check "vgg_small at 256 not measured" has '^  vgg_small, batch 256, share of the 2-core int8 peak: not measured in this run'
check "an even --rounds refused" sh -c "'$src/bench/run' --build '$build' --rounds 2 2>&1 | grep -q 'takes an odd number'"
check "with status 1" sh -c "'$src/bench/run' --build '$build' --rounds 2 > /dev/null 2>&1; [ \$? -eq 1 ]"
[ "$fails" -eq 0 ] || { echo "bench/run's output:"; cat "$out" "$work/err.txt"; }
checks_done
