/*
 * sema.c: from the syntax tree to a checked Model; the statements, the
 * names, and the driver of the checker.
 *
 * The model body is read in order. The "current value" starts as the input;
 * a bare layer statement consumes the current value and its result becomes
 * the current value; `let NAME = expr` evaluates an expression over named
 * values, binds NAME and makes the result current. The current value at the
 * end of the body is the logits. Names (input, let, layer labels) share one
 * namespace and are immutable. Nodes are appended as they are created, so
 * they are in topological order with the input first.
 *
 * What each layer kind means is sema_layers.c's (the layer table); the train
 * block is sema_train.c's. This file owns the checker's state (Sema in
 * nitc.h), the helpers all three share (errors, numbers, "did you mean"),
 * and the checks of the whole model: dead values, the output's shape, and
 * the totals. Every check that code generation would otherwise make lives in
 * sema*.c, so `nitc --check` accepts exactly what nitc compiles. Expression
 * evaluation is the only recursion and is bounded by SEMA_MAX_DEPTH.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nearname.h"
#include "nitc.h"

#define BYTES_MAX (INT64_C(1) << 62)

/* ------------------------------------------------------------ shared helpers */

/* Saturating sum for byte counts; `*over` records that the cap was hit. */
static int64_t add_sat(int64_t a, int64_t b, bool *over) {
  if (b > BYTES_MAX - a) {
    *over = true;
    return BYTES_MAX;
  }
  return a + b;
}

static int64_t align64(int64_t x) { return (x + 63) & ~INT64_C(63); }

/* Suggest only plausible typos (nearname.h, shared with the runtime). */
bool sema_close_to(const char *typed, const char *cand) { return nit_close_to(typed, cand); }

/* What a syntax node is, for "expected X, found Y". */
const char *sema_what_is(const Ast *a) {
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

/* Every semantic error goes through here: it marks the check failed. */
void sema_error(Sema *s, Loc loc, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  s->failed = true;
  diag_error(loc, "%s", msg);
}

const char *sema_num(int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return mem_strdup(buf);
}

/* ------------------------------------------------------------ exact decimals */

static const uint64_t pow10_9[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

const char *sema_dec_str(Dec d) {
  char buf[48];
  uint64_t p = pow10_9[d.f];
  if (d.f == 0) snprintf(buf, sizeof buf, "%" PRIu64, d.n);
  else snprintf(buf, sizeof buf, "%" PRIu64 ".%0*" PRIu64, d.n / p, d.f, d.n % p);
  return mem_strdup(buf);
}

/* Integer part and the fraction in 10^-9 units: both fit, so no product of
 * n and a power of ten is ever formed. */
int sema_dec_cmp(Dec a, Dec b) {
  uint64_t pa = pow10_9[a.f], pb = pow10_9[b.f];
  uint64_t ia = a.n / pa, ib = b.n / pb;
  uint64_t fa = (a.n % pa) * pow10_9[9 - a.f], fb = (b.n % pb) * pow10_9[9 - b.f];
  if (ia != ib) return ia < ib ? -1 : 1;
  return fa < fb ? -1 : fa > fb;
}

bool sema_dec(Sema *s, const Ast *w, const char *what, Dec lo, bool lo_open, Dec hi, bool hi_open, Dec *out) {
  if (w->kind != ND_INT && w->kind != ND_DEC) {
    sema_error(s, w->loc, "%s must be a number, found %s", what, sema_what_is(w));
    return false;
  }
  int f = w->kind == ND_DEC ? w->scale : 0;
  char range[96];
  snprintf(range, sizeof range, "%c%s, %s%c", lo_open ? '(' : '[', sema_dec_str(lo), sema_dec_str(hi),
           hi_open ? ')' : ']');
  if (w->ival < 0) {
    sema_error(s, w->loc, "%s must be in %s (got a negative number)", what, range);
    return false;
  }
  if (f < 0 || f > 9 || (uint64_t)w->ival >= UINT64_C(1000000000000000000)) {
    sema_error(s, w->loc, "%s has too many digits (at most 18, 9 of them after the point)", what);
    return false;
  }
  Dec d = {(uint64_t)w->ival, f};
  int cl = sema_dec_cmp(d, lo), ch = sema_dec_cmp(d, hi);
  if (cl < 0 || (lo_open && cl == 0) || ch > 0 || (hi_open && ch == 0)) {
    sema_error(s, w->loc, "%s must be in %s (got %s)", what, range, sema_dec_str(d));
    return false;
  }
  *out = d;
  return true;
}

static const char *shape_str(Shape sh) {
  char buf[64];
  snprintf(buf, sizeof buf, "(%d, %d, %d)", sh.c, sh.h, sh.w);
  return mem_strdup(buf);
}

/* ------------------------------------------------------------ names and nodes */

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

static SemaSym *lookup(Sema *s, const char *name) {
  if (!s->symcap) return NULL;
  size_t mask = (size_t)s->symcap - 1;
  for (size_t i = hash(name) & mask;; i = (i + 1) & mask) {
    if (!s->syms[i].name) return NULL;
    if (strcmp(s->syms[i].name, name) == 0) return &s->syms[i];
  }
}

static void insert(Sema *s, const char *name, int node, Loc loc) {
  if (2 * (s->nsyms + 1) > s->symcap) {
    int ncap = s->symcap ? 2 * s->symcap : 64;
    SemaSym *old = s->syms;
    int ocap = s->symcap;
    s->syms = mem_alloc(sizeof(SemaSym) * (size_t)ncap);
    s->symcap = ncap;
    s->nsyms = 0;
    for (int i = 0; i < ocap; i++)
      if (old[i].name) insert(s, old[i].name, old[i].node, old[i].loc);
  }
  size_t mask = (size_t)s->symcap - 1;
  size_t i = hash(name) & mask;
  while (s->syms[i].name) i = (i + 1) & mask;
  s->syms[i] = (SemaSym){name, node, loc};
  s->nsyms++;
}

/* Bind a user name; reports a redefinition. */
static bool define(Sema *s, const char *name, int node, Loc loc) {
  SemaSym *old = lookup(s, name);
  if (old) {
    sema_error(s, loc, "'%s' is already defined", diag_quote(name));
    diag_note(old->loc, "previous definition is here");
    return false;
  }
  insert(s, name, node, loc);
  return true;
}

int sema_new_node(Sema *s, OpKind op, Loc loc) {
  if (s->nnodes == s->cap) {
    int ncap = s->cap ? 2 * s->cap : 32;
    Node *nn = mem_alloc(sizeof(Node) * (size_t)ncap);
    if (s->nnodes) memcpy(nn, s->nodes, sizeof(Node) * (size_t)s->nnodes);
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
/* ------------------------------------------------------------ values */

static void unknown_name(Sema *s, const Ast *ref) {
  const char *guess = NULL;
  if (s->nsyms <= 4096)
    for (int i = 0; i < s->symcap && !guess; i++)
      if (s->syms[i].name && sema_close_to(ref->name, s->syms[i].name)) guess = s->syms[i].name;
  if (guess)
    sema_error(s, ref->loc, "unknown name '%s' (did you mean '%s'?)", diag_quote(ref->name), diag_quote(guess));
  else sema_error(s, ref->loc, "unknown name '%s'", diag_quote(ref->name));
}

static void name_node(Sema *s, int id, const char *name) {
  if (id >= 0 && !s->nodes[id].name) s->nodes[id].name = (char *)name;
}

/* Evaluate an expression to a node index, -1 after an error. */
static int eval(Sema *s, const Ast *e, int depth) {
  if (depth > SEMA_MAX_DEPTH && (e->kind == ND_ADD || e->kind == ND_CALL)) {
    sema_error(s, e->loc, "expression nested too deeply (the limit is %s levels)", sema_num(SEMA_MAX_DEPTH));
    return -1;
  }
  switch (e->kind) {
  case ND_REF: {
    SemaSym *sym = lookup(s, e->name);
    if (!sym) {
      unknown_name(s, e);
      return -1;
    }
    return sym->node;
  }
  case ND_ADD: {
    int a = eval(s, e->lhs, depth + 1);
    int b = a < 0 ? -1 : eval(s, e->rhs, depth + 1);
    if (b < 0) return -1;
    Shape sa = s->nodes[a].out, sb = s->nodes[b].out;
    if (sa.c != sb.c || sa.h != sb.h || sa.w != sb.w) {
      sema_error(s, e->loc, "cannot add values of different shapes %s and %s", shape_str(sa), shape_str(sb));
      return -1;
    }
    int id = sema_new_node(s, OP_ADD, e->loc);
    Node *n = &s->nodes[id];
    n->in[0] = a;
    n->in[1] = b;
    n->nin = 2;
    n->out = sa;
    return id;
  }
  case ND_CALL: {
    const LayerKind *k = sema_find_layer(s, e->name, e->name_loc);
    if (!k) return -1;
    const Ast *first = e->kids;
    if (!first || first->kind == ND_KWARG) {
      const char *kind = sema_layer_name(k);
      sema_error(s, e->loc, "'%s' needs its input value as the first argument here, e.g. %s(x%s)", kind, kind,
                 sema_layer_has_args(k) ? ", ..." : "");
      return -1;
    }
    int in = eval(s, first, depth + 1);
    if (in < 0) return -1;
    int id = sema_make_layer(s, k, in, first->next, e->loc);
    if (id >= 0 && e->label) {
      if (define(s, e->label, id, e->label_loc)) s->nodes[id].name = e->label;
    }
    return id;
  }
  default: sema_error(s, e->loc, "expected a value (a name or a layer call), found %s", sema_what_is(e)); return -1;
  }
}
/* ------------------------------------------------------------ statements */

static void stmt_input(Sema *s, const Ast *st) {
  if (s->have_input) {
    sema_error(s, st->loc, "a model has exactly one input");
    diag_note(s->input_loc, "the input is declared here");
    return;
  }
  s->have_input = true;
  s->input_loc = st->loc;
  int nd = ast_count(st->kids);
  if (nd != 1 && nd != 3) {
    sema_error(s, st->loc, "input needs [C, H, W] or [N] (got %s dimensions)", sema_num(nd));
    return;
  }
  int64_t d[3] = {1, 1, 1};
  int i = 0;
  bool ok = true;
  for (const Ast *a = st->kids; a; a = a->next, i++) {
    if (a->kind != ND_INT) {
      sema_error(s, a->loc, "input dimension must be an integer, found %s", sema_what_is(a));
      ok = false;
    } else if (a->ival < 1) {
      sema_error(s, a->loc, "input dimension must be at least 1 (got %s)", sema_num(a->ival));
      ok = false;
    } else if (a->ival > SEMA_MAX_DIM) {
      sema_error(s, a->loc, "input dimension is too large (the limit is %s)", sema_num(SEMA_MAX_DIM));
      ok = false;
    } else {
      d[i] = a->ival;
    }
  }
  if (!ok) return;
  int id = sema_new_node(s, OP_INPUT, st->loc);
  NIT_ASSERT(id == 0);
  Node *n = &s->nodes[0];
  n->nin = 0;
  if (!sema_set_out(s, n, d[0], d[1], d[2])) return;
  n->name = st->name;
  define(s, st->name, 0, st->name_loc);
  s->cur = 0;
}

static void stmt_output(Sema *s, const Ast *st) {
  if (s->have_output) {
    sema_error(s, st->loc, "a model has exactly one output");
    diag_note(s->output_loc, "the output is declared here");
    return;
  }
  s->have_output = true;
  s->output_loc = st->loc;
  const Ast *a = st->kids;
  if (!a || a->next || a->kind == ND_KWARG) {
    sema_error(s, a && a->next ? a->next->loc : st->loc,
               "output takes one argument, the number of classes, e.g. output classes(10)");
    return;
  }
  if (a->kind != ND_INT) {
    sema_error(s, a->loc, "the number of classes must be an integer, found %s", sema_what_is(a));
    return;
  }
  if (a->ival < 2) {
    sema_error(s, a->loc, "a classifier needs at least 2 classes (got %s)", sema_num(a->ival));
    return;
  }
  if (a->ival > SEMA_MAX_CLASSES) {
    sema_error(s, a->loc, "too many classes (got %s; the integer softmax loss is defined for at most %s)",
               sema_num(a->ival), sema_num(SEMA_MAX_CLASSES));
    return;
  }
  s->classes = (int)a->ival;
}

static bool need_input(Sema *s, const Ast *st) {
  if (s->cur >= 0) return true;
  if (s->cur == -1 && !s->have_input) {
    sema_error(s, st->loc, "layer before the input; a model starts with 'input NAME[C, H, W]'");
    s->no_input_reported = true;
  }
  s->failed = true; /* otherwise already reported */
  s->cur = -2;
  return false;
}

static void stmt_let(Sema *s, const Ast *st) {
  if (!need_input(s, st)) return;
  int v = eval(s, st->lhs, 0);
  if (v < 0) {
    s->cur = -2; /* poison: later statements would cascade */
    return;
  }
  if (define(s, st->name, v, st->name_loc)) name_node(s, v, st->name);
  s->cur = v;
}

static void stmt_layer(Sema *s, const Ast *st) {
  if (s->cur == -2) return;
  const LayerKind *k = sema_find_layer(s, st->name, st->name_loc);
  if (!k) {
    s->cur = -2;
    return;
  }
  if (!need_input(s, st)) return;
  int id = sema_make_layer(s, k, s->cur, st->kids, st->loc);
  if (id < 0) {
    s->cur = -2;
    return;
  }
  if (st->label && define(s, st->label, id, st->label_loc)) s->nodes[id].name = st->label;
  s->cur = id;
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
      if (live[i]) live[s->nodes[i].in[j]] = 1;
    }
  for (int i = 0; i < n; i++) {
    if (live[i] || used[i]) continue;
    Node *nd = &s->nodes[i];
    if (nd->name)
      sema_error(s, nd->loc, "the value '%s' is never used (it does not reach the model's output)",
                 diag_quote(nd->name));
    else
      sema_error(s, nd->loc, "the result of this '%s' is never used (it does not reach the model's output)",
                 sema_op_name(nd->op));
  }
}

static void auto_names(Sema *s) {
  int counter[OP_L1LAYERNORM + 1] = {0};
  for (int i = 0; i < s->nnodes; i++) {
    Node *n = &s->nodes[i];
    if (n->name) continue;
    char buf[48];
    do snprintf(buf, sizeof buf, "%s%d", sema_op_name(n->op), ++counter[n->op]);
    while (lookup(s, buf));
    n->name = mem_strdup(buf);
    insert(s, n->name, i, n->loc);
  }
}

/* What each weight layer derives from its shape and the recipe: init rule,
 * accumulator widths, parameter index; and the totals of the parameter slab.
 * Nothing here sizes the back end's memory: plan.c owns the work slab. The
 * one front-end bound on it is SEMA_MAX_STEP_ELEMS, which keeps every sum
 * plan.c forms over the values of a step exact in int64. */
static void finish(Sema *s, Model *m) {
  const Recipe *r = &s->r;
  int64_t esize = r->weight_bits == 8 ? 1 : 2;
  int64_t bytes = 0, nparams = 0, step_elems = 0;
  int nparam = 0;
  bool over = false, over_w = false;
  for (int i = 0; i < s->nnodes; i++) {
    Node *n = &s->nodes[i];
    int64_t elems = (int64_t)n->out.c * n->out.h * n->out.w; /* <= SEMA_MAX_ELEMS */
    step_elems = add_sat(step_elems, elems * r->batch, &over);
    if (n->op == OP_AVGPOOL) n->k_fwd = (int64_t)n->kh * n->kw;
    if (op_is_norm(n->op)) { /* gamma at param, beta at param + 1, C each */
      n->param = nparam;
      nparam += 2;
      bytes = add_sat(bytes, 2 * align64(n->out.c * esize), &over_w);
      nparams = add_sat(nparams, 2 * (int64_t)n->out.c, &over_w);
      continue;
    }
    if (n->op != OP_DENSE && n->op != OP_CONV) continue;
    sema_init_rule(n->fan_in, &n->w_exp, &n->w_bound);
    n->param = nparam++;
    bytes = add_sat(bytes, align64(n->nweights * esize), &over_w);
    nparams = add_sat(nparams, n->nweights, &over_w);
    int64_t ohw = (int64_t)n->out.h * n->out.w;
    n->k_fwd = n->fan_in;
    n->k_bwd = n->op == OP_CONV ? (int64_t)(n->out_ch / n->groups) * n->kh * n->kw : n->units;
    n->k_grad = (int64_t)r->batch * (n->op == OP_CONV ? ohw : 1);
    n->acc64_fwd = sema_needs_acc64(n->k_fwd);
    n->acc64_bwd = sema_needs_acc64(n->k_bwd);
    /* unified multiplies the weight gradient by the error's multiplier
     * (up to 15) after the accumulation: its sums are kept in 64 bits */
    n->acc64_grad = sema_needs_acc64(n->k_grad) || r->kind == NIT_RECIPE_UNIFIED;
  }
  if (over || step_elems > SEMA_MAX_STEP_ELEMS) {
    sema_error(s, m->loc,
               "this model is too large: its values hold %s elements per training step at batch %s "
               "(the limit is %s)",
               over ? "more than 2^62" : sema_num(step_elems), sema_num(r->batch), sema_num(SEMA_MAX_STEP_ELEMS));
    return;
  }
  if (over_w || bytes > SEMA_MAX_STEP_ELEMS) {
    sema_error(s, m->loc, "this model is too large: its weights take %s bytes (the limit is %s)", sema_num(bytes),
               sema_num(SEMA_MAX_STEP_ELEMS));
    return;
  }
  m->nparams = nparams;
  m->nptensors = nparam;
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
    sema_error(s, model->name_loc, "model '%s' has no input; declare one with 'input NAME[C, H, W]'",
               diag_quote(model->name));
  if (!s->have_output)
    sema_error(s, model->name_loc, "model '%s' has no output; declare one with 'output NAME(CLASSES)'",
               diag_quote(model->name));
  if (s->failed) return;
  if (s->cur == 0) {
    sema_error(s, model->name_loc, "model '%s' has no layers", diag_quote(model->name));
    return;
  }
  Node *last = &s->nodes[s->cur];
  if (last->out.c != s->classes || last->out.h != 1 || last->out.w != 1) {
    Shape want = {s->classes, 1, 1};
    sema_error(s, last->loc, "the model ends with shape %s, but its output needs %s", shape_str(last->out),
               shape_str(want));
    diag_note(s->output_loc, "the output is declared here");
    return;
  }
  check_dead(s, s->cur);
  if (s->failed) return;
  /* Invariant the back end relies on: the logits are the network's last
   * value. A consumer of the output cannot be its ancestor, so it would be
   * dead and check_dead has reported it. */
  for (int i = 0; i < s->nnodes; i++)
    for (int j = 0; j < s->nodes[i].nin; j++) NIT_ASSERT(s->nodes[i].in[j] != s->cur);
  auto_names(s);
  m->nodes = s->nodes;
  m->nnodes = s->nnodes;
  m->output = s->cur;
  m->classes = s->classes;
}

/* The command line's widths, each valid only under the recipes that have it
 * (as the train settings they replace). */
static void overrides(Sema *s, const SemaOverrides *ov) {
  const char *recipe = nit_recipe_names[s->r.kind];
  if (ov && ov->weight_bits) {
    if (s->r.kind == NIT_RECIPE_NITI) s->r.weight_bits = ov->weight_bits;
    else {
      diag_plain("--weight-bits sets NITI's weight accumulation bits; recipe %s uses --master-bits", recipe);
      s->failed = true;
    }
  }
  if (ov && ov->master_bits) {
    NIT_ASSERT(ov->master_bits == 16 || ov->master_bits == 32);
    if (s->r.kind != NIT_RECIPE_NITI) s->r.master_bits = ov->master_bits;
    else {
      diag_plain("--master-bits sets the masters of recipes ghaffari, shiftquant and unified; recipe %s uses "
                 "--weight-bits",
                 recipe);
      s->failed = true;
    }
  }
  if (ov && ov->grad_bits) {
    NIT_ASSERT(ov->grad_bits >= 2 && ov->grad_bits <= 8);
    if (s->r.kind != NIT_RECIPE_NITI) s->r.bits_grad = ov->grad_bits;
    else {
      diag_plain("--grad-bits sets the error width of recipes ghaffari, shiftquant and unified; recipe %s uses 8 bits "
                 "everywhere",
                 recipe);
      s->failed = true;
    }
  }
}

Model *sema_check(const Ast *prog, const SemaOverrides *ov) {
  Sema s = {.cur = -1, .ov_recipe = ov && ov->recipe ? ov->recipe - 1 : -1};
  s.r = sema_default_recipe();
  Model *m = mem_alloc(sizeof *m);
  const Ast *model = NULL, *train = NULL;
  /* blocks in file order, so diagnostics come out in file order */
  for (const Ast *it = prog ? prog->kids : NULL; it && !diag_stopped(); it = it->next) {
    const Ast **slot = it->kind == ND_MODEL ? &model : &train;
    if (*slot) {
      sema_error(&s, it->loc, "a file holds one %s block", it->kind == ND_MODEL ? "model" : "train");
      diag_note((*slot)->loc, "the first one is here");
      continue;
    }
    *slot = it;
    if (it->kind == ND_MODEL) {
      m->name = model->name;
      m->loc = model->loc;
      check_model(&s, model, m);
    } else {
      sema_train(&s, train);
    }
  }
  if (!model) {
    Loc at = train ? train->loc : (Loc){1, 1, 1, 1};
    sema_error(&s, at, "no model in this file; expected 'model NAME { ... }'");
  }
  if (!train && s.ov_recipe >= 0) { /* sema_train applies it to a train block */
    s.r.kind = s.ov_recipe;
    sema_recipe_defaults(&s.r);
  }
  if (ov && ov->batch) s.r.batch = ov->batch;
  overrides(&s, ov);
  if (model) sema_check_norms(&s);
  NIT_ASSERT(s.r.batch >= 1 && s.r.batch <= SEMA_MAX_BATCH);
  NIT_ASSERT(s.r.weight_bits >= 8 && s.r.weight_bits <= 16);
  m->recipe = s.r;
  if (!s.failed) finish(&s, m);
  if (s.failed || diag_errors() > 0) return NULL;
  return m;
}
