/* klower.h - the per-op lowering of the scheduled, planned graph into the
 * kernel-call IR (kir.h): what each layer function does, decided once for
 * both backends.  emit_c.c prints the KFuncs as C (kir_print_c), emit_llvm.c
 * builds them with the LLVM-C API; neither decides anything about the ops.
 */
#ifndef RNET_KLOWER_H
#define RNET_KLOWER_H
#include "kir.h"
#include "rnet.h"

/* One index table of the direct convolutions (rn_geom.h), declared once
 * per distinct geometry and kind at file scope and filled at start-up by
 * the runtime function that rnetc sized it with. */
enum { TAB_FWD, TAB_BWD, TAB_WGRAD };
typedef struct {
    int kind;
    RnConvGeom g;
    long npos, nent;     /* pos has npos ints, tq 2 * nent (at least 2) */
    int id;
} Table;


/* what the lowering of one program shares across its layers */
typedef struct {
    long pfix;    /* the workspace's fixed region (plan_workspace): per-image buffers follow it */
    int train;    /* lowering a training step's layer (set by the functions below) */
    Vec tables;   /* Table*: the direct convolutions' index tables, registered on first use */
} KLower;

/* layer n of g (a training or an inference graph of the pipeline), forward;
 * n of the training graph, backward; conv n's batch norm folded, inference */
void klower_forward(KLower *E, Graph *g, Node *n, KFunc *k);
void klower_backward(KLower *E, Graph *g, Node *n, KFunc *k);
void klower_fold(KLower *E, Graph *g, Node *n, KFunc *k);
/* "conv 3x3/1 pad 1 +bn +relu": the op, its attributes and its fused epilogue */
const char *klower_describe(const Node *n);

#endif
