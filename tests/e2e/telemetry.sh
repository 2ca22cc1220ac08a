#!/usr/bin/env bash
# train --telemetry N end to end (runtime/telemetry.c, docs/telemetry.md):
#   1. telemetry only reads: the checkpoints of runs with and without it
#      (and on 1 and 2 threads) are the same bytes, under niti and ghaffari;
#   2. the --log file's epoch objects hold it: every N-th global step
#      sampled, one entry per layer in `info`'s order, counts of the samples
#      the sampled steps ran (a partial last batch is never sampled here),
#      bit-length shares that add up to 1;
#   3. the table on stdout, none with --quiet; nitc plot reads the log;
#   4. a setting whose updates round to zero is warned about;
#   5. under mpirun (when built): the checkpoint and the telemetry of one
#      process (the ranks' counts summed), one table;
#   6. nitc --keep-tensors: resnet_bn at batch 64, whose errors share bytes
#      with one another and with dead activations, has every activation and
#      every error but its folded relus' in the log, where without the flag
#      most activations are missing (the table says how to see them); the
#      same checkpoint either way;
#   7. bad values of --telemetry are refused.
#   telemetry.sh BUILD_DIR EXAMPLES_DIR MKDATA WORK_DIR
set -uo pipefail
build="$1"; examples="$2"; mkdata="$3"; work="$4"
rm -rf "$work"; mkdir -p "$work/data"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
"$mkdata" idx "$work/data" 300 100 1 28 28 10 || exit 2
nitc="$build/compiler/nitc"
for m in lenet5 lenet5_ghaffari; do
  "$nitc" "$examples/$m.nit" --batch 32 -o "$work/$m" || { echo "FAIL nitc $m"; exit 1; }
done
run() { "$work/$1" train --data "$work/data" --seed 5 --epochs 2 "${@:2}"; }

for m in lenet5 lenet5_ghaffari; do
  run $m --quiet --threads 1 --save "$work/$m-plain.ckpt" 2>/dev/null
  run $m --quiet --threads 2 --telemetry 2 --log "$work/$m.jsonl" --save "$work/$m-tele.ckpt" 2>/dev/null
  check "$m: the same checkpoint with telemetry" cmp "$work/$m-plain.ckpt" "$work/$m-tele.ckpt"
done

# 300 samples at batch 32: steps 0..9 in epoch 1 (step 9 the partial one),
# 10..19 in epoch 2; every 2nd sampled: 5 full batches an epoch.
"$work/lenet5" info > "$work/info.out"
check "the log's telemetry" python3 - "$work/lenet5.jsonl" "$work/info.out" <<'EOF'
import json, re, sys
epochs = [json.loads(l) for l in open(sys.argv[1]) if '"epoch"' in l]
info = open(sys.argv[2]).read()
assert len(epochs) == 2, len(epochs)
for e in epochs:
    t = e["telemetry"]
    assert t["every"] == 2 and t["steps"] == 5, (t["every"], t["steps"])
    names = [l["name"] for l in t["layers"]]
    assert names == ["c1", "relu1", "maxpool1", "c2", "relu2", "maxpool2", "flatten1", "f1", "relu3", "f2", "relu4", "f3"], names
    for n in names:
        assert re.search(r"\b%s\b" % n, info), n
    by = {l["name"]: l for l in t["layers"]}
    assert by["f3"]["act"]["values"] == 5 * 32 * 10, by["f3"]["act"]
    assert by["f3"]["err"]["values"] == 5 * 32 * 10, by["f3"]["err"]
    for l in t["layers"]:
        for k in ("act", "err"):
            if k in l and "bits" in l[k]:
                s = sum(l[k]["bits"])
                assert abs(s - 1) < 0.0006, (l["name"], k, s)
                assert l[k]["bits"][0] == l[k]["zero"]
                lo, hi, last = l[k]["exp"]
                assert lo <= last <= hi
        if l["kind"] in ("conv", "dense"):
            w = l["weights"]
            assert 0 < w["changed"] <= 1 and 0 <= w["limit"] <= 1, w
        else:
            assert "weights" not in l
EOF

# nitc plot reads such a log (its run record and the nested telemetry skipped)
"$nitc" plot "$work/lenet5.jsonl" -o "$work/p.svg" --script "$work/p.gp" 2> "$work/plot.err"
check "nitc plot reads the log" bash -c "grep -q '^1 [0-9]' '$work/p.gp' && grep -q '^2 [0-9]' '$work/p.gp'"

run lenet5 --epochs 1 --telemetry 3 > "$work/table.out" 2>/dev/null
check "the table after the epoch line" bash -c "grep -A1 '^epoch 1/1' '$work/table.out' | grep -q '^  layer  *kind  *act exp'"
check "a row per layer" test "$(grep -c '^  \(c\|f\|relu\|maxpool\|flatten\)[0-9]' "$work/table.out")" -eq 12
run lenet5 --epochs 1 --telemetry 3 --quiet > "$work/quiet.out" 2>/dev/null
check "no table with --quiet" test ! -s "$work/quiet.out"

run lenet5_ghaffari --epochs 1 --telemetry 2 --lr 0.00000001 --quiet 2> "$work/warn.err"
check "updates that round to zero are warned about" \
  grep -q "warning: epoch 1: the 5 sampled steps changed none of c1's weights" "$work/warn.err"

# under mpirun rank 0 counts: the same checkpoint as one process, one table
if command -v mpirun >/dev/null && [ -f "$build/runtime/libnitrt_mpi-x86_64-linux-gnu.a" ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
  "$nitc" "$examples/lenet5.nit" --batch 32 --mpi -o "$work/lenet5-mpi" || { echo "FAIL nitc --mpi"; exit 1; }
  timeout 120 mpirun -np 2 "$work/lenet5-mpi" train --data "$work/data" --seed 5 --epochs 2 --threads 1 \
    --telemetry 2 --save "$work/mpi.ckpt" --log "$work/mpi.jsonl" > "$work/mpi.out" 2>/dev/null
  check "2 ranks with telemetry: the checkpoint of one process" cmp "$work/lenet5-plain.ckpt" "$work/mpi.ckpt"
  check "2 ranks: one table an epoch" test "$(grep -c '^  layer  *kind' "$work/mpi.out")" -eq 2
  # each rank counts its half of a sampled batch: summed, one process's counts
  check "2 ranks: the telemetry of one process" python3 - "$work/lenet5.jsonl" "$work/mpi.jsonl" <<'EOF'
import json, sys
one, two = ([json.loads(l)["telemetry"] for l in open(f) if '"epoch"' in l] for f in sys.argv[1:3])
assert len(one) == len(two) == 2 and one == two, (one, two)
EOF
  # the sum is a collective: ranks sampling differently are refused at start
  t=(train --data "$work/data" --seed 5 --epochs 1 --threads 1 --quiet)
  timeout 120 mpirun -np 1 "$work/lenet5-mpi" "${t[@]}" --telemetry 2 : -np 1 "$work/lenet5-mpi" "${t[@]}" \
    > "$work/mpi-diff.out" 2>&1
  rc=$?
  check "2 ranks with different --telemetry: refused" \
    bash -c "[ $rc -eq 1 ] && grep -q 'error: the ranks were started with different settings' '$work/mpi-diff.out'"
fi

# --keep-tensors: what the tensors' sharing hides, counted; nothing else changes
# (and with the relus' backward folds off, NITC_FOLD_RELU=0, their errors too)
"$nitc" "$examples/resnet_bn.nit" -o "$work/rbn" &&
  "$nitc" "$examples/resnet_bn.nit" --keep-tensors -o "$work/rbn-keep" &&
  NITC_FOLD_RELU=0 "$nitc" "$examples/resnet_bn.nit" --keep-tensors -o "$work/rbn-all" ||
  { echo "FAIL nitc resnet_bn"; exit 1; }
for e in rbn rbn-keep rbn-all; do
  "$work/$e" train --data "$work/data" --seed 5 --epochs 1 --limit 192 --threads 1 --telemetry 2 \
    --log "$work/$e.jsonl" --save "$work/$e.ckpt" > "$work/$e.table" 2>/dev/null
done
check "--keep-tensors: the same checkpoint" cmp "$work/rbn.ckpt" "$work/rbn-keep.ckpt"
check "NITC_FOLD_RELU=0: the same checkpoint" cmp "$work/rbn.ckpt" "$work/rbn-all.ckpt"
check "the table says how to see the reused tensors" grep -q -- "nitc --keep-tensors keeps" "$work/rbn.table"
check "... and not when every one is there" \
  bash -c "grep -q '^  head ' '$work/rbn-keep.table' && ! grep -q -- '--keep-tensors' '$work/rbn-keep.table'"
check "--keep-tensors: every tensor counted but the folded relus' errors" python3 - "$work/rbn.jsonl" "$work/rbn-keep.jsonl" "$work/rbn-all.jsonl" <<'EOF'
import json, sys
def missing(path):
    layers = [json.loads(l) for l in open(path) if '"epoch"' in l][0]["telemetry"]["layers"]
    return ([l["name"] for l in layers if not l["act"].get("values")],
            [l["name"] for l in layers if not l["err"].get("values")])
act, err = missing(sys.argv[1])
assert len(act) >= 10 and len(err) >= 5, (act, err)  # shared: most are gone
act, err = missing(sys.argv[2])
# relus whose backward the layer after them does, so their own errors never
# exist: stem and b1 before max pools, r1 and r2 before convs (plan.c, relu_err)
assert act == [] and err == ["stem", "r1", "b1", "r2"], (act, err)
act, err = missing(sys.argv[3])
assert act == [] and err == [], (act, err)  # no relu folded: every error
EOF

for bad in 0 -1 x 2.5; do
  run lenet5 --telemetry "$bad" > /dev/null 2> "$work/bad.err"
  rc=$?
  check "--telemetry $bad refused" bash -c "[ $rc -eq 1 ] && grep -q -- '--telemetry' '$work/bad.err'"
done
checks_done
