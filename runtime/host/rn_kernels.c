/* rn_kernels.c - the float reference kernels (rn_ref_*).
 *
 * The bodies live in rn_kernels.inc so the finite-difference tests can
 * compile the very same source for double; this file only instantiates it
 * for the element type the runtime uses. */
#include "rn_kernels.h"

#define RN_T float
#define RN_FN(name) rn_ref_##name
#include "rn_kernels.inc"
#undef RN_T
#undef RN_FN
