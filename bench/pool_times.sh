#!/usr/bin/env bash
# Where a training step's parallel time goes, body by body and executor by
# executor: trains EXE with NITRT_POOL_TIMES (runtime/pooltimes.c) and
# prints, per parallel body of the generated code, each executor's
# microseconds a step (its chunks' time over the steps run), items a step,
# and the median of its latest chunks. Executor 0 is the calling thread;
# a body run in one piece counts as executor 0's. Only time inside the
# bodies is counted there; a second table gives the caller's view of each
# call: the serial code before it, its span, and the join (the caller
# waiting for the other executors' chunks after its own). Serial gaps and
# spans add up to the caller's whole time from the first call to the last.
#
#   bench/pool_times.sh [--threads T] [--epochs N] [--limit N] [--data DIR] [--compare] EXE
#   bench/pool_times.sh --file TIMES STEPS [--one TIMES1] EXE   (files earlier runs wrote)
#
# --compare also trains EXE on one thread first and adds two columns: each
# body's microseconds a step on one thread, and what all executors took
# together on T threads over that (what the body costs more, or less, when
# it is split). --one names such a one-thread file in --file mode.
#
# Defaults: 2 threads, 2 epochs of 25,600 samples, data/mnist, and one
# test sample (so that the evaluation adds next to nothing). Extra
# environment (NITRT_POOL_PACE=1,1 for an even split) passes through.
# Body names come from EXE's symbol table (nm), so EXE must not be stripped.
set -euo pipefail
threads=2 epochs=2 limit=25600 data=data/mnist file="" steps="" one="" compare=0
while [[ $# -gt 1 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --compare) compare=1; shift ;;
    --file) file="$2"; steps="$3"; shift 3 ;;
    --one) one="$2"; shift 2 ;;
    *) echo "pool_times.sh: unknown option '$1'" >&2; exit 1 ;;
  esac
done
[[ $# -eq 1 ]] || { echo "usage: bench/pool_times.sh [--threads T] [--epochs N] [--limit N] [--data DIR] [--compare] EXE" >&2; exit 1; }
exe="$1"
[[ -x "$exe" ]] || { echo "pool_times.sh: '$exe' is not an executable" >&2; exit 1; }
command -v nm > /dev/null || { echo "pool_times.sh: needs nm (binutils)" >&2; exit 1; }
if [[ -z "$file" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  file="$tmp/times"
  # one test sample: the evaluation's bodies stay out of the figures
  timed() { # FILE THREADS
    NITRT_POOL_TIMES="$1" "$exe" train --data "$data" --epochs "$epochs" --limit "$limit" --test-limit 1 \
      --threads "$2" --quiet 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  }
  if [[ "$compare" == 1 ]]; then
    one="$tmp/one"
    timed "$one" 1
  fi
  timed "$file" "$threads"
  batch="$("$exe" info 2>/dev/null | awk '/^recipe:/ { for (i = 1; i < NF; i++) if ($i == "batch") { print $(i + 1) + 0; exit } }')"
  [[ "$batch" -gt 0 ]] 2>/dev/null || { echo "pool_times.sh: could not read the batch from '$exe info'" >&2; exit 1; }
  steps=$(( epochs * ((limit + batch - 1) / batch) ))
fi
[[ -s "$file" ]] || { echo "pool_times.sh: no times in '$file'" >&2; exit 1; }
[[ -z "$one" || -s "$one" ]] || { echo "pool_times.sh: no times in '$one'" >&2; exit 1; }
nm "$exe" | awk -v steps="$steps" -v file="$file" -v one="$one" '
  function hex(s,   v, i) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
  # the body a line names: its symbol, without the nitc. prefix
  function body(off,   at, b) { at = base + off; b = (at in name) ? name[at] : sprintf("0x%x", at); sub(/^nitc\./, "", b); return b }
  $3 == "nitrt_parallel_for" { base = hex($1) }
  NF == 3 { name[hex($1)] = $3 }
  END {
    if (!base) { print "pool_times.sh: no nitrt_parallel_for in the symbol table" > "/dev/stderr"; exit 1 }
    while ((getline line < file) > 0) {
      if (line ~ /^#/) { if (line ~ /not counted/) print line > "/dev/stderr"; continue }
      split(line, f, " ")
      if (f[1] == "r") { b = body(f[2]); rcalls[b] += f[3]; rser[b] += f[4]; rspan[b] += f[5]; rjoin[b] += f[6]; continue }
      b = body(f[2]); e = f[1] + 0
      if (e > emax) emax = e
      ns[b, e] += f[5]; items[b, e] += f[4]; med[b, e] = f[6]; total[b] += f[5]
    }
    close(file) # --one may name the same file
    while (one != "" && (getline line < one) > 0) {
      if (line ~ /^#/) continue
      split(line, f, " ")
      if (f[1] == "r") continue # the caller'"'"'s view of a call, not a body'"'"'s time
      b = body(f[2]); total1[b] += f[5]
      if (!(b in total)) total[b] = 0
    }
    printf "%d steps; microseconds a step per executor (0: the caller), items a step, median chunk\n", steps
    printf "%-22s", "body"
    if (one != "") printf " | %9s", "1 thread"
    for (e = 0; e <= emax; e++) printf " | %9s %7s %8s", "us e" e, "items", "median"
    printf " | %9s", "sum"
    if (one != "") printf " | %8s", "sum / 1"
    printf "\n"
    n = 0
    for (b in total) order[++n] = b
    for (i = 2; i <= n; i++) for (j = i; j > 1 && total[order[j]] + total1[order[j]] > total[order[j - 1]] + total1[order[j - 1]]; j--) {
      t = order[j]; order[j] = order[j - 1]; order[j - 1] = t
    }
    for (i = 1; i <= n; i++) {
      b = order[i]
      printf "%-22s", b
      if (one != "") printf " | %9.2f", total1[b] / 1000 / steps
      for (e = 0; e <= emax; e++)
        printf " | %9.2f %7.1f %8.2f", ns[b, e] / 1000 / steps, items[b, e] / steps, med[b, e] / 1000
      printf " | %9.2f", total[b] / 1000 / steps
      if (one != "") { if (total1[b] > 0) printf " | %8.2f", total[b] / total1[b]; else printf " | %8s", "-" }
      printf "\n"
      sum += total[b]; sum1 += total1[b]
    }
    printf "%-22s", "all bodies"
    if (one != "") printf " | %9.2f", sum1 / 1000 / steps
    for (e = 0; e <= emax; e++) { s = 0; for (i = 1; i <= n; i++) s += ns[order[i], e]; printf " | %9.2f %7s %8s", s / 1000 / steps, "", "" }
    printf " | %9.2f", sum / 1000 / steps
    if (one != "" && sum1 > 0) printf " | %8.2f", sum / sum1
    printf "\n"
    # the caller'"'"'s view of the calls: what a step spends outside the bodies
    m = 0
    for (b in rcalls) rorder[++m] = b
    if (m == 0) exit
    for (i = 2; i <= m; i++) for (j = i; j > 1 && rspan[rorder[j]] > rspan[rorder[j - 1]]; j--) {
      t = rorder[j]; rorder[j] = rorder[j - 1]; rorder[j - 1] = t
    }
    printf "\nregions, as the caller saw them: calls a step, microseconds a step of serial code before them, of their span, and of the span spent waiting for the other executors after its own chunks (join)\n"
    printf "%-22s | %6s | %9s | %9s | %9s\n", "body", "calls", "serial", "span", "join"
    for (i = 1; i <= m; i++) {
      b = rorder[i]
      printf "%-22s | %6.1f | %9.2f | %9.2f | %9.2f\n", b, rcalls[b] / steps, rser[b] / 1000 / steps, rspan[b] / 1000 / steps, rjoin[b] / 1000 / steps
      rc += rcalls[b]; rs += rser[b]; rp += rspan[b]; rj += rjoin[b]
    }
    printf "%-22s | %6.1f | %9.2f | %9.2f | %9.2f\n", "all regions", rc / steps, rs / 1000 / steps, rp / 1000 / steps, rj / 1000 / steps
    printf "the caller'"'"'s time a step: %.2f us serial + %.2f us in regions = %.2f us (the evaluation and the epochs'"'"' ends included)\n", rs / 1000 / steps, rp / 1000 / steps, (rs + rp) / 1000 / steps
  }'
