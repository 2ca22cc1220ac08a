/*
 * update.c: the NITI weight update (docs/numerics.md, "Weight update") of
 * int8 weights and of wide (int16) weights with their int8 views.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* update(w, wbits, view, grad, count, mu, mode, key, decay): the NITI update of
 * one weight tensor (docs/numerics.md, "Weight update"). wbits == 8: w is int8 and view == w;
 * otherwise w is int16 with F = wbits - 8 fraction bits and view its int8
 * rounding, which the decay term uses. With decay, g += w8 * 2^(b0 - 15)
 * (b0 = B(g) before decay), and the shift uses b = B(g) after it; the decayed
 * gradient is recomputed rather than stored, so it never overflows the
 * gradient buffer's width. */
static Val decayed(Cg *g, Ty t_g, Val v_g, Val v_view, Val v_j, Val v_dexp, Val v_decay) {
  Val v_gj = l_sext(g, l_load(g, t_g, v_g, v_j, "g"), g->t_i64, "g64");
  Val v_w8 = l_sext(g, l_load(g, g->t_i8, v_view, v_j, "w8"), g->t_i64, "w8.64");
  Val v_de = LLVMBuildSExt(g->b, v_dexp, g->t_i64, "");
  Val v_up = LLVMBuildShl(g->b, v_w8, l_smax(g, v_de, l_i64(g, 0), ""), "");
  Val v_dn_mag = LLVMBuildLShr(g->b, l_abs(g, v_w8, ""), l_smin(g, LLVMBuildNeg(g->b, v_de, ""), l_i64(g, 63), ""), "");
  Val v_dn = l_select(g, l_icmp(g, LLVMIntSLT, v_w8, l_i64(g, 0), ""), LLVMBuildNeg(g->b, v_dn_mag, ""), v_dn_mag, "");
  Val v_dterm = l_select(g, l_icmp(g, LLVMIntSGE, v_de, l_i64(g, 0), ""), v_up, v_dn, "decay.term");
  v_dterm = l_select(g, l_icmp(g, LLVMIntNE, v_decay, l_i32(g, 0), ""), v_dterm, l_i64(g, 0), "");
  return l_add(g, v_gj, v_dterm, "g.decayed");
}

/* The element loop goes in blocks of UPDATE_BLOCK elements, and each block
 * first asks for the weight lines UPDATE_AHEAD bytes on, for writing
 * (docs/performance.md, "Lines shared, then written"): the weights were
 * read by both cores since the last update (the input error reads every
 * row), so each line the update stores is shared with the other core's
 * cache and must be taken from it first. Asked for one at a time by the
 * stores, those hand-overs queue up (the MLP's second layer: its update
 * took four times as long on two threads as its half on one); asked ahead,
 * they overlap the arithmetic. A prefetch changes no value. */
enum { UPDATE_BLOCK = 256, UPDATE_AHEAD = 1024 }; /* elements, bytes */

/* The update runs in two functions so that the element loop can be split
 * over threads:
 *   update_plan(grad, view, count, mu, decay, out, gmax) stores {k, dexp}
 *     (i32) at out: k = -1 when there is no update (b == 0 before or after
 *     decay); gmax is max |grad| when the gradient's GEMM already found it,
 *     else -1 (then the plan reads the gradient for it);
 *   update_apply(w, view, grad, lo, hi, k, dexp, mode, key, decay, mu)
 *     updates elements [lo, hi) (mu as the plan's: it bounds the steps). */
Val emit_update_plan(Cg *g, Ty t_g, const char *name) {
  Val f = l_begin_loop_fn(g, name, g->ft_uplan);
  Val v_g = l_param(g, 0, "grad"), v_view = l_param(g, 1, "view"), v_cnt = l_param(g, 2, "count");
  Val v_mu = l_param(g, 3, "mu"), v_decay = l_param(g, 4, "decay"), v_out = l_param(g, 5, "out");
  Val v_gmax = l_param(g, 6, "gmax");
  l_store(g, g->t_i32, l_i32(g, -1), v_out, l_i64(g, 0));
  l_store(g, g->t_i32, l_i32(g, 0), v_out, l_i64(g, 1));
  Val var_max = l_var(g, g->t_i64, "max.var", v_gmax);
  Blk b_scan = l_if(g, l_icmp(g, LLVMIntSLT, v_gmax, l_i64(g, 0), ""), "scan");
  Val margs[] = {v_g, l_i64(g, 0), v_cnt};
  l_set(g, var_max, l_call(g, g->ft_maxabs, t_g == g->t_i32 ? g->f_maxabs32 : g->f_maxabs64, margs, 3, "max.scan"));
  l_endif(g, b_scan);
  Val v_max = l_get(g, g->t_i64, var_max, "max");
  Val v_b0 = l_call(g, g->ft_bits, g->f_bits, &v_max, 1, "b0");
  Blk b_join = l_if(g, l_icmp(g, LLVMIntNE, v_b0, l_i32(g, 0), ""), "nonzero");
  Val v_dexp = l_sub(g, v_b0, l_i32(g, 15), "decay.exp");
  /* b after decay */
  Val var_max2 = l_var(g, g->t_i64, "max2.var", NULL);
  l_set(g, var_max2, v_max);
  Blk b_dj = l_if(g, l_icmp(g, LLVMIntNE, v_decay, l_i32(g, 0), ""), "decay");
  l_set(g, var_max2, l_i64(g, 0));
  Loop Ld = l_for(g, l_i64(g, 0), v_cnt, "d");
  Val v_gd0 = decayed(g, t_g, v_g, v_view, Ld.v_i, v_dexp, v_decay);
  l_set(g, var_max2, l_smax(g, l_get(g, g->t_i64, var_max2, ""), l_abs(g, v_gd0, ""), "max2.new"));
  l_next(g, &Ld);
  l_endif(g, b_dj);
  Val v_max2 = l_get(g, g->t_i64, var_max2, "max2");
  Val v_b = l_call(g, g->ft_bits, g->f_bits, &v_max2, 1, "b");
  Blk b_join2 = l_if(g, l_icmp(g, LLVMIntNE, v_b, l_i32(g, 0), ""), "nonzero2");
  l_store(g, g->t_i32, l_smax(g, l_sub(g, v_b, v_mu, ""), l_i32(g, 0), "k"), v_out, l_i64(g, 0));
  l_store(g, g->t_i32, v_dexp, v_out, l_i64(g, 1));
  l_endif(g, b_join2);
  l_endif(g, b_join);
  LLVMBuildRetVoid(g->b);
  return f;
}

/* What one element's update reads, for update_elem. */
typedef struct UpdElem {
  Ty t_g;                      /* the gradient's type */
  bool dec, wide;              /* decay; int16 weights */
  int mode;                    /* rounding mode */
  Val v_w, v_view, v_g;        /* weights, their int8 view, gradient */
  Val v_k0, v_dexp, v_decay;   /* k == 0; decay's exponent and flag */
  Val v_key, v_lim;            /* the draws' key; the weights' limit */
  const RoundK *R64, *Rg;      /* rounding constants in i64, in t_g */
} UpdElem;

/* The update of element j. Without decay the step is the rounded gradient,
 * |step| <= 2^mu (k == 0 only when |g| < 2^mu), and mu stays far below
 * 30: the new weight is computed in the gradient's width, i32 when it is (16
 * lanes per vector instead of 8), as exactly as in i64. */
static void update_elem(Cg *g, const UpdElem *u, Val v_j) {
  Ty t_s = u->dec ? g->t_i64 : u->t_g;
  Val v_r;
  if (u->dec) {
    Val v_gd = decayed(g, u->t_g, u->v_g, u->v_view, v_j, u->v_dexp, u->v_decay);
    v_r = l_select(g, u->v_k0, v_gd, round_elem(g, u->R64, u->mode, v_gd, u->v_key, v_j), "step");
  } else {
    Val v_gj = l_load(g, u->t_g, u->v_g, v_j, "g");
    v_r = l_select(g, u->v_k0, v_gj, round_elem(g, u->Rg, u->mode, v_gj, u->v_key, v_j), "step");
  }
  Val v_w_old = u->wide ? l_load(g, g->t_i16, u->v_w, v_j, "ww") : l_load(g, g->t_i8, u->v_w, v_j, "w");
  Val v_old = l_sext(g, v_w_old, t_s, "");
  Val v_lim_s = u->wide ? LLVMBuildTrunc(g->b, u->v_lim, t_s, "lim.s") : LLVMConstInt(t_s, 127, 1);
  Val v_new = l_smax(g, l_smin(g, l_sub(g, v_old, v_r, ""), v_lim_s, ""), LLVMBuildNeg(g->b, v_lim_s, ""), "w.sat");
  if (!u->wide) l_store(g, g->t_i8, l_trunc(g, v_new, g->t_i8, "w.new"), u->v_w, v_j);
  else l_store(g, g->t_i16, l_trunc(g, v_new, g->t_i16, "ww.new"), u->v_w, v_j);
}

/* The largest m_u that update_packed takes: its steps, at most 2^m_u,
 * fit a signed byte (2^7 does not). */
enum { UPDATE_PACKED_MU_MAX = 6 };

/* x86 with AVX-512BW or AVX2, int8 weights, i32 gradient, pseudo or
 * nearest rounding without decay, k >= 1 and mu <= UPDATE_PACKED_MU_MAX:
 * elements [lo, lo + V floor((hi - lo) / V)) V = 64 or 32 at a time
 * (round_packed_lanes). The gradient is rounded as
 * update_elem rounds it and packed to bytes (round_bytes_packed), exactly,
 * since |step| <= 2^mu <= 64; then vpsubsb takes them from the weights,
 * saturating to [-128, 127], and a max with -127 leaves update_elem's
 * clamp to [-127, 127]. The packs and byte
 * arithmetic replace four sign extensions, subtractions, clamps and
 * truncations per V. The weight line UPDATE_AHEAD bytes on is asked for
 * writing, as the element loop's blocks ask. Returns the first element
 * left to the element loop. */
static Val update_packed(Cg *g, const RoundK *R, int mode, Val v_w, Val v_g, Val v_lo, Val v_hi) {
  unsigned n = (unsigned)round_packed_lanes(g), V = 4 * n;
  Ty t_b = LLVMVectorType(g->t_i8, V);
  RoundK Rv = round_consts_v(g, R, n);
  Val v_floor8 = l_splat(g, LLVMConstInt(g->t_i8, (unsigned long long)-127, 1), V, "w.floor");
  Ty ft_subs;
  Val f_subs = l_intrinsic(g, "llvm.ssub.sat", &t_b, 1, &ft_subs);
  Val v_steps = LLVMBuildSDiv(g->b, l_sub(g, v_hi, v_lo, ""), l_i64(g, V), "steps");
  Loop L = l_for(g, l_i64(g, 0), v_steps, "u64");
  Val v_j = l_add(g, v_lo, l_mul(g, L.v_i, l_i64(g, V), ""), "j");
  l_prefetch(g, l_gep(g, g->t_i8, v_w, l_add(g, v_j, l_i64(g, UPDATE_AHEAD), ""), "pf"), true);
  Val v_step = round_bytes_packed(g, &Rv, mode, v_g, v_j, "steps.b");
  Val v_pw = l_gep(g, g->t_i8, v_w, v_j, "w.at");
  Val v_old = LLVMBuildLoad2(g->b, t_b, v_pw, "w.b");
  LLVMSetAlignment(v_old, 1);
  Val sargs[] = {v_old, v_step};
  Val v_new = l_smax(g, l_call(g, ft_subs, f_subs, sargs, 2, "w.sub"), v_floor8, "w.new");
  LLVMSetAlignment(LLVMBuildStore(g->b, v_new, v_pw), 1);
  l_next(g, &L);
  return l_add(g, v_lo, l_mul(g, v_steps, l_i64(g, V), ""), "j.rest");
}

/* One (rounding, decay) case of update_apply: a function of its own, so
 * that the code generation units share the four out (update_apply in one
 * function was the costliest function of every model to compile). The
 * rounding is stochastic or ROUND_DET (pseudo and nearest in one loop). */
static Val update_case(Cg *g, Ty t_g, const char *name, int md, bool dec) {
  Val f = l_begin_loop_fn(g, name, g->ft_uapply);
  Val v_w = l_param(g, 0, "w"), v_view = l_param(g, 1, "view");
  Val v_g = l_param(g, 2, "grad"), v_lo = l_param(g, 3, "lo"), v_hi = l_param(g, 4, "hi");
  Val v_kc = l_param(g, 5, "k"), v_dexp = l_param(g, 6, "dexp");
  Val v_key = l_param(g, 8, "key"), v_decay = l_param(g, 9, "decay");
  Val v_mu = l_param(g, 10, "mu");
  /* the weights' width is the model's (int16 masters when weight_bits > 8):
   * only its loops are emitted, half of what both widths cost to compile */
  int wbits = g->m->recipe.weight_bits;
  bool wide = wbits != 8;
  Val v_lim = l_i64(g, (1LL << (wbits - 1)) - 1);
  /* k == 0 keeps g32 itself. Without decay the arithmetic stays in the
   * gradient's width (i32 vectorizes twice as wide); the decayed gradient
   * may need i64. */
  Val v_kc1 = l_smax(g, v_kc, l_i32(g, 1), "");
  RoundK R64 = round_consts(g, g->t_i64, v_kc1), Rg = round_consts(g, t_g, v_kc1);
  if (md == ROUND_DET) round_det(g, dec ? &R64 : &Rg, l_param(g, 7, "mode"), true); /* the one update_elem reads */
  Val v_k0 = l_icmp(g, LLVMIntEQ, v_kc, l_i32(g, 0), "k.is0");
  UpdElem u = {t_g, dec, wide, md, v_w, v_view, v_g, v_k0, v_dexp, v_decay, v_key, v_lim, &R64, &Rg};
  if (round_packed_lanes(g) && t_g == g->t_i32 && !dec && !wide && md != NIT_ROUND_STOCHASTIC) {
    Val v_packs = LLVMBuildAnd(g->b, LLVMBuildNot(g->b, v_k0, ""),
                               l_icmp(g, LLVMIntSLE, v_mu, l_i32(g, UPDATE_PACKED_MU_MAX), ""), "packs");
    Blk b_packed = l_block(g, "u.packed"), b_elems = l_block(g, "u.elems");
    LLVMBuildCondBr(g->b, v_packs, b_packed, b_elems);
    LLVMPositionBuilderAtEnd(g->b, b_packed);
    Loop L = l_for(g, update_packed(g, &Rg, md, v_w, v_g, v_lo, v_hi), v_hi, "u.rest");
    update_elem(g, &u, L.v_i);
    l_next(g, &L);
    LLVMBuildRetVoid(g->b);
    LLVMPositionBuilderAtEnd(g->b, b_elems);
  }
  Loop L1;
  Prefetch pf = {v_w, wide ? 2 : 1, true};
  Loop L2 = l_for_prefetched(g, v_lo, v_hi, UPDATE_BLOCK, UPDATE_AHEAD / pf.elem_bytes, &pf, 1, "u", &L1);
  update_elem(g, &u, L2.v_i);
  l_next(g, &L2);
  l_next(g, &L1);
  LLVMBuildRetVoid(g->b);
  return f;
}

/* update_apply: the case of (stochastic or not, decay), chosen once per
 * call. */
Val emit_update_apply(Cg *g, Ty t_g, const char *name) {
  enum { NCASE = 4 }; /* det, det with decay, stochastic, stochastic with decay */
  Val f_case[NCASE];
  for (int c = 0; c < NCASE; c++) {
    char buf[96];
    snprintf(buf, sizeof buf, "%s.%s%s", name, c / 2 ? "stochastic" : "det", c & 1 ? ".decay" : "");
    f_case[c] = update_case(g, t_g, buf, c / 2 ? NIT_ROUND_STOCHASTIC : ROUND_DET, c & 1);
  }
  Val f = l_begin_loop_fn(g, name, g->ft_uapply);
  unsigned nargs = LLVMCountParams(f);
  Val v_args[16];
  NIT_ASSERT(nargs <= 16);
  LLVMGetParams(f, v_args);
  Val v_mode = l_param(g, 7, "mode"), v_decay = l_param(g, 9, "decay");
  Val v_st = l_icmp(g, LLVMIntEQ, v_mode, l_i32(g, NIT_ROUND_STOCHASTIC), "is.st");
  Val v_case = l_add(g, l_mul(g, LLVMBuildZExt(g->b, v_st, g->t_i32, ""), l_i32(g, 2), ""),
                     LLVMBuildZExt(g->b, l_icmp(g, LLVMIntNE, v_decay, l_i32(g, 0), ""), g->t_i32, ""), "case");
  Blk b_case[NCASE];
  for (int c = 0; c < NCASE; c++) b_case[c] = l_block(g, c & 1 ? "u.decay" : "u.plain");
  Val v_sw = LLVMBuildSwitch(g->b, v_case, b_case[0], NCASE - 1);
  for (int c = 1; c < NCASE; c++) LLVMAddCase(v_sw, l_i32(g, c), b_case[c]);
  for (int c = 0; c < NCASE; c++) {
    LLVMPositionBuilderAtEnd(g->b, b_case[c]);
    l_call(g, g->ft_uapply, f_case[c], v_args, nargs, "");
    LLVMBuildRetVoid(g->b);
  }
  return f;
}

/* wview(w16, view, count, F): view[j] = sat8(R(w16[j], F, pseudo)). */
void emit_wview(Cg *g) {
  Ty a[] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i32};
  g->ft_wview = LLVMFunctionType(g->t_void, a, 4, 0);
  g->f_wview = l_begin_loop_fn(g, "nit_wview", g->ft_wview);
  Val v_w = l_param(g, 0, "w"), v_view = l_param(g, 1, "view"), v_cnt = l_param(g, 2, "count");
  Val v_F = l_param(g, 3, "F");
  Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
  Val v_x = l_sext(g, l_load(g, g->t_i16, v_w, L.v_i, "ww"), g->t_i64, "");
  Val args[] = {v_x, v_F, l_i32(g, NIT_ROUND_PSEUDO), l_i64(g, 0), L.v_i};
  Val v_r = l_call(g, g->ft_round, g->f_round, args, 5, "r");
  l_store(g, g->t_i8, l_call(g, g->ft_sat8, g->f_sat8, &v_r, 1, "w8"), v_view, L.v_i);
  l_next(g, &L);
  LLVMBuildRetVoid(g->b);
}

Val red_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->red.off, "red"); }

int update_workers(Cg *g, int64_t count) {
  int64_t w = count / UPDATE_PER_WORKER;
  return w < 1 ? 1 : w < g->p->maxw ? (int)w : g->p->maxw;
}

/* The update bits of this step: wide weights (F = A - 8 fraction bits) keep
 * m_u + F bits of the gradient, the same step size as int8 weights, finer
 * (numerics.md, "Wide weights"). */
static Val update_mu(Cg *g) {
  int F = g->m->recipe.weight_bits - 8;
  return F > 0 ? l_add(g, g->f.v_mu, l_i32(g, F), "mu.wide") : g->f.v_mu;
}

static void update_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  (void)v_wk;
  Val v_red = red_ptr(g);
  Val v_lo_e = l_mul(g, v_lo, l_i64(g, UPDATE_CHUNK), "lo.e");
  Val v_hi_e = l_smin(g, l_mul(g, v_hi, l_i64(g, UPDATE_CHUNK), ""), l_i64(g, nd->nweights), "hi.e");
  Val args[] = {wraw_ptr(g, nd),
                w8_ptr(g, nd),
                grad_ptr(g),
                v_lo_e,
                v_hi_e,
                l_load(g, g->t_i32, v_red, l_i64(g, 0), "k"),
                l_load(g, g->t_i32, v_red, l_i64(g, 1), "dexp"),
                g->f.v_rgrad,
                v_key_for(g, NIT_TID_GRAD(k->i), "key.grad"),
                g->f.v_decay,
                update_mu(g)};
  l_call(g, g->ft_uapply, k->t_acc == g->t_i64 ? g->f_uapply64 : g->f_uapply32, args, sizeof args / sizeof *args, "");
}

/* The update of node i's weights from the gradient v_g (type t_g): k from the
 * whole gradient's max |g| (update_plan; v_gmax, when not NULL, is that
 * maximum as the gradient's GEMM left it, or -1, so the plan need not read
 * the gradient), then the element loop in chunks over the workers. */
void update_weights(Cg *g, int i, Val v_g, Val v_w, Ty t_g, Val v_gmax) {
  const Node *nd = &g->m->nodes[i];
  Val v_red = red_ptr(g);
  Val v_mu = update_mu(g);
  if (!v_gmax) v_gmax = l_i64(g, -1);
  Val pargs[] = {v_g, v_w, l_i64(g, nd->nweights), v_mu, g->f.v_decay, v_red, v_gmax};
  l_call(g, g->ft_uplan, nd->acc64_grad ? g->f_uplan64 : g->f_uplan32, pargs, 7, "");
  Val v_k = l_load(g, g->t_i32, v_red, l_i64(g, 0), "k.update");
  Blk b_upd = l_if(g, l_icmp(g, LLVMIntSGE, v_k, l_i32(g, 0), ""), "update");
  KArgs ka = {nd, i, t_g, false, NULL};
  par_for(g, nd->name, l_i64(g, (nd->nweights + UPDATE_CHUNK - 1) / UPDATE_CHUNK), update_workers(g, nd->nweights),
          update_body, &ka);
  l_endif(g, b_upd);
}

/* Each step starts by rounding wide weights to their int8 views. */
void wide_views(Cg *g) {
  Model *m = g->m;
  if (m->recipe.weight_bits <= 8) return;
  for (int i = 0; i < m->nnodes; i++) {
    Node *nd = &m->nodes[i];
    if (nd->nweights == 0) continue;
    Val args[] = {wraw_ptr(g, nd), w8_ptr(g, nd), l_i64(g, nd->nweights), l_i32(g, m->recipe.weight_bits - 8)};
    l_call(g, g->ft_wview, g->f_wview, args, 4, "");
  }
}
