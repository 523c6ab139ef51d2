/* test_gen.c - the inline helpers of generated code (rn_gen.h) against the
 * reference kernels, compiled with the flags generated programs use.
 *
 * Activations are CHWN (batch innermost).  im2col taps + a plain matrix
 * product must equal the reference conv;
 * col2im must be the exact adjoint of im2col (<im2col x, y> = <x, col2im y>);
 * the pools must equal the reference pools, forward and backward.
 * GCC 12 once miscompiled the taps at -O3 -march=native: this is the test
 * that caught it. */
#include <math.h>
#include <stdlib.h>
#include "check.h"
#include "rn_gen.h"
#include "rn_kernels.h"

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

static void test_conv(int N, int C, int H, int W, int K, int KH, int KW, int S, int P)
{
    int OH = (H + 2 * P - KH) / S + 1, OW = (W + 2 * P - KW) / S + 1;
    long np = (long)N * OH * OW, ckk = (long)C * KH * KW;
    float *x = malloc(sizeof(float) * N * C * H * W), *xc = malloc(sizeof(float) * N * C * H * W);
    float *w = malloc(sizeof(float) * K * ckk), *col = malloc(sizeof(float) * ckk * np);
    float *y = malloc(sizeof(float) * K * np), *ref = malloc(sizeof(float) * K * np);
    float *yn = malloc(sizeof(float) * K * np), *g = malloc(sizeof(float) * ckk * np);
    float *dx = calloc((size_t)N * C * H * W, sizeof(float));
    unsigned seed = 7;
    for (long i = 0; i < (long)N * C * H * W; i++)
        x[i] = frand(&seed);
    for (long i = 0; i < K * ckk; i++)
        w[i] = frand(&seed);
    rn_nchw_to_chwn(xc, x, N, C, (long)H * W);
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++)
                rn_im2col_tap(col + ((long)(c * KH + kh) * KW + kw) * np, xc + (long)c * N * H * W,
                              N, H, W, OH, OW, S, P, kh, kw);
    for (int k = 0; k < K; k++)
        for (long j = 0; j < np; j++) {
            double s = 0;
            for (long r = 0; r < ckk; r++)
                s += (double)w[k * ckk + r] * col[r * np + j];
            y[k * np + j] = (float)s;
        }
    rn_chwn_to_nchw(yn, y, N, K, (long)OH * OW);
    rn_ref_conv2d_forward(ref, x, w, NULL, N, C, H, W, K, KH, KW, S, P, 1);
    double err = 0;
    for (long i = 0; i < K * np; i++)
        err = fmax(err, fabs(yn[i] - ref[i]));
    char name[128];
    snprintf(name, sizeof name, "im2col conv N%d C%d %dx%d k%dx%d s%d p%d", N, C, H, W, KH, KW, S,
             P);
    CHECK(err < 1e-4, name, "max abs error %g", err);

    /* adjoint: <col, g> == <xc, col2im(g)> */
    for (long i = 0; i < ckk * np; i++)
        g[i] = frand(&seed);
    double lhs = 0, rhs = 0;
    for (long i = 0; i < ckk * np; i++)
        lhs += (double)col[i] * g[i];
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++)
                rn_col2im_tap(dx + (long)c * N * H * W, g + ((long)(c * KH + kh) * KW + kw) * np, N,
                              H, W, OH, OW, S, P, kh, kw);
    for (long i = 0; i < (long)N * C * H * W; i++)
        rhs += (double)xc[i] * dx[i];
    snprintf(name, sizeof name, "col2im adjoint N%d C%d %dx%d k%dx%d s%d p%d", N, C, H, W, KH, KW,
             S, P);
    CHECK(fabs(lhs - rhs) < 1e-3 * (1 + fabs(lhs)), name, "<col,g> %g vs <x,col2im g> %g", lhs,
          rhs);
    free(x), free(xc), free(w), free(col), free(y), free(ref), free(yn), free(g), free(dx);
}

/* the shape of generated code: literal arguments, inlined nine times */
void taps_literal(float *w, int N);
__attribute__((noinline)) void taps_literal(float *w, int N)
{
    /* like generated code: input and columns carved out of one workspace */
    float *x = w + 0L * N;
    float *col = w + 7236L * N;
    for (int c = 0; c < 1; c++) {
        const float *src = x + (long)c * N * 144;
        float *dst = col + (long)c * 9 * N * 144;
        rn_im2col_tap(dst + 0L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 0, 0);
        rn_im2col_tap(dst + 1L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 0, 1);
        rn_im2col_tap(dst + 2L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 0, 2);
        rn_im2col_tap(dst + 3L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 1, 0);
        rn_im2col_tap(dst + 4L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 1, 1);
        rn_im2col_tap(dst + 5L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 1, 2);
        rn_im2col_tap(dst + 6L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 2, 0);
        rn_im2col_tap(dst + 7L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 2, 1);
        rn_im2col_tap(dst + 8L * N * 144, src, N, 12, 12, 12, 12, 1, 1, 2, 2);
    }
}

static void test_literal_taps(void)
{
    enum { N = 4 };
    static float w[(7236 + 9 * 144) * N];
    const float *x = w, *col = w + 7236L * N;
    for (int i = 0; i < N * 144; i++)
        w[i] = (float)(i + 1);
    taps_literal(w, N);
    int bad = 0;
    for (int t = 0; t < 9; t++)
        for (int n = 0; n < N; n++)
            for (int oh = 0; oh < 12; oh++)
                for (int ow = 0; ow < 12; ow++) {
                    int ih = oh + t / 3 - 1, iw = ow + t % 3 - 1;
                    float want = (ih < 0 || ih >= 12 || iw < 0 || iw >= 12)
                                     ? 0.0f
                                     : x[(ih * 12 + iw) * N + n];
                    bad += col[((long)t * 144 + oh * 12 + ow) * N + n] != want;
                }
    CHECK(bad == 0, "im2col taps with literal shapes", "%d wrong entries of %d", bad, 9 * N * 144);
}

/* the CHWN pools against the reference (NCHW) pools; x has ties (a relu's
 * zeros) so that "the first maximum in scan order" is exercised */
static void test_pool(int maxp, int N, int C, int H, int W, int K, int S, int P)
{
    int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
    long nx = (long)N * C * H * W, ny = (long)N * C * OH * OW;
    float *x = malloc(sizeof(float) * nx), *xc = malloc(sizeof(float) * nx);
    float *y = malloc(sizeof(float) * ny), *yc = malloc(sizeof(float) * ny);
    float *yn = malloc(sizeof(float) * ny), *g = malloc(sizeof(float) * ny);
    float *gc = malloc(sizeof(float) * ny), *dx = calloc((size_t)nx, sizeof(float));
    float *dxc = calloc((size_t)nx, sizeof(float)), *dxn = malloc(sizeof(float) * nx);
    unsigned seed = 11;
    for (long i = 0; i < nx; i++) {
        float v = frand(&seed);
        x[i] = v > 0 ? v : 0.0f;
    }
    for (long i = 0; i < ny; i++)
        g[i] = frand(&seed);
    rn_nchw_to_chwn(xc, x, N, C, (long)H * W);
    rn_nchw_to_chwn(gc, g, N, C, (long)OH * OW);
    for (int c = 0; c < C; c++) {
        const float *xi = xc + (long)c * H * W * N;
        float *yo = yc + (long)c * OH * OW * N, *di = dxc + (long)c * H * W * N;
        const float *go = gc + (long)c * OH * OW * N;
        if (maxp) {
            rn_maxpool_chwn(yo, xi, N, H, W, OH, OW, K, K, S, P);
            rn_maxpool_chwn_bwd(di, go, xi, N, H, W, OH, OW, K, K, S, P);
        } else {
            rn_avgpool_chwn(yo, xi, N, H, W, OH, OW, K, K, S, P);
            rn_avgpool_chwn_bwd(di, go, N, H, W, OH, OW, K, K, S, P);
        }
    }
    if (maxp) {
        rn_ref_maxpool_forward(y, x, N, C, H, W, K, K, S, P);
        rn_ref_maxpool_backward(dx, g, x, N, C, H, W, K, K, S, P);
    } else {
        rn_ref_avgpool_forward(y, x, N, C, H, W, K, K, S, P);
        rn_ref_avgpool_backward(dx, g, N, C, H, W, K, K, S, P);
    }
    rn_chwn_to_nchw(yn, yc, N, C, (long)OH * OW);
    rn_chwn_to_nchw(dxn, dxc, N, C, (long)H * W);
    double ey = 0, ed = 0;
    for (long i = 0; i < ny; i++)
        ey = fmax(ey, fabs(yn[i] - y[i]));
    for (long i = 0; i < nx; i++)
        ed = fmax(ed, fabs(dxn[i] - dx[i]));
    char name[128];
    snprintf(name, sizeof name, "%s CHWN N%d C%d %dx%d k%d s%d p%d", maxp ? "maxpool" : "avgpool",
             N, C, H, W, K, S, P);
    CHECK(ey < 1e-6 && ed < 1e-5, name, "forward error %g, backward error %g", ey, ed);
    free(x), free(xc), free(y), free(yc), free(yn), free(g), free(gc), free(dx), free(dxc),
        free(dxn);
}

int main(void)
{
    test_pool(1, 5, 3, 14, 14, 3, 2, 1);
    test_pool(1, 17, 2, 7, 6, 2, 2, 0);
    test_pool(0, 5, 3, 9, 9, 3, 2, 1);
    test_pool(0, 3, 2, 4, 4, 2, 2, 0);
    test_literal_taps();
    test_conv(4, 1, 12, 12, 4, 3, 3, 1, 1);
    test_conv(3, 2, 7, 7, 5, 3, 3, 2, 1);
    test_conv(2, 1, 28, 28, 4, 7, 7, 2, 3);
    test_conv(2, 3, 9, 6, 4, 1, 1, 2, 0);
    test_conv(2, 2, 5, 8, 3, 3, 3, 1, 0);
    test_conv(1, 2, 4, 4, 3, 3, 3, 2, 1);
    test_conv(2, 2, 11, 10, 3, 5, 3, 3, 2);
    CHECK_DONE();
}
