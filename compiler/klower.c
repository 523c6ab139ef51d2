/* klower.c - the per-op lowering into the kernel-call IR (klower.h).
 *
 * One function per op and direction (kfwd_conv, kbwd_conv, ...), each
 * reading the schedule (n->cs: the algorithms; n->ep: the fused epilogue)
 * and the buffer plan (n->buf, g->plan) and appending the calls to a KFunc.
 * Activations are CHWN inside, batch innermost (runtime/rn_gen.h); every
 * size but the batch N is a constant.
 */
#include <stdlib.h>
#include <string.h>
#include "rn_dropout.h"
#include "klower.h"


/* buffer b of graph g as a pointer local: w + fixed, or w + pfix + per-image * N;
 * comment after it, or NULL */
static int kbuf_at(KLower *E, KFunc *k, const Graph *g, int b, const char *var, const char *comment)
{
    if (b < 0)
        die("no buffer");
    const Buf *B = g->plan->bufs.v[b];
    return kir_work(k, var, B->per_image ? E->pfix : B->offset, B->per_image ? B->offset : 0,
                    B->per_image, comment);
}

/* ... with its comment: "what name (c, h, w, N)" */
static int kbuf(KLower *E, KFunc *k, const Graph *g, int b, const char *var, const char *what,
                const Node *n)
{
    return kbuf_at(E, k, g, b, var,
                   arena_printf("%s%s%s (%d, %d, %d, N)", what, *what ? " " : "", c_string(n->name),
                                n->c, n->h, n->w));
}

static int kact(KLower *E, KFunc *k, const Graph *g, const Node *n, const char *var)
{
    return kbuf(E, k, g, n->buf[NB_ACT], var, "", n);
}

static int kdact(KLower *E, KFunc *k, const Graph *g, const Node *n, const char *var)
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


static void kfwd_relu(KLower *E, Graph *g, Node *n, KFunc *k)
{
    long np = (long)n->h * n->w;
    int x = kact(E, k, g, n->in[0], "x"), y = kact(E, k, g, n, "y");
    if (n->inplace)
        kir_comment(k, "in place: y is x");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    kir_call(k, "rn_relu_fwd", KARGS(karg_ptr(y, kch(np)), karg_ptr(x, kch(np)), karg_long(kaff(0, np))));
    kir_end(k);
}

/* dropout: training draws the mask (rn_dropout.h, from e->key), inference
 * is the identity */
static void kfwd_dropout(KLower *E, Graph *g, Node *n, KFunc *k)
{
    long np = (long)n->h * n->w;
    int x = kact(E, k, g, n->in[0], "x"), y = kact(E, k, g, n, "y");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    if (E->train)
        kir_call(k, "rn_dropout_chwn",
                 KARGS(karg_exec(), karg_ptr(y, kch(np)), karg_ptr(x, kch(np)), karg_int(kaff(0, 1)),
                       karg_long(kaff(np, 0)), karg_int(kaff(n->c, 0)),
                       karg_int(kaff_var(kaff(0, 0), 0, 1, 0)), karg_float(n->p), karg_int(kaff(rn_dropout_salt(n->name), 0))));
    else
        kir_call(k, "rn_copy_acc", KARGS(karg_ptr(y, kch(np)), karg_ptr(x, kch(np)),
                                         karg_long(kaff(0, np)), karg_int(kaff(0, 0))));
    kir_end(k);
}

static void kbwd_dropout(KLower *E, Graph *g, Node *n, KFunc *k)
{
    long np = (long)n->h * n->w;
    int dy = kdact(E, k, g, n, "dy");
    if (!n->in[0] || n->in[0]->op == RN_OP_INPUT)
        return;
    int dx = kdact(E, k, g, n->in[0], "dx");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * np);
    kir_call(k, "rn_dropout_chwn_bwd",
             KARGS(karg_exec(), karg_ptr(dx, kch(np)), karg_ptr(dy, kch(np)), karg_int(kaff(0, 1)),
                   karg_long(kaff(np, 0)), karg_int(kaff(n->c, 0)), karg_int(kaff_var(kaff(0, 0), 0, 1, 0)),
                   karg_float(n->p), karg_int(kaff(rn_dropout_salt(n->name), 0)), karg_int(kaff(!n->dx_set[0], 0))));
    kir_end(k);
}

static void kfwd_pool(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kfwd_fc(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kbwd_fc(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kfwd_bn(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kbwd_bn(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kbwd_pool(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kbwd_add(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kfwd_concat(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kbwd_concat(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kfwd_gap(KLower *E, Graph *g, Node *n, KFunc *k)
{
    const Node *x = n->in[0];
    long hw = (long)x->h * x->w;
    int X = kact(E, k, g, x, "x"), y = kact(E, k, g, n, "y");
    kir_for(k, 0, n->c, 1, 1, (long)n->c * hw);
    kir_call(k, "rn_gap_chwn", KARGS(karg_ptr(y, kch(1)), karg_ptr(X, kch(hw)), karg_int(kaff(0, 1)),
                                     karg_long(kaff(hw, 0))));
    kir_end(k);
}

static void kbwd_gap(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kfwd_add(KLower *E, Graph *g, Node *n, KFunc *k)
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

static void kbwd_relu(KLower *E, Graph *g, Node *n, KFunc *k)
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

/* ---- convolutions ---- */

static KAff kz(void) { return kaff(0, 0); }
static KArg kint(long v) { return karg_int(kaff(v, 0)); }
static KArg kN(void) { return karg_int(kaff(0, 1)); }
static KArg kopt(int local) { return local >= 0 ? karg_ptr(local, kz()) : karg_null(); }

static int packed_taps(const Node *n) { return n->cs.ntaps ? n->cs.ntaps : n->kh * n->kw; }

/* rn_im2col_tap has a second copy for batch 1, every size a constant: for
 * inference's latency; a training step's layers take the one copy */
static const char *im2col_fn(const KLower *E, const char *base)
{
    return E->train ? arena_printf("%s_n", base) : base;
}

/* im2col of conv n's input into col (C * live taps, OH*OW*N) */
static void kim2col(KLower *E, const Node *n, KFunc *k, int col, int in)
{
    const Node *x = n->in[0];
    long np = (long)n->h * n->w, hw = (long)x->h * x->w;
    int L = packed_taps(n);
    if (x->c < 16) {
        /* few channels (a stem): the threads share the (channel, tap) rows */
        int *kh = arena_alloc(sizeof(int) * (size_t)L), *kw = arena_alloc(sizeof(int) * (size_t)L);
        int l = 0;
        for (int t = 0; t < n->kh * n->kw; t++)
            if (!n->cs.ntaps || n->cs.tap_live[t]) {
                kh[l] = t / n->kw;
                kw[l++] = t % n->kw;
            }
        int tkh = kir_itable(k, "tkh", kh, L), tkw = kir_itable(k, "tkw", kw, L);
        kir_for(k, 0, (long)x->c * L, 1, 1, (long)x->c * L * np);
        kir_call(k, im2col_fn(E, "rn_im2col_row"),
                 KARGS(karg_ptr(col, kz()), karg_ptr(in, kz()), kN(), karg_int(kaff_var(kz(), 0, 1, 0)),
                       kint(L), kint(x->h), kint(x->w), kint(n->h), kint(n->w), kint(n->stride),
                       kint(n->pad), karg_ptr(tkh, kz()), karg_ptr(tkw, kz())));
        kir_end(k);
        return;
    }
    kir_for(k, 0, x->c, 1, 1, (long)x->c * n->kh * n->kw * np);
    int i = kir_long(k, "i", kch(hw)), o = kir_long(k, "o", kch(L * np));
    int l = 0;
    for (int kh = 0; kh < n->kh; kh++)
        for (int kw = 0; kw < n->kw; kw++)
            if (!n->cs.ntaps || n->cs.tap_live[kh * n->kw + kw])
                kir_call(k, im2col_fn(E, "rn_im2col_tap"),
                         KARGS(karg_ptr_at(col, o, kaff(0, l++ * np)), karg_ptr_idx(in, i), kN(),
                               kint(x->h), kint(x->w), kint(n->h), kint(n->w), kint(n->stride),
                               kint(n->pad), kint(kh), kint(kw)));
    kir_end(k);
}

/* col2im into dx, which is first cleared when this is its first writer */
static void kcol2im(const Node *n, KFunc *k, int dx, int col, int set)
{
    const Node *x = n->in[0];
    long np = (long)n->h * n->w, hw = (long)x->h * x->w;
    kir_for(k, 0, x->c, 1, 1, (long)x->c * n->kh * n->kw * np);
    int i = kir_long(k, "i", kch(hw)), o = kir_long(k, "o", kch(packed_taps(n) * np));
    if (set)
        kir_memset_idx(k, dx, i, kaff(0, hw));
    int l = 0;
    for (int kh = 0; kh < n->kh; kh++)
        for (int kw = 0; kw < n->kw; kw++)
            if (!n->cs.ntaps || n->cs.tap_live[kh * n->kw + kw])
                kir_call(k, "rn_col2im_tap_n",
                         KARGS(karg_ptr_idx(dx, i), karg_ptr_at(col, o, kaff(0, l++ * np)), kN(),
                               kint(x->h), kint(x->w), kint(n->h), kint(n->w), kint(n->stride),
                               kint(n->pad), kint(kh), kint(kw)));
    kir_end(k);
}

/* ---- direct convolution (rn_conv_direct) ----
 * Each output position's entries (tap, input position) that read inside
 * the input, as file-scope tables filled once at start-up; taps numbered
 * as packed: the live ones alone with dead taps. */

static int same_geom(const RnConvGeom *a, const RnConvGeom *b)
{
    if (a->C != b->C || a->H != b->H || a->W != b->W || a->M != b->M || a->OH != b->OH ||
        a->OW != b->OW || a->KH != b->KH || a->KW != b->KW || a->S != b->S || a->PAD != b->PAD ||
        !a->live != !b->live)
        return 0;
    return !a->live || !memcmp(a->live, b->live, (size_t)a->KH * a->KW);
}

/* The table of kind `kind` for conv n (registered on first use), as two
 * pointer locals named pos and tq:
 *   TAB_FWD    per output position, its (tap, input position) pairs
 *   TAB_BWD    per input position, its (tap, output position) pairs
 *   TAB_WGRAD  per tap, its (output, input) position pairs */
static void ktable(KLower *E, KFunc *k, const Node *n, int kind, const char *pos, const char *tq,
                   int *P, int *Q)
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
    *P = kir_sym(k, pos, arena_printf("tab%d_pos", t->id),
                 arena_printf("%s: %ld of %ld entries", what[kind], t->nent,
                              (kind == TAB_WGRAD ? (long)g.OH * g.OW : t->npos - 1) * g.KH * g.KW));
    *Q = kir_sym(k, tq, arena_printf("tab%d_tq", t->id), NULL);
}

/* the live taps of the full filter (rn_conv_pack, the gathers), as a
 * table local; -1 without dead taps */
static int klive(KFunc *k, const Node *n)
{
    if (!n->cs.ntaps)
        return -1;
    int *v = arena_alloc(sizeof(int) * (size_t)n->cs.ntaps), l = 0;
    for (int t = 0; t < n->kh * n->kw; t++)
        if (n->cs.tap_live[t])
            v[l++] = t;
    return kir_itable(k, "live", v, n->cs.ntaps);
}

/* "conv 3x3/1 pad 1 +bn +relu" */
const char *klower_describe(const Node *n)
{
    char attr[96];
    node_attrs(n, attr, sizeof attr);
    return arena_printf("%s%s%s%s%s%s%s", rn_op_names[n->op], attr[0] ? " " : "", attr,
                        n->cs.fwd == CONV_WINOGRAD_2X2_3X3 ? " winograd" : "",
                        n->ep.bn ? (n->ep.fold ? " +bn(folded)" : " +bn") : "", n->ep.relu ? " +relu" : "",
                        n->inplace ? " in place" : "");
}

/* dead taps: wl (K, C/G * ntaps) = the live taps' columns of wt (K, C/G,
 * kh, kw); scatter: dwt += dwl at the live taps */
static void ktaps(KFunc *k, const Node *n, int dst, int src, int live, int scatter)
{
    long K = n->filters, Cg = n->in[0]->c / n->groups, kk = n->kh * n->kw, T = n->cs.ntaps;
    kir_for(k, 0, K * Cg, 1, 0, K * Cg * T);  /* (filter, channel) rows */
    kir_call(k, "rn_taps_row",
             KARGS(karg_ptr(dst, kaff_var(kz(), 0, scatter ? kk : T, 0)),
                   karg_ptr(src, kaff_var(kz(), 0, scatter ? T : kk, 0)), kint(T), karg_ptr(live, kz()),
                   kint(scatter)));
    kir_end(k);
}

/* ---- forward ---- */

/* what a conv's forward algorithms share: the operands and the epilogue
 * (locals of the KFunc; -1 for none) */
typedef struct {
    const Node *x;
    long K, G, C, np;
    long ckk, ckk_full;   /* GEMM depth per group: live taps only, and all taps */
    int X, W;             /* the input, the weights */
    int Z;                /* the conv's output: y, or z before a training bn */
    int B;                /* the GEMM's right operand: x, or its im2col columns */
    int bias;             /* b */
    int sum, sumsq;       /* training bn: per-channel sums in the epilogue */
    int live;             /* dead taps: the live ones */
    int relu;             /* relu in the epilogue (no training bn between) */
    int epi;              /* any epilogue */
} ConvFwd;

/* `base + g * step` within the loop over the groups (var 1) */
static KArg kgrp(int local, long G, long step)
{
    return karg_ptr(local, G == 1 ? kz() : kaff_var(kz(), 1, step, 0));
}

/* the epilogue's struct: bias, relu, the bn sums; per group g */
static int kepilogue(KFunc *k, const ConvFwd *f, long kg)
{
    long G = f->G;
    return kir_struct(k, "ep", "RnEpilogue",
                      KARGS(f->bias >= 0 ? kgrp(f->bias, G, kg) : karg_null(), kint(f->relu),
                            f->sum >= 0 ? kgrp(f->sum, G, kg) : karg_null(),
                            f->sumsq >= 0 ? kgrp(f->sumsq, G, kg) : karg_null()));
}

/* Winograd F(2x2, 3x3): the filter transformed (at fold time for
 * inference), 16 GEMMs over the tiles, the epilogue in the output
 * transform */
static void kfwd_conv_winograd(KLower *E, Graph *g, Node *n, KFunc *k, const ConvFwd *f)
{
    int u;
    if (n->ep.fold) {
        u = kir_ptr(k, "u", KR_LOCAL, f->W, KT_PTR, kaff(f->K * f->ckk_full + f->K, 0),
                    arena_printf("transformed folded filter (16, %ld, %ld)", f->K, f->C));
    } else {
        u = kbuf_at(E, k, g, n->buf[NB_WINO_F], "u",
                    arena_printf("transformed filter (16, %ld, %ld)", f->K, f->C));
        kir_call(k, "rn_wino_filter", KARGS(karg_ptr(u, kz()), karg_ptr(f->W, kz()), kint(f->K),
                                            kint(f->C), kint(0)));
    }
    int ws = kbuf_at(E, k, g, n->buf[NB_COL], "ws", "the transforms' work");
    int ep = f->epi ? kepilogue(k, f, f->K) : -1;
    kir_call(k, "rn_wino_conv",
             KARGS(karg_ptr(f->Z, kz()), karg_ptr(f->X, kz()), karg_ptr(u, kz()), kN(), kint(f->C),
                   kint(f->K), kint(n->h), kint(n->w), karg_ptr(ws, kz()),
                   ep >= 0 ? karg_local(ep) : karg_null(), kint(0)));
}

/* im2col (unless 1x1/1) and one GEMM per group, the epilogue in its store */
static void kfwd_conv_gemm(KLower *E, Graph *g, Node *n, KFunc *k, const ConvFwd *f)
{
    long K = f->K, G = f->G, ckk = f->ckk, np = f->np;
    if (f->B != f->X)
        kim2col(E, n, k, f->B, f->X);
    int A = f->W;
    if (n->cs.ntaps && n->ep.fold) {
        kir_comment(k, "only %d of the %d taps ever read inside the input: the folded weights hold those alone",
                    n->cs.ntaps, n->kh * n->kw);
    } else if (n->cs.ntaps) {
        kir_comment(k, "only %d of the %d taps ever read inside the input", n->cs.ntaps,
                    n->kh * n->kw);
        A = kbuf_at(E, k, g, n->buf[NB_TAPS_F], "wl", arena_printf("(%ld, %ld)", K, ckk));
        ktaps(k, n, A, f->W, f->live, 0);
    }
    kir_comment(k, "%s (%ld, N*%ld) = W (%ld, %ld) x %s (%ld, N*%ld)%s", n->ep.bn && !n->ep.fold ? "z" : "y",
                K, np, K, ckk, f->B == f->X ? "x" : "col", ckk, np,
                f->sum >= 0 ? ", with its per-channel sums" : f->epi ? ", bias, relu" : "");
    long kg = K / G;
    if (G > 1)
        kir_for(k, 1, G, 0, 0, 0);
    int ep = f->epi ? kepilogue(k, f, kg) : -1;
    kir_call(k, "rn_sgemm_ep",
             KARGS(kint(0), kint(0), karg_long(kaff(kg, 0)), karg_long(kaff(0, np)), karg_long(kaff(ckk, 0)),
                   karg_float(1.0f), kgrp(A, G, kg * ckk), karg_long(kaff(ckk, 0)),
                   karg_ptr(f->B, G == 1 ? kz() : kaff_var(kz(), 1, 0, ckk * np)),
                   karg_long(kaff(0, np)), karg_float(0.0f),
                   karg_ptr(f->Z, G == 1 ? kz() : kaff_var(kz(), 1, 0, kg * np)),
                   karg_long(kaff(0, np)), ep >= 0 ? karg_local(ep) : karg_null()));
    if (G > 1)
        kir_end(k);
}

/* the direct convolution over batch vectors at batches of RN_DIRECT_MIN_N
 * or more; below, the schedule's small-batch algorithm: rn_conv1 image by
 * image (folded for inference: no im2col), or the GEMM */
static void kfwd_conv_direct(KLower *E, Graph *g, Node *n, KFunc *k, const ConvFwd *f)
{
    const Node *x = f->x;
    long K = f->K, C = f->C, T = packed_taps(n);
    int pos, tq;
    ktable(E, k, n, TAB_FWD, "pos", "tq", &pos, &tq);
    kir_ifn(k, RN_DIRECT_MIN_N, "RN_DIRECT_MIN_N");
    int ap;
    if (n->ep.fold) {
        ap = kbuf_at(E, k, g, n->buf[NB_PACK_F], "ap", "packed at fold time");
    } else {
        ap = kbuf_at(E, k, g, n->buf[NB_PACK_F], "ap", NULL);
        kir_call(k, "rn_conv_pack", KARGS(karg_ptr(ap, kz()), karg_ptr(f->W, kz()), kint(K), kint(C),
                                          kint(n->kh * n->kw), kint(T), kopt(f->live), kint(0)));
    }
    int ep = f->epi ? kepilogue(k, f, K) : -1;
    kir_call(k, "rn_conv_direct",
             KARGS(kint(K), kint(C), kN(), kint(f->np), kint(T), karg_ptr(pos, kz()), karg_ptr(tq, kz()),
                   karg_ptr(ap, kz()), karg_ptr(f->X, kz()), karg_long(kaff(0, (long)x->h * x->w)),
                   karg_ptr(f->Z, kz()), karg_float(0.0f), ep >= 0 ? karg_local(ep) : karg_null()));
    kir_else(k);
    if (n->cs.fwd_small == CONV_CONV1) {
        kir_comment(k, "latency: positions x a vector of channels, per image");
        const KArg sh[] = { kint(K), kint(C), kint(x->h), kint(x->w), kint(n->h), kint(n->w),
                            kint(n->kh), kint(n->kw), kint(n->stride), kint(n->pad) };
        int s = kir_struct_const(k, "sh", "RnConvShape", sh, 10);
        int p1 = kbuf_at(E, k, g, n->buf[NB_PACK1], "bp", "the filter packed for rn_conv1");
        int pad1 = n->buf[NB_PAD1] >= 0 ? kbuf_at(E, k, g, n->buf[NB_PAD1], "pad1", "zero border, batch 1") : -1;
        int padn = kbuf_at(E, k, g, n->buf[NB_PADN], "padn", "padded images, batches 2 and up");
        kir_call(k, "rn_conv1_small",
                 KARGS(karg_local(s), kN(), kint(T), kopt(f->live), karg_ptr(p1, kz()), karg_ptr(f->X, kz()),
                       kopt(pad1), karg_ptr(padn, kz()), karg_ptr(f->Z, kz()), kopt(f->bias),
                       kint(f->relu)));
    } else {
        kfwd_conv_gemm(E, g, n, k, f);
    }
    kir_end(k);
}

/* a training conv's batch norm from the sums its epilogue took, or at
 * inference (not folded: --passes without fold-bn) per channel */
static void kfwd_conv_bn(KLower *E, Graph *g, Node *n, KFunc *k, const ConvFwd *f)
{
    long K = f->K, np = f->np;
    Node *b = n->ep.bn;
    int gm = kparam(k, b, 0, "gamma", 0), bt = kparam(k, b, 1, "beta", 0);
    int rm = kparam(k, b, 2, "rmean", 0), rv = kparam(k, b, 3, "rvar", 0);
    KAff c = kaff_var(kz(), 0, 1, 0), cn = kaff_var(kaff(n->c, 0), 0, 1, 0);
    int Y = kact(E, k, g, n, "y");
    if (g->mode == MODE_TRAIN) {
        int sv = kbuf_at(E, k, g, n->buf[NB_SAVE], "save", arena_printf("mean, invstd (2, %d)", n->c));
        kir_for(k, 0, K, 1, 1, K * np);
        int o = kir_long(k, "o", kch(np));
        kir_call(k, "rn_bn_train_from_sums",
                 KARGS(karg_ptr_idx(Y, o), karg_ptr_idx(f->Z, o), karg_long(kaff(0, np)),
                       karg_load(f->sum, c), karg_load(f->sumsq, c), karg_load(gm, c), karg_load(bt, c),
                       karg_addr(rm, c), karg_addr(rv, c), karg_addr(sv, c), karg_addr(sv, cn),
                       kint(n->ep.relu)));
        kir_end(k);
    } else {
        kir_for(k, 0, K, 1, 1, K * np);
        int o = kir_long(k, "o", kch(np));
        kir_call(k, "rn_bn_infer_channel",
                 KARGS(karg_ptr_idx(Y, o), karg_ptr_idx(f->Z, o), karg_long(kaff(0, np)), karg_load(gm, c),
                       karg_load(bt, c), karg_load(rm, c), karg_load(rv, c), kint(n->ep.relu)));
        kir_end(k);
    }
}

static void kfwd_conv(KLower *E, Graph *g, Node *n, KFunc *k)
{
    const Node *x = n->in[0];
    ConvFwd f = { .x = x, .K = n->filters, .G = n->groups, .C = x->c, .np = (long)n->h * n->w,
                  .bias = -1, .sum = -1, .sumsq = -1 };
    f.ckk_full = f.C / f.G * n->kh * n->kw;
    f.ckk = f.C / f.G * packed_taps(n);
    f.X = kact(E, k, g, x, "x");
    f.Z = n->ep.bn && !n->ep.fold ? kbuf(E, k, g, n->buf[NB_PRE], "z", "pre-bn", n)
                                  : kact(E, k, g, n, "y");
    if (n->ep.fold)
        f.W = kbuf_at(E, k, g, n->buf[NB_FOLD], "wt",
                      arena_printf("%s weights with bn folded in", c_string(n->name)));
    else
        f.W = kparam(k, n, 0, "wt", 0);
    /* the live taps: to gather or pack the weights, and for rn_conv1 */
    int pack = !n->ep.fold && n->cs.fwd != CONV_WINOGRAD_2X2_3X3;
    int conv1 = n->cs.fwd == CONV_DIRECT && n->cs.fwd_small == CONV_CONV1;
    f.live = n->cs.ntaps && (pack || conv1) ? klive(k, n) : -1;
    f.B = f.X;
    if (n->buf[NB_COL] >= 0 && n->cs.fwd != CONV_WINOGRAD_2X2_3X3)
        f.B = kbuf_at(E, k, g, n->buf[NB_COL], "col",
                      arena_printf("im2col (%ld, %ld*N)", f.C * n->kh * n->kw, f.np));
    /* the epilogue: bias and relu, or the batch-norm sums */
    if (n->ep.fold)
        f.bias = kir_ptr(k, "b", KR_LOCAL, f.W, KT_PTR, kaff(f.K * (n->cs.ntaps ? f.ckk : f.ckk_full), 0),
                         "folded bias");
    else if (n->bias)
        f.bias = kparam(k, n, 1, "b", 0);
    if (n->ep.bn && !n->ep.fold && g->mode == MODE_TRAIN) {
        const Buf *B = g->plan->bufs.v[n->buf[NB_SAVE]];
        KAff at = B->per_image ? kaff(E->pfix + 2 * n->c, B->offset) : kaff(B->offset + 2 * n->c, 0);
        f.sum = kir_ptr(k, "sum", KR_WORK, 0, KT_DPTR, at, "per channel: sum, sum of squares");
        f.sumsq = kir_ptr(k, "sumsq", KR_LOCAL, f.sum, KT_DPTR, kaff(n->c, 0), NULL);
        kir_memset(k, f.sum, kz(), kaff(2 * n->c, 0));
    }
    /* the relu goes in the epilogue unless a training bn comes between */
    f.relu = n->ep.relu && (!n->ep.bn || n->ep.fold);
    f.epi = f.sum >= 0 || f.bias >= 0 || f.relu;
    switch (n->cs.fwd) {
    case CONV_WINOGRAD_2X2_3X3:
        kfwd_conv_winograd(E, g, n, k, &f);
        break;
    case CONV_DIRECT:
        kfwd_conv_direct(E, g, n, k, &f);
        break;
    case CONV_IM2COL_GEMM:
        kfwd_conv_gemm(E, g, n, k, &f);
        break;
    case CONV_CONV1:
    case CONV_ALGO_COUNT:
        die("conv %s: no forward algorithm %d", n->name, n->cs.fwd);
    }
    if (n->ep.bn && !n->ep.fold)
        kfwd_conv_bn(E, g, n, k, &f);
}

static void kfwd_padshort(KLower *E, Graph *g, Node *n, KFunc *k)
{
    Node *x = n->in[0];
    int lo = (n->c - x->c) / 2;
    int X = kact(E, k, g, x, "x"), Y = kact(E, k, g, n, "y");
    kir_comment(k, "channels %d..%d take x subsampled by %d; the rest are zero", lo, lo + x->c - 1,
                n->stride);
    kir_call(k, "rn_padshort_chwn",
             KARGS(karg_ptr(Y, kz()), karg_ptr(X, kz()), kN(), kint(x->c), kint(x->h), kint(x->w),
                   kint(n->c), kint(n->h), kint(n->w), kint(n->stride), kint(lo)));
}

/* ---- backward ---- */

/* a conv's fused epilogue, backward: batch norm (and relu) or the relu
 * mask, in place over dy, then the bias gradient */
static void kbwd_conv_epilogue(KLower *E, Graph *g, Node *n, KFunc *k, int dy)
{
    long K = n->filters, np = (long)n->h * n->w;
    if (n->ep.bn) {
        Node *b = n->ep.bn;
        int Y = kact(E, k, g, n, "y"), Z = kbuf(E, k, g, n->buf[NB_PRE], "z", "pre-bn", n);
        int gm = kparam(k, b, 0, "gamma", 0), dg = kparam(k, b, 0, "dgamma", 1);
        int db = kparam(k, b, 1, "dbeta", 1);
        int sv = kbuf_at(E, k, g, n->buf[NB_SAVE], "save", NULL);
        KAff c = kaff_var(kz(), 0, 1, 0), cn = kaff_var(kaff(n->c, 0), 0, 1, 0);
        kir_comment(k, "bn%s backward, in place: dy becomes the gradient of the conv output",
                    n->ep.relu ? " + relu" : "");
        kir_for(k, 0, K, 1, 1, K * np);
        int o = kir_long(k, "o", kch(np));
        kir_call(k, "rn_bn_backward_channel",
                 KARGS(karg_ptr_idx(dy, o), karg_addr(dg, c), karg_addr(db, c), karg_ptr_idx(dy, o),
                       karg_ptr_idx(Z, o), karg_ptr_idx(Y, o), karg_long(kaff(0, np)), karg_load(gm, c),
                       karg_load(sv, c), karg_load(sv, cn), kint(n->ep.relu), kint(0)));
        kir_end(k);
    } else if (n->ep.relu) {
        int Y = kact(E, k, g, n, "y");
        kir_for(k, 0, K, 1, 1, K * np);
        kir_call(k, "rn_relu_mask", KARGS(karg_ptr(dy, kch(np)), karg_ptr(Y, kch(np)),
                                          karg_long(kaff(0, np))));
        kir_end(k);
    }
    if (n->bias) {
        int db = kparam(k, n, 1, "db", 1);
        kir_call(k, "rn_bias_grad", KARGS(karg_ptr(db, kz()), karg_ptr(dy, kz()), kint(K),
                                          karg_long(kaff(0, np))));
    }
}

/* what a conv's backward algorithms share (locals; -1 for none) */
typedef struct {
    int X, W, dW, dX, dy, live;
} ConvBwd;

/* both gradients as direct convolutions at batches of RN_DIRECT_MIN_N or
 * more, padding skipped; inside kir_ifn, the GEMMs in its else */
static void kbwd_conv_direct(KLower *E, Graph *g, Node *n, KFunc *k, const ConvBwd *b)
{
    const Node *x = n->in[0];
    long K = n->filters, C = x->c, np = (long)n->h * n->w, T = packed_taps(n);
    int sx = n->dx_set[0];
    int wpos, wpq, bpos = -1, btq = -1;
    ktable(E, k, n, TAB_WGRAD, "wpos", "wpq", &wpos, &wpq);
    if (b->dX >= 0)
        ktable(E, k, n, TAB_BWD, "bpos", "btq", &bpos, &btq);
    kir_ifn(k, RN_DIRECT_MIN_N, "RN_DIRECT_MIN_N");
    int ws = kbuf_at(E, k, g, n->buf[NB_WGRAD], "ws", "the weight gradient's work");
    kir_comment(k, "dW (%ld, %ld, %d taps) += dy x the input, per tap", K, C, n->kh * n->kw);
    kir_call(k, "rn_conv_wgrad",
             KARGS(kint(K), kint(C), kN(), kint(np), kint((long)x->h * x->w), kint(T),
                   karg_ptr(wpos, kz()), karg_ptr(wpq, kz()), karg_ptr(b->dy, kz()), karg_ptr(b->X, kz()),
                   karg_ptr(b->dW, kz()), kint(n->kh * n->kw), kopt(b->live), karg_ptr(ws, kz())));
    if (b->dX >= 0) {
        kir_comment(k, "dx %s the direct convolution of dy with the transposed filter",
                    sx ? "=" : "+=");
        int ap = kbuf_at(E, k, g, n->buf[NB_PACK_B], "ap", NULL);
        kir_call(k, "rn_conv_pack", KARGS(karg_ptr(ap, kz()), karg_ptr(b->W, kz()), kint(C), kint(K),
                                          kint(n->kh * n->kw), kint(T), kopt(b->live), kint(1)));
        kir_call(k, "rn_conv_direct",
                 KARGS(kint(C), kint(K), kN(), kint((long)x->h * x->w), kint(T), karg_ptr(bpos, kz()),
                       karg_ptr(btq, kz()), karg_ptr(ap, kz()), karg_ptr(b->dy, kz()),
                       karg_long(kaff(0, np)), karg_ptr(b->dX, kz()), karg_float(sx ? 0.0f : 1.0f),
                       karg_null()));
    }
    kir_else(k);
}

/* the gradients by GEMM (a group at a time): dW += dy x col^T (col: the
 * input's im2col columns, or the input itself for 1x1/1), then dx by
 * Winograd, or dcol = W^T x dy and col2im */
static void kbwd_conv_gemm(KLower *E, Graph *g, Node *n, KFunc *k, const ConvBwd *b)
{
    const Node *x = n->in[0];
    long K = n->filters, G = n->groups, C = x->c, np = (long)n->h * n->w;
    long ckk = C / G * packed_taps(n), kg = K / G;
    int sx = n->dx_set[0];
    int A = b->W, DW = b->dW;
    if (n->cs.ntaps) {
        kir_comment(k, "only %d of the %d taps ever read inside the input", n->cs.ntaps,
                    n->kh * n->kw);
        A = kbuf_at(E, k, g, n->buf[NB_TAPS_B], "wl", arena_printf("(%ld, %ld)", K, ckk));
        DW = kir_ptr(k, "dwl", KR_LOCAL, A, KT_PTR, kaff(K * ckk, 0), arena_printf("(%ld, %ld)", K, ckk));
        ktaps(k, n, A, b->W, b->live, 0);
    }
    int B = b->X, col = -1;
    if (n->buf[NB_BCOL] >= 0) {
        col = B = kbuf_at(E, k, g, n->buf[NB_BCOL], "col", NULL);
        kim2col(E, n, k, col, b->X);
    }
    KAff dyg = G == 1 ? kz() : kaff_var(kz(), 1, 0, kg * np);
    kir_comment(k, "dW (%ld, %ld) += dy (%ld, N*%ld) x %s^T", K, ckk, K, np, col >= 0 ? "col" : "x");
    if (G > 1)
        kir_for(k, 1, G, 0, 0, 0);
    kir_call(k, "rn_sgemm",
             KARGS(kint(0), kint(1), kint(kg), kint(ckk), karg_int(kaff(0, np)), karg_float(1.0f),
                   karg_ptr(b->dy, dyg), karg_int(kaff(0, np)),
                   karg_ptr(B, G == 1 ? kz() : kaff_var(kz(), 1, 0, ckk * np)), karg_int(kaff(0, np)),
                   karg_float(n->cs.ntaps ? 0.0f : 1.0f), kgrp(DW, G, kg * ckk), kint(ckk)));
    if (G > 1)
        kir_end(k);
    if (n->cs.ntaps)
        ktaps(k, n, b->dW, DW, b->live, 1);
    if (b->dX < 0)
        return;
    if (n->cs.bwd_data == CONV_WINOGRAD_2X2_3X3) {
        kir_comment(k, "dx %s= conv3x3(dy) with the flipped, transposed filter (Winograd)",
                    sx ? "" : "+");
        int ut = kbuf_at(E, k, g, n->buf[NB_WINO_B], "ut", NULL);
        kir_call(k, "rn_wino_filter", KARGS(karg_ptr(ut, kz()), karg_ptr(b->W, kz()), kint(K), kint(C),
                                            kint(1)));
        kir_call(k, "rn_wino_conv",
                 KARGS(karg_ptr(b->dX, kz()), karg_ptr(b->dy, kz()), karg_ptr(ut, kz()), kN(), kint(K),
                       kint(C), kint(x->h), kint(x->w), kopt(col), karg_null(), kint(!sx)));
        return;
    }
    if (col >= 0)
        kir_comment(k, "dcol (%ld, N*%ld) = W^T x dy, then col2im into dx", ckk, np);
    else
        kir_comment(k, "dx (%ld, N*%ld) %s W^T x dy", ckk, np, sx ? "=" : "+=");
    int dst = col >= 0 ? col : b->dX;
    if (G > 1)
        kir_for(k, 1, G, 0, 0, 0);
    kir_call(k, "rn_sgemm",
             KARGS(kint(1), kint(0), kint(ckk), karg_int(kaff(0, np)), kint(kg), karg_float(1.0f),
                   kgrp(A, G, kg * ckk), kint(ckk), karg_ptr(b->dy, dyg), karg_int(kaff(0, np)),
                   karg_float(col >= 0 || sx ? 0.0f : 1.0f),
                   karg_ptr(dst, G == 1 ? kz() : kaff_var(kz(), 1, 0, ckk * np)), karg_int(kaff(0, np))));
    if (G > 1)
        kir_end(k);
    if (col >= 0)
        kcol2im(n, k, b->dX, col, sx);
}

static void kbwd_conv(KLower *E, Graph *g, Node *n, KFunc *k)
{
    const Node *x = n->in[0];
    int want_dx = x->op != RN_OP_INPUT;
    ConvBwd b = { .W = -1, .dX = -1 };
    b.dy = kdact(E, k, g, n, "dy");
    b.X = kact(E, k, g, x, "x");
    if (want_dx || n->cs.ntaps)  /* the weights: for dx, and the live taps' gather */
        b.W = kparam(k, n, 0, "wt", 0);
    b.dW = kparam(k, n, 0, "dwt", 1);
    if (want_dx)
        b.dX = kdact(E, k, g, x, "dx");
    b.live = klive(k, n);
    kbwd_conv_epilogue(E, g, n, k, b.dy);
    switch (n->cs.bwd_weights) {
    case CONV_DIRECT:
        kbwd_conv_direct(E, g, n, k, &b);
        kbwd_conv_gemm(E, g, n, k, &b);  /* below RN_DIRECT_MIN_N */
        kir_end(k);
        break;
    case CONV_IM2COL_GEMM:
        kbwd_conv_gemm(E, g, n, k, &b);
        break;
    case CONV_WINOGRAD_2X2_3X3:
    case CONV_CONV1:
    case CONV_ALGO_COUNT:
        die("conv %s: no weight-gradient algorithm %d", n->name, n->cs.bwd_weights);
    }
}

static void kbwd_padshort(KLower *E, Graph *g, Node *n, KFunc *k)
{
    Node *x = n->in[0];
    int dy = kdact(E, k, g, n, "dy");
    if (!x || x->op == RN_OP_INPUT)
        return;
    int dx = kdact(E, k, g, x, "dx");
    kir_call(k, "rn_padshort_chwn_bwd",
             KARGS(karg_ptr(dx, kz()), karg_ptr(dy, kz()), kN(), kint(x->c), kint(x->h), kint(x->w),
                   kint(n->h), kint(n->w), kint(n->stride), kint((n->c - x->c) / 2),
                   kint(n->dx_set[0])));
}

/* ---- inference: batch norm folded into the convolutions ---- */

/* W' = W s, b' = (b - mean) s + beta, s = gamma / sqrt(var + eps), then
 * the forms the conv's algorithms read: Winograd's transformed filter,
 * the direct convolution's packing, rn_conv1's */
static void kfold(KLower *E, Graph *g, Node *n, KFunc *k)
{
    Node *b = n->ep.bn;
    long K = n->filters, ckk = n->param[0].numel / K, kk = n->kh * n->kw, C = ckk / kk;
    int T = packed_taps(n);
    long fck = C * T;  /* with dead taps only the live ones are kept */
    int f = kbuf_at(E, k, g, n->buf[NB_FOLD], "f",
                    arena_printf("(%ld, %ld) weights%s, then %ld biases", K, fck,
                                 n->cs.ntaps ? " of the live taps" : "", K));
    int wt = kparam(k, n, 0, "wt", 0), cb = n->bias ? kparam(k, n, 1, "cb", 0) : -1;
    int gm = kparam(k, b, 0, "gamma", 0), bt = kparam(k, b, 1, "beta", 0);
    int rm = kparam(k, b, 2, "rmean", 0), rv = kparam(k, b, 3, "rvar", 0);
    int live = klive(k, n);
    KAff c = kaff_var(kz(), 0, 1, 0);
    kir_for(k, 0, K, 1, 0, K * ckk);
    kir_call(k, "rn_bn_fold_filter",
             KARGS(karg_ptr(f, kaff_var(kz(), 0, fck, 0)), karg_addr(f, kaff_var(kaff(K * fck, 0), 0, 1, 0)),
                   karg_ptr(wt, kaff_var(kz(), 0, ckk, 0)), kint(C), kint(kk), kint(T), kopt(live),
                   cb >= 0 ? karg_load(cb, c) : karg_float(0.0f), karg_load(gm, c), karg_load(bt, c),
                   karg_load(rm, c), karg_load(rv, c)));
    kir_end(k);
    if (n->cs.fwd == CONV_WINOGRAD_2X2_3X3) {
        kir_comment(k, "for Winograd");
        kir_call(k, "rn_wino_filter", KARGS(karg_ptr(f, kaff(K * ckk + K, 0)), karg_ptr(f, kz()), kint(K),
                                            kint(C), kint(0)));
    }
    if (n->cs.fwd == CONV_DIRECT) {
        int ap = kbuf_at(E, k, g, n->buf[NB_PACK_F], "ap", "for the direct convolution");
        kir_call(k, "rn_conv_pack", KARGS(karg_ptr(ap, kz()), karg_ptr(f, kz()), kint(K), kint(C), kint(T),
                                          kint(T), karg_null(), kint(0)));
        if (n->cs.fwd_small == CONV_CONV1) {
            int bp = kbuf_at(E, k, g, n->buf[NB_PACK1], "bp", "for batch 1");
            kir_call(k, "rn_conv1_pack", KARGS(karg_ptr(bp, kz()), karg_ptr(f, kz()), kint(K), kint(C),
                                               kint(T), kint(T), karg_null()));
        }
    }
    if (n->buf[NB_PAD1] >= 0) {
        int p1 = kbuf_at(E, k, g, n->buf[NB_PAD1], "pad1", "batch 1's padding, zero for good");
        kir_memset(k, p1, kz(), kaff(conv1_pad_floats(n), 0));
    }
}


/* ---- the dispatch, one case per op ---- */

void klower_forward(KLower *E, Graph *g, Node *n, KFunc *k)
{
    E->train = g->mode == MODE_TRAIN;
    switch (n->op) {
    case RN_OP_INPUT: break; /* the entry point fills the input */
    case RN_OP_CONV: kfwd_conv(E, g, n, k); break;
    case RN_OP_BN: kfwd_bn(E, g, n, k); break;
    case RN_OP_RELU: kfwd_relu(E, g, n, k); break;
    case RN_OP_MAXPOOL: case RN_OP_AVGPOOL: kfwd_pool(E, g, n, k); break;
    case RN_OP_GAP: kfwd_gap(E, g, n, k); break;
    case RN_OP_DROPOUT: kfwd_dropout(E, g, n, k); break;
    case RN_OP_ADD: kfwd_add(E, g, n, k); break;
    case RN_OP_CONCAT: kfwd_concat(E, g, n, k); break;
    case RN_OP_PADSHORT: kfwd_padshort(E, g, n, k); break;
    case RN_OP_FC: kfwd_fc(E, g, n, k); break;
    case RN_OP_COUNT: die("bad op");
    }
}

void klower_backward(KLower *E, Graph *g, Node *n, KFunc *k)
{
    E->train = 1;
    switch (n->op) {
    case RN_OP_INPUT: break;
    case RN_OP_CONV: kbwd_conv(E, g, n, k); break;
    case RN_OP_BN: kbwd_bn(E, g, n, k); break;
    case RN_OP_RELU: kbwd_relu(E, g, n, k); break;
    case RN_OP_MAXPOOL: case RN_OP_AVGPOOL: kbwd_pool(E, g, n, k); break;
    case RN_OP_GAP: kbwd_gap(E, g, n, k); break;
    case RN_OP_DROPOUT: kbwd_dropout(E, g, n, k); break;
    case RN_OP_ADD: kbwd_add(E, g, n, k); break;
    case RN_OP_CONCAT: kbwd_concat(E, g, n, k); break;
    case RN_OP_PADSHORT: kbwd_padshort(E, g, n, k); break;
    case RN_OP_FC: kbwd_fc(E, g, n, k); break;
    case RN_OP_COUNT: die("bad op");
    }
}

void klower_fold(KLower *E, Graph *g, Node *n, KFunc *k)
{
    E->train = 0;
    kfold(E, g, n, k);
}
