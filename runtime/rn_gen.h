/* rn_gen.h - inline helpers for generated code.
 *
 * Generated code calls these with literal shapes ("rn_im2col_tap(dst, src,
 * N, 7, 7, 7, 7, 1, 1, 0, 2)"), so after inlining every loop bound is a
 * constant and the compiler specialises each call site; the functions
 * themselves stay generic and readable.
 *
 * Activations inside generated code are laid out C x N x H x W ("CNHW"):
 * each channel's values for the whole batch are contiguous.  A convolution
 * is then one GEMM over the batch, out (K, N*OH*OW) = W (K, C*KH*KW) x
 * col (C*KH*KW, N*OH*OW), and batch-norm statistics are contiguous sums.
 */
#ifndef RN_GEN_H
#define RN_GEN_H

#include <math.h>
#include <string.h>
#include "rn_model.h"
#include "rn_gemm.h"
#include "rn_optim.h"
#include "rn_wino.h"

#define RN_PRAGMA(x) _Pragma(#x)
#if defined(_OPENMP) && !defined(RN_NO_OPENMP)
/* parallelise a loop only when there is enough work to pay for it;
 * rnetc --no-openmp defines RN_NO_OPENMP to keep generated loops serial */
#define RN_OMP_FOR(work) RN_PRAGMA(omp parallel for schedule(static) if ((work) >= 32768))
#else
#define RN_OMP_FOR(work)
#endif


/* the output columns of a window tap that read inside the input:
 * iw = ow*S - P + k in [0, W)  <=>  lo <= ow < hi */
static inline void rn_tap_range(int W, int OW, int S, int P, int k, int *lo, int *hi)
{
    int l = P - k > 0 ? (P - k + S - 1) / S : 0;
    int h = (W - 1 + P - k) >= 0 ? (W - 1 + P - k) / S + 1 : 0;
    if (h > OW)
        h = OW;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* one tap (kh, kw) of im2col for one channel:
 * dst (N, OH, OW) <- src (N, H, W) shifted by the tap, zero outside.
 * The in-range rows and columns are computed up front, so the loops carry
 * no conditions (GCC 12 at -O3 -march=native miscompiled an earlier form
 * that tested the row inside the loop; tests/unit/test_gen.c keeps it
 * honest). */
static inline void rn_im2col_tap(float *restrict dst, const float *restrict src, int N, int H,
                                 int W, int OH, int OW, int S, int P, int kh, int kw)
{
    int lo, hi, rlo, rhi;
    rn_tap_range(W, OW, S, P, kw, &lo, &hi);
    rn_tap_range(H, OH, S, P, kh, &rlo, &rhi);
    for (int n = 0; n < N; n++) {
        float *restrict dn = dst + (long)n * OH * OW;
        const float *restrict sn = src + (long)n * H * W;
        for (long i = 0; i < (long)rlo * OW; i++)
            dn[i] = 0.0f;
        for (int oh = rlo; oh < rhi; oh++) {
            float *restrict d = dn + (long)oh * OW;
            const float *restrict s = sn + (long)(oh * S - P + kh) * W;
            for (int ow = 0; ow < lo; ow++)
                d[ow] = 0.0f;
            for (int ow = lo; ow < hi; ow++)
                d[ow] = s[ow * S + kw - P];
            for (int ow = hi; ow < OW; ow++)
                d[ow] = 0.0f;
        }
        for (long i = (long)rhi * OW; i < (long)OH * OW; i++)
            dn[i] = 0.0f;
    }
}

/* the adjoint of rn_im2col_tap: dsrc (N, H, W) += ddst (N, OH, OW) */
static inline void rn_col2im_tap(float *restrict dsrc, const float *restrict ddst, int N, int H,
                                 int W, int OH, int OW, int S, int P, int kh, int kw)
{
    int lo, hi, rlo, rhi;
    rn_tap_range(W, OW, S, P, kw, &lo, &hi);
    rn_tap_range(H, OH, S, P, kh, &rlo, &rhi);
    for (int n = 0; n < N; n++)
        for (int oh = rlo; oh < rhi; oh++) {
            const float *restrict d = ddst + ((long)n * OH + oh) * OW;
            float *restrict s = dsrc + ((long)n * H + oh * S - P + kh) * W;
            for (int ow = lo; ow < hi; ow++)
                s[ow * S + kw - P] += d[ow];
        }
}

/* im2col of one tap for small planes: dst (N, P) = src (N, HW) at idx[p],
 * 0 where idx[p] < 0 (padding).  P, HW and the table are constants at the
 * call site, so the p loop unrolls into plain copies. */
static inline void rn_im2col_idx(float *restrict dst, const float *restrict src, int N, int HW,
                                 int P, const int *restrict idx)
{
    for (int n = 0; n < N; n++) {
        const float *s = src + (long)n * HW;
        float *d = dst + (long)n * P;
        for (int p = 0; p < P; p++)
            d[p] = idx[p] >= 0 ? s[idx[p]] : 0.0f;
    }
}

/* its adjoint: dsrc (N, HW) at idx[p] += ddst (N, P) */
static inline void rn_col2im_idx(float *restrict dsrc, const float *restrict ddst, int N, int HW,
                                 int P, const int *restrict idx)
{
    for (int n = 0; n < N; n++) {
        float *s = dsrc + (long)n * HW;
        const float *d = ddst + (long)n * P;
        for (int p = 0; p < P; p++)
            if (idx[p] >= 0)
                s[idx[p]] += d[p];
    }
}

/* y[k][i] += b[k] over (K, NP) */
static inline void rn_add_bias(float *restrict y, const float *restrict b, int K, long NP)
{
    for (int k = 0; k < K; k++)
        for (long i = 0; i < NP; i++)
            y[k * NP + i] += b[k];
}

/* db[k] += sum_i dy[k][i] */
static inline void rn_bias_grad(float *restrict db, const float *restrict dy, int K, long NP)
{
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (long i = 0; i < NP; i++)
            s += dy[k * NP + i];
        db[k] += (float)s;
    }
}

/* y = x * scale + shift over M values, then max(0, y) when relu (y may be x) */
static inline void rn_scale_shift(float *y, const float *x, long M, float scale, float shift,
                                  int relu)
{
    if (relu)
        for (long i = 0; i < M; i++) {
            float v = x[i] * scale + shift;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    else
        for (long i = 0; i < M; i++)
            y[i] = x[i] * scale + shift;
}

/* batch norm, training mode, one channel of M values x whose sum s and sum
 * of squares ss (in double) are known, e.g. from the conv's GEMM epilogue;
 * then a relu when asked (a fused relu: y = max(0, bn(x))). */
static inline void rn_bn_train_from_sums(float *restrict y, const float *restrict x, long M,
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

/* the same, taking the sums itself in one pass */
static inline void rn_bn_train_channel(float *restrict y, const float *restrict x, long M,
                                       float gamma, float beta, float *running_mean,
                                       float *running_var, float *save_mean, float *save_invstd,
                                       int relu)
{
    double s = 0, ss = 0;
    for (long i = 0; i < M; i++) {
        s += x[i];
        ss += (double)x[i] * x[i];
    }
    rn_bn_train_from_sums(y, x, M, s, ss, gamma, beta, running_mean, running_var, save_mean,
                          save_invstd, relu);
}

static inline void rn_bn_infer_channel(float *y, const float *x, long M, float gamma, float beta,
                                       float mean, float var, int relu)
{
    float scale = gamma / sqrtf(var + RN_BN_EPS), shift = beta - mean * scale;
    rn_scale_shift(y, x, M, scale, shift, relu);
}

/* batch norm backward for one channel.  With relu, dy is first masked by
 * the forward output y (y > 0).  dx may be dy itself (written in place),
 * or NULL; acc: dx += the gradient, else dx = it. */
static inline void rn_bn_backward_channel(float *dx, float *dgamma, float *dbeta, const float *dy,
                                          const float *restrict x, const float *restrict y,
                                          long M, float gamma, float mean, float invstd,
                                          int relu, int acc)
{
    double sdy = 0, sdyx = 0;
    for (long i = 0; i < M; i++) {
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
    for (long i = 0; i < M; i++) {
        float g = relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
        float xhat = (x[i] - mean) * invstd;
        float v = k * ((float)M * g - a - xhat * b);
        dx[i] = acc ? dx[i] + v : v;
    }
}

static inline void rn_relu_fwd(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* dx (+)= dy where the forward output y > 0 */
static inline void rn_relu_bwd(float *restrict dx, const float *restrict dy,
                               const float *restrict y, long n, int acc)
{
    if (acc)
        for (long i = 0; i < n; i++)
            dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
    else
        for (long i = 0; i < n; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* a fused relu's backward: dy = 0 where the output y is not positive */
static inline void rn_relu_mask(float *restrict dy, const float *restrict y, long n)
{
    for (long i = 0; i < n; i++)
        dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* y = relu(y + b) over one row of n (bias may be 0: none) */
static inline void rn_bias_relu_row(float *restrict y, float b, long n, int relu)
{
    if (relu)
        for (long i = 0; i < n; i++) {
            float v = y[i] + b;
            y[i] = v > 0.0f ? v : 0.0f;
        }
    else
        for (long i = 0; i < n; i++)
            y[i] += b;
}

/* dy (+)= x over n */
static inline void rn_copy_acc(float *restrict y, const float *restrict x, long n, int acc)
{
    if (acc)
        for (long i = 0; i < n; i++)
            y[i] += x[i];
    else
        memcpy(y, x, sizeof(float) * (size_t)n);
}

/* max pool over one plane (H, W) -> (OH, OW); padding never wins */
static inline void rn_maxpool_plane(float *restrict y, const float *restrict x, int H, int W,
                                    int OH, int OW, int KH, int KW, int S, int P)
{
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float m = -INFINITY;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * S - P + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < KW; kw++) {
                    int iw = ow * S - P + kw;
                    if (iw >= 0 && iw < W && x[ih * W + iw] > m)
                        m = x[ih * W + iw];
                }
            }
            y[oh * OW + ow] = m;
        }
}

/* the gradient goes to the first maximum in scan order, as the reference */
static inline void rn_maxpool_plane_bwd(float *restrict dx, const float *restrict dy,
                                        const float *restrict x, int H, int W, int OH, int OW,
                                        int KH, int KW, int S, int P)
{
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float m = -INFINITY;
            int at = -1;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * S - P + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < KW; kw++) {
                    int iw = ow * S - P + kw;
                    if (iw >= 0 && iw < W && (at < 0 || x[ih * W + iw] > m)) {
                        m = x[ih * W + iw];
                        at = ih * W + iw;
                    }
                }
            }
            if (at >= 0)
                dx[at] += dy[oh * OW + ow];
        }
}

/* average pool over one plane; padding counts in the divisor */
static inline void rn_avgpool_plane(float *restrict y, const float *restrict x, int H, int W,
                                    int OH, int OW, int KH, int KW, int S, int P)
{
    float inv = 1.0f / (float)(KH * KW);
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float s = 0;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * S - P + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < KW; kw++) {
                    int iw = ow * S - P + kw;
                    if (iw >= 0 && iw < W)
                        s += x[ih * W + iw];
                }
            }
            y[oh * OW + ow] = s * inv;
        }
}

static inline void rn_avgpool_plane_bwd(float *restrict dx, const float *restrict dy, int H,
                                        int W, int OH, int OW, int KH, int KW, int S, int P)
{
    float inv = 1.0f / (float)(KH * KW);
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float g = dy[oh * OW + ow] * inv;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * S - P + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < KW; kw++) {
                    int iw = ow * S - P + kw;
                    if (iw >= 0 && iw < W)
                        dx[ih * W + iw] += g;
                }
            }
        }
}

/* NCHW (N, C, HW) <-> CNHW (C, N, HW) */
static inline void rn_nchw_to_cnhw(float *restrict y, const float *restrict x, int N, int C,
                                   long HW)
{
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++)
            memcpy(y + ((long)c * N + n) * HW, x + ((long)n * C + c) * HW, sizeof(float) * HW);
}

static inline void rn_cnhw_to_nchw(float *restrict y, const float *restrict x, int N, int C,
                                   long HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            memcpy(y + ((long)n * C + c) * HW, x + ((long)c * N + n) * HW, sizeof(float) * HW);
}

/* CNHW (C, N, HW) -> per-image feature columns (C*HW, N), for an fc */
static inline void rn_flatten_cols(float *restrict y, const float *restrict x, int N, int C,
                                   long HW)
{
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++)
            for (long p = 0; p < HW; p++)
                y[((long)c * HW + p) * N + n] = x[((long)c * N + n) * HW + p];
}

static inline void rn_unflatten_cols_add(float *restrict dx, const float *restrict dy, int N,
                                         int C, long HW)
{
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++)
            for (long p = 0; p < HW; p++)
                dx[((long)c * N + n) * HW + p] += dy[((long)c * HW + p) * N + n];
}

#endif
