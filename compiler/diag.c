/* diag.c - diagnostics in GCC's format:
 *
 *   models/x.rnet:12:9: error: unknown layer 'cnv'; did you mean 'conv'?
 *      12 |     cnv 3x3 64
 *         |     ^
 *
 * User errors are counted and compilation goes on to find more; internal
 * bugs go to die(), which names the compiler's own file and line. */
#include <stdlib.h>
#include <string.h>
#include "rnet.h"

struct SrcFile {
    const char *name;
    const char *text;
    size_t len;
    const char **lines;   /* where line l (1-based) starts: lines[l - 1] */
    int nlines;
};

static int nerrors;
static int max_errors = DIAG_MAX_ERRORS_DEFAULT;
static FILE *diag_out;

SrcFile *src_new(const char *name, const char *text, size_t len)
{
    SrcFile *f = arena_alloc(sizeof *f);
    f->name = arena_strdup(name);
    char *t = arena_alloc(len + 1);
    memcpy(t, text, len);
    f->text = t;
    f->len = len;
    /* a line index, so that showing line l costs nothing however many
     * errors there are (scanning from the start each time was quadratic) */
    int n = 1;
    for (size_t i = 0; i < len; i++)
        n += t[i] == '\n';
    f->lines = arena_alloc(sizeof *f->lines * (size_t)n);
    f->lines[0] = t;
    for (size_t i = 0, l = 1; i < len; i++)
        if (t[i] == '\n')
            f->lines[l++] = t + i + 1;
    f->nlines = n;
    return f;
}

const char *src_name(const SrcFile *f) { return f->name; }
const char *src_text(const SrcFile *f) { return f->text; }
size_t src_len(const SrcFile *f) { return f->len; }

void diag_set_stream(FILE *f) { diag_out = f; }
int error_count(void) { return nerrors; }
void diag_reset(void) { nerrors = 0; }
void diag_set_max_errors(int n) { max_errors = n; }

/* Past the limit errors are still counted (compilation fails) but no longer
 * printed: one line says so when the limit is reached. */
static int silenced(void)
{
    if (max_errors <= 0 || nerrors < max_errors)
        return 0;
    if (nerrors == max_errors)
        fprintf(diag_out ? diag_out : stderr,
                "rnetc: error: too many errors (%d); the rest are not shown "
                "(-fmax-errors=N, 0 for no limit)\n", max_errors);
    return 1;
}

static FILE *out(void) { return diag_out ? diag_out : stderr; }

/* print the source line of loc with a caret under its column */
static void show_line(Loc loc)
{
    const SrcFile *f = loc.file;
    if (!f || loc.line <= 0)
        return;
    if (loc.line > f->nlines)
        return;
    const char *p = f->lines[loc.line - 1], *end = f->text + f->len;
    const char *e = p;
    while (e < end && *e != '\n')
        e++;
    /* built in one buffer and written at once (stderr is unbuffered), at
     * most SHOW columns of a long line (a binary file's, say) */
    enum { SHOW = 240 };
    char buf[2 * SHOW + 64];
    int n = snprintf(buf, sizeof buf, "%5d | ", loc.line), col = loc.col;
    const char *from = p;
    if (col > SHOW && (e - p) > SHOW) {  /* a window around the column */
        from = p + (col - 1) - SHOW / 2;
        col -= (int)(from - p) - 4;
        n += snprintf(buf + n, sizeof buf - (size_t)n, "... ");
    }
    for (const char *q = from; q < e && q < from + SHOW; q++)
        buf[n++] = *q == '\t' ? ' ' : (*q >= 32 && *q < 127) ? *q : '?';
    n += snprintf(buf + n, sizeof buf - (size_t)n, "%s\n      | ", e > from + SHOW ? " ..." : "");
    for (int c = 1; c < col && c <= SHOW + 4; c++)
        buf[n++] = ' ';
    buf[n++] = '^';
    buf[n++] = '\n';
    fwrite(buf, 1, (size_t)n, out());
}

static void vreport(Loc loc, const char *kind, const char *fmt, va_list ap)
{
    if (loc.file && loc.line > 0)
        fprintf(out(), "%s:%d:%d: %s: ", loc.file->name, loc.line, loc.col, kind);
    else if (loc.file)
        fprintf(out(), "%s: %s: ", loc.file->name, kind);
    else
        fprintf(out(), "rnetc: %s: ", kind);
    vfprintf(out(), fmt, ap);
    fputc('\n', out());
    show_line(loc);
}

void error_at(Loc loc, const char *fmt, ...)
{
    if (silenced()) {
        nerrors++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vreport(loc, "error", fmt, ap);
    va_end(ap);
    nerrors++;
}

void note_at(Loc loc, const char *fmt, ...)
{
    if (max_errors > 0 && nerrors > max_errors)
        return;  /* the note of a silenced error */
    va_list ap;
    va_start(ap, fmt);
    vreport(loc, "note", fmt, ap);
    va_end(ap);
}

void error_plain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(out(), "rnetc: error: ");
    vfprintf(out(), fmt, ap);
    fputc('\n', out());
    va_end(ap);
    nerrors++;
}

_Noreturn void die_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rnetc: internal error at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* Levenshtein distance, capped: good enough for keyword suggestions */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int d[41][41];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c)
                c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c)
                c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

const char *closest_name(const char *s, const char *const *names, int n)
{
    const char *best = NULL;
    int bestd = 3;
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        int d = edit_distance(s, names[i]);
        int lim = (int)strlen(names[i]) <= 3 ? 1 : 2;
        if (d <= lim && d < bestd) {
            bestd = d;
            best = names[i];
        }
    }
    return best;
}
