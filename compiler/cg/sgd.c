/*
 * sgd.c: master weights, their int8 views and the integer SGD of the recipes
 * with masters (docs/recipes.md, "Master weights and the integer SGD
 * optimizer").
 *
 * Per parameter tensor t the params slab holds the int8 view at param_off
 * (what every kernel reads, as under niti), the master W and the momentum V
 * (A = master_bits wide) and, in the pstate table, their exponents and the
 * view's. A call starts by rewriting every view (key OPT(t, VIEW) at the
 * call's step, NIT_STEP_EVAL in forward); a weighted layer's backward ends
 * with its optimizer step:
 *   G  = sat_32(R_grad(g32, k)), k = max(0, B(g32) - 31)       (key OPT(t, GRAD))
 *   V' = LINCOMB_A((momentum, V), (1/n, G), (decay, W))        (key OPT(t, MOM))
 *   W' = LINCOMB_A((ONE, W), (-eta, V'))                       (key OPT(t, MASTER))
 * The scalar work of a LINCOMB (which pairs are live, the common exponent,
 * the shifts) is per tensor and runs in the runtime (nitrt_linsum_plan);
 * the element loops are generated here. Every product is a 31-bit
 * coefficient times an element of at most 32 bits, so the sums stay in i64.
 * A large tensor's element passes run in chunks on the workers (pass), and
 * the rounding and sum passes return the largest |x| they wrote, which the
 * next LINCOMB plans with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* pstate slots (nitabi.h: NitModel.pstate_off) */
enum { PS_MASTER_EXP = 0, PS_MOM_EXP = 1, PS_VIEW_EXP = 2 };

static Ty master_ty(Cg *g) { return g->m->recipe.master_bits == 32 ? g->t_i32 : g->t_i16; }

static Val pstate_ptr(Cg *g, int t, int slot) {
  return l_slab(g, g->f.v_params, g->p->pstate_off + ((int64_t)t * 4 + slot) * 4, "pstate");
}

static Val get_pstate(Cg *g, int t, int slot, const char *name) {
  return LLVMBuildLoad2(g->b, g->t_i32, pstate_ptr(g, t, slot), name);
}

static void set_pstate(Cg *g, int t, int slot, Val v) { LLVMBuildStore(g->b, v, pstate_ptr(g, t, slot)); }

static Val master_ptr(Cg *g, int t) { return l_slab(g, g->f.v_params, g->p->master_off[t], "master"); }
static Val mom_ptr(Cg *g, int t) { return l_slab(g, g->f.v_params, g->p->mom_off[t], "mom"); }
static Val sums_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->sgd.off, "sgd.S"); }
static Val g31_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->sgd.off + g->p->sgd_count * 8, "sgd.G"); }

Val view_exp_of(Cg *g, int t, const char *name) { return get_pstate(g, t, PS_VIEW_EXP, name); }

Val wexp_of(Cg *g, const Node *nd) {
  if (g->m->recipe.kind == NIT_RECIPE_NITI) return l_i32(g, nd->w_exp);
  return view_exp_of(g, nd->param, "s.w");
}

/* ------------------------------------------------- shared element loops */

/* rq(in, lo, hi, k, mode, key, out): out[j] = sat_lim(R_mode(in[j], k))
 * for j in [lo, hi), with element index j, lim = 2^(bits-1) - 1; k == 0
 * copies (saturated). Returns max |out[j]| (i64), which the optimizer's
 * next LINCOMB plans with. One function per (input type, output type,
 * bits); the loop is chosen once: copy, stochastic, or pseudo and nearest
 * in one (ROUND_DET). */
static Val emit_rq(Cg *g, Ty t_in, Ty t_out, int bits, const char *name) {
  Ty a[] = {g->t_ptr, g->t_i64, g->t_i64, g->t_i32, g->t_i32, g->t_i64, g->t_ptr};
  g->ft_rq = LLVMFunctionType(g->t_i64, a, 7, 0);
  Val f = l_begin_loop_fn(g, name, g->ft_rq);
  Val v_in = l_param(g, 0, "in"), v_lo = l_param(g, 1, "lo"), v_hi = l_param(g, 2, "hi"), v_k = l_param(g, 3, "k");
  Val v_mode = l_param(g, 4, "mode"), v_key = l_param(g, 5, "key"), v_out = l_param(g, 6, "out");
  Val v_lim = l_i64(g, (int64_t)(((uint64_t)1 << (bits - 1)) - 1));
  Val v_nlim = l_i64(g, -(int64_t)(((uint64_t)1 << (bits - 1)) - 1));
  RoundK R = round_consts(g, g->t_i64, l_smax(g, v_k, l_i32(g, 1), "k1"));
  Val var_max = l_var(g, g->t_i64, "max.var", l_i64(g, 0));
  /* three loops: copy (k == 0), stochastic, pseudo or nearest (ROUND_DET) */
  static const int modes[] = {-1, NIT_ROUND_STOCHASTIC, ROUND_DET};
  static const char *const names[] = {"copy", "stochastic", "det"};
  Blk b_case[3], b_done = l_block(g, "done");
  for (int c = 0; c < 3; c++) b_case[c] = l_block(g, names[c]);
  Val v_case = l_select(g, l_icmp(g, LLVMIntEQ, v_mode, l_i32(g, NIT_ROUND_STOCHASTIC), ""), l_i32(g, 1),
                        l_i32(g, 2), "");
  v_case = l_select(g, l_icmp(g, LLVMIntEQ, v_k, l_i32(g, 0), ""), l_i32(g, 0), v_case, "case");
  Val v_sw = LLVMBuildSwitch(g->b, v_case, b_case[2], 2);
  LLVMAddCase(v_sw, l_i32(g, 0), b_case[0]);
  LLVMAddCase(v_sw, l_i32(g, 1), b_case[1]);
  for (int c = 0; c < 3; c++) {
    LLVMPositionBuilderAtEnd(g->b, b_case[c]);
    if (modes[c] == ROUND_DET) round_det(g, &R, v_mode, true);
    Loop L = l_for(g, v_lo, v_hi, "j");
    Val v_x = l_sext(g, l_load(g, t_in, v_in, L.v_i, "x"), g->t_i64, "x64");
    Val v_r = modes[c] < 0                       ? v_x
              : modes[c] == NIT_ROUND_STOCHASTIC ? round_elem_ctr(g, &R, v_x, l_draw_ctr_begin(g, &L, v_key, v_lo))
                                                 : round_elem(g, &R, modes[c], v_x, v_key, L.v_i);
    v_r = l_smax(g, l_smin(g, v_r, v_lim, ""), v_nlim, "sat");
    l_store(g, t_out, l_trunc(g, v_r, t_out, "r"), v_out, L.v_i);
    l_set(g, var_max, l_smax(g, l_get(g, g->t_i64, var_max, ""), l_abs(g, v_r, ""), "max"));
    if (modes[c] == NIT_ROUND_STOCHASTIC) l_next_draws(g, &L);
    else l_next(g, &L);
    LLVMBuildBr(g->b, b_done);
  }
  LLVMPositionBuilderAtEnd(g->b, b_done);
  LLVMBuildRet(g->b, l_get(g, g->t_i64, var_max, "max"));
  return f;
}

/* align(P, d) of LINSUM: P 2^d for d >= 0, sign(P) R_near(|P|, -d) below. */
static Val l_align(Cg *g, Val v_p, Val v_d) {
  Val v_up = LLVMBuildShl(g->b, v_p, l_smax(g, v_d, l_i64(g, 0), ""), "up");
  Val v_k = l_smin(g, l_smax(g, LLVMBuildNeg(g->b, v_d, ""), l_i64(g, 1), ""), l_i64(g, 63), "k");
  Val v_a = l_abs(g, v_p, "a");
  Val v_q = LLVMBuildLShr(g->b, v_a, v_k, "q");
  Val v_half = LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, v_a, l_sub(g, v_k, l_i64(g, 1), ""), ""), l_i64(g, 1), "half");
  Val v_r = l_add(g, v_q, v_half, "rnear");
  v_r = l_select(g, l_icmp(g, LLVMIntSLT, v_p, l_i64(g, 0), ""), LLVMBuildNeg(g->b, v_r, ""), v_r, "down");
  return l_select(g, l_icmp(g, LLVMIntSGE, v_d, l_i64(g, 0), ""), v_up, v_r, "aligned");
}

/* linsum_N(S, lo, hi, u_0, m_0, d_0, ..., u_{N-1}, m_{N-1}, d_{N-1}):
 * S[j] = sum_t align(m_t u_t[j], d_t) for j in [lo, hi), u_t of type ts[t];
 * returns max |S[j]| (i64), from which the LINCOMB's rounding takes k. */
static Val emit_linsum(Cg *g, int nterms, const Ty *ts, const char *name, Ty *ft_out) {
  Ty a[3 + 3 * 4];
  a[0] = g->t_ptr, a[1] = a[2] = g->t_i64;
  for (int t = 0; t < nterms; t++) a[3 + 3 * t] = g->t_ptr, a[4 + 3 * t] = g->t_i64, a[5 + 3 * t] = g->t_i64;
  *ft_out = LLVMFunctionType(g->t_i64, a, 3 + 3 * (unsigned)nterms, 0);
  Val f = l_begin_loop_fn(g, name, *ft_out);
  Val v_S = l_param(g, 0, "S");
  Val var_max = l_var(g, g->t_i64, "max.var", l_i64(g, 0));
  Loop L = l_for(g, l_param(g, 1, "lo"), l_param(g, 2, "hi"), "j");
  Val v_sum = l_i64(g, 0);
  for (int t = 0; t < nterms; t++) {
    Val v_u = l_sext(g, l_load(g, ts[t], l_param(g, 3 + 3 * (unsigned)t, "u"), L.v_i, "u.j"), g->t_i64, "");
    Val v_p = l_mul(g, l_param(g, 4 + 3 * (unsigned)t, "m"), v_u, "p");
    v_sum = l_add(g, v_sum, l_align(g, v_p, l_param(g, 5 + 3 * (unsigned)t, "d")), "sum");
  }
  l_store(g, g->t_i64, v_sum, v_S, L.v_i);
  l_set(g, var_max, l_smax(g, l_get(g, g->t_i64, var_max, ""), l_abs(g, v_sum, ""), "max"));
  l_next(g, &L);
  LLVMBuildRet(g->b, l_get(g, g->t_i64, var_max, "max"));
  return f;
}

void emit_sgd_helpers(Cg *g) {
  if (g->m->recipe.kind == NIT_RECIPE_NITI) return;
  Ty t_a = master_ty(g);
  int A = g->m->recipe.master_bits;
  g->f_rq_view = emit_rq(g, t_a, g->t_i8, 8, "nit_rq_view");
  int bw = g->m->recipe.bits_weight; /* weights' views at b_w, norm parameters' at 8 */
  g->f_rq_vieww = bw == 8 ? g->f_rq_view : emit_rq(g, t_a, g->t_i8, bw, "nit_rq_view_w");
  g->f_rq_g32 = emit_rq(g, g->t_i32, g->t_i32, 32, "nit_rq_g31_i32");
  g->f_rq_g64 = emit_rq(g, g->t_i64, g->t_i32, 32, "nit_rq_g31_i64");
  g->f_rq_master = emit_rq(g, g->t_i64, t_a, A, "nit_rq_master");
  g->f_maxabs16 = emit_maxabs(g, g->t_i16, "nit_maxabs_i16");
  g->f_maxabs8 = emit_maxabs(g, g->t_i8, "nit_maxabs_i8");
  Ty ts3[] = {t_a, g->t_i32, t_a}, ts2[] = {t_a, t_a};
  g->f_linsum3 = emit_linsum(g, 3, ts3, "nit_linsum_mom", &g->ft_linsum3);
  g->f_linsum2 = emit_linsum(g, 2, ts2, "nit_linsum_master", &g->ft_linsum2);
  Ty ap[] = {g->t_i32, g->t_ptr, g->t_ptr};
  g->ft_lplan = LLVMFunctionType(g->t_void, ap, 3, 0);
  g->f_lplan = LLVMAddFunction(g->mod, "nitrt_linsum_plan", g->ft_lplan);
  Ty ar[] = {g->t_i64, g->t_ptr};
  g->ft_recip = LLVMFunctionType(g->t_void, ar, 2, 0);
  g->f_recip = LLVMAddFunction(g->mod, "nitrt_s31_recip", g->ft_recip);
}

/* ------------------------------------------- element passes, on the workers */

/* One element function f(arg0, lo, hi, more...) over [0, count) of a
 * tensor: on the caller for a small tensor, else in chunks on the workers
 * (update.c's policy), its other arguments handed through the red area,
 * one 8-byte slot each. With max, f returns the max |x| of its range and
 * the pass the largest over the chunks (through the rq slots). Every
 * element function keys its draws by the element's index, so the split
 * changes no byte. */
typedef struct ElemPass {
  Val f;
  Ty ft;
  int64_t count; /* elements of the tensor */
  bool max;      /* f returns a max |x| (i64) */
} ElemPass;

enum { PASS_ARGS = 16 };

static void pass_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const ElemPass *ps = u;
  unsigned n = LLVMCountParamTypes(ps->ft);
  Ty ts[PASS_ARGS];
  Val args[PASS_ARGS], v_red = red_ptr(g);
  LLVMGetParamTypes(ps->ft, ts);
  for (unsigned a = 0; a < n; a++)
    if (a != 1 && a != 2) args[a] = LLVMBuildLoad2(g->b, ts[a], l_gep(g, g->t_i8, v_red, l_i64(g, 8 * a), ""), "arg");
  args[1] = l_mul(g, v_lo, l_i64(g, UPDATE_CHUNK), "lo.e");
  args[2] = l_smin(g, l_mul(g, v_hi, l_i64(g, UPDATE_CHUNK), ""), l_i64(g, ps->count), "hi.e");
  Val v_r = l_call(g, ps->ft, ps->f, args, n, ps->max ? "max" : "");
  if (ps->max) worker_max_store(g, v_r, v_wk);
}

/* args[1] and args[2] (lo, hi) are filled here. */
static Val pass(Cg *g, const char *name, Val f, Ty ft, Val *args, int64_t count, bool max) {
  unsigned n = LLVMCountParamTypes(ft);
  NIT_ASSERT(n <= PASS_ARGS && 8 * (int64_t)n <= g->p->red.bytes);
  int maxw = update_workers(g, count);
  if (maxw == 1) {
    args[1] = l_i64(g, 0), args[2] = l_i64(g, count);
    return l_call(g, ft, f, args, n, max ? name : "");
  }
  Val v_red = red_ptr(g);
  for (unsigned a = 0; a < n; a++)
    if (a != 1 && a != 2) LLVMBuildStore(g->b, args[a], l_gep(g, g->t_i8, v_red, l_i64(g, 8 * a), ""));
  ElemPass ps = {f, ft, count, max};
  char body[64];
  snprintf(body, sizeof body, "sgd.%s", name);
  Val v_used = par_for(g, body, l_i64(g, (count + UPDATE_CHUNK - 1) / UPDATE_CHUNK), maxw, pass_body, &ps);
  return max ? workers_max(g, v_used) : NULL;
}

static Val maxabs_of(Cg *g, Ty t, Val v_p, int64_t count, const char *name) {
  Val args[] = {v_p, NULL, NULL};
  Val f = t == g->t_i16 ? g->f_maxabs16 : t == g->t_i32 ? g->f_maxabs32 : g->f_maxabs64;
  return pass(g, name, f, g->ft_maxabs, args, count, true);
}

/* rq of count elements from in to out (a function of emit_rq); returns
 * max |out| (i64). */
static Val rq_pass(Cg *g, const char *name, Val f, Val v_in, int64_t count, Val v_k, Val v_mode, Val v_key,
                   Val v_out) {
  Val args[] = {v_in, NULL, NULL, v_k, v_mode, v_key, v_out};
  return pass(g, name, f, g->ft_rq, args, count, true);
}

/* ------------------------------------------------------------- views */

/* groups weight=channel: a weight tensor's view by SQ_b with its output
 * channels (the O rows of R elements) as the groups (docs/recipes.md, "The
 * shiftquant recipe"): row o is rounded at its step kc (sq_base, sq_step) by
 * the view's rounding, each element keyed by its flat index, saturated to
 * lim(b) and shifted left by kc - base. Returns base (i32): the view sits at
 * the master's exponent plus base. The rows run in one loop on the caller. */
static Val sq_view(Cg *g, Val v_w, int64_t count, int64_t O, int bits, Val v_mode, Val v_key, Val v_out) {
  Ty t_a = master_ty(g);
  int64_t R = count / O;
  Val v_base = sq_base(g, maxabs_of(g, t_a, v_w, count, "max.w"), bits);
  Val f_max = t_a == g->t_i16 ? g->f_maxabs16 : g->f_maxabs32;
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, O), "o");
  Val v_lo = l_mul(g, Lo.v_i, l_i64(g, R), "row.lo");
  Val v_hi = l_add(g, v_lo, l_i64(g, R), "row.hi");
  Val ma[] = {v_w, v_lo, v_hi};
  Val v_kc = sq_step(g, l_call(g, g->ft_maxabs, f_max, ma, 3, "max.row"), bits, v_base);
  Val ra[] = {v_w, v_lo, v_hi, v_kc, v_mode, v_key, v_out};
  l_call(g, g->ft_rq, g->f_rq_vieww, ra, 7, "");
  Val v_sh = l_trunc(g, l_sub(g, v_kc, v_base, ""), g->t_i8, "sh");
  Loop Lj = l_for(g, v_lo, v_hi, "j");
  Val v_q = l_load(g, g->t_i8, v_out, Lj.v_i, "q");
  l_store(g, g->t_i8, LLVMBuildShl(g->b, v_q, v_sh, "v"), v_out, Lj.v_i);
  l_next(g, &Lj);
  l_next(g, &Lo);
  return v_base;
}

/* Every parameter tensor's view: RQ_8(W; view mode, OPT(t, VIEW)) at the
 * master's exponent plus k (docs/recipes.md, "Masters and views"); under
 * groups weight=channel a weight tensor's by sq_view. */
void master_views(Cg *g) {
  Model *m = g->m;
  if (m->recipe.kind == NIT_RECIPE_NITI) return;
  Ty t_a = master_ty(g);
  Val v_mode = ctx_field(g, CTX_view_round, g->t_i32, "round.view");
  for (int t = 0; t < m->nptensors; t++) {
    const Node *owner;
    int64_t count = plan_ptensor(m, t, &owner);
    Val v_w = master_ptr(g, t);
    int bits = owner->nweights > 0 ? m->recipe.bits_weight : 8; /* R§6.1: norm views 8 bits */
    if (owner->nweights > 0 && m->recipe.groups_weight) {
      Val v_base = sq_view(g, v_w, count, owner->wshape[0], bits, v_mode,
                           v_key_for(g, NIT_TID_OPT(t, NIT_OPT_VIEW), "key.view"),
                           l_slab(g, g->f.v_params, g->p->param_off[t], "view"));
      set_pstate(g, t, PS_VIEW_EXP, l_add(g, get_pstate(g, t, PS_MASTER_EXP, "s.master"), v_base, "s.view"));
      continue;
    }
    Val v_k = rq_step(g, maxabs_of(g, t_a, v_w, count, "max.w"), bits, "k.view");
    rq_pass(g, "view", bits == 8 ? g->f_rq_view : g->f_rq_vieww, v_w, count, v_k, v_mode,
            v_key_for(g, NIT_TID_OPT(t, NIT_OPT_VIEW), "key.view"), l_slab(g, g->f.v_params, g->p->param_off[t], "view"));
    set_pstate(g, t, PS_VIEW_EXP, l_add(g, get_pstate(g, t, PS_MASTER_EXP, "s.master"), v_k, "s.view"));
  }
}

/* --------------------------------------------------------------- SGD */

/* One LINCOMB_A: the plan of its nterms terms (coefficient {m, e}, exponent
 * s, max |u|) by the runtime, the exact sums into S, one rounding into out.
 * Returns the result's exponent (W + k; 0 when no pair is live). */
typedef struct Term {
  Val v_u;      /* the tensor */
  Ty t;         /* its element type */
  Val v_cm;     /* coefficient mantissa (i64) */
  Val v_ce;     /* coefficient exponent (i64) */
  Val v_s;      /* the tensor's exponent (i32) */
  Val v_max;    /* its max |u| (i64) */
} Term;

/* *v_outmax (unless NULL): max |out| after it (i64). */
static Val lincomb(Cg *g, const Term *tm, int nterms, int64_t count, Val v_out, Val v_key, const char *name,
                   Val *v_outmax) {
  Val var_in = l_var(g, LLVMArrayType(g->t_i64, 16), "lplan.in", NULL);
  Val var_out = l_var(g, LLVMArrayType(g->t_i64, 16), "lplan.out", NULL);
  for (int t = 0; t < nterms; t++) {
    Val vals[] = {tm[t].v_cm, tm[t].v_ce, l_sext(g, tm[t].v_s, g->t_i64, ""), tm[t].v_max};
    for (int k = 0; k < 4; k++) l_store(g, g->t_i64, vals[k], var_in, l_i64(g, 4 * t + k));
  }
  Val pargs[] = {l_i32(g, nterms), var_in, var_out};
  l_call(g, g->ft_lplan, g->f_lplan, pargs, 3, "");
  Val v_W = l_load(g, g->t_i64, var_out, l_i64(g, 0), "W");
  Val args[3 + 3 * 4];
  args[0] = sums_ptr(g);
  for (int t = 0; t < nterms; t++) {
    args[3 + 3 * t] = tm[t].v_u;
    args[4 + 3 * t] = l_load(g, g->t_i64, var_out, l_i64(g, 2 + 2 * t), "m");
    args[5 + 3 * t] = l_load(g, g->t_i64, var_out, l_i64(g, 3 + 2 * t), "d");
  }
  Val v_maxS = nterms == 3 ? pass(g, "linsum", g->f_linsum3, g->ft_linsum3, args, count, true)
                            : pass(g, "linsum", g->f_linsum2, g->ft_linsum2, args, count, true);
  int A = g->m->recipe.master_bits;
  Val v_k = rq_step(g, v_maxS, A, "k");
  Val v_mode = ctx_field(g, CTX_update_round, g->t_i32, "round.update");
  Val v_m = rq_pass(g, "rq.master", g->f_rq_master, sums_ptr(g), count, v_k, v_mode, v_key, v_out);
  if (v_outmax) *v_outmax = v_m;
  return l_add(g, l_trunc(g, v_W, g->t_i32, ""), v_k, name);
}

void sgd_update(Cg *g, int t, int64_t count, Val v_g, Ty t_g, Val v_sg) {
  Ty t_a = master_ty(g);
  /* G: the gradient reduced to 31 bits */
  Val v_G = g31_ptr(g);
  Val v_kg = rq_step(g, maxabs_of(g, t_g, v_g, count, "max.g"), 32, "k.grad");
  Val v_maxG = rq_pass(g, "g31", t_g == g->t_i64 ? g->f_rq_g64 : g->f_rq_g32, v_g, count, v_kg, g->f.v_rgrad,
                       v_key_for(g, NIT_TID_OPT(t, NIT_OPT_GRAD), "key.g31"), v_G);
  Val v_sG = l_add(g, v_sg, v_kg, "s.G");

  /* the step's scalars */
  Val var_r = l_var(g, LLVMArrayType(g->t_i64, 2), "inv.n", NULL);
  /* the mean over the global batch: gn (data parallel), 0 meaning n */
  Val v_gn = l_sext(g, ctx_field(g, CTX_gn, g->t_i32, "gn32"), g->t_i64, "gn");
  v_gn = l_select(g, l_icmp(g, LLVMIntSGT, v_gn, l_i64(g, 0), ""), v_gn, g->f.v_n, "n.global");
  Val rargs[] = {v_gn, var_r};
  l_call(g, g->ft_recip, g->f_recip, rargs, 2, "");
  Val v_W = master_ptr(g, t), v_V = mom_ptr(g, t);
  Val v_sW = get_pstate(g, t, PS_MASTER_EXP, "s.W"), v_sV = get_pstate(g, t, PS_MOM_EXP, "s.V");
  Val v_mom_m = ctx_field(g, CTX_mom_m, g->t_i64, "mom.m");
  Val v_mom_e = l_sext(g, ctx_field(g, CTX_mom_e, g->t_i32, "mom.e"), g->t_i64, "");
  Val v_dec_m = ctx_field(g, CTX_wdecay_m, g->t_i64, "decay.m");
  Val v_dec_e = l_sext(g, ctx_field(g, CTX_wdecay_e, g->t_i32, "decay.e"), g->t_i64, "");
  Val v_eta_m, v_eta_e;
  if (g->m->recipe.kind == NIT_RECIPE_UNIFIED) { /* times phi of the layer's error site */
    v_eta_m = site_phi_eta(g, t, &v_eta_e);
  } else {
    v_eta_m = ctx_field(g, CTX_eta_m, g->t_i64, "eta.m");
    v_eta_e = l_sext(g, ctx_field(g, CTX_eta_e, g->t_i32, "eta.e"), g->t_i64, "");
  }

  /* V' = LINCOMB_A((momentum, V, s_V), (1/n, G, s_G), (decay, W, s_W)) */
  /* max |W| serves both LINCOMBs (W changes only at the end); max |G|,
   * max |V'| come from the passes that wrote them */
  Val v_maxW = maxabs_of(g, t_a, v_W, count, "max.W"), v_maxV2;
  Term tv[3] = {
      {v_V, t_a, v_mom_m, v_mom_e, v_sV, maxabs_of(g, t_a, v_V, count, "max.V")},
      {v_G, g->t_i32, l_load(g, g->t_i64, var_r, l_i64(g, 0), "invn.m"), l_load(g, g->t_i64, var_r, l_i64(g, 1), "invn.e"),
       v_sG, v_maxG},
      {v_W, t_a, v_dec_m, v_dec_e, v_sW, v_maxW},
  };
  Val v_sV2 = lincomb(g, tv, 3, count, v_V, v_key_for(g, NIT_TID_OPT(t, NIT_OPT_MOM), "key.mom"), "s.V.new", &v_maxV2);
  set_pstate(g, t, PS_MOM_EXP, v_sV2);
  /* W' = LINCOMB_A((ONE, W, s_W), (-eta, V', s_V')) */
  Term tw[2] = {
      {v_W, t_a, l_i64(g, (int64_t)1 << 30), l_i64(g, -30), v_sW, v_maxW},
      {v_V, t_a, LLVMBuildNeg(g->b, v_eta_m, "neg.eta.m"), v_eta_e, v_sV2, v_maxV2},
  };
  Val v_sW2 = lincomb(g, tw, 2, count, v_W, v_key_for(g, NIT_TID_OPT(t, NIT_OPT_MASTER), "key.master"), "s.W.new",
                      NULL);
  set_pstate(g, t, PS_MASTER_EXP, v_sW2);
}
