/*
 * fuzz_cifar.c: libFuzzer target for the CIFAR-10 binary loader
 * (nitrt_cifar_parse), linked with the fake model in CIFAR shape (3x32x32,
 * 10 classes). Seeds are real batch files from mkdata (tests/fuzz/run.sh).
 */
#include <stdlib.h>

#include "nitrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nitrt_silent = true;
  Dataset d;
  int64_t limit = (int64_t)(size % 3);
  if (nitrt_cifar_parse("batch.bin", data, size, &nit_model, limit, &d) == 0) {
    if (d.n < 1 || !d.x || !d.y)
      abort();
    for (int64_t i = 0; i < d.n; i++)
      if (d.y[i] < 0 || d.y[i] >= nit_model.classes)
        abort();
    nitrt_data_free(&d);
  } else if (d.x || d.y) {
    abort();
  }
  return 0;
}
