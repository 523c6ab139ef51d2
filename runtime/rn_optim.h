/* rn_optim.h - optimizers: SGD (momentum, Nesterov, weight decay), Adam, AdamW.
 *
 * An optimizer is a small config struct plus one function that updates one
 * parameter tensor in place.  The training loop calls rn_optim_step once per
 * parameter tensor per step; the optimizer state (m, v) lives in buffers the
 * caller carves out of its optimizer-state block and zeroes once before the
 * first step.  The updates follow PyTorch's torch.optim formulas (listed
 * below) so that weights trained here and there agree step for step within
 * float rounding:
 *
 *   SGD (torch.optim.SGD, dampening 0), g = grad:
 *     g   = g + wd*p                    L2 decay (decoupled_wd == 0)
 *     p   = p * (1 - lr*wd)             decoupled decay (decoupled_wd == 1)
 *     m   = momentum*m + g              momentum buffer (skipped if momentum == 0)
 *     d   = nesterov ? g + momentum*m : m
 *     p   = p - lr*d
 *
 *   Adam (torch.optim.Adam), t = 1-based step count:
 *     g   = g + wd*p                    L2 decay
 *     m   = m + (1-b1)*(g - m)          = b1*m + (1-b1)*g, written as PyTorch's lerp
 *     v   = b2*v + (1-b2)*g*g
 *     p   = p - (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *
 *   AdamW (torch.optim.AdamW): p = p * (1 - lr*wd) first, then the Adam step
 *     with no L2 term.
 *
 * The scalar coefficients (1 - lr*wd, bias corrections, step size) are
 * computed in double, as PyTorch computes them in Python, then used as float.
 * No AMSGrad, no maximize, no dampening: rnet does not offer them.
 *
 * Weight decay applies to a tensor only when the caller says so
 * (decay_this_tensor); rn_optim_decays gives the usual answer, excluding
 * batch-norm parameters and biases when no_decay_bn_bias is set.
 *
 * Typical use:
 *
 *   RnOptim o = rn_optim_defaults(RN_OPT_SGD);
 *   o.weight_decay = 5e-4f;                          // command-line overrides
 *   const char *why = rn_optim_check(&o);            // NULL when valid
 *   for each step t = 1, 2, ...:
 *       for each parameter tensor i:
 *           rn_optim_step(&o, lr, t, p[i], g[i], m[i], v[i], n[i],
 *                         rn_optim_decays(&o, is_bn_or_bias[i]));
 */
#ifndef RN_OPTIM_H
#define RN_OPTIM_H

/* The optimizer table: enum id and command-line name.  Adding a row adds
 * the enum value and its name; every switch on RnOptKind (no default:) then
 * fails to build until it handles the new kind. */
#define RN_OPT_KINDS(X) \
    X(RN_OPT_SGD,   "sgd")  \
    X(RN_OPT_ADAM,  "adam") \
    X(RN_OPT_ADAMW, "adamw")

#define RN_OPT_ENUM_(id, name) id,
typedef enum { RN_OPT_KINDS(RN_OPT_ENUM_) } RnOptKind;
#undef RN_OPT_ENUM_

#define RN_OPT_ONE_(id, name) +1
enum { RN_OPT_COUNT = 0 RN_OPT_KINDS(RN_OPT_ONE_) };
#undef RN_OPT_ONE_

typedef struct RnOptim {
    RnOptKind kind;
    float momentum;       /* SGD: 0 = plain SGD */
    int nesterov;         /* SGD: Nesterov momentum (needs momentum > 0) */
    float weight_decay;   /* 0 = none */
    int decoupled_wd;     /* SGD only: 0 = L2 (g += wd*p), 1 = p *= 1 - lr*wd.
                             Adam is always L2, AdamW always decoupled. */
    float beta1, beta2;   /* Adam/AdamW moment decay rates */
    float eps;            /* Adam/AdamW denominator term */
    int no_decay_bn_bias; /* exclude batch-norm parameters and biases from decay */
} RnOptim;

/* Defaults for one kind.  SGD: momentum 0.9, weight decay 1e-4 (the ResNet
 * paper's ImageNet setting), no Nesterov, L2 decay.  Adam: PyTorch's
 * betas (0.9, 0.999), eps 1e-8, weight decay 0.  AdamW: the same with
 * PyTorch's weight decay 1e-2.  no_decay_bn_bias is 0 for all, as a plain
 * torch.optim optimizer over model.parameters() decays every tensor. */
RnOptim rn_optim_defaults(RnOptKind kind);

/* NULL if the config is usable, else a message naming the bad field
 * (e.g. "nesterov needs momentum > 0"). */
const char *rn_optim_check(const RnOptim *o);

/* Number of per-tensor state buffers rn_optim_step uses (each the size of
 * the parameter): 0 for SGD without momentum, 1 (m) for SGD with momentum,
 * 2 (m, v) for Adam and AdamW.  Unused buffers may be NULL. */
int rn_optim_state_count(const RnOptim *o);

/* 1 if weight decay should apply to a tensor, 0 if it is excluded
 * (is_bn_or_bias and o->no_decay_bn_bias). */
int rn_optim_decays(const RnOptim *o, int is_bn_or_bias);

/* One update of one parameter tensor, in place.
 *   param (n)  updated
 *   grad  (n)  read only
 *   m     (n)  SGD momentum buffer / Adam first moment; NULL allowed for
 *              SGD with momentum 0
 *   v     (n)  Adam second moment; unused by SGD (may be NULL)
 * lr is this step's learning rate (see rn_schedule.h), t the 1-based count
 * of steps taken so far including this one (Adam's bias correction). */
void rn_optim_step(const RnOptim *o, float lr, long t,
                   float *param, const float *grad, float *m, float *v,
                   long n, int decay_this_tensor);

/* Names as written on the command line and in .rnet files: "sgd", "adam",
 * "adamw".  rn_optim_kind_parse returns 0 and sets *out, or -1 for an
 * unknown name (then *out is untouched).  rn_optim_kind_list gives the
 * accepted names separated by ", " for error messages. */
const char *rn_optim_kind_name(RnOptKind kind);
int rn_optim_kind_parse(const char *name, RnOptKind *out);
const char *rn_optim_kind_list(void);

#endif
