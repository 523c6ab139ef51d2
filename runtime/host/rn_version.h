/* rn_version.h - what rnetc and the programs it builds say to --version:
 * the version, the git revision they were built from, the compilers, and
 * the instruction set the runtime was compiled for. */
#ifndef RN_VERSION_H
#define RN_VERSION_H
#include <stdio.h>

/* "0.1.0" */
const char *rn_version(void);

/* "TOOL VERSION (rnet, git REV)", then the C compiler the runtime was
 * built with and its instruction set; rnetc adds the LLVM it links, a
 * program its model and the GEMM kernel it runs on this machine. */
void rn_print_version(FILE *f, const char *tool);

#endif
