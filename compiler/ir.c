/* ir.c - the graph IR: one node per layer, explicit edges, static shapes.
 *
 * Nodes are kept in topological order (every input precedes its user), which
 * every pass may rely on and ir_validate checks.  Shapes are per image; the
 * batch size is a symbol the backends supply. */
#include <string.h>
#include "rn_model.h"
#include "rnet.h"

Graph *graph_new(Model *m)
{
    Graph *g = arena_alloc(sizeof *g);
    g->model = m;
    g->name = m ? m->name : "graph";
    return g;
}

Node *graph_add(Graph *g, RnOp op, const char *name, Loc loc, Node *a, Node *b)
{
    Node *n = arena_alloc(sizeof *n);
    n->id = g->nodes.n;
    n->op = op;
    n->name = name;
    n->loc = loc;
    n->in[0] = a;
    n->in[1] = b;
    n->nin = rn_op_ninputs[op];
    n->stride = 1;
    n->groups = 1;
    vec_push(&g->nodes, n);
    return n;
}

void node_add_param(Node *n, const char *suffix, int ndim, const int *shape, int is_buffer,
                    int no_decay)
{
    if (n->nparam == 4)
        die("node %s has too many parameters", n->name);
    ParamT *p = &n->param[n->nparam++];
    p->name = arena_printf("%s.%s", n->name, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= shape[i];
    }
    p->is_buffer = is_buffer;
    p->no_decay = no_decay;
}

Graph *graph_clone(Graph *g)
{
    Graph *c = arena_alloc(sizeof *c);
    *c = *g;
    c->nodes = (Vec){ 0 };
    c->plan = NULL;
    Node **map = arena_alloc(sizeof *map * (size_t)(g->nodes.n + 1));
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i], *m = arena_alloc(sizeof *m);
        *m = *n;
        for (int k = 0; k < n->nin; k++)
            m->in[k] = map[n->in[k]->id];
        map[i] = m;
        vec_push(&c->nodes, m);
    }
    c->output = g->output ? map[g->output->id] : NULL;
    return c;
}

const char *node_cname(const Node *n)
{
    return c_ident(n->name);
}

long param_layout(Graph *g)
{
    long off = 0;
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++) {
            n->param[j].offset = off;
            n->param[j].index = k++;
            off += (n->param[j].numel + 15) & ~15L;
        }
    }
    return off;
}

int param_kind(const Node *n, int j)
{
    switch (n->op) {
    case RN_OP_CONV:
        return j == 0 ? RN_P_CONV_W : RN_P_CONV_B;
    case RN_OP_BN:
        return RN_P_BN_W + j; /* weight, bias, running mean, running var */
    case RN_OP_FC:
        return j == 0 ? RN_P_FC_W : RN_P_FC_B;
    case RN_OP_INPUT:
    case RN_OP_RELU:
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
    case RN_OP_GAP:
    case RN_OP_ADD:
    case RN_OP_CONCAT:
    case RN_OP_PADSHORT:
    case RN_OP_DROPOUT:
    case RN_OP_COUNT:
        break;
    }
    die("op %s has no parameters", rn_op_names[n->op]);
}

void param_fans(const Node *n, const ParamT *p, int *fan_in, int *fan_out)
{
    *fan_in = *fan_out = 1;
    if (p->ndim >= 2) {
        int rf = 1;
        for (int d = 2; d < p->ndim; d++)
            rf *= p->shape[d];
        *fan_in = p->shape[1] * rf;
        *fan_out = p->shape[0] * rf;
    } else if (n->op == RN_OP_FC) {
        *fan_in = n->in[0]->c * n->in[0]->h * n->in[0]->w;
    }
}

long node_macs(const Node *n)
{
    switch (n->op) {
    case RN_OP_CONV:
        return (long)n->c * n->h * n->w * (n->in[0]->c / n->groups) * n->kh * n->kw;
    case RN_OP_FC:
        return (long)n->in[0]->c * n->in[0]->h * n->in[0]->w * n->c;
    case RN_OP_INPUT:
    case RN_OP_BN:
    case RN_OP_RELU:
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
    case RN_OP_GAP:
    case RN_OP_ADD:
    case RN_OP_CONCAT:
    case RN_OP_PADSHORT:
    case RN_OP_DROPOUT:
        return 0;
    case RN_OP_COUNT:
        break;
    }
    die("bad op %d", n->op);
}

/* the multiply-adds a conv needs: only kernel taps that read inside the
 * input count (padding multiplies zeros); other ops as node_macs */
long node_useful_macs(const Node *n)
{
    if (n->op != RN_OP_CONV)
        return node_macs(n);
    const Node *x = n->in[0];
    long taps = 0;
    for (int oh = 0; oh < n->h; oh++)
        for (int ow = 0; ow < n->w; ow++)
            for (int kh = 0; kh < n->kh; kh++)
                for (int kw = 0; kw < n->kw; kw++) {
                    int ih = oh * n->stride - n->pad + kh, iw = ow * n->stride - n->pad + kw;
                    taps += ih >= 0 && ih < x->h && iw >= 0 && iw < x->w;
                }
    return taps * (x->c / n->groups) * n->c;
}

long node_params(const Node *n)
{
    long s = 0;
    for (int i = 0; i < n->nparam; i++)
        if (!n->param[i].is_buffer)
            s += n->param[i].numel;
    return s;
}

void ir_validate(Graph *g)
{
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (n->id != i)
            die("node %s has id %d at position %d", n->name, n->id, i);
        if ((unsigned)n->op >= RN_OP_COUNT)
            die("node %s has a bad op", n->name);
        if (n->nin != rn_op_ninputs[n->op])
            die("node %s (%s) has %d inputs, expected %d", n->name, rn_op_names[n->op], n->nin,
                rn_op_ninputs[n->op]);
        for (int k = 0; k < n->nin; k++) {
            if (!n->in[k])
                die("node %s lacks input %d", n->name, k);
            if (n->in[k]->id >= n->id)
                die("node %s reads %s, which comes later", n->name, n->in[k]->name);
        }
        if (n->shape_ok && (n->c <= 0 || n->h <= 0 || n->w <= 0))
            die("node %s has shape %dx%dx%d", n->name, n->c, n->h, n->w);
        if (n->ep.bn && (n->op != RN_OP_CONV || n->ep.bn->op != RN_OP_BN || n->ep.bn->c != n->c))
            die("node %s has a batch norm fused into a %s", n->name, rn_op_names[n->op]);
        if (n->ep.fold && (!n->ep.bn || g->mode != MODE_INFER))
            die("node %s folds a batch norm outside inference", n->name);
        if (n->ep.relu && n->op != RN_OP_CONV && n->op != RN_OP_ADD && n->op != RN_OP_BN)
            die("node %s (%s) has a fused relu", n->name, rn_op_names[n->op]);
        const ConvSched *cs = &n->cs;
        if (n->op != RN_OP_CONV && (cs->fwd || cs->fwd_small || cs->bwd_data || cs->bwd_weights ||
                                    cs->ntaps))
            die("node %s (%s) has a convolution schedule", n->name, rn_op_names[n->op]);
        int wino = cs->fwd == CONV_WINOGRAD_2X2_3X3 || cs->bwd_data == CONV_WINOGRAD_2X2_3X3;
        if (wino && (n->kh != 3 || n->kw != 3 || n->stride != 1 || n->pad != 1 || n->groups != 1 ||
                     cs->ntaps))
            die("node %s is scheduled for Winograd but is not a 3x3/1 pad 1 conv", n->name);
        if ((cs->fwd == CONV_DIRECT || cs->bwd_data == CONV_DIRECT || cs->bwd_weights == CONV_DIRECT) &&
            n->groups != 1)
            die("node %s is scheduled direct but has groups", n->name);
        if (cs->fwd == CONV_CONV1 || cs->bwd_data == CONV_CONV1 || cs->bwd_weights == CONV_CONV1 ||
            cs->bwd_weights == CONV_WINOGRAD_2X2_3X3 ||
            /* the direct backward computes both gradients in one pass */
            ((cs->bwd_data == CONV_DIRECT) != (cs->bwd_weights == CONV_DIRECT)) ||
            (cs->fwd_small && (cs->fwd != CONV_DIRECT || (cs->fwd_small == CONV_CONV1 && !n->ep.fold))))
            die("node %s has an impossible schedule", n->name);
        if (n->inplace) {
            int k = n->inplace - 1;
            if ((n->op != RN_OP_RELU && n->op != RN_OP_ADD) || k >= n->nin)
                die("node %s (%s) is in place over input %d", n->name, rn_op_names[n->op], k);
            Node *x = n->in[k];
            if (x->c != n->c || x->h != n->h || x->w != n->w)
                die("node %s is in place over %s of another shape", n->name, x->name);
        }
    }
    /* names are unique: an open-addressing set, linear in the node count */
    int cap = 16;
    while (cap < 2 * g->nodes.n)
        cap *= 2;
    const char **set = arena_alloc(sizeof *set * (size_t)cap);
    for (int i = 0; i < g->nodes.n; i++) {
        const char *name = ((Node *)g->nodes.v[i])->name;
        unsigned h = 2166136261u;
        for (const char *p = name; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        for (unsigned k = h & (unsigned)(cap - 1);; k = (k + 1) & (unsigned)(cap - 1)) {
            if (!set[k]) {
                set[k] = name;
                break;
            }
            if (!strcmp(set[k], name))
                die("two nodes are named %s", name);
        }
    }
    if (g->output && g->output != g->nodes.v[g->nodes.n - 1])
        die("the output is not the last node");
}


/* the op's attributes as text ("3x3/2 pad 1"), empty when it has none */
void node_attrs(const Node *n, char *buf, size_t len)
{
    buf[0] = 0;
    switch (n->op) {
    case RN_OP_CONV: {
        int k = snprintf(buf, len, "%dx%d/%d pad %d", n->kh, n->kw, n->stride, n->pad);
        if (n->groups != 1 && k > 0 && (size_t)k < len)
            k += snprintf(buf + k, len - (size_t)k, " groups %d", n->groups);
        if (n->bias && k > 0 && (size_t)k < len)
            snprintf(buf + k, len - (size_t)k, " bias");
        break;
    }
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
        snprintf(buf, len, "%dx%d/%d pad %d", n->kh, n->kw, n->stride, n->pad);
        break;
    case RN_OP_PADSHORT:
        snprintf(buf, len, "stride %d", n->stride);
        break;
    case RN_OP_DROPOUT:
        snprintf(buf, len, "p %g", (double)n->p);
        break;
    case RN_OP_INPUT:
    case RN_OP_BN:
    case RN_OP_RELU:
    case RN_OP_GAP:
    case RN_OP_ADD:
    case RN_OP_CONCAT:
    case RN_OP_FC:
        break;
    case RN_OP_COUNT:
        die("bad op");
    }
}

void ir_dump(Graph *g, FILE *out)
{
    fprintf(out, "graph %s {\n", g->name);
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        char lhs[160];
        int len = snprintf(lhs, sizeof lhs, "  %%%d = %s", n->id, rn_op_names[n->op]);
        for (int k = 0; k < n->nin; k++)
            len += snprintf(lhs + len, sizeof lhs - (size_t)len, "%s%%%d", k ? ", " : " ",
                            n->in[k]->id);
        fprintf(out, "%s", lhs);
        char attr[96];
        node_attrs(n, attr, sizeof attr);
        if (attr[0])
            fprintf(out, " %s", attr);
        if (n->ep.bn)
            fprintf(out, n->ep.fold ? " +bn(folded)" : " +bn");
        if (n->ep.relu)
            fprintf(out, " +relu");
        if (n->inplace)
            fprintf(out, " inplace(%%%d)", n->in[n->inplace - 1]->id);
        if (n->op == RN_OP_CONV && g->scheduled) {
            /* the schedule: each direction's algorithm */
            const ConvSched *cs = &n->cs;
            fprintf(out, " {fwd: %s", conv_algo_names[cs->fwd]);
            if (cs->fwd == CONV_DIRECT)
                fprintf(out, ", N<16: %s", conv_algo_names[cs->fwd_small]);
            if (g->mode == MODE_TRAIN)
                fprintf(out, "; dx: %s; dw: %s", conv_algo_names[cs->bwd_data],
                        conv_algo_names[cs->bwd_weights]);
            if (cs->ntaps)
                fprintf(out, "; taps %d/%d", cs->ntaps, n->kh * n->kw);
            fprintf(out, "}");
        }
        fprintf(out, " : %dx%dx%d  # %s", n->c, n->h, n->w, n->name);
        if (n->ep.bn)
            fprintf(out, " + %s", n->ep.bn->name);
        if (n->ep.relu)
            fprintf(out, " + %s", n->ep.relu_name);
        if (n->loc.line)
            fprintf(out, " (line %d)", n->loc.line);
        fprintf(out, "\n");
        for (int pass = 0; pass < 2; pass++) {
            const Node *o = pass ? n->ep.bn : n;
            for (int k = 0; o && k < o->nparam; k++) {
                const ParamT *p = &o->param[k];
                fprintf(out, "      %s %s [", p->is_buffer ? "buffer" : "param ", p->name);
                for (int d = 0; d < p->ndim; d++)
                    fprintf(out, "%s%d", d ? "x" : "", p->shape[d]);
                fprintf(out, "]%s\n", p->no_decay && !p->is_buffer ? " no_decay" : "");
            }
        }
    }
    if (g->output)
        fprintf(out, "  output %%%d\n", g->output->id);
    fprintf(out, "}\n");
}
