/*
 * norm.c: the normalization layers batchnorm, layernorm, l1norm and
 * l1layernorm under the recipes with masters (docs/recipes.md,
 * "Normalization layers").
 *
 * A norm layer's per-group work (exact group sums, the S31 scalars rho and
 * the LINSUM coefficients, the running statistics) and its LINSUM element
 * loops run in the runtime's norm kernels (runtime/norm.c), described by a
 * constant NIT_NORM_DESC table per layer; the generated code hands them the
 * slabs' buffers and then rounds each result exactly as every other layer
 * does: the output with RQ_8 at ACT(i), the input error with the error
 * quantizer at ERR(i), and the parameter gradients through the optimizer
 * (gamma's LINSUM is reduced to 32 bits with OPT(gamma, GRAD) like a weight
 * gradient, beta's exact sums likewise).
 *
 * The work slab holds per layer its groups' {S1, V or A, rho} from the
 * training forward (plan: nstat), read by the backward of the same step.
 */
#include <stdio.h>

#include "cg.h"

void norm_desc(const Node *nd, int64_t d[NIT_NORM_DESC]) {
  d[NIT_ND_KIND] = nd->op == OP_BATCHNORM   ? NIT_NORM_BATCH
                   : nd->op == OP_LAYERNORM ? NIT_NORM_LAYER
                   : nd->op == OP_L1NORM    ? NIT_NORM_L1BATCH
                                            : NIT_NORM_L1LAYER;
  d[NIT_ND_C] = nd->out.c;
  d[NIT_ND_HW] = (int64_t)nd->out.h * nd->out.w;
  d[NIT_ND_EPS_N] = (int64_t)nd->eps.n, d[NIT_ND_EPS_F] = nd->eps.f;
  d[NIT_ND_MOM_N] = (int64_t)nd->nmom.n, d[NIT_ND_MOM_F] = nd->nmom.f;
  d[NIT_ND_K_N] = (int64_t)nd->nk.n, d[NIT_ND_K_F] = nd->nk.f;
}

void emit_norm_decls(Cg *g) {
  bool any = false;
  for (int i = 0; i < g->m->nnodes; i++) any |= op_is_norm(g->m->nodes[i].op);
  if (!any) return;
  Ty P = g->t_ptr, I32 = g->t_i32, I64 = g->t_i64;
  Ty af[] = {P, P, I64, P, I32, P, I32, P, I32, I32, P, P, P, P};
  g->ft_normf = LLVMFunctionType(I32, af, 14, 0);
  g->f_normf = LLVMAddFunction(g->mod, "nitrt_norm_forward", g->ft_normf);
  Ty ab[] = {P, P, I64, P, I32, P, P, I32, P, I32, P, P, P, P, P};
  g->ft_normb = LLVMFunctionType(I32, ab, 15, 0);
  g->f_normb = LLVMAddFunction(g->mod, "nitrt_norm_backward", g->ft_normb);
  if (g->m->recipe.kind != NIT_RECIPE_UNIFIED) return;
  Ty am[] = {P, P, I64, P, I32, P, P, I32, P, I32, P, P, P, P, P, I32};
  g->ft_normb_mu = LLVMFunctionType(I32, am, 16, 0);
  g->f_normb_mu = LLVMAddFunction(g->mod, "nitrt_norm_backward_mu", g->ft_normb_mu);
}

/* The layer's NIT_NORM_DESC values as an internal constant "<name>.norm". */
static Val desc_of(Cg *g, const Node *nd) {
  char buf[96];
  snprintf(buf, sizeof buf, "%s.norm", nd->name);
  Val v_d = LLVMGetNamedGlobal(g->mod, buf);
  if (v_d) return v_d; /* train step and forward share it */
  int64_t d[NIT_NORM_DESC];
  Val v[NIT_NORM_DESC];
  norm_desc(nd, d);
  for (int k = 0; k < NIT_NORM_DESC; k++) v[k] = l_i64(g, d[k]);
  v_d = LLVMAddGlobal(g->mod, LLVMArrayType(g->t_i64, NIT_NORM_DESC), buf);
  LLVMSetInitializer(v_d, LLVMConstArray2(g->t_i64, v, NIT_NORM_DESC));
  LLVMSetGlobalConstant(v_d, 1);
  LLVMSetLinkage(v_d, LLVMInternalLinkage);
  return v_d;
}

static Val view_of(Cg *g, int t, const char *name) { return l_slab(g, g->f.v_params, g->p->param_off[t], name); }
static Val stat_of(Cg *g, int i) { return l_slab(g, g->f.v_work, g->p->nstat[i].off, "norm.st"); }
static Val scratch_of(Cg *g) { return l_slab(g, g->f.v_work, g->p->norm.off, "norm.scratch"); }

/* y = RQ_8(S; act, ACT(i)) with S the kernel's LINSUM at exponent W. */
void norm_forward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  int t = nd->param;
  Val v_run = g->p->stats_off[t] >= 0 ? l_slab(g, g->f.v_params, g->p->stats_off[t], "norm.running")
                                      : LLVMConstNull(g->t_ptr);
  Val v_S = acc_ptr(g);
  Val args[] = {g->f.v_ctx,
                desc_of(g, nd),
                g->f.v_n,
                io->v_in,
                io->v_sin,
                view_of(g, t, "gamma"),
                view_exp_of(g, t, "s.gamma"),
                view_of(g, t + 1, "beta"),
                view_exp_of(g, t + 1, "s.beta"),
                l_i32(g, io->train),
                v_run,
                stat_of(g, io->i),
                scratch_of(g),
                v_S};
  Val v_w = l_call(g, g->ft_normf, g->f_normf, args, 14, "norm.W");
  Val v_k = requant(g, g->m->recipe.bits_act, true, v_S, io->v_cnt, io->v_out, g->f.v_ract, v_key_for(g, NIT_TID_ACT(io->i), "key.act"));
  set_exp(g, io->i, 0, l_add(g, v_w, v_k, "s.out"));
}

/* The input error (when upstream needs it) and both parameters' updates. */
void norm_backward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  int t = nd->param;
  int64_t c = nd->out.c;
  Val v_S = io->need_in ? acc_ptr(g) : LLVMConstNull(g->t_ptr);
  Val v_dbeta = grad_ptr(g);                                                  /* i64 (C) */
  Val v_dgamma = l_gep(g, g->t_i64, v_dbeta, l_i64(g, c), "dgamma.S");        /* i64 (C) */
  Val var_sdg = l_var(g, g->t_i32, "s.dgamma.var", NULL);
  Val args[] = {g->f.v_ctx,
                desc_of(g, nd),
                g->f.v_n,
                io->v_src,
                get_exp(g, nd->in[0], 0, "s.x"),
                stat_of(g, io->i),
                view_of(g, t, "gamma"),
                view_exp_of(g, t, "s.gamma"),
                io->v_e,
                io->v_se,
                scratch_of(g),
                v_S,
                v_dbeta,
                v_dgamma,
                var_sdg,
                NULL};
  Val v_w;
  if (g->m->recipe.kind == NIT_RECIPE_UNIFIED) { /* the error's multiplier in every coefficient */
    args[15] = get_mu(g, io->i, 1, "mu.e");
    v_w = l_call(g, g->ft_normb_mu, g->f_normb_mu, args, 16, "norm.dx.W");
  } else {
    v_w = l_call(g, g->ft_normb, g->f_normb, args, 15, "norm.dx.W");
  }
  if (io->need_in) deliver_acc(g, io->i, &io->d, v_S, true, v_w, NULL, NULL);
  sgd_update(g, t, c, v_dgamma, g->t_i64, l_get(g, g->t_i32, var_sdg, "s.dgamma"));
  sgd_update(g, t + 1, c, v_dbeta, g->t_i64, io->v_se);
}
