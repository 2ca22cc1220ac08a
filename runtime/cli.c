/*
 * cli.c: the training executable's command line.
 *
 *   PROG train [flags]   PROG eval [flags]   PROG predict [flags]
 *   PROG export [flags]  PROG info  PROG inspect CKPT  PROG help | --help
 *   PROG --version
 *
 * Flags are `--name VALUE` or `--name=VALUE`. Each flag belongs to the
 * subcommands listed in its table row; anything else (unknown flag, a flag of
 * another subcommand, a missing value, a malformed number) is one error line
 * and exit status 1. Recipe flags record themselves in Options.set so that
 * train can tell "given" from "default" when it merges the model's recipe, a
 * checkpoint's recipe and the command line. A mistyped command or flag
 * gets a "did you mean" when one name is close (nitrt_close_to).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

enum {
  F_DATA,
  F_EPOCHS,
  F_BATCH,
  F_SEED,
  F_SAVE,
  F_SAVE_INIT,
  F_RESUME,
  F_LOG,
  F_THREADS,
  F_ROUNDING,
  F_ROUND_ACT,
  F_ROUND_ERR,
  F_ROUND_GRAD,
  F_UPDATE_BITS,
  F_DECAY,
  F_HOLDOUT,
  F_LIMIT,
  F_TEST_LIMIT,
  F_QUIET,
  F_LOAD,
  F_IDX,
  F_RAW,
  F_CSV,
  F_INDEX,
  F_COUNT,
  F_PER_SAMPLE,
  F_LR,
  F_MOMENTUM,
  F_LOGITS,
  F_OUT,
  F_VERIFY,
  F_PER_CLASS,
  F_JSON,
  F_SAVE_BEST,
  F_PROGRESS,
  F_SAVE_EVERY,
  F_TELEMETRY,
  F_MAX_STEPS,
};

#define T (1u << CMD_TRAIN)
#define E (1u << CMD_EVAL)
#define P (1u << CMD_PREDICT)
#define X (1u << CMD_EXPORT)
#define I (1u << CMD_INFO)
#define N (1u << CMD_INSPECT)

static const struct Flag {
  const char *name;
  int id;
  bool arg;      /* takes a value */
  unsigned cmds; /* subcommands accepting it */
} FLAGS[] = {
    {"data", F_DATA, true, T | E},
    {"epochs", F_EPOCHS, true, T},
    {"batch", F_BATCH, true, T | E | P},
    {"seed", F_SEED, true, T},
    {"save", F_SAVE, true, T},
    {"save-init", F_SAVE_INIT, true, T},
    {"resume", F_RESUME, true, T},
    {"log", F_LOG, true, T},
    {"threads", F_THREADS, true, T | E | P},
    {"rounding", F_ROUNDING, true, T},
    {"round-act", F_ROUND_ACT, true, T},
    {"round-err", F_ROUND_ERR, true, T},
    {"round-grad", F_ROUND_GRAD, true, T},
    {"update-bits", F_UPDATE_BITS, true, T},
    {"decay", F_DECAY, true, T},
    {"lr", F_LR, true, T},
    {"momentum", F_MOMENTUM, true, T},
    {"holdout", F_HOLDOUT, true, T},
    {"limit", F_LIMIT, true, T},
    {"test-limit", F_TEST_LIMIT, true, T | E},
    {"quiet", F_QUIET, false, T | E},
    {"load", F_LOAD, true, E | P | I | N | X},
    {"idx", F_IDX, true, P},
    {"raw", F_RAW, true, P},
    {"csv", F_CSV, true, P},
    {"index", F_INDEX, true, P},
    {"count", F_COUNT, true, P},
    {"per-sample", F_PER_SAMPLE, false, E | P},
    {"logits", F_LOGITS, false, P},
    {"out", F_OUT, true, X},
    {"verify", F_VERIFY, true, X},
    {"per-class", F_PER_CLASS, false, E},
    {"json", F_JSON, false, E},
    {"save-best", F_SAVE_BEST, true, T},
    {"progress", F_PROGRESS, true, T},
    {"save-every", F_SAVE_EVERY, true, T},
    {"telemetry", F_TELEMETRY, true, T},
    {"max-steps", F_MAX_STEPS, true, T},
};
#define NFLAGS (sizeof FLAGS / sizeof FLAGS[0])

static const char *const CMD_NAMES[] = {"", "train", "eval", "info", "predict", "help", "version", "inspect", "export"};
#define NCMDS ((int)(sizeof CMD_NAMES / sizeof CMD_NAMES[0]))

/* The flag closest to `name` (len bytes) that is a plausible typo of it,
 * preferring the flags of command `cmd`; NULL when none is. */
static const char *flag_guess(const char *name, size_t len, int cmd) {
  char typed[33];
  size_t n = len < 32 ? len : 32;
  memcpy(typed, name, n);
  typed[n] = '\0';
  const char *best = NULL;
  int bd = 1 << 30;
  for (int pass = 0; pass < 2 && !best; pass++)
    for (size_t k = 0; k < NFLAGS; k++) {
      if (pass == 0 && !(FLAGS[k].cmds & (1u << cmd))) continue;
      int d = nitrt_edit_distance(typed, FLAGS[k].name);
      if (d < bd && nitrt_close_to(typed, FLAGS[k].name)) {
        bd = d;
        best = FLAGS[k].name;
      }
    }
  return best;
}

static const char *cmd_guess(const char *typed) {
  for (int c = 1; c < NCMDS; c++)
    if (nitrt_close_to(typed, CMD_NAMES[c])) return CMD_NAMES[c];
  return NULL;
}



/* Strict decimal integer in [lo, hi]. */
static int parse_int(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out) {
  const char *p = s;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    p++;
  }
  if (*p < '0' || *p > '9') goto bad;
  uint64_t v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') goto bad;
    if (v > (UINT64_MAX - 9) / 10) goto bad;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v > (uint64_t)INT64_MAX) goto bad;
  int64_t x = neg ? -(int64_t)v : (int64_t)v;
  if (x < lo || x > hi) goto bad;
  *out = x;
  return 0;
bad:
  nitrt_error("--%s: expected an integer from %lld to %lld, got '%s'", flag, (long long)lo, (long long)hi, s);
  return -1;
}

static int parse_u64(const char *flag, const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!*s) goto bad;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') goto bad;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) goto bad;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
bad:
  nitrt_error("--%s: expected an integer from 0 to 18446744073709551615, got '%s'", flag, s);
  return -1;
}

static int parse_round(const char *flag, const char *s, int32_t *out) {
  for (int32_t m = 0; m < NIT_ROUND_COUNT; m++)
    if (!strcmp(s, nit_round_names[m])) {
      *out = m;
      return 0;
    }
  nitrt_error("--%s: expected pseudo, stochastic or nearest, got '%s'", flag, s);
  return -1;
}

int nitrt_parse_args(int argc, char **argv, Options *o) {
  memset(o, 0, sizeof *o);
  o->threads = 0;               /* all online cores */
  o->progress_ns = 10000000000; /* between plain progress lines: 10 s */
  o->argc = argc;
  o->argv = argv;
  if (argc < 2) {
    nitrt_error("missing command: expected train, eval, predict, export, info, inspect or help "
                "(see '%s help')",
                nitrt_prog);
    return -1;
  }
  const char *c = argv[1];
  if (!strcmp(c, "train")) o->cmd = CMD_TRAIN;
  else if (!strcmp(c, "eval")) o->cmd = CMD_EVAL;
  else if (!strcmp(c, "info")) o->cmd = CMD_INFO;
  else if (!strcmp(c, "predict")) o->cmd = CMD_PREDICT;
  else if (!strcmp(c, "inspect")) o->cmd = CMD_INSPECT;
  else if (!strcmp(c, "export")) o->cmd = CMD_EXPORT;
  else if (!strcmp(c, "help") || !strcmp(c, "--help") || !strcmp(c, "-h")) o->cmd = CMD_HELP;
  else if (!strcmp(c, "--version") || !strcmp(c, "version")) o->cmd = CMD_VERSION;
  else {
    const char *g = cmd_guess(c);
    if (g) nitrt_error("unknown command '%s' (did you mean '%s'?)", c, g);
    else nitrt_error("unknown command '%s': expected train, eval, predict, export, info, inspect or help", c);
    return -1;
  }
  o->verify = 64;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    char alias[8];
    if (!strcmp(a, "-o")) { /* the usual short form of --out */
      memcpy(alias, "--out", 6);
      a = alias;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      o->cmd = CMD_HELP;
      return 0;
    }
    if (o->cmd == CMD_INSPECT && !o->load && a[0] != '-') { /* inspect CKPT */
      o->load = a;
      continue;
    }
    if (strncmp(a, "--", 2) != 0) {
      const char *g = a[0] == '-' && a[1] ? flag_guess(a + 1, strcspn(a + 1, "="), o->cmd) : NULL;
      if (g) nitrt_error("unexpected argument '%s' (did you mean '--%s'?)", a, g);
      else nitrt_error("unexpected argument '%s' (see '%s help')", a, nitrt_prog);
      return -1;
    }
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct Flag *f = NULL;
    for (size_t k = 0; k < NFLAGS; k++)
      if (strlen(FLAGS[k].name) == len && !strncmp(FLAGS[k].name, name, len)) f = &FLAGS[k];
    if (!f) {
      const char *g = flag_guess(name, len, o->cmd);
      if (g) nitrt_error("unknown option '%.*s' (did you mean '--%s'?)", (int)len + 2, a, g);
      else nitrt_error("unknown option '%.*s' (see '%s help')", (int)len + 2, a, nitrt_prog);
      return -1;
    }
    if (!(f->cmds & (1u << o->cmd))) {
      nitrt_error("option '--%s' does not apply to '%s'", f->name, CMD_NAMES[o->cmd]);
      return -1;
    }
    const char *v = NULL;
    if (f->arg) {
      if (eq) v = eq + 1;
      else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) v = argv[++i];
      else {
        nitrt_error("option '--%s' needs a value", f->name);
        return -1;
      }
      if (!*v) {
        nitrt_error("option '--%s' needs a value", f->name);
        return -1;
      }
    } else if (eq) {
      nitrt_error("option '--%s' takes no value", f->name);
      return -1;
    }
    int64_t x = 0;
    int rc = 0;
    switch (f->id) {
    case F_DATA:
      o->data = v;
      o->set |= SET_DATA;
      break;
    case F_EPOCHS:
      rc = parse_int(f->name, v, 1, NITRT_EPOCHS_MAX, &x);
      o->r.epochs = (int32_t)x;
      o->set |= SET_EPOCHS;
      break;
    case F_BATCH:
      rc = parse_int(f->name, v, 1, NITRT_BATCH_MAX, &x);
      o->r.batch = (int32_t)x;
      o->set |= SET_BATCH;
      break;
    case F_SEED:
      rc = parse_u64(f->name, v, &o->r.seed);
      o->set |= SET_SEED;
      break;
    case F_SAVE: o->save = v; break;
    case F_SAVE_INIT: o->save_init = v; break;
    case F_RESUME: o->resume = v; break;
    case F_LOG: o->log = v; break;
    case F_THREADS:
      rc = parse_int(f->name, v, 1, 1024, &x);
      o->threads = (int32_t)x;
      break;
    case F_ROUNDING:
      rc = parse_round(f->name, v, &o->r.act_round);
      o->r.err_round = o->r.grad_round = o->r.act_round;
      o->set |= SET_ACT | SET_ERR | SET_GRAD;
      break;
    case F_ROUND_ACT:
      rc = parse_round(f->name, v, &o->r.act_round);
      o->set |= SET_ACT;
      break;
    case F_ROUND_ERR:
      rc = parse_round(f->name, v, &o->r.err_round);
      o->set |= SET_ERR;
      break;
    case F_ROUND_GRAD:
      rc = parse_round(f->name, v, &o->r.grad_round);
      o->set |= SET_GRAD;
      break;
    case F_UPDATE_BITS:
      rc = nitrt_parse_sched(v, &o->r);
      o->set |= SET_SCHED;
      break;
    case F_DECAY:
      if (nit_model.recipe.kind != NIT_RECIPE_NITI) { /* coupled weight decay */
        rc = nitrt_parse_decimal(f->name, v, &o->r.wdecay_n, &o->r.wdecay_f);
        if (!rc && nitrt_decimal_cmp(o->r.wdecay_n, o->r.wdecay_f, 1, 0) > 0) {
          nitrt_error("--decay: expected a weight decay from 0 to 1, got '%s'", v);
          rc = -1;
        }
        o->set |= SET_WDECAY;
        break;
      }
      if (!strcmp(v, "on")) o->r.decay = 1;
      else if (!strcmp(v, "off")) o->r.decay = 0;
      else {
        nitrt_error("--decay: expected on or off (NITI's integer decay; a decimal decay needs "
                    "a recipe with masters, this model uses %s), got '%s'",
                    nit_recipe_names[0], v);
        rc = -1;
      }
      o->set |= SET_DECAY;
      break;
    case F_LR:
    case F_MOMENTUM:
      if (nit_model.recipe.kind == NIT_RECIPE_NITI) {
        nitrt_error("--%s: only recipes with masters have one; this model uses recipe niti", f->name);
        rc = -1;
        break;
      }
      if (f->id == F_LR) {
        NitLrSchedule *l = &o->r.lr;
        memset(l, 0, sizeof *l);
        rc = nitrt_parse_decimal(f->name, v, &l->n[0], &l->f[0]);
        if (!rc && nitrt_decimal_cmp(l->n[0], l->f[0], NITRT_LR_MAX, 0) > 0) {
          nitrt_error("--lr: expected a learning rate from 0 to %d, got '%s'", NITRT_LR_MAX, v);
          rc = -1;
        }
        l->kind = NIT_LR_PIECEWISE;
        l->count = 1;
        l->at[0] = 1;
        o->set |= SET_LR;
      } else {
        rc = nitrt_parse_decimal(f->name, v, &o->r.momentum_n, &o->r.momentum_f);
        if (!rc && nitrt_decimal_cmp(o->r.momentum_n, o->r.momentum_f, 1, 0) > 0) {
          nitrt_error("--momentum: expected a momentum from 0 to 1, got '%s'", v);
          rc = -1;
        }
        o->set |= SET_MOMENTUM;
      }
      break;
    case F_HOLDOUT:
      rc = parse_int(f->name, v, 0, INT32_MAX, &x);
      o->r.holdout = (int32_t)x;
      o->set |= SET_HOLDOUT;
      break;
    case F_LIMIT:
      rc = parse_int(f->name, v, 1, INT64_MAX, &o->r.limit);
      o->set |= SET_LIMIT;
      break;
    case F_TEST_LIMIT:
      rc = parse_int(f->name, v, 1, INT64_MAX, &o->test_limit);
      o->set |= SET_TEST_LIMIT;
      break;
    case F_QUIET: o->quiet = true; break;
    case F_LOAD: o->load = v; break;
    case F_IDX: o->idx = v; break;
    case F_RAW: o->raw = v; break;
    case F_CSV: o->csv = v; break;
    case F_PER_SAMPLE: o->per_sample = true; break;
    case F_LOGITS: o->logits = true; break;
    case F_OUT: o->out = v; break;
    case F_VERIFY: rc = parse_int(f->name, v, 1, 1000000, &o->verify); break;
    case F_PER_CLASS: o->per_class = true; break;
    case F_JSON: o->json = true; break;
    case F_SAVE_BEST: o->save_best = v; break;
    case F_SAVE_EVERY: rc = parse_int(f->name, v, 1, INT64_MAX, &o->save_every); break;
    case F_TELEMETRY: rc = parse_int(f->name, v, 1, INT64_MAX, &o->telemetry); break;
    case F_MAX_STEPS: rc = parse_int(f->name, v, 1, INT64_MAX, &o->max_steps); break;
    case F_PROGRESS: { /* seconds, a decimal: n / 10^f */
      uint64_t n = 0;
      int32_t dp = 0;
      rc = nitrt_parse_decimal(f->name, v, &n, &dp);
      if (!rc && nitrt_decimal_cmp(n, dp, 86400, 0) > 0) {
        nitrt_error("--progress: expected seconds from 0 to 86400, got '%s'", v);
        rc = -1;
      }
      if (!rc) {
        o->progress_ns = (int64_t)n;
        for (int32_t k = dp; k < 9; k++) o->progress_ns *= 10;
      }
      break;
    }
    case F_INDEX:
      rc = parse_int(f->name, v, 0, INT64_MAX, &o->index);
      o->set |= SET_INDEX;
      break;
    case F_COUNT:
      rc = parse_int(f->name, v, 1, INT64_MAX, &o->count);
      o->set |= SET_COUNT;
      break;
    }
    if (rc) return -1;
  }
  if (o->cmd == CMD_INFO && o->load) o->cmd = CMD_INSPECT; /* info --load CKPT */
  if (o->cmd == CMD_INSPECT && !o->load) {
    nitrt_error("inspect needs a checkpoint: %s inspect CKPT", nitrt_prog);
    return -1;
  }
  if (o->cmd == CMD_EVAL && !o->load) {
    nitrt_error("eval needs --load CKPT");
    return -1;
  }
  if (o->cmd == CMD_EXPORT && (!o->load || !o->out)) {
    nitrt_error("export needs --load CKPT and -o DIR");
    return -1;
  }
  if (o->cmd == CMD_PREDICT) {
    if (!o->load) {
      nitrt_error("predict needs --load CKPT");
      return -1;
    }
    if ((o->idx != NULL) + (o->raw != NULL) + (o->csv != NULL) != 1) {
      nitrt_error("predict needs exactly one of --idx FILE, --raw FILE or --csv FILE");
      return -1;
    }
  }
  return 0;
}

void nitrt_usage(FILE *f) {
  const NitModel *m = &nit_model;
  fprintf(f,
          "%s: integer-only training executable for model '%s' (built by %s)\n"
          "\n"
          "usage:\n"
          "  %s train [options]      train, evaluating on the test set after every epoch\n"
          "  %s eval --load CKPT [--data DIR] [--test-limit N] [--batch B] [--per-sample]\n"
          "          [--per-class] [--json]\n"
          "  %s predict --load CKPT (--idx FILE | --raw FILE | --csv FILE) [--index I]\n"
          "          [--count N] [--batch B] [--per-sample] [--logits]\n"
          "  %s export --load CKPT -o DIR [--verify N]   the network as plain integer C\n"
          "  %s info                 layers, shapes, memory, recipe, how it was built\n"
          "  %s inspect CKPT         what a checkpoint holds (also: info --load CKPT)\n"
          "  %s help | --help        this text\n"
          "  %s --version\n"
          "\n"
          "train options (defaults come from the model's train block):\n"
          "  --data DIR            data directory: idx (MNIST layout), CIFAR-10 binary or\n"
          "                        train.csv/test.csv                   [%s]\n"
          "  --epochs N            total epochs (also when resuming)    [%d]\n"
          "  --max-steps N         stop after N steps in all (also when resuming), inside an\n"
          "                        epoch if need be; --save then holds that position\n"
          "  --batch B             samples per step, at most %d (compiled maximum)\n"
          "  --seed S              seed of init, data order and rounding [%llu]\n"
          "  --save CKPT           write a checkpoint after every epoch\n"
          "  --save-every N        also write --save's checkpoint every N steps inside epochs\n"
          "                        (and at Ctrl-C); a resume continues the epoch bit for bit\n"
          "  --save-best CKPT      write the checkpoint of the epoch with the best validation\n"
          "                        accuracy (test accuracy without --holdout)\n"
          "  --save-init CKPT      write the initial state (epoch 0) before the first step\n"
          "  --resume CKPT         continue a run from a checkpoint\n"
          "  --log FILE.jsonl      a run record, then one JSON object per epoch (appended)\n"
          "  --rounding MODE       pseudo | stochastic | nearest for all three roundings\n"
          "  --round-act MODE, --round-err MODE, --round-grad MODE   one rounding each\n"
          "  --update-bits SCHED   update bits m_u, e.g. 3 or 3,2@5 (2 from epoch 5)\n"
          "  --decay on|off        NITI integer weight decay (recipe niti)\n"
          "  --decay D             coupled weight decay, a decimal (recipes with masters)\n"
          "  --lr D                constant learning rate, replaces the schedule\n"
          "                        (recipes with masters)\n"
          "  --momentum D          SGD momentum, a decimal (recipes with masters)\n"
          "  --holdout N           keep the last N training samples for validation\n"
          "  --limit N             train on the first N samples only\n"
          "  --test-limit N        test on the first N samples only\n"
          "  --threads T           worker threads, at most 16 (default: all cores this process\n"
          "                        may use, shared by the ranks on a node under mpirun); results\n"
          "                        never depend on T\n"
          "  --quiet               no progress bar and no per-epoch lines\n"
          "  --progress S          off a terminal, a progress line every S seconds [10; 0: none]\n"
          "  --telemetry N         per-layer counts of every N-th step: zeros, values at the\n"
          "                        int8 limit, exponents, weights moved; a table per epoch\n"
          "                        and the --log file's \"telemetry\" (docs/telemetry.md)\n"
          "\n"
          "eval and predict run batches of --batch samples (default: the checkpoint's);\n"
          "a sample's logits depend on the other samples of its batch (per-batch\n"
          "exponents). --per-sample runs each sample alone: results that do not depend\n"
          "on the batch. eval without --data uses the data set the checkpoint recorded.\n"
          "predict --logits prints every logit of a sample instead of the score.\n"
          "\n"
          "export writes DIR/<model>.h and DIR/<model>.c: dependency-free C99 computing\n"
          "exactly what predict --per-sample computes, checked on --verify N samples\n"
          "(default 64) before anything is written (docs/deploy.md).\n"
          "eval --per-class adds the accuracy of every class and the confusion matrix;\n"
          "eval --json prints one JSON object instead of text.\n",
          nitrt_prog, m->name, m->compiler ? m->compiler : "?", nitrt_prog, nitrt_prog, nitrt_prog, nitrt_prog,
          nitrt_prog, nitrt_prog, nitrt_prog, nitrt_prog, m->recipe.data ? m->recipe.data : "(none)",
          m->recipe.epochs > 0 ? m->recipe.epochs : 1, m->batch, (unsigned long long)m->recipe.seed);
}
