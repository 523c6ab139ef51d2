/* shape.c - shape inference: every node's output shape from its inputs.
 *
 * Requires: nodes in topological order with their attributes set.
 * Gives: c, h, w and the parameter shapes of every node, or an error at
 * the .rnet line responsible, naming the shapes involved.  A node whose
 * input already failed is skipped silently, so one mistake is reported
 * once. */
#include "rnet.h"

static void shape_error(Node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void shape_error(Node *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    error_at(n->loc, "%s: %s", n->name, msg);
    if (n->ctx.line && (n->ctx.line != n->loc.line || n->ctx.file != n->loc.file))
        note_at(n->ctx, "in the stage that builds %s", n->name);
}

/* the spatial size after a window of k with stride s and padding p */
static int window_out(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

static int check_window(Node *n, Node *x, const char *what)
{
    if (n->kh > x->h + 2 * n->pad || n->kw > x->w + 2 * n->pad) {
        shape_error(n, "%s %dx%d is larger than its input %dx%dx%d padded by %d", what, n->kh,
                    n->kw, x->c, x->h, x->w, n->pad);
        return 0;
    }
    return 1;
}

int shape_node(Node *n)
{
    n->shape_ok = 0;
    for (int k = 0; k < n->nin; k++)
        if (!n->in[k] || !n->in[k]->shape_ok)
            return 0;
    Node *x = n->in[0], *y = n->in[1];
    int one = 1;
    n->nparam = 0;
    switch (n->op) {
    case RN_OP_INPUT:
        break; /* set by the lowering */
    case RN_OP_CONV: {
        if (x->c % n->groups) {
            shape_error(n, "groups %d does not divide the %d input channels", n->groups, x->c);
            return 0;
        }
        if (!check_window(n, x, "kernel"))
            return 0;
        n->c = n->filters;
        n->h = window_out(x->h, n->kh, n->stride, n->pad);
        n->w = window_out(x->w, n->kw, n->stride, n->pad);
        double wsz = (double)n->filters * (x->c / n->groups) * n->kh * n->kw;
        if (wsz > 2147483647.0 || wsz * n->h * n->w > 35184372088832.0) {
            shape_error(n, "a %dx%d conv from %d to %d channels is too large", n->kh, n->kw, x->c,
                        n->filters);
            return 0;
        }
        int ws[4] = { n->filters, x->c / n->groups, n->kh, n->kw };
        node_add_param(n, "weight", 4, ws, 0, 0);
        if (n->bias)
            node_add_param(n, "bias", 1, &n->filters, 0, 1);
        break;
    }
    case RN_OP_BN:
        n->c = x->c;
        n->h = x->h;
        n->w = x->w;
        node_add_param(n, "weight", 1, &n->c, 0, 1);
        node_add_param(n, "bias", 1, &n->c, 0, 1);
        node_add_param(n, "running_mean", 1, &n->c, 1, 1);
        node_add_param(n, "running_var", 1, &n->c, 1, 1);
        break;
    case RN_OP_RELU:
    case RN_OP_DROPOUT:
        n->c = x->c;
        n->h = x->h;
        n->w = x->w;
        break;
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
        if (!check_window(n, x, "pool window"))
            return 0;
        n->c = x->c;
        n->h = window_out(x->h, n->kh, n->stride, n->pad);
        n->w = window_out(x->w, n->kw, n->stride, n->pad);
        break;
    case RN_OP_GAP:
        n->c = x->c;
        n->h = n->w = 1;
        break;
    case RN_OP_ADD:
        if (x->c != y->c || x->h != y->h || x->w != y->w) {
            shape_error(n, "join of %dx%dx%d and %dx%dx%d: an add needs equal shapes", x->c,
                        x->h, x->w, y->c, y->h, y->w);
            return 0;
        }
        n->c = x->c;
        n->h = x->h;
        n->w = x->w;
        break;
    case RN_OP_CONCAT:
        if (x->h != y->h || x->w != y->w) {
            shape_error(n, "join of %dx%dx%d and %dx%dx%d: a concat needs equal maps", x->c,
                        x->h, x->w, y->c, y->h, y->w);
            return 0;
        }
        n->c = x->c + y->c;
        n->h = x->h;
        n->w = x->w;
        break;
    case RN_OP_PADSHORT:
        if (n->filters < x->c) {
            shape_error(n, "a zero-pad shortcut cannot shrink %d channels to %d; use shortcut B",
                        x->c, n->filters);
            return 0;
        }
        n->c = n->filters;
        n->h = (x->h - 1) / n->stride + 1;
        n->w = (x->w - 1) / n->stride + 1;
        break;
    case RN_OP_FC: {
        long in = (long)x->c * x->h * x->w;
        if (in > 100000000L || (double)in * n->filters > 2147483647.0) {
            shape_error(n, "fc over %dx%dx%d inputs is too large; add a pooling layer first",
                        x->c, x->h, x->w);
            return 0;
        }
        n->c = n->filters;
        n->h = n->w = 1;
        int ws[2] = { n->filters, (int)in };
        node_add_param(n, "weight", 2, ws, 0, 0);
        node_add_param(n, "bias", 1, &n->filters, 0, 1);
        break;
    }
    case RN_OP_COUNT:
        die("bad op");
    }
    (void)one;
    if (n->c <= 0 || n->h <= 0 || n->w <= 0) {
        shape_error(n, "the map shrinks to %dx%dx%d", n->c, n->h, n->w);
        return 0;
    }
    if ((long long)n->c * n->h * n->w > (1LL << 30)) {
        shape_error(n, "output %dx%dx%d is too large", n->c, n->h, n->w);
        return 0;
    }
    n->shape_ok = 1;
    return 1;
}

void pass_shapes(Graph *g)
{
    for (int i = 0; i < g->nodes.n; i++)
        shape_node(g->nodes.v[i]);
}
