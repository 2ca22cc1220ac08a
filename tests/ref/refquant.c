/*
 * refquant.c: how close ShiftQuant's group quantizer SQ_b comes to the best
 * group quantization can do, on recorded error tensors (experiment E4 of the
 * recipes' accuracy experiments; bench/accuracy/quant_error.sh).
 *
 * Input: dump files of tests/codegen/errdump.c (one int8 error tensor x of
 * shape (n, C, H, W) each, with its node, site and step). For every tensor,
 * with b = --bits (default 4) and b2 = --bits2 (default 6), groups = the
 * channels of the tensor (--groups channel|sample|tensor, the layout of
 * rec_sq_groups; the loss's classes for LOSS):
 *   RQ_b    per-tensor requantization (rec_rq), step 2^k for every element;
 *   SQ_b    ShiftQuant (rec_sq), step 2^kc of the element's group;
 *   SQ_b2   the same at b2 bits;
 *   free_b  per-group free real scale: step D_c = max(M_c, lim) / lim with
 *           M_c = max |x| over the group and lim = 2^(b-1) - 1: each group's
 *           own scale, rounded stochastically, never saturating -- the upper
 *           bound of group quantization at b bits. (For M_c < lim the step is
 *           1: the dumped values are integers, so a finer step would only add
 *           error; step 1 is exact.)
 * and prints, all exact in 128-bit integers before one final division:
 *   E/sx2   the expected squared error under stochastic rounding, summed
 *           over the elements that saturate under none of RQ_b, SQ_b and
 *           SQ_b2 (the set U), over sum_{j in U} x_j^2. Element j rounded with
 *           step D has E[(q - x)^2] = (x - a)(a + D - x), a the grid point
 *           below x: r (2^k - r) with r = |x| mod 2^k for the power-of-two
 *           steps, u (M - u) / lim^2 with u = lim |x| mod M for free_b.
 *   cos     the cosine similarity between x and one stochastic sample of
 *           each quantizer (all elements, saturation included), key
 *           nit_key(--seed, step, NIT_TID_ERR(node)).
 *   gap     the share of the gap closed, (E(RQ_b) - E(SQ_b)) /
 *           (E(RQ_b) - E(free_b)): 1 means SQ_b is as good as free scales.
 *   check   SQ_b <= RQ_b on U (summed), and the number of elements of U
 *           non-saturated under both where SQ_b's expected error exceeds
 *           RQ_b's (a finer grid can never do worse on one element, so it
 *           must be 0).
 *
 * APPROXIMATION: the tensors are what the generated code stores, the int8
 * result of the site's quantizer (RQ_8 under recipe ghaffari), not the wide
 * error before it; this tool takes those 8-bit tensors as the exact
 * reference. A group whose maximum is below 2^(b-1) is therefore exact under
 * SQ_b (step 1): on the wide tensor it would not be.
 *
 * usage: refquant [--bits B] [--bits2 B2] [--groups channel|sample|tensor]
 *                 [--seed S] [--markdown] FILE...
 * Output: one line (or markdown row) per file, in the order given, then a
 * summary per step and overall. Exit 0 when every check holds, 1 when one
 * fails, 2 on trouble.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe.h"
#include "ref.h"

#define NQ 4 /* RQ_b, SQ_b, SQ_b2, free_b */
static const char *qname_fmt[NQ] = {"RQ_%d", "SQ_%d", "SQ_%d", "free_%d"};

static void die(const char *what, const char *arg) {
  fprintf(stderr, "refquant: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
  exit(2);
}

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz);
  if (!p) die("out of memory", NULL);
  return p;
}

typedef struct Dump {
  uint64_t step;
  int node;
  char name[128], kind[64], site[16], cons[128];
  int64_t n, c, h, w;
  int exp;
  int64_t count;
  int64_t *x;
} Dump;

static void read_dump(const char *path, Dump *d) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  char line[1024];
  if (!fgets(line, sizeof line, f)) die("empty file", path);
  int ver = 0;
  unsigned long long step = 0;
  if (sscanf(line,
             "NITERR %d step %llu node %d name %127s kind %63s site %15s consumer %127s shape %" SCNd64 " %" SCNd64
             " %" SCNd64 " %" SCNd64 " exp %d",
             &ver, &step, &d->node, d->name, d->kind, d->site, d->cons, &d->n, &d->c, &d->h, &d->w, &d->exp) != 12 ||
      ver != 1)
    die("not an errdump file (version 1)", path);
  d->step = step;
  if (d->n < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->n * d->c * d->h * d->w > ((int64_t)1 << 34))
    die("implausible shape", path);
  d->count = d->n * d->c * d->h * d->w;
  int8_t *raw = xcalloc((size_t)d->count, 1);
  if (fread(raw, 1, (size_t)d->count, f) != (size_t)d->count) die("truncated data", path);
  fclose(f);
  d->x = xcalloc((size_t)d->count, sizeof(int64_t));
  for (int64_t j = 0; j < d->count; j++) d->x[j] = raw[j];
  free(raw);
}

/* The result for one tensor. Errors are exact: E[q] = num[q] / (den_mul[q]
 * * sx2); den_mul is 1 for the power-of-two quantizers and lim^2 for free. */
typedef struct Res {
  rec_u128 num[NQ];     /* expected squared error on U */
  rec_u128 num_all[NQ]; /* on all elements (saturated: their fixed error) */
  rec_u128 den_mul[NQ];
  rec_u128 sx2, sx2_all; /* sum x^2 on U, on all */
  int64_t excluded;      /* elements not in U */
  int64_t violations;    /* elements where SQ_b's error > RQ_b's */
  double cos[NQ];
  int k_rq, base_sq, base_sq2;
} Res;

static double u128d(rec_u128 v) { return (double)v; }
static double i128d(rec_i128 v) { return (double)v; }

static double cosine(const int64_t *x, const int64_t *q, int64_t count) {
  rec_i128 xq = 0;
  rec_u128 xx = 0, qq = 0;
  for (int64_t j = 0; j < count; j++) {
    xq += (rec_i128)x[j] * q[j];
    xx += (rec_u128)((rec_i128)x[j] * x[j]);
    qq += (rec_u128)((rec_i128)q[j] * q[j]);
  }
  if (xx == 0 || qq == 0) return xx == qq ? 1.0 : 0.0;
  return i128d(xq) / sqrt(u128d(xx)) / sqrt(u128d(qq));
}

/* Expected squared error of stochastic rounding of |x| on the grid 2^k,
 * b bits: *sat set when the upper neighbour saturates (then q = lim(b)
 * always and the error is fixed). */
static uint64_t pow2_err(uint64_t ax, int k, int64_t lim, int *sat) {
  uint64_t step = (uint64_t)1 << k;
  *sat = ax > (uint64_t)lim * step;
  if (*sat) {
    uint64_t d = ax - (uint64_t)lim * step;
    return d * d;
  }
  uint64_t r = ax & (step - 1);
  return r * (step - r);
}

static void analyze(const Dump *d, int b, int b2, int groups, uint64_t seed, Res *r) {
  memset(r, 0, sizeof *r);
  int64_t div, ng;
  if (rec_sq_groups(groups, d->n, d->c, d->h * d->w, &div, &ng)) die("bad groups", NULL);
  int64_t cnt = d->count;
  uint64_t key = nit_key(seed, d->step, NIT_TID_ERR((uint32_t)d->node));
  int64_t *q = xcalloc((size_t)cnt, sizeof(int64_t));
  int8_t *v = xcalloc((size_t)cnt, 1);
  int *kc = xcalloc((size_t)ng, sizeof(int)), *kc2 = xcalloc((size_t)ng, sizeof(int));
  int64_t *gmax = xcalloc((size_t)ng, sizeof(int64_t));
  const int64_t lim = rec_lim(b), lim2 = rec_lim(b2);

  /* the samples (and the steps) from the reference's quantizers */
  r->k_rq = rec_rq(d->x, cnt, b, NIT_ROUND_STOCHASTIC, key, q);
  r->cos[0] = cosine(d->x, q, cnt);
  r->base_sq = rec_sq(d->x, cnt, b, div, ng, NIT_ROUND_STOCHASTIC, key, kc, v);
  for (int64_t j = 0; j < cnt; j++) q[j] = v[j]; /* value v 2^base: the scale does not change a cosine */
  r->cos[1] = cosine(d->x, q, cnt);
  r->base_sq2 = rec_sq(d->x, cnt, b2, div, ng, NIT_ROUND_STOCHASTIC, key, kc2, v);
  for (int64_t j = 0; j < cnt; j++) q[j] = v[j];
  r->cos[2] = cosine(d->x, q, cnt);
  /* free scales: q = SR(lim |x| / M) with step M / lim, i.e. value q M / lim;
   * for M <= lim the step is 1 and x is exact */
  for (int64_t j = 0; j < cnt; j++) {
    int64_t g = (j / div) % ng;
    uint64_t a = ref_abs64(d->x[j]);
    if ((int64_t)a > gmax[g]) gmax[g] = (int64_t)a;
  }
  for (int64_t j = 0; j < cnt; j++) {
    int64_t M = gmax[(j / div) % ng];
    uint64_t a = ref_abs64(d->x[j]);
    int64_t mag = M <= lim ? (int64_t)a * lim : (int64_t)rec_srdiv((uint64_t)lim * a, (uint64_t)M, key, (uint64_t)j) * M;
    q[j] = d->x[j] < 0 ? -mag : mag; /* value (q M / lim) times lim */
  }
  r->cos[3] = cosine(d->x, q, cnt);

  /* exact expected squared errors */
  r->den_mul[0] = r->den_mul[1] = r->den_mul[2] = 1;
  r->den_mul[3] = (rec_u128)(lim * lim);
  for (int64_t j = 0; j < cnt; j++) {
    int64_t g = (j / div) % ng;
    uint64_t a = ref_abs64(d->x[j]);
    int s0, s1, s2;
    uint64_t e0 = pow2_err(a, r->k_rq, lim, &s0);
    uint64_t e1 = pow2_err(a, kc[g], lim, &s1);
    uint64_t e2 = pow2_err(a, kc2[g], lim2, &s2);
    uint64_t M = (uint64_t)gmax[g], ef = 0;
    if (M > (uint64_t)lim) {
      uint64_t u = (uint64_t)lim * a % M;
      ef = u * (M - u);
    }
    uint64_t x2 = a * a;
    r->num_all[0] += e0, r->num_all[1] += e1, r->num_all[2] += e2, r->num_all[3] += ef;
    r->sx2_all += x2;
    if (!s0 && !s1 && e1 > e0) r->violations++;
    if (s0 || s1 || s2) {
      r->excluded++;
      continue;
    }
    r->num[0] += e0, r->num[1] += e1, r->num[2] += e2, r->num[3] += ef;
    r->sx2 += x2;
  }
  free(q);
  free(v);
  free(kc);
  free(kc2);
  free(gmax);
}

static double ratio(const Res *r, int i) {
  return r->sx2 ? u128d(r->num[i]) / u128d(r->den_mul[i]) / u128d(r->sx2) : 0.0;
}

/* (E_RQ - E_SQ) / (E_RQ - E_free) in exact rationals; *ok = 0 when the
 * denominator is not positive (free scales no better than RQ_b). */
static double gap_closed(const Res *r, int *ok) {
  rec_i128 L = (rec_i128)r->den_mul[3];
  rec_i128 a = (rec_i128)r->num[0] * L, s = (rec_i128)r->num[1] * L, f = (rec_i128)r->num[3];
  *ok = a - f > 0;
  return *ok ? i128d(a - s) / i128d(a - f) : 0.0;
}

static int sq_le_rq(const Res *r) { return r->num[1] <= r->num[0]; }

typedef struct Acc {
  uint64_t step;
  int tensors, fails, gaps;
  double e[NQ], cos[NQ], gap, gmin, gmax;
} Acc;

static void acc_add(Acc *a, const Res *r) {
  a->tensors++;
  a->fails += !sq_le_rq(r) || r->violations > 0;
  for (int i = 0; i < NQ; i++) a->e[i] += ratio(r, i), a->cos[i] += r->cos[i];
  int ok;
  double g = gap_closed(r, &ok);
  if (ok) {
    if (!a->gaps || g < a->gmin) a->gmin = g;
    if (!a->gaps || g > a->gmax) a->gmax = g;
    a->gap += g;
    a->gaps++;
  }
}

static void acc_print(const Acc *a, const char *label, char qn[NQ][16], int md) {
  if (!a->tensors) return;
  double t = a->tensors;
  if (md) {
    printf("| **%s** | mean of %d | | |", label, a->tensors);
    for (int i = 0; i < NQ; i++) printf(" %.3e |", a->e[i] / t);
    for (int i = 0; i < NQ; i++) printf(" %.4f |", a->cos[i] / t);
    if (a->gaps) printf(" %.3f (%.3f..%.3f) |", a->gap / a->gaps, a->gmin, a->gmax);
    else printf(" n/a |");
    printf(" | %s |\n", a->fails ? "**FAIL**" : "yes");
    return;
  }
  printf("summary %-8s tensors %3d", label, a->tensors);
  for (int i = 0; i < NQ; i++) printf("  E/sx2 %s %.4e", qn[i], a->e[i] / t);
  for (int i = 0; i < NQ; i++) printf("  cos %s %.5f", qn[i], a->cos[i] / t);
  if (a->gaps) printf("  gap closed mean %.4f min %.4f max %.4f", a->gap / a->gaps, a->gmin, a->gmax);
  printf("  %s=%s\n", "SQ<=RQ", a->fails ? "FAIL" : "ok");
}

int main(int argc, char **argv) {
  int b = 4, b2 = 6, groups = NIT_GROUPS_CHANNEL, md = 0;
  uint64_t seed = 1;
  int nfiles = 0;
  const char **files = xcalloc((size_t)argc, sizeof *files);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--markdown")) {
      md = 1;
      continue;
    }
    if (a[0] != '-') {
      files[nfiles++] = a;
      continue;
    }
    if (!v) die("flag needs a value", a);
    i++;
    if (!strcmp(a, "--bits")) b = atoi(v);
    else if (!strcmp(a, "--bits2")) b2 = atoi(v);
    else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--groups")) {
      groups = -1;
      for (int g = 0; g < NIT_GROUPS_COUNT; g++)
        if (!strcmp(v, nit_groups_names[g])) groups = g;
      if (groups < 0) die("bad --groups", v);
    } else die("unknown flag", a);
  }
  if (b < 2 || b > 8 || b2 < 2 || b2 > 8) die("bits must be 2..8", NULL);
  if (!nfiles) die("usage: refquant [--bits B] [--bits2 B2] [--groups G] [--seed S] [--markdown] FILE...", NULL);
  char qn[NQ][16];
  for (int i = 0; i < NQ; i++) snprintf(qn[i], sizeof qn[i], qname_fmt[i], i == 2 ? b2 : b);

  const char *note = "8-bit approximation: the reference tensors are the stored int8 errors (RQ_8 of the wide error "
                     "under ghaffari), not the wide errors";
  if (md) {
    printf("E/sx2: exact expected squared error under stochastic rounding over sum x^2, on the elements no quantizer "
           "saturates; cos: one stochastic sample; gap: (E %s - E %s) / (E %s - E %s); groups %s. %s.\n\n",
           qn[0], qn[1], qn[0], qn[3], nit_groups_names[groups], note);
    printf("| step | site | tensor (n,C,H,W) | excl. sat |");
    for (int i = 0; i < NQ; i++) printf(" E/sx2 %s |", qn[i]);
    for (int i = 0; i < NQ; i++) printf(" cos %s |", qn[i]);
    printf(" gap closed | k / base | %s <= %s |\n", qn[1], qn[0]);
    printf("|---:|---|---|---:|");
    for (int i = 0; i < 2 * NQ; i++) printf("---:|");
    printf("---:|---|---|\n");
  } else {
    printf("# refquant: %s; groups %s; %s\n", note, nit_groups_names[groups],
           "E = exact E[err^2] / sum x^2 on non-saturated elements; cos = one sample; gap = share of the gap closed");
  }

  Acc *steps = xcalloc((size_t)nfiles, sizeof *steps);
  int nsteps = 0;
  Acc all;
  memset(&all, 0, sizeof all);
  for (int fi = 0; fi < nfiles; fi++) {
    Dump d;
    memset(&d, 0, sizeof d);
    read_dump(files[fi], &d);
    Res r;
    analyze(&d, b, b2, groups, seed, &r);
    char site[300];
    if (!strcmp(d.site, "ERR")) snprintf(site, sizeof site, "ERR(%s)", d.cons);
    else if (!strcmp(d.site, "SUM")) snprintf(site, sizeof site, "SUM(%s)", d.name);
    else snprintf(site, sizeof site, "%s", d.site);
    int ok;
    double g = gap_closed(&r, &ok);
    int pass = sq_le_rq(&r) && r.violations == 0;
    if (md) {
      printf("| %" PRIu64 " | %s | %s (%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ") | %" PRId64 " |", d.step, site,
             d.name, d.n, d.c, d.h, d.w, r.excluded);
      for (int i = 0; i < NQ; i++) printf(" %.3e |", ratio(&r, i));
      for (int i = 0; i < NQ; i++) printf(" %.4f |", r.cos[i]);
      if (ok) printf(" %.3f |", g);
      else printf(" n/a |");
      printf(" %d / %d | %s |\n", r.k_rq, r.base_sq, pass ? "yes" : "**NO**");
    } else {
      printf("step %6" PRIu64 " %-12s node %-10s shape %" PRId64 "x%" PRId64 "x%" PRId64 "x%" PRId64
             " exp %4d k %d base %d/%d excluded %" PRId64,
             d.step, site, d.name, d.n, d.c, d.h, d.w, d.exp, r.k_rq, r.base_sq, r.base_sq2, r.excluded);
      for (int i = 0; i < NQ; i++) printf("  E/sx2 %s %.4e", qn[i], ratio(&r, i));
      for (int i = 0; i < NQ; i++)
        printf("  E_all %s %.4e", qn[i],
               r.sx2_all ? u128d(r.num_all[i]) / u128d(r.den_mul[i]) / u128d(r.sx2_all) : 0.0);
      for (int i = 0; i < NQ; i++) printf("  cos %s %.5f", qn[i], r.cos[i]);
      if (ok) printf("  gap %.4f", g);
      else printf("  gap n/a");
      printf("  SQ<=RQ %s violations %" PRId64 "\n", sq_le_rq(&r) ? "yes" : "NO", r.violations);
    }
    int si = 0;
    while (si < nsteps && steps[si].step != d.step) si++;
    if (si == nsteps) steps[nsteps++].step = d.step;
    acc_add(&steps[si], &r);
    acc_add(&all, &r);
    free(d.x);
  }
  for (int si = 0; si < nsteps; si++) {
    char label[32];
    snprintf(label, sizeof label, "step %" PRIu64, steps[si].step);
    acc_print(&steps[si], label, qn, md);
  }
  acc_print(&all, "all", qn, md);
  if (!md)
    printf("check %s <= %s on non-saturated elements: %s (%d of %d tensors fail)\n", qn[1], qn[0],
           all.fails ? "FAIL" : "holds", all.fails, all.tensors);
  free(steps);
  free(files);
  return all.fails ? 1 : 0;
}
