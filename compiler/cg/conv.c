/*
 * conv.c: convolutions, each pass one GEMM per sample and group (gemm.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

Val in_coord(Cg *g, Val v_out, int s, int p, Val v_tap, const char *name) {
  return l_add(g, l_sub(g, l_mul(g, v_out, l_i64(g, s), ""), l_i64(g, p), ""), v_tap, name);
}
Val in_range(Cg *g, Val v, int64_t hi) {
  return LLVMBuildAnd(g->b, l_icmp(g, LLVMIntSGE, v, l_i64(g, 0), ""), l_icmp(g, LLVMIntSLT, v, l_i64(g, hi), ""), "");
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
 *             partial gradient, transposed back when the partials are added.
 *             The forward's panels may also be gathered (pack_gather,
 *             pack_gather4), with K unpadded per ky segment. */
/* The GEMM shape of a conv's forward or input error: kernel,
 * segment and padded K. */
typedef struct ConvK {
  GemmKind kind;
  int64_t seg, segp, kp;
  bool panels_direct; /* panels from the padded copy (pack_direct) */
  Gather gather;      /* forward: K unpadded per segment, panels gathered (pack_gather, pack_gather4) */
  bool implicit;      /* no panels: the GEMM reads the quad-major copy (im2col.c's quad_copy) */
  bool rows;          /* forward: positions as the rows, the weights as panels (convrows.c) */
  bool gtile;         /* forward: gathered panel words built in the tile unless C streams (convtile.c) */
} ConvK;

static ConvK conv_k(Cg *g, const Node *nd, const ConvDims *d, Pass which) {
  ConvK c;
  c.seg = which == PASS_FORWARD ? d->KW * d->Cg : d->KW * d->Og;
  c.kind = gemm_kind(g, d->KH * rup(c.seg, 4));
  c.panels_direct = c.kind != GK_PLAIN && (which == PASS_FORWARD || ecol_fast(nd, d));
  c.implicit = which != PASS_WEIGHT && (c.kind == GK_VNNI || c.kind == GK_UBS) && g->implicit &&
               implicit_fits(nd, d, which == PASS_INPUT);
  c.gather = GATHER_NONE;
  if (!c.implicit && which == PASS_FORWARD) {
    if (c.kind == GK_VNNI && g->vbmi && gather_fits(nd, d)) c.gather = GATHER_VPERMB;
    else if (c.kind == GK_UBS && g->gather4 && gather4_fits(nd, d)) c.gather = GATHER_QUADS4;
  }
  bool padded = c.panels_direct && !c.gather; /* ky segments padded to words */
  c.segp = padded ? rup(c.seg, 4) : c.seg;
  c.kp = c.gather ? rup(d->KH * c.seg, 4) : padded ? conv_kpad(d->KH, c.seg) : d->KH * c.seg;
  NIT_ASSERT(!c.implicit || (c.segp == c.seg && c.kp == d->KH * c.seg));
  Ty t_acc = nd->acc64_fwd ? g->t_i64 : g->t_i32;
  c.rows = which == PASS_FORWARD && !c.implicit && !c.gather && c.panels_direct &&
           rows_fits(g, nd, d, c.kind, c.segp, c.kp, t_acc);
  c.gtile = c.gather == GATHER_VPERMB && gather_tile_fits(g, d, t_acc);
  return c;
}

/* Sample b's accumulators (per elements each): in the batch's, or where the
 * pass rounds ahead, in the worker's slice (plan's ahead). */
static Val sample_acc(Cg *g, const KArgs *k, Val v_wk, Val v_b, int64_t per) {
  if (!k->ahead) return l_gep(g, k->t_acc, acc_ptr(g), l_mul(g, v_b, l_i64(g, per), ""), "acc.b");
  Val v_at = l_mul(g, LLVMBuildZExt(g->b, v_wk, g->t_i64, ""), l_i64(g, ahead_slice(per * l_bytes(k->t_acc))), "");
  return l_gep(g, g->t_i8, acc_ptr(g), v_at, "acc.w");
}

/* Sample b, group gi of a forward by panels: B packed (or, implicit, the
 * quad-major copy), then the GEMM of the group's weights v_wg into its C,
 * v_Cg. */
static void panel_sample(Cg *g, const KArgs *k, const ConvDims *d, const ConvK *ck, Val v_b, Val v_gi, Val v_col,
                         Val v_pan, Val v_taps, Val v_wg, Val v_Cg, Val var_max) {
  const Node *nd = k->nd;
  Val v_x = act_ptr(g, nd->in[0]);
  Val v_asum = l_gep(g, g->t_i32, wsum_ptr(g), l_mul(g, v_gi, l_i64(g, d->Og), ""), "wsum.g");
  int64_t aw = l_bytes(k->t_acc);
  bool stream = !k->ahead && gemm_stream(g, d->O * d->P * aw, d->P * aw);
  if (ck->gtile && !stream) {
    gather_forward(g, nd, d, ck->kp, cl_copy(g, nd, d, v_x, v_b, v_gi, v_col), v_wg, v_asum, v_Cg, var_max);
    return;
  }
  SegDst S = {v_col, ck->segp, ck->kp};
  if (ck->implicit)
    quad_copy(g, v_x, l_add(g, l_mul(g, v_b, l_i64(g, d->IC), ""), l_mul(g, v_gi, l_i64(g, d->Cg), ""), "c0"), d->Cg,
              d->IH, d->IW, nd->ph, nd->pw, gemm_panel_bias(ck->kind), v_col);
  else
    im2col_fwd(g, nd, d, v_x, v_b, v_gi, v_col, &S, ck->panels_direct ? v_pan : NULL, gemm_panel_bias(ck->kind),
               ck->gather);
  Gemm G = {0};
  G.v_A = v_wg, G.lda = ck->kp;
  G.v_asum = v_asum;
  if (ck->kind == GK_PLAIN) G.v_B = v_col, G.sn = ck->kp, G.sk = 1;
  G.v_P = v_pan;
  if (ck->implicit) G.v_P = v_col, G.v_taps = v_taps, G.prow = (d->IW + 2 * nd->pw) * 4, G.pcols = d->OW / PL;
  G.v_C = v_Cg, G.ldc = d->P, G.v_M = l_i64(g, d->Og), G.v_N = l_i64(g, d->P), G.v_K = l_i64(g, ck->kp);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(d->P)), G.t_acc = k->t_acc, G.kind = ck->kind;
  G.var_max = var_max, G.stream = stream;
  G.ub = gemm_nonneg(g, G.kind, nd->in[0], false); /* the input's taps */
  gemm_reading(g, &G, nd->in[0], false);
}

static void conv_forward_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  ConvDims d = conv_dims(g, nd);
  ConvK ck = conv_k(g, nd, &d, PASS_FORWARD);
  Val v_col = col_ptr(g, v_wk);
  Val v_pan = l_gep(g, g->t_i8, v_col, l_i64(g, panel_bytes(d.P, ck.kp)), "pan");
  Val var_max = k->fuse ? fused_begin(g) : NULL;
  Val var_max64 = k->ahead && !k->fuse ? body_max_begin(g) : NULL; /* no fused maxima: the bodies' own */
  Val v_taps =
      ck.implicit ? implicit_begin(g, nd, d.Cg, d.IH, d.IW, nd->ph, nd->pw, false, gemm_panel_bias(ck.kind), v_col)
                  : NULL;
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Blk b_skip = k->ahead ? rq_ahead_skip(g, Lb.v_i) : NULL;
  Val v_accb = sample_acc(g, k, v_wk, Lb.v_i, d.O * d.P);
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  /* the group's weights (wf rows, or by output rows its panels) and its C */
  Val v_wg = l_gep(g, g->t_i8, pack_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Og * ck.kp), ""), "wf.g");
  Val v_Cg = l_gep(g, k->t_acc, v_accb, l_mul(g, Lg.v_i, l_i64(g, d.Og * d.P), ""), "acc.bg");
  if (ck.rows) { /* the copy read in place, the weights' panels, C through a scratch where the panels would be */
    Val v_pad = cl_copy(g, nd, &d, act_ptr(g, nd->in[0]), Lb.v_i, Lg.v_i, v_col);
    rows_forward(g, nd, &d, ck.kind, ck.segp, ck.kp, v_pad, v_wg, v_pan, v_Cg, var_max);
  } else {
    panel_sample(g, k, &d, &ck, Lb.v_i, Lg.v_i, v_col, v_pan, v_taps, v_wg, v_Cg, var_max);
  }
  l_next(g, &Lg);
  if (k->ahead) {
    rq_ahead_sample(g, k->ahead, v_accb, Lb.v_i, var_max ? var_max : var_max64, var_max != NULL);
    l_endif(g, b_skip);
  }
  l_next(g, &Lb);
  if (var_max) fused_end(g, var_max, v_wk);
  if (var_max64) body_max_end(g, var_max64, v_wk);
}

/* ahead: NULL, or the bodies round each sample ahead (rq_ahead_run sets
 * its k). Returns the workers whose maxima sit in the rq slots, or NULL. */
Val conv_forward(Cg *g, int i, Ty t_acc, Ahead *ahead) {
  KArgs k = {&g->m->nodes[i], i, t_acc, false, ahead};
  ConvDims d = conv_dims(g, k.nd);
  ConvK ck = conv_k(g, k.nd, &d, PASS_FORWARD);
  k.fuse = ck.kind != GK_PLAIN;
  /* wf[o, ky*segp + kx*Cg + c] = w[o, c, ky, kx], zeros in the padding; by
   * output rows, the same bytes as each group's panels of Og columns */
  Val v_w = w8_ptr(g, k.nd), v_wf = pack_ptr(g);
  LLVMBuildMemSet(g->b, v_wf, LLVMConstNull(g->t_i8), l_i64(g, d.O * ck.kp), 64);
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d.O), "o");
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, d.Cg), "c");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d.KH), "ky");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, d.KW), "kx");
  Val v_src =
      l_add(g,
            l_mul(g,
                  l_add(g, l_mul(g, l_add(g, l_mul(g, Lo.v_i, l_i64(g, d.Cg), ""), Lc.v_i, ""), l_i64(g, d.KH), ""),
                        Ly.v_i, ""),
                  l_i64(g, d.KW), ""),
            Lx.v_i, "");
  Val v_kf = l_add(g, l_mul(g, Ly.v_i, l_i64(g, ck.segp), ""), l_add(g, l_mul(g, Lx.v_i, l_i64(g, d.Cg), ""), Lc.v_i, ""),
                   "k");
  Val v_dst = ck.rows ? rows_wpanel_at(g, Lo.v_i, v_kf, ck.kp) : l_add(g, l_mul(g, Lo.v_i, l_i64(g, ck.kp), ""), v_kf, "");
  l_store(g, g->t_i8, l_load(g, g->t_i8, v_w, v_src, "w"), v_wf, v_dst);
  /* once a step, well under a millisecond even for vgg_small's c5:
   * vectorized and unrolled (its strided stores as shuffles) it was some
   * 2,500 lines of IR a layer, and half of vgg_small's compile time */
  l_next_scalar(g, &Lx);
  l_next_scalar(g, &Ly);
  l_next_scalar(g, &Lc);
  l_next_scalar(g, &Lo);
  if (ck.kind == GK_VNNI && !ck.rows) row_sums(g, v_wf, ck.kp, l_i64(g, d.O), l_i64(g, ck.kp), wsum_ptr(g));
  const char *name = g->m->nodes[i].name;
  if (ahead) return rq_ahead_run(g, ahead, name, conv_forward_body, &k);
  Val v_used = par_for(g, name, g->f.v_n, g->p->maxw, conv_forward_body, &k);
  return k.fuse ? v_used : NULL;
}

static void conv_input_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  ConvDims d = conv_dims(g, nd);
  ConvK ck = conv_k(g, nd, &d, PASS_INPUT);
  int64_t Q = d.IH * d.IW;
  Val v_col = col_ptr(g, v_wk);
  SegDst S = {v_col, ck.segp, ck.kp};
  Val v_pan = l_gep(g, g->t_i8, v_col, l_i64(g, panel_bytes(Q, ck.kp)), "pan");
  Val var_max = k->fuse ? fused_begin(g) : NULL;
  Val var_max64 = k->ahead && !k->fuse ? body_max_begin(g) : NULL;
  /* implicit: the error quad-major with ecol's border KH-1-ph, KW-1-pw */
  int64_t ty = d.KH - 1 - nd->ph, tx = d.KW - 1 - nd->pw, EW = d.OW + 2 * tx;
  Val v_e = err_ptr(g, k->i);
  Val v_taps = ck.implicit ? implicit_begin(g, nd, d.Og, d.OH, d.OW, ty, tx, true, gemm_panel_bias(ck.kind), v_col)
                            : NULL;
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Blk b_skip = k->ahead ? rq_ahead_skip(g, Lb.v_i) : NULL;
  Val v_accb = sample_acc(g, k, v_wk, Lb.v_i, d.IC * Q);
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  if (ck.implicit)
    quad_copy(g, v_e, l_add(g, l_mul(g, Lb.v_i, l_i64(g, d.O), ""), l_mul(g, Lg.v_i, l_i64(g, d.Og), ""), "o0"), d.Og,
              d.OH, d.OW, ty, tx, gemm_panel_bias(ck.kind), v_col);
  else
    ecol_build(g, nd, &d, v_e, Lb.v_i, Lg.v_i, v_col, &S, ck.panels_direct ? v_pan : NULL, gemm_panel_bias(ck.kind));
  Gemm G = {0};
  G.lda = gemm_ax_lda(ck.kind, ck.kp, ck.kp), G.ax = gemm_ax(ck.kind, ck.kp);
  G.v_A = l_gep(g, g->t_i8, pack_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Cg * G.lda), ""), "wr.g");
  G.v_asum = l_gep(g, g->t_i32, wsum_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Cg), ""), "wsum.g");
  G.v_P = v_pan;
  if (!ck.panels_direct) G.v_B = v_col, G.sn = ck.kp, G.sk = 1; /* gemm packs (or reads) the rows */
  if (ck.implicit) G.v_P = v_col, G.v_taps = v_taps, G.prow = EW * 4, G.pcols = d.IW / PL;
  G.v_C = l_gep(g, k->t_acc, v_accb, l_mul(g, Lg.v_i, l_i64(g, d.Cg * Q), ""), "e32.bg");
  G.ldc = Q, G.v_M = l_i64(g, d.Cg), G.v_N = l_i64(g, Q), G.v_K = l_i64(g, ck.kp);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(Q)), G.t_acc = k->t_acc, G.kind = ck.kind;
  G.var_max = var_max;
  int64_t aw = l_bytes(k->t_acc);
  G.stream = !k->ahead && gemm_stream(g, d.IC * Q * aw, Q * aw);
  gemm(g, &G);
  l_next(g, &Lg);
  if (k->ahead) {
    rq_ahead_sample(g, k->ahead, v_accb, Lb.v_i, var_max ? var_max : var_max64, var_max != NULL);
    l_endif(g, b_skip);
  }
  l_next(g, &Lb);
  if (var_max) fused_end(g, var_max, v_wk);
  if (var_max64) body_max_end(g, var_max64, v_wk);
}

/* Row-wise col2im (stride 1 across, rows of at most 64 and kernels of at
 * most 64 taps): each input row e32[c, iy] is computed once in a vector,
 * as the sum over taps (ky, kx) with oy = (iy + ph - ky) / sh an output row
 * of C's row (c, ky, kx) at oy, shifted by kx - pw lanes (masked loads: a
 * lane ix reads C[.., oy, ix + pw - kx] where that is in [0, OW)), and
 * stored once. No read-modify-write of e32 and no clearing beforehand. */
static bool col2im_rows(const Node *nd, const ConvDims *d) { return nd->sw == 1 && d->IW <= 64 && d->KH * d->KW <= 64; }

static void col2im_rows_scatter(Cg *g, const Node *nd, const ConvDims *d, Ty t_acc, Val v_c, Val v_plane0) {
  int64_t Q = d->IH * d->IW, KK = d->KH * d->KW;
  unsigned n = (unsigned)d->IW, nv = 1;
  while (nv < n) nv *= 2; /* lanes of the row's vector: IW = 12 as 12 lanes took scalar inserts and extracts on AVX2 */
  Ty t_row = LLVMVectorType(t_acc, nv);
  Val var_row = l_var(g, t_row, "row.var", NULL);
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, d->Cg), "c");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d->IH), "iy");
  l_set(g, var_row, LLVMConstNull(t_row));
  for (int64_t ky = 0; ky < d->KH; ky++) {
    /* oy sh = iy + ph - ky, in [0, OH) */
    Val v_d = l_add(g, Ly.v_i, l_i64(g, nd->ph - ky), "oy.sh");
    Val v_ok = in_range(g, v_d, d->OH * nd->sh);
    if (nd->sh > 1)
      v_ok = LLVMBuildAnd(g->b, v_ok,
                          l_icmp(g, LLVMIntEQ, LLVMBuildSRem(g->b, v_d, l_i64(g, nd->sh), ""), l_i64(g, 0), ""), "");
    Blk b_tap = l_if(g, v_ok, "ky.in");
    Val v_oy = LLVMBuildSDiv(g->b, v_d, l_i64(g, nd->sh), "oy");
    Val v_row = l_get(g, t_row, var_row, "row");
    for (int64_t kx = 0; kx < d->KW; kx++) {
      Val mask[64];
      bool any = false;
      for (unsigned l = 0; l < nv; l++) {
        int64_t ox = (int64_t)l + nd->pw - kx;
        mask[l] = LLVMConstInt(g->t_i1, l < n && ox >= 0 && ox < d->OW, 0);
        any |= l < n && ox >= 0 && ox < d->OW;
      }
      if (!any) continue;
      /* lane 0 reads C[(c, ky, kx), oy, pw - kx]; masked-off lanes are not read */
      Val v_r = l_add(g, l_mul(g, Lc.v_i, l_i64(g, KK), ""), l_i64(g, ky * d->KW + kx), "");
      Val v_crow = l_mul(g, v_r, l_i64(g, col2im_ldc(d->P)), "c.row");
      Val v_off = l_add(g, l_add(g, v_crow, l_mul(g, v_oy, l_i64(g, d->OW), ""), ""),
                        l_i64(g, nd->pw - kx), "c.off");
      Val v_ptr = LLVMBuildGEP2(g->b, t_acc, v_c, &v_off, 1, "c.src");
      Val v_tap = l_masked_load(g, t_row, v_ptr, (unsigned)l_bytes(t_acc), LLVMConstVector(mask, nv),
                                LLVMConstNull(t_row), "tap");
      v_row = l_add(g, v_row, v_tap, "row");
    }
    l_set(g, var_row, v_row);
    l_endif(g, b_tap);
  }
  Val v_dst = l_gep(g, t_acc, v_plane0,
                    l_add(g, l_mul(g, Lc.v_i, l_i64(g, Q), ""), l_mul(g, Ly.v_i, l_i64(g, d->IW), ""), ""), "e32.row");
  /* lanes [IW, nv) hold 0 and are not stored */
  l_store_below(g, l_get(g, t_row, var_row, "row"), v_dst, (unsigned)l_bytes(t_acc), n);
  l_next(g, &Ly);
  l_next(g, &Lc);
}

/* After sample b's scatter: its sums' max |e32| into the worker's, and
 * after the last sample the worker's into its rq slot. */
static void col2im_sample_end(Cg *g, const KArgs *k, Val v_accb, Loop *Lb, Val var_max, Val v_wk) {
  ConvDims d = conv_dims(g, k->nd);
  if (var_max) body_max_fold(g, k->t_acc == g->t_i64, v_accb, d.IC * d.IH * d.IW, var_max);
  l_next(g, Lb);
  if (var_max) body_max_end(g, var_max, v_wk);
}

/* The col2im input error (plan's col2im) of samples [lo, hi): per sample
 * and group the product C[k, p] = sum_o wT[k, o] e[b, g*Og + o, p] (A = wT,
 * the weights transposed to (k, o) rows with k = (c, ky, kx); B(p, o) = e,
 * packed by the GEMM), then each C[k, p] is added to the input position
 * its tap reads in the forward pass: (iy, ix) = (oy sh - ph + ky,
 * ox sw - pw + kx), where inside the input. Integer sums in any order, so
 * the same e32 as the convolution of the padded error. Worker scratch: C
 * in rows of whole panels (col2im_ldc: its last panel is stored in full,
 * not by masked stores), then e's panels. */
static void conv_col2im_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  ConvDims d = conv_dims(g, nd);
  GemmKind kind = gemm_kind(g, d.Og);
  int64_t Q = d.IH * d.IW, KK = d.KH * d.KW, lda = gemm_ax_lda(kind, d.Og, col2im_lda(d.Og)), aw = l_bytes(k->t_acc);
  Val v_c = col_ptr(g, v_wk), v_acc = acc_ptr(g);
  Val v_pan = l_gep(g, g->t_i8, v_c, l_i64(g, col2im_product_bytes(d.Kc, d.P, aw)), "e.pan");
  Val var_max = k->fuse ? body_max_begin(g) : NULL; /* of the scattered sums, for requant_fused */
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Val v_accb = l_gep(g, k->t_acc, v_acc, l_mul(g, Lb.v_i, l_i64(g, d.IC * Q), ""), "e32.b");
  if (!col2im_rows(nd, &d)) l_zero(g, k->t_acc, v_accb, l_i64(g, d.IC * Q));
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  Gemm G = {0};
  G.v_A = l_gep(g, g->t_i8, pack_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Kc * lda), ""), "wT.g"), G.lda = lda;
  G.v_asum = l_gep(g, g->t_i32, wsum_ptr(g), l_mul(g, Lg.v_i, l_i64(g, d.Kc), ""), "wTsum.g");
  G.v_B = l_gep(g, g->t_i8, err_ptr(g, k->i),
                l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, d.O), ""), l_mul(g, Lg.v_i, l_i64(g, d.Og), ""), ""),
                      l_i64(g, d.P), ""),
                "e.bg");
  G.sn = 1, G.sk = d.P, G.v_P = v_pan;
  G.v_C = v_c, G.ldc = col2im_ldc(d.P), G.whole = true, G.v_M = l_i64(g, d.Kc), G.v_N = l_i64(g, d.P);
  G.v_K = l_i64(g, d.Og);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(d.P)), G.t_acc = k->t_acc, G.kind = kind, G.ax = gemm_ax(kind, d.Og);
  gemm(g, &G);
  if (col2im_rows(nd, &d)) {
    col2im_rows_scatter(g, nd, &d, k->t_acc, v_c,
                        l_gep(g, k->t_acc, v_accb, l_mul(g, Lg.v_i, l_i64(g, d.Cg * Q), ""), "e32.g"));
    l_next(g, &Lg);
    col2im_sample_end(g, k, v_accb, &Lb, var_max, v_wk);
    return;
  }
  /* scatter: row k = (c, ky, kx) of C onto input plane g*Cg + c */
  Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, d.Kc), "k");
  Val v_cc = LLVMBuildUDiv(g->b, Lk.v_i, l_i64(g, KK), "c");
  Val v_t = LLVMBuildURem(g->b, Lk.v_i, l_i64(g, KK), "t");
  Val v_ky = LLVMBuildUDiv(g->b, v_t, l_i64(g, d.KW), "ky"), v_kx = LLVMBuildURem(g->b, v_t, l_i64(g, d.KW), "kx");
  Val v_plane = l_gep(g, k->t_acc, v_accb,
                      l_mul(g, l_add(g, l_mul(g, Lg.v_i, l_i64(g, d.Cg), ""), v_cc, ""), l_i64(g, Q), ""), "e32.plane");
  /* ox with 0 <= ox sw - pw + kx < IW: [ceil((pw - kx) / sw), floor((IW - 1 + pw - kx) / sw)] within [0, OW) */
  Val v_dl = l_sub(g, l_i64(g, nd->pw), v_kx, "");
  Val v_xlo = l_smax(g, LLVMBuildSDiv(g->b, l_add(g, v_dl, l_i64(g, nd->sw - 1), ""), l_i64(g, nd->sw), ""),
                     l_i64(g, 0), "ox.lo");
  Val v_dh = l_add(g, l_i64(g, d.IW - 1), v_dl, "");
  Val v_xhi = l_select(
      g, l_icmp(g, LLVMIntSLT, v_dh, l_i64(g, 0), ""), l_i64(g, 0),
      l_smin(g, l_add(g, LLVMBuildSDiv(g->b, v_dh, l_i64(g, nd->sw), ""), l_i64(g, 1), ""), l_i64(g, d.OW), ""),
      "ox.hi");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d.OH), "oy");
  Val v_iy = l_add(g, l_sub(g, l_mul(g, Ly.v_i, l_i64(g, nd->sh), ""), l_i64(g, nd->ph), ""), v_ky, "iy");
  Blk b_in = l_if(g, in_range(g, v_iy, d.IH), "row.in");
  Val v_crow = l_add(g, l_mul(g, Lk.v_i, l_i64(g, col2im_ldc(d.P)), ""), l_mul(g, Ly.v_i, l_i64(g, d.OW), ""), "c.row");
  Val v_irow = l_sub(g, l_add(g, l_mul(g, v_iy, l_i64(g, d.IW), ""), v_kx, ""), l_i64(g, nd->pw), "i.row");
  Blk b_part = NULL;
  if (nd->sw == 1 && d.OW <= 64) { /* a whole row of ox at once: one vector add */
    Val v_full = LLVMBuildAnd(g->b, l_icmp(g, LLVMIntEQ, v_xlo, l_i64(g, 0), ""),
                              l_icmp(g, LLVMIntEQ, v_xhi, l_i64(g, d.OW), ""), "row.full");
    Blk b_join = l_if_else(g, v_full, "row.vec", &b_part);
    Ty t_row = LLVMVectorType(k->t_acc, (unsigned)d.OW);
    Val v_dp = l_gep(g, k->t_acc, v_plane, v_irow, "dst.row");
    Val v_old = LLVMBuildLoad2(g->b, t_row, v_dp, "e32.row");
    Val v_add = LLVMBuildLoad2(g->b, t_row, l_gep(g, k->t_acc, v_c, v_crow, ""), "c.v");
    LLVMSetAlignment(v_old, (unsigned)aw), LLVMSetAlignment(v_add, (unsigned)aw);
    LLVMSetAlignment(LLVMBuildStore(g->b, l_add(g, v_old, v_add, "e32.new"), v_dp), (unsigned)aw);
    l_else(g, b_part, b_join);
    b_part = b_join;
  }
  Loop Lx = l_for(g, v_xlo, v_xhi, "ox");
  Val v_ii = l_add(g, v_irow, l_mul(g, Lx.v_i, l_i64(g, nd->sw), ""), "ii");
  Val v_sum = l_add(g, l_load(g, k->t_acc, v_plane, v_ii, "e32"),
                    l_load(g, k->t_acc, v_c, l_add(g, v_crow, Lx.v_i, ""), "cv"), "e32.new");
  l_store(g, k->t_acc, v_sum, v_plane, v_ii);
  l_next(g, &Lx);
  if (b_part) l_endif(g, b_part);
  l_endif(g, b_in);
  l_next(g, &Ly);
  l_next(g, &Lk);
  l_next(g, &Lg);
  col2im_sample_end(g, k, v_accb, &Lb, var_max, v_wk);
}

/* The input error by kernel rows (VNNI with implicit panels, stride 1, a
 * border below the kernel, Og % 4 == 0, input rows of at most 64): per
 * sample and group one GEMM whose K is (kx, o), so that it does col2im's
 * sum over kx itself, reading the error where it lies in a quad-major copy
 * (im2col.c, krows_begin):
 *   R[(c, ky), oy NP + ix] = sum_{kx, o} w[g Og + o, c, ky, kx] e[b, g Og + o, oy, ix + pw - kx]
 * (NP: IW rounded up to panels; the lanes past IW are never read), then
 *   e32[b, g Cg + c, iy, ix] = sum_ky R[(c, ky), (iy + ph - ky) NP + ix]
 * over the ky whose row is in [0, OH): KH aligned vector adds per input
 * row where col2im by rows has KH KW masked loads. For LeNet-5's c2 that
 * is 1.6x the multiply-adds (K = 80 against 16, N = 160 against 100), but
 * R is 19 KB against col2im's 60 KB product, and no panels are packed.
 * The same integer sums, so the same e32. NITC_KROWS=0: col2im (tests). */
static bool krows_fits(Cg *g, const Node *nd, const ConvDims *d, Ty t_acc) {
  return g->p->col2im[nd - g->m->nodes] && g->implicit && gemm_kind(g, d->KW * d->Og) == GK_VNNI && nd->sh == 1 &&
         nd->sw == 1 && ecol_fast(nd, d) && d->Og % 4 == 0 && d->IW <= 64 && t_acc == g->t_i32 &&
         env_num("NITC_KROWS", 1);
}

static void conv_krows_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  ConvDims d = conv_dims(g, nd);
  int64_t tx = d.KW - 1 - nd->pw, PW = d.OW + 2 * tx, NP = krows_np(d.IW), M = d.Cg * d.KH, Kk = d.KW * d.Og;
  int64_t Q = d.IH * d.IW;
  Ty t_row = LLVMVectorType(g->t_i32, (unsigned)NP);
  Val v_in = l_mask_below(g, d.IW, (unsigned)NP); /* a row's lanes in e32 */
  Val v_col = col_ptr(g, v_wk), v_e = err_ptr(g, k->i), v_acc = acc_ptr(g);
  uint32_t bias = gemm_panel_bias(GK_VNNI); /* krows: vnni only */
  Val v_taps = krows_begin(g, nd, &d, bias, v_col);
  Val v_r = l_gep(g, g->t_i8, v_col, l_i64(g, krows_copy_bytes(d.Og, d.OH, d.OW, d.KW, nd->pw)), "krows.r");
  Val var_vmax = k->fuse ? l_var(g, t_row, "vmax.var", LLVMConstNull(t_row)) : NULL;
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Val v_accb = l_gep(g, g->t_i32, v_acc, l_mul(g, Lb.v_i, l_i64(g, d.IC * Q), ""), "e32.b");
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  quad_copy(g, v_e, l_add(g, l_mul(g, Lb.v_i, l_i64(g, d.O), ""), l_mul(g, Lg.v_i, l_i64(g, d.Og), ""), "o0"), d.Og,
            d.OH, d.OW, 0, tx, bias, v_col);
  Gemm G = {0};
  G.v_A = l_gep(g, g->t_i8, pack_ptr(g), l_mul(g, Lg.v_i, l_i64(g, M * Kk), ""), "wk.g"), G.lda = Kk;
  G.v_asum = l_gep(g, g->t_i32, wsum_ptr(g), l_mul(g, Lg.v_i, l_i64(g, M), ""), "wksum.g");
  G.v_P = v_col, G.v_taps = v_taps, G.prow = PW * 4, G.pcols = NP / PL;
  G.v_C = v_r, G.ldc = d.OH * NP, G.v_M = l_i64(g, M), G.v_N = l_i64(g, d.OH * NP), G.v_K = l_i64(g, Kk);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, d.OH * NP / PL), G.t_acc = g->t_i32, G.kind = GK_VNNI;
  gemm(g, &G);
  /* each input row: its KH kernel rows' output rows, added */
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, d.Cg), "c");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d.IH), "iy");
  Val var_row = l_var(g, t_row, "row.var", LLVMConstNull(t_row));
  for (int64_t ky = 0; ky < d.KH; ky++) {
    Val v_oy = l_add(g, Ly.v_i, l_i64(g, nd->ph - ky), "oy");
    Blk b_in = l_if(g, in_range(g, v_oy, d.OH), "ky.in");
    Val v_at = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, d.KH), ""), l_i64(g, ky), ""), l_i64(g, d.OH * NP), ""),
                     l_mul(g, v_oy, l_i64(g, NP), ""), "r.at");
    Val v_kr = LLVMBuildLoad2(g->b, t_row, l_gep(g, g->t_i32, v_r, v_at, ""), "kernel.row");
    LLVMSetAlignment(v_kr, 4);
    l_set(g, var_row, l_add(g, l_get(g, t_row, var_row, ""), v_kr, "row"));
    l_endif(g, b_in);
  }
  Val v_row = l_get(g, t_row, var_row, "row");
  Val v_dst = l_gep(g, g->t_i32, v_accb,
                    l_add(g, l_mul(g, l_add(g, l_mul(g, Lg.v_i, l_i64(g, d.Cg), ""), Lc.v_i, ""), l_i64(g, Q), ""),
                          l_mul(g, Ly.v_i, l_i64(g, d.IW), ""), ""),
                    "e32.row");
  l_store_below(g, v_row, v_dst, 4, d.IW);
  if (var_vmax) /* lanes past IW add only R's unread lanes: masked off */
    l_set(g, var_vmax,
          l_smax(g, l_get(g, t_row, var_vmax, ""), l_select(g, v_in, l_abs(g, v_row, "abs"), LLVMConstNull(t_row), ""),
                 "vmax"));
  l_next(g, &Ly);
  l_next(g, &Lc);
  l_next(g, &Lg);
  l_next(g, &Lb);
  if (var_vmax)
    worker_max_store(g, l_sext(g, l_reduce_smax(g, l_get(g, t_row, var_vmax, "vmax"), "max"), g->t_i64, "max64"), v_wk);
}

/* wk[g, (c, ky), (kx, o)] = w[g*Og + o, c, ky, kx] and its row sums; then
 * the krows bodies. */
static Val krows_input(Cg *g, int i, Ty t_acc) {
  const Node *nd = &g->m->nodes[i];
  ConvDims d = conv_dims(g, nd);
  int64_t Kk = d.KW * d.Og, KK = d.KH * d.KW;
  Val v_w = w8_ptr(g, nd), v_wk = pack_ptr(g);
  Loop Lr = l_for(g, l_i64(g, 0), l_i64(g, d.G * d.Cg * d.KH), "wk.row"); /* (gi, c, ky) */
  Val v_gi = LLVMBuildSDiv(g->b, Lr.v_i, l_i64(g, d.Cg * d.KH), "gi");
  Val v_cky = LLVMBuildSRem(g->b, Lr.v_i, l_i64(g, d.Cg * d.KH), "c.ky"); /* c KH + ky */
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, d.KW), "kx");
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d.Og), "ol");
  Val v_o = l_add(g, l_mul(g, v_gi, l_i64(g, d.Og), ""), Lo.v_i, "o");
  /* w[o, c, ky, kx] at (o Cg + c) KK + ky KW + kx = o Cg KK + (c KH + ky) KW + kx */
  Val v_src = l_add(g, l_add(g, l_mul(g, v_o, l_i64(g, d.Cg * KK), ""), l_mul(g, v_cky, l_i64(g, d.KW), ""), ""),
                    Lx.v_i, "");
  Val v_dst = l_add(g, l_mul(g, Lr.v_i, l_i64(g, Kk), ""), l_add(g, l_mul(g, Lx.v_i, l_i64(g, d.Og), ""), Lo.v_i, ""), "");
  l_store(g, g->t_i8, l_load(g, g->t_i8, v_w, v_src, "w"), v_wk, v_dst);
  l_next_scalar(g, &Lo);
  l_next(g, &Lx);
  l_next(g, &Lr);
  row_sums(g, v_wk, Kk, l_i64(g, d.G * d.Cg * d.KH), l_i64(g, Kk), wsum_ptr(g));
  bool fuse = recipe_err_rq(&g->m->recipe);
  KArgs k = {nd, i, t_acc, fuse, NULL};
  Val v_used = par_for(g, nd->name, g->f.v_n, g->p->maxw, conv_krows_body, &k);
  return fuse ? v_used : NULL;
}

/* wT[g, k, o] = w[g*Og + o, k] (k = (c, ky, kx)), rows of rup(Og, 4) bytes
 * with zeros past Og, and their row sums; then the col2im bodies. */
static Val col2im_input(Cg *g, int i, Ty t_acc) {
  const Node *nd = &g->m->nodes[i];
  ConvDims d = conv_dims(g, nd);
  if (krows_fits(g, nd, &d, t_acc)) return krows_input(g, i, t_acc);
  GemmKind kind = gemm_kind(g, d.Og);
  int64_t lda = gemm_ax_lda(kind, d.Og, col2im_lda(d.Og)); /* split on ubs: magnitudes, masks */
  Val v_w = w8_ptr(g, nd), v_wt = pack_ptr(g);
  LLVMBuildMemSet(g->b, v_wt, LLVMConstNull(g->t_i8), l_i64(g, d.G * d.Kc * lda), 64);
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d.O), "o");
  Val v_gi = LLVMBuildSDiv(g->b, Lo.v_i, l_i64(g, d.Og), "gi"),
      v_ol = LLVMBuildSRem(g->b, Lo.v_i, l_i64(g, d.Og), "ol");
  Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, d.Kc), "k");
  Val v_rk = l_add(g, l_mul(g, v_gi, l_i64(g, d.Kc), ""), Lk.v_i, "wT.row");
  Val v_dst = l_add(g, l_mul(g, v_rk, l_i64(g, lda), ""), v_ol, "");
  Val v_wv = l_load(g, g->t_i8, v_w, l_add(g, l_mul(g, Lo.v_i, l_i64(g, d.Kc), ""), Lk.v_i, ""), "w");
  if (gemm_ax(kind, d.Og)) gemm_ax_store(g, v_wv, v_wt, v_dst, lda);
  else l_store(g, g->t_i8, v_wv, v_wt, v_dst);
  l_next(g, &Lk);
  l_next(g, &Lo);
  if (kind == GK_VNNI) row_sums(g, v_wt, lda, l_i64(g, d.G * d.Kc), l_i64(g, d.Og), wsum_ptr(g));
  if (gemm_ax(kind, d.Og)) gemm_ax_sums(g, v_wt, lda, d.G * d.Kc, wsum_ptr(g));
  /* the scattered sums' maxima where the error's quantizer is RQ (niti,
   * ghaffari): its requantization then has no region of its own for them */
  bool fuse = recipe_err_rq(&g->m->recipe);
  KArgs k = {nd, i, t_acc, fuse, NULL};
  Val v_used = par_for(g, nd->name, g->f.v_n, g->p->maxw, conv_col2im_body, &k);
  return fuse ? v_used : NULL;
}

Val conv_backward_input(Cg *g, int i, Ty t_acc, Ahead *ahead) {
  const Node *nd = &g->m->nodes[i];
  if (g->p->col2im[i]) {
    NIT_ASSERT(!ahead);
    return col2im_input(g, i, t_acc); /* the maxima of the scattered sums, not of the GEMM's C */
  }
  ConvDims d = conv_dims(g, nd);
  ConvK ck = conv_k(g, nd, &d, PASS_INPUT);
  /* wr[gi, c, k'] = w[gi*Og + o, c, ky, kx] with k' = ky*segp + (KW-1-kx)*Og + o
   * (fast ecol) or (o, ky, kx) */
  Val v_w = w8_ptr(g, nd), v_wr = pack_ptr(g);
  int64_t KK = d.KH * d.KW, lda = gemm_ax_lda(ck.kind, ck.kp, ck.kp); /* split on ubs: magnitudes, masks */
  LLVMBuildMemSet(g->b, v_wr, LLVMConstNull(g->t_i8), l_i64(g, d.G * d.Cg * lda), 64);
  /* by rows of wr, o innermost: the fast layout's stores are then
   * contiguous (stored in w's order they scattered one byte per line) */
  Loop Lr = l_for(g, l_i64(g, 0), l_i64(g, d.G * d.Cg), "wr.row");
  Val v_gi = LLVMBuildSDiv(g->b, Lr.v_i, l_i64(g, d.Cg), "gi");
  Val v_c = LLVMBuildSRem(g->b, Lr.v_i, l_i64(g, d.Cg), "c");
  Loop Lt = l_for(g, l_i64(g, 0), l_i64(g, KK), "t");
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d.Og), "ol");
  Val v_ol = Lo.v_i;
  Val v_o = l_add(g, l_mul(g, v_gi, l_i64(g, d.Og), ""), v_ol, "o");
  Val v_src = l_add(g, l_mul(g, l_add(g, l_mul(g, v_o, l_i64(g, d.Cg), ""), v_c, ""), l_i64(g, KK), ""), Lt.v_i, "");
  Val v_row = l_mul(g, Lr.v_i, l_i64(g, lda), "");
  Val v_dst;
  if (ecol_fast(nd, &d)) {
    Val v_ky = LLVMBuildSDiv(g->b, Lt.v_i, l_i64(g, d.KW), "ky");
    Val v_t = l_sub(g, l_i64(g, d.KW - 1), LLVMBuildSRem(g->b, Lt.v_i, l_i64(g, d.KW), ""), "t");
    v_dst = l_add(
        g, v_row,
        l_add(g, l_add(g, l_mul(g, v_ky, l_i64(g, ck.segp), ""), l_mul(g, v_t, l_i64(g, d.Og), ""), ""), v_ol, ""), "");
  } else {
    v_dst = l_add(g, v_row, l_add(g, l_mul(g, v_ol, l_i64(g, KK), ""), Lt.v_i, ""), "");
  }
  Val v_wv = l_load(g, g->t_i8, v_w, v_src, "w");
  if (gemm_ax(ck.kind, ck.kp)) gemm_ax_store(g, v_wv, v_wr, v_dst, lda);
  else l_store(g, g->t_i8, v_wv, v_wr, v_dst);
  l_next_scalar(g, &Lo);
  l_next(g, &Lt);
  l_next(g, &Lr);
  if (ck.kind == GK_VNNI) row_sums(g, v_wr, ck.kp, l_i64(g, d.G * d.Cg), l_i64(g, ck.kp), wsum_ptr(g));
  if (gemm_ax(ck.kind, ck.kp)) gemm_ax_sums(g, v_wr, lda, d.G * d.Cg, wsum_ptr(g));
  KArgs k = {nd, i, t_acc, ck.kind != GK_PLAIN, ahead};
  if (ahead) return rq_ahead_run(g, ahead, nd->name, conv_input_body, &k);
  Val v_used = par_for(g, nd->name, g->f.v_n, g->p->maxw, conv_input_body, &k);
  return k.fuse ? v_used : NULL;
}

static Val gpart_ptr(Cg *g, Val v_wk) {
  Val v_off = l_add(g, l_i64(g, g->p->gpart.off),
                    l_mul(g, LLVMBuildZExt(g->b, v_wk, g->t_i64, ""), l_i64(g, g->p->gpart_bytes), ""), "");
  return l_gep(g, g->t_i8, g->f.v_work, v_off, "gpart");
}

/* The weight gradient with the taps in the lanes (vpermb targets, few
 * output channels: LeNet-5's c1 would use 6 of 16 lanes the other way),
 * where that needs fewer tile rows times panels: part[g, o, k] += sum_p
 * e[o, p] x(k, p), A = the error's rows, B's panels built by taps_panels
 * (im2col.c) without colT, or their words in the tile (convtile.c). Worker
 * scratch: the panels, then the row sums of e (within the colT layout's
 * bound, as Og < Kc). */
static bool wgrad_taps_in_lanes(Cg *g, const Node *nd, const ConvDims *d) {
  GemmKind kind = gemm_kind(g, d->P);
  if ((!g->vbmi && kind != GK_UBS) || kind == GK_PLAIN || npanels(d->Kc) > 8) return false;
  if (d->Og * npanels(d->Kc) >= d->Kc * npanels(d->Og) || d->Og >= d->Kc) return false;
  return taps_panels_fit(nd, d);
}

static void conv_weight_lanes_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  const KArgs *k = u;
  const Node *nd = k->nd;
  ConvDims d = conv_dims(g, nd);
  int64_t PH = d.IH + 2 * nd->ph, PW = d.IW + 2 * nd->pw;
  GemmKind kind = gemm_kind(g, d.P);
  Val v_x = act_ptr(g, nd->in[0]), v_e = err_ptr(g, k->i), v_col = col_ptr(g, v_wk), v_part = gpart_ptr(g, v_wk);
  Val v_sum = l_gep(g, g->t_i8, v_col, l_i64(g, rup(panel_bytes(d.Kc, d.P), 64)), "e.sum");
  Val v_pad = pad_ptr(g, v_col, d.Cg * PH * PW);
  bool tile = kind == GK_VNNI && taps_tile_fits(g, &d, k->t_acc);
  l_zero(g, k->t_acc, v_part, l_i64(g, nd->nweights));
  Loop Lb = l_for(g, v_lo, v_hi, "b");
  Loop Lg = l_for(g, l_i64(g, 0), l_i64(g, d.G), "grp");
  Val v_eg = l_gep(g, g->t_i8, v_e,
                   l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, d.O), ""), l_mul(g, Lg.v_i, l_i64(g, d.Og), ""), ""),
                         l_i64(g, d.P), ""),
                   "e.bg");
  Val v_partg = l_gep(g, k->t_acc, v_part, l_mul(g, Lg.v_i, l_i64(g, d.Og * d.Kc), ""), "part.g");
  pad_copy(g, v_x, Lb.v_i, l_mul(g, Lg.v_i, l_i64(g, d.Cg), ""), d.IC, d.Cg, d.IH, d.IW, nd->ph, nd->pw, v_pad);
  if (kind == GK_VNNI) row_sums(g, v_eg, d.P, l_i64(g, d.Og), l_i64(g, d.P), v_sum);
  if (tile) { /* the panel words built in the tile (convtile.c) */
    taps_tile(g, nd, &d, v_pad, v_eg, v_sum, v_partg);
  } else {
    taps_panels(g, nd, &d, v_pad, v_col, gemm_panel_bias(kind));
    Gemm G = {0};
    G.v_A = v_eg;
    G.lda = d.P, G.v_asum = v_sum, G.v_P = v_col;
    G.v_C = v_partg;
    G.ldc = d.Kc, G.v_M = l_i64(g, d.Og), G.v_N = l_i64(g, d.Kc), G.v_K = l_i64(g, d.P);
    G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(d.Kc)), G.t_acc = k->t_acc, G.accumulate = true;
    G.kind = kind;
    G.ub = gemm_nonneg(g, kind, nd->in[0], false); /* the input's taps */
    gemm_reading(g, &G, nd->in[0], false);
  }
  l_next(g, &Lg);
  l_next(g, &Lb);
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
  G.v_B = l_gep(g, g->t_i8, v_e,
                l_mul(g, l_add(g, l_mul(g, Lb.v_i, l_i64(g, d.O), ""), l_mul(g, Lg.v_i, l_i64(g, d.Og), ""), ""),
                      l_i64(g, d.P), ""),
                "e.bg");
  G.sn = d.P, G.sk = 1;
  G.v_P = l_gep(g, g->t_i8, v_col, l_i64(g, off_pan), "e.pan");
  G.v_C = l_gep(g, k->t_acc, v_part, l_mul(g, Lg.v_i, l_i64(g, d.Og * d.Kc), ""), "part.g");
  G.ldc = d.Og, G.v_M = l_i64(g, d.Kc), G.v_N = l_i64(g, d.Og), G.v_K = l_i64(g, d.P);
  G.v_j0 = l_i64(g, 0), G.v_j1 = l_i64(g, npanels(d.Og)), G.t_acc = k->t_acc, G.accumulate = true;
  G.kind = gemm_kind(g, d.P);
  G.ua = gemm_nonneg(g, G.kind, nd->in[0], true); /* colT: the input's taps */
  if (G.kind == GK_VNNI && !G.ua) row_sums(g, G.v_A, d.P, G.v_M, G.v_K, G.v_asum);
  gemm_reading(g, &G, nd->in[0], true);
  l_next(g, &Lg);
  l_next(g, &Lb);
}

/* The sum of the workers' partial weight gradients into g32:
 *   g32[gi*Og + o, k] = sum_{w < used} part_w[gi, k, o]   (colT as A)
 *   g32[gi*Og + o, k] = sum_{w < used} part_w[gi, o, k]   (taps in the lanes)
 * exact in any order. Split by rows of g32 (the update then splits g32 by
 * elements in the same order), in blocks of WSUM_TILE rows where the
 * transposed layout goes through 16 x 16 tiles (l_transpose16; with a
 * vector unit, Cg.simd): read one k
 * at a time at a stride of Og, the partials were the largest serial cost of
 * vgg_small's step. Small gradients are summed by the caller alone, where a
 * parallel region would cost more than it splits. */
enum { WSUM_TILE = 16, WSUM_PARALLEL = 16384 };

typedef struct WSum {
  ConvDims d;
  Ty t_g;
  bool lanes; /* part is laid out like g32 */
  bool tiled; /* units are blocks of WSUM_TILE rows, transposed by tiles (i32) */
} WSum;

/* void nit_wsum.tiles(g32, part0, part_bytes, used, Og, Kc, u0, u1): row
 * blocks [u0, u1) of the transposed sum, i32, Og a multiple of 16 (the
 * columns past Kc's last whole 16 one k at a time);
 * worker w's partial at part0 + w * part_bytes. One function for every
 * layer, emitted on first use. */
static void wsum_tiles(Cg *g, Val v_g, Val v_used, const ConvDims *d, Val v_u0, Val v_u1) {
  static const char name[] = "nit_wsum.tiles";
  Ty pt[] = {g->t_ptr, g->t_ptr, g->t_i64, g->t_i64, g->t_i64, g->t_i64, g->t_i64, g->t_i64};
  Ty ft = LLVMFunctionType(g->t_void, pt, 8, 0);
  Val f = LLVMGetNamedFunction(g->mod, name);
  if (!f) {
    Aside saved = l_aside(g);
    f = l_begin_loop_fn(g, name, ft);
    Val v_gp = l_param(g, 0, "g32"), v_p0 = l_param(g, 1, "part0"), v_pb = l_param(g, 2, "part.bytes");
    Val v_n = l_param(g, 3, "used"), v_Og = l_param(g, 4, "Og"), v_Kc = l_param(g, 5, "Kc");
    Ty t_v = LLVMVectorType(g->t_i32, WSUM_TILE);
    Val var[WSUM_TILE], v[WSUM_TILE];
    for (int r = 0; r < WSUM_TILE; r++) var[r] = l_var(g, t_v, "sum.var", NULL);
    Loop Lu = l_for(g, l_param(g, 6, "u0"), l_param(g, 7, "u1"), "u");
    Val v_row0 = l_mul(g, Lu.v_i, l_i64(g, WSUM_TILE), "row0");
    Val v_gi = LLVMBuildSDiv(g->b, v_row0, v_Og, "grp");
    Val v_o0 = l_sub(g, v_row0, l_mul(g, v_gi, v_Og, ""), "o0");
    Val v_base = l_add(g, l_mul(g, l_mul(g, v_gi, v_Og, ""), v_Kc, ""), v_o0, "");
    Loop Lk = l_for(g, l_i64(g, 0), LLVMBuildSDiv(g->b, v_Kc, l_i64(g, WSUM_TILE), ""), "kt");
    Val v_k0 = l_mul(g, Lk.v_i, l_i64(g, WSUM_TILE), "k0");
    for (int r = 0; r < WSUM_TILE; r++) l_set(g, var[r], LLVMConstNull(t_v));
    Loop Lw = l_for(g, l_i64(g, 0), v_n, "wk");
    Val v_part = l_gep(g, g->t_i8, v_p0, l_mul(g, Lw.v_i, v_pb, ""), "part");
    for (int r = 0; r < WSUM_TILE; r++) { /* part[gi, k0 + r, o0 .. o0 + 15] */
      Val v_at = l_add(g, v_base, l_mul(g, l_add(g, v_k0, l_i64(g, r), ""), v_Og, ""), "");
      Val v_p = LLVMBuildLoad2(g->b, t_v, l_gep(g, g->t_i32, v_part, v_at, ""), "p");
      LLVMSetAlignment(v_p, 4);
      l_set(g, var[r], l_add(g, l_get(g, t_v, var[r], ""), v_p, "sum"));
    }
    l_next(g, &Lw);
    for (int r = 0; r < WSUM_TILE; r++) v[r] = l_get(g, t_v, var[r], "sum");
    l_transpose16(g, v);
    for (int j = 0; j < WSUM_TILE; j++) { /* g32[row0 + j, k0 .. k0 + 15] */
      Val v_at = l_add(g, l_mul(g, l_add(g, v_row0, l_i64(g, j), ""), v_Kc, ""), v_k0, "");
      LLVMSetAlignment(LLVMBuildStore(g->b, v[j], l_gep(g, g->t_i32, v_gp, v_at, "")), 4);
    }
    l_next(g, &Lk);
    /* the columns past the last whole tile: a vector of the 16 rows per k */
    Loop Lr = l_for(g, l_mul(g, LLVMBuildSDiv(g->b, v_Kc, l_i64(g, WSUM_TILE), ""), l_i64(g, WSUM_TILE), ""), v_Kc,
                    "kr");
    l_set(g, var[0], LLVMConstNull(t_v));
    Loop Lw2 = l_for(g, l_i64(g, 0), v_n, "wk");
    Val v_at = l_add(g, v_base, l_mul(g, Lr.v_i, v_Og, ""), "");
    Val v_p = LLVMBuildLoad2(g->b, t_v, l_gep(g, g->t_i32, l_gep(g, g->t_i8, v_p0, l_mul(g, Lw2.v_i, v_pb, ""), ""),
                                              v_at, ""), "p");
    LLVMSetAlignment(v_p, 4);
    l_set(g, var[0], l_add(g, l_get(g, t_v, var[0], ""), v_p, "sum"));
    l_next(g, &Lw2);
    Val v_col = l_get(g, t_v, var[0], "col");
    for (int j = 0; j < WSUM_TILE; j++)
      l_store(g, g->t_i32, LLVMBuildExtractElement(g->b, v_col, l_i32(g, j), ""), v_gp,
              l_add(g, l_mul(g, l_add(g, v_row0, l_i64(g, j), ""), v_Kc, ""), Lr.v_i, ""));
    l_next(g, &Lr);
    l_next(g, &Lu);
    LLVMBuildRetVoid(g->b);
    l_back(g, saved);
  }
  Val args[] = {v_g, gpart_ptr(g, l_i32(g, 0)), l_i64(g, g->p->gpart_bytes), v_used,
                l_i64(g, d->Og), l_i64(g, d->Kc), v_u0, v_u1};
  l_call(g, ft, f, args, 8, "");
}

static void wsum_row(Cg *g, const WSum *s, Val v_g, Val v_row, Val v_used) {
  const ConvDims *d = &s->d;
  Val v_gi = LLVMBuildSDiv(g->b, v_row, l_i64(g, d->Og), "grp");
  Val v_o = l_sub(g, v_row, l_mul(g, v_gi, l_i64(g, d->Og), ""), "o");
  Val v_base = l_mul(g, v_gi, l_i64(g, d->Og * d->Kc), "");
  Val v_grow = l_gep(g, s->t_g, v_g, l_mul(g, v_row, l_i64(g, d->Kc), ""), "g.row");
  l_zero(g, s->t_g, v_grow, l_i64(g, d->Kc));
  Loop Lw = l_for(g, l_i64(g, 0), v_used, "wk");
  Val v_part = gpart_ptr(g, l_trunc(g, Lw.v_i, g->t_i32, ""));
  Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, d->Kc), "k");
  Val v_pi = s->lanes ? l_add(g, l_mul(g, v_row, l_i64(g, d->Kc), ""), Lk.v_i, "pidx")
                      : l_add(g, v_base, l_add(g, l_mul(g, Lk.v_i, l_i64(g, d->Og), ""), v_o, ""), "pidx");
  Val v_sum = l_add(g, l_load(g, s->t_g, v_grow, Lk.v_i, "g"), l_load(g, s->t_g, v_part, v_pi, "p"), "g.new");
  l_store(g, s->t_g, v_sum, v_grow, Lk.v_i);
  l_next_rolled(g, &Lk); /* unrolled by 8 behind its vector loop, LSR took 0.01-0.03 s on it */
  l_next(g, &Lw);
}

/* Units [lo, hi) of the sum: blocks of WSUM_TILE rows, or rows. */
static void wsum_units(Cg *g, const WSum *s, Val v_lo, Val v_hi, Val v_used) {
  Val v_g = grad_ptr(g);
  if (s->tiled) {
    wsum_tiles(g, v_g, v_used, &s->d, v_lo, v_hi);
    return;
  }
  Loop Lu = l_for(g, v_lo, v_hi, "u");
  wsum_row(g, s, v_g, Lu.v_i, v_used);
  l_next(g, &Lu); /* rolled: it holds loops (unrolled, LeNet-5's c1 sum was 800 lines of IR) */
}

static void wsum_body(Cg *g, const void *u, Val v_lo, Val v_hi, Val v_wk) {
  (void)v_wk;
  wsum_units(g, u, v_lo, v_hi, LLVMBuildZExt(g->b, par_arg(g), g->t_i64, "used"));
}

void conv_backward_weight(Cg *g, int i, Ty t_g) {
  const Node *nd = &g->m->nodes[i];
  ConvDims d = conv_dims(g, nd);
  KArgs k = {nd, i, t_g, false, NULL};
  bool lanes = wgrad_taps_in_lanes(g, nd, &d);
  Val v_used = par_for(g, nd->name, g->f.v_n, g->p->maxw, lanes ? conv_weight_lanes_body : conv_weight_body, &k);
  WSum s = {d, t_g, lanes, false};
  s.tiled = !lanes && g->simd && t_g == g->t_i32 && d.Og % WSUM_TILE == 0;
  int64_t units = s.tiled ? d.G * d.Og / WSUM_TILE : d.G * d.Og;
  if (nd->nweights < WSUM_PARALLEL || g->p->maxw == 1) {
    wsum_units(g, &s, l_i64(g, 0), l_i64(g, units), LLVMBuildZExt(g->b, v_used, g->t_i64, "used"));
    return;
  }
  par_arg_set(g, v_used);
  char name[128];
  snprintf(name, sizeof name, "%s.wsum", nd->name);
  par_for(g, name, l_i64(g, units), g->p->maxw, wsum_body, &s);
}
