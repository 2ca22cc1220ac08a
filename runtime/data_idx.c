/*
 * data_idx.c: idx files (MNIST, Fashion-MNIST) and raw 8-bit samples.
 *
 * idx: a big-endian header (bytes 0, 0, 0x08 for ubyte, the number of
 * dimensions nd, then nd 32-bit dimensions), then the unsigned bytes.
 * Images are (N, H, W) or (N, C, H, W); labels (N). The file must hold
 * exactly what its header promises: the header is checked against the
 * file's length before anything is allocated, so allocations never exceed
 * the file's own size. A file is read once, a chunk at a time (DataSrc):
 * its bytes are hashed and the kept samples copied, so a --limit holds only
 * the samples it keeps.
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
    if (b[0] == 0x1f && b[1] == 0x8b) /* a download kept compressed under the plain name */
      nitrt_error("%s: wrong magic 0x%08x: this is gzip-compressed data; name it %s.gz to have it read as "
                  "such, or gunzip it",
                  path, magic, path);
    else if (want_lo == want_hi)
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

/* The header of src: its first bytes (at most 20, the longest header) read
 * and checked against the file's length. */
static int64_t src_header(const DataSrc *src, int want_lo, int want_hi, uint32_t *dims, int *ndims) {
  uint8_t h[20];
  size_t n = src->len < (int64_t)sizeof h ? (size_t)src->len : sizeof h;
  if (nitrt_src_read(src, 0, h, n)) return -1;
  return idx_header(src->name, h, (size_t)src->len, want_lo, want_hi, dims, ndims);
}

/* The bytes [lo, hi) of the file that a scan hands over, into x as pixels
 * (p >> 1) or into y as labels. */
typedef struct Keep {
  int64_t lo, hi;
  int8_t *x;  /* (hi - lo) or NULL */
  int32_t *y; /* (hi - lo) or NULL */
} Keep;

static int keep(void *env, int64_t off, const uint8_t *p, size_t n) {
  const Keep *k = env;
  int64_t lo = off > k->lo ? off : k->lo, hi = off + (int64_t)n < k->hi ? off + (int64_t)n : k->hi;
  for (int64_t i = lo; i < hi; i++) {
    if (k->x) k->x[i - k->lo] = (int8_t)(p[i - off] >> 1);
    else k->y[i - k->lo] = p[i - off];
  }
  return 0;
}

/* An idx pair from two sources (labels NULL: unlabelled): the headers
 * checked first, then one pass over each file that hashes it and keeps the
 * first n samples. */
static int idx_read(const DataSrc *im, const DataSrc *lb, const NitModel *m, int64_t limit, Dataset *d) {
  memset(d, 0, sizeof *d);
  uint32_t idims[4] = {0}, ldims[4] = {0};
  int ind = 0, lnd = 0;
  int64_t ioff = src_header(im, 3, 4, idims, &ind);
  if (ioff < 0) return -1;
  int32_t c = ind == 4 ? (int32_t)idims[1] : 1;
  int32_t h = (int32_t)idims[ind - 2], w = (int32_t)idims[ind - 1];
  if (nitrt_check_shape(im->name, c, h, w, m)) return -1;
  int64_t n = idims[0], loff = 0;
  if (lb) {
    loff = src_header(lb, 1, 1, ldims, &lnd);
    if (loff < 0) return -1;
    if ((int64_t)ldims[0] != n) {
      nitrt_error("%s: %u labels but %s has %lld images", lb->name, ldims[0], im->name, (long long)n);
      return -1;
    }
  }
  if (n == 0) {
    nitrt_error("%s: no images", im->name);
    return -1;
  }
  d->print.format = NITRT_FMT_IDX;
  d->print.n = n;
  if (limit > 0 && limit < n) n = limit;
  int64_t dim = nitrt_model_dim(m);
  d->n = n;
  d->c = c, d->h = h, d->w = w;
  nitrt_quant_pixels(&d->q);
  d->x = nitrt_alloc((size_t)(n * dim));
  if (!d->x) goto fail;
  Keep kx = {ioff, ioff + n * dim, d->x, NULL};
  if (nitrt_src_scan(im, 1, &d->print.hash, keep, &kx)) goto fail;
  if (lb) {
    d->y = nitrt_alloc((size_t)n * sizeof *d->y);
    if (!d->y) goto fail;
    Keep ky = {loff, loff + n, NULL, d->y};
    if (nitrt_src_scan(lb, 1, &d->print.hash, keep, &ky) || nitrt_check_labels(lb->name, d->y, n, m)) goto fail;
  }
  return 0;
fail:
  nitrt_data_free(d);
  return -1;
}

int nitrt_idx_parse(const char *images, const uint8_t *ib, size_t il, const char *labels, const uint8_t *lb, size_t ll,
                    const NitModel *m, int64_t limit, Dataset *d) {
  DataSrc si = nitrt_src_mem(images, ib, il), sl = nitrt_src_mem(labels, lb, ll);
  return idx_read(&si, lb ? &sl : NULL, m, limit, d);
}

int nitrt_load_idx(const char *images, const char *labels, const NitModel *m, int64_t limit, Dataset *d) {
  memset(d, 0, sizeof *d);
  DataSrc si, sl = {.fd = -1};
  int rc = -1;
  if (nitrt_src_file(&si, images, "a data file")) return -1;
  if (!labels || !nitrt_src_file(&sl, labels, "a data file")) rc = idx_read(&si, labels ? &sl : NULL, m, limit, d);
  nitrt_src_close(&si);
  nitrt_src_close(&sl);
  return rc;
}

/* ---------------------------------------------------------------- raw */

int nitrt_load_raw(const char *path, const NitModel *m, Dataset *d) {
  memset(d, 0, sizeof *d);
  uint8_t *b = NULL;
  size_t len = 0;
  if (nitrt_read_data(path, "an input file", &b, &len)) return -1;
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
