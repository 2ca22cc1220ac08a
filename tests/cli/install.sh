#!/bin/sh
# cmake --install into a prefix, the prefix moved elsewhere, and the moved
# nitc compiles examples/mlp.nit and the program trains: nitc finds its
# runtime relative to its own executable. A lone copy of nitc (no runtime
# beside it) says where it looked and fails: no path into the build tree is
# compiled in. Then the install-time rules for man/, completions/ and
# editors/ on a made-up source tree.
# usage: install.sh CMAKE BUILD_DIR SOURCE_DIR MKDATA WORK_DIR
cmake=$1 build=$2 src=$3 mkdata=$4 work=$5
rm -rf "$work" && mkdir -p "$work" || exit 1
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
unset NITC_RUNTIME_DIR

"$cmake" --install "$build" --prefix "$work/staged" >"$work/install.out" 2>&1 ||
  { cat "$work/install.out"; echo "FAIL cmake --install"; exit 1; }
mv "$work/staged" "$work/moved" || exit 1
p=$work/moved
[ -x "$p/bin/nitc" ] && ok "bin/nitc" || bad "bin/nitc"
rt=$(find "$p" -name libnitrt-x86_64-linux-gnu.a | head -1)
case $rt in */nitc/libnitrt-x86_64-linux-gnu.a) ok "runtime in ${rt#"$p"/}" ;; *) bad "no runtime archive" ;; esac
[ -f "$p/include/nitc/nitabi.h" ] && [ -f "$p/include/nitc/nitrt.h" ] && ok "headers" || bad "headers"
for d in man completions editors; do
  if [ -d "$src/$d" ]; then
    [ -n "$(find "$p/share" -path "*$d*" -type f 2>/dev/null | head -1)" ] && ok "$d/ installed" || bad "$d/ not installed"
  fi
done

# the moved nitc compiles and links; the program trains on synthetic data
mkdir -p "$work/data"
"$mkdata" idx "$work/data" 300 100 1 28 28 10 || exit 1
if "$p/bin/nitc" "$src/examples/mlp.nit" --batch 32 -o "$work/mlp" 2>"$work/nitc.err"; then
  ok "moved nitc compiles examples/mlp.nit"
else
  cat "$work/nitc.err"; bad "moved nitc compiles examples/mlp.nit"
fi
"$work/mlp" train --data "$work/data" --epochs 1 --quiet --log "$work/log.jsonl" >"$work/train.out" 2>&1 &&
  grep -q '"epoch":1,' "$work/log.jsonl" && ok "the program trains" || { cat "$work/train.out"; bad "the program trains"; }

# a copy without its lib/nitc: an error naming where it looked, exit 1
mkdir -p "$work/lone/bin" && cp "$p/bin/nitc" "$work/lone/bin/nitc"
"$work/lone/bin/nitc" "$src/examples/mlp.nit" -o "$work/lone/mlp" 2>"$work/lone.err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "^nitc: error: the runtime for x86_64-linux-gnu is not found (looked for libnitrt-x86_64-linux-gnu.a in $work/lone/bin/../lib/nitc, $work/lone/bin/../runtime)" "$work/lone.err" &&
  ok "a lone nitc does not reach into the build tree" || { cat "$work/lone.err"; bad "lone nitc: exit $rc"; }
# --runtime-dir still points it at one
"$work/lone/bin/nitc" "$src/examples/mlp.nit" --runtime-dir "$(dirname "$rt")" -o "$work/lone/mlp" &&
  ok "--runtime-dir" || bad "--runtime-dir"

# where nitc looks for the installed runtime (cmake/runtime_path.cmake):
# relative to bin/ while the install directories are relative, so that the
# tree moves; absolute once either is absolute, where moving the prefix
# would leave the relative path pointing at nothing
runtime_path() { "$cmake" -DBINDIR="$1" -DLIBDIR="$2" -DFULL_LIBDIR="$3" -P "$src/cmake/runtime_path.cmake" 2>&1; }
for c in "bin lib /p/lib ../lib/nitc" "bin lib64 /p/lib64 ../lib64/nitc" \
         "bin lib/x86_64-linux-gnu /p/lib/x86_64-linux-gnu ../lib/x86_64-linux-gnu/nitc" \
         "tools/bin lib /p/lib ../../lib/nitc" \
         "bin /usr/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/nitc" \
         "/opt/bin lib /p/lib /p/lib/nitc"; do
  set -- $c
  got=$(runtime_path "$1" "$2" "$3")
  [ "$got" = "$4" ] && ok "runtime path for bin=$1 lib=$2: $got" || bad "runtime path for bin=$1 lib=$2: '$got', not '$4'"
done

# man/, completions/, editors/ from a made-up source tree
f=$work/fake
mkdir -p "$f/man/man5" "$f/completions/bash" "$f/editors/vim/syntax"
touch "$f/man/nitc.1" "$f/man/man5/nit.5" "$f/man/README" "$f/completions/bash/nitc" "$f/completions/nitc.zsh" \
  "$f/completions/nitc.fish" "$f/editors/vim/syntax/nit.vim"
"$cmake" -DNITC_SOURCE_DIR="$f" -DNITC_MANDIR=share/man -DNITC_DATADIR=share -DCMAKE_INSTALL_PREFIX="$work/x" \
  -P "$src/cmake/install_extras.cmake" >"$work/extras.out" 2>&1 || { cat "$work/extras.out"; bad "install_extras"; }
for g in share/man/man1/nitc.1 share/man/man5/nit.5 share/bash-completion/completions/nitc \
         share/zsh/vendor-completions/_nitc share/fish/vendor_completions.d/nitc.fish \
         share/nitc/completions/nitc.zsh share/nitc/editors/vim/syntax/nit.vim; do
  [ -f "$work/x/$g" ] && ok "$g" || bad "$g"
done
[ -e "$work/x/share/man/README" ] && bad "a file without a section went into share/man"

# the uninstall target removes what the install put in place, and the
# directories of nitc's own left empty; nothing else
"$cmake" --install "$build" --prefix "$work/u" >"$work/u.out" 2>&1 || { cat "$work/u.out"; bad "install for uninstall"; }
mkdir -p "$work/u/share/other" && touch "$work/u/share/other/keep" "$work/u/bin/other-tool"
n=$(find "$work/u" -type f | wc -l)
"$cmake" --build "$build" --target uninstall >"$work/un.out" 2>&1 || { cat "$work/un.out"; bad "uninstall ran"; }
grep -q "nitc: $((n - 2)) files uninstalled" "$work/un.out" && ok "uninstall removed the $((n - 2)) installed files" ||
  { tail -3 "$work/un.out"; bad "uninstall's count"; }
left=$(cd "$work/u" && find . -type f | sort | tr '\n' ' ')
[ "$left" = "./bin/other-tool ./share/other/keep " ] && ok "only the foreign files are left" || bad "left: $left"
[ -e "$work/u/lib/nitc" ] || [ -e "$work/u/include/nitc" ] || [ -e "$work/u/share/nitc" ] &&
  bad "a directory of nitc's own is left" || ok "nitc's own directories are gone"
[ -d "$work/u/bin" ] && ok "bin/ stays" || bad "bin/ was removed"
[ "$fail" -eq 0 ] && rm -rf "$work"
exit "$fail"
