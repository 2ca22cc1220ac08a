/*
 * ranks.c: data-parallel exactness of generated code without MPI. N ranks
 * are N threads, each with its own slabs and a contiguous slice of the
 * global batch; the context's collectives (NitCtx.allmax, allsum) meet at a
 * barrier and reduce every rank's contribution in rank order. After every
 * training step each rank's params slab must equal, byte for byte, the slab
 * of one process that ran the whole batch; then the evaluation forward
 * pass, sharded the same way, must give that process's logits and
 * exponent. Slices may be empty (N > batch): such a rank runs the step with
 * n = 0 and joins every collective.
 *
 * Linked with one generated object (nit_model) and the runtime (parameter
 * init, recipe, schedules). usage: ranks [--ranks N] [--steps K] [--seed S]
 * [--local 1]; --local 1 is the negative control: no collectives and local
 * draw indices, which must make a difference for N > 1.
 * Exit 0 when identical, 1 on the first difference, 2 on harness trouble.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitabi.h"
#include "nitrt.h"

#define MAX_RANKS 8

typedef struct Comm {
  int nranks;
  pthread_barrier_t bar;
  void *slot[MAX_RANKS]; /* each rank's contribution */
} Comm;

typedef struct Rank {
  Comm *comm;
  int r;
} Rank;

static void die(const char *what) {
  fprintf(stderr, "ranks: %s\n", what);
  exit(2);
}

/* Every rank publishes its buffer, waits for all, reduces all in rank
 * order into a private copy, waits again (so no slot is reused early), and
 * writes the result back. */
static void reduce(void *comm, void *v, int64_t count, int width, int max) {
  Rank *k = comm;
  Comm *c = k->comm;
  size_t bytes = (size_t)count * (size_t)width;
  void *out = malloc(bytes ? bytes : 1);
  if (!out) die("out of memory");
  c->slot[k->r] = v;
  pthread_barrier_wait(&c->bar);
  for (int64_t j = 0; j < count; j++) {
    int64_t acc = 0;
    for (int r = 0; r < c->nranks; r++) {
      int64_t x = width == 8 ? ((int64_t *)c->slot[r])[j] : ((int32_t *)c->slot[r])[j];
      acc = r == 0 ? x : max ? (x > acc ? x : acc) : acc + x;
    }
    if (width == 8) ((int64_t *)out)[j] = acc;
    else ((int32_t *)out)[j] = (int32_t)acc;
  }
  pthread_barrier_wait(&c->bar);
  memcpy(v, out, bytes);
  free(out);
}

static void allmax(void *comm, int64_t *v, int64_t count) { reduce(comm, v, count, 8, 1); }
static void allsum(void *comm, void *v, int64_t count, int32_t width) { reduce(comm, v, count, width, 0); }

static int local_only; /* --local 1: the negative control */

typedef struct Job {
  Run u;
  Rank rank;
  int64_t lo, hi;        /* the slice of the global batch */
  const int8_t *x;       /* global batch (B, dim) */
  const int32_t *y;
  uint64_t step;
  int train;
  int32_t logit_exp;
} Job;

/* The context of a slice [lo, hi) of a global batch of nit_model.batch. */
static NitCtx ctx_of(Job *j) {
  NitCtx c = nitrt_run_ctx(&j->u, j->train ? j->step : NIT_STEP_EVAL, (int32_t)(j->hi - j->lo), NITRT_IN_EXP,
                           nitrt_mu_for_epoch(&j->u.r, 1), j->train);
  c.parallel_for = NULL; /* one thread per rank */
  c.row0 = j->lo;
  c.gn = nit_model.batch;
  return c;
}

static void *rank_main(void *arg) {
  Job *j = arg;
  const NitModel *m = &nit_model;
  int64_t dim = nitrt_model_dim(m);
  NitCtx c = ctx_of(j);
  c.comm = &j->rank;
  c.allmax = local_only ? NULL : allmax;
  c.allsum = local_only ? NULL : allsum;
  if (local_only) c.row0 = 0;
  if (j->train) m->train_step(&c, j->x + j->lo * dim, j->y + j->lo);
  else m->forward(&c, j->x + j->lo * dim);
  j->logit_exp = c.logit_exp;
  return NULL;
}

int main(int argc, char **argv) {
  const NitModel *m = &nit_model;
  int nranks = 2, steps = 3;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--ranks")) nranks = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--local")) local_only = atoi(argv[i + 1]);
    else die("usage: ranks [--ranks N] [--steps K] [--seed S] [--local 1]");
  }
  if (nranks < 1 || nranks > MAX_RANKS || steps < 1) die("bad --ranks or --steps");
  int64_t B = m->batch, dim = nitrt_model_dim(m);
  Job one, jobs[MAX_RANKS];
  memset(&one, 0, sizeof one);
  memset(jobs, 0, sizeof jobs);
  if (nitrt_run_alloc(&one.u, m, 1)) die("run_alloc");
  nitrt_model_recipe(m, &one.u.r);
  one.u.r.seed = seed;
  nitrt_init_params(m, one.u.params, seed);
  Comm comm = {.nranks = nranks};
  pthread_barrier_init(&comm.bar, NULL, (unsigned)nranks);
  for (int r = 0; r < nranks; r++) {
    if (nitrt_run_alloc(&jobs[r].u, m, 1)) die("run_alloc");
    jobs[r].u.r = one.u.r;
    memcpy(jobs[r].u.params, one.u.params, (size_t)m->param_bytes);
    jobs[r].rank = (Rank){&comm, r};
    jobs[r].lo = B * r / nranks;
    jobs[r].hi = B * (r + 1) / nranks;
  }
  int8_t *x = malloc((size_t)(B * dim));
  int32_t *y = malloc(sizeof *y * (size_t)B);
  int8_t *want = malloc((size_t)(B * m->classes));
  if (!x || !y || !want) die("out of memory");
  for (int s = 0; s <= steps; s++) {
    uint64_t key = nit_key(seed, (uint64_t)s, 0xFFFF0201u);
    for (int64_t e = 0; e < B * dim; e++) x[e] = (int8_t)(nit_draw(key, (uint64_t)e) % 128);
    for (int64_t b = 0; b < B; b++) y[b] = (int32_t)(nit_draw(key ^ 1, (uint64_t)b) % (uint64_t)m->classes);
    int train = s < steps; /* the last round checks the evaluation pass */
    NitS31 eta = nitrt_recipe_lr(&one.u.r, 1, (uint64_t)s, 100);
    one.u.eta = eta;
    one.x = x, one.y = y, one.step = (uint64_t)s, one.train = train, one.lo = 0, one.hi = B;
    NitCtx c = ctx_of(&one);
    if (train) m->train_step(&c, x, y);
    else m->forward(&c, x);
    memcpy(want, one.u.logits, (size_t)(B * m->classes));
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < nranks; r++) {
      jobs[r].u.eta = eta;
      jobs[r].x = x, jobs[r].y = y, jobs[r].step = (uint64_t)s, jobs[r].train = train;
      if (pthread_create(&th[r], NULL, rank_main, &jobs[r])) die("pthread_create");
    }
    for (int r = 0; r < nranks; r++) pthread_join(th[r], NULL);
    for (int r = 0; r < nranks; r++) {
      if (train && memcmp(jobs[r].u.params, one.u.params, (size_t)m->param_bytes) != 0) {
        int64_t at = 0;
        while (((uint8_t *)jobs[r].u.params)[at] == ((uint8_t *)one.u.params)[at]) at++;
        fprintf(stderr, "ranks: %s: step %d: rank %d of %d: params differ from one process at byte %lld\n", m->name,
                s, r, nranks, (long long)at);
        return 1;
      }
      int64_t n = jobs[r].hi - jobs[r].lo;
      if (!train && n > 0 &&
          (jobs[r].logit_exp != c.logit_exp ||
           memcmp(jobs[r].u.logits, want + jobs[r].lo * m->classes, (size_t)(n * m->classes)) != 0)) {
        fprintf(stderr, "ranks: %s: evaluation: rank %d of %d: logits differ from one process\n", m->name, r,
                nranks);
        return 1;
      }
    }
  }
  printf("ranks: %s: %d ranks, %d steps and an evaluation: identical to one process\n", m->name, nranks, steps);
  for (int r = 0; r < nranks; r++) nitrt_run_free(&jobs[r].u);
  nitrt_run_free(&one.u);
  pthread_barrier_destroy(&comm.bar);
  free(x), free(y), free(want);
  return 0;
}
