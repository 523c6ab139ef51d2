/* llvm_be.h - what the LLVM backend's two files share (emit_llvm.c builds
 * the module, llvm_target.c owns the target machine and the output files).
 * Kept out of rnet.h so that only these two files see the LLVM-C headers:
 * the rest of the compiler, its unit tests and the fuzzer link without
 * LLVM. */
#ifndef LLVM_BE_H
#define LLVM_BE_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include "rnet.h"

/* the target, resolved: a machine plus the facts the module builder needs */
typedef struct {
    LLVMTargetMachineRef tm;
    LLVMTargetDataRef td;
    const char *triple, *cpu, *features; /* as used (arena copies) */
    int vw;          /* floats per vector register: 16 avx512f, 8 avx, 4 sse/neon/simd128, 1 none */
    int ptr_bits;    /* 32 or 64 */
    int long_bits;   /* the C type long: 32 on ILP32 and Windows, else 64 */
    int host;        /* the triple is the host's */
} LlvmTarget;

/* llvm_target.c: resolve triple/cpu/features (NULL = the host's); reports
 * an rnetc error and returns 1 on an unknown triple, CPU or feature */
int llvm_target_open(LlvmTarget *t, const char *triple, const char *cpu, const char *features,
                     int opt);
/* verify the module, run the optimisation pipeline for -O<opt>, write it
 * as emit = "llvm", "bc", "asm" or "obj" to path; 0 ok, 1 error reported */
int llvm_target_finish(LlvmTarget *t, LLVMModuleRef m, int opt, const char *emit,
                       const char *path);
void llvm_target_close(LlvmTarget *t);

/* what the built module needs at run time */
typedef struct {
    long param_floats;
    long work_fixed, work_per_image;  /* workspace: fixed + per_image * N */
    long infer_work;                  /* standalone: floats of rnm_X_infer's work */
    int training;                     /* _backward and _update built */
} LlvmInfo;

/* emit_llvm.c: the module for g on target t.  weights (one array per
 * parameter, graph order) makes the standalone inference module. */
LLVMModuleRef emit_llvm_module(Graph *g, const Pipeline *pl, LlvmTarget *t, LLVMContextRef cx,
                               int inference_only, float *const *weights, LlvmInfo *info);

#endif
