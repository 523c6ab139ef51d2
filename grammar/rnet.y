/* rnet.y - the grammar of .rnet files.
 *
 *   file   = { const | block | model } .
 *   const  = "const" NAME "=" expr EOL .
 *   block  = "block" NAME [ "(" param { "," param } ")" ] "{" { stmt } "}" .
 *   param  = NAME [ "=" expr ] .
 *   model  = "model" NAME "{" { stmt } "}" .
 *   stmt   = NAME { item } ( EOL | "{" { stmt } "}" )
 *          | "stage" expr "x" NAME { item } EOL
 *          | const | block | model .
 *   item   = expr { "x" expr } .
 *   expr   = INT | FLOAT | NAME | "(" expr ")" | expr ("+"|"-"|"*"|"/"|"%") expr .
 *
 * The grammar fixes only the structure.  What a statement's words mean
 * (conv, stride, cosine, ...) is check.c's business, so that an unknown
 * word is reported with its location and a suggestion, not as a bare
 * syntax error.  For the same reason a block or model definition parses
 * anywhere a statement does, and check.c says where it belongs.  Nodes live
 * in the compiler's arena, so error recovery has nothing to free and needs
 * no %destructor.
 */
%define api.pure full
%locations
%define parse.error detailed
%expect 0
%param {yyscan_t scanner}
%parse-param {struct ParseCtx *ctx}

%code requires {
#include "rnet.h"
#include "parse_ctx.h"
typedef void *yyscan_t;
}

%code {
#include <string.h>
#include "rnet.lex.h"

static Loc L(struct ParseCtx *ctx, YYLTYPE l)
{
    return (Loc){ ctx->file, l.first_line, l.first_column };
}

/* the innermost '{' of the text that is never closed, or line 0 */
static Loc unclosed_brace(struct ParseCtx *ctx)
{
    enum { MAXD = 64 };
    Loc open[MAXD];
    int depth = 0, line = 1, col = 1;
    const char *t = src_text(ctx->file);
    size_t n = src_len(ctx->file);
    for (size_t i = 0; i < n; i++, col++) {
        if (t[i] == '#') {
            while (i + 1 < n && t[i + 1] != '\n')
                i++;
        } else if (t[i] == '\n') {
            line++;
            col = 0;
        } else if (t[i] == '{') {
            if (depth < MAXD)
                open[depth] = (Loc){ ctx->file, line, col };
            depth++;
        } else if (t[i] == '}' && depth > 0) {
            depth--;
        }
    }
    if (depth == 0 || depth > MAXD)
        return (Loc){ 0 };
    return open[depth - 1];
}

static void yyerror(YYLTYPE *l, yyscan_t scanner, struct ParseCtx *ctx, const char *msg)
{
    (void)scanner;
    if (!strcmp(msg, "memory exhausted"))
        error_at(L(ctx, *l), "too deeply nested: the parser's stack is exhausted");
    else
        error_at(L(ctx, *l), "%s", msg);
    if (strstr(msg, "unexpected end of file")) {
        Loc o = unclosed_brace(ctx);
        if (o.line)
            note_at(o, "this '{' is never closed");
    }
    ctx->nsyntax++;
}

static Expr *mkexpr(ExprKind k, Loc loc)
{
    Expr *e = arena_alloc(sizeof *e);
    e->kind = k;
    e->loc = loc;
    return e;
}

static Expr *mkbin(int op, Expr *a, Expr *b, Loc loc)
{
    Expr *e = mkexpr(EX_BIN, loc);
    e->op = op;
    e->lhs = a;
    e->rhs = b;
    return e;
}

static Stmt *mkstmt(StmtKind k, Loc loc)
{
    Stmt *s = arena_alloc(sizeof *s);
    s->kind = k;
    s->loc = loc;
    s->word_loc = loc;
    return s;
}
}

%union {
    long long ival;
    double fval;
    const char *str;
    Expr *expr;
    Item *item;
    Stmt *stmt;
    Vec *vec;
    Param *param;
}

%token <str> NAME "name"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token EOL "end of line"
%token X "'x'"
%token CONST "'const'" BLOCK "'block'" MODEL "'model'" STAGE "'stage'"

%left '+' '-'
%left '*' '/' '%'

%type <expr> expr
%type <item> item dims
%type <stmt> stmt const_def block_def model_def
%type <vec> items stmts params param_list
%type <param> param

%%

file
    : %empty
    | file top
    ;

/* "model {" or "block b(x y) {": skip to the '{' and parse the body, so
 * that one mistake in a header is not followed by a cascade */
top
    : EOL
    | stmt                      { vec_push(ctx->out, $1); }
    | error EOL                 { yyerrok; }
    | BLOCK error '{' stmts '}' { yyerrok; }
    | MODEL error '{' stmts '}' { yyerrok; }
    ;

block_def
    : BLOCK NAME params '{' stmts '}'
        {
            $$ = mkstmt(ST_BLOCK, L(ctx, @1));
            $$->word = $2;
            $$->word_loc = L(ctx, @2);
            $$->params = *$3;
            $$->body = *$5;
            $$->has_body = 1;
        }
    ;

model_def
    : MODEL NAME '{' stmts '}'
        {
            $$ = mkstmt(ST_MODEL, L(ctx, @1));
            $$->word = $2;
            $$->word_loc = L(ctx, @2);
            $$->body = *$4;
            $$->has_body = 1;
        }
    ;

const_def
    : CONST NAME '=' expr EOL
        {
            $$ = mkstmt(ST_CONST, L(ctx, @1));
            $$->word = $2;
            $$->word_loc = L(ctx, @2);
            $$->value = $4;
        }
    ;

params
    : %empty                    { $$ = arena_alloc(sizeof(Vec)); }
    | '(' param_list ')'        { $$ = $2; }
    ;

param_list
    : param                     { $$ = arena_alloc(sizeof(Vec)); vec_push($$, $1); }
    | param_list ',' param      { $$ = $1; vec_push($$, $3); }
    ;

param
    : NAME
        {
            $$ = arena_alloc(sizeof(Param));
            $$->name = $1;
            $$->loc = L(ctx, @1);
        }
    | NAME '=' expr
        {
            $$ = arena_alloc(sizeof(Param));
            $$->name = $1;
            $$->loc = L(ctx, @1);
            $$->def = $3;
        }
    ;

stmts
    : %empty                    { $$ = arena_alloc(sizeof(Vec)); }
    | stmts EOL                 { $$ = $1; }
    | stmts stmt                { $$ = $1; vec_push($$, $2); }
    | stmts error EOL           { $$ = $1; yyerrok; }
    ;

stmt
    : NAME items EOL
        {
            $$ = mkstmt(ST_PLAIN, L(ctx, @1));
            $$->word = $1;
            $$->items = *$2;
        }
    | NAME items '{' stmts '}'
        {
            $$ = mkstmt(ST_PLAIN, L(ctx, @1));
            $$->word = $1;
            $$->items = *$2;
            $$->body = *$4;
            $$->has_body = 1;
        }
    | STAGE expr X NAME items EOL
        {
            $$ = mkstmt(ST_STAGE, L(ctx, @1));
            $$->word = "stage";
            $$->repeat = $2;
            $$->block = $4;
            $$->block_loc = L(ctx, @4);
            $$->items = *$5;
        }
    | const_def
    | block_def
    | model_def
    ;

items
    : %empty                    { $$ = arena_alloc(sizeof(Vec)); }
    | items item                { $$ = $1; vec_push($$, $2); }
    ;

item
    : expr
        {
            $$ = arena_alloc(sizeof(Item));
            $$->loc = L(ctx, @1);
            $$->ndims = 1;
            $$->e[0] = $1;
        }
    | dims
    ;

dims
    : expr X expr
        {
            $$ = arena_alloc(sizeof(Item));
            $$->loc = L(ctx, @1);
            $$->ndims = 2;
            $$->e[0] = $1;
            $$->e[1] = $3;
        }
    | dims X expr
        {
            $$ = $1;
            if ($$->ndims == 3) {
                error_at(L(ctx, @3), "too many dimensions (at most 3: CxHxW)");
            } else {
                $$->e[$$->ndims++] = $3;
            }
        }
    ;

expr
    : INT                       { $$ = mkexpr(EX_INT, L(ctx, @1)); $$->ival = $1; }
    | FLOAT                     { $$ = mkexpr(EX_FLOAT, L(ctx, @1)); $$->fval = $1; }
    | NAME                      { $$ = mkexpr(EX_NAME, L(ctx, @1)); $$->name = $1; }
    | '(' expr ')'              { $$ = $2; }
    | expr '+' expr             { $$ = mkbin('+', $1, $3, L(ctx, @2)); }
    | expr '-' expr             { $$ = mkbin('-', $1, $3, L(ctx, @2)); }
    | expr '*' expr             { $$ = mkbin('*', $1, $3, L(ctx, @2)); }
    | expr '/' expr             { $$ = mkbin('/', $1, $3, L(ctx, @2)); }
    | expr '%' expr             { $$ = mkbin('%', $1, $3, L(ctx, @2)); }
    ;

%%

int parse_source(SrcFile *f, Vec *out)
{
    struct ParseCtx ctx = { .file = f, .out = out };
    yyscan_t scanner;
    if (yylex_init_extra(&ctx, &scanner))
        die("cannot initialise the lexer");
    YY_BUFFER_STATE buf = yy_scan_bytes(src_text(f), (int)src_len(f), scanner);
    /* locations start at 1:1 */
    yyset_lineno(1, scanner);
    int rc = yyparse(scanner, &ctx);
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    if (rc && !ctx.nsyntax)
        ctx.nsyntax = 1;
    return ctx.nsyntax;
}
