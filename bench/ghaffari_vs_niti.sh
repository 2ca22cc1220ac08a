#!/usr/bin/env bash
# LeNet-5 under recipe ghaffari against the NITI example: both trained with
# their files' recipes (10 epochs, seed 1) on MNIST and Fashion-MNIST; prints
# the last epoch's line of each run (test accuracy, samples/s).
#   bench/ghaffari_vs_niti.sh [NITC] [EPOCHS]
# Needs data/mnist and data/fashion-mnist (scripts/fetch-data). About 2
# minutes on two idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."
nitc="${1:-build/compiler/nitc}"; epochs="${2:-10}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for d in mnist fashion-mnist; do
  [ -f "data/$d/train-images-idx3-ubyte" ] || { echo "no data/$d: run scripts/fetch-data" >&2; exit 2; }
done
for ex in lenet5 lenet5_ghaffari; do
  "$nitc" "examples/$ex.nit" -o "$work/$ex"
  for d in mnist fashion-mnist; do
    line=$("$work/$ex" train --data "data/$d" --epochs "$epochs" 2>&1 | grep '^epoch' | tail -1)
    printf '%-16s %-14s %s\n' "$ex" "$d" "$line"
  done
done
