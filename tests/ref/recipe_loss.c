/*
 * recipe_loss.c: the table softmax loss gradient with its exact scale (R§5).
 */
#include "recipe.h"

#include "ref.h"

void rec_tsoftmax_row32(const int8_t *a, int s, int classes, int y, int64_t *e32) {
  /* 1. X_i: a_i 2^s log2 e in Q16 (|P| < 2^38; with the cap |X| < 2^54) */
  int64_t xm = INT64_MIN;
  for (int i = 0; i < classes; i++) {
    int64_t p = (int64_t)a[i] * REC_LOG2E_Q30;
    int64_t x;
    if (s <= 14)
      x = ref_floor_shr(p, 14 - (int64_t)s);
    else
      x = p * ((int64_t)1 << (s - 14 < 16 ? s - 14 : 16));
    e32[i] = x; /* X_i kept in e32 until step 3 */
    if (x > xm)
      xm = x;
  }
  /* 2. u_i = 2^(-(Xm - X_i)) in Q30, 0 past 31 binary orders */
  int64_t u_sum = 0;
  for (int i = 0; i < classes; i++) {
    int64_t d = xm - e32[i];
    int64_t u = d >= ((int64_t)31 << 16) ? 0 : rec_exp2neg_q30(d);
    e32[i] = u;
    u_sum += u; /* classes <= 8191: U < 2^43; U >= 2^30 (the maximum) */
  }
  /* 3. t_i = (u_i << 15) div U; C = sum t; e32 = t - [i = y] C */
  int64_t c = 0;
  for (int i = 0; i < classes; i++) {
    e32[i] = (e32[i] << 15) / u_sum;
    c += e32[i];
  }
  e32[y] -= c;
}

void rec_loss_e32_table(const int8_t *logits, int s, int n, int classes, const int32_t *y,
                        int64_t *e32) {
  for (int r = 0; r < n; r++)
    rec_tsoftmax_row32(logits + (int64_t)r * classes, s, classes, y[r],
                       e32 + (int64_t)r * classes);
}

int rec_loss_grad_table(const int8_t *logits, int s, int n, int classes, const int32_t *y, int b,
                        int mode, uint64_t key, int64_t *e32, int8_t *e) {
  rec_loss_e32_table(logits, s, n, classes, y, e32);
  /* 4. EQ at site LOSS over the whole batch tensor, index r * classes + i */
  return -15 + rec_rq8(e32, (int64_t)n * classes, b, mode, key, e);
}
