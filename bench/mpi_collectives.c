/*
 * mpi_collectives.c: the two collectives of a data-parallel step, timed
 * alone (docs/scaleout.md, "Cost model"): the latency of a MAX all-reduce
 * of one int64 (what generated code does at every batch statistic) and
 * the bandwidth of an int32 SUM all-reduce in place (the weight
 * gradients) at payloads from 64 KiB to 8 MiB. Each figure is the median
 * of 7 rounds, each round the mean over many calls after warm-up calls.
 * Rank 0 prints; bandwidth is payload bytes per second of one all-reduce
 * (what a rank hands in, not what crosses the wire).
 *   mpicc -O2 bench/mpi_collectives.c -o mpi_collectives
 *   mpirun -np 2 ./mpi_collectives
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define ROUNDS 7

/* Median over ROUNDS of the mean nanoseconds of one call among `calls`. */
static int64_t time_calls(void *buf, int count, MPI_Datatype t, MPI_Op op, int calls) {
  int64_t r[ROUNDS];
  for (int w = 0; w < calls / 10 + 1; w++) MPI_Allreduce(MPI_IN_PLACE, buf, count, t, op, MPI_COMM_WORLD);
  for (int k = 0; k < ROUNDS; k++) {
    MPI_Barrier(MPI_COMM_WORLD);
    int64_t t0 = bench_now_ns();
    for (int c = 0; c < calls; c++) MPI_Allreduce(MPI_IN_PLACE, buf, count, t, op, MPI_COMM_WORLD);
    int64_t ns = bench_now_ns() - t0;
    /* the slowest rank's time is the collective's */
    MPI_Allreduce(MPI_IN_PLACE, &ns, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    r[k] = ns / calls;
  }
  return bench_median(r, ROUNDS);
}

int main(int argc, char **argv) {
  int provided, rank, size;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int len;
  MPI_Get_library_version(lib, &len);
  int64_t v[2] = {rank, -rank};
  int64_t max1 = time_calls(v, 1, MPI_INT64_T, MPI_MAX, 20000);
  int64_t max2 = time_calls(v, 2, MPI_INT64_T, MPI_MAX, 20000);
  if (rank == 0) {
    int n = 0;
    while (lib[n] && lib[n] != ',' && lib[n] != '\n') n++;
    printf("%.*s, %d ranks\n", n, lib, size);
    printf("MAX all-reduce, 1 int64:  %lld.%03lld us\n", (long long)(max1 / 1000), (long long)(max1 % 1000));
    printf("MAX all-reduce, 2 int64:  %lld.%03lld us\n", (long long)(max2 / 1000), (long long)(max2 % 1000));
  }
  static const int kib[] = {64, 256, 1024, 2327, 4096, 8192};
  for (size_t s = 0; s < sizeof kib / sizeof kib[0]; s++) {
    int count = kib[s] * 256; /* int32 elements */
    int32_t *g = malloc((size_t)count * sizeof *g);
    if (!g) MPI_Abort(MPI_COMM_WORLD, 2);
    for (int j = 0; j < count; j++) g[j] = (j % 255) - 127 + rank;
    int calls = kib[s] >= 1024 ? 50 : 400;
    int64_t ns = time_calls(g, count, MPI_INT32_T, MPI_SUM, calls);
    if (rank == 0) {
      int64_t bytes = (int64_t)count * 4, mbs = ns > 0 ? bytes * 1000 / ns : 0; /* bytes/ns = GB/s; x1000: MB/s */
      printf("SUM all-reduce, int32, %5d KiB: %6lld us  %5lld MB/s\n", kib[s], (long long)(ns / 1000), (long long)mbs);
    }
    free(g);
  }
  MPI_Finalize();
  return 0;
}
