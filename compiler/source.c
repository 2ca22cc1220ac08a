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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitc.h"

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
  if (n == 0)
    n = 16;
  if (!blocks || blocks->size - blocks->used < n) {
    size_t size = n > BLOCK_SIZE / 4 ? n : BLOCK_SIZE;
    if (size > SIZE_MAX - sizeof(Block))
      diag_internal(__FILE__, __LINE__, "out of memory");
    Block *b = malloc(sizeof(Block) + size);
    if (!b)
      diag_internal(__FILE__, __LINE__, "out of memory");
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
  if (len)
    memcpy(src->text, buf, len);
  src->text[len] = '\0';
  src->len = len;
  return src;
}

Source *source_read(const char *path) {
  struct stat st;
  const char *q = diag_quote_n(path, DIAG_PATH_MAX);
  if (stat(path, &st) != 0) {
    diag_plain("cannot read '%s': %s", q, strerror(errno));
    return NULL;
  }
  if (S_ISDIR(st.st_mode)) {
    diag_plain("'%s' is a directory, not a .nit file", q);
    return NULL;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    diag_plain("cannot read '%s': %s", q, strerror(errno));
    return NULL;
  }
  /* Read in chunks rather than trusting st_size (pipes, /dev/stdin). */
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf)
    diag_internal(__FILE__, __LINE__, "out of memory");
  for (;;) {
    if (len == cap) {
      if (cap >= SOURCE_MAX_BYTES) {
        free(buf);
        fclose(f);
        diag_plain("'%s' is too large (the limit is %u MiB)", q, SOURCE_MAX_BYTES >> 20);
        return NULL;
      }
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (!nb)
        diag_internal(__FILE__, __LINE__, "out of memory");
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0)
      break;
  }
  int bad = ferror(f);
  int err = errno;
  fclose(f);
  if (bad) {
    free(buf);
    diag_plain("cannot read '%s': %s", q, strerror(err));
    return NULL;
  }
  Source *src = source_from_mem(path, buf, len);
  free(buf);
  return src;
}

bool source_line(const Source *src, int line, const char **start, size_t *len) {
  if (!src || line < 1)
    return false;
  const char *p = src->text, *end = src->text + src->len;
  for (int l = 1; l < line; l++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
      return false;
    p = nl + 1;
  }
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  *start = p;
  *len = (size_t)((nl ? nl : end) - p);
  return true;
}
