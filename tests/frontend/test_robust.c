/*
 * test_robust.c: hostile inputs. Each case runs the front end in-process (so
 * ASan/UBSan see it) and must end in clean diagnostics: no crash, no hang,
 * bounded output. The file-level cases run the nitc binary and check its exit
 * status and message. Big inputs are generated here, never committed.
 * usage: test_robust NITC WORKDIR
 */
#define _POSIX_C_SOURCE 200809L
#include <sys/stat.h>
#include <sys/wait.h>

#include "fe_test.h"

static const char *nitc_path, *work_dir;

/* Run parse + sema on bytes; returns the number of errors. */
static int front(const char *text, size_t len) {
  Source *src;
  fe_begin(text, len, &src);
  Ast *p = parse_source(src);
  if (p)
    sema_check(p, NULL);
  return diag_errors();
}

static char *repeat(const char *head, const char *unit, size_t times, const char *tail, size_t *len) {
  size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
  char *buf = malloc(hl + ul * times + tl + 1);
  ck_assert_ptr_nonnull(buf);
  memcpy(buf, head, hl);
  for (size_t i = 0; i < times; i++)
    memcpy(buf + hl + i * ul, unit, ul);
  memcpy(buf + hl + ul * times, tail, tl + 1);
  *len = hl + ul * times + tl;
  return buf;
}

START_TEST(nul_bytes_and_binary) {
  static const char nul[] = "model m {\n input x[4]\0\n output y(2)\n dense(2)\n}\n";
  ck_assert_int_eq(front(nul, sizeof nul - 1), 1);
  ck_assert_str_eq(diag_last(), "unexpected byte 0x00");
  /* 64 KiB of deterministic pseudo-random bytes */
  size_t n = 1 << 16;
  unsigned char *buf = malloc(n);
  uint32_t x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (unsigned char)(x >> 16);
  }
  ck_assert_int_gt(front((const char *)buf, n), 0);
  ck_assert(strlen(fe_messages()) < 20000);  /* capped */
  free(buf);
}
END_TEST

START_TEST(deep_nesting_every_bracket) {
  static const char *const units[] = {"(", "[", "{", "relu(", "x + (", "idx("};
  static const char *const heads[] = {"model m { input x[4]; output y(2); let a = ", "model m { input x",
                                      "model m ", "model m { input x[4]; output y(2); let a = ",
                                      "model m { input x[4]; output y(2); let a = ", "train { data "};
  for (int i = 0; i < 6; i++) {
    size_t len;
    char *buf = repeat(heads[i], units[i], 100000, "", &len);
    ck_assert_int_ge(front(buf, len), 1);
    free(buf);
  }
  /* closed nesting inside the parser limit but beyond sema's limit */
  size_t len;
  char *buf = repeat("model m { input x[4]; output y(4); let a = ", "(", 1500, "x", &len);
  char *full = malloc(len + 1600);
  strcpy(full, buf);
  for (int i = 0; i < 1500; i++)
    strcat(full, ")");
  strcat(full, "; dense(4) }");
  ck_assert_int_eq(front(full, strlen(full)), 0);  /* plain parentheses add no depth */
  free(full);
  free(buf);
}
END_TEST

START_TEST(long_sums_and_many_layers) {
  size_t len;
  /* a 100,000-term sum is a left-deep tree: sema stops at its depth limit */
  char *buf = repeat("model m { input x[4]; output y(4); let a = x", " + x", 100000, "; dense(4) }", &len);
  ck_assert_int_eq(front(buf, len), 1);
  ck_assert_str_eq(diag_last(), "expression nested too deeply (the limit is 256 levels)");
  free(buf);
  /* 200,000 layers is a valid (if silly) model */
  buf = repeat("model m { input x[4]; output y(4)\n", "relu\n", 200000, "dense(4)\n}\n", &len);
  Source *src;
  fe_begin(buf, len, &src);
  Ast *p = parse_source(src);
  ck_assert_ptr_nonnull(p);
  Model *m = sema_check(p, NULL);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->nnodes, 200002);
  ck_assert_str_eq(m->nodes[200000].name, "relu200000");
  free(buf);
  /* 50,000 let names */
  char *big = malloc(50000 * 40 + 100);
  strcpy(big, "model m { input x[4]; output y(4)\n let v0 = relu(x)\n");
  size_t k = strlen(big);
  for (int i = 1; i < 50000; i++)
    k += (size_t)sprintf(big + k, " let v%d = relu(v%d)\n", i, i - 1);
  strcpy(big + k, " dense(4)\n}\n");
  ck_assert_int_eq(front(big, strlen(big)), 0);
  free(big);
}
END_TEST

START_TEST(huge_identifiers_lines_and_numbers) {
  size_t len;
  char *buf = repeat("model ", "a", 1 << 20, " { }", &len);
  ck_assert_int_eq(front(buf, len), 1);
  ck_assert_str_eq(diag_last(), "identifier is too long (the limit is 256 characters)");
  /* the printed source line is cut to a window */
  ck_assert(strlen(fe_messages()) < 1000);
  free(buf);
  buf = repeat("model m { input x[4]; output y(2); dense(2); ", "relu ", 200000, "}", &len);
  ck_assert_int_eq(front(buf, len), 1);
  ck_assert(strlen(fe_messages()) < 1000);
  free(buf);
  buf = repeat("model m { input x[", "9", 5000, "]; output y(2); dense(2) }", &len);
  ck_assert_int_eq(front(buf, len), 1);
  ck_assert_str_eq(diag_last(), "integer literal is too large");
  free(buf);
  ck_assert_int_eq(front("model m { input x[2147483647, 2147483647, 2147483647]; output y(2); dense(2) }", 78), 3);
  ck_assert_int_eq(front("model m { input x[1, 0, -5]; output y(0); dense(-1) }", 53), 3);
  /* the input failed, so nothing after it is checked */
}
END_TEST

START_TEST(thousands_of_errors) {
  size_t len;
  char *buf = repeat("model m {\n", "  conv c(,,)\n", 5000, "}\n", &len);
  ck_assert_int_eq(front(buf, len), DIAG_MAX_ERRORS + 1);  /* the scanner stops at the cap */
  ck_assert(strstr(fe_messages(), "too many errors (20 shown), stopping") != NULL);
  free(buf);
  buf = repeat("", "\x01", 5000, "", &len);
  ck_assert_int_eq(front(buf, len), DIAG_MAX_ERRORS + 1);
  free(buf);
}
END_TEST

/* ---- through the binary */

static int run(const char *args, char *err, size_t errsize) {
  char cmd[4096], errfile[1024];
  snprintf(errfile, sizeof errfile, "%s/stderr.txt", work_dir);
  snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>'%s'", nitc_path, args, errfile);
  int st = system(cmd);
  ck_assert_int_ne(st, -1);
  FILE *f = fopen(errfile, "rb");
  ck_assert_ptr_nonnull(f);
  size_t n = fread(err, 1, errsize - 1, f);
  err[n] = '\0';
  fclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *write_file(const char *name, const char *data, size_t len) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s", work_dir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
  return path;
}

START_TEST(binary_file_cases) {
  static char err[1 << 16];
  char args[2048];
  /* missing file, directory, empty file */
  snprintf(args, sizeof args, "--check '%s/no-such.nit'", work_dir);
  ck_assert_int_eq(run(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "no-such.nit"));
  ck_assert_ptr_nonnull(strstr(err, "nitc: error: cannot read"));
  snprintf(args, sizeof args, "--check '%s'", work_dir);
  ck_assert_int_eq(run(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "is a directory"));
  snprintf(args, sizeof args, "--check '%s'", write_file("empty.nit", "", 0));
  ck_assert_int_eq(run(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "empty.nit:1:1: error: no model in this file"));
  /* NUL bytes, 100k nesting, a 1 MiB identifier, 5000 errors */
  snprintf(args, sizeof args, "--check '%s'", write_file("nul.nit", "model\0m {}", 10));
  ck_assert_int_eq(run(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "nul.nit:1:6: error: unexpected byte 0x00"));
  size_t len;
  char *buf = repeat("model m { input x[4]; output y(2); let a = ", "(", 100000, "", &len);
  snprintf(args, sizeof args, "--check '%s'", write_file("deep.nit", buf, len));
  free(buf);
  ck_assert_int_eq(run(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "nesting too deep"));
  buf = repeat("model ", "z", 1 << 20, " {}", &len);
  snprintf(args, sizeof args, "--check '%s'", write_file("ident.nit", buf, len));
  free(buf);
  ck_assert_int_eq(run(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "identifier is too long"));
  ck_assert(strlen(err) < 1000);
  buf = repeat("model m {\n", "  dense(,)\n", 5000, "}\n", &len);
  snprintf(args, sizeof args, "--check '%s'", write_file("errors.nit", buf, len));
  free(buf);
  ck_assert_int_eq(run(args, err, sizeof err), 1);
  ck_assert_ptr_nonnull(strstr(err, "nitc: too many errors (20 shown), stopping\n"));
}
END_TEST

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_robust NITC WORKDIR\n");
    return 2;
  }
  nitc_path = argv[1];
  work_dir = argv[2];
  mkdir(work_dir, 0777);
  Suite *s = suite_create("robust");
  TCase *tc = tcase_create("robust");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, nul_bytes_and_binary);
  tcase_add_test(tc, deep_nesting_every_bracket);
  tcase_add_test(tc, long_sums_and_many_layers);
  tcase_add_test(tc, huge_identifiers_lines_and_numbers);
  tcase_add_test(tc, thousands_of_errors);
  tcase_add_test(tc, binary_file_cases);
  suite_add_tcase(s, tc);
  return fe_run(s);
}
