/*
 * norm.c: the kernels of the normalization layers batchnorm, layernorm,
 * l1norm and l1layernorm (docs/recipes.md, "Normalization layers"), called
 * by generated code under the recipes with masters.
 *
 * Tensors are (n, C, HW). A group is a channel over (n, HW) for the batch
 * kinds and a sample over (C, HW) for the layer kinds; every per-group sum
 * is exact in int64 under the compiler's limit of 2^20 elements per group.
 * The kernels do the per-group scalar work in S31 and the element loops of
 * LINSUM (docs/recipes.md, "LINSUM and LINCOMB"); the caller does the one
 * rounding of each result, so the rounding modes, keys and exponents stay
 * in the generated code with every other layer's. Centred values z and the
 * backward's T and U are recomputed from the int8 inputs where needed
 * instead of being stored. Integer only; nothing here prints or fails.
 */
#include <stddef.h>
#include <stdint.h>

#include "s31.h"

typedef struct Norm {
  int64_t n, c, hw;             /* batch, channels, H * W */
  int batch;                    /* 1: channel groups (batchnorm, l1norm) */
  int l1;                       /* 1: L1 deviation */
  int64_t ng, nn;               /* groups, elements per group */
  NitS31 eps, k, mom, rest;     /* eps, k (L1), momentum m and 1 - m */
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

static Norm describe(const int64_t *d, int64_t n) {
  Norm l;
  int kind = (int)d[NIT_ND_KIND];
  l.n = n;
  l.c = d[NIT_ND_C];
  l.hw = d[NIT_ND_HW];
  l.batch = kind == NIT_NORM_BATCH || kind == NIT_NORM_L1BATCH;
  l.l1 = kind == NIT_NORM_L1BATCH || kind == NIT_NORM_L1LAYER;
  l.ng = l.batch ? l.c : n;
  l.nn = l.batch ? n * l.hw : l.c * l.hw;
  l.eps = nitrt_sdec((uint64_t)d[NIT_ND_EPS_N], (int32_t)d[NIT_ND_EPS_F]);
  l.k = nitrt_norm_k(d);
  l.mom = nitrt_sdec((uint64_t)d[NIT_ND_MOM_N], (int32_t)d[NIT_ND_MOM_F]);
  l.rest = nitrt_sdec(pow10u(d[NIT_ND_MOM_F]) - (uint64_t)d[NIT_ND_MOM_N], (int32_t)d[NIT_ND_MOM_F]);
  return l;
}

/* S31 scalars kept in int64 scratch as {m, e} pairs. */
static NitS31 get2(const int64_t *p) { return (NitS31){p[0], (int32_t)p[1]}; }
static void put2(int64_t *p, NitS31 x) {
  p[0] = x.m;
  p[1] = x.e;
}

static int64_t sgn(int64_t x) { return (x > 0) - (x < 0); }
static uint64_t mag(int64_t x) { return x < 0 ? 0 - (uint64_t)x : (uint64_t)x; }
static int bitlen(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

/* ------------------------------------------------------------- LINSUM */

/* The common exponent W of a LINSUM from its live pairs. */
typedef struct Lin {
  int live;
  int64_t emin, h; /* smallest exponent, highest top bit of the live pairs */
} Lin;

static void see(Lin *L, NitS31 c, int64_t s, uint64_t umax) {
  if (c.m == 0 || umax == 0) return;
  int64_t e = c.e + s, top = e + 31 + bitlen(umax);
  if (!L->live || e < L->emin) L->emin = e;
  if (!L->live || top > L->h) L->h = top;
  L->live = 1;
}

static int64_t common(const Lin *L) {
  if (!L->live) return 0;
  return L->emin > L->h - 60 ? L->emin : L->h - 60;
}

/* align(c.m u, c.e + s - w): exact left of W, R_near below it. */
static int64_t align(NitS31 c, int64_t u, int64_t s, int64_t w) {
  if (c.m == 0 || u == 0) return 0;
  NitI128 p = (NitI128)c.m * u;
  int64_t d = c.e + s - w;
  if (d >= 0) return (int64_t)(p * ((NitI128)1 << d)); /* |result| <= 2^60 */
  NitU128 a = p < 0 ? -(NitU128)p : (NitU128)p, r = 0;
  if (-d < 128) r = (a >> -d) + ((a >> (-d - 1)) & 1);
  return p < 0 ? -(int64_t)r : (int64_t)r;
}

/* ------------------------------------------------------------ forward */

/* S1, V or A, and rho of every group from the batch. */
static void group_stats(const Norm *l, const int8_t *v, int32_t s_x, int64_t *st) {
  for (int64_t g = 0; g < l->ng; g++) st[NIT_NORM_STAT * g] = st[NIT_NORM_STAT * g + 1] = 0;
  int64_t *s2 = st; /* L2: sum v^2 accumulates in slot 1 */
  for (int64_t b = 0; b < l->n; b++)
    for (int64_t c = 0; c < l->c; c++) {
      const int8_t *p = v + (b * l->c + c) * l->hw;
      int64_t g = l->batch ? c : b, s1 = 0, sq = 0;
      for (int64_t k = 0; k < l->hw; k++) {
        s1 += p[k];
        sq += (int64_t)p[k] * p[k];
      }
      st[NIT_NORM_STAT * g] += s1;
      if (!l->l1) s2[NIT_NORM_STAT * g + 1] += sq;
    }
  if (l->l1) { /* A = sum |N v - S1| needs S1 first */
    for (int64_t b = 0; b < l->n; b++)
      for (int64_t c = 0; c < l->c; c++) {
        const int8_t *p = v + (b * l->c + c) * l->hw;
        int64_t g = l->batch ? c : b, s1 = st[NIT_NORM_STAT * g], a = 0;
        for (int64_t k = 0; k < l->hw; k++) a += (int64_t)mag(l->nn * p[k] - s1);
        st[NIT_NORM_STAT * g + 1] += a;
      }
  }
  NitS31 nn2 = nitrt_snorm((NitI128)l->nn * l->nn, l->l1 ? -(int64_t)s_x : -2 * (int64_t)s_x);
  NitS31 epsn = nitrt_smul(l->eps, nn2), zero = {0, 0};
  for (int64_t g = 0; g < l->ng; g++) {
    int64_t *q = st + NIT_NORM_STAT * g;
    NitS31 d, rho;
    if (!l->l1) {
      q[1] = l->nn * q[1] - q[0] * q[0]; /* V = N S2 - S1^2 */
      d = nitrt_sadd(nitrt_sint(q[1]), epsn);
      rho = d.m == 0 ? zero : nitrt_srsqrt(d);
    } else {
      d = nitrt_sadd(nitrt_smul(l->k, nitrt_sint(q[1])), epsn);
      rho = d.m == 0 ? zero : nitrt_sdiv(nitrt_sint(l->nn), d);
    }
    put2(q + 2, rho);
  }
}

static void running_update(const Norm *l, const int64_t *st, int32_t s_x, int32_t *run) {
  for (int64_t c = 0; c < l->c; c++) {
    const int64_t *q = st + NIT_NORM_STAT * c;
    int32_t *r = run + 4 * c;
    NitS31 mean = {r[0], r[1]}, dev = {r[2], r[3]};
    NitS31 mu = nitrt_sdiv(nitrt_snorm(q[0], s_x), nitrt_sint(l->nn));
    mean = nitrt_sadd(nitrt_smul(l->rest, mean), nitrt_smul(l->mom, mu));
    if (!l->l1 && l->nn > 1) {
      NitS31 var = nitrt_sdiv(nitrt_snorm(q[1], 2 * (int64_t)s_x), nitrt_sint(l->nn * (l->nn - 1)));
      dev = nitrt_sadd(nitrt_smul(l->rest, dev), nitrt_smul(l->mom, var));
    } else if (l->l1) {
      NitS31 mad = nitrt_sdiv(nitrt_snorm(q[1], s_x), nitrt_sint(l->nn * l->nn));
      dev = nitrt_sadd(nitrt_smul(l->rest, dev), nitrt_smul(l->mom, mad));
    }
    r[0] = (int32_t)mean.m, r[1] = mean.e, r[2] = (int32_t)dev.m, r[3] = dev.e;
  }
}

/* S = LINSUM((a_{b,c}, u, s_u), (bc_c, 1, 0)) with u = z (centred, from the
 * batch: a per (sample, channel)) or u = v (running statistics: a per
 * channel, stride 0 over samples). */
static int32_t affine(const Norm *l, const int8_t *v, const int64_t *st, int centred, int32_t s_u,
                      const int64_t *a, int64_t a_stride, const int64_t *bc, int64_t *S) {
  uint64_t umax = 0;
  for (int64_t b = 0; b < l->n; b++)
    for (int64_t c = 0; c < l->c; c++) {
      const int8_t *p = v + (b * l->c + c) * l->hw;
      int64_t s1 = centred ? st[NIT_NORM_STAT * (l->batch ? c : b)] : 0, nn = centred ? l->nn : 1;
      for (int64_t k = 0; k < l->hw; k++)
        if (mag(nn * p[k] - s1) > umax) umax = mag(nn * p[k] - s1);
    }
  Lin L = {0, 0, 0};
  for (int64_t b = 0; b < l->n; b++)
    for (int64_t c = 0; c < l->c; c++) see(&L, get2(a + 2 * (b * a_stride + c)), s_u, umax);
  for (int64_t c = 0; c < l->c; c++) see(&L, get2(bc + 2 * c), 0, 1);
  int64_t w = common(&L);
  for (int64_t b = 0; b < l->n; b++)
    for (int64_t c = 0; c < l->c; c++) {
      const int8_t *p = v + (b * l->c + c) * l->hw;
      int64_t *o = S + (b * l->c + c) * l->hw;
      int64_t s1 = centred ? st[NIT_NORM_STAT * (l->batch ? c : b)] : 0, nn = centred ? l->nn : 1;
      NitS31 ac = get2(a + 2 * (b * a_stride + c));
      int64_t shift = L.live ? align(get2(bc + 2 * c), 1, 0, w) : 0;
      for (int64_t k = 0; k < l->hw; k++) o[k] = L.live ? align(ac, nn * p[k] - s1, s_u, w) + shift : 0;
    }
  return (int32_t)w;
}

int32_t nitrt_norm_forward(const int64_t *desc, int64_t n, const int8_t *v, int32_t s_x, const int8_t *gamma,
                           int32_t s_g, const int8_t *beta, int32_t s_b, int32_t train, int32_t *running,
                           int64_t *st, int64_t *scratch, int64_t *S) {
  Norm l = describe(desc, n);
  int64_t *a = scratch, *bc = scratch + 2 * n * l.c; /* (n, C) and (C) {m, e} */
  if (train || !l.batch) {
    group_stats(&l, v, s_x, st);
    if (train && l.batch) running_update(&l, st, s_x, running);
    for (int64_t b = 0; b < n; b++)
      for (int64_t c = 0; c < l.c; c++)
        put2(a + 2 * (b * l.c + c),
             nitrt_smul(nitrt_snorm(gamma[c], s_g), get2(st + NIT_NORM_STAT * (l.batch ? c : b) + 2)));
    for (int64_t c = 0; c < l.c; c++) put2(bc + 2 * c, nitrt_snorm(beta[c], s_b));
    return affine(&l, v, st, 1, 0, a, l.c, bc, S);
  }
  /* evaluation with running statistics: y = a_c v + b_c */
  for (int64_t c = 0; c < l.c; c++) {
    const int32_t *r = running + 4 * c;
    NitS31 mean = {r[0], r[1]}, dev = {r[2], r[3]}, rho;
    if (!l.l1) rho = nitrt_srsqrt(nitrt_sadd(dev, l.eps));
    else rho = nitrt_sdiv(nitrt_s31_one(), nitrt_sadd(nitrt_smul(l.k, dev), l.eps));
    NitS31 ac = nitrt_smul(nitrt_snorm(gamma[c], s_g), rho);
    put2(a + 2 * c, ac);
    put2(bc + 2 * c, nitrt_sadd(nitrt_snorm(beta[c], s_b), nitrt_sneg(nitrt_smul(ac, mean))));
  }
  return affine(&l, v, st, 0, s_x, a, 0, bc, S);
}

/* ----------------------------------------------------------- backward */

int32_t nitrt_norm_backward(const int64_t *desc, int64_t n, const int8_t *v, int32_t s_x, const int64_t *st,
                            const int8_t *gamma, int32_t s_g, const int8_t *dy, int32_t s_e, int64_t *scratch,
                            int64_t *S, int64_t *dbeta, int64_t *dgamma, int32_t *s_dgamma) {
  Norm l = describe(desc, n);
  int64_t ng = l.ng, nn = l.nn;
  int64_t *P = scratch, *Q = P + ng, *Sg = Q + ng, *c1 = Sg + ng, *c2 = c1 + 2 * ng, *dg = c2 + 2 * ng;
  NitS31 zero = {0, 0};
  for (int64_t g = 0; g < ng; g++) P[g] = Q[g] = Sg[g] = 0;
  for (int64_t c = 0; c < l.c; c++) {
    dbeta[c] = 0;
    put2(dg + 2 * c, zero);
  }
  /* group sums P = sum dh, Q = sum dh z, Sg = sum sign z (dh = g_c dy);
   * dbeta; dgamma_c = sum over groups, ascending, of rho_g Qd_{g,c} */
  for (int64_t b = 0; b < n; b++)
    for (int64_t c = 0; c < l.c; c++) {
      const int8_t *pv = v + (b * l.c + c) * l.hw, *pd = dy + (b * l.c + c) * l.hw;
      int64_t g = l.batch ? c : b, s1 = st[NIT_NORM_STAT * g], p = 0, q = 0, sg = 0, db = 0, qd = 0;
      for (int64_t k = 0; k < l.hw; k++) {
        int64_t z = nn * pv[k] - s1, dh = (int64_t)gamma[c] * pd[k];
        p += dh;
        q += dh * z;
        sg += sgn(z);
        db += pd[k];
        qd += (int64_t)pd[k] * z;
      }
      P[g] += p, Q[g] += q, Sg[g] += sg, dbeta[c] += db;
      if (!l.batch) /* one group per sample: its term for channel c is complete */
        put2(dg + 2 * c, nitrt_sadd(get2(dg + 2 * c), nitrt_smul(get2(st + NIT_NORM_STAT * g + 2), nitrt_sint(qd))));
      else /* the channel's only group: Qd accumulates over the samples */
        dg[2 * c + 1] += qd; /* held in the exponent slot until the end */
    }
  if (l.batch)
    for (int64_t c = 0; c < l.c; c++)
      put2(dg + 2 * c, nitrt_sadd(zero, nitrt_smul(get2(st + NIT_NORM_STAT * c + 2), nitrt_sint(dg[2 * c + 1]))));
  /* dgamma: LINSUM((dgamma_c, 1, s_e)) */
  Lin Lg = {0, 0, 0};
  for (int64_t c = 0; c < l.c; c++) see(&Lg, get2(dg + 2 * c), s_e, 1);
  int64_t wg = common(&Lg);
  for (int64_t c = 0; c < l.c; c++) dgamma[c] = Lg.live ? align(get2(dg + 2 * c), 1, s_e, wg) : 0;
  *s_dgamma = (int32_t)wg;
  if (!S) return 0;

  /* dx = LINSUM((rho, T, sd), (c2, z or U, sd)), T = N dh - P, U = N sign z - Sg */
  for (int64_t g = 0; g < ng; g++) {
    NitS31 rho = get2(st + NIT_NORM_STAT * g + 2), q = nitrt_sint(Q[g]);
    put2(c1 + 2 * g, rho);
    if (!l.l1)
      put2(c2 + 2 * g, nitrt_sneg(nitrt_smul(nitrt_smul(nitrt_smul(rho, rho), rho), q)));
    else
      put2(c2 + 2 * g, nitrt_sneg(nitrt_sdiv(nitrt_smul(nitrt_smul(l.k, nitrt_smul(rho, rho)), q), nitrt_sint(nn))));
  }
  uint64_t tmax = 0, umax = 0;
  for (int64_t b = 0; b < n; b++)
    for (int64_t c = 0; c < l.c; c++) {
      const int8_t *pv = v + (b * l.c + c) * l.hw, *pd = dy + (b * l.c + c) * l.hw;
      int64_t g = l.batch ? c : b, s1 = st[NIT_NORM_STAT * g];
      for (int64_t k = 0; k < l.hw; k++) {
        int64_t z = nn * pv[k] - s1, t = nn * gamma[c] * pd[k] - P[g];
        int64_t u = l.l1 ? nn * sgn(z) - Sg[g] : z;
        if (mag(t) > tmax) tmax = mag(t);
        if (mag(u) > umax) umax = mag(u);
      }
    }
  int64_t sd = (int64_t)s_g + s_e - s_x;
  Lin L = {0, 0, 0};
  for (int64_t g = 0; g < ng; g++) {
    see(&L, get2(c1 + 2 * g), sd, tmax);
    see(&L, get2(c2 + 2 * g), sd, umax);
  }
  int64_t w = common(&L);
  for (int64_t b = 0; b < n; b++)
    for (int64_t c = 0; c < l.c; c++) {
      const int8_t *pv = v + (b * l.c + c) * l.hw, *pd = dy + (b * l.c + c) * l.hw;
      int64_t *o = S + (b * l.c + c) * l.hw;
      int64_t g = l.batch ? c : b, s1 = st[NIT_NORM_STAT * g];
      NitS31 a1 = get2(c1 + 2 * g), a2 = get2(c2 + 2 * g);
      for (int64_t k = 0; k < l.hw; k++) {
        int64_t z = nn * pv[k] - s1, t = nn * gamma[c] * pd[k] - P[g];
        int64_t u = l.l1 ? nn * sgn(z) - Sg[g] : z;
        o[k] = L.live ? align(a1, t, sd, w) + align(a2, u, sd, w) : 0;
      }
    }
  return (int32_t)w;
}
