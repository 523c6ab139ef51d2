/* passes.c - the pass pipeline: one flat table, run once for training and
 * once for inference.
 *
 * The source graph stays as lowered: the descriptor, checkpoints and the
 * reference interpreter read it.  The pipeline works on two copies, one per
 * mode, and the backend emits both (forward(train = 1) and backward from
 * the training graph, forward(train = 0) from the inference graph).
 *
 * A pass is one function over one graph.  Fusions do not add ops: they mark
 * the producer (conv +bn +relu, add +relu, bn +relu) and take the absorbed
 * node out of the graph, so every later pass and both backends see ordinary
 * nodes with an epilogue.  The IR validator runs after every pass unless
 * the compiler is built with NDEBUG.
 */
#include <string.h>
#include "rnet.h"

#define CONV_ALGO_NAME_(id, name) [id] = name,
const char *const conv_algo_names[CONV_ALGO_COUNT] = { CONV_ALGOS(CONV_ALGO_NAME_) };
#undef CONV_ALGO_NAME_

enum { IN_TRAIN = 1, IN_INFER = 2, IN_BOTH = 3 };

typedef struct {
    const char *name;
    int modes;          /* IN_TRAIN | IN_INFER */
    int optional;       /* skipped at -O0 / by --passes */
    const char *requires;
    const char *does;
    void (*run)(Graph *g, const PassOpts *o);
} Pass;

void pass_uses(Graph *g)
{
    for (int i = 0; i < g->nodes.n; i++)
        ((Node *)g->nodes.v[i])->uses = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int k = 0; k < n->nin; k++)
            n->in[k]->uses++;
    }
    if (g->output)
        g->output->uses++;
}

/* every reader of `from` reads `to` instead */
static void replace_uses(Graph *g, Node *from, Node *to)
{
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] == from)
                n->in[k] = to;
    }
    if (g->output == from) {
        /* the output must stay the last node: move `to` there (it has no
         * other reader, or `from` would not have been absorbed) */
        g->output = to;
    }
}

/* drop the nodes marked dead (uses < 0), renumber the rest */
static void compact(Graph *g)
{
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (n->uses < 0)
            continue;
        n->id = k;
        g->nodes.v[k++] = n;
    }
    g->nodes.n = k;
    if (g->output && g->output != g->nodes.v[k - 1]) {
        /* an absorbed output: its producer becomes the last node; nothing
         * after it may read it, since the output is what nothing reads */
        Node *o = g->output;
        for (int i = o->id; i < k - 1; i++) {
            g->nodes.v[i] = g->nodes.v[i + 1];
            ((Node *)g->nodes.v[i])->id = i;
        }
        g->nodes.v[k - 1] = o;
        o->id = k - 1;
    }
    pass_uses(g);
}

/* ---- conv + batch norm ---- */

/* requires: shapes; a conv whose only reader is a bn, neither fused yet */
static void merge_conv_bn(Graph *g, int fold)
{
    pass_uses(g);
    for (int i = 0; i < g->nodes.n; i++) {
        Node *b = g->nodes.v[i], *c = b->in[0];
        if (b->op != RN_OP_BN || c->op != RN_OP_CONV || c->uses != 1 || c->ep.bn || c->ep.relu ||
            b->ep.relu)
            continue;
        c->ep.bn = b;
        c->ep.fold = fold;
        replace_uses(g, b, c);
        b->uses = -1;
    }
    compact(g);
}

static void fuse_conv_bn(Graph *g, const PassOpts *o)
{
    (void)o;
    merge_conv_bn(g, 0);
}

static void fold_bn(Graph *g, const PassOpts *o)
{
    (void)o;
    merge_conv_bn(g, 1);
}

/* ---- relu into its producer ---- */

/* requires: shapes; a relu whose input (a conv, add or bn) has no other
 * reader and no relu yet.  Training keeps the output for the mask. */
static void fuse_relu(Graph *g, const PassOpts *o)
{
    (void)o;
    pass_uses(g);
    for (int i = 0; i < g->nodes.n; i++) {
        Node *r = g->nodes.v[i], *p = r->in[0];
        if (r->op != RN_OP_RELU || p->uses != 1 || p->ep.relu || r->inplace)
            continue;
        if (p->op != RN_OP_CONV && p->op != RN_OP_ADD && p->op != RN_OP_BN)
            continue;
        p->ep.relu = 1;
        p->ep.relu_name = r->name;
        replace_uses(g, r, p);
        r->uses = -1;
    }
    compact(g);
}

/* ---- in place ---- */

/* does the backward pass read node x's own output?  (relu masks) */
static int bwd_reads_output(const Node *x)
{
    return x->op == RN_OP_RELU || x->ep.relu;
}

/* requires: fusions done.  A relu or add may write over an input that has
 * no other reader, whose value the backward pass does not need, and which
 * is not the network's input in training (conv1's backward reads it). */
static void inplace(Graph *g, const PassOpts *o)
{
    (void)o;
    pass_uses(g);
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if ((n->op != RN_OP_RELU && n->op != RN_OP_ADD) || n->inplace)
            continue;
        for (int k = 0; k < n->nin; k++) {
            Node *x = n->in[k];
            if (x->uses != 1 || x->op == RN_OP_INPUT || x->inplace)
                continue;
            if (n->nin == 2 && n->in[0] == n->in[1])
                continue;
            if (g->mode == MODE_TRAIN) {
                /* x's value is read in backward by x's own backward (a
                 * relu mask) or by n's (a relu reads its output only) */
                if (bwd_reads_output(x))
                    continue;
            }
            n->inplace = 1 + k;
            break;
        }
    }
}

/* ---- Winograd ---- */

/* requires: shapes.  A 3x3 conv with stride 1, padding 1 and no groups
 * runs as Winograd F(2x2, 3x3): 16 multiplications per 2x2 outputs instead
 * of 36, forward and (training) input gradient.  Only where the transforms
 * pay: 16 channels or more in and out, and planes of 12x12 or more (on 7x7
 * planes with 64 channels the transforms cost more than the multiplications
 * they save; from 14x14 the convolution is 1.3-1.6x faster, measured with
 * one thread on this machine's Zen 4 cores). */
static void winograd(Graph *g, const PassOpts *o)
{
    (void)o;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (n->op == RN_OP_CONV && n->kh == 3 && n->kw == 3 && n->stride == 1 && n->pad == 1 &&
            n->groups == 1 && n->in[0]->c >= 16 && n->filters >= 16 && n->h >= 12 && n->w >= 12) {
            n->cs.fwd = CONV_WINOGRAD_2X2_3X3;
            n->cs.bwd_data = CONV_WINOGRAD_2X2_3X3;  /* the weight gradient stays a GEMM */
        }
    }
}

/* ---- taps that read only padding ---- */

/* requires: shapes, winograd done (it keeps its own convs).  A kernel tap
 * that lands in the padding for every output position (a 3x3 conv on a
 * 1x1 plane has one live tap, the centre) multiplies zeros: the conv
 * keeps only its live taps in the im2col matrix and the GEMM. */
static void dead_taps(Graph *g, const PassOpts *o)
{
    (void)o;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (n->op != RN_OP_CONV || n->cs.fwd == CONV_WINOGRAD_2X2_3X3 || n->cs.ntaps ||
            conv_col_floats(n) == 0)
            continue;
        int live = 0, kk = n->kh * n->kw;
        unsigned char *t = arena_alloc((size_t)kk);
        for (int kh = 0; kh < n->kh; kh++)
            for (int kw = 0; kw < n->kw; kw++)
                live += t[kh * n->kw + kw] = (unsigned char)conv_tap_live(n, kh, kw);
        if (live < kk && live > 0) {
            n->cs.ntaps = live;
            n->cs.tap_live = t;
        }
    }
}

/* ---- direct convolution ---- */

/* requires: shapes; winograd and dead-taps done.  A conv without groups
 * with 16 or more filters runs forward as a direct convolution over batch
 * vectors (runtime rn_conv_direct) when the batch has 16 images or more:
 * no im2col and no packing of the input, and each output position
 * multiplies only the taps that read inside the input, so on small planes
 * the padding costs nothing (a 3x3 conv on 2x2 planes: 4 of 9 taps per
 * position).  With 16 or more input channels too, so do its input and
 * weight gradients (rn_conv_direct with the transposed filter,
 * rn_conv_wgrad); a stem's few channels would fill a fraction of the
 * register tile there, and keep the im2col GEMMs.  Smaller batches
 * (batch-1 latency) keep the GEMMs. */
static void direct_conv(Graph *g, const PassOpts *o)
{
    (void)o;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (n->op != RN_OP_CONV || n->cs.fwd == CONV_WINOGRAD_2X2_3X3 || n->groups != 1)
            continue;
        long T = n->cs.ntaps ? n->cs.ntaps : n->kh * n->kw;
        if (n->filters >= 16 && T * n->in[0]->c <= 16384) {
            n->cs.fwd = CONV_DIRECT;
            /* folded (inference): small batches image by image with
             * rn_conv1, from the filter packed at fold time */
            n->cs.fwd_small = n->ep.fold ? CONV_CONV1 : CONV_IM2COL_GEMM;
        }
        if (g->mode == MODE_TRAIN && n->in[0]->c >= 16 && n->filters >= 16 &&
            T * n->in[0]->c <= 16384 && T * n->filters <= 16384)
            n->cs.bwd_data = n->cs.bwd_weights = CONV_DIRECT;
    }
}

/* ---- dead nodes ---- */

/* requires: nothing.  Removes every node the output does not depend on. */
static void dce(Graph *g, const PassOpts *o)
{
    (void)o;
    if (!g->output)
        return;
    for (int i = 0; i < g->nodes.n; i++)
        ((Node *)g->nodes.v[i])->uses = -1;
    g->output->uses = 0;
    for (int i = g->nodes.n - 1; i >= 0; i--) {
        Node *n = g->nodes.v[i];
        if (n->uses < 0 && n->op != RN_OP_INPUT)
            continue;
        n->uses = 0;
        for (int k = 0; k < n->nin; k++)
            n->in[k]->uses = 0;
    }
    compact(g);
}

/* -O0 plans without reuse: every buffer its own space */
static void plan(Graph *g, const PassOpts *o)
{
    plan_memory(g, o->optimize);
}

static const Pass passes[] = {
    { "fuse-conv-bn", IN_TRAIN, 1, "shapes; no fusion yet",
      "conv + batch norm: statistics from the conv output, normalisation in one pass",
      fuse_conv_bn },
    { "fold-bn", IN_INFER, 1, "shapes; no fusion yet",
      "conv + batch norm: bn folded into the conv's weights and bias at load time", fold_bn },
    { "fuse-relu", IN_BOTH, 1, "conv-bn fusion done (it fuses only a relu-free conv)",
      "relu into its conv, add or batch norm when it is their only reader", fuse_relu },
    { "inplace", IN_BOTH, 1, "fusions done",
      "relu and add write over an input nothing else reads (and backward does not need)",
      inplace },
    { "winograd", IN_BOTH, 1, "shapes",
      "3x3 stride-1 convs (16+ channels, 12x12+ planes) as Winograd F(2x2, 3x3)",
      winograd },
    { "dead-taps", IN_BOTH, 1, "shapes; winograd done",
      "kernel taps that read only padding (3x3 on a 1x1 plane) left out of the GEMM", dead_taps },
    { "direct-conv", IN_BOTH, 1, "shapes; winograd and dead-taps done",
      "convs (16+ filters) as direct convolutions over batch vectors, padding taps skipped per "
      "position, for batches of 16+", direct_conv },
    { "dce", IN_BOTH, 1, "none", "remove nodes the output does not depend on", dce },
    { "plan-memory", IN_BOTH, 0, "all rewriting passes done",
      "liveness: every activation, gradient and workspace at an offset in one arena", plan },
};
enum { NPASS = sizeof passes / sizeof passes[0] };

int pass_known(const char *name)
{
    for (int i = 0; i < NPASS; i++)
        if (!strcmp(passes[i].name, name))
            return 1;
    return 0;
}

void list_passes(FILE *out)
{
    for (int i = 0; i < NPASS; i++)
        fprintf(out, "  %-13s %s%s: %s\n", passes[i].name,
                passes[i].modes == IN_BOTH    ? "train+infer"
                : passes[i].modes == IN_TRAIN ? "train"
                                              : "infer",
                passes[i].optional ? "" : ", always", passes[i].does);
}

/* is `name` in the comma-separated list? */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return 1;
        p += len + (e != NULL);
    }
    return 0;
}

static Graph *run_mode(Graph *src, PipeMode mode, const PassOpts *o)
{
    Graph *g = graph_clone(src);
    g->mode = mode;
    g->scheduled = 1;
    pass_uses(g);
    const char *mname = mode == MODE_TRAIN ? "train" : "infer";
    for (int i = 0; i < NPASS; i++) {
        const Pass *p = &passes[i];
        if (!(p->modes & (mode == MODE_TRAIN ? IN_TRAIN : IN_INFER)))
            continue;
        if (p->optional && (!o->optimize || (o->only && !in_list(o->only, p->name))))
            continue;
        p->run(g, o);
#ifndef NDEBUG
        ir_validate(g);
        if (g->plan)
            plan_check(g->plan);
#endif
        if (o->print_all || (o->print_after && !strcmp(o->print_after, p->name))) {
            FILE *f = o->print_to ? o->print_to : stdout;
            fprintf(f, "; after %s (%s)\n", p->name, mname);
            ir_dump(g, f);
        }
    }
    return g;
}

int run_pipeline(Graph *src, const PassOpts *o, Pipeline *out)
{
    const char *lists[2] = { o->only, o->print_after };
    for (int l = 0; l < 2; l++) {
        const char *p = lists[l];
        while (p && *p) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            char *name = arena_alloc(len + 1);
            memcpy(name, p, len);
            if (strcmp(name, "none") && !pass_known(name)) {
                const char *names[NPASS];
                for (int i = 0; i < NPASS; i++)
                    names[i] = passes[i].name;
                const char *near = closest_name(name, names, NPASS);
                error_plain("unknown pass '%s'%s%s%s (rnetc --list-passes shows them)", name,
                            near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
                return -1;
            }
            p += len + (e != NULL);
        }
    }
    param_layout(src);
    out->train = o->inference_only ? NULL : run_mode(src, MODE_TRAIN, o);
    out->infer = run_mode(src, MODE_INFER, o);
    return 0;
}
