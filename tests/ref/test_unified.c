/*
 * test_unified.c: Check suite of recipe unified in the reference net
 * (ref_sites.c and the unified paths of ref.c; ../shared/spec/recipes.md
 * §4, §10.4-§10.6, §12, cited R§k): the sites of a graph with fan-out,
 * residual add, overlapping pool and a norm layer; the multipliers the
 * errors carry on each grid; phi from the sites' d_c; determinism; and
 * that masters, momenta, running statistics and the held clips are the
 * whole state (a net rebuilt from them mid-period continues with the same
 * bytes, the reference side of a bit-exact resume).
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "recipe.h"
#include "ref.h"

/* input (1, 6, 6) -> c1 conv 4 k3 p1 -> relu -> {c2 conv 4 k3 p1 ->
 * batchnorm} + relu's output -> relu -> maxpool k3 s1 (overlapping) ->
 * flatten -> dense 4. */
static RefNet *toy_res(void) {
  RefNet *net = ref_net_new(10);
  ck_assert_ptr_nonnull(net);
  RefNode *nd = net->nodes;
  nd[0].op = REF_INPUT, nd[0].c = 1, nd[0].h = nd[0].w = 6;
  nd[1].op = REF_CONV, nd[1].in[0] = 0, nd[1].units = 4;
  nd[1].kh = nd[1].kw = 3, nd[1].sh = nd[1].sw = 1, nd[1].ph = nd[1].pw = 1;
  nd[2].op = REF_RELU, nd[2].in[0] = 1;
  nd[3].op = REF_CONV, nd[3].in[0] = 2, nd[3].units = 4;
  nd[3].kh = nd[3].kw = 3, nd[3].sh = nd[3].sw = 1, nd[3].ph = nd[3].pw = 1;
  nd[4].op = REF_BATCHNORM, nd[4].in[0] = 3;
  nd[5].op = REF_ADD, nd[5].in[0] = 4, nd[5].in[1] = 2;
  nd[6].op = REF_RELU, nd[6].in[0] = 5;
  nd[7].op = REF_MAXPOOL, nd[7].in[0] = 6, nd[7].kh = nd[7].kw = 3, nd[7].sh = nd[7].sw = 1;
  nd[8].op = REF_FLATTEN, nd[8].in[0] = 7;
  nd[9].op = REF_DENSE, nd[9].in[0] = 8, nd[9].units = 4;
  ck_assert_msg(ref_net_finish(net, 9, 8) == 0, "%s", net->msg);
  return net;
}

/* A batch of the toy task: 4 classes, a bright quadrant per class. */
static void batch(uint64_t first, int n, int8_t *x, int32_t *y) {
  uint64_t key = nit_key(77, 0, 5);
  for (int b = 0; b < n; b++) {
    uint64_t r = nit_draw(key, first + (uint64_t)b);
    int c = (int)(r % 4);
    y[b] = c;
    for (int p = 0; p < 36; p++) {
      int v = (int)(nit_draw(key ^ 0x55, (first + (uint64_t)b) * 36 + (uint64_t)p) % 41) - 20;
      if ((p / 6 < 3) == (c / 2 == 0) && (p % 6 < 3) == (c % 2 == 0))
        v += 70;
      x[b * 36 + p] = (int8_t)v;
    }
  }
}

static void step(RefNet *net, RefOpts *o, uint64_t s) {
  enum { B = 8 };
  int8_t x[B * 36];
  int32_t y[B];
  batch(s * B, B, x, y);
  o->eta = rec_sdec(5, 2);
  ck_assert_msg(ref_train_step(net, x, -7, y, B, s, o) == 0, "%s", net->msg);
}

/* The dump of the last call, in memory. */
static char *dump(RefNet *net, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(ref_dump(net, f), 0);
  fclose(f);
  return buf;
}

/* R§4: site(j) of every node, and the DSGC sites in the order of their
 * first weighted node: c1's output error is the fan-out sum SUM(2) through
 * its relu; c2's comes from the batchnorm (ERR(4)); the batchnorm's
 * through the add and relu from the overlapping pool (ERR(7)); the dense
 * one is LOSS. */
START_TEST(test_sites) {
  RefNet *net = toy_res();
  ck_assert_uint_eq(ref_site_of(net, 9), NIT_TID_LOSS);
  ck_assert_uint_eq(ref_site_of(net, 8), NIT_TID_ERR(9));
  ck_assert_uint_eq(ref_site_of(net, 6), NIT_TID_ERR(7));
  ck_assert_uint_eq(ref_site_of(net, 4), NIT_TID_ERR(7));
  ck_assert_uint_eq(ref_site_of(net, 3), NIT_TID_ERR(4));
  ck_assert_uint_eq(ref_site_of(net, 2), NIT_TID_SUM(2));
  ck_assert_uint_eq(ref_site_of(net, 1), NIT_TID_SUM(2));
  RefOpts o = ref_unified_opts();
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  ck_assert_int_eq(net->nsites, 4);
  ck_assert_uint_eq(net->site_tid[0], NIT_TID_SUM(2));
  ck_assert_uint_eq(net->site_tid[1], NIT_TID_ERR(4));
  ck_assert_uint_eq(net->site_tid[2], NIT_TID_ERR(7));
  ck_assert_uint_eq(net->site_tid[3], NIT_TID_LOSS);
  int want[10] = {-1, 0, -1, 1, 2, -1, -1, -1, -1, 3};
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(net->node_site[i], want[i]);
  for (int k = 0; k < 4; k++)
    ck_assert_int_eq(net->clip[k].l, -1);
  ref_net_free(net);
}
END_TEST

/* R§10.4: on the octave grid every stored error has mu = 1; on the eighth
 * grid errors carry 1 or 8..15, and some carry more than 8; pass-through
 * nodes hand their mu on unchanged. phi = max(exp2neg(...), beta) of the
 * site's dq, 2^30 under lrscale off. */
START_TEST(test_mu_and_phi) {
  for (int grid = 0; grid < 2; grid++) {
    RefNet *net = toy_res();
    RefOpts o = ref_unified_opts();
    o.clip.grid = grid;
    o.clip.every = 3;
    ck_assert_int_eq(ref_init_recipe(net, &o), 0);
    int above8 = 0;
    for (uint64_t s = 0; s < 12; s++) {
      step(net, &o, s);
      for (int i = 1; i < net->nnodes; i++) {
        int mu = net->err_mu[i];
        ck_assert(mu == 1 || (mu >= 8 && mu <= 15));
        if (grid == NIT_GRID_OCTAVE)
          ck_assert_int_eq(mu, 1);
        above8 += mu > 8;
      }
      ck_assert_int_eq(net->ein_mu[0][6], net->err_mu[6]); /* relu */
      ck_assert_int_eq(net->ein_mu[0][5], net->err_mu[5]); /* add, both slots */
      ck_assert_int_eq(net->ein_mu[1][5], net->err_mu[5]);
      ck_assert_int_eq(net->ein_mu[0][8], net->err_mu[8]); /* flatten */
      for (int k = 0; k < net->nsites; k++) {
        ck_assert_int_eq(net->site_phi[k], rec_phi_q30(net->site_dq[k], o.alpha_q16, o.beta_q30));
        ck_assert_int_ge(net->site_phi[k], o.beta_q30);
        ck_assert_int_ge(net->clip[k].l, 0);
        if (grid == NIT_GRID_OCTAVE)
          ck_assert_int_eq(net->clip[k].l % 8, 0);
      }
    }
    if (grid == NIT_GRID_EIGHTH)
      ck_assert_int_gt(above8, 0);
    ref_net_free(net);
  }
  RefNet *net = toy_res();
  RefOpts o = ref_unified_opts();
  o.lrscale = 0;
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  step(net, &o, 0);
  for (int k = 0; k < net->nsites; k++) {
    ck_assert_int_eq(net->site_phi[k], (int64_t)1 << 30);
    ck_assert_int_gt(net->site_dq[k], 0); /* measured even so */
  }
  ref_net_free(net);
}
END_TEST

/* The same settings give the same bytes; another clip period, clip off or
 * lrscale off give other bytes (each setting reaches the step). */
START_TEST(test_determinism) {
  size_t len[5];
  char *d[5];
  for (int v = 0; v < 5; v++) {
    RefNet *net = toy_res();
    RefOpts o = ref_unified_opts();
    o.clip.every = v == 2 ? 2 : 4;
    o.clip.on = v != 3;
    o.lrscale = v != 4;
    ck_assert_int_eq(ref_init_recipe(net, &o), 0);
    for (uint64_t s = 0; s < 9; s++)
      step(net, &o, s);
    d[v] = dump(net, &len[v]);
    ref_net_free(net);
  }
  ck_assert(len[0] == len[1] && memcmp(d[0], d[1], len[0]) == 0);
  for (int v = 2; v < 5; v++)
    ck_assert_msg(len[0] != len[v] || memcmp(d[0], d[v], len[0]) != 0, "variant %d", v);
  for (int v = 0; v < 5; v++)
    free(d[v]);
}
END_TEST

/* R§12: masters, momenta, their exponents, running statistics and the held
 * clips (l*, s*) are the state of a step. A net rebuilt from them after
 * step 5 of a period of 4 (mid-period: step 6 holds, step 8 searches)
 * continues exactly like the net that ran on; without the clips it does
 * not. */
START_TEST(test_resume_mid_period) {
  for (int keep_clip = 1; keep_clip >= 0; keep_clip--) {
    RefOpts o = ref_unified_opts();
    o.clip.every = 4;
    RefNet *a = toy_res(), *b = toy_res();
    ck_assert_int_eq(ref_init_recipe(a, &o), 0);
    ck_assert_int_eq(ref_init_recipe(b, &o), 0);
    for (uint64_t s = 0; s < 6; s++)
      step(a, &o, s);
    RefNet *c = toy_res();
    ck_assert_int_eq(ref_init_recipe(c, &o), 0);
    for (int p = 0; p < a->nparams; p++) { /* the checkpoint: c takes a's state */
      RefParam *pa = &a->params[p], *pc = &c->params[p];
      memcpy(pc->master, pa->master, (size_t)pa->count * sizeof(int32_t));
      memcpy(pc->mom, pa->mom, (size_t)pa->count * sizeof(int32_t));
      pc->master_exp = pa->master_exp;
      pc->mom_exp = pa->mom_exp;
    }
    for (int i = 1; i < a->nnodes; i++)
      if (a->run_mean && a->run_mean[i]) {
        memcpy(c->run_mean[i], a->run_mean[i], (size_t)a->nodes[i].c * sizeof(RecScalar));
        memcpy(c->run_dev[i], a->run_dev[i], (size_t)a->nodes[i].c * sizeof(RecScalar));
      }
    for (int k = 0; keep_clip && k < a->nsites; k++)
      c->clip[k] = a->clip[k];
    (void)b;
    for (uint64_t s = 6; s < 11; s++) {
      step(a, &o, s);
      step(c, &o, s);
    }
    size_t la, lc;
    char *da = dump(a, &la), *dc = dump(c, &lc);
    int same = la == lc && memcmp(da, dc, la) == 0;
    ck_assert_msg(same == keep_clip, "keep_clip %d: same %d", keep_clip, same);
    free(da);
    free(dc);
    ref_net_free(a);
    ref_net_free(b);
    ref_net_free(c);
  }
}
END_TEST

/* The recipe learns the toy task: the accuracy of 64 held-out samples
 * after 80 steps is above 80%. */
START_TEST(test_learns) {
  RefNet *net = toy_res();
  RefOpts o = ref_unified_opts();
  o.clip.every = 10;
  ck_assert_int_eq(ref_init_recipe(net, &o), 0);
  for (uint64_t s = 0; s < 80; s++)
    step(net, &o, s);
  enum { N = 64 };
  int8_t x[N * 36], logits[N * 4];
  int32_t y[N];
  int le, right = 0;
  batch(100000, N, x, y);
  ck_assert_int_eq(ref_forward(net, x, -7, N, &o, logits, &le), 0);
  for (int b = 0; b < N; b++) {
    int best = 0;
    for (int c = 1; c < 4; c++)
      if (logits[b * 4 + c] > logits[b * 4 + best])
        best = c;
    right += best == y[b];
  }
  ck_assert_msg(right * 100 > 80 * N, "%d of %d right", right, N);
  ref_net_free(net);
}
END_TEST

static Suite *unified_suite(void) {
  Suite *s = suite_create("unified");
  TCase *tc = tcase_create("net");
  tcase_add_test(tc, test_sites);
  tcase_add_test(tc, test_mu_and_phi);
  tcase_add_test(tc, test_determinism);
  tcase_add_test(tc, test_resume_mid_period);
  tcase_add_test(tc, test_learns);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(unified_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
