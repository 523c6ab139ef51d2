/* rn_version.c - --version (rn_version.h).  RN_VERSION, RN_GIT_REV and the
 * build's compiler and flags come from out/gen/rn_version_gen.h, which the
 * Makefile rewrites only when one of them changes. */
#include "rn_version.h"
#include "rn_version_gen.h"

const char *rn_version(void)
{
    return RN_VERSION;
}

/* the vector extensions the runtime was compiled for (this file is built
 * with the runtime's flags); the GEMM and convolution kernels also carry
 * AVX2 and AVX-512 copies of their own and pick one at run time */
static const char *isa_built(void)
{
#if defined(__x86_64__)
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    return "x86-64 with AVX-512 (F, BW, VL), AVX2, FMA";
#elif defined(__AVX2__) && defined(__FMA__)
    return "x86-64 with AVX2, FMA";
#elif defined(__SSE4_2__)
    return "x86-64 with SSE4.2";
#else
    return "x86-64 (SSE2)";
#endif
#elif defined(__aarch64__)
    return "AArch64";
#elif defined(__riscv) && __riscv_xlen == 64
    return "RISC-V 64";
#else
    return "generic C";
#endif
}

void rn_print_version(FILE *f, const char *tool)
{
    fprintf(f, "%s %s (rnet, git %s)\n", tool, RN_VERSION, RN_GIT_REV);
    fprintf(f, "C compiler: %s\n", RN_BUILD_CC);
    fprintf(f, "runtime ISA: %s (%s)\n", isa_built(), RN_RT_CFLAGS);
}
