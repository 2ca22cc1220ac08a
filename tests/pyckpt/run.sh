#!/bin/sh
# The checkpoint reader's tests (check.py) under a Python 3 that has numpy;
# exit 77 (skipped) when there is none. NITCKPT_PYTHON picks one.
#   run.sh BUILD_DIR MKDATA SOURCE_DIR WORK_DIR
for py in "${NITCKPT_PYTHON:-}" python3 /usr/bin/python3; do
  [ -n "$py" ] || continue
  if "$py" -c 'import numpy' >/dev/null 2>&1; then
    exec "$py" "$(dirname "$0")/check.py" "$@"
  fi
done
echo "SKIP: no python3 with numpy (Debian: apt-get install python3-numpy)"
exit 77
