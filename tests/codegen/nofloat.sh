#!/usr/bin/env bash
# No floating point in generated code: every example's optimized IR (and its
# -O0 IR) must contain no floating-point type, constant or instruction.
#   nofloat.sh NITC EXAMPLES_DIR WORK_DIR
set -uo pipefail
nitc="$1"; examples="$2"; work="$3"
mkdir -p "$work"
# a type or opcode is a bare word: not part of a %value or @global name
pre='(^|[^%@.[:alnum:]_])'
pattern="$pre(half|bfloat|float|double|x86_fp80|fp128|ppc_fp128)\\b|$pre(fadd|fsub|fmul|fdiv|frem|fneg|fcmp|fptosi|fptoui|sitofp|uitofp|fpext|fptrunc)\\b|@llvm\\.(sqrt|exp|log|pow|fma)"
# the pattern must catch real floating point and spare integer code with
# value names like %half
probe=$'  %x = fadd float %a, 1.0\n  %y = sitofp i32 %n to double\n  %half = lshr i64 %k, 1'
if [ "$(printf '%s\n' "$probe" | grep -cE "$pattern")" != 2 ]; then
  echo "FAIL the float pattern does not separate float from integer IR"; exit 1
fi
fails=0; total=0
for f in "$examples"/*.nit; do
  for o in 0 2; do
    total=$((total + 1))
    ll="$work/$(basename "$f" .nit).O$o.ll"
    if ! "$nitc" "$f" --emit llvm -O$o -o "$ll"; then
      echo "FAIL $f -O$o: nitc failed"; fails=$((fails + 1)); continue
    fi
    # the IR must be non-trivial: it defines the step functions
    if ! grep -q 'define internal void @nit_train_step' "$ll"; then
      echo "FAIL $f -O$o: no nit_train_step in the IR"; fails=$((fails + 1)); continue
    fi
    if grep -nE "$pattern" "$ll" | grep -v '^[0-9]*:;' | head -5 | grep .; then
      echo "FAIL $f -O$o: floating point in generated IR"; fails=$((fails + 1)); continue
    fi
    echo "ok $f -O$o"
  done
done
echo "$((total - fails)) passed, $fails failed"
[ "$fails" -eq 0 ] && [ "$total" -gt 0 ]
