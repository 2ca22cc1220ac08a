/*
 * ckpt.c: checkpoints.
 *
 * A checkpoint holds everything a bit-exact resume needs. NITI training has no
 * optimizer state and fixed weight exponents, so that is the params slab, the
 * global step, the epochs completed, the seed (which with the epoch fixes the
 * data order and every random draw), and the effective recipe. Layout, every
 * integer little-endian and written byte by byte, so the bytes never depend on
 * the target:
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
 *   248  8  params slab bytes
 *   256  .  params slab (int16 tensors as little-endian pairs)
 *   end  4  CRC-32 (IEEE 802.3, reflected 0xEDB88320) of all bytes before it
 *
 * Writes are atomic: a temp file in the same directory, write, fflush, fsync,
 * rename over the target, fsync of the directory. On any failure the temp file
 * is removed and whatever was at the path before is untouched.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nitrt.h"

static const uint8_t MAGIC[8] = {'N', 'I', 'T', 'C', 'K', 'P', 'T', 0};
#define HEADER 256

uint32_t nitrt_crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int64_t nitrt_ckpt_size(const NitModel *m) { return HEADER + m->param_bytes + 4; }

/* The slab as target-independent bytes: int16 tensors become little-endian. */
static void slab_to_le(const NitModel *m, const uint8_t *slab, uint8_t *out) {
  memcpy(out, slab, (size_t)m->param_bytes);
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    if (t->bits <= 8)
      continue;
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
    if (t->bits <= 8)
      continue;
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
  for (int i = 0; i < NIT_MAX_SCHED; i++)
    v[k++] = i < r->nsched ? r->mu[i] : 0;
  for (int i = 0; i < NIT_MAX_SCHED; i++)
    v[k++] = i < r->nsched ? r->mu_from[i] : 0;
  v[k++] = r->decay;
  v[k++] = r->holdout;
  for (int i = 0; i < k; i++)
    put32(p + 4 * i, (uint32_t)v[i]);
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
  for (int i = 0; i < NIT_MAX_SCHED; i++)
    r->mu[i] = NEXT;
  for (int i = 0; i < NIT_MAX_SCHED; i++)
    r->mu_from[i] = NEXT;
  r->decay = NEXT;
  r->holdout = NEXT;
#undef NEXT
}

static char *dir_of(const char *path) {
  const char *s = strrchr(path, '/');
  size_t n = s ? (size_t)(s - path) : 1;
  if (s == path)
    n = 1;
  char *d = nitrt_alloc(n + 1);
  if (d)
    memcpy(d, s ? path : ".", n);
  return d;
}

int nitrt_check_writable(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    nitrt_error("%s: cannot save a checkpoint there: it is a directory", path);
    return -1;
  }
  char *dir = dir_of(path);
  if (!dir)
    return -1;
  int rc = -1;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    nitrt_error("%s: cannot save a checkpoint there: directory %s does not exist", path, dir);
    goto out;
  }
  size_t n = strlen(path) + 16;
  char *tmp = nitrt_alloc(n);
  if (!tmp)
    goto out;
  snprintf(tmp, n, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    nitrt_error("%s: cannot save a checkpoint there: %s", path, strerror(errno));
  } else {
    close(fd);
    unlink(tmp);
    rc = 0;
  }
  free(tmp);
out:
  free(dir);
  return rc;
}

int nitrt_ckpt_save(const char *path, const NitModel *m, const Ckpt *c) {
  size_t size = (size_t)nitrt_ckpt_size(m);
  uint8_t *b = nitrt_alloc(size);
  if (!b)
    return -1;
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
  slab_to_le(m, c->params, b + HEADER);
  put32(b + size - 4, nitrt_crc32(b, size - 4));

  size_t n = strlen(path) + 16;
  char *tmp = nitrt_alloc(n);
  char *dir = dir_of(path);
  int rc = -1, fd = -1;
  if (!tmp || !dir)
    goto out;
  snprintf(tmp, n, "%s.tmpXXXXXX", path);
  fd = mkstemp(tmp);
  if (fd < 0) {
    nitrt_error("%s: cannot write checkpoint: %s", path, strerror(errno));
    tmp[0] = '\0';
    goto out;
  }
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    nitrt_error("%s: cannot write checkpoint: %s", path, strerror(errno));
    close(fd);
    goto fail;
  }
  fchmod(fd, 0644);
  bool ok = fwrite(b, 1, size, f) == size && fflush(f) == 0 && fsync(fd) == 0;
  int err = errno;
  if (fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    nitrt_error("%s: cannot write checkpoint: %s", path, strerror(err));
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    nitrt_error("%s: cannot write checkpoint: %s", path, strerror(errno));
    goto fail;
  }
  int dfd = open(dir, O_RDONLY);
  if (dfd >= 0) { /* best effort: some file systems cannot fsync a directory */
    fsync(dfd);
    close(dfd);
  }
  rc = 0;
  goto out;
fail:
  unlink(tmp);
out:
  free(b);
  free(tmp);
  free(dir);
  return rc;
}

int nitrt_ckpt_load(const char *path, const NitModel *m, Ckpt *c, void *params) {
  memset(c, 0, sizeof *c);
  uint8_t *b = NULL;
  size_t len = 0;
  int rc = -1;
  if (nitrt_read_file(path, &b, &len))
    return -1;
  if (len < 8 || memcmp(b, MAGIC, 8) != 0) {
    nitrt_error("%s: not a nitc checkpoint (wrong magic)", path);
    goto out;
  }
  if (len < HEADER + 4) {
    nitrt_error("%s: truncated checkpoint: %zu bytes", path, len);
    goto out;
  }
  uint32_t version = get32(b + 8);
  if (version != NITRT_CKPT_VERSION) {
    nitrt_error("%s: checkpoint format version %u; this runtime reads version %d", path,
                version, NITRT_CKPT_VERSION);
    goto out;
  }
  uint64_t size = get64(b + 16);
  if (size != len) {
    nitrt_error("%s: truncated or corrupt checkpoint: the header says %llu bytes, the file "
                "has %zu",
                path, (unsigned long long)size, len);
    goto out;
  }
  uint32_t want = get32(b + len - 4), got = nitrt_crc32(b, len - 4);
  if (want != got) {
    nitrt_error("%s: corrupt checkpoint: checksum mismatch (stored 0x%08x, computed 0x%08x)",
                path, want, got);
    goto out;
  }
  c->abi = get32(b + 12);
  c->fingerprint = get64(b + 24);
  memcpy(c->name, b + 32, 63);
  c->name[63] = '\0';
  if (c->abi != m->abi) {
    nitrt_error("%s: checkpoint was written with ABI %u, this executable uses ABI %u", path,
                c->abi, m->abi);
    goto out;
  }
  if (c->fingerprint != m->fingerprint) {
    nitrt_error("%s: checkpoint was written by model %s (fingerprint 0x%016llx), this is "
                "model %s (fingerprint 0x%016llx)",
                path, c->name, (unsigned long long)c->fingerprint, m->name,
                (unsigned long long)m->fingerprint);
    goto out;
  }
  if ((int64_t)get64(b + 248) != m->param_bytes || len != (size_t)nitrt_ckpt_size(m) ||
      get32(b + 240) != (uint32_t)m->nparams) {
    nitrt_error("%s: checkpoint parameter layout does not match model %s", path, m->name);
    goto out;
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
  if (c->r.nsched < 1 || c->r.nsched > NIT_MAX_SCHED || c->r.batch < 1 || c->r.epochs < 1) {
    nitrt_error("%s: checkpoint holds an invalid recipe", path);
    goto out;
  }
  slab_from_le(m, b + HEADER, params);
  rc = 0;
out:
  free(b);
  return rc;
}
