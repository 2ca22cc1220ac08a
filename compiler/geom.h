/*
 * geom.h: the geometry that the memory plan (plan.c) and the code generator
 * (cg/) must agree on: how GEMM operands are packed into panels. plan.c sizes
 * scratch with these functions and cg/gemm.c, cg/conv.c and cg/dense.c lay
 * bytes out with them, so a change here changes both sides at once.
 *
 * A packed B operand of an (N, K) product is ceil(N / PL) panels of PL
 * columns; a panel holds K rounded up to whole 4-byte words per column, k-quad
 * interleaved: byte (n, k) at panel n / PL, offset (k / 4) * 64 + (n % PL) * 4
 * + k % 4. A conv's K is (ky, kx, c) with each ky segment of KW * C bytes
 * padded to whole words.
 */
#ifndef GEOM_H
#define GEOM_H

#include <stdint.h>

#define PL         16 /* columns per panel */
#define SLAB_ALIGN 64 /* every slab area starts on a cache line */

static inline int64_t rup(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
static inline int64_t npanels(int64_t N) { return (N + PL - 1) / PL; }
/* bytes of the panels of an (N, K) operand */
static inline int64_t panel_bytes(int64_t N, int64_t K) { return npanels(N) * PL * rup(K, 4); }
/* A dense forward split by samples (plan's fwd_rows): per worker the row
 * sums of A (B i32), then every panel of w (O, I) */
static inline int64_t fwd_rows_panels_at(int64_t B) { return rup(B * 4, SLAB_ALIGN); }
static inline int64_t fwd_rows_bytes(int64_t B, int64_t O, int64_t I) { return fwd_rows_panels_at(B) + panel_bytes(O, I); }
/* A col2im input error (plan's col2im): the weights transposed to rows of
 * Og bytes padded to words, and per worker the (Kc, P) product of
 * acc-width elements in rows of whole panels (its GEMM stores every panel
 * in full: no masked store), then e's panels (panel_bytes(P, Og)) */
static inline int64_t col2im_lda(int64_t Og) { return rup(Og, 4); }
static inline int64_t col2im_ldc(int64_t P) { return rup(P, PL); }
/* A signed A stored split (cg/gemm.c, Gemm.ax): each row's lda bytes of
 * magnitudes, then as many of sign masks */
static inline int64_t ax_lda(int64_t lda) { return 2 * lda; }
static inline int64_t col2im_product_bytes(int64_t Kc, int64_t P, int64_t accw) {
  return rup(Kc * col2im_ldc(P) * accw, SLAB_ALIGN);
}
/* A conv input error by kernel rows (cg/conv.c, krows): per worker the
 * error's quad-major copy, Og x OH rows of OW + 2 (KW - 1 - pw) pixels,
 * 64 bytes its panel reads may run past it, then the (Cg KH, OH NP) i32
 * product with NP = IW rounded up to whole panels */
static inline int64_t krows_np(int64_t IW) { return rup(IW, PL); }
static inline int64_t krows_copy_bytes(int64_t Og, int64_t OH, int64_t OW, int64_t KW, int64_t pw) {
  return rup(Og * OH * (OW + 2 * (KW - 1 - pw)), SLAB_ALIGN) + SLAB_ALIGN;
}
static inline int64_t krows_bytes(int64_t Cg, int64_t Og, int64_t KH, int64_t KW, int64_t OH, int64_t OW,
                                  int64_t IW, int64_t pw) {
  return krows_copy_bytes(Og, OH, OW, KW, pw) + Cg * KH * OH * krows_np(IW) * 4;
}
/* Bytes after a worker's zero-bordered copy of a sample (the end of its
 * col slice) that vector reads may run into: whole-word and 64-byte gather
 * windows, 128-byte shuffle windows (cg/im2col.c) */
#define PAD_SLACK 128
/* K of a conv GEMM whose ky segments hold seg bytes each, padded to words */
static inline int64_t conv_kpad(int64_t KH, int64_t seg) { return KH * rup(seg, 4); }
/* A requantization that rounds ahead (plan's ahead) keeps one sample's
 * accumulators per worker: bytes bytes, in a slice of this many */
static inline int64_t ahead_slice(int64_t bytes) { return rup(bytes, SLAB_ALIGN); }

#endif
