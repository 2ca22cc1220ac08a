/*
 * im2col.c: the B operands of the conv GEMMs (conv.c), built per sample and
 * group in the worker's scratch slice of plan->col: a zero-bordered copy of
 * the sample's planes (planar or channels-last) at the slice's end, then
 * panels straight from it (pack_direct: 16 x 4 word transposes; pack_gather:
 * vpermb with K unpadded per segment; pack_gather4: the same K by 16-byte
 * shuffles of groups of four rows), or rows (colT for the weight
 * gradient, ecol for the input error) that gemm.c packs, or a quad-major
 * copy that the GEMM reads in place (quad_copy: implicit panels, and the
 * input error by kernel rows, krows_begin). Every form holds
 * the same bytes in the same (n, k) places; which one a layer uses changes
 * only speed (docs/performance.md, "Convolution panels without an im2col
 * matrix").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

ConvDims conv_dims(Cg *g, const Node *nd) {
  const Shape *is = &g->m->nodes[nd->in[0]].out, *os = &nd->out;
  ConvDims d;
  d.O = nd->wshape[0];
  d.Cg = nd->wshape[1];
  d.KH = nd->kh;
  d.KW = nd->kw;
  d.G = nd->groups;
  d.Og = d.O / d.G;
  d.IC = is->c, d.IH = is->h, d.IW = is->w, d.OH = os->h, d.OW = os->w;
  d.P = d.OH * d.OW;
  d.Kc = d.Cg * d.KH * d.KW;
  d.Ke = d.Og * d.KH * d.KW;
  return d;
}

/* This worker's scratch slice of plan->col. */
Val col_ptr(Cg *g, Val v_wk) {
  Val v_off = l_add(g, l_i64(g, g->p->col.off),
                    l_mul(g, LLVMBuildZExt(g->b, v_wk, g->t_i64, ""), l_i64(g, g->p->col_bytes), ""), "");
  return l_gep(g, g->t_i8, g->f.v_work, v_off, "col");
}

/* The padded copy of this worker's slice: `bytes` at its end, followed by
 * PAD_SLACK bytes (vector reads may run past the copy). */
Val pad_ptr(Cg *g, Val v_col, int64_t bytes) {
  int64_t off = g->p->col_bytes - rup(bytes + PAD_SLACK, 64);
  return l_gep(g, g->t_i8, v_col, l_i64(g, off), "pad");
}

/* dst (C, H + 2 py, W + 2 px) = channels [c0, c0 + C) of sample b of a
 * (n, Ctot, H, W) tensor, with a zero border: the im2col loops below then
 * read every tap without a bounds test. */

void pad_copy(Cg *g, Val v_src, Val v_b, Val v_c0, int64_t Ctot, int64_t C, int64_t H, int64_t W, int64_t py,
              int64_t px, Val v_dst) {
  int64_t PH = H + 2 * py, PW = W + 2 * px;
  LLVMBuildMemSet(g->b, v_dst, LLVMConstNull(g->t_i8), l_i64(g, C * PH * PW), 1);
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "pc");
  Val v_plane =
      l_mul(g, l_add(g, l_mul(g, v_b, l_i64(g, Ctot), ""), l_add(g, v_c0, Lc.v_i, ""), ""), l_i64(g, H * W), "");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, H), "py");
  Val v_s = l_gep(g, g->t_i8, v_src, l_add(g, v_plane, l_mul(g, Ly.v_i, l_i64(g, W), ""), ""), "src.row");
  Val v_d = l_gep(g, g->t_i8, v_dst,
                  l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, PH), ""), Ly.v_i, ""), l_i64(g, PW), ""),
                        l_i64(g, py * PW + px), ""),
                  "dst.row");
  LLVMBuildMemCpy(g->b, v_d, 1, v_s, 1, l_i64(g, W));
  l_next(g, &Ly);
  l_next(g, &Lc);
}

static void seg_store(Cg *g, const SegDst *S, Val v_src, Val v_r, Val v_ky, int64_t seg) {
  Val v_dst = l_add(g, l_mul(g, v_r, l_i64(g, S->kp), ""), l_mul(g, v_ky, l_i64(g, S->segp), ""), "");
  LLVMBuildMemCpy(g->b, l_gep(g, g->t_i8, S->v_dst, v_dst, ""), 1, v_src, 1, l_i64(g, seg));
}

/* Panels straight from a channels-last padded copy: row r = (y, x) =
 * divmod(r, W) of B starts at base + (y*sy*RW + x*sx)*C + ky0, and its
 * segment ky (segp bytes, contiguous) at that plus ky*kystep. Per panel and
 * segment, each 16-byte block of its 16 rows is a 16 x 4 word transpose into
 * four quad rows; the 1..3 words left of a segment go as a 16 x 2 and a
 * 16 x 1 block. Rows past
 * N (last panel) repeat row N-1; their lanes are never stored. Bytes read
 * past a segment's seg real bytes meet zeros in A. */
typedef struct RowSrc {
  Val v_base;
  int64_t W, sy, sx, RW, C, ky0, kystep, KH, segp;
} RowSrc;

/* Panel words (a vector of i32 quads) biased for the kernel (b ^ 0x80 on
 * vnni); store_quads stores them at byte v_off of v_pan. */
static Val bias_quads(Cg *g, Val v_q, uint32_t bias) {
  if (!bias) return v_q;
  return LLVMBuildXor(g->b, v_q, l_splat(g, l_i32(g, (int64_t)bias), LLVMGetVectorSize(LLVMTypeOf(v_q)), ""),
                      "quads.u8");
}
static void store_quads(Cg *g, Val v_q, uint32_t bias, Val v_pan, Val v_off) {
  LLVMSetAlignment(LLVMBuildStore(g->b, bias_quads(g, v_q, bias), l_gep(g, g->t_i8, v_pan, v_off, "")), 4);
}

/* 64 bytes picked from the 128 at v_at by a constant index (vpermi2b on
 * vpermb targets); the reads run up to 127 bytes past v_at (PAD_SLACK). */
static Val window_shuffle(Cg *g, Val v_at, Val *idx, const char *name) {
  Ty t_b = LLVMVectorType(g->t_i8, 64);
  Val v_lo = LLVMBuildLoad2(g->b, t_b, v_at, "win.lo");
  Val v_hi = LLVMBuildLoad2(g->b, t_b, l_gep(g, g->t_i8, v_at, l_i64(g, 64), ""), "win.hi");
  LLVMSetAlignment(v_lo, 1), LLVMSetAlignment(v_hi, 1);
  return LLVMBuildShuffleVector(g->b, v_lo, v_hi, LLVMConstVector(idx, 64), name);
}

/* The n words at byte v_kyoff + v_off of each of the 16 rows. */
static void load_rows(Cg *g, Val *v_row, Val v_kyoff, Val v_off, int n, Val v_q[16]) {
  Ty t_q = LLVMVectorType(g->t_i32, (unsigned)n);
  for (int l = 0; l < 16; l++) {
    v_q[l] = LLVMBuildLoad2(g->b, t_q, l_gep(g, g->t_i8, v_row[l], l_add(g, v_kyoff, v_off, ""), ""), "row.q");
    LLVMSetAlignment(v_q[l], 1);
  }
}

/* One block of bw words (bw = 4, 2 or 1) at byte v_off of segment ky for
 * the 16 rows: a 16 x bw word transpose into bw quad rows of 64 bytes. */
static void pack_block_wide(Cg *g, Val *v_row, Val v_kyoff, Val v_dseg, Val v_off, int bw, uint32_t bias) {
  Ty t_all = LLVMVectorType(g->t_i32, (unsigned)(16 * bw));
  Val v_q[16], idx[64];
  load_rows(g, v_row, v_kyoff, v_off, bw, v_q);
  for (int n = 16; n > 1; n /= 2) /* concatenate: v_q[0] = the 16 bw words, row-major */
    for (int t = 0; t < n / 2; t++) v_q[t] = l_lanes(g, v_q[2 * t], v_q[2 * t + 1], 0, bw * (16 / n) * 2, 1, "cat");
  for (int w = 0; w < bw; w++)
    for (int l = 0; l < 16; l++) idx[w * 16 + l] = l_i32(g, l * bw + w);
  Val v_t =
      LLVMBuildShuffleVector(g->b, v_q[0], LLVMGetUndef(t_all), LLVMConstVector(idx, (unsigned)(16 * bw)), "quads");
  store_quads(g, v_t, bias, v_dseg, l_mul(g, v_off, l_i64(g, 16), "")); /* word w of the segment at 64 w */
}

/* pack_block where a register holds W = 4 or 8 words (x86 with SSE2 or
 * AVX2), for bw = 1..4: the rows' four words at v_off go through 4 x 4
 * transposes inside each 128-bit lane (interleave words, then word pairs),
 * shuffles the code generator selects as one instruction each. The
 * 16 * bw-lane shuffle of pack_block_wide is split by its type legalizer
 * instead: it cost resnet_l1 7% of its compile's instructions on AVX2, and
 * its loop 25 more instructions. Vector A_i holds rows i, 4 + i, ... of a
 * group of W rows, one per 128-bit lane; after the transpose vector w holds
 * word w of the group's rows in order: W consecutive words of quad row w.
 * Only the bw quad rows of the block are stored; the 4 - bw words read past
 * it (within the copy or PAD_SLACK) are dropped. */
static void pack_block_lanes(Cg *g, Val *v_row, Val v_kyoff, Val v_dseg, Val v_off, int bw, uint32_t bias) {
  int W = g->madd_bits / 32;
  NIT_ASSERT(W == 4 || W == 8);
  Val v_q[16], lo1[8], hi1[8], lo2[8], hi2[8];
  load_rows(g, v_row, v_kyoff, v_off, 4, v_q);
  for (int b = 0; b < W / 4; b++) /* per 128-bit lane: words, then word pairs */
    for (int j = 0; j < 2; j++) {
      lo1[4 * b + 2 * j] = l_i32(g, 4 * b + j), lo1[4 * b + 2 * j + 1] = l_i32(g, W + 4 * b + j);
      hi1[4 * b + 2 * j] = l_i32(g, 4 * b + 2 + j), hi1[4 * b + 2 * j + 1] = l_i32(g, W + 4 * b + 2 + j);
      lo2[4 * b + j] = l_i32(g, 4 * b + j), lo2[4 * b + 2 + j] = l_i32(g, W + 4 * b + j);
      hi2[4 * b + j] = l_i32(g, 4 * b + 2 + j), hi2[4 * b + 2 + j] = l_i32(g, W + 4 * b + 2 + j);
    }
  Val v_lo1 = LLVMConstVector(lo1, (unsigned)W), v_hi1 = LLVMConstVector(hi1, (unsigned)W);
  Val v_lo2 = LLVMConstVector(lo2, (unsigned)W), v_hi2 = LLVMConstVector(hi2, (unsigned)W);
  Val v_quad0 = l_mul(g, v_off, l_i64(g, 16), "quad0"); /* word w of the segment at 64 w */
  for (int grp = 0; grp < 16 / W; grp++) {
    Val v_a[4], v_t[4], v_o[4];
    for (int i = 0; i < 4; i++)
      v_a[i] = W == 4 ? v_q[4 * grp + i] : l_lanes(g, v_q[8 * grp + i], v_q[8 * grp + 4 + i], 0, 8, 1, "rows");
    for (int i = 0; i < 2; i++) {
      v_t[2 * i] = LLVMBuildShuffleVector(g->b, v_a[2 * i], v_a[2 * i + 1], v_lo1, "zip.w");
      v_t[2 * i + 1] = LLVMBuildShuffleVector(g->b, v_a[2 * i], v_a[2 * i + 1], v_hi1, "zip.w");
    }
    v_o[0] = LLVMBuildShuffleVector(g->b, v_t[0], v_t[2], v_lo2, "word");
    v_o[1] = LLVMBuildShuffleVector(g->b, v_t[0], v_t[2], v_hi2, "word");
    v_o[2] = LLVMBuildShuffleVector(g->b, v_t[1], v_t[3], v_lo2, "word");
    v_o[3] = LLVMBuildShuffleVector(g->b, v_t[1], v_t[3], v_hi2, "word");
    for (int w = 0; w < bw; w++)
      store_quads(g, v_o[w], bias, v_dseg, l_add(g, v_quad0, l_i64(g, 64 * w + 4 * W * grp), ""));
  }
}

/* x86 below AVX-512 transposes by 128-bit lanes. With AVX-512 the
 * 16 * bw-lane shuffle is a few vpermt2d; on AArch64 and RISC-V the lanes
 * took longer to compile (resnet_l1: +10% and +6% CPU) and were not timed
 * there. */
static bool blocks_by_lanes(const Cg *g) { return g->x86 && (g->madd_bits == 128 || g->madd_bits == 256); }

/* The bw = 1..4 words at byte v_off of segment ky: one block by lanes, or
 * wide blocks of 4, 2 and 1 words, as bw's bits say. */
static void pack_block(Cg *g, Val *v_row, Val v_kyoff, Val v_dseg, Val v_off, int bw, uint32_t bias) {
  if (blocks_by_lanes(g)) {
    pack_block_lanes(g, v_row, v_kyoff, v_dseg, v_off, bw, bias);
    return;
  }
  for (int w = 4, at = 0; w >= 1; w /= 2)
    if (bw & w) {
      pack_block_wide(g, v_row, v_kyoff, v_dseg, at ? l_add(g, v_off, l_i64(g, 4 * at), "") : v_off, w, bias);
      at += w;
    }
}

static void pack_direct(Cg *g, const RowSrc *R, int64_t N, Val v_pan, uint32_t bias) {
  int64_t kp = R->KH * R->segp, ps = kp / 4 * 64;
  Loop Lj = l_for(g, l_i64(g, 0), l_i64(g, npanels(N)), "pj");
  Val v_row[16];
  for (int l = 0; l < 16; l++) {
    Val v_r = l_smin(g, l_add(g, l_mul(g, Lj.v_i, l_i64(g, 16), ""), l_i64(g, l), ""), l_i64(g, N - 1), "r");
    Val v_y = LLVMBuildUDiv(g->b, v_r, l_i64(g, R->W), "y"), v_x = LLVMBuildURem(g->b, v_r, l_i64(g, R->W), "x");
    Val v_off = l_mul(g, l_add(g, l_mul(g, v_y, l_i64(g, R->sy * R->RW), ""), l_mul(g, v_x, l_i64(g, R->sx), ""), ""),
                      l_i64(g, R->C), "");
    v_row[l] = l_gep(g, g->t_i8, R->v_base, l_add(g, v_off, l_i64(g, R->ky0), ""), "row");
    if (g->x86) v_row[l] = l_opaque_ptr(g, v_row[l], "row"); /* reads at row + ky offset + constant */
  }
  Val v_dst = l_gep(g, g->t_i8, v_pan, l_mul(g, Lj.v_i, l_i64(g, ps), ""), "pan.j");
  Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, R->KH), "ky");
  Val v_kyoff = l_mul(g, Lk.v_i, l_i64(g, R->kystep), "ky.off");
  Val v_dseg = l_gep(g, g->t_i8, v_dst, l_mul(g, Lk.v_i, l_i64(g, R->segp / 4 * 64), ""), "pan.seg");
  /* blocks of 4 words, in a loop when there are more than 4 (wide segments
   * have dozens: as straight code they made the function grow with the
   * channels), then the words left (pack_block) */
  int64_t words = R->segp / 4, off = words / 4 * 16;
  if (words / 4 <= 4) {
    for (int64_t n = 0; n < words / 4; n++) pack_block(g, v_row, v_kyoff, v_dseg, l_i64(g, 16 * n), 4, bias);
  } else {
    Loop Lb = l_for(g, l_i64(g, 0), l_i64(g, words / 4), "blk");
    pack_block(g, v_row, v_kyoff, v_dseg, l_mul(g, Lb.v_i, l_i64(g, 16), "blk.off"), 4, bias);
    l_next_rolled(g, &Lb);
  }
  if (words % 4) { /* the 1..3 words left */
    pack_block(g, v_row, v_kyoff, v_dseg, l_i64(g, off), (int)(words % 4), bias);
    off += 4 * (words % 4);
  }
  NIT_ASSERT(off == R->segp);
  l_next(g, &Lk);
  l_next(g, &Lj);
}

/* Channels-last by byte shuffles (vpermb), for few planes: a row's W*C
 * output bytes in blocks of 64. Byte o = x*C + c of block k comes from
 * plane c at pixel x, and the block's pixels lie in [x0, x0 + 64) with
 * x0 = floor(64 k / C): per plane one masked load of that window (nothing
 * past the row is read) and one shuffle into the plane's lanes of the
 * block. A row's last, partial block is a masked store. The blocks of a
 * row are unrolled: at most CL_SHUFFLE_BLOCKS, each C shuffles. */
#define CL_SHUFFLE_C      16
#define CL_SHUFFLE_BLOCKS 8
static bool copy_cl_shuffles(const Cg *g, int64_t C, int64_t W) {
  return g->vbmi && C <= CL_SHUFFLE_C && (W * C + 63) / 64 <= CL_SHUFFLE_BLOCKS;
}

static void copy_cl_shuffled(Cg *g, Val v_src, Val v_plane0, int64_t C, int64_t H, int64_t W, int64_t py,
                             int64_t px, Val v_dst) {
  int64_t PW = W + 2 * px;
  Ty t_b = LLVMVectorType(g->t_i8, 64);
  Val v_row0 = l_mul(g, v_plane0, l_i64(g, H * W), "plane0");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, H), "y");
  Val v_srow = l_gep(g, g->t_i8, v_src, l_add(g, v_row0, l_mul(g, Ly.v_i, l_i64(g, W), ""), ""), "src.row");
  Val v_drow = l_gep(
      g, g->t_i8, v_dst,
      l_mul(g, l_add(g, l_mul(g, l_add(g, Ly.v_i, l_i64(g, py), ""), l_i64(g, PW), ""), l_i64(g, px), ""), l_i64(g, C),
            ""),
      "dst.row");
  for (int64_t o0 = 0; o0 < W * C; o0 += 64) {
    int64_t n = W * C - o0 < 64 ? W * C - o0 : 64, x0 = o0 / C;
    Val v_blk = LLVMGetUndef(t_b);
    for (int64_t c = 0; c < C; c++) {
      Val idx[64];
      for (int64_t l = 0; l < 64; l++) {
        int64_t o = o0 + l;
        idx[l] = l < n && o % C == c ? l_i32(g, 64 + o / C - x0) : l_i32(g, l);
      }
      Val v_at = l_gep(g, g->t_i8, v_srow, l_i64(g, c * H * W + x0), "win");
      Val v_win = l_masked_load(g, t_b, v_at, 1, l_mask_below(g, W - x0, 64), LLVMGetUndef(t_b), "plane.win");
      v_blk = LLVMBuildShuffleVector(g->b, v_blk, v_win, LLVMConstVector(idx, 64), "cl.blk");
    }
    Val v_at = l_gep(g, g->t_i8, v_drow, l_i64(g, o0), "cl.at");
    l_store_below(g, v_blk, v_at, 1, n);
  }
  l_next(g, &Ly);
}

/* Channels-last, zero-bordered copy dst[(y + py)*PW + x + px][c] of C planes
 * starting at plane `v_plane0` of src, each H x W. */
static void copy_cl(Cg *g, Val v_src, Val v_plane0, int64_t C, int64_t H, int64_t W, int64_t py, int64_t px,
                    Val v_dst) {
  int64_t PH = H + 2 * py, PW = W + 2 * px;
  if (py || px) LLVMBuildMemSet(g->b, v_dst, LLVMConstNull(g->t_i8), l_i64(g, C * PH * PW), 1);
  if (copy_cl_shuffles(g, C, W)) {
    copy_cl_shuffled(g, v_src, v_plane0, C, H, W, py, px, v_dst);
    return;
  }
  if (C == 1) { /* channels-last is planar: a row at a time */
    Val v_plane = l_mul(g, v_plane0, l_i64(g, H * W), "plane");
    Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, H), "y");
    Val v_s = l_gep(g, g->t_i8, v_src, l_add(g, v_plane, l_mul(g, Ly.v_i, l_i64(g, W), ""), ""), "src.row");
    Val v_d = l_gep(g, g->t_i8, v_dst, l_add(g, l_mul(g, Ly.v_i, l_i64(g, PW), ""), l_i64(g, py * PW + px), ""),
                    "dst.row");
    LLVMBuildMemCpy(g->b, v_d, 1, v_s, 1, l_i64(g, W));
    l_next(g, &Ly);
    return;
  }
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, C), "c");
  Val v_plane = l_mul(g, l_add(g, v_plane0, Lc.v_i, ""), l_i64(g, H * W), "plane");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, H), "y");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, W), "x");
  Val v_v =
      l_load(g, g->t_i8, v_src, l_add(g, v_plane, l_add(g, l_mul(g, Ly.v_i, l_i64(g, W), ""), Lx.v_i, ""), ""), "v");
  Val v_pos =
      l_add(g, l_mul(g, l_add(g, Ly.v_i, l_i64(g, py), ""), l_i64(g, PW), ""), l_add(g, Lx.v_i, l_i64(g, px), ""), "");
  l_store(g, g->t_i8, v_v, v_dst, l_add(g, l_mul(g, v_pos, l_i64(g, C), ""), Lc.v_i, ""));
  l_next(g, &Lx);
  l_next_nest(g, &Ly); /* a small plane's bytes as straight code (7 x 7 in resnet_l1's conv3) */
  l_next(g, &Lc);
}

/* Implicit panels (vnni and ubs, stride 1): the forward of a conv with Cg %
 * 4 == 0 and OW % 16 == 0, and the input error (ecol_fast) with Og % 4 == 0
 * and IW % 16 == 0. The sample's input (or error) is copied quad-major into
 * the worker's scratch: x4[cq, y, x, c4] = x[4 cq + c4, y - py, x - px] ^ b
 * with b the kernel's panel bias (0x80 on vnni, none on ubs), b in the
 * border. Then the 16 output pixels of panel
 * j = (oy, ox0..ox0+15) read tap quad q = (ky, kx, cq) as 64 contiguous
 * bytes at (oy PW + ox0) 4 + off[q], off[q] = (cq PH PW + ky' PW + kx) 4,
 * in the (ky, kx, c) order of wf (the input error: (ky, t, o) of wr, with
 * ky' = KH-1-ky as in ecol_build): the GEMM reads B where it lies, and the
 * panels (KH KW times the copy's bytes) are never written. */
bool implicit_fits(const Node *nd, const ConvDims *d, bool input) {
  if (nd->sh != 1 || nd->sw != 1) return false;
  return input ? ecol_fast(nd, d) && d->Og % 4 == 0 && d->IW % PL == 0 : d->Cg % 4 == 0 && d->OW % PL == 0;
}

/* off[q] above for C channels in planes of (PH, PW), as a constant table
 * NAME.quads (NAME.equads: flipped rows, the input error's). */
static Val implicit_offsets(Cg *g, const Node *nd, int64_t C, int64_t PH, int64_t PW, bool flip) {
  int64_t CQ = C / 4, nq = nd->kh * nd->kw * CQ;
  Val *v = mem_alloc(sizeof(Val) * (size_t)nq);
  for (int64_t q = 0; q < nq; q++) {
    int64_t ky = q / (nd->kw * CQ), kx = q / CQ % nd->kw, cq = q % CQ;
    v[q] = l_i64(g, (cq * PH * PW + (flip ? nd->kh - 1 - ky : ky) * PW + kx) * 4);
  }
  char name[96];
  snprintf(name, sizeof name, "%s.%s", nd->name, flip ? "equads" : "quads");
  return l_const_array(g, g->t_i64, v, nq, name);
}

/* Before a body's samples: the copy x4 of C channels of (H, W) with a
 * border of py, px at v_dst (the worker's scratch) gets its border, every
 * byte the bias, once (quad_copy writes only the interior); returns the
 * table of tap offsets. */
Val implicit_begin(Cg *g, const Node *nd, int64_t C, int64_t H, int64_t W, int64_t py, int64_t px, bool flip,
                   uint32_t bias, Val v_dst) {
  int64_t PH = H + 2 * py, PW = W + 2 * px;
  NIT_ASSERT(C * PH * PW <= g->p->col_bytes);
  LLVMBuildMemSet(g->b, v_dst, l_i8(g, bias & 0xff), l_i64(g, C * PH * PW), 64);
  return implicit_offsets(g, nd, C, PH, PW, flip);
}

/* The input error by kernel rows (conv.c, krows): the error's quad-major
 * copy e4[oq, oy, x, o4] with rows of PW = OW + 2 tx pixels, tx = KW-1-pw
 * (quad_copy with py = 0, px = tx), its border the bias once here; tap quad
 * q = (kx, oq) of panel (oy, ix0..ix0+15) at (oy PW + ix0) 4 + off[q],
 * off[q] = (oq OH PW + KW-1-kx) 4: lane ix reads e[o, oy, ix + pw - kx].
 * Returns the table of off[q], NAME.kquads. */
Val krows_begin(Cg *g, const Node *nd, const ConvDims *d, uint32_t bias, Val v_dst) {
  int64_t tx = d->KW - 1 - nd->pw, PW = d->OW + 2 * tx, OQ = d->Og / 4, nq = d->KW * OQ;
  LLVMBuildMemSet(g->b, v_dst, l_i8(g, bias & 0xff), l_i64(g, d->Og * d->OH * PW), 64);
  Val *v = mem_alloc(sizeof(Val) * (size_t)nq);
  for (int64_t q = 0; q < nq; q++) v[q] = l_i64(g, (q % OQ * d->OH * PW + d->KW - 1 - q / OQ) * 4);
  char name[96];
  snprintf(name, sizeof name, "%s.kquads", nd->name);
  return l_const_array(g, g->t_i64, v, nq, name);
}

/* x4's interior from channels [c0, c0 + C) of a (.., H, W) tensor (c0
 * counts from the tensor's start, so it names the sample too): per quad of
 * channels and row, 16 pixels at a time as four 16-byte rows interleaved
 * into 64 bytes, the rest of the row by one masked step (AVX-512BW) or a
 * byte at a time. */
void quad_copy(Cg *g, Val v_src, Val v_c0, int64_t C, int64_t H, int64_t W, int64_t py, int64_t px, uint32_t bias,
               Val v_dst) {
  enum { V = 16 };
  int64_t PH = H + 2 * py, PW = W + 2 * px, full = W / V * V;
  Ty t_row = LLVMVectorType(g->t_i8, V);
  Val cat[2 * V], mix[4 * V], bytes[4 * V];
  for (int i = 0; i < 2 * V; i++) cat[i] = l_i32(g, i);
  for (int i = 0; i < V; i++)
    for (int c4 = 0; c4 < 4; c4++) mix[4 * i + c4] = l_i32(g, c4 * V + i);
  for (int i = 0; i < 4 * V; i++) bytes[i] = l_i8(g, bias & 0xff);
  Val v_cat = LLVMConstVector(cat, 2 * V), v_mix = LLVMConstVector(mix, 4 * V), v_bias = LLVMConstVector(bytes, 4 * V);
  Loop Lq = l_for(g, l_i64(g, 0), l_i64(g, C / 4), "cq");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, H), "y");
  Val v_row[4];
  for (int c4 = 0; c4 < 4; c4++) {
    Val v_c = l_add(g, v_c0, l_add(g, l_mul(g, Lq.v_i, l_i64(g, 4), ""), l_i64(g, c4), ""), "");
    Val v_plane_row = l_add(g, l_mul(g, v_c, l_i64(g, H), ""), Ly.v_i, "");
    v_row[c4] = l_gep(g, g->t_i8, v_src, l_mul(g, v_plane_row, l_i64(g, W), ""), "src.row");
  }
  Val v_at = l_add(g, l_mul(g, l_add(g, l_mul(g, Lq.v_i, l_i64(g, PH), ""), l_add(g, Ly.v_i, l_i64(g, py), ""), ""),
                            l_i64(g, PW), ""),
                   l_i64(g, px), "x4.row");
  Val v_drow = l_gep(g, g->t_i8, v_dst, l_mul(g, v_at, l_i64(g, 4), ""), "dst.row");
  if (full > 0) {
    Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, full / V), "xv");
    Val v_x0 = l_mul(g, Lx.v_i, l_i64(g, V), "x0"), v_r[4];
    for (int c4 = 0; c4 < 4; c4++) {
      v_r[c4] = LLVMBuildLoad2(g->b, t_row, l_gep(g, g->t_i8, v_row[c4], v_x0, ""), "ch.row");
      LLVMSetAlignment(v_r[c4], 1);
    }
    Val v_lo = LLVMBuildShuffleVector(g->b, v_r[0], v_r[1], v_cat, "");
    Val v_hi = LLVMBuildShuffleVector(g->b, v_r[2], v_r[3], v_cat, "");
    Val v_q = LLVMBuildXor(g->b, LLVMBuildShuffleVector(g->b, v_lo, v_hi, v_mix, "quads"), v_bias, "biased");
    LLVMSetAlignment(LLVMBuildStore(g->b, v_q, l_gep(g, g->t_i8, v_drow, l_mul(g, v_x0, l_i64(g, 4), ""), "")), 1);
    l_next(g, &Lx);
  }
  if (full < W && g->bw512) { /* the rest of the row as one masked step */
    int64_t n = W - full;
    Val v_r[4];
    for (int c4 = 0; c4 < 4; c4++)
      v_r[c4] = l_masked_load(g, t_row, l_gep(g, g->t_i8, v_row[c4], l_i64(g, full), ""), 1, l_mask_below(g, n, V),
                              LLVMConstNull(t_row), "ch.rest");
    Val v_lo = LLVMBuildShuffleVector(g->b, v_r[0], v_r[1], v_cat, "");
    Val v_hi = LLVMBuildShuffleVector(g->b, v_r[2], v_r[3], v_cat, "");
    Val v_q = LLVMBuildXor(g->b, LLVMBuildShuffleVector(g->b, v_lo, v_hi, v_mix, "quads"), v_bias, "biased");
    l_store_below(g, v_q, l_gep(g, g->t_i8, v_drow, l_i64(g, 4 * full), ""), 1, 4 * n);
  } else if (full < W) {
    Loop Lx = l_for(g, l_i64(g, full), l_i64(g, W), "xs");
    for (int c4 = 0; c4 < 4; c4++) {
      Val v_v = LLVMBuildXor(g->b, l_load(g, g->t_i8, v_row[c4], Lx.v_i, "v"), l_i8(g, bias & 0xff), "");
      l_store(g, g->t_i8, v_v, v_drow, l_add(g, l_mul(g, Lx.v_i, l_i64(g, 4), ""), l_i64(g, c4), ""));
    }
    l_next(g, &Lx);
  }
  l_next(g, &Ly);
  l_next(g, &Lq);
}

/* Gathered panels (x86 with AVX512-VBMI): the forward's K is the KH*KW*Cg
 * taps of a row in the weights' (ky, kx, c) order, padded to whole words
 * once instead of per ky segment (LeNet-5's c1: 28 bytes instead of 40).
 * Row p = (oy, ox) reads tap k at byte off(p) + tap(k) of the channels-last
 * padded copy, off(p) = (oy*sh*PW + ox*sw)*Cg; a panel word (4 taps of 16
 * rows) is one vpermb of the 64 bytes at off(p0) + lo(w), lane bytes
 * off(p) - off(p0) + tap(k) - lo(w). That needs every such index below 64:
 * gather_fits checks it for every panel (rows past P repeat row P-1) and
 * word at compile time. The 64-byte loads may run past the copy into the
 * slack that follows it (pad_ptr). */
static int64_t gather_tap(const Node *nd, const ConvDims *d, int64_t k) {
  int64_t seg = d->KW * d->Cg, PW = d->IW + 2 * nd->pw;
  int64_t ky = k / seg, kx = k % seg / d->Cg, c = k % d->Cg;
  return (ky * PW + kx) * d->Cg + c;
}
/* Output pixel p's first tap in a padded plane of rows of IW + 2 pw bytes
 * (gather: times Cg, channels-last; im2col_t_shuffle: one plane). */
int64_t pix_off(const Node *nd, const ConvDims *d, int64_t p) {
  return p / d->OW * nd->sh * (d->IW + 2 * nd->pw) + p % d->OW * nd->sw;
}
static int64_t gather_off(const Node *nd, const ConvDims *d, int64_t p) { return pix_off(nd, d, p) * d->Cg; }
/* the taps of word w: first and last offset */
static void gather_word(const Node *nd, const ConvDims *d, int64_t w, int64_t *lo, int64_t *hi) {
  *lo = INT64_MAX, *hi = INT64_MIN;
  for (int64_t k = 4 * w; k < 4 * w + 4 && k < d->Kc; k++) {
    int64_t t = gather_tap(nd, d, k);
    if (t < *lo) *lo = t;
    if (t > *hi) *hi = t;
  }
}
bool gather_fits(const Node *nd, const ConvDims *d) {
  int64_t rel = 0;
  for (int64_t p0 = 0; p0 < d->P; p0 += PL) {
    int64_t p1 = p0 + PL - 1 < d->P ? p0 + PL - 1 : d->P - 1;
    if (gather_off(nd, d, p1) - gather_off(nd, d, p0) > rel) rel = gather_off(nd, d, p1) - gather_off(nd, d, p0);
  }
  for (int64_t w = 0; w < rup(d->Kc, 4) / 4; w++) {
    int64_t lo, hi;
    gather_word(nd, d, w, &lo, &hi);
    if (rel + hi - lo > 63) return false;
  }
  return true;
}

/* Panel j's first row's offset and its lanes' offsets from it, as the
 * index bytes of a word (4 copies), for every panel: a constant table per
 * layer, so a panel costs two loads instead of a vector division. */
static Val gather_table(Cg *g, const Node *nd, const ConvDims *d) {
  char name[128];
  snprintf(name, sizeof name, "%s.gather", nd->name);
  Val v_t = LLVMGetNamedGlobal(g->mod, name);
  if (v_t) return v_t;
  int64_t n = npanels(d->P);
  Ty t_v = LLVMVectorType(g->t_i32, 16);
  Val *rows = mem_alloc(sizeof *rows * (size_t)n);
  for (int64_t j = 0; j < n; j++) {
    Val lanes[16];
    int64_t off0 = gather_off(nd, d, j * PL);
    for (int l = 0; l < 16; l++) {
      int64_t r = j * PL + l < d->P ? j * PL + l : d->P - 1;
      lanes[l] = l_i32(g, (gather_off(nd, d, r) - off0) * 0x01010101);
    }
    lanes[0] = l_i32(g, off0); /* lane 0's offsets are 0: it carries off0 */
    rows[j] = LLVMConstVector(lanes, 16);
  }
  v_t = l_const_array(g, t_v, rows, n, name);
  LLVMSetAlignment(v_t, 64);
  return v_t;
}

GatherPanel gather_panel(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_j) {
  Ty t_v = LLVMVectorType(g->t_i32, 16);
  Val v_e = LLVMBuildLoad2(g->b, t_v, l_gep(g, t_v, gather_table(g, nd, d), v_j, ""), "gather.e");
  LLVMSetAlignment(v_e, 64);
  Val v_off0 = LLVMBuildExtractElement(g->b, v_e, l_i32(g, 0), "off0");
  GatherPanel P;
  P.v_rel = LLVMBuildInsertElement(g->b, v_e, l_i32(g, 0), l_i32(g, 0), "rel.b");
  P.v_row0 = l_gep(g, g->t_i8, v_pad, LLVMBuildZExt(g->b, v_off0, g->t_i64, ""), "row0");
  return P;
}

/* Word w's window offset lo and its 4 tap bytes tw relative to it. */
static void gather_word_at(const Node *nd, const ConvDims *d, int64_t w, int64_t *lo, uint32_t *tw) {
  int64_t hi;
  gather_word(nd, d, w, lo, &hi);
  if (*lo == INT64_MAX) *lo = 0; /* a word of padding only: A is zero there */
  *tw = 0;
  for (int j = 0; j < 4; j++) {
    int64_t k = 4 * w + j, t = k < d->Kc ? gather_tap(nd, d, k) - *lo : 0;
    *tw |= (uint32_t)t << (8 * j);
  }
}

Val gather_words(Cg *g, const Node *nd, const ConvDims *d, int64_t kp) {
  char name[128];
  snprintf(name, sizeof name, "%s.gwords", nd->name);
  Val v_t = LLVMGetNamedGlobal(g->mod, name);
  if (v_t) return v_t;
  Val *words = mem_alloc(sizeof *words * (size_t)(kp / 4));
  for (int64_t w = 0; w < kp / 4; w++) {
    int64_t lo;
    uint32_t tw;
    gather_word_at(nd, d, w, &lo, &tw);
    words[w] = l_i64(g, lo << 32 | tw);
  }
  return l_const_array(g, g->t_i64, words, kp / 4, name);
}

Val gather_quads(Cg *g, const GatherPanel *P, Val v_word, uint32_t bias) {
  Ty t_v = LLVMVectorType(g->t_i32, 16), t_b = LLVMVectorType(g->t_i8, 64), ft;
  Val f_perm = l_intrinsic(g, "llvm.x86.avx512.permvar.qi.512", NULL, 0, &ft);
  Val v_tw = l_trunc(g, v_word, g->t_i32, "tw"), v_lo = LLVMBuildAShr(g->b, v_word, l_i64(g, 32), "lo");
  Val v_idx = LLVMBuildBitCast(g->b, l_add(g, P->v_rel, l_splat(g, v_tw, 16, ""), ""), t_b, "idx");
  Val v_win = LLVMBuildLoad2(g->b, t_b, l_gep(g, g->t_i8, P->v_row0, v_lo, ""), "win");
  LLVMSetAlignment(v_win, 1);
  Val args[] = {v_win, v_idx};
  return bias_quads(g, LLVMBuildBitCast(g->b, l_call(g, ft, f_perm, args, 2, "quads"), t_v, ""), bias);
}

static void pack_gather(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_pan, int64_t kp, uint32_t bias) {
  Loop Lj = l_for(g, l_i64(g, 0), l_i64(g, npanels(d->P)), "pj");
  GatherPanel P = gather_panel(g, nd, d, v_pad, Lj.v_i);
  Val v_dst = l_gep(g, g->t_i8, v_pan, l_mul(g, Lj.v_i, l_i64(g, kp / 4 * 64), ""), "pan.j");
  for (int64_t w = 0; w < kp / 4; w++) {
    int64_t lo;
    uint32_t tw;
    gather_word_at(nd, d, w, &lo, &tw);
    store_quads(g, gather_quads(g, &P, l_i64(g, lo << 32 | tw), bias), 0, v_dst, l_i64(g, w * 64));
  }
  l_next(g, &Lj);
}

/* Gathered panels by groups of four rows (x86 without vpermb: the ubs
 * kernel on AVX2). The same K as pack_gather's: the KH*KW*Cg taps of a row,
 * padded to whole words once (LeNet-5's c1: 28 bytes instead of 40). The
 * rows p..p+3 of a group (p % 4 == 0) lie in one output row, so row p + i
 * reads tap k at off(p) + i*sw*Cg + tap(k): a panel word's 16 bytes for
 * the group are one constant shuffle of the 16-byte windows at off(p) +
 * lo(r), one window per kernel row r among the word's taps (a vpshufb per
 * window and a blend on AVX2). A word's padding taps read the first
 * window's first byte (A is zero there). gather4_fits checks every index
 * below 16; the windows may run up to 15 bytes past a tap (PAD_SLACK). */
enum { G4_ROWS = 4, G4_WIN = 16 };

typedef struct Word4 {
  int n;                         /* windows: the word's kernel rows */
  int64_t lo[4];                 /* each window's first byte, from off(p) */
  int idx[G4_ROWS * 4];          /* byte 4i + j: window * 16 + byte in it */
} Word4;

/* Word w's windows and shuffle; false where a byte falls outside them. */
static bool word4(const Node *nd, const ConvDims *d, int64_t w, Word4 *W) {
  int64_t seg = d->KW * d->Cg, step = nd->sw * d->Cg, ky[4] = {0}, tap[4] = {0};
  int win[4];
  W->n = 0;
  for (int j = 0; j < 4; j++) {
    int64_t k = 4 * w + j;
    win[j] = -1;
    if (k >= d->Kc) continue;
    tap[j] = gather_tap(nd, d, k);
    int m = 0;
    while (m < W->n && ky[m] != k / seg) m++;
    if (m == W->n) ky[W->n] = k / seg, W->lo[W->n++] = tap[j];
    if (tap[j] < W->lo[m]) W->lo[m] = tap[j];
    win[j] = m;
  }
  for (int i = 0; i < G4_ROWS; i++)
    for (int j = 0; j < 4; j++) {
      int64_t b = win[j] < 0 ? 0 : i * step + tap[j] - W->lo[win[j]];
      if (b >= G4_WIN) return false;
      W->idx[4 * i + j] = (win[j] < 0 ? 0 : win[j]) * G4_WIN + (int)b;
    }
  return W->n > 0;
}

bool gather4_fits(const Node *nd, const ConvDims *d) {
  Word4 W;
  if (d->P % PL || d->OW % G4_ROWS) return false; /* whole panels; groups inside an output row */
  for (int64_t w = 0; w < rup(d->Kc, 4) / 4; w++)
    if (!word4(nd, d, w, &W)) return false;
  return true;
}

/* Word w of the group at v_at (its first row's first tap): 16 bytes. */
static Val word4_bytes(Cg *g, const Word4 *W, Val v_at) {
  Ty t_w = LLVMVectorType(g->t_i8, G4_WIN);
  Val v_win[4], idx[G4_WIN];
  for (int m = 0; m < W->n; m++) {
    v_win[m] = LLVMBuildLoad2(g->b, t_w, l_gep(g, g->t_i8, v_at, l_i64(g, W->lo[m]), ""), "g4.win");
    LLVMSetAlignment(v_win[m], 1);
  }
  /* windows 0 and 1 into place, then each further window over them */
  for (int b = 0; b < G4_WIN; b++) idx[b] = l_i32(g, W->idx[b] < 2 * G4_WIN ? W->idx[b] : b);
  Val v = LLVMBuildShuffleVector(g->b, v_win[0], W->n > 1 ? v_win[1] : LLVMGetPoison(t_w), LLVMConstVector(idx, G4_WIN),
                                 "g4.bytes");
  for (int m = 2; m < W->n; m++) {
    for (int b = 0; b < G4_WIN; b++)
      idx[b] = l_i32(g, W->idx[b] / G4_WIN == m ? G4_WIN + W->idx[b] % G4_WIN : b);
    v = LLVMBuildShuffleVector(g->b, v, v_win[m], LLVMConstVector(idx, G4_WIN), "g4.bytes");
  }
  return LLVMBuildBitCast(g->b, v, LLVMVectorType(g->t_i32, 4), "g4.quads");
}

static void pack_gather4(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_pan, int64_t kp, uint32_t bias) {
  int64_t PW = d->IW + 2 * nd->pw;
  Word4 *W = mem_alloc(sizeof *W * (size_t)(kp / 4));
  for (int64_t w = 0; w < kp / 4; w++) NIT_ASSERT(word4(nd, d, w, &W[w]));
  Loop Lj = l_for(g, l_i64(g, 0), l_i64(g, npanels(d->P)), "pj");
  Val v_dst = l_gep(g, g->t_i8, v_pan, l_mul(g, Lj.v_i, l_i64(g, kp / 4 * 64), ""), "pan.j");
  for (int q = 0; q < PL / G4_ROWS; q++) {
    Val v_p = l_add(g, l_mul(g, Lj.v_i, l_i64(g, PL), ""), l_i64(g, q * G4_ROWS), "g4.p");
    Val v_y = LLVMBuildUDiv(g->b, v_p, l_i64(g, d->OW), "g4.y");
    Val v_x = LLVMBuildURem(g->b, v_p, l_i64(g, d->OW), "g4.x");
    Val v_off = l_mul(g, l_add(g, l_mul(g, v_y, l_i64(g, nd->sh * PW), ""), l_mul(g, v_x, l_i64(g, nd->sw), ""), ""),
                      l_i64(g, d->Cg), "g4.off");
    Val v_at = l_opaque_ptr(g, l_gep(g, g->t_i8, v_pad, v_off, ""), "g4.at"); /* windows at g4.at + constant */
    for (int64_t w = 0; w < kp / 4; w++)
      store_quads(g, word4_bytes(g, &W[w], v_at), bias, v_dst, l_i64(g, w * 64 + q * G4_ROWS * 4));
  }
  l_next(g, &Lj);
}

/* The forward B of sample b, group gi: row p = (oy, ox) is KH segments of
 * KW*Cg contiguous bytes of the channels-last copy, in the (ky, kx, c)
 * order of wf. */
Val cl_copy(Cg *g, const Node *nd, const ConvDims *d, Val v_x, Val v_b, Val v_gi, Val v_col) {
  int64_t PH = d->IH + 2 * nd->ph, PW = d->IW + 2 * nd->pw;
  Val v_pad = pad_ptr(g, v_col, d->Cg * PH * PW);
  copy_cl(g, v_x, l_add(g, l_mul(g, v_b, l_i64(g, d->IC), ""), l_mul(g, v_gi, l_i64(g, d->Cg), ""), ""), d->Cg, d->IH,
          d->IW, nd->ph, nd->pw, v_pad);
  return v_pad;
}

void im2col_fwd(Cg *g, const Node *nd, const ConvDims *d, Val v_x, Val v_b, Val v_gi, Val v_col, const SegDst *S,
                Val v_pan, uint32_t bias, Gather gather) {
  int64_t PW = d->IW + 2 * nd->pw, seg = d->KW * d->Cg;
  Val v_pad = cl_copy(g, nd, d, v_x, v_b, v_gi, v_col);
  if (gather == GATHER_VPERMB) {
    pack_gather(g, nd, d, v_pad, v_pan, S->kp, bias);
    return;
  }
  if (gather == GATHER_QUADS4) {
    pack_gather4(g, nd, d, v_pad, v_pan, S->kp, bias);
    return;
  }
  if (v_pan) {
    RowSrc R = {v_pad, d->OW, nd->sh, nd->sw, PW, d->Cg, 0, PW * d->Cg, d->KH, S->segp};
    R.sy = nd->sh, R.RW = PW;
    pack_direct(g, &R, d->P, v_pan, bias);
    return;
  }
  Loop Loy = l_for(g, l_i64(g, 0), l_i64(g, d->OH), "oy");
  Loop Lox = l_for(g, l_i64(g, 0), l_i64(g, d->OW), "ox");
  Val v_p = l_add(g, l_mul(g, Loy.v_i, l_i64(g, d->OW), ""), Lox.v_i, "p");
  Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
  Val v_y = l_add(g, l_mul(g, Loy.v_i, l_i64(g, nd->sh), ""), Lky.v_i, "y");
  Val v_src = l_mul(g, l_add(g, l_mul(g, v_y, l_i64(g, PW), ""), l_mul(g, Lox.v_i, l_i64(g, nd->sw), ""), ""),
                    l_i64(g, d->Cg), "");
  seg_store(g, S, l_gep(g, g->t_i8, v_pad, v_src, "seg"), v_p, Lky.v_i, seg);
  l_next(g, &Lky);
  l_next(g, &Lox);
  l_next(g, &Loy);
}

/* colT by shuffles (targets with vpermb): row k = (c, ky, kx) of colT is
 * the bytes at pix_off(p) = (p / OW) sh PW + (p % OW) sw of the padded plane c
 * shifted by (ky, kx). A chunk of 64 consecutive p reads inside 128 bytes
 * from its first (im2col_t_shuffles checks every chunk), so it is one
 * two-source byte shuffle with a constant index (vpermi2b), the same for
 * every k. Reads run up to 127 bytes past a chunk's first byte: PAD_SLACK. */
static bool im2col_t_shuffles(Cg *g, const Node *nd, const ConvDims *d) {
  if (!g->vbmi || d->P > 64 * 32) return false; /* the chunks are unrolled */
  for (int64_t p0 = 0; p0 < d->P; p0 += 64) {
    int64_t p1 = p0 + 63 < d->P ? p0 + 63 : d->P - 1;
    if (pix_off(nd, d, p1) - pix_off(nd, d, p0) > 127) return false;
  }
  return true;
}

static void im2col_t_shuffle(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_col) {
  int64_t PH = d->IH + 2 * nd->ph, PW = d->IW + 2 * nd->pw;
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, d->Cg), "c");
  Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
  Loop Lkx = l_for(g, l_i64(g, 0), l_i64(g, d->KW), "kx");
  Val v_k = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, d->KH), ""), Lky.v_i, ""), l_i64(g, d->KW), ""),
                  Lkx.v_i, "k");
  Val v_src = l_gep(
      g, g->t_i8, v_pad,
      l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, PH), ""), Lky.v_i, ""), l_i64(g, PW), ""), Lkx.v_i, ""),
      "tap.plane");
  Val v_dst = l_gep(g, g->t_i8, v_col, l_mul(g, v_k, l_i64(g, d->P), ""), "colT.row");
  for (int64_t p0 = 0; p0 < d->P; p0 += 64) {
    Val idx[64];
    int64_t n = d->P - p0 < 64 ? d->P - p0 : 64;
    for (int64_t l = 0; l < 64; l++) idx[l] = l_i32(g, l < n ? pix_off(nd, d, p0 + l) - pix_off(nd, d, p0) : 0);
    Val v_row = window_shuffle(g, l_gep(g, g->t_i8, v_src, l_i64(g, pix_off(nd, d, p0)), "win"), idx, "colT.q");
    /* the last chunk of a row may run into the next row, written after it,
     * or past colT into the panels, packed after it */
    LLVMSetAlignment(LLVMBuildStore(g->b, v_row, l_gep(g, g->t_i8, v_dst, l_i64(g, p0), "")), 1);
  }
  l_next(g, &Lkx);
  l_next(g, &Lky);
  l_next(g, &Lc);
}

/* colT[k*P + p] of sample b, group gi, k = (c, ky, kx) as in the weights,
 * from a zero-bordered copy of the planes; the inner loop runs along ox. */
void im2col_t(Cg *g, const Node *nd, const ConvDims *d, Val v_x, Val v_b, Val v_gi, Val v_col) {
  int64_t PH = d->IH + 2 * nd->ph, PW = d->IW + 2 * nd->pw;
  Val v_pad = pad_ptr(g, v_col, d->Cg * PH * PW);
  pad_copy(g, v_x, v_b, l_mul(g, v_gi, l_i64(g, d->Cg), ""), d->IC, d->Cg, d->IH, d->IW, nd->ph, nd->pw, v_pad);
  if (im2col_t_shuffles(g, nd, d)) {
    im2col_t_shuffle(g, nd, d, v_pad, v_col);
    return;
  }
  Loop Lc = l_for(g, l_i64(g, 0), l_i64(g, d->Cg), "c");
  Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
  Loop Lkx = l_for(g, l_i64(g, 0), l_i64(g, d->KW), "kx");
  Loop Loy = l_for(g, l_i64(g, 0), l_i64(g, d->OH), "oy");
  Val v_k0 = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, d->KH), ""), Lky.v_i, ""), l_i64(g, d->KW), ""),
                   Lkx.v_i, "k");
  if (nd->sw == 1) { /* a row of ox is contiguous on both sides */
    Val v_y = l_add(g, l_mul(g, Loy.v_i, l_i64(g, nd->sh), ""), Lky.v_i, "y");
    Val v_src =
        l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, PH), ""), v_y, ""), l_i64(g, PW), ""), Lkx.v_i, "");
    Val v_dst = l_add(g, l_mul(g, v_k0, l_i64(g, d->P), ""), l_mul(g, Loy.v_i, l_i64(g, d->OW), ""), "");
    Val v_d = l_gep(g, g->t_i8, v_col, v_dst, "colT.row"), v_s = l_gep(g, g->t_i8, v_pad, v_src, "tap.row");
    unsigned vw = d->OW <= 8 ? 8 : d->OW <= 16 ? 16 : d->OW <= 32 ? 32 : 0;
    Blk b_copy = NULL, b_join = NULL;
    if (vw) { /* one vector a row (LeNet-5's c2: rows of 10 bytes, 1,500 a
               * sample): its bytes past OW (read within the copy's
               * PAD_SLACK) land where the rows after it go, which are
               * stored later; rows near colT's end are copied exactly */
      Ty t_row = LLVMVectorType(g->t_i8, vw);
      b_join = l_if_else(g, l_icmp(g, LLVMIntSLE, l_add(g, v_dst, l_i64(g, vw), ""), l_i64(g, d->Kc * d->P), "in"),
                         "colT.vec", &b_copy);
      Val v_row = LLVMBuildLoad2(g->b, t_row, v_s, "taps");
      LLVMSetAlignment(v_row, 1);
      LLVMSetAlignment(LLVMBuildStore(g->b, v_row, v_d), 1);
      l_else(g, b_copy, b_join);
    }
    LLVMBuildMemCpy(g->b, v_d, 1, v_s, 1, l_i64(g, d->OW));
    if (b_join) l_endif(g, b_join);
    l_next(g, &Loy);
    l_next(g, &Lkx);
    l_next(g, &Lky);
    l_next(g, &Lc);
    return;
  }
  Loop Lox = l_for(g, l_i64(g, 0), l_i64(g, d->OW), "ox");
  Val v_k = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, d->KH), ""), Lky.v_i, ""), l_i64(g, d->KW), ""),
                  Lkx.v_i, "k");
  Val v_p = l_add(g, l_mul(g, Loy.v_i, l_i64(g, d->OW), ""), Lox.v_i, "p");
  Val v_y = l_add(g, l_mul(g, Loy.v_i, l_i64(g, nd->sh), ""), Lky.v_i, "y");
  Val v_xx = l_add(g, l_mul(g, Lox.v_i, l_i64(g, nd->sw), ""), Lkx.v_i, "x");
  Val v_src = l_add(g, l_mul(g, l_add(g, l_mul(g, Lc.v_i, l_i64(g, PH), ""), v_y, ""), l_i64(g, PW), ""), v_xx, "");
  l_store(g, g->t_i8, l_load(g, g->t_i8, v_pad, v_src, "tap"), v_col,
          l_add(g, l_mul(g, v_k, l_i64(g, d->P), ""), v_p, ""));
  l_next(g, &Lox);
  l_next(g, &Loy);
  l_next(g, &Lkx);
  l_next(g, &Lky);
  l_next(g, &Lc);
}

/* The weight gradient's B with the taps in the lanes (conv.c,
 * wgrad_taps_in_lanes), straight from the planar padded copy, no colT:
 * panel j holds taps 16j..16j+15, its word q the pixels 4q..4q+3 (one
 * output row: OW is a multiple of 4), lane k's bytes at pad[pix_off(4q) +
 * tap(k) + i sw]; one window_shuffle per word, its index fixed at compile
 * time. taps_panels_fit: every panel's taps and 4 pixels lie within 128
 * bytes. */
static int64_t wtap(const Node *nd, const ConvDims *d, int64_t k) {
  int64_t c = k / (d->KH * d->KW), ky = k / d->KW % d->KH, kx = k % d->KW;
  return (c * (d->IH + 2 * nd->ph) + ky) * (d->IW + 2 * nd->pw) + kx;
}
static int64_t wlane_lo(const ConvDims *d, const Node *nd, int64_t j, int64_t *span) {
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (int64_t k = PL * j; k < PL * (j + 1) && k < d->Kc; k++) {
    int64_t t = wtap(nd, d, k);
    lo = t < lo ? t : lo, hi = t > hi ? t : hi;
  }
  *span = hi - lo + 3 * nd->sw + 1;
  return lo;
}
bool taps_panels_fit(const Node *nd, const ConvDims *d) {
  if (d->OW % 4) return false;
  for (int64_t j = 0, span; j < npanels(d->Kc); j++)
    if (wlane_lo(d, nd, j, &span), span > 128) return false;
  return true;
}

Val taps_pix(Cg *g, const Node *nd, const ConvDims *d, Val v_oy, Val v_qx) {
  int64_t PW = d->IW + 2 * nd->pw;
  return l_add(g, l_mul(g, v_oy, l_i64(g, nd->sh * PW), ""), l_mul(g, v_qx, l_i64(g, 4 * nd->sw), ""), "pix");
}

Val taps_word(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_pix, int64_t j, uint32_t bias) {
  int64_t span, lo = wlane_lo(d, nd, j, &span);
  Ty t_v = LLVMVectorType(g->t_i32, 16);
  Val idx[64];
  for (int64_t l = 0; l < PL; l++)
    for (int64_t i = 0; i < 4; i++)
      idx[4 * l + i] = l_i32(g, PL * j + l < d->Kc ? wtap(nd, d, PL * j + l) - lo + i * nd->sw : 0);
  Val v_at = l_gep(g, g->t_i8, v_pad, l_add(g, v_pix, l_i64(g, lo), ""), "win");
  return bias_quads(g, LLVMBuildBitCast(g->b, window_shuffle(g, v_at, idx, ""), t_v, "quads"), bias);
}

void taps_panels(Cg *g, const Node *nd, const ConvDims *d, Val v_pad, Val v_pan, uint32_t bias) {
  int64_t ps = d->P / 4 * 64;
  /* word q = (oy, qx) of the output rows: no division by OW per word */
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d->OH), "oy");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, d->OW / 4), "qx");
  Val v_q = l_add(g, l_mul(g, Ly.v_i, l_i64(g, d->OW / 4), ""), Lx.v_i, "pq");
  Val v_pix = taps_pix(g, nd, d, Ly.v_i, Lx.v_i);
  for (int64_t j = 0; j < npanels(d->Kc); j++) {
    Val v_at = l_add(g, l_i64(g, j * ps), l_mul(g, v_q, l_i64(g, 64), ""), "");
    store_quads(g, taps_word(g, nd, d, v_pad, v_pix, j, bias), 0, v_pan, v_at);
  }
  l_next(g, &Lx);
  l_next(g, &Ly);
}

/* Stride 1 and padding below the kernel size: ecol from whole segments. */
bool ecol_fast(const Node *nd, const ConvDims *d) {
  return nd->sh == 1 && nd->sw == 1 && d->KH - 1 - nd->ph >= 0 && d->KW - 1 - nd->pw >= 0;
}

/* The output coordinate o that reads input coordinate i through tap t:
 * o*s = i + p - t. *v_ok says whether such an o exists in [0, n); the value
 * returned is clamped into range, so a load through it stays in bounds
 * either way. */
static Val out_tap(Cg *g, Val v_i, Val v_t, int p, int s, int64_t n, Val *v_ok, const char *name) {
  Val v_d = l_sub(g, l_add(g, v_i, l_i64(g, p), ""), v_t, "d");
  Val v_dc = l_smax(g, v_d, l_i64(g, 0), "");
  Val v_o = LLVMBuildUDiv(g->b, v_dc, l_i64(g, s), name);
  *v_ok =
      LLVMBuildAnd(g->b, l_icmp(g, LLVMIntSGE, v_d, l_i64(g, 0), ""),
                   LLVMBuildAnd(g->b, l_icmp(g, LLVMIntEQ, LLVMBuildURem(g->b, v_dc, l_i64(g, s), ""), l_i64(g, 0), ""),
                                l_icmp(g, LLVMIntSLT, v_o, l_i64(g, n), ""), ""),
                   "ok");
  return l_smin(g, v_o, l_i64(g, n - 1), "o.c");
}

/* ecol of sample b, group gi. Fast: a channels-last copy epad[y, x, o] of
 * the error planes with a border of KH-1-ph, KW-1-pw; the KW*Og bytes of one
 * (q, ky) are then contiguous (x = ix + t, kx = KW-1-t), in the (ky, t, o)
 * order of wr. Otherwise rows ecol[q*Ke + (o, ky, kx)], each tap tested
 * (oy*sh = iy + ph - ky must have a solution). */
void ecol_build(Cg *g, const Node *nd, const ConvDims *d, Val v_e, Val v_b, Val v_gi, Val v_col, const SegDst *S,
                Val v_pan, uint32_t bias) {
  int64_t ty = d->KH - 1 - nd->ph, tx = d->KW - 1 - nd->pw;
  if (ecol_fast(nd, d)) {
    int64_t EH = d->OH + 2 * ty, EW = d->OW + 2 * tx;
    Val v_pad = pad_ptr(g, v_col, d->Og * EH * EW);
    copy_cl(g, v_e, l_add(g, l_mul(g, v_b, l_i64(g, d->O), ""), l_mul(g, v_gi, l_i64(g, d->Og), ""), ""), d->Og, d->OH,
            d->OW, ty, tx, v_pad);
    if (v_pan) { /* row q = (iy, ix), segment ky at epad[iy + KH-1-ky, ix, 0] */
      RowSrc R = {v_pad, d->IW, 1, 1, EW, d->Og, (d->KH - 1) * EW * d->Og, -EW * d->Og, d->KH, S->segp};
      pack_direct(g, &R, d->IH * d->IW, v_pan, bias);
      return;
    }
    Loop Lq = l_for(g, l_i64(g, 0), l_i64(g, d->IH), "iy");
    Loop Lr = l_for(g, l_i64(g, 0), l_i64(g, d->IW), "ix");
    Val v_q = l_add(g, l_mul(g, Lq.v_i, l_i64(g, d->IW), ""), Lr.v_i, "q");
    Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
    Val v_y = l_sub(g, l_add(g, Lq.v_i, l_i64(g, d->KH - 1), ""), Lky.v_i, "y");
    Val v_src = l_mul(g, l_add(g, l_mul(g, v_y, l_i64(g, EW), ""), Lr.v_i, ""), l_i64(g, d->Og), "");
    seg_store(g, S, l_gep(g, g->t_i8, v_pad, v_src, "seg"), v_q, Lky.v_i, d->KW * d->Og);
    l_next(g, &Lky);
    l_next(g, &Lr);
    l_next(g, &Lq);
    return;
  }
  Loop Lo = l_for(g, l_i64(g, 0), l_i64(g, d->Og), "o");
  Val v_oc = l_add(g, l_mul(g, v_gi, l_i64(g, d->Og), ""), Lo.v_i, "oc");
  Val v_plane = l_mul(g, l_add(g, l_mul(g, v_b, l_i64(g, d->O), ""), v_oc, ""), l_i64(g, d->P), "plane");
  Loop Lky = l_for(g, l_i64(g, 0), l_i64(g, d->KH), "ky");
  Loop Lkx = l_for(g, l_i64(g, 0), l_i64(g, d->KW), "kx");
  Val v_k = l_add(g, l_mul(g, l_add(g, l_mul(g, Lo.v_i, l_i64(g, d->KH), ""), Lky.v_i, ""), l_i64(g, d->KW), ""),
                  Lkx.v_i, "k");
  Loop Ly = l_for(g, l_i64(g, 0), l_i64(g, d->IH), "iy");
  Val v_oky, v_oyc = out_tap(g, Ly.v_i, Lky.v_i, nd->ph, nd->sh, d->OH, &v_oky, "oy");
  Loop Lx = l_for(g, l_i64(g, 0), l_i64(g, d->IW), "ix");
  Val v_okx, v_oxc = out_tap(g, Lx.v_i, Lkx.v_i, nd->pw, nd->sw, d->OW, &v_okx, "ox");
  Val v_v =
      l_load(g, g->t_i8, v_e, l_add(g, v_plane, l_add(g, l_mul(g, v_oyc, l_i64(g, d->OW), ""), v_oxc, ""), ""), "e");
  v_v = l_select(g, LLVMBuildAnd(g->b, v_oky, v_okx, ""), v_v, LLVMConstNull(g->t_i8), "tap");
  Val v_q = l_add(g, l_mul(g, Ly.v_i, l_i64(g, d->IW), ""), Lx.v_i, "q");
  l_store(g, g->t_i8, v_v, v_col, l_add(g, l_mul(g, v_q, l_i64(g, d->Ke), ""), v_k, ""));
  l_next(g, &Lx);
  l_next(g, &Ly);
  l_next(g, &Lkx);
  l_next(g, &Lky);
  l_next(g, &Lo);
}
