#!/usr/bin/env bash
# bench/compile_time.sh: nitc's compile time for every example, to an
# executable (the default: `nitc FILE -o EXE`, linking included) at the
# default optimization level.
#
#   bench/compile_time.sh [--build DIR] [--against NITC] [--runs N] [--target TRIPLE]
#
# Each example is compiled N times (default 3), interleaved with the other
# measurements; the table shows medians. wall s: the time a user waits, with
# the code generated in one unit per core (--jobs, units.c); CPU s: user +
# system of nitc and the linker it runs; wall s, --jobs 1: one unit, one
# thread. With --against, another nitc binary (say, one built from an earlier
# commit) is timed the same way in the same loop, and the table adds its wall
# and CPU times. The phases of one compile: --emit llvm -O0 (nitc's own
# front end and code generation), then LLVM's optimizer (one thread) and
# code generator (one thread per unit), then the link. --target compiles
# for another target (linked with the build's libnitrt-TRIPLE.a, the other
# nitc's too).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="$root/build"
against=""
runs=3
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --against) against="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --target) target="$2"; shift 2 ;;
    *) echo "compile_time.sh: unknown option $1" >&2; exit 1 ;;
  esac
done
nitc="$build/compiler/nitc"
[ -x "$nitc" ] || { echo "compile_time.sh: $nitc is missing: build first (scripts/build)" >&2; exit 1; }
[ -z "$against" ] || [ -x "$against" ] || { echo "compile_time.sh: $against is not an executable" >&2; exit 1; }
tflags=()
[ -z "$target" ] || tflags=(--target "$target" --runtime-dir "$build/runtime")
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

printf '| example | wall s | CPU s | wall s, --jobs 1 | of which --emit llvm -O0 CPU s |'
[ -n "$against" ] && printf ' other nitc wall s | other nitc CPU s |'
printf '\n|---|---|---|---|---|'
[ -n "$against" ] && printf -- '---|---|'
printf '\n'
worst=0; worst1=0
for f in "$root"/examples/*.nit; do
  e="$(basename "$f" .nit)"
  cpu=(); wall=(); wall1=(); ir=(); ow=(); oc=()
  for _ in $(seq "$runs"); do
    read -r c w <<< "$(timed "$nitc" "$f" "${tflags[@]}" -o "$work/x")"; cpu+=("$c"); wall+=("$w")
    read -r c w <<< "$(timed "$nitc" "$f" "${tflags[@]}" --jobs 1 -o "$work/x1")"; wall1+=("$w")
    read -r c w <<< "$(timed "$nitc" "$f" "${tflags[@]}" --emit llvm -O0 -o "$work/x.ll")"; ir+=("$c")
    if [ -n "$against" ]; then
      read -r c w <<< "$(timed "$against" "$f" "${tflags[@]}" -o "$work/y")"; oc+=("$c"); ow+=("$w")
    fi
  done
  mw="$(median "${wall[@]}")"; mw1="$(median "${wall1[@]}")"
  printf '| %s | %s | %s | %s | %s |' "$e" "$mw" "$(median "${cpu[@]}")" "$mw1" "$(median "${ir[@]}")"
  if [ -n "$against" ]; then
    mo="$(median "${ow[@]}")"; case "$mo" in -*) mo="(fails)" ;; esac
    printf ' %s | %s |' "$mo" "$(median "${oc[@]}")"
  fi
  printf '\n'
  worst="$(awk -v a="$mw" -v b="$worst" 'BEGIN { print (a > b) ? a : b }')"
  worst1="$(awk -v a="$mw1" -v b="$worst1" 'BEGIN { print (a > b) ? a : b }')"
done
echo
echo "Slowest example${target:+ for $target}: $worst s of wall time, $worst1 s with --jobs 1 (target: under 1 s). $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)."
