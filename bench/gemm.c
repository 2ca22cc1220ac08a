/*
 * bench/gemm.c: the generated int8 GEMM alone, against the machine's own
 * int8 dot-product peak.
 *
 *   gemm M N K [SECONDS [u]]  (linked with the object of nitc --gemm-kernel M,N,K,
 *                          or with u that of M,N,K,u: A never negative)
 *   gemm --peak [SECONDS]  the measured peak alone: GOP/s per core and the
 *                          instruction ("0.0 none" where there is no test)
 *
 * Checks nit_gemm's C = A B^T against a plain loop first (exit 1 on any
 * difference), then times it on one thread, the packing of B and the row
 * sums of A included, as model code runs it. A and B are random bytes in
 * [-127, 127], as every int8 tensor is (docs/numerics.md); with u, A's are
 * in [0, 127], as a relu's output is (the kernel's unsigned form: on AVX2
 * without VNNI the signed one takes a vpsignb and a shared vpabsb more per
 * product, docs/performance.md, "AVX2 without VNNI"). The peak is
 * measured, not assumed: with AVX-512 VNNI, the best of 16, 24 and 30
 * independent vpdpbusd zmm chains; with AVX2 alone, chains of vpmaddubsw,
 * vpmaddwd and vpaddd, and those three as a GEMM tile's loop runs them
 * (ubs_tile), the better of the two; elsewhere none is printed. The peak is
 * the best of windows of 0.1 s. On AMD Zen 5 the GEMM
 * itself runs faster than any chain layout tried, so there the peak is a
 * lower bound and the program says so. Both are timed by the process's CPU
 * clock (one thread), so time spent descheduled on a shared machine does
 * not count. Benchmark code: timing uses doubles, training never.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

void nit_gemm(const int8_t *A, const int8_t *B, int32_t *C, void *scratch);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* one thread: time on the core, not time waiting for it */
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xalloc(size_t n) {
  void *p = aligned_alloc(64, (n + 63) / 64 * 64);
  if (!p) {
    fprintf(stderr, "gemm: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  memset(p, 0, n);
  return p;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static int8_t rand8(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  int8_t v = (int8_t)(rng >> 24);
  return v == -128 ? 0 : v; /* int8 tensors are symmetric (docs/numerics.md): the ubs kernel relies on it */
}

#if defined(__x86_64__)
/* CHAINS independent vpdpbusd chains on zmm0.., sources zmm30 and zmm31, 1000
 * instructions per chain and loop trip. How many chains it takes to cover the
 * instruction's latency times its throughput differs between cores (16 are
 * enough on Intel's VNNI parts; AMD Zen 5 keeps gaining up to 30), so the
 * peak is the best of 16, 24 and 30 chains. */
#define DP(i)                       "vpdpbusd %%zmm30, %%zmm31, %%zmm" #i "\n\t"
#define DP8(a, b, c, d, e, f, g, h) DP(a) DP(b) DP(c) DP(d) DP(e) DP(f) DP(g) DP(h)
#define CHAIN_LOOP(body)                                                                                           \
  __asm__ volatile("vpternlogd $0xff, %%zmm30, %%zmm30, %%zmm30\n\t"                                               \
                   "vpternlogd $0xff, %%zmm31, %%zmm31, %%zmm31\n\t"                                               \
                   "mov $1000, %%ecx\n"                                                                            \
                   "1:\n\t" body "dec %%ecx\n\tjnz 1b\n\t" ::                                                      \
                       : "ecx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",    \
                         "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", \
                         "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", \
                         "xmm30", "xmm31", "cc")
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double vnni_chains(int chains, double seconds) {
  long trips = 0;
  double t0 = now(), t;
  do {
    if (chains == 16) CHAIN_LOOP(DP8(0, 1, 2, 3, 4, 5, 6, 7) DP8(8, 9, 10, 11, 12, 13, 14, 15));
    else if (chains == 24)
      CHAIN_LOOP(DP8(0, 1, 2, 3, 4, 5, 6, 7) DP8(8, 9, 10, 11, 12, 13, 14, 15) DP8(16, 17, 18, 19, 20, 21, 22, 23));
    else
      CHAIN_LOOP(DP8(0, 1, 2, 3, 4, 5, 6, 7) DP8(8, 9, 10, 11, 12, 13, 14, 15) DP8(16, 17, 18, 19, 20, 21, 22, 23)
                     DP(24) DP(25) DP(26) DP(27) DP(28) DP(29));
    trips++;
  } while ((t = now() - t0) < seconds);
  return trips * 1000.0 * chains * 64 * 2 / t / 1e9;
}

static double vnni_peak(double seconds) {
  static const int layouts[] = {16, 24, 30};
  double best = 0;
  for (int i = 0; i < 3; i++) {
    double p = vnni_chains(layouts[i], seconds / 3);
    if (p > best) best = p;
  }
  return best;
}

/* AVX2 without VNNI: the fastest exact int8 dot product is vpmaddubsw
 * (unsigned by signed bytes into pair sums of words), vpmaddwd against words
 * of 1 (quad sums in dwords) and vpaddd, 32 multiply-adds in three
 * instructions; 12 chains on ymm0..11 (a temporary, the ones and the
 * sources in ymm12..15). The ubs kernel's signed products need one vpsignb
 * more per step, so it cannot reach this peak: the GEMM's share of it is a
 * share of what an unsigned A could reach. */
#define UB(i)                                                                                              \
  "vpmaddubsw %%ymm14, %%ymm15, %%ymm12\n\tvpmaddwd %%ymm13, %%ymm12, %%ymm12\n\tvpaddd %%ymm12, %%ymm" #i \
  ", %%ymm" #i "\n\t"
__attribute__((target("avx2"))) static double ubs_peak(double seconds) {
  long trips = 0;
  double t0 = now(), t;
  do {
    __asm__ volatile("vpcmpeqw %%ymm13, %%ymm13, %%ymm13\n\tvpsrlw $15, %%ymm13, %%ymm13\n\t"
                     "vmovdqa %%ymm13, %%ymm14\n\tvmovdqa %%ymm13, %%ymm15\n\t"
                     "mov $1000, %%ecx\n"
                     "1:\n\t" UB(0) UB(1) UB(2) UB(3) UB(4) UB(5) UB(6) UB(7) UB(8) UB(9) UB(10) UB(11)
                     "dec %%ecx\n\tjnz 1b\n\t" ::
                         : "ecx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                           "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
    trips++;
  } while ((t = now() - t0) < seconds);
  return trips * 1000.0 * 12 * 32 * 2 / t / 1e9;
}

/* The same three instructions as a GEMM tile's inner loop runs them: four
 * rows of A broadcast from memory, two panel vectors loaded, eight
 * accumulators, over 64 k-quads that stay in L1. On AMD Zen 3 this runs
 * about 8% faster than the register-only chains (183-190 against 175
 * GOP/s), so the AVX2 peak is the better of the two. */
#define UT_ROW(off, c0, c1)                                                                                         \
  "vpbroadcastd " off "(%%rsi,%%rcx,4), %%ymm1\n\tvpmaddubsw %%ymm2, %%ymm1, %%ymm4\n\t"                           \
  "vpmaddubsw %%ymm3, %%ymm1, %%ymm1\n\tvpmaddwd %%ymm7, %%ymm4, %%ymm4\n\tvpmaddwd %%ymm7, %%ymm1, %%ymm1\n\t" \
  "vpaddd %%ymm4, %%ymm" #c0 ", %%ymm" #c0 "\n\tvpaddd %%ymm1, %%ymm" #c1 ", %%ymm" #c1 "\n\t"
__attribute__((target("avx2"))) static double ubs_tile(double seconds) {
  static uint8_t a[4][256] __attribute__((aligned(64)));
  static int8_t pan[64 * 64] __attribute__((aligned(64)));
  for (int r = 0; r < 4; r++)
    for (int k = 0; k < 256; k++) a[r][k] = (uint8_t)((7 * k + r) % 128);
  for (int i = 0; i < 64 * 64; i++) pan[i] = (int8_t)((13 * i) % 255 - 127);
  long trips = 0;
  double t0 = now(), t;
  do {
    __asm__ volatile("vpcmpeqw %%ymm7, %%ymm7, %%ymm7\n\tvpsrlw $15, %%ymm7, %%ymm7\n\t"
                     "mov $100, %%r8d\n"
                     "2:\n\txor %%ecx, %%ecx\n\tmov %[p], %%rdx\n"
                     "1:\n\tvmovdqu (%%rdx), %%ymm2\n\tvmovdqu 32(%%rdx), %%ymm3\n\tadd $64, %%rdx\n\t" UT_ROW(
                         "0", 0, 5) UT_ROW("256", 15, 14) UT_ROW("512", 13, 12) UT_ROW("768", 10, 11)
                     "inc %%rcx\n\tcmp $64, %%rcx\n\tjne 1b\n\tdec %%r8d\n\tjnz 2b\n\t" ::[p] "r"(pan),
                     "S"(a)
                     : "rcx", "rdx", "r8", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm7", "xmm10", "xmm11",
                       "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
    trips++;
  } while ((t = now() - t0) < seconds);
  return trips * 100.0 * 64 * 256 * 2 / t / 1e9;
}
#endif

/* The machine's int8 peak per core in GOP/s and the instruction it was
 * measured with; 0 and "none" where neither chain test runs. */
static double peak(double seconds, const char **insn) {
  *insn = "none";
  double best = 0;
#if defined(__x86_64__)
  /* The best of windows of 0.1 s: on a shared host a neighbour on the same
   * physical core slows some windows, and the peak is what the core does
   * when nothing contends for it (a mean over a second was seen to vary
   * from 145 to 166 GOP/s on one Zen 3 VM). */
  int vnni = __builtin_cpu_supports("avx512vnni"), avx2 = __builtin_cpu_supports("avx2");
  *insn = vnni ? "vpdpbusd" : avx2 ? "vpmaddubsw" : "none";
  for (double spent = 0; (vnni || avx2) && spent < seconds; spent += 0.1) {
    double p = vnni ? vnni_peak(0.1) : ubs_peak(0.05);
    if (!vnni) {
      double q = ubs_tile(0.05);
      if (q > p) p = q;
    }
    if (p > best) best = p;
  }
#endif
  (void)seconds;
  return best;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "--peak")) { /* the peak alone: GOP/s and instruction, 0 none when unknown */
    const char *insn;
    double p = peak(argc > 2 ? atof(argv[2]) : 1.0, &insn);
    printf("%.1f %s\n", p, insn);
    return 0;
  }
  if (argc < 4) {
    fprintf(stderr, "usage: gemm M N K [SECONDS [u]]\n");
    return 1;
  }
  long M = atol(argv[1]), N = atol(argv[2]), K = atol(argv[3]);
  double seconds = argc > 4 ? atof(argv[4]) : 2.0;
  bool ua = argc > 5 && !strcmp(argv[5], "u");
  if (M < 1 || N < 1 || K < 1) {
    fprintf(stderr, "gemm: M, N and K must be positive\n");
    return 1;
  }
  int8_t *A = xalloc(M * K), *B = xalloc(N * K);
  int32_t *C = xalloc(M * N * 4), *R = xalloc(M * N * 4);
  /* nitc's layout (cg/step.c, cg_gemm_module): row sums, panels, A split */
  size_t scratch_bytes = (M * 4 + 63) / 64 * 64 + (N + 15) / 16 * 16 * ((K + 3) / 4 * 4) + 2 * M * K + 64;
  void *scratch = xalloc(scratch_bytes);
  memset(scratch, 0xA5, scratch_bytes); /* the kernel writes every byte it reads, the zeros included */
  for (long i = 0; i < M * K; i++) A[i] = ua ? (int8_t)(rand8() & 127) : rand8();
  for (long i = 0; i < N * K; i++) B[i] = rand8();
  for (long m = 0; m < M; m++)
    for (long n = 0; n < N; n++) {
      int32_t s = 0;
      for (long k = 0; k < K; k++) s += A[m * K + k] * B[n * K + k];
      R[m * N + n] = s;
    }
  nit_gemm(A, B, C, scratch);
  if (memcmp(C, R, M * N * 4)) {
    fprintf(stderr, "gemm: nit_gemm differs from the plain loop\n");
    free(A), free(B), free(C), free(R), free(scratch);
    return 1;
  }
  long reps = 0;
  double t0 = now(), t;
  do {
    nit_gemm(A, B, C, scratch);
    reps++;
  } while ((t = now() - t0) < seconds);
  double gops = 2.0 * M * N * K * reps / t / 1e9;
  printf("gemm %ldx%ldx%ld%s: %.1f GOP/s (%ld runs, checked)", M, N, K, ua ? " (A >= 0)" : "", gops, reps);
  const char *insn;
  double p = peak(seconds, &insn);
  if (p > 0) {
    printf("; %s peak %.1f GOP/s; %.1f%% of peak", insn, p, 100 * gops / p);
    if (gops > p) printf(" (the chain test undershoots this core: read the peak as a lower bound)");
  }
  printf("\n");
  free(A), free(B), free(C), free(R), free(scratch);
  return 0;
}
