/* plan.c - memory planning: every activation, gradient and workspace of a
 * graph gets an offset in one arena, by liveness.
 *
 * Time is a list of steps: the forward of node i is step i; in training the
 * backward of node i is step 2n-1-i.  A buffer is live from the step that
 * writes it first to the last step that reads it:
 *   - an activation until its last forward reader, and in training until
 *     the backward steps that read it (a conv, fc, bn or max pool reads its
 *     input; a relu, fused or not, reads its own output as the mask);
 *   - a conv's pre-bn output and a batch norm's saved statistics until the
 *     node's own backward;
 *   - a gradient from the backward of its last reader (the first to
 *     contribute, which writes rather than adds) to its producer's backward;
 *   - im2col columns only during their step;
 *   - folded weights (inference) always: they outlive the call.
 * An in-place node shares its input's buffer.  Buffers whose lifetimes
 * overlap never share bytes; the rest are placed first-fit, largest first.
 *
 * There are two regions: what does not scale with the batch (fixed) first,
 * then what does (per image, times N); the workspace is fixed + per_image *
 * N floats, so the plan holds at every batch size, and a fixed buffer that
 * outlives a call (folded weights) stays at the same address whatever the
 * next call's batch.  Offsets are 16-float aligned.
 */
#include <stdlib.h>
#include <string.h>
#include "rnet.h"

#define NODE_BUF_NAME_(id, name) [id] = name,
const char *const node_buf_names[NB_COUNT] = { NODE_BUFS(NODE_BUF_NAME_) };
#undef NODE_BUF_NAME_

static long align16(long v)
{
    return (v + 15) & ~15L;
}

/* node x's buffer in role `role`, live over steps [from, to] */
static void add_buf(MemPlan *p, Node *x, NodeBufRole role, BufKind kind, int per_image, long size,
                    int from, int to)
{
    Buf *b = arena_alloc(sizeof *b);
    b->name = x->name;
    b->role = role;
    b->kind = kind;
    b->per_image = per_image;
    b->size = align16(size);
    b->from = from;
    b->to = to;
    vec_push(&p->bufs, b);
    x->buf[role] = p->bufs.n - 1;
}

/* im2col columns per image (0: the conv reads its input directly; an fc
 * always does: batch innermost, its input is already the matrix) */
long conv_col_floats(const Node *n)
{
    if (n->op != RN_OP_CONV || (n->kh == 1 && n->kw == 1 && n->stride == 1 && n->pad == 0))
        return 0;
    return (long)n->in[0]->c * (n->cs.ntaps ? n->cs.ntaps : n->kh * n->kw) * n->h * n->w;
}

/* rn_conv1's zero-padded input, per image: the rows and columns its taps
 * reach */
long conv1_pad_floats(const Node *n)
{
    return rn_conv1_pad_floats_of(n->in[0]->c, n->h, n->w, n->kh, n->kw, n->stride);
}

RnConvGeom conv_geom(const Node *n)
{
    const Node *x = n->in[0];
    return (RnConvGeom){ x->c, x->h, x->w, n->c, n->h, n->w, n->kh, n->kw, n->stride, n->pad,
                         n->cs.ntaps ? n->cs.tap_live : NULL };
}

/* does tap (kh, kw) read inside the input for some output position? */
int conv_tap_live(const Node *n, int kh, int kw)
{
    const Node *x = n->in[0];
    int rows = 0, cols = 0;
    for (int oh = 0; oh < n->h && !rows; oh++) {
        int ih = oh * n->stride - n->pad + kh;
        rows = ih >= 0 && ih < x->h;
    }
    for (int ow = 0; ow < n->w && !cols; ow++) {
        int iw = ow * n->stride - n->pad + kw;
        cols = iw >= 0 && iw < x->w;
    }
    return rows && cols;
}

/* does node n's backward read its input k's value? */
static int bwd_reads_input(const Node *n)
{
    return n->op == RN_OP_CONV || n->op == RN_OP_FC || n->op == RN_OP_BN ||
           n->op == RN_OP_MAXPOOL;
}

static int overlaps(const Buf *a, const Buf *b)
{
    return a->from <= b->to && b->from <= a->to;
}

static int by_size(const void *x, const void *y)
{
    const Buf *a = *(Buf *const *)x, *b = *(Buf *const *)y;
    if (a->size != b->size)
        return a->size < b->size ? 1 : -1;
    return a->from - b->from;
}

static int by_offset(const void *x, const void *y)
{
    const Buf *a = *(Buf *const *)x, *b = *(Buf *const *)y;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* place one region's buffers; returns the region's size */
static long place(MemPlan *p, int per_image, int reuse)
{
    int n = 0;
    Buf **v = malloc(sizeof *v * (size_t)(p->bufs.n + 1));
    Buf **conf = malloc(sizeof *conf * (size_t)(p->bufs.n + 1));
    if (!v || !conf)
        die("out of memory");
    for (int i = 0; i < p->bufs.n; i++) {
        Buf *b = p->bufs.v[i];
        if (b->per_image == per_image)
            v[n++] = b;
    }
    long top = 0;
    if (!reuse) {
        for (int i = 0; i < n; i++) {
            v[i]->offset = top;
            top += v[i]->size;
        }
    } else {
        qsort(v, (size_t)n, sizeof *v, by_size);
        for (int i = 0; i < n; i++) {
            int nc = 0;
            for (int j = 0; j < i; j++)
                if (overlaps(v[i], v[j]))
                    conf[nc++] = v[j];
            qsort(conf, (size_t)nc, sizeof *conf, by_offset);
            long off = 0;
            for (int j = 0; j < nc; j++) {
                if (conf[j]->offset >= off + v[i]->size)
                    break;
                if (conf[j]->offset + conf[j]->size > off)
                    off = conf[j]->offset + conf[j]->size;
            }
            v[i]->offset = off;
            if (off + v[i]->size > top)
                top = off + v[i]->size;
        }
    }
    free(v);
    free(conf);
    return top;
}

void plan_memory(Graph *g, int reuse)
{
    MemPlan *p = arena_alloc(sizeof *p);
    g->plan = p;
    p->reuse = reuse;
    int n = g->nodes.n, train = g->mode == MODE_TRAIN;
    p->nsteps = train ? 2 * n : n;
#define BWD(i) (2 * n - 1 - (i))
    /* when each value is last needed */
    int *until = arena_alloc(sizeof *until * (size_t)n);
    int *dfrom = arena_alloc(sizeof *dfrom * (size_t)n);
    for (int i = 0; i < n; i++) {
        Node *x = g->nodes.v[i];
        until[i] = i;
        dfrom[i] = train ? BWD(i) : 0;
        if (train && (x->op == RN_OP_RELU || x->ep.relu))
            until[i] = BWD(i);
    }
    if (g->output)
        until[g->output->id] = n - 1 > until[g->output->id] ? n - 1 : until[g->output->id];
    for (int j = 0; j < n; j++) {
        Node *c = g->nodes.v[j];
        for (int k = 0; k < c->nin; k++) {
            int i = c->in[k]->id;
            int t = train && bwd_reads_input(c) ? BWD(j) : j;
            if (t > until[i])
                until[i] = t;
            if (train && BWD(j) < dfrom[i])
                dfrom[i] = BWD(j);
        }
    }
    /* buffers, in node order */
    for (int i = 0; i < n; i++) {
        Node *x = g->nodes.v[i];
        long sz = (long)x->c * x->h * x->w;
        int wino = x->cs.fwd == CONV_WINOGRAD_2X2_3X3;
        for (int r = 0; r < NB_COUNT; r++)
            x->buf[r] = -1;
        x->dx_set[0] = x->dx_set[1] = 0;
        if (x->inplace) {
            Node *src = x->in[x->inplace - 1];
            Buf *b = p->bufs.v[src->buf[NB_ACT]];
            x->buf[NB_ACT] = src->buf[NB_ACT];
            if (until[i] > b->to)
                b->to = until[i];
            b->name = arena_printf("%s / %s", b->name, x->name);
        } else {
            add_buf(p, x, NB_ACT, BUF_ACT, 1, sz, i, until[i]);
        }
        if (train && x->ep.bn)
            add_buf(p, x, NB_PRE, BUF_PRE, 1, sz, i, BWD(i));
        if (train && (x->ep.bn || x->op == RN_OP_BN))
            /* mean and invstd (2c floats), then the sums (2c doubles) */
            add_buf(p, x, NB_SAVE, BUF_SAVE, 0, 6L * x->c, i, BWD(i));
        if (x->cs.ntaps) {
            long wl = (long)x->c * (x->in[0]->c / x->groups) * x->cs.ntaps;
            if (!x->ep.fold)
                add_buf(p, x, NB_TAPS_F, BUF_COL, 0, wl, i, i);
            if (train)
                add_buf(p, x, NB_TAPS_B, BUF_COL, 0, 2 * wl, BWD(i), BWD(i));
        }
        /* folded weights (of the live taps only, with dead taps) and bias,
         * then (Winograd) their transform */
        if (x->ep.fold)
            add_buf(p, x, NB_FOLD, BUF_FOLD, 0,
                                (x->cs.ntaps ? x->param[0].numel / (x->kh * x->kw) * x->cs.ntaps
                                          : x->param[0].numel) +
                                    x->c + (wino ? rn_wino_filter_floats(x->c, x->in[0]->c) : 0),
                                0, p->nsteps - 1);
        /* direct conv: the packed filter (of the live taps), forward and
         * input gradient; with folded bn packed once at fold time */
        RnConvGeom cg = { 0 };
        if (x->op == RN_OP_CONV)
            cg = conv_geom(x);
        int T = x->op == RN_OP_CONV ? rn_geom_taps(&cg) : 0;
        long pk = rn_conv_pack_floats(x->c, x->op == RN_OP_CONV ? x->in[0]->c : 0, T);
        if (x->cs.fwd == CONV_DIRECT) {
            if (x->ep.fold)
                add_buf(p, x, NB_PACK_F, BUF_FOLD, 0, pk, 0, p->nsteps - 1);
            else
                add_buf(p, x, NB_PACK_F, BUF_COL, 0, pk, i, i);
        }
        if (x->cs.fwd == CONV_DIRECT && x->cs.fwd_small == CONV_CONV1) {
            add_buf(p, x, NB_PACK1, BUF_FOLD, 0, rn_conv1_pack_floats(x->c, x->in[0]->c, T),
                                 0, p->nsteps - 1);
            /* rn_conv1_pad_floats: the rows and columns the taps reach;
             * zeroed at fold time, its padding stays zero */
            if (x->pad > 0)
                add_buf(p, x, NB_PAD1, BUF_FOLD, 0, conv1_pad_floats(x), 0,
                                    p->nsteps - 1);
            /* batches 2 .. RN_DIRECT_MIN_N - 1: each image's, filled whole
             * by every call */
            add_buf(p, x, NB_PADN, BUF_COL, 1, conv1_pad_floats(x), i, i);
        }
        if (train && x->cs.bwd_data == CONV_DIRECT && x->in[0]->op != RN_OP_INPUT)
            add_buf(p, x, NB_PACK_B, BUF_COL, 0, pk, BWD(i), BWD(i));
        if (train && x->cs.bwd_weights == CONV_DIRECT) {
            /* per image */
            add_buf(p, x, NB_WGRAD, BUF_COL, 1,
                    rn_conv_wgrad_floats(x->c, x->in[0]->c, 1, x->h * x->w,
                                         x->in[0]->h * x->in[0]->w),
                    BWD(i), BWD(i));
        }
        /* a folded direct conv needs no im2col: rn_conv1 or rn_conv_direct */
        long col = x->cs.fwd_small == CONV_CONV1 ? 0 : conv_col_floats(x), wcol = 0;
        if (wino) {
            /* V and M (rn_wino.h), the skew taken per image: over by a little */
            wcol = rn_wino_work_floats(1, x->in[0]->c, x->c, x->h, x->w);
            if (!x->ep.fold)
                add_buf(p, x, NB_WINO_F, BUF_COL, 0, rn_wino_filter_floats(x->c, x->in[0]->c), i, i);
            if (train)
                add_buf(p, x, NB_WINO_B, BUF_COL, 0, rn_wino_filter_floats(x->c, x->in[0]->c), BWD(i),
                        BWD(i));
        }
        if (col || wcol) {
            add_buf(p, x, NB_COL, BUF_COL, 1, wino ? wcol : col, i, i);
            if (train)
                add_buf(p, x, NB_BCOL, BUF_COL, 1, col > wcol ? col : wcol, BWD(i),
                                    BWD(i));
        }
        if (train && x->op != RN_OP_INPUT)
            add_buf(p, x, NB_DACT, BUF_GRAD, 1, sz, dfrom[i], BWD(i));
    }
    /* which reader of each gradient writes it (the first in backward order) */
    if (train) {
        char *seen = arena_alloc((size_t)n);
        for (int j = n - 1; j >= 0; j--) {
            Node *c = g->nodes.v[j];
            for (int k = 0; k < c->nin; k++) {
                int i = c->in[k]->id;
                if (!seen[i]) {
                    seen[i] = 1;
                    c->dx_set[k] = 1;
                }
            }
        }
    }
#undef BWD
    p->per_image = place(p, 1, reuse);
    p->fixed = place(p, 0, reuse);
    for (int i = 0; i < p->bufs.n; i++) {
        Buf *b = p->bufs.v[i];
        if (b->per_image)
            p->sum_per_image += b->size;
        else
            p->sum_fixed += b->size;
    }
}

void plan_check(const MemPlan *p)
{
    if (p->bufs.n > 20000)
        return;
    for (int i = 0; i < p->bufs.n; i++) {
        const Buf *a = p->bufs.v[i];
        long top = a->per_image ? p->per_image : p->fixed;
        if (a->offset < 0 || a->offset + a->size > top || a->offset % 16)
            die("buffer %s lies outside its region", a->name);
        for (int j = 0; j < i; j++) {
            const Buf *b = p->bufs.v[j];
            if (a->per_image != b->per_image || !overlaps(a, b))
                continue;
            if (a->offset < b->offset + b->size && b->offset < a->offset + a->size)
                die("buffers %s and %s are live together and overlap", a->name, b->name);
        }
    }
}

void plan_workspace(const Pipeline *pl, long *per_image, long *fixed)
{
    const MemPlan *b = pl->infer->plan, *a = pl->train ? pl->train->plan : b;
    *per_image = a->per_image > b->per_image ? a->per_image : b->per_image;
    *fixed = a->fixed > b->fixed ? a->fixed : b->fixed;
}

/* the most floats live at once, at batch N */
static long peak_floats(const MemPlan *p, int N)
{
    long peak = 0;
    for (int t = 0; t < p->nsteps; t++) {
        long live = 0;
        for (int i = 0; i < p->bufs.n; i++) {
            const Buf *b = p->bufs.v[i];
            if (b->from <= t && t <= b->to)
                live += b->per_image ? b->size * N : b->size;
        }
        if (live > peak)
            peak = live;
    }
    return peak;
}

static const char *mb(long floats, char *buf)
{
    snprintf(buf, 32, "%.2f MB", (double)floats * 4 / 1e6);
    return buf;
}

void print_memory(const Pipeline *pl, int N, FILE *out)
{
    static const char *const kinds[] = { "act", "pre-bn", "grad", "bn-save", "im2col",
                                         "folded" };
    char b1[32], b2[32], b3[32], c1[32], c2[32];
    long pi, fx;
    plan_workspace(pl, &pi, &fx);
    for (int m = pl->train ? 0 : 1; m < 2; m++) {
        const Graph *g = m ? pl->infer : pl->train;
        const MemPlan *p = g->plan;
        fprintf(out, "%s plan, batch %d (%s):\n", m ? "inference" : "training", N,
                p->reuse ? "buffers reused by liveness" : "every buffer its own space");
        fprintf(out, "  %-34s %-8s %14s %14s  %s\n", "buffer", "kind", "bytes", "offset", "live");
        long base = p->per_image * (long)N;
        for (int i = 0; i < p->bufs.n; i++) {
            const Buf *b = p->bufs.v[i];
            long size = b->per_image ? b->size * N : b->size;
            long off = b->per_image ? fx + b->offset * N : b->offset;
            fprintf(out, "  %-34s %-8s %14s %14s  %d..%d\n", b->name, kinds[b->kind],
                    fmt_commas(size * 4, c1), fmt_commas(off * 4, c2), b->from, b->to);
        }
        long arena = base + p->fixed, sum = p->sum_per_image * N + p->sum_fixed, fold = 0;
        for (int i = 0; i < p->bufs.n; i++)
            if (((const Buf *)p->bufs.v[i])->kind == BUF_FOLD)
                fold += ((const Buf *)p->bufs.v[i])->size;
        fprintf(out, "  arena %s (%s bytes), peak live %s, sum of all buffers %s\n", mb(arena, b1),
                fmt_commas(arena * 4, c1), mb(peak_floats(p, N), b2), mb(sum, b3));
        if (fold)
            fprintf(out, "  of which folded weights %s; activations and workspaces %s "
                    "(sum of all %s)\n", mb(fold, b1), mb(arena - fold, b2), mb(sum - fold, b3));
        fprintf(out, "  = %s per image x %d + %s fixed\n\n", fmt_commas(p->per_image * 4, c1), N,
                fmt_commas(p->fixed * 4, c2));
    }
    long w = pi * N + fx;
    fprintf(out, "workspace the program allocates at batch %d: %s (%s bytes) = max of the two "
            "plans: %s per image + %s fixed\n",
            N, mb(w, b1), fmt_commas(w * 4, c1), fmt_commas(pi * 4, c2), fmt_commas(fx * 4, b2));
}

/* --print-schedule: the scheduled, planned graphs the backends print, one
 * line per node (its op, epilogue and each direction's algorithm) and one
 * per buffer it owns (role, kind, region, offset and size in floats, live
 * steps); sizes per image are marked "xN" */
void print_schedule(const Pipeline *pl, FILE *out)
{
    for (int m = pl->train ? 0 : 1; m < 2; m++) {
        const Graph *g = m ? pl->infer : pl->train;
        const MemPlan *p = g->plan;
        fprintf(out, "schedule %s (%s): %d nodes, arena: %ld fixed floats, then %ld x N\n", g->name,
                m ? "inference" : "training", g->nodes.n, p->fixed, p->per_image);
        for (int i = 0; i < g->nodes.n; i++) {
            const Node *n = g->nodes.v[i];
            fprintf(out, "  %%%d %s %s", n->id, n->name, rn_op_names[n->op]);
            if (n->ep.bn)
                fprintf(out, n->ep.fold ? " +bn(folded)" : " +bn");
            if (n->ep.relu)
                fprintf(out, " +relu");
            if (n->inplace)
                fprintf(out, " in-place(%%%d)", n->in[n->inplace - 1]->id);
            if (n->op == RN_OP_CONV) {
                const ConvSched *cs = &n->cs;
                fprintf(out, " fwd=%s", conv_algo_names[cs->fwd]);
                if (cs->fwd == CONV_DIRECT)
                    fprintf(out, " fwd<16=%s", conv_algo_names[cs->fwd_small]);
                if (g->mode == MODE_TRAIN) {
                    fprintf(out, " dx=%s", conv_algo_names[cs->bwd_data]);
                    if (cs->bwd_data == CONV_DIRECT)
                        fprintf(out, " dx<16=%s", conv_algo_names[CONV_IM2COL_GEMM]);
                    fprintf(out, " dw=%s", conv_algo_names[cs->bwd_weights]);
                    if (cs->bwd_weights == CONV_DIRECT)
                        fprintf(out, " dw<16=%s", conv_algo_names[CONV_IM2COL_GEMM]);
                }
                if (cs->ntaps)
                    fprintf(out, " taps=%d/%d", cs->ntaps, n->kh * n->kw);
            }
            fprintf(out, "\n");
            for (int r = 0; r < NB_COUNT; r++) {
                if (n->buf[r] < 0)
                    continue;
                const Buf *b = p->bufs.v[n->buf[r]];
                fprintf(out, "      %-7s %-8s @%ld%s +%ld%s  live %d..%d%s\n", node_buf_names[r],
                        b->per_image ? "per-img" : "fixed", b->offset, b->per_image ? "xN" : "",
                        b->size, b->per_image ? "xN" : "", b->from, b->to,
                        r == NB_ACT && n->inplace ? " (shared)" : "");
            }
        }
    }
}
