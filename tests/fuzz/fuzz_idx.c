/*
 * fuzz_idx.c: libFuzzer target for the idx loader (nitrt_idx_parse), linked
 * with the fake model (1x1x6 input, 3 classes). The input is an image file
 * and a label file packed together: a 2-byte little-endian length of the
 * image part, the image file, then the label file (absent when the length
 * covers everything: unlabelled images, as predict reads them). Seeds are
 * real idx files from mkdata packed this way (tests/fuzz/run.sh).
 */
#include <stdlib.h>

#include "nitrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nitrt_silent = true;
  if (size < 2)
    return 0;
  size_t il = (size_t)(data[0] | data[1] << 8);
  const uint8_t *ib = data + 2;
  size_t rest = size - 2;
  if (il > rest)
    il = rest;
  const uint8_t *lb = il < rest ? ib + il : NULL;
  Dataset d;
  int64_t limit = (int64_t)(size % 5); /* 0 (all) or a few */
  if (nitrt_idx_parse("images", ib, il, "labels", lb, lb ? rest - il : 0, &nit_model, limit,
                      &d) == 0) {
    if (d.n < 1 || d.x == NULL || (lb && d.y == NULL))
      abort();
    for (int64_t i = 0; lb && i < d.n; i++)
      if (d.y[i] < 0 || d.y[i] >= nit_model.classes)
        abort();
    nitrt_data_free(&d);
  } else if (d.x || d.y) {
    abort(); /* a failed load leaves nothing behind */
  }
  return 0;
}
