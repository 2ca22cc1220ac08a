/*
 * data.c: data sets into memory, validated against the model and quantized
 * to int8 once, at load time.
 *
 * Formats (chosen by which files DIR holds):
 *   idx      train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-... (MNIST,
 *            Fashion-MNIST); images (N, H, W) or (N, C, H, W) ubyte, labels (N)
 *   CIFAR-10 data_batch_1.bin .. data_batch_5.bin, test_batch.bin; records of
 *            1 label byte + C*H*W pixel bytes (channel-major)
 *   CSV      train.csv, test.csv; label, then C*H*W features per line
 *
 * Quantization: 8-bit pixels p become x = p >> 1 at exponent -7 (value about
 * p / 256). CSV files whose features are all integers in 0..255 are treated
 * as pixels. Otherwise features are read as decimal fixed point (6 fraction
 * digits, no floats) and quantized with one exponent s for the whole training
 * set: the smallest s with max|v| * 2^-s <= 127, x = round(v * 2^-s) half away
 * from zero; the test set reuses the training set's exponent (saturating).
 *
 * Every problem is one error naming the file: missing, truncated, wrong
 * magic, shape or count mismatch, label out of range.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitrt.h"

void nitrt_data_free(Dataset *d) {
  free(d->x);
  free(d->y);
  memset(d, 0, sizeof *d);
}

static int64_t model_dim(const NitModel *m) {
  return (int64_t)m->in_c * m->in_h * m->in_w;
}

static int check_shape(const char *path, int32_t c, int32_t h, int32_t w, const NitModel *m) {
  if (c == m->in_c && h == m->in_h && w == m->in_w)
    return 0;
  nitrt_error("%s: images are %dx%dx%d but the model expects %dx%dx%d", path, c, h, w,
              m->in_c, m->in_h, m->in_w);
  return -1;
}

static int check_labels(const char *path, const int32_t *y, int64_t n, const NitModel *m) {
  for (int64_t i = 0; i < n; i++)
    if (y[i] < 0 || y[i] >= m->classes) {
      nitrt_error("%s: label %d of sample %lld is out of range: the model has %d classes",
                  path, y[i], (long long)i, m->classes);
      return -1;
    }
  return 0;
}

/* ---------------------------------------------------------------- idx */

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parse an idx header; dims[0..ndims). Returns the data offset or -1. */
static int64_t idx_header(const char *path, const uint8_t *b, size_t len, int want_lo,
                          int want_hi, uint32_t *dims, int *ndims) {
  if (len < 4) {
    nitrt_error("%s: truncated: %zu bytes, too short for an idx header", path, len);
    return -1;
  }
  uint32_t magic = be32(b);
  int nd = b[3];
  if (b[0] != 0 || b[1] != 0 || b[2] != 0x08 || nd < want_lo || nd > want_hi) {
    if (want_lo == want_hi)
      nitrt_error("%s: wrong magic 0x%08x: expected an idx ubyte file with %d dimension%s "
                  "(0x%08x)",
                  path, magic, want_lo, want_lo == 1 ? "" : "s", 0x800u + (unsigned)want_lo);
    else
      nitrt_error("%s: wrong magic 0x%08x: expected an idx ubyte image file (0x%08x or "
                  "0x%08x)",
                  path, magic, 0x800u + (unsigned)want_lo, 0x800u + (unsigned)want_hi);
    return -1;
  }
  size_t hdr = 4 + 4 * (size_t)nd;
  if (len < hdr) {
    nitrt_error("%s: truncated: %zu bytes, the header alone needs %zu", path, len, hdr);
    return -1;
  }
  uint64_t total = 1;
  for (int i = 0; i < nd; i++) {
    dims[i] = be32(b + 4 + 4 * i);
    total *= dims[i];
    if (total > ((uint64_t)1 << 40)) {
      nitrt_error("%s: implausible dimensions in the header", path);
      return -1;
    }
  }
  if (len - hdr < total) {
    nitrt_error("%s: truncated: the header promises %llu bytes of data, the file has %zu",
                path, (unsigned long long)total, len - hdr);
    return -1;
  }
  if (len - hdr > total) {
    nitrt_error("%s: %zu bytes of trailing data after the %llu the header describes", path,
                len - hdr - (size_t)total, (unsigned long long)total);
    return -1;
  }
  *ndims = nd;
  return (int64_t)hdr;
}

int nitrt_load_idx(const char *images, const char *labels, const NitModel *m, int64_t limit,
                   Dataset *d) {
  memset(d, 0, sizeof *d);
  uint8_t *ib = NULL, *lb = NULL;
  size_t il = 0, ll = 0;
  uint32_t idims[4] = {0}, ldims[4] = {0};
  int ind = 0, lnd = 0;
  int rc = -1;
  if (nitrt_read_file(images, &ib, &il))
    goto out;
  int64_t ioff = idx_header(images, ib, il, 3, 4, idims, &ind);
  if (ioff < 0)
    goto out;
  int32_t c = ind == 4 ? (int32_t)idims[1] : 1;
  int32_t h = (int32_t)idims[ind - 2], w = (int32_t)idims[ind - 1];
  if (check_shape(images, c, h, w, m))
    goto out;
  int64_t n = idims[0];
  int64_t loff = 0;
  if (labels) {
    if (nitrt_read_file(labels, &lb, &ll))
      goto out;
    loff = idx_header(labels, lb, ll, 1, 1, ldims, &lnd);
    if (loff < 0)
      goto out;
    if ((int64_t)ldims[0] != n) {
      nitrt_error("%s: %u labels but %s has %lld images", labels, ldims[0], images,
                  (long long)n);
      goto out;
    }
  }
  if (n == 0) {
    nitrt_error("%s: no images", images);
    goto out;
  }
  if (limit > 0 && limit < n)
    n = limit;
  int64_t dim = model_dim(m);
  d->n = n;
  d->c = c, d->h = h, d->w = w;
  d->in_exp = -7;
  d->pixels = true;
  d->x = nitrt_alloc((size_t)(n * dim));
  if (!d->x)
    goto out;
  const uint8_t *px = ib + ioff;
  for (int64_t i = 0; i < n * dim; i++)
    d->x[i] = (int8_t)(px[i] >> 1);
  if (labels) {
    d->y = nitrt_alloc((size_t)n * sizeof *d->y);
    if (!d->y)
      goto out;
    for (int64_t i = 0; i < n; i++)
      d->y[i] = lb[loff + i];
    if (check_labels(labels, d->y, n, m))
      goto out;
  }
  rc = 0;
out:
  free(ib);
  free(lb);
  if (rc)
    nitrt_data_free(d);
  return rc;
}

/* -------------------------------------------------------------- CIFAR */

int nitrt_load_cifar(const char *const *files, int nfiles, const NitModel *m, int64_t limit,
                     Dataset *d) {
  memset(d, 0, sizeof *d);
  if (check_shape(files[0], 3, 32, 32, m))
    return -1;
  const int64_t dim = 3 * 32 * 32, rec = dim + 1;
  int64_t total = 0;
  for (int f = 0; f < nfiles; f++) {
    struct stat st;
    if (stat(files[f], &st) != 0) {
      nitrt_error("%s: missing (a CIFAR-10 binary set needs data_batch_1.bin .. "
                  "data_batch_5.bin and test_batch.bin)",
                  files[f]);
      return -1;
    }
    if (st.st_size == 0 || st.st_size % rec != 0) {
      nitrt_error("%s: truncated or not a CIFAR-10 binary batch: %lld bytes is not a "
                  "positive multiple of the %lld-byte record",
                  files[f], (long long)st.st_size, (long long)rec);
      return -1;
    }
    total += st.st_size / rec;
  }
  int64_t n = limit > 0 && limit < total ? limit : total;
  d->n = n;
  d->c = 3, d->h = 32, d->w = 32;
  d->in_exp = -7;
  d->pixels = true;
  d->x = nitrt_alloc((size_t)(n * dim));
  d->y = nitrt_alloc((size_t)n * sizeof *d->y);
  if (!d->x || !d->y) {
    nitrt_data_free(d);
    return -1;
  }
  int64_t i = 0;
  for (int f = 0; f < nfiles && i < n; f++) {
    uint8_t *b = NULL;
    size_t len = 0;
    if (nitrt_read_file(files[f], &b, &len)) {
      nitrt_data_free(d);
      return -1;
    }
    if (len == 0 || len % (size_t)rec != 0) { /* changed under us */
      nitrt_error("%s: truncated CIFAR-10 batch", files[f]);
      free(b);
      nitrt_data_free(d);
      return -1;
    }
    int64_t start = i;
    for (size_t r = 0; r < len / (size_t)rec && i < n; r++, i++) {
      const uint8_t *p = b + r * (size_t)rec;
      d->y[i] = p[0];
      for (int64_t k = 0; k < dim; k++)
        d->x[i * dim + k] = (int8_t)(p[1 + k] >> 1);
    }
    free(b);
    if (check_labels(files[f], d->y + start, i - start, m)) {
      nitrt_data_free(d);
      return -1;
    }
  }
  return 0;
}

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
  int64_t dim = model_dim(m);
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

/* ---------------------------------------------------------------- raw */

int nitrt_load_raw(const char *path, const NitModel *m, Dataset *d) {
  memset(d, 0, sizeof *d);
  uint8_t *b = NULL;
  size_t len = 0;
  if (nitrt_read_file(path, &b, &len))
    return -1;
  int64_t dim = model_dim(m);
  if (len == 0 || len % (size_t)dim != 0) {
    nitrt_error("%s: %zu bytes is not a positive multiple of the model's input size %lld "
                "(%dx%dx%d 8-bit values)",
                path, len, (long long)dim, m->in_c, m->in_h, m->in_w);
    free(b);
    return -1;
  }
  d->n = (int64_t)len / dim;
  d->c = m->in_c, d->h = m->in_h, d->w = m->in_w;
  d->in_exp = -7;
  d->pixels = true;
  d->x = nitrt_alloc(len);
  if (!d->x) {
    free(b);
    return -1;
  }
  for (size_t i = 0; i < len; i++)
    d->x[i] = (int8_t)(b[i] >> 1);
  free(b);
  return 0;
}

/* ---------------------------------------------------------- directory */

#define PATH_CAP 4200

/* out = a + sep + b; paths longer than PATH_CAP are cut (and then missing). */
static char *join(char *out, const char *a, const char *sep, const char *b) {
  size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
  if (la > PATH_CAP - 1)
    la = PATH_CAP - 1;
  if (ls > PATH_CAP - 1 - la)
    ls = PATH_CAP - 1 - la;
  if (lb > PATH_CAP - 1 - la - ls)
    lb = PATH_CAP - 1 - la - ls;
  memcpy(out, a, la);
  memcpy(out + la, sep, ls);
  memcpy(out + la + ls, b, lb);
  out[la + ls + lb] = '\0';
  return out;
}

/* First of `names` that exists in dir, into out; else names[0] and false. */
static bool find_in(const char *dir, const char *const *names, char *out) {
  for (int i = 0; names[i]; i++)
    if (nitrt_exists(join(out, dir, "/", names[i])))
      return true;
  join(out, dir, "/", names[0]);
  return false;
}

static bool gz_exists(const char *path) {
  char gz[PATH_CAP];
  return nitrt_exists(join(gz, path, "", ".gz"));
}

static int need(const char *dir, const char *const *names, char *out) {
  if (find_in(dir, names, out))
    return 0;
  if (gz_exists(out))
    nitrt_error("%s.gz: compressed files are not read directly; gunzip it first "
                "(scripts/fetch-data does)",
                out);
  else
    nitrt_error("%s: missing", out);
  return -1;
}

int nitrt_load_dir(const char *dir, const NitModel *m, int64_t limit, int64_t test_limit,
                   Dataset *train, Dataset *test) {
  static const char *const TRI[] = {"train-images-idx3-ubyte", "train-images-idx4-ubyte",
                                    "train-images.idx3-ubyte", NULL};
  static const char *const TRL[] = {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte", NULL};
  static const char *const TEI[] = {"t10k-images-idx3-ubyte", "t10k-images-idx4-ubyte",
                                    "t10k-images.idx3-ubyte", NULL};
  static const char *const TEL[] = {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", NULL};
  static char a[PATH_CAP], b[PATH_CAP], probe[PATH_CAP], sub[PATH_CAP];
  static char names[5][PATH_CAP];
  struct stat st;
  if (train)
    memset(train, 0, sizeof *train);
  if (test)
    memset(test, 0, sizeof *test);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    nitrt_error("%s: no such data directory", dir);
    return -1;
  }
  bool idx = find_in(dir, TRI, probe) || gz_exists(probe) || find_in(dir, TEI, probe);
  if (idx) {
    if (train && (need(dir, TRI, a) || need(dir, TRL, b) ||
                  nitrt_load_idx(a, b, m, limit, train)))
      goto fail;
    if (test && (need(dir, TEI, a) || need(dir, TEL, b) ||
                 nitrt_load_idx(a, b, m, test_limit, test)))
      goto fail;
    return 0;
  }
  const char *cdir = NULL;
  join(sub, dir, "/", "cifar-10-batches-bin");
  if (nitrt_exists(join(probe, dir, "/", "data_batch_1.bin")))
    cdir = dir;
  else if (nitrt_exists(join(probe, sub, "/", "data_batch_1.bin")))
    cdir = sub;
  if (cdir) {
    const char *files[5];
    for (int i = 0; i < 5; i++) {
      char nm[32];
      snprintf(nm, sizeof nm, "data_batch_%d.bin", i + 1);
      files[i] = join(names[i], cdir, "/", nm);
    }
    if (train && nitrt_load_cifar(files, 5, m, limit, train))
      goto fail;
    const char *tf[1] = {join(a, cdir, "/", "test_batch.bin")};
    if (test && nitrt_load_cifar(tf, 1, m, test_limit, test))
      goto fail;
    return 0;
  }
  if (nitrt_exists(join(a, dir, "/", "train.csv"))) {
    if (train && nitrt_load_csv(a, m, limit, NULL, train))
      goto fail;
    join(b, dir, "/", "test.csv");
    if (test && !nitrt_exists(b)) {
      nitrt_error("%s: missing", b);
      goto fail;
    }
    /* the test set is quantized like the training set; eval loads only the
       test set, so it reads the training set's exponent first */
    Dataset tmp = {0};
    const Dataset *from = train;
    if (test && !train) {
      if (nitrt_load_csv(a, m, limit, NULL, &tmp))
        goto fail;
      from = &tmp;
    }
    int rc = test ? nitrt_load_csv(b, m, test_limit, from, test) : 0;
    nitrt_data_free(&tmp);
    if (rc)
      goto fail;
    return 0;
  }
  nitrt_error("%s: no data set found: expected train-images-idx3-ubyte (idx), "
              "data_batch_1.bin (CIFAR-10 binary) or train.csv",
              dir);
fail:
  if (train)
    nitrt_data_free(train);
  if (test)
    nitrt_data_free(test);
  return -1;
}

void nitrt_shuffle(uint32_t *perm, int64_t n, uint64_t seed, uint64_t epoch) {
  for (int64_t i = 0; i < n; i++)
    perm[i] = (uint32_t)i;
  uint64_t key = nit_key(seed, epoch, NIT_TID_SHUFFLE);
  for (int64_t i = n - 1; i >= 1; i--) {
    uint64_t j = nit_draw(key, (uint64_t)i) % (uint64_t)(i + 1);
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}
