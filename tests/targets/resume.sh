#!/usr/bin/env bash
# Checkpoints carry a run between targets: MODEL.nit trained for two epochs
# on x86-64 writes the same bytes as one epoch on x86-64 resumed to two on
# each cross variant (under qemu-user), and as one epoch on AArch64 (x86-64's
# bytes) resumed to two on x86-64. The same again from a checkpoint inside the second
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

# carry WHAT ARGS...: x86_64 trains with ARGS (a run stopped early) and
# every variant resumes that checkpoint to two epochs; the first variant
# trains with ARGS too, writing x86_64's bytes, and x86_64 resumes it. Each
# result must be the bytes of two epochs on x86_64.
carry() {
  local what="$1" v; shift
  check "$what on x86_64" train x86_64 "$@" --save "$work/half-$what-x86_64.ckpt"
  for v in "${variants_run[@]}"; do
    rm -f "$work/resumed-$what-$v.ckpt"
    check "$v resumes x86_64's $what to two epochs" train "$v" --epochs 2 --resume "$work/half-$what-x86_64.ckpt" \
      --save "$work/resumed-$what-$v.ckpt"
    check "$v after x86_64's $what: the same bytes as two epochs on x86_64" cmp "$work/straight.ckpt" \
      "$work/resumed-$what-$v.ckpt"
  done
  local first="${variants_run[0]}"
  check "$what on $first" train "$first" "$@" --save "$work/half-$what-$first.ckpt"
  check "$first's $what: the same bytes as x86_64's" cmp "$work/half-$what-x86_64.ckpt" "$work/half-$what-$first.ckpt"
  check "x86_64 resumes $first's $what to two epochs" train x86_64 --epochs 2 --resume "$work/half-$what-$first.ckpt" \
    --save "$work/back-$what.ckpt"
  check "x86_64 after $first's $what: the same bytes as two epochs on x86_64" cmp "$work/straight.ckpt" \
    "$work/back-$what.ckpt"
}

variants_run=("$@")
check "nitc x86_64" build x86_64
for v in "$@"; do check "nitc $v" build "$v"; done
check "two epochs on x86_64" train x86_64 --epochs 2 --save "$work/straight.ckpt"
carry "one-epoch" --epochs 1
# inside an epoch: 640 samples make 10 steps an epoch at batch 64, 20 at
# 32, so step 13 is inside the first or second epoch
carry "13-steps" --epochs 2 --max-steps 13
check "13 steps end inside an epoch" \
  bash -c "'$work/$net-x86_64' inspect '$work/half-13-steps-x86_64.ckpt' | grep -q '^position: inside epoch'"
checks_done
