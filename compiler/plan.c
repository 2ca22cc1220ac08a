/*
 * plan.c: the static memory plan of a training step.
 *
 * Every tensor of a step has a size known at compile time (per-sample shape
 * times the compiled maximum batch), so the whole step lives in one work slab
 * that the runtime allocates once. Each node gets an int8 activation buffer and
 * an int8 error buffer for its output; flatten (a no-op on data) and dropout in
 * eval share their input's buffers. One accumulator scratch serves every
 * requantization in turn (forward accumulators, input-error accumulators),
 * sized for the largest batch of them that a kernel keeps: a conv whose
 * batch of accumulators would be large rounds ahead instead and keeps one
 * sample's per worker (plan_ahead). A second scratch holds fan-out error
 * sums; one gradient scratch serves every weight update in turn.
 *
 * The GEMM-shaped kernels (cg/gemm.c, cg/conv.c, cg/dense.c) need scratch of their own: `pack` holds
 * one layer's packed operands (weight panels, transposed errors, input
 * panels of a dense layer, the regrouped weights of a conv), and every
 * worker of a parallel kernel owns a slice of `col` (one sample's B operand:
 * rows and panels, then a zero-padded copy of the sample's input or error
 * planes) and of `gpart` (its partial conv weight gradient). The number of
 * worker slices is PLAN_MAX_WORKERS, fewer when the slices would exceed
 * PLAN_WORKER_BYTES; the runtime never runs more workers than that.
 *
 * The activations that a backward step reads lie in one run, in node
 * order, and survive until it. Where the activations are large, max pools
 * keep their taps so that their inputs need not survive (plan_taps), and
 * the activations no backward step reads live in the forward pass alone,
 * over later activations and the errors (place_fwd). Error buffers are
 * placed by lifetime (place_errors): two errors whose lives do not meet
 * share bytes, and an error may lie over activations whose backward steps
 * have all passed.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geom.h"
#include "nitc.h"

static int64_t align_up(int64_t v) { return rup(v, SLAB_ALIGN); }

/* Where `bytes` start to sit in the middle of an area of `area` bytes, on a
 * cache line: the accumulators, the gradients and the error buffers (why:
 * at acc_at below). */
static int64_t centred(int64_t area, int64_t bytes) { return (area - bytes) / 2 / SLAB_ALIGN * SLAB_ALIGN; }
static int64_t per_sample(const Shape *s) { return (int64_t)s->c * s->h * s->w; }

int64_t plan_ptensor(const Model *m, int t, const Node **owner) {
  for (int i = 0; i < m->nnodes; i++) {
    const Node *nd = &m->nodes[i];
    if (nd->param < 0 || t < nd->param) continue;
    if (t == nd->param && nd->nweights > 0) {
      *owner = nd;
      return nd->nweights;
    }
    if (nd->nweights == 0 && t <= nd->param + 1) { /* norm layer: gamma, beta (C) */
      *owner = nd;
      return nd->out.c;
    }
  }
  diag_internal(__FILE__, __LINE__, "no such parameter tensor");
}

/* The plan lives as long as the model: in the front end's arena. */
static void *zalloc(size_t n) { return mem_alloc(n); }

static Buf take(int64_t *top, int64_t bytes) {
  Buf b = {*top, bytes};
  *top = align_up(*top + bytes);
  return b;
}

/* Unified's error sites (docs/recipes.md, "The unified recipe"): the site
 * that produces node j's output error (spec §4): SUM(j) for two or more
 * contributions (the loss counts on the output node), LOSS for the output
 * node, else its single consumer's own site when that consumer passes errors
 * through (ReLU, flatten, dropout, add, pools whose windows cannot overlap),
 * else the consumer's ERR; 0 when nothing consumes j. */
static uint32_t site_of(const Model *m, const Plan *p, int j) {
  if (p->nconsumers[j] + (j == m->output) >= 2) return NIT_TID_SUM(j);
  if (j == m->output) return NIT_TID_LOSS;
  for (int c = j + 1; c < m->nnodes; c++) {
    const Node *nd = &m->nodes[c];
    if (nd->nin < 1 || (nd->in[0] != j && (nd->nin < 2 || nd->in[1] != j))) continue;
    bool pass = nd->op == OP_RELU || nd->op == OP_FLATTEN || nd->op == OP_DROPOUT || nd->op == OP_ADD ||
                ((nd->op == OP_MAXPOOL || nd->op == OP_AVGPOOL) && nd->sh >= nd->kh && nd->sw >= nd->kw);
    return pass ? site_of(m, p, c) : NIT_TID_ERR(c);
  }
  return 0;
}

/* The DSGC sites (the sites of weighted nodes' output errors), their state
 * in the params slab, the multiplier slots and the kernel's scratch, sized
 * for the largest error (or the loss's). */
static void plan_clip(Model *m, Plan *p, int64_t *top, int64_t B) {
  int n = m->nnodes;
  p->site_tid = zalloc(sizeof(uint32_t) * (size_t)n);
  p->node_site = zalloc(sizeof(int) * (size_t)n);
  p->nsites = 0;
  for (int i = 0; i < n; i++) {
    p->node_site[i] = -1;
    if (i == 0 || m->nodes[i].param < 0) continue;
    uint32_t tid = site_of(m, p, i);
    if (!tid) continue;
    int k = 0;
    while (k < p->nsites && p->site_tid[k] != tid) k++;
    if (k == p->nsites) p->site_tid[p->nsites++] = tid;
    p->node_site[i] = k;
  }
  p->clip_off = p->param_bytes;
  p->param_bytes = align_up(p->param_bytes + (int64_t)(p->nsites > 0 ? p->nsites : 1) * 16);
  p->mu_off = take(top, (int64_t)n * 16).off;
  int64_t big = B * m->classes;
  for (int i = 0; i < n; i++)
    if (p->needs_err[i] && B * per_sample(&m->nodes[i].out) > big) big = B * per_sample(&m->nodes[i].out);
  p->clip = take(top, NIT_CLIP_SCRATCH(big) * 8 + 16);
}

/* r is a relu whose backward its only consumer could do: nothing else reads
 * the relu's output error, and an error flows into its input. */
static bool relu_foldable(const Model *m, const Plan *p, int r) {
  const Node *nr = &m->nodes[r];
  return r > 0 && nr->op == OP_RELU && p->nconsumers[r] == 1 && r != m->output && nr->in[0] > 0 &&
         p->needs_err[nr->in[0]];
}

static bool bufs_meet(Buf x, Buf y) { return x.off < y.off + y.bytes && y.off < x.off + x.bytes; }

/* An arena array of n elements of esize bytes with room for one more: the
 * same array, or a copy twice as large (*cap updated). */
static void *room(void *a, int n, int *cap, size_t esize) {
  if (n < *cap) return a;
  *cap = *cap ? 2 * *cap : 4;
  void *b = zalloc(esize * (size_t)*cap);
  if (n) memcpy(b, a, esize * (size_t)n);
  return b;
}

/* A set of bytes as disjoint runs in offset order (a few runs: the errors
 * reuse the same bytes over and over). */
typedef struct Runs {
  Buf *r;
  int n, cap;
} Runs;

static void runs_add(Runs *u, Buf b) {
  int i = 0;
  while (i < u->n && u->r[i].off + u->r[i].bytes < b.off) i++;
  int j = i; /* runs [i, j) touch b: merge them into it */
  int64_t lo = b.off, hi = b.off + b.bytes;
  while (j < u->n && u->r[j].off <= hi) {
    if (u->r[j].off < lo) lo = u->r[j].off;
    if (u->r[j].off + u->r[j].bytes > hi) hi = u->r[j].off + u->r[j].bytes;
    j++;
  }
  if (j == i) { /* a new run at i */
    u->r = room(u->r, u->n, &u->cap, sizeof(Buf));
    memmove(u->r + i + 1, u->r + i, sizeof(Buf) * (size_t)(u->n - i));
    u->n++;
  } else if (j > i + 1) {
    memmove(u->r + i + 1, u->r + j, sizeof(Buf) * (size_t)(u->n - j));
    u->n -= j - i - 1;
  }
  u->r[i] = (Buf){lo, hi - lo};
}

static bool runs_meet(const Runs *u, Buf b) {
  for (int i = 0; i < u->n; i++)
    if (bufs_meet(u->r[i], b)) return true;
  return false;
}

/* A node in an order: by k1, then k2, both decreasing, then by index. */
typedef struct Ranked {
  int64_t k1, k2;
  int a;
} Ranked;

static int by_rank(const void *x, const void *y) {
  const Ranked *p = x, *q = y;
  if (p->k1 != q->k1) return p->k1 > q->k1 ? -1 : 1;
  if (p->k2 != q->k2) return p->k2 > q->k2 ? -1 : 1;
  return p->a - q->a;
}

/* The nodes a of list[0..n) ranked by (k1[a], k2[a]), into out. */
static void rank(const int *list, int n, const int64_t *k1, const int64_t *k2, int *out) {
  Ranked *r = zalloc(sizeof(Ranked) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) r[i] = (Ranked){k1[list[i]], k2[list[i]], list[i]};
  qsort(r, (size_t)n, sizeof *r, by_rank);
  for (int i = 0; i < n; i++) out[i] = r[i].a;
}

/* The backward steps that read no activation: the residual add's and the
 * average pool's pass their errors on, dropout's draws its mask again
 * (cg/pool.c), and flatten's is no step. */
static bool bwd_reads_none(const Node *nd) {
  return nd->op == OP_ADD || nd->op == OP_AVGPOOL || nd->op == OP_DROPOUT || nd->op == OP_FLATTEN;
}

/* When each activation (alias root) is last read, in backward time (0:
 * the loss at most): by the backward step of every node that reads it. A
 * node's backward step reads its inputs' activations, and its own output
 * too unless it is a dense or conv layer (whose backward step reads its
 * input, its weights and its error) or a relu whose backward another layer
 * does (relu_pool, relu_err), which reads nothing. A max pool that keeps
 * its taps (pool_taps) reads its own buffer alone. Where the activations
 * that no backward step reads live apart (fwd_apart), those that read none
 * (bwd_reads_none) are known to; elsewhere they count as reading their
 * inputs and output, as they did before, which leaves the plans of the
 * smaller networks as they were. */
static void act_lives(const Model *m, const Plan *p, int64_t *act_end) {
  int n = m->nnodes;
  for (int j = 1; j < n; j++) {
    const Node *nd = &m->nodes[j];
    if (p->relu_pool[j] || p->relu_err[j]) continue;
    if (p->fwd_apart && bwd_reads_none(nd)) continue;
    int64_t t = n - j, r = p->act_alias[j];
    if (nd->op != OP_DENSE && nd->op != OP_CONV && t > act_end[r]) act_end[r] = t;
    if (p->pool_taps[j]) continue; /* it reads its own buffer's taps, not its input */
    for (int s = 0; s < nd->nin; s++) {
      int q = p->act_alias[nd->in[s]];
      if (t > act_end[q]) act_end[q] = t;
    }
  }
}

/* The bytes of the run's activations that no backward step reads
 * (act_lives: last read at time 0, by the loss at most): the logits, in
 * every example, and those forward-only activations that are not placed
 * apart (place_fwd; below PLAN_TAPS_BYTES). */
static int64_t fwd_only_bytes(const Model *m, const Plan *p) {
  int n = m->nnodes;
  int64_t *act_end = zalloc(sizeof(int64_t) * (size_t)n), bytes = 0;
  act_lives(m, p, act_end);
  for (int j = 1; j < n; j++)
    if (p->act_alias[j] == j && act_end[j] == 0 && !p->act_fwd[j]) bytes += p->act[j].bytes;
  return bytes;
}

/* Disjoint max pools that keep their taps (cg/pool.c, maxpool_body): the
 * forward stores, after the pool's output in its own buffer, each window's
 * first maximum as a tap ky kw + kx (POOL_TAP_NONE where the relu folded
 * into the pool passes nothing), and the backward routes the errors by the
 * taps instead of finding the maxima again in the pool's input. Taken
 * where the input's activation (alias root) is then read by no backward
 * step, and so lives only in the forward pass, over later buffers
 * (place_fwd): in vgg_small the relu outputs before its three pools, 115
 * of the 245 KB of activations a sample, give way to 28 KB of taps. Not for
 * the input x, nor the logits. The same bytes either way: the taps are the
 * maxima the backward would have found. */
static void plan_taps(const Model *m, Plan *p, bool on) {
  int n = m->nnodes;
  for (int j = 1; j < n; j++) {
    const Node *nd = &m->nodes[j];
    p->pool_taps[j] = on && nd->op == OP_MAXPOOL && nd->nin == 1 && pool_disjoint(nd) &&
                      (int64_t)nd->kh * nd->kw <= POOL_TAPS_MAX && p->act_alias[j] == j;
  }
  int64_t *act_end = zalloc(sizeof(int64_t) * (size_t)n);
  act_lives(m, p, act_end);
  for (int j = 1; j < n; j++) {
    int r = p->act_alias[m->nodes[j].in[0]];
    if (p->pool_taps[j] && (r == 0 || r == p->act_alias[m->output] || act_end[r] > 0)) p->pool_taps[j] = false;
  }
}

/* Max pool i's taps lie after its output in its own buffer, which
 * plan_build makes twice the output's bytes. */
int64_t plan_taps_at(const Plan *p, int i) {
  NIT_ASSERT(p->pool_taps[i]);
  return p->act[i].off + p->act[i].bytes / 2;
}

/* When node i's activation is written in the forward pass: at i, or in
 * the rounding region of the weighted layer that runs max pool i (rq_pool). */
static void fwd_written(const Model *m, const Plan *p, int *wtime) {
  for (int i = 0; i < m->nnodes; i++) wtime[i] = i;
  for (int i = 1; i < m->nnodes; i++)
    if (p->rq_pool[i]) wtime[p->rq_pool[i]] = i;
}

/* The activations that no backward step reads (act_fwd), each where
 * nothing else lives during its life in the forward pass, from its write
 * (fwd_written) to the last node that reads it: past every activation of
 * the run written by then (they survive into the backward pass), and clear
 * of the act_fwd ones whose lives meet its own; the largest first, each at
 * the lowest such offset from act0 on. It may lie over later activations
 * of the run, over errors (they live in the backward pass alone) and past
 * both; *top ends past the last. */
static void place_fwd(const Model *m, Plan *p, int64_t act0, int64_t *top) {
  int n = m->nnodes, nr = 0;
  int *root = zalloc(sizeof(int) * (size_t)n), *wtime = zalloc(sizeof(int) * (size_t)n);
  int64_t *last = zalloc(sizeof(int64_t) * (size_t)n), *size = zalloc(sizeof(int64_t) * (size_t)n);
  fwd_written(m, p, wtime);
  for (int c = 1; c < n; c++)
    for (int s = 0; s < m->nodes[c].nin; s++) {
      int r = p->act_alias[m->nodes[c].in[s]];
      if (c > last[r]) last[r] = c;
    }
  for (int a = 1; a < n; a++) {
    size[a] = p->act[a].bytes;
    if (p->act_fwd[a]) root[nr++] = a;
  }
  rank(root, nr, size, size, root);
  for (int k = 0; k < nr; k++) {
    int a = root[k];
    if (last[a] < wtime[a]) last[a] = wtime[a];
    Buf e = {act0, size[a]};
    for (int q = 1; q < n; q++)
      if (p->act_alias[q] == q && !p->act_fwd[q] && p->act[q].bytes > 0 && wtime[q] <= last[a] &&
          align_up(p->act[q].off + p->act[q].bytes) > e.off)
        e.off = align_up(p->act[q].off + p->act[q].bytes);
    for (bool moved = true; moved;) {
      moved = false;
      for (int j = 0; j < k; j++) {
        int b = root[j];
        if (wtime[a] <= last[b] && wtime[b] <= last[a] && bufs_meet(e, p->act[b])) {
          e.off = align_up(p->act[b].off + p->act[b].bytes);
          moved = true;
        }
      }
    }
    p->act[a] = e;
    p->act_over += e.bytes;
    if (align_up(e.off + e.bytes) > *top) *top = align_up(e.off + e.bytes);
  }
}

/* dead_from[t], t = 0..n: where the tail of the activations' run (ending
 * at act1) that is all dead at backward time t starts. The roots are taken
 * from the last one up, each with the latest end of all from it on
 * (tail_end, never falling), while that is before t. */
static void dead_tails(const Model *m, const Plan *p, int64_t act1, int64_t *dead_from) {
  int n = m->nnodes, j = n - 1;
  int64_t *act_end = zalloc(sizeof(int64_t) * (size_t)n);
  act_lives(m, p, act_end);
  int64_t tail_end = -1, at = act1;
  for (int64_t t = 0; t <= n; t++) {
    for (; j >= 1; j--) {
      if (p->act_alias[j] != j || p->act[j].bytes == 0 || p->act_fwd[j]) continue; /* not in the run */
      int64_t e = act_end[j] > tail_end ? act_end[j] : tail_end;
      if (e >= t) break;
      tail_end = e, at = p->act[j].off;
    }
    dead_from[t] = at;
  }
}

/* Where each error buffer goes (alias roots a, life [start[a], end[a]] in
 * backward time, 0..n): where nothing else lives during its life. That is
 * over the activations already dead at its start (act_lives: the tail of
 * the run that ends at act1 all of whose activations are), or past them,
 * and clear of every error whose life meets its own: the largest first,
 * each at the lowest such offset. Unshared, each gets fresh memory past
 * *top; *top ends past the last. A relu whose backward another layer does
 * (relu_pool, relu_err), or a node no error reaches, never has its own
 * error written: it takes none. Linear in the nodes for a chain: the
 * errors each one must clear are found by time (alive), not among all. */
static void place_errors(const Model *m, Plan *p, const int64_t *start, const int64_t *end, int64_t act1, bool share,
                         int64_t *top) {
  int n = m->nnodes, nr = 0;
  int *root = zalloc(sizeof(int) * (size_t)n);
  int64_t *size = zalloc(sizeof(int64_t) * (size_t)n);
  for (int a = 1; a < n; a++) {
    size[a] = m->recipe.batch * per_sample(&m->nodes[a].out);
    if (p->err_alias[a] == a && p->needs_err[a] && !p->relu_pool[a] && !p->relu_err[a]) root[nr++] = a;
    else if (p->err_alias[a] == a) p->err[a] = (Buf){act1, 0}; /* empty, never read or written */
  }
  /* the largest first; of equals, the latest written (more lies dead below it) */
  rank(root, nr, size, start, root);
  int64_t *dead_from = zalloc(sizeof(int64_t) * (size_t)(n + 1));
  dead_tails(m, p, act1, dead_from);
  /* alive[t]: the placed errors alive at backward time t */
  int **alive = zalloc(sizeof(int *) * (size_t)(n + 1));
  int *nalive = zalloc(sizeof(int) * (size_t)(n + 1)), *calive = zalloc(sizeof(int) * (size_t)(n + 1));
  int64_t hi = *top;
  for (int r = 0; r < nr; r++) {
    int a = root[r];
    int64_t t0 = start[a], t1 = end[a];
    NIT_ASSERT(t0 >= 0 && t0 <= n && t1 >= 0 && t1 < n);
    /* never written (t0 > t1: no consumer's backward produces it): bytes of its own */
    Buf e = {share && t0 <= t1 ? dead_from[t0] : hi, size[a]};
    for (bool moved = share; moved;) {
      moved = false;
      for (int64_t t = t0; t <= t1; t++)
        for (int k = 0; k < nalive[t]; k++) {
          Buf q = p->err[alive[t][k]];
          if (bufs_meet(e, q)) {
            e.off = align_up(q.off + q.bytes);
            moved = true;
          }
        }
    }
    p->err[a] = e;
    if (align_up(e.off + e.bytes) > hi) hi = align_up(e.off + e.bytes);
    for (int64_t t = t0; t <= t1; t++) {
      alive[t] = room(alive[t], nalive[t], &calive[t], sizeof(int));
      alive[t][nalive[t]++] = a;
    }
  }
  /* What survives the step: an error over which no later one lies (taken
   * in decreasing end, the errors starting after it added first), and an
   * activation over which none lies. err_bytes: the bytes errors cover. */
  int *by_end = zalloc(sizeof(int) * (size_t)(nr + 1)), *by_start = zalloc(sizeof(int) * (size_t)(nr + 1));
  rank(root, nr, end, end, by_end);
  rank(root, nr, start, start, by_start);
  Runs later = {0}, all = {0};
  for (int r = 0, k = 0; r < nr; r++) {
    int a = by_end[r];
    for (; k < nr && start[by_start[k]] > end[a]; k++) runs_add(&later, p->err[by_start[k]]);
    p->err_kept[a] = !runs_meet(&later, p->err[a]);
    runs_add(&all, p->err[a]);
  }
  p->err_bytes = p->err_over = 0;
  for (int i = 0; i < all.n; i++) {
    Buf r = all.r[i];
    p->err_bytes += r.bytes;
    if (r.off < act1) p->err_over += (r.off + r.bytes < act1 ? r.off + r.bytes : act1) - r.off;
  }
  for (int j = 1; j < n; j++)
    if (p->act_alias[j] == j && p->act[j].bytes > 0) p->act_kept[j] = !runs_meet(&all, p->act[j]);
  *top = hi;
}

/* Whether a node's forward (or, back, its input-error) kernel sums into
 * the accumulator scratch (cg/step.c, cg/pool.c, cg/norm.c): weighted and
 * norm layers, window sums, the residual add, and dropout's evaluation
 * under the recipes with masters. The others (relu, flatten, dropout in
 * training, disjoint max pools, the add's backward) write their int8
 * results directly; acc_ptr checks that a kernel that uses the scratch
 * has a share of it. */
static bool acc_uses(const Node *nd, bool masters, bool back) {
  if (nd->op == OP_DENSE || nd->op == OP_CONV || nd->op == OP_AVGPOOL || op_is_norm(nd->op)) return true;
  if (back) return nd->op == OP_MAXPOOL && !pool_disjoint(nd);
  return nd->op == OP_ADD || (nd->op == OP_DROPOUT && masters);
}

/* Which convs round ahead (cg/round.c, "Rounding ahead"): those whose
 * batch of forward or input-error accumulators is at least
 * PLAN_AHEAD_BYTES (NITC_AHEAD_BYTES=N in nitc's environment sets the
 * bound; the tests use 0, every conv that can). They keep one sample's
 * accumulators per worker instead of the batch's: a requantization's shift
 * is the batch's, known only after the GEMM's region, so the bodies round
 * each sample with a guess of it and the region redoes the samples whose
 * guess was not the shift. An input error rounds ahead where its quantizer is RQ
 * (not under unified or shiftquant, whose error sites need the whole
 * batch's accumulators) and it is not scattered back (col2im). */
static void plan_ahead(const Model *m, Plan *p, const int64_t *acc_fwd, const int64_t *acc_in) {
  int64_t min = env_num("NITC_AHEAD_BYTES", PLAN_AHEAD_BYTES);
  bool rq_err = recipe_err_rq(&m->recipe);
  p->ahead = zalloc((size_t)m->nnodes);
  for (int i = 1; i < m->nnodes; i++) {
    if (m->nodes[i].op != OP_CONV) continue;
    if (acc_fwd[i] >= min) p->ahead[i] |= AHEAD_FWD;
    if (acc_in[i] > 0 && acc_in[i] >= min && rq_err && !p->col2im[i]) p->ahead[i] |= AHEAD_ERR;
  }
}

/* Whether conv nd's input error is (W^T e) scattered back onto the input
 * (col2im): where that multiplies at most 3/4 of what the convolution of
 * the zero-bordered error does (a valid conv's error is mostly border),
 * and its (Kc, P) product per sample stays small. */
static bool col2im_pays(const Model *m, const Plan *p, const Node *nd) {
  if (nd->op != OP_CONV || !p->needs_err[nd->in[0]]) return false;
  const Shape *is = &m->nodes[nd->in[0]].out, *os = &nd->out;
  int64_t Cg = nd->wshape[1], Og = nd->wshape[0] / nd->groups;
  int64_t P = (int64_t)os->h * os->w, Q = (int64_t)is->h * is->w, Kc = Cg * nd->kh * nd->kw;
  int64_t Kep = conv_kpad(nd->kh, nd->kw * Og), accw = nd->acc64_bwd ? 8 : 4;
  return 4 * Kc * P * col2im_lda(Og) <= 3 * Cg * Q * Kep && Kc * P * accw <= COL2IM_MAX_BYTES;
}

/* How many workers each node's GEMMs and roundings may use: maxw, except
 * that a dense layer gets one worker per DENSE_MACS_PER_WORKER
 * multiply-adds of a pass at the batch. Its passes are split by outputs
 * (panels, rows of the gradient), so every worker reads the whole batch's
 * A, half of it written by the other core, and its rounding reads
 * accumulators split by columns: with two cores that share no cache, a
 * small layer on two workers costs more in lines crossing than it saves
 * (docs/performance.md, "Small dense layers on one worker"). Any split
 * gives the same bytes. NITC_DENSE_MACS=N in nitc's environment sets the
 * multiply-adds per worker (0: every dense layer on maxw), for tests. */
static int64_t dense_workers(const Model *m, const Node *nd, int maxw) {
  int64_t per = env_num("NITC_DENSE_MACS", DENSE_MACS_PER_WORKER);
  return nd->op == OP_DENSE && per > 0 ? m->recipe.batch * nd->wshape[0] * nd->wshape[1] / per : maxw;
}

static void plan_workers(const Model *m, Plan *p) {
  p->workers = zalloc(sizeof(int) * (size_t)m->nnodes);
  for (int i = 0; i < m->nnodes; i++) {
    int64_t w = dense_workers(m, &m->nodes[i], p->maxw);
    p->workers[i] = w < 1 ? 1 : w > p->maxw ? p->maxw : (int)w;
  }
}

/* A dense layer that plan_workers puts on one worker, of at least
 * DENSE_ROWS_MACS multiply-adds per forward at a batch of DENSE_ROWS_BATCH or
 * more (two tiles of 8 rows per worker on two cores): its
 * forward (and the rounding after it) splits the batch by samples instead,
 * every worker packing all of w's panels into its own scratch. Each worker
 * then reads the input rows its core wrote (a max pool's or a rounding's
 * samples) and writes the accumulators it rounds; where one worker took
 * the whole layer, it read half its input from the other core, while that
 * core waited. NITC_DENSE_ROWS=0 in nitc's environment: never (tests). */
static bool fwd_rows_fits(const Model *m, const Node *nd) {
  int64_t B = m->recipe.batch;
  return nd->op == OP_DENSE && dense_workers(m, nd, PLAN_MAX_WORKERS) < 2 &&
         B * nd->wshape[0] * nd->wshape[1] >= DENSE_ROWS_MACS && B >= DENSE_ROWS_BATCH && env_num("NITC_DENSE_ROWS", 1);
}

static void plan_fwd_rows(const Model *m, Plan *p) {
  p->fwd_rows = zalloc(sizeof(bool) * (size_t)m->nnodes);
  for (int i = 1; i < m->nnodes; i++)
    p->fwd_rows[i] = p->maxw >= 2 && p->workers[i] == 1 && fwd_rows_fits(m, &m->nodes[i]);
}

/* A dense layer on one worker (plan_workers) whose error flows on: its
 * input error and weight gradient are independent GEMMs, so they run side
 * by side in one region, one worker each, while the other core would
 * otherwise wait (cg/dense.c, dense_backward_pair). The weight gradient's
 * e^T then lies in pack after the input error's w^T panels. Returns the
 * pack bytes that needs. NITC_PAIR=0 in nitc's environment: never (tests). */
static int64_t plan_pairs(const Model *m, Plan *p) {
  int64_t need = 0, B = m->recipe.batch;
  p->paired = zalloc(sizeof(bool) * (size_t)m->nnodes);
  p->et_at = zalloc(sizeof(int64_t) * (size_t)m->nnodes);
  if (p->maxw < 2 || !env_num("NITC_PAIR", 1)) return 0;
  for (int i = 1; i < m->nnodes; i++) {
    const Node *nd = &m->nodes[i];
    if (nd->op != OP_DENSE || p->workers[i] != 1 || !p->needs_err[nd->in[0]]) continue;
    int64_t I = nd->wshape[1], O = nd->wshape[0];
    p->paired[i] = true;
    p->et_at[i] = align_up(panel_bytes(I, O));
    if (p->et_at[i] + align_up(O * B) > need) need = p->et_at[i] + align_up(O * B);
  }
  return need;
}

/* Disjoint max pools that run in a weighted layer's rounding region, each
 * worker pooling the samples it has just rounded, from its own cache: the
 * step has a parallel region fewer for each (docs/performance.md, "Fewer
 * parallel regions"). Same bytes: rounding is elementwise and a pool's
 * sample reads only that sample.
 * - rq_pool: forward, a pool whose input is a weighted layer's output,
 *   directly or through the relu that layer's requantization applies
 *   (relu_rq); not after a conv that rounds ahead (its rounding is in its
 *   GEMM's bodies).
 * - pool_in_err: backward, a pool whose output only a weighted layer reads,
 *   in that layer's input-error rounding, where EQ is RQ and the error does
 *   not round ahead. The pool's backward then writes its input error at
 *   that layer's backward time (plan_build's lifetimes). */
static void plan_pools(const Model *m, Plan *p) {
  int n = m->nnodes;
  p->rq_pool = zalloc(sizeof(int) * (size_t)n);
  p->pool_in_err = zalloc(sizeof(int) * (size_t)n);
  for (int j = 1; j < n; j++) {
    const Node *nj = &m->nodes[j];
    if (nj->op != OP_MAXPOOL || nj->nin != 1 || !pool_disjoint(nj)) continue;
    int r = nj->in[0], src = p->act_alias[r];
    const Node *ns = &m->nodes[src];
    if ((ns->op == OP_DENSE || ns->op == OP_CONV) && !(p->ahead[src] & AHEAD_FWD) &&
        (r == src || (m->nodes[r].op == OP_RELU && m->nodes[r].in[0] == src && p->relu_rq[src])))
      p->rq_pool[src] = j;
  }
  for (int i = 1; i < n; i++) {
    const Node *ni = &m->nodes[i];
    int j = ni->nin > 0 ? ni->in[0] : 0;
    const Node *nj = &m->nodes[j];
    if ((ni->op != OP_DENSE && ni->op != OP_CONV) || nj->op != OP_MAXPOOL || nj->nin != 1 || !pool_disjoint(nj))
      continue;
    if (p->nconsumers[j] == 1 && !p->gathers[j] && j != m->output && p->needs_err[j] && p->needs_err[nj->in[0]] &&
        recipe_err_rq(&m->recipe) && !(p->ahead[i] & AHEAD_ERR))
      p->pool_in_err[j] = i;
  }
}

Plan *plan_build(Model *m) {
  int n = m->nnodes;
  int64_t B = m->recipe.batch;
  Plan *p = zalloc(sizeof *p);
  p->act = zalloc(sizeof(Buf) * n);
  p->err = zalloc(sizeof(Buf) * n);
  p->wview = zalloc(sizeof(Buf) * n);
  p->act_alias = zalloc(sizeof(int) * n);
  p->relu_rq = zalloc(sizeof(bool) * n);
  p->col2im = zalloc(sizeof(bool) * n);
  p->err_alias = zalloc(sizeof(int) * n);
  p->needs_err = zalloc(sizeof(bool) * n);
  p->nconsumers = zalloc(sizeof(int) * n);
  p->pool_taps = zalloc(sizeof(bool) * n);
  p->act_fwd = zalloc(sizeof(bool) * n);

  for (int i = 0; i < n; i++)
    for (int j = 0; j < m->nodes[i].nin; j++) p->nconsumers[m->nodes[i].in[j]]++;

  /* The params slab: every tensor 64-aligned, in parameter order; int16
   * elements for wide weights. Recipes with masters keep per tensor the
   * int8 view (at param_off), the master and the momentum (A bits each),
   * batch-statistics norms their running statistics, and after all tensors
   * the exponents (plan_ptensor gives each tensor's node and size). */
  bool masters = m->recipe.kind != NIT_RECIPE_NITI;
  int64_t esize = !masters && m->recipe.weight_bits > 8 ? 2 : 1, ptop = 0;
  int64_t asize = m->recipe.master_bits / 8;
  int np = m->nptensors;
  p->param_off = zalloc(sizeof(int64_t) * (size_t)(np + 1));
  p->master_off = zalloc(sizeof(int64_t) * (size_t)(np + 1));
  p->mom_off = zalloc(sizeof(int64_t) * (size_t)(np + 1));
  p->stats_off = zalloc(sizeof(int64_t) * (size_t)(np + 1));
  for (int t = 0; t < np; t++) {
    const Node *nd;
    int64_t count = plan_ptensor(m, t, &nd);
    p->param_off[t] = ptop;
    ptop = align_up(ptop + count * esize);
    p->master_off[t] = p->mom_off[t] = p->stats_off[t] = -1;
    if (!masters) continue;
    p->master_off[t] = ptop;
    ptop = align_up(ptop + count * asize);
    p->mom_off[t] = ptop;
    ptop = align_up(ptop + count * asize);
    if (t == nd->param && (nd->op == OP_BATCHNORM || nd->op == OP_L1NORM)) {
      p->stats_off[t] = ptop;
      ptop = align_up(ptop + count * 16);
    }
  }
  p->pstate_off = -1;
  if (masters) {
    p->pstate_off = ptop;
    ptop = align_up(ptop + (int64_t)np * 16);
  }
  p->param_bytes = ptop;

  /* Errors flow only where a weighted node is at or above: node i needs the
   * error at its output iff it is weighted or has a weighted ancestor. */
  p->gathers = zalloc(sizeof(bool) * n);
  p->ein = zalloc(sizeof *p->ein * n);
  for (int i = 1; i < n; i++) {
    Node *nd = &m->nodes[i];
    p->needs_err[i] = nd->param >= 0; /* dense, conv, norm layers */
    for (int j = 0; j < nd->nin; j++)
      if (p->needs_err[nd->in[j]]) p->needs_err[i] = true;
  }
  /* Outputs never negative: a relu, or a pool or flatten of such (rounding
   * keeps signs). A GEMM takes them as unsigned bytes (cg/gemm.c, Gemm.ua
   * and Gemm.ub). The input and its pools are so where the data is (pixels
   * are): the GEMMs that read them ask NitCtx.x_nonneg (gemm_reading). */
  p->nonneg = zalloc(sizeof(bool) * n);
  p->nonneg_x = zalloc(sizeof(bool) * n);
  p->nonneg_x[0] = true;
  for (int i = 1; i < n; i++) {
    const Node *nd = &m->nodes[i];
    bool keeps = nd->op == OP_MAXPOOL || nd->op == OP_AVGPOOL || nd->op == OP_FLATTEN;
    p->nonneg[i] = nd->op == OP_RELU || (keeps && p->nonneg[nd->in[0]]);
    p->nonneg_x[i] = keeps && p->nonneg_x[nd->in[0]];
  }
  /* A node whose output error has several sources (several consumers, or the
   * loss plus a consumer) sums them exactly before requantizing once. */
  for (int i = 1; i < n; i++) p->gathers[i] = p->needs_err[i] && p->nconsumers[i] + (i == m->output) > 1;
  /* A relu whose backward its only consumer does, writing the relu's input
   * error in its place (relu_foldable):
   * - relu_pool: a disjoint max pool. Its backward routes each window's
   *   error to its first maximum only where that maximum is > 0, which is
   *   the relu's backward too (the relu's output there is the maximum).
   * - relu_err: a dense or conv layer, or a max pool that is not disjoint
   *   but rounds its errors (pool_rounds_err), where the error quantizer is
   *   RQ (niti, ghaffari) of RELU_FOLD_BITS (the gated rounding is
   *   round8's). Its input-error requantization keeps each rounded error
   *   only where the relu's output is > 0 (a gate); the maximum that sets
   *   the shift is taken before the gate, as it was of the relu's own
   *   error, and the draws are the layer's, by element, either way. (Such
   *   a pool's backward reads its input, the relu's output, anyway.)
   * One pass over the error instead of two, and one parallel region fewer.
   * The relu's own output error is then never written; NITC_FOLD_RELU=0
   * turns both folds off (the same bytes), for comparisons and for tools
   * that read every error tensor (tests/codegen/errdump.c). */
  p->relu_pool = zalloc(sizeof(int) * n);
  p->relu_err = zalloc(sizeof(int) * n);
  const bool fold = env_num("NITC_FOLD_RELU", 1) != 0;
  for (int c = 1; c < n; c++) {
    const Node *nc = &m->nodes[c];
    int r = nc->nin > 0 ? nc->in[0] : 0;
    if (!fold || !relu_foldable(m, p, r)) continue;
    if (nc->op == OP_MAXPOOL && nc->nin == 1 && pool_disjoint(nc)) p->relu_pool[r] = c;
    else if ((nc->op == OP_DENSE || nc->op == OP_CONV ||
              (nc->op == OP_MAXPOOL && nc->nin == 1 && pool_rounds_err(nc, &m->recipe))) &&
             recipe_err_rq(&m->recipe) &&
             m->recipe.bits_grad == RELU_FOLD_BITS &&
             !p->gathers[m->nodes[r].in[0]])
      p->relu_err[r] = c;
  }

  int64_t top = 0;
  p->exps_off = take(&top, (int64_t)n * 4 * 4).off;

  int64_t max_acc = 0, max_sum = 0, max_grad = 0;  /* bytes */
  p->acc_at = zalloc(sizeof(int64_t) * (size_t)n); /* node i's extent for now; offsets below */
  p->acc_bytes = zalloc(sizeof(int64_t) * (size_t)n);
  p->acc_err_at = zalloc(sizeof(int64_t) * (size_t)n);
  p->acc_err_bytes = zalloc(sizeof(int64_t) * (size_t)n);
  /* the batch's bytes of node i's forward and input-error accumulators */
  int64_t *acc_fwd = zalloc(sizeof(int64_t) * (size_t)n), *acc_in = zalloc(sizeof(int64_t) * (size_t)n);
  p->grad_at = zalloc(sizeof(int64_t) * (size_t)n); /* likewise */
  for (int i = 0; i < n; i++) {
    Node *nd = &m->nodes[i];
    int64_t elems = B * per_sample(&nd->out);
    p->act_alias[i] = i;
    p->err_alias[i] = i;
    p->act[i].off = p->err[i].off = p->wview[i].off = -1;
    if (i == 0) continue;
    for (int j = 0; j < nd->nin; j++) {
      p->ein[i][j].off = -1;
      int src = nd->in[j];
      if (p->gathers[src]) p->ein[i][j] = take(&top, B * per_sample(&m->nodes[src].out));
    }
    int src = nd->nin > 0 ? nd->in[0] : 0;
    if (nd->op == OP_FLATTEN && p->nconsumers[src] == 1 && !p->gathers[src]) {
      /* Same bytes, new shape: share both buffers with the input. */
      p->act_alias[i] = p->act_alias[src];
      p->err_alias[i] = p->err_alias[src];
    } else if (nd->op == OP_RELU && m->recipe.bits_act == RELU_FOLD_BITS && p->nconsumers[src] == 1 &&
               src != m->output && (m->nodes[src].op == OP_DENSE || m->nodes[src].op == OP_CONV)) {
      /* nothing but the relu reads the weighted layer's output, so its
       * requantization stores max(RQ(x), 0), the relu's output, and the
       * relu pass goes (relu_rq). Every recipe's activations are RQ of the
       * act width; the folded rounding is round8's (RELU_FOLD_BITS). */
      p->act_alias[i] = p->act_alias[src];
      p->relu_rq[src] = true;
    } else {
      p->act[i].bytes = elems; /* placed below, with the other activations */
    }
    /* Accumulators: outputs of weighted/pool/add layers, and input errors. */
    /* i64 where the layer's sums need it (and for residual adds), else i32 */
    /* masters: eval dropout scales into i64 (pool.c), norm layers' LINSUMs are i64 */
    bool wide_sums = op_is_norm(nd->op) || (nd->op == OP_DROPOUT && masters);
    int64_t width = nd->acc64_fwd || nd->acc64_bwd || nd->op == OP_ADD || wide_sums ? 8 : 4;
    if (acc_uses(nd, masters, false)) acc_fwd[i] = elems * width;
    if (nd->nin > 0 && p->needs_err[nd->in[0]] && acc_uses(nd, masters, true)) /* an input error is computed */
      acc_in[i] = B * per_sample(&m->nodes[nd->in[0]].out) * width;
    if (p->gathers[i] && elems * 8 > max_sum) max_sum = elems * 8;
    int64_t gbytes = nd->nweights * (nd->acc64_grad ? 8 : 4);
    if (op_is_norm(nd->op)) gbytes = 2 * (int64_t)nd->out.c * 8; /* dbeta, then dgamma's sums */
    if (gbytes > max_grad) max_grad = gbytes;
    p->grad_at[i] = gbytes;
    if (nd->nweights > 0 && m->recipe.weight_bits > 8) p->wview[i] = take(&top, nd->nweights);
  }
  /* Pools keep their taps, and the activations no backward step reads
   * then live in the forward pass alone (plan_taps, place_fwd), where the
   * activations would take more than PLAN_TAPS_BYTES. Below that the
   * memory saved is small, and on two cores that share no cache the new
   * places cost more than the taps save: lines of one core's half of a
   * batch then lie where the other core's half of another buffer was
   * (LeNet-5 at batch 256, 2 MB of activations: 0.975x on two threads,
   * 1.010x on one; resnet_bn at 64, 4.4 MB: 0.984x; vgg_small at 256, 63
   * MB: 1.000x; docs/performance.md, "Memory").
   * nitc --keep-tensors (and NITC_POOL_TAPS=0) keeps every activation;
   * NITC_POOL_TAPS=1 keeps taps at any size (tests). */
  int64_t acts = 0, taps_mode = env_num("NITC_POOL_TAPS", -1);
  for (int i = 1; i < n; i++)
    if (p->act_alias[i] == i) acts += p->act[i].bytes;
  p->fwd_apart = !m->keep_tensors && (taps_mode >= 0 ? taps_mode == 1 : acts > PLAN_TAPS_BYTES);
  plan_taps(m, p, p->fwd_apart);
  int64_t *act_end = zalloc(sizeof(int64_t) * (size_t)n);
  act_lives(m, p, act_end);
  for (int i = 1; i < n; i++) {
    if (p->pool_taps[i]) { /* the output, then its taps: as many bytes (plan_taps_at) */
      p->taps_bytes += p->act[i].bytes;
      p->act[i].bytes *= 2;
    }
    p->act_fwd[i] = p->fwd_apart && p->act_alias[i] == i && p->act[i].bytes > 0 && act_end[i] == 0 &&
                    i != p->act_alias[m->output];
  }
  /* The others, one contiguous run in node order: in the backward pass
   * the dead ones are then always a tail of it (below). */
  int64_t act0 = top;
  for (int i = 1; i < n; i++)
    if (p->act_alias[i] == i && p->act[i].bytes > 0 && !p->act_fwd[i]) p->act[i] = take(&top, p->act[i].bytes);
  int64_t act1 = top;
  p->act_bytes = act1 - act0;
  p->act_fwd_bytes = fwd_only_bytes(m, p);

  for (int i = 1; i < n; i++) p->col2im[i] = col2im_pays(m, p, &m->nodes[i]);
  plan_ahead(m, p, acc_fwd, acc_in);
  plan_pools(m, p);

  /* Error buffers by lifetime. The backward pass visits nodes in
   * decreasing index, time t(i) = n - i; err[a] (a alias root) is live from
   * its first write (the loss at time 0, a gather at t(j), or the single
   * consumer's backward) to its root's backward t(a), which reads it last.
   * Two buffers may share bytes when one's life ends strictly before the
   * other's begins, and an error may lie over activations whose backward
   * steps have all passed (place_errors). Only errors that nothing later
   * lies over keep their values after a step (err_kept), and likewise the
   * activations (act_kept). Sharing saves memory but splits a batch's
   * halves at other addresses: an error's first half can lie over bytes
   * that held another buffer's second half, written by the other core. So
   * the errors share only when, with bytes of their own, they would take
   * more than PLAN_SHARE_BYTES (about one core's L2), as in the residual
   * nets and vgg_small; LeNet-5's 0.5 MB of errors, shared, cost it 4% on
   * two threads (docs/performance.md, "Errors of their own below 1 MiB").
   * nitc --keep-tensors (and NITC_ERR_REUSE=0) gives every error bytes of
   * its own, so that telemetry sees every tensor; NITC_ERR_REUSE=1 shares
   * them always. */
  p->err_kept = zalloc(sizeof(bool) * n);
  p->act_kept = zalloc(sizeof(bool) * n);
  int64_t *start = zalloc(sizeof(int64_t) * n), *end = zalloc(sizeof(int64_t) * n);
  int64_t *written = zalloc(sizeof(int64_t) * n); /* when err[j] is first written */
  for (int j = 1; j < n; j++) written[j] = n;     /* never, unless below */
  /* its (single) consumer's backward, or the backward of the layer that does
   * that consumer's (a folded relu: relu_pool, relu_err), or of the layer in
   * whose rounding region that runs (pool_in_err) */
  for (int c = 1; c < n; c++) {
    int at = p->relu_pool[c] ? p->relu_pool[c] : p->relu_err[c] ? p->relu_err[c] : c;
    if (p->pool_in_err[at]) at = p->pool_in_err[at];
    for (int s = 0; s < m->nodes[c].nin; s++)
      if (n - at < written[m->nodes[c].in[s]]) written[m->nodes[c].in[s]] = n - at;
  }
  for (int j = 1; j < n; j++) {
    if (j == m->output) written[j] = 0;         /* the loss */
    else if (p->gathers[j]) written[j] = n - j; /* its gather */
  }
  for (int i = 1; i < n; i++) start[i] = -1;
  for (int j = 1; j < n; j++) {
    int a = p->err_alias[j];
    if (start[a] < 0 || written[j] < start[a]) start[a] = written[j];
  }
  for (int a = 1; a < n; a++) end[a] = n - a;
  int64_t reuse = env_num("NITC_ERR_REUSE", -1); /* -1: by size */
  int64_t errs_at = top;
  place_errors(m, p, start, end, act1, false, &top);
  if (!m->keep_tensors && (reuse >= 0 ? reuse == 1 : top - errs_at > PLAN_SHARE_BYTES)) {
    top = errs_at;
    place_errors(m, p, start, end, act1, true, &top);
  }
  p->err_past = top - errs_at;
  place_fwd(m, p, act0, &top);
  for (int i = 1; i < n; i++)
    if (p->act_fwd[i]) p->act_kept[i] = false;
  /* GEMM scratch (geom.h; cg/gemm.c, cg/conv.c). Bounds that hold
   * for every kernel choice: K padded per ky segment to whole words, B packed
   * in panels of 16 columns by whole words of k. */
  int64_t max_pack = 0, max_col = 0, max_pad = 0, max_gpart = 0, max_rows = 0;
  for (int i = 1; i < n; i++) {
    Node *nd = &m->nodes[i];
    const Shape *is = &m->nodes[nd->in[0]].out, *os = &nd->out;
    if (nd->op == OP_DENSE) {
      int64_t I = nd->wshape[1], O = nd->wshape[0];
      bool input_err = p->needs_err[nd->in[0]];
      int64_t need = panel_bytes(O, I);                                                           /* w panels */
      if (input_err && panel_bytes(I, O) > need) need = panel_bytes(I, O);                        /* w^T panels */
      if (align_up(O * B) > need) need = align_up(O * B); /* e^T (after the w^T panels when paired) */
      if (need > max_pack) max_pack = need;
      if (panel_bytes(I, B) > max_col) max_col = panel_bytes(I, B); /* x^T, per worker (cg/dense.c) */
      if (B * 4 > max_col) max_col = B * 4;                         /* A's row sums, per worker (likewise) */
      if (fwd_rows_fits(m, nd) && fwd_rows_bytes(B, O, I) > max_col) max_col = fwd_rows_bytes(B, O, I);
      if (O > max_rows) max_rows = O; /* e^T's row sums (the forward's and input error's: in col) */
    } else if (nd->op == OP_CONV) {
      int64_t Cg = nd->wshape[1], O = nd->wshape[0], Og = O / nd->groups;
      int64_t P = (int64_t)os->h * os->w, Q = (int64_t)is->h * is->w;
      int64_t Kc = Cg * nd->kh * nd->kw;
      int64_t Kcp = conv_kpad(nd->kh, nd->kw * Cg), Kep = conv_kpad(nd->kh, nd->kw * Og);
      /* the input-error GEMM and its scratch exist only where an error flows
       * into the conv's input (never for a first layer) */
      bool input_err = p->needs_err[nd->in[0]];
      int64_t accw = nd->acc64_bwd ? 8 : 4;
      /* the input error's regrouped weights as if split (ubs: cg/gemm.c, gemm_ax) */
      int64_t wpack = O * Kcp, wr = nd->groups * Cg * ax_lda(Kep), wt = nd->groups * Kc * ax_lda(col2im_lda(Og));
      if (input_err && wr > wpack) wpack = wr;
      if (p->col2im[i] && wt > wpack) wpack = wt;
      if (wpack > max_pack) max_pack = wpack;
      /* rows of B (whole panels' worth), then its panels; col2im: the
       * product, then e's panels */
      int64_t fwd = 2 * panel_bytes(P, Kcp), inp = input_err ? 2 * panel_bytes(Q, Kep) : 0;
      if (p->col2im[i] && col2im_product_bytes(Kc, P, accw) + panel_bytes(P, Og) > inp)
        inp = col2im_product_bytes(Kc, P, accw) + panel_bytes(P, Og);
      if (p->col2im[i] && nd->kw - 1 - nd->pw >= 0) { /* or by kernel rows (cg/conv.c, krows_fits) */
        int64_t kr = krows_bytes(Cg, Og, nd->kh, nd->kw, os->h, os->w, is->w, nd->pw);
        if (kr > inp) inp = kr;
      }
      int64_t wgt = align_up(Kc * P) + align_up(panel_bytes(Og, P)) + Kc * 4;
      int64_t col = fwd > inp ? fwd : inp;
      if (wgt > col) col = wgt;
      if (col > max_col) max_col = col;
      /* zero-padded copies of one sample's group of input / error planes */
      int64_t padx = Cg * (is->h + 2 * nd->ph) * (is->w + 2 * nd->pw);
      int64_t pade = Og * (os->h + 2 * (nd->kh - 1)) * (os->w + 2 * (nd->kw - 1));
      if (padx > max_pad) max_pad = padx;
      if (input_err && pade > max_pad) max_pad = pade;
      if (nd->nweights * (nd->acc64_grad ? 8 : 4) > max_gpart) max_gpart = nd->nweights * (nd->acc64_grad ? 8 : 4);
    }
  }
  /* pad copies sit at the end, followed by PAD_SLACK bytes */
  p->col_bytes = align_up(max_col) + align_up(max_pad + PAD_SLACK);
  p->gpart_bytes = align_up(max_gpart);
  p->maxw = PLAN_MAX_WORKERS;
  while (p->maxw > 1 && p->maxw * (p->col_bytes + p->gpart_bytes) > PLAN_WORKER_BYTES) p->maxw--;
  plan_workers(m, p);
  plan_fwd_rows(m, p);
  int64_t paired_pack = plan_pairs(m, p);
  if (paired_pack > max_pack) max_pack = paired_pack;
  p->red = take(&top, 64 + (int64_t)PLAN_MAX_WORKERS * 8);
  p->rq = take(&top, 64 + (int64_t)PLAN_MAX_WORKERS * 8);
  p->guess = take(&top, (int64_t)n * AHEAD_SLOTS * 4);
  p->ahead_run = take(&top, 64 + B);
  p->pack = take(&top, max_pack);
  p->rsum = take(&top, max_rows * 4);
  p->col = take(&top, p->maxw * p->col_bytes);
  p->gpart = take(&top, p->maxw * p->gpart_bytes);
  for (int i = 0; i < n; i++) {
    int64_t f = p->ahead[i] & AHEAD_FWD ? p->maxw * ahead_slice(acc_fwd[i] / B) : acc_fwd[i];
    int64_t e = p->ahead[i] & AHEAD_ERR ? p->maxw * ahead_slice(acc_in[i] / B) : acc_in[i];
    p->acc_bytes[i] = p->acc_at[i] = f;
    p->acc_err_bytes[i] = p->acc_err_at[i] = e;
    if (f > max_acc) max_acc = f;
    if (e > max_acc) max_acc = e;
  }
  /* the loss's e32 (B, classes) i64 in the accumulator scratch */
  if (recipe_loss_e32(&m->recipe) && B * m->classes * 8 > max_acc) max_acc = B * m->classes * 8;
  p->acc = take(&top, max_acc);
  /* Each node's accumulators sit in the middle of acc, not at its start,
   * the forward's and the input error's each centred by its own size.
   * With two workers splitting a batch in halves by sample, the first
   * worker's samples then fall below the midpoint and the second's above it
   * in every pass, so neither writes lines the other wrote in the pass
   * before. (With one extent per node, c2's input error in LeNet-5, 301 KB
   * at the start of its forward's 410 KB, split 54 KB below the midpoint:
   * the second worker's first 850 lines came from the other core, and its
   * half of that body took 1.6 times the first's.) On a machine whose two
   * cores share no cache (a line from the other core: about 235 ns),
   * LeNet-5 at batch 64 trained about 4% faster on two threads than with
   * every node's accumulators at acc's start (docs/performance.md, "Two
   * cores that share no cache"). With more workers, or a short last batch,
   * some lines still change hands. */
  for (int i = 0; i < n; i++) {
    p->acc_at[i] = centred(max_acc, p->acc_at[i]);
    p->acc_err_at[i] = centred(max_acc, p->acc_err_at[i]);
  }
  p->acc2 = take(&top, max_sum);
  p->grad = take(&top, max_grad);
  /* Each gradient is centred in grad too: the weight gradient's GEMM and
   * the update split it in halves by rows and by elements, so with two
   * workers each half stays with one core from one layer to the next (the
   * MLP's h2 gradient lay in the half of h1's that the other core wrote). */
  for (int i = 0; i < n; i++) p->grad_at[i] = centred(max_grad, p->grad_at[i]);
  /* recipes with masters: the optimizer's exact sums S (i64) and the
   * gradient G reduced to 31 bits (i32) of the largest parameter tensor */
  p->sgd.off = -1;
  if (m->recipe.kind != NIT_RECIPE_NITI) {
    int64_t max_count = 1;
    for (int t = 0; t < m->nptensors; t++) {
      const Node *owner;
      int64_t c = plan_ptensor(m, t, &owner);
      if (c > max_count) max_count = c;
    }
    p->sgd = take(&top, max_count * 12);
    p->sgd_count = max_count;
  }
  /* norm layers: the group statistics each keeps for its backward, and the
   * kernels' scratch (nitabi.h) */
  p->nstat = zalloc(sizeof(Buf) * n);
  int64_t max_norm = 0;
  for (int i = 0; i < n; i++) {
    const Node *nd = &m->nodes[i];
    p->nstat[i].off = -1;
    if (!op_is_norm(nd->op)) continue;
    bool batch = nd->op == OP_BATCHNORM || nd->op == OP_L1NORM;
    p->nstat[i] = take(&top, (batch ? nd->out.c : B) * NIT_NORM_STAT * 8);
    if (NIT_NORM_SCRATCH(B, nd->out.c) > max_norm) max_norm = NIT_NORM_SCRATCH(B, nd->out.c);
  }
  p->norm = max_norm ? take(&top, max_norm * 8) : (Buf){-1, 0};
  p->sq.off = p->sq_blk.off = -1;
  if (m->recipe.kind == NIT_RECIPE_SHIFTQUANT) { /* groups: channels (classes at LOSS) or samples */
    int64_t ng = B > m->classes ? B : m->classes, cmax = m->classes;
    for (int i = 0; i < n; i++) cmax = m->nodes[i].out.c > cmax ? m->nodes[i].out.c : cmax;
    ng = cmax > ng ? cmax : ng;
    p->sq = take(&top, ng * 8);
    p->sq_blk = take(&top, B * cmax * 8);
  }
  p->mu_off = p->clip_off = -1;
  p->clip.off = -1;
  if (m->recipe.kind == NIT_RECIPE_UNIFIED) plan_clip(m, p, &top, B);
  p->work_bytes = top;
  if (p->work_bytes + p->param_bytes > PLAN_MAX_BYTES) {
    diag_error(m->loc, "model '%s' needs %s of memory (parameters %s, work %s at batch %d), over the limit of %s",
               diag_quote(m->name), plan_human(p->work_bytes + p->param_bytes), plan_human(p->param_bytes),
               plan_human(p->work_bytes), m->recipe.batch, plan_human(PLAN_MAX_BYTES));
    diag_note(m->loc, "a smaller batch (--batch N) or smaller layers reduce the work memory");
    return NULL;
  }
  return p;
}

/* "1.5 GiB", "12.0 MiB", "512 bytes": for messages (arena memory). */
const char *plan_human(int64_t bytes) {
  static const char *unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  char buf[32];
  if (bytes < 1024) {
    snprintf(buf, sizeof buf, "%lld bytes", (long long)bytes);
  } else {
    int u = 0;
    int64_t whole = bytes / 1024, rem = bytes % 1024; /* value = whole + rem/1024 */
    while (whole >= 1024 && u < 5) {
      rem = whole % 1024;
      whole /= 1024;
      u++;
    }
    snprintf(buf, sizeof buf, "%lld.%lld %s", (long long)whole, (long long)(rem * 10 / 1024), unit[u]);
  }
  return mem_strdup(buf);
}
