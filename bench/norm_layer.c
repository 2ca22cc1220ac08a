/*
 * norm_layer.c: one normalization layer's training forward and backward
 * through the runtime's norm kernels (runtime/norm.c), for each of the four
 * kinds, at a given shape; the batch kinds' L2 / L1 throughput ratio is
 * experiment E6's (docs/results.md).
 *
 *   cc -O2 -Iruntime -Ibench bench/norm_layer.c build/runtime/libnitrt-x86_64-linux-gnu.a -o norm_layer
 *   ./norm_layer [N C H W] [REPS] [KIND]  (default 64 16 28 28, 20 repetitions, all four kinds)
 *
 * It links the runtime that executables link (norm.c built with -O3).
 * Random int8 inputs and errors, one thread (no parallel_for); prints the
 * median time of forward + backward per kind, the ratio L2 / L1, and per
 * kind a checksum of everything the kernels return (a training forward's
 * S, the backward's S, dbeta and dgamma, the statistics, an evaluation
 * forward with the running statistics): two versions of the kernels that
 * print the same checksums compute the same integers.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "nitabi.h"

int main(int argc, char **argv) {
  int64_t n = 64, c = 16, h = 28, w = 28;
  int reps = 20;
  if (argc >= 5) n = atoll(argv[1]), c = atoll(argv[2]), h = atoll(argv[3]), w = atoll(argv[4]);
  if (argc >= 6) reps = atoi(argv[5]);
  const char *only = argc >= 7 ? argv[6] : NULL; /* one kind by name, for a profile */
  bool known = !only || !strcmp(only, "batchnorm") || !strcmp(only, "l1norm") || !strcmp(only, "layernorm") ||
               !strcmp(only, "l1layernorm");
  if (n < 1 || c < 1 || h < 1 || w < 1 || reps < 1 || n * h * w > (1 << 20) || c * h * w > (1 << 20) || !known) {
    fprintf(stderr, "usage: norm_layer [N C H W] [REPS] [batchnorm|l1norm|layernorm|l1layernorm]"
                    "  (N*H*W, C*H*W <= 2^20)\n");
    return 2;
  }
  int64_t cnt = n * c * h * w;
  int8_t *v = malloc((size_t)cnt), *dy = malloc((size_t)cnt), *gamma = malloc((size_t)c), *beta = malloc((size_t)c);
  int64_t *S = malloc(sizeof(int64_t) * (size_t)cnt), *st = malloc(sizeof(int64_t) * (size_t)(NIT_NORM_STAT * (n > c ? n : c)));
  int64_t *scr = malloc(sizeof(int64_t) * (size_t)NIT_NORM_SCRATCH(n, c));
  int64_t *db = malloc(sizeof(int64_t) * (size_t)c), *dg = malloc(sizeof(int64_t) * (size_t)c);
  int32_t *run = calloc((size_t)c * 4, sizeof(int32_t));
  if (!v || !dy || !gamma || !beta || !S || !st || !scr || !db || !dg || !run) return 2;
  uint64_t key = nit_key(1, 0, 0);
  for (int64_t j = 0; j < cnt; j++) v[j] = (int8_t)(nit_draw(key, (uint64_t)j) % 255 - 127);
  for (int64_t j = 0; j < cnt; j++) dy[j] = (int8_t)(nit_draw(key ^ 1, (uint64_t)j) % 255 - 127);
  for (int64_t j = 0; j < c; j++) gamma[j] = (int8_t)(64 - 9 * (j % 14)), beta[j] = (int8_t)(3 * (j % 40));
  int kinds[4] = {NIT_NORM_BATCH, NIT_NORM_L1BATCH, NIT_NORM_LAYER, NIT_NORM_L1LAYER};
  const char *names[4] = {"batchnorm", "l1norm", "layernorm", "l1layernorm"};
  int64_t med[4];
  int64_t *t = malloc(sizeof(int64_t) * (size_t)reps);
  if (!t) return 2;
  for (int k = 0; k < 4; k++) {
    if (only && strcmp(only, names[k])) {
      med[k] = 1;
      continue;
    }
    int64_t desc[NIT_NORM_DESC] = {kinds[k], c, h * w, 1, 5, 1, 1, 0, 0};
    int32_t sdg, w1, w2;
    for (int r = 0; r < reps; r++) {
      int64_t t0 = bench_now_ns();
      nitrt_norm_forward(NULL, desc, n, v, -7, gamma, -6, beta, 0, 1, run, st, scr, S);
      nitrt_norm_backward(NULL, desc, n, v, -7, st, gamma, -6, dy, -9, scr, S, db, dg, &sdg);
      t[r] = bench_now_ns() - t0;
    }
    med[k] = bench_median(t, reps);
    uint64_t sum = 0;
    w1 = nitrt_norm_forward(NULL, desc, n, v, -7, gamma, -6, beta, 0, 1, run, st, scr, S);
    for (int64_t j = 0; j < cnt; j++) sum = nit_mix64(sum ^ (uint64_t)S[j]);
    w2 = nitrt_norm_backward(NULL, desc, n, v, -7, st, gamma, -6, dy, -9, scr, S, db, dg, &sdg);
    for (int64_t j = 0; j < cnt; j++) sum = nit_mix64(sum ^ (uint64_t)S[j]);
    for (int64_t j = 0; j < c; j++) sum = nit_mix64(sum ^ (uint64_t)db[j] ^ ((uint64_t)dg[j] << 1));
    for (int64_t j = 0; j < NIT_NORM_STAT * (n > c ? n : c); j++) sum = nit_mix64(sum ^ (uint64_t)st[j]);
    sum = nit_mix64(sum ^ (uint64_t)(uint32_t)w1 ^ ((uint64_t)(uint32_t)w2 << 32) ^ (uint64_t)sdg);
    w1 = nitrt_norm_forward(NULL, desc, n, v, -7, gamma, -6, beta, 0, 0, run, st, scr, S);
    for (int64_t j = 0; j < cnt; j++) sum = nit_mix64(sum ^ (uint64_t)S[j]);
    sum = nit_mix64(sum ^ (uint64_t)(uint32_t)w1);
    printf("%-12s (%lld, %lld, %lld, %lld): forward + backward %.3f ms (median of %d), checksum %016llx\n",
           names[k], (long long)n, (long long)c, (long long)h, (long long)w, 1e-6 * (double)med[k], reps,
           (unsigned long long)sum);
  }
  if (!only) printf("throughput l1norm / batchnorm: %.3f\n", (double)med[0] / (double)med[1]);
  return 0;
}
