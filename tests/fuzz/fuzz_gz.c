/*
 * fuzz_gz.c: libFuzzer target for the gzip reader (nitrt_gunzip_mem), and
 * the idx parser behind it, linked with the fake model (1x1x6 input, 3
 * classes). The input is a gzip file; seeds are gzipped idx files from
 * mkdata, one of two members (tests/fuzz/run_runtime.sh). Whatever it
 * inflates to must be a buffer of the length told, NUL after it; a failure
 * leaves nothing behind.
 */
#include <stdlib.h>

#include "nitrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nitrt_silent = true;
  uint8_t *out = (uint8_t *)1;
  size_t len = 1;
  if (nitrt_gunzip_mem("fuzz.gz", data, size, &out, &len) != 0) {
    if (out || len) abort();
    return 0;
  }
  if (!out || out[len] != 0) abort();
  Dataset d;
  if (nitrt_idx_parse("images", out, len, NULL, NULL, 0, &nit_model, 0, &d) == 0) nitrt_data_free(&d);
  free(out);
  return 0;
}
