/*
 * s31.h: S31 scalars, the Q30 tables, learning-rate schedules and the scalar
 * helpers the generated code of recipes with masters calls (nitabi.h:
 * nitrt_s31_recip, nitrt_linsum_plan). docs/recipes.md, "Scalars",
 * "LINSUM and LINCOMB", "Learning-rate schedules".
 *
 * A small library of its own (CMake target nitrt_s31) so that the test
 * harness of generated code can link it without the rest of the runtime.
 * Integer only: 128-bit integers appear only for values past 64 bits (snorm
 * of a wide value, sadd across an exponent gap above 31, sdiv, srsqrt,
 * sdec). The norm kernels call the inline core per (sample, channel) of a
 * dense layer. Nothing here prints or fails.
 */
#ifndef NITRT_S31_H
#define NITRT_S31_H

#include <stdint.h>

#include "nitabi.h"

__extension__ typedef __int128 NitI128;
__extension__ typedef unsigned __int128 NitU128;

/* B(v): the bit length of v (0 for 0), the runtime's one definition. */
static inline int32_t nitrt_bitlen64(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }
/* |v| as an unsigned value (exact for INT64_MIN). */
static inline uint64_t nitrt_mag(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

/* The context's collectives over count int64 values in place (the norm and
 * clip kernels; docs/scaleout.md): exact sums and maxima over the ranks,
 * nothing in one process (ctx NULL or no communicator). */
static inline void nitrt_allsum(const NitCtx *ctx, int64_t *v, int64_t count) {
  if (ctx && ctx->allsum) ctx->allsum(ctx->comm, v, count, 8);
}
static inline void nitrt_allmax(const NitCtx *ctx, int64_t *v, int64_t count) {
  if (ctx && ctx->allmax) ctx->allmax(ctx->comm, v, count);
}
/* The maximum of one magnitude (below 2^63) over the ranks. */
static inline uint64_t nitrt_allmax1(const NitCtx *ctx, uint64_t v) {
  int64_t x = (int64_t)v;
  nitrt_allmax(ctx, &x, 1);
  return (uint64_t)x;
}

/* Value m 2^e with 2^30 <= |m| < 2^31, or m = e = 0. */
typedef struct NitS31 {
  int64_t m;
  int32_t e;
} NitS31;

/* The core operations are defined here, inline: the norm kernels use them
 * per (sample, channel) of a dense layer, and a call per operation was a
 * fifth of such a layer's time (docs/performance.md, "Dense layer norms").
 * Magnitudes are unsigned; the sign is put back at the end, so no shift
 * ever touches a negative number. */

static inline NitS31 nitrt_s31_mk(int neg, uint64_t m, int64_t e) {
  NitS31 r = {neg ? -(int64_t)m : (int64_t)m, (int32_t)e};
  return r;
}

/* ONE = (2^30, -30). */
static inline NitS31 nitrt_s31_one(void) { return nitrt_s31_mk(0, (uint64_t)1 << 30, -30); }

/* snorm of a nonzero magnitude a < 2^64 with sign neg: the whole of it when
 * it fits (products of two mantissas, int64 sums), in 64-bit arithmetic and
 * without branches (the kernels' operands come in no predictable order).
 * k = B(a) - 31: a << -k when k <= 0, else R_near(a, k), which may carry to
 * 2^31 (then halved); either way the exponent is e + k (+ 1 on a carry). */
static inline NitS31 nitrt_snorm64(int neg, uint64_t a, int64_t e) {
  int32_t k = nitrt_bitlen64(a) - 31, kd = k > 0 ? k : 1;
  uint64_t up = a << ((-k) & 63), down = (a >> kd) + ((a >> (kd - 1)) & 1);
  uint64_t m = k <= 0 ? up : down, carry = m >> 31;
  return nitrt_s31_mk(neg, m >> carry, e + k + (int64_t)carry);
}

/* Normalize P (|P| < 2^127) at exponent E, half away from zero. */
static inline NitS31 nitrt_snorm(NitI128 p, int64_t e) {
  NitS31 zero = {0, 0};
  if (p == 0) return zero;
  int neg = p < 0;
  NitU128 a = neg ? (NitU128)0 - (NitU128)p : (NitU128)p;
  uint64_t hi = (uint64_t)(a >> 64);
  if (!hi) return nitrt_snorm64(neg, (uint64_t)a, e);
  int32_t k = 64 + nitrt_bitlen64(hi) - 31; /* >= 34 */
  uint64_t m = (uint64_t)((a >> k) + ((a >> (k - 1)) & 1));
  if (m == (uint64_t)1 << 31) m >>= 1, k++;
  return nitrt_s31_mk(neg, m, e + k);
}

/* snorm(p, 0) */
static inline NitS31 nitrt_sint(int64_t p) {
  NitS31 zero = {0, 0};
  return p == 0 ? zero : nitrt_snorm64(p < 0, nitrt_mag(p), 0);
}

/* |a.m b.m| < 2^62 */
static inline NitS31 nitrt_smul(NitS31 a, NitS31 b) {
  NitS31 zero = {0, 0};
  int64_t p = a.m * b.m;
  return p == 0 ? zero : nitrt_snorm64(p < 0, nitrt_mag(p), (int64_t)a.e + b.e);
}

static inline NitS31 nitrt_sneg(NitS31 a) {
  a.m = -a.m;
  return a;
}

/* Exact sum, then snorm; a gap above 62 leaves the larger (the smaller is
 * below its half unit). */
static inline NitS31 nitrt_sadd(NitS31 a, NitS31 b) {
  if (a.m == 0) return b;
  if (b.m == 0) return a;
  int swap = a.e < b.e; /* big: the larger exponent */
  int64_t bm = swap ? b.m : a.m, sm = swap ? a.m : b.m;
  int64_t be = swap ? b.e : a.e, se = swap ? a.e : b.e, gap = be - se;
  if (gap <= 31) { /* |big.m 2^gap| < 2^62: the sum fits int64 */
    int64_t p = (int64_t)((uint64_t)bm << gap) + sm;
    NitS31 zero = {0, 0};
    return p == 0 ? zero : nitrt_snorm64(p < 0, nitrt_mag(p), se);
  }
  if (gap > 62) return swap ? b : a;
  return nitrt_snorm((NitI128)bm * ((NitI128)1 << gap) + sm, se);
}

/* dg[c] = sadd(dg[c], t[c]) for c in [0, n), both (n) {m, e} int64 pairs:
 * many independent sadd chains one step each, vectorized (norm.c). */
void nitrt_sadd_row(int64_t *dg, const int64_t *t, int64_t n);

NitS31 nitrt_sdiv(NitS31 a, NitS31 b);        /* b = 0 gives 0 */
NitS31 nitrt_srsqrt(NitS31 a);                /* a <= 0 gives 0 */
int64_t nitrt_sq30(NitS31 a);                 /* value 2^30, half away from zero, |value| < 2 */
NitS31 nitrt_sdec(uint64_t n, int32_t f);     /* decimal n / 10^f, n < 10^18, f <= 9 */
int64_t nitrt_q30_dec(uint64_t n, int32_t f); /* (2 n 2^30 + 10^f) div (2 10^f) */
int64_t nitrt_q16_dec(uint64_t n, int32_t f);
/* Largest r with r r <= v. */
uint64_t nitrt_isqrt64(uint64_t v);

/* Q30 tables (decreasing, 65 entries) and their interpolation at x in Q16. */
extern const int32_t nitrt_coshalf_table[65]; /* round(2^30 (1 + cos(pi j/64))/2) */
int64_t nitrt_interp_q30(const int32_t *table, int64_t x);
int64_t nitrt_exp2neg_q30(int64_t y);         /* 2^(-y/2^16) in Q30, y >= 0 */
int64_t nitrt_cosq_q30(int64_t p, int64_t t); /* (1 + cos(pi p/t))/2 in Q30, 0 <= p <= t */

#define NITRT_SQRT_PI_2_Q30 1345735808 /* sqrt(pi/2): the default k of L1 norms */
/* The k of a normalization layer's NIT_NORM_DESC values (norm.c). */
NitS31 nitrt_norm_k(const int64_t *desc);
/* The table `export` writes for a norm layer (norm.c; docs/deploy.md),
 * (C + 1, 4) int32: per channel {a m, e, b m, e}, the batch kinds'
 * evaluation y = a_c v + b_c from the running statistics (as the forward
 * pass computes it), the layer kinds' snorm(gamma_c, s_g) and
 * snorm(beta_c, s_b); then
 * the layer kinds' {eps N^2 m, e (at exponent 0), k m, e}, zeros for the
 * batch kinds. running: the batch kinds' (C, 4), else unused. */
void nitrt_norm_export(const int64_t *desc, const int8_t *gamma, int32_t s_g, const int8_t *beta, int32_t s_b,
                       const int32_t *running, int32_t *table);

/* A learning-rate schedule as the .nit file writes it (exact decimals
 * value n / 10^f), see NitRecipe. period >= 1 (the runtime resolves the
 * default, the run's epochs). */
typedef struct NitLrSchedule {
  int32_t kind;  /* NIT_LR_PIECEWISE or NIT_LR_COSINE */
  int32_t count; /* piecewise entries, 1..NIT_MAX_SCHED; cosine: 1 (base) */
  uint64_t n[NIT_MAX_SCHED];
  int32_t f[NIT_MAX_SCHED];
  int32_t at[NIT_MAX_SCHED]; /* 1-based epoch of entry i, at[0] = 1, increasing */
  uint64_t min_n;            /* cosine floor */
  int32_t min_f;
  int32_t period;   /* cosine period in epochs, >= 1 */
  int64_t warmup;   /* warmup steps, 0 = none */
  uint64_t ratio_n; /* warmup start ratio */
  int32_t ratio_f;
} NitLrSchedule;

/* eta for the 1-based epoch, the 0-based global step t and the steps per
 * epoch (>= 1). */
NitS31 nitrt_lr(const NitLrSchedule *s, int64_t epoch, uint64_t t, int64_t steps_per_epoch);

#endif
