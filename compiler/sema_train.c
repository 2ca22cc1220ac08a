/*
 * sema_train.c: the train block, the recipe a model is trained with.
 *
 * Each setting is one row of the table below: a name, the function that
 * checks its words and writes them into the Recipe, and an example shown when
 * the words are wrong. Settings may come in any order, each at most once;
 * every setting is checked even after an error (they are independent), so
 * one run reports every bad setting. Defaults live in sema_default_recipe;
 * the command line's overrides are applied by the driver (sema.c) after the
 * block, before anything is derived from the recipe.
 *
 * The recipe (docs/recipes.md) decides what the other settings mean, so the
 * `recipe` setting is read first wherever it is written, then the recipe's
 * defaults are applied (sema_recipe_defaults), then the settings in order.
 * Each row says under which recipes it is valid; using it under another
 * recipe is an error naming the recipe that has the setting.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "nitc.h"

/* The defaults of docs/language.md, "The train block". */
Recipe sema_default_recipe(void) {
  Recipe r = {0};
  r.data = "data/mnist";
  r.batch = 64;
  r.epochs = 1;
  r.seed = 1;
  r.act_round = NIT_ROUND_PSEUDO;
  r.err_round = NIT_ROUND_STOCHASTIC;
  r.grad_round = NIT_ROUND_PSEUDO;
  r.nsched = 1;
  r.mu[0] = 3;
  r.mu_from[0] = 1;
  r.weight_bits = 8;
  r.bits_act = r.bits_weight = r.bits_grad = 8;
  r.groups = NIT_GROUPS_CHANNEL;
  /* settings of the recipes with masters; recipe-dependent defaults (the
   * rounding modes, the loss, decay) are applied once the recipe is known */
  r.kind = NIT_RECIPE_NITI;
  r.master_bits = 16;
  r.view_round = r.update_round = NIT_ROUND_STOCHASTIC;
  r.lr_kind = NIT_LR_PIECEWISE;
  r.nlr = 1;
  r.lr[0] = (Dec){1, 2}; /* 0.01 */
  r.lr_at[0] = 1;
  r.warmup_ratio = (Dec){1, 0};
  r.momentum = (Dec){9, 1};   /* 0.9 */
  r.wdecay = (Dec){5, 4};     /* 0.0005 */
  /* unified's clip and learning-rate scaling (docs/recipes.md, "The unified
   * recipe"): the paper's settings */
  r.clip = true;
  r.clip_every = 100;
  r.clip_range = 4;
  r.clip_grid = NIT_GRID_EIGHTH;
  r.lrscale = true;
  r.lrs_alpha = (Dec){20, 0};
  r.lrs_beta = (Dec){1, 1}; /* 0.1 */
  return r;
}

/* The defaults that depend on the recipe, applied to a default recipe once
 * its kind is known and before any setting: niti's are sema_default_recipe's
 * (unchanged, so every niti model stays as it was); ghaffari's are
 * docs/recipes.md, "The ghaffari recipe": every rounding stochastic, the table
 * softmax loss, coupled decay 0.0005, and the warmup's start ratio 0.001
 * ("Learning-rate schedules"). shiftquant's ("The shiftquant recipe") are
 * ghaffari's but for 4-bit errors (bits grad=4; act and weight stay 8), the
 * forward sites act and view rounding to nearest, and channel groups.
 * unified's ("The unified recipe") are ghaffari's with act and view rounding
 * to nearest; its clip-level quantizer is always stochastic, and the sites
 * that are not clipped round errors with the err mode (stochastic). */
void sema_recipe_defaults(Recipe *r) {
  if (r->kind == NIT_RECIPE_NITI) return;
  r->act_round = r->err_round = r->grad_round = NIT_ROUND_STOCHASTIC;
  r->view_round = r->update_round = NIT_ROUND_STOCHASTIC;
  r->loss_table = true;
  r->wdecay = (Dec){5, 4};
  r->warmup_ratio = (Dec){1, 3};
  r->bits_act = r->bits_weight = r->bits_grad = 8;
  r->groups = NIT_GROUPS_CHANNEL;
  if (r->kind == NIT_RECIPE_SHIFTQUANT) {
    r->bits_grad = 4;
    r->act_round = r->view_round = NIT_ROUND_NEAREST;
  }
  if (r->kind == NIT_RECIPE_UNIFIED) r->act_round = r->view_round = NIT_ROUND_NEAREST;
}

/* ------------------------------------------------------------ the settings */

typedef void SettingFn(Sema *s, const Ast *st);
static SettingFn set_data, set_batch, set_epochs, set_rounding, set_update, set_weights, set_seed, set_loss, set_decay,
    set_holdout, set_recipe, set_lr, set_warmup, set_momentum, set_master, set_bits, set_groups, set_clip, set_lrscale;

/* recipes under which a setting is valid; R_MASTERS: the recipes with masters
 * (a learning rate, momentum, coupled decay, views) */
enum {
  R_NITI = 1 << NIT_RECIPE_NITI,
  R_GHAFFARI = 1 << NIT_RECIPE_GHAFFARI,
  R_SHIFTQUANT = 1 << NIT_RECIPE_SHIFTQUANT,
  R_UNIFIED = 1 << NIT_RECIPE_UNIFIED,
  R_MASTERS = R_GHAFFARI | R_SHIFTQUANT | R_UNIFIED,
  R_ALL = R_NITI | R_MASTERS,
};

static const struct Setting {
  const char *name;
  SettingFn *fn;
  const char *example;
  unsigned recipes;
  /* under another recipe: "'NAME' <what>; recipe R <instead>"; a setting
   * that niti lacks names the recipes that have it after <what> */
  const char *what, *instead;
} settings[] = {
    {"data", set_data, "data idx(\"data/mnist\")", R_ALL, NULL, NULL},
    {"batch", set_batch, "batch 64", R_ALL, NULL, NULL},
    {"epochs", set_epochs, "epochs 10", R_ALL, NULL, NULL},
    {"rounding", set_rounding, "rounding pseudo", R_ALL, NULL, NULL},
    {"update", set_update, "update bits(3) then 2 at 5", R_NITI, "sets NITI's update bits", "uses 'lr'"},
    {"weights", set_weights, "weights int8", R_NITI, "sets NITI's weight accumulation bits", "uses 'master'"},
    {"seed", set_seed, "seed 1", R_ALL, NULL, NULL},
    {"loss", set_loss, "loss softmax_ce", R_ALL, NULL, NULL},
    {"decay", set_decay, "decay off", R_ALL, NULL, NULL},
    {"holdout", set_holdout, "holdout 5000", R_ALL, NULL, NULL},
    {"recipe", set_recipe, "recipe ghaffari", R_ALL, NULL, NULL},
    {"lr", set_lr, "lr 0.1 then 0.01 at 30", R_MASTERS, "is a setting of", "uses 'update'"},
    {"warmup", set_warmup, "warmup 500", R_MASTERS, "is a setting of", "has no learning rate to warm up"},
    {"momentum", set_momentum, "momentum 0.9", R_MASTERS, "is a setting of", "has no momentum"},
    {"master", set_master, "master int16", R_MASTERS, "is a setting of", "uses 'weights'"},
    {"bits", set_bits, "bits act=8 weight=8 grad=4", R_MASTERS, "is a setting of", "uses 8 bits everywhere"},
    {"groups", set_groups, "groups channel", R_SHIFTQUANT, "is a setting of", "quantizes errors per tensor"},
    {"clip", set_clip, "clip cosine(every=100, range=4, grid=eighth)", R_UNIFIED, "is a setting of",
     "does not clip errors"},
    {"lrscale", set_lrscale, "lrscale exp(alpha=20, beta=0.1)", R_UNIFIED, "is a setting of",
     "uses one learning rate for every layer"},
};
enum { NSETTINGS = sizeof settings / sizeof settings[0] };

static const struct Setting *setting_of(const Ast *st) {
  for (int i = 0; i < NSETTINGS; i++)
    if (strcmp(settings[i].name, st->name) == 0) return &settings[i];
  return NULL;
}

/* The single word of a one-value setting, or NULL after an error. */
static const Ast *one_word(Sema *s, const Ast *st) {
  if (!st->kids || st->kids->next) {
    sema_error(s, st->kids ? st->kids->next->loc : st->loc, "'%s' takes one value, e.g. %s", st->name,
               setting_of(st)->example);
    return NULL;
  }
  return st->kids;
}

static bool int_in(Sema *s, const Ast *w, const char *what, int64_t lo, int64_t hi, int64_t *out) {
  if (w->kind != ND_INT) {
    sema_error(s, w->loc, "%s must be an integer, found %s", what, sema_what_is(w));
    return false;
  }
  if (w->ival < lo || w->ival > hi) {
    char range[64];
    snprintf(range, sizeof range, "%" PRId64 "..%" PRId64, lo, hi);
    sema_error(s, w->loc, "%s must be in %s (got %s)", what, mem_strdup(range), sema_num(w->ival));
    return false;
  }
  *out = w->ival;
  return true;
}

static bool is_word(const Ast *w, const char *name) { return w && w->kind == ND_REF && strcmp(w->name, name) == 0; }

static void set_data(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w) return;
  const Ast *str = w;
  if (w->kind == ND_CALL) {
    if (strcmp(w->name, "idx") != 0) {
      sema_error(s, w->name_loc, "unknown data format '%s' (the only format is idx)", diag_quote(w->name));
      return;
    }
    str = w->kids;
    if (!str || str->next || str->kind != ND_STR) {
      sema_error(s, w->loc, "idx takes one string, the data directory, e.g. idx(\"data/mnist\")");
      return;
    }
  } else if (w->kind != ND_STR) {
    sema_error(s, w->loc, "data expects a directory, e.g. data idx(\"data/mnist\"), found %s", sema_what_is(w));
    return;
  }
  if (!str->str[0]) {
    sema_error(s, str->loc, "the data directory is empty");
    return;
  }
  s->r.data = str->str;
  s->r.data_loc = str->loc;
}

static void set_batch(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int64_t v;
  if (w && int_in(s, w, "batch", 1, SEMA_MAX_BATCH, &v)) s->r.batch = (int)v;
}

static void set_epochs(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int64_t v;
  if (w && int_in(s, w, "epochs", 1, 1000000, &v)) s->r.epochs = (int)v;
}

static void set_seed(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int64_t v;
  if (w && int_in(s, w, "seed", 0, INT64_MAX, &v)) s->r.seed = (uint64_t)v;
}

static void set_holdout(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int64_t v;
  if (w && int_in(s, w, "holdout", 0, INT32_MAX, &v)) s->r.holdout = (int)v;
}

static bool choice(Sema *s, const Ast *w, const char *what, const char *const *names, int n, int *out) {
  if (w->kind == ND_REF)
    for (int i = 0; i < n; i++)
      if (strcmp(w->name, names[i]) == 0) {
        *out = i;
        return true;
      }
  char list[128] = "";
  for (int i = 0; i < n; i++) {
    strcat(list, names[i]);
    if (i + 2 < n) strcat(list, ", ");
    else if (i + 2 == n) strcat(list, " or ");
  }
  if (w->kind == ND_REF) sema_error(s, w->loc, "unknown %s '%s' (expected %s)", what, diag_quote(w->name), list);
  else sema_error(s, w->loc, "expected %s (%s), found %s", what, list, sema_what_is(w));
  return false;
}

/* "recipe ghaffari", "recipes ghaffari and shiftquant": the recipes of a
 * mask of R_* bits, for the messages that name the recipes of a setting */
static const char *recipes_of(unsigned mask) {
  char list[128] = "";
  int n = 0, k = 0;
  for (int i = 0; i < NIT_RECIPE_COUNT; i++) n += (mask >> i) & 1u;
  strcat(list, n == 1 ? "recipe " : "recipes ");
  for (int i = 0; i < NIT_RECIPE_COUNT; i++) {
    if (!((mask >> i) & 1u)) continue;
    strcat(list, nit_recipe_names[i]);
    k++;
    if (k + 1 < n) strcat(list, ", ");
    else if (k + 1 == n) strcat(list, " and ");
  }
  return mem_strdup(list);
}

/* "<what> <the recipes of mask>", in arena memory */
static const char *of_recipes(const char *what, unsigned mask) {
  const char *list = recipes_of(mask);
  char buf[256];
  snprintf(buf, sizeof buf, "%s %s", what, list);
  return mem_strdup(buf);
}

/* The error for a setting (or a part of one) used under a recipe that does
 * not have it, with a note at the `recipe` setting when there is one. After
 * a bad `recipe` word the recipe is unknown: say nothing. */
static void wrong_recipe(Sema *s, Loc at, const char *name, const char *what, const char *instead) {
  if (s->recipe_bad) {
    s->failed = true;
    return;
  }
  sema_error(s, at, "'%s' %s; recipe %s%s %s", name, what, nit_recipe_names[s->r.kind],
             s->ov_recipe >= 0 ? " (--recipe)" : "", instead);
  if (s->recipe_w && s->ov_recipe < 0) diag_note(s->recipe_w->loc, "the recipe is chosen here");
}

static bool has_masters(const Sema *s) { return s->r.kind != NIT_RECIPE_NITI; }

/* rounding M | rounding act=M err=M grad=M [view=M update=M]; one mode sets
 * every site of the recipe (view and update only under recipes with masters) */
static void set_rounding(Sema *s, const Ast *st) {
  bool masters = has_masters(s);
  if (!st->kids) {
    sema_error(s, st->loc, "'rounding' needs a mode, e.g. rounding pseudo or rounding act=pseudo err=stochastic");
    return;
  }
  int mode;
  if (st->kids->kind != ND_KWARG) {
    if (!one_word(s, st) || !choice(s, st->kids, "rounding mode", nit_round_names, NIT_ROUND_COUNT, &mode)) return;
    s->r.act_round = s->r.err_round = s->r.grad_round = mode;
    if (masters) s->r.view_round = s->r.update_round = mode;
    return;
  }
  static const char *const targets[] = {"act", "err", "grad", "view", "update"};
  int ntargets = masters ? 5 : 3;
  const Ast *seen[5] = {0};
  for (const Ast *w = st->kids; w; w = w->next) {
    if (w->kind != ND_KWARG) {
      const char *keys = masters ? "act=, err=, grad=, view= or update=" : "act=, err= or grad=";
      sema_error(s, w->loc, "expected %s, found %s", keys, sema_what_is(w));
      continue;
    }
    if (!masters && (strcmp(w->name, "view") == 0 || strcmp(w->name, "update") == 0)) {
      const char *name = strcmp(w->name, "view") == 0 ? "rounding view=" : "rounding update=";
      wrong_recipe(s, w->name_loc, name, of_recipes("is a setting of", R_MASTERS), "has no masters");
      continue;
    }
    int t;
    Ast key = *w;
    key.kind = ND_REF;
    key.loc = w->name_loc;
    if (!choice(s, &key, "rounding target", targets, ntargets, &t)) continue;
    if (seen[t]) {
      sema_error(s, w->loc, "'%s' is set twice", targets[t]);
      diag_note(seen[t]->loc, "first set here");
      continue;
    }
    seen[t] = w;
    if (!choice(s, w->lhs, "rounding mode", nit_round_names, NIT_ROUND_COUNT, &mode)) continue;
    int *site[] = {&s->r.act_round, &s->r.err_round, &s->r.grad_round, &s->r.view_round, &s->r.update_round};
    *site[t] = mode;
  }
}

/* update bits(3) then 2 at 5 then 1 at 9 */
static bool mu_word(Sema *s, const Ast *w, int64_t *mu) {
  if (w->kind == ND_CALL && strcmp(w->name, "bits") == 0) {
    if (!w->kids || w->kids->next) {
      sema_error(s, w->loc, "bits takes one integer, e.g. bits(3)");
      return false;
    }
    w = w->kids;
  }
  return int_in(s, w, "update bits", NIT_MU_MIN, NIT_MU_MAX, mu);
}

static void set_update(Sema *s, const Ast *st) {
  const Ast *w = st->kids;
  if (!w) {
    sema_error(s, st->loc, "'update' needs the update bits, e.g. update bits(3) then 2 at 5");
    return;
  }
  int64_t mu, at;
  if (!mu_word(s, w, &mu)) return;
  Recipe *r = &s->r;
  r->nsched = 1;
  r->mu[0] = (int)mu;
  r->mu_from[0] = 1;
  for (w = w->next; w; w = w->next) {
    if (!is_word(w, "then")) {
      sema_error(s, w->loc, "expected 'then' in the update schedule, found %s", sema_what_is(w));
      return;
    }
    const Ast *b = w->next, *a = b ? b->next : NULL, *e = a ? a->next : NULL;
    if (!b || !a || !e || !is_word(a, "at")) {
      sema_error(s, (a && !is_word(a, "at")) ? a->loc : (b ? b->loc : w->loc),
                 "expected 'then BITS at EPOCH', e.g. then 2 at 5");
      return;
    }
    if (!mu_word(s, b, &mu) || !int_in(s, e, "epoch", 1, 1000000, &at)) return;
    if (at <= r->mu_from[r->nsched - 1]) {
      sema_error(s, e->loc, "epochs in the update schedule must increase (%s is not after %s)", sema_num(at),
                 sema_num(r->mu_from[r->nsched - 1]));
      return;
    }
    if (r->nsched == NIT_MAX_SCHED) {
      sema_error(s, w->loc, "the update schedule has at most %s entries", sema_num(NIT_MAX_SCHED));
      return;
    }
    r->mu[r->nsched] = (int)mu;
    r->mu_from[r->nsched] = (int)at;
    r->nsched++;
    w = e;
  }
}

static void set_weights(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w) return;
  int64_t a;
  if (is_word(w, "int8")) s->r.weight_bits = 8;
  else if (is_word(w, "int16")) s->r.weight_bits = 16;
  else if (w->kind == ND_CALL && strcmp(w->name, "bits") == 0) {
    if (!w->kids || w->kids->next) sema_error(s, w->loc, "bits takes one integer, e.g. bits(12)");
    else if (int_in(s, w->kids, "weight bits", 8, 16, &a)) s->r.weight_bits = (int)a;
  } else if (w->kind == ND_REF)
    sema_error(s, w->loc, "unknown weights '%s' (expected int8, int16 or bits(A) with A in 8..16)",
               diag_quote(w->name));
  else sema_error(s, w->loc, "expected int8, int16 or bits(A) with A in 8..16, found %s", sema_what_is(w));
}

/* loss softmax_ce | softmax_ce(exp=table) | softmax_ce(exp=niti): the
 * exponential of the softmax (docs/recipes.md, "Loss"); plain softmax_ce is
 * the recipe's (niti's under niti, the table otherwise) */
static void set_loss(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w) return;
  int v;
  if (w->kind == ND_CALL && strcmp(w->name, "softmax_ce") == 0) {
    const Ast *a = w->kids;
    if (!a || a->next || a->kind != ND_KWARG || strcmp(a->name, "exp") != 0) {
      sema_error(s, a && a->kind == ND_KWARG && !a->next ? a->name_loc : w->loc,
                 "softmax_ce takes one argument, exp=table or exp=niti");
      return;
    }
    static const char *const exps[] = {"niti", "table"};
    if (!choice(s, a->lhs, "softmax exponential", exps, 2, &v)) return;
    /* any of the two under any recipe (docs/recipes.md, "Loss"): off its own
     * recipe the row's e32 goes through the recipe's EQ at LOSS */
    s->r.loss_table = v == 1;
    return;
  }
  static const char *const losses[] = {"softmax_ce"};
  choice(s, w, "loss", losses, 1, &v);
}

/* niti: decay off | on (NITI's integer weight decay); recipes with masters:
 * decay DECIMAL | off (coupled weight decay in [0, 1)) */
static void set_decay(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w) return;
  static const char *const onoff[] = {"off", "on"};
  int v;
  if (!has_masters(s)) {
    if (w->kind == ND_INT || w->kind == ND_DEC)
      wrong_recipe(s, w->loc, "decay DECIMAL", of_recipes("is the weight decay of", R_MASTERS),
                   "takes decay on or off");
    else if (choice(s, w, "decay setting", onoff, 2, &v)) s->r.decay = v == 1;
    return;
  }
  if (is_word(w, "on"))
    wrong_recipe(s, w->loc, "decay on", "is NITI's integer weight decay, valid only under recipe niti",
                 "takes a decimal, e.g. decay 0.0005");
  else if (is_word(w, "off")) s->r.wdecay = (Dec){0, 0};
  else if (w->kind == ND_REF)
    sema_error(s, w->loc, "unknown decay setting '%s' (expected off or a decimal, e.g. decay 0.0005)",
               diag_quote(w->name));
  else sema_dec(s, w, "decay", (Dec){0, 0}, false, (Dec){1, 0}, true, &s->r.wdecay);
}

/* recipe niti | ghaffari | shiftquant | unified */
static void set_recipe(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  int k;
  s->recipe_bad = true;
  if (!w) return;
  if (!choice(s, w, "recipe", nit_recipe_names, NIT_RECIPE_COUNT, &k)) return;
  s->recipe_bad = false;
  s->recipe_w = w;
  s->r.kind = k;
}

/* A learning rate: docs/recipes.md, "Learning-rate schedules" keeps eta at
 * most 1000. */
static bool lr_value(Sema *s, const Ast *w, const char *what, Dec *out) {
  return sema_dec(s, w, what, (Dec){0, 0}, true, (Dec){1000, 0}, false, out);
}

/* cosine(BASE, period=EPOCHS, min=DECIMAL) */
static void lr_cosine(Sema *s, const Ast *c) {
  if (strcmp(c->name, "cosine") != 0) {
    sema_error(s, c->name_loc, "unknown learning-rate schedule '%s' (expected a number or cosine(...))",
               diag_quote(c->name));
    return;
  }
  const Ast *base = NULL, *period = NULL, *min = NULL;
  bool ok = true;
  for (const Ast *a = c->kids; a; a = a->next) {
    if (a->kind != ND_KWARG) {
      if (base) {
        sema_error(s, a->loc, "cosine takes one positional argument, the base rate; give period= and min= by name");
        ok = false;
      } else base = a;
      continue;
    }
    const Ast **slot = strcmp(a->name, "period") == 0 ? &period : strcmp(a->name, "min") == 0 ? &min : NULL;
    if (!slot) {
      sema_error(s, a->name_loc, "cosine has no argument '%s'; its arguments are: the base rate, period, min",
                 diag_quote(a->name));
      ok = false;
    } else if (*slot) {
      sema_error(s, a->loc, "argument '%s' is given twice", a->name);
      diag_note((*slot)->loc, "first given here");
      ok = false;
    } else *slot = a;
  }
  if (!base) {
    if (ok) sema_error(s, c->loc, "cosine needs the base rate, e.g. cosine(0.1, period=10, min=0.001)");
    return;
  }
  Dec b, mn = {0, 0};
  int64_t per = 0;
  if (!lr_value(s, base, "the learning rate", &b)) ok = false;
  if (period && !int_in(s, period->lhs, "the cosine period (epochs)", 1, 1000000, &per)) ok = false;
  if (min && !sema_dec(s, min->lhs, "the cosine minimum", (Dec){0, 0}, false, (Dec){1000, 0}, false, &mn)) ok = false;
  if (ok && sema_dec_cmp(mn, b) >= 0) {
    sema_error(s, min->lhs->loc, "the cosine minimum (%s) must be below the base rate (%s)", sema_dec_str(mn),
               sema_dec_str(b));
    ok = false;
  }
  if (!ok) return;
  Recipe *r = &s->r;
  r->lr_kind = NIT_LR_COSINE;
  r->nlr = 1;
  r->lr[0] = b;
  r->lr_at[0] = 1;
  r->lr_min = mn;
  r->lr_period = (int)per; /* 0: `epochs`, known after the block */
}

/* lr DECIMAL then DECIMAL at EPOCH ... | lr cosine(...) */
static void set_lr(Sema *s, const Ast *st) {
  const Ast *w = st->kids;
  if (!w) {
    sema_error(s, st->loc, "'lr' needs a learning rate, e.g. lr 0.1 then 0.01 at 30 or lr cosine(0.1, period=10)");
    return;
  }
  if (w->kind == ND_CALL) {
    if (w->next) sema_error(s, w->next->loc, "nothing may follow a cosine schedule");
    else lr_cosine(s, w);
    return;
  }
  Dec v;
  int64_t at;
  if (!lr_value(s, w, "the learning rate", &v)) return;
  Recipe *r = &s->r;
  r->lr_kind = NIT_LR_PIECEWISE;
  r->nlr = 1;
  r->lr[0] = v;
  r->lr_at[0] = 1;
  for (w = w->next; w; w = w->next) {
    if (!is_word(w, "then")) {
      sema_error(s, w->loc, "expected 'then' in the learning-rate schedule, found %s", sema_what_is(w));
      return;
    }
    const Ast *b = w->next, *a = b ? b->next : NULL, *e = a ? a->next : NULL;
    if (!b || !a || !e || !is_word(a, "at")) {
      sema_error(s, (a && !is_word(a, "at")) ? a->loc : (b ? b->loc : w->loc),
                 "expected 'then RATE at EPOCH', e.g. then 0.01 at 30");
      return;
    }
    if (!lr_value(s, b, "the learning rate", &v) || !int_in(s, e, "epoch", 1, 1000000, &at)) return;
    if (at <= r->lr_at[r->nlr - 1]) {
      sema_error(s, e->loc, "epochs in the learning-rate schedule must increase (%s is not after %s)", sema_num(at),
                 sema_num(r->lr_at[r->nlr - 1]));
      return;
    }
    if (r->nlr == NIT_MAX_SCHED) {
      sema_error(s, w->loc, "the learning-rate schedule has at most %s entries", sema_num(NIT_MAX_SCHED));
      return;
    }
    r->lr[r->nlr] = v;
    r->lr_at[r->nlr] = (int)at;
    r->nlr++;
    w = e;
  }
}

/* warmup STEPS | warmup steps(STEPS, ratio=DECIMAL) */
static void set_warmup(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w) return;
  int64_t n;
  Dec ratio = s->r.warmup_ratio;
  if (w->kind == ND_CALL) {
    const Ast *a = w->kids;
    if (strcmp(w->name, "steps") != 0 || !a || a->kind == ND_KWARG ||
        (a->next && (a->next->kind != ND_KWARG || strcmp(a->next->name, "ratio") != 0 || a->next->next))) {
      sema_error(s, w->loc, "expected warmup STEPS or warmup steps(STEPS, ratio=R), e.g. steps(500, ratio=0.01)");
      return;
    }
    bool ok = int_in(s, a, "warmup steps", 1, INT32_MAX, &n);
    if (a->next && !sema_dec(s, a->next->lhs, "the warmup ratio", (Dec){0, 0}, true, (Dec){1, 0}, false, &ratio))
      ok = false;
    if (!ok) return;
  } else if (!int_in(s, w, "warmup steps", 1, INT32_MAX, &n)) return;
  s->r.warmup = n;
  s->r.warmup_ratio = ratio;
}

static void set_momentum(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (w) sema_dec(s, w, "momentum", (Dec){0, 0}, false, (Dec){1, 0}, true, &s->r.momentum);
}

static void set_master(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  static const char *const widths[] = {"int16", "int32"};
  int v;
  if (w && choice(s, w, "master width", widths, 2, &v)) s->r.master_bits = v ? 32 : 16;
}

/* bits act=B weight=B grad=B, any of them, B in 2..8: the widths of the
 * activations, the weights' views and the errors (docs/recipes.md, "Recipe
 * shiftquant"); the others keep the recipe's */
static void set_bits(Sema *s, const Ast *st) {
  if (!st->kids) {
    sema_error(s, st->loc, "'bits' needs widths, e.g. bits act=8 weight=8 grad=4");
    return;
  }
  static const char *const targets[] = {"act", "weight", "grad"};
  const Ast *seen[3] = {0};
  s->r.bits_loc = st->loc;
  for (const Ast *w = st->kids; w; w = w->next) {
    if (w->kind != ND_KWARG) {
      sema_error(s, w->loc, "expected act=, weight= or grad=, found %s", sema_what_is(w));
      continue;
    }
    int t;
    int64_t b;
    Ast key = *w;
    key.kind = ND_REF;
    key.loc = w->name_loc;
    if (!choice(s, &key, "bits target", targets, 3, &t)) continue;
    if (seen[t]) {
      sema_error(s, w->loc, "'%s' is set twice", targets[t]);
      diag_note(seen[t]->loc, "first set here");
      continue;
    }
    seen[t] = w;
    if (!int_in(s, w->lhs, "the width", 2, 8, &b)) continue;
    int *width[] = {&s->r.bits_act, &s->r.bits_weight, &s->r.bits_grad};
    *width[t] = (int)b;
  }
}

/* groups channel | sample | tensor [weight=channel]: the groups of
 * shiftquant's error quantizer; `weight=channel` makes the weights' views
 * by the same construction with the output channels as groups */
static void set_groups(Sema *s, const Ast *st) {
  if (!st->kids) {
    sema_error(s, st->loc, "'groups' needs a grouping, e.g. groups channel");
    return;
  }
  const Ast *g = NULL, *wt = NULL;
  int v;
  for (const Ast *w = st->kids; w; w = w->next) {
    if (w->kind == ND_KWARG) {
      if (strcmp(w->name, "weight") != 0) {
        sema_error(s, w->name_loc, "unknown groups target '%s' (expected weight=)", diag_quote(w->name));
        continue;
      }
      if (wt) {
        sema_error(s, w->loc, "'weight' is set twice");
        diag_note(wt->loc, "first set here");
        continue;
      }
      wt = w;
      static const char *const weight_groups[] = {"channel"};
      if (choice(s, w->lhs, "weight grouping", weight_groups, 1, &v)) s->r.groups_weight = true;
      continue;
    }
    if (g) {
      sema_error(s, w->loc, "'groups' takes one grouping, e.g. groups channel");
      continue;
    }
    g = w;
    if (choice(s, w, "grouping", nit_groups_names, NIT_GROUPS_COUNT, &v)) s->r.groups = v;
  }
}

/* The keyword arguments of a call setting such as clip cosine(every=100):
 * each a name of names[0..n), at most once; no positional argument. Fills
 * args[i] with the argument named names[i] (or NULL). False after an error. */
static bool kwargs(Sema *s, const Ast *call, const char *const *names, int n, const Ast **args) {
  bool ok = true;
  for (int i = 0; i < n; i++) args[i] = NULL;
  for (const Ast *a = call->kids; a; a = a->next) {
    char list[128] = "";
    for (int i = 0; i < n; i++) {
      strcat(list, names[i]);
      if (i + 2 < n) strcat(list, ", ");
      else if (i + 2 == n) strcat(list, " and ");
    }
    if (a->kind != ND_KWARG) {
      sema_error(s, a->loc, "%s takes its arguments by name (%s), found %s", call->name, list, sema_what_is(a));
      ok = false;
      continue;
    }
    int i = 0;
    while (i < n && strcmp(a->name, names[i]) != 0) i++;
    if (i == n) {
      sema_error(s, a->name_loc, "%s has no argument '%s'; its arguments are: %s", call->name, diag_quote(a->name),
                 list);
      ok = false;
    } else if (args[i]) {
      sema_error(s, a->loc, "argument '%s' is given twice", a->name);
      diag_note(args[i]->loc, "first given here");
      ok = false;
    } else args[i] = a;
  }
  return ok;
}

/* clip cosine(every=P, range=R, grid=eighth|octave) | clip cosine | clip
 * off: unified's direction-sensitive clipping of the errors; the arguments
 * not given keep their defaults */
static void set_clip(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w) return;
  if (is_word(w, "off")) {
    s->r.clip = false;
    return;
  }
  if (is_word(w, "cosine")) {
    s->r.clip = true;
    return;
  }
  if (w->kind != ND_CALL) {
    if (w->kind == ND_REF)
      sema_error(s, w->loc, "unknown clip setting '%s' (expected off or cosine(every=P, range=R, grid=G))",
                 diag_quote(w->name));
    else sema_error(s, w->loc, "expected off or cosine(every=P, range=R, grid=G), found %s", sema_what_is(w));
    return;
  }
  if (strcmp(w->name, "cosine") != 0) {
    sema_error(s, w->name_loc, "unknown clip setting '%s' (expected off or cosine(every=P, range=R, grid=G))",
               diag_quote(w->name));
    return;
  }
  static const char *const names[] = {"every", "range", "grid"};
  const Ast *a[3];
  bool ok = kwargs(s, w, names, 3, a); /* the arguments found are checked even so */
  int64_t every = s->r.clip_every, range = s->r.clip_range;
  int grid = s->r.clip_grid;
  if (a[0] && !int_in(s, a[0]->lhs, "the clip period (steps)", 1, INT32_MAX, &every)) ok = false;
  if (a[1] && !int_in(s, a[1]->lhs, "the clip range (octaves)", 1, 8, &range)) ok = false;
  if (a[2] && !choice(s, a[2]->lhs, "clip grid", nit_grid_names, NIT_GRID_COUNT, &grid)) ok = false;
  if (!ok) return;
  s->r.clip = true;
  s->r.clip_every = every;
  s->r.clip_range = (int)range;
  s->r.clip_grid = grid;
}

/* lrscale exp(alpha=A, beta=B) | lrscale exp | lrscale off: unified's
 * per-layer learning-rate factor max(exp(-alpha d_c), beta) */
static void set_lrscale(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  if (!w) return;
  if (is_word(w, "off")) {
    s->r.lrscale = false;
    return;
  }
  if (is_word(w, "exp")) {
    s->r.lrscale = true;
    return;
  }
  if (w->kind != ND_CALL || strcmp(w->name, "exp") != 0) {
    Loc at = w->kind == ND_CALL ? w->name_loc : w->loc;
    if (w->kind == ND_REF || w->kind == ND_CALL)
      sema_error(s, at, "unknown lrscale setting '%s' (expected off or exp(alpha=A, beta=B))", diag_quote(w->name));
    else sema_error(s, at, "expected off or exp(alpha=A, beta=B), found %s", sema_what_is(w));
    return;
  }
  static const char *const names[] = {"alpha", "beta"};
  const Ast *a[2];
  bool ok = kwargs(s, w, names, 2, a); /* the arguments found are checked even so */
  Dec alpha = s->r.lrs_alpha, beta = s->r.lrs_beta;
  if (a[0] && !sema_dec(s, a[0]->lhs, "alpha", (Dec){0, 0}, true, (Dec){1000, 0}, false, &alpha)) ok = false;
  if (a[1] && !sema_dec(s, a[1]->lhs, "beta", (Dec){0, 0}, true, (Dec){1, 0}, false, &beta)) ok = false;
  if (!ok) return;
  s->r.lrscale = true;
  s->r.lrs_alpha = alpha;
  s->r.lrs_beta = beta;
}

/* ------------------------------------------------------------ the block */

void sema_train(Sema *s, const Ast *train) {
  s->train = train;
  for (const Ast *st = train->kids; st; st = st->next)
    if (strcmp(st->name, "recipe") == 0) {
      set_recipe(s, st);
      break;
    }
  if (s->ov_recipe >= 0) {
    s->r.kind = s->ov_recipe;
    s->recipe_bad = false;
  }
  s->r.kind_loc = s->recipe_w ? s->recipe_w->loc : train->loc;
  sema_recipe_defaults(&s->r);

  const Ast *seen[NSETTINGS] = {0};
  for (const Ast *st = train->kids; st; st = st->next) {
    const struct Setting *set = setting_of(st);
    if (!set) {
      const char *guess = NULL;
      for (int i = 0; i < NSETTINGS && !guess; i++)
        if (sema_close_to(st->name, settings[i].name)) guess = settings[i].name;
      if (guess)
        sema_error(s, st->name_loc, "unknown train setting '%s' (did you mean '%s'?)", diag_quote(st->name), guess);
      else {
        char list[256] = "";
        for (int i = 0; i < NSETTINGS; i++) {
          strcat(list, settings[i].name);
          if (i + 1 < NSETTINGS) strcat(list, ", ");
        }
        sema_error(s, st->name_loc, "unknown train setting '%s'; the settings are: %s", diag_quote(st->name), list);
      }
      continue;
    }
    int i = (int)(set - settings);
    if (seen[i]) {
      sema_error(s, st->name_loc, "'%s' is set twice", set->name);
      diag_note(seen[i]->name_loc, "first set here");
      continue;
    }
    seen[i] = st;
    if (set->fn == set_recipe) continue; /* read above */
    if (!(set->recipes & (1u << s->r.kind))) {
      const char *what = set->recipes & R_NITI ? set->what : of_recipes(set->what, set->recipes);
      wrong_recipe(s, st->name_loc, set->name, what, set->instead);
      continue;
    }
    set->fn(s, st);
  }
  if (s->r.lr_kind == NIT_LR_COSINE && s->r.lr_period == 0) s->r.lr_period = s->r.epochs;
}
