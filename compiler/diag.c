/*
 * diag.c: user diagnostics and internal errors.
 *
 * A user error prints
 *
 *   file:line:col: error: message
 *       the source line
 *       ^~~~ under the span
 *
 * The source line is printed safely: tabs become one space, other control
 * bytes, bytes that are not valid UTF-8 and the bytes of the C1 controls
 * (U+0080..U+009F, as UTF-8) become '?', other valid UTF-8 sequences are
 * copied and count as one column for the caret. Lines longer than
 * WINDOW bytes are cut to a window around the column, marked with "...".
 *
 * Errors are counted; after DIAG_MAX_ERRORS the next one prints a single
 * "too many errors" line and every later one is only counted. Phases ask
 * diag_stopped() to finish early. Nothing here exits except diag_internal.
 *
 * Layering: diag.c uses source.c (source_line, the arena), never the other
 * way round; source.c hands a read failure back as an errno value and
 * diag_read_error words it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitc.h"

enum { WINDOW = 120 };

static const Source *cur_src;
static FILE *out_stream;
static bool out_set;
static int nerrors;
static bool stopped;
static bool last_shown; /* the most recent error was printed: show its notes */
static char last_msg[2048];

static FILE *out(void) { return out_set ? out_stream : stderr; }

void diag_begin(const Source *src) {
  cur_src = src;
  nerrors = 0;
  stopped = false;
  last_shown = false;
  last_msg[0] = '\0';
}

void diag_set_output(void *stream) {
  out_stream = stream;
  out_set = true;
}

int diag_errors(void) { return nerrors; }
bool diag_stopped(void) { return stopped; }
const char *diag_last(void) { return last_msg; }

_Noreturn void diag_internal(const char *file, int line, const char *msg) {
  fflush(stdout);
  fprintf(stderr, "nitc: internal error at %s:%d: %s\n", file, line, msg);
  fflush(stderr);
  exit(2);
}

const char *diag_quote(const char *s) { return diag_quote_n(s, 40); }

const char *diag_quote_n(const char *s, size_t max) {
  size_t n = strlen(s);
  size_t keep = n > max ? max - 4 : n;
  char *q = mem_alloc(keep + 4);
  for (size_t i = 0; i < keep; i++) {
    unsigned char c = (unsigned char)s[i];
    q[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (keep < n) memcpy(q + keep, "...", 4);
  else q[keep] = '\0';
  return q;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static int utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  int len;
  unsigned min;
  if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
  else return 0;
  if ((size_t)len > n) return 0;
  unsigned cp = c & (0x3Fu >> (len - 1));
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp < 0xA0) return 0; /* the C1 controls (U+0080..U+009F): a terminal may obey them */
  return len;
}

/* Print the source line of loc and a caret line under its span. */
static void show_source(FILE *f, Loc loc) {
  const char *s;
  size_t n;
  if (!cur_src || !source_line(cur_src, loc.line, &s, &n)) return;
  size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0;
  if (col > n) col = n;
  size_t endc = col; /* inclusive byte offset of the span's end */
  if (loc.end_line == loc.line && loc.end_col > loc.col) endc = (size_t)loc.end_col - 1;
  else if (loc.end_line > loc.line && n > col) endc = n - 1;
  if (endc >= n) endc = n > col ? n - 1 : col;

  size_t lo = 0, hi = n;
  if (n > WINDOW) {
    lo = col > WINDOW / 2 ? col - WINDOW / 2 : 0;
    hi = lo + WINDOW < n ? lo + WINDOW : n;
    if (hi < n && col >= hi) hi = col + 1;
    if (endc >= hi) endc = hi > col ? hi - 1 : col;
  }
  int dcol[WINDOW + 2]; /* display column of byte lo + i */
  char line[4 * WINDOW + 16];
  size_t w = 0;
  int d = 0;
  fputs("    ", f);
  if (lo > 0) {
    fputs("...", f);
    d = 3;
  }
  const unsigned char *u = (const unsigned char *)s;
  size_t i = lo;
  while (i < hi) {
    unsigned c = u[i];
    int len = 1;
    dcol[i - lo] = d;
    if (c == '\t') line[w++] = ' ';
    else if (c >= 0x20 && c < 0x7f) line[w++] = (char)c;
    else if (c >= 0x80 && (len = utf8_len(u + i, hi - i)) > 0) {
      memcpy(line + w, u + i, (size_t)len);
      w += (size_t)len;
      for (int k = 1; k < len; k++) dcol[i - lo + (size_t)k] = d;
    } else {
      len = 1;
      line[w++] = '?';
    }
    d++;
    i += (size_t)len;
  }
  dcol[hi - lo] = d;
  fwrite(line, 1, w, f);
  if (hi < n) fputs("...", f);
  fputc('\n', f);

  int from = dcol[col - lo];
  int to = endc >= col ? dcol[endc - lo] : from;
  fputs("    ", f);
  for (int k = 0; k < from; k++) fputc(' ', f);
  fputc('^', f);
  for (int k = from + 1; k <= to; k++) fputc('~', f);
  fputc('\n', f);
}

static void report(const char *kind, Loc loc, const char *fmt, va_list ap) {
  FILE *f = out();
  char msg[sizeof last_msg];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (kind[0] == 'e') memcpy(last_msg, msg, sizeof msg);
  if (!f) return;
  fprintf(f, "%s:%d:%d: %s: %s\n", cur_src ? diag_quote_n(cur_src->path, DIAG_PATH_MAX) : "nitc", loc.line, loc.col,
          kind, msg);
  show_source(f, loc);
}

void diag_error(Loc loc, const char *fmt, ...) {
  nerrors++;
  last_shown = false;
  if (stopped) return;
  if (nerrors > DIAG_MAX_ERRORS) {
    stopped = true;
    if (out()) fprintf(out(), "nitc: too many errors (%d shown), stopping\n", DIAG_MAX_ERRORS);
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  report("error", loc, fmt, ap);
  va_end(ap);
  last_shown = true;
}

void diag_warning(Loc loc, const char *fmt, ...) {
  last_shown = !stopped;
  if (stopped) return;
  va_list ap;
  va_start(ap, fmt);
  report("warning", loc, fmt, ap);
  va_end(ap);
}

void diag_note(Loc loc, const char *fmt, ...) {
  if (!last_shown) return;
  va_list ap;
  va_start(ap, fmt);
  report("note", loc, fmt, ap);
  va_end(ap);
}

/* "nitc: KIND: message" without a location; an error's text is kept for
 * diag_last. */
static void report_plain(const char *kind, const char *fmt, va_list ap) {
  char msg[sizeof last_msg];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (kind[0] == 'e') memcpy(last_msg, msg, sizeof msg);
  if (out()) fprintf(out(), "nitc: %s: %s\n", kind, msg);
}

void diag_plain(const char *fmt, ...) {
  nerrors++;
  last_shown = false;
  va_list ap;
  va_start(ap, fmt);
  report_plain("error", fmt, ap);
  va_end(ap);
}

void diag_plain_warning(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report_plain("warning", fmt, ap);
  va_end(ap);
}

void diag_read_error(const char *path, int err) {
  const char *q = diag_quote_n(path, DIAG_PATH_MAX);
  if (err == EISDIR) diag_plain("'%s' is a directory, not a .nit file", q);
  else if (err == EFBIG) diag_plain("'%s' is too large (the limit is %u MiB)", q, SOURCE_MAX_BYTES >> 20);
  else diag_plain("cannot read '%s': %s", q, strerror(err));
}
