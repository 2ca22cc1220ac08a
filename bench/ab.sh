#!/usr/bin/env bash
# Alternating runs of two training executables, for comparing two versions
# of the code on a shared host, where the speed of a run moves by several
# per cent from minute to minute: A and B run in turns, ROUNDS times, each
# training EPOCHS epochs of LIMIT samples, and each run's figure is the
# samples/s its last epoch printed. Prints every round, the medians, and
# the median and range of the per-round ratios B / A (a pair of runs a few
# seconds apart sees about the same host).
#
#   bench/ab.sh [--threads T] [--rounds N] [--limit N] [--epochs N] [--data DIR] [--b-args ARGS] [--cpu] A B
#
# With --cpu, a run's figure is samples per second of the process's CPU
# time (user and system, from bash's `time`, loading included) instead of
# the last epoch's wall-clock samples/s: on a busy host, where wall-clock
# rates swing by 10% from one run to the next, it resolves changes of about
# 1% in the instructions of one thread (use it with --threads 1 and more
# epochs, such as 8, so that loading weighs less).
#
# --b-args "ARGS" adds train options to B's runs only: the same executable
# twice measures what an option costs, e.g. the per-layer telemetry:
#   bench/ab.sh --b-args "--telemetry 20" /tmp/lenet5 /tmp/lenet5
#
# Defaults: 2 threads, 7 rounds, 25,600 samples, 2 epochs, data/mnist.
# Example (an executable of the commit before against one of this commit):
#   git worktree add /tmp/before HEAD~1 && (cd /tmp/before && scripts/build)
#   /tmp/before/build/compiler/nitc examples/lenet5.nit -o /tmp/a
#   build/compiler/nitc examples/lenet5.nit -o /tmp/b
#   bench/ab.sh --rounds 9 /tmp/a /tmp/b
set -euo pipefail
threads=2 rounds=7 limit=25600 epochs=2 data=data/mnist cpu=0 bargs=
while [[ $# -gt 2 ]]; do
  if [[ "$1" == --cpu ]]; then
    cpu=1
    shift
    continue
  fi
  case "$1" in
  --threads) threads="$2" ;;
  --rounds) rounds="$2" ;;
  --limit) limit="$2" ;;
  --epochs) epochs="$2" ;;
  --data) data="$2" ;;
  --b-args) bargs="$2" ;;
  *) echo "bench/ab.sh: unknown option '$1'" >&2; exit 1 ;;
  esac
  shift 2
done
if [[ $# -ne 2 ]]; then
  echo "usage: bench/ab.sh [--threads T] [--rounds N] [--limit N] [--epochs N] [--data DIR] [--b-args ARGS] [--cpu] A B" >&2
  exit 1
fi
for exe in "$1" "$2"; do
  [[ -x "$exe" ]] || { echo "bench/ab.sh: $exe: not an executable" >&2; exit 1; }
done

# one training run of executable $1, with the train options $2 (word-split)
train() {
  # shellcheck disable=SC2086
  "$1" train --data "$data" --epochs "$epochs" --limit "$limit" --test-limit 200 --threads "$threads" $2
}

# samples/s of the last epoch of one run of $1 with options $2; with --cpu,
# samples per second of its CPU time
speed() {
  if ((cpu)); then
    local t TIMEFORMAT='%3U %3S'
    t=$({ time train "$1" "$2" >/dev/null 2>&1; } 2>&1) || return 1
    awk -v t="$t" -v n="$((epochs * limit))" 'BEGIN { split(t, f, " "); printf "%.0f\n", n / (f[1] + f[2]) }'
    return
  fi
  train "$1" "$2" 2>/dev/null |
    awk -v e="$epochs" '$1 == "epoch" && $2 ~ "^" e "/" { for (i = 1; i < NF; i++) if ($(i + 1) == "samples/s") v = $i } END { if (v == "") exit 1; print v }'
}

# shellcheck source=bench/stats.sh
. "$(dirname "$0")/stats.sh"

a=() b=() r=()
for ((k = 1; k <= rounds; k++)); do
  x=$(speed "$1" "") || { echo "bench/ab.sh: $1 printed no epoch $epochs" >&2; exit 1; }
  y=$(speed "$2" "$bargs") || { echo "bench/ab.sh: $2 printed no epoch $epochs" >&2; exit 1; }
  a+=("$x") b+=("$y") r+=("$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.4f", y / x }')")
  echo "round $k: A $x  B $y  B/A ${r[-1]}"
done
unit=samples/s
((cpu)) && unit="samples per CPU second"
echo "A median $(printf '%s\n' "${a[@]}" | median) $unit, B median $(printf '%s\n' "${b[@]}" | median) $unit"
lo=$(printf '%s\n' "${r[@]}" | sort -g | head -1) hi=$(printf '%s\n' "${r[@]}" | sort -g | tail -1)
echo "B / A: median $(printf '%s\n' "${r[@]}" | median) over $rounds rounds ($lo-$hi), threads: $threads"
