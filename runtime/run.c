/*
 * run.c: the memory and call context of one run of the executable, shared
 * by training (train.c) and inference (infer.c): the params and work slabs,
 * the gathered batch, the logits, the thread pool; a NitCtx for one call of
 * the generated code; and the forward pass over part of a data set that
 * train's test pass and `eval` share, so both see the same logits.
 */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

int nitrt_check_batch(const NitModel *m, int32_t batch, const char *ckpt) {
  if (batch <= m->batch) return 0;
  if (ckpt)
    nitrt_error("%s: the checkpoint was made at batch %d, but this executable was compiled "
                "for batch <= %d: give --batch %d or less, or recompile with nitc --batch %d",
                ckpt, batch, m->batch, m->batch, batch);
  else
    nitrt_error("--batch %d: this executable was compiled for batch <= %d; recompile with "
                "nitc --batch %d",
                batch, m->batch, batch);
  return -1;
}

const char *nitrt_data_dir(const Options *o, const NitModel *m, const Ckpt *ck, const char *ckpt) {
  if (o->data) return o->data;
  if (ck && ck->version >= 2 && ck->data[0]) {
    if (!nitrt_exists(ck->data)) {
      nitrt_error("%s: the checkpoint's data directory %s is gone: give --data DIR", ckpt, ck->data);
      return NULL;
    }
    return ck->data;
  }
  if (ck) {
    /* the train block's default may be another data set than the one the
       checkpoint was trained on: never guess */
    nitrt_error("%s: the checkpoint does not record its data set (format %u): give --data "
                "DIR",
                ckpt, ck->version);
    return NULL;
  }
  if (m->recipe.data && m->recipe.data[0]) return m->recipe.data;
  nitrt_error("no data directory: give --data DIR");
  return NULL;
}

void nitrt_run_free(Run *u) {
  nitrt_free_aligned(u->params, u->m ? (size_t)u->m->param_bytes : 0);
  nitrt_free_aligned(u->work, u->m ? (size_t)u->m->work_bytes : 0);
  free(u->xb);
  free(u->yb);
  free(u->logits);
  free(u->later.logits);
  free(u->later.y);
  free(u->later.correct);
  free(u->later.loss);
  free(u->perm);
  nitrt_pool_free(u->pool);
}

/* The threads of a run's pool, from --threads T; T < 1 means the online
 * cores shared by the ranks on this node (every core in one process). At
 * most NITRT_POOL_CHUNKS: a parallel loop never has more chunks, so more
 * threads would only wait. More than the cores, or than the chunks, is
 * warned about. The results never depend on it (threads.c). */
int32_t nitrt_run_threads(int32_t threads) {
  int32_t cores = nitrt_mpi_threads_default();
  bool ranks = nitrt_mpi_node_size() > 1; /* the node's cores are shared */
  if (threads > cores) /* they take turns: each parallel region waits for the slowest */
    nitrt_warn("--threads %d is more than the %d core%s this %s may run on%s: the threads take turns on %s, "
               "which slows training down (the results are the same)",
               (int)threads, (int)cores, cores == 1 ? "" : "s", ranks ? "rank" : "process",
               ranks ? " (the node's cores shared by its ranks)" : "", cores == 1 ? "it" : "them");
  if (threads > NITRT_POOL_CHUNKS)
    nitrt_warn("--threads %d: a parallel loop splits into at most %d chunks, so the other threads would only "
               "wait; using %d",
               (int)threads, NITRT_POOL_CHUNKS, NITRT_POOL_CHUNKS);
  if (threads < 1) threads = cores;
  return threads > NITRT_POOL_CHUNKS ? NITRT_POOL_CHUNKS : threads;
}

int nitrt_run_alloc(Run *u, const NitModel *m, int32_t threads) {
  int64_t dim = (int64_t)m->in_c * m->in_h * m->in_w;
  u->m = m;
  u->pool = nitrt_pool_new(nitrt_run_threads(threads));
  u->params = nitrt_alloc_aligned((size_t)m->param_bytes);
  u->work = nitrt_alloc_aligned((size_t)m->work_bytes);
  u->xb = nitrt_alloc((size_t)(dim * m->batch));
  u->yb = nitrt_alloc((size_t)m->batch * sizeof *u->yb);
  u->logits = nitrt_alloc((size_t)m->batch * (size_t)m->classes);
  ScoreLater *s = &u->later;
  s->classes = m->classes;
  s->logits = nitrt_alloc((size_t)m->batch * (size_t)m->classes);
  s->y = nitrt_alloc((size_t)m->batch * sizeof *s->y);
  s->correct = nitrt_alloc((size_t)m->batch);
  s->loss = nitrt_alloc((size_t)m->batch * sizeof *s->loss);
  if (!u->params || !u->work || !u->xb || !u->yb || !u->logits || !u->pool || !s->logits || !s->y || !s->correct ||
      !s->loss)
    return -1;
  return 0;
}

int64_t nitrt_param_values(const NitModel *m, const NitParam *t, int32_t *size) {
  if (m->recipe.kind != NIT_RECIPE_NITI) {
    *size = m->recipe.master_bits / 8;
    return t->master_off;
  }
  *size = t->bits > 8 ? 2 : 1;
  return t->offset;
}

int64_t nitrt_slab_get(const uint8_t *p, int32_t size, int64_t j) {
  if (size == 1) return (int8_t)p[j];
  if (size == 2) {
    int16_t v;
    memcpy(&v, p + 2 * j, 2);
    return v;
  }
  int32_t v;
  memcpy(&v, p + 4 * j, 4);
  return v;
}

int64_t nitrt_weight_limit(const NitParam *t) { return ((int64_t)1 << (t->bits - 1)) - 1; }

NitCtx nitrt_run_ctx(const Run *u, uint64_t step, int32_t n, int32_t in_exp, int32_t mu, int train) {
  NitCtx c;
  memset(&c, 0, sizeof c);
  c.params = u->params;
  c.work = u->work;
  c.seed = u->r.seed;
  c.step = step;
  c.n = n;
  c.gn = n; /* one process: the global batch is this call's */
  c.in_exp = in_exp;
  c.mu = mu;
  c.act_round = u->r.act_round;
  c.err_round = u->r.err_round;
  c.grad_round = u->r.grad_round;
  c.decay = u->r.decay;
  c.train = train;
  c.logits = u->logits;
  c.logit_exp = 0;
  c.exps = NULL;
  c.parallel_for = nitrt_parallel_for;
  c.pool = u->pool;
  if (u->r.kind != NIT_RECIPE_NITI) {
    c.view_round = u->r.view_round;
    c.update_round = u->r.update_round;
    if (train) { /* forward ignores eta */
      c.eta_m = u->eta.m;
      c.eta_e = u->eta.e;
    }
    NitS31 mom = nitrt_sdec(u->r.momentum_n, u->r.momentum_f), wd = nitrt_sdec(u->r.wdecay_n, u->r.wdecay_f);
    c.mom_m = mom.m;
    c.mom_e = mom.e;
    c.wdecay_m = wd.m;
    c.wdecay_e = wd.e;
  }
  return c;
}

int nitrt_class_stats_alloc(ClassStats *cs, int32_t classes) {
  memset(cs, 0, sizeof *cs);
  cs->classes = classes;
  cs->samples = nitrt_alloc((size_t)classes * sizeof *cs->samples);
  cs->correct = nitrt_alloc((size_t)classes * sizeof *cs->correct);
  cs->predicted = nitrt_alloc((size_t)classes * sizeof *cs->predicted);
  if (classes <= NITRT_CONFUSION_MAX)
    cs->confusion = nitrt_alloc((size_t)classes * (size_t)classes * sizeof *cs->confusion);
  if (!cs->samples || !cs->correct || !cs->predicted || (classes <= NITRT_CONFUSION_MAX && !cs->confusion)) {
    nitrt_class_stats_free(cs);
    return -1;
  }
  return 0;
}

void nitrt_class_stats_free(ClassStats *cs) {
  free(cs->samples);
  free(cs->correct);
  free(cs->predicted);
  free(cs->confusion);
  memset(cs, 0, sizeof *cs);
}

typedef struct ScoreJob {
  const int8_t *logits; /* (n, classes) */
  const int32_t *y;     /* (n) */
  int64_t n;
  int32_t classes, exp;
  int64_t part[NITRT_POOL_CHUNKS][2]; /* per chunk: correct, loss (Q24) */
} ScoreJob;

/* A hint that the line at p will be read soon; changes no value. */
static void prefetch(const void *p) {
#if defined(__GNUC__)
  __builtin_prefetch(p, 0, 3);
#else
  (void)p;
#endif
}

static void score_rows(void *env, int64_t lo, int64_t hi, int32_t w) {
  ScoreJob *j = env;
  int64_t c = 0, l = 0;
  for (int64_t k = lo; k < hi; k++) {
    const int8_t *z = j->logits + k * j->classes;
    c += nitrt_argmax(z, j->classes) == j->y[k];
    l += nitrt_xent_q24(z, j->classes, j->exp, j->y[k]);
  }
  j->part[w][0] = c, j->part[w][1] = l;
}

void nitrt_score_batch(const Run *u, const int32_t *y, int64_t n, int32_t logit_exp, int64_t sums[2]) {
  ScoreJob j = {u->logits, y, n, u->m->classes, logit_exp, {{0}}};
  /* a few rows score faster than a hand-off to the workers */
  int32_t used = 1;
  if (n < 32) score_rows(&j, 0, n, 0);
  else used = nitrt_parallel_for(u->pool, score_rows, &j, n, NITRT_POOL_CHUNKS);
  for (int32_t w = 0; w < used; w++) sums[0] += j.part[w][0], sums[1] += j.part[w][1];
}

/* A training step's samples scored while the next step runs: unit k scores
 * sample k of the copy. */
static void score_unit(void *env, int64_t k) {
  ScoreLater *s = env;
  const int8_t *z = s->logits + k * s->classes;
  s->correct[k] = nitrt_argmax(z, s->classes) == s->y[k];
  s->loss[k] = nitrt_xent_q24(z, s->classes, s->exp, s->y[k]);
}

void nitrt_score_later(Run *u, const int32_t *y, int64_t n, int32_t logit_exp) {
  ScoreLater *s = &u->later;
  memcpy(s->logits, u->logits, (size_t)(n * s->classes));
  memcpy(s->y, y, (size_t)n * sizeof *y);
  s->n = n;
  s->exp = logit_exp;
  nitrt_pool_idle_set(u->pool, score_unit, s, n);
}

int64_t nitrt_score_collect(Run *u, int64_t sums[2]) {
  ScoreLater *s = &u->later;
  int64_t n = s->n;
  if (!n) return 0;
  nitrt_pool_idle_finish(u->pool);
  for (int64_t k = 0; k < n; k++) sums[0] += s->correct[k], sums[1] += s->loss[k];
  s->n = 0;
  return n;
}

/* Rows [lo, hi) of a gather: each executor copies the rows its chunk of the
 * next step's first parallel region will read (an even split), so they
 * land in its own core's cache; all its rows are asked for first, as they
 * lie scattered over the data set, mostly in memory. */
static void gather_rows(void *env, int64_t lo, int64_t hi, int32_t w) {
  const Gather *g = env;
  (void)w;
  for (int64_t r = lo; r < hi; r++)
    for (int64_t q = 0; q < g->dim; q += 64) prefetch(g->x + (int64_t)g->idx[r] * g->dim + q);
  for (int64_t r = lo; r < hi; r++)
    memcpy(g->dst + r * g->dim, g->x + (int64_t)g->idx[r] * g->dim, (size_t)g->dim);
}

void nitrt_gather_batch(const Run *u, const Gather *g) {
  if (g->count < 32) gather_rows((void *)g, 0, g->count, 0);
  else nitrt_parallel_for(u->pool, gather_rows, (void *)g, g->count, NITRT_POOL_CHUNKS);
}

/* Forward over samples [from, from+count) of d: correct predictions and the
 * summed loss (Q24); per class into cs when it is not NULL. With several
 * ranks each batch is sharded like a training batch and the counts summed:
 * every rank gets the totals. */
void nitrt_evaluate_classes(Run *u, const Dataset *d, int64_t from, int64_t count, int32_t mu, int64_t *correct,
                            int64_t *loss, ClassStats *cs) {
  const NitModel *m = u->m;
  int64_t dim = (int64_t)d->c * d->h * d->w;
  int64_t sums[2] = {0, 0};
  int32_t x_nonneg = nitrt_data_nonneg(d->x + from * dim, count * dim);
  for (int64_t i = from; i < from + count; i += u->r.batch) {
    int32_t n = (int32_t)(from + count - i < u->r.batch ? from + count - i : u->r.batch);
    int64_t lo, hi;
    nitrt_mpi_slice(n, &lo, &hi);
    NitCtx c = nitrt_run_ctx(u, NIT_STEP_EVAL, (int32_t)(hi - lo), d->q.in_exp, mu, 0);
    c.x_nonneg = x_nonneg;
    nitrt_mpi_shard(&c, n, lo);
    m->forward(&c, d->x + (i + lo) * dim);
    nitrt_score_batch(u, d->y + i + lo, hi - lo, c.logit_exp, sums);
    for (int64_t k = 0; cs && k < hi - lo; k++) {
      int32_t y = d->y[i + lo + k], p = nitrt_argmax(u->logits + k * m->classes, m->classes);
      cs->samples[y]++;
      cs->correct[y] += p == y;
      cs->predicted[p]++;
      if (cs->confusion) cs->confusion[(int64_t)y * cs->classes + p]++;
    }
  }
  nitrt_mpi_sum(sums, 2);
  if (cs) {
    nitrt_mpi_sum(cs->samples, cs->classes);
    nitrt_mpi_sum(cs->correct, cs->classes);
    nitrt_mpi_sum(cs->predicted, cs->classes);
    if (cs->confusion) nitrt_mpi_sum(cs->confusion, (int64_t)cs->classes * cs->classes);
  }
  *correct = sums[0];
  *loss = sums[1];
}

void nitrt_evaluate(Run *u, const Dataset *d, int64_t from, int64_t count, int32_t mu, int64_t *correct,
                    int64_t *loss) {
  nitrt_evaluate_classes(u, d, from, count, mu, correct, loss, NULL);
}

int nitrt_run_check_model(const NitModel *m) {
  if (nitrt_mpi_size() == 1) return 0;
  uint64_t fp = m->fingerprint;
  bool same;
  nitrt_mpi_same(&fp, 1, &same);
  bool ok = same;
  if (!same)
    nitrt_error("the ranks run different models (their fingerprints differ): start the same executable on "
                "every rank");
  return nitrt_mpi_ok(ok) ? 0 : -1;
}

/* The settings of a run that every rank must share, hashed. */
static uint64_t settings_hash(const RunRecipe *r, const uint64_t *state, int32_t nstate) {
  int64_t v[16 + 2 * NIT_MAX_SCHED];
  int k = 0;
  v[k++] = r->batch;
  v[k++] = r->epochs;
  v[k++] = (int64_t)r->seed;
  v[k++] = r->act_round;
  v[k++] = r->err_round;
  v[k++] = r->grad_round;
  v[k++] = r->decay;
  v[k++] = r->holdout;
  v[k++] = r->limit;
  v[k++] = r->kind;
  v[k++] = r->kind != NIT_RECIPE_NITI ? (int64_t)nitrt_recipe_hash(r) : 0;
  v[k++] = r->nsched;
  for (int32_t i = 0; i < r->nsched && i < NIT_MAX_SCHED; i++) {
    v[k++] = r->mu[i];
    v[k++] = r->mu_from[i];
  }
  uint64_t h = nitrt_hash64(0, (const uint8_t *)v, (size_t)k * sizeof v[0]);
  return nitrt_hash64(h, (const uint8_t *)state, (size_t)nstate * sizeof state[0]);
}

static uint64_t print_hash(uint64_t h, const Dataset *d) {
  if (!d) return h;
  int64_t v[4] = {d->print.format, d->print.n, (int64_t)d->print.hash, d->n};
  return nitrt_hash64(h, (const uint8_t *)v, sizeof v);
}

int nitrt_run_check_same(const Run *u, const char *dir, const Dataset *train, const Dataset *test,
                         const uint64_t *state, int32_t nstate, const char *ckpt) {
  if (nitrt_mpi_size() == 1) return 0;
  uint64_t v[3] = {print_hash(print_hash(0, train), test), settings_hash(&u->r, state, nstate),
                   nitrt_crc32(u->params, (size_t)u->m->param_bytes)};
  bool same[3];
  nitrt_mpi_same(v, 3, same);
  if (!same[0])
    nitrt_error("the ranks read different data from %s: give every rank the same files (docs/scaleout.md)", dir);
  else if (!same[1])
    nitrt_error("the ranks were started with different settings: every rank needs the same command line%s",
                ckpt ? " and the same checkpoint" : "");
  else if (!same[2] && ckpt)
    nitrt_error("the ranks start from different weights: %s must be the same file on every rank", ckpt);
  else if (!same[2]) nitrt_error("the ranks start from different weights");
  return nitrt_mpi_ok(same[0] && same[1] && same[2]) ? 0 : -1;
}

int nitrt_run_check_weights(const Run *u, const char *path) {
  if (nitrt_mpi_size() == 1) return 0;
  uint64_t crc = nitrt_crc32(u->params, (size_t)u->m->param_bytes);
  bool same;
  nitrt_mpi_same(&crc, 1, &same);
  if (!same) nitrt_error("%s: not written: the ranks hold different weights (a bug: please report it)", path);
  return same ? 0 : -1;
}
