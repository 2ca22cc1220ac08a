/*
 * test_s31.c: the runtime's S31 scalars, Q30 tables, learning-rate schedules
 * and LINSUM plan (runtime/s31.c) against the specification's worked
 * examples (docs/recipes.md) and, on many random inputs, against the
 * independent reference in tests/ref (recipe.h, rec_*); export_lib.c's
 * portable S31 scalars against the same reference.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "recipe.h"
#include "s31.h"

/* export_lib.c, the inference `export` writes, has S31 scalars of its own
 * in 64-bit halves (C99 has no 128-bit integers): included whole, so that
 * they are checked against the reference too (snorm_random, arith_random). */
#define NX_FN static inline
#include "export_lib.c"

#define N_RANDOM 200000

static uint64_t rng_state;
static uint64_t rnd(void) { return nit_mix64(rng_state += NIT_GOLDEN); }
static int64_t rnd_range(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

static RecScalar to_rec(NitS31 a) {
  RecScalar r = {a.m, a.e};
  return r;
}

static NxS31 to_nx(NitS31 a) {
  NxS31 r = {a.m, a.e};
  return r;
}

/* A random S31 scalar: zero sometimes, else 2^30 <= |m| < 2^31, e in [elo, ehi]. */
static NitS31 rnd_s31(int32_t elo, int32_t ehi) {
  NitS31 r = {0, 0};
  if (rnd() % 16 == 0) return r;
  int64_t m = (int64_t)(((uint64_t)1 << 30) | (rnd() & ((1u << 30) - 1)));
  switch (rnd() % 8) { /* edges of the mantissa range */
  case 0: m = (int64_t)1 << 30; break;
  case 1: m = ((int64_t)1 << 31) - 1; break;
  default: break;
  }
  r.m = rnd() & 1 ? -m : m;
  r.e = (int32_t)rnd_range(elo, ehi);
  return r;
}

/* The checks below call Check only on a failure: every passing ck_assert
 * writes a mark to Check's pipe, and the random loops make millions. */
#define SAME(got, want)                                                                                               \
  do {                                                                                                                \
    if (!((got).m == (want).m && (got).e == (want).e))                                                                \
      ck_abort_msg("%s: got (%lld, %d) want (%lld, %d)", #got, (long long)(got).m, (int)(got).e, (long long)(want).m, \
                   (int)(want).e);                                                                                    \
  } while (0)

#define IS(got, m_, e_)                                                                                           \
  do {                                                                                                            \
    if (!((got).m == (m_) && (got).e == (e_)))                                                                    \
      ck_abort_msg("%s: got (%lld, %d) want (%lld, %d)", #got, (long long)(got).m, (int)(got).e, (long long)(m_), \
                   (int)(e_));                                                                                    \
  } while (0)

#define EQ(got, want)                                                              \
  do {                                                                             \
    long long got_ = (long long)(got), want_ = (long long)(want);                  \
    if (got_ != want_) ck_abort_msg("%s: got %lld, want %lld", #got, got_, want_); \
  } while (0)

#define CHECK(cond)                                \
  do {                                             \
    if (!(cond)) ck_abort_msg("%s: false", #cond); \
  } while (0)

/* ------------------------------------------------------ worked examples */

START_TEST(spec_examples) {
  NitS31 one = nitrt_s31_one();
  IS(one, (int64_t)1 << 30, -30);
  IS(nitrt_sdec(1, 1), 1717986918, -34);
  IS(nitrt_sdec(9, 1), 1932735283, -31);
  IS(nitrt_sdec(5, 4), 1099511628, -41);
  IS(nitrt_sdec(1, 5), 1407374884, -47);
  IS(nitrt_sdec(1, 2), 1374389535, -37);
  IS(nitrt_sdec(20, 0), 1342177280, -26);
  IS(nitrt_sdec(200, 1), 1342177280, -26);
  IS(nitrt_sdec(0, 3), 0, 0);
  IS(nitrt_smul(nitrt_sdec(1, 1), nitrt_sdec(9, 1)), 1546188226, -34);
  IS(nitrt_sdiv(one, nitrt_sint(64)), 1073741824, -36);
  IS(nitrt_sdiv(one, nitrt_sint(3)), 1431655765, -32);
  IS(nitrt_srsqrt(nitrt_sint(2)), 1518500250, -31);
  IS(nitrt_srsqrt(nitrt_sint(12345)), 1236984599, -37);
  ck_assert_int_eq(nitrt_exp2neg_q30(0), 1 << 30);
  ck_assert_int_eq(nitrt_exp2neg_q30(1 << 16), 1 << 29);
  ck_assert_int_eq(nitrt_exp2neg_q30(1 << 15), 759250125);
  ck_assert_int_eq(nitrt_exp2neg_q30(216268), 109020611);
  ck_assert_int_eq(nitrt_exp2neg_q30((int64_t)31 << 16), 0);
  ck_assert_int_eq(nitrt_cosq_q30(0, 10), 1 << 30);
  ck_assert_int_eq(nitrt_cosq_q30(5, 10), 1 << 29);
  ck_assert_int_eq(nitrt_cosq_q30(10, 10), 0);
  ck_assert_int_eq(nitrt_cosq_q30(3, 10), 852392547);
  ck_assert_int_eq(nitrt_sq30(one), 1 << 30);
  ck_assert_int_eq(nitrt_sq30(nitrt_sneg(nitrt_sdec(5, 1))), -(1 << 29));
  ck_assert_int_eq(nitrt_q30_dec(1, 3), 1073742);
  ck_assert_int_eq(nitrt_q16_dec(5, 1), 32768);
  int64_t r[2];
  nitrt_s31_recip(64, r);
  ck_assert(r[0] == 1073741824 && r[1] == -36);
  nitrt_s31_recip(1, r);
  ck_assert(r[0] == (1 << 30) && r[1] == -30);
  /* the tables are the reference's */
  for (int j = 0; j <= 64; j++) {
    EQ(nit_exp2neg_q30[j], REC_EXP2NEG_Q30[j]);
    EQ(nitrt_coshalf_table[j], REC_COSHALF_Q30[j]);
  }
}
END_TEST

/* ------------------------------------------------ against the reference */

START_TEST(snorm_random) {
  rng_state = 1;
  for (int i = 0; i < N_RANDOM; i++) {
    int bits = (int)rnd_range(1, 126);
    NitU128 a = ((NitU128)rnd() << 64 | rnd()) >> (128 - bits);
    if (rnd() % 4 == 0) a |= ((NitU128)1 << (bits - 1)) - 1; /* runs of ones: carries */
    NitI128 p = rnd() & 1 ? -(NitI128)a : (NitI128)a;
    int64_t e = rnd_range(-400, 400);
    RecScalar want = rec_snorm(p, e);
    NitS31 got = nitrt_snorm(p, e);
    SAME(got, want);
    if (bits <= 63) SAME(nx_snorm64((int64_t)p, e), want); /* export_lib.c's */
  }
  SAME(nitrt_snorm(0, 7), rec_snorm(0, 7));
  SAME(nitrt_sint(-1), rec_sint(-1));
  SAME(nitrt_sint(INT64_MIN + 1), rec_sint(INT64_MIN + 1));
}
END_TEST

START_TEST(arith_random) {
  rng_state = 2;
  for (int i = 0; i < N_RANDOM; i++) {
    NitS31 a = rnd_s31(-120, 60), b = rnd_s31(-120, 60);
    if (rnd() % 4 == 0 && a.m != 0) /* near exponents: cancellation and carries */
      b.e = (int32_t)(a.e + rnd_range(-64, 64));
    if (rnd() % 8 == 0 && b.m != 0) b.m = -a.m;
    SAME(nitrt_smul(a, b), rec_smul(to_rec(a), to_rec(b)));
    SAME(nitrt_sadd(a, b), rec_sadd(to_rec(a), to_rec(b)));
    SAME(nitrt_sneg(a), rec_sneg(to_rec(a)));
    SAME(nitrt_sdiv(a, b), rec_sdiv(to_rec(a), to_rec(b)));
    SAME(nitrt_srsqrt(a), rec_srsqrt(to_rec(a)));
    SAME(nx_smul(to_nx(a), to_nx(b)), rec_smul(to_rec(a), to_rec(b))); /* export_lib.c's */
    SAME(nx_sadd(to_nx(a), to_nx(b)), rec_sadd(to_rec(a), to_rec(b)));
    SAME(nx_sdiv(to_nx(a), to_nx(b)), rec_sdiv(to_rec(a), to_rec(b)));
    SAME(nx_srsqrt(to_nx(a)), rec_srsqrt(to_rec(a)));
    NitS31 s = a;
    if (s.e > -31) s.e = (int32_t)rnd_range(-100, -31); /* |value| < 2 */
    EQ(nitrt_sq30(s), rec_sq30(to_rec(s)));
  }
}
END_TEST

/* nitrt_sadd_row (norm.c's lane-wise sadd, a step of many chains) against
 * the reference sadd: rows of random lengths (full lanes of 32, 16, and
 * partial), operands with every exponent gap from -70 to 70, zeros and
 * cancellations; each row is also chained into the next. */
START_TEST(sadd_row_random) {
  rng_state = 7;
  enum { MAXC = 100 };
  int64_t dg[2 * MAXC], t[2 * MAXC];
  RecScalar want[MAXC];
  for (int i = 0; i < 4000; i++) {
    int64_t c = rnd_range(1, MAXC);
    for (int64_t k = 0; k < c; k++) {
      NitS31 a = rnd_s31(-120, 60), b = rnd_s31(-120, 60);
      if (i % 2 && k > 0) a = (NitS31){dg[2 * k], (int32_t)dg[2 * k + 1]}; /* the chain goes on */
      if (rnd() % 2 && a.m != 0) b.e = (int32_t)(a.e + rnd_range(-70, 70));
      if (rnd() % 16 == 0 && b.m != 0) b.m = -a.m;
      dg[2 * k] = a.m, dg[2 * k + 1] = a.e, t[2 * k] = b.m, t[2 * k + 1] = b.e;
      want[k] = rec_sadd(to_rec(a), to_rec(b));
    }
    nitrt_sadd_row(dg, t, c);
    for (int64_t k = 0; k < c; k++) {
      NitS31 got = {dg[2 * k], (int32_t)dg[2 * k + 1]};
      SAME(got, want[k]);
    }
  }
}
END_TEST

START_TEST(decimals_random) {
  rng_state = 3;
  static const uint64_t p10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
  for (int i = 0; i < N_RANDOM; i++) {
    int f = (int)rnd_range(0, 9);
    uint64_t n = rnd() % 1000000000000000000ull;
    if (rnd() % 2) n >>= rnd_range(0, 59);
    SAME(nitrt_sdec(n, f), rec_sdec(n, f));
    uint64_t small = n % (p10[f] << 4); /* value < 16: Q30 fits */
    EQ(nitrt_q30_dec(small, f), rec_q30_dec(small, f));
    EQ(nitrt_q16_dec(small, f), rec_q16_dec(small, f));
  }
}
END_TEST

START_TEST(tables_random) {
  rng_state = 4;
  for (int64_t x = 0; x <= 1 << 16; x++) {
    EQ(nitrt_interp_q30(nit_exp2neg_q30, x), rec_interp_q30(REC_EXP2NEG_Q30, x));
    EQ(nitrt_interp_q30(nitrt_coshalf_table, x), rec_interp_q30(REC_COSHALF_Q30, x));
  }
  for (int i = 0; i < N_RANDOM; i++) {
    int64_t y = rnd_range(0, (int64_t)40 << 16);
    EQ(nitrt_exp2neg_q30(y), rec_exp2neg_q30(y));
    int64_t t = rnd_range(1, rnd() % 2 ? 100 : 100000000);
    int64_t p = rnd_range(0, t);
    EQ(nitrt_cosq_q30(p, t), rec_cosq_q30(p, t));
  }
  for (uint64_t v = 0; v < 100000; v++) {
    uint64_t r = nitrt_isqrt64(v);
    CHECK(r * r <= v && (r + 1) * (r + 1) > v);
  }
  for (int i = 0; i < N_RANDOM; i++) {
    uint64_t v = rnd();
    EQ(nitrt_isqrt64(v), rec_isqrt128(v));
  }
}
END_TEST

START_TEST(recip_random) {
  rng_state = 5;
  for (int64_t n = 1; n <= 70000; n++) {
    int64_t r[2];
    nitrt_s31_recip(n, r);
    RecScalar want = rec_sdiv(rec_one(), rec_sint(n));
    CHECK(r[0] == want.m && r[1] == want.e);
  }
}
END_TEST

/* A random schedule in both forms. */
static void rnd_schedule(NitLrSchedule *s, RecSchedule *rs) {
  memset(s, 0, sizeof *s);
  memset(rs, 0, sizeof *rs);
  s->kind = rnd() % 2 ? NIT_LR_COSINE : NIT_LR_PIECEWISE;
  s->count = s->kind == NIT_LR_COSINE ? 1 : (int32_t)rnd_range(1, NIT_MAX_SCHED);
  int32_t at = 1;
  for (int32_t i = 0; i < s->count; i++) {
    s->f[i] = (int32_t)rnd_range(0, 9);
    s->n[i] = rnd() % 3000;
    s->at[i] = at;
    at += (int32_t)rnd_range(1, 20);
  }
  s->min_f = (int32_t)rnd_range(0, 9);
  s->min_n = rnd() % 3 ? 0 : rnd() % 300;
  s->period = (int32_t)rnd_range(1, 30);
  s->warmup = rnd() % 2 ? 0 : rnd_range(1, 5000);
  s->ratio_f = 3;
  s->ratio_n = (uint64_t)rnd_range(0, 1000);
  rs->kind = s->kind == NIT_LR_COSINE ? REC_LR_COSINE : REC_LR_PIECEWISE;
  rs->count = s->count;
  for (int32_t i = 0; i < s->count; i++) {
    rs->value[i] = rec_sdec(s->n[i], s->f[i]);
    rs->at[i] = s->at[i];
  }
  rs->base = rec_sdec(s->n[0], s->f[0]);
  rs->min = rec_sdec(s->min_n, s->min_f);
  rs->period = s->period;
  rs->warmup = s->warmup;
  rs->warmup_ratio_q30 = rec_q30_dec(s->ratio_n, s->ratio_f);
}

START_TEST(schedules_random) {
  rng_state = 6;
  for (int i = 0; i < 2000; i++) {
    NitLrSchedule s;
    RecSchedule rs;
    rnd_schedule(&s, &rs);
    int64_t spe = rnd_range(1, 600);
    for (int k = 0; k < 100; k++) {
      uint64_t t = (uint64_t)rnd_range(0, rnd() % 2 ? 6000 : 200 * spe);
      int64_t epoch = (int64_t)(t / (uint64_t)spe) + 1;
      SAME(nitrt_lr(&s, epoch, t, spe), rec_lr(&rs, epoch, t, spe));
    }
  }
}
END_TEST

START_TEST(schedule_examples) {
  /* lr 0.1 then 0.01 at 3; warmup steps(10, ratio=0.5) */
  NitLrSchedule s;
  memset(&s, 0, sizeof s);
  s.kind = NIT_LR_PIECEWISE;
  s.count = 2;
  s.n[0] = 1, s.f[0] = 1, s.at[0] = 1;
  s.n[1] = 1, s.f[1] = 2, s.at[1] = 3;
  IS(nitrt_lr(&s, 1, 0, 5), 1717986918, -34);
  IS(nitrt_lr(&s, 2, 7, 5), 1717986918, -34);
  IS(nitrt_lr(&s, 3, 10, 5), 1374389535, -37);
  s.warmup = 10, s.ratio_n = 5, s.ratio_f = 1;
  IS(nitrt_lr(&s, 1, 0, 5), 1717986918, -35);  /* 0.1 * 0.5 */
  IS(nitrt_lr(&s, 3, 10, 5), 1374389535, -37); /* warmup over */
  /* cosine(0.1, period=2) with 5 steps per epoch: T = 10 */
  memset(&s, 0, sizeof s);
  s.kind = NIT_LR_COSINE;
  s.count = 1, s.n[0] = 1, s.f[0] = 1, s.period = 2;
  IS(nitrt_lr(&s, 1, 0, 5), 1717986918, -34);
  IS(nitrt_lr(&s, 2, 5, 5), 1717986918, -35);          /* half way: f = 2^29 */
  IS(nitrt_lr(&s, 3, 10, 5), 0, 0);                    /* the end of the period */
  SAME(nitrt_lr(&s, 3, 15, 5), nitrt_lr(&s, 2, 5, 5)); /* rising again */
  s.min_n = 1, s.min_f = 3;                            /* min 0.001 */
  IS(nitrt_lr(&s, 3, 10, 5), 1099511628, -40);
}
END_TEST

/* S from the plan: what generated code computes per element. */
static int64_t apply_plan(const int64_t *plan, const RecTerm *terms, int nterms, int64_t j) {
  int64_t sum = 0;
  for (int t = 0; t < nterms; t++) {
    int64_t m = plan[2 + 2 * t], d = plan[3 + 2 * t];
    int64_t u = terms[t].u ? terms[t].u[j] : 1;
    if (m == 0 || u == 0) continue;
    rec_i128 p = (rec_i128)m * u;
    rec_u128 a = p < 0 ? (rec_u128)0 - (rec_u128)p : (rec_u128)p;
    rec_u128 v = d >= 0 ? a << d : rec_rnear128(a, -d);
    sum += p < 0 ? -(int64_t)v : (int64_t)v;
  }
  return sum;
}

START_TEST(linsum_random) {
  rng_state = 7;
  enum { COUNT = 6 };
  for (int i = 0; i < N_RANDOM / 4; i++) {
    int nterms = (int)rnd_range(1, REC_MAX_TERMS);
    int64_t u[REC_MAX_TERMS][COUNT];
    RecScalar c[REC_MAX_TERMS];
    RecTerm terms[REC_MAX_TERMS];
    int64_t in[4 * REC_MAX_TERMS], plan[2 + 2 * REC_MAX_TERMS];
    for (int t = 0; t < nterms; t++) {
      int kind = (int)(rnd() % 6);
      int bits = (int)rnd_range(2, 48); /* |u| < 2^(bits-1) */
      uint64_t umax = 0;
      for (int j = 0; j < COUNT; j++) {
        int64_t v = kind == 0 ? 0 : (int64_t)(rnd() >> (64 - bits + 1));
        u[t][j] = rnd() & 1 ? -v : v;
        uint64_t a = (uint64_t)(v < 0 ? -v : v);
        if (a > umax) umax = a;
      }
      NitS31 cc = rnd_s31(-70, 10);
      c[t] = to_rec(cc);
      terms[t].u = kind == 1 ? NULL : u[t];
      if (kind == 1) umax = 1;
      terms[t].s = rnd_range(-40, 10);
      terms[t].c = &c[t];
      terms[t].ncoef = 1;
      terms[t].div = 1;
      in[4 * t] = c[t].m;
      in[4 * t + 1] = c[t].e;
      in[4 * t + 2] = terms[t].s;
      in[4 * t + 3] = (int64_t)umax;
    }
    int64_t s[COUNT];
    int64_t w = rec_linsum(terms, nterms, COUNT, s);
    nitrt_linsum_plan(nterms, in, plan);
    int any = 0;
    for (int t = 0; t < nterms; t++) any |= plan[2 + 2 * t] != 0;
    ck_assert_int_eq(plan[1], any);
    ck_assert_int_eq(plan[0], w);
    if (!any) ck_assert_int_eq(plan[0], 0);
    for (int j = 0; j < COUNT; j++) EQ(apply_plan(plan, terms, nterms, j), s[j]);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("s31");
  TCase *t = tcase_create("s31");
  tcase_add_test(t, spec_examples);
  tcase_add_test(t, snorm_random);
  tcase_add_test(t, arith_random);
  tcase_add_test(t, sadd_row_random);
  tcase_add_test(t, decimals_random);
  tcase_add_test(t, tables_random);
  tcase_add_test(t, recip_random);
  tcase_add_test(t, schedules_random);
  tcase_add_test(t, schedule_examples);
  tcase_add_test(t, linsum_random);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
