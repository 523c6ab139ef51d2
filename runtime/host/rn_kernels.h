/* rn_kernels.h - reference kernels: the oracle every generated kernel is
 * tested against.
 *
 * Each op is a forward/backward pair of plain functions over raw pointers
 * with explicit dimensions.  Tensors are float32, NCHW, contiguous.  Weights
 * use PyTorch's layouts: conv (K, C/groups, KH, KW), fc (OUT, IN).
 *
 * Conventions every kernel keeps:
 *   - forward kernels overwrite their output;
 *   - backward kernels ACCUMULATE (+=) into every gradient they produce
 *     (input, weight, bias), so a tensor read by two consumers gets the sum;
 *     the caller zeroes gradient buffers once per step;
 *   - a gradient pointer may be NULL when that gradient is not wanted.
 *
 * The loops are written to be obviously correct, not fast.  The same source
 * (rn_kernels.inc) is instantiated for float here and for double in the
 * finite-difference tests.
 */
#ifndef RN_KERNELS_H
#define RN_KERNELS_H
#include <stdint.h>

#define RN_T float
#define RN_FN(name) rn_ref_##name
#include "rn_kernels_decl.inc"
#undef RN_T
#undef RN_FN

#endif
