/*
 * report.c: what people see. On stderr a progress bar when it is a terminal
 * (redrawn at most ten times a second, fitted to the terminal's width), plain
 * progress lines every --progress seconds when it is not; one line per epoch
 * on stdout; in the --log file a run record, then one JSON object per epoch;
 * eval's per-class table and confusion matrix; the `info` table.
 * All numbers are integers or fixed point printed with integer formatting.
 */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include <string.h>
#include <time.h>

#include "nitrt.h"

#define BAR_MAX 40 /* widest bar */
#define BAR_MIN 10 /* narrower: no bar, the figures alone */

void nitrt_progress_start(Progress *p, int mode, int64_t plain_ns, int32_t epoch, int32_t epochs, int64_t total) {
  memset(p, 0, sizeof *p);
  p->mode = mode == NITRT_PROGRESS_LINES && plain_ns <= 0 ? NITRT_PROGRESS_OFF : mode;
  p->plain_ns = plain_ns;
  p->epoch = epoch;
  p->epochs = epochs;
  p->total = total;
  p->start_ns = p->last_ns = nitrt_now_ns();
}

/* "123/938  12345 samples/s  loss 0.2315  ETA 1:05" into buf (160 bytes). */
static int figures(const Progress *p, int64_t now, char *buf) {
  int64_t ns = now - p->start_ns;
  int64_t rate = ns > 0 ? p->samples * 1000000000 / ns : 0;
  int64_t eta = p->done > p->skip ? ns / (p->done - p->skip) * (p->total - p->done) / 1000000000 : 0;
  int64_t l = p->loss_n ? nitrt_q24_dec(p->loss_sum_q24 / p->loss_n, 4) : 0;
  char loss[32];
  return snprintf(buf, 160, "%lld/%lld  %lld samples/s  loss %s  ETA %lld:%02lld", (long long)p->done,
                  (long long)p->total, (long long)rate, nitrt_fmt_dec(loss, l, 4), (long long)(eta / 60),
                  (long long)(eta % 60));
}

/* The bar line, at most the terminal's width less 3 columns: the cursor
 * never wraps, and the "^C" a terminal echoes on Ctrl-C lands on this line,
 * where nitrt_progress_end erases it. */
static void draw(Progress *p, int64_t now) {
  char head[48], tail[160], line[320];
  int hl = snprintf(head, sizeof head, "epoch %d/%d", p->epoch, p->epochs);
  int tl = figures(p, now, tail);
  int room = nitrt_term_cols(2) - 3;
  if (room < 1) room = 1;
  int bw = room - hl - tl - 4; /* " [" bar "] " */
  if (bw > BAR_MAX) bw = BAR_MAX;
  int n;
  if (bw >= BAR_MIN) {
    char bar[BAR_MAX + 1];
    int64_t fill = p->total > 0 ? p->done * bw / p->total : 0;
    for (int i = 0; i < bw; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[bw] = '\0';
    n = snprintf(line, sizeof line, "%s [%s] %s", head, bar, tail);
  } else {
    n = snprintf(line, sizeof line, "%s  %s", head, tail);
  }
  if (n > room) n = room;
  if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
  fprintf(stderr, "\r%.*s", n, line);
  if (n < p->width) fprintf(stderr, "%*s", p->width - n, "");
  p->width = n;
  fflush(stderr);
}

/* One plain line, for logs and nohup. */
static void line(const Progress *p, int64_t now) {
  char tail[160];
  figures(p, now, tail);
  fprintf(stderr, "epoch %d/%d  step %s\n", p->epoch, p->epochs, tail);
  fflush(stderr);
}

void nitrt_progress_step(Progress *p, int64_t samples, int64_t loss_n, int64_t loss_sum_q24) {
  p->done++;
  p->samples += samples;
  p->loss_sum_q24 += loss_sum_q24;
  p->loss_n += loss_n;
  if (p->mode == NITRT_PROGRESS_OFF) return;
  int64_t now = nitrt_now_ns();
  if (p->mode == NITRT_PROGRESS_BAR) {
    if (now - p->last_ns >= 100000000 || p->done == p->total) {
      p->last_ns = now;
      draw(p, now);
    }
  } else if (now - p->last_ns >= p->plain_ns && p->done < p->total) {
    p->last_ns = now;
    line(p, now);
  }
}

void nitrt_progress_end(Progress *p) {
  if (p->mode == NITRT_PROGRESS_BAR) { /* + 2: a "^C" echoed after the bar, or before it was drawn */
    fprintf(stderr, "\r%*s\r", p->width + 2, "");
    fflush(stderr);
    p->width = 0;
  }
}

static int64_t per_sec(int64_t n, int64_t ns) { return ns > 0 ? n * 1000000000 / ns : 0; }

void nitrt_print_epoch(FILE *f, const EpochStats *s) {
  char a[32], b[32], c[32], d[32];
  fprintf(f, "epoch %d/%d  loss %s  train %s%%", s->epoch, s->epochs,
          nitrt_fmt_dec(a, nitrt_q24_dec(s->loss_q24, 4), 4),
          nitrt_fmt_dec(b, nitrt_ratio(s->train_correct, s->train_n, 4), 2));
  if (s->val_n > 0) fprintf(f, "  val %s%%", nitrt_fmt_dec(c, nitrt_ratio(s->val_correct, s->val_n, 4), 2));
  fprintf(f, "  test %s%%  %lld samples/s  %s s%s\n", nitrt_fmt_dec(c, nitrt_ratio(s->test_correct, s->test_n, 4), 2),
          (long long)per_sec(s->timed_n, s->train_ns), nitrt_fmt_dec(d, (s->total_ns + 50000000) / 100000000, 1),
          s->best ? "  saved as best" : "");
}

void nitrt_log_epoch(FILE *f, const EpochStats *s) {
  char a[32], b[32], c[32], d[32], e[32];
  fprintf(f, "{\"epoch\":%d,\"epochs\":%d,\"step\":%llu,", s->epoch, s->epochs, (unsigned long long)s->step);
  if (!s->masters) fprintf(f, "\"update_bits\":%d,", (int)s->mu); /* the epoch's m_u (niti) */
  fprintf(f, "\"train_loss\":%s,\"train_acc\":%s,", nitrt_fmt_dec(a, nitrt_q24_dec(s->loss_q24, 4), 4),
          nitrt_fmt_dec(b, nitrt_ratio(s->train_correct, s->train_n, 4), 4));
  if (s->val_n > 0)
    fprintf(f, "\"val_acc\":%s,\"val_correct\":%lld,\"val_samples\":%lld,",
            nitrt_fmt_dec(c, nitrt_ratio(s->val_correct, s->val_n, 4), 4), (long long)s->val_correct,
            (long long)s->val_n);
  fprintf(f,
          "\"test_acc\":%s,\"test_loss\":%s,\"samples_per_sec\":%lld,\"seconds\":%s,"
          "\"train_correct\":%lld,\"train_samples\":%lld,\"test_correct\":%lld,"
          "\"test_samples\":%lld",
          nitrt_fmt_dec(c, nitrt_ratio(s->test_correct, s->test_n, 4), 4),
          nitrt_fmt_dec(d, nitrt_q24_dec(s->test_loss_q24, 4), 4), (long long)per_sec(s->timed_n, s->train_ns),
          nitrt_fmt_dec(e, (s->total_ns + 500000) / 1000000, 3), (long long)s->train_correct, (long long)s->train_n,
          (long long)s->test_correct, (long long)s->test_n);
  if (s->masters) {
    char l[64];
    fprintf(f, ",\"lr\":\"%s\",\"lr_m\":%lld,\"lr_e\":%d,\"master_exp\":[", nitrt_fmt_s31(l, s->lr), (long long)s->lr.m,
            (int)s->lr.e);
    const uint8_t *ps = (const uint8_t *)s->params + s->model->pstate_off;
    for (int32_t p = 0; p < s->model->nparams; p++) {
      int32_t x;
      memcpy(&x, ps + 16 * p, 4);
      fprintf(f, p ? ",%d" : "%d", (int)x);
    }
    fputc(']', f);
  }
  if (s->clip_sum) { /* unified: per DSGC site the epoch's mean d_c and phi and the held level */
    fputs(",\"clip\":[", f);
    for (int32_t k = 0; k < s->model->nsites; k++) {
      int32_t st[4];
      char d1[32], d2[32];
      memcpy(st, (const uint8_t *)s->params + s->model->clip_off + 16 * k, sizeof st);
      int64_t n = s->clip_steps > 0 ? s->clip_steps : 1;
      fprintf(f, "%s{\"dc\":%s,\"phi\":%s,\"level\":%d}", k ? "," : "",
              nitrt_fmt_dec(d1, nitrt_ratio(s->clip_sum[2 * k] / n, (int64_t)1 << 30, 6), 6),
              nitrt_fmt_dec(d2, nitrt_ratio(s->clip_sum[2 * k + 1] / n, (int64_t)1 << 30, 6), 6), (int)st[0] - 1);
    }
    fputc(']', f);
  }
  if (s->tele) nitrt_tele_log(f, s->tele, s->model);
  if (s->best) fputs(",\"saved_best\":true", f);
  fputs("}\n", f);
}

static void json_key_str(FILE *f, const char *key, const char *v) {
  fprintf(f, ",\"%s\":", key);
  if (v) nitrt_json_str(f, v);
  else fputs("null", f);
}

static void json_print(FILE *f, const char *key, const DataPrint *p) {
  fprintf(f, ",\"%s\":{\"format\":\"%s\",\"samples\":%lld,\"hash\":\"0x%016llx\"}", key, nitrt_format_name(p->format),
          (long long)p->n, (unsigned long long)p->hash);
}

static void json_dec(FILE *f, const char *key, uint64_t n, int32_t dp) {
  char b[32];
  fprintf(f, ",\"%s\":\"%s\"", key, nitrt_fmt_decimal(b, n, dp));
}

/* The softmax's name in `info` and the log. */
static const char *loss_name(const RunRecipe *r) { return r->loss_table ? "table softmax" : "softmax"; }

/* The recipe's settings, as `info` shows them. */
static void json_recipe(FILE *f, const RunRecipe *r) {
  fprintf(f,
          "{\"kind\":\"%s\",\"batch\":%d,\"epochs\":%d,\"rounding\":{\"act\":\"%s\",\"err\":\"%s\","
          "\"grad\":\"%s\"},\"holdout\":%d,\"limit\":%lld",
          r->kind >= 0 && r->kind < NIT_RECIPE_COUNT ? nit_recipe_names[r->kind] : "?", r->batch, r->epochs,
          nitrt_round_name(r->act_round), nitrt_round_name(r->err_round), nitrt_round_name(r->grad_round), r->holdout,
          (long long)r->limit);
  if (r->kind == NIT_RECIPE_NITI) {
    fputs(",\"update_bits\":[", f);
    for (int32_t i = 0; i < r->nsched; i++)
      fprintf(f, "%s{\"bits\":%d,\"from_epoch\":%d}", i ? "," : "", r->mu[i], r->mu_from[i]);
    fprintf(f, "],\"decay\":%s", r->decay ? "true" : "false");
    if (r->loss_table) fprintf(f, ",\"loss\":\"%s\"", loss_name(r)); /* NITI's softmax unless said */
    fputc('}', f);
    return;
  }
  const NitLrSchedule *l = &r->lr;
  fprintf(f, ",\"master_bits\":%d,\"view_rounding\":\"%s\",\"update_rounding\":\"%s\",\"loss\":\"%s\"", r->master_bits,
          nitrt_round_name(r->view_round), nitrt_round_name(r->update_round),
          loss_name(r));
  if (l->kind == NIT_LR_COSINE) {
    fputs(",\"lr\":{\"kind\":\"cosine\"", f);
    json_dec(f, "base", l->n[0], l->f[0]);
    json_dec(f, "min", l->min_n, l->min_f);
    fprintf(f, ",\"period\":%d}", l->period);
  } else {
    fputs(",\"lr\":{\"kind\":\"piecewise\",\"steps\":[", f);
    for (int32_t i = 0; i < l->count; i++) {
      char b[32];
      fprintf(f, "%s{\"lr\":\"%s\",\"from_epoch\":%d}", i ? "," : "", nitrt_fmt_decimal(b, l->n[i], l->f[i]), l->at[i]);
    }
    fputs("]}", f);
  }
  fprintf(f, ",\"warmup_steps\":%lld", (long long)l->warmup);
  json_dec(f, "warmup_ratio", l->ratio_n, l->ratio_f);
  json_dec(f, "momentum", r->momentum_n, r->momentum_f);
  json_dec(f, "weight_decay", r->wdecay_n, r->wdecay_f);
  fputc('}', f);
}

void nitrt_log_run(FILE *f, const RunInfo *ri) {
  const NitModel *m = &nit_model;
  char when[32] = "?";
  time_t now = time(NULL);
  struct tm tm;
  if (now != (time_t)-1 && gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fputs("{\"record\":\"run\"", f);
  json_key_str(f, "started", when);
  json_key_str(f, "nitc", m->compiler);
  json_key_str(f, "runtime", "nitrt " NITRT_VERSION);
  json_key_str(f, "target", m->target);
  json_key_str(f, "model", m->name);
  fprintf(f, ",\"fingerprint\":\"0x%016llx\",\"abi\":%u,\"command\":[", (unsigned long long)m->fingerprint,
          (unsigned)m->abi);
  for (int i = 0; i < ri->o->argc; i++) {
    if (i) fputc(',', f);
    nitrt_json_str(f, ri->o->argv[i]);
  }
  fprintf(f, "],\"seed\":%llu,\"threads\":%d,", (unsigned long long)ri->r->seed, ri->threads);
  if (ri->ranks > 1) fprintf(f, "\"ranks\":%d,", ri->ranks); /* one process: as a plain executable */
  fputs("\"recipe\":", f);
  json_recipe(f, ri->r);
  fputs(",\"data\":{", f);
  fputs("\"dir\":", f);
  nitrt_json_str(f, ri->data);
  json_print(f, "train", &ri->train->print);
  json_print(f, "test", &ri->test->print);
  fprintf(f, ",\"quantization\":\"%s\"}", ri->train->q.kind == NITRT_QUANT_COLUMNS ? "per-column shifts" : "pixels");
  fprintf(f, ",\"train_samples\":%lld,\"val_samples\":%d,\"test_samples\":%lld", (long long)ri->ntrain, ri->r->holdout,
          (long long)ri->test->n);
  if (ri->resume) {
    fputs(",\"resumed_from\":{\"checkpoint\":", f);
    nitrt_json_str(f, ri->resume);
    fprintf(f, ",\"epoch\":%u,\"step\":%llu,\"epoch_steps_done\":%llu}", ri->epoch, (unsigned long long)ri->step,
            (unsigned long long)ri->pos);
  } else {
    fputs(",\"resumed_from\":null", f);
  }
  json_key_str(f, "save", ri->o->save);
  json_key_str(f, "save_best", ri->o->save_best);
  fputs("}\n", f);
}

static int digits(int64_t v) {
  int d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

/* "97.45%", or "-" without samples. */
static char *pct(char *buf, int64_t num, int64_t den) {
  if (den <= 0) return strcpy(buf, "-");
  nitrt_fmt_dec(buf, nitrt_ratio(num, den, 4), 2);
  return strcat(buf, "%");
}

void nitrt_print_classes(FILE *f, const ClassStats *cs) {
  int64_t most = 0;
  for (int32_t c = 0; c < cs->classes; c++) {
    if (cs->samples[c] > most) most = cs->samples[c];
    if (cs->predicted[c] > most) most = cs->predicted[c];
  }
  int wc = digits(cs->classes - 1) > 5 ? digits(cs->classes - 1) : 5, wn = digits(most) > 9 ? digits(most) : 9;
  fprintf(f, "\n%*s  %*s  %*s  %9s  %*s  %9s\n", wc, "class", wn, "samples", wn, "correct", "accuracy", wn, "predicted",
          "precision");
  for (int32_t c = 0; c < cs->classes; c++) {
    char a[40], b[40];
    fprintf(f, "%*d  %*lld  %*lld  %9s  %*lld  %9s\n", wc, c, wn, (long long)cs->samples[c], wn,
            (long long)cs->correct[c], pct(a, cs->correct[c], cs->samples[c]), wn, (long long)cs->predicted[c],
            pct(b, cs->correct[c], cs->predicted[c]));
  }
  if (!cs->confusion) {
    fprintf(f, "\nconfusion matrix: not kept for %d classes (at most %d)\n", cs->classes, NITRT_CONFUSION_MAX);
    return;
  }
  int64_t big = cs->classes - 1;
  for (int64_t i = 0; i < (int64_t)cs->classes * cs->classes; i++)
    if (cs->confusion[i] > big) big = cs->confusion[i];
  int w = digits(big) > 3 ? digits(big) : 3, wr = wc > 9 ? wc : 9;
  fprintf(f, "\nconfusion matrix (rows: true class, columns: predicted class)\n%*s", wr, "true\\pred");
  for (int32_t c = 0; c < cs->classes; c++) fprintf(f, " %*d", w, c);
  fputc('\n', f);
  for (int32_t r = 0; r < cs->classes; r++) {
    fprintf(f, "%*d", wr, r);
    for (int32_t c = 0; c < cs->classes; c++)
      fprintf(f, " %*lld", w, (long long)cs->confusion[(int64_t)r * cs->classes + c]);
    fputc('\n', f);
  }
}

void nitrt_json_classes(FILE *f, const ClassStats *cs) {
  fputs("\"per_class\":[", f);
  for (int32_t c = 0; c < cs->classes; c++) {
    char a[32], b[32];
    fprintf(f, "%s{\"class\":%d,\"samples\":%lld,\"correct\":%lld,\"acc\":%s,\"predicted\":%lld,\"precision\":%s}",
            c ? "," : "", c, (long long)cs->samples[c], (long long)cs->correct[c],
            cs->samples[c] ? nitrt_fmt_dec(a, nitrt_ratio(cs->correct[c], cs->samples[c], 4), 4) : "null",
            (long long)cs->predicted[c],
            cs->predicted[c] ? nitrt_fmt_dec(b, nitrt_ratio(cs->correct[c], cs->predicted[c], 4), 4) : "null");
  }
  fputs("],\"confusion\":", f);
  if (!cs->confusion) {
    fputs("null", f);
    return;
  }
  fputc('[', f);
  for (int32_t r = 0; r < cs->classes; r++) {
    fputs(r ? ",[" : "[", f);
    for (int32_t c = 0; c < cs->classes; c++)
      fprintf(f, c ? ",%lld" : "%lld", (long long)cs->confusion[(int64_t)r * cs->classes + c]);
    fputc(']', f);
  }
  fputc(']', f);
}

char *nitrt_fmt_s31(char *buf, NitS31 v) {
  /* round(|m| 10^12 2^e), half away from zero, then 12 decimals */
  NitU128 a = (NitU128)(uint64_t)(v.m < 0 ? -v.m : v.m) * 1000000000000ull;
  if (v.e >= 0) a = v.e < 40 ? a << v.e : 0; /* never: values are small */
  else if (v.e > -128) a = (a >> -v.e) + ((a >> (-v.e - 1)) & 1);
  else a = 0;
  uint64_t whole = (uint64_t)(a / 1000000000000ull), frac = (uint64_t)(a % 1000000000000ull);
  int k =
      snprintf(buf, 64, "%s%llu.%012llu", v.m < 0 && a ? "-" : "", (unsigned long long)whole, (unsigned long long)frac);
  while (k > 1 && buf[k - 1] == '0') k--;
  if (buf[k - 1] == '.') k--;
  buf[k] = '\0';
  return buf;
}

/* 1234567 bytes -> "1.2 MiB" */
static char *human(char *buf, int64_t bytes) {
  static const char *const U[] = {"bytes", "KiB", "MiB", "GiB"};
  int u = 0;
  int64_t scaled10 = bytes * 10; /* tenths */
  while (u < 3 && scaled10 >= 10240) {
    scaled10 /= 1024;
    u++;
  }
  if (u == 0) snprintf(buf, 32, "%lld bytes", (long long)bytes);
  else snprintf(buf, 32, "%lld.%lld %s", (long long)(scaled10 / 10), (long long)(scaled10 % 10), U[u]);
  return buf;
}

/* The recipe's lines of `info` and `inspect` after the first: roundings,
 * update bits, decay, holdout, and the settings of recipes with masters (k:
 * the compiled recipe, for the bit widths; NULL: not shown). */
void nitrt_print_recipe(FILE *f, const RunRecipe *r, const NitRecipe *k) {
  /* the counts are clamped: `inspect` shows unchecked files of other models */
  int32_t nsched = r->nsched < 0 ? 0 : r->nsched > NIT_MAX_SCHED ? NIT_MAX_SCHED : r->nsched;
  int32_t nlr = r->lr.count < 0 ? 0 : r->lr.count > NIT_MAX_SCHED ? NIT_MAX_SCHED : r->lr.count;
  const char *kind = r->kind >= 0 && r->kind < NIT_RECIPE_COUNT ? nit_recipe_names[r->kind] : "?";
  fprintf(f, "        rounding act %s, err %s, grad %s", nitrt_round_name(r->act_round), nitrt_round_name(r->err_round),
          nitrt_round_name(r->grad_round));
  if (r->kind == NIT_RECIPE_NITI) { /* m_u and NITI's decay mean nothing under the other recipes */
    fprintf(f, "; update bits");
    for (int32_t i = 0; i < nsched; i++) fprintf(f, i == 0 ? " %d" : ", %d from epoch %d", r->mu[i], r->mu_from[i]);
    fprintf(f, "; decay %s", r->decay ? "on" : "off");
    if (r->loss_table) fprintf(f, "; loss %s", loss_name(r)); /* NITI's softmax unless said */
  }
  fprintf(f, "; holdout %d\n", r->holdout);
  if (r->kind != NIT_RECIPE_NITI) {
    char d[32], e[32];
    const NitLrSchedule *l = &r->lr;
    fprintf(f, "        recipe %s: masters int%d, rounding view %s, update %s; loss %s\n", kind, r->master_bits,
            nitrt_round_name(r->view_round), nitrt_round_name(r->update_round),
            loss_name(r));
    if (k) { /* compiled in: widths and groups */
      fprintf(f, "        bits act=%d weight=%d grad=%d", k->bits_act, k->bits_weight, k->bits_grad);
      if (k->kind == NIT_RECIPE_SHIFTQUANT && k->groups >= 0 && k->groups < NIT_GROUPS_COUNT)
        fprintf(f, "; error groups %s (SQ_%d)%s", nit_groups_names[k->groups], k->bits_grad,
                k->groups_weight ? "; weight views by output channel (groups weight=channel)" : "");
      fprintf(f, "\n");
      if (k->kind == NIT_RECIPE_UNIFIED) { /* compiled in: the clip and the learning-rate scaling */
        char a[32], b[32];
        if (k->clip && k->clip_grid >= 0 && k->clip_grid < NIT_GRID_COUNT)
          fprintf(f, "        clip cosine(every=%lld, range=%d, grid=%s)", (long long)k->clip_every, k->clip_range,
                  nit_grid_names[k->clip_grid]);
        else fprintf(f, "        clip off");
        if (k->lrscale)
          fprintf(f, "; lrscale exp(alpha=%s, beta=%s)\n", nitrt_fmt_decimal(a, k->lrs_alpha_n, k->lrs_alpha_f),
                  nitrt_fmt_decimal(b, k->lrs_beta_n, k->lrs_beta_f));
        else fprintf(f, "; lrscale off\n");
      }
    }
    if (l->kind == NIT_LR_COSINE)
      fprintf(f, "        lr cosine(%s, period=%d, min=%s)", nitrt_fmt_decimal(d, l->n[0], l->f[0]), l->period,
              nitrt_fmt_decimal(e, l->min_n, l->min_f));
    else
      for (int32_t i = 0; i < nlr; i++)
        fprintf(f, i == 0 ? "        lr %s" : " then %s at %d", nitrt_fmt_decimal(d, l->n[i], l->f[i]), l->at[i]);
    if (l->warmup > 0)
      fprintf(f, "; warmup steps(%lld, ratio=%s)", (long long)l->warmup, nitrt_fmt_decimal(d, l->ratio_n, l->ratio_f));
    fprintf(f, "; momentum %s; weight decay %s\n", nitrt_fmt_decimal(d, r->momentum_n, r->momentum_f),
            nitrt_fmt_decimal(e, r->wdecay_n, r->wdecay_f));
  }
}

int nitrt_cmd_info(void) {
  const NitModel *m = &nit_model;
  RunRecipe r;
  nitrt_model_recipe(m, &r);
  printf("model %s  (fingerprint 0x%016llx, ABI %u)\n", m->name, (unsigned long long)m->fingerprint, (unsigned)m->abi);
  printf("input %dx%dx%d (8-bit data enter as int8 at exponent -7), %d classes, "
         "compiled batch <= %d\n\n",
         m->in_c, m->in_h, m->in_w, m->classes, m->batch);
  printf("  %-3s %-12s %-10s %-14s %10s  %-6s %s\n", "#", "layer", "kind", "output", "params", "acc", "weights");
  for (int32_t i = 0; i < m->nnodes; i++) {
    const NitNode *nd = &m->nodes[i];
    char shape[48], pc[24] = "-", wdesc[96] = "";
    if (nd->out[1] == 1 && nd->out[2] == 1) snprintf(shape, sizeof shape, "%d", nd->out[0]);
    else snprintf(shape, sizeof shape, "%dx%dx%d", nd->out[0], nd->out[1], nd->out[2]);
    if (nd->param >= 0 && nd->param < m->nparams) {
      const NitParam *p = &m->params[nd->param];
      snprintf(pc, sizeof pc, "%lld", (long long)p->count);
      if (p->rank == 4)
        snprintf(wdesc, sizeof wdesc, "(%d,%d,%d,%d) int%d exp %d init +-%d", p->shape[0], p->shape[1], p->shape[2],
                 p->shape[3], p->bits > 8 ? 16 : 8, p->exp, p->bound);
      else
        snprintf(wdesc, sizeof wdesc, "(%d,%d) int%d exp %d init +-%d", p->shape[0], p->shape[1], p->bits > 8 ? 16 : 8,
                 p->exp, p->bound);
    }
    printf("  %-3d %-12s %-10s %-14s %10s  %-6s %s\n", i, nd->name, nd->kind, shape, pc,
           i == 0      ? "-"
           : nd->acc64 ? "int64"
                       : "int32",
           wdesc);
  }
  int64_t count = 0;
  for (int32_t p = 0; p < m->nparams; p++) count += m->params[p].count;
  char a[32], b[32];
  printf("\nparameters: %lld in %d tensors, weights %d bits\n", (long long)count, m->nparams,
         m->recipe.weight_bits > 0 ? m->recipe.weight_bits : 8);
  printf("memory: params %s (%lld bytes), work %s (%lld bytes) at batch %d\n", human(a, m->param_bytes),
         (long long)m->param_bytes, human(b, m->work_bytes), (long long)m->work_bytes, m->batch);
  if (m->clip_off >= 0) /* unified: where its clip sites keep their state (nitckpt.py reads this line) */
    printf("clip state: %d DSGC sites, int32 (%d, 4) {l* + 1, s*, d_c, phi} at params byte %lld\n", m->nsites,
           m->nsites, (long long)m->clip_off);
  printf("recipe: data %s, batch %d, epochs %d, seed %llu\n", m->recipe.data ? m->recipe.data : "(none)", r.batch,
         r.epochs, (unsigned long long)r.seed);
  nitrt_print_recipe(stdout, &r, &m->recipe);
  printf("built by %s for %s (cpu %s); runtime nitrt %s\n", m->compiler ? m->compiler : "?",
         m->target ? m->target : "?", m->cpu && m->cpu[0] ? m->cpu : "generic", NITRT_VERSION);
  if (!nitrt_mpi_linked())
    printf("threads: %d by default (the cores this process may run on, at most %d; --threads)\n",
           (int)nitrt_run_threads(0), NITRT_POOL_CHUNKS);
  else { /* nitc --mpi */
    char lib[128];
    nitrt_mpi_library(lib, sizeof lib);
    printf("mpi: %s; rank %d of %d ranks, %d on this node; --threads default %d per rank\n", lib[0] ? lib : "?",
           (int)nitrt_mpi_rank(), (int)nitrt_mpi_size(), (int)nitrt_mpi_node_size(), (int)nitrt_run_threads(0));
  }
  return 0;
}
