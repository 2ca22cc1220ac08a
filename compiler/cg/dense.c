/*
 * dense.c: dense layers, each pass one GEMM (gemm.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* dst[c*ldd + r] = src[r*lds + c] for r in [r0, r1), c in [c0, c1), a
 * byte at a time. */
static void transpose_bytes(Cg *g, Val v_src, int64_t lds, Val v_r0, Val v_r1, Val v_c0, Val v_c1, Val v_dst,
                            int64_t ldd) {
  Loop Lr = l_for(g, v_r0, v_r1, "tr");
  Loop Lc = l_for(g, v_c0, v_c1, "tc");
  Val v_v = l_load(g, g->t_i8, v_src, l_add(g, l_mul(g, Lr.v_i, l_i64(g, lds), ""), Lc.v_i, ""), "v");
  l_store(g, g->t_i8, v_v, v_dst, l_add(g, l_mul(g, Lc.v_i, l_i64(g, ldd), ""), Lr.v_i, ""));
  l_next_scalar(g, &Lc);
  l_next(g, &Lr);
}

/* Columns [16 t0, min(16 t1, cols)) of a (rows, cols) int8 matrix with row
 * stride lds, transposed into dst with row stride ldd:
 * dst[c*ldd + r] = src[r*lds + c] for r < rows (run time). Whole 16 x 16
 * tiles go through vectors (l_transpose16: 64 byte shuffles for 256
 * bytes), the rows past the last whole tile and the columns past the last
 * whole 16 byte by byte; without a vector unit all of it byte by byte. A
 * worker transposes the columns whose rows of dst it then reads (the
 * dense weight gradient's e^T). */
static void transpose_tiles(Cg *g, Val v_src, int64_t lds, Val v_rows, Val v_t0, Val v_t1, int64_t cols, Val v_dst,
                            int64_t ldd) {
  enum { T = 16 };
  if (!g->simd) {
    Val v_c1 = l_smin(g, l_mul(g, v_t1, l_i64(g, T), ""), l_i64(g, cols), "c1");
    transpose_bytes(g, v_src, lds, l_i64(g, 0), v_rows, l_mul(g, v_t0, l_i64(g, T), "c0"), v_c1, v_dst, ldd);
    return;
  }
  Ty t_row = LLVMVectorType(g->t_i8, T);
  Val v_rtiles = LLVMBuildSDiv(g->b, v_rows, l_i64(g, T), "row.tiles");
  Val v_rfull = l_mul(g, v_rtiles, l_i64(g, T), "rows.full");
  Loop Lc = l_for(g, v_t0, l_smin(g, v_t1, l_i64(g, cols / T), ""), "tct");
  Val v_c0 = l_mul(g, Lc.v_i, l_i64(g, T), "c0");
  Loop Lr = l_for(g, l_i64(g, 0), v_rtiles, "trt");
  Val v_r0 = l_mul(g, Lr.v_i, l_i64(g, T), "r0");
  Val v[T];
  for (int i = 0; i < T; i++) {
    Val v_at = l_add(g, l_mul(g, l_add(g, v_r0, l_i64(g, i), ""), l_i64(g, lds), ""), v_c0, "");
    v[i] = LLVMBuildLoad2(g->b, t_row, l_gep(g, g->t_i8, v_src, v_at, ""), "row");
    LLVMSetAlignment(v[i], 1);
  }
  l_transpose16(g, v);
  for (int j = 0; j < T; j++) {
    Val v_at = l_add(g, l_mul(g, l_add(g, v_c0, l_i64(g, j), ""), l_i64(g, ldd), ""), v_r0, "");
    LLVMSetAlignment(LLVMBuildStore(g->b, v[j], l_gep(g, g->t_i8, v_dst, v_at, "")), 1);
  }
  l_next(g, &Lr);
  transpose_bytes(g, v_src, lds, v_rfull, v_rows, v_c0, l_add(g, v_c0, l_i64(g, T), ""), v_dst, ldd);
  l_next(g, &Lc);
  if (cols % T) { /* the last, partial tile, where it is in [t0, t1) */
    Blk b_part = l_if(g, l_icmp(g, LLVMIntSGT, v_t1, l_i64(g, cols / T), ""), "tail.cols");
    transpose_bytes(g, v_src, lds, l_i64(g, 0), v_rows, l_i64(g, cols / T * T), l_i64(g, cols), v_dst, ldd);
    l_endif(g, b_part);
  }
}

/* Dense layers: in forward and input error, workers take ranges of panels
 * (16 outputs each) and pack their own panels of the B operand; in the
 * weight gradient, blocks of WROWS rows of g32, each worker with every
 * panel of x^T in its own scratch, and its rows of e^T (A), with their
 * sums, transposed by itself. The update then splits g32 by elements
 * into the same contiguous halves, so each worker reads the rows it wrote
 * (split by panels, every line of g32 would cross to the other core).
 *   forward       acc[b, o] = sum_i x[b, i] w[o, i]    A = x,   B(o, i) = w
 *   input error   e32[b, i] = sum_o e[b, o] w[o, i]    A = e,   B(i, o) = w^T
 *   weight grad   g32[o, i] = sum_b e[b, o] x[b, i]    A = e^T, B(i, b) = x^T */
enum { WROWS = 16 };
_Static_assert(WROWS == 16, "a block of g32 rows is one 16-column tile of e (transpose_tiles)");
static int64_t wrow_blocks(int64_t O) { return (O + WROWS - 1) / WROWS; }

/* The micro-kernel of a dense pass, from the length of its sums (K). */
static GemmKind dense_kind(Cg *g, const Node *nd, Pass which) {
  int64_t K = which == PASS_FORWARD ? nd->wshape[1] : which == PASS_INPUT ? nd->wshape[0] : g->m->recipe.batch;
  return gemm_kind(g, K);
}

/* e^T (O, B) of node i's weight gradient, in pack (plan.c, plan_pairs). */
static Val et_ptr(Cg *g, int i) { return l_gep(g, g->t_i8, pack_ptr(g), l_i64(g, g->p->et_at[i]), "eT"); }

static Gemm dense_gemm(Cg *g, const KArgs *k, Pass which, Val v_lo, Val v_hi, Val v_wk) {
  const Node *nd = k->nd;
  int64_t I = nd->wshape[1], O = nd->wshape[0], Bc = g->m->recipe.batch;
  Gemm G = {0};
  G.t_acc = k->t_acc;
  G.kind = dense_kind(g, nd, which);
  G.v_j0 = v_lo, G.v_j1 = v_hi;
  G.v_asum = col_ptr(g, v_wk); /* every row's sum, in the worker's own scratch (dense_body) */
  if (which == PASS_FORWARD) {
    G.v_A = act_ptr(g, nd->in[0]), G.lda = I, G.v_B = w8_ptr(g, nd), G.sn = I, G.sk = 1;
    G.ua = gemm_nonneg(g, G.kind, nd->in[0], true);
    G.v_C = acc_ptr(g), G.ldc = O, G.v_M = g->f.v_n, G.v_N = l_i64(g, O), G.v_K = l_i64(g, I);
    G.v_P = pack_ptr(g);
    if (g->p->fwd_rows[k->i]) { /* samples [lo, hi), every panel in the worker's scratch */
      G.v_A = l_gep(g, g->t_i8, G.v_A, l_mul(g, v_lo, l_i64(g, I), ""), "x.rows");
      G.v_C = l_gep(g, k->t_acc, G.v_C, l_mul(g, v_lo, l_i64(g, O), ""), "acc.rows");
      G.v_M = l_sub(g, v_hi, v_lo, "rows");
      G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(O));
      G.v_P = l_gep(g, g->t_i8, col_ptr(g, v_wk), l_i64(g, fwd_rows_panels_at(Bc)), "w.pan");
    }
  } else if (which == PASS_INPUT) {
    G.v_A = err_ptr(g, k->i), G.lda = O, G.v_B = w8_ptr(g, nd), G.sn = 1, G.sk = I;
    G.v_C = acc_ptr(g), G.ldc = I, G.v_M = g->f.v_n, G.v_N = l_i64(g, I), G.v_K = l_i64(g, O);
    G.v_P = pack_ptr(g);
  } else { /* rows [16 lo, 16 hi) of g32, every panel of x^T in the worker's own scratch */
    Val v_m0 = l_mul(g, v_lo, l_i64(g, WROWS), "m0");
    G.v_A = l_gep(g, g->t_i8, et_ptr(g, k->i), l_mul(g, v_m0, l_i64(g, Bc), ""), "eT.rows"), G.lda = Bc;
    G.v_asum = l_gep(g, g->t_i32, rsum_ptr(g), v_m0, "rsum.rows");
    G.v_B = act_ptr(g, nd->in[0]), G.sn = 1, G.sk = I;
    G.ub = gemm_nonneg(g, G.kind, nd->in[0], false);
    G.v_C = l_gep(g, k->t_acc, grad_ptr(g), l_mul(g, v_m0, l_i64(g, I), ""), "g.rows"), G.ldc = I;
    G.v_M = l_sub(g, l_smin(g, l_mul(g, v_hi, l_i64(g, WROWS), ""), l_i64(g, O), ""), v_m0, "rows");
    G.v_N = l_i64(g, I), G.v_K = g->f.v_n, G.kmax = Bc;
    G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(I));
    G.v_P = col_ptr(g, v_wk);
  }
  return G;
}

static void dense_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk, Pass which) {
  const KArgs *k = u;
  Gemm G = dense_gemm(g, k, which, v_lo, v_hi, v_wk);
  if (which == PASS_WEIGHT) { /* rows [16 lo, 16 hi) of e^T (O, B) */
    int64_t O = k->nd->wshape[0], Bc = g->m->recipe.batch;
    transpose_tiles(g, err_ptr(g, k->i), O, g->f.v_n, v_lo, v_hi, O, et_ptr(g, k->i), Bc);
  }
  /* the sums of the rows of A this worker multiplies: in forward and input
   * error every row (each worker computes them all, rather than the caller
   * before the region), in the weight gradient its own */
  if (G.kind == GK_VNNI && !G.ua) row_sums(g, G.v_A, G.lda, G.v_M, G.v_K, G.v_asum);
  if (k->fuse) G.var_max = fused_begin(g);
  /* x in A (forward) or in the panels (weight gradient) */
  if (which == PASS_INPUT) gemm(g, &G);
  else gemm_reading(g, &G, k->nd->in[0], which == PASS_FORWARD);
  if (k->fuse) fused_end(g, G.var_max, v_wk);
}
static void dense_forward_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  dense_body(g, u, v_lo, v_hi, v_wk, PASS_FORWARD);
}
static void dense_input_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  dense_body(g, u, v_lo, v_hi, v_wk, PASS_INPUT);
}
static void dense_weight_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  dense_body(g, u, v_lo, v_hi, v_wk, PASS_WEIGHT);
}

/* Returns the workers that ran, when they left their max |C| in the rq
 * slots (panel kernels: for requant_fused in forward and input error, for
 * the NITI update's plan in the weight gradient), else NULL. */
static Val dense_kernel(Cg *g, int i, Ty t_acc, Pass which, BodyFn body) {
  const Node *nd = &g->m->nodes[i];
  int64_t O = nd->wshape[0];
  KArgs k = {nd, i, t_acc, false, NULL};
  int64_t count = which == PASS_FORWARD ? npanels(O) : which == PASS_INPUT ? npanels(nd->wshape[1]) : wrow_blocks(O);
  k.fuse = dense_kind(g, nd, which) != GK_PLAIN && (which != PASS_WEIGHT || g->m->recipe.kind == NIT_RECIPE_NITI);
  bool rows = which == PASS_FORWARD && g->p->fwd_rows[i]; /* by samples (plan.c, plan_fwd_rows) */
  Val v_used = par_for(g, nd->name, rows ? g->f.v_n : l_i64(g, count), rows ? g->p->maxw : g->p->workers[i], body, &k);
  return k.fuse ? v_used : NULL;
}

Val dense_forward(Cg *g, int i, Ty t_acc) { return dense_kernel(g, i, t_acc, PASS_FORWARD, dense_forward_body); }
Val dense_backward_input(Cg *g, int i, Ty t_acc) { return dense_kernel(g, i, t_acc, PASS_INPUT, dense_input_body); }
Val dense_backward_weight(Cg *g, int i, Ty t_g) { return dense_kernel(g, i, t_g, PASS_WEIGHT, dense_weight_body); }

/* A paired layer's backward (plan.c, plan_pairs) in one region of two
 * units: unit 0 the whole weight gradient, which the worker takes first
 * (chunk 0 is its home, runtime/threads.c), so that g32 is written on the
 * core that runs the update's first chunks; unit 1 the whole input error,
 * on the caller. Each pass names its own worker scratch and
 * maxima slot, whichever thread runs it: the input error 0 (requant_fused
 * reads slot 0), the weight gradient 1, so the two never share one, also
 * when one thread runs both. Returns the input error's fused workers (1)
 * or NULL, as dense_kernel; *v_gmax is the weight gradient's max |g| (slot
 * 1; -1 when the gradient is then summed over ranks), or NULL when the
 * kernel leaves none. Both orders of the same passes give the same bytes. */
enum { PAIR_WEIGHT_UNIT = 0, PAIR_INPUT_UNIT = 1, PAIR_INPUT_SLOT = 0, PAIR_WEIGHT_SLOT = 1 };

typedef struct Pair {
  KArgs in, wt; /* the two passes' arguments */
} Pair;

static void dense_pair_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const Pair *pr = u;
  const Node *nd = pr->in.nd;
  (void)v_wk;
  Loop L = l_for(g, v_lo, v_hi, "unit");
  Blk b_wt = l_if(g, l_icmp(g, LLVMIntEQ, L.v_i, l_i64(g, PAIR_WEIGHT_UNIT), ""), "weight");
  dense_body(g, &pr->wt, l_i64(g, 0), l_i64(g, wrow_blocks(nd->wshape[0])), l_i32(g, PAIR_WEIGHT_SLOT), PASS_WEIGHT);
  l_endif(g, b_wt);
  Blk b_in = l_if(g, l_icmp(g, LLVMIntEQ, L.v_i, l_i64(g, PAIR_INPUT_UNIT), ""), "input");
  dense_body(g, &pr->in, l_i64(g, 0), l_i64(g, npanels(nd->wshape[1])), l_i32(g, PAIR_INPUT_SLOT), PASS_INPUT);
  l_endif(g, b_in);
  l_next(g, &L);
}

Val dense_backward_pair(Cg *g, int i, Ty t_acc, Ty t_g, Val *v_gmax) {
  const Node *nd = &g->m->nodes[i];
  NIT_ASSERT(g->p->paired[i] && g->p->maxw >= 2);
  Pair pr = {{nd, i, t_acc, false, NULL}, {nd, i, t_g, false, NULL}};
  pr.in.fuse = dense_kind(g, nd, PASS_INPUT) != GK_PLAIN;
  pr.wt.fuse = dense_kind(g, nd, PASS_WEIGHT) != GK_PLAIN && g->m->recipe.kind == NIT_RECIPE_NITI;
  char name[128];
  snprintf(name, sizeof name, "%s.pair", nd->name);
  par_for(g, name, l_i64(g, 2), 2, dense_pair_body, &pr);
  *v_gmax = pr.wt.fuse ? grad_slot_max(g, PAIR_WEIGHT_SLOT) : NULL;
  _Static_assert(PAIR_INPUT_SLOT == 0, "requant_fused reads the first v_fused slots");
  return pr.in.fuse ? l_i32(g, 1) : NULL;
}
