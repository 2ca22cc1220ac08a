/*
 * ctx.c: what a kernel reads from the NitCtx and where its tensors live:
 * the fields loaded at the top of every function, pointers into the params
 * and work slabs at the offsets plan.c decided, the exponent slots, and the
 * routing of input errors (straight to the producer, or to a private buffer
 * when the producer gathers several contributions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

int64_t numel(const Shape *s) { return (int64_t)s->c * s->h * s->w; }

Val act_ptr(Cg *g, int i) {
  if (i == 0) return g->f.v_x;
  int a = g->p->act_alias[i];
  if (a == 0) return g->f.v_x;
  return l_slab(g, g->f.v_work, g->p->act[a].off, g->m->nodes[i].name);
}

/* Max pool i's taps (plan's pool_taps): int8 (B, C, OH, OW) after its output. */
Val taps_ptr(Cg *g, int i) {
  char buf[80];
  snprintf(buf, sizeof buf, "%s.taps", g->m->nodes[i].name);
  return l_slab(g, g->f.v_work, plan_taps_at(g->p, i), buf);
}

/* Where node i's error buffer lies in the work slab (its alias root's). */
static int64_t err_off(const Cg *g, int i) { return g->p->err[g->p->err_alias[i]].off; }

Val err_ptr(Cg *g, int i) {
  char buf[80];
  snprintf(buf, sizeof buf, "%s.err", g->m->nodes[i].name);
  return l_slab(g, g->f.v_work, err_off(g, i), buf);
}

/* exps slot: which = 0 activation, 1 error, 2 + s input error of slot s */
static Val exp_slot(Cg *g, int i, int which) {
  return l_gep(g, g->t_i32, g->f.v_exps, l_i64(g, (int64_t)i * 4 + which), "");
}
Val get_exp(Cg *g, int i, int which, const char *name) {
  return LLVMBuildLoad2(g->b, g->t_i32, exp_slot(g, i, which), name);
}
void set_exp(Cg *g, int i, int which, Val v) { LLVMBuildStore(g->b, v, exp_slot(g, i, which)); }

/* mu slot: the same (node, which) index in the plan's mu area */
static Val mu_slot(Cg *g, int i, int which) {
  return l_gep(g, g->t_i32, l_slab(g, g->f.v_work, g->p->mu_off, "mus"), l_i64(g, (int64_t)i * 4 + which), "");
}
Val get_mu(Cg *g, int i, int which, const char *name) {
  if (g->m->recipe.kind != NIT_RECIPE_UNIFIED) return l_i32(g, 1);
  return LLVMBuildLoad2(g->b, g->t_i32, mu_slot(g, i, which), name);
}
void set_mu(Cg *g, int i, int which, Val v) {
  if (g->m->recipe.kind == NIT_RECIPE_UNIFIED) LLVMBuildStore(g->b, v, mu_slot(g, i, which));
}

/* int8 pointer to a layer's (int8 view of its) weights */
Val w8_ptr(Cg *g, const Node *nd) {
  char buf[80];
  snprintf(buf, sizeof buf, "%s.w", nd->name);
  if (g->m->recipe.weight_bits > 8) return l_slab(g, g->f.v_work, g->p->wview[nd - g->m->nodes].off, buf);
  return l_slab(g, g->f.v_params, g->p->param_off[nd->param], buf);
}

Val wraw_ptr(Cg *g, const Node *nd) {
  char buf[80];
  snprintf(buf, sizeof buf, "%s.wraw", nd->name);
  return l_slab(g, g->f.v_params, g->p->param_off[nd->param], buf);
}

Val v_key_for(Cg *g, uint32_t tid, const char *name) {
  Val args[] = {g->f.v_seed, g->f.v_step, l_i32(g, tid)};
  return l_call(g, g->ft_key, g->f_key, args, 3, name);
}

Val acc_ptr(Cg *g) {
  NIT_ASSERT(g->acc_bytes > 0); /* the plan gave this node's kernels none (plan.c, acc_uses) */
  return l_slab(g, g->f.v_work, g->p->acc.off + g->acc_at, "acc");
}
Val acc2_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->acc2.off, "acc2"); }
Val grad_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->grad.off + g->grad_at, "grad"); }

/* Where row sums of weight operands go: the gradient scratch, which is free
 * from the start of a layer's forward or backward pass until its weight
 * gradient is computed (after the input error). */
Val wsum_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->grad.off, "wsum"); }
/* Row sums of data operands (dense layers), computed before the workers start. */
Val rsum_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->rsum.off, "rsum"); }

Val pack_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->pack.off, "pack"); }

int log2i(int64_t v) {
  int k = 0;
  while (((int64_t)1 << k) < v) k++;
  return k;
}

/* Where in the work slab an input error goes (err_dst): the producer's
 * error buffer (which 1), or consumer node's private buffer for its input
 * slot which - 2 when the producer gathers. */
static int64_t dst_off(const Cg *g, int node, int which) {
  return which == 1 ? err_off(g, node) : g->p->ein[node][which - 2].off;
}
Val err_dst_ptr(Cg *g, const ErrDst *d) {
  char buf[96];
  if (d->which == 1) snprintf(buf, sizeof buf, "%s.err", g->m->nodes[d->node].name);
  else snprintf(buf, sizeof buf, "%s.ein%d", g->m->nodes[d->node].name, d->which - 2);
  return l_slab(g, g->f.v_work, dst_off(g, d->node, d->which), buf);
}

bool err_dst(Cg *g, int i, int s, ErrDst *d) {
  int src = g->m->nodes[i].in[s];
  if (src <= 0 || !g->p->needs_err[src]) return false;
  if (g->p->gathers[src]) d->node = i, d->which = 2 + s;
  else d->node = src, d->which = 1;
  d->v_ptr = err_dst_ptr(g, d);
  return true;
}

/* Where node i's input error is rounded to: d's buffer; or, where the
 * input is a relu whose backward folds in here (plan's relu_err), the
 * relu's input error, gated by the relu's output (*v_gate, else NULL). Its
 * exponent is still the relu's error's, which the relu's backward then
 * passes on. */
static Val err_out(Cg *g, int i, const ErrDst *d, Val *v_gate) {
  int in = g->m->nodes[i].in[0];
  *v_gate = NULL;
  if (g->p->relu_err[in] != i) return d->v_ptr;
  ErrDst dr;
  bool flows = err_dst(g, in, 0, &dr); /* the plan folds only relus whose input error is needed */
  NIT_ASSERT(flows);
  *v_gate = act_ptr(g, in);
  return dr.v_ptr;
}

/* Before the input-error GEMM of a conv whose bodies round ahead: what
 * they round into, and how (a, for the GEMM and deliver_acc). */
void deliver_ahead(Cg *g, int i, const ErrDst *d, bool wide, Ahead *a) {
  const Shape *s = &g->m->nodes[g->m->nodes[i].in[0]].out;
  Val v_gate, v_out = err_out(g, i, d, &v_gate);
  RqKind q = {wide, g->m->recipe.bits_grad, false, v_gate != NULL};
  *a = ahead_site(i, 1, q, s);
  rq_ahead(g, a, l_batch_elems(g, s, "count"), v_out, g->f.v_rerr, v_key_for(g, NIT_TID_ERR(i), "key.err"),
           v_gate);
}

/* Requantize an input-error accumulator (exponent v_s before rounding) into
 * err_out's buffer; ahead: NULL, or what deliver_ahead set up. */
void deliver_acc(Cg *g, int i, const ErrDst *d, Val v_e32, bool wide, Val v_s, Val v_fused, const Ahead *ahead) {
  int in = g->m->nodes[i].in[0];
  Node *src = &g->m->nodes[in];
  Val v_cnt = l_batch_elems(g, &src->out, "count");
  /* the multiplier the consumed error carries (unified); a norm layer has
   * folded it into its coefficients already */
  Val v_mu = op_is_norm(g->m->nodes[i].op) ? l_i32(g, 1) : get_mu(g, i, 1, "mu.e");
  ErrSite site = {NIT_TID_ERR(i), v_s, v_mu, d->node, d->which, NULL, ahead, NULL};
  KArgs kp;
  Follow pool; /* the max pool before node i, in its input error's rounding region */
  if (g->p->pool_in_err[in] == i) {
    pool = maxpool_follow(g, in, &kp, true);
    site.next = &pool;
  }
  Val v_out = err_out(g, i, d, &site.v_gate);
  Val v_k = err_quant(g, wide, v_e32, v_cnt, &src->out, v_out, v_key_for(g, NIT_TID_ERR(i), "key.err"), v_fused,
                      &site);
  set_exp(g, d->node, d->which, l_add(g, v_s, v_k, "s.err"));
}

typedef struct CopyArgs {
  int64_t from, to; /* work-slab offsets */
  int64_t per;      /* bytes a sample */
} CopyArgs;

/* Samples [lo, hi) of a copy between two buffers of the work slab. */
static void copy_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const CopyArgs *a = u;
  (void)v_wk;
  Val v_at = l_mul(g, v_lo, l_i64(g, a->per), "at");
  Val v_src = l_gep(g, g->t_i8, l_slab(g, g->f.v_work, a->from, "from"), v_at, "");
  Val v_dst = l_gep(g, g->t_i8, l_slab(g, g->f.v_work, a->to, "to"), v_at, "");
  LLVMBuildMemCpy(g->b, v_dst, 1, v_src, 1, l_mul(g, l_sub(g, v_hi, v_lo, ""), l_i64(g, a->per), "bytes"));
}

/* Node nd's output error, unchanged, to the destination d with its
 * exponent: a copy on the workers unless d is its own buffer. */
void pass_err(Cg *g, const Node *nd, const ErrDst *d, Val v_se) {
  int i = (int)(nd - g->m->nodes);
  CopyArgs a = {err_off(g, i), dst_off(g, d->node, d->which), numel(&nd->out)};
  if (a.from != a.to) {
    char name[96];
    snprintf(name, sizeof name, "%s.pass", nd->name);
    par_for(g, name, g->f.v_n, g->p->maxw, copy_body, &a);
  }
  set_exp(g, d->node, d->which, v_se);
  set_mu(g, d->node, d->which, get_mu(g, i, 1, "mu.e"));
}

/* -------------------------------------------------------- step functions */

Val ctx_field(Cg *g, unsigned idx, Ty t, const char *name) {
  Val v_p = LLVMBuildStructGEP2(g->b, g->t_ctx, g->f.v_ctx, idx, "");
  return LLVMBuildLoad2(g->b, t, v_p, name);
}

/* Every NitCtx field a kernel may use (also at the top of outlined bodies). */
void load_ctx_fields(Cg *g) {
  g->f.v_params = ctx_field(g, CTX_params, g->t_ptr, "params");
  g->f.v_work = ctx_field(g, CTX_work, g->t_ptr, "work");
  g->f.v_seed = ctx_field(g, CTX_seed, g->t_i64, "seed");
  g->f.v_step = ctx_field(g, CTX_step, g->t_i64, "step");
  g->f.v_n = l_sext(g, ctx_field(g, CTX_n, g->t_i32, "n32"), g->t_i64, "n");
  g->f.v_inexp = ctx_field(g, CTX_in_exp, g->t_i32, "in.exp");
  g->f.v_mu = ctx_field(g, CTX_mu, g->t_i32, "mu");
  g->f.v_ract = ctx_field(g, CTX_act_round, g->t_i32, "round.act");
  g->f.v_rerr = ctx_field(g, CTX_err_round, g->t_i32, "round.err");
  g->f.v_rgrad = ctx_field(g, CTX_grad_round, g->t_i32, "round.grad");
  g->f.v_decay = ctx_field(g, CTX_decay, g->t_i32, "decay");
  g->f.v_train = ctx_field(g, CTX_train, g->t_i32, "train");
  g->f.v_row0 = ctx_field(g, CTX_row0, g->t_i64, "row0");
  g->f.v_xnonneg = ctx_field(g, CTX_x_nonneg, g->t_i32, "x.nonneg");
  g->f.v_exps = l_slab(g, g->f.v_work, g->p->exps_off, "exps");
}

void load_ctx(Cg *g) {
  load_ctx_fields(g);
  set_exp(g, 0, 0, g->f.v_inexp);
}

/* Copy logits and exponents out to the caller. */
void publish(Cg *g) {
  Model *m = g->m;
  int o = m->output;
  Val v_lg = ctx_field(g, CTX_logits, g->t_ptr, "logits");
  Val v_src = act_ptr(g, o);
  Loop L = l_for(g, l_i64(g, 0), l_mul(g, g->f.v_n, l_i64(g, m->classes), ""), "j");
  l_store(g, g->t_i8, l_load(g, g->t_i8, v_src, L.v_i, "a"), v_lg, L.v_i);
  l_next(g, &L);
  LLVMBuildStore(g->b, get_exp(g, o, 0, "s.logits"),
                 LLVMBuildStructGEP2(g->b, g->t_ctx, g->f.v_ctx, CTX_logit_exp, ""));
}

void copy_exps(Cg *g) {
  Val v_dst = ctx_field(g, CTX_exps, g->t_ptr, "exps.out");
  Blk b_join = l_if(g, LLVMBuildIsNotNull(g->b, v_dst, ""), "exps");
  for (int i = 0; i < g->m->nnodes; i++)
    for (int w = 0; w < 2; w++) l_store(g, g->t_i32, get_exp(g, i, w, "s"), v_dst, l_i64(g, (int64_t)i * 2 + w));
  l_endif(g, b_join);
}
