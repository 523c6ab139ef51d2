/* test_wino.c - Winograd F(2x2, 3x3) against a direct convolution in
 * double: the forward (same padding, stride 1), the input gradient through
 * the transposed, flipped filter, accumulation, and the epilogue (bias,
 * relu, per-channel sums of the final values), on odd and tiny sizes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "rn_rng.h"
#include "rn_wino.h"

static float *randv(RnRng *r, long n)
{
    float *v = malloc(sizeof(float) * (size_t)(n + 1));
    for (long i = 0; i < n; i++)
        v[i] = rn_rng_normal(r);
    return v;
}

/* y (K, H, W, N) from x (C, H, W, N) and w (K, C, 3, 3), pad 1, in double */
static void direct(double *y, const float *x, const float *w, int N, int C, int K, int H, int W)
{
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++)
                for (int ww = 0; ww < W; ww++) {
                    double s = 0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                int ih = h + i - 1, iw = ww + j - 1;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                s += (double)x[(((long)c * H + ih) * W + iw) * N + n] *
                                     w[((long)k * C + c) * 9 + i * 3 + j];
                            }
                    y[(((long)k * H + h) * W + ww) * N + n] = s;
                }
}

/* dx (C, H, W, N) = the adjoint of direct() applied to dy (K, H, W, N) */
static void direct_t(double *dx, const float *dy, const float *w, int N, int C, int K, int H,
                     int W)
{
    memset(dx, 0, sizeof(double) * (size_t)C * N * H * W);
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++)
                for (int ww = 0; ww < W; ww++)
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                int ih = h + i - 1, iw = ww + j - 1;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                dx[(((long)c * H + ih) * W + iw) * N + n] +=
                                    (double)dy[(((long)k * H + h) * W + ww) * N + n] *
                                    w[((long)k * C + c) * 9 + i * 3 + j];
                            }
}

static double rel(const float *a, const double *b, long n)
{
    double m = 1e-3, e = 0;
    for (long i = 0; i < n; i++)
        m = fmax(m, fabs(b[i]));
    for (long i = 0; i < n; i++)
        e = fmax(e, fabs(a[i] - b[i]));
    return e / m;
}

static void one(RnRng *r, int N, int C, int K, int H, int W)
{
    long nx = (long)C * N * H * W, ny = (long)K * N * H * W;
    float *x = randv(r, nx), *w = randv(r, (long)K * C * 9), *bias = randv(r, K);
    float *U = malloc(sizeof(float) * 16 * (size_t)K * C);
    long wf = rn_wino_work_floats(N, C, K, H, W);
    float *work = malloc(sizeof(float) * (size_t)wf);
    float *y = malloc(sizeof(float) * (size_t)ny), *y0 = malloc(sizeof(float) * (size_t)ny);
    double *ref = malloc(sizeof(double) * (size_t)(ny > nx ? ny : nx));
    char what[96];
    snprintf(what, sizeof what, "N%d C%d K%d %dx%d", N, C, K, H, W);

    direct(ref, x, w, N, C, K, H, W);
    rn_wino_filter(U, w, K, C, 0);
    rn_wino_conv(y, x, U, N, C, K, H, W, work, NULL, 0);
    double e = rel(y, ref, ny);
    CHECK(e < 1e-5, "winograd forward", "%s: relative error %.3g", what, e);

    /* accumulate onto y0, then bias + relu, then the sums */
    for (long i = 0; i < ny; i++)
        y0[i] = (float)(i % 7) - 3.0f;
    memcpy(y, y0, sizeof(float) * (size_t)ny);
    double *sum = calloc((size_t)K, sizeof(double)), *sq = calloc((size_t)K, sizeof(double));
    RnEpilogue ep = { bias, 1, sum, sq };
    rn_wino_conv(y, x, U, N, C, K, H, W, work, &ep, 1);
    double worst = 0, sworst = 0;
    for (int k = 0; k < K; k++) {
        double s = 0, ss = 0, m = 1e-3;
        for (long i = 0; i < (long)N * H * W; i++) {
            long o = (long)k * N * H * W + i;
            double v = ref[o] + y0[o] + bias[k];
            v = v > 0 ? v : 0;
            m = fmax(m, fabs(v));
            worst = fmax(worst, fabs(y[o] - v));
            s += y[o];
            ss += (double)y[o] * y[o];
        }
        sworst = fmax(sworst, fabs(s - sum[k]) / fmax(1, fabs(s)));
        sworst = fmax(sworst, fabs(ss - sq[k]) / fmax(1, ss));
    }
    CHECK(worst < 1e-4, "winograd accumulate + bias + relu", "%s: error %.3g", what, worst);
    CHECK(sworst < 1e-9, "winograd channel sums", "%s: error %.3g", what, sworst);

    /* the input gradient: dy (K ch) -> dx (C ch) with the transposed filter */
    float *dy = randv(r, ny), *dx = malloc(sizeof(float) * (size_t)nx);
    float *Ut = malloc(sizeof(float) * 16 * (size_t)K * C);
    direct_t(ref, dy, w, N, C, K, H, W);
    rn_wino_filter(Ut, w, K, C, 1);
    rn_wino_conv(dx, dy, Ut, N, K, C, H, W, work, NULL, 0);
    e = rel(dx, ref, nx);
    CHECK(e < 1e-5, "winograd input gradient", "%s: relative error %.3g", what, e);

    /* the same inputs give the same bits */
    float *y2 = malloc(sizeof(float) * (size_t)ny);
    memcpy(y2, y0, sizeof(float) * (size_t)ny);
    double *sum2 = calloc((size_t)K, sizeof(double)), *sq2 = calloc((size_t)K, sizeof(double));
    RnEpilogue ep2 = { bias, 1, sum2, sq2 };
    rn_wino_conv(y2, x, U, N, C, K, H, W, work, &ep2, 1);
    CHECK(!memcmp(y, y2, sizeof(float) * (size_t)ny) && !memcmp(sum, sum2, sizeof(double) * K),
          "winograd repeatable", "%s: two runs differ", what);
    free(x), free(w), free(bias), free(U), free(work), free(y), free(y0), free(ref), free(sum);
    free(sq), free(dy), free(dx), free(Ut), free(y2), free(sum2), free(sq2);
}

int main(void)
{
    RnRng r;
    rn_rng_seed(&r, 7);
    one(&r, 1, 1, 1, 1, 1);
    one(&r, 2, 3, 5, 7, 7);
    one(&r, 3, 4, 2, 5, 3);
    one(&r, 1, 16, 8, 2, 2);
    one(&r, 2, 8, 16, 4, 4);
    one(&r, 4, 32, 32, 7, 7);
    one(&r, 1, 2, 3, 6, 9);
    CHECK_DONE();
}
