/*
 * sema_layers.c: the layer table and what it decides.
 *
 * The table below is the single place that says which layer kinds exist,
 * which arguments each takes (positional and keyword), their defaults and
 * ranges, how each kind maps an input shape to an output shape, and whether
 * a training recipe lowers it. Adding a layer means one row here plus its
 * lowering in the back end; the grammar does not change. The rules every
 * weight layer shares with the reference and the runtime (the init rule, the
 * accumulator width) live here too.
 *
 * All size arithmetic is int64 with explicit overflow checks; per-sample
 * shapes are limited to SEMA_MAX_ELEMS elements and one weight tensor to
 * SEMA_MAX_WEIGHTS, so every later product of a shape and the batch fits.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "nitc.h"

/* ------------------------------------------------------------ the layer table */

/* ARG_DEC: a decimal in [lo, hi]; ARG_DEC_POS: in (lo, hi]. Their default
 * is DEC_DEF(n, f), the decimal n / 10^f. */
typedef enum { ARG_INT, ARG_RATE, ARG_DEC, ARG_DEC_POS } ArgType;

#define DEC_DEF(n, f) ((n) * 10 + (f))

#define REQUIRED       INT64_MIN       /* no default: the argument must be given */
#define SAME_AS_KERNEL (INT64_MIN + 1) /* stride defaults to the window */

typedef struct ArgSpec {
  const char *name;
  ArgType type;
  int64_t def;
  int64_t lo, hi;
} ArgSpec;

enum { MAX_ARGS = 5 };

/* Fill n->out (and weight fields) from the input shape; false after an error. */
typedef bool ShapeFn(Sema *s, Node *n, Shape in, const LayerKind *k);

struct LayerKind {
  const char *name;
  OpKind op;
  int npos; /* the first npos arguments may be given positionally */
  ArgSpec args[MAX_ARGS];
  ShapeFn *shape;
  const char *example; /* shown when the arguments are wrong */
};

static ShapeFn shape_dense, shape_conv, shape_pool, shape_same, shape_flatten;

/* The arguments of the normalization layers (docs/language.md, "Layers"):
 * eps in (0, 1], momentum in [0, 1], k in (0, 100] with the default
 * sqrt(pi/2) written as 0 (Node.nk). */
#define NORM_EPS      {"eps", ARG_DEC_POS, DEC_DEF(1, 5), 0, 1}
#define NORM_MOMENTUM {"momentum", ARG_DEC, DEC_DEF(1, 1), 0, 1}
#define NORM_K        {"k", ARG_DEC_POS, DEC_DEF(0, 0), 0, 100}

#define CONV_ROW(nm)                                                      \
  {                                                                       \
    nm, OP_CONV, 1,                                                       \
        {{"channels", ARG_INT, REQUIRED, 1, SEMA_MAX_DIM},                \
         {"kernel", ARG_INT, REQUIRED, 1, SEMA_MAX_DIM},                  \
         {"stride", ARG_INT, 1, 1, SEMA_MAX_DIM},                         \
         {"pad", ARG_INT, 0, 0, SEMA_MAX_DIM},                            \
         {"groups", ARG_INT, 1, 1, SEMA_MAX_DIM}},                        \
        shape_conv, nm "(16, kernel=3, stride=1, pad=1, groups=1)"        \
  }

static const LayerKind layers[] = {
    {"dense", OP_DENSE, 1, {{"units", ARG_INT, REQUIRED, 1, SEMA_MAX_DIM}}, shape_dense, "dense(120)"},
    CONV_ROW("conv"),
    CONV_ROW("conv2d"),
    {"maxpool",
     OP_MAXPOOL,
     1,
     {{"kernel", ARG_INT, REQUIRED, 1, SEMA_MAX_DIM},
      {"stride", ARG_INT, SAME_AS_KERNEL, 1, SEMA_MAX_DIM},
      {"pad", ARG_INT, 0, 0, SEMA_MAX_DIM}},
     shape_pool,
     "maxpool(2, stride=2, pad=0)"},
    {"avgpool",
     OP_AVGPOOL,
     1,
     {{"kernel", ARG_INT, REQUIRED, 1, SEMA_MAX_DIM}, {"stride", ARG_INT, SAME_AS_KERNEL, 1, SEMA_MAX_DIM}},
     shape_pool,
     "avgpool(2, stride=2)"},
    {"relu", OP_RELU, 0, {{0}}, shape_same, "relu"},
    {"flatten", OP_FLATTEN, 0, {{0}}, shape_flatten, "flatten"},
    {"dropout", OP_DROPOUT, 1, {{"rate", ARG_RATE, REQUIRED, 0, 255}}, shape_same, "dropout(0.5)"},
    {"batchnorm", OP_BATCHNORM, 0, {NORM_EPS, NORM_MOMENTUM}, shape_same, "batchnorm(eps=0.00001, momentum=0.1)"},
    {"layernorm", OP_LAYERNORM, 0, {NORM_EPS}, shape_same, "layernorm(eps=0.00001)"},
    {"l1norm", OP_L1NORM, 0, {NORM_EPS, NORM_MOMENTUM, NORM_K}, shape_same,
     "l1norm(eps=0.00001, momentum=0.1, k=1.25)"},
    {"l1layernorm", OP_L1LAYERNORM, 0, {NORM_EPS, NORM_K}, shape_same, "l1layernorm(eps=0.00001, k=1.25)"},
};
enum { NLAYERS = sizeof layers / sizeof layers[0] };

const char *sema_op_name(OpKind op) {
  switch (op) {
  case OP_INPUT: return "input";
  case OP_DENSE: return "dense";
  case OP_CONV: return "conv";
  case OP_MAXPOOL: return "maxpool";
  case OP_AVGPOOL: return "avgpool";
  case OP_RELU: return "relu";
  case OP_FLATTEN: return "flatten";
  case OP_DROPOUT: return "dropout";
  case OP_ADD: return "add";
  case OP_BATCHNORM: return "batchnorm";
  case OP_L1NORM: return "l1norm";
  case OP_LAYERNORM: return "layernorm";
  case OP_L1LAYERNORM: return "l1layernorm";
  }
  return "?";
}

/* ------------------------------------------------------------ weight rules */

static bool mul_ok(int64_t a, int64_t b, int64_t *r) {
  if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a)) return false;
  *r = a * b;
  return true;
}

static uint64_t isqrt64(uint64_t x) {
  uint64_t r = 0, bit = UINT64_C(1) << 62;
  while (bit > x) bit >>= 2;
  while (bit) {
    if (x >= r + bit) {
      x -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  return r;
}

/* bound = sqrt(6 / fan_in). c = the smallest integer with fan_in * 4^c >= 6,
 * so 2^(c-1) < bound <= 2^c; the int8 view uses exponent c - 7 and draws
 * uniformly in [-w_bound, w_bound] with w_bound = min(127,
 * isqrt(floor(6 * 4^(7-c) / fan_in))), i.e. floor(bound * 2^(7-c)). */
void sema_init_rule(int64_t fan_in, int *w_exp, int *w_bound) {
  NIT_ASSERT(fan_in >= 1 && fan_in <= INT32_MAX);
  int c = 0;
  if (fan_in >= 6) {
    /* lower c while fan_in * 4^(c-1) >= 6, i.e. fan_in >= 6 * 4^(1-c) */
    while (fan_in >= 6 * (INT64_C(1) << (2 * (1 - c)))) c--;
  } else {
    while (fan_in * (INT64_C(1) << (2 * c)) < 6) c++;
  }
  int e = 7 - c; /* 5 <= e <= 7 + 15 */
  uint64_t q = (uint64_t)6 * (UINT64_C(1) << (2 * e)) / (uint64_t)fan_in;
  uint64_t b = isqrt64(q);
  *w_exp = c - 7;
  *w_bound = b > 127 ? 127 : (int)b;
}

void sema_master_rule(int64_t fan_in, int a_bits, int *m_exp, int *m_bound) {
  int w_exp, w_bound;
  sema_init_rule(fan_in, &w_exp, &w_bound);
  int c = w_exp + 7; /* -15 <= c <= 2 */
  /* M15 = min(32767, isqrt(6 4^(15-c) div fan_in)); 6 4^(15-c) < 2^63 */
  uint64_t b = isqrt64(((uint64_t)6 << (2 * (15 - c))) / (uint64_t)fan_in);
  *m_bound = b > 32767 ? 32767 : (int)b;
  *m_exp = c - 15 - (a_bits == 32 ? 16 : 0);
}

bool sema_needs_acc64(int64_t terms) { return terms > 133144; /* 133144 * 127^2 < 2^31 */ }

/* ------------------------------------------------------------ arguments */

const LayerKind *sema_find_layer(Sema *s, const char *name, Loc loc) {
  for (int i = 0; i < NLAYERS; i++)
    if (strcmp(layers[i].name, name) == 0) return &layers[i];
  for (int i = 0; i < NLAYERS; i++)
    if (sema_close_to(name, layers[i].name)) {
      sema_error(s, loc, "unknown layer kind '%s' (did you mean '%s'?)", diag_quote(name), layers[i].name);
      return NULL;
    }
  char list[256] = "";
  for (int i = 0; i < NLAYERS; i++) {
    strcat(list, layers[i].name);
    if (i + 1 < NLAYERS) strcat(list, ", ");
  }
  sema_error(s, loc, "unknown layer kind '%s'; the layers are: %s", diag_quote(name), list);
  return NULL;
}

static int nargs(const LayerKind *k) {
  int n = 0;
  while (n < MAX_ARGS && k->args[n].name) n++;
  return n;
}

static const char *arg_names(const LayerKind *k) {
  char buf[256] = "";
  for (int i = 0; i < nargs(k); i++) {
    if (i) strcat(buf, ", ");
    strcat(buf, k->args[i].name);
  }
  return mem_strdup(buf);
}

/* Convert a decimal rate to 1/256 units, rounding half up, exactly. */
static bool rate_value(Sema *s, const Ast *v, const ArgSpec *spec, int64_t *out) {
  int64_t numr = v->ival, den = 1;
  int scale = v->kind == ND_DEC ? v->scale : 0;
  for (int i = 0; i < scale; i++) den *= 10;
  if (numr < 0 || numr >= den) {
    sema_error(s, v->loc, "'%s' must be at least 0 and below 1", spec->name);
    return false;
  }
  int64_t q = (numr * 512 + den) / (2 * den); /* numr < 10^9: no overflow */
  if (q > spec->hi) {
    sema_error(s, v->loc, "'%s' rounds to %s/256; the largest %s is 255/256 (0.996)", spec->name, sema_num(q),
               spec->name);
    return false;
  }
  *out = q;
  return true;
}

static bool arg_value(Sema *s, const LayerKind *k, const ArgSpec *spec, const Ast *v, int64_t *out, Dec *dout) {
  if (spec->type == ARG_DEC || spec->type == ARG_DEC_POS) {
    char what[48];
    snprintf(what, sizeof what, "'%s'", spec->name);
    return sema_dec(s, v, mem_strdup(what), (Dec){(uint64_t)spec->lo, 0}, spec->type == ARG_DEC_POS,
                    (Dec){(uint64_t)spec->hi, 0}, false, dout);
  }
  if (spec->type == ARG_RATE && (v->kind == ND_DEC || v->kind == ND_INT)) return rate_value(s, v, spec, out);
  if (v->kind != ND_INT) {
    sema_error(s, v->loc, "argument '%s' of '%s' must be %s, found %s", spec->name, k->name,
               spec->type == ARG_RATE ? "a number like 0.5" : "an integer", sema_what_is(v));
    return false;
  }
  if (v->ival < spec->lo) {
    sema_error(s, v->loc, "'%s' must be at least %s (got %s)", spec->name, sema_num(spec->lo), sema_num(v->ival));
    return false;
  }
  if (v->ival > spec->hi) {
    sema_error(s, v->loc, "'%s' is too large (the limit is %s)", spec->name, sema_num(spec->hi));
    return false;
  }
  *out = v->ival;
  return true;
}

/* Match the arguments of a layer (after its input, in expression form)
 * against the table; fill vals[] (decs[] for ARG_DEC) with defaults applied. */
static bool bind_args(Sema *s, const LayerKind *k, const Ast *args, Loc at, int64_t vals[MAX_ARGS],
                      Dec decs[MAX_ARGS]) {
  const Ast *given[MAX_ARGS] = {0};
  int n = nargs(k), pos = 0;
  bool ok = true;
  for (const Ast *a = args; a; a = a->next) {
    int idx = -1;
    const Ast *v = a;
    if (a->kind == ND_KWARG) {
      v = a->lhs;
      for (int i = 0; i < n; i++)
        if (strcmp(k->args[i].name, a->name) == 0) idx = i;
      if (idx < 0) {
        ok = false;
        if (n == 0) {
          sema_error(s, a->name_loc, "'%s' takes no arguments", k->name);
          continue;
        }
        const char *guess = NULL;
        for (int i = 0; i < n && !guess; i++)
          if (sema_close_to(a->name, k->args[i].name)) guess = k->args[i].name;
        if (guess)
          sema_error(s, a->name_loc, "'%s' has no argument '%s' (did you mean '%s'?)", k->name, diag_quote(a->name),
                     guess);
        else
          sema_error(s, a->name_loc, "'%s' has no argument '%s'; its arguments are: %s", k->name, diag_quote(a->name),
                     arg_names(k));
        continue;
      }
    } else {
      if (pos >= k->npos) {
        ok = false;
        if (n == 0) sema_error(s, a->loc, "'%s' takes no arguments", k->name);
        else if (k->npos == 1)
          sema_error(s, a->loc, "'%s' takes one positional argument (%s); give the others by name, e.g. %s", k->name,
                     k->args[0].name, k->example);
        else sema_error(s, a->loc, "too many positional arguments for '%s', e.g. %s", k->name, k->example);
        continue;
      }
      idx = pos++;
    }
    if (given[idx]) {
      ok = false;
      sema_error(s, a->loc, "argument '%s' is given twice", k->args[idx].name);
      diag_note(given[idx]->loc, "first given here");
      continue;
    }
    given[idx] = a;
    if (!arg_value(s, k, &k->args[idx], v, &vals[idx], &decs[idx])) ok = false;
  }
  for (int i = 0; i < n; i++) {
    if (given[i]) continue;
    if (k->args[i].def == REQUIRED) {
      if (ok) /* after another argument error this is usually a cascade */
        sema_error(s, at, "'%s' needs argument '%s', e.g. %s", k->name, k->args[i].name, k->example);
      ok = false;
    } else if (k->args[i].def == SAME_AS_KERNEL) {
      vals[i] = vals[0];
    } else {
      vals[i] = k->args[i].def;
      decs[i] = (Dec){(uint64_t)(k->args[i].def / 10), (int)(k->args[i].def % 10)};
    }
  }
  return ok;
}
/* ------------------------------------------------------------ shape rules */

bool sema_set_out(Sema *s, Node *n, int64_t c, int64_t h, int64_t w) {
  int64_t hw, e;
  if (!mul_ok(h, w, &hw) || !mul_ok(c, hw, &e) || e > SEMA_MAX_ELEMS) {
    sema_error(s, n->loc, "the output of this '%s' has too many elements per sample (the limit is 2147483647)",
               sema_op_name(n->op));
    return false;
  }
  n->out = (Shape){(int)c, (int)h, (int)w};
  return true;
}

static bool weights(Sema *s, Node *n, int64_t o, int64_t i, int64_t kh, int64_t kw) {
  int64_t t, count;
  if (!mul_ok(o, i, &t) || !mul_ok(t, kh, &t) || !mul_ok(t, kw, &count) || count > SEMA_MAX_WEIGHTS) {
    sema_error(s, n->loc, "this '%s' has too many weights (the limit is 2147483647 per layer)", sema_op_name(n->op));
    return false;
  }
  n->nweights = count;
  n->wshape[0] = (int)o;
  n->wshape[1] = (int)i;
  n->wshape[2] = (int)kh;
  n->wshape[3] = (int)kw;
  return true;
}

static bool shape_same(Sema *s, Node *n, Shape in, const LayerKind *k) {
  (void)s, (void)k;
  n->out = in;
  return true;
}

static bool shape_flatten(Sema *s, Node *n, Shape in, const LayerKind *k) {
  (void)k;
  return sema_set_out(s, n, (int64_t)in.c * in.h * in.w, 1, 1);
}

/* dense flattens its input implicitly: (C, H, W) is read as C*H*W values */
static bool shape_dense(Sema *s, Node *n, Shape in, const LayerKind *k) {
  (void)k;
  int64_t fan = (int64_t)in.c * in.h * in.w; /* <= SEMA_MAX_ELEMS by invariant */
  if (!weights(s, n, n->units, fan, 1, 1)) return false;
  n->fan_in = (int)fan;
  return sema_set_out(s, n, n->units, 1, 1);
}

/* Output extent of a window: (x + 2p - k) / s + 1, at least 1. */
static bool extent(Sema *s, Node *n, const char *dim, int64_t x, int64_t k, int64_t st, int64_t p, int64_t *out) {
  if (p >= k) {
    sema_error(s, n->loc, "'pad' (%s) must be smaller than the window (%s)", sema_num(p), sema_num(k));
    return false;
  }
  int64_t span = x + 2 * p; /* all terms <= 2^30 */
  if (span < k) {
    char what[96];
    snprintf(what, sizeof what, "%" PRId64 " with pad %" PRId64, x, p);
    sema_error(s, n->loc, "window %s does not fit the input %s (%s)", sema_num(k), dim, mem_strdup(what));
    return false;
  }
  *out = (span - k) / st + 1;
  return true;
}

static bool shape_conv(Sema *s, Node *n, Shape in, const LayerKind *k) {
  (void)k;
  if (in.c % n->groups != 0) {
    sema_error(s, n->loc, "groups=%s must divide the input channels (%s)", sema_num(n->groups), sema_num(in.c));
    return false;
  }
  if (n->out_ch % n->groups != 0) {
    sema_error(s, n->loc, "groups=%s must divide the output channels (%s)", sema_num(n->groups), sema_num(n->out_ch));
    return false;
  }
  int64_t oh, ow;
  if (!extent(s, n, "height", in.h, n->kh, n->sh, n->ph, &oh) || !extent(s, n, "width", in.w, n->kw, n->sw, n->pw, &ow))
    return false;
  int64_t ipg = in.c / n->groups;
  if (!weights(s, n, n->out_ch, ipg, n->kh, n->kw)) return false;
  n->fan_in = (int)(n->nweights / n->out_ch);
  return sema_set_out(s, n, n->out_ch, oh, ow);
}

static bool shape_pool(Sema *s, Node *n, Shape in, const LayerKind *k) {
  (void)k;
  if (n->op == OP_AVGPOOL) {
    int64_t area = (int64_t)n->kh * n->kw;
    if (area & (area - 1)) {
      sema_error(s, n->loc, "avgpool window area must be a power of two (got %s)", sema_num(area));
      return false;
    }
  }
  int64_t oh, ow;
  if (!extent(s, n, "height", in.h, n->kh, n->sh, n->ph, &oh) || !extent(s, n, "width", in.w, n->kw, n->sw, n->pw, &ow))
    return false;
  return sema_set_out(s, n, in.c, oh, ow);
}

/* Create a layer node applied to `input`; args exclude the input. */
/* The decimal argument `name` of a row, or `def` when the row has none. */
static Dec dec_arg(const LayerKind *k, const Dec d[MAX_ARGS], const char *name, Dec def) {
  for (int i = 0; i < nargs(k); i++)
    if (strcmp(k->args[i].name, name) == 0) return d[i];
  return def;
}

int sema_make_layer(Sema *s, const LayerKind *k, int input, const Ast *args, Loc at) {
  int64_t v[MAX_ARGS] = {0};
  Dec d[MAX_ARGS] = {{0, 0}};
  if (!bind_args(s, k, args, at, v, d)) return -1;
  int id = sema_new_node(s, k->op, at);
  Node *n = &s->nodes[id];
  n->in[0] = input;
  n->nin = 1;
  switch (k->op) {
  case OP_DENSE: n->units = (int)v[0]; break;
  case OP_CONV:
    n->out_ch = (int)v[0];
    n->kh = n->kw = (int)v[1];
    n->sh = n->sw = (int)v[2];
    n->ph = n->pw = (int)v[3];
    n->groups = (int)v[4];
    break;
  case OP_MAXPOOL:
  case OP_AVGPOOL:
    n->kh = n->kw = (int)v[0];
    n->sh = n->sw = (int)v[1];
    n->ph = n->pw = k->op == OP_MAXPOOL ? (int)v[2] : 0;
    break;
  case OP_DROPOUT: n->drop256 = (int)v[0]; break;
  case OP_BATCHNORM:
  case OP_L1NORM:
  case OP_LAYERNORM:
  case OP_L1LAYERNORM:
    /* Node.nmom keeps the batch-statistics default for the per-sample kinds
     * too (they have no running statistics): one value for every norm */
    n->eps = dec_arg(k, d, "eps", (Dec){1, 5});
    n->nmom = dec_arg(k, d, "momentum", (Dec){1, 1});
    n->nk = dec_arg(k, d, "k", (Dec){0, 0});
    break;
  default: break;
  }
  if (!k->shape(s, n, s->nodes[input].out, k)) return -1;
  return id;
}

/* ------------------------------------------------------------ normalization */

int64_t sema_norm_group(const Node *n, int batch) {
  int64_t hw = (int64_t)n->out.h * n->out.w; /* C*H*W <= SEMA_MAX_ELEMS, batch <= 2^16 */
  return n->op == OP_BATCHNORM || n->op == OP_L1NORM ? batch * hw : n->out.c * hw;
}

/* Activations narrower than 6 bits in a model without normalization
 * layers: LeNet-5 under ghaffari and shiftquant did not learn with act=4 or
 * act=5 (10-18% test accuracy), at lr 0.1 or 0.01, and trained with act=6
 * (docs/results.md, "Narrower widths"); resnet_bn, which normalizes, learns
 * with every width at 4 at lr 0.01 ("Recipe shiftquant"). A warning, not
 * an error: another network may train. */
static void warn_narrow_acts(const Sema *s, bool norms) {
  if (norms || s->r.kind == NIT_RECIPE_NITI || s->r.bits_act >= 6 || s->r.bits_loc.line == 0) return;
  diag_warning(s->r.bits_loc,
               "%d-bit activations without normalization layers may not train: LeNet-5 did not learn below 6 bits "
               "(docs/results.md, \"Narrower widths\")",
               s->r.bits_act);
}

void sema_check_norms(Sema *s) {
  bool recipe_told = false, norms = false;
  for (int i = 0; i < s->nnodes; i++) {
    const Node *n = &s->nodes[i];
    if (!op_is_norm(n->op)) continue;
    norms = true;
    const char *kind = sema_op_name(n->op);
    if (s->r.kind == NIT_RECIPE_NITI && !recipe_told) {
      /* once: every norm layer of the model has the same cure */
      recipe_told = true;
      sema_error(s, n->loc, "%s needs a recipe with a learning rate: ghaffari, shiftquant or unified", kind);
      if (s->ov_recipe >= 0) continue; /* --recipe niti: no place in the file to point at */
      if (s->recipe_w) diag_note(s->recipe_w->loc, "the recipe is chosen here");
      else if (s->train) diag_note(s->train->loc, "this train block chooses no recipe, so it is niti");
    }
    int64_t g = sema_norm_group(n, s->r.batch);
    if (g <= SEMA_MAX_NORM_GROUP) continue;
    char how[96];
    if (n->op == OP_BATCHNORM || n->op == OP_L1NORM)
      snprintf(how, sizeof how, "batch %d x %d x %d", s->r.batch, n->out.h, n->out.w);
    else snprintf(how, sizeof how, "%d x %d x %d per sample", n->out.c, n->out.h, n->out.w);
    sema_error(s, n->loc, "%s group has %s elements (%s), at most %s%s", kind, sema_num(g), mem_strdup(how),
               sema_num(SEMA_MAX_NORM_GROUP),
               n->op == OP_BATCHNORM || n->op == OP_L1NORM ? "; lower --batch" : "");
  }
  warn_narrow_acts(s, norms);
}

/* ------------------------------------------------------------ accessors */

const char *sema_layer_name(const LayerKind *k) { return k->name; }

bool sema_layer_has_args(const LayerKind *k) { return k->args[0].name != NULL; }
