/*
 * codegen.c: the checked model and its memory plan -> one LLVM module.
 *
 * The module defines `nit_model` (runtime/nitabi.h) and two step functions:
 *   nit_train_step  forward, loss gradient, backward, update
 *   nit_forward     forward only (eval, predict)
 * Every layer's loop nest is emitted with its shapes as constants, so LLVM
 * sees constant trip counts and strides; only the batch count n is a run-time
 * value. Shape-independent pieces (the generator, shift-and-round,
 * requantization of an accumulator buffer, the weight update, the loss
 * gradient) are small internal functions emitted once per module; the
 * optimizer inlines what pays.
 *
 * Speed (docs/performance.md): every dense and conv kernel is one int8 GEMM
 * (gemm: A broadcast in place, B packed in 16-column panels, a micro-kernel
 * per target: vpdpbusd, pmaddwd, sdot, lane-wise NEON/RVV/scalar); conv
 * panels come straight from zero-padded channels-last copies of one sample;
 * the requantization's max is fused into the GEMM epilogue; rounding loops
 * are specialized per mode outside the element loop; the big loops are
 * outlined into bodies that the runtime's workers run over disjoint chunks
 * (par_for). None of this changes a bit: sums are exact, and each element is
 * rounded with its own (key, index).
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

/* The int8 GEMM micro-kernels (see "int8 GEMM" below). */
typedef enum { GK_PLAIN, GK_GENERIC, GK_LANES, GK_VNNI, GK_SDOT } GemmKind;

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
  Val f_wview, f_loss;
  Ty ft_mix, ft_key, ft_round, ft_bits, ft_sat8, ft_wview, ft_loss;
  Val f_maxabs32, f_maxabs64, f_round8_32, f_round8_64;
  Ty ft_maxabs, ft_round8;
  Val f_uplan32, f_uplan64, f_uapply32, f_uapply64;
  Ty ft_uplan, ft_uapply;
  /* step-function state, loaded once from the NitCtx */
  Val v_ctx, v_x, v_y, v_params, v_work, v_seed, v_step, v_n;
  Val v_inexp, v_mu, v_ract, v_rerr, v_rgrad, v_decay, v_train;
  Val v_exps;              /* i32* in the work slab: (nnodes, 2) */
  int gk;                  /* GemmKind of the target's int8 dot products */
  int madd_bits;           /* x86 generic kernel: pmaddwd width (128, 256, 512) */
  Ty t_env, ft_body, ft_pfor; /* par_for: {ctx, x, y}, body(env, lo, hi, worker) */
} Cg;

/* NitCtx field indices (runtime/nitabi.h). */
enum { CTX_PARAMS, CTX_WORK, CTX_SEED, CTX_STEP, CTX_N, CTX_INEXP, CTX_MU,
       CTX_RACT, CTX_RERR, CTX_RGRAD, CTX_DECAY, CTX_TRAIN, CTX_LOGITS,
       CTX_LOGITEXP, CTX_EXPS, CTX_PFOR, CTX_POOL };

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

static Val l_intrinsic(Cg *g, const char *name, Ty *ov, unsigned nov, Ty *ft) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  *ft = LLVMIntrinsicGetType(g->ctx, id, ov, nov);
  return LLVMGetIntrinsicDeclaration(g->mod, id, ov, nov);
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

/* nit_draw(key, index) of nitabi.h: 64 uniform bits of element `index`. */
static Val l_draw(Cg *g, Val v_key, Val v_idx, const char *name) {
  Val v_ctr = l_add(g, v_key, l_mul(g, l_add(g, v_idx, l_i64(g, 1), ""), l_u64(g, NIT_GOLDEN), ""), "");
  return l_call(g, g->ft_mix, g->f_mix, &v_ctr, 1, name);
}

/* Dropout's mask: element `index` is dropped iff (draw >> 56) < drop256. */
static Val l_dropped(Cg *g, Val v_key, Val v_idx, int drop256) {
  Val v_d = l_draw(g, v_key, v_idx, "draw");
  return l_icmp(g, LLVMIntULT, LLVMBuildLShr(g->b, v_d, l_i64(g, 56), ""), l_i64(g, drop256), "drop");
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
  Val v_r = LLVMBuildAnd(g->b, l_draw(g, v_key, v_idx, "draw"), v_mask, "r");
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

/* The requantization of an accumulator buffer is split in two phases, one
 * function each per accumulator width, so that both can run on slices of the
 * buffer (threads) and the rounding loop is specialized:
 *   maxabs(acc, lo, hi) -> max |acc[j]| over [lo, hi)              (i64)
 *   round8(acc, lo, hi, out, k, mode, key): out[j] = sat8(R(acc[j], k))
 * round8 picks the loop once per call: k == 0 (saturating copy), pseudo,
 * stochastic (the only one that runs the generator) or nearest; inside a
 * loop k and its masks are invariants, the arithmetic stays in the
 * accumulator's width (i32 vectorizes twice as wide), and each element is
 * rounded with its own flat index, so any slicing gives the same bytes. */
static Val emit_maxabs(Cg *g, Ty t_acc, const char *name) {
  Val f = l_begin_fn(g, name, g->ft_maxabs, true);
  Val v_acc = l_param(g, 0, "acc"), v_lo = l_param(g, 1, "lo"), v_hi = l_param(g, 2, "hi");
  Val var_max = l_var(g, t_acc, "max.var", LLVMConstNull(t_acc));
  Loop L = l_for(g, v_lo, v_hi, "j");
  Val v_v = l_load(g, t_acc, v_acc, L.v_i, "v");
  l_set(g, var_max, l_smax(g, l_get(g, t_acc, var_max, "max"), l_abs(g, v_v, "abs"), "max.new"));
  l_next(g, &L);
  LLVMBuildRet(g->b, l_sext(g, l_get(g, t_acc, var_max, "max"), g->t_i64, "max64"));
  return f;
}

/* Loop invariants of R(., k) for k >= 1, in type t. */
typedef struct RoundK {
  Ty t;
  Val v_k, v_mask, v_odd, v_h, v_lomask, v_half, v_isk1, v_mask64;
} RoundK;

static RoundK round_consts(Cg *g, Ty t, Val v_k32) {
  RoundK R;
  Val v_one = LLVMConstInt(t, 1, 0);
  R.t = t;
  R.v_k = LLVMBuildZExt(g->b, v_k32, t, "k.t");
  if (t == g->t_i32) R.v_k = v_k32;
  R.v_mask = l_sub(g, LLVMBuildShl(g->b, v_one, R.v_k, ""), v_one, "mask");
  R.v_odd = LLVMBuildAnd(g->b, R.v_k, v_one, "odd");
  R.v_h = LLVMBuildLShr(g->b, l_sub(g, R.v_k, R.v_odd, ""), v_one, "half.bits");
  R.v_lomask = l_sub(g, LLVMBuildShl(g->b, v_one, R.v_h, ""), v_one, "lo.mask");
  R.v_half = LLVMBuildShl(g->b, v_one, l_sub(g, R.v_k, v_one, ""), "half");
  R.v_isk1 = l_icmp(g, LLVMIntEQ, R.v_k, v_one, "k.is1");
  Val v_k64 = LLVMBuildZExt(g->b, v_k32, g->t_i64, "k64");
  R.v_mask64 = l_sub(g, LLVMBuildShl(g->b, l_i64(g, 1), v_k64, ""), l_i64(g, 1), "mask64");
  return R;
}

/* sat8(R(x, k)) of one element for a fixed mode and k >= 1; with sat false
 * the plain R(x, k) in the width of x (the weight update). */
static Val round_elem_sat(Cg *g, const RoundK *R, int mode, Val v_x, Val v_key, Val v_idx, bool sat) {
  Ty t = R->t;
  Val v_zero = LLVMConstNull(t), v_one = LLVMConstInt(t, 1, 0);
  Val v_a = l_abs(g, v_x, "a");
  Val v_q = LLVMBuildLShr(g->b, v_a, R->v_k, "q");
  Val v_f = LLVMBuildAnd(g->b, v_a, R->v_mask, "f");
  Val v_up;
  if (mode == NIT_ROUND_PSEUDO) {
    Val v_f2 = LLVMBuildLShr(g->b, v_f, R->v_odd, "f2");
    Val v_hi = LLVMBuildLShr(g->b, v_f2, R->v_h, "hi");
    Val v_lo = LLVMBuildAnd(g->b, v_f2, R->v_lomask, "lo");
    Val v_up_k1 = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntNE, v_f, v_zero, ""),
                               l_icmp(g, LLVMIntNE, LLVMBuildAnd(g->b, v_q, v_one, ""), v_zero, ""), "up.k1");
    v_up = l_select(g, R->v_isk1, v_up_k1, l_icmp(g, LLVMIntUGT, v_hi, v_lo, ""), "up.pseudo");
  } else if (mode == NIT_ROUND_STOCHASTIC) {
    Val v_r = LLVMBuildAnd(g->b, l_draw(g, v_key, v_idx, "draw"), R->v_mask64, "r");
    Val v_f64 = t == g->t_i64 ? v_f : LLVMBuildZExt(g->b, v_f, g->t_i64, "f64");
    v_up = l_icmp(g, LLVMIntUGT, v_f64, v_r, "up.stoch");
  } else {
    v_up = l_icmp(g, LLVMIntUGE, v_f, R->v_half, "up.near");
  }
  Val v_mag = l_add(g, v_q, LLVMBuildZExt(g->b, v_up, t, ""), "mag");
  if (sat)
    v_mag = l_select(g, l_icmp(g, LLVMIntUGT, v_mag, LLVMConstInt(t, 127, 0), ""), LLVMConstInt(t, 127, 0), v_mag, "mag.sat");
  Val v_res = l_select(g, l_icmp(g, LLVMIntSLT, v_x, v_zero, ""), LLVMBuildNeg(g->b, v_mag, ""), v_mag, "r");
  return sat ? l_trunc(g, v_res, g->t_i8, "r8") : v_res;
}

static Val round_elem(Cg *g, const RoundK *R, int mode, Val v_x, Val v_key, Val v_idx) {
  return round_elem_sat(g, R, mode, v_x, v_key, v_idx, true);
}

static Val emit_round8(Cg *g, Ty t_acc, const char *name) {
  Val f = l_begin_fn(g, name, g->ft_round8, true);
  Val v_acc = l_param(g, 0, "acc"), v_lo = l_param(g, 1, "lo"), v_hi = l_param(g, 2, "hi");
  Val v_out = l_param(g, 3, "out"), v_k = l_param(g, 4, "k"), v_mode = l_param(g, 5, "mode");
  Val v_key = l_param(g, 6, "key");
  Blk b_k0 = l_block(g, "k0"), b_kn = l_block(g, "kn"), b_done = l_block(g, "done");
  LLVMBuildCondBr(g->b, l_icmp(g, LLVMIntEQ, v_k, l_i32(g, 0), ""), b_k0, b_kn);
  /* k == 0: the value itself, saturated */
  LLVMPositionBuilderAtEnd(g->b, b_k0);
  Loop L0 = l_for(g, v_lo, v_hi, "j0");
  Val v_x0 = l_load(g, t_acc, v_acc, L0.v_i, "x");
  Val v_c = l_smax(g, l_smin(g, v_x0, LLVMConstInt(t_acc, 127, 1), ""), LLVMConstInt(t_acc, (unsigned long long)-127, 1), "");
  l_store(g, g->t_i8, l_trunc(g, v_c, g->t_i8, "sat"), v_out, L0.v_i);
  l_next(g, &L0);
  LLVMBuildBr(g->b, b_done);
  LLVMPositionBuilderAtEnd(g->b, b_kn);
  RoundK R = round_consts(g, t_acc, v_k);
  Blk b_mode[3];
  const char *mname[3] = {"pseudo", "stochastic", "nearest"};
  for (int md = 0; md < 3; md++) b_mode[md] = l_block(g, mname[md]);
  Val v_sw = LLVMBuildSwitch(g->b, v_mode, b_mode[NIT_ROUND_PSEUDO], 2);
  LLVMAddCase(v_sw, l_i32(g, NIT_ROUND_STOCHASTIC), b_mode[NIT_ROUND_STOCHASTIC]);
  LLVMAddCase(v_sw, l_i32(g, NIT_ROUND_NEAREST), b_mode[NIT_ROUND_NEAREST]);
  for (int md = 0; md < 3; md++) {
    LLVMPositionBuilderAtEnd(g->b, b_mode[md]);
    Loop L = l_for(g, v_lo, v_hi, mname[md]);
    Val v_x = l_load(g, t_acc, v_acc, L.v_i, "x");
    l_store(g, g->t_i8, round_elem(g, &R, md, v_x, v_key, L.v_i), v_out, L.v_i);
    l_next(g, &L);
    LLVMBuildBr(g->b, b_done);
  }
  LLVMPositionBuilderAtEnd(g->b, b_done);
  LLVMBuildRetVoid(g->b);
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

/* The update runs in two functions so that the element loop can be split
 * over threads:
 *   update_plan(grad, view, count, mu, decay, out) stores {k, dexp} (i32) at
 *     out: k = -1 when there is no update (b == 0 before or after decay);
 *   update_apply(w, wbits, view, grad, lo, hi, k, dexp, mode, key, decay)
 *     updates elements [lo, hi). */
static Val emit_update_plan(Cg *g, Ty t_g, const char *name) {
  Val f = l_begin_fn(g, name, g->ft_uplan, true);
  Val v_g = l_param(g, 0, "grad"), v_view = l_param(g, 1, "view"), v_cnt = l_param(g, 2, "count");
  Val v_mu = l_param(g, 3, "mu"), v_decay = l_param(g, 4, "decay"), v_out = l_param(g, 5, "out");
  l_store(g, g->t_i32, l_i32(g, -1), v_out, l_i64(g, 0));
  l_store(g, g->t_i32, l_i32(g, 0), v_out, l_i64(g, 1));
  Val margs[] = {v_g, l_i64(g, 0), v_cnt};
  Val v_max = l_call(g, g->ft_maxabs, t_g == g->t_i32 ? g->f_maxabs32 : g->f_maxabs64, margs, 3, "max");
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

static Val emit_update_apply(Cg *g, Ty t_g, const char *name) {
  Val f = l_begin_fn(g, name, g->ft_uapply, true);
  Val v_w = l_param(g, 0, "w"), v_wbits = l_param(g, 1, "wbits"), v_view = l_param(g, 2, "view");
  Val v_g = l_param(g, 3, "grad"), v_lo = l_param(g, 4, "lo"), v_hi = l_param(g, 5, "hi");
  Val v_kc = l_param(g, 6, "k"), v_dexp = l_param(g, 7, "dexp");
  Val v_mode = l_param(g, 8, "mode"), v_key = l_param(g, 9, "key"), v_decay = l_param(g, 10, "decay");
  Val v_wide = l_icmp(g, LLVMIntNE, v_wbits, l_i32(g, 8), "wide");
  Val v_lim = l_sub(g, LLVMBuildShl(g->b, l_i64(g, 1), LLVMBuildZExt(g->b, l_sub(g, v_wbits, l_i32(g, 1), ""), g->t_i64, ""), ""),
                    l_i64(g, 1), "lim");
  /* one loop per (mode, width, decay), chosen once; k == 0 keeps g32 itself.
   * Without decay the arithmetic stays in the gradient's width (i32
   * vectorizes twice as wide); the decayed gradient may need i64. */
  Val v_kc1 = l_smax(g, v_kc, l_i32(g, 1), "");
  RoundK R64 = round_consts(g, g->t_i64, v_kc1), Rg = round_consts(g, t_g, v_kc1);
  Val v_k0 = l_icmp(g, LLVMIntEQ, v_kc, l_i32(g, 0), "k.is0");
  Blk b_done = l_block(g, "u.done"), b_case[12];
  for (int c = 0; c < 12; c++) b_case[c] = l_block(g, c & 1 ? "u.w16" : "u.w8");
  Val v_case = l_add(g, l_add(g, l_mul(g, v_mode, l_i32(g, 4), ""), l_mul(g, LLVMBuildZExt(g->b, l_icmp(g, LLVMIntNE, v_decay, l_i32(g, 0), ""), g->t_i32, ""), l_i32(g, 2), ""), ""),
                     LLVMBuildZExt(g->b, v_wide, g->t_i32, ""), "case");
  Val v_sw = LLVMBuildSwitch(g->b, v_case, b_case[0], 11);
  for (int c = 1; c < 12; c++) LLVMAddCase(v_sw, l_i32(g, c), b_case[c]);
  for (int c = 0; c < 12; c++) {
    int md = c / 4;
    bool dec = (c >> 1) & 1, wide = c & 1;
    LLVMPositionBuilderAtEnd(g->b, b_case[c]);
    Loop L2 = l_for(g, v_lo, v_hi, "u");
    Val v_r;
    if (dec) {
      Val v_gd = decayed(g, t_g, v_g, v_view, L2.v_i, v_dexp, v_decay);
      v_r = l_select(g, v_k0, v_gd, round_elem_sat(g, &R64, md, v_gd, v_key, L2.v_i, false), "step");
    } else {
      Val v_gj = l_load(g, t_g, v_g, L2.v_i, "g");
      v_r = l_select(g, v_k0, v_gj, round_elem_sat(g, &Rg, md, v_gj, v_key, L2.v_i, false), "step");
      if (t_g != g->t_i64) v_r = l_sext(g, v_r, g->t_i64, "step64");
    }
    if (!wide) {
      Val v_old8 = l_sext(g, l_load(g, g->t_i8, v_w, L2.v_i, "w"), g->t_i64, "");
      Val v_new8 = l_sub(g, v_old8, v_r, "");
      l_store(g, g->t_i8, l_call(g, g->ft_sat8, g->f_sat8, &v_new8, 1, "w.new"), v_w, L2.v_i);
    } else {
      Val v_old16 = l_sext(g, l_load(g, g->t_i16, v_w, L2.v_i, "ww"), g->t_i64, "");
      Val v_new16 = l_sub(g, v_old16, v_r, "");
      v_new16 = l_smin(g, v_new16, v_lim, "");
      v_new16 = l_smax(g, v_new16, LLVMBuildNeg(g->b, v_lim, ""), "");
      l_store(g, g->t_i16, l_trunc(g, v_new16, g->t_i16, "ww.new"), v_w, L2.v_i);
    }
    l_next(g, &L2);
    LLVMBuildBr(g->b, b_done);
  }
  LLVMPositionBuilderAtEnd(g->b, b_done);
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
  Ty am[] = {g->t_ptr, g->t_i64, g->t_i64};
  g->ft_maxabs = LLVMFunctionType(g->t_i64, am, 3, 0);
  Ty a8[] = {g->t_ptr, g->t_i64, g->t_i64, g->t_ptr, g->t_i32, g->t_i32, g->t_i64};
  g->ft_round8 = LLVMFunctionType(g->t_void, a8, 7, 0);
  g->f_maxabs32 = emit_maxabs(g, g->t_i32, "nit_maxabs_i32");
  g->f_maxabs64 = emit_maxabs(g, g->t_i64, "nit_maxabs_i64");
  g->f_round8_32 = emit_round8(g, g->t_i32, "nit_round8_i32");
  g->f_round8_64 = emit_round8(g, g->t_i64, "nit_round8_i64");
  Ty ap[] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i32, g->t_i32, g->t_ptr};
  g->ft_uplan = LLVMFunctionType(g->t_void, ap, 6, 0);
  Ty aa[] = {g->t_ptr, g->t_i32, g->t_ptr, g->t_ptr, g->t_i64, g->t_i64, g->t_i32, g->t_i32, g->t_i32, g->t_i64, g->t_i32};
  g->ft_uapply = LLVMFunctionType(g->t_void, aa, 11, 0);
  g->f_uplan32 = emit_update_plan(g, g->t_i32, "nit_update_plan_i32");
  g->f_uplan64 = emit_update_plan(g, g->t_i64, "nit_update_plan_i64");
  g->f_uapply32 = emit_update_apply(g, g->t_i32, "nit_update_i32");
  g->f_uapply64 = emit_update_apply(g, g->t_i64, "nit_update_i64");
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

/* ------------------------------------------------------------ threads */

/* par_for: run a loop body over [0, count) on the runtime's workers.
 *
 * The body is outlined into an internal function
 *   void NAME.body(env, i64 lo, i64 hi, i32 worker)
 * with env = {ctx, x, y}; it reloads what it needs from the NitCtx, so the
 * emitter callback builds it exactly as it would inline (act_ptr, err_ptr,
 * w8_ptr... all work). The caller asks ctx->parallel_for to split [0, count)
 * into contiguous chunks, one per worker (worker < maxw, each worker index at
 * most once) and gets back how many workers ran; with no parallel_for (tests,
 * the diff harness) it calls the body once itself: worker 0, the whole range.
 * Each chunk writes disjoint outputs, or its own per-worker scratch that the
 * caller then combines; nothing depends on how the range was split. */
typedef void (*BodyFn)(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_worker);

static void load_ctx_fields(Cg *g);

static Val par_for(Cg *g, const char *name, Val v_count, int maxw, BodyFn fn, const void *u) {
  Cg saved = *g;
  Blk b_cur = LLVMGetInsertBlock(g->b);
  char buf[128];
  snprintf(buf, sizeof buf, "%s.body", name);
  Val f = l_begin_fn(g, buf, g->ft_body, true);
  Val v_env = l_param(g, 0, "env");
  Val v_lo = l_param(g, 1, "lo"), v_hi = l_param(g, 2, "hi"), v_wk = l_param(g, 3, "worker");
  g->v_ctx = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_env, v_env, 0, ""), "ctx");
  g->v_x = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_env, v_env, 1, ""), "x");
  g->v_y = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_env, v_env, 2, ""), "y");
  load_ctx_fields(g);
  fn(g, u, v_lo, v_hi, v_wk);
  LLVMBuildRetVoid(g->b);
  *g = saved;
  LLVMPositionBuilderAtEnd(g->b, b_cur);

  Val var_env = l_var(g, g->t_env, "env", NULL);
  LLVMBuildStore(g->b, g->v_ctx, LLVMBuildStructGEP2(g->b, g->t_env, var_env, 0, ""));
  LLVMBuildStore(g->b, g->v_x, LLVMBuildStructGEP2(g->b, g->t_env, var_env, 1, ""));
  LLVMBuildStore(g->b, g->v_y ? g->v_y : LLVMConstNull(g->t_ptr), LLVMBuildStructGEP2(g->b, g->t_env, var_env, 2, ""));
  Val v_pf = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_ctx, g->v_ctx, CTX_PFOR, ""), "pfor");
  Val var_used = l_var(g, g->t_i32, "used.var", l_i32(g, 1));
  Blk b_par = l_block(g, "par"), b_inl = l_block(g, "inline"), b_join = l_block(g, "par.join");
  LLVMBuildCondBr(g->b, LLVMBuildIsNotNull(g->b, v_pf, ""), b_par, b_inl);
  LLVMPositionBuilderAtEnd(g->b, b_par);
  Val v_pool = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_ctx, g->v_ctx, CTX_POOL, ""), "pool");
  Val pargs[] = {v_pool, f, var_env, v_count, l_i32(g, maxw)};
  l_set(g, var_used, l_call(g, g->ft_pfor, v_pf, pargs, 5, "used"));
  LLVMBuildBr(g->b, b_join);
  LLVMPositionBuilderAtEnd(g->b, b_inl);
  Val bargs[] = {var_env, l_i64(g, 0), v_count, l_i32(g, 0)};
  l_call(g, g->ft_body, f, bargs, 4, "");
  LLVMBuildBr(g->b, b_join);
  LLVMPositionBuilderAtEnd(g->b, b_join);
  return l_get(g, g->t_i32, var_used, "used");
}

/* Requantize `count` accumulators into out on the workers; returns k (i32).
 * The run-time arguments travel through the `rq` slab area (a body reloads
 * everything from the context): each chunk of RQ_CHUNK elements finds its
 * max |acc| into its worker's slot, the caller combines the maxima (exact,
 * in any order) into k, and the chunks round with it, each element with its
 * own flat index. */
#define RQ_CHUNK 8192
enum { RQ_ACC = 0, RQ_OUT = 8, RQ_COUNT = 16, RQ_KEY = 24, RQ_MODE = 32, RQ_K = 36, RQ_MAX = 64 };

static Val rq_ptr(Cg *g) { return l_slab(g, g->v_work, g->p->rq.off, "rq"); }
static Val rq_field(Cg *g, Ty t, int off, const char *name) {
  return LLVMBuildLoad2(g->b, t, l_gep(g, g->t_i8, rq_ptr(g), l_i64(g, off), ""), name);
}

static void rq_range(Cg *g, Val v_lo, Val v_hi, Val *v_elo, Val *v_ehi) {
  *v_elo = l_mul(g, v_lo, l_i64(g, RQ_CHUNK), "lo.e");
  *v_ehi = l_smin(g, l_mul(g, v_hi, l_i64(g, RQ_CHUNK), ""), rq_field(g, g->t_i64, RQ_COUNT, "count"), "hi.e");
}

static void rq_max_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  bool wide = *(const bool *)u;
  Val v_elo, v_ehi;
  rq_range(g, v_lo, v_hi, &v_elo, &v_ehi);
  Val args[] = {rq_field(g, g->t_ptr, RQ_ACC, "acc"), v_elo, v_ehi};
  Val v_max = l_call(g, g->ft_maxabs, wide ? g->f_maxabs64 : g->f_maxabs32, args, 3, "max");
  Val v_slot = l_add(g, l_i64(g, RQ_MAX), l_mul(g, LLVMBuildZExt(g->b, v_wk, g->t_i64, ""), l_i64(g, 8), ""), "");
  LLVMBuildStore(g->b, v_max, l_gep(g, g->t_i8, rq_ptr(g), v_slot, ""));
}

static void rq_round_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  bool wide = *(const bool *)u;
  (void)v_wk;
  Val v_elo, v_ehi;
  rq_range(g, v_lo, v_hi, &v_elo, &v_ehi);
  Val args[] = {rq_field(g, g->t_ptr, RQ_ACC, "acc"), v_elo, v_ehi, rq_field(g, g->t_ptr, RQ_OUT, "out"),
                rq_field(g, g->t_i32, RQ_K, "k"), rq_field(g, g->t_i32, RQ_MODE, "mode"),
                rq_field(g, g->t_i64, RQ_KEY, "key")};
  l_call(g, g->ft_round8, wide ? g->f_round8_64 : g->f_round8_32, args, 7, "");
}

/* v_fused: NULL, or the number of workers of the GEMM that produced acc,
 * whose maxima already sit in the rq slots (gemm's fused epilogue). */
static Val requant_fused(Cg *g, bool wide, Val v_acc, Val v_count, Val v_out, Val v_mode, Val v_key, Val v_fused) {
  Val v_rq = rq_ptr(g);
  LLVMBuildStore(g->b, v_acc, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_ACC), ""));
  LLVMBuildStore(g->b, v_out, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_OUT), ""));
  LLVMBuildStore(g->b, v_count, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_COUNT), ""));
  LLVMBuildStore(g->b, v_key, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_KEY), ""));
  LLVMBuildStore(g->b, v_mode, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_MODE), ""));
  Val v_chunks = LLVMBuildSDiv(g->b, l_add(g, v_count, l_i64(g, RQ_CHUNK - 1), ""), l_i64(g, RQ_CHUNK), "chunks");
  Val v_used = v_fused ? v_fused : par_for(g, "rq.max", v_chunks, g->p->maxw, rq_max_body, &wide);
  Val var_max = l_var(g, g->t_i64, "max.var", NULL);
  l_set(g, var_max, l_i64(g, 0));
  Loop Lw = l_for(g, l_i64(g, 0), LLVMBuildZExt(g->b, v_used, g->t_i64, ""), "wk");
  Val v_m = LLVMBuildLoad2(g->b, g->t_i64, l_gep(g, g->t_i8, v_rq, l_add(g, l_i64(g, RQ_MAX), l_mul(g, Lw.v_i, l_i64(g, 8), ""), ""), ""), "max.w");
  l_set(g, var_max, l_smax(g, l_get(g, g->t_i64, var_max, ""), v_m, "max"));
  l_next(g, &Lw);
  Val v_max = l_get(g, g->t_i64, var_max, "max");
  Val v_b = l_call(g, g->ft_bits, g->f_bits, &v_max, 1, "b");
  Val v_k = l_smax(g, l_sub(g, v_b, l_i32(g, 7), ""), l_i32(g, 0), "k");
  LLVMBuildStore(g->b, v_k, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_K), ""));
  par_for(g, "rq.round", v_chunks, g->p->maxw, rq_round_body, &wide);
  return v_k;
}

static Val requant(Cg *g, bool wide, Val v_acc, Val v_count, Val v_out, Val v_mode, Val v_key) {
  return requant_fused(g, wide, v_acc, v_count, v_out, v_mode, v_key, NULL);
}

/* A GEMM body's running max |C| (gemm's fused epilogue) for requant_fused:
 * start it at the top of the body, store it into the worker's rq slot at
 * the end. */
static Val fused_begin(Cg *g) {
  Ty t_v = LLVMVectorType(g->t_i32, 16);
  return l_var(g, t_v, "max.var", LLVMConstNull(t_v));
}
static void fused_end(Cg *g, Val var_max, Val v_wk) {
  Ty t_v = LLVMVectorType(g->t_i32, 16), ft;
  Ty ov[] = {t_v};
  Val f = l_intrinsic(g, "llvm.vector.reduce.smax", ov, 1, &ft);
  Val v_v = l_get(g, t_v, var_max, "max");
  Val v_m = LLVMBuildSExt(g->b, l_call(g, ft, f, &v_v, 1, "max"), g->t_i64, "max64");
  Val v_slot = l_add(g, l_i64(g, RQ_MAX), l_mul(g, LLVMBuildZExt(g->b, v_wk, g->t_i64, ""), l_i64(g, 8), ""), "");
  LLVMBuildStore(g->b, v_m, l_gep(g, g->t_i8, rq_ptr(g), v_slot, ""));
}

/* ------------------------------------------------------------- int8 GEMM */

/* Every weighted kernel is one matrix product
 *   C[m*ldc + n] (+)= sum_{k<K} A[m*lda + k] * B(n, k)
 * for m < M and the columns n of a range of panels, int8 operands, exact
 * sums. A is read in place, four bytes of k at a time, and broadcast; B is
 * packed into panels of PL = 16 columns:
 *   byte (n, k) at panel n/16, offset (k/4)*64 + (n%16)*4 + k%4,
 * one panel being ceil(K/4) * 64 bytes ("k-quad interleaved"), so one
 * 64-byte load gives four k of sixteen columns and a dot-product instruction
 * adds sixteen four-term products into sixteen i32 lanes of C's row. No
 * horizontal sums, and C's row is stored with vector stores (a masked one at
 * the last panel). Packed bytes beyond N or K are 0, so A's bytes beyond K
 * (read in the last quad) multiply zeros; conv panels built straight from
 * im2col may hold other bytes where A has zero padding.
 *
 * Micro-kernels, chosen from the target's features (GemmKind):
 *   vnni     x86 AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes,
 *            so the panels hold b ^ 0x80 = b + 128 (unsigned) and the bias
 *            comes out exactly: sum a (b + 128) - 128 sum_k a = sum a b, with
 *            sum_k A[m, k] precomputed per row (asum). Lanes never exceed
 *            K * 255 * 128 in magnitude: used while that is below 2^31.
 *   sdot     AArch64 with +dotprod: sdot, signed by signed, no bias.
 *   generic  x86 without VNNI: bytes sign-extended to words and multiplied
 *            in pairs by pmaddwd (SSE2, AVX2 or AVX-512BW, the widest the
 *            features allow) into 32 lanes of pair sums, folded to 16 once
 *            per tile. Exact: vpmaddubsw is not used, as its word sums
 *            saturate.
 *   lanes    other targets (AArch64 without dotprod, RISC-V): no shuffles at
 *            all; byte r of every i32 lane of the panel row is sign-extended
 *            in place by two shifts and multiplied by A's byte r, so the
 *            vector code is lane-wise (NEON shl/sshr/mla, RVV vsll/vsra/
 *            vmacc with +v, scalar code otherwise).
 *   plain    one dot loop per output in the accumulator's width, for sums
 *            that could leave i32 (K >= 131072) and for testing.
 * Tiles are MR rows by NP panels of accumulators (8 x 2 zmm on vnni, 4 x 1
 * elsewhere); edge rows get tiles of their exact height. */
#define PL 16 /* columns per panel */

typedef struct Gemm {
  Val v_A;                  /* (M, lda) int8 */
  int64_t lda;
  Val v_asum;               /* i32 (M): sum_k A[m, k]; vnni only */
  Val v_B;                  /* unpacked B(n, k) = B[n*sn + k*sk], or NULL: panels prebuilt */
  int64_t sn, sk;
  Val v_P;                  /* the panels */
  Val v_C;                  /* C[m*ldc + n] */
  int64_t ldc;
  Val v_M, v_N, v_K;        /* i64, run-time values allowed */
  Val v_j0, v_j1;           /* panels [j0, j1) = columns [16 j0, min(16 j1, N)) */
  Ty t_acc;                 /* element type of C */
  bool accumulate;          /* C += instead of C = */
  GemmKind kind;
  Val var_max;              /* <16 x i32> running max |C| over stored lanes, or NULL */
} Gemm;

/* The kernel for sums of up to kmax terms (a compile-time bound). */
static GemmKind gemm_kind(Cg *g, int64_t kmax) {
  if (g->gk == GK_PLAIN || kmax * 128 * 128 >= ((int64_t)1 << 31)) return GK_PLAIN;
  if (g->gk == GK_VNNI && kmax * 255 * 128 >= ((int64_t)1 << 31)) return GK_GENERIC; /* the bias would overflow */
  return g->gk;
}

static int64_t rup(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
static int64_t npanels(int64_t N) { return (N + PL - 1) / PL; }
/* bytes of the panels of an (N, K) operand */
static int64_t panel_bytes(int64_t N, int64_t K) { return npanels(N) * PL * rup(K, 4); }


static Val l_splat(Cg *g, Val v, unsigned n, const char *name) {
  Ty t = LLVMVectorType(LLVMTypeOf(v), n);
  Val v_ins = LLVMBuildInsertElement(g->b, LLVMGetUndef(t), v, l_i32(g, 0), "");
  Val zeros[64];
  for (unsigned i = 0; i < n; i++) zeros[i] = l_i32(g, 0);
  return LLVMBuildShuffleVector(g->b, v_ins, LLVMGetUndef(t), LLVMConstVector(zeros, n), name);
}

/* Lanes [lo, lo + n) of a vector, or of two concatenated (v_b non-NULL). */
static Val l_lanes(Cg *g, Val v_a, Val v_b, int lo, int n, int step, const char *name) {
  Val idx[64];
  for (int i = 0; i < n; i++) idx[i] = l_i32(g, lo + i * step);
  return LLVMBuildShuffleVector(g->b, v_a, v_b ? v_b : LLVMGetUndef(LLVMTypeOf(v_a)), LLVMConstVector(idx, n), name);
}

/* acc[l] += sum_{r<4} a_r * b[4l + r] over 16 lanes: v_a is A's i32 quad
 * (bytes a_0..a_3), v_b a <16 x i32> panel row of quads. */
static Val dot4(Cg *g, GemmKind kind, Val v_acc, Val v_a, Val v_b) {
  if (kind == GK_VNNI) {
    Ty ft;
    Val f = l_intrinsic(g, "llvm.x86.avx512.vpdpbusd.512", NULL, 0, &ft);
    Val args[] = {v_acc, v_b, l_splat(g, v_a, 16, "a.bc")}; /* unsigned panel, signed A */
    return l_call(g, ft, f, args, 3, "acc");
  }
  if (kind == GK_SDOT) {
    Ty t_q = LLVMVectorType(g->t_i32, 4), t_b16 = LLVMVectorType(g->t_i8, 16), ft;
    Ty ov[] = {t_q, t_b16};
    Val f = l_intrinsic(g, "llvm.aarch64.neon.sdot", ov, 2, &ft);
    Val v_a16 = LLVMBuildBitCast(g->b, l_splat(g, v_a, 4, ""), t_b16, "a.bc");
    Val q[4];
    for (int h = 0; h < 4; h++) {
      Val v_bq = LLVMBuildBitCast(g->b, l_lanes(g, v_b, NULL, 4 * h, 4, 1, ""), t_b16, "b.q");
      Val args[] = {l_lanes(g, v_acc, NULL, 4 * h, 4, 1, "acc.q"), v_bq, v_a16};
      q[h] = l_call(g, ft, f, args, 3, "acc.q");
    }
    Val v_lo = l_lanes(g, q[0], q[1], 0, 8, 1, ""), v_hi = l_lanes(g, q[2], q[3], 0, 8, 1, "");
    return l_lanes(g, v_lo, v_hi, 0, 16, 1, "acc");
  }
  if (kind == GK_LANES) {
    for (int r = 0; r < 4; r++) {
      Val v_br = LLVMBuildAShr(g->b, LLVMBuildShl(g->b, v_b, l_splat(g, l_i32(g, 24 - 8 * r), 16, ""), ""),
                               l_splat(g, l_i32(g, 24), 16, ""), "b.r");
      Val v_ar = LLVMBuildAShr(g->b, LLVMBuildShl(g->b, v_a, l_i32(g, 24 - 8 * r), ""), l_i32(g, 24), "a.r");
      v_acc = l_add(g, v_acc, l_mul(g, v_br, l_splat(g, v_ar, 16, ""), ""), "acc");
    }
    return v_acc;
  }
  /* x86 pmaddwd on sign-extended words: pairs of products into 32 lanes of
   * pair sums (gemm_tile folds them once after the k loop) */
  int wl = g->madd_bits / 16; /* words per pmaddwd */
  const char *name = wl == 32 ? "llvm.x86.avx512.pmaddw.d.512" : wl == 16 ? "llvm.x86.avx2.pmadd.wd" : "llvm.x86.sse2.pmadd.wd";
  Ty ft;
  Val f = l_intrinsic(g, name, NULL, 0, &ft);
  Ty t_b = LLVMVectorType(g->t_i8, 64), t_w = LLVMVectorType(g->t_i16, 64);
  Val v_aw = l_sext(g, LLVMBuildBitCast(g->b, l_splat(g, v_a, 16, ""), t_b, ""), t_w, "a.w");
  Val v_bw = l_sext(g, LLVMBuildBitCast(g->b, v_b, t_b, ""), t_w, "b.w");
  Val part[8];
  int np = 64 / wl;
  for (int h = 0; h < np; h++) {
    Val args[] = {l_lanes(g, v_aw, NULL, h * wl, wl, 1, ""), l_lanes(g, v_bw, NULL, h * wl, wl, 1, "")};
    part[h] = l_call(g, ft, f, args, 2, "madd");
  }
  for (int n = np; n > 1; n /= 2) /* concatenate the 32 pair sums */
    for (int t = 0; t < n / 2; t++) part[t] = l_lanes(g, part[2 * t], part[2 * t + 1], 0, 32 / n * 2, 1, "");
  Val v_s2 = part[0];
  return l_add(g, v_acc, v_s2, "acc"); /* 32 lanes of pair sums: gemm_tile folds them */
}

/* Byte (n, k) of the panels sits at panel_col(n) + panel_k(k). */
static Val panel_col(Cg *g, Val v_n, Val v_ps) {
  return l_add(g, l_mul(g, LLVMBuildAShr(g->b, v_n, l_i64(g, 4), ""), v_ps, ""),
               l_mul(g, LLVMBuildAnd(g->b, v_n, l_i64(g, 15), ""), l_i64(g, 4), ""), "p.col");
}
static Val panel_k(Cg *g, Val v_k) {
  return l_add(g, l_mul(g, LLVMBuildAShr(g->b, v_k, l_i64(g, 2), ""), l_i64(g, 64), ""), LLVMBuildAnd(g->b, v_k, l_i64(g, 3), ""), "p.k");
}

/* Bytes (n, k) of B for n in [n0, n1), k in [k0, K) into their panels. */
static void pack_bytes(Cg *g, const Gemm *G, Val v_n0, Val v_n1, Val v_k0, Val v_ps, Val v_bias) {
  Loop Lk = l_for(g, v_k0, G->v_K, "pk");
  Val v_ko = panel_k(g, Lk.v_i);
  Val v_src = l_gep(g, g->t_i8, G->v_B, l_mul(g, Lk.v_i, l_i64(g, G->sk), ""), "b.k");
  Loop Ln = l_for(g, v_n0, v_n1, "pn");
  Val v_v = l_load(g, g->t_i8, v_src, l_mul(g, Ln.v_i, l_i64(g, G->sn), ""), "b");
  Val v_o = l_add(g, panel_col(g, Ln.v_i, v_ps), v_ko, "");
  l_store(g, g->t_i8, LLVMBuildXor(g->b, v_v, v_bias, ""), G->v_P, v_o);
  l_next(g, &Ln);
  l_next(g, &Lk);
}

/* Pack B's columns of panels [j0, j1) (see above). */
static void pack_panels(Cg *g, const Gemm *G) {
  Val v_kq = LLVMBuildAShr(g->b, l_add(g, G->v_K, l_i64(g, 3), ""), l_i64(g, 2), "kq");
  Val v_ps = l_mul(g, v_kq, l_i64(g, 64), "ps");
  Val v_dst0 = l_gep(g, g->t_i8, G->v_P, l_mul(g, G->v_j0, v_ps, ""), "pan");
  LLVMBuildMemSet(g->b, v_dst0, LLVMConstNull(g->t_i8), l_mul(g, l_sub(g, G->v_j1, G->v_j0, ""), v_ps, ""), 64);
  Val v_n0 = l_mul(g, G->v_j0, l_i64(g, PL), "n0");
  Val v_n1 = l_smin(g, l_mul(g, G->v_j1, l_i64(g, PL), ""), G->v_N, "n1");
  Val v_bias = LLVMConstInt(g->t_i8, G->kind == GK_VNNI ? 0x80 : 0, 0);
  if (G->sk == 1) {
    /* rows of B are contiguous along k: whole quads as i32, then the tail */
    Val v_bias32 = l_i32(g, G->kind == GK_VNNI ? (int64_t)0x80808080 : 0);
    Loop Ln = l_for(g, v_n0, v_n1, "pn");
    Val v_src = l_gep(g, g->t_i8, G->v_B, l_mul(g, Ln.v_i, l_i64(g, G->sn), ""), "b.row");
    Val v_dst = l_gep(g, g->t_i8, G->v_P, panel_col(g, Ln.v_i, v_ps), "p.col");
    Val v_kf = LLVMBuildAShr(g->b, G->v_K, l_i64(g, 2), "kfull");
    Loop Lq = l_for(g, l_i64(g, 0), v_kf, "pq");
    Val v_w = LLVMBuildLoad2(g->b, g->t_i32, l_gep(g, g->t_i8, v_src, l_mul(g, Lq.v_i, l_i64(g, 4), ""), ""), "quad");
    LLVMSetAlignment(v_w, 1);
    Val v_st = LLVMBuildStore(g->b, LLVMBuildXor(g->b, v_w, v_bias32, ""), l_gep(g, g->t_i8, v_dst, l_mul(g, Lq.v_i, l_i64(g, 64), ""), ""));
    LLVMSetAlignment(v_st, 4);
    l_next(g, &Lq);
    Loop Lt = l_for(g, l_mul(g, v_kf, l_i64(g, 4), ""), G->v_K, "pt");
    Val v_v = l_load(g, g->t_i8, v_src, Lt.v_i, "b");
    Val v_o = panel_k(g, Lt.v_i);
    l_store(g, g->t_i8, LLVMBuildXor(g->b, v_v, v_bias, ""), v_dst, v_o);
    l_next(g, &Lt);
    l_next(g, &Ln);
    return;
  }
  if (G->sn == 1) {
    /* columns contiguous: for each whole panel and quad of k, four 16-byte
     * rows interleave byte by byte into one 64-byte quad row */
    Ty t_16 = LLVMVectorType(g->t_i8, 16);
    Val idx[64], bias64[64];
    for (int l = 0; l < 16; l++)
      for (int r = 0; r < 4; r++) idx[l * 4 + r] = l_i32(g, r * 16 + l);
    for (int t = 0; t < 64; t++) bias64[t] = v_bias;
    Val v_jf = l_smin(g, G->v_j1, LLVMBuildSDiv(g->b, G->v_N, l_i64(g, PL), ""), "j.full");
    Val v_kf = LLVMBuildAShr(g->b, G->v_K, l_i64(g, 2), "kfull");
    Loop Lj = l_for(g, G->v_j0, v_jf, "pj");
    Loop Lq = l_for(g, l_i64(g, 0), v_kf, "pq");
    Val v_r[4];
    for (int r = 0; r < 4; r++) {
      Val v_at = l_add(g, l_mul(g, l_add(g, l_mul(g, Lq.v_i, l_i64(g, 4), ""), l_i64(g, r), ""), l_i64(g, G->sk), ""),
                       l_mul(g, Lj.v_i, l_i64(g, PL), ""), "");
      v_r[r] = LLVMBuildLoad2(g->b, t_16, l_gep(g, g->t_i8, G->v_B, v_at, ""), "b.k");
      LLVMSetAlignment(v_r[r], 1);
    }
    Val v_01 = l_lanes(g, v_r[0], v_r[1], 0, 32, 1, ""), v_23 = l_lanes(g, v_r[2], v_r[3], 0, 32, 1, "");
    Val v_q = LLVMBuildShuffleVector(g->b, v_01, v_23, LLVMConstVector(idx, 64), "quad.row");
    v_q = LLVMBuildXor(g->b, v_q, LLVMConstVector(bias64, 64), "");
    Val v_st = LLVMBuildStore(g->b, v_q, l_gep(g, g->t_i8, G->v_P, l_add(g, l_mul(g, Lj.v_i, v_ps, ""), l_mul(g, Lq.v_i, l_i64(g, 64), ""), ""), ""));
    LLVMSetAlignment(v_st, 4);
    l_next(g, &Lq);
    l_next(g, &Lj);
    /* the rest byte by byte: the tail of k of those panels, then the others */
    Val v_nf = l_mul(g, l_smax(g, v_jf, G->v_j0, ""), l_i64(g, PL), "n.full");
    pack_bytes(g, G, v_n0, l_smin(g, v_nf, v_n1, ""), l_mul(g, v_kf, l_i64(g, 4), ""), v_ps, v_bias);
    pack_bytes(g, G, l_smax(g, v_nf, v_n0, ""), v_n1, l_i64(g, 0), v_ps, v_bias);
    return;
  }
  pack_bytes(g, G, v_n0, v_n1, l_i64(g, 0), v_ps, v_bias);
}

/* dst[r] = sum_{k<K} A[r*lda + k] (i32) for r < rows: the bias correction of
 * the vnni kernel. */
static void row_sums(Cg *g, Val v_A, int64_t lda, Val v_rows, Val v_K, Val v_dst) {
  Loop Lr = l_for(g, l_i64(g, 0), v_rows, "rs");
  Val var = l_var(g, g->t_i32, "rsum.var", NULL);
  l_set(g, var, l_i32(g, 0));
  Val v_row = l_mul(g, Lr.v_i, l_i64(g, lda), "");
  Loop Lk = l_for(g, l_i64(g, 0), v_K, "rk");
  Val v_v = l_sext(g, l_load(g, g->t_i8, v_A, l_add(g, v_row, Lk.v_i, ""), "a"), g->t_i32, "");
  l_set(g, var, l_add(g, l_get(g, g->t_i32, var, ""), v_v, "rsum"));
  l_next(g, &Lk);
  l_store(g, g->t_i32, l_get(g, g->t_i32, var, "rsum"), v_dst, Lr.v_i);
  l_next(g, &Lr);
}

/* The B(V) reduction fused into the epilogue: var_max = max(var_max, |sum|)
 * lane-wise, over the lanes stored (v_mask NULL: all). Sums stay below
 * 2^31 in magnitude (gemm_kind), so |sum| cannot overflow. */
static void track_max(Cg *g, const Gemm *G, Val v_sum, Val v_mask) {
  Ty t_v = LLVMVectorType(g->t_i32, PL);
  Val v_abs = l_abs(g, v_sum, "abs");
  if (v_mask) v_abs = l_select(g, v_mask, v_abs, LLVMConstNull(t_v), "abs.m");
  l_set(g, G->var_max, l_smax(g, l_get(g, t_v, G->var_max, "max"), v_abs, "max.new"));
}

/* Store (or add) 16 i32 lanes at C[row + n0 ..], only lanes n0 + l < N. */
static void store_lanes(Cg *g, const Gemm *G, Val v_sum, Val v_idx, Val v_n0) {
  Ty t_c = LLVMVectorType(G->t_acc, PL);
  unsigned al = G->t_acc == g->t_i32 ? 4 : 8;
  Val v_v = G->t_acc == g->t_i32 ? v_sum : l_sext(g, v_sum, t_c, "sum.w");
  Val v_ptr = l_gep(g, G->t_acc, G->v_C, v_idx, "c");
  Val v_full = l_icmp(g, LLVMIntSLE, l_add(g, v_n0, l_i64(g, PL), ""), G->v_N, "full");
  Blk b_full = l_block(g, "st.full"), b_part = l_block(g, "st.part"), b_join = l_block(g, "st.join");
  LLVMBuildCondBr(g->b, v_full, b_full, b_part);
  LLVMPositionBuilderAtEnd(g->b, b_full);
  Val v_out = v_v;
  if (G->accumulate) {
    Val v_old = LLVMBuildLoad2(g->b, t_c, v_ptr, "c.old");
    LLVMSetAlignment(v_old, al);
    v_out = l_add(g, v_old, v_v, "c.new");
  }
  LLVMSetAlignment(LLVMBuildStore(g->b, v_out, v_ptr), al);
  if (G->var_max) track_max(g, G, v_sum, NULL);
  LLVMBuildBr(g->b, b_join);
  LLVMPositionBuilderAtEnd(g->b, b_part);
  Val v_left = l_trunc(g, l_sub(g, G->v_N, v_n0, ""), g->t_i32, "left");
  Val lanes[PL];
  for (int l = 0; l < PL; l++) lanes[l] = l_i32(g, l);
  Val v_mask = l_icmp(g, LLVMIntSLT, LLVMConstVector(lanes, PL), l_splat(g, v_left, PL, ""), "mask");
  if (G->var_max) track_max(g, G, v_sum, v_mask);
  Ty ov_ld[] = {t_c, g->t_ptr}, ft_ld, ft_st;
  Val f_ld = l_intrinsic(g, "llvm.masked.load", ov_ld, 2, &ft_ld);
  Val f_st = l_intrinsic(g, "llvm.masked.store", ov_ld, 2, &ft_st);
  v_out = v_v;
  if (G->accumulate) {
    Val args[] = {v_ptr, l_i32(g, al), v_mask, LLVMConstNull(t_c)};
    v_out = l_add(g, l_call(g, ft_ld, f_ld, args, 4, "c.old"), v_v, "c.new");
  }
  Val sargs[] = {v_out, v_ptr, l_i32(g, al), v_mask};
  l_call(g, ft_st, f_st, sargs, 4, "");
  LLVMBuildBr(g->b, b_join);
  LLVMPositionBuilderAtEnd(g->b, b_join);
}

/* One tile: rows [m0, m0 + mr) by panels [j, j + np). */
static void gemm_tile(Cg *g, const Gemm *G, Val v_m0, int mr, Val v_j, int np, Val v_ps) {
  Ty t_v = LLVMVectorType(g->t_i32, 16);
  /* generic: 32 lanes of pair sums, folded to 16 once, after the k loop */
  Ty t_a = G->kind == GK_GENERIC ? LLVMVectorType(g->t_i32, 32) : t_v;
  Val var_acc[8][2], v_arow[8], v_pan[2];
  for (int r = 0; r < mr; r++) {
    v_arow[r] = l_gep(g, g->t_i8, G->v_A, l_mul(g, l_add(g, v_m0, l_i64(g, r), ""), l_i64(g, G->lda), ""), "a.row");
    for (int p = 0; p < np; p++) var_acc[r][p] = l_var(g, t_a, "acc.var", LLVMConstNull(t_a));
  }
  for (int p = 0; p < np; p++)
    v_pan[p] = l_gep(g, g->t_i8, G->v_P, l_mul(g, l_add(g, v_j, l_i64(g, p), ""), v_ps, ""), "pan");
  Val v_kf = LLVMBuildAShr(g->b, G->v_K, l_i64(g, 2), "kfull");
  Val v_tail = LLVMBuildAnd(g->b, G->v_K, l_i64(g, 3), "ktail");
  /* the full quads, then one quad of 1..3 bytes of A (its other bytes 0) */
  for (int part = 0; part < 2; part++) {
    Loop Lq;
    Blk b_join = NULL;
    Val v_q;
    if (part == 0) {
      Lq = l_for(g, l_i64(g, 0), v_kf, "kq");
      v_q = Lq.v_i;
    } else {
      b_join = l_if(g, l_icmp(g, LLVMIntNE, v_tail, l_i64(g, 0), ""), "ktail");
      v_q = v_kf;
    }
    Val v_off = l_mul(g, v_q, l_i64(g, 4), "koff");
    Val v_bv[2];
    for (int p = 0; p < np; p++) {
      Val v_l = LLVMBuildLoad2(g->b, t_v, l_gep(g, g->t_i8, v_pan[p], l_mul(g, v_q, l_i64(g, 64), ""), ""), "b.v");
      LLVMSetAlignment(v_l, 4);
      v_bv[p] = v_l;
    }
    for (int r = 0; r < mr; r++) {
      Val v_a;
      if (part == 0) {
        v_a = LLVMBuildLoad2(g->b, g->t_i32, l_gep(g, g->t_i8, v_arow[r], v_off, ""), "a.q");
        LLVMSetAlignment(v_a, 1);
      } else {
        v_a = l_i32(g, 0);
        for (int t = 0; t < 3; t++) { /* in-bounds index; bytes past K are 0 */
          Val v_t = l_smin(g, l_i64(g, t), l_sub(g, v_tail, l_i64(g, 1), ""), "");
          Val v_byte = LLVMBuildZExt(g->b, l_load(g, g->t_i8, v_arow[r], l_add(g, v_off, v_t, ""), "a.t"), g->t_i32, "");
          v_byte = l_select(g, l_icmp(g, LLVMIntSLT, l_i64(g, t), v_tail, ""), v_byte, l_i32(g, 0), "");
          v_a = LLVMBuildOr(g->b, v_a, LLVMBuildShl(g->b, v_byte, l_i32(g, 8 * t), ""), "a.q");
        }
      }
      for (int p = 0; p < np; p++)
        l_set(g, var_acc[r][p], dot4(g, G->kind, l_get(g, t_a, var_acc[r][p], ""), v_a, v_bv[p]));
    }
    if (part == 0) l_next(g, &Lq);
    else l_endif(g, b_join);
  }
  for (int r = 0; r < mr; r++) {
    Val v_m = l_add(g, v_m0, l_i64(g, r), "m");
    Val v_corr = NULL;
    if (G->kind == GK_VNNI)
      v_corr = l_splat(g, LLVMBuildShl(g->b, l_load(g, g->t_i32, G->v_asum, v_m, "asum"), l_i32(g, 7), ""), 16, "corr");
    for (int p = 0; p < np; p++) {
      Val v_sum = l_get(g, t_a, var_acc[r][p], "sum");
      if (G->kind == GK_GENERIC)
        v_sum = l_add(g, l_lanes(g, v_sum, NULL, 0, 16, 2, ""), l_lanes(g, v_sum, NULL, 1, 16, 2, ""), "sum");
      if (v_corr) v_sum = l_sub(g, v_sum, v_corr, "dot");
      Val v_n0 = l_mul(g, l_add(g, v_j, l_i64(g, p), ""), l_i64(g, PL), "n0");
      store_lanes(g, G, v_sum, l_add(g, l_mul(g, v_m, l_i64(g, G->ldc), ""), v_n0, ""), v_n0);
    }
  }
}

/* Rows in tiles of MR, then the 0..MR-1 rows left in tiles of MR/2, ..., 2,
 * 1 rows (one per set bit of the remainder) for np panels at j. */
static void gemm_rows(Cg *g, const Gemm *G, Val v_j, int np, Val v_ps, int MR) {
  Val v_mfull = l_mul(g, LLVMBuildSDiv(g->b, G->v_M, l_i64(g, MR), ""), l_i64(g, MR), "mfull");
  Loop Lm = l_for(g, l_i64(g, 0), LLVMBuildSDiv(g->b, G->v_M, l_i64(g, MR), ""), "tm");
  gemm_tile(g, G, l_mul(g, Lm.v_i, l_i64(g, MR), "m0"), MR, v_j, np, v_ps);
  l_next(g, &Lm);
  Val v_rem = l_sub(g, G->v_M, v_mfull, "m.rem");
  for (int h = MR / 2; h >= 1; h /= 2) {
    Blk b_join = l_if(g, l_icmp(g, LLVMIntNE, LLVMBuildAnd(g->b, v_rem, l_i64(g, h), ""), l_i64(g, 0), ""), "tm.rem");
    Val v_m0 = l_add(g, v_mfull, LLVMBuildAnd(g->b, v_rem, l_i64(g, (MR - 1) & ~(2 * h - 1)), ""), "m0");
    gemm_tile(g, G, v_m0, h, v_j, np, v_ps);
    l_endif(g, b_join);
  }
}

static void gemm(Cg *g, const Gemm *G) {
  if (G->kind == GK_PLAIN) {
    Ty t = G->t_acc;
    Val v_n0 = l_mul(g, G->v_j0, l_i64(g, PL), "n0");
    Val v_n1 = l_smin(g, l_mul(g, G->v_j1, l_i64(g, PL), ""), G->v_N, "n1");
    Loop Lm = l_for(g, l_i64(g, 0), G->v_M, "gm");
    Loop Ln = l_for(g, v_n0, v_n1, "gn");
    Val v_ar = l_mul(g, Lm.v_i, l_i64(g, G->lda), "arow"), v_br = l_mul(g, Ln.v_i, l_i64(g, G->sn), "brow");
    Val var = l_var(g, t, "dot.var", NULL);
    l_set(g, var, LLVMConstNull(t));
    Loop Lk = l_for(g, l_i64(g, 0), G->v_K, "gk");
    Val v_a = l_sext(g, l_load(g, g->t_i8, G->v_A, l_add(g, v_ar, Lk.v_i, ""), "a"), t, "");
    Val v_b = l_sext(g, l_load(g, g->t_i8, G->v_B, l_add(g, v_br, l_mul(g, Lk.v_i, l_i64(g, G->sk), ""), ""), "b"), t, "");
    l_set(g, var, l_add(g, l_get(g, t, var, ""), l_mul(g, v_a, v_b, ""), "dot"));
    l_next(g, &Lk);
    Val v_idx = l_add(g, l_mul(g, Lm.v_i, l_i64(g, G->ldc), ""), Ln.v_i, "cidx");
    Val v_v = l_get(g, t, var, "dot");
    if (G->accumulate) v_v = l_add(g, l_load(g, t, G->v_C, v_idx, "c.old"), v_v, "c.new");
    l_store(g, t, v_v, G->v_C, v_idx);

    l_next(g, &Ln);
    l_next(g, &Lm);
    return;
  }
  if (G->v_B) pack_panels(g, G);
  Val v_ps = l_mul(g, LLVMBuildAShr(g->b, l_add(g, G->v_K, l_i64(g, 3), ""), l_i64(g, 2), ""), l_i64(g, 64), "ps");
  int MR = G->kind == GK_VNNI ? 8 : G->kind == GK_GENERIC ? 2 : 4, NP = G->kind == GK_VNNI ? 2 : 1;
  Val v_np = l_sub(g, G->v_j1, G->v_j0, "np");
  Loop Lj = l_for(g, l_i64(g, 0), LLVMBuildSDiv(g->b, v_np, l_i64(g, NP), ""), "tj");
  gemm_rows(g, G, l_add(g, G->v_j0, l_mul(g, Lj.v_i, l_i64(g, NP), ""), "j"), NP, v_ps, MR);
  l_next(g, &Lj);
  if (NP == 2) {
    Blk b_join = l_if(g, l_icmp(g, LLVMIntNE, LLVMBuildAnd(g->b, v_np, l_i64(g, 1), ""), l_i64(g, 0), ""), "tj1");
    gemm_rows(g, G, l_sub(g, G->v_j1, l_i64(g, 1), "j"), 1, v_ps, MR);
    l_endif(g, b_join);
  }
}

/* Where row sums of weight operands go: the gradient scratch, which is free
 * from the start of a layer's forward or backward pass until its weight
 * gradient is computed (after the input error). */
static Val wsum_ptr(Cg *g) { return l_slab(g, g->v_work, g->p->grad.off, "wsum"); }
/* Row sums of data operands (dense layers), computed before the workers start. */
static Val rsum_ptr(Cg *g) { return l_slab(g, g->v_work, g->p->rsum.off, "rsum"); }

/* Transpose a (rows, cols) int8 matrix into dst with row stride ldd:
 * dst[c*ldd + r] = src[r*cols + c] for r < rows (run time), c < cols. */
static void l_transpose(Cg *g, Val v_src, Val v_rows, int64_t cols, Val v_dst, int64_t ldd) {
  Loop Lr = l_for(g, l_i64(g, 0), v_rows, "tr");
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, cols), "tc");
  Val v_v = l_load(g, g->t_i8, v_src, l_add(g, l_mul(g, Lr.v_i, l_i64(g, cols), ""), Lc.v_i, ""), "v");
  l_store(g, g->t_i8, v_v, v_dst, l_add(g, l_mul(g, Lc.v_i, l_i64(g, ldd), ""), Lr.v_i, ""));
  l_next(g, &Lc);
  l_next(g, &Lr);
}

static Val pack_ptr(Cg *g) { return l_slab(g, g->v_work, g->p->pack.off, "pack"); }

/* What a par_for body of a layer kernel needs (compile-time data only:
 * run-time values are reloaded inside the body). */
typedef struct KArgs {
  const Node *nd;
  int i;                 /* node index */
  Ty t_acc;              /* accumulator (or gradient) type */
  bool fuse;             /* the body stores its max |C| for requant_fused */
} KArgs;

/* Dense layers: workers take ranges of panels (16 outputs each) and pack
 * their own panels of the B operand.
 *   forward       acc[b, o] = sum_i x[b, i] w[o, i]    A = x,   B(o, i) = w
 *   input error   e32[b, i] = sum_o e[b, o] w[o, i]    A = e,   B(i, o) = w^T
 *   weight grad   g32[o, i] = sum_b e[b, o] x[b, i]    A = e^T, B(i, b) = x^T */
static Gemm dense_gemm(Cg *g, const KArgs *k, int which, Val v_lo, Val v_hi) {
  const Node *nd = k->nd;
  int64_t I = nd->wshape[1], O = nd->wshape[0], Bc = g->m->recipe.batch;
  Gemm G = {0};
  G.t_acc = k->t_acc;
  G.v_j0 = v_lo, G.v_j1 = v_hi;
  G.v_asum = rsum_ptr(g);
  if (which == 0) {
    G.v_A = act_ptr(g, nd->in[0]), G.lda = I, G.v_B = w8_ptr(g, nd), G.sn = I, G.sk = 1;
    G.v_C = acc_ptr(g), G.ldc = O, G.v_M = g->v_n, G.v_N = l_i64(g, O), G.v_K = l_i64(g, I);
    G.v_P = pack_ptr(g), G.kind = gemm_kind(g, I);
  } else if (which == 1) {
    G.v_A = err_ptr(g, k->i), G.lda = O, G.v_B = w8_ptr(g, nd), G.sn = 1, G.sk = I;
    G.v_C = acc_ptr(g), G.ldc = I, G.v_M = g->v_n, G.v_N = l_i64(g, I), G.v_K = l_i64(g, O);
    G.v_P = pack_ptr(g), G.kind = gemm_kind(g, O);
  } else {
    G.v_A = pack_ptr(g), G.lda = Bc, G.v_B = act_ptr(g, nd->in[0]), G.sn = 1, G.sk = I;
    G.v_C = grad_ptr(g), G.ldc = I, G.v_M = l_i64(g, O), G.v_N = l_i64(g, I), G.v_K = g->v_n;
    G.v_P = l_slab(g, g->v_work, g->p->pack.off + rup(O * Bc, 64), "xT.pan"), G.kind = gemm_kind(g, Bc);
  }
  return G;
}

static void dense_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk, int which) {
  const KArgs *k = u;
  Gemm G = dense_gemm(g, k, which, v_lo, v_hi);
  if (k->fuse) G.var_max = fused_begin(g);
  gemm(g, &G);
  if (k->fuse) fused_end(g, G.var_max, v_wk);
}
static void dense_forward_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) { dense_body(g, u, v_lo, v_hi, v_wk, 0); }
static void dense_input_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) { dense_body(g, u, v_lo, v_hi, v_wk, 1); }
static void dense_weight_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) { dense_body(g, u, v_lo, v_hi, v_wk, 2); }

/* Returns the workers that ran, when they left their max |C| for
 * requant_fused (forward and input error on a panel kernel), else NULL. */
static Val dense_kernel(Cg *g, int i, Ty t_acc, int which, BodyFn body) {
  const Node *nd = &g->m->nodes[i];
  int64_t O = nd->wshape[0], Bc = g->m->recipe.batch;
  KArgs k = {nd, i, t_acc, false};
  if (which == 2) l_transpose(g, err_ptr(g, i), g->v_n, O, pack_ptr(g), Bc); /* e^T (O, B) */
  Gemm G = dense_gemm(g, &k, which, l_i64(g, 0), l_i64(g, 0));
  k.fuse = which < 2 && G.kind != GK_PLAIN;
  if (G.kind == GK_VNNI) row_sums(g, G.v_A, G.lda, G.v_M, G.v_K, rsum_ptr(g));
  Val v_used = par_for(g, nd->name, l_i64(g, npanels(which == 0 ? O : nd->wshape[1])), g->p->maxw, body, &k);
  return k.fuse ? v_used : NULL;
}

static Val dense_forward(Cg *g, int i, Ty t_acc) { return dense_kernel(g, i, t_acc, 0, dense_forward_body); }
static Val dense_backward_input(Cg *g, int i, Ty t_acc) { return dense_kernel(g, i, t_acc, 1, dense_input_body); }
static void dense_backward_weight(Cg *g, int i, Ty t_g) { dense_kernel(g, i, t_g, 2, dense_weight_body); }

static Val in_coord(Cg *g, Val v_out, int s, int p, Val v_tap, const char *name) {
  return l_add(g, l_sub(g, l_mul(g, v_out, l_i64(g, s), ""), l_i64(g, p), ""), v_tap, name);
}
static Val in_range(Cg *g, Val v, int64_t hi) {
  return LLVMBuildAnd(g->b, l_icmp(g, LLVMIntSGE, v, l_i64(g, 0), ""),
                      l_icmp(g, LLVMIntSLT, v, l_i64(g, hi), ""), "");
}

/* Convolutions as one GEMM per sample and group, the B operand built in the
 * worker's scratch (only one sample's worth at a time; workers take whole
 * samples):
 *   forward   C = acc[b, g*Og + o, p] = sum_k wf[g*Og + o, k] col[p, k]:
 *             A = wf, the weights reordered to k = (ky, kx, c) with each ky
 *             segment of KW*Cg bytes padded with zeros to a multiple of 4;
 *             B(p, k) = x[b, g*Cg + c, oy*sh - ph + ky, ox*sw - pw + kx]
 *             (0 in the padding), written straight into panels: a segment
 *             is whole 4-byte words of a channels-last, zero-bordered copy
 *             of the sample (the bytes read past a segment meet A's zeros)
 *   input     C = e32[b, g*Cg + c, q] = sum_k' wr[g, c, k'] ecol[q, k'] for
 *             q = (iy, ix), k' = (ky, t = KW-1-kx, o) likewise padded per ky,
 *             ecol[q, k'] = e[b, g*Og + o, oy, ox] where iy = oy*sh - ph + ky
 *             (0 where no such oy exists): every e32 element is written
 *             once, by one worker, without scatter. Stride 1 reads whole
 *             words of a channels-last copy of the error padded by KH-1-ph;
 *             other strides build ecol byte by byte and pack it
 *   weights   C = part[g, k, o] += sum_p colT[k, p] e[b, g*Og + o, p]:
 *             A = colT, the transposed im2col in the weights' (c, ky, kx)
 *             order, B(o, p) = e packed; each worker sums into its own
 *             partial gradient, transposed back when the partials are added. */
typedef struct ConvDims {
  int64_t O, Cg, KH, KW, Og, G, IC, IH, IW, OH, OW, P, Kc, Ke;
} ConvDims;

static ConvDims conv_dims(Cg *g, const Node *nd) {
  const Shape *is = &g->m->nodes[nd->in[0]].out, *os = &nd->out;
  ConvDims d;
  d.O = nd->wshape[0];
  d.Cg = nd->wshape[1];
  d.KH = nd->kh;
  d.KW = nd->kw;
  d.G = nd->groups;
  d.Og = d.O / d.G;
  d.IC = is->c, d.IH = is->h, d.IW = is->w, d.OH = os->h, d.OW = os->w;
  d.P = d.OH * d.OW;
  d.Kc = d.Cg * d.KH * d.KW;
  d.Ke = d.Og * d.KH * d.KW;
  return d;
}

/* This worker's scratch slice of plan->col. */
static Val col_ptr(Cg *g, Val v_wk) {
  Val v_off = l_add(g, l_i64(g, g->p->col.off), l_mul(g, LLVMBuildZExt(g->b, v_wk, g->t_i64, ""),
                                                      l_i64(g, g->p->col_bytes), ""), "");
  return l_gep(g, g->t_i8, g->v_work, v_off, "col");
}

/* The padded copy of this worker's slice: `bytes` near its end, followed by
 * at least 64 bytes of slack (whole-word reads may run past the copy). */
static Val pad_ptr(Cg *g, Val v_col, int64_t bytes) {
  int64_t off = g->p->col_bytes - (bytes + 64 + 63) / 64 * 64;
  return l_gep(g, g->t_i8, v_col, l_i64(g, off), "pad");
}

/* dst (C, H + 2 py, W + 2 px) = channels [c0, c0 + C) of sample b of a
 * (n, Ctot, H, W) tensor, with a zero border: the im2col loops below then
 * read every tap without a bounds test. */

static void pad_copy(Cg *g, Val v_src, Val v_b, Val v_c0, int64_t Ctot, int64_t C, int64_t H, int64_t W,
                     int64_t py, int64_t px, Val v_dst) {
  int64_t PH = H + 2 * py, PW = W + 2 * px;
  LLVMBuildMemSet(g->b, v_dst, LLVMConstNull(g->t_i8), l_i64(g, C * PH * PW), 1);
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "pc");
  Val v_plane = l_mul(g, l_add(g, l_mul(g, v_b, l_i64(g, Ctot), ""), l_add(g, v_c0, Lc.v_i, ""), ""), l_i64(g, H * W), "");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, H), "py");
  Val v_s = l_gep(g, g->t_i8, v_src, l_add(g, v_plane, l_mul(g, Ly.v_i, l_i64(g, W), ""), ""), "src.row");
  Val v_d = l_gep(g, g->t_i8, v_dst, l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, PH), ""), Ly.v_i, ""), l_i64(g, PW), ""),
                                          l_i64(g, py * PW + px), ""), "dst.row");
  LLVMBuildMemCpy(g->b, v_d, 1, v_s, 1, l_i64(g, W));
  l_next(g, &Ly);
  l_next(g, &Lc);
}

/* Rows of a conv GEMM's B operand: row r at v_dst + r*kp, ky segments of
 * segp bytes (segments padded to whole words for the panel kernels). */
typedef struct SegDst {
  Val v_dst;
  int64_t segp;          /* bytes per ky segment in the k order (padded) */
  int64_t kp;            /* row length */
} SegDst;

static void seg_store(Cg *g, const SegDst *S, Val v_src, Val v_r, Val v_ky, int64_t seg) {
  Val v_dst = l_add(g, l_mul(g, v_r, l_i64(g, S->kp), ""), l_mul(g, v_ky, l_i64(g, S->segp), ""), "");
  LLVMBuildMemCpy(g->b, l_gep(g, g->t_i8, S->v_dst, v_dst, ""), 1, v_src, 1, l_i64(g, seg));
}

/* Panels straight from a channels-last padded copy: row r = (y, x) =
 * divmod(r, W) of B starts at base + (y*sy*RW + x*sx)*C + ky0, and its
 * segment ky (segp bytes, contiguous) at that plus ky*kystep. Per panel and
 * segment, each 16-byte block of its 16 rows is a 16 x 4 word transpose into
 * four quad rows; the 1..3 words left of a segment go one by one. Rows past
 * N (last panel) repeat row N-1; their lanes are never stored. Bytes read
 * past a segment's seg real bytes meet zeros in A. */
typedef struct RowSrc {
  Val v_base;
  int64_t W, sy, sx, RW, C, ky0, kystep, KH, segp;
} RowSrc;

static void pack_direct(Cg *g, const RowSrc *R, int64_t N, Val v_pan, uint32_t bias) {
  int64_t kp = R->KH * R->segp, ps = kp / 4 * 64, nblk = R->segp / 16, nrem = R->segp % 16 / 4;
  Ty t_q = LLVMVectorType(g->t_i32, 4), t_all = LLVMVectorType(g->t_i32, 64);
  Val idx[64];
  for (int w = 0; w < 4; w++)
    for (int l = 0; l < 16; l++) idx[w * 16 + l] = l_i32(g, l * 4 + w);
  Loop Lj = l_for(g, l_i64(g, 0), l_i64(g, npanels(N)), "pj");
  Val v_row[16];
  for (int l = 0; l < 16; l++) {
    Val v_r = l_smin(g, l_add(g, l_mul(g, Lj.v_i, l_i64(g, 16), ""), l_i64(g, l), ""), l_i64(g, N - 1), "r");
    Val v_y = LLVMBuildUDiv(g->b, v_r, l_i64(g, R->W), "y"), v_x = LLVMBuildURem(g->b, v_r, l_i64(g, R->W), "x");
    Val v_off = l_mul(g, l_add(g, l_mul(g, v_y, l_i64(g, R->sy * R->RW), ""), l_mul(g, v_x, l_i64(g, R->sx), ""), ""), l_i64(g, R->C), "");
    v_row[l] = l_gep(g, g->t_i8, R->v_base, l_add(g, v_off, l_i64(g, R->ky0), ""), "row");
  }
  Val v_dst = l_gep(g, g->t_i8, v_pan, l_mul(g, Lj.v_i, l_i64(g, ps), ""), "pan.j");
  Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, R->KH), "ky");
  Val v_kyoff = l_mul(g, Lk.v_i, l_i64(g, R->kystep), "ky.off");
  Val v_dseg = l_gep(g, g->t_i8, v_dst, l_mul(g, Lk.v_i, l_i64(g, R->segp / 4 * 64), ""), "pan.seg");
  for (int64_t bk = 0; bk < nblk; bk++) {
    Val v_q[16];
    for (int l = 0; l < 16; l++) {
      v_q[l] = LLVMBuildLoad2(g->b, t_q, l_gep(g, g->t_i8, v_row[l], l_add(g, v_kyoff, l_i64(g, 16 * bk), ""), ""), "row.q");
      LLVMSetAlignment(v_q[l], 1);
    }
    for (int n = 16; n > 1; n /= 2) /* concatenate: v_q[0] = the 64 words, row-major */
      for (int t = 0; t < n / 2; t++) v_q[t] = l_lanes(g, v_q[2 * t], v_q[2 * t + 1], 0, 64 / n * 2, 1, "cat");
    Val v_t = LLVMBuildShuffleVector(g->b, v_q[0], LLVMGetUndef(t_all), LLVMConstVector(idx, 64), "quads");
    if (bias) v_t = LLVMBuildXor(g->b, v_t, l_splat(g, l_i32(g, (int64_t)bias), 64, ""), "quads.u8");
    Val v_st = LLVMBuildStore(g->b, v_t, l_gep(g, g->t_i8, v_dseg, l_i64(g, bk * 256), ""));
    LLVMSetAlignment(v_st, 4);
  }
  for (int64_t w = 0; w < nrem; w++)
    for (int l = 0; l < 16; l++) {
      Val v_w = LLVMBuildLoad2(g->b, g->t_i32, l_gep(g, g->t_i8, v_row[l], l_add(g, v_kyoff, l_i64(g, nblk * 16 + 4 * w), ""), ""), "word");
      LLVMSetAlignment(v_w, 1);
      v_w = LLVMBuildXor(g->b, v_w, l_i32(g, (int64_t)bias), "");
      Val v_st = LLVMBuildStore(g->b, v_w, l_gep(g, g->t_i8, v_dseg, l_i64(g, (nblk * 4 + w) * 64 + l * 4), ""));
      LLVMSetAlignment(v_st, 4);
    }
  l_next(g, &Lk);
  l_next(g, &Lj);
}

/* Channels-last, zero-bordered copy dst[(y + py)*PW + x + px][c] of C planes
 * starting at plane `v_plane0` of src, each H x W. */
static void copy_cl(Cg *g, Val v_src, Val v_plane0, int64_t C, int64_t H, int64_t W, int64_t py, int64_t px, Val v_dst) {
  int64_t PH = H + 2 * py, PW = W + 2 * px;
  LLVMBuildMemSet(g->b, v_dst, LLVMConstNull(g->t_i8), l_i64(g, C * PH * PW), 1);
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "c");
  Val v_plane = l_mul(g, l_add(g, v_plane0, Lc.v_i, ""), l_i64(g, H * W), "plane");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, H), "y");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, W), "x");
  Val v_v = l_load(g, g->t_i8, v_src, l_add(g, v_plane, l_add(g, l_mul(g, Ly.v_i, l_i64(g, W), ""), Lx.v_i, ""), ""), "v");
  Val v_pos = l_add(g, l_mul(g, l_add(g, Ly.v_i, l_i64(g, py), ""), l_i64(g, PW), ""), l_add(g, Lx.v_i, l_i64(g, px), ""), "");
  l_store(g, g->t_i8, v_v, v_dst, l_add(g, l_mul(g, v_pos, l_i64(g, C), ""), Lc.v_i, ""));
  l_next(g, &Lx);
  l_next(g, &Ly);
  l_next(g, &Lc);
}

/* The forward B of sample b, group gi: row p = (oy, ox) is KH segments of
 * KW*Cg contiguous bytes of the channels-last copy, in the (ky, kx, c)
 * order of wf. */
static void im2col_fwd(Cg *g, const Node *nd, const ConvDims *d, Val v_x, Val v_b, Val v_gi, Val v_col, const SegDst *S,
                       Val v_pan, uint32_t bias) {
  int64_t PH = d->IH + 2 * nd->ph, PW = d->IW + 2 * nd->pw, seg = d->KW * d->Cg;
  Val v_pad = pad_ptr(g, v_col, d->Cg * PH * PW);
  copy_cl(g, v_x, l_add(g, l_mul(g, v_b, l_i64(g, d->IC), ""), l_mul(g, v_gi, l_i64(g, d->Cg), ""), ""), d->Cg, d->IH, d->IW,
          nd->ph, nd->pw, v_pad);
  if (v_pan) {
    RowSrc R = {v_pad, d->OW, nd->sh, nd->sw, PW, d->Cg, 0, PW * d->Cg, d->KH, S->segp};
    R.sy = nd->sh, R.RW = PW;
    pack_direct(g, &R, d->P, v_pan, bias);
    return;
  }
  Loop Loy = l_for(g, l_i64(g, 0), l_i64(g, d->OH), "oy");
  Loop Lox = l_for(g, l_i64(g, 0), l_i64(g, d->OW), "ox");
  Val v_p = l_add(g, l_mul(g, Loy.v_i, l_i64(g, d->OW), ""), Lox.v_i, "p");
  Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
  Val v_y = l_add(g, l_mul(g, Loy.v_i, l_i64(g, nd->sh), ""), Lky.v_i, "y");
  Val v_src = l_mul(g, l_add(g, l_mul(g, v_y, l_i64(g, PW), ""), l_mul(g, Lox.v_i, l_i64(g, nd->sw), ""), ""), l_i64(g, d->Cg), "");
  seg_store(g, S, l_gep(g, g->t_i8, v_pad, v_src, "seg"), v_p, Lky.v_i, seg);
  l_next(g, &Lky);
  l_next(g, &Lox);
  l_next(g, &Loy);
}

/* colT[k*P + p] of sample b, group gi, k = (c, ky, kx) as in the weights,
 * from a zero-bordered copy of the planes; the inner loop runs along ox. */
static void im2col_t(Cg *g, const Node *nd, const ConvDims *d, Val v_x, Val v_b, Val v_gi, Val v_col) {
  int64_t PH = d->IH + 2 * nd->ph, PW = d->IW + 2 * nd->pw;
  Val v_pad = pad_ptr(g, v_col, d->Cg * PH * PW);
  pad_copy(g, v_x, v_b, l_mul(g, v_gi, l_i64(g, d->Cg), ""), d->IC, d->Cg, d->IH, d->IW, nd->ph, nd->pw, v_pad);
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, d->Cg), "c");
  Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
  Loop Lkx = l_for(g, l_i64(g, 0), l_i64(g, d->KW), "kx");
  Loop Loy = l_for(g, l_i64(g, 0), l_i64(g, d->OH), "oy");
  Val v_k0 = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, d->KH), ""), Lky.v_i, ""), l_i64(g, d->KW), ""), Lkx.v_i, "k");
  if (nd->sw == 1) { /* a row of ox is contiguous on both sides */
    Val v_y = l_add(g, l_mul(g, Loy.v_i, l_i64(g, nd->sh), ""), Lky.v_i, "y");
    Val v_src = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, PH), ""), v_y, ""), l_i64(g, PW), ""), Lkx.v_i, "");
    Val v_dst = l_add(g, l_mul(g, v_k0, l_i64(g, d->P), ""), l_mul(g, Loy.v_i, l_i64(g, d->OW), ""), "");
    LLVMBuildMemCpy(g->b, l_gep(g, g->t_i8, v_col, v_dst, ""), 1, l_gep(g, g->t_i8, v_pad, v_src, ""), 1, l_i64(g, d->OW));
    l_next(g, &Loy);
    l_next(g, &Lkx);
    l_next(g, &Lky);
    l_next(g, &Lc);
    return;
  }
  Loop Lox = l_for(g, l_i64(g, 0), l_i64(g, d->OW), "ox");
  Val v_k = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, d->KH), ""), Lky.v_i, ""), l_i64(g, d->KW), ""), Lkx.v_i, "k");
  Val v_p = l_add(g, l_mul(g, Loy.v_i, l_i64(g, d->OW), ""), Lox.v_i, "p");
  Val v_y = l_add(g, l_mul(g, Loy.v_i, l_i64(g, nd->sh), ""), Lky.v_i, "y");
  Val v_xx = l_add(g, l_mul(g, Lox.v_i, l_i64(g, nd->sw), ""), Lkx.v_i, "x");
  Val v_src = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, PH), ""), v_y, ""), l_i64(g, PW), ""), v_xx, "");
  l_store(g, g->t_i8, l_load(g, g->t_i8, v_pad, v_src, "tap"), v_col, l_add(g, l_mul(g, v_k, l_i64(g, d->P), ""), v_p, ""));
  l_next(g, &Lox);
  l_next(g, &Loy);
  l_next(g, &Lkx);
  l_next(g, &Lky);
  l_next(g, &Lc);
}

/* Stride 1 and padding below the kernel size: ecol from whole segments. */
static bool ecol_fast(const Node *nd, const ConvDims *d) {
  return nd->sh == 1 && nd->sw == 1 && d->KH - 1 - nd->ph >= 0 && d->KW - 1 - nd->pw >= 0;
}

/* The output coordinate o that reads input coordinate i through tap t:
 * o*s = i + p - t. *v_ok says whether such an o exists in [0, n); the value
 * returned is clamped into range, so a load through it stays in bounds
 * either way. */
static Val out_tap(Cg *g, Val v_i, Val v_t, int p, int s, int64_t n, Val *v_ok, const char *name) {
  Val v_d = l_sub(g, l_add(g, v_i, l_i64(g, p), ""), v_t, "d");
  Val v_dc = l_smax(g, v_d, l_i64(g, 0), "");
  Val v_o = LLVMBuildUDiv(g->b, v_dc, l_i64(g, s), name);
  *v_ok = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntSGE, v_d, l_i64(g, 0), ""),
                       LLVMBuildAnd(g->b, l_icmp(g, LLVMIntEQ, LLVMBuildURem(g->b, v_dc, l_i64(g, s), ""), l_i64(g, 0), ""),
                                    l_icmp(g, LLVMIntSLT, v_o, l_i64(g, n), ""), ""), "ok");
  return l_smin(g, v_o, l_i64(g, n - 1), "o.c");
}

/* ecol of sample b, group gi. Fast: a channels-last copy epad[y, x, o] of
 * the error planes with a border of KH-1-ph, KW-1-pw; the KW*Og bytes of one
 * (q, ky) are then contiguous (x = ix + t, kx = KW-1-t), in the (ky, t, o)
 * order of wr. Otherwise rows ecol[q*Ke + (o, ky, kx)], each tap tested
 * (oy*sh = iy + ph - ky must have a solution). */
static void ecol_build(Cg *g, const Node *nd, const ConvDims *d, Val v_e, Val v_b, Val v_gi, Val v_col, const SegDst *S,
                       Val v_pan, uint32_t bias) {
  int64_t ty = d->KH - 1 - nd->ph, tx = d->KW - 1 - nd->pw;
  if (ecol_fast(nd, d)) {
    int64_t EH = d->OH + 2 * ty, EW = d->OW + 2 * tx;
    Val v_pad = pad_ptr(g, v_col, d->Og * EH * EW);
    copy_cl(g, v_e, l_add(g, l_mul(g, v_b, l_i64(g, d->O), ""), l_mul(g, v_gi, l_i64(g, d->Og), ""), ""), d->Og, d->OH, d->OW,
            ty, tx, v_pad);
    if (v_pan) { /* row q = (iy, ix), segment ky at epad[iy + KH-1-ky, ix, 0] */
      RowSrc R = {v_pad, d->IW, 1, 1, EW, d->Og, (d->KH - 1) * EW * d->Og, -EW * d->Og, d->KH, S->segp};
      pack_direct(g, &R, d->IH * d->IW, v_pan, bias);
      return;
    }
    Loop Lq = l_for(g, l_i64(g, 0), l_i64(g, d->IH), "iy");
    Loop Lr = l_for(g, l_i64(g, 0), l_i64(g, d->IW), "ix");
    Val v_q = l_add(g, l_mul(g, Lq.v_i, l_i64(g, d->IW), ""), Lr.v_i, "q");
    Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
    Val v_y = l_sub(g, l_add(g, Lq.v_i, l_i64(g, d->KH - 1), ""), Lky.v_i, "y");
    Val v_src = l_mul(g, l_add(g, l_mul(g, v_y, l_i64(g, EW), ""), Lr.v_i, ""), l_i64(g, d->Og), "");
    seg_store(g, S, l_gep(g, g->t_i8, v_pad, v_src, "seg"), v_q, Lky.v_i, d->KW * d->Og);
    l_next(g, &Lky);
    l_next(g, &Lr);
    l_next(g, &Lq);
    return;
  }
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d->Og), "o");
  Val v_oc = l_add(g, l_mul(g, v_gi, l_i64(g, d->Og), ""), Lo.v_i, "oc");
  Val v_plane = l_mul(g, l_add(g, l_mul(g, v_b, l_i64(g, d->O), ""), v_oc, ""), l_i64(g, d->P), "plane");
  Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
  Loop Lkx = l_for(g, l_i64(g, 0), l_i64(g, d->KW), "kx");
  Val v_k = l_add(g, l_mul(g, l_add(g, l_mul(g, Lo.v_i, l_i64(g, d->KH), ""), Lky.v_i, ""), l_i64(g, d->KW), ""),
                  Lkx.v_i, "k");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d->IH), "iy");
  Val v_oky, v_oyc = out_tap(g, Ly.v_i, Lky.v_i, nd->ph, nd->sh, d->OH, &v_oky, "oy");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, d->IW), "ix");
  Val v_okx, v_oxc = out_tap(g, Lx.v_i, Lkx.v_i, nd->pw, nd->sw, d->OW, &v_okx, "ox");
  Val v_v = l_load(g, g->t_i8, v_e, l_add(g, v_plane, l_add(g, l_mul(g, v_oyc, l_i64(g, d->OW), ""), v_oxc, ""), ""), "e");
  v_v = l_select(g, LLVMBuildAnd(g->b, v_oky, v_okx, ""), v_v, LLVMConstNull(g->t_i8), "tap");
  Val v_q = l_add(g, l_mul(g, Ly.v_i, l_i64(g, d->IW), ""), Lx.v_i, "q");
  l_store(g, g->t_i8, v_v, v_col, l_add(g, l_mul(g, v_q, l_i64(g, d->Ke), ""), v_k, ""));
  l_next(g, &Lx);
  l_next(g, &Ly);
  l_next(g, &Lkx);
  l_next(g, &Lky);
  l_next(g, &Lo);
}


/* The GEMM shape of a conv's forward (which 0) or input error (1): kernel,
 * segment and padded K. */
typedef struct ConvK {
  GemmKind kind;
  int64_t seg, segp, kp;
  bool panels_direct;    /* panels from the padded copy (pack_direct) */
} ConvK;

static ConvK conv_k(Cg *g, const Node *nd, const ConvDims *d, int which) {
  ConvK c;
  c.seg = which == 0 ? d->KW * d->Cg : d->KW * d->Og;
  c.kind = gemm_kind(g, d->KH * rup(c.seg, 4));
  c.panels_direct = c.kind != GK_PLAIN && (which == 0 || ecol_fast(nd, d));
  c.segp = c.panels_direct ? rup(c.seg, 4) : c.seg;
  c.kp = d->KH * c.segp;
  return c;
}

static uint32_t panel_bias(GemmKind kind) { return kind == GK_VNNI ? 0x80808080u : 0; }

static void conv_forward_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  ConvDims d = conv_dims(g, nd);
  ConvK ck = conv_k(g, nd, &d, 0);
  Val v_col = col_ptr(g, v_wk);
  SegDst S = {v_col, ck.segp, ck.kp};
  Val v_pan = l_gep(g, g->t_i8, v_col, l_i64(g, panel_bytes(d.P, ck.kp)), "pan");
  Val var_max = k->fuse ? fused_begin(g) : NULL;
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  im2col_fwd(g, nd, &d, act_ptr(g, nd->in[0]), Lb.v_i, Lg.v_i, v_col, &S, ck.panels_direct ? v_pan : NULL,
             panel_bias(ck.kind));
  Gemm G = {0};
  G.v_A = l_gep(g, g->t_i8, pack_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Og * ck.kp), ""), "wf.g"), G.lda = ck.kp;
  G.v_asum = l_gep(g, g->t_i32, wsum_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Og), ""), "wsum.g");
  if (ck.kind == GK_PLAIN) G.v_B = v_col, G.sn = ck.kp, G.sk = 1;
  G.v_P = v_pan;
  G.v_C = l_gep(g, k->t_acc, acc_ptr(g), l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, d.O), ""), l_mul(g, Lg.v_i, l_i64(g, d.Og), ""), ""),
                                               l_i64(g, d.P), ""), "acc.bg");
  G.ldc = d.P, G.v_M = l_i64(g, d.Og), G.v_N = l_i64(g, d.P), G.v_K = l_i64(g, ck.kp);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(d.P)), G.t_acc = k->t_acc, G.kind = ck.kind;
  G.var_max = var_max;
  gemm(g, &G);
  l_next(g, &Lg);
  l_next(g, &Lb);
  if (var_max) fused_end(g, var_max, v_wk);
}

static Val conv_forward(Cg *g, int i, Ty t_acc) {
  KArgs k = {&g->m->nodes[i], i, t_acc, false};
  ConvDims d = conv_dims(g, k.nd);
  ConvK ck = conv_k(g, k.nd, &d, 0);
  k.fuse = ck.kind != GK_PLAIN;
  /* wf[o, ky*segp + kx*Cg + c] = w[o, c, ky, kx], zeros in the padding */
  Val v_w = w8_ptr(g, k.nd), v_wf = pack_ptr(g);
  LLVMBuildMemSet(g->b, v_wf, LLVMConstNull(g->t_i8), l_i64(g, d.O * ck.kp), 64);
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d.O), "o");
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, d.Cg), "c");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d.KH), "ky");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, d.KW), "kx");
  Val v_src = l_add(g, l_mul(g, l_add(g, l_mul(g, l_add(g, l_mul(g, Lo.v_i, l_i64(g, d.Cg), ""), Lc.v_i, ""), l_i64(g, d.KH), ""),
                                      Ly.v_i, ""), l_i64(g, d.KW), ""), Lx.v_i, "");
  Val v_dst = l_add(g, l_add(g, l_mul(g, Lo.v_i, l_i64(g, ck.kp), ""), l_mul(g, Ly.v_i, l_i64(g, ck.segp), ""), ""),
                    l_add(g, l_mul(g, Lx.v_i, l_i64(g, d.Cg), ""), Lc.v_i, ""), "");
  l_store(g, g->t_i8, l_load(g, g->t_i8, v_w, v_src, "w"), v_wf, v_dst);
  l_next(g, &Lx);
  l_next(g, &Ly);
  l_next(g, &Lc);
  l_next(g, &Lo);
  if (ck.kind == GK_VNNI) row_sums(g, v_wf, ck.kp, l_i64(g, d.O), l_i64(g, ck.kp), wsum_ptr(g));
  Val v_used = par_for(g, g->m->nodes[i].name, g->v_n, g->p->maxw, conv_forward_body, &k);
  return k.fuse ? v_used : NULL;
}

static void conv_input_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  ConvDims d = conv_dims(g, nd);
  ConvK ck = conv_k(g, nd, &d, 1);
  int64_t Q = d.IH * d.IW;
  Val v_col = col_ptr(g, v_wk);
  SegDst S = {v_col, ck.segp, ck.kp};
  Val v_pan = l_gep(g, g->t_i8, v_col, l_i64(g, panel_bytes(Q, ck.kp)), "pan");
  Val var_max = k->fuse ? fused_begin(g) : NULL;
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  ecol_build(g, nd, &d, err_ptr(g, k->i), Lb.v_i, Lg.v_i, v_col, &S, ck.panels_direct ? v_pan : NULL,
             panel_bias(ck.kind));
  Gemm G = {0};
  G.v_A = l_gep(g, g->t_i8, pack_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Cg * ck.kp), ""), "wr.g"), G.lda = ck.kp;
  G.v_asum = l_gep(g, g->t_i32, wsum_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Cg), ""), "wsum.g");
  G.v_P = v_pan;
  if (!ck.panels_direct) G.v_B = v_col, G.sn = ck.kp, G.sk = 1; /* gemm packs (or reads) the rows */
  G.v_C = l_gep(g, k->t_acc, acc_ptr(g), l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, d.IC), ""), l_mul(g, Lg.v_i, l_i64(g, d.Cg), ""), ""),
                                               l_i64(g, Q), ""), "e32.bg");
  G.ldc = Q, G.v_M = l_i64(g, d.Cg), G.v_N = l_i64(g, Q), G.v_K = l_i64(g, ck.kp);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(Q)), G.t_acc = k->t_acc, G.kind = ck.kind;
  G.var_max = var_max;
  gemm(g, &G);
  l_next(g, &Lg);
  l_next(g, &Lb);
  if (var_max) fused_end(g, var_max, v_wk);
}

static Val conv_backward_input(Cg *g, int i, Ty t_acc) {
  const Node *nd = &g->m->nodes[i];
  ConvDims d = conv_dims(g, nd);
  ConvK ck = conv_k(g, nd, &d, 1);
  /* wr[gi, c, k'] = w[gi*Og + o, c, ky, kx] with k' = ky*segp + (KW-1-kx)*Og + o
   * (fast ecol) or (o, ky, kx) */
  Val v_w = w8_ptr(g, nd), v_wr = pack_ptr(g);
  int64_t KK = d.KH * d.KW;
  LLVMBuildMemSet(g->b, v_wr, LLVMConstNull(g->t_i8), l_i64(g, d.G * d.Cg * ck.kp), 64);
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d.O), "o");
  Val v_gi = LLVMBuildSDiv(g->b, Lo.v_i, l_i64(g, d.Og), "gi");
  Val v_ol = LLVMBuildSRem(g->b, Lo.v_i, l_i64(g, d.Og), "ol");
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, d.Cg), "c");
  Loop Lt = l_for(g, l_i64(g, 0), l_i64(g, KK), "t");
  Val v_src = l_add(g, l_mul(g, l_add(g, l_mul(g, Lo.v_i, l_i64(g, d.Cg), ""), Lc.v_i, ""), l_i64(g, KK), ""), Lt.v_i, "");
  Val v_row = l_mul(g, l_add(g, l_mul(g, v_gi, l_i64(g, d.Cg), ""), Lc.v_i, ""), l_i64(g, ck.kp), "");
  Val v_dst;
  if (ecol_fast(nd, &d)) {
    Val v_ky = LLVMBuildSDiv(g->b, Lt.v_i, l_i64(g, d.KW), "ky");
    Val v_t = l_sub(g, l_i64(g, d.KW - 1), LLVMBuildSRem(g->b, Lt.v_i, l_i64(g, d.KW), ""), "t");
    v_dst = l_add(g, v_row, l_add(g, l_add(g, l_mul(g, v_ky, l_i64(g, ck.segp), ""), l_mul(g, v_t, l_i64(g, d.Og), ""), ""), v_ol, ""), "");
  } else {
    v_dst = l_add(g, v_row, l_add(g, l_mul(g, v_ol, l_i64(g, KK), ""), Lt.v_i, ""), "");
  }
  l_store(g, g->t_i8, l_load(g, g->t_i8, v_w, v_src, "w"), v_wr, v_dst);
  l_next(g, &Lt);
  l_next(g, &Lc);
  l_next(g, &Lo);
  if (ck.kind == GK_VNNI) row_sums(g, v_wr, ck.kp, l_i64(g, d.G * d.Cg), l_i64(g, ck.kp), wsum_ptr(g));
  KArgs k = {nd, i, t_acc, ck.kind != GK_PLAIN};
  Val v_used = par_for(g, nd->name, g->v_n, g->p->maxw, conv_input_body, &k);
  return k.fuse ? v_used : NULL;
}

static Val gpart_ptr(Cg *g, Val v_wk) {
  Val v_off = l_add(g, l_i64(g, g->p->gpart.off), l_mul(g, LLVMBuildZExt(g->b, v_wk, g->t_i64, ""),
                                                        l_i64(g, g->p->gpart_bytes), ""), "");
  return l_gep(g, g->t_i8, g->v_work, v_off, "gpart");
}

/* Worker scratch of the conv weight gradient: colT, then e's panels, then
 * the row sums of colT. */
static void conv_weight_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  ConvDims d = conv_dims(g, nd);
  Val v_x = act_ptr(g, nd->in[0]), v_e = err_ptr(g, k->i), v_col = col_ptr(g, v_wk), v_part = gpart_ptr(g, v_wk);
  int64_t off_pan = rup(d.Kc * d.P, 64), off_sum = off_pan + rup(panel_bytes(d.Og, d.P), 64);
  l_zero(g, k->t_acc, v_part, l_i64(g, nd->nweights));
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  im2col_t(g, nd, &d, v_x, Lb.v_i, Lg.v_i, v_col);
  Gemm G = {0};
  G.v_A = v_col, G.lda = d.P;
  G.v_asum = l_gep(g, g->t_i8, v_col, l_i64(g, off_sum), "colT.sum");
  G.v_B = l_gep(g, g->t_i8, v_e, l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, d.O), ""), l_mul(g, Lg.v_i, l_i64(g, d.Og), ""), ""),
                                      l_i64(g, d.P), ""), "e.bg");
  G.sn = d.P, G.sk = 1;
  G.v_P = l_gep(g, g->t_i8, v_col, l_i64(g, off_pan), "e.pan");
  G.v_C = l_gep(g, k->t_acc, v_part, l_mul(g, Lg.v_i, l_i64(g, d.Og * d.Kc), ""), "part.g");
  G.ldc = d.Og, G.v_M = l_i64(g, d.Kc), G.v_N = l_i64(g, d.Og), G.v_K = l_i64(g, d.P);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(d.Og)), G.t_acc = k->t_acc, G.accumulate = true;
  G.kind = gemm_kind(g, d.P);
  if (G.kind == GK_VNNI) row_sums(g, G.v_A, d.P, G.v_M, G.v_K, G.v_asum);
  gemm(g, &G);
  l_next(g, &Lg);
  l_next(g, &Lb);
}

static void conv_backward_weight(Cg *g, int i, Ty t_g) {
  const Node *nd = &g->m->nodes[i];
  ConvDims d = conv_dims(g, nd);
  KArgs k = {nd, i, t_g, false};
  Val v_used = par_for(g, nd->name, g->v_n, g->p->maxw, conv_weight_body, &k);
  /* g32[gi*Og + o, k] = sum over workers of part[gi, k, o] (exact in any order) */
  Val v_g = grad_ptr(g);
  l_zero(g, t_g, v_g, l_i64(g, nd->nweights));
  Loop Lw = l_for(g, l_i64(g, 0), LLVMBuildZExt(g->b, v_used, g->t_i64, ""), "wk");
  Val v_part = gpart_ptr(g, l_trunc(g, Lw.v_i, g->t_i32, ""));
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d.Og), "o");
  Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, d.Kc), "k");
  Val v_base = l_mul(g, Lg.v_i, l_i64(g, d.Og * d.Kc), "");
  Val v_gi = l_add(g, v_base, l_add(g, l_mul(g, Lo.v_i, l_i64(g, d.Kc), ""), Lk.v_i, ""), "gidx");
  Val v_pi = l_add(g, v_base, l_add(g, l_mul(g, Lk.v_i, l_i64(g, d.Og), ""), Lo.v_i, ""), "pidx");
  Val v_sum = l_add(g, l_load(g, t_g, v_g, v_gi, "g"), l_load(g, t_g, v_part, v_pi, "p"), "g.new");
  l_store(g, t_g, v_sum, v_g, v_gi);
  l_next(g, &Lk);
  l_next(g, &Lo);
  l_next(g, &Lg);
  l_next(g, &Lw);
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

/* Max pooling whose windows neither overlap nor pad: every input has at most
 * one window, and the taps need no bounds test. */
static bool pool_disjoint(const Node *nd) {
  return nd->ph == 0 && nd->pw == 0 && nd->sh >= nd->kh && nd->sw >= nd->kw;
}

/* Samples [lo, hi) of a disjoint max pool. Forward stores each window's
 * maximum; backward routes the output error to the window's first maximum in
 * row-major order (the first tap with a > best), into the zeroed int8
 * destination: each input receives at most one error, |e| <= 127, so the
 * requantization is the identity (k = 0). */
static void maxpool_body(Cg *g, const KArgs *k, Val v_lo, Val v_hi, bool backward) {
  const Node *nd = k->nd;
  const Shape *is = &g->m->nodes[nd->in[0]].out, *os = &nd->out;
  Val v_in = act_ptr(g, nd->in[0]), v_e = NULL, v_dst = act_ptr(g, k->i);
  if (backward) {
    ErrDst d;
    err_dst(g, k->i, 0, &d);
    v_e = err_ptr(g, k->i), v_dst = d.v_ptr;
    LLVMBuildMemSet(g->b, l_gep(g, g->t_i8, v_dst, l_mul(g, v_lo, l_i64(g, numel(is)), ""), ""), LLVMConstNull(g->t_i8),
                    l_mul(g, l_sub(g, v_hi, v_lo, ""), l_i64(g, numel(is)), ""), 1);
  }
  Loop Lbc = l_for(g, l_mul(g, v_lo, l_i64(g, os->c), ""), l_mul(g, v_hi, l_i64(g, os->c), ""), "bc");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, os->h), "oy");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, os->w), "ox");
  Val v_oidx = l_add(g, l_mul(g, l_add(g, l_mul(g, Lbc.v_i, l_i64(g, os->h), ""), Ly.v_i, ""), l_i64(g, os->w), ""), Lx.v_i, "oidx");
  Val v_base = l_add(g, l_mul(g, l_add(g, l_mul(g, Lbc.v_i, l_i64(g, is->h), ""), l_mul(g, Ly.v_i, l_i64(g, nd->sh), ""), ""),
                              l_i64(g, is->w), ""), l_mul(g, Lx.v_i, l_i64(g, nd->sw), ""), "base");
  Val v_best = NULL, v_bidx = NULL;
  for (int ky = 0; ky < nd->kh; ky++)
    for (int kx = 0; kx < nd->kw; kx++) {
      Val v_idx = l_add(g, v_base, l_i64(g, (int64_t)ky * is->w + kx), "tap");
      Val v_a = l_load(g, g->t_i8, v_in, v_idx, "a");
      if (!v_best) {
        v_best = v_a, v_bidx = v_idx;
      } else {
        Val v_gt = l_icmp(g, LLVMIntSGT, v_a, v_best, "");
        v_best = l_select(g, v_gt, v_a, v_best, "best");
        v_bidx = l_select(g, v_gt, v_idx, v_bidx, "best.idx");
      }
    }
  if (backward) l_store(g, g->t_i8, l_load(g, g->t_i8, v_e, v_oidx, "e"), v_dst, v_bidx);
  else l_store(g, g->t_i8, v_best, v_dst, v_oidx);
  l_next(g, &Lx);
  l_next(g, &Ly);
  l_next(g, &Lbc);
}
static void maxpool_fwd_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  (void)v_wk;
  maxpool_body(g, u, v_lo, v_hi, false);
}
static void maxpool_bwd_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  (void)v_wk;
  maxpool_body(g, u, v_lo, v_hi, true);
}

/* ReLU over samples [lo, hi): forward max(a, 0); backward passes the error
 * where the output is > 0 (exactly where the input was). */
static void relu_body(Cg *g, const KArgs *k, Val v_lo, Val v_hi, bool backward) {
  int64_t per = numel(&k->nd->out);
  Val v_out = act_ptr(g, k->i);
  Loop L = l_for(g, l_mul(g, v_lo, l_i64(g, per), ""), l_mul(g, v_hi, l_i64(g, per), ""), "j");
  if (backward) {
    ErrDst d;
    err_dst(g, k->i, 0, &d);
    Val v_ev = l_load(g, g->t_i8, err_ptr(g, k->i), L.v_i, "e");
    Val v_pass = l_icmp(g, LLVMIntSGT, l_load(g, g->t_i8, v_out, L.v_i, "a"), LLVMConstNull(g->t_i8), "pass");
    l_store(g, g->t_i8, l_select(g, v_pass, v_ev, LLVMConstNull(g->t_i8), ""), d.v_ptr, L.v_i);
  } else {
    Val v_a = l_load(g, g->t_i8, act_ptr(g, k->nd->in[0]), L.v_i, "a");
    l_store(g, g->t_i8, l_smax(g, v_a, LLVMConstNull(g->t_i8), "relu"), v_out, L.v_i);
  }
  l_next(g, &L);
}
static void relu_fwd_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  (void)v_wk;
  relu_body(g, u, v_lo, v_hi, false);
}
static void relu_bwd_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  (void)v_wk;
  relu_body(g, u, v_lo, v_hi, true);
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
    Val v_fused = nd->op == OP_DENSE ? dense_forward(g, i, t_acc) : conv_forward(g, i, t_acc);
    Val v_k = requant_fused(g, nd->acc64_fwd, v_acc, v_cnt, v_out, g->v_ract, v_key_for(g, NIT_TID_ACT(i), "key.act"),
                            v_fused);
    set_exp(g, i, 0, l_add(g, l_add(g, v_sin, l_i32(g, nd->w_exp), ""), v_k, "s.out"));
    break;
  }
  case OP_RELU: {
    KArgs ka = {nd, i, NULL, false};
    par_for(g, nd->name, g->v_n, g->p->maxw, relu_fwd_body, &ka);
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
      v_a = l_select(g, l_dropped(g, v_key, L.v_i, nd->drop256), LLVMConstNull(g->t_i8), v_a, "kept");
    }
    l_store(g, g->t_i8, v_a, v_out, L.v_i);
    l_next(g, &L);
    set_exp(g, i, 0, v_sin);
    break;
  }
  case OP_MAXPOOL: {
    if (pool_disjoint(nd)) {
      KArgs ka = {nd, i, NULL, false};
      par_for(g, nd->name, g->v_n, g->p->maxw, maxpool_fwd_body, &ka);
      set_exp(g, i, 0, v_sin);
      break;
    }
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
/* Requantize an input-error accumulator (exponent v_s before rounding). */
static void deliver_acc(Cg *g, int i, const ErrDst *d, Val v_e32, bool wide, Val v_s, Val v_fused) {
  Node *src = &g->m->nodes[g->m->nodes[i].in[0]];
  Val v_cnt = l_batch_elems(g, &src->out, "count");
  Val v_k = requant_fused(g, wide, v_e32, v_cnt, d->v_ptr, g->v_rerr, v_key_for(g, NIT_TID_ERR(i), "key.err"), v_fused);
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

/* Elements per update chunk: big enough that a chunk outweighs a hand-off. */
#define UPDATE_CHUNK 16384

static Val red_ptr(Cg *g) { return l_slab(g, g->v_work, g->p->red.off, "red"); }

static void update_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  (void)v_wk;
  Val v_red = red_ptr(g);
  Val v_lo_e = l_mul(g, v_lo, l_i64(g, UPDATE_CHUNK), "lo.e");
  Val v_hi_e = l_smin(g, l_mul(g, v_hi, l_i64(g, UPDATE_CHUNK), ""), l_i64(g, nd->nweights), "hi.e");
  Val args[] = {wraw_ptr(g, nd), l_i32(g, param_of(g, nd)->bits), w8_ptr(g, nd), grad_ptr(g), v_lo_e, v_hi_e,
                l_load(g, g->t_i32, v_red, l_i64(g, 0), "k"), l_load(g, g->t_i32, v_red, l_i64(g, 1), "dexp"),
                g->v_rgrad, v_key_for(g, NIT_TID_GRAD(k->i), "key.grad"), g->v_decay};
  l_call(g, g->ft_uapply, k->t_acc == g->t_i64 ? g->f_uapply64 : g->f_uapply32, args, 11, "");
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
    Val v_w = w8_ptr(g, nd);
    if (need_in) {
      Ty t_acc = nd->acc64_bwd ? g->t_i64 : g->t_i32;
      Val v_acc = acc_ptr(g);
      Val v_fused = nd->op == OP_DENSE ? dense_backward_input(g, i, t_acc) : conv_backward_input(g, i, t_acc);
      deliver_acc(g, i, &d, v_acc, nd->acc64_bwd, l_add(g, v_se, l_i32(g, nd->w_exp), ""), v_fused);
    }
    Ty t_g = nd->acc64_grad ? g->t_i64 : g->t_i32;
    Val v_g = grad_ptr(g);
    if (nd->op == OP_DENSE) dense_backward_weight(g, i, t_g);
    else conv_backward_weight(g, i, t_g);
    /* the update: k from the whole gradient (one thread), then the element
     * loop in chunks over the workers */
    Val v_red = red_ptr(g);
    Val pargs[] = {v_g, v_w, l_i64(g, nd->nweights), g->v_mu, g->v_decay, v_red};
    l_call(g, g->ft_uplan, nd->acc64_grad ? g->f_uplan64 : g->f_uplan32, pargs, 6, "");
    Val v_k = l_load(g, g->t_i32, v_red, l_i64(g, 0), "k.update");
    Blk b_upd = l_if(g, l_icmp(g, LLVMIntSGE, v_k, l_i32(g, 0), ""), "update");
    KArgs ka = {nd, i, t_g, false};
    par_for(g, nd->name, l_i64(g, (nd->nweights + UPDATE_CHUNK - 1) / UPDATE_CHUNK), g->p->maxw, update_body, &ka);
    l_endif(g, b_upd);
    break;
  }
  case OP_RELU:
  case OP_DROPOUT: {
    if (!need_in) break;
    if (nd->op == OP_RELU) {
      KArgs ka = {nd, i, NULL, false};
      par_for(g, nd->name, g->v_n, g->p->maxw, relu_bwd_body, &ka);
      set_exp(g, d.node, d.which, v_se);
      break;
    }
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
      v_pass = LLVMBuildNot(g->b, l_dropped(g, v_key, L.v_i, nd->drop256), "kept");
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
    if (pool_disjoint(nd)) {
      KArgs ka = {nd, i, NULL, false};
      par_for(g, nd->name, g->v_n, g->p->maxw, maxpool_bwd_body, &ka);
      set_exp(g, d.node, d.which, v_se);
      break;
    }
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
    deliver_acc(g, i, &d, v_acc, false, v_se, NULL);
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
    deliver_acc(g, i, &d, v_acc, false, l_sub(g, v_se, l_i32(g, log2i((int64_t)nd->kh * nd->kw)), ""), NULL);
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

/* Every NitCtx field a kernel may use (also at the top of outlined bodies). */
static void load_ctx_fields(Cg *g) {
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
}

static void load_ctx(Cg *g) {
  load_ctx_fields(g);
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
    Val fv[] = {l_str(g, nd->name, "node.name"), l_str(g, sema_op_name(nd->op), "node.kind"),
                LLVMConstArray2(g->t_i32, ins, 2), LLVMConstArray2(g->t_i32, outs, 3),
                l_i32(g, nd->nweights > 0 ? nd->param : -1),
                l_i32(g, nd->acc64_fwd || nd->acc64_bwd || nd->acc64_grad),
                l_i64(g, i == 0 || g->p->act_alias[i] == 0 ? -1 : g->p->act[g->p->act_alias[i]].off),
                l_i64(g, !g->p->needs_err[i] ? -1 : g->p->err_kept[g->p->err_alias[i]] ? g->p->err[g->p->err_alias[i]].off : -2)};
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

/* The widest pmaddwd the x86 features allow (the generic kernel): from the
 * feature list (a host build lists them all), or the x86-64-v3/v4 levels;
 * other CPU names get SSE2's unless --features names +avx2 or +avx512bw. */
static int madd_bits(const CgTarget *t) {
  const char *feat = t->features ? t->features : "", *cpu = t->cpu ? t->cpu : "";
  if (strstr(feat, "+avx512bw") || !strcmp(cpu, "x86-64-v4")) return 512;
  if (strstr(feat, "+avx2") || !strcmp(cpu, "x86-64-v3")) return 256;
  return 128;
}

/* The GEMM micro-kernel for a target: vpdpbusd on zmm needs avx512vnni and
 * avx512bw; sdot needs dotprod. NITC_GEMM=generic|plain in the environment
 * forces a portable kernel (the tests use it); so does NITC_GEMM=lanes. */
static GemmKind gemm_isa(const CgTarget *t) {
  const char *feat = t->features ? t->features : "";
  bool x86 = !strncmp(t->triple, "x86_64", 6);
  GemmKind gk = x86 ? GK_GENERIC : GK_LANES;
  if (x86 && strstr(feat, "+avx512vnni") && strstr(feat, "+avx512bw")) gk = GK_VNNI;
  if (!strncmp(t->triple, "aarch64", 7) && strstr(feat, "+dotprod")) gk = GK_SDOT;
  const char *force = getenv("NITC_GEMM");
  if (force && !strcmp(force, "generic")) gk = GK_GENERIC;
  if (force && !strcmp(force, "lanes")) gk = GK_LANES;
  if (force && !strcmp(force, "plain")) gk = GK_PLAIN;
  return gk;
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
             g->t_i32, g->t_i32, g->t_i32, g->t_i32, g->t_ptr, g->t_i32, g->t_ptr, g->t_ptr, g->t_ptr};
  LLVMStructSetBody(g->t_ctx, cf, 17, 0);
  Ty ef[] = {g->t_ptr, g->t_ptr, g->t_ptr};
  g->t_env = LLVMStructTypeInContext(ctx, ef, 3, 0);
  Ty bf[] = {g->t_ptr, g->t_i64, g->t_i64, g->t_i32};
  g->ft_body = LLVMFunctionType(g->t_void, bf, 4, 0);
  Ty pf[] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_i64, g->t_i32};
  g->ft_pfor = LLVMFunctionType(g->t_i32, pf, 5, 0);
  g->gk = gemm_isa(t);
  g->madd_bits = madd_bits(t);

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

/* --gemm-kernel: the GEMM alone, for bench/gemm. Scratch layout: A's row
 * sums (vnni), then B's panels. */
LLVMModuleRef cg_gemm_module(LLVMContextRef ctx, const CgTarget *t, int64_t M, int64_t N, int64_t K) {
  Cg G0 = {0}, *g = &G0;
  g->ctx = ctx;
  g->mod = LLVMModuleCreateWithNameInContext("gemm", ctx);
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
  g->madd_bits = madd_bits(t);
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
  if (G.kind == GK_VNNI) row_sums(g, G.v_A, K, G.v_M, G.v_K, G.v_asum);
  gemm(g, &G);
  LLVMBuildRetVoid(g->b);
  LLVMDisposeBuilder(g->b);
  return g->mod;
}
