/*
 * threads.c: the worker pool behind NitCtx.parallel_for.
 *
 * Generated code outlines its parallel loops into bodies
 * body(env, lo, hi, worker) and asks the pool to cover [0, count) with them.
 * The pool has `threads` executors: the calling thread and threads - 1
 * pthreads. A call makes used = min(threads, max_workers, count) chunks,
 * chunk w = [count*w/used, count*(w+1)/used), and runs body(env, lo, hi, w)
 * once per chunk: the `worker` argument names the chunk (and with it the
 * chunk's private scratch in the generated code), not the thread. Executor
 * e (the caller is 0) claims chunk e first, so consecutive loops over the
 * same range find their samples and scratch in the same core's cache; then
 * any chunk still unclaimed (a compare-and-swap on a word holding the job
 * number and the mask of claimed chunks). The caller claims chunks too, so a
 * call never waits for a thread that the OS has not scheduled yet; it only
 * waits for chunks already running. The split only
 * decides who computes what: every chunk writes its own outputs (or its
 * private scratch, combined afterwards by the caller), and all arithmetic is
 * exact integer arithmetic keyed by element, so the bytes never depend on
 * the number of threads (docs/numerics.md, "One training step, and determinism"; docs/performance.md).
 *
 * Kernels are short (tens of microseconds), so waking by condition variable
 * alone would cost as much as the work: an idle thread first spins on the
 * job counter for a while, then sleeps on the condition variable.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "nitrt.h"

typedef void (*NitBody)(void *env, int64_t lo, int64_t hi, int32_t worker);

struct NitPool {
  int32_t threads; /* executors including the caller */
  pthread_t *tids; /* (threads - 1) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_uint_fast32_t gen;   /* job number: a new value means a new job */
  atomic_uint_fast64_t claim; /* job number << 32 | chunks << 16 | mask of claimed chunks */
  atomic_int done;            /* chunks of the current job finished */
  atomic_int stop;
  /* the current job; stable while any of its chunks is unfinished */
  NitBody body;
  void *env;
  int64_t count;
};

typedef struct WorkerArg {
  NitPool *pool;
  int32_t index;
} WorkerArg;

#define SPIN_ROUNDS 200000 /* polls of gen before sleeping */

/* Claim and run chunks of job `job` until none is left, executor `self`'s
 * own chunk (chunk self) first. The claim word holds everything needed to
 * decide (job, chunk count, mask of claimed chunks), so no job field is read
 * before a chunk of that job is ours. */
static void run_chunks(NitPool *p, uint_fast32_t job, int32_t self) {
  for (;;) {
    uint_fast64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
    if ((uint32_t)(c >> 32) != (uint32_t)job) return;
    uint32_t taken = (uint32_t)(c & 0xffffu), used = (uint32_t)((c >> 16) & 0xffffu);
    uint32_t free_mask = ~taken & ((1u << used) - 1);
    if (!free_mask) return;
    int32_t w = self < (int32_t)used && (free_mask >> self & 1) ? self : __builtin_ctz(free_mask);
    if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c | (uint_fast64_t)1 << w, memory_order_acq_rel,
                                               memory_order_acquire))
      continue;
    /* chunk w of job `job` is ours, so the job stays current until we finish */
    int64_t lo = p->count * w / used, hi = p->count * (w + 1) / used;
    if (lo < hi) p->body(p->env, lo, hi, w);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
  }
}

static void *worker_main(void *arg) {
  WorkerArg *wa = arg;
  NitPool *p = wa->pool;
  int32_t self = wa->index;
  free(wa);
  uint_fast32_t seen = 0;
  for (;;) {
    uint_fast32_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
    for (int i = 0; g == seen && i < SPIN_ROUNDS; i++) g = atomic_load_explicit(&p->gen, memory_order_acquire);
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    run_chunks(p, g, self);
  }
}

int32_t nitrt_threads_default(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int32_t)n;
}

NitPool *nitrt_pool_new(int32_t threads) {
  if (threads < 1) threads = nitrt_threads_default();
  NitPool *p = nitrt_alloc(sizeof *p);
  if (!p) return NULL;
  p->threads = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  atomic_init(&p->gen, 0);
  atomic_init(&p->claim, 0);
  atomic_init(&p->done, 0);
  atomic_init(&p->stop, 0);
  if (threads > 1) {
    p->tids = nitrt_alloc(sizeof *p->tids * (size_t)(threads - 1));
    if (!p->tids) {
      nitrt_pool_free(p);
      return NULL;
    }
  }
  for (int32_t w = 1; w < threads; w++) {
    WorkerArg *wa = malloc(sizeof *wa);
    if (wa) {
      wa->pool = p;
      wa->index = w;
    }
    if (!wa || pthread_create(&p->tids[w - 1], NULL, worker_main, wa) != 0) {
      free(wa);
      nitrt_warn("could not start thread %d of %d; continuing with %d", w + 1, threads, w);
      break;
    }
    p->threads = w + 1;
  }
  return p;
}

void nitrt_pool_free(NitPool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  atomic_fetch_add(&p->gen, 1);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int32_t w = 1; w < p->threads; w++) pthread_join(p->tids[w - 1], NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->tids);
  free(p);
}

int32_t nitrt_pool_threads(const NitPool *p) { return p ? p->threads : 1; }

int32_t nitrt_parallel_for(void *pool, void (*body)(void *env, int64_t lo, int64_t hi, int32_t worker), void *env,
                           int64_t count, int32_t max_workers) {
  NitPool *p = pool;
  if (count <= 0) return 0;
  /* one chunk per thread, claimed dynamically: a thread that starts late
   * leaves its chunk to the others. More, smaller chunks balance better in
   * principle but cost more than they save: each chunk index has its own
   * scratch slice, which a thread then meets cold, and each pays its
   * kernel's setup (LeNet-5 at batch 64 on 2 threads: 8 chunks 71k
   * samples/s, 4 chunks 77k, 2 chunks 86k) */
  int64_t used = p->threads;
  if (used > NITRT_POOL_CHUNKS) used = NITRT_POOL_CHUNKS; /* the claim word's mask */
  if (used > max_workers) used = max_workers;
  if (used > count) used = count;
  if (used <= 1) {
    body(env, 0, count, 0);
    return 1;
  }
  pthread_mutex_lock(&p->mu);
  p->body = body;
  p->env = env;
  p->count = count;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  uint_fast32_t job = (uint32_t)(atomic_load_explicit(&p->gen, memory_order_relaxed) + 1);
  atomic_store_explicit(&p->claim, (uint_fast64_t)job << 32 | (uint_fast64_t)used << 16, memory_order_release);
  atomic_store_explicit(&p->gen, job, memory_order_release);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  run_chunks(p, job, 0);
  for (int i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < used; i++)
    if (i > SPIN_ROUNDS) sched_yield();
  return (int32_t)used;
}
