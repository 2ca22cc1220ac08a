/*
 * convrows.c: a conv forward with the output positions as the GEMM's rows
 * (docs/performance.md, "A conv forward by output rows").
 *
 * The panel form (conv.c) broadcasts the weights (A) and packs every
 * sample's input into panels of 16 positions (B). Where the input is never
 * negative (a relu's or a max pool's, Plan.nonneg), vpdpbusd can take it
 * as the unsigned operand read in place, and the weights as the signed
 * one: the output channels become the panel, packed once per step, and
 * no sample is packed at all. For output row oy, tile row r (position
 * (oy, r)) and kernel row ky, the word w of the tap segment is the 4
 * bytes at ((oy + ky) PW + r) Cg + 4 w of the sample's channels-last,
 * zero-bordered copy (stride 1): a ky segment of KW Cg bytes, padded to
 * whole words by zero rows of the weight panel, so the bytes read past it
 * (the next pixel's) multiply zeros. The tile keeps OW rows by the
 * panels' columns in registers over all of K, so each panel row is loaded
 * once per output row and each input word once per panel.
 *
 * The tile's rows come out as positions by channels; they go to a scratch
 * of rup(P, 16) positions, and 16 x 16 transposes put them in C's (channel,
 * position) order, the order the rest of the network reads. The sums are
 * the panel form's sums, so the bytes are the same (the differential and
 * cross-target tests); NITC_ROWS=0 turns the form off, for comparisons.
 * On AVX2 without VNNI (ubs) the same, with vpmaddubsw taking the input as
 * its unsigned operand (dot_ubs_ua): LeNet-5's c2 forward 255 against 283
 * microseconds a step on one thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* accumulators; dots per kernel row unrolled (on ubs, whose dot steps are
 * several instructions each, fewer: resnet_l1's conv1, 168, compiled 0.1 s
 * longer for no speed); registers a chunk on ubs */
enum { ROWS_ACC_MAX = 24, ROWS_UNROLL_MAX = 256, ROWS_UBS_UNROLL_MAX = 150, ROWS_UBS_ACC = 12 };

bool rows_fits(Cg *g, const Node *nd, const ConvDims *d, GemmKind kind, int64_t segp, int64_t kp, Ty t_acc) {
  int64_t np = d->Og / PL;
  return g->rows && (kind == GK_VNNI || kind == GK_UBS) && t_acc == g->t_i32 && g->p->nonneg[nd->in[0]] &&
         nd->sh == 1 && nd->sw == 1 && d->Og % PL == 0 && np * d->OW <= ROWS_ACC_MAX &&
         segp / 4 * d->OW * np <= (kind == GK_UBS ? ROWS_UBS_UNROLL_MAX : ROWS_UNROLL_MAX) &&
         4 * d->Og <= kp; /* the scratch of positions fits where the panels would be */
}

/* The weight panel's byte of (o, k) in a group's panels (Og % 16 == 0). */
Val rows_wpanel_at(Cg *g, Val v_o, Val v_k, int64_t kp) {
  Val v_j = LLVMBuildUDiv(g->b, v_o, l_i64(g, PL), "panel");
  Val v_in = l_add(g, l_mul(g, LLVMBuildUDiv(g->b, v_k, l_i64(g, 4), ""), l_i64(g, 64), ""),
                   l_add(g, l_mul(g, LLVMBuildURem(g->b, v_o, l_i64(g, PL), ""), l_i64(g, 4), ""),
                         LLVMBuildURem(g->b, v_k, l_i64(g, 4), ""), ""),
                   "");
  return l_add(g, l_mul(g, v_j, l_i64(g, PL * kp), ""), v_in, "wp.at");
}

/* A transposed block: v[o] to C's row row0 + o from position p0, the
 * positions past P left out (the last block has P % 16). With cheap masked
 * stores (Cg.mask_stores) one masked store each; otherwise plain stores,
 * and in the last block a few narrower ones (l_store_below), so that no
 * store is masked (AVX2's cost six times a plain one on Zen 3). */
static void block_store(Cg *g, Val *v, Val v_C, int64_t row0, int64_t P, Val v_p0) {
  int64_t tail = P % PL;
  Val v_ptr[PL];
  for (int o = 0; o < PL; o++)
    v_ptr[o] = l_gep(g, g->t_i32, v_C, l_add(g, l_i64(g, (row0 + o) * P), v_p0, ""), "c");
  if (g->mask_stores) {
    Val v_mask = l_mask_first(g, l_sub(g, l_i64(g, P), v_p0, ""), PL);
    for (int o = 0; o < PL; o++) l_masked_store(g, v[o], v_ptr[o], 4, v_mask);
    return;
  }
  Blk b_full = NULL, b_join = NULL;
  if (tail) {
    b_join = l_if_else(g, l_icmp(g, LLVMIntSGT, l_add(g, v_p0, l_i64(g, PL), ""), l_i64(g, P), "last"), "blk.last",
                       &b_full);
    for (int o = 0; o < PL; o++) l_store_below(g, v[o], v_ptr[o], 4, tail);
    l_else(g, b_full, b_join);
  }
  for (int o = 0; o < PL; o++) LLVMSetAlignment(LLVMBuildStore(g->b, v[o], v_ptr[o]), 4);
  if (tail) l_endif(g, b_join);
}

/* C (Og, P) of one sample and group: v_pad the channels-last copy (PH, PW,
 * Cg), v_wp the group's weight panels, v_t the scratch of positions
 * (rup(P, 16), Og) i32; var_max the fused max |C|, or NULL. On ubs a
 * panel's 16 lanes are two registers, so the row's positions go in chunks
 * of at most ROWS_UBS_ACC registers, each over the whole K (the weight
 * panel rows loaded once per chunk). */
void rows_forward(Cg *g, const Node *nd, const ConvDims *d, GemmKind kind, int64_t segp, int64_t kp, Val v_pad,
                  Val v_wp, Val v_t, Val v_C, Val var_max) {
  Ty t_v = LLVMVectorType(g->t_i32, PL);
  int64_t np = d->Og / PL, OW = d->OW, PW = d->IW + 2 * nd->pw, words = segp / 4;
  Val (*dot)(Cg *, Val, Val, Val) = kind == GK_UBS ? dot_ubs_ua : dot_vnni_ua;
  int64_t chunks = kind == GK_UBS ? (2 * np * OW + ROWS_UBS_ACC - 1) / ROWS_UBS_ACC : 1;
  int64_t rc = (OW + chunks - 1) / chunks; /* positions a chunk */
  Val var_acc[ROWS_ACC_MAX];
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d->OH), "oy");
  for (int64_t a = 0; a < np * OW; a++) var_acc[a] = l_var(g, t_v, "acc.var", LLVMConstNull(t_v));
  for (int64_t r0 = 0; r0 < OW; r0 += rc) {
    int64_t r1 = r0 + rc < OW ? r0 + rc : OW;
    Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
    Val v_row = l_gep(g, g->t_i8, v_pad, l_mul(g, l_add(g, Ly.v_i, Lk.v_i, ""), l_i64(g, PW * d->Cg), ""), "in.row");
    Val v_wk = l_gep(g, g->t_i8, v_wp, l_mul(g, Lk.v_i, l_i64(g, words * 64), ""), "w.ky");
    Val v_acc[ROWS_ACC_MAX];
    for (int64_t j = 0; j < np; j++)
      for (int64_t r = r0; r < r1; r++) v_acc[j * OW + r] = l_get(g, t_v, var_acc[j * OW + r], "acc");
    for (int64_t w = 0; w < words; w++)
      for (int64_t j = 0; j < np; j++) {
        Val v_b = LLVMBuildLoad2(g->b, t_v, l_gep(g, g->t_i8, v_wk, l_i64(g, j * PL * kp + w * 64), ""), "w.row");
        LLVMSetAlignment(v_b, 4);
        for (int64_t r = r0; r < r1; r++) {
          Val v_a = LLVMBuildLoad2(g->b, g->t_i32, l_gep(g, g->t_i8, v_row, l_i64(g, r * d->Cg + 4 * w), ""), "x.word");
          LLVMSetAlignment(v_a, 1);
          v_acc[j * OW + r] = dot(g, v_acc[j * OW + r], v_a, v_b);
        }
      }
    for (int64_t j = 0; j < np; j++)
      for (int64_t r = r0; r < r1; r++) l_set(g, var_acc[j * OW + r], v_acc[j * OW + r]);
    l_next(g, &Lk);
  }
  /* positions (oy, r) by channels into the scratch; the max over all of them */
  for (int64_t j = 0; j < np; j++)
    for (int64_t r = 0; r < OW; r++) {
      Val v_c = l_get(g, t_v, var_acc[j * OW + r], "c");
      Val v_p = l_add(g, l_mul(g, Ly.v_i, l_i64(g, OW), ""), l_i64(g, r), "");
      Val v_at = l_add(g, l_mul(g, v_p, l_i64(g, np * PL), ""), l_i64(g, j * PL), "");
      LLVMSetAlignment(LLVMBuildStore(g->b, v_c, l_gep(g, g->t_i32, v_t, v_at, "")), 4);
      if (var_max) l_max_abs(g, var_max, v_c, NULL);
    }
  l_next(g, &Ly);
  /* 16 positions by 16 channels at a time into C (channel, position) */
  Loop Lp = l_for(g, l_i64(g, 0), l_i64(g, npanels(d->P)), "pblock");
  Val v_p0 = l_mul(g, Lp.v_i, l_i64(g, PL), "p0");
  for (int64_t j = 0; j < np; j++) {
    Val v[PL];
    for (int i = 0; i < PL; i++) {
      Val v_at = l_add(g, l_mul(g, l_add(g, v_p0, l_i64(g, i), ""), l_i64(g, np * PL), ""), l_i64(g, j * PL), "");
      v[i] = LLVMBuildLoad2(g->b, t_v, l_gep(g, g->t_i32, v_t, v_at, ""), "pos");
      LLVMSetAlignment(v[i], 4);
    }
    l_transpose16(g, v);
    block_store(g, v, v_C, j * PL, d->P, v_p0);
  }
  l_next(g, &Lp);
}
