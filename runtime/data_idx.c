/*
 * data_idx.c: idx files (MNIST, Fashion-MNIST) and raw 8-bit samples.
 *
 * idx: a big-endian header (bytes 0, 0, 0x08 for ubyte, the number of
 * dimensions nd, then nd 32-bit dimensions), then the unsigned bytes.
 * Images are (N, H, W) or (N, C, H, W); labels (N). The file must hold
 * exactly what its header promises: the header is checked against the
 * buffer's length before anything is allocated, so allocations never
 * exceed the file's own size.
 *
 * Pixels p become x = p >> 1 at exponent -7 (value about p / 256).
 */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parse an idx header; dims[0..ndims). Returns the data offset or -1. */
static int64_t idx_header(const char *path, const uint8_t *b, size_t len, int want_lo, int want_hi, uint32_t *dims,
                          int *ndims) {
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
  const uint64_t cap = (uint64_t)1 << 40;
  uint64_t total = 1;
  for (int i = 0; i < nd; i++) {
    dims[i] = be32(b + 4 + 4 * i);
    if (dims[i] > INT32_MAX || (dims[i] > 0 && total > cap / dims[i])) {
      nitrt_error("%s: implausible dimensions in the header (dimension %d is %u)", path, i + 1, dims[i]);
      return -1;
    }
    total *= dims[i];
  }
  if (len - hdr < total) {
    nitrt_error("%s: truncated: the header promises %llu bytes of data, the file has %zu", path,
                (unsigned long long)total, len - hdr);
    return -1;
  }
  if (len - hdr > total) {
    nitrt_error("%s: %zu bytes of trailing data after the %llu the header describes", path, len - hdr - (size_t)total,
                (unsigned long long)total);
    return -1;
  }
  *ndims = nd;
  return (int64_t)hdr;
}

int nitrt_idx_parse(const char *images, const uint8_t *ib, size_t il, const char *labels, const uint8_t *lb, size_t ll,
                    const NitModel *m, int64_t limit, Dataset *d) {
  memset(d, 0, sizeof *d);
  uint32_t idims[4] = {0}, ldims[4] = {0};
  int ind = 0, lnd = 0;
  int64_t ioff = idx_header(images, ib, il, 3, 4, idims, &ind);
  if (ioff < 0) return -1;
  int32_t c = ind == 4 ? (int32_t)idims[1] : 1;
  int32_t h = (int32_t)idims[ind - 2], w = (int32_t)idims[ind - 1];
  if (nitrt_check_shape(images, c, h, w, m)) return -1;
  int64_t n = idims[0], loff = 0;
  if (lb) {
    loff = idx_header(labels, lb, ll, 1, 1, ldims, &lnd);
    if (loff < 0) return -1;
    if ((int64_t)ldims[0] != n) {
      nitrt_error("%s: %u labels but %s has %lld images", labels, ldims[0], images, (long long)n);
      return -1;
    }
  }
  if (n == 0) {
    nitrt_error("%s: no images", images);
    return -1;
  }
  d->print.format = NITRT_FMT_IDX;
  d->print.n = n;
  d->print.hash = nitrt_hash64(0, ib, il);
  if (lb) d->print.hash = nitrt_hash64(d->print.hash, lb, ll);
  if (limit > 0 && limit < n) n = limit;
  int64_t dim = nitrt_model_dim(m);
  d->n = n;
  d->c = c, d->h = h, d->w = w;
  nitrt_quant_pixels(&d->q);
  d->x = nitrt_alloc((size_t)(n * dim));
  if (!d->x) goto fail;
  const uint8_t *px = ib + ioff;
  for (int64_t i = 0; i < n * dim; i++) d->x[i] = (int8_t)(px[i] >> 1);
  if (lb) {
    d->y = nitrt_alloc((size_t)n * sizeof *d->y);
    if (!d->y) goto fail;
    for (int64_t i = 0; i < n; i++) d->y[i] = lb[loff + i];
    if (nitrt_check_labels(labels, d->y, n, m)) goto fail;
  }
  return 0;
fail:
  nitrt_data_free(d);
  return -1;
}

int nitrt_load_idx(const char *images, const char *labels, const NitModel *m, int64_t limit, Dataset *d) {
  memset(d, 0, sizeof *d);
  uint8_t *ib = NULL, *lb = NULL;
  size_t il = 0, ll = 0;
  int rc = -1;
  if (nitrt_read_file(images, "a data file", &ib, &il)) goto out;
  if (labels && nitrt_read_file(labels, "a data file", &lb, &ll)) goto out;
  rc = nitrt_idx_parse(images, ib, il, labels, lb, ll, m, limit, d);
out:
  free(ib);
  free(lb);
  return rc;
}

/* ---------------------------------------------------------------- raw */

int nitrt_load_raw(const char *path, const NitModel *m, Dataset *d) {
  memset(d, 0, sizeof *d);
  uint8_t *b = NULL;
  size_t len = 0;
  if (nitrt_read_file(path, "an input file", &b, &len)) return -1;
  int64_t dim = nitrt_model_dim(m);
  if (len == 0 || len % (size_t)dim != 0) {
    nitrt_error("%s: %zu bytes is not a positive multiple of the model's input size %lld "
                "(%dx%dx%d 8-bit values)",
                path, len, (long long)dim, m->in_c, m->in_h, m->in_w);
    free(b);
    return -1;
  }
  d->n = (int64_t)len / dim;
  d->c = m->in_c, d->h = m->in_h, d->w = m->in_w;
  nitrt_quant_pixels(&d->q);
  d->print.format = NITRT_FMT_RAW;
  d->print.n = d->n;
  d->print.hash = nitrt_hash64(0, b, len);
  d->x = nitrt_alloc(len);
  if (!d->x) {
    free(b);
    return -1;
  }
  for (size_t i = 0; i < len; i++) d->x[i] = (int8_t)(b[i] >> 1);
  free(b);
  return 0;
}
