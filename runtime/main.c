/*
 * main.c: the program on top of the library. nitrt_main parses the command
 * line (cli.c) and runs one command: train (train.c), eval and predict
 * (infer.c), info (report.c). Nothing below this file calls back up into
 * it, so the modules form a stack: util, recipe, fixed, threads, mpi at
 * the bottom; cli, data, ckpt above them; train, infer, report; then this.
 * With several ranks (mpirun, docs/scaleout.md) train and eval run on
 * every rank, the other commands on rank 0 alone.
 *
 * main() is the only other function here: test programs that define their
 * own main link libnitrt without pulling this object in.
 */
#include <string.h>

#include "nitrt.h"

int nitrt_main(int argc, char **argv) {
  if (argc > 0 && argv[0]) {
    const char *s = strrchr(argv[0], '/');
    nitrt_prog = s ? s + 1 : argv[0];
  }
  if (nitrt_mpi_init(&argc, &argv)) {
    nitrt_mpi_finalize();
    return 1;
  }
  Options o;
  memset(&o, 0, sizeof o);
  bool ok = true;
  if (nit_model.abi != NIT_ABI_VERSION) {
    nitrt_error("model '%s' uses ABI %u but this runtime implements ABI %d; rebuild "
                "with a matching nitc",
                nit_model.name, (unsigned)nit_model.abi, NIT_ABI_VERSION);
    ok = false;
  }
  if (ok && nitrt_parse_args(argc, argv, &o)) ok = false;
  /* with several ranks: train and eval run on every rank (data parallel),
     the other commands on rank 0 alone */
  if (!nitrt_mpi_ok(ok)) {
    nitrt_mpi_finalize();
    return 1;
  }
  int rc = 0;
  if (nitrt_mpi_rank() == 0 || o.cmd == CMD_TRAIN || o.cmd == CMD_EVAL) switch (o.cmd) {
    case CMD_TRAIN: rc = nitrt_cmd_train(&o); break;
    case CMD_EVAL: rc = nitrt_cmd_eval(&o); break;
    case CMD_PREDICT: rc = nitrt_cmd_predict(&o); break;
    case CMD_EXPORT: rc = nitrt_cmd_export(&o); break;
    case CMD_INFO: rc = nitrt_cmd_info(); break;
    case CMD_INSPECT: rc = nitrt_cmd_inspect(&o); break;
    case CMD_HELP: nitrt_usage(stdout); break;
    case CMD_VERSION:
      printf("%s (model %s), runtime nitrt %s, built by %s for %s\n", nitrt_prog, nit_model.name, NITRT_VERSION,
             nit_model.compiler ? nit_model.compiler : "?", nit_model.target ? nit_model.target : "?");
      break;
    }
  if (fflush(stdout) != 0 && rc == 0) {
    nitrt_error("cannot write to standard output");
    rc = -1;
  }
  nitrt_mpi_finalize();
  return rc < 0 ? 1 : rc; /* 0, 1 after an error, 130 after an interrupt */
}

int main(int argc, char **argv) { return nitrt_main(argc, argv); }
