#!/usr/bin/env bash
# Wide fan-out and long add chains against the reference, byte for byte:
#   fan200    one value read by 200 consumers (a 200-term sum h + h + ... + h),
#             so its error is the exact aligned sum of 200 contributions
#   chain100  a chain of 100 residual adds over 100 dense branches of x
# Compiled at -O0: this checks what the code computes, not how fast it does;
# the optimizer's compile time on such graphs is measured by
# bench/compile_adds.sh.
#   fanout.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$build/tests/fanout"
rm -rf "$work"; mkdir -p "$work"
cc="${CC:-cc}"

{ echo "model fan200 {"; echo "  input x[1, 3, 3]"; echo "  output classes(3)"
  echo "  let h = relu(dense d0(x, 6))"
  printf "  let s = h"; for _ in $(seq 2 200); do printf " + h"; done; echo
  echo "  dense out(3)"; echo "}"; echo "train { batch 3 }"; } > "$work/fan200.nit"

{ echo "model chain100 {"; echo "  input x[1, 3, 3]"; echo "  output classes(3)"
  echo "  let s0 = dense b0(x, 5)"
  for i in $(seq 1 100); do echo "  let s$i = s$((i - 1)) + dense b$i(x, 5)"; done
  echo "  dense out(3)"; echo "}"; echo "train { batch 3 }"; } > "$work/chain100.nit"

# shellcheck source=tests/codegen/against_ref.sh
. "$(dirname "$0")/against_ref.sh"
against_ref -O0 fan200 chain100
