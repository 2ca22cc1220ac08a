# Bash completion for nitc and for the training executables it builds.
#
#   . completions/nitc.bash                  # in ~/.bashrc, or install as
#                                            # /usr/share/bash-completion/completions/nitc
#
# nitc completes its options, their fixed values (--emit, --target,
# --recipe, ...) and .nit files, and after `nitc plot` that command's
# options and .jsonl logs. A training executable is named after its
# model, so register each one you use:
#
#   complete -F _nitc_model lenet5 ./lenet5
#
# It then completes the commands (train, eval, predict, export, info,
# inspect, help), the options of the command given (nitc-model(1)) and file
# or directory arguments: checkpoints for --load and inspect, a directory
# for export's -o/--out. The lists follow compiler/main.c and runtime/cli.c; the ctest
# companions_completion checks them against those files.

_nitc_opts='-o --target --cpu --features --emit -O0 -O1 -O2 -O3 --check --batch
  --weight-bits --recipe --master-bits --grad-bits --runtime-dir --jobs --time-report --keep-tensors --mpi
  --gemm-kernel --help --version'
# nitc plot (compiler/plot.c): values only as the next word
_nitc_plot_opts='-o --title --acc-from --script --help'

# _nitc_split: cur and prev, with "--opt=value" seen as "--opt" "value"
# whatever COMP_WORDBREAKS holds. When "=" is no word break, the whole word
# is replaced, so pre keeps "--opt=" to put back in front of each candidate.
_nitc_split() {
  cur=${COMP_WORDS[COMP_CWORD]}
  prev='' pre=''
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  if [[ $cur == = ]]; then # bash split "--opt=" into "--opt" "="
    cur=
  elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then # "--opt" "=" "val"
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  elif [[ $cur == --*=* ]]; then # "--opt=val" is one word
    prev=${cur%%=*}
    pre=$prev=
    cur=${cur#*=}
  fi
}

_nitc_prefix() {
  [[ -n $pre ]] && COMPREPLY=("${COMPREPLY[@]/#/$pre}")
  return 0
}

# _nitc_files [GLOB]: files (matching GLOB) and directories.
_nitc_files() {
  local IFS=$'\n'
  compopt -o filenames 2>/dev/null
  if [[ -n ${1-} ]]; then
    COMPREPLY=($(compgen -f -X "!$1" -- "$cur") $(compgen -d -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}

_nitc_dirs() {
  local IFS=$'\n'
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -d -- "$cur"))
}

_nitc() {
  local cur prev pre
  _nitc_split
  _nitc_values
  _nitc_prefix
}

_nitc_values() {
  if ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[1]} == plot ]]; then
    _nitc_plot_values
    return
  fi
  case $prev in
  -o) _nitc_files; return ;;
  --target)
    COMPREPLY=($(compgen -W 'x86_64-linux-gnu aarch64-linux-gnu riscv64-linux-gnu' -- "$cur"))
    return ;;
  --cpu) COMPREPLY=($(compgen -W 'help' -- "$cur")); return ;;
  --emit) COMPREPLY=($(compgen -W 'exe obj asm llvm shapes' -- "$cur")); return ;;
  --recipe) COMPREPLY=($(compgen -W 'niti ghaffari shiftquant unified' -- "$cur")); return ;;
  --master-bits) COMPREPLY=($(compgen -W '16 32' -- "$cur")); return ;;
  --weight-bits) COMPREPLY=($(compgen -W '8 9 10 11 12 13 14 15 16' -- "$cur")); return ;;
  --grad-bits) COMPREPLY=($(compgen -W '2 3 4 5 6 7 8' -- "$cur")); return ;;
  --runtime-dir) _nitc_dirs; return ;;
  --features | --batch | --jobs | --gemm-kernel) return ;; # free-form values
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$_nitc_opts" -- "$cur"))
  else
    _nitc_files '*.nit'
    # the command plot once its first letter is typed (an empty word: files)
    ((COMP_CWORD == 1)) && [[ -n $cur ]] && COMPREPLY+=($(compgen -W 'plot' -- "$cur"))
  fi
}

_nitc_plot_values() {
  case $prev in
  -o | --script) _nitc_files; return ;;
  --title | --acc-from) return ;; # free-form values
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$_nitc_plot_opts" -- "$cur"))
  else
    _nitc_files '*.jsonl'
  fi
}

# Options of each command of a training executable (runtime/cli.c, FLAGS).
_nitc_model_train='--data --epochs --max-steps --batch --seed --save --save-every --save-best
  --save-init --resume --log --threads --rounding --round-act --round-err --round-grad
  --update-bits --decay --lr --momentum --holdout --limit --test-limit --quiet
  --progress --telemetry --help'
_nitc_model_eval='--load --data --test-limit --batch --per-sample --per-class --json
  --threads --quiet --help'
_nitc_model_predict='--load --idx --raw --csv --index --count --batch --per-sample
  --logits --threads --help'
_nitc_model_export='--load --out -o --verify --help'
_nitc_model_info='--load --help'
_nitc_model_inspect='--load --help'

_nitc_model() {
  local cur prev pre
  _nitc_split
  _nitc_model_values
  _nitc_prefix
}

_nitc_model_values() {
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W 'train eval predict export info inspect help --help --version
      version' -- "$cur"))
    return
  fi
  case $prev in
  --data | --out | -o) _nitc_dirs; return ;;
  --save | --save-init | --save-best | --resume | --load | --log | --idx | --raw | --csv)
    _nitc_files
    return ;;
  --rounding | --round-act | --round-err | --round-grad)
    COMPREPLY=($(compgen -W 'pseudo stochastic nearest' -- "$cur"))
    return ;;
  --decay) COMPREPLY=($(compgen -W 'on off' -- "$cur")); return ;;
  --epochs | --max-steps | --batch | --seed | --threads | --update-bits | --lr | --momentum | --holdout | \
    --limit | --test-limit | --index | --count | --save-every | --progress | --telemetry | --verify)
    return ;; # numbers
  esac
  local opts
  case ${COMP_WORDS[1]} in
  train) opts=$_nitc_model_train ;;
  eval) opts=$_nitc_model_eval ;;
  predict) opts=$_nitc_model_predict ;;
  export) opts=$_nitc_model_export ;;
  info) opts=$_nitc_model_info ;;
  inspect) # inspect CKPT: the checkpoint as a plain argument, once
    if _nitc_model_has_ckpt; then
      opts=--help
    elif [[ $cur == -* ]]; then
      opts=$_nitc_model_inspect
    else
      _nitc_files
      return
    fi
    ;;
  *) return ;; # help, --version take nothing
  esac
  [[ -z $cur || $cur == -* ]] && COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

# _nitc_model_has_ckpt: inspect's command line before the word being
# completed already names its checkpoint (a plain argument or --load).
_nitc_model_has_ckpt() {
  local i w
  for ((i = 2; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
    --load | --load=*) return 0 ;;
    = | -*) ;;
    *) [[ ${COMP_WORDS[i - 1]} != --load && ${COMP_WORDS[i - 1]} != = ]] && return 0 ;;
    esac
  done
  return 1
}

complete -F _nitc nitc
