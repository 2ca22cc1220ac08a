#!/usr/bin/env bash
# The editor grammars (editors/vim, editors/vscode) against the sources.
# usage: editors.sh SOURCE_DIR
#
# 1. Every word the language knows appears in both grammars' patterns
#    (comments of the grammar files do not count):
#    - the keywords of the scanner, grammar/nit.l, and the quoted token names
#      of grammar/nit.y (the two must agree);
#    - the layer kinds of compiler/sema_layers.c's table;
#    - the train settings of compiler/sema_train.c's table;
#    - the recipe, rounding and grouping names of runtime/nitabi.h;
#    - the value words sema_train.c compares against, except the argument
#      names (both grammars colour any NAME before '=').
# 2. The JSON files of editors/vscode parse (python3 -m json.tool) and every
#    regular expression of the TextMate grammar compiles.
# 3. tests/companions/sample.nit, every token class of the scanner, is
#    coloured as expected by the TextMate grammar (tmgrammar.py) and, when
#    vim is installed, by the Vim syntax file.
set -u
src=${1:?usage: editors.sh SOURCE_DIR}
here=$src/tests/companions
vimsyn=$src/editors/vim/syntax/nit.vim
tmjson=$src/editors/vscode/syntaxes/nit.tmLanguage.json
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# ---- 1. the words --------------------------------------------------------
# nit.l: rules of the form  "word"  { TOK(...); }  between the %% lines
lexwords=$(sed -n '/^%%/,/^%%/p' "$src/grammar/nit.l" |
  sed -n 's/^"\([A-Za-z_][A-Za-z0-9_]*\)"[[:space:]].*/\1/p' | sort -u)
# nit.y: %token NAME "'word'"
ywords=$(grep '^%token' "$src/grammar/nit.y" | grep -o "\"'[A-Za-z_][A-Za-z0-9_]*'\"" | tr -d "\"'" | sort -u)
[ -n "$lexwords" ] || bad "no keywords found in grammar/nit.l"
[ "$lexwords" = "$ywords" ] || bad "keywords of nit.l ($lexwords) and nit.y ($ywords) differ"
layers=$(sed -n '/^static const LayerKind layers\[\]/,/^};/p' "$src/compiler/sema_layers.c" | tr '\n' ' ' |
  grep -o '{"[a-z0-9_]*",[[:space:]]*OP_\|CONV_ROW("[a-z0-9_]*")' | grep -o '"[a-z0-9_]*"' | tr -d '"')
[ "$(echo "$layers" | wc -w)" -ge 10 ] || bad "layer table of compiler/sema_layers.c not found"
settings=$(grep -o '{"[a-z_]*", set_[a-z_]*' "$src/compiler/sema_train.c" | cut -d'"' -f2)
[ "$(echo "$settings" | wc -w)" -ge 10 ] || bad "settings table of compiler/sema_train.c not found"
names=$(grep -E 'nit_(recipe|round|groups)_names\[' "$src/runtime/nitabi.h" | grep -o '"[a-z0-9_]*"' | tr -d '"')
[ "$(echo "$names" | wc -w)" -ge 9 ] || bad "name tables of runtime/nitabi.h not found"
argnames=" act err grad view weight exp period min ratio every range grid alpha beta "
values=$( {
  grep -o 'is_word([^,]*, "[a-z0-9_]*")' "$src/compiler/sema_train.c"
  grep -o 'strcmp([a-z]*->name, "[a-z0-9_]*")' "$src/compiler/sema_train.c"
  grep 'static const char \*const [a-z_]*\[\] = {' "$src/compiler/sema_train.c"
} | grep -o '"[a-z0-9_]*"' | tr -d '"' | sort -u | while read -r w; do
  case "$argnames" in *" $w "*) ;; *) echo "$w" ;; esac
done)

# The patterns of each grammar, without comments.
grep -v '^[[:space:]]*"' "$vimsyn" >"$tmp/vim.code"
python3 - "$tmjson" >"$tmp/tm.code" <<'EOF' || bad "cannot read the patterns of $tmjson"
import json, sys
def walk(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k in ("match", "begin", "end") and isinstance(v, str):
                print(v)
            else:
                walk(v)
    elif isinstance(x, list):
        for v in x:
            walk(v)
walk(json.load(open(sys.argv[1])))
EOF
nwords=0
for w in $lexwords $layers $settings $names $values; do
  nwords=$((nwords + 1))
  for f in vim tm; do
    grep -q "\(^\|[^A-Za-z0-9_]\)$w\([^A-Za-z0-9_]\|$\)" "$tmp/$f.code" ||
      bad "'$w' is missing from the $f grammar"
  done
done
echo "editors: $nwords words checked in both grammars"

# ---- 2. JSON --------------------------------------------------------------
for j in "$tmjson" "$src/editors/vscode/package.json" "$src/editors/vscode/language-configuration.json"; do
  python3 -m json.tool "$j" >/dev/null || bad "$j does not parse"
done

# ---- 3. colours of the sample ---------------------------------------------
# LINE COL VIM-GROUP TEXTMATE-SCOPE (the innermost one; '-' for none)
cat >"$tmp/expect" <<'EOF'
1 1 nitComment comment.line.number-sign.nit
2 1 nitStructure storage.type.model.nit
2 7 nitModelName entity.name.type.model.nit
2 14 nitBrace punctuation.section.block.begin.nit
3 5 nitKeyword keyword.other.nit
3 12 nitName variable.other.definition.nit
3 14 nitNumber constant.numeric.integer.nit
4 5 nitKeyword keyword.other.nit
4 12 nitName variable.other.definition.nit
5 5 nitKeyword keyword.other.nit
5 9 nitName variable.other.definition.nit
5 11 nitOperator keyword.operator.nit
5 13 nitLayer support.function.layer.nit
5 18 nitLayer support.function.layer.nit
5 23 nitName variable.other.definition.nit
5 32 nitArgName variable.parameter.nit
5 52 nitComment comment.line.number-sign.nit
6 13 nitLayer support.function.layer.nit
6 26 nitArgName variable.parameter.nit
6 30 nitDecimal constant.numeric.decimal.nit
6 39 nitOperator keyword.operator.nit
7 5 nitLayer support.function.layer.nit
8 5 nitLayer support.function.layer.nit
8 12 nitDelimiter punctuation.terminator.statement.nit
8 14 nitLayer support.function.layer.nit
8 22 nitDecimal constant.numeric.decimal.nit
9 5 nitLayer support.function.layer.nit
9 11 nitName variable.other.definition.nit
10 1 nitBrace punctuation.section.block.end.nit
11 1 nitStructure storage.type.train.nit
12 5 nitSetting keyword.other.setting.nit
12 14 nitRecipe support.constant.recipe.nit
13 5 nitSetting keyword.other.setting.nit
13 14 nitCall support.function.nit
13 19 nitString string.quoted.double.nit
13 24 nitEscape constant.character.escape.nit
13 29 nitEscape constant.character.escape.nit
14 5 nitSetting keyword.other.setting.nit
14 14 nitArgName variable.parameter.nit
14 18 nitRounding support.constant.rounding.nit
14 26 nitArgName variable.parameter.nit
15 5 nitSetting keyword.other.setting.nit
15 18 nitSchedule keyword.operator.word.nit
15 28 nitSchedule keyword.operator.word.nit
16 5 nitSetting keyword.other.setting.nit
16 20 nitArgName variable.parameter.nit
17 5 nitSetting keyword.other.setting.nit
17 14 nitGrouping support.constant.grouping.nit
18 5 nitSetting keyword.other.setting.nit
18 14 nitBitsCall support.function.nit
19 14 nitCall support.function.nit
19 25 nitArgName variable.parameter.nit
19 29 nitValue constant.language.nit
20 1 nitBrace punctuation.section.block.end.nit
21 9 nitSetting keyword.other.setting.nit
21 19 nitSetting keyword.other.setting.nit
22 1 nitBadNumber invalid.illegal.number.nit
23 1 nitStringError invalid.illegal.unterminated-string.nit
24 6 nitBadEscape invalid.illegal.escape.nit
25 3 nitError invalid.illegal.character.nit
26 5 nitCtrlChar invalid.illegal.control-character.nit
EOF
check() { # check NAME PROBE-OUTPUT FIELD
  local name=$1 out=$2 field=$3 n=0
  while read -r line col vimg tms; do
    want=$vimg
    [ "$field" = tm ] && want=$tms
    got=$(grep "^$line:$col:" "$out" | head -1 | cut -d: -f4-)
    [ "$field" = tm ] && got=${got##* }
    if [ "$got" != "$want" ]; then
      bad "$name: sample.nit:$line:$col is '$got', expected '$want'"
    fi
    n=$((n + 1))
  done <"$tmp/expect"
  echo "editors: $name: $n positions of sample.nit checked"
}
if python3 "$here/tmgrammar.py" "$tmjson" "$here/sample.nit" >"$tmp/tm.out"; then
  check textmate "$tmp/tm.out" tm
else
  bad "tmgrammar.py failed on the TextMate grammar"
fi

if command -v vim >/dev/null 2>&1; then
  cat >"$tmp/probe.vim" <<'EOF'
set nocompatible
let &runtimepath = $NITVIM . ',' . &runtimepath
filetype plugin on
syntax on
filetype detect
let out = []
if &filetype !=# 'nit'
  call add(out, 'filetype:' . &filetype)
endif
for l in range(1, line('$'))
  let s = getline(l)
  for c in range(1, len(s))
    call add(out, l . ':' . c . ':' . s[c - 1] . ':' . synIDattr(synID(l, c, 1), 'name'))
  endfor
endfor
call writefile(out, $OUT)
qa!
EOF
  NITVIM=$src/editors/vim OUT=$tmp/vim.out vim -N -u NONE -i NONE -es -S "$tmp/probe.vim" "$here/sample.nit" \
    >"$tmp/vim.log" 2>&1 </dev/null
  if [ ! -s "$tmp/vim.out" ]; then
    bad "vim produced no output"; cat "$tmp/vim.log"
  elif grep -q '^filetype:' "$tmp/vim.out"; then
    bad "ftdetect: sample.nit got $(grep '^filetype:' "$tmp/vim.out")"
  else
    check vim "$tmp/vim.out" vim
  fi
  if [ -s "$tmp/vim.log" ]; then
    bad "vim printed messages while loading the syntax file:"; cat "$tmp/vim.log"
  fi
else
  echo "editors: vim not installed, the Vim syntax file is checked for its words only"
fi

[ "$fail" -eq 0 ] && echo "editors: OK"
exit "$fail"
