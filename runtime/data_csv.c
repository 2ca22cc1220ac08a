/*
 * data_csv.c: CSV text, label first, then C*H*W features per line.
 *
 * Features are read as decimal fixed point (6 fraction digits, no floats).
 * Files whose features are all integers in 0..255 are treated as pixels;
 * otherwise one exponent s is chosen for the whole training set: the
 * smallest s with max|v| * 2^-s <= 127, x = round(v * 2^-s) half away
 * from zero; the test set reuses the training set's exponent (saturating).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitrt.h"

/* ---------------------------------------------------------------- CSV */

#define MICRO 1000000ll
#define CSV_MAX 9000000000000000000ll /* |value| * 10^6 must stay below this */

/* One decimal number (sign, digits, '.', digits, e/E exponent) as value*10^6,
 * rounded half away from zero. *p advances. 0 or -1 (not a number / too big). */
static int parse_micro(const char **pp, int64_t *out) {
  const char *p = *pp;
  while (*p == ' ' || *p == '\t')
    p++;
  bool neg = false;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  int64_t mant = 0;
  int scale = 6; /* result = mant * 10^scale */
  int digits = 0, sig = 0;
  for (; *p >= '0' && *p <= '9'; p++, digits++) {
    if (sig < 18) {
      mant = mant * 10 + (*p - '0');
      if (mant)
        sig++;
    } else {
      scale++;
    }
  }
  if (*p == '.') {
    p++;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
      if (sig < 18) {
        mant = mant * 10 + (*p - '0');
        if (mant)
          sig++;
        scale--;
      }
  }
  if (digits == 0)
    return -1;
  if (*p == 'e' || *p == 'E') {
    p++;
    bool eneg = false;
    if (*p == '+' || *p == '-')
      eneg = *p++ == '-';
    int e = 0, ed = 0;
    for (; *p >= '0' && *p <= '9'; p++, ed++)
      if (e < 10000)
        e = e * 10 + (*p - '0');
    if (ed == 0)
      return -1;
    scale += eneg ? -e : e;
  }
  while (*p == ' ' || *p == '\t' || *p == '\r')
    p++;
  for (; scale > 0 && mant; scale--) {
    if (mant > CSV_MAX / 10)
      return -1;
    mant *= 10;
  }
  if (scale < 0) {
    if (scale < -19)
      mant = 0;
    else {
      int64_t div = 1;
      for (int k = 0; k < -scale - 1; k++)
        div *= 10;
      mant = (mant / div + 5) / 10; /* round half away from zero */
    }
  }
  *out = neg ? -mant : mant;
  *pp = p;
  return 0;
}

/* x = round(v * 2^-s / 10^6), half away from zero, saturated to [-127, 127]. */
static int8_t quant_fixed(int64_t v, int32_t s) {
  int64_t a = v < 0 ? -v : v, q;
  if (s <= 0) {
    if (a > (CSV_MAX >> -s))
      q = 127;
    else
      q = ((a << -s) + MICRO / 2) / MICRO;
  } else {
    int64_t den = s > 40 ? INT64_MAX : MICRO << s;
    q = (a + den / 2) / den;
  }
  if (q > 127)
    q = 127;
  return (int8_t)(v < 0 ? -q : q);
}

static int8_t quant_pixel(int64_t v) {
  int64_t q = v / (2 * MICRO); /* p >> 1 for integer pixels 0..255 */
  if (v < 0)
    q = -((-v) / (2 * MICRO));
  if (q > 127)
    q = 127;
  if (q < -127)
    q = -127;
  return (int8_t)q;
}

int nitrt_load_csv(const char *path, const NitModel *m, int64_t limit, const Dataset *exp_from,
                   Dataset *d) {
  memset(d, 0, sizeof *d);
  uint8_t *buf = NULL;
  size_t len = 0;
  int64_t *v = NULL;
  int rc = -1;
  if (nitrt_read_file(path, &buf, &len))
    return -1;
  int64_t dim = nitrt_model_dim(m);
  int64_t maxrows = 1;
  for (size_t i = 0; i < len; i++)
    maxrows += buf[i] == '\n';
  if (limit > 0 && limit < maxrows)
    maxrows = limit;
  v = nitrt_alloc((size_t)(maxrows * dim) * sizeof *v);
  d->y = nitrt_alloc((size_t)maxrows * sizeof *d->y);
  if (!v || !d->y)
    goto out;
  char *text = (char *)buf; /* NUL-terminated by nitrt_read_file's extra byte */
  int64_t n = 0, line = 0, amax = 0;
  bool pixels = true;
  for (char *p = text; *p && n < maxrows;) {
    char *end = strchr(p, '\n');
    if (end)
      *end = '\0';
    line++;
    char *s = p;
    p = end ? end + 1 : p + strlen(p);
    while (*s == ' ' || *s == '\t' || *s == '\r')
      s++;
    if (*s == '\0' || *s == '#')
      continue;
    const char *q = s;
    int64_t lab;
    if (parse_micro(&q, &lab) || (*q != ',' && *q != '\0')) {
      if (n == 0 && line == 1)
        continue; /* a header line */
      nitrt_error("%s:%lld: expected a label, got '%.20s'", path, (long long)line, s);
      goto out;
    }
    if (lab % MICRO != 0 || lab < 0 || lab / MICRO >= m->classes) {
      nitrt_error("%s:%lld: label %.*s is out of range: the model has %d classes "
                  "(labels 0..%d)",
                  path, (long long)line, (int)(q - s), s, m->classes, m->classes - 1);
      goto out;
    }
    d->y[n] = (int32_t)(lab / MICRO);
    int64_t k = 0;
    while (*q == ',') {
      q++;
      int64_t x;
      if (parse_micro(&q, &x) || (*q != ',' && *q != '\0')) {
        nitrt_error("%s:%lld: feature %lld is not a decimal number", path, (long long)line,
                    (long long)k + 1);
        goto out;
      }
      if (k < dim)
        v[n * dim + k] = x;
      k++;
      if (x % MICRO != 0 || x < 0 || x > 255 * MICRO)
        pixels = false;
      int64_t a = x < 0 ? -x : x;
      if (a > amax)
        amax = a;
    }
    if (k != dim) {
      nitrt_error("%s:%lld: %lld features but the model expects %lld (%dx%dx%d)", path,
                  (long long)line, (long long)k, (long long)dim, m->in_c, m->in_h, m->in_w);
      goto out;
    }
    n++;
  }
  if (n == 0) {
    nitrt_error("%s: no samples", path);
    goto out;
  }
  int32_t s = -7;
  if (exp_from) {
    pixels = exp_from->pixels;
    s = exp_from->in_exp;
  } else if (!pixels) {
    /* smallest s with amax * 2^-s <= 127 (amax in units of 10^-6) */
    const int64_t lim = 127 * MICRO;
    s = 0;
    if (amax == 0)
      s = -7;
    else if (amax > lim)
      while ((lim << s) < amax)
        s++;
    else
      while (s > -40 && amax <= lim >> (1 - s))
        s--;
  }
  d->x = nitrt_alloc((size_t)(n * dim));
  if (!d->x)
    goto out;
  for (int64_t i = 0; i < n * dim; i++)
    d->x[i] = pixels ? quant_pixel(v[i]) : quant_fixed(v[i], s);
  d->n = n;
  d->c = m->in_c, d->h = m->in_h, d->w = m->in_w;
  d->in_exp = s;
  d->pixels = pixels;
  rc = 0;
out:
  free(buf);
  free(v);
  if (rc)
    nitrt_data_free(d);
  return rc;
}

