/* parse_ctx.h - state shared by the lexer and the parser for one file. */
#ifndef PARSE_CTX_H
#define PARSE_CTX_H
#include "rnet.h"

struct ParseCtx {
    SrcFile *file;
    Vec *out;            /* top-level statements */
    int brace_pending;   /* lexer: EOL already given for the next '}' */
    int nsyntax;         /* syntax errors reported */
};
#endif
