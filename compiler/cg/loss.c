/*
 * loss.c: the integer softmax cross-entropy gradient: NITI's (docs/numerics.md,
 * "Loss gradient") and the table softmax (docs/recipes.md, "Loss"), either
 * under any recipe. NITI's rounds its row itself under niti's own loss;
 * every other choice leaves e32 for the recipe's EQ at LOSS (step.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* The constants of the loss gradient (docs/numerics.md, "Loss gradient"). */
enum {
  LOG2E_Q15 = 47274,     /* log2(e) * 2^15: c_i = a_i * LOG2E_Q15 */
  LOG2E_SHIFT = 15,      /* ... at exponent s + 15 */
  BASE2_BELOW = -7,      /* s > BASE2_BELOW: base-2 branch, else Taylor */
  BASE2_RANGE = 10,      /* d_i = clamp(x_i - (max - 10), 0, 10) */
  BASE2_LSHIFT_CAP = 16, /* left shift of c_i capped (changes no d_i) */
  TAYLOR_BITS = 48,      /* pre-shift p = max(0, 2q - 48): u_i < 2^50 */
  T_BITS = 11,           /* t_i = (u_i << 11) / U, in 0..2048 */
  E_SHIFT = 4,           /* e_i = R(e32_i, 4): the error at exponent 0 */
};

/* NITI's row (docs/numerics.md, "Loss gradient") for (n, classes) logits at
 * exponent s. Rounded, under niti's own loss:
 *   loss(logits, s, labels, n, e, mode, key, gbase): e (n, classes) int8 at
 *   exponent 0, R(e32, 4) element by element;
 * raw, where the recipe's EQ quantizes it at LOSS (a recipe with masters
 * and softmax_ce(exp=niti)):
 *   loss_e32(logits, s, labels, n, e32) -> -11: e32 (n, classes) i64, the
 *   t_i out of 2048 minus the one-hot sum. */
static void niti_loss(Cg *g, bool raw) {
  int64_t C = g->m->classes;
  Ty a[] = {g->t_ptr, g->t_i32, g->t_ptr, g->t_i64, g->t_ptr, g->t_i32, g->t_i64, g->t_i64};
  Ty ft = raw ? LLVMFunctionType(g->t_i32, a, 5, 0) : LLVMFunctionType(g->t_void, a, 8, 0);
  Val f = l_begin_loop_fn(g, raw ? "nit_loss_e32" : "nit_loss_grad", ft);
  if (raw) g->ft_e32 = ft, g->f_e32 = f;
  else g->ft_loss = ft, g->f_loss = f;
  Val v_lg = l_param(g, 0, "logits"), v_s32 = l_param(g, 1, "s"), v_lab = l_param(g, 2, "labels");
  Val v_n = l_param(g, 3, "n"), v_e = l_param(g, 4, raw ? "e32" : "err");
  Val v_mode = raw ? NULL : l_param(g, 5, "mode"), v_key = raw ? NULL : l_param(g, 6, "key");
  Val v_gbase = raw ? NULL : l_param(g, 7, "gbase"); /* global index of element 0 */
  Val v_s = l_sext(g, v_s32, g->t_i64, "s64");
  Ty t_u = LLVMArrayType(g->t_i64, (unsigned)C);
  Val var_u = l_var(g, t_u, "u", NULL);
  Val var_t = l_var(g, t_u, "t", NULL);
  Val var_x = l_var(g, t_u, "x", NULL);
  Val var_acc = l_var(g, g->t_i64, "acc", NULL);
  Val var_acc2 = l_var(g, g->t_i64, "acc2", NULL);
  Val v_zero = l_i64(g, 0);

  Loop Lb = l_for(g, v_zero, v_n, "row");
  Val v_row = l_mul(g, Lb.v_i, l_i64(g, C), "row.base");
  Val v_base2 = l_icmp(g, LLVMIntSGT, v_s, l_i64(g, BASE2_BELOW), "base2");
  Blk b_tay, b_sum = l_if_else(g, v_base2, "base2", &b_tay);

  /* base-2 branch */
  l_set(g, var_acc, l_i64(g, INT64_MIN));
  Val v_rs = l_sub(g, l_i64(g, LOG2E_SHIFT), v_s, "rshift");
  Loop Lc = l_for(g, v_zero, l_i64(g, C), "c");
  Val v_a = l_sext(g, l_load(g, g->t_i8, v_lg, l_add(g, v_row, Lc.v_i, ""), "a"), g->t_i64, "a64");
  Val v_p = l_mul(g, v_a, l_i64(g, LOG2E_Q15), "p");
  Val v_pm = LLVMBuildAShr(g->b, l_abs(g, v_p, ""), l_smax(g, v_rs, v_zero, ""), "");
  Val v_pr = l_select(g, l_icmp(g, LLVMIntSLT, v_p, v_zero, ""), LLVMBuildNeg(g->b, v_pm, ""), v_pm, "");
  /* left shift by L = s - 15, capped at 16: beyond that every d_i is 0 or 10
   * already, and the cap keeps the product inside int64 */
  Val v_pl = LLVMBuildShl(
      g->b, v_p, l_smin(g, l_smax(g, LLVMBuildNeg(g->b, v_rs, ""), v_zero, ""), l_i64(g, BASE2_LSHIFT_CAP), ""), "");
  Val v_xi = l_select(g, l_icmp(g, LLVMIntSGE, v_rs, v_zero, ""), v_pr, v_pl, "xi");
  Val idx2[] = {v_zero, Lc.v_i};
  LLVMBuildStore(g->b, v_xi, LLVMBuildGEP2(g->b, t_u, var_x, idx2, 2, ""));
  l_set(g, var_acc, l_smax(g, l_get(g, g->t_i64, var_acc, ""), v_xi, ""));
  l_next(g, &Lc);
  Val v_m = l_get(g, g->t_i64, var_acc, "m");
  Loop Lc2 = l_for(g, v_zero, l_i64(g, C), "c2");
  Val idx3[] = {v_zero, Lc2.v_i};
  Val v_x2 = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, t_u, var_x, idx3, 2, ""), "x");
  Val v_d = l_sub(g, v_x2, l_sub(g, v_m, l_i64(g, BASE2_RANGE), ""), "");
  v_d = l_smin(g, l_smax(g, v_d, v_zero, ""), l_i64(g, BASE2_RANGE), "d");
  Val v_u = l_sub(g, LLVMBuildShl(g->b, l_i64(g, 1), v_d, ""), l_i64(g, 1), "u");
  LLVMBuildStore(g->b, v_u, LLVMBuildGEP2(g->b, t_u, var_u, idx3, 2, ""));
  l_next(g, &Lc2);

  /* Taylor branch, q = -s: u = floor((2^(1+2q) + a 2^(1+q) + a^2) / 2^p) with
   * the pre-shift p = max(0, 2q - 48) keeping u < 2^50 (so u << 11 fits) */
  l_else(g, b_tay, b_sum);
  Val v_q = LLVMBuildNeg(g->b, v_s, "q");
  Val v_pre = l_smax(g, l_sub(g, l_mul(g, l_i64(g, 2), v_q, ""), l_i64(g, TAYLOR_BITS), ""), v_zero, "pre");
  Val v_q1 = l_add(g, v_q, l_i64(g, 1), "q1");
  Loop Lc3 = l_for(g, v_zero, l_i64(g, C), "c3");
  Val v_a3 = l_sext(g, l_load(g, g->t_i8, v_lg, l_add(g, v_row, Lc3.v_i, ""), "a"), g->t_i64, "a64");
  Val v_sq = l_mul(g, v_a3, v_a3, "a2");
  Val v_t1 = LLVMBuildShl(g->b, l_i64(g, 1), l_sub(g, l_add(g, v_q1, v_q, ""), v_pre, ""), "t0");
  Val v_c63 = l_i64(g, 63);
  /* 1 + q >= p: a 2^(1+q) is a multiple of 2^p */
  Val v_sh2 = l_smax(g, l_sub(g, v_q1, v_pre, ""), v_zero, "");
  Val v_v2 = l_add(g, LLVMBuildShl(g->b, v_a3, l_smin(g, v_sh2, v_c63, ""), ""),
                   LLVMBuildAShr(g->b, v_sq, l_smin(g, v_pre, v_c63, ""), ""), "v.exact");
  /* otherwise nested floors: by 2^(1+q), then by 2^(p-1-q) */
  Val v_in3 = l_add(g, v_a3, LLVMBuildAShr(g->b, v_sq, l_smin(g, v_q1, v_c63, ""), ""), "");
  Val v_sh3 = l_smin(g, l_smax(g, l_sub(g, v_pre, v_q1, ""), v_zero, ""), v_c63, "");
  Val v_v3 = LLVMBuildAShr(g->b, v_in3, v_sh3, "v.nested");
  Val v_v = l_select(g, l_icmp(g, LLVMIntSGE, v_q1, v_pre, ""), v_v2, v_v3, "v");
  Val v_u3 = l_add(g, v_t1, v_v, "u");
  Val idx4[] = {v_zero, Lc3.v_i};
  LLVMBuildStore(g->b, v_u3, LLVMBuildGEP2(g->b, t_u, var_u, idx4, 2, ""));
  l_next_scalar(g, &Lc3); /* scalar for compile time, as Lt below */

  /* t_i = (u_i << 11) / U; e32 = t - onehot * sum t; e = R(e32, 4) */
  l_endif(g, b_sum);
  l_set(g, var_acc, v_zero);
  Loop Ls = l_for(g, v_zero, l_i64(g, C), "s");
  Val idx5[] = {v_zero, Ls.v_i};
  Val v_us = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, t_u, var_u, idx5, 2, ""), "u");
  l_set(g, var_acc, l_add(g, l_get(g, g->t_i64, var_acc, ""), v_us, ""));
  l_next(g, &Ls);
  Val v_U = l_get(g, g->t_i64, var_acc, "U");
  l_set(g, var_acc2, v_zero);
  Loop Lt = l_for(g, v_zero, l_i64(g, C), "t");
  Val idx6[] = {v_zero, Lt.v_i};
  Val v_ut = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, t_u, var_u, idx6, 2, ""), "u");
  Val v_ti = LLVMBuildSDiv(g->b, LLVMBuildShl(g->b, v_ut, l_i64(g, T_BITS), ""), v_U, "ti");
  LLVMBuildStore(g->b, v_ti, LLVMBuildGEP2(g->b, t_u, var_t, idx6, 2, ""));
  l_set(g, var_acc2, l_add(g, l_get(g, g->t_i64, var_acc2, ""), v_ti, ""));
  /* a 64-bit division per class, which no vector unit does: unrolled and
   * vectorized this loop and Lc3 were 3% of the MLP's compile instructions */
  l_next_scalar(g, &Lt);
  Val v_C = l_get(g, g->t_i64, var_acc2, "C");
  Val v_y = l_sext(g, l_load(g, g->t_i32, v_lab, Lb.v_i, "y"), g->t_i64, "y64");
  Loop Le = l_for(g, v_zero, l_i64(g, C), "e");
  Val idx7[] = {v_zero, Le.v_i};
  Val v_te = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, t_u, var_t, idx7, 2, ""), "t");
  Val v_e32 = l_sub(g, v_te, l_select(g, l_icmp(g, LLVMIntEQ, Le.v_i, v_y, ""), v_C, v_zero, ""), "e32");
  Val v_flat = l_add(g, v_row, Le.v_i, "flat");
  if (raw) {
    l_store(g, g->t_i64, v_e32, v_e, v_flat);
  } else {
    Val args[] = {v_e32, l_i32(g, E_SHIFT), v_mode, v_key, l_add(g, v_gbase, v_flat, "gidx")};
    Val v_r = l_call(g, g->ft_round, g->f_round, args, 5, "r");
    l_store(g, g->t_i8, l_call(g, g->ft_sat8, g->f_sat8, &v_r, 1, "e"), v_e, v_flat);
  }
  l_next(g, &Le);
  l_next(g, &Lb);
  if (raw) LLVMBuildRet(g->b, l_i32(g, -T_BITS));
  else LLVMBuildRetVoid(g->b);
}

/* The table softmax of the recipes with masters (docs/recipes.md, "Loss:
 * table softmax with an exact scale"), per row of logits a at exponent s:
 *   X_i = a_i LOG2E_Q30 2^(s-14) (floor; left shifts capped at 16),
 *   u_i = 2^(-(Xm - X_i)/2^16) in Q30 from the EXP2NEG table (0 past 31
 *   binary orders), t_i = (u_i << 15) div sum u, e32 = t - onehot sum t,
 * then one RQ_8 over the whole batch (err mode, key LOSS).
 * tloss(logits, s, labels, n, err, mode, key, scratch) returns the error's
 * exponent -15 + k; scratch holds e32 (n, classes) i64. */
enum {
  TL_Q = 14,           /* X in Q16 from a Q30 product at exponent s: shift 14 - s */
  TL_LSHIFT_CAP = 16,  /* cap of the left shift (changes no row) */
  TL_ORDERS = 31,      /* u = 0 from 31 binary orders below the maximum */
  TL_T_BITS = 15,      /* e32 = (softmax - onehot) 2^15 */
};

static Val exp2neg(Cg *g, Val v_tab, Val v_y) {
  Val v_n = LLVMBuildAShr(g->b, v_y, l_i64(g, 16), "n");
  Val v_x = LLVMBuildAnd(g->b, v_y, l_i64(g, 0xFFFF), "x");
  Val v_j = LLVMBuildAShr(g->b, v_x, l_i64(g, 10), "j");
  Val v_r = LLVMBuildAnd(g->b, v_x, l_i64(g, 1023), "r");
  Val v_t0 = l_sext(g, l_load(g, g->t_i32, v_tab, v_j, "t.j"), g->t_i64, "");
  Val v_t1 = l_sext(g, l_load(g, g->t_i32, v_tab, l_add(g, v_j, l_i64(g, 1), ""), "t.j1"), g->t_i64, "");
  Val v_i = l_sub(g, v_t0, LLVMBuildAShr(g->b, l_mul(g, l_sub(g, v_t0, v_t1, ""), v_r, ""), l_i64(g, 10), ""), "interp");
  return LLVMBuildAShr(g->b, v_i, l_smin(g, v_n, l_i64(g, 63), ""), "exp2neg");
}

static void emit_tloss(Cg *g) {
  int64_t C = g->m->classes;
  Ty a[] = {g->t_ptr, g->t_i32, g->t_ptr, g->t_i64, g->t_ptr};
  g->ft_e32 = LLVMFunctionType(g->t_i32, a, 5, 0);
  g->f_e32 = l_begin_loop_fn(g, "nit_tloss_grad", g->ft_e32);
  Val v_lg = l_param(g, 0, "logits"), v_s32 = l_param(g, 1, "s"), v_lab = l_param(g, 2, "labels");
  Val v_n = l_param(g, 3, "n"), v_e32 = l_param(g, 4, "e32");
  Val v_zero = l_i64(g, 0);
  Val vt[65];
  for (int j = 0; j < 65; j++) vt[j] = l_i32(g, nit_exp2neg_q30[j]);
  Val v_tab = l_const_array(g, g->t_i32, vt, 65, "nit.exp2neg");
  Val v_s = l_sext(g, v_s32, g->t_i64, "s64");
  Val v_rs = l_sub(g, l_i64(g, TL_Q), v_s, "rshift"); /* >= 0: floor shift right */
  Val v_ls = l_smin(g, LLVMBuildNeg(g->b, v_rs, ""), l_i64(g, TL_LSHIFT_CAP), "lshift");
  Val var_m = l_var(g, g->t_i64, "xm.var", NULL), var_sum = l_var(g, g->t_i64, "sum.var", NULL);

  Loop Lb = l_for(g, v_zero, v_n, "row");
  Val v_row = l_mul(g, Lb.v_i, l_i64(g, C), "row.base");
  /* 1. X_i, kept in e32, and their maximum */
  l_set(g, var_m, l_i64(g, INT64_MIN));
  Loop Lx = l_for(g, v_zero, l_i64(g, C), "x");
  Val v_flat = l_add(g, v_row, Lx.v_i, "flat");
  Val v_p = l_mul(g, l_sext(g, l_load(g, g->t_i8, v_lg, v_flat, "a"), g->t_i64, ""), l_i64(g, NIT_LOG2E_Q30), "p");
  Val v_dn = LLVMBuildAShr(g->b, v_p, l_smin(g, l_smax(g, v_rs, v_zero, ""), l_i64(g, 63), ""), "p.floor");
  Val v_up = LLVMBuildShl(g->b, v_p, l_smax(g, v_ls, v_zero, ""), "p.up");
  Val v_x = l_select(g, l_icmp(g, LLVMIntSGE, v_rs, v_zero, ""), v_dn, v_up, "X");
  l_store(g, g->t_i64, v_x, v_e32, v_flat);
  l_set(g, var_m, l_smax(g, l_get(g, g->t_i64, var_m, ""), v_x, ""));
  l_next(g, &Lx);
  Val v_xm = l_get(g, g->t_i64, var_m, "Xm");
  /* 2. u_i and their sum U (>= 2^30: the maximum's u) */
  l_set(g, var_sum, v_zero);
  Loop Lu = l_for(g, v_zero, l_i64(g, C), "u");
  Val v_fu = l_add(g, v_row, Lu.v_i, "flat");
  Val v_d = l_sub(g, v_xm, l_load(g, g->t_i64, v_e32, v_fu, "X"), "d");
  Val v_far = l_icmp(g, LLVMIntSGE, v_d, l_i64(g, (int64_t)TL_ORDERS << 16), "far");
  Val v_u = l_select(g, v_far, v_zero, exp2neg(g, v_tab, l_smin(g, v_d, l_i64(g, ((int64_t)TL_ORDERS << 16) - 1), "")), "u");
  l_store(g, g->t_i64, v_u, v_e32, v_fu);
  l_set(g, var_sum, l_add(g, l_get(g, g->t_i64, var_sum, ""), v_u, ""));
  l_next(g, &Lu);
  Val v_U = l_get(g, g->t_i64, var_sum, "U");
  /* 3. t_i = (u_i << 15) div U, C = sum t, e32 = t - [i = y] C */
  l_set(g, var_sum, v_zero);
  Loop Lt = l_for(g, v_zero, l_i64(g, C), "t");
  Val v_ft = l_add(g, v_row, Lt.v_i, "flat");
  Val v_t = LLVMBuildSDiv(g->b, LLVMBuildShl(g->b, l_load(g, g->t_i64, v_e32, v_ft, "u"), l_i64(g, TL_T_BITS), ""), v_U, "t");
  l_store(g, g->t_i64, v_t, v_e32, v_ft);
  l_set(g, var_sum, l_add(g, l_get(g, g->t_i64, var_sum, ""), v_t, ""));
  l_next(g, &Lt);
  Val v_y = l_add(g, v_row, l_sext(g, l_load(g, g->t_i32, v_lab, Lb.v_i, "y"), g->t_i64, ""), "flat.y");
  l_store(g, g->t_i64, l_sub(g, l_load(g, g->t_i64, v_e32, v_y, "t.y"), l_get(g, g->t_i64, var_sum, "C"), "e32.y"), v_e32,
          v_y);
  l_next(g, &Lb);
  /* the caller applies the recipe's EQ at LOSS to e32 (step.c) */
  LLVMBuildRet(g->b, l_i32(g, -TL_T_BITS));
}

/* The loss's functions: NITI's rounded row under niti's own loss; otherwise
 * e32 of the chosen softmax (the table's or NITI's row), which the step
 * quantizes with the recipe's EQ at LOSS (step.c). */
void emit_loss(Cg *g) {
  const Recipe *r = &g->m->recipe;
  if (r->loss_table) emit_tloss(g);
  else niti_loss(g, recipe_loss_e32(r));
}
