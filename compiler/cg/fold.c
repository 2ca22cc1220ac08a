/*
 * fold.c: parallel bodies that differ only in where their tensors lie become
 * one function.
 *
 * Layers of one shape (resnet's conv1 to conv4) emit the same parallel
 * bodies, except for the offsets of their tensors in the slabs, which are
 * the constant indices of single-index GEPs (l_slab). mergefunc cannot fold
 * them, and each copy costs the optimizer and the code generator as much as
 * the first. Here, once the module is built, each body (par_for records them
 * in creation order) is compared with the first body of every group before
 * it, instruction by instruction. Two bodies are alike when they differ in
 * nothing but such GEP indices: then the group's first body takes those
 * indices, at the top of its entry block, from a table the environment
 * points to (env.consts, one i64 per index that differs within the group),
 * every body of the group gets its own table (NAME.consts, a constant
 * global that its callers already store into the environment), and the
 * group's other bodies are replaced by the first.
 *
 * Any other difference (a trip count, a stride, a shift, a callee, a
 * table) keeps the bodies apart, so a folded body's loops keep their
 * constant bounds; only the base addresses become variables, computed once
 * per call. The tables are loaded with !invariant.load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* A body's instructions and blocks, numbered in order, with a hash from
 * each value to its number. */
typedef struct Index {
  Val fn;
  Val *insts; /* (ninsts) in block order */
  int ninsts, nblocks;
  uint64_t sig; /* of the opcodes' sequence: a quick first filter */
  Val *keys;    /* (cap) open addressing: instruction or block as value */
  int *nums;    /* (cap) its number; blocks after the instructions */
  size_t cap;   /* power of two, at least twice the entries */
} Index;

static size_t slot(const Index *x, Val v) {
  uintptr_t h = (uintptr_t)v;
  h ^= h >> 17;
  h *= 0x9E3779B97F4A7C15u;
  size_t i = (size_t)(h >> 7) & (x->cap - 1);
  while (x->keys[i] && x->keys[i] != v) i = (i + 1) & (x->cap - 1);
  return i;
}

static void put(Index *x, Val v, int num) {
  size_t i = slot(x, v);
  x->keys[i] = v;
  x->nums[i] = num;
}

/* v's number in x, or -1 when v is none of x's instructions or blocks */
static int num(const Index *x, Val v) {
  size_t i = slot(x, v);
  return x->keys[i] ? x->nums[i] : -1;
}

static Index index_body(Val f) {
  Index x = {.fn = f};
  for (Blk b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b)) {
    x.nblocks++;
    for (Val in = LLVMGetFirstInstruction(b); in; in = LLVMGetNextInstruction(in)) x.ninsts++;
  }
  x.insts = mem_alloc((size_t)(x.ninsts ? x.ninsts : 1) * sizeof *x.insts);
  x.cap = 16;
  while (x.cap < 2 * (size_t)(x.ninsts + x.nblocks)) x.cap *= 2;
  x.keys = mem_alloc(x.cap * sizeof *x.keys);
  x.nums = mem_alloc(x.cap * sizeof *x.nums);
  int k = 0, nb = 0;
  x.sig = 1469598103934665603u;
  for (Blk b = LLVMGetFirstBasicBlock(f); b; b = LLVMGetNextBasicBlock(b)) {
    put(&x, LLVMBasicBlockAsValue(b), x.ninsts + nb++);
    for (Val in = LLVMGetFirstInstruction(b); in; in = LLVMGetNextInstruction(in)) {
      x.sig = (x.sig ^ (uint64_t)LLVMGetInstructionOpcode(in)) * 1099511628211u;
      put(&x, in, k);
      x.insts[k++] = in;
    }
  }
  return x;
}

static int param_num(Val f, Val v) {
  for (unsigned i = 0; i < LLVMCountParams(f); i++)
    if (LLVMGetParam(f, i) == v) return (int)i;
  return -1;
}

/* Operand k of instructions a (of x) and b (of y): the same, or an index of
 * a single-index GEP that may differ (*vary set). */
static bool same_operand(const Index *x, const Index *y, Val a, Val b, unsigned k, bool *vary) {
  Val oa = LLVMGetOperand(a, k), ob = LLVMGetOperand(b, k);
  if (oa == ob) return true; /* constants, globals, functions, metadata: uniqued */
  if (!oa || !ob) return false;
  int na = num(x, oa), nb = num(y, ob);
  if (na >= 0 || nb >= 0) return na == nb; /* instructions and blocks: by number */
  if (LLVMIsAArgument(oa) && LLVMIsAArgument(ob)) return param_num(x->fn, oa) == param_num(y->fn, ob);
  if (LLVMGetInstructionOpcode(a) == LLVMGetElementPtr && LLVMGetNumOperands(a) == 2 && k == 1 &&
      LLVMIsAConstantInt(oa) && LLVMIsAConstantInt(ob) && LLVMTypeOf(oa) == LLVMTypeOf(ob)) {
    *vary = true;
    return true;
  }
  return false;
}

/* What operands do not say about two instructions of the same opcode. */
static bool same_kind(const Index *x, const Index *y, Val a, Val b) {
  LLVMOpcode op = LLVMGetInstructionOpcode(a);
  switch (op) {
  case LLVMRet:
  case LLVMBr:
  case LLVMSwitch:
  case LLVMUnreachable:
  case LLVMSelect:
  case LLVMFreeze:
  case LLVMTrunc:
  case LLVMSExt:
  case LLVMPtrToInt:
  case LLVMIntToPtr:
  case LLVMBitCast:
  case LLVMExtractElement:
  case LLVMInsertElement:
  case LLVMAnd:
  case LLVMXor: return true;
  case LLVMZExt: return LLVMGetNNeg(a) == LLVMGetNNeg(b);
  case LLVMOr: return LLVMGetIsDisjoint(a) == LLVMGetIsDisjoint(b);
  case LLVMAdd:
  case LLVMSub:
  case LLVMMul:
  case LLVMShl: return LLVMGetNUW(a) == LLVMGetNUW(b) && LLVMGetNSW(a) == LLVMGetNSW(b);
  case LLVMUDiv:
  case LLVMSDiv:
  case LLVMLShr:
  case LLVMAShr: return LLVMGetExact(a) == LLVMGetExact(b);
  case LLVMURem:
  case LLVMSRem: return true;
  case LLVMICmp: return LLVMGetICmpPredicate(a) == LLVMGetICmpPredicate(b);
  case LLVMGetElementPtr:
    return LLVMGetGEPSourceElementType(a) == LLVMGetGEPSourceElementType(b) && LLVMIsInBounds(a) == LLVMIsInBounds(b);
  case LLVMAlloca:
    return LLVMGetAllocatedType(a) == LLVMGetAllocatedType(b) && LLVMGetAlignment(a) == LLVMGetAlignment(b);
  case LLVMLoad:
  case LLVMStore: return LLVMGetAlignment(a) == LLVMGetAlignment(b) && LLVMGetVolatile(a) == LLVMGetVolatile(b);
  case LLVMCall: return LLVMGetCalledFunctionType(a) == LLVMGetCalledFunctionType(b);
  case LLVMPHI:
    if (LLVMCountIncoming(a) != LLVMCountIncoming(b)) return false;
    for (unsigned i = 0; i < LLVMCountIncoming(a); i++)
      if (num(x, LLVMBasicBlockAsValue(LLVMGetIncomingBlock(a, i))) !=
          num(y, LLVMBasicBlockAsValue(LLVMGetIncomingBlock(b, i))))
        return false;
    return true;
  case LLVMShuffleVector:
    if (LLVMGetNumMaskElements(a) != LLVMGetNumMaskElements(b)) return false;
    for (unsigned i = 0; i < LLVMGetNumMaskElements(a); i++)
      if (LLVMGetMaskValue(a, i) != LLVMGetMaskValue(b, i)) return false;
    return true;
  case LLVMExtractValue:
  case LLVMInsertValue:
    if (LLVMGetNumIndices(a) != LLVMGetNumIndices(b)) return false;
    return memcmp(LLVMGetIndices(a), LLVMGetIndices(b), LLVMGetNumIndices(a) * sizeof(unsigned)) == 0;
  default: return false; /* nothing the kernels emit: never folded */
  }
}

/* Whether bodies x and y are alike; if so, vary[k] is set for each
 * instruction k of theirs whose GEP index differs. */
static bool alike(const Index *x, const Index *y, bool *vary) {
  if (x->ninsts != y->ninsts || x->nblocks != y->nblocks || x->sig != y->sig) return false;
  if (LLVMGlobalGetValueType(x->fn) != LLVMGlobalGetValueType(y->fn)) return false;
  for (int k = 0; k < x->ninsts; k++) {
    Val a = x->insts[k], b = y->insts[k];
    if (LLVMGetInstructionOpcode(a) != LLVMGetInstructionOpcode(b) || LLVMTypeOf(a) != LLVMTypeOf(b)) return false;
    int n = LLVMGetNumOperands(a);
    if (n != LLVMGetNumOperands(b) || !same_kind(x, y, a, b)) return false;
    bool differs = false;
    for (int i = 0; i < n; i++)
      if (!same_operand(x, y, a, b, (unsigned)i, &differs)) return false;
    if (differs) vary[k] = true;
  }
  return true;
}

/* Body b's constants at the group's varying GEPs, as its table; replace its
 * placeholder with the table. */
static void bind_table(Cg *g, const Body *b, const Index *x, const bool *vary, int nvary) {
  Val *cs = mem_alloc((size_t)nvary * sizeof *cs);
  int j = 0;
  for (int k = 0; k < x->ninsts; k++)
    if (vary[k]) cs[j++] = l_i64(g, LLVMConstIntGetSExtValue(LLVMGetOperand(x->insts[k], 1)));
  Val v_tab = LLVMConstArray2(g->t_i64, cs, (uint64_t)nvary);
  size_t len;
  const char *name = LLVMGetValueName2(b->consts, &len);
  char buf[160];
  snprintf(buf, sizeof buf, "%.*s", (int)(len < 150 ? len : 150), name);
  LLVMSetValueName2(b->consts, "", 0);
  Val gv = LLVMAddGlobal(g->mod, LLVMTypeOf(v_tab), buf);
  LLVMSetInitializer(gv, v_tab);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
  LLVMReplaceAllUsesWith(b->consts, gv);
  LLVMDeleteGlobal(b->consts);
}

/* The group's first body reads its varying GEP indices from env.consts. */
static void read_table(Cg *g, const Index *x, const bool *vary) {
  Val v_first = LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(x->fn));
  LLVMPositionBuilderBefore(g->b, v_first);
  Val v_env = LLVMGetParam(x->fn, 0);
  Val v_tab = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_env, v_env, ENV_CONSTS, ""), "consts");
  unsigned kind = LLVMGetMDKindIDInContext(g->ctx, "invariant.load", 14);
  Val v_md = LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, NULL, 0));
  int j = 0;
  for (int k = 0; k < x->ninsts; k++) {
    if (!vary[k]) continue;
    Val v_gep = x->insts[k];
    size_t len;
    const char *gname = LLVMGetValueName2(v_gep, &len);
    char buf[160];
    snprintf(buf, sizeof buf, "%.*s.off", (int)(len < 150 ? len : 150), gname);
    Val v_off = LLVMBuildLoad2(g->b, g->t_i64, l_gep(g, g->t_i64, v_tab, l_i64(g, j++), ""), buf);
    LLVMSetMetadata(v_off, kind, v_md);
    Ty t_idx = LLVMTypeOf(LLVMGetOperand(v_gep, 1));
    if (t_idx != g->t_i64) v_off = LLVMBuildTrunc(g->b, v_off, t_idx, "");
    LLVMSetOperand(v_gep, 1, v_off);
  }
}

/* A body's table placeholder goes: no table needed. */
static void no_table(Body *b) {
  LLVMReplaceAllUsesWith(b->consts, LLVMConstNull(LLVMTypeOf(b->consts)));
  LLVMDeleteGlobal(b->consts);
}

void fold_bodies(Cg *g) {
  int n = 0;
  for (Body *b = g->bodies; b; b = b->next) n++;
  if (!n) return;
  Body **bs = mem_alloc((size_t)n * sizeof *bs);
  Index *xs = mem_alloc((size_t)n * sizeof *xs);
  int *group = mem_alloc((size_t)n * sizeof *group); /* the first body of its group */
  bool **vary = mem_alloc((size_t)n * sizeof *vary); /* per group: its GEPs whose index varies */
  int k = 0;
  for (Body *b = g->bodies; b; b = b->next) bs[k++] = b;
  for (int i = 0; i < n; i++) {
    xs[i] = index_body(bs[i]->fn);
    vary[i] = mem_alloc((size_t)xs[i].ninsts + 1);
    group[i] = i;
    for (int r = 0; r < i && group[i] == i; r++) {
      if (group[r] != r) continue;
      memset(vary[i], 0, (size_t)xs[i].ninsts);
      if (!alike(&xs[r], &xs[i], vary[i])) continue;
      group[i] = r;
      for (int j = 0; j < xs[i].ninsts; j++) vary[r][j] |= vary[i][j];
    }
    if (group[i] == i) memset(vary[i], 0, (size_t)xs[i].ninsts); /* what a failed comparison left */
  }
  for (int r = 0; r < n; r++) {
    if (group[r] != r) continue;
    int nvary = 0;
    for (int j = 0; j < xs[r].ninsts; j++) nvary += vary[r][j];
    for (int i = r; i < n; i++)
      if (group[i] == r) {
        if (nvary) bind_table(g, bs[i], &xs[i], vary[r], nvary);
        else no_table(bs[i]);
      }
    if (nvary) read_table(g, &xs[r], vary[r]);
    for (int i = r + 1; i < n; i++)
      if (group[i] == r) {
        LLVMReplaceAllUsesWith(bs[i]->fn, bs[r]->fn);
        LLVMDeleteFunction(bs[i]->fn);
      }
  }
}
