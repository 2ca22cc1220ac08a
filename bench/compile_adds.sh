#!/usr/bin/env bash
# bench/compile_adds.sh: nitc compile time against the number of residual adds.
#
#   bench/compile_adds.sh [--build DIR] [--terms "16 32 64 128"] [--shape chain|lets] [--emit obj]
#                         [--phases]
#
# For each N, a valid model whose logits come from a sum of N terms of one
# value (chain: `let s = a + a + ... + a`, N - 1 adds in one expression;
# lets: `let s1 = a + a`, `let s2 = s1 + a`, ... the same graph written
# as statements) is compiled three times with `nitc --emit obj -O2`; the
# table shows the median wall time, the time per term, and the ratio to the
# previous row (a ratio near 2 per doubling is linear, near 4 quadratic);
# times are wall and CPU (user + system) seconds, the ratio uses CPU time.
# --phases adds the time of the front end alone (--check) and of code
# generation without optimization (--emit llvm -O0), which separates nitc's
# own phases from LLVM's pass pipeline.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="$root/build"
terms="16 32 64 128"
shape=chain
emit=obj
phases=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --terms) terms="$2"; shift 2 ;;
    --shape) shape="$2"; shift 2 ;;
    --emit) emit="$2"; shift 2 ;;
    --phases) phases=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "compile_adds.sh: unknown argument '$1'" >&2; exit 1 ;;
  esac
done
nitc="$build/compiler/nitc"
[ -x "$nitc" ] || { echo "compile_adds.sh: $nitc not built (scripts/build)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# gen N FILE: the model with an N-term sum
gen() {
  local n=$1 i
  {
    printf 'model adds%d {\n    input x[1, 8, 8]\n    output classes(10)\n' "$n"
    printf '    let a = relu(conv c0(x, 4, kernel=3, pad=1))\n'
    if [ "$shape" = chain ]; then
      printf '    let s = a'
      for ((i = 2; i <= n; i++)); do printf ' + a'; done
      printf '\n'
    else
      printf '    let s1 = a + a\n'
      for ((i = 2; i < n; i++)); do printf '    let s%d = s%d + a\n' "$i" $((i - 1)); done
    fi
    printf '    flatten\n    dense head(10)\n}\n'
  } > "$2"
}

# median3 CMD...: "WALL CPU", the medians over three runs of the wall time
# and of the CPU time (user + system; steadier on a shared machine)
median3() {
  local k w=() c=()
  for k in 1 2 3; do
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" > /dev/null
    read -r e u sy < "$work/time"
    w+=("$e")
    c+=("$(echo "$u + $sy" | bc -l)")
  done
  echo "$(printf '%s\n' "${w[@]}" | sort -g | sed -n 2p) $(printf '%s\n' "${c[@]}" | sort -g | sed -n 2p)"
}

if [ "$phases" -eq 1 ]; then
  printf '%6s  %9s  %11s  %10s  %10s  %12s  %8s\n' terms check_cpu llvm_O0_cpu "${emit}_O2_wall" "${emit}_O2_cpu" \
    cpu_ms/term cpu_ratio
else
  printf '%6s  %10s  %10s  %12s  %8s\n' terms "${emit}_O2_wall" "${emit}_O2_cpu" cpu_ms/term cpu_ratio
fi
prev=""
for n in $terms; do
  f="$work/adds$n.nit"
  gen "$n" "$f"
  "$nitc" --check "$f"
  read -r wall cpu <<< "$(median3 "$nitc" "$f" --emit "$emit" -O2 -o "$work/out")"
  per=$(echo "1000 * $cpu / $n" | bc -l)
  ratio="-"
  [ -n "$prev" ] && ratio=$(printf '%.2f' "$(echo "$cpu / $prev" | bc -l)")
  if [ "$phases" -eq 1 ]; then
    read -r _ chk <<< "$(median3 "$nitc" "$f" --check)"
    read -r _ o0 <<< "$(median3 "$nitc" "$f" --emit llvm -O0 -o "$work/out.ll")"
    printf '%6d  %9.3f  %11.3f  %10.2f  %10.2f  %12.1f  %8s\n' "$n" "$chk" "$o0" "$wall" "$cpu" "$per" "$ratio"
  else
    printf '%6d  %10.2f  %10.2f  %12.1f  %8s\n' "$n" "$wall" "$cpu" "$per" "$ratio"
  fi
  prev=$cpu
done
