/*
 * data_cifar.c: CIFAR-10 binary batches: records of 1 label byte and
 * C*H*W pixel bytes, channel-major; pixels become x = p >> 1 at -7.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitrt.h"

/* -------------------------------------------------------------- CIFAR */

int nitrt_load_cifar(const char *const *files, int nfiles, const NitModel *m, int64_t limit,
                     Dataset *d) {
  memset(d, 0, sizeof *d);
  if (nitrt_check_shape(files[0], 3, 32, 32, m))
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
    if (nitrt_check_labels(files[f], d->y + start, i - start, m)) {
      nitrt_data_free(d);
      return -1;
    }
  }
  return 0;
}

