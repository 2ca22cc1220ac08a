/*
 * ast.c: syntax tree nodes (built by grammar/nit.y) and a printer for tests.
 * Nodes live in the arena. The printer is bounded by AST_MAX_DEPTH so no
 * input can make it recurse without limit.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "nitc.h"

Ast *ast_new(AstKind kind, Loc loc) {
  Ast *a = mem_alloc(sizeof *a);
  a->kind = kind;
  a->loc = loc;
  a->name_loc = loc;
  return a;
}

void ast_append(AstList *l, Ast *a) {
  if (!a) return;
  if (l->tail) l->tail->next = a;
  else l->head = a;
  l->tail = a;
}

int ast_count(const Ast *list) {
  int n = 0;
  for (; list; list = list->next) n++;
  return n;
}

const char *ast_kind_name(AstKind kind) {
  static const char *names[] = {
      [ND_PROGRAM] = "program", [ND_MODEL] = "model", [ND_TRAIN] = "train",     [ND_INPUT] = "input",
      [ND_OUTPUT] = "output",   [ND_LET] = "let",     [ND_LAYER] = "layer",     [ND_CALL] = "call",
      [ND_ADD] = "+",           [ND_REF] = "ref",     [ND_INT] = "int",         [ND_DEC] = "dec",
      [ND_STR] = "str",         [ND_KWARG] = "kwarg", [ND_SETTING] = "setting",
  };
  if ((unsigned)kind < sizeof names / sizeof names[0] && names[kind]) return names[kind];
  return "?";
}

typedef struct Out {
  char *buf;
  size_t size, len;
} Out;

static void put(Out *o, const char *s) {
  size_t n = strlen(s);
  if (o->len < o->size) {
    size_t room = o->size - o->len - 1;
    memcpy(o->buf + o->len, s, n < room ? n : room);
    o->buf[o->len + (n < room ? n : room)] = '\0';
  }
  o->len += n;
}

static void dump(Out *o, const Ast *a, int depth);

static void dump_list(Out *o, const Ast *a, int depth) {
  for (; a; a = a->next) {
    put(o, " ");
    dump(o, a, depth);
  }
}

/* (kind name [label] kids...) ; literals print as themselves */
static void dump(Out *o, const Ast *a, int depth) {
  char num[64];
  if (depth >= AST_MAX_DEPTH) {
    put(o, "...");
    return;
  }
  switch (a->kind) {
  case ND_INT:
    snprintf(num, sizeof num, "%" PRId64, a->ival);
    put(o, num);
    return;
  case ND_DEC:
    snprintf(num, sizeof num, "%" PRId64 "e-%d", a->ival, a->scale);
    put(o, num);
    return;
  case ND_STR:
    put(o, "\"");
    put(o, a->str);
    put(o, "\"");
    return;
  case ND_REF: put(o, a->name); return;
  case ND_ADD:
    put(o, "(+ ");
    dump(o, a->lhs, depth + 1);
    put(o, " ");
    dump(o, a->rhs, depth + 1);
    put(o, ")");
    return;
  case ND_KWARG:
  case ND_LET:
    put(o, "(");
    put(o, a->kind == ND_LET ? "let " : "= ");
    put(o, a->name);
    put(o, " ");
    dump(o, a->lhs, depth + 1);
    put(o, ")");
    return;
  default: break;
  }
  put(o, "(");
  put(o, ast_kind_name(a->kind));
  if (a->name) {
    put(o, " ");
    put(o, a->name);
  }
  if (a->label) {
    put(o, " :");
    put(o, a->label);
  }
  if (a->kind == ND_LAYER && !a->has_args) put(o, " -");
  dump_list(o, a->kids, depth + 1);
  put(o, ")");
}

size_t ast_dump(const Ast *a, char *buf, size_t size) {
  Out o = {buf, size, 0};
  if (size) buf[0] = '\0';
  if (a) dump(&o, a, 0);
  return o.len;
}
