/*
 * export.c: `export --load CKPT -o DIR`, a trained network as plain C.
 *
 * The exported model is data for export_lib.c: a table of NxLayer rows (the
 * nodes of nit_model with their geometry), the int8 weights the evaluation
 * forward pass uses (the weights, NITI's wide-weight views, or the views of
 * the masters at the evaluation step), each norm layer's table of S31
 * coefficients (nitrt_norm_export), and one static arena whose layout
 * planned here reuses a layer's buffer once its last reader has run. The
 * runtime links export_lib.c too: before anything is written, the very
 * tables about to be printed run through nx_run on check samples and must
 * give the generated forward pass's logits (n = 1) byte for byte, so an
 * export is never silently wrong. The files are written atomically.
 *
 * The texts of export_lib.h, export_lib.c and the generator's part of
 * nitabi.h come from export_text.h, which the build embeds from those
 * files (cmake/embed.cmake).
 */
#define _DEFAULT_SOURCE /* mkstemp, fdopen */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export_lib.h"
#include "export_text.h"
#include "nitrt.h"

/* Node kinds of nit_model.nodes, indexed by NX_* (NX_NORM stands for the
 * four norm kinds: op_of). */
static const char *const OP_NAMES[NX_NOPS] = {"input",   "dense",   "conv", "maxpool", "avgpool", "relu",
                                              "flatten", "dropout", "add",  "norm"};

typedef struct Export {
  const NitModel *m;
  NxLayer *layers;      /* (nnodes) */
  NxModel nx;
  int8_t **owned;       /* (nparams) wide-weight views we allocated */
  int32_t **coef;       /* (nnodes) a norm layer's (C + 1, 4) table, else NULL */
  const int8_t **w;     /* (nparams) the int8 weights of evaluation */
  int32_t *wexp;        /* (nparams) their exponents */
  int32_t arena_bytes;  /* RAM */
  int32_t in_off;       /* pixel models: the quantized input inside the arena */
  int32_t acc_bits;     /* 32 or 64 */
  int64_t acc_count;    /* accumulator elements */
  int64_t flash_bytes;  /* weights */
  bool pixels;          /* trained on 8-bit pixels: classify() takes bytes */
  char name[64];        /* C identifier prefix */
} Export;

/* ------------------------------------------------------------- the model */

/* NX_* of a node, -1 for a kind export does not know; a norm layer is the
 * node whose parameter is a gamma (its kind is in the tensor's NIT_NORM_DESC). */
static int op_of(const NitModel *m, const NitNode *n) {
  if (n->param >= 0 && m->params[n->param].role == NIT_ROLE_GAMMA) return NX_NORM;
  for (int k = 0; k < NX_NORM; k++)
    if (!strcmp(n->kind, OP_NAMES[k])) return k;
  return -1;
}

/* A norm layer's table (nitrt_norm_export): the batch kinds' y = a_c v +
 * b_c from the running statistics, or the layer kinds' gamma, beta and
 * constants, as S31 values; from gamma's and beta's views, as the forward
 * pass reads them. */
static int norm_table(Export *x, Run *u, int32_t i) {
  const NitNode *n = &x->m->nodes[i];
  const NitParam *g = &x->m->params[n->param];
  int64_t rows = (int64_t)g->shape[0] + 1;
  if (!(x->coef[i] = nitrt_alloc(sizeof(int32_t) * 4 * (size_t)rows))) return -1;
  const int32_t *run =
      g->stats_off >= 0 ? (const int32_t *)(const void *)((const char *)u->params + g->stats_off) : NULL;
  nitrt_norm_export(g->norm, x->w[n->param], x->wexp[n->param], x->w[n->param + 1], x->wexp[n->param + 1], run,
                    x->coef[i]);
  x->flash_bytes += 16 * rows;
  return 0;
}

/* The int8 weights and exponents of evaluation. The masters recipes' views
 * are what the generated forward pass writes at every call's start, so one
 * call at the evaluation step leaves them in the params slab. */
static int weights(Export *x, Run *u, const Ckpt *ck) {
  const NitModel *m = x->m;
  if (m->recipe.kind != NIT_RECIPE_NITI) {
    memset(u->xb, 0, (size_t)nitrt_model_dim(m));
    NitCtx c = nitrt_run_ctx(u, NIT_STEP_EVAL, 1, NITRT_IN_EXP, nitrt_mu_for_epoch(&u->r, (int32_t)ck->epoch), 0);
    m->forward(&c, u->xb);
  }
  const int32_t *ps = m->pstate_off >= 0 ? (const int32_t *)(void *)((char *)u->params + m->pstate_off) : NULL;
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *q = &m->params[p];
    const char *at = (const char *)u->params + q->offset;
    if (ps) { /* {master exp, momentum exp, view exp, 0} per tensor */
      x->w[p] = (const int8_t *)at;
      x->wexp[p] = ps[4 * p + 2];
    } else if (q->bits > 8) {
      if (!(x->owned[p] = nitrt_alloc((size_t)q->count))) return -1;
      nx_wide_view((const int16_t *)(const void *)at, q->count, q->bits, x->owned[p]);
      x->w[p] = x->owned[p];
      x->wexp[p] = q->exp;
    } else {
      x->w[p] = (const int8_t *)at;
      x->wexp[p] = q->exp;
    }
  }
  return 0;
}

/* One NxLayer per node, stochastic rounding keyed by the run's seed; -1
 * after a message for a node export cannot write. */
static int layers(Export *x, Run *u, uint64_t seed) {
  const NitModel *m = x->m;
  bool fits32 = true;
  for (int32_t i = 0; i < m->nnodes; i++) {
    const NitNode *n = &m->nodes[i];
    NxLayer *l = &x->layers[i];
    int op = op_of(m, n);
    if (op < 0 || (op == NX_INPUT) != (i == 0)) {
      nitrt_error("export: layer '%s' is a %s layer, which export cannot write yet (docs/deploy.md, "
                  "\"Limits\"); nothing was written",
                  n->name, n->kind);
      return -1;
    }
    const NitNode *in = n->in[0] >= 0 ? &m->nodes[n->in[0]] : n;
    *l = (NxLayer){.op = op, .in0 = n->in[0], .in1 = n->in[1], .c = in->out[0], .h = in->out[1],
                   .w = in->out[2], .oc = n->out[0], .oh = n->out[1], .ow = n->out[2],
                   .kh = n->geom[NIT_G_KH], .kw = n->geom[NIT_G_KW], .sh = n->geom[NIT_G_SH],
                   .sw = n->geom[NIT_G_SW], .ph = n->geom[NIT_G_PH], .pw = n->geom[NIT_G_PW],
                   .groups = n->geom[NIT_G_GROUPS], .drop256 = n->geom[NIT_G_DROP256],
                   .key = nit_key(seed, NIT_STEP_EVAL, NIT_TID_ACT((uint32_t)i))};
    if (op == NX_DENSE || op == NX_CONV) {
      l->wt = x->w[n->param];
      l->w_exp = x->wexp[n->param];
      x->flash_bytes += m->params[n->param].count;
      /* every product is at most 128 * 128 in magnitude */
      fits32 &= (int64_t)m->params[n->param].fan_in * 16384 <= INT32_MAX;
    }
    if (op == NX_AVGPOOL) fits32 &= (int64_t)l->kh * l->kw * 128 <= INT32_MAX;
    if (op == NX_ADD) fits32 = false; /* operands shift by up to 48 bits */
    if (op == NX_NORM) { /* terms aligned up to 2^60 */
      if (norm_table(x, u, i)) return -1;
      l->coef = x->coef[i];
      l->norm = (int32_t)m->params[n->param].norm[NIT_ND_KIND];
      fits32 = false;
    }
  }
  x->acc_bits = fits32 ? 32 : 64;
  return 0;
}

/* The arena: every layer's output placed first-fit among the buffers still
 * to be read (a buffer is free once the last layer reading it has run; the
 * logits live to the end), then the accumulator (a conv's rows as long as
 * nx_conv_row says), the exponents, the largest bordered input channel of
 * a padded conv (nx_conv_plane) and, for pixel models, the quantized input. */
static int plan(Export *x) {
  const NitModel *m = x->m;
  int32_t nn = m->nnodes;
  int64_t *last = nitrt_alloc(sizeof(int64_t) * (size_t)nn);
  int64_t *off = nitrt_alloc(sizeof(int64_t) * (size_t)nn);
  if (!last || !off) {
    free(last);
    free(off);
    return -1;
  }
  for (int32_t i = 0; i < nn; i++) last[i] = i == m->output ? nn : i;
  for (int32_t i = 1; i < nn; i++)
    for (int k = 0; k < 2; k++) {
      int32_t s = k ? x->layers[i].in1 : x->layers[i].in0;
      if (s >= 0 && last[s] < i) last[s] = i;
    }
  int64_t top = 0, acc = 0, plane = 0;
  for (int32_t i = 1; i < nn; i++) {
    const NxLayer *l = &x->layers[i];
    int64_t size = ((int64_t)l->oc * l->oh * l->ow + 7) / 8 * 8, at = 0;
    for (bool moved = true; moved;) { /* lowest offset clear of every live buffer */
      moved = false;
      for (int32_t j = 1; j < i; j++) {
        int64_t sj = ((int64_t)x->layers[j].oc * x->layers[j].oh * x->layers[j].ow + 7) / 8 * 8;
        if (last[j] >= i && at < off[j] + sj && off[j] < at + size) {
          at = off[j] + sj;
          moved = true;
        }
      }
    }
    off[i] = at;
    if (at + size > top) top = at + size;
    int op = l->op;
    if (op == NX_DENSE || op == NX_CONV || op == NX_AVGPOOL || op == NX_ADD || op == NX_DROPOUT || op == NX_NORM) {
      int64_t cnt = (int64_t)l->oc * l->oh * (op == NX_CONV ? nx_conv_row(l) : l->ow);
      if (cnt > acc) acc = cnt;
    }
    if (op == NX_CONV && (l->ph || l->pw) && nx_conv_plane(l) > plane) plane = nx_conv_plane(l);
  }
  for (int32_t i = 1; i < nn; i++) x->layers[i].out = (int32_t)off[i];
  x->nx.acc_off = (int32_t)top;
  x->acc_count = acc;
  top += acc * (x->acc_bits / 8);
  x->nx.exp_off = (int32_t)top;
  top += 4 * (int64_t)nn;
  x->nx.plane_off = (int32_t)top;
  top += plane;
  x->in_off = (int32_t)top;
  if (x->pixels) top += nitrt_model_dim(m);
  free(last);
  free(off);
  if (top > INT32_MAX / 2) {
    nitrt_error("export: the network needs %lld bytes of activations per sample; export supports up to 1 GiB",
                (long long)top);
    return -1;
  }
  x->arena_bytes = (int32_t)((top + 7) / 8 * 8);
  return 0;
}

/* --------------------------------------------------------------- checking */

/* The tables against the generated forward pass, n = 1, on `count` inputs
 * drawn from the generator: pixels 0..127 for pixel models, else -127..127. */
static int check(Export *x, Run *u, const Ckpt *ck, int64_t count) {
  const NitModel *m = x->m;
  int64_t dim = nitrt_model_dim(m);
  /* the runtime's copy of the kernels sums in 64 bits (the same sums when
   * the export proved 32 enough): its accumulator moves past the arena */
  NxModel nx = x->nx;
  nx.acc_off = x->arena_bytes;
  unsigned char *arena = nitrt_alloc((size_t)x->arena_bytes + 8 * (size_t)x->acc_count);
  if (!arena) return -1;
  int rc = 0;
  for (int64_t s = 0; s < count && !rc; s++) {
    uint64_t key = nit_key(ck->r.seed, (uint64_t)s, 0xFFFF0101u);
    for (int64_t j = 0; j < dim; j++) {
      uint64_t r = nit_draw(key, (uint64_t)j);
      u->xb[j] = (int8_t)(x->pixels ? (int64_t)(r % 128) : (int64_t)(r % 255) - 127);
    }
    NitCtx c = nitrt_run_ctx(u, NIT_STEP_EVAL, 1, NITRT_IN_EXP, nitrt_mu_for_epoch(&u->r, (int32_t)ck->epoch), 0);
    m->forward(&c, u->xb);
    const int8_t *z = NULL;
    int32_t e = nx_run(&nx, u->xb, NITRT_IN_EXP, arena, &z);
    int32_t j = 0;
    while (j < m->classes && z[j] == u->logits[j]) j++;
    if (e != c.logit_exp || j < m->classes) {
      nitrt_error("export: internal error: the exported inference differs from the model's forward pass on "
                  "check sample %lld (logit %d: %d x2^%d against %d x2^%d); nothing was written. Please report it",
                  (long long)s, j < m->classes ? j : 0, z[j < m->classes ? j : 0], e,
                  u->logits[j < m->classes ? j : 0], c.logit_exp);
      rc = -1;
    }
  }
  free(arena);
  return rc;
}

/* ---------------------------------------------------------------- writing */

typedef struct Out {
  FILE *f;
  char tmp[4200], path[4200];
} Out;

static int out_open(Out *o, const char *dir, const char *name, const char *ext) {
  snprintf(o->path, sizeof o->path, "%s/%s.%s", dir, name, ext);
  snprintf(o->tmp, sizeof o->tmp, "%s/.%s.%s.tmpXXXXXX", dir, name, ext);
  int fd = mkstemp(o->tmp);
  mode_t um = umask(0); /* mkstemp makes 0600: give the files the usual mode */
  umask(um);
  if (fd < 0 || fchmod(fd, 0666 & ~um) != 0 || !(o->f = fdopen(fd, "w"))) {
    nitrt_error("%s: cannot create: %s", o->path, strerror(errno));
    if (fd >= 0) {
      close(fd);
      unlink(o->tmp);
    }
    return -1;
  }
  return 0;
}

/* Close and move into place; on any earlier failure (ok false) remove it. */
static int out_close(Out *o, bool ok) {
  if (!o->f) return -1;
  bool bad = ferror(o->f) != 0;
  bad |= fclose(o->f) != 0;
  o->f = NULL;
  if (ok && bad) nitrt_error("%s: write failed: %s", o->path, strerror(errno));
  if (!ok || bad || rename(o->tmp, o->path) != 0) {
    if (ok && !bad) nitrt_error("%s: cannot write: %s", o->path, strerror(errno));
    unlink(o->tmp);
    return -1;
  }
  return 0;
}

static void upper(char *dst, const char *src) {
  for (; *src; src++) *dst++ = (char)(*src >= 'a' && *src <= 'z' ? *src - 'a' + 'A' : *src);
  *dst = '\0';
}

static void write_header(const Export *x, FILE *f, const Ckpt *ck, const char *ckpt) {
  const NitModel *m = x->m;
  char up[64];
  upper(up, x->name);
  fprintf(f,
          "/* %s.h: integer inference of model %s, exported from %s (epoch %u) by %s.\n"
          " * Plain C99: no floating point, no allocation, <stdint.h> and <string.h> only.\n"
          " * Every result equals the training executable's `predict --per-sample`\n"
          " * byte for byte. Not reentrant: one static arena (%s_RAM_BYTES). */\n"
          "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n",
          x->name, m->name, ckpt, ck->epoch, m->compiler ? m->compiler : "nitc", up, up, up);
  fprintf(f,
          "#define %s_INPUT_C %d\n#define %s_INPUT_H %d\n#define %s_INPUT_W %d\n"
          "#define %s_INPUT_SIZE %lld /* C*H*W */\n"
          "#define %s_INPUT_EXP (%d) /* the int8 input x stands for x * 2^%d */\n"
          "#define %s_CLASSES %d\n"
          "#define %s_FLASH_BYTES %lld /* int8 weights and the norm layers' tables */\n"
          "#define %s_RAM_BYTES %d /* the static arena */\n\n",
          up, m->in_c, up, m->in_h, up, m->in_w, up, (long long)nitrt_model_dim(m), up, NITRT_IN_EXP, NITRT_IN_EXP,
          up, m->classes, up, (long long)x->flash_bytes, up, x->arena_bytes);
  if (x->pixels)
    fprintf(f,
            "/* Classify one sample of 8-bit data (idx, CIFAR-10 or raw bytes, (C, H, W)):\n"
            " * returns the class and, when logits is not NULL, writes the %d int8 logits\n"
            " * (widened); their exponent is %s_logit_exp(). */\n"
            "int %s_classify(const uint8_t *input, int32_t *logits);\n\n",
            m->classes, x->name, x->name);
  else
    fprintf(f,
            "/* The model was trained on CSV features: quantize feature j as\n"
            " * x_j = round(v_j * 2^-%s_input_shift[j]) (half away from zero, saturated to\n"
            " * +-127; docs/runtime.md, \"Quantization\") and call %s_classify_q8. */\n"
            "extern const int8_t %s_input_shift[%s_INPUT_SIZE];\n\n",
            x->name, x->name, x->name, up);
  fprintf(f,
          "/* Classify one quantized sample x (C, H, W) int8 at exponent %s_INPUT_EXP. */\n"
          "int %s_classify_q8(const int8_t *x, int32_t *logits);\n"
          "/* Exponent of the logits of the last call: logit * 2^exp. */\n"
          "int32_t %s_logit_exp(void);\n\n",
          up, x->name, x->name);
  fprintf(f,
          "/* Model-independent names, for programs written for any exported model. */\n"
          "#ifdef NITC_MODEL_ALIASES\n"
          "#define NITC_MODEL_NAME \"%s\"\n#define NITC_MODEL_INPUT_SIZE %s_INPUT_SIZE\n"
          "#define NITC_MODEL_CLASSES %s_CLASSES\n#define NITC_MODEL_FLASH_BYTES %s_FLASH_BYTES\n"
          "#define NITC_MODEL_RAM_BYTES %s_RAM_BYTES\n#define NITC_MODEL_PIXELS %d\n",
          x->name, up, up, up, up, x->pixels ? 1 : 0);
  if (x->pixels) fprintf(f, "#define nitc_model_classify %s_classify\n", x->name);
  fprintf(f, "#define nitc_model_classify_q8 %s_classify_q8\n#define nitc_model_logit_exp %s_logit_exp\n#endif\n\n#endif\n",
          x->name, x->name);
}

static void write_bytes(FILE *f, const int8_t *v, int64_t n) {
  for (int64_t j = 0; j < n; j++) fprintf(f, "%s%d,", j % 20 ? " " : "\n  ", v[j]);
  fputs("\n};\n", f);
}

static void write_source(const Export *x, FILE *f, const InputQuant *q) {
  const NitModel *m = x->m;
  char up[64];
  upper(up, x->name);
  fprintf(f,
          "/* %s.c: integer inference of model %s, exported by %s; see %s.h. */\n"
          "#include <stdint.h>\n#include <string.h>\n\n#include \"%s.h\"\n\n"
          "#define NX_EXPORTED 1\n#define NX_FN static\n#define NX_ACC_BITS %d\n\n",
          x->name, m->name, m->compiler ? m->compiler : "nitc", x->name, x->name, x->acc_bits);
  fputs(nitrt_text_abi, f);
  fputs(nitrt_text_lib_h, f);
  fputs(nitrt_text_lib_c, f);
  fputs("\n/* ---------------------------------------------------------- the model */\n", f);
  for (int32_t i = 0; i < m->nnodes; i++) {
    const NxLayer *l = &x->layers[i];
    int32_t p = m->nodes[i].param;
    if (l->op == NX_DENSE || l->op == NX_CONV) {
      fprintf(f, "\n/* %s: (%d, %d, %d, %d) at 2^%d */\nstatic const int8_t %s_w%d[%lld] = {", m->params[p].name,
              m->params[p].shape[0], m->params[p].shape[1], m->params[p].shape[2], m->params[p].shape[3], x->wexp[p],
              x->name, p, (long long)m->params[p].count);
      write_bytes(f, x->w[p], m->params[p].count);
    } else if (l->op == NX_NORM) {
      fprintf(f, "\n/* %s: %s, (%d + 1, 4) S31 {m, e} pairs */\nstatic const int32_t %s_n%d[%d] = {", m->nodes[i].name,
              m->nodes[i].kind, l->c, x->name, i, 4 * (l->c + 1));
      for (int32_t j = 0; j < 4 * (l->c + 1); j++) fprintf(f, "%s%d,", j % 8 ? " " : "\n  ", (int)l->coef[j]);
      fputs("\n};\n", f);
    }
  }
  if (!x->pixels) {
    fprintf(f, "\nconst int8_t %s_input_shift[%s_INPUT_SIZE] = {", x->name, up);
    write_bytes(f, q->shift, q->ncols);
  }
  fprintf(f, "\nstatic const NxLayer %s_layers[%d] = {\n", x->name, m->nnodes);
  for (int32_t i = 0; i < m->nnodes; i++) {
    const NxLayer *l = &x->layers[i];
    const NitNode *n = &m->nodes[i];
    char wt[96] = "0", coef[96] = "0", op[16];
    upper(op, OP_NAMES[l->op]);
    if (l->op == NX_DENSE || l->op == NX_CONV) snprintf(wt, sizeof wt, "%s_w%d", x->name, n->param);
    if (l->op == NX_NORM) snprintf(coef, sizeof coef, "%s_n%d", x->name, i);
    fprintf(f,
            "    /* %d %s: %s */\n"
            "    {.op = NX_%s, .in0 = %d, .in1 = %d, .c = %d, .h = %d, .w = %d, .oc = %d, .oh = %d, .ow = %d,\n"
            "     .kh = %d, .kw = %d, .sh = %d, .sw = %d, .ph = %d, .pw = %d, .groups = %d, .drop256 = %d,\n"
            "     .w_exp = %d, .wt = %s, .norm = %d, .coef = %s, .out = %d, .key = 0x%016llxull},\n",
            i, n->name, n->kind, op, l->in0, l->in1, l->c, l->h, l->w, l->oc, l->oh, l->ow, l->kh, l->kw, l->sh,
            l->sw, l->ph, l->pw, l->groups, l->drop256, l->w_exp, wt, l->norm, coef, l->out,
            (unsigned long long)l->key);
  }
  fputs("};\n", f);
  const NxModel *nx = &x->nx;
  fprintf(f,
          "\nstatic const NxModel %s_model = {.nlayers = %d, .output = %d, .classes = %d, .masters = %d, .bits = "
          "%d,\n    .round = %d, .acc_off = %d, .exp_off = %d, .plane_off = %d, .layers = %s_layers};\n",
          x->name, nx->nlayers, nx->output, nx->classes, nx->masters, nx->bits, nx->round, nx->acc_off, nx->exp_off,
          nx->plane_off, x->name);
  fprintf(f,
          "\nstatic uint64_t %s_arena[(%s_RAM_BYTES + 7) / 8];\nstatic int32_t %s_exp;\n\n"
          "int %s_classify_q8(const int8_t *x, int32_t *logits) {\n"
          "  const int8_t *z;\n  int32_t c, best = 0;\n"
          "  %s_exp = nx_run(&%s_model, x, %s_INPUT_EXP, (unsigned char *)%s_arena, &z);\n"
          "  for (c = 0; c < %s_CLASSES; c++) {\n"
          "    if (logits) logits[c] = z[c];\n"
          "    if (z[c] > z[best]) best = c;\n  }\n  return (int)best;\n}\n\n"
          "int32_t %s_logit_exp(void) { return %s_exp; }\n",
          x->name, up, x->name, x->name, x->name, x->name, up, x->name, up, x->name, x->name);
  if (x->pixels)
    fprintf(f,
            "\n/* 8-bit data enter as x = p >> 1 at exponent -7 (docs/runtime.md, \"Quantization\"). */\n"
            "int %s_classify(const uint8_t *input, int32_t *logits) {\n"
            "  int8_t *x = (int8_t *)%s_arena + %d;\n  int32_t j;\n"
            "  for (j = 0; j < %s_INPUT_SIZE; j++) x[j] = (int8_t)(input[j] >> 1);\n"
            "  return %s_classify_q8(x, logits);\n}\n",
            x->name, x->name, x->in_off, up, x->name);
}

/* ---------------------------------------------------------------- command */

/* DIR exists as a directory, or is created (its parent must exist). */
static int make_dir(const char *dir) {
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    nitrt_error("%s: exists and is not a directory", dir);
    return -1;
  }
  if (mkdir(dir, 0777) != 0) {
    nitrt_error("%s: cannot create the directory: %s", dir, strerror(errno));
    return -1;
  }
  return 0;
}

static void free_export(Export *x) {
  if (x->owned)
    for (int32_t p = 0; p < x->m->nparams; p++) free(x->owned[p]);
  if (x->coef)
    for (int32_t i = 0; i < x->m->nnodes; i++) free(x->coef[i]);
  free(x->owned);
  free(x->coef);
  free(x->w);
  free(x->wexp);
  free(x->layers);
}

int nitrt_cmd_export(const Options *o) {
  const NitModel *m = &nit_model;
  Run u;
  memset(&u, 0, sizeof u);
  Ckpt ck;
  memset(&ck, 0, sizeof ck);
  Export x;
  memset(&x, 0, sizeof x);
  x.m = m;
  int rc = -1;
  if (nitrt_run_alloc(&u, m, 1) || nitrt_ckpt_load(o->load, m, &ck, u.params)) goto out;
  u.r = ck.r;
  u.r.batch = 1;
  x.pixels = ck.version < 2 || ck.q.kind == NITRT_QUANT_PIXELS;
  size_t np = m->nparams > 0 ? (size_t)m->nparams : 1;
  x.owned = nitrt_alloc(np * sizeof *x.owned);
  x.w = nitrt_alloc(np * sizeof *x.w);
  x.wexp = nitrt_alloc(np * sizeof *x.wexp);
  x.layers = nitrt_alloc((size_t)m->nnodes * sizeof *x.layers);
  x.coef = nitrt_alloc((size_t)m->nnodes * sizeof *x.coef);
  if (!x.owned || !x.w || !x.wexp || !x.layers || !x.coef) goto out;
  size_t k = 0;
  for (const char *s = m->name; *s && k + 1 < sizeof x.name; s++, k++)
    x.name[k] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9' && k) ? *s : '_');
  if (weights(&x, &u, &ck) || layers(&x, &u, u.r.seed)) goto out;
  x.nx = (NxModel){.nlayers = m->nnodes, .output = m->output, .classes = m->classes,
                   .masters = m->recipe.kind != NIT_RECIPE_NITI, .bits = m->recipe.kind != NIT_RECIPE_NITI ? m->recipe.bits_act : 8,
                   .round = u.r.act_round, .layers = x.layers};
  if (plan(&x) || check(&x, &u, &ck, o->verify) || make_dir(o->out)) goto out;
  Out h = {0}, c = {0};
  if (out_open(&h, o->out, x.name, "h")) goto out;
  if (out_open(&c, o->out, x.name, "c")) {
    out_close(&h, false);
    goto out;
  }
  write_header(&x, h.f, &ck, o->load);
  write_source(&x, c.f, &ck.q);
  if (out_close(&c, true) | out_close(&h, true)) goto out;
  printf("exported %s (epoch %u) to %s and %s\n"
         "  flash %lld bytes of int8 weights, RAM %d bytes (one static arena, %d-bit sums)\n"
         "  checked on %lld samples: identical to the per-sample forward pass (predict --per-sample)\n",
         m->name, ck.epoch, c.path, h.path, (long long)x.flash_bytes, x.arena_bytes, x.acc_bits, (long long)o->verify);
  rc = 0;
out:
  free_export(&x);
  nitrt_ckpt_free(&ck);
  nitrt_run_free(&u);
  return rc;
}
