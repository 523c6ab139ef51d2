/* rn_schedule.c - learning rate as a function of the global step (see
 * rn_schedule.h for the formulas).
 *
 * rn_lr_at clamps the step, peels off the linear warm-up, and evaluates the
 * main schedule on the steps that remain.  Nothing is stateful: the same
 * arguments always give the same rate, which is what resume and the tests
 * rely on.
 */
#include "rn_schedule.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define RN_SCHED_NAME_(id, name) [id] = name,
static const char *const sched_names[] = { RN_SCHED_KINDS(RN_SCHED_NAME_) };
#undef RN_SCHED_NAME_
_Static_assert(sizeof sched_names / sizeof sched_names[0] == RN_SCHED_COUNT,
               "sched_names must cover every RnSchedKind");

#define RN_SCHED_LIST_(id, name) ", " name
static const char sched_list[] = "" RN_SCHED_KINDS(RN_SCHED_LIST_);
#undef RN_SCHED_LIST_

const char *rn_sched_kind_name(RnSchedKind kind)
{
    if ((unsigned)kind >= RN_SCHED_COUNT)
        return "?";
    return sched_names[kind];
}

int rn_sched_kind_parse(const char *name, RnSchedKind *out)
{
    for (int k = 0; k < RN_SCHED_COUNT; k++) {
        if (strcmp(name, sched_names[k]) == 0) {
            *out = (RnSchedKind)k;
            return 0;
        }
    }
    return -1;
}

const char *rn_sched_kind_list(void)
{
    return sched_list + 2; /* skip the leading ", " */
}

RnSchedule rn_schedule_defaults(RnSchedKind kind)
{
    RnSchedule s = {
        .kind = kind,
        .base_lr = 0.1f,
        .min_lr = 0.0f,
        .step_epochs = 30,
        .gamma = 0.1f,
        .pct_start = 0.3f,
        .div_factor = 25.0f,
        .final_div_factor = 1e4f,
        .warmup_epochs = 0.0f,
    };
    return s;
}

static int finite_pos(float x) { return x > 0.0f && !isinf(x); }

const char *rn_schedule_check(const RnSchedule *s)
{
    if ((unsigned)s->kind >= RN_SCHED_COUNT)
        return "unknown schedule kind";
    if (!finite_pos(s->base_lr))
        return "learning rate must be a finite number > 0";
    if (!(s->warmup_epochs >= 0.0f) || isinf(s->warmup_epochs))
        return "warm-up epochs must be a finite number >= 0";
    switch (s->kind) {
    case RN_SCHED_CONSTANT:
        break;
    case RN_SCHED_STEP:
        if (s->step_epochs < 1)
            return "step schedule needs step epochs >= 1";
        if (!finite_pos(s->gamma))
            return "step schedule needs gamma > 0";
        break;
    case RN_SCHED_COSINE:
        if (!(s->min_lr >= 0.0f && s->min_lr <= s->base_lr))
            return "cosine schedule needs 0 <= min lr <= learning rate";
        break;
    case RN_SCHED_ONECYCLE:
        if (!(s->pct_start > 0.0f && s->pct_start < 1.0f))
            return "one-cycle pct_start must be in (0, 1)";
        if (!finite_pos(s->div_factor))
            return "one-cycle div_factor must be > 0";
        if (!finite_pos(s->final_div_factor))
            return "one-cycle final_div_factor must be > 0";
        break;
    }
    return NULL;
}

static const double pi = 3.14159265358979323846;

/* cos annealing from a (x = 0) to b (x = 1), PyTorch's _annealing_cos. */
static double anneal_cos(double a, double b, double x)
{
    return b + (a - b) / 2.0 * (cos(pi * x) + 1.0);
}

/* Fraction of the way from `from` to `to`; a zero-length span counts as done. */
static double frac(double k, double from, double to)
{
    return to > from ? (k - from) / (to - from) : 1.0;
}

float rn_lr_at(const RnSchedule *s, long step, long steps_per_epoch, long total_epochs)
{
    long S = steps_per_epoch > 0 ? steps_per_epoch : 1;
    long T = S * (total_epochs > 0 ? total_epochs : 1);
    double B = s->base_lr;

    if (step < 0)
        step = 0;
    if (step > T - 1)
        step = T - 1;

    long W = 0;
    if (s->warmup_epochs > 0.0f) {
        double w = floor((double)s->warmup_epochs * (double)S + 0.5);
        W = w < (double)T ? (long)w : T;
    }
    if (step < W)
        return (float)(B * (double)(step + 1) / (double)W);

    long k = step - W, K = T - W; /* k in [0, K-1], K >= 1 */
    double lr = B;
    switch (s->kind) {
    case RN_SCHED_CONSTANT:
        break;
    case RN_SCHED_STEP:
        if (s->step_epochs > 0)
            lr = B * pow((double)s->gamma, (double)((step / S) / s->step_epochs));
        break;
    case RN_SCHED_COSINE:
        if (K > 1)
            lr = anneal_cos(B, (double)s->min_lr, (double)k / (double)(K - 1));
        break;
    case RN_SCHED_ONECYCLE: {
        double lo = B / (double)s->div_factor;
        double end = lo / (double)s->final_div_factor;
        double P = (double)s->pct_start * (double)K - 1.0;
        if ((double)k <= P)
            lr = anneal_cos(lo, B, frac((double)k, 0.0, P));
        else
            lr = anneal_cos(B, end, frac((double)k, P, (double)(K - 1)));
        break;
    }
    }
    return (float)lr;
}
