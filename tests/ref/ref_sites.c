/*
 * ref_sites.c: the unified recipe's error sites in the reference net
 * (R§4, R§10.4-§10.6): which site produced each node's output error, the
 * DSGC sites (the sites of dense, conv and normalization nodes) with their
 * held clip, the error quantizer EQ of every site, and the learning-rate
 * factor phi of each weighted node.
 *
 * The sites are found once from the graph; their states (l*, s*) live in
 * the net from ref_init_recipe on, like masters. docs/recipes.md, "The
 * unified recipe", lists the decisions taken here.
 */
#include <stdlib.h>

#include "ref.h"

static int pass_through(const RefNode *nd) {
  switch (nd->op) {
  case REF_RELU:
  case REF_FLATTEN:
  case REF_DROPOUT:
  case REF_ADD:
    return 1;
  case REF_MAXPOOL:
  case REF_AVGPOOL: /* windows that cannot overlap route one error each (R§3.3) */
    return nd->sh >= nd->kh && nd->sw >= nd->kw;
  default:
    return 0;
  }
}

static int weighted(RefOp op) {
  return op == REF_DENSE || op == REF_CONV || (op >= REF_BATCHNORM && op <= REF_L1LAYERNORM);
}

uint32_t ref_site_of(const RefNet *net, int j) {
  /* the contributions gather_error sums: the loss (output node) and every
   * consumer's input slot */
  int uses = j == net->output, c = -1;
  for (int k = j + 1; k < net->nnodes; k++)
    for (int s = 0; s < 2; s++)
      if (net->nodes[k].in[s] == j) {
        uses++;
        c = k;
      }
  if (uses >= 2)
    return NIT_TID_SUM(j);
  if (j == net->output)
    return NIT_TID_LOSS;
  if (uses == 0)
    return 0;
  return pass_through(&net->nodes[c]) ? ref_site_of(net, c) : NIT_TID_ERR(c);
}

int ref_sites_init(RefNet *net) {
  free(net->site_tid);
  free(net->node_site);
  free(net->clip);
  free(net->site_dq);
  free(net->site_phi);
  size_t nn = (size_t)net->nnodes;
  net->site_tid = malloc(nn * sizeof *net->site_tid);
  net->node_site = malloc(nn * sizeof *net->node_site);
  net->clip = malloc(nn * sizeof *net->clip);
  net->site_dq = malloc(nn * sizeof *net->site_dq);
  net->site_phi = malloc(nn * sizeof *net->site_phi);
  net->nsites = 0;
  if (!net->site_tid || !net->node_site || !net->clip || !net->site_dq || !net->site_phi) {
    snprintf(net->msg, sizeof net->msg, "out of memory");
    return -1;
  }
  for (int i = 0; i < net->nnodes; i++) {
    net->node_site[i] = -1;
    if (i == 0 || !weighted(net->nodes[i].op))
      continue;
    uint32_t tid = ref_site_of(net, i);
    if (!tid)
      continue; /* no error reaches the node */
    int k = 0;
    while (k < net->nsites && net->site_tid[k] != tid)
      k++;
    if (k == net->nsites) { /* a new site, in the order of its first weighted node */
      net->site_tid[k] = tid;
      net->clip[k] = REC_CLIP_NONE;
      net->nsites++;
    }
    net->node_site[i] = k;
  }
  ref_sites_step(net);
  return 0;
}

void ref_sites_step(RefNet *net) {
  for (int k = 0; k < net->nsites; k++) {
    net->site_dq[k] = 0;
    net->site_phi[k] = (int64_t)1 << 30;
  }
}

int ref_site_quant(RefNet *net, const RefOpts *o, uint32_t tid, uint64_t step, const int64_t *x,
                   int64_t count, int s_in, int8_t *out, int *mu) {
  uint64_t key = nit_key(o->seed, step, tid);
  int k = 0;
  while (k < net->nsites && net->site_tid[k] != tid)
    k++;
  if (k == net->nsites) { /* not a DSGC site: RQ_{b_g} (R§4) */
    *mu = 1;
    return rec_rq8(x, count, o->bits_grad, o->err_round, key, out);
  }
  RecClipOpts co = o->clip;
  co.b = o->bits_grad;
  int64_t *scratch = malloc((size_t)count * sizeof *scratch);
  int8_t *cand = malloc((size_t)count);
  RecClipOut r;
  int rc = scratch && cand ? rec_dsgc_site(&co, x, count, s_in, step, key, &net->clip[k], out, &r, scratch, cand)
                           : -1;
  free(scratch);
  free(cand);
  if (rc) {
    *mu = -1;
    return 0;
  }
  net->site_dq[k] = r.dq;
  net->site_phi[k] = o->lrscale ? rec_phi_q30(r.dq, o->alpha_q16, o->beta_q30) : (int64_t)1 << 30;
  *mu = r.mu;
  return (int)(r.s - s_in);
}

RecScalar ref_site_phi(const RefNet *net, int node) {
  int k = net->node_site ? net->node_site[node] : -1;
  return k < 0 ? rec_one() : rec_snorm(net->site_phi[k], -30);
}
