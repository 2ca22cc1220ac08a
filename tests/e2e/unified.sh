#!/usr/bin/env bash
# Recipe unified end to end (docs/recipes.md, "The unified recipe"):
#   1. info prints the clip and lrscale settings;
#   2. the JSON log has, per epoch, one {dc, phi, level} per DSGC site, phi
#      between beta and 1, a level held (>= 0);
#   3. with lrscale off every phi is 1;
#   4. a checkpoint of other clip settings is refused (the fingerprint);
#   5. inspect shows every site's held level, the log's last ones.
#   unified.sh BUILD_DIR MODEL.nit MKDATA WORK_DIR
set -uo pipefail
build="$1"; model="$2"; mkdata="$3"; work="$4"
rm -rf "$work"; mkdir -p "$work/data"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
"$mkdata" idx "$work/data" 300 100 1 28 28 10 || exit 2
nitc="$build/compiler/nitc"
"$nitc" "$model" --batch 32 -o "$work/model" || { echo "FAIL nitc"; exit 1; }
sed 's/lrscale .*/lrscale off/; s/clip  *cosine.*/clip cosine(every=7, range=2, grid=octave)/' "$model" > "$work/other.nit"
"$nitc" "$work/other.nit" --batch 32 -o "$work/other" || { echo "FAIL nitc other"; exit 1; }

"$work/model" info > "$work/info.out"
check "info shows the clip" grep -q '^        clip cosine(every=100, range=4, grid=eighth); lrscale exp(alpha=20, beta=0.1)$' "$work/info.out"
"$work/other" info > "$work/info2.out"
check "info shows lrscale off" grep -q '^        clip cosine(every=7, range=2, grid=octave); lrscale off$' "$work/info2.out"

"$work/model" train --data "$work/data" --seed 3 --epochs 2 --quiet --log "$work/log.jsonl" --save "$work/a.ckpt" 2>/dev/null
check "train" test -f "$work/a.ckpt"
sites=$(tail -1 "$work/log.jsonl" | grep -o '{"dc":[0-9.]*,"phi":[0-9.]*,"level":[0-9]*}' | wc -l)
check "the log has every site ($sites)" test "$sites" -eq 5
check "phi within [beta, 1]" bash -c "tail -1 '$work/log.jsonl' | grep -o '\"phi\":[0-9.]*' | cut -d: -f2 |
  awk '{ if (\$1 < 0.1 || \$1 > 1) bad = 1 } END { exit bad }'"
"$work/model" inspect "$work/a.ckpt" > "$work/inspect.out"
check "inspect lists the 5 sites' clip state" grep -q '^clip state: 5 DSGC sites' "$work/inspect.out"
check "inspect's held levels are the log's" test "$(sed -n 's/^  site [0-9]* *level *\([0-9]*\) .*/\1/p' "$work/inspect.out" | tr '\n' ' ')" = \
  "$(tail -1 "$work/log.jsonl" | grep -o '"level":[0-9]*' | cut -d: -f2 | tr '\n' ' ')"
"$work/other" train --data "$work/data" --seed 3 --epochs 1 --quiet --log "$work/log2.jsonl" 2>/dev/null
check "lrscale off: phi 1" bash -c "tail -1 '$work/log2.jsonl' | grep -o '\"phi\":[0-9.]*' | sort -u | grep -qx '\"phi\":1.000000'"
"$work/other" train --data "$work/data" --seed 3 --epochs 3 --quiet --resume "$work/a.ckpt" > "$work/other.out" 2>&1
check "other clip settings refused" grep -q 'checkpoint was written by model' "$work/other.out"
checks_done
