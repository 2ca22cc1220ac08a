#!/usr/bin/env bash
# The GEMM kernel alone (nitc --gemm-kernel) against a plain C loop
# (bench/gemm.c checks before it times), for every micro-kernel this host can
# run and shapes with every kind of edge: rows not a multiple of the tile
# height, columns not a multiple of 16, K not a multiple of 4, K = 1; K
# taken in blocks (above 16384, and with NITC_GEMM_KBLOCK=8 on a small K);
# and the form for an A never negative (M,N,K,u), A's bytes then in [0, 127].
# ubs takes a signed A split from K = 256 (cg/gemm.c, gemm_ax); ubs-split
# takes it at every K (NITC_AX_KMIN=0), so the short K's edges go through it.
#   gemm_check.sh BUILD_DIR WORK_DIR
set -uo pipefail
build="$1"; work="$2"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$work"
cc="${CC:-cc}"
fails=0; total=0
kinds="host generic lanes plain"
grep -qw avx2 /proc/cpuinfo 2>/dev/null && kinds="$kinds ubs ubs-split"
for kind in $kinds; do
  for shape in 1,1,1 7,33,13 9,16,4 17,47,129 64,100,4097 3,200,1 512,64,512 37,50,20001 17,47,129/8 \
    7,33,13,u 17,47,129,u 64,100,4097,u 37,50,20001,u; do
    ua=""; [ "${shape%,u}" != "$shape" ] && ua=u  # A never negative: the kernel's unsigned form
    case "$kind$ua" in generic*u|lanes*u|plain*u|ubs-split*u) continue ;; esac # no such form, or as ubs
    total=$((total + 1))
    unset NITC_AX_KMIN
    case "$kind" in
      host) unset NITC_GEMM ;;
      ubs-split) export NITC_GEMM=ubs NITC_AX_KMIN=0 ;;
      *) export NITC_GEMM="$kind" ;;
    esac
    kblock="${shape#*/}"; [ "$kblock" = "$shape" ] && kblock=""
    shape="${shape%/*}"
    obj="$work/gemm-$kind-$shape.o"
    if ! NITC_GEMM_KBLOCK="$kblock" "$build/compiler/nitc" --gemm-kernel "$shape" --emit obj -o "$obj"; then
      echo "FAIL $kind $shape: nitc failed"; fails=$((fails + 1)); continue
    fi
    # shellcheck disable=SC2086
    if ! $cc $NITC_LINK_FLAGS -O1 "$here/../../bench/gemm.c" "$obj" -o "$work/gemm-$kind"; then
      echo "FAIL $kind $shape: link failed"; fails=$((fails + 1)); continue
    fi
    dims="${shape%,u}"
    # shellcheck disable=SC2086
    if ! "$work/gemm-$kind" ${dims//,/ } 0 $ua > "$work/out.txt"; then
      echo "FAIL $kind $shape"; fails=$((fails + 1)); continue
    fi
    echo "ok $kind $shape${kblock:+ in blocks of $kblock}: $(cut -d';' -f1 "$work/out.txt")"
  done
done
unset NITC_GEMM NITC_AX_KMIN
echo "$((total - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
