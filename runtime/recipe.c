/*
 * recipe.c: the effective training recipe (RunRecipe) and its rules.
 *
 * A run's recipe starts as the model's NitRecipe (the .nit file's train
 * block), is replaced by a checkpoint's when resuming, and is overridden
 * flag by flag from the command line. Every path that fills a RunRecipe
 * from outside (flags, checkpoint bytes) ends in nitrt_recipe_check, so the
 * training loop and the generated code only ever see legal values. This
 * file depends on nothing but util.c: the command line, checkpoints,
 * training and `info` all use it.
 */
#include <string.h>

#include "nitrt.h"

const char *nitrt_round_name(int32_t mode) { return mode >= 0 && mode < NIT_ROUND_COUNT ? nit_round_names[mode] : "?"; }

/* "M" or "M@E" entries separated by commas; E strictly increasing, first 1. */
int nitrt_parse_sched(const char *s, RunRecipe *r) {
  int32_t n = 0;
  const char *p = s;
  while (1) {
    if (n == NIT_MAX_SCHED) {
      nitrt_error("--update-bits: at most %d entries, got '%s'", NIT_MAX_SCHED, s);
      return -1;
    }
    int64_t mu = 0, from = n == 0 ? 1 : 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 6; p++, digits++) mu = mu * 10 + (*p - '0');
    if (digits == 0 || mu < NITRT_MU_MIN || mu > NITRT_MU_MAX) goto bad;
    if (*p == '@') {
      p++;
      digits = 0;
      from = 0;
      for (; *p >= '0' && *p <= '9' && digits < 9; p++, digits++) from = from * 10 + (*p - '0');
      if (digits == 0) goto bad;
    } else if (n > 0) {
      goto bad;
    }
    if (n == 0 && from != 1) {
      nitrt_error("--update-bits: the first entry must start at epoch 1, got '%s'", s);
      return -1;
    }
    if (n > 0 && from <= r->mu_from[n - 1]) {
      nitrt_error("--update-bits: epochs must increase, got '%s'", s);
      return -1;
    }
    r->mu[n] = (int32_t)mu;
    r->mu_from[n] = (int32_t)from;
    n++;
    if (*p == '\0') break;
    if (*p != ',') goto bad;
    p++;
  }
  for (int32_t i = n; i < NIT_MAX_SCHED; i++) r->mu[i] = r->mu_from[i] = 0;
  r->nsched = n;
  return 0;
bad:
  nitrt_error("--update-bits: expected bits %d..%d with optional epochs, like '3' or "
              "'3,2@5', got '%s'",
              NITRT_MU_MIN, NITRT_MU_MAX, s);
  return -1;
}

void nitrt_model_recipe(const NitModel *m, RunRecipe *r) {
  const NitRecipe *k = &m->recipe;
  memset(r, 0, sizeof *r);
  r->batch = k->batch > 0 && k->batch <= m->batch ? k->batch : m->batch;
  r->epochs = k->epochs > 0 ? k->epochs : 1;
  r->seed = k->seed;
  r->act_round = k->act_round;
  r->err_round = k->err_round;
  r->grad_round = k->grad_round;
  r->nsched = k->nsched > 0 && k->nsched <= NIT_MAX_SCHED ? k->nsched : 0;
  for (int32_t i = 0; i < r->nsched; i++) {
    r->mu[i] = k->mu[i];
    r->mu_from[i] = k->mu_from[i];
  }
  if (r->nsched == 0) { /* a model without a schedule: NITI's default */
    r->nsched = 1;
    r->mu[0] = 5;
    r->mu_from[0] = 1;
  }
  r->decay = k->decay;
  r->holdout = k->holdout;
  r->limit = 0;
}

int32_t nitrt_mu_for_epoch(const RunRecipe *r, int32_t epoch) {
  int32_t mu = r->mu[0];
  for (int32_t i = 0; i < r->nsched; i++)
    if (r->mu_from[i] <= epoch) mu = r->mu[i];
  return mu;
}
