/* lower.c - Model -> Graph.
 *
 * Stems and heads become chains of nodes; each stage instantiates its block
 * `repeat` times, building the residual branch from the block's body and
 * the shortcut from the stage's type:
 *   A  identity; where the shape changes, stride-s subsampling and zero
 *      padding of the extra channels (no parameters)
 *   B  identity; where the shape changes, a 1x1 conv + bn projection
 *   C  a 1x1 conv + bn projection on every block
 * and the join (add or concat) followed by a relu.
 *
 * Names follow torchvision where the model has its shape: conv1, bn1,
 * layer2.0.conv1, layer2.0.downsample.0, fc.  Shapes are inferred as nodes
 * are made, since whether a block's shape changes decides its shortcut. */
#include <string.h>
#include "rnet.h"

typedef struct {
    int conv, bn, relu, maxpool, avgpool, gap, dropout, fc, nfc;
} Names;

static const char *next_name(const char *prefix, const char *base, int *counter, int always_number)
{
    int k = ++*counter;
    const char *sep = *prefix ? "." : "";
    if (always_number || k > 1)
        return arena_printf("%s%s%s%d", prefix, sep, base, k);
    return arena_printf("%s%s%s", prefix, sep, base);
}

static Node *add_layer(Graph *g, Layer *l, const char *prefix, Names *nm, Node *x, Loc ctx,
                       int in_block, int *ok)
{
    Node *n = NULL;
    switch (l->kind) {
    case L_CONV:
        n = graph_add(g, RN_OP_CONV, next_name(prefix, "conv", &nm->conv, 1), l->loc, x, NULL);
        n->kh = l->kh;
        n->kw = l->kw;
        n->stride = l->stride;
        n->pad = l->pad;
        n->groups = l->groups;
        n->bias = l->bias;
        n->filters = l->filters;
        break;
    case L_BN:
        n = graph_add(g, RN_OP_BN, next_name(prefix, "bn", &nm->bn, 1), l->loc, x, NULL);
        break;
    case L_RELU:
        n = graph_add(g, RN_OP_RELU, next_name(prefix, "relu", &nm->relu, in_block), l->loc, x,
                      NULL);
        break;
    case L_MAXPOOL:
    case L_AVGPOOL:
        n = graph_add(g, l->kind == L_MAXPOOL ? RN_OP_MAXPOOL : RN_OP_AVGPOOL,
                      l->kind == L_MAXPOOL ? next_name(prefix, "maxpool", &nm->maxpool, 0)
                                           : next_name(prefix, "avgpool", &nm->avgpool, 0),
                      l->loc, x, NULL);
        n->kh = l->kh;
        n->kw = l->kw;
        n->stride = l->stride;
        n->pad = l->pad;
        break;
    case L_GAP:
        /* torchvision calls its global pool "avgpool" */
        n = graph_add(g, RN_OP_GAP, next_name(prefix, "avgpool", &nm->avgpool, 0), l->loc, x,
                      NULL);
        break;
    case L_DROPOUT:
        n = graph_add(g, RN_OP_DROPOUT, next_name(prefix, "dropout", &nm->dropout, 0), l->loc, x,
                      NULL);
        n->p = l->p;
        break;
    case L_FC:
        n = graph_add(g, RN_OP_FC, next_name(prefix, "fc", &nm->fc, nm->nfc > 1), l->loc, x, NULL);
        n->filters = l->filters ? l->filters : g->model->classes;
        n->bias = 1;
        break;
    case L_FORK:
    case L_CALL:
        die("forks and calls are handled before add_layer");
    }
    n->ctx = ctx;
    if (!shape_node(n))
        *ok = 0;
    return n;
}

static Node *projection(Graph *g, const char *prefix, Node *x, int filters, int stride,
                        ProjKind proj, Loc loc, int *ok)
{
    Node *c = graph_add(g, RN_OP_CONV, arena_printf("%s.downsample.0", prefix), loc, x, NULL);
    c->kh = c->kw = 1;
    c->stride = stride;
    c->pad = 0;
    c->filters = filters;
    c->ctx = loc;
    if (!shape_node(c))
        *ok = 0;
    if (proj == PROJ_CONV)
        return c;
    Node *b = graph_add(g, RN_OP_BN, arena_printf("%s.downsample.1", prefix), loc, c, NULL);
    b->ctx = loc;
    if (!shape_node(b))
        *ok = 0;
    return b;
}

/* one block of a stage: branch, shortcut, join, relu (unless post none) */
static Node *lower_block(Graph *g, StageDef *st, int si, int bi, Node *x, int *ok)
{
    const char *prefix = arena_printf("layer%d.%d", si, bi);
    int stride = bi == 0 ? st->stride : 1;
    Env env = { 0 };
    env_bind(&env, "width", st->width);
    env_bind(&env, "stride", stride);
    env_bind(&env, "in", x->c);
    for (int i = 0; i < st->nparam; i++)
        env_bind(&env, ((Param *)st->block->params.v[i])->name, st->param_vals[i]);

    Vec layers = { 0 };
    if (expand_block(st->block, &env, &layers, st->loc)) {
        note_at(st->loc, "in block %d of this stage (%s)", bi, prefix);
        *ok = 0;
        return x;
    }
    Names nm = { 0 };
    Node *y = x, *fork = NULL;
    Loc fork_loc = { 0 };
    for (int i = 0; i < layers.n && *ok; i++) {
        Layer *l = layers.v[i];
        /* built-in blocks have no lines of their own: blame the stage */
        if (st->block->builtin)
            l->loc = st->loc;
        if (l->kind == L_FORK) {
            if (fork) {
                error_at(l->loc, "a block has at most one 'fork'");
                note_at(fork_loc, "the first one");
                note_at(st->loc, "in block %d of this stage (%s)", bi, prefix);
                *ok = 0;
                return y;
            }
            fork = y;
            fork_loc = l->loc;
            continue;
        }
        y = add_layer(g, l, prefix, &nm, y, st->loc, 1, ok);
    }
    if (!*ok)
        return y;

    /* a shortcut that is not the identity reads the fork (the block's
     * input without one) */
    Node *s = x, *sx = fork ? fork : x;
    int changes = x->c != y->c || x->h != y->h || x->w != y->w;
    if (st->join == JOIN_ADD) {
        switch (st->shortcut) {
        case SC_A:
            if (changes) {
                s = graph_add(g, RN_OP_PADSHORT, arena_printf("%s.shortcut", prefix), st->loc, sx,
                              NULL);
                s->filters = y->c;
                s->stride = stride;
                s->ctx = st->loc;
                if (!shape_node(s))
                    *ok = 0;
            }
            break;
        case SC_B:
            if (changes)
                s = projection(g, prefix, sx, y->c, stride, st->proj, st->loc, ok);
            break;
        case SC_C:
            s = projection(g, prefix, sx, y->c, stride, st->proj, st->loc, ok);
            break;
        }
    } else {
        /* concat keeps the shortcut's channels; only the map must match */
        int resize = x->h != y->h || x->w != y->w;
        if (st->shortcut == SC_C || (st->shortcut == SC_B && resize)) {
            s = projection(g, prefix, sx, sx->c, stride, st->proj, st->loc, ok);
        } else if (resize) {
            s = graph_add(g, RN_OP_PADSHORT, arena_printf("%s.shortcut", prefix), st->loc, sx,
                          NULL);
            s->filters = sx->c;
            s->stride = stride;
            s->ctx = st->loc;
            if (!shape_node(s))
                *ok = 0;
        }
    }
    if (!*ok)
        return y;
    Node *j = st->join == JOIN_ADD
                  ? graph_add(g, RN_OP_ADD, arena_printf("%s.add", prefix), st->loc, y, s)
                  : graph_add(g, RN_OP_CONCAT, arena_printf("%s.concat", prefix), st->loc, s, y);
    j->ctx = st->loc;
    if (!shape_node(j)) {
        *ok = 0;
        return j;
    }
    if (st->post == POST_NONE)
        return j;
    Node *r = graph_add(g, RN_OP_RELU, arena_printf("%s.relu", prefix), st->loc, j, NULL);
    r->ctx = st->loc;
    shape_node(r);
    return r;
}

Graph *lower_model(Model *m)
{
    Graph *g = graph_new(m);
    int ok = 1;
    Node *x = graph_add(g, RN_OP_INPUT, "input", m->loc, NULL, NULL);
    x->c = m->in_c;
    x->h = m->in_h;
    x->w = m->in_w;
    shape_node(x);
    x->shape_ok = 1;

    Names nm = { 0 };
    for (int i = 0; i < m->head.n; i++)
        if (((Layer *)m->head.v[i])->kind == L_FC)
            nm.nfc++;
    for (int i = 0; i < m->stem.n && ok; i++)
        x = add_layer(g, m->stem.v[i], "", &nm, x, (Loc){ 0 }, 0, &ok);
    for (int si = 0; si < m->stages.n && ok; si++) {
        StageDef *st = m->stages.v[si];
        for (int bi = 0; bi < st->repeat && ok; bi++)
            x = lower_block(g, st, si + 1, bi, x, &ok);
    }
    for (int i = 0; i < m->head.n && ok; i++)
        x = add_layer(g, m->head.v[i], "", &nm, x, (Loc){ 0 }, 0, &ok);
    if (!ok)
        return NULL;
    Layer *last = m->head.n ? m->head.v[m->head.n - 1] : NULL;
    if (!last || last->kind != L_FC || x->c != m->classes) {
        error_at(last ? last->loc : m->loc,
                 "the head must end in an fc with %d outputs, one per class (it ends in %dx%dx%d)",
                 m->classes, x->c, x->h, x->w);
        return NULL;
    }
    g->output = x;
    return g;
}
