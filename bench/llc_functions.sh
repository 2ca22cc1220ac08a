#!/usr/bin/env bash
# bench/llc_functions.sh: where the code generator's time goes, function by
# function, for one example. nitc's optimized IR (`--emit llvm`) is cut
# into one module per function (llvm-extract-19), and each is compiled
# alone by `llc-19 -O2 -time-passes` RUNS times; the table shows the
# medians of the whole compile, of loop strength reduction and of
# instruction selection, the slowest functions first, and the sums.
#
#   bench/llc_functions.sh [--build DIR] [--cpu CPU] [--runs N] [--top N] EXAMPLE.nit
#
# --cpu names the CPU for both nitc and llc (default: the host, `native`).
# Defaults: 3 runs, the top 25 functions. A function alone compiles a
# little differently than in its unit (no neighbours to share constants
# with), so the sums come near nitc's `--time-report` for the code
# generation units, not to it; the ranking is what this is for
# (docs/performance.md, "Loops that hold loops kept rolled").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="$root/build"
cpu=""
runs=3
top=25
while [ $# -gt 1 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --cpu) cpu="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --top) top="$2"; shift 2 ;;
    *) echo "llc_functions.sh: unknown option $1" >&2; exit 1 ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: bench/llc_functions.sh [--build DIR] [--cpu CPU] [--runs N] [--top N] EXAMPLE.nit" >&2; exit 1; }
model="$1"
nitc="$build/compiler/nitc"
[ -x "$nitc" ] || { echo "llc_functions.sh: $nitc is missing: build first (scripts/build)" >&2; exit 1; }
for t in llc-19 llvm-extract-19; do
  command -v "$t" >/dev/null || { echo "llc_functions.sh: $t is missing (Debian's llvm-19 package)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/nitc-llcfn.XXXXXX)"
trap 'rm -rf "$work"' EXIT

"$nitc" "$model" ${cpu:+--cpu "$cpu"} --emit llvm -o "$work/opt.ll"
grep -o '^define [^@]*@[^(]*' "$work/opt.ll" | sed 's/.*@//; s/"//g' >"$work/names"

# "TOTAL LSR ISEL" of one compile, wall seconds (a pass that did not run: 0)
one() {
  llc-19 -O2 -mcpu="${cpu:-native}" -time-passes "$1" -o /dev/null 2>"$work/t"
  # a pass's wall time is its last number before the name: llc leaves the
  # system-time column out of a report whose system time is all zero
  awk '
    function wall(f, n, i) { for (i = 1; i <= n && f[i] ~ /^[0-9.]+$/; i++); return f[i - 1] }
    /Total Execution Time:/ { if (!total) total = $4 }
    { line = $0; gsub(/\([^)]*\)/, "", line); n = split(line, f, " ") }
    /Loop Strength Reduction/ && !lsr { lsr = wall(f, n) }
    /DAG->DAG Instruction Selection/ && !isel { isel = wall(f, n) }
    END { printf "%s %s %s\n", total + 0, lsr + 0, isel + 0 }
  ' "$work/t"
}
# shellcheck source=bench/stats.sh
. "$here/stats.sh"

while read -r fn; do
  llvm-extract-19 --func="$fn" "$work/opt.ll" -S -o "$work/f.ll" 2>/dev/null || continue
  : >"$work/runs"
  for _ in $(seq "$runs"); do one "$work/f.ll" >>"$work/runs"; done
  echo "$(cut -d' ' -f1 "$work/runs" | median) $(cut -d' ' -f2 "$work/runs" | median) $(cut -d' ' -f3 "$work/runs" | median) $fn"
done <"$work/names" | sort -gr >"$work/table"

echo "| function | llc s | loop strength reduction s | instruction selection s |"
echo "|---|---|---|---|"
head -n "$top" "$work/table" | awk '{ printf "| %s | %.4f | %.4f | %.4f |\n", $4, $1, $2, $3 }'
awk '{ t += $1; l += $2; i += $3 } END { printf "| all %d functions | %.3f | %.3f | %.3f |\n", NR, t, l, i }' "$work/table"
echo
echo "$(basename "$model"), llc-19 -O2 -mcpu=${cpu:-native}, medians of $runs runs; $(date -u '+%Y-%m-%d %H:%M') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)."
