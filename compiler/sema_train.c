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
  return r;
}

/* ------------------------------------------------------------ the settings */

typedef void SettingFn(Sema *s, const Ast *st);
static SettingFn set_data, set_batch, set_epochs, set_rounding, set_update, set_weights, set_seed, set_loss, set_decay,
    set_holdout;

static const struct Setting {
  const char *name;
  SettingFn *fn;
  const char *example;
} settings[] = {
    {"data", set_data, "data idx(\"data/mnist\")"},
    {"batch", set_batch, "batch 64"},
    {"epochs", set_epochs, "epochs 10"},
    {"rounding", set_rounding, "rounding pseudo"},
    {"update", set_update, "update bits(3) then 2 at 5"},
    {"weights", set_weights, "weights int8"},
    {"seed", set_seed, "seed 1"},
    {"loss", set_loss, "loss softmax_ce"},
    {"decay", set_decay, "decay off"},
    {"holdout", set_holdout, "holdout 5000"},
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

static void set_rounding(Sema *s, const Ast *st) {
  if (!st->kids) {
    sema_error(s, st->loc, "'rounding' needs a mode, e.g. rounding pseudo or rounding act=pseudo err=stochastic");
    return;
  }
  int mode;
  if (st->kids->kind != ND_KWARG) {
    if (!one_word(s, st) || !choice(s, st->kids, "rounding mode", nit_round_names, NIT_ROUND_COUNT, &mode)) return;
    s->r.act_round = s->r.err_round = s->r.grad_round = mode;
    return;
  }
  static const char *const targets[] = {"act", "err", "grad"};
  const Ast *seen[3] = {0};
  for (const Ast *w = st->kids; w; w = w->next) {
    if (w->kind != ND_KWARG) {
      sema_error(s, w->loc, "expected act=, err= or grad=, found %s", sema_what_is(w));
      continue;
    }
    int t;
    Ast key = *w;
    key.kind = ND_REF;
    key.loc = w->name_loc;
    if (!choice(s, &key, "rounding target", targets, 3, &t)) continue;
    if (seen[t]) {
      sema_error(s, w->loc, "'%s' is set twice", targets[t]);
      diag_note(seen[t]->loc, "first set here");
      continue;
    }
    seen[t] = w;
    if (!choice(s, w->lhs, "rounding mode", nit_round_names, NIT_ROUND_COUNT, &mode)) continue;
    if (t == 0) s->r.act_round = mode;
    else if (t == 1) s->r.err_round = mode;
    else s->r.grad_round = mode;
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

static void set_loss(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  static const char *const losses[] = {"softmax_ce"};
  int v;
  if (w) choice(s, w, "loss", losses, 1, &v);
}

static void set_decay(Sema *s, const Ast *st) {
  const Ast *w = one_word(s, st);
  static const char *const onoff[] = {"off", "on"};
  int v;
  if (w && choice(s, w, "decay setting", onoff, 2, &v)) s->r.decay = v == 1;
}

/* ------------------------------------------------------------ the block */

void sema_train(Sema *s, const Ast *train) {
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
    set->fn(s, st);
  }
}
