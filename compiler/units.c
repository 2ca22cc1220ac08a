/*
 * units.c: code generation in parallel units.
 *
 * LLVM's code generator takes about half of a compile, on one core.
 * Here the module's functions, after the optimizer's whole-module part,
 * are dealt into n units of about equal cost (the costliest first, each to
 * the unit with the least so far; fn_cost estimates it) and each unit is generated
 * on a thread of its own, into an object of its own. A unit is a copy of the whole module, read back
 * from bitcode into a context of its own (LLVM wants one context per thread),
 * in which the functions of the other units become declarations, and so do
 * the global variables except in unit 0. A unit first runs the
 * per-function part of the optimizer on its own functions (passes.c), then
 * generates their code. Both work one function at a time, after the
 * whole-module passes, so a function's code does not depend on which unit
 * it lands in, up to the order of registers and instructions (a unit
 * declares LLVM's intrinsics in its own order).
 *
 * For the units' objects to link, every internal function and global variable
 * becomes external with hidden visibility (resolved inside the executable,
 * never exported) and takes the prefix "nitc." (no C code can define such a
 * name, so the runtime's symbols never collide with them).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/BitReader.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "nitc.h"

typedef LLVMValueRef Val;

/* One unit's work, and what came of it. */
typedef struct Unit {
  int index;                /* this unit */
  const int *owner;         /* (nfns) unit of each defined function, in module order */
  int nfns;
  const char *bits;         /* the module's bitcode */
  size_t nbits;
  LLVMModuleRef mod;        /* unit 0: the module itself; others read bits */
  LLVMTargetMachineRef tm;  /* this unit's own */
  const char *passes;       /* run on the unit first (passes.c), or NULL */
  const char *obj;          /* where its object goes */
  char *err;                /* NULL, or why it failed (malloc'd) */
} Unit;

static bool defined(Val f) { return LLVMCountBasicBlocks(f) > 0; }

static bool local(Val gv) {
  LLVMLinkage l = LLVMGetLinkage(gv);
  return l == LLVMInternalLinkage || l == LLVMPrivateLinkage;
}

/* internal or private -> external hidden "nitc.NAME" */
static void promote(Val gv, int *unnamed) {
  if (!local(gv)) return;
  size_t len;
  const char *name = LLVMGetValueName2(gv, &len);
  char buf[256];
  if (len) snprintf(buf, sizeof buf, "nitc.%.*s", (int)(len < 200 ? len : 200), name);
  else snprintf(buf, sizeof buf, "nitc.anon%d", (*unnamed)++);
  LLVMSetValueName2(gv, buf, strlen(buf));
  LLVMSetLinkage(gv, LLVMExternalLinkage);
  LLVMSetVisibility(gv, LLVMHiddenVisibility);
}

/* The units' threads allocate with malloc (the arena of mem_alloc is the
 * main thread's); the few bytes they need are all freed before they end. */

/* gv's name, which gv gives up (so that a declaration can take it) */
static bool take_name(Val gv, char *buf, size_t cap) {
  size_t len;
  const char *name = LLVMGetValueName2(gv, &len);
  if (len >= cap) return false;
  memcpy(buf, name, len);
  buf[len] = '\0';
  LLVMSetValueName2(gv, "", 0);
  return true;
}

/* Replace defined function f with a declaration of the same name, calling
 * convention and attributes (the callers' code follows them). */
static bool declare_function(LLVMModuleRef m, Val f) {
  char name[256];
  if (!take_name(f, name, sizeof name)) return false;
  Val d = LLVMAddFunction(m, name, LLVMGlobalGetValueType(f));
  LLVMSetFunctionCallConv(d, LLVMGetFunctionCallConv(f));
  LLVMSetVisibility(d, LLVMGetVisibility(f));
  int nparams = (int)LLVMCountParams(f);
  for (int idx = -1; idx <= nparams; idx++) { /* function, return, parameters */
    LLVMAttributeIndex ai = idx < 0 ? (LLVMAttributeIndex)LLVMAttributeFunctionIndex : (LLVMAttributeIndex)idx;
    unsigned n = LLVMGetAttributeCountAtIndex(f, ai);
    LLVMAttributeRef as[64];
    if (n > 64) return false;
    LLVMGetAttributesAtIndex(f, ai, as);
    for (unsigned k = 0; k < n; k++) LLVMAddAttributeAtIndex(d, ai, as[k]);
  }
  LLVMReplaceAllUsesWith(f, d);
  LLVMDeleteFunction(f);
  return true;
}

static bool declare_global(LLVMModuleRef m, Val gv) {
  char name[256];
  if (!take_name(gv, name, sizeof name)) return false;
  Val d = LLVMAddGlobal(m, LLVMGlobalGetValueType(gv), name);
  LLVMSetVisibility(d, LLVMGetVisibility(gv));
  LLVMSetGlobalConstant(d, LLVMIsGlobalConstant(gv));
  LLVMSetAlignment(d, LLVMGetAlignment(gv));
  LLVMReplaceAllUsesWith(gv, d);
  LLVMDeleteGlobal(gv);
  return true;
}

static char *message(const char *what, const char *why) {
  size_t n = strlen(what) + strlen(why) + 4;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s: %s", what, why);
  return s;
}

/* Keep unit u's functions (and, u > 0, no global's initializer); emit. */
static void *run_unit(void *arg) {
  Unit *u = arg;
  int64_t t_cpu0 = timing_on() ? timing_clock(TIMING_THREAD_CPU) : 0, t_opt = 0, t_cg = 0;
  LLVMContextRef ctx = NULL;
  LLVMModuleRef m = u->mod;
  char *why = NULL;
  if (!m) {
    ctx = LLVMContextCreate();
    LLVMMemoryBufferRef mb = LLVMCreateMemoryBufferWithMemoryRange(u->bits, u->nbits, "unit", 0);
    bool bad = LLVMParseBitcodeInContext2(ctx, mb, &m);
    LLVMDisposeMemoryBuffer(mb);
    if (bad) {
      u->err = message("reading the module back", "invalid bitcode");
      LLVMContextDispose(ctx);
      return NULL;
    }
  }
  /* the functions and global variables this unit only declares */
  int nglob = 0;
  for (Val gv = LLVMGetFirstGlobal(m); gv; gv = LLVMGetNextGlobal(gv)) nglob++;
  Val *drop = malloc((size_t)(u->nfns + nglob + 1) * sizeof *drop);
  if (!drop) {
    u->err = message("code generation unit", "out of memory");
    goto out;
  }
  int nf = 0, ng = 0, k = 0;
  for (Val f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
    if (defined(f) && u->owner[k++] != u->index) drop[nf++] = f;
  for (Val gv = LLVMGetFirstGlobal(m); u->index > 0 && gv; gv = LLVMGetNextGlobal(gv))
    if (LLVMGetInitializer(gv)) drop[nf + ng++] = gv;
  bool ok = true;
  for (int j = 0; j < nf; j++) ok = ok && declare_function(m, drop[j]);
  for (int j = 0; j < ng; j++) ok = ok && declare_global(m, drop[nf + j]);
  free(drop);
  if (!ok) {
    u->err = message("code generation unit", "a symbol name or attribute list is too long");
    goto out;
  }
  if (u->passes) {
    t_opt = timing_on() ? timing_clock(TIMING_WALL) : 0;
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMErrorRef perr = LLVMRunPasses(m, u->passes, u->tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (perr) {
      char *msg = LLVMGetErrorMessage(perr);
      u->err = message("optimizing a code generation unit", msg);
      LLVMDisposeErrorMessage(msg);
      goto out;
    }
  }
  t_cg = timing_on() ? timing_clock(TIMING_WALL) : 0;
  if (t_opt) t_opt = t_cg - t_opt;
  if (LLVMTargetMachineEmitToFile(u->tm, m, (char *)u->obj, LLVMObjectFile, &why)) {
    u->err = message(u->obj, why);
    LLVMDisposeMessage(why);
  }
  if (timing_on())
    timing_unit(u->index, t_opt, timing_clock(TIMING_WALL) - t_cg, timing_clock(TIMING_THREAD_CPU) - t_cpu0);
out:
  if (ctx) {
    LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
  }
  return NULL;
}

/* The time a unit's optimizer and code generator will spend on f, in about
 * an instruction's worth: a fixed cost per function, one per instruction,
 * and for each phi of a function without vector instructions (a scalar
 * loop, which LLVM's vectorizer widens into a vector body, an interleaved
 * one and an epilogue) as much as 90 instructions. Fitted to the time of
 * each function of the examples generated alone (x86-64, AVX-512): the
 * fixed cost and the phis took the fit's r^2 from 0.46 (instructions
 * alone) to 0.66. Measured in threads' CPU time, the slower of two units
 * took 1.00-1.16x their mean over the examples (median 1.04x), against
 * 1.00-1.50x (median 1.13x) by instructions alone. */
static int64_t fn_cost(Val f) {
  int64_t n = 0, phis = 0;
  bool vector = false;
  for (LLVMBasicBlockRef b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b))
    for (Val in = LLVMGetFirstInstruction(b); in; in = LLVMGetNextInstruction(in)) {
      n++;
      phis += LLVMIsAPHINode(in) != NULL;
      vector = vector || LLVMGetTypeKind(LLVMTypeOf(in)) == LLVMVectorTypeKind;
    }
  /* optnone functions take LLVM's fast path, about a quarter of the time */
  unsigned optnone = LLVMGetEnumAttributeKindForName("optnone", 7);
  if (LLVMGetEnumAttributeAtIndex(f, LLVMAttributeFunctionIndex, optnone)) return 100 + n / 4;
  return 100 + n + (vector ? 0 : 90 * phis);
}

typedef struct Sized {
  int64_t size; /* fn_cost */
  int index;
} Sized;

static int by_size(const void *x, const void *y) {
  const Sized *a = x, *b = y;
  if (a->size != b->size) return a->size < b->size ? 1 : -1;
  return a->index - b->index;
}

int units_emit(LLVMModuleRef mod, LLVMTargetMachineRef *tms, int n, const char *const *objs, const char *passes,
               char **err) {
  *err = NULL;
  int unnamed = 0, nfns = 0;
  for (Val f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
    if (defined(f)) {
      promote(f, &unnamed);
      nfns++;
    }
  for (Val gv = LLVMGetFirstGlobal(mod); gv; gv = LLVMGetNextGlobal(gv)) promote(gv, &unnamed);

  /* deal the functions, costliest first, each to the lightest unit */
  Sized *s = mem_alloc((size_t)(nfns ? nfns : 1) * sizeof *s);
  int k = 0;
  for (Val f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
    if (defined(f)) s[k] = (Sized){fn_cost(f), k}, k++;
  qsort(s, (size_t)nfns, sizeof *s, by_size);
  int *owner = mem_alloc((size_t)(nfns ? nfns : 1) * sizeof *owner);
  int64_t *load = mem_alloc((size_t)n * sizeof *load);
  for (int j = 0; j < nfns; j++) {
    int best = 0;
    for (int u = 1; u < n; u++)
      if (load[u] < load[best]) best = u;
    owner[s[j].index] = best;
    load[best] += s[j].size;
  }

  LLVMMemoryBufferRef bc = LLVMWriteBitcodeToMemoryBuffer(mod);
  Unit *units = mem_alloc((size_t)n * sizeof *units);
  pthread_t *tids = mem_alloc((size_t)n * sizeof *tids);
  bool *started = mem_alloc((size_t)n * sizeof *started);
  for (int u = 0; u < n; u++)
    units[u] = (Unit){.index = u, .owner = owner, .nfns = nfns, .bits = LLVMGetBufferStart(bc),
                      .nbits = LLVMGetBufferSize(bc), .mod = u ? NULL : mod, .tm = tms[u], .passes = passes,
                      .obj = objs[u]};
  for (int u = 1; u < n; u++) started[u] = pthread_create(&tids[u], NULL, run_unit, &units[u]) == 0;
  run_unit(&units[0]);
  for (int u = 1; u < n; u++) {
    if (started[u]) pthread_join(tids[u], NULL);
    else run_unit(&units[u]); /* no thread to be had: here, in turn */
  }
  LLVMDisposeMemoryBuffer(bc);
  for (int u = 0; u < n; u++)
    if (units[u].err && !*err) *err = units[u].err;
    else free(units[u].err);
  return *err ? -1 : 0;
}
