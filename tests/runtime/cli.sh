#!/usr/bin/env bash
# cli.sh CASE: end-to-end tests of the training executable, built from the
# runtime and the fake model (fake_model.c), on synthetic data from mkdata.
# Environment (set by tests/runtime.cmake): BIN (fake_* and nitrt_mkdata),
# RTLIB (libnitrt-*.a), NITRT_SRC, NITRT_TESTS, DATA_ROOT (repo data/).
# Exit 0 pass, 1 fail, 77 skipped.
set -u
case_name=${1:?usage: cli.sh CASE}
T=$(mktemp -d /tmp/nitrt-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
M=$BIN/fake_mnist

fail() { echo "FAIL [$case_name]: $*" >&2; exit 1; }
skip() { echo "SKIP [$case_name]: $*" >&2; exit 77; }

# run CMD...: stdout -> $T/out, stderr -> $T/err, status -> $rc
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }

# expect_error PATTERN CMD...: exit status 1, exactly one stderr line, matching
expect_error() {
  local pat=$1; shift
  run "$@"
  [ "$rc" = 1 ] || fail "'$*' exited $rc, want 1 (stderr: $(cat "$T/err"))"
  [ "$(wc -l <"$T/err")" = 1 ] || fail "'$*' printed $(wc -l <"$T/err") error lines: $(cat "$T/err")"
  grep -qF -- "$pat" "$T/err" || fail "'$*': stderr '$(cat "$T/err")' lacks '$pat'"
}

ok() {
  run "$@"
  [ "$rc" = 0 ] || fail "'$*' exited $rc: $(cat "$T/err")"
}

# no_control FILE: FILE's lines hold no control byte (what a terminal obeys)
no_control() {
  if LC_ALL=C grep -q $'[\x01-\x1f\x7f]' "$1"; then fail "control bytes in $1: $(od -c "$1")"; fi
}

# epochs_of LOG: the epoch records of a --log file (without the run records)
epochs_of() { grep -v '^{"record":"run"' "$1"; }
# strip LOG: those records without their timing fields, which differ from run to run
strip() { epochs_of "$1" | sed 's/"samples_per_sec":[0-9]*,"seconds":[0-9.]*,//'; }
# strip_total LOG: and without the run's epoch total, which a resume may raise
strip_total() { strip "$1" | sed 's/"epochs":[0-9]*,//'; }

# one_core CMD...: CMD on the first core this shell may run on (taskset)
one_core() { taskset -c "$(taskset -pc $$ | sed 's/.*: //; s/[-,].*//')" "$@"; }

# mkidx DIR NTRAIN NTEST: synthetic 1x28x28 idx data, 10 classes
mkidx() { mkdir -p "$1" && "$BIN/nitrt_mkdata" idx "$1" "$2" "$3" 1 28 28 10 || fail "mkdata"; }

D=$T/data
case $case_name in
cli_good)
  mkidx "$D" 100 20
  ok "$M" train --data "$D" --epochs 1 --batch 8 --seed 3 --quiet
  [ ! -s "$T/out" ] || fail "--quiet printed: $(cat "$T/out")"
  ok "$M" train --data="$D" --epochs=1 --rounding stochastic --round-act nearest \
    --update-bits 4,3@2 --decay on --threads 2 --test-limit 5 --limit 50
  grep -q '^epoch 1/1 ' "$T/out" || fail "no epoch line"
  # more threads than the cores the process may run on: a warning, and the
  # same bytes; as many: no warning
  if command -v taskset >/dev/null; then
    ok one_core "$M" train --data "$D" --epochs 1 --quiet --threads 2 --save "$T/t2.ckpt"
    [ "$(cat "$T/err")" = "fake_mnist: warning: --threads 2 is more than the 1 core this process may run on: the threads take turns on it, which slows training down (the results are the same)" ] ||
      fail "oversubscribed threads: $(cat "$T/err")"
    ok one_core "$M" train --data "$D" --epochs 1 --quiet --threads 1 --save "$T/t1.ckpt"
    [ ! -s "$T/err" ] || fail "one thread on one core warned: $(cat "$T/err")"
    cmp "$T/t1.ckpt" "$T/t2.ckpt" || fail "oversubscribed threads changed the bytes"
  fi
  # more threads than a loop has chunks (NITRT_POOL_CHUNKS): warned, and 16 run
  ok "$M" train --data "$D" --epochs 1 --quiet --threads 20 --log "$T/t20.jsonl" --save "$T/t20.ckpt"
  grep -qF -- "--threads 20: a parallel loop splits into at most 16 chunks, so the other threads would only wait; using 16" "$T/err" ||
    fail "20 threads: $(cat "$T/err")"
  grep -q '"threads":16,' "$T/t20.jsonl" || fail "20 threads: the log records $(grep -o '"threads":[0-9]*' "$T/t20.jsonl")"
  [ ! -f "$T/t1.ckpt" ] || cmp "$T/t1.ckpt" "$T/t20.ckpt" || fail "20 threads changed the bytes"
  ;;
cli_bad)
  expect_error "unknown option '--bogus'" "$M" train --bogus
  expect_error "option '--epochs' needs a value" "$M" train --epochs
  expect_error "--epochs: expected an integer from 1 to 1000000, got 'ten'" "$M" train --epochs ten
  expect_error "--batch: expected an integer" "$M" train --batch 3.5
  expect_error "--seed: expected an integer" "$M" train --seed 0x10
  expect_error "missing command" "$M"
  expect_error "unknown command 'trian' (did you mean 'train'?)" "$M" trian
  expect_error "unknown command 'xyzzy': expected train, eval, predict, export, info, inspect or help" "$M" xyzzy
  # did you mean: the closest flag, those of the command first; none when nothing is close
  expect_error "unknown option '--epoch' (did you mean '--epochs'?)" "$M" train --epoch 3
  expect_error "unknown option '--sed' (did you mean '--seed'?)" "$M" train --sed=3
  expect_error "unknown option '--per-clas' (did you mean '--per-class'?)" "$M" eval --load x --per-clas
  expect_error "unknown option '--save-bset' (did you mean '--save-best'?)" "$M" train --save-bset b
  expect_error "unknown option '--lod' (did you mean '--load'?)" "$M" eval --lod x
  expect_error "unexpected argument '-epochs' (did you mean '--epochs'?)" "$M" train -epochs 3
  expect_error "unknown option '--bogus' (see" "$M" train --bogus
  expect_error "unknown option '--q'" "$M" train --q
  grep -q "did you mean" "$T/err" && fail "a suggestion for a 1-letter option: $(cat "$T/err")"
  expect_error "option '--epochs' does not apply to 'eval'" "$M" eval --load x --epochs 2
  expect_error "eval needs --load CKPT" "$M" eval
  expect_error "--update-bits: epochs must increase" "$M" train --update-bits 3,2@5,1@5
  expect_error "--rounding: expected pseudo, stochastic or nearest, got 'fast'" "$M" train --rounding fast
  ;;
info)
  ok "$M" info
  for want in "model fake" "input 1x28x28" "10 classes" "f1" "dense" "7840" \
    "parameters: 7850 in 2 tensors" "params 7.7 KiB (7936 bytes)" "work 1.2 KiB (1280 bytes)" \
    "update bits 3, 2 from epoch 2" "rounding act pseudo, err stochastic, grad pseudo" \
    "built by fake_model.c" "runtime nitrt 0.1.0"; do
    grep -qF -- "$want" "$T/out" || fail "info lacks '$want': $(cat "$T/out")"
  done
  # the default thread count: the cores the process may run on
  if command -v taskset >/dev/null; then
    ok one_core "$M" info
    grep -qF "threads: 1 by default (the cores this process may run on, at most 16; --threads)" "$T/out" ||
      fail "info on one core: $(grep threads "$T/out")"
  fi
  ;;
help_version)
  for h in help --help "train --help"; do
    ok "$M" $h
    grep -q "^usage:" "$T/out" || fail "'$h' shows no usage"
    grep -q -- "--update-bits SCHED" "$T/out" || fail "'$h' lacks --update-bits"
  done
  ok "$M" --version
  grep -q "runtime nitrt 0.1.0" "$T/out" || fail "version: $(cat "$T/out")"
  ;;
train_basic)
  mkidx "$D" 600 100
  ok "$M" train --data "$D" --epochs 2
  [ "$(wc -l <"$T/out")" = 2 ] || fail "want 2 epoch lines: $(cat "$T/out")"
  re='^epoch [12]/2  loss [0-9]+\.[0-9]{4}  train [0-9]{1,3}\.[0-9]{2}%  test [0-9]{1,3}\.[0-9]{2}%  [0-9]+ samples/s  [0-9]+\.[0-9] s$'
  grep -vEq "$re" "$T/out" && fail "malformed epoch line: $(cat "$T/out")"
  # the fake model learns the synthetic data: test accuracy far above chance
  acc=$(sed -n 's/.*test \([0-9]*\)\..*/\1/p' "$T/out" | tail -1)
  [ "$acc" -ge 80 ] || fail "test accuracy $acc% after 2 epochs"
  ;;
train_log)
  mkidx "$D" 300 50
  ok "$M" train --data "$D" --epochs 2 --batch 32 --log "$T/all.jsonl"
  [ "$(wc -l <"$T/all.jsonl")" = 3 ] || fail "want 3 JSON lines (a run record, 2 epochs)"
  [ "$(head -1 "$T/all.jsonl" | grep -c '^{"record":"run",')" = 1 ] || fail "no run record first: $(head -1 "$T/all.jsonl")"
  epochs_of "$T/all.jsonl" >"$T/log.jsonl"
  for k in epoch step update_bits train_loss train_acc test_acc samples_per_sec seconds test_loss; do
    [ "$(grep -c "\"$k\":[0-9]" "$T/log.jsonl")" = 2 ] || fail "key $k missing: $(cat "$T/log.jsonl")"
  done
  # 300 samples in batches of 32: 10 steps per epoch, the last one of 12 samples
  grep -q '"epoch":2,"epochs":2,"step":20,' "$T/log.jsonl" || fail "step count: $(cat "$T/log.jsonl")"
  # numbers agree with the human lines and with the counts
  while read -r line; do
    tc=$(sed 's/.*"test_correct":\([0-9]*\).*/\1/' <<<"$line")
    ts=$(sed 's/.*"test_samples":\([0-9]*\).*/\1/' <<<"$line")
    ta=$(sed 's/.*"test_acc":\([0-9.]*\).*/\1/' <<<"$line")
    want=$(( (tc * 20000 + ts) / (2 * ts) ))
    [ "$ts" = 50 ] || fail "test_samples $ts"
    [ "$((10#${ta/./}))" = "$want" ] || fail "test_acc $ta for $tc/$ts"
    e=$(sed 's/.*"epoch":\([0-9]*\),.*/\1/' <<<"$line")
    pct=$(sed -n "s/^epoch $e\/2 .* test \([0-9.]*\)%.*/\1/p" "$T/out")
    [ "$((10#${pct/./}))" = "$want" ] || fail "epoch line $pct% vs log $ta"
  done <"$T/log.jsonl"
  # the update bits of each epoch (the fake recipe: 3, then 2 from epoch 2)
  grep -q '"epoch":1,"epochs":2,"step":10,"update_bits":3,' "$T/log.jsonl" || fail "m_u of epoch 1: $(head -1 "$T/log.jsonl")"
  grep -q '"epoch":2,"epochs":2,"step":20,"update_bits":2,' "$T/log.jsonl" || fail "m_u of epoch 2: $(tail -1 "$T/log.jsonl")"
  ok "$M" train --data "$D" --epochs 1 --update-bits 5 --log "$T/mu.jsonl" --quiet
  grep -q '"update_bits":5,' "$T/mu.jsonl" || fail "--update-bits 5: $(cat "$T/mu.jsonl")"
  # a resumed run appends to the log, with a run record of its own
  ok "$M" train --data "$D" --epochs 1 --save "$T/c" --log "$T/l2.jsonl"
  ok "$M" train --data "$D" --epochs 2 --resume "$T/c" --log "$T/l2.jsonl"
  [ "$(epochs_of "$T/l2.jsonl" | wc -l)" = 2 ] || fail "resume did not append to the log"
  [ "$(grep -c '^{"record":"run",' "$T/l2.jsonl")" = 2 ] || fail "want 2 run records: $(cat "$T/l2.jsonl")"
  # so does a new run: an existing log is never truncated
  ok "$M" train --data "$D" --epochs 1 --save "$T/c" --log "$T/l2.jsonl"
  [ "$(wc -l <"$T/l2.jsonl")" = 6 ] || fail "a new run truncated the log: $(cat "$T/l2.jsonl")"
  ;;
progress)
  mkidx "$D" 300 50
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  [ ! -s "$T/err" ] || fail "stderr is not a terminal but got: $(cat "$T/err")"
  command -v script >/dev/null || skip "no script(1) to fake a terminal"
  script -qec "$M train --data $D --epochs 1 --batch 1 --limit 300 2>&1 >/dev/null" /dev/null \
    >"$T/tty" </dev/null || fail "run under a terminal failed"
  grep -q "samples/s" "$T/tty" && grep -q "ETA" "$T/tty" && grep -q "300/300" "$T/tty" ||
    fail "no progress bar on a terminal: $(cat -v "$T/tty" | head -c 400)"
  # fitted to the terminal: 3 columns spare (the cursor never wraps, a ^C fits); the
  # width from TIOCGWINSZ, else $COLUMNS; a bar only when there is room for one
  for w in "50 stty cols 50" "120 stty cols 120" "64 stty cols 0 && export COLUMNS=64"; do
    cols=${w%% *}
    script -qec "${w#* } && $M train --data $D --epochs 1 --batch 1 --limit 300 --save $T/a.ckpt 2>&1 >/dev/null" /dev/null \
      >"$T/tty" </dev/null || fail "run under a terminal failed"
    tr '\r' '\n' <"$T/tty" | grep '[^ ]' >"$T/segs"
    grep -q "300/300" "$T/segs" || fail "$cols columns: $(cat -v "$T/tty" | head -c 300)"
    long=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$T/segs")
    [ "$long" -le $((cols - 3)) ] || fail "$cols columns: a line of $long: $(cat -v "$T/tty" | head -c 300)"
    if [ "$cols" = 120 ]; then grep -q '\[=*>* *\] ' "$T/segs" || fail "no bar in 120 columns: $(cat "$T/segs")"; fi
    if [ "$cols" = 50 ]; then grep -q '\[' "$T/segs" && fail "a bar squeezed into 50 columns: $(cat "$T/segs")"; fi
  done
  # Ctrl-C typed at the terminal: the screen (as a terminal shows it) keeps the epoch
  # lines and the message, with no "^C" and nothing of the bar left
  mkidx "$T/big" 20000 10
  for at in 0.4 1.1; do
    { sleep "$at"; printf '\003'; sleep 2; } |
      timeout 30 script -qec "stty cols 100 && $M train --data $T/big --epochs 1000000 --batch 1 --save $T/c.ckpt" /dev/null >"$T/tty"
    python3 - "$T/tty" >"$T/screen" <<'PY' || fail "terminal emulation"
import sys
screen, row, col = [[]], 0, 0
for ch in open(sys.argv[1], 'rb').read().decode('utf-8', 'replace'):
    if ch == '\r': col = 0
    elif ch == '\n':
        row, col = row + 1, 0
        if row == len(screen): screen.append([])
    elif ch >= ' ':
        line = screen[row]
        line.extend(' ' * (col + 1 - len(line)))
        line[col] = ch
        col += 1
print('\n'.join(''.join(l).rstrip() for l in screen).rstrip())
PY
    grep -q "interrupted during epoch" "$T/screen" || fail "not interrupted at $at s: $(cat -v "$T/tty" | tail -c 300)"
    bad=$(grep -Ev '^(epoch [0-9]+/1000000  loss .* s|fake_mnist: interrupted during epoch [0-9]+; .*)$' "$T/screen")
    [ -z "$bad" ] || fail "Ctrl-C at $at s left '$bad' on the screen: $(cat -v "$T/tty" | tail -c 400)"
  done
  ;;
batch_limit)
  mkidx "$D" 100 20
  expect_error "compiled for batch <= 32; recompile with nitc --batch 64" \
    "$M" train --data "$D" --batch 64
  ok "$M" train --data "$D" --batch 32 --epochs 1 --limit 70 --log "$T/l"
  grep -q '"step":3,' "$T/l" || fail "70 samples at batch 32 must take 3 steps"
  grep -q '"train_samples":70,' "$T/l" || fail "the partial batch was dropped"
  ;;
data_errors)
  mkidx "$D" 100 20
  expect_error "$T/nope: no such data directory" "$M" train --data "$T/nope"
  cp -r "$D" "$T/d1"; rm "$T/d1/t10k-labels-idx1-ubyte"
  expect_error "$T/d1/t10k-labels-idx1-ubyte: missing" "$M" train --data "$T/d1"
  cp -r "$D" "$T/d2"; truncate -s -1 "$T/d2/train-images-idx3-ubyte"
  expect_error "$T/d2/train-images-idx3-ubyte: truncated" "$M" train --data "$T/d2"
  cp -r "$D" "$T/d3"; printf '\x00\x00\x09\x03' | dd of="$T/d3/t10k-images-idx3-ubyte" conv=notrunc status=none
  expect_error "$T/d3/t10k-images-idx3-ubyte: wrong magic 0x00000903" "$M" train --data "$T/d3"
  cp -r "$D" "$T/d4"; printf '\x0c' | dd of="$T/d4/train-labels-idx1-ubyte" bs=1 seek=20 conv=notrunc status=none
  expect_error "$T/d4/train-labels-idx1-ubyte: label 12 of sample 12 is out of range: the model has 10 classes" \
    "$M" train --data "$T/d4"
  mkdir -p "$T/d5" && "$BIN/nitrt_mkdata" idx "$T/d5" 10 10 1 8 8 10
  expect_error "$T/d5/train-images-idx3-ubyte: images are 1x8x8 but the model expects 1x28x28" \
    "$M" train --data "$T/d5"
  mkdir -p "$T/d6" && "$BIN/nitrt_mkdata" idx "$T/d6" 10 10 3 28 28 10
  expect_error "images are 3x28x28 but the model expects 1x28x28" "$M" train --data "$T/d6"
  mkdir -p "$T/d8"
  expect_error "$T/d8: no data set found" "$M" train --data "$T/d8"
  ;;
vector_input)
  # a model whose input is a vector of 784 values trains on 1x28x28 idx
  # images as those values, in (C, H, W) order: fake_vec is fake_mnist with
  # input [784], and both train the same epochs; other sizes are refused
  mkidx "$D" 600 100
  ok "$M" train --data "$D" --epochs 2 --log "$T/img"
  ok "$BIN/fake_vec" train --data "$D" --epochs 2 --log "$T/vec" --save "$T/vec.ckpt"
  [ "$(strip "$T/img")" = "$(strip "$T/vec")" ] || fail "vector input trained otherwise: $(strip "$T/vec")"
  ok "$BIN/fake_vec" predict --idx "$D/t10k-images-idx3-ubyte" --count 3 --load "$T/vec.ckpt"
  [ "$(wc -l <"$T/out")" = 3 ] || fail "predict on a vector input: $(cat "$T/out")"
  mkdir -p "$T/d5" && "$BIN/nitrt_mkdata" idx "$T/d5" 10 10 1 8 8 10
  expect_error "$T/d5/train-images-idx3-ubyte: images are 1x8x8 but the model expects 784x1x1" \
    "$BIN/fake_vec" train --data "$T/d5"
  ;;
gzip)
  # .gz files are read as gunzip would write them: the same data set, the
  # same content hash, the same training; bad ones are errors with offsets
  mkidx "$D" 300 50
  ok "$M" train --data "$D" --epochs 2 --log "$T/plain.jsonl"
  cp -r "$D" "$T/z"; gzip "$T/z/train-images-idx3-ubyte" "$T/z/t10k-labels-idx1-ubyte"
  ok "$M" train --data "$T/z" --epochs 2 --log "$T/gz.jsonl"
  hashes() { grep -o '"train":{[^}]*},"test":{[^}]*}' "$1"; }
  [ -n "$(hashes "$T/plain.jsonl")" ] && [ "$(hashes "$T/plain.jsonl")" = "$(hashes "$T/gz.jsonl")" ] ||
    fail "the .gz data set's fingerprints differ: $(hashes "$T/gz.jsonl")"
  [ "$(strip "$T/plain.jsonl")" = "$(strip "$T/gz.jsonl")" ] || fail "training on .gz data differs"
  # a cross target's runtime has no zlib: it says so
  lib=$RTLIB/libnitrt-aarch64-linux-gnu.a
  if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null && [ -f "$lib" ]; then
    aarch64-linux-gnu-gcc -O2 -std=c11 -I"$NITRT_SRC" "$NITRT_TESTS/fake_model.c" "$lib" -o "$T/fake-arm" ||
      fail "cannot link the fake model with $lib"
    expect_error "$T/z/train-images-idx3-ubyte.gz: this runtime was built without zlib and reads no compressed files: gunzip it first" \
      qemu-aarch64 -L /usr/aarch64-linux-gnu "$T/fake-arm" train --data "$T/z"
  fi
  # two gzip members are one file
  cp -r "$D" "$T/two"; f=$T/two/train-images-idx3-ubyte
  { head -c 5000 "$f" | gzip -c; tail -c +5001 "$f" | gzip -1 -c; } >"$f.gz" && rm "$f"
  ok "$M" train --data "$T/two" --epochs 2 --log "$T/two.jsonl"
  [ "$(hashes "$T/plain.jsonl")" = "$(hashes "$T/two.jsonl")" ] || fail "two members read differently"
  # CSV, and predict's input files
  mkdir -p "$T/c" && "$BIN/nitrt_mkdata" csv "$T/c" 60 20 6 3 || fail mkdata
  ok "$BIN/fake_csv" train --data "$T/c" --epochs 1 --log "$T/c.jsonl" --save "$T/c.ckpt"
  gzip "$T/c/train.csv" "$T/c/test.csv"
  ok "$BIN/fake_csv" train --data "$T/c" --epochs 1 --log "$T/cz.jsonl"
  [ "$(hashes "$T/c.jsonl")" = "$(hashes "$T/cz.jsonl")" ] || fail "gzipped CSV read differently"
  ok "$M" train --data "$D" --epochs 1 --save "$T/m.ckpt"
  ok "$M" predict --load "$T/m.ckpt" --idx "$D/t10k-images-idx3-ubyte" --count 5
  cp "$T/out" "$T/p.plain"
  gzip -c "$D/t10k-images-idx3-ubyte" >"$T/in.gz"
  ok "$M" predict --load "$T/m.ckpt" --idx "$T/in.gz" --count 5
  cmp -s "$T/out" "$T/p.plain" || fail "predict --idx FILE.gz differs"
  # errors: the file and an offset, exit 1, nothing else
  g=$T/z/train-images-idx3-ubyte.gz
  cp "$g" "$T/good.gz"
  size=$(stat -c %s "$g")
  head -c $((size - 20)) "$T/good.gz" >"$g"
  expect_error "$g: truncated: the compressed data ends at offset $((size - 20)) inside the gzip member at offset 0" \
    "$M" train --data "$T/z"
  cp "$T/good.gz" "$g"; printf '\377\377\377\377' | dd of="$g" bs=1 seek=$((size / 2)) conv=notrunc status=none
  expect_error "$g: corrupt gzip data near offset" "$M" train --data "$T/z"
  cp "$T/good.gz" "$g"; printf '\0\0\0\0' | dd of="$g" bs=1 seek=$((size - 8)) conv=notrunc status=none
  expect_error "$g: corrupt gzip data near offset" "$M" train --data "$T/z"
  grep -qF "(zlib: incorrect data check)" "$T/err" || fail "a wrong CRC: $(cat "$T/err")"
  cp "$T/good.gz" "$g"; head -c 512 /dev/zero >>"$g" # zeros after the data are read over, as by gunzip
  ok "$M" train --data "$T/z" --epochs 1
  cp "$T/good.gz" "$g"; printf 'junk' >>"$g"
  expect_error "$g: 4 bytes at offset $size after the end of the gzip data are not another gzip member" \
    "$M" train --data "$T/z"
  cp "$D/train-images-idx3-ubyte" "$g"
  expect_error "$g: not gzip data: expected the bytes 1f 8b at offset 0" "$M" train --data "$T/z"
  cp -r "$D" "$T/named"; gzip -c <"$D/train-labels-idx1-ubyte" >"$T/named/train-labels-idx1-ubyte" # no name: flags 0
  expect_error "$T/named/train-labels-idx1-ubyte: wrong magic 0x1f8b0800: this is gzip-compressed data; name it $T/named/train-labels-idx1-ubyte.gz" \
    "$M" train --data "$T/named"
  ;;
cifar)
  mkdir -p "$D" && "$BIN/nitrt_mkdata" cifar "$D" 40 30 || fail mkdata
  ok "$BIN/fake_cifar" train --data "$D" --epochs 2 --log "$T/l"
  grep -q '"train_samples":200,' "$T/l" || fail "5 batches of 40: $(cat "$T/l")"
  grep -q '"test_samples":30}' "$T/l" || fail "test batch of 30"
  acc=$(sed -n 's/.*test \([0-9]*\)\..*/\1/p' "$T/out" | tail -1)
  [ "$acc" -ge 50 ] || fail "cifar test accuracy $acc%"
  expect_error "data_batch_1.bin: images are 3x32x32 but the model expects 1x28x28" "$M" train --data "$D"
  mkdir -p "$T/sub/cifar-10-batches-bin" && cp "$D"/*.bin "$T/sub/cifar-10-batches-bin/"
  ok "$BIN/fake_cifar" train --data "$T/sub" --epochs 1
  truncate -s -5 "$D/test_batch.bin"
  expect_error "$D/test_batch.bin: truncated or not a CIFAR-10 binary batch" "$BIN/fake_cifar" train --data "$D"
  rm "$D/data_batch_4.bin"
  expect_error "$D/data_batch_4.bin: missing" "$BIN/fake_cifar" train --data "$D"
  ;;
csv)
  mkdir -p "$D" && "$BIN/nitrt_mkdata" csv "$D" 300 60 6 3 || fail mkdata
  ok "$BIN/fake_csv" train --data "$D" --epochs 2 --log "$T/l"
  grep -q '"train_samples":300,' "$T/l" || fail "csv rows: $(cat "$T/l")"
  acc=$(sed -n 's/.*test \([0-9]*\)\..*/\1/p' "$T/out" | tail -1)
  [ "$acc" -ge 60 ] || fail "csv test accuracy $acc%"
  printf 'label,a,b,c,d,e,f\n1,1,2,3,4,5,6\n7,1,2,3,4,5,6\n' >"$D/test.csv"
  expect_error "$D/test.csv:3: label 7 is out of range: the model has 3 classes" "$BIN/fake_csv" train --data "$D"
  printf '1,1,2,3,4,5\n' >"$D/test.csv"
  expect_error "$D/test.csv:1: 5 features but the model expects 6 (1x1x6)" "$BIN/fake_csv" train --data "$D"
  ;;
csv_decimal)
  mkdir -p "$D" && "$BIN/nitrt_mkdata" csv "$D" 300 60 6 3 dec || fail mkdata
  grep -q -- '-0\.' "$D/train.csv" || fail "mkdata wrote no decimals"
  ok "$BIN/fake_csv" train --data "$D" --epochs 2 --save "$T/c"
  acc=$(sed -n 's/.*test \([0-9]*\)\..*/\1/p' "$T/out" | tail -1)
  [ "$acc" -ge 60 ] || fail "decimal csv test accuracy $acc%"
  ok "$BIN/fake_csv" eval --data "$D" --load "$T/c"
  e=$(sed -n 's/^test \([0-9.]*\)%.*/\1/p' "$T/out")
  t=$(sed -n 's/^epoch 2\/2 .* test \([0-9.]*\)%.*/\1/p' "$T/out" 2>/dev/null)
  grep -q "(.*/60 correct)" "$T/out" || fail "eval: $(cat "$T/out")"
  ;;
ckpt_roundtrip)
  mkidx "$D" 300 50
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  t=$(sed -n 's/.* test \([0-9.]*\)%.*/\1/p' "$T/out")
  # header, parameters, the data directory it records (no column shifts for idx), CRC
  abs=$(realpath "$D")
  [ "$(stat -c %s "$T/a.ckpt")" = $((336 + 7936 + ${#abs} + 4)) ] || fail "checkpoint size"
  tail -c $((${#abs} + 4)) "$T/a.ckpt" | head -c ${#abs} | grep -qxF "$abs" || fail "data directory not recorded"
  [ "$(head -c 7 "$T/a.ckpt")" = NITCKPT ] || fail "magic"
  ok "$M" eval --data "$D" --load "$T/a.ckpt"
  grep -q "^test $t%  loss [0-9.]*  ([0-9]*/50 correct)  epoch 1" "$T/out" || fail "eval '$(cat "$T/out")' vs train test $t%"
  ls "$T" | grep -q tmp && fail "temp file left: $(ls "$T")"
  ;;
ckpt_corrupt)
  mkidx "$D" 100 20
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  cp "$T/a.ckpt" "$T/b.ckpt"
  printf '\x55' | dd of="$T/b.ckpt" bs=1 seek=1000 conv=notrunc status=none
  expect_error "$T/b.ckpt: corrupt checkpoint: checksum mismatch" "$M" eval --data "$D" --load "$T/b.ckpt"
  expect_error "$T/b.ckpt: corrupt checkpoint: checksum mismatch" "$M" train --data "$D" --resume "$T/b.ckpt"
  head -c 3000 "$T/a.ckpt" >"$T/c.ckpt"
  expect_error "$T/c.ckpt: truncated or corrupt checkpoint" "$M" eval --data "$D" --load "$T/c.ckpt"
  expect_error "$D/train-images-idx3-ubyte: not a nitc checkpoint (wrong magic)" \
    "$M" eval --data "$D" --load "$D/train-images-idx3-ubyte"
  expect_error "$T/none.ckpt: cannot open" "$M" eval --data "$D" --load "$T/none.ckpt"
  ;;
ckpt_other_model)
  mkidx "$D" 100 20
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  expect_error "$T/a.ckpt: checkpoint was written by model fake (fingerprint 0x1234567890abcdef), this is model other (fingerprint 0x000000000000feed)" \
    "$BIN/fake_other" eval --data "$D" --load "$T/a.ckpt"
  expect_error "checkpoint was written by model fake" "$BIN/fake_other" train --data "$D" --resume "$T/a.ckpt"
  ;;
save_unwritable)
  mkidx "$D" 100 20
  expect_error "$T/no/such/dir/a.ckpt: cannot save a checkpoint there: directory $T/no/such/dir does not exist" \
    "$M" train --data "$D" --save "$T/no/such/dir/a.ckpt"
  [ ! -s "$T/out" ] || fail "trained before checking the save path: $(cat "$T/out")"
  mkdir "$T/isdir"
  expect_error "$T/isdir: cannot save a checkpoint there: it is a directory" "$M" train --data "$D" --save "$T/isdir"
  touch "$T/file"
  expect_error "cannot save a checkpoint there" "$M" train --data "$D" --save "$T/file/a.ckpt"
  expect_error "$T/no/log.jsonl: cannot open log file" "$M" train --data "$D" --log "$T/no/log.jsonl"
  ;;
ckpt_untouched)
  mkidx "$D" 100 20
  ok "$M" train --data "$D" --epochs 1 --save "$T/g.ckpt"
  cp "$T/g.ckpt" "$T/orig"
  cp "$T/g.ckpt" "$T/bad.ckpt"; printf 'X' | dd of="$T/bad.ckpt" bs=1 seek=300 conv=notrunc status=none
  expect_error "missing" "$M" train --data "$T/missing" --save "$T/g.ckpt" --epochs 3 2>/dev/null || true
  expect_error "checksum mismatch" "$M" train --data "$D" --resume "$T/bad.ckpt" --save "$T/g.ckpt" --epochs 3
  expect_error "recompile with nitc --batch 99" "$M" train --data "$D" --batch 99 --save "$T/g.ckpt"
  rm "$D/t10k-images-idx3-ubyte"
  expect_error "t10k-images-idx3-ubyte: missing" "$M" train --data "$D" --resume "$T/g.ckpt" --save "$T/g.ckpt" --epochs 3
  cmp -s "$T/g.ckpt" "$T/orig" || fail "a failing run changed the existing checkpoint"
  [ "$(ls "$T" | grep -c tmp)" = 0 ] || fail "temp files left: $(ls "$T")"
  ;;
resume_equivalence)
  mkidx "$D" 500 50
  # the fake recipe switches update bits 3 -> 2 at epoch 2; holdout and a limit
  # make the data order and sizes nontrivial
  common=(--data "$D" --holdout 37 --limit 450 --batch 16 --seed 11)
  ok "$M" train "${common[@]}" --epochs 3 --save "$T/straight.ckpt" --log "$T/s.jsonl"
  ok "$M" train "${common[@]}" --epochs 1 --save "$T/r1.ckpt" --log "$T/r.jsonl"
  ok "$M" train --data "$D" --epochs 2 --resume "$T/r1.ckpt" --save "$T/r2.ckpt" --log "$T/r.jsonl"
  ok "$M" train --data "$D" --epochs 3 --resume "$T/r2.ckpt" --save "$T/r3.ckpt" --log "$T/r.jsonl"
  cmp "$T/straight.ckpt" "$T/r3.ckpt" || fail "resumed checkpoint differs from the straight run"
  # the same numbers, except timing and the run's epoch total
  [ "$(strip_total "$T/s.jsonl")" = "$(strip_total "$T/r.jsonl")" ] ||
    fail "logs differ: $(strip_total "$T/s.jsonl") vs $(strip_total "$T/r.jsonl")"
  # resuming into the same file works (atomic replace)
  cp "$T/r1.ckpt" "$T/same.ckpt"
  ok "$M" train --data "$D" --epochs 3 --resume "$T/same.ckpt" --save "$T/same.ckpt"
  cmp "$T/straight.ckpt" "$T/same.ckpt" || fail "resume into the same file differs"
  # control: a different seed on resume is noticed and changes the result
  ok "$M" train --data "$D" --epochs 3 --resume "$T/r1.ckpt" --seed 12 --save "$T/x.ckpt"
  grep -q "warning: --seed differs from the checkpoint's" "$T/err" || fail "no warning for --seed"
  cmp -s "$T/straight.ckpt" "$T/x.ckpt" && fail "a different seed gave the same checkpoint"
  true
  ;;
resume_done)
  mkidx "$D" 100 20
  ok "$M" train --data "$D" --epochs 2 --save "$T/a.ckpt"
  cp "$T/a.ckpt" "$T/orig"
  ok "$M" train --data "$D" --epochs 2 --resume "$T/a.ckpt" --save "$T/a.ckpt"
  grep -q "already trained for 2 of 2 epochs; nothing to do" "$T/out" || fail "$(cat "$T/out")"
  cmp -s "$T/a.ckpt" "$T/orig" || fail "checkpoint changed"
  ok "$M" train --data "$D" --resume "$T/a.ckpt" --save "$T/b.ckpt"   # stored epochs: 2
  grep -q "nothing to do" "$T/out" || fail "the checkpoint's epoch total is not the default"
  ok "$M" train --data "$D" --epochs 3 --resume "$T/a.ckpt" --save "$T/b.ckpt"
  grep -q "^epoch 3/3 " "$T/out" || fail "did not continue with epoch 3: $(cat "$T/out")"
  ;;
holdout_limit)
  mkidx "$D" 300 40
  ok "$M" train --data "$D" --epochs 1 --limit 200 --holdout 50 --test-limit 25 --log "$T/l"
  grep -q '"val_samples":50,' "$T/l" && grep -q '"train_samples":150,' "$T/l" &&
    grep -q '"test_samples":25}' "$T/l" || fail "sizes: $(cat "$T/l")"
  grep -Eq "^epoch 1/1  loss [0-9.]+  train [0-9.]+%  val [0-9.]+%  test " "$T/out" || fail "$(cat "$T/out")"
  expect_error "--holdout 200 leaves no training samples" "$M" train --data "$D" --limit 200 --holdout 200
  ;;
eval)
  mkidx "$D" 200 60
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  ok "$M" eval --data "$D" --load "$T/a.ckpt" --test-limit 10
  grep -q "([0-9]*/10 correct)" "$T/out" || fail "$(cat "$T/out")"
  ok "$M" eval --data "$D" --load "$T/a.ckpt" --batch 7
  b7=$(sed 's/  [0-9]* samples.*//' "$T/out")
  ok "$M" eval --data "$D" --load "$T/a.ckpt"
  [ "$b7" = "$(sed 's/  [0-9]* samples.*//' "$T/out")" ] || fail "eval depends on --batch"
  expect_error "compiled for batch <= 32" "$M" eval --data "$D" --load "$T/a.ckpt" --batch 33
  ;;
predict)
  mkidx "$D" 200 60
  ok "$M" train --data "$D" --epochs 2 --save "$T/a.ckpt"
  ok "$M" predict --load "$T/a.ckpt" --idx "$D/t10k-images-idx3-ubyte" --index 3
  grep -Eq '^sample 3  class [0-9]  score [0-9]{1,3}\.[0-9]{2}%  logit -?[0-9]+ \(x2\^-?[0-9]+\)$' "$T/out" || fail "$(cat "$T/out")"
  ok "$M" predict --load "$T/a.ckpt" --idx "$D/t10k-images-idx3-ubyte" --count 50
  [ "$(wc -l <"$T/out")" = 50 ] || fail "want 50 predictions"
  # predictions agree with the labels as often as eval says
  labels=$(od -An -v -tu1 -j8 -N50 "$D/t10k-labels-idx1-ubyte" | tr -s ' ' '\n' | grep -v '^$')
  right=$(paste <(sed 's/.*class \([0-9]*\) .*/\1/' "$T/out") <(echo "$labels") | awk '$1==$2' | wc -l)
  ok "$M" eval --data "$D" --load "$T/a.ckpt" --test-limit 50
  grep -q "($right/50 correct)" "$T/out" || fail "predict says $right/50 right, eval: $(cat "$T/out")"
  "$BIN/nitrt_mkdata" raw "$T/two.raw" 2 784
  ok "$M" predict --load "$T/a.ckpt" --raw "$T/two.raw"
  [ "$(wc -l <"$T/out")" = 2 ] || fail "raw: $(cat "$T/out")"
  expect_error "holds 60 samples; samples 60..60 requested" "$M" predict --load "$T/a.ckpt" --idx "$D/t10k-images-idx3-ubyte" --index 60
  head -c 1000 "$T/two.raw" >"$T/bad.raw"
  expect_error "$T/bad.raw: 1000 bytes is not a positive multiple of the model's input size 784" \
    "$M" predict --load "$T/a.ckpt" --raw "$T/bad.raw"
  ;;
eval_per_class)
  mkidx "$D" 300 60
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt" --quiet
  ok "$M" eval --load "$T/a.ckpt"
  plain=$(sed 's/  [0-9]* samples.*//' "$T/out")
  ok "$M" eval --load "$T/a.ckpt" --per-class
  [ "$(head -1 "$T/out" | sed 's/  [0-9]* samples.*//')" = "$plain" ] || fail "--per-class changed the summary line: $(head -1 "$T/out") vs $plain"
  grep -q "^class    samples    correct   accuracy  predicted  precision$" "$T/out" || fail "no class table: $(cat "$T/out")"
  grep -q "^confusion matrix (rows: true class, columns: predicted class)$" "$T/out" || fail "no matrix: $(cat "$T/out")"
  # the classes of predict (same batches: --batch 32 from sample 0) against the labels
  ok "$M" predict --load "$T/a.ckpt" --idx "$D/t10k-images-idx3-ubyte" --count 60
  sed 's/.*class \([0-9]*\) .*/\1/' "$T/out" >"$T/pred"
  od -An -v -tu1 -j8 -N60 "$D/t10k-labels-idx1-ubyte" | tr -s ' ' '\n' | grep -v '^$' >"$T/lab"
  paste -d' ' "$T/lab" "$T/pred" | awk '{ m[$1 " " $2]++ } END { for (r = 0; r < 10; r++) { l = ""; for (c = 0; c < 10; c++) l = l (c ? " " : "") (m[r " " c] + 0); print l } }' >"$T/want"
  ok "$M" eval --load "$T/a.ckpt" --per-class
  sed -n '/^true.pred/,$p' "$T/out" | tail -n +2 | awk '{ $1 = ""; sub(/^ +/, ""); gsub(/ +/, " "); print }' >"$T/got"
  cmp -s "$T/want" "$T/got" || fail "confusion matrix: $(cat "$T/got") want $(cat "$T/want")"
  # per class: samples are the row sums, correct the diagonal, predicted the column sums
  for c in 0 3 9; do
    n=$(grep -c "^$c$" "$T/lab"); r=$(paste -d' ' "$T/lab" "$T/pred" | grep -c "^$c $c$"); p=$(grep -c "^$c$" "$T/pred")
    grep -Eq "^ +$c +$n +$r +[0-9.-]+%? +$p +" "$T/out" || fail "class $c: want $n samples, $r correct, $p predicted: $(grep -E "^ +$c " "$T/out" | head -1)"
  done
  # JSON: valid, the same figures
  ok "$M" eval --load "$T/a.ckpt" --per-class --json
  [ "$(wc -l <"$T/out")" = 1 ] || fail "--json printed more than one line"
  python3 - "$T/out" "$T/want" "$T/lab" "$T/pred" <<'PY' || fail "JSON: $(cat "$T/out")"
import json, sys
r = json.load(open(sys.argv[1]))
want = [[int(v) for v in l.split()] for l in open(sys.argv[2])]
lab = [int(l) for l in open(sys.argv[3])]; pred = [int(l) for l in open(sys.argv[4])]
assert r['confusion'] == want, r['confusion']
assert r['test_samples'] == 60 and r['test_correct'] == sum(a == b for a, b in zip(lab, pred))
assert r['epoch'] == 1 and r['model'] == 'fake' and r['fingerprint'] == '0x1234567890abcdef'
for c, k in enumerate(r['per_class']):
    assert k['class'] == c and k['samples'] == lab.count(c) and k['predicted'] == pred.count(c)
    assert k['correct'] == want[c][c]
    assert k['acc'] == (round(k['correct'] / k['samples'], 4) if k['samples'] else None)
    assert k['precision'] == (round(k['correct'] / k['predicted'], 4) if k['predicted'] else None)
PY
  ok "$M" eval --load "$T/a.ckpt" --json
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert "per_class" not in r and r["test_samples"] == 60' "$T/out" ||
    fail "--json without --per-class: $(cat "$T/out")"
  # more classes than the matrix is kept for: the table, no matrix
  mkdir -p "$T/many" && "$BIN/nitrt_mkdata" csv "$T/many" 16 4 2 400000 || fail mkdata
  ok "$BIN/fake_classes" train --data "$T/many" --epochs 1 --save "$T/m.ckpt" --quiet
  ok "$BIN/fake_classes" eval --load "$T/m.ckpt" --per-class --json
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["confusion"] is None and len(r["per_class"]) == 400000' "$T/out" ||
    fail "400000 classes: $(head -c 300 "$T/out")"
  expect_error "option '--per-class' does not apply to 'predict'" "$M" predict --load "$T/a.ckpt" --per-class
  ;;
run_record)
  # the first record of every run: what ran, on what, how
  mkidx "$D" 300 60
  ok "$M" train --data "$D" --epochs 2 --holdout 20 --seed 9 --save "$T/a.ckpt" --log "$T/l.jsonl" --quiet
  ok "$M" train --data "$D" --epochs 3 --resume "$T/a.ckpt" --log "$T/l.jsonl" --quiet
  h=$(od -An -tx8 -j304 -N8 "$T/a.ckpt" | tr -d ' '); ht=$(od -An -tx8 -j320 -N8 "$T/a.ckpt" | tr -d ' ')
  python3 - "$T/l.jsonl" "$M" "$(realpath "$D")" "$T/a.ckpt" "$h" "$ht" <<'PY' || fail "run records: $(cat "$T/l.jsonl")"
import json, sys
log, exe, data, ck, h, ht = sys.argv[1:]
recs = [json.loads(l) for l in open(log)]
assert [r.get('record', 'epoch') for r in recs] == ['run', 'epoch', 'epoch', 'run', 'epoch'], recs
a, b = recs[0], recs[3]
assert a['command'] == [exe, 'train', '--data', data, '--epochs', '2', '--holdout', '20', '--seed', '9', '--save', ck,
                        '--log', log, '--quiet'], a['command']
assert a['model'] == 'fake' and a['fingerprint'] == '0x1234567890abcdef' and a['runtime'] == 'nitrt 0.1.0'
assert a['nitc'].startswith('fake_model.c') and a['target'] == 'host' and a['seed'] == 9 and a['threads'] >= 1
r = a['recipe']
assert r['kind'] == 'niti' and r['batch'] == 32 and r['epochs'] == 2 and r['holdout'] == 20 and r['limit'] == 0
assert r['rounding'] == {'act': 'pseudo', 'err': 'stochastic', 'grad': 'pseudo'} and r['decay'] is False
assert r['update_bits'] == [{'bits': 3, 'from_epoch': 1}, {'bits': 2, 'from_epoch': 2}]
d = a['data']
assert d['dir'] == data and d['quantization'] == 'pixels'
assert d['train'] == {'format': 'idx', 'samples': 300, 'hash': '0x' + h}, (d, h)
assert d['test'] == {'format': 'idx', 'samples': 60, 'hash': '0x' + ht}, (d, ht)
assert a['train_samples'] == 280 and a['val_samples'] == 20 and a['test_samples'] == 60
assert a['resumed_from'] is None and a['save'] == ck and a['save_best'] is None
assert b['resumed_from'] == {'checkpoint': ck, 'epoch': 2, 'step': 18, 'epoch_steps_done': 0}, b['resumed_from']
assert b['recipe']['epochs'] == 3 and b['seed'] == 9 and b['save'] is None
assert a['started'].endswith('Z') and len(a['started']) == 20
PY
  # a recipe with masters records its settings
  ok "$BIN/fake_ghaffari" train --data "$D" --epochs 1 --batch 16 --log "$T/g.jsonl" --quiet
  python3 - "$T/g.jsonl" <<'PY' || fail "ghaffari run record: $(head -1 "$T/g.jsonl")"
import json, sys
r = json.loads(open(sys.argv[1]).readline())['recipe']
assert r['kind'] == 'ghaffari' and r['master_bits'] == 16 and r['loss'] == 'table softmax'
assert r['view_rounding'] == 'stochastic' and r['update_rounding'] == 'stochastic'
assert r['lr'] == {'kind': 'piecewise', 'steps': [{'lr': '0.1', 'from_epoch': 1}, {'lr': '0.01', 'from_epoch': 2}]}, r['lr']
assert r['warmup_steps'] == 5 and r['warmup_ratio'] == '0.001' and r['momentum'] == '0.9' and r['weight_decay'] == '0.0005'
assert 'update_bits' not in r
PY
  # paths that need escaping, and bytes that are not UTF-8, still give valid JSON
  q=$T/'we"ird\dir'$'\t'$'\377'
  mkdir -p "$q" && cp "$D"/* "$q/"
  ok "$M" train --data "$q" --epochs 1 --log "$T/q.jsonl" --quiet
  python3 - "$T/q.jsonl" "$T" <<'PY' || fail "escaping: $(head -1 "$T/q.jsonl" | cat -v)"
import json, sys
r = json.loads(open(sys.argv[1], encoding='utf-8').readline())
assert r['data']['dir'] == sys.argv[2] + '/we"ird\\dir\t\ufffd', r['data']['dir']
PY
  ;;
save_best)
  mkidx "$D" 300 60
  # this run's validation accuracy peaks at epoch 2 of 6, its test accuracy at epoch 6
  common=(--data "$D" --limit 100 --batch 2 --update-bits 7 --seed 8 --quiet)
  ok "$M" train "${common[@]}" --holdout 30 --epochs 6 --save-best "$T/best.ckpt" --log "$T/l.jsonl"
  [ ! -s "$T/err" ] || fail "--save-best alone warned: $(cat "$T/err")"
  # the epochs that beat every earlier one (ties keep the earlier) carry saved_best
  want=$(epochs_of "$T/l.jsonl" | sed 's/.*"epoch":\([0-9]*\),.*"val_correct":\([0-9]*\),.*/\1 \2/' |
    awk 'BEGIN { b = -1 } $2 > b { b = $2; printf "%s ", $1 }')
  got=$(epochs_of "$T/l.jsonl" | grep '"saved_best":true' | sed 's/.*"epoch":\([0-9]*\),.*/\1/' | tr '\n' ' ')
  [ "$got" = "$want" ] || fail "saved_best at epochs '$got', want '$want'"
  be=${want% }; be=${be##* }
  [ "$be" -lt 6 ] || fail "the best validation epoch is the last: the test proves little"
  # the file is the checkpoint of that epoch: the same bytes as --save after it, but
  # for the total epochs (offset 140) and the CRC
  ok "$M" train "${common[@]}" --holdout 30 --epochs "$be" --save "$T/ref.ckpt"
  body() { { head -c 140 "$1"; tail -c +145 "$1" | head -c -4; } | od -An -tx1; }
  [ "$(body "$T/best.ckpt")" = "$(body "$T/ref.ckpt")" ] || fail "best.ckpt is not the checkpoint of epoch $be"
  ok "$M" eval --load "$T/best.ckpt"
  grep -q "  epoch $be " "$T/out" || fail "$(cat "$T/out")"
  # without a holdout the test accuracy decides
  ok "$M" train "${common[@]}" --epochs 6 --save-best "$T/tbest.ckpt" --log "$T/t.jsonl"
  tb=$(epochs_of "$T/t.jsonl" | sed 's/.*"epoch":\([0-9]*\),.*"test_correct":\([0-9]*\),.*/\1 \2/' |
    awk 'BEGIN { b = -1 } $2 > b { b = $2; e = $1 } END { print e }')
  ok "$M" eval --load "$T/tbest.ckpt"
  grep -q "  epoch $tb " "$T/out" || fail "test-accuracy best is epoch $tb: $(cat "$T/out")"
  # resuming: the file there is the best so far, re-evaluated, and only beaten by a better epoch
  ok "$M" train "${common[@]}" --holdout 30 --epochs 3 --save "$T/s3.ckpt" --save-best "$T/b2.ckpt"
  cp "$T/b2.ckpt" "$T/b2.orig"
  ok "$M" train --data "$D" --epochs 6 --resume "$T/s3.ckpt" --save-best "$T/b2.ckpt" --log "$T/r.jsonl"
  pct=$(epochs_of "$T/l.jsonl" | sed -n "s/^{\"epoch\":$be,.*\"val_acc\":\\([0-9.]*\\),.*/\\1/p")
  grep -q "^resuming from $T/s3.ckpt: epoch 3 of 6 done, step 105; best so far $T/b2.ckpt (epoch $be, val " "$T/out" ||
    fail "banner: $(cat "$T/out") (val_acc $pct)"
  grep -q "saved_best" "$T/r.jsonl" && fail "a worse epoch replaced the best: $(cat "$T/r.jsonl")"
  cmp -s "$T/b2.ckpt" "$T/b2.orig" || fail "the best checkpoint changed on resume"
  # the straight and the resumed run end with the same best file when the best comes after the resume
  ok "$M" train "${common[@]}" --holdout 30 --epochs 1 --save "$T/s1.ckpt" --save-best "$T/b1.ckpt"
  ok "$M" train --data "$D" --epochs 6 --resume "$T/s1.ckpt" --save-best "$T/b1.ckpt" --quiet
  cmp "$T/b1.ckpt" "$T/best.ckpt" || fail "resumed --save-best differs from the straight run's"
  # control: without a file there, the first resumed epoch becomes the best
  ok "$M" train --data "$D" --epochs 6 --resume "$T/s3.ckpt" --save-best "$T/new.ckpt" --log "$T/n.jsonl" --quiet
  epochs_of "$T/n.jsonl" | head -1 | grep -q '"epoch":4,.*"saved_best":true' || fail "$(cat "$T/n.jsonl")"
  # a file there that is no checkpoint of this model is refused before training
  printf 'junk' >"$T/junk.ckpt"
  expect_error "$T/junk.ckpt: --save-best: the file there is not a checkpoint of this model" \
    "$M" train --data "$D" --epochs 6 --resume "$T/s3.ckpt" --save-best "$T/junk.ckpt"
  expect_error "$T/nodir/b.ckpt: cannot save a checkpoint there: directory $T/nodir does not exist" \
    "$M" train --data "$D" --save-best "$T/nodir/b.ckpt"
  [ ! -s "$T/out" ] || fail "trained before checking --save-best: $(cat "$T/out")"
  ;;
companions)
  mkidx "$D" 300 50
  # training without --save warns that the weights are discarded; --quiet too
  ok "$M" train --data "$D" --epochs 1 --quiet
  [ "$(cat "$T/err")" = "fake_mnist: warning: no --save: the trained weights are discarded when the run ends (give --save CKPT to keep them)" ] ||
    fail "no-save warning: $(cat "$T/err")"
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  [ ! -s "$T/err" ] || fail "warned with --save: $(cat "$T/err")"
  # resuming says from where
  ok "$M" train --data "$D" --epochs 2 --resume "$T/a.ckpt" --save "$T/a.ckpt"
  [ "$(head -1 "$T/out")" = "resuming from $T/a.ckpt: epoch 1 of 2 done, step 10" ] || fail "banner: $(cat "$T/out")"
  grep -q "^epoch 2/2 " "$T/out" || fail "$(cat "$T/out")"
  ok "$M" train --data "$D" --epochs 3 --resume "$T/a.ckpt" --save "$T/a.ckpt" --quiet
  [ ! -s "$T/out" ] || fail "--quiet printed the banner: $(cat "$T/out")"
  # off a terminal: plain progress lines every --progress seconds, none with 0 or --quiet
  mkidx "$T/big" 4000 10
  t0=$(date +%s%N)
  ok "$M" train --data "$T/big" --epochs 1 --batch 1 --progress 0.000001 --save "$T/b.ckpt"
  ms=$((($(date +%s%N) - t0) / 1000000))
  n=$(grep -c '^epoch 1/1  step [0-9]*/4000  [0-9]* samples/s  loss [0-9.]*  ETA [0-9]*:[0-9][0-9]$' "$T/err")
  [ "$n" -ge 2 ] || fail "$n progress lines in $ms ms at --progress 0.000001: $(cat "$T/err")"
  [ "$(grep -vc '^epoch 1/1  step ' "$T/err")" = 0 ] || fail "stderr: $(cat "$T/err")"
  # step numbers increase; the last line comes before the last step
  grep -o 'step [0-9]*' "$T/err" | cut -d' ' -f2 | sort -nc || fail "steps out of order: $(cat "$T/err")"
  grep -q 'step 4000/4000' "$T/err" && fail "a progress line after the last step"
  # the default interval (10 s) prints nothing in a short epoch, nor do 0 and --quiet
  for o in "" "--progress 0" "--quiet --progress 0.000001"; do
    ok "$M" train --data "$T/big" --epochs 1 --batch 1 $o --save "$T/b.ckpt"
    [ ! -s "$T/err" ] || fail "'$o' (${ms} ms): $(cat "$T/err")"
  done
  expect_error "--progress: expected a non-negative decimal like 0.05 (at most 9 decimals), got '-1'" "$M" train --progress -1
  expect_error "--progress: expected seconds from 0 to 86400, got '86401'" "$M" train --progress 86401
  ;;
inspect)
  mkidx "$D" 300 60
  ok "$M" train --data "$D" --epochs 3 --holdout 40 --seed 4 --save "$T/a.ckpt" --quiet
  ok "$M" inspect "$T/a.ckpt"
  cp "$T/out" "$T/insp"
  size=$(stat -c %s "$T/a.ckpt"); abs=$(realpath "$D")
  h=$(od -An -tx8 -j304 -N8 "$T/a.ckpt" | tr -d ' ')
  crc=$(od -An -tx4 -j$((size - 4)) -N4 "$T/a.ckpt" | tr -d ' ')
  lohi=$(od -An -v -td1 -j336 -N7840 "$T/a.ckpt" | tr -s ' ' '\n' | grep -v '^$' | sort -n | sed -n '1p;$p' | paste -sd' ')
  abi=$(od -An -tu4 -j12 -N4 "$T/a.ckpt" | tr -d ' ') # the ABI the checkpoint records
  for want in "checkpoint $T/a.ckpt: format 2 (recipe niti), $size bytes, CRC-32 0x$crc (matches)" \
    "model fake (fingerprint 0x1234567890abcdef, ABI $abi): this executable's model, every field checked" \
    "progress: 3 of 3 epochs completed, global step 27; the next epoch's data order: epoch 4, seed 4" \
    "recipe niti: batch 32, epochs 3, seed 4, limit 0 (all samples)" \
    "rounding act pseudo, err stochastic, grad pseudo; update bits 3, 2 from epoch 2; decay off; holdout 40" \
    "data: $abs" "training set  idx, 300 samples, content 0x$h; 260 used for training, 40 held out" \
    "test set      idx, 60 samples, content 0x" "input 1x28x28 at exponent -7, quantized as 8-bit pixels" \
    "parameters: 7936 bytes in 2 tensors" \
    "size: header 336 + parameters 7936 + column shifts 0 + data directory ${#abs} + CRC 4 = $size bytes"; do
    grep -qF -- "$want" "$T/insp" || fail "inspect lacks '$want': $(cat "$T/insp")"
  done
  grep -Eq "^  0 +f1 +weight +\(10,784\) +7840 +int8 +-7 +${lohi% *}\.\.${lohi#* }$" "$T/insp" || fail "f1 ($lohi): $(cat "$T/insp")"
  # 260 samples at batch 32: 9 steps an epoch, as the file says
  [ "$(od -An -tu8 -j104 -N8 "$T/a.ckpt" | tr -d ' ')" = 27 ] || fail "the step at offset 104 is not 27"
  ok "$M" info --load "$T/a.ckpt"
  cmp -s "$T/out" "$T/insp" || fail "info --load differs from inspect"
  ok "$M" inspect --load "$T/a.ckpt"
  cmp -s "$T/out" "$T/insp" || fail "inspect --load differs"
  # CSV: the recorded per-column shifts
  mkdir -p "$T/csv" && "$BIN/nitrt_mkdata" tabular "$T/csv" 100 20 || fail mkdata
  ok "$BIN/fake_csv" train --data "$T/csv" --epochs 1 --save "$T/c.ckpt" --quiet
  ok "$BIN/fake_csv" inspect "$T/c.ckpt"
  P=$(od -An -tu8 -j248 -N8 "$T/c.ckpt" | tr -d ' ')
  shifts=$(od -An -v -td1 -j$((336 + P)) -N6 "$T/c.ckpt" | tr -s ' ' '\n' | grep -v '^$' | paste -sd, | sed 's/,/, /g')
  grep -qF "quantized as CSV with per-column shifts (x_j = round(v_j 2^-s_j)), 6 columns: $shifts" "$T/out" ||
    fail "shifts $shifts: $(cat "$T/out")"
  # masters: the exponents of each tensor are the ones the log reports after the epoch
  G=$BIN/fake_ghaffari
  ok "$G" train --data "$D" --epochs 2 --batch 16 --save "$T/g.ckpt" --log "$T/g.jsonl" --quiet
  ok "$G" inspect "$T/g.ckpt"
  exps=$(tail -1 "$T/g.jsonl" | sed 's/.*"master_exp":\[\([-0-9,]*\)\].*/\1/')
  got=$(grep -E '^  [0-9]+ +f[12] ' "$T/out" | awk '{ print $7 }' | paste -sd,)
  [ "$got" = "$exps" ] || fail "master exponents $got, the log says $exps: $(cat "$T/out")"
  grep -q "lr 0.1 then 0.01 at 2; warmup steps(5, ratio=0.001); momentum 0.9; weight decay 0.0005" "$T/out" || fail "$(cat "$T/out")"
  grep -q "size: header 568 + tensor records 64 + parameters" "$T/out" || fail "$(cat "$T/out")"
  # another model's checkpoint: shown as recorded, with a warning
  ok "$M" inspect "$T/g.ckpt"
  gabi=$(od -An -tu4 -j12 -N4 "$T/g.ckpt" | tr -d ' ')
  grep -q "warning: $T/g.ckpt: a checkpoint of model fake (fingerprint 0x0000000000006a6a, ABI $gabi), not of this executable's fake" "$T/err" ||
    fail "no warning: $(cat "$T/err")"
  grep -q "^model fake (fingerprint 0x0000000000006a6a, ABI $gabi): another model$" "$T/out" || fail "$(cat "$T/out")"
  grep -Eq "^  1 +gamma +int16 +-?[0-9]+ +-?[0-9]+ +-?[0-9]+  10 ch$" "$T/out" || fail "records: $(cat "$T/out")"
  ok "$G" inspect "$T/a.ckpt"
  grep -q "format 2 keeps no per-tensor records" "$T/out" || fail "$(cat "$T/out")"
  # another model's fields are not trusted: out of range, they are not shown (its own model refuses the file)
  cp "$T/g.ckpt" "$T/g2.ckpt" && "$BIN/nitrt_mkdata" patch "$T/g2.ckpt" 432 4 1000000
  ok "$M" inspect "$T/g2.ckpt"
  grep -q "^        (fields out of their ranges: not shown)$" "$T/out" || fail "$(cat "$T/out")"
  expect_error "$T/g2.ckpt: invalid checkpoint: the decimal places of learning rate 1 is 1000000, expected 0..9" "$G" inspect "$T/g2.ckpt"
  # corrupt files: one line naming the file and the problem, exit 1
  cp "$T/a.ckpt" "$T/b.ckpt"; printf '\x55' | dd of="$T/b.ckpt" bs=1 seek=1000 conv=notrunc status=none
  expect_error "$T/b.ckpt: corrupt checkpoint: checksum mismatch" "$M" inspect "$T/b.ckpt"
  expect_error "$T/b.ckpt: corrupt checkpoint: checksum mismatch" "$G" inspect "$T/b.ckpt"
  head -c 3000 "$T/a.ckpt" >"$T/t.ckpt"
  expect_error "$T/t.ckpt: truncated or corrupt checkpoint: the header says $size bytes, the file has 3000" "$M" inspect "$T/t.ckpt"
  head -c 100 "$T/a.ckpt" >"$T/t2.ckpt"
  expect_error "$T/t2.ckpt: truncated checkpoint: 100 bytes, the header of format 2 alone has 340" "$M" inspect "$T/t2.ckpt"
  expect_error "$D/t10k-labels-idx1-ubyte: not a nitc checkpoint (wrong magic)" "$M" inspect "$D/t10k-labels-idx1-ubyte"
  cp "$T/a.ckpt" "$T/h.ckpt" && "$BIN/nitrt_mkdata" patch "$T/h.ckpt" 228 4 -5
  expect_error "$T/h.ckpt: invalid checkpoint: the holdout is -5, expected 0..2147483647" "$M" inspect "$T/h.ckpt"
  cp "$T/a.ckpt" "$T/v.ckpt" && "$BIN/nitrt_mkdata" patch "$T/v.ckpt" 8 4 9
  expect_error "$T/v.ckpt: checkpoint format version 9; this runtime reads versions 1 to 3" "$M" inspect "$T/v.ckpt"
  cp "$T/g.ckpt" "$T/r.ckpt" && "$BIN/nitrt_mkdata" patch "$T/r.ckpt" 560 4 5000000
  expect_error "$T/r.ckpt: invalid checkpoint: 5000000 tensor records (offset 560) for 2 parameter tensors" "$M" inspect "$T/r.ckpt"
  expect_error "$T/none.ckpt: cannot open" "$M" inspect "$T/none.ckpt"
  expect_error "$T: is a directory, expected a checkpoint" "$M" inspect "$T"
  expect_error "inspect needs a checkpoint: fake_mnist inspect CKPT" "$M" inspect
  expect_error "unexpected argument 'extra'" "$M" inspect "$T/a.ckpt" extra
  # a data directory whose name holds ESC and a C1 CSI: recorded as it is,
  # printed with '?' for them
  e=$'\033[2J\302\233x'; cp -r "$D" "$T/d$e"
  ok "$M" train --data "$T/d$e" --epochs 1 --quiet --save "$T/e.ckpt"
  ok "$M" inspect "$T/e.ckpt"
  grep -qF "data: $(realpath "$T")/d?[2J??x" "$T/out" || fail "inspect's data line: $(grep '^data' "$T/out" | od -c)"
  no_control "$T/out"
  ok "$M" eval --load "$T/e.ckpt"
  ;;
save_every)
  mkidx "$D" 4000 50
  common=(--data "$D" --epochs 3 --batch 4 --seed 6 --quiet)
  ok "$M" train "${common[@]}" --save "$T/s.ckpt" --log "$T/s.jsonl"
  # the checkpoints inside epochs change nothing in what is trained
  t0=$(date +%s%N)
  ok "$M" train "${common[@]}" --save-every 7 --save "$T/e.ckpt"
  full_ms=$((($(date +%s%N) - t0) / 1000000))
  cmp "$T/s.ckpt" "$T/e.ckpt" || fail "--save-every changed the final checkpoint"
  # Ctrl-C at growing moments: --save holds the position inside the epoch, and the
  # resume ends with the bytes and the log numbers of the uninterrupted run. The
  # moments are fractions of how long that run took here (a fixed list missed
  # the epochs on a loaded machine), plus fixed early ones.
  mid=0
  delays="0.01 0.02 0.04"
  for pct in 10 20 30 45 60 75 90; do delays+=" $(awk -v m="$full_ms" -v p="$pct" 'BEGIN { printf "%.3f", m * p / 100000 }')"; done
  for d in $delays; do
    rm -f "$T/m.ckpt" "$T/m.jsonl"
    run timeout --preserve-status -s INT "$d" "$M" train "${common[@]}" --save-every 7 --save "$T/m.ckpt" --log "$T/m.jsonl"
    [ "$rc" = 130 ] && [ -e "$T/m.ckpt" ] || continue # done before the signal, or stopped before the first save
    cp "$T/err" "$T/int.err"
    ok "$M" inspect "$T/m.ckpt"
    if grep -q '^position: inside epoch' "$T/out"; then
      mid=$((mid + 1))
      [ -e "$T/mid.ckpt" ] || cp "$T/m.ckpt" "$T/mid.ckpt" # kept for the refusal tests below
      grep -Eq "interrupted during epoch [0-9]; $T/m.ckpt holds epoch [0-9] up to step [0-9]+ of 1000 \(continue with" "$T/int.err" ||
        fail "message: $(cat "$T/int.err")"
    fi
    ok "$M" train --data "$D" --epochs 3 --resume "$T/m.ckpt" --save "$T/m.ckpt" --log "$T/m.jsonl" --quiet
    cmp "$T/s.ckpt" "$T/m.ckpt" || fail "resumed after Ctrl-C at $d s: the checkpoint differs"
    [ "$(strip "$T/s.jsonl")" = "$(strip "$T/m.jsonl")" ] || fail "resumed after Ctrl-C at $d s: logs differ: $(strip "$T/m.jsonl")"
  done
  [ "$mid" -ge 2 ] || fail "only $mid runs were caught inside an epoch: the test proves little"
  # the banner and the run record say where inside the epoch
  rm -f "$T/m.ckpt"
  run timeout --preserve-status -s INT 0.05 "$M" train "${common[@]}" --save-every 5 --save "$T/m.ckpt"
  if [ "$rc" = 130 ] && "$M" inspect "$T/m.ckpt" 2>/dev/null | grep -q '^position: inside epoch'; then
    p=$(od -An -tu8 -j$(($(stat -c %s "$T/m.ckpt") - 28)) -N8 "$T/m.ckpt" | tr -d ' ')
    ok "$M" train --data "$D" --epochs 3 --resume "$T/m.ckpt" --save "$T/m2.ckpt" --log "$T/b.jsonl"
    grep -Eq "^resuming from $T/m.ckpt: epoch [0-2] of 3 done and $p of 1000 steps of epoch [1-3], step [0-9]+$" "$T/out" ||
      fail "banner: $(head -1 "$T/out")"
    grep -q "\"epoch_steps_done\":$p}" "$T/b.jsonl" || fail "run record: $(head -1 "$T/b.jsonl")"
    cmp "$T/s.ckpt" "$T/m2.ckpt" || fail "resume into another file differs"
  fi
  # kill -9 at random moments: whatever --save holds resumes to the same bytes
  for i in $(seq 1 8); do
    rm -f "$T/k.ckpt"
    "$M" train "${common[@]}" --save-every 3 --save "$T/k.ckpt" &
    pid=$!
    sleep "0.0$((RANDOM % 9 + 1))"
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    [ -e "$T/k.ckpt" ] || continue
    ok "$M" train --data "$D" --epochs 3 --resume "$T/k.ckpt" --save "$T/k2.ckpt" --quiet
    cmp "$T/s.ckpt" "$T/k2.ckpt" || fail "after kill -9 number $i the resume differs"
  done
  # an epoch of one step: an interrupt always lands after the epoch's last step,
  # before its evaluation (the position is the whole epoch)
  one=(--data "$D" --limit 32 --batch 32 --seed 2 --quiet)
  ok "$M" train "${one[@]}" --epochs 200 --save "$T/o.ckpt" --log "$T/o.jsonl"
  run timeout --preserve-status -s INT 0.05 "$M" train "${one[@]}" --epochs 200 --save-every 1 --save "$T/p.ckpt" --log "$T/p.jsonl"
  if [ "$rc" = 130 ] && "$M" inspect "$T/p.ckpt" 2>/dev/null | grep -q '^position: inside epoch [0-9]*, 1 of 1 steps done'; then
    ok "$M" train --data "$D" --epochs 200 --resume "$T/p.ckpt" --save "$T/p.ckpt" --log "$T/p.jsonl" --quiet
    cmp "$T/o.ckpt" "$T/p.ckpt" || fail "resume after an epoch's last step differs"
    [ "$(strip "$T/o.jsonl")" = "$(strip "$T/p.jsonl")" ] || fail "logs differ after an epoch's last step"
  fi
  # refused: without --save; a position resumed at another batch or on other samples
  expect_error "--save-every needs --save CKPT" "$M" train --data "$D" --save-every 5
  expect_error "--save-every: expected an integer from 1 to" "$M" train --save-every 0
  # a checkpoint from inside an epoch, caught above (fixed Ctrl-C moments
  # missed the epochs under ASan on a loaded machine)
  cp "$T/mid.ckpt" "$T/m.ckpt"
  if "$M" inspect "$T/m.ckpt" 2>/dev/null | grep -q '^position: inside epoch'; then
    expect_error "$T/m.ckpt: the checkpoint was taken inside epoch" "$M" train --data "$D" --epochs 3 --resume "$T/m.ckpt" --batch 8
    grep -q "which continues only with its batch 4, holdout 0 and limit 0: resume without changing them" "$T/err" || fail "$(cat "$T/err")"
    # other data with another sample count
    mkidx "$T/d2" 3000 50
    expect_error "which continues only with its batch 4 and its 4000 training samples (now batch 4, 3000 samples)" \
      "$M" train --data "$T/d2" --epochs 3 --resume "$T/m.ckpt"
    expect_error "$T/m.ckpt: the checkpoint was taken inside epoch" "$M" train --data "$D" --epochs 3 --resume "$T/m.ckpt" --holdout 10
    # eval takes it as it is
    ok "$M" eval --load "$T/m.ckpt"
    # the position is checked like every field
    cp "$T/m.ckpt" "$T/f.ckpt" && "$BIN/nitrt_mkdata" patch "$T/f.ckpt" 244 4 2
    expect_error "$T/f.ckpt: invalid checkpoint: the epoch-position flag (offset 244) is 2, expected 0..1" "$M" eval --load "$T/f.ckpt"
    cp "$T/m.ckpt" "$T/f.ckpt" && "$BIN/nitrt_mkdata" patch "$T/f.ckpt" $(($(stat -c %s "$T/m.ckpt") - 28)) 8 1001
    expect_error "$T/f.ckpt: invalid checkpoint: the steps done of the epoch in progress is 1001, expected 1..1000" "$M" train --resume "$T/f.ckpt" --epochs 3
    cp "$T/s.ckpt" "$T/f.ckpt" && "$BIN/nitrt_mkdata" patch "$T/f.ckpt" 244 4 1
    expect_error "$T/f.ckpt: invalid checkpoint:" "$M" inspect "$T/f.ckpt"
  else
    fail "no checkpoint inside an epoch caught for the refusal tests"
  fi
  ;;
max_steps)
  mkidx "$D" 4000 50
  common=(--data "$D" --epochs 3 --batch 4 --seed 6 --quiet)
  ok "$M" train "${common[@]}" --save "$T/s.ckpt" --log "$T/s.jsonl"
  # a run cut into pieces at fixed steps (the first step, inside epochs,
  # just before, at and just after an epoch's end, the last step but one)
  # ends with the bytes and the epoch records of the run in one piece
  resume=()
  for k in 1 999 1000 1001 1500 2999; do
    ok "$M" train "${common[@]}" --max-steps "$k" --save "$T/c.ckpt" --log "$T/c.jsonl" "${resume[@]}"
    resume=(--resume "$T/c.ckpt")
    ok "$M" inspect "$T/c.ckpt"
    grep -q "global step $k;" "$T/out" || fail "--max-steps $k: $(grep '^progress' "$T/out")"
    if [ $((k % 1000)) = 0 ]; then
      ! grep -q '^position' "$T/out" || fail "--max-steps $k: a position at an epoch's end: $(grep '^position' "$T/out")"
    else
      grep -q "^position: inside epoch $((k / 1000 + 1)), $((k % 1000)) of 1000 steps done;" "$T/out" ||
        fail "--max-steps $k: $(grep '^position' "$T/out")"
    fi
  done
  ok "$M" train "${common[@]}" --save "$T/c.ckpt" --log "$T/c.jsonl" --resume "$T/c.ckpt"
  cmp "$T/s.ckpt" "$T/c.ckpt" || fail "the run in pieces ends with another checkpoint"
  [ "$(strip "$T/s.jsonl")" = "$(strip "$T/c.jsonl")" ] || fail "the run in pieces logs other epochs: $(strip "$T/c.jsonl")"
  # what it says, without --quiet: inside an epoch, at an epoch's end, and
  # when the checkpoint is there already
  talk=(--data "$D" --epochs 3 --batch 4 --seed 6)
  ok "$M" train "${talk[@]}" --max-steps 1500 --save "$T/t.ckpt"
  grep -qx "stopped after step 1500 (--max-steps) inside epoch 2; $T/t.ckpt holds epoch 2 up to step 500 of 1000 (continue with --resume $T/t.ckpt)" "$T/out" ||
    fail "message: $(tail -1 "$T/out")"
  ok "$M" train "${talk[@]}" --max-steps 2000 --save "$T/t.ckpt" --resume "$T/t.ckpt"
  grep -qx "stopped after step 2000 (--max-steps) at the end of epoch 2" "$T/out" || fail "message: $(tail -1 "$T/out")"
  ok "$M" train "${talk[@]}" --max-steps 1999 --save "$T/t.ckpt" --resume "$T/t.ckpt"
  grep -qx "$T/t.ckpt: already trained for 2000 steps, --max-steps 1999; nothing to do (raise --max-steps)" "$T/out" ||
    fail "message: $(cat "$T/out")"
  # with saves every 7 steps as well: the same stop, the same file
  ok "$M" train "${common[@]}" --max-steps 1500 --save "$T/p1.ckpt"
  ok "$M" train "${common[@]}" --max-steps 1500 --save-every 7 --save "$T/p2.ckpt"
  cmp "$T/p1.ckpt" "$T/p2.ckpt" || fail "--save-every changed the checkpoint of a --max-steps stop"
  # the epochs still bound the run
  ok "$M" train "${common[@]}" --max-steps 100000 --save "$T/b.ckpt"
  cmp "$T/s.ckpt" "$T/b.ckpt" || fail "--max-steps beyond the last epoch changed the run"
  # without --save the run stops all the same
  ok "$M" train "${talk[@]}" --max-steps 5
  grep -qx "stopped after step 5 (--max-steps) inside epoch 1" "$T/out" || fail "message: $(tail -1 "$T/out")"
  expect_error "--max-steps: expected an integer from 1 to" "$M" train --data "$D" --max-steps 0
  expect_error "--max-steps: expected an integer from 1 to" "$M" train --data "$D" --max-steps -3
  ;;
wide)
  mkidx "$D" 300 40
  W=$BIN/fake_wide
  ok "$W" info
  grep -q "int16 exp -7" "$T/out" || fail "info: $(cat "$T/out")"
  ok "$W" train --data "$D" --epochs 2 --save "$T/s.ckpt"
  ok "$W" train --data "$D" --epochs 1 --save "$T/r.ckpt"
  ok "$W" train --data "$D" --epochs 2 --resume "$T/r.ckpt" --save "$T/r.ckpt"
  cmp "$T/s.ckpt" "$T/r.ckpt" || fail "int16 resume differs"
  ok "$W" eval --data "$D" --load "$T/s.ckpt"
  ;;
determinism)
  mkidx "$D" 200 30
  ok "$M" train --data "$D" --epochs 2 --save "$T/a"
  ok "$M" train --data "$D" --epochs 2 --save "$T/b" --threads 2
  cmp "$T/a" "$T/b" || fail "same run, different bytes (or --threads changed results)"
  ok "$M" train --data "$D" --epochs 2 --save "$T/c" --seed 2
  cmp -s "$T/a" "$T/c" && fail "--seed has no effect"
  ok "$M" train --data "$D" --epochs 2 --save "$T/d" --rounding nearest
  cmp -s "$T/a" "$T/d" && fail "--rounding has no effect"
  ok "$M" train --data "$D" --epochs 2 --save "$T/e" --update-bits 4
  cmp -s "$T/a" "$T/e" && fail "--update-bits has no effect"
  true
  ;;
cross_targets)
  mkidx "$D" 200 30
  ok "$M" train --data "$D" --epochs 2 --save "$T/host.ckpt" --log "$T/host.jsonl"
  ran=0
  for t in aarch64-linux-gnu riscv64-linux-gnu; do
    arch=${t%%-*}
    lib=$RTLIB/libnitrt-$t.a
    command -v "$t-gcc" >/dev/null && command -v "qemu-$arch" >/dev/null && [ -f "$lib" ] || continue
    "$t-gcc" -O2 -std=c11 -I"$NITRT_SRC" "$NITRT_TESTS/fake_model.c" "$lib" -o "$T/fake-$arch" ||
      fail "cannot link the fake model with $lib"
    run "qemu-$arch" -L "/usr/$t" "$T/fake-$arch" train --data "$D" --epochs 2 --save "$T/$arch.ckpt" --log "$T/$arch.jsonl"
    [ "$rc" = 0 ] || fail "$arch run failed: $(cat "$T/err")"
    cmp "$T/host.ckpt" "$T/$arch.ckpt" || fail "$arch checkpoint differs from the host's"
    [ "$(strip "$T/host.jsonl")" = "$(strip "$T/$arch.jsonl")" ] || fail "$arch log differs"
    # and a checkpoint from the other target resumes on the host
    ok "$M" train --data "$D" --epochs 3 --resume "$T/$arch.ckpt" --save "$T/h3.ckpt"
    ran=$((ran + 1))
  done
  [ "$ran" -gt 0 ] || skip "no cross compiler, qemu or cross runtime library"
  ;;
csv_scaling)
  # a table on mixed scales: only the 0.001-scale ratio column carries the
  # label; one exponent for the whole file rounded it to zero (chance)
  mkdir -p "$D" && "$BIN/nitrt_mkdata" tabular "$D" 600 200 || fail mkdata
  ok "$BIN/fake_csv" train --data "$D" --epochs 3 --save "$T/t.ckpt"
  acc=$(sed -n 's/.*test \([0-9]*\)\..*/\1/p' "$T/out" | tail -1)
  [ "$acc" -ge 85 ] || fail "tabular test accuracy $acc% (chance is 50%)"
  grep -qF "$D/train.csv: 3 of 6 features are constant over the 600 training samples after quantization and carry no information: features 4, 5 (all zero), 6 (all zero)" "$T/err" ||
    fail "constant columns not reported: $(cat "$T/err")"
  # eval and predict need neither --data nor the training CSV: the
  # checkpoint records the directory and the per-column shifts
  ok "$BIN/fake_csv" eval --load "$T/t.ckpt"
  e=$(sed -n 's/^test \([0-9.]*\)%.*/\1/p' "$T/out")
  grep -q "(.*/200 correct)" "$T/out" || fail "eval: $(cat "$T/out")"
  mv "$D/train.csv" "$T/train.csv.away"
  ok "$BIN/fake_csv" eval --load "$T/t.ckpt"
  [ "$(sed -n 's/^test \([0-9.]*\)%.*/\1/p' "$T/out")" = "$e" ] || fail "eval without train.csv differs"
  # predict --csv: the test rows with their labels, and without them
  ok "$BIN/fake_csv" predict --load "$T/t.ckpt" --csv "$D/test.csv"
  [ "$(wc -l <"$T/out")" = 200 ] || fail "predict --csv: $(head -3 "$T/out")"
  right=$(paste -d' ' <(sed 's/.*class \([0-9]*\) .*/\1/' "$T/out") <(tail -n +2 "$D/test.csv" | cut -d, -f1) | awk '$1==$2' | wc -l)
  ok "$BIN/fake_csv" eval --load "$T/t.ckpt" --batch 8
  grep -q "($right/200 correct)" "$T/out" || fail "predict --csv has $right/200 right, eval: $(cat "$T/out")"
  tail -n +2 "$D/test.csv" | cut -d, -f2- >"$T/nolabel.csv"
  ok "$BIN/fake_csv" predict --load "$T/t.ckpt" --csv "$T/nolabel.csv" --count 200
  ok "$BIN/fake_csv" predict --load "$T/t.ckpt" --csv "$D/test.csv" --count 200
  cp "$T/out" "$T/with"
  ok "$BIN/fake_csv" predict --load "$T/t.ckpt" --csv "$T/nolabel.csv"
  cmp -s "$T/out" "$T/with" || fail "predict --csv with and without labels differ"
  ;;
eval_data_source)
  # the train block's default data directory (data/fake, relative) holds
  # another data set; eval without --data must use the checkpoint's
  mkidx "$D" 300 60
  mkdir -p "$T/cwd/data/fake" && "$BIN/nitrt_mkdata" idx "$T/cwd/data/fake" 50 40 1 28 28 10
  cd "$T/cwd" || fail cd
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  ok "$M" eval --load "$T/a.ckpt" --data "$D"
  want=$(sed 's/  [0-9]* samples.*//' "$T/out")
  ok "$M" eval --load "$T/a.ckpt"
  [ "$(sed 's/  [0-9]* samples.*//' "$T/out")" = "$want" ] ||
    fail "eval without --data: '$(cat "$T/out")', with the training data: '$want'"
  [ ! -s "$T/err" ] || fail "eval warned: $(cat "$T/err")"
  # another data set given explicitly: evaluated, with a warning
  ok "$M" eval --load "$T/a.ckpt" --data "$T/cwd/data/fake"
  grep -q "(.*/40 correct)" "$T/out" || fail "$(cat "$T/out")"
  grep -qF "$T/cwd/data/fake: this test set (idx, 40 samples, content 0x" "$T/err" ||
    fail "no warning for another test set: $(cat "$T/err")"
  grep -qF "is not the one $T/a.ckpt recorded (idx, 60 samples, content 0x" "$T/err" || fail "$(cat "$T/err")"
  # the recorded directory is gone: refuse, never guess
  mv "$D" "$T/moved"
  expect_error "$T/a.ckpt: the checkpoint's data directory $D is gone: give --data DIR" "$M" eval --load "$T/a.ckpt"
  # resuming continues on the recorded data, and says so when it differs
  mv "$T/moved" "$D"
  ok "$M" train --resume "$T/a.ckpt" --epochs 2 --save "$T/b.ckpt"
  [ ! -s "$T/err" ] || fail "resume on the same data warned: $(cat "$T/err")"
  ok "$M" train --resume "$T/a.ckpt" --data "$T/cwd/data/fake" --epochs 2 --save "$T/c.ckpt"
  grep -qF "warning: $T/a.ckpt: the checkpoint was trained on another data set (idx, 300 samples" "$T/err" ||
    fail "no warning for resuming on another data set: $(cat "$T/err")"
  ;;
quant_mismatch)
  # a model trained on per-column scaled CSV is not fed 8-bit pixels
  mkdir -p "$D" && "$BIN/nitrt_mkdata" csv "$D" 100 30 6 3 dec || fail mkdata
  ok "$BIN/fake_csv" train --data "$D" --epochs 1 --save "$T/c.ckpt"
  mkdir -p "$T/px" && "$BIN/nitrt_mkdata" idx "$T/px" 100 30 1 1 6 3
  expect_error "$T/px/t10k-images-idx3-ubyte: holds 8-bit idx pixels, but the model was trained on CSV features scaled per column" \
    "$BIN/fake_csv" eval --load "$T/c.ckpt" --data "$T/px"
  expect_error "holds 8-bit idx pixels, but the model was trained on CSV features" \
    "$BIN/fake_csv" train --resume "$T/c.ckpt" --data "$T/px" --epochs 2
  expect_error "$T/px/t10k-images-idx3-ubyte: holds 8-bit idx pixels" \
    "$BIN/fake_csv" predict --load "$T/c.ckpt" --idx "$T/px/t10k-images-idx3-ubyte"
  # and the other way round the pixel rule applies to CSV input
  ok "$BIN/fake_csv" train --data "$T/px" --epochs 1 --save "$T/p.ckpt"
  printf '255,254,3,2,0,100\n' >"$T/one.csv"
  ok "$BIN/fake_csv" predict --load "$T/p.ckpt" --csv "$T/one.csv"
  printf '\x08\x00\x00\x00\x00\x00\x00\x00' >/dev/null
  printf '\377\376\003\002\000\144' >"$T/one.raw"
  p1=$(cat "$T/out")
  ok "$BIN/fake_csv" predict --load "$T/p.ckpt" --raw "$T/one.raw"
  [ "$(cat "$T/out")" = "$p1" ] || fail "CSV pixels '$p1' vs raw '$(cat "$T/out")'"
  ;;
per_sample)
  mkidx "$D" 300 60
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  I=$D/t10k-images-idx3-ubyte
  # batch mode: a sample's line depends on its neighbours (documented)
  ok "$M" predict --load "$T/a.ckpt" --idx "$I" --count 60
  cp "$T/out" "$T/batch"
  # per-sample mode: the same line alone, in any batch, at any --batch
  ok "$M" predict --load "$T/a.ckpt" --idx "$I" --count 60 --per-sample
  cp "$T/out" "$T/ps"
  diffs=$(diff "$T/batch" "$T/ps" | grep -c '^<')
  [ "$diffs" -gt 0 ] || fail "the fake model's logits do not depend on the batch: the test below proves nothing"
  ok "$M" predict --load "$T/a.ckpt" --idx "$I" --count 60 --per-sample --batch 7
  cmp -s "$T/out" "$T/ps" || fail "--per-sample depends on --batch"
  for i in 0 1 7 13 31 59; do
    ok "$M" predict --load "$T/a.ckpt" --idx "$I" --index $i --per-sample
    [ "$(cat "$T/out")" = "$(grep "^sample $i " "$T/ps")" ] || fail "sample $i alone: $(cat "$T/out"), in 60: $(grep "^sample $i " "$T/ps")"
    ok "$M" predict --load "$T/a.ckpt" --idx "$I" --index $((i > 2 ? i - 3 : 0)) --count 4 --per-sample
    grep -qxF "$(grep "^sample $((i > 2 ? i - 3 : 0)) " "$T/ps")" "$T/out" || fail "sample $i among 4 differs"
  done
  # eval --per-sample: independent of --batch, and agrees with predict --per-sample
  ok "$M" eval --load "$T/a.ckpt" --per-sample
  e1=$(sed 's/  [0-9]* samples.*//' "$T/out")
  ok "$M" eval --load "$T/a.ckpt" --per-sample --batch 9 --test-limit 60
  [ "$(sed 's/  [0-9]* samples.*//' "$T/out")" = "$e1" ] || fail "eval --per-sample depends on --batch"
  labels=$(od -An -v -tu1 -j8 -N60 "$D/t10k-labels-idx1-ubyte" | tr -s ' ' '\n' | grep -v '^$')
  right=$(paste <(sed 's/.*class \([0-9]*\) .*/\1/' "$T/ps") <(echo "$labels") | awk '$1==$2' | wc -l)
  grep -q "($right/60 correct)" <<<"$e1" || fail "predict --per-sample: $right/60 right; eval --per-sample: $e1"
  ;;
files_special)
  mkidx "$D" 100 20
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  mkfifo "$T/fifo"
  # every case must fail at once, never wait for a writer: timeout 20 s
  w() { local pat=$1; shift; expect_error "$pat" timeout 20 "$@"; }
  w "$T/fifo: is a FIFO, expected a checkpoint (a regular file)" "$M" eval --load "$T/fifo" --data "$D"
  w "$T/fifo: is a FIFO, expected a checkpoint" "$M" train --resume "$T/fifo" --data "$D"
  w "$T/fifo: is a FIFO, expected a data file" "$M" predict --load "$T/a.ckpt" --idx "$T/fifo"
  w "$T/fifo: is a FIFO, expected an input file" "$M" predict --load "$T/a.ckpt" --raw "$T/fifo"
  w "$T/fifo: is a FIFO, expected an input file" "$M" predict --load "$T/a.ckpt" --csv "$T/fifo"
  w "/dev/zero: is a character device, expected an input file" "$M" predict --load "$T/a.ckpt" --raw /dev/zero
  w "$T: is a directory, expected a checkpoint" "$M" eval --load "$T" --data "$D"
  w "$T/fifo: not a directory" "$M" train --data "$T/fifo"
  w "$T/fifo: cannot save a checkpoint there: it is a FIFO" "$M" train --data "$D" --save "$T/fifo"
  w "$T/fifo: cannot open log file for writing: a FIFO that no process reads" "$M" train --data "$D" --log "$T/fifo"
  for f in train-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    cp -r "$D" "$T/d_$f"; rm "$T/d_$f/$f"; mkfifo "$T/d_$f/$f"
    w "$T/d_$f/$f: is a FIFO, expected a data file" "$M" train --data "$T/d_$f"
  done
  mkdir -p "$T/c" && "$BIN/nitrt_mkdata" csv "$T/c" 30 10 6 3 && rm "$T/c/test.csv" && mkfifo "$T/c/test.csv"
  w "$T/c/test.csv: is a FIFO, expected a data file" "$BIN/fake_csv" train --data "$T/c"
  mkdir -p "$T/cf" && "$BIN/nitrt_mkdata" cifar "$T/cf" 2 2 && rm "$T/cf/data_batch_3.bin" && mkfifo "$T/cf/data_batch_3.bin"
  w "$T/cf/data_batch_3.bin: is a FIFO, expected a data file" "$BIN/fake_cifar" train --data "$T/cf"
  # a FIFO with a reader is a fine log. The reader counts once cat is inside
  # its open, which a loaded host can delay past the writer's: until then the
  # run is refused as above, so it is retried (for up to 10 s) while that is
  # the refusal. cat never outlives the case: blocked in its open, it would
  # hold ctest's pipe open and the test would hang.
  cat "$T/fifo" >"$T/fifo.out" &
  reader=$!
  for _ in $(seq 100); do
    run timeout 20 "$M" train --data "$D" --epochs 1 --log "$T/fifo"
    [ "$rc" != 0 ] && grep -q "a FIFO that no process reads" "$T/err" || break
    sleep 0.1
  done
  [ "$rc" = 0 ] || { kill "$reader" 2>/dev/null; fail "log through a FIFO exited $rc: $(cat "$T/err")"; }
  wait "$reader"
  grep -q '"epoch":1' "$T/fifo.out" || fail "log through a FIFO: $(cat "$T/fifo.out")"
  ;;
csv_hostile)
  mkdir -p "$D" && "$BIN/nitrt_mkdata" csv "$D" 60 20 6 3 dec || fail mkdata
  cp -r "$D" "$T/nul"; printf '1,0.5,0.5,\0000.5,0.5,0.5\n' >>"$T/nul/train.csv"
  expect_error "$T/nul/train.csv:62: NUL byte at offset" "$BIN/fake_csv" train --data "$T/nul"
  # a quoted field's control bytes (ESC, a C1 CSI) reach the terminal as '?'
  cp -r "$D" "$T/esc"; printf '\033[31m\302\2330,0.5,0.5,0.5,0.5,0.5,0.5\n' >>"$T/esc/train.csv"
  expect_error "$T/esc/train.csv:62:1: expected a number, got '?[31m??0,0.5," "$BIN/fake_csv" train --data "$T/esc"
  no_control "$T/err"
  cp -r "$D" "$T/huge"; printf '1,9e12,-9000000000000,0.5,0.5,0.5,1e-30\n' >>"$T/huge/train.csv"
  ok timeout 20 "$BIN/fake_csv" train --data "$T/huge" --epochs 1
  cp -r "$D" "$T/huge2"; printf '1,9e13,0.5,0.5,0.5,0.5,0.5\n' >>"$T/huge2/train.csv"
  expect_error "$T/huge2/train.csv:62:3: feature 1: expected a decimal number of magnitude at most 9e12" timeout 20 "$BIN/fake_csv" train --data "$T/huge2"
  # 60 million blank lines: memory follows the 80 real rows, not the lines
  cp -r "$D" "$T/blank"
  head -c 60000000 /dev/zero | tr '\0' '\n' >>"$T/blank/train.csv"
  echo '2,1,2,3,4,5,6' >>"$T/blank/train.csv"
  if nm "$BIN/fake_csv" 2>/dev/null | grep -q __asan_init; then
    ok "$BIN/fake_csv" train --data "$T/blank" --epochs 1 --log "$T/l"
  else
    # 60M rows of 6 int64 features would be 2.9 GB; the file itself is 60 MB
    ok bash -c "ulimit -v 600000 && exec \"\$0\" \"\$@\"" "$BIN/fake_csv" train --data "$T/blank" --epochs 1 --log "$T/l"
  fi
  grep -q '"train_samples":61,' "$T/l" || fail "$(cat "$T/l")"
  ;;
ckpt_fields)
  # valid CRC, out-of-range fields: refused by name, never trusted
  mkidx "$D" 100 20
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  cp "$T/a.ckpt" "$T/h.ckpt" && "$BIN/nitrt_mkdata" patch "$T/h.ckpt" 228 4 -5
  expect_error "$T/h.ckpt: invalid checkpoint: the holdout is -5, expected 0..2147483647" "$M" train --resume "$T/h.ckpt" --epochs 2
  cp "$T/a.ckpt" "$T/u.ckpt" && "$BIN/nitrt_mkdata" patch "$T/u.ckpt" 160 4 99
  expect_error "$T/u.ckpt: invalid checkpoint: update bits of schedule entry 1 is 99, expected 1..8" "$M" eval --load "$T/u.ckpt"
  cp "$T/a.ckpt" "$T/r.ckpt" && "$BIN/nitrt_mkdata" patch "$T/r.ckpt" 144 4 3
  expect_error "$T/r.ckpt: invalid checkpoint: the activation rounding mode is 3, expected 0..2" "$M" predict --load "$T/r.ckpt" --idx "$D/t10k-images-idx3-ubyte"
  cp "$T/a.ckpt" "$T/s.ckpt" && "$BIN/nitrt_mkdata" patch "$T/s.ckpt" 156 4 100
  expect_error "$T/s.ckpt: invalid checkpoint: the number of update-bit schedule entries is 100, expected 1..8" "$M" train --resume "$T/s.ckpt" --epochs 3
  cp "$T/a.ckpt" "$T/w.ckpt" && "$BIN/nitrt_mkdata" patch "$T/w.ckpt" 400 1 128
  expect_error "$T/w.ckpt: invalid checkpoint: weight 64 of tensor f1 is -128, expected -127..127" "$M" eval --load "$T/w.ckpt"
  # the control: a patch to a legal value is accepted
  cp "$T/a.ckpt" "$T/ok.ckpt" && "$BIN/nitrt_mkdata" patch "$T/ok.ckpt" 144 4 2
  ok "$M" train --resume "$T/ok.ckpt" --epochs 2
  ;;
batch_mismatch)
  # the same model compiled for batch 64 wrote the checkpoint at batch 64
  mkidx "$D" 200 20
  ok "$BIN/fake_mnist64" train --data "$D" --epochs 1 --batch 64 --save "$T/a.ckpt"
  expect_error "$T/a.ckpt: the checkpoint was made at batch 64, but this executable was compiled for batch <= 32: give --batch 32 or less, or recompile with nitc --batch 64" \
    "$M" eval --load "$T/a.ckpt"
  expect_error "$T/a.ckpt: the checkpoint was made at batch 64, but this executable was compiled for batch <= 32" \
    "$M" train --resume "$T/a.ckpt" --epochs 2
  expect_error "$T/a.ckpt: the checkpoint was made at batch 64" "$M" predict --load "$T/a.ckpt" --idx "$D/t10k-images-idx3-ubyte"
  ok "$M" eval --load "$T/a.ckpt" --batch 32
  ok "$M" predict --load "$T/a.ckpt" --idx "$D/t10k-images-idx3-ubyte" --per-sample
  ;;
stale_tmp)
  mkidx "$D" 200 20
  ok "$M" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  # what a save killed with SIGKILL leaves: an unlocked temp file
  head -c 3000 "$T/a.ckpt" >"$T/a.ckpt.tmpK1lled"
  # a live writer's temp file (held under flock) must stay
  command -v flock >/dev/null || skip "no flock(1)"
  exec 9>"$T/a.ckpt.tmpLiveW1"
  flock 9 || fail "flock"
  ok "$M" train --data "$D" --epochs 2 --resume "$T/a.ckpt" --save "$T/a.ckpt"
  [ ! -e "$T/a.ckpt.tmpK1lled" ] || fail "the dead writer's temp file is still there"
  [ -e "$T/a.ckpt.tmpLiveW1" ] || fail "a live writer's temp file was removed"
  exec 9>&-
  # kill -9 at random moments of runs that save after every epoch: the
  # checkpoint always loads, and the next save leaves no temp file
  for i in $(seq 1 25); do
    "$M" train --data "$D" --epochs 1000000 --batch 1 --save "$T/k.ckpt" --quiet &
    pid=$!
    sleep "0.$((RANDOM % 40 + 5))"
    kill -9 "$pid"; wait "$pid" 2>/dev/null
    if [ -e "$T/k.ckpt" ]; then
      run "$M" eval --load "$T/k.ckpt" --test-limit 5
      [ "$rc" = 0 ] || fail "after kill -9 number $i the checkpoint does not load: $(cat "$T/err")"
    fi
  done
  ok "$M" train --data "$D" --epochs 1 --save "$T/k.ckpt"
  left=$(ls "$T" | grep -c '\.tmp')
  [ "$left" = 1 ] || fail "temp files left after a clean save: $(ls "$T" | grep '\.tmp')"   # the live writer's
  ;;
ghaffari_flags)
  G=$BIN/fake_ghaffari
  ok "$G" info
  grep -q "recipe ghaffari: masters int16, rounding view stochastic, update stochastic; loss table softmax" "$T/out" \
    || fail "info lacks the recipe: $(cat "$T/out")"
  grep -q "lr 0.1 then 0.01 at 2; warmup steps(5, ratio=0.001); momentum 0.9; weight decay 0.0005" "$T/out" \
    || fail "info lacks the schedule: $(cat "$T/out")"
  expect_error "--lr: only recipes with masters have one; this model uses recipe niti" "$M" train --lr 0.1
  expect_error "--momentum: only recipes with masters" "$M" train --momentum 0.9
  expect_error "--decay: expected on or off" "$M" train --decay 0.1
  expect_error "--decay: expected a non-negative decimal" "$G" train --decay on
  expect_error "--lr: expected a learning rate from 0 to 1000, got '1000.5'" "$G" train --lr 1000.5
  expect_error "--lr: expected a non-negative decimal" "$G" train --lr 1e-3
  expect_error "--momentum: expected a momentum from 0 to 1, got '1.5'" "$G" train --momentum 1.5
  expect_error "--lr: expected a non-negative decimal like 0.05 (at most 9 decimals)" "$G" train --lr 0.0000000001
  mkidx "$D" 200 30
  ok "$G" train --data "$D" --epochs 2 --batch 16 --log "$T/all.jsonl" --quiet
  epochs_of "$T/all.jsonl" >"$T/g.jsonl"
  [ "$(wc -l <"$T/g.jsonl")" = 2 ] || fail "log lines: $(cat "$T/g.jsonl")"
  grep -q '"update_bits"' "$T/g.jsonl" && fail "update bits logged under ghaffari: $(head -1 "$T/g.jsonl")"
  # epoch 1 starts in the warmup (0.1 * 0.001), epoch 2 at 0.01
  head -1 "$T/g.jsonl" | grep -q '"lr":"0.000100000016","lr_m":1759218892,"lr_e":-44,"master_exp":\[-15,-14\]' \
    || fail "epoch 1 log: $(head -1 "$T/g.jsonl")"
  tail -1 "$T/g.jsonl" | grep -q '"lr":"0.010000000002","lr_m":1374389535,"lr_e":-37' || fail "epoch 2 log: $(tail -1 "$T/g.jsonl")"
  ok "$G" train --data "$D" --epochs 1 --batch 16 --lr 0.05 --momentum 0 --decay 0 --log "$T/h.jsonl" --quiet
  grep -q '"lr":"0.049999999988"' "$T/h.jsonl" || fail "--lr: $(cat "$T/h.jsonl")"
  true
  ;;
ghaffari_resume)
  G=$BIN/fake_ghaffari
  mkidx "$D" 300 40
  common=(--data "$D" --holdout 20 --batch 16 --seed 5)
  ok "$G" train "${common[@]}" --epochs 3 --save "$T/straight.ckpt" --log "$T/s.jsonl"
  ok "$G" train "${common[@]}" --epochs 1 --save "$T/r1.ckpt" --log "$T/r.jsonl"
  ok "$G" train --data "$D" --epochs 3 --resume "$T/r1.ckpt" --save "$T/r3.ckpt" --log "$T/r.jsonl"
  cmp "$T/straight.ckpt" "$T/r3.ckpt" || fail "resumed checkpoint differs from the straight run"
  [ "$(strip_total "$T/s.jsonl")" = "$(strip_total "$T/r.jsonl")" ] || fail "logs differ"
  [ "$(od -An -tu1 -j8 -N1 "$T/r1.ckpt" | tr -d ' ')" = 3 ] || fail "not format 3"
  # the optimizer's settings cannot change on resume
  expect_error "r1.ckpt: the checkpoint was trained with other settings: the momentum (--momentum) differs" \
    "$G" train --data "$D" --epochs 3 --resume "$T/r1.ckpt" --momentum 0.5
  expect_error "the learning-rate schedule (--lr) differs" "$G" train --data "$D" --epochs 3 --resume "$T/r1.ckpt" --lr 0.1
  # a niti model refuses the checkpoint, and the other way round
  expect_error "checkpoint format version 3 is for recipes with masters; model fake uses recipe niti" \
    "$M" eval --load "$T/r1.ckpt" --data "$D"
  ok "$M" train --data "$D" --epochs 1 --save "$T/n.ckpt" --quiet
  expect_error "checkpoint format version 2 is for recipe niti; model fake uses recipe ghaffari (format 3)" \
    "$G" eval --load "$T/n.ckpt" --data "$D"
  ok "$G" eval --load "$T/r3.ckpt" --data "$D"
  true
  ;;
many_classes)
  # 400,000 classes (beyond the compiler's 8191) under a 256 KiB stack: the
  # runtime keeps nothing per class on the stack
  mkdir -p "$D" && "$BIN/nitrt_mkdata" csv "$D" 16 4 2 400000 || fail mkdata
  ok bash -c "ulimit -s 256 && exec \"\$0\" \"\$@\"" "$BIN/fake_classes" train --data "$D" --epochs 1 --save "$T/a.ckpt"
  ok bash -c "ulimit -s 256 && exec \"\$0\" \"\$@\"" "$BIN/fake_classes" eval --load "$T/a.ckpt"
  ok bash -c "ulimit -s 256 && exec \"\$0\" \"\$@\"" "$BIN/fake_classes" predict --load "$T/a.ckpt" --csv "$D/test.csv" --count 3
  [ "$(wc -l <"$T/out")" = 3 ] || fail "$(cat "$T/out")"
  ;;
no_float_insns)
  lib=$RTLIB/libnitrt-x86_64-linux-gnu.a
  [ -f "$lib" ] || fail "$lib missing"
  x86='(add|sub|mul|div|sqrt|min|max)(ss|sd|ps|pd)|cvt[a-z0-9]*(ss|sd|ps|pd)|u?comis[sd]|\bf(ld|st|stp|add|mul|div|sub)[lsp]?\b'
  objdump -d "$lib" | awk '{ $1=""; print }' | grep -Eiw "$x86" >"$T/hits"
  [ ! -s "$T/hits" ] || fail "floating-point instructions in $lib: $(head -5 "$T/hits")"
  if [ -f "$RTLIB/libnitrt-aarch64-linux-gnu.a" ] && command -v aarch64-linux-gnu-objdump >/dev/null; then
    aarch64-linux-gnu-objdump -d "$RTLIB/libnitrt-aarch64-linux-gnu.a" |
      grep -Ew 'f(add|sub|mul|div|sqrt|madd|msub|cvtzs|cvtzu|cmp)|[su]cvtf' >"$T/hits"
    [ ! -s "$T/hits" ] || fail "floating-point instructions in the aarch64 runtime: $(head -5 "$T/hits")"
  fi
  if [ -f "$RTLIB/libnitrt-riscv64-linux-gnu.a" ] && command -v riscv64-linux-gnu-objdump >/dev/null; then
    riscv64-linux-gnu-objdump -d "$RTLIB/libnitrt-riscv64-linux-gnu.a" |
      grep -E '\sf(add|sub|mul|div|sqrt|cvt|madd|msub|eq|lt|le)\.[sd]' >"$T/hits"
    [ ! -s "$T/hits" ] || fail "floating-point instructions in the riscv64 runtime: $(head -5 "$T/hits")"
  fi
  ;;
interrupt)
  mkidx "$D" 3000 10
  run timeout --preserve-status -s INT 1.5 "$M" train --data "$D" --epochs 1000000 --save "$T/a.ckpt"
  [ "$rc" = 130 ] || fail "interrupted run exited $rc: $(cat "$T/err")"
  grep -Eq "interrupted during epoch [0-9]+; $T/a.ckpt holds epoch [0-9]+ \\(continue with --resume" "$T/err" ||
    fail "message: $(cat "$T/err")"
  held=$(sed -n 's/.* holds epoch \([0-9]*\) .*/\1/p' "$T/err")
  [ "$(ls "$T" | grep -c tmp)" = 0 ] || fail "temp files left: $(ls "$T")"
  ok "$M" eval --data "$D" --load "$T/a.ckpt"
  grep -q "  epoch $held " "$T/out" || fail "checkpoint is not at epoch $held: $(cat "$T/out")"
  ;;
mnist_real)
  R=${DATA_ROOT:-}/mnist
  [ -f "$R/train-images-idx3-ubyte" ] || skip "no real MNIST in $R (run scripts/fetch-data)"
  ok "$M" train --data "$R" --epochs 1 --limit 3000 --test-limit 1000 --log "$T/l"
  grep -q '"test_samples":1000' "$T/l" || fail "$(cat "$T/l")"
  acc=$(sed -n 's/.*test \([0-9]*\)\..*/\1/p' "$T/out")
  [ "$acc" -ge 50 ] || fail "the fake linear model reaches only $acc% on real MNIST"
  ;;
*)
  fail "unknown case"
  ;;
esac
exit 0
