/*
 * threads.c: the worker pool behind NitCtx.parallel_for.
 *
 * Generated code outlines its parallel loops into bodies
 * body(env, lo, hi, worker) and asks the pool to cover [0, count) with them.
 * The pool has `threads` executors: the calling thread and threads - 1
 * pthreads. A call makes used = min(threads, max_workers, count) chunks,
 * chunk w = [count*w/used, count*(w+1)/used) (or paced, below), and runs
 * body(env, lo, hi, w) once per chunk: the `worker` argument names the chunk
 * (and with it the chunk's private scratch in the generated code), not the
 * thread. Each executor claims its home chunk first, so consecutive
 * loops over the same range find their samples and scratch in the same
 * core's cache; then any chunk still unclaimed. The caller's home is the
 * last chunk and worker e's (e >= 1) chunk e - 1: with two threads the
 * worker takes the first half of a batch and the caller the second, which
 * LeNet-5 trained 1.03-1.04 times as fast as the other way round
 * (docs/performance.md, "The caller's chunk is the last"). The caller
 * claims chunks too, so a call never waits for a thread that the OS has not
 * scheduled yet; it only waits for chunks already running. The split only
 * decides who computes what: every chunk writes its own outputs (or its
 * private scratch, combined afterwards by the caller), and all arithmetic
 * is exact integer arithmetic keyed by element, so the bytes never depend
 * on the number of threads (docs/numerics.md, "One training step, and determinism";
 * docs/performance.md).
 *
 * A hand-off costs what its cache lines cost to cross between cores (about
 * 235 ns each way between this project's two vCPUs; docs/performance.md,
 * "Two cores that share no cache"), so the layout keeps each line written by
 * one side: the job (its number, body, environment and bounds) on lines the
 * caller writes and executors only read; each chunk's claim and completion
 * on a line of its own, which its usual executor keeps in its cache from
 * one call to the next. A call's critical path is then one crossing out
 * (the job's line) and one back (the chunk's completion). A chunk is
 * claimed by moving its claim word forward to the job's number; an executor
 * that read an old job's number can never move a claim backwards, and it
 * runs nothing unless the job is still current after its claim. The job's
 * number and its count of chunks are one atomic word (gen), so an executor
 * that read an old job's number never pairs it with a later job's count:
 * it would claim a chunk the old job did not have, and so no claim stopped,
 * while the caller writes the next job's fields (a chunk then ran twice,
 * once in the suites, at three threads).
 *
 * Kernels are short (tens of microseconds), so waking by condition variable
 * alone would cost as much as the work: an idle thread first spins on the
 * job counter for a while, then sleeps on the condition variable.
 *
 * Chunks are equal unless the executors are not: on a shared host one core
 * can run a third slower than the other for seconds at a time, and every
 * call then waits for it. The pool times every PACE_EVERY-th call of each
 * body (each chunk from the call's start to the chunk's end, so a late
 * start counts) and keeps a speed per executor for each body; when a
 * body's speeds drift more than PACE_SLACK apart, its chunk w's share
 * follows the speed of chunk w's home executor. Speeds are kept per body
 * because they are not the same for all: in the host's busy spells one
 * body's chunk can run 1.6 times as long on one core while the others run
 * even (docs/performance.md, "Speeds per body"). Within the slack the
 * split stays even, so each executor keeps the same samples from
 * one call to the next: moving a chunk's edge moves samples to a core
 * whose cache does not hold them (docs/performance.md, "Two cores that
 * share no cache"). Any split gives the same bytes (above).
 * NITRT_POOL_PACE="3,1" fixes the speeds instead, for tests.
 *
 * Idle work: a loop of independent units (the scoring of the last step's
 * samples) that the threads run while they wait for a job, between jobs
 * rather than in one. Whoever holds it runs units until it is done, a job
 * is published or the caller asks for it back; then the caller finishes
 * what is left (nitrt_pool_idle_finish). Units write only their own
 * results, so who ran which changes no value.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "nitrt.h"

typedef void (*NitBody)(void *env, int64_t lo, int64_t hi, int32_t worker);

#define PACE_ONE   1024   /* an executor of average speed */
#define PACE_SLACK 48     /* speeds within PACE_ONE +- this: even chunks */
#define PACE_EVERY 4      /* one call in this many is timed */
#define PACE_FULL  100000 /* a timed call this long (ns) moves the speeds by 1/8 */
#define PACE_BODIES 64    /* bodies with speeds of their own (more share slots) */
#define PACE_PROBE  4     /* slots a body may take, from its hash on */
#define LINE       64     /* bytes of a cache line */

/* One chunk's state, on a line of its own: written by whoever runs the
 * chunk (its usual executor), read by the caller when it waits. */
typedef struct Chunk {
  _Alignas(LINE) atomic_uint_fast32_t claim; /* the latest job that claimed this chunk */
  atomic_uint_fast32_t done;                 /* the latest job whose run of it ended */
  int32_t by;                                /* the executor that ran it (timed calls) */
  int64_t end;                               /* when it ended (ns), in a timed call */
} Chunk;

/* One body's speeds. */
typedef struct Pace {
  NitBody body;                     /* the body (NULL: a free slot) */
  uint32_t calls;                   /* its calls so far, for PACE_EVERY */
  int32_t speed[NITRT_POOL_CHUNKS]; /* chunk w's home executor's speed in it, PACE_ONE average */
} Pace;

struct NitPool {
  /* the current job: written by the caller before it publishes gen, read
   * by executors; stable while any of its chunks is unfinished */
  _Alignas(LINE) atomic_uint_fast64_t gen; /* job number << GEN_USED_BITS | its chunks: a new value, a new job */
  NitBody body;
  void *env;
  int64_t t0;                           /* when a timed call began (ns); 0: untimed */
  int64_t bound[NITRT_POOL_CHUNKS + 1]; /* chunk w is [bound[w], bound[w + 1]) */
  Chunk chunk[NITRT_POOL_CHUNKS];
  /* idle work: set and finished by the caller, held by one thread at a
   * time; next (the first unit not run) belongs to the holder */
  _Alignas(LINE) atomic_int idle;   /* IDLE_* */
  atomic_bool idle_back;            /* the caller wants it back */
  void (*idle_unit)(void *env, int64_t i);
  void *idle_env;
  int64_t idle_n, idle_next;
  /* waking sleeping executors */
  _Alignas(LINE) atomic_int sleepers; /* executors waiting on cv */
  atomic_int stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* the caller's alone */
  int32_t threads;                  /* executors including the caller */
  pthread_t *tids;                  /* (threads - 1) */
  int32_t speed[NITRT_POOL_CHUNKS]; /* a new body's speeds: PACE_ONE, or NITRT_POOL_PACE's */
  bool fixed;                       /* speeds from NITRT_POOL_PACE, for every body */
  Pace pace[PACE_BODIES];           /* speeds per body */
  PoolTimes *times;                 /* NITRT_POOL_TIMES's table (set before the threads start), or NULL */
  int64_t times_end;                /* with times: when the caller's last call returned (ns), 0 before the first */
};

typedef struct WorkerArg {
  NitPool *pool;
  int32_t index;
} WorkerArg;

/* A test widens the window between a job's fields and its publication
 * (tests/runtime/pool_window.c compiles this file with it): an executor
 * that read the job before must claim nothing in it. */
#ifdef NITRT_POOL_WINDOW_NS
#include <time.h>
#define PUBLISH_WINDOW() nanosleep(&(struct timespec){0, NITRT_POOL_WINDOW_NS}, NULL)
#else
#define PUBLISH_WINDOW() ((void)0)
#endif

#define SPIN_ROUNDS 200000 /* polls of gen before sleeping */
#define GEN_USED_BITS 8    /* a job's chunks in gen's low bits */
_Static_assert(NITRT_POOL_CHUNKS < (1 << GEN_USED_BITS), "a job's chunks fit gen's low bits");

static uint32_t gen_job(uint_fast64_t g) { return (uint32_t)(g >> GEN_USED_BITS); }
static int32_t gen_used(uint_fast64_t g) { return (int32_t)(g & ((1u << GEN_USED_BITS) - 1)); }
/* gen of the caller's next job, of `used` chunks */
static uint_fast64_t gen_next(NitPool *p, int32_t used) {
  return ((atomic_load_explicit(&p->gen, memory_order_relaxed) >> GEN_USED_BITS) + 1) << GEN_USED_BITS |
         (uint_fast64_t)used;
}

enum { IDLE_NONE, IDLE_OPEN, IDLE_HELD }; /* NitPool.idle */

/* Run idle units while no job newer than `seen` is published and the
 * caller does not want them back: when they are open, take them, and
 * leave them open again (or finished: next == n). */
static void run_idle(NitPool *p, uint_fast64_t seen) {
  int open = IDLE_OPEN;
  if (atomic_load_explicit(&p->idle, memory_order_relaxed) != IDLE_OPEN ||
      !atomic_compare_exchange_strong_explicit(&p->idle, &open, IDLE_HELD, memory_order_acquire,
                                               memory_order_relaxed))
    return;
  while (p->idle_next < p->idle_n && atomic_load_explicit(&p->gen, memory_order_relaxed) == seen &&
         !atomic_load_explicit(&p->idle_back, memory_order_relaxed))
    p->idle_unit(p->idle_env, p->idle_next++);
  atomic_store_explicit(&p->idle, IDLE_OPEN, memory_order_release);
}

/* Claim chunk w (< the job's chunks) of job g: true when it is ours to
 * run, and the job is still current (so its fields are stable until we
 * finish: the caller waits for every chunk of it). */
static bool claim(NitPool *p, int32_t w, uint_fast64_t g) {
  uint32_t job = gen_job(g);
  atomic_uint_fast32_t *c = &p->chunk[w].claim;
  uint_fast32_t old = atomic_load_explicit(c, memory_order_relaxed);
  if ((int32_t)(job - (uint32_t)old) <= 0) return false; /* claimed for this job, or a later one */
  if (!atomic_compare_exchange_strong_explicit(c, &old, job, memory_order_acq_rel, memory_order_relaxed))
    return false;
  return atomic_load_explicit(&p->gen, memory_order_acquire) == g;
}

/* The chunk executor `self` claims first, of `used`: the caller (0) the
 * last, worker e chunk e - 1; and the executor whose home chunk w is. */
static int32_t home_chunk(int32_t self, int32_t used) { return (self + used - 1) % used; }
static int32_t home_executor(int32_t w, int32_t used) { return (w + 1) % used; }

/* Run chunks of job g until none is left unclaimed, executor `self`'s home
 * chunk first. */
static void run_chunks(NitPool *p, uint_fast64_t g, int32_t self) {
  uint32_t job = gen_job(g);
  int32_t used = gen_used(g);
  int32_t first = home_chunk(self, used);
  for (int32_t i = 0; i < used; i++) {
    int32_t w = (first + i) % used;
    if (!claim(p, w, g)) continue;
    int64_t t0 = p->times ? nitrt_now_ns() : 0;
    p->body(p->env, p->bound[w], p->bound[w + 1], w);
    if (p->times)
      nitrt_pool_times_add(p->times, self, (uintptr_t)p->body, p->bound[w + 1] - p->bound[w], nitrt_now_ns() - t0);
    if (p->t0) p->chunk[w].end = nitrt_now_ns();
    p->chunk[w].by = self;
    atomic_store_explicit(&p->chunk[w].done, job, memory_order_release);
  }
}

static void *worker_main(void *arg) {
  WorkerArg *wa = arg;
  NitPool *p = wa->pool;
  int32_t self = wa->index;
  free(wa);
  uint_fast64_t seen = 0;
  for (;;) {
    uint_fast64_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
    for (int i = 0; g == seen && i < SPIN_ROUNDS; i++) {
      run_idle(p, seen);
      g = atomic_load_explicit(&p->gen, memory_order_acquire);
    }
    if (g == seen) {
      /* sleepers before gen here, gen before sleepers in the caller (both
       * sequentially consistent): one of the two sees the other's write */
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    run_chunks(p, g, self);
  }
}

/* Chunk bounds for `used` chunks of [0, count): even while the speeds are
 * within the slack, else in proportion to them; every chunk at least one
 * item, so every worker index below `used` runs (and fills its scratch). */
static void split(const NitPool *p, const int32_t *speed, int64_t count, int32_t used, int64_t *bound) {
  int64_t total = 0, sum = 0;
  bool even = !p->fixed;
  for (int32_t w = 0; w < used; w++) {
    total += speed[w];
    if (speed[w] > PACE_ONE + PACE_SLACK || speed[w] < PACE_ONE - PACE_SLACK) even = false;
  }
  bound[0] = 0;
  for (int32_t w = 1; w < used; w++) {
    sum += speed[w - 1];
    int64_t b = even ? count * w / used : (count * sum + total / 2) / total;
    if (b < bound[w - 1] + 1) b = bound[w - 1] + 1;
    if (b > count - (used - w)) b = count - (used - w);
    bound[w] = b;
  }
  bound[used] = count;
}

/* After a timed call whose chunks all ran on their home executors: each
 * chunk's items per nanosecond, from the call's start to its chunk's
 * end, scaled so the speeds average PACE_ONE; the speeds move towards them
 * by up to 1/8, less for short calls (their timing is mostly noise). */
static void learn(NitPool *p, int32_t *speed, int32_t used) {
  int64_t rate[NITRT_POOL_CHUNKS], total = 0, longest = 0;
  for (int32_t w = 0; w < used; w++) {
    int64_t ns = p->chunk[w].end - p->t0;
    if (p->chunk[w].by != home_executor(w, used) || ns <= 0) return;
    rate[w] = ((p->bound[w + 1] - p->bound[w]) << 24) / ns;
    total += rate[w];
    if (ns > longest) longest = ns;
  }
  if (total <= 0) return;
  int64_t gain = longest < PACE_FULL ? longest : PACE_FULL; /* in 1 / (8 PACE_FULL) */
  for (int32_t w = 0; w < used; w++) {
    int64_t target = rate[w] * PACE_ONE * used / total;
    if (target < PACE_ONE / 4) target = PACE_ONE / 4;
    if (target > PACE_ONE * 4) target = PACE_ONE * 4;
    speed[w] += (int32_t)((target - speed[w]) * gain / (8 * PACE_FULL));
  }
}

/* The speeds of `body`: its slot among the PACE_PROBE from its hash on, or
 * a free one, or (all taken by others) the last, which it takes over with
 * a new body's speeds. */
static Pace *pace_of(NitPool *p, NitBody body) {
  uint64_t h = (uint64_t)(uintptr_t)body * 0x9e3779b97f4a7c15ull;
  Pace *pc = NULL;
  for (int i = 0; i < PACE_PROBE; i++) {
    pc = &p->pace[((h >> 32) + (uint64_t)i) % PACE_BODIES];
    if (pc->body == body) return pc;
    if (!pc->body) break;
  }
  pc->body = body;
  pc->calls = 0;
  for (int w = 0; w < NITRT_POOL_CHUNKS; w++) pc->speed[w] = p->speed[w];
  return pc;
}

/* NITRT_POOL_PACE="s0,s1,...": fixed relative speeds of the chunks' home
 * executors (tests). */
static void pace_from_env(NitPool *p) {
  const char *e = getenv("NITRT_POOL_PACE");
  if (!e || !*e) return;
  int64_t v[NITRT_POOL_CHUNKS], total = 0;
  int n = 0;
  for (char *end; n < NITRT_POOL_CHUNKS && *e; e = *end == ',' ? end + 1 : end, n++) {
    v[n] = strtol(e, &end, 10);
    if (end == e || v[n] < 1 || v[n] > 1000) {
      nitrt_warn("NITRT_POOL_PACE: expected positive numbers up to 1000, separated by commas; ignored");
      return;
    }
    total += v[n];
  }
  for (int w = 0; w < NITRT_POOL_CHUNKS; w++) p->speed[w] = (int32_t)(w < n ? v[w] * PACE_ONE * n / total : PACE_ONE);
  p->fixed = true;
}

int32_t nitrt_cores_online(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int32_t)n;
}

int32_t nitrt_cores_allowed(void) {
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

/* The online cores this process may run on: fewer than online under
 * `taskset` or a container's cpuset, as `nproc` counts them. */
int32_t nitrt_threads_default(void) {
  int32_t n = nitrt_cores_online(), a = nitrt_cores_allowed();
  return a >= 1 && a < n ? a : n;
}

NitPool *nitrt_pool_new(int32_t threads) {
  if (threads < 1) threads = nitrt_threads_default();
  NitPool *p = nitrt_alloc_aligned(sizeof *p); /* zero, and aligned for the lines */
  if (!p) return NULL;
  p->threads = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (int w = 0; w < NITRT_POOL_CHUNKS; w++) p->speed[w] = PACE_ONE;
  pace_from_env(p);
  p->times = nitrt_pool_times_new(threads, (uintptr_t)nitrt_parallel_for);
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
  /* a job of no chunks: the executors wake, see stop and return */
  atomic_store(&p->gen, gen_next(p, 0));
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int32_t w = 1; w < p->threads; w++) pthread_join(p->tids[w - 1], NULL);
  nitrt_pool_times_close(p->times);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->tids);
  nitrt_free_aligned(p, sizeof *p);
}

int32_t nitrt_pool_threads(const NitPool *p) { return p ? p->threads : 1; }

/* A call as the caller saw it (NITRT_POOL_TIMES): entered at t_in, its own
 * chunks done at t_own, every chunk at t_out. */
static void region_times(NitPool *p, NitBody body, int64_t t_in, int64_t t_own, int64_t t_out) {
  nitrt_pool_times_region(p->times, (uintptr_t)body, p->times_end ? t_in - p->times_end : 0, t_out - t_in,
                          t_out - t_own);
  p->times_end = t_out;
}

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
  if (used > NITRT_POOL_CHUNKS) used = NITRT_POOL_CHUNKS;
  if (used > max_workers) used = max_workers;
  if (used > count) used = count;
  int64_t t_in = p->times ? nitrt_now_ns() : 0; /* the call's span and the serial gap before it */
  if (used <= 1) {
    body(env, 0, count, 0);
    if (p->times) {
      int64_t t_out = nitrt_now_ns();
      nitrt_pool_times_add(p->times, 0, (uintptr_t)body, count, t_out - t_in);
      region_times(p, body, t_in, t_out, t_out);
    }
    return 1;
  }
  Pace *pc = pace_of(p, body);
  split(p, pc->speed, count, (int32_t)used, p->bound);
  p->t0 = !p->fixed && ++pc->calls % PACE_EVERY == 0 ? nitrt_now_ns() : 0;
  p->body = body;
  p->env = env;
  uint_fast64_t g = gen_next(p, (int32_t)used);
  uint32_t job = gen_job(g);
  PUBLISH_WINDOW();
  atomic_store(&p->gen, g); /* publishes the fields above */
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  run_chunks(p, g, 0);
  int64_t t_own = p->times ? nitrt_now_ns() : 0;
  for (int32_t w = 0; w < (int32_t)used; w++)
    for (int i = 0; (uint32_t)atomic_load_explicit(&p->chunk[w].done, memory_order_acquire) != job; i++)
      if (i > SPIN_ROUNDS) sched_yield();
  if (p->times) region_times(p, body, t_in, t_own, nitrt_now_ns());
  if (p->t0) learn(p, pc->speed, (int32_t)used);
  return (int32_t)used;
}

void nitrt_pool_idle_set(NitPool *p, void (*unit)(void *env, int64_t i), void *env, int64_t n) {
  nitrt_pool_idle_finish(p); /* at most one loop at a time */
  p->idle_unit = unit;
  p->idle_env = env;
  p->idle_n = n;
  p->idle_next = 0;
  atomic_store_explicit(&p->idle_back, false, memory_order_relaxed);
  if (p->threads > 1) atomic_store_explicit(&p->idle, IDLE_OPEN, memory_order_release);
}

void nitrt_pool_idle_finish(NitPool *p) {
  if (!p || !p->idle_unit) return;
  if (p->threads > 1) {
    /* take it back: a holder sees idle_back after its current unit */
    atomic_store_explicit(&p->idle_back, true, memory_order_relaxed);
    for (int open = IDLE_OPEN;
         !atomic_compare_exchange_weak_explicit(&p->idle, &open, IDLE_NONE, memory_order_acquire, memory_order_relaxed);
         open = IDLE_OPEN)
      ;
  }
  while (p->idle_next < p->idle_n) p->idle_unit(p->idle_env, p->idle_next++);
  p->idle_unit = NULL;
}
