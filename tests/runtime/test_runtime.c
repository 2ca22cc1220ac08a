/*
 * test_runtime.c: Check suites for the runtime library, linked with the fake
 * model (fake_model.c, 1x28x28, 10 classes). Variants of the model for other
 * shapes or fingerprints are local copies of nit_model with fields changed:
 * every loader and the checkpoint code take the model as a parameter.
 *
 * Expected loss values were computed independently (Python floats) from the
 * definition ln(sum_j exp(z_j)) - z_y, then written here as Q24 integers.
 */
#define _DEFAULT_SOURCE /* flock */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nitrt.h"

static char tmpdir[256];

static void mk_tmp(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/nitrt-test-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rm_tmp(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}

static char *tpath(const char *name) {
  static char buf[4][512];
  static int k;
  char *p = buf[k++ & 3];
  snprintf(p, 512, "%s/%s", tmpdir, name);
  return p;
}

static void write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

static void write_text(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

/* ------------------------------------------------------------ fixed point */

static int64_t xent(const int8_t *z, int k, int e, int y) { return nitrt_xent_q24(z, k, e, y); }

#define NEAR(got, want, tol) ck_assert_msg(llabs((long long)(got) - (long long)(want)) <= (tol), \
  "got %lld want %lld", (long long)(got), (long long)(want))

START_TEST(loss_uniform_is_ln_classes) {
  int8_t z[10] = {0};
  /* ln 10 = 2.302585 -> Q24 38630967; allow 1e-5 */
  NEAR(xent(z, 10, -3, 0), 38630967, 168);
  for (int i = 0; i < 10; i++)
    z[i] = 42;
  NEAR(xent(z, 10, 2, 7), 38630967, 168);
  int8_t two[2] = {5, 5}; /* ln 2 */
  NEAR(xent(two, 2, -1, 1), 11629080, 168);
}
END_TEST

START_TEST(loss_known_values) {
  int8_t a[10] = {127};
  NEAR(xent(a, 10, -5, 0), 2635138, 168);  /* 0.157066 */
  NEAR(xent(a, 10, -5, 1), 69219714, 168); /* 4.125816 */
  int8_t b[5] = {-20, 5, 100, -127, 0};
  NEAR(xent(b, 5, 0, 3), 3808428032ll, 2000); /* 227.0 */
  int8_t c[3] = {1, -1, 0};
  NEAR(xent(c, 3, -10, 0), 18415277, 168); /* 1.097636 */
  int8_t d[2] = {10, 20};
  NEAR(xent(d, 2, 3, 0), 1342177280ll, 2000); /* 80.0 */
  int8_t e[2] = {-127, 127};
  NEAR(xent(e, 2, -7, 1), 2160963, 168); /* 0.128803 */
}
END_TEST

START_TEST(loss_is_nonnegative_and_ordered) {
  /* a more confident correct logit never raises the loss */
  int64_t prev = INT64_MAX;
  for (int v = -127; v <= 127; v += 4) {
    int8_t z[4] = {(int8_t)v, 10, -3, 0};
    int64_t l = xent(z, 4, -4, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_le(l, prev);
    prev = l;
  }
}
END_TEST

/* 2^(-d) by its definition, one fraction bit at a time from the most
 * significant, each product rounded to Q30: the plain loop the runtime's
 * tabulated one must match to the bit. */
static int64_t exp2_neg_def(int64_t d, const int64_t *f) {
  int64_t k = d >> 24;
  if (k > 30) return 0;
  int64_t r = 1ll << 30;
  for (int i = 0; i < 24; i++)
    if (d & (1ll << (23 - i))) r = (r * f[i] + (1ll << 29)) >> 30;
  return (r + ((1ll << k) >> 1)) >> k;
}

/* the factors round(2^(-2^-(i+1)) * 2^30), restated from fixed.c */
static const int64_t EXP2_F[24] = {
    759250125,  902905651,  984625594,  1028218693, 1050733751, 1062175491, 1067942999, 1070838486,
    1072289173, 1073015252, 1073378477, 1073560135, 1073650976, 1073696399, 1073719111, 1073730468,
    1073736146, 1073738985, 1073740404, 1073741114, 1073741469, 1073741647, 1073741735, 1073741780,
};

START_TEST(exp2_every_fraction) {
  const int64_t *f = EXP2_F;
  /* every fraction with integer part 0, then a spread of integer parts */
  for (int64_t d = 0; d < (1ll << 24); d++)
    if (nitrt_exp2_neg_q30(d) != exp2_neg_def(d, f))
      ck_abort_msg("2^-d at d = %lld: %lld, want %lld", (long long)d, (long long)nitrt_exp2_neg_q30(d),
                   (long long)exp2_neg_def(d, f));
  uint64_t x = 12345;
  for (int n = 0; n < 200000; n++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    int64_t d = (int64_t)(x >> 35); /* up to 2^29: integer parts 0..31 */
    ck_assert_int_eq(nitrt_exp2_neg_q30(d), exp2_neg_def(d, f));
  }
  ck_assert_int_eq(nitrt_exp2_neg_q30(0), 1ll << 30);
  ck_assert_int_eq(nitrt_exp2_neg_q30(1ll << 24), 1ll << 29);
}
END_TEST

/* The cross-entropy by its definition (fixed.c's opening comment), each
 * step the plain way: t_j rounded half away from zero with branches, 2^-d
 * by exp2_neg_def, log2 by squaring with a branch per bit. The runtime's
 * branch-free version must give the same Q24 value, not a close one: the
 * loss is saved in checkpoints and compared on resume. */
static int64_t t_def(int32_t a, int32_t exp) {
  if (exp > 26) exp = 26;
  int64_t p = (int64_t)a * 1549082005ll; /* log2(e), Q30 */
  int32_t sh = exp + 24 - 30;
  if (sh >= 0) return p * ((int64_t)1 << sh);
  if (sh <= -62) return 0;
  int64_t mag = p < 0 ? -p : p;
  mag = (mag + ((int64_t)1 << (-sh - 1))) >> -sh;
  return p < 0 ? -mag : mag;
}

static int64_t xent_def(const int8_t *z, int classes, int exp, int y, const int64_t *f) {
  int64_t m = t_def(z[0], exp);
  for (int j = 1; j < classes; j++)
    if (t_def(z[j], exp) > m) m = t_def(z[j], exp);
  uint64_t s = 0;
  for (int j = 0; j < classes; j++) s += (uint64_t)exp2_neg_def(m - t_def(z[j], exp), f);
  int bl = 0; /* log2(s / 2^30) in Q24 */
  for (uint64_t t = s; t; t >>= 1) bl++;
  int e = bl - 31;
  uint64_t x = s >> e;
  int64_t l = (int64_t)e << 24;
  for (int i = 1; i <= 24; i++) {
    x = (x * x) >> 30;
    if (x >= (2ull << 30)) {
      x >>= 1;
      l |= (int64_t)1 << (24 - i);
    }
  }
  int64_t v = m - t_def(z[y], exp) + l, c = 744261118ll; /* ln 2, Q30 */
  return (v >> 30) * c + (((v & ((1ll << 30) - 1)) * c + (1ll << 29)) >> 30);
}

START_TEST(xent_matches_definition) {
  int8_t z[40];
  uint64_t x = 99;
  for (int n = 0; n < 100000; n++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    int classes = 2 + (int)(x >> 59) % 38, exp = -40 + (int)((x >> 40) % 67), y = (int)((x >> 20) % (uint64_t)classes);
    for (int j = 0; j < classes; j++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      z[j] = (int8_t)(x >> 56);
    }
    int64_t got = nitrt_xent_q24(z, classes, exp, y), want = xent_def(z, classes, exp, y, EXP2_F);
    if (got != want) ck_abort_msg("xent case %d (classes %d, exp %d): %lld, want %lld", n, classes, exp, (long long)got,
                                  (long long)want);
  }
}
END_TEST

START_TEST(softmax_percent) {
  int8_t u[4] = {3, 3, 3, 3};
  ck_assert_int_eq(nitrt_softmax_bp(u, 4, 0, 2), 2500);
  int8_t a[2] = {127, 0}; /* e^3.96875 / (e^3.96875 + 1) = 0.981453 */
  ck_assert_int_eq(nitrt_softmax_bp(a, 2, -5, 0), 9815);
  ck_assert_int_eq(nitrt_softmax_bp(a, 2, -5, 1), 185);
  int8_t b[10] = {127}; /* e^3.96875 / (e^3.96875 + 9) = 0.854647 */
  ck_assert_int_eq(nitrt_softmax_bp(b, 10, -5, 0), 8546);
}
END_TEST

START_TEST(argmax_first_wins) {
  int8_t z[5] = {1, 7, 3, 7, -2};
  ck_assert_int_eq(nitrt_argmax(z, 5), 1);
  int8_t w[3] = {-5, -5, -5};
  ck_assert_int_eq(nitrt_argmax(w, 3), 0);
}
END_TEST

START_TEST(integer_formatting) {
  char b[32];
  ck_assert_str_eq(nitrt_fmt_dec(b, 2315, 4), "0.2315");
  ck_assert_str_eq(nitrt_fmt_dec(b, 9745, 2), "97.45");
  ck_assert_str_eq(nitrt_fmt_dec(b, 10000, 2), "100.00");
  ck_assert_str_eq(nitrt_fmt_dec(b, -5, 3), "-0.005");
  ck_assert_str_eq(nitrt_fmt_dec(b, 48, 1), "4.8");
  ck_assert_str_eq(nitrt_fmt_dec(b, 7, 0), "7");
  ck_assert_int_eq(nitrt_ratio(9783, 10000, 4), 9783);
  ck_assert_int_eq(nitrt_ratio(2, 3, 4), 6667);
  ck_assert_int_eq(nitrt_ratio(1, 8, 4), 1250);
  ck_assert_int_eq(nitrt_q24_dec(38630967, 4), 23026);
}
END_TEST

/* --------------------------------------------------------------- cli */

static int parse(Options *o, int n, const char **args) {
  char *argv[40];
  argv[0] = (char *)"prog";
  for (int i = 0; i < n; i++)
    argv[i + 1] = (char *)args[i];
  return nitrt_parse_args(n + 1, argv, o);
}

#define PARSE(o, ...) parse(o, sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *), \
                            (const char *[]){__VA_ARGS__})

START_TEST(cli_train_flags) {
  Options o;
  ck_assert_int_eq(PARSE(&o, "train", "--data", "d", "--epochs", "3", "--batch=16", "--seed",
                         "18446744073709551615", "--rounding", "nearest", "--round-err",
                         "stochastic", "--update-bits", "3,2@5,1@9", "--decay", "on",
                         "--holdout", "10", "--limit", "100", "--test-limit", "50", "--quiet",
                         "--threads", "2", "--save", "s.ckpt", "--resume", "r.ckpt", "--log",
                         "l.jsonl"),
                   0);
  ck_assert_int_eq(o.cmd, CMD_TRAIN);
  ck_assert_str_eq(o.data, "d");
  ck_assert_int_eq(o.r.epochs, 3);
  ck_assert_int_eq(o.r.batch, 16);
  ck_assert(o.r.seed == UINT64_MAX);
  ck_assert_int_eq(o.r.act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(o.r.err_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(o.r.grad_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(o.r.nsched, 3);
  ck_assert_int_eq(o.r.mu[1], 2);
  ck_assert_int_eq(o.r.mu_from[1], 5);
  ck_assert_int_eq(o.r.mu_from[2], 9);
  ck_assert_int_eq(o.r.decay, 1);
  ck_assert_int_eq(o.r.holdout, 10);
  ck_assert_int_eq(o.r.limit, 100);
  ck_assert_int_eq(o.test_limit, 50);
  ck_assert(o.quiet);
  ck_assert_int_eq(o.threads, 2);
  ck_assert_str_eq(o.save, "s.ckpt");
  ck_assert_str_eq(o.resume, "r.ckpt");
  ck_assert_str_eq(o.log, "l.jsonl");
  ck_assert(o.set & SET_BATCH);
  ck_assert(!(o.set & SET_INDEX));
}
END_TEST

START_TEST(cli_other_commands) {
  Options o;
  ck_assert_int_eq(PARSE(&o, "eval", "--load", "c", "--data", "d"), 0);
  ck_assert_int_eq(o.cmd, CMD_EVAL);
  ck_assert_int_eq(PARSE(&o, "predict", "--load", "c", "--idx", "f", "--index", "4"), 0);
  ck_assert_int_eq(o.cmd, CMD_PREDICT);
  ck_assert_int_eq(o.index, 4);
  ck_assert(!o.per_sample);
  ck_assert_int_eq(PARSE(&o, "predict", "--load", "c", "--csv", "f.csv", "--per-sample"), 0);
  ck_assert_str_eq(o.csv, "f.csv");
  ck_assert(o.per_sample);
  ck_assert_int_eq(PARSE(&o, "eval", "--load", "c", "--per-sample"), 0);
  ck_assert(o.per_sample);
  ck_assert_int_eq(PARSE(&o, "info"), 0);
  ck_assert_int_eq(o.cmd, CMD_INFO);
  ck_assert_int_eq(PARSE(&o, "--help"), 0);
  ck_assert_int_eq(o.cmd, CMD_HELP);
  ck_assert_int_eq(PARSE(&o, "train", "--epochs", "2", "--help"), 0);
  ck_assert_int_eq(o.cmd, CMD_HELP);
  ck_assert_int_eq(PARSE(&o, "--version"), 0);
  ck_assert_int_eq(o.cmd, CMD_VERSION);
}
END_TEST

START_TEST(cli_rejects) {
  Options o;
  char *none[1] = {(char *)"prog"};
  ck_assert_int_eq(nitrt_parse_args(1, none, &o), -1);
  ck_assert_int_eq(PARSE(&o, "fly"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--bogus"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--epochs"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--epochs", "--batch", "3"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--epochs", "3x"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--epochs", "0"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--epochs", "-2"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--batch", "99999999999999999999"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--seed", "-1"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--seed", "18446744073709551616"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--epochs="), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--quiet=1"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--rounding", "up"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--decay", "yes"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "stray"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--load", "x"), -1);   /* eval/predict only */
  ck_assert_int_eq(PARSE(&o, "eval", "--epochs", "3", "--load", "x"), -1);
  ck_assert_int_eq(PARSE(&o, "eval", "--data", "d"), -1);     /* no --load */
  ck_assert_int_eq(PARSE(&o, "predict", "--load", "c"), -1); /* no input */
  ck_assert_int_eq(PARSE(&o, "predict", "--load", "c", "--idx", "a", "--raw", "b"), -1);
  ck_assert_int_eq(PARSE(&o, "predict", "--load", "c", "--csv", "a", "--raw", "b"), -1);
  ck_assert_int_eq(PARSE(&o, "train", "--per-sample"), -1);
  ck_assert_int_eq(PARSE(&o, "eval", "--load", "c", "--per-sample=1"), -1);
  ck_assert_int_eq(PARSE(&o, "info", "--data", "d"), -1);
}
END_TEST

START_TEST(cli_schedules) {
  RunRecipe r;
  memset(&r, 0, sizeof r);
  ck_assert_int_eq(nitrt_parse_sched("3", &r), 0);
  ck_assert_int_eq(r.nsched, 1);
  ck_assert_int_eq(r.mu[0], 3);
  ck_assert_int_eq(r.mu_from[0], 1);
  ck_assert_int_eq(nitrt_parse_sched("5@1,4@100,3@150", &r), 0);
  ck_assert_int_eq(r.nsched, 3);
  ck_assert_int_eq(nitrt_mu_for_epoch(&r, 1), 5);
  ck_assert_int_eq(nitrt_mu_for_epoch(&r, 99), 5);
  ck_assert_int_eq(nitrt_mu_for_epoch(&r, 100), 4);
  ck_assert_int_eq(nitrt_mu_for_epoch(&r, 149), 4);
  ck_assert_int_eq(nitrt_mu_for_epoch(&r, 150), 3);
  ck_assert_int_eq(nitrt_mu_for_epoch(&r, 1000), 3);
  const char *bad[] = {"", "0", "16", "3,2", "3@2", "3,2@1", "3,2@5,1@4", "3,", "a",
                       "3,2@", "1,1@2,1@3,1@4,1@5,1@6,1@7,1@8,1@9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(nitrt_parse_sched(bad[i], &r) == -1, "accepted '%s'", bad[i]);
}
END_TEST

/* -------------------------------------------------------------- data */

static NitModel model_shape(int c, int h, int w, int classes) {
  NitModel m = nit_model;
  m.in_c = c, m.in_h = h, m.in_w = w, m.classes = classes;
  return m;
}

/* idx file: ubyte, dims big-endian, then data */
static void write_idx(const char *path, int nd, const uint32_t *dims, const uint8_t *data,
                      size_t cut) {
  size_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= dims[i];
  size_t len = 4 + 4 * (size_t)nd + n;
  uint8_t *b = calloc(1, len);
  b[2] = 0x08;
  b[3] = (uint8_t)nd;
  for (int i = 0; i < nd; i++)
    for (int k = 0; k < 4; k++)
      b[4 + 4 * i + k] = (uint8_t)(dims[i] >> (24 - 8 * k));
  memcpy(b + 4 + 4 * nd, data, n);
  write_bytes(path, b, len - cut);
  free(b);
}

static uint8_t pix[5 * 3 * 4 * 4], lbls[5] = {0, 1, 2, 1, 0};

static void idx_setup(void) {
  mk_tmp();
  for (size_t i = 0; i < sizeof pix; i++)
    pix[i] = (uint8_t)(i * 37);
}

START_TEST(idx_good) {
  NitModel m = model_shape(1, 4, 4, 3);
  uint32_t id[3] = {5, 4, 4}, ld[1] = {5};
  write_idx(tpath("i"), 3, id, pix, 0);
  write_idx(tpath("l"), 1, ld, lbls, 0);
  Dataset d;
  ck_assert_int_eq(nitrt_load_idx(tpath("i"), tpath("l"), &m, 0, &d), 0);
  ck_assert_int_eq(d.n, 5);
  ck_assert_int_eq(d.q.in_exp, -7);
  ck_assert_int_eq(d.q.kind, NITRT_QUANT_PIXELS);
  for (int i = 0; i < 80; i++)
    ck_assert_int_eq(d.x[i], pix[i] >> 1);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(d.y[i], lbls[i]);
  nitrt_data_free(&d);
  ck_assert_int_eq(nitrt_load_idx(tpath("i"), tpath("l"), &m, 2, &d), 0);
  ck_assert_int_eq(d.n, 2);
  nitrt_data_free(&d);
  /* (N, C, H, W) images */
  NitModel m3 = model_shape(3, 4, 4, 3);
  uint32_t id4[4] = {5, 3, 4, 4};
  write_idx(tpath("i4"), 4, id4, pix, 0);
  ck_assert_int_eq(nitrt_load_idx(tpath("i4"), tpath("l"), &m3, 0, &d), 0);
  ck_assert_int_eq(d.c, 3);
  ck_assert_int_eq(d.x[5 * 48 - 1], pix[5 * 48 - 1] >> 1);
  nitrt_data_free(&d);
}
END_TEST

/* The content hash is what data.c's comment defines (the length, then
 * eight bytes at a time, little-endian, the last word zero-padded) for
 * every tail length and alignment, and keeps its values: checkpoints
 * already written hold them (two values of the definition as first built). */
START_TEST(hash_definition) {
  uint8_t b[48];
  for (int i = 0; i < 48; i++) b[i] = (uint8_t)(i * 37 + 5);
  ck_assert(nitrt_hash64(0, b, 29) == 0xcb899a921f93538full);
  ck_assert(nitrt_hash64(7, b, 0) == 0x3f7023ce48685d62ull);
  for (size_t at = 0; at < 8; at++)
    for (size_t n = 0; at + n <= 40; n++) {
      uint64_t h = nit_mix64(3 ^ ((uint64_t)n + NIT_GOLDEN));
      for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        for (size_t k = 0; k < 8; k++) w += i + k < n ? (uint64_t)b[at + i + k] << (8 * k) : 0;
        h = nit_mix64(h ^ w) + NIT_GOLDEN;
      }
      ck_assert(nitrt_hash64(3, b + at, n) == nit_mix64(h));
    }
}
END_TEST

/* Telemetry's counts (telemetry.c) against plain loops: a hand-made model of
 * three nodes over a work slab of random bytes, tensors of lengths that are
 * not multiples of the counting blocks, every magnitude class present, and
 * weights (int8 and int16 wide) of which a known set changes. */
static void plain_counts(int64_t *ge, const int8_t *p, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    int mag = p[i] < 0 ? -p[i] : p[i];
    for (int k = 0; k < 7; k++) ge[k] += mag >= (1 << k);
    ge[7] += mag >= 127;
  }
  ge[8] += n;
}

START_TEST(telemetry_counts) {
  enum { NN = 3, N = 5 };
  NitNode nodes[NN];
  memset(nodes, 0, sizeof nodes);
  const int32_t shape[NN][3] = {{1, 1, 1}, {3, 7, 11}, {1, 1, 1000}};
  int64_t off = 0;
  for (int i = 0; i < NN; i++) {
    memcpy(nodes[i].out, shape[i], sizeof shape[i]);
    nodes[i].param = -1;
    nodes[i].act_off = -1;
    nodes[i].err_off = -1;
  }
  nodes[0].name = "x", nodes[1].name = "c1", nodes[2].name = "f1";
  nodes[0].kind = "input", nodes[1].kind = "conv", nodes[2].kind = "dense";
  nodes[1].act_off = off, off += 231 * N;
  nodes[1].act_kept = 1;
  nodes[1].err_off = off, off += 231 * N;
  nodes[2].act_off = off, off += 1000 * N; /* not kept: not counted */
  nodes[2].err_off = off, off += 1000 * N;
  NitParam params[2];
  memset(params, 0, sizeof params);
  params[0] = (NitParam){.name = "c1", .count = 300, .bits = 8, .offset = 0, .master_off = -1, .mom_off = -1};
  params[1] = (NitParam){.name = "f1", .count = 77, .bits = 12, .offset = 320, .master_off = -1, .mom_off = -1};
  nodes[1].param = 0, nodes[2].param = 1;
  NitModel m = nit_model;
  m.nnodes = NN, m.nodes = nodes, m.nparams = 2, m.params = params, m.param_bytes = 512;
  int8_t *work = malloc((size_t)off), *pw = calloc(512, 1);
  Tele t;
  ck_assert_int_eq(nitrt_tele_init(&t, &m, 4, true), 0);
  nitrt_tele_epoch_start(&t, &m);
  ck_assert(nitrt_tele_sampled(&t, 8) && !nitrt_tele_sampled(&t, 9));
  int64_t want[NN][2][9];
  memset(want, 0, sizeof want);
  int64_t changed[2] = {0, 0}, lsum[2] = {0, 0}; /* weights moved; at the limit after each step */
  uint64_t r = 99;
  for (int step = 0; step < 3; step++) {
    for (int64_t i = 0; i < off; i++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      work[i] = (int8_t)(r >> 56);
    }
    work[0] = -128, work[1] = 127, work[2] = -127, work[3] = 0;
    NitCtx c;
    memset(&c, 0, sizeof c);
    nitrt_tele_before(&t, &m, pw, &c);
    ck_assert_ptr_eq(c.exps, t.exps);
    for (int i = 0; i < 2 * NN; i++) t.exps[i] = -step - i;
    for (int j = step; j < 300; j += 7) { /* c1: 300 int8 weights, some moved, some to the limit */
      int8_t v = pw[j] == 0 ? (j % 2 ? 127 : -127) : 0;
      changed[0]++;
      pw[j] = v;
    }
    for (int j = 0; j < 77; j += 5 + step) { /* f1: 77 int16 weights, limit 2^11 - 1 */
      int16_t v;
      memcpy(&v, pw + 320 + 2 * j, 2);
      int16_t nv = (int16_t)(v == 2047 ? 5 : 2047);
      changed[1]++;
      memcpy(pw + 320 + 2 * j, &nv, 2);
    }
    int64_t lim_now[2] = {0, 0};
    for (int j = 0; j < 300; j++) lim_now[0] += pw[j] == 127 || pw[j] == -127;
    for (int j = 0; j < 77; j++) {
      int16_t v;
      memcpy(&v, pw + 320 + 2 * j, 2);
      lim_now[1] += v == 2047 || v == -2047;
    }
    nitrt_tele_after(&t, &m, pw, work, N);
    plain_counts(want[1][0], work + nodes[1].act_off, 231 * N);
    plain_counts(want[1][1], work + nodes[1].err_off, 231 * N);
    plain_counts(want[2][1], work + nodes[2].err_off, 1000 * N);
    ck_assert_int_eq(t.node[1].act_exp.last, -step - 2);
    ck_assert_int_eq(t.node[2].err_exp.last, -step - 5);
    ck_assert_int_eq(t.node[2].err_exp.min, -step - 5);
    ck_assert_int_eq(t.node[2].err_exp.max, -5);
    lsum[0] += lim_now[0], lsum[1] += lim_now[1];
    ck_assert_int_eq(t.node[1].w_limit, lsum[0]);
    ck_assert_int_eq(t.node[2].w_limit, lsum[1]);
  }
  ck_assert_int_eq(t.samples, 3);
  for (int i = 1; i < NN; i++)
    for (int k = 0; k < 9; k++) {
      ck_assert_int_eq(t.node[i].act[k], want[i][0][k]);
      ck_assert_int_eq(t.node[i].err[k], want[i][1][k]);
    }
  ck_assert_int_eq(t.node[1].w_changed, changed[0]);
  ck_assert_int_eq(t.node[2].w_changed, changed[1]);
  ck_assert_int_eq(t.node[1].w_n, 3 * 300);
  ck_assert_int_eq(t.node[2].w_n, 3 * 77);
  ck_assert_int_eq(t.node[0].w_n, 0);
  nitrt_tele_free(&t);
  free(work);
  free(pw);
}
END_TEST

/* The table's closing note, which says why some activations show '-':
 * printed for an activation that a later tensor of the step lay over (kept
 * 0) and for one that lives in the forward pass alone (act_off -3), not
 * for the input's (act_off -1) nor a folded relu's producer (-2). */
static bool tele_note(int64_t act_off, int32_t kept) {
  enum { NN = 2 };
  NitNode nodes[NN];
  memset(nodes, 0, sizeof nodes);
  for (int i = 0; i < NN; i++) {
    nodes[i].out[0] = nodes[i].out[1] = nodes[i].out[2] = 1;
    nodes[i].param = -1, nodes[i].err_off = -1, nodes[i].act_off = -1;
    nodes[i].name = i ? "r1" : "x", nodes[i].kind = i ? "relu" : "input";
  }
  nodes[1].act_off = act_off, nodes[1].act_kept = kept;
  NitModel m = nit_model;
  m.nnodes = NN, m.nodes = nodes, m.nparams = 0, m.params = NULL, m.param_bytes = 0;
  Tele t;
  ck_assert_int_eq(nitrt_tele_init(&t, &m, 1, true), 0);
  nitrt_tele_epoch_start(&t, &m);
  ck_assert(nitrt_tele_sampled(&t, 1));
  int8_t work[1] = {5};
  NitCtx c;
  memset(&c, 0, sizeof c);
  nitrt_tele_before(&t, &m, NULL, &c);
  nitrt_tele_after(&t, &m, NULL, work, 1); /* one sampled step: the table prints */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  nitrt_tele_print(f, &t, &m);
  fclose(f);
  bool note = strstr(buf, "reused the buffer") != NULL;
  free(buf);
  nitrt_tele_free(&t);
  return note;
}

START_TEST(telemetry_note) {
  ck_assert(tele_note(0, 0));  /* an error lay over it */
  ck_assert(tele_note(-3, 0)); /* the forward pass's later tensors lay over it */
  ck_assert(!tele_note(0, 1));
  ck_assert(!tele_note(-1, 1));
  ck_assert(!tele_note(-2, 1));
}
END_TEST

/* A file of several read chunks (DataSrc reads 1 MiB at a time) loads
 * exactly as its bytes parse from memory: pixels, labels, the content hash
 * (which is nitrt_hash64 of the whole file, also when it is built chunk by
 * chunk), with and without a limit. */
START_TEST(idx_chunked) {
  NitModel m = model_shape(1, 28, 28, 10);
  enum { N = 3001 }; /* 2.35 MB of pixels: three chunks, the last partial */
  uint32_t id[3] = {N, 28, 28}, ld[1] = {N};
  uint8_t *px = malloc((size_t)N * 784), *lb = malloc(N);
  for (size_t i = 0; i < (size_t)N * 784; i++) px[i] = (uint8_t)(i * 2654435761u >> 13);
  for (int i = 0; i < N; i++) lb[i] = (uint8_t)(i * 7 % 10);
  write_idx(tpath("big-i"), 3, id, px, 0);
  write_idx(tpath("big-l"), 1, ld, lb, 0);
  uint8_t *ib, *lbb;
  size_t il, ll;
  ck_assert_int_eq(nitrt_read_file(tpath("big-i"), "a data file", &ib, &il), 0);
  ck_assert_int_eq(nitrt_read_file(tpath("big-l"), "a data file", &lbb, &ll), 0);
  for (int64_t limit = 0; limit <= 2000; limit += 2000) {
    Dataset f, mem;
    ck_assert_int_eq(nitrt_load_idx(tpath("big-i"), tpath("big-l"), &m, limit, &f), 0);
    ck_assert_int_eq(nitrt_idx_parse("i", ib, il, "l", lbb, ll, &m, limit, &mem), 0);
    ck_assert_int_eq(f.n, limit ? limit : N);
    ck_assert_int_eq(f.print.n, N);
    ck_assert(f.print.hash == nitrt_hash64(nitrt_hash64(0, ib, il), lbb, ll));
    ck_assert(mem.print.hash == f.print.hash);
    ck_assert_int_eq(memcmp(f.x, mem.x, (size_t)f.n * 784), 0);
    ck_assert_int_eq(memcmp(f.y, mem.y, (size_t)f.n * sizeof *f.y), 0);
    ck_assert_int_eq(f.x[f.n * 784 - 1], px[f.n * 784 - 1] >> 1);
    ck_assert_int_eq(f.y[f.n - 1], lb[f.n - 1]);
    nitrt_data_free(&f);
    nitrt_data_free(&mem);
  }
  free(ib);
  free(lbb);
  free(px);
  free(lb);
}
END_TEST

START_TEST(idx_bad) {
  NitModel m = model_shape(1, 4, 4, 3);
  uint32_t id[3] = {5, 4, 4}, ld[1] = {5}, ld4[1] = {4};
  Dataset d;
  write_idx(tpath("l"), 1, ld, lbls, 0);
  ck_assert_int_eq(nitrt_load_idx(tpath("missing"), tpath("l"), &m, 0, &d), -1);
  write_idx(tpath("i"), 3, id, pix, 1); /* truncated by one byte */
  ck_assert_int_eq(nitrt_load_idx(tpath("i"), tpath("l"), &m, 0, &d), -1);
  write_text(tpath("short"), "\0\0");
  ck_assert_int_eq(nitrt_load_idx(tpath("short"), tpath("l"), &m, 0, &d), -1);
  write_idx(tpath("i"), 3, id, pix, 0);
  ck_assert_int_eq(nitrt_load_idx(tpath("l"), tpath("l"), &m, 0, &d), -1); /* wrong magic */
  ck_assert_int_eq(nitrt_load_idx(tpath("i"), tpath("i"), &m, 0, &d), -1); /* wrong magic */
  NitModel other = model_shape(1, 28, 28, 3);
  ck_assert_int_eq(nitrt_load_idx(tpath("i"), tpath("l"), &other, 0, &d), -1); /* shape */
  NitModel two = model_shape(1, 4, 4, 2);
  ck_assert_int_eq(nitrt_load_idx(tpath("i"), tpath("l"), &two, 0, &d), -1); /* label 2 */
  write_idx(tpath("l4"), 1, ld4, lbls, 0);
  ck_assert_int_eq(nitrt_load_idx(tpath("i"), tpath("l4"), &m, 0, &d), -1); /* count */
  ck_assert_ptr_null(d.x);
}
END_TEST

START_TEST(dir_detection) {
  NitModel m = model_shape(1, 4, 4, 3);
  uint32_t id[3] = {5, 4, 4}, ld[1] = {5};
  Dataset tr, te;
  ck_assert_int_eq(nitrt_load_dir(tpath("nope"), &m, 0, 0, NULL, &tr, &te), -1);
  ck_assert_int_eq(nitrt_load_dir(tmpdir, &m, 0, 0, NULL, &tr, &te), -1); /* empty */
  write_idx(tpath("train-images-idx3-ubyte"), 3, id, pix, 0);
  write_idx(tpath("train-labels-idx1-ubyte"), 1, ld, lbls, 0);
  ck_assert_int_eq(nitrt_load_dir(tmpdir, &m, 0, 0, NULL, &tr, &te), -1); /* no test set */
  write_idx(tpath("t10k-images-idx3-ubyte"), 3, id, pix, 0);
  write_idx(tpath("t10k-labels-idx1-ubyte"), 1, ld, lbls, 0);
  ck_assert_int_eq(nitrt_load_dir(tmpdir, &m, 3, 4, NULL, &tr, &te), 0);
  ck_assert_int_eq(tr.n, 3);
  ck_assert_int_eq(te.n, 4);
  nitrt_data_free(&tr);
  nitrt_data_free(&te);
}
END_TEST

START_TEST(cifar_files) {
  NitModel m = model_shape(3, 32, 32, 10);
  size_t rec = 3073;
  uint8_t *b = calloc(4, rec);
  for (int r = 0; r < 4; r++) {
    b[r * rec] = (uint8_t)(r * 3);
    for (size_t k = 1; k < rec; k++)
      b[r * rec + k] = (uint8_t)(k + (size_t)r);
  }
  write_bytes(tpath("a.bin"), b, 3 * rec);
  write_bytes(tpath("b.bin"), b + 3 * rec, rec);
  const char *files[2] = {tpath("a.bin"), tpath("b.bin")};
  Dataset d;
  ck_assert_int_eq(nitrt_load_cifar(files, 2, &m, 0, &d), 0);
  ck_assert_int_eq(d.n, 4);
  ck_assert_int_eq(d.y[3], 9);
  ck_assert_int_eq(d.x[3 * 3072 + 10], (uint8_t)(11 + 3) >> 1);
  nitrt_data_free(&d);
  ck_assert_int_eq(nitrt_load_cifar(files, 2, &m, 2, &d), 0);
  ck_assert_int_eq(d.n, 2);
  nitrt_data_free(&d);
  NitModel mn = model_shape(1, 28, 28, 10);
  ck_assert_int_eq(nitrt_load_cifar(files, 2, &mn, 0, &d), -1); /* shape */
  NitModel m5 = model_shape(3, 32, 32, 5);
  ck_assert_int_eq(nitrt_load_cifar(files, 2, &m5, 0, &d), -1); /* label 6, 9 */
  write_bytes(tpath("b.bin"), b, rec - 1);
  ck_assert_int_eq(nitrt_load_cifar(files, 2, &m, 0, &d), -1); /* truncated */
  const char *missing[1] = {tpath("c.bin")};
  ck_assert_int_eq(nitrt_load_cifar(missing, 1, &m, 0, &d), -1);
  free(b);
}
END_TEST

/* Expected values below are worked by hand from the rule: shift s_j is the
 * smallest with max|v_j| * 2^-s_j <= 127, x = round(v * 2^-s_j) half away
 * from zero, saturated. */
START_TEST(csv_per_column) {
  NitModel m = model_shape(1, 1, 3, 3);
  Dataset d, t;
  /* integer columns: a max 4 -> s -4 (4*16 = 64); b max 255 -> s 2 (255/2 =
     127.5 > 127, 255/4 = 63.75); c max 17 -> s -2 (68) */
  write_text(tpath("p.csv"), "label,a,b,c\n0,0,255,17\n2, 4 ,100,3\r\n\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("p.csv"), &m, 0, true, NULL, &d), 0);
  ck_assert_int_eq(d.n, 2);
  ck_assert_int_eq(d.q.in_exp, -7);
  ck_assert_int_eq(d.q.kind, NITRT_QUANT_COLUMNS);
  ck_assert_int_eq(d.q.ncols, 3);
  const int8_t ws[3] = {-4, 2, -2}, want[6] = {0, 64, 68, 64, 25, 12};
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(d.q.shift[i], ws[i]);
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(d.x[i], want[i]);
  ck_assert_int_eq(d.y[1], 2);
  ck_assert_int_eq(d.print.format, NITRT_FMT_CSV);
  ck_assert_int_eq(d.print.n, 2);
  nitrt_data_free(&d);
  /* decimals: 1.5 -> s -6 (96); 0.25 -> s -8 (64), 0.1 * 256 = 25.6 -> 26;
     0.75 -> s -7 (96), 0.025 * 128 = 3.2 -> 3. One exponent for the whole
     file (the old rule) would give s -6 and 0.025 * 64 = 1.6 -> 2 */
  write_text(tpath("f.csv"), "1,1.5,-0.25,0.75\n0,-1.5,1e-1,2.5E-2\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("f.csv"), &m, 0, true, NULL, &d), 0);
  const int8_t wf[6] = {96, -64, 96, -96, 26, 3};
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(d.x[i], wf[i]);
  /* the test set reuses the shifts and saturates: 3.0 * 64 = 192 -> 127,
     -0.5 * 256 = -128 -> -127 */
  write_text(tpath("g.csv"), "2,3.0,-0.5,0\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("g.csv"), &m, 0, true, &d.q, &t), 0);
  ck_assert_int_eq(t.q.shift[1], -8);
  ck_assert_int_eq(t.x[0], 127);
  ck_assert_int_eq(t.x[1], -127);
  ck_assert_int_eq(t.x[2], 0);
  nitrt_data_free(&t);
  nitrt_data_free(&d);
  /* big values get positive shifts: 1000 -> s 3 (125), -500 / 8 = -62.5 ->
     -63 (half away from zero); 500 -> s 2; 1 -> s -6 */
  write_text(tpath("h.csv"), "0,1000,-500,1\n1,-500,2,0\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("h.csv"), &m, 0, true, NULL, &d), 0);
  ck_assert_int_eq(d.q.shift[0], 3);
  ck_assert_int_eq(d.x[0], 125);
  ck_assert_int_eq(d.x[3], -63);
  ck_assert_int_eq(d.q.shift[1], 2);
  ck_assert_int_eq(d.x[1], -125);
  ck_assert_int_eq(d.q.shift[2], -6);
  ck_assert_int_eq(d.x[2], 64);
  nitrt_data_free(&d);
  /* the largest value the parser takes: the shift search used to overflow
     here and never end. 8999999999999 / 2^37 = 65.48 -> 65 (2^36 is too
     small: 130.96) */
  write_text(tpath("huge.csv"), "0,8999999999999,-8999999999999,1\n1,1,2,3\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("huge.csv"), &m, 0, true, NULL, &d), 0);
  ck_assert_int_eq(d.q.shift[0], 37);
  ck_assert_int_eq(d.x[0], 65);
  ck_assert_int_eq(d.x[1], -65);
  nitrt_data_free(&d);
  /* and the smallest: 0.000001 -> s -26 (2^26 * 1e-6 = 67.1 -> 67) */
  write_text(tpath("tiny.csv"), "0,0.000001,1,1\n1,0,2,3\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("tiny.csv"), &m, 0, true, NULL, &d), 0);
  ck_assert_int_eq(d.q.shift[0], -26);
  ck_assert_int_eq(d.x[0], 67);
  nitrt_data_free(&d);
}
END_TEST

/* stderr of one call, into a buffer; for checking messages. */
static char errbuf[4096];
#define CAPTURE(call)                                                                      \
  do {                                                                                     \
    fflush(stderr);                                                                        \
    FILE *cap_ = freopen(tpath("stderr.txt"), "w", stderr);                              \
    ck_assert_ptr_nonnull(cap_);                                                           \
    (call);                                                                                \
    fflush(stderr);                                                                        \
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));                            \
    FILE *in_ = fopen(tpath("stderr.txt"), "r");                                          \
    size_t got_ = fread(errbuf, 1, sizeof errbuf - 1, in_);                                \
    errbuf[got_] = '\0';                                                                   \
    fclose(in_);                                                                           \
  } while (0)
#define ERR_HAS(s) ck_assert_msg(strstr(errbuf, s) != NULL, "stderr '%s' lacks '%s'", errbuf, s)

START_TEST(csv_constant_columns) {
  NitModel m = model_shape(1, 1, 4, 3);
  Dataset d;
  /* b is constant, c is below the 6 kept decimals (all zero), d all zero */
  write_text(tpath("k.csv"), "0,1,5,0.0000001,0\n1,2,5,0.0000002,0\n2,3,5,0,0\n");
  int rc;
  CAPTURE(rc = nitrt_load_csv(tpath("k.csv"), &m, 0, true, NULL, &d));
  ck_assert_int_eq(rc, 0);
  ERR_HAS("k.csv: 3 of 4 features are constant over the 3 training samples");
  ERR_HAS("features 2, 3 (all zero), 4 (all zero)");
  nitrt_data_free(&d);
  /* a test set (given shifts) is not judged */
  write_text(tpath("k2.csv"), "0,1,1,1,1\n1,1,1,1,1\n");
  Dataset t;
  CAPTURE(rc = nitrt_load_csv(tpath("k.csv"), &m, 0, true, NULL, &d));
  CAPTURE(rc = nitrt_load_csv(tpath("k2.csv"), &m, 0, true, &d.q, &t));
  ck_assert_int_eq(rc, 0);
  ck_assert_str_eq(errbuf, "");
  nitrt_data_free(&t);
  nitrt_data_free(&d);
}
END_TEST

START_TEST(csv_predict_rows) {
  NitModel m = model_shape(1, 1, 3, 3);
  Dataset d, p;
  write_text(tpath("tr.csv"), "0,1,2,3\n1,4,5,6\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("tr.csv"), &m, 0, true, NULL, &d), 0);
  /* features alone, or a label and the features; a header */
  write_text(tpath("p.csv"), "a,b,c\n4,5,6\n1,4,5,6\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("p.csv"), &m, 0, false, &d.q, &p), 0);
  ck_assert_int_eq(p.n, 2);
  ck_assert_ptr_null(p.y);
  ck_assert_mem_eq(p.x, d.x + 3, 3);
  ck_assert_mem_eq(p.x + 3, d.x + 3, 3);
  nitrt_data_free(&p);
  int rc;
  write_text(tpath("p2.csv"), "4,5\n");
  CAPTURE(rc = nitrt_load_csv(tpath("p2.csv"), &m, 0, false, &d.q, &p));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("p2.csv:1: 2 fields but the model expects 3 features");
  nitrt_data_free(&d);
}
END_TEST

START_TEST(csv_bad) {
  NitModel m = model_shape(1, 1, 3, 3);
  Dataset d;
  int rc;
  write_text(tpath("a.csv"), "0,1,2,3\n3,1,2,3\n");
  CAPTURE(rc = nitrt_load_csv(tpath("a.csv"), &m, 0, true, NULL, &d));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("a.csv:2: label 3 is out of range");
  write_text(tpath("b.csv"), "0,1,2,3\n1,1,2\n");
  CAPTURE(rc = nitrt_load_csv(tpath("b.csv"), &m, 0, true, NULL, &d));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("b.csv:2: 2 features but the model expects 3");
  write_text(tpath("c.csv"), "0,1,2,3\n1,1,x,3\n");
  CAPTURE(rc = nitrt_load_csv(tpath("c.csv"), &m, 0, true, NULL, &d));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("c.csv:2:5: feature 2: expected a decimal number");
  write_text(tpath("d.csv"), "label,a,b,c\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("d.csv"), &m, 0, true, NULL, &d), -1); /* empty */
  write_text(tpath("e.csv"), "0.5,1,2,3\n");
  ck_assert_int_eq(nitrt_load_csv(tpath("e.csv"), &m, 0, true, NULL, &d), -1); /* label 0.5 */
  ck_assert_int_eq(nitrt_load_csv(tpath("none.csv"), &m, 0, true, NULL, &d), -1);
  write_text(tpath("big.csv"), "0,9000000000001,1,1\n");
  CAPTURE(rc = nitrt_load_csv(tpath("big.csv"), &m, 0, true, NULL, &d));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("big.csv:1:3: feature 1: expected a decimal number of magnitude at most 9e12");
  /* a NUL byte is an error with its line, not the end of the data set */
  write_bytes(tpath("nul.csv"), "0,1,2,3\n1,1,2,3\n2,1\0002,3\n0,1,2,3\n", 32);
  CAPTURE(rc = nitrt_load_csv(tpath("nul.csv"), &m, 0, true, NULL, &d));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("nul.csv:3: NUL byte at offset 19");
  ck_assert_ptr_null(d.x);
}
END_TEST

START_TEST(raw_files) {
  NitModel m = model_shape(1, 2, 2, 3);
  Dataset d;
  const uint8_t b[8] = {0, 1, 2, 255, 9, 8, 7, 6};
  write_bytes(tpath("r"), b, 8);
  ck_assert_int_eq(nitrt_load_raw(tpath("r"), &m, &d), 0);
  ck_assert_int_eq(d.n, 2);
  ck_assert_int_eq(d.x[3], 127);
  nitrt_data_free(&d);
  write_bytes(tpath("r"), b, 7);
  ck_assert_int_eq(nitrt_load_raw(tpath("r"), &m, &d), -1);
}
END_TEST

START_TEST(shuffle_rule) {
  enum { N = 1000 };
  static uint32_t a[N], b[N], c[N];
  static uint8_t seen[N];
  nitrt_shuffle(a, N, 5, 1);
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < N; i++) {
    ck_assert_uint_lt(a[i], N);
    ck_assert_int_eq(seen[a[i]], 0);
    seen[a[i]] = 1;
  }
  nitrt_shuffle(b, N, 5, 1);
  ck_assert_mem_eq(a, b, sizeof a);
  nitrt_shuffle(c, N, 5, 2);
  ck_assert(memcmp(a, c, sizeof a) != 0);
  nitrt_shuffle(c, N, 6, 1);
  ck_assert(memcmp(a, c, sizeof a) != 0);
  int fixed = 0; /* a shuffle, not the identity */
  for (int i = 0; i < N; i++)
    fixed += a[i] == (uint32_t)i;
  ck_assert_int_lt(fixed, 20);
  /* the rule itself, for n = 3: i = 2 then i = 1 */
  uint64_t key = nit_key(9, 4, NIT_TID_SHUFFLE);
  uint32_t p[3] = {0, 1, 2}, q[3];
  for (int i = 2; i >= 1; i--) {
    uint64_t j = nit_draw(key, (uint64_t)i) % (uint64_t)(i + 1);
    uint32_t t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  nitrt_shuffle(q, 3, 9, 4);
  ck_assert_mem_eq(p, q, sizeof p);
  nitrt_shuffle(q, 1, 9, 4);
  ck_assert_uint_eq(q[0], 0);
}
END_TEST

/* ------------------------------------------------------ init and ckpt */

START_TEST(init_rule) {
  const NitModel *m = &nit_model;
  uint8_t *slab = nitrt_alloc_aligned((size_t)m->param_bytes);
  memset(slab, 0xAA, (size_t)m->param_bytes);
  nitrt_init_params(m, slab, 77);
  int64_t used = 0;
  for (int32_t p = 0; p < m->nparams; p++) {
    const NitParam *t = &m->params[p];
    uint64_t key = nit_key(77, NIT_STEP_INIT, NIT_TID_INIT(p));
    int lo = 0, hi = 0;
    for (int64_t j = 0; j < t->count; j++) {
      int w = (int)(nit_draw(key, (uint64_t)j) % (uint64_t)(2 * t->bound + 1)) - t->bound;
      ck_assert_int_eq((int8_t)slab[t->offset + j], w);
      lo = w < lo ? w : lo;
      hi = w > hi ? w : hi;
    }
    ck_assert_int_ge(lo, -t->bound);
    ck_assert_int_le(hi, t->bound);
    if (t->count >= 1000) { /* the whole range is drawn */
      ck_assert_int_eq(lo, -t->bound);
      ck_assert_int_eq(hi, t->bound);
    }
    used += t->count;
  }
  int64_t zeros = 0; /* padding is zeroed too */
  for (int64_t i = m->params[0].count; i < m->params[1].offset; i++)
    zeros += slab[i] == 0;
  ck_assert_int_eq(zeros, m->params[1].offset - m->params[0].count);
  for (int64_t i = m->params[1].offset + m->params[1].count; i < m->param_bytes; i++)
    ck_assert_int_eq(slab[i], 0);
  nitrt_free_aligned(slab, (size_t)nit_model.param_bytes);
}
END_TEST

/* A valid checkpoint of the fake model: parameters from the init rule with
 * a few extreme values, data recorded as CSV with per-column shifts. */
static int8_t sample_shift[784];

static Ckpt sample_ckpt(uint8_t *slab) {
  Ckpt c;
  memset(&c, 0, sizeof c);
  nitrt_model_recipe(&nit_model, &c.r);
  c.r.seed = 0x0102030405060708ull;
  c.r.epochs = 9;
  c.r.limit = 500;
  c.epoch = 3;
  c.step = 1234567890123ull;
  c.shuffle_seed = c.r.seed;
  c.shuffle_epoch = 4;
  c.ntrain = 480;
  nitrt_init_params(&nit_model, slab, 5);
  slab[0] = (uint8_t)(int8_t)-127;
  slab[1] = 127;
  c.params = slab;
  for (int i = 0; i < 784; i++)
    sample_shift[i] = (int8_t)(i % 30 - 10);
  c.q.kind = NITRT_QUANT_COLUMNS;
  c.q.in_exp = -7;
  c.q.ncols = 784;
  c.q.shift = sample_shift;
  c.train = (DataPrint){NITRT_FMT_CSV, 500, 0x1122334455667788ull};
  c.test = (DataPrint){NITRT_FMT_CSV, 100, 0x99AABBCCDDEEFF00ull};
  snprintf(c.data, sizeof c.data, "/data/sets/tabular");
  return c;
}

START_TEST(ckpt_roundtrip) {
  const NitModel *m = &nit_model;
  uint8_t *slab = nitrt_alloc_aligned((size_t)m->param_bytes);
  uint8_t *back = nitrt_alloc_aligned((size_t)m->param_bytes);
  Ckpt c = sample_ckpt(slab), r;
  ck_assert_int_eq(nitrt_ckpt_save(tpath("a.ckpt"), m, &c), 0);
  struct stat st;
  ck_assert_int_eq(stat(tpath("a.ckpt"), &st), 0);
  ck_assert_int_eq(st.st_size, nitrt_ckpt_size(m, &c));
  ck_assert_int_eq(nitrt_ckpt_load(tpath("a.ckpt"), m, &r, back), 0);
  ck_assert_mem_eq(slab, back, (size_t)m->param_bytes);
  ck_assert_uint_eq(r.epoch, 3);
  ck_assert(r.step == 1234567890123ull);
  ck_assert(r.r.seed == 0x0102030405060708ull);
  ck_assert_int_eq(r.r.epochs, 9);
  ck_assert_int_eq(r.r.limit, 500);
  ck_assert_int_eq(r.r.nsched, c.r.nsched);
  ck_assert_int_eq(r.r.mu[1], c.r.mu[1]);
  ck_assert_int_eq(r.r.err_round, c.r.err_round);
  ck_assert_uint_eq(r.shuffle_epoch, 4);
  ck_assert_int_eq(r.ntrain, 480);
  ck_assert_str_eq(r.name, "fake");
  /* the data: quantization, identities, directory */
  ck_assert_uint_eq(r.version, 2);
  ck_assert_int_eq(r.q.kind, NITRT_QUANT_COLUMNS);
  ck_assert_int_eq(r.q.in_exp, -7);
  ck_assert_int_eq(r.q.ncols, 784);
  ck_assert_mem_eq(r.q.shift, sample_shift, 784);
  ck_assert(nitrt_print_same(&r.train, &c.train));
  ck_assert(nitrt_print_same(&r.test, &c.test));
  ck_assert_str_eq(r.data, "/data/sets/tabular");
  nitrt_ckpt_free(&r);
  /* byte layout: magic, little-endian fields at their documented offsets */
  uint8_t *b;
  size_t len;
  ck_assert_int_eq(nitrt_read_file(tpath("a.ckpt"), "a checkpoint", &b, &len), 0);
  ck_assert_mem_eq(b, "NITCKPT\0", 8);
  ck_assert_int_eq(b[8], 2); /* niti models write format 2 */
  ck_assert_int_eq(b[96], 3);
  ck_assert_int_eq(b[112], 0x08);
  ck_assert_int_eq(b[119], 0x01);
  uint32_t crc = nitrt_crc32(b, len - 4);
  ck_assert_uint_eq(b[len - 4] | b[len - 3] << 8 | b[len - 2] << 16 | (uint32_t)b[len - 1] << 24,
                    crc);
  ck_assert_int_eq(b[256], NITRT_FMT_CSV);
  ck_assert_int_eq(b[260], NITRT_QUANT_COLUMNS);
  ck_assert_int_eq(b[264], 0xF9); /* -7 */
  ck_assert_int_eq(b[272] | b[273] << 8, 784);
  ck_assert_int_eq(b[280] | b[284] << 8 | b[288] << 16, 1 | 28 << 8 | 28 << 16);
  ck_assert_int_eq(b[296] | b[297] << 8, 500);
  ck_assert_int_eq(b[304], 0x88);
  ck_assert_int_eq(b[312], 100);
  ck_assert_int_eq(b[328], 18);
  size_t at = 336 + (size_t)m->param_bytes;
  ck_assert_mem_eq(b + at, sample_shift, 784);
  ck_assert_mem_eq(b + at + 784, "/data/sets/tabular", 18);
  ck_assert_uint_eq(len, at + 784 + 18 + 4);
  free(b);
  /* overwrite in place: still one file, no temp files left behind */
  c.epoch = 4;
  c.shuffle_epoch = 5;
  ck_assert_int_eq(nitrt_ckpt_save(tpath("a.ckpt"), m, &c), 0);
  ck_assert_int_eq(nitrt_ckpt_load(tpath("a.ckpt"), m, &r, back), 0);
  ck_assert_uint_eq(r.epoch, 4);
  nitrt_ckpt_free(&r);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
  nitrt_free_aligned(slab, (size_t)nit_model.param_bytes);
  nitrt_free_aligned(back, (size_t)nit_model.param_bytes);
}
END_TEST

START_TEST(ckpt_rejects) {
  const NitModel *m = &nit_model;
  uint8_t *slab = nitrt_alloc_aligned((size_t)m->param_bytes);
  uint8_t *back = nitrt_alloc_aligned((size_t)m->param_bytes);
  Ckpt c = sample_ckpt(slab), r;
  ck_assert_int_eq(nitrt_ckpt_save(tpath("a.ckpt"), m, &c), 0);
  uint8_t *b;
  size_t len;
  ck_assert_int_eq(nitrt_read_file(tpath("a.ckpt"), "a checkpoint", &b, &len), 0);
  /* every single flipped byte is caught */
  for (size_t pos = 0; pos < len; pos += 97) {
    b[pos] ^= 0x10;
    write_bytes(tpath("bad.ckpt"), b, len);
    ck_assert_msg(nitrt_ckpt_load(tpath("bad.ckpt"), m, &r, back) == -1, "byte %zu", pos);
    b[pos] ^= 0x10;
  }
  write_bytes(tpath("bad.ckpt"), b, len - 1); /* truncated */
  ck_assert_int_eq(nitrt_ckpt_load(tpath("bad.ckpt"), m, &r, back), -1);
  write_bytes(tpath("bad.ckpt"), b, 5);
  ck_assert_int_eq(nitrt_ckpt_load(tpath("bad.ckpt"), m, &r, back), -1);
  write_text(tpath("bad.ckpt"), "hello, world, this is not a checkpoint");
  ck_assert_int_eq(nitrt_ckpt_load(tpath("bad.ckpt"), m, &r, back), -1);
  ck_assert_int_eq(nitrt_ckpt_load(tpath("missing.ckpt"), m, &r, back), -1);
  NitModel other = nit_model;
  other.fingerprint ^= 1;
  other.name = "other";
  ck_assert_int_eq(nitrt_ckpt_load(tpath("a.ckpt"), &other, &r, back), -1);
  free(b);
  nitrt_free_aligned(slab, (size_t)nit_model.param_bytes);
  nitrt_free_aligned(back, (size_t)nit_model.param_bytes);
}
END_TEST

/* A checkpoint's bytes with a field changed and the CRC made valid again. */
static void put_le(uint8_t *b, size_t off, int size, uint64_t v) {
  for (int i = 0; i < size; i++)
    b[off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static void fix_crc(uint8_t *b, size_t len) { put_le(b, len - 4, 4, nitrt_crc32(b, len - 4)); }

START_TEST(ckpt_fields_validated) {
  const NitModel *m = &nit_model;
  uint8_t *slab = nitrt_alloc_aligned((size_t)m->param_bytes);
  uint8_t *back = nitrt_alloc_aligned((size_t)m->param_bytes);
  Ckpt c = sample_ckpt(slab), r;
  size_t len;
  uint8_t *good = nitrt_ckpt_serialize(m, &c, &len);
  ck_assert_ptr_nonnull(good);
  uint8_t *b = malloc(len);
  const size_t P = (size_t)m->param_bytes, S = 336 + P; /* the shifts */
  const struct {
    size_t off;
    int size;
    uint64_t v;
    const char *msg;
  } cases[] = {
      {136, 4, 0, "the batch is 0, expected 1..1048576"},
      {136, 4, 2000000, "the batch is 2000000"},
      {140, 4, 0xFFFFFFFF, "the total epochs is -1, expected 1..1000000"},
      {144, 4, 3, "the activation rounding mode is 3, expected 0..2"},
      {148, 4, 0x80000000u, "the error rounding mode is -2147483648"},
      {152, 4, 7, "the gradient rounding mode is 7"},
      {156, 4, 0, "the number of update-bit schedule entries is 0, expected 1..8"},
      {156, 4, 9, "the number of update-bit schedule entries is 9"},
      {160, 4, 9, "update bits of schedule entry 1 is 9, expected 1..8"},
      {164, 4, 0, "update bits of schedule entry 2 is 0"},
      {168, 4, 3, "unused schedule entry 3 is 3, expected 0..0"},
      {192, 4, 2, "the first epoch of schedule entry 1 is 2, expected 1..1"},
      {196, 4, 1, "the first epoch of schedule entry 2 is 1, expected 2..2147483647"},
      {224, 4, 2, "decay is 2, expected 0..1"},
      {228, 4, 0xFFFFFFFB, "the holdout is -5, expected 0..2147483647"},
      {228, 4, 30, "the training samples used plus the holdout is 510, expected 1..500"},
      {232, 8, (uint64_t)-1, "the limit is -1"},
      {96, 4, 10, "the epochs completed is 10, expected 0..9"},
      {100, 4, 7, "the next epoch of the data order is 7, expected 4..4"},
      {104, 8, 2, "the global step is 2, expected 3.."},
      {120, 8, 5, "the shuffle seed 5 differs from the seed"},
      {128, 8, 0, "the training samples used is 0"},
      {244, 4, 2, "the epoch-position flag (offset 244) is 2, expected 0..1"},
      {244, 4, 1, "784 column shifts, a 18-byte data directory and a 24-byte epoch position do not fit"},
      {80, 1, 'x', "padding byte of the model name is 120"},
      {256, 4, 4, "the training data format is 4, expected 1..3"},
      {292, 4, NITRT_FMT_IDX, "the test data format is 1, expected 3..3"},
      {260, 4, 0, "the quantization is 0, expected 1..1"},
      {264, 4, 0, "the input exponent is 0, expected -7..-7"},
      {280, 4, 3, "the input channels is 3, expected 1..1"},
      {288, 4, 27, "the input width is 27, expected 28..28"},
      {296, 8, 479, "the training set's sample count is 479, expected 480.."},
      {312, 8, 0, "the test set's sample count is 0"},
      {332, 4, 2, "the table loss flag is 2, expected 0..1"},
      {S + 5, 1, 63, "the shift of column 6 is 63, expected -40..62"},
      {S + 7, 1, 0xD7, "the shift of column 8 is -41"},
      {336, 1, 0x80, "weight 0 of tensor f1 is -128, expected -127..127"},
      {336 + 7840, 1, 1, "padding byte 7840 of the parameters is 1, expected 0"},
      {336 + P - 1, 1, 2, "padding byte 7935 of the parameters is 2"},
      {272, 8, 783, "column shifts and a 18-byte data directory do not fit"},
      {328, 4, 19, "column shifts and a 19-byte data directory do not fit"},
      {S + 784 + 3, 1, 0, "the data directory holds a NUL byte"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(b, good, len);
    put_le(b, cases[i].off, cases[i].size, cases[i].v);
    fix_crc(b, len);
    memset(back, 0x5A, (size_t)m->param_bytes);
    int rc;
    CAPTURE(rc = nitrt_ckpt_parse("x.ckpt", b, len, m, &r, back));
    ck_assert_msg(rc == -1, "case %zu (%s) accepted", i, cases[i].msg);
    ERR_HAS("x.ckpt: invalid checkpoint: ");
    ERR_HAS(cases[i].msg);
    ck_assert_int_eq(back[0], 0x5A); /* nothing copied */
  }
  /* the unmodified bytes pass */
  ck_assert_int_eq(nitrt_ckpt_parse("x.ckpt", good, len, m, &r, back), 0);
  nitrt_ckpt_free(&r);
  free(b);
  free(good);
  nitrt_free_aligned(slab, (size_t)m->param_bytes);
  nitrt_free_aligned(back, (size_t)m->param_bytes);
}
END_TEST

/* A format-1 checkpoint (no data section) still loads; the data are
 * unknown (version 1), and eval without --data refuses to guess. */
START_TEST(ckpt_format1_loads) {
  const NitModel *m = &nit_model;
  uint8_t *slab = nitrt_alloc_aligned((size_t)m->param_bytes);
  uint8_t *back = nitrt_alloc_aligned((size_t)m->param_bytes);
  Ckpt c = sample_ckpt(slab), r;
  size_t len2;
  uint8_t *v2 = nitrt_ckpt_serialize(m, &c, &len2);
  const size_t P = (size_t)m->param_bytes, len = 256 + P + 4;
  uint8_t *b = calloc(1, len);
  memcpy(b, v2, 256);
  memcpy(b + 256, v2 + 336, P);
  put_le(b, 8, 4, 1);
  put_le(b, 16, 8, len);
  fix_crc(b, len);
  write_bytes(tpath("v1.ckpt"), b, len);
  ck_assert_int_eq(nitrt_ckpt_load(tpath("v1.ckpt"), m, &r, back), 0);
  ck_assert_uint_eq(r.version, 1);
  ck_assert_mem_eq(back, slab, P);
  ck_assert_uint_eq(r.epoch, 3);
  ck_assert_str_eq(r.data, "");
  Options o;
  memset(&o, 0, sizeof o);
  const char *dir;
  CAPTURE(dir = nitrt_data_dir(&o, m, &r, "v1.ckpt"));
  ck_assert_ptr_null(dir);
  ERR_HAS("v1.ckpt: the checkpoint does not record its data set (format 1): give --data DIR");
  nitrt_ckpt_free(&r);
  /* format 3 is for recipes with masters; format 4 is refused by name */
  put_le(b, 8, 4, 3);
  fix_crc(b, len);
  int rc;
  CAPTURE(rc = nitrt_ckpt_parse("v3.ckpt", b, len, m, &r, back));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("v3.ckpt: checkpoint format version 3 is for recipes with masters; model fake uses recipe niti");
  put_le(b, 8, 4, 4);
  fix_crc(b, len);
  CAPTURE(rc = nitrt_ckpt_parse("v4.ckpt", b, len, m, &r, back));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("v4.ckpt: checkpoint format version 4; this runtime reads versions 1 to 3");
  free(b);
  free(v2);
  nitrt_free_aligned(slab, P);
  nitrt_free_aligned(back, P);
}
END_TEST

/* Temp files of saves killed outright are removed by the next save, unless
 * a live writer holds them. */
START_TEST(ckpt_stale_temp_files) {
  const NitModel *m = &nit_model;
  uint8_t *slab = nitrt_alloc_aligned((size_t)m->param_bytes);
  Ckpt c = sample_ckpt(slab);
  write_text(tpath("a.ckpt.tmpAbC123"), "half a checkpoint");
  write_text(tpath("a.ckpt.tmpLive99"), "a live writer's");
  write_text(tpath("a.ckpt.tmpToolong1"), "not ours");
  write_text(tpath("b.ckpt.tmpAbC123"), "another checkpoint's");
  int up[2], down[2]; /* child -> parent: locked; parent -> child: let go */
  ck_assert_int_eq(pipe(up), 0);
  ck_assert_int_eq(pipe(down), 0);
  pid_t child = fork();
  if (child == 0) { /* the live writer: holds its lock until told */
    int fd = open(tpath("a.ckpt.tmpLive99"), O_RDWR);
    char ch;
    if (fd < 0 || flock(fd, LOCK_EX) != 0 || write(up[1], "L", 1) != 1)
      _exit(1);
    if (read(down[0], &ch, 1) < 0)
      _exit(1);
    _exit(0);
  }
  char ch;
  ck_assert_int_eq(read(up[0], &ch, 1), 1); /* locked */
  ck_assert_int_eq(nitrt_ckpt_save(tpath("a.ckpt"), m, &c), 0);
  ck_assert_int_eq(access(tpath("a.ckpt.tmpAbC123"), F_OK), -1);
  ck_assert_int_eq(access(tpath("a.ckpt.tmpLive99"), F_OK), 0);
  ck_assert_int_eq(access(tpath("a.ckpt.tmpToolong1"), F_OK), 0);
  ck_assert_int_eq(access(tpath("b.ckpt.tmpAbC123"), F_OK), 0);
  ck_assert_int_eq(write(down[1], "x", 1), 1);
  int st;
  ck_assert_int_eq(waitpid(child, &st, 0), child);
  ck_assert_int_eq(nitrt_ckpt_clean_stale(tpath("a.ckpt")), 1); /* its writer is gone */
  ck_assert_int_eq(access(tpath("a.ckpt.tmpLive99"), F_OK), -1);
  for (int i = 0; i < 2; i++) {
    close(up[i]);
    close(down[i]);
  }
  nitrt_free_aligned(slab, (size_t)m->param_bytes);
}
END_TEST

/* Directories, FIFOs and devices are refused by name, without blocking. */
START_TEST(files_not_regular) {
  const NitModel *m = &nit_model;
  ck_assert_int_eq(mkfifo(tpath("fifo"), 0600), 0);
  uint8_t *b;
  size_t len;
  int rc;
  alarm(20); /* a blocking open would hang here: fail instead */
  CAPTURE(rc = nitrt_read_file(tpath("fifo"), "a data file", &b, &len));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("fifo: is a FIFO, expected a data file (a regular file)");
  CAPTURE(rc = nitrt_read_file(tmpdir, "a checkpoint", &b, &len));
  ck_assert_int_eq(rc, -1);
  ERR_HAS(": is a directory, expected a checkpoint (a regular file)");
  CAPTURE(rc = nitrt_read_file("/dev/null", "an input file", &b, &len));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("/dev/null: is a character device, expected an input file");
  Dataset d;
  Ckpt c;
  uint8_t *slab = nitrt_alloc_aligned((size_t)m->param_bytes);
  CAPTURE(rc = nitrt_load_csv(tpath("fifo"), m, 0, true, NULL, &d));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("is a FIFO");
  CAPTURE(rc = nitrt_ckpt_load(tpath("fifo"), m, &c, slab));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("fifo: is a FIFO, expected a checkpoint");
  CAPTURE(rc = nitrt_check_writable(tpath("fifo")));
  ck_assert_int_eq(rc, -1);
  ERR_HAS("fifo: cannot save a checkpoint there: it is a FIFO");
  FILE *f;
  CAPTURE(f = nitrt_open_log(tpath("fifo"), false));
  ck_assert_ptr_null(f);
  ERR_HAS("fifo: cannot open log file for writing: a FIFO that no process reads");
  alarm(0);
  nitrt_free_aligned(slab, (size_t)m->param_bytes);
}
END_TEST

START_TEST(ckpt_crc_and_paths) {
  ck_assert_uint_eq(nitrt_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
  ck_assert_int_eq(nitrt_check_writable(tpath("x.ckpt")), 0);
  ck_assert_int_eq(access(tpath("x.ckpt"), F_OK), -1); /* the probe left nothing */
  ck_assert_int_eq(nitrt_check_writable(tpath("nodir/x.ckpt")), -1);
  ck_assert_int_eq(nitrt_check_writable(tmpdir), -1); /* a directory */
  ck_assert_int_eq(nitrt_check_writable("x.ckpt"), 0); /* relative, no slash */
  uint8_t *slab = nitrt_alloc_aligned((size_t)nit_model.param_bytes);
  Ckpt c = sample_ckpt(slab);
  ck_assert_int_eq(nitrt_ckpt_save(tpath("nodir/x.ckpt"), &nit_model, &c), -1);
  nitrt_free_aligned(slab, (size_t)nit_model.param_bytes);
}
END_TEST

/* ---------------------------------------------------------------- pool */

/* Every item of [0, count) visited once, by a chunk below the returned count,
 * and every such chunk non-empty. */
typedef struct Visits {
  atomic_int seen[64];
  atomic_int chunk_items[NITRT_POOL_CHUNKS];
} Visits;

static void visit(void *env, int64_t lo, int64_t hi, int32_t worker) {
  Visits *v = env;
  for (int64_t i = lo; i < hi; i++) atomic_fetch_add(&v->seen[i], 1);
  atomic_fetch_add(&v->chunk_items[worker], (int)(hi - lo));
}

START_TEST(pool_covers_range) {
  int threads[] = {1, 2, 3, 5};
  for (int t = 0; t < 4; t++) {
    NitPool *p = nitrt_pool_new(threads[t]);
    ck_assert_ptr_nonnull(p);
    for (int rep = 0; rep < 50; rep++)
      for (int count = 1; count <= 64; count += 1 + rep % 7)
        for (int maxw = 1; maxw <= 4; maxw++) {
          Visits v;
          memset(&v, 0, sizeof v);
          int32_t used = nitrt_parallel_for(p, visit, &v, count, maxw);
          int32_t want = nitrt_pool_threads(p);
          if (want > maxw) want = maxw;
          if (want > count) want = count;
          ck_assert_int_eq(used, want);
          for (int i = 0; i < count; i++) {
            int seen = atomic_load(&v.seen[i]);
            ck_assert_int_eq(seen, 1);
          }
          for (int w = 0; w < NITRT_POOL_CHUNKS; w++) {
            int items = atomic_load(&v.chunk_items[w]);
            ck_assert_msg(w < used ? items > 0 : items == 0, "chunk %d of %d: %d items", w, used, items);
          }
        }
    nitrt_pool_free(p);
  }
}
END_TEST

/* After the workers have gone to sleep, a call wakes them: the caller's
 * chunk waits, up to two seconds, for the other chunk to start on another
 * thread. Were the worker left asleep, the caller would run the other chunk
 * itself after that, and the test fails. */
typedef struct Woken {
  pthread_t caller;
  atomic_int other_started;
} Woken;

static void wait_for_other(void *env, int64_t lo, int64_t hi, int32_t worker) {
  Woken *k = env;
  (void)lo, (void)hi, (void)worker;
  if (!pthread_equal(pthread_self(), k->caller)) {
    atomic_store(&k->other_started, 1);
    return;
  }
  struct timespec nap = {0, 1000000};
  for (int i = 0; i < 2000 && !atomic_load(&k->other_started); i++) nanosleep(&nap, NULL);
}

START_TEST(pool_wakes_sleepers) {
  NitPool *p = nitrt_pool_new(2);
  ck_assert_int_eq(nitrt_pool_threads(p), 2);
  for (int round = 0; round < 3; round++) {
    struct timespec rest = {0, 300000000}; /* well past the workers' spinning */
    nanosleep(&rest, NULL);
    Woken k = {pthread_self(), 0};
    ck_assert_int_eq(nitrt_parallel_for(p, wait_for_other, &k, 2, 2), 2);
    int woke = atomic_load(&k.other_started);
    ck_assert_msg(woke, "round %d: the sleeping worker ran no chunk", round);
  }
  nitrt_pool_free(p);
}
END_TEST

/* Idle units: each runs exactly once, whether the workers take them
 * between jobs, give them back when a job comes, or the caller finishes
 * them; with a worker, the worker runs some when the caller leaves it time
 * (up to two seconds). */
typedef struct IdleUnits {
  pthread_t caller;
  atomic_int seen[300];
  atomic_int off_caller; /* units run by another thread */
} IdleUnits;

static void idle_unit(void *env, int64_t i) {
  IdleUnits *u = env;
  atomic_fetch_add(&u->seen[i], 1);
  if (!pthread_equal(pthread_self(), u->caller)) atomic_fetch_add(&u->off_caller, 1);
  if (i % 16 == 0) { /* some slow units, so that jobs arrive while one runs */
    struct timespec nap = {0, 20000};
    nanosleep(&nap, NULL);
  }
}

START_TEST(pool_idle_units) {
  int threads[] = {1, 2, 3};
  for (int t = 0; t < 3; t++) {
    NitPool *p = nitrt_pool_new(threads[t]);
    for (int rep = 0; rep < 20; rep++) {
      IdleUnits *u = calloc(1, sizeof *u);
      u->caller = pthread_self();
      Visits v;
      memset(&v, 0, sizeof v);
      nitrt_parallel_for(p, visit, &v, 64, 4); /* the workers awake */
      int64_t n = 100 + 10 * rep;
      nitrt_pool_idle_set(p, idle_unit, u, n);
      for (int job = 0; job < rep % 4; job++) { /* jobs in between */
        memset(&v, 0, sizeof v);
        nitrt_parallel_for(p, visit, &v, 64, 4);
        for (int i = 0; i < 64; i++) ck_assert_int_eq(atomic_load(&v.seen[i]), 1);
      }
      if (threads[t] > 1 && rep == 0) {
        struct timespec nap = {0, 1000000};
        for (int i = 0; i < 2000 && !atomic_load(&u->off_caller); i++) nanosleep(&nap, NULL);
        ck_assert_msg(atomic_load(&u->off_caller) > 0, "threads %d: no worker ran an idle unit", threads[t]);
      }
      nitrt_pool_idle_finish(p);
      for (int64_t i = 0; i < n; i++) ck_assert_int_eq(atomic_load(&u->seen[i]), 1);
      for (int64_t i = n; i < 300; i++) ck_assert_int_eq(atomic_load(&u->seen[i]), 0);
      if (threads[t] == 1) ck_assert_int_eq(atomic_load(&u->off_caller), 0);
      free(u);
    }
    nitrt_pool_free(p);
  }
}
END_TEST

/* Speeds per body: a body whose chunk runs four times as long per item on
 * the worker as on the caller moves its edge towards the caller, while a
 * body that runs even, called in turn with it, keeps its own split. With
 * one set of speeds for the pool both would split alike. The items spin
 * on the thread's CPU time, so that on a loaded machine a thread that is
 * preempted takes longer, as real work would. A call teaches the pool only
 * when each chunk ran on its home executor, so the caller's chunk first
 * waits (up to two seconds) for the worker to start its own; the wait
 * delays both chunks' ends alike. */
typedef struct Paced {
  pthread_t caller;
  int64_t slow;         /* CPU ns per item on the other thread */
  int64_t caller_items; /* the caller's chunk's items, last call */
  atomic_int started;   /* the worker's chunk has begun, this call */
} Paced;

enum { PACED_ITEM_NS = 100000 }; /* CPU ns per item on the caller */

static int64_t thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void spin_items(void *env, int64_t lo, int64_t hi, int32_t worker) {
  Paced *k = env;
  (void)worker;
  bool on_caller = pthread_equal(pthread_self(), k->caller);
  if (!on_caller) {
    atomic_store(&k->started, 1);
  } else {
    k->caller_items = hi - lo;
    int64_t give_up = nitrt_now_ns() + 2000000000;
    while (!atomic_load(&k->started) && nitrt_now_ns() < give_up) {
    }
  }
  int64_t per = on_caller ? PACED_ITEM_NS : k->slow;
  int64_t until = thread_cpu_ns() + (hi - lo) * per;
  while (thread_cpu_ns() < until) {
  }
}

/* the even body: a function of its own, since the pool keys speeds by the body's address */
static void spin_items_too(void *env, int64_t lo, int64_t hi, int32_t worker) { spin_items(env, lo, hi, worker); }

START_TEST(pool_paces_per_body) {
  NitPool *p = nitrt_pool_new(2);
  ck_assert_int_eq(nitrt_pool_threads(p), 2);
  Paced lop = {pthread_self(), 4 * PACED_ITEM_NS, 0, 0}, even = {pthread_self(), PACED_ITEM_NS, 0, 0};
  for (int call = 0; call < 40; call++) { /* each body timed 10 times */
    atomic_store(&lop.started, 0);
    ck_assert_int_eq(nitrt_parallel_for(p, spin_items, &lop, 100, 2), 2);
    atomic_store(&even.started, 0);
    ck_assert_int_eq(nitrt_parallel_for(p, spin_items_too, &even, 100, 2), 2);
  }
  ck_assert_msg(lop.caller_items > 60, "the lopsided body gives the caller %lld of 100 items",
                (long long)lop.caller_items);
  ck_assert_msg(even.caller_items < lop.caller_items,
                "the even body's split (the caller %lld) moved with the lopsided one's (%lld)",
                (long long)even.caller_items, (long long)lop.caller_items);
  nitrt_pool_free(p);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("runtime");
  TCase *t = tcase_create("fixed");
  tcase_add_test(t, loss_uniform_is_ln_classes);
  tcase_add_test(t, loss_known_values);
  tcase_add_test(t, loss_is_nonnegative_and_ordered);
  tcase_add_test(t, exp2_every_fraction);
  tcase_add_test(t, xent_matches_definition);
  tcase_add_test(t, softmax_percent);
  tcase_add_test(t, argmax_first_wins);
  tcase_add_test(t, integer_formatting);
  suite_add_tcase(s, t);
  t = tcase_create("cli");
  tcase_add_test(t, cli_train_flags);
  tcase_add_test(t, cli_other_commands);
  tcase_add_test(t, cli_rejects);
  tcase_add_test(t, cli_schedules);
  suite_add_tcase(s, t);
  t = tcase_create("data");
  tcase_add_checked_fixture(t, idx_setup, rm_tmp);
  tcase_add_test(t, idx_good);
  tcase_add_test(t, hash_definition);
  tcase_add_test(t, idx_chunked);
  tcase_add_test(t, idx_bad);
  tcase_add_test(t, dir_detection);
  tcase_add_test(t, cifar_files);
  tcase_add_test(t, csv_per_column);
  tcase_add_test(t, csv_constant_columns);
  tcase_add_test(t, csv_predict_rows);
  tcase_add_test(t, csv_bad);
  tcase_add_test(t, raw_files);
  tcase_add_test(t, shuffle_rule);
  tcase_add_test(t, telemetry_counts);
  tcase_add_test(t, telemetry_note);
  suite_add_tcase(s, t);
  t = tcase_create("ckpt");
  tcase_add_checked_fixture(t, mk_tmp, rm_tmp);
  tcase_add_test(t, init_rule);
  tcase_add_test(t, ckpt_roundtrip);
  tcase_add_test(t, ckpt_rejects);
  tcase_add_test(t, ckpt_crc_and_paths);
  tcase_add_test(t, ckpt_fields_validated);
  tcase_add_test(t, ckpt_format1_loads);
  tcase_add_test(t, ckpt_stale_temp_files);
  tcase_add_test(t, files_not_regular);
  suite_add_tcase(s, t);

  t = tcase_create("pool");
  tcase_add_test(t, pool_covers_range);
  tcase_add_test(t, pool_wakes_sleepers);
  tcase_add_test(t, pool_idle_units);
  tcase_add_test(t, pool_paces_per_body);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  nitrt_prog = "test_runtime";
  SRunner *r = srunner_create(suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
