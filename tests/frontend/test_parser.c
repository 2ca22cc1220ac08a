/* test_parser.c: the shape of the syntax tree and syntax-error recovery. */
#include "fe_test.h"

static const char *dump(const Ast *a) {
  static char buf[4096];
  ast_dump(a, buf, sizeof buf);
  return buf;
}

START_TEST(sequential_model) {
  Ast *p = fe_parse("model m {\n input x[1, 28, 28]\n output y(10)\n conv c1(6, kernel=5, pad=2)\n relu\n"
                    " maxpool(2)\n dense f(10)\n}\n");
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(dump(p), "(program (model m (input x 1 28 28) (output y 10) (layer conv :c1 6 (= kernel 5) "
                            "(= pad 2)) (layer relu -) (layer maxpool 2) (layer dense :f 10)))");
  const Ast *conv = p->kids->kids->next->next;
  ck_assert_int_eq(conv->loc.line, 4);
  ck_assert_int_eq(conv->loc.col, 2);
  ck_assert_int_eq(conv->loc.end_col, 28);
  ck_assert_int_eq(conv->label_loc.col, 7);
}
END_TEST

START_TEST(graph_form) {
  Ast *p = fe_parse("model m { input x[4]; output y(2)\n let r = relu(conv(x, 16, kernel=3, pad=1))\n"
                    " let y = relu(x + conv c(r, 16, kernel=3) + r)\n}");
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(dump(p->kids),
                   "(model m (input x 4) (output y 2) (let r (call relu (call conv x 16 (= kernel 3) (= pad 1)))) "
                   "(let y (call relu (+ (+ x (call conv :c r 16 (= kernel 3))) r))))");
  /* '+' is left associative and located at the operator: the outer sum is
   * the second '+' */
  const Ast *add = p->kids->kids->next->next->next->lhs->kids;
  ck_assert_int_eq(add->kind, ND_ADD);
  ck_assert_int_eq(add->loc.line, 3);
  ck_assert_int_eq(add->loc.col, 43);
  ck_assert_int_eq(add->lhs->kind, ND_ADD);
  ck_assert_int_eq(add->lhs->loc.col, 17);
}
END_TEST

START_TEST(train_block) {
  Ast *p = fe_parse("train {\n data idx(\"d\")\n rounding act=pseudo err=nearest\n update bits(3) then 2 at 5\n"
                    " seed -4\n dropout 0.25\n}\nmodel m { }\n");
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(dump(p), "(program (train (setting data (call idx \"d\")) (setting rounding (= act pseudo) "
                            "(= err nearest)) (setting update (call bits 3) then 2 at 5) (setting seed -4) "
                            "(setting dropout 25e-2)) (model m))");
}
END_TEST

START_TEST(multiline_arguments_and_semicolons) {
  Ast *p = fe_parse("model m {\n  input x[1,\n          2,\n          3]\n  conv(4,\n       kernel=1); relu\n}");
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(dump(p->kids), "(model m (input x 1 2 3) (layer conv 4 (= kernel 1)) (layer relu -))");
}
END_TEST

START_TEST(recovery_reports_each_bad_statement) {
  Ast *p = fe_parse("model m {\n input x[4]\n dense(2 3)\n relu relu relu\n output y(2)\n dense(2,,)\n}\n");
  ck_assert_ptr_null(p);
  ck_assert_int_eq(diag_errors(), 3);
  const char *m = fe_messages();
  ck_assert_ptr_nonnull(strstr(m, "t.nit:3:10: error: unexpected integer '3', expecting ')' or '+' or ','\n"));
  ck_assert_ptr_nonnull(strstr(m, "t.nit:4:12: error: unexpected identifier 'relu'"));
  ck_assert_ptr_nonnull(strstr(m, "t.nit:6:10: error: unexpected ','"));
}
END_TEST

START_TEST(unclosed_block) {
  ck_assert_ptr_null(fe_parse("model m {\n input x[4]\n"));
  ck_assert_int_eq(diag_errors(), 1);
  ck_assert_str_eq(diag_last(), "unexpected end of file");
}
END_TEST

START_TEST(empty_and_blank_files) {
  Ast *p = fe_parse("");
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_null(p->kids);
  p = fe_parse("\n\n   # only a comment\n\n");
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_null(p->kids);
}
END_TEST

START_TEST(deep_nesting_is_a_clean_error) {
  /* 100,000 open parentheses: the parser stack limit, not a crash */
  size_t n = 100000;
  char *buf = malloc(n + 64);
  strcpy(buf, "model m { let a = ");
  size_t k = strlen(buf);
  memset(buf + k, '(', n);
  buf[k + n] = '\0';
  ck_assert_ptr_null(fe_parse(buf));
  ck_assert_int_eq(diag_errors(), 1);
  ck_assert_ptr_nonnull(strstr(diag_last(), "nesting too deep"));
  free(buf);
}
END_TEST

START_TEST(dump_is_bounded) {
  /* nested calls deeper than AST_MAX_DEPTH print "..." instead of recursing */
  size_t depth = 600;
  char *buf = malloc(depth * 6 + 64);
  strcpy(buf, "model m { let a = ");
  for (size_t i = 0; i < depth; i++)
    strcat(buf, "f(");
  strcat(buf, "x");
  for (size_t i = 0; i < depth; i++)
    strcat(buf, ")");
  strcat(buf, "\n}");
  Ast *p = fe_parse(buf);
  ck_assert_ptr_nonnull(p);
  static char out[1 << 15];
  ast_dump(p, out, sizeof out);
  ck_assert_ptr_nonnull(strstr(out, "..."));
  ck_assert_ptr_null(strstr(out, "x"));
  free(buf);
}
END_TEST

int main(void) {
  Suite *s = suite_create("parser");
  TCase *tc = tcase_create("parser");
  tcase_add_test(tc, sequential_model);
  tcase_add_test(tc, graph_form);
  tcase_add_test(tc, train_block);
  tcase_add_test(tc, multiline_arguments_and_semicolons);
  tcase_add_test(tc, recovery_reports_each_bad_statement);
  tcase_add_test(tc, unclosed_block);
  tcase_add_test(tc, empty_and_blank_files);
  tcase_add_test(tc, deep_nesting_is_a_clean_error);
  tcase_add_test(tc, dump_is_bounded);
  suite_add_tcase(s, tc);
  return fe_run(s);
}
