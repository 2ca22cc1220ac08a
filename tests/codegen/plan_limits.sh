#!/usr/bin/env bash
# The memory plan reserves scratch only for what runs, and refuses a model
# whose memory passes the limit with the figure:
#   1. a first-layer conv with a 31x31 kernel and 64 channels on 1x256x256 input computes no
#      input error, so its work memory stays under 512 MiB (it reserved 8 GB
#      for an unused input-error GEMM before);
#   2. a conv with 64 channels of 256x256 at batch 65536 (256 GiB of
#      activations) is refused at compile time, with the figure and a caret,
#      exit status 1, by --check as well.
#   plan_limits.sh NITC WORK_DIR
set -euo pipefail
nitc="$1"; work="$2"
rm -rf "$work"; mkdir -p "$work"
cat > "$work/bigconv.nit" <<'NIT'
model bigconv {
    input  image[1, 256, 256]
    output classes(10)
    conv   c1(64, kernel=31, pad=15)
    relu
    avgpool(256)
    flatten
    dense  f(10)
}
train { batch 4 }
NIT
bytes=$("$nitc" "$work/bigconv.nit" --emit shapes | sed -n 's/^memory: params [0-9]* bytes, work \([0-9]*\) bytes.*/\1/p')
echo "bigconv: work $bytes bytes"
[ -n "$bytes" ] && [ "$bytes" -lt $((256 << 29)) ] || { echo "FAIL: work memory of a first-layer conv is $bytes bytes"; exit 1; }

cat > "$work/huge.nit" <<'NIT'
model huge {
    input  image[16, 256, 256]
    output classes(10)
    conv   c(64, kernel=3, pad=1)
    avgpool(256)
    flatten
    dense  f(10)
}
train { batch 65536 }
NIT
set +e
"$nitc" "$work/huge.nit" --check 2> "$work/check.err"; rc_check=$?
"$nitc" "$work/huge.nit" --emit shapes > /dev/null 2> "$work/huge.err"; rc=$?
set -e
cat "$work/huge.err"
[ "$rc" -eq 1 ] || { echo "FAIL: exit status $rc, expected 1"; exit 1; }
grep -q "huge.nit:1:1: error: model 'huge' needs [0-9.]* [GT]iB of memory (parameters [0-9.]* KiB, work [0-9.]* [GT]iB at batch 65536), over the limit of 64.0 GiB" "$work/huge.err" \
  || { echo "FAIL: message"; exit 1; }
grep -q '^ *\^' "$work/huge.err" || { echo "FAIL: no caret"; exit 1; }
[ "$rc_check" -eq 1 ] || { echo "FAIL: --check accepted it"; exit 1; }
echo "huge: refused by --check and --emit shapes"
