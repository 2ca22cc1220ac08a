/*
 * convtile.c: conv GEMMs whose panel words never leave the registers
 * (docs/performance.md, "Panel words built in the tile").
 *
 * With AVX512-VBMI, two of a conv's GEMMs build the words of their B
 * panels with one byte permutation each (im2col.c):
 * - the forward, where the taps of 16 output positions fit a 64-byte
 *   window of the channels-last copy (gather_fits; gather_quads);
 * - the weight gradient with the taps in the lanes (conv.c,
 *   wgrad_taps_in_lanes; taps_word), the lanes 16 taps, the word 4
 *   positions.
 * The panel forms store a sample's panels (LeNet-5's c1: 22 and 25 KB) and
 * the GEMM loads them back. Here, where a tile can hold every row of the
 * GEMM (at most TILE_ROWS output channels a group) by TILE_NP panels, the
 * tile builds its panels' words itself, word by word, and feeds them to
 * vpdpbusd at once: each word is still built once per sample, and no panel
 * is stored. A forward panel's offsets and its words' come from constant
 * tables of the layer (gather_panel, gather_words). The words, A's rows
 * (with their row sums) and the sums are the panel forms', so the bytes
 * are the same; NITC_TILE_WORDS=0 turns both off, for comparisons.
 */
#include "cg.h"

/* 18 accumulators, and per panel its word and its lanes' offsets: with 4
 * panels (24 accumulators) LLVM spilled, and LeNet-5 ran 2% slower; with 2
 * no faster than with 3 */
enum { TILE_ROWS = 6, TILE_NP = 3 };

/* A tile's sums less 128 times row r's sum of A (v_sums): the panels hold
 * b ^ 0x80 = b + 128. */
static Val unbias(Cg *g, Val v_acc, Val v_sums, int64_t r) {
  Val v_corr = LLVMBuildShl(g->b, l_load(g, g->t_i32, v_sums, l_i64(g, r), "asum"), l_i32(g, 7), "");
  return l_sub(g, v_acc, l_splat(g, v_corr, PL, ""), "c");
}

/* ------------------------------------------------ the forward */

bool gather_tile_fits(Cg *g, const ConvDims *d, Ty t_acc) {
  return g->tile_words && d->Og <= TILE_ROWS && t_acc == g->t_i32;
}

/* Panels [j, j + np) of C (Og, P): the words gathered from v_pad, A = v_wg
 * (Og, kp) with row sums v_asum, the max |C| into var_max (or NULL). */
static void gather_tile(Cg *g, const Node *nd, const ConvDims *d, int64_t kp, Val v_pad, Val v_wg, Val v_asum, Val v_C,
                        Val var_max, Val v_j, int np) {
  Ty t_v = LLVMVectorType(g->t_i32, PL);
  uint32_t bias = gemm_panel_bias(GK_VNNI);
  int64_t M = d->Og;
  GatherPanel P[TILE_NP];
  Val var_acc[TILE_ROWS][TILE_NP];
  for (int p = 0; p < np; p++) {
    P[p] = gather_panel(g, nd, d, v_pad, l_add(g, v_j, l_i64(g, p), ""));
    for (int64_t r = 0; r < M; r++) var_acc[r][p] = l_var(g, t_v, "acc.var", LLVMConstNull(t_v));
  }
  /* a loop over the words: unrolled, c1's tiles made LeNet-5's compile
   * 0.1 s longer */
  Val v_words = gather_words(g, nd, d, kp);
  Loop Lw = l_for(g, l_i64(g, 0), l_i64(g, kp / 4), "gw");
  Val v_word = l_load(g, g->t_i64, v_words, Lw.v_i, "word");
  Val v_q[TILE_NP];
  for (int p = 0; p < np; p++) v_q[p] = gather_quads(g, &P[p], v_word, bias);
  for (int64_t r = 0; r < M; r++) {
    Val v_at = l_add(g, l_i64(g, r * kp), l_mul(g, Lw.v_i, l_i64(g, 4), ""), "");
    Val v_a = LLVMBuildLoad2(g->b, g->t_i32, l_gep(g, g->t_i8, v_wg, v_at, ""), "a.q");
    LLVMSetAlignment(v_a, 1);
    for (int p = 0; p < np; p++) l_set(g, var_acc[r][p], dot_vnni(g, l_get(g, t_v, var_acc[r][p], "acc"), v_a, v_q[p]));
  }
  l_next(g, &Lw);
  for (int p = 0; p < np; p++) {
    Val v_n0 = l_mul(g, l_add(g, v_j, l_i64(g, p), ""), l_i64(g, PL), "n0");
    Val v_mask = l_mask_first(g, l_sub(g, l_i64(g, d->P), v_n0, ""), PL);
    for (int64_t r = 0; r < M; r++) {
      Val v_c = unbias(g, l_get(g, t_v, var_acc[r][p], "acc"), v_asum, r);
      l_masked_store(g, v_c, l_gep(g, g->t_i32, v_C, l_add(g, l_i64(g, r * d->P), v_n0, ""), "c.at"), 4, v_mask);
      if (var_max) l_max_abs(g, var_max, v_c, v_mask);
    }
  }
}

void gather_forward(Cg *g, const Node *nd, const ConvDims *d, int64_t kp, Val v_pad, Val v_wg, Val v_asum, Val v_C,
                    Val var_max) {
  int64_t n = npanels(d->P), full = n / TILE_NP;
  Loop Lj = l_for(g, l_i64(g, 0), l_i64(g, full), "gj");
  gather_tile(g, nd, d, kp, v_pad, v_wg, v_asum, v_C, var_max, l_mul(g, Lj.v_i, l_i64(g, TILE_NP), "j"), TILE_NP);
  l_next(g, &Lj);
  if (n % TILE_NP) /* the panels left, as one tile */
    gather_tile(g, nd, d, kp, v_pad, v_wg, v_asum, v_C, var_max, l_i64(g, full * TILE_NP), (int)(n % TILE_NP));
}

/* ------------------------------------------------ the weight gradient */

bool taps_tile_fits(Cg *g, const ConvDims *d, Ty t_acc) {
  return g->tile_words && d->Og <= TILE_ROWS && npanels(d->Kc) <= TILE_NP && t_acc == g->t_i32;
}

void taps_tile(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_e, Val v_esum, Val v_part) {
  Ty t_v = LLVMVectorType(g->t_i32, PL);
  uint32_t bias = gemm_panel_bias(GK_VNNI);
  int64_t M = d->Og, np = npanels(d->Kc);
  Val var_acc[TILE_ROWS][TILE_NP];
  for (int64_t r = 0; r < M; r++)
    for (int64_t j = 0; j < np; j++) var_acc[r][j] = l_var(g, t_v, "acc.var", LLVMConstNull(t_v));
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d->OH), "oy");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, d->OW / 4), "qx");
  Val v_at = l_mul(g, l_add(g, l_mul(g, Ly.v_i, l_i64(g, d->OW / 4), ""), Lx.v_i, ""), l_i64(g, 4), "e.at");
  Val v_pix = taps_pix(g, nd, d, Ly.v_i, Lx.v_i);
  Val v_w[TILE_NP];
  for (int64_t j = 0; j < np; j++) v_w[j] = taps_word(g, nd, d, v_pad, v_pix, j, bias);
  for (int64_t r = 0; r < M; r++) {
    Val v_a = LLVMBuildLoad2(g->b, g->t_i32, l_gep(g, g->t_i8, v_e, l_add(g, l_i64(g, r * d->P), v_at, ""), ""), "e.q");
    LLVMSetAlignment(v_a, 1);
    for (int64_t j = 0; j < np; j++)
      l_set(g, var_acc[r][j], dot_vnni(g, l_get(g, t_v, var_acc[r][j], "acc"), v_a, v_w[j]));
  }
  l_next(g, &Lx);
  l_next(g, &Ly);
  /* part (Og, Kc) += the sums, unbiased by the error rows' sums; lanes
   * past Kc masked off */
  for (int64_t j = 0; j < np; j++) {
    Val v_mask = l_mask_below(g, d->Kc - PL * j, PL);
    for (int64_t r = 0; r < M; r++) {
      Val v_c = unbias(g, l_get(g, t_v, var_acc[r][j], "acc"), v_esum, r);
      Val v_p = l_gep(g, g->t_i32, v_part, l_i64(g, r * d->Kc + PL * j), "part.at");
      Val v_old = l_masked_load(g, t_v, v_p, 4, v_mask, LLVMConstNull(t_v), "part.old");
      l_store_below(g, l_add(g, v_old, v_c, "part.new"), v_p, 4, d->Kc - PL * j);
    }
  }
}
