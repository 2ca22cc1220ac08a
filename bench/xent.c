/*
 * bench/xent.c: what the runtime's fixed-point loss costs per sample
 * (runtime/fixed.c, nitrt_xent_q24: the loss the log prints, scored on
 * idle threads during training, runtime/run.c).
 *
 *   cc -O2 -std=c11 -Iruntime bench/xent.c build/runtime/libnitrt.a -lz -lpthread -o xent
 *   xent [CLASSES] [EXP]          (defaults 10 and -4)
 *
 * Scores 4,096 rows of pseudo-random int8 logits (the same rows every run)
 * 100 times per round and prints the median of 9 rounds in nanoseconds per
 * sample, with the fastest and slowest round, and the sum of the losses
 * (Q24), which must not change when the code is made faster.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime (bench.h) */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "nitrt.h"

enum { ROWS = 4096, REPS = 100, ROUNDS = 9, MAX_CLASSES = 1000 };

int main(int argc, char **argv) {
  int classes = argc > 1 ? atoi(argv[1]) : 10, exp = argc > 2 ? atoi(argv[2]) : -4;
  if (classes < 1 || classes > MAX_CLASSES) {
    fprintf(stderr, "xent: classes must be 1..%d\n", MAX_CLASSES);
    return 1;
  }
  int8_t *z = malloc((size_t)ROWS * (size_t)classes);
  if (!z) return 1;
  uint64_t x = 1;
  for (int64_t i = 0; i < (int64_t)ROWS * classes; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    z[i] = (int8_t)(x >> 56);
  }
  int64_t ns[ROUNDS], sum = 0;
  for (int r = 0; r < ROUNDS; r++) {
    int64_t t0 = bench_now_ns();
    sum = 0;
    for (int k = 0; k < REPS; k++)
      for (int i = 0; i < ROWS; i++) sum += nitrt_xent_q24(z + (int64_t)i * classes, classes, exp, i % classes);
    ns[r] = bench_now_ns() - t0;
  }
  int64_t med = bench_median(ns, ROUNDS);
  double per = (double)ROWS * REPS;
  printf("loss of %d classes at exponent %d: %.1f ns a sample (median of %d rounds; %.1f-%.1f), sum %lld\n", classes,
         exp, (double)med / per, ROUNDS, (double)ns[0] / per, (double)ns[ROUNDS - 1] / per,
         (long long)sum);
  free(z);
  return 0;
}
