/*
 * env.c: nitc's developer variables.
 *
 * A few NITC_* environment variables turn a code form off or move a
 * threshold, so that the tests reach every form with small networks and a
 * measurement can compare a form with its absence (docs/performance.md
 * names each where it describes the form). Whatever they select, the
 * executable computes the same bytes; only its speed and memory change.
 *
 * They are listed here and read nowhere else. env_check looks at every one
 * once, before the phases run, and warns about a value it cannot use: a
 * misspelt setting must not silently turn into a run with the defaults,
 * which would make an experiment measure something other than it says.
 * env_num then returns a variable's value, or the caller's default when the
 * variable is unset or unusable. Names outside the table (the test scripts'
 * NITC_DIFF_*, say) are not nitc's and are left alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitc.h"

typedef enum { NUM, SWITCH, TEXT } EnvKind;

static const struct {
  const char *name;
  EnvKind kind;
  int64_t min, step; /* NUM: the least usable value and the multiple it must be */
} vars[] = {
    {"NITC_AHEAD_BYTES", NUM, 0, 1},   /* plan.c, plan_ahead: convs that round ahead from this many bytes */
    {"NITC_AX_KMIN", NUM, 0, 1},       /* cg/gemm.c, gemm_ax: A split into magnitudes and signs from this K */
    {"NITC_DENSE_MACS", NUM, 0, 1},    /* plan.c, plan_workers: a dense layer's multiply-adds per worker */
    {"NITC_GEMM_KBLOCK", NUM, 4, 4},   /* cg/gemm.c, gemm_kblock: K in blocks of N above N */
    {"NITC_STREAM_BYTES", NUM, 0, 1},  /* cg/gemm.c, gemm_stream_min: accumulators that stream from this size */
    {"NITC_DENSE_ROWS", SWITCH, 0, 1}, /* plan.c: the one-worker dense forward by samples */
    {"NITC_ERR_REUSE", SWITCH, 0, 1},  /* plan.c: errors share bytes (1), or each has its own (0) */
    {"NITC_FOLD_RELU", SWITCH, 0, 1},  /* plan.c: relus folded into their producers' rounding */
    {"NITC_GATHER", SWITCH, 0, 1},     /* cg/step.c: conv panels gathered by rows or bytes */
    {"NITC_GATHER_WORKERS", SWITCH, 0, 1}, /* cg/step.c: error gathers of few terms on the workers */
    {"NITC_IMPLICIT", SWITCH, 0, 1},   /* cg/step.c: conv forwards that read B in place */
    {"NITC_KROWS", SWITCH, 0, 1},      /* cg/conv.c: the input error by kernel rows */
    {"NITC_PAIR", SWITCH, 0, 1},       /* plan.c, plan_pairs: a dense layer's backward GEMMs side by side */
    {"NITC_POOL_TAPS", SWITCH, 0, 1},  /* plan.c, plan_taps: max pools keep their taps, activations apart */
    {"NITC_ROWS", SWITCH, 0, 1},       /* cg/step.c: conv forwards by output rows */
    {"NITC_TILE_WORDS", SWITCH, 0, 1}, /* cg/step.c: panel words built in the tile */
    {"NITC_GEMM", TEXT, 0, 0},         /* cg/gemm.c, gemm_isa: a portable GEMM kernel by name */
    {"NITC_RUNTIME_DIR", TEXT, 0, 0},  /* emit.c: where libnitrt-<triple>.a is found (after --runtime-dir) */
};
enum { NVARS = sizeof vars / sizeof vars[0] };

static int lookup(const char *name) {
  for (int i = 0; i < NVARS; i++)
    if (!strcmp(vars[i].name, name)) return i;
  diag_internal(__FILE__, __LINE__, "a developer variable missing from env.c's table");
}

/* The value of a NUM or SWITCH variable that is set and usable, else -1;
 * *why is then set, when it is set but unusable, to what was expected. */
static int64_t parse(int i, char *why, size_t cap) {
  const char *e = getenv(vars[i].name);
  why[0] = 0;
  if (!e || !*e) return -1; /* VAR= reads as unset, as a shell user means it */
  char *end = NULL;
  errno = 0;
  long long v = e[0] >= '0' && e[0] <= '9' ? strtoll(e, &end, 10) : -1;
  bool ok = v >= 0 && !*end && errno == 0;
  if (vars[i].kind == SWITCH && !(ok && v <= 1)) snprintf(why, cap, "0 (off) or 1 (on)");
  else if (!ok) snprintf(why, cap, "a non-negative integer");
  else if (v < vars[i].min || v % vars[i].step)
    snprintf(why, cap, "a multiple of %lld, at least %lld", (long long)vars[i].step, (long long)vars[i].min);
  return why[0] ? -1 : (int64_t)v;
}

void env_check(void) {
  char why[64];
  for (int i = 0; i < NVARS; i++)
    if (vars[i].kind != TEXT && parse(i, why, sizeof why) < 0 && why[0])
      diag_plain_warning("%s='%s' is not %s; it is ignored", vars[i].name, diag_quote(getenv(vars[i].name)), why);
}

int64_t env_num(const char *name, int64_t dflt) {
  char why[64];
  int64_t v = parse(lookup(name), why, sizeof why);
  return v < 0 ? dflt : v;
}

const char *env_text(const char *name) {
  const char *e = getenv(vars[lookup(name)].name);
  return e && *e ? e : NULL;
}
