#!/bin/sh
# The nitc command line: help, version, bad options, overrides.
# usage: check_cli.sh NITC EXAMPLES_DIR
nitc=$1
ex=$2
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
# expect STATUS PATTERN-ON-STDOUT PATTERN-ON-STDERR -- ARGS...
expect() {
  want=$1 out_pat=$2 err_pat=$3
  shift 4
  "$nitc" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL nitc $*: exit $rc, expected $want"; cat "$tmp/err"; fail=1; return
  fi
  if [ -n "$out_pat" ] && ! grep -q -e "$out_pat" "$tmp/out"; then
    echo "FAIL nitc $*: stdout lacks '$out_pat'"; cat "$tmp/out"; fail=1
  fi
  if [ -n "$err_pat" ] && ! grep -q -e "$err_pat" "$tmp/err"; then
    echo "FAIL nitc $*: stderr lacks '$err_pat'"; cat "$tmp/err"; fail=1
  fi
}
expect 0 '^usage: nitc FILE.nit' '' -- --help
expect 0 '^nitc 0\.1\.0 (LLVM 19)$' '' -- --version
expect 1 '' "^nitc: error: unknown option '--frobnicate'" -- --frobnicate "$ex/mlp.nit"
expect 1 '' '^nitc: error: no input file' --
expect 1 '' "^nitc: error: more than one input file" -- "$ex/mlp.nit" "$ex/lenet5.nit"
expect 1 '' "^nitc: error: cannot read '$tmp/nope.nit'" -- --check "$tmp/nope.nit"
expect 1 '' "is a directory" -- --check "$tmp"
expect 1 '' "^nitc: error: --batch must be an integer in 1..65536 (got '0')" -- --check --batch 0 "$ex/mlp.nit"
expect 1 '' "^nitc: error: --batch must be an integer in 1..65536 (got '65537')" -- --check --batch=65537 "$ex/mlp.nit"
expect 1 '' "^nitc: error: --weight-bits must be an integer in 8..16 (got '7')" -- --check --weight-bits 7 "$ex/mlp.nit"
expect 1 '' "^nitc: error: --jobs must be an integer in 1..16 (got '0')" -- --jobs 0 "$ex/mlp.nit"
expect 1 '' "^nitc: error: --jobs must be an integer in 1..16 (got '17')" -- --jobs=17 "$ex/mlp.nit"
expect 1 '' "^nitc: error: unknown --emit kind 'pdf'" -- --emit pdf "$ex/mlp.nit"
# --time-report: the table on stderr, after the output it times
expect 0 '' '^  optimizer  ' -- --time-report --emit llvm -o "$tmp/t.ll" "$ex/mlp.nit"
expect 0 '' '^  total  ' -- --time-report --check "$ex/mlp.nit"
expect 0 '' '^  unit 1: optimizer [0-9.]*, code generator [0-9.]*' -- --time-report --jobs 2 -o "$tmp/t" "$ex/mlp.nit"
for phase in 'front end: read, parse, check' 'plan and LLVM IR' 'optimizer, whole-module part' \
  'code generation units' 'link'; do
  grep -q "^  $phase  *[0-9]*\.[0-9][0-9][0-9]  *[0-9]*\.[0-9][0-9][0-9]$" "$tmp/err" ||
    { echo "FAIL nitc --time-report: no row '$phase'"; cat "$tmp/err"; fail=1; }
done
[ -x "$tmp/t" ] || { echo "FAIL nitc --time-report -o: no executable"; fail=1; }
expect 1 '' "^nitc: error: option '--target' needs a value" -- "$ex/mlp.nit" --target
expect 0 '' '' -- --check -O3 --target x86_64-linux-gnu --cpu generic --features +sse2 "$ex/lenet5.nit"
# --check prints nothing at all on success
"$nitc" --check "$ex/lenet5.nit" >"$tmp/out" 2>&1
[ -s "$tmp/out" ] && { echo "FAIL --check printed output"; fail=1; }
# shapes: LeNet-5 totals and the recipe
expect 0 '^parameters: 61470 in 5 tensors (int8 weights)$' '' -- --emit shapes "$ex/lenet5.nit"
expect 0 '^memory: params 61632 bytes, work [0-9]* bytes at batch 64$' '' -- --emit shapes "$ex/lenet5.nit"
expect 0 'update bits(3) then 2 at 5 then 1 at 8, weights int8' '' -- --emit shapes "$ex/lenet5.nit"
# the work slab's parts. LeNet-5's activations at batch 64: 64 x (c1 4704 +
# maxpool1 1176 + c2 1600 + maxpool2 400 + f1 120 + f2 84 + f3 10) = 518016
# bytes (the relus folded, flatten an alias), of which only the logits
# (64 x 10) are read by no backward step. Its errors are below 1 MiB, so
# they share no bytes unless told to; told to, some lie over the dead
# activations. Its activations are below 8 MiB, so its pools keep no
# taps and every activation lies in the run.
expect 0 '^        work: activations 518016 bytes (640 of them read by no backward step, 0 max pools. taps) and 0 that live in the forward pass alone, over later buffers; errors [0-9]* of their own and 0 over dead activations, scratch' '' -- \
  --emit shapes "$ex/lenet5.nit"
# vgg_small at batch 256: its three pools keep their taps (plan.c,
# plan_taps), so the relu outputs before them (c2 65536, c4 32768 and c5
# 16384 bytes a sample) live in the forward pass alone: 256 x 114688 =
# 29360128 bytes apart. The run: 256 x (c1 65536 + maxpool1 2 x 16384 + c3
# 32768 + maxpool2 2 x 8192 + maxpool3 2 x 4096 + dropout1 4096 + fc 10) =
# 40897024 bytes, of which the taps are 256 x 28672 = 7340032 and the
# logits 2560.
expect 0 '^        work: activations 40897024 bytes (2560 of them read by no backward step, 7340032 max pools. taps) and 29360128 that live in the forward pass alone, over later buffers; errors' '' -- \
  --emit shapes --batch 256 "$ex/vgg_small.nit"
env NITC_POOL_TAPS=0 "$nitc" --emit shapes --batch 256 "$ex/vgg_small.nit" | grep -q '^        work: activations 62917120 bytes (2560 of them read by no backward step, 0 max pools. taps) and 0 that' ||
  { echo "FAIL vgg_small's activations are not all in the run with NITC_POOL_TAPS=0"; fail=1; }
expect 0 'errors [0-9]* of their own and [1-9][0-9]* over dead activations' '' -- --emit shapes "$ex/resnet_bn.nit"
env NITC_ERR_REUSE=1 "$nitc" --emit shapes "$ex/lenet5.nit" | grep -q 'errors [0-9]* of their own and [1-9][0-9]* over dead activations' ||
  { echo "FAIL lenet5's errors lie over no dead activation with NITC_ERR_REUSE=1"; fail=1; }
# the convs that round ahead: those with 8 MiB of accumulators over the batch
expect 0 '^        rounding ahead: c1 (forward), c2 (forward, input error), c3 (forward, input error), c4 (forward, input error), c5 (forward, input error)$' '' -- \
  --emit shapes --batch 256 "$ex/vgg_small.nit"
"$nitc" --emit shapes "$ex/lenet5.nit" | grep -q 'rounding ahead' && { echo "FAIL lenet5 rounds ahead"; fail=1; }
# -o is honoured by --emit shapes: the table goes to the file, nothing to stdout
expect 0 '' '' -- --emit shapes -o "$tmp/shapes.txt" "$ex/lenet5.nit"
[ -s "$tmp/out" ] && { echo "FAIL --emit shapes -o printed on stdout"; fail=1; }
grep -q '^parameters: 61470 in 5 tensors (int8 weights)$' "$tmp/shapes.txt" ||
  { echo "FAIL --emit shapes -o: the file lacks the table"; fail=1; }
# an output that cannot be written is named as given, in every mode (the
# executable's temporary object is not mentioned)
for k in exe obj asm llvm shapes; do
  expect 1 '' "^nitc: error: cannot write '$tmp/missing/x': No such file or directory$" -- \
    "$ex/mlp.nit" --emit "$k" -O0 -o "$tmp/missing/x"
  expect 1 '' "^nitc: error: cannot write '$tmp': Is a directory$" -- "$ex/mlp.nit" --emit "$k" -O0 -o "$tmp"
done
ls "$tmp" | grep -q 'nitc-' && { echo "FAIL a temporary object was left"; fail=1; }
# nitc plot is listed in the help (tests/cli/plot.sh tests the command)
expect 0 '^       nitc plot LOG.jsonl' '' -- --help
# overrides: c1 sums batch*28*28 terms for its weight gradient; int32 holds
# 133144 terms, so batch 169 (132496 terms) fits and batch 170 (133280) not.
expect 0 '^  1  c1 .* i32/i32/i32$' '' -- --emit shapes --batch 169 "$ex/lenet5.nit"
expect 0 '^  1  c1 .* i32/i32/i64$' '' -- --emit shapes --batch 170 "$ex/lenet5.nit"
expect 0 'memory: params .* at batch 170$' '' -- --emit shapes --batch 170 "$ex/lenet5.nit"
# wide weights take two bytes each: 150, 2400, 48000, 10080, 840 elements
# -> 320 + 4800 + 96000 + 20160 + 1728 bytes after 64-byte alignment
expect 0 '^memory: params 123008 bytes, ' '' -- --emit shapes --weight-bits 12 "$ex/lenet5.nit"
# recipes: --recipe and --master-bits, and what --emit shapes prints under ghaffari
expect 0 '--recipe NAME' '' -- --help
expect 1 '' "^nitc: error: unknown --recipe 'adam' (expected niti, ghaffari, shiftquant or unified)" -- \
  --check --recipe adam "$ex/mlp.nit"
# recipe unified: checked, settings printed
expect 1 '' "error: 'update' sets NITI's update bits; recipe unified (--recipe) uses 'lr'" -- \
  --check --recipe=unified "$ex/mlp.nit"
expect 1 '' "^nitc: error: --master-bits must be 16 or 32 (got '24')" -- --check --master-bits 24 "$ex/mlp.nit"
expect 1 '' "^nitc: error: --master-bits sets the masters of recipes ghaffari, shiftquant and unified; recipe niti uses --weight-bits" -- \
  --check --master-bits 32 "$ex/mlp.nit"
expect 1 '' "error: 'update' sets NITI's update bits; recipe ghaffari (--recipe) uses 'lr'" -- \
  --check --recipe ghaffari "$ex/mlp.nit"
expect 0 '^recipe: niti, data ' '' -- --emit shapes "$ex/lenet5.nit"
printf 'model bn {\n    input x[1, 28, 28]\n    output y(10)\n    conv c1(8, kernel=3, pad=1)\n    batchnorm\n    relu\n    flatten\n    dense f(32)\n    layernorm(eps=0.001)\n    dense(10)\n}\n' >"$tmp/bn.nit"
printf 'train {\n    recipe ghaffari\n    lr cosine(0.1, period=4)\n    warmup 100\n}\n' | cat "$tmp/bn.nit" - >"$tmp/bn_g.nit"
expect 1 '' "bn.nit:5:5: error: batchnorm needs a recipe with a learning rate: ghaffari, shiftquant or unified" -- \
  --check "$tmp/bn.nit"
expect 0 '' '' -- --check --recipe ghaffari "$tmp/bn.nit"
expect 0 '' '' -- --check "$tmp/bn_g.nit"
# fan-in 9: c = 0, the master starts at exponent c - 15 = -15 with bound
# isqrt(6 * 4^15 / 9) = 26754 (docs/recipes.md, "Masters and views"); int32
# masters 16 below; fan-in 32: c = -1, -16 and isqrt(6 * 4^16 / 32) = 28377
expect 0 '^  1  c1 .*  72    -15  26754  i32/i32/i32$' '' -- --emit shapes "$tmp/bn_g.nit"
expect 0 '^  1  c1 .*  72    -31  26754  i32/i32/i32$' '' -- --emit shapes --master-bits 32 "$tmp/bn_g.nit"
expect 0 '^  7  dense1 .*  320    -16  28377  i32/i32/i32$' '' -- --emit shapes "$tmp/bn_g.nit"
expect 0 '^  2  batchnorm1  batchnorm  c1 .*  16      -      -  group 50176$' '' -- --emit shapes "$tmp/bn_g.nit"
expect 0 '^  2  batchnorm1  batchnorm  c1 .*  16      -      -  group 7840$' '' -- --emit shapes --batch 10 "$tmp/bn_g.nit"
expect 0 '^  6  layernorm1  layernorm  f .*  64      -      -  group 32$' '' -- --emit shapes "$tmp/bn_g.nit"
# 72 + 2 * 8 + 200704 + 2 * 32 + 320 elements; 1 + 2 + 1 + 2 + 1 tensors
expect 0 '^parameters: 201176 in 7 tensors (int32 masters)$' '' -- --emit shapes --master-bits 32 "$tmp/bn_g.nit"
expect 0 '^recipe: ghaffari, data "data/mnist", batch 64' '' -- --emit shapes "$tmp/bn_g.nit"
expect 0 'rounding act=stochastic err=stochastic grad=stochastic view=stochastic update=stochastic$' '' -- \
  --emit shapes "$tmp/bn_g.nit"
expect 0 '^        ghaffari: lr cosine(0.1, period=4, min=0), warmup steps(100, ratio=0.001), momentum 0.9, decay 0.0005, master int16, bits act=8 weight=8 grad=8, loss softmax_ce(exp=table), holdout 0$' '' -- \
  --emit shapes "$tmp/bn_g.nit"
# recipe shiftquant: ghaffari's settings with 4-bit errors in channel groups,
# the forward sites rounding to nearest; --recipe shiftquant applies the same
# defaults; bits and groups as written; --grad-bits overrides bits grad=
expect 0 '--grad-bits B' '' -- --help
printf 'train {\n    recipe shiftquant\n}\n' | cat "$tmp/bn.nit" - >"$tmp/bn_s.nit"
sq_line='^        shiftquant: lr 0.01, momentum 0.9, decay 0.0005, master int16, bits act=8 weight=8 grad=4, groups channel, loss softmax_ce(exp=table), holdout 0$'
expect 0 '^recipe: shiftquant, data "data/mnist", batch 64' '' -- --emit shapes "$tmp/bn_s.nit"
expect 0 'rounding act=nearest err=stochastic grad=stochastic view=nearest update=stochastic$' '' -- \
  --emit shapes "$tmp/bn_s.nit"
expect 0 "$sq_line" '' -- --emit shapes "$tmp/bn_s.nit"
expect 0 "$sq_line" '' -- --emit shapes --recipe shiftquant "$tmp/bn.nit"
expect 0 '^  1  c1 .*  72    -15  26754  i32/i32/i32$' '' -- --emit shapes "$tmp/bn_s.nit"
printf 'train {\n    recipe shiftquant\n    bits act=4 weight=4\n    groups sample\n}\n' | cat "$tmp/bn.nit" - >"$tmp/bn_s4.nit"
expect 0 'master int16, bits act=4 weight=4 grad=4, groups sample, loss' '' -- --emit shapes "$tmp/bn_s4.nit"
expect 0 'master int16, bits act=4 weight=4 grad=6, groups sample, loss' '' -- --emit shapes --grad-bits 6 "$tmp/bn_s4.nit"
expect 0 'master int16, bits act=8 weight=8 grad=3, loss' '' -- --emit shapes --grad-bits=3 "$tmp/bn_g.nit"
expect 1 '' "^nitc: error: --grad-bits must be an integer in 2..8 (got '9')" -- --check --grad-bits 9 "$tmp/bn_s.nit"
expect 1 '' "^nitc: error: --grad-bits must be an integer in 2..8 (got '1')" -- --check --grad-bits 1 "$tmp/bn_s.nit"
expect 1 '' "^nitc: error: --grad-bits sets the error width of recipes ghaffari, shiftquant and unified; recipe niti uses 8 bits everywhere" -- \
  --check --grad-bits 4 "$ex/mlp.nit"
expect 1 '' "^nitc: error: --grad-bits sets the error width of recipes ghaffari, shiftquant and unified; recipe niti uses 8 bits everywhere" -- \
  --check --grad-bits 4 --recipe niti "$tmp/bn_s.nit"
# recipe unified: ghaffari's settings with the forward sites rounding to
# nearest, the clip and lrscale settings printed; the IR calls the runtime's
# error-site kernel and the norm backward with the multiplier
printf 'train {\n    recipe unified\n}\n' | cat "$tmp/bn.nit" - >"$tmp/bn_u.nit"
u_line='^        unified: lr 0.01, momentum 0.9, decay 0.0005, master int16, bits act=8 weight=8 grad=8, clip cosine(every=100, range=4, grid=eighth), lrscale exp(alpha=20, beta=0.1), loss softmax_ce(exp=table), holdout 0$'
expect 0 '' '' -- --check "$tmp/bn_u.nit"
expect 0 '^recipe: unified, data "data/mnist", batch 64' '' -- --emit shapes "$tmp/bn_u.nit"
expect 0 'rounding act=nearest err=stochastic grad=stochastic view=nearest update=stochastic$' '' -- \
  --emit shapes "$tmp/bn_u.nit"
expect 0 "$u_line" '' -- --emit shapes "$tmp/bn_u.nit"
expect 0 "$u_line" '' -- --emit shapes --recipe unified "$tmp/bn.nit"
printf 'train {\n    recipe unified\n    clip off\n    lrscale off\n}\n' | cat "$tmp/bn.nit" - >"$tmp/bn_u0.nit"
expect 0 'grad=8, clip off, lrscale off, loss' '' -- --emit shapes "$tmp/bn_u0.nit"
expect 0 '' '' -- "$tmp/bn_u.nit" --emit llvm -O0 -o "$tmp/bn_u.ll"
grep -q 'call i32 @nitrt_clip_site' "$tmp/bn_u.ll" || { echo "FAIL no error-site kernel call in the IR"; fail=1; }
grep -q 'call i32 @nitrt_norm_backward_mu' "$tmp/bn_u.ll" || { echo "FAIL no norm backward with mu in the IR"; fail=1; }
# sub-8-bit errors: the error buffers' memory is reported (int8, not packed)
expect 0 '^        error buffers [0-9]* bytes as int8 (4-bit packing, not implemented' '' -- --emit shapes "$ex/resnet_l1.nit"
# normalization layers are lowered: the IR calls the runtime's norm kernels
expect 0 '' '' -- "$tmp/bn_g.nit" --emit llvm -O0 -o "$tmp/bn.ll"
grep -q 'call i32 @nitrt_norm_forward' "$tmp/bn.ll" || { echo "FAIL no norm kernel call in the IR"; fail=1; }
grep -q 'call i32 @nitrt_norm_backward' "$tmp/bn.ll" || { echo "FAIL no norm backward call in the IR"; fail=1; }
# targets: only the three Linux/glibc triples and their spellings; another
# OS or ABI is refused, not silently compiled for Linux
for t in x86_64-apple-darwin x86_64-pc-windows-msvc aarch64-linux-android riscv64-unknown-elf x86_64-linux-musl \
         aarch64-linux-gnueabi; do
  expect 1 '' "^nitc: error: unsupported target '$t': nitc builds Linux (glibc) executables only" -- \
    "$ex/mlp.nit" --target "$t" --emit llvm -O0 -o "$tmp/t.ll"
done
expect 1 '' "^nitc: error: unknown target 'sparc64-linux-gnu'; the targets are x86_64-linux-gnu" -- \
  "$ex/mlp.nit" --target sparc64-linux-gnu --emit llvm -O0 -o "$tmp/t.ll"
for t in x86_64 amd64 x86_64-pc-linux-gnu arm64 aarch64-unknown-linux-gnu rv64 riscv64-linux-gnu; do
  expect 0 '' '' -- "$ex/mlp.nit" --target "$t" --emit llvm -O0 -o "$tmp/t.ll"
done
grep -q '^target triple = "riscv64-unknown-linux-gnu"' "$tmp/t.ll" || { echo "FAIL riscv64 triple"; fail=1; }
# unknown CPUs and features: one error line naming the value, exit 1 (LLVM
# alone warned six times and went on)
one_error() {
  pat=$1
  shift
  expect 1 '' "$pat" -- "$ex/mlp.nit" --emit obj -O0 -o "$tmp/t.o" "$@"
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || { echo "FAIL nitc $*: more than one line on stderr"; cat "$tmp/err"; fail=1; }
}
one_error "^nitc: error: unknown CPU 'foo' for x86_64-linux-gnu; \`nitc --target x86_64-linux-gnu --cpu help\`" --cpu foo
one_error "^nitc: error: unknown CPU 'x86-64' for aarch64-linux-gnu" --target aarch64-linux-gnu --cpu x86-64
one_error "^nitc: error: unknown feature 'nope' for x86_64-linux-gnu" --target x86_64-linux-gnu --features +sse2,+nope
one_error "^nitc: error: unknown feature 'zzz' for riscv64-linux-gnu" --target riscv64-linux-gnu --features -zzz
one_error "^nitc: error: feature 'avx2' must be written +NAME (enable) or -NAME (disable)" --features avx2
one_error "^nitc: error: --cpu needs a CPU name" --cpu=
expect 0 '' '' -- "$ex/mlp.nit" --target x86_64-linux-gnu --cpu x86-64-v3 --features +avx2 --emit obj -O0 -o "$tmp/t.o"
[ -s "$tmp/err" ] && { echo "FAIL a valid --cpu printed on stderr"; cat "$tmp/err"; fail=1; }
# --cpu on the host, without --target: the named CPU's features, not the
# host's (with an AVX2 host's list, which says -avx512bw, --cpu x86-64-v4
# made LLVM abort, and --cpu x86-64 gave AVX2 code)
if [ "$(uname -m)" = x86_64 ]; then
  expect 0 '' '' -- "$ex/mlp.nit" --cpu x86-64-v4 --emit asm -o "$tmp/v4.s"
  grep -q '%zmm' "$tmp/v4.s" || { echo "FAIL --cpu x86-64-v4: no 512-bit registers"; fail=1; }
  expect 0 '' '' -- "$ex/mlp.nit" --cpu x86-64 --emit asm -o "$tmp/v1.s"
  grep -q '%ymm' "$tmp/v1.s" && { echo "FAIL --cpu x86-64: 256-bit registers"; fail=1; }
fi
expect 0 'x86-64-v3 ' '' -- --target x86_64-linux-gnu --cpu help
expect 0 '^Available features for this target' '' -- --target riscv64-linux-gnu --cpu help
expect 1 '' "^nitc: error: unsupported target 'arm64-apple-darwin'" -- --target arm64-apple-darwin --cpu help
# developer variables (compiler/env.c): a value nitc cannot use is warned
# about once and ignored, so the code is the default's
expect 0 '' '' -- "$ex/mlp.nit" --emit llvm -O0 -o "$tmp/dflt.ll"
dev_var() {
  pat=$1
  shift
  env "$@" "$nitc" "$ex/mlp.nit" --emit llvm -O0 -o "$tmp/dev.ll" ${target:+--target=$target} \
    >/dev/null 2>"$tmp/err" || { echo "FAIL $*: nitc failed"; cat "$tmp/err"; fail=1; return; }
  [ "$(grep -c -e "$pat" "$tmp/err")" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] ||
    { echo "FAIL $*: stderr is not the one line '$pat'"; cat "$tmp/err"; fail=1; }
  [ -n "${target:-}" ] || cmp -s "$tmp/dflt.ll" "$tmp/dev.ll" || { echo "FAIL $*: not the default's IR"; fail=1; }
}
dev_var "^nitc: warning: NITC_PAIR='2' is not 0 (off) or 1 (on); it is ignored$" NITC_PAIR=2
dev_var "^nitc: warning: NITC_FOLD_RELU='off' is not 0 (off) or 1 (on)" NITC_FOLD_RELU=off
dev_var "^nitc: warning: NITC_AHEAD_BYTES='-1' is not a non-negative integer" NITC_AHEAD_BYTES=-1
dev_var "^nitc: warning: NITC_STREAM_BYTES='1k' is not a non-negative integer" NITC_STREAM_BYTES=1k
dev_var "^nitc: warning: NITC_GEMM_KBLOCK='6' is not a multiple of 4, at least 4" NITC_GEMM_KBLOCK=6
[ "$(uname -m)" = x86_64 ] &&
  dev_var "^nitc: warning: NITC_GEMM='vnni' is not a kernel it can force for x86_64.* (plain, generic, lanes" NITC_GEMM=vnni
target=riscv64-linux-gnu
dev_var "^nitc: warning: NITC_GEMM='ubs' is not a kernel it can force for riscv64.* (plain, lanes)" NITC_GEMM=ubs
target=
# an empty value is unset, without a word
env NITC_PAIR= "$nitc" "$ex/mlp.nit" --emit llvm -O0 -o "$tmp/dev.ll" 2>"$tmp/err" && [ ! -s "$tmp/err" ] &&
  cmp -s "$tmp/dflt.ll" "$tmp/dev.ll" || { echo "FAIL NITC_PAIR= (empty): words, or not the default's IR"; fail=1; }
# a usable value changes the code, without a word
env NITC_FOLD_RELU=0 "$nitc" "$ex/mlp.nit" --emit llvm -O0 -o "$tmp/dev.ll" 2>"$tmp/err" && [ ! -s "$tmp/err" ] &&
  ! cmp -s "$tmp/dflt.ll" "$tmp/dev.ll" || { echo "FAIL NITC_FOLD_RELU=0: no effect, or words"; fail=1; }
[ "$fail" -eq 0 ] && echo "cli: ok"
exit "$fail"
