/* rn_safetensors.c - read and write .safetensors checkpoints.
 *
 * The reader takes the whole file into memory (no mmap: a file truncated
 * under a mapping turns into SIGBUS, a read buffer cannot) and parses the
 * header with a small strict JSON parser written for this one schema: a
 * top-level object whose values are either the string-to-string object
 * "__metadata__" or a tensor object {dtype, shape, data_offsets}.  The
 * nesting is fixed at two levels, so the parser needs no recursion and no
 * depth limit.  Everything the header claims is checked against the bytes
 * before rn_st_open returns; afterwards lookups cannot fail except by name.
 *
 * Decoded strings (names, metadata) live in one arena as large as the
 * header: every JSON string loses at least its two quotes when decoded and
 * escapes only shrink, so the arena cannot overflow.
 *
 * The writer builds the header in memory, then streams header and tensor
 * bytes to PATH.tmp.<pid>, fsyncs, renames over PATH and fsyncs the
 * directory, so a crash or a failed write never costs the previous
 * checkpoint. */
#include "rn_err.h"
#define st_err_at(err, errlen, label, ...) rn_fail_at(err, errlen, (label) ? (label) : "safetensors", __VA_ARGS__)
#include "rn_safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER 100000000u

#if defined(__GNUC__)
#define ST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ST_PRINTF(a, b)
#endif

/* ---- dtypes ----------------------------------------------------------- */

static const char *const st_dtype_names[] = {
#define RN_ST_X(name, size) #name,
    RN_ST_DTYPES(RN_ST_X)
#undef RN_ST_X
};
static const unsigned char st_dtype_sizes[] = {
#define RN_ST_X(name, size) size,
    RN_ST_DTYPES(RN_ST_X)
#undef RN_ST_X
};
_Static_assert(sizeof st_dtype_names / sizeof st_dtype_names[0] == RN_ST_NDTYPES,
               "dtype name table out of step with RN_ST_DTYPES");

const char *rn_st_dtype_name(rn_st_dtype dt)
{
    return (unsigned)dt < RN_ST_NDTYPES ? st_dtype_names[dt] : "?";
}

size_t rn_st_dtype_size(rn_st_dtype dt)
{
    return (unsigned)dt < RN_ST_NDTYPES ? st_dtype_sizes[dt] : 0;
}

/* ---- errors ----------------------------------------------------------- */

/* "label: message" into err; always returns -1 so callers can
 * `return st_err_at(...)`. */

/* "[64,64,3,3]" into buf. */
static const char *st_shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t n = 0;
    buf[0] = 0;
    n += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%" PRId64, i ? "," : "", shape[i]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
    return buf;
}

static int st_host_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if the bytes there
 * are not one: overlong forms, surrogates and values above U+10FFFF are
 * refused, as RFC 3629 says. */
static int st_utf8_len(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c == 0xED) { n = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    if ((size_t)n > avail)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

static int st_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    while (len) {
        int n = st_utf8_len(p, len);
        if (!n)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* ---- the file --------------------------------------------------------- */

typedef struct st_meta {
    char *key, *value;
} st_meta;

struct rn_st_file {
    char *label;
    unsigned char *owned;         /* the file's bytes when we read them */
    rn_st_tensor *t;              /* sorted by data offset */
    int nt;
    const rn_st_tensor **by_name; /* sorted by name, for bsearch */
    st_meta *meta;                /* sorted by key */
    int nmeta;
    char *arena;                  /* decoded strings */
};

void rn_st_close(rn_st_file *f)
{
    if (!f)
        return;
    free(f->label);
    free(f->owned);
    free(f->t);
    free(f->by_name);
    free(f->meta);
    free(f->arena);
    free(f);
}

int rn_st_count(const rn_st_file *f) { return f->nt; }
const char *rn_st_label(const rn_st_file *f) { return f->label; }

const rn_st_tensor *rn_st_at(const rn_st_file *f, int i)
{
    return i >= 0 && i < f->nt ? &f->t[i] : NULL;
}

int rn_st_meta_count(const rn_st_file *f) { return f->nmeta; }

void rn_st_meta_at(const rn_st_file *f, int i, const char **key, const char **value)
{
    int ok = i >= 0 && i < f->nmeta;
    if (key)
        *key = ok ? f->meta[i].key : NULL;
    if (value)
        *value = ok ? f->meta[i].value : NULL;
}

/* ---- the header parser ------------------------------------------------ */

typedef struct st_parser {
    const unsigned char *start, *p, *end; /* the header's JSON */
    char *arena;
    size_t arena_used;
    rn_st_file *f;
    int tcap, mcap;
    const char *label;
    char *err;
    size_t errlen;
} st_parser;

/* A syntax error, located by its byte offset in the file. */
ST_PRINTF(2, 3)
static int st_syntax(st_parser *P, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return st_err_at(P->err, P->errlen, P->label, "bad header JSON at byte %zu: %s",
                  (size_t)(P->p - P->start) + 8, msg);
}

static void st_ws(st_parser *P)
{
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r'))
        P->p++;
}

/* Skip whitespace, then require the byte c. */
static int st_expect(st_parser *P, char c)
{
    st_ws(P);
    if (P->p >= P->end)
        return st_syntax(P, "expected '%c', found end of header", c);
    if (*P->p != (unsigned char)c)
        return st_syntax(P, "expected '%c'", c);
    P->p++;
    return 0;
}

/* Skip whitespace and return the next byte without taking it, or -1. */
static int st_peek(st_parser *P)
{
    st_ws(P);
    return P->p < P->end ? *P->p : -1;
}

static int st_hex4(st_parser *P, unsigned *out)
{
    unsigned v = 0;
    if (P->end - P->p < 4)
        return st_syntax(P, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        unsigned c = P->p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return st_syntax(P, "bad hex digit in \\u escape");
        v = v * 16 + d;
    }
    P->p += 4;
    *out = v;
    return 0;
}

/* string = '"' chars '"', decoded into the arena as NUL-terminated UTF-8. */
static int st_string(st_parser *P, char **out)
{
    if (st_expect(P, '"'))
        return -1;
    char *dst = P->arena + P->arena_used;
    size_t n = 0;
    for (;;) {
        if (P->p >= P->end)
            return st_syntax(P, "unterminated string");
        unsigned c = *P->p;
        if (c == '"') {
            P->p++;
            break;
        }
        if (c < 0x20)
            return st_syntax(P, "control character 0x%02x in string", c);
        if (c >= 0x80) {
            int len = st_utf8_len(P->p, (size_t)(P->end - P->p));
            if (!len)
                return st_syntax(P, "invalid UTF-8 in string");
            memcpy(dst + n, P->p, (size_t)len);
            n += (size_t)len;
            P->p += len;
            continue;
        }
        P->p++;
        if (c != '\\') {
            dst[n++] = (char)c;
            continue;
        }
        if (P->p >= P->end)
            return st_syntax(P, "unterminated string");
        c = *P->p++;
        switch (c) {
        case '"': dst[n++] = '"'; break;
        case '\\': dst[n++] = '\\'; break;
        case '/': dst[n++] = '/'; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u': {
            unsigned cp = 0, lo = 0;
            if (st_hex4(P, &cp))
                return -1;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return st_syntax(P, "unpaired low surrogate \\u%04X", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (P->end - P->p < 2 || P->p[0] != '\\' || P->p[1] != 'u')
                    return st_syntax(P, "high surrogate \\u%04X without its low half", cp);
                P->p += 2;
                if (st_hex4(P, &lo))
                    return -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return st_syntax(P, "high surrogate \\u%04X without its low half", cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0)
                return st_syntax(P, "\\u0000 is not allowed in names or metadata");
            if (cp < 0x80) {
                dst[n++] = (char)cp;
            } else if (cp < 0x800) {
                dst[n++] = (char)(0xC0 | (cp >> 6));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                dst[n++] = (char)(0xE0 | (cp >> 12));
                dst[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                dst[n++] = (char)(0xF0 | (cp >> 18));
                dst[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                dst[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            P->p--;
            return st_syntax(P, "bad escape '\\%c'", c >= 0x20 && c < 0x7F ? (char)c : '?');
        }
    }
    dst[n++] = 0;
    P->arena_used += n;
    *out = dst;
    return 0;
}

/* A non-negative JSON integer: 0 | [1-9][0-9]*, no sign, fraction or exponent. */
static int st_uint(st_parser *P, uint64_t *out)
{
    st_ws(P);
    if (P->p < P->end && *P->p == '-')
        return st_syntax(P, "negative number where a size or offset belongs");
    if (P->p >= P->end || *P->p < '0' || *P->p > '9')
        return st_syntax(P, "expected a non-negative integer");
    uint64_t v = 0;
    const unsigned char *first = P->p;
    while (P->p < P->end && *P->p >= '0' && *P->p <= '9') {
        unsigned d = *P->p - '0';
        if (v > (UINT64_MAX - d) / 10)
            return st_syntax(P, "integer too large");
        v = v * 10 + d;
        P->p++;
    }
    if (*first == '0' && P->p - first > 1) {
        P->p = first;
        return st_syntax(P, "leading zero in integer");
    }
    if (P->p < P->end && (*P->p == '.' || *P->p == 'e' || *P->p == 'E'))
        return st_syntax(P, "expected an integer, found a fraction or exponent");
    *out = v;
    return 0;
}

/* '[' (uint (',' uint)*)? ']', at most max entries. */
static int st_uint_array(st_parser *P, uint64_t *vals, int max, int *count,
                         const char *name, const char *what)
{
    int n = 0;
    if (st_expect(P, '['))
        return -1;
    if (st_peek(P) == ']') {
        P->p++;
        *count = 0;
        return 0;
    }
    for (;;) {
        if (n == max)
            return st_err_at(P->err, P->errlen, P->label,
                          "tensor '%s': %s has more than %d entries", name, what, max);
        if (st_uint(P, &vals[n++]))
            return -1;
        int c = st_peek(P);
        if (c == ',') {
            P->p++;
            continue;
        }
        if (c == ']') {
            P->p++;
            break;
        }
        return st_syntax(P, "expected ',' or ']' in %s", what);
    }
    *count = n;
    return 0;
}

static int st_dtype_lookup(const char *s, rn_st_dtype *out)
{
    for (int i = 0; i < RN_ST_NDTYPES; i++)
        if (strcmp(s, st_dtype_names[i]) == 0) {
            *out = (rn_st_dtype)i;
            return 0;
        }
    return -1;
}

/* tensor = '{' ("dtype": string | "shape": array | "data_offsets": array)
 *          (',' ...)* '}', each key exactly once. */
static int st_tensor(st_parser *P, char *name)
{
    rn_st_file *f = P->f;
    if (f->nt == P->tcap) {
        int cap = P->tcap ? 2 * P->tcap : 64;
        rn_st_tensor *t = realloc(f->t, (size_t)cap * sizeof *t);
        if (!t)
            return st_err_at(P->err, P->errlen, P->label, "out of memory");
        f->t = t;
        P->tcap = cap;
    }
    rn_st_tensor *t = &f->t[f->nt];
    memset(t, 0, sizeof *t);
    t->name = name;
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (st_expect(P, '{'))
        return -1;
    if (st_peek(P) != '}') {
        for (;;) {
            char *key;
            if (st_string(P, &key) || st_expect(P, ':'))
                return -1;
            if (strcmp(key, "dtype") == 0) {
                char *ds;
                if (have_dtype++)
                    return st_err_at(P->err, P->errlen, P->label,
                                  "tensor '%s': \"dtype\" given twice", name);
                if (st_peek(P) != '"')
                    return st_syntax(P, "tensor '%s': dtype must be a string", name);
                if (st_string(P, &ds))
                    return -1;
                if (st_dtype_lookup(ds, &t->dtype))
                    return st_err_at(P->err, P->errlen, P->label,
                                  "tensor '%s': unknown dtype '%s'", name, ds);
            } else if (strcmp(key, "shape") == 0) {
                uint64_t dims[RN_ST_MAX_DIMS];
                if (have_shape++)
                    return st_err_at(P->err, P->errlen, P->label,
                                  "tensor '%s': \"shape\" given twice", name);
                if (st_uint_array(P, dims, RN_ST_MAX_DIMS, &t->ndim, name, "shape"))
                    return -1;
                for (int i = 0; i < t->ndim; i++) {
                    if (dims[i] > (uint64_t)INT64_MAX)
                        return st_err_at(P->err, P->errlen, P->label,
                                      "tensor '%s': shape entry %" PRIu64 " too large",
                                      name, dims[i]);
                    t->shape[i] = (int64_t)dims[i];
                }
            } else if (strcmp(key, "data_offsets") == 0) {
                uint64_t off[2];
                int n = 0;
                if (have_offsets++)
                    return st_err_at(P->err, P->errlen, P->label,
                                  "tensor '%s': \"data_offsets\" given twice", name);
                if (st_uint_array(P, off, 2, &n, name, "data_offsets"))
                    return -1;
                if (n != 2)
                    return st_err_at(P->err, P->errlen, P->label,
                                  "tensor '%s': data_offsets must be [begin, end], found %d %s",
                                  name, n, n == 1 ? "entry" : "entries");
                t->begin = off[0];
                t->end = off[1];
            } else {
                return st_err_at(P->err, P->errlen, P->label,
                              "tensor '%s': unknown key '%s'", name, key);
            }
            int c = st_peek(P);
            if (c == ',') {
                P->p++;
                continue;
            }
            if (c == '}')
                break;
            return st_syntax(P, "expected ',' or '}' in tensor '%s'", name);
        }
    }
    P->p++; /* '}' */
    if (!have_dtype || !have_shape || !have_offsets)
        return st_err_at(P->err, P->errlen, P->label, "tensor '%s': missing \"%s\"", name,
                      !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    f->nt++;
    return 0;
}

/* metadata = '{' (string ':' string (',' string ':' string)*)? '}' */
static int st_metadata(st_parser *P)
{
    rn_st_file *f = P->f;
    if (st_expect(P, '{'))
        return -1;
    if (st_peek(P) == '}') {
        P->p++;
        return 0;
    }
    for (;;) {
        char *k, *v;
        if (st_string(P, &k) || st_expect(P, ':'))
            return -1;
        if (st_peek(P) != '"')
            return st_syntax(P, "__metadata__ value for '%s' must be a string", k);
        if (st_string(P, &v))
            return -1;
        if (f->nmeta == P->mcap) {
            int cap = P->mcap ? 2 * P->mcap : 16;
            st_meta *m = realloc(f->meta, (size_t)cap * sizeof *m);
            if (!m)
                return st_err_at(P->err, P->errlen, P->label, "out of memory");
            f->meta = m;
            P->mcap = cap;
        }
        f->meta[f->nmeta].key = k;
        f->meta[f->nmeta].value = v;
        f->nmeta++;
        int c = st_peek(P);
        if (c == ',') {
            P->p++;
            continue;
        }
        if (c == '}') {
            P->p++;
            return 0;
        }
        return st_syntax(P, "expected ',' or '}' in __metadata__");
    }
}

/* header = '{' (string ':' (metadata | tensor) (',' ...)*)? '}' whitespace* */
static int st_header(st_parser *P)
{
    int seen_meta = 0;
    if (st_expect(P, '{'))
        return -1;
    if (st_peek(P) == '}') {
        P->p++;
    } else {
        for (;;) {
            char *key;
            if (st_peek(P) != '"')
                return st_syntax(P, "expected a tensor name");
            if (st_string(P, &key) || st_expect(P, ':'))
                return -1;
            if (strcmp(key, "__metadata__") == 0) {
                if (seen_meta++)
                    return st_err_at(P->err, P->errlen, P->label, "__metadata__ appears twice");
                if (st_metadata(P))
                    return -1;
            } else if (st_tensor(P, key)) {
                return -1;
            }
            int c = st_peek(P);
            if (c == ',') {
                P->p++;
                continue;
            }
            if (c == '}') {
                P->p++;
                break;
            }
            return st_syntax(P, "expected ',' or '}' after tensor '%s'", key);
        }
    }
    st_ws(P);
    if (P->p != P->end)
        return st_syntax(P, "unexpected bytes after the header object");
    return 0;
}

/* ---- validation ------------------------------------------------------- */

static int st_cmp_offset(const void *a, const void *b)
{
    const rn_st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int st_cmp_name(const void *a, const void *b)
{
    const rn_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static int st_cmp_meta(const void *a, const void *b)
{
    const st_meta *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/* Bytes of a tensor of this dtype and shape, or -1 on overflow. */
static int st_nbytes(rn_st_dtype dt, int ndim, const int64_t *shape, uint64_t *out)
{
    uint64_t n = rn_st_dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d && n > UINT64_MAX / d)
            return -1;
        n *= d;
    }
    *out = n;
    return 0;
}

static int st_validate(rn_st_file *f, const unsigned char *data, uint64_t dlen,
                       char *err, size_t errlen)
{
    const char *L = f->label;
    char sb[200];

    if (f->nt > 1)
        qsort(f->t, (size_t)f->nt, sizeof *f->t, st_cmp_offset);
    f->by_name = malloc((size_t)(f->nt ? f->nt : 1) * sizeof *f->by_name);
    if (!f->by_name)
        return st_err_at(err, errlen, L, "out of memory");
    for (int i = 0; i < f->nt; i++)
        f->by_name[i] = &f->t[i];
    if (f->nt > 1)
        qsort(f->by_name, (size_t)f->nt, sizeof *f->by_name, st_cmp_name);
    for (int i = 1; i < f->nt; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return st_err_at(err, errlen, L, "tensor '%s' appears twice in the header",
                          f->by_name[i]->name);
    if (f->nmeta > 1)
        qsort(f->meta, (size_t)f->nmeta, sizeof *f->meta, st_cmp_meta);
    for (int i = 1; i < f->nmeta; i++)
        if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0)
            return st_err_at(err, errlen, L, "__metadata__ key '%s' appears twice",
                          f->meta[i].key);

    for (int i = 0; i < f->nt; i++) {
        rn_st_tensor *t = &f->t[i];
        uint64_t nbytes;
        if (t->begin > t->end)
            return st_err_at(err, errlen, L,
                          "tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64 "] end before they begin",
                          t->name, t->begin, t->end);
        if (t->end > dlen)
            return st_err_at(err, errlen, L,
                          "tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64
                          "] run past the end of the data section (%" PRIu64 " bytes; truncated file?)",
                          t->name, t->begin, t->end, dlen);
        if (st_nbytes(t->dtype, t->ndim, t->shape, &nbytes))
            return st_err_at(err, errlen, L, "tensor '%s': shape %s overflows", t->name,
                          st_shape_str(sb, sizeof sb, t->ndim, t->shape));
        if (nbytes != t->end - t->begin)
            return st_err_at(err, errlen, L,
                          "tensor '%s': shape %s of %s needs %" PRIu64
                          " bytes, data_offsets [%" PRIu64 ",%" PRIu64 "] hold %" PRIu64,
                          t->name, st_shape_str(sb, sizeof sb, t->ndim, t->shape),
                          rn_st_dtype_name(t->dtype), nbytes, t->begin, t->end,
                          t->end - t->begin);
        t->data = data + t->begin;
    }

    /* Sorted by offset, each tensor must start where the last one ended. */
    uint64_t at = 0;
    for (int i = 0; i < f->nt; i++) {
        const rn_st_tensor *t = &f->t[i];
        if (t->begin < at)
            return st_err_at(err, errlen, L, "tensor '%s' overlaps tensor '%s' (data_offsets [%" PRIu64
                          ",%" PRIu64 "] and [%" PRIu64 ",%" PRIu64 "])",
                          t->name, f->t[i - 1].name, t->begin, t->end,
                          f->t[i - 1].begin, f->t[i - 1].end);
        if (t->begin > at)
            return st_err_at(err, errlen, L,
                          "bytes [%" PRIu64 ",%" PRIu64 ") of the data section, before tensor '%s', "
                          "belong to no tensor",
                          at, t->begin, t->name);
        at = t->end;
    }
    if (at != dlen)
        return st_err_at(err, errlen, L,
                      "bytes [%" PRIu64 ",%" PRIu64 ") at the end of the data section belong to no tensor",
                      at, dlen);
    return 0;
}

/* ---- opening ---------------------------------------------------------- */

static char *st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int rn_st_open_mem(rn_st_file **out, const void *bytes, size_t len, const char *label,
                   char *err, size_t errlen)
{
    const unsigned char *b = bytes;
    *out = NULL;
    if (!label)
        label = "<memory>";
    if (len < 8)
        return st_err_at(err, errlen, label,
                      "file too short (%zu bytes) to hold a safetensors header length", len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | b[i];
    if (hlen > len - 8)
        return st_err_at(err, errlen, label,
                      "header length %" PRIu64 " is larger than the rest of the file (%zu bytes); "
                      "truncated or not a safetensors file",
                      hlen, len - 8);
    if (hlen > ST_MAX_HEADER)
        return st_err_at(err, errlen, label, "header length %" PRIu64 " exceeds the %u-byte limit",
                      hlen, ST_MAX_HEADER);
    if (hlen < 2)
        return st_err_at(err, errlen, label, "header of %" PRIu64 " bytes cannot hold a JSON object",
                      hlen);

    rn_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return st_err_at(err, errlen, label, "out of memory");
    f->label = st_strdup(label);
    f->arena = malloc((size_t)hlen);
    if (!f->label || !f->arena) {
        rn_st_close(f);
        return st_err_at(err, errlen, label, "out of memory");
    }
    st_parser P = {
        .start = b + 8, .p = b + 8, .end = b + 8 + hlen, .arena = f->arena, .f = f,
        .label = f->label, .err = err, .errlen = errlen,
    };
    if (st_header(&P) || st_validate(f, b + 8 + hlen, len - 8 - hlen, err, errlen)) {
        rn_st_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int rn_st_open(rn_st_file **out, const char *path, char *err, size_t errlen)
{
    struct stat st;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return st_err_at(err, errlen, path, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return st_err_at(err, errlen, path, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return st_err_at(err, errlen, path, "not a regular file");
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX - 1) {
        close(fd);
        return st_err_at(err, errlen, path, "file too large to read");
    }
    size_t len = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return st_err_at(err, errlen, path, "out of memory reading %zu bytes", len);
    }
    while (got < len) {
        size_t want = len - got > (1u << 30) ? (1u << 30) : len - got;
        ssize_t r = read(fd, buf + got, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return st_err_at(err, errlen, path, "read error: %s", strerror(e));
        }
        if (r == 0) {
            free(buf);
            close(fd);
            return st_err_at(err, errlen, path, "file shrank while being read");
        }
        got += (size_t)r;
    }
    close(fd);
    if (rn_st_open_mem(out, buf, len, path, err, errlen)) {
        free(buf);
        return -1;
    }
    (*out)->owned = buf;
    return 0;
}

/* ---- lookup ----------------------------------------------------------- */

static int st_cmp_key_name(const void *key, const void *elem)
{
    const rn_st_tensor *const *t = elem;
    return strcmp(key, (*t)->name);
}

const rn_st_tensor *rn_st_find(const rn_st_file *f, const char *name)
{
    if (!f->nt)
        return NULL;
    const rn_st_tensor *const *hit =
        bsearch(name, f->by_name, (size_t)f->nt, sizeof *f->by_name, st_cmp_key_name);
    return hit ? *hit : NULL;
}

int rn_st_get(const rn_st_file *f, const char *name, const rn_st_tensor **out,
              char *err, size_t errlen)
{
    *out = rn_st_find(f, name);
    if (!*out)
        return st_err_at(err, errlen, f->label, "tensor '%s' not found in file (it holds %d tensors)",
                      name, f->nt);
    return 0;
}

static int st_cmp_key_meta(const void *key, const void *elem)
{
    const st_meta *m = elem;
    return strcmp(key, m->key);
}

const char *rn_st_meta(const rn_st_file *f, const char *key)
{
    if (!f->nmeta)
        return NULL;
    const st_meta *m = bsearch(key, f->meta, (size_t)f->nmeta, sizeof *f->meta, st_cmp_key_meta);
    return m ? m->value : NULL;
}

/* Copy little-endian elements of size es into host order. */
static void st_copy_le(void *dst, const void *src, size_t n, size_t es)
{
    if (n == 0)
        return;
    if (st_host_le() || es == 1) {
        memcpy(dst, src, n * es);
        return;
    }
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++, s += es, d += es)
        for (size_t j = 0; j < es; j++)
            d[j] = s[es - 1 - j];
}

static int st_expect_tensor(const rn_st_file *f, const char *name, rn_st_dtype want, int ndim,
                     const int64_t *shape, void *dst, char *err, size_t errlen)
{
    const rn_st_tensor *t;
    char a[200], b[200];
    if (rn_st_get(f, name, &t, err, errlen))
        return -1;
    if (ndim < 0 || ndim > RN_ST_MAX_DIMS)
        return st_err_at(err, errlen, f->label, "tensor '%s': model expects %d dimensions (at most %d supported)",
                      name, ndim, RN_ST_MAX_DIMS);
    if (t->dtype != want)
        return st_err_at(err, errlen, f->label, "tensor '%s': dtype %s in file, model expects %s",
                      name, rn_st_dtype_name(t->dtype), rn_st_dtype_name(want));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same)
        return st_err_at(err, errlen, f->label, "tensor '%s': shape %s in file, model expects %s",
                      name, st_shape_str(a, sizeof a, t->ndim, t->shape),
                      st_shape_str(b, sizeof b, ndim, shape));
    size_t es = rn_st_dtype_size(want);
    st_copy_le(dst, t->data, (size_t)(t->end - t->begin) / es, es);
    return 0;
}

int rn_st_expect_f32(const rn_st_file *f, const char *name, int ndim, const int64_t *shape,
                     float *dst, char *err, size_t errlen)
{
    return st_expect_tensor(f, name, RN_ST_F32, ndim, shape, dst, err, errlen);
}

int rn_st_expect_i64(const rn_st_file *f, const char *name, int ndim, const int64_t *shape,
                     int64_t *dst, char *err, size_t errlen)
{
    return st_expect_tensor(f, name, RN_ST_I64, ndim, shape, dst, err, errlen);
}

/* ---- writing ---------------------------------------------------------- */

typedef struct st_buf {
    char *p;
    size_t len, cap;
    int oom;
} st_buf;

static void st_put(st_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void st_puts(st_buf *b, const char *s) { st_put(b, s, strlen(s)); }

static void st_put_u64(st_buf *b, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    st_puts(b, tmp);
}

/* A JSON string literal: quotes, backslashes and control bytes escaped,
 * everything else (already valid UTF-8) passed through. */
static void st_put_json_string(st_buf *b, const char *s)
{
    st_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': st_put(b, "\\\"", 2); break;
        case '\\': st_put(b, "\\\\", 2); break;
        case '\b': st_put(b, "\\b", 2); break;
        case '\f': st_put(b, "\\f", 2); break;
        case '\n': st_put(b, "\\n", 2); break;
        case '\r': st_put(b, "\\r", 2); break;
        case '\t': st_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                st_put(b, esc, 6);
            } else {
                st_put(b, (const char *)p, 1);
            }
        }
    }
    st_put(b, "\"", 1);
}

static int st_cmp_str(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

/* Names and keys non-empty where needed, valid UTF-8, unique. */
static int st_check_entries(const char *path, const rn_st_entry *t, int nt, const rn_st_kv *meta,
                            int nmeta, uint64_t *sizes, char *err, size_t errlen)
{
    if (nt < 0 || nmeta < 0 || (nt && !t) || (nmeta && !meta))
        return st_err_at(err, errlen, path, "bad tensor or metadata count");
    for (int i = 0; i < nt; i++) {
        const rn_st_entry *e = &t[i];
        if (!e->name || !e->name[0])
            return st_err_at(err, errlen, path, "tensor %d has no name", i);
        if (!st_utf8_valid(e->name))
            return st_err_at(err, errlen, path, "tensor %d: name is not valid UTF-8", i);
        if (strcmp(e->name, "__metadata__") == 0)
            return st_err_at(err, errlen, path, "'__metadata__' is reserved and cannot name a tensor");
        if ((unsigned)e->dtype >= RN_ST_NDTYPES)
            return st_err_at(err, errlen, path, "tensor '%s': bad dtype %d", e->name, (int)e->dtype);
        if (e->ndim < 0 || e->ndim > RN_ST_MAX_DIMS)
            return st_err_at(err, errlen, path, "tensor '%s': %d dimensions (at most %d)", e->name,
                          e->ndim, RN_ST_MAX_DIMS);
        for (int d = 0; d < e->ndim; d++)
            if (e->shape[d] < 0)
                return st_err_at(err, errlen, path, "tensor '%s': negative dimension %" PRId64,
                              e->name, e->shape[d]);
        if (st_nbytes(e->dtype, e->ndim, e->shape, &sizes[i]) || sizes[i] > (uint64_t)SIZE_MAX)
            return st_err_at(err, errlen, path, "tensor '%s': size overflows", e->name);
        if (sizes[i] && !e->data)
            return st_err_at(err, errlen, path, "tensor '%s': no data", e->name);
    }
    for (int i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value)
            return st_err_at(err, errlen, path, "metadata entry %d is missing its key or value", i);
        if (!st_utf8_valid(meta[i].key) || !st_utf8_valid(meta[i].value))
            return st_err_at(err, errlen, path, "metadata '%s' is not valid UTF-8", meta[i].key);
    }

    /* Duplicates: sort the names (and then the keys) and compare neighbours. */
    int n = nt > nmeta ? nt : nmeta;
    const char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    if (!names)
        return st_err_at(err, errlen, path, "out of memory");
    for (int pass = 0; pass < 2; pass++) {
        int m = pass ? nmeta : nt;
        for (int i = 0; i < m; i++)
            names[i] = pass ? meta[i].key : t[i].name;
        if (m > 1)
            qsort(names, (size_t)m, sizeof *names, st_cmp_str);
        for (int i = 1; i < m; i++)
            if (strcmp(names[i - 1], names[i]) == 0) {
                st_err_at(err, errlen, path, pass ? "metadata key '%s' given twice"
                                               : "tensor '%s' given twice", names[i]);
                free(names);
                return -1;
            }
    }
    free(names);
    return 0;
}

static int st_write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        size_t want = n > (1u << 30) ? (1u << 30) : n;
        rn_fault_point("write");
        ssize_t w = write(fd, b, want);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Tensor bytes in little-endian order: straight from memory on a
 * little-endian host, swapped through a bounce buffer otherwise. */
static int st_write_tensor(int fd, const rn_st_entry *e, uint64_t nbytes)
{
    size_t es = rn_st_dtype_size(e->dtype);
    if (st_host_le() || es == 1)
        return st_write_all(fd, e->data, (size_t)nbytes);
    unsigned char tmp[1 << 14];
    const unsigned char *s = e->data;
    size_t left = (size_t)nbytes;
    while (left) {
        size_t n = left < sizeof tmp ? left : sizeof tmp;
        st_copy_le(tmp, s, n / es, es); /* the swap is its own inverse */
        if (st_write_all(fd, tmp, n))
            return -1;
        s += n;
        left -= n;
    }
    return 0;
}

/* fsync the directory holding path, so the rename itself is durable.
 * Filesystems that cannot sync directories (EINVAL) are let off. */
static int st_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = st_strdup(".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = 0;
        }
    }
    if (!dir)
        return 0;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return 0;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) {
        errno = e;
        return -1;
    }
    return 0;
}

void rn_st_tmp_name(const char *path, char *tmp, size_t tmplen)
{
    snprintf(tmp, tmplen, "%s.tmp.%ld", path, (long)getpid());
}

int rn_st_write_tmp(const char *path, const rn_st_entry *t, int nt, const rn_st_kv *meta,
                    int nmeta, char *tmp, size_t tmplen, char *err, size_t errlen)
{
    uint64_t *sizes = malloc((size_t)(nt > 0 ? nt : 1) * sizeof *sizes);
    st_buf h = {0};
    int fd = -1, rc = -1;
    if (!sizes)
        return st_err_at(err, errlen, path, "out of memory");
    if (st_check_entries(path, t, nt, meta, nmeta, sizes, err, errlen))
        goto out;

    /* The header. */
    uint64_t off = 0;
    st_puts(&h, "{");
    if (nmeta) {
        st_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i)
                st_puts(&h, ",");
            st_put_json_string(&h, meta[i].key);
            st_puts(&h, ":");
            st_put_json_string(&h, meta[i].value);
        }
        st_puts(&h, "}");
    }
    for (int i = 0; i < nt; i++) {
        if (i || nmeta)
            st_puts(&h, ",");
        st_put_json_string(&h, t[i].name);
        st_puts(&h, ":{\"dtype\":\"");
        st_puts(&h, rn_st_dtype_name(t[i].dtype));
        st_puts(&h, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            if (d)
                st_puts(&h, ",");
            st_put_u64(&h, (uint64_t)t[i].shape[d]);
        }
        st_puts(&h, "],\"data_offsets\":[");
        st_put_u64(&h, off);
        st_puts(&h, ",");
        st_put_u64(&h, off + sizes[i]);
        st_puts(&h, "]}");
        off += sizes[i];
    }
    st_puts(&h, "}");
    while (h.len % 8)
        st_puts(&h, " ");
    if (h.oom) {
        st_err_at(err, errlen, path, "out of memory building the header");
        goto out;
    }
    if (h.len > ST_MAX_HEADER) {
        st_err_at(err, errlen, path, "header of %zu bytes exceeds the %u-byte limit", h.len,
               ST_MAX_HEADER);
        goto out;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));

    /* The temporary file, beside the target so rename cannot cross devices. */
    rn_st_tmp_name(path, tmp, tmplen);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        st_err_at(err, errlen, path, "cannot create temporary file %s: %s", tmp, strerror(errno));
        goto out;
    }
    const char *what = "write";
    int failed = st_write_all(fd, len8, 8) || st_write_all(fd, h.p, h.len);
    for (int i = 0; i < nt && !failed; i++)
        failed = st_write_tensor(fd, &t[i], sizes[i]);
    rn_fault_point("fsync");
    if (!failed && fsync(fd) != 0) {
        what = "fsync";
        failed = 1;
    }
    if (failed) {
        st_err_at(err, errlen, path, "%s to %s failed: %s", what, tmp, strerror(errno));
        close(fd);
        fd = -1;
        unlink(tmp);
        goto out;
    }
    int cr = close(fd);
    fd = -1;
    if (cr != 0) {
        st_err_at(err, errlen, path, "close of %s failed: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(sizes);
    free(h.p);
    return rc;
}

int rn_st_commit(const char *tmp, const char *path, char *err, size_t errlen)
{
    rn_fault_point("rename");
    if (rename(tmp, path) != 0)
        return st_err_at(err, errlen, path, "cannot rename %s into place: %s", tmp,
                         strerror(errno));
    rn_fault_point("fsync-dir");
    if (st_sync_dir(path) != 0) {
        st_err_at(err, errlen, path, "written, but syncing its directory failed: %s",
                  strerror(errno));
        return -2;
    }
    return 0;
}

int rn_st_write(const char *path, const rn_st_entry *t, int nt, const rn_st_kv *meta, int nmeta,
                char *err, size_t errlen)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return st_err_at(err, errlen, path, "out of memory");
    int rc = rn_st_write_tmp(path, t, nt, meta, nmeta, tmp, n, err, errlen);
    if (!rc && (rc = rn_st_commit(tmp, path, err, errlen)) == -1)
        unlink(tmp);
    free(tmp);
    if (rc)
        rc = -1;
    return rc;
}
