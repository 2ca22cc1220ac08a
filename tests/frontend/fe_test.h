/*
 * fe_test.h: helpers shared by the front-end Check suites: run the front end
 * on a string with diagnostics captured in a temporary file.
 */
#ifndef FE_TEST_H
#define FE_TEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nitc.h"

static FILE *fe_diag;          /* captured diagnostics of the last run */
static char fe_text[1 << 16];  /* their text */

static inline void fe_begin(const char *text, size_t len, Source **src) {
  mem_release();
  if (fe_diag)
    fclose(fe_diag);
  fe_diag = tmpfile();
  ck_assert_ptr_nonnull(fe_diag);
  diag_set_output(fe_diag);
  *src = source_from_mem("t.nit", text, len);
  diag_begin(*src);
}

static inline const char *fe_messages(void) {
  fflush(fe_diag);
  rewind(fe_diag);
  size_t n = fread(fe_text, 1, sizeof fe_text - 1, fe_diag);
  fe_text[n] = '\0';
  return fe_text;
}

static inline Ast *fe_parse(const char *text) {
  Source *src;
  fe_begin(text, strlen(text), &src);
  return parse_source(src);
}

static inline Model *fe_check_ov(const char *text, int batch, int weight_bits) {
  Ast *p = fe_parse(text);
  if (!p)
    return NULL;
  SemaOverrides ov = {.batch = batch, .weight_bits = weight_bits};
  return sema_check(p, &ov);
}

static inline Model *fe_check(const char *text) { return fe_check_ov(text, 0, 0); }

/* With every command-line override (recipe, master bits, ...). */
static inline Model *fe_check_with(const char *text, SemaOverrides ov) {
  Ast *p = fe_parse(text);
  if (!p)
    return NULL;
  return sema_check(p, &ov);
}

static inline const Node *fe_node(const Model *m, const char *name) {
  for (int i = 0; i < m->nnodes; i++)
    if (strcmp(m->nodes[i].name, name) == 0)
      return &m->nodes[i];
  ck_abort_msg("no node named %s", name);
  return NULL;
}

static inline int fe_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
