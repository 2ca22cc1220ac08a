#!/usr/bin/env bash
# Every shipped example learns: each is compiled and trained for one epoch on
# the first LIMIT training samples (default 12800) with its own recipe, then
# tested on 2000 test samples; the accuracy must clear a floor well above
# chance (10%). Prints one line per example and a verdict.
# Data: MNIST for the 1x28x28 models; for 3x32x32 models (vgg_small, made for
# CIFAR-10, which this machine cannot download) Fashion-MNIST written as
# CIFAR-10 binary batches, each image padded to 32x32 and copied to three
# channels.
#   bench/examples_learn.sh [NITC] [LIMIT]
# Needs data/mnist (scripts/fetch-data). Takes a few minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
nitc="${1:-build/compiler/nitc}"; limit="${2:-12800}"
floor=50 # percent
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
[ -f data/mnist/train-images-idx3-ubyte ] || { echo "no data/mnist: run scripts/fetch-data" >&2; exit 2; }
cifar="$work/fashion-cifar/cifar-10-batches-bin"
mkdir -p "$cifar"
python3 - "$cifar" <<'PY'
import sys
out = sys.argv[1]
def convert(img, lab, dst, lo, hi):
    im = open(img, 'rb').read()[16:]; lb = open(lab, 'rb').read()[8:]
    with open(dst, 'wb') as f:
        for i in range(lo, hi):
            pix = im[i * 784:(i + 1) * 784]
            plane = bytearray(1024)
            for y in range(28):
                plane[(y + 2) * 32 + 2:(y + 2) * 32 + 30] = pix[y * 28:(y + 1) * 28]
            f.write(bytes([lb[i]]) + bytes(plane) * 3)
d = 'data/fashion-mnist/'
for k in range(5): # 5 batches of 4000 training images
    convert(d + 'train-images-idx3-ubyte', d + 'train-labels-idx1-ubyte',
            out + '/data_batch_%d.bin' % (k + 1), 4000 * k, 4000 * (k + 1))
convert(d + 't10k-images-idx3-ubyte', d + 't10k-labels-idx1-ubyte', out + '/test_batch.bin', 0, 2000)
PY
fail=0
printf '%-12s %-50s %-14s %8s %8s\n' example recipe data samples test
for f in examples/*.nit; do
  b=$(basename "$f" .nit)
  "$nitc" "$f" -o "$work/$b"
  recipe=$("$work/$b" info | sed -n 's/^        rounding .*; update bits \([^;]*\);.*/m_u \1/p' | head -1)
  wbits=$("$work/$b" info | sed -n 's/^parameters: .*, weights \([0-9]*\) bits$/\1/p')
  data=data/mnist
  "$work/$b" info | grep -q '^input 3x32x32' && data="$work/fashion-cifar"
  out=$("$work/$b" train --data "$data" --epochs 1 --limit "$limit" --test-limit 2000 --quiet \
        --log "$work/$b.jsonl" 2>&1) || { echo "$b: training failed: $out"; fail=1; continue; }
  acc=$(sed -n 's/.*"test_acc": *\([0-9.]*\).*/\1/p' "$work/$b.jsonl" | tail -1 | awk '{ printf "%.2f", $1 * 100 }')
  printf '%-12s %-50s %-14s %8s %7s%%\n' "$b" "$recipe, weights $wbits bits" "$(basename "$data")" "$limit" "$acc"
  awk -v a="$acc" -v f="$floor" 'BEGIN { exit !(a + 0 >= f) }' || { echo "  below the ${floor}% floor"; fail=1; }
done
[ "$fail" -eq 0 ] && echo "every example learns (test accuracy >= ${floor}% after $limit samples)"
exit "$fail"
