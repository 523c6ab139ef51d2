/* test_gradcheck.c - every backward reference kernel against central finite
 * differences, in double precision.
 *
 * The kernels' source (rn_kernels.inc) is compiled here a second time with
 * RN_T = double, so the check runs on exactly the code the runtime uses for
 * float, free of float rounding.  Each case is an Op: the tensors it
 * differentiates (inputs and parameters), a scalar loss L = sum(r * out)
 * with r a fixed random "upstream gradient", and a backward that writes
 * dL/dtensor.  For every op we check
 *   - each gradient against (L(x+h) - L(x-h)) / 2h, element by element;
 *   - the accumulate convention: starting from random contents and calling
 *     backward twice gives contents + 2 * gradient (softmax_xent, which
 *     overwrites by contract, must give exactly the gradient);
 *   - NULL gradient pointers: asking for one gradient alone gives the same
 *     numbers, and asking for none touches nothing and does not crash.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>

#include "check.h"

#define RN_T double
#define RN_FN(name) gc_##name
#include "rn_kernels_decl.inc"
#include "rn_kernels.inc"
#undef RN_T
#undef RN_FN

#define FD_H   1e-6     // central-difference step
#define FD_TOL 1e-6     // max |analytic - numeric| / max(1, |analytic|, |numeric|)
#define MAXV   4

/* ------------------------------------------------------------ utilities */

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static double urand(void)              // uniform in [-1, 1)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double *alloc(long n)
{
    double *p = calloc(n > 0 ? (size_t)n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "test_gradcheck: out of memory (%ld doubles)\n", n);
        exit(2);
    }
    return p;
}

static double *rand_alloc(long n, double scale)
{
    double *p = alloc(n);
    for (long i = 0; i < n; i++) p[i] = scale * urand();
    return p;
}

static double dot(const double *a, const double *b, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ------------------------------------------------------------------ ops */

typedef struct Op Op;
struct Op {
    char name[80];
    int nvar;                          // tensors differentiated
    const char *vname[MAXV];
    double *var[MAXV];
    long len[MAXV];
    int overwrites;                    // backward overwrites instead of +=
    double (*loss)(Op *);              // L at the current values of var
    void (*backward)(Op *, double **); // dL/dvar[i] into grad[i] (NULL skips)

    // shape of the case; each op uses the fields it needs
    int N, C, H, W, K, KH, KW, stride, pad, groups, CB;
    long n;
    double eps, momentum;
    int *labels;
    double *out, *r;                   // forward output, upstream gradient (nout)
    long nout;
    double *aux[4];                    // op scratch (batch norm statistics, probs)
};

static void op_var(Op *op, const char *name, double *x, long n)
{
    op->vname[op->nvar] = name;
    op->var[op->nvar] = x;
    op->len[op->nvar] = n;
    op->nvar++;
}

static void op_out(Op *op, long nout)
{
    op->nout = nout;
    op->out = alloc(nout);
    op->r = rand_alloc(nout, 1.0);
}

static void op_free(Op *op)
{
    for (int i = 0; i < op->nvar; i++) free(op->var[i]);
    for (int i = 0; i < 4; i++) free(op->aux[i]);
    free(op->out);
    free(op->r);
    free(op->labels);
}

static double *grad_or_null(double **g, int i, int nvar)
{
    return i < nvar ? g[i] : NULL;
}

/* Max over elements of |a - n| / max(1, |a|, |n|), n the central difference. */
static double fd_error(Op *op, int v, const double *analytic)
{
    double worst = 0.0;
    double *x = op->var[v];
    for (long i = 0; i < op->len[v]; i++) {
        double x0 = x[i];
        x[i] = x0 + FD_H;
        double lp = op->loss(op);
        x[i] = x0 - FD_H;
        double lm = op->loss(op);
        x[i] = x0;
        double num = (lp - lm) / (2 * FD_H);
        double scale = fmax(1.0, fmax(fabs(num), fabs(analytic[i])));
        double err = fabs(num - analytic[i]) / scale;
        if (!(err <= worst)) worst = err;         // NaN sticks
    }
    return worst;
}

static void run_op(Op *op)
{
    char name[160];
    double *g[MAXV] = {0}, *acc[MAXV] = {0}, *base[MAXV] = {0}, *one[MAXV] = {0};

    for (int v = 0; v < op->nvar; v++) g[v] = alloc(op->len[v]);
    op->backward(op, g);

    // 1. every gradient against finite differences
    for (int v = 0; v < op->nvar; v++) {
        double err = fd_error(op, v, g[v]);
        snprintf(name, sizeof name, "gradcheck %s d%s (max err %.1e)", op->name, op->vname[v], err);
        CHECK(err < FD_TOL, name, "max relative error %.3e > %.0e", err, FD_TOL);
    }

    // 2. accumulate: random contents + two calls = contents + 2*grad
    for (int v = 0; v < op->nvar; v++) {
        base[v] = rand_alloc(op->len[v], 1.0);
        acc[v] = alloc(op->len[v]);
        memcpy(acc[v], base[v], (size_t)op->len[v] * sizeof(double));
    }
    op->backward(op, acc);
    op->backward(op, acc);
    {
        double worst = 0.0;
        for (int v = 0; v < op->nvar; v++)
            for (long i = 0; i < op->len[v]; i++) {
                double want = op->overwrites ? g[v][i] : base[v][i] + 2 * g[v][i];
                double err = fabs(acc[v][i] - want) / fmax(1.0, fabs(want));
                if (!(err <= worst)) worst = err;
            }
        snprintf(name, sizeof name, "gradcheck %s %s", op->name,
                 op->overwrites ? "overwrites dlogits" : "accumulates (+=) into every gradient");
        CHECK(worst < 1e-12, name, "max error %.3e after two backward calls", worst);
    }

    // 3. NULL gradients: each gradient alone, then none at all
    {
        int ok = 1;
        for (int v = 0; v < op->nvar; v++) {
            double *only[MAXV] = {0};
            one[v] = alloc(op->len[v]);
            only[v] = one[v];
            op->backward(op, only);
            for (long i = 0; i < op->len[v]; i++)
                if (fabs(one[v][i] - g[v][i]) > 1e-12 * fmax(1.0, fabs(g[v][i]))) ok = 0;
        }
        double *none[MAXV] = {0};
        op->backward(op, none);
        snprintf(name, sizeof name, "gradcheck %s NULL gradient pointers", op->name);
        CHECK(ok, name, "a gradient computed alone differs from the one computed with the others");
    }

    for (int v = 0; v < op->nvar; v++) {
        free(g[v]);
        free(acc[v]);
        free(base[v]);
        free(one[v]);
    }
    op_free(op);
}

/* ---------------------------------------------------------------- conv2d */

static double conv_loss(Op *op)
{
    gc_conv2d_forward(op->out, op->var[0], op->var[1], op->nvar > 2 ? op->var[2] : NULL,
                      op->N, op->C, op->H, op->W, op->K, op->KH, op->KW,
                      op->stride, op->pad, op->groups);
    return dot(op->r, op->out, op->nout);
}

static void conv_backward(Op *op, double **g)
{
    gc_conv2d_backward(g[0], g[1], grad_or_null(g, 2, op->nvar), op->r,
                       op->var[0], op->var[1],
                       op->N, op->C, op->H, op->W, op->K, op->KH, op->KW,
                       op->stride, op->pad, op->groups);
}

static Op conv_op(const char *label, int N, int C, int H, int W, int K, int KH, int KW,
                  int stride, int pad, int groups, int bias)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "conv2d[%s]", label);
    op.N = N, op.C = C, op.H = H, op.W = W, op.K = K, op.KH = KH, op.KW = KW;
    op.stride = stride, op.pad = pad, op.groups = groups;
    op.loss = conv_loss;
    op.backward = conv_backward;
    int OH = (H + 2 * pad - KH) / stride + 1, OW = (W + 2 * pad - KW) / stride + 1;
    op_var(&op, "in", rand_alloc((long)N * C * H * W, 1.0), (long)N * C * H * W);
    long nw = (long)K * (C / groups) * KH * KW;
    op_var(&op, "w", rand_alloc(nw, 1.0), nw);
    if (bias) op_var(&op, "bias", rand_alloc(K, 1.0), K);
    op_out(&op, (long)N * K * OH * OW);
    return op;
}

static void test_conv2d(void)
{
    Op op;
    op = conv_op("1x1", 2, 3, 4, 5, 4, 1, 1, 1, 0, 1, 1);                run_op(&op);
    op = conv_op("1x1 s2 no bias", 2, 4, 5, 5, 6, 1, 1, 2, 0, 1, 0);     run_op(&op);
    op = conv_op("3x3 p1", 2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1);             run_op(&op);
    op = conv_op("3x3 p1 no bias", 2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 0);     run_op(&op);
    op = conv_op("7x7 s2 p3", 2, 2, 9, 9, 3, 7, 7, 2, 3, 1, 0);          run_op(&op);
    op = conv_op("3x3 s2 p0", 2, 3, 7, 6, 2, 3, 3, 2, 0, 1, 1);          run_op(&op);
    op = conv_op("3x3 p1 4x7 input", 2, 2, 4, 7, 3, 3, 3, 1, 1, 1, 1);   run_op(&op);
    op = conv_op("3x3 p1 groups2", 2, 4, 5, 5, 6, 3, 3, 1, 1, 2, 1);     run_op(&op);
    op = conv_op("3x3 s2 p1 groups2", 2, 4, 6, 5, 4, 3, 3, 2, 1, 2, 0);  run_op(&op);
    op = conv_op("2x3 s2 p1", 2, 2, 5, 6, 3, 2, 3, 2, 1, 1, 1);          run_op(&op);
}

/* ------------------------------------------------------------ batch norm */

static double bn_loss(Op *op)
{
    // aux: running mean, running var, save_mean, save_invstd (C each)
    gc_batchnorm_forward_train(op->out, op->var[0], op->var[1], op->var[2],
                               op->aux[0], op->aux[1], op->aux[2], op->aux[3],
                               op->N, op->C, op->W, op->momentum, op->eps);
    return dot(op->r, op->out, op->nout);
}

static void bn_backward(Op *op, double **g)
{
    bn_loss(op);                         // fresh save_mean / save_invstd
    gc_batchnorm_backward(g[0], g[1], g[2], op->r, op->var[0], op->var[1],
                          op->aux[2], op->aux[3], op->N, op->C, op->W);
}

static void test_batchnorm(int N, int C, int HW)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "batchnorm_train[N%d C%d HW%d]", N, C, HW);
    op.N = N, op.C = C, op.W = HW;
    op.eps = 1e-5, op.momentum = 0.1;
    op.loss = bn_loss;
    op.backward = bn_backward;
    long n = (long)N * C * HW;
    double *in = rand_alloc(n, 1.0);
    for (long i = 0; i < n; i++) in[i] += 0.5 * (double)((i / HW) % C);   // per-channel offsets
    op_var(&op, "in", in, n);
    double *gamma = rand_alloc(C, 0.5);
    for (int c = 0; c < C; c++) gamma[c] += 1.0;
    op_var(&op, "gamma", gamma, C);
    op_var(&op, "beta", rand_alloc(C, 1.0), C);
    for (int i = 0; i < 4; i++) op.aux[i] = alloc(C);
    op_out(&op, n);
    run_op(&op);
}

/* ------------------------------------------------------------------ relu */

static double relu_loss(Op *op)
{
    gc_relu_forward(op->out, op->var[0], op->n);
    return dot(op->r, op->out, op->nout);
}

static void relu_backward(Op *op, double **g)
{
    gc_relu_forward(op->out, op->var[0], op->n);
    gc_relu_backward(g[0], op->r, op->out, op->n);
}

static void test_relu(void)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "relu");
    op.n = 40;
    op.loss = relu_loss;
    op.backward = relu_backward;
    double *x = alloc(op.n);
    for (long i = 0; i < op.n; i++)      // |x| in [0.1, 1]: no kink within h
        x[i] = (i % 2 ? 1 : -1) * (0.1 + 0.9 * fabs(urand()));
    op_var(&op, "in", x, op.n);
    op_out(&op, op.n);
    run_op(&op);
}

/* ------------------------------------------------------------- pooling */

/* n distinct values spaced 0.05 apart (far more than FD_H), shuffled and
 * centred on zero so some windows are all negative next to the padding. */
static double *distinct_alloc(long n)
{
    double *x = alloc(n);
    for (long i = 0; i < n; i++) x[i] = 0.05 * (double)(i - n / 2);
    for (long i = n - 1; i > 0; i--) {
        long j = (long)((urand() + 1.0) * 0.5 * (double)(i + 1));
        if (j > i) j = i;
        double t = x[i]; x[i] = x[j]; x[j] = t;
    }
    return x;
}

static double maxpool_loss(Op *op)
{
    gc_maxpool_forward(op->out, op->var[0], op->N, op->C, op->H, op->W,
                       op->KH, op->KW, op->stride, op->pad);
    return dot(op->r, op->out, op->nout);
}

static void maxpool_backward(Op *op, double **g)
{
    gc_maxpool_backward(g[0], op->r, op->var[0], op->N, op->C, op->H, op->W,
                        op->KH, op->KW, op->stride, op->pad);
}

static double avgpool_loss(Op *op)
{
    gc_avgpool_forward(op->out, op->var[0], op->N, op->C, op->H, op->W,
                       op->KH, op->KW, op->stride, op->pad);
    return dot(op->r, op->out, op->nout);
}

static void avgpool_backward(Op *op, double **g)
{
    gc_avgpool_backward(g[0], op->r, op->N, op->C, op->H, op->W,
                        op->KH, op->KW, op->stride, op->pad);
}

static void test_pool(int max, int N, int C, int H, int W, int KH, int KW, int stride, int pad)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "%s[%dx%d s%d p%d on %dx%d]", max ? "maxpool" : "avgpool",
             KH, KW, stride, pad, H, W);
    op.N = N, op.C = C, op.H = H, op.W = W, op.KH = KH, op.KW = KW;
    op.stride = stride, op.pad = pad;
    op.loss = max ? maxpool_loss : avgpool_loss;
    op.backward = max ? maxpool_backward : avgpool_backward;
    long n = (long)N * C * H * W;
    op_var(&op, "in", max ? distinct_alloc(n) : rand_alloc(n, 1.0), n);
    int OH = (H + 2 * pad - KH) / stride + 1, OW = (W + 2 * pad - KW) / stride + 1;
    op_out(&op, (long)N * C * OH * OW);
    run_op(&op);
}

/* ------------------------------------------------- gap, add, concat, pad */

static double gap_loss(Op *op)
{
    gc_gap_forward(op->out, op->var[0], op->N, op->C, op->W);
    return dot(op->r, op->out, op->nout);
}

static void gap_backward(Op *op, double **g)
{
    gc_gap_backward(g[0], op->r, op->N, op->C, op->W);
}

static void test_gap(void)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "gap");
    op.N = 2, op.C = 3, op.W = 5;
    op.loss = gap_loss;
    op.backward = gap_backward;
    op_var(&op, "in", rand_alloc(30, 1.0), 30);
    op_out(&op, 6);
    run_op(&op);
}

/* dropout with a fixed mask (p 0.4, a fixed key): a linear map, so the
 * finite differences see exactly the mask forward draws */
static uint64_t dropout_key(void)
{
    return rn_dropout_layer_key(rn_dropout_step_key(7, 3), rn_dropout_salt("dropout"));
}

static double dropout_loss(Op *op)
{
    gc_dropout_forward(op->out, op->var[0], op->n, 0.4f, dropout_key());
    return dot(op->r, op->out, op->nout);
}

static void dropout_backward(Op *op, double **g)
{
    gc_dropout_backward(g[0], op->r, op->n, 0.4f, dropout_key());
}

static void test_dropout(void)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "dropout");
    op.n = 60;
    op.loss = dropout_loss;
    op.backward = dropout_backward;
    op_var(&op, "in", rand_alloc(60, 1.0), 60);
    op_out(&op, 60);
    run_op(&op);
}

static double add_loss(Op *op)
{
    gc_add_forward(op->out, op->var[0], op->var[1], op->n);
    return dot(op->r, op->out, op->nout);
}

static void add_backward(Op *op, double **g)
{
    gc_add_backward(g[0], g[1], op->r, op->n);
}

static void test_add(void)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "add");
    op.n = 30;
    op.loss = add_loss;
    op.backward = add_backward;
    op_var(&op, "a", rand_alloc(op.n, 1.0), op.n);
    op_var(&op, "b", rand_alloc(op.n, 1.0), op.n);
    op_out(&op, op.n);
    run_op(&op);
}

static double concat_loss(Op *op)
{
    gc_concat_forward(op->out, op->var[0], op->var[1], op->N, op->C, op->CB, op->W);
    return dot(op->r, op->out, op->nout);
}

static void concat_backward(Op *op, double **g)
{
    gc_concat_backward(g[0], g[1], op->r, op->N, op->C, op->CB, op->W);
}

static void test_concat(void)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "concat");
    op.N = 2, op.C = 2, op.CB = 3, op.W = 4;
    op.loss = concat_loss;
    op.backward = concat_backward;
    op_var(&op, "a", rand_alloc(2 * 2 * 4, 1.0), 2 * 2 * 4);
    op_var(&op, "b", rand_alloc(2 * 3 * 4, 1.0), 2 * 3 * 4);
    op_out(&op, 2 * 5 * 4);
    run_op(&op);
}

static double padshort_loss(Op *op)
{
    gc_padshort_forward(op->out, op->var[0], op->N, op->C, op->H, op->W, op->K, op->stride);
    return dot(op->r, op->out, op->nout);
}

static void padshort_backward(Op *op, double **g)
{
    gc_padshort_backward(g[0], op->r, op->N, op->C, op->H, op->W, op->K, op->stride);
}

static void test_padshort(int N, int C, int H, int W, int K, int stride)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "padshort[C%d->K%d s%d on %dx%d]", C, K, stride, H, W);
    op.N = N, op.C = C, op.H = H, op.W = W, op.K = K, op.stride = stride;
    op.loss = padshort_loss;
    op.backward = padshort_backward;
    long n = (long)N * C * H * W;
    op_var(&op, "in", rand_alloc(n, 1.0), n);
    int OH = (H - 1) / stride + 1, OW = (W - 1) / stride + 1;
    op_out(&op, (long)N * K * OH * OW);
    run_op(&op);
}

/* -------------------------------------------------------------------- fc */

static double fc_loss(Op *op)
{
    gc_fc_forward(op->out, op->var[0], op->var[1], op->nvar > 2 ? op->var[2] : NULL,
                  op->N, op->C, op->K);
    return dot(op->r, op->out, op->nout);
}

static void fc_backward(Op *op, double **g)
{
    gc_fc_backward(g[0], g[1], grad_or_null(g, 2, op->nvar), op->r, op->var[0], op->var[1],
                   op->N, op->C, op->K);
}

static void test_fc(int bias)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "fc[%s]", bias ? "bias" : "no bias");
    op.N = 3, op.C = 5, op.K = 4;            // N, IN, OUT
    op.loss = fc_loss;
    op.backward = fc_backward;
    op_var(&op, "in", rand_alloc(15, 1.0), 15);
    op_var(&op, "w", rand_alloc(20, 1.0), 20);
    if (bias) op_var(&op, "bias", rand_alloc(4, 1.0), 4);
    op_out(&op, 12);
    run_op(&op);
}

/* ---------------------------------------------------------- softmax xent */

static double xent_loss(Op *op)
{
    return gc_softmax_xent_forward(op->aux[0], op->var[0], op->labels, op->N, op->C, op->eps);
}

static void xent_backward(Op *op, double **g)
{
    xent_loss(op);
    gc_softmax_xent_backward(g[0], op->aux[0], op->labels, op->N, op->C, op->eps);
}

static void test_xent(double smoothing)
{
    Op op = {0};
    snprintf(op.name, sizeof op.name, "softmax_xent[smoothing %g]", smoothing);
    op.N = 4, op.C = 6, op.eps = smoothing, op.overwrites = 1;
    op.loss = xent_loss;
    op.backward = xent_backward;
    op_var(&op, "logits", rand_alloc(24, 3.0), 24);
    op.labels = malloc(4 * sizeof(int));
    if (!op.labels) exit(2);
    for (int n = 0; n < 4; n++) op.labels[n] = (n * 5 + 1) % 6;
    op.aux[0] = alloc(24);
    run_op(&op);
}

/* --------------------------------------------------------- the harness */

/* The check must be able to fail: a gradient off by 1e-4 in one element is
 * caught, and so is a backward that overwrites where it should add. */
static void test_harness_catches_errors(void)
{
    Op op = conv_op("3x3 p1", 1, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1);
    double *g[MAXV] = {0};
    for (int v = 0; v < op.nvar; v++) g[v] = alloc(op.len[v]);
    op.backward(&op, g);
    g[1][3] += 1e-4;
    double err = fd_error(&op, 1, g[1]);
    CHECK(err > FD_TOL, "gradcheck harness detects a wrong gradient",
          "a gradient off by 1e-4 gave max err %.3e", err);
    for (int v = 0; v < op.nvar; v++) free(g[v]);
    op_free(&op);
}

int main(void)
{
    test_harness_catches_errors();
    test_conv2d();
    test_batchnorm(2, 3, 6);
    test_batchnorm(4, 2, 1);                 // after a gap: one value per sample
    test_relu();
    test_pool(1, 2, 2, 5, 5, 3, 3, 2, 1);    // the ResNet stem pool
    test_pool(1, 2, 2, 4, 6, 2, 2, 2, 0);
    test_pool(1, 1, 3, 5, 4, 3, 3, 1, 1);
    test_pool(0, 2, 2, 5, 5, 3, 3, 2, 1);
    test_pool(0, 2, 2, 4, 6, 2, 2, 2, 0);
    test_pool(0, 1, 2, 5, 4, 3, 3, 1, 1);
    test_gap();
    test_dropout();
    test_add();
    test_concat();
    test_padshort(2, 2, 4, 4, 4, 2);         // CIFAR stage change: C -> 2C, stride 2
    test_padshort(2, 2, 5, 5, 5, 1);         // odd K-C: 1 channel before, 2 after
    test_padshort(2, 3, 5, 6, 7, 2);         // odd map with stride 2
    test_padshort(1, 3, 4, 4, 3, 1);         // K == C, stride 1: identity
    test_fc(1);
    test_fc(0);
    test_xent(0.0);
    test_xent(0.1);
    CHECK_DONE();
}
