#!/usr/bin/env bash
# The man pages (man/nitc.1, man/nitc-model.1) against the command lines.
# usage: man.sh SOURCE_DIR
#
# 1. Each page renders without a warning: mandoc -T lint when installed,
#    else groff -ww (and man --warnings -l when man-db is installed). With
#    no renderer at all the test is skipped (exit 77).
# 2. Every option of compiler/main.c's usage text appears in the rendered
#    nitc(1); every option of runtime/cli.c's usage text and of its table of
#    flags appears in the rendered nitc-model(1), each command has its
#    synopsis line, and the eval and predict synopses list every flag the
#    table gives those commands.
# 3. The version in each page's header is compiler/nitc.h's NITC_VERSION.
set -u
src=${1:?usage: man.sh SOURCE_DIR}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
pages="nitc nitc-model"

# ---- 1. rendering ------------------------------------------------------------
render() { # render PAGE > plain text
  if command -v mandoc >/dev/null 2>&1; then
    mandoc -T ascii "$1"
  else
    groff -man -Tascii -P-c -rLL=80n "$1" 2>/dev/null
  fi | sed 's/.\x08//g' | tr -s ' '   # no overstrikes, no justification spaces
}
if command -v mandoc >/dev/null 2>&1; then
  lint="mandoc -T lint"
elif command -v groff >/dev/null 2>&1; then
  lint="groff -ww"
else
  echo "man: neither mandoc nor groff is installed; skipped"
  exit 77
fi
for p in $pages; do
  f=$src/man/$p.1
  [ -f "$f" ] || { bad "$f is missing"; continue; }
  if [ "$lint" = "mandoc -T lint" ]; then
    mandoc -T lint -W warning "$f" >"$tmp/lint" 2>&1
  else
    groff -man -ww -z "$f" >"$tmp/lint" 2>&1
  fi
  [ -s "$tmp/lint" ] && { bad "$lint $p.1:"; cat "$tmp/lint"; }
  if command -v man >/dev/null 2>&1 && man --help 2>&1 | grep -q -- '--warnings'; then
    MANWIDTH=80 man --warnings -l "$f" 2>"$tmp/lint" >/dev/null
    [ -s "$tmp/lint" ] && { bad "man --warnings -l $p.1:"; cat "$tmp/lint"; }
  fi
  render "$f" >"$tmp/$p.txt"
  [ -s "$tmp/$p.txt" ] || bad "$p.1 renders to nothing"
done
echo "man: pages checked with $lint"

# ---- 2. options ----------------------------------------------------------------
# The string lines of a usage text, without the C quoting.
strings_of() { sed -n 's/^[^"]*"\(.*\)"[^"]*$/\1/p' | sed 's/\\n//g'; }
# Long options anywhere; short ones where an option line starts or after "..".
options_of() {
  grep -o -- '--[a-z][a-z0-9-]*' "$1"
  grep -o -- '^ *-[A-Za-z][A-Za-z0-9]*\|\.\. -[A-Za-z][A-Za-z0-9]*' "$1" | grep -o -- '-[A-Za-z0-9]*$'
}
has_option() { # has_option PAGE OPTION
  grep -q -- "\(^\|[^A-Za-z0-9-]\)$2\([^A-Za-z0-9-]\|$\)" "$tmp/$1.txt"
}

sed -n '/^static const char usage\[\] =/,/;$/p' "$src/compiler/main.c" | strings_of >"$tmp/nitc.usage"
sed -n '/^void nitrt_usage/,/^}/p' "$src/runtime/cli.c" | strings_of >"$tmp/model.usage"
[ -s "$tmp/nitc.usage" ] || bad "usage text of compiler/main.c not found"
[ -s "$tmp/model.usage" ] || bad "usage text of runtime/cli.c not found"
n=0
for o in $(options_of "$tmp/nitc.usage" | sort -u); do
  n=$((n + 1))
  has_option nitc "$o" || bad "nitc.1 lacks $o (compiler/main.c's usage text)"
done
echo "man: $n options of nitc's usage text found in nitc.1"
[ "$n" -ge 15 ] || bad "only $n options found in compiler/main.c's usage text"

# The table of flags: {"name", F_ID, takes-a-value, T | E | P}
sed -n '/^} FLAGS\[\] = {/,/^};/p' "$src/runtime/cli.c" |
  sed -n 's/^ *{"\([a-z-]*\)", F_[A-Z_]*, [a-z]*, \(.*\)},$/\1 \2/p' >"$tmp/flags"
[ "$(wc -l <"$tmp/flags")" -ge 20 ] || bad "the table of flags of runtime/cli.c not found"
n=0
for o in $( { options_of "$tmp/model.usage"; sed 's/^\([a-z-]*\) .*/--\1/' "$tmp/flags"; } | sort -u); do
  n=$((n + 1))
  has_option nitc-model "$o" || bad "nitc-model.1 lacks $o (runtime/cli.c)"
done
echo "man: $n options of runtime/cli.c found in nitc-model.1"

# Commands: every one runtime/cli.c accepts has a synopsis line.
for c in $(sed -n '/^int nitrt_parse_args/,/^  for /p' "$src/runtime/cli.c" | grep -o 'strcmp(c, "[a-z-]*")' |
  cut -d'"' -f2); do
  grep -q -- "^ *MODEL.*[ |]$c\([ |]\|$\)" "$tmp/nitc-model.txt" ||
    bad "nitc-model.1 has no synopsis line for '$c'"
done
# The eval and predict synopses list every flag of that command.
for cmd in eval:E predict:P; do
  name=${cmd%%:*} bit=${cmd##*:}
  sed -n "/^ *MODEL $name /,/^ *\$/p" "$tmp/nitc-model.txt" >"$tmp/syn.$name"
  [ -s "$tmp/syn.$name" ] || { bad "no synopsis of $name in nitc-model.1"; continue; }
  while read -r flag cmds; do
    case "$cmds" in *"$bit"*) ;; *) continue ;; esac
    grep -q -- "--$flag\([^a-z-]\|$\)" "$tmp/syn.$name" || bad "the synopsis of $name lacks --$flag"
  done <"$tmp/flags"
done

# ---- 3. version ----------------------------------------------------------------
v=$(sed -n 's/^#define NITC_VERSION "\(.*\)"$/\1/p' "$src/compiler/nitc.h")
for p in $pages; do
  grep -q "^\.TH .*\"nitc $v\"" "$src/man/$p.1" || bad "$p.1's header does not say nitc $v"
done

[ "$fail" -eq 0 ] && echo "man: OK"
exit "$fail"
