/*
 * diffrun.c: run one generated training program and the reference side by
 * side and demand byte-identical state after every step.
 *
 * Linked with one generated object (nit_model), the front end and the
 * reference. The model is loaded twice: nit_model is what nitc generated from
 * NET.nit; the reference RefNet is built from the same file through the front
 * end. Both start from the reference's integer init (and the init rule is
 * checked against the ABI's generator directly); then for each step both see
 * the same random batch and the harness compares logits, exponents, every
 * error tensor the reference computed, and every weight byte.
 *
 * usage: diffrun NET.nit [--steps K] [--n N] [--seed S] [--mu M]
 *                [--round ACT,ERR,GRAD] [--decay 0|1] [--in-exp E] [--quiet]
 * Exit 0 when identical, 1 on the first difference (with a report), 2 on
 * harness trouble.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitabi.h"
#include "nitc.h"
#include "recipe.h"
#include "ref.h"
#include "s31.h"

Model *nitc_load_model(const char *path, int batch, int weight_bits);

static const char *net_path;

static void die(const char *what) {
  fprintf(stderr, "diffrun: %s: %s\n", net_path ? net_path : "?", what);
  exit(2);
}

static void *xalloc(size_t n) {
  void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
  if (!p) die("out of memory");
  memset(p, 0, (n + 63) / 64 * 64 + 64);
  return p;
}

static int mode_of(const char *s) {
  for (int m = 0; m < NIT_ROUND_COUNT; m++)
    if (!strcmp(s, nit_round_names[m])) return m;
  die("bad rounding mode");
  return 0;
}

static const int32_t *g_exps;
static const RefNet *g_net;

static int fail_at(int step, const char *what, int node, int64_t idx, long long got, long long want) {
  if (g_exps && g_net) {
    fprintf(stderr, "diffrun: exponents (node: generated act/err | reference act/err):\n");
    for (int i = 0; i < g_net->nnodes; i++)
      fprintf(stderr, "  %2d %-10s %4d/%4d | %4d/%4d%s\n", i, nit_model.nodes[i].name, g_exps[2 * i], g_exps[2 * i + 1],
              g_net->act_exp[i], g_net->err_exp[i], g_net->has_err[i] ? "" : " (no error)");
  }
  fprintf(stderr, "diffrun: %s: step %d: %s differs", net_path, step, what);
  if (node >= 0) fprintf(stderr, " at node %d (%s)", node, nit_model.nodes[node].name);
  if (idx >= 0) fprintf(stderr, " element %" PRId64, idx);
  fprintf(stderr, ": generated %lld, reference %lld\n", got, want);
  return 1;
}

/* ------------------------------------------------- recipes with masters */

static int32_t master_at(const NitModel *nm, const uint8_t *params, int64_t off, int64_t j) {
  return nm->recipe.master_bits == 32 ? ((const int32_t *)(params + off))[j] : ((const int16_t *)(params + off))[j];
}

static void set_master(const NitModel *nm, uint8_t *params, int64_t off, int64_t j, int32_t v) {
  if (nm->recipe.master_bits == 32) ((int32_t *)(params + off))[j] = v;
  else ((int16_t *)(params + off))[j] = (int16_t)v;
}

static int32_t *pstate(const NitModel *nm, uint8_t *params, int p) {
  return (int32_t *)(params + nm->pstate_off) + 4 * p;
}

/* A batch-statistics norm layer's running statistics: i32 (C, 4) {mean m,
 * e, dev m, e} at its gamma's stats_off; the reference keeps them per node. */
static int node_of_param(const NitModel *nm, int p) {
  for (int i = 0; i < nm->nnodes; i++)
    if (nm->nodes[i].param == p) return i;
  die("parameter tensor without a node");
  return -1;
}

static int check_running(const NitModel *nm, const RefNet *net, uint8_t *params, int p, int s) {
  const NitParam *pp = &nm->params[p];
  int i = node_of_param(nm, p);
  const int32_t *r = (const int32_t *)(params + pp->stats_off);
  for (int64_t c = 0; c < pp->count; c++) {
    RecScalar mean = net->run_mean[i][c], dev = net->run_dev[i][c];
    if (r[4 * c] != mean.m || r[4 * c + 1] != mean.e) return fail_at(s, "running mean", i, c, r[4 * c], mean.m);
    if (r[4 * c + 2] != dev.m || r[4 * c + 3] != dev.e) return fail_at(s, "running deviation", i, c, r[4 * c + 2], dev.m);
  }
  return 0;
}

/* The reference's initial masters into the slab, after checking them against
 * the descriptor's rule (the runtime applies it the same way). */
static int copy_masters(const NitModel *nm, const RefNet *net, uint64_t seed, uint8_t *params) {
  for (int p = 0; p < nm->nparams; p++) {
    const NitParam *pp = &nm->params[p];
    const RefParam *rp = &net->params[p];
    if (pp->count != rp->count || pp->role != rp->role) die("parameter tensors disagree");
    if (pp->exp != rp->master_exp) return fail_at(-1, "initial master exponent", -1, p, pp->exp, rp->master_exp);
    uint64_t key = nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p));
    for (int64_t j = 0; j < pp->count; j++) {
      int64_t w = pp->role == NIT_ROLE_GAMMA ? (int64_t)1 << (nm->recipe.master_bits - 2)
                  : pp->role == NIT_ROLE_BETA
                      ? 0
                      : ((int64_t)(nit_draw(key, (uint64_t)j) % (uint64_t)(2 * pp->bound + 1)) - pp->bound) *
                            (nm->recipe.master_bits == 32 ? 65536 : 1);
      if (w != rp->master[j]) return fail_at(-1, "initial master", -1, j, w, rp->master[j]);
      set_master(nm, params, pp->master_off, j, rp->master[j]);
    }
    int32_t *ps = pstate(nm, params, p);
    ps[0] = rp->master_exp;
    ps[1] = rp->mom_exp;
    if (pp->stats_off >= 0) { /* the runtime's rule: mean 0, dev ONE or 1/K (L1) */
      int32_t *r = (int32_t *)(params + pp->stats_off);
      NitS31 dev = nitrt_s31_one();
      if (pp->norm[NIT_ND_KIND] == NIT_NORM_L1BATCH) dev = nitrt_sdiv(dev, nitrt_norm_k(pp->norm));
      for (int64_t c = 0; c < pp->count; c++) r[4 * c] = r[4 * c + 1] = 0, r[4 * c + 2] = (int32_t)dev.m, r[4 * c + 3] = dev.e;
      if (check_running(nm, net, params, p, -1)) return 1;
    }
  }
  return 0;
}

/* Masters, momenta, views, their exponents and running statistics after step s. */
static int check_masters(const NitModel *nm, const RefNet *net, uint8_t *params, int s) {
  for (int p = 0; p < nm->nparams; p++) {
    const NitParam *pp = &nm->params[p];
    const RefParam *rp = &net->params[p];
    const int32_t *ps = pstate(nm, params, p);
    if (pp->stats_off >= 0 && check_running(nm, net, params, p, s)) return 1;
    if (ps[0] != rp->master_exp) return fail_at(s, "master exponent", -1, p, ps[0], rp->master_exp);
    if (ps[2] != rp->view_exp) return fail_at(s, "view exponent", -1, p, ps[2], rp->view_exp);
    if (rp->mom && ps[1] != rp->mom_exp) return fail_at(s, "momentum exponent", -1, p, ps[1], rp->mom_exp);
    for (int64_t j = 0; j < pp->count; j++) {
      int32_t gw = master_at(nm, params, pp->master_off, j);
      if (gw != rp->master[j]) return fail_at(s, "master", -1, j, gw, rp->master[j]);
      if (((int8_t *)(params + pp->offset))[j] != rp->w[j])
        return fail_at(s, "view", -1, j, ((int8_t *)(params + pp->offset))[j], rp->w[j]);
      if (rp->mom && master_at(nm, params, pp->mom_off, j) != rp->mom[j])
        return fail_at(s, "momentum", -1, j, master_at(nm, params, pp->mom_off, j), rp->mom[j]);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  int steps = 3, n = 0, mu = 3, decay = 0, quiet = 0, in_exp = -7;
  uint64_t seed = 1;
  int modes[3] = {NIT_ROUND_PSEUDO, NIT_ROUND_STOCHASTIC, NIT_ROUND_PSEUDO};
  bool modes_set = false;
  uint64_t eta_n = 0;
  int eta_f = -1; /* --lr D: the learning rate as a decimal eta_n / 10^eta_f */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
    if (a[0] != '-') { net_path = a; continue; }
    if (!v) die("flag needs a value");
    i++;
    if (!strcmp(a, "--steps")) steps = atoi(v);
    else if (!strcmp(a, "--n")) n = atoi(v);
    else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--mu")) mu = atoi(v);
    else if (!strcmp(a, "--decay")) decay = atoi(v);
    else if (!strcmp(a, "--in-exp")) in_exp = atoi(v); /* reaches both loss branches' extremes */
    else if (!strcmp(a, "--round")) {
      char buf[64];
      snprintf(buf, sizeof buf, "%s", v);
      char *save = NULL, *t = strtok_r(buf, ",", &save);
      for (int k = 0; k < 3 && t; k++, t = strtok_r(NULL, ",", &save)) modes[k] = mode_of(t);
      modes_set = true;
    } else if (!strcmp(a, "--lr")) {
      eta_f = 0;
      for (const char *q = v; *q; q++)
        if (*q == '.') eta_f = (int)strlen(q + 1);
        else if (*q >= '0' && *q <= '9') eta_n = eta_n * 10 + (uint64_t)(*q - '0');
        else die("bad --lr");
    } else die("unknown flag");
  }
  if (!net_path) die("usage: diffrun NET.nit [--steps K] [--n N] ...");
  const NitModel *nm = &nit_model;
  if (n <= 0 || n > nm->batch) n = nm->batch;

  /* The reference, from the same source through the front end. */
  /* the file's own width (0: no override; recipes with masters have no weight bits) */
  Model *m = nitc_load_model(net_path, nm->batch, nm->recipe.kind == NIT_RECIPE_NITI ? nm->recipe.weight_bits : 0);
  if (!m) die("front end rejected the model");
  if (m->recipe.bits_act != nm->recipe.bits_act || m->recipe.bits_weight != nm->recipe.bits_weight ||
      m->recipe.bits_grad != nm->recipe.bits_grad || m->recipe.groups != nm->recipe.groups)
    die("the widths or groups of the reference and the generated model disagree");
  char msg[256];
  RefNet *net = ref_net_from_model(m, msg, sizeof msg);
  if (!net) die(msg);
  if (net->nparams != nm->nparams || net->classes != nm->classes) die("reference and generated model disagree");
  bool gh = nm->recipe.kind != NIT_RECIPE_NITI; /* a recipe with masters */
  if (gh && !modes_set) modes[0] = nm->recipe.act_round, modes[1] = nm->recipe.err_round, modes[2] = nm->recipe.grad_round;
  /* the reference's options from the same train block; the flags below
   * override seed, rounding and (niti) m_u and decay; eta is constant, at
   * --lr or the file's first value */
  RefOpts o;
  if (ref_opts_from_model(m, &o)) die("the reference cannot run this model's recipe");
  o.seed = seed; /* before ref_init_recipe draws the masters */
  if (gh) o.eta = eta_f >= 0 ? rec_sdec(eta_n, eta_f) : rec_sdec(m->recipe.lr[0].n, m->recipe.lr[0].f);
  if (gh && ref_init_recipe(net, &o)) die(net->msg);
  if (!gh) ref_init(net, seed);

  /* Same weights in the generated model's slab; the init rule checked against
   * the ABI's generator as the runtime will apply it. */
  uint8_t *params = xalloc((size_t)nm->param_bytes);
  uint8_t *work = xalloc((size_t)nm->work_bytes);
  if (gh && copy_masters(nm, net, seed, params)) return 1;
  for (int p = 0; p < nm->nparams && !gh; p++) {
    const NitParam *pp = &nm->params[p];
    const RefParam *rp = &net->params[p];
    if (pp->count != rp->count || pp->exp != rp->exp || pp->bound != rp->bound) die("parameter tensors disagree");
    uint64_t key = nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p));
    for (int64_t j = 0; j < pp->count; j++) {
      int w = (int)(nit_draw(key, (uint64_t)j) % (uint64_t)(2 * pp->bound + 1)) - pp->bound;
      int rw = rp->wide ? rp->wide[j] : rp->w[j];
      if (pp->bits > 8) w *= 1 << (pp->bits - 8);
      if (w != rw) {
        fail_at(-1, "initial weight", -1, j, w, rw);
        return 1;
      }
      if (pp->bits > 8) ((int16_t *)(params + pp->offset))[j] = (int16_t)rw;
      else ((int8_t *)(params + pp->offset))[j] = (int8_t)rw;
    }
  }

  int64_t in_elems = (int64_t)nm->in_c * nm->in_h * nm->in_w;
  int8_t *x = xalloc((size_t)(in_elems * nm->batch));
  int32_t *y = xalloc(sizeof(int32_t) * (size_t)nm->batch);
  int8_t *logits = xalloc((size_t)nm->classes * (size_t)nm->batch);
  int8_t *rlogits = xalloc((size_t)nm->classes * (size_t)nm->batch);
  int32_t *exps = xalloc(sizeof(int32_t) * 2 * (size_t)nm->nnodes);
  o.seed = seed;
  o.act_round = modes[0];
  o.err_round = modes[1];
  o.grad_round = modes[2];
  if (!gh) {
    o.mu = mu;
    o.decay = decay;
  }

  g_exps = exps;
  g_net = net;
  NitCtx c = {0};
  c.params = params;
  c.work = work;
  c.seed = seed;
  c.in_exp = in_exp;
  c.mu = mu;
  c.act_round = modes[0];
  c.err_round = modes[1];
  c.grad_round = modes[2];
  c.decay = decay;
  c.logits = logits;
  c.exps = exps;
  if (gh) {
    c.view_round = o.view_round;
    c.update_round = o.update_round;
    c.eta_m = o.eta.m, c.eta_e = o.eta.e;
    c.mom_m = o.momentum.m, c.mom_e = o.momentum.e;
    c.wdecay_m = o.wdecay.m, c.wdecay_e = o.wdecay.e;
  }

  uint64_t dkey = nit_key(seed ^ 0x5eed, 0, 0);
  for (int s = 0; s <= steps; s++) {
    bool eval = s == steps; /* the last round is an eval forward */
    int nb = s % 2 == 1 && n > 1 ? n - 1 : n; /* also a partial batch */
    for (int64_t j = 0; j < in_elems * nb; j++)
      x[j] = (int8_t)(nit_draw(dkey, (uint64_t)(s * in_elems * nm->batch + j)) & 127);
    for (int b = 0; b < nb; b++)
      y[b] = (int32_t)(nit_draw(dkey ^ 1, (uint64_t)(s * nm->batch + b)) % (uint64_t)nm->classes);
    c.n = nb;
    c.x_nonneg = s % 2; /* x is never negative: the GEMMs reading it take both forms in turn */
    int rlexp = 0;
    if (!eval) {
      c.step = (uint64_t)s;
      c.train = 1;
      nm->train_step(&c, x, y);
      if (ref_train_step(net, x, in_exp, y, nb, (uint64_t)s, &o)) die(net->msg);
      memcpy(rlogits, net->act[net->output], (size_t)nb * (size_t)nm->classes);
      rlexp = net->act_exp[net->output];
    } else {
      c.step = NIT_STEP_EVAL;
      c.train = 0;
      nm->forward(&c, x);
      if (ref_forward(net, x, in_exp, nb, &o, rlogits, &rlexp)) die(net->msg);
    }
    const char *phase = eval ? "eval logits" : "logits";
    if (c.logit_exp != rlexp) return fail_at(s, eval ? "eval logit exponent" : "logit exponent", -1, -1, c.logit_exp, rlexp);
    for (int64_t j = 0; j < (int64_t)nb * nm->classes; j++)
      if (logits[j] != rlogits[j]) return fail_at(s, phase, -1, j, logits[j], rlogits[j]);
    for (int i = 0; i < nm->nnodes; i++) {
      if (exps[2 * i] != net->act_exp[i]) return fail_at(s, "activation exponent", i, -1, exps[2 * i], net->act_exp[i]);
      const NitNode *nd = &nm->nodes[i];
      int64_t cnt = (int64_t)nb * nd->out[0] * nd->out[1] * nd->out[2];
      const int8_t *ga = nd->act_off < 0 ? x : (const int8_t *)(work + nd->act_off);
      /* -2: the relu after it holds max(., 0); -3: later tensors of the pass lay over it; not
       * kept: an error lay over it later in the step */
      bool held = nd->act_off != -2 && nd->act_off != -3 && (eval || nd->act_kept);
      for (int64_t j = 0; held && j < cnt; j++)
        if (ga[j] != net->act[i][j]) return fail_at(s, "activation", i, j, ga[j], net->act[i][j]);
      if (eval || !net->has_err[i]) continue;
      if (nd->err_off == -1) return fail_at(s, "presence of an error tensor", i, -1, 0, 1);
      if (exps[2 * i + 1] != net->err_exp[i]) return fail_at(s, "error exponent", i, -1, exps[2 * i + 1], net->err_exp[i]);
      if (nd->err_off == -2) continue; /* its buffer was reused later in the step (NITC_ERR_REUSE=0 keeps all) */
      const int8_t *ge = (const int8_t *)(work + nd->err_off);
      for (int64_t j = 0; j < cnt; j++)
        if (ge[j] != net->err[i][j]) return fail_at(s, "error", i, j, ge[j], net->err[i][j]);
    }
    if (gh) {
      if (check_masters(nm, net, params, s)) return 1;
      continue;
    }
    for (int p = 0; p < nm->nparams; p++) {
      const NitParam *pp = &nm->params[p];
      const RefParam *rp = &net->params[p];
      for (int64_t j = 0; j < pp->count; j++) {
        int gw = pp->bits > 8 ? ((int16_t *)(params + pp->offset))[j] : ((int8_t *)(params + pp->offset))[j];
        int rw = rp->wide ? rp->wide[j] : rp->w[j];
        if (gw != rw) return fail_at(s, "weight", -1, j, gw, rw);
      }
    }
  }
  if (!quiet)
    printf("diffrun: %s: %d steps + eval identical (n=%d, batch %d, mu %d, rounding %d,%d,%d, decay %d, bits %d)\n",
           net_path, steps, n, nm->batch, mu, modes[0], modes[1], modes[2], decay, nm->recipe.weight_bits);
  g_exps = NULL;
  free(params), free(work), free(x), free(y), free(logits), free(rlogits), free(exps);
  return 0;
}
