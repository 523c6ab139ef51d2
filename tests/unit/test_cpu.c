/* test_cpu.c - rn_cpu: flushing subnormals, on the calling thread and on
 * OpenMP's; the processor's name.
 *
 * 1e-20f * 1e-20f = 1e-40 is a subnormal float: it must come out as one
 * before flushing and as 0 after, on every thread; a subnormal input
 * (1e-40f) times 1 must read as 0 (DAZ).  Operands are volatile so that
 * the compiler cannot fold the products at compile time. */
#include "check.h"
#include "rn_cpu.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static volatile float tiny = 1e-20f, sub = 1e-40f, one = 1.0f;

/* 1 when this thread's arithmetic keeps subnormals, 0 when it flushes
 * both results and inputs, -1 when it does one but not the other. */
static int keeps_subnormals(void)
{
    float p = tiny * tiny, q = sub * one;
    int kept = fpclassify(p) == FP_SUBNORMAL && fpclassify(q) == FP_SUBNORMAL;
    int flushed = p == 0.0f && q == 0.0f;
    return kept ? 1 : flushed ? 0 : -1;
}

/* How many of the OpenMP threads see `want` (all of them when it works). */
static int threads_agreeing(int want, int *threads)
{
    int agree = 0, n = 1;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : agree)
    {
#pragma omp single
        n = omp_get_num_threads();
        agree += keeps_subnormals() == want;
    }
#else
    agree = keeps_subnormals() == want;
#endif
    *threads = n;
    return agree;
}

int main(void)
{
#ifdef _OPENMP
    omp_set_num_threads(2);  /* at least one thread besides this one */
#endif
    int n;
    CHECK(keeps_subnormals() == 1 && rn_cpu_denormals_flushed() == 0, "cpu_subnormal_before",
          "before flushing, 1e-20f * 1e-20f should be subnormal (got class %d, flushed = %d)",
          keeps_subnormals(), rn_cpu_denormals_flushed());
    int a = threads_agreeing(1, &n);
    CHECK(a == n, "cpu_subnormal_before_all_threads", "%d of %d threads flush already", n - a, n);

    rn_cpu_flush_denormals(1);
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    CHECK(keeps_subnormals() == 0, "cpu_flush_zeroes_subnormals",
          "after rn_cpu_flush_denormals(1), 1e-20f * 1e-20f = %g and 1e-40f * 1 = %g, want 0",
          (double)(tiny * tiny), (double)(sub * one));
    CHECK(rn_cpu_denormals_flushed() == 1, "cpu_flushed_reports_on",
          "rn_cpu_denormals_flushed() = 0 after flushing");
    a = threads_agreeing(0, &n);
    CHECK(a == n, "cpu_flush_every_openmp_thread", "%d of %d threads still keep subnormals", n - a, n);
#else
    CHECK(keeps_subnormals() == 1, "cpu_flush_noop_elsewhere", "flushing changed arithmetic here");
#endif

    rn_cpu_flush_denormals(0);
    CHECK(keeps_subnormals() == 1 && rn_cpu_denormals_flushed() == 0, "cpu_unflush_restores",
          "after rn_cpu_flush_denormals(0), 1e-20f * 1e-20f = %g, want subnormal",
          (double)(tiny * tiny));
    a = threads_agreeing(1, &n);
    CHECK(a == n, "cpu_unflush_every_openmp_thread", "%d of %d threads still flush", n - a, n);

    const char *name = rn_cpu_name();
    CHECK(name && name[0] && strlen(name) < 49, "cpu_name", "rn_cpu_name() gave '%s'", name ? name : "(null)");
    printf("# cpu: %s, avx512 %s\n", name, rn_cpu_has_avx512() ? "yes" : "no");
    CHECK_DONE();
}
