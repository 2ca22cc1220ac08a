#!/usr/bin/env bash
# Checkpoints carry a run between targets: MODEL.nit trained for two epochs
# on x86-64 writes the same bytes as one epoch on x86-64 resumed to two on
# each cross variant (under qemu-user), and as one epoch on AArch64 resumed
# to two on x86-64. The same again from a checkpoint inside the second
# epoch (--max-steps). A checkpoint holds the whole state (weights, masters,
# momenta, the unified recipe's clip sites, the position in the run and in
# the epoch), so any target-dependent byte in writing or reading it fails
# this.
#   resume.sh BUILD_DIR MODEL.nit DATA_DIR SAMPLES WORK_DIR VARIANT...
set -uo pipefail
build="$1"; model="$2"; data="$3"; samples="$4"; work="$5"; shift 5
net="$(basename "$model" .nit)"
mkdir -p "$work"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
# shellcheck source=tests/targets/variants.sh
source "$(dirname "$0")/variants.sh"

# build VARIANT: the variant's executable, $work/$net-VARIANT
build() {
  variant "$1" || { echo "resume.sh: no variant $1 in variants.sh" >&2; exit 2; }
  # shellcheck disable=SC2086
  "$build/compiler/nitc" "$model" $v_flags -o "$work/$net-$1"
}
# train VARIANT ARGS...: train under the variant's runner
train() {
  variant "$1"; local exe="$work/$net-$1"; shift
  # shellcheck disable=SC2086
  $v_run "$exe" train --data "$data" --limit "$samples" --test-limit 200 --seed 11 --quiet "$@" \
    > "$work/last.out" 2>&1 || { cat "$work/last.out"; return 1; }
}

check "nitc x86_64" build x86_64
check "two epochs on x86_64" train x86_64 --epochs 2 --save "$work/straight.ckpt"
check "one epoch on x86_64" train x86_64 --epochs 1 --save "$work/half-x86_64.ckpt"
for v in "$@"; do
  check "nitc $v" build "$v"
  rm -f "$work/resumed-$v.ckpt"
  check "$v resumes x86_64's epoch to two" train "$v" --epochs 2 --resume "$work/half-x86_64.ckpt" \
    --save "$work/resumed-$v.ckpt"
  check "$v: the same bytes as two epochs on x86_64" cmp "$work/straight.ckpt" "$work/resumed-$v.ckpt"
done
first="$1"
check "one epoch on $first" train "$first" --epochs 1 --save "$work/half-$first.ckpt"
check "x86_64 resumes $first's epoch to two" train x86_64 --epochs 2 --resume "$work/half-$first.ckpt" \
  --save "$work/back.ckpt"
check "x86_64 after $first: the same bytes as two epochs on x86_64" cmp "$work/straight.ckpt" "$work/back.ckpt"

# inside an epoch: 640 samples make 10 steps an epoch at batch 64, 20 at
# 32, so step 13 is inside the first or second epoch
mid=13
# inside CKPT: the checkpoint holds a position inside an epoch
inside() { "$work/$net-x86_64" inspect "$1" | grep -q '^position: inside epoch'; }
check "x86_64 stops inside an epoch" train x86_64 --epochs 2 --max-steps $mid --save "$work/mid-x86_64.ckpt"
check "the checkpoint is inside an epoch" inside "$work/mid-x86_64.ckpt"
for v in "$@"; do
  rm -f "$work/resumed-mid-$v.ckpt"
  check "$v resumes x86_64's run from inside an epoch" train "$v" --epochs 2 --resume "$work/mid-x86_64.ckpt" \
    --save "$work/resumed-mid-$v.ckpt"
  check "$v from inside an epoch: the same bytes as two epochs on x86_64" cmp "$work/straight.ckpt" \
    "$work/resumed-mid-$v.ckpt"
done
check "$first stops inside an epoch" train "$first" --epochs 2 --max-steps $mid --save "$work/mid-$first.ckpt"
check "$first's checkpoint: the same bytes as x86_64's" cmp "$work/mid-x86_64.ckpt" "$work/mid-$first.ckpt"
check "x86_64 resumes $first's run from inside an epoch" train x86_64 --epochs 2 --resume "$work/mid-$first.ckpt" \
  --save "$work/back-mid.ckpt"
check "x86_64 after $first inside an epoch: the same bytes as two epochs on x86_64" cmp "$work/straight.ckpt" \
  "$work/back-mid.ckpt"
checks_done
