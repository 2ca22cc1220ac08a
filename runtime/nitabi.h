/*
 * nitabi.h: the contract between code that nitc generates and the runtime.
 *
 * The generated object file defines exactly one external symbol, `nit_model`,
 * a constant NitModel that describes the network (shapes, parameter tensors,
 * the recipe written in the .nit file) and points at the generated step
 * functions. The runtime owns everything else: memory, data, the epoch loop,
 * the schedule of update bits, checkpoints, logging.
 *
 * Memory: the runtime allocates two slabs and hands them to every call.
 *   params  param_bytes, 64-byte aligned, persistent: every parameter tensor at
 *           its NitParam.offset. int8 tensors when bits == 8, int16 (host byte
 *           order; all supported targets are little-endian) when 9 <= bits <= 16.
 *   work    work_bytes, 64-byte aligned, scratch; contents undefined between calls.
 *
 * Batches: every shape is a compile-time constant except the number of samples
 * in the current batch, ctx->n, which may be anything from 1 to the compiled
 * maximum `batch`. Requantization statistics (B(V)) are per call, over the n
 * samples of that call, as in NITI.
 *
 * Random numbers: everything random (initialization, shuffling, stochastic
 * rounding, dropout) comes from one counter-based generator, so any target and
 * any resume draws the same numbers. See nit_mix64/nit_key/nit_draw below and
 * docs/numerics.md.
 *
 * This header is plain C11 with no dependencies; the reference in tests/ref and
 * the code generator both implement the same generator (generated code emits it
 * as IR; it is written out here so the runtime and tests share one definition).
 */
#ifndef NITABI_H
#define NITABI_H

#include <stdint.h>

#define NIT_ABI_VERSION 10

/* export: begin (export writes the marked regions into exported models) */
enum {
  NIT_ROUND_PSEUDO = 0,     /* NITI pseudo-stochastic (default) */
  NIT_ROUND_STOCHASTIC = 1, /* counter-based random draws */
  NIT_ROUND_NEAREST = 2,    /* half away from zero */
};
/* export: end */

/* The rounding modes' names, indexed by NIT_ROUND_*: the words of a .nit
 * file's `rounding` setting, of the runtime's --rounding flags and of every
 * report. One table for the compiler and the runtime. */
#define NIT_ROUND_COUNT 3
static const char *const nit_round_names[NIT_ROUND_COUNT] = {"pseudo", "stochastic", "nearest"};

/* Training recipes (docs/recipes.md): NITI's; Ghaffari et al.'s integer
 * SGD with masters, momentum and learning-rate schedules; ShiftQuant's
 * sub-8-bit errors with power-of-two group scales on top of it; Zhu et al.'s
 * unified recipe (direction-sensitive clipping of the errors and per-layer
 * learning-rate scaling) on top of it too. One table of names for the .nit
 * file's `recipe` setting, the command lines and every report. */
enum {
  NIT_RECIPE_NITI = 0,
  NIT_RECIPE_GHAFFARI = 1,
  NIT_RECIPE_SHIFTQUANT = 2,
  NIT_RECIPE_UNIFIED = 3,
};
#define NIT_RECIPE_COUNT 4
static const char *const nit_recipe_names[NIT_RECIPE_COUNT] = {"niti", "ghaffari", "shiftquant", "unified"};

/* The clip grids of the unified recipe's clip-level quantizer CQ
 * (docs/recipes.md, "The unified recipe"): eight steps per octave, each error
 * carrying a multiplier mu in 8..15, or powers of two only (mu = 1). */
enum {
  NIT_GRID_EIGHTH = 0,
  NIT_GRID_OCTAVE = 1,
};
#define NIT_GRID_COUNT 2
static const char *const nit_grid_names[NIT_GRID_COUNT] = {"eighth", "octave"};

/* The groups of ShiftQuant's error quantizer SQ_b (docs/recipes.md, "The
 * shiftquant recipe"): the channels of an (n, C, H, W) error (the classes of
 * the loss's), its samples, or the whole tensor. */
enum {
  NIT_GROUPS_CHANNEL = 0,
  NIT_GROUPS_SAMPLE = 1,
  NIT_GROUPS_TENSOR = 2,
};
#define NIT_GROUPS_COUNT 3
static const char *const nit_groups_names[NIT_GROUPS_COUNT] = {"channel", "sample", "tensor"};

/* Learning-rate schedules (docs/recipes.md, "Learning-rate schedules"). */
enum {
  NIT_LR_PIECEWISE = 0, /* lr[0] from epoch 1, lr[i] from epoch lr_at[i] */
  NIT_LR_COSINE = 1,    /* cosine(lr[0], period=lr_period, min=lr_min) */
};

/* The fixed-point constants of the recipes with masters (docs/recipes.md,
 * "Fixed-point tables"): EXP2NEG[j] = round(2^30 2^(-j/64)), j = 0..64, and
 * log2 e in Q30. Part of the contract: generated code and runtime use these. */
#define NIT_LOG2E_Q30 1549082005
static const int32_t nit_exp2neg_q30[65] = {
    1073741824, 1062175491, 1050733751, 1039415261, 1028218693, 1017142735, 1006186087, 995347464,
    984625594,  974019220,  963527098,  953147997,  942880699,  932724001,  922676710,  912737649,
    902905651,  893179563,  883558244,  874040567,  864625413,  855311680,  846098274,  836984114,
    827968132,  819049271,  810226483,  801498734,  792865000,  784324269,  775875538,  767517817,
    759250125,  751071493,  742980960,  734977579,  727060411,  719228525,  711481005,  703816941,
    696235434,  688735596,  681316545,  673977412,  666717336,  659535466,  652430958,  645402981,
    638450708,  631573326,  624770026,  618040012,  611382493,  604796689,  598281827,  591837143,
    585461881,  579155293,  572916640,  566745190,  560640218,  554601009,  548626854,  542717053,
    536870912};

/* Roles of parameter tensors. */
enum {
  NIT_ROLE_WEIGHT = 0, /* dense / conv weights */
  NIT_ROLE_GAMMA = 1,  /* a normalization layer's scale */
  NIT_ROLE_BETA = 2,   /* a normalization layer's shift */
};

/* Normalization layers (docs/recipes.md, "Normalization layers"). A layer is
 * described to the runtime by NIT_NORM_DESC int64 values, indexed NIT_ND_*:
 * in NitParam.norm of its gamma tensor, and as the constant the generated
 * code hands the norm kernels. Decimals are exact, value n / 10^f; k_n = 0
 * means the default k of the L1 kinds, sqrt(pi/2). */
/* export: begin */
enum {
  NIT_NORM_BATCH = 0,   /* batchnorm: channel groups, L2 */
  NIT_NORM_LAYER = 1,   /* layernorm: sample groups, L2 */
  NIT_NORM_L1BATCH = 2, /* l1norm: channel groups, L1 */
  NIT_NORM_L1LAYER = 3, /* l1layernorm: sample groups, L1 */
};
/* export: end */
enum {
  NIT_ND_KIND, NIT_ND_C, NIT_ND_HW, NIT_ND_EPS_N, NIT_ND_EPS_F,
  NIT_ND_MOM_N, NIT_ND_MOM_F, NIT_ND_K_N, NIT_ND_K_F, NIT_NORM_DESC
};
/* Saved per group between a training forward and its backward: int64
 * {S1, V or A, rho m, rho e}; groups = C (batch kinds) or the batch n. */
#define NIT_NORM_STAT 4
/* int64 scratch of the norm kernels for a batch of n samples and c channels */
#define NIT_NORM_SCRATCH(n, c) (2 * (int64_t)(n) * (c) + 4 * (int64_t)(c) + 12 * ((int64_t)(n) > (c) ? (int64_t)(n) : (c)))

/* Update bits m_u: one range for the .nit file, the executable's flags and
 * checkpoints (docs/numerics.md, "Weight update"). */
#define NIT_MU_MIN 1
#define NIT_MU_MAX 8

/* Tensor ids keying the generator. Node i of the model owns ids 4*i .. 4*i+3. */
#define NIT_TID_ACT(i)  ((uint32_t)(i)*4u + 0u)       /* forward activation rounding */
#define NIT_TID_ERR(i)  ((uint32_t)(i)*4u + 1u)       /* backward input-error rounding */
#define NIT_TID_GRAD(i) ((uint32_t)(i)*4u + 2u)       /* weight-gradient rounding */
#define NIT_TID_MASK(i) ((uint32_t)(i)*4u + 3u)       /* dropout mask */
#define NIT_TID_SUM(i)  (0x80000000u | (uint32_t)(i)) /* fan-out error sum at node i */
#define NIT_TID_LOSS    0xFFFF0001u                   /* loss-gradient rounding */
#define NIT_TID_SHUFFLE 0xFFFF0002u                   /* data order, step = epoch */
#define NIT_TID_INIT(p) (0xFFFE0000u + (uint32_t)(p)) /* init of param tensor p */
/* Optimizer streams of parameter tensor p (recipes other than niti), j one of
 * NIT_OPT_*: the gradient reduced to 31 bits (and norm parameter gradients),
 * the momentum update, the master update, the view of the master. */
#define NIT_TID_OPT(p, j) (0xFFFC0000u + 4u * (uint32_t)(p) + (uint32_t)(j))
enum { NIT_OPT_GRAD = 0, NIT_OPT_MOM = 1, NIT_OPT_MASTER = 2, NIT_OPT_VIEW = 3 };
#define NIT_MAX_PARAMS 32768 /* parameter tensors per model: the OPT ids stay disjoint */
#define NIT_STEP_INIT   UINT64_MAX                    /* step key used for init */
#define NIT_STEP_EVAL   (UINT64_MAX - 1)              /* step key used by eval/predict */

/* export: begin */
#define NIT_GOLDEN 0x9E3779B97F4A7C15ull

/* SplitMix64 finalizer. */
static inline uint64_t nit_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Key of one (seed, step, tensor) stream. */
static inline uint64_t nit_key(uint64_t seed, uint64_t step, uint32_t tensor) {
  return nit_mix64(nit_mix64(nit_mix64(seed + NIT_GOLDEN) + step) + tensor);
}

/* Element `index` of a stream: 64 uniform bits. */
static inline uint64_t nit_draw(uint64_t key, uint64_t index) { return nit_mix64(key + (index + 1) * NIT_GOLDEN); }
/* export: end */

/* The structures below are declared from field lists (X-macros) so that the
 * code generator builds its LLVM types from the same lists and the two sides
 * cannot drift apart. A list calls X(kind, ctype, name) for a scalar field and
 * A(kind, ctype, name, length) for an array; kind is the field's LLVM shape:
 * PTR (any pointer), I32, I64 (int64_t or uint64_t) or REC (a NitRecipe).
 * All supported targets are LP64 and lay fields out naturally aligned. */
#define NIT_DECLARE_SCALAR(kind, ctype, name)     ctype name;
#define NIT_DECLARE_ARRAY(kind, ctype, name, len) ctype name[len];

typedef struct NitCtx NitCtx;
/* parallel_for(pool, body, env, count, max_workers): see NitCtx. */
typedef int32_t (*NitParallelFor)(void *pool, void (*body)(void *env, int64_t lo, int64_t hi, int32_t worker),
                                  void *env, int64_t count, int32_t max_workers);
/* x: (n, in_c, in_h, in_w) int8 at ctx->in_exp; y: (n) labels in [0, classes). */
typedef void (*NitTrainStep)(NitCtx *ctx, const int8_t *x, const int32_t *y);
typedef void (*NitForward)(NitCtx *ctx, const int8_t *x);
/* Collectives of data-parallel training (docs/scaleout.md): each of N ranks
 * runs the step on a contiguous slice of the global batch, and the step
 * calls these, straight-line and in the same order on every rank:
 *   allmax(comm, v, count)         v[j] = max over ranks of v[j] (int64)
 *   allsum(comm, v, count, width)  v[j] = exact sum over ranks of v[j],
 *                                  int32 (width 4) or int64 (width 8)
 * Both are NULL in one process; generated code then calls nothing. */
typedef void (*NitAllMax)(void *comm, int64_t *v, int64_t count);
typedef void (*NitAllSum)(void *comm, void *v, int64_t count, int32_t width);

/* One parameter tensor. Under niti the tensor at `offset` is the weights
 * (int8, or int16 wide weights); under the other recipes it is the int8 view
 * of the master, rewritten at the start of every call, and the persistent
 * state is the master, the momentum, the running statistics and the
 * exponents in NitModel.pstate_off. */
#define NIT_PARAM_FIELDS(X, A)                                                  \
  X(PTR, const char *, name) /* owning layer's name, e.g. "c1" */               \
  X(I32, int32_t, rank)      /* 2 (dense) or 4 (conv) */                        \
  A(I32, int32_t, shape, 4)  /* dense (O, I); conv (O, I/groups, KH, KW) */     \
  X(I64, int64_t, count)     /* number of elements */                           \
  X(I32, int32_t, bits)      /* A: 8 -> int8 storage; 9..16 -> int16 wide */    \
  X(I32, int32_t, exp)       /* niti: s_w, fixed; masters: initial exponent */  \
  X(I32, int32_t, fan_in)    /* I/groups * KH * KW */                           \
  X(I32, int32_t, bound)     /* init: uniform in [-bound, bound], stored units */ \
  X(I64, int64_t, offset)    /* byte offset in the params slab, multiple of 64 */ \
  X(I32, int32_t, role)      /* NIT_ROLE_* */                                   \
  X(I64, int64_t, master_off) /* masters: int16/int32 (count) by recipe.master_bits, -1 niti */ \
  X(I64, int64_t, mom_off)   /* momentum, same width as the master, -1 none */  \
  X(I64, int64_t, stats_off) /* gamma of batchnorm/l1norm: i32 (C, 4) running {mean m, e, dev m, e}, -1 none */ \
  A(I64, int64_t, norm, NIT_NORM_DESC) /* gamma: the layer's NIT_ND_* description, else zeros */
typedef struct NitParam {
  NIT_PARAM_FIELDS(NIT_DECLARE_SCALAR, NIT_DECLARE_ARRAY)
} NitParam;

/* A node's layer arguments, NitNode.geom[NIT_G_*]: the window, stride and
 * zero padding of conv and pools, conv's groups, dropout's drop probability
 * in 1/256 units; zeros where they do not apply. What `export` needs to
 * write a node's inference code. */
enum { NIT_G_KH, NIT_G_KW, NIT_G_SH, NIT_G_SW, NIT_G_PH, NIT_G_PW, NIT_G_GROUPS, NIT_G_DROP256, NIT_GEOM };

/* One node of the model, for `info`, telemetry, `export` and tests. act_off: work-slab
 * offset of its int8 output after a call, -1 = x, -2 when the relu after it was
 * folded into its requantization (its buffer holds the relu's output), -3 when no
 * backward step reads it and later tensors of the same pass lie over it. act_kept: 1 when
 * the output is still there after train_step, 0 when an error buffer lay over it later
 * in the step (after forward it always is). err_off: work-slab offset of
 * the int8 error at its output after train_step, -1 when no error reaches it,
 * -2 when its buffer was reused later in the step, or was never written (a relu whose
 * max pool wrote the relu's input error itself). */
#define NIT_NODE_FIELDS(X, A)                                          \
  X(PTR, const char *, name) /* "c1", "relu2", ... */                  \
  X(PTR, const char *, kind) /* "conv", "dense", "relu", ... */        \
  A(I32, int32_t, in, 2)     /* input node indices, -1 when absent */  \
  A(I32, int32_t, out, 3)    /* per-sample output shape (C, H, W) */   \
  X(I32, int32_t, param)     /* index into params, -1 when none */     \
  A(I32, int32_t, geom, NIT_GEOM) /* layer arguments, NIT_G_* */        \
  X(I32, int32_t, acc64)     /* 1 when some accumulator needs int64 */ \
  X(I64, int64_t, act_off)                                             \
  X(I64, int64_t, err_off)                                             \
  X(I32, int32_t, act_kept)
typedef struct NitNode {
  NIT_NODE_FIELDS(NIT_DECLARE_SCALAR, NIT_DECLARE_ARRAY)
} NitNode;

/* The training recipe from the .nit file; every field can be overridden by the
 * executable's command line. mu[i] update bits from epoch mu_from[i] on
 * (1-based, mu_from[0] == 1). weight_bits is fixed at compile time: it sets
 * the layout. */
#define NIT_MAX_SCHED 8
#define NIT_RECIPE_FIELDS(X, A)                                             \
  X(PTR, const char *, data) /* default data directory */                   \
  X(I32, int32_t, batch)     /* compiled maximum batch, also the default */ \
  X(I32, int32_t, epochs)                                                   \
  X(I64, uint64_t, seed)                                                    \
  X(I32, int32_t, act_round) /* NIT_ROUND_* */                              \
  X(I32, int32_t, err_round)                                                \
  X(I32, int32_t, grad_round)                                               \
  X(I32, int32_t, nsched) /* entries in mu / mu_from */                     \
  A(I32, int32_t, mu, NIT_MAX_SCHED)                                        \
  A(I32, int32_t, mu_from, NIT_MAX_SCHED)                                   \
  X(I32, int32_t, weight_bits) /* A, 8..16 */                               \
  X(I32, int32_t, decay)       /* 1: NITI integer weight decay */           \
  X(I32, int32_t, holdout)     /* validation holdout: last N training samples */ \
  X(I32, int32_t, kind)        /* NIT_RECIPE_* */                                \
  X(I32, int32_t, master_bits) /* 16 or 32 (recipes other than niti) */          \
  X(I32, int32_t, view_round)  /* NIT_ROUND_* of the master's views */           \
  X(I32, int32_t, update_round) /* NIT_ROUND_* of the momentum and master */     \
  X(I32, int32_t, loss_table)  /* 1: table softmax loss (recipes.md, "Loss") */  \
  X(I32, int32_t, lr_kind)     /* NIT_LR_* */                                    \
  X(I32, int32_t, nlr)         /* piecewise entries, 1..NIT_MAX_SCHED */         \
  A(I64, uint64_t, lr_n, NIT_MAX_SCHED) /* decimals lr_n / 10^lr_f */            \
  A(I32, int32_t, lr_f, NIT_MAX_SCHED)                                           \
  A(I32, int32_t, lr_at, NIT_MAX_SCHED) /* 1-based epoch of entry i; at[0] = 1 */ \
  X(I64, uint64_t, lr_min_n)  /* cosine: floor of the schedule */               \
  X(I32, int32_t, lr_min_f)                                                      \
  X(I32, int32_t, lr_period)   /* cosine: period in epochs */                     \
  X(I64, int64_t, warmup)      /* warmup steps, 0 = none */                      \
  X(I64, uint64_t, warmup_ratio_n) /* warmup start ratio, decimal */             \
  X(I32, int32_t, warmup_ratio_f)                                                \
  X(I64, uint64_t, momentum_n) /* SGD momentum, decimal */                       \
  X(I32, int32_t, momentum_f)                                                    \
  X(I64, uint64_t, wdecay_n)   /* coupled weight decay, decimal */               \
  X(I32, int32_t, wdecay_f)                                                      \
  X(I32, int32_t, bits_act)    /* b_a: widths of activations, views, errors, */  \
  X(I32, int32_t, bits_weight) /* b_w  2..8 (8 under niti)                    */  \
  X(I32, int32_t, bits_grad)   /* b_g                                         */  \
  X(I32, int32_t, groups)      /* NIT_GROUPS_*: SQ_b's groups (shiftquant) */ \
  X(I32, int32_t, groups_weight) /* shiftquant: views SQ_{b_w} by output channel (1) or RQ_{b_w} (0) */ \
  X(I32, int32_t, clip)        /* unified: clip cosine (1) or off (0)     */ \
  X(I64, int64_t, clip_every)  /*   P: steps between searches            */ \
  X(I32, int32_t, clip_range)  /*   R: octaves searched                  */ \
  X(I32, int32_t, clip_grid)   /*   NIT_GRID_*                           */ \
  X(I32, int32_t, lrscale)     /*   lrscale exp (1) or off (0)           */ \
  X(I64, uint64_t, lrs_alpha_n) /*  alpha, decimal                       */ \
  X(I32, int32_t, lrs_alpha_f)                                                   \
  X(I64, uint64_t, lrs_beta_n) /*   beta, decimal                        */ \
  X(I32, int32_t, lrs_beta_f)
typedef struct NitRecipe {
  NIT_RECIPE_FIELDS(NIT_DECLARE_SCALAR, NIT_DECLARE_ARRAY)
} NitRecipe;

/* Per-call context. Threads are optional (parallel_for NULL: generated code
 * runs everything on the calling thread). parallel_for(pool, body, env,
 * count, max_workers) splits [0, count) into contiguous chunks, runs
 * body(env, lo, hi, worker) once per chunk with distinct worker indices
 * 0 .. used-1 (used <= max_workers), returns when all are done and returns
 * `used`. Results never depend on the split: each chunk writes its own
 * outputs or its worker's scratch. */
#define NIT_CTX_FIELDS(X, A)                                                      \
  X(PTR, void *, params) /* params slab */                                        \
  X(PTR, void *, work)   /* work slab */                                          \
  X(I64, uint64_t, seed)                                                          \
  X(I64, uint64_t, step)  /* global step index, keys the generator */             \
  X(I32, int32_t, n)      /* samples in this batch, 1..batch */                   \
  X(I32, int32_t, in_exp) /* exponent of the input (-7 for 8-bit pixels) */       \
  X(I32, int32_t, mu)     /* update bits for this step */                         \
  X(I32, int32_t, act_round)                                                      \
  X(I32, int32_t, err_round)                                                      \
  X(I32, int32_t, grad_round)                                                     \
  X(I32, int32_t, decay)                                                          \
  X(I32, int32_t, train)     /* 1 in train_step (dropout active), 0 forward */    \
  X(PTR, int8_t *, logits)   /* out: (n, classes), owned by the runtime */        \
  X(I32, int32_t, logit_exp) /* out: exponent of logits */                        \
  X(PTR, int32_t *, exps)    /* out, optional: per node {act, err} (nnodes, 2) */ \
  X(PTR, NitParallelFor, parallel_for)                                            \
  X(PTR, void *, pool) /* the runtime's pool, passed to parallel_for */             \
  X(I32, int32_t, view_round)   /* recipes with masters: rounding of the views */   \
  X(I32, int32_t, update_round) /* rounding of momentum and master updates */       \
  X(I64, int64_t, eta_m) /* S31 learning rate eta(t) of this step: eta_m 2^eta_e */ \
  X(I32, int32_t, eta_e)                                                            \
  X(I64, int64_t, mom_m) /* S31 momentum */                                         \
  X(I32, int32_t, mom_e)                                                            \
  X(I64, int64_t, wdecay_m) /* S31 coupled weight decay */                          \
  X(I32, int32_t, wdecay_e)                                                         \
  X(PTR, void *, comm)      /* data parallel: the runtime's communicator */        \
  X(PTR, NitAllMax, allmax) /* NULL in one process */                              \
  X(PTR, NitAllSum, allsum)                                                        \
  X(I64, int64_t, row0)     /* global row of sample 0 (0 in one process): random  \
                             * draws of batch tensors use global indices */        \
  X(I32, int32_t, gn)       /* samples in the global batch; 0 means n */        \
  X(I32, int32_t, x_nonneg) /* 1: no byte of x is negative, so the GEMMs that  \
                             * read x take it as unsigned where the kernel has \
                             * such a form; 0 is always exact */
struct NitCtx {
  NIT_CTX_FIELDS(NIT_DECLARE_SCALAR, NIT_DECLARE_ARRAY)
};

#define NIT_MODEL_FIELDS(X, A)                                                 \
  X(I32, uint32_t, abi)         /* NIT_ABI_VERSION */                          \
  X(PTR, const char *, name)    /* model name from the .nit file */            \
  X(I64, uint64_t, fingerprint) /* hash of the network structure and layout */ \
  X(I32, int32_t, in_c)         /* per-sample input shape */                   \
  X(I32, int32_t, in_h)                                                        \
  X(I32, int32_t, in_w)                                                        \
  X(I32, int32_t, classes)                                                     \
  X(I32, int32_t, batch) /* compiled maximum batch */                          \
  X(I32, int32_t, nparams)                                                     \
  X(PTR, const NitParam *, params)                                             \
  X(I64, int64_t, param_bytes)                                                 \
  X(I64, int64_t, work_bytes) /* for a full batch */                           \
  X(I32, int32_t, nnodes)                                                      \
  X(PTR, const NitNode *, nodes)                                               \
  X(I32, int32_t, output)     /* node whose output is the logits */             \
  X(I64, int64_t, pstate_off) /* masters: i32 (nparams, 4) {master exp, momentum exp, view exp, 0} in the params slab, -1 niti */ \
  X(REC, NitRecipe, recipe)                                                    \
  X(PTR, const char *, compiler) /* "nitc 0.1.0" */                            \
  X(PTR, const char *, target)   /* LLVM triple */                             \
  X(PTR, const char *, cpu)      /* CPU name the code was tuned for */         \
  X(PTR, NitTrainStep, train_step)                                             \
  X(PTR, NitForward, forward)                                                   \
  X(I32, int32_t, nsites)   /* unified: its DSGC sites (docs/recipes.md)     */ \
  X(I64, int64_t, clip_off) /* unified: i32 (nsites, 4) {l* + 1, s*, d_c, phi} in the params slab, -1 otherwise */
typedef struct NitModel {
  NIT_MODEL_FIELDS(NIT_DECLARE_SCALAR, NIT_DECLARE_ARRAY)
} NitModel;

extern const NitModel nit_model;

/* Scalar helpers the generated code of recipes other than niti calls (the
 * runtime's s31.c and linsum.c; per tensor or per group, never per element).
 * S31 scalars travel as int64 pairs {m, e}: value m 2^e, 2^30 <= |m| < 2^31
 * or m = e = 0 (docs/recipes.md, "Scalars"). */
/* out = sdiv(ONE, sint(n)), n >= 1. */
void nitrt_s31_recip(int64_t n, int64_t *out);
/* The plan of LINSUM (docs/recipes.md, "LINSUM and LINCOMB") of nterms
 * terms with one coefficient each: in[4 t .. 4 t + 3] = {c_m, c_e, s_t, U_t}
 * (U_t = max |u_t|, the constant tensor 1 has U = 1); out[0] = W, out[1] = 1
 * when some pair is live, out[2 + 2 t] = the multiplier (c_m, or 0 when the
 * pair is not live) and out[3 + 2 t] = d_t = c_e + s_t - W (aligned term:
 * m u 2^d_t, rounded R_near when d_t < 0). */
void nitrt_linsum_plan(int32_t nterms, const int64_t *in, int64_t *out);

/* The normalization kernels (runtime/norm.c; docs/recipes.md, "Normalization
 * layers"). ctx: the call's context (its parallel_for, when set, spreads the
 * groups over the workers); desc: NIT_NORM_DESC values; n: the batch; v (n, C, HW) the
 * layer's int8 input at s_x; gamma, beta (C) the int8 views at s_g, s_b; st
 * (groups, NIT_NORM_STAT); scratch NIT_NORM_SCRATCH(n, C) int64.
 * Forward: S (n, C, HW) int64 = the LINSUM of the output, whose exponent it
 * returns (the caller rounds it once, RQ_8 at ACT(i)). train != 0: group
 * statistics from the batch, saved in st, and the running statistics
 * (i32 (C, 4), batch kinds) updated; train == 0: the batch kinds use the
 * running statistics, the others compute as in training. */
int32_t nitrt_norm_forward(const NitCtx *ctx, const int64_t *desc, int64_t n, const int8_t *v, int32_t s_x,
                           const int8_t *gamma, int32_t s_g, const int8_t *beta, int32_t s_b, int32_t train,
                           int32_t *running, int64_t *st, int64_t *scratch, int64_t *S);
/* Backward from dy (n, C, HW) int8 at s_e and the st of this step's
 * forward: S (n, C, HW) the LINSUM of dx (skipped when S is NULL; its
 * exponent returned, else 0), dbeta (C) exact at s_e, dgamma (C) the LINSUM
 * of the gamma gradient at *s_dgamma (the caller rounds it to 32 bits). */
int32_t nitrt_norm_backward(const NitCtx *ctx, const int64_t *desc, int64_t n, const int8_t *v, int32_t s_x,
                            const int64_t *st, const int8_t *gamma, int32_t s_g, const int8_t *dy, int32_t s_e,
                            int64_t *scratch, int64_t *S, int64_t *dbeta, int64_t *dgamma, int32_t *s_dgamma);
/* The same for an error dy carrying unified's multiplier mu: every LINSUM
 * coefficient of dx times sint(mu) (smul, last), dbeta times mu, dgamma_c
 * times sint(mu) after its sum over groups; mu = 1 is nitrt_norm_backward. */
int32_t nitrt_norm_backward_mu(const NitCtx *ctx, const int64_t *desc, int64_t n, const int8_t *v, int32_t s_x,
                               const int64_t *st, const int8_t *gamma, int32_t s_g, const int8_t *dy, int32_t s_e,
                               int64_t *scratch, int64_t *S, int64_t *dbeta, int64_t *dgamma, int32_t *s_dgamma,
                               int32_t mu);

/* The error sites of recipe unified (runtime/clip.c; docs/recipes.md, "The
 * unified recipe"). A site is described by NIT_CLIP_DESC int64 values:
 * whether it is a DSGC site (else RQ_b with the err mode), the clip
 * settings and the width b_g. The state of a DSGC site is i32 {l* + 1, s*},
 * {0, 0} (zero memory) before its first search. nitrt_clip_site quantizes the wide error x
 * (count, i32 or i64 by wide) at exponent s_in, multiplied by the multiplier
 * mu_in it carries, into out; *mu_out the multiplier of out (1 but on the
 * eighth grid), *dq its d_c in Q30 (0 at other sites); returns the exponent
 * offset of out. step: the global step (t mod every = 0 searches); key: the
 * site's. |x mu_in| < 2^63. scratch NIT_CLIP_SCRATCH(count) int64. ctx
 * (or NULL): its parallel_for, when set, spreads the passes over the
 * tensor (the bytes do not depend on it); data parallel, x is this rank's
 * ctx->n rows and the maximum, the sums and the draws' indices are global. */
enum {
  NIT_CLIP_SITE,  /* 1: a DSGC site, CQ; 0: RQ_b */
  NIT_CLIP_ON,    /* clip cosine (1) or clip off (0) */
  NIT_CLIP_EVERY, /* P >= 1 */
  NIT_CLIP_RANGE, /* R in 1..8 */
  NIT_CLIP_GRID,  /* NIT_GRID_* */
  NIT_CLIP_BITS,  /* b_g in 2..8 */
  NIT_CLIP_MODE,  /* NIT_ROUND_* of RQ_b at the other sites */
  NIT_CLIP_DESC
};
#define NIT_CLIP_SCRATCH(count) (count)
int32_t nitrt_clip_site(const NitCtx *ctx, const int64_t *desc, int32_t *state, uint64_t step, uint64_t key,
                        const void *x, int32_t wide, int64_t count, int32_t mu_in, int32_t s_in, int8_t *out,
                        int32_t *mu_out, uint32_t *dq, int64_t *scratch);
/* phi = max(exp2neg((alpha_q16 dq LOG2E_Q30) >> 60), beta_q30), Q30. */
int64_t nitrt_clip_phi(uint32_t dq, int64_t alpha_q16, int64_t beta_q30);
/* eta_p = smul(eta, snorm(phi, -30)) as out[0] = m, out[1] = e. */
void nitrt_clip_eta(int64_t eta_m, int32_t eta_e, int64_t phi, int64_t *out);

#endif
