/*
 * recipe_scalar.c: the integer building blocks of the recipes (R§1-§2):
 * S31 scalars, the Q30 tables, RQ_b and shiftquant's SQ_b (R§9.2), SRdiv,
 * guarded aligned sums, LINSUM and LINCOMB. See recipe.h and docs/recipes.md.
 *
 * Magnitudes are handled in sign-magnitude on unsigned types, so no shift
 * ever touches a negative number. 128-bit integers appear only in the
 * scalar operations (per tensor or per group) and in LINSUM's products.
 */
#include "recipe.h"

#include "ref.h"

/* ------------------------------------------------------------- helpers */

static int bits128(rec_u128 v) {
  int b = 0;
  while (v) {
    b++;
    v >>= 1;
  }
  return b;
}

static rec_u128 abs128(rec_i128 x) {
  return x < 0 ? (rec_u128)0 - (rec_u128)x : (rec_u128)x;
}

rec_u128 rec_rnear128(rec_u128 a, int64_t k) {
  if (k <= 0)
    return a << -k;
  if (k > 128)
    return 0;
  if (k == 128)
    return a >> 127; /* q = 0; the half bit is bit 127 */
  return (a >> k) + ((a >> (k - 1)) & 1);
}

uint64_t rec_isqrt128(rec_u128 v) {
  /* bit by bit from the top: r is the largest value with r*r <= v so far */
  uint64_t r = 0;
  for (int bit = 63; bit >= 0; bit--) {
    uint64_t t = r | ((uint64_t)1 << bit);
    if ((rec_u128)t * t <= v)
      r = t;
  }
  return r;
}

/* ------------------------------------------------------------ S31 scalars */

RecScalar rec_one(void) {
  RecScalar r = {(int64_t)1 << 30, -30};
  return r;
}

RecScalar rec_snorm(rec_i128 p, int64_t e) {
  RecScalar r = {0, 0};
  if (p == 0)
    return r;
  rec_u128 a = abs128(p);
  int b = bits128(a);
  uint64_t m;
  int64_t k;
  if (b > 31) {
    k = b - 31;
    m = (uint64_t)rec_rnear128(a, k);
    if (m == ((uint64_t)1 << 31)) { /* rounded up to 2^31: one bit more */
      m = (uint64_t)1 << 30;
      k++;
    }
  } else {
    k = -(int64_t)(31 - b);
    m = (uint64_t)(a << (31 - b)); /* exact */
  }
  r.m = p < 0 ? -(int64_t)m : (int64_t)m;
  r.e = (int32_t)(e + k);
  return r;
}

RecScalar rec_sint(int64_t p) {
  return rec_snorm(p, 0);
}

RecScalar rec_smul(RecScalar a, RecScalar b) {
  return rec_snorm((rec_i128)a.m * b.m, (int64_t)a.e + b.e);
}

RecScalar rec_sneg(RecScalar a) {
  a.m = -a.m;
  return a;
}

RecScalar rec_sadd(RecScalar a, RecScalar b) {
  if (a.m == 0)
    return b;
  if (b.m == 0)
    return a;
  int64_t lo = a.e < b.e ? a.e : b.e;
  int64_t hi = a.e < b.e ? b.e : a.e;
  if (hi - lo > 62) /* the smaller operand cannot change the rounded result */
    return a.e > b.e ? a : b;
  rec_i128 p = (rec_i128)a.m * ((rec_i128)1 << (a.e - lo)) +
               (rec_i128)b.m * ((rec_i128)1 << (b.e - lo));
  return rec_snorm(p, lo);
}

RecScalar rec_sdiv(RecScalar a, RecScalar b) {
  RecScalar z = {0, 0};
  if (a.m == 0 || b.m == 0)
    return z;
  int neg = (a.m < 0) != (b.m < 0);
  rec_u128 am = abs128(a.m), bm = abs128(b.m);
  /* |a.m| 2^62 / |b.m| rounded half up */
  rec_u128 q = (2 * (am << 62) + bm) / (2 * bm);
  rec_i128 sq = neg ? -(rec_i128)q : (rec_i128)q;
  return rec_snorm(sq, (int64_t)a.e - b.e - 62);
}

RecScalar rec_srsqrt(RecScalar a) {
  RecScalar z = {0, 0};
  if (a.m <= 0)
    return z;
  uint64_t mm;
  int64_t e;
  if (a.e % 2 != 0) { /* odd exponent */
    mm = (uint64_t)a.m << 33;
    e = (int64_t)a.e - 33;
  } else {
    mm = (uint64_t)a.m << 32;
    e = (int64_t)a.e - 32;
  }
  /* 2^62 <= mm < 2^64, e even */
  uint64_t r = ref_isqrt(mm); /* 2^31 <= r < 2^32 */
  rec_u128 q = (((rec_u128)1 << 94) + r) / (2 * (rec_u128)r); /* 2^93 / r, half up */
  return rec_snorm((rec_i128)q, -93 - e / 2);
}

int64_t rec_sq30(RecScalar a) {
  if (a.m == 0)
    return 0;
  int64_t sh = (int64_t)a.e + 30;
  uint64_t am = ref_abs64(a.m);
  uint64_t v = sh >= 0 ? am << sh : (uint64_t)rec_rnear128(am, -sh);
  return a.m < 0 ? -(int64_t)v : (int64_t)v;
}

static uint64_t pow10u(int f) {
  uint64_t p = 1;
  for (int i = 0; i < f; i++)
    p *= 10;
  return p;
}

RecScalar rec_sdec(uint64_t n, int f) {
  RecScalar z = {0, 0};
  if (n == 0)
    return z;
  rec_u128 d10 = pow10u(f), nn = n;
  /* L: the unique integer with 10^f 2^L <= N < 10^f 2^(L+1); start from the
   * bit lengths (|error| <= 1) and step. -30 <= L < 60. */
  int64_t l = (int64_t)bits128(nn) - bits128(d10);
#define LE(L) ((L) >= 0 ? (d10 << (L)) <= nn : d10 <= (nn << -(L))) /* 10^f 2^L <= N */
  while (!LE(l))
    l--;
  while (LE(l + 1))
    l++;
#undef LE
  rec_u128 num = nn << (30 - l > 0 ? 30 - l : 0);
  rec_u128 den = d10 << (l - 30 > 0 ? l - 30 : 0);
  rec_u128 m = (2 * num + den) / (2 * den);
  int64_t e = l - 30;
  if (m == ((rec_u128)1 << 31)) {
    m = (rec_u128)1 << 30;
    e++;
  }
  RecScalar r = {(int64_t)m, (int32_t)e};
  return r;
}

static int64_t q_dec(uint64_t n, int f, int q) {
  rec_u128 d10 = pow10u(f);
  return (int64_t)((2 * ((rec_u128)n << q) + d10) / (2 * d10));
}

int64_t rec_q30_dec(uint64_t n, int f) {
  return q_dec(n, f, 30);
}

int64_t rec_q16_dec(uint64_t n, int f) {
  return q_dec(n, f, 16);
}

/* --------------------------------------------------------------- tables */

/* Appendix A, embedded as literals (checked by the golden generator). */
const int32_t REC_EXP2NEG_Q30[65] = {
    1073741824, 1062175491, 1050733751, 1039415261, 1028218693, 1017142735, 1006186087, 995347464,
    984625594,  974019220,  963527098,  953147997,  942880699,  932724001,  922676710,  912737649,
    902905651,  893179563,  883558244,  874040567,  864625413,  855311680,  846098274,  836984114,
    827968132,  819049271,  810226483,  801498734,  792865000,  784324269,  775875538,  767517817,
    759250125,  751071493,  742980960,  734977579,  727060411,  719228525,  711481005,  703816941,
    696235434,  688735596,  681316545,  673977412,  666717336,  659535466,  652430958,  645402981,
    638450708,  631573326,  624770026,  618040012,  611382493,  604796689,  598281827,  591837143,
    585461881,  579155293,  572916640,  566745190,  560640218,  554601009,  548626854,  542717053,
    536870912};

const int32_t REC_COSHALF_Q30[65] = {
    1073741824, 1073095139, 1071156644, 1067931007, 1063426000, 1057652476, 1050624343, 1042358533,
    1032874959, 1022196468, 1010348786, 997360453,  983262761,  968089672,  951877739,  934666018,
    916495974,  897411381,  877458213,  856684541,  835140410,  812877721,  789950108,  766412805,
    742322515,  717737275,  692716311,  667319903,  641609231,  615646236,  589493464,  563213919,
    536870912,  510527905,  484248360,  458095588,  432132593,  406421921,  381025513,  356004549,
    331419309,  307329019,  283791716,  260864103,  238601414,  217057283,  196283611,  176330443,
    157245850,  139075806,  121864085,  105652152,  90479063,   76381371,   63393038,   51545356,
    40866865,   31383291,   23117481,   16089348,   10315824,   5810817,    2585180,    646685,
    0};

int64_t rec_interp_q30(const int32_t *t, int64_t x) {
  int64_t j = x >> 10, r = x & 1023;
  if (j >= 64)
    return t[64];
  /* decreasing table: the product is >= 0 and below 2^40 */
  return t[j] - (((int64_t)t[j] - t[j + 1]) * r >> 10);
}

int64_t rec_exp2neg_q30(int64_t y) {
  int64_t n = y >> 16;
  if (n >= 31)
    return 0;
  return rec_interp_q30(REC_EXP2NEG_Q30, y & 0xFFFF) >> n;
}

int64_t rec_cosq_q30(int64_t p, int64_t t) {
  return rec_interp_q30(REC_COSHALF_Q30, (p << 16) / t);
}

/* ------------------------------------------------------- rounding, sums */

int64_t rec_lim(int b) {
  return ((int64_t)1 << (b - 1)) - 1;
}

/* One element of RQ_b and SQ_b: sat_b(R_mode(x, k)) with the draw of the
 * element's flat index j. */
static int64_t rq_elem(int64_t x, int k, int64_t lim, int mode, uint64_t key, int64_t j) {
  return ref_sat(ref_round_wide(x, k, mode, key, (uint64_t)j), lim);
}

/* RQ_b's step: k = max(0, B(x) - (b-1)). */
static int rq_step(const int64_t *x, int64_t count, int b) {
  int bx = ref_bitlen64(x, count);
  return bx > b - 1 ? bx - (b - 1) : 0;
}

int rec_rq(const int64_t *x, int64_t count, int b, int mode, uint64_t key, int64_t *out) {
  int k = rq_step(x, count, b);
  int64_t lim = rec_lim(b);
  for (int64_t j = 0; j < count; j++)
    out[j] = rq_elem(x[j], k, lim, mode, key, j);
  return k;
}

int rec_rq8(const int64_t *x, int64_t count, int b, int mode, uint64_t key, int8_t *out) {
  int k = rq_step(x, count, b);
  int64_t lim = rec_lim(b);
  for (int64_t j = 0; j < count; j++)
    out[j] = (int8_t)rq_elem(x[j], k, lim, mode, key, j);
  return k;
}

int rec_sq(const int64_t *x, int64_t count, int b, int64_t div, int64_t ngroups, int mode,
           uint64_t key, int *kc, int8_t *out) {
  int J = 8 - b;
  int64_t lim = rec_lim(b);
  for (int64_t g = 0; g < ngroups; g++)
    kc[g] = 0;
  /* 1. BT = B(x); the zero tensor is zeros at the input's exponent (R§1.2) */
  if (ref_bitlen64(x, count) == 0) {
    for (int64_t j = 0; j < count; j++)
      out[j] = 0;
    return 0;
  }
  /* 2. the largest group's step kT and the finest step base = kT - J */
  int base = rq_step(x, count, b) - J;
  /* 3. per group: B of the group (in kc first), then its step */
  for (int64_t j = 0; j < count; j++) {
    int64_t g = (j / div) % ngroups;
    int bj = ref_bits(ref_abs64(x[j]));
    if (bj > kc[g])
      kc[g] = bj;
  }
  for (int64_t g = 0; g < ngroups; g++) {
    int k = kc[g] - (b - 1);
    if (k < 0)
      k = 0;
    if (k < base)
      k = base;
    kc[g] = k; /* base <= k <= kT: the shift k - base is 0..J */
  }
  /* 4. q = sat_b(R(x, kc)), stored as q 2^(kc - base) (a product: q may be
   * negative, |q 2^(kc - base)| <= lim(b) 2^J <= 127) */
  for (int64_t j = 0; j < count; j++) {
    int k = kc[(j / div) % ngroups];
    out[j] = (int8_t)(rq_elem(x[j], k, lim, mode, key, j) * ((int64_t)1 << (k - base)));
  }
  return base;
}

int rec_sq_groups(int groups, int64_t n, int64_t c, int64_t hw, int64_t *div, int64_t *ngroups) {
  switch (groups) {
  case NIT_GROUPS_CHANNEL: /* c = (j / HW) % C */
    *div = hw, *ngroups = c;
    break;
  case NIT_GROUPS_SAMPLE: /* b = j / (C HW) */
    *div = c * hw, *ngroups = n;
    break;
  case NIT_GROUPS_TENSOR: /* one group */
    *div = 1, *ngroups = 1;
    break;
  default:
    return -1;
  }
  if (*div < 1)
    *div = 1;
  if (*ngroups < 1)
    *ngroups = 1;
  return 0;
}

uint64_t rec_srdiv(uint64_t a, uint64_t d, uint64_t key, uint64_t j) {
  uint64_t q0 = a / d, f = a - q0 * d;
  rec_u128 lhs = (rec_u128)f << 64;
  rec_u128 rhs = (rec_u128)nit_draw(key, j) * d;
  return lhs > rhs ? q0 + 1 : q0;
}

int rec_align_sum(const int64_t *const *t, const int *exps, int nt, int64_t count, int guard,
                  int64_t *sum) {
  int any = 0, lo = 0, hi = 0;
  for (int i = 0; i < nt; i++) {
    if (ref_bitlen64(t[i], count) == 0)
      continue; /* a zero tensor: no meaningful exponent */
    if (!any || exps[i] < lo)
      lo = exps[i];
    if (!any || exps[i] > hi)
      hi = exps[i];
    any = 1;
  }
  for (int64_t j = 0; j < count; j++)
    sum[j] = 0;
  if (!any)
    return 0;
  int s = lo;
  if ((int64_t)hi - lo > guard)
    s = hi - guard;
  for (int i = 0; i < nt; i++) {
    if (exps[i] < s || ref_bitlen64(t[i], count) == 0)
      continue; /* more than `guard` bits below the largest: dropped */
    int64_t mul = (int64_t)1 << (exps[i] - s); /* exact left shift */
    for (int64_t j = 0; j < count; j++)
      sum[j] += t[i][j] * mul;
  }
  return s;
}

/* ---------------------------------------------------- LINSUM / LINCOMB */

static const RecScalar *term_coef(const RecTerm *t, int64_t j) {
  return &t->c[(j / t->div) % t->ncoef];
}

/* U_t: max |u| over the tensor; 1 for the constant tensor. */
static uint64_t term_max(const RecTerm *t, int64_t count) {
  if (!t->u)
    return count > 0 ? 1 : 0;
  uint64_t m = 0;
  for (int64_t j = 0; j < count; j++)
    if (ref_abs64(t->u[j]) > m)
      m = ref_abs64(t->u[j]);
  return m;
}

int64_t rec_linsum(const RecTerm *terms, int nterms, int64_t count, int64_t *s) {
  /* 1-2: exponents of the live pairs (t, g(j)) over the elements j, H, W */
  int live = 0;
  int64_t emin = 0, h = 0;
  for (int t = 0; t < nterms; t++) {
    uint64_t ut = term_max(&terms[t], count);
    if (ut == 0)
      continue;
    for (int64_t j = 0; j < count; j++) {
      const RecScalar *c = term_coef(&terms[t], j);
      if (c->m == 0)
        continue;
      int64_t e = c->e + terms[t].s;
      int64_t top = e + 31 + ref_bits(ut);
      if (!live || e < emin)
        emin = e;
      if (!live || top > h)
        h = top;
      live = 1;
    }
  }
  for (int64_t j = 0; j < count; j++)
    s[j] = 0;
  if (!live)
    return 0; /* the zero tensor (R§1.2) */
  int64_t w = emin > h - 60 ? emin : h - 60;
  /* 3: one aligned product per term and element */
  for (int t = 0; t < nterms; t++) {
    const RecTerm *tm = &terms[t];
    for (int64_t j = 0; j < count; j++) {
      const RecScalar *c = term_coef(tm, j);
      int64_t u = tm->u ? tm->u[j] : 1;
      if (c->m == 0 || u == 0)
        continue;
      rec_i128 p = (rec_i128)c->m * u; /* up to 78 bits */
      int64_t d = c->e + tm->s - w;
      rec_i128 v;
      if (d >= 0) {
        v = p * ((rec_i128)1 << d); /* exact, |v| <= 2^60 */
      } else {
        rec_u128 a = rec_rnear128(abs128(p), -d);
        v = p < 0 ? -(rec_i128)a : (rec_i128)a;
      }
      s[j] += (int64_t)v;
    }
  }
  return w;
}

int64_t rec_lincomb(const RecTerm *terms, int nterms, int64_t count, int b, int mode,
                    uint64_t key, int64_t *scratch, int64_t *out) {
  int64_t w = rec_linsum(terms, nterms, count, scratch);
  return w + rec_rq(scratch, count, b, mode, key, out);
}
