/*
 * test_recipe.c: Check suite of recipe.h (the building blocks and per-tensor
 * rules of the recipes beyond NITI, ../shared/spec/recipes.md, cited R§k).
 *
 * Two sources of expected values, never the output of this code:
 *   - hand computations from the specification, written out in the comment
 *     beside each case (the worked examples of R§2.1, §2.2, §5, §6.3, §7.2,
 *     §7.4 among them);
 *   - golden vectors in golden/ghaffari.h and golden/shiftquant.h, generated
 *     by golden/make_golden.py from the independent Python model of the
 *     specification (recipes-proto/, unbounded integers).
 * Properties (monotone tables, exact cancellation, unbiased rounding) are
 * checked on inputs drawn from the shared counter-based generator, so every
 * run is the same.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "golden/ghaffari.h"
#include "golden/shiftquant.h"
#include "recipe.h"
#include "ref.h"

#define PS NIT_ROUND_PSEUDO
#define ST NIT_ROUND_STOCHASTIC
#define NE NIT_ROUND_NEAREST

static RecScalar sc(int64_t m, int32_t e) {
  RecScalar r = {m, e};
  return r;
}

#define ck_scalar(a, M, E)                                                                        \
  do {                                                                                            \
    RecScalar a_ = (a);                                                                           \
    ck_assert_int_eq(a_.m, (M));                                                                  \
    ck_assert_int_eq(a_.e, (E));                                                                  \
  } while (0)

/* A deterministic source of test inputs. */
static uint64_t rnd(uint64_t i) {
  return nit_draw(nit_key(12345, 0, 0x7E57u), i);
}

static int is_norm(RecScalar a) {
  uint64_t m = ref_abs64(a.m);
  return a.m == 0 ? a.e == 0 : (m >= ((uint64_t)1 << 30) && m < ((uint64_t)1 << 31));
}

/* ---------------------------------------------------------- S31 scalars */

START_TEST(test_scalar_worked) {
  /* R§2.1's table. 0.1: 2^-4 <= 0.1 < 2^-3, L = -4, m = round(0.1 2^34)
   * = round(1717986918.4) = 1717986918, e = -34. */
  ck_scalar(rec_sdec(1, 1), 1717986918, -34);
  /* 0.9: L = -1, m = round(0.9 2^31) = round(1932735283.2) */
  ck_scalar(rec_sdec(9, 1), 1932735283, -31);
  /* 0.0005: 2^-11 = 0.000488 <= 0.0005, L = -11, round(0.0005 2^41) =
   * round(1099511627.776) */
  ck_scalar(rec_sdec(5, 4), 1099511628, -41);
  /* 1e-5: L = -17, round(1e-5 2^47) = round(1407374883.55) */
  ck_scalar(rec_sdec(1, 5), 1407374884, -47);
  /* 0.01: L = -7, round(0.01 2^37) = round(1374389534.72) */
  ck_scalar(rec_sdec(1, 2), 1374389535, -37);
  /* 20 = 1.25 2^4: L = 4, m = 20 2^26 = 1342177280 exactly */
  ck_scalar(rec_sdec(20, 0), 1342177280, -26);
  /* "20.00" is the same number */
  ck_scalar(rec_sdec(2000, 2), 1342177280, -26);
  ck_scalar(rec_sdec(0, 3), 0, 0);
  /* smul(0.1, 0.9): 1717986918 * 1932735283 = 3320413932151027794
   * (62 bits), k = 31: /2^31 = 1546188226.04 -> 1546188226, e = -65 + 31 */
  ck_scalar(rec_smul(rec_sdec(1, 1), rec_sdec(9, 1)), 1546188226, -34);
  /* 1/64 = 2^-6 exactly: (2^30, -36) */
  ck_scalar(rec_sdiv(rec_one(), rec_sint(64)), 1073741824, -36);
  /* 1/3: sint(3) = (3 2^29, -29); q = 2^92 / (3 2^29) = 2^63/3 rounded =
   * 3074457345618258603 (62 bits), k = 31: 1431655765.33 -> 1431655765,
   * e = -30 + 29 - 62 + 31 = -32 */
  ck_scalar(rec_sdiv(rec_one(), rec_sint(3)), 1431655765, -32);
  /* 1/sqrt(2) = 0.70710678118654 = 1518500249.99 2^-31 */
  ck_scalar(rec_srsqrt(rec_sint(2)), 1518500250, -31);
  /* 1/sqrt(12345) = 0.0090002475102 = 1236984598.8 2^-37 */
  ck_scalar(rec_srsqrt(rec_sint(12345)), 1236984599, -37);
  /* ONE and sint */
  ck_scalar(rec_one(), 1 << 30, -30);
  ck_scalar(rec_sint(1), 1 << 30, -30);
  ck_scalar(rec_sint(-3), -(3 << 29), -29);
  ck_scalar(rec_sint(0), 0, 0);
  /* snorm rounding up to 2^31: 2^32 - 1 has 32 bits, k = 1,
   * R_near = 2^31 -> (2^30, E + 2) */
  ck_scalar(rec_snorm(((rec_i128)1 << 32) - 1, 5), 1 << 30, 7);
  /* half away from zero on the magnitude: 2^31 + 1 -> k = 1, 2^30 + 1
   * (bit 0 = 1 rounds up); -(2^31 + 1) -> the negative of the same */
  ck_scalar(rec_snorm(((rec_i128)1 << 31) + 1, 0), (1 << 30) + 1, 1);
  ck_scalar(rec_snorm(-(((rec_i128)1 << 31) + 1), 0), -((1 << 30) + 1), 1);
  /* sq30: 0.5 = (2^30, -31) -> 2^29; ONE -> 2^30; (3 2^29, -31) = 0.75 */
  ck_assert_int_eq(rec_sq30(sc(1 << 30, -31)), 1 << 29);
  ck_assert_int_eq(rec_sq30(rec_one()), 1 << 30);
  ck_assert_int_eq(rec_sq30(sc(-(3 << 29), -31)), -(3 << 28));
  /* (2^30, -62) = 2^-32: times 2^30 = 0.25 -> 0; (2^30, -61): 0.5 -> 1
   * (half away from zero); (2^30 + 1, -61): 0.5 + 2^-31 -> 1;
   * (2^30 + 2, -31): 0.5 + 2^-30 -> 2^29 + 1 exactly (shift of 1, bit 0
   * clear); (2^30 + 1, -31): 2^29 + 0.5 -> 2^29 + 1 (half away) */
  ck_assert_int_eq(rec_sq30(sc(1 << 30, -62)), 0);
  ck_assert_int_eq(rec_sq30(sc(1 << 30, -61)), 1);
  ck_assert_int_eq(rec_sq30(sc(-(1 << 30), -61)), -1);
  ck_assert_int_eq(rec_sq30(sc((1 << 30) + 1, -61)), 1);
  ck_assert_int_eq(rec_sq30(sc((1 << 30) + 2, -31)), (1 << 29) + 1);
  ck_assert_int_eq(rec_sq30(sc((1 << 30) + 1, -31)), (1 << 29) + 1);
  ck_assert_int_eq(rec_sq30(sc(-((1 << 30) + 1), -31)), -((1 << 29) + 1));
  /* Q30/Q16 of decimals: 0.001 -> (2 2^30 + 1000) div 2000 = 1073742 (0.001
   * 2^30 = 1073741.8); 20 in Q16 = 1310720 */
  ck_assert_int_eq(rec_q30_dec(1, 3), 1073742);
  ck_assert_int_eq(rec_q16_dec(20, 0), 1310720);
}
END_TEST

START_TEST(test_scalar_golden) {
  for (int i = 0; i < G_N(G_SDEC); i++) {
    const GSdec *g = &G_SDEC[i];
    ck_scalar(rec_sdec(g->n, g->f), g->m, g->e);
    if (g->q30 >= 0)
      ck_assert_int_eq(rec_q30_dec(g->n, g->f), g->q30);
    if (g->q16 >= 0)
      ck_assert_int_eq(rec_q16_dec(g->n, g->f), g->q16);
  }
  for (int i = 0; i < G_N(G_SNORM); i++) {
    const GSnorm *g = &G_SNORM[i];
    rec_i128 p = (rec_i128)(((rec_u128)g->hi << 64) | g->lo);
    ck_scalar(rec_snorm(g->neg ? -p : p, g->e_in), g->m, g->e);
  }
  for (int i = 0; i < G_N(G_SOP); i++) {
    const GSop *g = &G_SOP[i];
    RecScalar a = sc(g->am, g->ae), b = sc(g->bm, g->be);
    ck_scalar(rec_smul(a, b), g->mm, g->me);
    ck_scalar(rec_sadd(a, b), g->sm, g->se);
    if (b.m != 0)
      ck_scalar(rec_sdiv(a, b), g->dm, g->de);
  }
  for (int i = 0; i < G_N(G_SRSQRT); i++) {
    const GSrsqrt *g = &G_SRSQRT[i];
    ck_scalar(rec_srsqrt(sc(g->am, g->ae)), g->rm, g->re);
  }
  for (int i = 0; i < G_N(G_SQ30); i++)
    ck_assert_int_eq(rec_sq30(sc(G_SQ30[i].am, G_SQ30[i].ae)), G_SQ30[i].q);
  for (int i = 0; i < G_N(G_ISQRT); i++) {
    rec_u128 v = ((rec_u128)G_ISQRT[i].hi << 64) | G_ISQRT[i].lo;
    ck_assert_uint_eq(rec_isqrt128(v), G_ISQRT[i].r);
  }
}
END_TEST

START_TEST(test_scalar_properties) {
  for (uint64_t i = 0; i < 20000; i++) {
    uint64_t r = rnd(i);
    /* snorm is exact below 2^31: m 2^(e - E) == P */
    int64_t p = (int64_t)(r % ((uint64_t)1 << 31)) - (int64_t)(((uint64_t)1 << 30));
    int64_t E = (int64_t)(rnd(i + 1000000) % 41) - 20;
    RecScalar s = rec_snorm(p, E);
    ck_assert(is_norm(s));
    if (p != 0) {
      int64_t d = E - s.e; /* >= 0: a left normalization */
      ck_assert_int_ge(d, 0);
      ck_assert_int_eq(s.m, p * ((int64_t)1 << d));
    }
    /* random normalized scalars */
    int64_t am = (int64_t)((uint64_t)1 << 30 | (r & 0x3FFFFFFF)) * ((r >> 40) & 1 ? -1 : 1);
    uint64_t r2 = rnd(i + 2000000);
    int64_t bm = (int64_t)((uint64_t)1 << 30 | (r2 & 0x3FFFFFFF)) * ((r2 >> 40) & 1 ? -1 : 1);
    RecScalar a = sc(am, (int32_t)((r >> 32) % 201) - 100);
    RecScalar b = sc(bm, (int32_t)((r2 >> 32) % 201) - 100);
    RecScalar ab = rec_smul(a, b), ba = rec_smul(b, a);
    ck_assert(ab.m == ba.m && ab.e == ba.e); /* commutative */
    ck_assert(is_norm(ab) && is_norm(rec_sadd(a, b)) && is_norm(rec_sdiv(a, b)));
    ck_scalar(rec_sadd(a, rec_sneg(a)), 0, 0); /* exact cancellation */
    ck_scalar(rec_sdiv(a, a), 1 << 30, -30);   /* a / a = ONE */
    RecScalar sab = rec_sadd(a, b), sba = rec_sadd(b, a);
    ck_assert(sab.m == sba.m && sab.e == sba.e);
  }
  /* srsqrt(x)^2 x within 2^-29 of 1 over 10^5 random positive x:
   * P = r.m^2 x.m (< 2^93) at exponent 2 r.e + x.e, compared with 1 */
  int64_t bad = -1;
  for (uint64_t i = 0; i < 100000 && bad < 0; i++) {
    uint64_t r = rnd(i + 5000000);
    RecScalar x = sc((int64_t)((uint64_t)1 << 30 | (r & 0x3FFFFFFF)), (int32_t)((r >> 32) % 301) - 150);
    RecScalar q = rec_srsqrt(x);
    rec_i128 pp = (rec_i128)q.m * q.m * x.m;
    int64_t e = 2 * (int64_t)q.e + x.e; /* about -92 */
    if (!is_norm(q) || q.m <= 0 || e >= 0 || e <= -126) {
      bad = (int64_t)i;
      break;
    }
    rec_i128 one = (rec_i128)1 << -e, diff = pp - one;
    if (diff < 0)
      diff = -diff;
    if (diff * ((rec_i128)1 << 29) > one)
      bad = (int64_t)i;
  }
  ck_assert_int_eq(bad, -1);
}
END_TEST

/* ---------------------------------------------------------------- tables */

START_TEST(test_tables) {
  for (int j = 0; j < 65; j++) {
    ck_assert_int_eq(REC_EXP2NEG_Q30[j], G_EXP2NEG[j]);
    ck_assert_int_eq(REC_COSHALF_Q30[j], G_COSHALF[j]);
  }
  ck_assert_int_eq(REC_EXP2NEG_Q30[0], 1 << 30);
  ck_assert_int_eq(REC_EXP2NEG_Q30[64], 1 << 29);
  ck_assert_int_eq(REC_COSHALF_Q30[0], 1 << 30);
  ck_assert_int_eq(REC_COSHALF_Q30[32], 1 << 29); /* cos(pi/2) = 0 */
  ck_assert_int_eq(REC_COSHALF_Q30[64], 0);
  /* R§2.2's examples. exp2neg(2^15): j = 32, r = 0: EXP2NEG[32] */
  ck_assert_int_eq(rec_exp2neg_q30(0), 1 << 30);
  ck_assert_int_eq(rec_exp2neg_q30(1 << 16), 1 << 29); /* n = 1, T[0] >> 1 */
  ck_assert_int_eq(rec_exp2neg_q30(1 << 15), 759250125);
  /* 216268 = 3 2^16 + 19660: j = 19, r = 204; T[19] - T[20] = 9415154,
   * 9415154 * 204 >> 10 = 1920691416 >> 10 = 1875675; 874040567 - 1875675
   * = 872164892, >> 3 = 109020611 */
  ck_assert_int_eq(rec_exp2neg_q30(216268), 109020611);
  ck_assert_int_eq(rec_exp2neg_q30((int64_t)31 << 16), 0); /* n >= 31 */
  ck_assert_int_eq(rec_exp2neg_q30(((int64_t)31 << 16) - 1) >= 0, 1);
  /* cosq(3, 10): X = 196608 div 10 = 19660, j = 19, r = 204;
   * C[19] - C[20] = 21544131, * 204 = 4395002724 >> 10 = 4291994;
   * 856684541 - 4291994 = 852392547 */
  ck_assert_int_eq(rec_cosq_q30(0, 10), 1 << 30);
  ck_assert_int_eq(rec_cosq_q30(5, 10), 1 << 29); /* X = 32768: j = 32 */
  ck_assert_int_eq(rec_cosq_q30(10, 10), 0);
  ck_assert_int_eq(rec_cosq_q30(3, 10), 852392547);
  /* exp2neg non-increasing on every Y in [0, 2^22] (exhaustive), and
   * between its table neighbours: T[j+1] >> n <= v <= T[j] >> n */
  /* (hot loops collect the first failure and assert once: a Check
   * assertion per iteration costs more than the function under test) */
  int64_t prev = rec_exp2neg_q30(0), bad = -1;
  for (int64_t y = 1; y <= ((int64_t)1 << 22) && bad < 0; y++) {
    int64_t v = rec_exp2neg_q30(y);
    int64_t j = (y & 0xFFFF) >> 10, n = y >> 16;
    if (v > prev || (n < 31 && (v > REC_EXP2NEG_Q30[j] >> n || v < REC_EXP2NEG_Q30[j + 1] >> n)))
      bad = y;
    prev = v;
  }
  ck_assert_int_eq(bad, -1);
  /* cosq: endpoints exact and non-increasing in p for T in 1..1000 */
  for (int64_t t = 1; t <= 1000 && bad < 0; t++) {
    if (rec_cosq_q30(0, t) != 1 << 30 || rec_cosq_q30(t, t) != 0)
      bad = t;
    int64_t pv = 1 << 30;
    for (int64_t p = 1; p <= t; p++) {
      int64_t v = rec_cosq_q30(p, t);
      if (v > pv)
        bad = t;
      pv = v;
    }
  }
  ck_assert_int_eq(bad, -1);
  for (int i = 0; i < G_N(G_EXP2NEG_AT); i++)
    ck_assert_int_eq(rec_exp2neg_q30(G_EXP2NEG_AT[i].y), G_EXP2NEG_AT[i].v);
  for (int i = 0; i < G_N(G_COSQ_AT); i++)
    ck_assert_int_eq(rec_cosq_q30(G_COSQ_AT[i].p, G_COSQ_AT[i].t), G_COSQ_AT[i].v);
}
END_TEST

/* ------------------------------------------------- RQ, SRdiv, aligned sum */

START_TEST(test_rq) {
  /* hand: x = [300, -5, 64] has B = 9; RQ_8: k = 2, nearest: 300/4 = 75,
   * -5/4 = -1.25 -> -1, 64/4 = 16 */
  int64_t x[] = {300, -5, 64}, o[3];
  ck_assert_int_eq(rec_rq(x, 3, 8, NE, 0, o), 2);
  ck_assert_int_eq(o[0], 75);
  ck_assert_int_eq(o[1], -1);
  ck_assert_int_eq(o[2], 16);
  /* RQ_4 of the same: k = 9 - 3 = 6: 300/64 = 4.69 -> 5, -5/64 -> 0, 64/64 = 1 */
  ck_assert_int_eq(rec_rq(x, 3, 4, NE, 0, o), 6);
  ck_assert_int_eq(o[0], 5);
  ck_assert_int_eq(o[1], 0);
  ck_assert_int_eq(o[2], 1);
  /* saturation at lim(b): 127.5 -> 128 at b = 8 with k = 1: 255 -> 127.5 -> 128 -> 127 */
  int64_t y[] = {255};
  ck_assert_int_eq(rec_rq(y, 1, 8, NE, 0, o), 1);
  ck_assert_int_eq(o[0], 127);
  /* an all-zero tensor: zeros, k = 0 (R§1.2) */
  int64_t z[] = {0, 0};
  int8_t z8[2] = {1, 1};
  ck_assert_int_eq(rec_rq8(z, 2, 8, ST, 99, z8), 0);
  ck_assert_int_eq(z8[0], 0);
  ck_assert_int_eq(z8[1], 0);
  /* RQ_8 equals NITI's ref_requant (R§1.1: RQ_8 is N§6's rule) */
  int64_t w[64];
  int8_t a8[64], b8[64];
  for (int i = 0; i < 200; i++) {
    for (int j = 0; j < 64; j++)
      w[j] = (int64_t)(rnd((uint64_t)(i * 64 + j)) >> (i % 60 + 1)) -
             (int64_t)(rnd((uint64_t)i) >> (i % 60 + 1));
    uint64_t key = rnd((uint64_t)i + 777);
    int mode = i % 3;
    ck_assert_int_eq(rec_rq8(w, 64, 8, mode, key, a8), ref_requant(w, 64, mode, key, b8));
    ck_assert(memcmp(a8, b8, 64) == 0);
  }
  for (int i = 0; i < G_N(G_RQ); i++) {
    const GRq *g = &G_RQ[i];
    int64_t out[32];
    ck_assert_int_eq(rec_rq(G_RQ_DATA + g->x, g->count, g->b, g->mode, g->key, out), g->k);
    for (int64_t j = 0; j < g->count; j++)
      ck_assert_int_eq(out[j], G_RQ_DATA[g->o + j]);
  }
}
END_TEST

START_TEST(test_srdiv) {
  /* exact quotients never round: F = 0 */
  for (uint64_t j = 0; j < 100; j++)
    ck_assert_uint_eq(rec_srdiv(12 * (j + 1), 12, 5, j), j + 1);
  /* d = 1 never rounds; a < d gives 0 or 1 */
  ck_assert_uint_eq(rec_srdiv(7, 1, 3, 0), 7);
  for (uint64_t j = 0; j < 100; j++)
    ck_assert_uint_le(rec_srdiv(1, 3, 5, j), 1);
  /* against the model */
  for (int i = 0; i < G_N(G_SRDIV); i++) {
    const GSrdiv *g = &G_SRDIV[i];
    ck_assert_uint_eq(rec_srdiv(g->a, g->d, g->key, g->j), g->q);
  }
  /* unbiased: mean of SRdiv(5, 7) over 65536 indices is 5/7 within 5 sigma
   * (sigma of the sum = sqrt(65536 * 5/7 * 2/7) = 115.7) */
  uint64_t sum = 0;
  for (uint64_t j = 0; j < 65536; j++)
    sum += rec_srdiv(5, 7, 42, j);
  int64_t dev = (int64_t)(sum * 7) - 5 * 65536; /* 7 (sum - 65536 5/7) */
  ck_assert_int_le(dev < 0 ? -dev : dev, 7 * 579);
}
END_TEST

START_TEST(test_align_sum) {
  /* hand: [3, -1] at -4 and [1, 2] at -6 -> s = -6: [12 + 1, -4 + 2] */
  int64_t a[] = {3, -1}, b[] = {1, 2}, z[] = {0, 0}, sum[2];
  const int64_t *t[] = {a, b};
  int ex[] = {-4, -6};
  ck_assert_int_eq(rec_align_sum(t, ex, 2, 2, 48, sum), -6);
  ck_assert_int_eq(sum[0], 13);
  ck_assert_int_eq(sum[1], -2);
  /* the guard: exponents 0 and -60 with guard 48 -> s = -48, b dropped */
  int ex2[] = {0, -60};
  ck_assert_int_eq(rec_align_sum(t, ex2, 2, 2, 48, sum), -48);
  ck_assert_int_eq(sum[0], (int64_t)3 << 48);
  ck_assert_int_eq(sum[1], -((int64_t)1 << 48));
  /* guard 44 (unified): s = -44 */
  ck_assert_int_eq(rec_align_sum(t, ex2, 2, 2, 44, sum), -44);
  /* a zero tensor at the stored exponent 0 does not move s (R§1.2) */
  const int64_t *t3[] = {a, z, b};
  int ex3[] = {-60, 0, -62};
  ck_assert_int_eq(rec_align_sum(t3, ex3, 3, 2, 48, sum), -62);
  ck_assert_int_eq(sum[0], 13);
  const int64_t *t4[] = {z, z};
  int ex4[] = {-3, 5};
  ck_assert_int_eq(rec_align_sum(t4, ex4, 2, 2, 48, sum), 0);
  ck_assert_int_eq(sum[0], 0);
  /* equals NITI's ref_align_sum on non-zero int8 tensors */
  for (int i = 0; i < 200; i++) {
    int8_t x8[3][5];
    int64_t x64[3][5];
    int e[3];
    for (int k = 0; k < 3; k++) {
      for (int j = 0; j < 5; j++) {
        x8[k][j] = (int8_t)((int)(rnd((uint64_t)(i * 15 + k * 5 + j)) % 255) - 127);
        x64[k][j] = x8[k][j];
      }
      x8[k][0] = 1 + k; /* non-zero */
      x64[k][0] = 1 + k;
      e[k] = (int)(rnd((uint64_t)(i * 3 + k + 99999)) % 120) - 60;
    }
    const int8_t *p8[] = {x8[0], x8[1], x8[2]};
    const int64_t *p64[] = {x64[0], x64[1], x64[2]};
    int64_t s1[5], s2[5];
    ck_assert_int_eq(rec_align_sum(p64, e, 3, 5, 48, s1), ref_align_sum(p8, e, 3, 5, s2));
    ck_assert(memcmp(s1, s2, sizeof s1) == 0);
  }
}
END_TEST

/* --------------------------------------------------------- LINSUM/LINCOMB */

START_TEST(test_linsum_hand) {
  /* 0.5 * [3, -4] at 0 + 0.25 * 1: coefficients (2^30, -31), (2^30, -32).
   * E = -31 and -32; H = max(-31 + 31 + B(4) = 3, -32 + 31 + 1 = 0) = 3,
   * W = max(-32, 3 - 60) = -32: S = 2^30 * [3, -4] * 2 + 2^30 =
   * [7 2^30, -7 2^30] at -32, i.e. [1.75, -1.75] exactly. */
  int64_t u[] = {3, -4}, s[2], o[2];
  RecScalar c1 = sc(1 << 30, -31), c2 = sc(1 << 30, -32);
  RecTerm t[2] = {{u, 0, &c1, 1, 1}, {NULL, 0, &c2, 1, 1}};
  ck_assert_int_eq(rec_linsum(t, 2, 2, s), -32);
  ck_assert_int_eq(s[0], (int64_t)7 << 30);
  ck_assert_int_eq(s[1], -((int64_t)7 << 30));
  /* LINCOMB_8: B(7 2^30) = 33, k = 26, 7 2^30 / 2^26 = 112 exactly, at -6 */
  ck_assert_int_eq(rec_lincomb(t, 2, 2, 8, ST, 5, s, o), -6);
  ck_assert_int_eq(o[0], 112);
  ck_assert_int_eq(o[1], -112);
  /* no live pair: zero coefficient and zero tensor -> zeros at exponent 0 */
  int64_t zz[] = {0, 0};
  RecScalar c0 = sc(0, 0);
  RecTerm t0[2] = {{u, 7, &c0, 1, 1}, {zz, 3, &c1, 1, 1}};
  s[0] = s[1] = 9;
  ck_assert_int_eq(rec_linsum(t0, 2, 2, s), 0);
  ck_assert_int_eq(s[0], 0);
  ck_assert_int_eq(s[1], 0);
  /* the R_near path: ONE * 1 at 0 and ONE * [1] at -100. E = -30 and
   * -130; H = -30 + 31 + 1 = 2, W = max(-130, -58) = -58; the first term
   * aligns exactly to 2^30 2^28 = 2^58; the second: 2^30 2^(-130 + 58) ->
   * R_near(2^30, 72) = 0. */
  RecScalar one = rec_one();
  int64_t u1[] = {1};
  RecTerm t2[2] = {{NULL, 0, &one, 1, 1}, {u1, -100, &one, 1, 1}};
  ck_assert_int_eq(rec_linsum(t2, 2, 1, s), -58);
  ck_assert_int_eq(s[0], (int64_t)1 << 58);
  /* R_near half-up: (2^30, -30) * 1 at -58 - 32 + 30 ... a term worth
   * exactly half a unit at W: coefficient (2^30, -30), u = 1 at s = -59:
   * E = -89, 2^30 at 2^-89 = 2^-59 = half of 2^-58 -> rounds to 1 */
  RecTerm t3[2] = {{NULL, 0, &one, 1, 1}, {u1, -59, &one, 1, 1}};
  ck_assert_int_eq(rec_linsum(t3, 2, 1, s), -58);
  ck_assert_int_eq(s[0], ((int64_t)1 << 58) + 1);
  /* groups: per-element coefficients with div = 2, ncoef = 2: elements
   * 0,1 use c[0] = 1.0, elements 2,3 use c[1] = -0.5 */
  int64_t u4[] = {2, 4, 6, 8}, s4[4];
  RecScalar cg[2] = {one, sc(-(1 << 30), -31)};
  RecTerm t4 = {u4, 0, cg, 2, 2};
  ck_assert_int_eq(rec_linsum(&t4, 1, 4, s4), -31);
  ck_assert_int_eq(s4[0], (int64_t)2 << 31);
  ck_assert_int_eq(s4[1], (int64_t)4 << 31);
  ck_assert_int_eq(s4[2], -((int64_t)6 << 30));
  ck_assert_int_eq(s4[3], -((int64_t)8 << 30));
}
END_TEST

START_TEST(test_linsum_golden) {
  for (int i = 0; i < G_N(G_LINSUM); i++) {
    const GLinsum *g = &G_LINSUM[i];
    RecTerm t[4];
    RecScalar cs[4][16];
    for (int k = 0; k < g->nterms; k++) {
      const GTerm *gt = &g->t[k];
      for (int64_t c = 0; c < gt->ncoef; c++)
        cs[k][c] = sc(G_LIN_DATA[gt->c + 2 * c], (int32_t)G_LIN_DATA[gt->c + 2 * c + 1]);
      t[k].u = gt->u < 0 ? NULL : G_LIN_DATA + gt->u;
      t[k].s = gt->s;
      t[k].c = cs[k];
      t[k].ncoef = gt->ncoef;
      t[k].div = gt->div;
    }
    int64_t s[16], o[16];
    ck_assert_int_eq(rec_linsum(t, g->nterms, g->count, s), g->w);
    for (int64_t j = 0; j < g->count; j++)
      ck_assert_int_eq(s[j], G_LIN_DATA[g->sum + j]);
    ck_assert_int_eq(rec_lincomb(t, g->nterms, g->count, g->b, g->mode, g->key, s, o), g->wo);
    for (int64_t j = 0; j < g->count; j++)
      ck_assert_int_eq(o[j], G_LIN_DATA[g->out + j]);
  }
}
END_TEST

START_TEST(test_linsum_bounds) {
  /* extreme inputs: |u| = 2^47 - 1, |c.m| = 2^31 - 1, exponent gaps up to
   * 200: every |S| <= 2^62; where every live pair has E >= H - 60 the sum is
   * exact: S 2^W equals sum c u 2^E (checked in 128 bits relative to W). */
  int64_t u[4][3], s[3];
  RecScalar c[4];
  for (uint64_t i = 0; i < 4000; i++) {
    int nt = 1 + (int)(rnd(i) % 4);
    RecTerm t[4];
    for (int k = 0; k < nt; k++) {
      uint64_t r = rnd(i * 8 + (uint64_t)k + 100000);
      for (int j = 0; j < 3; j++)
        u[k][j] = (((int64_t)1 << 47) - 1) * (((r >> j) & 1) ? -1 : 1);
      c[k] = sc((((int64_t)1 << 31) - 1) * ((r >> 5) & 1 ? -1 : 1), 0);
      int64_t gap = (int64_t)((r >> 8) % 201);
      t[k].u = u[k];
      t[k].s = (i % 2) ? gap - 100 : (int64_t)((r >> 8) % 9);
      t[k].c = &c[k];
      t[k].ncoef = 1;
      t[k].div = 1;
    }
    int64_t w = rec_linsum(t, nt, 3, s);
    int exact = 1;
    int64_t h = INT64_MIN;
    for (int k = 0; k < nt; k++)
      if (t[k].s + 31 + 47 > h)
        h = t[k].s + 31 + 47;
    for (int k = 0; k < nt; k++)
      if (t[k].s < h - 60)
        exact = 0;
    for (int j = 0; j < 3; j++) {
      ck_assert(s[j] <= ((int64_t)1 << 62) && s[j] >= -((int64_t)1 << 62));
      if (exact) {
        rec_i128 v = 0;
        for (int k = 0; k < nt; k++)
          v += (rec_i128)c[k].m * u[k][j] * ((rec_i128)1 << (t[k].s - w));
        ck_assert(v == (rec_i128)s[j]);
      }
    }
  }
}
END_TEST

START_TEST(test_lincomb_unbiased) {
  /* R§13.4: the mean of LINCOMB_8 (stochastic) over 65536 keys equals the
   * exact S / 2^k for every non-saturated element, within 5 sigma
   * (sigma of a sum of K draws <= sqrt(K)/2 = 128 output units). */
  int64_t u[] = {1000003, -77777, 123456, 5}, s[4], o[4];
  RecScalar c1 = rec_sdec(1, 1), c2 = rec_sdec(7, 3);
  RecTerm t[2] = {{u, -3, &c1, 1, 1}, {NULL, 0, &c2, 1, 1}};
  int64_t w = rec_linsum(t, 2, 4, s);
  int64_t ss[4];
  memcpy(ss, s, sizeof ss);
  int k = ref_bitlen64(ss, 4) - 7;
  int64_t sum[4] = {0, 0, 0, 0};
  for (uint64_t key = 0; key < 65536; key++) {
    ck_assert_int_eq(rec_lincomb(t, 2, 4, 8, ST, nit_key(9, key, 1), s, o), w + k);
    for (int j = 0; j < 4; j++)
      sum[j] += o[j];
  }
  for (int j = 0; j < 4; j++) {
    /* |sum 2^k - 65536 S| <= 5 * 128 * 2^k */
    rec_i128 d = (rec_i128)sum[j] * ((rec_i128)1 << k) - (rec_i128)65536 * ss[j];
    if (d < 0)
      d = -d;
    ck_assert(d <= (rec_i128)640 << k);
  }
}
END_TEST

/* ------------------------------------------------------------ SQ_b (R§9.2) */

/* R§9.2's worked example (nearest, two channels of four elements), the zero
 * tensor (R§1.2) and a tensor narrower than b - 1 bits. */
START_TEST(test_sq_worked) {
  int64_t x[8] = {1000, -37, 5, 260, 90, -45, 12, 0};
  int8_t v[8], r[8];
  int kc[2];
  /* b = 4, J = 4: BT = 10, kT = 7, base = 3; channel 0: k = 7; channel 1:
   * B(90) = 7, k = max(0, 3, 7 - 3) = 4. 1000/128 = 7.8 -> 8 -> sat 7 -> 7 << 4;
   * 260/128 = 2.03 -> 2 << 4; 90/16 = 5.6 -> 6 << 1; -45/16 = -2.8 -> -3 << 1;
   * 12/16 = 0.75 -> 1 << 1 */
  int8_t w4[8] = {112, 0, 0, 32, 12, -6, 2, 0};
  ck_assert_int_eq(rec_sq(x, 8, 4, 4, 2, NE, 0, kc, v), 3);
  ck_assert_int_eq(kc[0], 7);
  ck_assert_int_eq(kc[1], 4);
  for (int j = 0; j < 8; j++)
    ck_assert_int_eq(v[j], w4[j]);
  /* per-tensor 4 bits: [7, 0, 0, 2 | 1, 0, 0, 0] at s + 7: channel 1 keeps
   * one non-zero value instead of three */
  int8_t r4[8] = {7, 0, 0, 2, 1, 0, 0, 0};
  ck_assert_int_eq(rec_rq8(x, 8, 4, NE, 0, r), 7);
  for (int j = 0; j < 8; j++)
    ck_assert_int_eq(r[j], r4[j]);
  /* b = 6, J = 2: kT = 5, base = 3, k = [5, 3]: 1000/32 = 31.25 -> 31 << 2,
   * -37/32 -> -1 << 2, 260/32 -> 8 << 2; 90/8 = 11.25 -> 11, -45/8 = -5.6 -> -6,
   * 12/8 = 1.5 -> 2 (half away from zero) */
  int8_t w6[8] = {124, -4, 0, 32, 11, -6, 2, 0};
  ck_assert_int_eq(rec_sq(x, 8, 6, 4, 2, NE, 0, kc, v), 3);
  ck_assert_int_eq(kc[0], 5);
  ck_assert_int_eq(kc[1], 3);
  for (int j = 0; j < 8; j++)
    ck_assert_int_eq(v[j], w6[j]);
  /* the zero tensor: zeros at base 0 (R§1.2), as RQ's k = 0 */
  int64_t z[3] = {0, 0, 0};
  int8_t zv[3] = {5, 5, 5};
  int zk[3] = {9, 9, 9};
  ck_assert_int_eq(rec_sq(z, 3, 4, 1, 3, ST, 7, zk, zv), 0);
  for (int j = 0; j < 3; j++) {
    ck_assert_int_eq(zv[j], 0);
    ck_assert_int_eq(zk[j], 0);
  }
  /* below b - 1 bits: BT = 2, kT = 0, base = -4: the exact values << J at s - 4 */
  int64_t t[3] = {3, -2, 1};
  ck_assert_int_eq(rec_sq(t, 3, 4, 1, 1, ST, 7, kc, v), -4);
  ck_assert_int_eq(kc[0], 0);
  ck_assert_int_eq(v[0], 48);
  ck_assert_int_eq(v[1], -32);
  ck_assert_int_eq(v[2], 16);
  /* the groups of an (n, C, HW) = (3, 2, 4) error tensor */
  int64_t div, ng;
  ck_assert_int_eq(rec_sq_groups(NIT_GROUPS_CHANNEL, 3, 2, 4, &div, &ng), 0);
  ck_assert(div == 4 && ng == 2); /* c = (j / HW) % C */
  ck_assert_int_eq(rec_sq_groups(NIT_GROUPS_SAMPLE, 3, 2, 4, &div, &ng), 0);
  ck_assert(div == 8 && ng == 3); /* b = j / (C HW) */
  ck_assert_int_eq(rec_sq_groups(NIT_GROUPS_TENSOR, 3, 2, 4, &div, &ng), 0);
  ck_assert(div == 1 && ng == 1);
  ck_assert_int_eq(rec_sq_groups(3, 3, 2, 4, &div, &ng), -1);
}
END_TEST

/* Golden vectors of the Python model (golden/shiftquant.h): every mode,
 * b in 2..8, channel / sample / tensor / per-element groups. */
START_TEST(test_sq_golden) {
  for (int i = 0; i < G_N(G_SQ); i++) {
    const GSq *g = &G_SQ[i];
    int8_t v[160];
    int kc[160];
    ck_assert_int_le(g->count, 160);
    ck_assert_int_le(g->ngroups, 160);
    int base = rec_sq(G_SQ_DATA + g->x, g->count, g->b, g->div, g->ngroups, g->mode, g->key, kc,
                      v);
    ck_assert_msg(base == g->base, "case %d: base %d, want %d", i, base, g->base);
    for (int64_t c = 0; c < g->ngroups; c++)
      ck_assert_int_eq(kc[c], G_SQ_DATA[g->kc + c]);
    for (int64_t j = 0; j < g->count; j++)
      ck_assert_msg(v[j] == G_SQ_DATA[g->o + j], "case %d element %d: %d, want %d", i, (int)j,
                    v[j], (int)G_SQ_DATA[g->o + j]);
  }
}
END_TEST

/* A random (n, C, HW) tensor whose groups (j / div) % ng have their own
 * scales (top bits 0..46, about one group in eight all zero). */
static void sq_tensor(uint64_t seed, int64_t count, int64_t div, int64_t ng, int64_t *x) {
  for (int64_t j = 0; j < count; j++) {
    uint64_t g = (uint64_t)((j / div) % ng);
    uint64_t r = rnd(seed * 1000003u + 977u * g);
    int top = (int)(r % 47);
    if ((r >> 8) % 8 == 0)
      top = 0;
    uint64_t m = top ? rnd(seed * 7919u + (uint64_t)j) >> (64 - top) : 0;
    x[j] = (rnd(seed + (uint64_t)j * 31u) & 1) ? -(int64_t)m : (int64_t)m;
  }
}

/* R§9.2's properties on random tensors: the invariants of every group, SQ_8
 * is RQ_8 bit for bit, one group is RQ_b shifted by J. */
START_TEST(test_sq_properties) {
  int64_t x[120], q[120];
  int8_t v[120], r[120];
  int kc[120];
  for (int i = 0; i < 600; i++) {
    int b = 2 + i % 7, mode = i % 3, J = 8 - b;
    uint64_t rr = rnd(5000u + (uint64_t)i);
    int64_t n = 1 + (int64_t)(rr % 4), c = 1 + (int64_t)(rr >> 8) % 6;
    int64_t hw = 1 + (int64_t)(rr >> 16) % 5;
    int64_t count = n * c * hw, div, ng;
    ck_assert_int_eq(rec_sq_groups((int)((rr >> 24) % 3), n, c, hw, &div, &ng), 0);
    sq_tensor((uint64_t)i, count, div, ng, x);
    if (i % 50 == 7)
      memset(x, 0, sizeof x);
    uint64_t key = rnd(90000u + (uint64_t)i);
    int base = rec_sq(x, count, b, div, ng, mode, key, kc, v);
    int bt = ref_bitlen64(x, count);
    int kt = bt > b - 1 ? bt - (b - 1) : 0;
    ck_assert_int_eq(base, bt ? kt - J : 0);
    int64_t lim = rec_lim(b);
    for (int64_t g = 0; g < ng; g++) {
      /* kc = max(0, base, B(group) - (b-1)), base <= kc <= kT */
      int bg = 0;
      for (int64_t j = 0; j < count; j++)
        if ((j / div) % ng == g && ref_bits(ref_abs64(x[j])) > bg)
          bg = ref_bits(ref_abs64(x[j]));
      int want = bg - (b - 1) > 0 ? bg - (b - 1) : 0;
      if (bt && want < base)
        want = base;
      ck_assert_int_eq(kc[g], want);
      ck_assert(!bt || (kc[g] >= base && kc[g] <= kt));
    }
    for (int64_t j = 0; j < count; j++) {
      int sh = kc[(j / div) % ng] - base;
      int64_t step = (int64_t)1 << sh;
      /* a multiple of 2^(kc - base) with at most b - 1 significant bits */
      ck_assert_int_eq(v[j] % step, 0);
      ck_assert_int_le(ref_bits(ref_abs64(v[j] / step)), b - 1);
      ck_assert_int_le(ref_abs64(v[j]), lim << J);
      ck_assert_int_le(lim << J, 127);
    }
    /* SQ_8 is RQ_8 bit for bit, whatever the groups */
    int k8 = rec_rq8(x, count, 8, mode, key, r);
    ck_assert_int_eq(rec_sq(x, count, 8, div, ng, mode, key, kc, v), k8);
    ck_assert(!memcmp(v, r, (size_t)count));
    /* one group: RQ_b shifted by J, at exponent k - J (zero tensor: 0) */
    int kb = rec_rq(x, count, b, mode, key, q);
    ck_assert_int_eq(rec_sq(x, count, b, 1, 1, mode, key, kc, v), bt ? kb - J : 0);
    for (int64_t j = 0; j < count; j++)
      ck_assert_int_eq(v[j], q[j] * ((int64_t)1 << J));
    /* groups tensor is one group */
    int64_t d1, n1;
    ck_assert_int_eq(rec_sq_groups(NIT_GROUPS_TENSOR, n, c, hw, &d1, &n1), 0);
    ck_assert_int_eq(rec_sq(x, count, b, d1, n1, mode, key, kc, r), bt ? kb - J : 0);
    ck_assert(!memcmp(v, r, (size_t)count));
  }
}
END_TEST

/* R§13.4: with stochastic rounding the mean of SQ_b over 65536 keys is x for
 * every element that does not saturate, within 5 sigma (the sum of K draws
 * has sigma <= sqrt(K)/2 = 128 steps 2^kc). Three channels: the largest
 * sets kT; channel 1 is clamped at the finest step (kc = base); channel 2
 * between. */
START_TEST(test_sq_unbiased) {
  int64_t x[24] = {100000, -77777, 12345, -999,  54321, 3,     -65536, 40000,
                   700,    -333,   55,    -1,    1000,  250,   -777,   13,
                   9000,   -4100,  2222,  8191,  -5000, 17,    300,    -6000};
  int bits[2] = {4, 6};
  for (int bi = 0; bi < 2; bi++) {
    int b = bits[bi], kc[3];
    int8_t v[24];
    int64_t sum[24];
    memset(sum, 0, sizeof sum);
    int base = rec_sq(x, 24, b, 8, 3, ST, 0, kc, v);
    if (b == 4) { /* BT = 17: kT = 14, base = 10; channel 1 B = 10 -> kc = base */
      ck_assert_int_eq(base, 10);
      ck_assert(kc[0] == 14 && kc[1] == 10 && kc[2] == 11);
    }
    for (uint64_t key = 0; key < 65536; key++) {
      ck_assert_int_eq(rec_sq(x, 24, b, 8, 3, ST, nit_key(9, key, 2), kc, v), base);
      for (int j = 0; j < 24; j++)
        sum[j] += v[j] / (1 << (kc[j / 8] - base)); /* q, exactly */
    }
    int checked = 0;
    int64_t lim = rec_lim(b);
    for (int j = 0; j < 24; j++) {
      int k = kc[j / 8];
      uint64_t a = ref_abs64(x[j]);
      if (((a + ((uint64_t)1 << k) - 1) >> k) > (uint64_t)lim)
        continue; /* may saturate */
      rec_i128 d = (rec_i128)sum[j] * ((rec_i128)1 << k) - (rec_i128)65536 * x[j];
      if (d < 0)
        d = -d;
      ck_assert_msg(d <= (rec_i128)640 << k, "b %d element %d biased", b, j);
      checked++;
    }
    ck_assert_int_ge(checked, 16);
  }
}
END_TEST

/* The exact expected squared error of stochastic rounding of x at step 2^k
 * (R§13.4): Delta^2 f (1 - f) with Delta = 2^k and f the fraction, i.e.
 * F (2^k - F) for F = |x| mod 2^k, in units of 2^0. -1 when the rounding may
 * saturate at lim (ceil(|x| / 2^k) > lim). */
static rec_i128 sr_var(int64_t x, int k, int64_t lim) {
  rec_u128 a = ref_abs64(x), one = 1;
  if (((a + (one << k) - 1) >> k) > (rec_u128)lim)
    return -1;
  rec_u128 f = a & ((one << k) - 1);
  return (rec_i128)(f * ((one << k) - f));
}

/* R§13.4 on one tensor: SQ_b (stochastic, groups (j / div) % ng) has an
 * expected squared error no larger than per-tensor RQ_b on every element
 * that saturates in neither, hence in total. Returns the elements compared. */
static int64_t sq_never_loses(const int64_t *x, int64_t count, int64_t div, int64_t ng, int b) {
  int *kc = malloc((size_t)ng * sizeof *kc);
  int8_t *v = malloc((size_t)count);
  ck_assert(kc && v);
  rec_sq(x, count, b, div, ng, ST, 0, kc, v);
  int kt = rec_rq8(x, count, b, ST, 0, v);
  int64_t lim = rec_lim(b), compared = 0;
  rec_i128 tot_sq = 0, tot_rq = 0;
  for (int64_t j = 0; j < count; j++) {
    rec_i128 s = sr_var(x[j], kc[(j / div) % ng], lim), r = sr_var(x[j], kt, lim);
    if (s < 0 || r < 0)
      continue;
    ck_assert(s <= r);
    tot_sq += s, tot_rq += r;
    compared++;
  }
  ck_assert(tot_sq <= tot_rq);
  free(kc);
  free(v);
  return compared;
}

START_TEST(test_sq_never_loses) {
  /* random channel-scaled tensors (n, C, HW), channel groups, b = 4 and others */
  int64_t x[4 * 8 * 9];
  int64_t total = 0;
  for (int i = 0; i < 200; i++) {
    int64_t n = 1 + i % 4, c = 1 + (i / 4) % 8, hw = 1 + (i / 32) % 9, div, ng;
    int64_t count = n * c * hw;
    ck_assert_int_eq(rec_sq_groups(NIT_GROUPS_CHANNEL, n, c, hw, &div, &ng), 0);
    sq_tensor(777u + (uint64_t)i, count, div, ng, x);
    total += sq_never_loses(x, count, div, ng, i % 3 ? 4 : 2 + i % 7);
  }
  ck_assert_int_gt(total, 1000);
}
END_TEST

/* ----------------------------------------------------------------- loss */

START_TEST(test_tsoftmax_hand) {
  /* R§5's example: s = -3, a = [20, -20, 5], y = 2.
   * P = a LOG2E_Q30 = [30981640100, -30981640100, 7745410025];
   * X = floor(P / 2^17) = [236371, -236372, 59092];
   * d = [0, 472743, 177279]; u = exp2neg(d):
   *   472743 = 7 2^16 + 13991: j = 13, r = 679: T[13] = 932724001,
   *   T[14] = 922676710, 10047291 * 679 >> 10 = 6662165;
   *   (932724001 - 6662165) >> 7 = 926061836 >> 7 = 7234857;
   *   177279 = 2 2^16 + 46207: j = 45, r = 127: T[45] = 659535466,
   *   T[46] = 652430958, 7104508 * 127 >> 10 = 881126;
   *   (659535466 - 881126) >> 2 = 658654340 >> 2 = 164663585;
   * u = [1073741824, 7234857, 164663585], U = 1245640266;
   * t = u 2^15 div U = [28246, 190, 4331], C = 32767;
   * e32 = [28246, 190, 4331 - 32767 = -28436]. */
  int8_t a[] = {20, -20, 5};
  int64_t e32[3];
  rec_tsoftmax_row32(a, -3, 3, 2, e32);
  ck_assert_int_eq(e32[0], 28246);
  ck_assert_int_eq(e32[1], 190);
  ck_assert_int_eq(e32[2], -28436);
  /* one class: t = 2^15, e32 = 0 */
  int8_t one[] = {-7};
  rec_tsoftmax_row32(one, 0, 1, 0, e32);
  ck_assert_int_eq(e32[0], 0);
  /* equal logits: u = 2^30 each, t = 2^15 / 4 = 8192 */
  int8_t eq[] = {3, 3, 3, 3};
  int64_t e4[4];
  rec_tsoftmax_row32(eq, 2, 4, 1, e4);
  ck_assert_int_eq(e4[0], 8192);
  ck_assert_int_eq(e4[1], 8192 - 32768);
}
END_TEST

START_TEST(test_tsoftmax_golden) {
  int64_t e32[1000];
  int8_t a[1000];
  for (int i = 0; i < G_N(G_TSM); i++) {
    const GTsm *g = &G_TSM[i];
    for (int j = 0; j < g->classes; j++)
      a[j] = (int8_t)G_LOSS_DATA[g->a + j];
    rec_tsoftmax_row32(a, g->s, g->classes, g->y, e32);
    for (int j = 0; j < g->classes; j++)
      ck_assert_int_eq(e32[j], G_LOSS_DATA[g->e32 + j]);
  }
  /* rows sum to exactly 0 for s in -90..40 and random logits */
  for (int s = -90; s <= 40; s++)
    for (int r = 0; r < 20; r++) {
      int n = 1 + (int)(rnd((uint64_t)(s * 100 + r) + 7000000) % 50);
      for (int j = 0; j < n; j++)
        a[j] = (int8_t)((int)(rnd((uint64_t)(s * 10000 + r * 100 + j) + 8000000) % 255) - 127);
      rec_tsoftmax_row32(a, s, n, r % n, e32);
      int64_t sum = 0;
      for (int j = 0; j < n; j++)
        sum += e32[j];
      ck_assert_int_eq(sum, 0);
    }
  for (int i = 0; i < G_N(G_LOSS); i++) {
    const GLoss *g = &G_LOSS[i];
    int8_t lg[8 * 37], e[8 * 37];
    int32_t y[8];
    int64_t scratch[8 * 37];
    for (int j = 0; j < g->n * g->classes; j++)
      lg[j] = (int8_t)G_LOSS_DATA[g->a + j];
    for (int j = 0; j < g->n; j++)
      y[j] = (int32_t)G_LOSS_DATA[g->y + j];
    ck_assert_int_eq(rec_loss_grad_table(lg, g->s, g->n, g->classes, y, 8, ST, g->key, scratch, e),
                     g->exp);
    for (int j = 0; j < g->n * g->classes; j++)
      ck_assert_int_eq(e[j], G_LOSS_DATA[g->e + j]);
  }
}
END_TEST

/* ------------------------------------------------------------------ SGD */

START_TEST(test_master_init) {
  /* R§6.1: fan-in 784: c = -3 (784/64 = 12.25 >= 6 > 784/256), s = -18,
   * M15 = isqrt(6 4^18 div 784): 6 4^18 = 412316860416, div 784 =
   * 525914362, isqrt = 22932
   * (22932^2 = 525876624 <= 525914362 < 22933^2 = 525922489). */
  int32_t w[1000];
  int8_t v[1000];
  int bound;
  ck_assert_int_eq(rec_master_init(784, 16, 1, 0, 1000, w, &bound), -18);
  ck_assert_int_eq(bound, 22932);
  int m = 0;
  for (int j = 0; j < 1000; j++) {
    ck_assert_int_le(abs(w[j]), 22932);
    if (abs(w[j]) > m)
      m = abs(w[j]);
  }
  /* the 8-bit view: B = 15, k = 8, exponent -10, |v| <= 22932/256 + 1 = 90 */
  int e = rec_view(w, 1000, -18, 8, ST, nit_key(1, 0, NIT_TID_OPT(0, 3)), v);
  ck_assert_int_eq(e, m >= 16384 ? -10 : -11);
  for (int j = 0; j < 1000; j++)
    ck_assert_int_le(abs(v[j]), 90);
  /* int32 master: W16 << 16 at s - 16 */
  int32_t w32[1000];
  ck_assert_int_eq(rec_master_init(784, 32, 1, 0, 1000, w32, &bound), -34);
  for (int j = 0; j < 1000; j++)
    ck_assert_int_eq(w32[j], w[j] * 65536);
  /* gamma = 2^14 at -14 (1.0), beta = 0 */
  int32_t gm[3], bt[3];
  ck_assert_int_eq(rec_gamma_init(16, 3, gm), -14);
  ck_assert_int_eq(gm[2], 1 << 14);
  ck_assert_int_eq(rec_gamma_init(32, 3, gm), -30);
  ck_assert_int_eq(gm[0], 1 << 30);
  ck_assert_int_eq(rec_beta_init(3, bt), 0);
  ck_assert_int_eq(bt[1], 0);
  /* the view of gamma = 2^14: B = 15, k = 8, 64 at -6 (1.0) */
  int8_t gv[3];
  ck_assert_int_eq(rec_view(gm, 3, -30, 8, ST, 1, gv), -30 + 24);
  ck_assert_int_eq(gv[0], 64);
  for (int i = 0; i < G_N(G_MASTER); i++) {
    const GMaster *g = &G_MASTER[i];
    int32_t ww[30];
    int8_t vv[30];
    ck_assert_int_eq(rec_master_init(g->fan_in, g->a_bits, g->seed, g->p, g->count, ww, &bound),
                     g->exp);
    ck_assert_int_eq(bound, g->bound);
    for (int64_t j = 0; j < g->count; j++)
      ck_assert_int_eq(ww[j], G_MASTER_DATA[g->w + j]);
    ck_assert_int_eq(rec_view(ww, g->count, g->exp, 8, g->mode, g->vkey, vv), g->vexp);
    for (int64_t j = 0; j < g->count; j++)
      ck_assert_int_eq(vv[j], G_MASTER_DATA[g->view + j]);
  }
  /* groups weight=channel (R§9.4): R§9.2's worked example with the two rows
   * of a (2, 4) weight as the channels, 4-bit views rounded to nearest:
   * base 3, k = [7, 4] */
  int32_t wx[8] = {1000, -37, 5, 260, 90, -45, 12, 0};
  int8_t vx[8];
  const int8_t want[8] = {112, 0, 0, 32, 12, -6, 2, 0};
  ck_assert_int_eq(rec_view_sq(wx, 8, 2, -20, 4, NIT_ROUND_NEAREST, 1, vx), -20 + 3);
  for (int j = 0; j < 8; j++)
    ck_assert_int_eq(vx[j], want[j]);
  /* at 8 bits it is the per-tensor view, bit for bit (J = 0, kc = kT) */
  int8_t v8[1000], r8[1000];
  ck_assert_int_eq(rec_view_sq(w, 1000, 10, -18, 8, ST, 7, v8), rec_view(w, 1000, -18, 8, ST, 7, r8));
  ck_assert_int_eq(memcmp(v8, r8, sizeof v8), 0);
}
END_TEST

START_TEST(test_grad_reduce) {
  /* B(g32) <= 31: exact, k = 0 */
  int64_t g[] = {((int64_t)1 << 30) + 5, -7, 0};
  int32_t o[3];
  ck_assert_int_eq(rec_grad_reduce(g, 3, ST, 1, o), 0);
  ck_assert_int_eq(o[0], (1 << 30) + 5);
  ck_assert_int_eq(o[1], -7);
  /* B = 33: k = 2, nearest: (2^32 + 6) / 4 = 2^30 + 1.5 -> 2^30 + 2; -7/4 -> -2 */
  int64_t h[] = {((int64_t)1 << 32) + 6, -7};
  ck_assert_int_eq(rec_grad_reduce(h, 2, NE, 1, o), 2);
  ck_assert_int_eq(o[0], (1 << 30) + 2);
  ck_assert_int_eq(o[1], -2);
  /* saturation to lim(32): (2^33 - 1) / 4 = 2^31 - 0.25 -> 2^31 -> 2^31 - 1 */
  int64_t sat[] = {((int64_t)1 << 33) - 1};
  ck_assert_int_eq(rec_grad_reduce(sat, 1, NE, 1, o), 2);
  ck_assert_int_eq(o[0], 2147483647);
}
END_TEST

static RecSgd sgd_opts(int a, int mode, RecScalar eta, RecScalar mom, RecScalar dec, int64_t n,
                       uint64_t k1, uint64_t k2) {
  RecSgd o;
  o.a_bits = a;
  o.mode = mode;
  o.eta = eta;
  o.momentum = mom;
  o.decay = dec;
  o.n = n;
  o.key_mom = k1;
  o.key_master = k2;
  return o;
}

START_TEST(test_sgd_hand) {
  /* R§6.3's example, nearest: W = [20000, -15000, 300, 0] at -18, V = 0,
   * G = [4096, -2048, 0, 1000] at -20, n = 64, lr 0.1, momentum 0.9,
   * decay 0.0005. Real values: W = [0.0762939, -0.0572205, 0.00114441, 0],
   * G/n = [6.1035e-5, -3.0518e-5, 0, 1.4901e-5]; d = G/n + 0.0005 W =
   * [9.9182e-5, -5.9128e-5, 5.7220e-7, 1.4901e-5]; max 9.9e-5 needs 15 bits
   * from 2^-28 (9.9182e-5 2^28 = 26624.0): V' = [26624, -15872, 154 (153.6),
   * 4000] at -28. W' = W - 0.1 V': 20000 - 0.1 26624 2^-10 = 19997.4 ->
   * 19997; -15000 + 1587.2/1024 = -14998.45 -> -14998; 300 - 0.015 -> 300;
   * 0 - 0.39 -> 0 (nearest), at -18. */
  int32_t w[] = {20000, -15000, 300, 0}, v[] = {0, 0, 0, 0}, g[] = {4096, -2048, 0, 1000};
  int sw = -18, sv = 0;
  RecSgd o = sgd_opts(16, NE, rec_sdec(1, 1), rec_sdec(9, 1), rec_sdec(5, 4), 64, 1, 2);
  ck_assert_int_eq(rec_sgd_step(&o, 4, w, &sw, v, &sv, g, -20), 0);
  ck_assert_int_eq(sv, -28);
  ck_assert_int_eq(v[0], 26624);
  ck_assert_int_eq(v[1], -15872);
  ck_assert_int_eq(v[2], 154);
  ck_assert_int_eq(v[3], 4000);
  ck_assert_int_eq(sw, -18);
  ck_assert_int_eq(w[0], 19997);
  ck_assert_int_eq(w[1], -14998);
  ck_assert_int_eq(w[2], 300);
  ck_assert_int_eq(w[3], 0);
  /* second step (the spec's numbers): V'' = 0.9 V' + G/n + decay W' grows
   * past 2^15 at -28 (0.9 26624 + 26624 = 50585.6), so the exponent rises:
   * V'' = [25292, -15078, 146, 3800] at -27, W'' = [19992, -14995, 300, -1] */
  ck_assert_int_eq(rec_sgd_step(&o, 4, w, &sw, v, &sv, g, -20), 0);
  ck_assert_int_eq(sv, -27);
  ck_assert_int_eq(v[0], 25292);
  ck_assert_int_eq(v[1], -15078);
  ck_assert_int_eq(v[2], 146);
  ck_assert_int_eq(v[3], 3800);
  ck_assert_int_eq(w[0], 19992);
  ck_assert_int_eq(w[1], -14995);
  ck_assert_int_eq(w[2], 300);
  ck_assert_int_eq(w[3], -1);
}
END_TEST

START_TEST(test_sgd_zero) {
  /* zero gradient, zero momentum buffer, zero decay: V' = 0 and W' = W,
   * same bits when B(W) = A - 1 (here 15), in every mode */
  int32_t w[] = {32767, -12, 0, 16384}, w0[4], g[] = {0, 0, 0, 0}, v[] = {0, 0, 0, 0};
  memcpy(w0, w, sizeof w);
  RecScalar zero = {0, 0};
  for (int mode = 0; mode < 3; mode++) {
    int sw = -9, sv = 0;
    RecSgd o = sgd_opts(16, mode, rec_sdec(1, 1), rec_sdec(9, 1), zero, 32, 7, 8);
    ck_assert_int_eq(rec_sgd_step(&o, 4, w, &sw, v, &sv, g, -20), 0);
    ck_assert_int_eq(sw, -9);
    ck_assert(memcmp(w, w0, sizeof w) == 0);
    for (int j = 0; j < 4; j++)
      ck_assert_int_eq(v[j], 0);
  }
  /* with B(W) < A - 1 the value is the same, renormalized: [3, -1] at 0 ->
   * [3 2^13, -2^13] at -13 (ONE * W is exact) */
  int32_t w2[] = {3, -1}, g2[] = {0, 0};
  int sw = 0, sv = 0;
  RecSgd o = sgd_opts(16, ST, rec_sdec(1, 1), zero, zero, 1, 7, 8);
  ck_assert_int_eq(rec_sgd_step(&o, 2, w2, &sw, NULL, &sv, g2, 0), 0);
  ck_assert_int_eq(sw, -13);
  ck_assert_int_eq(w2[0], 3 << 13);
  ck_assert_int_eq(w2[1], -(1 << 13));
}
END_TEST

START_TEST(test_sgd_golden) {
  for (int i = 0; i < G_N(G_SGD); i++) {
    const GSgd *g = &G_SGD[i];
    int32_t w[24], v[24], gr[24];
    for (int64_t j = 0; j < g->count; j++) {
      w[j] = (int32_t)G_SGD_DATA[g->w + j];
      v[j] = (int32_t)G_SGD_DATA[g->v + j];
      gr[j] = (int32_t)G_SGD_DATA[g->g + j];
    }
    int sw = g->sw, sv = g->sv;
    RecSgd o = sgd_opts(g->a_bits, g->mode, sc(g->etam, g->etae), sc(g->momm, g->mome),
                        sc(g->decm, g->dece), g->n, g->k1, g->k2);
    int32_t *vp = g->has_v ? v : NULL;
    ck_assert_int_eq(rec_sgd_step(&o, g->count, w, &sw, vp, &sv, gr, g->sg), 0);
    ck_assert_int_eq(sw, g->sw1);
    for (int64_t j = 0; j < g->count; j++)
      ck_assert_int_eq(w[j], G_SGD_DATA[g->w1 + j]);
    if (g->has_v) {
      ck_assert_int_eq(sv, g->sv1);
      for (int64_t j = 0; j < g->count; j++)
        ck_assert_int_eq(v[j], G_SGD_DATA[g->v1 + j]);
    }
    ck_assert_int_eq(rec_sgd_step(&o, g->count, w, &sw, vp, &sv, gr, g->sg), 0);
    ck_assert_int_eq(sw, g->sw2);
    for (int64_t j = 0; j < g->count; j++)
      ck_assert_int_eq(w[j], G_SGD_DATA[g->w2 + j]);
    if (g->has_v) {
      ck_assert_int_eq(sv, g->sv2);
      for (int64_t j = 0; j < g->count; j++)
        ck_assert_int_eq(v[j], G_SGD_DATA[g->v2 + j]);
    }
  }
}
END_TEST

START_TEST(test_lr) {
  /* piecewise: lr 0.1 then 0.01 at 30 then 0.001 at 60 */
  RecSchedule p;
  memset(&p, 0, sizeof p);
  p.kind = REC_LR_PIECEWISE;
  p.count = 3;
  p.value[0] = rec_sdec(1, 1);
  p.value[1] = rec_sdec(1, 2);
  p.at[1] = 30;
  p.value[2] = rec_sdec(1, 3);
  p.at[2] = 60;
  ck_scalar(rec_lr(&p, 1, 0, 100), 1717986918, -34);
  ck_scalar(rec_lr(&p, 29, 2899, 100), 1717986918, -34);
  ck_scalar(rec_lr(&p, 30, 2900, 100), 1374389535, -37);
  ck_scalar(rec_lr(&p, 59, 5899, 100), 1374389535, -37);
  ck_scalar(rec_lr(&p, 60, 5900, 100), 1099511628, -40); /* 0.001 */
  /* cosine(0.1, period=10), 100 steps per epoch: T = 1000. t = 0: f = 2^30,
   * snorm(2^30, -30) = ONE, eta = 0.1 exactly; t = 500: f = 2^29, eta =
   * 0.1 / 2 = (1717986918, -35); t = 1000: f = 0, eta = min = 0; past the
   * period it rises: t = 1500 mirrors t = 500, t = 2000 is 0.1 again. */
  RecSchedule c;
  memset(&c, 0, sizeof c);
  c.kind = REC_LR_COSINE;
  c.base = rec_sdec(1, 1);
  c.period = 10;
  ck_scalar(rec_lr(&c, 1, 0, 100), 1717986918, -34);
  ck_scalar(rec_lr(&c, 6, 500, 100), 1717986918, -35);
  ck_scalar(rec_lr(&c, 11, 1000, 100), 0, 0);
  ck_scalar(rec_lr(&c, 16, 1500, 100), 1717986918, -35);
  ck_scalar(rec_lr(&c, 21, 2000, 100), 1717986918, -34);
  RecScalar a = rec_lr(&c, 3, 300, 100), b = rec_lr(&c, 18, 1700, 100);
  ck_assert(a.m == b.m && a.e == b.e);
  /* min = 0.001: eta(T) = min exactly */
  c.min = rec_sdec(1, 3);
  ck_scalar(rec_lr(&c, 11, 1000, 100), 1099511628, -40);
  /* warmup 100, ratio 0.5 (r = 2^29): t = 0 -> eta / 2; t = 50 -> r +
   * 2^29 50 / 100 = 3 2^28 -> 0.75 eta; t = 100: no warmup */
  p.warmup = 100;
  p.warmup_ratio_q30 = rec_q30_dec(5, 1);
  ck_scalar(rec_lr(&p, 1, 0, 100), 1717986918, -35);
  ck_scalar(rec_lr(&p, 1, 50, 100), rec_smul(rec_sdec(1, 1), sc(3 << 28, -30)).m,
            rec_smul(rec_sdec(1, 1), sc(3 << 28, -30)).e);
  ck_scalar(rec_lr(&p, 2, 100, 100), 1717986918, -34);
  for (int i = 0; i < G_N(G_LR); i++) {
    const GLr *g = &G_LR[i];
    RecSchedule s;
    memset(&s, 0, sizeof s);
    s.kind = g->kind ? REC_LR_COSINE : REC_LR_PIECEWISE;
    s.count = g->count;
    for (int k = 0; k < g->count; k++) {
      s.value[k] = sc(g->vm[k], g->ve[k]);
      s.at[k] = g->at[k];
    }
    s.base = sc(g->bm, g->be);
    s.min = sc(g->mm, g->me);
    s.period = g->period;
    s.warmup = g->warm;
    s.warmup_ratio_q30 = g->ratio;
    ck_scalar(rec_lr(&s, g->epoch, g->t, g->spe), g->m, g->e);
  }
}
END_TEST

/* ----------------------------------------------------------------- norms */

static RecNorm norm_layer(int kind, int n, int c, int64_t hw) {
  RecNorm l;
  l.kind = (RecNormKind)kind;
  l.n = n;
  l.c = c;
  l.hw = hw;
  l.eps = rec_sdec(1, 5);
  l.k = sc(REC_SQRT_PI_2_Q30, -30);
  return l;
}

START_TEST(test_norm_hand) {
  /* R§7.2: batchnorm, one channel, v = [10, -6, 3, 1] at -7, gamma view 64
   * at -6, beta 0, eps 1e-5, nearest. S1 = 8, z = 4 v - 8 = [32, -32, 4,
   * -4], sum v^2 = 146, V = 4 146 - 64 = 520; eps term = eps 16 2^14 =
   * 2.62144 = (1407374884, -29); D = 522.62144 = (1096016598, -21);
   * rho = 1/sqrt(D) = 0.0437427809 = (1502990506, -35);
   * y = z rho = [1.39977, -1.39977, 0.17497, -0.17497] -> at -6:
   * [89.585, -89.585, 11.198, -11.198] -> [90, -90, 11, -11]. */
  RecNorm l = norm_layer(REC_BN, 4, 1, 1);
  int8_t v[] = {10, -6, 3, 1}, g[] = {64}, b[] = {0}, y[4];
  RecNormStat st[1];
  int64_t scratch[12];
  int sy;
  ck_assert_int_eq(rec_norm_forward(&l, v, -7, g, -6, b, 0, 8, NE, 0, st, y, &sy, scratch), 0);
  ck_assert_int_eq(st[0].s1, 8);
  ck_assert_int_eq(st[0].var, 520);
  ck_scalar(st[0].rho, 1502990506, -35);
  ck_assert_int_eq(sy, -6);
  ck_assert_int_eq(y[0], 90);
  ck_assert_int_eq(y[1], -90);
  ck_assert_int_eq(y[2], 11);
  ck_assert_int_eq(y[3], -11);
  /* R§7.4: dy = [5, -3, 0, 8] at -9: dx = [-10, -23, -33, 66] at -8
   * (float: [-10.40, -23.19, -32.80, 66.39]) */
  int8_t dy[] = {5, -3, 0, 8}, dx[4];
  int sdx;
  rec_norm_backward(&l, v, -7, st, g, -6, dy, -9, 8, NE, 0, dx, &sdx, scratch);
  ck_assert_int_eq(sdx, -8);
  ck_assert_int_eq(dx[0], -10);
  ck_assert_int_eq(dx[1], -23);
  ck_assert_int_eq(dx[2], -33);
  ck_assert_int_eq(dx[3], 66);
  /* R§7.5: dbeta = 5 - 3 + 0 + 8 = 10; Qd = sum dy z = 160 + 96 + 0 - 32
   * = 224; dgamma = rho 224 = 9.79838 (real times 2^-9) =
   * smul((1502990506, -35), (1879048192, -23)) */
  int64_t dbeta[1];
  RecScalar dgam[1];
  ck_assert_int_eq(rec_norm_param_grads(&l, v, st, dy, dbeta, dgam), 0);
  ck_assert_int_eq(dbeta[0], 10);
  RecScalar want = rec_smul(sc(1502990506, -35), rec_sint(224));
  ck_scalar(dgam[0], want.m, want.e);
  /* as G: LINCOMB_32 of one scalar times 1 is its mantissa at e + s_e */
  int32_t gg[1];
  ck_assert_int_eq(rec_norm_dgamma_to_g(dgam, 1, -9, ST, 3, gg), want.e - 9);
  ck_assert_int_eq(gg[0], want.m);
  /* l1norm on the same input: rho = (1522715789, -35), y = [91, -91, 11,
   * -11] at -6; dx = [-7, -27, -64, 98] at -8 */
  RecNorm l1 = norm_layer(REC_L1BN, 4, 1, 1);
  ck_assert_int_eq(rec_norm_forward(&l1, v, -7, g, -6, b, 0, 8, NE, 0, st, y, &sy, scratch), 0);
  ck_scalar(st[0].rho, 1522715789, -35);
  ck_assert_int_eq(sy, -6);
  ck_assert_int_eq(y[0], 91);
  ck_assert_int_eq(y[1], -91);
  ck_assert_int_eq(y[2], 11);
  ck_assert_int_eq(y[3], -11);
  rec_norm_backward(&l1, v, -7, st, g, -6, dy, -9, 8, NE, 0, dx, &sdx, scratch);
  ck_assert_int_eq(sdx, -8);
  ck_assert_int_eq(dx[0], -7);
  ck_assert_int_eq(dx[1], -27);
  ck_assert_int_eq(dx[2], -64);
  ck_assert_int_eq(dx[3], 98);
}
END_TEST

START_TEST(test_norm_edges) {
  /* N = 1 (layernorm over one element): z = 0, so y = beta exactly and
   * dx = 0 exactly. beta view 50 at -7: bv = snorm(50, -7) = (50 2^25,
   * -32); LINSUM: only the constant term is live, E = -32, H = 0, W = -32,
   * S = 50 2^25; RQ_8: B = 31, k = 24: 100 at -8 (= 50 2^-7 exactly). */
  RecNorm l = norm_layer(REC_LN, 3, 1, 1);
  int8_t v[] = {7, -100, 0}, g[] = {90}, b[] = {50}, y[3], dy[] = {3, -9, 27}, dx[3];
  RecNormStat st[3];
  int64_t scratch[9];
  int sy, sdx;
  ck_assert_int_eq(rec_norm_forward(&l, v, -4, g, -6, b, -7, 8, ST, 1, st, y, &sy, scratch), 0);
  ck_assert_int_eq(sy, -8);
  for (int j = 0; j < 3; j++)
    ck_assert_int_eq(y[j], 100);
  rec_norm_backward(&l, v, -4, st, g, -6, dy, -9, 8, ST, 2, dx, &sdx, scratch);
  for (int j = 0; j < 3; j++)
    ck_assert_int_eq(dx[j], 0);
  ck_assert_int_eq(sdx, 0); /* the zero tensor: exponent 0 (R§1.2) */
  /* a constant input with an error constant over the group: dx = 0 exactly
   * (T = N dh - P = 0 and z = 0) */
  RecNorm lb = norm_layer(REC_BN, 2, 2, 3);
  int8_t vc[12], dyc[12], yc[12], dxc[12], gc[] = {64, -30}, bc[] = {0, 1};
  for (int j = 0; j < 12; j++) {
    vc[j] = (int8_t)((j / 3) % 2 ? -5 : 17); /* constant per channel */
    dyc[j] = (int8_t)((j / 3) % 2 ? 4 : -11);
  }
  int64_t sc12[36];
  RecNormStat stb[2];
  ck_assert_int_eq(rec_norm_forward(&lb, vc, -3, gc, -6, bc, -5, 8, ST, 1, stb, yc, &sy, sc12), 0);
  rec_norm_backward(&lb, vc, -3, stb, gc, -6, dyc, -9, 8, ST, 2, dxc, &sdx, sc12);
  for (int j = 0; j < 12; j++)
    ck_assert_int_eq(dxc[j], 0);
  /* the group-size limit: N = 2^20 + 1 is refused before any data is read */
  RecNorm big = norm_layer(REC_LN, 1, 1, REC_NORM_MAX_GROUP + 1);
  ck_assert_int_eq(rec_norm_forward(&big, NULL, 0, NULL, 0, NULL, 0, 8, ST, 0, NULL, NULL, &sy, NULL),
                   -1);
  RecNorm bigb = norm_layer(REC_BN, 1025, 3, 1024);
  ck_assert_int_eq(rec_norm_group_size(&bigb), 1025 * 1024);
  ck_assert_int_eq(rec_norm_groups(&bigb), 3);
  ck_assert_int_eq(rec_norm_forward(&bigb, NULL, 0, NULL, 0, NULL, 0, 8, ST, 0, NULL, NULL, &sy, NULL),
                   -1);
  /* running statistics start at mean 0, variance ONE; L1: dev = 1/K */
  RecScalar mean[2], dev[2];
  rec_norm_running_init(&lb, mean, dev);
  ck_scalar(mean[1], 0, 0);
  ck_scalar(dev[0], 1 << 30, -30);
  RecNorm lb1 = norm_layer(REC_L1BN, 2, 2, 3);
  rec_norm_running_init(&lb1, mean, dev);
  RecScalar kd = rec_smul(lb1.k, dev[0]); /* K (1/K) = 1 within rounding */
  ck_assert(kd.e == -31 || kd.e == -30);
  /* momentum 1 (1 - m = 0): the running statistics become the batch's:
   * mean of channel 0 = 17 2^-3 = 2.125 = (17 2^26, -29) (sdiv exact:
   * 102 / 6 = 17), channel 1 = -5 2^-3 = (-5 2^28, -31); variance 0 */
  rec_norm_running_init(&lb, mean, dev);
  rec_norm_running_update(&lb, stb, -3, rec_sdec(1, 0), rec_sdec(0, 0), mean, dev);
  ck_scalar(mean[0], 17 << 26, -29);
  ck_scalar(dev[0], 0, 0);
  ck_scalar(mean[1], -(5 << 28), -31);
}
END_TEST

START_TEST(test_norm_golden) {
  for (int i = 0; i < G_N(G_NORM); i++) {
    const GNorm *g = &G_NORM[i];
    RecNorm l;
    l.kind = (RecNormKind)g->kind;
    l.n = g->n;
    l.c = g->c;
    l.hw = g->hw;
    l.eps = sc(g->epsm, g->epse);
    l.k = sc(g->km, g->ke);
    int64_t cnt = (int64_t)g->n * g->c * g->hw;
    int8_t v[240], dy[240], y[240], dx[240], gm[4], bt[4];
    int64_t scratch[3 * 240];
    RecNormStat st[5];
    for (int64_t j = 0; j < cnt; j++) {
      v[j] = (int8_t)G_NORM_DATA[g->v + j];
      dy[j] = (int8_t)G_NORM_DATA[g->dy + j];
    }
    for (int c = 0; c < g->c; c++) {
      gm[c] = (int8_t)G_NORM_DATA[g->g8 + c];
      bt[c] = (int8_t)G_NORM_DATA[g->b8 + c];
    }
    int sy, sdx;
    ck_assert_int_eq(rec_norm_forward(&l, v, g->s_x, gm, g->s_g, bt, g->s_b, g->bits, g->mode, g->kf,
                                      st, y, &sy, scratch),
                     0);
    ck_assert_int_eq(sy, g->s_y);
    for (int64_t j = 0; j < cnt; j++)
      ck_assert_int_eq(y[j], G_NORM_DATA[g->y + j]);
    for (int64_t k = 0; k < rec_norm_groups(&l); k++)
      ck_scalar(st[k].rho, G_NORM_DATA[g->rho + 2 * k], G_NORM_DATA[g->rho + 2 * k + 1]);
    rec_norm_backward(&l, v, g->s_x, st, gm, g->s_g, dy, g->s_e, g->bits, g->mode, g->kb, dx, &sdx,
                      scratch);
    /* an all-zero dx is at exponent 0 (R§1.2, R§2.6 step 1); the model adds
     * sd to LINSUM's exponent afterwards, so it reports sd there */
    int allzero = 1;
    for (int64_t j = 0; j < cnt; j++)
      allzero &= G_NORM_DATA[g->dx + j] == 0;
    ck_assert_int_eq(sdx, allzero ? 0 : g->s_dx);
    for (int64_t j = 0; j < cnt; j++)
      ck_assert_int_eq(dx[j], G_NORM_DATA[g->dx + j]);
    int64_t dbeta[4];
    RecScalar dgam[4];
    ck_assert_int_eq(rec_norm_param_grads(&l, v, st, dy, dbeta, dgam), 0);
    for (int c = 0; c < g->c; c++) {
      ck_assert_int_eq(dbeta[c], G_NORM_DATA[g->dbeta + c]);
      ck_scalar(dgam[c], G_NORM_DATA[g->dgamma + 2 * c], G_NORM_DATA[g->dgamma + 2 * c + 1]);
    }
    /* running statistics after two updates with this batch, then eval */
    RecScalar mean[4], dev[4];
    rec_norm_running_init(&l, mean, dev);
    if (rec_norm_batch_stats(l.kind)) {
      for (int r = 0; r < 2; r++)
        rec_norm_running_update(&l, st, g->s_x, sc(g->mom_m, g->mom_e), sc(g->omm_m, g->omm_e), mean,
                                dev);
      for (int c = 0; c < g->c; c++) {
        ck_scalar(mean[c], G_NORM_DATA[g->mean + 2 * c], G_NORM_DATA[g->mean + 2 * c + 1]);
        ck_scalar(dev[c], G_NORM_DATA[g->dev + 2 * c], G_NORM_DATA[g->dev + 2 * c + 1]);
      }
    }
    ck_assert_int_eq(rec_norm_eval(&l, v, g->s_x, gm, g->s_g, bt, g->s_b, mean, dev, g->bits, g->mode,
                                   g->ke_, y, &sy, scratch),
                     0);
    ck_assert_int_eq(sy, g->s_ye);
    for (int64_t j = 0; j < cnt; j++)
      ck_assert_int_eq(y[j], G_NORM_DATA[g->ye + j]);
  }
}
END_TEST

START_TEST(test_streams) {
  /* R§1.5: four streams per parameter tensor, above every node-owned id of a
   * model below 2^29 nodes and below NIT_TID_INIT's range */
  ck_assert_uint_eq(NIT_TID_OPT(0, 0), 0xFFFC0000u);
  ck_assert_uint_eq(NIT_TID_OPT(0, 3), 0xFFFC0003u);
  ck_assert_uint_eq(NIT_TID_OPT(1, 0), 0xFFFC0004u);
  ck_assert_uint_eq(NIT_TID_OPT(REC_MAX_PARAMS - 1, 3), 0xFFFDFFFFu);
  ck_assert_uint_lt(NIT_TID_OPT(REC_MAX_PARAMS - 1, 3), NIT_TID_INIT(0));
  ck_assert_uint_lt(NIT_TID_SUM((1u << 29) - 1), NIT_TID_OPT(0, 0));
  ck_assert_uint_lt(NIT_TID_MASK((1u << 29) - 1), NIT_TID_OPT(0, 0));
}
END_TEST

/* ------------------------------------------------------------ whole nets */

/* R§12 under recipe ghaffari through RefNet: ref_init_recipe, ref_train_step,
 * ref_forward, ref_dump (NITREF02). */

static RefOpts gh_nearest(void) {
  RefOpts o = ref_ghaffari_opts();
  o.act_round = o.err_round = o.grad_round = NE;
  o.view_round = o.update_round = NE;
  return o;
}

/* One hand-checked step of input(2) -> dense 2 (the logits), n = 1, y = 0,
 * every site `nearest` (keys play no role), lr 0.5, momentum 0.9, decay
 * 0.25 (powers of two, so every scalar is exact).
 *
 *   master W = [[16384, 0], [16384, 0]] at -15 (0.5 and 0 per row)
 *   view (R§6.1): B(W) = 15, k = 15 - 7 = 8 -> [[64, 0], [64, 0]] at -7
 *   x = [64, 0] at -7
 *   forward (R§3.2): acc = [64*64, 64*64] = [4096, 4096], B = 13, k = 6
 *     -> logits [64, 64] at -7 - 7 + 6 = -8
 *   loss (R§5): equal logits, u = [2^30, 2^30], U = 2^31,
 *     t = (2^30 << 15) div 2^31 = [16384, 16384], C = 32768,
 *     e32 = [16384 - 32768, 16384] = [-16384, 16384] at -15;
 *     EQ = RQ_8: B = 15, k = 8 -> e = [-64, 64] at -7
 *   gradient (R§3.2): g32[o][i] = e_o x_i = [[-4096, 0], [4096, 0]] at -14;
 *     R§6.2: B = 13 <= 31, G = g32 at -14
 *   SGD (R§6.3), n = 1 so inv_n = ONE, V is the zero tensor (term dropped):
 *     V' = G/1 + 0.25 W = [[-0.25 + 0.125, 0], [0.25 + 0.125, 0]]
 *        = [[-0.125, 0], [0.375, 0]]; exact LINSUM, RQ_16 gives 15 bits:
 *        0.375 = 24576 * 2^-16 -> V' = [[-8192, 0], [24576, 0]] at -16
 *     W' = W - 0.5 V' = [[0.5 + 0.0625, 0], [0.5 - 0.1875, 0]]
 *        = [[0.5625, 0], [0.3125, 0]] = [[18432, 0], [10240, 0]] at -15
 *        (B(18432) = 15: no shift). */
START_TEST(test_net_hand_step) {
  RefNet *net = ref_net_new(2);
  ck_assert_ptr_nonnull(net);
  net->nodes[0].op = REF_INPUT, net->nodes[0].c = 2, net->nodes[0].h = net->nodes[0].w = 1;
  net->nodes[1].op = REF_DENSE, net->nodes[1].in[0] = 0, net->nodes[1].units = 2;
  ck_assert_int_eq(ref_net_finish(net, 1, 8), 0);
  RefOpts o = gh_nearest();
  o.eta = rec_sdec(5, 1);
  o.wdecay = rec_sdec(25, 2);
  ck_scalar(o.eta, 1 << 30, -31);
  ck_scalar(o.wdecay, 1 << 30, -32);
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  RefParam *pp = &net->params[0];
  ck_assert_ptr_nonnull(pp->mom);
  int32_t w0[4] = {16384, 0, 16384, 0};
  memcpy(pp->master, w0, sizeof w0);
  pp->master_exp = -15;
  int8_t x[2] = {64, 0};
  int32_t y[1] = {0};
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 0, &o), 0);
  ck_assert_int_eq(pp->view_exp, -7);
  ck_assert_int_eq(pp->w[0], 64);
  ck_assert_int_eq(pp->w[2], 64);
  ck_assert_int_eq(net->act_exp[1], -8);
  ck_assert_int_eq(net->act[1][0], 64);
  ck_assert_int_eq(net->act[1][1], 64);
  ck_assert_int_eq(net->loss_exp, -7);
  ck_assert_int_eq(net->err_exp[1], -7);
  ck_assert_int_eq(net->err[1][0], -64);
  ck_assert_int_eq(net->err[1][1], 64);
  ck_assert_int_eq(pp->g_exp, -14);
  int64_t g[4] = {-4096, 0, 4096, 0};
  int32_t v1[4] = {-8192, 0, 24576, 0};
  int32_t w1[4] = {18432, 0, 10240, 0};
  for (int j = 0; j < 4; j++) {
    ck_assert_int_eq(pp->g32[j], g[j]);
    ck_assert_int_eq(pp->mom[j], v1[j]);
    ck_assert_int_eq(pp->master[j], w1[j]);
  }
  ck_assert_int_eq(pp->mom_exp, -16);
  ck_assert_int_eq(pp->master_exp, -15);
  ref_net_free(net);
}
END_TEST

/* Toy problem: 8 features, 4 classes; class c = draw mod 4 lifts features
 * 2c and 2c+1 by 80 over noise in [-16, 16]. Deterministic: sample index j
 * of stream `tid`. x (n, 8) at -7. */
static void toy_batch(uint32_t tid, uint64_t first, int n, int8_t *x, int32_t *y) {
  uint64_t key = nit_key(99, 0, tid);
  for (int b = 0; b < n; b++) {
    uint64_t r = nit_draw(key, first + (uint64_t)b);
    int c = (int)(r % 4);
    y[b] = c;
    for (int f = 0; f < 8; f++) {
      int v = (int)((r >> (8 + 5 * f)) % 33) - 16;
      if (f / 2 == c)
        v += 80;
      x[b * 8 + f] = (int8_t)v;
    }
  }
}

/* A loss that needs no logarithm: sum over samples of C - t_y of the table
 * softmax (R§5), i.e. (1 - p_y) 2^15 per sample; it falls as p_y rises, as
 * the cross-entropy does. Eval forward on a fixed batch. */
static int64_t toy_loss(RefNet *net, const RefOpts *o, const int8_t *x, const int32_t *y, int n) {
  int8_t logits[64 * 4];
  int le;
  ck_assert_int_eq(ref_forward(net, x, -7, n, o, logits, &le), 0);
  int64_t sum = 0, e32[4];
  for (int b = 0; b < n; b++) {
    rec_tsoftmax_row32(logits + 4 * b, le, 4, y[b], e32);
    sum += -e32[y[b]];
  }
  return sum;
}

static RefNet *toy_mlp(void) {
  RefNet *net = ref_net_new(4);
  ck_assert_ptr_nonnull(net);
  RefNode *nd = net->nodes;
  nd[0].op = REF_INPUT, nd[0].c = 8, nd[0].h = nd[0].w = 1;
  nd[1].op = REF_DENSE, nd[1].in[0] = 0, nd[1].units = 16;
  nd[2].op = REF_RELU, nd[2].in[0] = 1;
  nd[3].op = REF_DENSE, nd[3].in[0] = 2, nd[3].units = 4;
  ck_assert_int_eq(ref_net_finish(net, 3, 8), 0);
  return net;
}

/* 60 steps of batches of 16 on the toy task; the held-out loss of 64
 * samples before and after. */
static void toy_train(RefNet *net, const RefOpts *o, int64_t *first, int64_t *last) {
  enum { N = 64, B = 16, STEPS = 60 };
  int8_t ex[N * 8], x[B * 8];
  int32_t ey[N], y[B];
  toy_batch(1, 0, N, ex, ey);
  *first = toy_loss(net, o, ex, ey, N);
  for (int s = 0; s < STEPS; s++) {
    toy_batch(2, (uint64_t)s * B, B, x, y);
    ck_assert_int_eq(ref_train_step(net, x, -7, y, B, (uint64_t)s, o), 0);
  }
  *last = toy_loss(net, o, ex, ey, N);
}

START_TEST(test_net_learns) {
  RefNet *net = toy_mlp();
  RefOpts o = ref_ghaffari_opts(); /* all stochastic, momentum 0.9, decay 0.0005 */
  o.seed = 5;
  o.eta = rec_sdec(5, 2); /* lr 0.05 */
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  enum { N = 64, B = 16, STEPS = 60 };
  int8_t ex[N * 8], x[B * 8];
  int32_t ey[N], y[B];
  toy_batch(1, 0, N, ex, ey); /* held-out batch, another stream */
  int64_t first = toy_loss(net, &o, ex, ey, N), prev = first;
  for (int s = 0; s < STEPS; s++) {
    toy_batch(2, (uint64_t)s * B, B, x, y);
    ck_assert_int_eq(ref_train_step(net, x, -7, y, B, (uint64_t)s, &o), 0);
    if ((s + 1) % 20 == 0) {
      int64_t l = toy_loss(net, &o, ex, ey, N);
      ck_assert_int_lt(l, prev);
      prev = l;
    }
  }
  /* chance is 3/4 2^15 per sample; the trained net is far below it */
  ck_assert_int_gt(first, (int64_t)N * 32768 / 2);
  ck_assert_int_lt(prev, first / 4);
  ref_net_free(net);
}
END_TEST

/* A net with every node kind RefNet has: conv, relu, non-overlapping
 * maxpool, a fan-out (node 3 feeds 4 and 5), residual add, overlapping
 * avgpool, dropout, flatten, dense. */
static RefNet *toy_conv(void) {
  RefNet *net = ref_net_new(10);
  ck_assert_ptr_nonnull(net);
  RefNode *nd = net->nodes;
  nd[0].op = REF_INPUT, nd[0].c = 1, nd[0].h = nd[0].w = 6;
  nd[1].op = REF_CONV, nd[1].in[0] = 0, nd[1].units = 4;
  nd[1].kh = nd[1].kw = 3, nd[1].sh = nd[1].sw = 1, nd[1].ph = nd[1].pw = 1;
  nd[2].op = REF_RELU, nd[2].in[0] = 1;
  nd[3].op = REF_MAXPOOL, nd[3].in[0] = 2;
  nd[3].kh = nd[3].kw = 2, nd[3].sh = nd[3].sw = 2;
  nd[4].op = REF_CONV, nd[4].in[0] = 3, nd[4].units = 4;
  nd[4].kh = nd[4].kw = 3, nd[4].sh = nd[4].sw = 1, nd[4].ph = nd[4].pw = 1;
  nd[5].op = REF_ADD, nd[5].in[0] = 3, nd[5].in[1] = 4;
  nd[6].op = REF_AVGPOOL, nd[6].in[0] = 5;
  nd[6].kh = nd[6].kw = 2, nd[6].sh = nd[6].sw = 1;
  nd[7].op = REF_DROPOUT, nd[7].in[0] = 6, nd[7].drop256 = 64;
  nd[8].op = REF_FLATTEN, nd[8].in[0] = 7;
  nd[9].op = REF_DENSE, nd[9].in[0] = 8, nd[9].units = 3;
  ck_assert_int_eq(ref_net_finish(net, 9, 8), 0);
  return net;
}

/* The input batch and labels of step s of the toy conv runs. */
static void conv_batch(uint64_t s, int8_t *x, int32_t *y) {
  uint64_t key = nit_key(3, s, 0);
  for (int j = 0; j < 4 * 36; j++)
    x[j] = (int8_t)(nit_draw(key, (uint64_t)j) % 128);
  for (int b = 0; b < 4; b++)
    y[b] = (int32_t)(nit_draw(key, 1000u + (uint64_t)b) % 3);
}

/* Train toy_conv `steps` steps of batch 4 under o and return the NITREF02
 * dump (malloc'd, *len bytes), then the eval logits in logits (4 * 3). */
static uint8_t *conv_run_opts(const RefOpts *opts, int steps, size_t *len, int8_t *logits) {
  RefNet *net = toy_conv();
  RefOpts o = *opts;
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  int8_t x[4 * 36];
  int32_t y[4];
  for (int s = 0; s < steps; s++) {
    conv_batch((uint64_t)s, x, y);
    ck_assert_msg(ref_train_step(net, x, -7, y, 4, (uint64_t)s, &o) == 0, "%s", net->msg);
  }
  ck_assert(net->has_err[3] && net->has_err[1]); /* errors reach the first conv */
  FILE *f = tmpfile();
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(ref_dump(net, f), 0);
  long n = ftell(f);
  ck_assert_int_gt(n, 8);
  uint8_t *buf = malloc((size_t)n);
  ck_assert_ptr_nonnull(buf);
  rewind(f);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  int le;
  ck_assert_int_eq(ref_forward(net, x, -7, 4, &o, logits, &le), 0);
  ref_net_free(net);
  return buf;
}

/* conv_run_opts under ghaffari's defaults with seed and master width. */
static uint8_t *conv_run(uint64_t seed, int master_bits, int steps, size_t *len, int8_t *logits) {
  RefOpts o = ref_ghaffari_opts();
  o.seed = seed;
  o.master_bits = master_bits;
  return conv_run_opts(&o, steps, len, logits);
}

START_TEST(test_net_determinism) {
  size_t la, lb, lc, ld;
  int8_t ga[12], gb[12], gc[12], gd[12];
  uint8_t *a = conv_run(7, 16, 4, &la, ga);
  uint8_t *b = conv_run(7, 16, 4, &lb, gb);
  uint8_t *c = conv_run(8, 16, 4, &lc, gc);
  uint8_t *d = conv_run(7, 32, 4, &ld, gd);
  ck_assert(!memcmp(a, "NITREF02", 8));
  ck_assert_uint_eq(la, lb);
  ck_assert(!memcmp(a, b, la));
  ck_assert(!memcmp(ga, gb, sizeof ga));
  ck_assert(la != lc || memcmp(a, c, la)); /* another seed, other bits */
  ck_assert_uint_gt(ld, la);               /* int32 masters take 4 bytes */
  free(a), free(b), free(c), free(d);
}
END_TEST

START_TEST(test_net_recipe_checks) {
  RefNet *net = toy_mlp();
  RefOpts gh = ref_ghaffari_opts(), ni = ref_default_opts();
  ck_assert_int_eq(ni.recipe, REF_RECIPE_NITI);
  ck_assert_int_eq(ref_recipe_parse("ghaffari"), REF_RECIPE_GHAFFARI);
  ck_assert_int_eq(ref_recipe_parse("niti"), REF_RECIPE_NITI);
  ck_assert_int_eq(ref_recipe_parse("unified"), REF_RECIPE_UNIFIED);
  ck_assert_int_eq(ref_recipe_parse("sgd"), -1);
  int8_t x[8] = {0};
  int32_t y[1] = {0};
  /* ghaffari before ref_init_recipe: refused */
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 0, &gh), -1);
  ck_assert_int_eq(ref_init_recipe(net, &gh), 0);
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 0, &ni), -1); /* mixed */
  /* an all-zero input: zero activations and gradients, zero tensors at
   * exponent 0 (R§1.2); the step is well defined (decay still moves W) */
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 0, &gh), 0);
  gh.bits_act = 9; /* widths are 2..8 */
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 1, &gh), -1);
  ref_net_free(net);
  RefNet *wide = ref_net_new(2);
  wide->nodes[0].op = REF_INPUT, wide->nodes[0].c = 2, wide->nodes[0].h = wide->nodes[0].w = 1;
  wide->nodes[1].op = REF_DENSE, wide->nodes[1].in[0] = 0, wide->nodes[1].units = 2;
  ck_assert_int_eq(ref_net_finish(wide, 1, 16), 0);
  gh.bits_act = 8;
  ck_assert_int_eq(ref_init_recipe(wide, &gh), -1); /* masters carry the width */
  ref_net_free(wide);
}
END_TEST

/* R§7.2's worked example through the driver: input (1, 1, 1), n = 4, a
 * batchnorm node as the output (one class, so the loss error is zero). The
 * gamma master 2^14 at -14 (R§6.1) has the view 64 at -6 (B = 15, k = 8),
 * beta is the zero tensor, eps 0.00001 by default, every mode nearest:
 * v = [10, -6, 3, 1] at -7 gives y = [90, -90, 11, -11] at -6. One class
 * gives t = [32768] and e32 = 0: dy = 0, so dbeta = dgamma = 0 and only
 * decay moves gamma (R§6.3, lr 0.01, decay 0.0005, V zero): V' = 0.0005 W
 * = 0.0005, W' = W - 0.01 V' = 1 - 0.000005 = 0.999995. The tensor shrank
 * below 1.0, so RQ_16 renormalizes to 15 magnitude bits at -15: 0.999995
 * 2^15 = 32767.84, nearest 32768, saturated to lim(16) = 32767 at -15.
 * beta stays the zero tensor. */
START_TEST(test_net_norm_worked) {
  RefNet *net = ref_net_new(2);
  ck_assert_ptr_nonnull(net);
  net->nodes[0].op = REF_INPUT, net->nodes[0].c = net->nodes[0].h = net->nodes[0].w = 1;
  net->nodes[1].op = REF_BATCHNORM, net->nodes[1].in[0] = 0;
  ck_assert_int_eq(ref_net_finish(net, 1, 8), 0);
  ck_assert_int_eq(net->nparams, 2);
  ck_assert_int_eq(net->params[0].role, 1);
  ck_assert_int_eq(net->params[1].role, 2);
  RefOpts o = gh_nearest();
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  ck_assert_int_eq(net->params[0].master[0], 16384);
  ck_assert_int_eq(net->params[0].master_exp, -14);
  int8_t x[4] = {10, -6, 3, 1};
  int32_t y[4] = {0, 0, 0, 0};
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 4, 0, &o), 0);
  ck_assert_int_eq(net->params[0].w[0], 64);
  ck_assert_int_eq(net->params[0].view_exp, -6);
  int8_t want[4] = {90, -90, 11, -11};
  ck_assert_int_eq(net->act_exp[1], -6);
  for (int j = 0; j < 4; j++) {
    ck_assert_int_eq(net->act[1][j], want[j]);
    ck_assert_int_eq(net->err[1][j], 0);
  }
  ck_assert_int_eq(net->params[0].master[0], 32767);
  ck_assert_int_eq(net->params[0].master_exp, -15);
  ck_assert_int_eq(net->params[1].master[0], 0);
  /* niti refuses norm layers (R§7.1) */
  RefOpts ni = ref_default_opts();
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 4, 1, &ni), -1);
  ref_net_free(net);
  RefNet *n2 = ref_net_new(2);
  n2->nodes[0].op = REF_INPUT, n2->nodes[0].c = n2->nodes[0].h = n2->nodes[0].w = 1;
  n2->nodes[1].op = REF_LAYERNORM, n2->nodes[1].in[0] = 0;
  ck_assert_int_eq(ref_net_finish(n2, 1, 8), 0);
  ck_assert_int_eq(ref_init_recipe(n2, &ni), -1);
  ref_net_free(n2);
}
END_TEST

/* The toy MLP with a norm layer after the first dense: 8 -> dense 16 ->
 * norm -> relu -> dense 4, for each of the four kinds. */
static RefNet *toy_norm_mlp(RefOp kind) {
  RefNet *net = ref_net_new(5);
  ck_assert_ptr_nonnull(net);
  RefNode *nd = net->nodes;
  nd[0].op = REF_INPUT, nd[0].c = 8, nd[0].h = nd[0].w = 1;
  nd[1].op = REF_DENSE, nd[1].in[0] = 0, nd[1].units = 16;
  nd[2].op = kind, nd[2].in[0] = 1;
  nd[3].op = REF_RELU, nd[3].in[0] = 2;
  nd[4].op = REF_DENSE, nd[4].in[0] = 3, nd[4].units = 4;
  ck_assert_int_eq(ref_net_finish(net, 4, 8), 0);
  return net;
}

START_TEST(test_net_norm_learns) {
  RefOp kinds[4] = {REF_BATCHNORM, REF_LAYERNORM, REF_L1NORM, REF_L1LAYERNORM};
  for (int kk = 0; kk < 4; kk++) {
    RefNet *net = toy_norm_mlp(kinds[kk]);
    RefOpts o = ref_ghaffari_opts();
    o.seed = 5;
    o.eta = rec_sdec(5, 2);
    ck_assert_int_eq(ref_init_recipe(net, &o), 0);
    int64_t first, last;
    toy_train(net, &o, &first, &last);
    ck_assert_int_lt(last, first / 4);
    /* gamma and beta moved */
    const RefParam *gp = &net->params[1], *bp = &net->params[2];
    ck_assert_int_eq(gp->role, 1);
    ck_assert(gp->master_exp != -14 || gp->master[0] != 16384);
    ck_assert_int_gt(ref_bitlen32(bp->master, bp->count), 0);
    /* determinism with norm nodes: a second run gives the same dump */
    FILE *f1 = tmpfile(), *f2 = tmpfile();
    ck_assert_int_eq(ref_dump(net, f1), 0);
    RefNet *again = toy_norm_mlp(kinds[kk]);
    ck_assert_int_eq(ref_init_recipe(again, &o), 0);
    int64_t first2, last2;
    toy_train(again, &o, &first2, &last2);
    ck_assert_int_eq(first2, first);
    ck_assert_int_eq(last2, last);
    ck_assert_int_eq(ref_dump(again, f2), 0);
    long l1 = ftell(f1), l2 = ftell(f2);
    ck_assert_int_eq(l1, l2);
    rewind(f1), rewind(f2);
    for (long j = 0; j < l1; j++)
      ck_assert_int_eq(fgetc(f1), fgetc(f2));
    fclose(f1), fclose(f2);
    ref_net_free(again);
    ref_net_free(net);
  }
}
END_TEST

/* ------------------------------------------------ whole nets: shiftquant */

/* SQ_{b_g} of an (n, c, hw) error under o's groups, err mode (R§4). */
static int sq_at(const RefOpts *o, const int64_t *x, int n, int64_t c, int64_t hw, uint64_t key,
                 int *kc, int8_t *v) {
  int64_t div, ng;
  ck_assert_int_eq(rec_sq_groups(o->groups, n, c, hw, &div, &ng), 0);
  return rec_sq(x, (int64_t)n * c * hw, o->bits_grad, div, ng, o->err_round, key, kc, v);
}

/* R§13.4 on a recorded error tensor with the site's groups. */
static int64_t sq_never_loses_at(const RefOpts *o, const int64_t *x, int n, int64_t c,
                                 int64_t hw) {
  int64_t div, ng;
  ck_assert_int_eq(rec_sq_groups(o->groups, n, c, hw, &div, &ng), 0);
  return sq_never_loses(x, (int64_t)n * c * hw, div, ng, o->bits_grad);
}

START_TEST(test_sq_opts) {
  RefOpts o = ref_shiftquant_opts(); /* R§9.4, R§11.2 */
  ck_assert_int_eq(o.recipe, REF_RECIPE_SHIFTQUANT);
  ck_assert_int_eq(o.recipe, NIT_RECIPE_SHIFTQUANT);
  ck_assert(o.bits_act == 8 && o.bits_weight == 8 && o.bits_grad == 4);
  ck_assert(o.act_round == NE && o.view_round == NE);
  ck_assert(o.err_round == ST && o.grad_round == ST && o.update_round == ST);
  ck_assert_int_eq(o.groups, NIT_GROUPS_CHANNEL);
  ck_assert_int_eq(o.master_bits, 16);
  ck_assert_int_eq(ref_recipe_parse("shiftquant"), REF_RECIPE_SHIFTQUANT);
  ck_assert_str_eq(ref_recipe_name(REF_RECIPE_SHIFTQUANT), "shiftquant");
  ck_assert_str_eq(ref_recipe_name(REF_RECIPE_GHAFFARI), "ghaffari");
  /* a net initialized for ghaffari refuses shiftquant and back; bad groups,
   * bad widths refused */
  RefNet *net = toy_mlp();
  RefOpts gh = ref_ghaffari_opts();
  int8_t x[8] = {0};
  int32_t y[1] = {0};
  ck_assert_int_eq(ref_init_recipe(net, &gh), 0);
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 0, &o), -1);
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 0, &gh), -1);
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 0, &o), 0); /* the zero input */
  o.groups = 3;
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 1, &o), -1);
  o.groups = NIT_GROUPS_SAMPLE;
  o.bits_grad = 1;
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 1, 1, &o), -1);
  ref_net_free(net);
}
END_TEST

/* Every error site of toy_conv under shiftquant (R§4) holds SQ_{b_g} of the
 * wide error recomputed from the state the last step left (the views in w,
 * the errors and activations), with the site's key, its tensor's shape and
 * the groups setting: LOSS (classes as channels), ERR(9) of the dense,
 * ERR(6) of the overlapping avgpool, ERR(4) of the conv, SUM(3) of the
 * fan-out. On each of these recorded errors SQ never loses to RQ (R§13.4). */
START_TEST(test_net_sq_sites) {
  for (int grp = 0; grp < 3; grp++) {
    RefNet *net = toy_conv();
    RefOpts o = ref_shiftquant_opts();
    o.seed = 21;
    o.groups = grp;
    ck_assert_int_eq(ref_init_recipe(net, &o), 0);
    int8_t x[4 * 36];
    int32_t y[4];
    const uint64_t steps = 3, step = steps - 1;
    for (uint64_t s = 0; s < steps; s++) {
      conv_batch(s, x, y);
      ck_assert_msg(ref_train_step(net, x, -7, y, 4, s, &o) == 0, "%s", net->msg);
    }
    const int n = 4;
    int64_t e32[4 * 36], a64[4 * 36], b64[4 * 36];
    int8_t v[4 * 36];
    int kc[64], base;
    int64_t compared = 0;
    /* LOSS: e32 (4, 3) at -15, the classes as channels */
    rec_loss_e32_table(net->act[9], net->act_exp[9], n, 3, y, e32);
    base = sq_at(&o, e32, n, 3, 1, nit_key(o.seed, step, NIT_TID_LOSS), kc, v);
    ck_assert_int_eq(net->loss_exp, -15 + base);
    ck_assert(!memcmp(v, net->loss_e, 12));
    ck_assert(!memcmp(v, net->err[9], 12));
    ck_assert_int_eq(net->err_exp[9], -15 + base);
    compared += sq_never_loses_at(&o, e32, n, 3, 1);
    /* ERR(9): dense 16 -> 3, input flatten (16, 1, 1) */
    const RefParam *p9 = &net->params[net->nodes[9].param];
    ref_dense_backward(net->err[9], n, 3, p9->w, 16, e32);
    base = sq_at(&o, e32, n, 16, 1, nit_key(o.seed, step, NIT_TID_ERR(9)), kc, v);
    ck_assert(!memcmp(v, net->ein[0][9], 64));
    ck_assert_int_eq(net->ein_exp[0][9], net->err_exp[9] + p9->view_exp + base);
    compared += sq_never_loses_at(&o, e32, n, 16, 1);
    /* ERR(6): avgpool 2x2 stride 1 (overlapping) of (4, 3, 3) */
    RefGeom g6 = {4, 3, 3, 4, 2, 2, 2, 2, 1, 1, 0, 0, 1};
    ref_avgpool_backward(&g6, net->err[6], n, e32);
    base = sq_at(&o, e32, n, 4, 9, nit_key(o.seed, step, NIT_TID_ERR(6)), kc, v);
    ck_assert(!memcmp(v, net->ein[0][6], 144));
    ck_assert_int_eq(net->ein_exp[0][6], net->err_exp[6] - 2 + base);
    compared += sq_never_loses_at(&o, e32, n, 4, 9);
    /* ERR(4): conv 3x3 pad 1 of (4, 3, 3) */
    const RefParam *p4 = &net->params[net->nodes[4].param];
    RefGeom g4 = {4, 3, 3, 4, 3, 3, 3, 3, 1, 1, 1, 1, 1};
    ref_conv_backward(&g4, net->err[4], n, p4->w, e32);
    base = sq_at(&o, e32, n, 4, 9, nit_key(o.seed, step, NIT_TID_ERR(4)), kc, v);
    ck_assert(!memcmp(v, net->ein[0][4], 144));
    ck_assert_int_eq(net->ein_exp[0][4], net->err_exp[4] + p4->view_exp + base);
    compared += sq_never_loses_at(&o, e32, n, 4, 9);
    /* SUM(3): the conv's and the add's errors, aligned and summed exactly */
    for (int j = 0; j < 144; j++)
      a64[j] = net->ein[0][4][j], b64[j] = net->ein[0][5][j];
    const int64_t *t[2] = {a64, b64};
    int e[2] = {net->ein_exp[0][4], net->ein_exp[0][5]};
    int s3 = rec_align_sum(t, e, 2, 144, 48, e32);
    base = sq_at(&o, e32, n, 4, 9, nit_key(o.seed, step, NIT_TID_SUM(3)), kc, v);
    ck_assert(!memcmp(v, net->err[3], 144));
    ck_assert_int_eq(net->err_exp[3], s3 + base);
    compared += sq_never_loses_at(&o, e32, n, 4, 9);
    ck_assert_int_gt(compared, 100);
    ref_net_free(net);
  }
}
END_TEST

/* The norm layers' input error under shiftquant: SQ_{b_g} at ERR(2) of
 * rec_norm_backward_wide's sum (R§7.4, R§4), for the four kinds, after two
 * steps of the toy norm MLP (8 -> dense 16 -> norm -> relu -> dense 4). */
START_TEST(test_net_sq_norm) {
  RefOp kinds[4] = {REF_BATCHNORM, REF_LAYERNORM, REF_L1NORM, REF_L1LAYERNORM};
  enum { B = 8 };
  for (int kk = 0; kk < 4; kk++) {
    RefNet *net = toy_norm_mlp(kinds[kk]);
    RefOpts o = ref_shiftquant_opts();
    o.seed = 6;
    o.groups = kk % 3;
    ck_assert_int_eq(ref_init_recipe(net, &o), 0);
    int8_t x[B * 8];
    int32_t y[B];
    for (uint64_t s = 0; s < 2; s++) {
      toy_batch(2, s * B, B, x, y);
      ck_assert_msg(ref_train_step(net, x, -7, y, B, s, &o) == 0, "%s", net->msg);
    }
    const RefNode *nd = &net->nodes[2];
    const RefParam *gp = &net->params[nd->param];
    RecNorm l = norm_layer((int)(kinds[kk] - REF_BATCHNORM), B, 16, 1);
    l.eps = nd->eps;
    l.k = nd->l1k;
    int64_t wide[B * 16], scratch[2 * B * 16];
    int8_t v[B * 16];
    int kc[16];
    int64_t w = rec_norm_backward_wide(&l, net->act[1], net->act_exp[1], net->nstat[2], gp->w,
                                       gp->view_exp, net->err[2], net->err_exp[2], wide, scratch);
    int base = sq_at(&o, wide, B, 16, 1, nit_key(o.seed, 1, NIT_TID_ERR(2)), kc, v);
    ck_assert(!memcmp(v, net->ein[0][2], B * 16));
    ck_assert_int_eq(net->ein_exp[0][2], w + base);
    ck_assert_int_gt(ref_bitlen8(v, B * 16), 0);
    ref_net_free(net);
  }
}
END_TEST

/* R§9.2: SQ_8 is RQ_8, so shiftquant with bits grad=8 is ghaffari byte for
 * byte (every groups setting; the dumps differ only in the recipe word at
 * offset 24); at b_g = 4 the two differ, and both train without error. */
START_TEST(test_net_sq_vs_ghaffari) {
  RefOpts gh = ref_ghaffari_opts();
  gh.seed = 17;
  size_t lg, ls;
  int8_t lgg[12], lgs[12];
  uint8_t *dg = conv_run_opts(&gh, 4, &lg, lgg);
  for (int grp = 0; grp < 3; grp++) {
    RefOpts sq = gh;
    sq.recipe = REF_RECIPE_SHIFTQUANT;
    sq.groups = grp;
    uint8_t *ds = conv_run_opts(&sq, 4, &ls, lgs);
    ck_assert_uint_eq(ls, lg);
    ck_assert_int_eq(ds[24], REF_RECIPE_SHIFTQUANT);
    ck_assert_int_eq(dg[24], REF_RECIPE_GHAFFARI);
    ds[24] = REF_RECIPE_GHAFFARI;
    ck_assert(!memcmp(ds, dg, lg));
    ck_assert(!memcmp(lgs, lgg, sizeof lgg));
    free(ds);
  }
  free(dg);
  gh.bits_grad = 4;
  RefOpts sq = gh;
  sq.recipe = REF_RECIPE_SHIFTQUANT;
  dg = conv_run_opts(&gh, 4, &lg, lgg);
  uint8_t *ds = conv_run_opts(&sq, 4, &ls, lgs);
  ck_assert_uint_eq(ls, lg);
  ds[24] = REF_RECIPE_GHAFFARI;
  ck_assert(memcmp(ds, dg, lg) != 0);
  free(dg);
  free(ds);
}
END_TEST

/* Widths below 8 (R§3, R§6.1, R§9.2) under ghaffari and shiftquant, on the
 * conv net and on a norm net: activations within lim(b_a) (the input keeps
 * its 7 bits, R§3.1), weight views within lim(b_w), norm views within 127,
 * errors within lim(b_g) (ghaffari) or lim(b_g) 2^(8 - b_g) (shiftquant). */
static void check_widths(const RefNet *net, const RefOpts *o) {
  int64_t la = rec_lim(o->bits_act), lw = rec_lim(o->bits_weight);
  int64_t le = o->recipe == REF_RECIPE_SHIFTQUANT ? rec_lim(o->bits_grad) << (8 - o->bits_grad)
                                                  : rec_lim(o->bits_grad);
  for (int i = 1; i < net->nnodes; i++) {
    const RefNode *nd = &net->nodes[i];
    int64_t cnt = (int64_t)net->n * nd->c * nd->h * nd->w;
    for (int64_t j = 0; j < cnt; j++) {
      ck_assert_int_le(ref_abs64(net->act[i][j]), la);
      if (net->has_err[i])
        ck_assert_int_le(ref_abs64(net->err[i][j]), le);
    }
  }
  for (int64_t j = 0; j < (int64_t)net->n * net->classes; j++)
    ck_assert_int_le(ref_abs64(net->loss_e[j]), le);
  for (int p = 0; p < net->nparams; p++) {
    const RefParam *pp = &net->params[p];
    for (int64_t j = 0; j < pp->count; j++)
      ck_assert_int_le(ref_abs64(pp->w[j]), pp->role ? 127 : lw);
  }
}

START_TEST(test_net_low_bits) {
  int widths[3][3] = {{4, 3, 3}, {2, 2, 2}, {6, 5, 4}};
  for (int r = 0; r < 2; r++)
    for (int wi = 0; wi < 3; wi++) {
      RefOpts o = r ? ref_shiftquant_opts() : ref_ghaffari_opts();
      o.seed = 40u + (uint64_t)wi;
      o.bits_act = widths[wi][0], o.bits_weight = widths[wi][1], o.bits_grad = widths[wi][2];
      RefNet *net = toy_conv();
      ck_assert_int_eq(ref_init_recipe(net, &o), 0);
      int8_t x[4 * 36];
      int32_t y[4];
      for (uint64_t s = 0; s < 3; s++) {
        conv_batch(s, x, y);
        ck_assert_msg(ref_train_step(net, x, -7, y, 4, s, &o) == 0, "%s", net->msg);
        check_widths(net, &o);
      }
      ck_assert_int_gt(ref_bitlen8(net->err[1], 4 * 4 * 36), 0); /* errors reached conv 1 */
      ref_net_free(net);
      RefNet *nn = toy_norm_mlp(REF_L1NORM);
      ck_assert_int_eq(ref_init_recipe(nn, &o), 0);
      int8_t xn[8 * 8];
      int32_t yn[8];
      for (uint64_t s = 0; s < 3; s++) {
        toy_batch(2, s * 8, 8, xn, yn);
        ck_assert_msg(ref_train_step(nn, xn, -7, yn, 8, s, &o) == 0, "%s", nn->msg);
        check_widths(nn, &o);
      }
      ref_net_free(nn);
    }
}
END_TEST

/* The toy MLP learns under shiftquant's defaults (4-bit errors, channel
 * groups), as under ghaffari (test_net_learns). */
START_TEST(test_net_sq_learns) {
  RefNet *net = toy_mlp();
  RefOpts o = ref_shiftquant_opts();
  o.seed = 5;
  o.eta = rec_sdec(5, 2); /* lr 0.05 */
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  int64_t first, last;
  toy_train(net, &o, &first, &last);
  ck_assert_int_gt(first, (int64_t)64 * 32768 / 2);
  ck_assert_msg(last < first / 4, "loss %lld -> %lld", (long long)first, (long long)last);
  ref_net_free(net);
}
END_TEST

static Suite *recipe_suite(void) {
  Suite *s = suite_create("recipe");
  TCase *sc_ = tcase_create("scalars");
  tcase_add_test(sc_, test_scalar_worked);
  tcase_add_test(sc_, test_scalar_golden);
  tcase_add_test(sc_, test_scalar_properties);
  tcase_add_test(sc_, test_tables);
  tcase_add_test(sc_, test_streams);
  tcase_set_timeout(sc_, 60);
  suite_add_tcase(s, sc_);
  TCase *rq = tcase_create("rounding");
  tcase_add_test(rq, test_rq);
  tcase_add_test(rq, test_srdiv);
  tcase_add_test(rq, test_align_sum);
  tcase_add_test(rq, test_linsum_hand);
  tcase_add_test(rq, test_linsum_golden);
  tcase_add_test(rq, test_linsum_bounds);
  tcase_add_test(rq, test_lincomb_unbiased);
  tcase_add_test(rq, test_sq_worked);
  tcase_add_test(rq, test_sq_golden);
  tcase_add_test(rq, test_sq_properties);
  tcase_add_test(rq, test_sq_unbiased);
  tcase_add_test(rq, test_sq_never_loses);
  tcase_set_timeout(rq, 60);
  suite_add_tcase(s, rq);
  TCase *lo = tcase_create("loss");
  tcase_add_test(lo, test_tsoftmax_hand);
  tcase_add_test(lo, test_tsoftmax_golden);
  suite_add_tcase(s, lo);
  TCase *op = tcase_create("optimizer");
  tcase_add_test(op, test_master_init);
  tcase_add_test(op, test_grad_reduce);
  tcase_add_test(op, test_sgd_hand);
  tcase_add_test(op, test_sgd_zero);
  tcase_add_test(op, test_sgd_golden);
  tcase_add_test(op, test_lr);
  suite_add_tcase(s, op);
  TCase *nm = tcase_create("norm");
  tcase_add_test(nm, test_norm_hand);
  tcase_add_test(nm, test_norm_edges);
  tcase_add_test(nm, test_norm_golden);
  suite_add_tcase(s, nm);
  TCase *nt = tcase_create("net");
  tcase_add_test(nt, test_net_hand_step);
  tcase_add_test(nt, test_net_learns);
  tcase_add_test(nt, test_net_determinism);
  tcase_add_test(nt, test_net_recipe_checks);
  tcase_add_test(nt, test_net_norm_worked);
  tcase_add_test(nt, test_net_norm_learns);
  tcase_add_test(nt, test_sq_opts);
  tcase_add_test(nt, test_net_sq_sites);
  tcase_add_test(nt, test_net_sq_norm);
  tcase_add_test(nt, test_net_sq_vs_ghaffari);
  tcase_add_test(nt, test_net_low_bits);
  tcase_add_test(nt, test_net_sq_learns);
  tcase_set_timeout(nt, 60);
  suite_add_tcase(s, nt);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(recipe_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
