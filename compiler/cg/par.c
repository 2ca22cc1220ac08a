/*
 * par.c: par_for, a loop body run over [0, count) on the runtime's workers.
 *
 * The body is outlined into an internal function
 *   void NAME.body(env, i64 lo, i64 hi, i32 worker)
 * with env = {ctx, x, y, consts}; it reloads what it needs from the NitCtx, so
 * the emitter callback builds it exactly as it would inline (act_ptr, err_ptr,
 * w8_ptr... all work). consts is the body's table of slab offsets where
 * fold.c makes one function of several bodies, else null. The caller asks
 * ctx->parallel_for to split [0, count) into contiguous chunks, one per
 * worker (worker < maxw, each worker index at most once) and gets back how
 * many workers ran; with no parallel_for (tests, the diff harness) it calls
 * the body once itself: worker 0, the whole range.
 * Each chunk writes disjoint outputs, or its own per-worker scratch that the
 * caller then combines; nothing depends on how the range was split.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

Val par_for(Cg *g, const char *name, Val v_count, int maxw, BodyFn fn, const void *u) {
  Aside saved = l_aside(g); /* the caller's function; the body gets its own */
  char buf[128];
  snprintf(buf, sizeof buf, "%s.body", name);
  Val f = l_begin_loop_fn(g, buf, g->ft_body);
  Val v_env = l_param(g, 0, "env");
  Val v_lo = l_param(g, 1, "lo"), v_hi = l_param(g, 2, "hi"), v_wk = l_param(g, 3, "worker");
  g->f.v_ctx = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_env, v_env, ENV_CTX, ""), "ctx");
  g->f.v_x = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_env, v_env, ENV_X, ""), "x");
  g->f.v_y = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_env, v_env, ENV_Y, ""), "y");
  load_ctx_fields(g);
  fn(g, u, v_lo, v_hi, v_wk);
  LLVMBuildRetVoid(g->b);
  l_back(g, saved);

  Val var_env = l_var(g, g->t_env, "env", NULL);
  LLVMBuildStore(g->b, g->f.v_ctx, LLVMBuildStructGEP2(g->b, g->t_env, var_env, ENV_CTX, ""));
  LLVMBuildStore(g->b, g->f.v_x, LLVMBuildStructGEP2(g->b, g->t_env, var_env, ENV_X, ""));
  LLVMBuildStore(g->b, g->f.v_y ? g->f.v_y : LLVMConstNull(g->t_ptr),
                 LLVMBuildStructGEP2(g->b, g->t_env, var_env, ENV_Y, ""));
  /* the body's table of slab offsets, if fold.c makes it one of several */
  snprintf(buf, sizeof buf, "%s.consts", name);
  Ty t_none = LLVMArrayType2(g->t_i64, 0);
  Body *bd = mem_alloc(sizeof *bd);
  *bd = (Body){f, LLVMAddGlobal(g->mod, t_none, buf), NULL};
  LLVMSetInitializer(bd->consts, LLVMConstNull(t_none));
  LLVMSetGlobalConstant(bd->consts, 1);
  LLVMSetLinkage(bd->consts, LLVMPrivateLinkage);
  *g->bodies_end = bd;
  g->bodies_end = &bd->next;
  LLVMBuildStore(g->b, bd->consts, LLVMBuildStructGEP2(g->b, g->t_env, var_env, ENV_CONSTS, ""));
  Val v_pf =
      LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_ctx, g->f.v_ctx, CTX_parallel_for, ""), "pfor");
  Val var_used = l_var(g, g->t_i32, "used.var", l_i32(g, 1));
  Blk b_inl, b_join = l_if_else(g, LLVMBuildIsNotNull(g->b, v_pf, ""), "par", &b_inl);
  Val v_pool = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildStructGEP2(g->b, g->t_ctx, g->f.v_ctx, CTX_pool, ""), "pool");
  Val pargs[] = {v_pool, f, var_env, v_count, l_i32(g, maxw)};
  l_set(g, var_used, l_call(g, g->ft_pfor, v_pf, pargs, 5, "used"));
  l_else(g, b_inl, b_join);
  Val bargs[] = {var_env, l_i64(g, 0), v_count, l_i32(g, 0)};
  l_call(g, g->ft_body, f, bargs, 4, "");
  l_endif(g, b_join);
  return l_get(g, g->t_i32, var_used, "used");
}
