/* test_sema.c: shapes, parameters, exponents, accumulator widths, layout,
 * recipe defaults and overrides, and semantic errors. */
#include "fe_test.h"

static const char lenet5[] =
    "model lenet5 {\n input image[1, 28, 28]\n output classes(10)\n"
    " conv c1(6, kernel=5, pad=2)\n relu\n maxpool(2)\n conv c2(16, kernel=5)\n relu\n maxpool(2)\n"
    " flatten\n dense f1(120)\n relu\n dense f2(84)\n relu\n dense f3(10)\n}\n";

#define SHAPE(n, C, H, W)          \
  do {                             \
    ck_assert_int_eq((n)->out.c, C); \
    ck_assert_int_eq((n)->out.h, H); \
    ck_assert_int_eq((n)->out.w, W); \
  } while (0)

START_TEST(lenet5_shapes_and_params) {
  Model *m = fe_check(lenet5);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m->name, "lenet5");
  ck_assert_int_eq(m->nnodes, 13);
  ck_assert_int_eq(m->classes, 10);
  ck_assert_int_eq(m->output, 12);
  ck_assert_int_eq(m->nodes[0].op, OP_INPUT);
  ck_assert_str_eq(m->nodes[0].name, "image");
  const Node *c1 = fe_node(m, "c1"), *c2 = fe_node(m, "c2"), *f1 = fe_node(m, "f1");
  SHAPE(c1, 6, 28, 28);
  SHAPE(fe_node(m, "maxpool1"), 6, 14, 14);
  SHAPE(c2, 16, 10, 10);
  SHAPE(fe_node(m, "maxpool2"), 16, 5, 5);
  SHAPE(fe_node(m, "flatten1"), 400, 1, 1);
  SHAPE(f1, 120, 1, 1);
  ck_assert_int_eq(fe_node(m, "relu4")->in[0], 10);
  /* weights: conv (O, I/groups, KH, KW), dense (O, I, 1, 1) */
  ck_assert_int_eq(c2->wshape[0], 16);
  ck_assert_int_eq(c2->wshape[1], 6);
  ck_assert_int_eq(c2->wshape[2], 5);
  ck_assert_int_eq(c2->wshape[3], 5);
  ck_assert_int_eq(c2->nweights, 2400);
  ck_assert_int_eq(c2->fan_in, 150);
  ck_assert_int_eq(f1->wshape[1], 400);
  ck_assert_int_eq(f1->fan_in, 400);
  ck_assert_int_eq(m->nparams, 150 + 2400 + 48000 + 10080 + 840);
  /* params: one tensor per weight layer, in node order, 64-byte aligned */
  ck_assert_int_eq(c1->param, 0);
  ck_assert_int_eq(f1->param, 2);
  ck_assert_int_eq(fe_node(m, "relu1")->param, -1);
  /* the params and work slabs are plan.c's (tests/codegen/memory_agree.sh) */
  /* accumulator terms */
  ck_assert_int_eq(c2->k_fwd, 150);
  ck_assert_int_eq(c2->k_bwd, 16 * 25);
  ck_assert_int_eq(c2->k_grad, 64 * 100);
  ck_assert_int_eq(f1->k_bwd, 120);
  ck_assert_int_eq(f1->k_grad, 64);
  ck_assert(!c1->acc64_fwd && !c1->acc64_bwd && !c1->acc64_grad);
}
END_TEST

START_TEST(init_rule) {
  int e, b;
  sema_init_rule(784, &e, &b);   /* sqrt(6/784) = 0.0875 = 89.6 * 2^-10 */
  ck_assert_int_eq(e, -10);
  ck_assert_int_eq(b, 89);
  sema_init_rule(25, &e, &b);    /* 25 * 4^-1 = 6.25 >= 6: c = -1 */
  ck_assert_int_eq(e, -8);
  ck_assert_int_eq(b, 125);
  sema_init_rule(24, &e, &b);    /* 24 * 4^-1 = 6 exactly: c = -1, bound 0.5 = 128 * 2^-8 -> 127 */
  ck_assert_int_eq(e, -8);
  ck_assert_int_eq(b, 127);
  sema_init_rule(23, &e, &b);    /* 23/4 < 6: c = 0; isqrt(6 * 4^7 / 23) = isqrt(4274) = 65 */
  ck_assert_int_eq(e, -7);
  ck_assert_int_eq(b, 65);
  sema_init_rule(6, &e, &b);     /* bound exactly 1: c = 0, 127 (capped from 128) */
  ck_assert_int_eq(e, -7);
  ck_assert_int_eq(b, 127);
  sema_init_rule(1, &e, &b);     /* sqrt(6) = 2.449: c = 2, isqrt(6 * 4^5) = 78 */
  ck_assert_int_eq(e, -5);
  ck_assert_int_eq(b, 78);
  sema_init_rule(2, &e, &b);     /* sqrt(3) = 1.732: c = 1, isqrt(3 * 4^6) = 110 */
  ck_assert_int_eq(e, -6);
  ck_assert_int_eq(b, 110);
  sema_init_rule(150, &e, &b);
  ck_assert_int_eq(e, -9);
  ck_assert_int_eq(b, 102);
  sema_init_rule(INT32_MAX, &e, &b); /* 2^31 * 4^-14 = 8 > 6 ... c = -14 */
  ck_assert_int_eq(e, -21);
  ck_assert_int_ge(b, 64);
  ck_assert_int_le(b, 127);
}
END_TEST

START_TEST(acc64_boundary) {
  ck_assert(!sema_needs_acc64(133144));  /* 133144 * 127^2 = 2147479576 < 2^31 */
  ck_assert(sema_needs_acc64(133145));   /* 2147495705 >= 2^31 */
  /* dense fan-in 133144 vs 133145 decides the forward accumulator */
  Model *m = fe_check("model m { input x[133144]; output y(2); dense(2) }");
  ck_assert_ptr_nonnull(m);
  ck_assert(!m->nodes[1].acc64_fwd);
  m = fe_check("model m { input x[133145]; output y(2); dense(2) }");
  ck_assert_ptr_nonnull(m);
  ck_assert(m->nodes[1].acc64_fwd);
  ck_assert(!m->nodes[1].acc64_bwd);
  /* conv gradient sums batch * OH * OW terms: 28*28*169 = 132496, *170 = 133280 */
  const char *conv = "model m { input x[1, 28, 28]; output y(10); conv(2, kernel=3, pad=1); flatten; dense(10) }";
  m = fe_check_ov(conv, 169, 0);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->recipe.batch, 169);
  ck_assert_int_eq(m->nodes[1].k_grad, 132496);
  ck_assert(!m->nodes[1].acc64_grad);
  m = fe_check_ov(conv, 170, 0);
  ck_assert(m->nodes[1].acc64_grad);
  /* conv input error sums (O/groups)*KH*KW terms */
  m = fe_check("model m { input x[4, 8, 8]; output y(2); conv(8, kernel=3, groups=2); flatten; dense(2) }");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->nodes[1].k_bwd, 4 * 9);
  ck_assert_int_eq(m->nodes[1].fan_in, 2 * 9);
  ck_assert_int_eq(m->nodes[1].wshape[1], 2);
}
END_TEST

START_TEST(recipe_defaults) {
  Model *m = fe_check("model m { input x[4]; output y(2); dense(2) }");
  ck_assert_ptr_nonnull(m);
  const Recipe *r = &m->recipe;
  ck_assert_str_eq(r->data, "data/mnist");
  ck_assert_int_eq(r->batch, 64);
  ck_assert_int_eq(r->epochs, 1);
  ck_assert_int_eq(r->seed, 1);
  ck_assert_int_eq(r->act_round, NIT_ROUND_PSEUDO);
  ck_assert_int_eq(r->err_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->grad_round, NIT_ROUND_PSEUDO);
  ck_assert_int_eq(r->nsched, 1);
  ck_assert_int_eq(r->mu[0], 3);
  ck_assert_int_eq(r->mu_from[0], 1);
  ck_assert_int_eq(r->weight_bits, 8);
  ck_assert(!r->decay);
  ck_assert_int_eq(r->holdout, 0);
}
END_TEST

START_TEST(recipe_settings_and_overrides) {
  const char *src = "model m { input x[4]; output y(2); dense(2) }\n"
                    "train {\n data \"/d/fashion\"\n batch 128\n epochs 7\n rounding act=nearest grad=stochastic\n"
                    " update bits(5) then 4 at 3 then 2 at 9\n weights bits(12)\n seed 42\n loss softmax_ce\n"
                    " decay on\n holdout 5000\n}\n";
  Model *m = fe_check(src);
  ck_assert_ptr_nonnull(m);
  const Recipe *r = &m->recipe;
  ck_assert_str_eq(r->data, "/d/fashion");
  ck_assert_int_eq(r->batch, 128);
  ck_assert_int_eq(r->epochs, 7);
  ck_assert_int_eq(r->act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->err_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->grad_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->nsched, 3);
  ck_assert_int_eq(r->mu[1], 4);
  ck_assert_int_eq(r->mu_from[1], 3);
  ck_assert_int_eq(r->mu[2], 2);
  ck_assert_int_eq(r->mu_from[2], 9);
  ck_assert_int_eq(r->weight_bits, 12);
  ck_assert_int_eq(r->seed, 42);
  ck_assert(r->decay);
  ck_assert_int_eq(r->holdout, 5000);
  m = fe_check_ov(src, 7, 8);
  ck_assert_int_eq(m->recipe.batch, 7);
  ck_assert_int_eq(m->recipe.weight_bits, 8);
  ck_assert_int_eq(m->nodes[1].k_grad, 7);
  m = fe_check("model m { input x[4]; output y(2); dense(2) }\ntrain { rounding nearest; weights int16 }");
  ck_assert_int_eq(m->recipe.act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(m->recipe.err_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(m->recipe.weight_bits, 16);
}
END_TEST


#define DEC_EQ(d, N, F)                  \
  do {                                   \
    ck_assert_uint_eq((d).n, (N));       \
    ck_assert_int_eq((d).f, (F));        \
  } while (0)

static const char tiny[] = "model m { input x[4]; output y(2); dense(2) }\n";

START_TEST(ghaffari_settings) {
  char src[1024];
  snprintf(src, sizeof src,
           "%strain {\n lr 0.1 then 0.01 at 30 then 0.001 at 60\n epochs 90\n recipe ghaffari\n momentum 0.95\n"
           " decay 0.0001\n master int32\n warmup steps(500, ratio=0.01)\n bits act=8 weight=8 grad=8\n"
           " rounding act=nearest err=pseudo grad=nearest view=pseudo update=nearest\n loss softmax_ce(exp=table)\n}\n",
           tiny);
  Model *m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  const Recipe *r = &m->recipe;
  ck_assert_int_eq(r->kind, NIT_RECIPE_GHAFFARI);
  ck_assert_int_eq(r->kind_loc.line, 5);
  ck_assert_int_eq(r->kind_loc.col, 9);
  ck_assert_int_eq(r->lr_kind, NIT_LR_PIECEWISE);
  ck_assert_int_eq(r->nlr, 3);
  DEC_EQ(r->lr[0], 1, 1);
  DEC_EQ(r->lr[1], 1, 2);
  DEC_EQ(r->lr[2], 1, 3);
  ck_assert_int_eq(r->lr_at[0], 1);
  ck_assert_int_eq(r->lr_at[1], 30);
  ck_assert_int_eq(r->lr_at[2], 60);
  DEC_EQ(r->momentum, 95, 2);
  DEC_EQ(r->wdecay, 1, 4);
  ck_assert(!r->decay);
  ck_assert_int_eq(r->master_bits, 32);
  ck_assert_int_eq(r->warmup, 500);
  DEC_EQ(r->warmup_ratio, 1, 2);
  ck_assert_int_eq(r->act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->err_round, NIT_ROUND_PSEUDO);
  ck_assert_int_eq(r->grad_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->view_round, NIT_ROUND_PSEUDO);
  ck_assert_int_eq(r->update_round, NIT_ROUND_NEAREST);
  ck_assert(r->loss_table);
  /* one rounding mode sets all five sites; integers are decimals with f = 0 */
  snprintf(src, sizeof src, "%strain { recipe ghaffari; rounding nearest; lr 2; decay off; warmup 7; momentum 0 }",
           tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  r = &m->recipe;
  ck_assert_int_eq(r->act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->err_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->grad_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->view_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->update_round, NIT_ROUND_NEAREST);
  DEC_EQ(r->lr[0], 2, 0);
  DEC_EQ(r->wdecay, 0, 0);
  DEC_EQ(r->momentum, 0, 0);
  ck_assert_int_eq(r->warmup, 7);
  DEC_EQ(r->warmup_ratio, 1, 3); /* the spec's default start ratio */
}
END_TEST

START_TEST(ghaffari_defaults_and_cosine) {
  char src[512];
  snprintf(src, sizeof src, "%strain {\n recipe ghaffari\n epochs 12\n lr cosine(0.25)\n}\n", tiny);
  Model *m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  const Recipe *r = &m->recipe;
  /* docs/recipes.md, "Recipe ghaffari": every site stochastic, table loss */
  ck_assert_int_eq(r->act_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->err_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->grad_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->view_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->update_round, NIT_ROUND_STOCHASTIC);
  ck_assert(r->loss_table);
  DEC_EQ(r->wdecay, 5, 4);
  DEC_EQ(r->momentum, 9, 1);
  ck_assert_int_eq(r->master_bits, 16);
  ck_assert_int_eq(r->warmup, 0);
  /* the cosine's period defaults to `epochs`, its floor to 0 */
  ck_assert_int_eq(r->lr_kind, NIT_LR_COSINE);
  DEC_EQ(r->lr[0], 25, 2);
  ck_assert_int_eq(r->lr_period, 12);
  DEC_EQ(r->lr_min, 0, 0);
  snprintf(src, sizeof src, "%strain { recipe ghaffari; lr cosine(1.5, period=4, min=0.000000001) }", tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.lr_period, 4);
  DEC_EQ(m->recipe.lr[0], 15, 1);
  DEC_EQ(m->recipe.lr_min, 1, 9);
  /* no lr: the constant 0.01 */
  snprintf(src, sizeof src, "%strain { recipe ghaffari }", tiny);
  m = fe_check(src);
  ck_assert_int_eq(m->recipe.nlr, 1);
  DEC_EQ(m->recipe.lr[0], 1, 2);
  ck_assert_int_eq(m->recipe.lr_kind, NIT_LR_PIECEWISE);
  /* under niti nothing of this changes: the default recipe */
  m = fe_check(tiny);
  r = &m->recipe;
  ck_assert_int_eq(r->kind, NIT_RECIPE_NITI);
  ck_assert(!r->loss_table);
  ck_assert_int_eq(r->lr_period, 0);
  DEC_EQ(r->warmup_ratio, 1, 0);
  /* either softmax under either kind of recipe, in any order of settings */
  snprintf(src, sizeof src, "%strain { loss softmax_ce(exp=table) }", tiny);
  ck_assert(fe_check(src)->recipe.loss_table);
  snprintf(src, sizeof src, "%strain { recipe ghaffari\n loss softmax_ce(exp=niti) }", tiny);
  ck_assert(!fe_check(src)->recipe.loss_table);
  snprintf(src, sizeof src, "%strain { loss softmax_ce(exp=niti)\n recipe unified }", tiny);
  ck_assert(!fe_check(src)->recipe.loss_table);
}
END_TEST

START_TEST(shiftquant_defaults_and_settings) {
  char src[1024];
  snprintf(src, sizeof src, "%strain {\n epochs 3\n recipe shiftquant\n}\n", tiny);
  Model *m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  const Recipe *r = &m->recipe;
  ck_assert_int_eq(r->kind, NIT_RECIPE_SHIFTQUANT);
  ck_assert_int_eq(r->kind_loc.line, 4);
  /* docs/recipes.md, "Recipe shiftquant", Rules: 4-bit errors, forward sites
   * nearest, the rest stochastic; ghaffari's loss, decay, momentum, masters */
  ck_assert_int_eq(r->bits_act, 8);
  ck_assert_int_eq(r->bits_weight, 8);
  ck_assert_int_eq(r->bits_grad, 4);
  ck_assert_int_eq(r->groups, NIT_GROUPS_CHANNEL);
  ck_assert(!r->groups_weight);
  ck_assert_int_eq(r->act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->view_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->err_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->grad_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->update_round, NIT_ROUND_STOCHASTIC);
  ck_assert(r->loss_table);
  DEC_EQ(r->wdecay, 5, 4);
  DEC_EQ(r->momentum, 9, 1);
  ck_assert_int_eq(r->master_bits, 16);
  ck_assert_int_eq(r->lr_kind, NIT_LR_PIECEWISE);
  DEC_EQ(r->lr[0], 1, 2);
  DEC_EQ(r->warmup_ratio, 1, 3);
  /* every setting of ghaffari, and bits and groups */
  snprintf(src, sizeof src,
           "%strain {\n recipe shiftquant\n lr cosine(0.1, period=10)\n warmup 50\n momentum 0.8\n decay off\n"
           " master int32\n bits act=4 weight=4\n groups sample\n rounding act=stochastic view=pseudo\n"
           " loss softmax_ce(exp=table)\n}\n",
           tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  r = &m->recipe;
  ck_assert_int_eq(r->lr_kind, NIT_LR_COSINE);
  ck_assert_int_eq(r->lr_period, 10);
  ck_assert_int_eq(r->warmup, 50);
  DEC_EQ(r->momentum, 8, 1);
  DEC_EQ(r->wdecay, 0, 0);
  ck_assert_int_eq(r->master_bits, 32);
  ck_assert_int_eq(r->bits_act, 4);
  ck_assert_int_eq(r->bits_weight, 4);
  ck_assert_int_eq(r->bits_grad, 4); /* the recipe's, not set */
  ck_assert_int_eq(r->groups, NIT_GROUPS_SAMPLE);
  ck_assert_int_eq(r->act_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->view_round, NIT_ROUND_PSEUDO);
  ck_assert_int_eq(r->err_round, NIT_ROUND_STOCHASTIC);
  ck_assert(r->loss_table);
  snprintf(src, sizeof src, "%strain { recipe shiftquant; groups tensor; bits grad=2 }", tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.groups, NIT_GROUPS_TENSOR);
  ck_assert_int_eq(m->recipe.bits_grad, 2);
  ck_assert(!m->recipe.groups_weight);
  /* weight views by output channel, with or without an error grouping */
  snprintf(src, sizeof src, "%strain { recipe shiftquant; groups sample weight=channel; bits weight=4 }", tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.groups, NIT_GROUPS_SAMPLE);
  ck_assert(m->recipe.groups_weight);
  snprintf(src, sizeof src, "%strain { recipe shiftquant; groups weight=channel }", tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.groups, NIT_GROUPS_CHANNEL);
  ck_assert(m->recipe.groups_weight);
  /* bits under ghaffari: any width, the default 8 8 8 */
  snprintf(src, sizeof src, "%strain { recipe ghaffari; bits weight=6 grad=5 }", tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.bits_act, 8);
  ck_assert_int_eq(m->recipe.bits_weight, 6);
  ck_assert_int_eq(m->recipe.bits_grad, 5);
  ck_assert_str_eq(fe_messages(), ""); /* 8-bit activations: no warning */
  /* activations below 6 bits without normalization layers: valid, with a
   * warning at the bits setting; with a normalization layer, none */
  snprintf(src, sizeof src, "%strain { recipe ghaffari; bits act=5 }", tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_ptr_nonnull(strstr(fe_messages(), "t.nit:2:26: warning: 5-bit activations without normalization layers "
                                              "may not train"));
  ck_assert_int_eq(diag_errors(), 0);
  m = fe_check("model m { input x[4]; output y(2); dense(3); batchnorm; dense(2) }\n"
               "train { recipe shiftquant; bits act=4 weight=4 grad=4 }");
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_str_eq(fe_messages(), "");
  m = fe_check("model m { input x[4]; output y(2); dense(2) }\ntrain { recipe shiftquant; bits act=6 }");
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_str_eq(fe_messages(), "");
  snprintf(src, sizeof src, "%strain { recipe ghaffari }", tiny);
  m = fe_check(src);
  ck_assert_int_eq(m->recipe.bits_grad, 8);
  ck_assert_int_eq(m->recipe.act_round, NIT_ROUND_STOCHASTIC);
  /* niti: 8 bits everywhere */
  m = fe_check(tiny);
  ck_assert_int_eq(m->recipe.bits_act, 8);
  ck_assert_int_eq(m->recipe.bits_weight, 8);
  ck_assert_int_eq(m->recipe.bits_grad, 8);
  /* --recipe shiftquant: its defaults, over a file without a train block and
   * over a ghaffari file (whose settings stay); --grad-bits over bits grad= */
  m = fe_check_with(tiny, (SemaOverrides){.recipe = 1 + NIT_RECIPE_SHIFTQUANT});
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.kind, NIT_RECIPE_SHIFTQUANT);
  ck_assert_int_eq(m->recipe.bits_grad, 4);
  ck_assert_int_eq(m->recipe.act_round, NIT_ROUND_NEAREST);
  ck_assert(m->recipe.loss_table);
  snprintf(src, sizeof src, "%strain { recipe ghaffari; lr 0.5; rounding err=nearest }", tiny);
  m = fe_check_with(src, (SemaOverrides){.recipe = 1 + NIT_RECIPE_SHIFTQUANT});
  ck_assert_msg(m != NULL, "%s", fe_messages());
  DEC_EQ(m->recipe.lr[0], 5, 1);
  ck_assert_int_eq(m->recipe.err_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(m->recipe.view_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(m->recipe.bits_grad, 4);
  snprintf(src, sizeof src, "%strain { recipe shiftquant; bits grad=3 }", tiny);
  m = fe_check_with(src, (SemaOverrides){.grad_bits = 6});
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.bits_grad, 6);
  m = fe_check_with(tiny, (SemaOverrides){.recipe = 1 + NIT_RECIPE_GHAFFARI, .grad_bits = 2});
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.bits_grad, 2);
  ck_assert_ptr_null(fe_check_with(tiny, (SemaOverrides){.grad_bits = 4}));
  ck_assert_str_eq(diag_last(),
                   "--grad-bits sets the error width of recipes ghaffari, shiftquant and unified; recipe niti uses 8 bits "
                   "everywhere");
  snprintf(src, sizeof src, "%strain { recipe shiftquant; groups sample }", tiny);
  ck_assert_ptr_null(fe_check_with(src, (SemaOverrides){.recipe = 1 + NIT_RECIPE_GHAFFARI}));
  ck_assert_str_eq(diag_last(),
                   "'groups' is a setting of recipe shiftquant; recipe ghaffari (--recipe) quantizes errors per tensor");
}
END_TEST

/* recipe unified: its defaults (docs/recipes.md, "The unified recipe"), the
 * clip and lrscale settings, and the same settings refused elsewhere */
START_TEST(unified_defaults_and_settings) {
  char src[1024];
  snprintf(src, sizeof src, "%strain {\n recipe unified\n}\n", tiny);
  Model *m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  const Recipe *r = &m->recipe;
  ck_assert_int_eq(r->kind, NIT_RECIPE_UNIFIED);
  ck_assert_int_eq(r->bits_act, 8);
  ck_assert_int_eq(r->bits_weight, 8);
  ck_assert_int_eq(r->bits_grad, 8);
  ck_assert_int_eq(r->act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->view_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(r->err_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->grad_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(r->update_round, NIT_ROUND_STOCHASTIC);
  ck_assert(r->loss_table);
  ck_assert(r->clip);
  ck_assert_int_eq(r->clip_every, 100);
  ck_assert_int_eq(r->clip_range, 4);
  ck_assert_int_eq(r->clip_grid, NIT_GRID_EIGHTH);
  ck_assert(r->lrscale);
  DEC_EQ(r->lrs_alpha, 20, 0);
  DEC_EQ(r->lrs_beta, 1, 1);
  /* every argument, and the ones left out keep their defaults */
  snprintf(src, sizeof src, "%strain { recipe unified; clip cosine(grid=octave, every=1); lrscale exp(beta=0.25) }",
           tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  r = &m->recipe;
  ck_assert_int_eq(r->clip_every, 1);
  ck_assert_int_eq(r->clip_range, 4);
  ck_assert_int_eq(r->clip_grid, NIT_GRID_OCTAVE);
  DEC_EQ(r->lrs_alpha, 20, 0);
  DEC_EQ(r->lrs_beta, 25, 2);
  snprintf(src, sizeof src, "%strain { recipe unified; clip cosine(range=8); lrscale exp(alpha=1000, beta=1) }",
           tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.clip_range, 8);
  DEC_EQ(m->recipe.lrs_alpha, 1000, 0);
  DEC_EQ(m->recipe.lrs_beta, 1, 0);
  snprintf(src, sizeof src, "%strain { recipe unified; clip off; lrscale off; bits grad=4 }", tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert(!m->recipe.clip);
  ck_assert(!m->recipe.lrscale);
  ck_assert_int_eq(m->recipe.bits_grad, 4);
  snprintf(src, sizeof src, "%strain { recipe unified; clip cosine; lrscale exp }", tiny);
  m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert(m->recipe.clip && m->recipe.lrscale);
  /* --recipe unified: its defaults over a file without a train block */
  m = fe_check_with(tiny, (SemaOverrides){.recipe = 1 + NIT_RECIPE_UNIFIED});
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.kind, NIT_RECIPE_UNIFIED);
  ck_assert(m->recipe.clip);
  /* the errors */
  static const struct {
    const char *body, *msg;
  } bad[] = {
      {"clip off", "'clip' is a setting of recipe unified; recipe niti does not clip errors"},
      {"recipe shiftquant; lrscale off",
       "'lrscale' is a setting of recipe unified; recipe shiftquant uses one learning rate for every layer"},
      {"recipe unified; clip cosine(every=0)", "the clip period (steps) must be in 1..2147483647 (got 0)"},
      {"recipe unified; clip cosine(range=0)", "the clip range (octaves) must be in 1..8 (got 0)"},
      {"recipe unified; clip cosine(grid=fine)", "unknown clip grid 'fine' (expected eighth or octave)"},
      {"recipe unified; clip cosine(4)", "cosine takes its arguments by name (every, range and grid), found an integer"},
      {"recipe unified; clip cosine(every=2, every=3)", "argument 'every' is given twice"},
      {"recipe unified; clip mse", "unknown clip setting 'mse' (expected off or cosine(every=P, range=R, grid=G))"},
      {"recipe unified; clip 3", "expected off or cosine(every=P, range=R, grid=G), found an integer"},
      {"recipe unified; lrscale exp(alpha=1001)", "alpha must be in (0, 1000] (got 1001)"},
      {"recipe unified; lrscale exp(beta=0)", "beta must be in (0, 1] (got 0)"},
      {"recipe unified; lrscale exp(gamma=1)", "exp has no argument 'gamma'; its arguments are: alpha and beta"},
      {"recipe unified; lrscale on", "unknown lrscale setting 'on' (expected off or exp(alpha=A, beta=B))"},
      {"recipe unified; groups sample", "'groups' is a setting of recipe shiftquant; recipe unified quantizes errors per tensor"},
      {"recipe unified; update bits(3)", "'update' sets NITI's update bits; recipe unified uses 'lr'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(src, sizeof src, "%strain { %s }", tiny, bad[i].body);
    ck_assert_msg(fe_check(src) == NULL, "accepted: %s", bad[i].body);
    ck_assert_str_eq(diag_last(), bad[i].msg);
  }
}
END_TEST

START_TEST(recipe_override) {
  char src[512];
  /* --recipe ghaffari on a file without a train block, and over recipe niti */
  Model *m = fe_check_with(tiny, (SemaOverrides){.recipe = 1 + NIT_RECIPE_GHAFFARI, .master_bits = 32});
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.kind, NIT_RECIPE_GHAFFARI);
  ck_assert(m->recipe.loss_table);
  ck_assert_int_eq(m->recipe.act_round, NIT_ROUND_STOCHASTIC);
  ck_assert_int_eq(m->recipe.master_bits, 32);
  snprintf(src, sizeof src, "%strain { recipe niti; master int16; lr 0.5; rounding act=nearest }", tiny);
  ck_assert_ptr_null(fe_check(src));
  m = fe_check_with(src, (SemaOverrides){.recipe = 1 + NIT_RECIPE_GHAFFARI, .master_bits = 32});
  ck_assert_msg(m != NULL, "%s", fe_messages());
  ck_assert_int_eq(m->recipe.master_bits, 32);
  DEC_EQ(m->recipe.lr[0], 5, 1);
  ck_assert_int_eq(m->recipe.act_round, NIT_ROUND_NEAREST);
  ck_assert_int_eq(m->recipe.err_round, NIT_ROUND_STOCHASTIC);
  /* --recipe niti over a ghaffari file: its settings are errors */
  snprintf(src, sizeof src, "%strain { recipe ghaffari; lr 0.5 }", tiny);
  ck_assert_ptr_null(fe_check_with(src, (SemaOverrides){.recipe = 1 + NIT_RECIPE_NITI}));
  ck_assert_str_eq(diag_last(), "'lr' is a setting of recipes ghaffari, shiftquant and unified; recipe niti (--recipe) uses 'update'");
  /* the widths of the other recipe */
  ck_assert_ptr_null(fe_check_with(tiny, (SemaOverrides){.master_bits = 16}));
  ck_assert_str_eq(diag_last(), "--master-bits sets the masters of recipes ghaffari, shiftquant and unified; recipe niti uses --weight-bits");
  ck_assert_ptr_null(fe_check_with(tiny, (SemaOverrides){.recipe = 1 + NIT_RECIPE_GHAFFARI, .weight_bits = 12}));
  ck_assert_str_eq(diag_last(),
                   "--weight-bits sets NITI's weight accumulation bits; recipe ghaffari uses --master-bits");
}
END_TEST

START_TEST(train_setting_errors) {
  static const struct { const char *train, *msg; } cases[] = {
      {"recipe ghaffari; update bits(3)", "'update' sets NITI's update bits; recipe ghaffari uses 'lr'"},
      {"weights int16; recipe ghaffari",
       "'weights' sets NITI's weight accumulation bits; recipe ghaffari uses 'master'"},
      {"lr 0.1", "'lr' is a setting of recipes ghaffari, shiftquant and unified; recipe niti uses 'update'"},
      {"warmup 10", "'warmup' is a setting of recipes ghaffari, shiftquant and unified; recipe niti has no learning rate to warm up"},
      {"momentum 0.9", "'momentum' is a setting of recipes ghaffari, shiftquant and unified; recipe niti has no momentum"},
      {"master int16", "'master' is a setting of recipes ghaffari, shiftquant and unified; recipe niti uses 'weights'"},
      {"bits act=8", "'bits' is a setting of recipes ghaffari, shiftquant and unified; recipe niti uses 8 bits everywhere"},
      {"rounding update=pseudo", "'rounding update=' is a setting of recipes ghaffari, shiftquant and unified; recipe niti has no masters"},
      {"recipe ghaffari; decay on",
       "'decay on' is NITI's integer weight decay, valid only under recipe niti; recipe ghaffari takes a decimal, e.g. "
       "decay 0.0005"},
      {"decay 0.001", "'decay DECIMAL' is the weight decay of recipes ghaffari, shiftquant and unified; recipe niti takes decay on or off"},
      {"loss softmax_ce(exp=taylor)", "unknown softmax exponential 'taylor' (expected niti or table)"},
      {"loss softmax_ce(base=2)", "softmax_ce takes one argument, exp=table or exp=niti"},
      {"recipe sgd", "unknown recipe 'sgd' (expected niti, ghaffari, shiftquant or unified)"},
      {"recipe shiftquant; update bits(3)", "'update' sets NITI's update bits; recipe shiftquant uses 'lr'"},
      {"recipe shiftquant; weights int8",
       "'weights' sets NITI's weight accumulation bits; recipe shiftquant uses 'master'"},
      {"recipe shiftquant; decay on",
       "'decay on' is NITI's integer weight decay, valid only under recipe niti; recipe shiftquant takes a decimal, "
       "e.g. decay 0.0005"},
      {"groups channel", "'groups' is a setting of recipe shiftquant; recipe niti quantizes errors per tensor"},
      {"recipe ghaffari; groups channel",
       "'groups' is a setting of recipe shiftquant; recipe ghaffari quantizes errors per tensor"},
      {"recipe shiftquant; groups rows", "unknown grouping 'rows' (expected channel, sample or tensor)"},
      {"recipe shiftquant; groups 3", "expected grouping (channel, sample or tensor), found an integer"},
      {"recipe shiftquant; groups channel sample", "'groups' takes one grouping, e.g. groups channel"},
      {"recipe shiftquant; groups", "'groups' needs a grouping, e.g. groups channel"},
      {"recipe shiftquant; groups weight=channel weight=channel", "'weight' is set twice"},
      {"recipe shiftquant; groups tensor weight=sample", "unknown weight grouping 'sample' (expected channel)"},
      {"recipe shiftquant; groups act=channel", "unknown groups target 'act' (expected weight=)"},
      {"recipe shiftquant; bits grad=1", "the width must be in 2..8 (got 1)"},
      {"recipe shiftquant; bits grad=9", "the width must be in 2..8 (got 9)"},
      {"recipe shiftquant; bits grad=4 grad=4", "'grad' is set twice"},
      {"recipe shiftquant; rounding vew=pseudo",
       "unknown rounding target 'vew' (expected act, err, grad, view or update)"},
      {"recipe ghaffari; lr 0", "the learning rate must be in (0, 1000] (got 0)"},
      {"recipe ghaffari; lr 1000.000000001", "the learning rate must be in (0, 1000] (got 1000.000000001)"},
      {"recipe ghaffari; lr -1", "the learning rate must be in (0, 1000] (got a negative number)"},
      {"recipe ghaffari; lr 999999999999999999", "the learning rate must be in (0, 1000] (got 999999999999999999)"},
      {"recipe ghaffari; lr 1000000000000000000",
       "the learning rate has too many digits (at most 18, 9 of them after the point)"},
      {"recipe ghaffari; lr 0.1 then 0.01 at 1",
       "epochs in the learning-rate schedule must increase (1 is not after 1)"},
      {"recipe ghaffari; lr 0.1 then 0.01 at 5 then 0.001 at 5",
       "epochs in the learning-rate schedule must increase (5 is not after 5)"},
      {"recipe ghaffari; lr 1 then 2 at 2 then 3 at 3 then 4 at 4 then 5 at 5 then 6 at 6 then 7 at 7 then 8 at 8 "
       "then 9 at 9",
       "the learning-rate schedule has at most 8 entries"},
      {"recipe ghaffari; lr 0.1 then 0.01", "expected 'then RATE at EPOCH', e.g. then 0.01 at 30"},
      {"recipe ghaffari; lr cosine(0.1, min=0.1)", "the cosine minimum (0.1) must be below the base rate (0.1)"},
      {"recipe ghaffari; lr cosine(0.1, period=0)", "the cosine period (epochs) must be in 1..1000000 (got 0)"},
      {"recipe ghaffari; lr cosine(period=3)", "cosine needs the base rate, e.g. cosine(0.1, period=10, min=0.001)"},
      {"recipe ghaffari; lr cosine(0.1, rate=3)",
       "cosine has no argument 'rate'; its arguments are: the base rate, period, min"},
      {"recipe ghaffari; lr step(0.1)", "unknown learning-rate schedule 'step' (expected a number or cosine(...))"},
      {"recipe ghaffari; warmup steps(10, ratio=1.5)", "the warmup ratio must be in (0, 1] (got 1.5)"},
      {"recipe ghaffari; warmup 0", "warmup steps must be in 1..2147483647 (got 0)"},
      {"recipe ghaffari; momentum 1.0", "momentum must be in [0, 1) (got 1.0)"},
      {"recipe ghaffari; decay 1", "decay must be in [0, 1) (got 1)"},
      {"recipe ghaffari; master int8", "unknown master width 'int8' (expected int16 or int32)"},
      {"recipe ghaffari; bits grad=1", "the width must be in 2..8 (got 1)"},
      {"recipe ghaffari; bits act=9", "the width must be in 2..8 (got 9)"},
      {"recipe ghaffari; bits 8", "expected act=, weight= or grad=, found an integer"},
      {"recipe ghaffari; rounding vew=pseudo",
       "unknown rounding target 'vew' (expected act, err, grad, view or update)"},
      {"rounding vew=pseudo", "unknown rounding target 'vew' (expected act, err or grad)"},
      {"recipe ghaffari; loss softmax_ce(exp=float)", "unknown softmax exponential 'float' (expected niti or table)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char src[1024];
    snprintf(src, sizeof src, "%strain { %s }", tiny, cases[i].train);
    ck_assert_msg(fe_check(src) == NULL, "case %zu should fail", i);
    ck_assert_msg(strcmp(diag_last(), cases[i].msg) == 0, "case %zu: got '%s'", i, diag_last());
    ck_assert_msg(diag_errors() == 1, "case %zu: %d errors: %s", i, diag_errors(), fe_messages());
  }
}
END_TEST

START_TEST(norm_layers) {
  const char *src = "model m {\n input x[3, 8, 8]\n output y(10)\n conv c(4, kernel=3, pad=1)\n batchnorm bn\n"
                    " l1norm l1(eps=0.001, momentum=0, k=2)\n relu\n flatten\n dense f(32)\n layernorm ln(eps=1)\n"
                    " l1layernorm l1l(k=0.5)\n dense g(10)\n}\ntrain { recipe ghaffari }\n";
  Model *m = fe_check(src);
  ck_assert_msg(m != NULL, "%s", fe_messages());
  const Node *c = fe_node(m, "c"), *bn = fe_node(m, "bn"), *l1 = fe_node(m, "l1"), *f = fe_node(m, "f");
  const Node *ln = fe_node(m, "ln"), *l1l = fe_node(m, "l1l"), *g = fe_node(m, "g");
  ck_assert_int_eq(bn->op, OP_BATCHNORM);
  ck_assert_int_eq(l1->op, OP_L1NORM);
  ck_assert_int_eq(ln->op, OP_LAYERNORM);
  ck_assert_int_eq(l1l->op, OP_L1LAYERNORM);
  SHAPE(bn, 4, 8, 8);
  SHAPE(ln, 32, 1, 1);
  /* defaults: eps 0.00001, momentum 0.1, k 0 = sqrt(pi/2) */
  DEC_EQ(bn->eps, 1, 5);
  DEC_EQ(bn->nmom, 1, 1);
  DEC_EQ(bn->nk, 0, 0);
  DEC_EQ(l1->eps, 1, 3);
  DEC_EQ(l1->nmom, 0, 0);
  DEC_EQ(l1->nk, 2, 0);
  DEC_EQ(ln->eps, 1, 0);
  DEC_EQ(l1l->eps, 1, 5);
  DEC_EQ(l1l->nk, 5, 1);
  /* parameters in node order: weights one tensor, a norm two (gamma, beta) of C */
  ck_assert_int_eq(c->param, 0);
  ck_assert_int_eq(bn->param, 1);
  ck_assert_int_eq(l1->param, 3);
  ck_assert_int_eq(f->param, 5);
  ck_assert_int_eq(ln->param, 6);
  ck_assert_int_eq(l1l->param, 8);
  ck_assert_int_eq(g->param, 10);
  ck_assert_int_eq(m->nptensors, 11);
  ck_assert_int_eq(bn->nweights, 0);
  ck_assert_int_eq(m->nparams, 108 + 2 * 4 + 2 * 4 + 256 * 32 + 2 * 32 + 2 * 32 + 320);
  /* the group: batch*H*W per channel, C*H*W per sample */
  ck_assert_int_eq(sema_norm_group(bn, 64), 64 * 64);
  ck_assert_int_eq(sema_norm_group(ln, 64), 32);
  /* at the limit and one over: 2^20 = 16 * 256 * 256 */
  const char *big = "model m { input x[16, 256, 256]; output y(2); layernorm; flatten; dense(2) }\n"
                    "train { recipe ghaffari; batch 1 }";
  ck_assert_msg(fe_check(big) != NULL, "%s", fe_messages());
  ck_assert_msg(fe_check_ov(big, 65536, 0) != NULL, "%s", fe_messages()); /* per sample: the batch does not count */
  const char *over = "model m { input x[1, 1024, 1024]; output y(2); batchnorm; flatten; dense(2) }\n"
                     "train { recipe ghaffari; batch 1 }";
  ck_assert_msg(fe_check(over) != NULL, "%s", fe_messages());
  ck_assert_ptr_null(fe_check_ov(over, 2, 0));
  ck_assert_str_eq(diag_last(),
                   "batchnorm group has 2097152 elements (batch 2 x 1024 x 1024), at most 1048576; lower --batch");
  ck_assert_ptr_null(fe_check("model m { input x[17, 256, 256]; output y(2); l1layernorm; flatten; dense(2) }\n"
                              "train { recipe ghaffari; batch 1 }"));
  ck_assert_str_eq(diag_last(), "l1layernorm group has 1114112 elements (17 x 256 x 256 per sample), at most 1048576");
  /* --recipe ghaffari lets a file without a train block use them */
  ck_assert_ptr_nonnull(fe_check_with("model m { input x[4]; output y(2); batchnorm; dense(2) }",
                                      (SemaOverrides){.recipe = 1 + NIT_RECIPE_GHAFFARI}));
}
END_TEST

START_TEST(graph_and_names) {
  Model *m = fe_check("model r {\n input x[2, 8, 8]\n output y(10)\n"
                      " let a = relu(conv c(x, 2, kernel=3, pad=1))\n let b = relu(x + a)\n"
                      " avgpool(8)\n dense(10)\n}");
  ck_assert_ptr_nonnull(m);
  /* x, c, relu(a), add, relu(b), avgpool, dense */
  ck_assert_int_eq(m->nnodes, 7);
  const Node *add = &m->nodes[3];
  ck_assert_int_eq(add->op, OP_ADD);
  ck_assert_int_eq(add->nin, 2);
  ck_assert_int_eq(add->in[0], 0);
  ck_assert_int_eq(add->in[1], 2);
  ck_assert_str_eq(add->name, "add1");
  ck_assert_str_eq(m->nodes[2].name, "a");
  ck_assert_str_eq(m->nodes[1].name, "c");
  ck_assert_str_eq(m->nodes[4].name, "b");
  SHAPE(&m->nodes[5], 2, 1, 1);
  ck_assert_int_eq(m->nodes[5].k_fwd, 64);
  /* dense flattens implicitly */
  ck_assert_int_eq(m->nodes[6].fan_in, 2);
  /* automatic names skip names the user took */
  m = fe_check("model m { input x[4]; output y(2); dense relu1(4); relu; dense(2) }");
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m->nodes[2].name, "relu2");
  ck_assert_str_eq(m->nodes[3].name, "dense1");
}
END_TEST

START_TEST(layer_arguments) {
  Model *m = fe_check("model m { input x[3, 32, 32]; output y(10)\n"
                      " conv2d(8, kernel=3, stride=2, pad=1)\n maxpool(3, stride=2, pad=1)\n"
                      " avgpool(kernel=2)\n dropout(0.25)\n dense(units=10) }");
  ck_assert_ptr_nonnull(m);
  SHAPE(&m->nodes[1], 8, 16, 16);  /* (32 + 2 - 3) / 2 + 1 */
  SHAPE(&m->nodes[2], 8, 8, 8);    /* (16 + 2 - 3) / 2 + 1 */
  SHAPE(&m->nodes[3], 8, 4, 4);
  ck_assert_int_eq(m->nodes[2].sh, 2);
  ck_assert_int_eq(m->nodes[3].sh, 2);  /* stride defaults to the window */
  ck_assert_int_eq(m->nodes[4].drop256, 64);
  m = fe_check("model m { input x[4]; output y(4); dropout(0.5); dropout(0.001); dropout(0.998); dense(4) }");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->nodes[1].drop256, 128);
  ck_assert_int_eq(m->nodes[2].drop256, 0);    /* 0.256 rounds to 0 */
  ck_assert_int_eq(m->nodes[3].drop256, 255);  /* 255.49 rounds to 255 */
}
END_TEST

START_TEST(errors_are_reported) {
  static const struct { const char *src, *msg; } cases[] = {
      {"model m { input x[4]; output y(2); dense(2); }\ntrain { batch 65537 }", "batch must be in 1..65536 (got 65537)"},
      {"model m { input x[4]; output y(2); dense(2) }\ntrain { update bits(3) then 2 at 1 }",
       "epochs in the update schedule must increase (1 is not after 1)"},
      {"model m { input x[4]; output y(2); dense(2) }\ntrain { update 1 then 2 at 2 then 3 at 3 then 4 at 4 then 5 at "
       "5 then 6 at 6 then 7 at 7 then 8 at 8 then 1 at 9 }",
       "the update schedule has at most 8 entries"},
      {"model m { input x[65536, 65536, 1]; output y(2); dense(2) }",
       "the output of this 'input' has too many elements per sample (the limit is 2147483647)"},
      {"model m { input x[65536]; output y(2); dense(65536); dense(2) }",
       "this 'dense' has too many weights (the limit is 2147483647 per layer)"},
      {"model m { input x[4]; output y(2); flatten; dense(2); let z = relu(q) }", "unknown name 'q'"},
      {"model m { input x[4]; output y(2); let a = relu(x) + relu(x); dense(2) }", NULL},
      /* normalization layers need a recipe with a learning rate */
      {"model m { input x[4]; output y(2); batchnorm; dense(2) }",
       "batchnorm needs a recipe with a learning rate: ghaffari, shiftquant or unified"},
      {"model m { input x[4]; output y(2); let a = l1norm(x); dense(2) }",
       "l1norm needs a recipe with a learning rate: ghaffari, shiftquant or unified"},
      {"model m { input x[4]; output y(2); layernorm; dense(2) }\ntrain { recipe niti }",
       "layernorm needs a recipe with a learning rate: ghaffari, shiftquant or unified"},
      {"model m { input x[4]; output y(2); l1layernorm; dense(2) }\ntrain { recipe ghaffari }", NULL},
      {"model m { input x[4]; output y(2); l1norm; layernorm; dense(2) }\ntrain { recipe shiftquant }", NULL},
      /* the loss is defined for at most 8191 classes */
      {"model m { input x[4]; output y(8191); dense(8191) }", NULL},
      {"model m { input x[4]; output y(8192); dense(8192) }",
       "too many classes (got 8192; the integer softmax loss is defined for at most 8191)"},
      /* the values of one step are bounded (SEMA_MAX_STEP_ELEMS = 2^40) */
      {"model m { input x[1, 32768, 32768]; output y(2); avgpool(32768); dense(2) }\ntrain { batch 1023 }", NULL},
      {"model m { input x[1, 32768, 32768]; output y(2); avgpool(32768); dense(2) }\ntrain { batch 1024 }",
       "this model is too large: its values hold 1099511630848 elements per training step at batch 1024 (the limit "
       "is 1099511627776)"},
      {"model m { input x[4]; output y(1073741824); dense(2) }",
       "too many classes (got 1073741824; the integer softmax loss is defined for at most 8191)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Model *m = fe_check(cases[i].src);
    if (!cases[i].msg) {
      ck_assert_msg(m != NULL, "case %zu: %s", i, fe_messages());
      continue;
    }
    ck_assert_msg(m == NULL, "case %zu should fail", i);
    ck_assert_msg(strcmp(diag_last(), cases[i].msg) == 0, "case %zu: got '%s'", i, diag_last());
  }
}
END_TEST

START_TEST(expression_depth_limit) {
  size_t depth = 400;
  char *buf = malloc(depth * 8 + 128);
  strcpy(buf, "model m { input x[4]; output y(4)\n let a = ");
  for (size_t i = 0; i < depth; i++)
    strcat(buf, "relu(");
  strcat(buf, "x");
  for (size_t i = 0; i < depth; i++)
    strcat(buf, ")");
  strcat(buf, "\n}");
  ck_assert_ptr_null(fe_check(buf));
  ck_assert_str_eq(diag_last(), "expression nested too deeply (the limit is 256 levels)");
  ck_assert_int_eq(diag_errors(), 1);
  free(buf);
}
END_TEST

START_TEST(many_errors_are_capped) {
  /* 5000 bad layers: 20 shown, then the "too many errors" line */
  size_t n = 5000;
  char *buf = malloc(n * 16 + 64);
  strcpy(buf, "model m { input x[4]; output y(2)\n");
  for (size_t i = 0; i < n; i++)
    strcat(buf, "dense(2 2)\n");
  strcat(buf, "}\n");
  ck_assert_ptr_null(fe_check(buf));
  ck_assert(diag_stopped());
  const char *m = fe_messages();
  int shown = 0;
  for (const char *p = m; (p = strstr(p, ": error: ")); p++)
    shown++;
  ck_assert_int_eq(shown, DIAG_MAX_ERRORS);
  ck_assert_ptr_nonnull(strstr(m, "nitc: too many errors (20 shown), stopping\n"));
  free(buf);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sema");
  TCase *tc = tcase_create("sema");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, lenet5_shapes_and_params);
  tcase_add_test(tc, init_rule);
  tcase_add_test(tc, acc64_boundary);
  tcase_add_test(tc, recipe_defaults);
  tcase_add_test(tc, recipe_settings_and_overrides);
  tcase_add_test(tc, ghaffari_settings);
  tcase_add_test(tc, ghaffari_defaults_and_cosine);
  tcase_add_test(tc, shiftquant_defaults_and_settings);
  tcase_add_test(tc, unified_defaults_and_settings);
  tcase_add_test(tc, recipe_override);
  tcase_add_test(tc, train_setting_errors);
  tcase_add_test(tc, norm_layers);
  tcase_add_test(tc, graph_and_names);
  tcase_add_test(tc, layer_arguments);
  tcase_add_test(tc, errors_are_reported);
  tcase_add_test(tc, expression_depth_limit);
  tcase_add_test(tc, many_errors_are_capped);
  suite_add_tcase(s, tc);
  return fe_run(s);
}
