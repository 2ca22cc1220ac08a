/*
 * export_lib.c: the integer inference that `export` writes into every
 * exported model, and that the runtime links to check an export before it
 * writes it.
 *
 * One text, two uses. In the runtime it is an ordinary translation unit
 * (NX_FN empty, nitabi.h included): `export` describes the checkpoint's
 * network as an NxModel whose weights point into the params slab, runs
 * nx_run on every sample it checks and compares the logits with the
 * generated forward pass (n = 1) byte for byte. In an exported file the
 * exporter writes `#define NX_FN static`, NX_ACC_BITS, and the generator's
 * part of nitabi.h (the regions marked "export"), then this text, then the
 * model's constant tables; nothing else is needed: C99, no floating point,
 * no allocation, <stdint.h> and <string.h> only.
 *
 * The arithmetic is the evaluation forward pass of docs/numerics.md
 * ("Forward pass, layer by layer") and docs/recipes.md for one sample:
 * every requantization takes its exponent from that sample alone, which is
 * what the training executable's `predict --per-sample` computes, norm
 * layers included (their S31 scalars below). Plain loops, written to be
 * read, and shaped so that a C compiler vectorizes the heavy ones (long
 * runs, fixed blocks of 16: nx_conv, nx_axpy, nx_dense); the accumulator
 * is int64 unless the exporter proved int32 enough for every layer
 * (NX_ACC_BITS 32).
 */
#ifndef NX_EXPORTED /* in an exported file the exporter has written these */
#include <string.h>

#include "export_lib.h"
#include "nitabi.h"
#endif

/* ------------------------------------------------------------- rounding */

/* |v| without overflow, and the bit length of a magnitude. */
static uint64_t nx_abs(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

static int32_t nx_bits(uint64_t v) {
  int32_t b = 0;
  while (v) {
    b++;
    v >>= 1;
  }
  return b;
}

static uint64_t nx_low(int32_t k) { return k >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << k) - 1; }

/* NITI's pseudo-stochastic decision for a fraction f of k >= 2 bits: with
 * k odd its lowest bit dropped (odd = 1), then the upper half of the rest
 * against its lower half (half = (k - odd) / 2 bits each). */
static int nx_pseudo_up(uint64_t f, int32_t odd, int32_t half) {
  f >>= odd;
  return (half >= 64 ? 0 : f >> half) > (f & nx_low(half));
}

/* sat: v clamped to [-lim, lim], as int8 */
static int8_t nx_sat(int64_t v, int64_t lim) { return (int8_t)(v > lim ? lim : v < -lim ? -lim : v); }

/* R(x, k) in sign-magnitude (docs/numerics.md, "Rounding"): the quotient of
 * |x| by 2^k and the `up` decision of the mode; element j of the stream key
 * for stochastic rounding. */
static int64_t nx_round(int64_t x, int32_t k, int32_t mode, uint64_t key, uint64_t j) {
  if (k <= 0) return x;
  uint64_t a = nx_abs(x), q = k >= 64 ? 0 : a >> k, f = a & nx_low(k);
  int up = 0;
  if (mode == NIT_ROUND_PSEUDO) {
    if (k == 1) {
      up = f != 0 && (q & 1) != 0;
    } else {
      up = nx_pseudo_up(f, k % 2, (k - k % 2) / 2);
    }
  } else if (mode == NIT_ROUND_STOCHASTIC) {
    up = f > (nit_draw(key, j) & nx_low(k));
  } else {
    up = k - 1 < 64 && f >= ((uint64_t)1 << (k - 1));
  }
  int64_t r = (int64_t)(q + (uint64_t)up);
  return x < 0 ? -r : r;
}

/* RQ_b of a tensor: k = max(0, B(acc) - (b - 1)), out = sat_b(R(acc, k)).
 * Returns k, the exponent increase. */
static int32_t nx_requant(const NxAcc *acc, int32_t count, int32_t bits, int32_t mode, uint64_t key, int8_t *out) {
  uint64_t mx = 0;
  for (int32_t j = 0; j < count; j++) {
    uint64_t a = nx_abs(acc[j]);
    if (a > mx) mx = a;
  }
  int32_t b = nx_bits(mx), k = b > bits - 1 ? b - (bits - 1) : 0;
  int64_t lim = ((int64_t)1 << (bits - 1)) - 1;
  if (mode == NIT_ROUND_PSEUDO && k >= 2) { /* the usual case: nx_round's, its constants out of the loop
                                               (k < 64, as |acc| < 2^64) so that a compiler vectorizes it */
    int32_t odd = k % 2, half = (k - odd) / 2;
    uint64_t low = nx_low(k);
    for (int32_t j = 0; j < count; j++) {
      uint64_t a = nx_abs(acc[j]);
      int64_t r = (int64_t)((a >> k) + (uint64_t)nx_pseudo_up(a & low, odd, half));
      out[j] = nx_sat(acc[j] < 0 ? -r : r, lim);
    }
    return k;
  }
  for (int32_t j = 0; j < count; j++) out[j] = nx_sat(nx_round(acc[j], k, mode, key, (uint64_t)j), lim);
  return k;
}

/* --------------------------------------------------------------- layers */

/* dense: acc (O) = w (O, I) x (I). Each row's products are summed in 16
 * lanes (as nx_axpy's blocks, for the vectorizer), then the lanes; the
 * sums are exact in any order. */
static void nx_dense(const NxLayer *l, const int8_t *x, NxAcc *acc) {
  int32_t in = l->c * l->h * l->w;
  for (int32_t o = 0; o < l->oc; o++) {
    const int8_t *w = l->wt + (int64_t)o * in;
    NxAcc lane[16] = {0}, s = 0;
    int32_t i = 0;
    for (; i + 16 <= in; i += 16)
      for (int32_t k = 0; k < 16; k++) lane[k] += (NxAcc)x[i + k] * w[i + k];
    for (; i < in; i++) s += (NxAcc)x[i] * w[i];
    for (int32_t k = 0; k < 16; k++) s += lane[k];
    acc[o] = s;
  }
}

/* a (n) += w x (n): the conv's one inner loop, long and without tests, so
 * that a C compiler vectorizes it: restrict (a and x never overlap), and
 * blocks of a fixed 16, which GCC vectorizes already at -O2. */
static void nx_axpy(NxAcc *restrict a, const int8_t *restrict x, NxAcc w, int32_t n) {
  int32_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int32_t k = 0; k < 16; k++) a[j + k] += w * x[j + k];
  for (; j < n; j++) a[j] += w * x[j];
}

/* The zero-bordered copy of an input channel that nx_conv reads: (H + 2
 * PH, W') int8, rows W' = W + 2 PW wide. */
static int32_t nx_plane_w(const NxLayer *l) { return l->w + 2 * l->pw; }
NX_FN int64_t nx_conv_plane(const NxLayer *l) { return (int64_t)(l->h + 2 * l->ph) * nx_plane_w(l); }

/* Whether a conv's output plane is one run of nx_axpy: at stride 1. */
static int nx_conv_flat(const NxLayer *l) { return l->sh == 1 && l->sw == 1; }

/* The accumulators' row length of a conv: for a flat conv the plane's
 * width (each row ends in KW - 1 columns past the output's, never read),
 * else the output's. nx_conv needs OC OH times this many. */
NX_FN int32_t nx_conv_row(const NxLayer *l) { return nx_conv_flat(l) ? nx_plane_w(l) : l->ow; }

/* conv (cross-correlation, zero padding, groups): acc (O, OH, OW). Each
 * input channel is copied once into the zero-bordered plane p (or read in
 * place without padding); each weight is then applied to the whole output
 * plane at once. At stride 1 output pixel (oy, ox) reads the plane at
 * (oy + ky) PW' + ox + kx, so with rows of the plane's width PW' the
 * output plane is one run of (OH - 1) PW' + OW accumulators, and one
 * nx_axpy covers it; the rows are then moved together to OW apart. The sums
 * are exact in any order, and the columns past OW sum the same kind of
 * terms (no overflow the exporter did not bound). */
static void nx_conv(const NxLayer *l, const int8_t *x, NxAcc *acc, int8_t *p) {
  int32_t ig = l->c / l->groups, og = l->oc / l->groups, wp = nx_plane_w(l), flat = nx_conv_flat(l);
  int32_t row = nx_conv_row(l), plane = l->oh * row, run = (l->oh - 1) * row + l->ow;
  int64_t np = nx_conv_plane(l);
  for (int32_t j = 0; j < l->oc * plane; j++) acc[j] = 0;
  for (int32_t c = 0; c < l->c; c++) {
    const int8_t *xc = x + (int64_t)c * l->h * l->w, *pc = xc;
    int32_t g = c / ig, ci = c % ig;
    if (l->ph || l->pw) {
      for (int64_t j = 0; j < np; j++) p[j] = 0;
      for (int32_t y = 0; y < l->h; y++) memcpy(p + (y + l->ph) * wp + l->pw, xc + (int64_t)y * l->w, (size_t)l->w);
      pc = p;
    }
    for (int32_t o = g * og; o < (g + 1) * og; o++) {
      const int8_t *wc = l->wt + ((int64_t)o * ig + ci) * l->kh * l->kw;
      NxAcc *a = acc + (int64_t)o * plane;
      for (int32_t ky = 0; ky < l->kh; ky++)
        for (int32_t kx = 0; kx < l->kw; kx++) {
          NxAcc wv = wc[ky * l->kw + kx];
          if (wv == 0) continue;
          if (flat) {
            nx_axpy(a, pc + ky * wp + kx, wv, run);
            continue;
          }
          for (int32_t oy = 0; oy < l->oh; oy++) {
            const int8_t *pr = pc + (oy * l->sh + ky) * wp + kx;
            NxAcc *ar = a + (int64_t)oy * row;
            for (int32_t ox = 0; ox < l->ow; ox++) ar[ox] += wv * pr[ox * l->sw];
          }
        }
    }
  }
  if (row != l->ow) /* rows OW apart: each moves down, in order (never onto one not yet moved) */
    for (int32_t r = 1; r < l->oc * l->oh; r++)
      for (int32_t ox = 0; ox < l->ow; ox++) acc[(int64_t)r * l->ow + ox] = acc[(int64_t)r * row + ox];
}

/* Pools over (C, H, W): max (padding never wins; a window of padding only
 * gives 0) into y, or window sums (padding counts as zero) into acc. Each
 * window is first clipped to the input, so its loops test nothing. */
static void nx_pool(const NxLayer *l, const int8_t *x, int8_t *y, NxAcc *acc) {
  for (int32_t c = 0; c < l->c; c++)
    for (int32_t oy = 0; oy < l->oh; oy++) {
      int32_t y0 = oy * l->sh - l->ph, ya = y0 < 0 ? 0 : y0, yb = y0 + l->kh > l->h ? l->h : y0 + l->kh;
      for (int32_t ox = 0; ox < l->ow; ox++) {
        int32_t x0 = ox * l->sw - l->pw, xa = x0 < 0 ? 0 : x0, xb = x0 + l->kw > l->w ? l->w : x0 + l->kw;
        int32_t best = INT32_MIN;
        NxAcc s = 0;
        for (int32_t iy = ya; iy < yb; iy++) {
          const int8_t *row = x + ((int64_t)c * l->h + iy) * l->w;
          for (int32_t ix = xa; ix < xb; ix++) {
            if (row[ix] > best) best = row[ix];
            s += row[ix];
          }
        }
        int64_t at = ((int64_t)c * l->oh + oy) * l->ow + ox;
        if (l->op == NX_MAXPOOL)
          y[at] = (int8_t)(best == INT32_MIN ? 0 : best);
        else
          acc[at] = s;
      }
    }
}

/* ---------------------------------------------------------- norm layers */

/* S31 scalars, m 2^e with 2^30 <= |m| < 2^31 or m = e = 0, as the
 * runtime's s31.c computes them (docs/recipes.md, "Scalars"). s31.c works
 * in 128-bit integers, which C99 does not have; here a 128-bit magnitude is
 * two 64-bit halves, and the few wide quotients are long divisions bit by
 * bit (a handful per layer and sample). tests/runtime/test_s31.c checks
 * them against the reference in tests/ref, as it checks s31.c. */
typedef struct NxS31 {
  int64_t m;
  int32_t e;
} NxS31;

typedef struct NxU128 {
  uint64_t hi, lo;
} NxU128;

static NxS31 nx_s31(int64_t m, int64_t e) {
  NxS31 r;
  r.m = m;
  r.e = (int32_t)e;
  return r;
}

static int32_t nx_bits128(NxU128 a) { return a.hi ? 64 + nx_bits(a.hi) : nx_bits(a.lo); }

/* bit k (0..127) of a */
static uint64_t nx_bit128(NxU128 a, int32_t k) { return (k >= 64 ? a.hi >> (k - 64) : a.lo >> k) & 1; }

/* a >> k, 0 <= k < 128 */
static NxU128 nx_shr128(NxU128 a, int32_t k) {
  NxU128 r;
  if (k == 0) return a;
  if (k >= 64) {
    r.hi = 0;
    r.lo = a.hi >> (k - 64);
  } else {
    r.hi = a.hi >> k;
    r.lo = a.lo >> k | a.hi << (64 - k);
  }
  return r;
}

/* snorm of the value (neg ? -a : a) 2^e: the top 31 bits of a, rounded
 * half away from zero. */
static NxS31 nx_snorm(int32_t neg, NxU128 a, int64_t e) {
  int32_t b = nx_bits128(a);
  uint64_t m;
  if (b == 0) return nx_s31(0, 0);
  if (b <= 31) {
    m = a.lo << (31 - b);
    e -= 31 - b;
  } else {
    int32_t k = b - 31;
    m = nx_shr128(a, k).lo + nx_bit128(a, k - 1);
    e += k;
    if (m == (uint64_t)1 << 31) {
      m >>= 1;
      e++;
    }
  }
  return nx_s31(neg ? -(int64_t)m : (int64_t)m, e);
}

static NxS31 nx_snorm64(int64_t p, int64_t e) {
  NxU128 a;
  a.hi = 0;
  a.lo = nx_abs(p);
  return nx_snorm(p < 0, a, e);
}

static NxS31 nx_smul(NxS31 a, NxS31 b) { return nx_snorm64(a.m * b.m, (int64_t)a.e + b.e); } /* |m m| < 2^62 */

/* a + b: the larger exponent's mantissa shifted up by the gap (up to 62
 * bits) and the other's added, in sign and magnitude */
static NxS31 nx_sadd(NxS31 a, NxS31 b) {
  NxS31 big = a.e >= b.e ? a : b, small = a.e >= b.e ? b : a;
  int32_t gap = big.e - small.e, neg;
  uint64_t bm = nx_abs(big.m), sm = nx_abs(small.m);
  NxU128 x, y, d;
  if (a.m == 0) return b;
  if (b.m == 0) return a;
  if (gap > 62) return big;
  x.hi = gap ? bm >> (64 - gap) : 0; /* |big.m| 2^gap */
  x.lo = bm << gap;
  y.hi = 0;
  y.lo = sm;
  if ((big.m < 0) == (small.m < 0)) {
    d.lo = x.lo + y.lo;
    d.hi = x.hi + (d.lo < x.lo);
    neg = big.m < 0;
  } else if (x.hi > 0 || x.lo >= y.lo) {
    d.lo = x.lo - y.lo;
    d.hi = x.hi - (x.lo < y.lo);
    neg = big.m < 0;
  } else {
    d.lo = y.lo - x.lo;
    d.hi = 0;
    neg = small.m < 0;
  }
  return nx_snorm(neg, d, small.e);
}

/* n / d for a divisor below 2^62 and a quotient below 2^64 */
static uint64_t nx_div128(NxU128 n, uint64_t d) {
  uint64_t r = 0, q = 0;
  for (int32_t k = 127; k >= 0; k--) {
    r = r << 1 | nx_bit128(n, k);
    if (r >= d) {
      r -= d;
      if (k < 64) q |= (uint64_t)1 << k;
    }
  }
  return q;
}

/* a / b: round((|a.m| 2^62) / |b.m|) by (|a.m| 2^63 + |b.m|) div 2 |b.m| */
static NxS31 nx_sdiv(NxS31 a, NxS31 b) {
  uint64_t am = nx_abs(a.m), bm = nx_abs(b.m);
  NxU128 n;
  if (a.m == 0 || b.m == 0) return nx_s31(0, 0);
  n.hi = am >> 1;
  n.lo = (am << 63) + bm;
  n.lo = nx_div128(n, bm << 1);
  n.hi = 0;
  return nx_snorm((a.m < 0) != (b.m < 0), n, (int64_t)a.e - b.e - 62);
}

static uint64_t nx_isqrt(uint64_t v) {
  uint64_t r = 0;
  for (int32_t bit = 31; bit >= 0; bit--) {
    uint64_t t = r | (uint64_t)1 << bit;
    if (t * t <= v) r = t;
  }
  return r;
}

/* 1 / sqrt(a): the square root of the mantissa moved to an even exponent,
 * then (2^94 + r) div 2 r */
static NxS31 nx_srsqrt(NxS31 a) {
  int32_t sh = (a.e & 1) != 0 ? 33 : 32;
  uint64_t r;
  int64_t e = (int64_t)a.e - sh;
  NxU128 n;
  if (a.m <= 0) return nx_s31(0, 0);
  r = nx_isqrt((uint64_t)a.m << sh);
  n.hi = (uint64_t)1 << 30;
  n.lo = r;
  n.lo = nx_div128(n, r * 2);
  n.hi = 0;
  return nx_snorm(0, n, -93 - e / 2);
}

/* align(m u, d): m u 2^d for d >= 0 (exact, at most 2^60 by the choice of
 * W), m u 2^d rounded half away from zero below. */
static int64_t nx_align(int64_t m, int64_t u, int64_t d) {
  int64_t p = m * u; /* |m| < 2^31 and |u| < 2^29: no overflow */
  if (p == 0) return 0;
  if (d >= 0) return (int64_t)((uint64_t)p << d);
  uint64_t a = nx_abs(p), r = -d > 64 ? 0 : -d == 64 ? a >> 63 : (a >> -d) + ((a >> (-d - 1)) & 1);
  return p < 0 ? -(int64_t)r : (int64_t)r;
}

/* The common exponent W of a LINSUM (docs/recipes.md, "LINSUM and
 * LINCOMB") from its live pairs. */
typedef struct NxLin {
  int32_t live;
  int64_t emin, h; /* smallest exponent, highest top bit of the live pairs */
} NxLin;

static void nx_see(NxLin *L, NxS31 c, int64_t s, uint64_t umax) {
  int64_t e = c.e + s, top = e + 31 + nx_bits(umax);
  if (c.m == 0 || umax == 0) return;
  if (!L->live || e < L->emin) L->emin = e;
  if (!L->live || top > L->h) L->h = top;
  L->live = 1;
}

/* A norm layer at evaluation, for one sample, as the runtime's norm
 * kernels compute it (runtime/norm.c): S = LINSUM((a_c, u, s_u), (b_c, 1,
 * 0)) over the channels, then the caller's requantization. The batch kinds
 * (running statistics) have a_c and b_c in the table and u = v at s_x; the
 * layer kinds normalize by the sample's own statistics, u = z = N v - S1
 * (N = C H W) at exponent 0, with a_c = snorm(gamma_c) rho from the
 * deviation V = N S2 - S1^2 (layernorm; rho = 1 / sqrt(V + eps N^2)) or
 * A = sum |z| (l1layernorm; rho = N / (k A + eps N^2)). Returns W. */
static int32_t nx_norm(const NxLayer *l, const int8_t *x, int32_t sx, NxAcc *acc) {
  int32_t hw = l->h * l->w, count = l->c * hw;
  int32_t batch = l->norm == NIT_NORM_BATCH || l->norm == NIT_NORM_L1BATCH;
  int32_t l1 = l->norm == NIT_NORM_L1BATCH || l->norm == NIT_NORM_L1LAYER;
  const int32_t *q = l->coef;
  int64_t nn = batch ? 1 : count, s1 = 0, s2 = 0, dev = 0, su = batch ? sx : 0, w;
  uint64_t umax = 0;
  NxS31 rho = nx_s31(0, 0);
  NxLin L = {0, 0, 0};
  if (!batch) /* the sample's statistics */
    for (int32_t j = 0; j < count; j++) s1 += x[j], s2 += (int64_t)x[j] * x[j];
  for (int32_t j = 0; j < count; j++) { /* |u|, u = v or N v - S1 */
    uint64_t z = nx_abs(nn * x[j] - s1);
    if (z > umax) umax = z;
    dev += (int64_t)z;
  }
  if (!batch) {
    NxS31 epsn = nx_s31(q[4 * l->c], (int64_t)q[4 * l->c + 1] - (l1 ? sx : 2 * (int64_t)sx)), d;
    if (!l1) {
      d = nx_sadd(nx_snorm64(nn * s2 - s1 * s1, 0), epsn);
      rho = nx_srsqrt(d);
    } else {
      d = nx_sadd(nx_smul(nx_s31(q[4 * l->c + 2], q[4 * l->c + 3]), nx_snorm64(dev, 0)), epsn);
      rho = d.m == 0 ? nx_s31(0, 0) : nx_sdiv(nx_snorm64(nn, 0), d);
    }
  }
  /* the coefficient a_c of channel c: the table's, or snorm(gamma_c) rho */
#define NX_NORM_A(c) (batch ? nx_s31(q[4 * (c)], q[4 * (c) + 1]) : nx_smul(nx_s31(q[4 * (c)], q[4 * (c) + 1]), rho))
  for (int32_t c = 0; c < l->c; c++) nx_see(&L, NX_NORM_A(c), su, umax);
  for (int32_t c = 0; c < l->c; c++) nx_see(&L, nx_s31(q[4 * c + 2], q[4 * c + 3]), 0, 1);
  if (!L.live) { /* the zero tensor */
    for (int32_t j = 0; j < count; j++) acc[j] = 0;
    return 0;
  }
  w = L.emin > L.h - 60 ? L.emin : L.h - 60;
  for (int32_t c = 0; c < l->c; c++) {
    NxS31 a = NX_NORM_A(c);
    int64_t shift = q[4 * c + 2] ? nx_align(q[4 * c + 2], 1, q[4 * c + 3] - w) : 0, d = a.e + su - w;
    for (int32_t k = 0; k < hw; k++) acc[c * hw + k] = nx_align(a.m, nn * x[c * hw + k] - s1, d) + shift;
  }
#undef NX_NORM_A
  return (int32_t)w;
}

/* log2 of a power-of-two window area (the compiler refuses other areas). */
static int32_t nx_log2(int32_t v) {
  int32_t l = 0;
  while (v > 1) {
    v >>= 1;
    l++;
  }
  return l;
}

/* Residual add: both operands aligned to s = max(min exps, max exps - 48)
 * and summed exactly (an operand more than 48 bits below is dropped). The
 * masters recipes drop all-zero operands first; with none left the sum is
 * zero at exponent 0. Returns s. */
static int32_t nx_add(int32_t count, const int8_t *a, int32_t ea, const int8_t *b, int32_t eb, int32_t masters,
                      NxAcc *acc) {
  int32_t live_a = 1, live_b = 1;
  if (masters) {
    live_a = live_b = 0;
    for (int32_t j = 0; j < count; j++) {
      live_a |= a[j] != 0;
      live_b |= b[j] != 0;
    }
    if (!live_a && !live_b) {
      for (int32_t j = 0; j < count; j++) acc[j] = 0;
      return 0;
    }
    if (!live_a) ea = eb;
    if (!live_b) eb = ea;
  }
  int32_t lo = ea < eb ? ea : eb, hi = ea < eb ? eb : ea;
  int32_t s = hi - lo > 48 ? hi - 48 : lo;
  for (int32_t j = 0; j < count; j++) {
    NxAcc v = 0;
    if (live_a && ea >= s) v += (NxAcc)a[j] * ((NxAcc)1 << (ea - s));
    if (live_b && eb >= s) v += (NxAcc)b[j] * ((NxAcc)1 << (eb - s));
    acc[j] = v;
  }
  return s;
}

/* ---------------------------------------------------------------- a net */

/* One sample through every layer: x (C, H, W) int8 at in_exp; the arena
 * holds every layer's output at NxLayer.out, the accumulator and the
 * exponents. *logits points at the output layer's (classes) int8 values;
 * returns their exponent. */
NX_FN int32_t nx_run(const NxModel *m, const int8_t *x, int32_t in_exp, unsigned char *arena, const int8_t **logits) {
  int32_t *e = (int32_t *)(void *)(arena + m->exp_off);
  NxAcc *acc = (NxAcc *)(void *)(arena + m->acc_off);
  e[0] = in_exp;
  for (int32_t i = 1; i < m->nlayers; i++) {
    const NxLayer *l = &m->layers[i];
    const int8_t *a = l->in0 == 0 ? x : (const int8_t *)(arena + m->layers[l->in0].out);
    int8_t *y = (int8_t *)(arena + l->out);
    int32_t count = l->oc * l->oh * l->ow, sx = e[l->in0];
    switch (l->op) {
    case NX_DENSE:
      nx_dense(l, a, acc);
      e[i] = sx + l->w_exp + nx_requant(acc, count, m->bits, m->round, l->key, y);
      break;
    case NX_CONV:
      nx_conv(l, a, acc, (int8_t *)(arena + m->plane_off));
      e[i] = sx + l->w_exp + nx_requant(acc, count, m->bits, m->round, l->key, y);
      break;
    case NX_MAXPOOL:
      nx_pool(l, a, y, acc);
      e[i] = sx;
      break;
    case NX_AVGPOOL:
      nx_pool(l, a, y, acc);
      e[i] = sx + nx_requant(acc, count, m->bits, m->round, l->key, y) - nx_log2(l->kh * l->kw);
      break;
    case NX_RELU:
      for (int32_t j = 0; j < count; j++) y[j] = a[j] > 0 ? a[j] : 0;
      e[i] = sx;
      break;
    case NX_DROPOUT:
      if (m->masters) { /* eval scales by the keep probability: v (256 - p) at s - 8 */
        for (int32_t j = 0; j < count; j++) acc[j] = (NxAcc)a[j] * (256 - l->drop256);
        e[i] = sx - 8 + nx_requant(acc, count, m->bits, m->round, l->key, y);
        break;
      }
      memcpy(y, a, (size_t)count); /* NITI: identity at evaluation */
      e[i] = sx;
      break;
    case NX_NORM: {
      int32_t w = nx_norm(l, a, sx, acc);
      e[i] = w + nx_requant(acc, count, m->bits, m->round, l->key, y);
      break;
    }
    case NX_ADD: {
      const int8_t *b = l->in1 == 0 ? x : (const int8_t *)(arena + m->layers[l->in1].out);
      int32_t s = nx_add(count, a, sx, b, e[l->in1], m->masters, acc);
      e[i] = s + nx_requant(acc, count, m->bits, m->round, l->key, y);
      break;
    }
    default: /* NX_FLATTEN: the same bytes, another shape */
      memcpy(y, a, (size_t)count);
      e[i] = sx;
      break;
    }
  }
  *logits = m->output == 0 ? x : (const int8_t *)(arena + m->layers[m->output].out);
  return e[m->output];
}

#ifndef NX_EXPORTED
/* The runtime's side only: the int8 view of NITI's wide weights (bits 9..16),
 * sat8(R(wide, bits - 8, pseudo)) (docs/numerics.md, "Wide weights"), which
 * `export` writes as the layer's weights. */
void nx_wide_view(const int16_t *wide, int64_t count, int32_t bits, int8_t *w8) {
  for (int64_t j = 0; j < count; j++) {
    int64_t v = nx_round(wide[j], bits - 8, NIT_ROUND_PSEUDO, 0, 0);
    w8[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
  }
}
#endif
