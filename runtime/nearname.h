/*
 * nearname.h: "did you mean": the edit distance of two names (with adjacent
 * transpositions, over their first 32 bytes) and the rule for a plausible
 * typo. One definition for the compiler's diagnostics and the training
 * executable's command line; plain C, no dependencies.
 */
#ifndef NEARNAME_H
#define NEARNAME_H

#include <stdbool.h>

static inline int nit_name_len32(const char *s) {
  int n = 0;
  while (n < 32 && s[n]) n++;
  return n;
}

static inline int nit_edit_distance(const char *a, const char *b) {
  int la = nit_name_len32(a), lb = nit_name_len32(b);
  int d[33][33];
  for (int i = 0; i <= la; i++) d[i][0] = i;
  for (int j = 0; j <= lb; j++) d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

/* A plausible typo of cand: none for names of 1-2 characters. */
static inline bool nit_close_to(const char *typed, const char *cand) {
  int len = nit_name_len32(typed);
  int lim = len < 3 ? 0 : len < 5 ? 1 : len < 9 ? 2 : 3;
  return nit_edit_distance(typed, cand) <= lim;
}

#endif
