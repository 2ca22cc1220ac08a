#!/usr/bin/env bash
# End to end with real generated code: nitc builds a training executable from
# a .nit file, and
#   1. 2 epochs straight write the same checkpoint bytes as 1 epoch followed by
#      --resume to 2 (bit-exact resume);
#   2. eval of the final checkpoint reports the accuracy train reported;
#   3. --threads 1, --threads 2 and three threads with uneven chunks write
#      the same checkpoint bytes;
#   4. a corrupt checkpoint is refused with exit 1 and left untouched;
#   5. resuming from --save-init's epoch-0 state is the same run;
#   6. --save-every writes checkpoints inside epochs without changing the run,
#      and a run stopped by Ctrl-C inside an epoch resumes bit for bit;
#   7. so does a run stopped at chosen steps (--max-steps) inside each epoch.
#   resume.sh BUILD_DIR MODEL.nit MKDATA WORK_DIR
set -uo pipefail
build="$1"; model="$2"; mkdata="$3"; work="$4"
rm -rf "$work"; mkdir -p "$work/data"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
"$mkdata" idx "$work/data" 600 200 1 28 28 10 || exit 2
exe="$work/model"
"$build/compiler/nitc" "$model" --batch 32 -o "$exe" || { echo "FAIL nitc"; exit 1; }
run() { "$exe" train --data "$work/data" --seed 5 --quiet "$@" > "$work/last.out" 2>&1; }

check "train 2 epochs" run --epochs 2 --save "$work/straight.ckpt" --save-init "$work/init.ckpt"
check "train 1 epoch" run --epochs 1 --save "$work/half.ckpt"
check "resume to 2 epochs" run --epochs 2 --resume "$work/half.ckpt" --save "$work/resumed.ckpt"
check "resume is bit-exact" cmp "$work/straight.ckpt" "$work/resumed.ckpt"
check "resume from the initial state" run --epochs 2 --resume "$work/init.ckpt" --save "$work/from-init.ckpt"
check "the initial state starts the same run" cmp "$work/straight.ckpt" "$work/from-init.ckpt"

run --epochs 2 --save "$work/again.ckpt" --log "$work/log.jsonl"
# eval of the checkpoint must see exactly the logits train's last test pass saw:
# same correct count and the same fixed-point loss
correct=$(tail -1 "$work/log.jsonl" | sed -E 's/.*"test_correct":([0-9]+).*/\1/')
loss=$(tail -1 "$work/log.jsonl" | sed -E 's/.*"test_loss":([0-9.]+).*/\1/')
"$exe" eval --data "$work/data" --load "$work/again.ckpt" > "$work/eval.out" 2>&1
check "eval runs" test $? -eq 0
check "eval matches train's last test pass ($correct correct, loss $loss)" \
  grep -q "loss $loss  ($correct/" "$work/eval.out"

check "threads 1" run --epochs 1 --threads 1 --save "$work/t1.ckpt"
check "threads 2" run --epochs 1 --threads 2 --save "$work/t2.ckpt"
check "threads give identical bytes" cmp "$work/t1.ckpt" "$work/t2.ckpt"
# uneven chunks (the pool's split when one core runs slower), forced: three
# threads at speeds 5:1:2 split a batch of 32 into chunks of 20, 4 and 8
check "threads 3, uneven chunks" env NITRT_POOL_PACE=5,1,2 "$exe" train --data "$work/data" --seed 5 --quiet \
  --epochs 1 --threads 3 --save "$work/t3.ckpt"
check "uneven chunks give identical bytes" cmp "$work/t1.ckpt" "$work/t3.ckpt"

check "save-every 3" run --epochs 2 --save-every 3 --save "$work/every.ckpt"
check "save-every changes nothing" cmp "$work/straight.ckpt" "$work/every.ckpt"
# Ctrl-C at a fraction of a straight run's time, until a checkpoint inside an
# epoch is caught (the saves every 3 steps make the interrupted run slower)
t0=$(date +%s%N); run --epochs 2 --save "$work/timing.ckpt"; ms=$((($(date +%s%N) - t0) / 1000000))
mid=none
for pct in 50 30 70 15 85 5; do
  rm -f "$work/mid.ckpt"
  timeout --preserve-status -s INT "$(printf '%d.%03d' $((ms * pct / 100000)) $((ms * pct / 100 % 1000)))" \
    "$exe" train --data "$work/data" --seed 5 --quiet --epochs 2 --save-every 3 --save "$work/mid.ckpt" \
    > "$work/mid.out" 2>&1
  if [ -f "$work/mid.ckpt" ] && "$exe" inspect "$work/mid.ckpt" 2>/dev/null | grep -q '^position: inside epoch'; then
    mid=$("$exe" inspect "$work/mid.ckpt" | sed -n 's/^position: \(inside epoch [0-9]*, [0-9]* of [0-9]* steps done\).*/\1/p')
    break
  fi
done
check "a run stopped inside an epoch ($mid)" test "$mid" != none
check "resume from inside an epoch" run --epochs 2 --resume "$work/mid.ckpt" --save "$work/mid-resumed.ckpt"
check "resume from inside an epoch is bit-exact" cmp "$work/straight.ckpt" "$work/mid-resumed.ckpt"
# stops chosen in advance: 600 samples at batch 32 make 19 steps an epoch,
# so step 7 is inside the first and step 26 inside the second
check "stop at step 7" run --epochs 2 --max-steps 7 --save "$work/steps.ckpt"
check "on from there to step 26" run --epochs 2 --max-steps 26 --resume "$work/steps.ckpt" --save "$work/steps.ckpt"
check "step 26 is the second epoch's seventh" \
  bash -c "'$exe' inspect '$work/steps.ckpt' | grep -q '^position: inside epoch 2, 7 of 19 steps done'"
check "on to the end" run --epochs 2 --resume "$work/steps.ckpt" --save "$work/steps.ckpt"
check "a run in three pieces is bit-exact" cmp "$work/straight.ckpt" "$work/steps.ckpt"

cp "$work/straight.ckpt" "$work/bad.ckpt"
printf '\x55' | dd of="$work/bad.ckpt" bs=1 seek=100 conv=notrunc status=none
cp "$work/bad.ckpt" "$work/bad.copy"
"$exe" eval --data "$work/data" --load "$work/bad.ckpt" > "$work/bad.out" 2>&1
check "corrupt checkpoint refused with exit 1" test $? -eq 1
check "message names the file" grep -q "bad.ckpt" "$work/bad.out"
check "corrupt checkpoint untouched" cmp "$work/bad.ckpt" "$work/bad.copy"
checks_done
