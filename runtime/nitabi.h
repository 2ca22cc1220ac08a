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

#define NIT_ABI_VERSION 1

enum {
  NIT_ROUND_PSEUDO = 0,     /* NITI pseudo-stochastic (default) */
  NIT_ROUND_STOCHASTIC = 1, /* counter-based random draws */
  NIT_ROUND_NEAREST = 2,    /* half away from zero */
};

/* The rounding modes' names, indexed by NIT_ROUND_*: the words of a .nit
 * file's `rounding` setting, of the runtime's --rounding flags and of every
 * report. One table for the compiler and the runtime. */
#define NIT_ROUND_COUNT 3
static const char *const nit_round_names[NIT_ROUND_COUNT] = {"pseudo", "stochastic", "nearest"};

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
#define NIT_STEP_INIT   UINT64_MAX                    /* step key used for init */
#define NIT_STEP_EVAL   (UINT64_MAX - 1)              /* step key used by eval/predict */

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

/* One parameter tensor. */
#define NIT_PARAM_FIELDS(X, A)                                                  \
  X(PTR, const char *, name) /* owning layer's name, e.g. "c1" */               \
  X(I32, int32_t, rank)      /* 2 (dense) or 4 (conv) */                        \
  A(I32, int32_t, shape, 4)  /* dense (O, I); conv (O, I/groups, KH, KW) */     \
  X(I64, int64_t, count)     /* number of elements */                           \
  X(I32, int32_t, bits)      /* A: 8 -> int8 storage; 9..16 -> int16 wide */    \
  X(I32, int32_t, exp)       /* s_w of the int8 view, fixed for the run */      \
  X(I32, int32_t, fan_in)    /* I/groups * KH * KW */                           \
  X(I32, int32_t, bound)     /* init: uniform in [-bound, bound], int8 units */ \
  X(I64, int64_t, offset)    /* byte offset in the params slab, multiple of 64 */
typedef struct NitParam {
  NIT_PARAM_FIELDS(NIT_DECLARE_SCALAR, NIT_DECLARE_ARRAY)
} NitParam;

/* One node of the model, for `info`, telemetry and tests. act_off: work-slab
 * offset of its int8 output after a call, -1 = x. err_off: work-slab offset of
 * the int8 error at its output after train_step, -1 when no error reaches it,
 * -2 when its buffer was reused later in the step. */
#define NIT_NODE_FIELDS(X, A)                                          \
  X(PTR, const char *, name) /* "c1", "relu2", ... */                  \
  X(PTR, const char *, kind) /* "conv", "dense", "relu", ... */        \
  A(I32, int32_t, in, 2)     /* input node indices, -1 when absent */  \
  A(I32, int32_t, out, 3)    /* per-sample output shape (C, H, W) */   \
  X(I32, int32_t, param)     /* index into params, -1 when none */     \
  X(I32, int32_t, acc64)     /* 1 when some accumulator needs int64 */ \
  X(I64, int64_t, act_off)                                             \
  X(I64, int64_t, err_off)
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
  X(I32, int32_t, holdout)     /* validation holdout: last N training samples */
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
  X(PTR, void *, pool) /* the runtime's pool, passed to parallel_for */
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
  X(REC, NitRecipe, recipe)                                                    \
  X(PTR, const char *, compiler) /* "nitc 0.1.0" */                            \
  X(PTR, const char *, target)   /* LLVM triple */                             \
  X(PTR, const char *, cpu)      /* CPU name the code was tuned for */         \
  X(PTR, NitTrainStep, train_step)                                             \
  X(PTR, NitForward, forward)
typedef struct NitModel {
  NIT_MODEL_FIELDS(NIT_DECLARE_SCALAR, NIT_DECLARE_ARRAY)
} NitModel;

extern const NitModel nit_model;

#endif
