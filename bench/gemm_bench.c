/* gemm_bench.c - GFLOP/s of rn_sgemm on the shapes the convolutions use.
 *
 * Not part of the test suite (timings are not tests).  For each shape and
 * transpose combination it runs rn_sgemm (threads as OMP_NUM_THREADS or
 * -t allows) and rn_sgemm_st, several times, and prints the median (a busy
 * machine blurs it less than a mean) and the best.
 *
 *   gcc -std=c11 -O3 -march=native -fopenmp -D_POSIX_C_SOURCE=200809L \
 *       -Iruntime bench/gemm_bench.c runtime/rn_gemm.c -o /tmp/gb
 *   /tmp/gb [-t THREADS] [-r REPS] [-s MxNxK] [-x nn|nt|tn|tt] [-k ISA]
 *
 * -k forces a kernel (avx512, avx2, sse2, ...; see rn_gemm_force_isa), to
 * compare them in one build.  Columns: "mt" is rn_sgemm on THREADS
 * threads, "st" rn_sgemm_st; "med" the median of REPS timings, "best" the
 * fastest, which on a shared machine is the nearest to what the code can
 * do on an idle one.
 */
#include "rn_gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
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

typedef void Gemm(int, int, int, int, int, float, const float *, int,
                  const float *, int, float, float *, int);

/* Median and best seconds of `reps` runs, each long enough to time
 * (>= ~20 ms). */
static double time_gemm(Gemm *f, int ta, int tb, int M, int N, int K,
                        const float *A, const float *B, float *C, int reps,
                        double *best)
{
    int lda = ta ? M : K, ldb = tb ? K : N;
    int inner = 1;
    double t0 = now();
    f(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);  /* warm up */
    double one = now() - t0;
    if (one < 0.02)
        inner = (int)(0.02 / (one > 1e-7 ? one : 1e-7)) + 1;
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t) {
        fprintf(stderr, "gemm_bench: out of memory\n");
        exit(1);
    }
    for (int r = 0; r < reps; r++) {
        t0 = now();
        for (int i = 0; i < inner; i++)
            f(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
        t[r] = (now() - t0) / inner;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double med = t[reps / 2];
    *best = t[0];
    free(t);
    return med;
}

int main(int argc, char **argv)
{
    /* conv forward is nn (Cout, N*OH*OW, C*KH*KW); its input gradient tn
     * (C*KH*KW, N*OH*OW, Cout); its weight gradient nt (Cout, C*KH*KW,
     * N*OH*OW); the last shape is a small fully connected layer. */
    static const int shapes[][3] = {
        {1024, 1024, 1024},
        {128, 1024, 1152},
        {64, 3136, 576},
        {256, 256, 2304},
        {512, 196, 4608},
        {576, 3136, 64},
        {64, 576, 12544},
        {64, 10, 512},
    };
    static const char *const tt[] = {"nn", "nt", "tn", "tt"};
    int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    int threads = 0, reps = 7, only_shape = 0, sm = 0, sn = 0, sk = 0;
    const char *only_tt = NULL, *isa = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            if (sscanf(argv[++i], "%dx%dx%d", &sm, &sn, &sk) != 3) {
                fprintf(stderr, "gemm_bench: -s wants MxNxK, got '%s'\n", argv[i]);
                return 2;
            }
            only_shape = 1;
        } else if (!strcmp(argv[i], "-x") && i + 1 < argc)
            only_tt = argv[++i];
        else if (!strcmp(argv[i], "-k") && i + 1 < argc)
            isa = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-t THREADS] [-r REPS] [-s MxNxK] [-x nn|nt|tn|tt] [-k ISA]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 1)
        reps = 1;
    if (isa && rn_gemm_force_isa(isa) != 0) {
        fprintf(stderr, "gemm_bench: no '%s' kernel in this build or on this CPU\n", isa);
        return 2;
    }
#ifdef _OPENMP
    if (threads > 0)
        omp_set_num_threads(threads);
    threads = omp_get_max_threads();
#else
    threads = 1;
#endif
    int mr, nr;
    rn_gemm_tile(&mr, &nr);
    printf("rn_sgemm %s, tile %dx%d, %d thread(s), median of %d\n",
           rn_gemm_isa(), mr, nr, threads, reps);
    printf("GFLOP/s, mt = rn_sgemm, st = rn_sgemm_st\n");
    printf("%-16s %-3s %9s %9s %9s %9s\n", "M x N x K", "op", "mt med", "mt best",
           "st med", "st best");
    for (int s = 0; s < (only_shape ? 1 : nshapes); s++) {
        int M = only_shape ? sm : shapes[s][0];
        int N = only_shape ? sn : shapes[s][1];
        int K = only_shape ? sk : shapes[s][2];
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B),
              *C = malloc(nc * sizeof *C);
        if (!A || !B || !C) {
            fprintf(stderr, "gemm_bench: out of memory for %dx%dx%d\n", M, N, K);
            return 1;
        }
        for (size_t i = 0; i < na; i++) A[i] = (float)((i * 7 + 3) % 13) / 13.0f - 0.5f;
        for (size_t i = 0; i < nb; i++) B[i] = (float)((i * 5 + 1) % 11) / 11.0f - 0.5f;
        for (int x = 0; x < 4; x++) {
            if (only_tt && strcmp(only_tt, tt[x]))
                continue;
            int ta = x >> 1, tb = x & 1;
            double flop = 2.0 * M * N * K;
            double bm, bs;
            double tm = time_gemm(rn_sgemm, ta, tb, M, N, K, A, B, C, reps, &bm);
            double ts = time_gemm(rn_sgemm_st, ta, tb, M, N, K, A, B, C, reps, &bs);
            char name[48];
            snprintf(name, sizeof name, "%dx%dx%d", M, N, K);
            printf("%-16s %-3s %9.1f %9.1f %9.1f %9.1f\n", name, tt[x], flop / tm * 1e-9,
                   flop / bm * 1e-9, flop / ts * 1e-9, flop / bs * 1e-9);
            fflush(stdout);
        }
        free(A);
        free(B);
        free(C);
    }
    return 0;
}
