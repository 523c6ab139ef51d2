/* rn_model.h - the contract between generated code and the runtime.
 *
 * rnetc emits, for one model, a C file (or LLVM module) that defines
 *
 *     const RnModel rn_model;
 *
 * which describes the network (its parameters and graph, for checkpoints,
 * the reference interpreter and `info`) and points at the generated entry
 * points.  The runtime's program driver (rn_main.c) links against it and
 * provides train / eval / predict / info.
 *
 * Memory: the runtime allocates each category once (parameters, gradients,
 * optimizer state, workspace) with the sizes the model states; generated
 * code carves its tensors out of them at constant offsets.
 *
 * Layouts at the boundary are plain NCHW float32: the input x is (N, C, H,
 * W), the logits are (N, classes).  Inside the workspace the generated code
 * may use whatever layout it likes.  Parameters use PyTorch's layouts and
 * torchvision's names, so checkpoints move between frameworks.
 */
#ifndef RN_MODEL_H
#define RN_MODEL_H

#include "rn_ops.h"

/* Batch norm's constants, PyTorch's defaults; generated code and the
 * reference interpreter both use these, so they agree on every step:
 *   running = (1 - RN_BN_MOMENTUM) * running + RN_BN_MOMENTUM * batch
 *   y = (x - mean) / sqrt(var + RN_BN_EPS) * gamma + beta */
#define RN_BN_MOMENTUM 0.1f
#define RN_BN_EPS 1e-5f

/* what a parameter tensor is, for initialisation and weight decay */
typedef enum {
    RN_P_CONV_W,   /* (K, C/groups, KH, KW)  kaiming normal, fan_out, relu */
    RN_P_CONV_B,   /* (K)                    zero */
    RN_P_BN_W,     /* (C)                    one */
    RN_P_BN_B,     /* (C)                    zero */
    RN_P_BN_MEAN,  /* (C) buffer             zero */
    RN_P_BN_VAR,   /* (C) buffer             one */
    RN_P_FC_W,     /* (OUT, IN)              uniform +-1/sqrt(IN) (PyTorch's default) */
    RN_P_FC_B,     /* (OUT)                  uniform +-1/sqrt(IN) */
} RnParamKind;

typedef struct {
    const char *name;   /* torchvision-style, e.g. "layer1.0.conv1.weight" */
    RnParamKind kind;
    int ndim;
    int shape[4];
    long numel;
    long offset;        /* in floats, into the parameter block */
    int is_buffer;      /* running statistics: saved, not trained */
    int no_decay;       /* batch-norm parameters and biases */
    int fan_in, fan_out;
} RnParamInfo;

/* one node of the graph, enough to run it with the reference kernels */
typedef struct {
    RnOp op;
    const char *name;   /* "layer1.0.conv1" */
    int in[2];          /* node indices, -1 when absent */
    int c, h, w;        /* output shape per image */
    int kh, kw, stride, pad, groups, filters, bias;
    int param[4];       /* indices into params[], -1 when absent; in the
                           order weight, bias, running_mean, running_var */
    float p;            /* dropout: the probability of dropping an element */
} RnNodeInfo;

/* the training defaults from the model's train { } section */
typedef struct {
    int optimizer;      /* RnOptKind */
    float lr, momentum, beta1, beta2, eps;
    int nesterov;
    float weight_decay;
    int decoupled;      /* SGD: decoupled decay instead of L2 */
    int no_decay_bn_bias;
    int schedule;       /* RnSchedKind */
    float warmup;       /* epochs */
    int step_epochs;
    float gamma, min_lr;
    float label_smoothing;
    int batch, epochs;
    int nmean;          /* 0 = no normalisation; 1 = one value for all channels */
    float mean[4], std[4];
    int shift, flip;    /* augmentation */
    long seed;
} RnTrainDefaults;

struct RnOptim;
struct RnExec;

/* one emitted layer (after fusion, a fused group), for per-layer timing:
 * `bench --per-layer` calls these on their own, after a full forward. */
typedef struct {
    const char *name;   /* "layer1.0.conv1" (a fused group: its first node) */
    const char *what;   /* "conv 3x3/1 + bn + relu", free text */
    void (*forward)(struct RnExec *e, float *w, int N);
    void (*backward)(struct RnExec *e, float *w, int N);  /* NULL: none */
    long flops_fwd;     /* per image: 2 x multiply-accumulates, of a conv's
                           taps that read inside the input only (padding
                           multiplies zeros: not work) */
    long flops_bwd;     /* per image, weight and input gradients */
} RnLayerInfo;

/* the buffers one model instance runs on */
typedef struct RnExec {
    float *params;      /* param_floats: weights and running statistics */
    float *grads;       /* param_floats: gradients (buffer slots unused);
                           backward ACCUMULATES, the caller zeroes */
    float *work;        /* workspace_floats(N_max) */
    float *logits;      /* (N_max, classes) */
    int N_max;
    /* Inference runs with batch norm folded into the convolutions: the
     * generated code folds the weights into the workspace on the first
     * forward(train = 0) and sets `folded`; forward(train = 1) and update
     * clear it, and so must anything else that writes params (loading a
     * checkpoint, initialising): rn_exec_params_changed(). */
    int folded;
    /* this step's dropout key (rn_dropout.h): the training loop sets it
     * before each forward(train = 1); a dropout layer's mask is a function
     * of it, the layer and the element */
    unsigned long long key;
} RnExec;

typedef struct RnModel {
    const char *name;
    const char *source_hash;    /* FNV-1a of the .rnet source, hex */
    const char *backend;        /* "c" or "llvm" */
    int in_c, in_h, in_w, classes;

    int nparams;
    const RnParamInfo *params;
    long param_floats;

    int nnodes;
    const RnNodeInfo *nodes;
    int output;                 /* node index of the logits */

    RnTrainDefaults defaults;
    long macs;                  /* forward multiply-accumulates per image */

    /* workspace for a batch of N: fixed + per_image * N floats */
    long work_fixed, work_per_image;

    /* Forward pass over x (N, C, H, W); writes e->logits (N, classes).
     * train = 1: batch norm uses batch statistics, updates the running
     * statistics and keeps what backward needs; train = 0: inference. */
    void (*forward)(RnExec *e, const float *x, int N, int train);
    /* Backward pass right after forward(train = 1) on the same batch (the
     * two modes share the workspace, so no forward(train = 0) between):
     * dlogits (N, classes) in, gradients accumulated into e->grads. */
    void (*backward)(RnExec *e, const float *dlogits, int N);
    /* One optimizer step over every trainable tensor; m and v are
     * param_floats each (v may be NULL for SGD).  t is the 1-based step. */
    void (*update)(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v);

    /* the emitted layers in execution order (NULL/0: not provided): the
     * training graph's (forward and backward; --inference-only: the
     * inference graph's), and the inference graph's (batch norm folded,
     * the functions forward(train = 0) runs), which bench --per-layer
     * --mode infer times */
    int nlayers;
    const RnLayerInfo *layers;
    int ninfer_layers;
    const RnLayerInfo *infer_layers;
} RnModel;

extern const RnModel rn_model;

static inline void rn_exec_params_changed(RnExec *e)
{
    e->folded = 0;
}

static inline long rn_model_work_floats(const RnModel *m, int N)
{
    return m->work_fixed + m->work_per_image * (long)N;
}

#endif
