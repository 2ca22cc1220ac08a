# shellcheck shell=bash
# tests/checks.sh: the pass/fail bookkeeping of the end-to-end test scripts
# (e2e/, export/, mpi/), sourced by each:
#   check NAME CMD...   runs CMD; prints "ok   NAME" or "FAIL NAME" and counts it
#   checks_done         prints how many passed and failed; fails if any did
fails=0; total=0
# check's local has a name no caller uses: bash scopes locals dynamically,
# so CMD would see a local `name` in place of its script's own.
check() {
  local check_label="$1"; shift
  total=$((total + 1))
  if "$@"; then echo "ok   $check_label"; else echo "FAIL $check_label"; fails=$((fails + 1)); fi
}
checks_done() {
  echo "$((total - fails)) passed, $fails failed"
  [ "$fails" -eq 0 ]
}
