/* arena.c - all compiler data lives in one arena and is freed at once.
 *
 * The compiler is a short-lived batch program, so node-by-node freeing buys
 * nothing but bugs.  Chunks are chained so arena_free_all can release them
 * (the fuzz target calls it between inputs). */
#include <stdlib.h>
#include <string.h>
#include "rnet.h"

typedef struct Chunk {
    struct Chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} Chunk;

static Chunk *chunks;

void *arena_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!chunks || chunks->used + n > chunks->cap) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        Chunk *c = malloc(sizeof *c + cap);
        if (!c) {
            fprintf(stderr, "rnetc: out of memory\n");
            exit(2);
        }
        c->next = chunks;
        c->used = 0;
        c->cap = cap;
        chunks = c;
    }
    void *p = chunks->data + chunks->used;
    chunks->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(arena_alloc(n), s, n);
}

/* GCC 12 with -fsanitize=undefined sees a path on which fmt is NULL (its
 * own null check of the argument) and fails -Werror=format-truncation on
 * the measuring call: the warning is turned off for this function only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
char *arena_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = arena_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}
#pragma GCC diagnostic pop

void arena_free_all(void)
{
    while (chunks) {
        Chunk *next = chunks->next;
        free(chunks);
        chunks = next;
    }
}

void vec_push(Vec *v, void *p)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        void **nv = arena_alloc(sizeof(void *) * (size_t)cap);
        if (v->n)
            memcpy(nv, v->v, sizeof(void *) * (size_t)v->n);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = p;
}
