#!/usr/bin/env bash
# The bench programs still build and run: nothing else compiles them (bench/run
# and bench/scaleout.sh do, outside the suite), so without this they could
# rot unseen. Each builds as its header comment says, with the project's
# warnings as errors; the quick ones then run once on small inputs (their
# figures are not checked, only that they print one).
#   build.sh SOURCE_DIR BUILD_DIR WORK_DIR WARNINGS...   (CMake's NITC_WARN)
set -uo pipefail
src="$1" build="$2" work="$3"; shift 3
rm -rf "$work"; mkdir -p "$work"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
flags=(-O2 -std=c11 "$@" -Werror)
cc_w=(cc "${flags[@]}" -I"$src/runtime")
rt="$build/runtime/libnitrt.a" s31="$build/runtime/libnitrt_s31.a"
check "pingpong builds" "${cc_w[@]}" "$src/bench/pingpong.c" -lpthread -o "$work/pingpong"
check "pool builds" "${cc_w[@]}" "$src/bench/pool.c" "$rt" -lz -lpthread -o "$work/pool"
check "norm_layer builds" "${cc_w[@]}" "$src/bench/norm_layer.c" "$s31" -o "$work/norm_layer"
check "xent builds" "${cc_w[@]}" "$src/bench/xent.c" "$rt" -lz -lpthread -o "$work/xent"
check "maskstore builds" "${cc_w[@]}" "$src/bench/maskstore.c" -o "$work/maskstore"
check "collectives compiles" "${cc_w[@]}" -c "$src/bench/collectives.c" -o "$work/collectives.o"
check "gemm compiles" "${cc_w[@]}" -c "$src/bench/gemm.c" -o "$work/gemm.o"
if command -v mpicc > /dev/null; then
  check "mpi_collectives compiles" mpicc "${flags[@]}" -c "$src/bench/mpi_collectives.c" -o "$work/mpi_collectives.o"
fi
check "pool runs" sh -c "'$work/pool' 1 64 | grep -q '^empty parallel region over 64 items: [0-9]* ns per call'"
check "norm_layer runs" sh -c "'$work/norm_layer' 4 4 8 8 3 | grep -q '^throughput l1norm / batchnorm: '"
check "norm_layer checksums every kind" sh -c "'$work/norm_layer' 4 4 8 8 3 | grep -c 'checksum [0-9a-f]\{16\}\$' | grep -qx 4"
# The norm kernels' passes are built three times on x86-64 (runtime/norm.c,
# PASS) and the loader picks one by the CPU: under qemu-x86_64 as a CPU
# without AVX (qemu64: the baseline build) and as one with AVX2 but no
# AVX-512 (Haswell-v4: the x86-64-v3 build) they must give this host's
# checksums (here usually the AVX-512 build). Two shapes: blocks of 64
# values, and a dense layer's blocks of one (its own loops, HW = 1).
if [ "$(uname -m)" = x86_64 ] && command -v qemu-x86_64 > /dev/null; then
  for shape in "4 16 8 8" "8 40 1 1"; do
    "$work/norm_layer" $shape 2 | awk '/checksum/ { print $NF }' > "$work/sums.host"
    check "norm_layer ($shape): four checksums on this host" sh -c "[ \$(wc -l < '$work/sums.host') = 4 ]"
    for cpu in qemu64 Haswell-v4; do
      check "norm_layer ($shape): this host's checksums on a $cpu CPU (another build of the passes)" sh -c \
        "qemu-x86_64 -cpu $cpu '$work/norm_layer' $shape 2 2> /dev/null | awk '/checksum/ { print \$NF }' | cmp -s - '$work/sums.host'"
    done
  done
fi
check "xent runs" sh -c "'$work/xent' 10 -4 | grep -q '^loss of 10 classes at exponent -4: .* ns a sample'"
check "maskstore runs" sh -c "'$work/maskstore' 1 | grep -q '^masked store (vpmaskmovd): [0-9.]* ns\\|no AVX2\\|x86-64 only'"
# The E4 harness (tests/codegen/errdump.c, bench/accuracy/quant_error.sh):
# resnet_bn's stored error at every quantization site, at steps 0 and 1, as
# many files as the sites it counts; compiled as quant_error.sh compiles it.
# Without NITC_FOLD_RELU=0 two relus' errors are never written, and errdump
# says how to get them.
mkdir -p "$work/fm" && "$build/tests/nitrt_mkdata" idx "$work/fm" 128 32 1 28 28 10 > /dev/null
errdump() { # NAME ENV...: resnet_bn's object compiled with ENV, linked with errdump
  local name="$1"; shift
  env "$@" "$build/compiler/nitc" "$src/examples/resnet_bn.nit" --emit obj -o "$work/$name.o" &&
    cc -o "$work/$name" "$work/$name.o" "$build/tests/liberrdump.a" "$rt" "$s31" -lz -lpthread
}
check "errdump builds" errdump errdump NITC_ERR_REUSE=0 NITC_FOLD_RELU=0
mkdir -p "$work/dumps"
"$work/errdump" --data "$work/fm" --steps 0,1 --limit 128 --out "$work/dumps" > "$work/errdump.out" 2>&1
sites=$(sed -n 's/^errdump: resnet_bn (ghaffari): \([0-9]*\) sites,.*/\1/p' "$work/errdump.out")
check "errdump dumps every site's error twice ($sites sites)" \
  test -n "$sites" -a "$(find "$work/dumps" -name '*.err' | wc -l)" = "$((2 * sites))"
check "errdump of folded relus builds" errdump folded NITC_ERR_REUSE=0
"$work/folded" --data "$work/fm" --steps 0 --limit 128 --out "$work/dumps" > "$work/folded.out" 2>&1
rc=$?
check "... refuses to run, and says which variable keeps their errors" \
  sh -c "[ $rc != 0 ] && grep -q 'NITC_FOLD_RELU=0' '$work/folded.out'"
checks_done
