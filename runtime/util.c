/*
 * util.c: messages, checked allocation, file access that never blocks, and
 * the clock.
 *
 * Every user-facing failure is one line on stderr, "prog: error: ...", naming
 * the file and the problem; callers then return -1 up to main.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nearname.h"
#include "nitrt.h"

const char *nitrt_prog = "nitrt";
bool nitrt_silent = false;
int32_t nitrt_msg_rank = 0;

/* A rank other than 0 holds its first error until nitrt_msg_release. */
static char held[1024];
static bool holding;

void nitrt_msg_release(bool print) {
  if (holding && print) {
    fprintf(stderr, "%s: error: rank %d: %s\n", nitrt_prog, (int)nitrt_msg_rank, held);
    fflush(stderr);
  }
  holding = false;
}

void nitrt_defang(char *s) {
  for (unsigned char *u = (unsigned char *)s; *u; u++)
    if (*u < 0x20 || *u == 0x7f) *u = '?';
    else if (*u == 0xc2 && u[1] >= 0x80 && u[1] < 0xa0) u[0] = u[1] = '?';
}

static void vmessage(const char *kind, const char *fmt, va_list ap) {
  if (nitrt_silent) return;
  /* rank 0 has the same warnings; other ranks' first error waits (mpi.c) */
  if (nitrt_msg_rank > 0 && (kind[0] != 'e' || holding)) return;
  char text[8192];
  int len = vsnprintf(text, sizeof text, fmt, ap);
  if (len < 0) text[0] = '\0';
  else if (len >= (int)sizeof text) memcpy(text + sizeof text - 4, "...", 4); /* cut, and says so */
  nitrt_defang(text);
  if (nitrt_msg_rank > 0) {
    snprintf(held, sizeof held, "%s", text);
    holding = true;
    return;
  }
  fflush(stdout);
  fprintf(stderr, "%s: %s: %s\n", nitrt_prog, kind, text);
}

void nitrt_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage("error", fmt, ap);
  va_end(ap);
}

void nitrt_warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage("warning", fmt, ap);
  va_end(ap);
}

/* From BIG bytes (data sets: MNIST's training images are 47 MB) the block
 * is aligned to and asks for 2 MiB pages where the kernel gives them on
 * request (transparent huge pages in "madvise" mode): first touches fault
 * once per 2 MiB instead of once per 4 KiB, and the steps' gathers of
 * random samples miss the TLB less. Still zeroed, still freed by free(). */
enum { BIG = 4 << 20, HUGE_PAGE = 2 << 20 };

void *nitrt_alloc(size_t bytes) {
  void *p = NULL;
  if (bytes >= BIG) {
    if (posix_memalign(&p, HUGE_PAGE, bytes)) p = NULL;
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
#endif
    if (p) memset(p, 0, bytes);
  } else {
    p = calloc(1, bytes ? bytes : 1);
  }
  if (!p) nitrt_error("out of memory (%zu bytes)", bytes);
  return p;
}

/* Fresh anonymous pages: zero, page-aligned, and resident only once touched,
 * so the slices of the work slab reserved for workers that never run (and
 * scratch a short batch never reaches) cost no memory. */
void *nitrt_alloc_aligned(size_t bytes) {
  size_t n = bytes ? bytes : 1;
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    nitrt_error("out of memory (%zu bytes)", n);
    return NULL;
  }
  return p;
}

void nitrt_free_aligned(void *p, size_t bytes) {
  if (p) munmap(p, bytes ? bytes : 1);
}

/* What a non-regular file is, for messages. */
static const char *kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

const char *nitrt_nonregular(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return NULL;
  return kind_of(st.st_mode);
}

int nitrt_check_regular(const char *path, const char *what) {
  struct stat st;
  if (stat(path, &st) != 0) {
    nitrt_error("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    nitrt_error("%s: is %s, expected %s (a regular file)", path, kind_of(st.st_mode), what);
    return -1;
  }
  return 0;
}

/* The file is checked by name first, so a FIFO or a device is refused
 * without opening it; O_NONBLOCK keeps the open itself from blocking if the
 * name was swapped for a FIFO in between, and fstat on the descriptor
 * decides for good. Reading a regular file never blocks, so the flag can
 * stay on. */
int nitrt_open_regular(const char *path, const char *what, int64_t *size) {
  if (nitrt_check_regular(path, what)) return -1;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    nitrt_error("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    nitrt_error("%s: is %s, expected %s (a regular file)", path, kind_of(st.st_mode), what);
    close(fd);
    return -1;
  }
  *size = (int64_t)st.st_size;
  return fd;
}

int nitrt_read_file(const char *path, const char *what, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  int64_t size = 0;
  int fd = nitrt_open_regular(path, what, &size);
  if (fd < 0) return -1;
  if ((uint64_t)size >= SIZE_MAX / 2) {
    nitrt_error("%s: too large to read (%lld bytes)", path, (long long)size);
    close(fd);
    return -1;
  }
  size_t n = (size_t)size;
  uint8_t *p = calloc(1, n + 1); /* +1: a NUL after the data, for text */
  if (!p) {
    nitrt_error("%s: out of memory reading %zu bytes", path, n);
    close(fd);
    return -1;
  }
  int rc = nitrt_pread_all(fd, path, 0, p, n);
  close(fd);
  if (rc) {
    free(p);
    return -1;
  }
  *buf = p;
  *len = n;
  return 0;
}

int nitrt_pread_all(int fd, const char *path, int64_t off, uint8_t *dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, dst + got, n - got, (off_t)(off + (int64_t)got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      nitrt_error("%s: read error: %s", path, strerror(errno));
      return -1;
    }
    if (r == 0) {
      nitrt_error("%s: read error: the file shrank to %lld bytes while being read", path,
                  (long long)(off + (int64_t)got));
      return -1;
    }
    got += (size_t)r;
  }
  return 0;
}

/* O_NONBLOCK for the open only: a FIFO nobody reads fails with ENXIO
 * instead of blocking; a FIFO with a reader (a live monitor) then gets
 * ordinary blocking writes. */
FILE *nitrt_open_log(const char *path, bool append) {
  int fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd < 0) {
    if (errno == ENXIO) nitrt_error("%s: cannot open log file for writing: a FIFO that no process reads", path);
    else nitrt_error("%s: cannot open log file for writing: %s", path, strerror(errno));
    return NULL;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  FILE *f = fdopen(fd, append ? "a" : "w");
  if (!f) {
    nitrt_error("%s: cannot open log file for writing: %s", path, strerror(errno));
    close(fd);
  }
  return f;
}

void nitrt_abspath(const char *path, char *out, size_t cap) {
  char *r = realpath(path, NULL);
  const char *use = r ? r : path;
  if (strlen(use) < cap) memcpy(out, use, strlen(use) + 1);
  else out[0] = '\0'; /* too long to record: unknown */
  free(r);
}

void nitrt_close(int fd) {
  while (close(fd) != 0 && errno == EINTR) {}
}

bool nitrt_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int64_t nitrt_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static int utf8_len(const unsigned char *s) {
  unsigned c = s[0];
  int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n <= 1) return n;
  uint32_t cp = c & (0x7Fu >> n);
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
    cp = cp << 6 | (s[i] & 0x3Fu);
  }
  static const uint32_t MIN[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < MIN[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void nitrt_json_str(FILE *f, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  fputc('"', f);
  while (*s) {
    if (*s == '"' || *s == '\\') {
      fputc('\\', f);
      fputc(*s++, f);
    } else if (*s < 0x20 || *s == 0x7F) {
      fprintf(f, "\\u%04x", *s++);
    } else {
      int n = utf8_len(s);
      if (n == 0) {
        fputs("\\ufffd", f);
        s++;
      } else {
        fwrite(s, 1, (size_t)n, f);
        s += n;
      }
    }
  }
  fputc('"', f);
}

int nitrt_term_cols(int fd) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  const char *c = getenv("COLUMNS");
  if (c && *c) {
    long v = 0;
    for (; *c >= '0' && *c <= '9' && v < 100000; c++) v = v * 10 + (*c - '0');
    if (*c == '\0' && v > 0 && v < 100000) return (int)v;
  }
  return 80;
}

int nitrt_edit_distance(const char *a, const char *b) { return nit_edit_distance(a, b); }

bool nitrt_close_to(const char *typed, const char *cand) { return nit_close_to(typed, cand); }
