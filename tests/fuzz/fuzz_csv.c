/*
 * fuzz_csv.c: libFuzzer target for the CSV loader (nitrt_csv_parse), linked
 * with the fake model (1x1x6 input, 3 classes). Each input is read as a
 * training set (labels, shifts derived), then again as predict input with
 * the derived shifts and with the pixel rule. Invariants: every shift is in
 * range, every quantized value in [-127, 127], a failed load leaves nothing.
 */
#include <stdlib.h>

#include "nitrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const Dataset *d) {
  int64_t dim = nitrt_model_dim(&nit_model);
  if (d->n < 1 || !d->x)
    abort();
  for (int64_t i = 0; i < d->n * dim; i++)
    if (d->x[i] < -127)
      abort();
  if (d->q.kind == NITRT_QUANT_COLUMNS)
    for (int64_t k = 0; k < d->q.ncols; k++)
      if (d->q.shift[k] < NITRT_SHIFT_MIN || d->q.shift[k] > NITRT_SHIFT_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nitrt_silent = true;
  Dataset tr, p;
  int64_t limit = (int64_t)(size % 4);
  if (nitrt_csv_parse("train.csv", data, size, &nit_model, limit, true, NULL, &tr) != 0) {
    if (tr.x || tr.y || tr.q.shift)
      abort();
    return 0;
  }
  check(&tr);
  for (int64_t i = 0; i < tr.n; i++)
    if (tr.y[i] < 0 || tr.y[i] >= nit_model.classes)
      abort();
  if (nitrt_csv_parse("input.csv", data, size, &nit_model, 0, false, &tr.q, &p) == 0) {
    check(&p);
    nitrt_data_free(&p);
  }
  InputQuant px;
  nitrt_quant_pixels(&px);
  if (nitrt_csv_parse("input.csv", data, size, &nit_model, 0, false, &px, &p) == 0) {
    check(&p);
    nitrt_data_free(&p);
  }
  nitrt_data_free(&tr);
  return 0;
}
