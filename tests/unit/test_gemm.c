/* test_gemm.c - rn_sgemm and rn_sgemm_st against a triple loop in double.
 *
 * Every transpose combination over every (M, N, K) drawn from a list of
 * awkward sizes (1, 2, 3, one less and one more than a vector or a tile),
 * plus shapes that cross the cache blocks (K past KC, N past NC, M past
 * MC) and shapes big enough for rn_sgemm to use threads when built with
 * -fopenmp.  Leading dimensions are padded and the padding of A and B is
 * NaN, so a read outside op(A) or op(B) poisons the result; the padding of
 * C holds a sentinel that must survive.  beta == 0 runs on a C full of NaN.
 *
 * The whole suite runs once for every kernel this build and this CPU have
 * (rn_gemm_force_isa): on x86-64 the AVX-512, AVX2 and compile-flags ones.
 *
 * Error bound: a float dot product of length K is within about K * eps of
 * the exact one, relative to sum |a_k b_k|; the check allows
 * 4 (K + 2) eps * (|alpha| sum |a b| + |beta c|) per element, which a
 * wrong index or a dropped term exceeds by orders of magnitude.
 */
#include "check.h"
#include "rn_gemm.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef void Gemm(int, int, int, int, int, float, const float *, int,
                  const float *, int, float, float *, int);

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* Uniform in [-1, 1). */
static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / (1 << 23)) - 1.0);
}

static const float SENTINEL = 12345.0f;

/* One case: returns 1 when C matches the reference; on failure writes the
 * first wrong element into why. */
static int run_case(Gemm *gemm, int ta, int tb, int M, int N, int K,
                    float alpha, float beta, int pad, char *why, size_t whylen)
{
    int arows = ta ? K : M, acols = ta ? M : K;
    int brows = tb ? N : K, bcols = tb ? K : N;
    int lda = acols + pad, ldb = bcols + pad, ldc = N + pad;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    size_t na = (size_t)arows * lda, nb = (size_t)brows * ldb, nc = (size_t)M * ldc;
    float *A = malloc((na ? na : 1) * sizeof *A);
    float *B = malloc((nb ? nb : 1) * sizeof *B);
    float *C = malloc((nc ? nc : 1) * sizeof *C);
    float *C0 = malloc((nc ? nc : 1) * sizeof *C0);
    if (!A || !B || !C || !C0) {
        snprintf(why, whylen, "out of memory");
        free(A); free(B); free(C); free(C0);
        return 0;
    }
    for (int r = 0; r < arows; r++)
        for (int c = 0; c < lda; c++)
            A[(size_t)r * lda + c] = c < acols ? frand() : NAN;
    for (int r = 0; r < brows; r++)
        for (int c = 0; c < ldb; c++)
            B[(size_t)r * ldb + c] = c < bcols ? frand() : NAN;
    for (int r = 0; r < M; r++)
        for (int c = 0; c < ldc; c++)
            C[(size_t)r * ldc + c] = c >= N ? SENTINEL : beta == 0.0f ? NAN : frand();
    if (nc)
        memcpy(C0, C, nc * sizeof *C);

    gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);

    int ok = 1;
    for (int i = 0; i < M && ok; i++) {
        for (int j = 0; j < ldc; j++) {
            float got = C[(size_t)i * ldc + j];
            if (j >= N) {
                if (got != SENTINEL) {
                    snprintf(why, whylen, "%s%s M=%d N=%d K=%d pad=%d: C padding (%d,%d) overwritten with %g",
                             ta ? "t" : "n", tb ? "t" : "n", M, N, K, pad, i, j, (double)got);
                    ok = 0;
                    break;
                }
                continue;
            }
            double s = 0.0, mag = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            double want = (double)alpha * s, scale = fabs((double)alpha) * mag;
            if (beta != 0.0f) {
                double c0 = C0[(size_t)i * ldc + j];
                want += (double)beta * c0;
                scale += fabs((double)beta * c0);
            }
            double tol = 4.0 * (K + 2) * FLT_EPSILON * scale + 1e-30;
            double err = fabs((double)got - want);
            if (!(err <= tol)) {  /* catches NaN too */
                snprintf(why, whylen, "%s%s M=%d N=%d K=%d pad=%d alpha=%g beta=%g: C(%d,%d) = %.9g, want %.9g (tol %.3g)",
                         ta ? "t" : "n", tb ? "t" : "n", M, N, K, pad, (double)alpha,
                         (double)beta, i, j, (double)got, want, tol);
                ok = 0;
                break;
            }
        }
    }
    free(A);
    free(B);
    free(C);
    free(C0);
    return ok;
}

static const char *const OPS[4] = {"nn", "nt", "tn", "tt"};

/* Every (M, N, K) from `sizes`, for one transpose combination. */
static void check_all_sizes(const char *fn, Gemm *gemm, int ta, int tb)
{
    static const int sizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 33};
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    char name[96], why[256] = "";
    int ok = 1, cases = 0;
    for (int a = 0; a < ns && ok; a++)
        for (int b = 0; b < ns && ok; b++)
            for (int c = 0; c < ns && ok; c++) {
                /* rotate alpha, beta and padding through the cases */
                static const float alphas[] = {1.0f, -0.75f, 2.5f};
                static const float betas[] = {0.0f, 1.0f, 0.5f, -2.0f};
                float alpha = alphas[cases % 3], beta = betas[(cases / 3) % 4];
                int pad = (cases % 5 == 0) ? 0 : 1 + cases % 7;
                ok = run_case(gemm, ta, tb, sizes[a], sizes[b], sizes[c],
                              alpha, beta, pad, why, sizeof why);
                cases++;
            }
    snprintf(name, sizeof name, "%s_%s_sizes", fn, OPS[2 * ta + tb]);
    CHECK(ok, name, "%s", why);
}

/* Shapes that cross the cache blocks or engage threads. */
static void check_big(const char *fn, Gemm *gemm, int ta, int tb)
{
    static const int shapes[][3] = {
        {64, 100, 257},   /* conv-like, ragged N and K */
        {257, 64, 100},
        {100, 257, 64},
        {9, 33, 1100},    /* K past KC: several K slices, beta then 1 */
        {40, 800, 24},    /* N past NC */
        {1100, 20, 30},   /* M past MC */
        {130, 300, 120},  /* enough work for threads */
        {203, 333, 64},   /* threads, several chunks, ragged on both sides */
        {1, 500, 300},    /* a row vector times a matrix */
        {500, 1, 300},    /* a matrix times a column vector */
    };
    char name[96], why[256] = "";
    int ok = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && ok; s++) {
        ok = run_case(gemm, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2],
                      0.5f, 0.0f, 3, why, sizeof why);
        if (ok)
            ok = run_case(gemm, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2],
                          -1.25f, 0.75f, 0, why, sizeof why);
    }
    snprintf(name, sizeof name, "%s_%s_blocks", fn, OPS[2 * ta + tb]);
    CHECK(ok, name, "%s", why);
}

/* K == 0 and alpha == 0 leave C = beta * C; beta == 0 clears NaN; M or N
 * == 0 touches nothing. */
static void check_degenerate(const char *fn, Gemm *gemm)
{
    char name[96];
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 2, 3, 4, 5, 6};
    float C[6] = {1, 2, 3, 4, 5, 6};

    gemm(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 0.5f, C, 3);
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= C[i] == 0.5f * (float)(i + 1);
    snprintf(name, sizeof name, "%s_k0_scales_c", fn);
    CHECK(ok, name, "K == 0 should give C = beta * C, got C[0] = %g", (double)C[0]);

    for (int i = 0; i < 6; i++)
        C[i] = NAN;
    gemm(1, 1, 2, 3, 0, 1.0f, A, 2, B, 1, 0.0f, C, 3);
    ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= C[i] == 0.0f;
    snprintf(name, sizeof name, "%s_k0_beta0_clears_nan", fn);
    CHECK(ok, name, "K == 0, beta == 0 should zero C, got C[0] = %g", (double)C[0]);

    for (int i = 0; i < 6; i++)
        C[i] = NAN;
    gemm(0, 1, 2, 3, 2, 0.0f, A, 2, B, 2, 0.0f, C, 3);
    ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= C[i] == 0.0f;
    snprintf(name, sizeof name, "%s_alpha0_beta0_clears_nan", fn);
    CHECK(ok, name, "alpha == 0, beta == 0 should zero C, got C[0] = %g", (double)C[0]);

    for (int i = 0; i < 6; i++)
        C[i] = (float)i;
    gemm(0, 0, 0, 3, 2, 1.0f, A, 2, B, 3, 0.0f, C, 3);
    gemm(0, 0, 2, 0, 2, 1.0f, A, 2, B, 1, 0.0f, C, 1);
    ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= C[i] == (float)i;
    snprintf(name, sizeof name, "%s_empty_touches_nothing", fn);
    CHECK(ok, name, "M == 0 or N == 0 changed C");
}

/* rn_sgemm called from inside a parallel region must not nest, and each
 * thread's product must come out right. */
static void check_inside_parallel(void)
{
#ifdef _OPENMP
    int fails = 0;
#pragma omp parallel num_threads(2) reduction(+ : fails)
    {
        char why[256];
        int t = omp_get_thread_num();
        fails += !run_case(rn_sgemm, t & 1, 1, 70, 130, 90 + t, 1.0f, 0.0f, 2, why, sizeof why);
    }
    CHECK(fails == 0, "sgemm_inside_parallel", "%d thread(s) got a wrong product", fails);
#endif
}

/* ---- rn_sgemm_ep ---- */

enum { EP_BIAS = 1, EP_RELU = 2, EP_SUM = 4, EP_SUMSQ = 8 };

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* One rn_sgemm_ep case with the epilogue fields in `flags`: C against a
 * double reference (alpha op(A) op(B) + beta C, + bias, relu), and the row
 * statistics against the sums, in double, of the values C actually holds
 * afterwards plus their starting values.  Then runs it again from the same
 * start and demands bit-identical C and statistics. */
static int run_ep_case(int ta, int tb, int M, int N, int K, float alpha, float beta,
                       int flags, int pad, char *why, size_t whylen)
{
    int arows = ta ? K : M, acols = ta ? M : K;
    int brows = tb ? N : K, bcols = tb ? K : N;
    int lda = acols + pad > 0 ? acols + pad : 1, ldb = bcols + pad > 0 ? bcols + pad : 1;
    int ldc = N + pad;
    size_t na = (size_t)arows * lda, nb = (size_t)brows * ldb, nc = (size_t)M * ldc;
    float *A = malloc((na + 1) * sizeof *A), *B = malloc((nb + 1) * sizeof *B);
    float *C = malloc((nc + 1) * sizeof *C), *C0 = malloc((nc + 1) * sizeof *C0);
    float *C1 = malloc((nc + 1) * sizeof *C1), *bias = malloc(((size_t)M + 1) * sizeof *bias);
    double *st = malloc(((size_t)M * 4 + 1) * sizeof *st);
    int ok = 1;
    if (!A || !B || !C || !C0 || !C1 || !bias || !st) {
        snprintf(why, whylen, "out of memory");
        ok = 0;
        goto out;
    }
    for (size_t i = 0; i < na; i++) A[i] = i % lda < (size_t)acols ? frand() : NAN;
    for (size_t i = 0; i < nb; i++) B[i] = i % ldb < (size_t)bcols ? frand() : NAN;
    for (size_t i = 0; i < nc; i++)
        C0[i] = i % ldc >= (size_t)N ? SENTINEL : beta == 0.0f ? NAN : frand();
    for (int i = 0; i < M; i++) {
        bias[i] = 0.5f * frand();
        st[i] = frand();              /* row_sum starts anywhere */
        st[M + i] = 1.0 + frand();    /* row_sumsq too */
    }
    double *sum = st + 2 * M, *sq = st + 3 * M;
    RnEpilogue ep = {flags & EP_BIAS ? bias : NULL, (flags & EP_RELU) != 0,
                     flags & EP_SUM ? sum : NULL, flags & EP_SUMSQ ? sq : NULL};
    const char *op = OPS[2 * ta + tb];

    memcpy(C, C0, nc * sizeof *C);
    memcpy(sum, st, 2 * (size_t)M * sizeof *sum);
    rn_sgemm_ep(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &ep);
    for (int i = 0; i < M && ok; i++) {
        double s = 0.0, q = 0.0;
        for (int j = 0; j < ldc; j++) {
            float got = C[(size_t)i * ldc + j];
            if (j >= N) {
                if (got != SENTINEL) {
                    snprintf(why, whylen, "%s M=%d N=%d K=%d: C padding (%d,%d) overwritten",
                             op, M, N, K, i, j);
                    ok = 0;
                    break;
                }
                continue;
            }
            double r = 0.0, mag = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                r += a * b;
                mag += fabs(a * b);
            }
            double want = (double)alpha * r, scale = fabs((double)alpha) * mag;
            if (beta != 0.0f) {
                double c0 = C0[(size_t)i * ldc + j];
                want += (double)beta * c0;
                scale += fabs((double)beta * c0);
            }
            if (flags & EP_BIAS) {
                want += bias[i];
                scale += fabs(bias[i]);
            }
            if ((flags & EP_RELU) && want < 0.0)
                want = 0.0;
            double tol = 4.0 * (K + 3) * FLT_EPSILON * scale + 1e-30;
            if (!(fabs(got - want) <= tol)) {  /* catches NaN too */
                snprintf(why, whylen, "%s M=%d N=%d K=%d alpha=%g beta=%g flags=%d: C(%d,%d) = %.9g, want %.9g",
                         op, M, N, K, (double)alpha, (double)beta, flags, i, j, (double)got, want);
                ok = 0;
                break;
            }
            s += got;
            q += (double)got * got;
        }
        if (!ok)
            break;
        /* the statistics: over C's final values, in double */
        double ws = st[i] + s, wq = st[M + i] + q;
        double ts = 1e-12 * (fabs(st[i]) + q + N), tq = 1e-12 * (fabs(st[M + i]) + q + N);
        if (flags & EP_SUM ? !(fabs(sum[i] - ws) <= ts) : sum[i] != st[i]) {
            snprintf(why, whylen, "%s M=%d N=%d K=%d flags=%d: row_sum[%d] = %.17g, want %.17g",
                     op, M, N, K, flags, i, sum[i], flags & EP_SUM ? ws : st[i]);
            ok = 0;
        } else if (flags & EP_SUMSQ ? !(fabs(sq[i] - wq) <= tq) : sq[i] != st[M + i]) {
            snprintf(why, whylen, "%s M=%d N=%d K=%d flags=%d: row_sumsq[%d] = %.17g, want %.17g",
                     op, M, N, K, flags, i, sq[i], flags & EP_SUMSQ ? wq : st[M + i]);
            ok = 0;
        }
    }
    if (ok) {
        /* again from the same start: bit-identical C and statistics */
        memcpy(C1, C, nc * sizeof *C);
        double *keep = malloc(2 * (size_t)M * sizeof *keep);
        if (!keep) {
            snprintf(why, whylen, "out of memory");
            ok = 0;
            goto out;
        }
        memcpy(keep, sum, 2 * (size_t)M * sizeof *keep);
        memcpy(C, C0, nc * sizeof *C);
        memcpy(sum, st, 2 * (size_t)M * sizeof *sum);
        rn_sgemm_ep(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &ep);
        if (memcmp(C, C1, nc * sizeof *C) != 0 || memcmp(keep, sum, 2 * (size_t)M * sizeof *keep) != 0) {
            snprintf(why, whylen, "%s M=%d N=%d K=%d flags=%d: a second run is not bit-identical",
                     op, M, N, K, flags);
            ok = 0;
        }
        free(keep);
    }
out:
    free(A); free(B); free(C); free(C0); free(C1); free(bias); free(st);
    return ok;
}

/* Every transpose, sizes crossing tiles and vectors, every combination of
 * epilogue fields, alpha and beta rotating; on `threads` threads. */
static void check_ep_sizes(int threads)
{
    static const int sizes[] = {1, 7, 13, 100, 257};
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    static const float alphas[] = {1.0f, -0.75f, 2.5f};
    static const float betas[] = {0.0f, 1.0f, 0.5f, -2.0f};
    set_threads(threads);
    for (int x = 0; x < 4; x++) {
        char name[96], why[320] = "";
        int ok = 1, cases = 0;
        for (int a = 0; a < ns && ok; a++)
            for (int b = 0; b < ns && ok; b++)
                for (int c = 0; c < ns && ok; c++, cases++)
                    if ((long)sizes[a] * sizes[b] * sizes[c] <= 500000) /* keep it fast */
                        ok = run_ep_case(x >> 1, x & 1, sizes[a], sizes[b], sizes[c],
                                         alphas[cases % 3], betas[(cases / 3) % 4],
                                         cases % 16, cases % 3, why, sizeof why);
        snprintf(name, sizeof name, "sgemm_ep_%s_sizes_%dt", OPS[x], threads);
        CHECK(ok, name, "%s", why);
    }
}

/* Shapes that take each way through the code with threads: C cut in
 * columns (statistics from two chunks), a few columns (C^T), a reduction
 * split over threads (long K, small C), K past a cache block. */
static void check_ep_paths(int threads)
{
    static const int shapes[][4] = {
        /* M, N, K, op */
        {8, 3000, 147, 0},   /* few rows: columns cut, statistics in parts */
        {20, 2000, 64, 2},
        {130, 700, 96, 0},   /* rows cut */
        {256, 4, 1152, 0},   /* batch 1: C^T */
        {512, 1, 700, 2},
        {64, 49, 6000, 1},   /* weight gradient: reduction split */
        {10, 256, 3000, 1},
        {33, 17, 5000, 3},
        {9, 40, 1100, 0},    /* several K slices */
    };
    set_threads(threads);
    char name[96], why[320] = "";
    int ok = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && ok; s++)
        for (int flags = 0; flags < 16 && ok; flags += 15)
            ok = run_ep_case(shapes[s][3] >> 1, shapes[s][3] & 1, shapes[s][0], shapes[s][1],
                             shapes[s][2], flags & 1 ? -1.5f : 1.0f, flags & 2 ? 0.5f : 0.0f,
                             flags | EP_SUM, 1, why, sizeof why);
    snprintf(name, sizeof name, "sgemm_ep_paths_%dt", threads);
    CHECK(ok, name, "%s", why);
}

/* ep == NULL and an empty epilogue are rn_sgemm, bit for bit; K == 0 and
 * alpha == 0 still apply the epilogue to beta * C. */
static void check_ep_plain(void)
{
    enum { M = 37, N = 300, K = 90 };
    static float A[M * K], B[K * N], C1[M * N], C2[M * N], C3[M * N];
    for (int i = 0; i < M * K; i++) A[i] = frand();
    for (int i = 0; i < K * N; i++) B[i] = frand();
    for (int i = 0; i < M * N; i++) C1[i] = C2[i] = C3[i] = frand();
    RnEpilogue none = {NULL, 0, NULL, NULL};
    rn_sgemm(0, 1, M, N, K, 0.5f, A, K, B, K, 0.25f, C1, N);
    rn_sgemm_ep(0, 1, M, N, K, 0.5f, A, K, B, K, 0.25f, C2, N, NULL);
    rn_sgemm_ep(0, 1, M, N, K, 0.5f, A, K, B, K, 0.25f, C3, N, &none);
    CHECK(!memcmp(C1, C2, sizeof C1) && !memcmp(C1, C3, sizeof C1), "sgemm_ep_null_is_sgemm",
          "rn_sgemm_ep without an epilogue differs from rn_sgemm");

    float c[6] = {-1, 2, -3, 4, -5, 6}, bias[2] = {0.5f, -10.0f};
    double sum[2] = {1, 1}, sq[2] = {0, 0};
    RnEpilogue ep = {bias, 1, sum, sq};
    rn_sgemm_ep(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 2.0f, c, 3, &ep);
    /* row 0: 2c + 0.5 = -1.5, 4.5, -5.5 -> 0, 4.5, 0; row 1: 8-10, -10-10, 12-10 -> 0, 0, 2 */
    int ok = c[0] == 0 && c[1] == 4.5f && c[2] == 0 && c[3] == 0 && c[4] == 0 && c[5] == 2.0f &&
             sum[0] == 5.5 && sum[1] == 3.0 && sq[0] == 20.25 && sq[1] == 4.0;
    CHECK(ok, "sgemm_ep_k0_applies_epilogue",
          "K == 0: got C = %g %g %g / %g %g %g, sums %g %g, squares %g %g", (double)c[0],
          (double)c[1], (double)c[2], (double)c[3], (double)c[4], (double)c[5], sum[0], sum[1],
          sq[0], sq[1]);
}

int main(void)
{
    static const char *const isas[] = {"avx512", "avx2", "avx", "sse2", "neon", "generic"};
    int kernels = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (rn_gemm_force_isa(isas[i]) != 0)
            continue;
        kernels++;
        int mr, nr;
        rn_gemm_tile(&mr, &nr);
        printf("# %s kernel, %dx%d tile\n", rn_gemm_isa(), mr, nr);
        char fn[32], fn_st[32];
        snprintf(fn, sizeof fn, "sgemm_%s", isas[i]);
        snprintf(fn_st, sizeof fn_st, "sgemm_st_%s", isas[i]);
        for (int x = 0; x < 4; x++) {
            /* every one of these is below rn_sgemm's threshold for threads,
             * so rn_sgemm would run the same code */
            check_all_sizes(fn_st, rn_sgemm_st, x >> 1, x & 1);
            check_big(fn, rn_sgemm, x >> 1, x & 1);
            check_big(fn_st, rn_sgemm_st, x >> 1, x & 1);
        }
        check_degenerate(fn, rn_sgemm);
        check_degenerate(fn_st, rn_sgemm_st);
        check_inside_parallel();
        check_ep_sizes(1);
        check_ep_paths(1);
#ifdef _OPENMP
        check_ep_sizes(2);
        check_ep_paths(2);
        set_threads(omp_get_num_procs());
#endif
    }
    check_ep_plain();
    CHECK(kernels >= 1, "sgemm_some_kernel_runs", "rn_gemm_force_isa accepted no kernel name");
    CHECK(rn_gemm_force_isa("no-such-isa") == -1, "sgemm_force_unknown_isa",
          "an unknown kernel name was accepted");
    rn_gemm_force_isa(NULL);
    printf("# automatic choice: %s\n", rn_gemm_isa());
    CHECK_DONE();
}
