/*
 * passes.c: which optimization passes run on the whole module, and which in
 * the code generation units.
 *
 * The whole module always goes through mergefunc (emit.c says why) and
 * LLVM's default<On>. That pipeline ends in a per-function part (the
 * vectorizers, unrolling and their cleanup: about two fifths of the
 * optimizer's time) that looks at one function at a time. When the module
 * is generated in units, each unit runs that part on its own functions, on
 * its own thread. The cut is LLVM's own pipeline, printed by `opt` at
 * configure time (cmake/pipelines.cmake); where there is none, the pipeline
 * runs whole.
 *
 * The whole-module part holds a second per-function pipeline: the one the
 * inliner runs on each function after inlining into it (SROA, instcombine,
 * GVN, the loop passes: about half of that part's time). nitc's functions
 * leave the inliner only small helpers, whose inlining does not depend on
 * their cleanup, so that pipeline moves to the front of the unit part too
 * (`simplification`): each unit cleans up its own functions after the
 * inliner is done with all of them. The optimized IR of every example,
 * compared with opt (x86-64, AArch64 and RISC-V at -O2, x86-64 at -O1 and
 * -O3), is the same up to value names but for the attributes inferred on
 * one function of each resnet (and of vgg_small at -O3).
 *
 * Some of LLVM's passes look for what nitc never generates (indirect
 * calls, OpenMP, coroutines, math library calls, floating point, loop
 * distribution pragmas) or, for loop-load-elim, found nothing in any
 * example on any target: `unused` drops them from both parts, about 3% of
 * the instructions of a resnet's compile, and every example's executable
 * is byte-identical without them. default<On>, where the pipeline runs
 * whole (one unit, --emit llvm), keeps them.
 *
 * A unit sees the other units' functions as declarations, with the
 * attributes the whole-module part inferred. The one module-wide fact the
 * per-function part uses is the globals alias analysis, which the whole
 * pipeline computes just before the cut; a unit computes it again over its
 * own functions.
 */
#include <stdio.h>
#include <string.h>

#include "nitc.h"

typedef struct Cut {
  const char *arch; /* the architecture of the triple */
  int level;        /* 1..3 */
  const char *module, *unit;
} Cut;

#define PIPE(arch, level, module, unit) {arch, level, module, unit},
static const Cut cuts[] = {
#include "pipelines.inc"
    {NULL, 0, NULL, NULL}};
#undef PIPE

/* snprintf's n against the buffer's cap */
static void fits(int n, size_t cap) {
  if (n < 0 || (size_t)n >= cap) diag_internal(__FILE__, __LINE__, "the optimizer's pipeline does not fit its buffer");
}

/* The inliner's per-function pipeline inside the whole-module part. */
static const char inner[] = "function<eager-inv;no-rerun>(";

/* Where the pipeline opened just before p[0] closes: the index of its ')'
 * in p, or -1 when it does not. */
static long closing(const char *p) {
  int depth = 1;
  for (long i = 0; p[i]; i++) {
    if (p[i] == '(') depth++;
    else if (p[i] == ')' && --depth == 0) return i;
  }
  return -1;
}

/* Module part without the inliner's per-function pipeline into mod, and
 * that pipeline then the unit part into unit. False (nothing written) when
 * the module part has no such pipeline. */
static bool simplification(const Cut *c, char *mod, size_t mcap, char *unit, size_t ucap) {
  const char *at = strstr(c->module, inner);
  if (!at || at == c->module || at[-1] != ',') return false;
  const char *body = at + strlen(inner);
  long n = closing(body);
  if (n < 0) return false;
  fits(snprintf(mod, mcap, "mergefunc,%.*s%s", (int)(at - 1 - c->module), c->module, body + n + 1), mcap);
  fits(snprintf(unit, ucap, "require<globals-aa>,function<eager-inv>(%.*s),%s", (int)n, body, c->unit), ucap);
  return true;
}

/* Passes that find nothing to do in nitc's modules (see above). */
static const char *const unused[] = {
    "called-value-propagation", /* indirect calls */
    "openmp-opt", "openmp-opt-cgscc",
    "coro-early", "coro-split", "coro-elide", "coro-cleanup",
    "libcalls-shrinkwrap",      /* calls of libm */
    "float2int",
    "loop-distribute",          /* only where a pragma asks */
    "loop-load-elim",
};

/* Remove pass `name` (one without parameters) wherever it is an element of
 * pipeline text p, with the comma that separated it. */
static void drop(char *p, const char *name) {
  size_t n = strlen(name);
  for (char *at = strstr(p, name); at; at = strstr(at, name)) {
    bool starts = at == p || at[-1] == ',' || at[-1] == '(', ends = at[n] == ',' || at[n] == ')' || !at[n];
    if (!starts || !ends) at += n;
    else if (at[n] == ',') memmove(at, at + n + 1, strlen(at + n + 1) + 1);
    else if (at > p && at[-1] == ',') memmove(at - 1, at + n, strlen(at + n) + 1), at--;
    else NIT_ASSERT(!"a pipeline of one pass left empty");
  }
}

static void drop_unused(char *p) {
  for (size_t i = 0; i < sizeof unused / sizeof *unused; i++) drop(p, unused[i]);
}

bool passes_module(const char *arch, int level, bool cut, char *mod, size_t mcap, char *unit, size_t ucap) {
  for (const Cut *c = cuts; cut && c->arch; c++) {
    if (c->level != level || strcmp(c->arch, arch) != 0) continue;
    if (!simplification(c, mod, mcap, unit, ucap)) {
      fits(snprintf(mod, mcap, "mergefunc,%s", c->module), mcap);
      fits(snprintf(unit, ucap, "require<globals-aa>,%s", c->unit), ucap);
    }
    drop_unused(mod);
    drop_unused(unit);
    return true;
  }
  fits(snprintf(mod, mcap, "mergefunc,default<O%d>", level), mcap);
  return false;
}
