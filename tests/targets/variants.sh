# shellcheck shell=bash
# The targets every cross-target test runs, as one table (sourced by
# cross.sh, resume.sh, codegen/run_diff.sh and codegen/run_ranks.sh):
# variant | nitc flags | runner.
# x86-64: the host's kernels (VNNI where it has it), x86-64-v3 = AVX2
# through the generic kernel, x86-64 = SSE2 (128-bit vectors), and the host
# with its code in one unit and in three (--jobs); AArch64: NEON through the
# generic kernel, and +dotprod = sdot; RISC-V: scalar, and +v = RVV through
# the generic kernel. The cross variants run under qemu-user with Debian's
# cross sysroots.
# shellcheck disable=SC2034  # used by the scripts that source this file
variants=(
  "x86_64|||"
  "x86_64-jobs1|--jobs 1|"
  "x86_64-jobs3|--jobs 3|"
  "x86_64-avx2|--target x86_64-linux-gnu --cpu x86-64-v3|"
  "x86_64-sse2|--target x86_64-linux-gnu --cpu x86-64|"
  "aarch64|--target aarch64-linux-gnu|qemu-aarch64 -L /usr/aarch64-linux-gnu"
  "aarch64-sdot|--target aarch64-linux-gnu --features +neon,+dotprod|qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu"
  "riscv64|--target riscv64-linux-gnu|qemu-riscv64 -L /usr/riscv64-linux-gnu"
  "riscv64-rvv|--target riscv64-linux-gnu --features +m,+a,+f,+d,+c,+v|qemu-riscv64 -cpu rv64,v=true,vlen=128 -L /usr/riscv64-linux-gnu"
)

# variant NAME: sets v_flags, v_run and v_triple (the GNU triple whose
# compiler links the variant's programs; empty for the host) from the
# table; false when NAME is not in it.
variant() {
  local v t flags run
  for v in "${variants[@]}"; do
    IFS='|' read -r t flags run _ <<< "$v"
    [ "$t" = "$1" ] || continue
    v_flags="$flags"; v_run="$run"; v_triple=""
    [[ "$flags" =~ --target\ ([^ ]+) ]] && [ -n "$run" ] && v_triple="${BASH_REMATCH[1]}"
    return 0
  done
  return 1
}

# diff_variant SCRIPT: for the differential scripts, the cross variant
# NITC_DIFF_VARIANT names (v_flags, v_run, v_triple as variant sets them,
# and v_cc, its compiler); false when NITC_DIFF_VARIANT is unset or empty
# (the host: v_flags and v_run empty, v_cc unset). A variant that is not
# a cross one ends SCRIPT with a message and exit status 2.
v_flags="" v_run=""
diff_variant() {
  [ -n "${NITC_DIFF_VARIANT:-}" ] || return 1
  if ! variant "$NITC_DIFF_VARIANT" || [ -z "$v_triple" ]; then
    echo "$1: NITC_DIFF_VARIANT=$NITC_DIFF_VARIANT is not a cross variant of tests/targets/variants.sh" >&2
    exit 2
  fi
  v_cc="$v_triple-gcc"
}
