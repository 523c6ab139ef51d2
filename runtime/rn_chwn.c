/* rn_chwn.c - the training step's per-channel helpers of generated code
 * (declared in rn_gen.h): batch-norm statistics and backward, relu masks,
 * bias gradients, gradient copies, the pools' backward.
 *
 * Their loops run over N * H * W values with N known only at run time, so
 * inlining them at every call site (with the sizes as literals) bought
 * nothing but compile time: a ResNet-50's generated C compiled 30% longer.
 * They are compiled once here, with the flags generated code gets (-std=c11
 * -O3 -march=native -fopenmp), so the numbers are the same bits. */
#include "rn_gen.h"
#include "rn_dropout.h"

void rn_bias_grad(float *restrict db, const float *restrict dy, int K, long NP)
{
    for (int k = 0; k < K; k++) {
        const float *d = dy + k * NP;
        double l[RN_LANES] = {0}, s = 0;
        long i = 0;
        for (; i + RN_LANES <= NP; i += RN_LANES)
            for (int j = 0; j < RN_LANES; j++)
                l[j] += d[i + j];
        for (int j = 0; j < RN_LANES; j++)
            s += l[j];
        for (; i < NP; i++)
            s += d[i];
        db[k] += (float)s;
    }
}

void rn_bn_train_from_sums(float *restrict y, const float *restrict x, long M,
                           double s, double ss, float gamma, float beta,
                           float *running_mean, float *running_var,
                           float *save_mean, float *save_invstd, int relu)
{
    double mean = s / (double)M;
    double var = ss / (double)M - mean * mean;
    if (var < 0)
        var = 0;
    float invstd = (float)(1.0 / sqrt(var + (double)RN_BN_EPS));
    float fm = (float)mean;
    float scale = gamma * invstd, shift = beta - fm * scale;
    rn_scale_shift(y, x, M, scale, shift, relu);
    *save_mean = fm;
    *save_invstd = invstd;
    double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
    *running_mean = (1.0f - RN_BN_MOMENTUM) * *running_mean + RN_BN_MOMENTUM * fm;
    *running_var = (1.0f - RN_BN_MOMENTUM) * *running_var + RN_BN_MOMENTUM * (float)unbiased;
}

void rn_bn_train_channel(float *restrict y, const float *restrict x, long M,
                         float gamma, float beta, float *running_mean,
                         float *running_var, float *save_mean, float *save_invstd,
                         int relu)
{
    double ls[RN_LANES] = {0}, lq[RN_LANES] = {0}, s = 0, ss = 0;
    long i = 0;
    for (; i + RN_LANES <= M; i += RN_LANES)
        for (int j = 0; j < RN_LANES; j++) {
            ls[j] += x[i + j];
            lq[j] += (double)x[i + j] * x[i + j];
        }
    for (int j = 0; j < RN_LANES; j++) {
        s += ls[j];
        ss += lq[j];
    }
    for (; i < M; i++) {
        s += x[i];
        ss += (double)x[i] * x[i];
    }
    rn_bn_train_from_sums(y, x, M, s, ss, gamma, beta, running_mean, running_var, save_mean,
                          save_invstd, relu);
}

void rn_bn_backward_channel(float *dx, float *dgamma, float *dbeta, const float *dy,
                            const float *restrict x, const float *restrict y,
                            long M, float gamma, float mean, float invstd,
                            int relu, int acc)
{
    /* 8 lanes in vectors (GCC does not vectorise the float -> double sums
     * by itself); the same products as the scalar tail */
    typedef float v8f __attribute__((vector_size(8 * sizeof(float))));
    typedef int v8i __attribute__((vector_size(8 * sizeof(int))));
    typedef double v8d __attribute__((vector_size(8 * sizeof(double))));
    v8d ls = {0}, lq = {0};
    double sdy = 0, sdyx = 0;
    long i = 0;
    for (; i + 8 <= M; i += 8) {
        v8f g, xv, yv;
        memcpy(&g, dy + i, sizeof g);
        memcpy(&xv, x + i, sizeof xv);
        if (relu) {
            memcpy(&yv, y + i, sizeof yv);
            g = (v8f)((v8i)g & (v8i)(yv > 0.0f));
        }
        v8f gx = g * ((xv - mean) * invstd);
        ls += __builtin_convertvector(g, v8d);
        lq += __builtin_convertvector(gx, v8d);
    }
    for (int j = 0; j < 8; j++) {
        sdy += ls[j];
        sdyx += lq[j];
    }
    for (; i < M; i++) {
        float g = relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
        sdy += g;
        sdyx += g * ((x[i] - mean) * invstd);
    }
    *dgamma += (float)sdyx;
    *dbeta += (float)sdy;
    if (!dx)
        return;
    float k = gamma * invstd / (float)M;
    float a = (float)sdy, b = (float)sdyx;
    for (i = 0; i < M; i++) {
        float g = relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
        float xhat = (x[i] - mean) * invstd;
        float v = k * ((float)M * g - a - xhat * b);
        dx[i] = acc ? dx[i] + v : v;
    }
}

void rn_relu_bwd(float *restrict dx, const float *restrict dy,
                 const float *restrict y, long n, int acc)
{
    if (acc)
        for (long i = 0; i < n; i++)
            dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
    else
        for (long i = 0; i < n; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void rn_relu_mask(float *restrict dy, const float *restrict y, long n)
{
    for (long i = 0; i < n; i++)
        dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void rn_copy_acc(float *restrict y, const float *restrict x, long n, int acc)
{
    if (acc)
        for (long i = 0; i < n; i++)
            y[i] += x[i];
    else
        memcpy(y, x, sizeof(float) * (size_t)n);
}

/* one dropout layer in one step: the key, the threshold, the scale */
typedef struct {
    uint64_t key;
    uint32_t t;
    float scale;
} RnDrop;

static RnDrop rn_drop(const RnExec *e, float p, int salt)
{
    return (RnDrop){ rn_dropout_layer_key(e->key, salt), rn_dropout_threshold(p), 1.0f / (1.0f - p) };
}

void rn_dropout_chwn(const RnExec *e, float *restrict y, const float *restrict x, int N, long hw,
                     int C, int c, float p, int salt)
{
    const RnDrop d = rn_drop(e, p, salt);
    for (long q = 0; q < hw; q++)
        for (int i = 0; i < N; i++) {
            long idx = ((long)i * C + c) * hw + q;
            y[q * N + i] = rn_dropout_keep(d.key, idx, d.t) ? x[q * N + i] * d.scale : 0.0f;
        }
}

void rn_dropout_chwn_bwd(const RnExec *e, float *restrict dx, const float *restrict dy, int N,
                         long hw, int C, int c, float p, int salt, int acc)
{
    const RnDrop d = rn_drop(e, p, salt);
    for (long q = 0; q < hw; q++)
        for (int i = 0; i < N; i++) {
            long idx = ((long)i * C + c) * hw + q;
            float g = rn_dropout_keep(d.key, idx, d.t) ? dy[q * N + i] * d.scale : 0.0f;
            if (acc)
                dx[q * N + i] += g;
            else
                dx[q * N + i] = g;
        }
}

void rn_gap_chwn(float *restrict y, const float *restrict x, int N, long hw)
{
    for (int i = 0; i < N; i++)
        y[i] = 0.0f;
    for (long p = 0; p < hw; p++)
        for (int i = 0; i < N; i++)
            y[i] += x[p * N + i];
    const float r = 1.0f / (float)hw;
    for (int i = 0; i < N; i++)
        y[i] *= r;
}

void rn_gap_chwn_bwd(float *restrict dx, const float *restrict dy, int N, long hw, int acc)
{
    const float r = 1.0f / (float)hw;
    for (long p = 0; p < hw; p++) {
        float *restrict d = dx + p * N;
        if (acc)
            for (int i = 0; i < N; i++)
                d[i] += dy[i] * r;
        else
            for (int i = 0; i < N; i++)
                d[i] = dy[i] * r;
    }
}

void rn_add_chwn(float *y, const float *a, const float *b, long n, int relu)
{
    if (relu)
        for (long i = 0; i < n; i++) {
            float v = a[i] + b[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
    else
        for (long i = 0; i < n; i++)
            y[i] = a[i] + b[i];
}

void rn_maxpool_chwn_bwd(float *restrict dx, const float *restrict dy,
                         const float *restrict x, int N, int H, int W, int OH,
                         int OW, int KH, int KW, int S, int P)
{
    float m[N];
    int at[N];
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            for (int n = 0; n < N; n++)
                at[n] = -1;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * S - P + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < KW; kw++) {
                    int iw = ow * S - P + kw;
                    if (iw < 0 || iw >= W)
                        continue;
                    int q = ih * W + iw;
                    const float *restrict xq = x + (size_t)q * N;
                    for (int n = 0; n < N; n++)
                        if (at[n] < 0 || xq[n] > m[n]) {
                            m[n] = xq[n];
                            at[n] = q;
                        }
                }
            }
            const float *restrict g = dy + ((size_t)oh * OW + ow) * N;
            for (int n = 0; n < N; n++)
                if (at[n] >= 0)
                    dx[(size_t)at[n] * N + n] += g[n];
        }
}

void rn_avgpool_chwn_bwd(float *restrict dx, const float *restrict dy, int N, int H,
                         int W, int OH, int OW, int KH, int KW, int S, int P)
{
    float inv = 1.0f / (float)(KH * KW);
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            const float *restrict g = dy + ((size_t)oh * OW + ow) * N;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * S - P + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < KW; kw++) {
                    int iw = ow * S - P + kw;
                    if (iw < 0 || iw >= W)
                        continue;
                    float *restrict d = dx + ((size_t)ih * W + iw) * N;
                    for (int n = 0; n < N; n++)
                        d[n] += g[n] * inv;
                }
            }
        }
}

void rn_padshort_chwn(float *restrict y, const float *restrict x, int N, int C, int H, int W,
                      int CO, int OH, int OW, int S, int lo)
{
    memset(y, 0, sizeof(float) * (size_t)N * (size_t)CO * (size_t)OH * (size_t)OW);
    for (int c = 0; c < C; c++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                memcpy(y + (((long)(c + lo) * OH + oh) * OW + ow) * N,
                       x + (((long)c * H + oh * S) * W + ow * S) * N, sizeof(float) * (size_t)N);
}

void rn_padshort_chwn_bwd(float *restrict dx, const float *restrict dy, int N, int C, int H,
                          int W, int OH, int OW, int S, int lo, int set)
{
    if (set)
        memset(dx, 0, sizeof(float) * (size_t)N * (size_t)C * (size_t)H * (size_t)W);
    for (int c = 0; c < C; c++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float *restrict d = dx + (((long)c * H + oh * S) * W + ow * S) * N;
                const float *restrict s = dy + (((long)(c + lo) * OH + oh) * OW + ow) * N;
                for (int i = 0; i < N; i++)
                    d[i] += s[i];
            }
}

void rn_conv1_small(const RnConvShape *s, int N, int T, const int *taps, const float *bp,
                    const float *x, float *pad1, float *padn, float *y, const float *bias,
                    int relu)
{
    rn_conv1(s, N, T, taps, bp, x, N == 1 ? pad1 : padn, N == 1, y, bias, relu);
}
