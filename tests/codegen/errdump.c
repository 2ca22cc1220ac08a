/*
 * errdump.c: train one generated model the way the runtime's `train` does
 * and dump its stored error tensors at chosen steps (experiment E4 of the
 * recipes' accuracy experiments, bench/accuracy/quant_error.sh; read by
 * tests/ref/refquant.c).
 *
 * Linked with ONE generated object (the symbol nit_model) and
 * libnitrt_s31 only; no reference, no front end. The harness repeats what
 * runtime/train.c and runtime/run.c do for a fresh run without flags:
 *   - params: nitrt_init_params' rule (niti weights, or masters drawn with
 *     nit_draw, gamma 2^(A-2), beta 0, the exponents in the pstate table,
 *     running statistics mean 0 and dev ONE or 1/K);
 *   - data: an idx image/label pair, pixels p -> p >> 1 at exponent -7;
 *   - order: SHUFFLED exactly like the runtime: epoch e (1-based) visits the
 *     samples in nitrt_shuffle(seed, e)'s order (Fisher-Yates keyed by
 *     nit_key(seed, e, NIT_TID_SHUFFLE)), batches of the recipe's size, the
 *     last one partial; ctx.step is the global 0-based step;
 *   - context: rounding modes from nit_model.recipe, eta(t) = nitrt_lr with
 *     the recipe's schedule (cosine period default: the file's epochs), S31
 *     momentum and coupled decay from the recipe's decimals; one thread.
 * So step s here is step s of `NET train --seed SEED` on the same data
 * (results never depend on the thread count).
 *
 * What is dumped: after train_step of every requested step, the int8 error
 * tensor stored at the output of every node j that is the result of one
 * quantization site (docs/recipes.md "Error quantizers and quantization
 * sites"):
 *   ERR(c)  j has one consumer c and c is weighted (dense, conv, norm layer:
 *           NitNode.param >= 0): the error at j's output is EQ(x) of the wide
 *           input error x of c;
 *   SUM(j)  j has two or more consumers;
 *   LOSS    j is the output node.
 * Errors at the output of pass-through nodes (relu, flatten, dropout, add,
 * pools without overlap) are copies of a site's result and are not dumped;
 * the ERR sites of overlapping pools are not recognized (NitNode does not
 * say whether windows overlap) and are skipped (resnet_bn has none).
 *
 * APPROXIMATION: the wide error x before the site's quantizer is not kept by
 * the generated code, only its quantized int8 result EQ(x) (NitNode.err_off
 * in the work slab, exponent ctx.exps[2 j + 1]). Under recipe ghaffari with
 * bits grad=8 that is RQ_8(x; stochastic): the dumps are 8-bit tensors, and
 * refquant treats them as the "exact" reference for its 4- and 6-bit
 * quantizers. Compile the model with NITC_ERR_REUSE=0, or errors whose
 * buffer is reused later in the step (err_off = -2) are missing.
 *
 * Dump file, one per (step, node): OUT/s<step>-n<node>-<name>.err =
 *   a text header of one line,
 *     "NITERR 1 step S node I name NAME kind KIND site SITE consumer CNAME
 *      shape N C H W exp E\n"
 *   (SITE is ERR, SUM or LOSS; CNAME the consumer whose ERR it is, or "-"),
 *   then N*C*H*W int8 values, row-major (n, C, H, W).
 *
 * usage: errdump [--data DIR] [--steps 0,500,5000] [--out DIR] [--seed S]
 *                [--limit N] [--quiet]
 * Exit 0, or 2 on trouble. Prints one line per dump step (sites written,
 * training accuracy of the last 100 steps).
 *
 * CLIPDUMP (built as the library clipdump, -DERRDUMP_CLIP; experiment E8,
 * bench/accuracy/clip_curve.sh, read by tests/ref/clipcurve.c): the same
 * training, linked with -Wl,--wrap=nitrt_clip_site. Under recipe unified the
 * generated code hands every error site's WIDE error to that runtime kernel;
 * __wrap_nitrt_clip_site below records, at the requested steps and for DSGC
 * sites only (desc[NIT_CLIP_SITE] == 1), the wide error times the multiplier
 * it carries (int64, exactly what the kernel quantizes) and then calls the
 * real kernel, so training is unchanged. The int8 dumps are not written.
 * File per (step, site): OUT/s<step>-k<site>-<name>.clip =
 *     "NITCLIP 1 step S site K name NAME count N exp E key KEY bits B on O
 *      every P range R grid G searched F level L\n"
 *   then N int64 values in the machine's byte order (value v 2^E).
 *   K is the site's index (docs/recipes.md, "Site order"), NAME its first
 *   weighted node when every weighted node has a site of its own ("-"
 *   otherwise); F = 1 when the kernel searched at this step, then L is the
 *   level it chose (its state afterwards), else L is the held level.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitabi.h"
#include "nitrt.h"
#include "s31.h"

#define MAX_DUMP_STEPS 64

static void die(const char *what, const char *arg) {
  fprintf(stderr, "errdump: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
  exit(2);
}

static void *xalloc(size_t n) {
  size_t sz = (n + 63) / 64 * 64 + 64;
  void *p = aligned_alloc(64, sz);
  if (!p) die("out of memory", NULL);
  memset(p, 0, sz);
  return p;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  if (fseek(f, 0, SEEK_END) != 0) die("cannot seek", path);
  long n = ftell(f);
  if (n < 0) die("cannot tell", path);
  rewind(f);
  uint8_t *b = malloc((size_t)n + 1);
  if (!b) die("out of memory", NULL);
  if (fread(b, 1, (size_t)n, f) != (size_t)n) die("short read", path);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An idx ubyte file with nd_lo..nd_hi dimensions: the data offset; dims[]. */
static size_t idx_header(const char *path, const uint8_t *b, size_t len, int nd_lo, int nd_hi, uint32_t *dims,
                         int *nd) {
  if (len < 4 || b[0] != 0 || b[1] != 0 || b[2] != 0x08 || b[3] < nd_lo || b[3] > nd_hi) die("not an idx ubyte file", path);
  *nd = b[3];
  size_t hdr = 4 + 4 * (size_t)*nd;
  if (len < hdr) die("truncated idx header", path);
  uint64_t total = 1;
  for (int i = 0; i < *nd; i++) total *= dims[i] = be32(b + 4 + 4 * i);
  if (len - hdr != total) die("idx size does not match its header", path);
  return hdr;
}

/* runtime/recipe.c nitrt_model_recipe: the schedule of the train block. */
static void schedule_of(const NitModel *m, int32_t epochs, NitLrSchedule *s) {
  const NitRecipe *k = &m->recipe;
  memset(s, 0, sizeof *s);
  s->kind = k->lr_kind;
  s->count = k->lr_kind == NIT_LR_COSINE ? 1 : k->nlr;
  for (int32_t i = 0; i < s->count && i < NIT_MAX_SCHED; i++) {
    s->n[i] = k->lr_n[i];
    s->f[i] = k->lr_f[i];
    s->at[i] = i == 0 ? 1 : k->lr_at[i];
  }
  if (s->kind == NIT_LR_COSINE) {
    s->min_n = k->lr_min_n;
    s->min_f = k->lr_min_f;
    s->period = k->lr_period > 0 ? k->lr_period : epochs;
  }
  s->warmup = k->warmup;
  if (s->warmup > 0) {
    s->ratio_n = k->warmup_ratio_n;
    s->ratio_f = k->warmup_ratio_f;
  }
}

static int32_t mu_for_epoch(const NitRecipe *k, int32_t epoch) {
  if (k->nsched <= 0) return 5; /* NITI's default */
  int32_t mu = k->mu[0];
  for (int32_t i = 0; i < k->nsched && i < NIT_MAX_SCHED; i++)
    if (k->mu_from[i] <= epoch) mu = k->mu[i];
  return mu;
}

/* Site kinds of the error at node j's output. */
enum { SITE_NONE, SITE_ERR, SITE_SUM, SITE_LOSS };
static const char *const site_names[] = {"-", "ERR", "SUM", "LOSS"};

static int output_node(const NitModel *m) {
  /* the output: the last node (the front end's invariant: the logits are
   * the network's last value, and nothing consumes them) */
  return m->nnodes - 1;
}

static int site_of(const NitModel *m, int j, int *consumer) {
  int ncons = 0, c = -1;
  *consumer = -1;
  for (int i = 0; i < m->nnodes; i++)
    for (int k = 0; k < 2; k++)
      if (m->nodes[i].in[k] == j) ncons++, c = i;
  if (j == output_node(m)) return SITE_LOSS;
  if (ncons >= 2) return SITE_SUM;
  if (ncons == 1 && m->nodes[c].param >= 0) {
    *consumer = c;
    return SITE_ERR;
  }
  return SITE_NONE;
}

static void dump(const char *dir, const NitModel *m, const uint8_t *work, const int32_t *exps, int32_t n, uint64_t step,
                 int j, int site, int cons) {
  const NitNode *nd = &m->nodes[j];
  char path[4096];
  snprintf(path, sizeof path, "%s/s%06" PRIu64 "-n%03d-%s.err", dir, step, j, nd->name);
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write", path);
  int64_t count = (int64_t)n * nd->out[0] * nd->out[1] * nd->out[2];
  fprintf(f, "NITERR 1 step %" PRIu64 " node %d name %s kind %s site %s consumer %s shape %d %d %d %d exp %d\n", step,
          j, nd->name, nd->kind, site_names[site], cons >= 0 ? m->nodes[cons].name : "-", n, nd->out[0], nd->out[1],
          nd->out[2], exps[2 * j + 1]);
  if (fwrite(work + nd->err_off, 1, (size_t)count, f) != (size_t)count || fclose(f) != 0) die("write error", path);
}

#ifdef ERRDUMP_CLIP
/* The kernel's parameter list, in one place (runtime/nitabi.h): a change of
 * its signature is a change of these two macros only. */
#define CLIP_PARAMS                                                                                                 \
  const NitCtx *ctx, const int64_t *desc, int32_t *state, uint64_t step, uint64_t key, const void *x, int32_t wide, \
      int64_t count, int32_t mu_in, int32_t s_in, int8_t *out, int32_t *mu_out, uint32_t *dq, int64_t *scratch
#define CLIP_ARGS ctx, desc, state, step, key, x, wide, count, mu_in, s_in, out, mu_out, dq, scratch
int32_t __real_nitrt_clip_site(CLIP_PARAMS);
int32_t __wrap_nitrt_clip_site(CLIP_PARAMS);

/* What the wrapper needs from main: where to write, at which steps. */
static struct {
  const char *dir;
  const NitModel *m;
  const uint8_t *params;
  const uint64_t *want;
  int nwant, written;
} clip_rec;

/* The first weighted node of DSGC site k when every weighted node (but the
 * input) has a site of its own, so that site k is the k-th of them. */
static const char *site_name(const NitModel *m, int k) {
  int weighted = 0;
  const char *name = "-";
  for (int i = 1; i < m->nnodes; i++)
    if (m->nodes[i].param >= 0 && weighted++ == k) name = m->nodes[i].name;
  return weighted == m->nsites ? name : "-";
}

static void write_site(const int64_t *desc, int k, uint64_t step, uint64_t key, const int64_t *v, int64_t count,
                       int32_t s_in, int searched, int32_t level) {
  char path[4096];
  const char *name = site_name(clip_rec.m, k);
  snprintf(path, sizeof path, "%s/s%06" PRIu64 "-k%02d-%s.clip", clip_rec.dir, step, k, name);
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write", path);
  fprintf(f,
          "NITCLIP 1 step %" PRIu64 " site %d name %s count %" PRId64 " exp %d key %" PRIu64
          " bits %d on %d every %" PRId64 " range %d grid %d searched %d level %d\n",
          step, k, name, count, s_in, key, (int)desc[NIT_CLIP_BITS], (int)desc[NIT_CLIP_ON], desc[NIT_CLIP_EVERY],
          (int)desc[NIT_CLIP_RANGE], (int)desc[NIT_CLIP_GRID], searched, level);
  if (fwrite(v, sizeof *v, (size_t)count, f) != (size_t)count || fclose(f) != 0) die("write error", path);
  clip_rec.written++;
}

int32_t __wrap_nitrt_clip_site(CLIP_PARAMS) {
  int rec = clip_rec.dir && desc[NIT_CLIP_SITE] == 1;
  for (int w = 0; rec && w < clip_rec.nwant; w++)
    if (clip_rec.want[w] == step) rec = 2;
  if (rec != 2) return __real_nitrt_clip_site(CLIP_ARGS);
  int64_t *v = xalloc(sizeof(int64_t) * (size_t)count);
  int64_t m = 0;
  for (int64_t j = 0; j < count; j++) { /* as the kernel loads it: x mu_in */
    v[j] = (wide ? ((const int64_t *)x)[j] : ((const int32_t *)x)[j]) * mu_in;
    m |= v[j];
  }
  int searched = desc[NIT_CLIP_ON] && m != 0 && (step % (uint64_t)desc[NIT_CLIP_EVERY] == 0 || state[0] <= 0);
  int32_t r = __real_nitrt_clip_site(CLIP_ARGS);
  int k = (int)(((const uint8_t *)state - clip_rec.params - clip_rec.m->clip_off) / 16);
  write_site(desc, k, step, key, v, count, s_in, searched, state[0] - 1);
  free(v);
  return r;
}
#endif

int main(int argc, char **argv) {
  const NitModel *m = &nit_model;
  const char *data = m->recipe.data && m->recipe.data[0] ? m->recipe.data : "data/fashion-mnist";
  const char *out = ".";
  uint64_t want[MAX_DUMP_STEPS];
  int nwant = 0;
  uint64_t seed = m->recipe.seed;
  /* the cosine period's default: the file's epochs, as nitrt_model_recipe
   * resolves it (before any --epochs flag of the executable) */
  int32_t epochs = m->recipe.epochs > 0 ? m->recipe.epochs : 1;
  int64_t limit = 0;
  int quiet = 0;
  const char *steps_arg = "0,500,5000";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quiet")) {
      quiet = 1;
      continue;
    }
    if (!v) die("flag needs a value", a);
    i++;
    if (!strcmp(a, "--data")) data = v;
    else if (!strcmp(a, "--out")) out = v;
    else if (!strcmp(a, "--steps")) steps_arg = v;
    else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--limit")) limit = strtoll(v, NULL, 10);
    else die("unknown flag", a);
  }
  for (const char *p = steps_arg; *p;) {
    char *end;
    unsigned long long s = strtoull(p, &end, 10);
    if (end == p || nwant == MAX_DUMP_STEPS) die("bad --steps (comma- or space-separated steps)", steps_arg);
    want[nwant++] = s;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  uint64_t last = 0;
  for (int i = 0; i < nwant; i++) last = want[i] > last ? want[i] : last;

  /* data */
  char ip[4096], lp[4096];
  snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte", data);
  snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte", data);
  size_t il, ll;
  uint8_t *ib = read_file(ip, &il), *lb = read_file(lp, &ll);
  uint32_t idims[4] = {0}, ldims[4] = {0};
  int ind, lnd;
  size_t ioff = idx_header(ip, ib, il, 3, 4, idims, &ind), loff = idx_header(lp, lb, ll, 1, 1, ldims, &lnd);
  int64_t dim = (int64_t)m->in_c * m->in_h * m->in_w;
  int64_t ntrain = idims[0];
  if (ldims[0] != idims[0]) die("images and labels disagree", data);
  if ((int64_t)idims[ind - 1] * idims[ind - 2] * (ind == 4 ? idims[1] : 1) != dim) die("image shape is not the model's input", ip);
  if (limit > 0 && limit < ntrain) ntrain = limit;
  const int32_t batch = m->recipe.batch > 0 && m->recipe.batch <= m->batch ? m->recipe.batch : m->batch;
  const int64_t steps_per_epoch = (ntrain + batch - 1) / batch;

  /* state */
  uint8_t *params = xalloc((size_t)m->param_bytes), *work = xalloc((size_t)m->work_bytes);
  int8_t *xb = xalloc((size_t)(dim * batch));
  int32_t *yb = xalloc(sizeof(int32_t) * (size_t)batch);
  int8_t *logits = xalloc((size_t)m->classes * (size_t)batch);
  int32_t *exps = xalloc(sizeof(int32_t) * 2 * (size_t)m->nnodes);
  uint32_t *perm = xalloc(sizeof(uint32_t) * (size_t)ntrain);
  nitrt_init_params(m, params, seed);
  NitLrSchedule sch;
  schedule_of(m, epochs, &sch);
  NitS31 mom = nitrt_sdec(m->recipe.momentum_n, m->recipe.momentum_f);
  NitS31 wd = nitrt_sdec(m->recipe.wdecay_n, m->recipe.wdecay_f);
  int missing = 0, sites = 0;
#ifdef ERRDUMP_CLIP
  if (m->clip_off < 0 || m->nsites < 1) die("no DSGC sites: the model's recipe is not unified", m->name);
  clip_rec.dir = out, clip_rec.m = m, clip_rec.params = params, clip_rec.want = want, clip_rec.nwant = nwant;
  const int int8_dumps = 0; /* the wrapper writes the wide errors instead */
#else
  const int int8_dumps = 1;
#endif
  for (int j = 0; int8_dumps && j < m->nnodes; j++) {
    int cons, st = site_of(m, j, &cons);
    if (st == SITE_NONE || m->nodes[j].err_off == -1) continue;
    sites++;
    if (m->nodes[j].err_off == -2) {
      fprintf(stderr,
              "errdump: node %s: its error is not kept (its buffer reused later in the step, or never written: a "
              "relu whose backward its consumer does); compile with NITC_ERR_REUSE=0 NITC_FOLD_RELU=0\n",
              m->nodes[j].name);
      missing++;
    }
  }
  if (missing) die("error tensors missing", NULL);
  if (!quiet)
    printf("errdump: %s (%s): %d sites, batch %d, %" PRId64 " samples, %" PRId64 " steps/epoch, seed %" PRIu64
           ", shuffled as the runtime, %s\n",
           m->name, nit_recipe_names[m->recipe.kind < NIT_RECIPE_COUNT ? m->recipe.kind : 0],
           int8_dumps ? sites : m->nsites, batch, ntrain, steps_per_epoch, seed,
           int8_dumps ? "dumps of the stored int8 errors (RQ_8 results under ghaffari)"
                      : "dumps of the wide errors at the DSGC sites");

  int64_t correct_win[100] = {0}, seen_win[100] = {0};
  for (uint64_t step = 0; step <= last; step++) {
    int32_t e = (int32_t)(step / (uint64_t)steps_per_epoch) + 1;
    int64_t i0 = (int64_t)(step % (uint64_t)steps_per_epoch) * batch;
    if (i0 == 0) nitrt_shuffle(perm, ntrain, seed, (uint64_t)e);
    int32_t n = (int32_t)(ntrain - i0 < batch ? ntrain - i0 : batch);
    for (int32_t k = 0; k < n; k++) {
      uint32_t src = perm[i0 + k];
      for (int64_t d = 0; d < dim; d++) xb[k * dim + d] = (int8_t)(ib[ioff + (size_t)src * (size_t)dim + (size_t)d] >> 1);
      yb[k] = lb[loff + src];
      if (yb[k] < 0 || yb[k] >= m->classes) die("label out of range", lp);
    }
    NitCtx c;
    memset(&c, 0, sizeof c);
    c.params = params;
    c.work = work;
    c.seed = seed;
    c.step = step;
    c.n = n;
    c.in_exp = -7;
    c.mu = mu_for_epoch(&m->recipe, e);
    c.act_round = m->recipe.act_round;
    c.err_round = m->recipe.err_round;
    c.grad_round = m->recipe.grad_round;
    c.decay = m->recipe.decay;
    c.train = 1;
    c.logits = logits;
    c.exps = exps;
    c.parallel_for = NULL; /* one thread; results do not depend on it */
    if (m->recipe.kind != NIT_RECIPE_NITI) {
      c.view_round = m->recipe.view_round;
      c.update_round = m->recipe.update_round;
      NitS31 eta = nitrt_lr(&sch, e, step, steps_per_epoch);
      c.eta_m = eta.m, c.eta_e = eta.e;
      c.mom_m = mom.m, c.mom_e = mom.e;
      c.wdecay_m = wd.m, c.wdecay_e = wd.e;
    }
    m->train_step(&c, xb, yb);
    int64_t good = 0;
    for (int32_t k = 0; k < n; k++) {
      const int8_t *z = logits + (int64_t)k * m->classes;
      int32_t best = 0;
      for (int32_t q = 1; q < m->classes; q++)
        if (z[q] > z[best]) best = q;
      good += best == yb[k];
    }
    correct_win[step % 100] = good;
    seen_win[step % 100] = n;
    int hit = 0;
    for (int w = 0; w < nwant; w++) hit |= want[w] == step;
    if (!hit) continue;
    int written = 0;
#ifdef ERRDUMP_CLIP
    written = clip_rec.written;
    clip_rec.written = 0;
#endif
    for (int j = 0; int8_dumps && j < m->nnodes; j++) {
      int cons, st = site_of(m, j, &cons);
      if (st == SITE_NONE || m->nodes[j].err_off < 0) continue;
      dump(out, m, work, exps, n, step, j, st, cons);
      written++;
    }
    int64_t cw = 0, sw = 0;
    for (int w = 0; w < 100; w++) cw += correct_win[w], sw += seen_win[w];
    if (!quiet)
      printf("errdump: step %" PRIu64 " (epoch %d): %d error tensors written to %s; train accuracy of the last %" PRId64
             " samples %.2f%%\n",
             step, e, written, out, sw, sw ? 100.0 * (double)cw / (double)sw : 0.0);
    fflush(stdout);
  }
  free(ib);
  free(lb);
  return 0;
}
