/* load.c: a checked Model from a .nit file, for test harnesses (errors go to
 * stderr with the usual diagnostics). */
#include <stdio.h>

#include "nitc.h"

Model *nitc_load_model(const char *path, int batch, int weight_bits);

Model *nitc_load_model(const char *path, int batch, int weight_bits) {
  Source *src = source_read(path);
  if (!src) return NULL;
  diag_begin(src);
  Ast *prog = parse_source(src);
  if (!prog) return NULL;
  SemaOverrides ov = {batch, weight_bits};
  return sema_check(prog, &ov);
}
