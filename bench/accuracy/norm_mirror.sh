#!/usr/bin/env bash
# norm_mirror.sh: the normalization examples in integers (nitc) and in fp32
# (bench/accuracy/torch_mirror.py) from the same initial weights.
#
# For each network (by default resnet_bn on Fashion-MNIST and mlp_ln on MNIST;
# NETS takes any example the mirror can build, e.g. resnet_l1:fashion-mnist,
# shiftquant's L1 batch-norm ResNet) and seed it
#   1. compiles examples/NET.nit with nitc,
#   2. writes nitc's initial state for the seed, DIR/ckpt/NET-sSEED-init.ckpt
#      (`NET init --save CKPT --seed SEED`, or where the executable has no
#      `init` command, `train --save-init CKPT` during step 3),
#   3. trains it with nitc: logs/int8-NET-DATA-sSEED.jsonl,
#   4. trains the fp32 mirror from that checkpoint (--init; inputs p/255, the
#      train block's schedule, momentum and decay; its own data order, seeded
#      by SEED): logs/fp32-NET-DATA-sSEED.jsonl,
# then prints a markdown table (also DIR/table.md): the final test accuracy of
# each side per seed, their mean and spread (max - min), and samples/s (mean
# over the epochs of a run).
#
# Everything goes outside the source tree, into DIR = out/accuracy/norm
# (git-ignored). A log whose recorded command (and the hashes of the
# executable, the mirror, the model and the initial checkpoint) matches and
# that holds every epoch is reused; FORCE=1 retrains. Children run one at a
# time under nice.
#
# Environment (all optional):
#   SEEDS="1 2 3"   seeds (spaces or commas)
#   EPOCHS=N        epochs of every run [the .nit file's]
#   LIMIT=N         train on the first N samples (nitc --limit, mirror --train-limit)
#   TEST_LIMIT=N    test on the first N samples
#   NETS="resnet_bn:fashion-mnist mlp_ln:mnist"   NET:DATA pairs (examples/NET.nit,
#                   DATA_ROOT/DATA), e.g. add resnet_l1:fashion-mnist
#   DATA_ROOT=data  where the data sets are
#   THREADS=2       threads of both sides      NICE=15   nice level
#   NITC=build/compiler/nitc   OUT=out/accuracy/norm   TORCH_PYTHON=python3 with torch
#   FORCE=1         retrain even when a matching log exists
#   TABLE_ONLY=1    no runs: the table of the logs already in DIR
#
# Examples:
#   bench/accuracy/norm_mirror.sh                                  # 3 seeds, full runs
#   EPOCHS=1 LIMIT=5000 SEEDS=1 bench/accuracy/norm_mirror.sh      # a smoke test
#   NETS=resnet_l1:fashion-mnist bench/accuracy/norm_mirror.sh     # shiftquant's L1 norms
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
NITC=${NITC:-$REPO/build/compiler/nitc}
OUT=${OUT:-$REPO/out/accuracy/norm}
SEEDS=${SEEDS:-1 2 3}
SEEDS=${SEEDS//,/ }
EPOCHS=${EPOCHS:-}
LIMIT=${LIMIT:-}
TEST_LIMIT=${TEST_LIMIT:-}
NETS=${NETS:-resnet_bn:fashion-mnist mlp_ln:mnist}
THREADS=${THREADS:-2}
NICE=${NICE:-15}
DATA_ROOT=${DATA_ROOT:-data}
FORCE=${FORCE:-0}
MIRROR=$REPO/bench/accuracy/torch_mirror.py

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'norm_mirror: %s\n' "$*" >&2; exit 1; }
hash_of() { sha256sum "$1" | cut -c1-16; }

[ -x "$NITC" ] || die "no nitc at $NITC (build it: cmake -S . -B build && make -C build, or set NITC)"
PY=
for cand in "${TORCH_PYTHON:-}" python3 /usr/bin/python3; do
  if [ -n "$cand" ] && "$cand" -c 'import torch' 2>/dev/null; then PY=$cand; break; fi
done
[ -n "$PY" ] || die "no python3 with torch: apt-get install -y python3-torch (or set TORCH_PYTHON)"

BIN=$OUT/bin CKPT=$OUT/ckpt LOGS=$OUT/logs
mkdir -p "$BIN" "$CKPT" "$LOGS"

# complete LOG: as many epoch lines as its records say
complete() {
  [ -s "$1" ] || return 1
  "$PY" - "$1" <<'EOF'
import json, sys
recs = [r for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip()) if r.get('record') != 'run']
sys.exit(0 if recs and recs[-1]['epoch'] == recs[-1]['epochs'] == len(recs) else 1)
EOF
}

# run_logged LOG KEY CMD...: run CMD (which writes LOG) unless LOG.cmd holds KEY
# and LOG is complete; the output goes to LOG.out
run_logged() {
  local log=$1 key=$2 side=${1%.jsonl}.cmd out=${1%.jsonl}.out
  shift 2
  if [ "$FORCE" != 1 ] && [ -f "$side" ] && [ "$(cat "$side")" = "$key" ] && complete "$log"; then
    say "reuse ${log#"$REPO"/}"
    return 0
  fi
  rm -f "$log" "$side"
  say "run $*"
  local t0=$SECONDS
  if ! nice -n "$NICE" "$@" >"$out" 2>&1; then
    tail -5 "$out" >&2
    die "failed (see $out)"
  fi
  printf '%s' "$key" >"$side"
  local last
  last=$(tail -1 "$log" | "$PY" -c 'import json, sys; r = json.load(sys.stdin)
print("test %.2f%% after %d epochs" % (100 * r["test_acc"], r["epoch"]))')
  say "  -> $last ($((SECONDS - t0)) s)"
}

opt=()
[ -n "$EPOCHS" ] && opt+=(--epochs "$EPOCHS")
[ -n "$TEST_LIMIT" ] && opt+=(--test-limit "$TEST_LIMIT")
nitc_opt=("${opt[@]}") fp32_opt=("${opt[@]}")
[ -n "$LIMIT" ] && nitc_opt+=(--limit "$LIMIT") && fp32_opt+=(--train-limit "$LIMIT")

for pair in $NETS; do
  [ "${TABLE_ONLY:-0}" = 1 ] && break # the table from the logs there are
  net=${pair%%:*} data=${pair#*:}
  [ -f "examples/$net.nit" ] || die "no examples/$net.nit"
  [ -f "$DATA_ROOT/$data/train-images-idx3-ubyte" ] || die "$DATA_ROOT/$data is missing: run scripts/fetch-data"
  say "compile examples/$net.nit"
  "$NITC" "examples/$net.nit" -o "$BIN/$net"
  exe=$BIN/$net
  has_init=0
  "$exe" --help 2>&1 | grep -Eq "^ +$net init" && has_init=1
  if [ "$has_init" = 0 ] && ! "$exe" --help 2>&1 | grep -q -- '--save-init'; then
    die "$exe has neither an init command nor train --save-init"
  fi
  for seed in $SEEDS; do
    ck=$CKPT/$net-s$seed-init.ckpt
    int8=$LOGS/int8-$net-$data-s$seed.jsonl
    fp32=$LOGS/fp32-$net-$data-s$seed.jsonl
    cmd=("$exe" train --data "$DATA_ROOT/$data" --seed "$seed" --threads "$THREADS" "${nitc_opt[@]}" --quiet)
    if [ "$has_init" = 1 ]; then
      nice -n "$NICE" "$exe" init --save "$ck" --seed "$seed" >/dev/null || die "$net init --save $ck failed"
    else
      cmd+=(--save-init "$ck")
      [ -f "$ck" ] || rm -f "${int8%.jsonl}.cmd"   # the checkpoint comes with the training run
    fi
    run_logged "$int8" "int8 $(hash_of "$exe") ${cmd[*]#"$REPO"/}" "${cmd[@]}" --log "$int8"
    [ -f "$ck" ] || die "no initial checkpoint $ck"
    cmd=("$PY" "$MIRROR" "examples/$net.nit" --data "$DATA_ROOT/$data" --seed "$seed" --init "$ck"
         --threads "$THREADS" "${fp32_opt[@]}")
    run_logged "$fp32" "fp32 $(hash_of "$MIRROR") $(hash_of "examples/$net.nit") $(hash_of "$ck") ${cmd[*]}" \
      "${cmd[@]}" --log "$fp32"
  done
done

# shellcheck disable=SC2086  # NETS: one argument per NET:DATA pair
"$PY" - "$LOGS" "$OUT/table.md" "$SEEDS" $NETS <<'EOF'
import json, os, re, sys
logs, table, seeds, pairs = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]

def recs(path):
    try:
        # epoch records only: a nitc log starts each run with a run record
        return [r for r in (json.loads(l) for l in open(path) if l.strip()) if r.get('record') != 'run']
    except FileNotFoundError:
        return []

out = ['# Normalization examples: int8 (nitc) against fp32 (PyTorch) from the same initial weights', '']
blas = None
for pair in pairs:
    net, data = pair.split(':', 1)
    rows, acc = [], {'int8': [], 'fp32': []}
    speed = {'int8': [], 'fp32': []}
    epochs = set()
    for s in seeds:
        cells = []
        for side in ('int8', 'fp32'):
            r = recs(os.path.join(logs, f'{side}-{net}-{data}-s{s}.jsonl'))
            if r:
                acc[side].append(100 * r[-1]['test_acc'])
                speed[side].append(sum(e['samples_per_sec'] for e in r) / len(r))
                epochs.add(f'epochs: {r[-1]["epoch"]}, {r[-1]["train_samples"]} training / '
                           f'{r[-1]["test_samples"]} test samples')
                cells.append((f'{100 * r[-1]["test_acc"]:.2f}', f'{speed[side][-1]:.0f}'))
            else:
                cells.append(('-', '-'))
        rows.append(f'| {s} | {cells[0][0]} | {cells[1][0]} | {cells[0][1]} | {cells[1][1]} |')
        o = os.path.join(logs, f'fp32-{net}-{data}-s{s}.out')
        if blas is None and os.path.exists(o):
            m = re.search(r'torch_mirror: (torch .*)', open(o).read())
            blas = m.group(1) if m else None
    def stat(v, f):
        return f(v) if v else '-'
    mean = lambda v: f'{sum(v) / len(v):.2f}'
    spread = lambda v: f'{max(v) - min(v):.2f}'
    mspeed = lambda v: f'{sum(v) / len(v):.0f}'
    out += [f'## {net} on {data} ({"; ".join(sorted(epochs)) or "no runs"})', '',
            '| seed | int8 test % | fp32 test % | int8 samples/s | fp32 samples/s |',
            '|---|---|---|---|---|'] + rows + [
            f'| mean | {stat(acc["int8"], mean)} | {stat(acc["fp32"], mean)} | '
            f'{stat(speed["int8"], mspeed)} | {stat(speed["fp32"], mspeed)} |',
            f'| spread (max-min) | {stat(acc["int8"], spread)} | {stat(acc["fp32"], spread)} | | |', '']
if blas:
    out += [f'fp32: {blas}', '']
text = '\n'.join(out)
open(table, 'w').write(text)
print(text)
EOF
say "wrote ${OUT#"$REPO"/}/table.md; logs in ${LOGS#"$REPO"/}"
