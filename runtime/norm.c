/*
 * norm.c: the kernels of the normalization layers batchnorm, layernorm,
 * l1norm and l1layernorm (docs/recipes.md, "Normalization layers"), called
 * by generated code under the recipes with masters.
 *
 * Tensors are (n, C, HW): block (b, c) holds HW contiguous elements. A group
 * is a channel over (n, HW) for the batch kinds and a sample over (C, HW)
 * for the layer kinds; every per-group sum is exact in int64 under the
 * compiler's limit of 2^20 elements per group. The kernels do the per-group
 * scalar work in S31 and the element loops of LINSUM (docs/recipes.md,
 * "LINSUM and LINCOMB"); the caller does the one rounding of each result,
 * so rounding modes, keys and exponents stay in the generated code with
 * every other layer's. Centred values z and the backward's T and U are
 * recomputed from the int8 inputs instead of being stored.
 *
 * Speed: the statistics come from a few vectorizable passes per block, or
 * per sample for the layer kinds, whose blocks are contiguous (sums, sums
 * by sign class, extreme values; "element passes" below). Each output
 * element of a LINSUM is a sum of aligned terms that depend on one int8
 * value each: where no term rounds it is a multiply-add in those values
 * (affine_run, dx_run2, dx_run1), else it is read from tables of the terms
 * over the values present (a batch kind's table serves a whole group).
 * After a dense layer (HW = 1) blocks are single values, so the batch kinds
 * run by samples over lanes of channels and the layer kinds one sample per
 * loop ("dense batch kinds", dense_layer_*). The same integers as
 * element-by-element arithmetic (bench/norm_layer.c prints a checksum;
 * runtime_norm compares every path with tests/ref).
 *
 * Threads: every pass runs over groups (or, for the parameter gradients,
 * channels) on the context's parallel_for; each group writes only its own
 * elements and slots, and the few reductions across groups (the maxima of
 * LINSUM, the running statistics) run serially afterwards in a fixed order,
 * so the bytes never depend on the number of threads. Integer only; nothing
 * here prints or fails.
 *
 * Data parallelism (docs/scaleout.md): with the context's collectives set,
 * this call sees a slice of n samples of a global batch of ctx->gn. A
 * group's size N counts the global batch; the batch kinds' per-channel sums
 * are SUMmed over the ranks before anything depends on them, their maxima
 * MAXed; the layer kinds' groups are local samples, whose per-sample terms
 * of dgamma are gathered (placed at their global rows and SUMmed) so that
 * every rank folds them in the same ascending order; every LINSUM's common
 * exponent is agreed on. In one process each collective is a no-op and the
 * arithmetic is the same.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s31.h"

typedef struct Norm {
  int64_t n, c, hw;         /* this call's samples, channels, H * W */
  int64_t gn, row0;         /* the global batch, this call's first row in it */
  int batch;                /* 1: channel groups (batchnorm, l1norm) */
  int l1;                   /* 1: L1 deviation */
  int64_t ng, nn;           /* groups, elements per group */
  int64_t nb;               /* blocks per group: n (batch kinds) or C */
  NitS31 eps, k, mom, rest; /* eps, k (L1), momentum m and 1 - m */
} Norm;

static uint64_t pow10u(int64_t f) {
  uint64_t p = 1;
  while (f-- > 0) p *= 10;
  return p;
}

NitS31 nitrt_norm_k(const int64_t *desc) {
  NitS31 kdef = {NITRT_SQRT_PI_2_Q30, -30};
  if (!desc[NIT_ND_K_N]) return kdef;
  return nitrt_sdec((uint64_t)desc[NIT_ND_K_N], (int32_t)desc[NIT_ND_K_F]);
}

static Norm describe(const NitCtx *ctx, const int64_t *d, int64_t n) {
  Norm l;
  int kind = (int)d[NIT_ND_KIND];
  l.n = n;
  l.gn = ctx && ctx->gn > 0 ? ctx->gn : n;
  l.row0 = ctx ? ctx->row0 : 0;
  l.c = d[NIT_ND_C];
  l.hw = d[NIT_ND_HW];
  l.batch = kind == NIT_NORM_BATCH || kind == NIT_NORM_L1BATCH;
  l.l1 = kind == NIT_NORM_L1BATCH || kind == NIT_NORM_L1LAYER;
  l.ng = l.batch ? l.c : n;
  l.nn = l.batch ? l.gn * l.hw : l.c * l.hw; /* a group's elements over the global batch */
  l.nb = l.batch ? n : l.c;
  l.eps = nitrt_sdec((uint64_t)d[NIT_ND_EPS_N], (int32_t)d[NIT_ND_EPS_F]);
  l.k = nitrt_norm_k(d);
  l.mom = nitrt_sdec((uint64_t)d[NIT_ND_MOM_N], (int32_t)d[NIT_ND_MOM_F]);
  l.rest = nitrt_sdec(pow10u(d[NIT_ND_MOM_F]) - (uint64_t)d[NIT_ND_MOM_N], (int32_t)d[NIT_ND_MOM_F]);
  return l;
}

/* Block i of group g: its index b * C + c and its channel. */
static int64_t block(const Norm *l, int64_t g, int64_t i) { return l->batch ? i * l->c + g : g * l->c + i; }
static int64_t chan(const Norm *l, int64_t g, int64_t i) { return l->batch ? g : i; }

/* S31 scalars kept in int64 scratch as {m, e} pairs. */
static NitS31 get2(const int64_t *p) { return (NitS31){p[0], (int32_t)p[1]}; }
static void put2(int64_t *p, NitS31 x) {
  p[0] = x.m;
  p[1] = x.e;
}

static int64_t sgn(int64_t x) { return (x > 0) - (x < 0); }

/* Run body over [0, count) on the context's workers, or inline. */
typedef void (*Body)(void *env, int64_t lo, int64_t hi, int32_t worker);
static void each(const NitCtx *ctx, Body body, void *env, int64_t count) {
  if (ctx && ctx->parallel_for && count > 1) ctx->parallel_for(ctx->pool, body, env, count, 64);
  else body(env, 0, count, 0);
}

/* ------------------------------------------------------------- LINSUM */

/* The common exponent W of a LINSUM from its live pairs. */
typedef struct Lin {
  int live;
  int64_t emin, h; /* smallest exponent, highest top bit of the live pairs */
} Lin;

static void see(Lin *L, NitS31 c, int64_t s, uint64_t umax) {
  if (c.m == 0 || umax == 0) return;
  int64_t e = c.e + s, top = e + 31 + nitrt_bitlen64(umax);
  if (!L->live || e < L->emin) L->emin = e;
  if (!L->live || top > L->h) L->h = top;
  L->live = 1;
}

/* The same Lin on every rank: live if any is, the extreme exponents. */
static void agree(const NitCtx *ctx, Lin *L) {
  if (!ctx || !ctx->allmax) return;
  int64_t v[3] = {L->live, L->live ? L->h : INT64_MIN, L->live ? -L->emin : INT64_MIN};
  nitrt_allmax(ctx, v, 3);
  L->live = (int)v[0], L->h = v[1], L->emin = -v[2];
}

static int64_t common(const Lin *L) {
  if (!L->live) return 0;
  return L->emin > L->h - 60 ? L->emin : L->h - 60;
}

/* align(m u, d): m u 2^d for d >= 0 (exact, at most 2^60 by the choice of
 * W), sign(m u) R_near(|m u|, -d) below; in int64 when the product fits. */
static inline int64_t align(int64_t m, int64_t u, int64_t d) {
  int64_t p;
  if (!__builtin_mul_overflow(m, u, &p)) {
    if (p == 0) return 0; /* a pair that is not live: its shift may be out of range */
    if (d >= 0) return (int64_t)((uint64_t)p << d);
    uint64_t a = nitrt_mag(p), r = -d > 64 ? 0 : -d == 64 ? a >> 63 : (a >> -d) + ((a >> (-d - 1)) & 1);
    return p < 0 ? -(int64_t)r : (int64_t)r;
  }
  NitI128 q = (NitI128)m * u; /* up to 78 bits; then d < 0 by the choice of W */
  if (d >= 0) return (int64_t)(q * ((NitI128)1 << d));
  NitU128 a = q < 0 ? -(NitU128)q : (NitU128)q, r = -d >= 128 ? 0 : (a >> -d) + ((a >> (-d - 1)) & 1);
  return q < 0 ? -(int64_t)r : (int64_t)r;
}

/* ------------------------------------------------------ element passes */

/* The passes over a group's elements are kept to a few simple loops: int32
 * partial sums over chunks of CHUNK values (|v dy| <= 2^14, so a chunk's
 * sum stays below 2^30) added into int64, and minima and maxima, which the
 * C compiler vectorizes (norm.c is built with -O3); the same integers as
 * sums element by element. Every group statistic the kernels need follows
 * from these: |z| and sign z from the cut of v where z = N v - S1 changes
 * sign, the maxima of |z|, |T| and |U| from the extreme values of v and dy
 * (each is linear in them, or takes one value per sign class). */
enum { CHUNK = 1 << 16 };

/* The bodies that run the element passes are built three times on x86-64
 * with GCC, for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and the baseline
 * (SSE2), and the loader picks the widest the machine has (an ifunc): the
 * runtime library is built once for a triple, the passes are most of a
 * norm layer's time, and integer arithmetic gives the same results at any
 * vector width. resnet_bn trained 1.20x faster on one thread of an
 * AVX-512 host (docs/performance.md, "The norm kernels' vector width"). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define PASS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PASS
#endif
/* The passes' loops, inlined into each build of every body that runs them
 * (a call to a cloned function goes through the loader's table, per block:
 * per element for a dense layer's layer norm). */
#define INLINE __attribute__((always_inline)) inline

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* s1 += sum v, s2 += sum v^2 over p[0, n) */
INLINE static void sum_sq(const int8_t *restrict p, int64_t n, int64_t *s1, int64_t *s2) {
  if (n < 16) { /* a few values (a dense layer's blocks are one each): one plain loop */
    for (int64_t k = 0; k < n; k++) *s1 += p[k], *s2 += p[k] * p[k];
    return;
  }
  for (int64_t k0 = 0; k0 < n; k0 += CHUNK) {
    int32_t a = 0, b = 0;
    const int8_t *q = p + k0;
    for (int64_t k = 0, m = min64(n - k0, CHUNK); k < m; k++) a += q[k], b += q[k] * q[k];
    *s1 += a, *s2 += b;
  }
}

/* sdy += sum dy, sdv += sum dy v over [0, n) */
INLINE static void sum_dy(const int8_t *restrict v, const int8_t *restrict dy, int64_t n, int64_t *sdy, int64_t *sdv) {
  if (n < 16) {
    for (int64_t k = 0; k < n; k++) *sdy += dy[k], *sdv += dy[k] * v[k];
    return;
  }
  for (int64_t k0 = 0; k0 < n; k0 += CHUNK) {
    int32_t a = 0, b = 0;
    const int8_t *x = v + k0, *d = dy + k0;
    for (int64_t k = 0, m = min64(n - k0, CHUNK); k < m; k++) a += d[k], b += d[k] * x[k];
    *sdy += a, *sdv += b;
  }
}

/* The values of p[0, n) widen [*lo, *hi] (empty: *lo > *hi). */
INLINE static void widen(const int8_t *restrict p, int64_t n, int32_t *lo, int32_t *hi) {
  int32_t a = *lo, b = *hi;
  if (n == 1) { /* a dense layer's block */
    *lo = p[0] < a ? p[0] : a, *hi = p[0] > b ? p[0] : b;
    return;
  }
  for (int64_t k = 0; k < n; k++) {
    int32_t x = p[k];
    a = x < a ? x : a;
    b = x > b ? x : b;
  }
  *lo = a, *hi = b;
}

/* The sign of z = N v - S1 by v: z > 0 iff v >= hi, z < 0 iff v <= lo, z = 0
 * in between (v = S1 / N exactly). Clamped to the int8 values +-1. */
typedef struct Cut {
  int32_t lo, hi;
} Cut;

static Cut cut_of(int64_t nn, int64_t s1) {
  if (nn <= 0) return (Cut){-129, 128}; /* no elements */
  int64_t q = s1 / nn, r = s1 % nn;
  if (r < 0) q -= 1, r += nn; /* floor: s1 = q N + r, 0 <= r < N */
  int64_t hi = q + 1, lo = r == 0 ? q - 1 : q;
  hi = hi < -128 ? -128 : hi > 128 ? 128 : hi;
  lo = lo < -129 ? -129 : lo > 127 ? 127 : lo;
  return (Cut){(int32_t)lo, (int32_t)hi};
}

/* Over some values v, by their sign class: counts and sums of v with z > 0
 * and with z < 0, and the values' range. */
typedef struct Side {
  int64_t nhi, shi, nlo, slo;
  int32_t vmin, vmax; /* empty: vmin > vmax */
} Side;

INLINE static void side(const int8_t *restrict p, int64_t n, Cut c, Side *s) {
  if (n < 16) {
    for (int64_t k = 0; k < n; k++) {
      int32_t x = p[k], h = x >= c.hi, l = x <= c.lo;
      s->nhi += h, s->shi += h ? x : 0, s->nlo += l, s->slo += l ? x : 0;
      s->vmin = x < s->vmin ? x : s->vmin, s->vmax = x > s->vmax ? x : s->vmax;
    }
    return;
  }
  int32_t mn = s->vmin, mx = s->vmax;
  for (int64_t k0 = 0; k0 < n; k0 += CHUNK) {
    int32_t nh = 0, sh = 0, nl = 0, sl = 0;
    const int8_t *q = p + k0;
    for (int64_t k = 0, m = min64(n - k0, CHUNK); k < m; k++) {
      int32_t x = q[k], h = x >= c.hi, l = x <= c.lo;
      nh += h, sh += h ? x : 0, nl += l, sl += l ? x : 0;
      mn = x < mn ? x : mn, mx = x > mx ? x : mx;
    }
    s->nhi += nh, s->shi += sh, s->nlo += nl, s->slo += sl;
  }
  s->vmin = mn, s->vmax = mx;
}

/* A range [lo, hi] of int8 values in one int64 scratch slot. */
static int64_t pack_range(int32_t lo, int32_t hi) { return (int64_t)(lo + 512) << 16 | (hi + 512); }
static void unpack_range(int64_t r, int32_t *lo, int32_t *hi) {
  *lo = (int32_t)(r >> 16) - 512;
  *hi = (int32_t)(r & 0xffff) - 512;
}

/* The largest |m x + b| over x in [lo, hi] (an affine function: at an end);
 * 0 for an empty range. */
static uint64_t max_affine(int64_t m, int64_t b, int32_t lo, int32_t hi) {
  if (lo > hi) return 0;
  uint64_t a = nitrt_mag(m * lo + b), c = nitrt_mag(m * hi + b);
  return a > c ? a : c;
}

/* Tables of an aligned term over the int8 values: lut[x + 128] for x in a
 * range whose every value keeps the term within the LINSUM's bound (the
 * range of the values present, or of an affine term's values up to its
 * maximum); the rest is never read. A table pays when it has fewer entries
 * than the elements it serves. */
typedef int64_t Lut[256];

static bool lut_pays(int32_t lo, int32_t hi, int64_t elems) { return lo <= hi && (int64_t)(hi - lo + 1) < elems; }

/* A batch kind after a dense layer (HW = 1) has blocks of one value at a
 * stride of C: per-block work there is per-element work, and a channel's
 * values are a column. Its passes run by samples instead, over lanes of up
 * to LANES neighbouring channels, with each channel's constants in arrays,
 * so that one loop over a sample's row vectorizes across channels. The
 * sums are the same integers in another order, the maxima the same values,
 * and each output is `align` of the same operands. */
enum { LANES = 32 };

/* stmt with W the lane count w: a constant for full lanes (and for 16), so
 * that their loops vectorize without a remainder (the helpers are inlined;
 * the vector width follows from the int8 rows, 32 bytes for 32 lanes). */
#define LANED(w, stmt)                                                                                                 \
  do {                                                                                                                 \
    if ((w) == LANES) {                                                                                                \
      const int64_t W = LANES;                                                                                         \
      stmt;                                                                                                            \
    } else if ((w) == 16) {                                                                                            \
      const int64_t W = 16;                                                                                            \
      stmt;                                                                                                            \
    } else {                                                                                                           \
      const int64_t W = (w);                                                                                           \
      stmt;                                                                                                            \
    }                                                                                                                  \
  } while (0)

/* From 4 channels: with fewer, a lane is too short to pay for the loop
 * over samples, and the per-channel paths (with their tables) are faster. */
static bool dense_batch(const Norm *l) { return l->batch && l->hw == 1 && l->c >= 4; }

/* align(m u, d) split into shifts that a vector loop can apply: a = |m u|,
 * (a << lf + hf) >> rt, the sign put back. The same value as align where
 * |m u| < 2^62 (then a + hf < 2^63, and a right shift of 63 leaves 0 where
 * align's of 63 or more does); a pair with m = 0 gives 0 at any d (a = 0,
 * hf < 2^rt). Without branches, so that it serves per element too. */
typedef struct Shifts {
  int64_t lf, rt; /* left and right shift */
  uint64_t hf;    /* half the right shift's unit: rounds to nearest */
} Shifts;

INLINE static Shifts shifts_of(int64_t d) {
  int64_t lf = d > 0 ? (d < 63 ? d : 63) : 0, rt = d < 0 ? (-d < 63 ? -d : 63) : 0;
  return (Shifts){lf, rt, ((uint64_t)1 << rt) >> 1};
}

INLINE static int64_t align_lanes(int64_t m, int64_t u, int64_t lf, uint64_t hf, int64_t rt) {
  int64_t p = m * u, sg = p >> 63; /* 0 or -1: signs by xor, so that the loops have no branches */
  uint64_t a = (uint64_t)((p ^ sg) - sg), q = ((a << lf) + hf) >> rt;
  return ((int64_t)q ^ sg) - sg;
}

/* Whether every product m u of a channel stays below 2^62 (|u| <= umax). */
static bool fits62(int64_t m, uint64_t umax) { return nitrt_bitlen64(nitrt_mag(m)) + nitrt_bitlen64(umax) <= 62; }

/* align(m u, d) with the shifts chosen per element, for loops whose
 * coefficients differ from element to element; the same condition. */
INLINE static int64_t align_at(int64_t m, int64_t u, int64_t d) {
  Shifts k = shifts_of(d);
  return align_lanes(m, u, k.lf, k.hf, k.rt);
}

/* see() of count pairs p ({m, e}) that share s and umax, in one pass: the
 * smallest and largest exponent of the nonzero ones, a loop that vectorizes
 * (a layer kind's forward has one pair per element). */
PASS static void see_row(Lin *L, const int64_t *p, int64_t count, int64_t s, uint64_t umax) {
  if (umax == 0) return;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (int64_t j = 0; j < count; j++) {
    int64_t m = p[2 * j], e = p[2 * j + 1];
    lo = m != 0 && e < lo ? e : lo;
    hi = m != 0 && e > hi ? e : hi;
  }
  if (lo > hi) return; /* no live pair */
  see(L, (NitS31){1, (int32_t)lo}, s, umax);
  see(L, (NitS31){1, (int32_t)hi}, s, umax);
}

/* ------------------------------------------------------------ forward */

typedef struct Fwd {
  const Norm *l;
  const int8_t *v, *gamma;
  int32_t s_x, s_g;
  int centred;       /* u = z (batch statistics) or v (running statistics) */
  int64_t *st;       /* (groups, NIT_NORM_STAT) */
  int64_t *a;        /* layer kinds: (n * C) {m, e}, the coefficient of block b * C + c */
  int64_t *ga;       /* batch kinds: (C) {m, e}, the coefficient of channel c */
  const int64_t *bc; /* (C) {m, e} */
  uint64_t *umax;    /* (groups) max |u| */
  int64_t *s12;      /* (groups, 2) S1, S2 */
  int64_t *dev1;     /* (groups) A = sum |z| (L1 kinds) */
  int64_t *rng;      /* (groups) the range of the group's v (pack_range) */
  int64_t *gn;       /* (C) {m, e}: snorm(gamma_c, s_g), once per call */
  int64_t *sh;       /* (C) beta's aligned term align(b_c, W), once W is known */
  int64_t *S;
  int64_t w;
} Fwd;

/* Dense batch kinds: S1 and S2 of lanes [g0, g0 + w). In int32 over CHUNK
 * samples at a time (as sum_sq), so that the loop is one type wide. */
INLINE static void dense_sums1(Fwd *f, int64_t g0, int64_t w) {
  const Norm *l = f->l;
  int64_t s1[LANES] = {0}, s2[LANES] = {0};
  for (int64_t s0 = 0; s0 < l->n; s0 += CHUNK) {
    int32_t a[LANES] = {0}, b[LANES] = {0};
    for (int64_t s = s0, e = min64(l->n, s0 + CHUNK); s < e; s++) {
      const int8_t *p = f->v + s * l->c + g0; /* (w) sample s's row */
      for (int64_t j = 0; j < w; j++) a[j] += p[j], b[j] += p[j] * p[j];
    }
    for (int64_t j = 0; j < w; j++) s1[j] += a[j], s2[j] += b[j];
  }
  for (int64_t j = 0; j < w; j++) f->s12[2 * (g0 + j)] = s1[j], f->s12[2 * (g0 + j) + 1] = s2[j];
}

/* Dense batch kinds: each lane's Side against its own cut. Every count and
 * sum fits int32: a group has at most 2^20 elements. */
INLINE static void dense_side(const Norm *l, const int8_t *v, const int64_t *st, int64_t stride, int64_t g0, int64_t w,
                              Side *out) {
  int32_t chi[LANES], clo[LANES], mn[LANES], mx[LANES];
  int32_t nh[LANES] = {0}, sh[LANES] = {0}, nl[LANES] = {0}, sl[LANES] = {0};
  for (int64_t j = 0; j < w; j++) {
    Cut c = cut_of(l->nn, st[stride * (g0 + j)]);
    chi[j] = c.hi, clo[j] = c.lo, mn[j] = 128, mx[j] = -129;
  }
  for (int64_t s = 0; s < l->n; s++) {
    const int8_t *p = v + s * l->c + g0;
    for (int64_t j = 0; j < w; j++) {
      int32_t x = p[j], h = -(x >= chi[j]), lw = -(x <= clo[j]); /* masks: no control flow */
      nh[j] -= h, sh[j] += h & x, nl[j] -= lw, sl[j] += lw & x;
      mn[j] = x < mn[j] ? x : mn[j], mx[j] = x > mx[j] ? x : mx[j];
    }
  }
  for (int64_t j = 0; j < w; j++) out[j] = (Side){nh[j], sh[j], nl[j], sl[j], mn[j], mx[j]};
}

/* Dense batch kinds: the range of each lane's values in p (rows of C). */
INLINE static void dense_range(const Norm *l, const int8_t *p, int64_t g0, int64_t w, int32_t *lo, int32_t *hi) {
  int32_t mn[LANES], mx[LANES];
  for (int64_t j = 0; j < w; j++) mn[j] = 128, mx[j] = -129;
  for (int64_t s = 0; s < l->n; s++) {
    const int8_t *q = p + s * l->c + g0;
    for (int64_t j = 0; j < w; j++) {
      int32_t x = q[j];
      mn[j] = x < mn[j] ? x : mn[j], mx[j] = x > mx[j] ? x : mx[j];
    }
  }
  for (int64_t j = 0; j < w; j++) lo[j] = mn[j], hi[j] = mx[j];
}

/* Dense batch kinds: S of lanes [g0, g0 + w), as affine_body computes it. */
INLINE static void dense_affine(Fwd *f, int64_t g0, int64_t w) {
  const Norm *l = f->l;
  int64_t s_u = f->centred ? 0 : f->s_x, nn = f->centred ? l->nn : 1;
  int64_t m[LANES], s1[LANES], d[LANES], lf[LANES], rt[LANES];
  const int64_t *sh = f->sh + g0; /* (w) */
  uint64_t hf[LANES];
  bool fit = true;
  for (int64_t j = 0; j < w; j++) {
    int64_t g = g0 + j;
    NitS31 ac = get2(f->ga + 2 * g);
    m[j] = ac.m, s1[j] = f->centred ? f->st[NIT_NORM_STAT * g] : 0, d[j] = ac.e + s_u - f->w;
    Shifts k = shifts_of(d[j]);
    lf[j] = k.lf, hf[j] = k.hf, rt[j] = k.rt;
    fit = fit && fits62(ac.m, f->umax[g]);
  }
  for (int64_t s = 0; s < l->n; s++) {
    const int8_t *p = f->v + s * l->c + g0; /* (w) */
    int64_t *o = f->S + s * l->c + g0;      /* (w) */
    if (fit)
      for (int64_t j = 0; j < w; j++) o[j] = align_lanes(m[j], nn * p[j] - s1[j], lf[j], hf[j], rt[j]) + sh[j];
    else
      for (int64_t j = 0; j < w; j++) o[j] = align(m[j], nn * p[j] - s1[j], d[j]) + sh[j];
  }
}

/* A layer kind after a dense layer: S of sample g, whose C blocks are one
 * value each with a coefficient of its own. |a u| < 2^59 when max |u| has
 * at most 31 bits (always, with the group limit; checked all the same). */
INLINE static void dense_layer_affine(Fwd *f, int64_t g) {
  const Norm *l = f->l;
  int64_t nn = f->centred ? l->nn : 1, s1 = f->centred ? f->st[NIT_NORM_STAT * g] : 0;
  int64_t e0 = (f->centred ? 0 : f->s_x) - f->w;
  const int8_t *p = f->v + g * l->c; /* (C) */
  const int64_t *a = f->a + 2 * g * l->c; /* (C) {m, e} */
  int64_t *o = f->S + g * l->c;      /* (C) */
  if (nitrt_bitlen64(f->umax[g]) <= 31)
    for (int64_t k = 0; k < l->c; k++) o[k] = align_at(a[2 * k], nn * p[k] - s1, a[2 * k + 1] + e0) + f->sh[k];
  else
    for (int64_t k = 0; k < l->c; k++) o[k] = align(a[2 * k], nn * p[k] - s1, a[2 * k + 1] + e0) + f->sh[k];
}

/* Per group, over this call's blocks: S1 and S2. */
PASS static void sums1_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Fwd *f = env;
  const Norm *l = f->l;
  if (dense_batch(l)) {
    for (int64_t g0 = lo; g0 < hi; g0 += LANES) LANED(min64(hi - g0, LANES), dense_sums1(f, g0, W));
    return;
  }
  for (int64_t g = lo; g < hi; g++) {
    int64_t s1 = 0, s2 = 0;
    if (!l->batch) sum_sq(f->v + g * l->nn, l->nn, &s1, &s2); /* a sample's blocks are contiguous */
    else
      for (int64_t i = 0; i < l->nb; i++) sum_sq(f->v + block(l, g, i) * l->hw, l->hw, &s1, &s2);
    f->s12[2 * g] = s1, f->s12[2 * g + 1] = s2;
  }
}

/* Per group, from the group's S1: A = sum |z| and max |z|, z = N v - S1:
 * A = N (sum of v with z > 0 - sum of v with z < 0) - S1 (count - count). */
PASS static void sums2_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Fwd *f = env;
  const Norm *l = f->l;
  Side sides[LANES];
  for (int64_t g = lo; g < hi; g++) {
    int64_t s1 = f->s12[2 * g];
    Cut c = cut_of(l->nn, s1);
    Side sd = {0, 0, 0, 0, 128, -129};
    if (dense_batch(l)) { /* a lane of sides per LANES channels */
      if ((g - lo) % LANES == 0) LANED(min64(hi - g, LANES), dense_side(l, f->v, f->s12, 2, g, W, sides));
      sd = sides[(g - lo) % LANES];
    } else if (!l->batch) {
      side(f->v + g * l->nn, l->nn, c, &sd);
    } else {
      for (int64_t i = 0; i < l->nb; i++) side(f->v + block(l, g, i) * l->hw, l->hw, c, &sd);
    }
    f->dev1[g] = l->nn * (sd.shi - sd.slo) - s1 * (sd.nhi - sd.nlo);
    f->umax[g] = max_affine(l->nn, -s1, sd.vmin, sd.vmax);
    f->rng[g] = pack_range(sd.vmin, sd.vmax);
  }
}

/* eps N^2 at exponent e (e = -s_x for the L1 kinds, -2 s_x for L2): the
 * epsilon of a group's deviation, which is a sum over N^2 terms. */
static NitS31 eps_n(const Norm *l, int64_t e) { return nitrt_smul(l->eps, nitrt_snorm((NitI128)l->nn * l->nn, e)); }

/* a[i] = smul(gn[i], rho) over ({m, e} pairs) [0, c): a loop the compiler
 * vectorizes, clz and all. */
INLINE static void smul_row(int64_t *restrict a, const int64_t *restrict gn, NitS31 rho, int64_t c) {
  for (int64_t i = 0; i < c; i++) {
    NitS31 x = nitrt_smul((NitS31){gn[2 * i], (int32_t)gn[2 * i + 1]}, rho);
    a[2 * i] = x.m, a[2 * i + 1] = x.e;
  }
}

/* Per group: V or A, rho, the coefficients of its blocks (a layer kind's
 * by smul_row). */
PASS static void coef_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Fwd *f = env;
  const Norm *l = f->l;
  NitS31 epsn = eps_n(l, l->l1 ? -(int64_t)f->s_x : -2 * (int64_t)f->s_x), zero = {0, 0};
  for (int64_t g = lo; g < hi; g++) {
    int64_t s1 = f->s12[2 * g], s2 = f->s12[2 * g + 1];
    int64_t dev = l->l1 ? f->dev1[g] : l->nn * s2 - s1 * s1; /* A = sum |z|; V = N S2 - S1^2 */
    NitS31 d, rho;
    if (!l->l1) {
      d = nitrt_sadd(nitrt_sint(dev), epsn);
      rho = d.m == 0 ? zero : nitrt_srsqrt(d);
    } else {
      d = nitrt_sadd(nitrt_smul(l->k, nitrt_sint(dev)), epsn);
      rho = d.m == 0 ? zero : nitrt_sdiv(nitrt_sint(l->nn), d);
    }
    int64_t *q = f->st + NIT_NORM_STAT * g;
    q[0] = s1, q[1] = dev;
    put2(q + 2, rho);
    if (l->batch) /* a batch kind's blocks share their channel's coefficient: ga only */
      put2(f->ga + 2 * g, nitrt_smul(get2(f->gn + 2 * g), rho));
    else
      smul_row(f->a + 2 * g * l->c, f->gn, rho, l->c); /* block g C + i is channel i's */
  }
}

/* Per group with running statistics: max |v|. */
PASS static void vmax_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Fwd *f = env;
  const Norm *l = f->l;
  int32_t los[LANES], his[LANES];
  for (int64_t g = lo; g < hi; g++) {
    int32_t vlo = 128, vhi = -129;
    if (dense_batch(l)) {
      if ((g - lo) % LANES == 0) LANED(min64(hi - g, LANES), dense_range(l, f->v, g, W, los, his));
      vlo = los[(g - lo) % LANES], vhi = his[(g - lo) % LANES];
    } else if (!l->batch) widen(f->v + g * l->nn, l->nn, &vlo, &vhi);
    else
      for (int64_t i = 0; i < l->nb; i++) widen(f->v + block(l, g, i) * l->hw, l->hw, &vlo, &vhi);
    f->umax[g] = max_affine(1, 0, vlo, vhi);
    f->rng[g] = pack_range(vlo, vhi);
  }
}

/* align(m u, d) as (m u) << shift, exactly, where no term rounds: the
 * shift d for d in [0, 62], 0 for m = 0 (a zero term at any d); -1 where
 * the term may round (d < 0) or its shift is past the range. */
static int64_t exact_shift(int64_t m, int64_t d) { return m == 0 ? 0 : d >= 0 && d <= 62 ? d : -1; }

/* o[k] = (m p[k] + b) 2^d + shift, where align(m (nn p - s1), d) has d >= 0
 * (no rounding: the common exponent W lies at or below the pair's): in
 * unsigned arithmetic, whose wrap-around leaves the exact value, which
 * fits int64 (LINSUM keeps every aligned term within 2^60). m = ac.m nn,
 * b = -ac.m s1; d <= 62. A loop that vectorizes where the table's gather
 * does not. */
INLINE static void affine_run(const int8_t *restrict p, int64_t *restrict o, int64_t n, int64_t m, int64_t b, int64_t d,
                              int64_t shift) {
  uint64_t A = (uint64_t)m << d, B = ((uint64_t)b << d) + (uint64_t)shift;
  for (int64_t k = 0; k < n; k++) o[k] = (int64_t)(A * (uint64_t)(int64_t)p[k] + B);
}

/* S = LINSUM((a_{b,c}, u, s_u), (bc_c, 1, 0)) over the blocks of each group;
 * u = z, or v with running statistics. A batch kind's blocks share their
 * channel's coefficients: one table per group; a layer kind's block has its
 * own, a table when the block is larger than the group's range of v. */
PASS static void affine_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Fwd *f = env;
  const Norm *l = f->l;
  int64_t s_u = f->centred ? 0 : f->s_x;
  if (dense_batch(l)) {
    for (int64_t g0 = lo; g0 < hi; g0 += LANES) LANED(min64(hi - g0, LANES), dense_affine(f, g0, W));
    return;
  }
  if (!l->batch && l->hw == 1) {
    for (int64_t g = lo; g < hi; g++) dense_layer_affine(f, g);
    return;
  }
  Lut lut;
  for (int64_t g = lo; g < hi; g++) {
    int64_t s1 = f->centred ? f->st[NIT_NORM_STAT * g] : 0, nn = f->centred ? l->nn : 1;
    int32_t vlo, vhi;
    unpack_range(f->rng[g], &vlo, &vhi);
    bool shared = l->batch && lut_pays(vlo, vhi, l->nb * l->hw), tabled = false;
    for (int64_t i = 0; i < l->nb; i++) {
      int64_t blk = block(l, g, i), c = chan(l, g, i);
      const int8_t *p = f->v + blk * l->hw;
      int64_t *o = f->S + blk * l->hw;
      NitS31 ac = get2(l->batch ? f->ga + 2 * g : f->a + 2 * blk);
      int64_t shift = f->sh[c], d = ac.e + s_u - f->w, e = exact_shift(ac.m, d);
      if (e >= 0) { /* no rounding: S is affine in v */
        affine_run(p, o, l->hw, ac.m * nn, -ac.m * s1, e, shift);
      } else if (shared || lut_pays(vlo, vhi, l->hw)) {
        if (!shared || !tabled)
          for (int32_t x = vlo; x <= vhi; x++) lut[x + 128] = align(ac.m, nn * x - s1, d) + shift;
        tabled = true;
        for (int64_t k = 0; k < l->hw; k++) o[k] = lut[p[k] + 128];
      } else {
        for (int64_t k = 0; k < l->hw; k++) o[k] = align(ac.m, nn * p[k] - s1, d) + shift;
      }
    }
  }
}

static void running_update(const Norm *l, const int64_t *st, int32_t s_x, int32_t *run) {
  for (int64_t c = 0; c < l->c; c++) {
    const int64_t *q = st + NIT_NORM_STAT * c;
    int32_t *r = run + 4 * c;
    NitS31 mean = {r[0], r[1]}, dev = {r[2], r[3]};
    NitS31 mu = nitrt_sdiv(nitrt_snorm(q[0], s_x), nitrt_sint(l->nn));
    mean = nitrt_sadd(nitrt_smul(l->rest, mean), nitrt_smul(l->mom, mu));
    if (!l->l1 && l->nn > 1) { /* unbiased variance; none for one element */
      NitS31 var = nitrt_sdiv(nitrt_snorm(q[1], 2 * (int64_t)s_x), nitrt_sint(l->nn * (l->nn - 1)));
      dev = nitrt_sadd(nitrt_smul(l->rest, dev), nitrt_smul(l->mom, var));
    } else if (l->l1) {
      NitS31 mad = nitrt_sdiv(nitrt_snorm(q[1], s_x), nitrt_sint(l->nn * l->nn));
      dev = nitrt_sadd(nitrt_smul(l->rest, dev), nitrt_smul(l->mom, mad));
    }
    r[0] = (int32_t)mean.m, r[1] = mean.e, r[2] = (int32_t)dev.m, r[3] = dev.e;
  }
}

/* A batch kind's channel at evaluation: y = a v + b from gamma and beta
 * (int8 at s_g, s_b) and the channel's running {mean m, e, dev m, e}. */
static void eval_coef(const Norm *l, int8_t gamma, int32_t s_g, int8_t beta, int32_t s_b, const int32_t *r,
                      NitS31 *a, NitS31 *b) {
  NitS31 mean = {r[0], r[1]}, dev = {r[2], r[3]}, rho;
  if (!l->l1) rho = nitrt_srsqrt(nitrt_sadd(dev, l->eps));
  else rho = nitrt_sdiv(nitrt_s31_one(), nitrt_sadd(nitrt_smul(l->k, dev), l->eps));
  *a = nitrt_smul(nitrt_snorm(gamma, s_g), rho);
  *b = nitrt_sadd(nitrt_snorm(beta, s_b), nitrt_sneg(nitrt_smul(*a, mean)));
}

void nitrt_norm_export(const int64_t *desc, const int8_t *gamma, int32_t s_g, const int8_t *beta, int32_t s_b,
                       const int32_t *running, int32_t *table) {
  Norm l = describe(NULL, desc, 1);
  NitS31 zero = {0, 0};
  for (int64_t c = 0; c <= l.c; c++) {
    NitS31 a = zero, b = zero;
    if (c == l.c) { /* the layer kinds' constants */
      if (!l.batch) a = eps_n(&l, 0), b = l.k;
    } else if (l.batch) {
      eval_coef(&l, gamma[c], s_g, beta[c], s_b, running + 4 * c, &a, &b);
    } else {
      a = nitrt_snorm(gamma[c], s_g), b = nitrt_snorm(beta[c], s_b);
    }
    int32_t *t = table + 4 * c; /* S31 mantissas have |m| < 2^31 */
    t[0] = (int32_t)a.m, t[1] = a.e, t[2] = (int32_t)b.m, t[3] = b.e;
  }
}

int32_t nitrt_norm_forward(const NitCtx *ctx, const int64_t *desc, int64_t n, const int8_t *v, int32_t s_x,
                           const int8_t *gamma, int32_t s_g, const int8_t *beta, int32_t s_b, int32_t train,
                           int32_t *running, int64_t *st, int64_t *scratch, int64_t *S) {
  Norm l = describe(ctx, desc, n);
  /* (n C), (C) {m, e}; (groups); (groups, 2); (groups); (C) {m, e}; (groups); (C) {m, e}; then f.sh (C) */
  int64_t *a = scratch, *bc = a + 2 * n * l.c, *um = bc + 2 * l.c, *s12 = um + l.ng, *dev1 = s12 + 2 * l.ng,
          *ga = dev1 + l.ng, *rng = ga + 2 * l.c, *gn = rng + l.ng;
  Fwd f = {&l, v, gamma, s_x, s_g, 1, st, a, ga, bc, (uint64_t *)um, s12, dev1, rng, gn, NULL, S, 0};
  for (int64_t c = 0; c < l.c; c++) {
    put2(bc + 2 * c, nitrt_snorm(beta[c], s_b));
    put2(gn + 2 * c, nitrt_snorm(gamma[c], s_g));
  }
  if (train || !l.batch) {
    /* a channel's sums span every rank's samples: SUM before use */
    each(ctx, sums1_body, &f, l.ng);
    if (l.batch) nitrt_allsum(ctx, s12, 2 * l.ng);
    each(ctx, sums2_body, &f, l.ng);
    if (l.batch) {
      nitrt_allsum(ctx, dev1, l.ng);
      nitrt_allmax(ctx, um, l.ng);
    }
    each(ctx, coef_body, &f, l.ng);
    if (train && l.batch) running_update(&l, st, s_x, running);
  } else { /* evaluation with running statistics: y = a_c v + b_c */
    f.centred = 0;
    for (int64_t c = 0; c < l.c; c++) {
      NitS31 ac, b_c;
      eval_coef(&l, gamma[c], s_g, beta[c], s_b, running + 4 * c, &ac, &b_c);
      put2(ga + 2 * c, ac);
      put2(bc + 2 * c, b_c);
    }
    each(ctx, vmax_body, &f, l.ng);
  }
  uint64_t umax = 0;
  for (int64_t g = 0; g < l.ng; g++)
    if (f.umax[g] > umax) umax = f.umax[g];
  umax = nitrt_allmax1(ctx, umax);
  /* the LINSUM's pairs: a batch kind's blocks share their channel's
   * coefficient (seen once per channel, so a rank without samples sees the
   * same pairs); a layer kind's are this call's samples, agreed on */
  Lin L = {0, 0, 0};
  if (l.batch)
    for (int64_t c = 0; c < l.c; c++) see(&L, get2(ga + 2 * c), f.centred ? 0 : s_x, umax);
  else
    see_row(&L, a, n * l.c, f.centred ? 0 : s_x, umax);
  for (int64_t c = 0; c < l.c; c++) see(&L, get2(bc + 2 * c), 0, 1);
  agree(ctx, &L);
  if (!L.live) { /* the zero tensor */
    for (int64_t j = 0; j < n * l.c * l.hw; j++) S[j] = 0;
    return 0;
  }
  f.w = common(&L);
  f.sh = gn + 2 * l.c; /* beta's aligned terms, once per channel for every block */
  for (int64_t c = 0; c < l.c; c++) {
    NitS31 b_c = get2(bc + 2 * c);
    f.sh[c] = b_c.m ? align(b_c.m, 1, b_c.e - f.w) : 0;
  }
  each(ctx, affine_body, &f, l.ng);
  return (int32_t)f.w;
}

/* ----------------------------------------------------------- backward */

typedef struct Bwd {
  const Norm *l;
  const int8_t *v, *gamma, *dy;
  const int64_t *st;
  int64_t *P, *Q, *Sg; /* (groups) */
  int64_t *c1, *c2;    /* (groups) {m, e} */
  uint64_t *tmax, *umax;
  int64_t *rv, *rdy;   /* (groups) the ranges of the group's v and dy (pack_range) */
  int64_t *nz;         /* (groups) its elements with z = 0 */
  int64_t *dbeta, *dg; /* (C); (C) {m, e} */
  int64_t *qd;         /* batch kinds: (C) sum dy z of the channel */
  int64_t *T;          /* layer kinds: (gn, C) {m, e} rho_s Qd_{s,c} at global rows */
  int64_t *S;
  int64_t sd, w;
  int32_t mu; /* unified: the error's multiplier (1 otherwise) */
} Bwd;

/* Dense batch kinds: sum dy and sum dy v of lanes [g0, g0 + w), in int32
 * over CHUNK samples at a time (as sum_dy). */
INLINE static void dense_sum_dy(const Bwd *b, int64_t g0, int64_t w, int64_t *sdy, int64_t *sdv) {
  const Norm *l = b->l;
  for (int64_t j = 0; j < w; j++) sdy[j] = 0, sdv[j] = 0;
  for (int64_t s0 = 0; s0 < l->n; s0 += CHUNK) {
    int32_t a[LANES] = {0}, c[LANES] = {0};
    for (int64_t s = s0, e = min64(l->n, s0 + CHUNK); s < e; s++) {
      const int8_t *pv = b->v + s * l->c + g0, *pd = b->dy + s * l->c + g0; /* (w) sample s's rows */
      for (int64_t j = 0; j < w; j++) a[j] += pd[j], c[j] += pd[j] * pv[j];
    }
    for (int64_t j = 0; j < w; j++) sdy[j] += a[j], sdv[j] += c[j];
  }
}

/* Dense batch kinds: dx of lanes [g0, g0 + w), as dx_body computes it. */
INLINE static void dense_dx(const Bwd *b, int64_t g0, int64_t w) {
  const Norm *l = b->l;
  int64_t nn = l->nn;
  int64_t m1[LANES], m2[LANES], d1[LANES], d2[LANES], lf1[LANES], rt1[LANES], lf2[LANES], rt2[LANES];
  int64_t tg[LANES], p[LANES], s1[LANES], sg[LANES];
  uint64_t hf1[LANES], hf2[LANES];
  bool fit = true;
  for (int64_t j = 0; j < w; j++) {
    int64_t g = g0 + j;
    NitS31 a1 = get2(b->c1 + 2 * g), a2 = get2(b->c2 + 2 * g);
    m1[j] = a1.m, m2[j] = a2.m, d1[j] = a1.e + b->sd - b->w, d2[j] = a2.e + b->sd - b->w;
    Shifts k1 = shifts_of(d1[j]), k2 = shifts_of(d2[j]);
    lf1[j] = k1.lf, hf1[j] = k1.hf, rt1[j] = k1.rt, lf2[j] = k2.lf, hf2[j] = k2.hf, rt2[j] = k2.rt;
    tg[j] = nn * b->gamma[g], p[j] = b->P[g], s1[j] = b->st[NIT_NORM_STAT * g], sg[j] = b->Sg[g];
    fit = fit && fits62(a1.m, b->tmax[g]) && fits62(a2.m, b->umax[g]);
  }
  for (int64_t s = 0; s < l->n; s++) {
    const int8_t *pv = b->v + s * l->c + g0, *pd = b->dy + s * l->c + g0; /* (w) */
    int64_t *o = b->S + s * l->c + g0;                                       /* (w) */
    if (fit && l->l1)
      for (int64_t j = 0; j < w; j++) {
        int64_t t = tg[j] * pd[j] - p[j], z = nn * pv[j] - s1[j], cls = (z > 0) - (z < 0);
        o[j] = align_lanes(m1[j], t, lf1[j], hf1[j], rt1[j]) + align_lanes(m2[j], nn * cls - sg[j], lf2[j], hf2[j], rt2[j]);
      }
    else if (fit)
      for (int64_t j = 0; j < w; j++) {
        int64_t t = tg[j] * pd[j] - p[j], z = nn * pv[j] - s1[j];
        o[j] = align_lanes(m1[j], t, lf1[j], hf1[j], rt1[j]) + align_lanes(m2[j], z, lf2[j], hf2[j], rt2[j]);
      }
    else
      for (int64_t j = 0; j < w; j++) {
        int64_t z = nn * pv[j] - s1[j], t = tg[j] * pd[j] - p[j], u = l->l1 ? nn * sgn(z) - sg[j] : z;
        o[j] = align(m1[j], t, d1[j]) + align(m2[j], u, d2[j]);
      }
  }
}

/* A layer kind after a dense layer: dx of sample g, one value per block;
 * the coefficients are the group's, the channel's gamma varies. */
INLINE static void dense_layer_dx(const Bwd *b, int64_t g) {
  const Norm *l = b->l;
  int64_t nn = l->nn, s1 = b->st[NIT_NORM_STAT * g], p = b->P[g], sg = b->Sg[g];
  NitS31 a1 = get2(b->c1 + 2 * g), a2 = get2(b->c2 + 2 * g);
  int64_t d1 = a1.e + b->sd - b->w, d2 = a2.e + b->sd - b->w;
  Shifts k1 = shifts_of(d1), k2 = shifts_of(d2);
  const int8_t *pv = b->v + g * l->c, *pd = b->dy + g * l->c; /* (C) */
  int64_t *o = b->S + g * l->c;                                 /* (C) */
  bool fit = fits62(a1.m, b->tmax[g]) && fits62(a2.m, b->umax[g]);
  if (fit && l->l1)
    for (int64_t k = 0; k < l->c; k++) {
      int64_t t = nn * (b->gamma[k] * pd[k]) - p, z = nn * pv[k] - s1, cls = (z > 0) - (z < 0);
      o[k] = align_lanes(a1.m, t, k1.lf, k1.hf, k1.rt) + align_lanes(a2.m, nn * cls - sg, k2.lf, k2.hf, k2.rt);
    }
  else if (fit)
    for (int64_t k = 0; k < l->c; k++) {
      int64_t t = nn * (b->gamma[k] * pd[k]) - p, z = nn * pv[k] - s1;
      o[k] = align_lanes(a1.m, t, k1.lf, k1.hf, k1.rt) + align_lanes(a2.m, z, k2.lf, k2.hf, k2.rt);
    }
  else
    for (int64_t k = 0; k < l->c; k++) {
      int64_t z = nn * pv[k] - s1, t = nn * (b->gamma[k] * pd[k]) - p, u = l->l1 ? nn * sgn(z) - sg : z;
      o[k] = align(a1.m, t, d1) + align(a2.m, u, d2);
    }
}

/* Per group: P = sum dh, Q = sum dh z, Sg = sum sign z (dh = g_c dy), by
 * blocks: sum dh z = g_c (N sum dy v - S1 sum dy). */
PASS static void sums_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Bwd *b = env;
  const Norm *l = b->l;
  int64_t nn = l->nn;
  Side sides[LANES];
  int64_t sdys[LANES], sdvs[LANES];
  for (int64_t g = lo; g < hi; g++) {
    int64_t s1 = b->st[NIT_NORM_STAT * g], p = 0, q = 0;
    Cut c = cut_of(nn, s1);
    Side sd = {0, 0, 0, 0, 128, -129};
    bool dense = l->hw == 1 && (!l->batch || dense_batch(l)); /* one pass per lane or sample, not per block */
    if (l->batch && dense) { /* lanes of LANES channels: sum g_c dy = g_c sum dy */
      int64_t j = (g - lo) % LANES, gc = b->gamma[g];
      if (j == 0) {
        LANED(min64(hi - g, LANES), dense_sum_dy(b, g, W, sdys, sdvs));
        LANED(min64(hi - g, LANES), dense_side(l, b->v, b->st, NIT_NORM_STAT, g, W, sides));
      }
      sd = sides[j];
      p = gc * sdys[j], q = gc * (nn * sdvs[j] - s1 * sdys[j]);
    } else if (dense) { /* a dense layer's sample: C values, channel c at c */
      const int8_t *pv = b->v + g * l->c, *pd = b->dy + g * l->c;
      int64_t gdy = 0, gdv = 0; /* sum g_c dy, sum g_c dy v */
      for (int64_t k = 0; k < l->c; k++) {
        int32_t gd = b->gamma[k] * pd[k];
        gdy += gd, gdv += gd * pv[k];
      }
      side(pv, l->c, c, &sd);
      p = gdy, q = nn * gdv - s1 * gdy;
    }
    for (int64_t i = 0; !dense && i < l->nb; i++) {
      int64_t blk = block(l, g, i), gc = b->gamma[chan(l, g, i)], sdy = 0, sdv = 0;
      const int8_t *pv = b->v + blk * l->hw, *pd = b->dy + blk * l->hw;
      if (l->hw < 16) { /* a few values (a batch norm after a dense layer: one each): inline */
        for (int64_t k = 0; k < l->hw; k++) {
          int32_t x = pv[k], h = x >= c.hi, lw = x <= c.lo;
          sdy += pd[k], sdv += pd[k] * x;
          sd.nhi += h, sd.nlo += lw;
          sd.vmin = x < sd.vmin ? x : sd.vmin, sd.vmax = x > sd.vmax ? x : sd.vmax;
        }
      } else {
        sum_dy(pv, pd, l->hw, &sdy, &sdv);
        side(pv, l->hw, c, &sd);
      }
      p += gc * sdy, q += gc * (nn * sdv - s1 * sdy);
    }
    b->P[g] = p, b->Q[g] = q, b->Sg[g] = sd.nhi - sd.nlo;
    b->nz[g] = l->nb * l->hw - sd.nhi - sd.nlo;
    b->rv[g] = pack_range(sd.vmin, sd.vmax);
  }
}

/* Per group, from its P, Q, Sg: the maxima of T and of z or U, and the
 * coefficients rho and c2. T = N g_c dy - P is affine in dy in each block;
 * U = N sign z - Sg takes one value per sign class present. */
PASS static void maxima_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Bwd *b = env;
  const Norm *l = b->l;
  int64_t nn = l->nn;
  int32_t los[LANES], his[LANES];
  for (int64_t g = lo; g < hi; g++) {
    int64_t s1 = b->st[NIT_NORM_STAT * g], p = b->P[g], q = b->Q[g], sg = b->Sg[g];
    uint64_t tm = 0, um = 0;
    int32_t dlo = 128, dhi = -129, vlo, vhi;
    bool dense = l->hw == 1 && (!l->batch || dense_batch(l));
    if (l->batch && dense) { /* T = N g_c dy - P is affine in dy over the whole channel */
      if ((g - lo) % LANES == 0) LANED(min64(hi - g, LANES), dense_range(l, b->dy, g, W, los, his));
      dlo = los[(g - lo) % LANES], dhi = his[(g - lo) % LANES];
      tm = max_affine(nn * b->gamma[g], -p, dlo, dhi);
    } else if (dense) { /* a dense layer's sample: T = N g_c dy - P per value */
      const int8_t *pd = b->dy + g * l->c;
      int64_t tmax = 0;
      for (int64_t k = 0; k < l->c; k++) {
        int64_t t = nn * (b->gamma[k] * pd[k]) - p;
        t = t < 0 ? -t : t;
        tmax = t > tmax ? t : tmax;
      }
      widen(pd, l->c, &dlo, &dhi);
      tm = (uint64_t)tmax;
    }
    for (int64_t i = 0; !dense && i < l->nb; i++) {
      int64_t blk = block(l, g, i), gc = b->gamma[chan(l, g, i)];
      int32_t blo = 128, bhi = -129;
      widen(b->dy + blk * l->hw, l->hw, &blo, &bhi);
      uint64_t t = max_affine(nn * gc, -p, blo, bhi);
      tm = t > tm ? t : tm;
      dlo = blo < dlo ? blo : dlo, dhi = bhi > dhi ? bhi : dhi;
    }
    unpack_range(b->rv[g], &vlo, &vhi);
    if (!l->l1) um = max_affine(nn, -s1, vlo, vhi);
    else {
      Cut c = cut_of(nn, s1);
      uint64_t up = vhi >= c.hi ? nitrt_mag(nn - sg) : 0, un = vlo <= c.lo ? nitrt_mag(-nn - sg) : 0;
      uint64_t u0 = b->nz[g] > 0 ? nitrt_mag(-sg) : 0;
      um = up > un ? up : un;
      um = u0 > um ? u0 : um;
    }
    b->tmax[g] = tm, b->umax[g] = um;
    b->rdy[g] = pack_range(dlo, dhi);
    NitS31 rho = get2(b->st + NIT_NORM_STAT * g + 2), sq = nitrt_sint(q);
    put2(b->c1 + 2 * g, rho);
    if (!l->l1) /* - rho^3 Q */
      put2(b->c2 + 2 * g, nitrt_sneg(nitrt_smul(nitrt_smul(nitrt_smul(rho, rho), rho), sq)));
    else /* - K rho^2 Q / N */
      put2(b->c2 + 2 * g,
           nitrt_sneg(nitrt_sdiv(nitrt_smul(nitrt_smul(l->k, nitrt_smul(rho, rho)), sq), nitrt_sint(nn))));
    if (b->mu != 1) { /* unified: times sint(mu), last */
      put2(b->c1 + 2 * g, nitrt_smul(get2(b->c1 + 2 * g), nitrt_sint(b->mu)));
      put2(b->c2 + 2 * g, nitrt_smul(get2(b->c2 + 2 * g), nitrt_sint(b->mu)));
    }
  }
}

/* Per channel: dbeta = sum dy; batch kinds: Qd = sum dy z of the channel;
 * layer kinds: the terms rho_s Qd_{s,c} of every sample at its global row.
 * By blocks: sum dy z = N sum dy v - S1 sum dy. */
PASS static void param_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Bwd *b = env;
  const Norm *l = b->l;
  if (dense_batch(l)) { /* Qd = N sum dy v - S1 sum dy over the channel */
    int64_t sdy[LANES], sdv[LANES];
    for (int64_t c0 = lo; c0 < hi; c0 += LANES) {
      int64_t w = min64(hi - c0, LANES);
      LANED(w, dense_sum_dy(b, c0, W, sdy, sdv));
      for (int64_t j = 0; j < w; j++) {
        b->dbeta[c0 + j] = sdy[j];
        b->qd[c0 + j] = l->nn * sdv[j] - b->st[NIT_NORM_STAT * (c0 + j)] * sdy[j];
      }
    }
    return;
  }
  if (!l->batch && l->hw == 1) { /* a dense layer's layer norm: by samples, so that T's rows are written in order */
    for (int64_t c0 = lo; c0 < hi; c0 += LANES) {
      int64_t w = min64(hi - c0, LANES), db[LANES] = {0};
      for (int64_t s = 0; s < l->n; s++) {
        const int64_t *q = b->st + NIT_NORM_STAT * s;
        NitS31 rho = get2(q + 2);
        const int8_t *pv = b->v + s * l->c + c0, *pd = b->dy + s * l->c + c0; /* (w) */
        int64_t *t = b->T + 2 * ((l->row0 + s) * l->c + c0);                   /* (w) {m, e} */
        for (int64_t j = 0; j < w; j++) {
          db[j] += pd[j];
          put2(t + 2 * j, nitrt_smul(rho, nitrt_sint(l->nn * (pd[j] * pv[j]) - q[0] * pd[j])));
        }
      }
      for (int64_t j = 0; j < w; j++) b->dbeta[c0 + j] = db[j];
    }
    return;
  }
  for (int64_t c = lo; c < hi; c++) {
    int64_t db = 0, qd = 0;
    for (int64_t s = 0; s < l->n; s++) {
      int64_t g = l->batch ? c : s, s1 = b->st[NIT_NORM_STAT * g], sdy = 0, sdv = 0;
      sum_dy(b->v + (s * l->c + c) * l->hw, b->dy + (s * l->c + c) * l->hw, l->hw, &sdy, &sdv);
      int64_t q = l->nn * sdv - s1 * sdy;
      db += sdy;
      if (l->batch) qd += q; /* one group: its Qd spans the samples */
      else put2(b->T + 2 * ((l->row0 + s) * l->c + c), nitrt_smul(get2(b->st + NIT_NORM_STAT * g + 2), nitrt_sint(q)));
    }
    b->dbeta[c] = db;
    if (l->batch) b->qd[c] = qd;
  }
}

/* A block's dx where neither term rounds (affine_run's reasoning): L2,
 * o = A1 dy + A2 v + B; L1, o = A1 dy + B + K(sign z), z = nn v - s1, with
 * K the aligned U of each sign class. Unsigned, so the wrap is exact. */
INLINE static void dx_run2(const int8_t *restrict dy, const int8_t *restrict v, int64_t *restrict o, int64_t n,
                           uint64_t A1, uint64_t A2, uint64_t B) {
  for (int64_t k = 0; k < n; k++) o[k] = (int64_t)(A1 * (uint64_t)(int64_t)dy[k] + A2 * (uint64_t)(int64_t)v[k] + B);
}

INLINE static void dx_run1(const int8_t *restrict dy, const int8_t *restrict v, int64_t *restrict o, int64_t n,
                           uint64_t A1, uint64_t B, int64_t nn, int64_t s1, int64_t kp, int64_t k0, int64_t kn) {
  for (int64_t k = 0; k < n; k++) {
    int64_t z = nn * v[k] - s1, ku = z > 0 ? kp : k0;
    ku = z < 0 ? kn : ku;
    o[k] = (int64_t)(A1 * (uint64_t)(int64_t)dy[k] + B + (uint64_t)ku);
  }
}

/* dx = LINSUM((rho, T, sd), (c2, z or U, sd)), T = N dh - P, U = N sign z - Sg:
 * per element a term of dy plus a term of v, both from tables when they
 * pay (a batch kind's T is one function of dy per group, a layer kind's
 * one per block, over the block's own range: T stays within its maximum;
 * a layer kind's blocks of fewer than 16 elements never pay). */
PASS static void dx_body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)worker;
  Bwd *b = env;
  const Norm *l = b->l;
  int64_t nn = l->nn;
  if (dense_batch(l)) {
    for (int64_t g0 = lo; g0 < hi; g0 += LANES) LANED(min64(hi - g0, LANES), dense_dx(b, g0, W));
    return;
  }
  if (!l->batch && l->hw == 1) {
    for (int64_t g = lo; g < hi; g++) dense_layer_dx(b, g);
    return;
  }
  Lut lt, lu;
  for (int64_t g = lo; g < hi; g++) {
    int64_t s1 = b->st[NIT_NORM_STAT * g], p = b->P[g], sg = b->Sg[g];
    NitS31 a1 = get2(b->c1 + 2 * g), a2 = get2(b->c2 + 2 * g);
    int64_t d1 = a1.e + b->sd - b->w, d2 = a2.e + b->sd - b->w;
    int32_t vlo, vhi, dlo, dhi;
    unpack_range(b->rv[g], &vlo, &vhi);
    unpack_range(b->rdy[g], &dlo, &dhi);
    Cut c = cut_of(nn, s1);
    bool tab_u = (l->batch || l->hw >= 16) && lut_pays(vlo, vhi, l->nb * l->hw), tab_t = l->batch && lut_pays(dlo, dhi, l->nb * l->hw);
    if (tab_u)
      for (int32_t x = vlo; x <= vhi; x++) {
        int64_t z = nn * x - s1, cls = x >= c.hi ? 1 : x <= c.lo ? -1 : 0;
        bool seen = !l->l1 || (cls > 0 ? vhi >= c.hi : cls < 0 ? vlo <= c.lo : b->nz[g] > 0);
        lu[x + 128] = seen ? align(a2.m, l->l1 ? nn * cls - sg : z, d2) : 0; /* an unseen class: never read */
      }
    for (int64_t i = 0; i < l->nb; i++) {
      int64_t blk = block(l, g, i), gc = b->gamma[chan(l, g, i)];
      const int8_t *pv = b->v + blk * l->hw, *pd = b->dy + blk * l->hw;
      int64_t *o = b->S + blk * l->hw;
      int64_t e1 = exact_shift(a1.m, d1), e2 = l->l1 ? 0 : exact_shift(a2.m, d2); /* L1: U's term by classes */
      if (e1 >= 0 && e2 >= 0) {
        /* no rounding in T's term (nor in z's): affine in dy (and v) */
        uint64_t A1 = ((uint64_t)a1.m * (uint64_t)(nn * gc)) << e1, B = ((uint64_t)-a1.m * (uint64_t)p) << e1;
        if (!l->l1) {
          B += ((uint64_t)-a2.m * (uint64_t)s1) << e2;
          dx_run2(pd, pv, o, l->hw, A1, ((uint64_t)a2.m * (uint64_t)nn) << e2, B);
        } else { /* U takes one value per sign class of z: align of each class present */
          int64_t kp = vhi >= c.hi ? align(a2.m, nn - sg, d2) : 0, kn = vlo <= c.lo ? align(a2.m, -nn - sg, d2) : 0;
          int64_t k0 = b->nz[g] > 0 ? align(a2.m, -sg, d2) : 0;
          dx_run1(pd, pv, o, l->hw, A1, B, nn, s1, kp, k0, kn);
        }
        continue;
      }
      bool tab = tab_t;
      if (!l->batch) { /* the block's own range */
        dlo = 128, dhi = -129;
        if (tab_u) widen(pd, l->hw, &dlo, &dhi);
        tab = tab_u && lut_pays(dlo, dhi, l->hw);
      }
      if (tab && (!l->batch || i == 0))
        for (int32_t x = dlo; x <= dhi; x++) lt[x + 128] = align(a1.m, nn * gc * x - p, d1);
      if (tab && tab_u) {
        for (int64_t k = 0; k < l->hw; k++) o[k] = lt[pd[k] + 128] + lu[pv[k] + 128];
        continue;
      }
      for (int64_t k = 0; k < l->hw; k++) {
        int64_t z = nn * pv[k] - s1, t = nn * gc * pd[k] - p, u = l->l1 ? nn * sgn(z) - sg : z;
        o[k] = align(a1.m, t, d1) + align(a2.m, u, d2);
      }
    }
  }
}

/* dg_c = sadd(dg_c, t_c) for c in [0, C) ({m, e} pairs): the channels'
 * chains of the layer kinds' dgamma, one step each. nitrt_sadd's int64 cases
 * (a zero operand, a gap of at most 31, a gap above 62) without branches in
 * a loop that vectorizes; a lane whose gap is 32 to 62 keeps its operand
 * there and is redone by nitrt_sadd after. The same values as nitrt_sadd. */
INLINE static void sadd_lanes(int64_t *restrict d, const int64_t *restrict u, int64_t w, int64_t *restrict slow) {
  for (int64_t k = 0; k < w; k++) {
    int64_t am = d[2 * k], ae = d[2 * k + 1], bm = u[2 * k], be = u[2 * k + 1];
    int64_t sw = ae < be; /* big: the larger exponent */
    int64_t hm = sw ? bm : am, lm = sw ? am : bm, he = sw ? be : ae, le = sw ? ae : be, gap = he - le;
    int64_t p = (int64_t)(((uint64_t)hm << (gap < 63 ? gap : 63)) + (uint64_t)lm); /* wraps only in slow lanes */
    NitS31 r = nitrt_snorm64(p < 0, nitrt_mag(p), le);
    int64_t rm = p == 0 ? 0 : r.m, re = p == 0 ? 0 : r.e;
    rm = gap > 62 ? hm : rm, re = gap > 62 ? he : re;
    rm = bm == 0 ? am : rm, re = bm == 0 ? ae : re;
    rm = am == 0 ? bm : rm, re = am == 0 ? be : re;
    int64_t sl = am != 0 && bm != 0 && gap > 31 && gap <= 62;
    slow[k] = sl;
    d[2 * k] = sl ? am : rm, d[2 * k + 1] = sl ? ae : re;
  }
}

PASS void nitrt_sadd_row(int64_t *dg, const int64_t *t, int64_t c) {
  int64_t slow[LANES];
  for (int64_t c0 = 0; c0 < c; c0 += LANES) {
    int64_t w = min64(c - c0, LANES);
    int64_t *d = dg + 2 * c0;
    const int64_t *u = t + 2 * c0;
    LANED(w, sadd_lanes(d, u, W, slow));
    for (int64_t k = 0; k < w; k++)
      if (slow[k]) put2(d + 2 * k, nitrt_sadd(get2(d + 2 * k), get2(u + 2 * k)));
  }
}

int32_t nitrt_norm_backward(const NitCtx *ctx, const int64_t *desc, int64_t n, const int8_t *v, int32_t s_x,
                            const int64_t *st, const int8_t *gamma, int32_t s_g, const int8_t *dy, int32_t s_e,
                            int64_t *scratch, int64_t *S, int64_t *dbeta, int64_t *dgamma, int32_t *s_dgamma) {
  return nitrt_norm_backward_mu(ctx, desc, n, v, s_x, st, gamma, s_g, dy, s_e, scratch, S, dbeta, dgamma, s_dgamma, 1);
}

int32_t nitrt_norm_backward_mu(const NitCtx *ctx, const int64_t *desc, int64_t n, const int8_t *v, int32_t s_x,
                               const int64_t *st, const int8_t *gamma, int32_t s_g, const int8_t *dy, int32_t s_e,
                               int64_t *scratch, int64_t *S, int64_t *dbeta, int64_t *dgamma, int32_t *s_dgamma,
                               int32_t mu) {
  Norm l = describe(ctx, desc, n);
  int64_t ng = l.ng;
  Bwd b = {&l, v, gamma, dy, st, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, dbeta, NULL, NULL, NULL, S, 0, 0, mu};
  b.P = scratch, b.Q = b.P + ng, b.Sg = b.Q + ng, b.c1 = b.Sg + ng, b.c2 = b.c1 + 2 * ng;
  b.tmax = (uint64_t *)(b.c2 + 2 * ng), b.umax = b.tmax + ng, b.rv = (int64_t *)(b.umax + ng), b.rdy = b.rv + ng;
  b.nz = b.rdy + ng, b.dg = b.nz + ng;
  b.qd = b.dg + 2 * l.c, b.T = b.qd + l.c;
  NitS31 zero = {0, 0};

  /* the parameter gradients; dgamma as LINSUM((dgamma_c, 1, s_e)) */
  if (!l.batch)
    for (int64_t j = 0; j < 2 * l.gn * l.c; j++) b.T[j] = 0;
  each(ctx, param_body, &b, l.c);
  nitrt_allsum(ctx, dbeta, l.c);
  if (l.batch) {
    nitrt_allsum(ctx, b.qd, l.c);
    for (int64_t c = 0; c < l.c; c++)
      put2(b.dg + 2 * c, nitrt_sadd(zero, nitrt_smul(get2(st + NIT_NORM_STAT * c + 2), nitrt_sint(b.qd[c]))));
  } else { /* sum over the samples of the global batch, ascending; the
             * channels' chains side by side (each sadd waits for the last) */
    nitrt_allsum(ctx, b.T, 2 * l.gn * l.c);
    for (int64_t c = 0; c < l.c; c++) put2(b.dg + 2 * c, zero);
    for (int64_t s = 0; s < l.gn; s++) nitrt_sadd_row(b.dg, b.T + 2 * s * l.c, l.c);
  }
  if (mu != 1) /* unified: dbeta exactly, dgamma with smul, after the sums */
    for (int64_t c = 0; c < l.c; c++) {
      dbeta[c] *= mu;
      put2(b.dg + 2 * c, nitrt_smul(get2(b.dg + 2 * c), nitrt_sint(mu)));
    }
  Lin Lg = {0, 0, 0};
  for (int64_t c = 0; c < l.c; c++) see(&Lg, get2(b.dg + 2 * c), s_e, 1);
  int64_t wg = common(&Lg);
  for (int64_t c = 0; c < l.c; c++) {
    NitS31 x = get2(b.dg + 2 * c);
    dgamma[c] = Lg.live ? align(x.m, 1, x.e + s_e - wg) : 0;
  }
  *s_dgamma = (int32_t)wg;
  if (!S) return 0;

  each(ctx, sums_body, &b, ng);
  if (l.batch) nitrt_allsum(ctx, b.P, 3 * ng); /* P, Q, Sg are contiguous */
  each(ctx, maxima_body, &b, ng);
  b.sd = (int64_t)s_g + s_e - s_x;
  uint64_t tmax = 0, umax = 0;
  for (int64_t g = 0; g < ng; g++) {
    if (b.tmax[g] > tmax) tmax = b.tmax[g];
    if (b.umax[g] > umax) umax = b.umax[g];
  }
  tmax = nitrt_allmax1(ctx, tmax), umax = nitrt_allmax1(ctx, umax);
  Lin L = {0, 0, 0};
  for (int64_t g = 0; g < ng; g++) {
    see(&L, get2(b.c1 + 2 * g), b.sd, tmax);
    see(&L, get2(b.c2 + 2 * g), b.sd, umax);
  }
  agree(ctx, &L);
  if (!L.live) { /* the zero tensor */
    for (int64_t j = 0; j < n * l.c * l.hw; j++) S[j] = 0;
    return 0;
  }
  b.w = common(&L);
  each(ctx, dx_body, &b, ng);
  return (int32_t)b.w;
}
