/* rn_gemm.h - single-precision matrix multiply for the runtime.
 *
 * Every convolution the generated code runs is im2col + GEMM (forward,
 * and both halves of the backward pass), and every fully connected layer
 * is a GEMM, so this one routine is where most training time goes.
 *
 * The interface is cblas_sgemm's for row-major matrices, less the layout
 * argument:
 *
 *     C = alpha * op(A) * op(B) + beta * C
 *
 *     op(A) is M x K: A itself (M rows of lda floats) when transA == 0,
 *                     or A^T where A is K rows of lda floats, when transA != 0;
 *     op(B) is K x N: B (K rows of ldb) when transB == 0,
 *                     or B^T where B is N rows of ldb, when transB != 0;
 *     C     is M x N, M rows of ldc floats.
 *
 * The convolution layers use it as
 *
 *     forward      y  = W   * col       rn_sgemm(0, 0, Cout, HW, CKK, ...)
 *     input grad   dcol = W^T * dy      rn_sgemm(1, 0, CKK, HW, Cout, ...)
 *     weight grad  dW += dy * col^T     rn_sgemm(0, 1, Cout, CKK, HW, ..., 1.0f, dW, ...)
 *
 * Rules: beta == 0 overwrites C without reading it (C may hold garbage,
 * NaN included); K == 0 or alpha == 0 leaves C = beta * C; M or N == 0 does
 * nothing.  C must not overlap A or B.  The leading dimensions must be at
 * least the row lengths (lda >= K or M, ldb >= N or K, ldc >= N).
 *
 * rn_sgemm uses the OpenMP threads (omp_get_max_threads) when the runtime is
 * built with -fopenmp and the product is large enough to pay for them; when
 * called from inside a parallel region it runs on the calling thread only.
 * rn_sgemm_st never starts threads: for callers that parallelise outside
 * (one image per thread).  Both are safe to call from several threads at
 * once; each thread packs into its own buffers (3.5 MB, allocated on the
 * thread's first call and never freed, so a short-lived thread that calls
 * them leaves its buffers behind: call them from long-lived threads, such
 * as OpenMP's).  Should that allocation fail, the product is still right,
 * from plain loops, only slow.  Products that split the reduction over
 * threads (long K, small C: the weight gradients) and the epilogue's
 * statistics also use a scratch buffer of the calling thread, grown when a
 * call needs more and otherwise reused, so a steady training loop makes no
 * allocation.
 *
 * Results are deterministic: the same inputs and thread count give
 * bit-identical C, whatever the scheduling.
 */
#ifndef RN_GEMM_H
#define RN_GEMM_H

#include "rn_geom.h"  /* the sizes of the work buffers below */

void rn_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

void rn_sgemm_st(int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc);

/* Fused epilogue: rn_sgemm_ep computes
 *
 *     C = alpha * op(A) * op(B) + beta * C
 *     C[i][j] += bias[i]               when bias != NULL   bias (M)
 *     C[i][j] = max(C[i][j], 0)        when relu != 0
 *     row_sum[i]   += sum_j C[i][j]    when row_sum != NULL    (M), double
 *     row_sumsq[i] += sum_j C[i][j]^2  when row_sumsq != NULL  (M), double
 *
 * the statistics over the final values of C, summed in double.  The bias,
 * relu and statistics are applied to each tile of C as the micro-kernel
 * stores it after its last K block, while it is still in registers, so a
 * convolution's bias + relu (inference) or its batch-norm statistics
 * (training: per-channel sum and sum of squares over N*H*W, C being
 * (channels, N*H*W)) cost no second pass over C.  The sums are taken in a
 * fixed order for a given shape and thread count, so the results are
 * bit-identical from run to run.  ep == NULL, or all fields empty, is
 * rn_sgemm.  K == 0 or alpha == 0 applies the epilogue to beta * C.
 * Dimensions must be below 2^31; row_sum and row_sumsq must not overlap
 * C. */
typedef struct {
    const float *bias;  /* (M) added to every row, or NULL */
    int relu;           /* clamp at 0 after the bias */
    double *row_sum;    /* (M) accumulates sum_j C[i][j], or NULL */
    double *row_sumsq;  /* (M) accumulates sum_j C[i][j]^2, or NULL */
} RnEpilogue;

void rn_sgemm_ep(int transA, int transB, long M, long N, long K, float alpha,
                 const float *A, long lda, const float *B, long ldb, float beta,
                 float *C, long ldc, const RnEpilogue *ep);

/* Direct convolution over batch-innermost tensors (CHWN, see rn_gen.h),
 * with the GEMM's micro-kernel: no im2col, no packing of the input, and
 * each output position reads only the taps that fall inside the input.
 *
 *   y[m][p][n] = beta * y[m][p][n]
 *              + sum over the entries e of position p, over c < C:
 *                  weight(m, c, tap[e]) * x[c][q[e]][n]
 *
 * for m < M, p < P, n < N; x's channel c starts at x + c * ldx, position
 * q's batch vector at + q * N; y's row m at y + m * P * N.  The entries of
 * output position p are e = pos[p] .. pos[p+1]-1, each a pair
 * tq[2e] = tap, tq[2e+1] = q (the compiler emits them as constants: every
 * (tap, input position) pair whose input lies inside the image, so
 * padding costs nothing).  The epilogue is rn_sgemm_ep's, applied to y
 * (bias and relu per row m; row sums over the final values).
 *
 * The weights are packed first by rn_conv_pack (ap: rn_conv_pack_floats
 * floats), with the ISA the calls after it use: packed tap t < T is w's
 * tap taps[t] (t itself when taps is NULL) of Tw, and weight(m, c, tap) is
 * w[(m*C + c)*Tw + tap], or w[(c*M + m)*Tw + tap] with transpose (the
 * filter of an input-gradient convolution: the forward filter's channels
 * swapped).  So a filter whose dead taps (rnetc's dead-taps pass) read
 * only padding packs its live taps alone.
 * Threads: a static share of (position, batch block, row group) items
 * each; the statistics are summed per thread, then in thread order: same
 * inputs and thread count, same bits. */
/* Small batches (latency; batch 1 above all): the convolution of N
 * images, x (C, H, W, N) batch innermost -> y (M, OH, OW, N),
 * y[m][p][n] = relu?(bias[m] + sum over c < C and the taps of
 * weight(m, c, tap) * x[c][ih][iw][n]), zero padding PAD, stride S.  The
 * register tile holds a few output positions of one image by a vector of
 * output channels.  The input is read in place at N == 1 without
 * padding; otherwise from xpad, N zero-padded images of
 * rn_conv1_pad_floats floats each, which the call fills: with zeroed, only
 * with x's values (the padding around them is zero already: the caller
 * zeroed xpad once and keeps it for the calls), else whole.  The filter,
 * packed once by rn_conv1_pack (rn_conv1_pack_floats floats; packed tap t
 * < T is tap taps[t] of the KH*KW, or t when taps is NULL; weight(m, c, t)
 * = w[(m*C + c)*Tw + taps[t]]), streams through the kernel without being
 * copied per call, a block of 32 output channels at a time for all the
 * images.  Taps that no position of a tile reads inside the image are
 * skipped for that tile, and no multiply touches padding but with fewer
 * than 16 input channels. */
typedef struct {
    int M, C, H, W;              /* output channels; input channels and plane */
    int OH, OW, KH, KW, S, PAD;  /* output plane, kernel, stride, padding */
} RnConvShape;
void rn_conv1_pack(float *bp, const float *w, int M, int C, int Tw, int T, const int *taps);
long rn_conv1_pad_floats(const RnConvShape *s);
void rn_conv1(const RnConvShape *s, int N, int T, const int *taps, const float *bp,
              const float *x, float *xpad, int zeroed, float *y, const float *bias, int relu);

/* The weight gradient of a direct convolution, without im2col:
 *
 *   dw[(m*C + c)*Tw + taps[t]] += sum over the entries e of packed tap t,
 *       e = wpos[t] .. wpos[t+1]-1, pairs wpq[2e] = p (output position),
 *       wpq[2e+1] = q (input position), over n < N:  dy[m][p][n] * x[c][q][n]
 *
 * for m < M, c < C, t < T (taps NULL: taps[t] = t); dy (M, P, N), x
 * (C, Q, N), batch innermost.  Only the pairs whose input lies inside the
 * image are listed, so padding costs nothing here either.  work holds
 * rn_conv_wgrad_floats floats.  Every element of the result is one
 * thread's sum in a fixed order: the bits do not depend on the threads. */
void rn_conv_wgrad(int M, int C, int N, int P, int Q, int T, const int *wpos, const int *wpq,
                   const float *dy, const float *x, float *dw, int Tw, const int *taps,
                   float *work);

void rn_conv_pack(float *ap, const float *w, int M, int C, int Tw, int T, const int *taps,
                  int transpose);
void rn_conv_direct(int M, int C, int N, int P, int T, const int *pos, const int *tq,
                    const float *ap, const float *x, long ldx, float *y, float beta,
                    const RnEpilogue *ep);

/* The kernel in use: its instruction set ("avx512", "avx2", "avx", "sse2",
 * "neon" or "generic") and register tile, for benchmark and log output.
 * On x86-64 the best kernel the CPU runs is chosen at run time, whatever
 * -march the runtime was built with. */
const char *rn_gemm_isa(void);
void rn_gemm_tile(int *mr, int *nr);

/* Use the kernel named isa from now on (process-wide; call it while no
 * GEMM is running), or the automatic choice again when isa is NULL.
 * Returns -1, changing nothing, when this build or this CPU lacks it.
 * For tests and benchmarks, which run every kernel the machine has. */
int rn_gemm_force_isa(const char *isa);

#endif
