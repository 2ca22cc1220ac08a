/*
 * nitc.h: the compiler's one internal header. Each section belongs to one .c
 * file and lists what that file offers the others, in pipeline order:
 *
 *   source.c    read a file into memory, map offsets to line/column
 *   diag.c      user diagnostics (file:line:col, source line, caret) and
 *               internal-error aborts
 *   ast.c       the syntax tree built by the parser (grammar/nit.y)
 *   parse.c     drive the flex scanner and bison parser
 *   sema.c      statements, names, whole-model checks; drives sema_layers.c
 *               and sema_train.c and produces a Model
 *   sema_layers.c  the layer table: kinds, arguments, shape rules, init rule
 *   sema_train.c   the train block: settings and the recipe
 *   plan.c      the training step as a list of kernels and a static memory plan
 *   cg/         kernels -> LLVM IR (its own header, cg/cg.h)
 *   emit.c      LLVM target machine, object emission, linking with the runtime
 *   units.c     code generation of an executable in parallel units
 *   main.c      the command line; runs the phases as a plain list
 *   plot.c      `nitc plot`: training logs to loss and accuracy curves (gnuplot)
 *
 * Lifetimes: everything the front end allocates lives until exit; the compiler
 * is a short-lived process, so nothing is freed piecemeal (arena style).
 */
#ifndef NITC_H
#define NITC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nitabi.h"

#define NITC_VERSION "0.1.0"

/* ---------------------------------------------------------------- source.c */

typedef struct Source {
  char *path; /* as given on the command line */
  char *text; /* contents, NUL-terminated (embedded NULs possible) */
  size_t len; /* bytes in text, excluding the terminator */
} Source;

typedef struct Loc {
  int line;              /* 1-based */
  int col;               /* 1-based, in bytes */
  int end_line, end_col; /* inclusive end of the span */
} Loc;

/* Read a whole file. Returns NULL with *err set when it cannot be read (an
 * errno value; EISDIR for a directory, EFBIG when larger than
 * SOURCE_MAX_BYTES); reports nothing: the caller does (diag_read_error). */
Source *source_read(const char *path, int *err);
/* Wrap bytes already in memory (tests, fuzzer); the bytes are copied. */
Source *source_from_mem(const char *name, const char *buf, size_t len);
/* Line `line` (1-based) of src: start pointer and length without the newline.
 * Returns false when the line does not exist. */
bool source_line(const Source *src, int line, const char **start, size_t *len);

#define SOURCE_MAX_BYTES (64u << 20) /* larger inputs are rejected */

/* The front end's arena. Everything lives until mem_release(); the compiler
 * never frees piecemeal, the fuzzer and unit tests release after each run. */
void *mem_alloc(size_t n); /* zeroed; exits with status 2 when out of memory */
char *mem_strndup(const char *s, size_t n);
char *mem_strdup(const char *s);
void mem_release(void);

/* ------------------------------------------------------------------ diag.c */

/* Diagnostics go to one stream (stderr by default, NULL to suppress them: the
 * fuzzer) and are counted. After DIAG_MAX_ERRORS errors the next one prints
 * "too many errors (N shown), stopping" instead and diag_stopped() turns true:
 * phases then stop early. Notes attach to the error printed just before. */
#define DIAG_MAX_ERRORS 20

void diag_begin(const Source *src); /* source the Locs refer to; resets counts */
void diag_set_output(void *stream); /* FILE *, NULL = discard */
void diag_error(Loc loc, const char *fmt, ...);
void diag_note(Loc loc, const char *fmt, ...);
/* "file:line:col: warning: ...": a setting that is valid but known not to
 * train; not counted as an error. Notes attach to it as to an error. */
void diag_warning(Loc loc, const char *fmt, ...);
void diag_plain(const char *fmt, ...); /* "nitc: error: ..." without a location */
void diag_plain_warning(const char *fmt, ...); /* "nitc: warning: ...", not counted */
/* The one-line error for a source_read failure: the path and *err in words. */
void diag_read_error(const char *path, int err);
int diag_errors(void);       /* errors reported so far (shown or not) */
bool diag_stopped(void);     /* cap reached: stop reporting */
const char *diag_last(void); /* text of the most recent error (tests) */
/* A user string made safe and short for a message: control and non-ASCII
 * bytes become '?', more than 40 bytes are cut to 36 + "...". Arena memory. */
const char *diag_quote(const char *s);
/* The same with a chosen limit (paths use DIAG_PATH_MAX). */
const char *diag_quote_n(const char *s, size_t max);
#define DIAG_PATH_MAX 1024
/* Internal error: prints file, line and message, exits with status 2. */
_Noreturn void diag_internal(const char *file, int line, const char *msg);
#define NIT_ASSERT(c) ((c) ? (void)0 : diag_internal(__FILE__, __LINE__, "assertion failed: " #c))

/* ------------------------------------------------------------------- ast.c */

/* The syntax tree is deliberately generic: a layer statement is a name, an
 * optional label and an argument list; sema's layer table decides what the
 * names and arguments mean. Lists are linked through `next`. */
typedef enum {
  ND_PROGRAM, /* kids: ND_MODEL / ND_TRAIN items in file order */
  ND_MODEL,   /* name; kids: statements */
  ND_TRAIN,   /* kids: ND_SETTING */
  ND_INPUT,   /* name; kids: dimension expressions */
  ND_OUTPUT,  /* name (may be NULL); kids: arguments */
  ND_LET,     /* name = lhs */
  ND_LAYER,   /* statement: name = kind, label = optional layer name, kids = args;
                  has_args false for a bare `relu` */
  ND_CALL,    /* expression: name = kind, label, kids = args (first = input) */
  ND_ADD,     /* lhs + rhs; loc is the '+' */
  ND_REF,     /* name: a reference to a value */
  ND_INT,     /* ival */
  ND_DEC,     /* decimal literal: ival / 10^scale */
  ND_STR,     /* str */
  ND_KWARG,   /* name = lhs */
  ND_SETTING, /* train setting: name, kids = words (ND_REF for bare words) */
} AstKind;

typedef struct Ast Ast;
struct Ast {
  AstKind kind;
  Loc loc;      /* the whole construct (ND_ADD: the '+') */
  Loc name_loc; /* where `name` is written */
  char *name;
  char *label; /* ND_LAYER / ND_CALL: user's layer name, or NULL */
  Loc label_loc;
  char *str;      /* ND_STR contents (escapes resolved) */
  int64_t ival;   /* ND_INT value; ND_DEC digits */
  int scale;      /* ND_DEC: digits after the point */
  bool has_args;  /* ND_LAYER: parentheses were written */
  Ast *kids;      /* first child */
  Ast *lhs, *rhs; /* ND_LET, ND_KWARG (lhs), ND_ADD */
  Ast *next;      /* sibling */
};

typedef struct AstList {
  Ast *head, *tail;
} AstList;

Ast *ast_new(AstKind kind, Loc loc);
void ast_append(AstList *l, Ast *a);
int ast_count(const Ast *list);
const char *ast_kind_name(AstKind kind);
/* An S-expression of the tree into buf (tests); nesting deeper than
 * AST_MAX_DEPTH prints "...". Returns the length it needed. */
#define AST_MAX_DEPTH 256
size_t ast_dump(const Ast *a, char *buf, size_t size);

/* ----------------------------------------------------------------- parse.c */

/* Scanner and parser state shared by grammar/nit.l and grammar/nit.y. */
typedef struct ParseState {
  const Source *src;
  int line, col;      /* position of the next byte */
  Loc last;           /* span of the most recent token */
  int prev;           /* most recent token kind (newline skipping) */
  Ast *root;          /* ND_PROGRAM when the parse succeeded */
  int errors;         /* lexical + syntax errors */
  int lex_error_line; /* line of the last scanner error: no syntax error there */
} ParseState;

#define IDENT_MAX_LEN   256  /* longer identifiers are an error */
#define PARSE_MAX_DEPTH 2000 /* bison stack limit: "nesting too deep" */

/* Scan and parse a source. Returns the program, or NULL after reporting at
 * least one error. */
Ast *parse_source(const Source *src);

/* ------------------------------------------------------------ Model (sema) */

/* The checked network: what sema hands to plan and cg/. Nodes are in
 * topological order; node 0 is always OP_INPUT. Every shape is per sample. */

typedef enum {
  OP_INPUT,
  OP_DENSE,
  OP_CONV,
  OP_MAXPOOL,
  OP_AVGPOOL,
  OP_RELU,
  OP_FLATTEN,
  OP_DROPOUT,
  OP_ADD,
  /* normalization layers (docs/recipes.md, "Normalization layers"): recipes
   * with a learning rate only; code generation does not lower them yet */
  OP_BATCHNORM,   /* per channel over the batch, L2 */
  OP_L1NORM,      /* per channel over the batch, L1 */
  OP_LAYERNORM,   /* per sample, L2 */
  OP_L1LAYERNORM, /* per sample, L1 */
} OpKind;

static inline bool op_is_norm(OpKind op) {
  return op == OP_BATCHNORM || op == OP_L1NORM || op == OP_LAYERNORM || op == OP_L1LAYERNORM;
}

typedef struct Shape {
  int c, h, w; /* (C, H, W); a vector of N is (N, 1, 1) */
} Shape;

/* A .nit decimal kept exactly: n / 10^f (f digits after the point, f <= 9). */
typedef struct Dec {
  uint64_t n;
  int f;
} Dec;

typedef struct Node {
  OpKind op;
  char *name; /* unique: the user's name or "<kind><n>" */
  Loc loc;    /* where it was written */
  int in[2];  /* input node indices, -1 when absent */
  int nin;    /* 0 (input), 1, or 2 (add) */
  Shape out;  /* per-sample output shape */

  /* layer arguments, defaults applied */
  int units;   /* dense: outputs */
  int out_ch;  /* conv: output channels */
  int kh, kw;  /* conv, pools: window */
  int sh, sw;  /* conv, pools: stride */
  int ph, pw;  /* conv, pools: zero padding (pools pad with "no value") */
  int groups;  /* conv */
  int drop256; /* dropout: drop probability in 1/256 units, 0..255 */
  Dec eps;     /* norm layers: epsilon, default 0.00001 */
  Dec nmom;    /* batchnorm, l1norm: running-statistics momentum, default 0.1 */
  Dec nk;      /* l1 norms: k, default sqrt(pi/2) (n = 0: the default constant) */

  /* parameters (dense, conv); nweights == 0 for the others */
  int64_t nweights; /* elements */
  int wshape[4];    /* dense (O, I, 1, 1); conv (O, I/groups, KH, KW) */
  int fan_in;       /* I/groups * KH * KW (dense: I) */
  int w_exp;        /* s_w from the init rule (docs/numerics.md) */
  int w_bound;      /* init draws uniform integers in [-w_bound, w_bound] */
  int param;        /* index among the parameter tensors, -1 if none; norm
                     * layers own param (gamma, C) and param + 1 (beta, C) */

  /* accumulator widths, decided from shapes and the compiled batch:
   * int32 iff (terms summed) * 127 * 127 < 2^31 */
  int64_t k_fwd;  /* terms per forward accumulator */
  int64_t k_bwd;  /* terms per input-error accumulator */
  int64_t k_grad; /* terms per weight-gradient accumulator (includes batch) */
  bool acc64_fwd, acc64_bwd, acc64_grad;
} Node;

/* Pooling whose windows neither overlap nor pad: every input has at most
 * one window, and the taps need no bounds test (cg/pool.c's fast path; the
 * plan's relu_pool). */
static inline bool pool_disjoint(const Node *nd) {
  return nd->ph == 0 && nd->pw == 0 && nd->sh >= nd->kh && nd->sw >= nd->kw;
}

typedef struct Recipe {
  char *data; /* data directory, default "data/mnist" */
  Loc data_loc;
  int batch;      /* default 64 */
  int epochs;     /* default 1 */
  uint64_t seed;  /* default 1 */
  int act_round;  /* NIT_ROUND_*, default pseudo */
  int err_round;  /* default stochastic (docs/numerics.md, "Loss gradient") */
  int grad_round; /* default pseudo */
  int nsched;     /* m_u schedule entries, >= 1 */
  int mu[NIT_MAX_SCHED];
  int mu_from[NIT_MAX_SCHED]; /* 1-based epoch where mu[i] starts; mu_from[0] = 1 */
  int weight_bits;            /* A in 8..16, default 8 */
  bool decay;                 /* NITI integer weight decay, default off */
  int holdout;                /* validation holdout samples, default 0 */

  /* the recipe (docs/recipes.md); the fields below are used by recipes
   * other than niti only */
  int kind;                   /* NIT_RECIPE_*, default niti */
  Loc kind_loc;               /* the `recipe` setting, or the train block */
  int master_bits;            /* A of the masters: 16 (default) or 32 */
  int view_round;             /* NIT_ROUND_*: views of the masters */
  int update_round;           /* NIT_ROUND_*: momentum and master updates */
  bool loss_table;            /* table softmax loss (default under ghaffari) */
  int lr_kind;                /* NIT_LR_PIECEWISE or NIT_LR_COSINE */
  int nlr;                    /* piecewise entries, 1..NIT_MAX_SCHED */
  Dec lr[NIT_MAX_SCHED];      /* piecewise values; cosine: lr[0] is the base */
  int lr_at[NIT_MAX_SCHED];   /* 1-based epoch of lr[i]; lr_at[0] = 1 */
  Dec lr_min;                 /* cosine: the floor, default 0 */
  int lr_period;              /* cosine: period in epochs, default `epochs` */
  int64_t warmup;             /* warmup steps, 0 = none */
  Dec warmup_ratio;           /* start ratio of the warmup, in (0, 1] */
  Dec momentum;               /* in [0, 1), default 0.9 */
  Dec wdecay;                 /* coupled weight decay in [0, 1), default 0.0005 */
  int bits_act;               /* b_a in 2..8, default 8 (8 under niti) */
  int bits_weight;            /* b_w in 2..8, default 8: the views' width */
  int bits_grad;              /* b_g in 2..8, default 8; shiftquant: 4 */
  Loc bits_loc;               /* the `bits` setting (line 0: none) */
  int groups;                 /* NIT_GROUPS_*, shiftquant only, default channel */
  bool groups_weight;         /* groups weight=channel: weight views by SQ_{b_w}, shiftquant only */
  /* unified only (docs/recipes.md, "The unified recipe") */
  bool clip;                  /* clip cosine(...) (default) or clip off */
  int64_t clip_every;         /* P >= 1: steps between searches, default 100 */
  int clip_range;             /* R in 1..8: octaves searched below l0, default 4 */
  int clip_grid;              /* NIT_GRID_*, default eighth */
  bool lrscale;               /* lrscale exp(...) (default) or lrscale off */
  Dec lrs_alpha;              /* alpha in (0, 1000], default 20 */
  Dec lrs_beta;               /* beta in (0, 1], default 0.1 */
} Recipe;
/* Whether the recipe's error quantizer EQ is RQ (niti, ghaffari): a site's
 * shift then comes from its largest |e| alone, which GEMM bodies can find
 * as they go (cg/round.c); unified clips and shiftquant scales by groups. */
static inline bool recipe_err_rq(const Recipe *r) {
  return r->kind != NIT_RECIPE_UNIFIED && r->kind != NIT_RECIPE_SHIFTQUANT;
}
/* Whether a pool rounds its input errors with the recipe's EQ (cg/pool.c,
 * pool_deliver): always under niti, and under the recipes with masters
 * where its windows overlap (elsewhere each input receives at most one
 * error, passed on unrounded; docs/recipes.md, "Layers under the new
 * recipes"). */
static inline bool pool_rounds_err(const Node *nd, const Recipe *r) {
  return r->kind == NIT_RECIPE_NITI || nd->sh < nd->kh || nd->sw < nd->kw;
}
/* The width of the roundings a relu folds into (plan.c: relu_rq, relu_err):
 * round8's relu floor and gate saturate at 8 bits (cg/round.c). */
#define RELU_FOLD_BITS 8
/* Whether the loss leaves its e32 (B, classes) i64 in the accumulator
 * scratch for the recipe's EQ at LOSS (cg/loss.c, step.c): every softmax but
 * NITI's own under niti, which rounds its row itself. */
static inline bool recipe_loss_e32(const Recipe *r) { return r->loss_table || r->kind != NIT_RECIPE_NITI; }

typedef struct Model {
  char *name;
  Loc loc;
  Node *nodes; /* topological order; nodes[0] is the input */
  int nnodes;
  int output; /* index of the node whose output is the logits */
  int classes;
  Recipe recipe;
  int64_t nparams; /* total parameter elements */
  int nptensors;   /* parameter tensors (Node.param indices 0 .. nptensors-1) */
  bool keep_tensors; /* --keep-tensors: errors never share bytes, so every
                      * activation and error survives a step (plan.c) */
} Model;

/* ------------------------------------------------------------------ plan.c */

/* The static memory plan of one training step. Every size is known at compile
 * time for the compiled maximum batch; the work slab is one allocation. */

typedef struct Buf {
  int64_t off;   /* byte offset in the work slab, -1 = none */
  int64_t bytes; /* size at full batch */
} Buf;

typedef struct Plan {
  int64_t *param_off;  /* (nparams) byte offset of each parameter tensor in
                          * the params slab, 64-aligned */
  int64_t param_bytes; /* the params slab */
  /* recipes with masters (-1 everywhere under niti): per parameter tensor */
  int64_t *master_off; /* (nptensors) int16/int32 master */
  int64_t *mom_off;    /* (nptensors) momentum, the master's width */
  int64_t *stats_off;  /* (nptensors) gamma of a batch-statistics norm: i32 (C, 4) */
  int64_t pstate_off;  /* i32 (nptensors, 4) {master exp, mom exp, view exp, 0} */
  int64_t exps_off;    /* i32 (nnodes, 4): {act, err, ein0, ein1} exponents */
  Buf *act;            /* (nnodes) int8 (B, C, H, W) outputs; act[0] unused (x) */
  int *act_alias;      /* (nnodes) node whose act buffer this node shares, or itself */
  bool *act_kept;      /* (nnodes) an alias root's activation survives a training step
                          * (no error buffer lies over it; a forward call keeps them all
                          * but the act_fwd ones) */
  bool *act_fwd;       /* (nnodes) an alias root's activation that no backward step reads,
                          * placed by its life in the forward pass over later buffers
                          * (plan.c, place_fwd); nothing reads it after a call */
  bool fwd_apart;      /* pools keep taps and act_fwd applies: the activations pass
                          * PLAN_TAPS_BYTES (plan.c) */
  bool *pool_taps;     /* (nnodes) disjoint max pool i keeps each window's tap after its
                          * output in its act buffer, and its backward routes by them
                          * instead of reading its input (plan.c, plan_taps) */
  bool *col2im;        /* (nnodes) conv i's input error is W^T e scattered back (col2im),
                          * not a convolution of the padded error (cg/conv.c) */
  bool *relu_rq;       /* (nnodes) node i's requantization applies the relu that is its
                          * only consumer, into the buffer they share (8-bit activations) */
  int *relu_pool;      /* (nnodes) 0, or the max pool that is relu i's only consumer
                          * and does its backward, writing relu i's input error */
  int *relu_err;       /* (nnodes) 0, or the dense or conv layer that is relu i's only
                          * consumer and whose input-error requantization does relu i's
                          * backward, writing relu i's input error (8-bit RQ errors) */
  Buf *err;            /* (nnodes) int8 (B, C, H, W) error of each node's output */
  int *err_alias;      /* (nnodes) node whose err buffer this node shares, or itself */
  bool *err_kept;      /* (nnodes) an alias root's error survives the step (its
                          * slot is not reused later in the backward pass) */
  bool *needs_err;     /* (nnodes) node i is weighted or has a weighted ancestor */
  bool *nonneg;        /* (nnodes) node i's output is never negative (plan_build) */
  bool *nonneg_x;      /* (nnodes) and is not known so, but is where x is (the input, pooled or
                        * flattened; NitCtx.x_nonneg says so at run time) */
  int64_t err_bytes;   /* the error slots' int8 bytes at full batch (reported) */
  int64_t act_bytes;   /* the activations' run in work (reported) */
  int64_t act_fwd_bytes; /* of which read by no backward step: dead after the loss (reported) */
  int64_t act_over;    /* the act_fwd activations' bytes, outside the run (reported) */
  int64_t taps_bytes;  /* the pools' taps, in the run (reported) */
  int64_t err_over;    /* the errors' bytes that lie over dead activations (reported) */
  int64_t err_past;    /* the bytes the errors take past the activations (reported) */
  bool *gathers;       /* (nnodes) err[i] is a sum of several contributions */
  Buf (*ein)[2];       /* (nnodes, 2) private input-error buffer of consumer
                          * i's slot s when its producer gathers, else off -1 */
  int *nconsumers;     /* (nnodes) how many nodes read node i's output */
  Buf *wview;          /* (nnodes) int8 view of wide weights (weight_bits > 8) */
  uint8_t *ahead;      /* (nnodes) AHEAD_FWD, AHEAD_ERR: conv i's forward, input-error
                          * requantization rounds each sample ahead in its GEMM's bodies
                          * and keeps per worker one sample's accumulators (cg/round.c) */
  int *rq_pool;        /* (nnodes) 0, or the disjoint max pool whose forward runs in
                          * weighted node i's rounding region, each worker pooling the
                          * samples it has just rounded (cg/round.c, Follow) */
  int *pool_in_err;    /* (nnodes) 0, or the weighted node, max pool i's only consumer,
                          * in whose input-error rounding region pool i's backward runs,
                          * each worker on the samples it has just rounded (cg/round.c) */
  Buf acc;             /* int64-capable accumulator scratch, largest acc_bytes */
  int64_t *acc_at;     /* (nnodes) where in acc node i's forward puts its
                          * accumulators: centred, see plan.c */
  int64_t *acc_bytes;  /* (nnodes) how many bytes of acc from acc_at are node i's
                          * forward's (0: its kernels use none) */
  int64_t *acc_err_at;    /* (nnodes) the same for node i's backward (its input
                             * error), centred by its own size */
  int64_t *acc_err_bytes; /* (nnodes) */
  Buf acc2;            /* second accumulator (fan-out error sums) */
  Buf grad;            /* int64-capable weight-gradient scratch, largest tensor */
  int64_t *grad_at;    /* (nnodes) where in grad node i's gradient lies: centred */
  Buf pack;            /* repacked operands of one layer's GEMMs (weight
                          * panels, transposed errors, input panels), largest layer */
  Buf rsum;            /* i32 row sums of a dense weight gradient's A, e^T (O rows; vnni) */
  int maxw;            /* workers a parallel kernel may use (1..PLAN_MAX_WORKERS) */
  int *workers;        /* (nnodes) workers node i's GEMMs and roundings may use: maxw,
                          * fewer for a small dense layer (plan_workers) */
  bool *fwd_rows;      /* (nnodes) a dense layer on one worker whose forward is split by
                          * samples over maxw workers, each packing every panel (plan_fwd_rows) */
  bool *paired;        /* (nnodes) a dense layer whose input error and weight gradient run
                          * side by side, one worker each (plan_pairs) */
  int64_t *et_at;      /* (nnodes) where in pack a dense weight gradient's e^T lies: 0, or
                          * past the input error's w^T panels when paired */
  Buf col;             /* (maxw) per-worker im2col scratch of one sample */
  Buf gpart;           /* (maxw) per-worker partial conv weight gradients */
  int64_t col_bytes;   /* one worker's share of col */
  int64_t gpart_bytes; /* one worker's share of gpart */
  Buf sgd;             /* masters: (count) i64 sums S, then (count) i32 G */
  Buf *nstat;          /* (nnodes) norm layers: i64 (groups, NIT_NORM_STAT) kept
                          * from the training forward for the backward */
  Buf norm;            /* i64 scratch of the norm kernels, largest norm layer */
  Buf sq;              /* shiftquant: i64 per group of SQ_b (groups of the largest error) */
  Buf sq_blk;          /* shiftquant: i64 (n, C) maxima of SQ_b's blocks (the batch, the largest C) */
  /* unified (docs/recipes.md, "The unified recipe"); off -1 / 0 otherwise */
  int64_t mu_off;      /* work: i32 (nnodes, 4) multipliers beside the exponent slots */
  int nsites;          /* DSGC sites, in the order of their first weighted node */
  uint32_t *site_tid;  /* (nsites) NIT_TID_LOSS, NIT_TID_ERR(c) or NIT_TID_SUM(j) */
  int *node_site;      /* (nnodes) the DSGC site of a weighted node's output error, or -1 */
  int64_t clip_off;    /* params: i32 (nsites, 4) {l* + 1, s*, dq, phi} (0: no level held) */
  Buf clip;            /* work: the error-site kernel's scratch, then i32 {mu, dq} */
  int64_t sgd_count;   /* elements of the largest parameter tensor */
  Buf red;             /* small results handed from a serial phase to workers */
  Buf rq;              /* a parallel requantization's arguments and per-worker maxima; par_arg */
  Buf guess;           /* i32 (nnodes, AHEAD_SLOTS): the shift k + 1 of node i's
                          * {training forward, input error, evaluation forward}
                          * requantization at the pass before (0: none yet), from which
                          * its GEMM bodies round ahead (cg/round.c) */
  Buf ahead_run;       /* one rounding-ahead region's state (cg/round.c, AR_*), then
                          * i8 (B) the k + 1 each sample was rounded with */
  int64_t work_bytes;  /* total */
} Plan;

#define PLAN_MAX_WORKERS  16         /* threads a kernel can spread over */
#define PLAN_WORKER_BYTES (96 << 20) /* cap on all workers' private scratch */
#define DENSE_MACS_PER_WORKER (1 << 22) /* a dense layer's multiply-adds per step that a worker
                                         * must get before it is worth a hand-off */
#define DENSE_ROWS_MACS (1 << 20) /* a one-worker dense layer's forward multiply-adds per step
                                   * from which its samples are split (plan_fwd_rows) */
#define DENSE_ROWS_BATCH 32        /* and the smallest batch for that */
#define COL2IM_MAX_BYTES  (1 << 20)  /* largest per-sample W^T e product of a col2im input error */
#define AHEAD_FWD 1
#define AHEAD_ERR 2
#define AHEAD_SLOTS 3 /* guess slots per node */
#define PLAN_AHEAD_BYTES ((int64_t)8 << 20) /* a conv's batch accumulators from which it rounds ahead */
#define PLAN_SHARE_BYTES ((int64_t)1 << 20) /* errors of more bytes than this share them (plan.c) */
#define PLAN_TAPS_BYTES ((int64_t)8 << 20) /* activations of more bytes than this: pools keep taps (plan.c) */
#define POOL_TAPS_MAX 127  /* a max pool keeps its taps (int8 ky kw + kx) up to this window area */
#define POOL_TAP_NONE (-128) /* a kept tap that routes nothing: the folded relu's maximum was <= 0 */

/* The largest static memory (parameters + work slab) a model may need. */
#define PLAN_MAX_BYTES ((int64_t)64 << 30)

/* Parameter tensor t's element count and the node that owns it (a weighted
 * node's weights; a norm layer's gamma at its param, beta at param + 1). */
int64_t plan_ptensor(const Model *m, int t, const Node **owner);
/* Plan a checked model's memory. Returns NULL after reporting an error at the
 * model (its memory would pass PLAN_MAX_BYTES). */
Plan *plan_build(Model *m);
int64_t plan_taps_at(const Plan *p, int i); /* work-slab offset of max pool i's taps (pool_taps) */
const char *plan_human(int64_t bytes); /* "1.5 GiB": for messages */

/* -------------------------------------------------------------------- env.c */

/* nitc's developer variables (NITC_GEMM, NITC_AHEAD_BYTES, ...: the table in
 * env.c). env_check warns once about every value that cannot be used, and
 * such a value then reads as unset. */
void env_check(void);
int64_t env_num(const char *name, int64_t dflt); /* a number or switch, else dflt */
const char *env_text(const char *name);          /* a text variable, else NULL */

/* -------------------------------------------------------------------- cg/ */

struct LLVMOpaqueModule;
struct LLVMOpaqueContext;

typedef struct CgTarget {
  const char *triple;   /* normalized LLVM triple */
  const char *cpu;      /* resolved CPU name */
  const char *features; /* resolved feature string */
} CgTarget;

/* Lower the checked model and its plan to an LLVM module defining nit_model. */
struct LLVMOpaqueModule *cg_module(struct LLVMOpaqueContext *ctx, Model *m, Plan *p, const CgTarget *t);
uint64_t cg_fingerprint(const Model *m);
/* A module defining only
 *   void nit_gemm(const int8_t *A, const int8_t *B, int32_t *C, void *scratch)
 * C (M, N) = A (M, K) B (N, K)^T with the kernel the model code would use
 * (packing and row sums included; scratch holds cg_gemm_scratch bytes);
 * ua: A is never negative, and the kernel takes its unsigned form where it
 * has one (Gemm.ua). */
struct LLVMOpaqueModule *cg_gemm_module(struct LLVMOpaqueContext *ctx, const CgTarget *t, int64_t M, int64_t N,
                                        int64_t K, bool ua);

/* ------------------------------------------------------------------ sema.c */

/* Overrides from the command line, applied to the recipe before anything is
 * derived from it (accumulator widths, layout). 0 = keep the file's value. */
typedef struct SemaOverrides {
  int batch;
  int weight_bits;
  int recipe;      /* 1 + NIT_RECIPE_*: replaces the file's recipe, whose
                    * defaults then apply to the settings the file leaves */
  int master_bits; /* 16 or 32 */
  int grad_bits;   /* 2..8: replaces `bits grad=` (recipes with masters) */
} SemaOverrides;

/* Check a program and build its Model. Returns NULL after reporting errors.
 * `ov` may be NULL. A Model that passes is one the back end compiles: every
 * legality check lives in sema*.c. */
Model *sema_check(const Ast *prog, const SemaOverrides *ov);

/* The language's limits (docs/language.md, "Layers"). */
#define SEMA_MAX_DEPTH   256       /* expression nesting */
#define SEMA_MAX_BATCH   65536     /* compiled batch */
#define SEMA_MAX_DIM     (1 << 30) /* any single dimension or layer argument */
#define SEMA_MAX_ELEMS   INT32_MAX /* per-sample elements of any value */
#define SEMA_MAX_WEIGHTS INT32_MAX /* elements of one parameter tensor */
/* The integer softmax cross-entropy is specified for at most this many classes
 * (docs/numerics.md, "Loss gradient": N <= 8191 keeps U = sum u_i < 2^63). */
#define SEMA_MAX_CLASSES 8191
/* Elements of all values of one training step at the compiled batch, and
 * bytes of the parameter slab: far beyond any machine, and small enough that
 * the back end's sums over them (times 8 bytes, times a few buffers) stay
 * exact in int64. */
#define SEMA_MAX_STEP_ELEMS (INT64_C(1) << 40)

/* The checker's state, shared by sema.c, sema_layers.c and sema_train.c and
 * by nothing else. */
typedef struct SemaSym {
  const char *name;
  int node; /* value it names */
  Loc loc;  /* where it was defined */
} SemaSym;

typedef struct Sema {
  Node *nodes;
  int nnodes, cap;
  SemaSym *syms; /* open addressing, power-of-two size */
  int nsyms, symcap;
  int cur; /* current value; -1 before the input, -2 after an error */
  bool have_input, have_output;
  bool no_input_reported;
  Loc input_loc, output_loc;
  int classes;
  Recipe r;
  int ov_recipe;       /* NIT_RECIPE_* from the command line, or -1 */
  const Ast *train;    /* the train block, or NULL */
  const Ast *recipe_w; /* the word of the `recipe` setting, or NULL */
  bool recipe_bad;     /* that word was wrong: no cross-recipe errors */
  bool failed;         /* an error was reported: no Model */
} Sema;

/* Report a user error at loc (through diag) and mark the check failed. */
__attribute__((format(printf, 3, 4))) void sema_error(Sema *s, Loc loc, const char *fmt, ...);
const char *sema_num(int64_t v);                         /* decimal, arena memory */
const char *sema_dec_str(Dec d);                         /* "0.00001", arena memory */
int sema_dec_cmp(Dec a, Dec b);                          /* -1, 0 or 1, exactly */
/* A number word (integer or decimal) as an exact Dec within lo..hi, each end
 * excluded when its *_open is set; false after an error naming `what` (a
 * negative number, more than 9 fraction digits or n >= 10^18 included). */
bool sema_dec(Sema *s, const Ast *w, const char *what, Dec lo, bool lo_open, Dec hi, bool hi_open, Dec *out);
const char *sema_what_is(const Ast *a);                  /* "an integer", "a name", ... */
bool sema_close_to(const char *typed, const char *cand); /* a plausible typo of cand */
/* Append a node (inputs -1, no parameters); returns its index. */
int sema_new_node(Sema *s, OpKind op, Loc loc);

/* ----------------------------------------------------------- sema_layers.c */

typedef struct LayerKind LayerKind; /* one row of the layer table */

/* The row for a layer name, or NULL after reporting an unknown kind (with a
 * "did you mean" or the list of kinds). */
const LayerKind *sema_find_layer(Sema *s, const char *name, Loc loc);
const char *sema_layer_name(const LayerKind *k);
bool sema_layer_has_args(const LayerKind *k);
/* A node of kind k applied to node `input`, its arguments (after the input)
 * bound against the table and its shape inferred; -1 after an error. */
int sema_make_layer(Sema *s, const LayerKind *k, int input, const Ast *args, Loc at);
/* Set n->out, refusing more than SEMA_MAX_ELEMS elements; false after an error. */
bool sema_set_out(Sema *s, Node *n, int64_t c, int64_t h, int64_t w);
/* Name of an op kind as written in the language ("conv", "dense", ...). */
const char *sema_op_name(OpKind op);
/* Initialization rule (docs/language.md): exponent c - 7 and bound for a
 * fan-in. Exposed for tests. */
void sema_init_rule(int64_t fan_in, int *w_exp, int *w_bound);
/* The master rule (docs/recipes.md, "Masters and views"): a master of A bits
 * (16 or 32) starts uniform in [-m_bound, m_bound] at exponent m_exp - 16
 * scaled by 2^16 when A = 32 (m_exp includes that -16). */
void sema_master_rule(int64_t fan_in, int a_bits, int *m_exp, int *m_bound);
/* True when `terms` products of two int8 values can overflow int32. */
bool sema_needs_acc64(int64_t terms);
/* The elements of one normalization group of node n at the compiled batch:
 * batch*H*W for the batch-statistics layers, C*H*W for the per-sample ones. */
int64_t sema_norm_group(const Node *n, int batch);
#define SEMA_MAX_NORM_GROUP (INT64_C(1) << 20) /* keeps the group's sums in int64 */
/* The checks of normalization layers that need the whole file (run after
 * both blocks and the overrides): a recipe with a learning rate, and the
 * group size with the compiled batch; without any, a warning for
 * activations narrower than 6 bits. */
void sema_check_norms(Sema *s);

/* ------------------------------------------------------------ sema_train.c */

/* The recipe of a file without a train block (docs/language.md). */
Recipe sema_default_recipe(void);
/* Apply the defaults of r->kind to a default recipe (docs/language.md, "The
 * train block"): nothing for niti; ghaffari's rounding, loss and decay. */
void sema_recipe_defaults(Recipe *r);
/* Check a train block's settings into s->r. Rounding modes are the words
 * of nit_round_names (runtime/nitabi.h), shared with the runtime. */
void sema_train(Sema *s, const Ast *train);

/* ------------------------------------------------------------------ main.c */

typedef enum {
  EMIT_CHECK,  /* --check: front end only */
  EMIT_SHAPES, /* --emit shapes: the checked model as a table */
  EMIT_LLVM,   /* --emit llvm: textual IR */
  EMIT_ASM,
  EMIT_OBJ,
  EMIT_EXE, /* default */
} EmitKind;

typedef struct Options {
  const char *input;  /* the .nit file */
  const char *output; /* -o; default: model name (exe), or NAME.ll/.s/.o */
  EmitKind emit;
  int opt_level;           /* -O0..-O3, default 2 */
  const char *target;      /* --target triple, NULL = host */
  const char *cpu;         /* --cpu, NULL = host cpu for host target, generic otherwise;
                          * "help" lists the target's CPUs and features */
  const char *features;    /* --features "+a,-b", NULL = none/host */
  int batch;               /* --batch: compiled maximum batch, 0 = recipe's */
  int weight_bits;         /* --weight-bits A, 0 = recipe's */
  int recipe;              /* --recipe: 1 + NIT_RECIPE_*, 0 = the file's */
  int master_bits;         /* --master-bits 16|32, 0 = recipe's */
  int grad_bits;           /* --grad-bits 2..8, 0 = recipe's */
  const char *runtime_dir; /* --runtime-dir: where libnitrt-<triple>.a lives */
  bool mpi;                /* --mpi: link libnitrt_mpi-<triple>.a and MPI (host only) */
  int64_t gemm[3];         /* --gemm-kernel M,N,K; 0 = compile a model */
  bool gemm_ua;            /* --gemm-kernel M,N,K,u: A never negative (Gemm.ua) */
  int jobs;                /* --jobs: code generation units of an executable, 0 = cores online */
  bool time_report;        /* --time-report: phase times on stderr (timing.c) */
  bool keep_tensors;       /* --keep-tensors: Model.keep_tensors */
} Options;

/* ------------------------------------------------------------------ emit.c */

/* Plan, generate, optimize and write the requested output for a checked model
 * (or, m NULL, the --gemm-kernel module).
 * Returns 0 on success, 1 after reporting a user error (diag_), never exits. */
int emit_program(Model *m, const Options *opt);
/* --cpu help: print the CPUs and features LLVM knows for the target on
 * stdout. Returns 0, or 1 after reporting an unknown target. */
int emit_list_cpus(const Options *opt);

/* ---------------------------------------------------------------- timing.c */

/* --time-report: a compile's phases with their wall and CPU time, on stderr.
 * timing_start turns the report on (main.c); timing_mark ends the current
 * phase under `phase` (a string that outlives the report); each code
 * generation unit records its own times from its thread (timing_unit);
 * timing_print writes the table. All are no-ops while the report is off. */
enum { TIMING_WALL, TIMING_THREAD_CPU };
int64_t timing_clock(int clock); /* microseconds: TIMING_WALL, or this thread's CPU */
void timing_start(void);
bool timing_on(void);
void timing_mark(const char *phase);
void timing_unit(int u, int64_t opt_us, int64_t cg_us, int64_t cpu_us);
void timing_print(void);

/* ---------------------------------------------------------------- passes.c */

/* The passes to run on the whole module at -O`level` for architecture
 * `arch` (a triple's first part), written into mod: mergefunc and LLVM's
 * default<On>. With `cut`, and where LLVM's pipeline has the cut, only its
 * whole-module part; then unit gets what each code generation unit runs on
 * its own functions afterwards, and the result is true. */
bool passes_module(const char *arch, int level, bool cut, char *mod, size_t mcap, char *unit, size_t ucap);

/* ----------------------------------------------------------------- units.c */

#define UNITS_MAX         16 /* code generation units (threads) at most */
#define UNITS_DEFAULT_MAX 4  /* by default: the cores online, at most this many */

/* Generate the module's code (its whole-module passes run) as n objects
 * (objs[u], in parallel, tms[u] each thread's own target machine) that link
 * together into what the module alone would give; each unit first runs the
 * passes `passes` (NULL: none) on its own functions. Promotes the module's internal symbols to
 * hidden "nitc."-prefixed ones. Returns 0, or -1 with *err (malloc'd) saying
 * why. */
struct LLVMOpaqueModule;
struct LLVMOpaqueTargetMachine;
int units_emit(struct LLVMOpaqueModule *mod, struct LLVMOpaqueTargetMachine **tms, int n, const char *const *objs,
               const char *passes, char **err);

/* ------------------------------------------------------------------ plot.c */

/* `nitc plot LOG.jsonl... -o FILE.svg|FILE.png [options]`; argv[0] is "plot".
 * Draws the logs' curves with gnuplot. Returns the exit status: 0, or 1
 * after reporting a user error (bad log, output, missing gnuplot). */
int plot_main(int argc, char **argv);

#endif
