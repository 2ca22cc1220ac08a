/*
 * recipe_sgd.c: master weights, their views, the gradient reduction, the
 * integer SGD step and the learning-rate schedules (R§6).
 */
#include "recipe.h"

#include <stdlib.h>

#include "ref.h"

/* ------------------------------------------------------ masters, views */

int rec_master_init(int64_t fan_in, int a_bits, uint64_t seed, int p, int64_t count, int32_t *w,
                    int *bound) {
  int exp8, bound8;
  ref_init_rule(fan_in, &exp8, &bound8); /* N§11: exp8 = c - 7 */
  if (fan_in < 1)
    fan_in = 1;
  int c = exp8 + 7;
  /* M15 = min(32767, isqrt((6 * 4^(15-c)) div fan_in)); 6 * 4^(15-c) < 2^61 */
  uint64_t num = (uint64_t)6 << (2 * (15 - c));
  uint64_t m = ref_isqrt(num / (uint64_t)fan_in);
  int m15 = m > 32767 ? 32767 : (int)m;
  uint64_t key = nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p));
  uint64_t span = 2 * (uint64_t)m15 + 1;
  int shift = a_bits == 32 ? 16 : 0;
  for (int64_t j = 0; j < count; j++) {
    int32_t v = (int32_t)(nit_draw(key, (uint64_t)j) % span) - m15;
    w[j] = (int32_t)((int64_t)v * ((int64_t)1 << shift));
  }
  if (bound)
    *bound = m15;
  return c - 15 - shift;
}

int rec_gamma_init(int a_bits, int64_t count, int32_t *w) {
  for (int64_t j = 0; j < count; j++)
    w[j] = (int32_t)1 << (a_bits - 2);
  return 2 - a_bits;
}

int rec_beta_init(int64_t count, int32_t *w) {
  for (int64_t j = 0; j < count; j++)
    w[j] = 0;
  return 0;
}

int rec_view(const int32_t *w, int64_t count, int s_w, int b, int mode, uint64_t key,
             int8_t *view) {
  int bw = ref_bitlen32(w, count);
  int k = bw > b - 1 ? bw - (b - 1) : 0;
  int64_t lim = rec_lim(b);
  for (int64_t j = 0; j < count; j++)
    view[j] = (int8_t)ref_sat(ref_round_wide(w[j], k, mode, key, (uint64_t)j), lim);
  return s_w + k;
}

int rec_view_sq(const int32_t *w, int64_t count, int64_t rows, int s_w, int b, int mode,
                uint64_t key, int8_t *view) {
  int64_t *x = malloc(sizeof *x * (size_t)count);
  int *kc = malloc(sizeof *kc * (size_t)rows);
  int base = -1000 - s_w;
  if (x && kc) {
    for (int64_t j = 0; j < count; j++)
      x[j] = w[j];
    base = rec_sq(x, count, b, count / rows, rows, mode, key, kc, view);
  }
  free(x);
  free(kc);
  return s_w + base;
}

int rec_grad_reduce(const int64_t *g32, int64_t count, int mode, uint64_t key, int32_t *g) {
  int bg = ref_bitlen64(g32, count);
  int k = bg > 31 ? bg - 31 : 0;
  for (int64_t j = 0; j < count; j++)
    g[j] = (int32_t)ref_sat(ref_round_wide(g32[j], k, mode, key, (uint64_t)j), rec_lim(32));
  return k;
}

/* ----------------------------------------------------------------- SGD */

int rec_sgd_step(const RecSgd *o, int64_t count, int32_t *w, int *s_w, int32_t *v, int *s_v,
                 const int32_t *g, int s_g) {
  int64_t *w64 = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
  int64_t *v64 = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
  int64_t *g64 = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
  int64_t *vn = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
  int64_t *tmp = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
  int rc = -1;
  if (!w64 || !v64 || !g64 || !vn || !tmp)
    goto out;
  for (int64_t j = 0; j < count; j++) {
    w64[j] = w[j];
    v64[j] = v ? v[j] : 0;
    g64[j] = g[j];
  }
  RecScalar inv_n = rec_sdiv(rec_one(), rec_sint(o->n));
  RecScalar one = rec_one(), neg_eta = rec_sneg(o->eta);
  /* V' = LINCOMB_A((momentum, V, s_V), (inv_n, G, s_G), (decay, W, s_W)) */
  RecTerm tv[3] = {
      {v64, v ? *s_v : 0, &o->momentum, 1, 1},
      {g64, s_g, &inv_n, 1, 1},
      {w64, *s_w, &o->decay, 1, 1},
  };
  int64_t svn = rec_lincomb(tv, 3, count, o->a_bits, o->mode, o->key_mom, tmp, vn);
  /* W' = LINCOMB_A((ONE, W, s_W), (sneg(eta), V', s_V')) */
  RecTerm tw[2] = {
      {w64, *s_w, &one, 1, 1},
      {vn, svn, &neg_eta, 1, 1},
  };
  int64_t swn = rec_lincomb(tw, 2, count, o->a_bits, o->mode, o->key_master, tmp, w64);
  for (int64_t j = 0; j < count; j++) {
    w[j] = (int32_t)w64[j];
    if (v)
      v[j] = (int32_t)vn[j];
  }
  *s_w = (int)swn;
  if (v)
    *s_v = (int)svn;
  rc = 0;
out:
  free(w64);
  free(v64);
  free(g64);
  free(vn);
  free(tmp);
  return rc;
}

/* ------------------------------------------------------------ schedules */

RecScalar rec_lr(const RecSchedule *sch, int64_t epoch, uint64_t t, int64_t steps_per_epoch) {
  RecScalar eta;
  if (sch->kind == REC_LR_PIECEWISE) {
    /* the last entry whose epoch is <= the current epoch */
    eta = sch->value[0];
    for (int i = 1; i < sch->count; i++)
      if (sch->at[i] <= epoch)
        eta = sch->value[i];
  } else {
    uint64_t tt = (uint64_t)sch->period * (uint64_t)steps_per_epoch; /* T = E S */
    uint64_t p = t % (2 * tt);
    if (p > tt)
      p = 2 * tt - p; /* past the period the curve rises again */
    RecScalar f = rec_snorm(rec_cosq_q30((int64_t)p, (int64_t)tt), -30);
    eta = rec_sadd(sch->min, rec_smul(rec_sadd(sch->base, rec_sneg(sch->min)), f));
  }
  if (t < (uint64_t)sch->warmup) {
    int64_t r = sch->warmup_ratio_q30;
    int64_t w = r + (int64_t)(((rec_i128)(((int64_t)1 << 30) - r) * (rec_i128)t) /
                              (rec_i128)sch->warmup);
    eta = rec_smul(eta, rec_snorm(w, -30));
  }
  return eta;
}
