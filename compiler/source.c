/*
 * source.c: reading .nit files into memory, and the front end's arena.
 *
 * A Source is the whole file in one buffer, NUL-terminated, so the scanner can
 * work on bytes with a known length (NUL bytes inside the file are ordinary
 * bytes to it). Line lookup for diagnostics scans from the start: the number
 * of diagnostics is capped, so this stays linear in practice.
 *
 * The arena is a list of blocks; big requests get a block of their own. The
 * compiler never frees; tests and the fuzzer call mem_release() after a run.
 *
 * Layering: this file is the bottom of the front end and calls nothing else
 * in it. diag.c sits above (it prints source lines and quotes into the
 * arena), so a file that cannot be read is returned as an errno value for
 * the caller to report (diag_read_error), and running out of memory stops
 * the process here, in the same words as diag_internal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitc.h"

/* The arena cannot report through diag.c (diag.c allocates here). */
static _Noreturn void out_of_memory(int line) {
  fflush(stdout);
  fprintf(stderr, "nitc: internal error at %s:%d: out of memory\n", __FILE__, line);
  exit(2);
}

typedef struct Block Block;
struct Block {
  Block *next;
  size_t used, size;
  _Alignas(16) unsigned char data[];
};

enum { BLOCK_SIZE = 64 * 1024 };
static Block *blocks;

void *mem_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  if (!blocks || blocks->size - blocks->used < n) {
    size_t size = n > BLOCK_SIZE / 4 ? n : BLOCK_SIZE;
    if (size > SIZE_MAX - sizeof(Block)) out_of_memory(__LINE__);
    Block *b = malloc(sizeof(Block) + size);
    if (!b) out_of_memory(__LINE__);
    b->size = size;
    b->used = 0;
    if (size == BLOCK_SIZE || !blocks) {
      b->next = blocks;
      blocks = b;
    } else {
      /* a big block: keep the current small block in front for reuse */
      b->next = blocks->next;
      blocks->next = b;
      b->used = n;
      memset(b->data, 0, n);
      return b->data;
    }
  }
  void *p = blocks->data + blocks->used;
  blocks->used += n;
  memset(p, 0, n);
  return p;
}

char *mem_strndup(const char *s, size_t n) {
  char *p = mem_alloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *mem_strdup(const char *s) { return mem_strndup(s, strlen(s)); }

void mem_release(void) {
  while (blocks) {
    Block *next = blocks->next;
    free(blocks);
    blocks = next;
  }
}

Source *source_from_mem(const char *name, const char *buf, size_t len) {
  Source *src = mem_alloc(sizeof *src);
  src->path = mem_strdup(name);
  src->text = mem_alloc(len + 1);
  if (len) memcpy(src->text, buf, len);
  src->text[len] = '\0';
  src->len = len;
  return src;
}

Source *source_read(const char *path, int *err) {
  struct stat st;
  if (stat(path, &st) != 0) {
    *err = errno;
    return NULL;
  }
  if (S_ISDIR(st.st_mode)) {
    *err = EISDIR;
    return NULL;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    *err = errno;
    return NULL;
  }
  /* Read in chunks rather than trusting st_size (pipes, /dev/stdin). */
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) out_of_memory(__LINE__);
  for (;;) {
    if (len == cap) {
      if (cap >= SOURCE_MAX_BYTES) {
        free(buf);
        fclose(f);
        *err = EFBIG;
        return NULL;
      }
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (!nb) out_of_memory(__LINE__);
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  int e = errno;
  fclose(f);
  if (bad) {
    free(buf);
    *err = e ? e : EIO;
    return NULL;
  }
  Source *src = source_from_mem(path, buf, len);
  free(buf);
  return src;
}

bool source_line(const Source *src, int line, const char **start, size_t *len) {
  if (!src || line < 1) return false;
  const char *p = src->text, *end = src->text + src->len;
  for (int l = 1; l < line; l++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return false;
    p = nl + 1;
  }
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  *start = p;
  *len = (size_t)((nl ? nl : end) - p);
  return true;
}
