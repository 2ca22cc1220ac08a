/*
 * clipcurve.c: the cosine curve per clip level of recipe unified (experiment
 * E8's curve, like Zhu et al.'s plot of the cosine against the clip value;
 * bench/accuracy/clip_curve.sh).
 *
 * Input: dump files of the clipdump harness (tests/codegen/errdump.c built
 * with ERRDUMP_CLIP): the wide error x (times its multiplier) of one DSGC
 * site at one step, its exponent, the site's key and clip settings. For
 * every file and every width b of --bits (default 8,4), with the
 * reference's own functions (tests/ref/recipe_clip.c): the pre-reduction,
 * M = max |x|, the no-clip level l0 = rec_clip_l0(M, b, grid), and for each
 * level l = l0, l0 - 1, ... down to max(0, l0 - 8 R) (octave grid: steps of
 * 8; R the site's range) the quantized tensor rec_cq(x, l) with the site's
 * draws and its cosine rec_cos_q30. It prints per level the clip value
 * relative to M, c(l) / M = L mu(l) 2^T(l) / (8 M) (at l0 from 1 to below
 * 9/8, or above when l0 = 0, M <= L), and d_c = 1 - cq 2^-30, and marks
 * the pick: the largest cosine,
 * ties to the larger level (the candidates are scanned from l0 down and
 * only a strictly larger cosine replaces the best).
 *
 * Checks (any failure: exit 1):
 *   - the pick equals the level the reference's search rec_dsgc_site
 *     chooses on the same tensor (a fresh state, clip on, every = 1);
 *   - when the dump says the runtime searched at that step and b is the
 *     width it ran at, the pick equals the level the runtime's kernel chose
 *     (recorded in the dump).
 *
 * --synth DIR writes small synthetic dumps instead (Laplace-like,
 * heavy-tailed, Gaussian with two outliers, a tensor within L, one above
 * 2^56), whose recorded level is rec_dsgc_site's at 8 bits; --skew D adds D
 * to those recorded levels (a dump the check must reject).
 *
 * usage: clipcurve [--bits 8,4] [--markdown] FILE...
 *        clipcurve --synth DIR [--skew D]
 * Output lines (space-separated):
 *   curve STEP SITE NAME BITS L CLIP/MAX D_C PICK   (PICK 1 at the pick)
 *   pick STEP SITE NAME BITS COUNT L0 PICK CLIP/MAX D_C(L0) D_C(PICK) RUNTIME
 * (RUNTIME the runtime's searched level, or - when not comparable), a
 * summary line; with --markdown, the per-tensor table instead. Exit 0, 1
 * when a check fails, 2 on trouble (a message with the file and what was
 * expected).
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe.h"
#include "ref.h"

#define MAX_BITS 7

static void die(const char *what, const char *arg) {
  fprintf(stderr, "clipcurve: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
  exit(2);
}

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz);
  if (!p) die("out of memory", NULL);
  return p;
}

typedef struct Dump {
  uint64_t step, key;
  int site, bits, on, range, grid, searched, level, exp;
  int64_t every, count;
  char name[128];
  int64_t *x;
} Dump;

static void read_dump(const char *path, Dump *d) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  char line[1024];
  if (!fgets(line, sizeof line, f)) die("empty file, expected a NITCLIP header", path);
  int ver = 0;
  unsigned long long step = 0, key = 0;
  if (sscanf(line,
             "NITCLIP %d step %llu site %d name %127s count %" SCNd64 " exp %d key %llu bits %d on %d every %" SCNd64
             " range %d grid %d searched %d level %d",
             &ver, &step, &d->site, d->name, &d->count, &d->exp, &key, &d->bits, &d->on, &d->every, &d->range,
             &d->grid, &d->searched, &d->level) != 14 ||
      ver != 1)
    die("not a clipdump file (expected the header \"NITCLIP 1 step ...\")", path);
  d->step = step, d->key = key;
  if (d->count < 1 || d->count > ((int64_t)1 << 31)) die("implausible count in the header", path);
  if (d->range < 1 || d->range > 8 || (d->grid != NIT_GRID_EIGHTH && d->grid != NIT_GRID_OCTAVE))
    die("clip range or grid out of range in the header", path);
  d->x = xcalloc((size_t)d->count, sizeof(int64_t));
  if (fread(d->x, sizeof(int64_t), (size_t)d->count, f) != (size_t)d->count) die("truncated data (count int64)", path);
  fclose(f);
}

static uint64_t max_mag(const int64_t *x, int64_t count) {
  uint64_t m = 0;
  for (int64_t j = 0; j < count; j++) {
    uint64_t a = x[j] < 0 ? (uint64_t)0 - (uint64_t)x[j] : (uint64_t)x[j];
    if (a > m) m = a;
  }
  return m;
}

static double dc_of(int64_t cq) { return (double)(((int64_t)1 << 30) - cq) / (double)((int64_t)1 << 30); }

/* c(l) / M = L mu(l) 2^T(l) / (8 M) */
static double clip_rel(int64_t l, int b, uint64_t m) {
  return (double)rec_lim(b) * rec_clip_mu(l) * ldexp(1.0, (int)rec_clip_t(l)) / (8.0 * (double)m);
}

typedef struct Row {
  uint64_t step;
  int site, bits;
  char name[128];
  int64_t count, l0, pick;
  double rel, dc0, dcp;
} Row;

/* The curve of one tensor at b bits; returns the number of failed checks. */
static int curve(const char *path, const Dump *d, int b, int quiet, Row *row) {
  int64_t *v = xcalloc((size_t)d->count, sizeof(int64_t));
  int8_t *q = xcalloc((size_t)d->count, 1), *cand = xcalloc((size_t)d->count, 1);
  memcpy(v, d->x, sizeof(int64_t) * (size_t)d->count);
  rec_clip_prereduce(v, d->count);
  uint64_t m = max_mag(v, d->count);
  memset(row, 0, sizeof *row);
  row->step = d->step, row->site = d->site, row->bits = b, row->count = d->count;
  snprintf(row->name, sizeof row->name, "%s", d->name);
  int bad = 0;
  if (m == 0) {
    row->l0 = row->pick = -1;
    if (!quiet) printf("zero %" PRIu64 " %d %s %d\n", d->step, d->site, d->name, b);
    goto done;
  }
  int64_t l0 = rec_clip_l0(m, b, d->grid), lo = l0 - 8 * (int64_t)d->range, by = d->grid == NIT_GRID_OCTAVE ? 8 : 1;
  if (lo < 0) lo = 0;
  int64_t n = (l0 - lo) / by + 1, *cq = xcalloc((size_t)n, sizeof(int64_t)), best = -1, pick = l0;
  for (int64_t i = 0; i < n; i++) {
    int mu;
    rec_cq(v, d->count, l0 - i * by, b, d->grid, d->key, q, &mu);
    cq[i] = rec_cos_q30(v, q, d->count, NULL, NULL, NULL);
    if (cq[i] > best) best = cq[i], pick = l0 - i * by;
  }
  for (int64_t i = 0; i < n && !quiet; i++) {
    int64_t l = l0 - i * by;
    printf("curve %" PRIu64 " %d %s %d %" PRId64 " %.6f %.6e %d\n", d->step, d->site, d->name, b, l,
           clip_rel(l, b, m), dc_of(cq[i]), l == pick);
  }
  /* the reference's search on the same tensor */
  RecClipOpts o = {.on = 1, .every = 1, .range = d->range, .grid = d->grid, .b = b};
  RecClip st = REC_CLIP_NONE;
  RecClipOut ro;
  int64_t *scr = xcalloc((size_t)d->count, sizeof(int64_t));
  if (rec_dsgc_site(&o, d->x, d->count, d->exp, d->step, d->key, &st, q, &ro, scr, cand) != 0)
    die("rec_dsgc_site refused the tensor", path);
  if (ro.level != pick || ro.l0 != l0) {
    fprintf(stderr, "clipcurve: %s, %d bits: pick %" PRId64 " (l0 %" PRId64 ") but the reference's search chose %" PRId64
                    " (l0 %" PRId64 ")\n", path, b, pick, l0, ro.level, ro.l0);
    bad++;
  }
  int rt = d->searched && d->on && d->bits == b;
  if (rt && d->level != pick) {
    fprintf(stderr, "clipcurve: %s, %d bits: pick %" PRId64 " but the recorded search chose %d\n", path, b, pick,
            d->level);
    bad++;
  }
  row->l0 = l0, row->pick = pick, row->rel = clip_rel(pick, b, m), row->dc0 = dc_of(cq[0]);
  row->dcp = dc_of(cq[(l0 - pick) / by]);
  if (!quiet) {
    printf("pick %" PRIu64 " %d %s %d %" PRId64 " %" PRId64 " %" PRId64 " %.6f %.6e %.6e ", d->step, d->site, d->name,
           b, d->count, l0, pick, row->rel, row->dc0, row->dcp);
    if (rt) printf("%d\n", d->level);
    else printf("-\n");
  }
  free(cq);
  free(scr);
done:
  free(v);
  free(q);
  free(cand);
  return bad;
}

/* ---------------------------------------------------------------- synth */

static double unit(uint64_t key, uint64_t j) { /* (0, 1) */
  return ((double)(nit_draw(key, j) >> 11) + 0.5) / 9007199254740992.0;
}

static void write_synth(const char *dir, const char *name, int site, const int64_t *x, int64_t count, int skew) {
  const uint64_t key = 0x5eedULL + (uint64_t)site;
  RecClipOpts o = {.on = 1, .every = 100, .range = 4, .grid = NIT_GRID_EIGHTH, .b = 8};
  RecClip st = REC_CLIP_NONE;
  RecClipOut ro;
  int64_t *scr = xcalloc((size_t)count, sizeof(int64_t));
  int8_t *q = xcalloc((size_t)count, 1), *cand = xcalloc((size_t)count, 1);
  if (rec_dsgc_site(&o, x, count, -20, 0, key, &st, q, &ro, scr, cand) != 0) die("rec_dsgc_site refused", name);
  char path[4096];
  snprintf(path, sizeof path, "%s/s000000-k%02d-%s.clip", dir, site, name);
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write", path);
  fprintf(f,
          "NITCLIP 1 step 0 site %d name %s count %" PRId64 " exp -20 key %" PRIu64
          " bits 8 on 1 every 100 range 4 grid %d searched 1 level %d\n",
          site, name, count, key, NIT_GRID_EIGHTH, (int)ro.level + skew);
  if (fwrite(x, sizeof *x, (size_t)count, f) != (size_t)count || fclose(f) != 0) die("write error", path);
  free(scr);
  free(q);
  free(cand);
}

static void synth(const char *dir, int skew) {
  enum { N = 4000 };
  int64_t *x = xcalloc(N, sizeof(int64_t));
  for (int k = 0; k < 5; k++) {
    const char *name = "laplace";
    for (int64_t j = 0; j < N; j++) {
      double u = unit(100 + (uint64_t)k, (uint64_t)j), s = nit_draw(200 + (uint64_t)k, (uint64_t)j) & 1 ? -1 : 1, a;
      switch (k) {
      case 0: a = -30.0 * log(u); break;                                                   /* Laplace */
      case 1: a = 40.0 * pow(u, -0.6), name = "pareto"; break;                              /* heavy tail */
      case 2: a = 500.0 * sqrt(-2.0 * log(u)), name = "outliers"; break;                    /* Rayleigh-ish */
      case 3: a = 100.0 * u, name = "within"; break;                                        /* max <= L: l0 = 0 */
      default: a = ldexp(-log(u), 55), name = "huge"; break;                                /* above 2^56 */
      }
      x[j] = (int64_t)(s * a);
    }
    if (k == 2) x[7] = 400000, x[N - 3] = -390000;
    write_synth(dir, name, k, x, N, skew);
  }
  free(x);
}

int main(int argc, char **argv) {
  int bits[MAX_BITS], nbits = 0, markdown = 0, skew = 0;
  const char *synth_dir = NULL, *bits_arg = "8,4";
  int first = argc;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--markdown")) markdown = 1;
    else if (!strcmp(a, "--bits") && i + 1 < argc) bits_arg = argv[++i];
    else if (!strcmp(a, "--synth") && i + 1 < argc) synth_dir = argv[++i];
    else if (!strcmp(a, "--skew") && i + 1 < argc) skew = atoi(argv[++i]);
    else if (a[0] == '-' && a[1] == '-') die("unknown flag or missing value (expected --bits B,B --markdown --synth DIR --skew D)", a);
    else {
      first = i;
      break;
    }
  }
  if (synth_dir) {
    synth(synth_dir, skew);
    return 0;
  }
  for (const char *p = bits_arg; *p;) {
    char *end;
    long b = strtol(p, &end, 10);
    if (end == p || b < 2 || b > 8 || nbits == MAX_BITS) die("bad --bits (expected widths 2..8, comma-separated)", bits_arg);
    bits[nbits++] = (int)b;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  if (first >= argc) die("no dump files (usage: clipcurve [--bits 8,4] [--markdown] FILE...)", NULL);
  int nfiles = argc - first, bad = 0, tensors = 0, below = 0;
  Row *rows = xcalloc((size_t)nfiles * (size_t)nbits, sizeof(Row));
  for (int f = 0; f < nfiles; f++) {
    Dump d;
    read_dump(argv[first + f], &d);
    for (int k = 0; k < nbits; k++) {
      Row *r = &rows[f * nbits + k];
      bad += curve(argv[first + f], &d, bits[k], markdown, r);
      tensors++;
      below += r->pick >= 0 && r->pick < r->l0;
    }
    free(d.x);
  }
  if (markdown) {
    printf("| step | site | layer | bits | elements | l0 | pick | l0 - pick | clip/max at pick | d_c at l0 | d_c at pick |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nfiles * nbits; i++) {
      const Row *r = &rows[i];
      if (r->l0 < 0) {
        printf("| %" PRIu64 " | %d | %s | %d | %" PRId64 " | - | - | - | - | zero | zero |\n", r->step, r->site, r->name,
               r->bits, r->count);
        continue;
      }
      printf("| %" PRIu64 " | %d | %s | %d | %" PRId64 " | %" PRId64 " | %" PRId64 " | %" PRId64 " | %.3f | %.3g | %.3g |\n",
             r->step, r->site, r->name, r->bits, r->count, r->l0, r->pick, r->l0 - r->pick, r->rel, r->dc0, r->dcp);
    }
  } else
    printf("clipcurve: %d curves (%d files x %d widths), %d with the pick below l0; %s\n", tensors, nfiles, nbits, below,
           bad ? "CHECK FAILED: a pick differs from a search" : "every pick equals the reference's search and the recorded one");
  free(rows);
  return bad ? 1 : 0;
}
