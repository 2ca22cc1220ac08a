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

/* Tensor ids keying the generator. Node i of the model owns ids 4*i .. 4*i+3. */
#define NIT_TID_ACT(i)   ((uint32_t)(i) * 4u + 0u) /* forward activation rounding */
#define NIT_TID_ERR(i)   ((uint32_t)(i) * 4u + 1u) /* backward input-error rounding */
#define NIT_TID_GRAD(i)  ((uint32_t)(i) * 4u + 2u) /* weight-gradient rounding */
#define NIT_TID_MASK(i)  ((uint32_t)(i) * 4u + 3u) /* dropout mask */
#define NIT_TID_SUM(i)   (0x80000000u | (uint32_t)(i)) /* fan-out error sum at node i */
#define NIT_TID_LOSS     0xFFFF0001u               /* loss-gradient rounding */
#define NIT_TID_SHUFFLE  0xFFFF0002u               /* data order, step = epoch */
#define NIT_TID_INIT(p)  (0xFFFE0000u + (uint32_t)(p)) /* init of param tensor p */
#define NIT_STEP_INIT    UINT64_MAX                /* step key used for init */
#define NIT_STEP_EVAL    (UINT64_MAX - 1)          /* step key used by eval/predict */

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
static inline uint64_t nit_draw(uint64_t key, uint64_t index) {
  return nit_mix64(key + (index + 1) * NIT_GOLDEN);
}

/* One parameter tensor. */
typedef struct NitParam {
  const char *name;   /* owning layer's name, e.g. "c1" */
  int32_t rank;       /* 2 (dense) or 4 (conv) */
  int32_t shape[4];   /* dense (O, I); conv (O, I/groups, KH, KW) */
  int64_t count;      /* number of elements */
  int32_t bits;       /* A: 8 -> int8 storage; 9..16 -> int16 wide weights */
  int32_t exp;        /* s_w of the int8 view, fixed for the whole run */
  int32_t fan_in;     /* I/groups * KH * KW */
  int32_t bound;      /* init: uniform integers in [-bound, bound], int8 units */
  int64_t offset;     /* byte offset in the params slab, multiple of 64 */
} NitParam;

/* One node of the model, for `info`, telemetry and tests. */
typedef struct NitNode {
  const char *name;   /* "c1", "relu2", ... */
  const char *kind;   /* "conv", "dense", "relu", ... */
  int32_t in[2];      /* input node indices, -1 when absent; node 0 is the input */
  int32_t out[3];     /* per-sample output shape (C, H, W) */
  int32_t param;      /* index into params, -1 when the node has none */
  int32_t acc64;      /* 1 when some accumulator of this node needs int64 */
  int64_t act_off;    /* work-slab offset of its int8 output after a call, -1 = x */
  int64_t err_off;    /* work-slab offset of the int8 error at its output after
                       * train_step, -1 when no error reaches it, -2 when its
                       * buffer was reused later in the step */
} NitNode;

/* The training recipe from the .nit file; every field can be overridden by the
 * executable's command line. */
#define NIT_MAX_SCHED 8
typedef struct NitRecipe {
  const char *data;       /* default data directory */
  int32_t batch;          /* compiled maximum batch, also the default */
  int32_t epochs;
  uint64_t seed;
  int32_t act_round, err_round, grad_round; /* NIT_ROUND_* */
  int32_t nsched;         /* entries in mu / mu_from */
  int32_t mu[NIT_MAX_SCHED];      /* update bits m_u ... */
  int32_t mu_from[NIT_MAX_SCHED]; /* ... from this epoch on (1-based); mu_from[0] == 1 */
  int32_t weight_bits;    /* A, 8..16 (fixed at compile time: it sets the layout) */
  int32_t decay;          /* 1: NITI integer weight decay */
  int32_t holdout;        /* validation holdout: last N training samples */
} NitRecipe;

/* Per-call context. */
typedef struct NitCtx {
  void *params;        /* params slab */
  void *work;          /* work slab */
  uint64_t seed;
  uint64_t step;       /* global step index, keys the generator */
  int32_t n;           /* samples in this batch, 1..batch */
  int32_t in_exp;      /* exponent of the input tensor (-7 for 8-bit pixels) */
  int32_t mu;          /* update bits for this step */
  int32_t act_round, err_round, grad_round;
  int32_t decay;
  int32_t train;       /* 1 in train_step (dropout active), 0 in forward */
  int8_t *logits;      /* out: (n, classes), owned by the runtime */
  int32_t logit_exp;   /* out: exponent of logits */
  int32_t *exps;       /* out, optional (NULL): per node {act exp, err exp}, (nnodes, 2) */
  /* Threads, optional (NULL: generated code runs everything on the calling
   * thread). parallel_for(pool, body, env, count, max_workers) splits
   * [0, count) into contiguous chunks, runs body(env, lo, hi, worker) once
   * per chunk with distinct worker indices 0 .. used-1 (used <= max_workers),
   * returns when all are done and returns `used`. Results never depend on
   * the split: each chunk writes its own outputs or its worker's scratch. */
  int32_t (*parallel_for)(void *pool, void (*body)(void *env, int64_t lo, int64_t hi, int32_t worker),
                          void *env, int64_t count, int32_t max_workers);
  void *pool;          /* the runtime's thread pool, passed back to parallel_for */
} NitCtx;

typedef struct NitModel {
  uint32_t abi;             /* NIT_ABI_VERSION */
  const char *name;         /* model name from the .nit file */
  uint64_t fingerprint;     /* hash of the network structure and layout */
  int32_t in_c, in_h, in_w; /* per-sample input shape */
  int32_t classes;
  int32_t batch;            /* compiled maximum batch */
  int32_t nparams;
  const NitParam *params;
  int64_t param_bytes;
  int64_t work_bytes;       /* for a full batch */
  int32_t nnodes;
  const NitNode *nodes;
  NitRecipe recipe;
  const char *compiler;     /* "nitc 0.1.0" */
  const char *target;       /* LLVM triple */
  const char *cpu;          /* CPU name the code was tuned for */
  /* x: (n, in_c, in_h, in_w) int8 at ctx->in_exp; y: (n) labels in [0, classes). */
  void (*train_step)(NitCtx *ctx, const int8_t *x, const int32_t *y);
  void (*forward)(NitCtx *ctx, const int8_t *x);
} NitModel;

extern const NitModel nit_model;

#endif
