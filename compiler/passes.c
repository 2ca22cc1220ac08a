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

#define PIPE(arch, level, module, unit) {arch, level, module, "require<globals-aa>," unit},
static const Cut cuts[] = {
#include "pipelines.inc"
    {NULL, 0, NULL, NULL}};
#undef PIPE

const char *passes_module(const char *arch, int level, bool cut, const char **unit, char *buf, size_t cap) {
  *unit = NULL;
  int n = -1;
  for (const Cut *c = cuts; cut && c->arch && n < 0; c++)
    if (c->level == level && strcmp(c->arch, arch) == 0) {
      n = snprintf(buf, cap, "mergefunc,%s", c->module);
      *unit = c->unit;
    }
  if (n < 0) n = snprintf(buf, cap, "mergefunc,default<O%d>", level);
  if ((size_t)n >= cap) diag_internal(__FILE__, __LINE__, "the optimizer's pipeline does not fit its buffer");
  return buf;
}
