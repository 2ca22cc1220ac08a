/*
 * data_csv.c: CSV text. Each row is a label, then C*H*W features, separated
 * by commas; an optional header (the first row, when its label is not a
 * number), `#` comment lines and blank lines are skipped; `\r\n` line ends
 * are accepted.
 *
 * Numbers are decimal fixed point without floating point: sign, digits,
 * optional fraction, optional e/E exponent, kept to 6 fraction digits
 * (value * 10^6 as an int64, rounded half away from zero; |value| at most
 * 9e12).
 *
 * Quantization, per column (docs/runtime.md, "Quantization"): feature j of
 * the training set gets its own shift s_j, the smallest with
 * max|v_j| * 2^-s_j <= 127, and x_j = round(v_j * 2^-s_j), half away from
 * zero, saturated to +-127, at exponent -7. So every column's largest
 * magnitude lands in 64..127 whatever its scale (income beside ratios), and
 * the arithmetic stays integer. A test set, or any data given to a trained
 * checkpoint, uses the training set's shifts. Columns that come out
 * constant (all zero included) over the training set carry nothing: they
 * are reported in one warning.
 *
 * The text is read twice: once to validate every row, count the rows and
 * find each column's largest magnitude, once to quantize. Memory is the
 * int8 result and a few words per column, bounded by the real content:
 * blank lines, comments and long lines cost nothing. A NUL byte is an
 * error with its line, not an early end.
 */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

#define MICRO   1000000ll
#define CSV_MAX 9000000000000000000ll /* |value| * 10^6 must stay below this */

/* Cursor over the text of one line: [p, end). */
typedef struct Cur {
  const char *p, *end;
} Cur;

static bool at_space(const Cur *c) { return c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'); }
static bool at_digit(const Cur *c) { return c->p < c->end && *c->p >= '0' && *c->p <= '9'; }
static bool at(const Cur *c, char ch) { return c->p < c->end && *c->p == ch; }

/* One decimal number as value * 10^6, rounded half away from zero; the
 * cursor advances past it and past trailing blanks. 0, or -1 (not a
 * number, or too large). */
static int parse_micro(Cur *c, int64_t *out) {
  while (at_space(c)) c->p++;
  bool neg = false;
  if (at(c, '+') || at(c, '-')) neg = *c->p++ == '-';
  int64_t mant = 0;
  int scale = 6; /* the result, value * 10^6, is mant * 10^scale */
  int digits = 0, sig = 0;
  for (; at_digit(c); c->p++, digits++) {
    if (sig < 18) {
      mant = mant * 10 + (*c->p - '0');
      if (mant) sig++;
    } else {
      scale++;
    }
  }
  if (at(c, '.')) {
    c->p++;
    for (; at_digit(c); c->p++, digits++)
      if (sig < 18) {
        mant = mant * 10 + (*c->p - '0');
        if (mant) sig++;
        scale--;
      }
  }
  if (digits == 0) return -1;
  if (at(c, 'e') || at(c, 'E')) {
    c->p++;
    bool eneg = false;
    if (at(c, '+') || at(c, '-')) eneg = *c->p++ == '-';
    int e = 0, ed = 0;
    for (; at_digit(c); c->p++, ed++)
      if (e < 10000) e = e * 10 + (*c->p - '0');
    if (ed == 0) return -1;
    scale += eneg ? -e : e;
  }
  while (at_space(c)) c->p++;
  for (; scale > 0 && mant; scale--) {
    if (mant > CSV_MAX / 10) return -1;
    mant *= 10;
  }
  if (scale < 0) {
    if (scale < -19) mant = 0;
    else {
      int64_t div = 1;
      for (int k = 0; k < -scale - 1; k++) div *= 10;
      mant = (mant / div + 5) / 10; /* round half away from zero */
    }
  }
  *out = neg ? -mant : mant;
  return 0;
}

/* x = round(v * 2^-s / 10^6), half away from zero, saturated to [-127, 127].
 * Never forms a product or shift that could overflow. */
static int8_t quant_column(int64_t v, int32_t s) {
  int64_t a = v < 0 ? -v : v, q;
  if (s < 0) {
    if (a > (CSV_MAX >> -s)) q = 127;
    else q = ((a << -s) + MICRO / 2) / MICRO;
  } else {
    /* a / 10^6 = t + f with f < 1: floor((t + f) / 2^s) = t >> s, and the
       remainder (t mod 2^s) + f reaches half of 2^s iff t mod 2^s does */
    int64_t t = a / MICRO;
    if (s == 0) q = (a + MICRO / 2) / MICRO;
    else if (s >= 62) q = 0;
    else q = (t >> s) + ((t & (((int64_t)1 << s) - 1)) >= ((int64_t)1 << (s - 1)));
  }
  if (q > 127) q = 127;
  return (int8_t)(v < 0 ? -q : q);
}

/* The 8-bit pixel rule for CSV given to a model trained on pixels: the
 * integer part, halved toward zero, saturated. */
static int8_t quant_pixel(int64_t v) {
  int64_t q = v / (2 * MICRO);
  if (v < 0) q = -((-v) / (2 * MICRO));
  if (q > 127) q = 127;
  if (q < -127) q = -127;
  return (int8_t)q;
}

/* The smallest s with amax * 2^-s <= 127 (amax in units of 10^-6). */
static int32_t column_shift(int64_t amax) {
  const int64_t lim = 127 * MICRO;
  if (amax == 0) return 0;
  int32_t s = 0;
  if (amax > lim) {
    /* ceil(amax / 2^s) <= lim; amax < 2^63 and lim >= 2^26 end this by s = 37 */
    while (s < NITRT_SHIFT_MAX && (amax >> s) + ((amax & (((int64_t)1 << s) - 1)) != 0) > lim) s++;
  } else {
    /* amax * 2^k <= lim: amax >= 1 ends this by k = 27 */
    while (s > NITRT_SHIFT_MIN && amax <= lim >> (1 - s)) s--;
  }
  return s;
}

/* One pass over the text. Pass 1 (x == NULL) validates every row, counts
 * the rows and, for the first `keep` rows, the largest magnitude of each
 * column; pass 2 quantizes the first `keep` rows into x (and y). */
typedef struct Pass {
  const char *name;
  const NitModel *m;
  bool need_labels;
  int64_t keep;        /* rows to keep (pass 1: limit, 0 = all) */
  int64_t rows;        /* out: rows with data */
  int64_t *amax;       /* pass 1: (dim) */
  const InputQuant *q; /* pass 2 */
  int8_t *x;           /* pass 2: (keep, dim) */
  int32_t *y;          /* pass 2: (keep) or NULL */
} Pass;

static int scan(const uint8_t *b, size_t len, Pass *ps) {
  const NitModel *m = ps->m;
  int64_t dim = nitrt_model_dim(m), line = 0;
  bool seen_content = false;
  const char *text = (const char *)b, *stop = text + len;
  ps->rows = 0;
  for (const char *p = text; p < stop;) {
    if (ps->x && ps->rows >= ps->keep) break; /* pass 2: the kept rows are done */
    const char *nl = memchr(p, '\n', (size_t)(stop - p));
    const char *end = nl ? nl : stop;
    Cur c = {p, end};
    const char *lstart = p;
    p = nl ? nl + 1 : stop;
    line++;
    while (at_space(&c)) c.p++;
    if (c.p == c.end || *c.p == '#') continue;
    bool first = !seen_content;
    seen_content = true;
    /* the label, or (predict) maybe the first feature */
    const char *f0 = c.p;
    int64_t lab = 0;
    if (parse_micro(&c, &lab) || (c.p < c.end && *c.p != ',')) {
      if (first) continue; /* a header row */
      nitrt_error("%s:%lld:%lld: expected a number, got '%.*s'", ps->name, (long long)line,
                  (long long)(f0 - lstart) + 1, (int)(c.end - f0 > 20 ? 20 : c.end - f0), f0);
      return -1;
    }
    /* count the fields: a label is present when there are dim + 1 */
    int64_t fields = 1;
    for (const char *k = c.p; k < c.end; k++) fields += *k == ',';
    bool has_label = ps->need_labels || fields == dim + 1;
    int64_t want = dim + (has_label ? 1 : 0);
    if (fields != want) {
      if (ps->need_labels)
        nitrt_error("%s:%lld: %lld features but the model expects %lld (%dx%dx%d)", ps->name, (long long)line,
                    (long long)fields - 1, (long long)dim, m->in_c, m->in_h, m->in_w);
      else
        nitrt_error("%s:%lld: %lld fields but the model expects %lld features (%dx%dx%d), "
                    "optionally after a label",
                    ps->name, (long long)line, (long long)fields, (long long)dim, m->in_c, m->in_h, m->in_w);
      return -1;
    }
    if (ps->need_labels && (lab % MICRO != 0 || lab < 0 || lab / MICRO >= m->classes)) {
      nitrt_error("%s:%lld: label %.*s is out of range: the model has %d classes "
                  "(labels 0..%d)",
                  ps->name, (long long)line, (int)(c.p - f0 > 20 ? 20 : c.p - f0), f0, m->classes, m->classes - 1);
      return -1;
    }
    bool kept = ps->keep == 0 || ps->rows < ps->keep;
    int64_t row = ps->rows;
    if (ps->x && kept && ps->y) ps->y[row] = (int32_t)(lab / MICRO);
    for (int64_t k = 0; k < dim; k++) {
      int64_t v;
      if (k == 0 && !has_label) {
        v = lab; /* the first field was the first feature */
      } else {
        c.p++; /* the comma */
        const char *fs = c.p;
        if (parse_micro(&c, &v) || (c.p < c.end && *c.p != ',')) {
          nitrt_error("%s:%lld:%lld: feature %lld: expected a decimal number of magnitude at most 9e12, "
                      "got '%.*s'",
                      ps->name, (long long)line, (long long)(fs - lstart) + 1, (long long)k + 1,
                      (int)(c.end - fs > 20 ? 20 : c.end - fs), fs);
          return -1;
        }
      }
      if (!kept) continue;
      if (!ps->x) {
        int64_t a = v < 0 ? -v : v;
        if (a > ps->amax[k]) ps->amax[k] = a;
      } else {
        ps->x[row * dim + k] = ps->q->kind == NITRT_QUANT_PIXELS ? quant_pixel(v) : quant_column(v, ps->q->shift[k]);
      }
    }
    ps->rows++;
  }
  return 0;
}

/* One warning for the columns that are constant after quantization. */
static void report_constant(const char *name, const int8_t *x, int64_t n, int64_t dim) {
  if (n < 2) return;
  int64_t count = 0;
  char list[160] = "";
  size_t used = 0;
  for (int64_t k = 0; k < dim; k++) {
    bool same = true;
    for (int64_t i = 1; i < n && same; i++) same = x[i * dim + k] == x[k];
    if (!same) continue;
    if (count < 8) {
      int w = snprintf(list + used, sizeof list - used, "%s%lld%s", count ? ", " : "", (long long)k + 1,
                       x[k] == 0 ? " (all zero)" : "");
      if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w;
    }
    count++;
  }
  if (count > 0)
    nitrt_warn("%s: %lld of %lld features are constant over the %lld training samples "
               "after quantization and carry no information: feature%s %s%s",
               name, (long long)count, (long long)dim, (long long)n, count > 1 ? "s" : "", list,
               count > 8 ? ", ..." : "");
}

int nitrt_csv_parse(const char *name, const uint8_t *b, size_t len, const NitModel *m, int64_t limit, bool need_labels,
                    const InputQuant *q, Dataset *d) {
  memset(d, 0, sizeof *d);
  const uint8_t *nul = memchr(b, 0, len);
  if (nul) {
    int64_t line = 1;
    for (const uint8_t *k = b; k < nul; k++) line += *k == '\n';
    nitrt_error("%s:%lld: NUL byte at offset %lld: expected CSV text", name, (long long)line, (long long)(nul - b));
    return -1;
  }
  int64_t dim = nitrt_model_dim(m);
  Pass ps = {.name = name, .m = m, .need_labels = need_labels, .keep = limit};
  ps.amax = nitrt_alloc((size_t)dim * sizeof *ps.amax);
  if (!ps.amax) return -1;
  int rc = -1;
  if (scan(b, len, &ps)) goto out;
  if (ps.rows == 0) {
    nitrt_error("%s: no samples", name);
    goto out;
  }
  int64_t total = ps.rows, n = limit > 0 && limit < total ? limit : total;
  if (q && q->kind == NITRT_QUANT_COLUMNS && q->ncols != dim) {
    nitrt_error("%s: the quantization has %lld columns, the model %lld features", name, (long long)q->ncols,
                (long long)dim);
    goto out;
  }
  if (q) {
    if (nitrt_quant_copy(&d->q, q)) goto out;
  } else {
    d->q.kind = NITRT_QUANT_COLUMNS;
    d->q.in_exp = NITRT_IN_EXP;
    d->q.ncols = dim;
    d->q.shift = nitrt_alloc((size_t)dim);
    if (!d->q.shift) goto out;
    for (int64_t k = 0; k < dim; k++) d->q.shift[k] = (int8_t)column_shift(ps.amax[k]);
  }
  d->x = nitrt_alloc((size_t)(n * dim));
  if (need_labels) d->y = nitrt_alloc((size_t)n * sizeof *d->y);
  if (!d->x || (need_labels && !d->y)) goto out;
  ps.keep = n;
  ps.q = &d->q;
  ps.x = d->x;
  ps.y = d->y;
  if (scan(b, len, &ps)) /* cannot fail after pass 1; kept for safety */
    goto out;
  d->n = n;
  d->c = m->in_c, d->h = m->in_h, d->w = m->in_w;
  d->print.format = NITRT_FMT_CSV;
  d->print.n = total;
  d->print.hash = nitrt_hash64(0, b, len);
  if (!q) report_constant(name, d->x, n, dim);
  rc = 0;
out:
  free(ps.amax);
  if (rc) nitrt_data_free(d);
  return rc;
}

int nitrt_load_csv(const char *path, const NitModel *m, int64_t limit, bool need_labels, const InputQuant *q,
                   Dataset *d) {
  memset(d, 0, sizeof *d);
  uint8_t *b = NULL;
  size_t len = 0;
  if (nitrt_read_data(path, need_labels ? "a data file" : "an input file", &b, &len)) return -1;
  int rc = nitrt_csv_parse(path, b, len, m, limit, need_labels, q, d);
  free(b);
  return rc;
}
