/* rn_llvm_rt.c - what the LLVM backend's modules call besides the kernels
 * (rn_calls.h and the rest): a parallel loop.
 *
 * Generated C spreads its per-channel loops over OpenMP threads with a
 * pragma; an LLVM module cannot, so rnetc --backend llvm outlines each such
 * loop body into a function body(ctx, lo, hi) over iterations [lo, hi) and
 * calls rn_llvm_par, which splits [0, n) into one contiguous range per
 * thread (OpenMP's static schedule), or runs it all on the calling thread
 * (below its threshold, without OpenMP, or inside a parallel region).
 * Each iteration writes its own channel, so the results do not depend on
 * the thread count.
 */
#include "rn_gen.h"  /* RN_PAR_WORK */
#ifdef _OPENMP
#include <omp.h>
#endif

/* The kernel-call IR's parallel loops (compiler/emit_llvm.c, kpar_for):
 * on the threads when the caller says always (a training step's
 * per-channel loops, or a fixed work of RN_PAR_WORK or more, decided at
 * compile time as the C backend decides RN_OMP_PAR_FOR), or when the work
 * reaches RN_PAR_WORK; one contiguous range per thread, as OpenMP's static
 * schedule splits the C backend's loops. */
void rn_llvm_par(void (*body)(void *ctx, long lo, long hi), void *ctx, long n, long work, int always);

void rn_llvm_par(void (*body)(void *ctx, long lo, long hi), void *ctx, long n, long work, int always)
{
#if defined(_OPENMP) && defined(RN_PAR_WORK)
    if ((always || work >= RN_PAR_WORK) && n > 1 && !omp_in_parallel() && omp_get_max_threads() > 1) {
#pragma omp parallel
        {
            long t = omp_get_thread_num(), nt = omp_get_num_threads();
            long lo = n / nt * t + (t < n % nt ? t : n % nt);
            long hi = lo + n / nt + (t < n % nt);
            if (lo < hi)
                body(ctx, lo, hi);
        }
        return;
    }
#else
    (void)work;
    (void)always;
#endif
    body(ctx, 0, n);
}
