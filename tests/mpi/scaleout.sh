#!/usr/bin/env bash
# Data-parallel training over MPI (docs/scaleout.md): executables built with
# `nitc --mpi`, run by mpirun on 1 to 4 ranks, against the plain executable
# of the same model in one process.
#   1. the plain runtime has no MPI symbol; `--mpi` changes only the link
#      (the object is the same); --mpi for a cross target, or without the
#      MPI runtime, is refused;
#   2. mlp, lenet5, resnet_tiny, vgg_small (dropout, int16 weights),
#      lenet5_ghaffari, mlp_ln (layernorm), resnet_bn (batchnorm) and
#      lenet5_unified (the clip search and d_c over the ranks), 2
#      epochs at -np 1, 2, 3, 4: checkpoints byte for
#      byte, epoch log records equal but for their two timing fields, run
#      records equal but for started, command, threads and ranks. 99
#      training samples at batch 16 leave 3 in the last batch, so a rank is
#      empty there at -np 4 (the mlp's --holdout 18 leaves 1);
#   3. negative control: two ranks at batch 8 are not one process at batch
#      16 (--batch is the global batch, and the comparison can fail);
#   4. eval at -np 3 prints what one process prints;
#   5. resume across rank counts: 1 epoch at -np 3, then to 2 epochs at
#      -np 2, equals 2 epochs in one process; so does a stop inside the
#      second epoch at -np 3 (--max-steps) resumed at -np 2;
#   6. an error on one rank (its data directory missing; another seed; other
#      data) ends every rank with exit 1 and one message;
#   7. SIGTERM to mpirun, and SIGINT to rank 1 alone, stop every rank after
#      the same step: the --save-every checkpoint written at the stop (which
#      rank 0 writes only after every rank showed the same weights) resumes
#      at another rank count to the bytes of an uninterrupted run.
# Every mpirun runs under `timeout`, so a deadlock fails. Exit 77 (skip)
# without mpirun or without the MPI runtime.
#   scaleout.sh BUILD_DIR EXAMPLES_DIR MKDATA WORK_DIR
set -uo pipefail
build="$1"; examples="$2"; mkdata="$3"; work="$4"
nitc="$build/compiler/nitc"
if ! command -v mpirun >/dev/null; then echo "skip: no mpirun (install openmpi-bin)"; exit 77; fi
if [ ! -f "$build/runtime/libnitrt_mpi-x86_64-linux-gnu.a" ]; then
  echo "skip: no libnitrt_mpi-x86_64-linux-gnu.a (mpicc was not found at configure time)"; exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 # CI runs as root
export OMPI_MCA_rmaps_base_oversubscribe=1 # 3 and 4 ranks on 2 cores
# a rank waiting in a collective yields its core instead of spinning: with
# 3 or 4 ranks on 2 cores (and ctest's other test on one of them) spinning
# ranks take the time of those with work (97 against 74 s with one core busy)
export OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none # one machine; no ptrace needed
rm -rf "$work"; mkdir -p "$work"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
mpi() { timeout 120 mpirun "$@"; }
# the epoch records without their timing fields; the run record without the
# fields that may differ (docs/scaleout.md)
epochs() { grep -v '"record":"run"' "$1" | sed -E 's/"samples_per_sec":[0-9]+,"seconds":[0-9.]+,//'; }
runrec() {
  grep '"record":"run"' "$1" | sed -E 's/"started":"[^"]*",//; s/"command":\[[^]]*\],//; s/"threads":[0-9]+,//; s/"ranks":[0-9]+,//'
}
same_logs() { [ -n "$(epochs "$1")" ] && diff <(epochs "$1") <(epochs "$2") >/dev/null && diff <(runrec "$1") <(runrec "$2") >/dev/null; }

# ---- 1. the link
mkdir -p "$work/mnist" "$work/big"; "$mkdata" idx "$work/mnist" 99 50 1 28 28 10 || exit 2
mkdir -p "$work/cifar"; "$mkdata" cifar "$work/cifar" 20 50 || exit 2
lib="$build/runtime/libnitrt-x86_64-linux-gnu.a"
check "no MPI symbol in the plain runtime" bash -c "! nm '$lib' | grep -Eq ' (MPI|PMPI|ompi)_'"
check "the MPI runtime calls MPI_Allreduce" bash -c "nm '$build/runtime/libnitrt_mpi-x86_64-linux-gnu.a' | grep -q ' U MPI_Allreduce'"
"$nitc" "$examples/mlp.nit" --batch 16 --emit obj -o "$work/plain.o" && "$nitc" "$examples/mlp.nit" --batch 16 --mpi --emit obj -o "$work/mpi.o"
check "--mpi leaves the object as it is" cmp "$work/plain.o" "$work/mpi.o"
"$nitc" "$examples/mlp.nit" --mpi --target aarch64-linux-gnu -o "$work/cross" > "$work/cross.out" 2>&1
check "--mpi for a cross target is refused" bash -c "[ $? = 1 ] && grep -q 'host' '$work/cross.out' && [ ! -e '$work/cross' ]"
mkdir -p "$work/alone/bin" "$work/alone/rt" && cp "$nitc" "$work/alone/bin/" && cp "$lib" "$work/alone/rt/"
"$work/alone/bin/nitc" "$examples/mlp.nit" --mpi --runtime-dir "$work/alone/rt" -o "$work/alone/x" > "$work/alone.out" 2>&1
check "--mpi without the MPI runtime is refused" \
  bash -c "[ $? = 1 ] && grep -q 'error: --mpi: the MPI runtime is not found' '$work/alone.out' && [ ! -e '$work/alone/x' ]"

# ---- 2. every rank count against one process
# model, data, extra training flags
models=(
  "mlp mnist --rounding nearest --holdout 18"
  "lenet5 mnist --rounding stochastic"
  "resnet_tiny mnist"
  "vgg_small cifar --limit 99"
  "lenet5_ghaffari mnist"
  "mlp_ln mnist"
  "resnet_bn mnist --limit 99"
  "lenet5_unified mnist"
)
for spec in "${models[@]}"; do
  read -r model data flags <<< "$spec"
  d="$work/$model"; mkdir -p "$d"
  if ! "$nitc" "$examples/$model.nit" --batch 16 -o "$d/plain" || ! "$nitc" "$examples/$model.nit" --batch 16 --mpi -o "$d/mpi"; then
    check "$model: nitc" false; continue
  fi
  args=(train --data "$work/$data" --epochs 2 --batch 16 --seed 3 --quiet --save model.ckpt --log log.jsonl $flags)
  mkdir -p "$d/one" && (cd "$d/one" && ../plain "${args[@]}" > out 2>&1) || { check "$model: one process" false; continue; }
  for np in 1 2 3 4; do
    mkdir -p "$d/np$np"
    (cd "$d/np$np" && mpi -np "$np" ../mpi "${args[@]}" > out 2>&1)
    check "$model -np $np: trains" test $? = 0
    check "$model -np $np: the checkpoint of one process" cmp "$d/one/model.ckpt" "$d/np$np/model.ckpt"
    check "$model -np $np: the log of one process" same_logs "$d/one/log.jsonl" "$d/np$np/log.jsonl"
  done
done
check "a run record says how many ranks" grep -q '"ranks":4,' "$work/lenet5/np4/log.jsonl"
check "one rank's run record has no ranks field" bash -c "! grep -q '\"ranks\"' '$work/lenet5/np1/log.jsonl'"

# ---- 3. negative control
d="$work/lenet5"
(cd "$d" && mpi -np 2 ./mpi train --data "$work/mnist" --epochs 2 --batch 8 --seed 3 --quiet --rounding stochastic \
  --save b8.ckpt > /dev/null 2>&1)
check "negative control: 2 ranks at batch 8 are not one process at batch 16" \
  bash -c "[ -f '$d/b8.ckpt' ] && ! cmp -s '$d/b8.ckpt' '$d/one/model.ckpt'"

# ---- 4. eval
"$d/plain" eval --data "$work/mnist" --load "$d/one/model.ckpt" --per-class > "$d/eval1" 2>&1
mpi -np 3 "$d/mpi" eval --data "$work/mnist" --load "$d/one/model.ckpt" --per-class > "$d/eval3" 2>&1
check "eval at -np 3 prints what one process prints" \
  diff <(sed -E 's/[0-9]+ samples\/s//' "$d/eval1") <(sed -E 's/[0-9]+ samples\/s//' "$d/eval3")

# ---- 5. resume across rank counts
d="$work/vgg_small"
a=(train --data "$work/cifar" --limit 99 --batch 16 --seed 3 --quiet)
(cd "$d" && mpi -np 3 ./mpi "${a[@]}" --epochs 1 --save half.ckpt > half.out 2>&1 &&
  mpi -np 2 ./mpi train --resume half.ckpt --epochs 2 --quiet --save resumed.ckpt > resumed.out 2>&1)
check "vgg_small: 1 epoch at -np 3, resumed to 2 at -np 2, is 2 epochs in one process" \
  cmp "$d/one/model.ckpt" "$d/resumed.ckpt"
# from inside an epoch: 99 samples at batch 16 are 7 steps an epoch, so
# step 9 is the second epoch's second
d="$work/lenet5"
b=(train --data "$work/mnist" --epochs 2 --batch 16 --seed 3 --quiet --rounding stochastic)
(cd "$d" && mpi -np 3 ./mpi "${b[@]}" --max-steps 9 --save mid.ckpt > mid.out 2>&1)
check "lenet5: --max-steps 9 at -np 3 stops inside the second epoch" \
  bash -c "'$d/plain' inspect '$d/mid.ckpt' | grep -q '^position: inside epoch 2, 2 of 7 steps done'"
(cd "$d" && mpi -np 2 ./mpi "${b[@]}" --resume mid.ckpt --save mid-resumed.ckpt > mid-resumed.out 2>&1)
check "... resumed at -np 2, is 2 epochs in one process" cmp "$d/one/model.ckpt" "$d/mid-resumed.ckpt"

# ---- 6. errors on one rank
d="$work/lenet5"
t=(train --epochs 1 --batch 16 --quiet)
mpi -np 1 "$d/mpi" "${t[@]}" --data "$work/mnist" : -np 1 "$d/mpi" "${t[@]}" --data "$work/nowhere" > "$d/err1" 2>&1
rc=$?
check "a data directory missing on rank 1 ends every rank with exit 1" test "$rc" = 1
check "... and says so once" test "$(grep -c 'error: rank 1: .*nowhere' "$d/err1")" = 1
check "... and nothing else" test "$(grep -c 'error:' "$d/err1")" = 1
mpi -np 1 "$d/mpi" "${t[@]}" --data "$work/mnist" : -np 1 "$d/mpi" "${t[@]}" --data "$work/mnist" --seed 9 > "$d/err2" 2>&1
check "another seed on rank 1 is refused" bash -c "[ $? = 1 ] && grep -q 'error: the ranks were started with different settings' '$d/err2'"
cp -r "$work/mnist" "$work/mnist2"
printf '\x7f' | dd of="$work/mnist2/train-images-idx3-ubyte" bs=1 seek=500 conv=notrunc status=none
mpi -np 1 "$d/mpi" "${t[@]}" --data "$work/mnist" : -np 1 "$d/mpi" "${t[@]}" --data "$work/mnist2" > "$d/err3" 2>&1
check "other data on rank 1 is refused" bash -c "[ $? = 1 ] && grep -q 'error: the ranks read different data' '$d/err3'"

# ---- 7. signals
d="$work/lenet5"
"$mkdata" idx "$work/big" 1000 50 1 28 28 10 >/dev/null
s=(train --data "$work/big" --batch 16 --seed 3 --quiet)
# $1: how (term: SIGTERM to mpirun; rank1: SIGINT to rank 1 alone), $2: checkpoint
interrupt() {
  local how="$1" ck="$2" p r q
  rm -f "$ck"
  mpirun -np 2 "$d/mpi" "${s[@]}" --epochs 1000 --save-every 7 --save "$ck" > "$ck.out" 2>&1 &
  p=$!
  for _ in $(seq 100); do # until the run has written a checkpoint
    [ -f "$ck" ] && break; sleep 0.1
  done
  sleep 0.5
  if [ "$how" = term ]; then
    kill -TERM "$p"
  else
    for q in $(pgrep -P "$p"); do
      grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$q/environ" 2>/dev/null && r=$q
    done
    [ -n "${r:-}" ] && kill -INT "$r"
  fi
  # at most 60 s for every rank to stop (polled here: a guard process's
  # sleep would outlive the test and hold ctest's output pipe for its 60 s)
  for _ in $(seq 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null; wait "$p"
  grep -Eq "interrupted during epoch [0-9]+; .* holds epoch [0-9]+ up to step" "$ck.out" && [ -f "$ck" ]
}
for how in term rank1; do
  ck="$d/$how.ckpt"
  check "SIGTERM/SIGINT ($how) stops every rank after the same step" interrupt "$how" "$ck"
  epoch=$("$d/plain" inspect "$ck" 2>/dev/null | sed -n 's/^position: inside epoch \([0-9]*\),.*/\1/p')
  check "... inside epoch ${epoch:-?}" test -n "$epoch"
  [ -n "$epoch" ] || continue
  (cd "$d" && ./plain "${s[@]}" --epochs "$epoch" --save "straight-$how.ckpt" 2>/dev/null)
  mpi -np 3 "$d/mpi" train --resume "$ck" --epochs "$epoch" --quiet --save "$d/resumed-$how.ckpt" > /dev/null 2>&1
  check "... resumes at -np 3 to the bytes of an uninterrupted run" cmp "$d/straight-$how.ckpt" "$d/resumed-$how.ckpt"
done
checks_done
