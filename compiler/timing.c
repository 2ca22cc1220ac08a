/*
 * timing.c: where a compile's time goes (--time-report).
 *
 * The main thread marks the end of each phase (timing_mark); each code
 * generation unit records its own optimizer and code generator times from
 * its thread (timing_unit, one slot per unit, written by that unit only,
 * read after the threads are joined). timing_print writes the table to
 * stderr. Wall times come from CLOCK_MONOTONIC; CPU times are the
 * process's, plus its children's (the linker) once they have been waited
 * for, and a unit's are its thread's. Everything is in whole microseconds.
 * Off (the default), every call returns at once.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "nitc.h"

enum { PHASES_MAX = 16 };

typedef struct Phase {
  const char *name;
  int64_t wall_us, cpu_us; /* spent in the phase */
} Phase;

typedef struct UnitTime {
  bool done;
  int64_t opt_us, cg_us, cpu_us; /* wall in the optimizer, in the code generator; thread CPU */
} UnitTime;

static struct {
  bool on;
  int64_t wall0, cpu0; /* start of the current phase */
  int64_t start_wall, start_cpu;
  Phase phases[PHASES_MAX];
  int nphases;
  UnitTime units[UNITS_MAX];
} T;

static int64_t us(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000 + t->tv_nsec / 1000; }

int64_t timing_clock(int clock) {
  struct timespec t;
  clock_gettime(clock == TIMING_WALL ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &t);
  return us(&t);
}

/* this process's CPU time and that of its children waited for */
static int64_t process_cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  struct rusage ru;
  int64_t children = 0;
  if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
    children = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
               ru.ru_stime.tv_usec;
  return us(&t) + children;
}

void timing_start(void) {
  T.on = true;
  T.start_wall = T.wall0 = timing_clock(TIMING_WALL);
  T.start_cpu = T.cpu0 = process_cpu();
}

bool timing_on(void) { return T.on; }

void timing_mark(const char *phase) {
  if (!T.on || T.nphases == PHASES_MAX) return;
  int64_t w = timing_clock(TIMING_WALL), c = process_cpu();
  T.phases[T.nphases++] = (Phase){phase, w - T.wall0, c - T.cpu0};
  T.wall0 = w, T.cpu0 = c;
}

void timing_unit(int u, int64_t opt_us, int64_t cg_us, int64_t cpu_us) {
  if (!T.on || u < 0 || u >= UNITS_MAX) return;
  T.units[u] = (UnitTime){true, opt_us, cg_us, cpu_us};
}

/* microseconds as seconds with three decimals, into buf */
static const char *secs(int64_t v, char *buf, size_t cap) {
  snprintf(buf, cap, "%lld.%03lld", (long long)(v / 1000000), (long long)(v % 1000000 / 1000));
  return buf;
}

static void row(const char *name, int64_t wall_us, int64_t cpu_us) {
  char w[32], c[32];
  fprintf(stderr, "  %-34s %9s %9s\n", name, secs(wall_us, w, sizeof w), secs(cpu_us, c, sizeof c));
}

void timing_print(void) {
  if (!T.on) return;
  fprintf(stderr, "nitc: time report, seconds %18s %9s\n", "wall", "CPU");
  for (int i = 0; i < T.nphases; i++) row(T.phases[i].name, T.phases[i].wall_us, T.phases[i].cpu_us);
  row("total", timing_clock(TIMING_WALL) - T.start_wall, process_cpu() - T.start_cpu);
  char a[32], b[32], c[32];
  for (int u = 0; u < UNITS_MAX; u++)
    if (T.units[u].done)
      fprintf(stderr, "  unit %d: optimizer %s, code generator %s (wall); thread CPU %s\n", u,
              secs(T.units[u].opt_us, a, sizeof a), secs(T.units[u].cg_us, b, sizeof b),
              secs(T.units[u].cpu_us, c, sizeof c));
}
