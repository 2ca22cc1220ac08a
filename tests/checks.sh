# shellcheck shell=bash
# tests/checks.sh: the pass/fail bookkeeping of the end-to-end test scripts
# (e2e/, export/, mpi/), sourced by each:
#   check NAME CMD...   runs CMD; prints "ok   NAME" or "FAIL NAME" and counts it
#   checks_done         prints how many passed and failed; fails if any did
fails=0; total=0
check() {
  local name="$1"; shift
  total=$((total + 1))
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
checks_done() {
  echo "$((total - fails)) passed, $fails failed"
  [ "$fails" -eq 0 ]
}
