#!/usr/bin/env bash
# completions/nitc.bash: sourced in bash, a few completions, and its lists
# against the sources.
# usage: completion.sh SOURCE_DIR
#
# 1. Sourcing registers _nitc for nitc; given COMP_WORDS and COMP_CWORD as
#    bash sets them, _nitc and _nitc_model offer the expected candidates
#    (options, --emit values, .nit files, commands, per-command options,
#    rounding modes, directories for --data, the --opt=value forms).
# 2. Its lists are the sources': nitc's options are those of
#    compiler/main.c's usage text, nitc plot's those of compiler/plot.c's,
#    the --emit kinds main.c's table, the
#    recipes and rounding modes runtime/nitabi.h's names, and each command's
#    options exactly the flags runtime/cli.c's table gives that command.
set -u
src=${1:?usage: completion.sh SOURCE_DIR}
comp=$src/completions/nitc.bash
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# shellcheck source=/dev/null
. "$comp" || { echo "FAIL: cannot source $comp"; exit 1; }
complete -p nitc 2>/dev/null | grep -q -- '-F _nitc nitc$' || bad "sourcing does not register _nitc for nitc"

# expect FUNCTION 'EXPECTED CANDIDATES' WORD... (the last word is the one
# being completed; candidates compared sorted)
expect() {
  local fn=$1 want=$2
  shift 2
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*" COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  "$fn" 2>/dev/null
  local got
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
  want=$(printf '%s\n' $want | sort | tr '\n' ' ' | sed 's/ $//')
  [ "$got" = "$want" ] || bad "$fn [$*]: got '$got', expected '$want'"
}

mkdir -p "$tmp/work/sub" && cd "$tmp/work" || exit 1
touch lenet5.nit mlp.nit notes.txt run.ckpt log.jsonl
n=0
t() { n=$((n + 1)); expect "$@"; }
t _nitc '--emit' nitc --em
t _nitc '--grad-bits --gemm-kernel' nitc --g
t _nitc '-O0 -O1 -O2 -O3' nitc -O
t _nitc 'exe obj asm llvm shapes' nitc --emit ''
t _nitc 'llvm' nitc --emit l
t _nitc 'exe obj asm llvm shapes' nitc --emit =
t _nitc 'llvm' nitc --emit = l
t _nitc '--emit=llvm' nitc --emit=l
t _nitc 'aarch64-linux-gnu' nitc --target a
t _nitc 'ghaffari' nitc --recipe g
t _nitc '16 32' nitc x.nit --master-bits ''
t _nitc 'lenet5.nit mlp.nit sub' nitc ''
t _nitc 'mlp.nit' nitc --check m
t _nitc 'plot' nitc p
t _nitc '--title' nitc plot log.jsonl --t
t _nitc 'log.jsonl sub' nitc plot ''
t _nitc '' nitc plot log.jsonl --title ''
t _nitc 'sub' nitc --runtime-dir ''
t _nitc '' nitc --batch ''
t _nitc_model 'train eval predict export info inspect help --help --version version' ./lenet5 ''
t _nitc_model 'eval export' ./lenet5 e
t _nitc_model '--rounding --round-act --round-err --round-grad --resume' ./lenet5 train --r
t _nitc_model 'stochastic' ./lenet5 train --rounding s
t _nitc_model '--round-err=pseudo --round-err=stochastic --round-err=nearest' ./lenet5 train --round-err=
t _nitc_model 'pseudo stochastic nearest' ./lenet5 train --round-err =
t _nitc_model 'sub' ./lenet5 train --data ''
t _nitc_model 'run.ckpt' ./lenet5 eval --load r
t _nitc_model '--load --data --test-limit --batch --per-sample --per-class --json --threads --quiet --help' ./lenet5 eval --
t _nitc_model '--per-sample' ./lenet5 predict --load run.ckpt --pe
t _nitc_model '--idx --index' ./lenet5 predict --i
t _nitc_model '--load --help' ./lenet5 info --
t _nitc_model 'sub' ./lenet5 export -o ''
t _nitc_model '' ./lenet5 train --epochs ''
echo "completion: $n completions checked"

# ---- the lists against the sources -------------------------------------------
same() { # same WHAT 'LIST A' 'LIST B'
  local a b
  a=$(printf '%s\n' $2 | sort -u | tr '\n' ' ')
  b=$(printf '%s\n' $3 | sort -u | tr '\n' ' ')
  [ "$a" = "$b" ] || bad "$1: completion has '$a', the sources '$b'"
}
usage=$(sed -n '/^static const char usage\[\] =/,/;$/p' "$src/compiler/main.c" |
  sed -n 's/^[^"]*"\(.*\)"[^"]*$/\1/p' | sed 's/\\n//g')
long=$(grep -o -- '--[a-z][a-z0-9-]*' <<<"$usage")
short=$(grep -o -- '^ *-[A-Za-z][A-Za-z0-9]*' <<<"$usage" | tr -d ' ')
# "-O0 .. -O3" stands for the four levels
levels=$(grep -q -- '-O0 \.\. -O3' <<<"$usage" && echo -O0 -O1 -O2 -O3)
same "nitc options" "$_nitc_opts" "$long $short $levels"
plot_usage=$(sed -n '/^static const char usage\[\] =/,/;$/p' "$src/compiler/plot.c" |
  sed -n 's/^[^"]*"\(.*\)"[^"]*$/\1/p' | sed 's/\\n//g' | grep '^ *-')
same "nitc plot options" "$_nitc_plot_opts" "$(grep -o -- '^ *-[-a-z]*' <<<"$plot_usage" | tr -d ' ')"
kinds=$(sed -n '/kinds\[\] = {/,/};/p' "$src/compiler/main.c" | grep -o '{"[a-z]*", EMIT_' | cut -d'"' -f2)
same "--emit kinds" "$(sed -n 's/^ *--emit) COMPREPLY=(\$(compgen -W .\([^'"'"']*\).*/\1/p' "$comp")" "$kinds"
names() { grep "nit_$1_names\[" "$src/runtime/nitabi.h" | grep -o '"[a-z0-9_]*"' | tr -d '"'; }
same "recipes" "$(sed -n 's/^ *--recipe) COMPREPLY=(\$(compgen -W .\([^'"'"']*\).*/\1/p' "$comp")" "$(names recipe)"
same "rounding modes" "$(grep -A1 '^ *--rounding | --round-act' "$comp" | sed -n 's/.*compgen -W .\([^'"'"']*\).*/\1/p')" \
  "$(names round)"
sed -n '/^} FLAGS\[\] = {/,/^};/p' "$src/runtime/cli.c" |
  sed -n 's/^ *{"\([a-z-]*\)", F_[A-Z_]*, [a-z]*, \(.*\)},$/\1 \2/p' >"$tmp/flags"
[ "$(wc -l <"$tmp/flags")" -ge 20 ] || bad "the table of flags of runtime/cli.c not found"
for cmd in train:T eval:E predict:P; do
  name=${cmd%%:*} bit=${cmd##*:}
  want=$(while read -r flag cmds; do
    case "$cmds" in *"$bit"*) echo "--$flag" ;; esac
  done <"$tmp/flags")
  var=_nitc_model_$name
  same "$name options" "${!var}" "$want --help"
done

[ "$fail" -eq 0 ] && echo "completion: OK"
exit "$fail"
