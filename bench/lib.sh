# bench/lib.sh: what the short-epoch benchmarks share (recipe_cost.sh,
# unified_cost.sh). Sourced after `usage` is set; parses their common flags
#   [--build DIR] [--samples N] [--runs R] [--threads T]
# into build, samples, runs, threads; checks data/mnist; makes $work (removed
# on exit); and defines
#   rate EXE    samples/s of one epoch of --limit $samples (the executable's
#               own timer, training steps only), EXE in $work
#   median      the median of the numbers on standard input (bench/stats.sh).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"; samples=6400; runs=5; threads=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "usage: $usage" >&2; exit 2 ;;
  esac
done
data="$root/data/mnist"
[ -f "$data/train-images-idx3-ubyte" ] || { echo "no $data: run scripts/fetch-data" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
rate() {
  "$work/$1" train --data "$data" --epochs 1 --limit "$samples" --test-limit 100 --batch 64 \
    --threads "$threads" --quiet --log "$work/$1.jsonl" > /dev/null 2>&1
  sed -E 's/.*"samples_per_sec":([0-9.]+).*/\1/' "$work/$1.jsonl" | tail -1
}
# shellcheck source=bench/stats.sh
. "$root/bench/stats.sh"
