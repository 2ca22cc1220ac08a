/*
 * ckpt.c: the checkpoint format: serialization, parsing and validation.
 * Writing files atomically and reading them is ckpt_file.c.
 *
 * A checkpoint holds everything a bit-exact resume needs. NITI training has
 * no optimizer state and fixed weight exponents, so that is the params slab,
 * the global step, the epochs completed, the seed (which with the epoch
 * fixes the data order and every random draw), and the effective recipe.
 * Since format 2 it also records the data: how the inputs were quantized
 * (eval and predict must feed the model the same scale) and the identity of
 * the training and test sets (so eval and resume notice another data set).
 *
 * Layout, format 2, every integer little-endian and written byte by byte, so
 * the bytes never depend on the target (docs/runtime.md, "Checkpoints"):
 *
 *   0    8  magic "NITCKPT\0"
 *   8    4  format version (NITRT_CKPT_VERSION)
 *   12   4  ABI version of the model (NIT_ABI_VERSION)
 *   16   8  total file size in bytes
 *   24   8  model fingerprint
 *   32  64  model name, NUL padded
 *   96   4  epochs completed          100  4  next epoch whose order is drawn
 *   104  8  global step               112  8  seed
 *   120  8  shuffle seed              128  8  training samples used
 *   136 96  recipe: batch, epochs, act/err/grad rounding, nsched, mu[8],
 *           mu_from[8], decay, holdout (int32 each)
 *   232  8  limit                     240  4  parameter tensors, 244 4 zero
 *   248  8  params slab bytes P
 *   256  4  training data format      260  4  quantization (0 pixels, 1 columns)
 *   264  4  input exponent            268  4  zero
 *   272  8  column shifts K (0 for pixels, C*H*W for columns)
 *   280  4  C   284  4  H   288  4  W 292  4  test data format
 *   296  8  training samples in the data set   304  8  training data hash
 *   312  8  test samples in the data set       320  8  test data hash
 *   328  4  data directory length L   332  4  zero
 *   336  P  params slab (int16 tensors as little-endian pairs)
 *   .    K  column shifts, int8
 *   .    L  data directory, UTF-8/bytes, no NUL
 *   end  4  CRC-32 (IEEE 802.3, reflected 0xEDB88320) of all bytes before it
 *
 * Format 1 is the first 256 bytes of this header followed directly by the
 * params and the CRC; it still loads, with the data unknown.
 *
 * The CRC only says the bytes are the ones written. Every field is then
 * checked against its legal range, whatever the CRC says (a file can be
 * made by hand): a message names the checkpoint, the field, its value and
 * what was expected. The parameters are checked too: int8 weights never
 * hold -128, wide weights stay within +-(2^(A-1) - 1), the padding between
 * tensors is zero.
 */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

static const uint8_t MAGIC[8] = {'N', 'I', 'T', 'C', 'K', 'P', 'T', 0};
#define HEADER_V1 256
#define HEADER_V2 336

uint32_t nitrt_crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static size_t path_len(const Ckpt *c) { return strnlen(c->data, NITRT_PATH_MAX); }

int64_t nitrt_ckpt_size(const NitModel *m, const Ckpt *c) {
  int64_t k = c->q.kind == NITRT_QUANT_COLUMNS ? c->q.ncols : 0;
  return HEADER_V2 + m->param_bytes + k + (int64_t)path_len(c) + 4;
}

void nitrt_ckpt_free(Ckpt *c) { nitrt_quant_free(&c->q); }

/* The slab as target-independent bytes: int16 tensors become little-endian. */
static void slab_to_le(const NitModel *m, const uint8_t *slab, uint8_t *out) {
  memcpy(out, slab, (size_t)m->param_bytes);
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    if (t->bits <= 8) continue;
    for (int64_t j = 0; j < t->count; j++) {
      int16_t v;
      memcpy(&v, slab + t->offset + 2 * j, 2);
      uint16_t u = (uint16_t)v;
      out[t->offset + 2 * j] = (uint8_t)u;
      out[t->offset + 2 * j + 1] = (uint8_t)(u >> 8);
    }
  }
}

static void slab_from_le(const NitModel *m, const uint8_t *in, uint8_t *slab) {
  memcpy(slab, in, (size_t)m->param_bytes);
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    if (t->bits <= 8) continue;
    for (int64_t j = 0; j < t->count; j++) {
      const uint8_t *b = in + t->offset + 2 * j;
      int16_t v = (int16_t)(uint16_t)(b[0] | b[1] << 8);
      memcpy(slab + t->offset + 2 * j, &v, 2);
    }
  }
}

static void put_recipe(uint8_t *p, const RunRecipe *r) {
  int32_t v[6 + 2 * NIT_MAX_SCHED + 2];
  int k = 0;
  v[k++] = r->batch;
  v[k++] = r->epochs;
  v[k++] = r->act_round;
  v[k++] = r->err_round;
  v[k++] = r->grad_round;
  v[k++] = r->nsched;
  for (int i = 0; i < NIT_MAX_SCHED; i++) v[k++] = i < r->nsched ? r->mu[i] : 0;
  for (int i = 0; i < NIT_MAX_SCHED; i++) v[k++] = i < r->nsched ? r->mu_from[i] : 0;
  v[k++] = r->decay;
  v[k++] = r->holdout;
  for (int i = 0; i < k; i++) put32(p + 4 * i, (uint32_t)v[i]);
}

static void get_recipe(const uint8_t *p, RunRecipe *r) {
  int k = 0;
#define NEXT ((int32_t)get32(p + 4 * k++))
  r->batch = NEXT;
  r->epochs = NEXT;
  r->act_round = NEXT;
  r->err_round = NEXT;
  r->grad_round = NEXT;
  r->nsched = NEXT;
  for (int i = 0; i < NIT_MAX_SCHED; i++) r->mu[i] = NEXT;
  for (int i = 0; i < NIT_MAX_SCHED; i++) r->mu_from[i] = NEXT;
  r->decay = NEXT;
  r->holdout = NEXT;
#undef NEXT
}

uint8_t *nitrt_ckpt_serialize(const NitModel *m, const Ckpt *c, size_t *len) {
  size_t size = (size_t)nitrt_ckpt_size(m, c);
  size_t k = c->q.kind == NITRT_QUANT_COLUMNS ? (size_t)c->q.ncols : 0, l = path_len(c);
  uint8_t *b = nitrt_alloc(size);
  if (!b) return NULL;
  memcpy(b, MAGIC, 8);
  put32(b + 8, NITRT_CKPT_VERSION);
  put32(b + 12, m->abi);
  put64(b + 16, size);
  put64(b + 24, m->fingerprint);
  strncpy((char *)b + 32, m->name ? m->name : "", 63);
  put32(b + 96, c->epoch);
  put32(b + 100, c->shuffle_epoch);
  put64(b + 104, c->step);
  put64(b + 112, c->r.seed);
  put64(b + 120, c->shuffle_seed);
  put64(b + 128, (uint64_t)c->ntrain);
  put_recipe(b + 136, &c->r);
  put64(b + 232, (uint64_t)c->r.limit);
  put32(b + 240, (uint32_t)m->nparams);
  put64(b + 248, (uint64_t)m->param_bytes);
  put32(b + 256, (uint32_t)c->train.format);
  put32(b + 260, (uint32_t)c->q.kind);
  put32(b + 264, (uint32_t)c->q.in_exp);
  put64(b + 272, k);
  put32(b + 280, (uint32_t)m->in_c);
  put32(b + 284, (uint32_t)m->in_h);
  put32(b + 288, (uint32_t)m->in_w);
  put32(b + 292, (uint32_t)c->test.format);
  put64(b + 296, (uint64_t)c->train.n);
  put64(b + 304, c->train.hash);
  put64(b + 312, (uint64_t)c->test.n);
  put64(b + 320, c->test.hash);
  put32(b + 328, (uint32_t)l);
  slab_to_le(m, c->params, b + HEADER_V2);
  if (k) memcpy(b + HEADER_V2 + m->param_bytes, c->q.shift, k);
  memcpy(b + HEADER_V2 + m->param_bytes + k, c->data, l);
  put32(b + size - 4, nitrt_crc32(b, size - 4));
  *len = size;
  return b;
}

/* ------------------------------------------------------------ validation */

/* Field checks: each names the checkpoint, the field, the value and the
 * legal range. */
static int bad(const char *name, const char *field, long long v, const char *want) {
  nitrt_error("%s: invalid checkpoint: %s is %lld, expected %s", name, field, v, want);
  return -1;
}

#define RANGE(field, v, lo, hi)                                                \
  do {                                                                         \
    long long v_ = (long long)(v);                                             \
    if (v_ < (long long)(lo) || v_ > (long long)(hi)) {                        \
      char w_[64];                                                             \
      snprintf(w_, sizeof w_, "%lld..%lld", (long long)(lo), (long long)(hi)); \
      return bad(name, field, v_, w_);                                         \
    }                                                                          \
  } while (0)

static int check_recipe(const char *name, const RunRecipe *r) {
  RANGE("the batch", r->batch, 1, NITRT_BATCH_MAX);
  RANGE("the total epochs", r->epochs, 1, NITRT_EPOCHS_MAX);
  RANGE("the activation rounding mode", r->act_round, 0, 2);
  RANGE("the error rounding mode", r->err_round, 0, 2);
  RANGE("the gradient rounding mode", r->grad_round, 0, 2);
  RANGE("the number of update-bit schedule entries", r->nsched, 1, NIT_MAX_SCHED);
  char f[64];
  for (int32_t i = 0; i < NIT_MAX_SCHED; i++) {
    if (i >= r->nsched) {
      snprintf(f, sizeof f, "unused schedule entry %d", i + 1);
      RANGE(f, r->mu[i], 0, 0);
      RANGE(f, r->mu_from[i], 0, 0);
      continue;
    }
    snprintf(f, sizeof f, "update bits of schedule entry %d", i + 1);
    RANGE(f, r->mu[i], NITRT_MU_MIN, NITRT_MU_MAX);
    snprintf(f, sizeof f, "the first epoch of schedule entry %d", i + 1);
    if (i == 0) RANGE(f, r->mu_from[i], 1, 1);
    else RANGE(f, r->mu_from[i], r->mu_from[i - 1] + 1, INT32_MAX);
  }
  RANGE("decay", r->decay, 0, 1);
  RANGE("the holdout", r->holdout, 0, INT32_MAX);
  RANGE("the limit", r->limit, 0, INT64_MAX);
  return 0;
}

static int check_params(const char *name, const NitModel *m, const uint8_t *p) {
  /* tensors in offset order; nparams is small */
  int64_t pos = 0;
  for (int32_t done = 0; done < m->nparams; done++) {
    const NitParam *t = NULL;
    for (int32_t i = 0; i < m->nparams; i++)
      if (m->params[i].offset >= pos && (!t || m->params[i].offset < t->offset)) t = &m->params[i];
    if (!t) break;
    for (int64_t b = pos; b < t->offset; b++)
      if (p[b] != 0) {
        nitrt_error("%s: invalid checkpoint: padding byte %lld of the parameters is %d, "
                    "expected 0",
                    name, (long long)b, p[b]);
        return -1;
      }
    int64_t size = t->bits > 8 ? 2 : 1;
    int64_t lim = t->bits > 8 ? ((int64_t)1 << (t->bits - 1)) - 1 : 127;
    for (int64_t j = 0; j < t->count; j++) {
      const uint8_t *e = p + t->offset + size * j;
      int64_t v = size == 2 ? (int16_t)(uint16_t)(e[0] | e[1] << 8) : (int8_t)e[0];
      if (v < -lim || v > lim) {
        nitrt_error("%s: invalid checkpoint: weight %lld of tensor %s is %lld, expected "
                    "%lld..%lld",
                    name, (long long)j, t->name ? t->name : "?", (long long)v, (long long)-lim, (long long)lim);
        return -1;
      }
    }
    pos = t->offset + size * t->count;
  }
  for (int64_t b = pos; b < m->param_bytes; b++)
    if (p[b] != 0) {
      nitrt_error("%s: invalid checkpoint: padding byte %lld of the parameters is %d, "
                  "expected 0",
                  name, (long long)b, p[b]);
      return -1;
    }
  return 0;
}

/* The fields after the CRC and the model checks. */
static int check_fields(const char *name, const NitModel *m, const uint8_t *b, const Ckpt *c) {
  if (memchr(c->name, 0, 64) == NULL) return bad(name, "the model name's length", 64, "at most 63 bytes");
  for (size_t i = strlen((const char *)b + 32); i < 64; i++) RANGE("a padding byte of the model name", b[32 + i], 0, 0);
  RANGE("a reserved field (offset 244)", get32(b + 244), 0, 0);
  if (check_recipe(name, &c->r)) return -1;
  RANGE("the epochs completed", c->epoch, 1, c->r.epochs);
  RANGE("the next epoch of the data order", c->shuffle_epoch, (long long)c->epoch + 1, (long long)c->epoch + 1);
  RANGE("the global step", c->step, c->epoch, INT64_MAX);
  if (c->shuffle_seed != c->r.seed) {
    nitrt_error("%s: invalid checkpoint: the shuffle seed %llu differs from the seed %llu", name,
                (unsigned long long)c->shuffle_seed, (unsigned long long)c->r.seed);
    return -1;
  }
  RANGE("the training samples used", c->ntrain, 1, UINT32_MAX);
  if (c->r.limit > 0) RANGE("the training samples used plus the holdout", c->ntrain + c->r.holdout, 1, c->r.limit);
  if (c->version < 2) return 0;
  const int64_t dim = nitrt_model_dim(m);
  RANGE("the training data format", c->train.format, NITRT_FMT_IDX, NITRT_FMT_CSV);
  RANGE("the test data format", c->test.format, c->train.format, c->train.format);
  int32_t kind = c->train.format == NITRT_FMT_CSV ? NITRT_QUANT_COLUMNS : NITRT_QUANT_PIXELS;
  RANGE("the quantization", c->q.kind, kind, kind);
  RANGE("the input exponent", c->q.in_exp, NITRT_IN_EXP, NITRT_IN_EXP);
  RANGE("a reserved field (offset 268)", get32(b + 268), 0, 0);
  RANGE("the number of column shifts", c->q.ncols, kind == NITRT_QUANT_COLUMNS ? dim : 0,
        kind == NITRT_QUANT_COLUMNS ? dim : 0);
  RANGE("the input channels", (int32_t)get32(b + 280), m->in_c, m->in_c);
  RANGE("the input height", (int32_t)get32(b + 284), m->in_h, m->in_h);
  RANGE("the input width", (int32_t)get32(b + 288), m->in_w, m->in_w);
  RANGE("the training set's sample count", c->train.n, c->ntrain + c->r.holdout, INT64_MAX);
  RANGE("the test set's sample count", c->test.n, 1, INT64_MAX);
  RANGE("a reserved field (offset 332)", get32(b + 332), 0, 0);
  for (int64_t k = 0; k < c->q.ncols; k++)
    if (c->q.shift[k] < NITRT_SHIFT_MIN || c->q.shift[k] > NITRT_SHIFT_MAX) {
      char f[64];
      snprintf(f, sizeof f, "the shift of column %lld", (long long)k + 1);
      RANGE(f, c->q.shift[k], NITRT_SHIFT_MIN, NITRT_SHIFT_MAX);
    }
  return 0;
}

int nitrt_ckpt_parse(const char *name, const uint8_t *b, size_t len, const NitModel *m, Ckpt *c, void *params) {
  memset(c, 0, sizeof *c);
  if (len < 8 || memcmp(b, MAGIC, 8) != 0) {
    nitrt_error("%s: not a nitc checkpoint (wrong magic)", name);
    return -1;
  }
  if (len < 12) {
    nitrt_error("%s: truncated checkpoint: %zu bytes", name, len);
    return -1;
  }
  uint32_t version = get32(b + 8);
  if (version < 1 || version > NITRT_CKPT_VERSION) {
    nitrt_error("%s: checkpoint format version %u; this runtime reads versions 1 to %d", name, version,
                NITRT_CKPT_VERSION);
    return -1;
  }
  size_t header = version == 1 ? HEADER_V1 : HEADER_V2;
  if (len < header + 4) {
    nitrt_error("%s: truncated checkpoint: %zu bytes", name, len);
    return -1;
  }
  uint64_t size = get64(b + 16);
  if (size != len) {
    nitrt_error("%s: truncated or corrupt checkpoint: the header says %llu bytes, the file "
                "has %zu",
                name, (unsigned long long)size, len);
    return -1;
  }
  uint32_t want = get32(b + len - 4), got = nitrt_crc32(b, len - 4);
  if (want != got) {
    nitrt_error("%s: corrupt checkpoint: checksum mismatch (stored 0x%08x, computed 0x%08x)", name, want, got);
    return -1;
  }
  c->version = version;
  c->abi = get32(b + 12);
  c->fingerprint = get64(b + 24);
  memcpy(c->name, b + 32, 64);
  c->name[64] = '\0';
  if (c->abi != m->abi) {
    nitrt_error("%s: checkpoint was written with ABI %u, this executable uses ABI %u", name, c->abi, m->abi);
    return -1;
  }
  if (c->fingerprint != m->fingerprint) {
    nitrt_error("%s: checkpoint was written by model %.63s (fingerprint 0x%016llx), this is "
                "model %s (fingerprint 0x%016llx)",
                name, c->name, (unsigned long long)c->fingerprint, m->name, (unsigned long long)m->fingerprint);
    return -1;
  }
  uint64_t pbytes = get64(b + 248);
  if (pbytes != (uint64_t)m->param_bytes || get32(b + 240) != (uint32_t)m->nparams) {
    nitrt_error("%s: checkpoint parameter layout does not match model %s (%llu bytes in %u "
                "tensors, the model has %lld in %d)",
                name, m->name, (unsigned long long)pbytes, get32(b + 240), (long long)m->param_bytes, m->nparams);
    return -1;
  }
  c->epoch = get32(b + 96);
  c->shuffle_epoch = get32(b + 100);
  c->step = get64(b + 104);
  c->shuffle_seed = get64(b + 120);
  c->ntrain = (int64_t)get64(b + 128);
  get_recipe(b + 136, &c->r);
  c->r.seed = get64(b + 112);
  c->r.limit = (int64_t)get64(b + 232);
  c->param_bytes = m->param_bytes;
  uint64_t k = 0, l = 0;
  if (version >= 2) {
    c->train.format = (int32_t)get32(b + 256);
    c->q.kind = (int32_t)get32(b + 260);
    c->q.in_exp = (int32_t)get32(b + 264);
    k = get64(b + 272);
    c->test.format = (int32_t)get32(b + 292);
    c->train.n = (int64_t)get64(b + 296);
    c->train.hash = get64(b + 304);
    c->test.n = (int64_t)get64(b + 312);
    c->test.hash = get64(b + 320);
    l = get32(b + 328);
  } else {
    nitrt_quant_pixels(&c->q); /* nominal: format 1 does not record its data */
  }
  /* the sizes of the variable parts must add up to the file's */
  uint64_t rest = len - header - 4 - pbytes;
  if (len - header - 4 < pbytes || k > rest || l > rest - k || k + l != rest || l > NITRT_PATH_MAX) {
    nitrt_error("%s: invalid checkpoint: %llu column shifts and a %llu-byte data directory "
                "do not fit its %zu bytes",
                name, (unsigned long long)k, (unsigned long long)l, len);
    return -1;
  }
  c->q.ncols = (int64_t)k;
  const uint8_t *ps = b + header;
  if (k) {
    c->q.shift = nitrt_alloc((size_t)k);
    if (!c->q.shift) return -1;
    memcpy(c->q.shift, ps + pbytes, (size_t)k);
  }
  memcpy(c->data, ps + pbytes + k, (size_t)l);
  c->data[l] = '\0';
  if (memchr(ps + pbytes + k, 0, (size_t)l)) {
    nitrt_error("%s: invalid checkpoint: the data directory holds a NUL byte", name);
    goto fail;
  }
  if (check_fields(name, m, b, c) || check_params(name, m, ps)) goto fail;
  slab_from_le(m, ps, params);
  return 0;
fail:
  nitrt_ckpt_free(c);
  return -1;
}
