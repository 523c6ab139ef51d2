/* rn_host.c - what every part of the built program shares: its name and
 * one-line messages, the FPU mode, the thread count.
 *
 * Kept apart from the command line (rn_cli.c), which calls the run
 * functions (train, eval, predict, info, check, bench): those use these
 * and nothing of rn_cli.c, so the parts depend one way only. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rn_cpu.h"
#include "rn_driver.h"

#if defined(__SSE__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#elif defined(__GNUC__) && defined(__ELF__)
/* This file was compiled without OpenMP, but the program may still link
 * an OpenMP runtime (generated code built with -fopenmp): weak references
 * find it then and are NULL otherwise, so --threads and `info` work
 * however the library itself was built. */
extern int omp_get_max_threads(void) __attribute__((weak));
extern void omp_set_num_threads(int) __attribute__((weak));
#define RN_WEAK_OMP 1
#endif

static const char *prog_name = "rnet";

void rn_set_prog_name(const char *name)
{
    if (!name || !*name)
        return;
    const char *slash = strrchr(name, '/');
    prog_name = slash && slash[1] ? slash + 1 : name;
}

const char *rn_prog_name(void) { return prog_name; }

static void vmessage(const char *kind, const char *fmt, va_list ap)
{
    fflush(stdout);
    fprintf(stderr, "%s: %s: ", prog_name, kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void rn_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("error", fmt, ap);
    va_end(ap);
}

void rn_warnf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("warning", fmt, ap);
    va_end(ap);
}

void rn_fpu_setup(void)
{
    /* Denormal floats are 10-100x slower on x86 and appear in late
     * training (tiny gradients, decayed momentum); flushing them to zero
     * changes no result that matters and keeps steps at a steady speed
     * (rn_cpu.h: FTZ and DAZ on x86, FZ on AArch64, on every thread). */
    rn_cpu_flush_denormals(1);
}

int rn_fpu_ftz_on(void)
{
    return rn_cpu_denormals_flushed();
}

int rn_wait_default;

int rn_have_openmp(void)
{
#if defined(_OPENMP)
    return 1;
#elif defined(RN_WEAK_OMP)
    return omp_get_max_threads != NULL && omp_set_num_threads != NULL;
#else
    return 0;
#endif
}

int rn_processors(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 && n <= 1 << 20 ? (int)n : 1;
}

void rn_set_threads(int n)
{
    if (n <= 0 || !rn_have_openmp())
        return;
    /* more threads than processors only slow a step down (200 on 2 cores
     * ran 40x slower than 1), and a team of 100,000 exhausts the stacks */
    int p = rn_processors();
    if (n > p) {
        rn_warnf("--threads %d: this machine has %d processor%s; using %d", n, p,
                 p == 1 ? "" : "s", p);
        n = p;
    }
#if defined(_OPENMP) || defined(RN_WEAK_OMP)
    omp_set_num_threads(n);
#endif
}

int rn_threads(void)
{
    if (!rn_have_openmp())
        return 1;
#if defined(_OPENMP) || defined(RN_WEAK_OMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}
