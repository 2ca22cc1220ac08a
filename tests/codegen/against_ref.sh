# Sourced by fanout.sh and batches.sh. against_ref OPT NET...: compile each
# $work/NET.nit at OPT (-O0 .. -O3), link it with the diff harness and the
# reference, and run three steps under two sets of roundings; the harness
# exits non-zero at the first byte that differs. Uses $build, $work, $cc.
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
