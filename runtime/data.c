/*
 * data.c: what every data format shares. The model-facing checks (input
 * shape, label range), choosing the format from the files a directory
 * holds, and the data order of an epoch. The formats themselves live in
 * data_idx.c (idx and raw), data_cifar.c and data_csv.c.
 *
 * Every problem is one error naming the file: missing, truncated, wrong
 * magic, shape or count mismatch, label out of range, not a regular file.
 *
 * Each loaded set also records what it was: its format, its sample count
 * and a content hash of its files (DataPrint), and how it was quantized
 * (InputQuant). Checkpoints keep both, so eval and predict quantize new data
 * exactly like the training data and notice when the data set changed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitrt.h"

const char *nitrt_format_name(int32_t format) {
  switch (format) {
  case NITRT_FMT_IDX: return "idx";
  case NITRT_FMT_CIFAR: return "CIFAR-10 binary";
  case NITRT_FMT_CSV: return "CSV";
  case NITRT_FMT_RAW: return "raw";
  default: return "unknown";
  }
}

void nitrt_quant_pixels(InputQuant *q) {
  memset(q, 0, sizeof *q);
  q->kind = NITRT_QUANT_PIXELS;
  q->in_exp = NITRT_IN_EXP;
}

int nitrt_quant_copy(InputQuant *dst, const InputQuant *src) {
  *dst = *src;
  dst->shift = NULL;
  if (src->kind == NITRT_QUANT_COLUMNS) {
    dst->shift = nitrt_alloc((size_t)src->ncols);
    if (!dst->shift) return -1;
    memcpy(dst->shift, src->shift, (size_t)src->ncols);
  }
  return 0;
}

void nitrt_quant_free(InputQuant *q) {
  free(q->shift);
  memset(q, 0, sizeof *q);
}

int nitrt_quant_want_pixels(const char *path, int32_t format, const InputQuant *q) {
  if (!q || q->kind == NITRT_QUANT_PIXELS) return 0;
  nitrt_error("%s: holds 8-bit %s pixels, but the model was trained on CSV features "
              "scaled per column: its inputs would be on another scale (give CSV data "
              "like the training set's)",
              path, nitrt_format_name(format));
  return -1;
}

/* Eight bytes at a time, little-endian, the tail zero-padded; the length
 * goes in first, so buffers that differ only in trailing zeros differ. In
 * three parts so that a file can be hashed chunk by chunk (nitrt_src_scan):
 * every chunk but the last a multiple of 8 bytes. */
uint64_t nitrt_hash64_begin(uint64_t h, size_t n) { return nit_mix64(h ^ ((uint64_t)n + NIT_GOLDEN)); }

uint64_t nitrt_hash64_words(uint64_t h, const uint8_t *p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) h = nit_mix64(h ^ nitrt_le64(p + i)) + NIT_GOLDEN;
  if (i < n) { /* the last word, zero-padded */
    uint64_t w = 0;
    for (size_t k = 0; i + k < n; k++) w |= (uint64_t)p[i + k] << (8 * k);
    h = nit_mix64(h ^ w) + NIT_GOLDEN;
  }
  return h;
}

uint64_t nitrt_hash64(uint64_t h, const uint8_t *p, size_t n) {
  return nit_mix64(nitrt_hash64_words(nitrt_hash64_begin(h, n), p, n));
}

/* ------------------------------------------------------------- sources */

int nitrt_src_file(DataSrc *s, const char *path, const char *what) {
  memset(s, 0, sizeof *s);
  s->name = path;
  s->fd = -1;
  if (nitrt_gz_name(path)) {
    size_t n = 0;
    if (nitrt_read_data(path, what, &s->owned, &n)) return -1;
    s->mem = s->owned;
    s->len = (int64_t)n;
    return 0;
  }
  s->fd = nitrt_open_regular(path, what, &s->len);
  return s->fd < 0 ? -1 : 0;
}

DataSrc nitrt_src_mem(const char *name, const uint8_t *b, size_t len) {
  return (DataSrc){.name = name, .mem = b, .fd = -1, .len = (int64_t)len};
}

void nitrt_src_close(DataSrc *s) {
  if (s->fd >= 0) nitrt_close(s->fd);
  s->fd = -1;
  free(s->owned);
  s->owned = NULL;
  s->mem = NULL;
}

int nitrt_src_read(const DataSrc *s, int64_t off, uint8_t *dst, size_t n) {
  if (n == 0) return 0;
  if (s->fd < 0) {
    memcpy(dst, s->mem + off, n);
    return 0;
  }
  return nitrt_pread_all(s->fd, s->name, off, dst, n);
}

int nitrt_src_scan(const DataSrc *s, int64_t unit, uint64_t *hash, SrcChunk each, void *env) {
  *hash = nitrt_hash64_begin(*hash, (size_t)s->len);
  int64_t step = (int64_t)1 << 20;
  step -= step % (8 * unit); /* chunks of whole units and whole hash words */
  if (step <= 0) step = 8 * unit;
  bool mem = s->fd < 0;
  uint8_t *buf = mem ? NULL : nitrt_alloc((size_t)(s->len < step ? s->len : step) + 1);
  if (!mem && !buf) return -1;
  int rc = 0;
  for (int64_t off = 0; off < s->len && !rc; off += step) {
    size_t n = (size_t)(s->len - off < step ? s->len - off : step);
    const uint8_t *p = mem ? s->mem + off : buf;
    if (!mem && nitrt_src_read(s, off, buf, n)) rc = -1;
    else {
      *hash = nitrt_hash64_words(*hash, p, n);
      rc = each(env, off, p, n);
    }
  }
  free(buf);
  *hash = nit_mix64(*hash);
  return rc;
}

bool nitrt_print_same(const DataPrint *a, const DataPrint *b) {
  return a->format == b->format && a->n == b->n && a->hash == b->hash;
}

char *nitrt_print_desc(char *buf, const DataPrint *p) {
  snprintf(buf, 96, "%s, %lld samples, content 0x%016llx", nitrt_format_name(p->format), (long long)p->n,
           (unsigned long long)p->hash);
  return buf;
}

void nitrt_data_free(Dataset *d) {
  free(d->x);
  free(d->y);
  nitrt_quant_free(&d->q);
  memset(d, 0, sizeof *d);
}

int64_t nitrt_model_dim(const NitModel *m) { return (int64_t)m->in_c * m->in_h * m->in_w; }

int32_t nitrt_data_nonneg(const int8_t *x, int64_t count) {
  uint8_t any = 0; /* the sign bits of every byte, or'ed: a loop the compiler vectorizes */
  for (int64_t i = 0; i < count; i++) any |= (uint8_t)x[i];
  return !(any & 0x80);
}

int nitrt_check_shape(const char *path, int32_t c, int32_t h, int32_t w, const NitModel *m) {
  if (c == m->in_c && h == m->in_h && w == m->in_w) return 0;
  /* A vector input (`input x[N]`, shape (N, 1, 1)) takes images of N
   * values: an image's bytes in (C, H, W) order are that vector. */
  if (m->in_h == 1 && m->in_w == 1 && (int64_t)c * h * w == m->in_c) return 0;
  nitrt_error("%s: images are %dx%dx%d but the model expects %dx%dx%d", path, c, h, w, m->in_c, m->in_h, m->in_w);
  return -1;
}

int nitrt_check_labels(const char *path, const int32_t *y, int64_t n, const NitModel *m) {
  for (int64_t i = 0; i < n; i++)
    if (y[i] < 0 || y[i] >= m->classes) {
      nitrt_error("%s: label %d of sample %lld is out of range: the model has %d classes", path, y[i], (long long)i,
                  m->classes);
      return -1;
    }
  return 0;
}

/* ---------------------------------------------------------- directory */

#define PATH_CAP 4200

/* out = a + sep + b; paths longer than PATH_CAP are cut (and then missing). */
static char *join(char *out, const char *a, const char *sep, const char *b) {
  size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
  if (la > PATH_CAP - 1) la = PATH_CAP - 1;
  if (ls > PATH_CAP - 1 - la) ls = PATH_CAP - 1 - la;
  if (lb > PATH_CAP - 1 - la - ls) lb = PATH_CAP - 1 - la - ls;
  memcpy(out, a, la);
  memcpy(out + la, sep, ls);
  memcpy(out + la + ls, b, lb);
  out[la + ls + lb] = '\0';
  return out;
}

/* The first of `names` that exists in dir, plain before compressed (.gz,
 * which data_gz.c reads), into out; else dir/names[0] and false. */
static bool find_in(const char *dir, const char *const *names, char *out) {
  char plain[PATH_CAP];
  for (int gz = 0; gz < 2; gz++)
    for (int i = 0; names[i]; i++)
      if (nitrt_exists(join(out, join(plain, dir, "/", names[i]), "", gz ? ".gz" : ""))) return true;
  join(out, dir, "/", names[0]);
  return false;
}

/* dir/name, or dir/name.gz when only that exists, into out; false when
 * neither exists (out: dir/name). */
static bool pick(const char *dir, const char *name, char *out) {
  const char *const names[] = {name, NULL};
  return find_in(dir, names, out);
}

static int need(const char *dir, const char *const *names, char *out) {
  if (find_in(dir, names, out)) return 0;
  nitrt_error("%s: missing", out);
  return -1;
}

int nitrt_load_dir(const char *dir, const NitModel *m, int64_t limit, int64_t test_limit, const InputQuant *q,
                   Dataset *train, Dataset *test) {
  static const char *const TRI[] = {"train-images-idx3-ubyte", "train-images-idx4-ubyte", "train-images.idx3-ubyte",
                                    NULL};
  static const char *const TRL[] = {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte", NULL};
  static const char *const TEI[] = {"t10k-images-idx3-ubyte", "t10k-images-idx4-ubyte", "t10k-images.idx3-ubyte", NULL};
  static const char *const TEL[] = {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", NULL};
  static char a[PATH_CAP], b[PATH_CAP], probe[PATH_CAP], sub[PATH_CAP];
  static char names[5][PATH_CAP];
  struct stat st;
  if (train) memset(train, 0, sizeof *train);
  if (test) memset(test, 0, sizeof *test);
  if (stat(dir, &st) != 0) {
    nitrt_error("%s: no such data directory", dir);
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    nitrt_error("%s: not a directory: --data takes the directory that holds the data "
                "files",
                dir);
    return -1;
  }
  bool idx = find_in(dir, TRI, probe) || find_in(dir, TEI, probe);
  if (idx) {
    if (train && (need(dir, TRI, a) || need(dir, TRL, b) || nitrt_quant_want_pixels(a, NITRT_FMT_IDX, q) ||
                  nitrt_load_idx(a, b, m, limit, train)))
      goto fail;
    if (test && (need(dir, TEI, a) || need(dir, TEL, b) || nitrt_quant_want_pixels(a, NITRT_FMT_IDX, q) ||
                 nitrt_load_idx(a, b, m, test_limit, test)))
      goto fail;
    return 0;
  }
  const char *cdir = NULL;
  join(sub, dir, "/", "cifar-10-batches-bin");
  if (nitrt_exists(join(probe, dir, "/", "data_batch_1.bin"))) cdir = dir;
  else if (nitrt_exists(join(probe, sub, "/", "data_batch_1.bin"))) cdir = sub;
  if (cdir) {
    const char *files[5];
    for (int i = 0; i < 5; i++) {
      char nm[32];
      snprintf(nm, sizeof nm, "data_batch_%d.bin", i + 1);
      files[i] = join(names[i], cdir, "/", nm);
    }
    if (nitrt_quant_want_pixels(files[0], NITRT_FMT_CIFAR, q)) goto fail;
    if (train && nitrt_load_cifar(files, 5, m, limit, train)) goto fail;
    const char *tf[1] = {join(a, cdir, "/", "test_batch.bin")};
    if (test && nitrt_load_cifar(tf, 1, m, test_limit, test)) goto fail;
    return 0;
  }
  bool has_a = pick(dir, "train.csv", a), has_b = pick(dir, "test.csv", b);
  if (has_a || (!train && has_b)) {
    /* the test set is quantized like the training set: with the shifts the
       training set gives, or the checkpoint's */
    if (train && nitrt_load_csv(a, m, limit, true, q, train)) goto fail;
    if (test && !has_b) {
      nitrt_error("%s: missing", b);
      goto fail;
    }
    const InputQuant *tq = train ? &train->q : q;
    if (test && !tq) {
      nitrt_error("%s: CSV test data needs the training set's per-column scaling, and the "
                  "checkpoint does not record it (a checkpoint of format 1): resume or "
                  "retrain with this runtime",
                  b);
      goto fail;
    }
    if (test && nitrt_load_csv(b, m, test_limit, true, tq, test)) goto fail;
    return 0;
  }
  nitrt_error("%s: no data set found: expected train-images-idx3-ubyte (idx), "
              "data_batch_1.bin (CIFAR-10 binary) or train.csv (idx and CSV files may be .gz)",
              dir);
fail:
  if (train) nitrt_data_free(train);
  if (test) nitrt_data_free(test);
  return -1;
}

void nitrt_shuffle(uint32_t *perm, int64_t n, uint64_t seed, uint64_t epoch) {
  for (int64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
  uint64_t key = nit_key(seed, epoch, NIT_TID_SHUFFLE);
  for (int64_t i = n - 1; i >= 1; i--) {
    uint64_t j = nit_draw(key, (uint64_t)i) % (uint64_t)(i + 1);
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}
