/* rn_gemm.c - single-precision GEMM, written the Goto/BLIS way.
 *
 * C = alpha * op(A) * op(B) + beta * C, row-major (see rn_gemm.h).
 *
 * Why it is built like this: a GEMM runs at the speed of its innermost
 * loop only if that loop never waits on memory.  So, as in GotoBLAS and
 * BLIS:
 *
 *   - op(A) and op(B) are copied ("packed") block by block into contiguous
 *     buffers laid out in exactly the order the micro-kernel reads them:
 *     A as micro-panels of MR rows stored k-major (kc, MR), B as
 *     micro-panels of NR columns stored k-major (kc, NR).  Packing absorbs
 *     the transposes, so all four transpose combinations run the same
 *     kernel.
 *   - the blocks are sized to the caches: an MR x KC micro-panel of A stays
 *     in L1 while the kernel sweeps it across the B micro-panels of a
 *     KC x NC block; the MC x KC block of A is packed once for all of N.
 *   - the micro-kernel keeps an MR x NR tile of C in vector registers
 *     (MR rows of two vectors each) and, per step of k, loads two vectors of
 *     B, broadcasts MR values of A and issues 2*MR fused multiply-adds.
 *     It is instantiated for every tile height 1..MR and for one or two
 *     vectors of width, so ragged edges cost little: no padded rows, at
 *     most one vector of padded columns.
 *
 * Loop nest (the five loops around the micro-kernel):
 *
 *     for ic in M step MC            pack op(A)[ic.., pc..] (mc, kc)
 *       for pc in K step <= KC
 *         for jc in N step NC        pack op(B)[pc.., jc..] (kc, nc)
 *           for ir in mc step MR       A micro-panel, in L1
 *             for jr in nc step NR     B micro-panel, from L2
 *               kernel: C[ic+ir.., jc+jr..] (MR, NR) = A panel * B panel
 *
 * The first K slice applies the caller's beta; later slices accumulate.
 *
 * Vectors are GCC/Clang vector extensions, so one source builds for
 * AVX-512, AVX/AVX2, NEON and (through the compiler's lowering) anything
 * else.  Only the fused multiply-add is an intrinsic: ISO C modes
 * (-std=c11) do not contract a*b+c into an FMA, and -ffast-math is not an
 * option.
 *
 * Instruction sets: the ISA-specific half of this file (kernel, packing,
 * the five loops) is a template at the bottom, instantiated by including
 * this file into itself.  One instance follows the compile flags (AVX-512
 * under -march=native on this kind of machine, SSE2 under a plain -O2).
 * On x86-64, when the flags do not already give them, an AVX-512 and an
 * AVX2+FMA instance are built too, each under a target attribute, and the
 * best one the CPU supports is chosen at run time; so a runtime built with
 * plain -O2 is as fast as one built with -march=native.
 *
 * Threads: rn_sgemm cuts C into a grid of tm x tn rectangles, a few per
 * OpenMP thread, handed out dynamically; each thread runs the
 * single-threaded algorithm on its rectangles with its own packing buffers
 * (a thread-local arena allocated once).  More rectangles than threads
 * cost some repeated packing but keep every core busy when one of them is
 * shared with another process; the grid shape is chosen so that the total
 * work, counting the repeated packing, is smallest.  Where C is small and
 * K long (weight gradients of early layers), cutting C would make every
 * thread pack all of one operand, so K is cut instead: each thread sums
 * its part of K into a partial product and the parts are added in a fixed
 * order.  Where C has at most one vector of columns (batch 1), C^T =
 * op(B)^T op(A)^T is computed instead, with C's few columns as the rows
 * of the register tile.  Products too small to pay for a thread (~1M
 * multiply-adds) run on the calling thread.  Which thread computes which
 * part never changes a result: same inputs and thread count, same bits.
 *
 * Epilogue (rn_sgemm_ep): bias, relu and the row statistics are applied
 * by the micro-kernel as it stores a tile after the last K slice; the
 * statistics go to per-lane double accumulators of each rectangle's rows,
 * added up in a fixed order at the end (see the kernels).
 */
#ifndef RN_GEMM_VARIANT

#include "rn_gemm.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

/* The instances: one for the compile flags, and on x86-64 with GCC or
 * Clang the wider ones the flags leave out. */
#define RN_VARIANT_FLAGS 1
#define RN_VARIANT_AVX512 2
#define RN_VARIANT_AVX2 3

#if defined(__x86_64__) && defined(__GNUC__)
#if !defined(__AVX512F__)
#define RN_BUILD_AVX512 1
#endif
#if !defined(__AVX2__) || !defined(__FMA__)
#define RN_BUILD_AVX2 1
#endif
#endif

/* Unaligned vector load/store: memcpy compiles to one move. */
#define RN_LOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define RN_STORE(p, v) memcpy((p), &(v), sizeof(v))

/* Full unrolling keeps small arrays of vectors in registers; -O2 alone
 * would not do it. */
#define RN_UNROLL _Pragma("GCC unroll 16")

#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define RN_HAVE_SHUFFLE 1
#endif
#endif

static int rn_min(int a, int b) { return a < b ? a : b; }

/* The reduction is split over threads when that costs less than this
 * fraction of cutting C (see rn_ksplit_wins). */
#ifndef RN_KSPLIT_GAIN
#define RN_KSPLIT_GAIN 0.9
#endif

/* Per-thread packing buffers: an A block then a B block, big enough for
 * every instance (each checks with a static assertion). */
#define RN_ARENA_FLOATS ((size_t)1024 * 512 + (size_t)512 * 768)

static _Thread_local float *rn_arena;

static float *rn_get_arena(void)
{
    if (!rn_arena)
        rn_arena = aligned_alloc(64, RN_ARENA_FLOATS * sizeof(float));
    return rn_arena;
}

/* The scratch buffer of the calling thread: the partial products of a
 * reduction split over threads and the epilogue's lane statistics.  Grown
 * when a call needs more, otherwise reused; NULL when it cannot grow (the
 * caller then takes a path without it). */
static _Thread_local void *rn_scratch;
static _Thread_local size_t rn_scratch_size;

static void *rn_get_scratch(size_t bytes)
{
    if (bytes <= rn_scratch_size)
        return rn_scratch;
    bytes = (bytes + 4095) / 4096 * 4096;
    free(rn_scratch);
    rn_scratch = aligned_alloc(64, bytes);
    rn_scratch_size = rn_scratch ? bytes : 0;
    return rn_scratch;
}

/* A product as the five loops see it: C(i, j) at C[i*rs + j*cs], so that
 * C^T = op(B)^T op(A)^T can be computed into C by swapping the operands
 * and the strides; bias and relu are applied by the kernels on the last K
 * slice. */
typedef struct {
    int transA, transB, M, N, K;
    float alpha, beta;
    const float *A, *B;
    ptrdiff_t lda, ldb;
    float *C;
    ptrdiff_t rs, cs;
    const float *bias;  /* (M) or NULL */
    int relu;
} RnProb;

/* What a micro-kernel call needs besides its panels: alpha, this K slice's
 * beta and, on the last slice, the epilogue for the tile's rows. */
typedef struct {
    float alpha, beta;
    const float *bias;  /* the tile's first row's bias, or NULL */
    int relu;
    double *stats;      /* the tile's first row's lane statistics, or NULL */
} RnKArgs;

/* the tallest register tile of any instance */
#define RN_MAX_MR 12

/* A direct convolution as the template's loop sees it (rn_conv_direct):
 * items (batch block b, position p, row group g) in that order, g fastest:
 * consecutive items read the same input vectors, and a thread's share
 * sweeps the positions of one batch block (whose activations stay in L2)
 * before the next. */
typedef struct {
    int M, C, N, P, T;
    const int *pos, *tq;
    const float *ap, *x;
    ptrdiff_t ldx;
    float *y;
    ptrdiff_t ldy;       /* P * N */
    float beta;
    const float *bias;
    int relu;
    int nb, npg, gsize;  /* batch blocks, row groups, panels per group */
} RnConv;

/* A direct convolution's weight gradient (rn_conv_wgrad): items (row
 * panel, column block), each the tiles of every tap, added into dw. */
typedef struct {
    int M, C, N, P, T, Cp;
    const int *wpos, *wpq;
    float *dyp;          /* dy packed: panel j at m0*P*N, stored (P, N, h) */
    float *xt;           /* x transposed: (Q, N, Cp), zero past C */
    float *dw;           /* (M, C, Tw) */
    int Tw;
    const int *taps;
    int npanels, ncb;
} RnWgrad;

/* A batch-1 convolution (rn_conv1): items (channel block, position tile),
 * channel block by channel block, so that each thread streams its own
 * share of the filter. */
typedef struct {
    RnConvShape s;
    int N, T;
    const int *taps;
    const float *bp;     /* the filter, packed by rn_conv1_pack */
    const float *xp;     /* the input, zero-padded: per image (ps floats
                          * apart) C planes of R rows of Sw */
    int R, Sw;
    size_t ps;
    float *y;            /* (M, OH*OW, N) */
    const float *bias;
    int relu, ntiles, nblocks;
    int th;              /* positions per tile: OH*OW spread evenly, at most MR */
} RnConv1;

/* One instance: its name, vector width, register tile, and its five loops
 * over rows [m0, m1) and columns [n0, n1) of a product (K >= 1,
 * alpha != 0, arena of RN_ARENA_FLOATS), st the lane statistics (rows
 * m0.., 2, vl) or NULL. */
typedef struct RnGemmImpl {
    const char *isa;
    int vl, mr, nr;
    void (*serial)(const RnProb *p, int m0, int m1, int n0, int n1, double *st,
                   float *arena);
    /* items [i0, i1) of a direct convolution; st the lane statistics
     * (M, 2, vl) or NULL; arena for the ragged batch block */
    void (*conv)(const RnConv *cv, int i0, int i1, double *st, float *arena);
    void (*wgrad)(const RnWgrad *wg, int i0, int i1, float *arena);
    void (*conv1)(const RnConv1 *cv, long i0, long i1, float *arena);
} RnGemmImpl;

#ifdef RN_HAVE_SHUFFLE
typedef float rn_v8 __attribute__((vector_size(8 * sizeof(float))));

/* The 8 x 8 square whose row i starts at s + i*lds, transposed into d:
 * column k at d + k*ldd (three rounds of interleaving row i with row i+4,
 * as rn_load_transposed) */
static inline __attribute__((always_inline)) void rn_t8(const float *s, ptrdiff_t lds,
                                                         float *d, ptrdiff_t ldd)
{
    rn_v8 r[8], t[8];
    for (int i = 0; i < 8; i++)
        memcpy(&r[i], s + i * lds, sizeof(rn_v8));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++) {
            t[2 * i] = __builtin_shufflevector(r[i], r[i + 4], 0, 8, 1, 9, 2, 10, 3, 11);
            t[2 * i + 1] = __builtin_shufflevector(r[i], r[i + 4], 4, 12, 5, 13, 6, 14, 7, 15);
        }
        for (int i = 0; i < 8; i++)
            r[i] = t[i];
    }
    for (int k = 0; k < 8; k++)
        memcpy(d + k * ldd, &r[k], sizeof(rn_v8));
}
#endif

/* d (cols, rows) = s (rows, cols) transposed, rows lds and columns ldd
 * apart: 8 x 8 squares in registers where the shuffles exist, the edges
 * (and everything without them) element by element */
static void rn_transpose(const float *s, ptrdiff_t lds, float *d, ptrdiff_t ldd, int rows,
                         int cols)
{
    int r8 = 0, c8 = 0;
#ifdef RN_HAVE_SHUFFLE
    r8 = rows / 8 * 8;
    c8 = cols / 8 * 8;
    for (int i = 0; i < r8; i += 8)
        for (int j = 0; j < c8; j += 8)
            rn_t8(s + i * lds + j, lds, d + j * ldd + i, ldd);
#endif
    for (int i = 0; i < rows; i++)
        for (int j = i < r8 ? c8 : 0; j < cols; j++)
            d[j * ldd + i] = s[i * lds + j];
}

#define RN_GEMM_VARIANT RN_VARIANT_FLAGS
#include "rn_gemm.c"
#undef RN_GEMM_VARIANT

#ifdef RN_BUILD_AVX512
#define RN_GEMM_VARIANT RN_VARIANT_AVX512
#include "rn_gemm.c"
#undef RN_GEMM_VARIANT
#endif

#ifdef RN_BUILD_AVX2
#define RN_GEMM_VARIANT RN_VARIANT_AVX2
#include "rn_gemm.c"
#undef RN_GEMM_VARIANT
#endif

/* ---- choosing an instance ---- */

/* Best first; the flags instance, which always runs, last. */
static const RnGemmImpl *const rn_impls[] = {
#ifdef RN_BUILD_AVX512
    &rn_impl_avx512,
#endif
#ifdef RN_BUILD_AVX2
    &rn_impl_avx2,
#endif
    &rn_impl_flags,
};
enum { RN_NIMPLS = sizeof rn_impls / sizeof rn_impls[0] };

static int rn_cpu_runs(const RnGemmImpl *impl)
{
#ifdef RN_BUILD_AVX512
    if (impl == &rn_impl_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
#ifdef RN_BUILD_AVX2
    if (impl == &rn_impl_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return impl == &rn_impl_flags;
}

static const RnGemmImpl *rn_forced;

static const RnGemmImpl *rn_impl(void)
{
    if (rn_forced)
        return rn_forced;
    for (int i = 0; i < RN_NIMPLS - 1; i++)
        if (rn_cpu_runs(rn_impls[i]))
            return rn_impls[i];
    return &rn_impl_flags;
}

const char *rn_gemm_isa(void) { return rn_impl()->isa; }

void rn_gemm_tile(int *mr, int *nr)
{
    *mr = rn_impl()->mr;
    *nr = rn_impl()->nr;
}

int rn_gemm_force_isa(const char *isa)
{
    if (!isa) {
        rn_forced = NULL;
        return 0;
    }
    for (int i = 0; i < RN_NIMPLS; i++)
        if (strcmp(rn_impls[i]->isa, isa) == 0 && rn_cpu_runs(rn_impls[i])) {
            rn_forced = rn_impls[i];
            return 0;
        }
    return -1;
}

/* ---- the entry points ---- */

/* C = beta * C over (M, N): the whole product when K == 0 or alpha == 0. */
static void rn_scale(int M, int N, float beta, float *C, ptrdiff_t ldc)
{
    for (int i = 0; i < M; i++) {
        float *r = C + (ptrdiff_t)i * ldc;
        if (beta == 0.0f)
            memset(r, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) r[j] *= beta;
    }
}

/* The epilogue over rows [r0, r1) of C (M, N) as a separate pass, for the
 * paths that do not run it in the kernels: bias, relu, then the row
 * statistics, each row summed left to right in double. */
static void rn_ep_rows(const RnEpilogue *ep, int r0, int r1, int N, float *C, ptrdiff_t ldc)
{
    for (int i = r0; i < r1; i++) {
        float *r = C + (ptrdiff_t)i * ldc;
        double s = 0.0, q = 0.0;
        for (int j = 0; j < N; j++) {
            float v = r[j];
            if (ep->bias)
                v += ep->bias[i];
            if (ep->relu)
                v = v > 0.0f ? v : 0.0f;
            r[j] = v;
            s += v;
            q += (double)v * v;
        }
        if (ep->row_sum)
            ep->row_sum[i] += s;
        if (ep->row_sumsq)
            ep->row_sumsq[i] += q;
    }
}

/* Plain loops over rows [m0, m1) and columns [n0, n1) of p, with the
 * kernels' epilogue (st as theirs, lane j % vl), for when a packing arena
 * cannot be allocated: right, only slow. */
static void rn_gemm_plain(const RnProb *p, int m0, int m1, int n0, int n1,
                          double *st, int vl)
{
    for (int i = m0; i < m1; i++)
        for (int j = n0; j < n1; j++) {
            float s = 0.0f;
            for (int k = 0; k < p->K; k++) {
                float a = p->transA ? p->A[(ptrdiff_t)k * p->lda + i] : p->A[(ptrdiff_t)i * p->lda + k];
                float b = p->transB ? p->B[(ptrdiff_t)j * p->ldb + k] : p->B[(ptrdiff_t)k * p->ldb + j];
                s += a * b;
            }
            float *c = p->C + (ptrdiff_t)i * p->rs + (ptrdiff_t)j * p->cs;
            float v = p->beta == 0.0f ? p->alpha * s : p->alpha * s + p->beta * *c;
            if (p->bias)
                v += p->bias[i];
            if (p->relu)
                v = v > 0.0f ? v : 0.0f;
            *c = v;
            if (st) {
                double *l = st + (ptrdiff_t)(i - m0) * 2 * vl + (j - n0) % vl;
                l[0] += v;
                l[vl] += (double)v * v;
            }
        }
}

/* C (M, 1) = alpha * op(A) b + beta * C: each row's dot product in 16
 * lanes, added in a fixed order. */
static void rn_gemv(const RnProb *p)
{
    enum { LANES = 16 };
    ptrdiff_t ak = p->transA ? p->lda : 1, ai = p->transA ? 1 : p->lda;
    ptrdiff_t bk = p->transB ? 1 : p->ldb;
    const float *b = p->B;
    int K = p->K, K0 = K / LANES * LANES;
    for (int i = 0; i < p->M; i++) {
        const float *a = p->A + (ptrdiff_t)i * ai;
        float l[LANES] = {0};
        if (ak == 1 && bk == 1) {
            for (int k = 0; k < K0; k += LANES)
                for (int j = 0; j < LANES; j++)
                    l[j] += a[k + j] * b[k + j];
        } else {
            for (int k = 0; k < K0; k += LANES)
                for (int j = 0; j < LANES; j++)
                    l[j] += a[(k + j) * ak] * b[(k + j) * bk];
        }
        for (int k = K0; k < K; k++)
            l[k - K0] += a[k * ak] * b[k * bk];
        float s = 0.0f;
        for (int j = 0; j < LANES; j++)
            s += l[j];
        float *c = p->C + (ptrdiff_t)i * p->rs;
        *c = p->beta == 0.0f ? p->alpha * s : p->alpha * s + p->beta * *c;
    }
}

/* One rectangle of p on the calling thread. */
static void rn_rect(const RnGemmImpl *impl, const RnProb *p, int m0, int m1, int n0,
                    int n1, double *st)
{
    float *arena = rn_get_arena();
    if (arena)
        impl->serial(p, m0, m1, n0, n1, st, arena);
    else
        rn_gemm_plain(p, m0, m1, n0, n1, st, impl->vl);
}

/* Rows/columns [*lo, *hi) of part p of `parts` parts of `len`, cut on
 * tile boundaries. */
static void rn_part(int len, int tile, int parts, int p, int *lo, int *hi)
{
    int tiles = (len + tile - 1) / tile;
    *lo = rn_min(len, (int)((long long)tiles * p / parts) * tile);
    *hi = rn_min(len, (int)((long long)tiles * (p + 1) / parts) * tile);
}

/* A packed element costs about four multiply-adds when copied straight
 * and four times that when transposed (A not transposed, B transposed). */
static double rn_pack_cost(int trans_is_straight) { return trans_is_straight ? 4.0 : 16.0; }

/* Grid tm x tn == n of chunks of C with the least total work, returned
 * (per step of k): the chunks' tile areas plus their packing, since every
 * chunk packs its own rows of op(A) and columns of op(B). */
static double rn_grid(int mr, int nr, int transA, int transB, int M, int N,
                      int n, int *tm, int *tn)
{
    double best = -1.0;
    double wa = rn_pack_cost(transA), wb = rn_pack_cost(!transB);
    for (int cols = 1; cols <= n; cols++) {
        if (n % cols)
            continue;
        int rows = n / cols;
        double m = (double)((M + mr * rows - 1) / (mr * rows)) * mr;
        double w = (double)((N + nr * cols - 1) / (nr * cols)) * nr;
        double cost = (double)n * (m * w + wa * m + wb * w);
        if (best < 0.0 || cost < best) {
            best = cost;
            *tm = rows;
            *tn = cols;
        }
    }
    return best;
}

/* A thread is worth starting for this many multiply-adds (~20 us), and a
 * chunk of work should be no smaller. */
#define RN_MACS_PER_THREAD (1 << 20)
/* Up to this many chunks per thread, so that a thread slowed by another
 * process on its core hands part of its share to the others; but only as
 * many as cost no more than RN_CHUNK_OVERHEAD in repeated packing. */
#define RN_CHUNKS_PER_THREAD 4
#define RN_CHUNK_OVERHEAD 1.05

/* How many threads p deserves, at most nt. */
static int rn_threads(const RnGemmImpl *impl, const RnProb *p, int nt)
{
    double macs = (double)p->M * p->N * p->K;
    double tiles = (double)((p->M + impl->mr - 1) / impl->mr) *
                   ((p->N + impl->nr - 1) / impl->nr);
    double most = macs / RN_MACS_PER_THREAD < tiles ? macs / RN_MACS_PER_THREAD : tiles;
    return nt <= most ? nt : most >= 1.0 ? (int)most : 1;
}

/* The chunk grid for p on nt threads: *chunks = *tm * *tn rectangles. */
static void rn_plan(const RnGemmImpl *impl, const RnProb *p, int nt, int *chunks,
                    int *tm, int *tn)
{
    *chunks = *tm = *tn = 1;
    if (nt <= 1)
        return;
    double macs = (double)p->M * p->N * p->K;
    *chunks = nt;
    double base = rn_grid(impl->mr, impl->nr, p->transA, p->transB, p->M, p->N, nt, tm, tn);
    for (int c = 2 * nt; c <= RN_CHUNKS_PER_THREAD * nt && c <= macs / RN_MACS_PER_THREAD;
         c += nt) {
        int cm = 1, cn = 1;
        if (rn_grid(impl->mr, impl->nr, p->transA, p->transB, p->M, p->N, c, &cm, &cn) <=
            RN_CHUNK_OVERHEAD * base) {
            *chunks = c;
            *tm = cm;
            *tn = cn;
        }
    }
}

/* p on a tm x tn grid of `chunks` rectangles, handed out one at a time to
 * nt threads; st (tn, M, 2, vl) the lane statistics or NULL.  Which thread
 * runs a rectangle changes nothing in the result. */
static void rn_run_grid(const RnGemmImpl *impl, const RnProb *p, int nt, int chunks,
                        int tm, int tn, double *st)
{
    if (chunks <= 1) {
        rn_rect(impl, p, 0, p->M, 0, p->N, st);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
#endif
    for (int ch = 0; ch < chunks; ch++) {
        int m0, m1, n0, n1, cn = ch % tn;
        rn_part(p->M, impl->mr, tm, ch / tn, &m0, &m1);
        rn_part(p->N, impl->nr, tn, cn, &n0, &n1);
        if (m0 < m1 && n0 < n1)
            rn_rect(impl, p, m0, m1, n0, n1,
                    st ? st + ((size_t)cn * p->M + m0) * 2 * impl->vl : NULL);
    }
    (void)nt;
}

/* The reduction split over threads: worth it when C is small next to K
 * (weight gradients), where cutting C would make every thread pack all of
 * one operand.  Compares total work, packing and the final sum included. */
static int rn_ksplit_wins(const RnGemmImpl *impl, const RnProb *p, int nt)
{
    if (nt <= 1 || p->K < 128 * nt)
        return 0;
    int tm, tn;
    double grid = rn_grid(impl->mr, impl->nr, p->transA, p->transB, p->M, p->N, nt, &tm, &tn) *
                  p->K;
    double m = (double)((p->M + impl->mr - 1) / impl->mr) * impl->mr;
    double w = (double)((p->N + impl->nr - 1) / impl->nr) * impl->nr;
    double wa = rn_pack_cost(p->transA), wb = rn_pack_cost(!p->transB);
    double split = (m * w + wa * m + wb * w) * p->K + 32.0 * nt * p->M * p->N;
    return split < RN_KSPLIT_GAIN * grid;
}

/* p with its K cut into nt equal parts, part 0 computed into C (with
 * beta), parts 1.. into partial products P (nt - 1, M, N), then C += P1,
 * += P2, ... row by row, in that order, and the epilogue ep (NULL or
 * non-empty) over the final rows. */
static void rn_run_ksplit(const RnGemmImpl *impl, const RnProb *p, int nt, float *P,
                          const RnEpilogue *ep)
{
    int M = p->M, N = p->N, K = p->K;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int c = 0; c < nt; c++) {
            int k0 = (int)((long long)K * c / nt), k1 = (int)((long long)K * (c + 1) / nt);
            RnProb q = *p;
            q.K = k1 - k0;
            q.A = p->transA ? p->A + (ptrdiff_t)k0 * p->lda : p->A + k0;
            q.B = p->transB ? p->B + k0 : p->B + (ptrdiff_t)k0 * p->ldb;
            if (c > 0) {
                q.C = P + (size_t)(c - 1) * M * N;
                q.rs = N;
                q.beta = 0.0f;
            }
            rn_rect(impl, &q, 0, M, 0, N, NULL);
        }
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int i = 0; i < M; i++) {
            float *r = p->C + (ptrdiff_t)i * p->rs;
            for (int c = 1; c < nt; c++) {
                const float *s = P + ((size_t)(c - 1) * M + i) * N;
                for (int j = 0; j < N; j++) r[j] += s[j];
            }
            if (ep)
                rn_ep_rows(ep, i, i + 1, N, p->C, p->rs);
        }
    }
}

/* C = alpha op(A) op(B) + beta C, then ep (NULL: none), on up to nt
 * threads. */
static void rn_gemm(int transA, int transB, int M, int N, int K, float alpha,
                    const float *A, ptrdiff_t lda, const float *B, ptrdiff_t ldb,
                    float beta, float *C, ptrdiff_t ldc, const RnEpilogue *ep, int nt)
{
    if (M <= 0 || N <= 0)
        return;
    if (ep && !ep->bias && !ep->relu && !ep->row_sum && !ep->row_sumsq)
        ep = NULL;
    if (K <= 0 || alpha == 0.0f) {
        rn_scale(M, N, beta, C, ldc);
        if (ep)
            rn_ep_rows(ep, 0, M, N, C, ldc);
        return;
    }
    const RnGemmImpl *impl = rn_impl();
    RnProb p = {transA, transB, M, N, K, alpha, beta, A, B, lda, ldb, C, ldc, 1, NULL, 0};

    /* One column and little work (a batch-1 fc): dot products; packing
     * would cost more than the product (measured 3.9 -> 0.3 us for 10 x
     * 256) */
    if (N == 1 && (long)M * K <= 65536) {
        rn_gemv(&p);
        if (ep)
            rn_ep_rows(ep, 0, M, N, C, ldc);
        return;
    }

    /* At most one vector of columns (batch 1, deep layers): compute
     * C^T = op(B)^T op(A)^T, whose rows are C's few columns, so that the
     * register tile is full (measured 1.5x to 4x); the epilogue follows as
     * a pass over the small C. */
    if (N <= impl->vl && M >= impl->nr) {
        RnProb q = {!transB, !transA, N, M, K, alpha, beta, B, A, ldb, lda, C, 1, ldc, NULL, 0};
        int chunks, tm, tn;
        nt = rn_threads(impl, &q, nt);
        rn_plan(impl, &q, nt, &chunks, &tm, &tn);
        rn_run_grid(impl, &q, nt, chunks, tm, tn, NULL);
        if (ep)
            rn_ep_rows(ep, 0, M, N, C, ldc);
        return;
    }

    nt = rn_threads(impl, &p, nt);
    if (rn_ksplit_wins(impl, &p, nt)) {
        float *P = rn_get_scratch((size_t)(nt - 1) * M * N * sizeof(float));
        if (P) {
            rn_run_ksplit(impl, &p, nt, P, ep);
            return;
        }
    }

    /* The usual way: C cut into rectangles, the epilogue in the kernels,
     * the statistics as lanes per column of chunks, summed at the end. */
    int chunks, tm, tn, vl = impl->vl;
    rn_plan(impl, &p, nt, &chunks, &tm, &tn);
    double *st = NULL;
    if (ep) {
        p.bias = ep->bias;
        p.relu = ep->relu;
        if (ep->row_sum || ep->row_sumsq) {
            size_t n = (size_t)tn * M * 2 * vl;
            st = rn_get_scratch(n * sizeof(double));
            if (st)
                memset(st, 0, n * sizeof(double));
        }
    }
    rn_run_grid(impl, &p, nt, chunks, tm, tn, st);
    if (!ep || (!ep->row_sum && !ep->row_sumsq))
        return;
    if (!st) {
        /* no scratch: the statistics from a second pass */
        RnEpilogue stats = {NULL, 0, ep->row_sum, ep->row_sumsq};
        rn_ep_rows(&stats, 0, M, N, C, ldc);
        return;
    }
    for (int i = 0; i < M; i++) {
        double s = 0.0, q = 0.0;
        for (int c = 0; c < tn; c++) {
            const double *l = st + ((size_t)c * M + i) * 2 * vl;
            for (int j = 0; j < vl; j++) {
                s += l[j];
                q += l[vl + j];
            }
        }
        if (ep->row_sum)
            ep->row_sum[i] += s;
        if (ep->row_sumsq)
            ep->row_sumsq[i] += q;
    }
}

/* Threads for a call from here: OpenMP's, or 1 inside a parallel region. */
static int rn_max_threads(void)
{
#ifdef _OPENMP
    return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

void rn_sgemm_st(int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc)
{
    rn_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, 1);
}

void rn_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    rn_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL,
            rn_max_threads());
}

void rn_sgemm_ep(int transA, int transB, long M, long N, long K, float alpha,
                 const float *A, long lda, const float *B, long ldb, float beta,
                 float *C, long ldc, const RnEpilogue *ep)
{
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX) {
        fprintf(stderr, "rn_sgemm_ep: %ld x %ld x %ld is too large (each below 2^31)\n",
                M, N, K);
        abort();
    }
    rn_gemm(transA, transB, (int)M, (int)N, (int)K, alpha, A, lda, B, ldb, beta, C, ldc,
            ep, rn_max_threads());
}

/* ---- direct convolution (rn_gemm.h) ----
 *
 * Parallel regions here are entered only when they will have threads: an
 * OpenMP `if` clause that comes out false still makes libgomp allocate a
 * team on every call, which would put allocations inside a step. */

/* The calling thread's index in its team and the team's size: (0, 1)
 * outside a parallel region.  A kernel's parallel part is one function
 * that takes its share by these, run by every thread of a region, or
 * alone by the caller when the work has no threads. */
static void rn_team(int *t, int *n)
{
#ifdef _OPENMP
    *t = omp_get_thread_num();
    *n = omp_get_num_threads();
#else
    *t = 0;
    *n = 1;
#endif
}

/* Whether a loop of `work` units is worth a parallel region from here. */
static int rn_par(long work)
{
#ifdef _OPENMP
    return work >= 65536 && !omp_in_parallel() && omp_get_max_threads() > 1;
#else
    (void)work;
    return 0;
#endif
}


/* panel j (rows m0 = j*MR .., h of them) at ap + m0*T*C, stored (T, C, h) */
static void rn_conv_pack_panel(float *ap, const float *w, int M, int C, int Tw, int T,
                               const int *taps, int transpose, int mr, int j)
{
    {
        int m0 = j * mr, h = rn_min(mr, M - m0);
        float *d = ap + (size_t)m0 * T * C;
        /* blocks of 16 channels: each tap's (16, h) piece is written
         * contiguously, from 16 x h source rows of Tw taps (in L1) */
        for (int c0 = 0; c0 < C; c0 += 16) {
            int cn = rn_min(16, C - c0);
            const float *src[16 * RN_MAX_MR];
            for (int c = 0; c < cn; c++)
                for (int r = 0; r < h; r++) {
                    size_t m = (size_t)m0 + r, cc = (size_t)c0 + c;
                    src[c * h + r] = transpose ? w + (cc * M + m) * Tw : w + (m * C + cc) * Tw;
                }
            for (int t = 0; t < T; t++) {
                int tw = taps ? taps[t] : t;
                float *dt = d + ((size_t)t * C + c0) * h;
                for (int i = 0; i < cn * h; i++)
                    dt[i] = src[i][tw];
            }
        }
    }
}

void rn_conv_pack(float *ap, const float *w, int M, int C, int Tw, int T, const int *taps,
                  int transpose)
{
    int mr = rn_impl()->mr, panels = (M + mr - 1) / mr;
    if (rn_par((long)M * C * T)) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int j = 0; j < panels; j++)
            rn_conv_pack_panel(ap, w, M, C, Tw, T, taps, transpose, mr, j);
    } else {
        for (int j = 0; j < panels; j++)
            rn_conv_pack_panel(ap, w, M, C, Tw, T, taps, transpose, mr, j);
    }
}

/* the direct convolution's parallel part: this thread's share of the
 * items, its lane statistics at st + t*per */
static void rn_conv_share(const RnGemmImpl *impl, const RnConv *cv, int items, double *st,
                          size_t per)
{
    int t, n;
    rn_team(&t, &n);
    impl->conv(cv, (int)((long)items * t / n), (int)((long)items * (t + 1) / n),
               st ? st + (size_t)t * per : NULL, rn_get_arena());
}

void rn_conv_direct(int M, int C, int N, int P, int T, const int *pos, const int *tq,
                    const float *ap, const float *x, long ldx, float *y, float beta,
                    const RnEpilogue *ep)
{
    if (M <= 0 || N <= 0 || P <= 0)
        return;
    const RnGemmImpl *impl = rn_impl();
    int mr = impl->mr, vl = impl->vl, nrr = impl->nr;
    if ((size_t)T * C * nrr > RN_ARENA_FLOATS) {
        fprintf(stderr, "rn_conv_direct: %d taps x %d channels is too deep\n", T, C);
        abort();
    }
    RnConv cv = {M, C, N, P, T, pos, tq, ap, x, ldx, y, (ptrdiff_t)P * N, beta,
                 ep ? ep->bias : NULL, ep ? ep->relu : 0, (N + nrr - 1) / nrr, 1, 1};
    int npanels = (M + mr - 1) / mr, nt = rn_max_threads();
    double macs = (double)M * C * N * pos[P];
    if (macs < RN_MACS_PER_THREAD * 2.0)
        nt = 1;
    /* enough items for a few per thread: row groups when positions and
     * batch blocks are few */
    int cols = P * cv.nb, want = 4 * nt;
    int npg = cols >= want ? 1 : (want + cols - 1) / cols;
    if (npg > npanels)
        npg = npanels;
    cv.gsize = (npanels + npg - 1) / npg;
    cv.npg = (npanels + cv.gsize - 1) / cv.gsize;
    int items = cols * cv.npg;
    if (nt > items)
        nt = items;
    int stats = ep && (ep->row_sum || ep->row_sumsq);
    double *st = NULL;
    size_t per = (size_t)M * 2 * vl;
    if (stats) {
        st = rn_get_scratch((size_t)nt * per * sizeof(double));
        if (!st) {
            fprintf(stderr, "rn_conv_direct: out of memory for the statistics\n");
            abort();
        }
        memset(st, 0, (size_t)nt * per * sizeof(double));
    }
    if (nt > 1) {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        rn_conv_share(impl, &cv, items, st, per);
    } else {
        rn_conv_share(impl, &cv, items, st, per);
    }
    if (!stats)
        return;
    for (int i = 0; i < M; i++) {
        double s = 0.0, q = 0.0;
        for (int t = 0; t < nt; t++) {
            const double *l = st + (size_t)t * per + (size_t)i * 2 * vl;
            for (int j = 0; j < vl; j++) {
                s += l[j];
                q += l[vl + j];
            }
        }
        if (ep->row_sum)
            ep->row_sum[i] += s;
        if (ep->row_sumsq)
            ep->row_sumsq[i] += q;
    }
}

static int rn_round_up(int v, int q) { return (v + q - 1) / q * q; }

/* ---- batch 1 ---- */

/* channel blocks of the widest register tile any instance has (32) */

/* block b (channels b*NR ..) at bp + b*T*C*NR, stored (T, C, NR), zero past M */
void rn_conv1_pack(float *bp, const float *w, int M, int C, int Tw, int T, const int *taps)
{
    int nr = rn_impl()->nr, blocks = (M + nr - 1) / nr;
    /* once, at fold time: a parallel region costs nothing that matters */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)M * C * T >= 65536 && !omp_in_parallel())
#endif
    for (int b = 0; b < blocks; b++)
        for (int t = 0; t < T; t++) {
            int tw = taps ? taps[t] : t;
            for (int c = 0; c < C; c++) {
                float *d = bp + (((size_t)b * T + t) * C + c) * nr;
                for (int j = 0; j < nr; j++) {
                    int m = b * nr + j;
                    d[j] = m < M ? w[((size_t)m * C + c) * Tw + tw] : 0.0f;
                }
            }
        }
}

long rn_conv1_pad_floats(const RnConvShape *s)
{
    return rn_conv1_pad_floats_of(s->C, s->OH, s->OW, s->KH, s->KW, s->S);
}

/* units [u0, u1) of (image n, channel c), n = u / C, of x (C, H, W, N)
 * into the padded planes of cv->xp: x's (ih, iw) at row ih + PAD and
 * column iw + PAD of image n's plane c.  zeroed: the padding is zero
 * already (the caller's, once), so only x's values are written; else
 * each plane is cleared first. */
static void rn_conv1_fill(const RnConv1 *cv, const float *x, int zeroed, long u0, long u1)
{
    const RnConvShape *s = &cv->s;
    int H = s->H, W = s->W, Pd = s->PAD, N = cv->N, R = cv->R, Sw = cv->Sw;
    int rows = rn_min(H, R - Pd), cols = rn_min(W, Sw - Pd);
    float *xp = (float *)cv->xp;
    for (long u = u0; u < u1; u++) {
        int n = (int)(u / s->C), c = (int)(u % s->C);
        float *plane = xp + (size_t)n * cv->ps + (size_t)c * R * Sw;
        if (!zeroed)
            memset(plane, 0, sizeof(float) * (size_t)R * Sw);
        for (int ih = 0; ih < rows; ih++) {
            float *restrict d = plane + (size_t)(ih + Pd) * Sw + Pd;
            const float *restrict src = x + ((size_t)c * H + ih) * W * N + n;
            if (N == 1)
                for (int j = 0; j < cols; j++)
                    d[j] = src[j];
            else
                for (int j = 0; j < cols; j++)
                    d[j] = src[(size_t)j * N];
        }
    }
}

/* the small-batch convolution's parallel part: this thread's share of
 * the padded copies (when fill), then, once every thread has filled its
 * own, of the items */
static void rn_conv1_share(const RnGemmImpl *impl, const RnConv1 *cv, const float *x,
                           int zeroed, int fill, long items, long units)
{
    int t, n;
    rn_team(&t, &n);
    if (fill) {
        rn_conv1_fill(cv, x, zeroed, units * t / n, units * (t + 1) / n);
#ifdef _OPENMP
#pragma omp barrier
#endif
    }
    impl->conv1(cv, items * t / n, items * (t + 1) / n, rn_get_arena());
}

void rn_conv1(const RnConvShape *s, int N, int T, const int *taps, const float *bp,
              const float *x, float *xpad, int zeroed, float *y, const float *bias, int relu)
{
    const RnGemmImpl *impl = rn_impl();
    int P = s->OH * s->OW, inplace = N == 1 && s->PAD == 0;
    if (N <= 0)
        return;
    if (!inplace && !xpad) {
        fprintf(stderr, "rn_conv1: %d images with padding %d need a buffer of "
                "N * rn_conv1_pad_floats floats\n", N, s->PAD);
        abort();
    }
    int ntiles = (P + impl->mr - 1) / impl->mr;
    RnConv1 cv = {*s, N, T, taps, bp, inplace ? x : xpad,
                  inplace ? s->H : (s->OH - 1) * s->S + s->KH,
                  inplace ? s->W : (s->OW - 1) * s->S + s->KW, 0,
                  y, bias, relu, ntiles, (s->M + impl->nr - 1) / impl->nr,
                  (P + ntiles - 1) / ntiles};
    cv.ps = (size_t)s->C * cv.R * cv.Sw;
    long items = (long)cv.ntiles * cv.nblocks * N, units = (long)N * s->C;
    int nt = rn_max_threads();
    if ((double)s->M * s->C * P * T * N < RN_MACS_PER_THREAD / 4.0)
        nt = 1;
    if (nt > items)
        nt = (int)items;
    if (nt > 1) {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        rn_conv1_share(impl, &cv, x, zeroed, !inplace, items, units);
    } else {
        rn_conv1_share(impl, &cv, x, zeroed, !inplace, items, units);
    }
}


/* the weight gradient's parallel part (rn_team; its worksharing loops run
 * whole when the caller runs it alone) */
static void rn_wgrad_body(const RnGemmImpl *impl, const RnWgrad *wgp, const float *dy,
                          const float *x, int Q, int items)
{
    const RnWgrad wg = *wgp;
    int mr = impl->mr, M = wg.M, C = wg.C, N = wg.N, P = wg.P, Cp = wg.Cp;
    float *dyp = wg.dyp, *xt = wg.xt;

    /* dy (M, P, N) -> panels (P, N, h); x (C, Q, N) -> (Q, N, Cp) */
#ifdef _OPENMP
#pragma omp for schedule(static) nowait
#endif
    for (int j = 0; j < wg.npanels; j++) {
        int m0 = j * mr, h = rn_min(mr, M - m0);
        float *d = dyp + (size_t)m0 * P * N;
        const float *src = dy + (size_t)m0 * P * N;
        size_t len = (size_t)P * N;
        /* (h, len) -> (len, h) */
        rn_transpose(src, (ptrdiff_t)len, d, h, h, (int)len);
    }
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int q = 0; q < Q; q++) {
        /* x's (C, N) at q, channels Q*N apart -> (N, Cp), zero past C */
        float *d = xt + (size_t)q * N * Cp;
        rn_transpose(x + (size_t)q * N, (ptrdiff_t)Q * N, d, Cp, C, N);
        if (Cp > C)
            for (int n = 0; n < N; n++)
                memset(d + (size_t)n * Cp + C, 0, sizeof(float) * (size_t)(Cp - C));
    }
    int t, n;
    rn_team(&t, &n);
    impl->wgrad(&wg, (int)((long)items * t / n), (int)((long)items * (t + 1) / n),
                rn_get_arena());
}

void rn_conv_wgrad(int M, int C, int N, int P, int Q, int T, const int *wpos, const int *wpq,
                   const float *dy, const float *x, float *dw, int Tw, const int *taps,
                   float *work)
{
    if (M <= 0 || C <= 0 || N <= 0)
        return;
    const RnGemmImpl *impl = rn_impl();
    int mr = impl->mr, Cp = rn_round_up(C, impl->vl);
    RnWgrad wg = {M, C, N, P, T, Cp, wpos, wpq, work, work + (size_t)M * P * N, dw, Tw, taps,
                  (M + mr - 1) / mr, (C + impl->nr - 1) / impl->nr};
    if ((size_t)T * (mr + 1) * impl->nr > RN_ARENA_FLOATS) {
        fprintf(stderr, "rn_conv_wgrad: %d taps are too many\n", T);
        abort();
    }
    int nt = rn_max_threads();
    if ((double)M * C * N * wpos[T] < RN_MACS_PER_THREAD * 2.0)
        nt = 1;
    int items = wg.npanels * wg.ncb;
    if (nt > items)
        nt = items;
    if (nt > 1) {
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
        rn_wgrad_body(impl, &wg, dy, x, Q, items);
    } else {
        rn_wgrad_body(impl, &wg, dy, x, Q, items);
    }
}

#else /* RN_GEMM_VARIANT: the template, one instance per inclusion */

/* ---- instruction set: vector width, register tile, cache blocks ----
 *
 * RN_VL   floats per vector
 * RN_MR   rows of the register tile (one broadcast of A each per k)
 * RN_NR   columns of the register tile: two vectors
 * RN_KC   depth of a packed block: an A micro-panel (MR x KC) fits in L1
 * RN_NC   width of a packed B block (KC x NC), streamed from L2 or L3
 * RN_MC   height of a packed A block (MC x KC), sized for L3
 * RN_V(f) the instance's name for f
 *
 * The AVX-512 figures were tuned on a Zen 4 core (32 KB L1, 1 MB L2),
 * where a 12-row tile is no faster than an 8-row one and an 8-row one
 * wastes nothing on the channel counts convolutions have (64, 128, ...);
 * NC from 384 to 3072 made no measurable difference.  The others are
 * textbook values, untuned.
 */
#if RN_GEMM_VARIANT == RN_VARIANT_AVX512 || \
    (RN_GEMM_VARIANT == RN_VARIANT_FLAGS && defined(__AVX512F__))
#define RN_ISA "avx512"
#define RN_VL 16
#define RN_MR 8
#define RN_KC 512
#define RN_NC 768
#define RN_MC 1024
#define RN_FMA(b, s, acc) \
    ((rn_vf)_mm512_fmadd_ps((__m512)(b), _mm512_set1_ps(s), (__m512)(acc)))

#elif RN_GEMM_VARIANT == RN_VARIANT_AVX2 || \
    (RN_GEMM_VARIANT == RN_VARIANT_FLAGS && defined(__AVX__))
#define RN_VL 8
#define RN_MR 6
#define RN_KC 256
#define RN_NC 512
#define RN_MC 768
#if RN_GEMM_VARIANT == RN_VARIANT_AVX2 || defined(__FMA__)
#define RN_ISA "avx2"
#define RN_FMA(b, s, acc) \
    ((rn_vf)_mm256_fmadd_ps((__m256)(b), _mm256_set1_ps(s), (__m256)(acc)))
#else
#define RN_ISA "avx"
#define RN_FMA(b, s, acc) ((acc) + (b) * (s))
#endif

#elif defined(__aarch64__) && defined(__ARM_NEON)
#define RN_ISA "neon"
#define RN_VL 4
#define RN_MR 12
#define RN_KC 256
#define RN_NC 512
#define RN_MC 768
#define RN_FMA(b, s, acc) \
    ((rn_vf)vfmaq_n_f32((float32x4_t)(acc), (float32x4_t)(b), (s)))

#else
#if defined(__SSE2__)
#define RN_ISA "sse2"
#else
#define RN_ISA "generic"
#endif
#define RN_VL 4
#define RN_MR 6
#define RN_KC 256
#define RN_NC 512
#define RN_MC 768
#define RN_FMA(b, s, acc) ((acc) + (b) * (s))
#endif

#define RN_NR (2 * RN_VL)

#if RN_GEMM_VARIANT == RN_VARIANT_AVX512
#define RN_V(f) f##_avx512
#define RN_TARGET __attribute__((target("avx512f,avx2,fma")))
#elif RN_GEMM_VARIANT == RN_VARIANT_AVX2
#define RN_V(f) f##_avx2
#define RN_TARGET __attribute__((target("avx2,fma")))
#else
#define RN_V(f) f##_flags
#define RN_TARGET
#endif

#define rn_vf RN_V(rn_vf)
typedef float rn_vf __attribute__((vector_size(RN_VL * sizeof(float))));

/* RN_ROWS(X): X(i) for every row i of the register tile; RN_HEIGHTS(X):
 * X(h) for every height 1..MR a micro-panel can have. */
#if RN_MR == 12
#define RN_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define RN_HEIGHTS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
#elif RN_MR == 8
#define RN_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define RN_HEIGHTS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)
#elif RN_MR == 6
#define RN_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define RN_HEIGHTS(X) X(1) X(2) X(3) X(4) X(5) X(6)
#else
#error "rn_gemm: no row list for this RN_MR"
#endif

_Static_assert(RN_NC % RN_NR == 0, "RN_NC must be a multiple of RN_NR");
_Static_assert(RN_MC % RN_MR == 0, "RN_MC must be a multiple of RN_MR");
_Static_assert((size_t)RN_MC * RN_KC + (size_t)RN_KC * RN_NC <= RN_ARENA_FLOATS,
               "the packing arena is too small for this instance");

/* ---- micro-kernels ----
 *
 * C tile (h, nr) = alpha * ap * bp + beta * C tile, where ap is an A
 * micro-panel of h rows (kc, h) and bp a B micro-panel of nv vectors
 * (kc, nv*VL), nr <= nv*VL; element (i, j) of the tile lives at
 * c[i*rs + j*cs] (cs == 1 normally; rs == 1 when the caller computes C^T).
 * x carries alpha, this K slice's beta and, on the last K slice only, the
 * epilogue: the bias and relu applied before the store, and the row
 * statistics taken from the stored values.  One body, instantiated for
 * every height h and for one or two vectors; rows past h fold away because
 * h and nv are constants in each instance.  alpha and beta come by pointer
 * so that they do not hold two vector registers through the loop: with 16
 * registers (AVX2) GCC would spill an accumulator instead.
 *
 * Statistics are per-lane partial sums in double, (rows, 2, VL): lane l
 * of row i accumulates the values of the columns j == l (mod VL) of the
 * tiles this row's owner stores, in the order it stores them; the caller
 * adds the lanes up in a fixed order.  No horizontal sum in the kernel, no
 * dependence on the schedule. */

#define rn_vd RN_V(rn_vd)
#define rn_vi RN_V(rn_vi)
typedef double rn_vd __attribute__((vector_size(RN_VL * sizeof(double))));
typedef int rn_vi __attribute__((vector_size(RN_VL * sizeof(int))));

/* A row's lanes st[0..VL) += v (+ w), st[VL..2VL) += v*v (+ w*w), in
 * double; w only when nv == 2, both vectors in one update. */
#define RN_STAT(st, nv, v, w)                            \
    do {                                                 \
        rn_vd s_, q_, d_ = __builtin_convertvector((v), rn_vd); \
        rn_vd ds_ = d_, dq_ = d_ * d_;                   \
        if ((nv) == 2) {                                 \
            rn_vd e_ = __builtin_convertvector((w), rn_vd); \
            ds_ += e_;                                   \
            dq_ += e_ * e_;                              \
        }                                                \
        RN_LOAD(s_, (st));                               \
        RN_LOAD(q_, (st) + RN_VL);                       \
        s_ += ds_;                                       \
        q_ += dq_;                                       \
        RN_STORE((st), s_);                              \
        RN_STORE((st) + RN_VL, q_);                      \
    } while (0)

/* *p = alpha * acc + beta * *p, then the bias and relu of row i; beta == 0
 * never reads *p.  Leaves the stored value in x_. */
#define RN_WRITE(p, acc, i)                              \
    do {                                                 \
        x_ = (acc) * alpha;                              \
        if (beta != 0.0f) {                              \
            rn_vf y_;                                    \
            RN_LOAD(y_, (p));                            \
            x_ += beta == 1.0f ? y_ : y_ * beta;         \
        }                                                \
        if (x->bias)                                     \
            x_ += x->bias[i];                            \
        if (x->relu)                                     \
            x_ = (rn_vf)((rn_vi)x_ & (rn_vi)(x_ > zero)); \
        RN_STORE((p), x_);                               \
    } while (0)

/* The tile's reduction in segments: segment s is C steps of k, the A
 * micro-panel at as[s] (C, h) against B rows at bs[s], ld floats apart.
 * The GEMM's kernels run one segment (the packed panels, ld = nv * VL);
 * the direct convolution's one per (tap, input position) entry, reading
 * the input's batch vectors in place (ld = the stride between channels). */
RN_TARGET static inline __attribute__((always_inline)) void
RN_V(rn_conv_body)(const int h, const int nv, int nseg, const float *const *as,
                   const float *const *bs, ptrdiff_t ld, int C, float *restrict c,
                   ptrdiff_t rs, ptrdiff_t cs, int nr, const RnKArgs *x)
{
    const rn_vf zero = {0};
#define RN_DECL(i) rn_vf c##i##a = zero, c##i##b = zero;
    RN_ROWS(RN_DECL)
#undef RN_DECL
    for (int s = 0; s < nseg; s++) {
        const float *restrict ap = as[s], *restrict bp = bs[s];
        for (int k = 0; k < C; k++) {
            rn_vf b0, b1;
            RN_LOAD(b0, bp);
            if (nv == 2)
                RN_LOAD(b1, bp + RN_VL);
            else
                b1 = b0;
#define RN_STEP(i)                                        \
            if ((i) < h) {                                \
                c##i##a = RN_FMA(b0, ap[i], c##i##a);     \
                if (nv == 2)                              \
                    c##i##b = RN_FMA(b1, ap[i], c##i##b); \
            }
            RN_ROWS(RN_STEP)
#undef RN_STEP
            ap += h;
            bp += ld;
        }
    }
#include "rn_gemm_store.inc"
}

/* the GEMM's micro-kernel: one segment of kc steps over packed panels */
RN_TARGET static inline __attribute__((always_inline)) void
RN_V(rn_kernel_body)(const int h, const int nv, int kc, const float *restrict ap,
                     const float *restrict bp, float *restrict c, ptrdiff_t rs,
                     ptrdiff_t cs, int nr, const RnKArgs *x)
{
    const float *a = ap, *b = bp;
    RN_V(rn_conv_body)(h, nv, 1, &a, &b, nv * RN_VL, kc, c, rs, cs, nr, x);
}

#define RN_KDEF(h)                                                                    \
    RN_TARGET static void RN_V(rn_kernel_##h##_1)(int kc, const float *restrict ap,   \
            const float *restrict bp, float *restrict c, ptrdiff_t rs, ptrdiff_t cs,  \
            int nr, const RnKArgs *x)                                                 \
    { RN_V(rn_kernel_body)(h, 1, kc, ap, bp, c, rs, cs, nr, x); }                     \
    RN_TARGET static void RN_V(rn_kernel_##h##_2)(int kc, const float *restrict ap,   \
            const float *restrict bp, float *restrict c, ptrdiff_t rs, ptrdiff_t cs,  \
            int nr, const RnKArgs *x)                                                 \
    { RN_V(rn_kernel_body)(h, 2, kc, ap, bp, c, rs, cs, nr, x); }
RN_HEIGHTS(RN_KDEF)
#undef RN_KDEF

/* RN_V(rn_kernels)[nv - 1][h - 1] */
#define RN_K1(h) RN_V(rn_kernel_##h##_1),
#define RN_K2(h) RN_V(rn_kernel_##h##_2),
static void (*const RN_V(rn_kernels)[2][RN_MR])(int, const float *restrict,
        const float *restrict, float *restrict, ptrdiff_t, ptrdiff_t, int,
        const RnKArgs *) = {
    {RN_HEIGHTS(RN_K1)},
    {RN_HEIGHTS(RN_K2)},
};
#undef RN_K1
#undef RN_K2

/* ---- packing ----
 *
 * An A block (mc, kc) becomes micro-panels of MR rows, the last one of
 * the rows that remain, each stored (kc, h) and starting at row*kc.  A B
 * block (kc, nc) becomes micro-panels of NR columns, the last one of one
 * vector when no more than VL columns remain, each stored (kc, w) and
 * starting at column*kc; columns past nc are zero.
 *
 * Where the source runs along k (A not transposed, B transposed) packing
 * is a transpose; it is done a VL x VL square at a time in registers, by
 * log2(VL) rounds of interleaving row i with row i + VL/2 (each round
 * rotates the bits of an element's index by one, so log2(VL) rounds swap
 * the row bits with the column bits).  Where the source runs along the
 * panel, rows are copied whole, prefetching a few rows ahead: those reads
 * come from L3 or memory and are most of the packing time. */

#define RN_PREFETCH_ROWS 2
#define RN_PREFETCH_K (4 * RN_VL)

#ifdef RN_HAVE_SHUFFLE
#if RN_VL == 16
#define RN_LOG2VL 4
#define RN_ZIPLO 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define RN_ZIPHI 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#elif RN_VL == 8
#define RN_LOG2VL 3
#define RN_ZIPLO 0, 8, 1, 9, 2, 10, 3, 11
#define RN_ZIPHI 4, 12, 5, 13, 6, 14, 7, 15
#elif RN_VL == 4
#define RN_LOG2VL 2
#define RN_ZIPLO 0, 4, 1, 5
#define RN_ZIPHI 2, 6, 3, 7
#endif

/* Load the VL x VL square whose row i starts at s + i*lds and transpose
 * it: on return r[q] holds column q.  Each row is prefetched pf floats
 * further on. */
RN_TARGET static inline __attribute__((always_inline)) void
RN_V(rn_load_transposed)(const float *s, ptrdiff_t lds, ptrdiff_t pf, rn_vf r[RN_VL])
{
    RN_UNROLL
    for (int i = 0; i < RN_VL; i++, s += lds) {
        __builtin_prefetch(s + pf);
        RN_LOAD(r[i], s);
    }
    RN_UNROLL
    for (int round = 0; round < RN_LOG2VL; round++) {
        rn_vf t[RN_VL];
        RN_UNROLL
        for (int i = 0; i < RN_VL / 2; i++) {
            t[2 * i] = __builtin_shufflevector(r[i], r[i + RN_VL / 2], RN_ZIPLO);
            t[2 * i + 1] = __builtin_shufflevector(r[i], r[i + RN_VL / 2], RN_ZIPHI);
        }
        RN_UNROLL
        for (int i = 0; i < RN_VL; i++)
            r[i] = t[i];
    }
}
#undef RN_LOG2VL
#undef RN_ZIPLO
#undef RN_ZIPHI
#endif

/* op(A)(i, k) = a[i*lda + k], or a[k*lda + i] when trans. */
RN_TARGET static void RN_V(rn_pack_a)(int trans, int mc, int kc, const float *a,
                                      ptrdiff_t lda, float *restrict ap)
{
    int mfull = mc / RN_MR * RN_MR;          /* rows in whole panels */
    int i0 = 0;
    if (trans) {
        /* Row k of the source holds k for every panel: copy along it. */
        for (int k = 0; k < kc; k++) {
            const float *s = a + (ptrdiff_t)k * lda;
            const float *pf = k + RN_PREFETCH_ROWS < kc ? s + RN_PREFETCH_ROWS * lda : s;
            for (int i = 0; i < mfull; i += RN_MR) {
                __builtin_prefetch(pf + i);
                memcpy(ap + (ptrdiff_t)i * kc + k * RN_MR, s + i, RN_MR * sizeof(float));
            }
        }
        i0 = mfull;
    } else {
#if defined(RN_HAVE_SHUFFLE) && (RN_VL % RN_MR == 0 || RN_MR % RN_VL == 0)
        /* Squares of VL rows; each transposed column splits into pieces
         * of L floats, each piece in one panel. */
        enum { L = RN_VL < RN_MR ? RN_VL : RN_MR };
        for (; i0 + RN_VL <= mfull; i0 += RN_VL) {
            const float *s = a + (ptrdiff_t)i0 * lda;
            int k = 0;
            for (; k + RN_VL <= kc; k += RN_VL) {
                rn_vf r[RN_VL];
                RN_V(rn_load_transposed)(s + k, lda, k + RN_PREFETCH_K < kc ? RN_PREFETCH_K : 0, r);
                for (int p = 0; p < RN_VL / L; p++) {
                    int row = i0 + p * L;
                    float *d = ap + (ptrdiff_t)(row / RN_MR * RN_MR) * kc + row % RN_MR;
                    RN_UNROLL
                    for (int q = 0; q < RN_VL; q++)
                        memcpy(d + (k + q) * RN_MR, (const char *)&r[q] + p * L * sizeof(float),
                               L * sizeof(float));
                }
            }
            for (; k < kc; k++)
                for (int i = 0; i < RN_VL; i++) {
                    int row = i0 + i;
                    ap[(ptrdiff_t)(row / RN_MR * RN_MR) * kc + k * RN_MR + row % RN_MR] =
                        s[(ptrdiff_t)i * lda + k];
                }
        }
#endif
    }
    /* Whatever is left, a panel at a time: whole panels the squares did not
     * cover and the last, shorter panel. */
    for (; i0 < mc; i0 += RN_MR) {
        int h = rn_min(RN_MR, mc - i0);
        float *d = ap + (ptrdiff_t)i0 * kc;
        for (int k = 0; k < kc; k++)
            for (int i = 0; i < h; i++)
                d[k * h + i] = trans ? a[(ptrdiff_t)k * lda + i0 + i]
                                     : a[(ptrdiff_t)(i0 + i) * lda + k];
    }
}

/* op(B)(k, j) = b[k*ldb + j], or b[j*ldb + k] when trans. */
RN_TARGET static void RN_V(rn_pack_b)(int trans, int kc, int nc, const float *b,
                                      ptrdiff_t ldb, float *restrict bp)
{
    int nfull = nc / RN_NR * RN_NR;          /* columns in whole panels */
    if (!trans) {
        /* Row k of the source holds k for every panel: copy along it. */
        for (int k = 0; k < kc; k++) {
            const float *s = b + (ptrdiff_t)k * ldb;
            const float *pf = k + RN_PREFETCH_ROWS < kc ? s + RN_PREFETCH_ROWS * ldb : s;
            float *d = bp + k * RN_NR;
            for (int j0 = 0; j0 < nfull; j0 += RN_NR) {
                __builtin_prefetch(pf + j0);
                __builtin_prefetch(pf + j0 + RN_NR - 1);
                memcpy(d + (ptrdiff_t)j0 * kc, s + j0, RN_NR * sizeof(float));
            }
        }
    } else {
        for (int j0 = 0; j0 < nfull; j0 += RN_NR) {
            const float *s = b + (ptrdiff_t)j0 * ldb;
            float *d = bp + (ptrdiff_t)j0 * kc;
            int k = 0;
#ifdef RN_HAVE_SHUFFLE
            for (; k + RN_VL <= kc; k += RN_VL)
                for (int g = 0; g < 2; g++) {
                    rn_vf r[RN_VL];
                    RN_V(rn_load_transposed)(s + (ptrdiff_t)g * RN_VL * ldb + k, ldb,
                                             k + RN_PREFETCH_K < kc ? RN_PREFETCH_K : 0, r);
                    RN_UNROLL
                    for (int q = 0; q < RN_VL; q++)
                        RN_STORE(d + (k + q) * RN_NR + g * RN_VL, r[q]);
                }
#endif
            for (; k < kc; k++)
                for (int j = 0; j < RN_NR; j++)
                    d[k * RN_NR + j] = s[(ptrdiff_t)j * ldb + k];
        }
    }
    if (nfull == nc)
        return;
    /* The last, narrower panel: w = one or two vectors, zero-padded. */
    int nr = nc - nfull, w = nr > RN_VL ? RN_NR : RN_VL;
    float *d = bp + (ptrdiff_t)nfull * kc;
    for (int k = 0; k < kc; k++) {
        int j = 0;
        if (!trans)
            for (; j < nr; j++) d[k * w + j] = b[(ptrdiff_t)k * ldb + nfull + j];
        else
            for (; j < nr; j++) d[k * w + j] = b[(ptrdiff_t)(nfull + j) * ldb + k];
        for (; j < w; j++) d[k * w + j] = 0.0f;
    }
}

/* ---- the five loops ----
 *
 * p's rows [m0, m1) and columns [n0, n1) of C, over all of K; st, when
 * not NULL, the lane statistics of rows m0.. (see the kernels). */

RN_TARGET static void RN_V(rn_gemm_serial)(const RnProb *p, int m0, int m1, int n0, int n1,
                                           double *st, float *arena)
{
    float *ap = arena, *bp = arena + (size_t)RN_MC * RN_KC;
    int M = m1 - m0, N = n1 - n0, K = p->K;
    const float *A = p->transA ? p->A + m0 : p->A + (ptrdiff_t)m0 * p->lda;
    const float *B = p->transB ? p->B + (ptrdiff_t)n0 * p->ldb : p->B + n0;
    float *C = p->C + (ptrdiff_t)m0 * p->rs + (ptrdiff_t)n0 * p->cs;
    ptrdiff_t lda = p->lda, ldb = p->ldb, rs = p->rs, cs = p->cs;

    /* K in equal slices of at most KC, so no thin last slice pays a full
     * write-back of C for a few steps of k. */
    int kslices = (K + RN_KC - 1) / RN_KC;
    int kstep = (K + kslices - 1) / kslices;

    for (int ic = 0; ic < M; ic += RN_MC) {
        int mc = rn_min(RN_MC, M - ic);
        for (int pc = 0; pc < K; pc += kstep) {
            int kc = rn_min(kstep, K - pc), last = pc + kc == K;
            RnKArgs x = {p->alpha, pc == 0 ? p->beta : 1.0f, NULL, 0, NULL};
            if (last) {
                x.relu = p->relu;
            }
            const float *a = p->transA ? A + (ptrdiff_t)pc * lda + ic
                                       : A + (ptrdiff_t)ic * lda + pc;
            RN_V(rn_pack_a)(p->transA, mc, kc, a, lda, ap);
            for (int jc = 0; jc < N; jc += RN_NC) {
                int nc = rn_min(RN_NC, N - jc);
                const float *b = p->transB ? B + (ptrdiff_t)jc * ldb + pc
                                           : B + (ptrdiff_t)pc * ldb + jc;
                RN_V(rn_pack_b)(p->transB, kc, nc, b, ldb, bp);
                float *c = C + (ptrdiff_t)ic * rs + (ptrdiff_t)jc * cs;
                for (int ir = 0; ir < mc; ir += RN_MR) {
                    int h = rn_min(RN_MR, mc - ir);
                    const float *apan = ap + (ptrdiff_t)ir * kc;
                    if (last) {
                        x.bias = p->bias ? p->bias + m0 + ic + ir : NULL;
                        x.stats = st ? st + (ptrdiff_t)(ic + ir) * 2 * RN_VL : NULL;
                    }
                    for (int jr = 0; jr < nc; jr += RN_NR) {
                        int nr = rn_min(RN_NR, nc - jr);
                        RN_V(rn_kernels)[nr > RN_VL][h - 1](kc, apan, bp + (ptrdiff_t)jr * kc,
                                                            c + (ptrdiff_t)ir * rs + (ptrdiff_t)jr * cs,
                                                            rs, cs, nr, &x);
                    }
                }
            }
        }
    }
}

/* ---- direct convolution ----
 *
 * The GEMM's register tile (rn_conv_body) over (rows m, a batch block of up
 * to NR images) of one output position; the reduction runs over the
 * position's entries (tap, input position), C steps each: the A
 * micro-panel of the tap (packed (T, C, h) per panel) against the input's
 * batch vectors, read in place with a stride of ld floats between
 * channels. */
#define RN_CDEF(h)                                                                         \
    RN_TARGET static void RN_V(rn_convk_##h##_1)(int nseg, const float *const *as,        \
            const float *const *bs, ptrdiff_t ld, int C, float *restrict c, ptrdiff_t rs,  \
            int nr, const RnKArgs *x)                                                      \
    { RN_V(rn_conv_body)(h, 1, nseg, as, bs, ld, C, c, rs, 1, nr, x); }                       \
    RN_TARGET static void RN_V(rn_convk_##h##_2)(int nseg, const float *const *as,        \
            const float *const *bs, ptrdiff_t ld, int C, float *restrict c, ptrdiff_t rs,  \
            int nr, const RnKArgs *x)                                                      \
    { RN_V(rn_conv_body)(h, 2, nseg, as, bs, ld, C, c, rs, 1, nr, x); }
RN_HEIGHTS(RN_CDEF)
#undef RN_CDEF

#define RN_K1(h) RN_V(rn_convk_##h##_1),
#define RN_K2(h) RN_V(rn_convk_##h##_2),
static void (*const RN_V(rn_convks)[2][RN_MR])(int, const float *const *, const float *const *,
        ptrdiff_t, int, float *restrict, ptrdiff_t, int, const RnKArgs *) = {
    {RN_HEIGHTS(RN_K1)},
    {RN_HEIGHTS(RN_K2)},
};
#undef RN_K1
#undef RN_K2

RN_TARGET static void RN_V(rn_conv_items)(const RnConv *cv, int i0, int i1, double *st,
                                          float *arena)
{
    int C = cv->C, N = cv->N, T = cv->T, npanels = (cv->M + RN_MR - 1) / RN_MR;
    const float *as[T], *bs[T];
    for (int it = i0; it < i1; it++) {
        int g = it % cv->npg, p = it / cv->npg % cv->P, b = it / cv->npg / cv->P;
        int n0 = b * RN_NR, nr = rn_min(RN_NR, N - n0), nv = nr > RN_VL ? 2 : 1;
        int e0 = cv->pos[p], nseg = cv->pos[p + 1] - e0;
        ptrdiff_t ld = cv->ldx;
        int j1 = rn_min(npanels, (g + 1) * cv->gsize);
        if (n0 + nv * RN_VL <= N) {
            for (int s = 0; s < nseg; s++)
                bs[s] = cv->x + (ptrdiff_t)cv->tq[2 * (e0 + s) + 1] * N + n0;
        } else {
            /* the ragged last block: its vectors copied, zero-padded, so
             * that no load reads past the batch (copying every block, to
             * keep the channels' Q*N-float stride out of the cache sets,
             * measured no faster once the items run batch block by batch
             * block) */
            int w = nv * RN_VL;
            for (int s = 0; s < nseg; s++) {
                const float *src = cv->x + (ptrdiff_t)cv->tq[2 * (e0 + s) + 1] * N + n0;
                float *d = arena + (size_t)s * C * w;
                for (int k = 0; k < C; k++) {
                    memcpy(d + (size_t)k * w, src + (ptrdiff_t)k * cv->ldx, sizeof(float) * nr);
                    memset(d + (size_t)k * w + nr, 0, sizeof(float) * (w - nr));
                }
                bs[s] = d;
            }
            ld = w;
        }
        for (int j = g * cv->gsize; j < j1; j++) {
            int m0 = j * RN_MR, h = rn_min(RN_MR, cv->M - m0);
            const float *a = cv->ap + (size_t)m0 * T * C;
            for (int s = 0; s < nseg; s++)
                as[s] = a + (size_t)cv->tq[2 * (e0 + s)] * C * h;
            RnKArgs x = {1.0f, cv->beta, cv->bias ? cv->bias + m0 : NULL, cv->relu,
                         st ? st + (size_t)m0 * 2 * RN_VL : NULL};
            RN_V(rn_convks)[nv - 1][h - 1](nseg, as, bs, ld, C,
                                           cv->y + (ptrdiff_t)m0 * cv->ldy + (ptrdiff_t)p * N + n0,
                                           cv->ldy, nr, &x);
        }
    }
}

/* The weight gradient with the same kernels: the tile is (rows m, NR
 * channels c) of one tap; the reduction runs over the tap's (output,
 * input) position pairs, N steps each: dy's packed batch (N, h) of
 * position p against x's channel vectors at (q, n), Cp floats apart. */
RN_TARGET static void RN_V(rn_wgrad_items)(const RnWgrad *wg, int i0, int i1, float *arena)
{
    int M = wg->M, C = wg->C, N = wg->N, P = wg->P, T = wg->T;
    const float *as[P > 0 ? P : 1], *bs[P > 0 ? P : 1];
    for (int it = i0; it < i1; it++) {
        int cb = it % wg->ncb, j = it / wg->ncb;
        int m0 = j * RN_MR, h = rn_min(RN_MR, M - m0), c0 = cb * RN_NR;
        int nr = rn_min(RN_NR, C - c0), nv = nr > RN_VL ? 2 : 1;
        const float *a = wg->dyp + (size_t)m0 * P * N;
        /* every tap's (h, nr) tile, in L1, then added into dw, whose
         * (c, tap) elements of a row are contiguous */
        for (int t = 0; t < T; t++) {
            int e0 = wg->wpos[t], nseg = wg->wpos[t + 1] - e0;
            for (int s = 0; s < nseg; s++) {
                as[s] = a + (size_t)wg->wpq[2 * (e0 + s)] * N * h;
                bs[s] = wg->xt + ((size_t)wg->wpq[2 * (e0 + s) + 1] * N) * wg->Cp + c0;
            }
            RnKArgs x = {1.0f, 0.0f, NULL, 0, NULL};
            RN_V(rn_convks)[nv - 1][h - 1](nseg, as, bs, wg->Cp, N,
                                           arena + (size_t)t * RN_MR * RN_NR, RN_NR, nr, &x);
        }
        for (int r = 0; r < h; r++) {
            float *restrict d = wg->dw + ((size_t)(m0 + r) * C + c0) * wg->Tw;
            if (!wg->taps && nr == RN_NR) {
                /* every tap packed: the row's NR * T elements of dw are
                 * contiguous, (c, t); the tiles' row r transposed into
                 * that order, then added as vectors (the element-wise
                 * loop below was a fifth of the time on 2x2 planes) */
                float *restrict u = arena + (size_t)T * RN_MR * RN_NR;
                rn_transpose(arena + (size_t)r * RN_NR, RN_MR * RN_NR, u, T, T, RN_NR);
                for (int k = 0; k < RN_NR * T; k++)
                    d[k] += u[k];
                continue;
            }
            for (int c = 0; c < nr; c++)
                for (int t = 0; t < T; t++)
                    d[(size_t)c * wg->Tw + (wg->taps ? wg->taps[t] : t)] +=
                        arena[((size_t)t * RN_MR + r) * RN_NR + c];
        }
    }
}

/* Batch 1: the register tile is (h output positions, a vector or two of
 * output channels); the reduction runs over segments of steps, each step
 * one input value per position, broadcast, against NR filter values.  The
 * input is read in place from the zero-padded planes: position i's value
 * of a step at xp[ro[i] + o], o starting at so[s] and growing by astep
 * (the plane size: the next channel; or 1 with one input channel: the
 * next tap of the kernel row); the filter's packed rows at bs[s], NR
 * floats a step.  Row i of the tile goes to (acc: is added to) row
 * rows[i] of t, NR floats a row. */
RN_TARGET static inline __attribute__((always_inline)) void
RN_V(rn_conv1_body)(const int h, const int nv, int nseg, const int *so, const int *sn,
                    const float *const *bs, const float *xp, const int *ro, ptrdiff_t astep,
                    float *restrict t, const int *rows, int acc)
{
    const rn_vf zero = {0};
#define RN_DECL(i)                                       \
    rn_vf c##i##a = zero, c##i##b = zero;                \
    const float *a##i = (i) < h ? xp + ro[(i) < h ? (i) : 0] : xp;
    RN_ROWS(RN_DECL)
#undef RN_DECL
    for (int s = 0; s < nseg; s++) {
        const float *restrict bp = bs[s];
        ptrdiff_t o = so[s];
        for (int k = sn[s]; k > 0; k--) {
            rn_vf b0, b1;
            RN_LOAD(b0, bp);
            if (nv == 2)
                RN_LOAD(b1, bp + RN_VL);
            else
                b1 = b0;
#define RN_STEP(i)                                          \
            if ((i) < h) {                                  \
                c##i##a = RN_FMA(b0, a##i[o], c##i##a);     \
                if (nv == 2)                                \
                    c##i##b = RN_FMA(b1, a##i[o], c##i##b); \
            }
            RN_ROWS(RN_STEP)
#undef RN_STEP
            o += astep;
            bp += RN_NR;
        }
    }
#define RN_PUT(i)                                            \
    if ((i) < h) {                                           \
        float *r = t + (size_t)rows[(i) < h ? (i) : 0] * RN_NR; \
        if (acc) {                                           \
            rn_vf u_;                                        \
            RN_LOAD(u_, r);                                  \
            c##i##a += u_;                                   \
            if (nv == 2) {                                   \
                RN_LOAD(u_, r + RN_VL);                      \
                c##i##b += u_;                               \
            }                                                \
        }                                                    \
        RN_STORE(r, c##i##a);                                \
        if (nv == 2)                                         \
            RN_STORE(r + RN_VL, c##i##b);                    \
    }
    RN_ROWS(RN_PUT)
#undef RN_PUT
}

#define RN_C1DEF(h)                                                                         \
    RN_TARGET static void RN_V(rn_conv1k_##h##_1)(int nseg, const int *so, const int *sn,  \
            const float *const *bs, const float *xp, const int *ro, ptrdiff_t astep,       \
            float *restrict t, const int *rows, int acc)                                   \
    { RN_V(rn_conv1_body)(h, 1, nseg, so, sn, bs, xp, ro, astep, t, rows, acc); }           \
    RN_TARGET static void RN_V(rn_conv1k_##h##_2)(int nseg, const int *so, const int *sn,  \
            const float *const *bs, const float *xp, const int *ro, ptrdiff_t astep,       \
            float *restrict t, const int *rows, int acc)                                   \
    { RN_V(rn_conv1_body)(h, 2, nseg, so, sn, bs, xp, ro, astep, t, rows, acc); }
RN_HEIGHTS(RN_C1DEF)
#undef RN_C1DEF

#define RN_K1(h) RN_V(rn_conv1k_##h##_1),
#define RN_K2(h) RN_V(rn_conv1k_##h##_2),
static void (*const RN_V(rn_conv1ks)[2][RN_MR])(int, const int *, const int *,
        const float *const *, const float *, const int *, ptrdiff_t, float *restrict,
        const int *, int) = {
    {RN_HEIGHTS(RN_K1)},
    {RN_HEIGHTS(RN_K2)},
};
#undef RN_K1
#undef RN_K2

/* Items [i0, i1) of a batch-1 convolution, each (channel block, position
 * tile).  A tap's live positions are those of the tile it reads inside
 * the image at; the taps with the same live positions run as one kernel
 * call over just those positions, added into the tile (so no multiply
 * touches padding, and taps no position reads are skipped).  With fewer
 * than 16 input channels all of a tile's taps are one call (the padding's
 * zeros multiplied), and with one channel a kernel row's consecutive taps
 * are one segment. */
RN_TARGET static void RN_V(rn_conv1_items)(const RnConv1 *cv, long i0, long i1, float *arena)
{
    const RnConvShape *sh = &cv->s;
    int C = sh->C, T = cv->T, P = sh->OH * sh->OW, KH = sh->KH, KW = sh->KW, S = sh->S;
    ptrdiff_t astep = C == 1 ? 1 : (ptrdiff_t)cv->R * cv->Sw;
    float *tile = arena;
    const float *bs[T];
    int so[T], sn[T], ro[RN_MR], gro[RN_MR], rows[RN_MR];
    unsigned mh[KH], mw[KW], tm[T];
    int tkh[T], tkw[T];
    for (int t = 0; t < T; t++) {
        int tap = cv->taps ? cv->taps[t] : t;
        tkh[t] = tap / KW;
        tkw[t] = tap % KW;
    }
    for (long it = i0; it < i1; it++) {
        /* channel block by channel block: each block's filter in L2 for
         * all the images and tiles */
        int mb = (int)(it / ((long)cv->N * cv->ntiles)), n = (int)(it / cv->ntiles % cv->N);
        int tl = (int)(it % cv->ntiles);
        int p0 = tl * cv->th, h = rn_min(cv->th, P - p0), m0 = mb * RN_NR;
        const float *xp = cv->xp + (size_t)n * cv->ps;
        int nr = rn_min(RN_NR, sh->M - m0), nv = nr > RN_VL ? 2 : 1;
        for (int k = 0; k < KH; k++)
            mh[k] = 0;
        for (int k = 0; k < KW; k++)
            mw[k] = 0;
        for (int r = 0; r < h; r++) {
            int oh = (p0 + r) / sh->OW, ow = (p0 + r) % sh->OW;
            ro[r] = oh * S * cv->Sw + ow * S;
            for (int k = 0; k < KH; k++)
                mh[k] |= (unsigned)((unsigned)(oh * S - sh->PAD + k) < (unsigned)sh->H) << r;
            for (int k = 0; k < KW; k++)
                mw[k] |= (unsigned)((unsigned)(ow * S - sh->PAD + k) < (unsigned)sh->W) << r;
        }
        /* with few channels a group's calls cost more than multiplying
         * the padding's zeros: one group, every tap some position reads */
        unsigned all = C < 16 ? (1u << h) - 1 : 0;
        for (int t = 0; t < T; t++) {
            tm[t] = mh[tkh[t]] & mw[tkw[t]];
            if (tm[t])
                tm[t] |= all;
        }
        const float *b = cv->bp + (size_t)mb * T * C * RN_NR;
        int acc = 0;
        for (int t0 = 0; t0 < T; t0++) {
            unsigned m = tm[t0];
            if (!m)
                continue;
            /* the group of taps live at the positions m */
            int nseg = 0, prev_t = -2, prev_tap = -2, hh = 0;
            for (int t = t0; t < T; t++) {
                if (tm[t] != m)
                    continue;
                tm[t] = 0;
                int tap = tkh[t] * KW + tkw[t];
                if (C == 1 && prev_t == t - 1 && prev_tap == tap - 1 && tkw[t] > 0) {
                    sn[nseg - 1]++;  /* the row's next tap: one step on in x and in b */
                } else {
                    so[nseg] = tkh[t] * cv->Sw + tkw[t];
                    sn[nseg] = C;
                    bs[nseg++] = b + (size_t)t * C * RN_NR;
                }
                prev_t = t;
                prev_tap = tap;
            }
            for (int r = 0; r < h; r++)
                if (m >> r & 1) {
                    gro[hh] = ro[r];
                    rows[hh++] = r;
                }
            if (!acc && hh < h)
                memset(tile, 0, sizeof(float) * (size_t)h * RN_NR);
            RN_V(rn_conv1ks)[nv - 1][hh - 1](nseg, so, sn, bs, xp, gro, astep, tile, rows,
                                              acc || hh < h);
            acc = 1;
        }
        if (!acc)
            memset(tile, 0, sizeof(float) * (size_t)h * RN_NR);
        /* the tile is (positions, channels): y is (channels, positions, N) */
        for (int j = 0; j < nr; j++) {
            float bj = cv->bias ? cv->bias[m0 + j] : 0.0f;
            float *yj = cv->y + ((size_t)(m0 + j) * P + p0) * cv->N + n;
            for (int r = 0; r < h; r++) {
                float v = tile[r * RN_NR + j] + bj;
                yj[(size_t)r * cv->N] = cv->relu && v < 0.0f ? 0.0f : v;
            }
        }
    }
}

static const RnGemmImpl RN_V(rn_impl) = {RN_ISA, RN_VL, RN_MR, RN_NR, RN_V(rn_gemm_serial),
                                         RN_V(rn_conv_items), RN_V(rn_wgrad_items),
                                         RN_V(rn_conv1_items)};

#undef RN_WRITE
#undef RN_STAT
#undef RN_ISA
#undef RN_VL
#undef RN_MR
#undef RN_NR
#undef RN_KC
#undef RN_NC
#undef RN_MC
#undef RN_FMA
#undef RN_V
#undef RN_TARGET
#undef rn_vf
#undef rn_vd
#undef rn_vi
#undef RN_ROWS
#undef RN_HEIGHTS
#undef RN_PREFETCH_ROWS
#undef RN_PREFETCH_K

#endif /* RN_GEMM_VARIANT */
