/*
 * ref.h: the numerics reference, a plain C oracle of docs/numerics.md.
 *
 * Everything here is written to be obviously correct rather than fast: plain
 * loops, int64 accumulators everywhere (the generated code may use int32 where
 * the shape proves it safe; the numbers are the same), no floating point at
 * all, no vectorization. Differential tests compare generated code against it
 * byte for byte, so every rule of docs/numerics.md appears here exactly once.
 *
 * Two layers:
 *   primitives  B(V), R(x, k) in three modes, saturation, input quantization,
 *               the init rule, one function per layer direction, the integer
 *               loss gradient and the weight update;
 *   RefNet      a whole network in topological order (node 0 is the input)
 *               with one training step and one eval forward, built by hand or
 *               from the front end's Model (from_model.c, ref_net_from_model).
 *
 * Library code never exits and never prints: failures return -1 and leave a
 * message in RefNet.msg (or are impossible by contract, documented per
 * function). Only ref.h and runtime/nitabi.h are needed to build ref.c.
 */
#ifndef REF_H
#define REF_H

#include <stdint.h>
#include <stdio.h>

#include "nitabi.h"
#include "recipe.h"

/* ---------------------------------------------------------- primitives */

/* B(v) for one magnitude: 0 for 0, else floor(log2(v)) + 1. */
int ref_bits(uint64_t max_abs);
/* |x| as an unsigned value (safe for INT64_MIN). */
uint64_t ref_abs64(int64_t x);
/* B(V) over a tensor: bit length of max |v|. */
int ref_bitlen8(const int8_t *v, int64_t count);
int ref_bitlen32(const int32_t *v, int64_t count);
int ref_bitlen64(const int64_t *v, int64_t count);

/* Saturate x to [-lim, lim] (lim >= 0). */
int64_t ref_sat(int64_t x, int64_t lim);
/* Saturate to the symmetric int8 range [-127, 127]. */
int8_t ref_sat8(int64_t x);

/* R(x, k) without saturation: sign(x) * (|x| >> k + up) in sign-magnitude,
 * `up` decided by `mode` (NIT_ROUND_PSEUDO / STOCHASTIC / NEAREST). k <= 0
 * returns x unchanged. Stochastic rounding draws r = nit_draw(key, index)
 * masked to the low k bits (all 64 when k >= 64); pseudo and nearest ignore
 * key and index. */
int64_t ref_round_wide(int64_t x, int k, int mode, uint64_t key, uint64_t index);
/* R(x, k) saturated to [-127, 127]. */
int ref_round(int64_t x, int k, int mode, uint64_t key, uint64_t index);

/* Requantize a whole tensor: k = max(0, B(acc) - 7), out[j] = R(acc[j], k)
 * with the element's flat index j. Returns k (the exponent increase). */
int ref_requant(const int64_t *acc, int64_t count, int mode, uint64_t key, int8_t *out);

/* Floor division by 2^k of a signed value (k >= 0; k >= 63 gives 0 or -1). */
int64_t ref_floor_shr(int64_t v, int64_t k);
/* Integer square root: largest r with r*r <= v. */
uint64_t ref_isqrt(uint64_t v);

/* Input quantization of 8-bit pixels: x = p >> 1 (0..127). Returns the
 * exponent, -7. */
int ref_quantize_u8(const uint8_t *p, int64_t count, int8_t *x);

/* ---------------------------------------------------------------- init */

/* The integer init rule for a layer with fan_in inputs per output (>= 1):
 * c = smallest integer with fan_in * 4^c >= 6; *exp = c - 7;
 * *bound = min(127, isqrt(floor(6 * 4^(7 - c) / fan_in))). */
void ref_init_rule(int64_t fan_in, int *exp, int *bound);
/* w[j] = nit_draw(nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p)), j) % (2M+1) - M. */
void ref_init_weights(int8_t *w, int64_t count, int bound, uint64_t seed, int p);

/* -------------------------------------------------------------- layers */

/* Geometry of a conv or pool: input (C, H, W) per sample, output (O, OH, OW),
 * window (KH, KW), stride, zero padding, groups (conv only; 1 for pools and
 * pools keep O == C). Conv weights are (O, C/groups, KH, KW). */
typedef struct RefGeom {
  int c, h, w;           /* input per sample */
  int o, oh, ow;         /* output per sample */
  int kh, kw, sh, sw, ph, pw;
  int groups;
} RefGeom;

/* Output extent of a window: (in + 2 pad - k) / stride + 1, or 0 if none fits. */
int ref_out_size(int in, int k, int stride, int pad);

/* dense: x (n, I), w (O, I), acc (n, O) exact. */
void ref_dense_forward(const int8_t *x, int n, int I, const int8_t *w, int O, int64_t *acc);
/* e (n, O), w (O, I) -> e32 (n, I) = e (x) w. */
void ref_dense_backward(const int8_t *e, int n, int O, const int8_t *w, int I, int64_t *e32);
/* g32 (O, I) = sum over the batch of e^T (x) x. */
void ref_dense_grad(const int8_t *x, const int8_t *e, int n, int I, int O, int64_t *g32);

/* conv (cross-correlation): x (n, C, H, W), w (O, C/g, KH, KW), acc (n, O, OH, OW). */
void ref_conv_forward(const RefGeom *g, const int8_t *x, int n, const int8_t *w, int64_t *acc);
/* e (n, O, OH, OW) -> e32 (n, C, H, W): the transpose of the forward map. */
void ref_conv_backward(const RefGeom *g, const int8_t *e, int n, const int8_t *w, int64_t *e32);
/* g32 (O, C/g, KH, KW) = sum over batch and output positions of e * x. */
void ref_conv_grad(const RefGeom *g, const int8_t *x, const int8_t *e, int n, int64_t *g32);

/* maxpool: padding never wins; a window with no real element gives 0. */
void ref_maxpool_forward(const RefGeom *g, const int8_t *x, int n, int8_t *out);
/* Routes e to the first maximum (row-major window order) of the forward
 * input x; e32 (n, C, H, W) sums the errors of overlapping windows. */
void ref_maxpool_backward(const RefGeom *g, const int8_t *x, const int8_t *e, int n,
                          int64_t *e32);
/* avgpool: window sums (padding counts as zero), sum (n, C, OH, OW). */
void ref_avgpool_forward(const RefGeom *g, const int8_t *x, int n, int64_t *sum);
/* Each input position receives the sum of the errors of the windows that
 * contain it: e32 (n, C, H, W). */
void ref_avgpool_backward(const RefGeom *g, const int8_t *e, int n, int64_t *e32);
/* log2 of a window area that is a power of two, -1 otherwise. */
int ref_log2_exact(int64_t v);

void ref_relu_forward(const int8_t *x, int64_t count, int8_t *out);
/* Pass e where the forward input x was > 0. */
void ref_relu_backward(const int8_t *x, const int8_t *e, int64_t count, int8_t *out);

/* Dropout: element `index` is dropped iff (nit_draw(key, index) >> 56) < drop256. */
int ref_dropped(uint64_t key, uint64_t index, int drop256);
/* out = x where kept, 0 where dropped (no rescaling); also used backward. */
void ref_dropout_apply(const int8_t *x, int64_t count, int drop256, uint64_t key, int8_t *out);

/* Exponent alignment used by residual add (forward) and error fan-out
 * (backward): the common exponent is s = max(min exps, max exps - 48);
 * sum[j] = sum over tensors t with exps[t] >= s of t[j] << (exps[t] - s);
 * tensors more than 48 bits below the largest exponent are dropped (they
 * cannot happen in a sane run, and this keeps the sum within int64).
 * nt in 1..256. Returns s. */
int ref_align_sum(const int8_t *const *t, const int *exps, int nt, int64_t count, int64_t *sum);

/* ------------------------------------------------------------------ loss */

/* The unrounded loss gradient of one sample (docs/numerics.md, "Loss gradient"): logits a
 * (classes) at exponent s, label y -> e32 (classes), t_i - (i == y) * C,
 * which sums to exactly 0. classes in 1..REF_MAX_CLASSES. */
#define REF_MAX_CLASSES 8191 /* U = sum u_i < 2^63; the compiler's SEMA_MAX_CLASSES */
void ref_loss_row32(const int8_t *a, int s, int classes, int y, int64_t *e32);
/* The whole batch: e (n, classes) = R(e32, 4) with `mode`, element index
 * b * classes + i, key as given (nit_key(seed, step, NIT_TID_LOSS)).
 * e32 is scratch of `classes` elements. Exponent of e is 0. */
void ref_loss_grad(const int8_t *logits, int s, int n, int classes, const int32_t *y,
                   int mode, uint64_t key, int64_t *e32, int8_t *e);

/* ---------------------------------------------------------------- update */

/* One weight update (docs/numerics.md, "Weight update") of a tensor of `count` weights.
 * g32: the exact gradient (modified: decay is added in place).
 * w8: the int8 weights (bits == 8) or the int8 view of the wide weights
 *     (bits > 8; only read, for the decay term).
 * wide: the int16 wide weights when bits > 8, else NULL.
 * Returns b = B(g32) after decay (the shift was b - mu), or 0 when nothing
 * changed because B(g32) was 0. */
int ref_update(int64_t *g32, int64_t count, int8_t *w8, int16_t *wide, int bits, int mu,
               int mode, uint64_t key, int decay);
/* The int8 view of wide weights: w8[j] = sat8(R(wide[j], bits - 8, pseudo)). */
void ref_wide_view(const int16_t *wide, int64_t count, int bits, int8_t *w8);

/* ---------------------------------------------------------------- RefNet */

typedef enum {
  REF_INPUT,
  REF_DENSE,
  REF_CONV,
  REF_MAXPOOL,
  REF_AVGPOOL,
  REF_RELU,
  REF_FLATTEN,
  REF_DROPOUT,
  REF_ADD,
  /* normalization layers (R§7): recipes with masters only; parameters gamma
   * (index param) and beta (param + 1) of C elements each */
  REF_BATCHNORM,
  REF_LAYERNORM,
  REF_L1NORM,
  REF_L1LAYERNORM,
} RefOp;

typedef struct RefNode {
  RefOp op;
  int in[2];             /* input nodes, -1 when absent; in[i] < own index */
  int c, h, w;           /* per-sample output shape; set by the caller for the
                          * input node, computed by ref_net_finish otherwise */
  int units;             /* dense: outputs; conv: output channels */
  int kh, kw, sh, sw, ph, pw; /* conv, pools */
  int groups;            /* conv, >= 1 */
  int drop256;           /* dropout: drop probability in 1/256 units, 0..255 */
  int param;             /* computed: index into params, -1 if none */
  /* norm layers: eps, momentum m and 1 - m (batch-statistics kinds), k
   * (L1 kinds) as S31 scalars from their decimals; a zero eps.m selects
   * R§11.1's defaults (0.00001, 0.1, 0.9, SQRT_PI_2) for all four */
  RecScalar eps, nmom, one_minus_nmom, l1k;
} RefNode;

typedef struct RefParam {
  int node;              /* owning node */
  int role;              /* 0 weight, 1 gamma, 2 beta (R§6.1, R§12) */
  int shape[4];          /* (O, I/groups, KH, KW); dense (O, I, 1, 1) */
  int64_t count;         /* elements */
  int64_t fan_in;        /* I/groups * KH * KW; dense I */
  int exp;               /* s_w of the int8 view, fixed */
  int bound;             /* init bound M */
  int8_t *w;             /* (count) int8 weights, or the view of `wide` */
  int16_t *wide;         /* (count) wide weights when weight_bits > 8, else NULL */
  int64_t *g32;          /* (count) gradient of the last step */
  /* recipes ghaffari and shiftquant (R§6; NULL / 0 under niti), set by
   * ref_init_recipe */
  int32_t *master;       /* (count) master W_p, A bits */
  int master_exp;        /* s_p, dynamic */
  int32_t *mom;          /* (count) momentum V_p, or NULL when momentum is 0 */
  int mom_exp;
  int view_exp;          /* exponent of the view in w (w holds the view) */
  int g_exp;             /* exponent of g32 (s_in + s_e) */
  int32_t *G;            /* (count) g32 reduced to 31 bits (R§6.2) */
  int g_direct;          /* gamma: G was made by rec_norm_dgamma_to_g (R§7.5) */
} RefParam;

typedef struct RefOpts {
  uint64_t seed;
  int mu;                /* update bits m_u, >= 1 */
  int act_round, err_round, grad_round; /* NIT_ROUND_* */
  int decay;             /* 1: NITI integer weight decay */
  /* Recipe selector. Everything below is read only under the recipes with
   * masters, REF_RECIPE_GHAFFARI (R§8.2) and REF_RECIPE_SHIFTQUANT (R§9.4);
   * REF_RECIPE_NITI (0) ignores it, so ref_default_opts() and
   * zero-initialized trailing fields stay NITI. */
  int recipe;            /* REF_RECIPE_* */
  int bits_act, bits_weight, bits_grad; /* b_a, b_w, b_g: 2..8 */
  int view_round, update_round;         /* NIT_ROUND_* of the view and update sites;
                          * act/err/grad_round above are the other three */
  int master_bits;       /* A: 16 or 32 */
  RecScalar eta;         /* eta(t) of this step (rec_lr), unused by eval */
  RecScalar momentum, wdecay; /* S31 from the decimals; (0, 0) drops the term */
  int groups;            /* NIT_GROUPS_*: the groups of SQ_b (shiftquant only;
                          * 0 = channel, the default) */
  int groups_weight;     /* shiftquant: weight views by SQ_{b_w} over output
                          * channels (rec_view_sq), else RQ_{b_w} */
  /* unified only (R§10): the clip of the DSGC sites (clip.b is ignored:
   * bits_grad is the width) and the learning-rate scaling */
  RecClipOpts clip;
  int lrscale;           /* 1: phi = max(exp(-alpha d_c), beta); 0: phi = 1 */
  int64_t alpha_q16, beta_q30; /* Q16(alpha), Q30(beta) from the decimals */
  int loss;              /* REF_LOSS_*: the softmax's exponential (R§5; any recipe) */
} RefOpts;

/* RefOpts.loss. 0 is the recipe's own: NITI's row (N§7, then R(e32, 4)) under
 * niti, the table softmax under the recipes with masters. Any other choice
 * quantizes the row's e32 with the recipe's EQ at LOSS: RQ_8 in the err mode
 * under niti; the table's e32 is at exponent -15, NITI's at -11. */
#define REF_LOSS_RECIPE 0
#define REF_LOSS_TABLE 1
#define REF_LOSS_NITI 2

/* The same numbers as NIT_RECIPE_* (runtime/nitabi.h). The error quantizer
 * EQ (R§4) is RQ_{b_g} under ghaffari, SQ_{b_g} (rec_sq, groups by
 * RefOpts.groups) under shiftquant, at every site: LOSS, ERR(i) of dense,
 * conv, norm layers and overlapping pools, SUM(i). Everything else of
 * shiftquant is ghaffari's rule with shiftquant's defaults. */
#define REF_RECIPE_NITI 0
#define REF_RECIPE_GHAFFARI 1
#define REF_RECIPE_SHIFTQUANT 2
/* unified (R§10): ghaffari's rules with CQ at the DSGC sites (site(i) of
 * every dense, conv and norm node i: search every clip.every steps, the held
 * clip between), RQ_{b_g} at the other sites, errors carrying the
 * multiplier mu (R§10.4), and eta_p = smul(eta, phi of site(node of p)). */
#define REF_RECIPE_UNIFIED 3

/* Defaults of the recipe: seed 1, mu 3, pseudo/stochastic/pseudo, no decay. */
RefOpts ref_default_opts(void);
/* Defaults of recipe ghaffari (R§8.2): seed 1, widths 8/8/8, every mode
 * stochastic, master int16, lr 0.01, momentum 0.9, decay 0.0005. */
RefOpts ref_ghaffari_opts(void);
/* Defaults of recipe shiftquant (R§9.4, R§11.2): ghaffari's, but widths
 * act 8, weight 8, grad 4, act and view rounding nearest (err, grad,
 * update stochastic), groups channel. */
RefOpts ref_shiftquant_opts(void);
/* Defaults of recipe unified (R§10.7, R§11.2): ghaffari's with act and
 * view rounding nearest, clip cosine(every=100, range=4, grid=eighth),
 * lrscale exp(alpha=20, beta=0.1). */
RefOpts ref_unified_opts(void);
/* "niti" / "ghaffari" / "shiftquant" / "unified" to REF_RECIPE_*, -1 if unknown; and
 * back. */
int ref_recipe_parse(const char *name);
const char *ref_recipe_name(int recipe);

typedef struct RefNet {
  int nnodes;
  RefNode *nodes;        /* (nnodes), topological order, nodes[0] is REF_INPUT */
  int output;            /* node whose output is the logits */
  int classes;           /* C*H*W of the output node */
  int weight_bits;       /* A, 8..16 */
  int nparams;
  RefParam *params;      /* in node order */

  /* state of the last call (train step or forward) */
  int n;                 /* samples */
  int cap;               /* samples the buffers below can hold */
  int trained;           /* 1 if the last call was a train step */
  int8_t **act;          /* per node (n, C, H, W); act[0] is a copy of x */
  int *act_exp;          /* per node */
  int8_t **err;          /* per node: error at the node's output (n, C, H, W) */
  int *err_exp;          /* per node */
  uint8_t *has_err;      /* per node: 1 if err[i] was computed */
  uint8_t *need_err;     /* per node: a weighted node is at or above it */
  int8_t **ein[2];       /* per node and input slot: the input error it produced */
  int *ein_exp[2];
  int64_t *wide_acc;     /* scratch, the largest tensor of the net */
  int64_t *wide_acc2;    /* scratch, same size */
  int8_t *loss_e;        /* (n, classes) */
  int loss_exp;          /* exponent of loss_e: 0 under niti */
  int recipe;            /* REF_RECIPE_* the parameters were initialized for */
  int master_bits;       /* recipes with masters: A of the masters */
  RecScalar eta;         /* recipes with masters: eta(t) of the last train step */
  RecNormStat **nstat;   /* per norm node: the groups of the last train forward */
  RecScalar **run_mean, **run_dev; /* per batch-statistics norm node (C) */
  int64_t *norm_scratch; /* 3 * the largest tensor, when the net has norm nodes */
  int64_t scratch_count; /* elements in wide_acc */
  int *sq_kc;            /* shiftquant: SQ_b's per-group steps (sq_groups) */
  int64_t sq_groups;     /* max(n, classes, C of every node) */
  /* unified (R§1.4, R§10): the multiplier of every stored error (1 under
   * the other recipes), and the DSGC sites (ref_sites.c) */
  int *err_mu;           /* per node, beside err_exp */
  int *ein_mu[2];        /* per node and input slot, beside ein_exp */
  int loss_mu;
  int nsites;            /* DSGC sites, in the order of their first weighted node */
  uint32_t *site_tid;    /* (nsites) NIT_TID_LOSS, NIT_TID_ERR(c) or NIT_TID_SUM(j) */
  int *node_site;        /* per node: the DSGC site of site(i) for dense, conv and
                          * norm nodes, else -1 */
  RecClip *clip;         /* (nsites) the held clip (l*, s*) */
  uint32_t *site_dq;     /* (nsites) d_c in Q30 of the last train step */
  int64_t *site_phi;     /* (nsites) phi in Q30 of the last train step */

  char msg[256];         /* the last error */
} RefNet;

/* A net with nnodes zeroed nodes (in[] = -1, groups = 1, param = -1) for the
 * caller to fill; NULL if out of memory. */
RefNet *ref_net_new(int nnodes);
void ref_net_free(RefNet *net);
/* Check the graph, compute shapes and parameter tensors (init rule), and
 * allocate weights. 0, or -1 with net->msg. */
int ref_net_finish(RefNet *net, int output, int weight_bits);
/* Initialize every parameter tensor from seed (integer init rule). */
void ref_init(RefNet *net, uint64_t seed);
/* Initialize the parameters for o->recipe: NITI is ref_init(net, o->seed);
 * ghaffari and shiftquant allocate and initialize the masters (R§6.1,
 * A = o->master_bits) and zero momenta (none when o->momentum is 0). The
 * net must have been finished with weight_bits 8 for them (masters carry
 * the width).
 * 0, or -1 with net->msg. ref_train_step / ref_forward under a recipe need
 * this call for that recipe first. */
int ref_init_recipe(RefNet *net, const RefOpts *o);

/* One training step on x (n, C, H, W) int8 at exponent in_exp with labels
 * y (n). The step is a pure function of (weights, x, in_exp, y, n, step, opts):
 *   1. wide weights: int8 views recomputed;
 *   2. forward every node in topological order (dropout active), keys
 *      nit_key(seed, step, tid);
 *   3. loss gradient at the output node;
 *   4. backward in reverse topological order with the pre-update weights
 *      (fan-out errors summed at the producing node);
 *   5. update every weighted layer.
 * Under o->recipe == REF_RECIPE_GHAFFARI (after ref_init_recipe) the step
 * follows recipes.md R§12 instead: views of the masters (OPT(p, 3)),
 * forward with RQ_{b_a} (norm layers with batch statistics, updating their
 * running statistics), table softmax loss (R§5) with RQ_{b_g} at LOSS,
 * backward with RQ_{b_g} at every site, then rec_sgd_step per parameter
 * tensor with o->eta, o->momentum, o->wdecay. REF_RECIPE_SHIFTQUANT is the
 * same step with SQ_{b_g} (groups o->groups) at every error site (R§4).
 * 0, or -1 with net->msg (bad label, bad n, out of memory). */
int ref_train_step(RefNet *net, const int8_t *x, int in_exp, const int32_t *y, int n,
                   uint64_t step, const RefOpts *o);
/* Eval forward: dropout is identity (recipes with masters: scaled by the keep
 * probability, R§3.6; views and norms with running statistics, R§12), keys
 * use step NIT_STEP_EVAL. Copies the
 * logits (n, classes) to `logits` (may be NULL) and their exponent to
 * *logit_exp. 0 or -1. */
int ref_forward(RefNet *net, const int8_t *x, int in_exp, int n, const RefOpts *o,
                int8_t *logits, int *logit_exp);

/* Write the state after the last call (see docs/numerics.md, "Dump format").
 * 0, or -1 with net->msg. */
int ref_dump(RefNet *net, FILE *f);
int ref_dump_file(RefNet *net, const char *path);

/* ----------------------------------------------------------- ref_sites.c */

/* The site that produced the error at node j's output (R§4): NIT_TID_LOSS
 * for the output node, NIT_TID_SUM(j) for two or more consumers, else the
 * single consumer's own site when it passes errors through (ReLU, flatten,
 * dropout, add, pools whose windows cannot overlap), else its
 * NIT_TID_ERR(c). 0 when no error reaches j. */
uint32_t ref_site_of(const RefNet *net, int j);
/* Find the DSGC sites of a finished net and give each the initial state
 * (no level held). 0, or -1 with net->msg. */
int ref_sites_init(RefNet *net);
/* The error quantizer EQ of unified at the site with id tid (R§4): CQ with
 * the site's state at a DSGC site (its d_c and phi recorded), RQ_{b_g} with
 * the err mode elsewhere. x (count) at exponent s_in; out (count); *mu the
 * multiplier of out. Returns the exponent increase. -1 in *mu when out of
 * memory. */
int ref_site_quant(RefNet *net, const RefOpts *o, uint32_t tid, uint64_t step, const int64_t *x,
                   int64_t count, int s_in, int8_t *out, int *mu);
/* Start of a train step: every site's d_c 0 and phi 2^30. */
void ref_sites_step(RefNet *net);
/* phi_p of the parameters of node i as an S31 scalar (snorm(phi, -30)):
 * ONE unless node i has a DSGC site. */
RecScalar ref_site_phi(const RefNet *net, int node);

/* Node kind as a word ("dense", "conv", ...). */
const char *ref_op_name(RefOp op);

/* --------------------------------------------------------- from_model.c */

struct Model;
/* A finished, uninitialized RefNet from the front end's checked Model; the
 * Model's shapes, exponents and bounds are cross-checked against the
 * reference's own rules. NULL on failure with a message in msg (msglen bytes). */
RefNet *ref_net_from_model(const struct Model *m, char *msg, int msglen);
/* The options of the Model's recipe: seed, rounding modes, m_u (the first
 * entry of NITI's schedule) and decay under niti; under ghaffari also the
 * view and update rounding, the master width, momentum and weight decay as
 * S31 scalars (rec_sdec of the train block's decimals), the widths
 * bits act/weight/grad; under shiftquant the same and the groups. eta is
 * left 0: the caller sets eta(t) for every step (rec_lr). 0, or -1 for a
 * recipe the reference does not have (ghaffari or shiftquant with
 * exp=niti). */
int ref_opts_from_model(const struct Model *m, RefOpts *o);
/* The train block's learning-rate schedule (piecewise or cosine, and the
 * warmup) as rec_lr takes it; under niti a constant 0. */
void ref_schedule_from_model(const struct Model *m, RecSchedule *sch);
/* The train block's m_u for the 1-based epoch: the last entry of its
 * schedule that has started. */
int ref_mu_for_epoch(const struct Model *m, int64_t epoch);

#endif
