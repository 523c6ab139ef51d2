/* rn_wino.c - Winograd F(2x2, 3x3) convolution over CHWN tensors (batch innermost).
 *
 * A 3x3 convolution with stride 1 and padding 1 computes each 2x2 block of
 * outputs from a 4x4 block of inputs with 16 multiplications per (input,
 * output) channel pair instead of 36 (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2015):
 *
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 *
 * with g the 3x3 filter, d the 4x4 input tile and
 *
 *     B^T = | 1  0 -1  0 |    G = | 1    0    0  |    A^T = | 1  1  1  0 |
 *           | 0  1  1  0 |        | 1/2  1/2  1/2|          | 0  1 -1 -1 |
 *           | 0 -1  1  0 |        | 1/2 -1/2  1/2|
 *           | 0  1  0 -1 |        | 0    0    1  |
 *
 * Over a whole batch the elementwise product becomes 16 independent GEMMs,
 * one per position (i, j) of the 4x4 tile: M_ij (K, T) = U_ij (K, C) x
 * V_ij (C, T), T = N * tiles per image.  The transformed input V takes
 * 16/4 = 4 floats per input pixel against im2col's 9, so it is lighter on
 * memory too.  The backward pass's input gradient is the same convolution
 * of dy with the filter flipped and its channels swapped (rn_wino_filter's
 * `transpose`); the weight gradient stays an im2col GEMM.
 *
 * Layouts: x (C, H, W, N), y (K, H, W, N), w (K, C, 3, 3) as PyTorch;
 * U (16, K, C); V (16, C, T); M (16, K, T).  Every loop over channels is an
 * OpenMP loop with a static schedule, so results are the same from run to
 * run for a given thread count.
 */
#include <string.h>
#include "rn_gemm.h"
#include "rn_wino.h"

void rn_wino_filter(float *restrict U, const float *restrict w, int K, int C, int transpose)
{
    /* transpose: U is for the convolution of dy (K channels in) giving dx
     * (C channels out): filter'[c][k] = w[k][c] rotated by 180 degrees */
    int KO = transpose ? C : K, CI = transpose ? K : C;
    long KC = (long)KO * CI;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (KC >= 4096)
#endif
    for (long p = 0; p < KC; p++) {
        int ko = (int)(p / CI), ci = (int)(p % CI);
        float g[3][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                g[i][j] = transpose ? w[((long)ci * C + ko) * 9 + (2 - i) * 3 + (2 - j)]
                                    : w[((long)ko * C + ci) * 9 + i * 3 + j];
        float t[4][3]; /* G g */
        for (int j = 0; j < 3; j++) {
            t[0][j] = g[0][j];
            t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
            t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
            t[3][j] = g[2][j];
        }
        for (int i = 0; i < 4; i++) { /* (G g) G^T */
            float u[4];
            u[0] = t[i][0];
            u[1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            u[2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            u[3] = t[i][2];
            for (int j = 0; j < 4; j++)
                U[(long)(i * 4 + j) * KC + p] = u[j];
        }
    }
}


