/*
 * reftrain.c: train a network with the numerics reference on idx data.
 *
 *   reftrain MODEL.nit --data DIR [--steps N] [--batch B] [--seed S]
 *            [--mu M] [--test K] [--limit N] [--dump FILE] [--decay]
 *            [--act MODE] [--err MODE] [--grad MODE] [--weight-bits A]
 *   reftrain --builtin mlp ...   (784-512-256-10, no front end needed)
 *   reftrain ... --recipe ghaffari|shiftquant|unified [--lr D] [--momentum D]
 *            [--weight-decay D] [--warmup N] [--warmup-ratio D] [--master 16|32]
 *            [--bits-act B] [--bits-weight B] [--bits-grad B]
 *            [--view MODE] [--update MODE] [--groups channel|sample|tensor]
 *            [--clip-every P] [--clip-off] [--lrscale-off]
 *
 * --recipe ghaffari (recipes.md R§8.2) starts from that recipe's defaults
 * (every mode stochastic, widths 8, int16 masters, lr 0.01, momentum 0.9,
 * decay 0.0005, no warmup) instead of the .nit file's NITI settings (batch
 * and seed still come from the file); D is an exact decimal such as 0.01
 * (0 turns momentum or decay off). The learning rate is constant, with the
 * optional linear warmup of R§6.4 over N steps from ratio D (default
 * 0.001); an epoch is limit / batch steps (at least 1). --mu and --decay are
 * NITI's and are ignored under ghaffari. --recipe shiftquant (R§9.4) is the
 * same with shiftquant's defaults (bits grad 4, act and view rounding
 * nearest, groups channel); --groups sets SQ_b's groups (shiftquant only).
 * --recipe unified (R§10.7) has its defaults (act and view rounding nearest,
 * clip cosine(every=100, range=4, grid=eighth), lrscale exp(alpha=20,
 * beta=0.1)); --clip-every, --clip-off and --lrscale-off change them.
 *
 *   reftrain MODEL.nit --data DIR --epochs E [--limit N] [--logits K]
 *
 * --epochs E trains as the training executable does, every setting from the
 * .nit file (no other flag but --limit and --logits): E epochs over the
 * first N training images (default: all) but the file's holdout (the
 * last ones), epoch e in the order of
 * docs/runtime.md ("Data order"), batches of B with a smaller last one,
 * global step t from 0, the file's m_u schedule (niti) or its learning-rate
 * schedule with warmup (docs/recipes.md, "Learning-rate schedules"). Then
 * --logits K prints the eval logits of each of the first K test images alone,
 * as `predict --per-sample --logits` does; without it, the accuracy as below.
 *
 * With a .nit file the recipe supplies the defaults (batch, seed, rounding
 * modes, the first m_u of the schedule, decay, weight bits); flags override.
 * Without one: batch 64, seed 1, m_u 3, pseudo/stochastic/pseudo, int8.
 *
 * Batches are taken in file order from the first `--limit` training images
 * (default: all), wrapping around; step s uses samples (s*B .. s*B+B-1) mod
 * limit. Pixels are quantized as x = p >> 1 at exponent -7. After training,
 * prints the accuracy on the first K test images (eval forward: argmax of the
 * logits, first maximum wins). Slow on purpose: the reference is a plain loop
 * nest. Exit status 0, or 1 with one line naming the problem.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

#ifdef NITREF_FRONT
#include "nitc.h"

/* Parse and check a .nit file with the front end; NULL after diagnostics. */
static Model *load_model(const char *path, int weight_bits) {
  int err;
  Source *src = source_read(path, &err);
  if (!src) {
    diag_read_error(path, err);
    return NULL;
  }
  diag_begin(src);
  Ast *prog = parse_source(src);
  if (!prog)
    return NULL;
  SemaOverrides ov = {.weight_bits = weight_bits};
  return sema_check(prog, &ov);
}
#endif

typedef struct Idx {
  int64_t n;
  int c, h, w;      /* per sample; labels: 1, 1, 1 */
  uint8_t *data;
} Idx;

static int die(const char *fmt, const char *arg) {
  fprintf(stderr, "reftrain: error: ");
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  return 1;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read an idx file of unsigned bytes (magic 0x0000080D, D dims). */
static int read_idx(const char *path, Idx *out) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return die("%s: cannot open", path);
  uint8_t hdr[4 + 4 * 4];
  if (fread(hdr, 1, 4, f) != 4 || hdr[0] || hdr[1] || hdr[2] != 8 || hdr[3] < 1 || hdr[3] > 4) {
    fclose(f);
    return die("%s: not an idx file of unsigned bytes", path);
  }
  int dims = hdr[3];
  if (fread(hdr + 4, 4, (size_t)dims, f) != (size_t)dims) {
    fclose(f);
    return die("%s: truncated header", path);
  }
  uint32_t d[4] = {1, 1, 1, 1};
  for (int i = 0; i < dims; i++)
    d[i] = be32(hdr + 4 + 4 * i);
  out->n = d[0];
  out->c = dims == 4 ? (int)d[1] : 1;
  out->h = dims == 4 ? (int)d[2] : dims >= 2 ? (int)d[1] : 1;
  out->w = dims == 4 ? (int)d[3] : dims >= 3 ? (int)d[2] : 1;
  size_t bytes = (size_t)out->n * (size_t)out->c * (size_t)out->h * (size_t)out->w;
  out->data = malloc(bytes ? bytes : 1);
  if (!out->data || fread(out->data, 1, bytes, f) != bytes) {
    fclose(f);
    free(out->data);
    return die("%s: truncated data", path);
  }
  fclose(f);
  return 0;
}

static int parse_mode(const char *s) {
  for (int m = 0; m < NIT_ROUND_COUNT; m++)
    if (!strcmp(s, nit_round_names[m]))
      return m;
  return -1;
}

/* The MNIST MLP of examples/mlp.nit: flatten, dense 512, relu, dense 256,
 * relu, dense 10. */
static RefNet *builtin_mlp(int bits, char *msg, int msglen) {
  RefNet *net = ref_net_new(7);
  if (!net) {
    snprintf(msg, (size_t)msglen, "out of memory");
    return NULL;
  }
  RefNode *nd = net->nodes;
  nd[0].op = REF_INPUT, nd[0].c = 1, nd[0].h = 28, nd[0].w = 28;
  nd[1].op = REF_FLATTEN, nd[1].in[0] = 0;
  nd[2].op = REF_DENSE, nd[2].in[0] = 1, nd[2].units = 512;
  nd[3].op = REF_RELU, nd[3].in[0] = 2;
  nd[4].op = REF_DENSE, nd[4].in[0] = 3, nd[4].units = 256;
  nd[5].op = REF_RELU, nd[5].in[0] = 4;
  nd[6].op = REF_DENSE, nd[6].in[0] = 5, nd[6].units = 10;
  if (ref_net_finish(net, 6, bits)) {
    snprintf(msg, (size_t)msglen, "%s", net->msg);
    ref_net_free(net);
    return NULL;
  }
  return net;
}

/* An exact decimal "123", "0.01", ".5" as N / 10^f (N < 10^18, f <= 9). */
static int arg_dec(const char *s, uint64_t *n, int *f) {
  uint64_t v = 0;
  int digits = 0, frac = -1;
  for (const char *p = s; *p; p++) {
    if (*p == '.' && frac < 0) {
      frac = 0;
      continue;
    }
    if (*p < '0' || *p > '9' || digits >= 18)
      return -1;
    v = v * 10 + (uint64_t)(*p - '0');
    digits++;
    if (frac >= 0 && ++frac > 9)
      return -1;
  }
  if (!digits)
    return -1;
  *n = v;
  *f = frac < 0 ? 0 : frac;
  return 0;
}

/* The class of a sample's logits (classes >= 1): the first maximum wins. */
static int argmax(const int8_t *l, int classes) {
  int best = 0;
  for (int c = 1; c < classes; c++)
    if (l[c] > l[best])
      best = c;
  return best;
}

static int arg_int(const char *s, int64_t *v) {
  char *end;
  long long x = strtoll(s, &end, 10);
  if (!*s || *end)
    return -1;
  *v = x;
  return 0;
}

/* The first four idx files of DIR: training images and labels, test images
 * and labels. 0, or 1 after a message. */
static int read_sets(const char *data, Idx sets[4]) {
  static const char *files[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  char path[4096];
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/%s", data, files[i]);
    if (read_idx(path, &sets[i]))
      return 1;
  }
  return 0;
}

#ifdef NITREF_FRONT
/* The order of epoch e over n samples (docs/runtime.md, "Data order"): a
 * Fisher-Yates shuffle of the identity from the last position down, the
 * partner of i drawn at index i of the key (seed, e, NIT_TID_SHUFFLE). */
static void data_order(uint32_t *perm, int64_t n, uint64_t seed, int64_t e) {
  for (int64_t i = 0; i < n; i++)
    perm[i] = (uint32_t)i;
  uint64_t key = nit_key(seed, (uint64_t)e, NIT_TID_SHUFFLE);
  for (int64_t i = n - 1; i >= 1; i--) {
    int64_t j = (int64_t)(nit_draw(key, (uint64_t)i) % (uint64_t)(i + 1));
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

/* --epochs: train MODEL as its training executable does, then print the
 * eval logits of the first k test images one at a time (k >= 0) or the
 * accuracy on all of them (k < 0). */
static int as_executable(const char *model, const char *data, int64_t epochs, int64_t limit, int64_t k) {
  Model *m = load_model(model, 0);
  if (!m)
    return 1; /* the front end printed the diagnostics */
  char msg[300] = "";
  RefNet *net = ref_net_from_model(m, msg, sizeof msg);
  if (!net)
    return die("%s", msg);
  RefOpts o;
  if (ref_opts_from_model(m, &o))
    return die("%s", "the reference has no such recipe setting");
  RecSchedule sch;
  ref_schedule_from_model(m, &sch);
  Idx set[4];
  if (read_sets(data, set))
    return 1;
  const RefNode *in = &net->nodes[0];
  int64_t per = (int64_t)in->c * in->h * in->w, batch = m->recipe.batch;
  if (set[0].c * set[0].h * set[0].w != per || set[2].c * set[2].h * set[2].w != per || set[0].n != set[1].n ||
      set[2].n != set[3].n)
    return die("%s: image shape or count does not match the model", data);
  int64_t n = (limit && limit < set[0].n ? limit : set[0].n) - m->recipe.holdout; /* the holdout: the last ones */
  if (n < 1)
    return die("%s: the holdout leaves no training samples", data);
  int8_t *x = malloc((size_t)(batch * per));
  int32_t *y = malloc((size_t)batch * sizeof *y);
  int8_t *logits = malloc((size_t)net->classes);
  uint32_t *perm = malloc((size_t)n * sizeof *perm);
  if (!x || !y || !logits || !perm)
    return die("%s", "out of memory");
  if (ref_init_recipe(net, &o))
    return die("%s", net->msg);
  const int64_t per_epoch = (n + batch - 1) / batch; /* steps, the last one short */
  uint64_t t = 0;                                    /* the global step */
  for (int64_t e = 1; e <= epochs; e++) {
    data_order(perm, n, o.seed, e);
    o.mu = ref_mu_for_epoch(m, e);
    for (int64_t i = 0; i < n; i += batch, t++) {
      int b = (int)(n - i < batch ? n - i : batch);
      for (int j = 0; j < b; j++) {
        ref_quantize_u8(set[0].data + (int64_t)perm[i + j] * per, per, x + j * per);
        y[j] = set[1].data[perm[i + j]];
      }
      o.eta = rec_lr(&sch, e, t, per_epoch);
      if (ref_train_step(net, x, -7, y, b, t, &o))
        return die("%s", net->msg);
    }
    fprintf(stderr, "\repoch %" PRId64 "/%" PRId64 "  logit exp %d", e, epochs, net->act_exp[net->output]);
  }
  fputc('\n', stderr);
  int64_t count = k >= 0 && k < set[2].n ? k : set[2].n, correct = 0;
  for (int64_t i = 0; i < count; i++) {
    ref_quantize_u8(set[2].data + i * per, per, x);
    int le;
    if (ref_forward(net, x, -7, 1, &o, logits, &le))
      return die("%s", net->msg);
    int best = argmax(logits, net->classes);
    correct += best == set[3].data[i];
    if (k < 0)
      continue;
    printf("sample %" PRId64 "  class %d  logits", i, best);
    for (int c = 0; c < net->classes; c++)
      printf(" %d", logits[c]);
    printf(" (x2^%d)\n", le);
  }
  if (k < 0)
    printf("trained %" PRId64 " epochs of %" PRId64 " samples; test %" PRId64 "/%" PRId64 " correct\n", epochs, n,
           correct, count);
  free(x), free(y), free(logits), free(perm);
  for (int i = 0; i < 4; i++)
    free(set[i].data);
  ref_net_free(net);
  return 0;
}
#endif

int main(int argc, char **argv) {
  const char *model = NULL, *builtin = NULL, *data = NULL, *dump = NULL;
  int64_t steps = 100, batch = -1, seed = -1, mu = -1, test = 1000, limit = 0, bits = 0;
  int64_t epochs = 0, show_logits = -1; /* --epochs E: as the executable trains; --logits K */
  int other_flags = 0;                  /* flags that --epochs refuses */
  RefOpts o = ref_default_opts();
  int decay = 0, set_act = -1, set_err = -1, set_grad = -1, set_view = -1, set_update = -1;
  int recipe = REF_RECIPE_NITI;
  int64_t warmup = 0, master = 16, bits_a = 8, bits_w = 8, bits_g = -1; /* -1: recipe's */
  int groups = -1, clip_off = 0, lrscale_off = 0;
  int64_t clip_every = 0;
  /* decimals of the ghaffari settings: {N, f}; f = -1 means "default" */
  uint64_t dec_n[4] = {0, 0, 0, 0};
  int dec_f[4] = {-1, -1, -1, -1}; /* lr, momentum, weight decay, warmup ratio */
  static const char *dec_names[4] = {"--lr", "--momentum", "--weight-decay", "--warmup-ratio"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int64_t *num = NULL;
    if (!strcmp(a, "--decay")) {
      other_flags++;
      decay = 1;
      continue;
    }
    if (!strcmp(a, "--clip-off") || !strcmp(a, "--lrscale-off")) {
      other_flags++;
      *(a[2] == 'c' ? &clip_off : &lrscale_off) = 1;
      continue;
    }
    if (a[0] != '-') {
      model = a;
      continue;
    }
    if (!v)
      return die("%s needs a value", a);
    i++;
    other_flags += strcmp(a, "--data") && strcmp(a, "--limit") && strcmp(a, "--logits") && strcmp(a, "--epochs");
    if (!strcmp(a, "--data"))
      data = v;
    else if (!strcmp(a, "--dump"))
      dump = v;
    else if (!strcmp(a, "--builtin"))
      builtin = v;
    else if (!strcmp(a, "--recipe")) {
      recipe = ref_recipe_parse(v);
      if (recipe < 0)
        return die("unknown recipe '%s' (niti, ghaffari, shiftquant, unified)", v);
    } else if (!strcmp(a, "--groups")) {
      groups = -1;
      for (int g = 0; g < NIT_GROUPS_COUNT; g++)
        if (!strcmp(v, nit_groups_names[g]))
          groups = g;
      if (groups < 0)
        return die("unknown groups '%s' (channel, sample, tensor)", v);
    } else if (!strcmp(a, "--view") || !strcmp(a, "--update")) {
      int m = parse_mode(v);
      if (m < 0)
        return die("unknown rounding mode '%s' (pseudo, stochastic, nearest)", v);
      if (a[2] == 'v')
        set_view = m;
      else
        set_update = m;
    } else if (!strcmp(a, "--lr") || !strcmp(a, "--momentum") || !strcmp(a, "--weight-decay") ||
               !strcmp(a, "--warmup-ratio")) {
      int d = 0;
      while (strcmp(a, dec_names[d]))
        d++;
      if (arg_dec(v, &dec_n[d], &dec_f[d]))
        return die("'%s' is not a decimal such as 0.01", v);
    } else if (!strcmp(a, "--warmup"))
      num = &warmup;
    else if (!strcmp(a, "--clip-every"))
      num = &clip_every;
    else if (!strcmp(a, "--master"))
      num = &master;
    else if (!strcmp(a, "--bits-act"))
      num = &bits_a;
    else if (!strcmp(a, "--bits-weight"))
      num = &bits_w;
    else if (!strcmp(a, "--bits-grad"))
      num = &bits_g;
    else if (!strcmp(a, "--act") || !strcmp(a, "--err") || !strcmp(a, "--grad")) {
      int m = parse_mode(v);
      if (m < 0)
        return die("unknown rounding mode '%s' (pseudo, stochastic, nearest)", v);
      if (a[2] == 'a')
        set_act = m;
      else if (a[2] == 'e')
        set_err = m;
      else
        set_grad = m;
    } else if (!strcmp(a, "--steps"))
      num = &steps;
    else if (!strcmp(a, "--batch"))
      num = &batch;
    else if (!strcmp(a, "--seed"))
      num = &seed;
    else if (!strcmp(a, "--mu"))
      num = &mu;
    else if (!strcmp(a, "--test"))
      num = &test;
    else if (!strcmp(a, "--limit"))
      num = &limit;
    else if (!strcmp(a, "--epochs"))
      num = &epochs;
    else if (!strcmp(a, "--logits"))
      num = &show_logits;
    else if (!strcmp(a, "--weight-bits"))
      num = &bits;
    else
      return die("unknown option '%s'", a);
    if (num && arg_int(v, num))
      return die("'%s' is not an integer", v);
  }
  if (!data)
    return die("%s", "--data DIR is required");
  if (!model && !builtin)
    return die("%s", "give MODEL.nit or --builtin mlp");
  if (batch == 0 || batch < -1 || steps < 0 || test < 0 || limit < 0 || mu == 0 || mu < -1)
    return die("%s", "bad --batch, --steps, --test, --limit or --mu");
  if (epochs < 0 || show_logits < -1)
    return die("%s", "bad --epochs or --logits");
  if (epochs && (!model || other_flags || recipe != REF_RECIPE_NITI))
    return die("%s", "--epochs takes every setting from MODEL.nit: give only --data, --limit and --logits");
#ifdef NITREF_FRONT
  if (epochs)
    return as_executable(model, data, epochs, limit, show_logits);
#endif

  char msg[300] = "";
  RefNet *net = NULL;
  if (builtin) {
    if (strcmp(builtin, "mlp"))
      return die("unknown builtin '%s' (mlp)", builtin);
    net = builtin_mlp(bits ? (int)bits : 8, msg, sizeof msg);
  } else {
#ifdef NITREF_FRONT
    Model *m = load_model(model, (int)bits);
    if (!m)
      return 1; /* the front end printed the diagnostics */
    net = ref_net_from_model(m, msg, sizeof msg);
    o.act_round = m->recipe.act_round;
    o.err_round = m->recipe.err_round;
    o.grad_round = m->recipe.grad_round;
    o.decay = m->recipe.decay;
    if (batch < 0)
      batch = m->recipe.batch;
    if (seed < 0)
      seed = (int64_t)m->recipe.seed;
    if (mu < 0)
      mu = m->recipe.mu[0];
#else
    return die("%s: this reftrain was built without the front end; use --builtin mlp", model);
#endif
  }
  if (!net)
    return die("%s", msg);
  if (batch < 0)
    batch = 64;
  if (seed >= 0)
    o.seed = (uint64_t)seed;
  if (mu > 0)
    o.mu = (int)mu;
  if (decay)
    o.decay = 1;
  RecSchedule sch;
  memset(&sch, 0, sizeof sch);
  if ((clip_off || lrscale_off || clip_every) && recipe != REF_RECIPE_UNIFIED)
    return die("%s", "--clip-every, --clip-off and --lrscale-off need --recipe unified");
  if (clip_every < 0)
    return die("%s", "--clip-every must be at least 1");
  if (recipe != REF_RECIPE_NITI) {
    RefOpts g = recipe == REF_RECIPE_SHIFTQUANT ? ref_shiftquant_opts()
                : recipe == REF_RECIPE_UNIFIED  ? ref_unified_opts()
                                                : ref_ghaffari_opts();
    if (clip_every)
      g.clip.every = clip_every;
    g.clip.on = !clip_off;
    g.lrscale = !lrscale_off;
    g.seed = o.seed;
    o = g;
    if (bits_g < 0)
      bits_g = o.bits_grad;
    if (groups >= 0 && recipe != REF_RECIPE_SHIFTQUANT)
      return die("%s", "--groups needs --recipe shiftquant");
    if (groups >= 0)
      o.groups = groups;
    if (warmup < 0 || (master != 16 && master != 32) || bits_a < 2 || bits_a > 8 || bits_w < 2 ||
        bits_w > 8 || bits_g < 2 || bits_g > 8)
      return die("%s", "bad --warmup, --master (16, 32) or --bits-* (2..8)");
    o.master_bits = (int)master;
    o.bits_act = (int)bits_a, o.bits_weight = (int)bits_w, o.bits_grad = (int)bits_g;
    if (dec_f[1] >= 0)
      o.momentum = rec_sdec(dec_n[1], dec_f[1]);
    if (dec_f[2] >= 0)
      o.wdecay = rec_sdec(dec_n[2], dec_f[2]);
    if (set_view >= 0)
      o.view_round = set_view;
    if (set_update >= 0)
      o.update_round = set_update;
    sch.kind = REC_LR_PIECEWISE;
    sch.count = 1;
    sch.value[0] = dec_f[0] >= 0 ? rec_sdec(dec_n[0], dec_f[0]) : o.eta;
    sch.warmup = warmup;
    sch.warmup_ratio_q30 = dec_f[3] >= 0 ? rec_q30_dec(dec_n[3], dec_f[3]) : rec_q30_dec(1, 3);
    uint64_t p10 = 1;
    for (int i = 0; dec_f[0] > 0 && i < dec_f[0]; i++)
      p10 *= 10;
    if (dec_f[0] >= 0 && dec_n[0] > 1000 * p10) /* R§6.4: eta <= 1000 */
      return die("%s", "--lr must be at most 1000");
  } else if (set_view >= 0 || set_update >= 0 || dec_f[0] >= 0 || dec_f[1] >= 0 ||
             dec_f[2] >= 0 || dec_f[3] >= 0 || warmup || groups >= 0) {
    return die("%s", "--lr, --momentum, --weight-decay, --warmup*, --view, --update, --groups "
                     "need --recipe ghaffari, shiftquant or unified");
  }
  if (set_act >= 0)
    o.act_round = set_act;
  if (set_err >= 0)
    o.err_round = set_err;
  if (set_grad >= 0)
    o.grad_round = set_grad;

  Idx set[4];
  if (read_sets(data, set))
    return 1;
  Idx tx = set[0], ty = set[1], vx = set[2], vy = set[3];
  const RefNode *in = &net->nodes[0];
  int64_t per = (int64_t)in->c * in->h * in->w;
  if (tx.c * tx.h * tx.w != per || vx.c * vx.h * vx.w != per || tx.n != ty.n || vx.n != vy.n)
    return die("%s: image shape or count does not match the model", data);
  if (limit == 0 || limit > tx.n)
    limit = tx.n;
  if (test > vx.n)
    test = vx.n;

  int8_t *x = malloc((size_t)(batch * per));
  int32_t *y = malloc((size_t)batch * sizeof *y);
  int8_t *logits = malloc((size_t)batch * (size_t)net->classes);
  if (!x || !y || !logits)
    return die("%s", "out of memory");
  if (ref_init_recipe(net, &o))
    return die("%s", net->msg);
  int64_t per_epoch = limit / batch > 0 ? limit / batch : 1;
  for (int64_t s = 0; s < steps; s++) {
    if (recipe != REF_RECIPE_NITI)
      o.eta = rec_lr(&sch, s / per_epoch + 1, (uint64_t)s, per_epoch);
    for (int64_t b = 0; b < batch; b++) {
      int64_t j = (s * batch + b) % limit;
      ref_quantize_u8(tx.data + j * per, per, x + b * per);
      y[b] = ty.data[j];
    }
    if (ref_train_step(net, x, -7, y, (int)batch, (uint64_t)s, &o))
      return die("%s", net->msg);
    if ((s + 1) % 10 == 0 || s + 1 == steps) {
      fprintf(stderr, "\rstep %" PRId64 "/%" PRId64 "  logit exp %d", s + 1, steps,
              net->act_exp[net->output]);
      fflush(stderr);
    }
  }
  if (steps)
    fputc('\n', stderr);
  if (dump && ref_dump_file(net, dump))
    return die("%s", net->msg);

  int64_t correct = 0;
  for (int64_t base = 0; base < test; base += batch) {
    int n = (int)(test - base < batch ? test - base : batch);
    for (int b = 0; b < n; b++)
      ref_quantize_u8(vx.data + (base + b) * per, per, x + (int64_t)b * per);
    int le;
    if (ref_forward(net, x, -7, n, &o, logits, &le))
      return die("%s", net->msg);
    for (int b = 0; b < n; b++)
      correct += argmax(logits + (int64_t)b * net->classes, net->classes) == vy.data[base + b];
  }
  /* accuracy in hundredths of a percent, integer formatting */
  int64_t bp = test ? (correct * 10000 + test / 2) / test : 0;
  printf("trained %" PRId64 " steps of batch %" PRId64 " (%" PRId64 " samples, first %" PRId64
         " training images); test accuracy %" PRId64 "/%" PRId64 " = %" PRId64 ".%02" PRId64
         "%%\n",
         steps, batch, steps * batch, limit, correct, test, bp / 100, bp % 100);
  free(x);
  free(y);
  free(logits);
  free(tx.data), free(ty.data), free(vx.data), free(vy.data);
  ref_net_free(net);
  return 0;
}
