/* rn_calls.h - out-of-line copies of rn_gen.h's inline helpers, for
 * generated code that cannot inline C: the LLVM backend's modules call
 * these (compiler/kir_sigs.h lists every runtime function a module calls,
 * with its signature, and tests/unit/test_kir_sigs.c checks that list
 * against these prototypes).  Each is the inline helper itself, so both
 * backends run the same arithmetic in the same order. */
#ifndef RN_CALLS_H
#define RN_CALLS_H
#include "rn_gen.h"

void rn_x_relu_fwd(float *y, const float *x, long n);
void rn_x_bn_infer_channel(float *y, const float *x, long M, float gamma, float beta, float mean,
                           float var, int relu);
void rn_x_maxpool_chwn(float *y, const float *x, int N, int H, int W, int OH, int OW, int KH,
                       int KW, int S, int P);
void rn_x_avgpool_chwn(float *y, const float *x, int N, int H, int W, int OH, int OW, int KH,
                       int KW, int S, int P);
void rn_x_add_bias(float *y, const float *b, int K, long NP);
void rn_x_im2col_tap(float *dst, const float *src, int N, int H, int W, int OH, int OW, int S,
                     int P, int kh, int kw);
void rn_x_im2col_row(float *col, const float *in, int N, int ct, int L, int H, int W, int OH,
                     int OW, int S, int P, const int *tkh, const int *tkw);
void rn_x_col2im_tap(float *dsrc, const float *ddst, int N, int H, int W, int OH, int OW, int S,
                     int P, int kh, int kw);
void rn_x_taps_row(float *dst, const float *src, int T, const int *live, int scatter);
void rn_x_bn_fold_filter(float *f, float *fb, const float *w, int C, int KK, int T,
                         const int *live, float cb, float gamma, float beta, float mean,
                         float var);
void rn_x_wino_conv(float *y, const float *x, const float *U, int N, int C, int K, int H, int W,
                    float *work, const RnEpilogue *ep, int acc);
void rn_x_nchw_to_chwn(float *y, const float *x, int N, int C, long HW);
void rn_x_chwn_to_nchw(float *y, const float *x, int N, int C, long HW);
void rn_x_once(int *done, void (*fill)(void));

#endif
