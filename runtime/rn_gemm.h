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
 * from plain loops, only slow.
 */
#ifndef RN_GEMM_H
#define RN_GEMM_H

void rn_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

void rn_sgemm_st(int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc);

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
