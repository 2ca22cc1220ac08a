#!/bin/sh
# Every example must pass `nitc --check` silently and print a shape table.
# usage: check_examples.sh NITC EXAMPLES_DIR
nitc=$1
dir=$2
fail=0
n=0
for f in "$dir"/*.nit; do
  n=$((n + 1))
  err=$("$nitc" --check "$f" 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$err" ]; then
    echo "FAIL $f: exit $rc"
    echo "$err"
    fail=1
  fi
  if ! "$nitc" --emit shapes "$f" | grep -q '^parameters: '; then
    echo "FAIL $f: --emit shapes printed no totals"
    fail=1
  fi
done
echo "examples: $n checked"
[ "$n" -ge 5 ] && [ "$fail" -eq 0 ]
