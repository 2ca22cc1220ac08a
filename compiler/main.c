/*
 * main.c: the nitc command line. Parses options into an Options, then runs
 * the phases as a plain list: read, parse, check, then either stop (--check),
 * print the shape table (--emit shapes, to stdout or -o), or hand the Model
 * to the back end.
 * `nitc plot ...` is a command of its own, in plot.c.
 * Exit status: 0 success, 1 user error, 2 internal error (diag_internal).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nitc.h"

static const char usage[] = "usage: nitc FILE.nit [options]\n"
                            "       nitc plot LOG.jsonl... -o FILE.svg|FILE.png (see nitc plot --help)\n"
                            "\n"
                            "Compile a .nit model into a native integer-only training program.\n"
                            "\n"
                            "options:\n"
                            "  -o OUT              output file (default: the model name, or NAME.ll/.s/.o;\n"
                            "                      --emit shapes: standard output)\n"
                            "  --target TRIPLE     x86_64-linux-gnu, aarch64-linux-gnu or riscv64-linux-gnu\n"
                            "  --cpu NAME          CPU to tune for; --cpu help lists the target's CPUs and features\n"
                            "  --features LIST     target features, e.g. +v,-c\n"
                            "  --emit KIND         exe (default), obj, asm, llvm, or shapes (print the checked model)\n"
                            "  -O0 .. -O3          optimization level (default -O2)\n"
                            "  --check             check the file only; print nothing on success\n"
                            "  --batch N           compiled maximum batch (overrides the train block), 1..65536\n"
                            "  --weight-bits A     weight accumulation bits A in 8..16 (overrides the train block;\n"
                            "                      recipe niti)\n"
                            "  --recipe NAME       training recipe, niti, ghaffari, shiftquant or unified (replaces the\n"
                            "                      train block's; its defaults apply to the settings the file leaves\n"
                            "                      out)\n"
                            "  --master-bits A     width of the master weights, 16 or 32 (overrides the train block;\n"
                            "                      recipes with masters: ghaffari, shiftquant, unified)\n"
                            "  --grad-bits B       width of the errors, B in 2..8 (overrides the train block's\n"
                            "                      bits grad=; recipes with masters)\n"
                            "  --runtime-dir DIR   where libnitrt-<triple>.a is found\n"
                            "  --jobs N            threads optimizing and generating an executable's code, 1..16\n"
                            "                      (default: the cores online, at most 4; the same results for any N)\n"
                            "  --time-report       print each phase's wall and CPU time on stderr\n"
                            "  --keep-tensors      give every error bytes of its own, so that every activation and\n"
                            "                      error survives a step for telemetry (more memory; the same bytes)\n"
                            "  --mpi               link the MPI runtime: the executable trains data-parallel under\n"
                            "                      mpirun (docs/scaleout.md); host target only\n"
                            "  --gemm-kernel M,N,K instead of a model, emit (obj, asm or llvm) the int8 GEMM\n"
                            "                      kernel alone as nit_gemm (bench/gemm uses it); M,N,K,u: its\n"
                            "                      form for an A never negative (a relu's output)\n"
                            "  --help              print this help\n"
                            "  --version           print the version\n";

/* Value of an option: "--opt VALUE" or "--opt=VALUE". NULL when missing. */
static const char *value(int argc, char **argv, int *i, const char *opt) {
  size_t n = strlen(opt);
  const char *a = argv[*i];
  if (a[n] == '=') return a + n + 1;
  if (*i + 1 >= argc) {
    diag_plain("option '%s' needs a value", opt);
    return NULL;
  }
  return argv[++*i];
}

static bool is_opt(const char *a, const char *opt) {
  size_t n = strlen(opt);
  return strncmp(a, opt, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

static bool int_arg(const char *opt, const char *v, long lo, long hi, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < lo || x > hi) {
    diag_plain("%s must be an integer in %ld..%ld (got '%s')", opt, lo, hi, diag_quote(v));
    return false;
  }
  *out = (int)x;
  return true;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, Options *o) {
  *o = (Options){.emit = EMIT_EXE, .opt_level = 2};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("nitc %s (LLVM 19)\n", NITC_VERSION);
      return 0;
    } else if (strcmp(a, "--mpi") == 0) {
      o->mpi = true;
    } else if (strcmp(a, "--time-report") == 0) {
      o->time_report = true;
    } else if (strcmp(a, "--keep-tensors") == 0) {
      o->keep_tensors = true;
    } else if (strcmp(a, "--check") == 0) {
      o->emit = EMIT_CHECK;
    } else if (strcmp(a, "-o") == 0) {
      if (!(v = value(argc, argv, &i, "-o"))) return 1;
      o->output = v;
    } else if (strncmp(a, "-O", 2) == 0 && a[2] >= '0' && a[2] <= '3' && a[3] == '\0') {
      o->opt_level = a[2] - '0';
    } else if (is_opt(a, "--target")) {
      if (!(v = value(argc, argv, &i, "--target"))) return 1;
      o->target = v;
    } else if (is_opt(a, "--cpu")) {
      if (!(v = value(argc, argv, &i, "--cpu"))) return 1;
      o->cpu = v;
    } else if (is_opt(a, "--features")) {
      if (!(v = value(argc, argv, &i, "--features"))) return 1;
      o->features = v;
    } else if (is_opt(a, "--runtime-dir")) {
      if (!(v = value(argc, argv, &i, "--runtime-dir"))) return 1;
      o->runtime_dir = v;
    } else if (is_opt(a, "--emit")) {
      if (!(v = value(argc, argv, &i, "--emit"))) return 1;
      static const struct {
        const char *name;
        EmitKind kind;
      } kinds[] = {
          {"exe", EMIT_EXE}, {"obj", EMIT_OBJ}, {"asm", EMIT_ASM}, {"llvm", EMIT_LLVM}, {"shapes", EMIT_SHAPES}};
      int k = 0;
      while (k < 5 && strcmp(kinds[k].name, v) != 0) k++;
      if (k == 5) {
        diag_plain("unknown --emit kind '%s' (expected exe, obj, asm, llvm or shapes)", diag_quote(v));
        return 1;
      }
      o->emit = kinds[k].kind;
    } else if (is_opt(a, "--batch")) {
      if (!(v = value(argc, argv, &i, "--batch")) || !int_arg("--batch", v, 1, SEMA_MAX_BATCH, &o->batch)) return 1;
    } else if (is_opt(a, "--weight-bits")) {
      if (!(v = value(argc, argv, &i, "--weight-bits")) || !int_arg("--weight-bits", v, 8, 16, &o->weight_bits))
        return 1;
    } else if (is_opt(a, "--recipe")) {
      if (!(v = value(argc, argv, &i, "--recipe"))) return 1;
      int k = 0;
      while (k < NIT_RECIPE_COUNT && strcmp(nit_recipe_names[k], v) != 0) k++;
      if (k == NIT_RECIPE_COUNT) {
        char list[128] = "";
        for (int j = 0; j < NIT_RECIPE_COUNT; j++) {
          strcat(list, nit_recipe_names[j]);
          if (j + 2 < NIT_RECIPE_COUNT) strcat(list, ", ");
          else if (j + 2 == NIT_RECIPE_COUNT) strcat(list, " or ");
        }
        diag_plain("unknown --recipe '%s' (expected %s)", diag_quote(v), list);
        return 1;
      }
      o->recipe = 1 + k;
    } else if (is_opt(a, "--master-bits")) {
      if (!(v = value(argc, argv, &i, "--master-bits"))) return 1;
      if (strcmp(v, "16") != 0 && strcmp(v, "32") != 0) {
        diag_plain("--master-bits must be 16 or 32 (got '%s')", diag_quote(v));
        return 1;
      }
      o->master_bits = atoi(v);
    } else if (is_opt(a, "--grad-bits")) {
      if (!(v = value(argc, argv, &i, "--grad-bits")) || !int_arg("--grad-bits", v, 2, 8, &o->grad_bits)) return 1;
    } else if (is_opt(a, "--jobs")) {
      if (!(v = value(argc, argv, &i, "--jobs")) || !int_arg("--jobs", v, 1, UNITS_MAX, &o->jobs)) return 1;
    } else if (is_opt(a, "--gemm-kernel")) {
      if (!(v = value(argc, argv, &i, "--gemm-kernel"))) return 1;
      char *end;
      const char *p = v;
      for (int d = 0; d < 3; d++) {
        long x = strtol(p, &end, 10);
        bool last_ok = d == 2 && (!*end || !strcmp(end, ",u"));
        if (end == p || x < 1 || x > 65536 || (d < 2 && *end != ',') || (d == 2 && !last_ok)) {
          diag_plain("--gemm-kernel expects M,N,K or M,N,K,u with each in 1..65536 (got '%s')", diag_quote(v));
          return 1;
        }
        o->gemm[d] = x;
        o->gemm_ua = d == 2 && *end;
        p = end + 1;
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      diag_plain("unknown option '%s' (try --help)", diag_quote(a));
      return 1;
    } else if (o->input) {
      diag_plain("more than one input file ('%s' and '%s')", diag_quote_n(o->input, DIAG_PATH_MAX),
                 diag_quote_n(a, DIAG_PATH_MAX));
      return 1;
    } else {
      o->input = a;
    }
  }
  if (o->gemm[0] && o->emit != EMIT_OBJ && o->emit != EMIT_ASM && o->emit != EMIT_LLVM) {
    diag_plain("--gemm-kernel needs --emit obj, asm or llvm");
    return 1;
  }
  if (!o->input && !o->gemm[0] && !(o->cpu && strcmp(o->cpu, "help") == 0)) {
    diag_plain("no input file (try --help)");
    return 1;
  }
  return -1;
}

static const char *shape_text(Shape s) {
  static char buf[4][64];
  static int k;
  k = (k + 1) & 3;
  snprintf(buf[k], sizeof buf[k], "(%d, %d, %d)", s.c, s.h, s.w);
  return buf[k];
}

static const char *weights_name(int bits) {
  static char buf[16];
  if (bits == 8) return "int8";
  if (bits == 16) return "int16";
  snprintf(buf, sizeof buf, "bits(%d)", bits);
  return buf;
}

/* The recipe's own settings, one line: NITI's update schedule and weights,
 * or the optimizer of a recipe with masters. Decimals print as written. */
static void print_recipe_line(FILE *f, const Recipe *r) {
  if (r->kind == NIT_RECIPE_NITI) {
    fprintf(f, "        niti: update bits(%d)", r->mu[0]);
    for (int i = 1; i < r->nsched; i++) fprintf(f, " then %d at %d", r->mu[i], r->mu_from[i]);
    fprintf(f, ", weights %s, loss softmax_ce%s, decay %s, holdout %d\n", weights_name(r->weight_bits),
            r->loss_table ? "(exp=table)" : "", r->decay ? "on" : "off", r->holdout);
    return;
  }
  fprintf(f, "        %s: lr ", nit_recipe_names[r->kind]);
  if (r->lr_kind == NIT_LR_COSINE)
    fprintf(f, "cosine(%s, period=%d, min=%s)", sema_dec_str(r->lr[0]), r->lr_period, sema_dec_str(r->lr_min));
  else {
    fprintf(f, "%s", sema_dec_str(r->lr[0]));
    for (int i = 1; i < r->nlr; i++) fprintf(f, " then %s at %d", sema_dec_str(r->lr[i]), r->lr_at[i]);
  }
  if (r->warmup) fprintf(f, ", warmup steps(%" PRId64 ", ratio=%s)", r->warmup, sema_dec_str(r->warmup_ratio));
  fprintf(f, ", momentum %s, decay %s, master int%d, bits act=%d weight=%d grad=%d", sema_dec_str(r->momentum),
          sema_dec_str(r->wdecay), r->master_bits, r->bits_act, r->bits_weight, r->bits_grad);
  /* sema checked the grouping: it indexes the shared name table */
  if (r->kind == NIT_RECIPE_SHIFTQUANT)
    fprintf(f, ", groups %s%s", nit_groups_names[r->groups], r->groups_weight ? " weight=channel" : "");
  if (r->kind == NIT_RECIPE_UNIFIED) {
    if (r->clip)
      fprintf(f, ", clip cosine(every=%" PRId64 ", range=%d, grid=%s)", r->clip_every, r->clip_range,
              nit_grid_names[r->clip_grid]);
    else fprintf(f, ", clip off");
    if (r->lrscale)
      fprintf(f, ", lrscale exp(alpha=%s, beta=%s)", sema_dec_str(r->lrs_alpha), sema_dec_str(r->lrs_beta));
    else fprintf(f, ", lrscale off");
  }
  fprintf(f, ", loss softmax_ce(exp=%s), holdout %d\n", r->loss_table ? "table" : "niti", r->holdout);
}

/* --emit shapes: the checked model and its memory plan as a table on stdout.
 * Weighted layers show their init exponent and bound: NITI's fixed w_exp, or
 * under a recipe with masters the master's initial exponent and bound. A
 * normalization layer shows its 2C parameters (gamma, beta) and the elements
 * of one normalization group at the compiled batch. */
static void print_shapes(FILE *f, Model *m, const Plan *p) {
  const Recipe *r = &m->recipe;
  bool masters = r->kind != NIT_RECIPE_NITI;
  const Node *in = &m->nodes[0];
  fprintf(f, "model %s: input %s %s, %d classes\n\n", m->name, in->name, shape_text(in->out), m->classes);
  int wn = 4, wi = 5, wk = 9;
  for (int i = 0; i < m->nnodes; i++) {
    const Node *n = &m->nodes[i];
    int l = (int)strlen(n->name), lk = (int)strlen(sema_op_name(n->op));
    wn = l > wn ? l : wn;
    wk = lk > wk ? lk : wk;
    int li = 0;
    for (int j = 0; j < n->nin; j++) li += (int)strlen(m->nodes[n->in[j]].name) + (j ? 3 : 0);
    wi = li > wi ? li : wi;
  }
  fprintf(f, "%3s  %-*s  %-*s  %-*s  %-16s  %10s  %5s  %5s  %s\n", "#", wn, "name", wk, "kind", wi, "input",
          "output (C, H, W)", "params", masters ? "m_exp" : "w_exp", "bound", "acc fwd/bwd/grad");
  for (int i = 0; i < m->nnodes; i++) {
    const Node *n = &m->nodes[i];
    char ins[600] = "-";
    if (n->nin == 1) snprintf(ins, sizeof ins, "%s", m->nodes[n->in[0]].name);
    else if (n->nin == 2) snprintf(ins, sizeof ins, "%s + %s", m->nodes[n->in[0]].name, m->nodes[n->in[1]].name);
    fprintf(f, "%3d  %-*s  %-*s  %-*s  %-16s  ", i, wn, n->name, wk, sema_op_name(n->op), wi, ins, shape_text(n->out));
    if (op_is_norm(n->op)) {
      fprintf(f, "%10" PRId64 "  %5s  %5s  group %" PRId64 "\n", 2 * (int64_t)n->out.c, "-", "-",
              sema_norm_group(n, r->batch));
    } else if (n->param >= 0) {
      int e = n->w_exp, b = n->w_bound;
      if (masters) sema_master_rule(n->fan_in, r->master_bits, &e, &b);
      fprintf(f, "%10" PRId64 "  %5d  %5d  %s/%s/%s\n", n->nweights, e, b, n->acc64_fwd ? "i64" : "i32",
              n->acc64_bwd ? "i64" : "i32", n->acc64_grad ? "i64" : "i32");
    } else fprintf(f, "%10s  %5s  %5s  %s\n", "-", "-", "-", "-");
  }
  char wname[32];
  if (masters) snprintf(wname, sizeof wname, "int%d masters", r->master_bits);
  else snprintf(wname, sizeof wname, "%s weights", weights_name(r->weight_bits));
  fprintf(f, "\nparameters: %" PRId64 " in %d tensors (%s)\n", m->nparams, m->nptensors, wname);
  /* the same figures as the executable's `info`: both come from plan_build */
  fprintf(f, "memory: params %" PRId64 " bytes, work %" PRId64 " bytes at batch %d\n", p->param_bytes, p->work_bytes,
          r->batch);
  fprintf(f,
          "        work: activations %" PRId64 " bytes (%" PRId64 " of them read by no backward step, %" PRId64
          " max pools' taps) and %" PRId64 " that live in the forward pass alone, over later buffers; errors %" PRId64
          " of their own and %" PRId64 " over dead activations, scratch and the rest %" PRId64 "\n",
          p->act_bytes, p->act_fwd_bytes, p->taps_bytes, p->act_over, p->err_past, p->err_over,
          p->work_bytes - p->act_bytes - p->err_past);
  /* the convs that keep one sample's accumulators per worker (plan.c, plan_ahead) */
  static const char *ahead_pass[] = {[AHEAD_FWD] = "forward", [AHEAD_ERR] = "input error",
                                     [AHEAD_FWD | AHEAD_ERR] = "forward, input error"};
  const char *sep = "        rounding ahead: ";
  for (int i = 1; i < m->nnodes; i++)
    if (p->ahead[i]) {
      fprintf(f, "%s%s (%s)", sep, m->nodes[i].name, ahead_pass[p->ahead[i]]);
      sep = ", ";
    }
  if (sep[0] == ',') fputc('\n', f);
  if (r->bits_grad < 8) /* sub-8-bit errors are stored in their canonical int8 form (docs/recipes.md) */
    fprintf(f,
            "        error buffers %" PRId64
            " bytes as int8 (%d-bit packing, not implemented, would need about %" PRId64 ")\n",
            p->err_bytes, r->bits_grad, (p->err_bytes * r->bits_grad + 7) / 8);
  fprintf(f, "recipe: %s, data \"%s\", batch %d, epochs %d, seed %" PRIu64 "\n", nit_recipe_names[r->kind],
          diag_quote_n(r->data, DIAG_PATH_MAX), r->batch, r->epochs, r->seed);
  /* sema checked the modes: each indexes the shared name table */
  fprintf(f, "        rounding act=%s err=%s grad=%s", nit_round_names[r->act_round], nit_round_names[r->err_round],
          nit_round_names[r->grad_round]);
  if (masters) fprintf(f, " view=%s update=%s", nit_round_names[r->view_round], nit_round_names[r->update_round]);
  fprintf(f, "\n");
  print_recipe_line(f, r);
}

/* --emit shapes to stdout, or to -o's file (removed again when writing fails). */
static int write_shapes(Model *m, const char *output) {
  Plan *p = plan_build(m);
  if (!p) return 1;
  FILE *f = output ? fopen(output, "w") : stdout;
  if (!f) {
    diag_plain("cannot write '%s': %s", diag_quote_n(output, DIAG_PATH_MAX), strerror(errno));
    return 1;
  }
  print_shapes(f, m, p);
  bool ok = fflush(f) == 0 && !ferror(f);
  int e = errno;
  if (output) {
    ok &= fclose(f) == 0;
    if (!ok) {
      diag_plain("cannot write '%s': %s", diag_quote_n(output, DIAG_PATH_MAX), strerror(e ? e : errno));
      struct stat st; /* a half-written table, not a device such as /dev/full */
      if (stat(output, &st) == 0 && S_ISREG(st.st_mode)) remove(output);
    }
  }
  return ok ? 0 : 1;
}

/* Read, parse and check the input, then the output --emit asks for.
 * Returns the exit status. */
static int compile(const Options *opt) {
  int err;
  Source *src = source_read(opt->input, &err);
  if (!src) {
    diag_read_error(opt->input, err);
    return 1;
  }
  diag_begin(src);
  Ast *prog = parse_source(src);
  if (!prog) return 1;
  SemaOverrides ov = {
      .batch = opt->batch,
      .weight_bits = opt->weight_bits,
      .recipe = opt->recipe,
      .master_bits = opt->master_bits,
      .grad_bits = opt->grad_bits,
  };
  Model *m = sema_check(prog, &ov);
  if (!m) return 1;
  m->keep_tensors = opt->keep_tensors;
  timing_mark("front end: read, parse, check");

  switch (opt->emit) {
  case EMIT_CHECK: /* the memory plan is part of the check: its limit is a user error */ return plan_build(m) ? 0 : 1;
  case EMIT_SHAPES: return write_shapes(m, opt->output);
  default:
    return emit_program(m, opt) == 0 ? 0 : 1;
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "plot") == 0) return plot_main(argc - 1, argv + 1);
  Options opt;
  int rc = parse_args(argc, argv, &opt);
  if (rc >= 0) return rc;
  env_check();
  if (opt.cpu && strcmp(opt.cpu, "help") == 0) return emit_list_cpus(&opt);
  if (opt.time_report) timing_start();
  rc = opt.gemm[0] ? (emit_program(NULL, &opt) == 0 ? 0 : 1) : compile(&opt);
  timing_print();
  return rc;
}
