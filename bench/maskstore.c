/*
 * bench/maskstore.c: what an AVX2 masked store (vpmaskmovd) costs against a
 * plain 256-bit store on this core; the code generator keeps masked stores
 * only where they are cheap (cg/gemm.c, gemm_mask_stores).
 *
 *   cc -O2 -std=c11 bench/maskstore.c -o maskstore
 *   maskstore [MILLIONS]          (default 20 million stores a round)
 *
 * Stores a register over a 16 KB buffer (in L1) round after round, with an
 * all-ones mask for the masked kinds, and prints the median of 9 rounds in
 * nanoseconds per instruction for each kind, and a masked load for
 * comparison. x86-64 hosts with AVX2 only; elsewhere it says so.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime (bench.h) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#if defined(__x86_64__)
#include <immintrin.h>

enum { WORDS = 4096, ROUNDS = 9 };
static int32_t buf[WORDS] __attribute__((aligned(64)));

enum Kind { PLAIN, MASKED, MASKED_LOAD, NKINDS };
static const char *names[NKINDS] = {"plain store", "masked store (vpmaskmovd)", "masked load (vpmaskmovd)"};

/* ns per instruction of one round of n of kind k; the running value is a
 * dependency of every store, so that none is dropped */
__attribute__((target("avx2"))) static double round_ns(enum Kind k, long n) {
  __m256i m = _mm256_set1_epi32(-1), v = _mm256_set1_epi32(3);
  int64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    int32_t *p = buf + ((i * 8) & (WORDS - 1));
    if (k == PLAIN) _mm256_storeu_si256((__m256i *)p, v);
    else if (k == MASKED) _mm256_maskstore_epi32(p, m, v);
    else v = _mm256_add_epi32(v, _mm256_maskload_epi32(p, m));
    v = _mm256_add_epi32(v, m);
  }
  int64_t t1 = bench_now_ns();
  _mm256_storeu_si256((__m256i *)buf, v);
  return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv) {
  long n = (argc > 1 ? atol(argv[1]) : 20) * 1000000L;
  if (n <= 0) {
    fprintf(stderr, "usage: maskstore [MILLIONS]\n");
    return 1;
  }
  if (!__builtin_cpu_supports("avx2")) {
    printf("maskstore: this host has no AVX2\n");
    return 0;
  }
  for (int k = 0; k < NKINDS; k++) {
    int64_t t[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) t[r] = (int64_t)(round_ns((enum Kind)k, n) * 1000.0);
    int64_t med = bench_median(t, ROUNDS);
    printf("%s: %.2f ns (%.2f-%.2f)\n", names[k], med / 1000.0, t[0] / 1000.0, t[ROUNDS - 1] / 1000.0);
  }
  return buf[1] == 12345; /* keeps the stores */
}
#else
int main(void) {
  printf("maskstore: x86-64 only\n");
  return 0;
}
#endif
