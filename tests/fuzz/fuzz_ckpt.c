/*
 * fuzz_ckpt.c: libFuzzer target for the checkpoint parser
 * (nitrt_ckpt_parse), linked with the fake model (1x1x6 input, 3 classes,
 * batch 8). Seeds are real checkpoints written by fake_csv on CSV and idx
 * data (tests/fuzz/run.sh); most mutations break the CRC, so every fifth
 * input gets its CRC made valid first, which lets the fuzzer reach the field
 * checks. An accepted checkpoint must hold legal values only, and must
 * serialize back to the same bytes (format 2; the model name may differ, the
 * fingerprint is the model's identity; a checkpoint of an older ABI comes
 * back under the model's). The model-free reader behind
 * `inspect` (nitrt_ckpt_peek) sees every input too: it must never crash, and
 * must accept what the parser accepts, with the same fields.
 */
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nitrt_silent = true;
  const NitModel *m = &nit_model;
  uint8_t *b = malloc(size ? size : 1);
  if (!b)
    return 0;
  memcpy(b, data, size);
  if (size >= 4 && size % 5 == 0) {
    uint32_t c = nitrt_crc32(b, size - 4);
    for (int i = 0; i < 4; i++)
      b[size - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
  }
  uint8_t *params = calloc(1, (size_t)m->param_bytes);
  Ckpt c, p;
  CkptLayout l;
  int peeked = nitrt_ckpt_peek("fuzz.ckpt", b, size, &p, &l);
  if (params && nitrt_ckpt_parse("fuzz.ckpt", b, size, m, &c, params) == 0) {
    if (peeked != 0 || p.version != c.version || p.epoch != c.epoch || p.step != c.step ||
        p.param_bytes != c.param_bytes || p.q.ncols != c.q.ncols || strcmp(p.data, c.data) != 0 ||
        memcmp(&p.r, &c.r, sizeof p.r) != 0)
      abort();
    const RunRecipe *r = &c.r;
    if (r->batch < 1 || r->nsched < 1 || r->nsched > NIT_MAX_SCHED || r->holdout < 0 ||
        r->act_round < 0 || r->act_round > 2 || c.epoch > (uint32_t)r->epochs || c.ntrain < 1)
      abort();
    for (int32_t i = 0; i < r->nsched; i++)
      if (r->mu[i] < NITRT_MU_MIN || r->mu[i] > NITRT_MU_MAX)
        abort();
    if (c.version >= 2) {
      c.params = params;
      size_t len = 0;
      uint8_t *again = nitrt_ckpt_serialize(m, &c, &len);
      /* an older ABI's checkpoint (3 up to the model's) is written back
       * under the model's ABI, bytes 12..15; everything else is the same */
      if (again && len >= 16) {
        uint32_t abi = (uint32_t)again[12] | (uint32_t)again[13] << 8 | (uint32_t)again[14] << 16 |
                       (uint32_t)again[15] << 24;
        if (abi != m->abi)
          abort();
        memcpy(again + 12, b + 12, 4);
      }
      if (!again || len != size || memcmp(again, b, 32) != 0 ||
          memcmp(again + 96, b + 96, size - 96 - 4) != 0)
        abort();
      free(again);
    }
    nitrt_ckpt_free(&c);
  }
  nitrt_ckpt_free(&p);
  free(params);
  free(b);
  return 0;
}
