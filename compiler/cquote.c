/* cquote.c - the only two ways text from outside reaches generated C.
 *
 * A source path, an output name, a model or layer name may hold anything a
 * file system or a user allows: quotes, newlines, a comment's end.  Every
 * such string goes into generated code through c_string (inside a string
 * literal or a comment) or c_ident (as part of an identifier), never with a
 * bare %s, so no input can close a literal or a comment and add code. */
#include <string.h>
#include "rnet.h"

/* Bytes other than these become three-digit octal escapes: '"' and '\'
 * would end or bend a literal, '*' and '/' could close a comment, '?' could
 * start a trigraph, control bytes break lines.  Three digits never run into
 * a digit that follows. */
static int plain_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr(" ._-+=,:;()[]{}<>#@~^!&|%$'", c) != NULL;
}

const char *c_string(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += plain_char(*p) || *p == '/' ? 1 : 4;
    char *out = arena_alloc(n + 1), *q = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        /* a '/' is kept unless it would end a comment ("*" before it is
         * escaped already) or start one ("/" or "*" after it) */
        if (plain_char(*p) || (*p == '/' && p[1] != '/' && p[1] != '*')) {
            *q++ = (char)*p;
        } else {
            *q++ = '\\';
            *q++ = (char)('0' + ((*p >> 6) & 7));
            *q++ = (char)('0' + ((*p >> 3) & 7));
            *q++ = (char)('0' + (*p & 7));
        }
    }
    *q = 0;
    return out;
}

const char *c_ident(const char *s)
{
    size_t n = strlen(s);
    char *out = arena_alloc(n + 2), *q = out;
    if (!*s || (*s >= '0' && *s <= '9'))
        *q++ = '_';
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_';
        *q++ = ok ? c : '_';
    }
    *q = 0;
    return out;
}
