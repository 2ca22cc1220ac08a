/*
 * ref.c: the numerics reference (see ref.h and docs/numerics.md).
 *
 * Design: every rule is one small function written as a plain loop nest over
 * row-major NCHW tensors; accumulators are int64 throughout (the oracle does
 * not need the int32 fast path the compiler proves safe). Signed values are
 * rounded in sign-magnitude on uint64_t so that no shift ever touches a
 * negative number and INT64_MIN is harmless. The network driver at the end
 * only sequences these functions; it adds no arithmetic of its own except
 * choosing exponents and keys.
 */
#include "ref.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- primitives */

int ref_bits(uint64_t v) {
  int b = 0;
  while (v) {
    b++;
    v >>= 1;
  }
  return b;
}

uint64_t ref_abs64(int64_t x) {
  return x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
}

int ref_bitlen8(const int8_t *v, int64_t count) {
  uint64_t m = 0;
  for (int64_t j = 0; j < count; j++)
    if (ref_abs64(v[j]) > m)
      m = ref_abs64(v[j]);
  return ref_bits(m);
}

int ref_bitlen32(const int32_t *v, int64_t count) {
  uint64_t m = 0;
  for (int64_t j = 0; j < count; j++)
    if (ref_abs64(v[j]) > m)
      m = ref_abs64(v[j]);
  return ref_bits(m);
}

int ref_bitlen64(const int64_t *v, int64_t count) {
  uint64_t m = 0;
  for (int64_t j = 0; j < count; j++)
    if (ref_abs64(v[j]) > m)
      m = ref_abs64(v[j]);
  return ref_bits(m);
}

int64_t ref_sat(int64_t x, int64_t lim) {
  if (x > lim)
    return lim;
  if (x < -lim)
    return -lim;
  return x;
}

int8_t ref_sat8(int64_t x) {
  return (int8_t)ref_sat(x, 127);
}

/* u >> s and the mask of the low s bits, defined for every s >= 0. */
static uint64_t shr(uint64_t u, int s) {
  return s >= 64 ? 0 : u >> s;
}

static uint64_t low_mask(int s) {
  return s >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << s) - 1;
}

/* The `up` decision of NITI Algorithm 2 for a fraction f of k >= 1 bits
 * above an integer part q. */
static int pseudo_up(uint64_t q, uint64_t f, int k) {
  if (k == 1) /* no bits to compare: round half to even */
    return f != 0 && (q & 1) != 0;
  int bp = k;
  if (bp % 2 == 1) { /* odd: drop the lowest fraction bit */
    f >>= 1;
    bp -= 1;
  }
  int half = bp / 2;
  uint64_t hi = shr(f, half);
  uint64_t lo = f & low_mask(half);
  return hi > lo;
}

int64_t ref_round_wide(int64_t x, int k, int mode, uint64_t key, uint64_t index) {
  if (k <= 0)
    return x;
  uint64_t a = ref_abs64(x);
  uint64_t q = shr(a, k);
  uint64_t f = a & low_mask(k);
  int up = 0;
  switch (mode) {
  case NIT_ROUND_PSEUDO:
    up = pseudo_up(q, f, k);
    break;
  case NIT_ROUND_STOCHASTIC:
    up = f > (nit_draw(key, index) & low_mask(k));
    break;
  case NIT_ROUND_NEAREST: /* half away from zero: f >= 2^(k-1) */
    up = k - 1 < 64 && f >= ((uint64_t)1 << (k - 1));
    break;
  default: /* unknown modes truncate; callers validate modes */
    break;
  }
  /* q + up <= 2^63 - 1 because k >= 1 */
  int64_t m = (int64_t)(q + (uint64_t)up);
  return x < 0 ? -m : m;
}

int ref_round(int64_t x, int k, int mode, uint64_t key, uint64_t index) {
  return ref_sat8(ref_round_wide(x, k, mode, key, index));
}

int ref_requant(const int64_t *acc, int64_t count, int mode, uint64_t key, int8_t *out) {
  int b = ref_bitlen64(acc, count);
  int k = b > 7 ? b - 7 : 0;
  for (int64_t j = 0; j < count; j++)
    out[j] = (int8_t)ref_round(acc[j], k, mode, key, (uint64_t)j);
  return k;
}

int64_t ref_floor_shr(int64_t v, int64_t k) {
  if (k <= 0)
    return v;
  if (k >= 63)
    return v < 0 ? -1 : 0;
  uint64_t a = ref_abs64(v);
  uint64_t d = (uint64_t)1 << k;
  if (v >= 0)
    return (int64_t)(a / d);
  return -(int64_t)((a + d - 1) / d); /* floor of a negative value */
}

uint64_t ref_isqrt(uint64_t v) {
  /* bit by bit from the top: r is the largest value with r*r <= v so far */
  uint64_t r = 0;
  for (int bit = 31; bit >= 0; bit--) {
    uint64_t t = r | ((uint64_t)1 << bit);
    if (t * t <= v)
      r = t;
  }
  return r;
}

int ref_quantize_u8(const uint8_t *p, int64_t count, int8_t *x) {
  for (int64_t j = 0; j < count; j++)
    x[j] = (int8_t)(p[j] >> 1);
  return -7;
}

/* ---------------------------------------------------------------- init */

void ref_init_rule(int64_t fan_in, int *exp, int *bound) {
  if (fan_in < 1)
    fan_in = 1;
  /* c = smallest integer with fan_in * 4^c >= 6 */
  int c = 0;
  if (fan_in >= 6) {
    /* c <= 0: fan_in * 4^c >= 6  <=>  fan_in >= 6 * 4^-c */
    while (fan_in >= ((int64_t)6 << (2 * (-(c - 1)))))
      c--;
  } else {
    while (fan_in * ((int64_t)1 << (2 * c)) < 6)
      c++;
  }
  *exp = c - 7;
  /* M = min(127, isqrt(floor(6 * 4^(7 - c) / fan_in))); 7 - c >= 5 */
  uint64_t num = (uint64_t)6 << (2 * (7 - c));
  uint64_t m = ref_isqrt(num / (uint64_t)fan_in);
  *bound = m > 127 ? 127 : (int)m;
}

void ref_init_weights(int8_t *w, int64_t count, int bound, uint64_t seed, int p) {
  uint64_t key = nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p));
  uint64_t span = 2 * (uint64_t)bound + 1;
  for (int64_t j = 0; j < count; j++)
    w[j] = (int8_t)((int)(nit_draw(key, (uint64_t)j) % span) - bound);
}

/* -------------------------------------------------------------- layers */

int ref_out_size(int in, int k, int stride, int pad) {
  if (stride < 1 || in + 2 * pad < k)
    return 0;
  return (in + 2 * pad - k) / stride + 1;
}

void ref_dense_forward(const int8_t *x, int n, int I, const int8_t *w, int O, int64_t *acc) {
  for (int b = 0; b < n; b++)
    for (int o = 0; o < O; o++) {
      int64_t s = 0;
      for (int i = 0; i < I; i++)
        s += (int64_t)x[(int64_t)b * I + i] * w[(int64_t)o * I + i];
      acc[(int64_t)b * O + o] = s;
    }
}

void ref_dense_backward(const int8_t *e, int n, int O, const int8_t *w, int I, int64_t *e32) {
  for (int b = 0; b < n; b++)
    for (int i = 0; i < I; i++) {
      int64_t s = 0;
      for (int o = 0; o < O; o++)
        s += (int64_t)e[(int64_t)b * O + o] * w[(int64_t)o * I + i];
      e32[(int64_t)b * I + i] = s;
    }
}

void ref_dense_grad(const int8_t *x, const int8_t *e, int n, int I, int O, int64_t *g32) {
  for (int o = 0; o < O; o++)
    for (int i = 0; i < I; i++) {
      int64_t s = 0;
      for (int b = 0; b < n; b++)
        s += (int64_t)e[(int64_t)b * O + o] * x[(int64_t)b * I + i];
      g32[(int64_t)o * I + i] = s;
    }
}

/* Flat indices of (b, c, y, x) in the input, output and weight tensors. */
static int64_t in_at(const RefGeom *g, int b, int c, int y, int x) {
  return (((int64_t)b * g->c + c) * g->h + y) * g->w + x;
}

static int64_t out_at(const RefGeom *g, int b, int o, int y, int x) {
  return (((int64_t)b * g->o + o) * g->oh + y) * g->ow + x;
}

static int64_t w_at(const RefGeom *g, int o, int ci, int ky, int kx) {
  return (((int64_t)o * (g->c / g->groups) + ci) * g->kh + ky) * g->kw + kx;
}

void ref_conv_forward(const RefGeom *g, const int8_t *x, int n, const int8_t *w, int64_t *acc) {
  int ig = g->c / g->groups, og = g->o / g->groups;
  for (int b = 0; b < n; b++)
    for (int o = 0; o < g->o; o++)
      for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
          int grp = o / og;
          int64_t s = 0;
          for (int ci = 0; ci < ig; ci++)
            for (int ky = 0; ky < g->kh; ky++)
              for (int kx = 0; kx < g->kw; kx++) {
                int iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                  continue; /* zero padding */
                s += (int64_t)x[in_at(g, b, grp * ig + ci, iy, ix)] * w[w_at(g, o, ci, ky, kx)];
              }
          acc[out_at(g, b, o, oy, ox)] = s;
        }
}

void ref_conv_backward(const RefGeom *g, const int8_t *e, int n, const int8_t *w, int64_t *e32) {
  int ig = g->c / g->groups, og = g->o / g->groups;
  memset(e32, 0, sizeof *e32 * (size_t)n * (size_t)g->c * (size_t)g->h * (size_t)g->w);
  /* the same index map as the forward pass, with the flow reversed: every
   * output error reaches each input it was computed from, times its weight */
  for (int b = 0; b < n; b++)
    for (int o = 0; o < g->o; o++)
      for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
          int grp = o / og;
          int64_t ev = e[out_at(g, b, o, oy, ox)];
          for (int ci = 0; ci < ig; ci++)
            for (int ky = 0; ky < g->kh; ky++)
              for (int kx = 0; kx < g->kw; kx++) {
                int iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                  continue;
                e32[in_at(g, b, grp * ig + ci, iy, ix)] += ev * w[w_at(g, o, ci, ky, kx)];
              }
        }
}

void ref_conv_grad(const RefGeom *g, const int8_t *x, const int8_t *e, int n, int64_t *g32) {
  int ig = g->c / g->groups, og = g->o / g->groups;
  for (int o = 0; o < g->o; o++)
    for (int ci = 0; ci < ig; ci++)
      for (int ky = 0; ky < g->kh; ky++)
        for (int kx = 0; kx < g->kw; kx++) {
          int grp = o / og;
          int64_t s = 0;
          for (int b = 0; b < n; b++)
            for (int oy = 0; oy < g->oh; oy++)
              for (int ox = 0; ox < g->ow; ox++) {
                int iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                  continue;
                s += (int64_t)e[out_at(g, b, o, oy, ox)] * x[in_at(g, b, grp * ig + ci, iy, ix)];
              }
          g32[w_at(g, o, ci, ky, kx)] = s;
        }
}

/* The first maximum of window (b, c, oy, ox), or -1 if the window holds only
 * padding. Row-major window order; a later equal value never wins. */
static int64_t window_argmax(const RefGeom *g, const int8_t *x, int b, int c, int oy, int ox) {
  int64_t best = -1;
  for (int ky = 0; ky < g->kh; ky++)
    for (int kx = 0; kx < g->kw; kx++) {
      int iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
      if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
        continue; /* padding never wins */
      int64_t at = in_at(g, b, c, iy, ix);
      if (best < 0 || x[at] > x[best])
        best = at;
    }
  return best;
}

void ref_maxpool_forward(const RefGeom *g, const int8_t *x, int n, int8_t *out) {
  for (int b = 0; b < n; b++)
    for (int c = 0; c < g->c; c++)
      for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
          int64_t at = window_argmax(g, x, b, c, oy, ox);
          out[out_at(g, b, c, oy, ox)] = at < 0 ? 0 : x[at];
        }
}

void ref_maxpool_backward(const RefGeom *g, const int8_t *x, const int8_t *e, int n,
                          int64_t *e32) {
  memset(e32, 0, sizeof *e32 * (size_t)n * (size_t)g->c * (size_t)g->h * (size_t)g->w);
  for (int b = 0; b < n; b++)
    for (int c = 0; c < g->c; c++)
      for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
          int64_t at = window_argmax(g, x, b, c, oy, ox);
          if (at >= 0)
            e32[at] += e[out_at(g, b, c, oy, ox)];
        }
}

void ref_avgpool_forward(const RefGeom *g, const int8_t *x, int n, int64_t *sum) {
  for (int b = 0; b < n; b++)
    for (int c = 0; c < g->c; c++)
      for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
          int64_t s = 0;
          for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
              int iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
              if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                continue; /* padding counts as zero */
              s += x[in_at(g, b, c, iy, ix)];
            }
          sum[out_at(g, b, c, oy, ox)] = s;
        }
}

void ref_avgpool_backward(const RefGeom *g, const int8_t *e, int n, int64_t *e32) {
  memset(e32, 0, sizeof *e32 * (size_t)n * (size_t)g->c * (size_t)g->h * (size_t)g->w);
  for (int b = 0; b < n; b++)
    for (int c = 0; c < g->c; c++)
      for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++)
          for (int ky = 0; ky < g->kh; ky++)
            for (int kx = 0; kx < g->kw; kx++) {
              int iy = oy * g->sh - g->ph + ky, ix = ox * g->sw - g->pw + kx;
              if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                continue;
              e32[in_at(g, b, c, iy, ix)] += e[out_at(g, b, c, oy, ox)];
            }
}

int ref_log2_exact(int64_t v) {
  for (int l = 0; l < 62; l++)
    if (v == ((int64_t)1 << l))
      return l;
  return -1;
}

void ref_relu_forward(const int8_t *x, int64_t count, int8_t *out) {
  for (int64_t j = 0; j < count; j++)
    out[j] = x[j] > 0 ? x[j] : 0;
}

void ref_relu_backward(const int8_t *x, const int8_t *e, int64_t count, int8_t *out) {
  for (int64_t j = 0; j < count; j++)
    out[j] = x[j] > 0 ? e[j] : 0;
}

int ref_dropped(uint64_t key, uint64_t index, int drop256) {
  return (int)(nit_draw(key, index) >> 56) < drop256;
}

void ref_dropout_apply(const int8_t *x, int64_t count, int drop256, uint64_t key, int8_t *out) {
  for (int64_t j = 0; j < count; j++)
    out[j] = ref_dropped(key, (uint64_t)j, drop256) ? 0 : x[j];
}

int ref_align_sum(const int8_t *const *t, const int *exps, int nt, int64_t count, int64_t *sum) {
  int lo = exps[0], hi = exps[0];
  for (int i = 1; i < nt; i++) {
    if (exps[i] < lo)
      lo = exps[i];
    if (exps[i] > hi)
      hi = exps[i];
  }
  int s = lo;
  if ((int64_t)hi - lo > 48)
    s = hi - 48;
  for (int64_t j = 0; j < count; j++)
    sum[j] = 0;
  for (int i = 0; i < nt; i++) {
    if (exps[i] < s)
      continue; /* more than 48 bits below the largest: dropped */
    int64_t mul = (int64_t)1 << (exps[i] - s); /* exact left shift */
    for (int64_t j = 0; j < count; j++)
      sum[j] += t[i][j] * mul;
  }
  return s;
}

/* ------------------------------------------------------------------ loss */

/* Base-2 branch (s > -7): u_i = 2^d_i - 1 with d_i the clamped exponent. */
static void loss_u_base2(const int8_t *a, int s, int classes, int64_t *u) {
  int64_t m = INT64_MIN;
  for (int i = 0; i < classes; i++) {
    int64_t c = (int64_t)a[i] * 47274; /* a_i * log2(e) * 2^15 */
    int64_t x;
    if (15 - s > 0) { /* truncate toward zero: shift the magnitude */
      int64_t mag = (int64_t)(ref_abs64(c) >> (15 - s));
      x = c < 0 ? -mag : mag;
    } else {
      /* a left shift by L = s - 15. For L >= 4 two different c already
       * differ by >= 16 > 10, so every d_i is 0 or 10 whatever L is;
       * capping L at 16 therefore changes no d_i and avoids overflow. */
      int l = s - 15 > 16 ? 16 : s - 15;
      x = c * ((int64_t)1 << l);
    }
    u[i] = x;
    if (x > m)
      m = x;
  }
  for (int i = 0; i < classes; i++) {
    int64_t d = u[i] - (m - 10);
    if (d < 0)
      d = 0;
    if (d > 10)
      d = 10;
    u[i] = ((int64_t)1 << d) - 1;
  }
}

/* Taylor branch (s <= -7), with q = -s:
 *   u_i = floor((2^(1+2q) + a_i 2^(1+q) + a_i^2) / 2^p),  p = max(0, 2q - 48),
 * i.e. the exact 2^(1-2s) + a 2^(1-s) + a^2 pre-shifted so that u_i < 2^50
 * and u_i << 11 fits int64. p == 0 for s >= -24. */
static void loss_u_taylor(const int8_t *a, int s, int classes, int64_t *u) {
  int64_t q = -(int64_t)s;
  int64_t p = 2 * q - 48 > 0 ? 2 * q - 48 : 0;
  for (int i = 0; i < classes; i++) {
    int64_t ai = a[i];
    int64_t t0 = (int64_t)1 << (1 + 2 * q - p); /* 1 + 2q - p <= 49 */
    int64_t v;                                  /* floor((a 2^(1+q) + a^2) / 2^p) */
    if (p == 0)
      v = ai * ((int64_t)1 << (1 + q)) + ai * ai;
    else if (1 + q >= p) /* a 2^(1+q) is a multiple of 2^p */
      v = ai * ((int64_t)1 << (1 + q - p)) + ref_floor_shr(ai * ai, p);
    else /* nested floors: divide by 2^(1+q) first, then by 2^(p-1-q) */
      v = ref_floor_shr(ai + ref_floor_shr(ai * ai, 1 + q), p - 1 - q);
    u[i] = t0 + v;
  }
}

void ref_loss_row32(const int8_t *a, int s, int classes, int y, int64_t *e32) {
  if (s > -7)
    loss_u_base2(a, s, classes, e32);
  else
    loss_u_taylor(a, s, classes, e32);
  int64_t U = 0;
  for (int i = 0; i < classes; i++)
    U += e32[i];
  int64_t C = 0;
  for (int i = 0; i < classes; i++) {
    e32[i] = (e32[i] << 11) / U; /* U >= 1023 > 0; u_i >= 0 */
    C += e32[i];
  }
  e32[y] -= C;
}

void ref_loss_grad(const int8_t *logits, int s, int n, int classes, const int32_t *y,
                   int mode, uint64_t key, int64_t *e32, int8_t *e) {
  for (int b = 0; b < n; b++) {
    ref_loss_row32(logits + (int64_t)b * classes, s, classes, y[b], e32);
    for (int i = 0; i < classes; i++) {
      uint64_t idx = (uint64_t)b * (uint64_t)classes + (uint64_t)i;
      e[idx] = (int8_t)ref_round(e32[i], 4, mode, key, idx);
    }
  }
}

/* ---------------------------------------------------------------- update */

void ref_wide_view(const int16_t *wide, int64_t count, int bits, int8_t *w8) {
  for (int64_t j = 0; j < count; j++)
    w8[j] = (int8_t)ref_round(wide[j], bits - 8, NIT_ROUND_PSEUDO, 0, (uint64_t)j);
}

int ref_update(int64_t *g32, int64_t count, int8_t *w8, int16_t *wide, int bits, int mu,
               int mode, uint64_t key, int decay) {
  int b = ref_bitlen64(g32, count);
  if (b == 0)
    return 0; /* no gradient: no update, and no decay either */
  if (decay) {
    /* g32 += w * 2^(b - 15), truncated toward zero when b < 15 */
    for (int64_t j = 0; j < count; j++) {
      int64_t d;
      if (b >= 15) {
        d = (int64_t)w8[j] * ((int64_t)1 << (b - 15));
      } else {
        int64_t mag = (int64_t)(ref_abs64(w8[j]) >> (15 - b));
        d = w8[j] < 0 ? -mag : mag;
      }
      g32[j] += d;
    }
    b = ref_bitlen64(g32, count);
    if (b == 0)
      return 0;
  }
  /* m_u bits of the int8 view's units: with F = bits - 8 fraction bits the
   * rounded gradient keeps m_u + F bits, so a step is as large as with int8
   * weights, only finer */
  int k = b - mu - (bits > 8 ? bits - 8 : 0);
  int64_t lim = bits > 8 ? ((int64_t)1 << (bits - 1)) - 1 : 127;
  for (int64_t j = 0; j < count; j++) {
    int64_t g = k <= 0 ? g32[j] : ref_round_wide(g32[j], k, mode, key, (uint64_t)j);
    if (bits > 8)
      wide[j] = (int16_t)ref_sat((int64_t)wide[j] - g, lim);
    else
      w8[j] = (int8_t)ref_sat((int64_t)w8[j] - g, lim);
  }
  return b;
}

/* ---------------------------------------------------------------- RefNet */

RefOpts ref_default_opts(void) {
  RefOpts o;
  memset(&o, 0, sizeof o); /* recipe niti; the settings of masters unused */
  o.seed = 1;
  o.mu = 3;
  o.act_round = NIT_ROUND_PSEUDO;
  o.err_round = NIT_ROUND_STOCHASTIC;
  o.grad_round = NIT_ROUND_PSEUDO;
  o.decay = 0;
  return o;
}

RefOpts ref_ghaffari_opts(void) {
  RefOpts o = ref_default_opts();
  o.recipe = REF_RECIPE_GHAFFARI;
  o.act_round = o.err_round = o.grad_round = NIT_ROUND_STOCHASTIC;
  o.view_round = o.update_round = NIT_ROUND_STOCHASTIC;
  o.bits_act = o.bits_weight = o.bits_grad = 8;
  o.master_bits = 16;
  o.eta = rec_sdec(1, 2);      /* lr 0.01 */
  o.momentum = rec_sdec(9, 1); /* 0.9 */
  o.wdecay = rec_sdec(5, 4);   /* 0.0005 */
  return o;
}

RefOpts ref_unified_opts(void) {
  RefOpts o = ref_ghaffari_opts();
  o.recipe = REF_RECIPE_UNIFIED;
  o.act_round = o.view_round = NIT_ROUND_NEAREST;
  o.clip = (RecClipOpts){.on = 1, .every = 100, .range = 4, .grid = NIT_GRID_EIGHTH, .b = 8};
  o.lrscale = 1;
  o.alpha_q16 = rec_q16_dec(20, 0);
  o.beta_q30 = rec_q30_dec(1, 1);
  return o;
}

RefOpts ref_shiftquant_opts(void) {
  RefOpts o = ref_ghaffari_opts();
  o.recipe = REF_RECIPE_SHIFTQUANT;
  o.bits_grad = 4;
  o.act_round = o.view_round = NIT_ROUND_NEAREST;
  o.groups = NIT_GROUPS_CHANNEL;
  return o;
}

int ref_recipe_parse(const char *name) {
  if (!strcmp(name, "niti"))
    return REF_RECIPE_NITI;
  if (!strcmp(name, "ghaffari"))
    return REF_RECIPE_GHAFFARI;
  if (!strcmp(name, "shiftquant"))
    return REF_RECIPE_SHIFTQUANT;
  if (!strcmp(name, "unified"))
    return REF_RECIPE_UNIFIED;
  return -1;
}

const char *ref_recipe_name(int recipe) {
  return recipe == REF_RECIPE_GHAFFARI     ? "ghaffari"
         : recipe == REF_RECIPE_SHIFTQUANT ? "shiftquant"
         : recipe == REF_RECIPE_UNIFIED    ? "unified"
         : recipe == REF_RECIPE_NITI       ? "niti"
                                           : "?";
}

/* The recipes with masters, a learning rate and the rules of R§2-§7. */
static int masters_recipe(int recipe) {
  return recipe == REF_RECIPE_GHAFFARI || recipe == REF_RECIPE_SHIFTQUANT ||
         recipe == REF_RECIPE_UNIFIED;
}

const char *ref_op_name(RefOp op) {
  static const char *names[] = {"input",   "dense",     "conv",      "maxpool",
                                "avgpool", "relu",      "flatten",   "dropout",
                                "add",     "batchnorm", "layernorm", "l1norm",
                                "l1layernorm"};
  return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

static int is_norm(RefOp op) {
  return op >= REF_BATCHNORM && op <= REF_L1LAYERNORM;
}

static int has_norm(const RefNet *net) {
  for (int i = 1; i < net->nnodes; i++)
    if (is_norm(net->nodes[i].op))
      return 1;
  return 0;
}

static int fail(RefNet *net, const char *what, int node) {
  if (node >= 0)
    snprintf(net->msg, sizeof net->msg, "node %d (%s): %s", node,
             ref_op_name(net->nodes[node].op), what);
  else
    snprintf(net->msg, sizeof net->msg, "%s", what);
  return -1;
}

RefNet *ref_net_new(int nnodes) {
  if (nnodes < 1)
    return NULL;
  RefNet *net = calloc(1, sizeof *net);
  if (!net)
    return NULL;
  net->nnodes = nnodes;
  net->nodes = calloc((size_t)nnodes, sizeof *net->nodes);
  if (!net->nodes) {
    free(net);
    return NULL;
  }
  for (int i = 0; i < nnodes; i++) {
    net->nodes[i].in[0] = net->nodes[i].in[1] = -1;
    net->nodes[i].groups = 1;
    net->nodes[i].param = -1;
  }
  net->weight_bits = 8;
  return net;
}

static void free_buffers(RefNet *net) {
  for (int i = 0; net->act && i < net->nnodes; i++) {
    free(net->act[i]);
    free(net->err[i]);
    free(net->ein[0][i]);
    free(net->ein[1][i]);
  }
  free(net->act);
  free(net->err);
  free(net->ein[0]);
  free(net->ein[1]);
  free(net->err_mu);
  free(net->ein_mu[0]);
  free(net->ein_mu[1]);
  net->err_mu = net->ein_mu[0] = net->ein_mu[1] = NULL;
  free(net->wide_acc);
  free(net->wide_acc2);
  free(net->loss_e);
  free(net->norm_scratch);
  free(net->sq_kc);
  net->sq_kc = NULL;
  net->sq_groups = 0;
  for (int i = 0; net->nstat && i < net->nnodes; i++)
    free(net->nstat[i]);
  free(net->nstat);
  net->nstat = NULL;
  net->norm_scratch = NULL;
  net->act = net->err = net->ein[0] = net->ein[1] = NULL;
  net->wide_acc = net->wide_acc2 = NULL;
  net->loss_e = NULL;
  net->cap = 0;
}

void ref_net_free(RefNet *net) {
  if (!net)
    return;
  free_buffers(net);
  for (int p = 0; net->params && p < net->nparams; p++) {
    free(net->params[p].w);
    free(net->params[p].wide);
    free(net->params[p].g32);
    free(net->params[p].master);
    free(net->params[p].mom);
    free(net->params[p].G);
  }
  free(net->params);
  for (int i = 0; net->run_mean && i < net->nnodes; i++) {
    free(net->run_mean[i]);
    free(net->run_dev[i]);
  }
  free(net->run_mean);
  free(net->run_dev);
  free(net->site_tid);
  free(net->node_site);
  free(net->clip);
  free(net->site_dq);
  free(net->site_phi);
  free(net->act_exp);
  free(net->err_exp);
  free(net->has_err);
  free(net->need_err);
  free(net->ein_exp[0]);
  free(net->ein_exp[1]);
  free(net->nodes);
  free(net);
}

static int64_t per_sample(const RefNode *nd) {
  return (int64_t)nd->c * nd->h * nd->w;
}

static RefGeom geom_of(const RefNet *net, int i) {
  const RefNode *nd = &net->nodes[i], *in = &net->nodes[nd->in[0]];
  RefGeom g;
  g.c = in->c, g.h = in->h, g.w = in->w;
  g.o = nd->c, g.oh = nd->h, g.ow = nd->w;
  g.kh = nd->kh, g.kw = nd->kw, g.sh = nd->sh, g.sw = nd->sw, g.ph = nd->ph, g.pw = nd->pw;
  g.groups = nd->op == REF_CONV ? nd->groups : 1;
  return g;
}

/* Shapes of one node from its inputs; 0 or -1. */
static int shape_node(RefNet *net, int i) {
  RefNode *nd = &net->nodes[i];
  int nin = nd->op == REF_ADD ? 2 : 1;
  for (int s = 0; s < 2; s++) {
    if (s < nin && (nd->in[s] < 0 || nd->in[s] >= i))
      return fail(net, "input must be an earlier node", i);
    if (s >= nin && nd->in[s] != -1)
      return fail(net, "too many inputs", i);
  }
  const RefNode *a = &net->nodes[nd->in[0]];
  switch (nd->op) {
  case REF_INPUT:
    return fail(net, "only node 0 is the input", i);
  case REF_DENSE:
    if (nd->units < 1)
      return fail(net, "dense needs units >= 1", i);
    nd->c = nd->units, nd->h = 1, nd->w = 1;
    return 0;
  case REF_CONV:
  case REF_MAXPOOL:
  case REF_AVGPOOL:
    if (nd->kh < 1 || nd->kw < 1 || nd->sh < 1 || nd->sw < 1 || nd->ph < 0 || nd->pw < 0)
      return fail(net, "bad window, stride or padding", i);
    nd->h = ref_out_size(a->h, nd->kh, nd->sh, nd->ph);
    nd->w = ref_out_size(a->w, nd->kw, nd->sw, nd->pw);
    if (nd->h < 1 || nd->w < 1)
      return fail(net, "window larger than the padded input", i);
    if (nd->op == REF_CONV) {
      if (nd->units < 1 || nd->groups < 1 || a->c % nd->groups || nd->units % nd->groups)
        return fail(net, "channels must divide by groups", i);
      nd->c = nd->units;
    } else {
      nd->c = a->c;
      if (nd->ph >= nd->kh || nd->pw >= nd->kw)
        return fail(net, "pool padding must be smaller than the window", i);
      if (nd->op == REF_AVGPOOL && ref_log2_exact((int64_t)nd->kh * nd->kw) < 0)
        return fail(net, "avgpool window area must be a power of two", i);
    }
    return 0;
  case REF_BATCHNORM:
  case REF_LAYERNORM:
  case REF_L1NORM:
  case REF_L1LAYERNORM:
    if (nd->eps.m == 0) {
      nd->eps = rec_sdec(1, 5);
      nd->nmom = rec_sdec(1, 1);
      nd->one_minus_nmom = rec_sdec(9, 1);
      nd->l1k.m = REC_SQRT_PI_2_Q30, nd->l1k.e = -30;
    }
    nd->c = a->c, nd->h = a->h, nd->w = a->w;
    return 0;
  case REF_RELU:
  case REF_DROPOUT:
    if (nd->op == REF_DROPOUT && (nd->drop256 < 0 || nd->drop256 > 255))
      return fail(net, "dropout probability must be 0..255 / 256", i);
    nd->c = a->c, nd->h = a->h, nd->w = a->w;
    return 0;
  case REF_FLATTEN:
    nd->c = (int)per_sample(a), nd->h = 1, nd->w = 1;
    return 0;
  case REF_ADD: {
    const RefNode *b = &net->nodes[nd->in[1]];
    if (a->c != b->c || a->h != b->h || a->w != b->w)
      return fail(net, "add operands differ in shape", i);
    nd->c = a->c, nd->h = a->h, nd->w = a->w;
    return 0;
  }
  }
  return fail(net, "unknown operation", i);
}

int ref_net_finish(RefNet *net, int output, int weight_bits) {
  if (net->nodes[0].op != REF_INPUT || net->nodes[0].c < 1 || net->nodes[0].h < 1 ||
      net->nodes[0].w < 1)
    return fail(net, "node 0 must be the input with a positive shape", -1);
  if (output < 1 || output >= net->nnodes)
    return fail(net, "output must be a node after the input", -1);
  if (weight_bits < 8 || weight_bits > 16)
    return fail(net, "weight bits must be 8..16", -1);
  net->output = output;
  net->weight_bits = weight_bits;
  /* Invariant: net->nparams counts tensors that exist in net->params, so
   * ref_net_free is safe after a failure at any point below. The count is
   * kept locally until the array is allocated. */
  int nparams = 0;
  for (int i = 1; i < net->nnodes; i++) {
    if (shape_node(net, i))
      return -1;
    RefNode *nd = &net->nodes[i];
    nd->param = nd->op == REF_DENSE || nd->op == REF_CONV ? nparams++ : -1;
    if (is_norm(nd->op)) {
      nd->param = nparams;
      nparams += 2; /* gamma, beta */
    }
  }
  int64_t classes = per_sample(&net->nodes[output]);
  if (classes > REF_MAX_CLASSES)
    return fail(net, "more than 8191 classes (the loss is defined up to 8191)", -1);
  net->classes = (int)classes;

  net->params = calloc((size_t)(nparams ? nparams : 1), sizeof *net->params);
  if (net->params)
    net->nparams = nparams;
  net->act_exp = calloc((size_t)net->nnodes, sizeof(int));
  net->err_exp = calloc((size_t)net->nnodes, sizeof(int));
  net->has_err = calloc((size_t)net->nnodes, 1);
  net->need_err = calloc((size_t)net->nnodes, 1);
  net->ein_exp[0] = calloc((size_t)net->nnodes, sizeof(int));
  net->ein_exp[1] = calloc((size_t)net->nnodes, sizeof(int));
  if (!net->params || !net->act_exp || !net->err_exp || !net->has_err || !net->need_err ||
      !net->ein_exp[0] || !net->ein_exp[1])
    return fail(net, "out of memory", -1);

  /* need_err[i]: node i is weighted or has a weighted ancestor, so the
   * error at its output is needed. Node 0 never needs one. */
  uint8_t *above = calloc((size_t)net->nnodes, 1); /* a weighted node strictly above */
  if (!above)
    return fail(net, "out of memory", -1);
  for (int i = 1; i < net->nnodes; i++) {
    const RefNode *nd = &net->nodes[i];
    for (int s = 0; s < 2; s++) {
      int j = nd->in[s];
      if (j >= 0 && (above[j] || net->nodes[j].param >= 0))
        above[i] = 1;
    }
    net->need_err[i] = above[i] || nd->param >= 0;
  }
  free(above);

  for (int i = 1; i < net->nnodes; i++) {
    RefNode *nd = &net->nodes[i];
    if (nd->param < 0)
      continue;
    for (int r = 0; is_norm(nd->op) && r < 2; r++) {
      RefParam *q = &net->params[nd->param + r];
      q->node = i;
      q->role = 1 + r;
      q->shape[0] = nd->c, q->shape[1] = q->shape[2] = q->shape[3] = 1;
      q->fan_in = 1;
      q->count = nd->c;
      ref_init_rule(1, &q->exp, &q->bound); /* unused: norm layers are not NITI's */
      q->w = calloc((size_t)q->count, 1);
      q->g32 = calloc((size_t)q->count, sizeof(int64_t));
      if (weight_bits > 8)
        q->wide = calloc((size_t)q->count, sizeof(int16_t));
      if (!q->w || !q->g32 || (weight_bits > 8 && !q->wide))
        return fail(net, "out of memory", -1);
    }
    if (is_norm(nd->op))
      continue;
    RefParam *pp = &net->params[nd->param];
    const RefNode *a = &net->nodes[nd->in[0]];
    pp->node = i;
    if (nd->op == REF_DENSE) {
      pp->shape[0] = nd->units, pp->shape[1] = (int)per_sample(a);
      pp->shape[2] = pp->shape[3] = 1;
    } else {
      pp->shape[0] = nd->units, pp->shape[1] = a->c / nd->groups;
      pp->shape[2] = nd->kh, pp->shape[3] = nd->kw;
    }
    pp->fan_in = (int64_t)pp->shape[1] * pp->shape[2] * pp->shape[3];
    pp->count = (int64_t)pp->shape[0] * pp->fan_in;
    ref_init_rule(pp->fan_in, &pp->exp, &pp->bound);
    pp->w = calloc((size_t)pp->count, 1);
    pp->g32 = calloc((size_t)pp->count, sizeof(int64_t));
    if (weight_bits > 8)
      pp->wide = calloc((size_t)pp->count, sizeof(int16_t));
    if (!pp->w || !pp->g32 || (weight_bits > 8 && !pp->wide))
      return fail(net, "out of memory", -1);
  }
  return 0;
}

void ref_init(RefNet *net, uint64_t seed) {
  for (int p = 0; p < net->nparams; p++) {
    RefParam *pp = &net->params[p];
    ref_init_weights(pp->w, pp->count, pp->bound, seed, p);
    if (pp->wide) {
      int f = net->weight_bits - 8;
      for (int64_t j = 0; j < pp->count; j++)
        pp->wide[j] = (int16_t)(pp->w[j] * (1 << f)); /* w << F */
      ref_wide_view(pp->wide, pp->count, net->weight_bits, pp->w);
    }
  }
}

/* The RecNorm of norm node i for n samples. */
static RecNorm norm_of(const RefNet *net, int i, int n) {
  const RefNode *nd = &net->nodes[i];
  RecNorm l;
  l.kind = nd->op == REF_BATCHNORM   ? REC_BN
           : nd->op == REF_LAYERNORM ? REC_LN
           : nd->op == REF_L1NORM    ? REC_L1BN
                                     : REC_L1LN;
  l.n = n;
  l.c = nd->c;
  l.hw = (int64_t)nd->h * nd->w;
  l.eps = nd->eps;
  l.k = nd->l1k;
  return l;
}

int ref_init_recipe(RefNet *net, const RefOpts *o) {
  if (o->recipe == REF_RECIPE_NITI) {
    if (net->recipe != REF_RECIPE_NITI)
      return fail(net, "net was initialized for another recipe", -1);
    if (has_norm(net))
      return fail(net,
                  "normalization layers need a recipe with a learning rate (ghaffari, "
                  "shiftquant)",
                  -1);
    ref_init(net, o->seed);
    return 0;
  }
  if (!masters_recipe(o->recipe))
    return fail(net, "unknown recipe", -1);
  if (net->weight_bits != 8)
    return fail(net, "recipes with masters: finish the net with weight bits 8 (masters carry "
                     "the width)",
                -1);
  if (o->master_bits != 16 && o->master_bits != 32)
    return fail(net, "recipes with masters: master bits must be 16 or 32", -1);
  if (net->nparams > REC_MAX_PARAMS)
    return fail(net, "recipes with masters: more than 32768 parameter tensors", -1);
  for (int p = 0; p < net->nparams; p++) {
    RefParam *pp = &net->params[p];
    size_t bytes = (size_t)pp->count * sizeof(int32_t);
    if (!pp->master)
      pp->master = malloc(bytes);
    if (!pp->G)
      pp->G = malloc(bytes);
    if (o->momentum.m != 0 && !pp->mom)
      pp->mom = malloc(bytes);
    if (o->momentum.m == 0) {
      free(pp->mom);
      pp->mom = NULL;
    }
    if (!pp->master || !pp->G || (o->momentum.m != 0 && !pp->mom))
      return fail(net, "out of memory", -1);
    int bound;
    if (pp->role == 1)
      pp->master_exp = rec_gamma_init(o->master_bits, pp->count, pp->master);
    else if (pp->role == 2)
      pp->master_exp = rec_beta_init(pp->count, pp->master);
    else
      pp->master_exp = rec_master_init(pp->fan_in, o->master_bits, o->seed, p, pp->count,
                                       pp->master, &bound);
    if (pp->mom)
      memset(pp->mom, 0, bytes);
    pp->mom_exp = 0; /* R§1.2: the zero tensor */
    memset(pp->w, 0, (size_t)pp->count);
    memset(pp->G, 0, bytes);
    memset(pp->g32, 0, (size_t)pp->count * sizeof(int64_t));
    pp->view_exp = pp->g_exp = 0;
  }
  if (has_norm(net)) {
    size_t nn = (size_t)net->nnodes;
    if (!net->run_mean)
      net->run_mean = calloc(nn, sizeof *net->run_mean);
    if (!net->run_dev)
      net->run_dev = calloc(nn, sizeof *net->run_dev);
    if (!net->run_mean || !net->run_dev)
      return fail(net, "out of memory", -1);
    for (int i = 1; i < net->nnodes; i++) {
      RefNode *nd = &net->nodes[i];
      if (!is_norm(nd->op))
        continue;
      RecNorm l = norm_of(net, i, 1);
      if (!rec_norm_batch_stats(l.kind))
        continue;
      if (!net->run_mean[i])
        net->run_mean[i] = malloc((size_t)nd->c * sizeof(RecScalar));
      if (!net->run_dev[i])
        net->run_dev[i] = malloc((size_t)nd->c * sizeof(RecScalar));
      if (!net->run_mean[i] || !net->run_dev[i])
        return fail(net, "out of memory", -1);
      rec_norm_running_init(&l, net->run_mean[i], net->run_dev[i]);
    }
  }
  if (o->recipe == REF_RECIPE_UNIFIED && ref_sites_init(net))
    return -1;
  net->recipe = o->recipe;
  net->master_bits = o->master_bits;
  return 0;
}

/* Buffers for n samples; 0 or -1. */
static int reserve(RefNet *net, int n) {
  if (n <= net->cap)
    return 0;
  free_buffers(net);
  size_t nn = (size_t)net->nnodes;
  net->act = calloc(nn, sizeof *net->act);
  net->err = calloc(nn, sizeof *net->err);
  net->ein[0] = calloc(nn, sizeof *net->ein[0]);
  net->ein[1] = calloc(nn, sizeof *net->ein[1]);
  net->err_mu = calloc(nn, sizeof *net->err_mu);
  net->ein_mu[0] = calloc(nn, sizeof *net->ein_mu[0]);
  net->ein_mu[1] = calloc(nn, sizeof *net->ein_mu[1]);
  if (!net->act || !net->err || !net->ein[0] || !net->ein[1] || !net->err_mu || !net->ein_mu[0] ||
      !net->ein_mu[1])
    return fail(net, "out of memory", -1);
  int64_t big = net->classes;
  for (int i = 0; i < net->nnodes; i++) {
    int64_t cnt = (int64_t)n * per_sample(&net->nodes[i]);
    if (cnt > big)
      big = cnt;
    net->act[i] = malloc((size_t)cnt);
    net->err[i] = malloc((size_t)cnt);
    if (!net->act[i] || !net->err[i])
      return fail(net, "out of memory", -1);
  }
  for (int i = 1; i < net->nnodes; i++)
    for (int s = 0; s < 2; s++) {
      int j = net->nodes[i].in[s];
      if (j < 0)
        continue;
      net->ein[s][i] = malloc((size_t)((int64_t)n * per_sample(&net->nodes[j])));
      if (!net->ein[s][i])
        return fail(net, "out of memory", -1);
    }
  for (int p = 0; p < net->nparams; p++)
    if (net->params[p].count > big)
      big = net->params[p].count;
  net->scratch_count = big;
  net->wide_acc = malloc((size_t)big * sizeof(int64_t));
  net->wide_acc2 = malloc((size_t)big * sizeof(int64_t));
  net->loss_e = malloc((size_t)n * (size_t)net->classes);
  /* SQ_b's groups: samples, classes or the channels of any node */
  int64_t ng = n > net->classes ? n : net->classes;
  for (int i = 0; i < net->nnodes; i++)
    if (net->nodes[i].c > ng)
      ng = net->nodes[i].c;
  net->sq_groups = ng;
  net->sq_kc = malloc((size_t)ng * sizeof *net->sq_kc);
  if (!net->wide_acc || !net->wide_acc2 || !net->loss_e || !net->sq_kc)
    return fail(net, "out of memory", -1);
  if (has_norm(net)) {
    net->norm_scratch = malloc((size_t)big * 3 * sizeof(int64_t));
    net->nstat = calloc(nn, sizeof *net->nstat);
    if (!net->norm_scratch || !net->nstat)
      return fail(net, "out of memory", -1);
    for (int i = 1; i < net->nnodes; i++)
      if (is_norm(net->nodes[i].op)) {
        int64_t groups = net->nodes[i].c > n ? net->nodes[i].c : n;
        net->nstat[i] = malloc((size_t)groups * sizeof(RecNormStat));
        if (!net->nstat[i])
          return fail(net, "out of memory", -1);
      }
  }
  net->cap = n;
  return 0;
}

static int check_opts(RefNet *net, const RefOpts *o) {
  int modes[3] = {o->act_round, o->err_round, o->grad_round};
  for (int i = 0; i < 3; i++)
    if (modes[i] < NIT_ROUND_PSEUDO || modes[i] > NIT_ROUND_NEAREST)
      return fail(net, "unknown rounding mode", -1);
  if (o->mu < 1 || o->mu > 62)
    return fail(net, "update bits must be 1..62", -1);
  if (o->recipe != net->recipe)
    return fail(net, masters_recipe(o->recipe) || o->recipe == REF_RECIPE_NITI
                         ? "the net was not initialized for this recipe (ref_init_recipe)"
                         : "unknown recipe",
                -1);
  if (o->recipe == REF_RECIPE_NITI && has_norm(net))
    return fail(net,
                "normalization layers need a recipe with a learning rate (ghaffari, shiftquant)",
                -1);
  if (masters_recipe(o->recipe)) {
    int b[3] = {o->bits_act, o->bits_weight, o->bits_grad};
    for (int i = 0; i < 3; i++)
      if (b[i] < 2 || b[i] > 8)
        return fail(net, "widths must be 2..8", -1);
    if (o->recipe == REF_RECIPE_SHIFTQUANT &&
        (o->groups < NIT_GROUPS_CHANNEL || o->groups > NIT_GROUPS_TENSOR))
      return fail(net, "shiftquant: unknown groups setting", -1);
    if (o->recipe == REF_RECIPE_UNIFIED &&
        (o->clip.every < 1 || o->clip.range < 1 || o->clip.range > 8 ||
         (o->clip.grid != NIT_GRID_EIGHTH && o->clip.grid != NIT_GRID_OCTAVE) || o->alpha_q16 < 1 ||
         o->alpha_q16 > ((int64_t)1000 << 16) || o->beta_q30 < 1 || o->beta_q30 > ((int64_t)1 << 30)))
      return fail(net, "unified: clip or lrscale setting out of range", -1);
    int m2[2] = {o->view_round, o->update_round};
    for (int i = 0; i < 2; i++)
      if (m2[i] < NIT_ROUND_PSEUDO || m2[i] > NIT_ROUND_NEAREST)
        return fail(net, "unknown rounding mode", -1);
    if (o->master_bits != net->master_bits)
      return fail(net, "master bits differ from ref_init_recipe", -1);
    for (int p = 0; p < net->nparams; p++)
      if (o->momentum.m != 0 && !net->params[p].mom)
        return fail(net, "momentum set but initialized without it", -1);
  }
  return 0;
}

/* A recipe with masters (ghaffari, shiftquant): views, RQ_b, the SGD. */
static int is_gh(const RefOpts *o) {
  return masters_recipe(o->recipe);
}

/* The forward quantizer: NITI's RQ_8, RQ_{b_a} under the recipes with
 * masters (R§3.2). Returns k. */
static int rq_act(const RefOpts *o, const int64_t *acc, int64_t count, uint64_t key,
                  int8_t *out) {
  return is_gh(o) ? rec_rq8(acc, count, o->bits_act, o->act_round, key, out)
                  : ref_requant(acc, count, o->act_round, key, out);
}

/* The error quantizer EQ (R§4) of an (n, c, hw) error tensor at exponent
 * s_in at the site with id tid: NITI's RQ_8, ghaffari's RQ_{b_g},
 * shiftquant's SQ_{b_g} with the groups of o->groups (the loss passes c =
 * classes, hw = 1), unified's CQ or RQ_{b_g} (ref_sites.c). *mu: the
 * multiplier of the result (1 but under unified). Returns the exponent
 * increase (k, or SQ's base, or CQ's offset). */
static int rq_err(RefNet *net, const RefOpts *o, const int64_t *acc, int n, int64_t c,
                  int64_t hw, uint64_t step, uint32_t tid, int s_in, int8_t *out, int *mu) {
  int64_t count = (int64_t)n * c * hw;
  uint64_t key = nit_key(o->seed, step, tid);
  *mu = 1;
  if (o->recipe == REF_RECIPE_UNIFIED)
    return ref_site_quant(net, o, tid, step, acc, count, s_in, out, mu);
  if (o->recipe == REF_RECIPE_SHIFTQUANT) {
    int64_t div, ng;
    rec_sq_groups(o->groups, n, c, hw, &div, &ng); /* groups checked by check_opts */
    return rec_sq(acc, count, o->bits_grad, div, ng, o->err_round, key, net->sq_kc, out);
  }
  return is_gh(o) ? rec_rq8(acc, count, o->bits_grad, o->err_round, key, out)
                  : ref_requant(acc, count, o->err_round, key, out);
}

/* EQ of an error with node nd's per-sample shape. */
static int rq_err_node(RefNet *net, const RefOpts *o, const int64_t *acc, int n,
                       const RefNode *nd, uint64_t step, uint32_t tid, int s_in, int8_t *out,
                       int *mu) {
  return rq_err(net, o, acc, n, nd->c, (int64_t)nd->h * nd->w, step, tid, s_in, out, mu);
}

/* Unified's consumers of an error with multiplier mu (R§10.4): the exact
 * wide result times mu (int64). */
static void times_mu(int64_t *v, int64_t count, int mu) {
  for (int64_t j = 0; mu != 1 && j < count; j++)
    v[j] *= mu;
}

/* The exponent of the weights used this step: NITI's fixed s_w, or the
 * exponent of this step's view of the master. */
static int wexp(const RefOpts *o, const RefParam *pp) {
  return is_gh(o) ? pp->view_exp : pp->exp;
}

/* Aligned sum: NITI's ref_align_sum; the recipes with masters skip all-zero
 * operands first (rec_align_sum's rule, docs/recipes.md decision 2), 0 if
 * none is left. */
static int align_sum(const RefOpts *o, const int8_t *const *t, const int *exps, int nt,
                     int64_t count, int64_t *sum) {
  if (!is_gh(o))
    return ref_align_sum(t, exps, nt, count, sum);
  const int8_t *u[256];
  int e[256], m = 0;
  for (int i = 0; i < nt && i < 256; i++)
    if (ref_bitlen8(t[i], count)) {
      u[m] = t[i];
      e[m++] = exps[i];
    }
  if (!m) {
    memset(sum, 0, (size_t)count * sizeof *sum);
    return 0;
  }
  return ref_align_sum(u, e, m, count, sum);
}

/* A pool whose windows cannot overlap (R§3.3): a pass-through under the
 * recipes with masters. */
static int pool_no_overlap(const RefNode *nd) {
  return nd->sh >= nd->kh && nd->sw >= nd->kw;
}

/* Forward of node i (docs/numerics.md, "Forward pass, layer by layer").
 * train: dropout active. */
static void forward_node(RefNet *net, int i, int n, uint64_t step, const RefOpts *o, int train) {
  const RefNode *nd = &net->nodes[i];
  int a = nd->in[0];
  const int8_t *x = net->act[a];
  int sx = net->act_exp[a];
  int8_t *out = net->act[i];
  int64_t count = (int64_t)n * per_sample(nd);
  int64_t *acc = net->wide_acc;
  uint64_t key = nit_key(o->seed, step, NIT_TID_ACT(i));
  RefGeom g;
  switch (nd->op) {
  case REF_INPUT:
    break;
  case REF_DENSE: {
    const RefParam *pp = &net->params[nd->param];
    ref_dense_forward(x, n, pp->shape[1], pp->w, pp->shape[0], acc);
    int k = rq_act(o, acc, count, key, out);
    net->act_exp[i] = sx + wexp(o, pp) + k;
    break;
  }
  case REF_CONV: {
    const RefParam *pp = &net->params[nd->param];
    g = geom_of(net, i);
    ref_conv_forward(&g, x, n, pp->w, acc);
    int k = rq_act(o, acc, count, key, out);
    net->act_exp[i] = sx + wexp(o, pp) + k;
    break;
  }
  case REF_MAXPOOL:
    g = geom_of(net, i);
    ref_maxpool_forward(&g, x, n, out);
    net->act_exp[i] = sx;
    break;
  case REF_AVGPOOL: {
    g = geom_of(net, i);
    ref_avgpool_forward(&g, x, n, acc);
    int k = rq_act(o, acc, count, key, out);
    net->act_exp[i] = sx + k - ref_log2_exact((int64_t)nd->kh * nd->kw);
    break;
  }
  case REF_RELU:
    ref_relu_forward(x, count, out);
    net->act_exp[i] = sx;
    break;
  case REF_FLATTEN:
    memcpy(out, x, (size_t)count);
    net->act_exp[i] = sx;
    break;
  case REF_DROPOUT:
    if (train) {
      ref_dropout_apply(x, count, nd->drop256, nit_key(o->seed, step, NIT_TID_MASK(i)), out);
    } else if (is_gh(o)) {
      /* R§3.6: eval scales by the keep probability, v (256 - p) at s - 8 */
      for (int64_t j = 0; j < count; j++)
        acc[j] = (int64_t)x[j] * (256 - nd->drop256);
      int k = rq_act(o, acc, count, key, out);
      net->act_exp[i] = sx - 8 + k;
      break;
    } else {
      memcpy(out, x, (size_t)count);
    }
    net->act_exp[i] = sx;
    break;
  case REF_BATCHNORM:
  case REF_LAYERNORM:
  case REF_L1NORM:
  case REF_L1LAYERNORM: {
    /* R§7.2 / R§7.3; the group-size limit was checked by forward_all */
    const RefParam *gp = &net->params[nd->param], *bp = &net->params[nd->param + 1];
    RecNorm l = norm_of(net, i, n);
    int sy = 0;
    if (train) {
      rec_norm_forward(&l, x, sx, gp->w, gp->view_exp, bp->w, bp->view_exp, o->bits_act,
                       o->act_round, key, net->nstat[i], out, &sy, net->norm_scratch);
      if (rec_norm_batch_stats(l.kind))
        rec_norm_running_update(&l, net->nstat[i], sx, nd->nmom, nd->one_minus_nmom,
                                net->run_mean[i], net->run_dev[i]);
    } else {
      rec_norm_eval(&l, x, sx, gp->w, gp->view_exp, bp->w, bp->view_exp,
                    net->run_mean ? net->run_mean[i] : NULL, net->run_dev ? net->run_dev[i] : NULL,
                    o->bits_act, o->act_round, key, out, &sy, net->norm_scratch);
    }
    net->act_exp[i] = sy;
    break;
  }
  case REF_ADD: {
    const int8_t *t[2] = {x, net->act[nd->in[1]]};
    int e[2] = {sx, net->act_exp[nd->in[1]]};
    int s = align_sum(o, t, e, 2, count, acc);
    int k = rq_act(o, acc, count, key, out);
    net->act_exp[i] = s + k;
    break;
  }
  }
}

static int forward_all(RefNet *net, const int8_t *x, int in_exp, int n, uint64_t step,
                       const RefOpts *o, int train) {
  if (n < 1)
    return fail(net, "batch must hold at least one sample", -1);
  if (check_opts(net, o) || reserve(net, n))
    return -1;
  net->n = n;
  for (int p = 0; p < net->nparams; p++) {
    RefParam *pp = &net->params[p];
    if (is_gh(o) && !pp->role && o->groups_weight) { /* R§9.4: views by output channel */
      pp->view_exp = rec_view_sq(pp->master, pp->count, pp->shape[0], pp->master_exp, o->bits_weight,
                                 o->view_round, nit_key(o->seed, step, NIT_TID_OPT(p, REC_OPT_VIEW)),
                                 pp->w);
      if (pp->view_exp < -900)
        return fail(net, "out of memory", -1);
    } else if (is_gh(o)) /* R§6.1: the view of the master, once per step */
      pp->view_exp = rec_view(pp->master, pp->count, pp->master_exp,
                              pp->role ? 8 : o->bits_weight, /* R§6.1: norm views 8 bits */
                              o->view_round, nit_key(o->seed, step, NIT_TID_OPT(p, REC_OPT_VIEW)),
                              pp->w);
    else if (pp->wide)
      ref_wide_view(pp->wide, pp->count, net->weight_bits, pp->w);
  }
  for (int i = 1; i < net->nnodes; i++)
    if (is_norm(net->nodes[i].op)) {
      RecNorm l = norm_of(net, i, n);
      int64_t g = rec_norm_group_size(&l);
      if (g < 1 || g > REC_NORM_MAX_GROUP)
        return fail(net, "normalization group larger than 2^20 elements", i);
    }
  memcpy(net->act[0], x, (size_t)((int64_t)n * per_sample(&net->nodes[0])));
  net->act_exp[0] = in_exp;
  for (int i = 1; i < net->nnodes; i++)
    forward_node(net, i, n, step, o, train);
  return 0;
}

/* The error at node i's output: the loss error (output node) and the input
 * errors its consumers produced. One contribution passes unchanged; several
 * are aligned, summed exactly and requantized once (err mode, key SUM(i)). */
static void gather_error(RefNet *net, int i, int n, uint64_t step, const RefOpts *o) {
  int64_t count = (int64_t)n * per_sample(&net->nodes[i]);
  const int8_t *t[256];
  int e[256], m[256];
  int nt = 0;
  if (i == net->output) {
    t[nt] = net->loss_e;
    m[nt] = net->loss_mu;
    e[nt++] = net->loss_exp;
  }
  for (int j = i + 1; j < net->nnodes && nt < 256; j++)
    for (int s = 0; s < 2 && nt < 256; s++)
      if (net->nodes[j].in[s] == i) {
        t[nt] = net->ein[s][j];
        m[nt] = net->ein_mu[s][j];
        e[nt++] = net->ein_exp[s][j];
      }
  net->has_err[i] = 1;
  net->err_mu[i] = 1;
  if (nt == 0) { /* a dead branch: no error reaches it */
    memset(net->err[i], 0, (size_t)count);
    net->err_exp[i] = 0;
  } else if (nt == 1) {
    memcpy(net->err[i], t[0], (size_t)count);
    net->err_exp[i] = e[0];
    net->err_mu[i] = m[0];
  } else if (o->recipe == REF_RECIPE_UNIFIED) {
    /* R§2.5, R§10.4: operands v mu, aligned with the guard 44 */
    int64_t *ops = malloc((size_t)nt * (size_t)count * sizeof *ops);
    const int64_t *u[256];
    if (!ops) {
      net->err_mu[i] = -1; /* out of memory, reported by the caller */
      return;
    }
    for (int k = 0; k < nt; k++) {
      for (int64_t j = 0; j < count; j++)
        ops[k * count + j] = (int64_t)t[k][j] * m[k];
      u[k] = ops + k * count;
    }
    int s = rec_align_sum(u, e, nt, count, 44, net->wide_acc);
    free(ops);
    int k = rq_err_node(net, o, net->wide_acc, n, &net->nodes[i], step, NIT_TID_SUM(i), s,
                        net->err[i], &net->err_mu[i]);
    net->err_exp[i] = s + k;
  } else {
    int s = align_sum(o, t, e, nt, count, net->wide_acc);
    int mu;
    int k = rq_err_node(net, o, net->wide_acc, n, &net->nodes[i], step, NIT_TID_SUM(i), s,
                        net->err[i], &mu);
    net->err_exp[i] = s + k;
  }
}

/* A pool's routed errors (input shape `in`, n samples): NITI requantizes
 * (k = 0 without overlap); the recipes with masters pass non-overlapping
 * pools through unrounded (R§3.3) and quantize overlapping ones with EQ at
 * ERR(i). */
static int pool_pass(RefNet *net, const RefOpts *o, const RefNode *nd, const RefNode *in, int n,
                     int64_t *e32, uint64_t step, uint32_t tid, int s_in, int mu_e, int8_t *out,
                     int *mu) {
  int64_t count = (int64_t)n * per_sample(in);
  if (is_gh(o) && pool_no_overlap(nd)) {
    for (int64_t j = 0; j < count; j++)
      out[j] = (int8_t)e32[j]; /* one window per position: an error as it was */
    *mu = mu_e;                /* carried (R§10.4) */
    return 0;
  }
  times_mu(e32, count, mu_e); /* overlapping pools: the routed sums times mu */
  return rq_err_node(net, o, e32, n, in, step, tid, s_in, out, mu);
}

/* Backward of node i: input errors (where needed) and the weight gradient.
 * Under unified the error carries err_mu[i] (R§10.4): the wide results of
 * dense, conv and overlapping pools and the weight gradient are multiplied
 * by it, the norm layers fold it into their coefficients, and pass-through
 * nodes carry it to their input errors. */
static int backward_node(RefNet *net, int i, int n, uint64_t step, const RefOpts *o) {
  const RefNode *nd = &net->nodes[i];
  const int8_t *e = net->err[i];
  int se = net->err_exp[i], mu_e = net->err_mu[i];
  int a = nd->in[0];
  const int8_t *x = net->act[a];
  int64_t cin = (int64_t)n * per_sample(&net->nodes[a]);
  int64_t *e32 = net->wide_acc;
  uint32_t tid = NIT_TID_ERR(i);
  int want = net->need_err[a];
  int8_t *ein = net->ein[0][i];
  int *mu_in = &net->ein_mu[0][i];
  RefGeom g;
  *mu_in = 1;
  switch (nd->op) {
  case REF_INPUT:
    return 0;
  case REF_DENSE: {
    RefParam *pp = &net->params[nd->param];
    ref_dense_grad(x, e, n, pp->shape[1], pp->shape[0], pp->g32);
    times_mu(pp->g32, pp->count, mu_e);
    pp->g_exp = net->act_exp[a] + se;
    if (want) {
      ref_dense_backward(e, n, pp->shape[0], pp->w, pp->shape[1], e32);
      times_mu(e32, cin, mu_e);
      int s_in = se + wexp(o, pp);
      net->ein_exp[0][i] = s_in + rq_err_node(net, o, e32, n, &net->nodes[a], step, tid, s_in, ein, mu_in);
    }
    break;
  }
  case REF_CONV: {
    RefParam *pp = &net->params[nd->param];
    g = geom_of(net, i);
    ref_conv_grad(&g, x, e, n, pp->g32);
    times_mu(pp->g32, pp->count, mu_e);
    pp->g_exp = net->act_exp[a] + se;
    if (want) {
      ref_conv_backward(&g, e, n, pp->w, e32);
      times_mu(e32, cin, mu_e);
      int s_in = se + wexp(o, pp);
      net->ein_exp[0][i] = s_in + rq_err_node(net, o, e32, n, &net->nodes[a], step, tid, s_in, ein, mu_in);
    }
    break;
  }
  case REF_MAXPOOL:
    if (want) {
      g = geom_of(net, i);
      ref_maxpool_backward(&g, x, e, n, e32);
      /* k = 0 without overlap */
      net->ein_exp[0][i] = se + pool_pass(net, o, nd, &net->nodes[a], n, e32, step, tid, se, mu_e, ein, mu_in);
    }
    break;
  case REF_AVGPOOL:
    if (want) {
      g = geom_of(net, i);
      ref_avgpool_backward(&g, e, n, e32);
      int s_in = se - ref_log2_exact((int64_t)nd->kh * nd->kw);
      net->ein_exp[0][i] = s_in + pool_pass(net, o, nd, &net->nodes[a], n, e32, step, tid, s_in, mu_e, ein, mu_in);
    }
    break;
  case REF_RELU:
    if (want) {
      ref_relu_backward(x, e, cin, ein);
      net->ein_exp[0][i] = se;
      *mu_in = mu_e;
    }
    break;
  case REF_FLATTEN:
    if (want) {
      memcpy(ein, e, (size_t)cin);
      net->ein_exp[0][i] = se;
      *mu_in = mu_e;
    }
    break;
  case REF_DROPOUT:
    if (want) {
      ref_dropout_apply(e, cin, nd->drop256, nit_key(o->seed, step, NIT_TID_MASK(i)), ein);
      net->ein_exp[0][i] = se;
      *mu_in = mu_e;
    }
    break;
  case REF_BATCHNORM:
  case REF_LAYERNORM:
  case REF_L1NORM:
  case REF_L1LAYERNORM: {
    /* R§7.4 with EQ at ERR(i) (RQ_{b_g}, shiftquant's SQ_{b_g}, unified's
     * CQ with mu folded into the coefficients); R§7.5 parameter gradients */
    RefParam *gp = &net->params[nd->param], *bp = &net->params[nd->param + 1];
    RecNorm l = norm_of(net, i, n);
    if (want && (o->recipe == REF_RECIPE_SHIFTQUANT || o->recipe == REF_RECIPE_UNIFIED)) {
      int64_t *wide = net->norm_scratch + 2 * cin; /* scratch: 2 cin, then the sum */
      int64_t w = rec_norm_backward_wide_mu(&l, x, net->act_exp[a], net->nstat[i], gp->w,
                                            gp->view_exp, e, se, mu_e, wide, net->norm_scratch);
      int k = rq_err_node(net, o, wide, n, &net->nodes[a], step, tid, (int)w, ein, mu_in);
      net->ein_exp[0][i] = (int)(w + k);
    } else if (want) {
      int sdx;
      rec_norm_backward(&l, x, net->act_exp[a], net->nstat[i], gp->w, gp->view_exp, e, se,
                        o->bits_grad, o->err_round, nit_key(o->seed, step, tid), ein, &sdx,
                        net->norm_scratch);
      net->ein_exp[0][i] = sdx;
    }
    RecScalar *dgamma = malloc((size_t)nd->c * sizeof *dgamma);
    if (!dgamma || rec_norm_param_grads_mu(&l, x, net->nstat[i], e, mu_e, bp->g32, dgamma)) {
      free(dgamma);
      return fail(net, "out of memory", i);
    }
    bp->g_exp = se;
    gp->g_exp = rec_norm_dgamma_to_g(dgamma, nd->c, se, o->grad_round,
                                     nit_key(o->seed, step, NIT_TID_OPT(nd->param, REC_OPT_GRAD)),
                                     gp->G);
    gp->g_direct = 1;
    free(dgamma);
    break;
  }
  case REF_ADD:
    for (int s = 0; s < 2; s++)
      if (net->need_err[nd->in[s]]) {
        memcpy(net->ein[s][i], e, (size_t)cin);
        net->ein_exp[s][i] = se;
        net->ein_mu[s][i] = mu_e;
      }
    break;
  }
  if (*mu_in < 0)
    return fail(net, "out of memory", i);
  return 0;
}

/* Ghaffari's optimizer for every parameter tensor (R§6.2, R§6.3, R§12
 * item 5): g32 reduced to 31 bits with OPT(p, 0), then the SGD step with
 * OPT(p, 1) and OPT(p, 2). */
static int sgd_all(RefNet *net, int n, uint64_t step, const RefOpts *o) {
  net->eta = o->eta;
  for (int p = 0; p < net->nparams; p++) {
    RefParam *pp = &net->params[p];
    int k = pp->g_direct ? 0
                         : rec_grad_reduce(pp->g32, pp->count, o->grad_round,
                                           nit_key(o->seed, step, NIT_TID_OPT(p, REC_OPT_GRAD)),
                                           pp->G);
    RecSgd sg;
    sg.a_bits = o->master_bits;
    sg.mode = o->update_round;
    /* R§6.3: eta_p = smul(eta(t), phi_p); phi_p = ONE but under unified */
    sg.eta = o->recipe == REF_RECIPE_UNIFIED ? rec_smul(o->eta, ref_site_phi(net, pp->node)) : o->eta;
    sg.momentum = o->momentum;
    sg.decay = o->wdecay;
    sg.n = n;
    sg.key_mom = nit_key(o->seed, step, NIT_TID_OPT(p, REC_OPT_MOM));
    sg.key_master = nit_key(o->seed, step, NIT_TID_OPT(p, REC_OPT_MASTER));
    if (rec_sgd_step(&sg, pp->count, pp->master, &pp->master_exp, pp->mom, &pp->mom_exp, pp->G,
                     pp->g_exp + k))
      return fail(net, "out of memory", -1);
  }
  return 0;
}

int ref_train_step(RefNet *net, const int8_t *x, int in_exp, const int32_t *y, int n,
                   uint64_t step, const RefOpts *o) {
  for (int b = 0; b < n; b++)
    if (y[b] < 0 || y[b] >= net->classes)
      return fail(net, "label out of range", -1);
  if (forward_all(net, x, in_exp, n, step, o, 1))
    return -1;
  net->trained = 1;
  net->loss_mu = 1;
  if (o->recipe == REF_RECIPE_UNIFIED)
    ref_sites_step(net);

  int table = o->loss == REF_LOSS_TABLE || (o->loss == REF_LOSS_RECIPE && is_gh(o));
  if (is_gh(o) || table) {
    /* R§5: e32 (n, classes) of the table softmax at -15, or of NITI's row
     * at -11, then the recipe's EQ at LOSS: RQ_8 (niti), RQ_{b_g}
     * (ghaffari), SQ_{b_g} with the classes as channels (shiftquant), or
     * unified's CQ (when LOSS is a DSGC site) or RQ_{b_g} */
    const int8_t *lg = net->act[net->output];
    int s = net->act_exp[net->output], s_e32 = table ? -15 : -11;
    if (table)
      rec_loss_e32_table(lg, s, n, net->classes, y, net->wide_acc2);
    else
      for (int b = 0; b < n; b++)
        ref_loss_row32(lg + (int64_t)b * net->classes, s, net->classes, y[b],
                       net->wide_acc2 + (int64_t)b * net->classes);
    net->loss_exp = s_e32 + rq_err(net, o, net->wide_acc2, n, net->classes, 1, step,
                                   NIT_TID_LOSS, s_e32, net->loss_e, &net->loss_mu);
    if (net->loss_mu < 0)
      return fail(net, "out of memory", -1);
  } else {
    /* loss gradient at the output, exponent 0 */
    ref_loss_grad(net->act[net->output], net->act_exp[net->output], n, net->classes, y,
                  o->err_round, nit_key(o->seed, step, NIT_TID_LOSS), net->wide_acc2,
                  net->loss_e);
    net->loss_exp = 0;
  }

  /* backward, reverse topological order; consumers come after producers */
  memset(net->has_err, 0, (size_t)net->nnodes);
  for (int i = net->nnodes - 1; i >= 1; i--) {
    if (!net->need_err[i])
      continue;
    gather_error(net, i, n, step, o);
    if (net->err_mu[i] < 0)
      return fail(net, "out of memory", i);
    if (backward_node(net, i, n, step, o))
      return -1;
  }

  if (is_gh(o))
    return sgd_all(net, n, step, o);

  /* update: every weighted layer, from its own gradient; order is irrelevant */
  for (int p = 0; p < net->nparams; p++) {
    RefParam *pp = &net->params[p];
    ref_update(pp->g32, pp->count, pp->w, pp->wide, net->weight_bits, o->mu, o->grad_round,
               nit_key(o->seed, step, NIT_TID_GRAD(pp->node)), o->decay);
  }
  return 0;
}

int ref_forward(RefNet *net, const int8_t *x, int in_exp, int n, const RefOpts *o,
                int8_t *logits, int *logit_exp) {
  if (forward_all(net, x, in_exp, n, NIT_STEP_EVAL, o, 0))
    return -1;
  net->trained = 0;
  memset(net->has_err, 0, (size_t)net->nnodes);
  if (logits)
    memcpy(logits, net->act[net->output], (size_t)n * (size_t)net->classes);
  if (logit_exp)
    *logit_exp = net->act_exp[net->output];
  return 0;
}

/* ------------------------------------------------------------------ dump */

static void put_u32(FILE *f, uint32_t v) {
  for (int i = 0; i < 4; i++)
    fputc((int)((v >> (8 * i)) & 0xff), f);
}

static void put_u64(FILE *f, uint64_t v) {
  for (int i = 0; i < 8; i++)
    fputc((int)((v >> (8 * i)) & 0xff), f);
}

/* A = 16: two bytes, A = 32: four, little-endian two's complement. */
static void put_wide(FILE *f, int32_t v, int a_bits) {
  uint32_t u = (uint32_t)v;
  for (int i = 0; i < a_bits / 8; i++)
    fputc((int)((u >> (8 * i)) & 0xff), f);
}

/* Node i's NITREF01 record: act exp, err exp, has-err, a fourth u32 (0 in
 * NITREF01; the loss exponent on the output node in NITREF02), then the
 * activation and error bytes. */
static void dump_node(const RefNet *net, FILE *f, int i, uint32_t fourth) {
  int64_t count = net->act ? (int64_t)net->n * per_sample(&net->nodes[i]) : 0;
  int has = net->act && net->has_err[i];
  put_u32(f, (uint32_t)net->act_exp[i]);
  put_u32(f, (uint32_t)(has ? net->err_exp[i] : 0));
  put_u32(f, (uint32_t)has);
  put_u32(f, fourth);
  put_u64(f, (uint64_t)count);
  if (count)
    fwrite(net->act[i], 1, (size_t)count, f);
  if (has)
    fwrite(net->err[i], 1, (size_t)count, f);
}

/* NITREF02 (R§12): the NITREF01 header, u32 recipe; per parameter u32 role
 * (0: weight), u32 A, i32 master_exp, u64 count, the master, i32 mom_exp,
 * u32 has_mom, the momentum (when present), i32 view_exp, the int8 view of
 * the last call; per node the NITREF01 record (the 4th u32 is the loss
 * exponent on the output node, else 0) plus u32 err_mu (1 but under
 * unified); per batch-statistics norm node and channel the running mean
 * and deviation (i32 m, i32 e each); under unified per DSGC site (in the
 * order of their first weighted node) i32 l*, i32 s*, u32 dq, u32 phi;
 * finally i64 eta_m, i32 eta_e of the last train step. */
static int dump_recipe(RefNet *net, FILE *f) {
  fwrite("NITREF02", 1, 8, f);
  put_u32(f, (uint32_t)net->nnodes);
  put_u32(f, (uint32_t)net->nparams);
  put_u32(f, (uint32_t)net->n);
  put_u32(f, (uint32_t)net->trained);
  put_u32(f, (uint32_t)net->recipe);
  for (int p = 0; p < net->nparams; p++) {
    const RefParam *pp = &net->params[p];
    put_u32(f, (uint32_t)pp->role);
    put_u32(f, (uint32_t)net->master_bits);
    put_u32(f, (uint32_t)pp->master_exp);
    put_u64(f, (uint64_t)pp->count);
    for (int64_t j = 0; j < pp->count; j++)
      put_wide(f, pp->master[j], net->master_bits);
    put_u32(f, (uint32_t)pp->mom_exp);
    put_u32(f, pp->mom != NULL);
    for (int64_t j = 0; pp->mom && j < pp->count; j++)
      put_wide(f, pp->mom[j], net->master_bits);
    put_u32(f, (uint32_t)pp->view_exp);
    fwrite(pp->w, 1, (size_t)pp->count, f);
  }
  for (int i = 0; i < net->nnodes; i++) {
    dump_node(net, f, i, (uint32_t)(i == net->output && net->trained ? net->loss_exp : 0));
    put_u32(f, (uint32_t)(net->act && net->has_err[i] ? net->err_mu[i] : 1)); /* err_mu */
  }
  for (int i = 1; net->run_mean && i < net->nnodes; i++)
    for (int c = 0; net->run_mean[i] && c < net->nodes[i].c; c++) {
      put_u32(f, (uint32_t)net->run_mean[i][c].m);
      put_u32(f, (uint32_t)net->run_mean[i][c].e);
      put_u32(f, (uint32_t)net->run_dev[i][c].m);
      put_u32(f, (uint32_t)net->run_dev[i][c].e);
    }
  for (int k = 0; net->recipe == REF_RECIPE_UNIFIED && k < net->nsites; k++) {
    put_u32(f, (uint32_t)net->clip[k].l);
    put_u32(f, (uint32_t)net->clip[k].s);
    put_u32(f, net->site_dq[k]);
    put_u32(f, (uint32_t)net->site_phi[k]);
  }
  put_u64(f, (uint64_t)net->eta.m);
  put_u32(f, (uint32_t)net->eta.e);
  fflush(f);
  if (ferror(f))
    return fail(net, "write error", -1);
  return 0;
}

int ref_dump(RefNet *net, FILE *f) {
  if (net->recipe != REF_RECIPE_NITI)
    return dump_recipe(net, f);
  fwrite("NITREF01", 1, 8, f);
  put_u32(f, (uint32_t)net->nnodes);
  put_u32(f, (uint32_t)net->nparams);
  put_u32(f, (uint32_t)net->n);
  put_u32(f, (uint32_t)net->trained);
  for (int p = 0; p < net->nparams; p++) {
    const RefParam *pp = &net->params[p];
    put_u32(f, (uint32_t)net->weight_bits);
    put_u32(f, (uint32_t)pp->exp);
    put_u64(f, (uint64_t)pp->count);
    for (int64_t j = 0; j < pp->count; j++) {
      if (pp->wide) {
        uint16_t v = (uint16_t)pp->wide[j];
        fputc(v & 0xff, f);
        fputc(v >> 8, f);
      } else {
        fputc((uint8_t)pp->w[j], f);
      }
    }
  }
  for (int i = 0; i < net->nnodes; i++)
    dump_node(net, f, i, 0);
  fflush(f);
  if (ferror(f))
    return fail(net, "write error", -1);
  return 0;
}

int ref_dump_file(RefNet *net, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    snprintf(net->msg, sizeof net->msg, "%s: cannot open for writing", path);
    return -1;
  }
  int rc = ref_dump(net, f);
  if (fclose(f) != 0 && rc == 0) {
    snprintf(net->msg, sizeof net->msg, "%s: write error", path);
    rc = -1;
  }
  return rc;
}
