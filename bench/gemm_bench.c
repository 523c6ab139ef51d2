/* gemm_bench.c - GFLOP/s of rn_sgemm on the shapes the networks run.
 *
 * Not part of the test suite (timings are not tests).  It first measures
 * the machine's FMA peak with a register-only fused multiply-add loop (the
 * widest vectors the CPU has, on 1 and on THREADS threads), then times
 * rn_sgemm on every convolution and fully connected layer of
 * models/mnist.rnet and of a ResNet-18 for 1x28x28 digits, at batch 1, 64
 * and 256, in the three forms training runs (activations are CNHW, so a
 * convolution is one GEMM over the whole batch; P = output pixels):
 *
 *     fwd  y    = W  col      nn  (Cout, N*P, C*kh*kw)
 *     dW   dW  += dy col^T    nt  (Cout, C*kh*kw, N*P)
 *     dX   dcol = W^T dy      tn  (C*kh*kw, N*P, Cout)
 *
 * on 1 thread and on THREADS threads, and prints the median of REPS
 * timings (each timing long enough to measure, >= ~10 ms) in GFLOP/s, and
 * the THREADS-thread figure as a percentage of the measured peak.
 *
 *   gcc -std=c11 -O3 -march=native -fopenmp -D_POSIX_C_SOURCE=200809L \
 *       -Iruntime bench/gemm_bench.c runtime/rn_gemm.c -o /tmp/gb
 *   /tmp/gb [-t THREADS] [-r REPS] [-b BATCH] [-f fwd|dw|dx] [-l LAYER]
 *           [-s MxNxK -x nn|nt|tn|tt] [-e] [-k ISA]
 *
 * -b, -f and -l keep only that batch, form or layer (name prefix); -s
 * times one shape instead of the list; -e runs the forward form through
 * rn_sgemm_ep with bias, relu and both row statistics (conv + batch-norm
 * statistics fusion), to see what the epilogue costs; -k forces a kernel
 * (avx512, avx2, ...; see rn_gemm_force_isa).
 */
#include "rn_gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* ---- the FMA peak ----
 *
 * Twelve independent accumulators hide the FMA latency on every x86 core
 * we know; no memory is touched.  Returns FLOP per second on one thread. */

#define PEAK_ITERS 4000000L

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) static double peak_avx512(long n)
{
    __m512 a[12], m = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, b);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    return (double)_mm512_reduce_add_ps(s) * 1e-30 + 2.0 * 16 * 12 * (double)n;
}

__attribute__((target("avx2,fma"))) static double peak_avx2(long n)
{
    __m256 a[12], m = _mm256_set1_ps(0.9999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, b);
    }
    __m256 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float o[8];
    _mm256_storeu_ps(o, s);
    return (double)o[0] * 1e-30 + 2.0 * 8 * 12 * (double)n;
}
#endif

/* The median over 5 runs of `threads` threads each running the loop, in
 * GFLOP/s; *isa names the instructions, or is "none" (returns 0). */
static double measure_peak(int threads, const char **isa)
{
    double (*loop)(long) = NULL;
    *isa = "none";
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) {
        loop = peak_avx512;
        *isa = "avx512";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        loop = peak_avx2;
        *isa = "avx2";
    }
#endif
    if (!loop)
        return 0.0;
    double g[5];
    for (int r = 0; r < 5; r++) {
        double flop = 0.0, t0 = now();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : flop)
#endif
        flop += loop(PEAK_ITERS);
        g[r] = flop / (now() - t0) * 1e-9;
    }
    (void)threads;
    qsort(g, 5, sizeof g[0], cmp_double);
    return g[2];
}

/* ---- the shapes ---- */

/* A layer's forward GEMM at batch n: M = cout, N = n * pix, K = ckk. */
typedef struct {
    const char *name;
    int cout, pix, ckk;
} Layer;

/* mnist.rnet (stem, layer1-3, fc 256) and ResNet-18 for 28x28 (the same
 * stem and layer1, wider layer2-3 shortcuts, layer4 at 1x1, fc 512). */
static const Layer layers[] = {
    {"stem7x7", 64, 196, 49},
    {"l1.3x3", 64, 49, 576},
    {"l2.3x3a", 128, 16, 576},
    {"l2.3x3b", 128, 16, 1152},
    {"l2.ds1x1", 128, 16, 64},
    {"l3.3x3a", 256, 4, 1152},
    {"l3.3x3b", 256, 4, 2304},
    {"l3.ds1x1", 256, 4, 128},
    {"l4.3x3a", 512, 1, 2304},
    {"l4.3x3b", 512, 1, 4608},
    {"l4.ds1x1", 512, 1, 256},
    {"fc256", 10, 1, 256},
    {"fc512", 10, 1, 512},
};

enum { FWD, DW, DX, NFORMS };
static const char *const form_names[NFORMS] = {"fwd", "dW", "dX"};
static const char *const op_names[4] = {"nn", "nt", "tn", "tt"};

typedef struct {
    int ta, tb, M, N, K;
    float beta;
    const RnEpilogue *ep;
} Job;

static void run_job(const Job *j, const float *A, const float *B, float *C)
{
    int lda = j->ta ? j->M : j->K, ldb = j->tb ? j->K : j->N;
    if (j->ep)
        rn_sgemm_ep(j->ta, j->tb, j->M, j->N, j->K, 1.0f, A, lda, B, ldb, j->beta, C,
                    j->N, j->ep);
    else
        rn_sgemm(j->ta, j->tb, j->M, j->N, j->K, 1.0f, A, lda, B, ldb, j->beta, C, j->N);
}

/* Median seconds of `reps` timings of j on `threads` threads. */
static double time_job(const Job *j, int threads, const float *A, const float *B,
                       float *C, int reps)
{
    set_threads(threads);
    run_job(j, A, B, C); /* warm up: caches, page faults, thread start */
    double t0 = now();
    run_job(j, A, B, C);
    double one = now() - t0;
    int inner = one < 0.01 ? (int)(0.01 / (one > 1e-7 ? one : 1e-7)) + 1 : 1;
    double t[64];
    if (reps > 64)
        reps = 64;
    for (int r = 0; r < reps; r++) {
        t0 = now();
        for (int i = 0; i < inner; i++)
            run_job(j, A, B, C);
        t[r] = (now() - t0) / inner;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

static float *fill(size_t n, unsigned mul)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "gemm_bench: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * mul + 3) % 13) / 13.0f - 0.5f;
    return p;
}

static double peak_mt;

/* Time one job on 1 and on `threads` threads and print its line. */
static void bench(const char *name, int batch, const char *form, const Job *j,
                  int threads, int reps)
{
    size_t na = (size_t)j->M * j->K, nb = (size_t)j->K * j->N, nc = (size_t)j->M * j->N;
    float *A = fill(na, 7), *B = fill(nb, 5), *C = fill(nc, 3);
    double flop = 2.0 * j->M * j->N * j->K;
    double t1 = time_job(j, 1, A, B, C, reps);
    double tn = threads > 1 ? time_job(j, threads, A, B, C, reps) : t1;
    char shape[48];
    snprintf(shape, sizeof shape, "%dx%dx%d", j->M, j->N, j->K);
    printf("%-9s %5d %-4s %-2s %-18s %8.1f %8.1f %6.0f%% %9.1f\n", name, batch, form,
           op_names[2 * j->ta + j->tb], shape, flop / t1 * 1e-9, flop / tn * 1e-9,
           peak_mt > 0.0 ? 100.0 * flop / tn * 1e-9 / peak_mt : 0.0, tn * 1e6);
    fflush(stdout);
    free(A);
    free(B);
    free(C);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [-t THREADS] [-r REPS] [-b BATCH] [-f fwd|dw|dx] [-l LAYER]\n"
            "          [-s MxNxK -x nn|nt|tn|tt] [-e] [-k ISA]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 5, only_batch = 0, only_form = -1, use_ep = 0;
    int sm = 0, sn = 0, sk = 0, sx = 0;
    const char *only_layer = NULL, *isa = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-e")) {
            use_ep = 1;
            continue;
        }
        if (!v)
            usage(argv[0]);
        i++;
        if (!strcmp(a, "-t"))
            threads = atoi(v);
        else if (!strcmp(a, "-r"))
            reps = atoi(v);
        else if (!strcmp(a, "-b"))
            only_batch = atoi(v);
        else if (!strcmp(a, "-l"))
            only_layer = v;
        else if (!strcmp(a, "-k"))
            isa = v;
        else if (!strcmp(a, "-f")) {
            only_form = !strcmp(v, "fwd") ? FWD : !strcmp(v, "dw") ? DW : !strcmp(v, "dx") ? DX : -2;
            if (only_form == -2) {
                fprintf(stderr, "gemm_bench: -f wants fwd, dw or dx, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "-s")) {
            if (sscanf(v, "%dx%dx%d", &sm, &sn, &sk) != 3 || sm < 1 || sn < 1 || sk < 1) {
                fprintf(stderr, "gemm_bench: -s wants MxNxK, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "-x")) {
            for (sx = 0; sx < 4 && strcmp(v, op_names[sx]); sx++) {}
            if (sx == 4) {
                fprintf(stderr, "gemm_bench: -x wants nn, nt, tn or tt, got '%s'\n", v);
                return 2;
            }
        } else
            usage(argv[0]);
    }
    if (reps < 1)
        reps = 1;
    if (isa && rn_gemm_force_isa(isa) != 0) {
        fprintf(stderr, "gemm_bench: no '%s' kernel in this build or on this CPU\n", isa);
        return 2;
    }
#ifdef _OPENMP
    if (threads <= 0)
        threads = omp_get_max_threads();
#else
    threads = 1;
#endif
    const char *pisa;
    double peak1 = measure_peak(1, &pisa);
    peak_mt = measure_peak(threads, &pisa);
    int mr, nr;
    rn_gemm_tile(&mr, &nr);
    printf("FMA peak (%s loop): %.1f GFLOP/s on 1 thread, %.1f on %d\n", pisa, peak1,
           peak_mt, threads);
    printf("rn_sgemm %s, tile %dx%d; GFLOP/s, median of %d%s\n", rn_gemm_isa(), mr, nr,
           reps, use_ep ? "; fwd through rn_sgemm_ep (bias, relu, row sums)" : "");
    printf("%-9s %5s %-4s %-2s %-18s %8s %8s %7s %9s\n", "layer", "batch", "form", "op",
           "M x N x K", "1 thr", "threads", "%peak", "us");

    /* The epilogue's operands, big enough for every M. */
    static float bias[4608];
    static double rsum[4608], rsq[4608];
    for (int i = 0; i < 4608; i++) bias[i] = 0.01f * (float)(i % 7);
    RnEpilogue ep = {bias, 1, rsum, rsq};

    if (sm) {
        Job j = {sx >> 1, sx & 1, sm, sn, sk, 0.0f, NULL};
        if (use_ep && sm <= 4608)
            j.ep = &ep;
        bench("custom", 0, "-", &j, threads, reps);
        return 0;
    }
    static const int batches[] = {1, 64, 256};
    for (int bi = 0; bi < 3; bi++) {
        int n = batches[bi];
        if (only_batch && n != only_batch)
            continue;
        for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
            const Layer *L = &layers[l];
            if (only_layer && strncmp(L->name, only_layer, strlen(only_layer)))
                continue;
            for (int f = 0; f < NFORMS; f++) {
                if (only_form >= 0 && f != only_form)
                    continue;
                Job j;
                if (f == FWD)
                    j = (Job){0, 0, L->cout, n * L->pix, L->ckk, 0.0f, use_ep ? &ep : NULL};
                else if (f == DW)
                    j = (Job){0, 1, L->cout, L->ckk, n * L->pix, 1.0f, NULL};
                else
                    j = (Job){1, 0, L->ckk, n * L->pix, L->cout, 0.0f, NULL};
                bench(L->name, n, form_names[f], &j, threads, reps);
            }
        }
    }
    return 0;
}
