/*
 * abi.c: the runtime interface in LLVM terms: the types of NitCtx,
 * NitParam, NitNode, NitRecipe and NitModel, built from the field lists in
 * runtime/nitabi.h (so neither side restates the other), and the constant
 * nit_model descriptor that the runtime reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* Field indices of each runtime structure, in declaration order. */
#define P_IDX(k, t, n)     P_##n,
#define P_IDXA(k, t, n, l) P_##n,
enum { NIT_PARAM_FIELDS(P_IDX, P_IDXA) P_NFIELDS };
#define N_IDX(k, t, n)     N_##n,
#define N_IDXA(k, t, n, l) N_##n,
enum { NIT_NODE_FIELDS(N_IDX, N_IDXA) N_NFIELDS };
#define R_IDX(k, t, n)     R_##n,
#define R_IDXA(k, t, n, l) R_##n,
enum { NIT_RECIPE_FIELDS(R_IDX, R_IDXA) R_NFIELDS };
#define M_IDX(k, t, n)     M_##n,
#define M_IDXA(k, t, n, l) M_##n,
enum { NIT_MODEL_FIELDS(M_IDX, M_IDXA) M_NFIELDS };

/* The LLVM type of a field of the given kind (nitabi.h), an array when len > 0. */
enum { KIND_PTR, KIND_I32, KIND_I64, KIND_REC };
static Ty field_type(Cg *g, int kind, unsigned len, Ty t_rec) {
  Ty t = kind == KIND_PTR ? g->t_ptr : kind == KIND_I32 ? g->t_i32 : kind == KIND_I64 ? g->t_i64 : t_rec;
  return len ? LLVMArrayType(t, len) : t;
}
#define FIELD_TY(k, t, n)     field_type(g, KIND_##k, 0, t_rec),
#define FIELD_TYA(k, t, n, l) field_type(g, KIND_##k, l, t_rec),

static Ty named_struct(Cg *g, const char *name, Ty *fields, unsigned n) {
  Ty t = LLVMStructCreateNamed(g->ctx, name);
  LLVMStructSetBody(t, fields, n, 0);
  return t;
}

void abi_types(Cg *g) {
  Ty t_rec = NULL; /* NitCtx has no recipe field */
  Ty cf[] = {NIT_CTX_FIELDS(FIELD_TY, FIELD_TYA)};
  g->t_ctx = named_struct(g, "NitCtx", cf, CTX_NFIELDS);
}

static Val l_str(Cg *g, const char *s, const char *name) { return LLVMBuildGlobalStringPtr(g->b, s ? s : "", name); }

static Val l_i32_array(Cg *g, const int32_t *v, int n) {
  Val vals[NIT_MAX_SCHED];
  for (int i = 0; i < n; i++) vals[i] = l_i32(g, v[i]);
  return LLVMConstArray2(g->t_i32, vals, (uint64_t)n);
}

uint64_t cg_fingerprint(const Model *m) {
  /* FNV-1a over everything that decides the parameter layout and meaning. */
  uint64_t h = 0xcbf29ce484222325ull;
  char buf[256];
  for (int i = 0; i < m->nnodes; i++) {
    const Node *nd = &m->nodes[i];
    int len = snprintf(buf, sizeof buf, "%d:%d,%d:%d,%d,%d:%d,%d,%d,%d,%d,%d,%d,%d,%d:%lld,%d;", nd->op, nd->in[0],
                       nd->in[1], nd->out.c, nd->out.h, nd->out.w, nd->units, nd->out_ch, nd->kh, nd->kw, nd->sh,
                       nd->sw, nd->ph, nd->pw, nd->groups, (long long)nd->nweights, nd->w_exp);
    for (int k = 0; k < len; k++) h = (h ^ (unsigned char)buf[k]) * 0x100000001b3ull;
  }
  int len = snprintf(buf, sizeof buf, "classes=%d;bits=%d", m->classes, m->recipe.weight_bits);
  if (m->recipe.kind != NIT_RECIPE_NITI) /* niti fingerprints stay those of earlier releases */
    len += snprintf(buf + len, sizeof buf - (size_t)len, ";recipe=%d;master=%d", m->recipe.kind,
                    m->recipe.master_bits);
  const Recipe *r = &m->recipe; /* the widths and groups change what the weights mean */
  if (r->bits_act != 8 || r->bits_weight != 8 || r->bits_grad != 8 || r->kind == NIT_RECIPE_SHIFTQUANT)
    len += snprintf(buf + len, sizeof buf - (size_t)len, ";bits=%d,%d,%d;groups=%d", r->bits_act, r->bits_weight,
                    r->bits_grad, r->groups);
  if (r->groups_weight) /* earlier fingerprints stay as they were */
    len += snprintf(buf + len, sizeof buf - (size_t)len, ";wgroups=1");
  if (r->kind == NIT_RECIPE_UNIFIED) /* the held clips mean something only under the same clip and scaling */
    len += snprintf(buf + len, sizeof buf - (size_t)len, ";clip=%d,%lld,%d,%d;lrscale=%d,%llu/%d,%llu/%d", r->clip,
                    (long long)r->clip_every, r->clip_range, r->clip_grid, r->lrscale,
                    (unsigned long long)r->lrs_alpha.n, r->lrs_alpha.f, (unsigned long long)r->lrs_beta.n,
                    r->lrs_beta.f);
  for (int k = 0; k < len; k++) h = (h ^ (unsigned char)buf[k]) * 0x100000001b3ull;
  return h;
}

/* nit_params: one NitParam per weighted node, in parameter order. */
static Val emit_params(Cg *g, int *nparams) {
  Model *m = g->m;
  Ty t_rec = NULL;
  Ty pf[] = {NIT_PARAM_FIELDS(FIELD_TY, FIELD_TYA)};
  Ty t_param = named_struct(g, "NitParam", pf, P_NFIELDS);
  int np = m->nptensors;
  bool masters = m->recipe.kind != NIT_RECIPE_NITI;
  Val *pv = calloc((size_t)np + 1, sizeof(Val));
  if (!pv) diag_internal(__FILE__, __LINE__, "out of memory");
  for (int t = 0; t < np; t++) {
    const Node *nd;
    int64_t count = plan_ptensor(m, t, &nd);
    int role = nd->nweights > 0 ? NIT_ROLE_WEIGHT : t == nd->param ? NIT_ROLE_GAMMA : NIT_ROLE_BETA;
    Val shp[4], fv[P_NFIELDS];
    for (int k = 0; k < 4; k++) shp[k] = l_i32(g, role == NIT_ROLE_WEIGHT ? nd->wshape[k] : k == 0 ? nd->out.c : 1);
    int exp = nd->w_exp, bound = nd->w_bound;
    if (masters && role == NIT_ROLE_WEIGHT) sema_master_rule(nd->fan_in, m->recipe.master_bits, &exp, &bound);
    if (role == NIT_ROLE_GAMMA) exp = 2 - m->recipe.master_bits, bound = 0; /* 1.0 = 2^(A-2) 2^(2-A) */
    if (role == NIT_ROLE_BETA) exp = bound = 0;
    fv[P_name] = l_str(g, nd->name, "param.name");
    fv[P_rank] = l_i32(g, role != NIT_ROLE_WEIGHT ? 1 : nd->op == OP_CONV ? 4 : 2);
    fv[P_shape] = LLVMConstArray2(g->t_i32, shp, 4);
    fv[P_count] = l_i64(g, count);
    fv[P_bits] = l_i32(g, masters ? 8 : m->recipe.weight_bits);
    fv[P_exp] = l_i32(g, exp);
    fv[P_fan_in] = l_i32(g, role == NIT_ROLE_WEIGHT ? nd->fan_in : 1);
    fv[P_bound] = l_i32(g, bound);
    fv[P_offset] = l_i64(g, g->p->param_off[t]);
    fv[P_role] = l_i32(g, role);
    fv[P_master_off] = l_i64(g, g->p->master_off[t]);
    fv[P_mom_off] = l_i64(g, g->p->mom_off[t]);
    fv[P_stats_off] = l_i64(g, g->p->stats_off[t]);
    int64_t nd_desc[NIT_NORM_DESC] = {0};
    if (role == NIT_ROLE_GAMMA) norm_desc(nd, nd_desc);
    Val dv[NIT_NORM_DESC];
    for (int k = 0; k < NIT_NORM_DESC; k++) dv[k] = l_i64(g, nd_desc[k]);
    fv[P_norm] = LLVMConstArray2(g->t_i64, dv, NIT_NORM_DESC);
    pv[t] = LLVMConstNamedStruct(t_param, fv, P_NFIELDS);
  }
  Val v = l_const_array(g, t_param, pv, np, "nit_params");
  free(pv);
  *nparams = np;
  return v;
}

/* nit_nodes: every node, with where its output and error are after a call. */
static Val emit_nodes(Cg *g) {
  Model *m = g->m;
  const Plan *p = g->p;
  Ty t_rec = NULL;
  Ty nf[] = {NIT_NODE_FIELDS(FIELD_TY, FIELD_TYA)};
  Ty t_node = named_struct(g, "NitNode", nf, N_NFIELDS);
  Val *nv = calloc((size_t)m->nnodes, sizeof(Val));
  if (!nv) diag_internal(__FILE__, __LINE__, "out of memory");
  for (int i = 0; i < m->nnodes; i++) {
    const Node *nd = &m->nodes[i];
    Val ins[] = {l_i32(g, nd->nin > 0 ? nd->in[0] : -1), l_i32(g, nd->nin > 1 ? nd->in[1] : -1)};
    Val outs[] = {l_i32(g, nd->out.c), l_i32(g, nd->out.h), l_i32(g, nd->out.w)};
    int a = p->err_alias[i];
    Val fv[N_NFIELDS];
    fv[N_name] = l_str(g, nd->name, "node.name");
    fv[N_kind] = l_str(g, sema_op_name(nd->op), "node.kind");
    fv[N_in] = LLVMConstArray2(g->t_i32, ins, 2);
    fv[N_out] = LLVMConstArray2(g->t_i32, outs, 3);
    fv[N_param] = l_i32(g, nd->param);
    int gi[NIT_GEOM] = {[NIT_G_KH] = nd->kh,         [NIT_G_KW] = nd->kw, [NIT_G_SH] = nd->sh,
                        [NIT_G_SW] = nd->sw,         [NIT_G_PH] = nd->ph, [NIT_G_PW] = nd->pw,
                        [NIT_G_GROUPS] = nd->groups, [NIT_G_DROP256] = nd->drop256};
    Val gv[NIT_GEOM];
    for (int k = 0; k < NIT_GEOM; k++) gv[k] = l_i32(g, gi[k]);
    fv[N_geom] = LLVMConstArray2(g->t_i32, gv, NIT_GEOM);
    fv[N_acc64] = l_i32(g, nd->acc64_fwd || nd->acc64_bwd || nd->acc64_grad);
    bool in_x = i == 0 || p->act_alias[i] == 0; /* its activation is the input's, not the slab's */
    fv[N_act_off] = l_i64(g, p->relu_rq[i] ? -2 : in_x ? -1 : p->act_fwd[p->act_alias[i]] ? -3 : p->act[p->act_alias[i]].off);
    fv[N_err_off] = l_i64(g, !p->needs_err[i] ? -1 : p->err_kept[a] ? p->err[a].off : -2);
    fv[N_act_kept] = l_i32(g, in_x || p->act_kept[p->act_alias[i]]);
    nv[i] = LLVMConstNamedStruct(t_node, fv, N_NFIELDS);
  }
  Val v = l_const_array(g, t_node, nv, m->nnodes, "nit_nodes");
  free(nv);
  return v;
}

/* The recipe as written in the .nit file (the runtime's defaults). */
static Val recipe_value(Cg *g, Ty *t_rec_out) {
  const Recipe *r = &g->m->recipe;
  Ty t_rec = NULL;
  Ty rf[] = {NIT_RECIPE_FIELDS(FIELD_TY, FIELD_TYA)};
  Ty t = named_struct(g, "NitRecipe", rf, R_NFIELDS);
  int32_t mu[NIT_MAX_SCHED] = {0}, from[NIT_MAX_SCHED] = {0};
  for (int k = 0; k < r->nsched && k < NIT_MAX_SCHED; k++) {
    mu[k] = r->mu[k];
    from[k] = r->mu_from[k];
  }
  Val rv[R_NFIELDS];
  rv[R_data] = l_str(g, r->data, "recipe.data");
  rv[R_batch] = l_i32(g, r->batch);
  rv[R_epochs] = l_i32(g, r->epochs);
  rv[R_seed] = l_u64(g, r->seed);
  rv[R_act_round] = l_i32(g, r->act_round);
  rv[R_err_round] = l_i32(g, r->err_round);
  rv[R_grad_round] = l_i32(g, r->grad_round);
  rv[R_nsched] = l_i32(g, r->nsched);
  rv[R_mu] = l_i32_array(g, mu, NIT_MAX_SCHED);
  rv[R_mu_from] = l_i32_array(g, from, NIT_MAX_SCHED);
  rv[R_weight_bits] = l_i32(g, r->weight_bits);
  rv[R_decay] = l_i32(g, r->decay);
  rv[R_holdout] = l_i32(g, r->holdout);
  rv[R_kind] = l_i32(g, r->kind);
  rv[R_master_bits] = l_i32(g, r->master_bits);
  rv[R_view_round] = l_i32(g, r->view_round);
  rv[R_update_round] = l_i32(g, r->update_round);
  rv[R_loss_table] = l_i32(g, r->loss_table);
  rv[R_lr_kind] = l_i32(g, r->lr_kind);
  rv[R_nlr] = l_i32(g, r->nlr);
  Val lr_n[NIT_MAX_SCHED];
  int32_t lr_f[NIT_MAX_SCHED] = {0}, lr_at[NIT_MAX_SCHED] = {0};
  for (int k = 0; k < NIT_MAX_SCHED; k++) {
    bool set = k < r->nlr;
    lr_n[k] = l_u64(g, set ? r->lr[k].n : 0);
    lr_f[k] = set ? r->lr[k].f : 0;
    lr_at[k] = set ? r->lr_at[k] : 0;
  }
  rv[R_lr_n] = LLVMConstArray2(g->t_i64, lr_n, NIT_MAX_SCHED);
  rv[R_lr_f] = l_i32_array(g, lr_f, NIT_MAX_SCHED);
  rv[R_lr_at] = l_i32_array(g, lr_at, NIT_MAX_SCHED);
  rv[R_lr_min_n] = l_u64(g, r->lr_min.n);
  rv[R_lr_min_f] = l_i32(g, r->lr_min.f);
  rv[R_lr_period] = l_i32(g, r->lr_period);
  rv[R_warmup] = l_i64(g, r->warmup);
  rv[R_warmup_ratio_n] = l_u64(g, r->warmup_ratio.n);
  rv[R_warmup_ratio_f] = l_i32(g, r->warmup_ratio.f);
  rv[R_momentum_n] = l_u64(g, r->momentum.n);
  rv[R_momentum_f] = l_i32(g, r->momentum.f);
  rv[R_wdecay_n] = l_u64(g, r->wdecay.n);
  rv[R_wdecay_f] = l_i32(g, r->wdecay.f);
  rv[R_bits_act] = l_i32(g, r->bits_act);
  rv[R_bits_weight] = l_i32(g, r->bits_weight);
  rv[R_bits_grad] = l_i32(g, r->bits_grad);
  rv[R_groups] = l_i32(g, r->groups);
  rv[R_groups_weight] = l_i32(g, r->groups_weight);
  rv[R_clip] = l_i32(g, r->clip);
  rv[R_clip_every] = l_i64(g, r->clip_every);
  rv[R_clip_range] = l_i32(g, r->clip_range);
  rv[R_clip_grid] = l_i32(g, r->clip_grid);
  rv[R_lrscale] = l_i32(g, r->lrscale);
  rv[R_lrs_alpha_n] = l_u64(g, r->lrs_alpha.n);
  rv[R_lrs_alpha_f] = l_i32(g, r->lrs_alpha.f);
  rv[R_lrs_beta_n] = l_u64(g, r->lrs_beta.n);
  rv[R_lrs_beta_f] = l_i32(g, r->lrs_beta.f);
  *t_rec_out = t;
  return LLVMConstNamedStruct(t, rv, R_NFIELDS);
}

void emit_descriptor(Cg *g, const CgTarget *t, Val f_train, Val f_fwd) {
  Model *m = g->m;
  /* Strings and arrays are built from a throwaway function's builder
   * position; LLVMBuildGlobalStringPtr needs one. */
  Ty ft = LLVMFunctionType(g->t_void, NULL, 0, 0);
  Val f_tmp = l_begin_fn(g, "nit.tmp", ft, true);
  int nparams;
  Val v_params = emit_params(g, &nparams);
  Val v_nodes = emit_nodes(g);
  Ty t_rec;
  Val v_rec = recipe_value(g, &t_rec);

  Ty mf[] = {NIT_MODEL_FIELDS(FIELD_TY, FIELD_TYA)};
  Ty t_model = named_struct(g, "NitModel", mf, M_NFIELDS);
  const Shape *is = &m->nodes[0].out;
  char compiler[64];
  snprintf(compiler, sizeof compiler, "nitc %s", NITC_VERSION);
  Val mv[M_NFIELDS];
  mv[M_abi] = l_i32(g, NIT_ABI_VERSION);
  mv[M_name] = l_str(g, m->name, "model.name");
  mv[M_fingerprint] = l_u64(g, cg_fingerprint(m));
  mv[M_in_c] = l_i32(g, is->c);
  mv[M_in_h] = l_i32(g, is->h);
  mv[M_in_w] = l_i32(g, is->w);
  mv[M_classes] = l_i32(g, m->classes);
  mv[M_batch] = l_i32(g, m->recipe.batch);
  mv[M_nparams] = l_i32(g, nparams);
  mv[M_params] = v_params;
  mv[M_param_bytes] = l_i64(g, g->p->param_bytes);
  mv[M_work_bytes] = l_i64(g, g->p->work_bytes);
  mv[M_nnodes] = l_i32(g, m->nnodes);
  mv[M_nodes] = v_nodes;
  mv[M_output] = l_i32(g, m->output);
  mv[M_pstate_off] = l_i64(g, g->p->pstate_off);
  mv[M_recipe] = v_rec;
  mv[M_compiler] = l_str(g, compiler, "compiler");
  mv[M_target] = l_str(g, t->triple, "target");
  mv[M_cpu] = l_str(g, t->cpu, "cpu");
  mv[M_train_step] = f_train;
  mv[M_forward] = f_fwd;
  mv[M_nsites] = l_i32(g, g->p->nsites);
  mv[M_clip_off] = l_i64(g, g->p->clip_off);
  Val v_model = LLVMAddGlobal(g->mod, t_model, "nit_model");
  LLVMSetInitializer(v_model, LLVMConstNamedStruct(t_model, mv, M_NFIELDS));
  LLVMSetGlobalConstant(v_model, 1);
  LLVMBuildRetVoid(g->b);
  LLVMDeleteFunction(f_tmp);
}
