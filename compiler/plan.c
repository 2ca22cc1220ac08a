/*
 * plan.c: the static memory plan of a training step.
 *
 * Every tensor of a step has a size known at compile time (per-sample shape
 * times the compiled maximum batch), so the whole step lives in one work slab
 * that the runtime allocates once. Each node gets an int8 activation buffer and
 * an int8 error buffer for its output; flatten (a no-op on data) and dropout in
 * eval share their input's buffers. One accumulator scratch, sized for the
 * largest layer at int64, serves every requantization in turn (forward
 * accumulators, input-error accumulators); a second one holds fan-out error
 * sums; one gradient scratch serves every weight update in turn.
 *
 * Buffers are not yet reused across lifetimes: activations must survive until
 * the backward pass anyway, and errors are small next to them.
 */
#include <stdlib.h>
#include <string.h>

#include "nitc.h"

#define ALIGN 64

static int64_t align_up(int64_t v) { return (v + ALIGN - 1) / ALIGN * ALIGN; }

static int64_t per_sample(const Shape *s) { return (int64_t)s->c * s->h * s->w; }

static void *zalloc(size_t n) {
  void *p = calloc(n ? n : 1, 1);
  if (!p) abort();
  return p;
}

static Buf take(int64_t *top, int64_t bytes) {
  Buf b = {*top, bytes};
  *top = align_up(*top + bytes);
  return b;
}

Plan *plan_build(Model *m) {
  int n = m->nnodes;
  int64_t B = m->recipe.batch;
  Plan *p = zalloc(sizeof *p);
  p->act = zalloc(sizeof(Buf) * n);
  p->err = zalloc(sizeof(Buf) * n);
  p->wview = zalloc(sizeof(Buf) * n);
  p->act_alias = zalloc(sizeof(int) * n);
  p->err_alias = zalloc(sizeof(int) * n);
  p->needs_err = zalloc(sizeof(bool) * n);
  p->nconsumers = zalloc(sizeof(int) * n);

  for (int i = 0; i < n; i++)
    for (int j = 0; j < m->nodes[i].nin; j++)
      p->nconsumers[m->nodes[i].in[j]]++;

  /* Errors flow only where a weighted node is at or above: node i needs the
   * error at its output iff it is weighted or has a weighted ancestor. */
  p->gathers = zalloc(sizeof(bool) * n);
  p->ein = zalloc(sizeof *p->ein * n);
  for (int i = 1; i < n; i++) {
    Node *nd = &m->nodes[i];
    p->needs_err[i] = nd->nweights > 0;
    for (int j = 0; j < nd->nin; j++)
      if (p->needs_err[nd->in[j]]) p->needs_err[i] = true;
  }
  /* A node whose output error has several sources (several consumers, or the
   * loss plus a consumer) sums them exactly before requantizing once. */
  for (int i = 1; i < n; i++)
    p->gathers[i] = p->needs_err[i] && p->nconsumers[i] + (i == m->output) > 1;

  int64_t top = 0;
  p->exps_off = take(&top, (int64_t)n * 4 * 4).off;

  int64_t max_acc = 0, max_w = 0;
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
    if (nd->op == OP_FLATTEN && p->nconsumers[nd->in[0]] == 1 && !p->gathers[nd->in[0]]) {
      /* Same bytes, new shape: share both buffers with the input. */
      p->act_alias[i] = p->act_alias[nd->in[0]];
      p->err_alias[i] = p->err_alias[nd->in[0]];
    } else {
      p->act[i] = take(&top, elems);
    }
    if (p->err_alias[i] == i) p->err[i] = take(&top, elems);
    /* Accumulators: outputs of weighted/pool/add layers, and input errors. */
    if (elems > max_acc) max_acc = elems;
    if (nd->nin > 0) {
      int64_t in_elems = B * per_sample(&m->nodes[nd->in[0]].out);
      if (in_elems > max_acc) max_acc = in_elems;
    }
    if (nd->nweights > max_w) max_w = nd->nweights;
    if (nd->nweights > 0 && m->recipe.weight_bits > 8)
      p->wview[i] = take(&top, nd->nweights);
  }
  p->acc = take(&top, max_acc * 8);
  p->acc2 = take(&top, max_acc * 8);
  p->grad = take(&top, max_w * 8);
  p->work_bytes = top;
  m->work_bytes = top;
  return p;
}
