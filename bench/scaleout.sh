#!/usr/bin/env bash
# Data-parallel training on this machine (docs/scaleout.md): about 2 minutes.
#   1. what one step asks of the ranks, per example: the MAX collectives and
#      the gradient SUM payload, counted by callbacks (bench/collectives.c);
#   2. the two collectives alone at 2 ranks: MAX latency, SUM bandwidth
#      (bench/mpi_collectives.c);
#   3. vgg_small (batch 32) on synthetic CIFAR-10 data, 2000 samples, one
#      epoch: 1 rank x 1 thread against 2 ranks x 1 thread, the training
#      samples/s of the epoch record, median of RUNS runs each (interleaved;
#      each run's own ratio too), and for comparison one plain process with
#      1 and 2 threads, and two independent plain 1-thread processes at once
#      (the ceiling of any data-parallel scheme on these cores); RUNS
#      (default 5) runs of each. On a machine shared with other work the runs
#      scatter: a rank slowed down on its core holds the other at the next
#      collective.
#   bench/scaleout.sh [BUILD_DIR]     (default: build; needs Open MPI)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
nitc="$build/compiler/nitc"
mkdata="$build/tests/nitrt_mkdata"
for f in "$nitc" "$mkdata" "$build/runtime/libnitrt_mpi-x86_64-linux-gnu.a"; do
  [ -e "$f" ] || { echo "scaleout.sh: $f is missing: build with Open MPI installed (scripts/install-deps, scripts/build)" >&2; exit 1; }
done
command -v mpirun >/dev/null && command -v mpicc >/dev/null || { echo "scaleout.sh: needs mpirun and mpicc (openmpi-bin, libopenmpi-dev)" >&2; exit 1; }
work="${TMPDIR:-/tmp}/nitc-scaleout"
rm -rf "$work"; mkdir -p "$work/cifar"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --mca btl self,vader --bind-to core)

echo "== collectives of one training step (the runtime adds one MAX per step: the stop flag)"
for m in mlp lenet5 vgg_small resnet_tiny lenet5_ghaffari; do
  "$nitc" "examples/$m.nit" --emit obj -o "$work/$m.o"
  cc -O2 -std=c11 -Iruntime bench/collectives.c "$work/$m.o" "$build/runtime/libnitrt-x86_64-linux-gnu.a" -lz -lpthread \
    -o "$work/collectives-$m"
  "$work/collectives-$m"
done

echo; echo "== the collectives alone, 2 ranks"
mpicc -O2 -std=c11 bench/mpi_collectives.c -o "$work/mpi_collectives"
"${mpi[@]}" -np 2 "$work/mpi_collectives"

echo; echo "== vgg_small, batch 32, 2000 training samples, 1 epoch"
"$mkdata" cifar "$work/cifar" 400 100
"$nitc" examples/vgg_small.nit --mpi -o "$work/vgg_small-mpi"
"$nitc" examples/vgg_small.nit -o "$work/vgg_small"
train=(train --data "$work/cifar" --epochs 1 --test-limit 100 --quiet)
rate() { sed -n 's/.*"samples_per_sec":\([0-9]*\).*/\1/p' "$1" | tail -1; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
runs="${RUNS:-5}"
r1=(); r2=(); p1=(); p2=(); qs=(); is=()
for k in $(seq "$runs"); do
  rm -f "$work"/*.jsonl
  "${mpi[@]}" -np 1 "$work/vgg_small-mpi" "${train[@]}" --threads 1 --log "$work/r1.jsonl" 2>/dev/null
  "${mpi[@]}" -np 2 "$work/vgg_small-mpi" "${train[@]}" --threads 1 --log "$work/r2.jsonl" 2>/dev/null
  "$work/vgg_small" "${train[@]}" --threads 1 --log "$work/p1.jsonl" 2>/dev/null
  "$work/vgg_small" "${train[@]}" --threads 2 --log "$work/p2.jsonl" 2>/dev/null
  # the ceiling of any data-parallel scheme here: two independent plain
  # processes of 1 thread each, no communication, run at the same time
  "$work/vgg_small" "${train[@]}" --threads 1 --log "$work/i1.jsonl" 2>/dev/null &
  "$work/vgg_small" "${train[@]}" --threads 1 --log "$work/i2.jsonl" 2>/dev/null
  wait
  ind=$(( $(rate "$work/i1.jsonl") + $(rate "$work/i2.jsonl") )); is+=("$ind")
  r1+=("$(rate "$work/r1.jsonl")"); r2+=("$(rate "$work/r2.jsonl")")
  p1+=("$(rate "$work/p1.jsonl")"); p2+=("$(rate "$work/p2.jsonl")")
  q=$((r2[-1] * 100 / r1[-1])); qs+=("$q")
  printf 'run %d: 1 rank x 1 thread %d, 2 ranks x 1 thread %d (%d.%02dx), plain 1 thread %d, plain 2 threads %d, two independent 1-thread processes %d samples/s together\n' \
    "$k" "${r1[-1]}" "${r2[-1]}" $((q / 100)) $((q % 100)) "${p1[-1]}" "${p2[-1]}" "$ind"
done
a=$(median "${r1[@]}"); b=$(median "${r2[@]}"); c=$(median "${p1[@]}"); d=$(median "${p2[@]}")
x=$((b * 100 / a)); y=$((d * 100 / c))
z=$(median "${qs[@]}")
printf 'median: 1 rank x 1 thread %d, 2 ranks x 1 thread %d samples/s: %d.%02dx; median of the runs'"'"' ratios %d.%02dx (target 1.80x)\n' \
  "$a" "$b" $((x / 100)) $((x % 100)) $((z / 100)) $((z % 100))
e=$(median "${is[@]}"); w=$((e * 100 / c))
printf 'median: two independent 1-thread processes %d samples/s together, %d.%02dx one plain process: what the cores give\n' "$e" $((w / 100)) $((w % 100))
printf 'median: plain 1 thread %d, plain 2 threads %d samples/s: %d.%02dx\n' "$c" "$d" $((y / 100)) $((y % 100))
echo "nproc $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg)"
