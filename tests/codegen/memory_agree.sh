#!/usr/bin/env bash
# `nitc --emit shapes` and the executable's `info` must print the same memory
# figures (both come from the one memory plan): for every example, the
# parameter and work bytes of both are extracted and compared.
#   memory_agree.sh NITC EXAMPLES_DIR WORK_DIR
set -euo pipefail
nitc="$1"; ex="$2"; work="$3"
rm -rf "$work"; mkdir -p "$work"
n=0
for f in "$ex"/*.nit; do
  b=$(basename "$f" .nit)
  shapes=$("$nitc" "$f" --emit shapes | sed -n 's/^memory: params \([0-9]*\) bytes, work \([0-9]*\) bytes at batch \([0-9]*\)$/\1 \2 \3/p')
  "$nitc" "$f" -O0 -o "$work/$b"
  info=$("$work/$b" info | sed -n 's/^memory: params .* (\([0-9]*\) bytes), work .* (\([0-9]*\) bytes) at batch \([0-9]*\)$/\1 \2 \3/p')
  if [ -z "$shapes" ] || [ "$shapes" != "$info" ]; then
    echo "FAIL $b: --emit shapes says '$shapes', info says '$info' (params work batch)"; exit 1
  fi
  echo "$b: params, work, batch = $shapes in both"
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "no examples in $ex"; exit 1; }
