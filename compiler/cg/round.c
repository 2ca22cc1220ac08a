/*
 * round.c: the arithmetic of docs/numerics.md that every layer shares: the
 * counter-based generator, B(V), shift-and-round R(x, k) in its three modes,
 * requantization of an accumulator buffer (max, then rounding, both on the
 * workers), and the exact alignment of two exponents for a sum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* SplitMix64 finalizer, nit_key and nit_draw exactly as in nitabi.h. */
void emit_generator(Cg *g) {
  Ty a1[] = {g->t_i64};
  g->ft_mix = LLVMFunctionType(g->t_i64, a1, 1, 0);
  g->f_mix = l_begin_fn(g, "nit_mix64", g->ft_mix, true);
  Val z = l_param(g, 0, "z");
  z = l_mul(g, LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, l_i64(g, 30), ""), ""), l_u64(g, 0xBF58476D1CE4E5B9ull),
            "z1");
  z = l_mul(g, LLVMBuildXor(g->b, z, LLVMBuildLShr(g->b, z, l_i64(g, 27), ""), ""), l_u64(g, 0x94D049BB133111EBull),
            "z2");
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

/* nit_draw's counter of element `index`: key + (index + 1) NIT_GOLDEN. */
static Val draw_ctr(Cg *g, Val v_key, Val v_idx, const char *name) {
  return l_add(g, v_key, l_mul(g, l_add(g, v_idx, l_i64(g, 1), ""), l_u64(g, NIT_GOLDEN), ""), name);
}

/* nit_draw(key, index) of nitabi.h: 64 uniform bits of element `index`. */
Val l_draw(Cg *g, Val v_key, Val v_idx, const char *name) { return l_draw_ctr(g, draw_ctr(g, v_key, v_idx, ""), name); }

/* Called in L's body; v_key and v_lo are computed before the loop. */
Val l_draw_ctr_begin(Cg *g, Loop *L, Val v_key, Val v_lo) {
  Blk b_at = LLVMGetInsertBlock(g->b), b_pre = LLVMGetIncomingBlock(L->v_phi, 0);
  LLVMPositionBuilderBefore(g->b, LLVMGetBasicBlockTerminator(b_pre));
  Val v_init = draw_ctr(g, v_key, v_lo, "ctr.init");
  LLVMPositionBuilderAtEnd(g->b, b_at);
  return l_loop_ctr(g, L, v_init, l_u64(g, NIT_GOLDEN), "ctr");
}

Val l_draw_ctr(Cg *g, Val v_ctr, const char *name) { return l_call(g, g->ft_mix, g->f_mix, &v_ctr, 1, name); }

/* On AVX2 a 64-bit multiply is three vpmuludq and four shifts and adds, so
 * one vector of four draws is a dependent chain of some 30 instructions,
 * and the rounding after it another 15: the out-of-order window holds
 * little more than one such step, and the loop ran near its chain's
 * latency. Four vectors interleaved keep the pipes busy (docs/
 * performance.md, "Draw loops interleaved on AVX2"). AVX-512 has vpmullq
 * and was not measured: there the vectorizer chooses. */
#define DRAWS_INTERLEAVE 4

void l_next_draws(Cg *g, Loop *L) {
  if (g->madd_bits == 256) l_next_interleaved(g, L, DRAWS_INTERLEAVE);
  else l_next(g, L);
}

/* Calls the context's collective fn(comm, ptr, count[, width]) when it is set. */
static void call_collective(Cg *g, unsigned field, Val v_ptr, Val v_count, int width) {
  Val v_f = ctx_field(g, field, g->t_ptr, field == CTX_allmax ? "allmax" : "allsum");
  Blk b_done = l_if(g, LLVMBuildIsNotNull(g->b, v_f, ""), "coll");
  Ty at[] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i32};
  Val args[] = {ctx_field(g, CTX_comm, g->t_ptr, "comm"), v_ptr, v_count, l_i32(g, width)};
  int na = field == CTX_allmax ? 3 : 4;
  l_call(g, LLVMFunctionType(g->t_void, at, (unsigned)na, 0), v_f, args, (unsigned)na, "");
  l_endif(g, b_done);
}

void l_allmax(Cg *g, Val v_ptr, Val v_count) { call_collective(g, CTX_allmax, v_ptr, v_count, 8); }
void l_allsum(Cg *g, Val v_ptr, Val v_count, int width) { call_collective(g, CTX_allsum, v_ptr, v_count, width); }

Val l_global_idx(Cg *g, Val v_j, Val v_per) { return l_add(g, l_mul(g, g->f.v_row0, v_per, ""), v_j, "gidx"); }

/* Dropout's mask: element `index` is dropped iff (draw >> 56) < drop256. */
Val l_dropped(Cg *g, Val v_key, Val v_idx, int drop256) {
  Val v_d = l_draw(g, v_key, v_idx, "draw");
  return l_icmp(g, LLVMIntULT, LLVMBuildLShr(g->b, v_d, l_i64(g, 56), ""), l_i64(g, drop256), "drop");
}

/* B(V) of a non-negative i64: 64 - clz. */
void emit_bits(Cg *g) {
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
void emit_sat8(Cg *g) {
  Ty a1[] = {g->t_i64};
  g->ft_sat8 = LLVMFunctionType(g->t_i8, a1, 1, 0);
  g->f_sat8 = l_begin_fn(g, "nit_sat8", g->ft_sat8, true);
  Val v = l_param(g, 0, "v");
  v = l_smin(g, v, l_i64(g, 127), "");
  v = l_smax(g, v, l_i64(g, -127), "");
  LLVMBuildRet(g->b, l_trunc(g, v, g->t_i8, "sat"));
}

/* nit_round(x, k, mode, key, index): R(x, k) of an i64 without saturation,
 * with the mode a run-time value (the loss gradient and the wide-weight views
 * use it). k is in [0, 63]; k == 0 is the identity. Built from the one
 * element rounder, round_elem, stochastic and ROUND_DET, and selected. */
void emit_round(Cg *g) {
  Ty a5[] = {g->t_i64, g->t_i32, g->t_i32, g->t_i64, g->t_i64};
  g->ft_round = LLVMFunctionType(g->t_i64, a5, 5, 0);
  g->f_round = l_begin_fn(g, "nit_round", g->ft_round, true);
  Val v_x = l_param(g, 0, "x"), v_k32 = l_param(g, 1, "k"), v_mode = l_param(g, 2, "mode");
  Val v_key = l_param(g, 3, "key"), v_idx = l_param(g, 4, "index");
  RoundK R = round_consts(g, g->t_i64, l_smax(g, v_k32, l_i32(g, 1), "k1"));
  round_det(g, &R, v_mode, false);
  Val v_det = round_elem(g, &R, ROUND_DET, v_x, v_key, v_idx);
  Val v_st = round_elem(g, &R, NIT_ROUND_STOCHASTIC, v_x, v_key, v_idx);
  Val v_r = l_select(g, l_icmp(g, LLVMIntEQ, v_mode, l_i32(g, NIT_ROUND_STOCHASTIC), ""), v_st, v_det, "");
  v_r = l_select(g, l_icmp(g, LLVMIntEQ, v_k32, l_i32(g, 0), ""), v_x, v_r, "r");
  LLVMBuildRet(g->b, v_r);
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
Val emit_maxabs(Cg *g, Ty t_acc, const char *name) {
  Val f = l_begin_loop_fn(g, name, g->ft_maxabs);
  Val v_acc = l_param(g, 0, "acc"), v_lo = l_param(g, 1, "lo"), v_hi = l_param(g, 2, "hi");
  Val var_max = l_var(g, t_acc, "max.var", LLVMConstNull(t_acc));
  Loop L = l_for(g, v_lo, v_hi, "j");
  Val v_v = l_load(g, t_acc, v_acc, L.v_i, "v");
  l_set(g, var_max, l_smax(g, l_get(g, t_acc, var_max, "max"), l_abs(g, v_v, "abs"), "max.new"));
  l_next(g, &L);
  LLVMBuildRet(g->b, l_sext(g, l_get(g, t_acc, var_max, "max"), g->t_i64, "max64"));
  return f;
}

RoundK round_consts(Cg *g, Ty t, Val v_k32) {
  RoundK R = {0};
  Val v_one = LLVMConstInt(t, 1, 0);
  R.t = t;
  R.v_k = LLVMBuildZExt(g->b, v_k32, t, "k.t");
  if (t == g->t_i32) R.v_k = v_k32;
  R.v_mask = l_sub(g, LLVMBuildShl(g->b, v_one, R.v_k, ""), v_one, "mask");
  R.v_odd = LLVMBuildAnd(g->b, R.v_k, v_one, "odd");
  R.v_h = LLVMBuildLShr(g->b, l_sub(g, R.v_k, R.v_odd, ""), v_one, "half.bits");
  /* 1, in a form the optimizer cannot fold: q + 1 where the rounding goes
   * up then stays one masked add on AVX-512, where a constant 1 becomes
   * the mask widened to a vector and a subtraction (two instructions) */
  R.v_one = LLVMBuildLShr(g->b, R.v_mask, l_sub(g, R.v_k, v_one, ""), "one");
  R.v_isk1 = l_icmp(g, LLVMIntEQ, R.v_k, v_one, "k.is1");
  Val v_k64 = LLVMBuildZExt(g->b, v_k32, g->t_i64, "k64");
  R.v_mask64 = l_sub(g, LLVMBuildShl(g->b, l_i64(g, 1), v_k64, ""), l_i64(g, 1), "mask64");
  return R;
}

/* v, in a form the optimizer cannot see through (a volatile store and load
 * of a stack slot): a mask of ROUND_DET that it knew to be 0 or all ones
 * would become a select, which the x86 code generator turns into a branch
 * in every vector step. For the constants of a loop, computed once a call,
 * not for those of one element (round_det's hide). */
static Val opaque(Cg *g, Val v, const char *name) {
  Val var = l_var(g, LLVMTypeOf(v), name, NULL);
  LLVMSetVolatile(LLVMBuildStore(g->b, v, var), 1);
  Val v_o = LLVMBuildLoad2(g->b, LLVMTypeOf(v), var, name);
  LLVMSetVolatile(v_o, 1);
  return v_o;
}

/* The constants of ROUND_DET for the run-time mode v_mode (pseudo or
 * nearest; k >= 1). Both modes round |x| up by comparing two fields of
 * a = |x| (docs/numerics.md, "Shift-and-round"), A = (a >> sa) & ma
 * against B = (a & mb) | cb:
 *   pseudo, k >= 2: hi > lo, both moved to lo's bits (k = 2h + odd, the odd
 *     bit dropped below lo): sa = h, ma = mb = (2^h - 1) << odd, cb = 0;
 *   pseudo, k == 1: f != 0 and q odd, a's low two bits both set:
 *     sa = 0, ma = 3, mb = 0, cb = 2;
 *   nearest: f >= 2^(k-1), bit k - 1 of a: sa = k - 1, ma = 1, mb = cb = 0.
 * So one loop serves both: four vector operations (a shift, an and, a
 * ternary logic op, a compare), as many as pseudo's own and two more than
 * nearest's. */
void round_det(Cg *g, RoundK *R, Val v_mode, bool hide) {
  Ty t = R->t;
  Val v_zero = LLVMConstNull(t), v_one = LLVMConstInt(t, 1, 0);
  Val v_near = l_icmp(g, LLVMIntEQ, v_mode, l_i32(g, NIT_ROUND_NEAREST), "is.near");
  Val v_mp = LLVMBuildShl(g->b, l_sub(g, LLVMBuildShl(g->b, v_one, R->v_h, ""), v_one, ""), R->v_odd, "m.pseudo");
  Val v_sa = l_select(g, R->v_isk1, v_zero, R->v_h, "");
  Val v_ma = l_select(g, R->v_isk1, LLVMConstInt(t, 3, 0), v_mp, "");
  Val v_mb = l_select(g, R->v_isk1, v_zero, v_mp, "");
  Val v_cb = l_select(g, R->v_isk1, LLVMConstInt(t, 2, 0), v_zero, "");
  Val v[] = {l_select(g, v_near, l_sub(g, R->v_k, v_one, ""), v_sa, "det.sa"),
             l_select(g, v_near, v_one, v_ma, "det.ma"), l_select(g, v_near, v_zero, v_mb, "det.mb"),
             l_select(g, v_near, v_zero, v_cb, "det.cb")};
  Val *field[] = {&R->v_dsa, &R->v_dma, &R->v_dmb, &R->v_dcb};
  for (int i = 0; i < 4; i++) *field[i] = hide ? opaque(g, v[i], LLVMGetValueName(v[i])) : v[i];
}

/* round_elem's body; v_draw: the element's draw (stochastic), or NULL. */
static Val round_with(Cg *g, const RoundK *R, int mode, Val v_x, Val v_draw);

/* R(x, k) of one element for k >= 1, in the width of x, with mode
 * stochastic (the element's draw, from key and index) or ROUND_DET (pseudo
 * or nearest, by R's constants from round_det). */
Val round_elem(Cg *g, const RoundK *R, int mode, Val v_x, Val v_key, Val v_idx) {
  NIT_ASSERT(mode == ROUND_DET || mode == NIT_ROUND_STOCHASTIC);
  return round_with(g, R, mode, v_x, mode == ROUND_DET ? NULL : l_draw(g, v_key, v_idx, "draw"));
}

Val round_elem_ctr(Cg *g, const RoundK *R, Val v_x, Val v_ctr) {
  return round_with(g, R, NIT_ROUND_STOCHASTIC, v_x, l_draw_ctr(g, v_ctr, "draw"));
}

static Val round_with(Cg *g, const RoundK *R, int mode, Val v_x, Val v_draw) {
  Ty t = R->t;
  Val v_a = l_abs(g, v_x, "a");
  Val v_q = LLVMBuildLShr(g->b, v_a, R->v_k, "q");
  Val v_up;
  if (mode == ROUND_DET) {
    Val v_A = LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, v_a, R->v_dsa, ""), R->v_dma, "det.a");
    Val v_B = LLVMBuildOr(g->b, LLVMBuildAnd(g->b, v_a, R->v_dmb, ""), R->v_dcb, "det.b");
    v_up = l_icmp(g, LLVMIntUGT, v_A, v_B, "up.det");
  } else {
    Val v_f = LLVMBuildAnd(g->b, v_a, R->v_mask, "f");
    Val v_r = LLVMBuildAnd(g->b, v_draw, R->v_mask64, "r");
    Val v_f64 = t == g->t_i64 ? v_f : LLVMBuildZExt(g->b, v_f, g->t_i64, "f64");
    v_up = l_icmp(g, LLVMIntUGT, v_f64, v_r, "up.stoch");
  }
  Val v_mag = l_select(g, v_up, l_add(g, v_q, R->v_one, ""), v_q, "mag");
  return l_select(g, l_icmp(g, LLVMIntSLT, v_x, LLVMConstNull(t), ""), LLVMBuildNeg(g->b, v_mag, ""), v_mag, "r");
}

/* lim(b) = 2^(b-1) - 1: the largest magnitude of a b-bit value. */
int round_lim(int bits) { return (1 << (bits - 1)) - 1; }

/* out[j] = 0 where gate[j] <= 0 (a gated round: the relu folded into an
 * error site), else v_r. */
static Val gated(Cg *g, Val v_gate, Val v_j, Val v_r) {
  if (!v_gate) return v_r;
  Val v_on = l_icmp(g, LLVMIntSGT, l_load(g, g->t_i8, v_gate, v_j, "gate"), LLVMConstNull(g->t_i8), "gate.on");
  return l_select(g, v_on, v_r, LLVMConstNull(g->t_i8), "gated");
}

/* The i32 lanes of one vector of the packed loops: 16 (zmm) on x86 with
 * AVX-512BW, 8 (ymm) on x86 with AVX2 (madd_bits is 128 on other
 * targets), 0 where there are no packs. */
int round_packed_lanes(const Cg *g) { return g->bw512 ? 16 : g->madd_bits >= 256 ? 8 : 0; }

/* R's constants in every lane of a vector of n i32 (the packed loops). */
RoundK round_consts_v(Cg *g, const RoundK *R, unsigned n) {
  RoundK Rv = *R;
  Rv.t = LLVMVectorType(g->t_i32, n);
  Val *field[] = {&Rv.v_k, &Rv.v_mask, &Rv.v_odd, &Rv.v_h, &Rv.v_one, &Rv.v_dsa, &Rv.v_dma, &Rv.v_dmb, &Rv.v_dcb};
  for (unsigned i = 0; i < sizeof field / sizeof field[0]; i++)
    if (*field[i]) *field[i] = l_splat(g, *field[i], n, "");
  return Rv;
}

/* Elements [j, j + 4n) of the i32 array v_acc (n = Rv's lanes, 16 or 8),
 * each rounded to +-R(|x|, k) without saturation (Rv from round_consts_v;
 * no draws), as 4n bytes in element order: four vectors, one at a time (no
 * 64-lane masks), packed by packssdw and packsswb, which saturate to
 * [-128, 127]. */
Val round_bytes_packed(Cg *g, const RoundK *Rv, int mode, Val v_acc, Val v_j, const char *name) {
  unsigned n = LLVMGetVectorSize(Rv->t), L = n / 4; /* 128-bit lanes */
  Ty t_q = Rv->t, ft_dw, ft_wb;
  Val v_q[4];
  for (int i = 0; i < 4; i++) {
    Val v_at = l_gep(g, g->t_i32, v_acc, l_add(g, v_j, l_i64(g, (int64_t)n * i), ""), "");
    Val v_x = LLVMBuildLoad2(g->b, t_q, v_at, "x");
    LLVMSetAlignment(v_x, 4);
    v_q[i] = round_elem(g, Rv, mode, v_x, NULL, NULL);
  }
  Val f_dw = l_intrinsic(g, n == 16 ? "llvm.x86.avx512.packssdw.512" : "llvm.x86.avx2.packssdw", NULL, 0, &ft_dw);
  Val f_wb = l_intrinsic(g, n == 16 ? "llvm.x86.avx512.packsswb.512" : "llvm.x86.avx2.packsswb", NULL, 0, &ft_wb);
  Val a01[] = {v_q[0], v_q[1]}, a23[] = {v_q[2], v_q[3]};
  Val v_w01 = l_call(g, ft_dw, f_dw, a01, 2, "w01"), v_w23 = l_call(g, ft_dw, f_dw, a23, 2, "w23");
  Val a_wb[] = {v_w01, v_w23};
  Val v_p = l_call(g, ft_wb, f_wb, a_wb, 2, "b");
  /* 128-bit lane i of the packed bytes holds dword i of each quarter q, in
   * order q: dword 4i + q goes to L q + i */
  Val idx[16];
  for (unsigned d = 0; d < n; d++) idx[d] = l_i32(g, (int)(4 * (d % L) + d / L));
  Val v_d = LLVMBuildBitCast(g->b, v_p, t_q, "");
  v_d = LLVMBuildShuffleVector(g->b, v_d, LLVMGetUndef(t_q), LLVMConstVector(idx, n), "");
  return LLVMBuildBitCast(g->b, v_d, LLVMVectorType(g->t_i8, 4 * n), name);
}

/* x86 with AVX-512BW or AVX2, 8-bit results of i32 accumulators, pseudo
 * and nearest rounding (no draws): elements [lo, lo + V floor((hi - lo) /
 * V)) in steps of V = 64 or 32, rounded and packed to bytes
 * (round_bytes_packed), which saturates to [-128, 127], and floored (max
 * with floor, which is -127 or 0). That is the element loop's saturation
 * to [-127, 127] and floor, in about a third fewer instructions: the packs
 * replace four saturations and four truncations per V. Returns the first
 * element left to the element loop. */
static Val round8_packed(Cg *g, const RoundK *R, int mode, Val v_acc, Val v_lo, Val v_hi, Val v_out, Val v_floor) {
  unsigned n = (unsigned)round_packed_lanes(g), V = 4 * n;
  RoundK Rv = round_consts_v(g, R, n);
  Val v_floor8 = l_splat(g, l_trunc(g, v_floor, g->t_i8, ""), V, "floor.b");
  Val v_steps = LLVMBuildSDiv(g->b, l_sub(g, v_hi, v_lo, ""), l_i64(g, V), "steps");
  Loop L = l_for(g, l_i64(g, 0), v_steps, "jv");
  Val v_j = l_add(g, v_lo, l_mul(g, L.v_i, l_i64(g, V), ""), "j");
  Val v_o = l_smax(g, round_bytes_packed(g, &Rv, mode, v_acc, v_j, "in.order"), v_floor8, "floored");
  LLVMSetAlignment(LLVMBuildStore(g->b, v_o, l_gep(g, g->t_i8, v_out, v_j, "")), 1);
  l_next(g, &L);
  return l_add(g, v_lo, l_mul(g, v_steps, l_i64(g, V), ""), "j.rest");
}

/* What one rounding loop of round8 reads. */
typedef struct R8 {
  Ty t_acc;
  Val v_acc, v_lo, v_hi, v_out, v_key, v_base, v_floor, v_lim, v_gate;
  Val v_floor_acc, v_lim_acc; /* floor and lim in the accumulators' type */
} R8;

/* One of round8's loops: mode stochastic or ROUND_DET. */
static void round8_loop(Cg *g, const R8 *a, const RoundK *R, int mode) {
  Val v_from = a->v_lo;
  if (round_packed_lanes(g) && !a->v_gate && a->t_acc == g->t_i32 && mode == ROUND_DET) {
    Val var_from = l_var(g, g->t_i64, "from.var", a->v_lo);
    Blk b_np = l_if(g, l_icmp(g, LLVMIntEQ, a->v_lim, l_i32(g, 127), ""), "bytes");
    l_set(g, var_from, round8_packed(g, R, mode, a->v_acc, a->v_lo, a->v_hi, a->v_out, a->v_floor));
    l_endif(g, b_np);
    v_from = l_get(g, g->t_i64, var_from, "from");
  }
  bool st = mode == NIT_ROUND_STOCHASTIC;
  Val v_gfrom = st ? l_add(g, a->v_base, v_from, "gidx.lo") : NULL; /* draws by global index base + j */
  Loop L = l_for(g, v_from, a->v_hi, st ? "stochastic" : "det");
  Val v_x = l_load(g, a->t_acc, a->v_acc, L.v_i, "x");
  Val v_r = st ? round_elem_ctr(g, R, v_x, l_draw_ctr_begin(g, &L, a->v_key, v_gfrom))
               : round_elem(g, R, mode, v_x, a->v_key, L.v_i);
  v_r = l_smax(g, l_smin(g, v_r, a->v_lim_acc, ""), a->v_floor_acc, "clamped"); /* |r| <= lim, r >= floor */
  l_store(g, g->t_i8, gated(g, a->v_gate, L.v_i, l_trunc(g, v_r, g->t_i8, "r8")), a->v_out, L.v_i);
  if (st) l_next_draws(g, &L);
  else l_next(g, &L);
}

/* void NAME(acc, lo, hi, out, k, mode, key, base, floor, lim[, gate]): the
 * requantization's rounding of elements [lo, hi) into [floor, lim]
 * (ft_round8; ft_round8g with gate). lim = lim(b) of the result's width b
 * and floor is -lim or 0 (a relu): run-time arguments, so that one function
 * per accumulator width serves every result width. Three loops: k == 0 (a
 * saturating copy), stochastic (the only one that runs the generator), and
 * pseudo or nearest (ROUND_DET). The packed loops saturate to 8 bits, so
 * they run when lim is 127. */
Val emit_round8(Cg *g, Ty t_acc, bool gate, const char *name) {
  Val f = l_begin_loop_fn(g, name, gate ? g->ft_round8g : g->ft_round8);
  R8 a = {.t_acc = t_acc,
          .v_acc = l_param(g, 0, "acc"),
          .v_lo = l_param(g, 1, "lo"),
          .v_hi = l_param(g, 2, "hi"),
          .v_out = l_param(g, 3, "out"),
          .v_key = l_param(g, 6, "key"),
          .v_base = l_param(g, 7, "base"),
          .v_floor = l_param(g, 8, "floor"),
          .v_lim = l_param(g, 9, "lim"),
          .v_gate = gate ? l_param(g, 10, "gate") : NULL};
  Val v_k = l_param(g, 4, "k"), v_mode = l_param(g, 5, "mode");
  a.v_floor_acc = l_sext(g, a.v_floor, t_acc, "floor.acc");
  a.v_lim_acc = l_sext(g, a.v_lim, t_acc, "lim.acc");
  /* k == 0: the value itself, saturated */
  Blk b_kn, b_done = l_if_else(g, l_icmp(g, LLVMIntEQ, v_k, l_i32(g, 0), ""), "k0", &b_kn);
  Loop L0 = l_for(g, a.v_lo, a.v_hi, "j0");
  Val v_x0 = l_load(g, t_acc, a.v_acc, L0.v_i, "x");
  Val v_c = l_smax(g, l_smin(g, v_x0, a.v_lim_acc, ""), a.v_floor_acc, "");
  l_store(g, g->t_i8, gated(g, a.v_gate, L0.v_i, l_trunc(g, v_c, g->t_i8, "sat")), a.v_out, L0.v_i);
  l_next(g, &L0);
  l_else(g, b_kn, b_done);
  RoundK R = round_consts(g, t_acc, v_k);
  Blk b_det, b_join = l_if_else(g, l_icmp(g, LLVMIntEQ, v_mode, l_i32(g, NIT_ROUND_STOCHASTIC), ""), "st", &b_det);
  round8_loop(g, &a, &R, NIT_ROUND_STOCHASTIC);
  l_else(g, b_det, b_join);
  round_det(g, &R, v_mode, true); /* here, so that a stochastic call does not pay for it */
  round8_loop(g, &a, &R, ROUND_DET);
  l_endif(g, b_join);
  l_endif(g, b_done);
  LLVMBuildRetVoid(g->b);
  return f;
}

/* Requantize `count` accumulators into out on the workers; returns k (i32).
 * The run-time arguments travel through the `rq` slab area (a body reloads
 * everything from the context): each chunk of RQ_CHUNK elements finds its
 * max |acc| into its worker's slot, the caller combines the maxima (exact,
 * in any order) into k, and the chunks round with it, each element with its
 * own flat index. */
#define RQ_CHUNK 8192
enum {
  RQ_ACC = 0,
  RQ_OUT = 8,
  RQ_COUNT = 16,
  RQ_KEY = 24,
  RQ_MODE = 32,
  RQ_K = 36,
  RQ_BASE = 40,
  RQ_ARG = 48,
  RQ_GATE = 56,
  RQ_MAX = 64
};

static Val rq_ptr(Cg *g) { return l_slab(g, g->f.v_work, g->p->rq.off, "rq"); }
static Val rq_field(Cg *g, Ty t, int off, const char *name) {
  return LLVMBuildLoad2(g->b, t, l_gep(g, g->t_i8, rq_ptr(g), l_i64(g, off), ""), name);
}

/* One i32 that a parallel loop's body reads (par_arg) and its caller sets
 * just before (par_arg_set); a requantization does not use it. */
void par_arg_set(Cg *g, Val v) { LLVMBuildStore(g->b, v, l_gep(g, g->t_i8, rq_ptr(g), l_i64(g, RQ_ARG), "")); }
Val par_arg(Cg *g) { return rq_field(g, g->t_i32, RQ_ARG, "par.arg"); }

static void rq_range(Cg *g, Val v_lo, Val v_hi, Val *v_elo, Val *v_ehi) {
  *v_elo = l_mul(g, v_lo, l_i64(g, RQ_CHUNK), "lo.e");
  *v_ehi = l_smin(g, l_mul(g, v_hi, l_i64(g, RQ_CHUNK), ""), rq_field(g, g->t_i64, RQ_COUNT, "count"), "hi.e");
}

/* A worker's largest |acc| (i64) into its rq slot. */
void worker_max_store(Cg *g, Val v_max, Val v_wk) {
  Val v_slot = l_add(g, l_i64(g, RQ_MAX), l_mul(g, LLVMBuildZExt(g->b, v_wk, g->t_i64, ""), l_i64(g, 8), ""), "");
  LLVMBuildStore(g->b, v_max, l_gep(g, g->t_i8, rq_ptr(g), v_slot, ""));
}

static void rq_max_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  bool wide = ((const RqKind *)u)->wide;
  Val v_elo, v_ehi;
  rq_range(g, v_lo, v_hi, &v_elo, &v_ehi);
  Val args[] = {rq_field(g, g->t_ptr, RQ_ACC, "acc"), v_elo, v_ehi};
  worker_max_store(g, l_call(g, g->ft_maxabs, wide ? g->f_maxabs64 : g->f_maxabs32, args, 3, "max"), v_wk);
}

/* The rounding function of a kind (ft_round8, or ft_round8g with a gate),
 * the gated one emitted on first use between the caller's instructions. */
static Val round_fn(Cg *g, const RqKind *q, Ty *ft) {
  NIT_ASSERT(q->bits >= 2 && q->bits <= 8 && g->f_round8[q->wide] && (!q->relu || q->bits == RELU_FOLD_BITS) &&
             (!q->gate || q->bits == RELU_FOLD_BITS));
  if (!q->gate) {
    *ft = g->ft_round8;
    return g->f_round8[q->wide];
  }
  if (!g->f_round8g[q->wide]) {
    Aside saved = l_aside(g);
    g->f_round8g[q->wide] = emit_round8(g, q->wide ? g->t_i64 : g->t_i32, true,
                                        q->wide ? "nit_round8g_i64" : "nit_round8g_i32");
    l_back(g, saved);
  }
  *ft = g->ft_round8g;
  return g->f_round8g[q->wide];
}

/* Round acc[lo, hi) into out[lo, hi) with k, draws keyed from base + j. */
static void round_call(Cg *g, const RqKind *q, Val v_acc, Val v_lo, Val v_hi, Val v_out, Val v_k, Val v_base,
                       Val v_gate) {
  Ty ft;
  Val f = round_fn(g, q, &ft);
  Val args[] = {v_acc,
                v_lo,
                v_hi,
                v_out,
                v_k,
                rq_field(g, g->t_i32, RQ_MODE, "mode"),
                rq_field(g, g->t_i64, RQ_KEY, "key"),
                v_base,
                l_i32(g, q->relu ? 0 : -round_lim(q->bits)),
                l_i32(g, round_lim(q->bits)),
                v_gate};
  l_call(g, ft, f, args, q->gate ? 11 : 10, "");
}

/* Elements [elo, ehi) of the requantization in the rq area, rounded. */
static void rq_round_elems(Cg *g, const RqKind *q, Val v_elo, Val v_ehi) {
  round_call(g, q, rq_field(g, g->t_ptr, RQ_ACC, "acc"), v_elo, v_ehi, rq_field(g, g->t_ptr, RQ_OUT, "out"),
             rq_field(g, g->t_i32, RQ_K, "k"), rq_field(g, g->t_i64, RQ_BASE, "base"),
             q->gate ? rq_field(g, g->t_ptr, RQ_GATE, "gate") : NULL);
}

static void rq_round_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  (void)v_wk;
  Val v_elo, v_ehi;
  rq_range(g, v_lo, v_hi, &v_elo, &v_ehi);
  rq_round_elems(g, u, v_elo, v_ehi);
}

/* The largest of the first v_used workers' rq slots (i64). */
Val workers_max(Cg *g, Val v_used) {
  Val var_max = l_var(g, g->t_i64, "max.var", l_i64(g, 0));
  Loop Lw = l_for(g, l_i64(g, 0), LLVMBuildZExt(g->b, v_used, g->t_i64, ""), "wk");
  Val v_slot = l_add(g, l_i64(g, RQ_MAX), l_mul(g, Lw.v_i, l_i64(g, 8), ""), "");
  Val v_m = LLVMBuildLoad2(g->b, g->t_i64, l_gep(g, g->t_i8, rq_ptr(g), v_slot, ""), "max.w");
  l_set(g, var_max, l_smax(g, l_get(g, g->t_i64, var_max, ""), v_m, "max"));
  l_next(g, &Lw);
  return l_get(g, g->t_i64, var_max, "max");
}

/* A GEMM body's running max |C| (gemm's fused epilogue) for requant_fused:
 * start it at the top of the body, store it into the worker's rq slot at
 * the end. */
Val fused_begin(Cg *g) {
  Ty t_v = LLVMVectorType(g->t_i32, 16);
  return l_var(g, t_v, "max.var", LLVMConstNull(t_v));
}
/* max |g| of a gradient whose GEMM left its workers' maxima in the rq slots,
 * or -1 where the gradient is then summed over the ranks (the context has
 * an allsum), which changes it. */
Val grad_fused_max(Cg *g, Val v_used) {
  Val v_mpi = LLVMBuildIsNotNull(g->b, ctx_field(g, CTX_allsum, g->t_ptr, "allsum"), "data.parallel");
  return l_select(g, v_mpi, l_i64(g, -1), workers_max(g, v_used), "g.max");
}

/* max |g| of a gradient whose GEMM ran as one unit with its maximum in rq
 * slot `slot` (a paired dense layer), or -1 where it is then summed over
 * the ranks. Read before the region of any other requantization. */
Val grad_slot_max(Cg *g, int slot) {
  Val v_mpi = LLVMBuildIsNotNull(g->b, ctx_field(g, CTX_allsum, g->t_ptr, "allsum"), "data.parallel");
  Val v_m = LLVMBuildLoad2(g->b, g->t_i64, l_gep(g, g->t_i8, rq_ptr(g), l_i64(g, RQ_MAX + 8 * slot), ""), "max.slot");
  return l_select(g, v_mpi, l_i64(g, -1), v_m, "g.max");
}

/* The largest lane of fused_begin's running max (i64). */
static Val fused_max(Cg *g, Val var_max, const char *name) {
  Val v_v = l_get(g, LLVMVectorType(g->t_i32, 16), var_max, "max");
  return LLVMBuildSExt(g->b, l_reduce_smax(g, v_v, "max"), g->t_i64, name);
}

void fused_end(Cg *g, Val var_max, Val v_wk) { worker_max_store(g, fused_max(g, var_max, "max64"), v_wk); }

/* The arguments the rounding bodies read from the rq area: acc, out,
 * count, key, mode, the gate, and the draws' global index base, row0 *
 * (elements per sample) over every rank's slice. */
static void rq_args(Cg *g, const RqKind *q, Val v_acc, Val v_count, Val v_out, Val v_mode, Val v_key, Val v_gate) {
  Val v_rq = rq_ptr(g);
  Ty ft;
  round_fn(g, q, &ft); /* emitted here, outside any body */
  if (v_gate) LLVMBuildStore(g->b, v_gate, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_GATE), ""));
  LLVMBuildStore(g->b, v_acc, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_ACC), ""));
  LLVMBuildStore(g->b, v_out, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_OUT), ""));
  LLVMBuildStore(g->b, v_count, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_COUNT), ""));
  LLVMBuildStore(g->b, v_key, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_KEY), ""));
  LLVMBuildStore(g->b, v_mode, l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_MODE), ""));
  Val v_per = LLVMBuildSDiv(g->b, v_count, l_smax(g, g->f.v_n, l_i64(g, 1), ""), "per");
  LLVMBuildStore(g->b, l_global_idx(g, l_i64(g, 0), v_per), l_gep(g, g->t_i8, v_rq, l_i64(g, RQ_BASE), ""));
}

/* k of a requantization to bits bits whose largest |acc| is v_max (i64):
 * RQ's shift, 0 when the values fit. */
Val rq_step(Cg *g, Val v_max, int bits, const char *name) {
  Val v_b = l_call(g, g->ft_bits, g->f_bits, &v_max, 1, "b");
  return l_smax(g, l_sub(g, v_b, l_i32(g, bits - 1), ""), l_i32(g, 0), name);
}

Val sq_base(Cg *g, Val v_max, int bits) {
  Val v_kT = rq_step(g, v_max, bits, "kT");
  return l_select(g, l_icmp(g, LLVMIntEQ, v_max, l_i64(g, 0), ""), l_i32(g, 0), l_sub(g, v_kT, l_i32(g, 8 - bits), ""),
                  "base");
}

Val sq_step(Cg *g, Val v_max, int bits, Val v_base) { return l_smax(g, rq_step(g, v_max, bits, ""), v_base, "kc"); }

/* k of a requantization whose workers' maxima sit in the first v_used rq
 * slots: from the batch's largest |acc| over every rank's slice; also
 * stored at RQ_K. */
static Val batch_k(Cg *g, int bits, Val v_used) {
  Val v_slot0 = l_gep(g, g->t_i8, rq_ptr(g), l_i64(g, RQ_MAX), "max.slot");
  LLVMBuildStore(g->b, workers_max(g, v_used), v_slot0);
  l_allmax(g, v_slot0, l_i64(g, 1));
  Val v_k = rq_step(g, LLVMBuildLoad2(g->b, g->t_i64, v_slot0, "max.all"), bits, "k");
  LLVMBuildStore(g->b, v_k, l_gep(g, g->t_i8, rq_ptr(g), l_i64(g, RQ_K), ""));
  return v_k;
}

/* Rounding ahead (plan's ahead). A requantization's k comes from the
 * largest |acc| of the whole batch, known only when the GEMM's region has
 * ended, so its accumulators are kept for the whole batch and read back by
 * a rounding region of its own. A conv's forward and input-error bodies
 * work sample by sample; where the plan says so, each instead rounds a
 * sample right after its GEMM, from the worker's slice of one sample's
 * accumulators, with a guess of k:
 *
 *   G = max(floor, k of the largest |acc| of the samples done so far)
 *
 * The largest |acc| so far is shared by the workers (AR_MAX, an atomic
 * max), floor is one below the k of the site's pass before (its guess
 * slot holds k + 1; 0 before the first), and each sample records the G it
 * took (+ 1, in the used bytes). The second term never exceeds the
 * batch's k, so G is that k whenever k is the pass before's or one below,
 * once the samples done reach the batch's largest bit length; it is too
 * small before that, or too large all along if k fell by two or more. When
 * the region has ended, a
 * sample whose G was not the batch's k is stale: the region runs again
 * with floor = k (AR_RERUN), and its bodies redo only the stale samples.
 * Rounding is elementwise, a function of the accumulator, k, the mode and
 * the element's index, so the bytes are those of rounding the batch's
 * kept accumulators; the guesses decide only how much is done twice.
 * Measured in docs/performance.md, "Rounding ahead". */
enum {
  AR_MAX = 0,   /* i64 the largest |acc| of the samples done so far (this rank's) */
  AR_FLOOR = 8, /* i32 floor of the guesses */
  AR_RERUN = 12, /* i32 1 while the stale samples are redone */
  AR_K = 16,    /* i32 the batch's k, once known */
  AR_USED = 64  /* i8 (B) G + 1 of each sample, 0: not done */
};

static Val ar_ptr(Cg *g, int off, const char *name) {
  return l_slab(g, g->f.v_work, g->p->ahead_run.off + off, name);
}
static Val guess_ptr(Cg *g, const Ahead *a) {
  return l_slab(g, g->f.v_work, g->p->guess.off + (int64_t)a->slot * 4, "guess");
}

Ahead ahead_site(int node, int which, RqKind q, const Shape *s) {
  return (Ahead){q, node * AHEAD_SLOTS + which, (int64_t)s->c * s->h * s->w, NULL};
}

void rq_ahead(Cg *g, const Ahead *a, Val v_count, Val v_out, Val v_mode, Val v_key, Val v_gate) {
  NIT_ASSERT(a->q.gate == (v_gate != NULL));
  rq_args(g, &a->q, LLVMConstNull(g->t_ptr), v_count, v_out, v_mode, v_key, v_gate);
}

Val body_max_begin(Cg *g) { return l_var(g, g->t_i64, "max.var", l_i64(g, 0)); }

void body_max_fold(Cg *g, bool wide, Val v_acc, int64_t count, Val var_max) {
  Val args[] = {v_acc, l_i64(g, 0), l_i64(g, count)};
  Val v_s = l_call(g, g->ft_maxabs, wide ? g->f_maxabs64 : g->f_maxabs32, args, 3, "max.b");
  l_set(g, var_max, l_smax(g, l_get(g, g->t_i64, var_max, "max"), v_s, "max.w"));
}

void body_max_end(Cg *g, Val var_max, Val v_wk) { worker_max_store(g, l_get(g, g->t_i64, var_max, "max"), v_wk); }

Blk rq_ahead_skip(Cg *g, Val v_b) {
  Val v_rerun = LLVMBuildLoad2(g->b, g->t_i32, ar_ptr(g, AR_RERUN, "ar.rerun"), "rerun");
  Val v_used = l_sext(g, l_load(g, g->t_i8, ar_ptr(g, AR_USED, "ar.used"), v_b, "used"), g->t_i32, "");
  Val v_k1 = l_add(g, LLVMBuildLoad2(g->b, g->t_i32, ar_ptr(g, AR_K, "ar.k"), "k"), l_i32(g, 1), "");
  Val v_done = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntNE, v_rerun, l_i32(g, 0), ""),
                            l_icmp(g, LLVMIntEQ, v_used, v_k1, ""), "done");
  return l_if(g, LLVMBuildNot(g->b, v_done, ""), "sample");
}

void rq_ahead_sample(Cg *g, const Ahead *a, Val v_acc, Val v_b, Val var_max, bool fused) {
  Val v_m; /* the worker's largest |acc| so far */
  if (fused) {
    v_m = fused_max(g, var_max, "max.w");
  } else {
    body_max_fold(g, a->q.wide, v_acc, a->per, var_max);
    v_m = l_get(g, g->t_i64, var_max, "max.w");
  }
  /* the largest so far of every worker's: raised only when this one is larger */
  Val v_shared = ar_ptr(g, AR_MAX, "ar.max");
  Val v_old = LLVMBuildLoad2(g->b, g->t_i64, v_shared, "max.shared");
  LLVMSetOrdering(v_old, LLVMAtomicOrderingMonotonic);
  LLVMSetAlignment(v_old, 8);
  Blk b_raise = l_if(g, l_icmp(g, LLVMIntSGT, v_m, v_old, ""), "raise");
  LLVMBuildAtomicRMW(g->b, LLVMAtomicRMWBinOpMax, v_shared, v_m, LLVMAtomicOrderingMonotonic, 0);
  l_endif(g, b_raise);
  Val v_floor = LLVMBuildLoad2(g->b, g->t_i32, ar_ptr(g, AR_FLOOR, "ar.floor"), "floor");
  Val v_k = l_smax(g, v_floor, rq_step(g, l_smax(g, v_m, v_old, ""), a->q.bits, "k"), "k.guess");
  l_store(g, g->t_i8, LLVMBuildTrunc(g->b, l_add(g, v_k, l_i32(g, 1), ""), g->t_i8, ""),
          ar_ptr(g, AR_USED, "ar.used"), v_b);
  Val v_at = l_mul(g, v_b, l_i64(g, a->per), "at");
  Val v_gate = a->q.gate ? l_gep(g, g->t_i8, rq_field(g, g->t_ptr, RQ_GATE, "gate"), v_at, "gate.b") : NULL;
  round_call(g, &a->q, v_acc, l_i64(g, 0), l_i64(g, a->per),
             l_gep(g, g->t_i8, rq_field(g, g->t_ptr, RQ_OUT, "out"), v_at, "out.b"), v_k,
             l_add(g, rq_field(g, g->t_i64, RQ_BASE, "base"), v_at, "base.b"), v_gate);
}

/* Whether any of the n samples' used bytes is not v_k1 (i1). */
static Val any_stale(Cg *g, Val v_k1) {
  Val var = l_var(g, g->t_i32, "stale.var", l_i32(g, 0));
  Val v_used = ar_ptr(g, AR_USED, "ar.used");
  Loop L = l_for(g, l_i64(g, 0), g->f.v_n, "s");
  Val v_u = l_sext(g, l_load(g, g->t_i8, v_used, L.v_i, "used"), g->t_i32, "");
  Val v_st = LLVMBuildZExt(g->b, l_icmp(g, LLVMIntNE, v_u, v_k1, ""), g->t_i32, "");
  l_set(g, var, LLVMBuildOr(g->b, l_get(g, g->t_i32, var, ""), v_st, ""));
  l_next(g, &L);
  return l_icmp(g, LLVMIntNE, l_get(g, g->t_i32, var, "stale"), l_i32(g, 0), "stale");
}

Val rq_ahead_run(Cg *g, Ahead *a, const char *name, BodyFn body, const void *u) {
  Val v_gp = guess_ptr(g, a);
  LLVMBuildStore(g->b, l_sub(g, LLVMBuildLoad2(g->b, g->t_i32, v_gp, "guess"), l_i32(g, 2), "floor"),
                 ar_ptr(g, AR_FLOOR, "ar.floor"));
  LLVMBuildStore(g->b, l_i32(g, 0), ar_ptr(g, AR_RERUN, "ar.rerun"));
  LLVMBuildStore(g->b, l_i64(g, 0), ar_ptr(g, AR_MAX, "ar.max"));
  Blk b_pass = l_block(g, "ahead.pass"), b_again = l_block(g, "ahead.again"), b_done = l_block(g, "ahead.done");
  LLVMBuildBr(g->b, b_pass);
  LLVMPositionBuilderAtEnd(g->b, b_pass);
  Val v_used = par_for(g, name, g->f.v_n, g->p->maxw, body, u);
  Val v_rerun = l_icmp(g, LLVMIntNE, LLVMBuildLoad2(g->b, g->t_i32, ar_ptr(g, AR_RERUN, "ar.rerun"), "rerun"),
                       l_i32(g, 0), "rerun");
  Blk b_first = l_if(g, LLVMBuildNot(g->b, v_rerun, ""), "ahead.first");
  Val v_kb = batch_k(g, a->q.bits, v_used);
  LLVMBuildStore(g->b, v_kb, ar_ptr(g, AR_K, "ar.k"));
  LLVMBuildStore(g->b, l_add(g, v_kb, l_i32(g, 1), ""), v_gp);
  l_endif(g, b_first);
  Val v_k = LLVMBuildLoad2(g->b, g->t_i32, ar_ptr(g, AR_K, "ar.k"), "k");
  Val v_stale = any_stale(g, l_add(g, v_k, l_i32(g, 1), "k1"));
  /* after the second pass none is stale (floor k: every G is k) */
  Blk b_bug = l_if(g, LLVMBuildAnd(g->b, v_stale, v_rerun, ""), "ahead.bug");
  l_trap(g);
  l_endif(g, b_bug);
  LLVMBuildCondBr(g->b, v_stale, b_again, b_done);
  LLVMPositionBuilderAtEnd(g->b, b_again);
  LLVMBuildStore(g->b, v_k, ar_ptr(g, AR_FLOOR, "ar.floor"));
  LLVMBuildStore(g->b, l_i32(g, 1), ar_ptr(g, AR_RERUN, "ar.rerun"));
  LLVMBuildBr(g->b, b_pass);
  LLVMPositionBuilderAtEnd(g->b, b_done);
  a->v_k = v_k;
  return v_used;
}

/* A rounding region by samples whose bodies then run a Follow on the same
 * samples: rounding is elementwise, so any split gives the same bytes, and
 * the follower reads only what its own body rounded. */
typedef struct RqThen {
  RqKind q;
  const Follow *next;
} RqThen;

static void rq_round_then_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const RqThen *t = u;
  Val v_per = l_i64(g, t->next->per);
  rq_round_elems(g, &t->q, l_mul(g, v_lo, v_per, "lo.e"), l_mul(g, v_hi, v_per, "hi.e"));
  t->next->fn(g, t->next->u, v_lo, v_hi, v_wk);
}

/* v_fused: NULL, or the number of workers of the GEMM that produced acc,
 * whose maxima already sit in the rq slots (gemm's fused epilogue).
 * v_gate: NULL, or int8 values of out's shape: out is 0 wherever the gate
 * is <= 0 (8 bits; k comes from every accumulator, as before the gate).
 * ahead: NULL, or the GEMM's bodies rounded every output ahead
 * (rq_ahead_run): only k is returned.
 * next: NULL, or a body to run on each worker's samples after it rounded
 * them, in the same region (then split by samples: count is n * next->per). */
Val requant_fused(Cg *g, int bits, bool wide, Val v_acc, Val v_count, Val v_out, Val v_mode, Val v_key, Val v_fused,
                  bool relu, Val v_gate, const Ahead *ahead, const Follow *next) {
  RqKind q = {wide, bits, relu, v_gate != NULL};
  NIT_ASSERT(!(ahead && next));
  if (ahead) {
    NIT_ASSERT(ahead->v_k && ahead->q.wide == wide && ahead->q.bits == bits && ahead->q.relu == relu &&
               ahead->q.gate == q.gate);
    return ahead->v_k;
  }
  rq_args(g, &q, v_acc, v_count, v_out, v_mode, v_key, v_gate);
  Val v_chunks = LLVMBuildSDiv(g->b, l_add(g, v_count, l_i64(g, RQ_CHUNK - 1), ""), l_i64(g, RQ_CHUNK), "chunks");
  /* the node's workers (fewer for a small dense layer, whose GEMM split
   * its accumulators by columns), all of them with a follower */
  int maxw = next ? g->p->maxw : g->workers;
  Val v_used = v_fused ? v_fused : par_for(g, "rq.max", v_chunks, maxw, rq_max_body, &q);
  Val v_k = batch_k(g, bits, v_used);
  if (next) {
    RqThen t = {q, next};
    par_for(g, "rq.round", g->f.v_n, maxw, rq_round_then_body, &t);
  } else {
    par_for(g, "rq.round", v_chunks, maxw, rq_round_body, &q);
  }
  return v_k;
}

Val requant(Cg *g, int bits, bool wide, Val v_acc, Val v_count, Val v_out, Val v_mode, Val v_key) {
  return requant_fused(g, bits, wide, v_acc, v_count, v_out, v_mode, v_key, NULL, false, NULL, NULL, NULL);
}

/* The round8 functions, one per accumulator width (every result width). */
void emit_round_fns(Cg *g) {
  g->f_round8[0] = emit_round8(g, g->t_i32, false, "nit_round8_i32");
  g->f_round8[1] = emit_round8(g, g->t_i64, false, "nit_round8_i64");
}

/* Exponent alignment for exact sums (docs/numerics.md, "alignment"): terms
 * at exponents s_t are summed at the common exponent
 *   s = max(min_t s_t, max_t s_t - ALIGN_SPAN),
 * each shifted left by s_t - s; a term more than ALIGN_SPAN bits below the
 * largest is dropped. align_common returns s from the smallest and largest
 * s_t; align_shift gives one term's "used" flag and its shift (i64). */
#define ALIGN_SPAN 48

Val align_common(Cg *g, Val v_lo, Val v_hi) {
  return l_smax(g, v_lo, l_sub(g, v_hi, l_i32(g, ALIGN_SPAN), ""), "s.common");
}

void align_shift(Cg *g, Val v_e, Val v_s, Val *v_use, Val *v_d) {
  *v_use = l_icmp(g, LLVMIntSGE, v_e, v_s, "use");
  *v_d = LLVMBuildZExt(g->b, l_smax(g, l_sub(g, v_e, v_s, ""), l_i32(g, 0), ""), g->t_i64, "d");
}

/* Whether count int8 values are all zero (i1). */
Val zero_tensor8(Cg *g, Val v_p, Val v_cnt, const char *name) {
  Val args[] = {v_p, l_i64(g, 0), v_cnt};
  /* a property of the whole batch: every rank's slice must be zero */
  Val var_max = l_var(g, g->t_i64, "max8.var", NULL);
  l_set(g, var_max, l_call(g, g->ft_maxabs, g->f_maxabs8, args, 3, "max8"));
  l_allmax(g, var_max, l_i64(g, 1));
  return l_icmp(g, LLVMIntEQ, l_get(g, g->t_i64, var_max, "max8.all"), l_i64(g, 0), name);
}

/* The shifts of up to ALIGN_TERMS aligned terms, for a parallel body, in
 * par_arg's i32: byte t is term t's shift d (at most ALIGN_SPAN, align_shift)
 * with bit 7 set where the term takes part. */
_Static_assert(ALIGN_SPAN < 64 && ALIGN_TERMS <= 4, "a shift and its flag fit a byte");
Val align_pack(Cg *g, Val v_packed, int t, Val v_use, Val v_d) {
  Val v_flag = l_select(g, v_use, l_i32(g, 128), l_i32(g, 0), "");
  Val v_byte = LLVMBuildOr(g->b, LLVMBuildTrunc(g->b, v_d, g->t_i32, ""), v_flag, "");
  return LLVMBuildOr(g->b, v_packed, LLVMBuildShl(g->b, v_byte, l_i32(g, 8 * t), ""), "align.pack");
}
void align_unpack(Cg *g, Val v_packed, int t, Val *v_use, Val *v_d) {
  Val v_byte = LLVMBuildLShr(g->b, v_packed, l_i32(g, 8 * t), "");
  *v_use = l_icmp(g, LLVMIntNE, LLVMBuildAnd(g->b, v_byte, l_i32(g, 128), ""), l_i32(g, 0), "use");
  *v_d = LLVMBuildZExt(g->b, LLVMBuildAnd(g->b, v_byte, l_i32(g, 63), ""), g->t_i64, "d");
}

/* Samples [lo, hi) of add node i's aligned sum (align_sum2), and their
 * largest |sum| into the worker's rq slot (for requant_fused). */
static void sum2_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const Node *nd = u;
  int64_t per = numel(&nd->out);
  Val var_max = l_var(g, g->t_i64, "max.var", l_i64(g, 0));
  Val v_a = act_ptr(g, nd->in[0]), v_b = act_ptr(g, nd->in[1]), v_out = acc_ptr(g), v_use1, v_use2, v_d1, v_d2;
  Val v_packed = par_arg(g);
  align_unpack(g, v_packed, 0, &v_use1, &v_d1);
  align_unpack(g, v_packed, 1, &v_use2, &v_d2);
  Loop L = l_for(g, l_mul(g, v_lo, l_i64(g, per), ""), l_mul(g, v_hi, l_i64(g, per), ""), "j");
  Val v_x = LLVMBuildShl(g->b, l_sext(g, l_load(g, g->t_i8, v_a, L.v_i, "a"), g->t_i64, ""), v_d1, "");
  Val v_y = LLVMBuildShl(g->b, l_sext(g, l_load(g, g->t_i8, v_b, L.v_i, "b"), g->t_i64, ""), v_d2, "");
  v_x = l_select(g, v_use1, v_x, l_i64(g, 0), "");
  v_y = l_select(g, v_use2, v_y, l_i64(g, 0), "");
  Val v_sum = l_add(g, v_x, v_y, "sum");
  l_store(g, g->t_i64, v_sum, v_out, L.v_i);
  l_set(g, var_max, l_smax(g, l_get(g, g->t_i64, var_max, ""), l_abs(g, v_sum, "abs"), "max"));
  l_next(g, &L);
  worker_max_store(g, l_get(g, g->t_i64, var_max, "max"), v_wk);
}

/* Exact sum of node i's two int8 inputs at exponents s1, s2 into its i64
 * accumulators at their common exponent, which it returns; the sum on the
 * workers, whose number goes to *v_fused (their largest |sum| in the rq
 * slots, for requant_fused). */
Val align_sum2(Cg *g, int i, Val v_s1, Val v_s2, Val v_cnt, Val *v_fused) {
  const Node *nd = &g->m->nodes[i];
  Val v_a = act_ptr(g, nd->in[0]), v_b = act_ptr(g, nd->in[1]);
  Val v_use1, v_use2, v_d1, v_d2;
  if (g->m->recipe.kind != NIT_RECIPE_NITI) {
    /* all-zero operands take no part in choosing the exponent
     * (docs/recipes.md, decision "Aligned sums skip all-zero operands"):
     * a zero operand takes the other's exponent, both zero give 0 */
    Val v_z1 = zero_tensor8(g, v_a, v_cnt, "a.zero"), v_z2 = zero_tensor8(g, v_b, v_cnt, "b.zero");
    v_s1 = l_select(g, v_z1, l_select(g, v_z2, l_i32(g, 0), v_s2, ""), v_s1, "s1.live");
    v_s2 = l_select(g, v_z2, v_s1, v_s2, "s2.live");
  }
  Val v_s = align_common(g, l_smin(g, v_s1, v_s2, ""), l_smax(g, v_s1, v_s2, ""));
  align_shift(g, v_s1, v_s, &v_use1, &v_d1);
  align_shift(g, v_s2, v_s, &v_use2, &v_d2);
  par_arg_set(g, align_pack(g, align_pack(g, l_i32(g, 0), 0, v_use1, v_d1), 1, v_use2, v_d2));
  *v_fused = par_for(g, nd->name, g->f.v_n, g->p->maxw, sum2_body, nd);
  return v_s;
}

/* ------------------------------------------------- error quantizers */

/* The SQ group of block (b, c) (recipe.groups). */
static Val sq_group(Cg *g, int groups, Val v_b, Val v_c) {
  return groups == NIT_GROUPS_CHANNEL ? v_c : groups == NIT_GROUPS_SAMPLE ? v_b : l_i64(g, 0);
}

/* What requant_sq's bodies know at compile time; acc, out, mode and key
 * travel in the rq area. */
typedef struct SqRound {
  bool wide;
  int bits;
  int64_t C, HW;
  int groups; /* recipe.groups */
} SqRound;

/* Step 1 of requant_sq on samples [lo, hi): each block's max |x| into the
 * plan's sq_blk at (b, c). */
static void sq_max_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  (void)v_wk;
  const SqRound *q = u;
  int64_t C = q->C, HW = q->HW;
  Val v_acc = rq_field(g, g->t_ptr, RQ_ACC, "acc"), v_bm = l_slab(g, g->f.v_work, g->p->sq_blk.off, "sq.blocks");
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "c");
  Val v_blk = l_add(g, l_mul(g, Lb.v_i, l_i64(g, C), ""), Lc.v_i, "blk");
  Val v_j0 = l_mul(g, v_blk, l_i64(g, HW), "j0");
  Val margs[] = {v_acc, v_j0, l_add(g, v_j0, l_i64(g, HW), "")};
  l_store(g, g->t_i64, l_call(g, g->ft_maxabs, q->wide ? g->f_maxabs64 : g->f_maxabs32, margs, 3, "max.blk"), v_bm,
          v_blk);
  l_next(g, &Lc);
  l_next(g, &Lb);
}

/* Step 3 of requant_sq on samples [lo, hi): base the body's argument, each
 * group's kc in the sq buffer; a block of HW elements shares its group's
 * kc, so it is one call of the round8 function of b bits (vectorized),
 * then shifted. */
static void sq_round_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  (void)v_wk;
  const SqRound *q = u;
  RqKind k = {q->wide, q->bits, false, false};
  int64_t C = q->C, HW = q->HW;
  Val v_acc = rq_field(g, g->t_ptr, RQ_ACC, "acc"), v_out = rq_field(g, g->t_ptr, RQ_OUT, "out");
  Val v_base = par_arg(g), v_gm = l_slab(g, g->f.v_work, g->p->sq.off, "sq.groups");
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "c");
  Val v_kc = l_trunc(g, l_load(g, g->t_i64, v_gm, sq_group(g, q->groups, Lb.v_i, Lc.v_i), "kc64"), g->t_i32, "kc");
  Val v_sh = l_sext(g, l_sub(g, v_kc, v_base, ""), g->t_i64, "shift");
  Val v_j0 = l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, C), ""), Lc.v_i, ""), l_i64(g, HW), "j0");
  Val v_j1 = l_add(g, v_j0, l_i64(g, HW), "j1");
  /* sat_b(R(x, kc)) of the block, draws keyed by the flat index, then << shift */
  round_call(g, &k, v_acc, v_j0, v_j1, v_out, v_kc, rq_field(g, g->t_i64, RQ_BASE, "base.idx"), NULL);
  Loop Le = l_for(g, v_j0, v_j1, "e");
  Val v_q = l_sext(g, l_load(g, g->t_i8, v_out, Le.v_i, "q"), g->t_i64, "");
  l_store(g, g->t_i8, l_trunc(g, LLVMBuildShl(g->b, v_q, v_sh, "v"), g->t_i8, "v8"), v_out, Le.v_i);
  l_next(g, &Le);
  l_next(g, &Lc);
  l_next(g, &Lb);
}

/* SQ_b of shiftquant (docs/recipes.md, "The shiftquant recipe"): acc is an
 * (n, C, H, W) tensor of s's shape; its groups are the channels, the samples
 * or the whole tensor (recipe.groups). With BT = B(acc), kT = max(0, BT -
 * (b-1)), base = kT - J (J = 8 - b): group g is rounded at kc = max(0, base,
 * B(group) - (b-1)), saturated to lim(b) and stored shifted left by
 * kc - base, so the tensor is one int8 tensor at exponent s + base; a zero
 * tensor gives zeros at base 0. The blocks' maxima (sq_max_body) and the
 * rounding (sq_round_body) run on the workers; the groups' maxima and
 * shifts are found serially from the blocks' and live in the plan's sq
 * buffer. Returns base (i32). */
static Val requant_sq(Cg *g, bool wide, Val v_acc, const Shape *s, Val v_out, Val v_mode, Val v_key) {
  const Recipe *r = &g->m->recipe;
  int b = r->bits_grad;
  int64_t C = s->c, HW = (int64_t)s->h * s->w;
  Val v_n = g->f.v_n;
  Val v_ng = r->groups == NIT_GROUPS_CHANNEL ? l_i64(g, C) : r->groups == NIT_GROUPS_SAMPLE ? v_n : l_i64(g, 1);
  Val v_gm = l_slab(g, g->f.v_work, g->p->sq.off, "sq.groups"); /* i64 (groups): max |x|, then kc */
  l_zero(g, g->t_i64, v_gm, v_ng);
  Val var_all = l_var(g, g->t_i64, "sq.max.var", NULL);
  l_set(g, var_all, l_i64(g, 0));
  /* 1. the maxima of the blocks on the workers, by samples; then of the
   * groups and of the tensor */
  RqKind q = {wide, b, false, false};
  rq_args(g, &q, v_acc, l_mul(g, v_n, l_i64(g, C * HW), ""), v_out, v_mode, v_key, NULL);
  SqRound sr = {wide, b, C, HW, r->groups};
  par_for(g, "sq.max", v_n, g->workers, sq_max_body, &sr);
  Val v_bm = l_slab(g, g->f.v_work, g->p->sq_blk.off, "sq.blocks");
  Loop Lb = l_for(g, l_i64(g, 0), v_n, "b");
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "c");
  Val v_grp = sq_group(g, r->groups, Lb.v_i, Lc.v_i);
  Val v_m = l_load(g, g->t_i64, v_bm, l_add(g, l_mul(g, Lb.v_i, l_i64(g, C), ""), Lc.v_i, ""), "max.blk");
  l_store(g, g->t_i64, l_smax(g, l_load(g, g->t_i64, v_gm, v_grp, ""), v_m, ""), v_gm, v_grp);
  l_set(g, var_all, l_smax(g, l_get(g, g->t_i64, var_all, ""), v_m, "max.all"));
  l_next(g, &Lc);
  l_next(g, &Lb);
  /* the maxima over every rank's slice: the tensor's, and the groups' unless
   * a group is one sample */
  Val v_allp = l_var(g, g->t_i64, "sq.max.all", NULL);
  l_set(g, v_allp, l_get(g, g->t_i64, var_all, ""));
  l_allmax(g, v_allp, l_i64(g, 1));
  if (r->groups != NIT_GROUPS_SAMPLE) l_allmax(g, v_gm, v_ng);
  /* 2. the tensor's step, the finest step, each group's step */
  Val v_base = sq_base(g, l_get(g, g->t_i64, v_allp, "max"), b);
  Loop Lg = l_for(g, l_i64(g, 0), v_ng, "grp");
  Val v_kg = sq_step(g, l_load(g, g->t_i64, v_gm, Lg.v_i, "max.g"), b, v_base);
  l_store(g, g->t_i64, l_sext(g, v_kg, g->t_i64, ""), v_gm, Lg.v_i);
  l_next(g, &Lg);
  /* 3. v = sat_b(R(x, kc)) << (kc - base), each element with its flat
   * index: elementwise, so on the workers by samples */
  par_arg_set(g, v_base);
  par_for(g, "sq.round", v_n, g->workers, sq_round_body, &sr);
  return v_base;
}

/* Unified's EQ (docs/recipes.md, "The unified recipe"): the runtime's
 * error-site kernel, CQ with the site's held clip at a DSGC site, RQ_{b_g}
 * (err mode) elsewhere, the carried multiplier applied as it loads the
 * wide error. The kernel's description of the site is a constant
 * "site.<tid>"; its result's multiplier goes to the site's slot, its d_c and
 * phi to the site's state in the params slab. */
/* A decimal (alpha <= 1000 or beta <= 1) in Q16 or Q30: (2 N 2^q + 10^f)
 * div (2 10^f); N 2^(q+1) stays below 2^62 for both. */
static int64_t dec_q(Dec d, int q) {
  uint64_t p10 = 1;
  for (int i = 0; i < d.f; i++) p10 *= 10;
  return (int64_t)(((d.n << (q + 1)) + p10) / (2 * p10));
}

void emit_clip_decls(Cg *g) {
  if (g->m->recipe.kind != NIT_RECIPE_UNIFIED) return;
  Ty P = g->t_ptr, I32 = g->t_i32, I64 = g->t_i64;
  Ty ac[] = {P, P, P, I64, I64, P, I32, I64, I32, I32, P, P, P, P};
  g->ft_clip = LLVMFunctionType(I32, ac, 14, 0);
  g->f_clip = LLVMAddFunction(g->mod, "nitrt_clip_site", g->ft_clip);
  Ty ap[] = {I32, I64, I64};
  g->ft_clip_phi = LLVMFunctionType(I64, ap, 3, 0);
  g->f_clip_phi = LLVMAddFunction(g->mod, "nitrt_clip_phi", g->ft_clip_phi);
  Ty ae[] = {I64, I32, I64, P};
  g->ft_clip_eta = LLVMFunctionType(g->t_void, ae, 4, 0);
  g->f_clip_eta = LLVMAddFunction(g->mod, "nitrt_clip_eta", g->ft_clip_eta);
}

/* eta_p = smul(eta, snorm(phi, -30)) of parameter tensor t (spec §6.3):
 * phi of the DSGC site of its node this step; eta alone when it has none. */
Val site_phi_eta(Cg *g, int t, Val *v_eta_e) {
  const Node *owner;
  plan_ptensor(g->m, t, &owner);
  int k = g->p->node_site[owner - g->m->nodes];
  Val v_eta_m = ctx_field(g, CTX_eta_m, g->t_i64, "eta.m");
  Val v_e = ctx_field(g, CTX_eta_e, g->t_i32, "eta.e");
  if (k < 0) {
    *v_eta_e = l_sext(g, v_e, g->t_i64, "");
    return v_eta_m;
  }
  Val v_phi = l_sext(g, l_load(g, g->t_i32, l_slab(g, g->f.v_params, g->p->clip_off + 16 * k, "clip.state"),
                               l_i64(g, 3), "phi"), g->t_i64, "phi64");
  Val var = l_var(g, LLVMArrayType(g->t_i64, 2), "eta.p", NULL);
  Val args[] = {v_eta_m, v_e, v_phi, var};
  l_call(g, g->ft_clip_eta, g->f_clip_eta, args, 4, "");
  *v_eta_e = l_load(g, g->t_i64, var, l_i64(g, 1), "eta.p.e");
  return l_load(g, g->t_i64, var, l_i64(g, 0), "eta.p.m");
}

static Val clip_site(Cg *g, bool wide, Val v_acc, Val v_count, Val v_out, Val v_key, const ErrSite *site) {
  const Recipe *r = &g->m->recipe;
  const Plan *p = g->p;
  int k = 0;
  while (k < p->nsites && p->site_tid[k] != site->tid) k++;
  bool dsgc = k < p->nsites;
  char buf[64];
  snprintf(buf, sizeof buf, "site.%08x", site->tid);
  Val v_d = LLVMGetNamedGlobal(g->mod, buf);
  if (!v_d) {
    int64_t d[NIT_CLIP_DESC];
    d[NIT_CLIP_SITE] = dsgc, d[NIT_CLIP_ON] = r->clip, d[NIT_CLIP_EVERY] = r->clip_every;
    d[NIT_CLIP_RANGE] = r->clip_range, d[NIT_CLIP_GRID] = r->clip_grid, d[NIT_CLIP_BITS] = r->bits_grad;
    d[NIT_CLIP_MODE] = r->err_round;
    Val v[NIT_CLIP_DESC];
    for (int j = 0; j < NIT_CLIP_DESC; j++) v[j] = l_i64(g, d[j]);
    v_d = LLVMAddGlobal(g->mod, LLVMArrayType(g->t_i64, NIT_CLIP_DESC), buf);
    LLVMSetInitializer(v_d, LLVMConstArray2(g->t_i64, v, NIT_CLIP_DESC));
    LLVMSetGlobalConstant(v_d, 1);
    LLVMSetLinkage(v_d, LLVMInternalLinkage);
  }
  /* the state {l* + 1, s*, dq, phi} of a DSGC site; a scratch one otherwise */
  Val v_scr = l_slab(g, g->f.v_work, p->clip.off, "clip.scratch");
  Val v_io = l_slab(g, g->f.v_work, p->clip.off + p->clip.bytes - 16, "clip.io"); /* i32 {mu, dq, x, x} */
  Val v_st = dsgc ? l_slab(g, g->f.v_params, p->clip_off + 16 * k, "clip.state")
                  : l_gep(g, g->t_i32, v_io, l_i64(g, 2), "");
  Val args[] = {g->f.v_ctx, v_d, v_st, g->f.v_step, v_key,
                v_acc,  l_i32(g, wide), v_count, site->v_mu,
                site->v_s, v_out, v_io, l_gep(g, g->t_i32, v_io, l_i64(g, 1), "clip.dq"),
                v_scr};
  Val v_k = l_call(g, g->ft_clip, g->f_clip, args, 14, "clip.k");
  set_mu(g, site->node, site->which, l_load(g, g->t_i32, v_io, l_i64(g, 0), "clip.mu"));
  if (dsgc) { /* d_c, and phi = max(exp2neg(alpha d_c log2 e), beta) or 1 */
    Val v_dq = l_load(g, g->t_i32, v_io, l_i64(g, 1), "dq");
    l_store(g, g->t_i32, v_dq, v_st, l_i64(g, 2));
    Val v_phi = l_i64(g, (int64_t)1 << 30);
    if (r->lrscale) {
      Val pargs[] = {v_dq, l_i64(g, dec_q(r->lrs_alpha, 16)), l_i64(g, dec_q(r->lrs_beta, 30))};
      v_phi = l_call(g, g->ft_clip_phi, g->f_clip_phi, pargs, 3, "phi");
    }
    l_store(g, g->t_i32, l_trunc(g, v_phi, g->t_i32, ""), v_st, l_i64(g, 3));
  }
  return v_k;
}

/* EQ of the recipe at an error site (docs/recipes.md, "Error quantizers and
 * sites"): RQ_{b_g} (niti: b_g = 8), or SQ_{b_g} under shiftquant. s: the
 * per-sample shape of the error (its groups). Returns the exponent offset. */
Val err_quant(Cg *g, bool wide, Val v_acc, Val v_count, const Shape *s, Val v_out, Val v_key, Val v_fused,
              const ErrSite *site) {
  NIT_ASSERT(!site->v_gate || recipe_err_rq(&g->m->recipe)); /* plan's relu_err */
  NIT_ASSERT((!site->ahead && !site->next) || recipe_err_rq(&g->m->recipe));
  if (g->m->recipe.kind == NIT_RECIPE_UNIFIED) return clip_site(g, wide, v_acc, v_count, v_out, v_key, site);
  if (g->m->recipe.kind == NIT_RECIPE_SHIFTQUANT) return requant_sq(g, wide, v_acc, s, v_out, g->f.v_rerr, v_key);
  return requant_fused(g, g->m->recipe.bits_grad, wide, v_acc, v_count, v_out, g->f.v_rerr, v_key, v_fused, false,
                       site->v_gate, site->ahead, site->next);
}
