/*
 * test_ref.c: Check suite of the numerics reference.
 *
 * Expected values are worked out by hand from docs/numerics.md in the comment
 * beside each case, never copied from the code's output. Statistical tests
 * use the shared counter-based generator, so they are deterministic; their
 * tolerances are stated in sigmas. Independent re-implementations (gather
 * form of the conv backward, adjoint identities) check the layer code.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "nitc.h"
#include "ref.h"

#define P NIT_ROUND_PSEUDO
#define S NIT_ROUND_STOCHASTIC
#define N NIT_ROUND_NEAREST

/* ------------------------------------------------------------------ B(V) */

START_TEST(test_bits) {
  ck_assert_int_eq(ref_bits(0), 0);
  ck_assert_int_eq(ref_bits(1), 1);
  ck_assert_int_eq(ref_bits(2), 2);
  ck_assert_int_eq(ref_bits(3), 2);
  ck_assert_int_eq(ref_bits(127), 7);   /* fits int8: no shift */
  ck_assert_int_eq(ref_bits(128), 8);   /* exactly a power of two: one bit more */
  ck_assert_int_eq(ref_bits(255), 8);
  ck_assert_int_eq(ref_bits(256), 9);
  ck_assert_int_eq(ref_bits((uint64_t)1 << 63), 64);
  ck_assert_int_eq(ref_bits(UINT64_MAX), 64);

  int64_t v1[] = {5, -128, 3};          /* max |v| = 128 -> 8 */
  ck_assert_int_eq(ref_bitlen64(v1, 3), 8);
  int64_t v0[] = {0, 0, 0};             /* all zero -> 0 */
  ck_assert_int_eq(ref_bitlen64(v0, 3), 0);
  int64_t vm[] = {INT64_MIN, 1};        /* |INT64_MIN| = 2^63 -> 64 */
  ck_assert_int_eq(ref_bitlen64(vm, 2), 64);
  int32_t w1[] = {-1, 0};
  ck_assert_int_eq(ref_bitlen32(w1, 2), 1);
  int32_t w2[] = {-2147483647 - 1};     /* 2^31 -> 32 */
  ck_assert_int_eq(ref_bitlen32(w2, 1), 32);
  int8_t b1[] = {-127, 64};
  ck_assert_int_eq(ref_bitlen8(b1, 2), 7);
}
END_TEST

START_TEST(test_generator) {
  /* SplitMix64's first output from state 0 is the published 0xE220A8397B1DCDAF:
   * state += golden, then the finalizer. */
  ck_assert_uint_eq(nit_mix64(NIT_GOLDEN), 0xE220A8397B1DCDAFull);
  ck_assert_uint_eq(nit_mix64(0), 0);
  /* draws are counter based: the same (key, index) always gives the same bits */
  uint64_t k = nit_key(7, 3, NIT_TID_ACT(2));
  ck_assert_uint_eq(nit_draw(k, 11), nit_draw(k, 11));
  ck_assert_uint_ne(nit_draw(k, 11), nit_draw(k, 12));
  ck_assert_uint_ne(k, nit_key(7, 3, NIT_TID_ERR(2)));
  /* the fan-out sum has its own stream, distinct from the node's input error */
  ck_assert_uint_ne(NIT_TID_SUM(2), NIT_TID_ERR(2));
  ck_assert_uint_ne(NIT_TID_SUM(0), NIT_TID_LOSS);
}
END_TEST

/* ------------------------------------------------------------- R(x, k) */

START_TEST(test_round_k0_and_saturation) {
  /* k = 0: the value itself, saturated to [-127, 127] */
  ck_assert_int_eq(ref_round(5, 0, P, 0, 0), 5);
  ck_assert_int_eq(ref_round(-5, 0, S, 1, 2), -5);
  ck_assert_int_eq(ref_round(127, 0, P, 0, 0), 127);
  ck_assert_int_eq(ref_round(128, 0, P, 0, 0), 127);
  ck_assert_int_eq(ref_round(200, 0, N, 0, 0), 127);
  ck_assert_int_eq(ref_round(-200, 0, P, 0, 0), -127);  /* never -128 */
  ck_assert_int_eq(ref_round(-128, 0, P, 0, 0), -127);
  /* 510 = 127*4 + 2, k = 2: q = 127, f = 10b: hi 1 > lo 0 -> 128 -> 127 */
  ck_assert_int_eq(ref_round_wide(510, 2, P, 0, 0), 128);
  ck_assert_int_eq(ref_round(510, 2, P, 0, 0), 127);
  ck_assert_int_eq(ref_round(-510, 2, P, 0, 0), -127);
  /* saturate helpers */
  ck_assert_int_eq(ref_sat(3000, 2047), 2047);
  ck_assert_int_eq(ref_sat(-3000, 2047), -2047);
  ck_assert_int_eq(ref_sat(-5, 2047), -5);
  ck_assert_int_eq(ref_sat8(-128), -127);
}
END_TEST

START_TEST(test_round_pseudo_hand) {
  /* k = 1: half to even on q. 5 = 10.1b: q 2 even -> 2; 7 = 11.1b: q 3 odd -> 4;
   * 6 = 11.0b: f 0 -> 3; signs are symmetric (sign-magnitude). */
  ck_assert_int_eq(ref_round(5, 1, P, 0, 0), 2);
  ck_assert_int_eq(ref_round(7, 1, P, 0, 0), 4);
  ck_assert_int_eq(ref_round(6, 1, P, 0, 0), 3);
  ck_assert_int_eq(ref_round(-7, 1, P, 0, 0), -4);
  ck_assert_int_eq(ref_round(-5, 1, P, 0, 0), -2);
  ck_assert_int_eq(ref_round(1, 1, P, 0, 0), 0);   /* q 0 even */
  ck_assert_int_eq(ref_round(3, 1, P, 0, 0), 2);   /* q 1 odd */
  /* k = 2 (even): hi = f >> 1, lo = f & 1.
   * 6 = 1.10b: hi 1 > lo 0 -> 2; 7 = 1.11b: 1 > 1 no -> 1; 5 = 1.01b: 0 > 1 no -> 1 */
  ck_assert_int_eq(ref_round(6, 2, P, 0, 0), 2);
  ck_assert_int_eq(ref_round(7, 2, P, 0, 0), 1);
  ck_assert_int_eq(ref_round(5, 2, P, 0, 0), 1);
  ck_assert_int_eq(ref_round(-6, 2, P, 0, 0), -2);
  /* k = 3 (odd): drop f0, compare f2 with f1.
   * 12 = 1.100b: 1 > 0 -> 2; 13 = 1.101b: 1 > 0 -> 2; 14 = 1.110b: 1 > 1 no -> 1;
   * 11 = 1.011b: 0 > 1 no -> 1 */
  ck_assert_int_eq(ref_round(12, 3, P, 0, 0), 2);
  ck_assert_int_eq(ref_round(13, 3, P, 0, 0), 2);
  ck_assert_int_eq(ref_round(14, 3, P, 0, 0), 1);
  ck_assert_int_eq(ref_round(11, 3, P, 0, 0), 1);
  ck_assert_int_eq(ref_round(-13, 3, P, 0, 0), -2);
  /* k = 4: hi = f >> 2, lo = f & 3. 25 = 1.1001b: 2 > 1 -> 2; 22 = 1.0110b: 1 > 2 no -> 1 */
  ck_assert_int_eq(ref_round(25, 4, P, 0, 0), 2);
  ck_assert_int_eq(ref_round(22, 4, P, 0, 0), 1);
  ck_assert_int_eq(ref_round(-25, 4, P, 0, 0), -2);
  /* k = 5: f = f4..f0, drop f0, hi = f4f3, lo = f2f1.
   * 113 = 11.10001b: hi 10b=2 > lo 00b=0 -> 4; 111 = 11.01111b: hi 1 > lo 3 no -> 3 */
  ck_assert_int_eq(ref_round(113, 5, P, 0, 0), 4);
  ck_assert_int_eq(ref_round(111, 5, P, 0, 0), 3);
  /* k = 40: 3 * 2^39: q 1, f = 2^39: hi = 2^19 > lo = 0 -> 2 */
  ck_assert_int_eq(ref_round(3 * ((int64_t)1 << 39), 40, P, 0, 0), 2);
  /* key and index are ignored */
  ck_assert_int_eq(ref_round(25, 4, P, 123, 456), 2);
  /* k < 0 is treated as 0 */
  ck_assert_int_eq(ref_round_wide(1000, -3, P, 0, 0), 1000);
}
END_TEST

START_TEST(test_round_nearest_hand) {
  /* half away from zero: up = f >= 2^(k-1) */
  ck_assert_int_eq(ref_round(6, 2, N, 0, 0), 2);   /* 1.10b: half -> up */
  ck_assert_int_eq(ref_round(5, 2, N, 0, 0), 1);   /* 1.01b */
  ck_assert_int_eq(ref_round(-6, 2, N, 0, 0), -2);
  ck_assert_int_eq(ref_round(2, 2, N, 0, 0), 1);   /* 0.10b */
  ck_assert_int_eq(ref_round(1, 2, N, 0, 0), 0);
  ck_assert_int_eq(ref_round(1, 1, N, 0, 0), 1);   /* 0.1b: half, away from zero */
  ck_assert_int_eq(ref_round(-1, 1, N, 0, 0), -1);
  ck_assert_int_eq(ref_round(3, 1, N, 0, 0), 2);
  /* k >= 64: 2^63 - 1 over 2^64 is below a half -> 0; |INT64_MIN| = 2^63 is a half -> -1 */
  ck_assert_int_eq(ref_round_wide(INT64_MAX, 64, N, 0, 0), 0);
  ck_assert_int_eq(ref_round_wide(INT64_MIN, 64, N, 0, 0), -1);
  ck_assert_int_eq(ref_round_wide(INT64_MIN, 70, N, 0, 0), 0);
  ck_assert_int_eq(ref_round_wide(INT64_MIN, 63, N, 0, 0), -1); /* exactly 1 */
}
END_TEST

START_TEST(test_round_stochastic_hand) {
  uint64_t key = nit_key(1, 0, NIT_TID_LOSS);
  for (uint64_t i = 0; i < 64; i++) {
    uint64_t r = nit_draw(key, i);
    /* f = 0 never rounds up */
    ck_assert_int_eq(ref_round(4, 2, S, key, i), 1);
    /* k = 1, f = 1: up iff 1 > r & 1, i.e. iff the draw is even */
    ck_assert_int_eq(ref_round(3, 1, S, key, i), (r & 1) == 0 ? 2 : 1);
    ck_assert_int_eq(ref_round(-3, 1, S, key, i), (r & 1) == 0 ? -2 : -1);
    /* k = 8, f = 200: up iff 200 > low byte */
    ck_assert_int_eq(ref_round(256 * 3 + 200, 8, S, key, i), (r & 255) < 200 ? 4 : 3);
    /* k = 70 uses all 64 bits: up iff |x| > r */
    ck_assert_int_eq(ref_round_wide(INT64_MAX, 70, S, key, i), (uint64_t)INT64_MAX > r ? 1 : 0);
  }
}
END_TEST

START_TEST(test_requant) {
  /* max 300 -> B 9 -> k 2; 300 = 75.00b -> 75; -5 = 1.01b -> hi 0 < lo 1 -> -1;
   * 127 = 31.11b -> hi 1 = lo 1 -> 31 */
  int64_t acc[] = {300, -5, 0, 127};
  int8_t out[4];
  ck_assert_int_eq(ref_requant(acc, 4, P, 0, out), 2);
  ck_assert_int_eq(out[0], 75);
  ck_assert_int_eq(out[1], -1);
  ck_assert_int_eq(out[2], 0);
  ck_assert_int_eq(out[3], 31);
  /* max 128 -> B 8 -> k 1 (half to even): 128 -> 64; 3 = 1.1b odd -> 2;
   * -3 -> -2; 5 = 10.1b even -> 2 */
  int64_t acc2[] = {128, 3, -3, 5};
  ck_assert_int_eq(ref_requant(acc2, 4, P, 0, out), 1);
  ck_assert_int_eq(out[0], 64);
  ck_assert_int_eq(out[1], 2);
  ck_assert_int_eq(out[2], -2);
  ck_assert_int_eq(out[3], 2);
  /* max 127 -> k 0: unchanged */
  int64_t acc3[] = {127, -127, 1};
  ck_assert_int_eq(ref_requant(acc3, 3, P, 0, out), 0);
  ck_assert_int_eq(out[0], 127);
  ck_assert_int_eq(out[1], -127);
  ck_assert_int_eq(out[2], 1);
  /* all zero -> k 0, zeros */
  int64_t acc4[] = {0, 0};
  out[0] = out[1] = 9;
  ck_assert_int_eq(ref_requant(acc4, 2, S, 5, out), 0);
  ck_assert_int_eq(out[0], 0);
  ck_assert_int_eq(out[1], 0);
  /* the stochastic index is the flat element index */
  uint64_t key = nit_key(3, 4, NIT_TID_ACT(1));
  int64_t acc5[] = {1000, 1000, 1000, 1000};  /* B 10 -> k 3, 1000 = 125.000b: exact */
  ck_assert_int_eq(ref_requant(acc5, 4, S, key, out), 3);
  ck_assert_int_eq(out[3], 125);
  int64_t acc6[] = {1001, 1001, 1001, 1001};  /* f = 1: up iff low 3 bits of the draw are 0 */
  ref_requant(acc6, 4, S, key, out);
  for (int j = 0; j < 4; j++)
    ck_assert_int_eq(out[j], (nit_draw(key, (uint64_t)j) & 7) == 0 ? 126 : 125);
}
END_TEST

START_TEST(test_floor_isqrt_quant) {
  ck_assert_int_eq(ref_floor_shr(7, 1), 3);
  ck_assert_int_eq(ref_floor_shr(-7, 1), -4);
  ck_assert_int_eq(ref_floor_shr(-8, 3), -1);
  ck_assert_int_eq(ref_floor_shr(-9, 3), -2);
  ck_assert_int_eq(ref_floor_shr(-1, 100), -1);
  ck_assert_int_eq(ref_floor_shr(5, 100), 0);
  ck_assert_int_eq(ref_floor_shr(-5, 0), -5);
  ck_assert_uint_eq(ref_isqrt(0), 0);
  ck_assert_uint_eq(ref_isqrt(8024), 89);    /* 89^2 = 7921 <= 8024 < 8100 */
  ck_assert_uint_eq(ref_isqrt(8100), 90);
  ck_assert_uint_eq(ref_isqrt(8099), 89);
  ck_assert_uint_eq(ref_isqrt(UINT64_MAX), 4294967295u);
  uint8_t px[] = {0, 1, 2, 128, 255};
  int8_t x[5];
  ck_assert_int_eq(ref_quantize_u8(px, 5, x), -7);
  ck_assert_int_eq(x[0], 0);
  ck_assert_int_eq(x[1], 0);
  ck_assert_int_eq(x[2], 1);
  ck_assert_int_eq(x[3], 64);
  ck_assert_int_eq(x[4], 127);
}
END_TEST

/* ------------------------------------------------------------ statistics */

/* Stochastic: for fixed x, the mean of R(x, k) over many draws is x / 2^k.
 * With N draws the count of round-ups is binomial, sigma <= sqrt(N)/2 = 128
 * for N = 65536; we allow 5 sigma. */
START_TEST(test_stochastic_unbiased) {
  const int64_t n = 65536;
  int ks[] = {1, 3, 8, 12, 20};
  int64_t xs[] = {1, 5, 100, 1001, 77777, -3001};
  for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
    for (size_t b = 0; b < sizeof xs / sizeof xs[0]; b++) {
      int k = ks[a];
      int64_t x = xs[b];
      uint64_t key = nit_key(99, (uint64_t)a, (uint32_t)b);
      int64_t sum = 0;
      for (int64_t i = 0; i < n; i++)
        sum += ref_round_wide(x, k, S, key, (uint64_t)i);
      /* sum * 2^k should be n * x within 5 sigma * 2^k */
      int64_t dev = sum * ((int64_t)1 << k) - n * x;
      if (dev < 0)
        dev = -dev;
      ck_assert_msg(dev <= 640 * ((int64_t)1 << k), "k=%d x=%lld dev=%lld", k, (long long)x,
                    (long long)dev);
    }
}
END_TEST

/* Pseudo: averaged over every fraction f in [0, 2^k) (uniform discarded bits),
 * the bias of R in units of one output step is exactly
 *   2^-(k+1) - 2^-(h+1),  h = floor(k/2)  (k >= 2),
 * because up = (hi > lo) with hi, lo independent uniform on h bits happens
 * with probability 1/2 - 2^-(h+1), while the mean fraction is
 * 1/2 - 2^-(k+1). k = 1 (half to even) is exactly unbiased over two units.
 * Checked exhaustively as exact integers: sum(R * 2^k - x) = 2^(k-1) - 2^(2k-h-1). */
START_TEST(test_pseudo_bias_exact) {
  for (int k = 2; k <= 18; k++) {
    int h = k / 2;
    int64_t sum = 0;
    for (int64_t f = 0; f < ((int64_t)1 << k); f++) {
      int64_t x = ((int64_t)5 << k) + f; /* q = 5 */
      sum += ref_round_wide(x, k, P, 0, 0) * ((int64_t)1 << k) - x;
    }
    int64_t want = ((int64_t)1 << (k - 1)) - ((int64_t)1 << (2 * k - h - 1));
    ck_assert_msg(sum == want, "k=%d sum=%lld want=%lld", k, (long long)sum, (long long)want);
    /* the same magnitude bias for negative values (sign-magnitude) */
    int64_t nsum = 0;
    for (int64_t f = 0; f < ((int64_t)1 << k); f++) {
      int64_t x = -(((int64_t)5 << k) + f);
      nsum += ref_round_wide(x, k, P, 0, 0) * ((int64_t)1 << k) - x;
    }
    ck_assert_int_eq(nsum, -want);
  }
  /* k = 1 over x = 0..3: R = 0, 0, 1, 2, sum 3 = (0+1+2+3)/2 */
  int64_t s1 = 0;
  for (int64_t x = 0; x < 4; x++)
    s1 += ref_round_wide(x, 1, P, 0, 0);
  ck_assert_int_eq(s1, 3);
}
END_TEST

/* Pseudo: for a fixed kept upper half `hi`, averaged over uniformly random
 * lower bits, the mean stays within one lower-half step of x / 2^k, and the
 * result is deterministic for a fixed x. k = 12: h = 6, uniform random lo. */
START_TEST(test_pseudo_per_hi) {
  const int k = 12, h = 6;
  uint64_t key = nit_key(5, 5, 5);
  for (int64_t hi = 0; hi < 64; hi += 9) {
    int64_t sum = 0, xs = 0;
    const int64_t n = 4096;
    for (int64_t i = 0; i < n; i++) {
      int64_t lo = (int64_t)(nit_draw(key, (uint64_t)(hi * n + i)) & 63);
      int64_t x = ((int64_t)3 << k) + (hi << h) + lo;
      int64_t r = ref_round_wide(x, k, P, 0, 0);
      ck_assert_int_eq(r, ref_round_wide(x, k, P, 0, 0));
      sum += r;
      xs += x;
    }
    /* |sum * 2^k - xs| / n <= 2^h (one lo step) plus sampling: allow 2 * 2^h */
    int64_t dev = sum * ((int64_t)1 << k) - xs;
    if (dev < 0)
      dev = -dev;
    ck_assert_msg(dev <= 2 * n * ((int64_t)1 << h) + 640 * ((int64_t)1 << k) / 8,
                  "hi=%lld dev=%lld", (long long)hi, (long long)dev);
  }
}
END_TEST

/* Nearest: a fraction below one half always rounds toward zero, so updates
 * smaller than half a step vanish, while stochastic and pseudo keep them on
 * average (NITI's Figure 2 premise). */
START_TEST(test_nearest_biased) {
  const int k = 6;
  for (int64_t f = 0; f < 32; f++)
    for (int64_t q = 0; q < 4; q++) {
      int64_t x = (q << k) + f;
      ck_assert_int_eq(ref_round_wide(x, k, N, 0, 0), q);
      ck_assert_int_eq(ref_round_wide(-x, k, N, 0, 0), -q);
    }
  /* x = 16 = a quarter step: nearest gives 0 every time; stochastic averages
   * 1/4 (65536 draws: 16384 +- 5 sigma, sigma = sqrt(65536 * 3/16) ~ 111) */
  uint64_t key = nit_key(1, 2, 3);
  int64_t sn = 0, ss = 0;
  for (int64_t i = 0; i < 65536; i++) {
    sn += ref_round_wide(16, k, N, key, (uint64_t)i);
    ss += ref_round_wide(16, k, S, key, (uint64_t)i);
  }
  ck_assert_int_eq(sn, 0);
  ck_assert_int_ge(ss, 16384 - 555);
  ck_assert_int_le(ss, 16384 + 555);
  /* pseudo over all 64 fractions with q = 0: ups where hi > lo (h = 3): 28 of 64,
   * mean 0.4375 vs the true 0.4921875 */
  int64_t sp = 0;
  for (int64_t f = 0; f < 64; f++)
    sp += ref_round_wide(f, k, P, 0, 0);
  ck_assert_int_eq(sp, 28);
  /* nearest over all fractions is biased away from zero: 32 of 64 go up
   * (mean 0.5 vs the true 63/128) */
  int64_t snall = 0;
  for (int64_t f = 0; f < 64; f++)
    snall += ref_round_wide(f, k, N, 0, 0);
  ck_assert_int_eq(snall, 32);
}
END_TEST

/* ------------------------------------------------------------------ loss */

START_TEST(test_loss_hand) {
  int64_t e32[3];
  /* s = 0, a = [10, 0]: x = 472740 >> 15 = 14, 0 >> 15 = 0; m = 14;
   * d = clamp(x - 4, 0, 10) = [10, 0]; u = [1023, 0]; U = 1023;
   * t = [2048, 0]; C = 2048. */
  int8_t a1[] = {10, 0};
  ref_loss_row32(a1, 0, 2, 0, e32);
  ck_assert_int_eq(e32[0], 0);
  ck_assert_int_eq(e32[1], 0);
  ref_loss_row32(a1, 0, 2, 1, e32);
  ck_assert_int_eq(e32[0], 2048);
  ck_assert_int_eq(e32[1], -2048);
  /* R(2048, 4) = 128 -> saturated 127 */
  int8_t e[3];
  int32_t y1 = 1;
  ref_loss_grad(a1, 0, 1, 2, &y1, P, 0, e32, e);
  ck_assert_int_eq(e[0], 127);
  ck_assert_int_eq(e[1], -127);

  /* s = -3, a = [20, -20, 5], y = 2: 15 - s = 18;
   * 945480 >> 18 = 3, -3, 236370 >> 18 = 0; m = 3; d = clamp(x + 7) = [10, 4, 7];
   * u = [1023, 15, 127]; U = 1165; t = floor(u * 2048 / 1165) = [1798, 26, 223];
   * C = 2047; e32 = [1798, 26, -1824]. */
  int8_t a2[] = {20, -20, 5};
  ref_loss_row32(a2, -3, 3, 2, e32);
  ck_assert_int_eq(e32[0], 1798);
  ck_assert_int_eq(e32[1], 26);
  ck_assert_int_eq(e32[2], -1824);
  /* pseudo R(., 4): 1798 = 112.0110b -> hi 1 < lo 2 -> 112; 26 = 1.1010b -> 2 = 2 -> 1;
   * -1824 = -114.0000b -> -114 */
  int32_t y2 = 2;
  ref_loss_grad(a2, -3, 1, 3, &y2, P, 0, e32, e);
  ck_assert_int_eq(e[0], 112);
  ck_assert_int_eq(e[1], 1);
  ck_assert_int_eq(e[2], -114);

  /* Taylor, s = -7, a = [0, 127, -127], y = 1: u = 2^15 + 256 a + a^2 =
   * [32768, 81409, 16385]; U = 130562; t = [513, 1276, 257]; C = 2046;
   * e32 = [513, -770, 257]. */
  int8_t a3[] = {0, 127, -127};
  ref_loss_row32(a3, -7, 3, 1, e32);
  ck_assert_int_eq(e32[0], 513);
  ck_assert_int_eq(e32[1], -770);
  ck_assert_int_eq(e32[2], 257);

  /* s = -30 (pre-shift p = 12): u = 2^49 + a 2^19 + floor(a^2 / 4096), all within
   * 1.2e-7 relative of 2^49, so t = floor(2048/3) = 682 each; C = 2046. */
  ref_loss_row32(a3, -30, 3, 0, e32);
  ck_assert_int_eq(e32[0], -1364);
  ck_assert_int_eq(e32[1], 682);
  ck_assert_int_eq(e32[2], 682);
  /* s = -100 (nested-floor branch): u = 2^49 + {0, 0, -1}: same t */
  ref_loss_row32(a3, -100, 3, 0, e32);
  ck_assert_int_eq(e32[0], -1364);
  ck_assert_int_eq(e32[1], 682);
  ck_assert_int_eq(e32[2], 682);
  /* s = 40 (left shift, capped): a = [1, 0, 1]: d = [10, 0, 10], u = [1023, 0, 1023],
   * t = [1024, 0, 1024], C = 2048, y = 1 */
  int8_t a4[] = {1, 0, 1};
  ref_loss_row32(a4, 40, 3, 1, e32);
  ck_assert_int_eq(e32[0], 1024);
  ck_assert_int_eq(e32[1], -2048);
  ck_assert_int_eq(e32[2], 1024);
  /* s = 15 (no shift at all): a = [1, 0]: x = [47274, 0]: d = [10, 0] */
  int8_t a5[] = {1, 0};
  ref_loss_row32(a5, 15, 2, 0, e32);
  ck_assert_int_eq(e32[0], 0);
  ck_assert_int_eq(e32[1], 0);
}
END_TEST

/* Every row of e32 sums to exactly zero, for random logits at exponents from
 * -90 to 40 (both branches, the pre-shift and the capped left shift), and no
 * t_i is negative or above 2048. */
START_TEST(test_loss_rows_sum_zero) {
  uint64_t key = nit_key(11, 0, 0);
  int8_t a[1000];
  int64_t e32[1000];
  uint64_t idx = 0;
  for (int s = -90; s <= 40; s++)
    for (int rep = 0; rep < 6; rep++) {
      int classes = rep == 5 ? 1000 : 2 + (int)(nit_draw(key, idx++) % 40);
      for (int i = 0; i < classes; i++) {
        int v = (int)(nit_draw(key, idx++) % 255) - 127;
        a[i] = (int8_t)(rep == 4 ? (i % 2 ? 127 : -127) : v);
      }
      int y = (int)(nit_draw(key, idx++) % (uint64_t)classes);
      ref_loss_row32(a, s, classes, y, e32);
      int64_t sum = 0;
      for (int i = 0; i < classes; i++) {
        sum += e32[i];
        if (i != y) {
          ck_assert_int_ge(e32[i], 0);
          ck_assert_int_le(e32[i], 2048);
        }
      }
      ck_assert_msg(sum == 0, "s=%d classes=%d sum=%lld", s, classes, (long long)sum);
      ck_assert_int_le(e32[y], 0);
    }
}
END_TEST

/* The int32 accumulator rule K * 127 * 127 < 2^31 holds up to K = 133144 and
 * fails at 133145: 133144 * 16129 = 2147479576 < 2147483648 <= 2147495705. */
START_TEST(test_acc32_boundary) {
  const int64_t kmax = 133144;
  ck_assert_int_lt(kmax * 16129, (int64_t)1 << 31);
  ck_assert_int_ge((kmax + 1) * 16129, (int64_t)1 << 31);
  ck_assert_int_eq(kmax * 16129, 2147479576);
  /* the extreme sums of a dense layer with K = kmax inputs are the same in an
   * int32 and an int64 accumulator (UBSan would flag an int32 overflow) */
  int8_t *x = malloc((size_t)kmax), *w = malloc((size_t)kmax);
  ck_assert_ptr_nonnull(x);
  ck_assert_ptr_nonnull(w);
  int signs[2] = {127, -127};
  for (int c = 0; c < 2; c++) {
    for (int64_t i = 0; i < kmax; i++) {
      x[i] = 127;
      w[i] = (int8_t)signs[c];
    }
    int32_t acc32 = 0;
    for (int64_t i = 0; i < kmax; i++)
      acc32 += (int32_t)x[i] * w[i];
    int64_t acc64;
    ref_dense_forward(x, 1, (int)kmax, w, 1, &acc64);
    ck_assert_int_eq(acc32, acc64);
    ck_assert_int_eq(acc64, c == 0 ? 2147479576 : -2147479576);
  }
  free(x);
  free(w);
}
END_TEST

/* ------------------------------------------------------------------ init */

START_TEST(test_init_rule) {
  int e, m;
  ref_init_rule(784, &e, &m); /* c = -3 (784/64 = 12.25 >= 6 > 3.06); 6*4^10/784 = 8024 */
  ck_assert_int_eq(e, -10);
  ck_assert_int_eq(m, 89);
  ref_init_rule(25, &e, &m);  /* c = -1 (6.25 >= 6); 6*4^8/25 = 15728 -> 125 */
  ck_assert_int_eq(e, -8);
  ck_assert_int_eq(m, 125);
  ref_init_rule(512, &e, &m); /* c = -3 (8 >= 6 > 2); 6*4^10/512 = 12288 -> 110 */
  ck_assert_int_eq(e, -10);
  ck_assert_int_eq(m, 110);
  ref_init_rule(256, &e, &m); /* c = -2 (16 >= 6 > 4); 6*4^9/256 = 6144 -> 78 */
  ck_assert_int_eq(e, -9);
  ck_assert_int_eq(m, 78);
  ref_init_rule(24, &e, &m);  /* c = -1 (6 >= 6 exactly); 6*4^8/24 = 16384 -> 128 -> 127 */
  ck_assert_int_eq(e, -8);
  ck_assert_int_eq(m, 127);
  ref_init_rule(6, &e, &m);   /* c = 0; 6*4^7/6 = 16384 -> 128 -> 127 */
  ck_assert_int_eq(e, -7);
  ck_assert_int_eq(m, 127);
  ref_init_rule(1, &e, &m);   /* c = 2 (16 >= 6 > 4); 6*4^5 = 6144 -> 78 */
  ck_assert_int_eq(e, -5);
  ck_assert_int_eq(m, 78);
  ref_init_rule(5, &e, &m);   /* c = 1 (20 >= 6 > 5); 6*4^6/5 = 4915 -> 70 */
  ck_assert_int_eq(e, -6);
  ck_assert_int_eq(m, 70);

  /* the draws, by the definition */
  int8_t w[4000];
  ref_init_weights(w, 4000, 89, 42, 3);
  uint64_t key = nit_key(42, NIT_STEP_INIT, NIT_TID_INIT(3));
  int64_t sum = 0;
  int seen_lo = 0, seen_hi = 0;
  for (int j = 0; j < 4000; j++) {
    ck_assert_int_eq(w[j], (int)(nit_draw(key, (uint64_t)j) % 179) - 89);
    ck_assert_int_le(w[j], 89);
    ck_assert_int_ge(w[j], -89);
    seen_lo |= w[j] == -89;
    seen_hi |= w[j] == 89;
    sum += w[j];
  }
  ck_assert(seen_lo && seen_hi);
  /* mean 0: sigma of the sum = sqrt(4000 * (179^2 - 1) / 12) ~ 3270; 5 sigma */
  ck_assert_int_le(sum, 16350);
  ck_assert_int_ge(sum, -16350);
}
END_TEST

/* --------------------------------------------------------------- layers */

START_TEST(test_dense_hand) {
  /* x (2, 3), w (2, 3) */
  int8_t x[] = {1, 2, 3, -1, 0, 4};
  int8_t w[] = {1, 0, -1, 2, 1, 1};
  int64_t acc[4];
  ref_dense_forward(x, 2, 3, w, 2, acc);
  /* [1-3, 2+2+3; -1-4, -2+4] */
  int64_t want[] = {-2, 7, -5, 2};
  for (int j = 0; j < 4; j++)
    ck_assert_int_eq(acc[j], want[j]);
  /* e (2, 2) = [1 -1; 2 0]: e32 = e w = [1*(1,0,-1) - (2,1,1); 2*(1,0,-1)] */
  int8_t e[] = {1, -1, 2, 0};
  int64_t e32[6];
  ref_dense_backward(e, 2, 2, w, 3, e32);
  int64_t want_e[] = {-1, -1, -2, 2, 0, -2};
  for (int j = 0; j < 6; j++)
    ck_assert_int_eq(e32[j], want_e[j]);
  /* g32[o][i] = sum_b e[b][o] x[b][i]: o0 = (1,2,3) + 2(-1,0,4); o1 = -(1,2,3) */
  int64_t g[6];
  ref_dense_grad(x, e, 2, 3, 2, g);
  int64_t want_g[] = {-1, 2, 11, -1, -2, -3};
  for (int j = 0; j < 6; j++)
    ck_assert_int_eq(g[j], want_g[j]);
}
END_TEST

static RefGeom geom(int c, int h, int w, int o, int kh, int kw, int sh, int sw, int ph, int pw,
                    int groups) {
  RefGeom g;
  g.c = c, g.h = h, g.w = w, g.o = o;
  g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw, g.groups = groups;
  g.oh = ref_out_size(h, kh, sh, ph);
  g.ow = ref_out_size(w, kw, sw, pw);
  return g;
}

START_TEST(test_conv_hand) {
  int8_t x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}; /* 3x3 */
  int8_t w[] = {1, 2, 3, 4};                /* 2x2 */
  int64_t acc[4];
  RefGeom g = geom(1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 1);
  ck_assert_int_eq(g.oh, 2);
  ref_conv_forward(&g, x, 1, w, acc);
  /* (0,0): 1+4+12+20; (0,1): 2+6+15+24; (1,0): 4+10+21+32; (1,1): 5+12+24+36 */
  ck_assert_int_eq(acc[0], 37);
  ck_assert_int_eq(acc[1], 47);
  ck_assert_int_eq(acc[2], 67);
  ck_assert_int_eq(acc[3], 77);
  /* stride 2, pad 1: windows start at -1 and 1.
   * (0,0): only x(0,0)=1 under w(1,1)=4 -> 4; (0,1): 3*2 + 4*3 = 18;
   * (1,0): 2*4 + 4*7 = 36; (1,1): 5+12+24+36 = 77 */
  RefGeom g2 = geom(1, 3, 3, 1, 2, 2, 2, 2, 1, 1, 1);
  ck_assert_int_eq(g2.oh, 2);
  ref_conv_forward(&g2, x, 1, w, acc);
  ck_assert_int_eq(acc[0], 4);
  ck_assert_int_eq(acc[1], 18);
  ck_assert_int_eq(acc[2], 36);
  ck_assert_int_eq(acc[3], 77);
  /* backward of the first: e = [1 0; 0 -1] places +w at (0,0) and -w at (1,1):
   * [1 2 0; 3 3 -2; 0 -3 -4] */
  int8_t e[] = {1, 0, 0, -1};
  int64_t e32[9];
  ref_conv_backward(&g, e, 1, w, e32);
  int64_t want[] = {1, 2, 0, 3, 3, -2, 0, -3, -4};
  for (int j = 0; j < 9; j++)
    ck_assert_int_eq(e32[j], want[j]);
  /* gradient: g(ky,kx) = x(ky,kx) - x(ky+1,kx+1) = -4 everywhere */
  int64_t gw[4];
  ref_conv_grad(&g, x, e, 1, gw);
  for (int j = 0; j < 4; j++)
    ck_assert_int_eq(gw[j], -4);
  /* groups: 2 channels, 1x1 kernels. groups 2: out = [2*3, -1*5] */
  int8_t xc[] = {3, 5};
  int8_t wg[] = {2, -1};
  RefGeom gg = geom(2, 1, 1, 2, 1, 1, 1, 1, 0, 0, 2);
  ref_conv_forward(&gg, xc, 1, wg, acc);
  ck_assert_int_eq(acc[0], 6);
  ck_assert_int_eq(acc[1], -5);
  /* groups 1: w (2, 2): out = [2*3 + 1*5, -3 + 5] */
  int8_t w1[] = {2, 1, -1, 1};
  RefGeom g1 = geom(2, 1, 1, 2, 1, 1, 1, 1, 0, 0, 1);
  ref_conv_forward(&g1, xc, 1, w1, acc);
  ck_assert_int_eq(acc[0], 11);
  ck_assert_int_eq(acc[1], 2);
}
END_TEST

/* Conv backward and gradient against independent definitions, on random
 * geometries (stride, padding, groups):
 *  - input error by the spec's formula: full correlation of e with the
 *    180-degree rotated kernel, channels swapped (gather form);
 *  - the adjoint identities <e, conv(x)> = <conv_backward(e), x> and
 *    <e, conv(x)> = <grad(x, e), w>. */
START_TEST(test_conv_bruteforce) {
  uint64_t key = nit_key(77, 0, 0);
  uint64_t idx = 0;
  for (int trial = 0; trial < 40; trial++) {
#define RND(lo, hi) ((int)(nit_draw(key, idx++) % (uint64_t)((hi) - (lo) + 1)) + (lo))
    int groups = RND(1, 3);
    int c = groups * RND(1, 2), o = groups * RND(1, 3);
    int kh = RND(1, 3), kw = RND(1, 3), sh = RND(1, 3), sw = RND(1, 2);
    int ph = RND(0, kh - 1), pw = RND(0, kw - 1);
    int h = RND(kh, 7), w = RND(kw, 6), n = RND(1, 3);
    RefGeom g = geom(c, h, w, o, kh, kw, sh, sw, ph, pw, groups);
    int64_t nx = (int64_t)n * c * h * w, ny = (int64_t)n * o * g.oh * g.ow;
    int64_t nw = (int64_t)o * (c / groups) * kh * kw;
    int8_t *x = malloc((size_t)nx), *e = malloc((size_t)ny), *wt = malloc((size_t)nw);
    int64_t *acc = malloc((size_t)ny * 8), *e32 = malloc((size_t)nx * 8);
    int64_t *gw = malloc((size_t)nw * 8);
    for (int64_t j = 0; j < nx; j++)
      x[j] = (int8_t)RND(-127, 127);
    for (int64_t j = 0; j < ny; j++)
      e[j] = (int8_t)RND(-127, 127);
    for (int64_t j = 0; j < nw; j++)
      wt[j] = (int8_t)RND(-127, 127);
    ref_conv_forward(&g, x, n, wt, acc);
    ref_conv_backward(&g, e, n, wt, e32);
    ref_conv_grad(&g, x, e, n, gw);
    int ig = c / groups, og = o / groups;
    /* gather form: e32[b][ci][y][x] = sum over o in ci's group, ky, kx with
     * y = oy*sh - ph + ky, i.e. oy = (y + ph - ky) / sh when divisible */
    for (int b = 0; b < n; b++)
      for (int ci = 0; ci < c; ci++)
        for (int yy = 0; yy < h; yy++)
          for (int xx = 0; xx < w; xx++) {
            int64_t s = 0;
            int grp = ci / ig;
            for (int oo = grp * og; oo < (grp + 1) * og; oo++)
              for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++) {
                  int ty = yy + ph - ky, tx = xx + pw - kx;
                  if (ty < 0 || tx < 0 || ty % sh || tx % sw)
                    continue;
                  int oy = ty / sh, ox = tx / sw;
                  if (oy >= g.oh || ox >= g.ow)
                    continue;
                  s += (int64_t)e[((b * o + oo) * g.oh + oy) * g.ow + ox] *
                       wt[((oo * ig + (ci - grp * ig)) * kh + ky) * kw + kx];
                }
            ck_assert_int_eq(e32[((b * c + ci) * h + yy) * w + xx], s);
          }
    int64_t lhs = 0, rhs1 = 0, rhs2 = 0;
    for (int64_t j = 0; j < ny; j++)
      lhs += e[j] * acc[j];
    for (int64_t j = 0; j < nx; j++)
      rhs1 += e32[j] * x[j];
    for (int64_t j = 0; j < nw; j++)
      rhs2 += gw[j] * wt[j];
    ck_assert_int_eq(lhs, rhs1);
    ck_assert_int_eq(lhs, rhs2);
    free(x), free(e), free(wt), free(acc), free(e32), free(gw);
#undef RND
  }
}
END_TEST

START_TEST(test_dense_adjoint) {
  uint64_t key = nit_key(78, 0, 0);
  int n = 3, I = 17, O = 5;
  int8_t x[51], w[85], e[15];
  int64_t acc[15], e32[51], g[85];
  for (int j = 0; j < 51; j++)
    x[j] = (int8_t)((int)(nit_draw(key, (uint64_t)j) % 255) - 127);
  for (int j = 0; j < 85; j++)
    w[j] = (int8_t)((int)(nit_draw(key, 100 + (uint64_t)j) % 255) - 127);
  for (int j = 0; j < 15; j++)
    e[j] = (int8_t)((int)(nit_draw(key, 200 + (uint64_t)j) % 255) - 127);
  ref_dense_forward(x, n, I, w, O, acc);
  ref_dense_backward(e, n, O, w, I, e32);
  ref_dense_grad(x, e, n, I, O, g);
  int64_t l = 0, r1 = 0, r2 = 0;
  for (int j = 0; j < 15; j++)
    l += e[j] * acc[j];
  for (int j = 0; j < 51; j++)
    r1 += e32[j] * x[j];
  for (int j = 0; j < 85; j++)
    r2 += g[j] * w[j];
  ck_assert_int_eq(l, r1);
  ck_assert_int_eq(l, r2);
}
END_TEST

START_TEST(test_pools_hand) {
  int8_t x[] = {1, 3, 2, 0, 3, 2, 5, 5, 0, -1, -2, -3, -4, -1, -1, -5}; /* 4x4 */
  RefGeom g = geom(1, 4, 4, 1, 2, 2, 2, 2, 0, 0, 1);
  int8_t out[4];
  ref_maxpool_forward(&g, x, 1, out);
  /* windows {1,3,3,2} {2,0,5,5} {0,-1,-4,-1} {-2,-3,-1,-5} */
  ck_assert_int_eq(out[0], 3);
  ck_assert_int_eq(out[1], 5);
  ck_assert_int_eq(out[2], 0);
  ck_assert_int_eq(out[3], -1);
  /* first maxima: (0,1) not (1,0); (1,2) not (1,3); (2,0); (3,2) not (3,1)?
   * window 3 is rows 2-3, cols 2-3: -2 -3 / -1 -5: max -1 at (3,2) */
  int8_t e[] = {10, 20, 30, 40};
  int64_t e32[16];
  ref_maxpool_backward(&g, x, e, 1, e32);
  for (int j = 0; j < 16; j++) {
    int64_t want = j == 1 ? 10 : j == 6 ? 20 : j == 8 ? 30 : j == 14 ? 40 : 0;
    ck_assert_int_eq(e32[j], want);
  }
  /* padding never wins: all-negative 3x3, 2x2 stride 2 pad 1 */
  int8_t xn[] = {-5, -6, -7, -8, -9, -10, -11, -12, -13};
  RefGeom gp = geom(1, 3, 3, 1, 2, 2, 2, 2, 1, 1, 1);
  ref_maxpool_forward(&gp, xn, 1, out);
  ck_assert_int_eq(out[0], -5);
  ck_assert_int_eq(out[1], -6);
  ck_assert_int_eq(out[2], -8);
  ck_assert_int_eq(out[3], -9);
  /* overlapping windows (1x2, stride 1) over [1 5 2]: both pick the 5; errors add */
  int8_t x3[] = {1, 5, 2}, e3[] = {100, 100};
  int64_t e33[3];
  RefGeom go = geom(1, 1, 3, 1, 1, 2, 1, 1, 0, 0, 1);
  ref_maxpool_backward(&go, x3, e3, 1, e33);
  ck_assert_int_eq(e33[0], 0);
  ck_assert_int_eq(e33[1], 200);
  ck_assert_int_eq(e33[2], 0);
  /* avgpool 2x2 stride 2 over [1 2 3 4; 5 6 7 8]: sums 14, 22 */
  int8_t xa[] = {1, 2, 3, 4, 5, 6, 7, 8};
  RefGeom ga = geom(1, 2, 4, 1, 2, 2, 2, 2, 0, 0, 1);
  int64_t s[2];
  ref_avgpool_forward(&ga, xa, 1, s);
  ck_assert_int_eq(s[0], 14);
  ck_assert_int_eq(s[1], 22);
  int8_t ea[] = {3, -1};
  int64_t e32a[8];
  ref_avgpool_backward(&ga, ea, 1, e32a);
  int64_t want_a[] = {3, 3, -1, -1, 3, 3, -1, -1};
  for (int j = 0; j < 8; j++)
    ck_assert_int_eq(e32a[j], want_a[j]);
  /* avgpool with padding: 1x1 input [7], 2x2 window pad 1 -> the one window
   * (-1..0) holds 7 and three zeros: sum 7 */
  int8_t x1[] = {7};
  RefGeom g1 = geom(1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1);
  ck_assert_int_eq(g1.oh, 2);
  int64_t s4[4];
  ref_avgpool_forward(&g1, x1, 1, s4);
  for (int j = 0; j < 4; j++)
    ck_assert_int_eq(s4[j], 7);
  ck_assert_int_eq(ref_log2_exact(4), 2);
  ck_assert_int_eq(ref_log2_exact(1), 0);
  ck_assert_int_eq(ref_log2_exact(6), -1);
}
END_TEST

START_TEST(test_relu_dropout_align) {
  int8_t x[] = {-3, 0, 4}, e[] = {1, 2, 3}, out[3];
  ref_relu_forward(x, 3, out);
  ck_assert_int_eq(out[0], 0);
  ck_assert_int_eq(out[1], 0);
  ck_assert_int_eq(out[2], 4);
  ref_relu_backward(x, e, 3, out);
  ck_assert_int_eq(out[0], 0);
  ck_assert_int_eq(out[1], 0); /* input 0 is not > 0 */
  ck_assert_int_eq(out[2], 3);

  /* dropout: drop iff top byte of the draw < drop256 */
  uint64_t key = nit_key(1, 9, NIT_TID_MASK(4));
  int8_t xs[256], o2[256];
  for (int j = 0; j < 256; j++)
    xs[j] = (int8_t)(j % 100 + 1);
  ref_dropout_apply(xs, 256, 0, key, o2);
  ck_assert_mem_eq(xs, o2, 256); /* p = 0 keeps everything, unscaled */
  int dropped = 0;
  ref_dropout_apply(xs, 256, 64, key, o2);
  for (int j = 0; j < 256; j++) {
    int d = (int)(nit_draw(key, (uint64_t)j) >> 56) < 64;
    ck_assert_int_eq(o2[j], d ? 0 : xs[j]);
    dropped += d;
  }
  /* p = 1/4 of 256: binomial mean 64, sigma ~ 6.9; 5 sigma */
  ck_assert_int_ge(dropped, 64 - 35);
  ck_assert_int_le(dropped, 64 + 35);

  /* alignment: [1 -2] at -3 plus [3 4] at -1 -> exponent -3: [1 + 12, -2 + 16] */
  int8_t t0[] = {1, -2}, t1[] = {3, 4};
  const int8_t *ts[] = {t0, t1};
  int ex[] = {-3, -1};
  int64_t sum[2];
  ck_assert_int_eq(ref_align_sum(ts, ex, 2, 2, sum), -3);
  ck_assert_int_eq(sum[0], 13);
  ck_assert_int_eq(sum[1], 14);
  /* more than 48 bits apart: the small one is dropped, the large shifted by 48 */
  int ex2[] = {0, 60};
  ck_assert_int_eq(ref_align_sum(ts, ex2, 2, 2, sum), 12);
  ck_assert_int_eq(sum[0], 3 * ((int64_t)1 << 48));
  ck_assert_int_eq(sum[1], 4 * ((int64_t)1 << 48));
  int ex3[] = {10, 58}; /* exactly 48 apart: both kept */
  ck_assert_int_eq(ref_align_sum(ts, ex3, 2, 2, sum), 10);
  ck_assert_int_eq(sum[0], 1 + 3 * ((int64_t)1 << 48));
}
END_TEST

/* ---------------------------------------------------------------- update */

START_TEST(test_update_hand) {
  /* g32 = [100, -7, 0, 37], mu 2: B = 7, k = 5.
   * 100 = 11.00100b: f 00100 -> drop f0 -> 0010: hi 00 < lo 10 -> 3;
   * -7 = 0.00111b: 0011: hi 0 < lo 3 -> 0; 37 = 1.00101b: 0010 -> 1 */
  int64_t g[] = {100, -7, 0, 37};
  int8_t w[] = {10, 10, 10, -127};
  ck_assert_int_eq(ref_update(g, 4, w, NULL, 8, 2, P, 0, 0), 7);
  ck_assert_int_eq(w[0], 7);
  ck_assert_int_eq(w[1], 10);
  ck_assert_int_eq(w[2], 10);
  ck_assert_int_eq(w[3], -127); /* -127 - 1 saturates */
  /* k <= 0: g = g32 exactly. g32 = [3, -1], mu 3: B 2, k -1 */
  int64_t g2[] = {3, -1};
  int8_t w2[] = {0, 0};
  ref_update(g2, 2, w2, NULL, 8, 3, P, 0, 0);
  ck_assert_int_eq(w2[0], -3);
  ck_assert_int_eq(w2[1], 1);
  /* B(g32) == 0: nothing changes, not even decay */
  int64_t g3[] = {0, 0};
  int8_t w3[] = {100, -100};
  ck_assert_int_eq(ref_update(g3, 2, w3, NULL, 8, 3, P, 0, 1), 0);
  ck_assert_int_eq(w3[0], 100);
  ck_assert_int_eq(w3[1], -100);
  /* decay: g32 = [1024, 0], w = [100, -64], B0 = 11 -> terms w * 2^-4 truncated
   * toward zero: 6, -4; g32 = [1030, -4]; B 11, mu 3 -> k 8:
   * 1030 = 4.00000110b: hi 0 < lo 6 -> 4; -4: 0 -> 0; w = [96, -64] */
  int64_t g4[] = {1024, 0};
  int8_t w4[] = {100, -64};
  ck_assert_int_eq(ref_update(g4, 2, w4, NULL, 8, 3, P, 0, 1), 11);
  ck_assert_int_eq(g4[0], 1030);
  ck_assert_int_eq(g4[1], -4);
  ck_assert_int_eq(w4[0], 96);
  ck_assert_int_eq(w4[1], -64);
  /* decay with B0 >= 15: g32 = 2^20, w = 3: term 3 << 6 = 192; B 21, mu 1, k 20:
   * q 1, f 192: hi = 192 >> 10 = 0 < lo 192 -> g 1 -> w 2 */
  int64_t g5[] = {(int64_t)1 << 20};
  int8_t w5[] = {3};
  ref_update(g5, 1, w5, NULL, 8, 1, P, 0, 1);
  ck_assert_int_eq(g5[0], ((int64_t)1 << 20) + 192);
  ck_assert_int_eq(w5[0], 2);
  /* the gradient rounding mode and key are used: stochastic, k = 5, f = 4 of 32 */
  uint64_t key = nit_key(1, 2, NIT_TID_GRAD(3));
  int64_t g6[] = {100, 100};
  int8_t w6[] = {0, 0};
  ref_update(g6, 2, w6, NULL, 8, 2, S, key, 0);
  for (int j = 0; j < 2; j++)
    ck_assert_int_eq(w6[j], (nit_draw(key, (uint64_t)j) & 31) < 4 ? -4 : -3);
}
END_TEST

START_TEST(test_wide_weights) {
  /* A = 12 (F = 4): wide [1000, -1000], g32 [5, -3], mu 3: B 3, k 0 -> exact */
  int16_t wide[] = {1000, -1000};
  int8_t view[2] = {0, 0};
  int64_t g[] = {5, -3};
  ref_update(g, 2, view, wide, 12, 3, P, 0, 0);
  ck_assert_int_eq(wide[0], 995);
  ck_assert_int_eq(wide[1], -997);
  /* view = R(wide, 4) pseudo: 995 = 62.0011b -> hi 0 < lo 3 -> 62;
   * -997 = -62.0101b -> hi 1 = lo 1 -> -62 */
  ref_wide_view(wide, 2, 12, view);
  ck_assert_int_eq(view[0], 62);
  ck_assert_int_eq(view[1], -62);
  /* saturation at 2^11 - 1 */
  int16_t w2[] = {2047};
  int64_t g2[] = {-4};
  ref_update(g2, 1, view, w2, 12, 3, P, 0, 0);
  ck_assert_int_eq(w2[0], 2047);
  /* 2047 = 127.1111b: hi 3 = lo 3 -> 127 */
  ref_wide_view(w2, 1, 12, view);
  ck_assert_int_eq(view[0], 127);
  /* A = 16: 32760 = 127.11111000b: hi 15 > lo 8 -> 128 -> saturated 127 */
  int16_t w3[] = {32760, -32767};
  ref_wide_view(w3, 2, 16, view);
  ck_assert_int_eq(view[0], 127);
  ck_assert_int_eq(view[1], -127);
  /* decay with wide weights uses the int8 view: view 64, B0 = 11 -> +4 */
  int16_t w4[] = {1024};
  int8_t v4[] = {64};
  int64_t g4[] = {1024};
  ref_update(g4, 1, v4, w4, 12, 3, P, 0, 1);
  ck_assert_int_eq(g4[0], 1028);
  /* m_u means the same step size at any width: g32 1000 (B 10), mu 3.
   * int8: k = 7, R(1000, 7) = 7.8125 -> pseudo f2 110100b hi 6 > lo 4 -> 8.
   * A = 12: k = 10 - 3 - 4 = 3, R(1000, 3) = 125 exactly: W moves by 125 =
   * 7.8125 view units, and the view R(-125, 4) = -8 as with int8 weights. */
  int8_t w5[] = {0}, v5[] = {0};
  int16_t ww5[] = {0};
  int64_t g5a[] = {1000}, g5b[] = {1000};
  ref_update(g5a, 1, w5, NULL, 8, 3, P, 0, 0);
  ck_assert_int_eq(w5[0], -8);
  ref_update(g5b, 1, v5, ww5, 12, 3, P, 0, 0);
  ck_assert_int_eq(ww5[0], -125);
  ref_wide_view(ww5, 1, 12, v5);
  ck_assert_int_eq(v5[0], -8);
}
END_TEST

/* ----------------------------------------------------------------- RefNet */

/* input (1, 2, 2) -> flatten -> dense(3) -> relu -> dense(2) */
static RefNet *tiny_mlp(int bits) {
  RefNet *net = ref_net_new(5);
  net->nodes[0].op = REF_INPUT;
  net->nodes[0].c = 1, net->nodes[0].h = 2, net->nodes[0].w = 2;
  net->nodes[1].op = REF_FLATTEN, net->nodes[1].in[0] = 0;
  net->nodes[2].op = REF_DENSE, net->nodes[2].in[0] = 1, net->nodes[2].units = 3;
  net->nodes[3].op = REF_RELU, net->nodes[3].in[0] = 2;
  net->nodes[4].op = REF_DENSE, net->nodes[4].in[0] = 3, net->nodes[4].units = 2;
  ck_assert_int_eq(ref_net_finish(net, 4, bits), 0);
  return net;
}

/* One train step of the tiny MLP composed by hand from the primitives must
 * equal ref_train_step: checks the driver's ordering, exponents and keys. */
START_TEST(test_net_step_composed) {
  RefNet *net = tiny_mlp(8);
  ck_assert_int_eq(net->nparams, 2);
  ck_assert_int_eq(net->params[0].fan_in, 4);
  ck_assert_int_eq(net->params[1].fan_in, 3);
  ck_assert(!net->need_err[1] && net->need_err[2] && net->need_err[3] && net->need_err[4]);
  ref_init(net, 5);
  int8_t w1[12], w2[6];
  memcpy(w1, net->params[0].w, 12);
  memcpy(w2, net->params[1].w, 6);
  int n = 2;
  int8_t x[] = {10, -20, 30, 127, -127, 5, 0, 64};
  int32_t y[] = {1, 0};
  RefOpts o = ref_default_opts();
  o.seed = 9;
  o.mu = 2;
  uint64_t step = 17;
  ck_assert_int_eq(ref_train_step(net, x, -7, y, n, step, &o), 0);

  /* by hand */
  int64_t acc[6], e32[6], g1[12], g2[6];
  int8_t a2[6], a3[6], a4[4], e4[4], e3[6], e2[6];
  ref_dense_forward(x, n, 4, w1, 3, acc);
  int k2 = ref_requant(acc, 6, o.act_round, nit_key(9, step, NIT_TID_ACT(2)), a2);
  int s2 = -7 + net->params[0].exp + k2;
  ref_relu_forward(a2, 6, a3);
  ref_dense_forward(a3, n, 3, w2, 2, acc);
  int k4 = ref_requant(acc, 4, o.act_round, nit_key(9, step, NIT_TID_ACT(4)), a4);
  int s4 = s2 + net->params[1].exp + k4;
  ck_assert_int_eq(net->act_exp[4], s4);
  ck_assert_mem_eq(net->act[4], a4, 4);
  ref_loss_grad(a4, s4, n, 2, y, o.err_round, nit_key(9, step, NIT_TID_LOSS), e32, e4);
  ck_assert_mem_eq(net->err[4], e4, 4);
  ck_assert_int_eq(net->err_exp[4], 0);
  ref_dense_grad(a3, e4, n, 3, 2, g2);
  ref_dense_backward(e4, n, 2, w2, 3, e32); /* pre-update weights */
  int k3 = ref_requant(e32, 6, o.err_round, nit_key(9, step, NIT_TID_ERR(4)), e3);
  ck_assert_int_eq(net->err_exp[3], net->params[1].exp + k3);
  ck_assert_mem_eq(net->err[3], e3, 6);
  ref_relu_backward(a2, e3, 6, e2);
  ck_assert_mem_eq(net->err[2], e2, 6);
  ck_assert(!net->has_err[1]); /* no input error into the flatten of the input */
  ref_dense_grad(x, e2, n, 4, 3, g1);
  ref_update(g1, 12, w1, NULL, 8, 2, o.grad_round, nit_key(9, step, NIT_TID_GRAD(2)), 0);
  ref_update(g2, 6, w2, NULL, 8, 2, o.grad_round, nit_key(9, step, NIT_TID_GRAD(4)), 0);
  ck_assert_mem_eq(net->params[0].w, w1, 12);
  ck_assert_mem_eq(net->params[1].w, w2, 6);

  /* eval forward: no dropout, keys at NIT_STEP_EVAL; pseudo ignores keys, so
   * with the updated weights it equals the train-mode forward by hand */
  int8_t logits[4];
  int le;
  ck_assert_int_eq(ref_forward(net, x, -7, n, &o, logits, &le), 0);
  ref_dense_forward(x, n, 4, w1, 3, acc);
  k2 = ref_requant(acc, 6, P, 0, a2);
  ref_relu_forward(a2, 6, a3);
  ref_dense_forward(a3, n, 3, w2, 2, acc);
  k4 = ref_requant(acc, 4, P, 0, a4);
  ck_assert_mem_eq(logits, a4, 4);
  ck_assert_int_eq(le, -7 + net->params[0].exp + k2 + net->params[1].exp + k4);
  ref_net_free(net);
}
END_TEST

/* Residual block with fan-out: x -> conv c1 -> relu r (fans out to c2 and add)
 * -> conv c2 -> add(r, c2) -> flatten -> dense. The error at r is the sum of
 * what c2 and add send back, aligned, summed and requantized with key SUM(r). */
static RefNet *resnet(int drop) {
  RefNet *net = ref_net_new(8);
  RefNode *nd = net->nodes;
  nd[0].op = REF_INPUT, nd[0].c = 1, nd[0].h = 4, nd[0].w = 4;
  nd[1].op = REF_CONV, nd[1].in[0] = 0, nd[1].units = 2, nd[1].kh = nd[1].kw = 3;
  nd[1].sh = nd[1].sw = 1, nd[1].ph = nd[1].pw = 1;
  nd[2].op = REF_RELU, nd[2].in[0] = 1;
  nd[3].op = REF_CONV, nd[3].in[0] = 2, nd[3].units = 2, nd[3].kh = nd[3].kw = 3;
  nd[3].sh = nd[3].sw = 1, nd[3].ph = nd[3].pw = 1;
  nd[4].op = REF_ADD, nd[4].in[0] = 2, nd[4].in[1] = 3;
  nd[5].op = drop ? REF_DROPOUT : REF_AVGPOOL, nd[5].in[0] = 4;
  nd[5].kh = nd[5].kw = 2, nd[5].sh = nd[5].sw = 2, nd[5].drop256 = 64;
  nd[6].op = REF_FLATTEN, nd[6].in[0] = 5;
  nd[7].op = REF_DENSE, nd[7].in[0] = 6, nd[7].units = 3;
  ck_assert_int_eq(ref_net_finish(net, 7, 8), 0);
  return net;
}

START_TEST(test_net_fanout) {
  for (int drop = 0; drop < 2; drop++) {
    RefNet *net = resnet(drop);
    ref_init(net, 3);
    int8_t x[32];
    for (int j = 0; j < 32; j++)
      x[j] = (int8_t)(j * 4);
    int32_t y[] = {2, 0};
    RefOpts o = ref_default_opts();
    ck_assert_int_eq(ref_train_step(net, x, -7, y, 2, 4, &o), 0);
    /* forward add: align r and c2 to the smaller exponent, sum, requantize */
    int64_t sum[64];
    const int8_t *t[2] = {net->act[2], net->act[3]};
    int ex[2] = {net->act_exp[2], net->act_exp[3]};
    int s = ref_align_sum(t, ex, 2, 64, sum);
    int8_t out[64], e2[64];
    int k = ref_requant(sum, 64, o.act_round, nit_key(o.seed, 4, NIT_TID_ACT(4)), out);
    ck_assert_mem_eq(net->act[4], out, 64);
    ck_assert_int_eq(net->act_exp[4], s + k);
    /* the add passes its error unchanged to both inputs */
    ck_assert_mem_eq(net->ein[0][4], net->err[4], 64);
    ck_assert_mem_eq(net->ein[1][4], net->err[4], 64);
    ck_assert_mem_eq(net->err[3], net->err[4], 64);
    ck_assert_int_eq(net->err_exp[3], net->err_exp[4]);
    /* fan-out at r (node 2): c2's input error + add's error */
    const int8_t *c[2] = {net->ein[0][3], net->ein[0][4]};
    int ce[2] = {net->ein_exp[0][3], net->ein_exp[0][4]};
    s = ref_align_sum(c, ce, 2, 64, sum);
    k = ref_requant(sum, 64, o.err_round, nit_key(o.seed, 4, NIT_TID_SUM(2)), e2);
    ck_assert_mem_eq(net->err[2], e2, 64);
    ck_assert_int_eq(net->err_exp[2], s + k);
    ck_assert(!net->has_err[0]);
    ck_assert(net->has_err[1]);
    if (drop) { /* the dropout mask is the same forward and backward */
      uint64_t mk = nit_key(o.seed, 4, NIT_TID_MASK(5));
      for (int j = 0; j < 64; j++)
        if (ref_dropped(mk, (uint64_t)j, 64)) {
          ck_assert_int_eq(net->act[5][j], 0);
          ck_assert_int_eq(net->ein[0][5][j], 0);
        } else {
          ck_assert_int_eq(net->act[5][j], net->act[4][j]);
          ck_assert_int_eq(net->ein[0][5][j], net->err[5][j]);
        }
    } else { /* avgpool exponent: s + k - log2(4) */
      int64_t ps[16]; /* (2, 2, 2, 2) */
      RefGeom g = {2, 4, 4, 2, 2, 2, 2, 2, 2, 2, 0, 0, 1};
      ref_avgpool_forward(&g, net->act[4], 2, ps);
      int8_t po[16];
      int pk = ref_requant(ps, 16, o.act_round, nit_key(o.seed, 4, NIT_TID_ACT(5)), po);
      ck_assert_mem_eq(net->act[5], po, 16);
      ck_assert_int_eq(net->act_exp[5], net->act_exp[4] + pk - 2);
    }
    ref_net_free(net);
  }
}
END_TEST

/* Determinism: the same (weights, data, seed, step, options) give the same
 * dump; a different step gives different stochastic draws. */
static char *dump_bytes(RefNet *net, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(ref_dump(net, f), 0);
  fclose(f);
  return buf;
}

START_TEST(test_net_determinism_and_dump) {
  char *d[3];
  size_t len[3];
  for (int r = 0; r < 3; r++) {
    RefNet *net = resnet(1);
    ref_init(net, 8);
    int8_t x[32];
    for (int j = 0; j < 32; j++)
      x[j] = (int8_t)(127 - j * 7);
    int32_t y[] = {1, 2};
    RefOpts o = ref_default_opts();
    o.decay = 1;
    for (uint64_t step = 0; step < 3; step++)
      ck_assert_int_eq(ref_train_step(net, x, -7, y, 2, step + (r == 2), &o), 0);
    d[r] = dump_bytes(net, &len[r]);
    ref_net_free(net);
  }
  ck_assert_uint_eq(len[0], len[1]);
  ck_assert_int_eq(memcmp(d[0], d[1], len[0]), 0);
  ck_assert(len[0] != len[2] || memcmp(d[0], d[2], len[0]) != 0);
  /* header: magic, nnodes 8, nparams 3, n 2, trained 1 */
  ck_assert_int_eq(memcmp(d[0], "NITREF01", 8), 0);
  ck_assert_int_eq((unsigned char)d[0][8], 8);
  ck_assert_int_eq((unsigned char)d[0][12], 3);
  ck_assert_int_eq((unsigned char)d[0][16], 2);
  ck_assert_int_eq((unsigned char)d[0][20], 1);
  for (int r = 0; r < 3; r++)
    free(d[r]);
}
END_TEST

START_TEST(test_net_wide_and_errors) {
  RefNet *net = tiny_mlp(12);
  ref_init(net, 5);
  /* wide weights start at w << 4 and the view equals the int8 init */
  RefNet *n8 = tiny_mlp(8);
  ref_init(n8, 5);
  for (int64_t j = 0; j < net->params[0].count; j++) {
    ck_assert_int_eq(net->params[0].wide[j], n8->params[0].w[j] * 16);
    ck_assert_int_eq(net->params[0].w[j], n8->params[0].w[j]);
  }
  int8_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  int32_t y[2] = {0, 1};
  RefOpts o = ref_default_opts();
  ck_assert_int_eq(ref_train_step(net, x, -7, y, 2, 0, &o), 0);
  /* forward used the view: same logits as the int8 net's first step */
  ck_assert_int_eq(ref_train_step(n8, x, -7, y, 2, 0, &o), 0);
  ck_assert_mem_eq(net->act[4], n8->act[4], 4);
  /* errors are reported, not fatal */
  int32_t bad[2] = {0, 2};
  ck_assert_int_eq(ref_train_step(net, x, -7, bad, 2, 1, &o), -1);
  ck_assert_ptr_nonnull(strstr(net->msg, "label"));
  o.act_round = 7;
  ck_assert_int_eq(ref_forward(net, x, -7, 2, &o, NULL, NULL), -1);
  ref_net_free(net);
  ref_net_free(n8);
  /* avgpool window must be a power of two */
  RefNet *p = ref_net_new(2);
  p->nodes[0].op = REF_INPUT, p->nodes[0].c = 1, p->nodes[0].h = 3, p->nodes[0].w = 3;
  p->nodes[1].op = REF_AVGPOOL, p->nodes[1].in[0] = 0;
  p->nodes[1].kh = 3, p->nodes[1].kw = 1, p->nodes[1].sh = p->nodes[1].sw = 1;
  ck_assert_int_eq(ref_net_finish(p, 1, 8), -1);
  ck_assert_ptr_nonnull(strstr(p->msg, "power of two"));
  ref_net_free(p);
}
END_TEST

/* Rejections after parameter tensors were counted must leave a net that
 * ref_net_free can release: too many classes, and a bad layer after a
 * weighted one. (Both crashed when nparams was counted before params existed.) */
START_TEST(test_net_reject_then_free) {
  RefNet *net = ref_net_new(3);
  net->nodes[0].op = REF_INPUT, net->nodes[0].c = 4, net->nodes[0].h = 1, net->nodes[0].w = 1;
  net->nodes[1].op = REF_DENSE, net->nodes[1].in[0] = 0, net->nodes[1].units = 8;
  net->nodes[2].op = REF_DENSE, net->nodes[2].in[0] = 1, net->nodes[2].units = REF_MAX_CLASSES + 1;
  ck_assert_int_eq(ref_net_finish(net, 2, 8), -1);
  ck_assert_ptr_nonnull(strstr(net->msg, "8191 classes"));
  ref_net_free(net);
  /* the largest legal output is accepted */
  net = ref_net_new(3);
  net->nodes[0].op = REF_INPUT, net->nodes[0].c = 4, net->nodes[0].h = 1, net->nodes[0].w = 1;
  net->nodes[1].op = REF_DENSE, net->nodes[1].in[0] = 0, net->nodes[1].units = 8;
  net->nodes[2].op = REF_DENSE, net->nodes[2].in[0] = 1, net->nodes[2].units = REF_MAX_CLASSES;
  ck_assert_int_eq(ref_net_finish(net, 2, 8), 0);
  ck_assert_int_eq(net->classes, REF_MAX_CLASSES);
  ref_net_free(net);
  /* a shape error after a weighted layer */
  net = ref_net_new(3);
  net->nodes[0].op = REF_INPUT, net->nodes[0].c = 1, net->nodes[0].h = 3, net->nodes[0].w = 3;
  net->nodes[1].op = REF_CONV, net->nodes[1].in[0] = 0, net->nodes[1].units = 2;
  net->nodes[1].kh = net->nodes[1].kw = net->nodes[1].sh = net->nodes[1].sw = 1;
  net->nodes[2].op = REF_AVGPOOL, net->nodes[2].in[0] = 1;
  net->nodes[2].kh = 3, net->nodes[2].kw = 1, net->nodes[2].sh = net->nodes[2].sw = 1;
  ck_assert_int_eq(ref_net_finish(net, 2, 8), -1);
  ck_assert_ptr_nonnull(strstr(net->msg, "power of two"));
  ref_net_free(net);
}
END_TEST

/* ref_net_from_model on a hand-built Model (the front end's struct). */
START_TEST(test_from_model) {
  Node nodes[5];
  memset(nodes, 0, sizeof nodes);
  const char *names[] = {"x", "flat", "f1", "relu", "f2"};
  OpKind ops[] = {OP_INPUT, OP_FLATTEN, OP_DENSE, OP_RELU, OP_DENSE};
  for (int i = 0; i < 5; i++) {
    nodes[i].op = ops[i];
    nodes[i].name = (char *)names[i];
    nodes[i].in[0] = i - 1;
    nodes[i].in[1] = -1;
    nodes[i].nin = i > 0;
    nodes[i].groups = 1;
    nodes[i].param = -1;
  }
  nodes[0].out = (Shape){1, 28, 28};
  nodes[1].out = (Shape){784, 1, 1};
  nodes[2].out = (Shape){512, 1, 1}, nodes[2].units = 512;
  nodes[3].out = (Shape){512, 1, 1};
  nodes[4].out = (Shape){10, 1, 1}, nodes[4].units = 10;
  nodes[2].param = 0, nodes[2].nweights = 512 * 784, nodes[2].fan_in = 784;
  nodes[2].wshape[0] = 512, nodes[2].wshape[1] = 784, nodes[2].wshape[2] = 1;
  nodes[2].wshape[3] = 1, nodes[2].w_exp = -10, nodes[2].w_bound = 89;
  nodes[4].param = 1, nodes[4].nweights = 5120, nodes[4].fan_in = 512;
  nodes[4].wshape[0] = 10, nodes[4].wshape[1] = 512, nodes[4].wshape[2] = 1;
  nodes[4].wshape[3] = 1, nodes[4].w_exp = -10, nodes[4].w_bound = 110;
  Model m;
  memset(&m, 0, sizeof m);
  m.nodes = nodes;
  m.nnodes = 5;
  m.output = 4;
  m.classes = 10;
  m.recipe.weight_bits = 8;
  m.nptensors = 2;
  char msg[300];
  RefNet *net = ref_net_from_model(&m, msg, sizeof msg);
  ck_assert_msg(net != NULL, "%s", msg);
  ck_assert_int_eq(net->nparams, 2);
  ck_assert_int_eq(net->params[0].count, 512 * 784);
  ref_net_free(net);
  nodes[4].w_bound = 111; /* a drift in the init rule is caught */
  net = ref_net_from_model(&m, msg, sizeof msg);
  ck_assert_ptr_null(net);
  ck_assert_ptr_nonnull(strstr(msg, "init rule"));
  nodes[4].w_bound = 110;
  nodes[3].out.c = 511; /* a shape drift too */
  ck_assert_ptr_null(ref_net_from_model(&m, msg, sizeof msg));
  ck_assert_ptr_nonnull(strstr(msg, "shape"));
  nodes[3].out.c = 512;
  m.nptensors = 3; /* and a count of parameter tensors */
  ck_assert_ptr_null(ref_net_from_model(&m, msg, sizeof msg));
  ck_assert_ptr_nonnull(strstr(msg, "number of parameter tensors"));
}
END_TEST

static int rec_eq(RecScalar a, RecScalar b) { return a.m == b.m && a.e == b.e; }

/* Norm nodes and the recipe: x(8) -> dense f1(4) -> batchnorm -> l1layernorm
 * -> dense f2(2), under ghaffari, as the front end builds it. */
START_TEST(test_from_model_norm) {
  Node nodes[5];
  memset(nodes, 0, sizeof nodes);
  const char *names[] = {"x", "f1", "bn", "l1l", "f2"};
  OpKind ops[] = {OP_INPUT, OP_DENSE, OP_BATCHNORM, OP_L1LAYERNORM, OP_DENSE};
  for (int i = 0; i < 5; i++) {
    nodes[i].op = ops[i];
    nodes[i].name = (char *)names[i];
    nodes[i].in[0] = i - 1;
    nodes[i].in[1] = -1;
    nodes[i].nin = i > 0;
    nodes[i].groups = 1;
    nodes[i].param = -1;
    nodes[i].out = (Shape){4, 1, 1};
    nodes[i].eps = (Dec){1, 5};
    nodes[i].nmom = (Dec){1, 1};
  }
  nodes[0].out.c = 8;
  nodes[4].out.c = 2;
  /* fan-in 8: c = 0, exponent -7, isqrt(6 * 4^7 / 8) = 110; fan-in 4: c = 1,
   * -6, isqrt(6 * 4^6 / 4) = 78 */
  nodes[1].units = 4, nodes[1].param = 0, nodes[1].nweights = 32, nodes[1].fan_in = 8;
  nodes[1].wshape[0] = 4, nodes[1].wshape[1] = 8, nodes[1].wshape[2] = nodes[1].wshape[3] = 1;
  nodes[1].w_exp = -7, nodes[1].w_bound = 110;
  nodes[2].param = 1, nodes[2].eps = (Dec){1, 3}, nodes[2].nmom = (Dec){25, 2};
  nodes[3].param = 3, nodes[3].nk = (Dec){0, 0};
  nodes[4].units = 2, nodes[4].param = 5, nodes[4].nweights = 8, nodes[4].fan_in = 4;
  nodes[4].wshape[0] = 2, nodes[4].wshape[1] = 4, nodes[4].wshape[2] = nodes[4].wshape[3] = 1;
  nodes[4].w_exp = -6, nodes[4].w_bound = 78;
  Model m;
  memset(&m, 0, sizeof m);
  m.nodes = nodes;
  m.nnodes = 5;
  m.output = 4;
  m.classes = 2;
  m.nptensors = 6;
  Recipe *r = &m.recipe;
  r->weight_bits = 8;
  r->kind = NIT_RECIPE_GHAFFARI;
  r->seed = 7;
  r->mu[0] = 3;
  r->act_round = NIT_ROUND_NEAREST;
  r->err_round = r->grad_round = NIT_ROUND_STOCHASTIC;
  r->view_round = NIT_ROUND_PSEUDO;
  r->update_round = NIT_ROUND_NEAREST;
  r->master_bits = 32;
  r->loss_table = true;
  r->momentum = (Dec){95, 2};
  r->wdecay = (Dec){0, 0};
  r->bits_act = 6, r->bits_weight = 5, r->bits_grad = 8;
  r->groups = NIT_GROUPS_TENSOR; /* shiftquant's: ignored under ghaffari */
  char msg[300];
  RefNet *net = ref_net_from_model(&m, msg, sizeof msg);
  ck_assert_msg(net != NULL, "%s", msg);
  ck_assert_int_eq(net->nodes[2].op, REF_BATCHNORM);
  ck_assert_int_eq(net->nodes[3].op, REF_L1LAYERNORM);
  ck_assert(rec_eq(net->nodes[2].eps, rec_sdec(1, 3)));
  ck_assert(rec_eq(net->nodes[2].nmom, rec_sdec(25, 2)));
  ck_assert(rec_eq(net->nodes[2].one_minus_nmom, rec_sdec(75, 2)));
  ck_assert(rec_eq(net->nodes[3].eps, rec_sdec(1, 5)));
  ck_assert_int_eq(net->nodes[3].l1k.m, REC_SQRT_PI_2_Q30);
  ck_assert_int_eq(net->nodes[3].l1k.e, -30);
  ck_assert_int_eq(net->nparams, 6);
  ck_assert_int_eq(net->params[1].role, 1); /* gamma */
  ck_assert_int_eq(net->params[2].role, 2); /* beta */
  ck_assert_int_eq(net->params[4].count, 4);
  ck_assert_int_eq(net->params[5].node, 4);

  RefOpts o;
  ck_assert_int_eq(ref_opts_from_model(&m, &o), 0);
  ck_assert_int_eq(o.recipe, REF_RECIPE_GHAFFARI);
  ck_assert_int_eq(o.seed, 7);
  ck_assert_int_eq(o.act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(o.err_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(o.view_round, NIT_ROUND_PSEUDO);
  ck_assert_int_eq(o.update_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(o.master_bits, 32);
  ck_assert_int_eq(o.bits_act, 6);
  ck_assert_int_eq(o.bits_weight, 5);
  ck_assert_int_eq(o.bits_grad, 8);
  ck_assert_int_eq(o.groups, NIT_GROUPS_CHANNEL);
  ck_assert(rec_eq(o.momentum, rec_sdec(95, 2)));
  ck_assert(rec_eq(o.wdecay, rec_sdec(0, 0)));
  ck_assert_int_eq(o.eta.m, 0);
  /* one step runs with these options: norms, masters and the optimizer */
  o.eta = rec_sdec(1, 2);
  ck_assert_msg(ref_init_recipe(net, &o) == 0, "%s", net->msg);
  int8_t x[2 * 8];
  for (int i = 0; i < 16; i++)
    x[i] = (int8_t)(i * 13 - 100);
  int32_t y[2] = {0, 1};
  ck_assert_msg(ref_train_step(net, x, -7, y, 2, 0, &o) == 0, "%s", net->msg);
  ref_net_free(net);

  /* shiftquant: the same settings plus its widths and groups */
  r->kind = NIT_RECIPE_SHIFTQUANT;
  r->bits_grad = 4;
  r->groups = NIT_GROUPS_SAMPLE;
  ck_assert_int_eq(ref_opts_from_model(&m, &o), 0);
  ck_assert_int_eq(o.recipe, REF_RECIPE_SHIFTQUANT);
  ck_assert_int_eq(o.bits_act, 6);
  ck_assert_int_eq(o.bits_weight, 5);
  ck_assert_int_eq(o.bits_grad, 4);
  ck_assert_int_eq(o.groups, NIT_GROUPS_SAMPLE);
  ck_assert_int_eq(o.act_round, NIT_ROUND_NEAREST); /* the Model's, not the defaults */
  ck_assert_int_eq(o.view_round, NIT_ROUND_PSEUDO);
  ck_assert_int_eq(o.master_bits, 32);
  net = ref_net_from_model(&m, msg, sizeof msg);
  ck_assert_msg(net != NULL, "%s", msg);
  o.eta = rec_sdec(1, 2);
  ck_assert_msg(ref_init_recipe(net, &o) == 0, "%s", net->msg);
  ck_assert_msg(ref_train_step(net, x, -7, y, 2, 0, &o) == 0, "%s", net->msg);
  ref_net_free(net);
  r->kind = NIT_RECIPE_GHAFFARI;
  nodes[3].out.c = 5; /* a drift in the norm's channels is caught */
  ck_assert_ptr_null(ref_net_from_model(&m, msg, sizeof msg));
  nodes[3].out.c = 4;

  /* the softmax's exponential follows the file under every recipe */
  ck_assert_int_eq(ref_opts_from_model(&m, &o), 0);
  ck_assert_int_eq(o.loss, REF_LOSS_TABLE);
  r->loss_table = false;
  ck_assert_int_eq(ref_opts_from_model(&m, &o), 0);
  ck_assert_int_eq(o.loss, REF_LOSS_NITI);
  memset(r, 0, sizeof *r);
  r->kind = NIT_RECIPE_NITI;
  r->seed = 3;
  r->mu[0] = 5;
  r->act_round = NIT_ROUND_STOCHASTIC;
  r->err_round = NIT_ROUND_NEAREST;
  r->grad_round = NIT_ROUND_PSEUDO;
  r->decay = true;
  ck_assert_int_eq(ref_opts_from_model(&m, &o), 0);
  ck_assert_int_eq(o.recipe, REF_RECIPE_NITI);
  ck_assert_int_eq(o.seed, 3);
  ck_assert_int_eq(o.mu, 5);
  ck_assert_int_eq(o.act_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(o.err_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(o.decay, 1);
}
END_TEST

static Suite *ref_suite(void) {
  Suite *s = suite_create("ref");
  TCase *p = tcase_create("primitives");
  tcase_add_test(p, test_bits);
  tcase_add_test(p, test_generator);
  tcase_add_test(p, test_round_k0_and_saturation);
  tcase_add_test(p, test_round_pseudo_hand);
  tcase_add_test(p, test_round_nearest_hand);
  tcase_add_test(p, test_round_stochastic_hand);
  tcase_add_test(p, test_requant);
  tcase_add_test(p, test_floor_isqrt_quant);
  tcase_add_test(p, test_init_rule);
  suite_add_tcase(s, p);
  TCase *st = tcase_create("statistics");
  tcase_set_timeout(st, 60);
  tcase_add_test(st, test_stochastic_unbiased);
  tcase_add_test(st, test_pseudo_bias_exact);
  tcase_add_test(st, test_pseudo_per_hi);
  tcase_add_test(st, test_nearest_biased);
  suite_add_tcase(s, st);
  TCase *l = tcase_create("loss");
  tcase_add_test(l, test_loss_hand);
  tcase_add_test(l, test_loss_rows_sum_zero);
  tcase_add_test(l, test_acc32_boundary);
  suite_add_tcase(s, l);
  TCase *ly = tcase_create("layers");
  tcase_add_test(ly, test_dense_hand);
  tcase_add_test(ly, test_conv_hand);
  tcase_add_test(ly, test_conv_bruteforce);
  tcase_add_test(ly, test_dense_adjoint);
  tcase_add_test(ly, test_pools_hand);
  tcase_add_test(ly, test_relu_dropout_align);
  tcase_add_test(ly, test_update_hand);
  tcase_add_test(ly, test_wide_weights);
  suite_add_tcase(s, ly);
  TCase *nt = tcase_create("net");
  tcase_add_test(nt, test_net_step_composed);
  tcase_add_test(nt, test_net_fanout);
  tcase_add_test(nt, test_net_determinism_and_dump);
  tcase_add_test(nt, test_net_wide_and_errors);
  tcase_add_test(nt, test_net_reject_then_free);
  tcase_add_test(nt, test_from_model);
  tcase_add_test(nt, test_from_model_norm);
  suite_add_tcase(s, nt);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(ref_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
