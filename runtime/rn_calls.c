/* rn_calls.c - out-of-line copies of rn_gen.h's inline helpers (rn_calls.h).
 * Compiled with the flags generated C gets, as rn_chwn.c is. */
#include "rn_calls.h"

void rn_x_relu_fwd(float *y, const float *x, long n) { rn_relu_fwd(y, x, n); }

void rn_x_bn_infer_channel(float *y, const float *x, long M, float gamma, float beta, float mean,
                           float var, int relu)
{
    rn_bn_infer_channel(y, x, M, gamma, beta, mean, var, relu);
}

void rn_x_maxpool_chwn(float *y, const float *x, int N, int H, int W, int OH, int OW, int KH,
                       int KW, int S, int P)
{
    rn_maxpool_chwn(y, x, N, H, W, OH, OW, KH, KW, S, P);
}

void rn_x_avgpool_chwn(float *y, const float *x, int N, int H, int W, int OH, int OW, int KH,
                       int KW, int S, int P)
{
    rn_avgpool_chwn(y, x, N, H, W, OH, OW, KH, KW, S, P);
}

void rn_x_add_bias(float *y, const float *b, int K, long NP) { rn_add_bias(y, b, K, NP); }

void rn_x_im2col_tap(float *dst, const float *src, int N, int H, int W, int OH, int OW, int S,
                     int P, int kh, int kw)
{
    rn_im2col_tap_n(dst, src, N, H, W, OH, OW, S, P, kh, kw);
}

void rn_x_im2col_row(float *col, const float *in, int N, int ct, int L, int H, int W, int OH,
                     int OW, int S, int P, const int *tkh, const int *tkw)
{
    rn_im2col_row_n(col, in, N, ct, L, H, W, OH, OW, S, P, tkh, tkw);
}

void rn_x_col2im_tap(float *dsrc, const float *ddst, int N, int H, int W, int OH, int OW, int S,
                     int P, int kh, int kw)
{
    rn_col2im_tap_n(dsrc, ddst, N, H, W, OH, OW, S, P, kh, kw);
}

void rn_x_taps_row(float *dst, const float *src, int T, const int *live, int scatter)
{
    rn_taps_row(dst, src, T, live, scatter);
}

void rn_x_bn_fold_filter(float *f, float *fb, const float *w, int C, int KK, int T,
                         const int *live, float cb, float gamma, float beta, float mean, float var)
{
    rn_bn_fold_filter(f, fb, w, C, KK, T, live, cb, gamma, beta, mean, var);
}

void rn_x_wino_conv(float *y, const float *x, const float *U, int N, int C, int K, int H, int W,
                    float *work, const RnEpilogue *ep, int acc)
{
    rn_wino_conv(y, x, U, N, C, K, H, W, work, ep, acc);
}

void rn_x_nchw_to_chwn(float *y, const float *x, int N, int C, long HW)
{
    rn_nchw_to_chwn(y, x, N, C, HW);
}

void rn_x_chwn_to_nchw(float *y, const float *x, int N, int C, long HW)
{
    rn_chwn_to_nchw(y, x, N, C, HW);
}

void rn_x_once(int *done, void (*fill)(void)) { rn_once(done, fill); }
