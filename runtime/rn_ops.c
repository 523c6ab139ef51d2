/* rn_ops.c - the name and arity tables generated from RN_OPS. */
#include "rn_ops.h"

const char *const rn_op_names[RN_OP_COUNT] = {
#define X(e, name, nin, params) name,
    RN_OPS(X)
#undef X
};

const int rn_op_ninputs[RN_OP_COUNT] = {
#define X(e, name, nin, params) nin,
    RN_OPS(X)
#undef X
};

_Static_assert(sizeof rn_op_names / sizeof rn_op_names[0] == RN_OP_COUNT,
               "every op needs a name");
