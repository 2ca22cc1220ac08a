#!/usr/bin/env bash
# moved.sh: how many weights a step moves, per layer, under the rounding
# modes and update bits of the ablations (docs/results.md, "What was
# learned", 3: nearest rounding loses over a run because updates vanish).
# Trains examples/lenet5.nit on Fashion-MNIST for EPOCHS epochs with
# `train --telemetry EVERY` in four settings: the shipped recipe, nearest
# rounding, m_u 1, and m_u 1 with nearest rounding; then prints, per setting
# and for epochs 1, 5 and the last, the test accuracy and each weighted
# layer's share of weights the sampled steps moved (docs/telemetry.md).
# The counts are deterministic: they depend on the seed, not on the host.
#
# Environment: SEED=1, EPOCHS=10, EVERY=50, THREADS=1,
# OUT=out/accuracy/moved, DATA=data/fashion-mnist, TRAIN_ARGS (more
# arguments for every train command; tests/bench/accuracy_smoke.sh's give
# a small --limit).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
NITC=${NITC:-$REPO/build/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/moved}
SEED=${SEED:-1} EPOCHS=${EPOCHS:-10} EVERY=${EVERY:-50} THREADS=${THREADS:-1} TRAIN_ARGS=${TRAIN_ARGS:-}
DATA=${DATA:-$REPO/data/fashion-mnist}
[ -d "$DATA" ] || { echo "moved.sh: $DATA missing (scripts/fetch-data data)" >&2; exit 1; }
mkdir -p "$OUT"
"$NITC" examples/lenet5.nit -o "$OUT/lenet5"
settings=("shipped:" "nearest:--rounding nearest" "mu1:--update-bits 1" "mu1-nearest:--update-bits 1 --rounding nearest")
for s in "${settings[@]}"; do
  name=${s%%:*} args=${s#*:}
  rm -f "$OUT/$name.jsonl"
  echo "moved.sh: $name" >&2
  # shellcheck disable=SC2086
  "$OUT/lenet5" train --data "$DATA" --epochs "$EPOCHS" --seed "$SEED" --telemetry "$EVERY" --threads "$THREADS" \
    --quiet --log "$OUT/$name.jsonl" $args $TRAIN_ARGS 2>/dev/null
done
python3 - "$OUT" "$EPOCHS" "${settings[@]%%:*}" <<'EOF'
import json, sys
out, epochs, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
weighted, rows = [], []
for n in names:
    recs = [json.loads(l) for l in open(f"{out}/{n}.jsonl") if '"epoch"' in l]
    for e in sorted({1, min(5, epochs), epochs}):
        r = recs[e - 1]
        layers = [l for l in r["telemetry"]["layers"] if "weights" in l]
        weighted = [l["name"] for l in layers]
        rows.append((n, e, r["test_acc"], [l["weights"]["changed"] for l in layers]))
print("| setting | epoch | test acc | " + " | ".join(f"{w} moved" for w in weighted) + " |")
print("|---|---:|---:|" + "---:|" * len(weighted))
for n, e, acc, moved in rows:
    print(f"| {n} | {e} | {100 * acc:.2f}% | " + " | ".join(f"{100 * m:.1f}%" for m in moved) + " |")
EOF
