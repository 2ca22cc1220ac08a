/*
 * gemm.c: the int8 GEMM behind every dense and conv kernel.
 *
 * Every weighted kernel is one matrix product
 *   C[m*ldc + n] (+)= sum_{k<K} A[m*lda + k] * B(n, k)
 * for m < M and the columns n of a range of panels, int8 operands, exact
 * sums. A is read in place, four bytes of k at a time, and broadcast; B is
 * packed into panels of PL = 16 columns:
 *   byte (n, k) at panel n/16, offset (k/4)*64 + (n%16)*4 + k%4,
 * one panel being ceil(K/4) * 64 bytes ("k-quad interleaved"), so one
 * 64-byte load gives four k of sixteen columns and a dot-product instruction
 * adds sixteen four-term products into sixteen i32 lanes of C's row. No
 * horizontal sums, and C's row is stored with vector stores (a masked one at
 * the last panel). Packed bytes beyond N or K are 0. A's last quad is read
 * with its bytes beyond K masked off, so B's bytes there never count (conv
 * panels built straight from im2col may hold other bytes where A has zero
 * padding); C's lanes beyond N are neither stored nor counted in a fused
 * max.
 *
 * Micro-kernels, chosen from the target's features (GemmKind):
 *   vnni     x86 AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes,
 *            so the panels hold b ^ 0x80 = b + 128 (unsigned) and the bias
 *            comes out exactly: sum a (b + 128) - 128 sum_k a = sum a b, with
 *            sum_k A[m, k] precomputed per row (asum). Lanes never exceed
 *            K * 255 * 128 in magnitude: used while that is below 2^31. An
 *            A that is never negative (Gemm.ua: a relu's output, say) is
 *            the unsigned operand instead, B the signed one: no bias, no
 *            row sums.
 *   sdot     AArch64 with +dotprod: sdot, signed by signed, no bias.
 *   ubs      x86 with AVX2 (not AVX-512BW) and without VNNI: vpmaddubsw
 *            on |b| and a with b's sign, then vpmaddwd against ones, into
 *            16 lanes as vnni (dot_ubs_of: why no word sum saturates).
 *   generic  other x86 without VNNI: bytes sign-extended to words and
 *            multiplied in pairs by pmaddwd (SSE2 or AVX-512BW, the widest
 *            the features allow; AVX2 when forced) into 32 lanes of pair
 *            sums, folded to 16 once per tile.
 *   lanes    other targets (AArch64 without dotprod, RISC-V): no shuffles at
 *            all; byte r of every i32 lane of the panel row is sign-extended
 *            in place by two shifts and multiplied by A's byte r, so the
 *            vector code is lane-wise (NEON shl/sshr/mla, RVV vsll/vsra/
 *            vmacc with +v, scalar code otherwise).
 *   plain    one dot loop per output in the accumulator's width, for sums
 *            that could leave i32 (K >= 131072) and for testing.
 * Tiles are MR rows by NP panels of accumulators (8 x 2 zmm on vnni, 2 x 1
 * on generic, 4 x 1 elsewhere, at most 8 x 4); the rows left over get tiles
 * of 6 (vnni) and of the powers of two below MR, the panels left over tiles
 * one panel wide.
 *
 * A conv's forward and input error write C once per sample, and C is read
 * only after the whole batch (the rounding's shift needs the batch's max).
 * Where the batch's C is larger than the caches (gemm_stream), the kernel's
 * `.nt` variant stores its full panels non-temporally: without reading each
 * line of C in before writing it (vgg_small at batch 256: 67 MB each for
 * c1's and c2's forward). It ends with a fence, since such stores are
 * weakly ordered and the pool's release of a chunk must publish C. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* The widest pmaddwd the x86 features allow (the generic kernel): from the
 * feature list (a host build lists them all), or the x86-64-v3/v4 levels;
 * other CPU names get SSE2's unless --features names +avx2 or +avx512bw. */
int gemm_madd_bits(const CgTarget *t) {
  const char *feat = t->features ? t->features : "", *cpu = t->cpu ? t->cpu : "";
  if (strstr(feat, "+avx512bw") || !strcmp(cpu, "x86-64-v4")) return 512;
  if (strstr(feat, "+avx2") || !strcmp(cpu, "x86-64-v3")) return 256;
  return 128;
}

/* The feature list names feature (+name) exactly, not as a prefix of
 * another (+avx512vbmi is not +avx512vbmi2, +v not +v8.2a). */
static bool has_feature(const CgTarget *t, const char *feature) {
  const char *f = t->features ? t->features : "";
  size_t n = strlen(feature);
  for (const char *h = strstr(f, feature); h; h = strstr(h + 1, feature))
    if ((h == f || h[-1] == ',') && (h[n] == ',' || h[n] == '\0')) return true;
  return false;
}

bool gemm_x86(const CgTarget *t) { return !strncmp(t->triple, "x86_64", 6); }

/* RISC-V with the V extension. */
static bool rvv(const CgTarget *t) { return !strncmp(t->triple, "riscv64", 7) && has_feature(t, "+v"); }

/* A vector unit: every x86-64 (SSE2) and AArch64 (NEON) target, RISC-V
 * with V. Without one, LLVM splits vector IR into scalars, and a block of
 * shuffles (l_transpose16) became thousands of scalar nodes in one basic
 * block: scalar RISC-V spent 1.5 s selecting and scheduling nit_pack.rows
 * alone. There loops of scalars take the transposes' place. */
bool gemm_simd(const CgTarget *t) {
  return strncmp(t->triple, "riscv64", 7) != 0 || rvv(t);
}

/* x86 with AVX-512BW: byte masks and 512-bit byte and word operations. */
bool gemm_bw512(const CgTarget *t) { return gemm_x86(t) && gemm_madd_bits(t) == 512; }

/* Masked vector stores as cheap as plain ones: AVX-512 (a mask register)
 * and RISC-V V (a mask operand). AVX2's vpmaskmovd store took 6-7 ns on a
 * Zen 3 core against about 1 for a plain one (bench/maskstore.c), and NEON
 * and scalar targets have none (LLVM stores lane by lane behind a branch
 * each): there l_store_below stores a tail by plain stores instead. */
bool gemm_mask_stores(const CgTarget *t) {
  return gemm_bw512(t) || rvv(t);
}

/* Masked loads and stores that are instructions: x86 (AVX's vmaskmov for
 * 32- and 64-bit lanes, AVX-512; LLVM's expansion elsewhere, kept as it
 * was measured) and RISC-V V. NEON and scalar RISC-V have none: there
 * l_masked_load and l_masked_store loop over the lanes (llvm.c). */
bool gemm_mask_ops(const CgTarget *t) {
  return gemm_x86(t) || rvv(t);
}

/* The kernel for sums of up to kmax terms (a compile-time bound). */
GemmKind gemm_kind(Cg *g, int64_t kmax) {
  if (g->gk == GK_PLAIN || kmax * 128 * 128 >= ((int64_t)1 << 31)) return GK_PLAIN;
  if (g->gk == GK_VNNI && kmax * 255 * 128 >= ((int64_t)1 << 31)) return GK_GENERIC; /* the bias would overflow */
  return g->gk;
}

Val l_splat(Cg *g, Val v, unsigned n, const char *name) {
  Ty t = LLVMVectorType(LLVMTypeOf(v), n);
  Val v_ins = LLVMBuildInsertElement(g->b, LLVMGetUndef(t), v, l_i32(g, 0), "");
  Val zeros[64];
  for (unsigned i = 0; i < n; i++) zeros[i] = l_i32(g, 0);
  return LLVMBuildShuffleVector(g->b, v_ins, LLVMGetUndef(t), LLVMConstVector(zeros, n), name);
}

/* Lanes [lo, lo + n) of a vector, or of two concatenated (v_b non-NULL). */
Val l_lanes(Cg *g, Val v_a, Val v_b, int lo, int n, int step, const char *name) {
  Val idx[64];
  for (int i = 0; i < n; i++) idx[i] = l_i32(g, lo + i * step);
  return LLVMBuildShuffleVector(g->b, v_a, v_b ? v_b : LLVMGetUndef(LLVMTypeOf(v_a)), LLVMConstVector(idx, n), name);
}

/* Transpose n vectors of n lanes (n a power of two) in place: v[i] lane j
 * becomes v[j] lane i. log2(n) rounds of interleaving vector i with vector
 * i + n/2 (low halves, then high halves) turn rows into columns. */
static void zip_transpose(Cg *g, Val *v, int n) {
  Val lo[16], hi[16], w[16];
  for (int j = 0; j < n / 2; j++) {
    lo[2 * j] = l_i32(g, j), lo[2 * j + 1] = l_i32(g, n + j);
    hi[2 * j] = l_i32(g, n / 2 + j), hi[2 * j + 1] = l_i32(g, n + n / 2 + j);
  }
  Val v_lo = LLVMConstVector(lo, (unsigned)n), v_hi = LLVMConstVector(hi, (unsigned)n);
  for (int round = 1; round < n; round *= 2) {
    for (int i = 0; i < n / 2; i++) {
      w[2 * i] = LLVMBuildShuffleVector(g->b, v[i], v[i + n / 2], v_lo, "zip.lo");
      w[2 * i + 1] = LLVMBuildShuffleVector(g->b, v[i], v[i + n / 2], v_hi, "zip.hi");
    }
    memcpy(v, w, (size_t)n * sizeof *w);
  }
}

/* Transpose 16 vectors of 16 lanes (any element type) in place: v[i]
 * lane j becomes v[j] lane i. Where 16 lanes fill more than one of the
 * target's vector registers (i32 on AVX2: two; on 128-bit targets: four),
 * the matrix is cut into blocks of W x W, W the lanes a register holds,
 * each block is transposed in registers and the blocks trade places: the
 * same values, and shuffles the code generator selects directly (16-lane
 * shuffles of two sources, split by its type legalizer, took a tenth of a
 * second to select per transpose on AVX2). */
void l_transpose16(Cg *g, Val v[16]) {
  enum { T = 16 };
  int bits = (int)LLVMGetIntTypeWidth(LLVMGetElementType(LLVMTypeOf(v[0])));
  int W = g->madd_bits / bits; /* lanes of a register */
  if (W >= T || W < 2) {
    zip_transpose(g, v, T);
    return;
  }
  int nb = T / W;
  Val in[T][T / 2], out[T][T / 2]; /* (row, block column): W lanes of the rows, then of the result's */
  for (int r = 0; r < T; r++)
    for (int c = 0; c < nb; c++) in[r][c] = l_lanes(g, v[r], NULL, c * W, W, 1, "blk");
  for (int rb = 0; rb < nb; rb++)
    for (int cb = 0; cb < nb; cb++) {
      Val x[T];
      for (int i = 0; i < W; i++) x[i] = in[rb * W + i][cb];
      zip_transpose(g, x, W);
      for (int j = 0; j < W; j++) out[cb * W + j][rb] = x[j];
    }
  for (int r = 0; r < T; r++) { /* the blocks of a row concatenated pairwise back to 16 lanes */
    Val *y = out[r];
    for (int n = nb, w = W; n > 1; n /= 2, w *= 2)
      for (int c = 0; c < n / 2; c++) y[c] = l_lanes(g, y[2 * c], y[2 * c + 1], 0, 2 * w, 1, "cat");
    v[r] = y[0];
  }
}

/* The dot steps: acc[l] += sum_{r<4} a_r * b[4l + r] over 16 lanes; v_a is
 * A's i32 quad (bytes a_0..a_3), v_b a <16 x i32> panel row of quads. */
Val dot_vnni(Cg *g, Val v_acc, Val v_a, Val v_b) {
  Ty ft;
  Val f = l_intrinsic(g, "llvm.x86.avx512.vpdpbusd.512", NULL, 0, &ft);
  Val args[] = {v_acc, v_b, l_splat(g, v_a, 16, "a.bc")}; /* unsigned panel, signed A */
  return l_call(g, ft, f, args, 3, "acc");
}

/* The same with A as the unsigned operand and the panel signed (Gemm.ua):
 * A's quad is broadcast into a register, the panel row may stay in memory. */
Val dot_vnni_ua(Cg *g, Val v_acc, Val v_a, Val v_b) {
  Ty ft;
  Val f = l_intrinsic(g, "llvm.x86.avx512.vpdpbusd.512", NULL, 0, &ft);
  Val args[] = {v_acc, l_splat(g, v_a, 16, "a.bc"), v_b}; /* unsigned A, signed panel */
  return l_call(g, ft, f, args, 3, "acc");
}

static Val dot_sdot(Cg *g, Val v_acc, Val v_a, Val v_b) {
  Ty t_q = LLVMVectorType(g->t_i32, 4), t_b16 = LLVMVectorType(g->t_i8, 16), ft;
  Ty ov[] = {t_q, t_b16};
  Val f = l_intrinsic(g, "llvm.aarch64.neon.sdot", ov, 2, &ft);
  Val v_a16 = LLVMBuildBitCast(g->b, l_splat(g, v_a, 4, ""), t_b16, "a.bc");
  Val q[4];
  for (int h = 0; h < 4; h++) {
    Val v_bq = LLVMBuildBitCast(g->b, l_lanes(g, v_b, NULL, 4 * h, 4, 1, ""), t_b16, "b.q");
    Val args[] = {l_lanes(g, v_acc, NULL, 4 * h, 4, 1, "acc.q"), v_bq, v_a16};
    q[h] = l_call(g, ft, f, args, 3, "acc.q");
  }
  Val v_lo = l_lanes(g, q[0], q[1], 0, 8, 1, ""), v_hi = l_lanes(g, q[2], q[3], 0, 8, 1, "");
  return l_lanes(g, v_lo, v_hi, 0, 16, 1, "acc");
}

static Val dot_lanes(Cg *g, Val v_acc, Val v_a, Val v_b) {
  for (int r = 0; r < 4; r++) {
    Val v_br = LLVMBuildAShr(g->b, LLVMBuildShl(g->b, v_b, l_splat(g, l_i32(g, 24 - 8 * r), 16, ""), ""),
                             l_splat(g, l_i32(g, 24), 16, ""), "b.r");
    Val v_ar = LLVMBuildAShr(g->b, LLVMBuildShl(g->b, v_a, l_i32(g, 24 - 8 * r), ""), l_i32(g, 24), "a.r");
    v_acc = l_add(g, v_acc, l_mul(g, v_br, l_splat(g, v_ar, 16, ""), ""), "acc");
  }
  return v_acc;
}

/* x86 AVX2 without VNNI: vpmaddubsw multiplies unsigned by signed bytes
 * into word sums of two products, vpmaddwd against words of 1 adds the two
 * pairs of each quad into its i32 lane: vpdpbusd's sums, in two multiplies.
 * A word sum saturates beyond 32767 in magnitude, so a pair must stay
 * within it: the panel's magnitude |b| (vpabsb, at most 128; one per panel
 * row, shared by the tile's rows) times A's a with b's sign moved onto it
 * (vpsignb). That is exact because an int8 tensor never holds -128
 * (docs/numerics.md: int8 is symmetric), so sign(b) * a stays in
 * [-127, 127] and a pair sums to at most 2 * 128 * 127 = 32512. A byte of
 * 0 on either side (A's bytes past K) makes its product 0. An A that is
 * never negative is the unsigned operand itself (ua: at most 127 by any b,
 * no vpabsb, no vpsignb), and so are panels never negative (ub: the
 * forward's taps of a relu's output). On AMD Zen 3 the 512^3 GEMM runs 1.4
 * times as fast as with vpmaddwd on sign-extended words
 * (docs/performance.md, "AVX2 without VNNI"). */
static Val ubs_half(Cg *g, Val v_u, Val v_s) {
  Ty ft_ub, ft_wd;
  Val f_ub = l_intrinsic(g, "llvm.x86.avx2.pmadd.ub.sw", NULL, 0, &ft_ub);
  Val f_wd = l_intrinsic(g, "llvm.x86.avx2.pmadd.wd", NULL, 0, &ft_wd);
  Val a_ub[] = {v_u, v_s};
  Val v_w = l_call(g, ft_ub, f_ub, a_ub, 2, "ubs");
  Val a_wd[] = {v_w, l_splat(g, LLVMConstInt(g->t_i16, 1, 0), 16, "ones")};
  return l_call(g, ft_wd, f_wd, a_wd, 2, "quad");
}

static Val dot_ubs_of(Cg *g, Val v_acc, Val v_a, Val v_b, bool ua, bool ub) {
  Ty t_b32 = LLVMVectorType(g->t_i8, 32), ft_abs, ft_sign, ov[] = {t_b32};
  Val v_abc = LLVMBuildBitCast(g->b, l_splat(g, v_a, 8, ""), t_b32, "a.bc");
  Val f_abs = l_intrinsic(g, "llvm.abs", ov, 1, &ft_abs);
  Val f_sign = l_intrinsic(g, "llvm.x86.avx2.psign.b", NULL, 0, &ft_sign);
  Val q[2];
  for (int h = 0; h < 2; h++) {
    Val v_bh = LLVMBuildBitCast(g->b, l_lanes(g, v_b, NULL, 8 * h, 8, 1, ""), t_b32, "b.h");
    if (ua || ub) { /* the operand never negative as the unsigned one */
      q[h] = ua ? ubs_half(g, v_abc, v_bh) : ubs_half(g, v_bh, v_abc);
      continue;
    }
    Val a_abs[] = {v_bh, LLVMConstInt(g->t_i1, 0, 0)}, a_sign[] = {v_abc, v_bh};
    Val v_u = l_call(g, ft_abs, f_abs, a_abs, 2, "b.abs"); /* the same for every row: computed once */
    q[h] = ubs_half(g, v_u, l_call(g, ft_sign, f_sign, a_sign, 2, "a.s"));
  }
  return l_add(g, v_acc, l_lanes(g, q[0], q[1], 0, 16, 1, ""), "acc");
}
static Val dot_ubs(Cg *g, Val v_acc, Val v_a, Val v_b) { return dot_ubs_of(g, v_acc, v_a, v_b, false, false); }
Val dot_ubs_ua(Cg *g, Val v_acc, Val v_a, Val v_b) { return dot_ubs_of(g, v_acc, v_a, v_b, true, false); }
static Val dot_ubs_ub(Cg *g, Val v_acc, Val v_a, Val v_b) { return dot_ubs_of(g, v_acc, v_a, v_b, false, true); }

/* Signed by signed with A split (Gemm.ax): v_a is A's magnitudes |a|, the
 * unsigned operand, and v_m their sign masks (0xff where a < 0), and the
 * panel row is flipped where a is negative: b ^ 0xff = -b - 1. A negative
 * a's product is then |a| (-b - 1) = a b - |a|, so the row's sums come out
 * short by sum_k [a_k < 0] |a_k|, which the tile adds back from v_asum.
 * No vpabsb and no vpsignb: on Zen 3 both share two pipes with the
 * multiplies, while vpxor issues on any of four (docs/performance.md, "A
 * split into magnitudes and signs"). Exact: |a| <= 127 and -b - 1 lies in
 * [-128, 126], so a pair sums to at most 2 * 127 * 128 = 32512; where a is
 * 0 (bytes past K included) the product is 0 whatever the panel holds. */
static Val dot_ubs_ax(Cg *g, Val v_acc, Val v_a, Val v_m, Val v_b) {
  Ty t_b32 = LLVMVectorType(g->t_i8, 32);
  Val v_u = LLVMBuildBitCast(g->b, l_splat(g, v_a, 8, ""), t_b32, "a.mag");
  Val v_mb = LLVMBuildBitCast(g->b, l_splat(g, v_m, 8, ""), t_b32, "a.neg");
  Val q[2];
  for (int h = 0; h < 2; h++) {
    Val v_bh = LLVMBuildBitCast(g->b, l_lanes(g, v_b, NULL, 8 * h, 8, 1, ""), t_b32, "b.h");
    q[h] = ubs_half(g, v_u, LLVMBuildXor(g->b, v_bh, v_mb, "b.x"));
  }
  return l_add(g, v_acc, l_lanes(g, q[0], q[1], 0, 16, 1, ""), "acc");
}

/* x86 pmaddwd on sign-extended words: pairs of products into 32 lanes of
 * pair sums (gemm_tile folds them once after the k loop). */
static Val dot_pmaddwd(Cg *g, Val v_acc, Val v_a, Val v_b) {
  int wl = g->madd_bits / 16; /* words per pmaddwd */
  const char *name = wl == 32   ? "llvm.x86.avx512.pmaddw.d.512"
                     : wl == 16 ? "llvm.x86.avx2.pmadd.wd"
                                : "llvm.x86.sse2.pmadd.wd";
  Ty ft;
  Val f = l_intrinsic(g, name, NULL, 0, &ft);
  Ty t_b = LLVMVectorType(g->t_i8, 64), t_w = LLVMVectorType(g->t_i16, 64);
  Val v_aw = l_sext(g, LLVMBuildBitCast(g->b, l_splat(g, v_a, 16, ""), t_b, ""), t_w, "a.w");
  Val v_bw = l_sext(g, LLVMBuildBitCast(g->b, v_b, t_b, ""), t_w, "b.w");
  Val part[8];
  int np = 64 / wl;
  for (int h = 0; h < np; h++) {
    Val args[] = {l_lanes(g, v_aw, NULL, h * wl, wl, 1, ""), l_lanes(g, v_bw, NULL, h * wl, wl, 1, "")};
    part[h] = l_call(g, ft, f, args, 2, "madd");
  }
  for (int n = np; n > 1; n /= 2) /* concatenate the 32 pair sums */
    for (int t = 0; t < n / 2; t++) part[t] = l_lanes(g, part[2 * t], part[2 * t + 1], 0, 32 / n * 2, 1, "");
  Val v_s2 = part[0];
  return l_add(g, v_acc, v_s2, "acc"); /* 32 lanes of pair sums: gemm_tile folds them */
}

/* The micro-kernels, one row each. plain has no tiles: one dot loop per
 * output in the accumulator's width. */
static const struct MicroKernel {
  const char *name; /* as NITC_GEMM names it */
  int mr, np;       /* tile: rows by panels of accumulators */
  int lanes;        /* i32 accumulator lanes per panel (32: pair sums, folded at the end) */
  bool bias;        /* panels hold b ^ 0x80; rows corrected by asum << 7 */
  bool masked;      /* every store of C masked (AVX-512: no slower than a plain one) */
  Val (*dot)(Cg *g, Val v_acc, Val v_a, Val v_b);    /* one k-quad step */
  Val (*dot_ua)(Cg *g, Val v_acc, Val v_a, Val v_b); /* the same for an A never negative, or NULL */
  Val (*dot_ub)(Cg *g, Val v_acc, Val v_a, Val v_b); /* the same for panels never negative, or NULL */
} kernels[] = {
    [GK_PLAIN] = {"plain", 0, 0, 0, false, false, NULL, NULL, NULL},
    [GK_GENERIC] = {"generic", 2, 1, 32, false, false, dot_pmaddwd, NULL, NULL},
    [GK_LANES] = {"lanes", 4, 1, 16, false, false, dot_lanes, NULL, NULL},
    [GK_VNNI] = {"vnni", 8, 2, 16, true, true, dot_vnni, dot_vnni_ua, NULL},
    [GK_SDOT] = {"sdot", 4, 1, 16, false, false, dot_sdot, NULL, NULL},
    /* 4 x 1 beat 5 x 1, 6 x 1, 2 x 2 and 3 x 2 at 512^3 */
    [GK_UBS] = {"ubs", 4, 1, 16, false, false, dot_ubs, dot_ubs_ua, dot_ubs_ub},
};

/* Whether kind has a dot step for an A (Gemm.ua), or for panels (Gemm.ub),
 * that is never negative. */
bool gemm_has_ua(GemmKind kind) { return kernels[kind].dot_ua != NULL; }
bool gemm_has_ub(GemmKind kind) { return kernels[kind].dot_ub != NULL; }

uint32_t gemm_panel_bias(GemmKind kind) { return kernels[kind].bias ? 0x80808080u : 0; }

/* The GEMM micro-kernel for a target: vpdpbusd on zmm needs avx512vnni and
 * avx512bw; sdot needs dotprod. NITC_GEMM=plain|lanes in the environment
 * forces a portable kernel (the tests use it); so does NITC_GEMM=generic on
 * x86-64, and NITC_GEMM=ubs on x86-64 with 256-bit pmaddwd. A name that is
 * not one of these for the target is warned about, once, and ignored. */
GemmKind gemm_isa(const CgTarget *t) {
  const char *feat = t->features ? t->features : "";
  bool x86 = gemm_x86(t);
  GemmKind gk = x86 ? GK_GENERIC : GK_LANES;
  if (x86 && gemm_madd_bits(t) == 256) gk = GK_UBS;
  if (x86 && strstr(feat, "+avx512vnni") && strstr(feat, "+avx512bw")) gk = GK_VNNI;
  if (!strncmp(t->triple, "aarch64", 7) && strstr(feat, "+dotprod")) gk = GK_SDOT;
  const char *force = env_text("NITC_GEMM");
  if (!force) return gk;
  char can[64] = "";
  for (int k = 0; k < (int)(sizeof kernels / sizeof kernels[0]); k++) {
    if (!(k == GK_PLAIN || k == GK_LANES || (k == GK_GENERIC && x86) || (k == GK_UBS && x86 && gemm_madd_bits(t) >= 256)))
      continue;
    if (!strcmp(force, kernels[k].name)) return (GemmKind)k;
    snprintf(can + strlen(can), sizeof can - strlen(can), "%s%s", *can ? ", " : "", kernels[k].name);
  }
  static bool told; /* the IR is built on one thread */
  if (!told)
    diag_plain_warning("NITC_GEMM='%s' is not a kernel it can force for %s (%s); it is ignored", diag_quote(force),
                       t->triple, can);
  told = true;
  return gk;
}

bool gemm_vbmi(const CgTarget *t) { return gemm_x86(t) && has_feature(t, "+avx512vbmi"); }

/* Byte (n, k) of the panels sits at panel_col(n) + panel_k(k). */
static Val panel_col(Cg *g, Val v_n, Val v_ps) {
  return l_add(g, l_mul(g, LLVMBuildAShr(g->b, v_n, l_i64(g, 4), ""), v_ps, ""),
               l_mul(g, LLVMBuildAnd(g->b, v_n, l_i64(g, 15), ""), l_i64(g, 4), ""), "p.col");
}
static Val panel_k(Cg *g, Val v_k) {
  return l_add(g, l_mul(g, LLVMBuildAShr(g->b, v_k, l_i64(g, 2), ""), l_i64(g, 64), ""),
               LLVMBuildAnd(g->b, v_k, l_i64(g, 3), ""), "p.k");
}

/* The packing code's view of one B: the parameters of its function. */
typedef struct Pack {
  Val v_B, v_sn, v_sk, v_P, v_N, v_K, v_j0, v_j1; /* as in Gemm, strides as values */
} Pack;

/* Bytes (n, k) of B for n in [n0, n1), k in [k0, K) into their panels. */
static void pack_bytes(Cg *g, const Pack *G, Val v_n0, Val v_n1, Val v_k0, Val v_ps, Val v_bias) {
  Loop Lk = l_for(g, v_k0, G->v_K, "pk");
  Val v_ko = panel_k(g, Lk.v_i);
  Val v_src = l_gep(g, g->t_i8, G->v_B, l_mul(g, Lk.v_i, G->v_sk, ""), "b.k");
  Loop Ln = l_for(g, v_n0, v_n1, "pn");
  Val v_v = l_load(g, g->t_i8, v_src, l_mul(g, Ln.v_i, G->v_sn, ""), "b");
  Val v_o = l_add(g, panel_col(g, Ln.v_i, v_ps), v_ko, "");
  l_store(g, g->t_i8, LLVMBuildXor(g->b, v_v, v_bias, ""), G->v_P, v_o);
  l_next(g, &Ln);
  l_next(g, &Lk);
}

/* Rows of B contiguous along k: the whole panels [j0, jf) by blocks of 16
 * quads, each 16 rows of 64 bytes transposed as 16 x 16 quads into 16
 * panel rows. Returns the blocks packed per panel. */
static Val pack_row_blocks(Cg *g, const Pack *G, Val v_jf, Val v_ps, uint32_t bias) {
  Val v_kb = LLVMBuildAShr(g->b, G->v_K, l_i64(g, 6), "kblocks");
  Ty t_q16 = LLVMVectorType(g->t_i32, 16);
  Val v_b16 = l_splat(g, l_i32(g, (int64_t)bias), 16, "bias16");
  Loop Lj = l_for(g, G->v_j0, v_jf, "pj");
  Loop Lb = l_for(g, l_i64(g, 0), v_kb, "pb");
  Val v_r[16];
  for (int r = 0; r < 16; r++) {
    Val v_row = l_add(g, l_mul(g, Lj.v_i, l_i64(g, PL), ""), l_i64(g, r), "");
    Val v_at = l_add(g, l_mul(g, v_row, G->v_sn, ""), l_mul(g, Lb.v_i, l_i64(g, 64), ""), "");
    v_r[r] = LLVMBuildLoad2(g->b, t_q16, l_gep(g, g->t_i8, G->v_B, v_at, ""), "b.row16");
    LLVMSetAlignment(v_r[r], 1);
  }
  l_transpose16(g, v_r);
  Val v_pj = l_add(g, l_mul(g, Lj.v_i, v_ps, ""), l_mul(g, Lb.v_i, l_i64(g, 16 * 64), ""), "");
  for (int t = 0; t < 16; t++) {
    Val v_st = LLVMBuildStore(g->b, LLVMBuildXor(g->b, v_r[t], v_b16, ""),
                              l_gep(g, g->t_i8, G->v_P, l_add(g, v_pj, l_i64(g, t * 64), ""), ""));
    LLVMSetAlignment(v_st, 4);
  }
  l_next(g, &Lb);
  l_next(g, &Lj);
  return v_kb;
}

/* How B's bytes lie: rows of k contiguous (sk = 1), columns contiguous
 * (sn = 1), or neither. */
enum { PACK_ROWS, PACK_COLS, PACK_BYTES };

/* Pack B's columns of panels [j0, j1) (see above), laid out as `how`. */
static void pack_body(Cg *g, const Pack *G, int how, uint32_t bias) {
  Val v_kq = LLVMBuildAShr(g->b, l_add(g, G->v_K, l_i64(g, 3), ""), l_i64(g, 2), "kq");
  Val v_ps = l_mul(g, v_kq, l_i64(g, 64), "ps");
  Val v_dst0 = l_gep(g, g->t_i8, G->v_P, l_mul(g, G->v_j0, v_ps, ""), "pan");
  LLVMBuildMemSet(g->b, v_dst0, LLVMConstNull(g->t_i8), l_mul(g, l_sub(g, G->v_j1, G->v_j0, ""), v_ps, ""), 64);
  Val v_n0 = l_mul(g, G->v_j0, l_i64(g, PL), "n0");
  Val v_n1 = l_smin(g, l_mul(g, G->v_j1, l_i64(g, PL), ""), G->v_N, "n1");
  Val v_bias = LLVMConstInt(g->t_i8, bias & 0xff, 0);
  if (how == PACK_ROWS) {
    /* rows of B are contiguous along k. Whole panels by blocks of 16 quads
     * where there is a vector unit (pack_row_blocks); then the quads left
     * and the other panels' rows one quad at a time, then the tail bytes */
    Val v_bias32 = l_i32(g, (int64_t)bias);
    Val v_jf = l_smin(g, G->v_j1, LLVMBuildSDiv(g->b, G->v_N, l_i64(g, PL), ""), "j.full");
    Val v_kb = g->simd ? pack_row_blocks(g, G, v_jf, v_ps, bias) : l_i64(g, 0);
    Val v_nf = l_mul(g, l_smax(g, v_jf, G->v_j0, ""), l_i64(g, PL), "n.full");
    Loop Ln = l_for(g, v_n0, v_n1, "pn");
    /* rows of whole panels start after their blocks */
    Val v_q0 =
        l_select(g, l_icmp(g, LLVMIntSLT, Ln.v_i, v_nf, ""), l_mul(g, v_kb, l_i64(g, 16), ""), l_i64(g, 0), "q0");
    Val v_src = l_gep(g, g->t_i8, G->v_B, l_mul(g, Ln.v_i, G->v_sn, ""), "b.row");
    Val v_dst = l_gep(g, g->t_i8, G->v_P, panel_col(g, Ln.v_i, v_ps), "p.col");
    Val v_kf = LLVMBuildAShr(g->b, G->v_K, l_i64(g, 2), "kfull");
    Loop Lq = l_for(g, v_q0, v_kf, "pq");
    Val v_w = LLVMBuildLoad2(g->b, g->t_i32, l_gep(g, g->t_i8, v_src, l_mul(g, Lq.v_i, l_i64(g, 4), ""), ""), "quad");
    LLVMSetAlignment(v_w, 1);
    Val v_st = LLVMBuildStore(g->b, LLVMBuildXor(g->b, v_w, v_bias32, ""),
                              l_gep(g, g->t_i8, v_dst, l_mul(g, Lq.v_i, l_i64(g, 64), ""), ""));
    LLVMSetAlignment(v_st, 4);
    l_next_scalar(g, &Lq); /* a panel's last rows and tail quads: a 64-byte stride, nothing to vectorize */
    Loop Lt = l_for(g, l_mul(g, v_kf, l_i64(g, 4), ""), G->v_K, "pt");
    Val v_v = l_load(g, g->t_i8, v_src, Lt.v_i, "b");
    Val v_o = panel_k(g, Lt.v_i);
    l_store(g, g->t_i8, LLVMBuildXor(g->b, v_v, v_bias, ""), v_dst, v_o);
    l_next_scalar(g, &Lt);
    l_next(g, &Ln);
    return;
  }
  if (how == PACK_COLS) {
    /* columns contiguous: for each whole panel and quad of k, four 16-byte
     * rows interleave byte by byte into one 64-byte quad row */
    Ty t_16 = LLVMVectorType(g->t_i8, 16);
    Val idx[64], bias64[64];
    for (int l = 0; l < 16; l++)
      for (int r = 0; r < 4; r++) idx[l * 4 + r] = l_i32(g, r * 16 + l);
    for (int t = 0; t < 64; t++) bias64[t] = v_bias;
    Val v_jf = l_smin(g, G->v_j1, LLVMBuildSDiv(g->b, G->v_N, l_i64(g, PL), ""), "j.full");
    Val v_kf = LLVMBuildAShr(g->b, G->v_K, l_i64(g, 2), "kfull");
    Loop Lj = l_for(g, G->v_j0, v_jf, "pj");
    Loop Lq = l_for(g, l_i64(g, 0), v_kf, "pq");
    Val v_r[4];
    for (int r = 0; r < 4; r++) {
      Val v_at = l_add(g, l_mul(g, l_add(g, l_mul(g, Lq.v_i, l_i64(g, 4), ""), l_i64(g, r), ""), G->v_sk, ""),
                       l_mul(g, Lj.v_i, l_i64(g, PL), ""), "");
      v_r[r] = LLVMBuildLoad2(g->b, t_16, l_gep(g, g->t_i8, G->v_B, v_at, ""), "b.k");
      LLVMSetAlignment(v_r[r], 1);
    }
    Val v_01 = l_lanes(g, v_r[0], v_r[1], 0, 32, 1, ""), v_23 = l_lanes(g, v_r[2], v_r[3], 0, 32, 1, "");
    Val v_q = LLVMBuildShuffleVector(g->b, v_01, v_23, LLVMConstVector(idx, 64), "quad.row");
    v_q = LLVMBuildXor(g->b, v_q, LLVMConstVector(bias64, 64), "");
    Val v_st = LLVMBuildStore(
        g->b, v_q,
        l_gep(g, g->t_i8, G->v_P, l_add(g, l_mul(g, Lj.v_i, v_ps, ""), l_mul(g, Lq.v_i, l_i64(g, 64), ""), ""), ""));
    LLVMSetAlignment(v_st, 4);
    l_next(g, &Lq);
    l_next(g, &Lj);
    /* the rest byte by byte: the tail of k of those panels, then the others */
    Val v_nf = l_mul(g, l_smax(g, v_jf, G->v_j0, ""), l_i64(g, PL), "n.full");
    pack_bytes(g, G, v_n0, l_smin(g, v_nf, v_n1, ""), l_mul(g, v_kf, l_i64(g, 4), ""), v_ps, v_bias);
    pack_bytes(g, G, l_smax(g, v_nf, v_n0, ""), v_n1, l_i64(g, 0), v_ps, v_bias);
    return;
  }
  pack_bytes(g, G, v_n0, v_n1, l_i64(g, 0), v_ps, v_bias);
}

/* Pack B's columns of panels [j0, j1): a call of the shared function
 *   void nit_pack.HOW[.bias](B, sn, sk, P, N, K, j0, j1)
 * emitted on first use, with the strides as arguments (inlined at every
 * GEMM, its loops were unrolled and vectorized anew for each layer). */
static void pack_panels(Cg *g, const Gemm *G) {
  int how = G->sk == 1 ? PACK_ROWS : G->sn == 1 ? PACK_COLS : PACK_BYTES;
  uint32_t bias = G->ua ? 0 : gemm_panel_bias(G->kind);
  static const char *const hows[] = {"rows", "cols", "bytes"};
  char name[64];
  snprintf(name, sizeof name, "nit_pack.%s%s", hows[how], bias ? ".bias" : "");
  Ty pt[] = {g->t_ptr, g->t_i64, g->t_i64, g->t_ptr, g->t_i64, g->t_i64, g->t_i64, g->t_i64};
  Ty ft = LLVMFunctionType(g->t_void, pt, 8, 0);
  Val f = LLVMGetNamedFunction(g->mod, name);
  if (!f) {
    Aside saved = l_aside(g);
    f = l_begin_loop_fn(g, name, ft);
    Pack P = {l_param(g, 0, "B"), l_param(g, 1, "sn"), l_param(g, 2, "sk"), l_param(g, 3, "P"),
              l_param(g, 4, "N"), l_param(g, 5, "K"),  l_param(g, 6, "j0"), l_param(g, 7, "j1")};
    pack_body(g, &P, how, bias);
    LLVMBuildRetVoid(g->b);
    l_back(g, saved);
  }
  Val args[] = {G->v_B, l_i64(g, G->sn), l_i64(g, G->sk), G->v_P, G->v_N, G->v_K, G->v_j0, G->v_j1};
  l_call(g, ft, f, args, 8, "");
}

/* Sixteen vectors' lane sums as one vector: lane r = sum of v[r]'s lanes.
 * Four rounds; round h (8, 4, 2, 1) adds v[i] and v[i + h] pairwise, each
 * block of 2h lanes taking h lanes' sums of each: 30 shuffles, 15 adds. */
static Val sum16(Cg *g, Val v[PL]) {
  for (int h = PL / 2; h >= 1; h /= 2) {
    Val lo[PL], hi[PL];
    for (int s = 0; s < PL; s += 2 * h)
      for (int t = 0; t < h; t++) {
        lo[s + t] = l_i32(g, s + t), lo[s + h + t] = l_i32(g, PL + s + t);
        hi[s + t] = l_i32(g, s + h + t), hi[s + h + t] = l_i32(g, PL + s + h + t);
      }
    Val v_lo = LLVMConstVector(lo, PL), v_hi = LLVMConstVector(hi, PL);
    for (int i = 0; i < h; i++)
      v[i] = l_add(g, LLVMBuildShuffleVector(g->b, v[i], v[i + h], v_lo, ""),
                   LLVMBuildShuffleVector(g->b, v[i], v[i + h], v_hi, ""), "sum16");
  }
  return v[0];
}

/* The row sums of rows [r0, r0 + n) (n = 1 or PL), each row's bytes 64 at a
 * time into 16 lanes, and their lane sums. */
static void row_sums_of(Cg *g, Val v_A, Val v_lda, Val v_r0, int n, Val v_full, Val v_mask, Val v_dst) {
  Ty t_v = LLVMVectorType(g->t_i32, PL), t_b = LLVMVectorType(g->t_i8, 64), ft_dp, ft_red;
  Ty ov_red[] = {t_v};
  Val f_dp = l_intrinsic(g, "llvm.x86.avx512.vpdpbusd.512", NULL, 0, &ft_dp);
  Val v_ones = l_splat(g, l_i32(g, 0x01010101), PL, "ones");
  Val v_row[PL], var[PL], v_acc[PL];
  for (int r = 0; r < n; r++) {
    v_row[r] = l_gep(g, g->t_i8, v_A, l_mul(g, l_add(g, v_r0, l_i64(g, r), ""), v_lda, ""), "rs.row");
    var[r] = l_var(g, t_v, "rsum.var", NULL);
    l_set(g, var[r], LLVMConstNull(t_v));
  }
  Loop Lk = l_for(g, l_i64(g, 0), v_full, "rk");
  for (int r = 0; r < n; r++) {
    Val v_ld = LLVMBuildLoad2(g->b, t_b, l_gep(g, g->t_i8, v_row[r], l_mul(g, Lk.v_i, l_i64(g, 64), ""), ""), "a64");
    LLVMSetAlignment(v_ld, 1);
    Val args[] = {l_get(g, t_v, var[r], ""), v_ones, LLVMBuildBitCast(g->b, v_ld, t_v, "")};
    l_set(g, var[r], l_call(g, ft_dp, f_dp, args, 3, "rs.acc"));
  }
  l_next(g, &Lk);
  for (int r = 0; r < n; r++) {
    Val v_tail = l_masked_load(g, t_b, l_gep(g, g->t_i8, v_row[r], l_mul(g, v_full, l_i64(g, 64), ""), ""), 1,
                               v_mask, LLVMConstNull(t_b), "a.tail");
    Val args[] = {l_get(g, t_v, var[r], ""), v_ones, LLVMBuildBitCast(g->b, v_tail, t_v, "")};
    v_acc[r] = l_call(g, ft_dp, f_dp, args, 3, "rs.acc");
  }
  if (n == 1) {
    Val f_red = l_intrinsic(g, "llvm.vector.reduce.add", ov_red, 1, &ft_red);
    l_store(g, g->t_i32, l_call(g, ft_red, f_red, v_acc, 1, "rsum"), v_dst, v_r0);
    return;
  }
  Val v_st = LLVMBuildStore(g->b, sum16(g, v_acc), l_gep(g, g->t_i32, v_dst, v_r0, ""));
  LLVMSetAlignment(v_st, 4);
}

/* dst[r] = sum_{k<K} A[r*lda + k] (i32) for r < rows: the bias correction of
 * the vnni kernel, so it uses the kernel's own instruction: each row's bytes
 * 64 at a time into 16 lanes by vpdpbusd against bytes of 1 (unsigned 1
 * times signed a), the last 1..63 by a masked load, then the lanes' sum,
 * for sixteen rows at once by sum16 (the rows left over one by one).
 * Exact: a lane holds at most ceil(K/64) * 4 * 128 in magnitude. The loop
 * of auto-vectorized sign extensions before it spent most of LeNet-5's c2
 * weight-gradient bodies outside the GEMM in per-row horizontal sums.
 * One internal function per module, nit_rowsums(A, lda, rows, K, dst),
 * emitted on first use: inline at every call, its sixteen-row code took
 * vgg_small's compile time from about 0.83 to 1.00 s. */
void row_sums(Cg *g, Val v_A, int64_t lda, Val v_rows, Val v_K, Val v_dst) {
  Ty pt[] = {g->t_ptr, g->t_i64, g->t_i64, g->t_i64, g->t_ptr};
  Ty ft = LLVMFunctionType(g->t_void, pt, 5, 0);
  Val f = LLVMGetNamedFunction(g->mod, "nit_rowsums");
  if (!f) {
    Aside saved = l_aside(g);
    f = l_begin_loop_fn(g, "nit_rowsums", ft);
    Val v_a = l_param(g, 0, "A"), v_lda = l_param(g, 1, "lda"), v_n = l_param(g, 2, "rows");
    Val v_k = l_param(g, 3, "K"), v_d = l_param(g, 4, "dst");
    Val v_full = LLVMBuildUDiv(g->b, v_k, l_i64(g, 64), "rs.full");
    Val v_rem = l_sub(g, v_k, l_mul(g, v_full, l_i64(g, 64), ""), "rs.rem");
    /* the bytes t < rem of the last 64 (rem = 0: none) */
    Val v_bits = LLVMBuildSub(g->b, LLVMBuildShl(g->b, l_i64(g, 1), v_rem, ""), l_i64(g, 1), "");
    Val v_mask = LLVMBuildBitCast(g->b, v_bits, LLVMVectorType(g->t_i1, 64), "rs.mask");
    Val v_groups = LLVMBuildUDiv(g->b, v_n, l_i64(g, PL), "rs.groups");
    Loop Lg = l_for(g, l_i64(g, 0), v_groups, "rs16");
    row_sums_of(g, v_a, v_lda, l_mul(g, Lg.v_i, l_i64(g, PL), ""), PL, v_full, v_mask, v_d);
    l_next(g, &Lg);
    Loop Lr = l_for(g, l_mul(g, v_groups, l_i64(g, PL), ""), v_n, "rs");
    row_sums_of(g, v_a, v_lda, Lr.v_i, 1, v_full, v_mask, v_d);
    l_next(g, &Lr);
    LLVMBuildRetVoid(g->b);
    l_back(g, saved);
  }
  Val args[] = {v_A, l_i64(g, lda), v_rows, v_K, v_dst};
  l_call(g, ft, f, args, 5, "");
}

/* ------------------------------------------------ the shared tile loops
 *
 * The tiles of a GEMM do not depend on the layer: every (micro-kernel, C
 * type, accumulate, max tracking) combination is one internal noinline
 * function
 *   void nit_gemm.KIND.iW[.acc][.max](A, lda, asum, P, C, ldc, M, N, K, j0, j1, maxp)
 * (`.implicit`: three more, taps, prow and pcols, for panels read in place)
 * emitted once per module and called by every GEMM of that kind, with the
 * strides as arguments. Emitting the tiles inline at each of a network's
 * GEMMs (each a few thousand IR lines) made LLVM's optimizer the bulk of the
 * compile time, for no speed: the k loop does not depend on the strides. */

/* The tile code's view of one GEMM: the function's parameters. */
typedef struct Tiles {
  Val v_A, v_lda, v_asum, v_P, v_C, v_ldc; /* as in Gemm, strides as values */
  Val v_M, v_N, v_K;                       /* i64 */
  Val v_ps;                                /* bytes from one panel to the next (of the whole K) */
  Ty t_acc;
  bool accumulate;
  bool corr; /* bias kernels: rows corrected by asum here (a later block of K: not again) */
  bool stream; /* full panels stored non-temporally (Gemm.stream) */
  GemmKind kind;
  Val var_max;                 /* <16 x i32> local running max |C|, or NULL */
  Val v_taps, v_prow, v_pcols; /* implicit panels (Gemm's v_taps), or NULL */
  bool ua;                     /* A unsigned, panels unbiased (Gemm.ua) */
  bool ub;                     /* panels unsigned (Gemm.ub) */
  bool ax;                     /* A split into magnitudes and sign masks (Gemm.ax) */
} Tiles;

/* The B(V) reduction fused into the epilogue: var_max = max(var_max, |c|)
 * lane-wise, over the lanes stored (v_mask NULL: all), c the value stored
 * (in C's type: with accumulate, the last block of K's total). Sums stay
 * below 2^31 in magnitude (gemm_kind), so |c| fits i32 and cannot overflow. */
static void track_max(Cg *g, const Tiles *G, Val v_c, Val v_mask) {
  Ty t_v = LLVMVectorType(g->t_i32, PL);
  l_max_abs(g, G->var_max, G->t_acc == g->t_i32 ? v_c : l_trunc(g, v_c, t_v, "c.i32"), v_mask);
}

/* The lanes n0 + l < N of a panel: a <16 x i1> mask. */
static Val lane_mask(Cg *g, const Tiles *G, Val v_n0) { return l_mask_first(g, l_sub(g, G->v_N, v_n0, ""), PL); }

/* Masked load (v_old non-NULL: of the old C, 0 where masked off) or store
 * of 16 lanes of C. */
static Val masked_c(Cg *g, const Tiles *G, Val v_ptr, Val v_mask, Val v_store) {
  Ty t_c = LLVMVectorType(G->t_acc, PL);
  unsigned al = (unsigned)l_bytes(G->t_acc);
  if (!v_store) return l_masked_load(g, t_c, v_ptr, al, v_mask, LLVMConstNull(t_c), "c.old");
  l_masked_store(g, v_store, v_ptr, al, v_mask);
  return NULL;
}

/* Store (or add) 16 i32 lanes at C[row + n0 ..], only lanes n0 + l < N.
 * With the panel's mask given (kernels whose ISA masks stores at no cost:
 * AVX-512), every store is masked; otherwise full panels take plain vector
 * stores and only the last one a masked store. */
static void store_lanes(Cg *g, const Tiles *G, Val v_sum, Val v_idx, Val v_n0, Val v_pmask) {
  Ty t_c = LLVMVectorType(G->t_acc, PL);
  unsigned al = (unsigned)l_bytes(G->t_acc);
  Val v_v = G->t_acc == g->t_i32 ? v_sum : l_sext(g, v_sum, t_c, "sum.w");
  Val v_ptr = l_gep(g, G->t_acc, G->v_C, v_idx, "c");
  if (v_pmask && !G->stream) {
    Val v_out = G->accumulate ? l_add(g, masked_c(g, G, v_ptr, v_pmask, NULL), v_v, "c.new") : v_v;
    if (G->var_max) track_max(g, G, v_out, v_pmask);
    masked_c(g, G, v_ptr, v_pmask, v_out);
    return;
  }
  Val v_full = l_icmp(g, LLVMIntSLE, l_add(g, v_n0, l_i64(g, PL), ""), G->v_N, "full");
  Blk b_part, b_join = l_if_else(g, v_full, "st.full", &b_part);
  Val v_out = v_v;
  if (G->accumulate) {
    Val v_old = LLVMBuildLoad2(g->b, t_c, v_ptr, "c.old");
    LLVMSetAlignment(v_old, al);
    v_out = l_add(g, v_old, v_v, "c.new");
  }
  Val v_st = LLVMBuildStore(g->b, v_out, v_ptr);
  LLVMSetAlignment(v_st, G->stream ? 64 : al);
  if (G->stream) {
    LLVMMetadataRef md_one = LLVMValueAsMetadata(l_i32(g, 1));
    LLVMSetMetadata(v_st, LLVMGetMDKindIDInContext(g->ctx, "nontemporal", 11),
                    LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, &md_one, 1)));
  }
  if (G->var_max) track_max(g, G, v_out, NULL);
  l_else(g, b_part, b_join);
  Val v_mask = lane_mask(g, G, v_n0);
  v_out = G->accumulate ? l_add(g, masked_c(g, G, v_ptr, v_mask, NULL), v_v, "c.new") : v_v;
  if (G->var_max) track_max(g, G, v_out, v_mask);
  masked_c(g, G, v_ptr, v_mask, v_out);
  l_endif(g, b_join);
}

/* The quad of A's row at v_row + v_off: v_tmask NULL, four bytes; else the
 * 1..3 bytes it selects, the others 0 and not read (little-endian quad). */
static Val a_quad(Cg *g, Val v_row, Val v_off, Val v_tmask, const char *name) {
  Val v_at = l_gep(g, g->t_i8, v_row, v_off, "");
  if (!v_tmask) {
    Val v_a = LLVMBuildLoad2(g->b, g->t_i32, v_at, name);
    LLVMSetAlignment(v_a, 1);
    return v_a;
  }
  Ty t_q = LLVMVectorType(g->t_i8, 4);
  return LLVMBuildBitCast(g->b, l_masked_load(g, t_q, v_at, 1, v_tmask, LLVMConstNull(t_q), ""), g->t_i32, name);
}

/* One tile: rows [m0, m0 + mr) by panels [j, j + np). */
static void gemm_tile(Cg *g, const Tiles *G, Val v_m0, int mr, Val v_j, int np, Val v_ps) {
  Ty t_v = LLVMVectorType(g->t_i32, 16);
  /* generic: 32 lanes of pair sums, folded to 16 once, after the k loop */
  const struct MicroKernel *uk = &kernels[G->kind];
  Ty t_a = LLVMVectorType(g->t_i32, (unsigned)uk->lanes);
  Val var_acc[8][4], v_arow[8], v_mrow[8], v_pan[4];
  for (int r = 0; r < mr; r++) {
    v_arow[r] = l_gep(g, g->t_i8, G->v_A, l_mul(g, l_add(g, v_m0, l_i64(g, r), ""), G->v_lda, ""), "a.row");
    if (G->ax) v_mrow[r] = l_gep(g, g->t_i8, v_arow[r], LLVMBuildAShr(g->b, G->v_lda, l_i64(g, 1), ""), "a.neg.row");
    for (int p = 0; p < np; p++) var_acc[r][p] = l_var(g, t_a, "acc.var", LLVMConstNull(t_a));
  }
  for (int p = 0; p < np; p++) {
    Val v_jp = l_add(g, v_j, l_i64(g, p), "");
    Val v_at = !G->v_taps ? l_mul(g, v_jp, v_ps, "")
                         : l_add(g, l_mul(g, LLVMBuildUDiv(g->b, v_jp, G->v_pcols, ""), G->v_prow, ""),
                                 l_mul(g, LLVMBuildURem(g->b, v_jp, G->v_pcols, ""), l_i64(g, 64), ""), "");
    v_pan[p] = l_gep(g, g->t_i8, G->v_P, v_at, "pan");
  }
  Val v_kf = LLVMBuildAShr(g->b, G->v_K, l_i64(g, 2), "kfull");
  Val v_tail = LLVMBuildAnd(g->b, G->v_K, l_i64(g, 3), "ktail"), v_tmask = NULL;
  /* the full quads, then one quad of 1..3 bytes of A (its other bytes 0);
   * implicit panels have K % 4 == 0 */
  for (int part = 0; part < (G->v_taps ? 1 : 2); part++) {
    Loop Lq;
    Blk b_join = NULL;
    Val v_q;
    if (part == 0) {
      Lq = l_for(g, l_i64(g, 0), v_kf, "kq");
      v_q = Lq.v_i;
    } else {
      b_join = l_if(g, l_icmp(g, LLVMIntNE, v_tail, l_i64(g, 0), ""), "ktail");
      v_q = v_kf;
      /* one masked load of the 1..3 bytes left per row: lanes t < K % 4 */
      Val quad[4];
      for (int t = 0; t < 4; t++) quad[t] = l_i64(g, t);
      v_tmask = l_icmp(g, LLVMIntSLT, LLVMConstVector(quad, 4), l_splat(g, v_tail, 4, ""), "tmask");
    }
    Val v_off = l_mul(g, v_q, l_i64(g, 4), "koff");
    Val v_bat = G->v_taps ? l_load(g, g->t_i64, G->v_taps, v_q, "b.at") : l_mul(g, v_q, l_i64(g, 64), "b.at");
    Val v_bv[4];
    for (int p = 0; p < np; p++) {
      Val v_l = LLVMBuildLoad2(g->b, t_v, l_gep(g, g->t_i8, v_pan[p], v_bat, ""), "b.v");
      LLVMSetAlignment(v_l, 4);
      v_bv[p] = v_l;
    }
    for (int r = 0; r < mr; r++) {
      Val v_a = a_quad(g, v_arow[r], v_off, v_tmask, "a.q");
      Val v_m = G->ax ? a_quad(g, v_mrow[r], v_off, v_tmask, "a.neg.q") : NULL;
      Val (*dot)(Cg *, Val, Val, Val) = G->ua ? uk->dot_ua : G->ub ? uk->dot_ub : uk->dot;
      for (int p = 0; p < np; p++) {
        Val v_acc = l_get(g, t_a, var_acc[r][p], "");
        l_set(g, var_acc[r][p], G->ax ? dot_ubs_ax(g, v_acc, v_a, v_m, v_bv[p]) : dot(g, v_acc, v_a, v_bv[p]));
      }
    }
    /* each accumulator is one chain of dot steps: unrolling the k loop
     * would not overlap them further, only multiply the code */
    if (part == 0) l_next_rolled(g, &Lq);
    else l_endif(g, b_join);
  }
  Val v_n0[4], v_pmask[4] = {NULL};
  for (int p = 0; p < np; p++) {
    v_n0[p] = l_mul(g, l_add(g, v_j, l_i64(g, p), ""), l_i64(g, PL), "n0");
    if (uk->masked) v_pmask[p] = lane_mask(g, G, v_n0[p]);
  }
  for (int r = 0; r < mr; r++) {
    Val v_m = l_add(g, v_m0, l_i64(g, r), "m");
    Val v_corr = NULL;
    if (uk->bias && G->corr && !G->ua)
      v_corr = l_splat(g, LLVMBuildShl(g->b, l_load(g, g->t_i32, G->v_asum, v_m, "asum"), l_i32(g, 7), ""), 16, "corr");
    if (G->ax && G->corr) /* added: the split form's sums come out short */
      v_corr = l_splat(g, LLVMBuildNeg(g->b, l_load(g, g->t_i32, G->v_asum, v_m, "negsum"), ""), 16, "corr");
    for (int p = 0; p < np; p++) {
      Val v_sum = l_get(g, t_a, var_acc[r][p], "sum");
      if (uk->lanes == 32)
        v_sum = l_add(g, l_lanes(g, v_sum, NULL, 0, 16, 2, ""), l_lanes(g, v_sum, NULL, 1, 16, 2, ""), "sum");
      if (v_corr) v_sum = l_sub(g, v_sum, v_corr, "dot");
      store_lanes(g, G, v_sum, l_add(g, l_mul(g, v_m, G->v_ldc, ""), v_n0[p], ""), v_n0[p], v_pmask[p]);
    }
  }
}

/* Rows in tiles of MR, then the 0..MR-1 rows left in tiles of the powers
 * of two below MR (MR/2, MR/4, .., 1 where MR is one), for np panels at j;
 * with MR = 8 a tile of 6 rows first. Small M is common (a conv's output
 * channels per group, 6 in LeNet-5's first layer), and each tile loads the
 * panel rows again for every dot step: 6 rows as one tile instead of 4 + 2
 * load them once (LeNet-5 1.026x on one thread, 1.012x on two). */
static void gemm_rows(Cg *g, const Tiles *G, Val v_j, int np, Val v_ps, int MR) {
  Val v_mfull = l_mul(g, LLVMBuildSDiv(g->b, G->v_M, l_i64(g, MR), ""), l_i64(g, MR), "mfull");
  Loop Lm = l_for(g, l_i64(g, 0), LLVMBuildSDiv(g->b, G->v_M, l_i64(g, MR), ""), "tm");
  gemm_tile(g, G, l_mul(g, Lm.v_i, l_i64(g, MR), "m0"), MR, v_j, np, v_ps);
  l_next(g, &Lm);
  Val var_m = l_var(g, g->t_i64, "m.rem.var", v_mfull);
  int sizes[8], nsizes = 0;
  if (MR == 8) sizes[nsizes++] = 6;
  int p2 = 1;
  while (2 * p2 < MR) p2 *= 2;
  for (int mr = p2; mr >= 1; mr /= 2) sizes[nsizes++] = mr; /* the powers of two below MR: any 0..MR-1 */
  for (int s = 0; s < nsizes; s++) {
    int mr = sizes[s];
    Val v_m = l_get(g, g->t_i64, var_m, "m.rem");
    Blk b_join = l_if(g, l_icmp(g, LLVMIntSGE, l_sub(g, G->v_M, v_m, ""), l_i64(g, mr), ""), "tm.rem");
    gemm_tile(g, G, v_m, mr, v_j, np, v_ps);
    l_set(g, var_m, l_add(g, v_m, l_i64(g, mr), ""));
    l_endif(g, b_join);
  }
}

/* The shared function of G's combination, emitted on first use; corr
 * false: the function of a later block of K (kblock_gemm), which adds to C
 * and leaves the rows' correction to the first. */
static Val tiles_fn(Cg *g, const Gemm *G, bool corr, Ty *ft_out) {
  Ty pt[] = {g->t_ptr, g->t_i64, g->t_ptr, g->t_ptr, g->t_ptr, g->t_i64, g->t_i64, g->t_i64, g->t_i64,
             g->t_i64, g->t_i64, g->t_i64, g->t_ptr, g->t_ptr, g->t_i64, g->t_i64};
  bool imp = G->v_taps != NULL;
  NIT_ASSERT(corr || (G->accumulate && !imp && !G->stream));
  Ty ft = *ft_out = LLVMFunctionType(g->t_void, pt, imp ? 16 : 13, 0);
  char name[64];
  snprintf(name, sizeof name, "nit_gemm.%s.i%d%s%s%s%s%s%s", kernels[G->kind].name, 8 * l_bytes(G->t_acc),
           G->ua ? ".ua" : G->ub ? ".ub" : G->ax ? ".ax" : "", G->accumulate ? ".acc" : "", corr ? "" : ".kb",
           G->var_max ? ".max" : "", imp ? ".implicit" : "", G->stream ? ".nt" : "");
  Val f = LLVMGetNamedFunction(g->mod, name);
  if (f) return f;
  Aside saved = l_aside(g);
  f = l_begin_loop_fn(g, name, ft);
  Tiles T = {l_param(g, 0, "A"),  l_param(g, 1, "lda"), l_param(g, 2, "asum"), l_param(g, 3, "P"),
             l_param(g, 4, "C"),  l_param(g, 5, "ldc"), l_param(g, 6, "M"),    l_param(g, 7, "N"),
             l_param(g, 8, "K"),  l_param(g, 9, "ps"),  G->t_acc,              G->accumulate,
             corr,                G->stream,            G->kind,               NULL,
             NULL,                NULL,                 NULL,                  G->ua,
             G->ub,               G->ax};
  if (imp) T.v_taps = l_param(g, 13, "taps"), T.v_prow = l_param(g, 14, "prow"), T.v_pcols = l_param(g, 15, "pcols");
  Val v_j0 = l_param(g, 10, "j0"), v_j1 = l_param(g, 11, "j1"), v_maxp = l_param(g, 12, "maxp");
  Ty t_v = LLVMVectorType(g->t_i32, PL);
  if (G->var_max) T.var_max = l_var(g, t_v, "max.var", LLVMBuildLoad2(g->b, t_v, v_maxp, "max.in"));
  Val v_ps = T.v_ps;
  int MR = kernels[G->kind].mr, NP = kernels[G->kind].np;
  Val v_np = l_sub(g, v_j1, v_j0, "np");
  Val v_jfull = l_mul(g, LLVMBuildSDiv(g->b, v_np, l_i64(g, NP), ""), l_i64(g, NP), "np.full");
  Loop Lj = l_for(g, l_i64(g, 0), LLVMBuildSDiv(g->b, v_np, l_i64(g, NP), ""), "tj");
  gemm_rows(g, &T, l_add(g, v_j0, l_mul(g, Lj.v_i, l_i64(g, NP), ""), "j"), NP, v_ps, MR);
  l_next(g, &Lj);
  if (NP > 1) { /* the 1..NP-1 panels left, one at a time */
    Loop Lr = l_for(g, l_add(g, v_j0, v_jfull, ""), v_j1, "tj.rem");
    gemm_rows(g, &T, Lr.v_i, 1, v_ps, MR);
    l_next(g, &Lr);
  }
  if (G->var_max) LLVMBuildStore(g->b, l_get(g, t_v, T.var_max, "max.out"), v_maxp);
  /* non-temporal stores are weakly ordered (x86): fenced before the pool's
   * release of the chunk can publish C to another thread */
  if (G->stream) LLVMBuildFence(g->b, LLVMAtomicOrderingSequentiallyConsistent, 0, "");
  LLVMBuildRetVoid(g->b);
  l_back(g, saved);
  return f;
}

/* C streams when the batch's accumulators are at least GEMM_STREAM_BYTES
 * (NITC_STREAM_BYTES=N in nitc's environment sets the bound; the tests use
 * 0, every GEMM that can) and every row of C starts on a cache line, which
 * the slab's alignment and the row's length decide. */
int64_t gemm_stream_min(void) { return env_num("NITC_STREAM_BYTES", GEMM_STREAM_BYTES); }

bool gemm_stream(Cg *g, int64_t sample_bytes, int64_t row_bytes) {
  return g->m->recipe.batch * sample_bytes >= g->stream_min && row_bytes % SLAB_ALIGN == 0;
}

/* One call of G's tile function over the k in [k0, k0 + K) that v_A and
 * v_P start at (panels v_ps apart, of the whole K). */
static void tiles_call(Cg *g, const Gemm *G, bool corr, Val v_A, Val v_P, Val v_K, Val v_ps, Val var_max) {
  Gemm H = *G;
  H.var_max = var_max;
  Ty ft;
  Val f = tiles_fn(g, &H, corr, &ft);
  Val v_null = LLVMConstNull(g->t_ptr);
  /* the tiles take N only to leave the lanes past it unstored (whole: N is
   * a constant, gemm checks) */
  Val v_N = G->whole ? l_i64(g, rup(LLVMConstIntGetSExtValue(G->v_N), PL)) : G->v_N;
  Val args[] = {v_A,    l_i64(g, G->lda), G->v_asum ? G->v_asum : v_null, v_P,     G->v_C,
                l_i64(g, G->ldc), G->v_M, v_N,    v_K, v_ps, G->v_j0, G->v_j1, var_max ? var_max : v_null,
                G->v_taps, l_i64(g, G->prow), l_i64(g, G->pcols)};
  l_call(g, ft, f, args, G->v_taps ? 16 : 13, "");
}

/* The tiles of a later block of K, [k0, k0 + K). */
static void kblock_call(Cg *g, const Gemm *H, Val v_k0, Val v_K, Val v_ps, Val var_max) {
  Val v_A = l_gep(g, g->t_i8, H->v_A, v_k0, "a.k0");
  Val v_P = l_gep(g, g->t_i8, H->v_P, l_mul(g, v_k0, l_i64(g, 16), ""), "p.k0"); /* k0 / 4 quads of 64 bytes */
  tiles_call(g, H, false, v_A, v_P, v_K, v_ps, var_max);
}

/* K in blocks of kb (a multiple of 4), K > kb: with the whole K, a tile's
 * rows of A and its panels stop fitting the core's L2 (the 256 x 256
 * product at K = 32768: 70% of the peak, against 96% at 16384;
 * docs/performance.md, "K in blocks"). The first block stores C (or adds
 * to it) and corrects the rows; every later one adds its sums to C; the
 * last alone tracks the maximum. C is not streamed: each of its lines is
 * read and written once per block. The sums are exact in any order, so C
 * is the same. */
static void kblock_gemm(Cg *g, const Gemm *G, int64_t kb, Val v_ps) {
  Gemm H = *G;
  H.stream = false;
  Val v_kb = l_i64(g, kb), v_n = LLVMBuildSDiv(g->b, l_add(g, G->v_K, l_i64(g, kb - 1), ""), v_kb, "kblocks");
  tiles_call(g, &H, true, G->v_A, G->v_P, v_kb, v_ps, NULL);
  H.accumulate = true;
  Val v_last = l_sub(g, v_n, l_i64(g, 1), "k.last");
  Loop Lb = l_for(g, l_i64(g, 1), v_last, "kblock");
  kblock_call(g, &H, l_mul(g, Lb.v_i, v_kb, "k0"), v_kb, v_ps, NULL);
  l_next_scalar(g, &Lb);
  Val v_k0 = l_mul(g, v_last, v_kb, "k0.last");
  kblock_call(g, &H, v_k0, l_sub(g, G->v_K, v_k0, "k.len"), v_ps, G->var_max);
}

/* Blocks of K (kblock_gemm), and the K above which they are taken:
 * NITC_GEMM_KBLOCK=N in nitc's environment (a multiple of 4: env.c's table
 * refuses any other) takes blocks of N above N, so that the tests reach
 * them with small layers. */
int64_t gemm_kblock(int64_t *from) {
  int64_t set = env_num("NITC_GEMM_KBLOCK", -1);
  if (set > 0) return *from = set;
  *from = GEMM_KBLOCK_FROM;
  return GEMM_KBLOCK;
}

void gemm(Cg *g, const Gemm *G) {
  NIT_ASSERT(!G->stream || !G->accumulate);
  NIT_ASSERT(!G->whole || (!G->var_max && LLVMIsAConstantInt(G->v_N) &&
                            G->ldc >= rup(LLVMConstIntGetSExtValue(G->v_N), PL)));
  if (G->kind == GK_PLAIN) {
    Ty t = G->t_acc;
    Val v_n0 = l_mul(g, G->v_j0, l_i64(g, PL), "n0");
    Val v_n1 = l_smin(g, l_mul(g, G->v_j1, l_i64(g, PL), ""), G->v_N, "n1");
    Loop Lm = l_for(g, l_i64(g, 0), G->v_M, "gm");
    Loop Ln = l_for(g, v_n0, v_n1, "gn");
    Val v_ar = l_mul(g, Lm.v_i, l_i64(g, G->lda), "arow"), v_br = l_mul(g, Ln.v_i, l_i64(g, G->sn), "brow");
    Val var = l_var(g, t, "dot.var", NULL);
    l_set(g, var, LLVMConstNull(t));
    Loop Lk = l_for(g, l_i64(g, 0), G->v_K, "gk");
    Val v_a = l_sext(g, l_load(g, g->t_i8, G->v_A, l_add(g, v_ar, Lk.v_i, ""), "a"), t, "");
    Val v_b =
        l_sext(g, l_load(g, g->t_i8, G->v_B, l_add(g, v_br, l_mul(g, Lk.v_i, l_i64(g, G->sk), ""), ""), "b"), t, "");
    l_set(g, var, l_add(g, l_get(g, t, var, ""), l_mul(g, v_a, v_b, ""), "dot"));
    l_next(g, &Lk);
    Val v_idx = l_add(g, l_mul(g, Lm.v_i, l_i64(g, G->ldc), ""), Ln.v_i, "cidx");
    Val v_v = l_get(g, t, var, "dot");
    if (G->accumulate) v_v = l_add(g, l_load(g, t, G->v_C, v_idx, "c.old"), v_v, "c.new");
    l_store(g, t, v_v, G->v_C, v_idx);

    l_next(g, &Ln);
    l_next(g, &Lm);
    return;
  }
  NIT_ASSERT(!G->v_taps || ((G->kind == GK_VNNI || G->kind == GK_UBS) && !G->v_B));
  NIT_ASSERT(!G->ua || gemm_has_ua(G->kind));
  NIT_ASSERT(!G->ub || (gemm_has_ub(G->kind) && !G->ua));
  NIT_ASSERT(!G->ax || (G->kind == GK_UBS && !G->ua && !G->ub && G->v_asum && G->lda % 2 == 0));
  if (G->v_B) pack_panels(g, G);
  Val v_ps = l_mul(g, LLVMBuildAShr(g->b, l_add(g, G->v_K, l_i64(g, 3), ""), l_i64(g, 2), ""), l_i64(g, 64), "ps");
  int64_t from, kb = gemm_kblock(&from);
  int64_t kmax = LLVMIsAConstantInt(G->v_K) ? LLVMConstIntGetSExtValue(G->v_K) : G->kmax;
  bool small = kmax > 0 && kmax <= from;
  Blk b_one = NULL, b_join = NULL; /* K known to be small: the whole of it only */
  if (!G->v_taps && !small) {       /* in blocks if the run-time K is large */
    b_join = l_if_else(g, l_icmp(g, LLVMIntSGT, G->v_K, l_i64(g, from), ""), "k.blocks", &b_one);
    kblock_gemm(g, G, kb, v_ps);
    l_else(g, b_one, b_join);
  }
  tiles_call(g, G, true, G->v_A, G->v_P, G->v_K, v_ps, G->var_max);
  if (b_join) l_endif(g, b_join);
}

/* Over a short K the split form's second quad per row and its correction
 * cost more than vpsignb does: LeNet-5's c2 col2im GEMM (K = 16) took 370
 * against 357 microseconds a step, vgg_small's input errors (K >= 576) 8-11%
 * less; resnet_l1's (K = 144) the same step either way, and its tile
 * functions 0.04 s more to compile. NITC_AX_KMIN=N in nitc's environment:
 * from K = N (the tests: 0). */
bool gemm_ax(GemmKind kind, int64_t K) { return kind == GK_UBS && K >= env_num("NITC_AX_KMIN", GEMM_AX_KMIN); }
int64_t gemm_ax_lda(GemmKind kind, int64_t K, int64_t lda) { return gemm_ax(kind, K) ? ax_lda(lda) : lda; }

/* A's split form (Gemm.ax), written where A is built (the conv input
 * errors' regrouped weights): byte v_w's magnitude |w| at v_at, its mask
 * (0xff where w < 0, else 0) lda / 2 later. */
void gemm_ax_store(Cg *g, Val v_w, Val v_A, Val v_at, int64_t lda) {
  Val v_neg = l_icmp(g, LLVMIntSLT, v_w, LLVMConstInt(g->t_i8, 0, 0), "w.neg");
  l_store(g, g->t_i8, l_select(g, v_neg, LLVMBuildNeg(g->b, v_w, ""), v_w, "w.mag"), v_A, v_at);
  l_store(g, g->t_i8, LLVMBuildSExt(g->b, v_neg, g->t_i8, "w.mask"), v_A, l_add(g, v_at, l_i64(g, lda / 2), ""));
}

/* A (rows, K), rows lda_src apart, split into v_dst (rows of ax_lda(K))
 * with its corrections in v_corr: the standalone GEMM's (--gemm-kernel),
 * per call, in one loop the vectorizer takes. */
void gemm_ax_split(Cg *g, Val v_src, int64_t lda_src, int64_t rows, int64_t K, Val v_dst, Val v_corr) {
  Loop Lm = l_for(g, l_i64(g, 0), l_i64(g, rows), "split.m");
  Val v_row = l_gep(g, g->t_i8, v_src, l_mul(g, Lm.v_i, l_i64(g, lda_src), ""), "a.src");
  Val v_at = l_mul(g, Lm.v_i, l_i64(g, ax_lda(K)), "a.dst");
  Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, K), "split.k");
  gemm_ax_store(g, l_load(g, g->t_i8, v_row, Lk.v_i, "a"), v_dst, l_add(g, v_at, Lk.v_i, ""), ax_lda(K));
  l_next(g, &Lk);
  l_next(g, &Lm);
  gemm_ax_sums(g, v_dst, ax_lda(K), rows, v_corr);
}

/* The corrections of rows [0, rows) of a split A, once it is stored:
 * dst[m] = sum_k [a < 0] |a| = sum_k (|a| & mask), i32. */
void gemm_ax_sums(Cg *g, Val v_A, int64_t lda, int64_t rows, Val v_dst) {
  Loop Lr = l_for(g, l_i64(g, 0), l_i64(g, rows), "negsum.m");
  Val v_row = l_gep(g, g->t_i8, v_A, l_mul(g, Lr.v_i, l_i64(g, lda), ""), "a.row");
  Val var = l_var(g, g->t_i32, "negsum.var", l_i32(g, 0));
  Loop Lk = l_for(g, l_i64(g, 0), l_i64(g, lda / 2), "negsum.k");
  Val v_neg = LLVMBuildAnd(g->b, l_load(g, g->t_i8, v_row, Lk.v_i, "mag"),
                           l_load(g, g->t_i8, v_row, l_add(g, Lk.v_i, l_i64(g, lda / 2), ""), "mask"), "");
  l_set(g, var, l_add(g, l_get(g, g->t_i32, var, ""), LLVMBuildZExt(g->b, v_neg, g->t_i32, ""), "negsum"));
  l_next(g, &Lk);
  l_store(g, g->t_i32, l_get(g, g->t_i32, var, "negsum"), v_dst, Lr.v_i);
  l_next(g, &Lr);
}

/* Whether kind has the unsigned form of that side (A, else the panels). */
static bool has_unsigned(GemmKind kind, bool a_side) { return a_side ? gemm_has_ua(kind) : gemm_has_ub(kind); }

bool gemm_nonneg(Cg *g, GemmKind kind, int i, bool a_side) { return has_unsigned(kind, a_side) && g->p->nonneg[i]; }

/* gemm(G) for a G that reads node i on a_side (A, else the panels). Where
 * i's bytes are never negative at run time although the plan cannot say so
 * (Plan.nonneg_x: the input, or a pool or flatten of it) and the kernel has
 * the unsigned form of that side, a branch on NitCtx.x_nonneg: that form
 * (Gemm.ua, Gemm.ub) where it is set, G where not. Both give the same sums. */
void gemm_reading(Cg *g, const Gemm *G, int i, bool a_side) {
  if (!g->p->nonneg_x[i] || !has_unsigned(G->kind, a_side)) {
    gemm(g, G);
    return;
  }
  Val v_if = l_icmp(g, LLVMIntNE, g->f.v_xnonneg, l_i32(g, 0), "x.nonneg.on");
  Gemm H = *G;
  if (a_side) H.ua = true;
  else H.ub = true;
  Blk b_s, b_join = l_if_else(g, v_if, "x.unsigned", &b_s);
  gemm(g, &H);
  l_else(g, b_s, b_join);
  gemm(g, G);
  l_endif(g, b_join);
}
