#!/bin/sh
# run_runtime.sh TARGET WORK BIN FUZZER SECONDS [RUNS]: seed and run one
# runtime loader fuzzer (TARGET: idx, csv, cifar, gz or ckpt).
#
# Seeds are real small files: mkdata writes idx, CSV and CIFAR-10 data in
# the shapes the fuzz targets' fake models take (1x1x6 with 3 classes;
# CIFAR 3x32x32 with 10), and fake_csv trains on them and saves real
# checkpoints. A few hand-written CSV lines cover the syntax (header,
# comments, CRLF, exponents). New inputs go to WORK/corpus, never to the
# source tree; crashes to WORK/. Exit status: the fuzzer's (0: no finding).
set -eu
target=$1 work=$2 bin=$3 fuzzer=$4 secs=$5 runs=${6:--1}
seeds=$work/seeds gen=$work/gen
rm -rf "$seeds" "$gen"
mkdir -p "$seeds" "$gen" "$work/corpus"

# pack IMAGES LABELS OUT: 2-byte little-endian image length, images, labels
pack() {
  n=$(stat -c %s "$1")
  printf "\\$(printf %03o $((n & 255)))\\$(printf %03o $((n >> 8 & 255)))" >"$3"
  cat "$1" >>"$3"
  [ -z "$2" ] || cat "$2" >>"$3"
}

max_len=4096
case $target in
idx)
  mkdir -p "$gen/a" "$gen/b"
  "$bin/nitrt_mkdata" idx "$gen/a" 6 3 1 1 6 3
  "$bin/nitrt_mkdata" idx "$gen/b" 2 1 3 1 2 3 # (N, C, H, W) images, 3x1x2
  pack "$gen/a/train-images-idx3-ubyte" "$gen/a/train-labels-idx1-ubyte" "$seeds/train"
  pack "$gen/a/t10k-images-idx3-ubyte" "$gen/a/t10k-labels-idx1-ubyte" "$seeds/test"
  pack "$gen/a/t10k-images-idx3-ubyte" "" "$seeds/unlabelled"
  pack "$gen/b/train-images-idx4-ubyte" "$gen/b/train-labels-idx1-ubyte" "$seeds/idx4"
  ;;
csv)
  for kind in int dec; do
    mkdir -p "$gen/$kind"
    "$bin/nitrt_mkdata" csv "$gen/$kind" 5 3 6 3 "$kind"
    cp "$gen/$kind/train.csv" "$seeds/$kind-train.csv"
    cp "$gen/$kind/test.csv" "$seeds/$kind-test.csv"
  done
  mkdir -p "$gen/tab" && "$bin/nitrt_mkdata" tabular "$gen/tab" 6 2
  cp "$gen/tab/train.csv" "$seeds/tabular.csv"
  printf '# comment\r\nlabel,a,b,c,d,e,f\r\n\r\n2,-1.5e3,+0.000001,7E-7,12,0,.5\r\n1,1,2,3,4,5,6' >"$seeds/syntax.csv"
  printf '1,2,3,4,5,6\n6,5,4,3,2,1\n' >"$seeds/unlabelled.csv"
  ;;
cifar)
  "$bin/nitrt_mkdata" cifar "$gen" 2 1
  cp "$gen/data_batch_1.bin" "$seeds/batch2.bin"
  cp "$gen/test_batch.bin" "$seeds/batch1.bin"
  max_len=16384
  ;;
gz)
  mkdir -p "$gen/g"
  "$bin/nitrt_mkdata" idx "$gen/g" 6 3 1 1 6 3
  gzip -c "$gen/g/train-images-idx3-ubyte" >"$seeds/images.gz"
  gzip -9 -c "$gen/g/t10k-images-idx3-ubyte" >"$seeds/test.gz"
  head -c 10 "$gen/g/train-images-idx3-ubyte" | gzip -c >"$seeds/two.gz" # two members: one file
  tail -c +11 "$gen/g/train-images-idx3-ubyte" | gzip -c >>"$seeds/two.gz"
  ;;
ckpt)
  mkdir -p "$gen/c" "$gen/i"
  "$bin/nitrt_mkdata" csv "$gen/c" 20 5 6 3 dec
  "$bin/nitrt_mkdata" idx "$gen/i" 20 5 1 1 6 3
  "$bin/fake_csv" train --data "$gen/c" --epochs 2 --save "$seeds/csv.ckpt" --quiet 2>/dev/null
  "$bin/fake_csv" train --data "$gen/i" --epochs 1 --update-bits 4,3@2 --decay on --save "$seeds/idx.ckpt" --quiet
  ;;
*)
  echo "run_runtime.sh: unknown target $target" >&2
  exit 2
  ;;
esac
cd "$work"
exec "$fuzzer" -max_total_time="$secs" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
  -max_len="$max_len" -print_final_stats=1 "$work/corpus" "$seeds"
