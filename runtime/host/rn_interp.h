/* rn_interp.h - the reference interpreter: runs any RnModel's node table
 * with the reference kernels (rn_ref_*), in NCHW.
 *
 * It is the independent implementation generated code is checked against
 * (`check`), and a slow but obviously correct way to train (`train
 * --reference`).  Its entry points have exactly the semantics of the
 * RnModel function pointers (see rn_model.h):
 *
 *   forward   writes e->logits (N, classes) for x (N, C, H, W); train = 1
 *             uses batch statistics, updates the running statistics in
 *             e->params and keeps what backward needs; train = 0 infers.
 *   backward  after forward(train = 1) on the same batch: dlogits (N,
 *             classes) in, gradients ACCUMULATED into e->grads.
 *   update    one rn_optim_step per trainable tensor; buffers are skipped.
 *
 * The interpreter keeps its own per-node activations, gradients and
 * batch-norm saves in an RnInterp, one allocation sized for N_max.  It
 * needs nodes in topological order (each input index below the node's);
 * rn_model_validate checks that and every shape before anything runs.
 *
 *     char err[256];
 *     RnInterp *st = rn_interp_new(&model, 16, err, sizeof err);
 *     if (!st) { fprintf(stderr, "%s\n", err); ... }
 *     rn_interp_forward(&model, st, &exec, x, 16, 1);
 *     rn_interp_backward(&model, st, &exec, dlogits, 16);
 *     rn_interp_update(&model, &exec, &optim, lr, t, m, v);
 *     rn_interp_free(st);
 *
 * rn_interp_bind makes an RnModel whose function pointers run the
 * interpreter, so code written against RnModel (the training loop, a test
 * model) can run it unchanged.
 */
#ifndef RN_INTERP_H
#define RN_INTERP_H

#include <stddef.h>

#include "rn_model.h"
#include "rn_optim.h"
#include "rn_rng.h"

typedef struct RnInterp RnInterp;

/* Check that a node table is runnable: ops and input counts, topological
 * order, the input node's shape, every node's output shape recomputed from
 * its inputs and attributes, parameter indices, shapes, sizes and offsets
 * (within param_floats), and an fc logits node with `classes` outputs.
 * 0 if so; else -1 and one line in err naming the node or tensor. */
int rn_model_validate(const RnModel *m, char *err, size_t errlen);

/* Validate m and allocate state for batches of up to N_max images.
 * NULL (with the reason in err) on a bad table or out of memory. */
RnInterp *rn_interp_new(const RnModel *m, int N_max, char *err, size_t errlen);
void rn_interp_free(RnInterp *st); /* NULL is fine */

/* Bytes of state the interpreter holds (activations, gradients, saves). */
size_t rn_interp_bytes(const RnInterp *st);

/* The entry points; st must come from rn_interp_new with the same m, and
 * 1 <= N <= N_max (checked: a violation is a bug and aborts). */
void rn_interp_forward(const RnModel *m, RnInterp *st, RnExec *e, const float *x, int N,
                       int train);
void rn_interp_backward(const RnModel *m, RnInterp *st, RnExec *e, const float *dlogits, int N);
void rn_interp_update(const RnModel *m, RnExec *e, const RnOptim *o, float lr, long t,
                      float *mbuf, float *vbuf);

/* Node `node`'s output from the last forward, (N, c, h, w) NCHW; NULL for
 * an index out of range.  For tests and debugging. */
const float *rn_interp_activation(const RnInterp *st, int node);

/* ReLU kinks.  A ReLU's gradient jumps where its input crosses zero, so
 * two correct implementations whose inputs differ by float rounding can
 * disagree on the backward mask of a unit whose input is within rounding
 * of zero - and a weight gradient that sums over few positions then
 * differs by percents.  `check` uses these to tell that apart from a bug:
 *
 * rn_interp_kinks lists the `max` ReLU units closest to their kink in the
 * last forward pass, sorted by margin = |input| / max |input| over that
 * ReLU's tensor; it returns how many it wrote.  rn_interp_set_flips makes
 * following backward passes reverse the mask of the given units (at most
 * RN_INTERP_MAX_FLIPS; n = 0 clears). */
#define RN_INTERP_MAX_FLIPS 8

typedef struct RnInterpKink {
    int node;       /* a RELU node */
    long index;     /* into its (N, c, h, w) output */
    double margin;
} RnInterpKink;

int rn_interp_kinks(const RnModel *m, const RnInterp *st, RnInterpKink *out, int max);
void rn_interp_set_flips(RnInterp *st, const RnInterpKink *flips, int n);

/* *out = *src with forward/backward/update running the interpreter (state
 * for N_max images), backend "reference" and no workspace.  There is one
 * bound interpreter per process: binding again replaces it.  0 on success;
 * -1 with err set on a bad table or out of memory. */
int rn_interp_bind(const RnModel *src, int N_max, RnModel *out, char *err, size_t errlen);
void rn_interp_unbind(void);

/* ---- rn_init.c: parameter initialisation -------------------------------
 * Fills every tensor of m's parameter block by its RnParamKind, drawing
 * from rng in parameter order:
 *   conv weight   normal(0, sqrt(2 / fan_out)), fan_out = K*KH*KW
 *                 (PyTorch's kaiming_normal_(mode='fan_out', nonlinearity='relu'))
 *   fc weight     uniform(-1/sqrt(IN), 1/sqrt(IN))     (nn.Linear's default)
 *   fc bias       uniform(-1/sqrt(IN), 1/sqrt(IN)), IN from its node's weight
 *   conv bias, bn bias, running mean    0
 *   bn weight, running var              1
 * Normals are Box-Muller (rn_rng_normal). */
void rn_init_params(const RnModel *m, float *params, RnRng *rng);

#endif
