/*
 * clip.c: the error sites of recipe unified (docs/recipes.md, "The unified
 * recipe"): the clip-level quantizer CQ on the eighth-octave or octave
 * grid, the integer cosine of a quantized error against the exact one, the
 * search over clip levels and the held clip of a DSGC site, RQ_b at the
 * other sites, and the learning-rate factor phi. The kernel for generated
 * code (nitabi.h: nitrt_clip_site, nitrt_clip_phi).
 *
 * Independent of the reference (tests/ref/recipe_clip.c), which it must
 * match bit for bit. One rank: the maxima and the cosine's sums are over
 * the call's elements (docs/status.md). Integer only; 128-bit integers in
 * the per-tensor scalars (the cosine's product and square root, phi's Y)
 * and in SRdiv's comparison.
 */
#include "s31.h"

static uint64_t mag(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

static uint64_t low(int32_t k) { return k >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << k) - 1; }

/* R(x, k) of docs/numerics.md in one of the three modes, element j of key. */
static int64_t round_mode(int64_t x, int32_t k, int32_t mode, uint64_t key, uint64_t j) {
  if (k <= 0) return x;
  uint64_t a = mag(x), q = k >= 64 ? 0 : a >> k, f = a & low(k);
  int up;
  if (mode == NIT_ROUND_PSEUDO) {
    if (k == 1) up = f != 0 && (q & 1) != 0;
    else {
      int32_t bp = k;
      if (bp % 2 == 1) {
        f >>= 1;
        bp -= 1;
      }
      int32_t half = bp / 2;
      up = (half >= 64 ? 0 : f >> half) > (f & low(half));
    }
  } else if (mode == NIT_ROUND_STOCHASTIC) up = f > (nit_draw(key, j) & low(k));
  else up = k - 1 < 64 && f >= ((uint64_t)1 << (k - 1));
  int64_t r = (int64_t)(q + (uint64_t)up);
  return x < 0 ? -r : r;
}

/* Largest r with r r <= v (128 bits), bit by bit from the top. */
static uint64_t isqrt128(NitU128 v) {
  uint64_t r = 0;
  for (int32_t b = 63; b >= 0; b--) {
    uint64_t t = r | ((uint64_t)1 << b);
    if ((NitU128)t * t <= v) r = t;
  }
  return r;
}

static int32_t level_mu(int64_t l) { return 8 + (int32_t)(l % 8); }
static int64_t level_t(int64_t l) { return l / 8; }

/* The smallest allowed level whose clip L mu(l) 2^T(l) covers 8 m. */
static int64_t no_clip_level(uint64_t m, int64_t lim, int64_t grid) {
  NitU128 target = (NitU128)m * 8;
  int64_t step = grid == NIT_GRID_OCTAVE ? 8 : 1;
  for (int64_t l = 0;; l += step)
    if (((NitU128)lim * (NitU128)level_mu(l) << level_t(l)) >= target) return l;
}

/* CQ(x, l) into q: den = mu(l) << T(l), a = |x| << 3; L when a div den >= L,
 * else min(L, SRdiv(a, den)), with x's sign. */
static void cq(const int64_t *x, int64_t count, int64_t l, int64_t lim, uint64_t key, int8_t *q) {
  uint64_t den = (uint64_t)level_mu(l) << level_t(l);
  for (int64_t j = 0; j < count; j++) {
    uint64_t a = mag(x[j]) << 3, v = a / den;
    if (v < (uint64_t)lim) {
      uint64_t f = a - v * den;
      if (((NitU128)f << 64) > (NitU128)nit_draw(key, (uint64_t)j) * den) v++;
      if (v > (uint64_t)lim) v = (uint64_t)lim;
    } else v = (uint64_t)lim;
    q[j] = (int8_t)(x[j] < 0 ? -(int64_t)v : (int64_t)v);
  }
}

/* The cosine of x (max |x| = m) and q in Q30: g = sign(x) (|x| >> h), h =
 * max(0, B(m) - 16); G = sum g^2, Qs = sum q^2, D = sum g q; 0 when G or Qs
 * is 0, else min(2^30, (D << 30) div isqrt(G Qs)). */
static int64_t cosine(const int64_t *x, uint64_t m, const int8_t *q, int64_t count) {
  int32_t h = nitrt_bitlen64(m) - 16;
  if (h < 0) h = 0;
  int64_t G = 0, Qs = 0, D = 0;
  for (int64_t j = 0; j < count; j++) {
    int64_t g = (int64_t)(mag(x[j]) >> h);
    if (x[j] < 0) g = -g;
    G += g * g;
    Qs += (int64_t)q[j] * q[j];
    D += g * q[j];
  }
  if (G == 0 || Qs == 0) return 0;
  NitU128 c = ((NitU128)D << 30) / isqrt128((NitU128)G * (NitU128)Qs); /* D >= 0 */
  return c > ((NitU128)1 << 30) ? (int64_t)1 << 30 : (int64_t)c;
}

int32_t nitrt_clip_site(const int64_t *desc, int32_t *state, uint64_t step, uint64_t key, const void *x, int32_t wide,
                        int64_t count, int32_t mu_in, int32_t s_in, int8_t *out, int32_t *mu_out, uint32_t *dq,
                        int64_t *scratch) {
  int64_t lim = ((int64_t)1 << (desc[NIT_CLIP_BITS] - 1)) - 1, grid = desc[NIT_CLIP_GRID];
  int64_t *v = scratch;
  int8_t *cand = (int8_t *)(scratch + count);
  /* the wide error times the multiplier it carries (R§10.4), its maximum */
  uint64_t m = 0;
  for (int64_t j = 0; j < count; j++) {
    int64_t e = wide ? ((const int64_t *)x)[j] : ((const int32_t *)x)[j];
    v[j] = e * mu_in;
    if (mag(v[j]) > m) m = mag(v[j]);
  }
  *mu_out = 1;
  *dq = 0;
  if (desc[NIT_CLIP_SITE] == 0) { /* not a DSGC site: RQ_b with the err mode */
    int32_t k = nitrt_bitlen64(m) - (int32_t)desc[NIT_CLIP_BITS] + 1;
    if (k < 0) k = 0;
    for (int64_t j = 0; j < count; j++) {
      int64_t r = round_mode(v[j], k, (int32_t)desc[NIT_CLIP_MODE], key, (uint64_t)j);
      out[j] = (int8_t)(r > lim ? lim : r < -lim ? -lim : r);
    }
    return k;
  }
  /* more than 56 bits: R_near to 56 first (deterministic) */
  int32_t pre = nitrt_bitlen64(m) - 56;
  if (pre > 0) {
    for (int64_t j = 0; j < count; j++) {
      uint64_t a = mag(v[j]);
      a = (a >> pre) + ((a >> (pre - 1)) & 1);
      v[j] = v[j] < 0 ? -(int64_t)a : (int64_t)a;
    }
    m = (m >> pre) + ((m >> (pre - 1)) & 1);
  } else pre = 0;
  int64_t s = (int64_t)s_in + pre;
  if (m == 0) { /* zeros at the input's exponent; the state stays */
    for (int64_t j = 0; j < count; j++) out[j] = 0;
    return pre;
  }
  int64_t l0 = no_clip_level(m, lim, grid), l = l0;
  if (desc[NIT_CLIP_ON] && (step % (uint64_t)desc[NIT_CLIP_EVERY] == 0 || state[0] <= 0)) {
    /* the search: l0 down to max(0, l0 - 8 R), the largest cosine, ties
     * to the larger level; then the winner is quantized again below */
    int64_t lo = l0 - 8 * desc[NIT_CLIP_RANGE], best = -1;
    for (int64_t c = l0; c >= (lo < 0 ? 0 : lo); c -= grid == NIT_GRID_OCTAVE ? 8 : 1) {
      cq(v, count, c, lim, key, cand);
      int64_t cs = cosine(v, m, cand, count);
      if (cs > best) {
        best = cs;
        l = c;
      }
    }
    state[0] = (int32_t)l + 1;
    state[1] = (int32_t)s;
  } else if (desc[NIT_CLIP_ON]) { /* the held clip in real units, at most l0 */
    int64_t h = (int64_t)state[0] - 1 + 8 * ((int64_t)state[1] - s);
    l = h < 0 ? 0 : h > l0 ? l0 : h;
  }
  cq(v, count, l, lim, key, out);
  *dq = (uint32_t)(((int64_t)1 << 30) - cosine(v, m, out, count));
  if (grid == NIT_GRID_OCTAVE) return (int32_t)(s - s_in + level_t(l));
  *mu_out = level_mu(l);
  return (int32_t)(s - s_in + level_t(l) - 3);
}

int64_t nitrt_clip_phi(uint32_t dq, int64_t alpha_q16, int64_t beta_q30) {
  NitU128 y = ((NitU128)(uint64_t)alpha_q16 * dq * (NitU128)NIT_LOG2E_Q30) >> 60;
  int64_t e = nitrt_exp2neg_q30((int64_t)y);
  return e > beta_q30 ? e : beta_q30;
}

void nitrt_clip_eta(int64_t eta_m, int32_t eta_e, int64_t phi, int64_t *out) {
  NitS31 eta = {eta_m, eta_e};
  NitS31 r = nitrt_smul(eta, nitrt_snorm(phi, -30));
  out[0] = r.m;
  out[1] = r.e;
}
