/* frontend.c - the whole front end as one call: read, parse, check, lower,
 * infer shapes, validate.  Returns NULL after reporting errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rnet.h"

enum { MAX_SOURCE = 4 << 20 };

Graph *compile_text(const char *name, const char *text, size_t len)
{
    SrcFile *f = src_new(name, text, len);
    Vec stmts = { 0 };
    parse_source(f, &stmts);
    if (error_count())
        return NULL;
    Model *m = check_program(&stmts, f);
    if (!m || error_count())
        return NULL;
    Graph *g = lower_model(m);
    if (!g || error_count())
        return NULL;
    ir_validate(g);
    return g;
}

Graph *compile_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        error_plain("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_SOURCE + 1);
    if (!buf)
        die("out of memory");
    size_t n = fread(buf, 1, MAX_SOURCE + 1, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        error_plain("cannot read '%s'", path);
        free(buf);
        return NULL;
    }
    if (n > MAX_SOURCE) {
        error_plain("'%s' is larger than %d bytes", path, MAX_SOURCE);
        free(buf);
        return NULL;
    }
    /* a binary file (an executable given by mistake) is one error, not
     * thousands: the language is text, and no text file holds a NUL */
    const char *nul = memchr(buf, 0, n);
    if (nul) {
        error_plain("'%s' is not a text file (a NUL byte at offset %ld): is it the source?",
                    path, (long)(nul - buf));
        free(buf);
        return NULL;
    }
    Graph *g = compile_text(path, buf, n);
    free(buf);
    return g;
}
