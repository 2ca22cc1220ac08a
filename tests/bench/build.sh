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
check "xent runs" sh -c "'$work/xent' 10 -4 | grep -q '^loss of 10 classes at exponent -4: .* ns a sample'"
check "maskstore runs" sh -c "'$work/maskstore' 1 | grep -q '^masked store (vpmaskmovd): [0-9.]* ns\\|no AVX2\\|x86-64 only'"
checks_done
