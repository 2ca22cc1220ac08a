/*
 * s31.c: S31 scalars, Q30 tables, learning-rate schedules and the scalar
 * helpers of generated code (s31.h, nitabi.h). Written from
 * docs/recipes.md ("Scalars", "Fixed-point tables", "LINSUM and LINCOMB",
 * "Learning-rate schedules"); tests/runtime/test_s31.c checks it against the
 * reference in tests/ref on random inputs and the spec's worked examples.
 *
 * Magnitudes are unsigned; the sign is put back at the end, so no shift
 * ever touches a negative number.
 */
#include "s31.h"

/* ------------------------------------------------------------- helpers */


static int bitlen128(NitU128 v) {
  uint64_t hi = (uint64_t)(v >> 64);
  return hi ? 64 + nitrt_bitlen64(hi) : nitrt_bitlen64((uint64_t)v);
}

/* R_near(a, k), k >= 1: a >> k plus the bit below. */
static NitU128 rnear(NitU128 a, int64_t k) {
  if (k > 128) return 0;
  NitU128 half = (a >> (k - 1)) & 1;
  NitU128 q = k == 128 ? 0 : a >> k;
  return q + half;
}

static uint64_t pow10_u64(int32_t f) {
  uint64_t p = 1;
  while (f-- > 0) p *= 10;
  return p;
}

static const NitS31 ZERO = {0, 0};

/* ------------------------------------------------------------ S31 scalars */

NitS31 nitrt_sdiv(NitS31 a, NitS31 b) {
  if (a.m == 0 || b.m == 0) return ZERO;
  int neg = (a.m < 0) ^ (b.m < 0);
  NitU128 am = (NitU128)(a.m < 0 ? -a.m : a.m), bm = (NitU128)(b.m < 0 ? -b.m : b.m);
  NitU128 q = ((am << 63) + bm) / (bm << 1);
  NitI128 sq = neg ? -(NitI128)q : (NitI128)q;
  return nitrt_snorm(sq, (int64_t)a.e - b.e - 62);
}

uint64_t nitrt_isqrt64(uint64_t v) {
  uint64_t r = 0;
  for (int bit = 31; bit >= 0; bit--) {
    uint64_t t = r | (uint64_t)1 << bit;
    if (t * t <= v) r = t; /* t < 2^32: no overflow */
  }
  return r;
}

NitS31 nitrt_srsqrt(NitS31 a) {
  if (a.m <= 0) return ZERO;
  int odd = (a.e & 1) != 0;
  int sh = odd ? 33 : 32;
  uint64_t mm = (uint64_t)a.m << sh;
  int64_t e = (int64_t)a.e - sh; /* even */
  uint64_t r = nitrt_isqrt64(mm);
  NitU128 q = (((NitU128)1 << 94) + r) / ((NitU128)r * 2);
  return nitrt_snorm((NitI128)q, -93 - e / 2);
}

int64_t nitrt_sq30(NitS31 a) {
  if (a.m == 0) return 0;
  int neg = a.m < 0;
  uint64_t am = (uint64_t)(neg ? -a.m : a.m);
  int64_t sh = (int64_t)a.e + 30;
  uint64_t v;
  if (sh >= 0) v = sh >= 33 ? 0 : am << sh; /* callers keep |value| < 2: sh <= 0 */
  else v = (uint64_t)rnear(am, -sh);
  return neg ? -(int64_t)v : (int64_t)v;
}

NitS31 nitrt_sdec(uint64_t n, int32_t f) {
  if (n == 0) return ZERO;
  NitU128 d = pow10_u64(f), nn = n;
  /* L with d 2^L <= n < d 2^(L+1): start from the bit lengths, then step */
  int64_t l = (int64_t)bitlen128(nn) - bitlen128(d);
  for (;;) {
    NitU128 lhs = l >= 0 ? d << l : d, rhs = l >= 0 ? nn : nn << -l; /* d 2^L <= n ? */
    if (lhs <= rhs) break;
    l--;
  }
  for (;;) {
    int64_t l1 = l + 1;
    NitU128 lhs = l1 >= 0 ? d << l1 : d, rhs = l1 >= 0 ? nn : nn << -l1;
    if (lhs > rhs) break;
    l++;
  }
  NitU128 num = 30 - l > 0 ? nn << (30 - l) : nn;
  NitU128 den = l - 30 > 0 ? d << (l - 30) : d;
  NitU128 m = (2 * num + den) / (2 * den);
  int64_t e = l - 30;
  if (m == (NitU128)1 << 31) {
    m >>= 1;
    e++;
  }
  return nitrt_s31_mk(0, (uint64_t)m, e);
}

static int64_t q_dec(uint64_t n, int32_t f, int q) {
  NitU128 d = pow10_u64(f);
  return (int64_t)((((NitU128)n << (q + 1)) + d) / (2 * d));
}

int64_t nitrt_q30_dec(uint64_t n, int32_t f) { return q_dec(n, f, 30); }
int64_t nitrt_q16_dec(uint64_t n, int32_t f) { return q_dec(n, f, 16); }

/* --------------------------------------------------------------- tables */

/* docs/recipes.md / the specification's Appendix A. */
/* EXP2NEG is nitabi.h's nit_exp2neg_q30: the generated code reads the same table. */
const int32_t nitrt_coshalf_table[65] = {
    1073741824, 1073095139, 1071156644, 1067931007, 1063426000, 1057652476, 1050624343, 1042358533, 1032874959,
    1022196468, 1010348786, 997360453,  983262761,  968089672,  951877739,  934666018,  916495974,  897411381,
    877458213,  856684541,  835140410,  812877721,  789950108,  766412805,  742322515,  717737275,  692716311,
    667319903,  641609231,  615646236,  589493464,  563213919,  536870912,  510527905,  484248360,  458095588,
    432132593,  406421921,  381025513,  356004549,  331419309,  307329019,  283791716,  260864103,  238601414,
    217057283,  196283611,  176330443,  157245850,  139075806,  121864085,  105652152,  90479063,   76381371,
    63393038,   51545356,   40866865,   31383291,   23117481,   16089348,   10315824,   5810817,    2585180,
    646685,     0};

int64_t nitrt_interp_q30(const int32_t *table, int64_t x) {
  int64_t j = x >> 10, r = x & 1023;
  if (j >= 64) return table[64];
  int64_t drop = ((int64_t)table[j] - table[j + 1]) * r; /* >= 0 */
  return table[j] - (drop >> 10);
}

int64_t nitrt_exp2neg_q30(int64_t y) {
  int64_t whole = y >> 16;
  if (whole >= 31) return 0;
  return nitrt_interp_q30(nit_exp2neg_q30, y & 0xFFFF) >> whole;
}

int64_t nitrt_cosq_q30(int64_t p, int64_t t) { return nitrt_interp_q30(nitrt_coshalf_table, (p << 16) / t); }

/* ------------------------------------------------------------ schedules */

NitS31 nitrt_lr(const NitLrSchedule *s, int64_t epoch, uint64_t t, int64_t steps_per_epoch) {
  NitS31 eta;
  if (s->kind == NIT_LR_COSINE) {
    NitS31 base = nitrt_sdec(s->n[0], s->f[0]), lo = nitrt_sdec(s->min_n, s->min_f);
    uint64_t big_t = (uint64_t)s->period * (uint64_t)steps_per_epoch;
    uint64_t p = t % (2 * big_t);
    if (p > big_t) p = 2 * big_t - p;
    int64_t f = nitrt_cosq_q30((int64_t)p, (int64_t)big_t);
    NitS31 fs = nitrt_snorm(f, -30);
    if (lo.m == 0) eta = nitrt_smul(base, fs);
    else if (f == 0) eta = lo;
    else eta = nitrt_sadd(lo, nitrt_smul(nitrt_sadd(base, nitrt_sneg(lo)), fs));
  } else {
    int32_t pick = 0;
    for (int32_t i = 1; i < s->count && i < NIT_MAX_SCHED; i++)
      if (s->at[i] <= epoch) pick = i;
    eta = nitrt_sdec(s->n[pick], s->f[pick]);
  }
  if (s->warmup > 0 && t < (uint64_t)s->warmup) {
    int64_t r = nitrt_q30_dec(s->ratio_n, s->ratio_f);
    NitI128 rise = (NitI128)(((int64_t)1 << 30) - r) * (NitI128)t / s->warmup;
    eta = nitrt_smul(eta, nitrt_snorm(r + (int64_t)rise, -30));
  }
  return eta;
}

/* ------------------------------------------------- helpers of nitabi.h */

void nitrt_s31_recip(int64_t n, int64_t *out) {
  NitS31 r = nitrt_sdiv(nitrt_s31_one(), nitrt_sint(n));
  out[0] = r.m;
  out[1] = r.e;
}

void nitrt_linsum_plan(int32_t nterms, const int64_t *in, int64_t *out) {
  int any = 0;
  int64_t emin = 0, h = 0;
  for (int32_t t = 0; t < nterms; t++) {
    int64_t cm = in[4 * t], e = in[4 * t + 1] + in[4 * t + 2], u = in[4 * t + 3];
    if (cm == 0 || u == 0) continue;
    int64_t top = e + 31 + nitrt_bitlen64((uint64_t)(u < 0 ? -u : u));
    if (!any || e < emin) emin = e;
    if (!any || top > h) h = top;
    any = 1;
  }
  int64_t w = !any ? 0 : emin > h - 60 ? emin : h - 60;
  out[0] = w;
  out[1] = any;
  for (int32_t t = 0; t < nterms; t++) {
    int64_t cm = in[4 * t], u = in[4 * t + 3];
    out[2 + 2 * t] = cm != 0 && u != 0 ? cm : 0;
    out[3 + 2 * t] = in[4 * t + 1] + in[4 * t + 2] - w;
  }
}
