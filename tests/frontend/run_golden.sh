#!/bin/sh
# Golden diagnostics: for every NAME.nit in DIR, `nitc --check NAME.nit` (run
# from DIR, so paths in messages are relative) must exit 1, print nothing on
# stdout, and print exactly NAME.expected on stderr.
# usage: run_golden.sh NITC DIR
nitc=$1
dir=$2
cd "$dir" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
for f in *.nit; do
  name=${f%.nit}
  n=$((n + 1))
  "$nitc" --check "$f" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -ne 1 ]; then
    echo "FAIL $name: exit status $rc, expected 1"
    fail=$((fail + 1))
  elif [ -s "$tmp/out" ]; then
    echo "FAIL $name: unexpected output on stdout"
    fail=$((fail + 1))
  elif [ ! -f "$name.expected" ]; then
    echo "FAIL $name: $name.expected is missing"
    fail=$((fail + 1))
  elif ! cmp -s "$name.expected" "$tmp/err"; then
    echo "FAIL $name: stderr differs (- expected, + actual)"
    diff -u "$name.expected" "$tmp/err" | head -40
    fail=$((fail + 1))
  fi
done
echo "golden: $n cases, $fail failed"
[ "$n" -ge 40 ] && [ "$fail" -eq 0 ]
