/*
 * cg.h: the code generator's internal header. The back end turns the checked
 * Model and its Plan (plan.c) into one LLVM module; each file below owns one
 * concern, and this header lists what each offers the others, in the order a
 * reader meets them:
 *
 *   llvm.c     LLVM idioms: constants, loads and stores, loops, ifs (l_)
 *   ctx.c      the NitCtx fields and slab pointers a kernel works with; where
 *              each error goes
 *   par.c      outlined loop bodies run on the runtime's workers (par_for)
 *   fold.c     bodies that differ only in slab offsets, made one
 *   round.c    the generator, R(x, k), requantization, exponent alignment,
 *              the error quantizers (unified's through the runtime's kernel)
 *   update.c   the weight update and wide-weight views
 *   sgd.c      masters, their views and the integer SGD (recipes with masters)
 *   loss.c     the integer softmax cross-entropy gradient
 *   gemm.c     the int8 GEMM and its per-ISA micro-kernels
 *   dense.c    dense layers as GEMMs
 *   im2col.c   the conv GEMMs' B operands: padded copies, panels, colT, ecol
 *   conv.c     convolutions as GEMMs on packed panels
 *   pool.c     pooling and element-wise layers, forward and backward
 *   norm.c     normalization layers through the runtime's norm kernels
 *   step.c     the step driver: nit_train_step, nit_forward, the module
 *   abi.c      LLVM types of runtime/nitabi.h, the nit_model descriptor
 *
 * Every value gets a name so --emit llvm reads well; naming follows
 * PostgreSQL's LLVM code: v_ values, b_ blocks, l_ helpers, var_ stack slots.
 * No floating-point type or instruction is ever created (a test scans the IR
 * of every example).
 */
#ifndef CG_H
#define CG_H

#include <stdbool.h>
#include <stdint.h>

#include <llvm-c/Core.h>

#include "nitc.h"
#include "geom.h"

typedef LLVMValueRef Val;
typedef LLVMBasicBlockRef Blk;
typedef LLVMTypeRef Ty;

/* The int8 GEMM micro-kernels (gemm.c). */
typedef enum { GK_PLAIN, GK_GENERIC, GK_LANES, GK_VNNI, GK_SDOT, GK_UBS } GemmKind;

/* A requantization that rounds ahead (round.c). */
typedef struct Ahead Ahead;

/* The three GEMMs of a weighted layer. */
typedef enum {
  PASS_FORWARD, /* acc = x w */
  PASS_INPUT,   /* e_in = e w^T: the error at the layer's input */
  PASS_WEIGHT,  /* g = e^T x: the weight gradient */
} Pass;

/* Per-function state: the function being built and the NitCtx fields loaded
 * at its top. par_for saves it, builds an outlined body, and restores it. */
typedef struct CgFn {
  Val fn;                      /* function being built */
  Blk b_entry;                 /* its entry block, for allocas */
  Val v_ctx, v_x, v_y;         /* arguments: NitCtx *, x, labels (NULL in forward) */
  Val v_params, v_work;        /* the two slabs */
  Val v_seed, v_step;          /* generator keys */
  Val v_n;                     /* samples in this call, i64 */
  Val v_inexp, v_mu;           /* input exponent, update bits */
  Val v_xnonneg;               /* i32 NitCtx.x_nonneg */
  Val v_ract, v_rerr, v_rgrad; /* rounding modes */
  Val v_decay, v_train;
  Val v_exps; /* i32 (nnodes, 4) exponent slots in the work slab */
  Val v_row0; /* data parallel: global row of sample 0 (i64; 0 in one process) */
  bool glue;  /* optnone: its outermost loops are outlined (llvm.c) */
  int depth;  /* loops open (l_for without its l_next) */
  int begun;  /* loops begun (l_for) so far */
  bool outline; /* the temporary function of a loop being outlined */
} CgFn;

/* NitCtx field indices, from runtime/nitabi.h's list (abi.c builds the type). */
#define CTX_IDX(k, t, n)     CTX_##n,
#define CTX_IDXA(k, t, n, l) CTX_##n,
enum { NIT_CTX_FIELDS(CTX_IDX, CTX_IDXA) CTX_NFIELDS };

/* The fields of a parallel body's environment (par.c; fold.c reads consts). */
enum { ENV_CTX, ENV_X, ENV_Y, ENV_CONSTS, ENV_NFIELDS };

/* A parallel body, and the placeholder of its table of slab offsets that
 * its callers store into the environment (par.c; fold.c decides it). */
typedef struct Body {
  Val fn;     /* NAME.body */
  Val consts; /* NAME.consts: a private constant global */
  struct Body *next;
} Body;

/* Module state: fixed while one module is built. */
typedef struct Cg {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  Model *m;
  Plan *p;
  Ty t_i1, t_i8, t_i16, t_i32, t_i64, t_ptr, t_void;
  Ty t_ctx;                   /* NitCtx (abi.c) */
  Ty t_env, ft_body, ft_pfor; /* par_for: {ctx, x, y, consts}, body(env, lo, hi, worker) */
  Ty ft_node;                 /* a layer's forward or backward: void (ctx, x, y) */
  int64_t acc_at;             /* acc_ptr's offset in acc: the plan's acc_at (forward)
                               * or acc_err_at (backward) of the node being
                               * emitted, 0 outside the layers */
  int64_t acc_bytes;          /* the pass's bytes from there (acc_bytes or
                               * acc_err_bytes), all of acc outside the layers */
  int64_t grad_at;            /* grad_ptr's offset in grad, likewise (grad_at) */
  int workers;                /* the plan's workers of the node being emitted (its
                               * roundings), maxw outside the layers */
  /* the shared helpers, emitted once per module (step.c: emit_helpers) */
  Val f_mix, f_key, f_round, f_bits, f_sat8;
  Val f_wview, f_loss;
  Ty ft_mix, ft_key, ft_round, ft_bits, ft_sat8, ft_wview, ft_loss;
  Val f_maxabs32, f_maxabs64;
  Val f_round8[2];    /* round8 of results of any width from [wide] accumulators */
  Val f_round8g[2];   /* round8 with a gate, from [wide] accumulators (on first use) */
  Ty ft_maxabs, ft_round8, ft_round8g;
  Val f_uplan32, f_uplan64, f_uapply32, f_uapply64;
  Ty ft_uplan, ft_uapply;
  Val f_e32, f_maxabs8, f_maxabs16; /* f_e32: the loss's e32 (loss.c), but under niti's own loss */
  Ty ft_e32;
  Val f_rq_vieww; /* views of weights at recipe.bits_weight */
  Val f_rq_view, f_rq_g32, f_rq_g64, f_rq_master, f_linsum3, f_linsum2, f_lplan, f_recip;
  Ty ft_rq, ft_linsum3, ft_linsum2, ft_lplan, ft_recip;
  Val f_normf, f_normb; /* the runtime's norm kernels */
  Ty ft_normf, ft_normb;
  Val f_normb_mu, f_clip, f_clip_phi, f_clip_eta; /* unified: norm backward with mu, the error-site
                                                   * kernel, phi, eta_p */
  Ty ft_normb_mu, ft_clip, ft_clip_phi, ft_clip_eta;
  GemmKind gk;   /* micro-kernel of the target's int8 dot products */
  bool vbmi;     /* x86 vpermb (AVX512-VBMI): conv panels gathered byte by byte (NITC_GATHER=0: never) */
  bool gather4;  /* conv panels gathered by groups of four rows on the ubs kernel (NITC_GATHER=0: never) */
  bool implicit; /* conv forwards may read B in place (im2col.c; NITC_IMPLICIT=0: never) */
  bool rows;     /* conv forwards by output rows where they fit (convrows.c; NITC_ROWS=0: never) */
  bool tile_words; /* panel words built in conv GEMMs' tiles (convtile.c; NITC_TILE_WORDS=0: never) */
  int64_t stream_min; /* batch bytes of C from which a GEMM streams it (gemm_stream_min) */
  bool simd;     /* a vector unit (gemm_simd): without one, loops of scalars replace shuffle blocks */
  bool x86;      /* an x86-64 target (im2col.c: transposes by 128-bit lanes, row pointers opaque to LSR) */
  int madd_bits; /* vector register bits: x86 128/256/512 (pmaddwd, l_transpose16), else 128 */
  bool bw512;    /* x86 AVX-512BW: 512-bit byte and word operations, byte masks (round8_packed, pool rows) */
  bool mask_stores; /* masked vector stores cost what plain ones do (AVX-512, RVV): l_store_below */
  bool mask_ops;    /* masked loads and stores are instructions (x86, RVV), not lane loops (llvm.c) */
  CgFn f;        /* the function being built */
  CgFn glue;     /* while one of its loops is outlined: the glue function */
  Blk b_glue;    /* and where its call goes */
  int nloops;    /* loops outlined so far, for their names */
  Body *bodies;  /* every par_for body, in creation order */
  Body **bodies_end;
} Cg;

/* ------------------------------------------------------------------ llvm.c */

Val l_i8(Cg *g, int64_t v);
Val l_i32(Cg *g, int64_t v);
Val l_i64(Cg *g, int64_t v);
/* bytes of integer type t (an accumulator's width: 4 or 8) */
int l_bytes(Ty t);
Val l_u64(Cg *g, uint64_t v);
Blk l_block(Cg *g, const char *name);
Val l_gep(Cg *g, Ty elem, Val base, Val idx, const char *name);
Val l_load(Cg *g, Ty t, Val base, Val idx, const char *name);
void l_store(Cg *g, Ty t, Val v, Val base, Val idx);
Val l_var(Cg *g, Ty t, const char *name, Val init); /* entry-block stack slot */
Val l_get(Cg *g, Ty t, Val var, const char *name);
void l_set(Cg *g, Val var, Val v);
Val l_add(Cg *g, Val a, Val b, const char *n);
Val l_sub(Cg *g, Val a, Val b, const char *n);
Val l_mul(Cg *g, Val a, Val b, const char *n);
Val l_sext(Cg *g, Val v, Ty t, const char *n);
Val l_trunc(Cg *g, Val v, Ty t, const char *n);
Val l_icmp(Cg *g, LLVMIntPredicate p, Val a, Val b, const char *n);
Val l_select(Cg *g, Val c, Val a, Val b, const char *n);
Val l_smax(Cg *g, Val a, Val b, const char *n);
Val l_smin(Cg *g, Val a, Val b, const char *n);
Val l_abs(Cg *g, Val v, const char *n);
Val l_call(Cg *g, Ty ft, Val f, Val *args, unsigned nargs, const char *name);

/* Counted loop `for (i = lo; i < hi; i++)`, i64. l_for leaves the builder in
 * the body; l_next closes the loop and leaves it after the loop. */
typedef struct Loop {
  Val v_i;
  Val v_phi;
  Blk b_head, b_exit;
  Val v_ctr, v_step; /* a second induction (l_loop_ctr), or NULL */
  int nth;           /* CgFn.begun when it began: more by l_next, it holds loops */
} Loop;
Loop l_for(Cg *g, Val v_lo, Val v_hi, const char *name);
/* A second induction of L: v_init (computed before the loop) at its first
 * iteration, plus v_step at each next one; returns its value in the body.
 * The vectorizer widens it as an induction: a counter that would cost a
 * multiply per element (the draws' index times NIT_GOLDEN) costs an add
 * per vector. */
Val l_loop_ctr(Cg *g, Loop *L, Val v_init, Val v_step, const char *name);
/* Closes L. A loop that holds loops is kept rolled: unrolling it copies
 * its inner loops, each of which the code generator then compiles again
 * (docs/performance.md, "Loops that hold loops kept rolled"). */
void l_next(Cg *g, Loop *L);
/* l_next that lets LLVM unroll a loop that holds loops, for a small nest
 * of constant trip counts that it unrolls whole into straight code */
void l_next_nest(Cg *g, Loop *L);
/* l_next for a loop LLVM must not unroll: its body is already wide, or
 * the loop is cold and its unrolled copies would cost compile time only */
void l_next_rolled(Cg *g, Loop *L);
/* l_next for a loop LLVM must neither unroll nor vectorize: a small copy
 * whose constant trip counts would have it unrolled and vectorized at great
 * compile cost for nothing (a byte gather) */
void l_next_scalar(Cg *g, Loop *L);
/* l_next for a loop the vectorizer is to interleave n times: n vectors of
 * independent work in flight per step, where one vector's chain is too long
 * for the out-of-order window to overlap steps on its own */
void l_next_interleaved(Cg *g, Loop *L, unsigned n);
/* if (c) { ... }: l_if leaves the builder in the then-block; l_endif joins.
 * if (c) { ... } else { ... }: l_if_else likewise, with the else-block in
 * *b_else, which l_else moves to (ending the then-block). */
Blk l_if(Cg *g, Val v_c, const char *name);
Blk l_if_else(Cg *g, Val v_c, const char *name, Blk *b_else);
void l_else(Cg *g, Blk b_else, Blk b_join);
void l_endif(Cg *g, Blk b_join);
Val l_begin_fn(Cg *g, const char *name, Ty ft, bool internal);
/* Glue run once per step (a layer's NAME.fwd / NAME.bwd, the step
 * functions): compiled without optimization, every outermost loop it runs
 * moved into a function of its own that the optimizer sees. */
Val l_begin_glue_fn(Cg *g, const char *name, Ty ft);
/* An internal function that runs whole loops, kept out of line: inlining
 * one at every call site multiplied the optimizer's work for no speed. */
Val l_begin_loop_fn(Cg *g, const char *name, Ty ft);
/* Emitting one function in the middle of another: l_aside keeps the
 * current function's state and the builder's block, l_back returns to them. */
typedef struct Aside {
  CgFn f;
  Blk b;
} Aside;
Aside l_aside(Cg *g);
void l_back(Cg *g, Aside a);
Val l_param(Cg *g, unsigned i, const char *name);
Val l_intrinsic(Cg *g, const char *name, Ty *ov, unsigned nov, Ty *ft);
Val l_mask_below(Cg *g, int64_t n, unsigned w); /* <w x i1>, lanes < n set */
Val l_mask_first(Cg *g, Val v_n, unsigned w);   /* the same for a run-time n (i64) */
/* var_max = max(var_max, |v|) lane-wise over v_mask's lanes (NULL: all) */
void l_max_abs(Cg *g, Val var_max, Val v, Val v_mask);
Val l_masked_load(Cg *g, Ty t, Val v_ptr, unsigned align, Val v_mask, Val v_pass, const char *name);
void l_masked_store(Cg *g, Val v, Val v_ptr, unsigned align, Val v_mask);
/* the first n lanes of v, without masked stores where they are dear */
void l_store_below(Cg *g, Val v, Val v_ptr, unsigned align, int64_t n);
Val l_reduce_smax(Cg *g, Val v, const char *name);
Val l_opaque_ptr(Cg *g, Val p, const char *name); /* p, hidden from scalar evolution */
Val l_const_array(Cg *g, Ty t, Val *elems, int64_t n, const char *name); /* constant internal global */
typedef struct Prefetch {
  Val v_base;         /* the stream's element 0 */
  int64_t elem_bytes; /* bytes per element */
  bool write;         /* to be written (else read) */
} Prefetch;
void l_prefetch(Cg *g, Val v_p, bool write);
Loop l_for_prefetched(Cg *g, Val v_lo, Val v_hi, int64_t block, int64_t ahead, const Prefetch *pf, int npf,
                      const char *name, Loop *outer);
void l_trap(Cg *g); /* llvm.trap: a broken invariant of the generated code */
Val l_slab(Cg *g, Val base, int64_t off, const char *name); /* base + off bytes */
Val l_batch_elems(Cg *g, const Shape *s, const char *name); /* n * C*H*W */
void l_zero(Cg *g, Ty t, Val v_ptr, Val v_count);

/* ------------------------------------------------------------------- ctx.c */

int64_t numel(const Shape *s);
int log2i(int64_t v);      /* smallest k with 2^k >= v */
Val act_ptr(Cg *g, int i); /* int8 (n, C, H, W) output of node i */
Val err_ptr(Cg *g, int i); /* int8 (n, C, H, W) error at node i's output */
Val taps_ptr(Cg *g, int i); /* int8 (n, C, OH, OW) taps of max pool i (plan's pool_taps) */
/* exponent slots of node i: which = 0 activation, 1 error, 2 + s input
 * error of slot s */
Val get_exp(Cg *g, int i, int which, const char *name);
void set_exp(Cg *g, int i, int which, Val v);
/* unified: the multiplier an error carries, in slots beside the exponents;
 * get_mu is the constant 1 and set_mu does nothing under the other recipes */
Val get_mu(Cg *g, int i, int which, const char *name);
void set_mu(Cg *g, int i, int which, Val v);
Val w8_ptr(Cg *g, const Node *nd);                    /* int8 (view of the) weights */
Val wraw_ptr(Cg *g, const Node *nd);                  /* stored weights (int8 or int16) */
Val v_key_for(Cg *g, uint32_t tid, const char *name); /* nit_key(seed, step, tid) */
Val acc_ptr(Cg *g);                                   /* accumulator scratch */
Val acc2_ptr(Cg *g);                                  /* fan-out error sums */
Val grad_ptr(Cg *g);                                  /* weight-gradient scratch */
Val wsum_ptr(Cg *g);                                  /* row sums of weight operands (vnni) */
Val rsum_ptr(Cg *g);                                  /* row sums of data operands (vnni) */
Val pack_ptr(Cg *g);                                  /* one layer's packed operands */

/* Where node i's input error for slot s goes: straight into the producer's
 * error buffer, or, when the producer gathers several contributions, into a
 * private buffer of this consumer. */
typedef struct ErrDst {
  Val v_ptr;       /* int8 (n, C, H, W) */
  int node, which; /* exps slot receiving its exponent */
} ErrDst;
bool err_dst(Cg *g, int i, int s, ErrDst *d); /* false: nothing upstream needs it */
void deliver_ahead(Cg *g, int i, const ErrDst *d, bool wide, Ahead *a);
void deliver_acc(Cg *g, int i, const ErrDst *d, Val v_e32, bool wide, Val v_s, Val v_fused, const Ahead *ahead);
Val err_dst_ptr(Cg *g, const ErrDst *d); /* d's buffer, from its node and slot (in any function) */
void pass_err(Cg *g, const Node *nd, const ErrDst *d, Val v_se);
void load_ctx_fields(Cg *g);
Val ctx_field(Cg *g, unsigned idx, Ty t, const char *name); /* load a NitCtx field */
void load_ctx(Cg *g);
void publish(Cg *g); /* logits and their exponent to the caller */
void copy_exps(Cg *g);

/* ------------------------------------------------------------------- par.c */

/* What a par_for body of a layer kernel needs (compile-time data only:
 * run-time values are reloaded inside the body). */
typedef struct KArgs {
  const Node *nd;
  int i;     /* node index */
  Ty t_acc;  /* accumulator (or gradient) type */
  bool fuse; /* the body stores its max |C| for requant_fused */
  const Ahead *ahead; /* NULL, or the body rounds each sample ahead (plan's ahead) */
} KArgs;
typedef void (*BodyFn)(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_worker);
/* Run fn's body over [0, count) on at most maxw workers; returns how many ran. */
Val par_for(Cg *g, const char *name, Val v_count, int maxw, BodyFn fn, const void *u);

/* ------------------------------------------------------------------ fold.c */

/* Once the module is built: each group of bodies that differ only in the
 * indices of single-index GEPs becomes its first body, reading those from
 * env.consts; every body's NAME.consts becomes its table, or null. */
void fold_bodies(Cg *g);

/* ----------------------------------------------------------------- round.c */

void emit_generator(Cg *g);
Val l_draw(Cg *g, Val v_key, Val v_idx, const char *name);
/* The draws of a loop over the indices [lo, ...) of one key: a counter of
 * the loop (l_loop_ctr) at key + (lo + 1) NIT_GOLDEN, stepping by
 * NIT_GOLDEN; l_draw_ctr(counter) = l_draw(key, index). */
Val l_draw_ctr_begin(Cg *g, Loop *L, Val v_key, Val v_lo);
Val l_draw_ctr(Cg *g, Val v_ctr, const char *name);
/* l_next for a loop of l_draw_ctr_begin: interleaved where a vector's
 * chain of draws is long (x86 with AVX2 and no AVX-512) */
void l_next_draws(Cg *g, Loop *L);
/* Data parallelism (docs/scaleout.md): the element-wise MAX (i64) or SUM
 * (width 4 or 8 bytes) over ranks of count values at v_ptr, in place,
 * through the context's callbacks; nothing in one process. Step level
 * only, never inside a data-dependent branch. */
void l_allmax(Cg *g, Val v_ptr, Val v_count);
void l_allsum(Cg *g, Val v_ptr, Val v_count, int width);
/* A body's largest |value| into its worker's rq slot; the largest of the
 * first v_used workers' slots (i64). */
void worker_max_store(Cg *g, Val v_max, Val v_wk);
Val workers_max(Cg *g, Val v_used);
/* One i32 argument of a par_for body: set before the par_for, read inside. */
void par_arg_set(Cg *g, Val v_i32);
Val par_arg(Cg *g);
/* The global flat index of element v_j of a batch tensor of `per` elements per sample. */
Val l_global_idx(Cg *g, Val v_j, Val v_per);
Val l_dropped(Cg *g, Val v_key, Val v_idx, int drop256);
void emit_bits(Cg *g);
void emit_sat8(Cg *g);
void emit_round(Cg *g);
Val emit_maxabs(Cg *g, Ty t_acc, const char *name);
/* k = max(0, B(max) - (bits - 1)) (i32; max i64): the shift that brings
 * max |x| within `bits` bits (docs/numerics.md, "Rounding"). */
Val rq_step(Cg *g, Val v_max, int bits, const char *name);
/* SQ_b's steps (docs/recipes.md, "The shiftquant recipe"), i32: from the
 * tensor's max |x| its finest step base = max(0, B(max) - (b-1)) - (8 - b),
 * 0 for a zero tensor; from a group's, the group's kc = max(0, base,
 * B(max) - (b-1)). */
Val sq_base(Cg *g, Val v_max, int bits);
Val sq_step(Cg *g, Val v_max, int bits, Val v_base);
/* round8(acc, lo, hi, out, k, mode, key, base, floor, lim[, gate]):
 * saturated to floor..lim, int8 out; lim = lim(bits) of the result, floor =
 * -lim, or 0 where a relu folds in; with a gate, 0 wherever gate[j] <= 0 */
Val emit_round8(Cg *g, Ty t_acc, bool gate, const char *name);
void emit_round_fns(Cg *g);                                  /* f_round8 of both accumulator widths */
int round_lim(int bits);                                      /* 2^(bits-1) - 1 */

/* Loop invariants of R(., k) for k >= 1, in type t. */
typedef struct RoundK {
  Ty t;
  Val v_k, v_mask, v_odd, v_h; /* k, 2^k - 1, k & 1, (k - (k & 1)) / 2 */
  Val v_isk1, v_mask64;        /* k == 1, 2^k - 1 in i64 */
  Val v_one;                    /* 1, as (2^k - 1) >> (k - 1) */
  Val v_dsa, v_dma;             /* ROUND_DET: up iff ((a >> dsa) & dma) >u */
  Val v_dmb, v_dcb;             /*   ((a & dmb) | dcb); round_det */
} RoundK;
RoundK round_consts(Cg *g, Ty t, Val v_k32);
/* The mode of round_elem that is pseudo or nearest by a run-time mode
 * (round_det, its constants hidden from the optimizer when hide: a loop's),
 * in one loop where each had its own. */
#define ROUND_DET NIT_ROUND_COUNT
void round_det(Cg *g, RoundK *R, Val v_mode, bool hide);
/* R(x, k) of one element in the width of x, mode stochastic or ROUND_DET. */
Val round_elem(Cg *g, const RoundK *R, int mode, Val v_x, Val v_key, Val v_idx);
/* The same, stochastic, with the draw's counter from l_draw_ctr_begin. */
Val round_elem_ctr(Cg *g, const RoundK *R, Val v_x, Val v_ctr);
int round_packed_lanes(const Cg *g);          /* i32 lanes of the packed loops' vectors, 0: none */
RoundK round_consts_v(Cg *g, const RoundK *R, unsigned n); /* the constants in every lane of n i32 */
/* elements [j, j + 4n) of i32 v_acc rounded (no draws), as 4n bytes in order, saturated */
Val round_bytes_packed(Cg *g, const RoundK *Rv, int mode, Val v_acc, Val v_j, const char *name);
/* What the bodies of one requantization are specialized on. */
typedef struct RqKind {
  bool wide; /* i64 accumulators */
  int bits;  /* the result's width b: k = B - (b - 1), saturated to lim(b) */
  bool relu; /* results clamped at 0 (the relu after a weighted layer, plan's relu_rq) */
  bool gate; /* results kept only where the gate is > 0 (plan's relu_err) */
} RqKind;
/* A requantization whose GEMM bodies round each sample ahead, with a guess
 * of the batch's shift (round.c, "Rounding ahead"; plan's ahead):
 * rq_ahead before the GEMM, which runs its region by rq_ahead_run; in its
 * bodies body_max_begin/_end where the GEMM finds no maxima, and
 * rq_ahead_sample after each sample's GEMM; requant_fused after it. */
struct Ahead {
  RqKind q;
  int slot;    /* its plan guess slot: node * AHEAD_SLOTS + which (ahead_site) */
  int64_t per; /* elements per sample */
  Val v_k;     /* the batch's k, once rq_ahead_run has run */
};
/* which: 0 training forward, 1 input error, 2 evaluation forward */
Ahead ahead_site(int node, int which, RqKind q, const Shape *s);
void rq_ahead(Cg *g, const Ahead *a, Val v_count, Val v_out, Val v_mode, Val v_key, Val v_gate);
/* par_for over the batch's samples until the bodies rounded with the
 * batch's k; returns the workers that ran (their maxima in the rq slots) */
Val rq_ahead_run(Cg *g, Ahead *a, const char *name, BodyFn body, const void *u);
/* A body's own running max |acc| where no GEMM epilogue finds it (the
 * bodies of rounding ahead, col2im's scatter): begin at the top of the
 * body, fold in each sample's count accumulators, end into the worker's
 * rq slot (what requant_fused's v_fused reads). */
Val body_max_begin(Cg *g); /* i64 stack slot, 0 */
void body_max_fold(Cg *g, bool wide, Val v_acc, int64_t count, Val var_max);
void body_max_end(Cg *g, Val var_max, Val v_wk);
/* Around a body's work on sample v_b: skip it when it is redone only for
 * stale samples and v_b is not (l_endif the result after the sample). */
Blk rq_ahead_skip(Cg *g, Val v_b);
/* After sample v_b's GEMMs into v_acc: round it. var_max: the worker's
 * largest |acc| so far, the GEMM's (fused: fused_begin's vector) or the
 * body's own (body_max_begin's, this sample's folded in here). */
void rq_ahead_sample(Cg *g, const Ahead *a, Val v_acc, Val v_b, Val var_max, bool fused);
/* A per-sample body that runs in a requantization's rounding region, on
 * the samples its worker has just rounded (plan's rq_pool): fn(g, u, lo,
 * hi, worker) over samples [lo, hi). */
typedef struct Follow {
  BodyFn fn;
  const void *u;
  int64_t per; /* elements of one sample of the rounded tensor */
} Follow;
/* RQ_bits of count accumulators into int8 out; returns k (i32). */
Val requant(Cg *g, int bits, bool wide, Val v_acc, Val v_count, Val v_out, Val v_mode, Val v_key);
Val requant_fused(Cg *g, int bits, bool wide, Val v_acc, Val v_count, Val v_out, Val v_mode, Val v_key, Val v_fused,
                  bool relu, Val v_gate, const Ahead *ahead, const Follow *next);
/* Where an error site is and where its result's multiplier goes (unified):
 * the site's tid, the wide error's exponent, the multiplier it carries, the
 * slot (node, which) of the result. Ignored by the other recipes. */
typedef struct ErrSite {
  uint32_t tid;
  Val v_s, v_mu;
  int node, which;
  Val v_gate;         /* NULL, or the folded relu's output: the error passes where it is > 0 (niti) */
  const Ahead *ahead; /* NULL, or the GEMM's bodies rounded ahead (plan's ahead) */
  const Follow *next; /* NULL, or a body for the rounded samples (plan's pool_in_err; RQ only) */
} ErrSite;
/* The recipe's error quantizer EQ at a site: s is the error's per-sample
 * shape (SQ's groups); returns the exponent offset (i32). */
Val err_quant(Cg *g, bool wide, Val v_acc, Val v_count, const Shape *s, Val v_out, Val v_key, Val v_fused,
              const ErrSite *site);
void emit_clip_decls(Cg *g); /* unified: the runtime's error-site kernel */
Val site_phi_eta(Cg *g, int t, Val *v_eta_e); /* unified: eta_p of tensor t (m, and e in *v_eta_e) */
Val fused_begin(Cg *g);
void fused_end(Cg *g, Val var_max, Val v_wk);
Val grad_fused_max(Cg *g, Val v_used);       /* a fused gradient's max |g| (i64), -1 if data-parallel */
Val grad_slot_max(Cg *g, int slot);         /* the same, of a paired dense layer's gradient */
Val align_common(Cg *g, Val v_lo, Val v_hi); /* common exponent, from min and max */
void align_shift(Cg *g, Val v_e, Val v_s, Val *v_use, Val *v_d);
Val align_sum2(Cg *g, int i, Val v_s1, Val v_s2, Val v_cnt, Val *v_fused);
#define ALIGN_TERMS 4 /* terms whose shifts align_pack packs into one par_arg */
Val align_pack(Cg *g, Val v_packed, int t, Val v_use, Val v_d);
void align_unpack(Cg *g, Val v_packed, int t, Val *v_use, Val *v_d);
Val zero_tensor8(Cg *g, Val v_p, Val v_cnt, const char *name); /* all zero (i1) */

/* ---------------------------------------------------------------- update.c */

/* A weight tensor's element loops (the niti update, the optimizer's passes
 * under the recipes with masters) run in chunks of UPDATE_CHUNK elements
 * (fine enough that two workers get equal halves), over at most one worker
 * per UPDATE_PER_WORKER elements (a share must outweigh a hand-off). */
#define UPDATE_CHUNK      1024
#define UPDATE_PER_WORKER 16384
int update_workers(Cg *g, int64_t count); /* how many workers a tensor's loops may use */
Val red_ptr(Cg *g);                        /* the red area: a serial phase's results for workers */
Val emit_update_plan(Cg *g, Ty t_g, const char *name);
Val emit_update_apply(Cg *g, Ty t_g, const char *name);
void emit_wview(Cg *g);
void update_weights(Cg *g, int i, Val v_g, Val v_w, Ty t_g, Val v_gmax);
void wide_views(Cg *g);

/* ------------------------------------------------------------------- sgd.c */

void emit_sgd_helpers(Cg *g);
Val wexp_of(Cg *g, const Node *nd);                 /* exponent of the weights this call uses */
Val view_exp_of(Cg *g, int t, const char *name);    /* masters: exponent of tensor t's view */
void master_views(Cg *g);                           /* every view, at the start of a call */
/* The optimizer step of parameter tensor t (count elements) from its
 * gradient (i32 or i64 sums) at exponent v_sg (i32). */
void sgd_update(Cg *g, int t, int64_t count, Val v_g, Ty t_g, Val v_sg);

/* ------------------------------------------------------------------ loss.c */

/* the loss gradient's function: NITI's rounded row under niti's own loss,
 * else the chosen softmax's e32 for the recipe's EQ at LOSS */
void emit_loss(Cg *g);

/* ------------------------------------------------------------------ gemm.c */

/* C[m*ldc + n] (+)= sum_k A[m*lda + k] B(n, k), B packed in panels. */
typedef struct Gemm {
  Val v_A; /* (M, lda) int8 */
  int64_t lda;
  Val v_asum; /* i32 (M): vnni, sum_k A[m, k]; ax, sum_k [A[m, k] < 0] |A[m, k]| */
  Val v_B;    /* unpacked B(n, k) = B[n*sn + k*sk], or NULL: panels prebuilt */
  int64_t sn, sk;
  Val v_P; /* the panels; with v_taps, the quad-major copy panels are read from in place */
  Val v_taps;    /* or NULL. i64 (K/4): panel row q of panel j lies at */
  int64_t prow;  /*   v_P + (j / pcols) prow + (j % pcols) 64 + v_taps[q] */
  int64_t pcols; /*   (im2col.c's quad_copy; implicit panels, VNNI only) */
  Val v_C; /* C[m*ldc + n] */
  int64_t ldc;
  Val v_M, v_N, v_K; /* i64, run-time values allowed */
  int64_t kmax;      /* a bound on a run-time v_K (0: none known) */
  Val v_j0, v_j1;    /* panels [j0, j1) = columns [16 j0, min(16 j1, N)) */
  Ty t_acc;          /* element type of C */
  bool accumulate;   /* C += instead of C = */
  bool stream;       /* C's full panels stored non-temporally (gemm_stream): not with accumulate */
  bool whole;        /* C's rows have room for whole panels: every panel stored in full, no
                      * masked store (the lanes past N hold sums of B's padding, never read;
                      * not with var_max) */
  GemmKind kind;
  bool ua;     /* vnni: A's bytes are never negative (Plan.nonneg), so A is vpdpbusd's
                * unsigned operand, the panels hold B as it is, and no row needs
                * v_asum's correction */
  bool ub;     /* ubs: B's bytes are never negative, so the panels are vpmaddubsw's
                * unsigned operand as they are (no vpabsb, no vpsignb) */
  bool ax;     /* ubs: A split (gemm_ax_store): row m's magnitudes |a| at A + m lda,
                * their sign masks at A + m lda + lda / 2, v_asum its correction */
  Val var_max; /* <16 x i32> running max |C| over stored lanes, or NULL */
} Gemm;
/* Whether a GEMM stores C past the caches (Gemm.stream): C of sample_bytes
 * per sample, written once and read back after the batch, in rows of
 * row_bytes. gemm_stream_min: the bound on the batch's bytes of C,
 * GEMM_STREAM_BYTES unless NITC_STREAM_BYTES says otherwise. */
#define GEMM_STREAM_BYTES ((int64_t)8 << 20)
int64_t gemm_stream_min(void);
/* K above *from is taken in blocks of gemm_kblock(&from) (GEMM_KBLOCK
 * above GEMM_KBLOCK_FROM; NITC_GEMM_KBLOCK=N: blocks of N above N). */
#define GEMM_KBLOCK      ((int64_t)4096)
#define GEMM_KBLOCK_FROM ((int64_t)16384)
int64_t gemm_kblock(int64_t *from);
bool gemm_stream(Cg *g, int64_t sample_bytes, int64_t row_bytes);
GemmKind gemm_kind(Cg *g, int64_t kmax); /* the kernel for sums of <= kmax terms */
GemmKind gemm_isa(const CgTarget *t);    /* the target's best kernel */
bool gemm_vbmi(const CgTarget *t);       /* x86 with vpermb */
int gemm_madd_bits(const CgTarget *t);   /* widest pmaddwd of an x86 target */
bool gemm_has_ua(GemmKind kind);          /* a dot step for an A never negative (Gemm.ua) */
bool gemm_has_ub(GemmKind kind);          /* and for panels never negative (Gemm.ub) */
bool gemm_x86(const CgTarget *t);        /* an x86-64 target (Cg.x86) */
bool gemm_simd(const CgTarget *t);       /* a vector unit (Cg.simd) */
bool gemm_bw512(const CgTarget *t);      /* x86 with AVX-512BW (Cg.bw512) */
bool gemm_mask_stores(const CgTarget *t); /* cheap masked stores (Cg.mask_stores) */
bool gemm_mask_ops(const CgTarget *t);    /* masked loads and stores as instructions (Cg.mask_ops) */
uint32_t gemm_panel_bias(GemmKind kind); /* bias of a panel word: 0x80808080 on vnni */
Val l_splat(Cg *g, Val v, unsigned n, const char *name);
Val l_lanes(Cg *g, Val v_a, Val v_b, int lo, int n, int step, const char *name);
void l_transpose16(Cg *g, Val v[16]); /* 16 vectors of 16 lanes, in place */
/* acc += the unsigned panel row v_b times A's signed quad v_a (i32, broadcast), by vpdpbusd */
Val dot_vnni(Cg *g, Val v_acc, Val v_a, Val v_b);
/* acc += A's unsigned quad v_a (i32, broadcast) times the signed panel row v_b, by vpdpbusd */
Val dot_vnni_ua(Cg *g, Val v_acc, Val v_a, Val v_b);
/* the same by vpmaddubsw and vpmaddwd (ubs) */
Val dot_ubs_ua(Cg *g, Val v_acc, Val v_a, Val v_b);
void row_sums(Cg *g, Val v_A, int64_t lda, Val v_rows, Val v_K, Val v_dst);
/* Whether a GEMM of kind over K terms with both operands signed takes A
 * split (Gemm.ax), and the row stride of such an A of rows of lda bytes. */
#define GEMM_AX_KMIN 256
bool gemm_ax(GemmKind kind, int64_t K);
int64_t gemm_ax_lda(GemmKind kind, int64_t K, int64_t lda);
/* Byte v_w of A stored split at v_A + v_at (its mask half a row of lda
 * later); then each row's correction (Gemm.v_asum) into v_dst. */
void gemm_ax_store(Cg *g, Val v_w, Val v_A, Val v_at, int64_t lda);
void gemm_ax_sums(Cg *g, Val v_A, int64_t lda, int64_t rows, Val v_dst);
void gemm_ax_split(Cg *g, Val v_src, int64_t lda_src, int64_t rows, int64_t K, Val v_dst, Val v_corr);
void gemm(Cg *g, const Gemm *G);
/* A GEMM reading node i on a_side (A, else the panels): gemm_nonneg is its
 * static Gemm.ua (a_side) or Gemm.ub, i never negative by the plan
 * (Plan.nonneg) where kind has that form; gemm_reading runs gemm(G), with
 * the run-time branch on NitCtx.x_nonneg where i is x or a pool or flatten
 * of it (Plan.nonneg_x) */
bool gemm_nonneg(Cg *g, GemmKind kind, int i, bool a_side);
void gemm_reading(Cg *g, const Gemm *G, int i, bool a_side);

/* ----------------------------------------------------------------- dense.c */

/* Return the workers that left their max |C| for requant_fused, or NULL. */
Val dense_forward(Cg *g, int i, Ty t_acc);
Val dense_backward_input(Cg *g, int i, Ty t_acc);
Val dense_backward_weight(Cg *g, int i, Ty t_g);
Val dense_backward_pair(Cg *g, int i, Ty t_acc, Ty t_g, Val *v_gmax);

/* ---------------------------------------------------------------- im2col.c */

/* A conv layer's shape, as its GEMMs see it. */
typedef struct ConvDims {
  int64_t O, Cg, KH, KW, Og, G, IC, IH, IW, OH, OW, P, Kc, Ke;
} ConvDims;
ConvDims conv_dims(Cg *g, const Node *nd);
Val col_ptr(Cg *g, Val v_wk);                 /* this worker's slice of plan->col */
Val pad_ptr(Cg *g, Val v_col, int64_t bytes); /* the padded copy at the slice's end */
/* the channels-last, zero-bordered copy of sample b's group gi at the end of the slice v_col (im2col_fwd's) */
Val cl_copy(Cg *g, const Node *nd, const ConvDims *d, Val v_x, Val v_b, Val v_gi, Val v_col);
/* dst (C, H + 2 py, W + 2 px): channels [c0, c0 + C) of sample b, zero-bordered */
void pad_copy(Cg *g, Val v_src, Val v_b, Val v_c0, int64_t Ctot, int64_t C, int64_t H, int64_t W, int64_t py,
              int64_t px, Val v_dst);
int64_t pix_off(const Node *nd, const ConvDims *d, int64_t p); /* output pixel p's first tap in a padded plane */
bool gather_fits(const Node *nd, const ConvDims *d);           /* pack_gather's windows hold every tap */
bool gather4_fits(const Node *nd, const ConvDims *d);          /* pack_gather4's, by groups of four rows */
/* How a conv forward's panels are gathered with K unpadded per segment:
 * not at all (ky segments padded to words), by vpermb, or by 16-byte
 * shuffles of groups of four rows. */
typedef enum { GATHER_NONE, GATHER_VPERMB, GATHER_QUADS4 } Gather;
/* Gathered panels: panel j's window (v_row0, the copy at its first row's
 * first tap) and each lane's byte offsets from it (v_rel, <16 x i32>); the
 * words' window offsets and tap bytes, (lo << 32 | taps) per word of kp / 4
 * (a constant table); a word of a panel, one vpermb (b ^ bias per byte). */
typedef struct GatherPanel {
  Val v_row0, v_rel;
} GatherPanel;
GatherPanel gather_panel(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_j);
Val gather_words(Cg *g, const Node *nd, const ConvDims *d, int64_t kp);
Val gather_quads(Cg *g, const GatherPanel *P, Val v_word, uint32_t bias);
bool ecol_fast(const Node *nd, const ConvDims *d);             /* ecol from whole segments */
/* Implicit panels (forward, or input error): the quad-major copy x4's
 * border and tap offsets once per body, then its interior per sample. */
bool implicit_fits(const Node *nd, const ConvDims *d, bool input);
Val implicit_begin(Cg *g, const Node *nd, int64_t C, int64_t H, int64_t W, int64_t py, int64_t px, bool flip,
                   uint32_t bias, Val v_dst);
void quad_copy(Cg *g, Val v_src, Val v_c0, int64_t C, int64_t H, int64_t W, int64_t py, int64_t px, uint32_t bias,
               Val v_dst);
Val krows_begin(Cg *g, const Node *nd, const ConvDims *d, uint32_t bias, Val v_dst); /* krows: border, tap table */
/* Rows of a conv GEMM's B operand: row r at v_dst + r*kp, ky segments of
 * segp bytes (segments padded to whole words for the panel kernels). */
typedef struct SegDst {
  Val v_dst;
  int64_t segp; /* bytes per ky segment in the k order (padded) */
  int64_t kp;   /* row length */
} SegDst;
/* The forward B of sample b, group gi (panels when v_pan, else rows). */
void im2col_fwd(Cg *g, const Node *nd, const ConvDims *d, Val v_x, Val v_b, Val v_gi, Val v_col, const SegDst *S,
                Val v_pan, uint32_t bias, Gather gather);
void im2col_t(Cg *g, const Node *nd, const ConvDims *d, Val v_x, Val v_b, Val v_gi, Val v_col); /* colT */
/* The weight gradient's B with the taps in the lanes: panels built from the
 * planar padded copy v_pad of a sample's group (pad_copy). */
bool taps_panels_fit(const Node *nd, const ConvDims *d);
void taps_panels(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_pan, uint32_t bias);
/* their word (oy, qx) of panel j: v_pix = taps_pix(oy, qx) in the padded copy v_pad */
Val taps_pix(Cg *g, const Node *nd, const ConvDims *d, Val v_oy, Val v_qx);
Val taps_word(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_pix, int64_t j, uint32_t bias);
/* The input error's B (ecol) of sample b, group gi. */
void ecol_build(Cg *g, const Node *nd, const ConvDims *d, Val v_e, Val v_b, Val v_gi, Val v_col, const SegDst *S,
                Val v_pan, uint32_t bias);

/* -------------------------------------------------------------- convrows.c */

/* The conv forward by output rows: whether it takes node nd's forward (VNNI,
 * stride 1, input never negative, whole panels of output channels, the
 * tile's accumulators in registers; NITC_ROWS=0: never), where (o, k) sits
 * in a group's weight panels, and one sample and group's C (Og, P). */
bool rows_fits(Cg *g, const Node *nd, const ConvDims *d, GemmKind kind, int64_t segp, int64_t kp, Ty t_acc);
Val rows_wpanel_at(Cg *g, Val v_o, Val v_k, int64_t kp);
void rows_forward(Cg *g, const Node *nd, const ConvDims *d, GemmKind kind, int64_t segp, int64_t kp, Val v_pad,
                  Val v_wp, Val v_t, Val v_C, Val var_max);

/* -------------------------------------------------------------- convtile.c */

/* Conv GEMMs with their panel words built in the tile (VBMI; at most 6
 * output channels a group, i32; NITC_TILE_WORDS=0: never). The forward by
 * gathered words: whether it fits (conv.c keeps the panels where C
 * streams), and one sample and group's C (Og, P) from the channels-last
 * copy v_pad, A = v_wg (Og, kp), row sums v_asum. */
bool gather_tile_fits(Cg *g, const ConvDims *d, Ty t_acc);
void gather_forward(Cg *g, const Node *nd, const ConvDims *d, int64_t kp, Val v_pad, Val v_wg, Val v_asum, Val v_C,
                    Val var_max);
/* The weight gradient with the taps in the lanes (conv.c): whether it fits
 * (at most 3 panels of taps), and one sample and group's part (Og, Kc) +=
 * from the planar padded copy v_pad, the error rows v_e (Og, P) and their
 * sums v_esum. */
bool taps_tile_fits(Cg *g, const ConvDims *d, Ty t_acc);
void taps_tile(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_e, Val v_esum, Val v_part);

/* ------------------------------------------------------------------ conv.c */

Val in_coord(Cg *g, Val v_out, int s, int p, Val v_tap, const char *name);
Val in_range(Cg *g, Val v, int64_t hi);
Val conv_forward(Cg *g, int i, Ty t_acc, Ahead *ahead);
Val conv_backward_input(Cg *g, int i, Ty t_acc, Ahead *ahead);
void conv_backward_weight(Cg *g, int i, Ty t_g);

/* ------------------------------------------------------------------ pool.c */

/* What the step driver hands a layer's forward or backward emitter: values
 * it has already built, in the order it built them. */
typedef struct LayerIO {
  int i; /* node index */
  const Node *nd;
  bool train;      /* forward: in train_step (dropout active) */
  Val v_in, v_out; /* forward: int8 input and output activations */
  Val v_cnt;       /* forward: output elements at batch n */
  Val v_sin;       /* forward: exponent of the input */
  Val v_e, v_se;   /* backward: error at the output, its exponent */
  Val v_src;       /* backward: the input activation */
  ErrDst d;        /* backward: where the input error goes */
  bool need_in;    /* backward: something upstream needs it */
} LayerIO;
void relu_forward(Cg *g, const LayerIO *io);
void flatten_forward(Cg *g, const LayerIO *io);
void dropout_forward(Cg *g, const LayerIO *io);
void maxpool_forward(Cg *g, const LayerIO *io);
/* Max pool node j's forward or backward over samples [lo, hi), in the
 * rounding region of the layer before it or of its consumer's input error
 * (plan's rq_pool, pool_in_err); k: a KArgs of node j that lives until the
 * region is emitted. */
Follow maxpool_follow(Cg *g, int j, KArgs *k, bool backward);
void avgpool_forward(Cg *g, const LayerIO *io);
void add_forward(Cg *g, const LayerIO *io);
void relu_backward(Cg *g, const LayerIO *io);
void dropout_backward(Cg *g, const LayerIO *io);
void flatten_backward(Cg *g, const LayerIO *io);
void maxpool_backward(Cg *g, const LayerIO *io);
void avgpool_backward(Cg *g, const LayerIO *io);
void add_backward(Cg *g, const LayerIO *io);

/* ------------------------------------------------------------------ norm.c */

void norm_desc(const Node *nd, int64_t d[NIT_NORM_DESC]); /* the runtime's description */
void emit_norm_decls(Cg *g);                              /* the kernels, when a layer uses them */
void norm_forward(Cg *g, const LayerIO *io);
void norm_backward(Cg *g, const LayerIO *io);

/* ------------------------------------------------------------------- abi.c */

void abi_types(Cg *g); /* t_ctx and the descriptor's types */
void emit_descriptor(Cg *g, const CgTarget *t, Val f_train, Val f_fwd);

#endif
