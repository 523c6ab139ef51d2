/* rn_gen.h - inline helpers for generated code.
 *
 * Generated code calls these with literal shapes ("rn_im2col_tap(dst, src,
 * N, 7, 7, 7, 7, 1, 1, 0, 2)"), so after inlining every loop bound is a
 * constant and the compiler specialises each call site; the functions
 * themselves stay generic and readable.
 *
 * Activations inside generated code are laid out C x H x W x N ("CHWN",
 * batch innermost): each channel's values for the whole batch are
 * contiguous, and within a channel each position's N values are.  A
 * convolution is then one GEMM over the batch, out (K, OH*OW*N) =
 * W (K, C*KH*KW) x col (C*KH*KW, OH*OW*N), or (rn_conv.h) a direct
 * convolution that reads x in place a batch vector at a time; batch-norm
 * statistics are contiguous sums, and an fc's input is already the
 * (C*H*W, N) matrix it multiplies.
 */
#ifndef RN_GEN_H
#define RN_GEN_H

#include <math.h>
#include <string.h>
#include "rn_model.h"
#include "rn_gemm.h"
#include "rn_optim.h"
#include "rn_wino.h"

/* RN_DIRECT_MIN_N: rn_geom.h */

#define RN_PRAGMA(x) _Pragma(#x)
/* A generated loop runs on the threads only when there is enough work to
 * pay for it, and never enters a parallel region otherwise (one with a
 * false `if` clause still costs libgomp a team):
 *     if (RN_PAR(work)) { RN_OMP_PAR_FOR for (...) ... } else { for (...) ... }
 * rnetc --no-openmp defines RN_NO_OPENMP to keep the generated loops serial. */
#if defined(_OPENMP) && !defined(RN_NO_OPENMP)
#define RN_PAR_WORK 16384  /* rnetc's PAR_WORK (compiler/emit_c.c) */
#define RN_PAR(work) ((work) >= RN_PAR_WORK)
#define RN_OMP_PAR_FOR RN_PRAGMA(omp parallel for schedule(static))
#else
#define RN_PAR(work) 0
#define RN_OMP_PAR_FOR
#endif

/* rn_once(&done, fill): fill() runs once, before any caller goes past
 * this; the generated code fills its index tables (rn_geom.h) this way on
 * the first forward or backward.  Callers on several threads (OpenMP or
 * not) wait in the critical section while the first fills. */
static inline void rn_once(int *done, void (*fill)(void))
{
#if defined(__GNUC__)
    if (__atomic_load_n(done, __ATOMIC_ACQUIRE))
        return;
#else
    if (*done)
        return;
#endif
#if defined(_OPENMP)
    RN_PRAGMA(omp critical(rn_once))
#endif
    {
        if (!*done) {
            fill();
#if defined(__GNUC__)
            __atomic_store_n(done, 1, __ATOMIC_RELEASE);
#else
            *done = 1;
#endif
        }
    }
}


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

/* GCC 12, inlining rn_im2col_tap_n with constant sizes into a serial
 * loop, warns that the tail memsets may exceed the object size: ranges
 * it cannot narrow through rn_tap_range (0 <= lo <= hi <= OW always). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

/* one tap (kh, kw) of im2col for one channel, batch innermost:
 * dst (OH*OW, N) <- src (H*W, N) shifted by the tap, zero outside.  A
 * position's N values are contiguous, so every copy is a run of N floats
 * (of (hi - lo) * N floats along a row at stride 1).  The in-range rows
 * and columns are computed up front, so the loops carry no conditions. */
static inline __attribute__((always_inline)) void
rn_im2col_tap_n(float *restrict dst, const float *restrict src, int N, int H, int W, int OH,
                int OW, int S, int P, int kh, int kw)
{
    int lo, hi, rlo, rhi;
    rn_tap_range(W, OW, S, P, kw, &lo, &hi);
    rn_tap_range(H, OH, S, P, kh, &rlo, &rhi);
    size_t row = (size_t)OW * N, f = sizeof(float);
    memset(dst, 0, f * rlo * row);
    for (int oh = rlo; oh < rhi; oh++) {
        float *restrict d = dst + oh * row;
        const float *restrict s = src + (size_t)(oh * S - P + kh) * W * N;
        memset(d, 0, f * lo * N);
        if (S == 1) {
            if (hi > lo)
                memcpy(d + (size_t)lo * N, s + (size_t)(lo + kw - P) * N, f * (hi - lo) * N);
        } else {
            for (int ow = lo; ow < hi; ow++)
                memcpy(d + (size_t)ow * N, s + (size_t)(ow * S + kw - P) * N, f * N);
        }
        if (hi < OW)
            memset(d + (size_t)hi * N, 0, f * (size_t)(OW - hi) * N);
    }
    if (rhi < OH)
        memset(dst + rhi * row, 0, f * (size_t)(OH - rhi) * row);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Batch 1 (latency) gets its own copy of each call, every size in it a
 * constant, so that the copies become moves the compiler unrolls.  The
 * generated batch-1 pass (inf_pass1) has N constant too, but not inside a
 * parallel loop, whose body OpenMP outlines with N passed at run time:
 * without these copies (and the pools'), mnist's batch-1 latency measured
 * 0.141 -> 0.175 ms. */
static inline __attribute__((always_inline)) void rn_im2col_tap(float *restrict dst, const float *restrict src, int N, int H,
                                 int W, int OH, int OW, int S, int P, int kh, int kw)
{
    if (N == 1)
        rn_im2col_tap_n(dst, src, 1, H, W, OH, OW, S, P, kh, kw);
    else
        rn_im2col_tap_n(dst, src, N, H, W, OH, OW, S, P, kh, kw);
}

/* Row ct of a few-channel im2col (a stem's): channel ct / L, packed tap
 * ct % L, the tap's (kh, kw) from the tables tkh, tkw of the L taps; the
 * rows are what the threads share when the channels are too few to. */
static inline __attribute__((always_inline)) void
rn_im2col_row_n(float *restrict col, const float *restrict in, int N, int ct, int L, int H, int W,
                int OH, int OW, int S, int P, const int *tkh, const int *tkw)
{
    rn_im2col_tap_n(col + (long)ct * N * (OH * OW), in + (long)(ct / L) * N * (H * W), N, H, W, OH,
                    OW, S, P, tkh[ct % L], tkw[ct % L]);
}

static inline __attribute__((always_inline)) void
rn_im2col_row(float *restrict col, const float *restrict in, int N, int ct, int L, int H, int W,
              int OH, int OW, int S, int P, const int *tkh, const int *tkw)
{
    if (N == 1)
        rn_im2col_row_n(col, in, 1, ct, L, H, W, OH, OW, S, P, tkh, tkw);
    else
        rn_im2col_row_n(col, in, N, ct, L, H, W, OH, OW, S, P, tkh, tkw);
}

/* the adjoint of rn_im2col_tap: dsrc (H*W, N) += ddst (OH*OW, N) */
static inline __attribute__((always_inline)) void
rn_col2im_tap_n(float *restrict dsrc, const float *restrict ddst, int N, int H, int W, int OH,
                int OW, int S, int P, int kh, int kw)
{
    int lo, hi, rlo, rhi;
    rn_tap_range(W, OW, S, P, kw, &lo, &hi);
    rn_tap_range(H, OH, S, P, kh, &rlo, &rhi);
    for (int oh = rlo; oh < rhi; oh++)
        for (int ow = lo; ow < hi; ow++) {
            const float *restrict d = ddst + ((size_t)oh * OW + ow) * N;
            float *restrict s = dsrc + ((size_t)(oh * S - P + kh) * W + ow * S + kw - P) * N;
            for (int n = 0; n < N; n++)
                s[n] += d[n];
        }
}

static inline __attribute__((always_inline)) void rn_col2im_tap(float *restrict dsrc, const float *restrict ddst, int N, int H,
                                 int W, int OH, int OW, int S, int P, int kh, int kw)
{
    if (N == 1)
        rn_col2im_tap_n(dsrc, ddst, 1, H, W, OH, OW, S, P, kh, kw);
    else
        rn_col2im_tap_n(dsrc, ddst, N, H, W, OH, OW, S, P, kh, kw);
}

/* A filter row's live taps (the convolution's dead taps dropped):
 * gather: dst[l] = src[live[l]] for l < T (dst: T taps, src: KK);
 * scatter (the gradient back): dst[live[l]] += src[l] (dst: KK, src: T). */
static inline __attribute__((always_inline)) void
rn_taps_row(float *restrict dst, const float *restrict src, int T, const int *live, int scatter)
{
    if (scatter)
        for (int l = 0; l < T; l++)
            dst[live[l]] += src[l];
    else
        for (int l = 0; l < T; l++)
            dst[l] = src[live[l]];
}

/* Batch norm folded into filter k of a convolution, for inference:
 * s = gamma / sqrt(var + eps), f (KK taps per input channel, of them T
 * live: tap live[l], or all with live NULL) = w s over the C input
 * channels, and the bias *fb = (cb - mean) s + beta. */
static inline __attribute__((always_inline)) void
rn_bn_fold_filter(float *restrict f, float *restrict fb, const float *restrict w, int C, int KK,
                  int T, const int *live, float cb, float gamma, float beta, float mean, float var)
{
    float s = gamma / sqrtf(var + RN_BN_EPS);
    if (live)
        for (int c = 0; c < C; c++)
            for (int l = 0; l < T; l++)
                f[(long)c * T + l] = w[(long)c * KK + live[l]] * s;
    else
        for (long i = 0; i < (long)C * KK; i++)
            f[i] = w[i] * s;
    *fb = (cb - mean) * s + beta;
}

/* y[k][i] += b[k] over (K, NP) */
static inline void rn_add_bias(float *restrict y, const float *restrict b, int K, long NP)
{
    for (int k = 0; k < K; k++)
        for (long i = 0; i < NP; i++)
            y[k * NP + i] += b[k];
}

/* Sums in double run as RN_LANES independent partial sums, added in a
 * fixed order at the end: a single running sum is one add per 4 cycles
 * (the add's latency), lanes let the compiler vectorise; the result does
 * not depend on the threads. */
#define RN_LANES 8

/* db[k] += sum_i dy[k][i] */
void rn_bias_grad(float *restrict db, const float *restrict dy, int K, long NP);

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
void rn_bn_train_from_sums(float *restrict y, const float *restrict x, long M,
                           double s, double ss, float gamma, float beta,
                           float *running_mean, float *running_var,
                           float *save_mean, float *save_invstd, int relu);

/* the same, taking the sums itself in one pass */
void rn_bn_train_channel(float *restrict y, const float *restrict x, long M,
                         float gamma, float beta, float *running_mean,
                         float *running_var, float *save_mean, float *save_invstd,
                         int relu);

static inline void rn_bn_infer_channel(float *y, const float *x, long M, float gamma, float beta,
                                       float mean, float var, int relu)
{
    float scale = gamma / sqrtf(var + RN_BN_EPS), shift = beta - mean * scale;
    rn_scale_shift(y, x, M, scale, shift, relu);
}

/* batch norm backward for one channel.  With relu, dy is first masked by
 * the forward output y (y > 0).  dx may be dy itself (written in place),
 * or NULL; acc: dx += the gradient, else dx = it. */
void rn_bn_backward_channel(float *dx, float *dgamma, float *dbeta, const float *dy,
                            const float *restrict x, const float *restrict y,
                            long M, float gamma, float mean, float invstd,
                            int relu, int acc);

static inline void rn_relu_fwd(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* dx (+)= dy where the forward output y > 0 */
void rn_relu_bwd(float *restrict dx, const float *restrict dy,
                 const float *restrict y, long n, int acc);

/* a fused relu's backward: dy = 0 where the output y is not positive */
void rn_relu_mask(float *restrict dy, const float *restrict y, long n);

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
void rn_copy_acc(float *restrict y, const float *restrict x, long n, int acc);

/* dropout of channel c of C (training): y (hw, N) = x, each element
 * kept with probability 1 - p and scaled by 1 / (1 - p), the mask drawn
 * from e->key and the layer's salt (rn_dropout.h); backward: dx (+)= dy
 * where kept, scaled the same */
void rn_dropout_chwn(const RnExec *e, float *restrict y, const float *restrict x, int N, long hw,
                     int C, int c, float p, int salt);
void rn_dropout_chwn_bwd(const RnExec *e, float *restrict dx, const float *restrict dy, int N,
                         long hw, int C, int c, float p, int salt, int acc);

/* global average pooling of one channel: y (N) = the mean over hw
 * positions of x (hw, N), summed in position order */
void rn_gap_chwn(float *restrict y, const float *restrict x, int N, long hw);

/* its backward: dx (hw, N) (+)= dy (N) / hw at every position */
void rn_gap_chwn_bwd(float *restrict dx, const float *restrict dy, int N, long hw, int acc);

/* y = a + b over n, rectified with relu; y may be a or b (in place) */
void rn_add_chwn(float *y, const float *a, const float *b, long n, int relu);
/* option A's zero-padded shortcut: y (CO, OH, OW, N) takes x (C, H, W, N)
 * subsampled by S in channels lo .. lo+C-1, zero elsewhere; backward, dx
 * (cleared first with set) += dy's channels lo .. lo+C-1 at the sampled
 * positions */
void rn_padshort_chwn(float *restrict y, const float *restrict x, int N, int C, int H, int W,
                      int CO, int OH, int OW, int S, int lo);
void rn_padshort_chwn_bwd(float *restrict dx, const float *restrict dy, int N, int C, int H,
                          int W, int OH, int OW, int S, int lo, int set);
/* rn_conv1 for a batch below RN_DIRECT_MIN_N: batch 1 reads x in place
 * through pad1's zero border (NULL: no padding), more images are copied
 * into padn */
void rn_conv1_small(const RnConvShape *s, int N, int T, const int *taps, const float *bp,
                    const float *x, float *pad1, float *padn, float *y, const float *bias,
                    int relu);

/* The pools work on one channel, batch innermost: x (H*W, N) -> y (OH*OW, N),
 * each output position a vector over the batch. */

/* max pool; padding never wins */
static inline __attribute__((always_inline)) void
rn_maxpool_chwn_n(float *restrict y, const float *restrict x, int N, int H, int W, int OH, int OW,
                  int KH, int KW, int S, int P)
{
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float *restrict yp = y + ((size_t)oh * OW + ow) * N;
            for (int n = 0; n < N; n++)
                yp[n] = -INFINITY;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * S - P + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < KW; kw++) {
                    int iw = ow * S - P + kw;
                    if (iw < 0 || iw >= W)
                        continue;
                    const float *restrict xq = x + ((size_t)ih * W + iw) * N;
                    for (int n = 0; n < N; n++)
                        yp[n] = xq[n] > yp[n] ? xq[n] : yp[n];
                }
            }
        }
}

static inline __attribute__((always_inline)) void rn_maxpool_chwn(float *restrict y, const float *restrict x, int N, int H, int W,
                                   int OH, int OW, int KH, int KW, int S, int P)
{
    if (N == 1)
        rn_maxpool_chwn_n(y, x, 1, H, W, OH, OW, KH, KW, S, P);
    else
        rn_maxpool_chwn_n(y, x, N, H, W, OH, OW, KH, KW, S, P);
}

/* the gradient goes to the first maximum in scan order, as the reference */
void rn_maxpool_chwn_bwd(float *restrict dx, const float *restrict dy,
                         const float *restrict x, int N, int H, int W, int OH,
                         int OW, int KH, int KW, int S, int P);

/* average pool; padding counts in the divisor */
static inline __attribute__((always_inline)) void
rn_avgpool_chwn_n(float *restrict y, const float *restrict x, int N, int H, int W, int OH, int OW,
                  int KH, int KW, int S, int P)
{
    float inv = 1.0f / (float)(KH * KW);
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            float *restrict yp = y + ((size_t)oh * OW + ow) * N;
            for (int n = 0; n < N; n++)
                yp[n] = 0.0f;
            for (int kh = 0; kh < KH; kh++) {
                int ih = oh * S - P + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < KW; kw++) {
                    int iw = ow * S - P + kw;
                    if (iw < 0 || iw >= W)
                        continue;
                    const float *restrict xq = x + ((size_t)ih * W + iw) * N;
                    for (int n = 0; n < N; n++)
                        yp[n] += xq[n];
                }
            }
            for (int n = 0; n < N; n++)
                yp[n] *= inv;
        }
}

static inline __attribute__((always_inline)) void rn_avgpool_chwn(float *restrict y, const float *restrict x, int N, int H, int W,
                                   int OH, int OW, int KH, int KW, int S, int P)
{
    if (N == 1)
        rn_avgpool_chwn_n(y, x, 1, H, W, OH, OW, KH, KW, S, P);
    else
        rn_avgpool_chwn_n(y, x, N, H, W, OH, OW, KH, KW, S, P);
}

void rn_avgpool_chwn_bwd(float *restrict dx, const float *restrict dy, int N, int H,
                         int W, int OH, int OW, int KH, int KW, int S, int P);

/* NCHW (N, C, HW) <-> CHWN (C, HW, N): the batch goes innermost */
static inline void rn_nchw_to_chwn(float *restrict y, const float *restrict x, int N, int C,
                                   long HW)
{
    for (int n = 0; n < N; n++)
        for (long i = 0; i < (long)C * HW; i++)
            y[i * N + n] = x[(long)n * C * HW + i];
}

static inline void rn_chwn_to_nchw(float *restrict y, const float *restrict x, int N, int C,
                                   long HW)
{
    for (int n = 0; n < N; n++)
        for (long i = 0; i < (long)C * HW; i++)
            y[(long)n * C * HW + i] = x[i * N + n];
}

#endif
