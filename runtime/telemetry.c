/*
 * telemetry.c: what happens inside the network while it trains, per layer
 * (`train --telemetry N`; docs/telemetry.md).
 *
 * Every N-th global step is sampled. Before it, the weights (the masters
 * under the recipes with masters) are copied; after it, the runtime reads
 * what the step left in the work slab and the exponents the generated code
 * reports through NitCtx.exps, and counts per node:
 *   - its int8 output: zeros, values at the int8 limit, and how many bits
 *     the magnitudes use, where the output is still in the slab after
 *     train_step (NitNode.act_kept);
 *   - the int8 error at its output, where one reaches it and is still there
 *     (NitNode.err_off >= 0);
 *   - its weights: how many the step changed, and (niti) how many sit at the
 *     limit of their width;
 *   - the activation and error exponents: lowest, highest and last.
 * The counts are summed over the sampled steps of an epoch and written to
 * the --log file's epoch object ("layers") and, unless --quiet, as a table.
 *
 * Telemetry only reads: a sampled step computes the same bytes as any other
 * (the `telemetry` test compares the checkpoints). Only integers: shares are
 * printed by the fixed-point helpers. Under mpirun every rank counts the
 * tensors of its own slice of each sampled batch and the counts are summed
 * over the ranks at the end of the epoch, so the table is one process's;
 * rank 0 alone counts the weights, which are the same on every rank.
 */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

/* An int8 tensor's magnitudes, added to ge (TeleNode's act and err). In
 * blocks of 240 bytes (whole vectors of 16 and 32) the counts are byte-wide
 * sums, which the vectorizer of -O3 turns into compares and subtracts of
 * whole vectors: a block's count fits a byte. */
static void count_mags(int64_t *ge, const int8_t *p, int64_t n) {
  for (int64_t i = 0; i < n; i += 240) {
    const int8_t *q = p + i;
    int len = (int)(n - i < 240 ? n - i : 240);
    uint8_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
    for (int j = 0; j < len; j++) {
      uint8_t m = (uint8_t)(q[j] < 0 ? -q[j] : q[j]); /* -128 gives 128 */
      c0 += m >= 1;
      c1 += m >= 2;
      c2 += m >= 4;
      c3 += m >= 8;
      c4 += m >= 16;
      c5 += m >= 32;
      c6 += m >= 64;
      c7 += m >= 127;
    }
    ge[0] += c0, ge[1] += c1, ge[2] += c2, ge[3] += c3, ge[4] += c4, ge[5] += c5, ge[6] += c6, ge[7] += c7;
  }
  ge[8] += n;
}

static void exp_seen(TeleExp *e, int32_t x, bool first) {
  if (first || x < e->min) e->min = x;
  if (first || x > e->max) e->max = x;
  e->last = x;
}

int nitrt_tele_init(Tele *t, const NitModel *m, int64_t every, bool weights) {
  memset(t, 0, sizeof *t);
  t->every = every;
  if (every <= 0) return 0;
  t->node = nitrt_alloc((size_t)m->nnodes * sizeof *t->node);
  t->exps = t->node ? nitrt_alloc((size_t)m->nnodes * 2 * sizeof *t->exps) : NULL;
  t->at = t->exps ? nitrt_alloc((size_t)m->nnodes * sizeof *t->at) : NULL;
  t->sum = t->at ? nitrt_alloc((size_t)m->nnodes * 2 * NITRT_TELE_GE * sizeof *t->sum) : NULL;
  if (!t->sum) return -1; /* nitrt_alloc told */
  int64_t bytes = 0;
  for (int32_t i = 0; i < m->nnodes; i++) {
    t->at[i] = -1;
    if (m->nodes[i].param < 0 || !weights) continue;
    int32_t w;
    nitrt_param_values(m, &m->params[m->nodes[i].param], &w);
    t->at[i] = bytes;
    bytes += m->params[m->nodes[i].param].count * w;
  }
  t->before = nitrt_alloc((size_t)(bytes > 0 ? bytes : 1));
  return t->before ? 0 : -1;
}

void nitrt_tele_free(Tele *t) {
  free(t->node);
  free(t->exps);
  free(t->before);
  free(t->at);
  free(t->sum);
  memset(t, 0, sizeof *t);
}

void nitrt_tele_epoch_start(Tele *t, const NitModel *m) {
  if (t->every <= 0) return;
  t->samples = 0;
  memset(t->node, 0, (size_t)m->nnodes * sizeof *t->node);
}

bool nitrt_tele_sampled(const Tele *t, uint64_t step) { return t->every > 0 && step % (uint64_t)t->every == 0; }

/* Only the values a step trains are kept (the masters under masters, else
 * the weights), not the views, momenta and statistics beside them. */
void nitrt_tele_before(Tele *t, const NitModel *m, const void *params, NitCtx *c) {
  for (int32_t i = 0; i < m->nnodes; i++) {
    if (t->at[i] < 0) continue;
    const NitParam *p = &m->params[m->nodes[i].param];
    int32_t w;
    int64_t off = nitrt_param_values(m, p, &w);
    memcpy(t->before + t->at[i], (const uint8_t *)params + off, (size_t)(p->count * w));
  }
  c->exps = t->exps;
}

static void count_weights(TeleNode *tn, const NitModel *m, const NitParam *p, const uint8_t *before,
                          const uint8_t *after) {
  int32_t w;
  int64_t off = nitrt_param_values(m, p, &w);
  const int64_t lim = m->recipe.kind == NIT_RECIPE_NITI ? nitrt_weight_limit(p) : 0;
  for (int64_t j = 0; j < p->count; j++) {
    int64_t b = nitrt_slab_get(before, w, j), a = nitrt_slab_get(after + off, w, j);
    tn->w_changed += a != b;
    tn->w_limit += lim && (a == lim || a == -lim);
  }
  tn->w_n += p->count;
}

void nitrt_tele_after(Tele *t, const NitModel *m, const void *params, const void *work, int32_t n) {
  const uint8_t *slab = work;
  bool first = t->samples == 0;
  for (int32_t i = 0; i < m->nnodes; i++) {
    const NitNode *d = &m->nodes[i];
    TeleNode *tn = &t->node[i];
    int64_t per = (int64_t)d->out[0] * d->out[1] * d->out[2];
    if (d->act_off >= 0 && d->act_kept) count_mags(tn->act, (const int8_t *)slab + d->act_off, per * n);
    if (d->err_off >= 0) count_mags(tn->err, (const int8_t *)slab + d->err_off, per * n);
    exp_seen(&tn->act_exp, t->exps[2 * i], first);
    exp_seen(&tn->err_exp, t->exps[2 * i + 1], first);
    if (t->at[i] >= 0) count_weights(tn, m, &m->params[d->param], t->before + t->at[i], params);
  }
  t->samples++;
}

void nitrt_tele_sum_ranks(Tele *t, const NitModel *m) {
  if (t->every <= 0 || nitrt_mpi_size() == 1) return;
  const int64_t k = NITRT_TELE_GE;
  for (int32_t i = 0; i < m->nnodes; i++) {
    memcpy(t->sum + 2 * k * i, t->node[i].act, sizeof t->node[i].act);
    memcpy(t->sum + 2 * k * i + k, t->node[i].err, sizeof t->node[i].err);
  }
  nitrt_mpi_sum(t->sum, 2 * k * m->nnodes);
  for (int32_t i = 0; i < m->nnodes; i++) {
    memcpy(t->node[i].act, t->sum + 2 * k * i, sizeof t->node[i].act);
    memcpy(t->node[i].err, t->sum + 2 * k * i + k, sizeof t->node[i].err);
  }
}

/* ---------------------------------------------------------------- report */

/* A tensor's total, zeros, values at the int8 limit (|v| >= 127) and the
 * counts by bit length of |v| (bits[0] zeros, bits[k] 2^(k-1) .. 2^k - 1,
 * bits[7] 64 .. 128). */
typedef struct Summary {
  int64_t n, zero, limit;
  int64_t bits[8];
} Summary;

static Summary summarize(const int64_t *ge) {
  Summary s;
  s.n = ge[8];
  s.zero = s.bits[0] = ge[8] - ge[0];
  for (int k = 1; k < 7; k++) s.bits[k] = ge[k - 1] - ge[k];
  s.bits[7] = ge[6];
  s.limit = ge[7];
  return s;
}

static const char *share(char *buf, int64_t num, int64_t den) { return nitrt_fmt_dec(buf, nitrt_ratio(num, den, 4), 4); }

static void json_tensor(FILE *f, const char *key, const int64_t *hist, const TeleExp *e) {
  Summary s = summarize(hist);
  char a[32], b[32];
  fprintf(f, ",\"%s\":{\"exp\":[%d,%d,%d]", key, (int)e->min, (int)e->max, (int)e->last);
  if (s.n == 0) {
    fputc('}', f);
    return;
  }
  fprintf(f, ",\"values\":%lld,\"zero\":%s,\"limit\":%s,\"bits\":[", (long long)s.n, share(a, s.zero, s.n),
          share(b, s.limit, s.n));
  for (int k = 0; k < 8; k++) fprintf(f, "%s%s", k ? "," : "", share(a, s.bits[k], s.n));
  fputs("]}", f);
}

void nitrt_tele_log(FILE *f, const Tele *t, const NitModel *m) {
  fprintf(f, ",\"telemetry\":{\"every\":%lld,\"steps\":%lld,\"layers\":[", (long long)t->every, (long long)t->samples);
  for (int32_t i = 1; i < m->nnodes; i++) { /* node 0 is the input */
    const NitNode *d = &m->nodes[i];
    const TeleNode *tn = &t->node[i];
    fputs(i > 1 ? ",{" : "{", f);
    fputs("\"name\":", f);
    nitrt_json_str(f, d->name);
    fputs(",\"kind\":", f);
    nitrt_json_str(f, d->kind);
    json_tensor(f, "act", tn->act, &tn->act_exp);
    if (m->nodes[i].err_off != -1) json_tensor(f, "err", tn->err, &tn->err_exp);
    if (tn->w_n) {
      char a[32], b[32];
      fprintf(f, ",\"weights\":{\"changed\":%s", share(a, tn->w_changed, tn->w_n));
      if (m->params[d->param].master_off < 0) fprintf(f, ",\"limit\":%s", share(b, tn->w_limit, tn->w_n));
      fputc('}', f);
    }
    fputc('}', f);
  }
  fputs("]}", f);
}

/* "-" for what was not seen; else a percentage with two decimals. */
static const char *pct(char *buf, int64_t num, int64_t den) {
  if (den == 0) return "-";
  char *p = nitrt_fmt_dec(buf, nitrt_ratio(num, den, 4), 2);
  strcat(p, "%");
  return p;
}

static const char *exps(char *buf, const TeleExp *e) {
  if (e->min == e->max) snprintf(buf, 32, "%d", (int)e->min);
  else snprintf(buf, 32, "%d..%d", (int)e->min, (int)e->max);
  return buf;
}

void nitrt_tele_print(FILE *f, const Tele *t, const NitModel *m) {
  if (t->samples == 0) return;
  fprintf(f, "  %-10s %-11s %8s %7s %7s %8s %7s %7s %8s %7s\n", "layer", "kind", "act exp", "zero", "limit", "err exp",
          "zero", "limit", "w moved", "w limit");
  for (int32_t i = 1; i < m->nnodes; i++) {
    const NitNode *d = &m->nodes[i];
    const TeleNode *tn = &t->node[i];
    Summary a = summarize(tn->act), e = summarize(tn->err);
    char b[8][32];
    bool niti = d->param >= 0 && m->params[d->param].master_off < 0;
    fprintf(f, "  %-10.10s %-11.11s %8s %7s %7s %8s %7s %7s %8s %7s\n", d->name, d->kind, exps(b[0], &tn->act_exp),
            pct(b[1], a.zero, a.n), pct(b[2], a.limit, a.n), d->err_off == -1 ? "-" : exps(b[3], &tn->err_exp),
            pct(b[4], e.zero, e.n), pct(b[5], e.limit, e.n), pct(b[6], tn->w_changed, tn->w_n),
            niti ? pct(b[7], tn->w_limit, tn->w_n) : "-");
  }
  /* activations that errors lay over later in the step: say how to see them */
  for (int32_t i = 1; i < m->nnodes; i++)
    if (m->nodes[i].act_off == -3 || (m->nodes[i].act_off >= 0 && !m->nodes[i].act_kept)) {
      fputs("  (-: a later tensor of the step reused the buffer; nitc --keep-tensors keeps every tensor)\n", f);
      break;
    }
}

/* Warnings for what cannot train: a layer whose weights no sampled step
 * changed, or whose error was zero everywhere it was seen. */
void nitrt_tele_warn(const Tele *t, const NitModel *m, int32_t epoch) {
  for (int32_t i = 1; i < m->nnodes && t->samples > 0; i++) {
    const NitNode *d = &m->nodes[i];
    const TeleNode *tn = &t->node[i];
    Summary e = summarize(tn->err);
    if (tn->w_n && tn->w_changed == 0)
      nitrt_warn("epoch %d: the %lld sampled steps changed none of %s's weights (its updates round to zero)", epoch,
                 (long long)t->samples, d->name);
    if (e.n && e.zero == e.n)
      nitrt_warn("epoch %d: the error at %s's output was zero in every sampled step (nothing reaches the layers "
                 "before it)",
                 epoch, d->name);
  }
}
