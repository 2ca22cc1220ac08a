/*
 * bench/bench.h: the clock and the median that the bench programs share.
 * Header-only, so that each program still builds with one cc command; a
 * program defines _POSIX_C_SOURCE (200809L) or _GNU_SOURCE before its first
 * include, for clock_gettime under -std=c11.
 */
#ifndef NIT_BENCH_H
#define NIT_BENCH_H
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#error "define _POSIX_C_SOURCE 200809L before the first include (clock_gettime)"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Nanoseconds of the monotonic clock. */
static inline int64_t bench_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline int bench_cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Sorts v[0..n) and returns its median, v[n / 2] (n odd in every caller);
 * v[0] and v[n - 1] are then the fastest and the slowest. */
static inline int64_t bench_median(int64_t *v, int n) {
  qsort(v, (size_t)n, sizeof v[0], bench_cmp_i64);
  return v[n / 2];
}

#endif
