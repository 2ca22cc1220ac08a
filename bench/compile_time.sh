#!/usr/bin/env bash
# bench/compile_time.sh: nitc's compile time for every example, to an object
# file at the default optimization level.
#
#   bench/compile_time.sh [--build DIR] [--against NITC] [--runs N]
#
# Each example is compiled N times (default 3) with `nitc FILE --emit obj`;
# the table shows the median CPU time (user + system, which a busy machine
# inflates less than wall time) and the median wall time. With --against,
# another nitc binary (say, one built from an earlier commit) is timed in the
# same loop, interleaved run by run, and the table adds its CPU time and the
# ratio. The phases of one compile: --emit llvm -O0 (nitc's own front end
# and code generation), the rest is LLVM's optimizer and code generator.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="$root/build"
against=""
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --against) against="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    *) echo "compile_time.sh: unknown option $1" >&2; exit 1 ;;
  esac
done
nitc="$build/compiler/nitc"
[ -x "$nitc" ] || { echo "compile_time.sh: $nitc is missing: build first (scripts/build)" >&2; exit 1; }
[ -z "$against" ] || [ -x "$against" ] || { echo "compile_time.sh: $against is not an executable" >&2; exit 1; }
work="$(mktemp -d /tmp/nitc-ctime.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# cpu and wall seconds of one command, "CPU WALL"
# (a failed compile: "- -")
timed() {
  if /usr/bin/time -f "%U %S %e" -o "$work/t" "$@" >/dev/null 2>&1; then
    awk '{ printf "%.2f %.2f", $1 + $2, $3 }' "$work/t"
  else echo "- -"; fi
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

printf '| example | CPU s | wall s | of which --emit llvm -O0 CPU s |'
[ -n "$against" ] && printf ' other nitc CPU s | other / this |'
printf '\n|---|---|---|---|'
[ -n "$against" ] && printf -- '---|---|'
printf '\n'
worst=0
for f in "$root"/examples/*.nit; do
  e="$(basename "$f" .nit)"
  cpu=(); wall=(); ir=(); oth=()
  for _ in $(seq "$runs"); do
    read -r c w <<< "$(timed "$nitc" "$f" --emit obj -o "$work/x.o")"; cpu+=("$c"); wall+=("$w")
    read -r c w <<< "$(timed "$nitc" "$f" --emit llvm -O0 -o "$work/x.ll")"; ir+=("$c")
    if [ -n "$against" ]; then read -r c w <<< "$(timed "$against" "$f" --emit obj -o "$work/y.o")"; oth+=("$c"); fi
  done
  mc="$(median "${cpu[@]}")"
  printf '| %s | %s | %s | %s |' "$e" "$mc" "$(median "${wall[@]}")" "$(median "${ir[@]}")"
  if [ -n "$against" ]; then
    mo="$(median "${oth[@]}")"; case "$mo" in -*) mo="(fails)" ;; esac
    printf ' %s | %s |' "$mo" "$(awk -v a="$mo" -v b="$mc" 'BEGIN { if (b > 0 && a + 0 > 0) printf "%.2fx", a / b; else print "-" }')"
  fi
  printf '\n'
  worst="$(awk -v a="$mc" -v b="$worst" 'BEGIN { print (a > b) ? a : b }')"
done
echo
echo "Slowest example: $worst s of CPU (target: under 1 s). $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
