/*
 * pooltimes.c: how long each parallel body runs on each executor of the
 * pool, for performance work (NITRT_POOL_TIMES=FILE in the environment of a
 * training executable).
 *
 * The pool (threads.c) times every chunk it runs, from the body's call to
 * its return, and adds it to the table of the executor that ran it: per
 * body, the calls, the items ([lo, hi) summed), the total nanoseconds and
 * the last POOL_TIMES_RING durations, from which the median is taken. Each
 * executor writes only its own table, so nothing is shared or locked while
 * the pool runs; the file is opened when the pool is made (a path that
 * cannot be written is told then, and nothing is timed) and written and
 * closed when the pool is freed, after its threads have joined. A call that runs the
 * body in one piece (one thread, or one worker allowed) counts as executor
 * 0's. Under data-parallel training rank r > 0 writes PATH.r.
 *
 * Bodies are internal functions of the generated code, with no dynamic
 * symbols, so a line names a body by its address relative to
 * nitrt_parallel_for's, which is in the same executable; bench/pool_times.sh
 * turns those into names with nm. Chunk times cover the body only. The
 * caller also records each call as a region (lines starting with r): the
 * serial code it ran since the call before returned, the call's span, and
 * the join, the part of the span it spent waiting for the other executors'
 * chunks after its own. The spans and serial gaps add up to the caller's
 * time from the first call to the last; another executor waits for the
 * rest of a span outside its chunks, and through every serial gap.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nitrt.h"

enum { POOL_TIMES_BODIES = 64, POOL_TIMES_RING = 512, POOL_TIMES_PATH = 4096 };

typedef struct BodyTimes {
  uintptr_t body;                 /* the body's address (0: a free entry) */
  int64_t calls, items, ns;       /* chunks run, their items and nanoseconds */
  int32_t last[POOL_TIMES_RING];  /* the latest chunks' nanoseconds, a ring (capped at INT32_MAX) */
} BodyTimes;

/* The caller's view of one body's calls. */
typedef struct RegionTimes {
  uintptr_t body;             /* the body's address (0: a free entry) */
  int64_t calls, serial, span, join; /* calls and nanoseconds summed */
} RegionTimes;

struct PoolTimes {
  FILE *f;                   /* NITRT_POOL_TIMES's file, open from the start */
  uintptr_t base;            /* bodies are written as their address less this */
  int32_t executors;         /* tables below */
  int32_t *nbodies;          /* (executors) entries in use */
  BodyTimes *t;              /* (executors, POOL_TIMES_BODIES) */
  int64_t *dropped;          /* (executors) chunks of bodies past POOL_TIMES_BODIES, not counted */
  int32_t nregions;          /* entries of region in use */
  int64_t rdropped;          /* calls of bodies past POOL_TIMES_BODIES, not counted */
  RegionTimes region[POOL_TIMES_BODIES]; /* the caller's */
};

static void release(PoolTimes *pt) {
  if (pt->f) fclose(pt->f);
  free(pt->nbodies);
  free(pt->dropped);
  free(pt->t);
  free(pt);
}

PoolTimes *nitrt_pool_times_new(int32_t executors, uintptr_t base) {
  const char *env = getenv("NITRT_POOL_TIMES");
  if (!env || !*env || executors < 1) return NULL;
  char path[POOL_TIMES_PATH]; /* rank r > 0 of data-parallel training: PATH.r */
  int len = nitrt_msg_rank > 0 ? snprintf(path, sizeof path, "%s.%d", env, (int)nitrt_msg_rank)
                               : snprintf(path, sizeof path, "%s", env);
  FILE *f = len > 0 && len < (int)sizeof path ? fopen(path, "w") : NULL; /* now: a bad path is told before the run */
  if (!f) {
    nitrt_warn("NITRT_POOL_TIMES: cannot write '%s'; the pool's times are not kept", path);
    return NULL;
  }
  PoolTimes *pt = nitrt_alloc(sizeof *pt);
  if (!pt) {
    fclose(f);
    return NULL;
  }
  pt->f = f;
  pt->nbodies = nitrt_alloc(sizeof *pt->nbodies * (size_t)executors);
  pt->dropped = nitrt_alloc(sizeof *pt->dropped * (size_t)executors);
  pt->t = nitrt_alloc(sizeof *pt->t * (size_t)executors * POOL_TIMES_BODIES);
  if (!pt->nbodies || !pt->dropped || !pt->t) {
    release(pt);
    return NULL;
  }
  pt->executors = executors;
  pt->base = base;
  return pt;
}

void nitrt_pool_times_add(PoolTimes *pt, int32_t executor, uintptr_t body, int64_t items, int64_t ns) {
  BodyTimes *t = pt->t + (size_t)executor * POOL_TIMES_BODIES;
  int32_t i = 0, n = pt->nbodies[executor];
  while (i < n && t[i].body != body) i++;
  if (i == n) {
    if (n == POOL_TIMES_BODIES) {
      pt->dropped[executor]++;
      return;
    }
    t[i].body = body;
    pt->nbodies[executor] = n + 1;
  }
  t[i].last[t[i].calls % POOL_TIMES_RING] = ns > INT32_MAX ? INT32_MAX : (int32_t)ns;
  t[i].calls++, t[i].items += items, t[i].ns += ns;
}

void nitrt_pool_times_region(PoolTimes *pt, uintptr_t body, int64_t serial_ns, int64_t span_ns, int64_t join_ns) {
  int32_t i = 0;
  while (i < pt->nregions && pt->region[i].body != body) i++;
  if (i == pt->nregions) {
    if (i == POOL_TIMES_BODIES) {
      pt->rdropped++;
      return;
    }
    pt->region[i].body = body;
    pt->nregions = i + 1;
  }
  RegionTimes *r = &pt->region[i];
  r->calls++, r->serial += serial_ns, r->span += span_ns, r->join += join_ns;
}

static int by_value(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* The median of the ring's filled entries (sorted in place). */
static int64_t median(BodyTimes *t) {
  size_t n = t->calls < POOL_TIMES_RING ? (size_t)t->calls : POOL_TIMES_RING;
  qsort(t->last, n, sizeof t->last[0], by_value);
  return t->last[n / 2];
}

void nitrt_pool_times_close(PoolTimes *pt) {
  if (!pt) return;
  FILE *f = pt->f;
  fprintf(f, "# nitrt pool times: executor body calls items ns median_ns (body: its address less nitrt_parallel_for's)\n");
  for (int32_t e = 0; e < pt->executors; e++)
    for (int32_t i = 0; i < pt->nbodies[e]; i++) {
      BodyTimes *t = pt->t + (size_t)e * POOL_TIMES_BODIES + i;
      int64_t off = (int64_t)(t->body - pt->base);
      fprintf(f, "%d %lld %lld %lld %lld %lld\n", (int)e, (long long)off, (long long)t->calls,
              (long long)t->items, (long long)t->ns, (long long)median(t));
    }
  fprintf(f, "# regions: r body calls serial_ns span_ns join_ns (the caller's)\n");
  for (int32_t i = 0; i < pt->nregions; i++) {
    const RegionTimes *r = &pt->region[i];
    fprintf(f, "r %lld %lld %lld %lld %lld\n", (long long)(int64_t)(r->body - pt->base), (long long)r->calls,
            (long long)r->serial, (long long)r->span, (long long)r->join);
  }
  if (pt->rdropped)
    fprintf(f, "# %lld calls of bodies past the first %d not counted as regions\n", (long long)pt->rdropped,
            POOL_TIMES_BODIES);
  for (int32_t e = 0; e < pt->executors; e++)
    if (pt->dropped[e])
      fprintf(f, "# executor %d: %lld chunks of bodies past the first %d not counted\n", (int)e,
              (long long)pt->dropped[e], POOL_TIMES_BODIES);
  pt->f = NULL;
  if (ferror(f) | (fclose(f) != 0)) nitrt_warn("NITRT_POOL_TIMES: the pool's times could not be written in full");
  release(pt);
}
