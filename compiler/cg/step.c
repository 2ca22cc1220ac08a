/*
 * step.c: the step driver. Builds the module: the shared helpers, then
 * nit_train_step (forward, loss gradient, backward and update, every layer in
 * turn) and nit_forward, then the nit_model descriptor. Every layer's loop
 * nest is emitted with its shapes as constants, so LLVM sees constant trip
 * counts and strides; only the batch count n is a run-time value.
 */
#include <stdio.h>

#include "cg.h"

static void emit_helpers(Cg *g) {
  emit_generator(g);
  emit_bits(g);
  emit_sat8(g);
  emit_round(g);
  Ty am[] = {g->t_ptr, g->t_i64, g->t_i64};
  g->ft_maxabs = LLVMFunctionType(g->t_i64, am, 3, 0);
  /* round8's parameters; the gated one takes the gate after them */
  Ty a8[] = {g->t_ptr, g->t_i64, g->t_i64, g->t_ptr, g->t_i32, g->t_i32, g->t_i64, g->t_i64, g->t_i32, g->t_i32, g->t_ptr};
  g->ft_round8 = LLVMFunctionType(g->t_void, a8, 10, 0);
  g->ft_round8g = LLVMFunctionType(g->t_void, a8, 11, 0);
  g->f_maxabs32 = emit_maxabs(g, g->t_i32, "nit_maxabs_i32");
  g->f_maxabs64 = emit_maxabs(g, g->t_i64, "nit_maxabs_i64");
  emit_round_fns(g);
  Ty ap[] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i32, g->t_i32, g->t_ptr, g->t_i64};
  g->ft_uplan = LLVMFunctionType(g->t_void, ap, 7, 0);
  Ty aa[] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_i64, g->t_i64, g->t_i32,
             g->t_i32, g->t_i32, g->t_i64, g->t_i32, g->t_i32};
  g->ft_uapply = LLVMFunctionType(g->t_void, aa, 11, 0);
  g->f_uplan32 = emit_update_plan(g, g->t_i32, "nit_update_plan_i32");
  g->f_uplan64 = emit_update_plan(g, g->t_i64, "nit_update_plan_i64");
  g->f_uapply32 = emit_update_apply(g, g->t_i32, "nit_update_i32");
  g->f_uapply64 = emit_update_apply(g, g->t_i64, "nit_update_i64");
  emit_wview(g);
  emit_loss(g);
  emit_sgd_helpers(g);
  emit_norm_decls(g);
  emit_clip_decls(g);
}

/* Dense and conv: the GEMM, then one requantization of its accumulators
 * (a conv's bodies may round ahead, round.c). */
static void weighted_forward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  int i = io->i;
  Ty t_acc = nd->acc64_fwd ? g->t_i64 : g->t_i32;
  Val v_acc = acc_ptr(g), v_key = v_key_for(g, NIT_TID_ACT(i), "key.act");
  RqKind q = {nd->acc64_fwd, g->m->recipe.bits_act, g->p->relu_rq[i], false};
  Ahead a = ahead_site(i, io->train ? 0 : 2, q, &nd->out), *ahead = g->p->ahead[i] & AHEAD_FWD ? &a : NULL;
  if (ahead) rq_ahead(g, ahead, io->v_cnt, io->v_out, g->f.v_ract, v_key, NULL);
  Val v_fused = nd->op == OP_DENSE ? dense_forward(g, i, t_acc) : conv_forward(g, i, t_acc, ahead);
  KArgs kp;
  Follow pool, *next = NULL; /* the max pool after it, in its rounding region */
  if (g->p->rq_pool[i]) {
    pool = maxpool_follow(g, g->p->rq_pool[i], &kp, false);
    next = &pool;
  }
  Val v_k = requant_fused(g, q.bits, q.wide, v_acc, io->v_cnt, io->v_out, g->f.v_ract, v_key, v_fused, q.relu, NULL,
                          ahead, next);
  set_exp(g, i, 0, l_add(g, l_add(g, io->v_sin, wexp_of(g, nd), ""), v_k, "s.out"));
}

static void node_forward(Cg *g, int i, bool train) {
  const Node *nd = &g->m->nodes[i];
  LayerIO io = {.i = i, .nd = nd, .train = train};
  io.v_in = nd->nin > 0 ? act_ptr(g, nd->in[0]) : NULL;
  io.v_out = act_ptr(g, i);
  io.v_cnt = l_batch_elems(g, &nd->out, "count");
  io.v_sin = nd->nin > 0 ? get_exp(g, nd->in[0], 0, "s.in") : NULL;
  switch (nd->op) {
  case OP_DENSE:
  case OP_CONV: weighted_forward(g, &io); break;
  case OP_RELU: relu_forward(g, &io); break;
  case OP_FLATTEN: flatten_forward(g, &io); break;
  case OP_DROPOUT: dropout_forward(g, &io); break;
  case OP_MAXPOOL: maxpool_forward(g, &io); break;
  case OP_AVGPOOL: avgpool_forward(g, &io); break;
  case OP_ADD: add_forward(g, &io); break;
  case OP_BATCHNORM:
  case OP_L1NORM:
  case OP_LAYERNORM:
  case OP_L1LAYERNORM: norm_forward(g, &io); break;
  case OP_INPUT: diag_internal(__FILE__, __LINE__, "no forward pass for the input");
  }
}

/* --------------------------------------------------------- backward pass */

/* Where node i's input error for slot s goes: straight into the producer's
 * error buffer, or, when the producer gathers several contributions, into a
 * private buffer of this consumer. NULL when nothing upstream needs it. */

/* A gather of at most ALIGN_TERMS contributions (gather_few). */
typedef struct GatherArgs {
  const Node *nd;
  int nt;                       /* contributions */
  int64_t off[ALIGN_TERMS];     /* their buffers' work-slab offsets */
  int64_t slot[ALIGN_TERMS];    /* their exponent (and multiplier) slots */
} GatherArgs;

/* Samples [lo, hi) of the aligned sum of a gather's contributions into
 * acc2 (i64), each term's shift and use from par_arg (align_pack), and
 * their largest |sum| into the worker's rq slot (for requant_fused). */
static void gather_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const GatherArgs *a = u;
  bool uni = g->m->recipe.kind == NIT_RECIPE_UNIFIED;
  int64_t per = numel(&a->nd->out);
  Val v_packed = par_arg(g), v_src[ALIGN_TERMS], v_use[ALIGN_TERMS], v_d[ALIGN_TERMS], v_mu[ALIGN_TERMS];
  for (int t = 0; t < a->nt; t++) {
    v_src[t] = l_slab(g, g->f.v_work, a->off[t], "ein");
    align_unpack(g, v_packed, t, &v_use[t], &v_d[t]);
    if (uni)
      v_mu[t] = l_sext(g, l_load(g, g->t_i32, l_slab(g, g->f.v_work, g->p->mu_off, "mus"), l_i64(g, a->slot[t]), "mu.ein"),
                       g->t_i64, "mu64");
  }
  Val v_acc = acc2_ptr(g), var_max = l_var(g, g->t_i64, "max.var", l_i64(g, 0));
  Loop L = l_for(g, l_mul(g, v_lo, l_i64(g, per), ""), l_mul(g, v_hi, l_i64(g, per), ""), "j");
  Val v_sum = l_i64(g, 0);
  for (int t = 0; t < a->nt; t++) {
    Val v_e8 = l_sext(g, l_load(g, g->t_i8, v_src[t], L.v_i, "e"), g->t_i64, "");
    if (uni) v_e8 = l_mul(g, v_e8, v_mu[t], "e.mu");
    v_sum = l_add(g, v_sum, l_select(g, v_use[t], LLVMBuildShl(g->b, v_e8, v_d[t], ""), l_i64(g, 0), ""), "sum");
  }
  l_store(g, g->t_i64, v_sum, v_acc, L.v_i);
  l_set(g, var_max, l_smax(g, l_get(g, g->t_i64, var_max, ""), l_abs(g, v_sum, "abs"), "max"));
  l_next(g, &L);
  worker_max_store(g, l_get(g, g->t_i64, var_max, "max"), v_wk);
}

/* The common exponent of a gather's terms from the smallest and largest
 * (v_lo, v_hi): under unified the operands carry their multipliers, and
 * the guard is 44 (docs/recipes.md, "The unified recipe"). */
static Val gather_common(Cg *g, Val v_lo, Val v_hi) {
  if (g->m->recipe.kind == NIT_RECIPE_UNIFIED) return l_smax(g, v_lo, l_sub(g, v_hi, l_i32(g, 44), ""), "s.common");
  return align_common(g, v_lo, v_hi);
}

/* gather's sum where the contributions are few (at most ALIGN_TERMS):
 * each term's exponent, liveness (one scan) and shift found here, the sum
 * on the workers, each element written once (no zeroing). Returns the
 * common exponent; *v_fused the workers, whose largest |sum| is in the
 * rq slots. */
static Val gather_few(Cg *g, int i, const int64_t *offs, const int64_t *slots, int nt, Val *v_fused) {
  GatherArgs a = {&g->m->nodes[i], nt, {0}, {0}};
  bool skip_zero = g->m->recipe.kind != NIT_RECIPE_NITI;
  Val v_cnt = l_batch_elems(g, &a.nd->out, "count"), v_e[ALIGN_TERMS], v_live[ALIGN_TERMS];
  Val v_lo = NULL, v_hi = NULL;
  for (int t = 0; t < nt; t++) {
    a.off[t] = offs[t], a.slot[t] = slots[t];
    v_e[t] = l_load(g, g->t_i32, g->f.v_exps, l_i64(g, slots[t]), "s.ein");
    /* with masters, all-zero contributions take no part, and none left gives 0 */
    v_live[t] = skip_zero ? LLVMBuildNot(g->b, zero_tensor8(g, l_slab(g, g->f.v_work, a.off[t], "ein"), v_cnt, ""), "live")
                          : NULL;
    if (!v_lo) {
      v_lo = v_live[t] ? l_select(g, v_live[t], v_e[t], l_i32(g, INT32_MAX), "") : v_e[t];
      v_hi = v_live[t] ? l_select(g, v_live[t], v_e[t], l_i32(g, INT32_MIN), "") : v_e[t];
      continue;
    }
    Val v_lo1 = l_smin(g, v_lo, v_e[t], "lo"), v_hi1 = l_smax(g, v_hi, v_e[t], "hi");
    v_lo = v_live[t] ? l_select(g, v_live[t], v_lo1, v_lo, "") : v_lo1;
    v_hi = v_live[t] ? l_select(g, v_live[t], v_hi1, v_hi, "") : v_hi1;
  }
  if (skip_zero) {
    Val v_none = l_icmp(g, LLVMIntSGT, v_lo, v_hi, "none");
    v_lo = l_select(g, v_none, l_i32(g, 0), v_lo, "");
    v_hi = l_select(g, v_none, l_i32(g, 0), v_hi, "");
  }
  Val v_s = gather_common(g, v_lo, v_hi), v_packed = l_i32(g, 0);
  for (int t = 0; t < nt; t++) {
    Val v_use, v_d;
    align_shift(g, v_e[t], v_s, &v_use, &v_d);
    if (skip_zero) { /* a zero contribution adds nothing; its shift may be out of range */
      v_use = LLVMBuildAnd(g->b, v_use, v_live[t], "use.live");
      v_d = l_select(g, v_use, v_d, l_i64(g, 0), "d.live");
    }
    v_packed = align_pack(g, v_packed, t, v_use, v_d);
  }
  par_arg_set(g, v_packed);
  char name[96];
  snprintf(name, sizeof name, "%s.gather", a.nd->name);
  *v_fused = par_for(g, name, g->f.v_n, g->p->maxw, gather_body, &a);
  return v_s;
}

/* gather's sum over the constant table of its contributions (any number),
 * on the caller: acc2 zeroed, then each term added. Returns the common
 * exponent. */
static Val gather_table(Cg *g, int i, const int64_t *offs, const int64_t *slots, int nt) {
  Model *m = g->m;
  Node *nd = &m->nodes[i];
  Val *v_offs = mem_alloc(sizeof(Val) * (size_t)nt), *v_slots = mem_alloc(sizeof(Val) * (size_t)nt);
  for (int t = 0; t < nt; t++) v_offs[t] = l_i64(g, offs[t]), v_slots[t] = l_i64(g, slots[t]);
  char buf[96];
  snprintf(buf, sizeof buf, "%s.ein.off", nd->name);
  Val v_toffs = l_const_array(g, g->t_i64, v_offs, nt, buf);
  snprintf(buf, sizeof buf, "%s.ein.slot", nd->name);
  Val v_tslots = l_const_array(g, g->t_i64, v_slots, nt, buf);
  Val v_cnt = l_batch_elems(g, &nd->out, "count");
  /* the common exponent from the smallest and largest contribution; with
   * masters, all-zero contributions take no part (docs/recipes.md,
   * decision "Aligned sums skip all-zero operands") and none left gives 0 */
  bool skip_zero = m->recipe.kind != NIT_RECIPE_NITI;
  Val var_lo = l_var(g, g->t_i32, "lo.var", NULL), var_hi = l_var(g, g->t_i32, "hi.var", NULL);
  if (!skip_zero) {
    Val v_e0 = l_load(g, g->t_i32, g->f.v_exps, l_load(g, g->t_i64, v_tslots, l_i64(g, 0), "slot"), "s.ein");
    l_set(g, var_lo, v_e0);
    l_set(g, var_hi, v_e0);
    Loop Le = l_for(g, l_i64(g, 1), l_i64(g, nt), "t");
    Val v_e = l_load(g, g->t_i32, g->f.v_exps, l_load(g, g->t_i64, v_tslots, Le.v_i, "slot"), "s.ein");
    l_set(g, var_lo, l_smin(g, l_get(g, g->t_i32, var_lo, ""), v_e, "lo"));
    l_set(g, var_hi, l_smax(g, l_get(g, g->t_i32, var_hi, ""), v_e, "hi"));
    l_next(g, &Le);
  } else {
    l_set(g, var_lo, l_i32(g, INT32_MAX));
    l_set(g, var_hi, l_i32(g, INT32_MIN));
    Loop Le = l_for(g, l_i64(g, 0), l_i64(g, nt), "t");
    Val v_e = l_load(g, g->t_i32, g->f.v_exps, l_load(g, g->t_i64, v_tslots, Le.v_i, "slot"), "s.ein");
    Val v_src0 = l_gep(g, g->t_i8, g->f.v_work, l_load(g, g->t_i64, v_toffs, Le.v_i, "off"), "ein");
    Val v_live = LLVMBuildNot(g->b, zero_tensor8(g, v_src0, v_cnt, ""), "live");
    Val v_lo0 = l_get(g, g->t_i32, var_lo, ""), v_hi0 = l_get(g, g->t_i32, var_hi, "");
    l_set(g, var_lo, l_select(g, v_live, l_smin(g, v_lo0, v_e, ""), v_lo0, "lo"));
    l_set(g, var_hi, l_select(g, v_live, l_smax(g, v_hi0, v_e, ""), v_hi0, "hi"));
    l_next(g, &Le);
    Val v_none = l_icmp(g, LLVMIntSGT, l_get(g, g->t_i32, var_lo, ""), l_get(g, g->t_i32, var_hi, ""), "none");
    l_set(g, var_lo, l_select(g, v_none, l_i32(g, 0), l_get(g, g->t_i32, var_lo, ""), ""));
    l_set(g, var_hi, l_select(g, v_none, l_i32(g, 0), l_get(g, g->t_i32, var_hi, ""), ""));
  }
  bool uni = m->recipe.kind == NIT_RECIPE_UNIFIED;
  Val v_hi = l_get(g, g->t_i32, var_hi, "hi"), v_lo = l_get(g, g->t_i32, var_lo, "lo"); /* main's load order */
  Val v_s = gather_common(g, v_lo, v_hi);
  Val v_acc = acc2_ptr(g);
  l_zero(g, g->t_i64, v_acc, v_cnt);
  Loop Lt = l_for(g, l_i64(g, 0), l_i64(g, nt), "t");
  Val v_et = l_load(g, g->t_i32, g->f.v_exps, l_load(g, g->t_i64, v_tslots, Lt.v_i, "slot"), "s.ein");
  Val v_src = l_gep(g, g->t_i8, g->f.v_work, l_load(g, g->t_i64, v_toffs, Lt.v_i, "off"), "ein");
  Val v_use, v_d;
  align_shift(g, v_et, v_s, &v_use, &v_d);
  if (skip_zero) { /* a zero contribution adds nothing; its shift may be out of range */
    Val v_zero = zero_tensor8(g, v_src, v_cnt, "ein.zero");
    v_use = LLVMBuildAnd(g->b, v_use, LLVMBuildNot(g->b, v_zero, ""), "use.live");
    v_d = l_select(g, v_use, v_d, l_i64(g, 0), "d.live");
  }
  Val v_mut = NULL;
  if (uni)
    v_mut = l_sext(g, l_load(g, g->t_i32, l_slab(g, g->f.v_work, g->p->mu_off, "mus"),
                             l_load(g, g->t_i64, v_tslots, Lt.v_i, "slot"), "mu.ein"), g->t_i64, "mu64");
  Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
  Val v_e8 = l_sext(g, l_load(g, g->t_i8, v_src, L.v_i, "e"), g->t_i64, "");
  if (uni) v_e8 = l_mul(g, v_e8, v_mut, "e.mu");
  Val v_x = LLVMBuildShl(g->b, v_e8, v_d, "");
  Val v_old = l_load(g, g->t_i64, v_acc, L.v_i, "");
  l_store(g, g->t_i64, l_add(g, v_old, l_select(g, v_use, v_x, l_i64(g, 0), ""), ""), v_acc, L.v_i);
  l_next(g, &L);
  l_next(g, &Lt);
  return v_s;
}

/* err[i] = requant(sum of the aligned contributions of every consumer), any
 * number of them: every (consumer, slot) reading node i left its input error
 * in a private buffer (plan: ein) and its exponent in a slot. Up to
 * ALIGN_TERMS of them, gather_few sums them on the workers; more (or with
 * NITC_GATHER_WORKERS=0 in nitc's environment, for the tests),
 * gather_table loops over a constant table of (buffer offset, exponent
 * slot) pairs on the caller, so its size does not grow with the number of
 * consumers. */
static void gather(Cg *g, int i) {
  Model *m = g->m;
  Node *nd = &m->nodes[i];
  int cap = g->p->nconsumers[i], nt = 0;
  int64_t *offs = mem_alloc(sizeof(int64_t) * (size_t)cap), *slots = mem_alloc(sizeof(int64_t) * (size_t)cap);
  for (int j = i + 1; j < m->nnodes; j++)
    for (int s = 0; s < m->nodes[j].nin; s++)
      if (m->nodes[j].in[s] == i) {
        NIT_ASSERT(nt < cap);
        offs[nt] = g->p->ein[j][s].off;
        slots[nt++] = (int64_t)j * 4 + 2 + s;
      }
  NIT_ASSERT(nt > 1); /* gathers[i]: two or more sources */
  Val v_fused = NULL;
  bool few = nt <= ALIGN_TERMS && env_num("NITC_GATHER_WORKERS", 1);
  Val v_s = few ? gather_few(g, i, offs, slots, nt, &v_fused) : gather_table(g, i, offs, slots, nt);
  ErrSite site = {NIT_TID_SUM(i), v_s, l_i32(g, 1), i, 1, NULL, NULL, NULL};
  Val v_k = err_quant(g, true, acc2_ptr(g), l_batch_elems(g, &nd->out, "count"), &nd->out, err_ptr(g, i),
                      v_key_for(g, NIT_TID_SUM(i), "key.sum"), v_fused, &site);
  set_exp(g, i, 1, l_add(g, v_s, v_k, "s.err"));
}

/* Dense and conv: the input error (when an upstream layer needs it), the
 * weight gradient, and the update. */
static void weighted_backward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  int i = io->i;
  Val v_w = w8_ptr(g, nd);
  Ty t_g = nd->acc64_grad ? g->t_i64 : g->t_i32;
  Val v_gmax = NULL; /* the gradient's max |g| as its GEMM left it (dense) */
  bool paired = io->need_in && g->p->paired[i]; /* both GEMMs first (dense.c, dense_backward_pair) */
  if (io->need_in) {
    Ty t_acc = nd->acc64_bwd ? g->t_i64 : g->t_i32;
    Val v_acc = acc_ptr(g);
    Ahead a, *ahead = NULL;
    if (g->p->ahead[i] & AHEAD_ERR) {
      ahead = &a;
      deliver_ahead(g, i, &io->d, nd->acc64_bwd, ahead);
    }
    Val v_fused = paired               ? dense_backward_pair(g, i, t_acc, t_g, &v_gmax)
                  : nd->op == OP_DENSE ? dense_backward_input(g, i, t_acc)
                                       : conv_backward_input(g, i, t_acc, ahead);
    deliver_acc(g, i, &io->d, v_acc, nd->acc64_bwd, l_add(g, io->v_se, wexp_of(g, nd), ""), v_fused, ahead);
  }
  Val v_g = grad_ptr(g);
  if (nd->op == OP_CONV) {
    conv_backward_weight(g, i, t_g);
  } else if (!paired) {
    Val v_gfused = dense_backward_weight(g, i, t_g); /* workers that left the gradient's max |g| */
    if (v_gfused) v_gmax = grad_fused_max(g, v_gfused);
  }
  /* data parallel: the exact sum of every rank's gradient, then the same
   * update on every rank (the width was chosen for the global batch) */
  l_allsum(g, v_g, l_i64(g, nd->nweights), nd->acc64_grad ? 8 : 4);
  if (g->m->recipe.kind == NIT_RECIPE_UNIFIED) { /* the error's multiplier, exactly (int64 sums) */
    NIT_ASSERT(nd->acc64_grad);
    Val v_mu = l_sext(g, get_mu(g, i, 1, "mu.e"), g->t_i64, "mu64");
    Loop L = l_for(g, l_i64(g, 0), l_i64(g, nd->nweights), "j");
    l_store(g, g->t_i64, l_mul(g, l_load(g, g->t_i64, v_g, L.v_i, "g"), v_mu, "g.mu"), v_g, L.v_i);
    l_next(g, &L);
  }
  if (g->m->recipe.kind != NIT_RECIPE_NITI)
    sgd_update(g, nd->param, nd->nweights, v_g, t_g, l_add(g, get_exp(g, nd->in[0], 0, "s.x"), io->v_se, "s.g32"));
  else update_weights(g, i, v_g, v_w, t_g, v_gmax);
}

static void node_backward(Cg *g, int i) {
  const Node *nd = &g->m->nodes[i];
  LayerIO io = {.i = i, .nd = nd};
  io.v_e = err_ptr(g, i);
  io.v_se = get_exp(g, i, 1, "s.e");
  io.need_in = err_dst(g, i, 0, &io.d);
  io.v_src = act_ptr(g, nd->in[0]);
  if (nd->op == OP_DENSE || nd->op == OP_CONV) {
    weighted_backward(g, &io);
    return;
  }
  if (op_is_norm(nd->op)) { /* its parameters learn even when no error goes on */
    norm_backward(g, &io);
    return;
  }
  if (!io.need_in && nd->op != OP_ADD) return;
  switch (nd->op) {
  case OP_RELU: relu_backward(g, &io); break;
  case OP_DROPOUT: dropout_backward(g, &io); break;
  case OP_FLATTEN: flatten_backward(g, &io); break;
  case OP_MAXPOOL: maxpool_backward(g, &io); break;
  case OP_AVGPOOL: avgpool_backward(g, &io); break;
  case OP_ADD: add_backward(g, &io); break;
  default: diag_internal(__FILE__, __LINE__, "no backward pass for this op (sema should have refused it)");
  }
}

/* Node i's forward (pass 0) or backward (pass 1, with its gather) as an
 * internal noinline function NAME.fwd / NAME.bwd(ctx, x, y), called from the
 * step function. Every function then stays the size of one layer, so the
 * optimizer's cost grows linearly with the number of layers (one function
 * per step made some of its passes quadratic: a 128-term residual sum took
 * about 50 s to compile). Values cross between layers only through the slabs
 * and the exponent slots, so nothing else changes. */
static void emit_node_fn(Cg *g, int i, bool train, bool backward) {
  Aside saved = l_aside(g);
  char buf[128];
  snprintf(buf, sizeof buf, "%s.%s", g->m->nodes[i].name, backward ? "bwd" : "fwd");
  Val f = l_begin_glue_fn(g, buf, g->ft_node);
  g->acc_at = backward ? g->p->acc_err_at[i] : g->p->acc_at[i];
  g->acc_bytes = backward ? g->p->acc_err_bytes[i] : g->p->acc_bytes[i];
  g->workers = !backward && g->p->fwd_rows[i] ? g->p->maxw : g->p->workers[i]; /* its rounding too */
  g->grad_at = g->p->grad_at[i];
  g->f.v_ctx = l_param(g, 0, "ctx");
  g->f.v_x = l_param(g, 1, "x");
  g->f.v_y = l_param(g, 2, "y");
  load_ctx_fields(g);
  if (!backward) {
    node_forward(g, i, train);
  } else {
    if (g->p->gathers[i]) gather(g, i);
    node_backward(g, i);
  }
  LLVMBuildRetVoid(g->b);
  g->acc_at = 0;
  g->acc_bytes = g->p->acc.bytes;
  g->grad_at = 0;
  g->workers = g->p->maxw;
  Val args[] = {saved.f.v_ctx, saved.f.v_x, saved.f.v_y ? saved.f.v_y : LLVMConstNull(g->t_ptr)};
  l_back(g, saved);
  l_call(g, g->ft_node, f, args, 3, "");
}

static void emit_step(Cg *g, bool train) {
  Model *m = g->m;
  Ty a[] = {g->t_ptr, g->t_ptr, g->t_ptr};
  Ty ft = LLVMFunctionType(g->t_void, a, train ? 3 : 2, 0);
  l_begin_glue_fn(g, train ? "nit_train_step" : "nit_forward", ft);
  g->f.v_ctx = l_param(g, 0, "ctx");
  g->f.v_x = l_param(g, 1, "x");
  g->f.v_y = train ? l_param(g, 2, "y") : NULL;
  load_ctx(g);
  wide_views(g);
  master_views(g);
  for (int i = 1; i < m->nnodes; i++) emit_node_fn(g, i, train, false);
  publish(g);
  if (train) {
    int o = m->output;
    Val args[] = {act_ptr(g, o), get_exp(g, o, 0, "s.logits"),          g->f.v_y, g->f.v_n, err_ptr(g, o),
                  g->f.v_rerr,   v_key_for(g, NIT_TID_LOSS, "key.loss")};
    if (g->f_e32) { /* e32 (n, classes) at -15 (table) or -11 (NITI's row), then EQ at LOSS */
      Val targs[] = {args[0], args[1], args[2], args[3], acc_ptr(g)};
      Val v_s = l_call(g, g->ft_e32, g->f_e32, targs, 5, "s.e32");
      Shape cls = {m->classes, 1, 1};
      ErrSite site = {NIT_TID_LOSS, v_s, l_i32(g, 1), o, 1, NULL, NULL, NULL};
      Val v_cnt = l_mul(g, g->f.v_n, l_i64(g, m->classes), "count");
      Val v_k = err_quant(g, true, acc_ptr(g), v_cnt, &cls, args[4], args[6], NULL, &site);
      set_exp(g, o, 1, l_add(g, v_s, v_k, "s.loss"));
    } else {
      Val largs[] = {args[0], args[1], args[2], args[3], args[4], args[5], args[6],
                     l_global_idx(g, l_i64(g, 0), l_i64(g, m->classes))};
      l_call(g, g->ft_loss, g->f_loss, largs, 8, "");
      set_exp(g, o, 1, l_i32(g, 0));
    }
    for (int i = m->nnodes - 1; i >= 1; i--)
      if (g->p->needs_err[i]) emit_node_fn(g, i, true, true);
  }
  copy_exps(g);
  LLVMBuildRetVoid(g->b);
}

/* A builder and the basic types, shared by both kinds of module. */
static void begin_module(Cg *g, LLVMContextRef ctx, const char *name, const CgTarget *t) {
  g->ctx = ctx;
  g->mod = LLVMModuleCreateWithNameInContext(name, ctx);
  LLVMSetTarget(g->mod, t->triple);
  g->b = LLVMCreateBuilderInContext(ctx);
  g->t_i1 = LLVMInt1TypeInContext(ctx);
  g->t_i8 = LLVMInt8TypeInContext(ctx);
  g->t_i16 = LLVMInt16TypeInContext(ctx);
  g->t_i32 = LLVMInt32TypeInContext(ctx);
  g->t_i64 = LLVMInt64TypeInContext(ctx);
  g->t_ptr = LLVMPointerTypeInContext(ctx, 0);
  g->t_void = LLVMVoidTypeInContext(ctx);
  g->gk = gemm_isa(t);
  g->x86 = gemm_x86(t);
  g->simd = gemm_simd(t);
  g->madd_bits = gemm_madd_bits(t);
  g->bw512 = gemm_bw512(t);
  g->mask_stores = gemm_mask_stores(t);
  g->mask_ops = gemm_mask_ops(t);
}

LLVMModuleRef cg_module(LLVMContextRef ctx, Model *m, Plan *p, const CgTarget *t) {
  Cg G = {0}, *g = &G;
  g->m = m;
  g->p = p;
  g->acc_bytes = p->acc.bytes;
  g->workers = p->maxw;
  begin_module(g, ctx, m->name, t);
  abi_types(g);
  Ty ef[ENV_NFIELDS] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr};
  g->t_env = LLVMStructTypeInContext(ctx, ef, ENV_NFIELDS, 0);
  g->bodies_end = &g->bodies;
  Ty bf[] = {g->t_ptr, g->t_i64, g->t_i64, g->t_i32};
  g->ft_body = LLVMFunctionType(g->t_void, bf, 4, 0);
  Ty pf[] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_i64, g->t_i32};
  g->ft_pfor = LLVMFunctionType(g->t_i32, pf, 5, 0);
  g->ft_node = LLVMFunctionType(g->t_void, ef, 3, 0);
  /* the forms' switches (for comparisons and tests): on unless set to 0 */
  g->gather4 = env_num("NITC_GATHER", 1);
  g->vbmi = g->gather4 && gemm_vbmi(t);
  g->implicit = env_num("NITC_IMPLICIT", 1);
  g->rows = env_num("NITC_ROWS", 1);
  g->tile_words = env_num("NITC_TILE_WORDS", 1);
  g->stream_min = gemm_stream_min();

  emit_helpers(g);
  emit_step(g, true);
  Val f_train = g->f.fn;
  emit_step(g, false);
  Val f_fwd = g->f.fn;
  emit_descriptor(g, t, f_train, f_fwd);
  fold_bodies(g);
  LLVMDisposeBuilder(g->b);
  return g->mod;
}

/* --gemm-kernel: the GEMM alone, for bench/gemm. Scratch layout: A's row
 * sums (vnni) or corrections (ax), then B's panels, then A split (ax: M rows
 * of 2 K bytes). */
LLVMModuleRef cg_gemm_module(LLVMContextRef ctx, const CgTarget *t, int64_t M, int64_t N, int64_t K, bool ua) {
  Cg G0 = {0}, *g = &G0;
  begin_module(g, ctx, "gemm", t);
  Ty args[] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr};
  l_begin_fn(g, "nit_gemm", LLVMFunctionType(g->t_void, args, 4, 0), false);
  Gemm G = {0};
  G.v_A = l_param(g, 0, "A"), G.lda = K;
  G.v_B = l_param(g, 1, "B"), G.sn = K, G.sk = 1;
  G.v_C = l_param(g, 2, "C"), G.ldc = N;
  Val v_scratch = l_param(g, 3, "scratch");
  G.v_asum = v_scratch;
  G.v_P = l_gep(g, g->t_i8, v_scratch, l_i64(g, rup(M * 4, 64)), "pan");
  G.v_M = l_i64(g, M), G.v_N = l_i64(g, N), G.v_K = l_i64(g, K);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(N));
  G.t_acc = g->t_i32, G.kind = gemm_kind(g, K);
  G.ua = ua && gemm_has_ua(G.kind); /* the caller's A is never negative: the kernel's unsigned form */
  if (G.kind == GK_VNNI && !G.ua) row_sums(g, G.v_A, K, G.v_M, G.v_K, G.v_asum);
  if (!G.ua && gemm_ax(G.kind, K)) { /* as a network's input errors take their weights */
    Val v_split = l_gep(g, g->t_i8, G.v_P, l_i64(g, panel_bytes(N, K)), "a.split");
    gemm_ax_split(g, G.v_A, K, M, K, v_split, G.v_asum);
    G.v_A = v_split, G.lda = ax_lda(K), G.ax = true;
  }
  gemm(g, &G);
  LLVMBuildRetVoid(g->b);
  LLVMDisposeBuilder(g->b);
  return g->mod;
}
