/* peak.c - the machine's single-precision FMA peak, measured.
 *
 * The bar "GFLOP/s at X% of peak" needs the peak of this machine, not a
 * datasheet's: a virtual CPU's clock, turbo and the width of its FMA units
 * (Zen 4 runs a 512-bit FMA as two 256-bit halves) all change it.  So this
 * runs a loop that does nothing but independent FMAs - 16 vector
 * accumulators, enough to cover the FMA latency (4-5 cycles) on two pipes -
 * on 1 thread and on T threads at once (pthreads, each busy for the same
 * number of iterations), and reports GFLOP/s (one FMA = 2 FLOP per lane).
 *
 * AVX-512 when the CPU has avx512f, AVX2+FMA as well when it has those
 * (both are printed: which one is the peak depends on the core), and a
 * plain C loop with GCC vector extensions elsewhere.  Built by
 * bench/bench.sh:
 *
 *     cc -std=c11 -O2 -march=native -pthread -D_POSIX_C_SOURCE=200809L \
 *        bench/peak.c -o out/bench/peak
 *     out/bench/peak [-t THREADS] [-r REPS] [--csv]
 *
 * Output: one line per ISA and thread count with the best and the median
 * of REPS runs; with --csv, records "peak,ISA,THREADS,BEST,MEDIAN" after a
 * "#" line naming the columns.  The best is the peak (a busy machine only
 * ever makes a run slower).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PEAK_X86 1
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each kernel runs iters iterations of 16 independent FMAs a = a * b + c
 * (b < 1, so every chain settles at c / (1 - b) = 1: no overflow, no
 * subnormals) and returns a sum of the accumulators so that nothing is
 * optimised away.  flops per iteration: 16 x lanes x 2. */

#ifdef PEAK_X86
__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    __m512 a0 = _mm512_set1_ps(0.10f), a1 = _mm512_set1_ps(0.11f), a2 = _mm512_set1_ps(0.12f),
           a3 = _mm512_set1_ps(0.13f), a4 = _mm512_set1_ps(0.14f), a5 = _mm512_set1_ps(0.15f),
           a6 = _mm512_set1_ps(0.16f), a7 = _mm512_set1_ps(0.17f), a8 = _mm512_set1_ps(0.18f),
           a9 = _mm512_set1_ps(0.19f), a10 = _mm512_set1_ps(0.20f), a11 = _mm512_set1_ps(0.21f),
           a12 = _mm512_set1_ps(0.22f), a13 = _mm512_set1_ps(0.23f), a14 = _mm512_set1_ps(0.24f),
           a15 = _mm512_set1_ps(0.25f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, b, c), a1 = _mm512_fmadd_ps(a1, b, c);
        a2 = _mm512_fmadd_ps(a2, b, c), a3 = _mm512_fmadd_ps(a3, b, c);
        a4 = _mm512_fmadd_ps(a4, b, c), a5 = _mm512_fmadd_ps(a5, b, c);
        a6 = _mm512_fmadd_ps(a6, b, c), a7 = _mm512_fmadd_ps(a7, b, c);
        a8 = _mm512_fmadd_ps(a8, b, c), a9 = _mm512_fmadd_ps(a9, b, c);
        a10 = _mm512_fmadd_ps(a10, b, c), a11 = _mm512_fmadd_ps(a11, b, c);
        a12 = _mm512_fmadd_ps(a12, b, c), a13 = _mm512_fmadd_ps(a13, b, c);
        a14 = _mm512_fmadd_ps(a14, b, c), a15 = _mm512_fmadd_ps(a15, b, c);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)),
                                       _mm512_add_ps(_mm512_add_ps(a12, a13),
                                                     _mm512_add_ps(a14, a15))));
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    __m256 a0 = _mm256_set1_ps(0.10f), a1 = _mm256_set1_ps(0.11f), a2 = _mm256_set1_ps(0.12f),
           a3 = _mm256_set1_ps(0.13f), a4 = _mm256_set1_ps(0.14f), a5 = _mm256_set1_ps(0.15f),
           a6 = _mm256_set1_ps(0.16f), a7 = _mm256_set1_ps(0.17f), a8 = _mm256_set1_ps(0.18f),
           a9 = _mm256_set1_ps(0.19f), a10 = _mm256_set1_ps(0.20f), a11 = _mm256_set1_ps(0.21f),
           a12 = _mm256_set1_ps(0.22f), a13 = _mm256_set1_ps(0.23f), a14 = _mm256_set1_ps(0.24f),
           a15 = _mm256_set1_ps(0.25f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, b, c), a1 = _mm256_fmadd_ps(a1, b, c);
        a2 = _mm256_fmadd_ps(a2, b, c), a3 = _mm256_fmadd_ps(a3, b, c);
        a4 = _mm256_fmadd_ps(a4, b, c), a5 = _mm256_fmadd_ps(a5, b, c);
        a6 = _mm256_fmadd_ps(a6, b, c), a7 = _mm256_fmadd_ps(a7, b, c);
        a8 = _mm256_fmadd_ps(a8, b, c), a9 = _mm256_fmadd_ps(a9, b, c);
        a10 = _mm256_fmadd_ps(a10, b, c), a11 = _mm256_fmadd_ps(a11, b, c);
        a12 = _mm256_fmadd_ps(a12, b, c), a13 = _mm256_fmadd_ps(a13, b, c);
        a14 = _mm256_fmadd_ps(a14, b, c), a15 = _mm256_fmadd_ps(a15, b, c);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)),
                                       _mm256_add_ps(_mm256_add_ps(a12, a13),
                                                     _mm256_add_ps(a14, a15))));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#endif

/* Elsewhere: 16 accumulators of 4 floats in GCC vector extensions; the
 * compiler turns a * b + c into FMAs where the target has them
 * (-ffp-contract=fast is GCC's default outside ISO mode; -std=c11 turns
 * it off, so this path asks for it). */
typedef float v4f __attribute__((vector_size(16)));

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=fast")))
#endif
static float fma_generic(long iters)
{
    v4f b = { 0.999999f, 0.999999f, 0.999999f, 0.999999f }, c = { 1e-6f, 1e-6f, 1e-6f, 1e-6f };
    v4f a[16];
    for (int k = 0; k < 16; k++)
        for (int l = 0; l < 4; l++)
            a[k][l] = 0.1f + 0.01f * (float)k;
    for (long i = 0; i < iters; i++) {
#if defined(__clang__)
#pragma clang fp contract(fast)
#endif
        for (int k = 0; k < 16; k++)
            a[k] = a[k] * b + c;
    }
    float s = 0;
    for (int k = 0; k < 16; k++)
        for (int l = 0; l < 4; l++)
            s += a[k][l];
    return s;
}

typedef struct {
    const char *name;
    float (*kernel)(long iters);
    int lanes;
} Isa;

static const Isa isas[] = {
#ifdef PEAK_X86
    { "avx512", fma_avx512, 16 },
    { "avx2", fma_avx2, 8 },
#endif
    { "generic", fma_generic, 4 },
};

static int isa_supported(const Isa *isa)
{
#ifdef PEAK_X86
    if (isa->kernel == fma_avx512)
        return __builtin_cpu_supports("avx512f");
    if (isa->kernel == fma_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return 0; /* x86 always has one of the above worth reporting */
#else
    (void)isa;
    return 1;
#endif
}

/* ---- threads ------------------------------------------------------------- */

typedef struct {
    const Isa *isa;
    long iters;
    pthread_barrier_t *start;
    double seconds;
    float sink;
} Job;

static void *worker(void *p)
{
    Job *j = p;
    pthread_barrier_wait(j->start);
    double t0 = now_s();
    j->sink = j->isa->kernel(j->iters);
    j->seconds = now_s() - t0;
    return NULL;
}

/* GFLOP/s of T threads running the kernel together: all the FLOPs over
 * the slowest thread's time.  -1 when a thread cannot start. */
static double run_once(const Isa *isa, int T, long iters)
{
    pthread_t tid[256];
    Job jobs[256];
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, (unsigned)T))
        return -1;
    for (int i = 0; i < T; i++) {
        jobs[i] = (Job){ isa, iters, &start, 0, 0 };
        if (pthread_create(&tid[i], NULL, worker, &jobs[i])) {
            fprintf(stderr, "peak: cannot start thread %d\n", i + 1);
            exit(1);
        }
    }
    double slowest = 0;
    float sink = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(tid[i], NULL);
        if (jobs[i].seconds > slowest)
            slowest = jobs[i].seconds;
        sink += jobs[i].sink;
    }
    pthread_barrier_destroy(&start);
    if (sink != sink) /* NaN never happens; the test keeps the sums alive */
        fprintf(stderr, "peak: NaN\n");
    double flops = (double)T * (double)iters * 16.0 * isa->lanes * 2.0;
    return slowest > 0 ? flops / slowest * 1e-9 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: peak [-t THREADS] [-r REPS] [--csv]\n"
                    "  -t THREADS  the second thread count to measure (default 2)\n"
                    "  -r REPS     runs per measurement; the best is the peak (default 7)\n"
                    "  --csv       records peak,ISA,THREADS,BEST_GFLOPS,MEDIAN_GFLOPS\n");
    exit(2);
}

static long parse_pos(const char *s, const char *opt)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || v < 1 || v > 256) {
        fprintf(stderr, "peak: %s needs a whole number from 1 to 256\n", opt);
        usage();
    }
    return v;
}

int main(int argc, char **argv)
{
    int T = 2, reps = 7, csv = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t"))
            T = (int)parse_pos(i + 1 < argc ? argv[++i] : NULL, "-t");
        else if (!strcmp(argv[i], "-r"))
            reps = (int)parse_pos(i + 1 < argc ? argv[++i] : NULL, "-r");
        else if (!strcmp(argv[i], "--csv"))
            csv = 1;
        else {
            fprintf(stderr, "peak: unknown argument '%s'\n", argv[i]);
            usage();
        }
    }
    if (csv)
        printf("# peak,isa,threads,best_gflops,median_gflops\n");
    double best_all = 0;
    const char *best_isa = "";
    int nisa = (int)(sizeof isas / sizeof isas[0]), shown = 0;
    for (int k = 0; k < nisa; k++) {
        const Isa *isa = &isas[k];
        if (!isa_supported(isa) || (shown && isa->kernel == fma_generic))
            continue;
        shown++;
        /* size the run to about 0.1 s on one thread */
        long iters = 1 << 16;
        for (;;) {
            double t0 = now_s();
            isa->kernel(iters);
            if (now_s() - t0 > 0.02 || iters > (1L << 34))
                break;
            iters *= 2;
        }
        iters *= 5;
        int counts[2] = { 1, T };
        for (int c = 0; c < (T == 1 ? 1 : 2); c++) {
            double g[64];
            int n = reps < 64 ? reps : 64;
            for (int r = 0; r < n; r++)
                g[r] = run_once(isa, counts[c], iters);
            qsort(g, (size_t)n, sizeof g[0], cmp_double);
            double best = g[n - 1], med = n % 2 ? g[n / 2] : 0.5 * (g[n / 2 - 1] + g[n / 2]);
            if (csv)
                printf("peak,%s,%d,%.1f,%.1f\n", isa->name, counts[c], best, med);
            else
                printf("%-8s %3d thread%s  %8.1f GFLOP/s best, %8.1f median of %d  (%.1f per "
                       "thread)\n",
                       isa->name, counts[c], counts[c] == 1 ? " " : "s", best, med, n,
                       best / counts[c]);
            fflush(stdout);
            if (c == 1 || T == 1) {
                if (best > best_all)
                    best_all = best, best_isa = isa->name;
            }
        }
    }
    if (!csv)
        printf("peak on %d thread%s: %.1f GFLOP/s (%s)\n", T, T == 1 ? "" : "s", best_all,
               best_isa);
    return 0;
}
