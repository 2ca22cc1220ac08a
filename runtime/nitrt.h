/*
 * nitrt.h: the runtime's one internal header. The runtime is everything in a
 * training executable that is not generated: the command line, data loaders,
 * the epoch loop, checkpoints, progress and logs. The training arithmetic
 * lives in the generated `nit_model` (nitabi.h), except the kernels it calls
 * for the normalization layers and recipe unified's error sites (norm.c,
 * clip.c, below).
 *
 * Sections, one per .c file, each module using only those above it:
 *
 *   s31.c         S31 scalars, Q30 tables, learning-rate schedules, the
 *                 scalar helpers of generated code (s31.h; its own library)
 *   norm.c,       kernels generated code calls (nitabi.h; in the s31 library):
 *   clip.c        the normalization layers; recipe unified's error sites
 *   util.c        messages, checked allocation and file I/O, clocks
 *   pooltimes.c   per-body chunk times of the pool (NITRT_POOL_TIMES)
 *   threads.c     the worker pool behind NitCtx.parallel_for
 *   mpi.c         the ranks of data-parallel training: MPI, or one rank
 *   fixed.c       fixed-point loss and softmax for logging, integer formatting
 *   recipe.c      the effective training recipe: defaults, schedules, rules
 *   cli.c         the command line: flags -> Options, usage text
 *   data.c        shared data checks, format detection, shuffling
 *   data_idx.c    idx (MNIST layout) and raw 8-bit samples
 *   data_cifar.c  CIFAR-10 binary batches
 *   data_csv.c    CSV text
 *   ckpt.c        the checkpoint format: bytes, CRC-32, field validation
 *   ckpt_file.c   checkpoint files: atomic saves, stale temp files, loading
 *   run.c         slabs, batch buffers and call context; the evaluation pass
 *   train.c       parameter init and the epoch loop (`train`)
 *   infer.c       `eval` and `predict`
 *   report.c      progress bar, per-epoch lines, JSON lines, `info`
 *   inspect.c     `inspect CKPT`: what a checkpoint holds
 *   main.c        nitrt_main (dispatch to a command) and main(), alone so
 *                 tests can link the library with their own main
 *
 * No floating point anywhere: every number the runtime computes or prints is
 * an integer or fixed point. Library functions report a user error with one
 * line on stderr and return -1; they never exit().
 */
#ifndef NITRT_H
#define NITRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nitabi.h"
#include "s31.h"

#define NITRT_VERSION "0.1.0"

/* ------------------------------------------------------------------ util.c */

extern const char *nitrt_prog; /* program name used as message prefix */
extern bool nitrt_silent;      /* true: messages are dropped (fuzz targets) */
/* > 0 in rank r > 0 of several (mpi.c sets it): warnings are dropped and
 * the first error is held, not printed, until nitrt_msg_release prints it
 * as "prog: error: rank r: ..." (print true) or drops it. */
extern int32_t nitrt_msg_rank;
void nitrt_msg_release(bool print);

#if defined(__GNUC__)
#define NITRT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NITRT_PRINTF(a, b)
#endif

void nitrt_error(const char *fmt, ...) NITRT_PRINTF(1, 2); /* "prog: error: ..." */
void nitrt_warn(const char *fmt, ...) NITRT_PRINTF(1, 2);  /* "prog: warning: ..." */
void *nitrt_alloc(size_t bytes);                           /* zeroed; NULL after an error message */
void *nitrt_alloc_aligned(size_t bytes);                   /* page-aligned, zeroed, resident once touched */
void nitrt_free_aligned(void *p, size_t bytes);
/* Files the runtime reads must be regular files: a directory, FIFO, device
 * or socket is refused with a message naming `path` and saying what was
 * expected (`what`: "data file", "checkpoint", ...), and nothing ever blocks
 * on open. */
int nitrt_check_regular(const char *path, const char *what);
/* NULL when `path` is missing or a regular file, else what it is ("a FIFO"). */
const char *nitrt_nonregular(const char *path);
/* Open for reading (checked as above): fd and st_size, or -1 after a message. */
int nitrt_open_regular(const char *path, const char *what, int64_t *size);
void nitrt_close(int fd);
/* realpath(path) into out (cap bytes); path itself when it cannot be
 * resolved; "" when too long. */
void nitrt_abspath(const char *path, char *out, size_t cap);
/* Whole file into memory, NUL-terminated one byte past len. 0 on success;
 * -1 after an error naming the file. */
int nitrt_read_file(const char *path, const char *what, uint8_t **buf, size_t *len);
/* n bytes at offset off of fd (path for messages): 0, or -1 after a message. */
int nitrt_pread_all(int fd, const char *path, int64_t off, uint8_t *dst, size_t n);
/* Open the --log file (append or truncate) without blocking on a FIFO that
 * has no reader; NULL after a message. */
FILE *nitrt_open_log(const char *path, bool append);
bool nitrt_exists(const char *path);
int64_t nitrt_now_ns(void); /* monotonic clock */
/* s as a JSON string, quotes included: ", \ and control bytes escaped,
 * bytes that are not valid UTF-8 written as \ufffd. */
void nitrt_json_str(FILE *f, const char *s);
/* Text from a file (a CSV field, a checkpoint's path or name) may hold
 * control bytes or C1 controls (U+0080..U+009F as UTF-8) that would drive
 * a terminal: each becomes '?' in place, as in the compiler's source lines.
 * Every runtime message passes through it. */
void nitrt_defang(char *s);
/* Columns of the terminal on fd: TIOCGWINSZ, else $COLUMNS, else 80. */
int nitrt_term_cols(int fd);
/* Edit distance (with adjacent transpositions) of the first 32 bytes of a
 * and b, for "did you mean". */
int nitrt_edit_distance(const char *a, const char *b);
/* Whether `typed` is a plausible typo of `cand`: none for 1-2 characters,
 * then a distance of 1, 2 or 3 as names grow (as nitc's diagnostics). */
bool nitrt_close_to(const char *typed, const char *cand);

/* ------------------------------------------------------------- pooltimes.c */

/* Per-body chunk times of the pool, for performance work: NULL unless
 * NITRT_POOL_TIMES names a file, which nitrt_pool_times_close fills with
 * one line per executor and body, a body named by its address less `base`
 * (bench/pool_times.sh reads it), then frees the table (a warning if the
 * file could not be written; NULL: nothing). Each executor adds only to
 * its own table. */
typedef struct PoolTimes PoolTimes;
PoolTimes *nitrt_pool_times_new(int32_t executors, uintptr_t base);
void nitrt_pool_times_add(PoolTimes *pt, int32_t executor, uintptr_t body, int64_t items, int64_t ns);
/* One parallel call as the caller saw it: the serial time since the call
 * before returned, the call's span, and the part of the span spent waiting
 * for other executors' chunks after its own (the caller's thread only). */
void nitrt_pool_times_region(PoolTimes *pt, uintptr_t body, int64_t serial_ns, int64_t span_ns, int64_t join_ns);
void nitrt_pool_times_close(PoolTimes *pt);

/* --------------------------------------------------------------- threads.c */

/* The worker pool behind NitCtx.parallel_for (nitabi.h). */
typedef struct NitPool NitPool;
int32_t nitrt_cores_online(void);         /* online cores, 1..1024 */
int32_t nitrt_cores_allowed(void);        /* cores this process's affinity allows, 0: unknown */
int32_t nitrt_threads_default(void);      /* online cores this process may run on */
NitPool *nitrt_pool_new(int32_t threads); /* threads < 1: all cores; NULL after an error */
void nitrt_pool_free(NitPool *p);
int32_t nitrt_pool_threads(const NitPool *p);
/* Runs body over [0, count) in at most NITRT_POOL_CHUNKS chunks (the pool
 * keeps a cache line of state per chunk; PLAN_MAX_WORKERS of the compiler
 * is no larger); returns how many ran, each with its own worker index below
 * that. */
#define NITRT_POOL_CHUNKS 16
int32_t nitrt_parallel_for(void *pool, void (*body)(void *env, int64_t lo, int64_t hi, int32_t worker), void *env,
                           int64_t count, int32_t max_workers);
/* Idle work: unit(env, i) for i < n, run by the pool's threads while they
 * wait for jobs, and by nitrt_pool_idle_finish (the caller, which returns
 * when every unit has run). Setting finishes the loop before. */
void nitrt_pool_idle_set(NitPool *p, void (*unit)(void *env, int64_t i), void *env, int64_t n);
void nitrt_pool_idle_finish(NitPool *p);

/* ------------------------------------------------------------------- mpi.c */

/* The ranks of data-parallel training (docs/scaleout.md). Built with
 * NITRT_MPI (libnitrt_mpi, `nitc --mpi`) under a launcher such as mpirun,
 * MPI's; otherwise one rank, whose collectives do nothing. The collectives
 * must be called by every rank in the same order. */
int nitrt_mpi_init(int *argc, char ***argv); /* 0, or -1 after a message */
void nitrt_mpi_finalize(void);
bool nitrt_mpi_linked(void);             /* built with MPI */
int32_t nitrt_mpi_rank(void);            /* 0 .. size-1 */
int32_t nitrt_mpi_size(void);            /* ranks; 1 without MPI */
int32_t nitrt_mpi_node_size(void);       /* ranks on this node */
int32_t nitrt_mpi_threads_default(void); /* online cores / ranks on this node, at least 1 */
/* The MPI library's name and version ("Open MPI v4.1.4"); "" without MPI. */
void nitrt_mpi_library(char *buf, size_t cap);
/* This rank's slice [lo, hi) of a global batch of n samples: [n r / N, n (r+1) / N). */
void nitrt_mpi_slice(int64_t n, int64_t *lo, int64_t *hi);
/* A call's context for a slice at row0 of a global batch of gn samples:
 * gn, row0 and, with several ranks, the step's collectives. */
void nitrt_mpi_shard(NitCtx *c, int64_t gn, int64_t row0);
/* "All ok": true when ok on every rank. Collective; after a phase that can
 * fail on one rank. On false the first failing rank has told its error. */
bool nitrt_mpi_ok(bool ok);
/* After a local failure: the "all ok" the other ranks are waiting in (none
 * when a failure was already agreed). */
void nitrt_mpi_fail(void);
void nitrt_mpi_sum(int64_t *v, int64_t count); /* exact sum over ranks, in place */
int32_t nitrt_mpi_max(int32_t v);              /* max over ranks */
/* same[j]: whether v[j] is the same on every rank (count <= 8). */
void nitrt_mpi_same(const uint64_t *v, int32_t count, bool *same);

/* ----------------------------------------------------------------- fixed.c */

/* Loss values are Q24 fixed point nats (1.0 == 1 << 24). */
#define NITRT_Q 24

/* Cross-entropy ln(sum_j exp(z_j)) - z_y of one sample, z_j = logit_j * 2^exp,
 * in Q24 nats. Integer only: base-2 exponentials from a table, log2 bit by bit. */
int64_t nitrt_xent_q24(const int8_t *logits, int32_t classes, int32_t exp, int32_t y);
/* 2^(-d) in Q30 for d >= 0 in Q24 (the factors of the loss's sum). */
int64_t nitrt_exp2_neg_q30(int64_t d);
/* softmax probability of class c in hundredths of a percent (0..10000). */
int32_t nitrt_softmax_bp(const int8_t *logits, int32_t classes, int32_t exp, int32_t c);
/* index of the largest logit; the first maximum wins. */
int32_t nitrt_argmax(const int8_t *logits, int32_t classes);
/* Integer formatting: value/10^digits with `digits` decimals, e.g. (2315, 4) ->
 * "0.2315". buf needs 32 bytes. Returns buf. */
char *nitrt_fmt_dec(char *buf, int64_t value, int digits);
/* round(num * 10^digits / den), half up, for non-negative num, positive den. */
int64_t nitrt_ratio(int64_t num, int64_t den, int digits);
/* Q24 -> units of 10^-digits, rounded half up (value >= 0). */
int64_t nitrt_q24_dec(int64_t q24, int digits);

/* ---------------------------------------------------------------- recipe.c */

/* Update bits m_u accepted anywhere (flags, checkpoints). */
#define NITRT_MU_MIN     NIT_MU_MIN /* nitabi.h owns the range */
#define NITRT_MU_MAX     NIT_MU_MAX
#define NITRT_BATCH_MAX  (1 << 20) /* largest --batch */
#define NITRT_EPOCHS_MAX 1000000   /* largest --epochs */

/* The effective training recipe: the model's NitRecipe with command-line and
 * checkpoint overrides applied. Stored in checkpoints. */
typedef struct RunRecipe {
  int32_t batch;
  int32_t epochs; /* total epochs of the run */
  uint64_t seed;
  int32_t act_round, err_round, grad_round;
  int32_t nsched;
  int32_t mu[NIT_MAX_SCHED];
  int32_t mu_from[NIT_MAX_SCHED]; /* 1-based epoch; mu_from[0] == 1 */
  int32_t decay;
  int32_t holdout; /* last N training samples are validation */
  int64_t limit;   /* use only the first N training samples, 0 = all */
  /* Recipes with masters (kind != NIT_RECIPE_NITI); all zero under niti. */
  int32_t kind;         /* NIT_RECIPE_* */
  int32_t master_bits;  /* A: 16 or 32 */
  int32_t view_round;   /* NIT_ROUND_* of the views */
  int32_t update_round; /* NIT_ROUND_* of momentum and master updates */
  int32_t loss_table;   /* 1: table softmax loss */
  NitLrSchedule lr;     /* eta(t); cosine period resolved (>= 1) */
  uint64_t momentum_n;  /* SGD momentum, decimal momentum_n / 10^momentum_f */
  int32_t momentum_f;
  uint64_t wdecay_n; /* coupled weight decay, decimal */
  int32_t wdecay_f;
} RunRecipe;

/* Exact decimals of the recipe: n < 10^18, at most 9 fraction digits. */
#define NITRT_DEC_N_MAX 999999999999999999ull
#define NITRT_DEC_F_MAX 9
/* Largest learning rate (docs/recipes.md: eta is at most 1000). */
#define NITRT_LR_MAX 1000

/* Recipe of the compiled model as a RunRecipe. */
void nitrt_model_recipe(const NitModel *m, RunRecipe *r);
/* Parse a decimal "0.05", "5e-2" is not accepted: digits with an optional
 * point and at most NITRT_DEC_F_MAX fraction digits, n <= NITRT_DEC_N_MAX,
 * into n / 10^f. 0 or -1 after a message naming --flag. */
int nitrt_parse_decimal(const char *flag, const char *s, uint64_t *n, int32_t *f);
/* A decimal n / 10^f as text ("0.05"; "0" for n = 0) into buf (32 bytes). */
char *nitrt_fmt_decimal(char *buf, uint64_t n, int32_t f);
/* Compare decimals by value: <0, 0, >0. */
int nitrt_decimal_cmp(uint64_t an, int32_t af, uint64_t bn, int32_t bf);
/* The recipe's rules (ranges of every field, the settings of recipes with
 * masters). 0, or -1 after one message "<where>: <field> is ..., expected
 * ..." (where: a checkpoint's name, or the model's). */
int nitrt_recipe_check(const char *where, const RunRecipe *r);
/* The first setting of recipes with masters in which a and b differ (its
 * name, e.g. "the learning-rate schedule"), or NULL when they agree. */
const char *nitrt_recipe_diff(const RunRecipe *a, const RunRecipe *b);
/* Hash of the settings of a recipe with masters (kind, master bits,
 * roundings, schedule, momentum, decay): checkpoints record it. */
uint64_t nitrt_recipe_hash(const RunRecipe *r);
/* eta of a step: the 1-based epoch, the 0-based global step, the steps per
 * epoch. Zero under niti. */
NitS31 nitrt_recipe_lr(const RunRecipe *r, int32_t epoch, uint64_t step, int64_t steps_per_epoch);

/* Parse an update-bits schedule "3" or "3,2@5" into r. 0 or -1 (message). */
int nitrt_parse_sched(const char *s, RunRecipe *r);
/* The update bits m_u for a 1-based epoch. */
int32_t nitrt_mu_for_epoch(const RunRecipe *r, int32_t epoch);
const char *nitrt_round_name(int32_t mode);

/* ------------------------------------------------------------------- cli.c */

enum { CMD_NONE, CMD_TRAIN, CMD_EVAL, CMD_INFO, CMD_PREDICT, CMD_HELP, CMD_VERSION, CMD_INSPECT, CMD_EXPORT };

/* Bits of Options.set: which flags the user gave explicitly. */
enum {
  SET_DATA = 1 << 0,
  SET_EPOCHS = 1 << 1,
  SET_BATCH = 1 << 2,
  SET_SEED = 1 << 3,
  SET_ACT = 1 << 4,
  SET_ERR = 1 << 5,
  SET_GRAD = 1 << 6,
  SET_SCHED = 1 << 7,
  SET_DECAY = 1 << 8,
  SET_HOLDOUT = 1 << 9,
  SET_LIMIT = 1 << 10,
  SET_TEST_LIMIT = 1 << 11,
  SET_INDEX = 1 << 12,
  SET_COUNT = 1 << 13,
  SET_LR = 1 << 14,       /* --lr D (recipes with masters) */
  SET_MOMENTUM = 1 << 15, /* --momentum D */
  SET_WDECAY = 1 << 16,   /* --decay D */
};

typedef struct Options {
  int cmd;              /* CMD_* */
  unsigned set;         /* SET_* bits of flags given explicitly */
  RunRecipe r;          /* values of recipe flags (valid where set) */
  const char *data;     /* --data DIR */
  const char *save;     /* --save CKPT */
  const char *save_init; /* --save-init CKPT: the state before the first step */
  const char *resume;   /* --resume CKPT */
  const char *load;     /* --load CKPT (eval, predict) */
  const char *log;      /* --log FILE.jsonl */
  const char *idx;      /* predict --idx FILE */
  const char *raw;      /* predict --raw FILE */
  const char *csv;      /* predict --csv FILE */
  bool per_sample;      /* eval/predict --per-sample: forward with n = 1 */
  bool logits;          /* predict --logits: every logit instead of the score */
  const char *out;      /* export -o/--out DIR */
  int64_t verify;       /* export --verify N: check samples (default 64) */
  int64_t test_limit;   /* --test-limit N, 0 = all */
  int64_t index, count; /* predict --index I, --count N */
  int32_t threads;      /* --threads T (accepted; no effect yet) */
  bool quiet;           /* --quiet */
  bool per_class;       /* eval --per-class: per-class accuracy, confusion matrix */
  bool json;            /* eval --json: one JSON object on stdout */
  const char *save_best; /* train --save-best CKPT: the epoch of best val/test accuracy */
  int64_t save_every;   /* train --save-every N: --save's checkpoint every N steps inside epochs (0: none) */
  int64_t max_steps;    /* train --max-steps N: stop after global step N, saving --save there (0: none) */
  int64_t progress_ns;  /* train --progress S: plain progress lines every S s off a terminal (0: none) */
  int64_t telemetry;    /* train --telemetry N: per-layer counts of every N-th step (0: none) */
  int argc;             /* the command line, for the log's run record */
  char **argv;
} Options;

/* Parse argv into *o. 0 on success; -1 after one error line. */
int nitrt_parse_args(int argc, char **argv, Options *o);
/* The usage text of `help`. */
void nitrt_usage(FILE *f);

/* ---------------------------------------- data.c, data_idx/cifar/csv/gz.c */

/* Data formats, as recorded in checkpoints (NONE: not recorded). */
enum { NITRT_FMT_NONE = 0, NITRT_FMT_IDX = 1, NITRT_FMT_CIFAR = 2, NITRT_FMT_CSV = 3, NITRT_FMT_RAW = 4 };
const char *nitrt_format_name(int32_t format);

/* How features became int8 (docs/runtime.md, "Quantization"):
 *   PIXELS   8-bit values p: x = p >> 1 (idx, CIFAR-10, raw)
 *   COLUMNS  CSV: feature j is x_j = round(v_j * 2^-shift_j), half away from
 *            zero, saturated to +-127; shift_j is the smallest with
 *            max|v_j| * 2^-shift_j <= 127 over the training set.
 * Either way the model sees x at exponent NITRT_IN_EXP. */
enum { NITRT_QUANT_PIXELS = 0, NITRT_QUANT_COLUMNS = 1 };
#define NITRT_IN_EXP    (-7)
#define NITRT_SHIFT_MIN (-40)
#define NITRT_SHIFT_MAX 62

typedef struct InputQuant {
  int32_t kind;   /* NITRT_QUANT_* */
  int32_t in_exp; /* exponent of x: NITRT_IN_EXP */
  int64_t ncols;  /* COLUMNS: C*H*W; PIXELS: 0 */
  int8_t *shift;  /* COLUMNS: (ncols), owned; PIXELS: NULL */
} InputQuant;

void nitrt_quant_pixels(InputQuant *q);
/* Deep copy; 0 or -1 (out of memory, message). */
int nitrt_quant_copy(InputQuant *dst, const InputQuant *src);
void nitrt_quant_free(InputQuant *q);
/* 0 when 8-bit pixel data (format) may be quantized by q; else -1 after a
 * message naming `path` (a model trained on per-column CSV scaling). */
int nitrt_quant_want_pixels(const char *path, int32_t format, const InputQuant *q);

/* The identity of one split (training or test) of a data set. */
typedef struct DataPrint {
  int32_t format; /* NITRT_FMT_*; NONE: unknown */
  int64_t n;      /* samples in the files, before any limit */
  uint64_t hash;  /* nitrt_hash64 of the files' bytes, in order */
} DataPrint;

/* The little-endian 64-bit value at p (file formats: checkpoints, the data
 * hash's words), written out so that compilers make it one load on a
 * little-endian host. */
static inline uint64_t nitrt_le64(const uint8_t *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
         (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* Content hash, chainable over several buffers: h = nitrt_hash64(h, p, n)
 * starting from h = 0. 64-bit words through nit_mix64; not cryptographic.
 * The same hash in parts: begin with the whole length, words over chunks
 * (all but the last a multiple of 8 bytes), then nit_mix64. */
uint64_t nitrt_hash64(uint64_t h, const uint8_t *p, size_t n);
uint64_t nitrt_hash64_begin(uint64_t h, size_t n);
uint64_t nitrt_hash64_words(uint64_t h, const uint8_t *p, size_t n);

/* A data file being loaded: its bytes in memory (the fuzz targets' parse
 * functions, and a .gz file inflated whole) or an open regular file read a
 * chunk at a time, so that a loader holds the samples it keeps and never
 * the whole file. All go through the same format code. */
typedef struct DataSrc {
  const char *name;   /* for messages */
  const uint8_t *mem; /* the bytes, or NULL: read from fd */
  int fd;             /* -1 for memory */
  int64_t len;        /* bytes (the file's size when opened) */
  uint8_t *owned;     /* a .gz file's inflated bytes (mem), freed on close */
} DataSrc;
int nitrt_src_file(DataSrc *s, const char *path, const char *what); /* 0, or -1 after a message */
DataSrc nitrt_src_mem(const char *name, const uint8_t *b, size_t len);
void nitrt_src_close(DataSrc *s);
/* n bytes at off (off + n <= len): 0, or -1 after a message (a file that
 * shrank, a read error). */
int nitrt_src_read(const DataSrc *s, int64_t off, uint8_t *dst, size_t n);
/* Every byte of s in order, in chunks of whole units (each chunk starts at
 * a multiple of unit bytes), through each(env, off, p, n), which returns 0
 * or -1 after a message; *hash chained over the bytes as nitrt_hash64
 * would. Returns 0, or -1 (each's, or a read's). */
typedef int (*SrcChunk)(void *env, int64_t off, const uint8_t *p, size_t n);
int nitrt_src_scan(const DataSrc *s, int64_t unit, uint64_t *hash, SrcChunk each, void *env);
bool nitrt_print_same(const DataPrint *a, const DataPrint *b);
/* "idx, 60000 samples, content 0x0123456789abcdef" into buf (96 bytes). */
char *nitrt_print_desc(char *buf, const DataPrint *p);

/* data_gz.c: gzip-compressed files (name ending in ".gz"), inflated whole
 * into memory with zlib (only in a runtime built with NITRT_ZLIB; others
 * refuse them with a message). At most NITRT_GZ_MAX inflated bytes. */
#define NITRT_GZ_MAX ((int64_t)1 << 32)
bool nitrt_gz_name(const char *path);
/* in[0 .. inlen) inflated into a new buffer *out of *outlen bytes plus a NUL;
 * 0, or -1 after a message naming `name` (and an offset where it helps). */
int nitrt_gunzip_mem(const char *name, const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen);
/* nitrt_read_file, inflating a .gz file. */
int nitrt_read_data(const char *path, const char *what, uint8_t **buf, size_t *len);

/* A data set held in memory, already quantized to int8. */
typedef struct Dataset {
  int64_t n;       /* samples kept (after any limit) */
  int32_t c, h, w; /* per-sample shape */
  InputQuant q;    /* how x was quantized; x is at q.in_exp */
  DataPrint print; /* what was read */
  int8_t *x;       /* (n, c, h, w) */
  int32_t *y;      /* (n); NULL for unlabelled (predict) */
} Dataset;

void nitrt_data_free(Dataset *d);
/* C*H*W of the model's input. */
int64_t nitrt_model_dim(const NitModel *m);
/* 1 when no byte of x[0, count) is negative (NitCtx.x_nonneg: the generated
 * GEMMs then read x as unsigned bytes; pixels always are), else 0. */
int32_t nitrt_data_nonneg(const int8_t *x, int64_t count);
/* 0 when (c, h, w) is the model's input shape, or the model's input is a
 * vector of c * h * w values, else -1 naming `path`. */
int nitrt_check_shape(const char *path, int32_t c, int32_t h, int32_t w, const NitModel *m);
/* 0 when every label is in [0, classes), else -1 naming `path` and the sample. */
int nitrt_check_labels(const char *path, const int32_t *y, int64_t n, const NitModel *m);

/* Load DIR's training and test sets (idx, CIFAR-10 binary, or CSV, chosen by
 * which files exist), validated against the model. limit/test_limit: keep
 * only the first N samples (0 = all). Either of train/test may be NULL.
 * q: the quantization to apply (a checkpoint's), or NULL to derive it from
 * the training set (CSV) or use pixels; a CSV test set without a training
 * set needs q. */
int nitrt_load_dir(const char *dir, const NitModel *m, int64_t limit, int64_t test_limit, const InputQuant *q,
                   Dataset *train, Dataset *test);

/* Loaders of one format. The *_parse functions take the file's bytes (the
 * fuzz targets call them directly) and `name` only for messages; the
 * nitrt_load_* functions read the files and call them. Each returns 0, or
 * -1 after one message naming the file, with *d zeroed. */

/* idx pair: images (N, H, W) or (N, C, H, W) ubyte, labels (N) ubyte. The
 * labels may be absent (lb NULL, labels NULL): unlabelled images for predict. */
int nitrt_idx_parse(const char *images, const uint8_t *ib, size_t il, const char *labels, const uint8_t *lb, size_t ll,
                    const NitModel *m, int64_t limit, Dataset *d);
int nitrt_load_idx(const char *images, const char *labels, const NitModel *m, int64_t limit, Dataset *d);
/* CIFAR-10 binary: records of 1 label byte + C*H*W pixel bytes. */
int nitrt_cifar_parse(const char *name, const uint8_t *b, size_t len, const NitModel *m, int64_t limit, Dataset *d);
int nitrt_load_cifar(const char *const *files, int nfiles, const NitModel *m, int64_t limit, Dataset *d);
/* CSV text: a label then C*H*W features per row. need_labels false
 * (predict): rows hold either the features alone or a label and the
 * features, and no labels are kept. q NULL: derive per-column shifts from
 * these rows (a training set; constant columns are reported); else apply q. */
int nitrt_csv_parse(const char *name, const uint8_t *b, size_t len, const NitModel *m, int64_t limit, bool need_labels,
                    const InputQuant *q, Dataset *d);
int nitrt_load_csv(const char *path, const NitModel *m, int64_t limit, bool need_labels, const InputQuant *q,
                   Dataset *d);
/* Raw file of unlabelled 8-bit samples of the model's input size. */
int nitrt_load_raw(const char *path, const NitModel *m, Dataset *d);
/* perm[0..n) = the data order of `epoch` (1-based) for `seed`: Fisher-Yates
 * over the identity, j = nit_draw(nit_key(seed, epoch, NIT_TID_SHUFFLE), i) % (i+1). */
void nitrt_shuffle(uint32_t *perm, int64_t n, uint64_t seed, uint64_t epoch);

/* ------------------------------------------------------------------ ckpt.c */

#define NITRT_CKPT_VERSION 3    /* written for recipes with masters; niti models write 2 */
#define NITRT_PATH_MAX     4095 /* longest data directory recorded */

typedef struct Ckpt {
  uint32_t version; /* load: the file's format version (1, 2 or 3) */
  uint32_t abi;
  uint64_t fingerprint;
  char name[65];          /* model name, for messages */
  uint32_t epoch;         /* epochs completed */
  uint64_t step;          /* global step: train_step calls so far */
  RunRecipe r;            /* effective recipe of the run */
  uint64_t shuffle_seed;  /* data-order state: next epoch's order is */
  uint32_t shuffle_epoch; /*   nitrt_shuffle(seed, epoch)            */
  int64_t ntrain;         /* training samples used (after limit) */
  int64_t param_bytes;
  const uint8_t *params; /* save: the slab; load: filled into slab */
  /* The data, recorded since format 2 (format 1: unknown, version < 2). */
  InputQuant q;                  /* the training inputs' quantization (load: owned) */
  DataPrint train, test;         /* identity of the training and test sets */
  char data[NITRT_PATH_MAX + 1]; /* data directory, absolute when resolvable; "" unknown */
  /* Inside an epoch (train --save-every, --max-steps): pos steps of epoch `epoch + 1`
   * are done (1..its steps; the last: trained, not yet evaluated). 0: at
   * the end of epoch `epoch`. Recorded after the data directory, flagged at
   * offset 244. */
  uint64_t pos;
  int64_t pos_correct;  /* the epoch's training predictions right so far */
  int64_t pos_loss_q24; /* the epoch's summed training loss so far, Q24 */
} Ckpt;
#define NITRT_CKPT_POS_BYTES 24 /* the epoch position: pos, correct, loss */

/* Bytes of the serialized checkpoint. */
int64_t nitrt_ckpt_size(const NitModel *m, const Ckpt *c);
/* The checkpoint's bytes (format NITRT_CKPT_VERSION); NULL when out of memory. */
uint8_t *nitrt_ckpt_serialize(const NitModel *m, const Ckpt *c, size_t *len);
/* Parse and validate the bytes of a checkpoint named `name`: magic, version,
 * size, checksum, abi, fingerprint, then every field against its legal
 * range. Copies the parameters into `params` (param_bytes) only when all is
 * well. 0, or -1 after one message naming `name`. Free with nitrt_ckpt_free. */
int nitrt_ckpt_parse(const char *name, const uint8_t *b, size_t len, const NitModel *m, Ckpt *c, void *params);
void nitrt_ckpt_free(Ckpt *c);
uint32_t nitrt_crc32(const uint8_t *p, size_t n);

/* Where the parts of a checkpoint lie, for `inspect`. */
typedef struct CkptLayout {
  int64_t header;  /* bytes before the parameters */
  int64_t nparams; /* parameter tensors (offset 240) */
  int64_t records; /* format 3: offset of the tensor records (32 bytes each), else 0 */
  int32_t c, h, w; /* format 2 and later: the input shape recorded */
  uint32_t crc;    /* the stored CRC-32 (it matched) */
} CkptLayout;
#define NITRT_CKPT_TENSORS_MAX (1 << 20) /* most tensor records a format-3 file may claim */
/* Read a checkpoint without a model: magic, version, size, CRC and that
 * its parts add up to its size are checked (-1 after one message naming
 * `name`); the fields are then filled as recorded, NOT checked against any
 * model or range (nitrt_ckpt_parse does that). c->params points into b.
 * Free with nitrt_ckpt_free. */
int nitrt_ckpt_peek(const char *name, const uint8_t *b, size_t len, Ckpt *c, CkptLayout *l);

/* ------------------------------------------------------------- ckpt_file.c */

/* Atomically write: temp file <path>.tmpXXXXXX in the same directory (held
 * under an flock while written), fsync, rename, fsync of the directory. On
 * failure the temp file is removed, `path` untouched. Temp files of dead
 * writers (a save killed with SIGKILL) are removed first. */
int nitrt_ckpt_save(const char *path, const NitModel *m, const Ckpt *c);
/* Read (a regular file only) and nitrt_ckpt_parse. */
int nitrt_ckpt_load(const char *path, const NitModel *m, Ckpt *c, void *params);
/* Fail early (before training) when `path` could not be written later. */
int nitrt_check_writable(const char *path);
/* Remove <path>.tmpXXXXXX files no live writer holds; returns how many. */
int nitrt_ckpt_clean_stale(const char *path);

/* ------------------------------------------------------------------- run.c */

/* A training step's scores, computed while the next step runs
 * (nitrt_score_later). */
typedef struct ScoreLater {
  int8_t *logits;   /* (batch, classes) the step's logits, copied */
  int32_t *y;       /* (batch) its labels */
  uint8_t *correct; /* (batch) 1: predicted its label */
  int64_t *loss;    /* (batch) cross-entropy, Q24 */
  int64_t n;        /* samples waiting to be collected; 0: none */
  int32_t exp, classes;
} ScoreLater;

/* Buffers and context shared by training and inference. */
typedef struct Run {
  const NitModel *m;
  RunRecipe r;
  void *params, *work;
  int8_t *xb;     /* (batch, C, H, W) gathered batch */
  int32_t *yb;    /* (batch) */
  int8_t *logits; /* (batch, classes) */
  uint32_t *perm; /* (ntrain) epoch order */
  NitPool *pool;  /* workers of the generated kernels (threads.c) */
  NitS31 eta;     /* learning rate of the next train_step (recipes with masters) */
  ScoreLater later; /* the last training step's scores, computed by idle threads */
} Run;

/* The pool's threads for --threads T (T < 1: the default), at most
 * NITRT_POOL_CHUNKS; warns when T is more than the cores or the chunks. */
int32_t nitrt_run_threads(int32_t threads);
/* threads: --threads T, as nitrt_run_threads takes it. 0 or -1 (message). */
int nitrt_run_alloc(Run *u, const NitModel *m, int32_t threads);
void nitrt_run_free(Run *u);
/* A context for one call of the generated code. */
NitCtx nitrt_run_ctx(const Run *u, uint64_t step, int32_t n, int32_t in_exp, int32_t mu, int train);

/* The values parameter tensor t trains in the params slab: its master under
 * the recipes with masters, else its weights (int8, or int16 when wide).
 * Returns their byte offset; their element size (1, 2 or 4) into *size. */
int64_t nitrt_param_values(const NitModel *m, const NitParam *t, int32_t *size);
/* Element j of an array of `size`-byte signed integers in host layout (a
 * loaded slab). */
int64_t nitrt_slab_get(const uint8_t *p, int32_t size, int64_t j);
/* niti's clamp of A-bit weights, 2^(A-1) - 1 (docs/numerics.md, "Weight
 * update (NITI 3.2)"). */
int64_t nitrt_weight_limit(const NitParam *t);
/* Rows idx[0 .. count) of x (dim bytes each) to be copied to dst. */
typedef struct Gather {
  const int8_t *x;
  const uint32_t *idx; /* (count) */
  int64_t count, dim;
  int8_t *dst; /* (count, dim) */
} Gather;
/* The n logits rows in u->logits against labels y: adds the correct
 * predictions to sums[0] and the summed loss (Q24) to sums[1]. The rows
 * are split over u's workers; the sums are exact, so the split changes
 * nothing. */
void nitrt_score_batch(const Run *u, const int32_t *y, int64_t n, int32_t logit_exp, int64_t sums[2]);
/* The same for a training step, later: its n logits rows and labels are
 * copied, and scored by the pool's threads while they wait between the
 * next step's parallel regions (nitrt_pool_idle_set). Collect adds them to
 * sums as score_batch would, scoring what the threads left, and returns
 * how many samples it added (0: none waiting). Collect before the next
 * step is left for later: one step waits at a time. */
void nitrt_score_later(Run *u, const int32_t *y, int64_t n, int32_t logit_exp);
int64_t nitrt_score_collect(Run *u, int64_t sums[2]);
/* Gather the next training batch's rows, each worker those its chunk of
 * the step's first parallel region reads (into its own core's cache). */
void nitrt_gather_batch(const Run *u, const Gather *g);
/* Forward over samples [from, from+count) of d: correct predictions and the
 * summed loss (Q24), in batches of u->r.batch. */
void nitrt_evaluate(Run *u, const Dataset *d, int64_t from, int64_t count, int32_t mu, int64_t *correct, int64_t *loss);

/* Per-class counts of an evaluation (eval --per-class). */
#define NITRT_CONFUSION_MAX 256 /* classes up to which the confusion matrix is kept */
typedef struct ClassStats {
  int32_t classes;
  int64_t *samples;   /* (classes) samples of each true class */
  int64_t *correct;   /* (classes) of them predicted right */
  int64_t *predicted; /* (classes) predictions of each class */
  int64_t *confusion; /* (classes, classes): row true, column predicted; NULL above NITRT_CONFUSION_MAX */
} ClassStats;
int nitrt_class_stats_alloc(ClassStats *cs, int32_t classes); /* 0 or -1 (message) */
void nitrt_class_stats_free(ClassStats *cs);
/* nitrt_evaluate that also counts per class into cs (NULL: not). */
void nitrt_evaluate_classes(Run *u, const Dataset *d, int64_t from, int64_t count, int32_t mu, int64_t *correct,
                            int64_t *loss, ClassStats *cs);
/* With several ranks (collectives; 0 at once in one process, else 0 or -1
 * after one message on every rank):
 * check_model: every rank runs the same model, one the ranks can train
 *   (no normalization layers yet), with a closing "all ok";
 * check_same: every rank holds the same data (dir: for messages; either
 *   set may be NULL), settings (u->r and `state`, nstate values the caller
 *   adds: position, sample counts) and weights (ckpt: where they came
 *   from, or NULL), with a closing "all ok";
 * check_weights: every rank holds the same weights before `path` is
 *   written (no "all ok": the caller's save follows). */
int nitrt_run_check_model(const NitModel *m);
int nitrt_run_check_same(const Run *u, const char *dir, const Dataset *train, const Dataset *test,
                         const uint64_t *state, int32_t nstate, const char *ckpt);
int nitrt_run_check_weights(const Run *u, const char *path);
/* 0 when `batch` fits the compiled maximum, else -1 after a message that
 * names where the batch came from: --batch (ckpt NULL) or checkpoint ckpt. */
int nitrt_check_batch(const NitModel *m, int32_t batch, const char *ckpt);
/* The data directory: --data; else, with a checkpoint ck (file ckpt), the
 * one it recorded (refusing when it records none); else the model's
 * default. NULL after a message. */
const char *nitrt_data_dir(const Options *o, const NitModel *m, const Ckpt *ck, const char *ckpt);

/* ----------------------------------------------------------------- train.c */

/* Zero the params slab and draw every tensor with the init rule. */
void nitrt_init_params(const NitModel *m, void *params, uint64_t seed);
int nitrt_cmd_train(const Options *o);

/* ------------------------------------------------------------- telemetry.c */

/* Lowest, highest and last exponent of a tensor over the sampled steps. */
typedef struct TeleExp {
  int32_t min, max, last;
} TeleExp;

/* One node's counts over an epoch's sampled steps. act and err, for its
 * int8 output and the int8 error at it: ge[k] values with |v| >= 2^k
 * (k = 0..6), ge[7] with |v| >= 127, ge[8] all values seen. */
#define NITRT_TELE_GE 9 /* ge[0..7] and the count: TeleNode.act, .err */
typedef struct TeleNode {
  int64_t act[NITRT_TELE_GE];
  int64_t err[NITRT_TELE_GE];
  TeleExp act_exp, err_exp; /* their exponents */
  int64_t w_n;              /* weights compared (count x sampled steps) */
  int64_t w_changed;        /* of which the step changed */
  int64_t w_limit;          /* niti: of which at +-(2^(A-1) - 1) after it */
} TeleNode;

/* train --telemetry N: per-layer counts of every N-th step (docs/telemetry.md). */
typedef struct Tele {
  int64_t every;   /* sample steps with step % every == 0; 0: off */
  int64_t samples; /* sampled steps in this epoch */
  TeleNode *node;  /* (nnodes) */
  int32_t *exps;   /* (nnodes, 2) {act, err} exponents of the sampled step */
  uint8_t *before; /* (before_bytes) the trained values of the nodes' tensors before the sampled step, packed */
  int64_t *at;     /* (nnodes) node i's tensor's place in before, -1 if it has none */
  int64_t *sum;    /* (nnodes, 2, NITRT_TELE_GE) the act and err counts, for the sum over ranks */
} Tele;

/* 0, or -1 after a message. weights: this rank counts the weights the
 * sampled steps moved (rank 0; they are the same on every rank). */
int nitrt_tele_init(Tele *t, const NitModel *m, int64_t every, bool weights);
void nitrt_tele_free(Tele *t);
void nitrt_tele_epoch_start(Tele *t, const NitModel *m);
bool nitrt_tele_sampled(const Tele *t, uint64_t step);
/* Around a sampled train_step of n samples: copy the weights and ask for the
 * exponents (c->exps); then count. */
void nitrt_tele_before(Tele *t, const NitModel *m, const void *params, NitCtx *c);
void nitrt_tele_after(Tele *t, const NitModel *m, const void *params, const void *work, int32_t n);
/* The ranks' counts of their slices summed on every rank (collective; at the
 * end of an epoch, before printing or logging). */
void nitrt_tele_sum_ranks(Tele *t, const NitModel *m);
/* The epoch's counts: ,"telemetry":{...} inside the --log epoch object; a
 * table; warnings for layers that cannot train. */
void nitrt_tele_log(FILE *f, const Tele *t, const NitModel *m);
void nitrt_tele_print(FILE *f, const Tele *t, const NitModel *m);
void nitrt_tele_warn(const Tele *t, const NitModel *m, int32_t epoch);

/* ----------------------------------------------------------------- infer.c */

int nitrt_cmd_eval(const Options *o);
int nitrt_cmd_predict(const Options *o);

/* ---------------------------------------------------------------- export.c */

/* export --load CKPT -o DIR: the network as plain integer C (docs/deploy.md). */
int nitrt_cmd_export(const Options *o);

/* ---------------------------------------------------------------- report.c */

/* Per-epoch numbers handed to the printers. */
typedef struct EpochStats {
  int32_t epoch, epochs;
  uint64_t step;    /* global step after the epoch */
  int64_t loss_q24; /* mean training loss, Q24 nats */
  int64_t train_correct, train_n;
  int64_t timed_n;            /* samples trained by this process (samples/s); < train_n after a mid-epoch resume */
  int64_t val_correct, val_n; /* val_n == 0: no holdout */
  int64_t test_correct, test_n;
  int64_t test_loss_q24;
  int64_t train_ns, total_ns; /* training time, epoch time incl. eval */
  bool masters;               /* a recipe with masters: lr and exponents below */
  NitS31 lr;                  /* eta at the epoch's first step */
  const NitModel *model;      /* masters: the exponents are read from */
  const void *params;         /*   the params slab (pstate) */
  int32_t mu;                 /* niti: the epoch's update bits m_u */
  bool best;                  /* --save-best: this epoch is saved as the best */
  /* unified: per DSGC site the sums of d_c and phi (Q30) over the epoch's
   * steps run by this process, {dq, phi} per site, NULL otherwise */
  const int64_t *clip_sum;
  int64_t clip_steps;
  const Tele *tele; /* --telemetry: the epoch's per-layer counts, NULL otherwise */
} EpochStats;

/* Progress of an epoch on stderr: a bar redrawn in place on a terminal,
 * fitted to its width; plain lines every `plain_ns` elsewhere. */
enum { NITRT_PROGRESS_OFF, NITRT_PROGRESS_BAR, NITRT_PROGRESS_LINES };
typedef struct Progress {
  int mode;            /* NITRT_PROGRESS_* */
  int64_t plain_ns;    /* LINES: nanoseconds between lines */
  int64_t total, done; /* steps this epoch */
  int64_t skip;        /* steps done before this process (a resume inside the epoch) */
  int64_t samples;
  int64_t start_ns, last_ns;
  int64_t loss_sum_q24, loss_n;
  int32_t epoch, epochs;
  int width; /* BAR: characters last printed */
} Progress;

void nitrt_progress_start(Progress *p, int mode, int64_t plain_ns, int32_t epoch, int32_t epochs, int64_t total);
/* One step of `samples` samples (the global batch); the loss shown is the
 * mean of loss_sum_q24 over loss_n samples (this rank's slices). */
void nitrt_progress_step(Progress *p, int64_t samples, int64_t loss_n, int64_t loss_sum_q24);
void nitrt_progress_end(Progress *p);
void nitrt_print_epoch(FILE *f, const EpochStats *s);
void nitrt_log_epoch(FILE *f, const EpochStats *s);
/* What the first record of a run in the --log file says about it. */
typedef struct RunInfo {
  const Options *o;   /* the command line (argv), paths */
  const RunRecipe *r; /* the effective recipe */
  const char *data;   /* the data directory, absolute when resolvable */
  const Dataset *train, *test;
  int64_t ntrain;     /* training samples used (after limit and holdout) */
  int32_t threads;    /* worker threads (per rank) */
  int32_t ranks;      /* data-parallel ranks; the record has "ranks" when > 1 */
  const char *resume; /* resumed from this checkpoint, or NULL */
  uint32_t epoch;     /*   its epochs completed */
  uint64_t step;      /*   and global step */
  uint64_t pos;       /*   and steps of the next epoch done (0: at an epoch end) */
} RunInfo;
void nitrt_log_run(FILE *f, const RunInfo *ri);
/* eval --per-class: the table of classes and the confusion matrix as text;
 * as JSON members "per_class":[...],"confusion":[[...]] (null when not kept). */
void nitrt_print_classes(FILE *f, const ClassStats *cs);
void nitrt_json_classes(FILE *f, const ClassStats *cs);
/* An S31 value as a decimal with up to 12 places ("0.099999999977") into
 * buf (64 bytes). */
char *nitrt_fmt_s31(char *buf, NitS31 v);
int nitrt_cmd_info(void);
/* The lines of a recipe after `info`'s first (k: the compiled recipe, for
 * bit widths; NULL: not shown). */
void nitrt_print_recipe(FILE *f, const RunRecipe *r, const NitRecipe *k);
/* `inspect CKPT` (inspect.c). */
int nitrt_cmd_inspect(const Options *o);

#endif
