/*
 * train.c: parameter init and the epoch loop of `train`.
 *
 * The loop owns no arithmetic: each step gathers a batch in the epoch's order
 * into a contiguous buffer, fills a NitCtx and calls nit_model.train_step;
 * the runtime only reads the logits back for loss and accuracy.
 *
 * Determinism: the data order of epoch e (1-based) is nitrt_shuffle(seed, e);
 * ctx.step is the global step (0-based, counting every train_step call since
 * the start of training, across resumes). With the params slab, nothing else
 * carries state from one step to the next, so a checkpoint taken at an epoch
 * end continues bit for bit; one taken inside an epoch (--save-every,
 * --max-steps) also records the steps of the epoch done and the epoch's
 * running counts, and continues at the next step of the same order.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nitrt.h"

/* Ctrl-C (SIGINT) or SIGTERM during training: finish the current step, then
 * stop with status 130 (with --save-every, after saving the position inside
 * the epoch). Checkpoints are written between steps, never inside one, so a
 * signal never leaves a half-written file behind. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static void catch_signals(void) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  int sigs[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) /* keep a signal ignored if it was (nohup, &) */
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sigs[i], &sa, NULL);
}

/* The initial deviation of a batch-statistics node's running statistics:
 * variance ONE for batchnorm, sdiv(ONE, K) for l1norm (K dev = 1). */
static NitS31 running_dev_init(const NitModel *m, int32_t p) {
  const int64_t *d = m->params[p].norm;
  if (d[NIT_ND_KIND] != NIT_NORM_L1BATCH) return nitrt_s31_one();
  return nitrt_sdiv(nitrt_s31_one(), nitrt_norm_k(d));
}

static void put_i32(uint8_t *slab, int64_t off, int32_t v) { memcpy(slab + off, &v, 4); }

/* Recipes with masters (docs/recipes.md, "Masters"): per tensor the master
 * (weights drawn like NITI's at 15 bits, times 2^16 for 32-bit masters;
 * gamma 2^(A-2), beta 0) at NitParam.exp, zero momenta at exponent 0, the
 * exponents {exp, 0, 0, 0}, running statistics {mean 0, dev} per channel.
 * The views are written by the generated code. */
static void init_masters(const NitModel *m, uint8_t *slab, uint64_t seed) {
  const int32_t a = m->recipe.master_bits;
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    uint64_t key = nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p));
    uint64_t range = 2 * (uint64_t)(uint32_t)t->bound + 1;
    for (int64_t j = 0; j < t->count; j++) {
      int64_t w = 0;
      if (t->role == NIT_ROLE_WEIGHT) {
        w = (int64_t)(nit_draw(key, (uint64_t)j) % range) - t->bound;
        if (a == 32) w *= (int64_t)1 << 16;
      } else if (t->role == NIT_ROLE_GAMMA) {
        w = (int64_t)1 << (a - 2);
      }
      if (a == 16) {
        int16_t v = (int16_t)w;
        memcpy(slab + t->master_off + 2 * j, &v, 2);
      } else {
        put_i32(slab, t->master_off + 4 * j, (int32_t)w);
      }
    }
    put_i32(slab, m->pstate_off + 16 * p, t->exp);
    if (t->stats_off >= 0) {
      NitS31 dev = running_dev_init(m, p);
      for (int32_t c = 0; c < t->shape[0]; c++) {
        put_i32(slab, t->stats_off + 16 * c + 8, (int32_t)dev.m);
        put_i32(slab, t->stats_off + 16 * c + 12, dev.e);
      }
    }
  }
}

void nitrt_init_params(const NitModel *m, void *params, uint64_t seed) {
  uint8_t *slab = params;
  memset(slab, 0, (size_t)m->param_bytes);
  if (m->recipe.kind != NIT_RECIPE_NITI) {
    init_masters(m, slab, seed);
    return;
  }
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    uint64_t key = nit_key(seed, NIT_STEP_INIT, NIT_TID_INIT(p));
    uint64_t range = 2 * (uint64_t)(uint32_t)t->bound + 1;
    for (int64_t j = 0; j < t->count; j++) {
      int w = (int)(nit_draw(key, (uint64_t)j) % range) - t->bound;
      if (t->bits > 8) {
        int16_t v = (int16_t)(w * (1 << (t->bits - 8)));
        memcpy(slab + t->offset + 2 * j, &v, 2);
      } else {
        slab[t->offset + j] = (uint8_t)(int8_t)w;
      }
    }
  }
}

/* The recipe flags the user gave override `r`; when resuming, say so for the
 * ones that break bit-exact continuation. */
static void apply_overrides(const Options *o, RunRecipe *r, bool resuming) {
  const RunRecipe *v = &o->r;
#define OVR(bit, field, what)                                                            \
  if (o->set & (bit)) {                                                                  \
    if (resuming && r->field != v->field)                                                \
      nitrt_warn("%s differs from the checkpoint's: the run continues, but not bit for " \
                 "bit like an uninterrupted one",                                        \
                 what);                                                                  \
    r->field = v->field;                                                                 \
  }
  OVR(SET_BATCH, batch, "--batch")
  OVR(SET_SEED, seed, "--seed")
  OVR(SET_ACT, act_round, "the activation rounding")
  OVR(SET_ERR, err_round, "the error rounding")
  OVR(SET_GRAD, grad_round, "the gradient rounding")
  OVR(SET_DECAY, decay, "--decay")
  OVR(SET_HOLDOUT, holdout, "--holdout")
  OVR(SET_LIMIT, limit, "--limit")
#undef OVR
  if (o->set & SET_EPOCHS) r->epochs = v->epochs;
  if (o->set & SET_LR) r->lr = v->lr;
  if (o->set & SET_MOMENTUM) {
    r->momentum_n = v->momentum_n;
    r->momentum_f = v->momentum_f;
  }
  if (o->set & SET_WDECAY) {
    r->wdecay_n = v->wdecay_n;
    r->wdecay_f = v->wdecay_f;
  }
  if (o->set & SET_SCHED) {
    bool same = r->nsched == v->nsched;
    for (int32_t i = 0; same && i < v->nsched; i++) same = r->mu[i] == v->mu[i] && r->mu_from[i] == v->mu_from[i];
    if (resuming && !same)
      nitrt_warn("--update-bits differs from the checkpoint's: the run continues, but not "
                 "bit for bit like an uninterrupted one");
    r->nsched = v->nsched;
    memcpy(r->mu, v->mu, sizeof r->mu);
    memcpy(r->mu_from, v->mu_from, sizeof r->mu_from);
  }
}

/* Where a run is inside an epoch: steps done, and the epoch's training
 * counts so far (what its log record sums). */
typedef struct EpochPos {
  uint64_t steps;
  int64_t correct, loss_q24;
} EpochPos;

/* A checkpoint of the run after `epoch` epochs and `step` steps; inside
 * epoch `epoch + 1` when pos is not NULL. With several ranks every rank
 * calls it (it first checks that all hold the same weights) and rank 0
 * writes; the caller closes with an "all ok". */
static int save_state(const char *path, const NitModel *m, const Run *u, uint32_t epoch, uint64_t step, int64_t ntrain,
                      const Dataset *train, const Dataset *test, const char *data_abs, const EpochPos *pos) {
  if (nitrt_run_check_weights(u, path)) return -1;
  if (nitrt_mpi_rank() != 0) return 0;
  Ckpt w;
  memset(&w, 0, sizeof w);
  if (pos) {
    w.pos = pos->steps;
    w.pos_correct = pos->correct;
    w.pos_loss_q24 = pos->loss_q24;
  }
  w.epoch = epoch;
  w.step = step;
  w.r = u->r;
  w.shuffle_seed = u->r.seed;
  w.shuffle_epoch = epoch + 1;
  w.ntrain = ntrain;
  w.params = u->params;
  w.q = train->q; /* borrowed */
  w.train = train->print;
  w.test = test->print;
  memcpy(w.data, data_abs, sizeof w.data);
  return nitrt_ckpt_save(path, m, &w);
}

/* --max-steps N: the run has done its N steps (global step `step`). */
static bool steps_reached(const Options *o, uint64_t step) { return o->max_steps && step >= (uint64_t)o->max_steps; }

/* The accuracy that picks --save-best: the holdout's when there is one,
 * else the test set's (correct predictions; the sample count is fixed for
 * the run). */
static int64_t best_key(const EpochStats *s) { return s->val_n > 0 ? s->val_correct : s->test_correct; }

/* When resuming with --save-best, the checkpoint already there is the best
 * of the epochs before: its accuracy, re-evaluated on the same samples, is
 * the one to beat (bit for bit what the epoch's own pass saw). -1 when
 * there is none; -2 after an error agreed by every rank. Collective. */
static int64_t best_so_far(const Options *o, Run *u, const Dataset *train, const Dataset *test, int64_t ntrain,
                           uint32_t *epoch) {
  const NitModel *m = u->m;
  if (!o->resume) return -1;
  uint64_t there = nitrt_exists(o->save_best);
  bool same;
  nitrt_mpi_same(&there, 1, &same);
  if (!same) {
    nitrt_error("%s: --save-best: the file exists for some ranks only: checkpoint paths must be visible to every "
                "rank (docs/scaleout.md)",
                o->save_best);
    nitrt_mpi_ok(false);
    return -2;
  }
  if (!there) return -1;
  void *mine = u->params, *slab = nitrt_alloc_aligned((size_t)m->param_bytes);
  Ckpt ck;
  memset(&ck, 0, sizeof ck);
  int bad = -1;
  if (slab) {
    bool was = nitrt_silent;
    nitrt_silent = true; /* one message of our own below */
    bad = nitrt_ckpt_load(o->save_best, m, &ck, slab);
    nitrt_silent = was;
    if (bad)
      nitrt_error("%s: --save-best: the file there is not a checkpoint of this model (see '%s inspect %s'); move "
                  "it away, or give another file",
                  o->save_best, nitrt_prog, o->save_best);
  }
  int64_t correct = -2, loss = 0;
  if (nitrt_mpi_ok(!bad)) {
    int32_t mu = nitrt_mu_for_epoch(&u->r, (int32_t)ck.epoch);
    u->params = slab;
    if (u->r.holdout > 0) nitrt_evaluate(u, train, ntrain, u->r.holdout, mu, &correct, &loss);
    else nitrt_evaluate(u, test, 0, test->n, mu, &correct, &loss);
    u->params = mine;
    *epoch = ck.epoch;
  }
  nitrt_ckpt_free(&ck);
  nitrt_free_aligned(slab, (size_t)m->param_bytes);
  return correct;
}

/* Data parallelism (docs/scaleout.md): every rank runs this function with
 * the same arguments and data; each step's global batch [i, i + n) of the
 * epoch's order is split into contiguous slices, one per rank, and the
 * generated step's collectives make every rank's weights those of one
 * process training on the whole batch. Rank 0 alone prints, logs and
 * writes. Every phase that can fail on one rank ends in an "all ok"
 * (nitrt_mpi_ok) before any other collective, and a failure jumps to
 * `out`, where nitrt_mpi_fail joins the "all ok" the other ranks wait in:
 * an error on any rank ends every rank, told once. In one process all of
 * this reduces to the plain loop. */
int nitrt_cmd_train(const Options *o) {
  const NitModel *m = &nit_model;
  const bool lead = nitrt_mpi_rank() == 0; /* prints, logs and writes */
  const bool talk = lead && !o->quiet;
  Run u;
  memset(&u, 0, sizeof u);
  Ckpt ck;
  memset(&ck, 0, sizeof ck);
  Dataset train = {0}, test = {0};
  FILE *log = NULL;
  int64_t *clip_sum = NULL; /* unified: the epoch's sums of every site's d_c and phi (the JSON log) */
  Tele tele = {0};          /* --telemetry: the epoch's per-layer counts (telemetry.c) */
  int rc = -1;
  if (nitrt_run_check_model(m)) goto out;
  if (nitrt_run_alloc(&u, m, o->threads)) goto out;
  nitrt_model_recipe(m, &u.r);
  uint32_t start = 0;
  uint64_t step = 0;
  if (o->resume) {
    if (nitrt_ckpt_load(o->resume, m, &ck, u.params)) goto out;
    if (ck.r.loss_table != u.r.loss_table) { /* compiled in: the file's train block decides it */
      static const char *const loss[] = {"NITI's softmax (exp=niti)", "the table softmax (exp=table)"};
      nitrt_error("%s: the checkpoint was trained with %s, this executable computes %s: resume with an "
                  "executable compiled with the same loss, or start a new run",
                  o->resume, loss[ck.r.loss_table != 0], loss[u.r.loss_table != 0]);
      goto out;
    }
    u.r = ck.r;
    start = ck.epoch;
    step = ck.step;
  }
  RunRecipe before = u.r;
  if (ck.pos &&
      (((o->set & SET_BATCH) && o->r.batch != ck.r.batch) || ((o->set & SET_HOLDOUT) && o->r.holdout != ck.r.holdout) ||
       ((o->set & SET_LIMIT) && o->r.limit != ck.r.limit))) {
    nitrt_error("%s: the checkpoint was taken inside epoch %u (%llu steps done), which continues only with its "
                "batch %d, holdout %d and limit %lld: resume without changing them",
                o->resume, ck.epoch + 1, (unsigned long long)ck.pos, ck.r.batch, ck.r.holdout, (long long)ck.r.limit);
    goto out;
  }
  apply_overrides(o, &u.r, o->resume != NULL);
  if (o->resume) { /* the optimizer's state only means something under its own settings */
    const char *d = nitrt_recipe_diff(&before, &u.r);
    if (d) {
      nitrt_error("%s: the checkpoint was trained with other settings: %s differs; resume without "
                  "changing it, or start a new run",
                  o->resume, d);
      goto out;
    }
  }
  if (nitrt_recipe_check(m->name ? m->name : "the model's recipe", &u.r)) goto out;
  if (nitrt_check_batch(m, u.r.batch, o->resume && !(o->set & SET_BATCH) ? o->resume : NULL)) goto out;
  if (o->save_every && !o->save) {
    nitrt_error("--save-every needs --save CKPT: the file the checkpoints inside an epoch go to");
    goto out;
  }
  if (!o->resume) nitrt_init_params(m, u.params, u.r.seed);
  /* everything that could fail late is checked before the first step; the
     files rank 0 writes, by rank 0 */
  if (lead && o->save && nitrt_check_writable(o->save)) goto out;
  if (lead && o->save_init && nitrt_check_writable(o->save_init)) goto out;
  if (lead && o->save_best && nitrt_check_writable(o->save_best)) goto out;
  if (lead && o->log && !(log = nitrt_open_log(o->log, true))) goto out; /* a log is never truncated */
  /* a resumed run continues on the checkpoint's data, quantized the same way */
  const char *dir = nitrt_data_dir(o, m, o->resume && !o->data ? &ck : NULL, o->resume);
  const InputQuant *q = o->resume && ck.version >= 2 ? &ck.q : NULL;
  if (!dir || nitrt_load_dir(dir, m, u.r.limit, o->test_limit, q, &train, &test)) goto out;
  if (u.r.holdout >= train.n) {
    nitrt_error("--holdout %d leaves no training samples: %s has %lld", u.r.holdout, dir, (long long)train.n);
    goto out;
  }
  int64_t ntrain = train.n - u.r.holdout;
  if (ntrain > (int64_t)UINT32_MAX) {
    nitrt_error("%s: %lld training samples; at most %u are supported (use --limit)", dir, (long long)ntrain,
                UINT32_MAX);
    goto out;
  }
  /* a checkpoint taken inside an epoch continues that epoch where it stopped */
  EpochPos at = {ck.pos, ck.pos_correct, ck.pos_loss_q24};
  if (o->resume && ck.pos && (u.r.batch != ck.r.batch || ntrain != ck.ntrain)) {
    nitrt_error("%s: the checkpoint was taken inside epoch %u (%llu steps done), which continues only with its "
                "batch %d and its %lld training samples (now batch %d, %lld samples): resume without changing them",
                o->resume, ck.epoch + 1, (unsigned long long)ck.pos, ck.r.batch, (long long)ck.ntrain, u.r.batch,
                (long long)ntrain);
    goto out;
  }
  /* the end of the setup: every rank has its checkpoint and data */
  if (!nitrt_mpi_ok(true)) goto out;
  {
    /* --telemetry too: its counts are summed over the ranks each epoch */
    uint64_t state[7] = {start, step, at.steps, (uint64_t)at.correct, (uint64_t)at.loss_q24, (uint64_t)ntrain,
                         (uint64_t)o->telemetry};
    if (nitrt_run_check_same(&u, dir, &train, &test, state, 7, o->resume)) goto out;
  }
  if (o->resume) {
    char a[96], b[96];
    if (ck.version < 2 && train.print.format == NITRT_FMT_CSV)
      nitrt_warn("%s: the checkpoint does not record how its CSV inputs were quantized "
                 "(format 1); they are now scaled per column, so the model sees inputs on "
                 "another scale than before",
                 o->resume);
    if (ck.version >= 2 && !nitrt_print_same(&train.print, &ck.train))
      nitrt_warn("%s: the checkpoint was trained on another data set (%s; now %s in %s): "
                 "the run continues, but not like an uninterrupted one",
                 o->resume, nitrt_print_desc(a, &ck.train), nitrt_print_desc(b, &train.print), dir);
    else if (ck.ntrain != ntrain)
      nitrt_warn("%s: the checkpoint was trained on %lld samples, now %lld: the data order "
                 "differs from an uninterrupted run",
                 o->resume, (long long)ck.ntrain, (long long)ntrain);
  }
  if (start >= (uint32_t)u.r.epochs) {
    if (talk)
      printf("%s: already trained for %u of %d epochs; nothing to do (raise --epochs)\n", o->resume, start, u.r.epochs);
    rc = 0;
    goto out;
  }
  if (steps_reached(o, step)) {
    if (talk)
      printf("%s: already trained for %llu steps, --max-steps %lld; nothing to do (raise --max-steps)\n", o->resume,
             (unsigned long long)step, (long long)o->max_steps);
    rc = 0;
    goto out;
  }
  /* what the checkpoints will record about the data */
  static char data_abs[NITRT_PATH_MAX + 1];
  nitrt_abspath(dir, data_abs, sizeof data_abs);
  const int64_t steps = (ntrain + u.r.batch - 1) / u.r.batch; /* per epoch */
  u.perm = nitrt_alloc((size_t)ntrain * sizeof *u.perm);
  if (!nitrt_mpi_ok(u.perm != NULL)) goto out;
  int64_t dim = (int64_t)m->in_c * m->in_h * m->in_w;
  const int32_t x_nonneg = nitrt_data_nonneg(train.x, ntrain * dim); /* the samples the steps draw */
  if (o->save_init && !nitrt_mpi_ok(save_state(o->save_init, m, &u, start, step, ntrain, &train, &test, data_abs,
                                               at.steps ? &at : NULL) == 0))
    goto out;
  int64_t best = -1;
  uint32_t best_epoch = 0;
  if (o->save_best) {
    best = best_so_far(o, &u, &train, &test, ntrain, &best_epoch);
    if (best == -2) goto out;
  }
  if (talk && o->resume) {
    printf("resuming from %s: epoch %u of %d done", o->resume, start, u.r.epochs);
    if (at.steps)
      printf(" and %llu of %lld steps of epoch %u", (unsigned long long)at.steps, (long long)steps, start + 1);
    printf(", step %llu", (unsigned long long)step);
    if (best >= 0) {
      char a[32];
      int64_t n = u.r.holdout > 0 ? u.r.holdout : test.n;
      printf("; best so far %s (epoch %u, %s %s%%)", o->save_best, best_epoch, u.r.holdout > 0 ? "val" : "test",
             nitrt_fmt_dec(a, nitrt_ratio(best, n, 4), 2));
    }
    printf("\n");
    fflush(stdout);
  }
  if (!o->save && !o->save_best)
    nitrt_warn("no --save: the trained weights are discarded when the run ends (give --save CKPT to keep them)");
  if (log) {
    RunInfo ri = {o,         &u.r,  data_abs, &train,  &test, ntrain, nitrt_pool_threads(u.pool), nitrt_mpi_size(),
                  o->resume, start, step,     at.steps};
    nitrt_log_run(log, &ri);
    if (fflush(log) != 0) {
      nitrt_error("%s: write error", o->log);
      goto out;
    }
  }
  if (!nitrt_mpi_ok(true)) goto out;
  int mode = !talk ? NITRT_PROGRESS_OFF : isatty(2) ? NITRT_PROGRESS_BAR : NITRT_PROGRESS_LINES;
  catch_signals();
  int64_t saved_at = -1; /* steps of the epoch in progress that --save holds (-1: none) */
  int32_t stop = 0;      /* the signal every rank stops at, agreed after each step */
  bool halt = false;     /* --max-steps reached inside an epoch (every rank: the step is global) */
  /* every rank counts its slices; rank 0 the weights (telemetry.c) */
  if (!nitrt_mpi_ok(nitrt_tele_init(&tele, m, o->telemetry, lead) == 0)) goto out;
  if (m->clip_off >= 0 && m->nsites > 0 && !(clip_sum = nitrt_alloc(sizeof(int64_t) * 2 * (size_t)m->nsites)))
    goto out;
  for (int32_t e = (int32_t)start + 1; e <= u.r.epochs; e++) {
    int64_t t0 = nitrt_now_ns();
    int32_t mu = nitrt_mu_for_epoch(&u.r, e);
    nitrt_shuffle(u.perm, ntrain, u.r.seed, (uint64_t)e);
    EpochStats s;
    memset(&s, 0, sizeof s);
    s.epoch = e;
    s.epochs = u.r.epochs;
    s.masters = m->recipe.kind != NIT_RECIPE_NITI;
    const uint64_t done = e == (int32_t)start + 1 ? at.steps : 0; /* steps of this epoch already done */
    s.lr = nitrt_recipe_lr(&u.r, e, step - done, steps);          /* at the epoch's first step */
    s.model = m;
    s.params = u.params;
    s.mu = mu;
    s.clip_sum = clip_sum;
    nitrt_tele_epoch_start(&tele, m);
    s.tele = tele.every > 0 ? &tele : NULL;
    for (int32_t k = 0; clip_sum && k < 2 * m->nsites; k++) clip_sum[k] = 0;
    /* the epoch's counts: this rank's slices in this run, summed over the
       ranks at the end, plus those of the steps done before a resume */
    int64_t count[2] = {0, 0}; /* correct, loss */
    const int64_t base[2] = {done ? at.correct : 0, done ? at.loss_q24 : 0};
    Progress pr;
    nitrt_progress_start(&pr, mode, o->progress_ns, e, u.r.epochs, steps);
    pr.done = pr.skip = (int64_t)done;
    int64_t i = (int64_t)done * u.r.batch;
    int64_t gathered = -1; /* the step whose samples the last scoring gathered into xb */
    for (; i < ntrain; i += u.r.batch) {
      int32_t n = (int32_t)(ntrain - i < u.r.batch ? ntrain - i : u.r.batch);
      int64_t lo, hi; /* this rank's slice of the batch */
      nitrt_mpi_slice(n, &lo, &hi);
      for (int64_t k = 0; k < hi - lo; k++) {
        uint32_t src = u.perm[i + lo + k];
        if (gathered != i) memcpy(u.xb + k * dim, train.x + (int64_t)src * dim, (size_t)dim);
        u.yb[k] = train.y[src];
      }
      u.eta = nitrt_recipe_lr(&u.r, e, step, steps);
      NitCtx c = nitrt_run_ctx(&u, step, (int32_t)(hi - lo), train.q.in_exp, mu, 1);
      c.x_nonneg = x_nonneg;
      nitrt_mpi_shard(&c, n, lo);
      const bool sampled = nitrt_tele_sampled(&tele, step);
      if (sampled) nitrt_tele_before(&tele, m, u.params, &c);
      m->train_step(&c, u.xb, u.yb);
      if (sampled) nitrt_tele_after(&tele, m, u.params, u.work, c.n);
      step++;
      for (int32_t k = 0; clip_sum && k < m->nsites; k++) { /* {l* + 1, s*, dq, phi} per site */
        int32_t st[4];
        memcpy(st, (const uint8_t *)u.params + m->clip_off + 16 * k, sizeof st);
        clip_sum[2 * k] += st[2];
        clip_sum[2 * k + 1] += st[3];
      }
      s.clip_steps += clip_sum != NULL;
      /* the step before's scores, computed by the pool's idle threads while
         this step ran; this step's wait for the next (run.c,
         nitrt_score_later), unless the epoch, a save or a stop comes first */
      int64_t sc[2] = {0, 0}; /* correct, loss */
      int64_t scored = nitrt_score_collect(&u, sc);
      nitrt_score_later(&u, u.yb, hi - lo, c.logit_exp);
      /* the step is done with xb: the workers gather the next step's slice
         into it */
      int64_t ni = i + u.r.batch, nlo = 0, nhi = 0;
      if (ni < ntrain) {
        nitrt_mpi_slice((int32_t)(ntrain - ni < u.r.batch ? ntrain - ni : u.r.batch), &nlo, &nhi);
        Gather next = {train.x, u.perm + ni + nlo, nhi - nlo, dim, u.xb};
        nitrt_gather_batch(&u, &next);
      }
      gathered = ni < ntrain ? ni : -1;
      stop = nitrt_mpi_max(stop_signal); /* every rank stops after the same step */
      /* --max-steps ends the run inside an epoch like an interrupt, with
         --save holding the position; at an epoch's end, after the epoch */
      halt = steps_reached(o, step) && i + n < ntrain;
      bool save_now = (o->save_every && ((i + n < ntrain && step % (uint64_t)o->save_every == 0) || stop)) ||
                      (halt && o->save);
      if (ni >= ntrain || save_now || stop || halt) scored += nitrt_score_collect(&u, sc);
      count[0] += sc[0];
      count[1] += sc[1];
      nitrt_progress_step(&pr, n, scored, sc[1]);
      /* --save-every: the position inside the epoch, every N global steps
         (the epoch's end is saved after its evaluation), and at an interrupt */
      if (save_now) {
        int64_t sum[2] = {count[0], count[1]};
        nitrt_mpi_sum(sum, 2);
        EpochPos here = {(uint64_t)((i + n + u.r.batch - 1) / u.r.batch), base[0] + sum[0], base[1] + sum[1]};
        if (!nitrt_mpi_ok(save_state(o->save, m, &u, (uint32_t)e - 1, step, ntrain, &train, &test, data_abs, &here) ==
                          0))
          goto out;
        saved_at = (int64_t)here.steps;
      }
      if (stop || halt) break;
    }
    nitrt_progress_end(&pr);
    if (stop) {
      fflush(stdout);
      if (!lead) { /* rank 0 tells */
      } else if (saved_at >= 0) {
        fprintf(stderr,
                "%s: interrupted during epoch %d; %s holds epoch %d up to step %lld of %lld (continue with "
                "--resume %s)\n",
                nitrt_prog, e, o->save, e, (long long)saved_at, (long long)steps, o->save);
      } else if (o->save && e > (int32_t)start + 1) {
        fprintf(stderr,
                "%s: interrupted during epoch %d; %s holds epoch %d (continue with "
                "--resume %s)\n",
                nitrt_prog, e, o->save, e - 1, o->save);
      } else if (o->resume && at.steps) {
        fprintf(stderr, "%s: interrupted during epoch %d; %s still holds epoch %u up to step %llu\n", nitrt_prog, e,
                o->resume, start + 1, (unsigned long long)at.steps);
      } else if (o->resume) {
        fprintf(stderr, "%s: interrupted during epoch %d; %s still holds epoch %u\n", nitrt_prog, e, o->resume, start);
      } else {
        fprintf(stderr, "%s: interrupted during epoch %d; no checkpoint was written\n", nitrt_prog, e);
      }
      rc = 130;
      goto out;
    }
    if (halt) {
      if (talk && saved_at >= 0)
        printf("stopped after step %llu (--max-steps) inside epoch %d; %s holds epoch %d up to step %lld of %lld "
               "(continue with --resume %s)\n",
               (unsigned long long)step, e, o->save, e, (long long)saved_at, (long long)steps, o->save);
      else if (talk)
        printf("stopped after step %llu (--max-steps) inside epoch %d\n", (unsigned long long)step, e);
      break;
    }
    nitrt_mpi_sum(count, 2);
    s.train_correct = base[0] + count[0];
    s.train_n = ntrain;
    s.timed_n = ntrain - ((int64_t)done * u.r.batch < ntrain ? (int64_t)done * u.r.batch : ntrain); /* by this run */
    s.loss_q24 = (base[1] + count[1]) / ntrain;
    s.train_ns = nitrt_now_ns() - t0;
    int64_t vloss = 0;
    if (u.r.holdout > 0) {
      s.val_n = u.r.holdout;
      nitrt_evaluate(&u, &train, ntrain, u.r.holdout, mu, &s.val_correct, &vloss);
    }
    s.test_n = test.n;
    nitrt_evaluate(&u, &test, 0, test.n, mu, &s.test_correct, &s.test_loss_q24);
    s.test_loss_q24 /= test.n;
    s.step = step;
    s.total_ns = nitrt_now_ns() - t0;
    s.best = o->save_best && best_key(&s) > best; /* ties keep the earlier epoch */
    if (s.tele) nitrt_tele_sum_ranks(&tele, m);
    if (talk) nitrt_print_epoch(stdout, &s);
    if (talk && s.tele) nitrt_tele_print(stdout, &tele, m);
    if (lead && s.tele) nitrt_tele_warn(&tele, m, e);
    fflush(stdout);
    bool logged = true;
    if (log) {
      nitrt_log_epoch(log, &s);
      if (fflush(log) != 0) {
        nitrt_error("%s: write error", o->log);
        logged = false;
      }
    }
    if (!nitrt_mpi_ok(logged)) goto out;
    if (o->save &&
        !nitrt_mpi_ok(save_state(o->save, m, &u, (uint32_t)e, step, ntrain, &train, &test, data_abs, NULL) == 0))
      goto out;
    saved_at = -1;
    if (s.best) {
      if (!nitrt_mpi_ok(save_state(o->save_best, m, &u, (uint32_t)e, step, ntrain, &train, &test, data_abs, NULL) == 0))
        goto out;
      best = best_key(&s);
    }
    if (steps_reached(o, step) && e < u.r.epochs) {
      if (talk) printf("stopped after step %llu (--max-steps) at the end of epoch %d\n", (unsigned long long)step, e);
      break;
    }
  }
  if (log) { /* closed before the last "all ok", so every rank ends alike */
    bool closed = fclose(log) == 0;
    log = NULL;
    if (!closed) nitrt_error("%s: write error", o->log);
    if (!nitrt_mpi_ok(closed)) goto out;
  } else if (!nitrt_mpi_ok(true)) {
    goto out;
  }
  rc = 0;
out:
  if (log && fclose(log) != 0 && rc == 0) {
    nitrt_error("%s: write error", o->log);
    rc = -1;
  }
  if (rc < 0) nitrt_mpi_fail();
  nitrt_data_free(&train);
  nitrt_data_free(&test);
  nitrt_ckpt_free(&ck);
  nitrt_run_free(&u);
  free(clip_sum);
  nitrt_tele_free(&tele);
  return rc;
}
