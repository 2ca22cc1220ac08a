/*
 * emit.c: from a checked model to the file the user asked for.
 *
 * plan -> codegen -> verify -> optimize (new pass manager, default<On>) ->
 * textual IR, assembly, an object, or an executable linked with the runtime
 * for the target. Linking runs the target's C compiler driver (cc for the
 * host, <triple>-gcc from Debian's cross toolchains otherwise) on the object
 * and libnitrt-<triple>.a; nitc itself never needs a linker of its own.
 * --mpi links libnitrt_mpi-<triple>.a instead (host only): the object is the
 * same. Each runtime archive has its link flags beside it, in a .link file
 * written when it was built: -lz for the host's (zlib reads .gz data), the
 * MPI link flags too for the MPI runtime, nothing for the cross targets'.
 *
 * Targets: the three Linux/glibc targets this project supports, each with a
 * sane default CPU and feature set. A --target for another OS or ABI is
 * refused (it used to yield a Linux binary silently). --cpu and --features go
 * to LLVM, which only warns about names it does not know and then ignores
 * them; emit builds the target machine once with LLVM's stderr captured and
 * turns such a warning into one user error, before any code is generated.
 *
 * The model reaching emit_program has passed sema, which owns every
 * legality check: emit reports only problems of the target, the options and
 * the files (user errors, through diag), and aborts through diag_internal
 * when LLVM rejects what codegen built. It never exits.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
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

/* Where the runtime libraries are, relative to the directory of the nitc
 * executable: installed (bin/ -> lib/nitc/), and in the build tree
 * (compiler/ -> runtime/). CMake passes both (cmake/runtime_path.cmake);
 * with the default install directories nothing absolute is compiled in, so
 * an installed tree can be moved. The installed one is absolute when the
 * install directories were (then the runtime does not move with nitc). */
#ifndef NITC_RUNTIME_INSTALL_PATH
#define NITC_RUNTIME_INSTALL_PATH "../lib/nitc"
#endif
#ifndef NITC_RUNTIME_BUILD_REL
#define NITC_RUNTIME_BUILD_REL "../runtime"
#endif

typedef struct TargetInfo {
  const char *canon;    /* our spelling, also the runtime library suffix */
  const char *triple;   /* LLVM triple */
  const char *cc;       /* C compiler driver used to link */
  const char *cpu;      /* default CPU when cross compiling */
  const char *features; /* default features when cross compiling */
  const char *abi;      /* target ABI name, or NULL */
  const char *arch[3];  /* accepted spellings of the architecture, NULL-padded */
} TargetInfo;

static const TargetInfo targets[] = {
    {"x86_64-linux-gnu",
     "x86_64-pc-linux-gnu",
     "x86_64-linux-gnu-gcc",
     "x86-64",
     "",
     NULL,
     {"x86_64", "x86-64", "amd64"}},
    {"aarch64-linux-gnu",
     "aarch64-unknown-linux-gnu",
     "aarch64-linux-gnu-gcc",
     "generic",
     "+neon",
     NULL,
     {"aarch64", "arm64", NULL}},
    {"riscv64-linux-gnu",
     "riscv64-unknown-linux-gnu",
     "riscv64-linux-gnu-gcc",
     "generic-rv64",
     "+m,+a,+f,+d,+c",
     "lp64d",
     {"riscv64", "rv64", NULL}},
};
enum { NTARGETS = sizeof targets / sizeof targets[0] };

static const TargetInfo *host_target(void) {
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

/* The operating system and ABI part of a triple after the architecture:
 * nothing (the architecture alone), linux-gnu, or VENDOR-linux-gnu. */
static bool is_linux_gnu(const char *rest) {
  static const char *const ok[] = {"", "-linux-gnu", "-pc-linux-gnu", "-unknown-linux-gnu"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strcmp(rest, ok[i]) == 0) return true;
  return false;
}

/* The target a --target spelling names, or NULL after reporting why not. */
static const TargetInfo *find_target(const char *name) {
  if (!name) {
    if (!host_target()) diag_plain("this host is not one of nitc's targets; give --target");
    return host_target();
  }
  for (int t = 0; t < NTARGETS; t++)
    for (int a = 0; a < 3 && targets[t].arch[a]; a++) {
      size_t n = strlen(targets[t].arch[a]);
      if (strncmp(name, targets[t].arch[a], n) != 0 || (name[n] != '\0' && name[n] != '-')) continue;
      if (is_linux_gnu(name + n)) return &targets[t];
      diag_plain("unsupported target '%s': nitc builds Linux (glibc) executables only; for this architecture "
                 "use --target %s",
                 diag_quote(name), targets[t].canon);
      return NULL;
    }
  diag_plain("unknown target '%s'; the targets are x86_64-linux-gnu, aarch64-linux-gnu and riscv64-linux-gnu "
             "(docs/targets.md lists the other spellings)",
             diag_quote(name));
  return NULL;
}

static bool is_host(const TargetInfo *ti) { return ti == host_target(); }

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

/* The runtime library's name: libnitrt, or with --mpi libnitrt_mpi. */
static const char *runtime_name(const Options *opt) { return opt->mpi ? "libnitrt_mpi" : "libnitrt"; }

/* Where libnitrt-<target>.a (--mpi: libnitrt_mpi-<target>.a) lives:
 * --runtime-dir, $NITC_RUNTIME_DIR, then beside the nitc executable (found
 * through /proc/self/exe): the installed layout's lib/nitc, then the build
 * tree's runtime/. On failure `out` lists the directories searched. */
static bool find_runtime(const Options *opt, const TargetInfo *ti, char *out, size_t cap) {
  char self[4096], inst[4200], build[4200];
  const char *dirs[4];
  int nd = 0;
  if (opt->runtime_dir) dirs[nd++] = opt->runtime_dir;
  const char *env_dir = env_text("NITC_RUNTIME_DIR");
  if (env_dir) dirs[nd++] = env_dir;
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) {
    self[len] = 0;
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = 0;
      if (NITC_RUNTIME_INSTALL_PATH[0] == '/') snprintf(inst, sizeof inst, "%s", NITC_RUNTIME_INSTALL_PATH);
      else snprintf(inst, sizeof inst, "%s/%s", self, NITC_RUNTIME_INSTALL_PATH);
      snprintf(build, sizeof build, "%s/%s", self, NITC_RUNTIME_BUILD_REL);
      dirs[nd++] = inst;
      dirs[nd++] = build;
    }
  }
  for (int i = 0; i < nd; i++) {
    snprintf(out, cap, "%s/%s-%s.a", dirs[i], runtime_name(opt), ti->canon);
    if (file_exists(out)) return true;
  }
  size_t k = (size_t)snprintf(out, cap, "%s-%s.a in", runtime_name(opt), ti->canon);
  for (int i = 0; i < nd && k < cap; i++) k += (size_t)snprintf(out + k, cap - k, "%s %s", i ? "," : "", dirs[i]);
  if (nd == 0 && k < cap) snprintf(out + k, cap - k, " no directory (--runtime-dir DIR)");
  return false;
}

/* The link flags written beside the runtime archive `rt` when it was built
 * (its .link file: -lz, and for the MPI runtime `mpicc -showme:link`), split
 * at white space into flags[0 .. *n). False after reporting a missing or odd
 * file. */
#define LINK_FLAGS_MAX 64
static bool link_flags(const char *rt, char *text, size_t cap, char **flags, int *n) {
  char path[4200];
  size_t len = strlen(rt);
  snprintf(path, sizeof path, "%.*s.link", (int)(len > 2 ? len - 2 : len), rt);
  FILE *f = fopen(path, "r");
  size_t got = f ? fread(text, 1, cap - 1, f) : 0;
  bool bad = !f || ferror(f) || got == cap - 1;
  if (f) fclose(f);
  if (bad) {
    diag_plain("the link flags '%s' beside the runtime cannot be read; rebuild the project (scripts/build)",
               diag_quote_n(path, DIAG_PATH_MAX));
    return false;
  }
  text[got] = '\0';
  *n = 0;
  for (char *t = strtok(text, " \t\r\n"); t; t = strtok(NULL, " \t\r\n")) {
    if (*n == LINK_FLAGS_MAX) {
      diag_plain("'%s' holds more than %d link flags", diag_quote_n(path, DIAG_PATH_MAX), LINK_FLAGS_MAX);
      return false;
    }
    flags[(*n)++] = t;
  }
  return true;
}

static const char *default_output(const Model *m, EmitKind k, char *buf, size_t cap) {
  const char *ext = k == EMIT_LLVM ? ".ll" : k == EMIT_ASM ? ".s" : k == EMIT_OBJ ? ".o" : "";
  snprintf(buf, cap, "%s%s", m ? m->name : "gemm", ext);
  return buf;
}

/* ------------------------------------------------- the target machine */

/* LLVM's complaints about a CPU or a feature go to its unbuffered stderr
 * stream (fd 2). Capture redirects fd 2 to a temporary file around one call
 * and hands back what was written, in the arena. Without a temporary file
 * nothing is captured and LLVM's own warnings stay visible. */
typedef struct Capture {
  FILE *f;
  int saved;
} Capture;

static bool capture_begin(Capture *c) {
  fflush(stderr);
  c->f = tmpfile();
  if (!c->f) return false;
  c->saved = dup(STDERR_FILENO);
  if (c->saved < 0 || dup2(fileno(c->f), STDERR_FILENO) < 0) {
    if (c->saved >= 0) close(c->saved);
    fclose(c->f);
    return false;
  }
  return true;
}

static const char *capture_end(Capture *c) {
  fflush(stderr);
  dup2(c->saved, STDERR_FILENO);
  close(c->saved);
  long n = ftell(c->f) > 0 ? ftell(c->f) : 0;
  if (n > (1 << 20)) n = 1 << 20;
  char *text = mem_alloc((size_t)n + 1);
  rewind(c->f);
  size_t got = fread(text, 1, (size_t)n, c->f);
  text[got] = '\0';
  fclose(c->f);
  return text;
}

/* The quoted name in LLVM's "'NAME' is not a recognized WHAT" line of `text`,
 * or NULL when there is none. */
static const char *find_unrecognized(const char *text, const char *what) {
  char key[64];
  snprintf(key, sizeof key, "' is not a recognized %s", what);
  const char *hit = strstr(text, key);
  if (!hit) return NULL;
  const char *open = hit;
  while (open > text && open[-1] != '\n') open--;
  if (*open != '\'') return NULL;
  return mem_strndup(open + 1, (size_t)(hit - open - 1));
}

/* Every item of a feature list must be +NAME or -NAME: LLVM reads a bare
 * NAME as "-NAME" (disable), silently. */
static bool check_feature_signs(const char *list, const TargetInfo *ti) {
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, ",");
    if (n > 0 && ((p[0] != '+' && p[0] != '-') || n == 1)) {
      diag_plain("feature '%s' must be written +NAME (enable) or -NAME (disable); `nitc --target %s --cpu help` "
                 "lists the features",
                 diag_quote(mem_strndup(p, n)), ti->canon);
      return false;
    }
    p += n + (p[n] == ',');
  }
  return true;
}

/* The target machine for t, or NULL after reporting an unknown CPU or
 * feature. When `listing` is non-NULL, LLVM's output (the help text of CPU
 * "help") is returned there instead of being checked. */
static LLVMTargetMachineRef make_machine(const TargetInfo *ti, const CgTarget *t, int opt_level, const char **listing) {
  char *err = NULL;
  LLVMTargetRef target;
  if (LLVMGetTargetFromTriple(ti->triple, &target, &err)) {
    diag_plain("LLVM has no target for %s: %s", ti->triple, err);
    LLVMDisposeMessage(err);
    return NULL;
  }
  LLVMTargetMachineOptionsRef to = LLVMCreateTargetMachineOptions();
  LLVMTargetMachineOptionsSetCPU(to, t->cpu);
  LLVMTargetMachineOptionsSetFeatures(to, t->features);
  if (ti->abi) LLVMTargetMachineOptionsSetABI(to, ti->abi);
  LLVMTargetMachineOptionsSetRelocMode(to, LLVMRelocPIC);
  LLVMTargetMachineOptionsSetCodeGenOptLevel(to, opt_level == 0   ? LLVMCodeGenLevelNone
                                                 : opt_level == 1 ? LLVMCodeGenLevelLess
                                                 : opt_level == 2 ? LLVMCodeGenLevelDefault
                                                                  : LLVMCodeGenLevelAggressive);
  /* Creating the machine builds its subtarget once: the one moment LLVM
   * reports unknown names (later it repeats that for every function). */
  Capture cap;
  bool captured = capture_begin(&cap);
  LLVMTargetMachineRef tm = LLVMCreateTargetMachineWithOptions(target, ti->triple, to);
  const char *said = captured ? capture_end(&cap) : "";
  LLVMDisposeTargetMachineOptions(to);
  if (!tm) {
    diag_plain("cannot create a target machine for %s (cpu '%s', features '%s')", ti->triple, diag_quote(t->cpu),
               diag_quote(t->features));
    return NULL;
  }
  if (listing) {
    *listing = said;
    return tm;
  }
  const char *bad_cpu = find_unrecognized(said, "processor"), *bad_feat = find_unrecognized(said, "feature");
  if (bad_cpu || bad_feat) {
    if (bad_cpu)
      diag_plain("unknown CPU '%s' for %s; `nitc --target %s --cpu help` lists the CPUs", diag_quote(bad_cpu),
                 ti->canon, ti->canon);
    else
      diag_plain("unknown feature '%s' for %s; `nitc --target %s --cpu help` lists the features",
                 diag_quote(bad_feat + (bad_feat[0] == '+' || bad_feat[0] == '-')), ti->canon, ti->canon);
    LLVMDisposeTargetMachine(tm);
    return NULL;
  }
  fputs(said, stderr); /* anything else LLVM said is not ours to hide */
  return tm;
}

static void init_target(void) {
  static bool done;
  if (!done) init_llvm();
  done = true;
}

int emit_list_cpus(const Options *opt) {
  const TargetInfo *ti = find_target(opt->target);
  if (!ti) return 1;
  init_target();
  CgTarget t = {ti->triple, "help", ""};
  const char *text = NULL;
  LLVMTargetMachineRef tm = make_machine(ti, &t, 2, &text);
  if (!tm) return 1;
  LLVMDisposeTargetMachine(tm);
  printf("CPUs and features of %s (--cpu NAME, --features +NAME,-NAME):\n\n", ti->canon);
  /* LLVM appends a usage hint for its own tools; keep the lists only */
  const char *end = strstr(text, "Use +feature");
  fwrite(text, 1, end ? (size_t)(end - text) : strlen(text), stdout);
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

/* ------------------------------------------------------------ emission */

int emit_program(Model *m, const Options *opt) {
  Plan *plan = m ? plan_build(m) : NULL; /* reports a model over the memory limit */
  if (m && !plan) return 1;
  const TargetInfo *ti = find_target(opt->target);
  if (!ti) return 1;
  if (opt->cpu && !opt->cpu[0]) {
    diag_plain("--cpu needs a CPU name; `nitc --target %s --cpu help` lists them", ti->canon);
    return 1;
  }
  if (opt->features && !check_feature_signs(opt->features, ti)) return 1;
  if (opt->mpi && !is_host(ti)) {
    diag_plain("--mpi links this machine's MPI library, so it builds for the host (%s) only, not for %s",
               host_target() ? host_target()->canon : "none", ti->canon);
    return 1;
  }
  if (opt->mpi && opt->emit == EMIT_EXE) { /* before the work of code generation */
    char rt[4096];
    if (!find_runtime(opt, ti, rt, sizeof rt)) {
      diag_plain("--mpi: the MPI runtime is not found (looked for %s); it is built when mpicc is found at "
                 "configure time: install Open MPI (scripts/install-deps) and rebuild (scripts/build)",
                 diag_quote_n(rt, 4 * DIAG_PATH_MAX));
      return 1;
    }
  }
  init_target();

  char *host_cpu = NULL, *host_feat = NULL;
  CgTarget t = {ti->triple, ti->cpu, ti->features};
  /* The host's CPU and features only where neither --target nor --cpu
   * names another: a named CPU takes the target's defaults, on the host as
   * when cross compiling (with the host's list, which on AVX2 says
   * -avx512bw, --cpu x86-64-v4 made LLVM abort on its intrinsics). */
  if (is_host(ti) && !opt->target && !opt->cpu) {
    host_cpu = LLVMGetHostCPUName();
    host_feat = LLVMGetHostCPUFeatures();
    t.cpu = host_cpu;
    t.features = host_feat;
  }
  if (opt->cpu) t.cpu = opt->cpu;
  if (opt->features) t.features = opt->features;

  int rc = 0;
  char *err = NULL;
  LLVMContextRef ctx = NULL;
  LLVMModuleRef mod = NULL;
  LLVMTargetMachineRef tm = make_machine(ti, &t, opt->opt_level, NULL);
  if (!tm) {
    rc = 1;
    goto done;
  }

  ctx = LLVMContextCreate();
  mod = m ? cg_module(ctx, m, plan, &t) : cg_gemm_module(ctx, &t, opt->gemm[0], opt->gemm[1], opt->gemm[2], opt->gemm_ua);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(mod, td);
  LLVMDisposeTargetData(td);
  if (ti->abi) {
    LLVMMetadataRef md = LLVMMDStringInContext2(ctx, ti->abi, strlen(ti->abi));
    LLVMAddModuleFlag(mod, LLVMModuleFlagBehaviorError, "target-abi", 10, md);
  }
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &err)) {
    /* codegen built invalid IR: a compiler bug, not the user's */
    size_t n = strlen(err) < 4000 ? strlen(err) : 4000;
    const char *why = mem_strndup(err, n);
    LLVMDisposeMessage(err);
    char *msg = mem_alloc(n + 64);
    snprintf(msg, n + 64, "generated module does not verify:\n%s", why);
    diag_internal(__FILE__, __LINE__, msg);
  }
  LLVMDisposeMessage(err);
  err = NULL;
  timing_mark("plan and LLVM IR");

  /* The step and the evaluation forward emit the same layer functions
   * twice (and layers of one shape emit the same bodies): mergefunc folds
   * identical functions before the optimizer sees them. No generated code
   * compares function addresses, so every internal function may be
   * unnamed_addr, which lets mergefunc replace a duplicate outright (a
   * function passed to the thread pool included) instead of keeping it as a
   * thunk, and then fold the callers that became identical. */
  for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
    if (!LLVMIsDeclaration(f) && LLVMGetLinkage(f) == LLVMInternalLinkage)
      LLVMSetUnnamedAddress(f, LLVMGlobalUnnamedAddr);
  /* An executable's code is generated in units (units.c), one per --jobs,
   * or per core online up to UNITS_DEFAULT_MAX (each unit reads the whole
   * module back, and the optimizer's whole-module part runs on one core
   * anyway). With several, the units also run the per-function part of the
   * optimizer (passes.c). */
  int nunits = 1;
  if (opt->emit == EMIT_EXE) {
    nunits = opt->jobs ? opt->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (!opt->jobs && nunits > UNITS_DEFAULT_MAX) nunits = UNITS_DEFAULT_MAX;
    if (nunits < 1) nunits = 1;
    if (nunits > UNITS_MAX) nunits = UNITS_MAX;
  }
  char passes[16384], unit_buf[16384];
  const char *unit_passes = passes_module(ti->arch[0], opt->opt_level, nunits > 1, passes, sizeof passes, unit_buf,
                                          sizeof unit_buf)
                                ? unit_buf
                                : NULL;
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMErrorRef perr = LLVMRunPasses(mod, passes, tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (perr) {
    char *why = LLVMGetErrorMessage(perr);
    size_t n = strlen(why) < 4000 ? strlen(why) : 4000;
    char *msg = mem_alloc(n + 64);
    snprintf(msg, n + 64, "optimization failed: %.*s", (int)n, why);
    LLVMDisposeErrorMessage(why);
    diag_internal(__FILE__, __LINE__, msg);
  }
  timing_mark(unit_passes ? "optimizer, whole-module part" : "optimizer");

  char outbuf[4096];
  const char *out = opt->output ? opt->output : default_output(m, opt->emit, outbuf, sizeof outbuf);
  const char *qout = diag_quote_n(out, DIAG_PATH_MAX);
  struct stat st;
  if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
    diag_plain("cannot write '%s': %s", qout, strerror(EISDIR));
    rc = 1;
  } else if (opt->emit == EMIT_LLVM) {
    if (LLVMPrintModuleToFile(mod, out, &err)) {
      diag_plain("cannot write '%s': %s", qout, err);
      rc = 1;
    }
    timing_mark("writing LLVM IR");
  } else if (opt->emit == EMIT_ASM || opt->emit == EMIT_OBJ) {
    if (LLVMTargetMachineEmitToFile(tm, mod, (char *)out, opt->emit == EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile,
                                    &err)) {
      diag_plain("cannot write '%s': %s", qout, err);
      rc = 1;
    }
    timing_mark("code generator");
  } else {
    char rt[4096];
    if (!find_runtime(opt, ti, rt, sizeof rt)) {
      diag_plain("the runtime for %s is not found (looked for %s); %s", ti->canon, diag_quote_n(rt, 4 * DIAG_PATH_MAX),
                 is_host(ti) ? "build the project first (scripts/build), or give --runtime-dir DIR"
                             : "install the cross toolchain (scripts/install-deps) and rebuild");
      rc = 1;
      goto done;
    }
    /* the objects go beside the output: creating the first checks that the
     * output's directory can be written, and the message names the output. */
    char objs[UNITS_MAX][4200];
    const char *objp[UNITS_MAX];
    for (int u = 0; u < nunits; u++) {
      snprintf(objs[u], sizeof objs[u], "%s.nitc-%d-%d.o", out, (int)getpid(), u);
      objp[u] = objs[u];
    }
    int fd = open(objs[0], O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
      diag_plain("cannot write '%s': %s", qout, strerror(errno));
      rc = 1;
      goto done;
    }
    close(fd);
    bool emitted;
    if (nunits == 1) {
      emitted = !LLVMTargetMachineEmitToFile(tm, mod, objs[0], LLVMObjectFile, &err);
      timing_mark("code generator");
    } else {
      LLVMTargetMachineRef tms[UNITS_MAX] = {tm};
      for (int u = 1; u < nunits; u++)
        if (!(tms[u] = make_machine(ti, &t, opt->opt_level, NULL))) nunits = u; /* reported; fewer units */
      emitted = units_emit(mod, tms, nunits, objp, unit_passes, &err) == 0;
      timing_mark("code generation units");
      for (int u = 1; u < nunits; u++) LLVMDisposeTargetMachine(tms[u]);
    }
    if (!emitted) {
      for (int u = 0; u < nunits; u++) remove(objs[u]);
      diag_plain("cannot write '%s': %s", diag_quote_n(objs[0], DIAG_PATH_MAX), err ? err : "");
      rc = 1;
      goto done;
    }
    const char *cc = is_host(ti) ? (getenv("CC") ? getenv("CC") : "cc") : ti->cc;
    char *argv[8 + UNITS_MAX + LINK_FLAGS_MAX] = {(char *)cc, "-o", (char *)out};
    int argn = 3;
    for (int u = 0; u < nunits; u++) argv[argn++] = objs[u];
    argv[argn++] = rt;
    char linktext[4096];
    int nf = 0;
    if (!link_flags(rt, linktext, sizeof linktext, argv + argn, &nf)) {
      for (int u = 0; u < nunits; u++) remove(objs[u]);
      rc = 1;
      goto done;
    }
    argn += nf;
    argv[argn++] = "-lpthread";
    argv[argn] = NULL;
    int lr = run(argv);
    timing_mark("link");
    for (int u = 0; u < nunits; u++) remove(objs[u]);
    if (lr < 0) {
      diag_plain("cannot run the linker '%s': %s%s", diag_quote_n(cc, DIAG_PATH_MAX), strerror(-lr),
                 is_host(ti) ? "" : " (install the cross toolchain: scripts/install-deps)");
      rc = 1;
    } else if (lr != 0) {
      diag_plain("linking '%s' with %s failed (exit %d)", qout, diag_quote_n(cc, DIAG_PATH_MAX), lr);
      rc = 1;
    }
  }
done:
  if (err) LLVMDisposeMessage(err);
  if (mod) LLVMDisposeModule(mod);
  if (ctx) LLVMContextDispose(ctx);
  if (tm) LLVMDisposeTargetMachine(tm);
  if (host_cpu) LLVMDisposeMessage(host_cpu);
  if (host_feat) LLVMDisposeMessage(host_feat);
  return rc;
}
