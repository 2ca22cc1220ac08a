/*
 * fuzz_frontend.c: libFuzzer target for the front end. Scans, parses and
 * checks arbitrary bytes with diagnostics discarded, then releases the arena
 * so every run starts clean (and leaks would show).
 */
#include <stddef.h>
#include <stdint.h>

#include "nitc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > SOURCE_MAX_BYTES)
    return 0;
  diag_set_output(NULL);
  Source *src = source_from_mem("fuzz.nit", (const char *)data, size);
  diag_begin(src);
  Ast *prog = parse_source(src);
  if (prog) {
    SemaOverrides ov = {.batch = size % 3 == 0 ? 1 + (int)(size % 65536) : 0};
    sema_check(prog, &ov);
  }
  mem_release();
  return 0;
}
