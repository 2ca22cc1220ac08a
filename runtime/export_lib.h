/*
 * export_lib.h: the tables of export_lib.c, the inference `export` writes
 * out. An exported file holds this text verbatim after its prelude (which
 * defines NX_FN static and NX_ACC_BITS); the runtime includes it with the
 * defaults below.
 */
#ifndef EXPORT_LIB_H
#define EXPORT_LIB_H

#include <stdint.h>

#ifndef NX_FN
#define NX_FN /* the runtime: external; an exported file: static */
#endif
#ifndef NX_ACC_BITS
#define NX_ACC_BITS 64 /* 32 when the exporter proved every sum fits */
#endif

/* Layer kinds of an exported network. */
enum { NX_INPUT, NX_DENSE, NX_CONV, NX_MAXPOOL, NX_AVGPOOL, NX_RELU, NX_FLATTEN, NX_DROPOUT, NX_ADD, NX_NORM, NX_NOPS };

typedef struct NxLayer {
  int32_t op;                 /* NX_* */
  int32_t in0, in1;           /* input layers, -1 when absent; layer 0 is the input */
  int32_t c, h, w;            /* per-sample shape of in0 */
  int32_t oc, oh, ow;         /* per-sample output shape */
  int32_t kh, kw, sh, sw;     /* conv, pools: window and stride */
  int32_t ph, pw, groups;     /* conv, pools: zero padding; conv groups */
  int32_t drop256;            /* dropout: drop probability in 1/256 units */
  int32_t w_exp;              /* dense, conv: exponent of the weights */
  const int8_t *wt;           /* dense (O, I); conv (O, C/groups, KH, KW) */
  int32_t norm;               /* norm: NIT_NORM_* */
  const int32_t *coef;        /* norm: (C + 1, 4) S31 pairs, nitrt_norm_export's table */
  int32_t out;                /* arena offset of the int8 output (C, H, W) */
  uint64_t key;               /* stream of stochastic rounding at ACT(i) */
} NxLayer;

typedef struct NxModel {
  int32_t nlayers;
  int32_t output;             /* layer whose output is the logits */
  int32_t classes;
  int32_t masters;            /* 1: a recipe with masters (ghaffari, shiftquant) */
  int32_t bits;               /* activation width: 8 (niti) or b_a */
  int32_t round;              /* NIT_ROUND_* of activations */
  int32_t acc_off;            /* arena offset of the accumulator, 8-byte aligned */
  int32_t exp_off;            /* arena offset of the int32 exponents (nlayers) */
  int32_t plane_off;          /* arena offset of a conv's zero-bordered input channel (nx_conv_plane) */
  const NxLayer *layers;      /* (nlayers) */
} NxModel;

#if NX_ACC_BITS == 32
typedef int32_t NxAcc;
#else
typedef int64_t NxAcc;
#endif

/* One sample x (C, H, W) int8 at in_exp through the network; arena holds
 * every layer's output, the accumulator and the exponents. *logits is set
 * to the output layer's (classes) int8 values; returns their exponent. */
NX_FN int32_t nx_run(const NxModel *m, const int8_t *x, int32_t in_exp, unsigned char *arena, const int8_t **logits);

/* A conv's scratch (the exporter sizes the arena by them): its bordered
 * input channel in bytes, and its accumulators' row length. */
NX_FN int64_t nx_conv_plane(const NxLayer *l); /* int64: export sizes it before it checks the arena limit */
NX_FN int32_t nx_conv_row(const NxLayer *l);

#ifndef NX_EXPORTED
/* The runtime only: the int8 view of NITI's wide weights (bits 9..16). */
void nx_wide_view(const int16_t *wide, int64_t count, int32_t bits, int8_t *w8);
#endif

#endif
