/* rn_ops.h - the op table, shared by the compiler's passes and backends and
 * by the runtime's graph interpreter.
 *
 * One X-macro row per op: enum name, text name, number of inputs, whether it
 * has parameters.  Expanding it gives the enum, the name table and the
 * counts; a switch over RnOp with no default: and -Wswitch-enum fails to
 * build until a new op is handled everywhere. */
#ifndef RN_OPS_H
#define RN_OPS_H

/*    enum         name        inputs params */
#define RN_OPS(X)                                 \
    X(INPUT,       "input",       0, 0)           \
    X(CONV,        "conv",        1, 1)           \
    X(BN,          "bn",          1, 1)           \
    X(RELU,        "relu",        1, 0)           \
    X(MAXPOOL,     "maxpool",     1, 0)           \
    X(AVGPOOL,     "avgpool",     1, 0)           \
    X(GAP,         "gap",         1, 0)           \
    X(ADD,         "add",         2, 0)           \
    X(CONCAT,      "concat",      2, 0)           \
    X(PADSHORT,    "padshort",    1, 0)           \
    X(DROPOUT,     "dropout",     1, 0)           \
    X(FC,          "fc",          1, 1)

typedef enum {
#define X(e, name, nin, params) RN_OP_##e,
    RN_OPS(X)
#undef X
    RN_OP_COUNT
} RnOp;

extern const char *const rn_op_names[RN_OP_COUNT];
extern const int rn_op_ninputs[RN_OP_COUNT];

#endif
