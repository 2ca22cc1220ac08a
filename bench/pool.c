/*
 * bench/pool.c: what one parallel region costs, with nothing in it.
 *
 *   cc -O2 -Iruntime bench/pool.c build/runtime/libnitrt.a -lz -lpthread -o pool
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
 * time a core waits.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "nitrt.h"

enum { ROUNDS = 15, CALLS = 20000 };

static volatile int64_t sink[NITRT_POOL_CHUNKS * 8]; /* one cache line per chunk */

static void body(void *env, int64_t lo, int64_t hi, int32_t worker) {
  (void)env;
  int64_t s = 0;
  for (int64_t i = lo; i < hi; i++) s += i;
  sink[worker * 8] += s;
}

/* Median ns per call over ROUNDS rounds of CALLS calls. */
static int64_t per_call(int32_t threads, int64_t count) {
  NitPool *p = nitrt_pool_new(threads);
  if (!p) exit(1);
  int64_t r[ROUNDS];
  for (int k = 0; k < ROUNDS; k++) {
    int64_t t = bench_now_ns();
    for (int i = 0; i < CALLS; i++) nitrt_parallel_for(p, body, NULL, count, NITRT_POOL_CHUNKS);
    r[k] = (bench_now_ns() - t + CALLS / 2) / CALLS;
  }
  nitrt_pool_free(p);
  return bench_median(r, ROUNDS);
}

int main(int argc, char **argv) {
  int32_t threads = argc > 1 ? atoi(argv[1]) : 2;
  int64_t count = argc > 2 ? atoll(argv[2]) : 64;
  if (threads < 1 || count < 1) {
    fprintf(stderr, "usage: pool [THREADS >= 1] [COUNT >= 1]\n");
    return 1;
  }
  int64_t one = per_call(1, count), many = per_call(threads, count);
  printf("empty parallel region over %lld items: %lld ns per call on %d threads, %lld ns on 1 (median of %d x %d "
         "calls)\n",
         (long long)count, (long long)many, threads, (long long)one, ROUNDS, CALLS);
  return 0;
}
