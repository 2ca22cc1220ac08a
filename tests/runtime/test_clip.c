/*
 * test_clip.c: the runtime's error-site kernel of recipe unified
 * (runtime/clip.c, nitrt_clip_site and nitrt_clip_phi) against the golden
 * vectors of the specification's model (tests/ref/golden/unified.h) and,
 * over sequences of random error tensors, step by step against the
 * independent reference (tests/ref: rec_dsgc_site, rec_rq8, rec_phi_q30):
 * the same bytes, multipliers, exponents, d_c and held clips, with and
 * without a context whose parallel_for splits the tensor into chunks.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "golden/unified.h"
#include "recipe.h"
#include "s31.h"

static uint64_t rng_state;
static uint64_t rnd(void) { return nit_mix64(rng_state += NIT_GOLDEN); }

/* The golden site sequences of the model, through the kernel (i64 input,
 * multiplier 1). */
START_TEST(test_golden_sites) {
  for (int i = 0; i < G_N(G_SITE); i++) {
    const GSite *g = &G_SITE[i];
    int64_t desc[NIT_CLIP_DESC] = {1, g->on, g->every, g->range, g->grid, g->b, NIT_ROUND_STOCHASTIC};
    int32_t st[2] = {0, 0}; /* {l* + 1, s*}: no level held */
    int64_t scratch[NIT_CLIP_SCRATCH(64)];
    int8_t q[64];
    ck_assert_int_le(g->count, 64);
    for (int64_t t = 0; t < g->nsteps; t++) {
      uint64_t key = g->key0 + (uint64_t)t * 0x9E3779B97F4A7C15ULL;
      int32_t mu, s_in = (int32_t)G_UNI_DATA[g->s + t];
      uint32_t dq;
      int32_t off = nitrt_clip_site(NULL, desc, st, (uint64_t)t, key, G_UNI_DATA + g->x + t * g->count, 1, g->count, 1,
                                    s_in, q, &mu, &dq, scratch);
      const int64_t *e = G_UNI_DATA + g->o + 6 * t;
      ck_assert_int_eq(mu, e[1]);
      if (e[0] >= 0) ck_assert_int_eq(s_in + off, e[2]);
      ck_assert_int_eq(dq, e[3]);
      ck_assert_int_eq(st[0] - 1, e[4]);
      if (st[0] > 0) ck_assert_int_eq(st[1], e[5]);
      for (int64_t j = 0; j < g->count; j++) ck_assert_int_eq(q[j], G_UNI_DATA[g->q + t * g->count + j]);
    }
  }
}
END_TEST

/* A random error tensor of the kind a layer produces: magnitudes up to
 * 2^top with a heavy tail, a few exact zeros, sometimes all zero. */
static void rnd_tensor(int64_t *x, int64_t n, int top) {
  int zero = rnd() % 23 == 0;
  for (int64_t j = 0; j < n; j++) {
    int t = (int)(rnd() % (uint64_t)(top + 1));
    int64_t v = (int64_t)(rnd() & (((uint64_t)1 << t) - 1));
    x[j] = zero || rnd() % 9 == 0 ? 0 : (rnd() & 1) ? -v : v;
  }
}

/* A parallel_for that runs the chunks the pool would make, one after the
 * other and last chunk first. */
static int32_t chunked(void *pool, void (*body)(void *env, int64_t lo, int64_t hi, int32_t worker), void *env,
                       int64_t count, int32_t max_workers) {
  (void)pool;
  int32_t used = max_workers < count ? max_workers : (int32_t)count;
  for (int32_t w = used - 1; w >= 0; w--) body(env, count * w / used, count * (w + 1) / used, w);
  return used;
}

/* Sequences of 12 steps at sites of every kind (DSGC on both grids, clip
 * off, RQ_b in the three modes), widths 2..8, i32 and i64 inputs,
 * multipliers 1 and 8..15, exponents that drift: the kernel and the
 * reference agree on every byte and every returned value. Every tenth
 * sequence has tensors large enough for the kernel to split into chunks. */
START_TEST(test_against_reference) {
  enum { N = 60000 };
  NitCtx ctx = {.parallel_for = chunked};
  static int64_t x[N], xm[N], scratch[NIT_CLIP_SCRATCH(N)], rs[N];
  static int32_t x32[N];
  static int8_t q[N], qr[N], cand[N];
  rng_state = 77;
  for (int c = 0; c < 150; c++) {
    int64_t n = 1 + (int64_t)(rnd() % (c % 10 == 0 ? N : 700));
    int dsgc = c % 5 != 4, wide = c % 2, b = c % 3 ? 8 : 2 + (int)(rnd() % 7);
    int64_t desc[NIT_CLIP_DESC] = {dsgc,
                                   c % 7 != 6,
                                   1 + (int64_t)(rnd() % 5),
                                   1 + (int64_t)(rnd() % 8),
                                   c % 4 == 3 ? NIT_GRID_OCTAVE : NIT_GRID_EIGHTH,
                                   b,
                                   (int64_t)(rnd() % 3)};
    RecClipOpts o = {.on = (int)desc[NIT_CLIP_ON],
                     .every = desc[NIT_CLIP_EVERY],
                     .range = (int)desc[NIT_CLIP_RANGE],
                     .grid = (int)desc[NIT_CLIP_GRID],
                     .b = b};
    int32_t st[2] = {0, 0};
    RecClip rst = REC_CLIP_NONE;
    int32_t s = -(int32_t)(rnd() % 40);
    for (uint64_t t = 0; t < 12; t++) {
      int32_t mu_in = rnd() % 3 ? 1 : 8 + (int32_t)(rnd() % 8);
      int top = wide ? 2 + (int)(rnd() % (mu_in > 1 ? 54 : 58)) : 2 + (int)(rnd() % 26); /* |x mu| < 2^63 */
      rnd_tensor(x, n, top);
      for (int64_t j = 0; j < n; j++) {
        x32[j] = (int32_t)x[j];
        xm[j] = x[j] * mu_in;
      }
      if (!wide && top > 27) continue;
      s += (int32_t)(rnd() % 5) - 2;
      uint64_t key = rnd();
      int32_t mu;
      uint32_t dq;
      int32_t off = nitrt_clip_site(t % 2 ? NULL : &ctx, desc, st, t, key, wide ? (const void *)x : (const void *)x32,
                                    wide, n, mu_in, s, q, &mu, &dq, scratch);
      if (dsgc) {
        RecClipOut r;
        ck_assert_int_eq(rec_dsgc_site(&o, xm, n, s, t, key, &rst, qr, &r, rs, cand), 0);
        ck_assert_int_eq(mu, r.mu);
        ck_assert_int_eq(dq, r.dq);
        if (r.level >= 0) ck_assert_int_eq((int64_t)s + off, r.s);
        ck_assert_int_eq(st[0] - 1, rst.l);
        if (rst.l >= 0) ck_assert_int_eq(st[1], rst.s);
      } else {
        int k = rec_rq8(xm, n, b, (int)desc[NIT_CLIP_MODE], key, qr);
        ck_assert_int_eq(off, k);
        ck_assert_int_eq(mu, 1);
        ck_assert_int_eq(dq, 0);
      }
      ck_assert_msg(memcmp(q, qr, (size_t)n) == 0, "case %d step %d", c, (int)t);
    }
  }
}
END_TEST

/* phi against the model's vectors and the reference over dq. */
START_TEST(test_phi) {
  for (int i = 0; i < G_N(G_PHI); i++)
    ck_assert_int_eq(nitrt_clip_phi(G_PHI[i].dq, G_PHI[i].alpha_q16, G_PHI[i].beta_q30), G_PHI[i].phi);
  rng_state = 5;
  for (int i = 0; i < 100000; i++) {
    uint32_t dq = (uint32_t)(rnd() % ((1u << 30) + 1));
    int64_t a = 1 + (int64_t)(rnd() % ((uint64_t)1000 << 16)), b = 1 + (int64_t)(rnd() % (1u << 30));
    ck_assert_int_eq(nitrt_clip_phi(dq, a, b), rec_phi_q30(dq, a, b));
  }
}
END_TEST

static Suite *clip_suite(void) {
  Suite *s = suite_create("runtime_clip");
  TCase *tc = tcase_create("clip");
  tcase_add_test(tc, test_golden_sites);
  tcase_add_test(tc, test_against_reference);
  tcase_add_test(tc, test_phi);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(clip_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
