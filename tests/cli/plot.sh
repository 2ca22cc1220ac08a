#!/bin/sh
# nitc plot: synthetic training logs to SVG and PNG through gnuplot, and the
# errors for bad inputs. The error cases and --script run without gnuplot;
# the drawing is skipped (exit 77) when gnuplot is not installed.
# usage: plot.sh NITC
nitc=$1
case $nitc in /*) ;; *) nitc=$PWD/$nitc ;; esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
# expect STATUS PATTERN-ON-STDERR -- ARGS...: nitc plot ARGS
expect() {
  want=$1 err_pat=$2
  shift 3
  "$nitc" plot "$@" >out 2>err
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL nitc plot $*: exit $rc, expected $want"; cat err; fail=1; return
  fi
  if [ -n "$err_pat" ] && ! grep -q -e "$err_pat" err; then
    echo "FAIL nitc plot $*: stderr lacks '$err_pat'"; cat err; fail=1
  fi
}

# run a: the fields the runtime writes under a recipe with masters, a
# holdout, and a learning rate that drops at epoch 3, the run records the
# runtime starts every run with (skipped), and an epoch's telemetry (nested,
# skipped); run b: no validation, no learning rate, epoch 2 logged twice (a
# resumed run: the last one wins)
cat >a.jsonl <<'LOG'
{"record":"run","started":"2026-12-05T11:00:46Z","nitc":"nitc 0.1.0","model":"lenet5","command":["./lenet5","train"],"seed":1,"threads":2,"recipe":{"kind":"ghaffari","lr":{"kind":"piecewise","steps":[{"lr":"0.1","from_epoch":1}]}},"data":{"dir":"/d"},"resumed_from":null}
{"epoch":1,"epochs":4,"step":19,"train_loss":2.2741,"train_acc":0.1600,"val_acc":0.2100,"val_correct":21,"val_samples":100,"test_acc":0.2000,"test_loss":2.0843,"samples_per_sec":20297,"seconds":0.033,"lr":"0.099999999977","lr_m":1717986918,"lr_e":-34,"master_exp":[-15,-16]}
{"epoch":2,"epochs":4,"step":38,"train_loss":1.7962,"train_acc":0.4717,"val_acc":0.4000,"test_acc":0.3600,"test_loss":1.6313,"lr":"0.099999999977","telemetry":{"every":2,"steps":10,"layers":[{"name":"c1","kind":"conv","act":{"exp":[-5,-4,-4]},"weights":{"changed":0.6027,"limit":0.0353}}]}}
{"record":"run","started":"2026-12-05T11:01:00Z","resumed_from":{"checkpoint":"a.ckpt","epoch":2,"step":38}}

{"epoch":3,"epochs":4,"step":57,"train_loss":0.9,"train_acc":0.7,"val_acc":0.7000,"test_acc":0.7100,"test_loss":0.95,"lr":"0.010000000002"}
{"epoch":4,"epochs":4,"step":76,"train_loss":0.5,"train_acc":0.8,"val_acc":0.8100,"test_acc":0.8000,"test_loss":0.6,"lr":"0.010000000002"}
LOG
cat >run-b.jsonl <<'LOG'
{"epoch":1,"train_loss":1.5,"test_loss":1.4,"test_acc":0.5}
{"epoch":2,"train_loss":9.9,"test_loss":9.9,"test_acc":0.01}
{"epoch":2,"train_loss":1.0,"test_loss":1.1,"test_acc":0.6}
{"epoch":3,"train_loss":0.7,"test_loss":0.8,"test_acc":0.65}
LOG

# bad inputs: exit 1 and a message naming the file (and the line)
printf '{"epoch":1,"train_loss":2.0}\n{"epoch":2,"train_loss":1.5,}\n' >bad.jsonl
printf '\n' >empty.jsonl
printf '{"epoch":0,"test_acc":0.5}\n' >eval-only.jsonl
printf '{"epoch":1,"test_acc":97.5}\n' >percent.jsonl
printf '{"step":1}\n' >noepoch.jsonl
printf '{"epoch":1,"train_loss":"low"}\n' >string.jsonl
expect 1 "^nitc: error: cannot read 'nope.jsonl': No such file or directory" -- nope.jsonl -o p.svg
expect 1 "^bad.jsonl:2:29: error: malformed JSON: expected a key in double quotes" -- a.jsonl bad.jsonl -o p.svg
expect 1 "^nitc: error: empty.jsonl: no epochs" -- empty.jsonl -o p.svg
expect 1 "^nitc: error: eval-only.jsonl: no epochs" -- eval-only.jsonl -o p.svg
expect 1 "^percent.jsonl:1:23: error: \"test_acc\" is 97.5; a log's accuracies are fractions 0..1" -- percent.jsonl -o p.svg
expect 1 "^noepoch.jsonl:1:1: error: record without \"epoch\"" -- noepoch.jsonl -o p.svg
expect 1 "^string.jsonl:1:25: error: \"train_loss\" must be a number" -- string.jsonl -o p.svg
expect 1 "^nitc: error: '.' is a directory, not a log file" -- . -o p.svg
expect 1 "^nitc: error: plot: cannot tell the format of 'p.pdf': the output must end in .svg or .png" -- a.jsonl -o p.pdf
expect 1 "^nitc: error: plot: no output file" -- a.jsonl
expect 1 "^nitc: error: plot: no log files" -- -o p.svg
expect 1 "^nitc: error: plot: unknown option '--frob'" -- a.jsonl --frob -o p.svg
expect 1 "^nitc: error: plot: --acc-from must be a whole percentage in 0..90 (got '95')" -- a.jsonl --acc-from 95 -o p.svg
expect 1 "^nitc: error: cannot write '$tmp/missing/p.svg': No such file or directory" -- a.jsonl -o "$tmp/missing/p.svg"
mkdir dir.svg
expect 1 "^nitc: error: cannot write 'dir.svg': Is a directory" -- a.jsonl -o dir.svg
expect 0 '' -- --help
grep -q '^usage: nitc plot LOG.jsonl' out || { echo "FAIL nitc plot --help"; fail=1; }
[ -e p.svg ] && { echo "FAIL a failed plot left p.svg"; fail=1; }

# without gnuplot on PATH: the message says what to install, and an older
# plot of the same name is left as it was
echo old >kept.svg
PATH=/nonexistent "$nitc" plot a.jsonl -o kept.svg 2>err
rc=$?
[ "$rc" -eq 1 ] || { echo "FAIL no gnuplot: exit $rc, expected 1"; fail=1; }
grep -q "^nitc: error: gnuplot not found: .*install it (apt-get install gnuplot-nox)" err ||
  { echo "FAIL no gnuplot: message"; cat err; fail=1; }
[ "$(cat kept.svg)" = old ] || { echo "FAIL no gnuplot: kept.svg changed"; fail=1; }
ls | grep -q nitc- && { echo "FAIL a temporary file was left"; ls; fail=1; }

# the script (no gnuplot needed): series, the learning-rate mark at the start
# of epoch 3, the accuracy axis from 0 (run b reaches 50%, run a 20%)
expect 0 '' -- a.jsonl run-b.jsonl -o p.svg --script p.gp
for s in "title 'a train loss'" "title 'a test loss'" "title 'a test accuracy'" "title 'a validation accuracy'" \
         "title 'a learning rate'" "title 'run-b train loss'" "title 'run-b test accuracy'" \
         "set arrow from 2, graph 0 to 2, graph 1" "set yrange \[0:100\]" "set ylabel 'accuracy (%)'" \
         "set yrange \[0:\*\]" "set output 'p.svg'" "^2 1.0 1.1 0.6 ? ? ?$"; do
  grep -q -e "$s" p.gp || { echo "FAIL script lacks: $s"; fail=1; }
done
grep -q "run-b validation" p.gp && { echo "FAIL run-b has no validation series"; fail=1; }
grep -q "^2 9.9" p.gp && { echo "FAIL the first record of epoch 2 was kept"; fail=1; }
[ -e p.svg ] && { echo "FAIL --script ran gnuplot"; fail=1; }
# NaN, Infinity, null and numbers beyond gnuplot's range are gaps
printf '{"epoch":1,"train_loss":NaN,"test_loss":1e999}\n{"epoch":2,"train_loss":null,"test_loss":-Infinity}\n{"epoch":3,"train_loss":0.5,"test_loss":0.6}\n' >gaps.jsonl
expect 0 '' -- gaps.jsonl -o p.svg --script g.gp
grep -q '^1 ? ? ? ? ? ?$' g.gp && grep -q '^2 ? ? ? ? ? ?$' g.gp && grep -q '^3 0.5 0.6 ? ? ? ?$' g.gp ||
  { echo "FAIL gaps"; grep -A4 EOD g.gp; fail=1; }
# NITI's update bits: a change of m_u (3 to 2 from epoch 3) is marked at x = 2
printf '{"epoch":1,"train_loss":1,"update_bits":3}\n{"epoch":2,"train_loss":0.9,"update_bits":3}\n{"epoch":3,"train_loss":0.8,"update_bits":2}\n' >mu.jsonl
expect 0 '' -- mu.jsonl -o p.svg --script m.gp
grep -q "set arrow from 2, graph 0 to 2, graph 1" m.gp && ! grep -q "set arrow from 1," m.gp ||
  { echo "FAIL the m_u change is not marked at epoch 3"; grep arrow m.gp; fail=1; }
# an accuracy axis that does not start at 0 says so
expect 0 '' -- run-b.jsonl -o p.svg --script q.gp
grep -q "set yrange \[50:100\]" q.gp && grep -q "axis from 50%, not 0" q.gp ||
  { echo "FAIL accuracy axis from 50%"; grep yrange q.gp; fail=1; }
expect 0 '' -- run-b.jsonl --acc-from 0 -o p.svg --script q.gp
grep -q "set yrange \[0:100\]" q.gp || { echo "FAIL --acc-from 0"; fail=1; }

if ! command -v gnuplot >/dev/null 2>&1; then
  [ "$fail" -eq 0 ] || exit 1
  echo "plot: gnuplot is not installed (apt-get install gnuplot-nox): drawing skipped"
  exit 77
fi

# SVG: well-formed XML with every series in its key
expect 0 '' -- a.jsonl run-b.jsonl -o "curves.svg" --title "two runs"
if command -v python3 >/dev/null 2>&1; then
  python3 - curves.svg <<'PY' || fail=1
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
assert root.tag == ns + 'svg', root.tag
texts = {t.text.strip() for t in root.iter(ns + 'text') if t.text}
want = ['a train loss', 'a test loss', 'a test accuracy', 'a validation accuracy', 'a learning rate',
        'run-b train loss', 'run-b test loss', 'run-b test accuracy', 'two runs', 'epoch']
missing = [w for w in want if w not in texts]
if missing:
    print('FAIL svg lacks series', missing)
    sys.exit(1)
PY
else
  grep -q '</svg>' curves.svg && grep -q '>a validation accuracy<' curves.svg || { echo "FAIL svg"; fail=1; }
fi
# PNG: the signature
expect 0 '' -- a.jsonl -o curves.PNG
[ "$(head -c 4 curves.PNG | od -An -c | tr -d ' ')" = "211PNG" ] || { echo "FAIL png signature"; fail=1; }
ls | grep -q nitc- && { echo "FAIL a temporary file was left"; ls; fail=1; }
[ "$fail" -eq 0 ] && echo "plot: ok"
exit "$fail"
