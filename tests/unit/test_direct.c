/* test_direct.c - the direct convolution (rn_conv_direct, rn_gemm.h) against
 * the reference kernels: forward with every epilogue, accumulation
 * (beta 1), the input gradient through the transposed packing, batch
 * sizes that leave ragged batch blocks, 1 and 2 threads, and every
 * instruction set this CPU runs.  The (tap, position) tables are built
 * here from the shapes, independently of rnetc. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "check.h"
#include "rn_gen.h"
#include "rn_kernels.h"

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

/* forward tables: output p's entries (tap, input position) inside the input */
static int fwd_tables(int H, int W, int OH, int OW, int KH, int KW, int S, int Pd, int *pos,
                      int *tq)
{
    int e = 0;
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            pos[oh * OW + ow] = e;
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    int ih = oh * S - Pd + kh, iw = ow * S - Pd + kw;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                        continue;
                    tq[2 * e] = kh * KW + kw;
                    tq[2 * e + 1] = ih * W + iw;
                    e++;
                }
        }
    pos[OH * OW] = e;
    return e;
}

/* input-gradient tables: input q's entries (tap, output position) */
static int bwd_tables(int H, int W, int OH, int OW, int KH, int KW, int S, int Pd, int *pos,
                      int *tq)
{
    int e = 0;
    for (int ih = 0; ih < H; ih++)
        for (int iw = 0; iw < W; iw++) {
            pos[ih * W + iw] = e;
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    int a = ih + Pd - kh, b = iw + Pd - kw;
                    if (a < 0 || b < 0 || a % S || b % S || a / S >= OH || b / S >= OW)
                        continue;
                    tq[2 * e] = kh * KW + kw;
                    tq[2 * e + 1] = a / S * OW + b / S;
                    e++;
                }
        }
    pos[H * W] = e;
    return e;
}

/* weight-gradient tables: tap t's (output position, input position) pairs */
static void wgrad_tables(int H, int W, int OH, int OW, int KH, int KW, int S, int Pd, int *pos,
                         int *pq)
{
    int e = 0;
    for (int t = 0; t < KH * KW; t++) {
        pos[t] = e;
        for (int p = 0; p < OH * OW; p++) {
            int ih = p / OW * S - Pd + t / KW, iw = p % OW * S - Pd + t % KW;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                continue;
            pq[2 * e] = p;
            pq[2 * e + 1] = ih * W + iw;
            e++;
        }
    }
    pos[KH * KW] = e;
}

static const char *label(const char *base, const char *what)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "direct conv %s: %s", base, what);
    return buf;
}

static void run(const char *isa, int nt, int N, int C, int H, int W, int K, int KH, int KW, int S,
                int Pd)
{
#ifdef _OPENMP
    omp_set_num_threads(nt);
#else
    (void)nt;
#endif
    int OH = (H + 2 * Pd - KH) / S + 1, OW = (W + 2 * Pd - KW) / S + 1, T = KH * KW;
    long nx = (long)N * C * H * W, ny = (long)N * K * OH * OW, nw = (long)K * C * T;
    float *x = malloc(sizeof(float) * nx), *xc = malloc(sizeof(float) * nx);
    float *w = malloc(sizeof(float) * nw), *bias = malloc(sizeof(float) * K);
    float *ref = malloc(sizeof(float) * ny), *yc = malloc(sizeof(float) * ny);
    float *yn = malloc(sizeof(float) * ny), *g = malloc(sizeof(float) * ny);
    float *gc = malloc(sizeof(float) * ny), *dx = calloc((size_t)nx, sizeof(float));
    float *dxc = malloc(sizeof(float) * nx), *dxn = malloc(sizeof(float) * nx);
    float *ap = malloc(sizeof(float) * rn_conv_pack_floats(K, C, T) + 64);
    float *at = malloc(sizeof(float) * rn_conv_pack_floats(C, K, T) + 64);
    int *pos = malloc(sizeof(int) * (OH * OW + 1)), *tq = malloc(sizeof(int) * 2 * OH * OW * T);
    int *bpos = malloc(sizeof(int) * (H * W + 1)), *btq = malloc(sizeof(int) * 2 * H * W * T);
    double *sum = calloc((size_t)K, sizeof(double)), *sumsq = calloc((size_t)K, sizeof(double));
    unsigned seed = 1234u + (unsigned)(N * 31 + C * 7 + K);
    for (long i = 0; i < nx; i++)
        x[i] = frand(&seed);
    for (long i = 0; i < nw; i++)
        w[i] = frand(&seed);
    for (int k = 0; k < K; k++)
        bias[k] = frand(&seed);
    for (long i = 0; i < ny; i++)
        g[i] = frand(&seed);
    rn_nchw_to_chwn(xc, x, N, C, (long)H * W);
    rn_nchw_to_chwn(gc, g, N, K, (long)OH * OW);
    fwd_tables(H, W, OH, OW, KH, KW, S, Pd, pos, tq);
    bwd_tables(H, W, OH, OW, KH, KW, S, Pd, bpos, btq);
    char name[160];
    snprintf(name, sizeof name, "%s %dt N%d C%d %dx%d K%d k%dx%d s%d p%d", isa, nt, N, C, H, W,
             K, KH, KW, S, Pd);

    /* forward + bias + relu + sums; then accumulate (beta 1) a second time */
    rn_conv_pack(ap, w, K, C, T, T, NULL, 0);
    RnEpilogue ep = {bias, 1, sum, sumsq};
    rn_conv_direct(K, C, N, OH * OW, T, pos, tq, ap, xc, (long)H * W * N, yc, 0.0f, &ep);
    rn_ref_conv2d_forward(ref, x, w, bias, N, C, H, W, K, KH, KW, S, Pd, 1);
    for (long i = 0; i < ny; i++)
        ref[i] = ref[i] > 0 ? ref[i] : 0.0f;
    rn_chwn_to_nchw(yn, yc, N, K, (long)OH * OW);
    double err = 0, serr = 0;
    for (long i = 0; i < ny; i++)
        err = fmax(err, fabs(yn[i] - ref[i]) / (1 + fabs(ref[i])));
    for (int k = 0; k < K; k++) {
        double s = 0, q = 0;
        for (int n = 0; n < N; n++)
            for (int p = 0; p < OH * OW; p++) {
                double v = ref[((long)n * K + k) * OH * OW + p];
                s += v;
                q += v * v;
            }
        serr = fmax(serr, fabs(s - sum[k]) / (1 + fabs(s)));
        serr = fmax(serr, fabs(q - sumsq[k]) / (1 + fabs(q)));
    }
    CHECK(err < 1e-5 && serr < 1e-5, label(name, "forward+bias+relu+sums"),
          "max rel error %g, sums %g", err, serr);

    /* y += conv(x) without epilogue: y ends at relu(conv + b) + conv */
    rn_conv_direct(K, C, N, OH * OW, T, pos, tq, ap, xc, (long)H * W * N, yc, 1.0f, NULL);
    rn_chwn_to_nchw(yn, yc, N, K, (long)OH * OW);
    float *plain = malloc(sizeof(float) * ny);
    rn_ref_conv2d_forward(plain, x, w, NULL, N, C, H, W, K, KH, KW, S, Pd, 1);
    err = 0;
    for (long i = 0; i < ny; i++) {
        double want = (double)ref[i] + plain[i];
        err = fmax(err, fabs(yn[i] - want) / (1 + fabs(want)));
    }
    CHECK(err < 1e-5, label(name, "accumulate"), "max rel error %g", err);

    /* the input gradient: the transposed filter over the output gradient */
    rn_conv_pack(at, w, C, K, T, T, NULL, 1);
    rn_conv_direct(C, K, N, H * W, T, bpos, btq, at, gc, (long)OH * OW * N, dxc, 0.0f, NULL);
    rn_ref_conv2d_backward(dx, NULL, NULL, g, x, w, N, C, H, W, K, KH, KW, S, Pd, 1);
    rn_chwn_to_nchw(dxn, dxc, N, C, (long)H * W);
    err = 0;
    for (long i = 0; i < nx; i++)
        err = fmax(err, fabs(dxn[i] - dx[i]) / (1 + fabs(dx[i])));
    CHECK(err < 1e-5, label(name, "input gradient"), "max rel error %g", err);

    /* the weight gradient, accumulated onto a non-zero start */
    float *dw = malloc(sizeof(float) * nw), *dwr = malloc(sizeof(float) * nw);
    float *work = malloc(sizeof(float) * rn_conv_wgrad_floats(K, C, N, OH * OW, H * W));
    int *wpos = malloc(sizeof(int) * (T + 1)), *wpq = malloc(sizeof(int) * 2 * OH * OW * T);
    for (long i = 0; i < nw; i++)
        dw[i] = dwr[i] = frand(&seed);
    wgrad_tables(H, W, OH, OW, KH, KW, S, Pd, wpos, wpq);
    rn_conv_wgrad(K, C, N, OH * OW, H * W, T, wpos, wpq, gc, xc, dw, T, NULL, work);
    rn_ref_conv2d_backward(NULL, dwr, NULL, g, x, w, N, C, H, W, K, KH, KW, S, Pd, 1);
    err = 0;
    for (long i = 0; i < nw; i++)
        err = fmax(err, fabs(dw[i] - dwr[i]) / (1 + fabs(dwr[i])));
    CHECK(err < 1e-5, label(name, "weight gradient"), "max rel error %g", err);
    free(dw), free(dwr), free(work), free(wpos), free(wpq);

    free(x), free(xc), free(w), free(bias), free(ref), free(yc), free(yn), free(g), free(gc);
    free(dx), free(dxc), free(dxn), free(ap), free(at), free(pos), free(tq), free(bpos);
    free(btq), free(sum), free(sumsq), free(plain);
}

/* small batches (rn_conv1) with bias and relu against the reference: the
 * live taps alone packed (as rnetc's dead-taps pass does); at N == 1 the
 * padded buffer zeroed once and used by a call on other data first (the
 * second must overwrite every value the first wrote), at N > 1 filled
 * with NaN (the call writes it whole); y filled with NaN (every output
 * written).  x and y batch innermost, the reference NCHW. */
static void small_batch(const char *isa, int nt, int N, int C, int H, int W, int K, int KH,
                        int KW, int S, int Pd)
{
#ifdef _OPENMP
    omp_set_num_threads(nt);
#endif
    int OH = (H + 2 * Pd - KH) / S + 1, OW = (W + 2 * Pd - KW) / S + 1, KK = KH * KW;
    RnConvShape sh = {K, C, H, W, OH, OW, KH, KW, S, Pd};
    int *taps = malloc(sizeof(int) * KK), T = 0;
    for (int t = 0; t < KK; t++) {
        int live = 0;
        for (int p = 0; p < OH * OW && !live; p++) {
            int ih = p / OW * S - Pd + t / KW, iw = p % OW * S - Pd + t % KW;
            live = ih >= 0 && ih < H && iw >= 0 && iw < W;
        }
        if (live)
            taps[T++] = t;
    }
    long img = (long)C * H * W, oimg = (long)K * OH * OW, nw = (long)K * C * KK;
    long npad = N * rn_conv1_pad_floats(&sh);
    float *x = malloc(sizeof(float) * img * N), *xn = malloc(sizeof(float) * img * N);
    float *w = malloc(sizeof(float) * nw), *bias = malloc(sizeof(float) * K);
    float *y = malloc(sizeof(float) * oimg * N), *ref = malloc(sizeof(float) * oimg * N);
    float *bp = malloc(sizeof(float) * rn_conv1_pack_floats(K, C, T));
    float *xpad = malloc(sizeof(float) * npad);
    unsigned seed = 99u + (unsigned)(C * 13 + K + N);
    for (long i = 0; i < img * N; i++)
        xn[i] = frand(&seed);
    for (int n = 0; n < N; n++)  /* x (C*H*W, N) from xn (N, C*H*W) */
        for (long i = 0; i < img; i++)
            x[i * N + n] = xn[n * img + i];
    for (long i = 0; i < nw; i++)
        w[i] = frand(&seed);
    for (int k = 0; k < K; k++)
        bias[k] = frand(&seed);
    rn_conv1_pack(bp, w, K, C, KK, T, T < KK ? taps : NULL);
    const int *tp = T < KK ? taps : NULL;
    if (N == 1) {
        for (long i = 0; i < npad; i++)
            xpad[i] = 0.0f;
        float *x0 = malloc(sizeof(float) * img);
        for (long i = 0; i < img; i++)
            x0[i] = 100.0f + frand(&seed);
        rn_conv1(&sh, 1, T, tp, bp, x0, xpad, 1, y, bias, 1);
        free(x0);
    } else {
        for (long i = 0; i < npad; i++)
            xpad[i] = NAN;
    }
    for (long i = 0; i < oimg * N; i++)
        y[i] = NAN;
    rn_conv1(&sh, N, T, tp, bp, x, xpad, N == 1, y, bias, 1);
    rn_ref_conv2d_forward(ref, xn, w, bias, N, C, H, W, K, KH, KW, S, Pd, 1);
    double err = 0;
    for (int n = 0; n < N; n++)
        for (long i = 0; i < oimg; i++) {
            float r = ref[n * oimg + i] > 0 ? ref[n * oimg + i] : 0.0f, v = y[i * N + n];
            err = fmax(err, isnan(v) ? INFINITY : fabs(v - r) / (1 + fabs(r)));
        }
    char name[128];
    snprintf(name, sizeof name, "small-batch conv %s %dt N%d C%d %dx%d K%d k%dx%d s%d p%d (%d taps)",
             isa, nt, N, C, H, W, K, KH, KW, S, Pd, T);
    CHECK(err < 1e-5, name, "max rel error %g", err);
    free(x), free(xn), free(w), free(bias), free(y), free(ref), free(bp), free(xpad), free(taps);
}

static void batch1(const char *isa, int nt, int C, int H, int W, int K, int KH, int KW, int S,
                   int Pd)
{
    small_batch(isa, nt, 1, C, H, W, K, KH, KW, S, Pd);
}

/* bit-repeatable: the same call twice gives the same bits */
static void repeatable(void)
{
    enum { N = 48, C = 16, H = 5, W = 5, K = 24, T = 9 };
    static float x[C * H * W * N], w[K * C * T], ap[K * C * T], y1[K * H * W * N],
        y2[K * H * W * N];
    static int pos[H * W + 1], tq[2 * H * W * T];
    unsigned seed = 5;
    for (int i = 0; i < C * H * W * N; i++)
        x[i] = frand(&seed);
    for (int i = 0; i < K * C * T; i++)
        w[i] = frand(&seed);
    fwd_tables(H, W, H, W, 3, 3, 1, 1, pos, tq);
    rn_conv_pack(ap, w, K, C, T, T, NULL, 0);
    double s1[K] = {0}, s2[K] = {0};
    RnEpilogue e1 = {NULL, 0, s1, NULL}, e2 = {NULL, 0, s2, NULL};
    rn_conv_direct(K, C, N, H * W, T, pos, tq, ap, x, (long)H * W * N, y1, 0.0f, &e1);
    rn_conv_direct(K, C, N, H * W, T, pos, tq, ap, x, (long)H * W * N, y2, 0.0f, &e2);
    CHECK(!memcmp(y1, y2, sizeof y1) && !memcmp(s1, s2, sizeof s1), "direct conv repeatable",
          "two calls differ");
}

/* a 3x3 filter on 1x1 planes: only the centre tap reads inside, so only
 * it is packed (taps = {4}) and the tables name it as packed tap 0 */
static void dead_taps(void)
{
    enum { N = 20, C = 8, K = 16 };
    static float x[N * C], w[K * C * 9], ap[K * C], y[K * N], ref[N * K], yn[N * K], xc[C * N];
    static const int pos[2] = {0, 1}, tq[2] = {0, 0}, taps[1] = {4};
    unsigned seed = 3;
    for (int i = 0; i < N * C; i++)
        x[i] = frand(&seed);
    for (int i = 0; i < K * C * 9; i++)
        w[i] = frand(&seed);
    rn_nchw_to_chwn(xc, x, N, C, 1);
    rn_conv_pack(ap, w, K, C, 9, 1, taps, 0);
    rn_conv_direct(K, C, N, 1, 1, pos, tq, ap, xc, N, y, 0.0f, NULL);
    rn_ref_conv2d_forward(ref, x, w, NULL, N, C, 1, 1, K, 3, 3, 1, 1, 1);
    rn_chwn_to_nchw(yn, y, N, K, 1);
    double err = 0;
    for (int i = 0; i < N * K; i++)
        err = fmax(err, fabs(yn[i] - ref[i]) / (1 + fabs(ref[i])));
    CHECK(err < 1e-5, "direct conv: live taps only (3x3 on 1x1)", "max rel error %g", err);
}

int main(void)
{
    dead_taps();
    const char *isas[] = {"avx512", "avx2", "sse2", "neon", "generic"};
    for (unsigned i = 0; i < sizeof isas / sizeof *isas; i++) {
        if (rn_gemm_force_isa(isas[i]) != 0)
            continue;
        for (int nt = 1; nt <= 2; nt++) {
            run(isas[i], nt, 64, 16, 7, 7, 24, 3, 3, 1, 1);
            run(isas[i], nt, 37, 8, 4, 4, 12, 3, 3, 2, 1);   /* ragged block, stride 2 */
            run(isas[i], nt, 5, 3, 6, 5, 9, 3, 3, 1, 1);     /* fewer than a vector */
            run(isas[i], nt, 20, 6, 2, 2, 13, 3, 3, 1, 1);   /* most taps are padding */
            run(isas[i], nt, 33, 4, 7, 7, 8, 1, 1, 2, 0);    /* 1x1 stride 2 */
            run(isas[i], nt, 16, 2, 9, 8, 5, 5, 3, 2, 2);
            run(isas[i], nt, 20, 40, 2, 2, 16, 3, 3, 1, 1);   /* weight gradient: a whole channel block and a part */
            batch1(isas[i], nt, 64, 7, 7, 64, 3, 3, 1, 1);
            batch1(isas[i], nt, 128, 4, 4, 256, 3, 3, 2, 1);
            batch1(isas[i], nt, 32, 1, 1, 48, 3, 3, 1, 1);    /* the centre tap alone */
            batch1(isas[i], nt, 1, 28, 28, 64, 7, 7, 2, 3);   /* a stem */
            batch1(isas[i], nt, 24, 5, 6, 20, 1, 1, 2, 0);    /* 1x1/2, channels not a block */
            batch1(isas[i], nt, 64, 2, 2, 256, 3, 3, 1, 1);   /* every tap, each by some positions */
            batch1(isas[i], nt, 3, 9, 11, 40, 5, 3, 2, 2);    /* 5x3, a block of 8 channels */
            batch1(isas[i], nt, 1, 12, 10, 20, 3, 5, 1, 2);   /* one channel, 20 filters */
            batch1(isas[i], nt, 2, 13, 13, 16, 7, 7, 2, 3);   /* a two-channel stem */
            batch1(isas[i], nt, 8, 3, 3, 32, 5, 5, 1, 1);     /* taps reading only padding */
            small_batch(isas[i], nt, 3, 64, 7, 7, 64, 3, 3, 1, 1);
            small_batch(isas[i], nt, 5, 24, 5, 6, 40, 1, 1, 2, 0);   /* no padding: gathered */
            small_batch(isas[i], nt, 2, 1, 12, 10, 20, 3, 5, 1, 2);  /* one channel */
            small_batch(isas[i], nt, 15, 32, 2, 2, 48, 3, 3, 2, 1);
        }
        repeatable();
    }
    CHECK_DONE();
}
