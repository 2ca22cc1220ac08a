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
 *   232  8  limit                     240  4  parameter tensors
 *   244  4  0 at an epoch end, 1 inside an epoch (--save-every, --max-steps): the epoch
 *           position follows the data directory
 *   248  8  params slab bytes P
 *   256  4  training data format      260  4  quantization (0 pixels, 1 columns)
 *   264  4  input exponent            268  4  zero
 *   272  8  column shifts K (0 for pixels, C*H*W for columns)
 *   280  4  C   284  4  H   288  4  W 292  4  test data format
 *   296  8  training samples in the data set   304  8  training data hash
 *   312  8  test samples in the data set       320  8  test data hash
 *   328  4  data directory length L
 *   332  4  the loss: 0 NITI's softmax, 1 the table softmax (zero in
 *           format 3, which records it at 352)
 *   336  P  params slab (int16 tensors as little-endian pairs)
 *   .    K  column shifts, int8
 *   .    L  data directory, UTF-8/bytes, no NUL
 *   .   24  only inside an epoch: steps of the epoch done, its training
 *           predictions right so far, its summed loss so far (Q24), 8 each
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
#define HEADER_V1  256
#define HEADER_V2  336
#define EXT_V3     336 /* format 3: the settings of recipes with masters */
#define TENSORS_V3 568 /* format 3: one 32-byte record per parameter tensor */
#define TENSOR_REC 32

/* Header bytes of a format for model m. */
static int64_t header_size(const NitModel *m, uint32_t version) {
  if (version == 1) return HEADER_V1;
  if (version == 2) return HEADER_V2;
  return TENSORS_V3 + (int64_t)TENSOR_REC * m->nparams;
}

/* The format a model's checkpoints are written in: 2 for niti (unchanged),
 * 3 for recipes with masters. */
static uint32_t model_version(const NitModel *m) { return m->recipe.kind != NIT_RECIPE_NITI ? 3 : 2; }

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

static size_t path_len(const Ckpt *c) { return strnlen(c->data, NITRT_PATH_MAX); }

int64_t nitrt_ckpt_size(const NitModel *m, const Ckpt *c) {
  int64_t k = c->q.kind == NITRT_QUANT_COLUMNS ? c->q.ncols : 0;
  return header_size(m, model_version(m)) + m->param_bytes + k + (int64_t)path_len(c) +
         (c->pos ? NITRT_CKPT_POS_BYTES : 0) + 4;
}

void nitrt_ckpt_free(Ckpt *c) { nitrt_quant_free(&c->q); }

/* The persistent regions of the params slab: under niti the weights of
 * every tensor; under recipes with masters each tensor's int8 view, master,
 * momentum and running statistics, and the exponents (pstate). Everything
 * else in the slab is padding and stays zero. */
enum { R_WEIGHTS, R_VIEW, R_MASTER, R_MOM, R_STATS, R_PSTATE, R_CLIP };
typedef struct Region {
  int64_t off, count; /* bytes offset, elements */
  int32_t size;       /* bytes per element: 1, 2 or 4 */
  int32_t what;       /* R_* */
  int32_t p;          /* parameter tensor, -1 for pstate */
} Region;

static bool has_masters(const NitModel *m) { return m->recipe.kind != NIT_RECIPE_NITI; }

/* The regions in slab order; NULL when out of memory. */
static Region *regions(const NitModel *m, int64_t *nout) {
  Region *r = nitrt_alloc(((size_t)m->nparams * 4 + 2) * sizeof *r);
  if (!r) return NULL;
  int64_t n = 0;
  int32_t wb = m->recipe.master_bits / 8;
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    if (!has_masters(m)) {
      r[n++] = (Region){t->offset, t->count, t->bits > 8 ? 2 : 1, R_WEIGHTS, p};
      continue;
    }
    r[n++] = (Region){t->offset, t->count, 1, R_VIEW, p};
    r[n++] = (Region){t->master_off, t->count, wb, R_MASTER, p};
    if (t->mom_off >= 0) r[n++] = (Region){t->mom_off, t->count, wb, R_MOM, p};
    if (t->stats_off >= 0) r[n++] = (Region){t->stats_off, (int64_t)t->shape[0] * 4, 4, R_STATS, p};
  }
  if (has_masters(m)) r[n++] = (Region){m->pstate_off, (int64_t)m->nparams * 4, 4, R_PSTATE, -1};
  /* unified: every DSGC site's held clip {l* + 1, s*} and last {d_c, phi} */
  if (m->clip_off >= 0 && m->nsites > 0) r[n++] = (Region){m->clip_off, (int64_t)m->nsites * 4, 4, R_CLIP, -1};
  for (int64_t i = 1; i < n; i++) /* insertion sort by offset */
    for (int64_t j = i; j > 0 && r[j - 1].off > r[j].off; j--) {
      Region x = r[j];
      r[j] = r[j - 1];
      r[j - 1] = x;
    }
  *nout = n;
  return r;
}

/* The slab as target-independent bytes: wider elements become little-endian. */
static int slab_to_le(const NitModel *m, const uint8_t *slab, uint8_t *out) {
  int64_t n;
  Region *r = regions(m, &n);
  if (!r) return -1;
  memcpy(out, slab, (size_t)m->param_bytes);
  for (int64_t i = 0; i < n; i++) {
    if (r[i].size == 1) continue;
    for (int64_t j = 0; j < r[i].count; j++) {
      int64_t at = r[i].off + r[i].size * j;
      uint32_t v;
      if (r[i].size == 2) {
        uint16_t h;
        memcpy(&h, slab + at, 2);
        v = h;
      } else {
        memcpy(&v, slab + at, 4);
      }
      for (int k = 0; k < r[i].size; k++) out[at + k] = (uint8_t)(v >> (8 * k));
    }
  }
  free(r);
  return 0;
}

static int slab_from_le(const NitModel *m, const uint8_t *in, uint8_t *slab) {
  int64_t n;
  Region *r = regions(m, &n);
  if (!r) return -1;
  memcpy(slab, in, (size_t)m->param_bytes);
  for (int64_t i = 0; i < n; i++) {
    if (r[i].size == 1) continue;
    for (int64_t j = 0; j < r[i].count; j++) {
      int64_t at = r[i].off + r[i].size * j;
      uint32_t v = 0;
      for (int k = 0; k < r[i].size; k++) v |= (uint32_t)in[at + k] << (8 * k);
      if (r[i].size == 2) {
        uint16_t h = (uint16_t)v;
        memcpy(slab + at, &h, 2);
      } else {
        memcpy(slab + at, &v, 4);
      }
    }
  }
  free(r);
  return 0;
}

/* Element j of a region of little-endian bytes, sign-extended. */
static int64_t region_get(const uint8_t *p, const Region *r, int64_t j) {
  const uint8_t *e = p + r->off + r->size * j;
  if (r->size == 1) return (int8_t)e[0];
  if (r->size == 2) return (int16_t)(uint16_t)(e[0] | e[1] << 8);
  return (int32_t)(uint32_t)(e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24);
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

/* Format 3: the settings (336..567) and the per-tensor records. */
static void put_masters(uint8_t *b, const NitModel *m, const Ckpt *c) {
  const RunRecipe *r = &c->r;
  const NitLrSchedule *s = &r->lr;
  put32(b + 336, (uint32_t)r->kind);
  put32(b + 340, (uint32_t)r->master_bits);
  put32(b + 344, (uint32_t)r->view_round);
  put32(b + 348, (uint32_t)r->update_round);
  put32(b + 352, (uint32_t)r->loss_table);
  put32(b + 356, (uint32_t)s->kind);
  put32(b + 360, (uint32_t)s->count);
  put32(b + 364, (uint32_t)s->period);
  for (int i = 0; i < NIT_MAX_SCHED; i++) {
    put64(b + 368 + 8 * i, s->n[i]);
    put32(b + 432 + 4 * i, (uint32_t)s->f[i]);
    put32(b + 464 + 4 * i, (uint32_t)s->at[i]);
  }
  put64(b + 496, s->min_n);
  put32(b + 504, (uint32_t)s->min_f);
  put32(b + 508, (uint32_t)s->ratio_f);
  put64(b + 512, (uint64_t)s->warmup);
  put64(b + 520, s->ratio_n);
  put64(b + 528, r->momentum_n);
  put32(b + 536, (uint32_t)r->momentum_f);
  put32(b + 540, (uint32_t)r->wdecay_f);
  put64(b + 544, r->wdecay_n);
  put64(b + 552, nitrt_recipe_hash(r));
  put32(b + 560, (uint32_t)m->nparams);
  const uint8_t *slab = c->params;
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    uint8_t *e = b + TENSORS_V3 + TENSOR_REC * p;
    int32_t ps[4];
    memcpy(ps, slab + m->pstate_off + 16 * p, 16);
    put32(e, (uint32_t)t->role);
    put32(e + 4, (uint32_t)r->master_bits);
    put32(e + 8, (uint32_t)ps[0]);
    put32(e + 12, t->mom_off >= 0);
    put32(e + 16, (uint32_t)ps[1]);
    put32(e + 20, t->stats_off >= 0 ? (uint32_t)t->shape[0] : 0);
    put32(e + 24, (uint32_t)ps[2]);
  }
}

static void get_masters(const uint8_t *b, RunRecipe *r) {
  NitLrSchedule *s = &r->lr;
  r->kind = (int32_t)get32(b + 336);
  r->master_bits = (int32_t)get32(b + 340);
  r->view_round = (int32_t)get32(b + 344);
  r->update_round = (int32_t)get32(b + 348);
  r->loss_table = (int32_t)get32(b + 352);
  s->kind = (int32_t)get32(b + 356);
  s->count = (int32_t)get32(b + 360);
  s->period = (int32_t)get32(b + 364);
  for (int i = 0; i < NIT_MAX_SCHED; i++) {
    s->n[i] = nitrt_le64(b + 368 + 8 * i);
    s->f[i] = (int32_t)get32(b + 432 + 4 * i);
    s->at[i] = (int32_t)get32(b + 464 + 4 * i);
  }
  s->min_n = nitrt_le64(b + 496);
  s->min_f = (int32_t)get32(b + 504);
  s->ratio_f = (int32_t)get32(b + 508);
  s->warmup = (int64_t)nitrt_le64(b + 512);
  s->ratio_n = nitrt_le64(b + 520);
  r->momentum_n = nitrt_le64(b + 528);
  r->momentum_f = (int32_t)get32(b + 536);
  r->wdecay_f = (int32_t)get32(b + 540);
  r->wdecay_n = nitrt_le64(b + 544);
}

/* The recipe as a checkpoint of this format records it: NITI's settings,
 * the loss (format 2, offset 332) or the settings of recipes with masters. */
static void get_settings(const uint8_t *b, uint32_t version, RunRecipe *r) {
  get_recipe(b + 136, r);
  if (version == 2) r->loss_table = (int32_t)get32(b + 332);
  if (version >= 3) get_masters(b, r);
}

/* Format 3's settings against the model, its hash, and the tensor records
 * against the model's layout and the exponents in the slab (ps: the
 * parameters' little-endian bytes). */
static int check_masters(const char *name, const NitModel *m, const uint8_t *b, const Ckpt *c, const uint8_t *ps) {
  RANGE("the recipe (offset 336)", c->r.kind, m->recipe.kind, m->recipe.kind);
  RANGE("the master bits (offset 340)", c->r.master_bits, m->recipe.master_bits, m->recipe.master_bits);
  if (nitrt_le64(b + 552) != nitrt_recipe_hash(&c->r)) {
    nitrt_error("%s: invalid checkpoint: the settings hash at offset 552 (0x%016llx) does not match the "
                "settings it follows (0x%016llx)",
                name, (unsigned long long)nitrt_le64(b + 552), (unsigned long long)nitrt_recipe_hash(&c->r));
    return -1;
  }
  RANGE("the parameter tensor records (offset 560)", get32(b + 560), m->nparams, m->nparams);
  RANGE("a reserved field (offset 564)", get32(b + 564), 0, 0);
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    const uint8_t *e = b + TENSORS_V3 + TENSOR_REC * p;
    const uint8_t *st = ps + m->pstate_off + 16 * p;
    char f[160];
    int64_t off = TENSORS_V3 + TENSOR_REC * p;
    const char *tn = t->name ? t->name : "?";
#define FIELD(what, at) snprintf(f, sizeof f, "%s of tensor %s (offset %lld)", what, tn, (long long)(off + (at)))
    FIELD("the role", 0);
    RANGE(f, get32(e), t->role, t->role);
    FIELD("the master bits", 4);
    RANGE(f, get32(e + 4), m->recipe.master_bits, m->recipe.master_bits);
    FIELD("the master exponent", 8);
    RANGE(f, (int32_t)get32(e + 8), (int32_t)get32(st), (int32_t)get32(st));
    FIELD("the momentum flag", 12);
    RANGE(f, get32(e + 12), t->mom_off >= 0, t->mom_off >= 0);
    FIELD("the momentum exponent", 16);
    RANGE(f, (int32_t)get32(e + 16), (int32_t)get32(st + 4), (int32_t)get32(st + 4));
    FIELD("the running statistics' channels", 20);
    int64_t ch = t->stats_off >= 0 ? t->shape[0] : 0;
    RANGE(f, get32(e + 20), ch, ch);
    FIELD("the view exponent", 24);
    RANGE(f, (int32_t)get32(e + 24), (int32_t)get32(st + 8), (int32_t)get32(st + 8));
    FIELD("a reserved field", 28);
    RANGE(f, get32(e + 28), 0, 0);
#undef FIELD
  }
  return 0;
}

uint8_t *nitrt_ckpt_serialize(const NitModel *m, const Ckpt *c, size_t *len) {
  size_t size = (size_t)nitrt_ckpt_size(m, c);
  size_t k = c->q.kind == NITRT_QUANT_COLUMNS ? (size_t)c->q.ncols : 0, l = path_len(c);
  uint8_t *b = nitrt_alloc(size);
  if (!b) return NULL;
  memcpy(b, MAGIC, 8);
  const uint32_t version = model_version(m);
  const size_t header = (size_t)header_size(m, version);
  put32(b + 8, version);
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
  if (version == 2) put32(b + 332, (uint32_t)c->r.loss_table);
  if (version >= 3) put_masters(b, m, c);
  if (slab_to_le(m, c->params, b + header)) {
    free(b);
    return NULL;
  }
  if (k) memcpy(b + header + m->param_bytes, c->q.shift, k);
  memcpy(b + header + m->param_bytes + k, c->data, l);
  if (c->pos) { /* inside an epoch */
    put32(b + 244, 1);
    uint8_t *e = b + header + m->param_bytes + k + l;
    put64(e, c->pos);
    put64(e + 8, (uint64_t)c->pos_correct);
    put64(e + 16, (uint64_t)c->pos_loss_q24);
  }
  put32(b + size - 4, nitrt_crc32(b, size - 4));
  *len = size;
  return b;
}

/* ------------------------------------------------------------ validation */

static int check_recipe(const char *name, const RunRecipe *r) {
  char where[300];
  snprintf(where, sizeof where, "%s: invalid checkpoint", name);
  return nitrt_recipe_check(where, r);
}

static const char *const REGION_NAMES[] = {"weight",           "view element",      "master element",
                                           "momentum element", "running statistic", "exponent",
                                           "clip state"};

/* The parameter bytes p (little-endian, at file offset base): every region's
 * values in range, the padding zero. */
static int check_params(const char *name, const NitModel *m, const uint8_t *p, int64_t base) {
  int64_t n;
  Region *r = regions(m, &n);
  if (!r) return -1;
  int64_t pos = 0;
  int rc = -1;
  for (int64_t i = 0; i <= n; i++) {
    int64_t end = i < n ? r[i].off : m->param_bytes;
    for (int64_t b = pos; b < end; b++)
      if (p[b] != 0) {
        nitrt_error("%s: invalid checkpoint: padding byte %lld of the parameters is %d, "
                    "expected 0 (file offset %lld)",
                    name, (long long)b, p[b], (long long)(base + b));
        goto out;
      }
    if (i == n) break;
    const Region *g = &r[i];
    const NitParam *t = g->p >= 0 ? &m->params[g->p] : NULL;
    int64_t lim = 127;
    if (g->what == R_WEIGHTS) lim = nitrt_weight_limit(t);
    if (g->what == R_MASTER || g->what == R_MOM) lim = ((int64_t)1 << (m->recipe.master_bits - 1)) - 1;
    if (g->what == R_STATS || g->what == R_PSTATE || g->what == R_CLIP) lim = INT32_MAX;
    for (int64_t j = 0; j < g->count; j++) {
      int64_t v = region_get(p, g, j), lo = -lim, hi = lim;
      if (g->what == R_STATS && j % 2 == 0) { /* S31 mantissa; its exponent is 0 when it is 0 */
        int64_t a = v < 0 ? -v : v, e = region_get(p, g, j + 1);
        if (v == 0 && e != 0) {
          nitrt_error("%s: invalid checkpoint: running statistic %lld of tensor %s is 0 at exponent "
                      "%lld, expected exponent 0 (file offset %lld)",
                      name, (long long)j / 2, t->name ? t->name : "?", (long long)e,
                      (long long)(base + g->off + 4 * j));
          goto out;
        }
        if (v != 0 && (a < ((int64_t)1 << 30) || a >= ((int64_t)1 << 31))) {
          nitrt_error("%s: invalid checkpoint: running statistic %lld of tensor %s has mantissa %lld, "
                      "expected 0 or 2^30 <= |m| < 2^31 (file offset %lld)",
                      name, (long long)j / 2, t->name ? t->name : "?", (long long)v,
                      (long long)(base + g->off + 4 * j));
          goto out;
        }
        continue;
      }
      if (g->what == R_PSTATE && j % 4 == 3) lo = hi = 0;
      if (v < lo || v > hi) {
        const char *owner = t ? "tensor " : g->what == R_CLIP ? "the clip sites" : "the exponents";
        if (g->what == R_WEIGHTS)
          nitrt_error("%s: invalid checkpoint: weight %lld of tensor %s is %lld, expected "
                      "%lld..%lld",
                      name, (long long)j, t->name ? t->name : "?", (long long)v, (long long)lo, (long long)hi);
        else
          nitrt_error("%s: invalid checkpoint: %s %lld of %s%s is %lld, expected %lld..%lld (file offset %lld)", name,
                      REGION_NAMES[g->what], (long long)j, owner, t ? (t->name ? t->name : "?") : "", (long long)v,
                      (long long)lo, (long long)hi, (long long)(base + g->off + g->size * j));
        goto out;
      }
    }
    pos = g->off + g->size * g->count;
  }
  rc = 0;
out:
  free(r);
  return rc;
}

/* The fields after the CRC and the model checks. */
static int check_fields(const char *name, const NitModel *m, const uint8_t *b, const Ckpt *c) {
  if (memchr(c->name, 0, 64) == NULL) return bad(name, "the model name's length", 64, "at most 63 bytes");
  for (size_t i = strlen((const char *)b + 32); i < 64; i++) RANGE("a padding byte of the model name", b[32 + i], 0, 0);
  RANGE("the epoch-position flag (offset 244)", get32(b + 244), 0, 1);
  if (check_recipe(name, &c->r)) return -1;
  RANGE("the epochs completed", c->epoch, 0, c->r.epochs - (c->pos ? 1 : 0)); /* 0: --save-init */
  RANGE("the next epoch of the data order", c->shuffle_epoch, (long long)c->epoch + 1, (long long)c->epoch + 1);
  RANGE("the global step", c->step, c->epoch, INT64_MAX);
  if (c->shuffle_seed != c->r.seed) {
    nitrt_error("%s: invalid checkpoint: the shuffle seed %llu differs from the seed %llu", name,
                (unsigned long long)c->shuffle_seed, (unsigned long long)c->r.seed);
    return -1;
  }
  RANGE("the training samples used", c->ntrain, 1, UINT32_MAX);
  if (c->r.limit > 0) RANGE("the training samples used plus the holdout", c->ntrain + c->r.holdout, 1, c->r.limit);
  if (c->pos) { /* inside epoch epoch + 1 of ceil(ntrain / batch) steps */
    int64_t steps = (c->ntrain + c->r.batch - 1) / c->r.batch;
    RANGE("the steps done of the epoch in progress", c->pos, 1, steps);
    RANGE("the global step", c->step, c->pos, INT64_MAX);
    RANGE("the training predictions right so far in the epoch", c->pos_correct, 0,
          c->pos == (uint64_t)steps ? c->ntrain : (int64_t)c->pos * c->r.batch);
    RANGE("the training loss so far in the epoch", c->pos_loss_q24, 0, INT64_MAX);
  }
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
  /* format 2: the loss, checked with the recipe; format 3 has it at 352 */
  if (c->version != 2) RANGE("a reserved field (offset 332)", get32(b + 332), 0, 0);
  for (int64_t k = 0; k < c->q.ncols; k++)
    if (c->q.shift[k] < NITRT_SHIFT_MIN || c->q.shift[k] > NITRT_SHIFT_MAX) {
      char f[64];
      snprintf(f, sizeof f, "the shift of column %lld", (long long)k + 1);
      RANGE(f, c->q.shift[k], NITRT_SHIFT_MIN, NITRT_SHIFT_MAX);
    }
  return 0;
}

/* The magic and a format version this runtime reads; -1 after a message. */
static int check_magic(const char *name, const uint8_t *b, size_t len, uint32_t *version) {
  if (len < 8 || memcmp(b, MAGIC, 8) != 0) {
    nitrt_error("%s: not a nitc checkpoint (wrong magic)", name);
    return -1;
  }
  if (len < 12) {
    nitrt_error("%s: truncated checkpoint: %zu bytes", name, len);
    return -1;
  }
  *version = get32(b + 8);
  if (*version < 1 || *version > NITRT_CKPT_VERSION) {
    nitrt_error("%s: checkpoint format version %u; this runtime reads versions 1 to %d", name, *version,
                NITRT_CKPT_VERSION);
    return -1;
  }
  return 0;
}

/* The size the header records and the trailing CRC-32 (into *crc); -1
 * after a message. The caller has checked len covers the header. */
static int check_size_crc(const char *name, const uint8_t *b, size_t len, uint32_t *crc) {
  uint64_t size = nitrt_le64(b + 16);
  if (size != len) {
    nitrt_error("%s: truncated or corrupt checkpoint: the header says %llu bytes, the file has %zu", name,
                (unsigned long long)size, len);
    return -1;
  }
  uint32_t want = get32(b + len - 4), got = nitrt_crc32(b, len - 4);
  if (want != got) {
    nitrt_error("%s: corrupt checkpoint: checksum mismatch (stored 0x%08x, computed 0x%08x)", name, want, got);
    return -1;
  }
  *crc = want;
  return 0;
}

int nitrt_ckpt_peek(const char *name, const uint8_t *b, size_t len, Ckpt *c, CkptLayout *l) {
  memset(c, 0, sizeof *c);
  memset(l, 0, sizeof *l);
  uint32_t version;
  if (check_magic(name, b, len, &version)) return -1;
  int64_t header = version == 1 ? HEADER_V1 : version == 2 ? HEADER_V2 : TENSORS_V3;
  if (len < (size_t)header + 4) {
    nitrt_error("%s: truncated checkpoint: %zu bytes, the header of format %u alone has %lld", name, len, version,
                (long long)header + 4);
    return -1;
  }
  if (check_size_crc(name, b, len, &l->crc)) return -1;
  l->nparams = get32(b + 240);
  if (version >= 3) {
    if (get32(b + 560) != get32(b + 240) || l->nparams > NITRT_CKPT_TENSORS_MAX) {
      nitrt_error("%s: invalid checkpoint: %u tensor records (offset 560) for %u parameter tensors (offset 240), "
                  "expected the same number, at most %d",
                  name, get32(b + 560), get32(b + 240), NITRT_CKPT_TENSORS_MAX);
      return -1;
    }
    l->records = TENSORS_V3;
    header = TENSORS_V3 + TENSOR_REC * l->nparams;
  }
  l->header = header;
  uint64_t pbytes = nitrt_le64(b + 248), k = 0, n = 0;
  if (version >= 2) {
    k = nitrt_le64(b + 272);
    n = get32(b + 328);
  }
  if (len < (size_t)header + 4) {
    nitrt_error("%s: truncated checkpoint: %zu bytes, the header of %lld tensors alone has %lld", name, len,
                (long long)l->nparams, (long long)header + 4);
    return -1;
  }
  if (get32(b + 244) > 1) {
    nitrt_error("%s: invalid checkpoint: the epoch-position flag (offset 244) is %u, expected 0..1", name,
                get32(b + 244));
    return -1;
  }
  uint64_t x = get32(b + 244) == 1 ? NITRT_CKPT_POS_BYTES : 0; /* the epoch position */
  uint64_t rest = len - 4 - (uint64_t)header;
  if (x > rest || pbytes > rest - x || k > rest - x - pbytes || n > rest - x - pbytes - k ||
      pbytes + k + n + x != rest || n > NITRT_PATH_MAX) {
    nitrt_error("%s: invalid checkpoint: a %lld-byte header, %llu parameter bytes, %llu column shifts and a "
                "%llu-byte data directory do not make its %zu bytes",
                name, (long long)header, (unsigned long long)pbytes, (unsigned long long)k, (unsigned long long)n, len);
    return -1;
  }
  c->version = version;
  c->abi = get32(b + 12);
  c->fingerprint = nitrt_le64(b + 24);
  memcpy(c->name, b + 32, 64);
  c->name[64] = '\0';
  c->epoch = get32(b + 96);
  c->shuffle_epoch = get32(b + 100);
  c->step = nitrt_le64(b + 104);
  c->shuffle_seed = nitrt_le64(b + 120);
  c->ntrain = (int64_t)nitrt_le64(b + 128);
  get_settings(b, version, &c->r);
  c->r.seed = nitrt_le64(b + 112);
  c->r.limit = (int64_t)nitrt_le64(b + 232);
  c->param_bytes = (int64_t)pbytes;
  c->params = b + header;
  if (x) {
    const uint8_t *e = b + len - 4 - x;
    c->pos = nitrt_le64(e);
    c->pos_correct = (int64_t)nitrt_le64(e + 8);
    c->pos_loss_q24 = (int64_t)nitrt_le64(e + 16);
  }
  if (version < 2) {
    nitrt_quant_pixels(&c->q);
    return 0;
  }
  c->train.format = (int32_t)get32(b + 256);
  c->q.kind = (int32_t)get32(b + 260);
  c->q.in_exp = (int32_t)get32(b + 264);
  c->test.format = (int32_t)get32(b + 292);
  c->train.n = (int64_t)nitrt_le64(b + 296);
  c->train.hash = nitrt_le64(b + 304);
  c->test.n = (int64_t)nitrt_le64(b + 312);
  c->test.hash = nitrt_le64(b + 320);
  l->c = (int32_t)get32(b + 280);
  l->h = (int32_t)get32(b + 284);
  l->w = (int32_t)get32(b + 288);
  c->q.ncols = (int64_t)k;
  if (k) {
    c->q.shift = nitrt_alloc((size_t)k);
    if (!c->q.shift) return -1;
    memcpy(c->q.shift, b + header + pbytes, (size_t)k);
  }
  const uint8_t *d = b + header + pbytes + k;
  for (uint64_t i = 0; i < n; i++) c->data[i] = d[i] ? (char)d[i] : '?'; /* a NUL is shown, not trusted */
  c->data[n] = '\0';
  return 0;
}

int nitrt_ckpt_parse(const char *name, const uint8_t *b, size_t len, const NitModel *m, Ckpt *c, void *params) {
  memset(c, 0, sizeof *c);
  uint32_t version;
  if (check_magic(name, b, len, &version)) return -1;
  if ((version == 3) != (m->recipe.kind != NIT_RECIPE_NITI)) {
    nitrt_error("%s: checkpoint format version %u is for %s; model %s uses recipe %s (format %u)", name, version,
                version == 3 ? "recipes with masters" : "recipe niti", m->name,
                m->recipe.kind >= 0 && m->recipe.kind < NIT_RECIPE_COUNT ? nit_recipe_names[m->recipe.kind] : "?",
                model_version(m));
    return -1;
  }
  size_t header = (size_t)header_size(m, version);
  if (len < header + 4) {
    nitrt_error("%s: truncated checkpoint: %zu bytes", name, len);
    return -1;
  }
  uint32_t crc;
  if (check_size_crc(name, b, len, &crc)) return -1;
  c->version = version;
  c->abi = get32(b + 12);
  c->fingerprint = nitrt_le64(b + 24);
  memcpy(c->name, b + 32, 64);
  c->name[64] = '\0';
  /* ABI 4 only added node metadata (NitNode.geom, NitModel.output): the
   * checkpoints of ABI 3 models hold the same bytes */
  if (c->abi < 3 || c->abi > m->abi) {
    nitrt_error("%s: checkpoint was written with ABI %u, this executable uses ABI %u (reads 3..%u)", name, c->abi,
                m->abi, m->abi);
    return -1;
  }
  if (c->fingerprint != m->fingerprint) {
    nitrt_error("%s: checkpoint was written by model %.63s (fingerprint 0x%016llx), this is "
                "model %s (fingerprint 0x%016llx)",
                name, c->name, (unsigned long long)c->fingerprint, m->name, (unsigned long long)m->fingerprint);
    return -1;
  }
  uint64_t pbytes = nitrt_le64(b + 248);
  if (pbytes != (uint64_t)m->param_bytes || get32(b + 240) != (uint32_t)m->nparams) {
    nitrt_error("%s: checkpoint parameter layout does not match model %s (%llu bytes in %u "
                "tensors, the model has %lld in %d)",
                name, m->name, (unsigned long long)pbytes, get32(b + 240), (long long)m->param_bytes, m->nparams);
    return -1;
  }
  c->epoch = get32(b + 96);
  c->shuffle_epoch = get32(b + 100);
  c->step = nitrt_le64(b + 104);
  c->shuffle_seed = nitrt_le64(b + 120);
  c->ntrain = (int64_t)nitrt_le64(b + 128);
  get_settings(b, version, &c->r);
  c->r.seed = nitrt_le64(b + 112);
  c->r.limit = (int64_t)nitrt_le64(b + 232);
  c->param_bytes = m->param_bytes;
  uint64_t k = 0, l = 0;
  if (version >= 2) {
    c->train.format = (int32_t)get32(b + 256);
    c->q.kind = (int32_t)get32(b + 260);
    c->q.in_exp = (int32_t)get32(b + 264);
    k = nitrt_le64(b + 272);
    c->test.format = (int32_t)get32(b + 292);
    c->train.n = (int64_t)nitrt_le64(b + 296);
    c->train.hash = nitrt_le64(b + 304);
    c->test.n = (int64_t)nitrt_le64(b + 312);
    c->test.hash = nitrt_le64(b + 320);
    l = get32(b + 328);
  } else {
    nitrt_quant_pixels(&c->q); /* nominal: format 1 does not record its data */
  }
  /* the sizes of the variable parts must add up to the file's */
  if (get32(b + 244) > 1) {
    nitrt_error("%s: invalid checkpoint: the epoch-position flag (offset 244) is %u, expected 0..1", name,
                get32(b + 244));
    return -1;
  }
  uint64_t x = get32(b + 244) == 1 ? NITRT_CKPT_POS_BYTES : 0; /* the epoch position */
  uint64_t rest = len - header - 4 - pbytes;
  if (len - header - 4 < pbytes || x > rest || k > rest - x || l > rest - x - k || k + l + x != rest ||
      l > NITRT_PATH_MAX) {
    if (x)
      nitrt_error("%s: invalid checkpoint: %llu column shifts, a %llu-byte data directory and a %d-byte epoch "
                  "position do not fit its %zu bytes",
                  name, (unsigned long long)k, (unsigned long long)l, NITRT_CKPT_POS_BYTES, len);
    else
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
  if (x) {
    const uint8_t *e = ps + pbytes + k + l;
    c->pos = nitrt_le64(e);
    c->pos_correct = (int64_t)nitrt_le64(e + 8);
    c->pos_loss_q24 = (int64_t)nitrt_le64(e + 16);
    if (c->pos == 0) {
      nitrt_error("%s: invalid checkpoint: the epoch position (flag at offset 244) says 0 steps done, expected 1 or "
                  "more",
                  name);
      goto fail;
    }
  }
  if (memchr(ps + pbytes + k, 0, (size_t)l)) {
    nitrt_error("%s: invalid checkpoint: the data directory holds a NUL byte", name);
    goto fail;
  }
  if (check_fields(name, m, b, c) || check_params(name, m, ps, (int64_t)header)) goto fail;
  if (version >= 3 && check_masters(name, m, b, c, ps)) goto fail;
  if (slab_from_le(m, ps, params)) goto fail;
  return 0;
fail:
  nitrt_ckpt_free(c);
  return -1;
}
