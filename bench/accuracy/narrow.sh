#!/usr/bin/env bash
# narrow.sh: LeNet-5 at widths below 8 bits under the recipes with masters
# (docs/results.md, "Narrower widths"). Each setting is
# examples/lenet5_ghaffari.nit (its schedule, momentum and decay) with its
# recipe line replaced and one `bits` line (and, for shiftquant's
# per-channel weight views, a `groups` line) added; every run trains on
# MNIST for EPOCHS epochs and the table gives the test accuracy after each
# epoch, then the share of zeros among c1's activations (its relu's,
# marked, where the relu is folded into c1) and errors in the last epoch's
# sampled steps (--telemetry), which says why a setting does not learn.
#
# Environment: EPOCHS=2, SEEDS="1", THREADS=2, DATA=data/mnist,
# OUT=out/accuracy/narrow, PICK (a regular expression: only the settings
# whose names match), TRAIN_ARGS (more arguments for every train command).
# About 1 minute.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
NITC=${NITC:-$REPO/build/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/narrow}
EPOCHS=${EPOCHS:-2}
SEEDS=${SEEDS:-1}
THREADS=${THREADS:-2}
DATA=${DATA:-data/mnist}
PICK=${PICK:-.}
TRAIN_ARGS=${TRAIN_ARGS:-}
[ -x "$NITC" ] || { echo "narrow.sh: $NITC is missing: build first (scripts/build)" >&2; exit 1; }
[ -f "$DATA/train-images-idx3-ubyte" ] || [ -f "$DATA/train-images-idx3-ubyte.gz" ] ||
  { echo "narrow.sh: no MNIST in $DATA: run scripts/fetch-data data" >&2; exit 1; }
mkdir -p "$OUT"

# name|recipe|bits line|groups line
SETTINGS=(
  "ghaffari-8|ghaffari||"
  "ghaffari-act6|ghaffari|act=6|"
  "ghaffari-act5|ghaffari|act=5|"
  "ghaffari-act4|ghaffari|act=4|"
  "ghaffari-weight4|ghaffari|weight=4|"
  "ghaffari-grad4|ghaffari|grad=4|"
  "ghaffari-grad3|ghaffari|grad=3|"
  "ghaffari-weight3|ghaffari|weight=3|"
  "ghaffari-6-6-6|ghaffari|act=6 weight=6 grad=6|"
  "ghaffari-4-4-4|ghaffari|act=4 weight=4 grad=4|"
  "shiftquant-act4|shiftquant|act=4|"
  "shiftquant-grad3|shiftquant|grad=3|channel"
  "shiftquant-grad2|shiftquant|grad=2|channel"
  "shiftquant-w3|shiftquant|act=8 weight=3 grad=4|channel"
  "shiftquant-w3-channel|shiftquant|act=8 weight=3 grad=4|channel weight=channel"
  "shiftquant-w4|shiftquant|act=8 weight=4 grad=4|channel"
  "shiftquant-w4-channel|shiftquant|act=8 weight=4 grad=4|channel weight=channel"
)

printf '| setting | recipe | bits | groups | seed | test accuracy by epoch | c1 act zeros | c1 err zeros |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for entry in "${SETTINGS[@]}"; do
  IFS='|' read -r name recipe bits groups <<< "$entry"
  [[ "$name" =~ $PICK ]] || continue
  nit="$OUT/$name.nit"
  src=$(cat examples/lenet5_ghaffari.nit)
  extra=""
  [ -n "$bits" ] && extra+=$'\n'"    bits      $bits"
  [ -n "$groups" ] && extra+=$'\n'"    groups    $groups"
  new=$(printf '%s\n' "$src" | sed "s/^    recipe    ghaffari.*/    recipe    $recipe/")
  new=${new/"    seed      1"/"    seed      1$extra"}
  if ! grep -q "recipe    $recipe" <<< "$new" || { [ -n "$extra" ] && ! grep -qF "${extra#$'\n'}" <<< "$new"; }; then
    echo "narrow.sh: examples/lenet5_ghaffari.nit has no 'recipe    ghaffari' or 'seed      1' line" >&2
    exit 1
  fi
  printf '%s\n' "$new" > "$nit"
  "$NITC" "$nit" -o "$OUT/$name" 2> "$OUT/$name.nitc.txt" || { cat "$OUT/$name.nitc.txt" >&2; exit 1; }
  for seed in $SEEDS; do
    log="$OUT/$name.seed$seed.jsonl"
    rm -f "$log"
    # shellcheck disable=SC2086
    "$OUT/$name" train --data "$DATA" --epochs "$EPOCHS" --seed "$seed" --threads "$THREADS" --log "$log" \
      --telemetry 50 $TRAIN_ARGS > "$OUT/$name.seed$seed.txt" 2>&1
    accs=$(/usr/bin/python3 - "$log" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ep = [r for r in recs if "test_acc" in r]
acc = " / ".join("%.2f" % (100 * r["test_acc"]) for r in ep)
tele = ep[-1].get("telemetry") if ep else None
az = ez = "-"
if tele:
    rows = tele.get("layers", []) if isinstance(tele, dict) else tele
    for i, row in enumerate(rows):
        if row.get("layer") == "c1" or row.get("name") == "c1":
            a, e = row.get("act", {}), row.get("err", {})
            if "zero" in a:
                az = "%.1f%%" % (100 * a["zero"])
            elif i + 1 < len(rows) and rows[i + 1].get("kind") == "relu" and "zero" in rows[i + 1].get("act", {}):
                # c1's relu folded into its requantization: c1's output is
                # the relu's (docs/telemetry.md)
                nxt = rows[i + 1]
                az = "%.1f%% (%s)" % (100 * nxt["act"]["zero"], nxt["name"])
            if "zero" in e:
                ez = "%.1f%%" % (100 * e["zero"])
print("%s|%s|%s" % (acc, az, ez))
EOF
)
    IFS='|' read -r acc az ez <<< "$accs"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$recipe" "${bits:-8 8 8}" "${groups:--}" \
      "$seed" "$acc" "$az" "$ez"
  done
done
echo
echo "examples/lenet5_ghaffari.nit's schedule; $EPOCHS epochs on $DATA; $(date -u '+%Y-%m-%d %H:%M UTC'); logs in $OUT"
