/*
 * pool.c: pooling and element-wise layers (relu, flatten, dropout, add),
 * forward and backward. Pooling and relu run on the workers, by samples.
 * Disjoint max pools with short rows work on whole output rows as vectors,
 * and so do the other max pools and the average pools where an input row
 * fits a vector (their backward by input rows); the rest go window by
 * window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* Pooling window walk over (b, c, oy, ox, ky, kx) for samples b in [lo, hi);
 * padding taps are skipped. */
typedef struct PoolTap {
  Loop Lb, Lc, Ly, Lx, Lky, Lkx;
  Val v_oidx, v_iidx;
  Blk b_join;
} PoolTap;

static void pool_begin(Cg *g, const Node *nd, PoolTap *T, Val v_lo, Val v_hi) {
  const Shape *os = &nd->out;
  int64_t C = os->c, OH = os->h, OW = os->w;
  T->Lb = l_for(g, v_lo, v_hi, "b");
  T->Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "c");
  T->Ly = l_for(g, l_i64(g, 0), l_i64(g, OH), "oy");
  T->Lx = l_for(g, l_i64(g, 0), l_i64(g, OW), "ox");
  Val v_bc = l_add(g, l_mul(g, T->Lb.v_i, l_i64(g, C), ""), T->Lc.v_i, "bc");
  T->v_oidx = l_add(g, l_mul(g, l_add(g, l_mul(g, v_bc, l_i64(g, OH), ""), T->Ly.v_i, ""), l_i64(g, OW), ""), T->Lx.v_i,
                    "oidx");
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

/* Row vectors of a disjoint max pool: an output row's ox windows read input
 * bytes [0, L) of kh input rows, L = (OW - 1) sw + kw <= IW. When L and the
 * tap count are small, a whole output row is a few vector operations. */
#define POOL_VEC_MAX 64
static int64_t pool_span(const Node *nd) { return (nd->out.w - 1) * nd->sw + nd->kw; }
static bool pool_vec(const Node *nd) { return pool_span(nd) <= POOL_VEC_MAX && (int64_t)nd->kh * nd->kw <= 127; }

/* Every input byte lies in a window: the backward pass overwrites it all. */
static bool pool_covers(const Node *nd, const Shape *is) {
  return nd->sh == nd->kh && nd->sw == nd->kw && nd->out.h * nd->sh == is->h && nd->out.w * nd->sw == is->w;
}

/* A row of n bytes is a vector of lanes(n) lanes: n itself, or on AVX-512BW
 * the next of 16, 32 and 64, read and written with byte masks (rows of 14 or
 * 28 bytes otherwise become pieces of 8, 4 and 2 bytes, inserted and
 * extracted one by one). Lanes past n are 0 when loaded and never stored. */
static int lanes(const Cg *g, int n) { return !g->bw512 ? n : n <= 16 ? 16 : n <= 32 ? 32 : 64; }

static Val l_vload(Cg *g, int n, Val v_base, Val v_idx, const char *name) {
  int w = lanes(g, n);
  Ty t = LLVMVectorType(g->t_i8, (unsigned)w);
  Val v_at = l_gep(g, g->t_i8, v_base, v_idx, "");
  if (w == n) {
    Val v = LLVMBuildLoad2(g->b, t, v_at, name);
    LLVMSetAlignment(v, 1);
    return v;
  }
  return l_masked_load(g, t, v_at, 1, l_mask_below(g, n, (unsigned)w), LLVMConstNull(t), name);
}
static void l_vstore(Cg *g, Val v, int n, Val v_base, Val v_idx) {
  l_store_below(g, v, l_gep(g, g->t_i8, v_base, v_idx, ""), 1, n);
}

/* Lane ox = element map[ox] of v for ox < n, in lanes(n) lanes; map
 * entries < 0, and lanes past n, are undefined. */
static Val l_pick(Cg *g, Val v, const int *map, int n, const char *name) {
  Val idx[POOL_VEC_MAX];
  int w = lanes(g, n);
  for (int i = 0; i < w; i++) idx[i] = i >= n || map[i] < 0 ? LLVMGetUndef(g->t_i32) : l_i32(g, map[i]);
  return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(idx, (unsigned)w), name);
}

/* vals[0..n) in lanes(n) lanes, the lanes past n -1. */
static Val l_vconst8(Cg *g, const int *vals, int n) {
  Val c[POOL_VEC_MAX];
  int w = lanes(g, n);
  for (int i = 0; i < w; i++) c[i] = LLVMConstInt(g->t_i8, (unsigned long long)(i < n ? vals[i] : -1), 1);
  return LLVMConstVector(c, (unsigned)w);
}

/* Whole blocks of R output rows (the rows of every (b, c) in sequence) in
 * one vector of R OW lanes, where the windows cover the input (their rows
 * then lie back to back: R sh IW bytes) and those bytes fit two 64-byte
 * registers that vpermt2b picks from; R divides C OH, so a chunk of samples
 * is whole blocks. LeNet-5's 28-wide pool takes 2 rows, its 10-wide 5: the
 * row vectors of 14 and 5 lanes did twice and five times the operations.
 * 1: one row at a time. */
static int pool_block_rows(const Cg *g, const Node *nd) {
  const Shape *is = &g->m->nodes[nd->in[0]].out, *os = &nd->out;
  if (!g->vbmi || !g->bw512 || !pool_vec(nd) || !pool_covers(nd, is)) return 1;
  int per = (int)(os->c * os->h), best = 1;
  for (int r = 2; r <= per && r * nd->sh * is->w <= 2 * POOL_VEC_MAX; r++)
    if (per % r == 0 && r * os->w <= POOL_VEC_MAX) best = r;
  return best;
}

/* Lane i = element map[i] of the 128 bytes v[0], v[1] (a vpermt2b), in
 * lanes(n) lanes; as l_pick. */
static Val l_pick2(Cg *g, Val *v, const int *map, int n, const char *name) {
  Val idx[POOL_VEC_MAX];
  int w = lanes(g, n);
  for (int i = 0; i < w; i++) idx[i] = i >= n || map[i] < 0 ? LLVMGetUndef(g->t_i32) : l_i32(g, map[i]);
  return LLVMBuildShuffleVector(g->b, v[0], v[1], LLVMConstVector(idx, (unsigned)w), name);
}

/* One output row (bc, oy) of a disjoint max pool in vectors of OW lanes:
 * the window maxima and, per lane, the window's first maximum in row-major
 * tap order (the tap index t = ky kw + kx where a > best first held). */
static void pool_row_taps(Cg *g, const Node *nd, int R, Val v_in, Val v_row0, Val *v_best, Val *v_tap) {
  const Shape *is = &g->m->nodes[nd->in[0]].out;
  int OW = (int)nd->out.w, L = (int)pool_span(nd), n = R * OW, blk = R * (int)(nd->sh * is->w);
  int map[POOL_VEC_MAX], tv[POOL_VEC_MAX];
  Val v_blk[2] = {NULL, NULL}; /* R > 1: the block's bytes */
  if (R > 1 && blk <= POOL_VEC_MAX) {
    v_blk[0] = l_vload(g, blk, v_in, v_row0, "blk");
  } else if (R > 1) { /* two sources of 64 lanes, the second masked */
    Ty t = LLVMVectorType(g->t_i8, POOL_VEC_MAX);
    v_blk[0] = l_vload(g, POOL_VEC_MAX, v_in, v_row0, "blk");
    v_blk[1] = l_masked_load(g, t, l_gep(g, g->t_i8, v_in, l_add(g, v_row0, l_i64(g, POOL_VEC_MAX), ""), ""), 1,
                             l_mask_below(g, blk - POOL_VEC_MAX, POOL_VEC_MAX), LLVMConstNull(t), "blk.hi");
  }
  *v_best = NULL, *v_tap = NULL;
  for (int ky = 0; ky < nd->kh; ky++) {
    Val v_row = R > 1 ? NULL : l_vload(g, L, v_in, l_add(g, v_row0, l_i64(g, (int64_t)ky * is->w), ""), "row");
    for (int kx = 0; kx < nd->kw; kx++) {
      for (int i = 0; i < n; i++) /* block: row i / OW of R, tap row ky; a row alone: loaded at ky */
        map[i] = (int)(R > 1 ? (i / OW) * (blk / R) + ky * is->w : 0) + (i % OW) * (int)nd->sw + (int)kx;
      Val v_a = v_blk[1] ? l_pick2(g, v_blk, map, n, "a") : l_pick(g, R > 1 ? v_blk[0] : v_row, map, n, "a");
      if (!*v_best) {
        *v_best = v_a;
        for (int i = 0; i < n; i++) tv[i] = 0;
        *v_tap = l_vconst8(g, tv, n);
        continue;
      }
      for (int i = 0; i < n; i++) tv[i] = ky * (int)nd->kw + kx;
      Val v_gt = l_icmp(g, LLVMIntSGT, v_a, *v_best, "");
      *v_best = l_select(g, v_gt, v_a, *v_best, "best");
      *v_tap = l_select(g, v_gt, l_vconst8(g, tv, n), *v_tap, "best.tap");
    }
  }
}

/* Backward of one output row: input row ky of the windows gets, at byte
 * p = ox sw + kx, the error e[ox] where tap (ky, kx) was the window's first
 * maximum and 0 elsewhere (bytes with kx >= kw belong to no window). */
static void pool_row_route(Cg *g, const Node *nd, Val v_e, Val v_tap, Val v_dst, Val v_row0) {
  const Shape *is = &g->m->nodes[nd->in[0]].out;
  int L = (int)pool_span(nd);
  int map[POOL_VEC_MAX], tv[POOL_VEC_MAX];
  for (int p = 0; p < L; p++) map[p] = (int)(p / nd->sw);
  Val v_ee = l_pick(g, v_e, map, L, "e.wide"), v_te = l_pick(g, v_tap, map, L, "tap.wide");
  Val v_zero = LLVMConstNull(LLVMTypeOf(v_ee));
  for (int ky = 0; ky < nd->kh; ky++) {
    for (int p = 0; p < L; p++) tv[p] = p % nd->sw < nd->kw ? ky * (int)nd->kw + (int)(p % nd->sw) : -1;
    Val v_mine = l_icmp(g, LLVMIntEQ, v_te, l_vconst8(g, tv, L), "mine");
    l_vstore(g, l_select(g, v_mine, v_ee, v_zero, "e.row"), L, v_dst,
             l_add(g, v_row0, l_i64(g, (int64_t)ky * is->w), ""));
  }
}

/* Backward of a block of R output rows (pool_block_rows): the block's
 * R sh IW input bytes, 64 at a time, each the error of its window where it
 * was the window's first maximum. */
static void pool_block_route(Cg *g, const Node *nd, int R, Val v_e, Val v_tap, Val v_dst, Val v_row0) {
  int IW = (int)g->m->nodes[nd->in[0]].out.w, OW = (int)nd->out.w, rowb = (int)nd->sh * IW;
  int map[POOL_VEC_MAX], tv[POOL_VEC_MAX];
  for (int at = 0; at < R * rowb; at += POOL_VEC_MAX) {
    int m = R * rowb - at < POOL_VEC_MAX ? R * rowb - at : POOL_VEC_MAX;
    for (int i = 0; i < m; i++) {
      int p = at + i, r = p / rowb, ky = p % rowb / IW, x = p % IW;
      map[i] = r * OW + x / (int)nd->sw, tv[i] = ky * (int)nd->kw + x % (int)nd->sw;
    }
    Val v_ee = l_pick(g, v_e, map, m, "e.wide"), v_te = l_pick(g, v_tap, map, m, "tap.wide");
    Val v_mine = l_icmp(g, LLVMIntEQ, v_te, l_vconst8(g, tv, m), "mine");
    l_vstore(g, l_select(g, v_mine, v_ee, LLVMConstNull(LLVMTypeOf(v_ee)), "e.blk"), m, v_dst,
             l_add(g, v_row0, l_i64(g, at), ""));
  }
}

/* The taps a pool keeps (plan's pool_taps), one or a vector of them: where
 * the relu folded into it passes nothing (the maximum is <= 0),
 * POOL_TAP_NONE, which no input byte's tap equals. */
static Val kept_taps(Cg *g, bool relu, Val v_best, Val v_tap) {
  if (!relu) return v_tap;
  Ty t = LLVMTypeOf(v_tap);
  Val v_none = LLVMConstInt(g->t_i8, (unsigned long long)POOL_TAP_NONE, 1);
  if (LLVMGetTypeKind(t) == LLVMVectorTypeKind) v_none = l_splat(g, v_none, LLVMGetVectorSize(t), "");
  return l_select(g, l_icmp(g, LLVMIntSGT, v_best, LLVMConstNull(LLVMTypeOf(v_best)), "pass"), v_tap, v_none,
                  "tap.kept");
}

/* R output rows as vectors (R = 1: one row, pool_row_route; else a block,
 * pool_block_route) at output offset v_orow and input offset v_irow: the
 * forward stores the maxima (and the taps into v_taps, unless NULL), the
 * backward routes the errors (only where the maximum is > 0 under a folded
 * relu), by the kept taps where v_taps is not NULL. */
static void pool_vec_rows(Cg *g, const Node *nd, int R, bool backward, bool relu, Val v_in, Val v_e, Val v_dst,
                          Val v_taps, Val v_orow, Val v_irow) {
  int n = R * (int)nd->out.w;
  Val v_best = NULL, v_tap;
  if (backward && v_taps) v_tap = l_vload(g, n, v_taps, v_orow, "tap");
  else pool_row_taps(g, nd, R, v_in, v_irow, &v_best, &v_tap);
  if (!backward) {
    l_vstore(g, v_best, n, v_dst, v_orow);
    if (v_taps) l_vstore(g, kept_taps(g, relu, v_best, v_tap), n, v_taps, v_orow);
    return;
  }
  Val v_ev = l_vload(g, n, v_e, v_orow, "e");
  if (relu && !v_taps)
    v_ev = l_select(g, l_icmp(g, LLVMIntSGT, v_best, LLVMConstNull(LLVMTypeOf(v_best)), "pass"), v_ev,
                    LLVMConstNull(LLVMTypeOf(v_ev)), "e.relu");
  if (R > 1) pool_block_route(g, nd, R, v_ev, v_tap, v_dst, v_irow);
  else pool_row_route(g, nd, v_ev, v_tap, v_dst, v_irow);
}

/* Samples [lo, hi) of a disjoint max pool. Forward stores each window's
 * maximum; backward routes the output error to the window's first maximum in
 * row-major order (the first tap with a > best), into the int8 destination
 * (zeroed first unless the windows cover every input): each input receives
 * at most one error, |e| <= 127, so the requantization is the identity
 * (k = 0). When the pool also does its input relu's backward (plan's
 * relu_pool), an error goes only where the maximum is > 0, and into the
 * relu's destination. A pool that keeps its taps (plan's pool_taps) stores
 * them in the forward, the relu's gate in them, and its backward reads them
 * instead of its input. */
static void maxpool_body(Cg *g, const KArgs *k, Val v_lo, Val v_hi, bool backward) {
  const Node *nd = k->nd;
  const Shape *is = &g->m->nodes[nd->in[0]].out, *os = &nd->out;
  Val v_taps = g->p->pool_taps[k->i] ? taps_ptr(g, k->i) : NULL;
  /* the kept taps spare the backward its input, which may be gone (plan's act_fwd) */
  Val v_in = backward && v_taps ? NULL : act_ptr(g, nd->in[0]), v_e = NULL, v_dst = act_ptr(g, k->i);
  bool vec = pool_vec(nd), relu = g->p->relu_pool[nd->in[0]] != 0;
  if (backward) {
    ErrDst d;
    err_dst(g, relu ? nd->in[0] : k->i, 0, &d);
    v_e = err_ptr(g, k->i), v_dst = d.v_ptr;
    if (!vec || !pool_covers(nd, is))
      LLVMBuildMemSet(g->b, l_gep(g, g->t_i8, v_dst, l_mul(g, v_lo, l_i64(g, numel(is)), ""), ""),
                      LLVMConstNull(g->t_i8), l_mul(g, l_sub(g, v_hi, v_lo, ""), l_i64(g, numel(is)), ""), 1);
  }
  int R = pool_block_rows(g, nd);
  if (R > 1) { /* blocks of R rows over every (b, c, oy) of the chunk */
    int64_t per = os->c * os->h / R; /* blocks per sample */
    Loop Lr = l_for(g, l_mul(g, v_lo, l_i64(g, per), ""), l_mul(g, v_hi, l_i64(g, per), ""), "blk");
    Val v_orow = l_mul(g, Lr.v_i, l_i64(g, R * os->w), "orow");
    Val v_irow = l_mul(g, Lr.v_i, l_i64(g, R * nd->sh * is->w), "irow");
    pool_vec_rows(g, nd, R, backward, relu, v_in, v_e, v_dst, v_taps, v_orow, v_irow);
    l_next(g, &Lr);
    return;
  }
  Loop Lbc = l_for(g, l_mul(g, v_lo, l_i64(g, os->c), ""), l_mul(g, v_hi, l_i64(g, os->c), ""), "bc");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, os->h), "oy");
  Val v_orow = l_mul(g, l_add(g, l_mul(g, Lbc.v_i, l_i64(g, os->h), ""), Ly.v_i, ""), l_i64(g, os->w), "orow");
  Val v_irow = l_mul(g, l_add(g, l_mul(g, Lbc.v_i, l_i64(g, is->h), ""), l_mul(g, Ly.v_i, l_i64(g, nd->sh), ""), ""),
                     l_i64(g, is->w), "irow");
  if (vec) {
    pool_vec_rows(g, nd, 1, backward, relu, v_in, v_e, v_dst, v_taps, v_orow, v_irow);
    l_next(g, &Ly);
    l_next(g, &Lbc);
    return;
  }
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, os->w), "ox");
  Val v_oidx = l_add(g, v_orow, Lx.v_i, "oidx");
  Val v_base = l_add(g, v_irow, l_mul(g, Lx.v_i, l_i64(g, nd->sw), ""), "base");
  if (backward && v_taps) { /* by the kept tap t = ky kw + kx; POOL_TAP_NONE: an error of 0 at tap 0 */
    Val v_t = l_load(g, g->t_i8, v_taps, v_oidx, "tap");
    Val v_none = l_icmp(g, LLVMIntEQ, v_t, LLVMConstInt(g->t_i8, (unsigned long long)POOL_TAP_NONE, 1), "none");
    v_t = LLVMBuildZExt(g->b, l_select(g, v_none, LLVMConstNull(g->t_i8), v_t, ""), g->t_i64, "tap.t");
    Val v_kw = l_i64(g, nd->kw);
    Val v_at = l_add(g, l_mul(g, LLVMBuildUDiv(g->b, v_t, v_kw, "ky"), l_i64(g, is->w), ""),
                     LLVMBuildURem(g->b, v_t, v_kw, "kx"), "");
    Val v_ev = l_select(g, v_none, LLVMConstNull(g->t_i8), l_load(g, g->t_i8, v_e, v_oidx, "e"), "e.routed");
    l_store(g, g->t_i8, v_ev, v_dst, l_add(g, v_base, v_at, "at"));
    l_next(g, &Lx);
    l_next(g, &Ly);
    l_next(g, &Lbc);
    return;
  }
  Val v_best = NULL, v_bidx = NULL, v_btap = NULL;
  for (int ky = 0; ky < nd->kh; ky++)
    for (int kx = 0; kx < nd->kw; kx++) {
      Val v_idx = l_add(g, v_base, l_i64(g, (int64_t)ky * is->w + kx), "tap");
      Val v_a = l_load(g, g->t_i8, v_in, v_idx, "a");
      Val v_t = LLVMConstInt(g->t_i8, (unsigned long long)(ky * nd->kw + kx), 0);
      if (!v_best) {
        v_best = v_a, v_bidx = v_idx, v_btap = v_t;
      } else {
        Val v_gt = l_icmp(g, LLVMIntSGT, v_a, v_best, "");
        v_best = l_select(g, v_gt, v_a, v_best, "best");
        v_bidx = l_select(g, v_gt, v_idx, v_bidx, "best.idx");
        v_btap = l_select(g, v_gt, v_t, v_btap, "best.tap");
      }
    }
  if (backward) {
    Val v_ev = l_load(g, g->t_i8, v_e, v_oidx, "e");
    if (relu)
      v_ev = l_select(g, l_icmp(g, LLVMIntSGT, v_best, LLVMConstNull(g->t_i8), "pass"), v_ev, LLVMConstNull(g->t_i8),
                      "e.relu");
    l_store(g, g->t_i8, v_ev, v_dst, v_bidx);
  } else {
    l_store(g, g->t_i8, v_best, v_dst, v_oidx);
    if (v_taps) l_store(g, g->t_i8, kept_taps(g, relu, v_best, v_btap), v_taps, v_oidx);
  }
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
/* ------------------------- pools whose windows overlap or pad, and averages */

typedef enum WinPass { WIN_MAX_FWD, WIN_MAX_BWD, WIN_AVG_FWD, WIN_AVG_BWD } WinPass;

typedef struct WinArgs {
  const Node *nd;
  int i;        /* node index */
  WinPass pass; /* which walk */
} WinArgs;

/* Samples [lo, hi) of a max pool that is not disjoint, or of an average
 * pool, window by window. Every sample's windows read and write that sample alone, so
 * any split over the workers gives the same bytes:
 * - max forward: each window's maximum over its taps in range; a maximum
 *   of -128, or a window of padding only (never the case for sane shapes),
 *   gives 0;
 * - max backward: each output error added, in the int32 accumulators of
 *   the input's shape, at the window's first tap equal to its output
 *   (none when that output is 0 from a maximum of -128);
 * - average forward: each window's sum into the accumulators, of the
 *   output's shape (requantized after the region);
 * - average backward: each output error added at every tap.
 * The backward walks zero their samples' accumulators first. */
static void win_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const WinArgs *w = u;
  const Node *nd = w->nd;
  (void)v_wk;
  Val v_in = act_ptr(g, nd->in[0]), v_out = nd->op == OP_MAXPOOL ? act_ptr(g, w->i) : NULL;
  Val v_acc = w->pass == WIN_MAX_FWD ? NULL : acc_ptr(g); /* plan.c, acc_uses */
  Val v_e = w->pass == WIN_MAX_BWD || w->pass == WIN_AVG_BWD ? err_ptr(g, w->i) : NULL;
  if (v_e) {
    int64_t per = numel(&g->m->nodes[nd->in[0]].out);
    l_zero(g, g->t_i32, l_gep(g, g->t_i32, v_acc, l_mul(g, v_lo, l_i64(g, per), ""), "acc.lo"),
           l_mul(g, l_sub(g, v_hi, v_lo, ""), l_i64(g, per), "count"));
  }
  PoolTap T;
  pool_begin(g, nd, &T, v_lo, v_hi);
  Val var = NULL, v_ev = NULL, v_mx = NULL;
  switch (w->pass) {
  case WIN_MAX_FWD:
    var = l_var(g, g->t_i8, "max.var", NULL);
    l_set(g, var, LLVMConstInt(g->t_i8, (unsigned long long)-128, 1));
    break;
  case WIN_AVG_FWD:
    var = l_var(g, g->t_i32, "sum.var", NULL);
    l_set(g, var, l_i32(g, 0));
    break;
  case WIN_MAX_BWD:
    var = l_var(g, g->t_i1, "found.var", NULL);
    l_set(g, var, LLVMConstInt(g->t_i1, 0, 0));
    v_mx = l_load(g, g->t_i8, v_out, T.v_oidx, "max");
    /* fall through */
  case WIN_AVG_BWD:
    v_ev = l_sext(g, l_load(g, g->t_i8, v_e, T.v_oidx, "e"), g->t_i32, "");
    break;
  }
  pool_taps(g, nd, &T);
  if (w->pass == WIN_MAX_FWD) {
    l_set(g, var, l_smax(g, l_get(g, g->t_i8, var, ""), l_load(g, g->t_i8, v_in, T.v_iidx, "a"), "max"));
  } else if (w->pass == WIN_AVG_FWD) {
    Val v_a = l_sext(g, l_load(g, g->t_i8, v_in, T.v_iidx, "a"), g->t_i32, "");
    l_set(g, var, l_add(g, l_get(g, g->t_i32, var, ""), v_a, "sum"));
  } else {
    Blk b_j = NULL;
    if (w->pass == WIN_MAX_BWD) {
      Val v_hit = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntEQ, l_load(g, g->t_i8, v_in, T.v_iidx, "a"), v_mx, ""),
                               LLVMBuildNot(g->b, l_get(g, g->t_i1, var, ""), ""), "hit");
      b_j = l_if(g, v_hit, "route");
      l_set(g, var, LLVMConstInt(g->t_i1, 1, 0));
    }
    Val v_old = l_load(g, g->t_i32, v_acc, T.v_iidx, "");
    l_store(g, g->t_i32, l_add(g, v_old, v_ev, ""), v_acc, T.v_iidx);
    if (b_j) l_endif(g, b_j);
  }
  pool_taps_end(g, &T);
  if (w->pass == WIN_MAX_FWD) {
    Val v_m = l_get(g, g->t_i8, var, "max");
    v_m = l_select(g, l_icmp(g, LLVMIntEQ, v_m, LLVMConstInt(g->t_i8, (unsigned long long)-128, 1), ""),
                   LLVMConstNull(g->t_i8), v_m, "max.out");
    l_store(g, g->t_i8, v_m, v_out, T.v_oidx);
  } else if (w->pass == WIN_AVG_FWD) {
    l_store(g, g->t_i32, l_get(g, g->t_i32, var, "sum"), v_acc, T.v_oidx);
  }
  pool_end(g, &T);
}

/* A max pool that is not disjoint, and an average pool, take an output
 * row's windows as one vector of OW lanes where an input row fits one (IW
 * <= POOL_VEC_MAX), and their backward keeps a plane's errors (and taps)
 * on the stack (arrays of at most WIN_ROWS_BYTES). */
#define WIN_ROWS_BYTES 8192
static bool win_vec(const Cg *g, const Node *nd) {
  const Shape *is = &g->m->nodes[nd->in[0]].out;
  return (nd->op == OP_MAXPOOL || nd->op == OP_AVGPOOL) && is->w <= POOL_VEC_MAX && nd->out.w <= POOL_VEC_MAX &&
         (int64_t)nd->kh * nd->kw <= POOL_TAPS_MAX && nd->out.h * POOL_VEC_MAX <= WIN_ROWS_BYTES;
}

/* Tap row ky of output row oy's windows (win_vec): input row oy sh - ph +
 * ky of plane v_plane (its first input byte) as a vector, or row 0 where
 * that row is padding, with *v_ok false then (lanes(OW) i1). */
static Val win_tap_row(Cg *g, const Node *nd, Val v_in, Val v_plane, Val v_oy, int ky, Val *v_ok) {
  const Shape *is = &g->m->nodes[nd->in[0]].out;
  Val v_iy = in_coord(g, v_oy, (int)nd->sh, (int)nd->ph, l_i64(g, ky), "iy");
  Val v_in_range = in_range(g, v_iy, is->h);
  Val v_at = l_add(g, v_plane, l_mul(g, l_select(g, v_in_range, v_iy, l_i64(g, 0), ""), l_i64(g, is->w), ""), "");
  *v_ok = l_splat(g, v_in_range, (unsigned)lanes(g, (int)nd->out.w), "row.ok");
  return l_vload(g, (int)is->w, v_in, v_at, "row");
}

/* Tap (ky, kx) of output row oy's windows from its tap row (win_tap_row):
 * lane ox holds input byte ox sw - pw + kx, *v_m says which lanes lie in
 * the input (a constant; lanes past OW never); NULL when none does. */
static Val win_tap_pick(Cg *g, const Node *nd, Val v_row, int kx, Val *v_m) {
  int OW = (int)nd->out.w, IW = (int)g->m->nodes[nd->in[0]].out.w, w = lanes(g, OW);
  int map[POOL_VEC_MAX];
  Val m[POOL_VEC_MAX];
  bool any = false;
  for (int ox = 0; ox < w; ox++) {
    int ix = ox * (int)nd->sw - (int)nd->pw + kx;
    bool in = ox < OW && ix >= 0 && ix < IW;
    map[ox] = in ? ix : -1, any |= in;
    m[ox] = LLVMConstInt(g->t_i1, in, 0);
  }
  if (!any) return NULL;
  *v_m = LLVMConstVector(m, (unsigned)w);
  return l_pick(g, v_row, map, OW, "a");
}

/* Output row oy of plane v_plane of a max pool that is not disjoint, in OW
 * lanes (win_vec): each window's maximum over its taps in range, from
 * -128, and the tap t = ky kw + kx where a > best first held
 * (POOL_TAP_NONE while none did): with the maximum above -128, its first
 * occurrence in row-major order, as win_body finds it. */
static void win_row_taps(Cg *g, const Node *nd, Val v_in, Val v_plane, Val v_oy, Val *v_best, Val *v_tap) {
  int OW = (int)nd->out.w;
  int tv[POOL_VEC_MAX] = {0};
  for (int i = 0; i < OW; i++) tv[i] = -128;
  *v_best = l_vconst8(g, tv, OW);
  for (int i = 0; i < OW; i++) tv[i] = POOL_TAP_NONE;
  *v_tap = l_vconst8(g, tv, OW);
  for (int ky = 0; ky < nd->kh; ky++) {
    Val v_ok, v_row = win_tap_row(g, nd, v_in, v_plane, v_oy, ky, &v_ok);
    for (int kx = 0; kx < nd->kw; kx++) {
      Val v_m, v_a = win_tap_pick(g, nd, v_row, kx, &v_m);
      if (!v_a) continue;
      Val v_gt = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntSGT, v_a, *v_best, ""), v_m, "");
      v_gt = LLVMBuildAnd(g->b, v_gt, v_ok, "gt");
      for (int i = 0; i < OW; i++) tv[i] = ky * (int)nd->kw + kx;
      *v_best = l_select(g, v_gt, v_a, *v_best, "best");
      *v_tap = l_select(g, v_gt, l_vconst8(g, tv, OW), *v_tap, "best.tap");
    }
  }
}

/* Output row oy of plane v_plane of an average pool, in OW lanes of int32
 * (win_vec): each window's sum over its taps (0 past OW). */
static Val win_row_sums(Cg *g, const Node *nd, Val v_in, Val v_plane, Val v_oy) {
  Ty t_sum = LLVMVectorType(g->t_i32, (unsigned)lanes(g, (int)nd->out.w));
  Val v_sum = LLVMConstNull(t_sum);
  for (int ky = 0; ky < nd->kh; ky++) {
    Val v_ok, v_row = win_tap_row(g, nd, v_in, v_plane, v_oy, ky, &v_ok);
    for (int kx = 0; kx < nd->kw; kx++) {
      Val v_m, v_a = win_tap_pick(g, nd, v_row, kx, &v_m);
      if (!v_a) continue;
      Val v_in_win = LLVMBuildAnd(g->b, v_m, v_ok, "");
      v_sum = LLVMBuildAdd(g->b, v_sum, l_select(g, v_in_win, l_sext(g, v_a, t_sum, ""), LLVMConstNull(t_sum), ""), "sum");
    }
  }
  return v_sum;
}

/* Backward of plane bc of a max pool that is not disjoint, or of an
 * average pool, by input rows (win_vec): every output row's errors, and a
 * max pool's taps found again (win_row_taps), kept on the stack (v_tp,
 * v_ep: OH rows of lanes(OW) bytes); then each input row iy's int32 errors
 * in one pass, no zeroing and no read-modify-write: for each output row oy
 * whose windows reach iy (tap row ky = iy + ph - oy sh) and each kx, input
 * byte x takes the error of window ox = (x + pw - kx) / sw where that
 * divides, and, in a max pool, the window's tap is (ky, kx). The sums are
 * exact in int16 lanes: at most 127 windows reach a byte (POOL_TAPS_MAX),
 * each with |e| <= 128. var_max: the lanes' largest |sum| so far
 * (lanes(IW) i32). */
static void win_route_plane(Cg *g, const Node *nd, Val v_in, Val v_e, Val v_acc, Val v_bc, Val v_tp, Val v_ep,
                            Val var_max) {
  const Shape *is = &g->m->nodes[nd->in[0]].out, *os = &nd->out;
  int IW = (int)is->w, OW = (int)os->w, nl = lanes(g, OW), wl = lanes(g, IW);
  int64_t sh = nd->sh, ph = nd->ph, kh = nd->kh;
  Ty t_row = LLVMVectorType(g->t_i8, (unsigned)nl), t_sum = LLVMVectorType(g->t_i16, (unsigned)wl);
  bool max = nd->op == OP_MAXPOOL;
  Val v_plane = l_mul(g, v_bc, l_i64(g, is->h * IW), "plane");
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, os->h), "oy");
  Val v_best, v_tap, v_at = l_mul(g, Lo.v_i, l_i64(g, nl), "");
  if (max) {
    win_row_taps(g, nd, v_in, v_plane, Lo.v_i, &v_best, &v_tap);
    LLVMSetAlignment(LLVMBuildStore(g->b, v_tap, l_gep(g, g->t_i8, v_tp, v_at, "")), 1);
  }
  Val v_orow = l_mul(g, l_add(g, l_mul(g, v_bc, l_i64(g, os->h), ""), Lo.v_i, ""), l_i64(g, OW), "orow");
  LLVMSetAlignment(LLVMBuildStore(g->b, l_vload(g, OW, v_e, v_orow, "e"), l_gep(g, g->t_i8, v_ep, v_at, "")), 1);
  l_next(g, &Lo);

  Val var_sum = l_var(g, t_sum, "sum.var", NULL);
  Loop Li = l_for(g, l_i64(g, 0), l_i64(g, is->h), "iy");
  /* oy from max(0, ceil((iy + ph - kh + 1) / sh)) to min(OH - 1, (iy + ph) / sh) */
  Val v_top = l_add(g, Li.v_i, l_i64(g, ph), "");
  Val v_num = l_sub(g, v_top, l_i64(g, kh - 1), "");
  Val v_lo = LLVMBuildSDiv(g->b, l_add(g, l_smax(g, v_num, l_i64(g, 0), ""), l_i64(g, sh - 1), ""), l_i64(g, sh), "oy.lo");
  Val v_hi = l_smin(g, l_add(g, LLVMBuildSDiv(g->b, v_top, l_i64(g, sh), ""), l_i64(g, 1), ""), l_i64(g, os->h), "oy.hi");
  l_set(g, var_sum, LLVMConstNull(t_sum));
  Loop Ly = l_for(g, v_lo, v_hi, "oy");
  Val v_rat = l_mul(g, Ly.v_i, l_i64(g, nl), "");
  Val v_trow = max ? LLVMBuildLoad2(g->b, t_row, l_gep(g, g->t_i8, v_tp, v_rat, ""), "taps") : NULL;
  Val v_erow = LLVMBuildLoad2(g->b, t_row, l_gep(g, g->t_i8, v_ep, v_rat, ""), "errs");
  if (v_trow) LLVMSetAlignment(v_trow, 1);
  LLVMSetAlignment(v_erow, 1);
  Val v_t0 = NULL; /* a max pool's first tap of row ky = iy + ph - oy sh */
  if (max) {
    Val v_ky = l_trunc(g, l_sub(g, v_top, l_mul(g, Ly.v_i, l_i64(g, sh), ""), ""), g->t_i8, "ky");
    v_t0 = l_mul(g, v_ky, LLVMConstInt(g->t_i8, (unsigned long long)nd->kw, 0), "t0");
  }
  Val v_sum = l_get(g, t_sum, var_sum, "");
  for (int kx = 0; kx < nd->kw; kx++) {
    int map[POOL_VEC_MAX];
    Val m[POOL_VEC_MAX];
    bool any = false;
    for (int x = 0; x < wl; x++) {
      int d = x + (int)nd->pw - kx, ox = d / (int)nd->sw;
      bool in = x < IW && d >= 0 && d % nd->sw == 0 && ox < OW;
      map[x] = in ? ox : -1, any |= in;
      m[x] = LLVMConstInt(g->t_i1, in, 0);
    }
    if (!any) continue;
    Val v_ek = l_pick(g, v_erow, map, IW, "e.x"), v_hit = LLVMConstVector(m, (unsigned)wl);
    if (max) {
      Val v_tk = l_pick(g, v_trow, map, IW, "tap.x");
      Val v_want = l_splat(g, LLVMBuildAdd(g->b, v_t0, LLVMConstInt(g->t_i8, (unsigned long long)kx, 0), ""),
                           (unsigned)wl, "want");
      v_hit = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntEQ, v_tk, v_want, ""), v_hit, "hit");
    }
    Val v_part = l_select(g, v_hit, v_ek, LLVMConstNull(LLVMTypeOf(v_ek)), "");
    v_sum = LLVMBuildAdd(g->b, v_sum, l_sext(g, v_part, t_sum, ""), "sum");
  }
  l_set(g, var_sum, v_sum);
  l_next(g, &Ly);
  Val v_irow = l_add(g, v_plane, l_mul(g, Li.v_i, l_i64(g, IW), ""), "irow");
  Ty t_out = LLVMVectorType(g->t_i32, (unsigned)wl);
  Val v_out = l_sext(g, l_get(g, t_sum, var_sum, "sum"), t_out, "e32");
  l_store_below(g, v_out, l_gep(g, g->t_i32, v_acc, v_irow, ""), 4, IW);
  l_set(g, var_max, l_smax(g, l_get(g, t_out, var_max, ""), l_abs(g, v_out, "abs"), "max")); /* lanes past IW: 0 */
  l_next(g, &Li);
}

/* The largest lane of var_max (i32 lanes of type t) into worker v_wk's rq
 * slot. */
static void lanes_max_store(Cg *g, Ty t, Val var_max, Val v_wk) {
  Val v_max = l_reduce_smax(g, l_get(g, t, var_max, ""), "max");
  worker_max_store(g, LLVMBuildSExt(g->b, v_max, g->t_i64, "max64"), v_wk);
}

/* Samples [lo, hi) of a max pool that is not disjoint, or of an average
 * pool, by output rows (win_vec). A max pool's forward stores the maxima
 * (-128 as 0, as win_body); an average pool's the window sums (int32, in
 * the accumulators); the backward passes write the int32 errors plane by
 * plane (win_route_plane). Sums leave their largest |sum| in the worker's
 * rq slot (for requant_fused). */
static void win_vec_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const WinArgs *w = u;
  const Node *nd = w->nd;
  const Shape *is = &g->m->nodes[nd->in[0]].out, *os = &nd->out;
  int64_t OW = os->w;
  int nl = lanes(g, (int)OW);
  Val v_in = act_ptr(g, nd->in[0]);
  if (w->pass == WIN_MAX_BWD || w->pass == WIN_AVG_BWD) {
    Ty t_rows = LLVMArrayType2(g->t_i8, (uint64_t)(os->h * nl));
    Ty t_max = LLVMVectorType(g->t_i32, (unsigned)lanes(g, (int)is->w));
    Val var_max = l_var(g, t_max, "max.var", LLVMConstNull(t_max));
    Val v_tp = w->pass == WIN_MAX_BWD ? l_var(g, t_rows, "taps.rows", NULL) : NULL;
    Val v_ep = l_var(g, t_rows, "e.rows", NULL);
    Loop Lbc = l_for(g, l_mul(g, v_lo, l_i64(g, os->c), ""), l_mul(g, v_hi, l_i64(g, os->c), ""), "bc");
    win_route_plane(g, nd, v_in, err_ptr(g, w->i), acc_ptr(g), Lbc.v_i, v_tp, v_ep, var_max);
    l_next(g, &Lbc);
    lanes_max_store(g, t_max, var_max, v_wk);
    return;
  }
  Ty t_max = LLVMVectorType(g->t_i32, (unsigned)nl);
  Val var_max = w->pass == WIN_AVG_FWD ? l_var(g, t_max, "max.var", LLVMConstNull(t_max)) : NULL;
  Loop Lbc = l_for(g, l_mul(g, v_lo, l_i64(g, os->c), ""), l_mul(g, v_hi, l_i64(g, os->c), ""), "bc");
  Val v_plane = l_mul(g, Lbc.v_i, l_i64(g, is->h * is->w), "plane");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, os->h), "oy");
  Val v_orow = l_mul(g, l_add(g, l_mul(g, Lbc.v_i, l_i64(g, os->h), ""), Ly.v_i, ""), l_i64(g, OW), "orow");
  if (var_max) { /* the window sums, and their largest |sum| */
    Val v_sum = win_row_sums(g, nd, v_in, v_plane, Ly.v_i);
    l_store_below(g, v_sum, l_gep(g, g->t_i32, acc_ptr(g), v_orow, ""), 4, OW);
    l_set(g, var_max, l_smax(g, l_get(g, t_max, var_max, ""), l_abs(g, v_sum, "abs"), "max"));
  } else {
    Val v_best, v_tap;
    win_row_taps(g, nd, v_in, v_plane, Ly.v_i, &v_best, &v_tap);
    Val v_min = l_splat(g, LLVMConstInt(g->t_i8, (unsigned long long)-128, 1), (unsigned)nl, "");
    Val v_none = l_icmp(g, LLVMIntEQ, v_best, v_min, "");
    l_vstore(g, l_select(g, v_none, LLVMConstNull(LLVMTypeOf(v_best)), v_best, "max.out"), (int)OW,
             act_ptr(g, w->i), v_orow);
  }
  l_next(g, &Ly);
  l_next(g, &Lbc);
  if (var_max) lanes_max_store(g, t_max, var_max, v_wk);
}

/* Node i's window walk (win_body, or win_vec_body where it applies) over
 * the batch, on every worker. Returns, where the walk left its workers'
 * largest |acc| in the rq slots (win_vec_body's sums), how many ran
 * (requant_fused's v_fused), else NULL. */
static Val win_pass(Cg *g, int i, WinPass pass) {
  WinArgs w = {&g->m->nodes[i], i, pass};
  bool vec = win_vec(g, w.nd);
  Val v_used = par_for(g, g->m->nodes[i].name, g->f.v_n, g->p->maxw, vec ? win_vec_body : win_body, &w);
  return vec && pass != WIN_MAX_FWD ? v_used : NULL;
}

/* ------------------------------------------------ layers: forward, backward */

/* A relu after a weighted layer was applied by its requantization
 * (plan's relu_rq). */
void relu_forward(Cg *g, const LayerIO *io) {
  KArgs ka = {io->nd, io->i, NULL, false, NULL};
  if (!g->p->relu_rq[io->nd->in[0]]) par_for(g, io->nd->name, g->f.v_n, g->p->maxw, relu_fwd_body, &ka);
  set_exp(g, io->i, 0, io->v_sin);
}

/* flatten moves no bytes when it shares its input's buffer (plan). */
void flatten_forward(Cg *g, const LayerIO *io) {
  if (g->p->act_alias[io->i] == io->i) {
    Loop L = l_for(g, l_i64(g, 0), io->v_cnt, "j");
    l_store(g, g->t_i8, l_load(g, g->t_i8, io->v_in, L.v_i, "a"), io->v_out, L.v_i);
    l_next(g, &L);
  }
  set_exp(g, io->i, 0, io->v_sin);
}

/* Dropout's passes, each elementwise over samples [lo, hi) on the workers:
 * the training forward drops an element where its mask draw (by global
 * index) says so, and the backward drops its error likewise; evaluation
 * copies (niti) or scales by the keep probability into the accumulators
 * (the recipes with masters). */
typedef enum DropPass { DROP_TRAIN, DROP_COPY, DROP_SCALE, DROP_BACK } DropPass;

typedef struct DropArgs {
  const Node *nd;
  int i;         /* node index */
  DropPass pass;
  ErrDst d;      /* DROP_BACK: where the input error goes */
} DropArgs;

static void drop_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const DropArgs *a = u;
  (void)v_wk;
  int64_t per = numel(&a->nd->out);
  bool back = a->pass == DROP_BACK;
  Val v_src = back ? err_ptr(g, a->i) : act_ptr(g, a->nd->in[0]);
  Val v_dst = back ? err_dst_ptr(g, &a->d) : a->pass == DROP_SCALE ? acc_ptr(g) : act_ptr(g, a->i);
  Val v_key = a->pass == DROP_TRAIN || back ? v_key_for(g, NIT_TID_MASK(a->i), "key.mask") : NULL;
  Loop L = l_for(g, l_mul(g, v_lo, l_i64(g, per), ""), l_mul(g, v_hi, l_i64(g, per), ""), "j");
  Val v_a = l_load(g, g->t_i8, v_src, L.v_i, back ? "e" : "a");
  if (a->pass == DROP_SCALE) {
    Val v_a64 = l_sext(g, v_a, g->t_i64, "a64");
    l_store(g, g->t_i64, l_mul(g, v_a64, l_i64(g, 256 - a->nd->drop256), "scaled"), v_dst, L.v_i);
  } else {
    if (v_key)
      v_a = l_select(g, l_dropped(g, v_key, l_global_idx(g, L.v_i, l_i64(g, per)), a->nd->drop256),
                     LLVMConstNull(g->t_i8), v_a, "kept");
    l_store(g, g->t_i8, v_a, v_dst, L.v_i);
  }
  l_next(g, &L);
}

static void drop_pass(Cg *g, const LayerIO *io, DropPass pass) {
  DropArgs a = {io->nd, io->i, pass, io->d};
  par_for(g, io->nd->name, g->f.v_n, g->p->maxw, drop_body, &a);
}

/* In train_step an element is dropped where its mask draw says so; in
 * forward (eval) dropout is the identity, with no rescaling. */
void dropout_forward(Cg *g, const LayerIO *io) {
  if (!io->train && g->m->recipe.kind != NIT_RECIPE_NITI) {
    /* evaluation with masters scales by the keep probability: RQ_8 of
     * v (256 - p) at s - 8 (docs/recipes.md, "Layers under the new recipes") */
    drop_pass(g, io, DROP_SCALE);
    Val v_k = requant(g, g->m->recipe.bits_act, true, acc_ptr(g), io->v_cnt, io->v_out, g->f.v_ract, v_key_for(g, NIT_TID_ACT(io->i), "key.act"));
    set_exp(g, io->i, 0, l_add(g, l_sub(g, io->v_sin, l_i32(g, 8), ""), v_k, "s.out"));
    return;
  }
  drop_pass(g, io, io->train ? DROP_TRAIN : DROP_COPY);
  set_exp(g, io->i, 0, io->v_sin);
}

Follow maxpool_follow(Cg *g, int j, KArgs *k, bool backward) {
  const Node *nd = &g->m->nodes[j];
  *k = (KArgs){nd, j, NULL, false, NULL};
  if (backward) return (Follow){maxpool_bwd_body, k, numel(&nd->out)};          /* after its output error */
  return (Follow){maxpool_fwd_body, k, numel(&g->m->nodes[nd->in[0]].out)}; /* after its input */
}

/* A disjoint pool whose input's rounding region ran it (plan's rq_pool)
 * has only its exponent left to set. */
void maxpool_forward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  if (pool_disjoint(nd)) {
    KArgs ka = {nd, io->i, NULL, false, NULL};
    if (g->p->rq_pool[g->p->act_alias[nd->in[0]]] != io->i)
      par_for(g, nd->name, g->f.v_n, g->p->maxw, maxpool_fwd_body, &ka);
    set_exp(g, io->i, 0, io->v_sin);
    return;
  }
  win_pass(g, io->i, WIN_MAX_FWD);
  set_exp(g, io->i, 0, io->v_sin);
}

/* The window sum, requantized; the division by the (power-of-two) window
 * area is an exponent shift. */
void avgpool_forward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  Val v_fused = win_pass(g, io->i, WIN_AVG_FWD);
  Val v_k = requant_fused(g, g->m->recipe.bits_act, false, acc_ptr(g), io->v_cnt, io->v_out, g->f.v_ract,
                          v_key_for(g, NIT_TID_ACT(io->i), "key.act"), v_fused, false, NULL, NULL, NULL);
  set_exp(g, io->i, 0, l_sub(g, l_add(g, io->v_sin, v_k, ""), l_i32(g, log2i((int64_t)nd->kh * nd->kw)), "s.out"));
}

/* The exact sum of both inputs at their common exponent, requantized. */
void add_forward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  Val v_s2 = get_exp(g, nd->in[1], 0, "s.in2"), v_fused;
  Val v_smin = align_sum2(g, io->i, io->v_sin, v_s2, io->v_cnt, &v_fused);
  Val v_k = requant_fused(g, g->m->recipe.bits_act, true, acc_ptr(g), io->v_cnt, io->v_out, g->f.v_ract,
                          v_key_for(g, NIT_TID_ACT(io->i), "key.act"), v_fused, false, NULL, NULL, NULL);
  set_exp(g, io->i, 0, l_add(g, v_smin, v_k, "s.out"));
}

/* A relu before a disjoint max pool had its backward done by the pool
 * (plan's relu_pool), one before a dense or conv layer by that layer's
 * input-error requantization (relu_err); the exponent and multiplier still
 * pass through. */
void relu_backward(Cg *g, const LayerIO *io) {
  KArgs ka = {io->nd, io->i, NULL, false, NULL};
  if (!g->p->relu_pool[io->i] && !g->p->relu_err[io->i])
    par_for(g, io->nd->name, g->f.v_n, g->p->maxw, relu_bwd_body, &ka);
  set_exp(g, io->d.node, io->d.which, io->v_se);
  set_mu(g, io->d.node, io->d.which, get_mu(g, io->i, 1, "mu.e"));
}

/* The error passes where the element was kept (the same draws as forward). */
void dropout_backward(Cg *g, const LayerIO *io) {
  drop_pass(g, io, DROP_BACK);
  set_exp(g, io->d.node, io->d.which, io->v_se);
  set_mu(g, io->d.node, io->d.which, get_mu(g, io->i, 1, "mu.e"));
}

void flatten_backward(Cg *g, const LayerIO *io) {
  pass_err(g, io->nd, &io->d, io->v_se);
}

typedef struct PassArgs {
  const Node *nd; /* the pool */
  ErrDst d;       /* where its input error goes */
} PassArgs;

/* Samples [lo, hi) of a pool's routed errors passed on unrounded
 * (pool_deliver): each int32 is a single int8 error. */
static void pass_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const PassArgs *a = u;
  (void)v_wk;
  int64_t per = numel(&g->m->nodes[a->nd->in[0]].out);
  Val v_acc = acc_ptr(g), v_dst = err_dst_ptr(g, &a->d);
  Loop L = l_for(g, l_mul(g, v_lo, l_i64(g, per), ""), l_mul(g, v_hi, l_i64(g, per), ""), "j");
  l_store(g, g->t_i8, l_trunc(g, l_load(g, g->t_i32, v_acc, L.v_i, "e"), g->t_i8, "e8"), v_dst, L.v_i);
  l_next(g, &L);
}

/* A pool's routed errors (i32 acc, the input's shape) at exponent v_s: the
 * recipe's EQ at ERR(i), except that under the recipes with masters a pool
 * whose windows cannot overlap passes its errors through unrounded (each
 * input received at most one error; docs/recipes.md, "Layers under the new
 * recipes"). Under niti the requantization of such a pool is the identity
 * (k = 0), so both rules agree there. */
static void pool_deliver(Cg *g, const LayerIO *io, Val v_acc, Val v_s, Val v_fused) {
  const Node *nd = io->nd;
  if (pool_rounds_err(nd, &g->m->recipe)) {
    deliver_acc(g, io->i, &io->d, v_acc, false, v_s, v_fused, NULL);
    return;
  }
  (void)v_acc; /* the body finds it again */
  PassArgs a = {nd, io->d};
  par_for(g, nd->name, g->f.v_n, g->p->maxw, pass_body, &a);
  set_exp(g, io->d.node, io->d.which, v_s);
  set_mu(g, io->d.node, io->d.which, get_mu(g, io->i, 1, "mu.e"));
}

/* Each output error goes to the first maximum of its window. A disjoint
 * pool whose consumer's input-error rounding region ran it (plan's
 * pool_in_err) has only the exponent and multiplier left to pass. */
void maxpool_backward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  if (pool_disjoint(nd)) {
    KArgs ka = {nd, io->i, NULL, false, NULL};
    if (!g->p->pool_in_err[io->i]) par_for(g, nd->name, g->f.v_n, g->p->maxw, maxpool_bwd_body, &ka);
    set_exp(g, io->d.node, io->d.which, io->v_se);
    set_mu(g, io->d.node, io->d.which, get_mu(g, io->i, 1, "mu.e"));
    return;
  }
  Val v_fused = win_pass(g, io->i, WIN_MAX_BWD);
  pool_deliver(g, io, acc_ptr(g), io->v_se, v_fused);
}

/* Every tap of a window receives the window's error; the exponent drops by
 * log2 of the window area. */
void avgpool_backward(Cg *g, const LayerIO *io) {
  const Node *nd = io->nd;
  Val v_fused = win_pass(g, io->i, WIN_AVG_BWD);
  pool_deliver(g, io, acc_ptr(g), l_sub(g, io->v_se, l_i32(g, log2i((int64_t)nd->kh * nd->kw)), ""), v_fused);
}

/* Both inputs receive the output error unchanged. */
void add_backward(Cg *g, const LayerIO *io) {
  for (int s = 0; s < 2; s++) {
    ErrDst ds;
    if (err_dst(g, io->i, s, &ds)) pass_err(g, io->nd, &ds, io->v_se);
  }
}
