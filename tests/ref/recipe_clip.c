/*
 * recipe_clip.c: the unified recipe's error quantizer (R§10): the clip-level
 * quantizer CQ on an eighth-octave grid, the integer cosine similarity, the
 * search and the held clip of a DSGC site, and the learning-rate factor phi.
 * See recipe.h and docs/recipes.md, "The unified recipe".
 *
 * Plain loops; magnitudes in unsigned types; 128-bit integers only in the
 * per-tensor scalars (the cosine's product and square root, phi's Y) and in
 * SRdiv's comparison.
 */
#include "recipe.h"

#include "ref.h"

static uint64_t mag(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

static int bits64(uint64_t v) {
  int b = 0;
  while (v) {
    b++;
    v >>= 1;
  }
  return b;
}

static uint64_t max_mag(const int64_t *x, int64_t count) {
  uint64_t m = 0;
  for (int64_t j = 0; j < count; j++)
    if (mag(x[j]) > m)
      m = mag(x[j]);
  return m;
}

int rec_clip_mu(int64_t l) { return 8 + (int)(l % 8); }
int64_t rec_clip_t(int64_t l) { return l / 8; }

int64_t rec_clip_l0(uint64_t m, int b, int grid) {
  rec_u128 target = (rec_u128)m * 8, lim = (rec_u128)rec_lim(b);
  int64_t step = grid == NIT_GRID_OCTAVE ? 8 : 1;
  for (int64_t l = 0;; l += step)
    if (lim * (rec_u128)rec_clip_mu(l) << rec_clip_t(l) >= target)
      return l;
}

int rec_clip_prereduce(int64_t *x, int64_t count) {
  int bx = bits64(max_mag(x, count));
  if (bx <= 56)
    return 0;
  int k = bx - 56;
  for (int64_t j = 0; j < count; j++) {
    uint64_t a = (uint64_t)rec_rnear128(mag(x[j]), k);
    x[j] = x[j] < 0 ? -(int64_t)a : (int64_t)a;
  }
  return k;
}

int64_t rec_cq(const int64_t *x, int64_t count, int64_t l, int b, int grid, uint64_t key,
               int8_t *q, int *mu) {
  uint64_t den = (uint64_t)rec_clip_mu(l) << rec_clip_t(l), lim = (uint64_t)rec_lim(b);
  for (int64_t j = 0; j < count; j++) {
    uint64_t a = mag(x[j]) << 3, v;
    if (a / den >= lim)
      v = lim;
    else {
      v = rec_srdiv(a, den, key, (uint64_t)j);
      if (v > lim)
        v = lim;
    }
    q[j] = (int8_t)(x[j] < 0 ? -(int64_t)v : (int64_t)v);
  }
  if (grid == NIT_GRID_OCTAVE) { /* mu(l) = 8: the same values at 2^T(l) */
    *mu = 1;
    return rec_clip_t(l);
  }
  *mu = rec_clip_mu(l);
  return rec_clip_t(l) - 3;
}

int64_t rec_cos_q30(const int64_t *x, const int8_t *q, int64_t count, int64_t *g2, int64_t *q2,
                    int64_t *d) {
  int h = bits64(max_mag(x, count)) - 16;
  if (h < 0)
    h = 0;
  int64_t G = 0, Qs = 0, D = 0;
  for (int64_t j = 0; j < count; j++) {
    int64_t g = (int64_t)(mag(x[j]) >> h);
    if (x[j] < 0)
      g = -g;
    G += g * g;
    Qs += (int64_t)q[j] * q[j];
    D += g * q[j];
  }
  if (g2)
    *g2 = G;
  if (q2)
    *q2 = Qs;
  if (d)
    *d = D;
  if (G == 0 || Qs == 0)
    return 0;
  uint64_t r = rec_isqrt128((rec_u128)G * (rec_u128)Qs);
  rec_u128 c = ((rec_u128)D << 30) / r; /* D >= 0: q has the sign of x */
  return c > ((rec_u128)1 << 30) ? (int64_t)1 << 30 : (int64_t)c;
}

int rec_dsgc_site(const RecClipOpts *o, const int64_t *x, int64_t count, int64_t s, uint64_t t,
                  uint64_t key, RecClip *st, int8_t *q, RecClipOut *out, int64_t *scratch,
                  int8_t *cand) {
  if (!o || o->b < 2 || o->b > 8 || o->every < 1 || o->range < 1 || o->range > 8 || count < 1)
    return -1;
  for (int64_t j = 0; j < count; j++)
    scratch[j] = x[j];
  s += rec_clip_prereduce(scratch, count);
  uint64_t m = max_mag(scratch, count);
  *out = (RecClipOut){.s = s, .mu = 1, .level = -1, .l0 = 0, .searched = 0, .dq = 0};
  if (m == 0) { /* zeros; the state stays */
    for (int64_t j = 0; j < count; j++)
      q[j] = 0;
    return 0;
  }
  int64_t l0 = rec_clip_l0(m, o->b, o->grid), l = l0;
  out->l0 = l0;
  int search = o->on && (t % (uint64_t)o->every == 0 || st->l < 0);
  if (search) {
    int64_t step = o->grid == NIT_GRID_OCTAVE ? 8 : 1, lo = l0 - 8 * (int64_t)o->range;
    int64_t best_c = -1;
    if (lo < 0)
      lo = 0;
    for (int64_t c = l0; c >= lo; c -= step) { /* from l0 down: ties keep the larger level */
      int mu;
      rec_cq(scratch, count, c, o->b, o->grid, key, cand, &mu);
      int64_t cq = rec_cos_q30(scratch, cand, count, NULL, NULL, NULL);
      if (cq > best_c) {
        best_c = cq;
        l = c;
      }
    }
    st->l = (int32_t)l;
    st->s = (int32_t)s;
    out->searched = 1;
  } else if (o->on) { /* the held clip in real units, never above the maximum */
    int64_t h = (int64_t)st->l + 8 * ((int64_t)st->s - s);
    l = h < 0 ? 0 : h > l0 ? l0 : h;
  }
  int mu;
  out->s = s + rec_cq(scratch, count, l, o->b, o->grid, key, q, &mu);
  out->mu = mu;
  out->level = l;
  out->dq = (uint32_t)(((int64_t)1 << 30) - rec_cos_q30(scratch, q, count, NULL, NULL, NULL));
  return 0;
}

int64_t rec_phi_q30(uint32_t dq, int64_t alpha_q16, int64_t beta_q30) {
  rec_u128 y = ((rec_u128)(uint64_t)alpha_q16 * dq * (rec_u128)REC_LOG2E_Q30) >> 60;
  int64_t e = rec_exp2neg_q30((int64_t)y);
  return e > beta_q30 ? e : beta_q30;
}
