/*
 * recipe_norm.c: the normalization layers batchnorm, layernorm, l1norm and
 * l1layernorm (R§7): training forward, running statistics, eval forward,
 * backward and parameter gradients.
 *
 * Tensors are (n, C, HW) row-major: element j is sample j / (C HW), channel
 * (j / HW) % C. A group is a channel over (n, HW) for the batch-statistics
 * kinds (BN, L1BN), a sample over (C, HW) for the others (LN, L1LN). Every
 * per-group sum is exact in int64 under N <= REC_NORM_MAX_GROUP.
 */
#include "recipe.h"

#include <stdlib.h>

#include "ref.h"

int rec_norm_batch_stats(RecNormKind kind) {
  return kind == REC_BN || kind == REC_L1BN;
}

static int is_l1(RecNormKind kind) {
  return kind == REC_L1BN || kind == REC_L1LN;
}

int64_t rec_norm_groups(const RecNorm *l) {
  return rec_norm_batch_stats(l->kind) ? l->c : l->n;
}

int64_t rec_norm_group_size(const RecNorm *l) {
  return rec_norm_batch_stats(l->kind) ? (int64_t)l->n * l->hw : (int64_t)l->c * l->hw;
}

static int64_t count_of(const RecNorm *l) {
  return (int64_t)l->n * l->c * l->hw;
}

static int64_t chan_of(const RecNorm *l, int64_t j) {
  return (j / l->hw) % l->c;
}

static int64_t group_of(const RecNorm *l, int64_t j) {
  return rec_norm_batch_stats(l->kind) ? chan_of(l, j) : j / ((int64_t)l->c * l->hw);
}

/* LINSUM coefficient layout of a per-group term: element j uses c[(j / div) % ngroups]. */
static int64_t group_div(const RecNorm *l) {
  return rec_norm_batch_stats(l->kind) ? l->hw : (int64_t)l->c * l->hw;
}

static int64_t sgn(int64_t x) {
  return (x > 0) - (x < 0);
}

/* ------------------------------------------------------------- forward */

/* S1, the deviation sum (V or A) and rho of every group (R§7.2). */
static void group_stats(const RecNorm *l, const int8_t *v, int s_x, RecNormStat *st) {
  int64_t ng = rec_norm_groups(l), nn = rec_norm_group_size(l), cnt = count_of(l);
  for (int64_t g = 0; g < ng; g++) {
    st[g].s1 = 0;
    st[g].var = 0;
  }
  for (int64_t j = 0; j < cnt; j++)
    st[group_of(l, j)].s1 += v[j];
  if (!is_l1(l->kind)) {
    for (int64_t j = 0; j < cnt; j++)
      st[group_of(l, j)].var += (int64_t)v[j] * v[j]; /* S2 for now */
    for (int64_t g = 0; g < ng; g++)
      st[g].var = nn * st[g].var - st[g].s1 * st[g].s1; /* V = N S2 - S1^2 < 2^54 */
  } else {
    for (int64_t j = 0; j < cnt; j++) {
      int64_t g = group_of(l, j);
      int64_t z = nn * v[j] - st[g].s1;
      st[g].var += z < 0 ? -z : z; /* A = sum |z| < 2^48 */
    }
  }
  for (int64_t g = 0; g < ng; g++) {
    RecScalar d, zero = {0, 0};
    if (!is_l1(l->kind)) {
      /* D = V + eps N^2 2^(-2 s_x); rho = 1/sqrt(D) */
      d = rec_sadd(rec_sint(st[g].var), rec_smul(l->eps, rec_snorm(nn * nn, -2 * (int64_t)s_x)));
      st[g].rho = d.m == 0 ? zero : rec_srsqrt(d);
    } else {
      /* D = K A + eps N^2 2^(-s_x); rho = N / D */
      d = rec_sadd(rec_smul(l->k, rec_sint(st[g].var)),
                   rec_smul(l->eps, rec_snorm(nn * nn, -(int64_t)s_x)));
      st[g].rho = d.m == 0 ? zero : rec_sdiv(rec_sint(nn), d);
    }
  }
}

/* y = LINCOMB_b((a_{b,c}, u, s_u), (b_c, 1, 0)) with a per (sample, channel). */
static int affine_out(const RecNorm *l, const int64_t *u, int64_t s_u, const RecScalar *a,
                      const RecScalar *bc, int b_a, int mode, uint64_t key, int8_t *y, int *s_y,
                      int64_t *scratch) {
  int64_t cnt = count_of(l);
  RecTerm t[2] = {
      {u, s_u, a, (int64_t)l->n * l->c, l->hw},
      {NULL, 0, bc, l->c, l->hw},
  };
  int64_t w = rec_linsum(t, 2, cnt, scratch);
  *s_y = (int)(w + rec_rq8(scratch, cnt, b_a, mode, key, y));
  return 0;
}

int rec_norm_forward(const RecNorm *l, const int8_t *v, int s_x, const int8_t *gamma, int s_g,
                     const int8_t *beta, int s_b, int b_a, int mode, uint64_t key,
                     RecNormStat *st, int8_t *y, int *s_y, int64_t *scratch) {
  int64_t nn = rec_norm_group_size(l), cnt = count_of(l);
  if (nn > REC_NORM_MAX_GROUP || nn < 1)
    return -1;
  group_stats(l, v, s_x, st);
  RecScalar *a = malloc(sizeof(RecScalar) * (size_t)l->n * (size_t)l->c);
  RecScalar *bc = malloc(sizeof(RecScalar) * (size_t)l->c);
  if (!a || !bc) {
    free(a);
    free(bc);
    return -1;
  }
  /* z_j = N v_j - S1 (the centred value times N, |z| < 2^28) */
  int64_t *z = scratch + cnt;
  for (int64_t j = 0; j < cnt; j++)
    z[j] = nn * v[j] - st[group_of(l, j)].s1;
  for (int b = 0; b < l->n; b++)
    for (int c = 0; c < l->c; c++) {
      int64_t g = rec_norm_batch_stats(l->kind) ? c : b;
      a[(int64_t)b * l->c + c] = rec_smul(rec_snorm(gamma[c], s_g), st[g].rho);
    }
  for (int c = 0; c < l->c; c++)
    bc[c] = rec_snorm(beta[c], s_b);
  affine_out(l, z, 0, a, bc, b_a, mode, key, y, s_y, scratch);
  free(a);
  free(bc);
  return 0;
}

/* -------------------------------------------------- running statistics */

void rec_norm_running_init(const RecNorm *l, RecScalar *mean, RecScalar *dev) {
  RecScalar zero = {0, 0};
  for (int c = 0; c < l->c; c++) {
    mean[c] = zero;
    dev[c] = is_l1(l->kind) ? rec_sdiv(rec_one(), l->k) : rec_one(); /* K dev = 1 */
  }
}

void rec_norm_running_update(const RecNorm *l, const RecNormStat *st, int s_x, RecScalar m,
                             RecScalar one_minus_m, RecScalar *mean, RecScalar *dev) {
  if (!rec_norm_batch_stats(l->kind))
    return;
  int64_t nn = rec_norm_group_size(l);
  for (int c = 0; c < l->c; c++) {
    RecScalar mu = rec_sdiv(rec_snorm(st[c].s1, s_x), rec_sint(nn));
    mean[c] = rec_sadd(rec_smul(one_minus_m, mean[c]), rec_smul(m, mu));
    if (!is_l1(l->kind)) {
      if (nn == 1)
        continue; /* no unbiased variance of one element */
      RecScalar var = rec_sdiv(rec_snorm(st[c].var, 2 * (int64_t)s_x), rec_sint(nn * (nn - 1)));
      dev[c] = rec_sadd(rec_smul(one_minus_m, dev[c]), rec_smul(m, var));
    } else {
      RecScalar mad = rec_sdiv(rec_snorm(st[c].var, s_x), rec_sint(nn * nn));
      dev[c] = rec_sadd(rec_smul(one_minus_m, dev[c]), rec_smul(m, mad));
    }
  }
}

int rec_norm_eval(const RecNorm *l, const int8_t *v, int s_x, const int8_t *gamma, int s_g,
                  const int8_t *beta, int s_b, const RecScalar *mean, const RecScalar *dev,
                  int b_a, int mode, uint64_t key, int8_t *y, int *s_y, int64_t *scratch) {
  if (!rec_norm_batch_stats(l->kind)) {
    RecNormStat *st = malloc(sizeof(RecNormStat) * (size_t)l->n);
    if (!st)
      return -1;
    int rc = rec_norm_forward(l, v, s_x, gamma, s_g, beta, s_b, b_a, mode, key, st, y, s_y,
                              scratch);
    free(st);
    return rc;
  }
  int64_t cnt = count_of(l);
  RecScalar *a = malloc(sizeof(RecScalar) * (size_t)l->n * (size_t)l->c);
  RecScalar *bc = malloc(sizeof(RecScalar) * (size_t)l->c);
  if (!a || !bc) {
    free(a);
    free(bc);
    return -1;
  }
  for (int c = 0; c < l->c; c++) {
    RecScalar rho;
    if (!is_l1(l->kind))
      rho = rec_srsqrt(rec_sadd(dev[c], l->eps));
    else
      rho = rec_sdiv(rec_one(), rec_sadd(rec_smul(l->k, dev[c]), l->eps));
    RecScalar ac = rec_smul(rec_snorm(gamma[c], s_g), rho);
    bc[c] = rec_sadd(rec_snorm(beta[c], s_b), rec_sneg(rec_smul(ac, mean[c])));
    for (int b = 0; b < l->n; b++)
      a[(int64_t)b * l->c + c] = ac;
  }
  int64_t *u = scratch + cnt;
  for (int64_t j = 0; j < cnt; j++)
    u[j] = v[j];
  affine_out(l, u, s_x, a, bc, b_a, mode, key, y, s_y, scratch);
  free(a);
  free(bc);
  return 0;
}

/* ------------------------------------------------------------ backward */

int64_t rec_norm_backward_wide(const RecNorm *l, const int8_t *v, int s_x, const RecNormStat *st,
                               const int8_t *gamma, int s_g, const int8_t *dy, int s_e,
                               int64_t *s, int64_t *scratch) {
  return rec_norm_backward_wide_mu(l, v, s_x, st, gamma, s_g, dy, s_e, 1, s, scratch);
}

int64_t rec_norm_backward_wide_mu(const RecNorm *l, const int8_t *v, int s_x, const RecNormStat *st,
                                  const int8_t *gamma, int s_g, const int8_t *dy, int s_e, int mu,
                                  int64_t *s, int64_t *scratch) {
  int64_t ng = rec_norm_groups(l), nn = rec_norm_group_size(l), cnt = count_of(l);
  int64_t *tt = scratch, *zu = scratch + cnt; /* T and (z or U), (n, C, HW) */
  int64_t *p = calloc((size_t)ng, sizeof(int64_t));
  int64_t *q = calloc((size_t)ng, sizeof(int64_t));
  int64_t *sg = calloc((size_t)ng, sizeof(int64_t));
  RecScalar *c1 = malloc(sizeof(RecScalar) * (size_t)ng);
  RecScalar *c2 = malloc(sizeof(RecScalar) * (size_t)ng);
  int64_t w = 0;
  if (!p || !q || !sg || !c1 || !c2)
    goto out; /* out of memory: s is left unset (callers check allocations) */
  /* dh_j = g_c dy_j (|dh| < 2^14); P = sum dh; Q = sum dh z (|Q| < 2^62) */
  for (int64_t j = 0; j < cnt; j++) {
    int64_t g = group_of(l, j);
    int64_t z = nn * v[j] - st[g].s1;
    int64_t dh = (int64_t)gamma[chan_of(l, j)] * dy[j];
    p[g] += dh;
    q[g] += dh * z;
    sg[g] += sgn(z);
    zu[j] = z;
    tt[j] = dh;
  }
  /* T_j = N dh_j - P (exact, |T| < 2^35); L1: U_j = N sign(z_j) - Sg */
  for (int64_t j = 0; j < cnt; j++) {
    int64_t g = group_of(l, j);
    tt[j] = nn * tt[j] - p[g];
    if (is_l1(l->kind))
      zu[j] = nn * sgn(zu[j]) - sg[g];
  }
  for (int64_t g = 0; g < ng; g++) {
    RecScalar rho = st[g].rho;
    c1[g] = rho;
    if (!is_l1(l->kind)) /* - rho^3 Q */
      c2[g] = rec_sneg(rec_smul(rec_smul(rec_smul(rho, rho), rho), rec_sint(q[g])));
    else /* - K rho^2 Q / N */
      c2[g] = rec_sneg(
          rec_sdiv(rec_smul(rec_smul(l->k, rec_smul(rho, rho)), rec_sint(q[g])), rec_sint(nn)));
    if (mu != 1) { /* unified (R§7.4): the error's multiplier, last, on every coefficient */
      c1[g] = rec_smul(c1[g], rec_sint(mu));
      c2[g] = rec_smul(c2[g], rec_sint(mu));
    }
  }
  /* LINSUM((rho, T, sd), (c2, z or U, sd)), sd = s_g + s_e - s_x */
  int64_t sd = (int64_t)s_g + s_e - s_x;
  RecTerm t[2] = {
      {tt, sd, c1, ng, group_div(l)},
      {zu, sd, c2, ng, group_div(l)},
  };
  w = rec_linsum(t, 2, cnt, s);
out:
  free(p);
  free(q);
  free(sg);
  free(c1);
  free(c2);
  return w;
}

void rec_norm_backward(const RecNorm *l, const int8_t *v, int s_x, const RecNormStat *st,
                       const int8_t *gamma, int s_g, const int8_t *dy, int s_e, int b_g, int mode,
                       uint64_t key, int8_t *dx, int *s_dx, int64_t *scratch) {
  int64_t cnt = count_of(l);
  int64_t *s = scratch + 2 * cnt;
  int64_t w = rec_norm_backward_wide(l, v, s_x, st, gamma, s_g, dy, s_e, s, scratch);
  *s_dx = (int)(w + rec_rq8(s, cnt, b_g, mode, key, dx)); /* ghaffari's EQ: RQ_b */
}

/* ---------------------------------------------------- parameter grads */

int rec_norm_param_grads(const RecNorm *l, const int8_t *v, const RecNormStat *st,
                         const int8_t *dy, int64_t *dbeta, RecScalar *dgamma) {
  return rec_norm_param_grads_mu(l, v, st, dy, 1, dbeta, dgamma);
}

int rec_norm_param_grads_mu(const RecNorm *l, const int8_t *v, const RecNormStat *st,
                            const int8_t *dy, int mu, int64_t *dbeta, RecScalar *dgamma) {
  int64_t ng = rec_norm_groups(l), nn = rec_norm_group_size(l), cnt = count_of(l);
  int64_t *qd = calloc((size_t)ng * (size_t)l->c, sizeof(int64_t)); /* (groups, C) */
  if (!qd)
    return -1;
  RecScalar zero = {0, 0};
  for (int c = 0; c < l->c; c++) {
    dbeta[c] = 0;
    dgamma[c] = zero;
  }
  /* dbeta_c = sum dy; Qd_{g,c} = sum dy z over group g in channel c (< 2^55) */
  for (int64_t j = 0; j < cnt; j++) {
    int64_t g = group_of(l, j), c = chan_of(l, j);
    dbeta[c] += dy[j];
    qd[g * l->c + c] += (int64_t)dy[j] * (nn * v[j] - st[g].s1);
  }
  /* dgamma_c = sum over groups g, ascending, of smul(rho_g, sint(Qd_{g,c}));
   * a pair with no element has Qd = 0 and adds nothing */
  for (int64_t g = 0; g < ng; g++)
    for (int c = 0; c < l->c; c++)
      dgamma[c] = rec_sadd(dgamma[c], rec_smul(st[g].rho, rec_sint(qd[g * l->c + c])));
  if (mu != 1) /* unified (R§7.5): dbeta exactly, dgamma with smul, after the sums */
    for (int c = 0; c < l->c; c++) {
      dbeta[c] *= mu;
      dgamma[c] = rec_smul(dgamma[c], rec_sint(mu));
    }
  free(qd);
  return 0;
}

int rec_norm_dgamma_to_g(const RecScalar *dgamma, int c, int s_e, int mode, uint64_t key,
                         int32_t *g) {
  int64_t *s = malloc(sizeof(int64_t) * (size_t)c);
  int64_t *o = malloc(sizeof(int64_t) * (size_t)c);
  int64_t e = 0;
  if (s && o) {
    RecTerm t = {NULL, s_e, dgamma, c, 1};
    e = rec_lincomb(&t, 1, c, 32, mode, key, s, o);
    for (int i = 0; i < c; i++)
      g[i] = (int32_t)o[i];
  }
  free(s);
  free(o);
  return (int)e;
}
