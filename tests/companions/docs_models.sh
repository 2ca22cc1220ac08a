#!/usr/bin/env bash
# The .nit models shown in docs/pytorch.md pass nitc --check, so the page
# cannot drift from the language.
# usage: docs_models.sh NITC SOURCE_DIR
set -u
nitc=${1:?usage: docs_models.sh NITC SOURCE_DIR}
src=${2:?usage: docs_models.sh NITC SOURCE_DIR}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
# every fenced block that starts with a model line
awk -v dir="$tmp" '
  /^```/ { if (inb) { inb = 0; close(f) } else { inb = 1; first = 1 } next }
  inb && first { first = 0; if ($0 ~ /^model /) { n++; f = dir "/m" n ".nit" } else f = "" }
  inb && f != "" { print > f }
' "$src/docs/pytorch.md"
for f in "$tmp"/m*.nit; do
  [ -e "$f" ] || break
  n=$((n + 1))
  "$nitc" "$f" --check || { echo "FAIL: docs/pytorch.md model $n:"; cat "$f"; fail=1; }
done
[ "$n" -ge 1 ] || { echo "FAIL: no model found in docs/pytorch.md"; fail=1; }
[ "$fail" -eq 0 ] && echo "docs_models: $n models of docs/pytorch.md check"
exit "$fail"
