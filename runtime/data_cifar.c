/*
 * data_cifar.c: CIFAR-10 binary batches. A batch file is a sequence of
 * records of 1 label byte and C*H*W = 3*32*32 pixel bytes, channel-major;
 * pixels become x = p >> 1 at exponent -7. A set is several files read in
 * order (data_batch_1.bin .. 5 for training, test_batch.bin for testing).
 *
 * Sizes come from the files themselves (a whole number of records, checked
 * before anything is allocated); every record's label is checked, also
 * past a --limit, so a broken file is refused whatever the limit. Files are
 * read a chunk of whole records at a time (DataSrc), never held whole.
 */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

#define CIFAR_DIM (3 * 32 * 32)
#define CIFAR_REC (CIFAR_DIM + 1)

static int check_size(const char *name, int64_t len) {
  if (len > 0 && len % CIFAR_REC == 0) return 0;
  nitrt_error("%s: truncated or not a CIFAR-10 binary batch: %lld bytes is not a "
              "positive multiple of the %d-byte record",
              name, (long long)len, CIFAR_REC);
  return -1;
}

/* The records of one file, a chunk of whole records at a time, into d from
 * sample `at` (as many as fit below d->n); every label is checked. */
typedef struct Fill {
  const char *name;
  const NitModel *m;
  Dataset *d;
  int64_t at;
} Fill;

static int records(void *env, int64_t off, const uint8_t *b, size_t len) {
  const Fill *f = env;
  int64_t recs = (int64_t)(len / CIFAR_REC), r0 = off / CIFAR_REC;
  for (int64_t r = 0; r < recs; r++) {
    const uint8_t *p = b + r * CIFAR_REC;
    if (p[0] >= f->m->classes) {
      nitrt_error("%s: label %d of sample %lld is out of range: the model has %d classes", f->name, p[0],
                  (long long)(r0 + r), f->m->classes);
      return -1;
    }
    int64_t i = f->at + r0 + r;
    if (i >= f->d->n) continue;
    f->d->y[i] = p[0];
    for (int64_t k = 0; k < CIFAR_DIM; k++) f->d->x[i * CIFAR_DIM + k] = (int8_t)(p[1 + k] >> 1);
  }
  return 0;
}

static int fill(const DataSrc *src, const NitModel *m, Dataset *d, int64_t at) {
  Fill f = {src->name, m, d, at};
  return nitrt_src_scan(src, CIFAR_REC, &d->print.hash, records, &f);
}

static int start(const char *name, const NitModel *m, int64_t total, int64_t limit, Dataset *d) {
  memset(d, 0, sizeof *d);
  if (nitrt_check_shape(name, 3, 32, 32, m)) return -1;
  int64_t n = limit > 0 && limit < total ? limit : total;
  d->n = n;
  d->c = 3, d->h = 32, d->w = 32;
  nitrt_quant_pixels(&d->q);
  d->print.format = NITRT_FMT_CIFAR;
  d->print.n = total;
  d->x = nitrt_alloc((size_t)(n * CIFAR_DIM));
  d->y = nitrt_alloc((size_t)n * sizeof *d->y);
  if (!d->x || !d->y) {
    nitrt_data_free(d);
    return -1;
  }
  return 0;
}

int nitrt_cifar_parse(const char *name, const uint8_t *b, size_t len, const NitModel *m, int64_t limit, Dataset *d) {
  memset(d, 0, sizeof *d);
  if (check_size(name, (int64_t)len) || start(name, m, (int64_t)(len / CIFAR_REC), limit, d)) return -1;
  DataSrc src = nitrt_src_mem(name, b, len);
  if (fill(&src, m, d, 0)) {
    nitrt_data_free(d);
    return -1;
  }
  return 0;
}

int nitrt_load_cifar(const char *const *files, int nfiles, const NitModel *m, int64_t limit, Dataset *d) {
  memset(d, 0, sizeof *d);
  if (nitrt_check_shape(files[0], 3, 32, 32, m)) return -1;
  int64_t total = 0;
  for (int f = 0; f < nfiles; f++) {
    if (!nitrt_exists(files[f])) {
      nitrt_error("%s: missing (a CIFAR-10 binary set needs data_batch_1.bin .. "
                  "data_batch_5.bin and test_batch.bin)",
                  files[f]);
      return -1;
    }
    int64_t size = 0;
    int fd = nitrt_open_regular(files[f], "a data file", &size);
    if (fd < 0) return -1;
    nitrt_close(fd);
    if (check_size(files[f], size)) return -1;
    total += size / CIFAR_REC;
  }
  if (start(files[0], m, total, limit, d)) return -1;
  int64_t at = 0;
  for (int f = 0; f < nfiles; f++) {
    DataSrc src;
    if (nitrt_src_file(&src, files[f], "a data file")) {
      nitrt_data_free(d);
      return -1;
    }
    /* the size may have changed since it was checked */
    int rc = check_size(files[f], src.len);
    if (!rc && at + src.len / CIFAR_REC > total) {
      nitrt_error("%s: grew while being read", files[f]);
      rc = -1;
    }
    if (!rc) rc = fill(&src, m, d, at);
    nitrt_src_close(&src);
    if (rc) {
      nitrt_data_free(d);
      return -1;
    }
    at += src.len / CIFAR_REC;
  }
  if (at < d->n) { /* shrank since it was checked */
    nitrt_error("%s: the files shrank while being read", files[0]);
    nitrt_data_free(d);
    return -1;
  }
  return 0;
}
