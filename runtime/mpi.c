/*
 * mpi.c: the ranks of data-parallel training (docs/scaleout.md), the only
 * file of the runtime that calls MPI.
 *
 * Built with -DNITRT_MPI (by mpicc, into libnitrt_mpi-<triple>.a, which
 * `nitc --mpi` links) it runs MPI; without it (libnitrt-<triple>.a, every
 * plain executable) the same interface is one rank that never
 * communicates, so the rest of the runtime has one code path.
 *
 * MPI is started only when a launcher started the process (mpirun, srun:
 * their environment variables say so); run directly, an executable linked
 * with MPI is one process, exactly like a plain one, and pays nothing for
 * MPI_Init. Every call comes from the thread that runs the steps
 * (MPI_THREAD_FUNNELED): the collectives of generated code are called at
 * step level, never from the workers of parallel_for.
 *
 * The collectives, each an MPI_Allreduce over MPI_COMM_WORLD in place:
 *   - the step's (NitCtx.allmax, allsum): MAX of int64 exponent statistics,
 *     exact SUM of int32 or int64 weight gradients (counts above INT_MAX
 *     go in chunks);
 *   - the runtime's own: exact int64 sums (the epoch's loss and counts,
 *     evaluation counts), the stop flag (MAX), "all ok" after every phase
 *     that can fail on one rank (MIN over the first failing rank), and the
 *     check that 64-bit values agree on every rank (MAX of v and of ~v).
 *
 * Messages: rank 0 prints as one process does. Other ranks drop their
 * warnings (rank 0 has the same ones) and hold their first error
 * (util.c); "all ok" has the first failing rank print its error, prefixed
 * "rank r:", and the others drop theirs, so a failure is told once and
 * ends every rank.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "nitrt.h"

#ifdef NITRT_MPI
#include <mpi.h>
#endif

static int32_t my_rank = 0, nranks = 1, node_ranks = 1;
static bool started;        /* MPI_Init_thread was called */
static bool failure_agreed; /* an "all ok" has returned false */

int32_t nitrt_mpi_rank(void) { return my_rank; }
int32_t nitrt_mpi_size(void) { return nranks; }
int32_t nitrt_mpi_node_size(void) { return node_ranks; }

/* One rank on the node: the cores this process may run on. Several: the
 * online cores shared by them, and under a launcher at most the cores this
 * rank may run on (mpirun binds each rank to one core when it starts 2 or
 * fewer, unless told --bind-to none; a rank bound to several already has
 * its share, which dividing again would halve). */
int32_t nitrt_mpi_threads_default(void) {
  if (node_ranks == 1) return nitrt_threads_default(); /* the cores this process may run on */
  int32_t t = nitrt_cores_online() / node_ranks, a = started ? nitrt_cores_allowed() : 0;
  if (a >= 1 && a < t) t = a;
  return t < 1 ? 1 : t;
}

void nitrt_mpi_slice(int64_t n, int64_t *lo, int64_t *hi) {
  *lo = n * my_rank / nranks;
  *hi = n * (my_rank + 1) / nranks;
}

#ifdef NITRT_MPI

static MPI_Comm world;

bool nitrt_mpi_linked(void) { return true; }

/* Whether a launcher started this process: Open MPI's mpirun, PMIx
 * launchers, MPICH's hydra and Slurm's PMI. */
static bool launched(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    if (getenv(vars[i])) return true;
  return false;
}

int nitrt_mpi_init(int *argc, char ***argv) {
  if (!launched()) return 0;
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    nitrt_error("MPI_Init_thread failed");
    return -1;
  }
  started = true;
  world = MPI_COMM_WORLD;
  if (provided < MPI_THREAD_FUNNELED) {
    nitrt_error("the MPI library provides thread level %d, below MPI_THREAD_FUNNELED", provided);
    return -1;
  }
  int r = 0, s = 1, ns = 1;
  MPI_Comm_rank(world, &r);
  MPI_Comm_size(world, &s);
  MPI_Comm node;
  if (MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &ns);
    MPI_Comm_free(&node);
  }
  my_rank = r;
  nranks = s;
  node_ranks = ns < 1 ? 1 : ns;
  if (nranks > 1) nitrt_msg_rank = my_rank;
  return 0;
}

void nitrt_mpi_finalize(void) {
  nitrt_msg_release(true); /* an error no "all ok" told */
  if (started) MPI_Finalize();
  started = false;
}

void nitrt_mpi_library(char *buf, size_t cap) {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (cap == 0) return;
  buf[0] = '\0';
  if (MPI_Get_library_version(v, &len) != MPI_SUCCESS) return;
  v[len > 0 && len < MPI_MAX_LIBRARY_VERSION_STRING ? len : 0] = '\0';
  size_t n = strcspn(v, "\n,"); /* "Open MPI v4.1.4": the first item */
  if (n >= cap) n = cap - 1;
  memcpy(buf, v, n);
  buf[n] = '\0';
}

/* MPI_Allreduce in place of count elements of type t, in chunks that fit
 * MPI's int counts. */
static void allreduce(void *v, int64_t count, MPI_Datatype t, size_t width, MPI_Op op) {
  uint8_t *p = v;
  while (count > 0) {
    int c = count > INT_MAX ? INT_MAX : (int)count;
    MPI_Allreduce(MPI_IN_PLACE, p, c, t, op, world);
    p += (size_t)c * width;
    count -= c;
  }
}

static void step_allmax(void *comm, int64_t *v, int64_t count) {
  (void)comm;
  allreduce(v, count, MPI_INT64_T, 8, MPI_MAX);
}

static void step_allsum(void *comm, void *v, int64_t count, int32_t width) {
  (void)comm;
  if (width == 4) allreduce(v, count, MPI_INT32_T, 4, MPI_SUM);
  else allreduce(v, count, MPI_INT64_T, 8, MPI_SUM);
}

void nitrt_mpi_shard(NitCtx *c, int64_t gn, int64_t row0) {
  c->gn = (int32_t)gn;
  c->row0 = row0;
  if (nranks > 1) {
    c->comm = &world;
    c->allmax = step_allmax;
    c->allsum = step_allsum;
  }
}

bool nitrt_mpi_ok(bool ok) {
  if (nranks == 1) return ok;
  int first = ok ? nranks : my_rank; /* the first failing rank, or nranks */
  MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, world);
  if (first == nranks) {
    nitrt_msg_release(false);
    return true;
  }
  /* rank 0 printed its own error already; another prints the one it holds */
  nitrt_msg_release(first == my_rank);
  failure_agreed = true;
  return false;
}

void nitrt_mpi_sum(int64_t *v, int64_t count) {
  if (nranks > 1) allreduce(v, count, MPI_INT64_T, 8, MPI_SUM);
}

int32_t nitrt_mpi_max(int32_t v) {
  if (nranks == 1) return v;
  int x = v;
  MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT, MPI_MAX, world);
  return x;
}

#define SAME_MAX 8
void nitrt_mpi_same(const uint64_t *v, int32_t count, bool *same) {
  uint64_t w[2 * SAME_MAX];
  for (int32_t j = 0; j < count; j++) same[j] = true;
  if (nranks == 1 || count < 1 || count > SAME_MAX) return;
  for (int32_t j = 0; j < count; j++) {
    w[2 * j] = v[j];
    w[2 * j + 1] = ~v[j];
  }
  MPI_Allreduce(MPI_IN_PLACE, w, 2 * count, MPI_UINT64_T, MPI_MAX, world);
  for (int32_t j = 0; j < count; j++) same[j] = w[2 * j] == ~w[2 * j + 1]; /* max == min */
}

#else /* one rank */

bool nitrt_mpi_linked(void) { return false; }

int nitrt_mpi_init(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *n = getenv("OMPI_COMM_WORLD_SIZE");
  if (!n) n = getenv("PMI_SIZE");
  if (n && strtol(n, NULL, 10) > 1)
    nitrt_warn("started as one of %s processes, but built without MPI: each process runs alone (for data "
               "parallelism, build with nitc --mpi)",
               n);
  return 0;
}

void nitrt_mpi_finalize(void) {}

void nitrt_mpi_library(char *buf, size_t cap) {
  if (cap) buf[0] = '\0';
}

void nitrt_mpi_shard(NitCtx *c, int64_t gn, int64_t row0) {
  c->gn = (int32_t)gn;
  c->row0 = row0;
}

bool nitrt_mpi_ok(bool ok) { return ok; }

void nitrt_mpi_sum(int64_t *v, int64_t count) {
  (void)v;
  (void)count;
}

int32_t nitrt_mpi_max(int32_t v) { return v; }

void nitrt_mpi_same(const uint64_t *v, int32_t count, bool *same) {
  (void)v;
  for (int32_t j = 0; j < count; j++) same[j] = true;
}

#endif

void nitrt_mpi_fail(void) {
  if (!failure_agreed) nitrt_mpi_ok(false);
  failure_agreed = true;
}
