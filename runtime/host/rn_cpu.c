/* rn_cpu.c - processor name and features, and flushing subnormals to zero
 * (see rn_cpu.h for why).
 *
 * x86: MXCSR bit 15 is FTZ (subnormal results become 0), bit 6 DAZ
 * (subnormal inputs read as 0); SSE and AVX arithmetic obey both.
 * AArch64: FPCR bit 24 (FZ) does both for scalar and NEON arithmetic.
 */
#include "rn_cpu.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <xmmintrin.h>
#define RN_CPU_X86 1
#define RN_MXCSR_FTZ 0x8000u
#define RN_MXCSR_DAZ 0x0040u
#elif defined(__aarch64__) && defined(__GNUC__)
#define RN_CPU_ARM64 1
#define RN_FPCR_FZ ((unsigned long)1 << 24)
#endif

/* Set or clear the mode on the calling thread. */
static void rn_flush_here(int on)
{
#if defined(RN_CPU_X86)
    unsigned csr = _mm_getcsr();
    csr = on ? csr | RN_MXCSR_FTZ | RN_MXCSR_DAZ : csr & ~(RN_MXCSR_FTZ | RN_MXCSR_DAZ);
    _mm_setcsr(csr);
#elif defined(RN_CPU_ARM64)
    unsigned long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    fpcr = on ? fpcr | RN_FPCR_FZ : fpcr & ~RN_FPCR_FZ;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
#else
    (void)on;
#endif
}

void rn_cpu_flush_denormals(int on)
{
    rn_flush_here(on);
#ifdef _OPENMP
    /* every thread of the pool, the calling one included */
#pragma omp parallel
    rn_flush_here(on);
#endif
}

int rn_cpu_denormals_flushed(void)
{
#if defined(RN_CPU_X86)
    unsigned both = RN_MXCSR_FTZ | RN_MXCSR_DAZ;
    return (_mm_getcsr() & both) == both;
#elif defined(RN_CPU_ARM64)
    unsigned long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return (fpcr & RN_FPCR_FZ) != 0;
#else
    return 0;
#endif
}

const char *rn_cpu_name(void)
{
#if defined(RN_CPU_X86)
    /* CPUID 0x80000002..4: 48 bytes of brand string; per thread, so that
     * concurrent first calls do not race. */
    static _Thread_local char name[49];
    if (!name[0]) {
        unsigned r[12] = {0}, max = __get_cpuid_max(0x80000000u, NULL);
        if (max < 0x80000004u)
            return "x86";
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(name, r, 48);
        name[48] = '\0';
        /* drop the padding spaces some vendors put around it */
        char *s = name;
        while (*s == ' ') s++;
        memmove(name, s, strlen(s) + 1);
        for (size_t n = strlen(name); n > 0 && name[n - 1] == ' '; n--) name[n - 1] = '\0';
        if (!name[0])
            return "x86";
    }
    return name;
#elif defined(RN_CPU_ARM64)
    return "aarch64";
#else
    return "unknown";
#endif
}

int rn_cpu_has_avx512(void)
{
#if defined(RN_CPU_X86) && defined(__GNUC__)
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}
