/* rn_schedule.h - learning-rate schedules: constant, step, cosine, one-cycle,
 * each optionally preceded by a linear warm-up.
 *
 * A schedule is a pure function of the global step: rn_lr_at(s, step,
 * steps_per_epoch, total_epochs) gives the learning rate for 0-based step
 * `step`, so resuming from a checkpoint needs only the step count, and a
 * test can evaluate any point without running the ones before it.
 * Arithmetic is in double; the result is rounded to float once.
 *
 * Notation: S = steps_per_epoch, T = S * total_epochs (steps in the run),
 * W = warm-up steps = warmup_epochs * S rounded to the nearest integer
 * (halves up) and capped at T, B = base_lr.  A step outside [0, T-1] is
 * clamped into it.
 *
 *   warm-up, step < W:   lr = B * (step + 1) / W
 *       rises linearly from B/W at step 0 to B at step W-1.
 *
 * After the warm-up the main schedule runs on the remaining steps:
 * k = step - W (0-based), K = T - W of them.
 *
 *   constant:  lr = B
 *   step:      lr = B * gamma^floor(e / step_epochs),  e = step / S (integer)
 *       changes at epoch boundaries only; e counts epochs from the start of
 *       training, warm-up included ("x0.1 at epochs 30 and 60" means epochs
 *       30 and 60 of the run, as in Goyal et al. 2017), not from its end.
 *   cosine:    lr = min_lr + (B - min_lr) * (1 + cos(pi * k / (K-1))) / 2
 *       B at the first step after the warm-up, min_lr at the last step T-1,
 *       non-increasing in between; per step.  K == 1 gives B.
 *   onecycle:  torch.optim.lr_scheduler.OneCycleLR(max_lr=B,
 *              total_steps=K, pct_start, div_factor, final_div_factor,
 *              anneal_strategy='cos', three_phase=False), per step:
 *       lo = B / div_factor,  end = lo / final_div_factor,
 *       P = pct_start * K - 1  (a real number; the peak step),
 *       k <= P:  lr = anneal(lo, B, k / P)
 *       k >  P:  lr = anneal(B, end, (k - P) / (K - 1 - P))
 *       anneal(a, b, x) = b + (a - b) * (1 + cos(pi * x)) / 2
 *       so lr starts at lo, peaks at B at step P (when P is an integer), and
 *       reaches end at the last step.  A zero-length phase counts as x = 1.
 *       min_lr is not used (end is set by final_div_factor).  PyTorch also
 *       cycles momentum by default; rnet does not.
 */
#ifndef RN_SCHEDULE_H
#define RN_SCHEDULE_H

/* The schedule table: enum id and command-line name. */
#define RN_SCHED_KINDS(X)              \
    X(RN_SCHED_CONSTANT, "constant")   \
    X(RN_SCHED_STEP,     "step")       \
    X(RN_SCHED_COSINE,   "cosine")     \
    X(RN_SCHED_ONECYCLE, "onecycle")

#define RN_SCHED_ENUM_(id, name) id,
typedef enum { RN_SCHED_KINDS(RN_SCHED_ENUM_) } RnSchedKind;
#undef RN_SCHED_ENUM_

#define RN_SCHED_ONE_(id, name) +1
enum { RN_SCHED_COUNT = 0 RN_SCHED_KINDS(RN_SCHED_ONE_) };
#undef RN_SCHED_ONE_

typedef struct RnSchedule {
    RnSchedKind kind;
    float base_lr;          /* peak / starting rate (one-cycle: max_lr) */
    float min_lr;           /* cosine: floor reached at the last step */
    int step_epochs;        /* step: epochs between decays */
    float gamma;            /* step: factor per decay */
    float pct_start;        /* one-cycle: fraction of steps spent rising */
    float div_factor;       /* one-cycle: starting rate = base_lr / div_factor */
    float final_div_factor; /* one-cycle: final rate = starting rate / this */
    float warmup_epochs;    /* linear warm-up length in epochs, may be fractional; 0 = none */
} RnSchedule;

/* Defaults for one kind: base_lr 0.1, min_lr 0, step_epochs 30, gamma 0.1,
 * PyTorch OneCycleLR's pct_start 0.3, div_factor 25, final_div_factor 1e4,
 * no warm-up. */
RnSchedule rn_schedule_defaults(RnSchedKind kind);

/* NULL if the schedule is usable, else a message naming the bad field.
 * Only the fields the kind uses are checked. */
const char *rn_schedule_check(const RnSchedule *s);

/* Learning rate for 0-based global step `step` of a run of total_epochs
 * epochs of steps_per_epoch steps each (both >= 1; smaller values are
 * treated as 1). */
float rn_lr_at(const RnSchedule *s, long step, long steps_per_epoch, long total_epochs);

/* Names: "constant", "step", "cosine", "onecycle".  rn_sched_kind_parse
 * returns 0 and sets *out, or -1 for an unknown name (*out untouched).
 * rn_sched_kind_list gives the names separated by ", " for messages. */
const char *rn_sched_kind_name(RnSchedKind kind);
int rn_sched_kind_parse(const char *name, RnSchedKind *out);
const char *rn_sched_kind_list(void);

#endif
