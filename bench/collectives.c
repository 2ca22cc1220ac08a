/*
 * collectives.c: what one step of a model asks of the ranks. Linked with a
 * generated object (nitc MODEL.nit --emit obj) and the runtime, it runs one
 * training step and one evaluation forward pass of a full batch in one
 * process with counting callbacks in NitCtx.allmax and allsum (which, with
 * one rank, leave the values as they are) and prints one line:
 *
 *   model batch  train: MAX calls, int64 elements; SUM calls, int32 and
 *   int64 elements, bytes; forward: MAX calls
 *
 * The counts do not depend on the number of ranks (every rank makes the
 * same calls) and the SUM payload does not depend on the batch: it is one
 * gradient per weight. Then the time of a training step on one thread,
 * with the full batch and with n = 0 (what a rank pays per step whatever
 * its slice: the update, the weight views, the packing of weights), the
 * median of 5 steps each. bench/scaleout.sh prints both for
 * docs/scaleout.md.
 *   usage: collectives
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime (bench.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "nitabi.h"
#include "nitrt.h"

static int64_t max_calls, max_elems, sum_calls, sum_elems[2];

static void count_max(void *comm, int64_t *v, int64_t count) {
  (void)comm;
  (void)v;
  max_calls++;
  max_elems += count;
}

static void count_sum(void *comm, void *v, int64_t count, int32_t width) {
  (void)comm;
  (void)v;
  sum_calls++;
  sum_elems[width == 8] += count;
}

/* Median nanoseconds of 5 training steps of n samples (after one more). */
static int64_t step_ns(Run *u, int32_t n) {
  int64_t t[5];
  for (int k = 0; k < 6; k++) {
    NitCtx c = nitrt_run_ctx(u, 1 + (uint64_t)k, n, NITRT_IN_EXP, nitrt_mu_for_epoch(&u->r, 1), 1);
    int64_t t0 = bench_now_ns();
    u->m->train_step(&c, u->xb, u->yb);
    if (k) t[k - 1] = bench_now_ns() - t0;
  }
  return bench_median(t, 5);
}

int main(void) {
  const NitModel *m = &nit_model;
  Run u;
  memset(&u, 0, sizeof u);
  if (nitrt_run_alloc(&u, m, 1)) return 2;
  nitrt_model_recipe(m, &u.r);
  nitrt_init_params(m, u.params, u.r.seed);
  int64_t dim = nitrt_model_dim(m);
  for (int64_t e = 0; e < dim * m->batch; e++) u.xb[e] = (int8_t)(nit_draw(nit_key(1, 0, 7), (uint64_t)e) % 128);
  for (int32_t b = 0; b < m->batch; b++) u.yb[b] = b % m->classes;
  u.eta = nitrt_recipe_lr(&u.r, 1, 0, 100);
  NitCtx c = nitrt_run_ctx(&u, 0, m->batch, NITRT_IN_EXP, nitrt_mu_for_epoch(&u.r, 1), 1);
  c.allmax = count_max;
  c.allsum = count_sum;
  m->train_step(&c, u.xb, u.yb);
  int64_t tmax = max_calls, telems = max_elems;
  max_calls = max_elems = 0;
  c = nitrt_run_ctx(&u, NIT_STEP_EVAL, m->batch, NITRT_IN_EXP, nitrt_mu_for_epoch(&u.r, 1), 0);
  c.allmax = count_max;
  c.allsum = count_sum;
  m->forward(&c, u.xb);
  int64_t bytes = 4 * sum_elems[0] + 8 * sum_elems[1];
  printf("%-16s batch %3d  train: MAX %3lld calls (%lld int64)  SUM %3lld calls, %lld int32 + %lld int64 = %lld "
         "bytes (%lld KiB)  forward: MAX %lld calls\n",
         m->name, m->batch, (long long)tmax, (long long)telems, (long long)sum_calls, (long long)sum_elems[0],
         (long long)sum_elems[1], (long long)bytes, (long long)((bytes + 1023) / 1024), (long long)max_calls);
  int64_t full = step_ns(&u, m->batch), none = step_ns(&u, 0);
  printf("%-16s one thread: a step of %d samples %lld.%03lld ms, of 0 samples %lld.%03lld ms\n", m->name, m->batch,
         (long long)(full / 1000000), (long long)(full / 1000 % 1000), (long long)(none / 1000000),
         (long long)(none / 1000 % 1000));
  nitrt_run_free(&u);
  return 0;
}
