/*
 * fake_model.c: a hand-written stand-in for nitc's generated code, so the
 * runtime can be tested before (and independently of) the code generator.
 *
 * The "network" is a linear classifier with a bias, trained like a
 * perceptron in integers: logits = requant(x . W^T + 64 * b); on a wrong
 * prediction the true class's row moves toward x and the predicted one away,
 * by x * 2^mu / 2^7 with a random rounding bit from nit_draw keyed by (seed,
 * step). So the weights depend on the data order, the seed, the global step,
 * the update bits and the options: exactly what the runtime must get right
 * for bit-exact resume. It learns the synthetic data of mkdata.c well.
 *
 * It also checks the ABI contract on every call (n range, slab alignment,
 * train flag, consecutive steps, exps == NULL) and aborts loudly if the
 * runtime breaks it.
 *
 * Compile-time knobs: FAKE_NAME, FAKE_FP, FAKE_C/H/W, FAKE_CLASSES,
 * FAKE_BATCH, FAKE_BITS (8, or 9..16 for int16 "wide" weights),
 * FAKE_GHAFFARI (1: recipe ghaffari: f1 and f2 are int8 views of int16
 * masters with momenta, f2 a "gamma" with running statistics; the step
 * writes the views from the masters, trains the views as above, and moves
 * masters, momenta, statistics and exponents by rules that depend on eta,
 * momentum and decay, so resume must restore all of them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitabi.h"

#ifndef FAKE_NAME
#define FAKE_NAME "fake"
#endif
#ifndef FAKE_FP
#define FAKE_FP 0x1234567890ABCDEFull
#endif
#ifndef FAKE_C
#define FAKE_C 1
#endif
#ifndef FAKE_H
#define FAKE_H 28
#endif
#ifndef FAKE_W
#define FAKE_W 28
#endif
#ifndef FAKE_CLASSES
#define FAKE_CLASSES 10
#endif
#ifndef FAKE_BATCH
#define FAKE_BATCH 32
#endif
#ifndef FAKE_BITS
#define FAKE_BITS 8
#endif

#ifndef FAKE_GHAFFARI
#define FAKE_GHAFFARI 0
#endif

#define D (FAKE_C * FAKE_H * FAKE_W)
#define K FAKE_CLASSES
#define WSIZE (FAKE_BITS > 8 ? 2 : 1)
#define ALIGN64(x) (((x) + 63) / 64 * 64)
#define OFF_B ALIGN64((long long)K * D * WSIZE)
#if FAKE_GHAFFARI
#define OFF_M1 ALIGN64(OFF_B + K)                 /* int16 masters of f1 */
#define OFF_V1 ALIGN64(OFF_M1 + 2LL * K * D)      /* momentum of f1 */
#define OFF_M2 ALIGN64(OFF_V1 + 2LL * K * D)      /* master of f2 */
#define OFF_V2 ALIGN64(OFF_M2 + 2LL * K)          /* momentum of f2 */
#define OFF_ST ALIGN64(OFF_V2 + 2LL * K)          /* running statistics of f2 */
#define OFF_PS ALIGN64(OFF_ST + 16LL * K)         /* exponents */
#define PARAM_BYTES ALIGN64(OFF_PS + 32)
#else
#define PARAM_BYTES ALIGN64(OFF_B + K)
#endif
#define FRAC (FAKE_BITS - 8)
#define WMAX ((1 << (FAKE_BITS - 1)) - 1)

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "fake_model: ABI contract broken: %s (%s:%d)\n", #cond, __FILE__,    \
              __LINE__);                                                                   \
      abort();                                                                             \
    }                                                                                      \
  } while (0)

static int get_w(const NitCtx *c, int k, int d) {
  const char *p = (const char *)c->params + ((long long)k * D + d) * WSIZE;
  if (WSIZE == 1)
    return *(const int8_t *)p;
  int16_t v;
  memcpy(&v, p, 2);
  return v;
}

static void set_w(NitCtx *c, int k, int d, int v) {
  if (v > WMAX)
    v = WMAX;
  if (v < -WMAX)
    v = -WMAX;
  char *p = (char *)c->params + ((long long)k * D + d) * WSIZE;
  if (WSIZE == 1) {
    *(int8_t *)p = (int8_t)v;
  } else {
    int16_t s = (int16_t)v;
    memcpy(p, &s, 2);
  }
}

static int8_t *bias(const NitCtx *c) { return (int8_t *)c->params + OFF_B; }

static void check_ctx(const NitCtx *c, int train) {
  CHECK(c->n >= 1 && c->n <= FAKE_BATCH);
  CHECK(((uintptr_t)c->params & 63) == 0);
  CHECK(((uintptr_t)c->work & 63) == 0);
  CHECK(c->logits != NULL);
  CHECK(c->exps == NULL);
  CHECK(c->train == train);
  CHECK(c->mu >= 1 && c->mu <= 15);
  CHECK(c->act_round >= 0 && c->act_round <= 2);
  if (!train)
    CHECK(c->step == NIT_STEP_EVAL);
}

/* logits of the n samples; acc in the work slab, (n, K) int32 */
static void logits(NitCtx *c, const int8_t *x) {
  int32_t *acc = c->work;
  int32_t amax = 0;
  for (int i = 0; i < c->n; i++)
    for (int k = 0; k < K; k++) {
      int32_t s = 64 * bias(c)[k];
      for (int d = 0; d < D; d++) {
        int w = get_w(c, k, d);
        if (FRAC > 0) /* the int8 view of a wide weight: truncate toward zero */
          w = w < 0 ? -((-w) >> FRAC) : w >> FRAC;
        s += x[(long long)i * D + d] * w;
      }
      acc[i * K + k] = s;
      if ((s < 0 ? -s : s) > amax)
        amax = s < 0 ? -s : s;
    }
  int bits = 0;
  while (amax >> bits)
    bits++;
  int sh = bits > 7 ? bits - 7 : 0;
  uint64_t key = nit_key(c->seed, c->step, NIT_TID_ACT(1));
  for (int i = 0; i < c->n * K; i++) {
    int32_t a = acc[i] < 0 ? -acc[i] : acc[i];
    int32_t q = a >> sh, f = a & ((1 << sh) - 1);
    int up = 0;
    if (sh > 0) {
      if (c->act_round == NIT_ROUND_NEAREST)
        up = f >= (1 << (sh - 1));
      else if (c->act_round == NIT_ROUND_STOCHASTIC)
        up = (uint32_t)f > (uint32_t)(nit_draw(key, (uint64_t)i) & ((1u << sh) - 1));
      else
        up = f > (1 << (sh - 1)) || (f == (1 << (sh - 1)) && (q & 1));
    }
    q += up;
    if (q > 127)
      q = 127;
    c->logits[i] = (int8_t)(acc[i] < 0 ? -q : q);
  }
  c->logit_exp = c->in_exp - 7 + sh;
}

static uint64_t last_step = UINT64_MAX;

#if FAKE_GHAFFARI
static int16_t *i16(const NitCtx *c, long long off) { return (int16_t *)((char *)c->params + off); }
static int32_t *i32(const NitCtx *c, long long off) { return (int32_t *)((char *)c->params + off); }

/* views = masters >> 8, checked ranges of the settings */
static void ghaffari_views(NitCtx *c) {
  CHECK(c->view_round >= 0 && c->view_round <= 2 && c->update_round >= 0 && c->update_round <= 2);
  CHECK(c->mom_m == 0 || (c->mom_m >= (1 << 30) && c->mom_m < (1LL << 31)));
  CHECK(c->wdecay_m == 0 || (c->wdecay_m >= (1 << 30) && c->wdecay_m < (1LL << 31)));
  for (long long j = 0; j < (long long)K * D; j++)
    ((int8_t *)c->params)[j] = (int8_t)(*i16(c, OFF_M1 + 2 * j) / 256);
  for (int k = 0; k < K; k++)
    bias(c)[k] = (int8_t)(*i16(c, OFF_M2 + 2 * k) / 256);
  i32(c, OFF_PS)[2] = i32(c, OFF_PS)[0] + 8;
  i32(c, OFF_PS)[6] = i32(c, OFF_PS)[4] + 8;
}

static int16_t clamp16(long long v) { return (int16_t)(v > 32767 ? 32767 : v < -32767 ? -32767 : v); }

/* masters follow the views' changes through the momenta */
static void ghaffari_update(NitCtx *c) {
  CHECK(c->eta_m != 0);
  long long g = 1 + ((c->eta_m >> 20) & 3) + ((c->mom_m >> 24) & 1) + ((c->wdecay_m >> 26) & 1);
  for (long long j = 0; j < (long long)K * D; j++) {
    int d = ((int8_t *)c->params)[j] - *i16(c, OFF_M1 + 2 * j) / 256;
    int16_t *v = i16(c, OFF_V1 + 2 * j);
    *v = clamp16(*v / 2 + d * 256 + (d ? g : 0));
    *i16(c, OFF_M1 + 2 * j) = clamp16(*i16(c, OFF_M1 + 2 * j) + *v / 2);
  }
  for (int k = 0; k < K; k++) {
    int d = bias(c)[k] - *i16(c, OFF_M2 + 2 * k) / 256;
    int16_t *v = i16(c, OFF_V2 + 2 * k);
    *v = clamp16(*v / 2 + d * 256);
    *i16(c, OFF_M2 + 2 * k) = clamp16(*i16(c, OFF_M2 + 2 * k) + *v / 2);
    int32_t *st = i32(c, OFF_ST + 16 * k); /* a running mean that moves: S31 (m, e) */
    st[0] = (int32_t)((1 << 30) + (int32_t)((c->step * 7919 + (uint64_t)k) % (1u << 30)));
    st[1] = -30 - (int32_t)(c->step % 5);
  }
  i32(c, OFF_PS)[1] = (int32_t)(c->step % 3) - 1; /* momentum exponents move */
  i32(c, OFF_PS)[5] = (int32_t)(c->step % 4);
}
#endif

static void fake_train_step(NitCtx *c, const int8_t *x, const int32_t *y) {
  check_ctx(c, 1);
#if FAKE_GHAFFARI
  ghaffari_views(c);
#endif
  CHECK(last_step == UINT64_MAX || c->step == last_step + 1);
  last_step = c->step;
  logits(c, x);
  uint64_t key = nit_key(c->seed, c->step, NIT_TID_GRAD(1));
  for (int i = 0; i < c->n; i++) {
    CHECK(y[i] >= 0 && y[i] < K);
    /* every sample nudges one weight chosen by the generator, so every step
       changes the parameters even once the data are learned */
    int d0 = (int)(nit_draw(key, (uint64_t)(D * FAKE_BATCH + i)) % D);
    set_w(c, y[i], d0, get_w(c, y[i], d0) + (1 << FRAC));
    set_w(c, (y[i] + 1) % K, d0, get_w(c, (y[i] + 1) % K, d0) - (1 << FRAC));
    const int8_t *z = c->logits + i * K;
    int pred = 0;
    for (int k = 1; k < K; k++)
      if (z[k] > z[pred])
        pred = k;
    if (pred == y[i])
      continue;
    for (int d = 0; d < D; d++) {
      int xv = x[(long long)i * D + d];
      int g = xv * (1 << c->mu) / 128 * (1 << FRAC);
      if (c->grad_round != NIT_ROUND_NEAREST)
        g += (int)(nit_draw(key, (uint64_t)(i * D + d)) & 1);
      set_w(c, y[i], d, get_w(c, y[i], d) + g);
      set_w(c, pred, d, get_w(c, pred, d) - g);
    }
    if (bias(c)[y[i]] < 127)
      bias(c)[y[i]]++;
    if (bias(c)[pred] > -127)
      bias(c)[pred]--;
  }
  if (c->decay)
    for (int k = 0; k < K; k++)
      for (int d = 0; d < D; d++) {
        int w = get_w(c, k, d);
        if (w > (WMAX >> 1))
          set_w(c, k, d, w - 1);
        else if (w < -(WMAX >> 1))
          set_w(c, k, d, w + 1);
      }
#if FAKE_GHAFFARI
  ghaffari_update(c);
#endif
}

static void fake_forward(NitCtx *c, const int8_t *x) {
  check_ctx(c, 0);
#if FAKE_GHAFFARI
  CHECK(c->eta_m == 0);
  ghaffari_views(c);
#endif
  logits(c, x);
}

#if FAKE_GHAFFARI
static const NitParam params[2] = {
    {.name = "f1", .rank = 2, .shape = {K, D, 0, 0}, .count = (long long)K * D, .bits = 8,
     .exp = -15, .fan_in = D, .bound = 5000, .offset = 0, .role = NIT_ROLE_WEIGHT,
     .master_off = OFF_M1, .mom_off = OFF_V1, .stats_off = -1},
    {.name = "f2", .rank = 2, .shape = {K, 1, 0, 0}, .count = K, .bits = 8, .exp = -14,
     .fan_in = 1, .bound = 0, .offset = OFF_B, .role = NIT_ROLE_GAMMA, .master_off = OFF_M2,
     .mom_off = OFF_V2, .stats_off = OFF_ST},
};
#else
static const NitParam params[2] = {
    {.name = "f1", .rank = 2, .shape = {K, D, 0, 0}, .count = (long long)K * D,
     .bits = FAKE_BITS, .exp = -7, .fan_in = D, .bound = 20, .offset = 0},
    {.name = "f2", .rank = 2, .shape = {K, 1, 0, 0}, .count = K, .bits = 8, .exp = -1,
     .fan_in = 1, .bound = 5, .offset = OFF_B},
};
#endif

static const NitNode nodes[3] = {
    {.name = "input", .kind = "input", .in = {-1, -1}, .out = {FAKE_C, FAKE_H, FAKE_W},
     .param = -1, .act_off = -1, .err_off = -1},
    {.name = "f1", .kind = "dense", .in = {0, -1}, .out = {K, 1, 1}, .param = 0,
     .act_off = -1, .err_off = -1},
    {.name = "f2", .kind = "bias", .in = {1, -1}, .out = {K, 1, 1}, .param = 1,
     .act_off = -1, .err_off = -1},
};

const NitModel nit_model = {
    .abi = NIT_ABI_VERSION,
    .name = FAKE_NAME,
    .fingerprint = FAKE_FP,
    .in_c = FAKE_C,
    .in_h = FAKE_H,
    .in_w = FAKE_W,
    .classes = K,
    .batch = FAKE_BATCH,
    .nparams = 2,
    .params = params,
    .param_bytes = PARAM_BYTES,
    .work_bytes = (long long)FAKE_BATCH * K * 4,
    .nnodes = 3,
    .nodes = nodes,
    .output = 2,
#if FAKE_GHAFFARI
    .pstate_off = OFF_PS,
#else
    .pstate_off = -1,
#endif
    .recipe = {.data = "data/fake", .batch = FAKE_BATCH, .epochs = 2, .seed = 1,
               .act_round = NIT_ROUND_PSEUDO, .err_round = NIT_ROUND_STOCHASTIC,
               .grad_round = NIT_ROUND_PSEUDO, .nsched = 2, .mu = {3, 2},
               .mu_from = {1, 2}, .weight_bits = FAKE_BITS, .decay = 0, .holdout = 0,
#if FAKE_GHAFFARI
               .kind = NIT_RECIPE_GHAFFARI, .master_bits = 16, .view_round = NIT_ROUND_STOCHASTIC,
               .update_round = NIT_ROUND_STOCHASTIC, .loss_table = 1, .lr_kind = NIT_LR_PIECEWISE,
               .nlr = 2, .lr_n = {1, 1}, .lr_f = {1, 2}, .lr_at = {1, 2}, .warmup = 5,
               .warmup_ratio_n = 1, .warmup_ratio_f = 3, .momentum_n = 9, .momentum_f = 1,
               .wdecay_n = 5, .wdecay_f = 4
#endif
              },
    .compiler = "fake_model.c (test stand-in for nitc)",
    .target = "host",
    .cpu = "generic",
    .train_step = fake_train_step,
    .forward = fake_forward,
};
