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
  free(u->perm);
  nitrt_pool_free(u->pool);
}

/* threads: --threads T; T < 1 means every online core. The results never
 * depend on it (threads.c). */
int nitrt_run_alloc(Run *u, const NitModel *m, int32_t threads) {
  int64_t dim = (int64_t)m->in_c * m->in_h * m->in_w;
  u->m = m;
  u->pool = nitrt_pool_new(threads);
  u->params = nitrt_alloc_aligned((size_t)m->param_bytes);
  u->work = nitrt_alloc_aligned((size_t)m->work_bytes);
  u->xb = nitrt_alloc((size_t)(dim * m->batch));
  u->yb = nitrt_alloc((size_t)m->batch * sizeof *u->yb);
  u->logits = nitrt_alloc((size_t)m->batch * (size_t)m->classes);
  if (!u->params || !u->work || !u->xb || !u->yb || !u->logits || !u->pool) return -1;
  return 0;
}

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

/* Forward over samples [from, from+count) of d: correct predictions and the
 * summed loss (Q24); per class into cs when it is not NULL. */
void nitrt_evaluate_classes(Run *u, const Dataset *d, int64_t from, int64_t count, int32_t mu, int64_t *correct,
                            int64_t *loss, ClassStats *cs) {
  const NitModel *m = u->m;
  int64_t dim = (int64_t)d->c * d->h * d->w;
  *correct = *loss = 0;
  for (int64_t i = from; i < from + count; i += u->r.batch) {
    int32_t n = (int32_t)(from + count - i < u->r.batch ? from + count - i : u->r.batch);
    NitCtx c = nitrt_run_ctx(u, NIT_STEP_EVAL, n, d->q.in_exp, mu, 0);
    m->forward(&c, d->x + i * dim);
    for (int32_t k = 0; k < n; k++) {
      const int8_t *z = u->logits + (int64_t)k * m->classes;
      int32_t y = d->y[i + k], p = nitrt_argmax(z, m->classes);
      *correct += p == y;
      *loss += nitrt_xent_q24(z, m->classes, c.logit_exp, y);
      if (cs) {
        cs->samples[y]++;
        cs->correct[y] += p == y;
        cs->predicted[p]++;
        if (cs->confusion) cs->confusion[(int64_t)y * cs->classes + p]++;
      }
    }
  }
}

void nitrt_evaluate(Run *u, const Dataset *d, int64_t from, int64_t count, int32_t mu, int64_t *correct,
                    int64_t *loss) {
  nitrt_evaluate_classes(u, d, from, count, mu, correct, loss, NULL);
}
