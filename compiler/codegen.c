/*
 * codegen.c: the checked model and its memory plan -> one LLVM module.
 *
 * The module defines `nit_model` (runtime/nitabi.h) and two step functions:
 *   nit_train_step  forward, loss gradient, backward, update
 *   nit_forward     forward only (eval, predict)
 * Every layer's loop nest is emitted inline into the step function with its
 * shapes as constants, so LLVM sees constant trip counts and strides; only the
 * batch count n is a run-time value. Shape-independent pieces (the generator,
 * shift-and-round, requantization of an accumulator buffer, the weight update,
 * the loss gradient) are small internal functions emitted once per module;
 * the optimizer inlines what pays.
 *
 * The arithmetic is docs/numerics.md rule by rule; tests/ref is the oracle the
 * differential tests compare against byte for byte. No floating-point type or
 * instruction is ever created here (a test scans the IR of every example).
 *
 * Naming follows PostgreSQL's LLVM code: v_ values, b_ blocks, l_ helpers for
 * the small IR idioms, and every value gets a name so --emit llvm reads well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>

#include "nitc.h"

typedef LLVMValueRef Val;
typedef LLVMBasicBlockRef Blk;
typedef LLVMTypeRef Ty;

typedef struct Cg {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  Model *m;
  Plan *p;
  Ty t_i1, t_i8, t_i16, t_i32, t_i64, t_ptr, t_void;
  Ty t_ctx;                /* NitCtx */
  Val fn;                  /* function being built */
  Blk b_entry;             /* its entry block, for allocas */
  /* shared helpers */
  Val f_mix, f_key, f_round, f_bits, f_sat8;
  Val f_requant32, f_requant64, f_update32, f_update64, f_wview, f_loss;
  Ty ft_mix, ft_key, ft_round, ft_bits, ft_sat8, ft_requant, ft_update, ft_wview, ft_loss;
  /* step-function state, loaded once from the NitCtx */
  Val v_ctx, v_x, v_y, v_params, v_work, v_seed, v_step, v_n;
  Val v_inexp, v_mu, v_ract, v_rerr, v_rgrad, v_decay, v_train;
  Val v_exps;              /* i32* in the work slab: (nnodes, 2) */
} Cg;

/* NitCtx field indices (runtime/nitabi.h). */
enum { CTX_PARAMS, CTX_WORK, CTX_SEED, CTX_STEP, CTX_N, CTX_INEXP, CTX_MU,
       CTX_RACT, CTX_RERR, CTX_RGRAD, CTX_DECAY, CTX_TRAIN, CTX_LOGITS,
       CTX_LOGITEXP, CTX_EXPS };

/* ------------------------------------------------------------- l_ helpers */

static Val l_i32(Cg *g, int64_t v) { return LLVMConstInt(g->t_i32, (unsigned long long)v, 1); }
static Val l_i64(Cg *g, int64_t v) { return LLVMConstInt(g->t_i64, (unsigned long long)v, 1); }
static Val l_u64(Cg *g, uint64_t v) { return LLVMConstInt(g->t_i64, v, 0); }

static Blk l_block(Cg *g, const char *name) {
  return LLVMAppendBasicBlockInContext(g->ctx, g->fn, name);
}

static Val l_gep(Cg *g, Ty elem, Val base, Val idx, const char *name) {
  return LLVMBuildGEP2(g->b, elem, base, &idx, 1, name);
}

static Val l_load(Cg *g, Ty t, Val base, Val idx, const char *name) {
  return LLVMBuildLoad2(g->b, t, l_gep(g, t, base, idx, ""), name);
}

static void l_store(Cg *g, Ty t, Val v, Val base, Val idx) {
  LLVMBuildStore(g->b, v, l_gep(g, t, base, idx, ""));
}

/* A stack slot in the entry block (mem2reg turns it into SSA). */
static Val l_var(Cg *g, Ty t, const char *name, Val init) {
  Blk cur = LLVMGetInsertBlock(g->b);
  LLVMValueRef first = LLVMGetFirstInstruction(g->b_entry);
  if (first) LLVMPositionBuilderBefore(g->b, first);
  else LLVMPositionBuilderAtEnd(g->b, g->b_entry);
  Val v = LLVMBuildAlloca(g->b, t, name);
  LLVMPositionBuilderAtEnd(g->b, cur);
  if (init) LLVMBuildStore(g->b, init, v);
  return v;
}

static Val l_get(Cg *g, Ty t, Val var, const char *name) { return LLVMBuildLoad2(g->b, t, var, name); }
static void l_set(Cg *g, Val var, Val v) { LLVMBuildStore(g->b, v, var); }

static Val l_add(Cg *g, Val a, Val b, const char *n) { return LLVMBuildAdd(g->b, a, b, n); }
static Val l_sub(Cg *g, Val a, Val b, const char *n) { return LLVMBuildSub(g->b, a, b, n); }
static Val l_mul(Cg *g, Val a, Val b, const char *n) { return LLVMBuildMul(g->b, a, b, n); }
static Val l_sext(Cg *g, Val v, Ty t, const char *n) { return LLVMBuildSExt(g->b, v, t, n); }
static Val l_trunc(Cg *g, Val v, Ty t, const char *n) { return LLVMBuildTrunc(g->b, v, t, n); }
static Val l_icmp(Cg *g, LLVMIntPredicate p, Val a, Val b, const char *n) { return LLVMBuildICmp(g->b, p, a, b, n); }
static Val l_select(Cg *g, Val c, Val a, Val b, const char *n) { return LLVMBuildSelect(g->b, c, a, b, n); }

static Val l_smax(Cg *g, Val a, Val b, const char *n) {
  return l_select(g, l_icmp(g, LLVMIntSGT, a, b, ""), a, b, n);
}
static Val l_smin(Cg *g, Val a, Val b, const char *n) {
  return l_select(g, l_icmp(g, LLVMIntSLT, a, b, ""), a, b, n);
}
static Val l_abs(Cg *g, Val v, const char *n) {
  Val v_neg = LLVMBuildNeg(g->b, v, "");
  return l_select(g, l_icmp(g, LLVMIntSLT, v, LLVMConstNull(LLVMTypeOf(v)), ""), v_neg, v, n);
}

static Val l_call(Cg *g, Ty ft, Val f, Val *args, unsigned nargs, const char *name) {
  return LLVMBuildCall2(g->b, ft, f, args, nargs, name);
}

/* Counted loop `for (i = lo; i < hi; i++)`, i64. l_for leaves the builder in
 * the body; l_next closes the loop and leaves it after the loop. */
typedef struct Loop {
  Val v_i;
  Val v_phi;
  Blk b_head, b_exit;
} Loop;

static Loop l_for(Cg *g, Val v_lo, Val v_hi, const char *name) {
  char buf[96];
  Loop L;
  Blk b_pre = LLVMGetInsertBlock(g->b);
  snprintf(buf, sizeof buf, "%s.head", name);
  L.b_head = l_block(g, buf);
  snprintf(buf, sizeof buf, "%s.body", name);
  Blk b_body = l_block(g, buf);
  snprintf(buf, sizeof buf, "%s.end", name);
  L.b_exit = l_block(g, buf);
  LLVMBuildBr(g->b, L.b_head);
  LLVMPositionBuilderAtEnd(g->b, L.b_head);
  L.v_phi = LLVMBuildPhi(g->b, g->t_i64, name);
  LLVMAddIncoming(L.v_phi, &v_lo, &b_pre, 1);
  Val v_c = l_icmp(g, LLVMIntSLT, L.v_phi, v_hi, "");
  LLVMBuildCondBr(g->b, v_c, b_body, L.b_exit);
  LLVMPositionBuilderAtEnd(g->b, b_body);
  L.v_i = L.v_phi;
  return L;
}

static void l_next(Cg *g, Loop *L) {
  Val v_next = l_add(g, L->v_phi, l_i64(g, 1), "");
  Blk b_latch = LLVMGetInsertBlock(g->b);
  LLVMBuildBr(g->b, L->b_head);
  LLVMAddIncoming(L->v_phi, &v_next, &b_latch, 1);
  LLVMPositionBuilderAtEnd(g->b, L->b_exit);
}

/* if (c) { ... } : l_if leaves the builder in the then-block; l_endif joins. */
static Blk l_if(Cg *g, Val v_c, const char *name) {
  char buf[96];
  snprintf(buf, sizeof buf, "%s.then", name);
  Blk b_then = l_block(g, buf);
  snprintf(buf, sizeof buf, "%s.join", name);
  Blk b_join = l_block(g, buf);
  LLVMBuildCondBr(g->b, v_c, b_then, b_join);
  LLVMPositionBuilderAtEnd(g->b, b_then);
  return b_join;
}

static void l_endif(Cg *g, Blk b_join) {
  LLVMBuildBr(g->b, b_join);
  LLVMPositionBuilderAtEnd(g->b, b_join);
}

static Val l_begin_fn(Cg *g, const char *name, Ty ft, bool internal) {
  Val f = LLVMAddFunction(g->mod, name, ft);
  if (internal) LLVMSetLinkage(f, LLVMInternalLinkage);
  g->fn = f;
  g->b_entry = l_block(g, "entry");
  LLVMPositionBuilderAtEnd(g->b, g->b_entry);
  return f;
}

static Val l_param(Cg *g, unsigned i, const char *name) {
  Val v = LLVMGetParam(g->fn, i);
  LLVMSetValueName2(v, name, strlen(name));
  return v;
}

/* Pointer to byte offset `off` of a slab. */
static Val l_slab(Cg *g, Val base, int64_t off, const char *name) {
  return l_gep(g, g->t_i8, base, l_i64(g, off), name);
}

/* --------------------------------------------- shared arithmetic helpers */

/* SplitMix64 finalizer, nit_key and nit_draw exactly as in nitabi.h. */
static void emit_generator(Cg *g) {
  Ty a1[] = {g->t_i64};
  g->ft_mix = LLVMFunctionType(g->t_i64, a1, 1, 0);
  g->f_mix = l_begin_fn(g, "nit_mix64", g->ft_mix, true);
  Val z = l_param(g, 0, "z");
  z = l_mul(g, LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, l_i64(g, 30), ""), ""),
            l_u64(g, 0xBF58476D1CE4E5B9ull), "z1");
  z = l_mul(g, LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, l_i64(g, 27), ""), ""),
            l_u64(g, 0x94D049BB133111EBull), "z2");
  z = LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, l_i64(g, 31), ""), "z3");
  LLVMBuildRet(g->b, z);

  Ty a3[] = {g->t_i64, g->t_i64, g->t_i32};
  g->ft_key = LLVMFunctionType(g->t_i64, a3, 3, 0);
  g->f_key = l_begin_fn(g, "nit_key", g->ft_key, true);
  Val v_seed = l_param(g, 0, "seed"), v_step = l_param(g, 1, "step");
  Val v_tid = LLVMBuildZExt(g->b, l_param(g, 2, "tensor"), g->t_i64, "tid");
  Val k = l_add(g, v_seed, l_u64(g, NIT_GOLDEN), "");
  k = l_call(g, g->ft_mix, g->f_mix, &k, 1, "k0");
  k = l_add(g, k, v_step, "");
  k = l_call(g, g->ft_mix, g->f_mix, &k, 1, "k1");
  k = l_add(g, k, v_tid, "");
  k = l_call(g, g->ft_mix, g->f_mix, &k, 1, "key");
  LLVMBuildRet(g->b, k);
}

/* B(V) of a non-negative i64: 64 - clz. */
static void emit_bits(Cg *g) {
  Ty a1[] = {g->t_i64};
  g->ft_bits = LLVMFunctionType(g->t_i32, a1, 1, 0);
  g->f_bits = l_begin_fn(g, "nit_bits", g->ft_bits, true);
  Val v = l_param(g, 0, "maxabs");
  Ty at[] = {g->t_i64, g->t_i1};
  Ty ft_ctlz = LLVMFunctionType(g->t_i64, at, 2, 0);
  unsigned id = LLVMLookupIntrinsicID("llvm.ctlz", 9);
  Ty ov[] = {g->t_i64};
  Val f_ctlz = LLVMGetIntrinsicDeclaration(g->mod, id, ov, 1);
  Val args[] = {v, LLVMConstInt(g->t_i1, 0, 0)};
  Val v_lz = l_call(g, ft_ctlz, f_ctlz, args, 2, "lz");
  Val v_b = l_sub(g, l_i64(g, 64), v_lz, "b");
  LLVMBuildRet(g->b, l_trunc(g, v_b, g->t_i32, "bits"));
}

/* Saturate an i64 to [-127, 127]. */
static void emit_sat8(Cg *g) {
  Ty a1[] = {g->t_i64};
  g->ft_sat8 = LLVMFunctionType(g->t_i8, a1, 1, 0);
  g->f_sat8 = l_begin_fn(g, "nit_sat8", g->ft_sat8, true);
  Val v = l_param(g, 0, "v");
  v = l_smin(g, v, l_i64(g, 127), "");
  v = l_smax(g, v, l_i64(g, -127), "");
  LLVMBuildRet(g->b, l_trunc(g, v, g->t_i8, "sat"));
}

/* R(x, k) without saturation: sign-magnitude shift with the mode's `up`
 * decision (numerics.md 3). k is in [0, 63]. */
static void emit_round(Cg *g) {
  Ty a5[] = {g->t_i64, g->t_i32, g->t_i32, g->t_i64, g->t_i64};
  g->ft_round = LLVMFunctionType(g->t_i64, a5, 5, 0);
  g->f_round = l_begin_fn(g, "nit_round", g->ft_round, true);
  Val v_x = l_param(g, 0, "x"), v_k32 = l_param(g, 1, "k"), v_mode = l_param(g, 2, "mode");
  Val v_key = l_param(g, 3, "key"), v_idx = l_param(g, 4, "index");
  Val v_k = LLVMBuildZExt(g->b, v_k32, g->t_i64, "k64");
  Val v_zero = l_i64(g, 0), v_one = l_i64(g, 1);

  Val v_a = l_abs(g, v_x, "a");
  Val v_q = LLVMBuildLShr(g->b, v_a, v_k, "q");
  Val v_mask = l_sub(g, LLVMBuildShl(g->b, v_one, v_k, ""), v_one, "mask");
  Val v_f = LLVMBuildAnd(g->b, v_a, v_mask, "f");

  /* pseudo: drop the lowest fraction bit when k is odd, compare halves */
  Val v_odd = LLVMBuildAnd(g->b, v_k, v_one, "odd");
  Val v_f2 = LLVMBuildLShr(g->b, v_f, v_odd, "f2");
  Val v_bp = l_sub(g, v_k, v_odd, "bp");
  Val v_h = LLVMBuildLShr(g->b, v_bp, v_one, "half");
  Val v_hi = LLVMBuildLShr(g->b, v_f2, v_h, "hi");
  Val v_lo = LLVMBuildAnd(g->b, v_f2, l_sub(g, LLVMBuildShl(g->b, v_one, v_h, ""), v_one, ""), "lo");
  Val v_up_ps = l_icmp(g, LLVMIntUGT, v_hi, v_lo, "up.pseudo");
  /* k == 1: round half to even on q */
  Val v_up_k1 = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntNE, v_f, v_zero, ""),
                             l_icmp(g, LLVMIntNE, LLVMBuildAnd(g->b, v_q, v_one, ""), v_zero, ""),
                             "up.k1");
  Val v_isk1 = l_icmp(g, LLVMIntEQ, v_k, v_one, "");
  v_up_ps = l_select(g, v_isk1, v_up_k1, v_up_ps, "up.p");

  /* stochastic: f > r, r uniform in [0, 2^k - 1] */
  Val v_ctr = l_add(g, v_key, l_mul(g, l_add(g, v_idx, v_one, ""), l_u64(g, NIT_GOLDEN), ""), "");
  Val v_draw = l_call(g, g->ft_mix, g->f_mix, &v_ctr, 1, "draw");
  Val v_r = LLVMBuildAnd(g->b, v_draw, v_mask, "r");
  Val v_up_st = l_icmp(g, LLVMIntUGT, v_f, v_r, "up.stoch");

  /* nearest: half away from zero */
  Val v_halfk = LLVMBuildShl(g->b, v_one, l_sub(g, v_k, v_one, ""), "");
  Val v_up_nr = l_icmp(g, LLVMIntUGE, v_f, v_halfk, "up.near");

  Val v_up = l_select(g, l_icmp(g, LLVMIntEQ, v_mode, l_i32(g, NIT_ROUND_STOCHASTIC), ""),
                      v_up_st, v_up_ps, "");
  v_up = l_select(g, l_icmp(g, LLVMIntEQ, v_mode, l_i32(g, NIT_ROUND_NEAREST), ""), v_up_nr, v_up, "up");
  Val v_mag = l_add(g, v_q, LLVMBuildZExt(g->b, v_up, g->t_i64, ""), "mag");
  Val v_res = l_select(g, l_icmp(g, LLVMIntSLT, v_x, v_zero, ""), LLVMBuildNeg(g->b, v_mag, ""), v_mag, "");
  v_res = l_select(g, l_icmp(g, LLVMIntEQ, v_k, v_zero, ""), v_x, v_res, "r");
  LLVMBuildRet(g->b, v_res);
}

/* requant(acc, count, out, mode, key) -> k: B over the buffer, k = max(0, B-7),
 * out[j] = sat8(R(acc[j], k)). One version per accumulator width. */
static Val emit_requant(Cg *g, Ty t_acc, const char *name) {
  Val f = l_begin_fn(g, name, g->ft_requant, true);
  Val v_acc = l_param(g, 0, "acc"), v_cnt = l_param(g, 1, "count"), v_out = l_param(g, 2, "out");
  Val v_mode = l_param(g, 3, "mode"), v_key = l_param(g, 4, "key");
  Val var_max = l_var(g, g->t_i64, "max.var", l_i64(g, 0));
  Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
  Val v_v = l_sext(g, l_load(g, t_acc, v_acc, L.v_i, "v"), g->t_i64, "v64");
  Val v_m = l_smax(g, l_get(g, g->t_i64, var_max, "max"), l_abs(g, v_v, "abs"), "max.new");
  l_set(g, var_max, v_m);
  l_next(g, &L);
  Val v_max = l_get(g, g->t_i64, var_max, "max");
  Val v_b = l_call(g, g->ft_bits, g->f_bits, &v_max, 1, "b");
  Val v_k = l_smax(g, l_sub(g, v_b, l_i32(g, 7), ""), l_i32(g, 0), "k");
  Loop L2 = l_for(g, l_i64(g, 0), v_cnt, "j2");
  Val v_x = l_sext(g, l_load(g, t_acc, v_acc, L2.v_i, "x"), g->t_i64, "x64");
  Val args[] = {v_x, v_k, v_mode, v_key, L2.v_i};
  Val v_r = l_call(g, g->ft_round, g->f_round, args, 5, "r");
  Val v_s = l_call(g, g->ft_sat8, g->f_sat8, &v_r, 1, "s");
  l_store(g, g->t_i8, v_s, v_out, L2.v_i);
  l_next(g, &L2);
  LLVMBuildRet(g->b, v_k);
  return f;
}

/* update(w, wbits, view, grad, count, mu, mode, key, decay): the NITI update of
 * one weight tensor (numerics.md 8). wbits == 8: w is int8 and view == w;
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

static Val emit_update(Cg *g, Ty t_g, const char *name) {
  Val f = l_begin_fn(g, name, g->ft_update, true);
  Val v_w = l_param(g, 0, "w"), v_wbits = l_param(g, 1, "wbits"), v_view = l_param(g, 2, "view");
  Val v_g = l_param(g, 3, "grad"), v_cnt = l_param(g, 4, "count"), v_mu = l_param(g, 5, "mu");
  Val v_mode = l_param(g, 6, "mode"), v_key = l_param(g, 7, "key"), v_decay = l_param(g, 8, "decay");

  Val var_max = l_var(g, g->t_i64, "max.var", l_i64(g, 0));
  Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
  Val v_v = l_sext(g, l_load(g, t_g, v_g, L.v_i, "g"), g->t_i64, "g64");
  l_set(g, var_max, l_smax(g, l_get(g, g->t_i64, var_max, ""), l_abs(g, v_v, ""), "max.new"));
  l_next(g, &L);
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
  Val v_kc = l_smax(g, l_sub(g, v_b, v_mu, ""), l_i32(g, 0), "k");
  Val v_wide = l_icmp(g, LLVMIntNE, v_wbits, l_i32(g, 8), "wide");
  Val v_lim = l_sub(g, LLVMBuildShl(g->b, l_i64(g, 1), LLVMBuildZExt(g->b, l_sub(g, v_wbits, l_i32(g, 1), ""), g->t_i64, ""), ""),
                    l_i64(g, 1), "lim");
  Loop L2 = l_for(g, l_i64(g, 0), v_cnt, "u");
  Val v_gd = decayed(g, t_g, v_g, v_view, L2.v_i, v_dexp, v_decay);
  Val args[] = {v_gd, v_kc, v_mode, v_key, L2.v_i};
  Val v_r = l_call(g, g->ft_round, g->f_round, args, 5, "step");
  Blk b_w8 = l_block(g, "u.w8"), b_w16 = l_block(g, "u.w16"), b_done = l_block(g, "u.done");
  LLVMBuildCondBr(g->b, v_wide, b_w16, b_w8);
  LLVMPositionBuilderAtEnd(g->b, b_w8);
  Val v_old8 = l_sext(g, l_load(g, g->t_i8, v_w, L2.v_i, "w"), g->t_i64, "");
  Val v_new8 = l_sub(g, v_old8, v_r, "");
  l_store(g, g->t_i8, l_call(g, g->ft_sat8, g->f_sat8, &v_new8, 1, "w.new"), v_w, L2.v_i);
  LLVMBuildBr(g->b, b_done);
  LLVMPositionBuilderAtEnd(g->b, b_w16);
  Val v_old16 = l_sext(g, l_load(g, g->t_i16, v_w, L2.v_i, "ww"), g->t_i64, "");
  Val v_new16 = l_sub(g, v_old16, v_r, "");
  v_new16 = l_smin(g, v_new16, v_lim, "");
  v_new16 = l_smax(g, v_new16, LLVMBuildNeg(g->b, v_lim, ""), "");
  l_store(g, g->t_i16, l_trunc(g, v_new16, g->t_i16, "ww.new"), v_w, L2.v_i);
  LLVMBuildBr(g->b, b_done);
  LLVMPositionBuilderAtEnd(g->b, b_done);
  l_next(g, &L2);
  l_endif(g, b_join2);
  l_endif(g, b_join);
  LLVMBuildRetVoid(g->b);
  return f;
}

/* wview(w16, view, count, F): view[j] = sat8(R(w16[j], F, pseudo)). */
static void emit_wview(Cg *g) {
  Ty a[] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i32};
  g->ft_wview = LLVMFunctionType(g->t_void, a, 4, 0);
  g->f_wview = l_begin_fn(g, "nit_wview", g->ft_wview, true);
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

/* loss(logits, s, labels, n, e, mode, key): the integer softmax cross-entropy
 * gradient of numerics.md 6 for (n, classes) logits at exponent s, into e
 * (n, classes) at exponent 0. */
static void emit_loss(Cg *g) {
  int64_t C = g->m->classes;
  Ty a[] = {g->t_ptr, g->t_i32, g->t_ptr, g->t_i64, g->t_ptr, g->t_i32, g->t_i64};
  g->ft_loss = LLVMFunctionType(g->t_void, a, 7, 0);
  g->f_loss = l_begin_fn(g, "nit_loss_grad", g->ft_loss, true);
  Val v_lg = l_param(g, 0, "logits"), v_s32 = l_param(g, 1, "s"), v_lab = l_param(g, 2, "labels");
  Val v_n = l_param(g, 3, "n"), v_e = l_param(g, 4, "err"), v_mode = l_param(g, 5, "mode");
  Val v_key = l_param(g, 6, "key");
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
  Val v_base2 = l_icmp(g, LLVMIntSGT, v_s, l_i64(g, -7), "base2");
  Blk b_b2 = l_block(g, "base2"), b_tay = l_block(g, "taylor"), b_sum = l_block(g, "sum");
  LLVMBuildCondBr(g->b, v_base2, b_b2, b_tay);

  /* base-2 branch */
  LLVMPositionBuilderAtEnd(g->b, b_b2);
  l_set(g, var_acc, l_i64(g, INT64_MIN));
  Val v_rs = l_sub(g, l_i64(g, 15), v_s, "rshift");
  Loop Lc = l_for(g, v_zero, l_i64(g, C), "c");
  Val v_a = l_sext(g, l_load(g, g->t_i8, v_lg, l_add(g, v_row, Lc.v_i, ""), "a"), g->t_i64, "a64");
  Val v_p = l_mul(g, v_a, l_i64(g, 47274), "p");
  Val v_pm = LLVMBuildAShr(g->b, l_abs(g, v_p, ""), l_smax(g, v_rs, v_zero, ""), "");
  Val v_pr = l_select(g, l_icmp(g, LLVMIntSLT, v_p, v_zero, ""), LLVMBuildNeg(g->b, v_pm, ""), v_pm, "");
  /* left shift by L = s - 15, capped at 16: beyond that every d_i is 0 or 10
   * already, and the cap keeps the product inside int64 */
  Val v_pl = LLVMBuildShl(g->b, v_p, l_smin(g, l_smax(g, LLVMBuildNeg(g->b, v_rs, ""), v_zero, ""), l_i64(g, 16), ""), "");
  Val v_xi = l_select(g, l_icmp(g, LLVMIntSGE, v_rs, v_zero, ""), v_pr, v_pl, "xi");
  Val idx2[] = {v_zero, Lc.v_i};
  LLVMBuildStore(g->b, v_xi, LLVMBuildGEP2(g->b, t_u, var_x, idx2, 2, ""));
  l_set(g, var_acc, l_smax(g, l_get(g, g->t_i64, var_acc, ""), v_xi, ""));
  l_next(g, &Lc);
  Val v_m = l_get(g, g->t_i64, var_acc, "m");
  Loop Lc2 = l_for(g, v_zero, l_i64(g, C), "c2");
  Val idx3[] = {v_zero, Lc2.v_i};
  Val v_x2 = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, t_u, var_x, idx3, 2, ""), "x");
  Val v_d = l_sub(g, v_x2, l_sub(g, v_m, l_i64(g, 10), ""), "");
  v_d = l_smin(g, l_smax(g, v_d, v_zero, ""), l_i64(g, 10), "d");
  Val v_u = l_sub(g, LLVMBuildShl(g->b, l_i64(g, 1), v_d, ""), l_i64(g, 1), "u");
  LLVMBuildStore(g->b, v_u, LLVMBuildGEP2(g->b, t_u, var_u, idx3, 2, ""));
  l_next(g, &Lc2);
  LLVMBuildBr(g->b, b_sum);

  /* Taylor branch, q = -s: u = floor((2^(1+2q) + a 2^(1+q) + a^2) / 2^p) with
   * the pre-shift p = max(0, 2q - 48) keeping u < 2^50 (so u << 11 fits) */
  LLVMPositionBuilderAtEnd(g->b, b_tay);
  Val v_q = LLVMBuildNeg(g->b, v_s, "q");
  Val v_pre = l_smax(g, l_sub(g, l_mul(g, l_i64(g, 2), v_q, ""), l_i64(g, 48), ""), v_zero, "pre");
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
  l_next(g, &Lc3);
  LLVMBuildBr(g->b, b_sum);

  /* t_i = (u_i << 11) / U; e32 = t - onehot * sum t; e = R(e32, 4) */
  LLVMPositionBuilderAtEnd(g->b, b_sum);
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
  Val v_ti = LLVMBuildSDiv(g->b, LLVMBuildShl(g->b, v_ut, l_i64(g, 11), ""), v_U, "ti");
  LLVMBuildStore(g->b, v_ti, LLVMBuildGEP2(g->b, t_u, var_t, idx6, 2, ""));
  l_set(g, var_acc2, l_add(g, l_get(g, g->t_i64, var_acc2, ""), v_ti, ""));
  l_next(g, &Lt);
  Val v_C = l_get(g, g->t_i64, var_acc2, "C");
  Val v_y = l_sext(g, l_load(g, g->t_i32, v_lab, Lb.v_i, "y"), g->t_i64, "y64");
  Loop Le = l_for(g, v_zero, l_i64(g, C), "e");
  Val idx7[] = {v_zero, Le.v_i};
  Val v_te = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, t_u, var_t, idx7, 2, ""), "t");
  Val v_e32 = l_sub(g, v_te, l_select(g, l_icmp(g, LLVMIntEQ, Le.v_i, v_y, ""), v_C, v_zero, ""), "e32");
  Val v_flat = l_add(g, v_row, Le.v_i, "flat");
  Val args[] = {v_e32, l_i32(g, 4), v_mode, v_key, v_flat};
  Val v_r = l_call(g, g->ft_round, g->f_round, args, 5, "r");
  l_store(g, g->t_i8, l_call(g, g->ft_sat8, g->f_sat8, &v_r, 1, "e"), v_e, v_flat);
  l_next(g, &Le);
  l_next(g, &Lb);
  LLVMBuildRetVoid(g->b);
}

static void emit_helpers(Cg *g) {
  emit_generator(g);
  emit_bits(g);
  emit_sat8(g);
  emit_round(g);
  Ty ar[] = {g->t_ptr, g->t_i64, g->t_ptr, g->t_i32, g->t_i64};
  g->ft_requant = LLVMFunctionType(g->t_i32, ar, 5, 0);
  g->f_requant32 = emit_requant(g, g->t_i32, "nit_requant_i32");
  g->f_requant64 = emit_requant(g, g->t_i64, "nit_requant_i64");
  Ty au[] = {g->t_ptr, g->t_i32, g->t_ptr, g->t_ptr, g->t_i64, g->t_i32, g->t_i32, g->t_i64, g->t_i32};
  g->ft_update = LLVMFunctionType(g->t_void, au, 9, 0);
  g->f_update32 = emit_update(g, g->t_i32, "nit_update_i32");
  g->f_update64 = emit_update(g, g->t_i64, "nit_update_i64");
  emit_wview(g);
  emit_loss(g);
}

/* ----------------------------------------------------- per-layer kernels */

static int64_t numel(const Shape *s) { return (int64_t)s->c * s->h * s->w; }

static Val act_ptr(Cg *g, int i) {
  if (i == 0) return g->v_x;
  int a = g->p->act_alias[i];
  if (a == 0) return g->v_x;
  return l_slab(g, g->v_work, g->p->act[a].off, g->m->nodes[i].name);
}

static Val err_ptr(Cg *g, int i) {
  int a = g->p->err_alias[i];
  char buf[80];
  snprintf(buf, sizeof buf, "%s.err", g->m->nodes[i].name);
  return l_slab(g, g->v_work, g->p->err[a].off, buf);
}

/* exps slot: which = 0 activation, 1 error, 2 + s input error of slot s */
static Val exp_slot(Cg *g, int i, int which) {
  return l_gep(g, g->t_i32, g->v_exps, l_i64(g, (int64_t)i * 4 + which), "");
}
static Val get_exp(Cg *g, int i, int which, const char *name) {
  return LLVMBuildLoad2(g->b, g->t_i32, exp_slot(g, i, which), name);
}
static void set_exp(Cg *g, int i, int which, Val v) { LLVMBuildStore(g->b, v, exp_slot(g, i, which)); }

static const NitParam *param_of(Cg *g, const Node *nd);

/* int8 pointer to a layer's (int8 view of its) weights */
static Val w8_ptr(Cg *g, const Node *nd) {
  char buf[80];
  snprintf(buf, sizeof buf, "%s.w", nd->name);
  if (g->m->recipe.weight_bits > 8)
    return l_slab(g, g->v_work, g->p->wview[nd - g->m->nodes].off, buf);
  return l_slab(g, g->v_params, param_of(g, nd)->offset, buf);
}

static Val wraw_ptr(Cg *g, const Node *nd) {
  char buf[80];
  snprintf(buf, sizeof buf, "%s.wraw", nd->name);
  return l_slab(g, g->v_params, param_of(g, nd)->offset, buf);
}

static Val v_key_for(Cg *g, uint32_t tid, const char *name) {
  Val args[] = {g->v_seed, g->v_step, l_i32(g, tid)};
  return l_call(g, g->ft_key, g->f_key, args, 3, name);
}

/* Requantize `count` accumulators in acc scratch into out; returns k (i32). */
static Val requant(Cg *g, bool wide, Val v_acc, Val v_count, Val v_out, Val v_mode, Val v_key) {
  Val args[] = {v_acc, v_count, v_out, v_mode, v_key};
  return l_call(g, g->ft_requant, wide ? g->f_requant64 : g->f_requant32, args, 5, "k");
}

static Val acc_ptr(Cg *g) { return l_slab(g, g->v_work, g->p->acc.off, "acc"); }
static Val acc2_ptr(Cg *g) { return l_slab(g, g->v_work, g->p->acc2.off, "acc2"); }
static Val grad_ptr(Cg *g) { return l_slab(g, g->v_work, g->p->grad.off, "grad"); }

static Val l_batch_elems(Cg *g, const Shape *s, const char *name) {
  return l_mul(g, g->v_n, l_i64(g, numel(s)), name);
}

/* Zero `count` elements of type t. */
static void l_zero(Cg *g, Ty t, Val v_ptr, Val v_count) {
  Loop L = l_for(g, l_i64(g, 0), v_count, "z");
  l_store(g, t, LLVMConstNull(t), v_ptr, L.v_i);
  l_next(g, &L);
}

/* acc[b, o] = sum_i x[b, i] * w[o, i] */
static void dense_forward(Cg *g, const Node *nd, Val v_in, Val v_w, Val v_acc, Ty t_acc) {
  int64_t I = nd->wshape[1], O = nd->wshape[0];
  Loop Lb = l_for(g, l_i64(g, 0), g->v_n, "b");
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, O), "o");
  Val var = l_var(g, t_acc, "dot.var", NULL);
  l_set(g, var, LLVMConstNull(t_acc));
  Val v_xrow = l_mul(g, Lb.v_i, l_i64(g, I), "xrow");
  Val v_wrow = l_mul(g, Lo.v_i, l_i64(g, I), "wrow");
  Loop Li = l_for(g, l_i64(g, 0), l_i64(g, I), "i");
  Val v_a = l_sext(g, l_load(g, g->t_i8, v_in, l_add(g, v_xrow, Li.v_i, ""), "x"), t_acc, "");
  Val v_b = l_sext(g, l_load(g, g->t_i8, v_w, l_add(g, v_wrow, Li.v_i, ""), "w"), t_acc, "");
  l_set(g, var, l_add(g, l_get(g, t_acc, var, ""), l_mul(g, v_a, v_b, ""), "dot"));
  l_next(g, &Li);
  l_store(g, t_acc, l_get(g, t_acc, var, "dot"), v_acc, l_add(g, l_mul(g, Lb.v_i, l_i64(g, O), ""), Lo.v_i, ""));
  l_next(g, &Lo);
  l_next(g, &Lb);
}

/* e32[b, i] = sum_o e[b, o] * w[o, i] */
static void dense_backward_input(Cg *g, const Node *nd, Val v_e, Val v_w, Val v_acc, Ty t_acc) {
  int64_t I = nd->wshape[1], O = nd->wshape[0];
  Loop Lb = l_for(g, l_i64(g, 0), g->v_n, "b");
  Loop Li = l_for(g, l_i64(g, 0), l_i64(g, I), "i");
  Val var = l_var(g, t_acc, "dot.var", NULL);
  l_set(g, var, LLVMConstNull(t_acc));
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, O), "o");
  Val v_a = l_sext(g, l_load(g, g->t_i8, v_e, l_add(g, l_mul(g, Lb.v_i, l_i64(g, O), ""), Lo.v_i, ""), "e"), t_acc, "");
  Val v_b = l_sext(g, l_load(g, g->t_i8, v_w, l_add(g, l_mul(g, Lo.v_i, l_i64(g, I), ""), Li.v_i, ""), "w"), t_acc, "");
  l_set(g, var, l_add(g, l_get(g, t_acc, var, ""), l_mul(g, v_a, v_b, ""), "dot"));
  l_next(g, &Lo);
  l_store(g, t_acc, l_get(g, t_acc, var, "dot"), v_acc, l_add(g, l_mul(g, Lb.v_i, l_i64(g, I), ""), Li.v_i, ""));
  l_next(g, &Li);
  l_next(g, &Lb);
}

/* g32[o, i] = sum_b e[b, o] * x[b, i] */
static void dense_backward_weight(Cg *g, const Node *nd, Val v_e, Val v_in, Val v_g, Ty t_g) {
  int64_t I = nd->wshape[1], O = nd->wshape[0];
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, O), "o");
  Loop Li = l_for(g, l_i64(g, 0), l_i64(g, I), "i");
  Val var = l_var(g, t_g, "gsum.var", NULL);
  l_set(g, var, LLVMConstNull(t_g));
  Loop Lb = l_for(g, l_i64(g, 0), g->v_n, "b");
  Val v_a = l_sext(g, l_load(g, g->t_i8, v_e, l_add(g, l_mul(g, Lb.v_i, l_i64(g, O), ""), Lo.v_i, ""), "e"), t_g, "");
  Val v_b = l_sext(g, l_load(g, g->t_i8, v_in, l_add(g, l_mul(g, Lb.v_i, l_i64(g, I), ""), Li.v_i, ""), "x"), t_g, "");
  l_set(g, var, l_add(g, l_get(g, t_g, var, ""), l_mul(g, v_a, v_b, ""), "gsum"));
  l_next(g, &Lb);
  l_store(g, t_g, l_get(g, t_g, var, "gsum"), v_g, l_add(g, l_mul(g, Lo.v_i, l_i64(g, I), ""), Li.v_i, ""));
  l_next(g, &Li);
  l_next(g, &Lo);
}

/* Input coordinate of an output coordinate and kernel tap; "valid" when it
 * falls inside the unpadded input. */
static Val in_coord(Cg *g, Val v_out, int s, int p, Val v_tap, const char *name) {
  return l_add(g, l_sub(g, l_mul(g, v_out, l_i64(g, s), ""), l_i64(g, p), ""), v_tap, name);
}
static Val in_range(Cg *g, Val v, int64_t hi) {
  return LLVMBuildAnd(g->b, l_icmp(g, LLVMIntSGE, v, l_i64(g, 0), ""),
                      l_icmp(g, LLVMIntSLT, v, l_i64(g, hi), ""), "");
}

/* The three conv kernels share one loop nest over (b, o, oy, ox, c, ky, kx)
 * with the input tap at (b, g*Cg + c, oy*sh - ph + ky, ox*sw - pw + kx):
 *   CONV_FWD   acc[b,o,oy,ox] += x[tap] * w[o,c,ky,kx]
 *   CONV_BWD   e32[tap]       += e[b,o,oy,ox] * w[o,c,ky,kx]   (scatter)
 *   CONV_GRAD  g32[o,c,ky,kx] += e[b,o,oy,ox] * x[tap] */
enum { CONV_FWD, CONV_BWD, CONV_GRAD };

static void conv_nest(Cg *g, const Node *nd, int which, Val v_x, Val v_w, Val v_e, Val v_out, Ty t_acc) {
  const Shape *is = &g->m->nodes[nd->in[0]].out, *os = &nd->out;
  int64_t O = nd->wshape[0], Cg_ = nd->wshape[1], KH = nd->kh, KW = nd->kw;
  int64_t Og = O / nd->groups;
  int64_t IC = is->c, IH = is->h, IW = is->w, OH = os->h, OW = os->w;
  Loop Lb = l_for(g, l_i64(g, 0), g->v_n, "b");
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, O), "o");
  Val v_grp = LLVMBuildSDiv(g->b, Lo.v_i, l_i64(g, Og), "grp");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, OH), "oy");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, OW), "ox");
  Val v_oidx = l_add(g, l_mul(g, l_add(g, l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, O), ""), Lo.v_i, ""),
                                                   l_i64(g, OH), ""), Ly.v_i, ""), l_i64(g, OW), ""), Lx.v_i, "oidx");
  Val var = NULL, v_eo = NULL;
  if (which == CONV_FWD) {
    var = l_var(g, t_acc, "conv.var", NULL);
    l_set(g, var, LLVMConstNull(t_acc));
  } else {
    v_eo = l_sext(g, l_load(g, g->t_i8, v_e, v_oidx, "eo"), t_acc, "eo.w");
  }
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, Cg_), "c");
  Val v_ci = l_add(g, l_mul(g, v_grp, l_i64(g, Cg_), ""), Lc.v_i, "ci");
  Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, KH), "ky");
  Val v_iy = in_coord(g, Ly.v_i, nd->sh, nd->ph, Lky.v_i, "iy");
  Loop Lkx = l_for(g, l_i64(g, 0), l_i64(g, KW), "kx");
  Val v_ix = in_coord(g, Lx.v_i, nd->sw, nd->pw, Lkx.v_i, "ix");
  Val v_ok = LLVMBuildAnd(g->b, in_range(g, v_iy, IH), in_range(g, v_ix, IW), "inside");
  Blk b_join = l_if(g, v_ok, "tap");
  Val v_iidx = l_add(g, l_mul(g, l_add(g, l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, IC), ""), v_ci, ""),
                                                   l_i64(g, IH), ""), v_iy, ""), l_i64(g, IW), ""), v_ix, "iidx");
  Val v_widx = l_add(g, l_mul(g, l_add(g, l_mul(g, l_add(g, l_mul(g, Lo.v_i, l_i64(g, Cg_), ""), Lc.v_i, ""),
                                                   l_i64(g, KH), ""), Lky.v_i, ""), l_i64(g, KW), ""), Lkx.v_i, "widx");
  if (which == CONV_FWD) {
    Val v_a = l_sext(g, l_load(g, g->t_i8, v_x, v_iidx, "x"), t_acc, "");
    Val v_b = l_sext(g, l_load(g, g->t_i8, v_w, v_widx, "w"), t_acc, "");
    l_set(g, var, l_add(g, l_get(g, t_acc, var, ""), l_mul(g, v_a, v_b, ""), "dot"));
  } else if (which == CONV_BWD) {
    Val v_b = l_sext(g, l_load(g, g->t_i8, v_w, v_widx, "w"), t_acc, "");
    Val v_old = l_load(g, t_acc, v_out, v_iidx, "e32");
    l_store(g, t_acc, l_add(g, v_old, l_mul(g, v_eo, v_b, ""), ""), v_out, v_iidx);
  } else {
    Val v_a = l_sext(g, l_load(g, g->t_i8, v_x, v_iidx, "x"), t_acc, "");
    Val v_old = l_load(g, t_acc, v_out, v_widx, "g32");
    l_store(g, t_acc, l_add(g, v_old, l_mul(g, v_eo, v_a, ""), ""), v_out, v_widx);
  }
  l_endif(g, b_join);
  l_next(g, &Lkx);
  l_next(g, &Lky);
  l_next(g, &Lc);
  if (which == CONV_FWD) l_store(g, t_acc, l_get(g, t_acc, var, "dot"), v_out, v_oidx);
  l_next(g, &Lx);
  l_next(g, &Ly);
  l_next(g, &Lo);
  l_next(g, &Lb);
}

/* Pooling window walk over (b, c, oy, ox, ky, kx); padding taps are skipped. */
typedef struct PoolTap {
  Loop Lb, Lc, Ly, Lx, Lky, Lkx;
  Val v_oidx, v_iidx;
  Blk b_join;
} PoolTap;

static void pool_begin(Cg *g, const Node *nd, PoolTap *T) {
  const Shape *os = &nd->out;
  int64_t C = os->c, OH = os->h, OW = os->w;
  T->Lb = l_for(g, l_i64(g, 0), g->v_n, "b");
  T->Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "c");
  T->Ly = l_for(g, l_i64(g, 0), l_i64(g, OH), "oy");
  T->Lx = l_for(g, l_i64(g, 0), l_i64(g, OW), "ox");
  Val v_bc = l_add(g, l_mul(g, T->Lb.v_i, l_i64(g, C), ""), T->Lc.v_i, "bc");
  T->v_oidx = l_add(g, l_mul(g, l_add(g, l_mul(g, v_bc, l_i64(g, OH), ""), T->Ly.v_i, ""), l_i64(g, OW), ""),
                    T->Lx.v_i, "oidx");
}

static void pool_taps(Cg *g, const Node *nd, PoolTap *T) {
  const Shape *is = &g->m->nodes[nd->in[0]].out;
  int64_t C = is->c, IH = is->h, IW = is->w;
  T->Lky = l_for(g, l_i64(g, 0), l_i64(g, nd->kh), "ky");
  Val v_iy = in_coord(g, T->Ly.v_i, nd->sh, nd->ph, T->Lky.v_i, "iy");
  T->Lkx = l_for(g, l_i64(g, 0), l_i64(g, nd->kw), "kx");
  Val v_ix = in_coord(g, T->Lx.v_i, nd->sw, nd->pw, T->Lkx.v_i, "ix");
  T->b_join = l_if(g, LLVMBuildAnd(g->b, in_range(g, v_iy, IH), in_range(g, v_ix, IW), ""), "tap");
  Val v_bc = l_add(g, l_mul(g, T->Lb.v_i, l_i64(g, C), ""), T->Lc.v_i, "");
  T->v_iidx = l_add(g, l_mul(g, l_add(g, l_mul(g, v_bc, l_i64(g, IH), ""), v_iy, ""), l_i64(g, IW), ""), v_ix, "iidx");
}

static void pool_taps_end(Cg *g, PoolTap *T) {
  l_endif(g, T->b_join);
  l_next(g, &T->Lkx);
  l_next(g, &T->Lky);
}

static void pool_end(Cg *g, PoolTap *T) {
  l_next(g, &T->Lx);
  l_next(g, &T->Ly);
  l_next(g, &T->Lc);
  l_next(g, &T->Lb);
}

static int log2i(int64_t v) {
  int k = 0;
  while (((int64_t)1 << k) < v) k++;
  return k;
}

/* ---------------------------------------------------------- forward pass */

/* Exact sum of two int8 tensors at exponents s1, s2 into an i64 buffer, at the
 * common exponent s = max(min(s1, s2), max(s1, s2) - 48); an operand more than
 * 48 bits below the other is dropped (docs/numerics.md, alignment). */
static Val align_sum2(Cg *g, Val v_a, Val v_s1, Val v_b, Val v_s2, Val v_cnt, Val v_out) {
  Val v_lo = l_smin(g, v_s1, v_s2, ""), v_hi = l_smax(g, v_s1, v_s2, "");
  Val v_s = l_smax(g, v_lo, l_sub(g, v_hi, l_i32(g, 48), ""), "s.common");
  Val v_use1 = l_icmp(g, LLVMIntSGE, v_s1, v_s, "use1"), v_use2 = l_icmp(g, LLVMIntSGE, v_s2, v_s, "use2");
  Val v_d1 = LLVMBuildZExt(g->b, l_smax(g, l_sub(g, v_s1, v_s, ""), l_i32(g, 0), ""), g->t_i64, "d1");
  Val v_d2 = LLVMBuildZExt(g->b, l_smax(g, l_sub(g, v_s2, v_s, ""), l_i32(g, 0), ""), g->t_i64, "d2");
  Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
  Val v_x = LLVMBuildShl(g->b, l_sext(g, l_load(g, g->t_i8, v_a, L.v_i, "a"), g->t_i64, ""), v_d1, "");
  Val v_y = LLVMBuildShl(g->b, l_sext(g, l_load(g, g->t_i8, v_b, L.v_i, "b"), g->t_i64, ""), v_d2, "");
  v_x = l_select(g, v_use1, v_x, l_i64(g, 0), "");
  v_y = l_select(g, v_use2, v_y, l_i64(g, 0), "");
  l_store(g, g->t_i64, l_add(g, v_x, v_y, "sum"), v_out, L.v_i);
  l_next(g, &L);
  return v_s;
}

static void node_forward(Cg *g, int i, bool train) {
  Model *m = g->m;
  Node *nd = &m->nodes[i];
  Val v_in = nd->nin > 0 ? act_ptr(g, nd->in[0]) : NULL;
  Val v_out = act_ptr(g, i);
  Val v_cnt = l_batch_elems(g, &nd->out, "count");
  Val v_sin = nd->nin > 0 ? get_exp(g, nd->in[0], 0, "s.in") : NULL;
  Ty t_acc = nd->acc64_fwd ? g->t_i64 : g->t_i32;
  switch (nd->op) {
  case OP_DENSE:
  case OP_CONV: {
    Val v_acc = acc_ptr(g);
    if (nd->op == OP_DENSE) dense_forward(g, nd, v_in, w8_ptr(g, nd), v_acc, t_acc);
    else conv_nest(g, nd, CONV_FWD, v_in, w8_ptr(g, nd), NULL, v_acc, t_acc);
    Val v_k = requant(g, nd->acc64_fwd, v_acc, v_cnt, v_out, g->v_ract, v_key_for(g, NIT_TID_ACT(i), "key.act"));
    set_exp(g, i, 0, l_add(g, l_add(g, v_sin, l_i32(g, nd->w_exp), ""), v_k, "s.out"));
    break;
  }
  case OP_RELU: {
    Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
    Val v_a = l_load(g, g->t_i8, v_in, L.v_i, "a");
    l_store(g, g->t_i8, l_smax(g, v_a, LLVMConstNull(g->t_i8), "relu"), v_out, L.v_i);
    l_next(g, &L);
    set_exp(g, i, 0, v_sin);
    break;
  }
  case OP_FLATTEN:
    if (g->p->act_alias[i] == i) {
      Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
      l_store(g, g->t_i8, l_load(g, g->t_i8, v_in, L.v_i, "a"), v_out, L.v_i);
      l_next(g, &L);
    }
    set_exp(g, i, 0, v_sin);
    break;
  case OP_DROPOUT: {
    Val v_key = v_key_for(g, NIT_TID_MASK(i), "key.mask");
    Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
    Val v_a = l_load(g, g->t_i8, v_in, L.v_i, "a");
    if (train) {
      Val v_ctr = l_add(g, v_key, l_mul(g, l_add(g, L.v_i, l_i64(g, 1), ""), l_u64(g, NIT_GOLDEN), ""), "");
      Val v_d = l_call(g, g->ft_mix, g->f_mix, &v_ctr, 1, "draw");
      Val v_drop = l_icmp(g, LLVMIntULT, LLVMBuildLShr(g->b, v_d, l_i64(g, 56), ""), l_i64(g, nd->drop256), "drop");
      v_a = l_select(g, v_drop, LLVMConstNull(g->t_i8), v_a, "kept");
    }
    l_store(g, g->t_i8, v_a, v_out, L.v_i);
    l_next(g, &L);
    set_exp(g, i, 0, v_sin);
    break;
  }
  case OP_MAXPOOL: {
    PoolTap T;
    pool_begin(g, nd, &T);
    Val var = l_var(g, g->t_i8, "max.var", NULL);
    l_set(g, var, LLVMConstInt(g->t_i8, (unsigned long long)-128, 1));
    pool_taps(g, nd, &T);
    Val v_a = l_load(g, g->t_i8, v_in, T.v_iidx, "a");
    l_set(g, var, l_smax(g, l_get(g, g->t_i8, var, ""), v_a, "max"));
    pool_taps_end(g, &T);
    /* a window of padding only (never the case for sane shapes) gives 0 */
    Val v_mx = l_get(g, g->t_i8, var, "max");
    v_mx = l_select(g, l_icmp(g, LLVMIntEQ, v_mx, LLVMConstInt(g->t_i8, (unsigned long long)-128, 1), ""),
                    LLVMConstNull(g->t_i8), v_mx, "max.out");
    l_store(g, g->t_i8, v_mx, v_out, T.v_oidx);
    pool_end(g, &T);
    set_exp(g, i, 0, v_sin);
    break;
  }
  case OP_AVGPOOL: {
    Val v_acc = acc_ptr(g);
    PoolTap T;
    pool_begin(g, nd, &T);
    Val var = l_var(g, g->t_i32, "sum.var", NULL);
    l_set(g, var, l_i32(g, 0));
    pool_taps(g, nd, &T);
    Val v_a = l_sext(g, l_load(g, g->t_i8, v_in, T.v_iidx, "a"), g->t_i32, "");
    l_set(g, var, l_add(g, l_get(g, g->t_i32, var, ""), v_a, "sum"));
    pool_taps_end(g, &T);
    l_store(g, g->t_i32, l_get(g, g->t_i32, var, "sum"), v_acc, T.v_oidx);
    pool_end(g, &T);
    Val v_k = requant(g, false, v_acc, v_cnt, v_out, g->v_ract, v_key_for(g, NIT_TID_ACT(i), "key.act"));
    set_exp(g, i, 0, l_sub(g, l_add(g, v_sin, v_k, ""), l_i32(g, log2i((int64_t)nd->kh * nd->kw)), "s.out"));
    break;
  }
  case OP_ADD: {
    Val v_in2 = act_ptr(g, nd->in[1]);
    Val v_s2 = get_exp(g, nd->in[1], 0, "s.in2");
    Val v_acc = acc_ptr(g);
    Val v_smin = align_sum2(g, v_in, v_sin, v_in2, v_s2, v_cnt, v_acc);
    Val v_k = requant(g, true, v_acc, v_cnt, v_out, g->v_ract, v_key_for(g, NIT_TID_ACT(i), "key.act"));
    set_exp(g, i, 0, l_add(g, v_smin, v_k, "s.out"));
    break;
  }
  default:
    break;
  }
}

/* --------------------------------------------------------- backward pass */

/* Where node i's input error for slot s goes: straight into the producer's
 * error buffer, or, when the producer gathers several contributions, into a
 * private buffer of this consumer. NULL when nothing upstream needs it. */
typedef struct ErrDst {
  Val v_ptr;             /* int8 (n, C, H, W) */
  int node, which;       /* exps slot receiving its exponent */
} ErrDst;

static bool err_dst(Cg *g, int i, int s, ErrDst *d) {
  int src = g->m->nodes[i].in[s];
  if (src <= 0 || !g->p->needs_err[src]) return false;
  if (g->p->gathers[src]) {
    char buf[96];
    snprintf(buf, sizeof buf, "%s.ein%d", g->m->nodes[i].name, s);
    d->v_ptr = l_slab(g, g->v_work, g->p->ein[i][s].off, buf);
    d->node = i;
    d->which = 2 + s;
  } else {
    d->v_ptr = err_ptr(g, src);
    d->node = src;
    d->which = 1;
  }
  return true;
}

/* Requantize an input-error accumulator (exponent v_s before rounding). */
static void deliver_acc(Cg *g, int i, const ErrDst *d, Val v_e32, bool wide, Val v_s) {
  Node *src = &g->m->nodes[g->m->nodes[i].in[0]];
  Val v_cnt = l_batch_elems(g, &src->out, "count");
  Val v_k = requant(g, wide, v_e32, v_cnt, d->v_ptr, g->v_rerr, v_key_for(g, NIT_TID_ERR(i), "key.err"));
  set_exp(g, d->node, d->which, l_add(g, v_s, v_k, "s.err"));
}

/* err[i] = requant(sum of the aligned contributions of every consumer). */
static void gather(Cg *g, int i) {
  Model *m = g->m;
  Node *nd = &m->nodes[i];
  Val v_ptrs[64], v_es[64];
  int nt = 0;
  for (int j = i + 1; j < m->nnodes; j++)
    for (int s = 0; s < m->nodes[j].nin; s++)
      if (m->nodes[j].in[s] == i && nt < 64) {
        char buf[96];
        snprintf(buf, sizeof buf, "%s.ein%d", m->nodes[j].name, s);
        v_ptrs[nt] = l_slab(g, g->v_work, g->p->ein[j][s].off, buf);
        v_es[nt++] = get_exp(g, j, 2 + s, "s.ein");
      }
  if (nt == 0) { /* cannot happen: gathers[i] means two or more sources */
    fprintf(stderr, "nitc: internal error: %s:%d: no error contributions\n", __FILE__, __LINE__);
    abort();
  }
  Val v_lo = v_es[0], v_hi = v_es[0];
  for (int t = 1; t < nt; t++) {
    v_lo = l_smin(g, v_lo, v_es[t], "");
    v_hi = l_smax(g, v_hi, v_es[t], "");
  }
  Val v_s = l_smax(g, v_lo, l_sub(g, v_hi, l_i32(g, 48), ""), "s.common");
  Val v_cnt = l_batch_elems(g, &nd->out, "count");
  Val v_acc = acc2_ptr(g);
  l_zero(g, g->t_i64, v_acc, v_cnt);
  for (int t = 0; t < nt; t++) {
    Val v_use = l_icmp(g, LLVMIntSGE, v_es[t], v_s, "use");
    Val v_d = LLVMBuildZExt(g->b, l_smax(g, l_sub(g, v_es[t], v_s, ""), l_i32(g, 0), ""), g->t_i64, "d");
    Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
    Val v_x = LLVMBuildShl(g->b, l_sext(g, l_load(g, g->t_i8, v_ptrs[t], L.v_i, "e"), g->t_i64, ""), v_d, "");
    Val v_old = l_load(g, g->t_i64, v_acc, L.v_i, "");
    l_store(g, g->t_i64, l_add(g, v_old, l_select(g, v_use, v_x, l_i64(g, 0), ""), ""), v_acc, L.v_i);
    l_next(g, &L);
  }
  Val v_k = requant(g, true, v_acc, v_cnt, err_ptr(g, i), g->v_rerr, v_key_for(g, NIT_TID_SUM(i), "key.sum"));
  set_exp(g, i, 1, l_add(g, v_s, v_k, "s.err"));
}

/* Copy (or mask) an error tensor to a destination, same exponent. */
static void pass_err(Cg *g, const Node *nd, const ErrDst *d, Val v_e, Val v_se, Val v_src) {
  if (v_src != d->v_ptr) {
    Loop L = l_for(g, l_i64(g, 0), l_batch_elems(g, &nd->out, "count"), "j");
    l_store(g, g->t_i8, l_load(g, g->t_i8, v_e, L.v_i, "e"), d->v_ptr, L.v_i);
    l_next(g, &L);
  }
  set_exp(g, d->node, d->which, v_se);
}

static void node_backward(Cg *g, int i) {
  Model *m = g->m;
  Node *nd = &m->nodes[i];
  Val v_e = err_ptr(g, i);
  Val v_se = get_exp(g, i, 1, "s.e");
  int in = nd->in[0];
  ErrDst d;
  bool need_in = err_dst(g, i, 0, &d);
  Val v_in = act_ptr(g, in);
  switch (nd->op) {
  case OP_DENSE:
  case OP_CONV: {
    const NitParam *pp = param_of(g, nd);
    Val v_w = w8_ptr(g, nd);
    if (need_in) {
      Ty t_acc = nd->acc64_bwd ? g->t_i64 : g->t_i32;
      Val v_acc = acc_ptr(g);
      if (nd->op == OP_DENSE) {
        dense_backward_input(g, nd, v_e, v_w, v_acc, t_acc);
      } else {
        l_zero(g, t_acc, v_acc, l_batch_elems(g, &m->nodes[in].out, "count"));
        conv_nest(g, nd, CONV_BWD, NULL, v_w, v_e, v_acc, t_acc);
      }
      deliver_acc(g, i, &d, v_acc, nd->acc64_bwd, l_add(g, v_se, l_i32(g, nd->w_exp), ""));
    }
    Ty t_g = nd->acc64_grad ? g->t_i64 : g->t_i32;
    Val v_g = grad_ptr(g);
    if (nd->op == OP_DENSE) {
      dense_backward_weight(g, nd, v_e, v_in, v_g, t_g);
    } else {
      l_zero(g, t_g, v_g, l_i64(g, nd->nweights));
      conv_nest(g, nd, CONV_GRAD, v_in, NULL, v_e, v_g, t_g);
    }
    Val args[] = {wraw_ptr(g, nd), l_i32(g, pp->bits), v_w, v_g, l_i64(g, nd->nweights), g->v_mu,
                  g->v_rgrad, v_key_for(g, NIT_TID_GRAD(i), "key.grad"), g->v_decay};
    l_call(g, g->ft_update, nd->acc64_grad ? g->f_update64 : g->f_update32, args, 9, "");
    break;
  }
  case OP_RELU:
  case OP_DROPOUT: {
    if (!need_in) break;
    Val v_out = act_ptr(g, i);
    Val v_cnt = l_batch_elems(g, &nd->out, "count");
    Val v_key = nd->op == OP_DROPOUT ? v_key_for(g, NIT_TID_MASK(i), "key.mask") : NULL;
    Loop L = l_for(g, l_i64(g, 0), v_cnt, "j");
    Val v_ev = l_load(g, g->t_i8, v_e, L.v_i, "e");
    Val v_pass;
    if (nd->op == OP_RELU) {
      /* the relu output is > 0 exactly where its input was */
      v_pass = l_icmp(g, LLVMIntSGT, l_load(g, g->t_i8, v_out, L.v_i, "a"), LLVMConstNull(g->t_i8), "pass");
    } else {
      Val v_ctr = l_add(g, v_key, l_mul(g, l_add(g, L.v_i, l_i64(g, 1), ""), l_u64(g, NIT_GOLDEN), ""), "");
      Val v_dr = l_call(g, g->ft_mix, g->f_mix, &v_ctr, 1, "draw");
      v_pass = l_icmp(g, LLVMIntUGE, LLVMBuildLShr(g->b, v_dr, l_i64(g, 56), ""), l_i64(g, nd->drop256), "kept");
    }
    l_store(g, g->t_i8, l_select(g, v_pass, v_ev, LLVMConstNull(g->t_i8), ""), d.v_ptr, L.v_i);
    l_next(g, &L);
    set_exp(g, d.node, d.which, v_se);
    break;
  }
  case OP_FLATTEN:
    if (need_in) pass_err(g, nd, &d, v_e, v_se, g->p->err_alias[i] == i ? v_e : d.v_ptr);
    break;
  case OP_MAXPOOL: {
    if (!need_in) break;
    /* route each output error to the first maximum of its window */
    Val v_acc = acc_ptr(g);
    l_zero(g, g->t_i32, v_acc, l_batch_elems(g, &m->nodes[in].out, "count"));
    Val v_out = act_ptr(g, i);
    PoolTap T;
    pool_begin(g, nd, &T);
    Val var_found = l_var(g, g->t_i1, "found.var", NULL);
    l_set(g, var_found, LLVMConstInt(g->t_i1, 0, 0));
    Val v_mx = l_load(g, g->t_i8, v_out, T.v_oidx, "max");
    Val v_ev = l_sext(g, l_load(g, g->t_i8, v_e, T.v_oidx, "e"), g->t_i32, "");
    pool_taps(g, nd, &T);
    Val v_a = l_load(g, g->t_i8, v_in, T.v_iidx, "a");
    Val v_hit = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntEQ, v_a, v_mx, ""),
                             LLVMBuildNot(g->b, l_get(g, g->t_i1, var_found, ""), ""), "hit");
    Blk b_j = l_if(g, v_hit, "route");
    Val v_old = l_load(g, g->t_i32, v_acc, T.v_iidx, "");
    l_store(g, g->t_i32, l_add(g, v_old, v_ev, ""), v_acc, T.v_iidx);
    l_set(g, var_found, LLVMConstInt(g->t_i1, 1, 0));
    l_endif(g, b_j);
    pool_taps_end(g, &T);
    pool_end(g, &T);
    deliver_acc(g, i, &d, v_acc, false, v_se);
    break;
  }
  case OP_AVGPOOL: {
    if (!need_in) break;
    Val v_acc = acc_ptr(g);
    l_zero(g, g->t_i32, v_acc, l_batch_elems(g, &m->nodes[in].out, "count"));
    PoolTap T;
    pool_begin(g, nd, &T);
    Val v_ev = l_sext(g, l_load(g, g->t_i8, v_e, T.v_oidx, "e"), g->t_i32, "");
    pool_taps(g, nd, &T);
    Val v_old = l_load(g, g->t_i32, v_acc, T.v_iidx, "");
    l_store(g, g->t_i32, l_add(g, v_old, v_ev, ""), v_acc, T.v_iidx);
    pool_taps_end(g, &T);
    pool_end(g, &T);
    deliver_acc(g, i, &d, v_acc, false, l_sub(g, v_se, l_i32(g, log2i((int64_t)nd->kh * nd->kw)), ""));
    break;
  }
  case OP_ADD:
    for (int s = 0; s < 2; s++) {
      ErrDst ds;
      if (err_dst(g, i, s, &ds)) pass_err(g, nd, &ds, v_e, v_se, v_e);
    }
    break;
  default:
    break;
  }
}

/* -------------------------------------------------------- step functions */

static Val ctx_field(Cg *g, unsigned idx, Ty t, const char *name) {
  Val v_p = LLVMBuildStructGEP2(g->b, g->t_ctx, g->v_ctx, idx, "");
  return LLVMBuildLoad2(g->b, t, v_p, name);
}

static void load_ctx(Cg *g) {
  g->v_params = ctx_field(g, CTX_PARAMS, g->t_ptr, "params");
  g->v_work = ctx_field(g, CTX_WORK, g->t_ptr, "work");
  g->v_seed = ctx_field(g, CTX_SEED, g->t_i64, "seed");
  g->v_step = ctx_field(g, CTX_STEP, g->t_i64, "step");
  g->v_n = l_sext(g, ctx_field(g, CTX_N, g->t_i32, "n32"), g->t_i64, "n");
  g->v_inexp = ctx_field(g, CTX_INEXP, g->t_i32, "in.exp");
  g->v_mu = ctx_field(g, CTX_MU, g->t_i32, "mu");
  g->v_ract = ctx_field(g, CTX_RACT, g->t_i32, "round.act");
  g->v_rerr = ctx_field(g, CTX_RERR, g->t_i32, "round.err");
  g->v_rgrad = ctx_field(g, CTX_RGRAD, g->t_i32, "round.grad");
  g->v_decay = ctx_field(g, CTX_DECAY, g->t_i32, "decay");
  g->v_train = ctx_field(g, CTX_TRAIN, g->t_i32, "train");
  g->v_exps = l_slab(g, g->v_work, g->p->exps_off, "exps");
  set_exp(g, 0, 0, g->v_inexp);
}

/* Copy logits and exponents out to the caller. */
static void publish(Cg *g) {
  Model *m = g->m;
  int o = m->output;
  Val v_lg = ctx_field(g, CTX_LOGITS, g->t_ptr, "logits");
  Val v_src = act_ptr(g, o);
  Loop L = l_for(g, l_i64(g, 0), l_mul(g, g->v_n, l_i64(g, m->classes), ""), "j");
  l_store(g, g->t_i8, l_load(g, g->t_i8, v_src, L.v_i, "a"), v_lg, L.v_i);
  l_next(g, &L);
  LLVMBuildStore(g->b, get_exp(g, o, 0, "s.logits"),
                 LLVMBuildStructGEP2(g->b, g->t_ctx, g->v_ctx, CTX_LOGITEXP, ""));
}

static void copy_exps(Cg *g) {
  Val v_dst = ctx_field(g, CTX_EXPS, g->t_ptr, "exps.out");
  Blk b_join = l_if(g, LLVMBuildIsNotNull(g->b, v_dst, ""), "exps");
  for (int i = 0; i < g->m->nnodes; i++)
    for (int w = 0; w < 2; w++)
      l_store(g, g->t_i32, get_exp(g, i, w, "s"), v_dst, l_i64(g, (int64_t)i * 2 + w));
  l_endif(g, b_join);
}

static void wide_views(Cg *g) {
  Model *m = g->m;
  if (m->recipe.weight_bits <= 8) return;
  for (int i = 0; i < m->nnodes; i++) {
    Node *nd = &m->nodes[i];
    if (nd->nweights == 0) continue;
    Val args[] = {wraw_ptr(g, nd), w8_ptr(g, nd), l_i64(g, nd->nweights), l_i32(g, m->recipe.weight_bits - 8)};
    l_call(g, g->ft_wview, g->f_wview, args, 4, "");
  }
}

static void emit_step(Cg *g, bool train) {
  Model *m = g->m;
  Ty a[] = {g->t_ptr, g->t_ptr, g->t_ptr};
  Ty ft = LLVMFunctionType(g->t_void, a, train ? 3 : 2, 0);
  l_begin_fn(g, train ? "nit_train_step" : "nit_forward", ft, true);
  g->v_ctx = l_param(g, 0, "ctx");
  g->v_x = l_param(g, 1, "x");
  g->v_y = train ? l_param(g, 2, "y") : NULL;
  load_ctx(g);
  wide_views(g);
  for (int i = 1; i < m->nnodes; i++) node_forward(g, i, train);
  publish(g);
  if (train) {
    int o = m->output;
    Val args[] = {act_ptr(g, o), get_exp(g, o, 0, "s.logits"), g->v_y, g->v_n, err_ptr(g, o),
                  g->v_rerr, v_key_for(g, NIT_TID_LOSS, "key.loss")};
    l_call(g, g->ft_loss, g->f_loss, args, 7, "");
    set_exp(g, o, 1, l_i32(g, 0));
    for (int i = m->nnodes - 1; i >= 1; i--) {
      if (!g->p->needs_err[i]) continue;
      if (g->p->gathers[i]) gather(g, i);
      node_backward(g, i);
    }
  }
  copy_exps(g);
  LLVMBuildRetVoid(g->b);
}

/* ------------------------------------------------------ model descriptor */

static NitParam *g_params; /* built once per module, see build_params */
static int g_nparams;

static const NitParam *param_of(Cg *g, const Node *nd) {
  (void)g;
  return &g_params[nd->param];
}

static void build_params(Model *m) {
  g_nparams = 0;
  for (int i = 0; i < m->nnodes; i++)
    if (m->nodes[i].nweights > 0) g_nparams++;
  g_params = calloc((size_t)g_nparams + 1, sizeof *g_params);
  if (!g_params) abort();
  int64_t off = 0;
  int esz = m->recipe.weight_bits > 8 ? 2 : 1;
  for (int i = 0; i < m->nnodes; i++) {
    Node *nd = &m->nodes[i];
    if (nd->nweights == 0) continue;
    NitParam *pp = &g_params[nd->param];
    pp->name = nd->name;
    pp->rank = nd->op == OP_CONV ? 4 : 2;
    for (int k = 0; k < 4; k++) pp->shape[k] = nd->wshape[k];
    pp->count = nd->nweights;
    pp->bits = m->recipe.weight_bits;
    pp->exp = nd->w_exp;
    pp->fan_in = nd->fan_in;
    pp->bound = nd->w_bound;
    pp->offset = off;
    off = (off + nd->nweights * esz + 63) / 64 * 64;
  }
  m->param_bytes = off;
}

static Val l_str(Cg *g, const char *s, const char *name) {
  return LLVMBuildGlobalStringPtr(g->b, s ? s : "", name);
}

static Val l_const_i32_array(Cg *g, const int32_t *v, int n) {
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
  for (int k = 0; k < len; k++) h = (h ^ (unsigned char)buf[k]) * 0x100000001b3ull;
  return h;
}

static const char *kind_name(OpKind op) {
  switch (op) {
  case OP_INPUT: return "input";
  case OP_DENSE: return "dense";
  case OP_CONV: return "conv";
  case OP_MAXPOOL: return "maxpool";
  case OP_AVGPOOL: return "avgpool";
  case OP_RELU: return "relu";
  case OP_FLATTEN: return "flatten";
  case OP_DROPOUT: return "dropout";
  case OP_ADD: return "add";
  case OP_BATCHNORM: return "batchnorm";
  case OP_L1NORM: return "l1norm";
  }
  return "?";
}

static void emit_descriptor(Cg *g, const CgTarget *t, Val f_train, Val f_fwd) {
  Model *m = g->m;
  /* Strings and arrays are built from a throwaway function's builder
   * position; LLVMBuildGlobalStringPtr needs one. */
  Ty ft = LLVMFunctionType(g->t_void, NULL, 0, 0);
  Val f_tmp = l_begin_fn(g, "nit.tmp", ft, true);

  Ty t_param = LLVMStructCreateNamed(g->ctx, "NitParam");
  Ty pf[] = {g->t_ptr, g->t_i32, LLVMArrayType(g->t_i32, 4), g->t_i64, g->t_i32, g->t_i32,
             g->t_i32, g->t_i32, g->t_i64};
  LLVMStructSetBody(t_param, pf, 9, 0);
  Val *pv = calloc((size_t)g_nparams + 1, sizeof(Val));
  for (int p = 0; p < g_nparams; p++) {
    NitParam *pp = &g_params[p];
    Val shp[4];
    for (int k = 0; k < 4; k++) shp[k] = l_i32(g, pp->shape[k]);
    Val fv[] = {l_str(g, pp->name, "param.name"), l_i32(g, pp->rank), LLVMConstArray2(g->t_i32, shp, 4),
                l_i64(g, pp->count), l_i32(g, pp->bits), l_i32(g, pp->exp), l_i32(g, pp->fan_in),
                l_i32(g, pp->bound), l_i64(g, pp->offset)};
    pv[p] = LLVMConstNamedStruct(t_param, fv, 9);
  }
  Val g_par = LLVMAddGlobal(g->mod, LLVMArrayType(t_param, (unsigned)g_nparams), "nit_params");
  LLVMSetInitializer(g_par, LLVMConstArray2(t_param, pv, (uint64_t)g_nparams));
  LLVMSetGlobalConstant(g_par, 1);
  LLVMSetLinkage(g_par, LLVMInternalLinkage);
  free(pv);

  Ty t_node = LLVMStructCreateNamed(g->ctx, "NitNode");
  Ty nf[] = {g->t_ptr, g->t_ptr, LLVMArrayType(g->t_i32, 2), LLVMArrayType(g->t_i32, 3), g->t_i32, g->t_i32,
             g->t_i64, g->t_i64};
  LLVMStructSetBody(t_node, nf, 8, 0);
  Val *nv = calloc((size_t)m->nnodes, sizeof(Val));
  for (int i = 0; i < m->nnodes; i++) {
    Node *nd = &m->nodes[i];
    Val ins[] = {l_i32(g, nd->nin > 0 ? nd->in[0] : -1), l_i32(g, nd->nin > 1 ? nd->in[1] : -1)};
    Val outs[] = {l_i32(g, nd->out.c), l_i32(g, nd->out.h), l_i32(g, nd->out.w)};
    Val fv[] = {l_str(g, nd->name, "node.name"), l_str(g, kind_name(nd->op), "node.kind"),
                LLVMConstArray2(g->t_i32, ins, 2), LLVMConstArray2(g->t_i32, outs, 3),
                l_i32(g, nd->nweights > 0 ? nd->param : -1),
                l_i32(g, nd->acc64_fwd || nd->acc64_bwd || nd->acc64_grad),
                l_i64(g, i == 0 || g->p->act_alias[i] == 0 ? -1 : g->p->act[g->p->act_alias[i]].off),
                l_i64(g, g->p->needs_err[i] ? g->p->err[g->p->err_alias[i]].off : -1)};
    nv[i] = LLVMConstNamedStruct(t_node, fv, 8);
  }
  Val g_nodes = LLVMAddGlobal(g->mod, LLVMArrayType(t_node, (unsigned)m->nnodes), "nit_nodes");
  LLVMSetInitializer(g_nodes, LLVMConstArray2(t_node, nv, (uint64_t)m->nnodes));
  LLVMSetGlobalConstant(g_nodes, 1);
  LLVMSetLinkage(g_nodes, LLVMInternalLinkage);
  free(nv);

  Recipe *r = &m->recipe;
  Ty t_rec = LLVMStructCreateNamed(g->ctx, "NitRecipe");
  Ty rf[] = {g->t_ptr, g->t_i32, g->t_i32, g->t_i64, g->t_i32, g->t_i32, g->t_i32, g->t_i32,
             LLVMArrayType(g->t_i32, NIT_MAX_SCHED), LLVMArrayType(g->t_i32, NIT_MAX_SCHED),
             g->t_i32, g->t_i32, g->t_i32};
  LLVMStructSetBody(t_rec, rf, 13, 0);
  int32_t mu[NIT_MAX_SCHED] = {0}, from[NIT_MAX_SCHED] = {0};
  for (int k = 0; k < r->nsched && k < NIT_MAX_SCHED; k++) {
    mu[k] = r->mu[k];
    from[k] = r->mu_from[k];
  }
  Val rv[] = {l_str(g, r->data, "recipe.data"), l_i32(g, r->batch), l_i32(g, r->epochs), l_u64(g, r->seed),
              l_i32(g, r->act_round), l_i32(g, r->err_round), l_i32(g, r->grad_round), l_i32(g, r->nsched),
              l_const_i32_array(g, mu, NIT_MAX_SCHED), l_const_i32_array(g, from, NIT_MAX_SCHED),
              l_i32(g, r->weight_bits), l_i32(g, r->decay), l_i32(g, r->holdout)};
  Val v_rec = LLVMConstNamedStruct(t_rec, rv, 13);

  Ty t_model = LLVMStructCreateNamed(g->ctx, "NitModel");
  Ty mf[] = {g->t_i32, g->t_ptr, g->t_i64, g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_i32,
             g->t_ptr, g->t_i64, g->t_i64, g->t_i32, g->t_ptr, t_rec, g->t_ptr, g->t_ptr, g->t_ptr,
             g->t_ptr, g->t_ptr};
  LLVMStructSetBody(t_model, mf, 20, 0);
  const Shape *is = &m->nodes[0].out;
  char compiler[64];
  snprintf(compiler, sizeof compiler, "nitc %s", NITC_VERSION);
  Val mv[] = {l_i32(g, NIT_ABI_VERSION), l_str(g, m->name, "model.name"), l_u64(g, cg_fingerprint(m)),
              l_i32(g, is->c), l_i32(g, is->h), l_i32(g, is->w), l_i32(g, m->classes), l_i32(g, r->batch),
              l_i32(g, g_nparams), g_par, l_i64(g, m->param_bytes), l_i64(g, g->p->work_bytes),
              l_i32(g, m->nnodes), g_nodes, v_rec, l_str(g, compiler, "compiler"), l_str(g, t->triple, "target"),
              l_str(g, t->cpu, "cpu"), f_train, f_fwd};
  Val g_model = LLVMAddGlobal(g->mod, t_model, "nit_model");
  LLVMSetInitializer(g_model, LLVMConstNamedStruct(t_model, mv, 20));
  LLVMSetGlobalConstant(g_model, 1);
  LLVMBuildRetVoid(g->b);
  LLVMDeleteFunction(f_tmp);
}

LLVMModuleRef cg_module(LLVMContextRef ctx, Model *m, Plan *p, const CgTarget *t) {
  Cg G = {0}, *g = &G;
  g->ctx = ctx;
  g->m = m;
  g->p = p;
  g->mod = LLVMModuleCreateWithNameInContext(m->name, ctx);
  LLVMSetTarget(g->mod, t->triple);
  g->b = LLVMCreateBuilderInContext(ctx);
  g->t_i1 = LLVMInt1TypeInContext(ctx);
  g->t_i8 = LLVMInt8TypeInContext(ctx);
  g->t_i16 = LLVMInt16TypeInContext(ctx);
  g->t_i32 = LLVMInt32TypeInContext(ctx);
  g->t_i64 = LLVMInt64TypeInContext(ctx);
  g->t_ptr = LLVMPointerTypeInContext(ctx, 0);
  g->t_void = LLVMVoidTypeInContext(ctx);
  g->t_ctx = LLVMStructCreateNamed(ctx, "NitCtx");
  Ty cf[] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i64, g->t_i32, g->t_i32, g->t_i32, g->t_i32,
             g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_ptr, g->t_i32, g->t_ptr};
  LLVMStructSetBody(g->t_ctx, cf, 15, 0);

  build_params(m);
  emit_helpers(g);
  emit_step(g, true);
  Val f_train = g->fn;
  emit_step(g, false);
  Val f_fwd = g->fn;
  emit_descriptor(g, t, f_train, f_fwd);
  LLVMDisposeBuilder(g->b);
  return g->mod;
}
