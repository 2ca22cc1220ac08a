#!/usr/bin/env bash
# The pool's per-body times (NITRT_POOL_TIMES, runtime/pooltimes.c) and
# bench/pool_times.sh on a real generated model:
#   1. the file has its header and lines of six integers, one per executor
#      and body, the executors below the threads (one thread: only 0), and
#      the caller's region lines (r, then five integers, the join within
#      the span); with one thread no join, and each body's spans are its
#      chunk times;
#   2. with one thread some body ran at least once a step;
#   3. timing changes no byte: one and two threads write one checkpoint;
#   4. bench/pool_times.sh names the bodies from the symbol table (no bare
#      addresses), counts the steps, and prints the total line and the
#      regions' table with its totals; with the one-thread file beside it
#      (--one), the one-thread column and ratios, which are 1 for a file
#      beside itself;
#   5. a path that cannot be written is told (a warning naming it) and the
#      run still trains to the same checkpoint.
#   pool_times.sh SOURCE_DIR BUILD_DIR MODEL.nit MKDATA WORK_DIR
set -uo pipefail
src="$1" build="$2" model="$3" mkdata="$4" work="$5"
rm -rf "$work"; mkdir -p "$work/data"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
"$mkdata" idx "$work/data" 640 20 1 28 28 10 || exit 2
exe="$work/model"
"$build/compiler/nitc" "$model" --batch 64 -o "$exe" || { echo "FAIL nitc"; exit 1; }
steps=10 # 640 samples at batch 64, one epoch

NITRT_POOL_TIMES="$work/t1" "$exe" train --data "$work/data" --epochs 1 --test-limit 1 --threads 1 --quiet \
  --save "$work/t1.ckpt" 2> "$work/t1.err"
NITRT_POOL_TIMES="$work/t2" "$exe" train --data "$work/data" --epochs 1 --test-limit 1 --threads 2 --quiet \
  --save "$work/t2.ckpt" 2> "$work/t2.err"
well_formed() { # file: the header, then lines of six integers, executors below the threads
  head -1 "$1" | grep -q '^# nitrt pool times: executor body calls items ns median_ns' &&
    awk -v max="$2" 'NR > 1 && /^r / { if (NF != 6 || $6 > $5 || $6 < 0) bad = 1
                                         for (i = 2; i <= 6; i++) if ($i !~ /^-?[0-9]+$/) bad = 1; r++; next }
                     NR > 1 && !/^#/ { if (NF != 6 || $1 !~ /^[0-9]+$/ || $1 >= max) bad = 1
                                        for (i = 2; i <= 6; i++) if ($i !~ /^-?[0-9]+$/) bad = 1; n++ }
                     END { exit bad || n == 0 || r == 0 }' "$1"
}
check "one thread: well formed" well_formed "$work/t1" 1
check "two threads: well formed" well_formed "$work/t2" 2
# one thread: the most-called body ran at least once a step
check "one thread: every step counted" awk -v s="$steps" 'NR > 1 && !/^#/ && $3 > max { max = $3 }
                                                          END { exit !(max >= s) }' "$work/t1"
check "two threads: the bytes of one" cmp "$work/t1.ckpt" "$work/t2.ckpt"
# one thread: every call runs in one piece, so no join, and a body's spans
# are its chunk times
check "one thread: regions are the chunks" awk '!/^#/ && $1 == 0 { ns[$2] = $5 }
                                                 /^r / { if ($6 != 0) bad = 1; span[$2] = $5 }
                                                 END { for (b in ns) if (span[b] != ns[b]) bad = 1
                                                       for (b in span) if (!(b in ns)) bad = 1; exit bad }' "$work/t1"

"$src/bench/pool_times.sh" --file "$work/t2" "$steps" "$exe" > "$work/table" 2> "$work/table.err"
check "the table counts the steps" grep -q "^$steps steps;" "$work/table"
check "the table names every body" awk 'NR > 2 && !/^all bodies/ { if ($1 ~ /^0x/) bad = 1; n++ } END { exit bad || n == 0 }' \
  "$work/table"
check "the table has the bodies' total" grep -q '^all bodies ' "$work/table"
check "the regions' table names every body" awk '/^regions,/ { on = 1; next } on && NR > 0 && $1 != "body" && !/^all regions/ && !/^the caller/ {
                                                   if ($1 ~ /^0x/) bad = 1; n++ } END { exit bad || n == 0 }' "$work/table"
check "the regions' table ends with the caller's time" grep -Eq "^the caller's time a step: [0-9.]+ us serial \+ [0-9.]+ us in regions" \
  "$work/table"
"$src/bench/pool_times.sh" --file "$work/t2" "$steps" --one "$work/t1" "$exe" > "$work/compare" 2> "$work/compare.err"
check "beside one thread: the two columns" grep -q '| *1 thread |.*| *sum / 1$' "$work/compare"
check "beside one thread: the total's ratio" grep -Eq '^all bodies .*\| +[0-9]+\.[0-9]{2}$' "$work/compare"
# a one-thread file beside itself: every body's ratio is 1 (the regions'
# lines, one per call, are not bodies' times)
"$src/bench/pool_times.sh" --file "$work/t1" "$steps" --one "$work/t1" "$exe" > "$work/self" 2> "$work/self.err"
check "one thread beside itself: the same times" awk -F'|' '/^$/ { exit } # the end of the bodies table
                                                           /^[a-z]/ && $NF ~ /^ *[0-9]/ { n++; if ($NF + 0 != 1) bad = 1 }
                                                           END { exit bad || n < 2 }' "$work/self"

NITRT_POOL_TIMES="$work/no/such/dir/t" "$exe" train --data "$work/data" --epochs 1 --test-limit 1 --threads 2 --quiet \
  --save "$work/t3.ckpt" 2> "$work/t3.err"
check "an unwritable path is told" grep -q "warning: NITRT_POOL_TIMES: cannot write '$work/no/such/dir/t'" "$work/t3.err"
check "and the run is the same" cmp "$work/t1.ckpt" "$work/t3.ckpt"

checks_done
