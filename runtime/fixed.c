/*
 * fixed.c: the loss and softmax the runtime reports, in fixed point.
 *
 * Training never needs the loss value (the generated code computes the
 * integer softmax gradient itself); the runtime computes it from the logits
 * only for people and logs. Everything is integer:
 *
 *   t_j = z_j * log2(e)        z_j = logit_j * 2^exp, t in Q24 (base-2 units)
 *   m   = max_j t_j
 *   S   = sum_j 2^(t_j - m)    Q30; each 2^-d from a 24-entry table of
 *                              2^(-2^-i), one multiply per set fraction bit
 *                              (the top 12 bits' products tabulated)
 *   CE  = (m - t_y + log2 S) * ln 2      log2 by repeated squaring, Q24 nats
 *
 * Constants are round(x * 2^30). Accuracy is about 1e-6 nats, far below the
 * four decimals printed.
 */
#include <pthread.h>
#include <string.h>

#include "nitrt.h"

#define LOG2E_Q30 ((int64_t)NIT_LOG2E_Q30) /* log2(e), nitabi.h */
#define LN2_Q30   744261118ll  /* ln(2) */
#define ONE_Q30   (1ll << 30)

/* EXP2_NEG[i] = 2^(-2^-(i+1)) in Q30: the factor of fraction bit i+1. */
static const int64_t EXP2_NEG[24] = {
    759250125,  902905651,  984625594,  1028218693, 1050733751, 1062175491, 1067942999, 1070838486,
    1072289173, 1073015252, 1073378477, 1073560135, 1073650976, 1073696399, 1073719111, 1073730468,
    1073736146, 1073738985, 1073740404, 1073741114, 1073741469, 1073741647, 1073741735, 1073741780,
};

/* logit * 2^exp * log2(e) in Q24, rounded to nearest. */
static int64_t to_log2_q24(int32_t a, int32_t exp) {
  if (exp > 26) exp = 26;             /* keeps the shift below within int64; no real model gets here */
  int64_t p = (int64_t)a * LOG2E_Q30; /* Q30, |p| < 2^38 */
  int32_t sh = exp + NITRT_Q - 30;
  if (sh >= 0) return p * ((int64_t)1 << sh);
  if (sh <= -62) return 0;
  int64_t mag = p < 0 ? -p : p;
  mag = (mag + ((int64_t)1 << (-sh - 1))) >> -sh;
  return p < 0 ? -mag : mag;
}

/* The product over the top EXP2_HI_BITS fraction bits, taken in the order
 * the definition below takes them (most significant first, each product
 * rounded), tabulated once: entry b is where those bits leave r. The rest of
 * the bits continue from it one set bit at a time, so the result is the
 * definition's to the bit (tests/runtime checks every fraction). */
#define EXP2_HI_BITS 12
static uint32_t exp2_hi[1 << EXP2_HI_BITS]; /* Q30, <= 2^30 */
static pthread_once_t exp2_hi_once = PTHREAD_ONCE_INIT;

/* r * 2^(-2^-(i+1)), rounded to Q30: the step for fraction bit i+1 */
static int64_t exp2_step(int64_t r, int i) { return (r * EXP2_NEG[i] + (ONE_Q30 >> 1)) >> 30; }

static void exp2_hi_build(void) {
  for (int b = 0; b < (1 << EXP2_HI_BITS); b++) {
    int64_t r = ONE_Q30;
    for (int i = 0; i < EXP2_HI_BITS; i++)
      if (b & (1 << (EXP2_HI_BITS - 1 - i))) r = exp2_step(r, i);
    exp2_hi[b] = (uint32_t)r;
  }
}

/* 2^(-d[j]) in Q30 for d[j] >= 0 in Q24, j < n <= EXP2_LANES: 2^-(d's
 * fraction) as the product over its set bits of EXP2_NEG, most significant
 * first, each product rounded to Q30; then shifted right by d's integer
 * part, rounded. The top bits come from the table; the low ones go bit by
 * bit over all n values at once, a product taken or not by a mask instead
 * of a branch: the n chains are independent, so they overlap, and a
 * branch on a fraction bit mispredicts about half the time (one class at a
 * time, with the branch, a sample of ten classes took 214 ns against 151
 * now; bench/xent.c). */
enum { EXP2_LANES = 16, EXP2_LO_BITS = NITRT_Q - EXP2_HI_BITS };

static void exp2_neg_lanes(const int64_t *d, int64_t *out, int n) {
  int64_t r[EXP2_LANES];
  uint32_t lo[EXP2_LANES];
  pthread_once(&exp2_hi_once, exp2_hi_build);
  for (int j = 0; j < n; j++) {
    r[j] = exp2_hi[(d[j] >> EXP2_LO_BITS) & ((1 << EXP2_HI_BITS) - 1)];
    lo[j] = (uint32_t)d[j] & ((1u << EXP2_LO_BITS) - 1);
  }
  for (int bit = EXP2_LO_BITS - 1; bit >= 0; bit--)
    for (int j = 0; j < n; j++) {
      int64_t take = -(int64_t)((lo[j] >> bit) & 1); /* all ones where the bit is set */
      r[j] += (exp2_step(r[j], NITRT_Q - 1 - bit) - r[j]) & take;
    }
  for (int j = 0; j < n; j++) {
    int64_t k = d[j] >> NITRT_Q;
    out[j] = k > 30 ? 0 : (r[j] + (((int64_t)1 << k) >> 1)) >> k;
  }
}

int64_t nitrt_exp2_neg_q30(int64_t d) {
  int64_t e;
  exp2_neg_lanes(&d, &e, 1);
  return e;
}

/* log2(v / 2^30) in Q24 for v >= 2^30. Each result bit is taken without a
 * branch: a branch on it mispredicts about half the time, and the loss of
 * a sample took 330 ns with one against 235 ns without. */
static int64_t log2_q24(uint64_t v) {
  int e = 64 - __builtin_clzll(v) - 31; /* v >> e is in [2^30, 2^31) */
  uint64_t x = v >> e;
  int64_t r = (int64_t)e << NITRT_Q;
  for (int i = 1; i <= NITRT_Q; i++) {
    x = (x * x) >> 30;  /* in [2^30, 2^32) */
    uint64_t b = x >> 31; /* x >= 2^31: this bit of the result is set */
    x >>= b;
    r |= (int64_t)b << (NITRT_Q - i);
  }
  return r;
}

/* v * c / 2^30 for v >= 0 without overflowing: split v. */
static int64_t mul_q30(int64_t v, int64_t c) {
  return (v >> 30) * c + (((v & (ONE_Q30 - 1)) * c + (ONE_Q30 >> 1)) >> 30);
}

/* Shared part: t_j relative to the maximum; returns S and the weight of c. */
static uint64_t softmax_sum(const int8_t *logits, int32_t classes, int32_t exp, int32_t c, int64_t *m_minus_tc,
                            int64_t *wc) {
  int8_t top = logits[0]; /* t is non-decreasing in the logit: m is the largest logit's */
  for (int32_t j = 1; j < classes; j++) top = logits[j] > top ? logits[j] : top;
  int64_t m = to_log2_q24(top, exp);
  uint64_t s = 0;
  int64_t d[EXP2_LANES], e[EXP2_LANES];
  int32_t at[EXP2_LANES]; /* the class of each lane */
  int n = 0;
  *wc = 0;
  for (int32_t j = 0; j < classes; j++) {
    int64_t dj = m - to_log2_q24(logits[j], exp);
    if (j == c) *m_minus_tc = dj;
    if (dj >> NITRT_Q <= 30) d[n] = dj, at[n++] = j; /* else 2^-dj is 0 */
    if (n == EXP2_LANES || (n > 0 && j == classes - 1)) { /* the lanes are full, or the last class is in */
      exp2_neg_lanes(d, e, n);
      for (int l = 0; l < n; l++) {
        s += (uint64_t)e[l];
        if (at[l] == c) *wc = e[l];
      }
      n = 0;
    }
  }
  return s;
}

int64_t nitrt_xent_q24(const int8_t *logits, int32_t classes, int32_t exp, int32_t y) {
  int64_t d = 0, wy = 0;
  uint64_t s = softmax_sum(logits, classes, exp, y, &d, &wy);
  return mul_q30(d + log2_q24(s), LN2_Q30);
}

int32_t nitrt_softmax_bp(const int8_t *logits, int32_t classes, int32_t exp, int32_t c) {
  int64_t d = 0, wc = 0;
  uint64_t s = softmax_sum(logits, classes, exp, c, &d, &wc);
  return (int32_t)(((uint64_t)wc * 20000 + s) / (2 * s));
}

int32_t nitrt_argmax(const int8_t *logits, int32_t classes) {
  int32_t best = 0;
  for (int32_t j = 1; j < classes; j++)
    if (logits[j] > logits[best]) best = j;
  return best;
}

static int64_t pow10i(int digits) {
  int64_t p = 1;
  while (digits-- > 0) p *= 10;
  return p;
}

char *nitrt_fmt_dec(char *buf, int64_t value, int digits) {
  const char *sign = value < 0 ? "-" : "";
  uint64_t v = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
  uint64_t p = (uint64_t)pow10i(digits);
  if (digits == 0) snprintf(buf, 32, "%s%llu", sign, (unsigned long long)v);
  else snprintf(buf, 32, "%s%llu.%0*llu", sign, (unsigned long long)(v / p), digits, (unsigned long long)(v % p));
  return buf;
}

int64_t nitrt_ratio(int64_t num, int64_t den, int digits) {
  if (den <= 0) return 0;
  return (num * pow10i(digits) * 2 + den) / (2 * den);
}

int64_t nitrt_q24_dec(int64_t q24, int digits) {
  return (q24 * pow10i(digits) + ((int64_t)1 << (NITRT_Q - 1))) >> NITRT_Q;
}
