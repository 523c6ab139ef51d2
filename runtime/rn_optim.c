/* rn_optim.c - SGD, Adam and AdamW parameter updates (see rn_optim.h).
 *
 * rn_optim_step decides everything that depends on the config once, turns
 * it into a few float coefficients, and hands them to one of four loops
 * (plain SGD, SGD with momentum, SGD with Nesterov momentum, Adam).  Each
 * loop is branch-free over restrict pointers so the compiler vectorises it.
 * A disabled feature costs no branch: "no decay" is wd = 0 (g + 0*p == g)
 * and decay factor 1 (p*1 == p), which leave finite values bit-identical.
 *
 * GCC 12 vectorises these loops at -O3 (not at -O2, whose cost model
 * refuses loops that need a scalar epilogue); the Adam loop also needs
 * -fno-math-errno on GCC and clang, since sqrtf may set errno.
 */
#include "rn_optim.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define RN_OPT_NAME_(id, name) [id] = name,
static const char *const opt_names[] = { RN_OPT_KINDS(RN_OPT_NAME_) };
#undef RN_OPT_NAME_
_Static_assert(sizeof opt_names / sizeof opt_names[0] == RN_OPT_COUNT,
               "opt_names must cover every RnOptKind");

#define RN_OPT_LIST_(id, name) ", " name
static const char opt_list[] = "" RN_OPT_KINDS(RN_OPT_LIST_);
#undef RN_OPT_LIST_

const char *rn_optim_kind_name(RnOptKind kind)
{
    if ((unsigned)kind >= RN_OPT_COUNT)
        return "?";
    return opt_names[kind];
}

int rn_optim_kind_parse(const char *name, RnOptKind *out)
{
    for (int k = 0; k < RN_OPT_COUNT; k++) {
        if (strcmp(name, opt_names[k]) == 0) {
            *out = (RnOptKind)k;
            return 0;
        }
    }
    return -1;
}

const char *rn_optim_kind_list(void)
{
    return opt_list + 2; /* skip the leading ", " */
}

RnOptim rn_optim_defaults(RnOptKind kind)
{
    RnOptim o = {
        .kind = kind,
        .momentum = 0.0f,
        .nesterov = 0,
        .weight_decay = 0.0f,
        .decoupled_wd = 0,
        .beta1 = 0.9f,
        .beta2 = 0.999f,
        .eps = 1e-8f,
        .no_decay_bn_bias = 0,
    };
    switch (kind) {
    case RN_OPT_SGD:
        o.momentum = 0.9f;
        o.weight_decay = 1e-4f;
        break;
    case RN_OPT_ADAM:
        break;
    case RN_OPT_ADAMW:
        o.weight_decay = 1e-2f;
        break;
    }
    return o;
}

const char *rn_optim_check(const RnOptim *o)
{
    if ((unsigned)o->kind >= RN_OPT_COUNT)
        return "unknown optimizer kind";
    if (!(o->weight_decay >= 0.0f) || isinf(o->weight_decay))
        return "weight decay must be a finite number >= 0";
    switch (o->kind) {
    case RN_OPT_SGD:
        if (!(o->momentum >= 0.0f && o->momentum < 1.0f))
            return "momentum must be in [0, 1) (1 and above never forget a gradient: the "
                   "step grows without bound)";
        if (o->nesterov && !(o->momentum > 0.0f))
            return "nesterov needs momentum > 0";
        break;
    case RN_OPT_ADAM:
    case RN_OPT_ADAMW:
        if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f))
            return "beta1 must be in [0, 1)";
        if (!(o->beta2 >= 0.0f && o->beta2 < 1.0f))
            return "beta2 must be in [0, 1)";
        if (!(o->eps >= 0.0f) || isinf(o->eps))
            return "eps must be a finite number >= 0";
        break;
    }
    return NULL;
}

int rn_optim_state_count(const RnOptim *o)
{
    switch (o->kind) {
    case RN_OPT_SGD:
        return o->momentum != 0.0f ? 1 : 0;
    case RN_OPT_ADAM:
    case RN_OPT_ADAMW:
        return 2;
    }
    return 0;
}

int rn_optim_decays(const RnOptim *o, int is_bn_or_bias)
{
    return !(o->no_decay_bn_bias && is_bn_or_bias);
}

/* ---- the loops ---------------------------------------------------------
 * l2: coefficient of p added to the gradient (0 = none).
 * keep: factor p is multiplied by before the update (1 = no decoupled decay).
 */

static void sgd_plain(float *restrict p, const float *restrict grad, long n,
                      float lr, float l2, float keep)
{
    for (long i = 0; i < n; i++) {
        float g = grad[i] + l2 * p[i];
        p[i] = p[i] * keep - lr * g;
    }
}

static void sgd_momentum(float *restrict p, const float *restrict grad,
                         float *restrict buf, long n,
                         float lr, float l2, float keep, float mu)
{
    for (long i = 0; i < n; i++) {
        float g = grad[i] + l2 * p[i];
        float b = buf[i] * mu + g;
        buf[i] = b;
        p[i] = p[i] * keep - lr * b;
    }
}

static void sgd_nesterov(float *restrict p, const float *restrict grad,
                         float *restrict buf, long n,
                         float lr, float l2, float keep, float mu)
{
    for (long i = 0; i < n; i++) {
        float g = grad[i] + l2 * p[i];
        float b = buf[i] * mu + g;
        buf[i] = b;
        p[i] = p[i] * keep - lr * (g + mu * b);
    }
}

/* w1 = 1 - beta1 (the lerp weight), step = lr / (1 - beta1^t),
 * bc2s = sqrt(1 - beta2^t).  PyTorch's lerp for a weight >= 0.5 uses the
 * other form, end - (end - start)*(1 - w); beta1 <= 0.5 is rare, so that
 * case goes through a second instance of the loop. */
static void adam_loop(float *restrict p, const float *restrict grad,
                      float *restrict m, float *restrict v, long n,
                      float l2, float keep, float w1, int w1_high,
                      float b2, float omb2, float step, float bc2s, float eps)
{
    if (!w1_high) {
        for (long i = 0; i < n; i++) {
            float g = grad[i] + l2 * p[i];
            float mi = m[i] + w1 * (g - m[i]);
            float vi = v[i] * b2 + omb2 * g * g;
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] * keep - step * mi / (sqrtf(vi) / bc2s + eps);
        }
    } else {
        float omw1 = 1.0f - w1;
        for (long i = 0; i < n; i++) {
            float g = grad[i] + l2 * p[i];
            float mi = g - (g - m[i]) * omw1;
            float vi = v[i] * b2 + omb2 * g * g;
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] * keep - step * mi / (sqrtf(vi) / bc2s + eps);
        }
    }
}

static void step_range(const RnOptim *o, float lr, long t,
                       float *param, const float *grad, float *m, float *v,
                       long n, int decay_this_tensor)
{
    double wd = decay_this_tensor ? (double)o->weight_decay : 0.0;
    double decoupled = 1.0 - (double)lr * wd; /* factor for p, decoupled decay */

    switch (o->kind) {
    case RN_OPT_SGD: {
        float l2 = o->decoupled_wd ? 0.0f : (float)wd;
        float keep = o->decoupled_wd ? (float)decoupled : 1.0f;
        if (o->momentum == 0.0f)
            sgd_plain(param, grad, n, lr, l2, keep);
        else if (o->nesterov)
            sgd_nesterov(param, grad, m, n, lr, l2, keep, o->momentum);
        else
            sgd_momentum(param, grad, m, n, lr, l2, keep, o->momentum);
        return;
    }
    case RN_OPT_ADAM:
    case RN_OPT_ADAMW: {
        assert(t >= 1 && "Adam's step count is 1-based");
        int adamw = o->kind == RN_OPT_ADAMW;
        float l2 = adamw ? 0.0f : (float)wd;
        float keep = adamw ? (float)decoupled : 1.0f;
        double b1 = o->beta1, b2 = o->beta2;
        double bc1 = 1.0 - pow(b1, (double)t);
        double bc2 = 1.0 - pow(b2, (double)t);
        double w1 = 1.0 - b1;
        adam_loop(param, grad, m, v, n, l2, keep, (float)w1, w1 >= 0.5,
                  (float)b2, (float)(1.0 - b2), (float)((double)lr / bc1),
                  (float)sqrt(bc2), o->eps);
        return;
    }
    }
}

/* The update is elementwise, so splitting a large tensor across threads
 * gives bit-identical results to one loop; small tensors stay serial. */
void rn_optim_step(const RnOptim *o, float lr, long t,
                   float *param, const float *grad, float *m, float *v,
                   long n, int decay_this_tensor)
{
#ifdef _OPENMP
    enum { CHUNK = 16384 };
    if (n >= 4 * CHUNK && !omp_in_parallel() && omp_get_max_threads() > 1) {
        long nchunks = (n + CHUNK - 1) / CHUNK;
        _Pragma("omp parallel for schedule(static)")
        for (long c = 0; c < nchunks; c++) {
            long lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
            step_range(o, lr, t, param + lo, grad + lo, m ? m + lo : NULL, v ? v + lo : NULL,
                       len, decay_this_tensor);
        }
        return;
    }
#endif
    step_range(o, lr, t, param, grad, m, v, n, decay_this_tensor);
}
