/* rn_wino.h - Winograd F(2x2, 3x3) convolutions (rn_wino.c has the maths).
 *
 * For 3x3 convolutions with stride 1 and padding 1, groups 1, over CHWN
 * tensors (batch innermost): x (C, H, W, N) -> y (K, H, W, N).  The generated code chooses
 * them (rnetc's `winograd` pass) and sizes the buffers with these calls.
 */
#ifndef RN_WINO_H
#define RN_WINO_H

#include <string.h>
#include "rn_gemm.h"

/* U (16, K, C) = G g G^T for every filter of w (K, C, 3, 3).  transpose:
 * the filter of the input-gradient convolution instead, dy (K channels)
 * -> dx (C channels): U (16, C, K) from w rotated by 180 degrees. */
void rn_wino_filter(float *U, const float *w, int K, int C, int transpose);

/* RN_WINO_SKEW and rn_wino_work_floats: rn_geom.h */

/* The transforms are inline so that the generated code's literal channel
 * counts and sizes reach them: the compiler then unrolls the tile loops. */
/* V (16, C, T) = B^T d B for every 4x4 input tile.  Each plane is first
 * copied into a zero-bordered buffer, so the tiles need no bounds checks
 * and the row transform runs over whole rows. */
static inline void rn_wino_input(float *restrict V, const float *restrict x, int N, int C, int H,
                            int W)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2, PH = 2 * TH + 2, PW = 2 * TW + 2;
    long T = (long)N * TH * TW, CT = (long)C * T + RN_WINO_SKEW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)C * N * H * W >= 32768)
#endif
    for (long cn = 0; cn < (long)C * N; cn++) {
        float pad[PH * PW], t[4][PW];
        const float *xp = x + cn / N * H * W * N + cn % N;
        memset(pad, 0, sizeof pad);
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                pad[(h + 1) * PW + 1 + w] = xp[((long)h * W + w) * N];
        for (int th = 0; th < TH; th++) {
            const float *r0 = pad + 2 * th * PW, *r1 = r0 + PW, *r2 = r1 + PW, *r3 = r2 + PW;
            for (int j = 0; j < PW; j++) { /* B^T d, every column at once */
                t[0][j] = r0[j] - r2[j];
                t[1][j] = r1[j] + r2[j];
                t[2][j] = r2[j] - r1[j];
                t[3][j] = r1[j] - r3[j];
            }
            long o = cn / N * T + (cn % N * TH + th) * TW;
            for (int i = 0; i < 4; i++) { /* (B^T d) B, every tile of the row */
                const float *ti = t[i];
                float *v0 = V + (long)(i * 4) * CT + o, *v1 = v0 + CT, *v2 = v1 + CT, *v3 = v2 + CT;
                for (int tw = 0; tw < TW; tw++) {
                    const float *q = ti + 2 * tw;
                    v0[tw] = q[0] - q[2];
                    v1[tw] = q[1] + q[2];
                    v2[tw] = q[2] - q[1];
                    v3[tw] = q[1] - q[3];
                }
            }
        }
    }
}

/* y (K, H, W, N) (+)= A^T m A per tile, then bias, relu and sums */
static inline void rn_wino_output(float *restrict y, const float *restrict M, int N, int K, int H,
                             int W, const RnEpilogue *ep, int acc)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2, OW = 2 * TW;
    long T = (long)N * TH * TW, KT = (long)K * T + RN_WINO_SKEW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)K * N * H * W >= 32768)
#endif
    for (int k = 0; k < K; k++) {
        float b = ep && ep->bias ? ep->bias[k] : 0.0f;
        int relu = ep && ep->relu;
        for (int n = 0; n < N; n++) {
            float *yp = y + (long)k * H * W * N + n;
            float out[2 * TH * OW];
            for (int th = 0; th < TH; th++) {
                const float *m = M + (long)k * T + ((long)n * TH + th) * TW;
                float t[2][4][TW]; /* A^T m, every tile of the row */
                for (int j = 0; j < 4; j++) {
                    const float *m0 = m + (long)j * KT, *m1 = m0 + 4 * KT, *m2 = m1 + 4 * KT,
                                *m3 = m2 + 4 * KT;
                    for (int tw = 0; tw < TW; tw++) {
                        t[0][j][tw] = m0[tw] + m1[tw] + m2[tw];
                        t[1][j][tw] = m1[tw] - m2[tw] - m3[tw];
                    }
                }
                for (int i = 0; i < 2; i++) {
                    float *o = out + (2 * th + i) * OW;
                    for (int tw = 0; tw < TW; tw++) {
                        o[2 * tw] = t[i][0][tw] + t[i][1][tw] + t[i][2][tw];
                        o[2 * tw + 1] = t[i][1][tw] - t[i][2][tw] - t[i][3][tw];
                    }
                }
            }
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    float v = out[h * OW + w] + b;
                    long o = ((long)h * W + w) * N;
                    if (acc)
                        v += yp[o];
                    yp[o] = relu && v < 0.0f ? 0.0f : v;
                }
        }
        if (ep && (ep->row_sum || ep->row_sumsq)) {
            /* the sums over the final values, in a fixed order */
            double s = 0, ss = 0;
            const float *yk = y + (long)k * N * H * W;
            for (long i = 0; i < (long)N * H * W; i++) {
                s += yk[i];
                ss += (double)yk[i] * yk[i];
            }
            if (ep->row_sum)
                ep->row_sum[k] += s;
            if (ep->row_sumsq)
                ep->row_sumsq[k] += ss;
        }
    }
}

/* y (K, H, W, N) = conv3x3(x (C, H, W, N)) with the filter transformed
 * into U; acc: y += instead of =.  The epilogue (NULL: none) adds a bias
 * per output channel, clamps at 0, and accumulates each channel's sum and
 * sum of squares of the final y into row_sum / row_sumsq. */
static inline void rn_wino_conv(float *y, const float *x, const float *U, int N, int C, int K, int H, int W,
                  float *work, const RnEpilogue *ep, int acc)
{
    int TH = (H + 1) / 2, TW = (W + 1) / 2;
    long T = (long)N * TH * TW;
    long CT = (long)C * T + RN_WINO_SKEW, KT = (long)K * T + RN_WINO_SKEW;
    float *V = work, *M = work + 16 * CT;
    rn_wino_input(V, x, N, C, H, W);
    for (int ij = 0; ij < 16; ij++)
        rn_sgemm(0, 0, K, (int)T, C, 1.0f, U + (long)ij * K * C, C, V + ij * CT, (int)T, 0.0f,
                 M + ij * KT, (int)T);
    rn_wino_output(y, M, N, K, H, W, ep, acc);
}

#endif
