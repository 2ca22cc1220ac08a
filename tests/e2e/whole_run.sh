#!/usr/bin/env bash
# whole_run.sh BUILD MKDATA WORK: whole training runs against the reference.
#
# The differential tests compare single steps with the inputs given; this
# compares what the training executable's driver adds around them. For each
# recipe a small model (below) trains three epochs on synthetic idx data,
# once as its training executable on two threads and once in the reference
# (`reftrain MODEL --epochs 3`, tests/ref/reftrain.c). Between them lie the
# data order of every epoch, the short last batch, the holdout, the global
# step, the m_u and learning-rate schedules with warmup, and the state
# carried from step to step (momenta, masters, the norms' running
# statistics, unified's clip levels). Then each of 40 test images is
# classified alone: the logits and their exponents must be the same bytes
# as `predict --per-sample --logits`.
set -euo pipefail
build=${1:?usage: whole_run.sh BUILD MKDATA WORK}
mkdata=${2:?}
work=${3:?}
rm -rf "$work" && mkdir -p "$work"
mkdir -p "$work/data" && "$mkdata" idx "$work/data" 150 40 1 28 28 10 > /dev/null

# model NAME BODY TRAIN: a 1x28x28, 10-class model with that body and train block
model() {
  printf 'model %s {\n    input x[1, 28, 28]\n    output classes(10)\n%s\n}\ntrain {\n%s\n    batch 32\n    epochs 3\n    seed 5\n}\n' \
    "$1" "$2" "$3" > "$work/$1.nit"
}
# niti: wide weights, NITI decay, an m_u schedule, dropout
model niti "    conv c1(4, kernel=5, stride=2)
    relu
    maxpool(2)
    flatten
    dropout(0.25)
    dense f1(16)
    relu
    dense f2(10)" "    weights bits(12)
    decay on
    update bits(3) then 2 at 3"
# ghaffari: a batch norm, a piecewise rate with warmup across the first
# epoch's end, the last 20 training samples held out
model ghaffari "    conv c1(4, kernel=5, stride=2)
    batchnorm
    relu
    maxpool(2)
    flatten
    dense f1(16)
    relu
    dense f2(10)" "    recipe ghaffari
    lr 0.1 then 0.02 at 3
    warmup 6
    holdout 20"
# shiftquant: an L1 norm, a cosine rate that folds back after its period, groups by sample
model shiftquant "    conv c1(4, kernel=3, stride=2, pad=1)
    l1norm
    relu
    avgpool(2)
    flatten
    dense f1(16)
    relu
    dense f2(10)" "    recipe shiftquant
    groups sample
    lr cosine(0.1, period=2, min=0.01)"
# unified: a layer norm, 32-bit masters, a search every third step
model unified "    conv c1(4, kernel=5, stride=2)
    relu
    maxpool(2)
    flatten
    dense f1(16)
    layernorm
    relu
    dense f2(10)" "    recipe unified
    master int32
    clip cosine(every=3)
    lr 0.05
    warmup steps(4, ratio=0.25)"

status=0
for r in niti ghaffari shiftquant unified; do
  "$build/compiler/nitc" "$work/$r.nit" -o "$work/$r"
  "$work/$r" train --data "$work/data" --threads 2 --quiet --save "$work/$r.ckpt"
  "$work/$r" predict --load "$work/$r.ckpt" --idx "$work/data/t10k-images-idx3-ubyte" --count 40 --per-sample \
    --logits > "$work/$r.exe.txt"
  "$build/tests/reftrain" "$work/$r.nit" --data "$work/data" --epochs 3 --logits 40 > "$work/$r.ref.txt" 2> /dev/null
  if [ "$(wc -l < "$work/$r.ref.txt")" = 40 ] && cmp -s "$work/$r.exe.txt" "$work/$r.ref.txt"; then
    echo "$r: 3 epochs, 40 test images' logits identical to the reference's"
  else
    echo "$r: the executable and the reference differ:"
    diff "$work/$r.exe.txt" "$work/$r.ref.txt" | head -6 || true
    status=1
  fi
done
exit $status
