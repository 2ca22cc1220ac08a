/*
 * sema.c: from the syntax tree to a checked Model.
 *
 * The layer table below is the single place that says which layer kinds
 * exist, which arguments each takes (positional and keyword), their defaults
 * and ranges, and how each kind maps an input shape to an output shape.
 * Adding a layer means one row here plus its lowering in the back end; the
 * grammar does not change.
 *
 * The model body is read in order. The "current value" starts as the input;
 * a bare layer statement consumes the current value and its result becomes
 * the current value; `let NAME = expr` evaluates an expression over named
 * values, binds NAME and makes the result current. The current value at the
 * end of the body is the logits. Names (input, let, layer labels) share one
 * namespace and are immutable. Nodes are appended as they are created, so
 * they are in topological order with the input first.
 *
 * All size arithmetic is int64 with explicit overflow checks; per-sample
 * shapes are limited to INT32_MAX elements. Expression evaluation is the only
 * recursion and is bounded by SEMA_MAX_DEPTH.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nitc.h"

#define ELEMS_MAX INT32_MAX      /* per-sample elements of any value */
#define WEIGHTS_MAX INT32_MAX    /* elements of one parameter tensor */
#define DIM_MAX (1 << 30)        /* any single dimension or layer argument */
#define BYTES_MAX (INT64_C(1) << 62)

/* ------------------------------------------------------------ the layer table */

typedef enum { ARG_INT, ARG_RATE } ArgType;

#define REQUIRED INT64_MIN           /* no default: the argument must be given */
#define SAME_AS_KERNEL (INT64_MIN + 1) /* stride defaults to the window */

typedef struct ArgSpec {
  const char *name;
  ArgType type;
  int64_t def;
  int64_t lo, hi;
} ArgSpec;

enum { MAX_ARGS = 5 };

typedef struct Sema Sema;
typedef struct LayerKind LayerKind;
/* Fill n->out (and weight fields) from the input shape; false after an error. */
typedef bool ShapeFn(Sema *s, Node *n, Shape in, const LayerKind *k);

struct LayerKind {
  const char *name;
  OpKind op;
  int npos;                /* the first npos arguments may be given positionally */
  ArgSpec args[MAX_ARGS];
  ShapeFn *shape;
  const char *example;     /* shown when the arguments are wrong */
  bool no_recipe;          /* checked, but no training recipe lowers it yet */
};

static ShapeFn shape_dense, shape_conv, shape_pool, shape_same, shape_flatten;

#define CONV_ROW(nm)                                                        \
  {nm, OP_CONV, 1,                                                          \
   {{"channels", ARG_INT, REQUIRED, 1, DIM_MAX},                            \
    {"kernel", ARG_INT, REQUIRED, 1, DIM_MAX},                              \
    {"stride", ARG_INT, 1, 1, DIM_MAX},                                     \
    {"pad", ARG_INT, 0, 0, DIM_MAX},                                        \
    {"groups", ARG_INT, 1, 1, DIM_MAX}},                                    \
   shape_conv, nm "(16, kernel=3, stride=1, pad=1, groups=1)", false}

static const LayerKind layers[] = {
    {"dense", OP_DENSE, 1, {{"units", ARG_INT, REQUIRED, 1, DIM_MAX}}, shape_dense, "dense(120)", false},
    CONV_ROW("conv"),
    CONV_ROW("conv2d"),
    {"maxpool", OP_MAXPOOL, 1,
     {{"kernel", ARG_INT, REQUIRED, 1, DIM_MAX},
      {"stride", ARG_INT, SAME_AS_KERNEL, 1, DIM_MAX},
      {"pad", ARG_INT, 0, 0, DIM_MAX}},
     shape_pool, "maxpool(2, stride=2, pad=0)", false},
    {"avgpool", OP_AVGPOOL, 1,
     {{"kernel", ARG_INT, REQUIRED, 1, DIM_MAX},
      {"stride", ARG_INT, SAME_AS_KERNEL, 1, DIM_MAX}},
     shape_pool, "avgpool(2, stride=2)", false},
    {"relu", OP_RELU, 0, {{0}}, shape_same, "relu", false},
    {"flatten", OP_FLATTEN, 0, {{0}}, shape_flatten, "flatten", false},
    {"dropout", OP_DROPOUT, 1, {{"rate", ARG_RATE, REQUIRED, 0, 255}}, shape_same, "dropout(0.5)", false},
    {"batchnorm", OP_BATCHNORM, 0, {{0}}, shape_same, "batchnorm", true},
    {"l1norm", OP_L1NORM, 0, {{0}}, shape_same, "l1norm", true},
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
  }
  return "?";
}

const char *sema_round_name(int mode) {
  switch (mode) {
  case NIT_ROUND_PSEUDO: return "pseudo";
  case NIT_ROUND_STOCHASTIC: return "stochastic";
  case NIT_ROUND_NEAREST: return "nearest";
  }
  return "?";
}

/* ------------------------------------------------------------ arithmetic */

static bool mul_ok(int64_t a, int64_t b, int64_t *r) {
  if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a))
    return false;
  *r = a * b;
  return true;
}

/* Saturating sum for byte counts; `*over` records that the cap was hit. */
static int64_t add_sat(int64_t a, int64_t b, bool *over) {
  if (b > BYTES_MAX - a) {
    *over = true;
    return BYTES_MAX;
  }
  return a + b;
}

static int64_t align64(int64_t x) { return (x + 63) & ~INT64_C(63); }

static uint64_t isqrt64(uint64_t x) {
  uint64_t r = 0, bit = UINT64_C(1) << 62;
  while (bit > x)
    bit >>= 2;
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
    while (fan_in >= 6 * (INT64_C(1) << (2 * (1 - c))))
      c--;
  } else {
    while (fan_in * (INT64_C(1) << (2 * c)) < 6)
      c++;
  }
  int e = 7 - c; /* 5 <= e <= 7 + 15 */
  uint64_t q = (uint64_t)6 * (UINT64_C(1) << (2 * e)) / (uint64_t)fan_in;
  uint64_t b = isqrt64(q);
  *w_exp = c - 7;
  *w_bound = b > 127 ? 127 : (int)b;
}

bool sema_needs_acc64(int64_t terms) { return terms > 133144; /* 133144 * 127^2 < 2^31 */ }

/* Edit distance (with adjacent transpositions) of the first 32 bytes of two
 * names, for "did you mean". */
static int len32(const char *s) {
  int n = 0;
  while (n < 32 && s[n])
    n++;
  return n;
}

static int distance(const char *a, const char *b) {
  int la = len32(a), lb = len32(b);
  int d[33][33];
  for (int i = 0; i <= la; i++)
    d[i][0] = i;
  for (int j = 0; j <= lb; j++)
    d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best)
        best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best)
        best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

/* Suggest only plausible typos: none for names of 1-2 characters. */
static bool close_to(const char *typed, const char *cand) {
  int len = len32(typed);
  int lim = len < 3 ? 0 : len < 5 ? 1 : len < 9 ? 2 : 3;
  return distance(typed, cand) <= lim;
}

/* ------------------------------------------------------------ state */

typedef struct Sym {
  const char *name;
  int node;              /* value it names */
  Loc loc;               /* where it was defined */
} Sym;

struct Sema {
  Node *nodes;
  int nnodes, cap;
  Sym *syms;             /* open addressing, power-of-two size */
  int nsyms, symcap;
  int cur;               /* current value; -1 before the input, -2 after an error */
  bool have_input, have_output;
  bool no_input_reported;
  Loc input_loc, output_loc;
  int classes;
  Recipe r;
  bool failed;
};

__attribute__((format(printf, 3, 4))) static void error_at(Sema *s, Loc loc, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  s->failed = true;
  diag_error(loc, "%s", msg);
}
#define ERR error_at

static const char *num(int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return mem_strdup(buf);
}

static const char *shape_str(Shape sh) {
  char buf[64];
  snprintf(buf, sizeof buf, "(%d, %d, %d)", sh.c, sh.h, sh.w);
  return mem_strdup(buf);
}

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

static Sym *lookup(Sema *s, const char *name) {
  if (!s->symcap)
    return NULL;
  size_t mask = (size_t)s->symcap - 1;
  for (size_t i = hash(name) & mask;; i = (i + 1) & mask) {
    if (!s->syms[i].name)
      return NULL;
    if (strcmp(s->syms[i].name, name) == 0)
      return &s->syms[i];
  }
}

static void insert(Sema *s, const char *name, int node, Loc loc) {
  if (2 * (s->nsyms + 1) > s->symcap) {
    int ncap = s->symcap ? 2 * s->symcap : 64;
    Sym *old = s->syms;
    int ocap = s->symcap;
    s->syms = mem_alloc(sizeof(Sym) * (size_t)ncap);
    s->symcap = ncap;
    s->nsyms = 0;
    for (int i = 0; i < ocap; i++)
      if (old[i].name)
        insert(s, old[i].name, old[i].node, old[i].loc);
  }
  size_t mask = (size_t)s->symcap - 1;
  size_t i = hash(name) & mask;
  while (s->syms[i].name)
    i = (i + 1) & mask;
  s->syms[i] = (Sym){name, node, loc};
  s->nsyms++;
}

/* Bind a user name; reports a redefinition. */
static bool define(Sema *s, const char *name, int node, Loc loc) {
  Sym *old = lookup(s, name);
  if (old) {
    ERR(s, loc, "'%s' is already defined", diag_quote(name));
    diag_note(old->loc, "previous definition is here");
    return false;
  }
  insert(s, name, node, loc);
  return true;
}

static int new_node(Sema *s, OpKind op, Loc loc) {
  if (s->nnodes == s->cap) {
    int ncap = s->cap ? 2 * s->cap : 32;
    Node *nn = mem_alloc(sizeof(Node) * (size_t)ncap);
    if (s->nnodes)
      memcpy(nn, s->nodes, sizeof(Node) * (size_t)s->nnodes);
    s->nodes = nn;
    s->cap = ncap;
  }
  Node *n = &s->nodes[s->nnodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->loc = loc;
  n->in[0] = n->in[1] = -1;
  n->param = -1;
  return s->nnodes++;
}

/* ------------------------------------------------------------ arguments */

static const char *what_is(const Ast *a) {
  switch (a->kind) {
  case ND_INT: return "an integer";
  case ND_DEC: return "a decimal number";
  case ND_STR: return "a string";
  case ND_REF: return "a name";
  case ND_CALL: return "a layer call";
  case ND_ADD: return "a sum";
  case ND_KWARG: return "a keyword argument";
  default: return "something else";
  }
}

static const LayerKind *find_layer(Sema *s, const char *name, Loc loc) {
  for (int i = 0; i < NLAYERS; i++)
    if (strcmp(layers[i].name, name) == 0)
      return &layers[i];
  for (int i = 0; i < NLAYERS; i++)
    if (close_to(name, layers[i].name)) {
      ERR(s, loc, "unknown layer kind '%s' (did you mean '%s'?)", diag_quote(name), layers[i].name);
      return NULL;
    }
  char list[256] = "";
  for (int i = 0; i < NLAYERS; i++) {
    strcat(list, layers[i].name);
    if (i + 1 < NLAYERS)
      strcat(list, ", ");
  }
  ERR(s, loc, "unknown layer kind '%s'; the layers are: %s", diag_quote(name), list);
  return NULL;
}

static int nargs(const LayerKind *k) {
  int n = 0;
  while (n < MAX_ARGS && k->args[n].name)
    n++;
  return n;
}

static const char *arg_names(const LayerKind *k) {
  char buf[256] = "";
  for (int i = 0; i < nargs(k); i++) {
    if (i)
      strcat(buf, ", ");
    strcat(buf, k->args[i].name);
  }
  return mem_strdup(buf);
}

/* Convert a decimal rate to 1/256 units, rounding half up, exactly. */
static bool rate_value(Sema *s, const Ast *v, const ArgSpec *spec, int64_t *out) {
  int64_t numr = v->ival, den = 1;
  int scale = v->kind == ND_DEC ? v->scale : 0;
  for (int i = 0; i < scale; i++)
    den *= 10;
  if (numr < 0 || numr >= den) {
    ERR(s, v->loc, "'%s' must be at least 0 and below 1", spec->name);
    return false;
  }
  int64_t q = (numr * 512 + den) / (2 * den); /* numr < 10^9: no overflow */
  if (q > spec->hi) {
    ERR(s, v->loc, "'%s' rounds to %s/256; the largest %s is 255/256 (0.996)", spec->name, num(q), spec->name);
    return false;
  }
  *out = q;
  return true;
}

static bool arg_value(Sema *s, const LayerKind *k, const ArgSpec *spec, const Ast *v, int64_t *out) {
  if (spec->type == ARG_RATE && (v->kind == ND_DEC || v->kind == ND_INT))
    return rate_value(s, v, spec, out);
  if (v->kind != ND_INT) {
    ERR(s, v->loc, "argument '%s' of '%s' must be %s, found %s", spec->name, k->name,
        spec->type == ARG_RATE ? "a number like 0.5" : "an integer", what_is(v));
    return false;
  }
  if (v->ival < spec->lo) {
    ERR(s, v->loc, "'%s' must be at least %s (got %s)", spec->name, num(spec->lo), num(v->ival));
    return false;
  }
  if (v->ival > spec->hi) {
    ERR(s, v->loc, "'%s' is too large (the limit is %s)", spec->name, num(spec->hi));
    return false;
  }
  *out = v->ival;
  return true;
}

/* Match the arguments of a layer (after its input, in expression form)
 * against the table; fill vals[] with defaults applied. */
static bool bind_args(Sema *s, const LayerKind *k, const Ast *args, Loc at, int64_t vals[MAX_ARGS]) {
  const Ast *given[MAX_ARGS] = {0};
  int n = nargs(k), pos = 0;
  bool ok = true;
  for (const Ast *a = args; a; a = a->next) {
    int idx = -1;
    const Ast *v = a;
    if (a->kind == ND_KWARG) {
      v = a->lhs;
      for (int i = 0; i < n; i++)
        if (strcmp(k->args[i].name, a->name) == 0)
          idx = i;
      if (idx < 0) {
        ok = false;
        if (n == 0) {
          ERR(s, a->name_loc, "'%s' takes no arguments", k->name);
          continue;
        }
        const char *guess = NULL;
        for (int i = 0; i < n && !guess; i++)
          if (close_to(a->name, k->args[i].name))
            guess = k->args[i].name;
        if (guess)
          ERR(s, a->name_loc, "'%s' has no argument '%s' (did you mean '%s'?)", k->name, diag_quote(a->name), guess);
        else
          ERR(s, a->name_loc, "'%s' has no argument '%s'; its arguments are: %s", k->name, diag_quote(a->name),
              arg_names(k));
        continue;
      }
    } else {
      if (pos >= k->npos) {
        ok = false;
        if (n == 0)
          ERR(s, a->loc, "'%s' takes no arguments", k->name);
        else if (k->npos == 1)
          ERR(s, a->loc, "'%s' takes one positional argument (%s); give the others by name, e.g. %s", k->name,
               k->args[0].name, k->example);
        else
          ERR(s, a->loc, "too many positional arguments for '%s', e.g. %s", k->name, k->example);
        continue;
      }
      idx = pos++;
    }
    if (given[idx]) {
      ok = false;
      ERR(s, a->loc, "argument '%s' is given twice", k->args[idx].name);
      diag_note(given[idx]->loc, "first given here");
      continue;
    }
    given[idx] = a;
    if (!arg_value(s, k, &k->args[idx], v, &vals[idx]))
      ok = false;
  }
  for (int i = 0; i < n; i++) {
    if (given[i])
      continue;
    if (k->args[i].def == REQUIRED) {
      if (ok)  /* after another argument error this is usually a cascade */
        ERR(s, at, "'%s' needs argument '%s', e.g. %s", k->name, k->args[i].name, k->example);
      ok = false;
    } else if (k->args[i].def == SAME_AS_KERNEL) {
      vals[i] = vals[0];
    } else {
      vals[i] = k->args[i].def;
    }
  }
  return ok;
}

/* ------------------------------------------------------------ shape rules */

static bool set_out(Sema *s, Node *n, int64_t c, int64_t h, int64_t w) {
  int64_t hw, e;
  if (!mul_ok(h, w, &hw) || !mul_ok(c, hw, &e) || e > ELEMS_MAX) {
    ERR(s, n->loc, "the output of this '%s' has too many elements per sample (the limit is 2147483647)",
         sema_op_name(n->op));
    return false;
  }
  n->out = (Shape){(int)c, (int)h, (int)w};
  return true;
}

static bool weights(Sema *s, Node *n, int64_t o, int64_t i, int64_t kh, int64_t kw) {
  int64_t t, count;
  if (!mul_ok(o, i, &t) || !mul_ok(t, kh, &t) || !mul_ok(t, kw, &count) || count > WEIGHTS_MAX) {
    ERR(s, n->loc, "this '%s' has too many weights (the limit is 2147483647 per layer)", sema_op_name(n->op));
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
  return set_out(s, n, (int64_t)in.c * in.h * in.w, 1, 1);
}

/* dense flattens its input implicitly: (C, H, W) is read as C*H*W values */
static bool shape_dense(Sema *s, Node *n, Shape in, const LayerKind *k) {
  (void)k;
  int64_t fan = (int64_t)in.c * in.h * in.w;  /* <= ELEMS_MAX by invariant */
  if (!weights(s, n, n->units, fan, 1, 1))
    return false;
  n->fan_in = (int)fan;
  return set_out(s, n, n->units, 1, 1);
}

/* Output extent of a window: (x + 2p - k) / s + 1, at least 1. */
static bool extent(Sema *s, Node *n, const char *dim, int64_t x, int64_t k, int64_t st, int64_t p, int64_t *out) {
  if (p >= k) {
    ERR(s, n->loc, "'pad' (%s) must be smaller than the window (%s)", num(p), num(k));
    return false;
  }
  int64_t span = x + 2 * p;  /* all terms <= 2^30 */
  if (span < k) {
    char what[96];
    snprintf(what, sizeof what, "%" PRId64 " with pad %" PRId64, x, p);
    ERR(s, n->loc, "window %s does not fit the input %s (%s)", num(k), dim, mem_strdup(what));
    return false;
  }
  *out = (span - k) / st + 1;
  return true;
}

static bool shape_conv(Sema *s, Node *n, Shape in, const LayerKind *k) {
  (void)k;
  if (in.c % n->groups != 0) {
    ERR(s, n->loc, "groups=%s must divide the input channels (%s)", num(n->groups), num(in.c));
    return false;
  }
  if (n->out_ch % n->groups != 0) {
    ERR(s, n->loc, "groups=%s must divide the output channels (%s)", num(n->groups), num(n->out_ch));
    return false;
  }
  int64_t oh, ow;
  if (!extent(s, n, "height", in.h, n->kh, n->sh, n->ph, &oh) ||
      !extent(s, n, "width", in.w, n->kw, n->sw, n->pw, &ow))
    return false;
  int64_t ipg = in.c / n->groups;
  if (!weights(s, n, n->out_ch, ipg, n->kh, n->kw))
    return false;
  n->fan_in = (int)(n->nweights / n->out_ch);
  return set_out(s, n, n->out_ch, oh, ow);
}

static bool shape_pool(Sema *s, Node *n, Shape in, const LayerKind *k) {
  (void)k;
  if (n->op == OP_AVGPOOL) {
    int64_t area = (int64_t)n->kh * n->kw;
    if (area & (area - 1)) {
      ERR(s, n->loc, "avgpool window area must be a power of two (got %s)", num(area));
      return false;
    }
  }
  int64_t oh, ow;
  if (!extent(s, n, "height", in.h, n->kh, n->sh, n->ph, &oh) ||
      !extent(s, n, "width", in.w, n->kw, n->sw, n->pw, &ow))
    return false;
  return set_out(s, n, in.c, oh, ow);
}

/* Create a layer node applied to `input`; args exclude the input. */
static int make_layer(Sema *s, const LayerKind *k, int input, const Ast *args, Loc at) {
  if (k->no_recipe) {
    /* --check must refuse what code generation would refuse */
    ERR(s, at, "'%s' has no integer training recipe yet; a model using it cannot be compiled", k->name);
    return -1;
  }
  int64_t v[MAX_ARGS] = {0};
  if (!bind_args(s, k, args, at, v))
    return -1;
  int id = new_node(s, k->op, at);
  Node *n = &s->nodes[id];
  n->in[0] = input;
  n->nin = 1;
  switch (k->op) {
  case OP_DENSE:
    n->units = (int)v[0];
    break;
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
  case OP_DROPOUT:
    n->drop256 = (int)v[0];
    break;
  default:
    break;
  }
  if (!k->shape(s, n, s->nodes[input].out, k))
    return -1;
  return id;
}

/* ------------------------------------------------------------ values */

static void unknown_name(Sema *s, const Ast *ref) {
  const char *guess = NULL;
  if (s->nsyms <= 4096)
    for (int i = 0; i < s->symcap && !guess; i++)
      if (s->syms[i].name && close_to(ref->name, s->syms[i].name))
        guess = s->syms[i].name;
  if (guess)
    ERR(s, ref->loc, "unknown name '%s' (did you mean '%s'?)", diag_quote(ref->name), diag_quote(guess));
  else
    ERR(s, ref->loc, "unknown name '%s'", diag_quote(ref->name));
}

static void name_node(Sema *s, int id, const char *name) {
  if (id >= 0 && !s->nodes[id].name)
    s->nodes[id].name = (char *)name;
}

/* Evaluate an expression to a node index, -1 after an error. */
static int eval(Sema *s, const Ast *e, int depth) {
  if (depth > SEMA_MAX_DEPTH && (e->kind == ND_ADD || e->kind == ND_CALL)) {
    ERR(s, e->loc, "expression nested too deeply (the limit is %s levels)", num(SEMA_MAX_DEPTH));
    return -1;
  }
  switch (e->kind) {
  case ND_REF: {
    Sym *sym = lookup(s, e->name);
    if (!sym) {
      unknown_name(s, e);
      return -1;
    }
    return sym->node;
  }
  case ND_ADD: {
    int a = eval(s, e->lhs, depth + 1);
    int b = a < 0 ? -1 : eval(s, e->rhs, depth + 1);
    if (b < 0)
      return -1;
    Shape sa = s->nodes[a].out, sb = s->nodes[b].out;
    if (sa.c != sb.c || sa.h != sb.h || sa.w != sb.w) {
      ERR(s, e->loc, "cannot add values of different shapes %s and %s", shape_str(sa), shape_str(sb));
      return -1;
    }
    int id = new_node(s, OP_ADD, e->loc);
    Node *n = &s->nodes[id];
    n->in[0] = a;
    n->in[1] = b;
    n->nin = 2;
    n->out = sa;
    return id;
  }
  case ND_CALL: {
    const LayerKind *k = find_layer(s, e->name, e->name_loc);
    if (!k)
      return -1;
    const Ast *first = e->kids;
    if (!first || first->kind == ND_KWARG) {
      ERR(s, e->loc, "'%s' needs its input value as the first argument here, e.g. %s(x%s)", k->name, k->name,
          nargs(k) ? ", ..." : "");
      return -1;
    }
    int in = eval(s, first, depth + 1);
    if (in < 0)
      return -1;
    int id = make_layer(s, k, in, first->next, e->loc);
    if (id >= 0 && e->label) {
      if (define(s, e->label, id, e->label_loc))
        s->nodes[id].name = e->label;
    }
    return id;
  }
  default:
    ERR(s, e->loc, "expected a value (a name or a layer call), found %s", what_is(e));
    return -1;
  }
}

/* ------------------------------------------------------------ statements */

static void stmt_input(Sema *s, const Ast *st) {
  if (s->have_input) {
    ERR(s, st->loc, "a model has exactly one input");
    diag_note(s->input_loc, "the input is declared here");
    return;
  }
  s->have_input = true;
  s->input_loc = st->loc;
  int nd = ast_count(st->kids);
  if (nd != 1 && nd != 3) {
    ERR(s, st->loc, "input needs [C, H, W] or [N] (got %s dimensions)", num(nd));
    return;
  }
  int64_t d[3] = {1, 1, 1};
  int i = 0;
  bool ok = true;
  for (const Ast *a = st->kids; a; a = a->next, i++) {
    if (a->kind != ND_INT) {
      ERR(s, a->loc, "input dimension must be an integer, found %s", what_is(a));
      ok = false;
    } else if (a->ival < 1) {
      ERR(s, a->loc, "input dimension must be at least 1 (got %s)", num(a->ival));
      ok = false;
    } else if (a->ival > DIM_MAX) {
      ERR(s, a->loc, "input dimension is too large (the limit is %s)", num(DIM_MAX));
      ok = false;
    } else {
      d[i] = a->ival;
    }
  }
  if (!ok)
    return;
  int id = new_node(s, OP_INPUT, st->loc);
  NIT_ASSERT(id == 0);
  Node *n = &s->nodes[0];
  n->nin = 0;
  if (!set_out(s, n, d[0], d[1], d[2]))
    return;
  n->name = st->name;
  define(s, st->name, 0, st->name_loc);
  s->cur = 0;
}

static void stmt_output(Sema *s, const Ast *st) {
  if (s->have_output) {
    ERR(s, st->loc, "a model has exactly one output");
    diag_note(s->output_loc, "the output is declared here");
    return;
  }
  s->have_output = true;
  s->output_loc = st->loc;
  const Ast *a = st->kids;
  if (!a || a->next || a->kind == ND_KWARG) {
    ERR(s, a && a->next ? a->next->loc : st->loc,
        "output takes one argument, the number of classes, e.g. output classes(10)");
    return;
  }
  if (a->kind != ND_INT) {
    ERR(s, a->loc, "the number of classes must be an integer, found %s", what_is(a));
    return;
  }
  if (a->ival < 2) {
    ERR(s, a->loc, "a classifier needs at least 2 classes (got %s)", num(a->ival));
    return;
  }
  if (a->ival > SEMA_MAX_CLASSES) {
    ERR(s, a->loc, "too many classes (got %s; the integer softmax loss is defined for at most %s)", num(a->ival),
        num(SEMA_MAX_CLASSES));
    return;
  }
  s->classes = (int)a->ival;
}

static bool need_input(Sema *s, const Ast *st) {
  if (s->cur >= 0)
    return true;
  if (s->cur == -1 && !s->have_input) {
    ERR(s, st->loc, "layer before the input; a model starts with 'input NAME[C, H, W]'");
    s->no_input_reported = true;
  }
  s->failed = true;  /* otherwise already reported */
  s->cur = -2;
  return false;
}

static void stmt_let(Sema *s, const Ast *st) {
  if (!need_input(s, st))
    return;
  int v = eval(s, st->lhs, 0);
  if (v < 0) {
    s->cur = -2;  /* poison: later statements would cascade */
    return;
  }
  if (define(s, st->name, v, st->name_loc))
    name_node(s, v, st->name);
  s->cur = v;
}

static void stmt_layer(Sema *s, const Ast *st) {
  if (s->cur == -2)
    return;
  const LayerKind *k = find_layer(s, st->name, st->name_loc);
  if (!k) {
    s->cur = -2;
    return;
  }
  if (!need_input(s, st))
    return;
  int id = make_layer(s, k, s->cur, st->kids, st->loc);
  if (id < 0) {
    s->cur = -2;
    return;
  }
  if (st->label && define(s, st->label, id, st->label_loc))
    s->nodes[id].name = st->label;
  s->cur = id;
}

/* ------------------------------------------------------------ the train block */

typedef void SettingFn(Sema *s, const Ast *st);
static SettingFn set_data, set_batch, set_epochs, set_rounding, set_update, set_weights, set_seed,
    set_loss, set_decay, set_holdout;

static const struct Setting {
  const char *name;
  SettingFn *fn;
  const char *example;
} settings[] = {
    {"data", set_data, "data idx(\"data/mnist\")"},
    {"batch", set_batch, "batch 64"},
    {"epochs", set_epochs, "epochs 10"},
    {"rounding", set_rounding, "rounding pseudo"},
    {"update", set_update, "update bits(3) then 2 at 5"},
    {"weights", set_weights, "weights int8"},
    {"seed", set_seed, "seed 1"},
    {"loss", set_loss, "loss softmax_ce"},
    {"decay", set_decay, "decay off"},
    {"holdout", set_holdout, "holdout 5000"},
};
enum { NSETTINGS = sizeof settings / sizeof settings[0] };

static const struct Setting *setting_of(const Ast *st) {
  for (int i = 0; i < NSETTINGS; i++)
    if (strcmp(settings[i].name, st->name) == 0)
      return &settings[i];
  return NULL;
}

/* The single word of a one-value setting, or NULL after an error. */
static const Ast *one_word(Sema *s, const Ast *st) {
  if (!st->kids || st->kids->next) {
    ERR(s, st->kids ? st->kids->next->loc : st->loc, "'%s' takes one value, e.g. %s", st->name,
         setting_of(st)->example);
    return NULL;
  }
  return st->kids;
}

static bool int_in(Sema *s, const Ast *w, const char *what, int64_t lo, int64_t hi, int64_t *out) {
  if (w->kind != ND_INT) {
    ERR(s, w->loc, "%s must be an integer, found %s", what, what_is(w));
    return false;
  }
  if (w->ival < lo || w->ival > hi) {
    char range[64];
    snprintf(range, sizeof range, "%" PRId64 "..%" PRId64, lo, hi);
    ERR(s, w->loc, "%s must be in %s (got %s)", what, mem_strdup(range), num(w->ival));
    return false;
  }
  *out = w->ival;
  return true;
}

static bool is_word(const Ast *w, const char *name) { return w && w->kind == ND_REF && strcmp(w->name, name) == 0; }

static void set_data(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w)
    return;
  const Ast *str = w;
  if (w->kind == ND_CALL) {
    if (strcmp(w->name, "idx") != 0) {
      ERR(s, w->name_loc, "unknown data format '%s' (the only format is idx)", diag_quote(w->name));
      return;
    }
    str = w->kids;
    if (!str || str->next || str->kind != ND_STR) {
      ERR(s, w->loc, "idx takes one string, the data directory, e.g. idx(\"data/mnist\")");
      return;
    }
  } else if (w->kind != ND_STR) {
    ERR(s, w->loc, "data expects a directory, e.g. data idx(\"data/mnist\"), found %s", what_is(w));
    return;
  }
  if (!str->str[0]) {
    ERR(s, str->loc, "the data directory is empty");
    return;
  }
  s->r.data = str->str;
  s->r.data_loc = str->loc;
}

static void set_batch(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int64_t v;
  if (w && int_in(s, w, "batch", 1, SEMA_MAX_BATCH, &v))
    s->r.batch = (int)v;
}

static void set_epochs(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int64_t v;
  if (w && int_in(s, w, "epochs", 1, 1000000, &v))
    s->r.epochs = (int)v;
}

static void set_seed(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int64_t v;
  if (w && int_in(s, w, "seed", 0, INT64_MAX, &v))
    s->r.seed = (uint64_t)v;
}

static void set_holdout(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int64_t v;
  if (w && int_in(s, w, "holdout", 0, INT32_MAX, &v))
    s->r.holdout = (int)v;
}

static bool choice(Sema *s, const Ast *w, const char *what, const char *const *names, int n, int *out) {
  if (w->kind == ND_REF)
    for (int i = 0; i < n; i++)
      if (strcmp(w->name, names[i]) == 0) {
        *out = i;
        return true;
      }
  char list[128] = "";
  for (int i = 0; i < n; i++) {
    strcat(list, names[i]);
    if (i + 2 < n)
      strcat(list, ", ");
    else if (i + 2 == n)
      strcat(list, " or ");
  }
  if (w->kind == ND_REF)
    ERR(s, w->loc, "unknown %s '%s' (expected %s)", what, diag_quote(w->name), list);
  else
    ERR(s, w->loc, "expected %s (%s), found %s", what, list, what_is(w));
  return false;
}

static const char *const round_names[] = {"pseudo", "stochastic", "nearest"};

static void set_rounding(Sema *s, const Ast *st) {
  if (!st->kids) {
    ERR(s, st->loc, "'rounding' needs a mode, e.g. rounding pseudo or rounding act=pseudo err=stochastic");
    return;
  }
  int mode;
  if (st->kids->kind != ND_KWARG) {
    if (!one_word(s, st) || !choice(s, st->kids, "rounding mode", round_names, 3, &mode))
      return;
    s->r.act_round = s->r.err_round = s->r.grad_round = mode;
    return;
  }
  static const char *const targets[] = {"act", "err", "grad"};
  const Ast *seen[3] = {0};
  for (const Ast *w = st->kids; w; w = w->next) {
    if (w->kind != ND_KWARG) {
      ERR(s, w->loc, "expected act=, err= or grad=, found %s", what_is(w));
      continue;
    }
    int t;
    Ast key = *w;
    key.kind = ND_REF;
    key.loc = w->name_loc;
    if (!choice(s, &key, "rounding target", targets, 3, &t))
      continue;
    if (seen[t]) {
      ERR(s, w->loc, "'%s' is set twice", targets[t]);
      diag_note(seen[t]->loc, "first set here");
      continue;
    }
    seen[t] = w;
    if (!choice(s, w->lhs, "rounding mode", round_names, 3, &mode))
      continue;
    if (t == 0)
      s->r.act_round = mode;
    else if (t == 1)
      s->r.err_round = mode;
    else
      s->r.grad_round = mode;
  }
}

/* update bits(3) then 2 at 5 then 1 at 9 */
static bool mu_word(Sema *s, const Ast *w, int64_t *mu) {
  if (w->kind == ND_CALL && strcmp(w->name, "bits") == 0) {
    if (!w->kids || w->kids->next) {
      ERR(s, w->loc, "bits takes one integer, e.g. bits(3)");
      return false;
    }
    w = w->kids;
  }
  return int_in(s, w, "update bits", 1, 8, mu);
}

static void set_update(Sema *s, const Ast *st) {
  const Ast *w = st->kids;
  if (!w) {
    ERR(s, st->loc, "'update' needs the update bits, e.g. update bits(3) then 2 at 5");
    return;
  }
  int64_t mu, at;
  if (!mu_word(s, w, &mu))
    return;
  Recipe *r = &s->r;
  r->nsched = 1;
  r->mu[0] = (int)mu;
  r->mu_from[0] = 1;
  for (w = w->next; w; w = w->next) {
    if (!is_word(w, "then")) {
      ERR(s, w->loc, "expected 'then' in the update schedule, found %s", what_is(w));
      return;
    }
    const Ast *b = w->next, *a = b ? b->next : NULL, *e = a ? a->next : NULL;
    if (!b || !a || !e || !is_word(a, "at")) {
      ERR(s, (a && !is_word(a, "at")) ? a->loc : (b ? b->loc : w->loc),
          "expected 'then BITS at EPOCH', e.g. then 2 at 5");
      return;
    }
    if (!mu_word(s, b, &mu) || !int_in(s, e, "epoch", 1, 1000000, &at))
      return;
    if (at <= r->mu_from[r->nsched - 1]) {
      ERR(s, e->loc, "epochs in the update schedule must increase (%s is not after %s)", num(at),
           num(r->mu_from[r->nsched - 1]));
      return;
    }
    if (r->nsched == NIT_MAX_SCHED) {
      ERR(s, w->loc, "the update schedule has at most %s entries", num(NIT_MAX_SCHED));
      return;
    }
    r->mu[r->nsched] = (int)mu;
    r->mu_from[r->nsched] = (int)at;
    r->nsched++;
    w = e;
  }
}

static void set_weights(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w)
    return;
  int64_t a;
  if (is_word(w, "int8"))
    s->r.weight_bits = 8;
  else if (is_word(w, "int16"))
    s->r.weight_bits = 16;
  else if (w->kind == ND_CALL && strcmp(w->name, "bits") == 0) {
    if (!w->kids || w->kids->next)
      ERR(s, w->loc, "bits takes one integer, e.g. bits(12)");
    else if (int_in(s, w->kids, "weight bits", 8, 16, &a))
      s->r.weight_bits = (int)a;
  } else if (w->kind == ND_REF)
    ERR(s, w->loc, "unknown weights '%s' (expected int8, int16 or bits(A) with A in 8..16)", diag_quote(w->name));
  else
    ERR(s, w->loc, "expected int8, int16 or bits(A) with A in 8..16, found %s", what_is(w));
}

static void set_loss(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  static const char *const losses[] = {"softmax_ce"};
  int v;
  if (w)
    choice(s, w, "loss", losses, 1, &v);
}

static void set_decay(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  static const char *const onoff[] = {"off", "on"};
  int v;
  if (w && choice(s, w, "decay setting", onoff, 2, &v))
    s->r.decay = v == 1;
}

static void check_train(Sema *s, const Ast *train) {
  const Ast *seen[NSETTINGS] = {0};
  for (const Ast *st = train->kids; st; st = st->next) {
    const struct Setting *set = setting_of(st);
    if (!set) {
      const char *guess = NULL;
      for (int i = 0; i < NSETTINGS && !guess; i++)
        if (close_to(st->name, settings[i].name))
          guess = settings[i].name;
      if (guess)
        ERR(s, st->name_loc, "unknown train setting '%s' (did you mean '%s'?)", diag_quote(st->name), guess);
      else
        ERR(s, st->name_loc,
             "unknown train setting '%s'; the settings are: data, batch, epochs, rounding, update, weights, "
             "seed, loss, decay, holdout",
             diag_quote(st->name));
      continue;
    }
    int i = (int)(set - settings);
    if (seen[i]) {
      ERR(s, st->name_loc, "'%s' is set twice", set->name);
      diag_note(seen[i]->name_loc, "first set here");
      continue;
    }
    seen[i] = st;
    set->fn(s, st);
  }
}

/* ------------------------------------------------------------ the model */

/* Values computed but not reaching the output are errors (they would be
 * trained with no error signal). Report only the last node of each dead
 * chain: the value the user wrote and then forgot. */
static void check_dead(Sema *s, int out) {
  int n = s->nnodes;
  unsigned char *live = mem_alloc((size_t)n), *used = mem_alloc((size_t)n);
  live[out] = 1;
  for (int i = n - 1; i >= 0; i--)
    for (int j = 0; j < s->nodes[i].nin; j++) {
      used[s->nodes[i].in[j]] = 1;
      if (live[i])
        live[s->nodes[i].in[j]] = 1;
    }
  for (int i = 0; i < n; i++) {
    if (live[i] || used[i])
      continue;
    Node *nd = &s->nodes[i];
    if (nd->name)
      ERR(s, nd->loc, "the value '%s' is never used (it does not reach the model's output)", diag_quote(nd->name));
    else
      ERR(s, nd->loc, "the result of this '%s' is never used (it does not reach the model's output)",
           sema_op_name(nd->op));
  }
}

static void auto_names(Sema *s) {
  int counter[OP_L1NORM + 1] = {0};
  for (int i = 0; i < s->nnodes; i++) {
    Node *n = &s->nodes[i];
    if (n->name)
      continue;
    char buf[48];
    do
      snprintf(buf, sizeof buf, "%s%d", sema_op_name(n->op), ++counter[n->op]);
    while (lookup(s, buf));
    n->name = mem_strdup(buf);
    insert(s, n->name, i, n->loc);
  }
}

/* Weights, exponents, accumulator widths, parameter layout, work estimate. */
static void finish(Sema *s, Model *m) {
  const Recipe *r = &s->r;
  int64_t esize = r->weight_bits == 8 ? 1 : 2;
  int64_t off = 0, nparams = 0, act = 0, acc = 0, grad = 0;
  int nparam = 0;
  bool over = false;
  for (int i = 0; i < s->nnodes; i++) {
    Node *n = &s->nodes[i];
    int64_t elems = (int64_t)n->out.c * n->out.h * n->out.w;
    /* int8 activation and int8 error per node, full batch */
    act = add_sat(act, 2 * align64(elems * r->batch), &over);
    if (n->op == OP_AVGPOOL)
      n->k_fwd = (int64_t)n->kh * n->kw;
    if (n->op != OP_DENSE && n->op != OP_CONV)
      continue;
    sema_init_rule(n->fan_in, &n->w_exp, &n->w_bound);
    n->param = nparam++;
    n->param_off = off;
    off = add_sat(off, align64(n->nweights * esize), &over);
    nparams = add_sat(nparams, n->nweights, &over);
    int64_t ohw = (int64_t)n->out.h * n->out.w;
    n->k_fwd = n->fan_in;
    n->k_bwd = n->op == OP_CONV ? (int64_t)(n->out_ch / n->groups) * n->kh * n->kw : n->units;
    n->k_grad = (int64_t)r->batch * (n->op == OP_CONV ? ohw : 1);
    n->acc64_fwd = sema_needs_acc64(n->k_fwd);
    n->acc64_bwd = sema_needs_acc64(n->k_bwd);
    n->acc64_grad = sema_needs_acc64(n->k_grad);
    Shape in = s->nodes[n->in[0]].out;
    int64_t in_elems = (int64_t)in.c * in.h * in.w;
    int64_t a_fwd = align64(elems * r->batch * (n->acc64_fwd ? 8 : 4));
    int64_t a_bwd = align64(in_elems * r->batch * (n->acc64_bwd ? 8 : 4));
    int64_t g = align64(n->nweights * (n->acc64_grad ? 8 : 4));
    acc = a_fwd > acc ? a_fwd : acc;
    acc = a_bwd > acc ? a_bwd : acc;
    grad = g > grad ? g : grad;
  }
  int64_t work = add_sat(add_sat(act, acc, &over), grad, &over);
  if (over) {
    ERR(s, m->loc, "this model needs more memory than nitc can address");
    return;
  }
  m->nparams = nparams;
  m->param_bytes = off;
  m->work_bytes = work;
}

static void check_model(Sema *s, const Ast *model, Model *m) {
  for (const Ast *st = model->kids; st && !diag_stopped(); st = st->next) {
    switch (st->kind) {
    case ND_INPUT: stmt_input(s, st); break;
    case ND_OUTPUT: stmt_output(s, st); break;
    case ND_LET: stmt_let(s, st); break;
    case ND_LAYER: stmt_layer(s, st); break;
    default: diag_internal(__FILE__, __LINE__, "unexpected statement kind");
    }
  }
  if (!s->have_input && !s->no_input_reported)
    ERR(s, model->name_loc, "model '%s' has no input; declare one with 'input NAME[C, H, W]'",
         diag_quote(model->name));
  if (!s->have_output)
    ERR(s, model->name_loc, "model '%s' has no output; declare one with 'output NAME(CLASSES)'",
         diag_quote(model->name));
  if (s->failed)
    return;
  if (s->cur == 0) {
    ERR(s, model->name_loc, "model '%s' has no layers", diag_quote(model->name));
    return;
  }
  Node *last = &s->nodes[s->cur];
  if (last->out.c != s->classes || last->out.h != 1 || last->out.w != 1) {
    Shape want = {s->classes, 1, 1};
    ERR(s, last->loc, "the model ends with shape %s, but its output needs %s", shape_str(last->out),
         shape_str(want));
    diag_note(s->output_loc, "the output is declared here");
    return;
  }
  check_dead(s, s->cur);
  if (s->failed)
    return;
  /* Invariant the back end relies on: the logits are the network's last
   * value. A consumer of the output cannot be its ancestor, so it would be
   * dead and check_dead has reported it. */
  for (int i = 0; i < s->nnodes; i++)
    for (int j = 0; j < s->nodes[i].nin; j++)
      NIT_ASSERT(s->nodes[i].in[j] != s->cur);
  auto_names(s);
  m->nodes = s->nodes;
  m->nnodes = s->nnodes;
  m->output = s->cur;
  m->classes = s->classes;
}

static Recipe default_recipe(void) {
  Recipe r = {0};
  r.data = "data/mnist";
  r.batch = 64;
  r.epochs = 1;
  r.seed = 1;
  r.act_round = NIT_ROUND_PSEUDO;
  r.err_round = NIT_ROUND_STOCHASTIC;
  r.grad_round = NIT_ROUND_PSEUDO;
  r.nsched = 1;
  r.mu[0] = 3;
  r.mu_from[0] = 1;
  r.weight_bits = 8;
  return r;
}

Model *sema_check(const Ast *prog, const SemaOverrides *ov) {
  Sema s = {.cur = -1};
  s.r = default_recipe();
  Model *m = mem_alloc(sizeof *m);
  const Ast *model = NULL, *train = NULL;
  /* blocks in file order, so diagnostics come out in file order */
  for (const Ast *it = prog ? prog->kids : NULL; it && !diag_stopped(); it = it->next) {
    const Ast **slot = it->kind == ND_MODEL ? &model : &train;
    if (*slot) {
      ERR(&s, it->loc, "a file holds one %s block", it->kind == ND_MODEL ? "model" : "train");
      diag_note((*slot)->loc, "the first one is here");
      continue;
    }
    *slot = it;
    if (it->kind == ND_MODEL) {
      m->name = model->name;
      m->loc = model->loc;
      check_model(&s, model, m);
    } else {
      check_train(&s, train);
    }
  }
  if (!model) {
    Loc at = train ? train->loc : (Loc){1, 1, 1, 1};
    ERR(&s, at, "no model in this file; expected 'model NAME { ... }'");
  }
  if (ov && ov->batch)
    s.r.batch = ov->batch;
  if (ov && ov->weight_bits)
    s.r.weight_bits = ov->weight_bits;
  NIT_ASSERT(s.r.batch >= 1 && s.r.batch <= SEMA_MAX_BATCH);
  NIT_ASSERT(s.r.weight_bits >= 8 && s.r.weight_bits <= 16);
  m->recipe = s.r;
  if (!s.failed)
    finish(&s, m);
  if (s.failed || diag_errors() > 0)
    return NULL;
  return m;
}
