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
 * work, counting the repeated packing, is smallest.
 */
#ifndef RN_GEMM_VARIANT

#include "rn_gemm.h"

#include <stddef.h>
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

/* One instance: its name, its register tile, its five loops (M, N, K >= 1,
 * alpha != 0, arena of RN_ARENA_FLOATS). */
typedef struct RnGemmImpl {
    const char *isa;
    int mr, nr;
    void (*serial)(int transA, int transB, int M, int N, int K, float alpha,
                   const float *A, ptrdiff_t lda, const float *B, ptrdiff_t ldb,
                   float beta, float *C, ptrdiff_t ldc, float *arena);
} RnGemmImpl;

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

/* Plain loops, used only when the packing arena cannot be allocated. */
static void rn_gemm_plain(int transA, int transB, int M, int N, int K,
                          float alpha, const float *A, ptrdiff_t lda,
                          const float *B, ptrdiff_t ldb, float beta,
                          float *C, ptrdiff_t ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = transA ? A[(ptrdiff_t)k * lda + i] : A[(ptrdiff_t)i * lda + k];
                float b = transB ? B[(ptrdiff_t)j * ldb + k] : B[(ptrdiff_t)k * ldb + j];
                s += a * b;
            }
            float *c = C + (ptrdiff_t)i * ldc + j;
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
}

/* One thread's share: M, N, K >= 1, alpha != 0. */
static void rn_gemm_one(const RnGemmImpl *impl, int transA, int transB,
                        int M, int N, int K, float alpha, const float *A,
                        ptrdiff_t lda, const float *B, ptrdiff_t ldb,
                        float beta, float *C, ptrdiff_t ldc)
{
    float *arena = rn_get_arena();
    if (arena)
        impl->serial(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, arena);
    else
        rn_gemm_plain(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void rn_sgemm_st(int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0f) {
        rn_scale(M, N, beta, C, ldc);
        return;
    }
    rn_gemm_one(rn_impl(), transA, transB, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

#ifdef _OPENMP

/* A thread is worth starting for this many multiply-adds (~20 us), and a
 * chunk of work should be no smaller. */
#define RN_MACS_PER_THREAD (1 << 20)
/* Up to this many chunks per thread, so that a thread slowed by another
 * process on its core hands part of its share to the others; but only as
 * many as cost no more than RN_CHUNK_OVERHEAD in repeated packing. */
#define RN_CHUNKS_PER_THREAD 4
#define RN_CHUNK_OVERHEAD 1.05

/* Rows/columns [*lo, *hi) of part p of `parts` parts of `len`, cut on
 * tile boundaries. */
static void rn_part(int len, int tile, int parts, int p, int *lo, int *hi)
{
    int tiles = (len + tile - 1) / tile;
    *lo = rn_min(len, (int)((long long)tiles * p / parts) * tile);
    *hi = rn_min(len, (int)((long long)tiles * (p + 1) / parts) * tile);
}

/* Grid tm x tn == n of chunks of C with the least total work, returned:
 * the chunks' tile areas plus their packing, since every chunk packs its
 * own rows of op(A) and columns of op(B).  A packed element costs about
 * four multiply-adds when copied straight and four times that when
 * transposed (A not transposed, B transposed). */
static double rn_grid(int mr, int nr, int transA, int transB, int M, int N,
                      int n, int *tm, int *tn)
{
    double best = -1.0;
    double wa = transA ? 4.0 : 16.0, wb = transB ? 16.0 : 4.0;
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

void rn_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0f) {
        rn_scale(M, N, beta, C, ldc);
        return;
    }
    const RnGemmImpl *impl = rn_impl();
    double macs = (double)M * N * K;
    double tiles = (double)((M + impl->mr - 1) / impl->mr) * ((N + impl->nr - 1) / impl->nr);
    double most = macs / RN_MACS_PER_THREAD < tiles ? macs / RN_MACS_PER_THREAD : tiles;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > most)
        nt = (int)most;
    if (nt <= 1) {
        rn_gemm_one(impl, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* C in chunks, handed out one at a time. */
    int chunks = nt, tm = 1, tn = 1;
    double base = rn_grid(impl->mr, impl->nr, transA, transB, M, N, nt, &tm, &tn);
    for (int c = 2 * nt; c <= RN_CHUNKS_PER_THREAD * nt && c <= most; c += nt) {
        int cm = 1, cn = 1;
        if (rn_grid(impl->mr, impl->nr, transA, transB, M, N, c, &cm, &cn) <=
            RN_CHUNK_OVERHEAD * base) {
            chunks = c;
            tm = cm;
            tn = cn;
        }
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int ch = 0; ch < chunks; ch++) {
        int m0, m1, n0, n1;
        rn_part(M, impl->mr, tm, ch / tn, &m0, &m1);
        rn_part(N, impl->nr, tn, ch % tn, &n0, &n1);
        if (m0 < m1 && n0 < n1) {
            const float *a = transA ? A + m0 : A + (ptrdiff_t)m0 * lda;
            const float *b = transB ? B + (ptrdiff_t)n0 * ldb : B + n0;
            rn_gemm_one(impl, transA, transB, m1 - m0, n1 - n0, K, alpha, a, lda,
                        b, ldb, beta, C + (ptrdiff_t)m0 * ldc + n0, ldc);
        }
    }
}

#else

void rn_sgemm(int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    rn_sgemm_st(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif

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
 * (kc, nv*VL), nr <= nv*VL, and ab = {alpha, beta}.  One body,
 * instantiated for every height h and for one or two vectors; rows past h
 * fold away because h and nv are constants in each instance.  alpha and
 * beta come by pointer so that they do not hold two vector registers
 * through the loop: with 16 registers (AVX2) GCC would spill an
 * accumulator instead. */

/* *p = alpha * acc + beta * *p, one vector; beta == 0 never reads *p. */
#define RN_WRITE(p, acc)                                 \
    do {                                                 \
        rn_vf x_ = (acc) * alpha, y_;                    \
        if (beta != 0.0f) {                              \
            RN_LOAD(y_, (p));                            \
            x_ += beta == 1.0f ? y_ : y_ * beta;         \
        }                                                \
        RN_STORE((p), x_);                               \
    } while (0)

RN_TARGET static inline __attribute__((always_inline)) void
RN_V(rn_kernel_body)(const int h, const int nv, int kc, const float *restrict ap,
                     const float *restrict bp, float *restrict c, ptrdiff_t ldc,
                     int nr, const float *ab)
{
    const rn_vf zero = {0};
#define RN_DECL(i) rn_vf c##i##a = zero, c##i##b = zero;
    RN_ROWS(RN_DECL)
#undef RN_DECL

    for (int k = 0; k < kc; k++) {
        rn_vf b0, b1;
        RN_LOAD(b0, bp);
        if (nv == 2)
            RN_LOAD(b1, bp + RN_VL);
        else
            b1 = b0;
#define RN_STEP(i)                                        \
        if ((i) < h) {                                    \
            c##i##a = RN_FMA(b0, ap[i], c##i##a);         \
            if (nv == 2)                                  \
                c##i##b = RN_FMA(b1, ap[i], c##i##b);     \
        }
        RN_ROWS(RN_STEP)
#undef RN_STEP
        ap += h;
        bp += nv * RN_VL;
    }

    const float alpha = ab[0], beta = ab[1];
    if (nr == nv * RN_VL) {
#define RN_PUT(i)                                         \
        if ((i) < h) {                                    \
            float *r = c + (ptrdiff_t)(i) * ldc;          \
            RN_WRITE(r, c##i##a);                         \
            if (nv == 2)                                  \
                RN_WRITE(r + RN_VL, c##i##b);             \
        }
        RN_ROWS(RN_PUT)
#undef RN_PUT
        return;
    }

    /* Ragged right edge: spill the tile, write back what lies inside C. */
    float t[RN_MR * RN_NR];
#define RN_SPILL(i)                                       \
    if ((i) < h) {                                        \
        RN_STORE(t + (i) * RN_NR, c##i##a);               \
        if (nv == 2)                                      \
            RN_STORE(t + (i) * RN_NR + RN_VL, c##i##b);   \
    }
    RN_ROWS(RN_SPILL)
#undef RN_SPILL
    for (int i = 0; i < h; i++) {
        float *r = c + (ptrdiff_t)i * ldc;
        const float *s = t + i * RN_NR;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) r[j] = alpha * s[j];
        else
            for (int j = 0; j < nr; j++) r[j] = alpha * s[j] + beta * r[j];
    }
}
#undef RN_WRITE

#define RN_KDEF(h)                                                                    \
    RN_TARGET static void RN_V(rn_kernel_##h##_1)(int kc, const float *restrict ap,   \
            const float *restrict bp, float *restrict c, ptrdiff_t ldc, int nr,       \
            const float *ab)                                                          \
    { RN_V(rn_kernel_body)(h, 1, kc, ap, bp, c, ldc, nr, ab); }                       \
    RN_TARGET static void RN_V(rn_kernel_##h##_2)(int kc, const float *restrict ap,   \
            const float *restrict bp, float *restrict c, ptrdiff_t ldc, int nr,       \
            const float *ab)                                                          \
    { RN_V(rn_kernel_body)(h, 2, kc, ap, bp, c, ldc, nr, ab); }
RN_HEIGHTS(RN_KDEF)
#undef RN_KDEF

/* RN_V(rn_kernels)[nv - 1][h - 1] */
#define RN_K1(h) RN_V(rn_kernel_##h##_1),
#define RN_K2(h) RN_V(rn_kernel_##h##_2),
static void (*const RN_V(rn_kernels)[2][RN_MR])(int, const float *restrict,
        const float *restrict, float *restrict, ptrdiff_t, int, const float *) = {
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

/* ---- the five loops ---- */

RN_TARGET static void RN_V(rn_gemm_serial)(int transA, int transB, int M, int N, int K,
                                           float alpha, const float *A, ptrdiff_t lda,
                                           const float *B, ptrdiff_t ldb, float beta,
                                           float *C, ptrdiff_t ldc, float *arena)
{
    float *ap = arena, *bp = arena + (size_t)RN_MC * RN_KC;

    /* K in equal slices of at most KC, so no thin last slice pays a full
     * write-back of C for a few steps of k. */
    int kslices = (K + RN_KC - 1) / RN_KC;
    int kstep = (K + kslices - 1) / kslices;

    for (int ic = 0; ic < M; ic += RN_MC) {
        int mc = rn_min(RN_MC, M - ic);
        for (int pc = 0; pc < K; pc += kstep) {
            int kc = rn_min(kstep, K - pc);
            const float ab[2] = {alpha, pc == 0 ? beta : 1.0f};
            const float *a = transA ? A + (ptrdiff_t)pc * lda + ic
                                    : A + (ptrdiff_t)ic * lda + pc;
            RN_V(rn_pack_a)(transA, mc, kc, a, lda, ap);
            for (int jc = 0; jc < N; jc += RN_NC) {
                int nc = rn_min(RN_NC, N - jc);
                const float *b = transB ? B + (ptrdiff_t)jc * ldb + pc
                                        : B + (ptrdiff_t)pc * ldb + jc;
                RN_V(rn_pack_b)(transB, kc, nc, b, ldb, bp);
                float *c = C + (ptrdiff_t)ic * ldc + jc;
                for (int ir = 0; ir < mc; ir += RN_MR) {
                    int h = rn_min(RN_MR, mc - ir);
                    const float *apan = ap + (ptrdiff_t)ir * kc;
                    for (int jr = 0; jr < nc; jr += RN_NR) {
                        int nr = rn_min(RN_NR, nc - jr);
                        RN_V(rn_kernels)[nr > RN_VL][h - 1](kc, apan, bp + (ptrdiff_t)jr * kc,
                                                            c + (ptrdiff_t)ir * ldc + jr, ldc,
                                                            nr, ab);
                    }
                }
            }
        }
    }
}

static const RnGemmImpl RN_V(rn_impl) = {RN_ISA, RN_MR, RN_NR, RN_V(rn_gemm_serial)};

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
#undef RN_ROWS
#undef RN_HEIGHTS
#undef RN_PREFETCH_ROWS
#undef RN_PREFETCH_K

#endif /* RN_GEMM_VARIANT */
