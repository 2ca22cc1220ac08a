/*
 * test_norm.c: the runtime's normalization kernels (runtime/norm.c) against
 * the reference (tests/ref/recipe_norm.c) on random layers of the four
 * kinds, one call at a time: the training forward's statistics, LINSUM S
 * and exponent, the running statistics, the evaluation forward, and the
 * backward's S and exponent, dbeta and dgamma. Every comparison is exact.
 *
 * The kernels take different paths by shape (runtime/norm.c): per block,
 * per sample for the layer kinds, by lanes of channels for a batch kind
 * after a dense layer (HW = 1, from 4 channels; full lanes of 32 and 16
 * and partial ones), with tables where they pay, and an int64 lane path
 * that falls back to 128-bit alignment for groups too large for it. The
 * shapes below reach each of them; the end-to-end differential tests
 * (codegen_diff_*) reach them only with the small layers of their random
 * networks.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitabi.h"
#include "recipe.h"

static uint64_t rng_state;
static uint64_t rnd(void) { return nit_mix64(rng_state += NIT_GOLDEN); }
static int64_t rnd_range(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

/* A layer and its inputs. */
typedef struct Case {
  int kind;                 /* NIT_NORM_* */
  int64_t n, c, hw;         /* samples, channels, H * W */
  int8_t *v, *dy;           /* (n, C, HW) */
  int8_t gamma[256], beta[256];
  int s_x, s_g, s_b, s_e;
} Case;

static RecNormKind rec_kind(int kind) {
  switch (kind) {
  case NIT_NORM_BATCH: return REC_BN;
  case NIT_NORM_LAYER: return REC_LN;
  case NIT_NORM_L1BATCH: return REC_L1BN;
  default: return REC_L1LN;
  }
}

/* int8 values in [lo, hi], some of them forced to the ends. */
static void fill(int8_t *p, int64_t n, int lo, int hi) {
  for (int64_t j = 0; j < n; j++) {
    uint64_t r = rnd();
    p[j] = (int8_t)(r % 16 == 0 ? lo : r % 16 == 1 ? hi : rnd_range(lo, hi));
  }
}

/* The values' range: full int8, narrow (tables pay), or one-signed. */
static void pick_range(int *lo, int *hi) {
  switch (rnd() % 4) {
  case 0: *lo = -3, *hi = 3; break;
  case 1: *lo = 0, *hi = 127; break;
  case 2: *lo = -20, *hi = 9; break;
  default: *lo = -128, *hi = 127; break;
  }
}

static void make(Case *k, int kind, int64_t n, int64_t c, int64_t hw, bool extreme) {
  ck_assert(c <= 256); /* gamma, beta and the parameter gradients in fixed arrays */
  memset(k, 0, sizeof *k);
  k->kind = kind, k->n = n, k->c = c, k->hw = hw;
  int64_t cnt = n * c * hw;
  k->v = malloc((size_t)cnt);
  k->dy = malloc((size_t)cnt);
  ck_assert(k->v && k->dy);
  int lo, hi;
  if (extreme) { /* |gamma dy| and N as large as they come: past the lane path's int64 */
    fill(k->v, cnt, -128, 127);
    fill(k->dy, cnt, 126, 127);
    for (int64_t j = 0; j < cnt; j++)
      if (rnd() & 1) k->dy[j] = (int8_t)-k->dy[j];
    for (int64_t j = 0; j < c; j++) k->gamma[j] = j % 2 ? 127 : -128, k->beta[j] = (int8_t)rnd_range(-128, 127);
  } else {
    pick_range(&lo, &hi);
    fill(k->v, cnt, lo, hi);
    pick_range(&lo, &hi);
    fill(k->dy, cnt, lo, hi);
    for (int64_t j = 0; j < c; j++) {
      k->gamma[j] = (int8_t)(rnd() % 8 == 0 ? 0 : rnd_range(-128, 127));
      k->beta[j] = (int8_t)(rnd() % 8 == 0 ? 0 : rnd_range(-128, 127));
    }
  }
  k->s_x = (int)rnd_range(-9, 2), k->s_g = (int)rnd_range(-8, 0), k->s_b = (int)rnd_range(-8, 0);
  k->s_e = (int)rnd_range(-12, 0);
}

static void release(Case *k) {
  free(k->v);
  free(k->dy);
}

#define FAIL(...) ck_abort_msg(__VA_ARGS__)

/* One layer through both, every result compared. */
static void check_case(const Case *k, const char *what) {
  int64_t n = k->n, c = k->c, cnt = n * c * k->hw;
  int64_t desc[NIT_NORM_DESC] = {k->kind, c, k->hw, 1, 5, 1, 1, 0, 0}; /* eps 0.00001, momentum 0.1, k default */
  RecNorm rl = {rec_kind(k->kind), (int)n, (int)c, k->hw, rec_sdec(1, 5), {REC_SQRT_PI_2_Q30, -30}};
  int batch = rec_norm_batch_stats(rl.kind);
  int64_t groups = rec_norm_groups(&rl);

  int64_t *S = malloc(sizeof(int64_t) * (size_t)cnt), *rs = malloc(sizeof(int64_t) * 3 * (size_t)cnt);
  int64_t *st = malloc(sizeof(int64_t) * NIT_NORM_STAT * (size_t)(n > c ? n : c));
  int64_t *scr = malloc(sizeof(int64_t) * (size_t)NIT_NORM_SCRATCH(n, c));
  RecNormStat *rst = malloc(sizeof(RecNormStat) * (size_t)groups);
  int32_t *run = malloc(sizeof(int32_t) * 4 * (size_t)c);
  RecScalar *mean = malloc(sizeof(RecScalar) * (size_t)c), *dev = malloc(sizeof(RecScalar) * (size_t)c);
  int8_t *y = malloc((size_t)cnt);
  int64_t dbeta[256], rdbeta[256], dgamma[256], rdg[256];
  RecScalar rdgamma[256];
  ck_assert(S && rs && st && scr && rst && run && mean && dev && y);

  /* the training forward */
  rec_norm_running_init(&rl, mean, dev);
  for (int64_t j = 0; j < c; j++)
    run[4 * j] = (int32_t)mean[j].m, run[4 * j + 1] = (int32_t)mean[j].e, run[4 * j + 2] = (int32_t)dev[j].m,
                run[4 * j + 3] = (int32_t)dev[j].e;
  int32_t w = nitrt_norm_forward(NULL, desc, n, k->v, k->s_x, k->gamma, k->s_g, k->beta, k->s_b, 1, run, st, scr, S);
  int s_y = 0;
  ck_assert_int_eq(rec_norm_forward(&rl, k->v, k->s_x, k->gamma, k->s_g, k->beta, k->s_b, 8, NIT_ROUND_NEAREST, 0, rst,
                                    y, &s_y, rs),
                   0);
  for (int64_t g = 0; g < groups; g++) {
    const int64_t *q = st + NIT_NORM_STAT * g;
    if (q[0] != rst[g].s1 || q[1] != rst[g].var || q[2] != rst[g].rho.m || q[3] != rst[g].rho.e)
      FAIL("%s: forward statistics of group %lld: got (%lld, %lld, %lld, %lld) want (%lld, %lld, %lld, %d)", what,
           (long long)g, (long long)q[0], (long long)q[1], (long long)q[2], (long long)q[3], (long long)rst[g].s1,
           (long long)rst[g].var, (long long)rst[g].rho.m, (int)rst[g].rho.e);
  }
  for (int64_t j = 0; j < cnt; j++)
    if (S[j] != rs[j]) FAIL("%s: forward S[%lld] = %lld, want %lld", what, (long long)j, (long long)S[j], (long long)rs[j]);
  int k_rt = rec_rq8(S, cnt, 8, NIT_ROUND_NEAREST, 0, y);
  if (w + k_rt != s_y) FAIL("%s: forward exponent %d + %d, want %d", what, (int)w, k_rt, s_y);

  /* the running statistics, then the evaluation forward with them */
  if (batch) {
    rec_norm_running_update(&rl, rst, k->s_x, rec_sdec(1, 1), rec_sdec(9, 1), mean, dev);
    for (int64_t j = 0; j < c; j++)
      if (run[4 * j] != mean[j].m || run[4 * j + 1] != mean[j].e || run[4 * j + 2] != dev[j].m ||
          run[4 * j + 3] != dev[j].e)
        FAIL("%s: running statistics of channel %lld differ", what, (long long)j);
  }
  w = nitrt_norm_forward(NULL, desc, n, k->v, k->s_x, k->gamma, k->s_g, k->beta, k->s_b, 0, run, st, scr, S);
  ck_assert_int_eq(rec_norm_eval(&rl, k->v, k->s_x, k->gamma, k->s_g, k->beta, k->s_b, mean, dev, 8, NIT_ROUND_NEAREST,
                                 0, y, &s_y, rs),
                   0);
  for (int64_t j = 0; j < cnt; j++)
    if (S[j] != rs[j]) FAIL("%s: eval S[%lld] = %lld, want %lld", what, (long long)j, (long long)S[j], (long long)rs[j]);
  k_rt = rec_rq8(S, cnt, 8, NIT_ROUND_NEAREST, 0, y);
  if (w + k_rt != s_y) FAIL("%s: eval exponent %d + %d, want %d", what, (int)w, k_rt, s_y);

  /* the backward from the training forward's statistics */
  nitrt_norm_forward(NULL, desc, n, k->v, k->s_x, k->gamma, k->s_g, k->beta, k->s_b, 1, run, st, scr, S);
  int32_t s_dg = 0;
  w = nitrt_norm_backward(NULL, desc, n, k->v, k->s_x, st, k->gamma, k->s_g, k->dy, k->s_e, scr, S, dbeta, dgamma,
                          &s_dg);
  int64_t rw = rec_norm_backward_wide(&rl, k->v, k->s_x, rst, k->gamma, k->s_g, k->dy, k->s_e, rs, rs + cnt);
  for (int64_t j = 0; j < cnt; j++)
    if (S[j] != rs[j]) FAIL("%s: backward S[%lld] = %lld, want %lld", what, (long long)j, (long long)S[j], (long long)rs[j]);
  if (w != rw) FAIL("%s: backward exponent %d, want %lld", what, (int)w, (long long)rw);
  ck_assert_int_eq(rec_norm_param_grads(&rl, k->v, rst, k->dy, rdbeta, rdgamma), 0);
  RecTerm t = {NULL, k->s_e, rdgamma, c, 1}; /* dgamma as the runtime returns it: LINSUM((dgamma_c, 1, s_e)) */
  int64_t wg = rec_linsum(&t, 1, c, rdg);
  for (int64_t j = 0; j < c; j++) {
    if (dbeta[j] != rdbeta[j]) FAIL("%s: dbeta[%lld] = %lld, want %lld", what, (long long)j, (long long)dbeta[j], (long long)rdbeta[j]);
    if (dgamma[j] != rdg[j]) FAIL("%s: dgamma[%lld] = %lld, want %lld", what, (long long)j, (long long)dgamma[j], (long long)rdg[j]);
  }
  if (s_dg != wg) FAIL("%s: dgamma exponent %d, want %lld", what, (int)s_dg, (long long)wg);

  free(S), free(rs), free(st), free(scr), free(rst), free(run), free(mean), free(dev), free(y);
}

static void run_shape(int kind, int64_t n, int64_t c, int64_t hw, bool extreme) {
  Case k;
  char what[96];
  snprintf(what, sizeof what, "kind %d (%lld, %lld, %lld)%s", kind, (long long)n, (long long)c, (long long)hw,
           extreme ? " extreme" : "");
  make(&k, kind, n, c, hw, extreme);
  check_case(&k, what);
  release(&k);
}

/* A dense layer's norms (HW = 1): channel counts around the lanes' widths. */
START_TEST(dense_random) {
  rng_state = 0xD0D0;
  static const int64_t cs[] = {1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 48, 64, 100, 255};
  for (int i = 0; i < 120; i++) {
    int64_t c = cs[rnd() % (sizeof cs / sizeof cs[0])], n = rnd_range(1, 300);
    run_shape((int)(rnd() % 4), n, c, 1, false);
  }
}
END_TEST

/* Conv-shaped layers: blocks of a few values and of many. */
START_TEST(conv_random) {
  rng_state = 0xC0C0;
  static const int64_t hws[] = {2, 4, 9, 15, 16, 49, 64};
  for (int i = 0; i < 60; i++) {
    int64_t hw = hws[rnd() % (sizeof hws / sizeof hws[0])];
    run_shape((int)(rnd() % 4), rnd_range(1, 40), rnd_range(1, 20), hw, false);
  }
}
END_TEST

/* Groups whose products pass 2^62 in the lane path (it falls back), and
 * the same sizes with ordinary values. */
START_TEST(dense_large) {
  rng_state = 0x1A26E;
  run_shape(NIT_NORM_BATCH, 140000, 4, 1, true);
  run_shape(NIT_NORM_L1BATCH, 140000, 5, 1, true);
  run_shape(NIT_NORM_BATCH, 20000, 40, 1, false);
  run_shape(NIT_NORM_L1BATCH, 5000, 33, 1, true);
}
END_TEST

/* Layer kinds whose samples differ wildly: constant values (the deviation is
 * eps alone, rho large), nearly constant, and wide ones, with errors that
 * are sparse and small or large, so that the terms of a channel's dgamma
 * chain lie up to 62 bits apart (nitrt_sadd's 128-bit case included). */
START_TEST(layer_gaps) {
  rng_state = 0x6A95;
  for (int i = 0; i < 40; i++) {
    int kind = i % 2 ? NIT_NORM_LAYER : NIT_NORM_L1LAYER;
    int64_t n = rnd_range(2, 48), c = rnd_range(4, 80);
    Case k;
    make(&k, kind, n, c, 1, false);
    for (int64_t s = 0; s < n; s++) {
      int8_t *v = k.v + s * c, *dy = k.dy + s * c;
      int shape = (int)(rnd() % 3);
      for (int64_t j = 0; j < c; j++) {
        v[j] = shape == 0 ? 5 : shape == 1 ? (int8_t)(j == 0 ? 6 : 5) : (int8_t)rnd_range(-128, 127);
        dy[j] = rnd() % 2 ? (int8_t)(rnd() % 5 == 0 ? 1 : 0) : (int8_t)rnd_range(-128, 127);
      }
    }
    char what[64];
    snprintf(what, sizeof what, "gaps %d: kind %d (%lld, %lld, 1)", i, kind, (long long)n, (long long)c);
    check_case(&k, what);
    release(&k);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("norm");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, dense_random);
  tcase_add_test(tc, conv_random);
  tcase_add_test(tc, dense_large);
  tcase_add_test(tc, layer_gaps);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
