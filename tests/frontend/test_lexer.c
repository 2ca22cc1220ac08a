/* test_lexer.c: token kinds, values and locations from the flex scanner. */
#include "fe_test.h"
#include "nit.tab.h"
#include "nit.lex.h"

typedef struct Tok {
  int kind;
  YYSTYPE val;
  YYLTYPE loc;
} Tok;

/* Scan text into toks; returns the count (the final 0 token included). */
static int scan(const char *text, size_t len, Tok *toks, int max, ParseState *ps) {
  Source *src;
  fe_begin(text, len, &src);
  *ps = (ParseState){.src = src, .line = 1, .col = 1};
  yyscan_t sc;
  ck_assert_int_eq(yylex_init_extra(ps, &sc), 0);
  YY_BUFFER_STATE b = yy_scan_bytes(src->text, (int)src->len, sc);
  int n = 0;
  for (;;) {
    ck_assert_int_lt(n, max);
    toks[n].kind = yylex(&toks[n].val, &toks[n].loc, sc);
    if (toks[n++].kind == 0)
      break;
  }
  yy_delete_buffer(b, sc);
  yylex_destroy(sc);
  return n;
}

#define LOC(t, l1, c1, l2, c2)                  \
  do {                                          \
    ck_assert_int_eq((t).loc.first_line, l1);   \
    ck_assert_int_eq((t).loc.first_column, c1); \
    ck_assert_int_eq((t).loc.last_line, l2);    \
    ck_assert_int_eq((t).loc.last_column, c2);  \
  } while (0)

START_TEST(kinds_and_locations) {
  Tok t[64];
  ParseState ps;
  const char *src = "model lenet5 {\n  conv c1(6, kernel=5)\n}\n";
  int n = scan(src, strlen(src), t, 64, &ps);
  int want[] = {MODEL, IDENT, '{', IDENT, IDENT, '(', INT, ',', IDENT, '=', INT, ')', NL, '}', NL, 0};
  ck_assert_int_eq(n, (int)(sizeof want / sizeof want[0]));
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(t[i].kind, want[i]);
  LOC(t[0], 1, 1, 1, 5);             /* model */
  LOC(t[1], 1, 7, 1, 12);            /* lenet5 */
  ck_assert_str_eq(t[1].val.str, "lenet5");
  LOC(t[3], 2, 3, 2, 6);             /* conv */
  LOC(t[6], 2, 11, 2, 11);           /* 6 */
  ck_assert_int_eq(t[6].val.ival, 6);
  LOC(t[8], 2, 14, 2, 19);           /* kernel */
  LOC(t[12], 2, 23, 2, 23);          /* the newline after ')' */
  LOC(t[13], 3, 1, 3, 1);
  ck_assert_int_eq(ps.errors, 0);
}
END_TEST

START_TEST(newlines_skipped_after_openers) {
  /* a newline after '{' ',' '(' '=' '+' or another newline is not a token;
   * comments vanish */
  Tok t[64];
  ParseState ps;
  const char *src = "\n\n# c\ntrain {\n  f(1,\n    2) # x\n\n\n  a = \n b\n}";
  int n = scan(src, strlen(src), t, 64, &ps);
  int want[] = {TRAIN, '{', IDENT, '(', INT, ',', INT, ')', NL, IDENT, '=', IDENT, NL, '}', 0};
  ck_assert_int_eq(n, (int)(sizeof want / sizeof want[0]));
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(t[i].kind, want[i]);
  LOC(t[0], 4, 1, 4, 5);
  LOC(t[6], 6, 5, 6, 5);
  /* end of file points just past the last token */
  LOC(t[n - 1], 11, 2, 11, 2);
}
END_TEST

START_TEST(keywords_vs_identifiers) {
  Tok t[16];
  ParseState ps;
  int n = scan("input inputs let letter output model_ train", 43, t, 16, &ps);
  int want[] = {INPUT, IDENT, LET, IDENT, OUTPUT, IDENT, TRAIN, 0};
  ck_assert_int_eq(n, 8);
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(t[i].kind, want[i]);
  ck_assert_str_eq(t[5].val.str, "model_");
}
END_TEST

START_TEST(numbers) {
  Tok t[16];
  ParseState ps;
  int n = scan("0 0.25 9223372036854775807 1.5 0.000000001", 42, t, 16, &ps);
  ck_assert_int_eq(n, 6);
  ck_assert_int_eq(t[0].kind, INT);
  ck_assert_int_eq(t[0].val.ival, 0);
  ck_assert_int_eq(t[1].kind, DECIMAL);
  ck_assert_int_eq(t[1].val.dec.num, 25);
  ck_assert_int_eq(t[1].val.dec.scale, 2);
  ck_assert_int_eq(t[2].kind, INT);
  ck_assert(t[2].val.ival == INT64_MAX);
  ck_assert_int_eq(t[3].val.dec.num, 15);
  ck_assert_int_eq(t[3].val.dec.scale, 1);
  ck_assert_int_eq(t[4].val.dec.num, 1);
  ck_assert_int_eq(t[4].val.dec.scale, 9);
  ck_assert_int_eq(ps.errors, 0);
}
END_TEST

START_TEST(number_overflow) {
  Tok t[8];
  ParseState ps;
  int n = scan("9223372036854775808", 19, t, 8, &ps);
  ck_assert_int_eq(n, 2);
  ck_assert_int_eq(ps.errors, 1);
  ck_assert_str_eq(diag_last(), "integer literal is too large");
  ck_assert_ptr_nonnull(strstr(fe_messages(), "t.nit:1:1: error: integer literal is too large\n"));
}
END_TEST

START_TEST(strings) {
  Tok t[8];
  ParseState ps;
  int n = scan("\"data/mnist\" \"a\\\"b\\\\\"", 21, t, 8, &ps);
  ck_assert_int_eq(n, 3);
  ck_assert_int_eq(t[0].kind, STRING);
  ck_assert_str_eq(t[0].val.str, "data/mnist");
  ck_assert_str_eq(t[1].val.str, "a\"b\\");
  LOC(t[1], 1, 14, 1, 21);
  ck_assert_int_eq(ps.errors, 0);
  scan("\"open\n", 6, t, 8, &ps);
  ck_assert_int_eq(ps.errors, 1);
  ck_assert_ptr_nonnull(strstr(diag_last(), "unterminated string"));
}
END_TEST

START_TEST(bad_bytes) {
  Tok t[16];
  ParseState ps;
  /* NUL, a control byte, '@', an invalid UTF-8 run: four errors, tokens go on */
  int n = scan("a\0b\x01 @ \xff\xfe c", 11, t, 16, &ps);
  int want[] = {IDENT, IDENT, IDENT, 0};
  ck_assert_int_eq(n, 4);
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(t[i].kind, want[i]);
  LOC(t[2], 1, 11, 1, 11);
  const char *m = fe_messages();
  ck_assert_msg(ps.errors == 4, "%s", m);
  ck_assert_ptr_nonnull(strstr(m, "t.nit:1:2: error: unexpected byte 0x00\n"));
  ck_assert_ptr_nonnull(strstr(m, "t.nit:1:4: error: unexpected byte 0x01\n"));
  ck_assert_ptr_nonnull(strstr(m, "t.nit:1:6: error: unexpected character '@'\n"));
  ck_assert_ptr_nonnull(strstr(m, "t.nit:1:8: error: unexpected non-ASCII characters\n"));
  /* the source line is printed with '?' for the bad bytes */
  ck_assert_ptr_nonnull(strstr(m, "    a?b? @ ?? c\n"));
}
END_TEST

START_TEST(long_identifier) {
  static char buf[5000];
  memset(buf, 'q', 4000);
  Tok t[4];
  ParseState ps;
  int n = scan(buf, 4000, t, 4, &ps);
  ck_assert_int_eq(n, 2);
  ck_assert_int_eq(ps.errors, 1);
  ck_assert_uint_eq(strlen(t[0].val.str), IDENT_MAX_LEN);
  LOC(t[0], 1, 1, 1, 4000);
}
END_TEST

START_TEST(error_cap_stops_scanner) {
  /* 100 bad characters: the scanner stops after the cap */
  static char buf[101];
  memset(buf, '$', 100);
  Tok t[8];
  ParseState ps;
  int n = scan(buf, 100, t, 8, &ps);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(ps.errors, DIAG_MAX_ERRORS + 1);
  ck_assert(diag_stopped());
  ck_assert_ptr_nonnull(strstr(fe_messages(), "nitc: too many errors (20 shown), stopping\n"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("lexer");
  TCase *tc = tcase_create("lexer");
  tcase_add_test(tc, kinds_and_locations);
  tcase_add_test(tc, newlines_skipped_after_openers);
  tcase_add_test(tc, keywords_vs_identifiers);
  tcase_add_test(tc, numbers);
  tcase_add_test(tc, number_overflow);
  tcase_add_test(tc, strings);
  tcase_add_test(tc, bad_bytes);
  tcase_add_test(tc, long_identifier);
  tcase_add_test(tc, error_cap_stops_scanner);
  suite_add_tcase(s, tc);
  return fe_run(s);
}
