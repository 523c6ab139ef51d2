/* rn_cpu.h - what the processor is, and its floating-point mode.
 *
 * Training drives gradients and weight updates towards tiny values; once
 * they are subnormal floats, x86 cores run every instruction that touches
 * them many times slower, so a long training run (or a benchmark that
 * trains on one fixed batch) can slow down several-fold for numbers that
 * no longer matter.  rn_cpu_flush_denormals(1) makes the processor treat
 * subnormal inputs as zero (DAZ) and round subnormal results to zero
 * (FTZ); it changes results only where a value falls below FLT_MIN
 * (1.2e-38), far under anything a network's accuracy depends on.
 *
 * The mode is a per-thread register (MXCSR on x86, FPCR on AArch64), so
 * rn_cpu_flush_denormals sets it on the calling thread and, when built
 * with OpenMP, on every thread of OpenMP's pool (inside a parallel
 * region); threads created afterwards inherit it from their creator (POSIX
 * threads inherit the floating-point environment).  Elsewhere it does
 * nothing and rn_cpu_denormals_flushed() stays 0.
 */
#ifndef RN_CPU_H
#define RN_CPU_H

/* FTZ and DAZ on (on != 0) or off, on this thread and OpenMP's. */
void rn_cpu_flush_denormals(int on);

/* 1 when the calling thread flushes subnormals (FTZ and DAZ on x86, FZ on
 * AArch64), else 0. */
int rn_cpu_denormals_flushed(void);

/* The processor's name as it reports it ("AMD EPYC ...", from CPUID on
 * x86), or the architecture's name where it has no such string. */
const char *rn_cpu_name(void);

/* 1 when the processor runs AVX-512F (x86 only), else 0. */
int rn_cpu_has_avx512(void);

#endif
