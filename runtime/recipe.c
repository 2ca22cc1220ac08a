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
  r->loss_table = k->loss_table; /* either softmax under any recipe */
  if (k->kind == NIT_RECIPE_NITI) return;
  r->kind = k->kind;
  r->master_bits = k->master_bits;
  r->view_round = k->view_round;
  r->update_round = k->update_round;
  NitLrSchedule *s = &r->lr;
  s->kind = k->lr_kind;
  s->count = k->lr_kind == NIT_LR_COSINE ? 1 : k->nlr;
  for (int32_t i = 0; i < s->count && i < NIT_MAX_SCHED; i++) {
    s->n[i] = k->lr_n[i];
    s->f[i] = k->lr_f[i];
    s->at[i] = i == 0 ? 1 : k->lr_at[i];
  }
  if (s->kind == NIT_LR_COSINE) {
    s->min_n = k->lr_min_n;
    s->min_f = k->lr_min_f;
    s->period = k->lr_period > 0 ? k->lr_period : r->epochs; /* default: the run's epochs */
  }
  s->warmup = k->warmup;
  if (s->warmup > 0) {
    s->ratio_n = k->warmup_ratio_n;
    s->ratio_f = k->warmup_ratio_f;
  }
  r->momentum_n = k->momentum_n;
  r->momentum_f = k->momentum_f;
  r->wdecay_n = k->wdecay_n;
  r->wdecay_f = k->wdecay_f;
}

int32_t nitrt_mu_for_epoch(const RunRecipe *r, int32_t epoch) {
  int32_t mu = r->mu[0];
  for (int32_t i = 0; i < r->nsched; i++)
    if (r->mu_from[i] <= epoch) mu = r->mu[i];
  return mu;
}

/* ------------------------------------------------ recipes with masters */

int nitrt_parse_decimal(const char *flag, const char *s, uint64_t *n, int32_t *f) {
  uint64_t v = 0;
  int32_t frac = 0, digits = 0;
  bool point = false;
  const char *p = s;
  for (; *p; p++) {
    if (*p == '.' && !point) {
      point = true;
      continue;
    }
    if (*p < '0' || *p > '9') goto bad;
    if (point && ++frac > NITRT_DEC_F_MAX) goto bad;
    if (v > (NITRT_DEC_N_MAX - 9) / 10) goto bad;
    v = v * 10 + (uint64_t)(*p - '0');
    digits++;
  }
  if (digits == 0 || (point && frac == 0)) goto bad;
  *n = v;
  *f = frac;
  return 0;
bad:
  nitrt_error("--%s: expected a non-negative decimal like 0.05 (at most %d decimals), got '%s'", flag, NITRT_DEC_F_MAX,
              s);
  return -1;
}

char *nitrt_fmt_decimal(char *buf, uint64_t n, int32_t f) {
  char digits[32];
  if (f > NITRT_DEC_F_MAX + 9) { /* never from a checked recipe: keep to the buffer */
    snprintf(buf, 32, "?");
    return buf;
  }
  int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
  int k = 0;
  if (f <= 0) {
    snprintf(buf, 32, "%s", digits);
    return buf;
  }
  if (len <= f) { /* 0.000ddd */
    buf[k++] = '0';
    buf[k++] = '.';
    for (int i = 0; i < f - len; i++) buf[k++] = '0';
    for (int i = 0; i < len; i++) buf[k++] = digits[i];
  } else {
    for (int i = 0; i < len - f; i++) buf[k++] = digits[i];
    buf[k++] = '.';
    for (int i = len - f; i < len; i++) buf[k++] = digits[i];
  }
  while (k > 1 && buf[k - 1] == '0') k--; /* 0.50 -> 0.5, 1.0 -> 1 */
  if (buf[k - 1] == '.') k--;
  buf[k] = '\0';
  return buf;
}

int nitrt_decimal_cmp(uint64_t an, int32_t af, uint64_t bn, int32_t bf) {
  /* an 10^bf vs bn 10^af, in 128 bits */
  NitU128 a = an, b = bn;
  for (int32_t i = 0; i < bf; i++) a *= 10;
  for (int32_t i = 0; i < af; i++) b *= 10;
  return a < b ? -1 : a > b;
}

static int rbad(const char *where, const char *field, long long v, const char *want) {
  nitrt_error("%s: %s is %lld, expected %s", where, field, v, want);
  return -1;
}

#define RRANGE(field, v, lo, hi)                                               \
  do {                                                                         \
    long long v_ = (long long)(v);                                             \
    if (v_ < (long long)(lo) || v_ > (long long)(hi)) {                        \
      char w_[64];                                                             \
      snprintf(w_, sizeof w_, "%lld..%lld", (long long)(lo), (long long)(hi)); \
      return rbad(where, field, v_, w_);                                       \
    }                                                                          \
  } while (0)

/* A decimal of the recipe: n and f in range, value at most max_n / 10^max_f. */
static int check_dec(const char *where, const char *what, uint64_t n, int32_t f, uint64_t max_n, int32_t max_f,
                     const char *max_text) {
  char field[96];
  snprintf(field, sizeof field, "the decimal places of %s", what);
  RRANGE(field, f, 0, NITRT_DEC_F_MAX);
  if (n > NITRT_DEC_N_MAX || nitrt_decimal_cmp(n, f, max_n, max_f) > 0) {
    char a[32];
    nitrt_error("%s: %s is %s, expected 0..%s", where, what,
                n > NITRT_DEC_N_MAX ? "too long" : nitrt_fmt_decimal(a, n, f), max_text);
    return -1;
  }
  return 0;
}

int nitrt_recipe_check(const char *where, const RunRecipe *r) {
  RRANGE("the batch", r->batch, 1, NITRT_BATCH_MAX);
  RRANGE("the total epochs", r->epochs, 1, NITRT_EPOCHS_MAX);
  RRANGE("the activation rounding mode", r->act_round, 0, 2);
  RRANGE("the error rounding mode", r->err_round, 0, 2);
  RRANGE("the gradient rounding mode", r->grad_round, 0, 2);
  RRANGE("the number of update-bit schedule entries", r->nsched, 1, NIT_MAX_SCHED);
  char f[96];
  for (int32_t i = 0; i < NIT_MAX_SCHED; i++) {
    if (i >= r->nsched) {
      snprintf(f, sizeof f, "unused schedule entry %d", i + 1);
      RRANGE(f, r->mu[i], 0, 0);
      RRANGE(f, r->mu_from[i], 0, 0);
      continue;
    }
    snprintf(f, sizeof f, "update bits of schedule entry %d", i + 1);
    RRANGE(f, r->mu[i], NITRT_MU_MIN, NITRT_MU_MAX);
    snprintf(f, sizeof f, "the first epoch of schedule entry %d", i + 1);
    if (i == 0) RRANGE(f, r->mu_from[i], 1, 1);
    else RRANGE(f, r->mu_from[i], r->mu_from[i - 1] + 1, INT32_MAX);
  }
  RRANGE("decay", r->decay, 0, 1);
  RRANGE("the holdout", r->holdout, 0, INT32_MAX);
  RRANGE("the limit", r->limit, 0, INT64_MAX);
  RRANGE("the recipe", r->kind, 0, NIT_RECIPE_COUNT - 1);
  RRANGE("the table loss flag", r->loss_table, 0, 1);
  if (r->kind == NIT_RECIPE_NITI) {
    /* none of the settings of recipes with masters but the loss (any
     * recipe takes either softmax) */
    RunRecipe z;
    memset(&z, 0, sizeof z);
    z.loss_table = r->loss_table;
    const char *d = nitrt_recipe_diff(r, &z);
    if (d) {
      nitrt_error("%s: %s is set, expected none under recipe niti", where, d);
      return -1;
    }
    return 0;
  }
  if (r->decay != 0) return rbad(where, "NITI's integer decay", r->decay, "0 (off) under recipe ghaffari");
  if (r->master_bits != 16 && r->master_bits != 32) return rbad(where, "the master bits", r->master_bits, "16 or 32");
  RRANGE("the view rounding mode", r->view_round, 0, 2);
  RRANGE("the update rounding mode", r->update_round, 0, 2);
  const NitLrSchedule *s = &r->lr;
  RRANGE("the learning-rate schedule's kind", s->kind, NIT_LR_PIECEWISE, NIT_LR_COSINE);
  RRANGE("the learning-rate schedule's entries", s->count, 1, s->kind == NIT_LR_COSINE ? 1 : NIT_MAX_SCHED);
  for (int32_t i = 0; i < NIT_MAX_SCHED; i++) {
    if (i >= s->count) {
      snprintf(f, sizeof f, "unused learning-rate entry %d", i + 1);
      RRANGE(f, s->n[i], 0, 0);
      RRANGE(f, s->f[i], 0, 0);
      RRANGE(f, s->at[i], 0, 0);
      continue;
    }
    snprintf(f, sizeof f, "learning rate %d", i + 1);
    if (check_dec(where, f, s->n[i], s->f[i], NITRT_LR_MAX, 0, "1000")) return -1;
    snprintf(f, sizeof f, "the first epoch of learning rate %d", i + 1);
    if (i == 0) RRANGE(f, s->at[i], 1, 1);
    else RRANGE(f, s->at[i], s->at[i - 1] + 1, INT32_MAX);
  }
  if (s->kind == NIT_LR_COSINE) {
    if (check_dec(where, "the cosine schedule's minimum", s->min_n, s->min_f, s->n[0], s->f[0], "its base")) return -1;
    RRANGE("the cosine schedule's period", s->period, 1, NITRT_EPOCHS_MAX);
  } else {
    RRANGE("the cosine minimum of a piecewise schedule", s->min_n, 0, 0);
    RRANGE("the decimal places of the cosine minimum of a piecewise schedule", s->min_f, 0, 0);
    RRANGE("the cosine period of a piecewise schedule", s->period, 0, 0);
  }
  RRANGE("the warmup steps", s->warmup, 0, INT64_MAX);
  if (check_dec(where, "the warmup ratio", s->ratio_n, s->ratio_f, 1, 0, "1")) return -1;
  if (s->warmup == 0) {
    RRANGE("the warmup ratio without warmup", s->ratio_n, 0, 0);
    RRANGE("the decimal places of the warmup ratio without warmup", s->ratio_f, 0, 0);
  }
  if (check_dec(where, "the momentum", r->momentum_n, r->momentum_f, 1, 0, "1")) return -1;
  if (check_dec(where, "the weight decay", r->wdecay_n, r->wdecay_f, 1, 0, "1")) return -1;
  return 0;
}

const char *nitrt_recipe_diff(const RunRecipe *a, const RunRecipe *b) {
  if (a->kind != b->kind) return "the recipe";
  if (a->master_bits != b->master_bits) return "the master bits";
  if (a->view_round != b->view_round) return "the view rounding";
  if (a->update_round != b->update_round) return "the update rounding";
  if (a->loss_table != b->loss_table) return "the loss";
  const NitLrSchedule *x = &a->lr, *y = &b->lr;
  if (x->kind != y->kind || x->count != y->count || x->min_n != y->min_n || x->min_f != y->min_f ||
      x->period != y->period)
    return "the learning-rate schedule (--lr)";
  for (int32_t i = 0; i < NIT_MAX_SCHED; i++)
    if (x->n[i] != y->n[i] || x->f[i] != y->f[i] || x->at[i] != y->at[i]) return "the learning-rate schedule (--lr)";
  if (x->warmup != y->warmup || x->ratio_n != y->ratio_n || x->ratio_f != y->ratio_f) return "the warmup";
  if (a->momentum_n != b->momentum_n || a->momentum_f != b->momentum_f) return "the momentum (--momentum)";
  if (a->wdecay_n != b->wdecay_n || a->wdecay_f != b->wdecay_f) return "the weight decay (--decay)";
  return NULL;
}

uint64_t nitrt_recipe_hash(const RunRecipe *r) {
  const NitLrSchedule *s = &r->lr;
  uint64_t v[24 + 3 * NIT_MAX_SCHED]; /* 43 used */
  int k = 0;
  v[k++] = (uint64_t)r->kind;
  v[k++] = (uint64_t)r->master_bits;
  v[k++] = (uint64_t)r->view_round;
  v[k++] = (uint64_t)r->update_round;
  v[k++] = (uint64_t)r->loss_table;
  v[k++] = (uint64_t)s->kind;
  v[k++] = (uint64_t)s->count;
  for (int32_t i = 0; i < NIT_MAX_SCHED; i++) {
    v[k++] = s->n[i];
    v[k++] = (uint64_t)s->f[i];
    v[k++] = (uint64_t)s->at[i];
  }
  v[k++] = s->min_n;
  v[k++] = (uint64_t)s->min_f;
  v[k++] = (uint64_t)s->period;
  v[k++] = (uint64_t)s->warmup;
  v[k++] = s->ratio_n;
  v[k++] = (uint64_t)s->ratio_f;
  v[k++] = r->momentum_n;
  v[k++] = (uint64_t)r->momentum_f;
  v[k++] = r->wdecay_n;
  v[k++] = (uint64_t)r->wdecay_f;
  uint64_t h = NIT_GOLDEN;
  for (int i = 0; i < k; i++) h = nit_mix64(h + v[i] * NIT_GOLDEN + (uint64_t)i);
  return h;
}

NitS31 nitrt_recipe_lr(const RunRecipe *r, int32_t epoch, uint64_t step, int64_t steps_per_epoch) {
  if (r->kind == NIT_RECIPE_NITI) {
    NitS31 z = {0, 0};
    return z;
  }
  return nitrt_lr(&r->lr, epoch, step, steps_per_epoch > 0 ? steps_per_epoch : 1);
}
