/*
 * infer.c: the inference commands. `eval` runs the forward pass of a
 * checkpoint over a labelled test set and prints accuracy and loss;
 * `predict` prints the class and score of single samples.
 *
 * Both feed the model exactly what training fed it: data are quantized
 * with the checkpoint's recorded quantization (pixels, or the training
 * CSV's per-column shifts), and data of another kind are refused. eval
 * without --data uses the data directory the checkpoint recorded and warns
 * when the test set is not the one recorded.
 *
 * Batches: the generated forward pass requantizes with exponents taken over
 * the whole batch (docs/numerics.md, "Effective bit width B"), so a
 * sample's logits depend on its neighbours. --per-sample calls the forward
 * pass with n = 1 for every sample: results independent of the batch and
 * of the other samples (docs/runtime.md, "Batches and per-sample mode").
 */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

/* Load --load CKPT into a fresh run; batch from --batch or the checkpoint,
 * 1 with --per-sample. */
static int load_run(const Options *o, Run *u, Ckpt *ck) {
  const NitModel *m = &nit_model;
  if (nitrt_run_alloc(u, m, o->threads) || nitrt_ckpt_load(o->load, m, ck, u->params)) return -1;
  u->r = ck->r;
  if (o->set & SET_BATCH) u->r.batch = o->r.batch;
  if (o->per_sample) u->r.batch = 1;
  return nitrt_check_batch(m, u->r.batch, o->set & SET_BATCH ? NULL : o->load);
}

/* The checkpoint's quantization; NULL when it records none (format 1). */
static const InputQuant *ckpt_quant(const Ckpt *ck) { return ck->version >= 2 ? &ck->q : NULL; }

int nitrt_cmd_eval(const Options *o) {
  const NitModel *m = &nit_model;
  Run u;
  memset(&u, 0, sizeof u);
  Ckpt ck;
  memset(&ck, 0, sizeof ck);
  Dataset test = {0};
  ClassStats cs;
  memset(&cs, 0, sizeof cs);
  int rc = -1;
  /* with several ranks every rank loads the checkpoint and the test set,
     evaluates its slice of every batch (docs/scaleout.md), and rank 0
     prints the sums */
  if (nitrt_run_check_model(m)) goto out;
  if (load_run(o, &u, &ck)) goto out;
  const char *dir = nitrt_data_dir(o, m, &ck, o->load);
  if (!dir || nitrt_load_dir(dir, m, 0, o->test_limit, ckpt_quant(&ck), NULL, &test)) goto out;
  if (o->per_class && nitrt_class_stats_alloc(&cs, m->classes)) goto out;
  if (!nitrt_mpi_ok(true)) goto out;
  {
    uint64_t state[2] = {ck.epoch, ck.step};
    if (nitrt_run_check_same(&u, dir, NULL, &test, state, 2, o->load)) goto out;
  }
  if (ck.version >= 2 && !nitrt_print_same(&test.print, &ck.test)) {
    char a[96], b[96];
    nitrt_warn("%s: this test set (%s) is not the one %s recorded (%s): the accuracy is "
               "on other data",
               dir, nitrt_print_desc(a, &test.print), o->load, nitrt_print_desc(b, &ck.test));
  }
  int64_t t0 = nitrt_now_ns();
  int64_t correct = 0, loss = 0;
  nitrt_evaluate_classes(&u, &test, 0, test.n, nitrt_mu_for_epoch(&u.r, (int32_t)ck.epoch), &correct, &loss,
                         o->per_class ? &cs : NULL);
  int64_t ns = nitrt_now_ns() - t0;
  int64_t rate = ns > 0 ? test.n * 1000000000 / ns : 0;
  rc = 0;
  if (nitrt_mpi_rank() != 0) goto out;
  char a[32], l[32];
  if (o->json) {
    fputs("{\"checkpoint\":", stdout);
    nitrt_json_str(stdout, o->load);
    fputs(",\"model\":", stdout);
    nitrt_json_str(stdout, m->name);
    printf(",\"fingerprint\":\"0x%016llx\",\"epoch\":%u,\"step\":%llu,\"data\":", (unsigned long long)m->fingerprint,
           ck.epoch, (unsigned long long)ck.step);
    nitrt_json_str(stdout, dir);
    printf(",\"batch\":%d,\"per_sample\":%s,\"test_acc\":%s,\"test_loss\":%s,\"test_correct\":%lld,"
           "\"test_samples\":%lld,\"samples_per_sec\":%lld",
           u.r.batch, o->per_sample ? "true" : "false", nitrt_fmt_dec(a, nitrt_ratio(correct, test.n, 4), 4),
           nitrt_fmt_dec(l, nitrt_q24_dec(loss / test.n, 4), 4), (long long)correct, (long long)test.n,
           (long long)rate);
    if (o->per_class) {
      putchar(',');
      nitrt_json_classes(stdout, &cs);
    }
    fputs("}\n", stdout);
  } else {
    printf("test %s%%  loss %s  (%lld/%lld correct)  epoch %u  %lld samples/s\n",
           nitrt_fmt_dec(a, nitrt_ratio(correct, test.n, 4), 2), nitrt_fmt_dec(l, nitrt_q24_dec(loss / test.n, 4), 4),
           (long long)correct, (long long)test.n, ck.epoch, (long long)rate);
    if (o->per_class) nitrt_print_classes(stdout, &cs);
  }
out:
  if (rc < 0) nitrt_mpi_fail();
  nitrt_class_stats_free(&cs);
  nitrt_data_free(&test);
  nitrt_ckpt_free(&ck);
  nitrt_run_free(&u);
  return rc;
}

/* predict's input, quantized like the checkpoint's training data. */
static int load_input(const Options *o, const Ckpt *ck, Dataset *d) {
  const NitModel *m = &nit_model;
  const InputQuant *q = ckpt_quant(ck);
  if (o->csv) {
    if (!q) {
      nitrt_error("%s: the checkpoint does not record how its inputs were quantized "
                  "(format %u), so CSV input cannot be scaled like its training data: "
                  "resume or retrain with this runtime",
                  o->load, ck->version);
      return -1;
    }
    return nitrt_load_csv(o->csv, m, 0, false, q, d);
  }
  if (o->idx) return nitrt_quant_want_pixels(o->idx, NITRT_FMT_IDX, q) || nitrt_load_idx(o->idx, NULL, m, 0, d);
  return nitrt_quant_want_pixels(o->raw, NITRT_FMT_RAW, q) || nitrt_load_raw(o->raw, m, d);
}

int nitrt_cmd_predict(const Options *o) {
  const NitModel *m = &nit_model;
  Run u;
  memset(&u, 0, sizeof u);
  Ckpt ck;
  memset(&ck, 0, sizeof ck);
  Dataset d = {0};
  int rc = -1;
  if (load_run(o, &u, &ck) || load_input(o, &ck, &d)) goto out;
  const char *file = o->idx ? o->idx : o->raw ? o->raw : o->csv;
  int64_t from = o->index;
  int64_t count = o->set & SET_COUNT ? o->count : o->idx ? 1 : d.n - from;
  if (from >= d.n || count > d.n - from) {
    nitrt_error("%s: holds %lld samples; samples %lld..%lld requested", file, (long long)d.n, (long long)from,
                (long long)(from + (count > 0 ? count : 1) - 1));
    goto out;
  }
  int64_t dim = (int64_t)d.c * d.h * d.w;
  int32_t mu = nitrt_mu_for_epoch(&u.r, (int32_t)ck.epoch);
  int32_t x_nonneg = nitrt_data_nonneg(d.x + from * dim, count * dim);
  for (int64_t i = from; i < from + count; i += u.r.batch) {
    int32_t n = (int32_t)(from + count - i < u.r.batch ? from + count - i : u.r.batch);
    NitCtx c = nitrt_run_ctx(&u, NIT_STEP_EVAL, n, d.q.in_exp, mu, 0);
    c.x_nonneg = x_nonneg;
    m->forward(&c, d.x + i * dim);
    for (int32_t k = 0; k < n; k++) {
      const int8_t *z = u.logits + (int64_t)k * m->classes;
      int32_t cls = nitrt_argmax(z, m->classes);
      if (o->logits) {
        printf("sample %lld  class %d  logits", (long long)(i + k), cls);
        for (int32_t j = 0; j < m->classes; j++) printf(" %d", z[j]);
        printf(" (x2^%d)\n", c.logit_exp);
        continue;
      }
      char p[32];
      printf("sample %lld  class %d  score %s%%  logit %d (x2^%d)\n", (long long)(i + k), cls,
             nitrt_fmt_dec(p, nitrt_softmax_bp(z, m->classes, c.logit_exp, cls), 2), z[cls], c.logit_exp);
    }
  }
  rc = 0;
out:
  nitrt_data_free(&d);
  nitrt_ckpt_free(&ck);
  nitrt_run_free(&u);
  return rc;
}
