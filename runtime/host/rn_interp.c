/* rn_interp.c - the reference interpreter: an RnModel's node table run
 * node by node with the reference kernels.
 *
 * Nothing here is clever on purpose.  Every node keeps its whole output
 * (N, c, h, w) and its whole gradient, so forward is one kernel call per
 * node in table order and backward one kernel call per node in reverse
 * order, each adding into its inputs' gradients (the kernels accumulate, so
 * a tensor read by two consumers gets the sum).  The state is one
 * allocation carved into those tensors.
 *
 * Because generated code is checked against this file, it takes nothing
 * from generated code but the table: shapes are recomputed from the
 * attributes and compared with the table by rn_model_validate, so a wrong
 * table is an error here, not a silent agreement.
 */
#include "rn_err.h"
#include "rn_interp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn_kernels.h"
#include "rn_dropout.h"

struct RnInterp {
    int nnodes, N_max;
    int last_N, last_train;     /* the last forward, for backward's check */
    int nflips;                 /* ReLU units whose backward mask is reversed */
    RnInterpKink flips[RN_INTERP_MAX_FLIPS];
    float **act;                /* (nnodes) -> (N_max, c, h, w) */
    float **grad;               /* (nnodes) -> (N_max, c, h, w); NULL for the input */
    float **save_mean;          /* (nnodes) -> (c) for bn nodes, else NULL */
    float **save_invstd;
    float *block;               /* everything above points into this */
    size_t bytes;
};

static void die_at(const char *file, int line, const char *msg)
{
    fprintf(stderr, "%s:%d: internal error: %s\n", file, line, msg);
    abort();
}
#define DIE(msg) die_at(__FILE__, __LINE__, msg)


static long node_size(const RnNodeInfo *n) // floats per image
{
    return (long)n->c * n->h * n->w;
}

/* ---- validation ---------------------------------------------------------- */

static const char *nname(const RnNodeInfo *n) { return n->name ? n->name : "?"; }

/* param slot k of node n: required (or optional) with the given kind and
 * shape.  Returns 0 when fine or absent-and-optional. */
static int check_param(const RnModel *m, int i, int k, int required, RnParamKind kind,
                       int is_buffer, int ndim, const int *shape, char *err, size_t errlen)
{
    const RnNodeInfo *n = &m->nodes[i];
    int p = n->param[k];
    static const char *const slot[4] = { "weight", "bias", "running_mean", "running_var" };
    if (p < 0) {
        if (required)
            return rn_fail(err, errlen, "node %d '%s' (%s): no %s parameter", i, nname(n),
                        rn_op_names[n->op], slot[k]);
        return 0;
    }
    if (p >= m->nparams)
        return rn_fail(err, errlen, "node %d '%s': parameter index %d out of range (%d params)", i,
                    nname(n), p, m->nparams);
    const RnParamInfo *pi = &m->params[p];
    const char *pn = pi->name ? pi->name : "?";
    if (pi->kind != kind)
        return rn_fail(err, errlen, "parameter '%s' of node '%s': kind %d, expected %d for its %s",
                    pn, nname(n), (int)pi->kind, (int)kind, slot[k]);
    if ((pi->is_buffer != 0) != (is_buffer != 0))
        return rn_fail(err, errlen, "parameter '%s': is_buffer is %d, expected %d", pn,
                    pi->is_buffer, is_buffer);
    int same = pi->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = pi->shape[d] == shape[d];
    if (!same) {
        char a[64] = "", b[64] = "";
        for (int d = 0; d < pi->ndim && d < 4; d++)
            snprintf(a + strlen(a), sizeof a - strlen(a), d ? ",%d" : "%d", pi->shape[d]);
        for (int d = 0; d < ndim; d++)
            snprintf(b + strlen(b), sizeof b - strlen(b), d ? ",%d" : "%d", shape[d]);
        return rn_fail(err, errlen, "parameter '%s': shape [%s] in the table, node '%s' needs [%s]",
                    pn, a, nname(n), b);
    }
    return 0;
}

static int check_params_block(const RnModel *m, char *err, size_t errlen)
{
    if (m->nparams < 0 || (m->nparams > 0 && !m->params))
        return rn_fail(err, errlen, "model '%s': bad parameter table", m->name);
    for (int p = 0; p < m->nparams; p++) {
        const RnParamInfo *pi = &m->params[p];
        const char *pn = pi->name ? pi->name : "?";
        if (!pi->name || !pi->name[0])
            return rn_fail(err, errlen, "parameter %d has no name", p);
        if (pi->ndim < 1 || pi->ndim > 4)
            return rn_fail(err, errlen, "parameter '%s': ndim %d", pn, pi->ndim);
        long numel = 1;
        for (int d = 0; d < pi->ndim; d++) {
            if (pi->shape[d] <= 0)
                return rn_fail(err, errlen, "parameter '%s': dimension %d is %d", pn, d,
                            pi->shape[d]);
            numel *= pi->shape[d];
        }
        if (numel != pi->numel)
            return rn_fail(err, errlen, "parameter '%s': numel %ld, its shape has %ld", pn,
                        pi->numel, numel);
        if (pi->offset < 0 || pi->offset > m->param_floats - numel)
            return rn_fail(err, errlen,
                        "parameter '%s': offset %ld + %ld floats is outside the block of %ld",
                        pn, pi->offset, numel, m->param_floats);
    }
    return 0;
}

static int window_out(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

int rn_model_validate(const RnModel *m, char *err, size_t errlen)
{
    if (!m->nodes || m->nnodes < 2)
        return rn_fail(err, errlen, "model '%s': the node table has %d nodes", m->name,
                    m->nnodes);
    if (m->in_c <= 0 || m->in_h <= 0 || m->in_w <= 0 || m->classes <= 0)
        return rn_fail(err, errlen, "model '%s': input %dx%dx%d with %d classes", m->name,
                    m->in_c, m->in_h, m->in_w, m->classes);
    if (check_params_block(m, err, errlen))
        return -1;
    int ninputs = 0;
    for (int i = 0; i < m->nnodes; i++) {
        const RnNodeInfo *n = &m->nodes[i];
        if ((unsigned)n->op >= RN_OP_COUNT)
            return rn_fail(err, errlen, "node %d: op %d is not an op", i, (int)n->op);
        const char *op = rn_op_names[n->op];
        const RnNodeInfo *x = NULL, *y = NULL;
        for (int k = 0; k < rn_op_ninputs[n->op]; k++) {
            if (n->in[k] < 0 || n->in[k] >= i)
                return rn_fail(err, errlen,
                            "node %d '%s' (%s): input %d is node %d; nodes must come after "
                            "their inputs",
                            i, nname(n), op, k, n->in[k]);
            if (k == 0)
                x = &m->nodes[n->in[0]];
            else
                y = &m->nodes[n->in[1]];
        }
        if (n->c <= 0 || n->h <= 0 || n->w <= 0 || node_size(n) > (1L << 30))
            return rn_fail(err, errlen, "node %d '%s' (%s): output shape %dx%dx%d", i, nname(n),
                        op, n->c, n->h, n->w);
        int c = 0, h = 0, w = 0; /* the shape the op gives */
        int nparam_slots = 0;    /* slots that must be -1: from nparam_slots on */
        switch (n->op) {
        case RN_OP_INPUT:
            ninputs++;
            c = m->in_c, h = m->in_h, w = m->in_w;
            break;
        case RN_OP_CONV: {
            if (n->kh < 1 || n->kw < 1 || n->stride < 1 || n->pad < 0 || n->groups < 1 ||
                n->filters < 1 || x->c % n->groups || n->filters % n->groups ||
                n->kh > x->h + 2 * n->pad || n->kw > x->w + 2 * n->pad)
                return rn_fail(err, errlen,
                            "node %d '%s' (conv): kernel %dx%d stride %d pad %d groups %d "
                            "filters %d do not fit its input %dx%dx%d",
                            i, nname(n), n->kh, n->kw, n->stride, n->pad, n->groups,
                            n->filters, x->c, x->h, x->w);
            c = n->filters;
            h = window_out(x->h, n->kh, n->stride, n->pad);
            w = window_out(x->w, n->kw, n->stride, n->pad);
            int ws[4] = { n->filters, x->c / n->groups, n->kh, n->kw };
            if (check_param(m, i, 0, 1, RN_P_CONV_W, 0, 4, ws, err, errlen) ||
                check_param(m, i, 1, n->bias, RN_P_CONV_B, 0, 1, &n->filters, err, errlen))
                return -1;
            nparam_slots = 2;
            break;
        }
        case RN_OP_BN:
            c = x->c, h = x->h, w = x->w;
            if (check_param(m, i, 0, 1, RN_P_BN_W, 0, 1, &c, err, errlen) ||
                check_param(m, i, 1, 1, RN_P_BN_B, 0, 1, &c, err, errlen) ||
                check_param(m, i, 2, 1, RN_P_BN_MEAN, 1, 1, &c, err, errlen) ||
                check_param(m, i, 3, 1, RN_P_BN_VAR, 1, 1, &c, err, errlen))
                return -1;
            nparam_slots = 4;
            break;
        case RN_OP_RELU:
            c = x->c, h = x->h, w = x->w;
            break;
        case RN_OP_DROPOUT:
            if (!(n->p >= 0 && n->p < 1))
                return rn_fail(err, errlen, "node %d '%s' (dropout): probability %g", i, nname(n),
                               (double)n->p);
            c = x->c, h = x->h, w = x->w;
            break;
        case RN_OP_MAXPOOL:
        case RN_OP_AVGPOOL:
            if (n->kh < 1 || n->kw < 1 || n->stride < 1 || n->pad < 0 ||
                n->kh > x->h + 2 * n->pad || n->kw > x->w + 2 * n->pad)
                return rn_fail(err, errlen,
                            "node %d '%s' (%s): window %dx%d stride %d pad %d does not fit "
                            "its input %dx%dx%d",
                            i, nname(n), op, n->kh, n->kw, n->stride, n->pad, x->c, x->h, x->w);
            c = x->c;
            h = window_out(x->h, n->kh, n->stride, n->pad);
            w = window_out(x->w, n->kw, n->stride, n->pad);
            break;
        case RN_OP_GAP:
            c = x->c, h = 1, w = 1;
            break;
        case RN_OP_ADD:
            if (x->c != y->c || x->h != y->h || x->w != y->w)
                return rn_fail(err, errlen, "node %d '%s' (add): inputs %dx%dx%d and %dx%dx%d", i,
                            nname(n), x->c, x->h, x->w, y->c, y->h, y->w);
            c = x->c, h = x->h, w = x->w;
            break;
        case RN_OP_CONCAT:
            if (x->h != y->h || x->w != y->w)
                return rn_fail(err, errlen, "node %d '%s' (concat): inputs %dx%dx%d and %dx%dx%d",
                            i, nname(n), x->c, x->h, x->w, y->c, y->h, y->w);
            c = x->c + y->c, h = x->h, w = x->w;
            break;
        case RN_OP_PADSHORT:
            if (n->stride < 1 || n->filters < x->c)
                return rn_fail(err, errlen,
                            "node %d '%s' (padshort): stride %d, %d filters for %d channels", i,
                            nname(n), n->stride, n->filters, x->c);
            c = n->filters;
            h = (x->h - 1) / n->stride + 1;
            w = (x->w - 1) / n->stride + 1;
            break;
        case RN_OP_FC: {
            long in = node_size(x);
            if (n->filters < 1 || in > 100000000L)
                return rn_fail(err, errlen, "node %d '%s' (fc): %d outputs from %ld inputs", i,
                            nname(n), n->filters, in);
            c = n->filters, h = 1, w = 1;
            int ws[2] = { n->filters, (int)in };
            if (check_param(m, i, 0, 1, RN_P_FC_W, 0, 2, ws, err, errlen) ||
                check_param(m, i, 1, 0, RN_P_FC_B, 0, 1, &n->filters, err, errlen))
                return -1;
            nparam_slots = 2;
            break;
        }
        case RN_OP_COUNT:
            return rn_fail(err, errlen, "node %d: op %d is not an op", i, (int)n->op);
        }
        if (n->c != c || n->h != h || n->w != w)
            return rn_fail(err, errlen,
                        "node %d '%s' (%s): the table says %dx%dx%d, its inputs and attributes "
                        "give %dx%dx%d",
                        i, nname(n), op, n->c, n->h, n->w, c, h, w);
        for (int k = nparam_slots; k < 4; k++)
            if (n->param[k] >= 0)
                return rn_fail(err, errlen, "node %d '%s' (%s): unexpected parameter in slot %d", i,
                            nname(n), op, k);
    }
    if (ninputs != 1)
        return rn_fail(err, errlen, "model '%s': %d input nodes, expected 1", m->name, ninputs);
    if (m->output < 0 || m->output >= m->nnodes)
        return rn_fail(err, errlen, "model '%s': output node %d out of range", m->name, m->output);
    const RnNodeInfo *o = &m->nodes[m->output];
    if (o->op != RN_OP_FC || o->c != m->classes)
        return rn_fail(err, errlen, "model '%s': output node '%s' is %s with %d outputs, expected fc "
                    "with %d classes", m->name, nname(o), rn_op_names[o->op], o->c, m->classes);
    return 0;
}

/* ---- state --------------------------------------------------------------- */

RnInterp *rn_interp_new(const RnModel *m, int N_max, char *err, size_t errlen)
{
    if (rn_model_validate(m, err, errlen))
        return NULL;
    if (N_max < 1) {
        rn_fail(err, errlen, "model '%s': batch %d for the interpreter", m->name, N_max);
        return NULL;
    }
    int nn = m->nnodes;
    size_t floats = 0;
    for (int i = 0; i < nn; i++) {
        const RnNodeInfo *n = &m->nodes[i];
        size_t act = (size_t)N_max * (size_t)node_size(n);
        floats += n->op == RN_OP_INPUT ? act : 2 * act;
        if (n->op == RN_OP_BN)
            floats += 2 * (size_t)n->c;
    }
    RnInterp *st = calloc(1, sizeof *st);
    float **ptrs = calloc(4 * (size_t)nn, sizeof *ptrs);
    float *block = floats < ((size_t)1 << 40) ? malloc(floats * sizeof(float)) : NULL;
    if (!st || !ptrs || !block) {
        free(st);
        free(ptrs);
        free(block);
        rn_fail(err, errlen, "model '%s': out of memory for the interpreter's %.1f MiB", m->name,
             (double)floats * 4 / (1 << 20));
        return NULL;
    }
    st->nnodes = nn;
    st->N_max = N_max;
    st->act = ptrs;
    st->grad = ptrs + nn;
    st->save_mean = ptrs + 2 * nn;
    st->save_invstd = ptrs + 3 * nn;
    st->block = block;
    st->bytes = floats * sizeof(float) + 4 * (size_t)nn * sizeof *ptrs + sizeof *st;
    float *p = block;
    for (int i = 0; i < nn; i++) {
        const RnNodeInfo *n = &m->nodes[i];
        size_t act = (size_t)N_max * (size_t)node_size(n);
        st->act[i] = p;
        p += act;
        if (n->op != RN_OP_INPUT) {
            st->grad[i] = p;
            p += act;
        }
        if (n->op == RN_OP_BN) {
            st->save_mean[i] = p;
            p += n->c;
            st->save_invstd[i] = p;
            p += n->c;
        }
    }
    /* defined contents, so a backward without a forward reads zeros */
    memset(block, 0, floats * sizeof(float));
    return st;
}

void rn_interp_free(RnInterp *st)
{
    if (!st)
        return;
    free(st->block);
    free(st->act);
    free(st);
}

size_t rn_interp_bytes(const RnInterp *st) { return st ? st->bytes : 0; }

const float *rn_interp_activation(const RnInterp *st, int node)
{
    if (!st || node < 0 || node >= st->nnodes)
        return NULL;
    return st->act[node];
}

/* ---- forward, backward, update ------------------------------------------ */

/* the parameter in slot k of node n inside block (params or grads), or NULL */
static float *slot(const RnModel *m, const RnNodeInfo *n, int k, float *block)
{
    return n->param[k] >= 0 ? block + m->params[n->param[k]].offset : NULL;
}

void rn_interp_forward(const RnModel *m, RnInterp *st, RnExec *e, const float *x, int N,
                       int train)
{
    if (!st || st->nnodes != m->nnodes)
        DIE("interpreter state does not belong to this model");
    if (N < 1 || N > st->N_max)
        DIE("batch larger than the interpreter's N_max");
    for (int i = 0; i <= m->output; i++) {
        const RnNodeInfo *n = &m->nodes[i];
        const RnNodeInfo *a = n->in[0] >= 0 ? &m->nodes[n->in[0]] : NULL;
        const RnNodeInfo *b = n->in[1] >= 0 ? &m->nodes[n->in[1]] : NULL;
        float *out = st->act[i];
        const float *in0 = a ? st->act[n->in[0]] : NULL;
        const float *in1 = b ? st->act[n->in[1]] : NULL;
        switch (n->op) {
        case RN_OP_INPUT:
            memcpy(out, x, sizeof(float) * (size_t)N * (size_t)node_size(n));
            break;
        case RN_OP_CONV:
            rn_ref_conv2d_forward(out, in0, slot(m, n, 0, e->params), slot(m, n, 1, e->params),
                                  N, a->c, a->h, a->w, n->c, n->kh, n->kw, n->stride, n->pad,
                                  n->groups);
            break;
        case RN_OP_BN: {
            float *gamma = slot(m, n, 0, e->params), *beta = slot(m, n, 1, e->params);
            float *rmean = slot(m, n, 2, e->params), *rvar = slot(m, n, 3, e->params);
            if (train)
                rn_ref_batchnorm_forward_train(out, in0, gamma, beta, rmean, rvar,
                                               st->save_mean[i], st->save_invstd[i], N, n->c,
                                               n->h * n->w, RN_BN_MOMENTUM, RN_BN_EPS);
            else
                rn_ref_batchnorm_forward_infer(out, in0, gamma, beta, rmean, rvar, N, n->c,
                                               n->h * n->w, RN_BN_EPS);
            break;
        }
        case RN_OP_RELU:
            rn_ref_relu_forward(out, in0, (long)N * node_size(n));
            break;
        case RN_OP_DROPOUT:
            if (train)
                rn_ref_dropout_forward(out, in0, (long)N * node_size(n), n->p,
                                       rn_dropout_layer_key(e->key, rn_dropout_salt(n->name)));
            else
                memcpy(out, in0, sizeof(float) * (size_t)N * (size_t)node_size(n));
            break;
        case RN_OP_MAXPOOL:
            rn_ref_maxpool_forward(out, in0, N, a->c, a->h, a->w, n->kh, n->kw, n->stride,
                                   n->pad);
            break;
        case RN_OP_AVGPOOL:
            rn_ref_avgpool_forward(out, in0, N, a->c, a->h, a->w, n->kh, n->kw, n->stride,
                                   n->pad);
            break;
        case RN_OP_GAP:
            rn_ref_gap_forward(out, in0, N, a->c, a->h * a->w);
            break;
        case RN_OP_ADD:
            rn_ref_add_forward(out, in0, in1, (long)N * node_size(n));
            break;
        case RN_OP_CONCAT:
            rn_ref_concat_forward(out, in0, in1, N, a->c, b->c, n->h * n->w);
            break;
        case RN_OP_PADSHORT:
            rn_ref_padshort_forward(out, in0, N, a->c, a->h, a->w, n->c, n->stride);
            break;
        case RN_OP_FC:
            rn_ref_fc_forward(out, in0, slot(m, n, 0, e->params), slot(m, n, 1, e->params), N,
                              (int)node_size(a), n->c);
            break;
        case RN_OP_COUNT:
            DIE("bad op");
        }
    }
    memcpy(e->logits, st->act[m->output], sizeof(float) * (size_t)N * (size_t)m->classes);
    st->last_N = N;
    st->last_train = train;
}

void rn_interp_backward(const RnModel *m, RnInterp *st, RnExec *e, const float *dlogits, int N)
{
    if (!st || st->nnodes != m->nnodes)
        DIE("interpreter state does not belong to this model");
    if (N != st->last_N || !st->last_train)
        DIE("backward without a training forward on the same batch");
    for (int i = 0; i <= m->output; i++)
        if (st->grad[i])
            memset(st->grad[i], 0, sizeof(float) * (size_t)N * (size_t)node_size(&m->nodes[i]));
    memcpy(st->grad[m->output], dlogits, sizeof(float) * (size_t)N * (size_t)m->classes);

    for (int i = m->output; i >= 0; i--) {
        const RnNodeInfo *n = &m->nodes[i];
        const RnNodeInfo *a = n->in[0] >= 0 ? &m->nodes[n->in[0]] : NULL;
        const RnNodeInfo *b = n->in[1] >= 0 ? &m->nodes[n->in[1]] : NULL;
        const float *dout = st->grad[i];
        const float *in0 = a ? st->act[n->in[0]] : NULL;
        /* the input node has no gradient buffer: its slot is NULL, which
         * every backward kernel reads as "not wanted" */
        float *din0 = a ? st->grad[n->in[0]] : NULL;
        float *din1 = b ? st->grad[n->in[1]] : NULL;
        switch (n->op) {
        case RN_OP_INPUT:
            break;
        case RN_OP_CONV:
            rn_ref_conv2d_backward(din0, slot(m, n, 0, e->grads), slot(m, n, 1, e->grads), dout,
                                   in0, slot(m, n, 0, e->params), N, a->c, a->h, a->w, n->c,
                                   n->kh, n->kw, n->stride, n->pad, n->groups);
            break;
        case RN_OP_BN:
            rn_ref_batchnorm_backward(din0, slot(m, n, 0, e->grads), slot(m, n, 1, e->grads),
                                      dout, in0, slot(m, n, 0, e->params), st->save_mean[i],
                                      st->save_invstd[i], N, n->c, n->h * n->w);
            break;
        case RN_OP_RELU:
            if (!din0)
                break;
            rn_ref_relu_backward(din0, dout, st->act[i], (long)N * node_size(n));
            for (int f = 0; f < st->nflips; f++) {
                long j = st->flips[f].index;
                if (st->flips[f].node != i || j < 0 || j >= (long)N * node_size(n))
                    continue;
                /* the kernel passed dout where out > 0; reverse that here */
                din0[j] += st->act[i][j] > 0 ? -dout[j] : dout[j];
            }
            break;
        case RN_OP_MAXPOOL:
            rn_ref_maxpool_backward(din0, dout, in0, N, a->c, a->h, a->w, n->kh, n->kw,
                                    n->stride, n->pad);
            break;
        case RN_OP_AVGPOOL:
            rn_ref_avgpool_backward(din0, dout, N, a->c, a->h, a->w, n->kh, n->kw, n->stride,
                                    n->pad);
            break;
        case RN_OP_GAP:
            rn_ref_gap_backward(din0, dout, N, a->c, a->h * a->w);
            break;
        case RN_OP_DROPOUT:
            rn_ref_dropout_backward(din0, dout, (long)N * node_size(n), n->p,
                                    rn_dropout_layer_key(e->key, rn_dropout_salt(n->name)));
            break;
        case RN_OP_ADD:
            rn_ref_add_backward(din0, din1, dout, (long)N * node_size(n));
            break;
        case RN_OP_CONCAT:
            rn_ref_concat_backward(din0, din1, dout, N, a->c, b->c, n->h * n->w);
            break;
        case RN_OP_PADSHORT:
            rn_ref_padshort_backward(din0, dout, N, a->c, a->h, a->w, n->c, n->stride);
            break;
        case RN_OP_FC:
            rn_ref_fc_backward(din0, slot(m, n, 0, e->grads), slot(m, n, 1, e->grads), dout, in0,
                               slot(m, n, 0, e->params), N, (int)node_size(a), n->c);
            break;
        case RN_OP_COUNT:
            DIE("bad op");
        }
    }
}

void rn_interp_update(const RnModel *m, RnExec *e, const RnOptim *o, float lr, long t,
                      float *mbuf, float *vbuf)
{
    for (int p = 0; p < m->nparams; p++) {
        const RnParamInfo *pi = &m->params[p];
        if (pi->is_buffer)
            continue;
        rn_optim_step(o, lr, t, e->params + pi->offset, e->grads + pi->offset,
                      mbuf ? mbuf + pi->offset : NULL, vbuf ? vbuf + pi->offset : NULL, pi->numel,
                      rn_optim_decays(o, pi->no_decay));
    }
}

/* ---- ReLU kinks ----------------------------------------------------------- */

int rn_interp_kinks(const RnModel *m, const RnInterp *st, RnInterpKink *out, int max)
{
    int n = 0;
    if (!st || st->last_N < 1 || max < 1)
        return 0;
    for (int i = 0; i <= m->output; i++) {
        const RnNodeInfo *node = &m->nodes[i];
        if (node->op != RN_OP_RELU)
            continue;
        const float *a = st->act[node->in[0]];
        long cnt = (long)st->last_N * node_size(node);
        double scale = 0;
        for (long j = 0; j < cnt; j++)
            scale = fmax(scale, fabs((double)a[j]));
        if (scale == 0)
            continue;
        for (long j = 0; j < cnt; j++) {
            double r = fabs((double)a[j]) / scale;
            if (n == max && r >= out[n - 1].margin)
                continue;
            /* insert into the sorted list, dropping the largest when full */
            int k = n < max ? n++ : n - 1;
            while (k > 0 && out[k - 1].margin > r) {
                out[k] = out[k - 1];
                k--;
            }
            out[k] = (RnInterpKink){ i, j, r };
        }
    }
    return n;
}

void rn_interp_set_flips(RnInterp *st, const RnInterpKink *flips, int n)
{
    if (n > RN_INTERP_MAX_FLIPS)
        DIE("too many ReLU flips");
    st->nflips = n;
    for (int k = 0; k < n; k++)
        st->flips[k] = flips[k];
}

/* ---- binding: an RnModel that runs the interpreter ----------------------- */

static RnModel bound_model;     /* the source model, for the wrappers */
static RnInterp *bound_state;

static void bound_forward(RnExec *e, const float *x, int N, int train)
{
    rn_interp_forward(&bound_model, bound_state, e, x, N, train);
}

static void bound_backward(RnExec *e, const float *dlogits, int N)
{
    rn_interp_backward(&bound_model, bound_state, e, dlogits, N);
}

static void bound_update(RnExec *e, const RnOptim *o, float lr, long t, float *mbuf, float *vbuf)
{
    rn_interp_update(&bound_model, e, o, lr, t, mbuf, vbuf);
}

int rn_interp_bind(const RnModel *src, int N_max, RnModel *out, char *err, size_t errlen)
{
    RnInterp *st = rn_interp_new(src, N_max, err, errlen);
    if (!st)
        return -1;
    rn_interp_unbind();
    bound_state = st;
    bound_model = *src;
    *out = *src;
    out->backend = "reference";
    out->work_fixed = 0;
    out->work_per_image = 0;
    out->forward = bound_forward;
    out->backward = bound_backward;
    out->update = bound_update;
    return 0;
}

void rn_interp_unbind(void)
{
    rn_interp_free(bound_state);
    bound_state = NULL;
}
