/*
 * recipe.h: the plain C reference of the building blocks and per-tensor
 * rules of the recipes beyond NITI (`ghaffari` first), as specified in
 * ../shared/spec/recipes.md (cited R§k) and restated in docs/recipes.md.
 *
 * Same style as ref.h: plain loops that are obviously correct, no floating
 * point, int64 per element and 128-bit integers only where R§2.3 allows them
 * (the products of LINSUM, the comparison of SRdiv, per-tensor and per-group
 * scalar arithmetic). Library code never prints and never exits.
 *
 * Files:
 *   recipe_scalar.c  S31 scalars, Q30 tables, RQ_b, shiftquant's SQ_b,
 *                    SRdiv, aligned sums, LINSUM / LINCOMB    (R§1-§2, §9.2)
 *   recipe_loss.c    table softmax with its exact scale            (R§5)
 *   recipe_sgd.c     masters, views, gradient reduction, SGD step,
 *                    learning-rate schedules                        (R§6)
 *   recipe_norm.c    batchnorm / layernorm (and the L1 variants):
 *                    forward, running statistics, eval, backward,
 *                    parameter gradients                            (R§7)
 *   recipe_clip.c    unified's clip-level quantizer CQ, the integer
 *                    cosine, the search and held clip of a DSGC site,
 *                    the learning-rate factor phi                   (R§10)
 *
 * Names: R§13.1 lists `ref_smul`, `ref_norm_forward`, ...; here they carry the
 * prefix `rec_` (so that they cannot be mistaken for the NITI rules of ref.h)
 * and keep the rest of the name.
 */
#ifndef RECIPE_H
#define RECIPE_H

#include <stdint.h>

#include "nitabi.h"

/* 128-bit integers (GCC and Clang on every 64-bit target); __extension__
 * keeps -Wpedantic quiet about the non-ISO type. */
__extension__ typedef __int128 rec_i128;
__extension__ typedef unsigned __int128 rec_u128;

/* ------------------------------------------------------ generator streams */

/* R§1.5: four streams per parameter tensor p, NIT_TID_OPT(p, j) in
 * nitabi.h: j = NIT_OPT_GRAD the exact gradient reduced to 31 bits (R§6.2)
 * and norm parameter gradients (R§7.5); NIT_OPT_MOM the momentum update;
 * NIT_OPT_MASTER the master update (R§6.3); NIT_OPT_VIEW the view of the
 * master (R§6.1), eval at step NIT_STEP_EVAL. */
#define REC_OPT_GRAD NIT_OPT_GRAD
#define REC_OPT_MOM NIT_OPT_MOM
#define REC_OPT_MASTER NIT_OPT_MASTER
#define REC_OPT_VIEW NIT_OPT_VIEW
#define REC_MAX_PARAMS NIT_MAX_PARAMS

/* ------------------------------------------------------------ S31 scalars */

/* R§2.1: value m * 2^e with 2^30 <= |m| < 2^31, or m = 0 and e = 0.
 * Exponents stay far inside int32 for every input the compiler accepts; the
 * operations compute them in int64 and store them as int32. */
typedef struct RecScalar {
  int64_t m;
  int32_t e;
} RecScalar;

/* ONE = (2^30, -30). */
RecScalar rec_one(void);
/* snorm(P, E): normalize an integer P (|P| < 2^127) at exponent E, rounding
 * half away from zero on the magnitude when P has more than 31 bits. */
RecScalar rec_snorm(rec_i128 p, int64_t e);
/* sint(P) = snorm(P, 0). */
RecScalar rec_sint(int64_t p);
RecScalar rec_smul(RecScalar a, RecScalar b);
RecScalar rec_sneg(RecScalar a);
RecScalar rec_sadd(RecScalar a, RecScalar b);
/* b != 0 (b = 0 returns 0: callers never divide by zero, R§7 checks D). */
RecScalar rec_sdiv(RecScalar a, RecScalar b);
/* 1/sqrt(a) for a > 0 (a <= 0 returns 0). */
RecScalar rec_srsqrt(RecScalar a);
/* The value times 2^30, rounded half away from zero; |value| < 2. */
int64_t rec_sq30(RecScalar a);
/* The scalar of a .nit decimal N / 10^f (N < 10^18, f <= 9); 0 for N = 0. */
RecScalar rec_sdec(uint64_t n, int f);
/* Decimal N / 10^f as Q30 / Q16: (2 N 2^q + 10^f) div (2 10^f). */
int64_t rec_q30_dec(uint64_t n, int f);
int64_t rec_q16_dec(uint64_t n, int f);

/* Largest r with r*r <= v, for 128-bit v. */
uint64_t rec_isqrt128(rec_u128 v);
/* R_near(a, k) for a >= 0: (a >> k) + bit k-1 of a; a << -k for k <= 0
 * (the caller keeps that shift in range). */
rec_u128 rec_rnear128(rec_u128 a, int64_t k);

/* --------------------------------------------------------------- tables */

/* R§2.2 / Appendix A, Q30. */
extern const int32_t REC_EXP2NEG_Q30[65]; /* round(2^30 2^(-j/64)) */
extern const int32_t REC_COSHALF_Q30[65]; /* round(2^30 (1 + cos(pi j/64))/2) */
#define REC_LOG2E_Q30 1549082005        /* log2 e */
#define REC_SQRT_PI_2_Q30 1345735808    /* sqrt(pi/2), default k of L1 norms */
#define REC_LN2_Q30 744261118           /* ln 2, for logging only */

/* Linear interpolation of a decreasing 65-entry table at X in Q16, 0..2^16. */
int64_t rec_interp_q30(const int32_t *t, int64_t x);
/* 2^(-Y/2^16) in Q30, Y >= 0. */
int64_t rec_exp2neg_q30(int64_t y);
/* (1 + cos(pi p/T))/2 in Q30, 0 <= p <= T, T >= 1. */
int64_t rec_cosq_q30(int64_t p, int64_t t);

/* ------------------------------------------------------- rounding, sums */

/* sat_b(x): clamp to [-lim(b), lim(b)], lim(b) = 2^(b-1) - 1, b in 2..63. */
int64_t rec_lim(int b);
/* RQ_b(x; mode, key) (R§1.1): k = max(0, B(x) - (b-1)), out[j] =
 * sat_b(R_mode(x[j], k)) with the draw of index j. x and out (count) may be
 * the same array. b in 2..32. Returns k (exponent increase). An all-zero x
 * gives zeros and k = 0 (R§1.2). */
int rec_rq(const int64_t *x, int64_t count, int b, int mode, uint64_t key, int64_t *out);
/* The same with an int8 result (b <= 8). */
int rec_rq8(const int64_t *x, int64_t count, int b, int mode, uint64_t key, int8_t *out);

/* SQ_b(x; mode, key) of recipe shiftquant (R§9.2), b in 2..8, J = 8 - b:
 * BT = B(x), kT = max(0, BT - (b-1)), base = kT - J; element j belongs to
 * group g = (j / div) % ngroups (RecTerm's convention), whose step is
 * kc[g] = max(0, base, B(x restricted to g) - (b-1)); out[j] =
 * sat_b(R_mode(x[j], kc[g])) << (kc[g] - base), rounded with the draw of
 * the flat index j (the same per-element rounding as rec_rq8). The result
 * is one int8 tensor (|out| <= lim(b) 2^J <= 127) at exponent s + base.
 * Returns base (may be negative, down to -J). kc (ngroups) receives every
 * group's step. An all-zero x gives zeros, base 0 and kc = 0 (R§1.2, as
 * rec_rq8's k = 0). div, ngroups >= 1. */
int rec_sq(const int64_t *x, int64_t count, int b, int64_t div, int64_t ngroups, int mode,
           uint64_t key, int *kc, int8_t *out);
/* SQ_b's groups for an (n, C, HW) error tensor (the loss's: C = classes,
 * HW = 1) under the `groups` setting NIT_GROUPS_*: channel c = (j / HW) % C,
 * sample j / (C HW), or the whole tensor as one group. Sets *div and
 * *ngroups for rec_sq; 0, or -1 for an unknown setting. */
int rec_sq_groups(int groups, int64_t n, int64_t c, int64_t hw, int64_t *div, int64_t *ngroups);

/* SRdiv(a, d; key, j) (R§2.4), a >= 0, d >= 1: a div d, plus 1 when
 * F 2^64 > nit_draw(key, j) d with F = a mod d (compared in 128 bits). */
uint64_t rec_srdiv(uint64_t a, uint64_t d, uint64_t key, uint64_t j);

/* Guarded aligned sum (R§2.5, N§6): tensors t[i] (count each, exponents
 * exps[i]) aligned to s = max(min exp, max exp - guard) by exact left shifts
 * and summed; tensors below s are dropped. guard is 48 (44 for unified's
 * multiplied operands). All-zero operands are skipped before the exponents
 * are compared (R§1.2: a zero tensor contributes nothing and its stored
 * exponent means nothing). Returns s, or 0 if every operand is zero. */
int rec_align_sum(const int64_t *const *t, const int *exps, int nt, int64_t count, int guard,
                  int64_t *sum);

/* ---------------------------------------------------- LINSUM / LINCOMB */

/* One term of an affine map (R§2.6): integer tensor u (count, |u| < 2^47)
 * at exponent s, or the constant tensor 1 when u is NULL; S31 coefficients
 * c (ncoef), element j using c[(j / div) % ncoef]. So ncoef = 1 is one
 * coefficient for all; for an (n, C, HW) tensor div = HW, ncoef = C is per
 * channel, div = HW, ncoef = n*C per (sample, channel), div = C*HW,
 * ncoef = n per sample. */
typedef struct RecTerm {
  const int64_t *u;     /* (count) or NULL for the constant 1 */
  int64_t s;            /* exponent of u */
  const RecScalar *c;   /* (ncoef) */
  int64_t ncoef;        /* >= 1 */
  int64_t div;          /* >= 1 */
} RecTerm;

#define REC_MAX_TERMS 4

/* LINSUM (R§2.6): S (count) at the returned exponent W, every aligned
 * term rounded with R_near only when it lies below H - 60. The live pairs
 * are the (term, coefficient) pairs some element uses, with a non-zero
 * coefficient and a term tensor that is not all zero. No live pair: S = 0
 * and W = 0 (R§1.2). nterms in 1..REC_MAX_TERMS. */
int64_t rec_linsum(const RecTerm *terms, int nterms, int64_t count, int64_t *s);
/* LINCOMB_b = RQ_b(LINSUM): out (count, int64) at the returned exponent;
 * scratch (count) holds S. */
int64_t rec_lincomb(const RecTerm *terms, int nterms, int64_t count, int b, int mode,
                    uint64_t key, int64_t *scratch, int64_t *out);

/* ----------------------------------------------------------------- loss */

/* R§5, one row: logits a (classes) at exponent s, label y -> e32 (classes)
 * = t_i - [i = y] C at exponent -15 (sums to 0). classes in 1..8191. */
void rec_tsoftmax_row32(const int8_t *a, int s, int classes, int y, int64_t *e32);
/* The batch before the error quantizer: e32 (n, classes) at exponent -15,
 * row r at r * classes. */
void rec_loss_e32_table(const int8_t *logits, int s, int n, int classes, const int32_t *y,
                        int64_t *e32);
/* The batch: e32 (n, classes) at exponent -15, then EQ = RQ_b (ghaffari)
 * at site LOSS with `mode` and key: e (n, classes) at the returned exponent.
 * (shiftquant's EQ: rec_loss_e32_table, then rec_sq with the classes as
 * channels, exponent -15 + base.) */
int rec_loss_grad_table(const int8_t *logits, int s, int n, int classes, const int32_t *y, int b,
                        int mode, uint64_t key, int64_t *e32, int8_t *e);

/* -------------------------------------------------------- masters, SGD */

/* Master initialization of a dense/conv weight tensor (R§6.1): N§11's c for
 * fan_in, exponent c - 15 (int16) and M15 = min(32767, isqrt(6 4^(15-c) div
 * fan_in)); w[j] = draw mod (2 M15 + 1) - M15 with key
 * nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p)). a_bits = 32: w << 16,
 * exponent - 16. w (count). Returns the exponent; *bound = M15. */
int rec_master_init(int64_t fan_in, int a_bits, uint64_t seed, int p, int64_t count, int32_t *w,
                    int *bound);
/* gamma = 2^(A-2) at 2 - A (1.0); beta = 0 at 0. Return the exponent. */
int rec_gamma_init(int a_bits, int64_t count, int32_t *w);
int rec_beta_init(int64_t count, int32_t *w);

/* The view of a master (R§6.1): RQ_b(w; mode, key), key = nit_key(seed,
 * step, NIT_TID_OPT(p, 3)) (eval: NIT_STEP_EVAL). w (count), view (count).
 * Returns the view's exponent s_w + k. */
int rec_view(const int32_t *w, int64_t count, int s_w, int b, int mode, uint64_t key,
             int8_t *view);
/* The view under shiftquant's `groups weight=channel` (R§9.4): SQ_b(w;
 * mode, key) with the rows of the (O, count / O) weight as the groups
 * (rec_sq). Returns the view's exponent s_w + base; -1000 when out of
 * memory. */
int rec_view_sq(const int32_t *w, int64_t count, int64_t rows, int s_w, int b, int mode,
                uint64_t key, int8_t *view);

/* R§6.2: G = sat_32(R_grad(g32, k)), k = max(0, B(g32) - 31), key
 * OPT(p, 0). g32, g (count). Returns k (G's exponent is s_G0 + k). */
int rec_grad_reduce(const int64_t *g32, int64_t count, int mode, uint64_t key, int32_t *g);

/* One SGD step of one parameter tensor (R§6.3):
 *   V' = LINCOMB_A((momentum, V, s_V), (inv_n, G, s_G), (decay, W, s_W); mode, key_mom)
 *   W' = LINCOMB_A((ONE, W, s_W), (sneg(eta), V', s_V'); mode, key_master)
 * with inv_n = sdiv(ONE, sint(n)). w, v, g (count); v may be NULL (no
 * momentum buffer: then momentum must be 0, V' is computed and dropped).
 * *s_w, *s_v are updated. eta is eta(t) times phi_p. 0, or -1 when out of
 * memory (nothing changed). */
typedef struct RecSgd {
  int a_bits;           /* A: 16 or 32 */
  int mode;             /* update rounding (NIT_ROUND_*) */
  RecScalar eta, momentum, decay;
  int64_t n;            /* samples of this call, >= 1 */
  uint64_t key_mom, key_master; /* nit_key(seed, step, NIT_TID_OPT(p, 1 / 2)) */
} RecSgd;
int rec_sgd_step(const RecSgd *o, int64_t count, int32_t *w, int *s_w, int32_t *v, int *s_v,
                 const int32_t *g, int s_g);

/* Learning-rate schedules (R§6.4). */
#define REC_LR_MAX_STEPS 8
typedef enum { REC_LR_PIECEWISE, REC_LR_COSINE } RecLrKind;
typedef struct RecSchedule {
  RecLrKind kind;
  /* piecewise: value[0] from epoch 1, value[i] from epoch at[i] (i >= 1,
   * strictly increasing); at[0] is ignored */
  int count;
  RecScalar value[REC_LR_MAX_STEPS];
  int64_t at[REC_LR_MAX_STEPS];
  /* cosine: base, min, period in epochs (>= 1) */
  RecScalar base, min;
  int64_t period;
  /* warmup: steps (0 = none) and the start ratio in Q30 */
  int64_t warmup;
  int64_t warmup_ratio_q30;
} RecSchedule;
/* eta(t) for the 1-based epoch, the 0-based global step t and the steps per
 * epoch (>= 1). */
RecScalar rec_lr(const RecSchedule *sch, int64_t epoch, uint64_t t, int64_t steps_per_epoch);

/* ------------------------------------------------- normalization layers */

/* R§7.1: per-sample shape (C, H, W), HW = H*W. */
typedef enum { REC_BN, REC_LN, REC_L1BN, REC_L1LN } RecNormKind;

/* The group-size limit N <= 2^20 (R§7.1), checked statically by the
 * compiler with the compiled batch; the reference refuses larger groups. */
#define REC_NORM_MAX_GROUP ((int64_t)1 << 20)

typedef struct RecNorm {
  RecNormKind kind;
  int n, c;             /* batch, channels */
  int64_t hw;           /* H * W */
  RecScalar eps;        /* sdec of the layer's eps */
  RecScalar k;          /* L1 only: the k argument, default (SQRT_PI_2_Q30, -30) */
} RecNorm;

/* Number of groups: C for the batch-statistics kinds, n for the others; and
 * the elements per group N. */
int64_t rec_norm_groups(const RecNorm *l);
int64_t rec_norm_group_size(const RecNorm *l);
/* 1 for REC_BN and REC_L1BN (batch statistics, running statistics). */
int rec_norm_batch_stats(RecNormKind kind);

/* What the training forward keeps per group for the backward pass and the
 * running statistics. */
typedef struct RecNormStat {
  int64_t s1;           /* sum v */
  int64_t var;          /* L2: N sum v^2 - S1^2; L1: A = sum |z| */
  RecScalar rho;
} RecNormStat;

/* Training forward (R§7.2): v (n, C, HW) int8 at s_x, gamma and beta views
 * (C) at s_g, s_b -> y (n, C, HW) int8 (b_a bits) at the returned exponent
 * (*s_y), st (groups). mode/key: act, ACT(i). scratch: 2 * n*C*HW int64.
 * 0, or -1 when a group exceeds REC_NORM_MAX_GROUP. */
int rec_norm_forward(const RecNorm *l, const int8_t *v, int s_x, const int8_t *gamma, int s_g,
                     const int8_t *beta, int s_b, int b_a, int mode, uint64_t key,
                     RecNormStat *st, int8_t *y, int *s_y, int64_t *scratch);

/* Running statistics (R§7.3), batch-statistics kinds only: per channel c
 * mean[c] and dev[c] (variance for L2, mean absolute deviation for L1),
 * updated from the groups of the last training forward. m and one_minus_m:
 * the layer's momentum and 1 - momentum, both from the decimal (sdec). */
void rec_norm_running_init(const RecNorm *l, RecScalar *mean, RecScalar *dev);
void rec_norm_running_update(const RecNorm *l, const RecNormStat *st, int s_x, RecScalar m,
                             RecScalar one_minus_m, RecScalar *mean, RecScalar *dev);
/* Eval forward (R§7.3). Batch-statistics kinds use mean/dev (C); the others
 * evaluate exactly as in training (mean, dev unused). key: ACT(i) at
 * NIT_STEP_EVAL. scratch: 2 * n*C*HW int64. 0 or -1. */
int rec_norm_eval(const RecNorm *l, const int8_t *v, int s_x, const int8_t *gamma, int s_g,
                  const int8_t *beta, int s_b, const RecScalar *mean, const RecScalar *dev,
                  int b_a, int mode, uint64_t key, int8_t *y, int *s_y, int64_t *scratch);

/* Backward before the error quantizer (R§7.4): dy (n, C, HW) int8 at s_e,
 * the gamma view (C) at s_g of this step, the saved v and st -> the LINSUM
 * sum s (n, C, HW) at the returned exponent. scratch: 2 * n*C*HW int64. */
int64_t rec_norm_backward_wide(const RecNorm *l, const int8_t *v, int s_x, const RecNormStat *st,
                               const int8_t *gamma, int s_g, const int8_t *dy, int s_e,
                               int64_t *s, int64_t *scratch);
/* The same for an error dy carrying unified's multiplier mu (R§1.4, R§7.4):
 * every LINSUM coefficient is multiplied by sint(mu) last (smul); mu = 1 is
 * rec_norm_backward_wide. */
int64_t rec_norm_backward_wide_mu(const RecNorm *l, const int8_t *v, int s_x, const RecNormStat *st,
                                  const int8_t *gamma, int s_g, const int8_t *dy, int s_e, int mu,
                                  int64_t *s, int64_t *scratch);
/* With ghaffari's EQ = RQ_b at ERR(i): dx (n, C, HW) at *s_dx. scratch:
 * 3 * n*C*HW int64. (shiftquant: rec_norm_backward_wide, then rec_sq.) */
void rec_norm_backward(const RecNorm *l, const int8_t *v, int s_x, const RecNormStat *st,
                       const int8_t *gamma, int s_g, const int8_t *dy, int s_e, int b_g, int mode,
                       uint64_t key, int8_t *dx, int *s_dx, int64_t *scratch);

/* Parameter gradients (R§7.5): dbeta (C) exact at s_e; dgamma (C) S31
 * scalars (value times 2^s_e), summed over groups in ascending order.
 * 0, or -1 when out of memory. */
int rec_norm_param_grads(const RecNorm *l, const int8_t *v, const RecNormStat *st,
                         const int8_t *dy, int64_t *dbeta, RecScalar *dgamma);
/* The same for dy carrying unified's multiplier mu (R§7.5): dbeta times mu
 * exactly, dgamma_c = smul(dgamma_c, sint(mu)) after the sums over groups;
 * mu = 1 is rec_norm_param_grads. */
int rec_norm_param_grads_mu(const RecNorm *l, const int8_t *v, const RecNormStat *st,
                            const int8_t *dy, int mu, int64_t *dbeta, RecScalar *dgamma);
/* dgamma as the optimizer's G: LINCOMB_32((dgamma_c, 1, s_e); grad,
 * OPT(p_gamma, 0)) with groups = channels. g (C); returns its exponent. */
int rec_norm_dgamma_to_g(const RecScalar *dgamma, int c, int s_e, int mode, uint64_t key,
                         int32_t *g);

/* --------------------------------------------- unified: CQ, DSGC, phi */

/* R§10.2: clip level l >= 0 has the step Delta(l) = mu(l) 2^(T(l) - 3) in
 * units of x, mu(l) = 8 + (l mod 8), T(l) = l div 8. grid is NIT_GRID_EIGHTH
 * (every level) or NIT_GRID_OCTAVE (multiples of 8 only). */
int rec_clip_mu(int64_t l);
int64_t rec_clip_t(int64_t l);
/* The no-clip level l0: the smallest allowed l with L mu(l) 2^T(l) >= 8 M,
 * L = lim(b). M = 0 gives 0. */
int64_t rec_clip_l0(uint64_t m, int b, int grid);
/* The pre-reduction of R§10.2: when B(x) > 56, x <- sign(x) R_near(|x|,
 * B(x) - 56) in place. Returns the exponent increase (0 otherwise). */
int rec_clip_prereduce(int64_t *x, int64_t count);
/* CQ(x, l) (R§10.2), x already pre-reduced (|x| < 2^56): den = mu(l) <<
 * T(l), a_j = |x_j| << 3, q_j = L if a_j div den >= L, else min(L,
 * SRdiv(a_j, den; key, j)), with the sign of x_j. The result carries the
 * multiplier mu(l) and the exponent s + T(l) - 3, returned as an offset to
 * s (*mu = mu(l)). On the octave grid (l a multiple of 8) the same values
 * are reported as multiplier 1 at offset T(l). */
int64_t rec_cq(const int64_t *x, int64_t count, int64_t l, int b, int grid, uint64_t key,
               int8_t *q, int *mu);
/* The cosine of x (pre-reduced) and its quantized q in Q30 (R§10.3): h =
 * max(0, B(x) - 16), g_j = sign(x_j) (|x_j| >> h), G = sum g^2, Qs = sum
 * q^2, D = sum g q; 0 when G or Qs is 0, else min(2^30, (D << 30) div
 * isqrt(G Qs)). The sums go to *g2, *q2, *d when those are not NULL. */
int64_t rec_cos_q30(const int64_t *x, const int8_t *q, int64_t count, int64_t *g2, int64_t *q2,
                    int64_t *d);

/* The state of a DSGC site (R§10.5): the level l* chosen by the last search
 * and the exponent s* of the tensor it was chosen on; l* = -1 before the
 * first search (the checkpoint's initial value). */
typedef struct RecClip {
  int32_t l, s;
} RecClip;
#define REC_CLIP_NONE ((RecClip){-1, 0})

/* The settings of the clip (R§11.2): clip cosine(every, range, grid) or
 * clip off; b = b_g. */
typedef struct RecClipOpts {
  int on;            /* 0: clip off, CQ(x, l0) */
  int64_t every;     /* P >= 1 */
  int range;         /* R in 1..8 */
  int grid;          /* NIT_GRID_* */
  int b;             /* b_g */
} RecClipOpts;

/* What a DSGC site did this step. */
typedef struct RecClipOut {
  int64_t s;         /* exponent of q (offset applied) */
  int mu;            /* multiplier of q: 1, or 8..15 on the eighth grid */
  int64_t level;     /* the level used (-1 for a zero tensor) */
  int64_t l0;        /* the no-clip level */
  int searched;      /* 1 on a search */
  uint32_t dq;       /* d_c in Q30: 2^30 - cq of the q used */
} RecClipOut;

/* One DSGC site at step t (R§10.5) on the wide error x (count) at exponent
 * s, key of the site: searches when t mod P = 0 (or when *st holds no level
 * yet), else uses the held level l* + 8 (s* - s) clamped to [0, l0]; clip
 * off uses l0. M = 0: zeros, dq = 0, state unchanged. q (count) the int8
 * result. scratch: count int64 (the pre-reduced x) and count int8 (the
 * candidates). 0, or -1 for a bad argument. */
int rec_dsgc_site(const RecClipOpts *o, const int64_t *x, int64_t count, int64_t s, uint64_t t,
                  uint64_t key, RecClip *st, int8_t *q, RecClipOut *out, int64_t *scratch,
                  int8_t *cand);

/* R§10.6: Y = (alpha_q16 dq LOG2E_Q30) >> 60 (128 bits), phi = max(exp2neg(Y),
 * beta_q30) in Q30. alpha_q16 = Q16(alpha), alpha <= 1000; beta_q30 =
 * Q30(beta), 0 < beta <= 1; dq <= 2^30. */
int64_t rec_phi_q30(uint32_t dq, int64_t alpha_q16, int64_t beta_q30);

#endif
