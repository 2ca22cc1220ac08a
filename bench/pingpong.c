/*
 * bench/pingpong.c: how long one cache line takes to go from one CPU to
 * another and back.
 *
 *   cc -O2 bench/pingpong.c -lpthread -o pingpong
 *   pingpong [CPU_A] [CPU_B]      (defaults 0 and 1)
 *
 * Two threads, pinned to CPU_A and CPU_B, hand one atomic word back and
 * forth: each waits for the other's number, then writes the next. A round
 * trip is two transfers of the line. Prints the median of 9 rounds of
 * 100,000 round trips, in nanoseconds, with the fastest and slowest round.
 *
 * On the VMs the tables of docs/performance.md were measured on, this
 * figure moves with where the host places the two vCPUs (cores sharing an
 * L3 or not), and with it how well a training step scales to two threads
 * ("Two cores that share no cache"). Benchmark code: timing uses doubles.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

enum { ROUNDS = 9, TRIPS = 100000 };

static _Alignas(64) atomic_long word; /* odd: A's turn done; even: B's */
static int cpu_b;

static int pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *answer(void *arg) {
  (void)arg;
  if (pin(cpu_b) != 0)
    fprintf(stderr, "pingpong: cannot pin to CPU %d; the figure is unpinned\n", cpu_b);
  for (long i = 0; i < (long)ROUNDS * TRIPS; i++) {
    while (atomic_load_explicit(&word, memory_order_acquire) != 2 * i + 1)
      ;
    atomic_store_explicit(&word, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int cpu_a = argc > 1 ? atoi(argv[1]) : 0;
  cpu_b = argc > 2 ? atoi(argv[2]) : 1;
  pthread_t t;
  if (pthread_create(&t, NULL, answer, NULL) != 0) {
    fprintf(stderr, "pingpong: cannot start a thread\n");
    return 1;
  }
  if (pin(cpu_a) != 0)
    fprintf(stderr, "pingpong: cannot pin to CPU %d; the figure is unpinned\n", cpu_a);
  int64_t ns[ROUNDS];
  long i = 0;
  for (int r = 0; r < ROUNDS; r++) {
    int64_t t0 = bench_now_ns();
    for (int k = 0; k < TRIPS; k++, i++) {
      atomic_store_explicit(&word, 2 * i + 1, memory_order_release);
      while (atomic_load_explicit(&word, memory_order_acquire) != 2 * i + 2)
        ;
    }
    ns[r] = (bench_now_ns() - t0 + TRIPS / 2) / TRIPS;
  }
  pthread_join(t, NULL);
  int64_t med = bench_median(ns, ROUNDS);
  printf("round trip CPU %d <-> CPU %d: %lld ns (median of %d rounds; %lld-%lld)\n", cpu_a, cpu_b, (long long)med,
         ROUNDS, (long long)ns[0], (long long)ns[ROUNDS - 1]);
  return 0;
}
