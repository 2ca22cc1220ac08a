/*
 * util.c: messages, checked allocation, whole-file reads and the clock.
 *
 * Every user-facing failure is one line on stderr, "prog: error: ...", naming
 * the file and the problem; callers then return -1 up to main.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "nitrt.h"

const char *nitrt_prog = "nitrt";

static void vmessage(const char *kind, const char *fmt, va_list ap) {
  fflush(stdout);
  fprintf(stderr, "%s: %s: ", nitrt_prog, kind);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
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

void *nitrt_alloc(size_t bytes) {
  void *p = calloc(1, bytes ? bytes : 1);
  if (!p)
    nitrt_error("out of memory (%zu bytes)", bytes);
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
  if (p)
    munmap(p, bytes ? bytes : 1);
}

int nitrt_read_file(const char *path, uint8_t **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    nitrt_error("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    nitrt_error("%s: not a regular file", path);
    fclose(f);
    return -1;
  }
  size_t n = (size_t)st.st_size;
  uint8_t *p = nitrt_alloc(n + 1);
  if (!p) {
    fclose(f);
    return -1;
  }
  size_t got = fread(p, 1, n, f);
  int bad = ferror(f);
  fclose(f);
  if (got != n || bad) {
    nitrt_error("%s: read error", path);
    free(p);
    return -1;
  }
  *buf = p;
  *len = n;
  return 0;
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
