/*
 * plot.c: `nitc plot LOG.jsonl... -o FILE.svg|FILE.png`, the loss and
 * accuracy curves of training runs, drawn by gnuplot.
 *
 * Each log is the JSON-lines file a training executable writes with --log
 * (runtime/report.c): one object per epoch. Every line is parsed by a small
 * strict JSON reader (plus NaN and Infinity, which Python's json module
 * writes); a malformed line is a `file:line:col` error with the line and a
 * caret, and nothing is drawn. NaN, Infinity, null and numbers beyond
 * gnuplot's range leave gaps. Of each record only "epoch", "train_loss",
 * "test_loss", "test_acc", "val_acc", "lr" and "update_bits" are used; the last record of
 * an epoch wins (a resumed run appends to its log), records of epoch 0 (an
 * evaluation only) are left out, and so are the run records (a "record"
 * key: every run starts its log with one) and anything nested, such as an
 * epoch's "telemetry".
 *
 * The numbers never become floating point here: their JSON text is copied
 * into a gnuplot script (data blocks, one per run), and gnuplot scales and
 * draws. The only arithmetic is on integers: the lowest accuracy in
 * hundredths of a percent (where the accuracy axis starts), a number's
 * order of magnitude, and the canvas's size.
 *
 * The script goes to gnuplot's standard input through a pipe (or to a file
 * with --script). Layout: a loss panel (train solid, test dashed, from 0),
 * an accuracy panel (test solid, validation dashed, in percent), and, when
 * any log records a learning rate, a learning-rate panel; one colour per
 * run, runs named after their files. An epoch where a run's learning rate
 * changes is marked by a dotted vertical line in the run's colour on the
 * loss and accuracy panels (a run whose rate changes at most boundaries, a
 * continuous schedule, is shown by the learning-rate panel alone), and so
 * is an epoch where NITI's update bits m_u change (logs record them as
 * "update_bits").
 *
 * Like the rest of the compiler it never exits: plot_main returns the status.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nitc.h"

extern char **environ;

static const char usage[] = "usage: nitc plot LOG.jsonl... -o FILE.svg|FILE.png [options]\n"
                            "\n"
                            "Draw the loss and accuracy curves of training logs (train --log) with gnuplot.\n"
                            "\n"
                            "options:\n"
                            "  -o FILE          output, SVG or PNG by its extension\n"
                            "  --title TEXT     a title above the panels\n"
                            "  --acc-from PCT   start the accuracy axis at PCT (0..90); default 0, or when every\n"
                            "                   accuracy is 50% or more the lowest rounded down to a multiple of\n"
                            "                   10; an axis that does not start at 0 says so in its label\n"
                            "  --script FILE    write the gnuplot script to FILE instead of running gnuplot\n"
                            "  --help           print this help\n";

/* The fields read from each record. */
enum { F_TRAIN_LOSS, F_TEST_LOSS, F_TEST_ACC, F_VAL_ACC, F_LR, F_MU, NFIELDS };
static const char *const field_names[NFIELDS] = {"train_loss", "test_loss", "test_acc", "val_acc", "lr",
                                                 "update_bits"};

typedef struct Rec {
  long epoch;
  int order;              /* line number: the last record of an epoch wins */
  const char *v[NFIELDS]; /* number text, NULL when absent (or NaN) */
} Rec;

typedef struct Run {
  const char *path, *label;
  Rec *recs;
  int n, cap;
  bool has[NFIELDS];
  int lr_changes; /* epochs whose learning rate differs from the epoch before */
} Run;

static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
enum { NCOLOURS = sizeof colours / sizeof colours[0] };

/* ------------------------------------------------------------ the JSON reader */

typedef enum { J_NUM, J_STR, J_NAN, J_OTHER } JKind;

typedef struct J {
  const char *line, *p, *end; /* the line (without its newline), the cursor */
  int col;                    /* error column (1-based), set with msg */
  char msg[160];
} J;

static bool jfail(J *j, const char *at, const char *msg) {
  j->col = (int)(at - j->line) + 1;
  snprintf(j->msg, sizeof j->msg, "malformed JSON: %s", msg);
  return false;
}

static void jws(J *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r')) j->p++;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool jlit(J *j, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return false;
  j->p += n;
  return true;
}

/* A number by JSON's grammar; NaN, Infinity and -Infinity too (kind J_NAN). */
static bool jnumber(J *j, JKind *kind) {
  const char *s = j->p;
  if (jlit(j, "NaN") || jlit(j, "Infinity") || jlit(j, "-Infinity")) {
    *kind = J_NAN;
    return true;
  }
  if (j->p < j->end && *j->p == '-') j->p++;
  if (j->p >= j->end || !is_digit(*j->p)) return jfail(j, s, "expected a value");
  if (*j->p == '0') j->p++;
  else
    while (j->p < j->end && is_digit(*j->p)) j->p++;
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    if (j->p >= j->end || !is_digit(*j->p)) return jfail(j, j->p, "expected a digit after '.'");
    while (j->p < j->end && is_digit(*j->p)) j->p++;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
    if (j->p >= j->end || !is_digit(*j->p)) return jfail(j, j->p, "expected a digit in the exponent");
    while (j->p < j->end && is_digit(*j->p)) j->p++;
  }
  *kind = J_NUM;
  return true;
}

static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* A string; on success [*s, *e) is its raw text between the quotes. */
static bool jstring(J *j, const char **s, const char **e) {
  const char *open = j->p++;
  *s = j->p;
  while (j->p < j->end && *j->p != '"') {
    unsigned char c = (unsigned char)*j->p;
    if (c < 0x20) return jfail(j, j->p, "control character in a string");
    if (c == '\\') {
      j->p++;
      if (j->p >= j->end) break;
      if (*j->p == 'u') {
        for (int k = 1; k <= 4; k++)
          if (j->p + k >= j->end || !is_hex(j->p[k])) return jfail(j, j->p - 1, "bad \\u escape");
        j->p += 4;
      } else if (!strchr("\"\\/bfnrt", *j->p)) return jfail(j, j->p - 1, "bad escape in a string");
    }
    j->p++;
  }
  if (j->p >= j->end) return jfail(j, open, "unterminated string");
  *e = j->p++;
  return true;
}

typedef struct Field {
  const char *s, *e; /* value text (between the quotes for a string) */
  JKind kind;
  int col;
} Field;

enum { JSON_MAX_DEPTH = 64 };

static bool jvalue(J *j, int depth, Field *f);

/* The top-level keys read besides field_names: top[NFIELDS + k]. */
enum { K_EPOCH, K_RECORD, NKEYS };
static const char *const key_names[NKEYS] = {"epoch", "record"};

/* An object or an array at the cursor. At depth 0, the fields of interest
 * (field_names, then key_names) are kept in top[]. */
static bool jcompound(J *j, int depth, Field *top) {
  char close = *j->p == '{' ? '}' : ']';
  bool object = close == '}';
  if (depth >= JSON_MAX_DEPTH) return jfail(j, j->p, "nested too deeply");
  j->p++;
  jws(j);
  if (j->p < j->end && *j->p == close) {
    j->p++;
    return true;
  }
  for (;;) {
    const char *ks = NULL, *ke = NULL;
    if (object) {
      if (j->p >= j->end || *j->p != '"') return jfail(j, j->p, "expected a key in double quotes");
      if (!jstring(j, &ks, &ke)) return false;
      jws(j);
      if (j->p >= j->end || *j->p != ':') return jfail(j, j->p, "expected ':' after the key");
      j->p++;
      jws(j);
    }
    Field f;
    if (!jvalue(j, depth + 1, &f)) return false;
    if (object && top) {
      size_t n = (size_t)(ke - ks);
      for (int k = 0; k < NFIELDS + NKEYS; k++) {
        const char *name = k < NFIELDS ? field_names[k] : key_names[k - NFIELDS];
        if (strlen(name) == n && memcmp(name, ks, n) == 0) top[k] = f;
      }
    }
    jws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      jws(j);
      continue;
    }
    if (j->p < j->end && *j->p == close) {
      j->p++;
      return true;
    }
    return jfail(j, j->p, object ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static bool jvalue(J *j, int depth, Field *f) {
  f->s = j->p;
  f->col = (int)(j->p - j->line) + 1;
  f->kind = J_OTHER;
  if (j->p >= j->end) return jfail(j, j->p, "expected a value");
  char c = *j->p;
  if (c == '"') {
    f->kind = J_STR;
    return jstring(j, &f->s, &f->e);
  }
  if (c == '{' || c == '[') {
    if (!jcompound(j, depth, NULL)) return false;
  } else if (jlit(j, "true") || jlit(j, "false") || jlit(j, "null")) {
  } else if (!jnumber(j, &f->kind)) return false;
  f->e = j->p;
  return true;
}

/* Text [s, e) is a whole JSON number (no NaN). */
static bool number_text(const char *s, const char *e) {
  J j = {.line = s, .p = s, .end = e};
  JKind k;
  return jnumber(&j, &k) && k == J_NUM && j.p == e;
}

/* A JSON number's value times 10^scale, truncated toward zero; saturates. */
static long long scaled(const char *s, int scale) {
  const long long big = 100000000000000000LL; /* 10^17: room for one more digit */
  bool neg = *s == '-';
  if (neg) s++;
  long long m = 0;
  long exp10 = scale;
  for (; is_digit(*s); s++) {
    if (m < big) m = m * 10 + (*s - '0');
    else exp10++;
  }
  if (*s == '.')
    for (s++; is_digit(*s); s++)
      if (m < big) {
        m = m * 10 + (*s - '0');
        exp10--;
      }
  if (*s == 'e' || *s == 'E') {
    s++;
    int sign = *s == '-' ? -1 : 1;
    if (*s == '+' || *s == '-') s++;
    long x = 0;
    for (; is_digit(*s); s++)
      if (x < 100000) x = x * 10 + (*s - '0');
    exp10 += sign * x;
  }
  for (; exp10 > 0 && m; exp10--) {
    if (m > big) return neg ? -big * 10 : big * 10;
    m *= 10;
  }
  for (; exp10 < 0 && m; exp10++) m /= 10;
  return neg ? -m : m;
}

/* A JSON number too large for gnuplot's doubles (about 10^308): 10^300 or
 * more counts as infinite. */
static bool huge(const char *s) {
  long mag = 0, exp10 = 0; /* the value is below 10^(mag + exp10) */
  bool nonzero = false;
  if (*s == '-') s++;
  while (*s == '0') s++;
  for (; is_digit(*s); s++) mag++, nonzero = true;
  if (*s == '.') {
    for (s++; !nonzero && *s == '0'; s++) mag--;
    nonzero |= is_digit(*s);
    while (is_digit(*s)) s++;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    int sign = *s == '-' ? -1 : 1;
    if (*s == '+' || *s == '-') s++;
    for (; is_digit(*s); s++)
      if (exp10 < 100000) exp10 = exp10 * 10 + (*s - '0');
    exp10 *= sign;
  }
  return nonzero && mag + exp10 > 300;
}

/* ------------------------------------------------------------ reading a log */

static void add_rec(Run *r, Rec rec) {
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 64;
    Rec *a = mem_alloc((size_t)cap * sizeof *a);
    if (r->n) memcpy(a, r->recs, (size_t)r->n * sizeof *a);
    r->recs = a;
    r->cap = cap;
  }
  r->recs[r->n++] = rec;
}

static int rec_cmp(const void *a, const void *b) {
  const Rec *x = a, *y = b;
  if (x->epoch != y->epoch) return x->epoch < y->epoch ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* One line of a log into *rec. Returns false after reporting an error. */
static bool read_line(const char *line, const char *end, int lineno, Rec *rec) {
  J j = {.line = line, .p = line, .end = end};
  Field top[NFIELDS + NKEYS] = {0};
  jws(&j);
  bool ok = j.p < end && *j.p == '{' ? jcompound(&j, 0, top) : jfail(&j, j.p, "expected '{' (one object per line)");
  if (ok) {
    jws(&j);
    if (j.p < end) ok = jfail(&j, j.p, "text after the object");
  }
  if (!ok) {
    diag_error((Loc){lineno, j.col, lineno, j.col}, "%s", j.msg);
    return false;
  }
  if (top[NFIELDS + K_RECORD].s) { /* a run record: not an epoch */
    *rec = (Rec){.epoch = 0, .order = lineno};
    return true;
  }
  Field *ep = &top[NFIELDS + K_EPOCH];
  if (!ep->s) {
    diag_error((Loc){lineno, 1, lineno, 1}, "record without \"epoch\" (not a training log?)");
    return false;
  }
  Loc eloc = {lineno, ep->col, lineno, ep->col + (int)(ep->e - ep->s) - 1};
  if (ep->kind != J_NUM || memchr(ep->s, '.', (size_t)(ep->e - ep->s)) || memchr(ep->s, 'e', (size_t)(ep->e - ep->s)) ||
      memchr(ep->s, 'E', (size_t)(ep->e - ep->s)) || *ep->s == '-' || ep->e - ep->s > 9) {
    diag_error(eloc, "\"epoch\" must be a whole number 0..999999999");
    return false;
  }
  *rec = (Rec){.epoch = (long)scaled(ep->s, 0), .order = lineno};
  for (int k = 0; k < NFIELDS; k++) {
    Field *f = &top[k];
    if (!f->s || f->kind == J_NAN || (f->kind == J_OTHER && f->e - f->s == 4 && memcmp(f->s, "null", 4) == 0))
      continue; /* absent, null or not a number: a gap in the curve */
    Loc loc = {lineno, f->col, lineno, f->col + (int)(f->e - f->s) - (f->kind == J_STR ? -1 : 1)};
    /* the runtime writes the learning rate as a decimal string */
    bool num = f->kind == J_NUM || (k == F_LR && f->kind == J_STR && number_text(f->s, f->e));
    if (!num) {
      diag_error(loc, "\"%s\" must be a number", field_names[k]);
      return false;
    }
    const char *text = mem_strndup(f->s, (size_t)(f->e - f->s));
    if (huge(text) && k != F_TEST_ACC && k != F_VAL_ACC) continue; /* infinite: a gap, like Infinity */
    if (k == F_TEST_ACC || k == F_VAL_ACC) {
      long long a = scaled(text, 4); /* hundredths of a percent */
      if (a < 0 || a > 10000) {
        diag_error(loc, "\"%s\" is %s; a log's accuracies are fractions 0..1", field_names[k], diag_quote(text));
        return false;
      }
    }
    rec->v[k] = text;
  }
  return true;
}

/* Read one log into r. Returns false after reporting the errors. */
static bool read_log(Run *r, long long *min_acc) {
  int err;
  Source *src = source_read(r->path, &err);
  if (!src) {
    if (err == EISDIR) diag_plain("'%s' is a directory, not a log file", diag_quote_n(r->path, DIAG_PATH_MAX));
    else diag_read_error(r->path, err);
    return false;
  }
  diag_begin(src);
  const char *p = src->text, *end = src->text + src->len;
  bool ok = true;
  for (int lineno = 1; p < end && !diag_stopped(); lineno++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *q = p;
    while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
    if (q < e) { /* blank lines are skipped */
      Rec rec;
      if (!read_line(p, e, lineno, &rec)) ok = false;
      else if (rec.epoch > 0) add_rec(r, rec);
    }
    p = nl ? nl + 1 : end;
  }
  diag_begin(NULL);
  if (!ok) return false;
  if (r->n == 0) {
    diag_plain("%s: no epochs (a training log has one record per epoch, \"epoch\" from 1)",
               diag_quote_n(r->path, DIAG_PATH_MAX));
    return false;
  }
  /* by epoch; of the records of one epoch, the last in the file */
  qsort(r->recs, (size_t)r->n, sizeof *r->recs, rec_cmp);
  int n = 0;
  for (int i = 0; i < r->n; i++) {
    if (n > 0 && r->recs[n - 1].epoch == r->recs[i].epoch) n--;
    r->recs[n++] = r->recs[i];
  }
  r->n = n;
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < NFIELDS; k++) r->has[k] |= r->recs[i].v[k] != NULL;
    for (int k = F_TEST_ACC; k <= F_VAL_ACC; k++)
      if (r->recs[i].v[k] && scaled(r->recs[i].v[k], 4) < *min_acc) *min_acc = scaled(r->recs[i].v[k], 4);
    const char *a = i ? r->recs[i - 1].v[F_LR] : NULL, *b = r->recs[i].v[F_LR];
    if (a && b && strcmp(a, b) != 0) r->lr_changes++;
  }
  return true;
}

/* ------------------------------------------------------------ the script */

/* A gnuplot single-quoted string, quotes doubled. A label's control and
 * non-ASCII bytes become '?' (it must stay valid text in the SVG); a path
 * is written as it is (plot_main refused control characters in it). */
static void put_quoted(FILE *f, const char *s, bool label) {
  if (label) s = diag_quote_n(s, 200);
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', f);
    fputc(*s, f);
  }
  fputc('\'', f);
}

/* The run's name: the file name without directories and ".jsonl"; the path
 * as given when two runs would share a name. */
static void name_runs(Run *runs, int n) {
  for (int i = 0; i < n; i++) {
    const char *b = strrchr(runs[i].path, '/');
    b = b && b[1] ? b + 1 : runs[i].path;
    size_t len = strlen(b);
    if (len > 6 && strcmp(b + len - 6, ".jsonl") == 0) len -= 6;
    runs[i].label = mem_strndup(b, len);
  }
  for (int i = 0; i < n; i++)
    for (int k = 0; k < n; k++)
      if (k != i && strcmp(runs[i].label, runs[k].label) == 0 && strcmp(runs[i].path, runs[k].path) != 0) {
        runs[i].label = runs[i].path;
        break;
      }
}

/* Does the run's learning rate change at few enough boundaries to mark them? */
static bool marks_lr(const Run *r) {
  return r->lr_changes > 0 && (r->lr_changes <= 3 || 2 * r->lr_changes <= r->n - 1);
}

typedef struct PlotOpts {
  const char *output, *title, *script;
  int acc_from; /* -1: automatic */
  bool png;
} PlotOpts;

/* One plot command: a series per run that has the field, or nothing. */
static bool plot_series(FILE *f, const Run *runs, int n, const int *fields, const char *const *what,
                        const char *const *dash, int nf, const char *ycol_fmt, const char *style) {
  bool first = true;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < nf; k++) {
      if (!runs[i].has[fields[k]]) continue;
      fputs(first ? "plot " : ", \\\n     ", f);
      first = false;
      fprintf(f, "$run%d using 1:", i);
      fprintf(f, ycol_fmt, 2 + fields[k]);
      fprintf(f, " with %s lw 1.5 dt %s lc rgb '%s' title ", style, dash[k], colours[i % NCOLOURS]);
      char t[1200];
      snprintf(t, sizeof t, "%s %s", runs[i].label, what[k]);
      put_quoted(f, t, true);
    }
  if (!first) fputc('\n', f);
  return !first;
}

/* The script drawing into `out` (the output, or the temporary file beside it). */
static void write_script(FILE *f, const Run *runs, int n, const PlotOpts *o, long long min_acc, const char *out) {
  bool has_loss = false, has_acc = false, has_lr = false, unmarked = false;
  long max_epoch = 1;
  for (int i = 0; i < n; i++) {
    has_loss |= runs[i].has[F_TRAIN_LOSS] || runs[i].has[F_TEST_LOSS];
    has_acc |= runs[i].has[F_TEST_ACC] || runs[i].has[F_VAL_ACC];
    has_lr |= runs[i].has[F_LR];
    unmarked |= runs[i].lr_changes > 0 && !marks_lr(&runs[i]);
    if (runs[i].recs[runs[i].n - 1].epoch > max_epoch) max_epoch = runs[i].recs[runs[i].n - 1].epoch;
  }
  int panels = has_loss + has_acc + has_lr;
  int height = 300 * panels + (o->title ? 30 : 0);
  /* 700 pixels of plot, and room for the key: about 6 pixels a character */
  size_t longest = 0;
  for (int i = 0; i < n; i++) {
    size_t l = strlen(diag_quote_n(runs[i].label, 200)) + 20; /* + " validation accuracy" */
    longest = l > longest ? l : longest;
  }
  int width = 700 + (longest * 6 + 70 > 300 ? (int)longest * 6 + 70 : 300);

  fprintf(f, "# nitc plot: %d run%s\n", n, n == 1 ? "" : "s");
  fprintf(f, "set terminal %s size %d,%d noenhanced font 'sans,10'%s\n", o->png ? "pngcairo" : "svg", width, height,
          o->png ? "" : " background '#ffffff'");
  fputs("set output ", f);
  put_quoted(f, out, false);
  fputs("\nset encoding utf8\nset datafile missing '?'\n", f);
  for (int i = 0; i < n; i++) {
    fprintf(f, "# ");
    put_quoted(f, runs[i].path, true);
    fprintf(f, ": epoch train_loss test_loss test_acc val_acc lr update_bits\n$run%d << EOD\n", i);
    for (int r = 0; r < runs[i].n; r++) {
      fprintf(f, "%ld", runs[i].recs[r].epoch);
      for (int k = 0; k < NFIELDS; k++) fprintf(f, " %s", runs[i].recs[r].v[k] ? runs[i].recs[r].v[k] : "?");
      fputc('\n', f);
    }
    fputs("EOD\n", f);
  }

  /* x: epochs, integer tics */
  long step = 1, mag = 1;
  for (int k = 0; max_epoch / step > 20; k = (k + 1) % 3) { /* 1 2 5 10 20 50 100 ... */
    if (k == 2) mag *= 10;
    step = (k == 0 ? 2 : k == 1 ? 5 : 1) * mag;
  }
  fprintf(f, "set xrange [0:%ld.5]\nset xtics 0,%ld\nset xlabel 'epoch'\n", max_epoch, step);
  /* fixed margins keep the panels aligned whatever their keys' widths */
  fprintf(f,
          "set grid lc rgb '#dddddd'\nset key at screen 0.%03d, graph 1 left top Left reverse\n"
          "set lmargin at screen 0.%03d\nset rmargin at screen 0.%03d\nset offsets 0, 0, graph 0.05, 0\n",
          710 * 1000 / width, 80 * 1000 / width, 700 * 1000 / width);
  fprintf(f, "set multiplot layout %d,1", panels);
  if (o->title) {
    fputs(" title ", f);
    put_quoted(f, o->title, true);
  }
  fputc('\n', f);
  /* the epochs where a run's learning rate changes: dotted lines at the
   * start of the epoch (x = epoch - 1), on the loss and accuracy panels */
  for (int i = 0; i < n; i++)
    for (int r = 1; r < runs[i].n; r++) {
      /* NITI's update bits m_u play the learning rate's part: marked too */
      const char *a = runs[i].recs[r - 1].v[F_LR], *b = runs[i].recs[r].v[F_LR];
      const char *ma = runs[i].recs[r - 1].v[F_MU], *mb = runs[i].recs[r].v[F_MU];
      if ((marks_lr(&runs[i]) && a && b && strcmp(a, b) != 0) || (ma && mb && strcmp(ma, mb) != 0))
        fprintf(f, "set arrow from %ld, graph 0 to %ld, graph 1 nohead dt 3 lw 1.5 lc rgb '%s'\n",
                runs[i].recs[r].epoch - 1, runs[i].recs[r].epoch - 1, colours[i % NCOLOURS]);
    }
  static const char *const solid_dashed[] = {"1", "2"};
  if (has_loss) {
    static const int fl[] = {F_TRAIN_LOSS, F_TEST_LOSS};
    static const char *const wl[] = {"train loss", "test loss"};
    fputs("set yrange [0:*]\nset ylabel 'loss (nats), from 0'\n", f);
    plot_series(f, runs, n, fl, wl, solid_dashed, 2, "%d", "linespoints pt 7 ps 0.45");
  }
  if (has_acc) {
    long acc_from = o->acc_from;
    if (acc_from < 0) {                           /* from 0, unless every accuracy is at least 50%: */
      acc_from = (long)(min_acc / 100) / 10 * 10; /* then the lowest, down to a multiple of 10 */
      if (acc_from < 50) acc_from = 0;
      if (acc_from > 90) acc_from = 90;
    }
    static const int fa[] = {F_TEST_ACC, F_VAL_ACC};
    static const char *const wa[] = {"test accuracy", "validation accuracy"};
    fprintf(f, "set yrange [%ld:100]\n", acc_from);
    if (acc_from > 0) fprintf(f, "set ylabel 'accuracy (%%), axis from %ld%%, not 0'\n", acc_from);
    else fputs("set ylabel 'accuracy (%)'\n", f);
    plot_series(f, runs, n, fa, wa, solid_dashed, 2, "($%d*100)", "linespoints pt 7 ps 0.45");
  }
  if (has_lr) {
    static const int fr[] = {F_LR};
    static const char *const wr[] = {"learning rate"};
    fputs("unset arrow\nset yrange [0:*]\n", f);
    fputs("set ylabel 'learning rate'\n", f);
    if (unmarked) /* beneath the key */
      fputs("set label \"a rate that changes at most epochs\\nis not marked on the panels above\""
            " at graph 1.02, graph 0.25 left\n",
            f);
    /* the rate of epoch k holds from x = k - 1 to k: fsteps rises at k - 1 */
    plot_series(f, runs, n, fr, wr, solid_dashed, 1, "%d", "fsteps");
  }
  fputs("unset multiplot\nset output\n", f);
}

/* ------------------------------------------------------------ running gnuplot */

/* Run gnuplot on the script text, which draws into `drawn`; messages name
 * `output`. Returns 0, or 1 after reporting. */
static int run_gnuplot(const char *script, size_t len, const char *drawn, const char *output) {
  int fds[2];
  if (pipe(fds) != 0) {
    diag_plain("cannot make a pipe to gnuplot: %s", strerror(errno));
    return 1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  /* a failed `set output` would send the picture to stdout */
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  char *argv[] = {"gnuplot", NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[0]);
  if (rc != 0) {
    close(fds[1]);
    if (rc == ENOENT)
      diag_plain("gnuplot not found: nitc plot draws with gnuplot; install it (apt-get install gnuplot-nox)");
    else diag_plain("cannot run gnuplot: %s", strerror(rc));
    return 1;
  }
  /* a gnuplot that dies early must not kill nitc with SIGPIPE */
  struct sigaction ign = {.sa_handler = SIG_IGN}, old;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, &old);
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fds[1], script + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  close(fds[1]);
  sigaction(SIGPIPE, &old, NULL);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      diag_plain("cannot wait for gnuplot: %s", strerror(errno));
      return 1;
    }
  const char *q = diag_quote_n(output, DIAG_PATH_MAX);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (WIFEXITED(status)) diag_plain("gnuplot failed (exit %d) drawing '%s'", WEXITSTATUS(status), q);
    else diag_plain("gnuplot was killed (signal %d) drawing '%s'", WTERMSIG(status), q);
    return 1;
  }
  struct stat st;
  if (stat(drawn, &st) != 0 || st.st_size == 0) {
    diag_plain("gnuplot wrote nothing to '%s'", q);
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------ the command */

static bool has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  if (n < k) return false;
  for (size_t i = 0; i < k; i++) {
    char c = s[n - k + i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != suf[i]) return false;
  }
  return true;
}

static bool has_control(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
  return false;
}

/* gnuplot draws into a new file beside the output, renamed over it once
 * complete: a failure leaves an older plot as it was. Creating that file
 * first checks that the output can be written; the error names the output. */
static bool make_temp(const char *out, char *tmp, size_t cap) {
  struct stat st;
  int fd = -1;
  snprintf(tmp, cap, "%s.nitc-%d", out, (int)getpid());
  if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) errno = EISDIR;
  else fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0) {
    diag_plain("cannot write '%s': %s", diag_quote_n(out, DIAG_PATH_MAX), strerror(errno));
    return false;
  }
  close(fd);
  return true;
}

int plot_main(int argc, char **argv) {
  PlotOpts o = {.acc_from = -1};
  Run *runs = mem_alloc((size_t)(argc > 1 ? argc : 1) * sizeof *runs);
  int n = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = NULL;
    const char *opt = NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    } else if (strcmp(a, "-o") == 0) dst = &o.output, opt = "-o";
    else if (strcmp(a, "--title") == 0) dst = &o.title, opt = "--title";
    else if (strcmp(a, "--script") == 0) dst = &o.script, opt = "--script";
    else if (strcmp(a, "--acc-from") == 0) opt = "--acc-from";
    else if (a[0] == '-' && a[1] != '\0') {
      diag_plain("plot: unknown option '%s' (try nitc plot --help)", diag_quote(a));
      return 1;
    } else {
      runs[n++].path = a;
      continue;
    }
    if (i + 1 >= argc) {
      diag_plain("plot: option '%s' needs a value", opt);
      return 1;
    }
    const char *v = argv[++i];
    if (dst) *dst = v;
    else {
      char *end;
      long x = strtol(v, &end, 10);
      if (!*v || *end || x < 0 || x > 90) {
        diag_plain("plot: --acc-from must be a whole percentage in 0..90 (got '%s')", diag_quote(v));
        return 1;
      }
      o.acc_from = (int)x;
    }
  }
  if (n == 0) {
    diag_plain("plot: no log files (usage: nitc plot LOG.jsonl... -o FILE.svg)");
    return 1;
  }
  if (!o.output) {
    diag_plain("plot: no output file: -o FILE.svg or -o FILE.png");
    return 1;
  }
  if (has_suffix(o.output, ".png")) o.png = true;
  else if (!has_suffix(o.output, ".svg")) {
    diag_plain("plot: cannot tell the format of '%s': the output must end in .svg or .png",
               diag_quote_n(o.output, DIAG_PATH_MAX));
    return 1;
  }
  if (has_control(o.output)) {
    diag_plain("plot: the output path '%s' has control characters", diag_quote_n(o.output, DIAG_PATH_MAX));
    return 1;
  }

  bool ok = true;
  long long min_acc = 10000;
  for (int i = 0; i < n; i++) ok &= read_log(&runs[i], &min_acc);
  if (!ok) return 1;
  name_runs(runs, n);
  bool drawable = false;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < NFIELDS; k++) drawable |= runs[i].has[k];
  if (!drawable) {
    diag_plain("plot: no loss, accuracy or learning rate in any log");
    return 1;
  }

  char tmp[DIAG_PATH_MAX + 64];
  if (strlen(o.output) > DIAG_PATH_MAX) {
    diag_plain("plot: the output path is longer than %d bytes", DIAG_PATH_MAX);
    return 1;
  }
  if (!o.script && !make_temp(o.output, tmp, sizeof tmp)) return 1;
  char *text = NULL;
  size_t len = 0;
  FILE *mf = open_memstream(&text, &len);
  if (mf) write_script(mf, runs, n, &o, min_acc, o.script ? o.output : tmp);
  if (!mf || fclose(mf) != 0) {
    diag_plain("plot: out of memory");
    if (!o.script) remove(tmp);
    return 1;
  }
  int rc = 0;
  if (o.script) {
    FILE *f = fopen(o.script, "w");
    bool wrote = f && fwrite(text, 1, len, f) == len;
    int e = errno;
    if ((f && fclose(f) != 0) || !wrote) {
      diag_plain("cannot write '%s': %s", diag_quote_n(o.script, DIAG_PATH_MAX), strerror(wrote ? errno : e));
      rc = 1;
    }
  } else {
    rc = run_gnuplot(text, len, tmp, o.output);
    if (rc == 0 && rename(tmp, o.output) != 0) {
      diag_plain("cannot write '%s': %s", diag_quote_n(o.output, DIAG_PATH_MAX), strerror(errno));
      rc = 1;
    }
    if (rc != 0) remove(tmp);
  }
  free(text);
  return rc;
}
