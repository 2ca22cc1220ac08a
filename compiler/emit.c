/*
 * emit.c: from a checked model to the file the user asked for.
 *
 * plan -> codegen -> verify -> optimize (new pass manager, default<On>) ->
 * textual IR, assembly, an object, or an executable linked with the runtime
 * for the target. Linking runs the target's C compiler driver (cc for the
 * host, <triple>-gcc from Debian's cross toolchains otherwise) on the object
 * and libnitrt-<triple>.a; nitc itself never needs a linker of its own.
 *
 * Targets: the three this project supports, each with a sane default CPU and
 * feature set; --cpu and --features pass straight through to LLVM.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "nitc.h"

extern char **environ;

#ifndef NITC_RUNTIME_BUILD_DIR
#define NITC_RUNTIME_BUILD_DIR "."
#endif

typedef struct TargetInfo {
  const char *canon;     /* our spelling, also the runtime library suffix */
  const char *triple;    /* LLVM triple */
  const char *cc;        /* C compiler driver used to link */
  const char *cpu;       /* default CPU when cross compiling */
  const char *features;  /* default features when cross compiling */
  const char *abi;       /* target ABI name, or NULL */
} TargetInfo;

static const TargetInfo targets[] = {
  {"x86_64-linux-gnu", "x86_64-pc-linux-gnu", "x86_64-linux-gnu-gcc", "x86-64", "", NULL},
  {"aarch64-linux-gnu", "aarch64-unknown-linux-gnu", "aarch64-linux-gnu-gcc", "generic", "+neon", NULL},
  {"riscv64-linux-gnu", "riscv64-unknown-linux-gnu", "riscv64-linux-gnu-gcc", "generic-rv64",
   "+m,+a,+f,+d,+c", "lp64d"},
};

static const TargetInfo *find_target(const char *name) {
  if (!name) {
#if defined(__x86_64__)
    return &targets[0];
#elif defined(__aarch64__)
    return &targets[1];
#elif defined(__riscv) && __riscv_xlen == 64
    return &targets[2];
#else
    return NULL;
#endif
  }
  /* Accept the usual spellings: the arch alone, or any vendor/OS in between. */
  size_t n = strcspn(name, "-");
  char arch[32];
  if (n >= sizeof arch) return NULL;
  memcpy(arch, name, n);
  arch[n] = 0;
  if (!strcmp(arch, "x86_64") || !strcmp(arch, "x86-64") || !strcmp(arch, "amd64")) return &targets[0];
  if (!strcmp(arch, "aarch64") || !strcmp(arch, "arm64")) return &targets[1];
  if (!strcmp(arch, "riscv64") || !strcmp(arch, "rv64")) return &targets[2];
  return NULL;
}

static bool is_host(const TargetInfo *ti) { return ti == find_target(NULL); }

static void init_llvm(void) {
  LLVMInitializeX86TargetInfo();
  LLVMInitializeX86Target();
  LLVMInitializeX86TargetMC();
  LLVMInitializeX86AsmPrinter();
  LLVMInitializeAArch64TargetInfo();
  LLVMInitializeAArch64Target();
  LLVMInitializeAArch64TargetMC();
  LLVMInitializeAArch64AsmPrinter();
  LLVMInitializeRISCVTargetInfo();
  LLVMInitializeRISCVTarget();
  LLVMInitializeRISCVTargetMC();
  LLVMInitializeRISCVAsmPrinter();
}

static int run(char *const argv[]) {
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
  if (rc != 0) return -rc;
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static bool file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where libnitrt-<target>.a lives: --runtime-dir, $NITC_RUNTIME_DIR, the
 * build tree nitc was built in, then ../lib/nitc next to the executable. */
static bool find_runtime(const Options *opt, const TargetInfo *ti, char *out, size_t cap) {
  const char *dirs[4];
  int nd = 0;
  if (opt->runtime_dir) dirs[nd++] = opt->runtime_dir;
  if (getenv("NITC_RUNTIME_DIR")) dirs[nd++] = getenv("NITC_RUNTIME_DIR");
  dirs[nd++] = NITC_RUNTIME_BUILD_DIR;
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 32);
  if (len > 0) {
    self[len] = 0;
    char *slash = strrchr(self, '/');
    if (slash) {
      strcpy(slash, "/../lib/nitc");
      dirs[nd++] = self;
    }
  }
  for (int i = 0; i < nd; i++) {
    snprintf(out, cap, "%s/libnitrt-%s.a", dirs[i], ti->canon);
    if (file_exists(out)) return true;
  }
  snprintf(out, cap, "%s/libnitrt-%s.a", dirs[0], ti->canon);
  return false;
}

static const char *default_output(const Model *m, EmitKind k, char *buf, size_t cap) {
  const char *ext = k == EMIT_LLVM ? ".ll" : k == EMIT_ASM ? ".s" : k == EMIT_OBJ ? ".o" : "";
  snprintf(buf, cap, "%s%s", m ? m->name : "gemm", ext);
  return buf;
}

int emit_program(Model *m, const Options *opt) {
  Plan *plan = m ? plan_build(m) : NULL; /* reports a model over the memory limit */
  if (m && !plan)
    return 1;
  const TargetInfo *ti = find_target(opt->target);
  if (!ti) {
    fprintf(stderr, "nitc: error: unknown target '%s' (expected x86_64-linux-gnu, aarch64-linux-gnu or "
                    "riscv64-linux-gnu)\n", opt->target);
    return 1;
  }
  for (int i = 0; m && i < m->nnodes; i++) {
    OpKind op = m->nodes[i].op;
    if (op == OP_BATCHNORM || op == OP_L1NORM) {
      fprintf(stderr, "%s:%d:%d: error: layer '%s' (%s) has no integer training recipe yet; "
                      "nitc --check accepts it, code generation does not\n",
              opt->input, m->nodes[i].loc.line, m->nodes[i].loc.col, m->nodes[i].name,
              op == OP_BATCHNORM ? "batchnorm" : "l1norm");
      return 1;
    }
  }
  for (int i = 0; m && i < m->nnodes; i++)
    for (int j = 0; j < m->nodes[i].nin; j++)
      if (m->nodes[i].in[j] == m->output) {
        fprintf(stderr, "%s:%d:%d: error: the output value '%s' is also used by '%s'; code generation needs "
                        "the logits to be the network's last value\n",
                opt->input, m->nodes[i].loc.line, m->nodes[i].loc.col, m->nodes[m->output].name, m->nodes[i].name);
        return 1;
      }
  init_llvm();

  char *host_cpu = NULL, *host_feat = NULL;
  CgTarget t = {ti->triple, ti->cpu, ti->features};
  if (is_host(ti) && !opt->target) {
    host_cpu = LLVMGetHostCPUName();
    host_feat = LLVMGetHostCPUFeatures();
    t.cpu = host_cpu;
    t.features = host_feat;
  }
  if (opt->cpu) t.cpu = opt->cpu;
  if (opt->features) t.features = opt->features;

  char *err = NULL;
  LLVMTargetRef target;
  if (LLVMGetTargetFromTriple(ti->triple, &target, &err)) {
    fprintf(stderr, "nitc: error: LLVM has no target for %s: %s\n", ti->triple, err);
    LLVMDisposeMessage(err);
    return 1;
  }
  LLVMTargetMachineOptionsRef to = LLVMCreateTargetMachineOptions();
  LLVMTargetMachineOptionsSetCPU(to, t.cpu);
  LLVMTargetMachineOptionsSetFeatures(to, t.features);
  if (ti->abi) LLVMTargetMachineOptionsSetABI(to, ti->abi);
  LLVMTargetMachineOptionsSetRelocMode(to, LLVMRelocPIC);
  LLVMTargetMachineOptionsSetCodeGenOptLevel(to, opt->opt_level == 0 ? LLVMCodeGenLevelNone
                                                 : opt->opt_level == 1 ? LLVMCodeGenLevelLess
                                                 : opt->opt_level == 2 ? LLVMCodeGenLevelDefault
                                                                       : LLVMCodeGenLevelAggressive);
  LLVMTargetMachineRef tm = LLVMCreateTargetMachineWithOptions(target, ti->triple, to);
  LLVMDisposeTargetMachineOptions(to);
  if (!tm) {
    fprintf(stderr, "nitc: error: cannot create a target machine for %s (cpu '%s', features '%s')\n",
            ti->triple, t.cpu, t.features);
    return 1;
  }

  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = m ? cg_module(ctx, m, plan, &t) : cg_gemm_module(ctx, &t, opt->gemm[0], opt->gemm[1], opt->gemm[2]);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(mod, td);
  LLVMDisposeTargetData(td);
  if (ti->abi) {
    LLVMMetadataRef md = LLVMMDStringInContext2(ctx, ti->abi, strlen(ti->abi));
    LLVMAddModuleFlag(mod, LLVMModuleFlagBehaviorError, "target-abi", 10, md);
  }
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &err)) {
    fprintf(stderr, "nitc: internal error: generated module does not verify:\n%s\n", err);
    LLVMDisposeMessage(err);
    exit(2);
  }
  LLVMDisposeMessage(err);
  err = NULL;

  char passes[32];
  snprintf(passes, sizeof passes, "default<O%d>", opt->opt_level);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMErrorRef perr = LLVMRunPasses(mod, passes, tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (perr) {
    char *msg = LLVMGetErrorMessage(perr);
    fprintf(stderr, "nitc: internal error: optimization failed: %s\n", msg);
    LLVMDisposeErrorMessage(msg);
    exit(2);
  }

  char outbuf[4096];
  const char *out = opt->output ? opt->output : default_output(m, opt->emit, outbuf, sizeof outbuf);
  int rc = 0;
  if (opt->emit == EMIT_LLVM) {
    if (LLVMPrintModuleToFile(mod, out, &err)) {
      fprintf(stderr, "nitc: error: cannot write '%s': %s\n", out, err);
      rc = 1;
    }
  } else if (opt->emit == EMIT_ASM || opt->emit == EMIT_OBJ) {
    if (LLVMTargetMachineEmitToFile(tm, mod, (char *)out, opt->emit == EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile,
                                    &err)) {
      fprintf(stderr, "nitc: error: cannot write '%s': %s\n", out, err);
      rc = 1;
    }
  } else {
    char rt[4096];
    if (!find_runtime(opt, ti, rt, sizeof rt)) {
      fprintf(stderr, "nitc: error: the runtime for %s is not built (looked for %s); %s\n", ti->canon, rt,
              is_host(ti) ? "build the project first (scripts/build)"
                          : "install the cross toolchain (scripts/install-deps) and rebuild");
      rc = 1;
      goto done;
    }
    char obj[4200];
    snprintf(obj, sizeof obj, "%s.nitc-%d.o", out, (int)getpid());
    if (LLVMTargetMachineEmitToFile(tm, mod, obj, LLVMObjectFile, &err)) {
      fprintf(stderr, "nitc: error: cannot write '%s': %s\n", obj, err);
      rc = 1;
      goto done;
    }
    const char *cc = is_host(ti) ? (getenv("CC") ? getenv("CC") : "cc") : ti->cc;
    char *argv[] = {(char *)cc, "-o", (char *)out, obj, rt, "-lpthread", NULL};
    int lr = run(argv);
    remove(obj);
    if (lr < 0) {
      fprintf(stderr, "nitc: error: cannot run the linker '%s': %s%s\n", cc, strerror(-lr),
              is_host(ti) ? "" : " (install the cross toolchain: scripts/install-deps)");
      rc = 1;
    } else if (lr != 0) {
      fprintf(stderr, "nitc: error: linking '%s' with %s failed (exit %d)\n", out, cc, lr);
      rc = 1;
    }
  }
done:
  if (err) LLVMDisposeMessage(err);
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  LLVMDisposeTargetMachine(tm);
  if (host_cpu) LLVMDisposeMessage(host_cpu);
  if (host_feat) LLVMDisposeMessage(host_feat);
  return rc;
}
