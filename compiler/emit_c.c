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
 * Activations are CNHW inside (see runtime/rn_gen.h): a convolution is one
 * GEMM over the whole batch; the batch N is the only runtime size.  Each
 * node gets its own activation and gradient buffer in the workspace, at an
 * offset that is a constant times N; a shared im2col buffer serves every
 * convolution.  Memory planning (issue 5) will let buffers share space.
 */
#include <stdlib.h>
#include <string.h>
#include "rnet.h"

typedef struct {
    long act, dact;      /* per-image offsets (floats) */
    long save;           /* fixed offset of batch-norm mean/invstd (2*c) */
    long size;           /* per-image floats */
} NodeBuf;

typedef struct {
    Graph *g;
    FILE *o;
    NodeBuf *buf;
    long per_image, fixed, col;
    long *poff;          /* parameter offsets */
    long nparam_floats;
} Emit;

static const char *cname(const Node *n)
{
    char *s = arena_strdup(n->name);
    for (char *p = s; *p; p++)
        if (*p == '.')
            *p = '_';
    return s;
}

/* im2col columns per image, or 0 when the conv reads its input directly */
static long conv_col(const Node *n)
{
    if (n->kh == 1 && n->kw == 1 && n->stride == 1 && n->pad == 0)
        return 0;
    return (long)n->in[0]->c * n->kh * n->kw * n->h * n->w;
}

static int needs_flatten(const Node *n)
{
    return n->op == RN_OP_FC && n->in[0]->h * n->in[0]->w != 1;
}

static void plan(Emit *E)
{
    Graph *g = E->g;
    E->buf = arena_alloc(sizeof(NodeBuf) * (size_t)g->nodes.n);
    long off = 0, fixed = 0, col = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        NodeBuf *b = &E->buf[i];
        b->size = (long)n->c * n->h * n->w;
        b->act = off;
        off += b->size;
        b->dact = off;
        off += b->size;
        if (n->op == RN_OP_BN) {
            b->save = fixed;
            fixed += 2L * n->c;
        }
        if (n->op == RN_OP_CONV && conv_col(n) > col)
            col = conv_col(n);
        if (needs_flatten(n)) {
            long f = (long)n->in[0]->c * n->in[0]->h * n->in[0]->w;
            if (f > col)
                col = f;
        }
    }
    E->col = off;
    E->per_image = off + col;
    E->fixed = fixed;
    /* parameters: in graph order, each tensor 16-float aligned */
    int np = 0;
    for (int i = 0; i < g->nodes.n; i++)
        np += ((Node *)g->nodes.v[i])->nparam;
    E->poff = arena_alloc(sizeof(long) * (size_t)(np + 1));
    long p = 0;
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++) {
            E->poff[k++] = p;
            p += (n->param[j].numel + 15) & ~15L;
        }
    }
    E->nparam_floats = p;
}

/* index of node n's j-th parameter in the flat parameter list */
static int param_index(Graph *g, const Node *n, int j)
{
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *m = g->nodes.v[i];
        if (m == n)
            return k + j;
        k += m->nparam;
    }
    die("node not in graph");
}

#define P(...) fprintf(E->o, __VA_ARGS__)

static void ptr_act(Emit *E, const Node *n, const char *var)
{
    P("    float *%s = w + %ldL * N;  /* %s (%d, N, %d, %d) */\n", var, E->buf[n->id].act, n->name,
      n->c, n->h, n->w);
}

static void ptr_dact(Emit *E, const Node *n, const char *var)
{
    P("    float *%s = w + %ldL * N;  /* d %s */\n", var, E->buf[n->id].dact, n->name);
}

static void ptr_param(Emit *E, const Node *n, int j, const char *var, const char *base)
{
    const ParamT *p = &n->param[j];
    P("    float *%s = e->%s + %ld;  /* %s [", var, base, E->poff[param_index(E->g, n, j)],
      p->name);
    for (int d = 0; d < p->ndim; d++)
        P("%s%d", d ? "x" : "", p->shape[d]);
    P("] */\n");
}

/* ---- forward, one function per layer ---- */

static void emit_conv_im2col(Emit *E, const Node *n, const char *col, const char *in)
{
    const Node *x = n->in[0];
    long np = (long)n->h * n->w;
    P("    RN_OMP_FOR(N * %ld)\n", (long)x->c * n->kh * n->kw * np);
    P("    for (int c = 0; c < %d; c++) {\n", x->c);
    P("        const float *src = %s + (long)c * N * %ld;\n", in, (long)x->h * x->w);
    P("        float *dst = %s + (long)c * %d * N * %ld;\n", col, n->kh * n->kw, np);
    for (int kh = 0; kh < n->kh; kh++)
        for (int kw = 0; kw < n->kw; kw++)
            P("        rn_im2col_tap(dst + %dL * N * %ld, src, N, %d, %d, %d, %d, %d, %d, %d, %d);\n",
              kh * n->kw + kw, np, x->h, x->w, n->h, n->w, n->stride, n->pad, kh, kw);
    P("    }\n");
}

static void emit_col2im(Emit *E, const Node *n, const char *dx, const char *col)
{
    const Node *x = n->in[0];
    long np = (long)n->h * n->w;
    P("    RN_OMP_FOR(N * %ld)\n", (long)x->c * n->kh * n->kw * np);
    P("    for (int c = 0; c < %d; c++) {\n", x->c);
    P("        float *dsrc = %s + (long)c * N * %ld;\n", dx, (long)x->h * x->w);
    P("        const float *d = %s + (long)c * %d * N * %ld;\n", col, n->kh * n->kw, np);
    for (int kh = 0; kh < n->kh; kh++)
        for (int kw = 0; kw < n->kw; kw++)
            P("        rn_col2im_tap(dsrc, d + %dL * N * %ld, N, %d, %d, %d, %d, %d, %d, %d, %d);\n",
              kh * n->kw + kw, np, x->h, x->w, n->h, n->w, n->stride, n->pad, kh, kw);
    P("    }\n");
}

static void emit_forward_layer(Emit *E, Node *n)
{
    const char *nm = cname(n);
    if (n->op == RN_OP_INPUT)
        return; /* the entry point fills the input */
    Node *x = n->in[0], *y = n->in[1];
    P("\n/* %s: %s", n->name, rn_op_names[n->op]);
    if (n->op == RN_OP_CONV || n->op == RN_OP_MAXPOOL || n->op == RN_OP_AVGPOOL)
        P(" %dx%d/%d pad %d", n->kh, n->kw, n->stride, n->pad);
    if (x)
        P(", %dx%dx%d", x->c, x->h, x->w);
    if (y)
        P(" + %dx%dx%d", y->c, y->h, y->w);
    P(" -> %dx%dx%d */\n", n->c, n->h, n->w);
    P("static void fwd_%s(RnExec *e, float *w, int N, int train)\n{\n", nm);
    P("    (void)e; (void)train;\n");
    long np = (long)n->h * n->w;
    switch (n->op) {
    case RN_OP_INPUT:
        P("    (void)w; (void)N;  /* filled by the entry point */\n");
        break;
    case RN_OP_CONV: {
        long K = n->filters, G = n->groups, C = x->c;
        long ckk = C / G * n->kh * n->kw;
        ptr_act(E, x, "x");
        ptr_act(E, n, "y");
        ptr_param(E, n, 0, "wt", "params");
        const char *B = "x";
        if (conv_col(n)) {
            P("    float *col = w + %ldL * N;  /* im2col (%ld, N*%ld) */\n", E->col,
              C * n->kh * n->kw, np);
            emit_conv_im2col(E, n, "col", "x");
            B = "col";
        }
        P("    /* y (%ld, N*%ld) = W (%ld, %ld) x %s (%ld, N*%ld) */\n", K, np, K, ckk, B, ckk, np);
        if (G == 1) {
            P("    rn_sgemm(0, 0, %ld, N * %ld, %ld, 1.0f, wt, %ld, %s, N * %ld, 0.0f, y, N * %ld);\n",
              K, np, ckk, ckk, B, np, np);
        } else {
            P("    for (int g = 0; g < %ld; g++)\n", G);
            P("        rn_sgemm(0, 0, %ld, N * %ld, %ld, 1.0f, wt + (long)g * %ld, %ld,\n", K / G,
              np, ckk, K / G * ckk, ckk);
            P("                 %s + (long)g * %ld * N * %ld, N * %ld, 0.0f, y + (long)g * %ld * N * %ld, N * %ld);\n",
              B, ckk, np, np, K / G, np, np);
        }
        if (n->bias) {
            ptr_param(E, n, 1, "b", "params");
            P("    rn_add_bias(y, b, %ld, N * %ld);\n", K, np);
        }
        break;
    }
    case RN_OP_BN:
        ptr_act(E, x, "x");
        ptr_act(E, n, "y");
        ptr_param(E, n, 0, "gamma", "params");
        ptr_param(E, n, 1, "beta", "params");
        ptr_param(E, n, 2, "rmean", "params");
        ptr_param(E, n, 3, "rvar", "params");
        P("    float *save = w + %ldL * N + %ld;  /* mean, invstd (2, %d) */\n", E->per_image,
          E->buf[n->id].save, n->c);
        P("    (void)save;\n");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np);
        P("    for (int c = 0; c < %d; c++) {\n", n->c);
        P("        long o = (long)c * N * %ld;\n", np);
        P("        if (train)\n");
        P("            rn_bn_train_channel(y + o, x + o, N * %ldL, gamma[c], beta[c], &rmean[c], &rvar[c],\n", np);
        P("                                &save[c], &save[%d + c]);\n", n->c);
        P("        else\n");
        P("            rn_bn_infer_channel(y + o, x + o, N * %ldL, gamma[c], beta[c], rmean[c], rvar[c]);\n", np);
        P("    }\n");
        break;
    case RN_OP_RELU:
        ptr_act(E, x, "x");
        ptr_act(E, n, "y");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np);
        P("    for (int c = 0; c < %d; c++)\n", n->c);
        P("        rn_relu_fwd(y + (long)c * N * %ld, x + (long)c * N * %ld, N * %ldL);\n", np, np,
          np);
        break;
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
        ptr_act(E, x, "x");
        ptr_act(E, n, "y");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np * n->kh * n->kw);
        P("    for (long p = 0; p < %dL * N; p++)\n", n->c);
        P("        rn_%s_plane(y + p * %ld, x + p * %ld, %d, %d, %d, %d, %d, %d, %d, %d);\n",
          n->op == RN_OP_MAXPOOL ? "maxpool" : "avgpool", np, (long)x->h * x->w, x->h, x->w,
          n->h, n->w, n->kh, n->kw, n->stride, n->pad);
        break;
    case RN_OP_GAP: {
        long hw = (long)x->h * x->w;
        ptr_act(E, x, "x");
        ptr_act(E, n, "y");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * hw);
        P("    for (long p = 0; p < %dL * N; p++) {\n", n->c);
        P("        float s = 0;\n");
        P("        for (int i = 0; i < %ld; i++)\n", hw);
        P("            s += x[p * %ld + i];\n", hw);
        P("        y[p] = s * (1.0f / %ld);\n", hw);
        P("    }\n");
        break;
    }
    case RN_OP_ADD:
        ptr_act(E, x, "a");
        ptr_act(E, y, "b");
        ptr_act(E, n, "y");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np);
        P("    for (long i = 0; i < N * %ldL; i++)\n", (long)n->c * np);
        P("        y[i] = a[i] + b[i];\n");
        break;
    case RN_OP_CONCAT:
        ptr_act(E, x, "a");
        ptr_act(E, y, "b");
        ptr_act(E, n, "y");
        P("    /* CNHW: a concat along channels is two copies */\n");
        P("    memcpy(y, a, sizeof(float) * N * %ld);\n", (long)x->c * np);
        P("    memcpy(y + N * %ldL, b, sizeof(float) * N * %ld);\n", (long)x->c * np,
          (long)y->c * np);
        break;
    case RN_OP_PADSHORT: {
        int lo = (n->c - x->c) / 2;
        ptr_act(E, x, "x");
        ptr_act(E, n, "y");
        P("    /* channels %d..%d take x subsampled by %d; the rest are zero */\n", lo,
          lo + x->c - 1, n->stride);
        P("    memset(y, 0, sizeof(float) * N * %ld);\n", (long)n->c * np);
        P("    for (int c = 0; c < %d; c++)\n", x->c);
        P("        for (int n = 0; n < N; n++)\n");
        P("            for (int oh = 0; oh < %d; oh++)\n", n->h);
        P("                for (int ow = 0; ow < %d; ow++)\n", n->w);
        P("                    y[(((long)(c + %d) * N + n) * %d + oh) * %d + ow] =\n", lo, n->h, n->w);
        P("                        x[(((long)c * N + n) * %d + oh * %d) * %d + ow * %d];\n", x->h,
          n->stride, x->w, n->stride);
        break;
    }
    case RN_OP_FC: {
        long in = (long)x->c * x->h * x->w;
        ptr_act(E, x, "x");
        ptr_act(E, n, "y");
        ptr_param(E, n, 0, "wt", "params");
        ptr_param(E, n, 1, "b", "params");
        const char *X = "x";
        if (needs_flatten(n)) {
            P("    float *xf = w + %ldL * N;  /* (%ld, N) */\n", E->col, in);
            P("    rn_flatten_cols(xf, x, N, %d, %ld);\n", x->c, (long)x->h * x->w);
            X = "xf";
        }
        P("    /* y (%d, N) = W (%d, %ld) x %s (%ld, N) + b */\n", n->c, n->c, in, X, in);
        P("    rn_sgemm(0, 0, %d, N, %ld, 1.0f, wt, %ld, %s, N, 0.0f, y, N);\n", n->c, in, in, X);
        P("    rn_add_bias(y, b, %d, N);\n", n->c);
        break;
    }
    case RN_OP_COUNT:
        die("bad op");
    }
    P("}\n");
}

/* ---- backward, one function per layer ---- */

static void emit_backward_layer(Emit *E, Node *n)
{
    const char *nm = cname(n);
    Node *x = n->in[0], *y = n->in[1];
    long np = (long)n->h * n->w;
    int want_dx = x && x->op != RN_OP_INPUT;
    int want_dy = y && y->op != RN_OP_INPUT;
    if (n->op == RN_OP_INPUT)
        return;
    P("\n/* d %s */\n", n->name);
    P("static void bwd_%s(RnExec *e, float *w, int N)\n{\n", nm);
    P("    (void)e;\n");
    ptr_dact(E, n, "dy");
    switch (n->op) {
    case RN_OP_INPUT:
        break;
    case RN_OP_CONV: {
        long K = n->filters, G = n->groups, C = x->c;
        long ckk = C / G * n->kh * n->kw;
        ptr_act(E, x, "x");
        ptr_param(E, n, 0, "wt", "params");
        ptr_param(E, n, 0, "dwt", "grads");
        if (want_dx)
            ptr_dact(E, x, "dx");
        if (n->bias) {
            ptr_param(E, n, 1, "db", "grads");
            P("    rn_bias_grad(db, dy, %ld, N * %ld);\n", K, np);
        }
        const char *B = "x";
        if (conv_col(n)) {
            P("    float *col = w + %ldL * N;\n", E->col);
            emit_conv_im2col(E, n, "col", "x");
            B = "col";
        }
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && !want_dx)
                break;
            if (pass == 0)
                P("    /* dW (%ld, %ld) += dy (%ld, N*%ld) x %s^T */\n", K, ckk, K, np, B);
            else if (conv_col(n))
                P("    /* dcol (%ld, N*%ld) = W^T x dy, then col2im into dx */\n", ckk, np);
            else
                P("    /* dx (%ld, N*%ld) += W^T x dy */\n", ckk, np);
            const char *dst = pass == 0 ? "dwt" : conv_col(n) ? "col" : "dx";
            P("    for (int g = 0; g < %ld; g++) {\n", G);
            P("        const float *dyg = dy + (long)g * %ld * N * %ld;\n", K / G, np);
            P("        const float *wg = wt + (long)g * %ld;\n", K / G * ckk);
            if (pass == 0) {
                P("        rn_sgemm(0, 1, %ld, %ld, N * %ld, 1.0f, dyg, N * %ld, %s + (long)g * %ld * N * %ld, N * %ld,\n",
                  K / G, ckk, np, np, B, ckk, np, np);
                P("                 1.0f, %s + (long)g * %ld, %ld);\n", dst, K / G * ckk, ckk);
            } else {
                P("        rn_sgemm(1, 0, %ld, N * %ld, %ld, 1.0f, wg, %ld, dyg, N * %ld,\n", ckk,
                  np, K / G, ckk, np);
                P("                 %s, %s + (long)g * %ld * N * %ld, N * %ld);\n",
                  conv_col(n) ? "0.0f" : "1.0f", dst, ckk, np, np);
            }
            P("        (void)wg; (void)dyg;\n");
            P("    }\n");
        }
        if (want_dx && conv_col(n))
            emit_col2im(E, n, "dx", "col");
        break;
    }
    case RN_OP_BN:
        ptr_act(E, x, "x");
        ptr_param(E, n, 0, "gamma", "params");
        ptr_param(E, n, 0, "dgamma", "grads");
        ptr_param(E, n, 1, "dbeta", "grads");
        P("    float *save = w + %ldL * N + %ld;\n", E->per_image, E->buf[n->id].save);
        if (want_dx)
            ptr_dact(E, x, "dx");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np);
        P("    for (int c = 0; c < %d; c++) {\n", n->c);
        P("        long o = (long)c * N * %ld;\n", np);
        P("        rn_bn_backward_channel(%s, &dgamma[c], &dbeta[c], dy + o, x + o, N * %ldL, gamma[c],\n",
          want_dx ? "dx + o" : "NULL", np);
        P("                               save[c], save[%d + c]);\n", n->c);
        P("    }\n");
        break;
    case RN_OP_RELU:
        if (!want_dx)
            break;
        ptr_act(E, n, "y");
        ptr_dact(E, x, "dx");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np);
        P("    for (int c = 0; c < %d; c++) {\n", n->c);
        P("        long o = (long)c * N * %ld;\n", np);
        P("        rn_relu_bwd(dx + o, dy + o, y + o, N * %ldL);\n", np);
        P("    }\n");
        break;
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
        if (!want_dx)
            break;
        ptr_act(E, x, "x");
        ptr_dact(E, x, "dx");
        P("    (void)x;\n");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np * n->kh * n->kw);
        P("    for (long p = 0; p < %dL * N; p++)\n", n->c);
        if (n->op == RN_OP_MAXPOOL)
            P("        rn_maxpool_plane_bwd(dx + p * %ld, dy + p * %ld, x + p * %ld, %d, %d, %d, %d, %d, %d, %d, %d);\n",
              (long)x->h * x->w, np, (long)x->h * x->w, x->h, x->w, n->h, n->w, n->kh, n->kw,
              n->stride, n->pad);
        else
            P("        rn_avgpool_plane_bwd(dx + p * %ld, dy + p * %ld, %d, %d, %d, %d, %d, %d, %d, %d);\n",
              (long)x->h * x->w, np, x->h, x->w, n->h, n->w, n->kh, n->kw, n->stride, n->pad);
        break;
    case RN_OP_GAP: {
        long hw = (long)x->h * x->w;
        if (!want_dx)
            break;
        ptr_dact(E, x, "dx");
        P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * hw);
        P("    for (long p = 0; p < %dL * N; p++)\n", n->c);
        P("        for (int i = 0; i < %ld; i++)\n", hw);
        P("            dx[p * %ld + i] += dy[p] * (1.0f / %ld);\n", hw, hw);
        break;
    }
    case RN_OP_ADD:
        if (want_dx) {
            ptr_dact(E, x, "da");
            P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np);
            P("    for (long i = 0; i < N * %ldL; i++)\n        da[i] += dy[i];\n",
              (long)n->c * np);
        }
        if (want_dy) {
            ptr_dact(E, y, "db");
            P("    RN_OMP_FOR(N * %ld)\n", (long)n->c * np);
            P("    for (long i = 0; i < N * %ldL; i++)\n        db[i] += dy[i];\n",
              (long)n->c * np);
        }
        break;
    case RN_OP_CONCAT:
        if (want_dx) {
            ptr_dact(E, x, "da");
            P("    for (long i = 0; i < N * %ldL; i++)\n        da[i] += dy[i];\n",
              (long)x->c * np);
        }
        if (want_dy) {
            ptr_dact(E, y, "db");
            P("    for (long i = 0; i < N * %ldL; i++)\n        db[i] += dy[N * %ldL + i];\n",
              (long)y->c * np, (long)x->c * np);
        }
        break;
    case RN_OP_PADSHORT: {
        int lo = (n->c - x->c) / 2;
        if (!want_dx)
            break;
        ptr_dact(E, x, "dx");
        P("    for (int c = 0; c < %d; c++)\n", x->c);
        P("        for (int n = 0; n < N; n++)\n");
        P("            for (int oh = 0; oh < %d; oh++)\n", n->h);
        P("                for (int ow = 0; ow < %d; ow++)\n", n->w);
        P("                    dx[(((long)c * N + n) * %d + oh * %d) * %d + ow * %d] +=\n", x->h,
          n->stride, x->w, n->stride);
        P("                        dy[(((long)(c + %d) * N + n) * %d + oh) * %d + ow];\n", lo, n->h,
          n->w);
        break;
    }
    case RN_OP_FC: {
        long in = (long)x->c * x->h * x->w;
        ptr_act(E, x, "x");
        ptr_param(E, n, 0, "wt", "params");
        ptr_param(E, n, 0, "dwt", "grads");
        ptr_param(E, n, 1, "db", "grads");
        const char *X = "x";
        if (needs_flatten(n)) {
            P("    float *xf = w + %ldL * N;\n", E->col);
            P("    rn_flatten_cols(xf, x, N, %d, %ld);\n", x->c, (long)x->h * x->w);
            X = "xf";
        }
        P("    rn_bias_grad(db, dy, %d, N);\n", n->c);
        P("    /* dW (%d, %ld) += dy (%d, N) x %s^T */\n", n->c, in, n->c, X);
        P("    rn_sgemm(0, 1, %d, %ld, N, 1.0f, dy, N, %s, N, 1.0f, dwt, %ld);\n", n->c, in, X, in);
        if (want_dx) {
            ptr_dact(E, x, "dx");
            if (needs_flatten(n)) {
                P("    rn_sgemm(1, 0, %ld, N, %d, 1.0f, wt, %ld, dy, N, 0.0f, xf, N);\n", in, n->c,
                  in);
                P("    rn_unflatten_cols_add(dx, xf, N, %d, %ld);\n", x->c, (long)x->h * x->w);
            } else {
                P("    rn_sgemm(1, 0, %ld, N, %d, 1.0f, wt, %ld, dy, N, 1.0f, dx, N);\n", in, n->c,
                  in);
            }
        }
        break;
    }
    case RN_OP_COUNT:
        die("bad op");
    }
    P("}\n");
}

/* ---- the descriptor ---- */

static const char *pkind(const Node *n, int j)
{
    switch (n->op) {
    case RN_OP_CONV:
        return j == 0 ? "RN_P_CONV_W" : "RN_P_CONV_B";
    case RN_OP_BN: {
        static const char *const k[] = { "RN_P_BN_W", "RN_P_BN_B", "RN_P_BN_MEAN", "RN_P_BN_VAR" };
        return k[j];
    }
    case RN_OP_FC:
        return j == 0 ? "RN_P_FC_W" : "RN_P_FC_B";
    case RN_OP_INPUT:
    case RN_OP_RELU:
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
    case RN_OP_GAP:
    case RN_OP_ADD:
    case RN_OP_CONCAT:
    case RN_OP_PADSHORT:
    case RN_OP_COUNT:
        break;
    }
    die("op %s has no parameters", rn_op_names[n->op]);
}

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
    Graph *g = E->g;
    Model *m = g->model;
    P("\n/* ---- the descriptor ---- */\n\n");
    P("static const RnParamInfo params[] = {\n");
    int k = 0, np = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++, k++) {
            const ParamT *p = &n->param[j];
            int fan_in = 1, fan_out = 1;
            if (p->ndim >= 2) {
                int rf = 1;
                for (int d = 2; d < p->ndim; d++)
                    rf *= p->shape[d];
                fan_in = p->shape[1] * rf;
                fan_out = p->shape[0] * rf;
            } else if (n->op == RN_OP_FC) {
                fan_in = n->in[0]->c * n->in[0]->h * n->in[0]->w;
            }
            P("    { \"%s\", %s, %d, { %d, %d, %d, %d }, %ldL, %ldL, %d, %d, %d, %d },\n", p->name,
              pkind(n, j), p->ndim, p->shape[0], p->ndim > 1 ? p->shape[1] : 0,
              p->ndim > 2 ? p->shape[2] : 0, p->ndim > 3 ? p->shape[3] : 0, p->numel, E->poff[k],
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
            pi[j] = param_index(g, n, j);
        P("    { %s, \"%s\", { %d, %d }, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, { %d, %d, %d, %d } },\n",
          op_enum(n->op), n->name, n->in[0] ? n->in[0]->id : -1,
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
    for (int i = 1; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        long f = 2 * node_macs(n), fb = 0;
        if (n->op == RN_OP_CONV || n->op == RN_OP_FC)
            fb = n->in[0]->op == RN_OP_INPUT ? f : 2 * f;
        P("    { \"%s\", \"%s\", fwd_%s, bwd_%s, %ldL, %ldL },\n", n->name, rn_op_names[n->op],
          cname(n), cname(n), f, fb);
    }
    P("};\n\n");
    P("const RnModel rn_model = {\n");
    P("    .name = \"%s\",\n", m->name);
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
    P("    .work_fixed = %ldL, .work_per_image = %ldL,\n", E->fixed, E->per_image);
    P("    .forward = %s_forward,\n", prefix);
    P("    .backward = %s_backward,\n", prefix);
    P("    .update = %s_update,\n", prefix);
    P("    .nlayers = %d, .layers = layers,\n", g->nodes.n - 1);
    P("};\n");
}

void emit_c(Graph *g, FILE *out, FILE *hdr, const char *hname)
{
    Emit em = { .g = g, .o = out };
    Emit *E = &em;
    plan(E);
    const char *prefix = arena_printf("rnm_%s", g->name);
    Model *m = g->model;

    if (hdr) {
        fprintf(hdr, "/* %s - generated by rnetc from %s; do not edit. */\n", hname,
                src_name(m->file));
        fprintf(hdr, "#ifndef RNET_MODEL_%s_H\n#define RNET_MODEL_%s_H\n", prefix, prefix);
        fprintf(hdr, "#include \"rn_model.h\"\n\n");
        fprintf(hdr, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n", prefix,
                m->in_c, prefix, m->in_h, prefix, m->in_w);
        fprintf(hdr, "#define %s_CLASSES %d\n", prefix, m->classes);
        fprintf(hdr, "#define %s_PARAM_FLOATS %ldL\n", prefix, E->nparam_floats);
        fprintf(hdr, "/* workspace floats for a batch of N */\n");
        fprintf(hdr, "#define %s_WORK_FLOATS(N) (%ldL + %ldL * (long)(N))\n\n", prefix,
                E->fixed, E->per_image);
        fprintf(hdr, "void %s_forward(RnExec *e, const float *x, int N, int train);\n", prefix);
        fprintf(hdr, "void %s_backward(RnExec *e, const float *dlogits, int N);\n", prefix);
        fprintf(hdr, "void %s_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v);\n",
                prefix);
        fprintf(hdr, "\n#endif\n");
    }

    P("/* generated by rnetc from %s; do not edit.\n", src_name(m->file));
    P(" *\n * model %s: input %dx%dx%d, %d classes, %d layers.\n", m->name, m->in_c, m->in_h,
      m->in_w, m->classes, g->nodes.n);
    P(" * Activations are CNHW; every size but the batch N is a constant. */\n");
    P("#include \"rn_gen.h\"\n");
    if (hname)
        P("#include \"%s\"\n", hname);
    for (int i = 0; i < g->nodes.n; i++)
        emit_forward_layer(E, g->nodes.v[i]);
    for (int i = 0; i < g->nodes.n; i++)
        emit_backward_layer(E, g->nodes.v[i]);

    Node *in = g->nodes.v[0], *outn = g->output;
    P("\n/* ---- entry points ---- */\n\n");
    P("void %s_forward(RnExec *e, const float *x, int N, int train)\n{\n", prefix);
    P("    float *w = e->work;\n");
    P("    rn_nchw_to_cnhw(w + %ldL * N, x, N, %d, %ld);\n", E->buf[in->id].act, in->c,
      (long)in->h * in->w);
    for (int i = 1; i < g->nodes.n; i++)
        P("    fwd_%s(e, w, N, train);\n", cname(g->nodes.v[i]));
    P("    rn_cnhw_to_nchw(e->logits, w + %ldL * N, N, %d, %ld);\n", E->buf[outn->id].act,
      outn->c, (long)outn->h * outn->w);
    P("}\n\n");
    P("void %s_backward(RnExec *e, const float *dlogits, int N)\n{\n", prefix);
    P("    float *w = e->work;\n");
    P("    /* every node's gradient is a sum over its consumers: start from zero */\n");
    P("    for (long i = 0; i < %dL; i++) {\n", g->nodes.n);
    P("        static const long off[] = {");
    for (int i = 0; i < g->nodes.n; i++)
        P("%s%ld", i ? ", " : " ", E->buf[i].dact);
    P(" };\n");
    P("        static const long size[] = {");
    for (int i = 0; i < g->nodes.n; i++)
        P("%s%ld", i ? ", " : " ", E->buf[i].size);
    P(" };\n");
    P("        memset(w + off[i] * N, 0, sizeof(float) * size[i] * N);\n");
    P("    }\n");
    P("    rn_nchw_to_cnhw(w + %ldL * N, dlogits, N, %d, %ld);\n", E->buf[outn->id].dact, outn->c,
      (long)outn->h * outn->w);
    for (int i = g->nodes.n - 1; i >= 1; i--)
        P("    bwd_%s(e, w, N);\n", cname(g->nodes.v[i]));
    P("}\n\n");
    P("void %s_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v)\n{\n",
      prefix);
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++, k++) {
            const ParamT *p = &n->param[j];
            if (p->is_buffer)
                continue;
            P("    rn_optim_step(o, lr, t, e->params + %ld, e->grads + %ld, m + %ld, v ? v + %ld : 0, %ld,\n",
              E->poff[k], E->poff[k], E->poff[k], E->poff[k], p->numel);
            P("                  rn_optim_decays(o, %d));  /* %s */\n", p->no_decay, p->name);
        }
    }
    P("}\n");
    emit_descriptor(E, prefix);
}
