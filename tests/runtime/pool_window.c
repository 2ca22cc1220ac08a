/*
 * pool_window.c: the pool's jobs with a window of NITRT_POOL_WINDOW_NS
 * between the caller's writing of a job's fields and its publication
 * (runtime/threads.c, compiled into this test with it). Calls alternate
 * between 1, 2 and 3 or more chunks, so an executor that read the job
 * before often meets the next one's fields in that window. Every item must
 * be visited once: when a job's number and its count of chunks were two
 * words, such an executor claimed a chunk the old job did not have and ran
 * it with the next job's fields, and the next job ran it again (a quarter
 * to a half of the calls at three and five threads).
 */
#include <check.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "nitrt.h"

enum { ITEMS = 24, CALLS = 4000 };

typedef struct Visits {
  atomic_int seen[ITEMS];
} Visits;

static void visit(void *env, int64_t lo, int64_t hi, int32_t worker) {
  Visits *v = env;
  (void)worker;
  for (int64_t i = lo; i < hi; i++) atomic_fetch_add(&v->seen[i], 1);
}

START_TEST(pool_window_visits_once) {
  int threads[] = {3, 5};
  for (int t = 0; t < 2; t++) {
    NitPool *p = nitrt_pool_new(threads[t]);
    ck_assert_ptr_nonnull(p);
    int bad = 0, first = -1;
    for (int call = 0; call < CALLS; call++) {
      Visits v;
      memset(&v, 0, sizeof v);
      int count = 1 + call % ITEMS, maxw = 1 + call % 4;
      nitrt_parallel_for(p, visit, &v, count, maxw);
      for (int i = 0; i < count; i++)
        if (atomic_load(&v.seen[i]) != 1) {
          if (first < 0) first = call;
          bad++;
          break;
        }
    }
    nitrt_pool_free(p);
    ck_assert_msg(bad == 0, "%d threads: %d of %d calls visited an item other than once (the first: call %d)",
                  threads[t], bad, CALLS, first);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("pool_window");
  TCase *tc = tcase_create("pool_window");
  tcase_add_test(tc, pool_window_visits_once);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
