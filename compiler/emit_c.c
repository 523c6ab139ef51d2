/* emit_c.c - the C backend: one model -> a .c and a .h.
 *
 * Requires: a graph with shapes (pass_shapes) and parameters.
 *
 * What it writes:
 *   - the RnModel descriptor (parameters with offsets, the node table, the
 *     training defaults) that the runtime's driver and checkpoints read;
 *   - one forward function per layer and one backward function per layer,
 *     named after the layer ("fwd_layer1_0_conv1"), each with a comment
 *     giving its shapes, every size a literal;
 *   - NAME_forward / NAME_backward / NAME_update that call them in order.
 *
 * Activations are CHWN inside, batch innermost (see runtime/rn_gen.h): a
 * convolution is one GEMM over the whole batch, or a direct convolution
 * over batch vectors (runtime/rn_conv.h); the batch N is the only runtime
 * size.  Buffers live in the workspace at offsets the memory plan
 * (compiler/plan.c) fixed: constants, or constants times N.
 */
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include "rnet.h"
#include "kir.h"

typedef struct {
    const Pipeline *pl;
    Graph *src;          /* the source graph: the descriptor's */
    FILE *o;
    long pimg, pfix;     /* the workspace: pimg * N + pfix floats */
    long nparam_floats;
    FILE *saved;         /* par_begin .. par_end: o captures a loop */
    char *loop;
    size_t loop_len;
    int par_image;       /* the captured loop's work: par_work (* N) */
    long par_work;
    int train;           /* emitting a training step's layer */
    Vec tables;          /* Table*: the direct convolutions' index tables */
} Emit;

/* One index table of the direct convolutions (rn_geom.h), declared once
 * per distinct geometry and kind at file scope and filled at start-up by
 * the runtime function that rnetc sized it with. */
enum { TAB_FWD, TAB_BWD, TAB_WGRAD };
typedef struct {
    int kind;
    RnConvGeom g;
    long npos, nent;     /* pos has npos ints, tq 2 * nent (at least 2) */
    int id;
} Table;

#define P(...) fprintf(E->o, __VA_ARGS__)

/* A loop over `work` units (times the batch N with per_image), run by
 * the OpenMP threads when there is enough work to pay for it and plainly
 * otherwise.  par_begin starts capturing what P prints, the loop; par_end
 * prints it once where the choice is known here (work >= PAR_WORK per
 * image: always threads; a fixed work below it: never), and in inference
 * otherwise twice, the batch deciding:
 *
 *     if (RN_PAR(N * work)) {
 *         RN_OMP_PAR_FOR
 *         loop
 *     } else {
 *         loop
 *     }
 *
 * An OpenMP `if` clause would keep one copy, but a parallel region whose
 * `if` is false still costs libgomp a thread team: measured 1-6 us a
 * region at batch 1, more than the small layers' loops themselves.  A
 * training step's loops are always threaded: a region of two threads
 * costs no more than a false `if` (about 1 us), the work is large at the
 * batches training runs, and two copies of every loop of the backward
 * pass made a ResNet-18's C compile 40% longer. */
enum { PAR_WORK = 16384 };  /* RN_PAR_WORK, runtime/rn_gen.h */

static void par_begin(Emit *E, int per_image, long work)
{
    if (E->saved) {
        fprintf(stderr, "rnetc: internal error: nested par_begin\n");
        abort();
    }
    E->par_image = per_image;
    E->par_work = work;
    E->saved = E->o;
    E->o = open_memstream(&E->loop, &E->loop_len);
    if (!E->o) {
        fprintf(stderr, "rnetc: out of memory\n");
        exit(1);
    }
}

/* the captured loop, each line indented one more level */
static void put_indented(FILE *o, const char *text)
{
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) + 1 : strlen(l);
        if (len > 1)
            fputs("    ", o);
        fwrite(l, 1, len, o);
        l += len;
    }
}

static void par_end(Emit *E)
{
    if (!E->saved || fclose(E->o) != 0) {
        fprintf(stderr, "rnetc: internal error: par_end without par_begin\n");
        abort();
    }
    E->o = E->saved;
    E->saved = NULL;
    if (E->par_work >= PAR_WORK || (E->par_image && E->train)) {
        P("    RN_OMP_PAR_FOR\n");
        fputs(E->loop, E->o);
    } else if (!E->par_image) {
        fputs(E->loop, E->o);
    } else {
        P("    if (RN_PAR(N * %ldL)) {\n", E->par_work);
        P("        RN_OMP_PAR_FOR\n");
        put_indented(E->o, E->loop);
        P("    } else {\n");
        put_indented(E->o, E->loop);
        P("    }\n");
    }
    free(E->loop);
    E->loop = NULL;
}

/* the expression for buffer b of graph g */
static const char *buf_expr(Emit *E, const Graph *g, int b)
{
    if (b < 0)
        die("no buffer");
    /* the fixed region comes first, so that what outlives a call (the
     * folded weights) stays put whatever the next call's batch */
    const Buf *B = g->plan->bufs.v[b];
    if (B->per_image)
        return arena_printf("w + %ldL + %ldL * N", E->pfix, B->offset);
    return arena_printf("w + %ldL", B->offset);
}

static void ptr_buf(Emit *E, const Graph *g, int b, const char *var, const char *what,
                    const Node *n)
{
    P("    float *%s = %s;  /* %s %s (%d, %d, %d, N) */\n", var, buf_expr(E, g, b), what, c_string(n->name),
      n->c, n->h, n->w);
}

static void ptr_act(Emit *E, const Graph *g, const Node *n, const char *var)
{
    ptr_buf(E, g, n->buf[NB_ACT], var, "", n);
}

static void ptr_dact(Emit *E, const Graph *g, const Node *n, const char *var)
{
    ptr_buf(E, g, n->buf[NB_DACT], var, "d", n);
}

static void ptr_param(Emit *E, const Node *n, int j, const char *var, const char *base)
{
    const ParamT *p = &n->param[j];
    P("    float *%s = e->%s + %ld;  /* %s [", var, base, p->offset, c_string(p->name));
    for (int d = 0; d < p->ndim; d++)
        P("%s%d", d ? "x" : "", p->shape[d]);
    P("] */\n");
}

/* ---- the kernel-call IR (kir.h): the ops lowered through it build a
 * KFunc, printed by kir_print_c; the others still print directly ---- */

/* buffer b of graph g as a pointer local: w + fixed, or w + pfix + per-image * N;
 * comment after it, or NULL */
static int kbuf_at(Emit *E, KFunc *k, const Graph *g, int b, const char *var, const char *comment)
{
    if (b < 0)
        die("no buffer");
    const Buf *B = g->plan->bufs.v[b];
    return kir_work(k, var, B->per_image ? E->pfix : B->offset, B->per_image ? B->offset : 0,
                    B->per_image, comment);
}

/* ... with its comment: "what name (c, h, w, N)" */
static int kbuf(Emit *E, KFunc *k, const Graph *g, int b, const char *var, const char *what,
                const Node *n)
{
    return kbuf_at(E, k, g, b, var,
                   arena_printf("%s %s (%d, %d, %d, N)", what, c_string(n->name), n->c, n->h, n->w));
}

static int kact(Emit *E, KFunc *k, const Graph *g, const Node *n, const char *var)
{
    return kbuf(E, k, g, n->buf[NB_ACT], var, "", n);
}

static int kdact(Emit *E, KFunc *k, const Graph *g, const Node *n, const char *var)
{
    return kbuf(E, k, g, n->buf[NB_DACT], var, "d", n);
}

/* parameter j of n (or its gradient, grads) as a pointer local */
static int kparam(KFunc *k, const Node *n, int j, const char *var, int grads)
{
    const ParamT *p = &n->param[j];
    char shape[64] = "";
    for (int d = 0; d < p->ndim; d++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", d ? "x" : "",
                 p->shape[d]);
    return kir_ptr(k, var, grads ? KR_GRADS : KR_PARAMS, 0, KT_PTR, kaff(p->offset, 0),
                   arena_printf("%s [%s]", c_string(p->name), shape));
}

/* channel c's slice of a CHWN buffer of np positions: (long)c * N * np */
static KAff kch(long np)
{
    return kaff_var(kaff(0, 0), 0, 0, np);
}

#define KARGS(...) (const KArg[]){ __VA_ARGS__ }, (int)(sizeof((const KArg[]){ __VA_ARGS__ }) / sizeof(KArg))

/* lower n with fn into a KFunc and print it */
#define KLOWER(fn, E, g, n)                     \
    do {                                        \
        KFunc k_;                               \
        kir_init(&k_);                          \
        fn(E, g, n, &k_);                       \
        kir_print_c(&k_, (E)->o, (E)->train);   \
    } while (0)

static void kfwd_relu(Emit *E, Graph *g, Node *n, KFunc *k)
{
    long np = (long)n->h * n->w;
    int x = kact(E, k, g, n->in[0], "x"), y = kact(E, k, g, n, "y");
    if (n->inplace)
        kir_comment(k, "in place: y is x");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    kir_call(k, "rn_relu_fwd", KARGS(karg_ptr(y, kch(np)), karg_ptr(x, kch(np)), karg_long(kaff(0, np))));
    kir_end(k);
}

static void kfwd_pool(Emit *E, Graph *g, Node *n, KFunc *k)
{
    const Node *x = n->in[0];
    long np = (long)n->h * n->w, hw = (long)x->h * x->w;
    int X = kact(E, k, g, x, "x"), Y = kact(E, k, g, n, "y");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np * n->kh * n->kw);
    kir_call(k, n->op == RN_OP_MAXPOOL ? "rn_maxpool_chwn" : "rn_avgpool_chwn",
             KARGS(karg_ptr(Y, kch(np)), karg_ptr(X, kch(hw)), karg_int(kaff(0, 1)),
                   karg_int(kaff(x->h, 0)), karg_int(kaff(x->w, 0)), karg_int(kaff(n->h, 0)),
                   karg_int(kaff(n->w, 0)), karg_int(kaff(n->kh, 0)), karg_int(kaff(n->kw, 0)),
                   karg_int(kaff(n->stride, 0)), karg_int(kaff(n->pad, 0))));
    kir_end(k);
}

static void kfwd_fc(Emit *E, Graph *g, Node *n, KFunc *k)
{
    const Node *x = n->in[0];
    long in = (long)x->c * x->h * x->w;
    int X = kact(E, k, g, x, "x"), Y = kact(E, k, g, n, "y");
    int wt = kparam(k, n, 0, "wt", 0), b = kparam(k, n, 1, "b", 0);
    kir_comment(k, "y (%d, N) = W (%d, %ld) x x (%ld, N) + b", n->c, n->c, in, in);
    /* CHWN: x is already the (C*H*W, N) matrix */
    kir_call(k, "rn_sgemm", KARGS(karg_int(kaff(0, 0)), karg_int(kaff(0, 0)), karg_int(kaff(n->c, 0)),
                                  karg_int(kaff(0, 1)), karg_int(kaff(in, 0)), karg_float(1.0f),
                                  karg_ptr(wt, kaff(0, 0)), karg_int(kaff(in, 0)), karg_ptr(X, kaff(0, 0)),
                                  karg_int(kaff(0, 1)), karg_float(0.0f), karg_ptr(Y, kaff(0, 0)),
                                  karg_int(kaff(0, 1))));
    kir_call(k, "rn_add_bias", KARGS(karg_ptr(Y, kaff(0, 0)), karg_ptr(b, kaff(0, 0)),
                                     karg_int(kaff(n->c, 0)), karg_int(kaff(0, 1))));
}

static void kbwd_fc(Emit *E, Graph *g, Node *n, KFunc *k)
{
    const Node *x = n->in[0];
    int want_dx = x && x->op != RN_OP_INPUT;
    long in = (long)x->c * x->h * x->w;
    int dy = kdact(E, k, g, n, "dy");
    int X = kact(E, k, g, x, "x");
    int wt = kparam(k, n, 0, "wt", 0), dwt = kparam(k, n, 0, "dwt", 1), db = kparam(k, n, 1, "db", 1);
    KAff z = kaff(0, 0), N1 = kaff(0, 1);
    kir_call(k, "rn_bias_grad", KARGS(karg_ptr(db, z), karg_ptr(dy, z), karg_int(kaff(n->c, 0)),
                                      karg_int(N1)));
    kir_comment(k, "dW (%d, %ld) += dy (%d, N) x x^T", n->c, in, n->c);
    kir_call(k, "rn_sgemm", KARGS(karg_int(z), karg_int(kaff(1, 0)), karg_int(kaff(n->c, 0)),
                                  karg_int(kaff(in, 0)), karg_int(N1), karg_float(1.0f), karg_ptr(dy, z),
                                  karg_int(N1), karg_ptr(X, z), karg_int(N1), karg_float(1.0f),
                                  karg_ptr(dwt, z), karg_int(kaff(in, 0))));
    if (want_dx) {
        int dx = kdact(E, k, g, x, "dx");
        kir_call(k, "rn_sgemm", KARGS(karg_int(kaff(1, 0)), karg_int(z), karg_int(kaff(in, 0)),
                                      karg_int(N1), karg_int(kaff(n->c, 0)), karg_float(1.0f),
                                      karg_ptr(wt, z), karg_int(kaff(in, 0)), karg_ptr(dy, z),
                                      karg_int(N1), karg_float(n->dx_set[0] ? 0.0f : 1.0f),
                                      karg_ptr(dx, z), karg_int(N1)));
    }
}

static void kfwd_bn(Emit *E, Graph *g, Node *n, KFunc *k)
{
    long np = (long)n->h * n->w;
    int train = g->mode == MODE_TRAIN;
    int x = kact(E, k, g, n->in[0], "x"), y = kact(E, k, g, n, "y");
    int gm = kparam(k, n, 0, "gamma", 0), bt = kparam(k, n, 1, "beta", 0);
    int rm = kparam(k, n, 2, "rmean", 0), rv = kparam(k, n, 3, "rvar", 0);
    KAff c = kaff_var(kaff(0, 0), 0, 1, 0), cn = kaff_var(kaff(n->c, 0), 0, 1, 0);
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    int o = kir_long(k, "o", kch(np));
    if (train) {
        int sv = kbuf_at(E, k, g, n->buf[NB_SAVE], "save", NULL);
        kir_call(k, "rn_bn_train_channel",
                 KARGS(karg_ptr_idx(y, o), karg_ptr_idx(x, o), karg_long(kaff(0, np)), karg_load(gm, c),
                       karg_load(bt, c), karg_addr(rm, c), karg_addr(rv, c), karg_addr(sv, c),
                       karg_addr(sv, cn), karg_int(kaff(n->ep.relu, 0))));
    } else {
        kir_call(k, "rn_bn_infer_channel",
                 KARGS(karg_ptr_idx(y, o), karg_ptr_idx(x, o), karg_long(kaff(0, np)), karg_load(gm, c),
                       karg_load(bt, c), karg_load(rm, c), karg_load(rv, c),
                       karg_int(kaff(n->ep.relu, 0))));
    }
    kir_end(k);
}

static void kbwd_bn(Emit *E, Graph *g, Node *n, KFunc *k)
{
    Node *x = n->in[0];
    long np = (long)n->h * n->w;
    int want_dx = x && x->op != RN_OP_INPUT;
    int dy = kdact(E, k, g, n, "dy");
    int X = kact(E, k, g, x, "x"), y = kact(E, k, g, n, "y");
    int gm = kparam(k, n, 0, "gamma", 0), dg = kparam(k, n, 0, "dgamma", 1), db = kparam(k, n, 1, "dbeta", 1);
    int sv = kbuf_at(E, k, g, n->buf[NB_SAVE], "save", NULL);
    int dx = want_dx ? kdact(E, k, g, x, "dx") : -1;
    KAff c = kaff_var(kaff(0, 0), 0, 1, 0), cn = kaff_var(kaff(n->c, 0), 0, 1, 0);
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    int o = kir_long(k, "o", kch(np));
    kir_call(k, "rn_bn_backward_channel",
             KARGS(want_dx ? karg_ptr_idx(dx, o) : karg_null(), karg_addr(dg, c), karg_addr(db, c),
                   karg_ptr_idx(dy, o), karg_ptr_idx(X, o), karg_ptr_idx(y, o), karg_long(kaff(0, np)),
                   karg_load(gm, c), karg_load(sv, c), karg_load(sv, cn), karg_int(kaff(n->ep.relu, 0)),
                   karg_int(kaff(!n->dx_set[0], 0))));
    kir_end(k);
}

static void kbwd_pool(Emit *E, Graph *g, Node *n, KFunc *k)
{
    Node *x = n->in[0];
    long np = (long)n->h * n->w, hw = (long)x->h * x->w;
    int dy = kdact(E, k, g, n, "dy");
    if (!x || x->op == RN_OP_INPUT)
        return;
    int max = n->op == RN_OP_MAXPOOL;
    int X = max ? kact(E, k, g, x, "x") : -1, dx = kdact(E, k, g, x, "dx");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np * n->kh * n->kw);
    int i = kir_long(k, "i", kch(hw)), o = kir_long(k, "o", kch(np));
    if (n->dx_set[0])
        kir_memset_idx(k, dx, i, kaff(0, hw));
    KArg a[16];
    int na = 0;
    a[na++] = karg_ptr_idx(dx, i);
    a[na++] = karg_ptr_idx(dy, o);
    if (max)
        a[na++] = karg_ptr_idx(X, i);
    a[na++] = karg_int(kaff(0, 1));
    const int geo[] = { x->h, x->w, n->h, n->w, n->kh, n->kw, n->stride, n->pad };
    for (int j = 0; j < 8; j++)
        a[na++] = karg_int(kaff(geo[j], 0));
    kir_call(k, max ? "rn_maxpool_chwn_bwd" : "rn_avgpool_chwn_bwd", a, na);
    kir_end(k);
}

/* per channel of n: fn(dst + c, src + c, N * np, flag) */
static void kchannels(KFunc *k, const Node *n, const char *fn, int dst, int src, int flag)
{
    long np = (long)n->h * n->w;
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    kir_call(k, fn, KARGS(karg_ptr(dst, kch(np)), karg_ptr(src, kch(np)), karg_long(kaff(0, np)),
                          karg_int(kaff(flag, 0))));
    kir_end(k);
}

static void kbwd_add(Emit *E, Graph *g, Node *n, KFunc *k)
{
    Node *a = n->in[0], *b = n->in[1];
    long np = (long)n->h * n->w;
    int dy = kdact(E, k, g, n, "dy");
    if (n->ep.relu) {
        int y = kact(E, k, g, n, "y");
        kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
        kir_call(k, "rn_relu_mask", KARGS(karg_ptr(dy, kch(np)), karg_ptr(y, kch(np)),
                                          karg_long(kaff(0, np))));
        kir_end(k);
    }
    if (a && a->op != RN_OP_INPUT)
        kchannels(k, n, "rn_copy_acc", kdact(E, k, g, a, "da"), dy, !n->dx_set[0]);
    if (b && b->op != RN_OP_INPUT)
        kchannels(k, n, "rn_copy_acc", kdact(E, k, g, b, "db"), dy, !n->dx_set[1]);
}

static void kfwd_concat(Emit *E, Graph *g, Node *n, KFunc *k)
{
    Node *a = n->in[0], *b = n->in[1];
    long np = (long)n->h * n->w;
    int A = kact(E, k, g, a, "a"), B = kact(E, k, g, b, "b"), y = kact(E, k, g, n, "y");
    kir_comment(k, "CHWN: a concat along channels is two copies");
    kir_call(k, "memcpy", KARGS(karg_ptr(y, kaff(0, 0)), karg_ptr(A, kaff(0, 0)),
                                karg_long(kaff(0, 4 * (long)a->c * np))));
    kir_call(k, "memcpy", KARGS(karg_ptr(y, kaff(0, (long)a->c * np)), karg_ptr(B, kaff(0, 0)),
                                karg_long(kaff(0, 4 * (long)b->c * np))));
}

static void kbwd_concat(Emit *E, Graph *g, Node *n, KFunc *k)
{
    Node *a = n->in[0], *b = n->in[1];
    long np = (long)n->h * n->w;
    int dy = kdact(E, k, g, n, "dy");
    if (a && a->op != RN_OP_INPUT)
        kir_call(k, "rn_copy_acc", KARGS(karg_ptr(kdact(E, k, g, a, "da"), kaff(0, 0)), karg_ptr(dy, kaff(0, 0)),
                                         karg_long(kaff(0, (long)a->c * np)), karg_int(kaff(!n->dx_set[0], 0))));
    if (b && b->op != RN_OP_INPUT)
        kir_call(k, "rn_copy_acc", KARGS(karg_ptr(kdact(E, k, g, b, "db"), kaff(0, 0)),
                                         karg_ptr(dy, kaff(0, (long)a->c * np)), karg_long(kaff(0, (long)b->c * np)),
                                         karg_int(kaff(!n->dx_set[1], 0))));
}

static void kfwd_gap(Emit *E, Graph *g, Node *n, KFunc *k)
{
    const Node *x = n->in[0];
    long hw = (long)x->h * x->w;
    int X = kact(E, k, g, x, "x"), y = kact(E, k, g, n, "y");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * hw);
    kir_call(k, "rn_gap_chwn", KARGS(karg_ptr(y, kch(1)), karg_ptr(X, kch(hw)), karg_int(kaff(0, 1)),
                                     karg_long(kaff(hw, 0))));
    kir_end(k);
}

static void kbwd_gap(Emit *E, Graph *g, Node *n, KFunc *k)
{
    Node *x = n->in[0];
    long hw = (long)x->h * x->w;
    int dy = kdact(E, k, g, n, "dy");
    if (!x || x->op == RN_OP_INPUT)
        return;
    int dx = kdact(E, k, g, x, "dx");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * hw);
    kir_call(k, "rn_gap_chwn_bwd", KARGS(karg_ptr(dx, kch(hw)), karg_ptr(dy, kch(1)), karg_int(kaff(0, 1)),
                                         karg_long(kaff(hw, 0)), karg_int(kaff(!n->dx_set[0], 0))));
    kir_end(k);
}

static void kfwd_add(Emit *E, Graph *g, Node *n, KFunc *k)
{
    long np = (long)n->h * n->w;
    int a = kact(E, k, g, n->in[0], "a"), b = kact(E, k, g, n->in[1], "b"), y = kact(E, k, g, n, "y");
    if (n->inplace)
        kir_comment(k, "in place: y is %s", n->inplace == 1 ? "a" : "b");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    kir_call(k, "rn_add_chwn", KARGS(karg_ptr(y, kch(np)), karg_ptr(a, kch(np)), karg_ptr(b, kch(np)),
                                     karg_long(kaff(0, np)), karg_int(kaff(n->ep.relu, 0))));
    kir_end(k);
}

static void kbwd_relu(Emit *E, Graph *g, Node *n, KFunc *k)
{
    long np = (long)n->h * n->w;
    int dy = kdact(E, k, g, n, "dy");
    if (!n->in[0] || n->in[0]->op == RN_OP_INPUT)
        return;
    int y = kact(E, k, g, n, "y"), dx = kdact(E, k, g, n->in[0], "dx");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    kir_call(k, "rn_relu_bwd", KARGS(karg_ptr(dx, kch(np)), karg_ptr(dy, kch(np)), karg_ptr(y, kch(np)),
                                     karg_long(kaff(0, np)), karg_int(kaff(!n->dx_set[0], 0))));
    kir_end(k);
}

/* ---- forward, one function per layer ---- */

static void emit_int_table(Emit *E, const char *name, const int *v, long len);

/* rn_im2col_tap has a second copy for batch 1, every size a constant: for
 * inference's latency; a training step's layers take the one copy */
static const char *im2col_fn(const Emit *E)
{
    return E->train ? "rn_im2col_tap_n" : "rn_im2col_tap";
}

static void emit_conv_im2col(Emit *E, const Node *n, const char *col, const char *in)
{
    const Node *x = n->in[0];
    long np = (long)n->h * n->w;
    int L = n->cs.ntaps ? n->cs.ntaps : n->kh * n->kw;
    if (x->c < 16) {
        /* few channels (a stem): the threads share the (channel, tap) rows */
        int *kh = arena_alloc(sizeof(int) * (size_t)L), *kw = arena_alloc(sizeof(int) * (size_t)L);
        int l = 0;
        for (int t = 0; t < n->kh * n->kw; t++)
            if (!n->cs.ntaps || n->cs.tap_live[t]) {
                kh[l] = t / n->kw;
                kw[l++] = t % n->kw;
            }
        emit_int_table(E, "tkh", kh, L);
        emit_int_table(E, "tkw", kw, L);
        par_begin(E, 1, (long)x->c * L * np);
        P("    for (int ct = 0; ct < %d; ct++)\n", x->c * L);
        P("        %s(%s + (long)ct * N * %ld, %s + (long)(ct / %d) * N * %ld, N, %d, %d, %d, %d, %d, %d, tkh[ct %% %d], tkw[ct %% %d]);\n",
          im2col_fn(E), col, np, in, L, (long)x->h * x->w, x->h, x->w, n->h, n->w, n->stride, n->pad, L, L);
        par_end(E);
        return;
    }
    par_begin(E, 1, (long)x->c * n->kh * n->kw * np);
    P("    for (int c = 0; c < %d; c++) {\n", x->c);
    P("        const float *src = %s + (long)c * N * %ld;\n", in, (long)x->h * x->w);
    P("        float *dst = %s + (long)c * %d * N * %ld;\n", col,
      n->cs.ntaps ? n->cs.ntaps : n->kh * n->kw, np);
    int l = 0;
    for (int kh = 0; kh < n->kh; kh++)
        for (int kw = 0; kw < n->kw; kw++)
            if (!n->cs.ntaps || n->cs.tap_live[kh * n->kw + kw])
                P("        %s(dst + %dL * N * %ld, src, N, %d, %d, %d, %d, %d, %d, %d, %d);\n",
                  im2col_fn(E), l++, np, x->h, x->w, n->h, n->w, n->stride, n->pad, kh, kw);
    P("    }\n");
    par_end(E);
}

/* col2im into dx, which is first cleared when this is its first writer */
static void emit_col2im(Emit *E, const Node *n, const char *dx, const char *col, int set)
{
    const Node *x = n->in[0];
    long np = (long)n->h * n->w;
    par_begin(E, 1, (long)x->c * n->kh * n->kw * np);
    P("    for (int c = 0; c < %d; c++) {\n", x->c);
    P("        float *dsrc = %s + (long)c * N * %ld;\n", dx, (long)x->h * x->w);
    P("        const float *d = %s + (long)c * %d * N * %ld;\n", col,
      n->cs.ntaps ? n->cs.ntaps : n->kh * n->kw, np);
    if (set)
        P("        memset(dsrc, 0, sizeof(float) * N * %ld);\n", (long)x->h * x->w);
    int l = 0;
    for (int kh = 0; kh < n->kh; kh++)
        for (int kw = 0; kw < n->kw; kw++)
            if (!n->cs.ntaps || n->cs.tap_live[kh * n->kw + kw])
                P("        rn_col2im_tap_n(dsrc, d + %dL * N * %ld, N, %d, %d, %d, %d, %d, %d, %d, %d);\n",
                  l++, np, x->h, x->w, n->h, n->w, n->stride, n->pad, kh, kw);
    P("    }\n");
    par_end(E);
}

/* ---- direct convolution (rn_conv_direct) ----
 * Each output position's entries (tap, input position) that read inside
 * the input, as constant tables; taps numbered as packed: the live ones
 * alone with dead taps. */

/* `base + (long)g * step`, or base alone without groups */
static const char *grp(long G, const char *base, const char *step)
{
    return G == 1 ? base : arena_printf("%s + (long)g * %s", base, step);
}

static int packed_taps(const Node *n) { return n->cs.ntaps ? n->cs.ntaps : n->kh * n->kw; }

static void emit_int_table(Emit *E, const char *name, const int *v, long len)
{
    P("    static const int %s[%ld] = {", name, len);
    for (long i = 0; i < len; i++)
        P("%s%s%d", i ? "," : "", i % 24 == 0 ? "\n        " : " ", v[i]);
    P("\n    };\n");
}

static int same_geom(const RnConvGeom *a, const RnConvGeom *b)
{
    if (a->C != b->C || a->H != b->H || a->W != b->W || a->M != b->M || a->OH != b->OH ||
        a->OW != b->OW || a->KH != b->KH || a->KW != b->KW || a->S != b->S || a->PAD != b->PAD ||
        !a->live != !b->live)
        return 0;
    return !a->live || !memcmp(a->live, b->live, (size_t)a->KH * a->KW);
}

/* The table of kind `kind` for conv n (registered on first use), as two
 * local pointers named pos and tq:
 *   TAB_FWD    per output position, its (tap, input position) pairs
 *   TAB_BWD    per input position, its (tap, output position) pairs
 *   TAB_WGRAD  per tap, its (output, input) position pairs */
static void emit_table_ptrs(Emit *E, const Node *n, int kind, const char *pos, const char *tq)
{
    RnConvGeom g = conv_geom(n);
    g.C = 0;  /* the tables do not depend on the channels */
    g.M = 0;
    Table *t = NULL;
    for (int i = 0; i < E->tables.n && !t; i++) {
        Table *u = E->tables.v[i];
        if (u->kind == kind && same_geom(&u->g, &g))
            t = u;
    }
    if (!t) {
        t = arena_alloc(sizeof *t);
        t->kind = kind;
        t->g = g;
        t->id = E->tables.n;
        t->npos = (kind == TAB_FWD ? (long)g.OH * g.OW
                   : kind == TAB_BWD ? (long)g.H * g.W : rn_geom_taps(&g)) + 1;
        t->nent = kind == TAB_FWD ? rn_geom_fwd_table(&g, NULL, NULL)
                  : kind == TAB_BWD ? rn_geom_bwd_table(&g, NULL, NULL)
                                    : rn_geom_wgrad_table(&g, NULL, NULL);
        vec_push(&E->tables, t);
    }
    static const char *const what[] = { "forward", "input gradient", "weight gradient" };
    P("    const int *%s = tab%d_pos, *%s = tab%d_tq;  /* %s: %ld of %ld entries */\n", pos, t->id,
      tq, t->id, what[kind], t->nent,
      (kind == TAB_WGRAD ? (long)g.OH * g.OW : t->npos - 1) * g.KH * g.KW);
}

/* the tables' declarations and the function that fills them, once */
static void emit_tables(Emit *E)
{
    if (!E->tables.n)
        return;
    P("\n/* ---- the direct convolutions' index tables, one per geometry, filled once by\n"
      " * rn_geom (runtime/rn_geom.h) from the shape: (tap, position) pairs inside\n"
      " * the input ---- */\n");
    static const char *const fn[] = { "rn_geom_fwd_table", "rn_geom_bwd_table",
                                      "rn_geom_wgrad_table" };
    for (int i = 0; i < E->tables.n; i++) {
        Table *t = E->tables.v[i];
        P("static int tab%d_pos[%ld], tab%d_tq[%ld];\n", t->id, t->npos, t->id,
          t->nent ? 2 * t->nent : 2);
        if (t->g.live) {
            P("static const unsigned char tab%d_live[%d] = {", t->id, t->g.KH * t->g.KW);
            for (int k = 0; k < t->g.KH * t->g.KW; k++)
                P("%s%d", k ? ", " : " ", t->g.live[k] != 0);
            P(" };\n");
        }
    }
    P("\nstatic void tables_fill(void)\n{\n");
    for (int i = 0; i < E->tables.n; i++) {
        Table *t = E->tables.v[i];
        const RnConvGeom *g = &t->g;
        P("    %s(&(RnConvGeom){ 0, %d, %d, 0, %d, %d, %d, %d, %d, %d, %s }, tab%d_pos, tab%d_tq);\n",
          fn[t->kind], g->H, g->W, g->OH, g->OW, g->KH, g->KW, g->S, g->PAD,
          g->live ? arena_printf("tab%d_live", t->id) : "NULL", t->id, t->id);
    }
    P("}\n");
}

/* the live taps of the full filter, for rn_conv_pack; "NULL" without dead taps */
static const char *emit_live_taps(Emit *E, const Node *n)
{
    if (!n->cs.ntaps)
        return "NULL";
    int *v = arena_alloc(sizeof(int) * (size_t)n->cs.ntaps), l = 0;
    for (int t = 0; t < n->kh * n->kw; t++)
        if (n->cs.tap_live[t])
            v[l++] = t;
    emit_int_table(E, "live", v, n->cs.ntaps);
    return "live";
}

/* "conv 3x3/1 pad 1 +bn +relu" */
static const char *describe(const Node *n)
{
    char attr[96];
    node_attrs(n, attr, sizeof attr);
    return arena_printf("%s%s%s%s%s%s%s", rn_op_names[n->op], attr[0] ? " " : "", attr,
                        n->cs.fwd == CONV_WINOGRAD_2X2_3X3 ? " winograd" : "",
                        n->ep.bn ? (n->ep.fold ? " +bn(folded)" : " +bn") : "", n->ep.relu ? " +relu" : "",
                        n->inplace ? " in place" : "");
}

/* the parameter block a conv reads its weights from: its own, or the
 * folded copy in the workspace */
static void conv_weights(Emit *E, const Graph *g, const Node *n)
{
    if (n->ep.fold)
        P("    float *wt = %s;  /* %s weights with bn folded in */\n", buf_expr(E, g, n->buf[NB_FOLD]),
          c_string(n->name));
    else
        ptr_param(E, n, 0, "wt", "params");
}

/* dead taps: wl (K, C/G * ntaps) = the live taps' columns of wt (K, C/G,
 * kh, kw); scatter: dwt += dwl at the live taps */
static void emit_tap_gather(Emit *E, const Node *n, const char *dst, const char *src, int scatter)
{
    long K = n->filters, Cg = n->in[0]->c / n->groups, kk = n->kh * n->kw;
    par_begin(E, 0, K * Cg * n->cs.ntaps);
    P("    for (long r = 0; r < %ldL; r++) {  /* (filter, channel) rows */\n", K * Cg);
    int l = 0;
    for (int t = 0; t < kk; t++)
        if (n->cs.tap_live[t]) {
            if (scatter)
                P("        %s[r * %ld + %d] += %s[r * %d + %d];\n", dst, kk, t, src, n->cs.ntaps, l);
            else
                P("        %s[r * %d + %d] = %s[r * %ld + %d];\n", dst, n->cs.ntaps, l, src, kk, t);
            l++;
        }
    P("    }\n");
    par_end(E);
}

/* ---- forward, one function per layer (per mode) ---- */

/* what a conv's forward algorithms share: the operands and the epilogue */
typedef struct {
    const Node *x;
    long K, G, C, np;
    long ckk, ckk_full;   /* GEMM depth per group: live taps only, and all taps */
    const char *Z;        /* the conv's output: y, or z before a training bn */
    const char *B;        /* the GEMM's right operand: x, or its im2col columns */
    const char *bias;     /* "b" or NULL */
    int stats;            /* training bn: per-channel sums in the epilogue */
    int relu;             /* relu in the epilogue (no training bn between) */
    int epi;              /* any epilogue */
} ConvFwd;

/* Winograd F(2x2, 3x3): the filter transformed (at fold time for
 * inference), 16 GEMMs over the tiles, the epilogue in the output
 * transform */
static void fwd_conv_winograd(Emit *E, Graph *g, Node *n, const ConvFwd *f)
{
    if (n->ep.fold)
        P("    const float *u = wt + %ldL;  /* transformed folded filter (16, %ld, %ld) */\n",
          f->K * f->ckk_full + f->K, f->K, f->C);
    else {
        P("    float *u = %s;  /* transformed filter (16, %ld, %ld) */\n",
          buf_expr(E, g, n->buf[NB_WINO_F]), f->K, f->C);
        P("    rn_wino_filter(u, wt, %ld, %ld, 0);\n", f->K, f->C);
    }
    if (f->epi)
        P("    RnEpilogue ep = { %s, %d, %s, %s };\n", f->bias ? "b" : "NULL", f->relu,
          f->stats ? "sum" : "NULL", f->stats ? "sumsq" : "NULL");
    P("    rn_wino_conv(%s, x, %s, N, %ld, %ld, %d, %d, %s, %s, 0);\n", f->Z, "u", f->C, f->K, n->h,
      n->w, buf_expr(E, g, n->buf[NB_COL]), f->epi ? "&ep" : "NULL");
}

/* im2col (unless 1x1/1) and one GEMM per group, the epilogue in its store */
static void fwd_conv_gemm(Emit *E, Graph *g, Node *n, const ConvFwd *f)
{
    long K = f->K, G = f->G, ckk = f->ckk, np = f->np;
    if (n->buf[NB_COL] >= 0)
        emit_conv_im2col(E, n, "col", "x");
    const char *A = "wt";
    if (n->cs.ntaps && n->ep.fold) {
        P("    /* only %d of the %d taps ever read inside the input: the folded\n"
          "     * weights hold those alone */\n", n->cs.ntaps, n->kh * n->kw);
    } else if (n->cs.ntaps) {
        P("    /* only %d of the %d taps ever read inside the input */\n", n->cs.ntaps,
          n->kh * n->kw);
        P("    float *wl = %s;  /* (%ld, %ld) */\n", buf_expr(E, g, n->buf[NB_TAPS_F]), K, ckk);
        emit_tap_gather(E, n, "wl", "wt", 0);
        A = "wl";
    }
    P("    /* %s (%ld, N*%ld) = W (%ld, %ld) x %s (%ld, N*%ld)%s */\n", f->Z, K, np, K, ckk, f->B,
      ckk, np, f->stats ? ", with its per-channel sums" : f->epi ? ", bias, relu" : "");
    long kg = K / G;
    const char *in = G == 1 ? "    " : "        ", *kgs = arena_printf("%ld", kg);
    if (G > 1)
        P("    for (int g = 0; g < %ld; g++) {\n", G);
    if (f->epi)
        P("%sRnEpilogue ep = { %s, %d, %s, %s };\n", in, f->bias ? grp(G, "b", kgs) : "NULL",
          f->relu, f->stats ? grp(G, "sum", kgs) : "NULL", f->stats ? grp(G, "sumsq", kgs) : "NULL");
    P("%srn_sgemm_ep(0, 0, %ld, N * %ld, %ld, 1.0f, %s, %ld,\n", in, kg, np, ckk,
      grp(G, A, arena_printf("%ld", kg * ckk)), ckk);
    P("%s            %s, N * %ld, 0.0f, %s, N * %ld, %s);\n", in,
      grp(G, f->B, arena_printf("%ld * N * %ld", ckk, np)), np,
      grp(G, f->Z, arena_printf("%ld * N * %ld", kg, np)), np, f->epi ? "&ep" : "NULL");
    if (G > 1)
        P("    }\n");
}

/* the direct convolution over batch vectors at batches of RN_DIRECT_MIN_N
 * or more; below, the schedule's small-batch algorithm: rn_conv1 image by
 * image (folded for inference: no im2col), or the GEMM */
static void fwd_conv_direct(Emit *E, Graph *g, Node *n, const ConvFwd *f)
{
    const Node *x = f->x;
    long K = f->K, C = f->C, T = packed_taps(n);
    int small = n->cs.fwd_small == CONV_CONV1;
    emit_table_ptrs(E, n, TAB_FWD, "pos", "tq");
    if (small) {
        const char *live = emit_live_taps(E, n);
        P("    if (N < RN_DIRECT_MIN_N) {  /* latency: positions x a vector of channels, per image */\n");
        P("        static const RnConvShape sh = {%ld, %ld, %d, %d, %d, %d, %d, %d, %d, %d};\n",
          K, C, x->h, x->w, n->h, n->w, n->kh, n->kw, n->stride, n->pad);
        P("        rn_conv1(&sh, N, %ld, %s, %s, x, N == 1 ? %s : %s, N == 1, y, b, %d);\n", T,
          live, buf_expr(E, g, n->buf[NB_PACK1]),
          n->buf[NB_PAD1] >= 0 ? buf_expr(E, g, n->buf[NB_PAD1]) : "NULL",
          buf_expr(E, g, n->buf[NB_PADN]), f->relu);
        P("    } else {\n");
    } else {
        P("    if (N >= RN_DIRECT_MIN_N) {\n");
    }
    if (n->ep.fold) {
        P("        const float *ap = %s;  /* packed at fold time */\n",
          buf_expr(E, g, n->buf[NB_PACK_F]));
    } else {
        const char *live = emit_live_taps(E, n);
        P("        float *ap = %s;\n", buf_expr(E, g, n->buf[NB_PACK_F]));
        P("        rn_conv_pack(ap, wt, %ld, %ld, %d, %ld, %s, 0);\n", K, C, n->kh * n->kw, T, live);
    }
    if (f->epi)
        P("        RnEpilogue ep = { %s, %d, %s, %s };\n", f->bias ? "b" : "NULL", f->relu,
          f->stats ? "sum" : "NULL", f->stats ? "sumsq" : "NULL");
    P("        rn_conv_direct(%ld, %ld, N, %ld, %ld, pos, tq, ap, x, N * %ldL, %s, 0.0f, %s);\n",
      K, C, f->np, T, (long)x->h * x->w, f->Z, f->epi ? "&ep" : "NULL");
    if (!small) {
        P("    } else {\n");
        fwd_conv_gemm(E, g, n, f);
    }
    P("    }\n");
}

/* a training conv's batch norm from the sums its epilogue took, or at
 * inference (not folded: --passes without fold-bn) per channel */
static void fwd_conv_bn(Emit *E, Graph *g, Node *n, const ConvFwd *f)
{
    long K = f->K, np = f->np;
    Node *b = n->ep.bn;
    ptr_param(E, b, 0, "gamma", "params");
    ptr_param(E, b, 1, "beta", "params");
    ptr_param(E, b, 2, "rmean", "params");
    ptr_param(E, b, 3, "rvar", "params");
    if (g->mode == MODE_TRAIN) {
        P("    float *save = %s;  /* mean, invstd (2, %d) */\n", buf_expr(E, g, n->buf[NB_SAVE]),
          n->c);
        par_begin(E, 1, K * np);
        P("    for (int c = 0; c < %ld; c++) {\n", K);
        P("        long o = (long)c * N * %ld;\n", np);
        P("        rn_bn_train_from_sums(y + o, z + o, N * %ldL, sum[c], sumsq[c], gamma[c], beta[c],\n",
          np);
        P("                              &rmean[c], &rvar[c], &save[c], &save[%d + c], %d);\n",
          n->c, n->ep.relu);
        P("    }\n");
        par_end(E);
    } else {
        par_begin(E, 1, K * np);
        P("    for (int c = 0; c < %ld; c++)\n", K);
        P("        rn_bn_infer_channel(y + (long)c * N * %ld, z + (long)c * N * %ld, N * %ldL, gamma[c], beta[c], rmean[c], rvar[c], %d);\n",
          np, np, np, n->ep.relu);
        par_end(E);
    }
}

static void fwd_conv(Emit *E, Graph *g, Node *n)
{
    const Node *x = n->in[0];
    ConvFwd f = { .x = x, .K = n->filters, .G = n->groups, .C = x->c, .np = (long)n->h * n->w };
    f.ckk_full = f.C / f.G * n->kh * n->kw;
    f.ckk = f.C / f.G * packed_taps(n);
    ptr_act(E, g, x, "x");
    ptr_act(E, g, n, "y");
    f.Z = "y";
    if (n->ep.bn && !n->ep.fold) {
        ptr_buf(E, g, n->buf[NB_PRE], "z", "pre-bn", n);
        f.Z = "z";
    }
    conv_weights(E, g, n);
    f.B = "x";
    if (n->buf[NB_COL] >= 0 && n->cs.fwd != CONV_WINOGRAD_2X2_3X3) {
        P("    float *col = %s;  /* im2col (%ld, %ld*N) */\n", buf_expr(E, g, n->buf[NB_COL]),
          f.C * n->kh * n->kw, f.np);
        f.B = "col";
    }
    /* the epilogue: bias and relu, or the batch-norm sums */
    if (n->ep.fold) {
        P("    const float *b = wt + %ldL;  /* folded bias */\n",
          f.K * (n->cs.ntaps ? f.ckk : f.ckk_full));
        f.bias = "b";
    } else if (n->bias) {
        ptr_param(E, n, 1, "b", "params");
        f.bias = "b";
    }
    f.stats = n->ep.bn && !n->ep.fold && g->mode == MODE_TRAIN;
    if (f.stats) {
        P("    double *sum = (double *)(%s + %d);  /* per channel: sum, sum of squares */\n",
          buf_expr(E, g, n->buf[NB_SAVE]), 2 * n->c);
        P("    double *sumsq = sum + %d;\n", n->c);
        P("    memset(sum, 0, sizeof(double) * %d);\n", 2 * n->c);
    }
    /* the relu goes in the epilogue unless a training bn comes between */
    f.relu = n->ep.relu && (!n->ep.bn || n->ep.fold);
    f.epi = f.stats || f.bias || f.relu;
    switch (n->cs.fwd) {
    case CONV_WINOGRAD_2X2_3X3:
        fwd_conv_winograd(E, g, n, &f);
        break;
    case CONV_DIRECT:
        fwd_conv_direct(E, g, n, &f);
        break;
    case CONV_IM2COL_GEMM:
        fwd_conv_gemm(E, g, n, &f);
        break;
    case CONV_CONV1:
    case CONV_ALGO_COUNT:
        die("conv %s: no forward algorithm %d", n->name, n->cs.fwd);
    }
    if (n->ep.bn && !n->ep.fold)
        fwd_conv_bn(E, g, n, &f);
}

static void fwd_padshort(Emit *E, Graph *g, Node *n)
{
    Node *x = n->in[0];
    long np = (long)n->h * n->w;
    int lo = (n->c - x->c) / 2;
    ptr_act(E, g, x, "x");
    ptr_act(E, g, n, "y");
    P("    /* channels %d..%d take x subsampled by %d; the rest are zero */\n", lo,
      lo + x->c - 1, n->stride);
    P("    memset(y, 0, sizeof(float) * N * %ld);\n", (long)n->c * np);
    P("    for (int c = 0; c < %d; c++)\n", x->c);
    P("        for (int oh = 0; oh < %d; oh++)\n", n->h);
    P("            for (int ow = 0; ow < %d; ow++)\n", n->w);
    P("                memcpy(y + (((long)(c + %d) * %d + oh) * %d + ow) * N,\n", lo, n->h, n->w);
    P("                       x + (((long)c * %d + oh * %d) * %d + ow * %d) * N, sizeof(float) * N);\n",
      x->h, n->stride, x->w, n->stride);
}

static void emit_forward_layer(Emit *E, Graph *g, Node *n)
{
    const char *nm = node_cname(n);
    int train = g->mode == MODE_TRAIN;
    E->train = train;
    if (n->op == RN_OP_INPUT)
        return; /* the entry point fills the input */
    Node *x = n->in[0], *y = n->in[1];
    P("\n/* %s: %s", c_string(n->name), c_string(describe(n)));
    if (x)
        P(", %dx%dx%d", x->c, x->h, x->w);
    if (y)
        P(" + %dx%dx%d", y->c, y->h, y->w);
    P(" -> %dx%dx%d */\n", n->c, n->h, n->w);
    /* inference layers are inlined, into inf_pass1 and infn_* (see there) */
    P("static %svoid %s_%s(RnExec *e, float *w, int N, int train)\n{\n",
      train ? "" : "inline __attribute__((always_inline)) ", train ? "fwd" : "inf", nm);
    P("    (void)e; (void)train;\n");
    switch (n->op) {
    case RN_OP_INPUT:
        break;
    case RN_OP_CONV:
        fwd_conv(E, g, n);
        break;
    case RN_OP_BN:
        KLOWER(kfwd_bn, E, g, n);
        break;
    case RN_OP_RELU:
        KLOWER(kfwd_relu, E, g, n);
        break;
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
        KLOWER(kfwd_pool, E, g, n);
        break;
    case RN_OP_GAP:
        KLOWER(kfwd_gap, E, g, n);
        break;
    case RN_OP_ADD:
        KLOWER(kfwd_add, E, g, n);
        break;
    case RN_OP_CONCAT:
        KLOWER(kfwd_concat, E, g, n);
        break;
    case RN_OP_PADSHORT:
        fwd_padshort(E, g, n);
        break;
    case RN_OP_FC:
        KLOWER(kfwd_fc, E, g, n);
        break;
    case RN_OP_COUNT:
        die("bad op");
    }
    P("}\n");
}

/* ---- backward, one function per layer of the training graph ----
 * A node's gradient buffer is written by the first of its readers in
 * backward order (dx_set) and added to by the others. */

/* a conv's fused epilogue, backward: batch norm (and relu) or the relu
 * mask, in place over dy, then the bias gradient */
static void bwd_conv_epilogue(Emit *E, Graph *g, Node *n)
{
    long K = n->filters, np = (long)n->h * n->w;
    if (n->ep.bn) {
        Node *b = n->ep.bn;
        ptr_act(E, g, n, "y");
        ptr_buf(E, g, n->buf[NB_PRE], "z", "pre-bn", n);
        ptr_param(E, b, 0, "gamma", "params");
        ptr_param(E, b, 0, "dgamma", "grads");
        ptr_param(E, b, 1, "dbeta", "grads");
        P("    float *save = %s;\n", buf_expr(E, g, n->buf[NB_SAVE]));
        P("    /* bn%s backward, in place: dy becomes the gradient of the conv output */\n",
          n->ep.relu ? " + relu" : "");
        par_begin(E, 1, K * np);
        P("    for (int c = 0; c < %ld; c++) {\n", K);
        P("        long o = (long)c * N * %ld;\n", np);
        P("        rn_bn_backward_channel(dy + o, &dgamma[c], &dbeta[c], dy + o, z + o, y + o, N * %ldL,\n",
          np);
        P("                               gamma[c], save[c], save[%d + c], %d, 0);\n", n->c,
          n->ep.relu);
        P("    }\n");
        par_end(E);
    } else if (n->ep.relu) {
        ptr_act(E, g, n, "y");
        par_begin(E, 1, K * np);
        P("    for (int c = 0; c < %ld; c++)\n", K);
        P("        rn_relu_mask(dy + (long)c * N * %ld, y + (long)c * N * %ld, N * %ldL);\n", np,
          np, np);
        par_end(E);
    }
    if (n->bias) {
        ptr_param(E, n, 1, "db", "grads");
        P("    rn_bias_grad(db, dy, %ld, N * %ld);\n", K, np);
    }
}

/* both gradients as direct convolutions at batches of RN_DIRECT_MIN_N or
 * more, padding skipped (smaller batches fall through to the GEMMs) */
static void bwd_conv_direct(Emit *E, Graph *g, Node *n, int want_dx)
{
    const Node *x = n->in[0];
    long K = n->filters, C = x->c, np = (long)n->h * n->w, T = packed_taps(n);
    int sx = n->dx_set[0];
    const char *live = emit_live_taps(E, n);
    emit_table_ptrs(E, n, TAB_WGRAD, "wpos", "wpq");
    if (want_dx)
        emit_table_ptrs(E, n, TAB_BWD, "bpos", "btq");
    P("    if (N >= RN_DIRECT_MIN_N) {\n");
    P("        /* dW (%ld, %ld, %d taps) += dy x the input, per tap */\n", K, C, n->kh * n->kw);
    P("        rn_conv_wgrad(%ld, %ld, N, %ld, %ld, %ld, wpos, wpq, dy, x, dwt, %d, %s, %s);\n",
      K, C, np, (long)x->h * x->w, T, n->kh * n->kw, live, buf_expr(E, g, n->buf[NB_WGRAD]));
    if (want_dx) {
        P("        /* dx %s the direct convolution of dy with the transposed filter */\n",
          sx ? "=" : "+=");
        P("        float *ap = %s;\n", buf_expr(E, g, n->buf[NB_PACK_B]));
        P("        rn_conv_pack(ap, wt, %ld, %ld, %d, %ld, %s, 1);\n", C, K, n->kh * n->kw, T, live);
        P("        rn_conv_direct(%ld, %ld, N, %ld, %ld, bpos, btq, ap, dy, N * %ldL, dx, %s, NULL);\n",
          C, K, (long)x->h * x->w, T, np, sx ? "0.0f" : "1.0f");
    }
    P("        return;\n");
    P("    }\n");
}

/* the gradients by GEMM (a group at a time): dW += dy x col^T (col: the
 * input's im2col columns, or the input itself for 1x1/1), then dx by
 * Winograd, or dcol = W^T x dy and col2im */
static void bwd_conv_gemm(Emit *E, Graph *g, Node *n, int want_dx)
{
    const Node *x = n->in[0];
    long K = n->filters, G = n->groups, C = x->c, np = (long)n->h * n->w;
    long ckk = C / G * packed_taps(n), kg = K / G;
    int sx = n->dx_set[0], cols = n->buf[NB_BCOL] >= 0;
    const char *A = "wt", *DW = "dwt";
    if (n->cs.ntaps) {
        P("    /* only %d of the %d taps ever read inside the input */\n", n->cs.ntaps,
          n->kh * n->kw);
        P("    float *wl = %s, *dwl = wl + %ldL;  /* (%ld, %ld) each */\n",
          buf_expr(E, g, n->buf[NB_TAPS_B]), K * ckk, K, ckk);
        emit_tap_gather(E, n, "wl", "wt", 0);
        A = "wl";
        DW = "dwl";
    }
    const char *B = "x";
    if (cols) {
        P("    float *col = %s;\n", buf_expr(E, g, n->buf[NB_BCOL]));
        emit_conv_im2col(E, n, "col", "x");
        B = "col";
    }
    const char *in = G == 1 ? "    " : "        ";
    const char *dyg = grp(G, "dy", arena_printf("%ld * N * %ld", kg, np));
    P("    /* dW (%ld, %ld) += dy (%ld, N*%ld) x %s^T */\n", K, ckk, K, np, B);
    if (G > 1)
        P("    for (int g = 0; g < %ld; g++)\n", G);
    P("%srn_sgemm(0, 1, %ld, %ld, N * %ld, 1.0f, %s, N * %ld, %s, N * %ld,\n", in, kg, ckk, np,
      dyg, np, grp(G, B, arena_printf("%ld * N * %ld", ckk, np)), np);
    P("%s         %s, %s, %ld);\n", in, n->cs.ntaps ? "0.0f" : "1.0f",
      grp(G, DW, arena_printf("%ld", kg * ckk)), ckk);
    if (n->cs.ntaps)
        emit_tap_gather(E, n, "dwt", "dwl", 1);
    if (!want_dx)
        return;
    if (n->cs.bwd_data == CONV_WINOGRAD_2X2_3X3) {
        P("    /* dx %s= conv3x3(dy) with the flipped, transposed filter (Winograd) */\n",
          sx ? "" : "+");
        P("    float *ut = %s;\n", buf_expr(E, g, n->buf[NB_WINO_B]));
        P("    rn_wino_filter(ut, wt, %ld, %ld, 1);\n", K, C);
        P("    rn_wino_conv(dx, dy, ut, N, %ld, %ld, %d, %d, col, NULL, %d);\n", K, C, x->h, x->w,
          !sx);
        return;
    }
    if (cols)
        P("    /* dcol (%ld, N*%ld) = W^T x dy, then col2im into dx */\n", ckk, np);
    else
        P("    /* dx (%ld, N*%ld) %s W^T x dy */\n", ckk, np, sx ? "=" : "+=");
    const char *dst = cols ? "col" : "dx";
    if (G > 1)
        P("    for (int g = 0; g < %ld; g++)\n", G);
    P("%srn_sgemm(1, 0, %ld, N * %ld, %ld, 1.0f, %s, %ld, %s, N * %ld,\n", in, ckk, np, kg,
      grp(G, A, arena_printf("%ld", kg * ckk)), ckk, dyg, np);
    P("%s         %s, %s, N * %ld);\n", in, cols || sx ? "0.0f" : "1.0f",
      grp(G, dst, arena_printf("%ld * N * %ld", ckk, np)), np);
    if (cols)
        emit_col2im(E, n, "dx", "col", sx);
}

static void bwd_conv(Emit *E, Graph *g, Node *n)
{
    const Node *x = n->in[0];
    int want_dx = x->op != RN_OP_INPUT;
    ptr_act(E, g, x, "x");
    if (want_dx || n->cs.ntaps)  /* the weights: for dx, and the live taps' gather */
        ptr_param(E, n, 0, "wt", "params");
    ptr_param(E, n, 0, "dwt", "grads");
    if (want_dx)
        ptr_dact(E, g, x, "dx");
    bwd_conv_epilogue(E, g, n);
    switch (n->cs.bwd_weights) {
    case CONV_DIRECT:
        bwd_conv_direct(E, g, n, want_dx);
        break;
    case CONV_IM2COL_GEMM:
        break;
    case CONV_WINOGRAD_2X2_3X3:
    case CONV_CONV1:
    case CONV_ALGO_COUNT:
        die("conv %s: no weight-gradient algorithm %d", n->name, n->cs.bwd_weights);
    }
    /* below RN_DIRECT_MIN_N, and the other algorithms */
    bwd_conv_gemm(E, g, n, want_dx);
}

static void bwd_padshort(Emit *E, Graph *g, Node *n)
{
    Node *x = n->in[0];
    int want_dx = n->in[0] && n->in[0]->op != RN_OP_INPUT;
    int sx = n->dx_set[0];
    int lo = (n->c - x->c) / 2;
    if (!want_dx)
        return;
    ptr_dact(E, g, x, "dx");
    if (sx)
        P("    memset(dx, 0, sizeof(float) * N * %ld);\n", (long)x->c * x->h * x->w);
    P("    for (int c = 0; c < %d; c++)\n", x->c);
    P("        for (int oh = 0; oh < %d; oh++)\n", n->h);
    P("            for (int ow = 0; ow < %d; ow++)\n", n->w);
    P("                for (int i = 0; i < N; i++)\n");
    P("                    dx[(((long)c * %d + oh * %d) * %d + ow * %d) * N + i] +=\n", x->h,
      n->stride, x->w, n->stride);
    P("                        dy[(((long)(c + %d) * %d + oh) * %d + ow) * N + i];\n", lo, n->h,
      n->w);
}

static void emit_backward_layer(Emit *E, Graph *g, Node *n)
{
    const char *nm = node_cname(n);
    E->train = 1;
    if (n->op == RN_OP_INPUT)
        return;
    P("\n/* d %s: %s */\n", c_string(n->name), c_string(describe(n)));
    P("static void bwd_%s(RnExec *e, float *w, int N)\n{\n", nm);
    P("    (void)e;\n");
    void (*lower)(Emit *, Graph *, Node *, KFunc *) = NULL; /* through the kernel-call IR */
    switch (n->op) {
    case RN_OP_RELU: lower = kbwd_relu; break;
    case RN_OP_FC: lower = kbwd_fc; break;
    case RN_OP_BN: lower = kbwd_bn; break;
    case RN_OP_MAXPOOL: case RN_OP_AVGPOOL: lower = kbwd_pool; break;
    case RN_OP_ADD: lower = kbwd_add; break;
    case RN_OP_CONCAT: lower = kbwd_concat; break;
    case RN_OP_GAP: lower = kbwd_gap; break;
    case RN_OP_INPUT: case RN_OP_CONV: case RN_OP_PADSHORT: case RN_OP_COUNT: break;
    }
    if (lower) {
        KLOWER(lower, E, g, n);
        P("}\n");
        return;
    }
    ptr_dact(E, g, n, "dy");
    switch (n->op) {
    case RN_OP_INPUT:
        break;
    case RN_OP_CONV:
        bwd_conv(E, g, n);
        break;
    case RN_OP_BN:
        die("bn: lowered through the kernel-call IR");
    case RN_OP_RELU:
        die("relu: lowered through the kernel-call IR");
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
        die("lowered through the kernel-call IR");
    case RN_OP_GAP:
        die("lowered through the kernel-call IR");
    case RN_OP_ADD:
        die("lowered through the kernel-call IR");
    case RN_OP_CONCAT:
        die("lowered through the kernel-call IR");
    case RN_OP_PADSHORT:
        bwd_padshort(E, g, n);
        break;
    case RN_OP_FC:
        die("fc: lowered through the kernel-call IR");
    case RN_OP_COUNT:
        die("bad op");
    }
    P("}\n");
}

/* inference: fold each batch norm into its conv's weights and bias:
 * s = gamma / sqrt(var + eps), W' = W s, b' = (b - mean) s + beta */
static void emit_fold(Emit *E, Graph *g)
{
    P("\n/* batch norm folded into the convolutions, for inference */\n");
    P("static void fold_weights(RnExec *e, float *w, int N)\n{\n");
    P("    (void)e; (void)w; (void)N;\n");
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (!n->ep.fold)
            continue;
        Node *b = n->ep.bn;
        long K = n->filters, ckk = n->param[0].numel / K, kk = n->kh * n->kw;
        /* with dead taps only the live ones are kept: (K, C/G * ntaps) */
        long fck = n->cs.ntaps ? ckk / kk * n->cs.ntaps : ckk;
        P("    {\n");
        P("    float *f = %s;  /* %s: (%ld, %ld) weights%s, then %ld biases */\n",
          buf_expr(E, g, n->buf[NB_FOLD]), c_string(n->name), K, fck, n->cs.ntaps ? " of the live taps" : "", K);
        ptr_param(E, n, 0, "wt", "params");
        if (n->bias)
            ptr_param(E, n, 1, "cb", "params");
        ptr_param(E, b, 0, "gamma", "params");
        ptr_param(E, b, 1, "beta", "params");
        ptr_param(E, b, 2, "rmean", "params");
        ptr_param(E, b, 3, "rvar", "params");
        par_begin(E, 0, K * ckk);
        P("    for (int k = 0; k < %ld; k++) {\n", K);
        P("        float s = gamma[k] / sqrtf(rvar[k] + RN_BN_EPS);\n");
        if (n->cs.ntaps) {
            P("        for (int c = 0; c < %ld; c++) {\n", ckk / kk);
            int l = 0;
            for (int t = 0; t < kk; t++)
                if (n->cs.tap_live[t])
                    P("            f[((long)k * %ld + c) * %d + %d] = wt[((long)k * %ld + c) * %ld + %d] * s;\n",
                      ckk / kk, n->cs.ntaps, l++, ckk / kk, kk, t);
            P("        }\n");
        } else {
            P("        for (int i = 0; i < %ld; i++)\n", ckk);
            P("            f[(long)k * %ld + i] = wt[(long)k * %ld + i] * s;\n", ckk, ckk);
        }
        P("        f[%ldL + k] = (%s - rmean[k]) * s + beta[k];\n", K * fck,
          n->bias ? "cb[k]" : "0.0f");
        P("    }\n");
        par_end(E);
        if (n->cs.fwd == CONV_WINOGRAD_2X2_3X3)
            P("    rn_wino_filter(f + %ldL, f, %ld, %ld, 0);  /* for Winograd */\n", K * ckk + K, K,
              ckk / 9);
        if (n->cs.fwd == CONV_DIRECT)
            P("    rn_conv_pack(%s, f, %ld, %ld, %d, %d, NULL, 0);  /* for the direct conv */\n",
              buf_expr(E, g, n->buf[NB_PACK_F]), K, ckk / kk, packed_taps(n), packed_taps(n));
        if (n->cs.fwd == CONV_DIRECT && n->cs.fwd_small == CONV_CONV1)
            P("    rn_conv1_pack(%s, f, %ld, %ld, %d, %d, NULL);  /* for batch 1 */\n",
              buf_expr(E, g, n->buf[NB_PACK1]), K, ckk / kk, packed_taps(n), packed_taps(n));
        if (n->buf[NB_PAD1] >= 0)
            P("    memset(%s, 0, sizeof(float) * %ld);  /* batch 1's padding, zero for good */\n",
              buf_expr(E, g, n->buf[NB_PAD1]), conv1_pad_floats(n));
        P("    }\n");
    }
    P("}\n");
}

/* ---- the descriptor ---- */

/* RnParamKind's spellings, in its order (runtime/rn_model.h) */
static const char *const pkind_names[] = { "RN_P_CONV_W", "RN_P_CONV_B", "RN_P_BN_W",
                                           "RN_P_BN_B",   "RN_P_BN_MEAN", "RN_P_BN_VAR",
                                           "RN_P_FC_W",   "RN_P_FC_B" };

static unsigned long long fnv1a(const char *s, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* the op name as an enum spelling, for the node table */
static const char *op_enum(RnOp op)
{
    static const char *const names[RN_OP_COUNT] = {
#define X(e, name, nin, params) "RN_OP_" #e,
        RN_OPS(X)
#undef X
    };
    return names[op];
}

static void emit_descriptor(Emit *E, const char *prefix)
{
    Graph *g = E->src;
    Model *m = g->model;
    P("\n/* ---- the descriptor ---- */\n\n");
    P("static const RnParamInfo params[] = {\n");
    int k = 0, np = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++, k++) {
            const ParamT *p = &n->param[j];
            int fan_in, fan_out;
            param_fans(n, p, &fan_in, &fan_out);
            P("    { \"%s\", %s, %d, { %d, %d, %d, %d }, %ldL, %ldL, %d, %d, %d, %d },\n", c_string(p->name),
              pkind_names[param_kind(n, j)], p->ndim, p->shape[0], p->ndim > 1 ? p->shape[1] : 0,
              p->ndim > 2 ? p->shape[2] : 0, p->ndim > 3 ? p->shape[3] : 0, p->numel, p->offset,
              p->is_buffer, p->no_decay, fan_in, fan_out);
        }
        np += n->nparam;
    }
    P("};\n\n");
    P("static const RnNodeInfo nodes[] = {\n");
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        int pi[4] = { -1, -1, -1, -1 };
        for (int j = 0; j < n->nparam; j++)
            pi[j] = n->param[j].index;
        P("    { %s, \"%s\", { %d, %d }, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, { %d, %d, %d, %d } },\n",
          op_enum(n->op), c_string(n->name), n->in[0] ? n->in[0]->id : -1,
          n->in[1] ? n->in[1]->id : -1, n->c, n->h, n->w, n->kh, n->kw, n->stride, n->pad,
          n->groups, n->filters, n->bias, pi[0], pi[1], pi[2], pi[3]);
    }
    P("};\n\n");
    long macs = 0;
    for (int i = 0; i < g->nodes.n; i++)
        macs += node_macs(g->nodes.v[i]);
    const TrainDef *t = &m->train;
    const char *text = src_text(m->file);
    P("static const RnLayerInfo layers[] = {\n");
    int io = !E->pl->train;  /* --inference-only: the inference layers */
    Graph *tg = io ? E->pl->infer : E->pl->train;
    for (int i = 1; i < tg->nodes.n; i++) {
        Node *n = tg->nodes.v[i];
        long f = 2 * node_useful_macs(n), fb = 0;
        if (n->op == RN_OP_CONV || n->op == RN_OP_FC)
            fb = n->in[0]->op == RN_OP_INPUT ? f : 2 * f;
        P("    { \"%s\", \"%s\", %s_%s, %s%s, %ldL, %ldL },\n", c_string(n->name), c_string(describe(n)),
          io ? "inf" : "fwd", node_cname(n), io ? "NULL" : "bwd_", io ? "" : node_cname(n), f, io ? 0 : fb);
    }
    P("};\n\n");
    P("const RnModel rn_model = {\n");
    P("    .name = \"%s\",\n", c_string(m->name));
    P("    .source_hash = \"%016llx\",\n", fnv1a(text, src_len(m->file)));
    P("    .backend = \"c\",\n");
    P("    .in_c = %d, .in_h = %d, .in_w = %d, .classes = %d,\n", m->in_c, m->in_h, m->in_w,
      m->classes);
    P("    .nparams = %d, .params = params, .param_floats = %ldL,\n", np, E->nparam_floats);
    P("    .nnodes = %d, .nodes = nodes, .output = %d,\n", g->nodes.n, g->output->id);
    P("    .defaults = {\n");
    P("        .optimizer = %d, .lr = %.9g, .momentum = %.9g, .beta1 = %.9g, .beta2 = %.9g, .eps = %.9g,\n",
      t->optimizer, t->lr, t->momentum, t->beta1, t->beta2, t->eps);
    P("        .nesterov = %d, .weight_decay = %.9g, .decoupled = %d, .no_decay_bn_bias = %d,\n",
      t->nesterov, t->weight_decay, t->decoupled, t->no_decay_bn_bias);
    P("        .schedule = %d, .warmup = %.9g, .step_epochs = %d, .gamma = %.9g, .min_lr = %.9g,\n",
      t->schedule, t->warmup, t->step_epochs, t->gamma, t->min_lr);
    P("        .label_smoothing = %.9g, .batch = %d, .epochs = %d,\n", t->label_smoothing, t->batch,
      t->epochs);
    P("        .nmean = %d, .mean = { %.9g, %.9g, %.9g, %.9g }, .std = { %.9g, %.9g, %.9g, %.9g },\n",
      t->nmean, t->mean[0], t->mean[1], t->mean[2], t->mean[3], t->nstd ? t->std[0] : 1.0,
      t->nstd > 1 ? t->std[1] : 1.0, t->nstd > 2 ? t->std[2] : 1.0, t->nstd > 3 ? t->std[3] : 1.0);
    P("        .shift = %d, .flip = %d, .seed = %lldL,\n", t->shift, t->flip, t->seed);
    P("    },\n");
    P("    .macs = %ldL,\n", macs);
    P("    .work_fixed = %ldL, .work_per_image = %ldL,\n", E->pfix, E->pimg);
    P("    .forward = %s_forward,\n", prefix);
    if (io) {
        P("    .backward = NULL,  /* built with --inference-only */\n");
        P("    .update = NULL,\n");
    } else {
        P("    .backward = %s_backward,\n", prefix);
        P("    .update = %s_update,\n", prefix);
    }
    P("    .nlayers = %d, .layers = layers,\n", tg->nodes.n - 1);
    P("};\n");
}

static void emit_training_entries(Emit *E, Graph *g, Graph *tg, const char *prefix);

void emit_c(Graph *g, const Pipeline *pl, FILE *out, FILE *hdr, const char *hname)
{
    Emit em = { .pl = pl, .src = g, .o = out };
    Emit *E = &em;
    E->nparam_floats = param_layout(g);
    plan_workspace(pl, &E->pimg, &E->pfix);
    const char *prefix = arena_printf("rnm_%s", c_ident(g->name));
    Model *m = g->model;
    Graph *tg = pl->train, *ig = pl->infer;  /* tg NULL: --inference-only */

    if (hdr) {
        fprintf(hdr, "/* %s - generated by rnetc from %s; do not edit. */\n", c_string(hname),
                c_string(src_name(m->file)));
        fprintf(hdr, "#ifndef RNET_MODEL_%s_H\n#define RNET_MODEL_%s_H\n", prefix, prefix);
        fprintf(hdr, "#include \"rn_model.h\"\n\n");
        fprintf(hdr, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n", prefix,
                m->in_c, prefix, m->in_h, prefix, m->in_w);
        fprintf(hdr, "#define %s_CLASSES %d\n", prefix, m->classes);
        fprintf(hdr, "#define %s_PARAM_FLOATS %ldL\n", prefix, E->nparam_floats);
        fprintf(hdr, "/* workspace floats for a batch of N (the planned arena) */\n");
        fprintf(hdr, "#define %s_WORK_FLOATS(N) (%ldL + %ldL * (long)(N))\n\n", prefix,
                E->pfix, E->pimg);
        fprintf(hdr, "void %s_forward(RnExec *e, const float *x, int N, int train);\n", prefix);
        if (tg) {
            fprintf(hdr, "void %s_backward(RnExec *e, const float *dlogits, int N);\n", prefix);
            fprintf(hdr, "void %s_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v);\n",
                    prefix);
        }
        fprintf(hdr, "\n#endif\n");
    }

    P("/* generated by rnetc from %s; do not edit.\n", c_string(src_name(m->file)));
    if (tg)
        P(" *\n * model %s: input %dx%dx%d, %d classes, %d layers (%d fused for training, %d for\n"
          " * inference).", c_string(m->name), m->in_c, m->in_h, m->in_w, m->classes, g->nodes.n,
          tg->nodes.n, ig->nodes.n);
    else
        P(" *\n * model %s: input %dx%dx%d, %d classes, %d layers (%d fused); inference only.", c_string(m->name),
          m->in_c, m->in_h, m->in_w, m->classes, g->nodes.n, ig->nodes.n);
    P("  Activations are CHWN (batch innermost); every size but the batch N is a\n * constant.\n");
    P(" * Workspace: %ld floats per image + %ld fixed, planned by liveness. */\n", E->pimg,
      E->pfix);
    P("#include \"rn_gen.h\"\n");
    if (hname)
        P("#include \"%s\"\n", hname);
    /* the layers and entry points first into memory: the tables they use
     * are declared above them */
    FILE *file = E->o;
    char *body;
    size_t body_len;
    E->o = open_memstream(&body, &body_len);
    if (!E->o)
        die("out of memory");
    if (tg) {
        P("\n/* ---- training: forward ---- */\n");
        for (int i = 0; i < tg->nodes.n; i++)
            emit_forward_layer(E, tg, tg->nodes.v[i]);
        P("\n/* ---- training: backward ---- */\n");
        for (int i = 0; i < tg->nodes.n; i++)
            emit_backward_layer(E, tg, tg->nodes.v[i]);
    }
    P("\n/* ---- inference ---- */\n");
    emit_fold(E, ig);
    for (int i = 0; i < ig->nodes.n; i++)
        emit_forward_layer(E, ig, ig->nodes.v[i]);

    /* batch 1 gets its own copy of the inference pass, every size in it a
     * constant: the layers are always inlined into inf_pass1 (a loop of
     * runtime length 1 costs its vector set-up each time: a global
     * pooling took 5.6 us at batch 1, 0.1 us with N = 1); other batches
     * call each layer's own copy (one function each: inlining them all
     * into one made a ResNet-18's C compile 30% longer) */
    P("\n/* the inference pass at batch 1, every size a constant */\n");
    P("static void inf_pass1(RnExec *e, float *w, const float *x)\n{\n");
    P("    const int N = 1;\n");
    P("    rn_nchw_to_chwn(%s, x, N, %d, %ld);\n",
      buf_expr(E, ig, ((Node *)ig->nodes.v[0])->buf[NB_ACT]), m->in_c, (long)m->in_h * m->in_w);
    for (int i = 1; i < ig->nodes.n; i++)
        P("    inf_%s(e, w, N, 0);\n", node_cname(ig->nodes.v[i]));
    P("    rn_chwn_to_nchw(e->logits, %s, N, %d, 1);\n", buf_expr(E, ig, ig->output->buf[NB_ACT]),
      m->classes);
    P("}\n");
    P("\n/* ... and at other batches, each layer a function of its own */\n");
    for (int i = 1; i < ig->nodes.n; i++)
        P("static __attribute__((noinline)) void infn_%s(RnExec *e, float *w, int N) { inf_%s(e, w, N, 0); }\n",
          node_cname(ig->nodes.v[i]), node_cname(ig->nodes.v[i]));

    P("\n/* ---- entry points ---- */\n\n");
    P("void %s_forward(RnExec *e, const float *x, int N, int train)\n{\n", prefix);
    P("    float *w = e->work;\n");
    if (E->tables.n)
        P("    rn_once(&tables_done, tables_fill);\n");
    if (!tg)
        P("    (void)train;  /* built with --inference-only: always inference */\n");
    else {
    P("    if (train) {\n");
    P("        e->folded = 0;  /* running statistics move */\n");
    P("        rn_nchw_to_chwn(%s, x, N, %d, %ld);\n", buf_expr(E, tg, ((Node *)tg->nodes.v[0])->buf[NB_ACT]),
      m->in_c, (long)m->in_h * m->in_w);
    for (int i = 1; i < tg->nodes.n; i++)
        P("        fwd_%s(e, w, N, 1);\n", node_cname(tg->nodes.v[i]));
    P("        rn_chwn_to_nchw(e->logits, %s, N, %d, 1);\n", buf_expr(E, tg, tg->output->buf[NB_ACT]),
      m->classes);
    P("        return;\n    }\n");
    }
    P("    if (!e->folded) {\n        fold_weights(e, w, N);\n        e->folded = 1;\n    }\n");
    P("    if (N == 1) {\n        inf_pass1(e, w, x);\n        return;\n    }\n");
    P("    rn_nchw_to_chwn(%s, x, N, %d, %ld);\n", buf_expr(E, ig, ((Node *)ig->nodes.v[0])->buf[NB_ACT]),
      m->in_c, (long)m->in_h * m->in_w);
    for (int i = 1; i < ig->nodes.n; i++)
        P("    infn_%s(e, w, N);\n", node_cname(ig->nodes.v[i]));
    P("    rn_chwn_to_nchw(e->logits, %s, N, %d, 1);\n", buf_expr(E, ig, ig->output->buf[NB_ACT]),
      m->classes);
    P("}\n");
    if (tg)
        emit_training_entries(E, g, tg, prefix);
    if (fclose(E->o) != 0)
        die("out of memory");
    E->o = file;
    emit_tables(E);
    if (E->tables.n)
        P("static int tables_done;\n");
    fwrite(body, 1, body_len, E->o);
    free(body);
    emit_descriptor(E, prefix);
}

/* NAME_backward and NAME_update */
static void emit_training_entries(Emit *E, Graph *g, Graph *tg, const char *prefix)
{
    Model *m = g->model;
    P("\n");
    P("void %s_backward(RnExec *e, const float *dlogits, int N)\n{\n", prefix);
    P("    float *w = e->work;\n");
    if (E->tables.n)
        P("    rn_once(&tables_done, tables_fill);\n");
    P("    rn_nchw_to_chwn(%s, dlogits, N, %d, 1);\n", buf_expr(E, tg, tg->output->buf[NB_DACT]),
      m->classes);
    for (int i = tg->nodes.n - 1; i >= 1; i--)
        P("    bwd_%s(e, w, N);\n", node_cname(tg->nodes.v[i]));
    P("}\n\n");
    P("void %s_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v)\n{\n",
      prefix);
    P("    e->folded = 0;\n");
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++) {
            const ParamT *p = &n->param[j];
            if (p->is_buffer)
                continue;
            P("    rn_optim_step(o, lr, t, e->params + %ld, e->grads + %ld, m + %ld, v ? v + %ld : 0, %ld,\n",
              p->offset, p->offset, p->offset, p->offset, p->numel);
            P("                  rn_optim_decays(o, %d));  /* %s */\n", p->no_decay,
              c_string(p->name));
        }
    }
    P("}\n");
}
