/*
 * parse.c: run the flex scanner and bison parser over a Source.
 * The scanner works on a copy of the bytes with an explicit length, so NUL
 * bytes and binary input are just characters it rejects with a caret.
 */
#include "nitc.h"
#include "nit.tab.h"
#include "nit.lex.h"

Ast *parse_source(const Source *src) {
  ParseState ps = {.src = src, .line = 1, .col = 1};
  yyscan_t scanner;
  if (yylex_init_extra(&ps, &scanner) != 0) diag_internal(__FILE__, __LINE__, "cannot create the scanner");
  if (src->len > SOURCE_MAX_BYTES) diag_internal(__FILE__, __LINE__, "source larger than SOURCE_MAX_BYTES");
  YY_BUFFER_STATE buf = yy_scan_bytes(src->text, (int)src->len, scanner);
  int rc = yyparse(scanner);
  yy_delete_buffer(buf, scanner);
  yylex_destroy(scanner);
  if (rc != 0 && ps.errors == 0) {
    /* bison gave up without a message (cannot happen with our yyerror) */
    ps.errors++;
    diag_error((Loc){1, 1, 1, 1}, "cannot parse this file");
  }
  if (ps.errors > 0 || rc != 0) return NULL;
  return ps.root;
}
