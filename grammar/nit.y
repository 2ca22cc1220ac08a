/*
 * nit.y: the grammar of .nit files (pure bison parser with locations).
 *
 * The grammar is generic on purpose: a layer is `kind [name] [(args)]` and an
 * argument is an expression or `key = expression`; which kinds, keys and
 * values exist is decided by sema's layer table, so adding a layer never
 * touches this file. Train settings are `name word...` and sema gives the
 * words their meaning. Statements end at a newline or ';'.
 *
 * Error recovery: a syntax error inside a block skips to the end of the
 * statement (the next newline or ';'), or to the block's '}'; at the top
 * level it skips to the next '}'. So one run reports several errors. Every
 * `error` is followed by a synchronizing token, so recovery always consumes
 * input and cannot loop. A syntax error on a line where the scanner already
 * reported an error is counted but not shown (it is nearly always a
 * consequence, e.g. of an unterminated string).
 */
%code requires {
#include "nitc.h"
#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif
}

%code {
#include <string.h>
#include "nit.lex.h"

#define YYMAXDEPTH PARSE_MAX_DEPTH
void yyerror(YYLTYPE *l, yyscan_t scanner, const char *msg);

static Loc L(YYLTYPE l) {
  return (Loc){l.first_line, l.first_column, l.last_line, l.last_column};
}

static Ast *named(AstKind k, YYLTYPE all, char *name, YYLTYPE nl) {
  Ast *a = ast_new(k, L(all));
  a->name = name;
  a->name_loc = L(nl);
  return a;
}

static Ast *with_label(Ast *a, char *label, YYLTYPE ll) {
  a->label = label;
  a->label_loc = L(ll);
  return a;
}

static Ast *with_kids(Ast *a, AstList kids) {
  a->kids = kids.head;
  return a;
}
}

%define api.pure full
%locations
%define parse.error detailed
%define parse.lac full
%expect 0
%param {yyscan_t scanner}

%union {
  Ast *ast;
  char *str;
  int64_t ival;
  struct { int64_t num; int scale; } dec;
  AstList list;
}

%token MODEL "'model'" TRAIN "'train'" INPUT "'input'" OUTPUT "'output'" LET "'let'"
%token NL "end of line"
%token <str> IDENT "identifier" STRING "string"
%token <ival> INT "integer"
%token <dec> DECIMAL "decimal number"

%type <ast> item mstmt tstmt expr term arg word atom
%type <list> items mlines tlines args arglist words

%%

program:
    items                          { ParseState *ps = yyget_extra(scanner);
                                     ps->root = ast_new(ND_PROGRAM, L(@$));
                                     ps->root->kids = $1.head; }
  ;

items:
    %empty                         { $$ = (AstList){0}; }
  | items item                     { $$ = $1; ast_append(&$$, $2); }
  | items sep                      { $$ = $1; }
  | items error '}'                { $$ = $1; yyerrok; }
  ;

item:
    MODEL IDENT '{' mlines '}'           { $$ = with_kids(named(ND_MODEL, @$, $2, @2), $4); }
  | MODEL IDENT '{' mlines mstmt '}'     { ast_append(&$4, $5);
                                           $$ = with_kids(named(ND_MODEL, @$, $2, @2), $4); }
  | MODEL IDENT '{' mlines error '}'     { $$ = NULL; yyerrok; }
  | TRAIN '{' tlines '}'                 { $$ = with_kids(ast_new(ND_TRAIN, L(@$)), $3); }
  | TRAIN '{' tlines tstmt '}'           { ast_append(&$3, $4);
                                           $$ = with_kids(ast_new(ND_TRAIN, L(@$)), $3); }
  | TRAIN '{' tlines error '}'           { $$ = NULL; yyerrok; }
  ;

sep: NL | ';' ;

/* model body: statements separated by newlines or ';' */
mlines:
    %empty                         { $$ = (AstList){0}; }
  | mlines sep                     { $$ = $1; }
  | mlines mstmt sep               { $$ = $1; ast_append(&$$, $2); }
  | mlines error sep               { $$ = $1; yyerrok; }
  ;

mstmt:
    INPUT IDENT '[' args ']'             { $$ = with_kids(named(ND_INPUT, @$, $2, @2), $4); }
  | OUTPUT IDENT '(' args ')'            { $$ = with_kids(named(ND_OUTPUT, @$, $2, @2), $4); }
  | OUTPUT '(' args ')'                  { $$ = with_kids(ast_new(ND_OUTPUT, L(@$)), $3); }
  | LET IDENT '=' expr                   { $$ = named(ND_LET, @$, $2, @2); $$->lhs = $4; }
  | IDENT                                { $$ = named(ND_LAYER, @$, $1, @1); }
  | IDENT IDENT                          { $$ = with_label(named(ND_LAYER, @$, $1, @1), $2, @2); }
  | IDENT '(' args ')'                   { $$ = with_kids(named(ND_LAYER, @$, $1, @1), $3);
                                           $$->has_args = true; }
  | IDENT IDENT '(' args ')'             { $$ = with_kids(with_label(named(ND_LAYER, @$, $1, @1), $2, @2), $4);
                                           $$->has_args = true; }
  ;

expr:
    term
  | expr '+' term                        { $$ = ast_new(ND_ADD, L(@2)); $$->lhs = $1; $$->rhs = $3; }
  ;

term:
    INT                                  { $$ = ast_new(ND_INT, L(@$)); $$->ival = $1; }
  | '-' INT                              { $$ = ast_new(ND_INT, L(@$)); $$->ival = -$2; }
  | DECIMAL                              { $$ = ast_new(ND_DEC, L(@$)); $$->ival = $1.num; $$->scale = $1.scale; }
  | '-' DECIMAL                          { $$ = ast_new(ND_DEC, L(@$)); $$->ival = -$2.num; $$->scale = $2.scale; }
  | STRING                               { $$ = ast_new(ND_STR, L(@$)); $$->str = $1; }
  | IDENT                                { $$ = named(ND_REF, @$, $1, @1); }
  | IDENT '(' args ')'                   { $$ = with_kids(named(ND_CALL, @$, $1, @1), $3); }
  | IDENT IDENT '(' args ')'             { $$ = with_kids(with_label(named(ND_CALL, @$, $1, @1), $2, @2), $4); }
  | '(' expr ')'                         { $$ = $2; }
  ;

args:
    %empty                         { $$ = (AstList){0}; }
  | arglist
  | arglist ','
  ;

arglist:
    arg                            { $$ = (AstList){0}; ast_append(&$$, $1); }
  | arglist ',' arg                { $$ = $1; ast_append(&$$, $3); }
  ;

arg:
    expr
  | IDENT '=' expr                 { $$ = named(ND_KWARG, @$, $1, @1); $$->lhs = $3; }
  ;

/* train body: settings `name word...` */
tlines:
    %empty                         { $$ = (AstList){0}; }
  | tlines sep                     { $$ = $1; }
  | tlines tstmt sep               { $$ = $1; ast_append(&$$, $2); }
  | tlines error sep               { $$ = $1; yyerrok; }
  ;

tstmt:
    IDENT words                    { $$ = with_kids(named(ND_SETTING, @$, $1, @1), $2); }
  ;

words:
    %empty                         { $$ = (AstList){0}; }
  | words word                     { $$ = $1; ast_append(&$$, $2); }
  ;

word:
    atom
  | IDENT '=' atom                 { $$ = named(ND_KWARG, @$, $1, @1); $$->lhs = $3; }
  ;

atom:
    IDENT                          { $$ = named(ND_REF, @$, $1, @1); }
  | INT                            { $$ = ast_new(ND_INT, L(@$)); $$->ival = $1; }
  | '-' INT                        { $$ = ast_new(ND_INT, L(@$)); $$->ival = -$2; }
  | DECIMAL                        { $$ = ast_new(ND_DEC, L(@$)); $$->ival = $1.num; $$->scale = $1.scale; }
  | STRING                         { $$ = ast_new(ND_STR, L(@$)); $$->str = $1; }
  | IDENT '(' args ')'             { $$ = with_kids(named(ND_CALL, @$, $1, @1), $3); }
  ;

%%

/* Bison's detailed message is "syntax error, unexpected X[, expecting Y...]".
 * Drop the prefix and show the offending text for identifiers and numbers. */
void yyerror(YYLTYPE *l, yyscan_t scanner, const char *msg) {
  ParseState *ps = yyget_extra(scanner);
  ps->errors++;
  if (l->first_line == ps->lex_error_line)
    return;  /* the scanner already explained what is wrong on this line */
  if (strcmp(msg, "memory exhausted") == 0) {
    diag_error(L(*l), "nesting too deep (the parser's limit is %d levels)", PARSE_MAX_DEPTH);
    return;
  }
  static const char prefix[] = "syntax error, ";
  if (strncmp(msg, prefix, sizeof prefix - 1) == 0)
    msg += sizeof prefix - 1;
  const char *rest = strstr(msg, ", expecting");
  size_t head = rest ? (size_t)(rest - msg) : strlen(msg);
  const char *text = "";
  static const char *const shown[] = {"unexpected identifier", "unexpected integer", "unexpected decimal number"};
  for (int i = 0; i < 3; i++)
    if (strlen(shown[i]) == head && strncmp(msg, shown[i], head) == 0 && l->first_line == l->last_line &&
        l->last_column >= l->first_column) {
      const char *line;
      size_t len;
      if (source_line(ps->src, l->first_line, &line, &len) && (size_t)l->last_column <= len)
        text = diag_quote(mem_strndup(line + l->first_column - 1, (size_t)(l->last_column - l->first_column + 1)));
    }
  if (*text)
    diag_error(L(*l), "%.*s '%s'%s", (int)head, msg, text, rest ? rest : "");
  else
    diag_error(L(*l), "%s", msg);
}
