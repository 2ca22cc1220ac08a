/*
 * from_model.c: a RefNet from the front end's checked Model.
 *
 * The reference recomputes every shape, parameter layout, exponent and init
 * bound with its own rules (ref_net_finish) and then insists that the front
 * end agrees; a disagreement is reported as an error naming the node, so a
 * drift between sema.c and docs/numerics.md shows up in the differential
 * tests instead of as mysteriously different numbers.
 *
 * ref_opts_from_model turns the Model's Recipe into the reference's options
 * (the decimals of the train block become S31 scalars with rec_sdec, as the
 * runtime makes them); only eta(t), which changes every step, is the caller's.
 */
#include <string.h>

#include "nitc.h"
#include "ref.h"

_Static_assert(REF_MAX_CLASSES == SEMA_MAX_CLASSES, "the reference and the compiler disagree on the class limit");

static uint64_t pow10_u64(int f) {
  uint64_t p = 1;
  while (f-- > 0)
    p *= 10;
  return p;
}

static RefNet *bad(RefNet *net, char *msg, int msglen, const char *what, const Node *nd) {
  if (msg && msglen > 0) {
    if (nd)
      snprintf(msg, (size_t)msglen, "node '%s': %s", nd->name ? nd->name : "?", what);
    else
      snprintf(msg, (size_t)msglen, "%s", what);
  }
  ref_net_free(net);
  return NULL;
}

RefNet *ref_net_from_model(const struct Model *m, char *msg, int msglen) {
  if (!m || m->nnodes < 2 || m->nodes[0].op != OP_INPUT)
    return bad(NULL, msg, msglen, "model has no input node or no layers", NULL);
  RefNet *net = ref_net_new(m->nnodes);
  if (!net)
    return bad(NULL, msg, msglen, "out of memory", NULL);
  for (int i = 0; i < m->nnodes; i++) {
    const Node *nd = &m->nodes[i];
    RefNode *r = &net->nodes[i];
    switch (nd->op) {
    case OP_INPUT:   r->op = REF_INPUT; break;
    case OP_DENSE:   r->op = REF_DENSE; break;
    case OP_CONV:    r->op = REF_CONV; break;
    case OP_MAXPOOL: r->op = REF_MAXPOOL; break;
    case OP_AVGPOOL: r->op = REF_AVGPOOL; break;
    case OP_RELU:    r->op = REF_RELU; break;
    case OP_FLATTEN: r->op = REF_FLATTEN; break;
    case OP_DROPOUT: r->op = REF_DROPOUT; break;
    case OP_ADD:     r->op = REF_ADD; break;
    case OP_BATCHNORM:   r->op = REF_BATCHNORM; break;
    case OP_LAYERNORM:   r->op = REF_LAYERNORM; break;
    case OP_L1NORM:      r->op = REF_L1NORM; break;
    case OP_L1LAYERNORM: r->op = REF_L1LAYERNORM; break;
    default:
      return bad(net, msg, msglen, "layer kind has no reference implementation", nd);
    }
    if (i > 0 && nd->op == OP_INPUT)
      return bad(net, msg, msglen, "a second input node", nd);
    r->in[0] = nd->in[0];
    r->in[1] = nd->in[1];
    r->units = nd->op == OP_CONV ? nd->out_ch : nd->units;
    r->kh = nd->kh, r->kw = nd->kw, r->sh = nd->sh, r->sw = nd->sw;
    r->ph = nd->ph, r->pw = nd->pw;
    r->groups = nd->groups > 0 ? nd->groups : 1;
    r->drop256 = nd->drop256;
    if (op_is_norm(nd->op)) {
      /* the layer's decimals (docs/recipes.md, "Normalization layers"); sema
       * applied the defaults, so eps > 0 and the reference's own defaults
       * (a zero eps) never apply; k = 0 is the constant sqrt(pi/2) */
      r->eps = rec_sdec(nd->eps.n, nd->eps.f);
      r->nmom = rec_sdec(nd->nmom.n, nd->nmom.f);
      r->one_minus_nmom = rec_sdec(pow10_u64(nd->nmom.f) - nd->nmom.n, nd->nmom.f);
      if (nd->nk.n)
        r->l1k = rec_sdec(nd->nk.n, nd->nk.f);
      else
        r->l1k.m = REC_SQRT_PI_2_Q30, r->l1k.e = -30;
    }
    if (i == 0)
      r->c = nd->out.c, r->h = nd->out.h, r->w = nd->out.w;
  }
  int bits = m->recipe.weight_bits ? m->recipe.weight_bits : 8;
  if (ref_net_finish(net, m->output, bits)) {
    char tmp[300];
    snprintf(tmp, sizeof tmp, "reference rejects the model: %s", net->msg);
    return bad(net, msg, msglen, tmp, NULL);
  }
  if (net->classes != m->classes)
    return bad(net, msg, msglen, "class count differs from the output shape", NULL);
  if (net->nparams != m->nptensors)
    return bad(net, msg, msglen, "front end and reference disagree on the number of parameter tensors",
               NULL);
  for (int i = 0; i < m->nnodes; i++) {
    const Node *nd = &m->nodes[i];
    const RefNode *r = &net->nodes[i];
    if (nd->out.c != r->c || nd->out.h != r->h || nd->out.w != r->w)
      return bad(net, msg, msglen, "front end and reference disagree on the shape", nd);
    if ((nd->param >= 0) != (r->param >= 0) || (r->param >= 0 && nd->param != r->param))
      return bad(net, msg, msglen, "front end and reference disagree on the parameter index",
                 nd);
    if (r->param < 0)
      continue;
    if (op_is_norm(nd->op)) { /* gamma, beta: C each */
      for (int t = 0; t < 2; t++)
        if (net->params[r->param + t].count != nd->out.c || net->params[r->param + t].role != 1 + t)
          return bad(net, msg, msglen, "front end and reference disagree on gamma and beta", nd);
      continue;
    }
    const RefParam *pp = &net->params[r->param];
    if (nd->nweights != pp->count || nd->fan_in != pp->fan_in)
      return bad(net, msg, msglen, "front end and reference disagree on the weight tensor",
                 nd);
    for (int d = 0; d < 4; d++)
      if (nd->wshape[d] != pp->shape[d])
        return bad(net, msg, msglen, "front end and reference disagree on the weight shape",
                   nd);
    if (nd->w_exp != pp->exp || nd->w_bound != pp->bound)
      return bad(net, msg, msglen,
                 "front end and reference disagree on the init rule (exponent or bound)", nd);
  }
  return net;
}

int ref_opts_from_model(const struct Model *m, RefOpts *o) {
  const Recipe *r = &m->recipe;
  if (r->kind == NIT_RECIPE_NITI) {
    *o = ref_default_opts();
  } else if (r->kind == NIT_RECIPE_GHAFFARI || r->kind == NIT_RECIPE_SHIFTQUANT ||
             r->kind == NIT_RECIPE_UNIFIED) {
    *o = r->kind == NIT_RECIPE_SHIFTQUANT ? ref_shiftquant_opts()
         : r->kind == NIT_RECIPE_UNIFIED  ? ref_unified_opts()
                                          : ref_ghaffari_opts();
    if (r->kind == NIT_RECIPE_UNIFIED) { /* R§10.5, R§10.6 from the train block */
      o->clip = (RecClipOpts){.on = r->clip, .every = r->clip_every, .range = r->clip_range,
                              .grid = r->clip_grid, .b = r->bits_grad};
      o->lrscale = r->lrscale;
      o->alpha_q16 = rec_q16_dec(r->lrs_alpha.n, r->lrs_alpha.f);
      o->beta_q30 = rec_q30_dec(r->lrs_beta.n, r->lrs_beta.f);
    }
    o->bits_act = r->bits_act;
    o->bits_weight = r->bits_weight;
    o->bits_grad = r->bits_grad;
    if (r->kind == NIT_RECIPE_SHIFTQUANT) {
      o->groups = r->groups;
      o->groups_weight = r->groups_weight;
    }
    o->view_round = r->view_round;
    o->update_round = r->update_round;
    o->master_bits = r->master_bits;
    o->momentum = rec_sdec(r->momentum.n, r->momentum.f);
    o->wdecay = rec_sdec(r->wdecay.n, r->wdecay.f);
    o->eta.m = 0, o->eta.e = 0; /* eta(t): the caller's, per step */
  } else {
    return -1;
  }
  /* the softmax's exponential as the file chose it, whatever the recipe */
  o->loss = r->loss_table ? REF_LOSS_TABLE : REF_LOSS_NITI;
  o->seed = r->seed;
  o->mu = r->mu[0];
  o->act_round = r->act_round;
  o->err_round = r->err_round;
  o->grad_round = r->grad_round;
  o->decay = r->decay;
  return 0;
}

_Static_assert(NIT_MAX_SCHED <= REC_LR_MAX_STEPS, "a train block's schedule fits RecSchedule");

void ref_schedule_from_model(const struct Model *m, RecSchedule *sch) {
  const Recipe *r = &m->recipe;
  memset(sch, 0, sizeof *sch);
  sch->kind = REC_LR_PIECEWISE;
  sch->count = 1; /* value[0] = 0: niti has no learning rate */
  if (r->kind == NIT_RECIPE_NITI)
    return;
  if (r->lr_kind == NIT_LR_COSINE) {
    sch->kind = REC_LR_COSINE;
    sch->base = rec_sdec(r->lr[0].n, r->lr[0].f);
    sch->min = rec_sdec(r->lr_min.n, r->lr_min.f);
    sch->period = r->lr_period;
  } else {
    sch->count = r->nlr;
    for (int i = 0; i < r->nlr; i++) {
      sch->value[i] = rec_sdec(r->lr[i].n, r->lr[i].f);
      sch->at[i] = r->lr_at[i];
    }
  }
  sch->warmup = r->warmup;
  sch->warmup_ratio_q30 = rec_q30_dec(r->warmup_ratio.n, r->warmup_ratio.f);
}

int ref_mu_for_epoch(const struct Model *m, int64_t epoch) {
  const Recipe *r = &m->recipe;
  int mu = r->mu[0];
  for (int i = 1; i < r->nsched; i++)
    if (r->mu_from[i] <= epoch)
      mu = r->mu[i];
  return mu;
}
