/*
 * llvm.c: the small LLVM idioms every emitter uses (l_ helpers): typed
 * constants, indexed loads and stores, entry-block stack slots, counted loops
 * and ifs that leave the builder where the next statement goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "cg.h"

Val l_i8(Cg *g, int64_t v) { return LLVMConstInt(g->t_i8, (unsigned long long)v, 1); }
Val l_i32(Cg *g, int64_t v) { return LLVMConstInt(g->t_i32, (unsigned long long)v, 1); }
Val l_i64(Cg *g, int64_t v) { return LLVMConstInt(g->t_i64, (unsigned long long)v, 1); }
int l_bytes(Ty t) { return (int)LLVMGetIntTypeWidth(t) / 8; }
Val l_u64(Cg *g, uint64_t v) { return LLVMConstInt(g->t_i64, v, 0); }

Blk l_block(Cg *g, const char *name) { return LLVMAppendBasicBlockInContext(g->ctx, g->f.fn, name); }

Val l_gep(Cg *g, Ty elem, Val base, Val idx, const char *name) {
  return LLVMBuildGEP2(g->b, elem, base, &idx, 1, name);
}

Val l_load(Cg *g, Ty t, Val base, Val idx, const char *name) {
  return LLVMBuildLoad2(g->b, t, l_gep(g, t, base, idx, ""), name);
}

void l_store(Cg *g, Ty t, Val v, Val base, Val idx) { LLVMBuildStore(g->b, v, l_gep(g, t, base, idx, "")); }

/* A stack slot in the entry block (mem2reg turns it into SSA). */
Val l_var(Cg *g, Ty t, const char *name, Val init) {
  Blk cur = LLVMGetInsertBlock(g->b);
  LLVMValueRef first = LLVMGetFirstInstruction(g->f.b_entry);
  if (first) LLVMPositionBuilderBefore(g->b, first);
  else LLVMPositionBuilderAtEnd(g->b, g->f.b_entry);
  Val v = LLVMBuildAlloca(g->b, t, name);
  LLVMPositionBuilderAtEnd(g->b, cur);
  if (init) LLVMBuildStore(g->b, init, v);
  return v;
}

Val l_get(Cg *g, Ty t, Val var, const char *name) { return LLVMBuildLoad2(g->b, t, var, name); }
void l_set(Cg *g, Val var, Val v) { LLVMBuildStore(g->b, v, var); }

Val l_add(Cg *g, Val a, Val b, const char *n) { return LLVMBuildAdd(g->b, a, b, n); }
Val l_sub(Cg *g, Val a, Val b, const char *n) { return LLVMBuildSub(g->b, a, b, n); }
Val l_mul(Cg *g, Val a, Val b, const char *n) { return LLVMBuildMul(g->b, a, b, n); }
Val l_sext(Cg *g, Val v, Ty t, const char *n) { return LLVMBuildSExt(g->b, v, t, n); }
Val l_trunc(Cg *g, Val v, Ty t, const char *n) { return LLVMBuildTrunc(g->b, v, t, n); }
Val l_icmp(Cg *g, LLVMIntPredicate p, Val a, Val b, const char *n) { return LLVMBuildICmp(g->b, p, a, b, n); }
Val l_select(Cg *g, Val c, Val a, Val b, const char *n) { return LLVMBuildSelect(g->b, c, a, b, n); }

Val l_smax(Cg *g, Val a, Val b, const char *n) { return l_select(g, l_icmp(g, LLVMIntSGT, a, b, ""), a, b, n); }
Val l_smin(Cg *g, Val a, Val b, const char *n) { return l_select(g, l_icmp(g, LLVMIntSLT, a, b, ""), a, b, n); }
Val l_abs(Cg *g, Val v, const char *n) {
  Val v_neg = LLVMBuildNeg(g->b, v, "");
  return l_select(g, l_icmp(g, LLVMIntSLT, v, LLVMConstNull(LLVMTypeOf(v)), ""), v_neg, v, n);
}

Val l_call(Cg *g, Ty ft, Val f, Val *args, unsigned nargs, const char *name) {
  return LLVMBuildCall2(g->b, ft, f, args, nargs, name);
}

/* ---- outlined loops
 * A glue function is optnone, so LLVM's fast code generator takes it; the
 * loops in it (row sums, transposes, the sums of per-worker partials) would
 * then run unoptimized. So l_for, opening an outermost loop of a glue
 * function, builds it in a temporary function instead, written exactly as
 * it would be inline, and the l_next that closes it outlines it: every value
 * of the glue function it used becomes a parameter (named as the value), its
 * blocks move into NAME.loopK, and the glue function calls that. */
static void outline_begin(Cg *g) {
  g->glue = g->f; /* the temporary function is no glue: outlines never nest */
  g->b_glue = LLVMGetInsertBlock(g->b);
  l_begin_fn(g, "nit.outline", LLVMFunctionType(g->t_void, NULL, 0, 0), true);
  g->f.outline = true;
}

/* op becomes a parameter of the outlined loop fn: a value of another
 * function, a layer's constant table, or an i64 constant other than -1, 0
 * and 1 (sizes, strides, offsets). As parameters, the loops of layers of
 * different shapes are the same function, which mergefunc then keeps once;
 * steps of 1 stay constant, so induction variables keep a constant step. */
static bool foreign(Cg *g, Val op, Val fn) {
  if (LLVMIsAArgument(op)) return LLVMGetParamParent(op) != fn;
  if (LLVMIsAInstruction(op)) return LLVMGetBasicBlockParent(LLVMGetInstructionParent(op)) != fn;
  if (LLVMIsAGlobalVariable(op)) return LLVMIsGlobalConstant(op);
  if (LLVMIsAConstantInt(op) && LLVMTypeOf(op) == g->t_i64) {
    long long c = LLVMConstIntGetSExtValue(op);
    return c < -1 || c > 1;
  }
  return false;
}

/* grow a to hold n + 1 elements of size sz (arena: the old copy stays) */
static void *grow(void *a, unsigned n, unsigned *cap, size_t sz) {
  if (n < *cap) return a;
  *cap = *cap ? 2 * *cap : 16;
  void *b = mem_alloc(*cap * sz);
  if (n) memcpy(b, a, n * sz);
  return b;
}

static void outline_end(Cg *g) {
  LLVMBuildRetVoid(g->b);
  Val f_tmp = g->f.fn;
  /* the values that become parameters (used), and where each is used */
  typedef struct Site {
    Val in;
    unsigned k, j; /* operand k of in is used[j] */
  } Site;
  Val *used = NULL;
  Site *sites = NULL;
  unsigned n = 0, cap = 0, ns = 0, scap = 0;
  for (Blk b = LLVMGetFirstBasicBlock(f_tmp); b; b = LLVMGetNextBasicBlock(b))
    for (Val in = LLVMGetFirstInstruction(b); in; in = LLVMGetNextInstruction(in))
      for (int k = 0; k < LLVMGetNumOperands(in); k++) {
        Val op = LLVMGetOperand(in, k);
        if (!foreign(g, op, f_tmp)) continue;
        unsigned j = 0;
        while (j < n && used[j] != op) j++;
        if (j == n) {
          used = grow(used, n, &cap, sizeof *used);
          used[n++] = op;
        }
        sites = grow(sites, ns, &scap, sizeof *sites);
        sites[ns++] = (Site){in, (unsigned)k, j};
      }
  Ty *pt = mem_alloc((n ? n : 1) * sizeof *pt);
  for (unsigned j = 0; j < n; j++) pt[j] = LLVMTypeOf(used[j]);
  size_t len;
  const char *glue = LLVMGetValueName2(g->glue.fn, &len);
  char name[160];
  snprintf(name, sizeof name, "%.*s.loop%d", (int)(len < 120 ? len : 120), glue, ++g->nloops);
  Val f = LLVMAddFunction(g->mod, name, LLVMFunctionType(g->t_void, pt, n, 0));
  LLVMSetLinkage(f, LLVMInternalLinkage);
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, noinline, 0));
  /* the blocks move over in order behind a placeholder, which then goes */
  Blk b_pos = LLVMAppendBasicBlockInContext(g->ctx, f, "placeholder"), b_first = b_pos;
  for (Blk b = LLVMGetFirstBasicBlock(f_tmp); b;) {
    Blk b_next = LLVMGetNextBasicBlock(b);
    LLVMMoveBasicBlockAfter(b, b_pos);
    b_pos = b;
    b = b_next;
  }
  LLVMDeleteBasicBlock(b_first);
  for (unsigned j = 0; j < n; j++) {
    const char *vn = LLVMGetValueName2(used[j], &len);
    LLVMSetValueName2(LLVMGetParam(f, j), vn, len);
  }
  for (unsigned s = 0; s < ns; s++) LLVMSetOperand(sites[s].in, sites[s].k, LLVMGetParam(f, sites[s].j));
  LLVMDeleteFunction(f_tmp);
  g->f = g->glue;
  LLVMPositionBuilderAtEnd(g->b, g->b_glue);
  l_call(g, LLVMGlobalGetValueType(f), f, used, n, "");
}

Loop l_for(Cg *g, Val v_lo, Val v_hi, const char *name) {
  char buf[96];
  Loop L;
  if (g->f.glue && g->f.depth == 0) outline_begin(g);
  g->f.depth++;
  L.nth = ++g->f.begun;
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
  L.v_ctr = L.v_step = NULL;
  return L;
}

Val l_loop_ctr(Cg *g, Loop *L, Val v_init, Val v_step, const char *name) {
  NIT_ASSERT(!L->v_ctr);
  Blk b_at = LLVMGetInsertBlock(g->b), b_pre = LLVMGetIncomingBlock(L->v_phi, 0);
  LLVMPositionBuilderBefore(g->b, LLVMGetFirstInstruction(L->b_head));
  L->v_ctr = LLVMBuildPhi(g->b, LLVMTypeOf(v_init), name);
  LLVMAddIncoming(L->v_ctr, &v_init, &b_pre, 1);
  L->v_step = v_step;
  LLVMPositionBuilderAtEnd(g->b, b_at);
  return L->v_ctr;
}

static void close_loop(Cg *g, Loop *L) {
  Val v_next = l_add(g, L->v_phi, l_i64(g, 1), "");
  Val v_ctr = L->v_ctr ? l_add(g, L->v_ctr, L->v_step, "ctr.next") : NULL;
  Blk b_latch = LLVMGetInsertBlock(g->b);
  LLVMBuildBr(g->b, L->b_head);
  LLVMAddIncoming(L->v_phi, &v_next, &b_latch, 1);
  if (v_ctr) LLVMAddIncoming(L->v_ctr, &v_ctr, &b_latch, 1);
  LLVMPositionBuilderAtEnd(g->b, L->b_exit);
}

/* the loop's end; the outlined loop's call after the outermost one */
static void after_loop(Cg *g) {
  NIT_ASSERT(g->f.depth > 0);
  if (--g->f.depth == 0 && g->f.outline) outline_end(g);
}

void l_next_nest(Cg *g, Loop *L) {
  close_loop(g, L);
  after_loop(g);
}

/* Closes L with loop metadata: a distinct node whose first operand is itself,
 * then the n hints (each a node of a name and maybe a value). */
static void close_hinted(Cg *g, Loop *L, LLVMMetadataRef *hints, unsigned n) {
  Blk b_latch = LLVMGetInsertBlock(g->b);
  close_loop(g, L);
  LLVMMetadataRef ops[4] = {LLVMTemporaryMDNode(g->ctx, NULL, 0)};
  NIT_ASSERT(n < 4);
  for (unsigned i = 0; i < n; i++) ops[i + 1] = hints[i];
  LLVMMetadataRef id = LLVMMDNodeInContext2(g->ctx, ops, n + 1);
  LLVMMetadataReplaceAllUsesWith(ops[0], id);
  LLVMSetMetadata(LLVMGetBasicBlockTerminator(b_latch), LLVMGetMDKindIDInContext(g->ctx, "llvm.loop", 9),
                  LLVMMetadataAsValue(g->ctx, id));
  after_loop(g);
}

/* a loop hint: !{!"name"} or, with v, !{!"name", v} */
static LLVMMetadataRef hint(Cg *g, const char *name, Val v) {
  LLVMMetadataRef op[] = {LLVMMDStringInContext2(g->ctx, name, strlen(name)), v ? LLVMValueAsMetadata(v) : NULL};
  return LLVMMDNodeInContext2(g->ctx, op, v ? 2 : 1);
}

void l_next(Cg *g, Loop *L) {
  if (g->f.begun > L->nth) l_next_rolled(g, L);
  else l_next_nest(g, L);
}

void l_next_rolled(Cg *g, Loop *L) {
  LLVMMetadataRef h[] = {hint(g, "llvm.loop.unroll.disable", NULL)};
  close_hinted(g, L, h, 1);
}

void l_next_scalar(Cg *g, Loop *L) {
  LLVMMetadataRef h[] = {hint(g, "llvm.loop.unroll.disable", NULL),
                         hint(g, "llvm.loop.vectorize.enable", LLVMConstInt(LLVMInt1TypeInContext(g->ctx), 0, 0))};
  close_hinted(g, L, h, 2);
}

void l_next_interleaved(Cg *g, Loop *L, unsigned n) {
  LLVMMetadataRef h[] = {hint(g, "llvm.loop.interleave.count", l_i32(g, (int)n))};
  close_hinted(g, L, h, 1);
}

/* if (c) { ... } [else { ... }]: the blocks NAME.then, [NAME.else,]
 * NAME.join; the builder left in the then-block. */
static Blk branch(Cg *g, Val v_c, const char *name, Blk *b_else) {
  char buf[96];
  snprintf(buf, sizeof buf, "%s.then", name);
  Blk b_then = l_block(g, buf);
  if (b_else) {
    snprintf(buf, sizeof buf, "%s.else", name);
    *b_else = l_block(g, buf);
  }
  snprintf(buf, sizeof buf, "%s.join", name);
  Blk b_join = l_block(g, buf);
  LLVMBuildCondBr(g->b, v_c, b_then, b_else ? *b_else : b_join);
  LLVMPositionBuilderAtEnd(g->b, b_then);
  return b_join;
}

Blk l_if(Cg *g, Val v_c, const char *name) { return branch(g, v_c, name, NULL); }
Blk l_if_else(Cg *g, Val v_c, const char *name, Blk *b_else) { return branch(g, v_c, name, b_else); }

void l_else(Cg *g, Blk b_else, Blk b_join) {
  LLVMBuildBr(g->b, b_join);
  LLVMPositionBuilderAtEnd(g->b, b_else);
}

void l_endif(Cg *g, Blk b_join) {
  LLVMBuildBr(g->b, b_join);
  LLVMPositionBuilderAtEnd(g->b, b_join);
}

Val l_begin_fn(Cg *g, const char *name, Ty ft, bool internal) {
  Val f = LLVMAddFunction(g->mod, name, ft);
  if (internal) LLVMSetLinkage(f, LLVMInternalLinkage);
  g->f.fn = f;
  g->f.glue = g->f.outline = false;
  g->f.depth = 0;
  g->f.b_entry = l_block(g, "entry");
  LLVMPositionBuilderAtEnd(g->b, g->f.b_entry);
  return f;
}

Val l_begin_loop_fn(Cg *g, const char *name, Ty ft) {
  Val f = l_begin_fn(g, name, ft, true);
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, noinline, 0));
  return f;
}

Aside l_aside(Cg *g) { return (Aside){g->f, LLVMGetInsertBlock(g->b)}; }

void l_back(Cg *g, Aside a) {
  g->f = a.f;
  LLVMPositionBuilderAtEnd(g->b, a.b);
}

Val l_begin_glue_fn(Cg *g, const char *name, Ty ft) {
  Val f = l_begin_loop_fn(g, name, ft);
  unsigned optnone = LLVMGetEnumAttributeKindForName("optnone", 7);
  LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, optnone, 0));
  g->f.glue = true;
  return f;
}

Val l_param(Cg *g, unsigned i, const char *name) {
  Val v = LLVMGetParam(g->f.fn, i);
  LLVMSetValueName2(v, name, strlen(name));
  return v;
}

Val l_intrinsic(Cg *g, const char *name, Ty *ov, unsigned nov, Ty *ft) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  *ft = LLVMIntrinsicGetType(g->ctx, id, ov, nov);
  return LLVMGetIntrinsicDeclaration(g->mod, id, ov, nov);
}

/* <w x i1> with lanes [0, n) set: the mask of a row's first n elements. */
/* <w x i1>: lanes l < v_n set, v_n a run-time i64 count (below w: a tail) */
Val l_mask_first(Cg *g, Val v_n, unsigned w) {
  Val lanes[64];
  NIT_ASSERT(w <= 64);
  for (unsigned l = 0; l < w; l++) lanes[l] = l_i32(g, l);
  Val v_left = l_trunc(g, v_n, g->t_i32, "left");
  return l_icmp(g, LLVMIntSLT, LLVMConstVector(lanes, w), l_splat(g, v_left, w, ""), "mask");
}

/* var_max = max(var_max, |v|) lane-wise over the lanes of v_mask (NULL:
 * all); v and var_max's value are <16 x i32> */
void l_max_abs(Cg *g, Val var_max, Val v, Val v_mask) {
  Ty t_v = LLVMTypeOf(v);
  Val v_abs = l_abs(g, v, "abs");
  if (v_mask) v_abs = l_select(g, v_mask, v_abs, LLVMConstNull(t_v), "abs.m");
  l_set(g, var_max, l_smax(g, l_get(g, t_v, var_max, "max"), v_abs, "max.new"));
}

Val l_mask_below(Cg *g, int64_t n, unsigned w) {
  Val m[64];
  NIT_ASSERT(w <= 64);
  for (unsigned i = 0; i < w; i++) m[i] = LLVMConstInt(g->t_i1, (int64_t)i < n, 0);
  return LLVMConstVector(m, w);
}

/* Masked loads and stores whose mask is known only at run time, on targets
 * without such instructions (Cg.mask_ops false: NEON, RISC-V without V).
 * LLVM expands each into a compare, a branch and a scalar access per lane,
 * 16 to 64 blocks each in straight line; a GEMM kernel with a few such
 * stores took 0.6 s of the code generator for scalar RISC-V, against 0.08
 * for the same tiles without them. Here they are one rolled loop over the
 * lanes instead, through copies of the vector and of the mask (as bytes)
 * on the stack: the same accesses, in five blocks. Not in glue code
 * outside its loops, where a loop would be outlined (l_for). */
static bool lane_loop_fits(Cg *g, Val v_mask) {
  return !g->mask_ops && !LLVMIsConstant(v_mask) && !(g->f.glue && g->f.depth == 0);
}

/* For each lane l of t_v where v_mask is set: v_ptr[l] = tmp[l] (store),
 * else tmp[l] = v_ptr[l]; var_tmp holds the vector. Like any loop, it
 * keeps the loops around it rolled (l_next). */
static void lane_loop(Cg *g, Ty t_v, Val var_tmp, Val v_ptr, unsigned align, Val v_mask, bool store) {
  unsigned w = LLVMGetVectorSize(t_v);
  Ty t_e = LLVMGetElementType(t_v), t_mb = LLVMVectorType(g->t_i8, w);
  Val var_m = l_var(g, t_mb, "mask.bytes", NULL);
  LLVMBuildStore(g->b, LLVMBuildZExt(g->b, v_mask, t_mb, ""), var_m);
  Loop L = l_for(g, l_i64(g, 0), l_i64(g, w), "lane");
  Val v_on = l_icmp(g, LLVMIntNE, l_load(g, g->t_i8, var_m, L.v_i, "lane.on"), LLVMConstInt(g->t_i8, 0, 0), "");
  Blk b_on = l_if(g, v_on, "lane.set");
  Val v_mem = l_gep(g, t_e, v_ptr, L.v_i, "lane.at"), v_tmp = l_gep(g, t_e, var_tmp, L.v_i, "lane.tmp");
  Val v_from = store ? v_tmp : v_mem, v_to = store ? v_mem : v_tmp;
  Val v_e = LLVMBuildLoad2(g->b, t_e, v_from, "lane.v");
  LLVMSetAlignment(v_e, store ? (unsigned)l_bytes(t_e) : align);
  LLVMSetAlignment(LLVMBuildStore(g->b, v_e, v_to), store ? align : (unsigned)l_bytes(t_e));
  l_endif(g, b_on);
  l_next_scalar(g, &L);
}

/* A vector of type t at v_ptr where v_mask is set, v_pass elsewhere; the
 * masked-off elements are not read (AVX-512: no fault past an object). */
Val l_masked_load(Cg *g, Ty t, Val v_ptr, unsigned align, Val v_mask, Val v_pass, const char *name) {
  if (lane_loop_fits(g, v_mask)) {
    Val var_tmp = l_var(g, t, "lanes.tmp", NULL);
    LLVMBuildStore(g->b, v_pass, var_tmp);
    lane_loop(g, t, var_tmp, v_ptr, align, v_mask, false);
    return LLVMBuildLoad2(g->b, t, var_tmp, name);
  }
  Ty ov[] = {t, g->t_ptr}, ft;
  Val f = l_intrinsic(g, "llvm.masked.load", ov, 2, &ft);
  Val args[] = {v_ptr, l_i32(g, align), v_mask, v_pass};
  return l_call(g, ft, f, args, 4, name);
}

/* The elements of v where v_mask is set, to v_ptr; the others are untouched. */
void l_masked_store(Cg *g, Val v, Val v_ptr, unsigned align, Val v_mask) {
  if (lane_loop_fits(g, v_mask)) {
    Val var_tmp = l_var(g, LLVMTypeOf(v), "lanes.tmp", NULL);
    LLVMBuildStore(g->b, v, var_tmp);
    lane_loop(g, LLVMTypeOf(v), var_tmp, v_ptr, align, v_mask, true);
    return;
  }
  Ty ov[] = {LLVMTypeOf(v), g->t_ptr}, ft;
  Val f = l_intrinsic(g, "llvm.masked.store", ov, 2, &ft);
  Val args[] = {v, v_ptr, l_i32(g, align), v_mask};
  l_call(g, ft, f, args, 4, "");
}

/* The first n lanes of v to v_ptr, the rest untouched: a row's tail (n a
 * compile-time count; at or past v's lanes, all of v). Where masked stores
 * are cheap (Cg.mask_stores) a tail is one masked store; elsewhere it is
 * plain stores of n's binary digits' worth of lanes (14 of 16: 8, 4, 2). */
void l_store_below(Cg *g, Val v, Val v_ptr, unsigned align, int64_t n) {
  Ty t_v = LLVMTypeOf(v), t_e = LLVMGetElementType(t_v);
  unsigned w = LLVMGetVectorSize(t_v);
  if (n >= w) {
    LLVMSetAlignment(LLVMBuildStore(g->b, v, v_ptr), align);
    return;
  }
  if (g->mask_stores) {
    l_masked_store(g, v, v_ptr, align, l_mask_below(g, n, w));
    return;
  }
  unsigned h = 1, at = 0;
  while (2 * h <= n) h *= 2;
  for (; h >= 1; h /= 2) {
    if (n - at < h) continue;
    Val idx[64];
    for (unsigned l = 0; l < h; l++) idx[l] = l_i32(g, at + l);
    Val v_part = LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(t_v), LLVMConstVector(idx, h), "tail");
    LLVMSetAlignment(LLVMBuildStore(g->b, v_part, l_gep(g, t_e, v_ptr, l_i64(g, at), "")), align);
    at += h;
  }
}

/* The largest lane of an integer vector. */
Val l_reduce_smax(Cg *g, Val v, const char *name) {
  Ty ov[] = {LLVMTypeOf(v)}, ft;
  Val f = l_intrinsic(g, "llvm.vector.reduce.smax", ov, 1, &ft);
  return l_call(g, ft, f, &v, 1, name);
}

/* Pointer p, in a form scalar evolution cannot see through
 * (llvm.launder.invariant.group, which no code here marks and the code
 * generator drops). For a loop that reads through many pointers computed
 * before it, each a long expression of an outer loop's counter: loop
 * strength reduction weighs every way to share their induction variables,
 * and took most of the code generator's time for such loops; seen as
 * opaque bases, each read is base + counter + constant, an x86 address. */
Val l_opaque_ptr(Cg *g, Val p, const char *name) {
  Ty ov[] = {g->t_ptr}, ft;
  Val f = l_intrinsic(g, "llvm.launder.invariant.group", ov, 1, &ft);
  return l_call(g, ft, f, &p, 1, name);
}

/* A constant, internal global array of n elements of type t. */
Val l_const_array(Cg *g, Ty t, Val *elems, int64_t n, const char *name) {
  Val v = LLVMAddGlobal(g->mod, LLVMArrayType(t, (unsigned)n), name);
  LLVMSetInitializer(v, LLVMConstArray2(t, elems, (uint64_t)n));
  LLVMSetGlobalConstant(v, 1);
  LLVMSetLinkage(v, LLVMInternalLinkage);
  return v;
}

/* A hint that the line at v_p will be read (or written, with write) soon,
 * into every cache level; changes no value. */
void l_prefetch(Cg *g, Val v_p, bool write) {
  Ty ov[] = {g->t_ptr}, ft;
  Val f = l_intrinsic(g, "llvm.prefetch", ov, 1, &ft);
  Val args[] = {v_p, l_i32(g, write), l_i32(g, 3), l_i32(g, 1)};
  l_call(g, ft, f, args, 4, "");
}

/* for (b0 = lo; b0 < hi; b0 += block) { hints; for (i = b0; i < min(b0 +
 * block, hi); i++) ... }: returns the inner loop, *outer the outer one
 * (l_next the inner, then *outer). The hints, before each block, say that
 * elements [b0 + ahead, b0 + ahead + block) of each stream will be read or
 * written soon (x86 prefetcht0 / prefetchw, AArch64 prfm; nothing where the
 * target has no such instruction). A prefetch never faults, so they may
 * run past the data. */
Loop l_for_prefetched(Cg *g, Val v_lo, Val v_hi, int64_t block, int64_t ahead, const Prefetch *pf, int npf,
                      const char *name, Loop *outer) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s.blk", name);
  Val v_n = LLVMBuildSDiv(g->b, l_add(g, l_sub(g, v_hi, v_lo, ""), l_i64(g, block - 1), ""), l_i64(g, block), "blocks");
  *outer = l_for(g, l_i64(g, 0), v_n, buf);
  Val v_b0 = l_add(g, v_lo, l_mul(g, outer->v_i, l_i64(g, block), ""), "b0");
  for (int s = 0; s < npf; s++) {
    Val v_at = l_mul(g, l_add(g, v_b0, l_i64(g, ahead), ""), l_i64(g, pf[s].elem_bytes), "pf.at");
    for (int64_t q = 0; q < block * pf[s].elem_bytes; q += 64)
      l_prefetch(g, l_gep(g, g->t_i8, pf[s].v_base, l_add(g, v_at, l_i64(g, q), ""), "pf"), pf[s].write);
  }
  return l_for(g, v_b0, l_smin(g, l_add(g, v_b0, l_i64(g, block), ""), v_hi, ""), name);
}

/* Stop: an invariant of the generated code does not hold (an internal
 * bug, never the user's input). */
void l_trap(Cg *g) {
  Ty ft;
  Val f = l_intrinsic(g, "llvm.trap", NULL, 0, &ft);
  l_call(g, ft, f, NULL, 0, "");
}

/* Pointer to byte offset `off` of a slab. */
Val l_slab(Cg *g, Val base, int64_t off, const char *name) { return l_gep(g, g->t_i8, base, l_i64(g, off), name); }

Val l_batch_elems(Cg *g, const Shape *s, const char *name) { return l_mul(g, g->f.v_n, l_i64(g, numel(s)), name); }

/* Zero `count` elements of type t. */
void l_zero(Cg *g, Ty t, Val v_ptr, Val v_count) {
  Loop L = l_for(g, l_i64(g, 0), v_count, "z");
  l_store(g, t, LLVMConstNull(t), v_ptr, L.v_i);
  l_next(g, &L);
}
