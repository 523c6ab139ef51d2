/* weights.c - read a .safetensors checkpoint into the graph's parameters,
 * for builds that embed trained weights (--inference-only --weights FILE).
 *
 * The format: an 8-byte little-endian header length, a JSON object mapping
 * tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (plus an
 * optional "__metadata__" object of strings), then the data, offsets
 * relative to its start.  This small reader handles exactly that: strings
 * without escapes beyond \" and \\ (names are plain ASCII), integers,
 * arrays and objects, nested two deep.  Every parameter of the model must
 * be present as F32 with the model's shape; a BN's num_batches_tracked is
 * ignored; any other tensor is an error (a checkpoint of another model).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rnet.h"

typedef struct {
    const char *path;
    const char *s, *end;  /* header text */
    int bad;
} Json;

static void jerr(Json *j, const char *what)
{
    if (!j->bad)
        error_plain("%s: bad safetensors header: %s", j->path, what);
    j->bad = 1;
}

static void ws(Json *j)
{
    while (j->s < j->end && (*j->s == ' ' || *j->s == '\n' || *j->s == '\t' || *j->s == '\r'))
        j->s++;
}

static int eat(Json *j, char c)
{
    ws(j);
    if (j->s < j->end && *j->s == c) {
        j->s++;
        return 1;
    }
    return 0;
}

static const char *jstring(Json *j)
{
    ws(j);
    if (j->s >= j->end || *j->s != '"') {
        jerr(j, "expected a string");
        return "";
    }
    j->s++;
    char *out = arena_alloc((size_t)(j->end - j->s) + 1);
    size_t n = 0;
    while (j->s < j->end && *j->s != '"') {
        if (*j->s == '\\' && j->s + 1 < j->end)
            j->s++;
        out[n++] = *j->s++;
    }
    if (j->s >= j->end) {
        jerr(j, "unterminated string");
        return "";
    }
    j->s++;
    out[n] = 0;
    return out;
}

static long long jint(Json *j)
{
    ws(j);
    char *e;
    errno = 0;
    long long v = strtoll(j->s, &e, 10);
    if (e == j->s || errno || e > j->end) {
        jerr(j, "expected an integer");
        return 0;
    }
    j->s = e;
    return v;
}

/* [int, int, ...] into v (at most max); returns the count */
static int jints(Json *j, long long *v, int max)
{
    int n = 0;
    if (!eat(j, '[')) {
        jerr(j, "expected '['");
        return 0;
    }
    if (eat(j, ']'))
        return 0;
    do {
        long long x = jint(j);
        if (n < max)
            v[n] = x;
        n++;
    } while (!j->bad && eat(j, ','));
    if (!eat(j, ']'))
        jerr(j, "expected ']'");
    return n;
}

typedef struct {
    const char *name, *dtype;
    int ndim;
    long long shape[8];
    long long off[2];
    int used;
} StTensor;

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_plain("cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            die("out of memory");
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        error_plain("cannot read '%s'", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

float **weights_read(Graph *g, const char *path)
{
    size_t len;
    unsigned char *buf = read_file(path, &len);
    if (!buf)
        return NULL;
    float **out = NULL;
    unsigned long long hl = 0;
    for (int i = 7; len >= 8 && i >= 0; i--)
        hl = hl << 8 | buf[i];
    if (len < 8 || hl > len - 8) {
        error_plain("%s: not a safetensors file (header length %llu, file %zu bytes)", path, hl, len);
        goto done;
    }
    Json j = { .path = path, .s = (const char *)buf + 8, .end = (const char *)buf + 8 + hl };
    const unsigned char *data = buf + 8 + hl;
    size_t dlen = len - 8 - hl;
    int nt = 0, cap = 64;
    StTensor *ts = arena_alloc(sizeof(StTensor) * (size_t)cap);
    if (!eat(&j, '{'))
        jerr(&j, "expected '{'");
    if (!j.bad && !eat(&j, '}'))
        do {
            const char *key = jstring(&j);
            if (!eat(&j, ':'))
                jerr(&j, "expected ':'");
            if (!eat(&j, '{'))
                jerr(&j, "expected an object");
            if (j.bad)
                break;
            StTensor t = { .name = key, .ndim = -1, .off = { -1, -1 } };
            if (!eat(&j, '}'))
                do {
                    const char *f = jstring(&j);
                    if (!eat(&j, ':'))
                        jerr(&j, "expected ':'");
                    if (j.bad)
                        break;
                    if (!strcmp(f, "dtype"))
                        t.dtype = jstring(&j);
                    else if (!strcmp(f, "shape"))
                        t.ndim = jints(&j, t.shape, 8);
                    else if (!strcmp(f, "data_offsets")) {
                        if (jints(&j, t.off, 2) != 2)
                            jerr(&j, "data_offsets needs two numbers");
                    } else
                        jstring(&j); /* metadata values are strings */
                } while (!j.bad && eat(&j, ','));
            if (!j.bad && !eat(&j, '}'))
                jerr(&j, "expected '}'");
            if (strcmp(key, "__metadata__")) {
                if (nt == cap) {
                    StTensor *nts = arena_alloc(sizeof(StTensor) * (size_t)cap * 2);
                    memcpy(nts, ts, sizeof(StTensor) * (size_t)cap);
                    ts = nts;
                    cap *= 2;
                }
                ts[nt++] = t;
            }
        } while (!j.bad && eat(&j, ','));
    if (!j.bad && !eat(&j, '}'))
        jerr(&j, "expected '}' at the end");
    if (j.bad)
        goto done;

    int np = 0;
    for (int i = 0; i < g->nodes.n; i++)
        np += ((Node *)g->nodes.v[i])->nparam;
    float **w = arena_alloc(sizeof(float *) * (size_t)(np + 1));
    int k = 0, errs = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int jj = 0; jj < n->nparam; jj++, k++) {
            const ParamT *p = &n->param[jj];
            StTensor *t = NULL;
            for (int q = 0; q < nt; q++)
                if (!strcmp(ts[q].name, p->name))
                    t = &ts[q];
            if (!t) {
                error_plain("%s: tensor '%s' of model '%s' is missing", path, p->name, g->name);
                errs++;
                continue;
            }
            t->used = 1;
            if (!t->dtype || strcmp(t->dtype, "F32")) {
                error_plain("%s: tensor '%s' is %s, expected F32", path, p->name,
                            t->dtype ? t->dtype : "without a dtype");
                errs++;
                continue;
            }
            int same = t->ndim == p->ndim;
            for (int d = 0; same && d < p->ndim; d++)
                same = t->shape[d] == p->shape[d];
            if (!same) {
                char want[64] = "", got[64] = "";
                for (int d = 0; d < p->ndim; d++)
                    snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "x" : "",
                             p->shape[d]);
                for (int d = 0; d < t->ndim && d < 8; d++)
                    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "",
                             t->shape[d]);
                error_plain("%s: tensor '%s' has shape [%s], model '%s' wants [%s]", path, p->name,
                            got, g->name, want);
                errs++;
                continue;
            }
            if (t->off[0] < 0 || t->off[1] - t->off[0] != (long long)p->numel * 4 ||
                (unsigned long long)t->off[1] > dlen) {
                error_plain("%s: tensor '%s': data offsets [%lld, %lld] do not fit %ld floats in %zu bytes",
                            path, p->name, t->off[0], t->off[1], p->numel, dlen);
                errs++;
                continue;
            }
            w[k] = arena_alloc(sizeof(float) * (size_t)p->numel);
            const unsigned char *src = data + t->off[0];
            for (long q = 0; q < p->numel; q++) {
                unsigned int u = (unsigned)src[4 * q] | (unsigned)src[4 * q + 1] << 8 |
                                 (unsigned)src[4 * q + 2] << 16 | (unsigned)src[4 * q + 3] << 24;
                memcpy(&w[k][q], &u, 4);
            }
        }
    }
    for (int q = 0; q < nt; q++) {
        size_t ln = strlen(ts[q].name);
        if (ts[q].used || (ln > 20 && !strcmp(ts[q].name + ln - 20, ".num_batches_tracked")))
            continue;
        error_plain("%s: tensor '%s' is not a parameter of model '%s'", path, ts[q].name, g->name);
        errs++;
    }
    if (!errs)
        out = w;
done:
    free(buf);
    return out;
}
