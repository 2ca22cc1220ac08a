#!/usr/bin/env bash
# A hostile-input campaign against the compiler and a training executable:
# COUNT mutated inputs of each kind (default 100), every run under a timeout.
# A run passes when it exits 0 or 1 within the timeout; a crash (signal, exit
# status >= 2), a hang, or an error message without a file name fails it.
#   kinds: .nit files (byte flips, truncations, splices of the examples),
#          idx data files, CSV files, checkpoints (mutated, with and without
#          a fixed CRC), and kill -9 during --save (the checkpoint must load
#          afterwards and no temporary file may remain).
#   tests/hostile/campaign.sh BUILD_DIR [COUNT] [SEED]
# Prints one line per kind with its counts, the failures in full, and exits
# 1 if any case failed.
set -uo pipefail
build="$1"; count="${2:-100}"; seed="${3:-1}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
nitc="$build/compiler/nitc"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
RANDOM=$seed
fails=0
limit=20 # seconds per run

# mutate SRC DST: a few random byte edits, a truncation or a splice
mutate() {
  python3 - "$1" "$2" "$RANDOM" <<'PY'
import random, sys
src, dst, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = random.Random(seed)
b = bytearray(open(src, 'rb').read())
kind = r.randrange(5)
if kind == 0 and b:                       # byte flips
    for _ in range(r.randrange(1, 8)):
        b[r.randrange(len(b))] = r.randrange(256)
elif kind == 1 and b:                     # truncation
    b = b[:r.randrange(len(b))]
elif kind == 2 and b:                     # splice a chunk elsewhere
    i, j = sorted(r.randrange(len(b)) for _ in range(2))
    k = r.randrange(len(b))
    b = b[:k] + b[i:j] + b[k:]
elif kind == 3:                           # interesting values at random places
    for _ in range(r.randrange(1, 4)):
        v = r.choice([b'\x00', b'\xff', b'\x7f', b'\x80', b'9999999999', b'-1', b'\n' * 100, b'(' * 300, b'0x'])
        k = r.randrange(len(b) + 1)
        b = b[:k] + v + b[k:]
else:                                     # repeat a line many times
    lines = b.split(b'\n')
    if lines:
        i = r.randrange(len(lines))
        lines[i:i] = [lines[i]] * r.randrange(2, 2000)
    b = b'\n'.join(lines)
open(dst, 'wb').write(bytes(b))
PY
}

# check KIND NAME CMD...: run under the timeout and judge the result
check() {
  local kind="$1" name="$2"; shift 2
  timeout -s KILL "$limit" "$@" > "$work/out" 2> "$work/err"
  local rc=$?
  local why=""
  if [ "$rc" -eq 137 ]; then why="hang (killed after ${limit}s)"
  elif [ "$rc" -ge 2 ]; then why="exit status $rc"
  elif [ "$rc" -eq 1 ] && ! grep -q "$name" "$work/err"; then why="error without the file name"
  fi
  if [ -n "$why" ]; then
    fails=$((fails + 1)); kfail=$((kfail + 1))
    echo "FAIL $kind: $why: $*"; head -5 "$work/err"
    cp "$name" "$work/../hostile-fail-$fails" 2>/dev/null || true
  fi
  case $rc in 0) k0=$((k0 + 1));; 1) k1=$((k1 + 1));; esac
}

report() { echo "$1: $count cases, $k0 accepted, $k1 refused with a message, $kfail failures"; }

# 1. .nit files
k0=0; k1=0; kfail=0
examples=("$root"/examples/*.nit)
for i in $(seq 1 "$count"); do
  f="$work/m$i.nit"
  mutate "${examples[$((RANDOM % ${#examples[@]}))]}" "$f"
  check nit "$f" "$nitc" "$f" --check
done
report ".nit files"

# a small model and data for the runtime cases
cat > "$work/tiny.nit" <<'NIT'
model tiny {
    input  image[1, 28, 28]
    output classes(10)
    flatten
    dense  d(16)
    relu
    dense  out(10)
}
train { batch 16 }
NIT
"$nitc" "$work/tiny.nit" -O1 -o "$work/tiny" || { echo "cannot build the model"; exit 2; }
mkdir -p "$work/data"
"$build/tests/nitrt_mkdata" idx "$work/data" 256 64 1 28 28 10 > /dev/null || { echo "cannot make data"; exit 2; }
"$work/tiny" train --data "$work/data" --epochs 1 --limit 64 --test-limit 16 --save "$work/good.ckpt" --quiet \
  > /dev/null 2>&1 || { echo "cannot train the model on $work/data"; exit 2; }

# 2. idx files
k0=0; k1=0; kfail=0
for i in $(seq 1 "$count"); do
  d="$work/d$i"; mkdir -p "$d"; cp "$work/data"/* "$d/"
  victim=$(ls "$d" | sed -n "$((RANDOM % 4 + 1))p")
  mutate "$work/data/$victim" "$d/$victim"
  check idx "$d" "$work/tiny" train --data "$d" --epochs 1 --limit 32 --test-limit 8 --quiet
  rm -rf "$d"
done
report "idx data"

# 3. CSV files (a 784-column table from the idx data, then mutated)
k0=0; k1=0; kfail=0
python3 - "$work/data" "$work/csv" <<'PY'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
for part, img, lab in (('train', 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
                       ('test', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')):
    im = open(os.path.join(src, img), 'rb').read()[16:]; lb = open(os.path.join(src, lab), 'rb').read()[8:]
    with open(os.path.join(dst, part + '.csv'), 'w') as f:
        for i in range(min(64, len(lb))):
            f.write(str(lb[i]) + ',' + ','.join(str(v) for v in im[i * 784:(i + 1) * 784]) + '\n')
PY
"$work/tiny" train --data "$work/csv" --epochs 1 --quiet > /dev/null 2>&1 || { echo "the unmutated CSV does not train"; exit 2; }
for i in $(seq 1 "$count"); do
  d="$work/c$i"; mkdir -p "$d"; cp "$work/csv"/* "$d/"
  victim=$([ $((RANDOM % 2)) -eq 0 ] && echo train.csv || echo test.csv)
  mutate "$work/csv/$victim" "$d/$victim"
  check csv "$d" "$work/tiny" train --data "$d" --epochs 1 --quiet
  rm -rf "$d"
done
report "CSV data"

# 4. checkpoints: mutated, half of them with the CRC recomputed so that the
#    field validation (not the checksum) has to catch them
k0=0; k1=0; kfail=0
for i in $(seq 1 "$count"); do
  c="$work/k$i.ckpt"
  mutate "$work/good.ckpt" "$c"
  if [ $((i % 2)) -eq 0 ]; then
    python3 - "$c" <<'PY'
import sys, zlib
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
if len(b) > 8:
    crc = zlib.crc32(bytes(b[:-4])) & 0xffffffff
    b[-4:] = crc.to_bytes(4, 'little')
open(p, 'wb').write(bytes(b))
PY
  fi
  check ckpt "$c" "$work/tiny" eval --load "$c" --data "$work/data" --test-limit 8
  check ckpt "$c" "$work/tiny" inspect "$c"
  if [ $((i % 4)) -eq 0 ]; then
    check ckpt "$c" "$work/tiny" train --resume "$c" --data "$work/data" --epochs 2 --limit 32 --test-limit 8 --quiet
  fi
done
report "checkpoints"

# 5. kill -9 during --save: the checkpoint always loads, no temporary file is left
k0=0; k1=0; kfail=0
kills=$((count / 4))
"$work/tiny" train --data "$work/data" --epochs 1 --limit 64 --test-limit 8 --save "$work/k.ckpt" --quiet >/dev/null 2>&1
for i in $(seq 1 "$kills"); do
  "$work/tiny" train --data "$work/data" --epochs 3 --limit 64 --test-limit 8 --save "$work/k.ckpt" --quiet \
    > /dev/null 2>&1 &
  pid=$!
  sleep "0.0$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  "$work/tiny" train --data "$work/data" --epochs 1 --limit 16 --test-limit 8 --save "$work/k.ckpt" --quiet \
    > /dev/null 2>&1
  if ! "$work/tiny" eval --load "$work/k.ckpt" --data "$work/data" --test-limit 8 > /dev/null 2> "$work/err"; then
    fails=$((fails + 1)); kfail=$((kfail + 1)); echo "FAIL kill -9: the checkpoint does not load"; head -3 "$work/err"
  fi
  if ls "$work"/k.ckpt.tmp* > /dev/null 2>&1; then
    fails=$((fails + 1)); kfail=$((kfail + 1)); echo "FAIL kill -9: temporary files left: $(ls "$work"/k.ckpt.tmp*)"
  fi
done
echo "kill -9 during --save: $kills kills, $kfail failures"

total=$((4 * count + kills))
echo "campaign: $total cases, $fails failures"
[ "$fails" -eq 0 ]
