/*
 * inspect.c: `inspect CKPT` (also `info --load CKPT`): what a checkpoint
 * holds, in the order of the file: format, model, progress, recipe, data,
 * the parameter tensors (and unified's clip state) and the size of every
 * part.
 *
 * A checkpoint of this executable's model is loaded as training would load
 * it (nitrt_ckpt_parse: every field checked), so what is shown is what a
 * resume or eval would use, and a file that training would refuse is
 * refused here with the same message. A checkpoint of another model is
 * shown as recorded (nitrt_ckpt_peek: magic, version, size and CRC are
 * checked, the fields are not), with a warning; its tensors are listed by
 * number from the format-3 records, or not at all (formats 1 and 2 keep no
 * per-tensor records, and the layout is the other model's).
 */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

static const char *role_name(int64_t role) {
  switch (role) {
  case NIT_ROLE_WEIGHT: return "weight";
  case NIT_ROLE_GAMMA: return "gamma";
  case NIT_ROLE_BETA: return "beta";
  default: return "?";
  }
}

static int64_t get_i32(const uint8_t *p) {
  return (int32_t)(uint32_t)(p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* Smallest and largest of `count` elements of `size` bytes (1, 2 or 4) at p
 * (host layout: the slab after loading). */
static void range_of(const uint8_t *p, int64_t count, int size, int64_t *lo, int64_t *hi) {
  *lo = *hi = 0;
  for (int64_t j = 0; j < count; j++) {
    int64_t v = nitrt_slab_get(p, size, j);
    if (j == 0 || v < *lo) *lo = v;
    if (j == 0 || v > *hi) *hi = v;
  }
}

static void shape_of(char *buf, size_t cap, const NitParam *t) {
  if (t->rank == 4) snprintf(buf, cap, "(%d,%d,%d,%d)", t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  else if (t->rank == 1) snprintf(buf, cap, "(%d)", t->shape[0]);
  else snprintf(buf, cap, "(%d,%d)", t->shape[0], t->shape[1]);
}

/* The tensors of this model, from the loaded slab. */
static void tensors_mine(const NitModel *m, const uint8_t *slab) {
  bool masters = m->recipe.kind != NIT_RECIPE_NITI;
  if (!masters) {
    printf("  %-3s %-12s %-7s %-16s %9s  %-5s %4s  %s\n", "#", "tensor", "role", "shape", "elements", "type", "exp",
           "values");
    for (int32_t p = 0; p < m->nparams; p++) {
      const NitParam *t = &m->params[p];
      char sh[64];
      int64_t lo, hi;
      int32_t size;
      int64_t at = nitrt_param_values(m, t, &size);
      shape_of(sh, sizeof sh, t);
      range_of(slab + at, t->count, size, &lo, &hi);
      printf("  %-3d %-12s %-7s %-16s %9lld  int%-2d %4d  %lld..%lld\n", p, t->name ? t->name : "?", role_name(t->role),
             sh, (long long)t->count, size * 8, t->exp, (long long)lo, (long long)hi);
    }
    return;
  }
  int a = m->recipe.master_bits;
  printf("  %-3s %-12s %-7s %-16s %9s  %-6s %4s %4s %4s  %-6s %s\n", "#", "tensor", "role", "shape", "elements",
         "master", "exp", "mom", "view", "stats", "master values");
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    const uint8_t *ps = slab + m->pstate_off + 16 * p;
    char sh[64], mom[16] = "-", st[16] = "-";
    int64_t lo, hi;
    int32_t size;
    int64_t at = nitrt_param_values(m, t, &size);
    shape_of(sh, sizeof sh, t);
    range_of(slab + at, t->count, size, &lo, &hi);
    if (t->mom_off >= 0) snprintf(mom, sizeof mom, "%lld", (long long)get_i32(ps + 4));
    if (t->stats_off >= 0) snprintf(st, sizeof st, "%d ch", t->shape[0]);
    printf("  %-3d %-12s %-7s %-16s %9lld  int%-3d %4lld %4s %4lld  %-6s %lld..%lld\n", p, t->name ? t->name : "?",
           role_name(t->role), sh, (long long)t->count, a, (long long)get_i32(ps), mom, (long long)get_i32(ps + 8), st,
           (long long)lo, (long long)hi);
  }
}

/* Recipe unified: every DSGC site's state in the slab, i32 {l* + 1, s*,
 * d_c, phi} (docs/recipes.md, "The unified recipe"): the held clip level
 * and its exponent, and the last step's d_c and phi (Q30). */
static void clip_sites(const NitModel *m, const uint8_t *slab) {
  if (m->clip_off < 0 || m->nsites <= 0) return;
  printf("clip state: %d DSGC sites (held level l* at exponent s*, last step's d_c and phi)\n", m->nsites);
  for (int32_t k = 0; k < m->nsites; k++) {
    const uint8_t *st = slab + m->clip_off + 16 * k;
    int64_t l = get_i32(st) - 1;
    char d[32], f[32];
    nitrt_fmt_dec(d, nitrt_ratio(get_i32(st + 8), (int64_t)1 << 30, 6), 6);
    nitrt_fmt_dec(f, nitrt_ratio(get_i32(st + 12), (int64_t)1 << 30, 6), 6);
    if (l < 0) printf("  site %-3d no level held yet (no search has run)\n", k);
    else
      printf("  site %-3d level %4lld at exponent %4lld  d_c %s  phi %s\n", k, (long long)l, (long long)get_i32(st + 4),
             d, f);
  }
}

/* The tensors of another model: the format-3 records, by number. */
static void tensors_other(const uint8_t *b, const CkptLayout *l, uint32_t version) {
  if (!l->records) {
    printf("  (format %u keeps no per-tensor records; the layout is the other model's: inspect the file with its "
           "own executable)\n",
           version);
    return;
  }
  printf("  %-3s %-7s %-6s %4s %4s %4s  %s\n", "#", "role", "master", "exp", "mom", "view", "stats");
  for (int64_t p = 0; p < l->nparams; p++) {
    const uint8_t *e = b + l->records + 32 * p;
    char mom[16] = "-", st[24] = "-";
    if (get_i32(e + 12)) snprintf(mom, sizeof mom, "%lld", (long long)get_i32(e + 16));
    if (get_i32(e + 20)) snprintf(st, sizeof st, "%lld ch", (long long)get_i32(e + 20));
    printf("  %-3lld %-7s int%-3lld %4lld %4s %4lld  %s\n", (long long)p, role_name(get_i32(e)),
           (long long)get_i32(e + 4), (long long)get_i32(e + 8), mom, (long long)get_i32(e + 24), st);
  }
}

static void data_lines(const Ckpt *c, const CkptLayout *l) {
  char a[96];
  if (c->version < 2) {
    printf("data: not recorded (format 1): eval needs --data, and CSV input is refused\n");
    return;
  }
  char dir[NITRT_PATH_MAX + 1];
  snprintf(dir, sizeof dir, "%s", c->data[0] ? c->data : "(directory not recorded: too long)");
  nitrt_defang(dir);
  printf("data: %s\n", dir);
  printf("  training set  %s; %lld used for training, %d held out\n", nitrt_print_desc(a, &c->train),
         (long long)c->ntrain, c->r.holdout);
  printf("  test set      %s\n", nitrt_print_desc(a, &c->test));
  printf("  input %dx%dx%d at exponent %d, quantized as ", l->c, l->h, l->w, c->q.in_exp);
  if (c->q.kind != NITRT_QUANT_COLUMNS) {
    printf("8-bit pixels (x = p >> 1)\n");
    return;
  }
  printf("CSV with per-column shifts (x_j = round(v_j 2^-s_j)), %lld columns:", (long long)c->q.ncols);
  const int64_t shown = 32;
  for (int64_t k = 0; k < c->q.ncols && k < shown; k++) printf(k ? ", %d" : " %d", c->q.shift[k]);
  if (c->q.ncols > shown) printf(", ... (%lld more)", (long long)(c->q.ncols - shown));
  printf("\n");
}

int nitrt_cmd_inspect(const Options *o) {
  const NitModel *m = &nit_model;
  const char *path = o->load;
  uint8_t *b = NULL, *slab = NULL;
  size_t len = 0;
  Ckpt c, mine;
  CkptLayout l;
  memset(&c, 0, sizeof c);
  memset(&mine, 0, sizeof mine);
  int rc = -1;
  if (nitrt_read_file(path, "a checkpoint", &b, &len) || nitrt_ckpt_peek(path, b, len, &c, &l)) goto out;
  bool same = c.fingerprint == m->fingerprint && c.abi == m->abi;
  if (same) { /* everything checked, as a resume would */
    slab = nitrt_alloc_aligned((size_t)m->param_bytes);
    if (!slab || nitrt_ckpt_parse(path, b, len, m, &mine, slab)) goto out;
  } else {
    nitrt_warn("%s: a checkpoint of model %.63s (fingerprint 0x%016llx, ABI %u), not of this executable's %s "
               "(0x%016llx, ABI %u): shown as recorded, its fields unchecked",
               path, c.name, (unsigned long long)c.fingerprint, c.abi, m->name, (unsigned long long)m->fingerprint,
               (unsigned)m->abi);
  }
  const char *kind = c.r.kind >= 0 && c.r.kind < NIT_RECIPE_COUNT ? nit_recipe_names[c.r.kind] : "?";
  printf("checkpoint %s: format %u (%s), %zu bytes, CRC-32 0x%08x (matches)\n", path, c.version,
         c.version >= 3   ? "recipes with masters"
         : c.version == 2 ? "recipe niti"
                          : "recipe niti, no data recorded",
         len, l.crc);
  char name[64];
  snprintf(name, sizeof name, "%.63s", c.name);
  nitrt_defang(name);
  printf("model %s (fingerprint 0x%016llx, ABI %u)%s\n", name, (unsigned long long)c.fingerprint, c.abi,
         same ? ": this executable's model, every field checked" : ": another model");
  printf("progress: %u of %d epochs completed, global step %llu; the next epoch's data order: epoch %u, seed %llu\n",
         c.epoch, c.r.epochs, (unsigned long long)c.step, c.shuffle_epoch, (unsigned long long)c.shuffle_seed);
  if (c.pos) {
    char a[32];
    int64_t steps = c.r.batch > 0 ? (c.ntrain + c.r.batch - 1) / c.r.batch : 0;
    printf("position: inside epoch %u, %llu of %lld steps done; so far %lld training predictions "
           "right, summed loss %s\n",
           c.epoch + 1, (unsigned long long)c.pos, (long long)steps, (long long)c.pos_correct,
           nitrt_fmt_dec(a, nitrt_q24_dec(c.pos_loss_q24, 4), 4));
  }
  printf("recipe %s: batch %d, epochs %d, seed %llu, limit %lld%s\n", kind, c.r.batch, c.r.epochs,
         (unsigned long long)c.r.seed, (long long)c.r.limit, c.r.limit ? "" : " (all samples)");
  bool was = nitrt_silent;
  nitrt_silent = true;
  bool legal = same || nitrt_recipe_check(path, &c.r) == 0; /* this model's: checked by the parse */
  nitrt_silent = was;
  if (legal) nitrt_print_recipe(stdout, &c.r, NULL);
  else printf("        (fields out of their ranges: not shown)\n");
  data_lines(&c, &l);
  printf("parameters: %lld bytes in %lld tensors\n", (long long)c.param_bytes, (long long)l.nparams);
  if (same) {
    tensors_mine(m, slab);
    clip_sites(m, slab);
  } else tensors_other(b, &l, c.version);
  int64_t k = c.version >= 2 ? c.q.ncols : 0, dl = c.version >= 2 ? (int64_t)strlen(c.data) : 0;
  printf("size: header %lld", (long long)(c.version >= 3 ? 568 : l.header));
  if (l.records) printf(" + tensor records %lld", (long long)(l.header - l.records));
  printf(" + parameters %lld + column shifts %lld + data directory %lld", (long long)c.param_bytes, (long long)k,
         (long long)dl);
  if (c.pos) printf(" + epoch position %d", NITRT_CKPT_POS_BYTES);
  printf(" + CRC 4 = %zu bytes\n", len);
  rc = 0;
out:
  nitrt_ckpt_free(&c);
  nitrt_ckpt_free(&mine);
  if (slab) nitrt_free_aligned(slab, (size_t)m->param_bytes);
  free(b);
  return rc;
}
