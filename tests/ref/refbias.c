/*
 * refbias.c: measure the bias of pseudo-stochastic rounding per shift k, for
 * the table in docs/numerics.md.
 *
 * Bias is mean(R(x, k) - x / 2^k) in units of one output step, for x with a
 * uniformly distributed fraction: exhaustively over every fraction for
 * k <= 20 (exact), and over 2^20 random x from the shared generator for every
 * k (sampled). Also printed: the closed form 2^-(k+1) - 2^-(floor(k/2)+1) and
 * the same measurement for stochastic and nearest rounding. Printed in parts
 * per million with integer arithmetic only.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ref.h"

/* num / 2^den_log2 in parts per million, rounded toward zero. */
static int64_t ppm(int64_t num, int den_log2) {
  /* num * 10^6 may not fit for large den; shift first where needed */
  int64_t scaled = num;
  int shift = den_log2;
  while (shift > 0 && (scaled > INT64_MAX / 1000000 || scaled < -INT64_MAX / 1000000)) {
    scaled /= 2;
    shift--;
  }
  scaled *= 1000000;
  return shift >= 63 ? 0 : scaled / ((int64_t)1 << shift);
}

/* sum over n samples of R(x) * 2^k - x, for random x in [0, 2^(k+7)). */
static int64_t sampled(int k, int mode, int64_t n, int64_t *count) {
  uint64_t key = nit_key(2024, (uint64_t)k, (uint32_t)mode);
  int64_t sum = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = nit_draw(key, (uint64_t)i);
    int64_t x = (int64_t)(r >> (64 - (k + 7)));
    int64_t d = ref_round_wide(x, k, mode, nit_key(7, 7, 7), (uint64_t)i) * ((int64_t)1 << k) - x;
    sum += d;
  }
  *count = n;
  return sum;
}

int main(void) {
  printf("| k | pseudo exact | closed form | pseudo sampled | stochastic sampled | nearest exact |\n");
  printf("|---|---|---|---|---|---|\n");
  for (int k = 1; k <= 24; k++) {
    char exact[32] = "-", nearest[32] = "-";
    if (k <= 20) {
      int64_t s = 0, sn = 0;
      /* q = 0 and q = 1 together, so that half-to-even (k = 1) is covered */
      for (int64_t x = 0; x < ((int64_t)2 << k); x++) {
        s += ref_round_wide(x, k, NIT_ROUND_PSEUDO, 0, 0) * ((int64_t)1 << k) - x;
        sn += ref_round_wide(x, k, NIT_ROUND_NEAREST, 0, 0) * ((int64_t)1 << k) - x;
      }
      /* mean over 2^(k+1) values, in units of 2^k: divide by 2^(2k+1) */
      snprintf(exact, sizeof exact, "%" PRId64, ppm(s, 2 * k + 1));
      snprintf(nearest, sizeof nearest, "%" PRId64, ppm(sn, 2 * k + 1));
    }
    int h = k / 2;
    /* 2^-(k+1) - 2^-(h+1) = (1 - 2^(k-h)) / 2^(k+1) for k >= 2; 0 for k = 1 */
    int64_t closed = k == 1 ? 0 : ppm(1 - ((int64_t)1 << (k - h)), k + 1);
    int64_t n, sp = sampled(k, NIT_ROUND_PSEUDO, (int64_t)1 << 20, &n);
    int64_t ss = sampled(k, NIT_ROUND_STOCHASTIC, (int64_t)1 << 20, &n);
    printf("| %d | %s | %" PRId64 " | %" PRId64 " | %" PRId64 " | %s |\n", k, exact, closed,
           ppm(sp, k + 20), ppm(ss, k + 20), nearest);
  }
  printf("\nunits: parts per million of one output step (1e-6); negative = toward zero\n");
  return 0;
}
