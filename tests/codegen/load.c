/* load.c: a checked Model from a .nit file, for test harnesses (errors go to
 * stderr with the usual diagnostics). */
#include <stdio.h>

#include "nitc.h"

Model *nitc_load_model(const char *path, int batch, int weight_bits);

Model *nitc_load_model(const char *path, int batch, int weight_bits) {
  int err;
  Source *src = source_read(path, &err);
  if (!src) {
    diag_read_error(path, err);
    return NULL;
  }
  diag_begin(src);
  Ast *prog = parse_source(src);
  if (!prog) return NULL;
  SemaOverrides ov = {.batch = batch, .weight_bits = weight_bits};
  return sema_check(prog, &ov);
}
