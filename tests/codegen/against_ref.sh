# Sourced by fanout.sh, batches.sh and tilewords.sh (uses $build, $work, $cc).
# against_ref OPT NET...: compile each $work/NET.nit at OPT (-O0 .. -O3),
# link it with the diff harness and the reference, and run three steps
# under two sets of roundings; the harness exits non-zero at the first byte
# that differs. same_bytes and on_off (below) compare checkpoints.
against_ref() {
  local opt="$1" net round
  shift
  for net in "$@"; do
    "$build/compiler/nitc" "$work/$net.nit" --emit obj "$opt" -o "$work/$net.o"
    # shellcheck disable=SC2086
    $cc ${NITC_LINK_FLAGS:-} -o "$work/$net.bin" "$work/$net.o" "$build/tests/libdiffrun.a" \
        "$build/tests/libnitref.a" "$build/compiler/libnitfront.a" "$build/runtime/libnitrt_s31.a"
    for round in pseudo,stochastic,pseudo nearest,nearest,stochastic; do
      "$work/$net.bin" "$work/$net.nit" --steps 3 --round "$round" --quiet
      echo "$net $round: identical to the reference"
    done
  done
}

# same_bytes NET DATA: trains $work/NET on $work/DATA with one thread and
# with three at uneven speeds; the two checkpoints must be the same bytes.
same_bytes() {
  "$work/$1" train --data "$work/$2" --epochs 1 --threads 1 --quiet --save "$work/$1.1.ckpt"
  NITRT_POOL_PACE=5,1,2 "$work/$1" train --data "$work/$2" --epochs 1 --threads 3 --quiet --save "$work/$1.3.ckpt"
  cmp "$work/$1.1.ckpt" "$work/$1.3.ckpt"
  echo "$1: one thread and three at uneven speeds write the same checkpoint"
}

# on_off NET DATA VAR...: NET compiled as it is and with each VAR=0 in
# turn trains on DATA to the same checkpoint, on one thread and on three at
# uneven speeds
on_off() {
  local net="$1" data="$2" var
  shift 2
  "$build/compiler/nitc" "$work/$net.nit" -o "$work/$net"
  same_bytes "$net" "$data"
  for var in "$@"; do
    env "$var=0" "$build/compiler/nitc" "$work/$net.nit" -o "$work/${net}_off"
    same_bytes "${net}_off" "$data"
    cmp "$work/$net.1.ckpt" "$work/${net}_off.1.ckpt"
  done
}
