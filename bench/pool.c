/*
 * bench/pool.c: what one parallel region costs, with nothing in it.
 *
 *   cc -O2 -Iruntime bench/pool.c build/runtime/libnitrt.a -lpthread -o pool
 *   pool [THREADS] [COUNT]      (defaults 2 and 64)
 *
 * Times nitrt_parallel_for over [0, COUNT) with a body that only sums its
 * range into its chunk's own cache line: the hand-off to the workers, their
 * start, and the join, which every parallel loop of a training step pays on
 * top of its work. Prints the median of 15 rounds of 20,000 calls, in
 * nanoseconds per call, and the one-thread figure beside it (a plain call).
 * With a small COUNT the caller may run every chunk before a worker has
 * seen the job, so the figure can be the caller's alone; with a few
 * thousand items (about a microsecond of work on one thread) the workers
 * take their chunks, and the two-thread figure minus half the one-thread
 * one is what the hand-off costs. Wall-clock time, on purpose: the cost is
 * time a core waits. Benchmark
 * code: timing uses doubles, training never.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nitrt.h"

enum { ROUNDS = 15, CALLS = 20000 };

static volatile int64_t sink[NITRT_POOL_CHUNKS * 8]; /* one cache line per chunk */

static void body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)env;
  int64_t s = 0;
  for (int64_t i = lo; i < hi; i++) s += i;
  sink[worker * 8] += s;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median ns per call over ROUNDS rounds of CALLS calls. */
static double per_call(int32_t threads, int64_t count) {
  NitPool *p = nitrt_pool_new(threads);
  if (!p) exit(1);
  double r[ROUNDS];
  for (int k = 0; k < ROUNDS; k++) {
    double t = now();
    for (int i = 0; i < CALLS; i++) nitrt_parallel_for(p, body, NULL, count, NITRT_POOL_CHUNKS);
    r[k] = (now() - t) / CALLS * 1e9;
  }
  nitrt_pool_free(p);
  qsort(r, ROUNDS, sizeof r[0], cmp);
  return r[ROUNDS / 2];
}

int main(int argc, char **argv) {
  int32_t threads = argc > 1 ? atoi(argv[1]) : 2;
  int64_t count = argc > 2 ? atoll(argv[2]) : 64;
  if (threads < 1 || count < 1) {
    fprintf(stderr, "usage: pool [THREADS >= 1] [COUNT >= 1]\n");
    return 1;
  }
  double one = per_call(1, count), many = per_call(threads, count);
  printf("empty parallel region over %lld items: %.0f ns per call on %d threads, %.0f ns on 1 (median of %d x %d "
         "calls)\n",
         (long long)count, many, threads, one, ROUNDS, CALLS);
  return 0;
}
