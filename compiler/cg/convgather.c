/*
 * convgather.c: a conv forward whose gathered panels never leave the
 * registers (docs/performance.md, "Gathered panels in the tile").
 *
 * With AVX512-VBMI, a conv whose taps of 16 output positions fit a 64-byte
 * window of the channels-last copy (gather_fits: LeNet-5's c1) builds each
 * panel word with one vpermb (im2col.c, gather_quads). The panel form
 * stores a sample's panels (c1: 49 panels of 7 words, 22 KB) and the GEMM
 * loads them back. Here the tile builds its panels' words itself, word by
 * word, and feeds them to vpdpbusd at once: the tile is all Og <=
 * GATHER_ROWS rows by GATHER_NP panels, so each word is gathered once per
 * sample, as before, and no panel is stored. A panel's offsets come from
 * a constant table of the layer (im2col.c, gather_panel). The words, the
 * weights' rows (A, with their row sums) and the sums are the panel form's,
 * so C and the bytes are the same; NITC_GATHER_TILE=0 turns the form off,
 * for comparisons.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* 18 accumulators, and per panel its word and its lanes' offsets: with 4
 * panels (24 accumulators) LLVM spilled, and LeNet-5 ran 2% slower; with 2
 * no faster than with 3 */
enum { GATHER_ROWS = 6, GATHER_NP = 3 };

bool gather_tile_fits(Cg *g, const ConvDims *d, Ty t_acc, bool stream) {
  return g->gather_tile && d->Og <= GATHER_ROWS && t_acc == g->t_i32 && !stream;
}

/* Panels [j, j + np) of C (Og, P): the words gathered from v_pad, A = v_wg
 * (Og, kp) with row sums v_asum, the max |C| into var_max (or NULL). */
static void gather_tile(Cg *g, const Node *nd, const ConvDims *d, int64_t kp, Val v_pad, Val v_wg, Val v_asum, Val v_C,
                        Val var_max, Val v_j, int np) {
  Ty t_v = LLVMVectorType(g->t_i32, PL);
  uint32_t bias = gemm_panel_bias(GK_VNNI);
  int64_t M = d->Og;
  GatherPanel P[GATHER_NP];
  Val v_acc[GATHER_ROWS][GATHER_NP];
  for (int p = 0; p < np; p++) {
    P[p] = gather_panel(g, nd, d, v_pad, l_add(g, v_j, l_i64(g, p), ""));
    for (int64_t r = 0; r < M; r++) v_acc[r][p] = LLVMConstNull(t_v);
  }
  for (int64_t w = 0; w < kp / 4; w++) {
    Val v_q[GATHER_NP];
    for (int p = 0; p < np; p++) v_q[p] = gather_quads(g, nd, d, &P[p], w, bias);
    for (int64_t r = 0; r < M; r++) {
      Val v_a = LLVMBuildLoad2(g->b, g->t_i32, l_gep(g, g->t_i8, v_wg, l_i64(g, r * kp + 4 * w), ""), "a.q");
      LLVMSetAlignment(v_a, 1);
      for (int p = 0; p < np; p++) v_acc[r][p] = dot_vnni(g, v_acc[r][p], v_a, v_q[p]);
    }
  }
  /* panels hold b ^ 0x80 = b + 128: each row's sum less 128 times its A's */
  Val lanes[PL];
  for (int l = 0; l < PL; l++) lanes[l] = l_i32(g, l);
  for (int p = 0; p < np; p++) {
    Val v_n0 = l_mul(g, l_add(g, v_j, l_i64(g, p), ""), l_i64(g, PL), "n0");
    Val v_left = l_trunc(g, l_sub(g, l_i64(g, d->P), v_n0, ""), g->t_i32, "left");
    Val v_mask = l_icmp(g, LLVMIntSLT, LLVMConstVector(lanes, PL), l_splat(g, v_left, PL, ""), "mask");
    for (int64_t r = 0; r < M; r++) {
      Val v_corr = LLVMBuildShl(g->b, l_load(g, g->t_i32, v_asum, l_i64(g, r), "asum"), l_i32(g, 7), "");
      Val v_c = l_sub(g, v_acc[r][p], l_splat(g, v_corr, PL, ""), "c");
      l_masked_store(g, v_c, l_gep(g, g->t_i32, v_C, l_add(g, l_i64(g, r * d->P), v_n0, ""), "c.at"), 4, v_mask);
      if (var_max)
        l_set(g, var_max,
              l_smax(g, l_get(g, t_v, var_max, "max"),
                     l_select(g, v_mask, l_abs(g, v_c, "abs"), LLVMConstNull(t_v), ""), "max.new"));
    }
  }
}

void gather_forward(Cg *g, const Node *nd, const ConvDims *d, int64_t kp, Val v_pad, Val v_wg, Val v_asum, Val v_C,
                    Val var_max) {
  int64_t n = npanels(d->P), full = n / GATHER_NP;
  Loop Lj = l_for(g, l_i64(g, 0), l_i64(g, full), "gj");
  gather_tile(g, nd, d, kp, v_pad, v_wg, v_asum, v_C, var_max, l_mul(g, Lj.v_i, l_i64(g, GATHER_NP), "j"), GATHER_NP);
  l_next(g, &Lj);
  if (n % GATHER_NP) /* the panels left, as one tile */
    gather_tile(g, nd, d, kp, v_pad, v_wg, v_asum, v_C, var_max, l_i64(g, full * GATHER_NP), (int)(n % GATHER_NP));
}
