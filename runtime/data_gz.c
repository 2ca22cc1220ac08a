/*
 * data_gz.c: gzip-compressed data files, read as they are downloaded
 * (train-images-idx3-ubyte.gz, train.csv.gz, an input file for predict).
 *
 * A file whose name ends in ".gz" is read whole and inflated whole into
 * memory with zlib; the loaders then parse the inflated bytes exactly as
 * they parse the file gunzip would write, so the data set, its content hash
 * and every checkpoint's data fingerprint are the same. Several gzip
 * members one after another are one file, as for gunzip. Everything else
 * is an error naming the file and the byte offset: not gzip data, corrupt
 * or truncated compressed data, a failed check value, bytes after the last
 * member that are not another member (zeros excepted, as for gunzip), and
 * an inflated size over
 * NITRT_GZ_MAX (a hostile file could otherwise ask for any amount of
 * memory).
 *
 * zlib is a dependency of the host's runtime only. A runtime built without
 * it (the cross targets') says so and asks for the file gunzipped.
 */
#include <stdlib.h>
#include <string.h>

#ifdef NITRT_ZLIB
#include <zlib.h>
#endif

#include "nitrt.h"

bool nitrt_gz_name(const char *path) {
  size_t n = strlen(path);
  return n > 3 && strcmp(path + n - 3, ".gz") == 0;
}

#ifdef NITRT_ZLIB

/* Out of zlib's stream: grow the output to at least `need` bytes (doubling,
 * capped at NITRT_GZ_MAX + 1 so that the cap can be noticed). */
static int grow(const char *name, uint8_t **out, size_t *cap, size_t need) {
  size_t c = *cap ? *cap : 1 << 16;
  while (c < need) c *= 2;
  if (c > (size_t)NITRT_GZ_MAX + 1) c = (size_t)NITRT_GZ_MAX + 1;
  uint8_t *p = realloc(*out, c + 1); /* +1: a NUL after the data, for text */
  if (!p) {
    nitrt_error("%s: out of memory inflating it (%zu bytes)", name, c);
    return -1;
  }
  *out = p;
  *cap = c;
  return 0;
}

int nitrt_gunzip_mem(const char *name, const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  if (inlen < 2 || in[0] != 0x1f || in[1] != 0x8b) {
    nitrt_error("%s: not gzip data: expected the bytes 1f 8b at offset 0", name);
    return -1;
  }
  if (inlen > (size_t)UINT32_MAX) { /* zlib counts input in uInt */
    nitrt_error("%s: %zu compressed bytes; at most 4 GiB are read: gunzip it first", name, inlen);
    return -1;
  }
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    nitrt_error("%s: cannot start zlib: %s", name, z.msg ? z.msg : "out of memory");
    return -1;
  }
  uint8_t *buf = NULL;
  size_t cap = 0, len = 0, at = 0; /* at: offset of the member being inflated */
  int rc = -1;
  /* the last member's size mod 2^32 (the trailer's last 4 bytes), a first
     guess of the total; a member is at least 18 bytes. The trailer is not
     trusted: deflate inflates at most 1032 times, so no larger guess. */
  size_t guess = 1;
  if (inlen >= 18) {
    const uint8_t *t = in + inlen - 4;
    guess = (size_t)((uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24) + 1;
    if (guess > 1032 * inlen) guess = 1032 * inlen;
  }
  if (grow(name, &buf, &cap, guess)) goto out;
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)inlen;
  for (;;) {
    if (len == cap) {
      if (cap > (size_t)NITRT_GZ_MAX) {
        nitrt_error("%s: inflates to more than %lld bytes, the most that is read from a compressed file: gunzip "
                    "it and give the file itself",
                    name, (long long)NITRT_GZ_MAX);
        goto out;
      }
      if (grow(name, &buf, &cap, cap + 1)) goto out;
    }
    size_t room = cap - len;
    z.next_out = buf + len;
    z.avail_out = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
    uInt before = z.avail_out;
    int r = inflate(&z, Z_NO_FLUSH);
    len += before - z.avail_out;
    if (r == Z_STREAM_END) {
      size_t used = inlen - z.avail_in;
      if (z.avail_in == 0) break;
      if (z.avail_in >= 2 && z.next_in[0] == 0x1f && z.next_in[1] == 0x8b) { /* another member */
        at = used;
        if (inflateReset(&z) == Z_OK) continue;
        nitrt_error("%s: zlib cannot start the gzip member at offset %zu", name, at);
        goto out;
      }
      size_t k = 0; /* zeros after the data (tape padding), which gunzip also reads over */
      while (k < z.avail_in && z.next_in[k] == 0) k++;
      if (k == z.avail_in) break;
      nitrt_error("%s: %u bytes at offset %zu after the end of the gzip data are not another gzip member", name,
                  (unsigned)z.avail_in, used);
      goto out;
    }
    if (r == Z_OK) continue;
    if (r == Z_BUF_ERROR) { /* no progress, and there was room: the input ran out */
      nitrt_error("%s: truncated: the compressed data ends at offset %zu inside the gzip member at offset %zu", name,
                  inlen, at);
      goto out;
    }
    if (r == Z_MEM_ERROR) {
      nitrt_error("%s: out of memory inflating it", name);
      goto out;
    }
    nitrt_error("%s: corrupt gzip data near offset %zu (zlib: %s)", name, inlen - z.avail_in,
                z.msg ? z.msg : "invalid data");
    goto out;
  }
  buf[len] = 0;
  *out = buf;
  *outlen = len;
  buf = NULL;
  rc = 0;
out:
  inflateEnd(&z);
  free(buf);
  return rc;
}

#else /* no zlib: the cross targets' runtimes */

int nitrt_gunzip_mem(const char *name, const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen) {
  (void)in, (void)inlen;
  *out = NULL;
  *outlen = 0;
  nitrt_error("%s: this runtime was built without zlib and reads no compressed files: gunzip it first", name);
  return -1;
}

#endif

int nitrt_read_data(const char *path, const char *what, uint8_t **buf, size_t *len) {
  if (!nitrt_gz_name(path)) return nitrt_read_file(path, what, buf, len);
  uint8_t *z = NULL;
  size_t zlen = 0;
  if (nitrt_read_file(path, what, &z, &zlen)) return -1;
  int rc = nitrt_gunzip_mem(path, z, zlen, buf, len);
  free(z);
  return rc;
}
