# shellcheck shell=bash
# The targets the exported C is compiled for and run on (sourced by
# export.sh and export_diff.sh): x86-64 natively, and AArch64, RISC-V 64 and
# 32-bit ARM under qemu-user where their compilers and qemu are installed
# (a note names each one skipped). Sets `targets`, entries of
# "name compiler qemu sysroot" ("-" for none), and `cflags`, the flags the
# exported C must compile cleanly under.
# shellcheck disable=SC2034  # used by the scripts that source this file
cflags=(-O2 -std=c99 -Wall -Wextra -Werror -pedantic)
targets=("x86-64 cc - -")
for t in "aarch64 aarch64-linux-gnu-gcc qemu-aarch64 /usr/aarch64-linux-gnu" \
         "riscv64 riscv64-linux-gnu-gcc qemu-riscv64 /usr/riscv64-linux-gnu" \
         "arm32 arm-linux-gnueabihf-gcc qemu-arm /usr/arm-linux-gnueabihf"; do
  read -r name cc qemu root <<< "$t"
  if command -v "$cc" > /dev/null && command -v "$qemu" > /dev/null; then
    targets+=("$t")
  else
    echo "note: $name skipped ($cc or $qemu missing)"
  fi
done

# export_run QEMU SYSROOT BIN ARGS...: BIN run natively, or under QEMU
# with the sysroot.
export_run() {
  local qemu="$1" root="$2"
  shift 2
  if [ "$qemu" = - ]; then "$@"; else "$qemu" -L "$root" "$@"; fi
}
