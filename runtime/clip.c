/*
 * clip.c: the error sites of recipe unified (docs/recipes.md, "The unified
 * recipe"): the clip-level quantizer CQ on the eighth-octave or octave
 * grid, the integer cosine of a quantized error against the exact one, the
 * search over clip levels and the held clip of a DSGC site, RQ_b at the
 * other sites, and the learning-rate factor phi. The kernel for generated
 * code (nitabi.h: nitrt_clip_site, nitrt_clip_phi).
 *
 * Independent of the reference (tests/ref/recipe_clip.c), which it must
 * match bit for bit. Data parallel (docs/scaleout.md): the call holds this
 * rank's rows of the batch; the maximum and the cosine's sums are exact
 * over all ranks (the context's collectives) and the draws are keyed by the
 * element's index in the global batch, so every rank gets one process's
 * bytes for its rows and the same level, d_c and state. Integer only;
 * 128-bit integers in the per-tensor scalars (the cosine's product and
 * square root, phi's Y).
 *
 * Speed. A search quantizes the tensor at up to 65 levels and only needs
 * each level's two sums Qs and D (the exact G is the same for all), so the
 * passes are fused: the context's workers take contiguous chunks of the
 * tensor and walk them in tiles small enough for the first-level cache;
 * a tile's magnitudes, draws and 16-bit copies are made once and then
 * quantized at every level, each level adding to the chunk's own sums,
 * which the caller adds up afterwards (integer sums: the split never shows).
 * Per element and level the division by den = mu 2^T is a shift and a
 * multiply by a reciprocal of mu (exact below 2^59), and SRdiv's comparison
 * f 2^64 > draw den is f > the high word of draw den, no 128-bit compare.
 */
#include <stddef.h>

#include "s31.h"

enum {
  TILE = 256,   /* elements per tile: 20 bytes each stay in L1 */
  GRAIN = 8192, /* elements per chunk at least */
  WORKERS = 16, /* chunks at most */
  LEVELS = 65,  /* candidates at most: range 8 on the eighth grid */
};

static uint64_t low(int32_t k) { return k >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << k) - 1; }

static uint64_t mulhi(uint64_t a, uint64_t b) { return (uint64_t)(((NitU128)a * b) >> 64); }

/* R(x, k) of docs/numerics.md in one of the three modes, element j of key. */
static int64_t round_mode(int64_t x, int32_t k, int32_t mode, uint64_t key, uint64_t j) {
  if (k <= 0) return x;
  uint64_t a = nitrt_mag(x), q = k >= 64 ? 0 : a >> k, f = a & low(k);
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

/* One level's divisor den = mu << T as a shift T and a multiply by
 * recip = 2^64 div mu + 1: for n < 2^60, n div mu = mulhi(n, recip) (the
 * excess n (recip - 2^64/mu) / 2^64 stays below 1/mu). */
typedef struct Level {
  uint64_t den;   /* mu << T */
  uint64_t recip; /* 2^64 div mu + 1 */
  int32_t t;      /* T */
} Level;

static Level level(int64_t l) {
  uint64_t mu = (uint64_t)level_mu(l);
  return (Level){mu << level_t(l), ~(uint64_t)0 / mu + 1, (int32_t)level_t(l)};
}

/* The cosine in Q30 from the sums: 0 when G or Qs is 0, else
 * min(2^30, (D << 30) div isqrt(G Qs)). */
static int64_t cosine(int64_t G, int64_t Qs, int64_t D) {
  if (G == 0 || Qs == 0) return 0;
  NitU128 c = ((NitU128)D << 30) / isqrt128((NitU128)G * (NitU128)Qs); /* D >= 0 */
  return c > ((NitU128)1 << 30) ? (int64_t)1 << 30 : (int64_t)c;
}

/* A call's shared inputs and the chunks' private results. */
typedef struct Job {
  const void *x;   /* (count) the wide error, i32 or i64 */
  int32_t wide;    /* x is i64 */
  int64_t mu_in;   /* its multiplier */
  int64_t *v;      /* (count) x mu_in, pre-reduced below 2^56 */
  uint64_t key;    /* the site's draws */
  uint64_t base;   /* global index of element 0: row0 times elements per sample */
  int64_t lim;     /* L */
  int32_t k, mode; /* RQ_b: the shift and the rounding mode */
  int32_t h;       /* the cosine's 16-bit copy: |v| >> h */
  const Level *lv; /* (nl) the levels to quantize at */
  int32_t nl;
  int8_t *out;                      /* (count) q at lv[0], or NULL */
  uint64_t m[WORKERS];              /* per chunk: max |v| */
  int64_t G[WORKERS];               /* per chunk: sum g^2 */
  int64_t sums[WORKERS][LEVELS][2]; /* per chunk and level: Qs, D */
} Job;

/* Run body over [0, count) in chunks of at least GRAIN elements on the
 * context's workers, or inline; returns the number of chunks. */
typedef void (*Body)(void *env, int64_t lo, int64_t hi, int32_t worker);
static int32_t each(const NitCtx *ctx, Body body, Job *job, int64_t count) {
  int64_t w = (count + GRAIN - 1) / GRAIN;
  if (w > WORKERS) w = WORKERS;
  if (ctx && ctx->parallel_for && w > 1) return ctx->parallel_for(ctx->pool, body, job, count, (int32_t)w);
  body(job, 0, count, 0);
  return 1;
}

/* v = x mu_in and the chunk's maximum of |v|. */
static void load_body(void *env, int64_t lo, int64_t hi, int32_t w) {
  Job *job = env;
  uint64_t m = 0;
  for (int64_t j = lo; j < hi; j++) {
    int64_t e = job->wide ? ((const int64_t *)job->x)[j] : ((const int32_t *)job->x)[j];
    job->v[j] = e * job->mu_in;
    uint64_t a = nitrt_mag(job->v[j]);
    if (a > m) m = a;
  }
  job->m[w] = m;
}

/* RQ_b at a site that is not a DSGC site. */
static void rq_body(void *env, int64_t lo, int64_t hi, int32_t w) {
  Job *job = env;
  (void)w;
  for (int64_t j = lo; j < hi; j++) {
    int64_t r = round_mode(job->v[j], job->k, job->mode, job->key, job->base + (uint64_t)j);
    job->out[j] = (int8_t)(r > job->lim ? job->lim : r < -job->lim ? -job->lim : r);
  }
}

/* CQ at level L over one tile (n elements from j0): q_j = L when a_j div den
 * >= L, else min(L, SRdiv(a_j, den)); q into out when it is set; adds to
 * the level's sums of q^2 and g q (signs cancel: q has the sign of v). */
static inline void cq_tile(const Job *job, Level L, const uint64_t *a, const uint64_t *d, const int64_t *g, int32_t n,
                           int64_t j0, int8_t *out, int64_t *sums) {
  uint64_t lim = (uint64_t)job->lim;
  int64_t Qs = 0, D = 0;
  for (int32_t i = 0; i < n; i++) {
    uint64_t v = mulhi(a[i] >> L.t, L.recip);                 /* a div den */
    uint64_t q = v + (a[i] - v * L.den > mulhi(d[i], L.den)); /* SRdiv */
    if (q > lim) q = lim;
    Qs += (int64_t)(q * q);
    D += g[i] * (int64_t)q;
    if (out) out[j0 + i] = (int8_t)(job->v[j0 + i] < 0 ? -(int64_t)q : (int64_t)q);
  }
  sums[0] += Qs;
  sums[1] += D;
}

/* CQ at every level of the job over the chunk, tile by tile, into the
 * chunk's sums; at the job's one level into out when out is set. */
static void cq_body(void *env, int64_t lo, int64_t hi, int32_t w) {
  Job *job = env;
  uint64_t a[TILE], d[TILE]; /* a = |v| << 3, d = the draws */
  int64_t g[TILE], G = 0;    /* g = |v| >> h */
  int64_t(*sums)[2] = job->sums[w];
  for (int32_t c = 0; c < job->nl; c++) sums[c][0] = sums[c][1] = 0;
  for (int64_t j0 = lo; j0 < hi; j0 += TILE) {
    int32_t n = hi - j0 < TILE ? (int32_t)(hi - j0) : TILE;
    for (int32_t i = 0; i < n; i++) {
      uint64_t u = nitrt_mag(job->v[j0 + i]);
      a[i] = u << 3;
      d[i] = nit_draw(job->key, job->base + (uint64_t)(j0 + i));
      g[i] = (int64_t)(u >> job->h);
      G += g[i] * g[i];
    }
    if (job->out) cq_tile(job, job->lv[0], a, d, g, n, j0, job->out, sums[0]);
    else
      for (int32_t c = 0; c < job->nl; c++) cq_tile(job, job->lv[c], a, d, g, n, j0, NULL, sums[c]);
  }
  job->G[w] = G;
}

/* CQ at the job's levels: each level's cosine into cs (nl), from the sums
 * over the chunks and the ranks: t = {G, Qs_0, D_0, Qs_1, ...}. */
static void cq_levels(const NitCtx *ctx, Job *job, int64_t count, int64_t *cs) {
  int32_t used = each(ctx, cq_body, job, count);
  int64_t t[1 + 2 * LEVELS] = {0};
  for (int32_t w = 0; w < used; w++) {
    t[0] += job->G[w];
    for (int32_t c = 0; c < job->nl; c++) {
      t[1 + 2 * c] += job->sums[w][c][0];
      t[2 + 2 * c] += job->sums[w][c][1];
    }
  }
  nitrt_allsum(ctx, t, 1 + 2 * job->nl);
  for (int32_t c = 0; c < job->nl; c++) cs[c] = cosine(t[0], t[1 + 2 * c], t[2 + 2 * c]);
}

int32_t nitrt_clip_site(const NitCtx *ctx, const int64_t *desc, int32_t *state, uint64_t step, uint64_t key,
                        const void *x, int32_t wide, int64_t count, int32_t mu_in, int32_t s_in, int8_t *out,
                        int32_t *mu_out, uint32_t *dq, int64_t *scratch) {
  Job job = {.x = x, .wide = wide, .mu_in = mu_in, .v = scratch, .key = key, .out = out};
  job.lim = ((int64_t)1 << (desc[NIT_CLIP_BITS] - 1)) - 1;
  int64_t grid = desc[NIT_CLIP_GRID];
  if (ctx && ctx->row0 && ctx->n > 0) job.base = (uint64_t)ctx->row0 * (uint64_t)(count / ctx->n);
  /* the wide error times the multiplier it carries (R§10.4), its maximum */
  int32_t used = each(ctx, load_body, &job, count);
  uint64_t m = 0;
  for (int32_t w = 0; w < used; w++)
    if (job.m[w] > m) m = job.m[w];
  m = nitrt_allmax1(ctx, m);
  *mu_out = 1;
  *dq = 0;
  if (desc[NIT_CLIP_SITE] == 0) { /* not a DSGC site: RQ_b with the err mode */
    job.k = nitrt_bitlen64(m) - (int32_t)desc[NIT_CLIP_BITS] + 1;
    if (job.k < 0) job.k = 0;
    job.mode = (int32_t)desc[NIT_CLIP_MODE];
    each(ctx, rq_body, &job, count);
    return job.k;
  }
  /* more than 56 bits: R_near to 56 first (deterministic) */
  int32_t pre = nitrt_bitlen64(m) - 56;
  if (pre > 0) {
    for (int64_t j = 0; j < count; j++) {
      uint64_t a = nitrt_mag(job.v[j]);
      a = (a >> pre) + ((a >> (pre - 1)) & 1);
      job.v[j] = job.v[j] < 0 ? -(int64_t)a : (int64_t)a;
    }
    m = (m >> pre) + ((m >> (pre - 1)) & 1);
  } else pre = 0;
  int64_t s = (int64_t)s_in + pre;
  if (m == 0) { /* zeros at the input's exponent; the state stays */
    for (int64_t j = 0; j < count; j++) out[j] = 0;
    return pre;
  }
  job.h = nitrt_bitlen64(m) - 16;
  if (job.h < 0) job.h = 0;
  int64_t l0 = no_clip_level(m, job.lim, grid), l = l0, cs[LEVELS];
  Level lv[LEVELS];
  job.lv = lv;
  if (desc[NIT_CLIP_ON] && (step % (uint64_t)desc[NIT_CLIP_EVERY] == 0 || state[0] <= 0)) {
    /* the search: l0 down to max(0, l0 - 8 R), the largest cosine, ties
     * to the larger level; then the winner is quantized again below */
    int64_t lo = l0 - 8 * desc[NIT_CLIP_RANGE], by = grid == NIT_GRID_OCTAVE ? 8 : 1;
    job.nl = 0;
    for (int64_t c = l0; c >= (lo < 0 ? 0 : lo); c -= by) lv[job.nl++] = level(c);
    job.out = NULL;
    cq_levels(ctx, &job, count, cs);
    int64_t best = -1;
    for (int32_t c = 0; c < job.nl; c++)
      if (cs[c] > best) {
        best = cs[c];
        l = l0 - c * by;
      }
    state[0] = (int32_t)l + 1;
    state[1] = (int32_t)s;
  } else if (desc[NIT_CLIP_ON]) { /* the held clip in real units, at most l0 */
    int64_t h = (int64_t)state[0] - 1 + 8 * ((int64_t)state[1] - s);
    l = h < 0 ? 0 : h > l0 ? l0 : h;
  }
  lv[0] = level(l);
  job.nl = 1;
  job.out = out;
  cq_levels(ctx, &job, count, cs);
  *dq = (uint32_t)(((int64_t)1 << 30) - cs[0]);
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
