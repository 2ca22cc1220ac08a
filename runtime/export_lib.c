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
 * what the training executable's `predict --per-sample` computes. Plain
 * loops, written to be read; the accumulator is int64 unless the exporter
 * proved int32 enough for every layer (NX_ACC_BITS 32).
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
      int32_t bp = k;
      if (bp % 2 == 1) {
        f >>= 1;
        bp -= 1;
      }
      int32_t half = bp / 2;
      up = (half >= 64 ? 0 : f >> half) > (f & nx_low(half));
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
  for (int32_t j = 0; j < count; j++) {
    int64_t v = nx_round(acc[j], k, mode, key, (uint64_t)j);
    out[j] = (int8_t)(v > lim ? lim : v < -lim ? -lim : v);
  }
  return k;
}

/* --------------------------------------------------------------- layers */

/* dense: acc (O) = w (O, I) x (I). */
static void nx_dense(const NxLayer *l, const int8_t *x, NxAcc *acc) {
  int32_t in = l->c * l->h * l->w;
  for (int32_t o = 0; o < l->oc; o++) {
    const int8_t *w = l->wt + (int64_t)o * in;
    NxAcc s = 0;
    for (int32_t i = 0; i < in; i++) s += (NxAcc)x[i] * w[i];
    acc[o] = s;
  }
}

/* The output columns [*lo, *hi) whose input column ox * sw - pw + kx lies
 * inside [0, w). */
static void nx_cols(const NxLayer *l, int32_t kx, int32_t *lo, int32_t *hi) {
  int32_t a = l->pw - kx, b = l->w + l->pw - kx;
  *lo = a > 0 ? (a + l->sw - 1) / l->sw : 0;
  *hi = b > 0 ? (b + l->sw - 1) / l->sw : 0;
  if (*hi > l->ow) *hi = l->ow;
}

/* conv (cross-correlation, zero padding, groups): acc (O, OH, OW). Each
 * weight is applied to a whole output row at a time, so the inner loop is
 * a plain multiply-add over columns without padding tests; the sums are
 * exact in any order. */
static void nx_conv(const NxLayer *l, const int8_t *x, NxAcc *acc) {
  int32_t ig = l->c / l->groups, og = l->oc / l->groups, plane = l->oh * l->ow;
  for (int32_t o = 0; o < l->oc; o++) {
    NxAcc *a = acc + (int64_t)o * plane;
    for (int32_t j = 0; j < plane; j++) a[j] = 0;
    for (int32_t ci = 0; ci < ig; ci++) {
      const int8_t *xc = x + (int64_t)((o / og) * ig + ci) * l->h * l->w;
      const int8_t *wc = l->wt + ((int64_t)o * ig + ci) * l->kh * l->kw;
      for (int32_t ky = 0; ky < l->kh; ky++)
        for (int32_t kx = 0; kx < l->kw; kx++) {
          NxAcc wv = wc[ky * l->kw + kx];
          int32_t lo, hi, base = kx - l->pw;
          nx_cols(l, kx, &lo, &hi);
          if (wv == 0) continue;
          for (int32_t oy = 0; oy < l->oh; oy++) {
            int32_t iy = oy * l->sh - l->ph + ky;
            if (iy < 0 || iy >= l->h) continue;
            const int8_t *xr = xc + (int64_t)iy * l->w;
            NxAcc *ar = a + (int64_t)oy * l->ow;
            if (l->sw == 1)
              for (int32_t ox = lo; ox < hi; ox++) ar[ox] += wv * xr[ox + base];
            else
              for (int32_t ox = lo; ox < hi; ox++) ar[ox] += wv * xr[ox * l->sw + base];
          }
        }
    }
  }
}

/* Pools over (C, H, W): max (padding never wins; a window of padding only
 * gives 0) into y, or window sums (padding counts as zero) into acc. */
static void nx_pool(const NxLayer *l, const int8_t *x, int8_t *y, NxAcc *acc) {
  for (int32_t c = 0; c < l->c; c++)
    for (int32_t oy = 0; oy < l->oh; oy++)
      for (int32_t ox = 0; ox < l->ow; ox++) {
        int32_t best = 0, seen = 0;
        NxAcc s = 0;
        for (int32_t ky = 0; ky < l->kh; ky++)
          for (int32_t kx = 0; kx < l->kw; kx++) {
            int32_t iy = oy * l->sh - l->ph + ky, ix = ox * l->sw - l->pw + kx;
            if (iy < 0 || iy >= l->h || ix < 0 || ix >= l->w) continue;
            int32_t v = x[((int64_t)c * l->h + iy) * l->w + ix];
            if (!seen || v > best) best = v;
            seen = 1;
            s += v;
          }
        int64_t at = ((int64_t)c * l->oh + oy) * l->ow + ox;
        if (l->op == NX_MAXPOOL)
          y[at] = (int8_t)best;
        else
          acc[at] = s;
      }
}

/* A batch norm at evaluation (batchnorm, l1norm: running statistics), as
 * the runtime's norm kernels compute it (runtime/norm.c, "LINSUM"):
 * S = a_c v 2^s_x + b_c per element, every term aligned to the common
 * exponent W = max(smallest exponent, highest top bit - 60) of the live
 * pairs, a term below W rounded half away from zero. The coefficients are
 * S31 values m 2^e (|m| < 2^31) that export computed from the checkpoint.
 * Returns W. */
static int64_t nx_align(int64_t m, int64_t u, int64_t d) {
  int64_t p = m * u; /* |m| < 2^31 and |u| <= 128: no overflow */
  if (p == 0) return 0;
  if (d >= 0) return (int64_t)((uint64_t)p << d); /* at most 2^60 by the choice of W */
  uint64_t a = nx_abs(p), r = -d > 64 ? 0 : -d == 64 ? a >> 63 : (a >> -d) + ((a >> (-d - 1)) & 1);
  return p < 0 ? -(int64_t)r : (int64_t)r;
}

typedef struct NxLin {
  int32_t live;
  int64_t emin, h; /* smallest exponent, highest top bit of the live pairs */
} NxLin;

static void nx_see(NxLin *L, int64_t m, int64_t e, uint64_t umax) {
  if (m == 0 || umax == 0) return;
  int64_t top = e + 31 + nx_bits(umax);
  if (!L->live || e < L->emin) L->emin = e;
  if (!L->live || top > L->h) L->h = top;
  L->live = 1;
}

static int32_t nx_norm(const NxLayer *l, const int8_t *x, int32_t sx, NxAcc *acc) {
  int32_t hw = l->h * l->w;
  uint64_t umax = 0;
  for (int32_t j = 0; j < l->c * hw; j++)
    if (nx_abs(x[j]) > umax) umax = nx_abs(x[j]);
  NxLin L = {0, 0, 0};
  for (int32_t c = 0; c < l->c; c++) nx_see(&L, l->coef[4 * c], (int64_t)l->coef[4 * c + 1] + sx, umax);
  for (int32_t c = 0; c < l->c; c++) nx_see(&L, l->coef[4 * c + 2], l->coef[4 * c + 3], 1);
  if (!L.live) { /* the zero tensor */
    for (int32_t j = 0; j < l->c * hw; j++) acc[j] = 0;
    return 0;
  }
  int64_t w = L.emin > L.h - 60 ? L.emin : L.h - 60;
  for (int32_t c = 0; c < l->c; c++) {
    const int32_t *q = l->coef + 4 * c;
    int64_t shift = q[2] ? nx_align(q[2], 1, q[3] - w) : 0, d = (int64_t)q[1] + sx - w;
    for (int32_t k = 0; k < hw; k++) acc[c * hw + k] = nx_align(q[0], x[c * hw + k], d) + shift;
  }
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
      nx_conv(l, a, acc);
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
