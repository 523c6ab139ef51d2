/* test_schedule.c - learning-rate schedules at their boundary points.
 *
 * Each expected value is worked out in the comment beside it from the
 * formulas in rn_schedule.h (and, for one-cycle, from PyTorch's
 * OneCycleLR); shapes (monotone warm-up, monotone cosine, one-cycle peak)
 * are checked over every step of a run.
 */
#include "check.h"
#include "rn_schedule.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const double pi = 3.14159265358979323846;

/* float result vs double expectation, relative tolerance 1e-6. */
static void check_lr(const char *name, float got, double want)
{
    double tol = 1e-6 * (fabs(want) > 1e-30 ? fabs(want) : 1e-30);
    CHECK(fabs((double)got - want) <= tol, name, "got %.9g want %.9g", (double)got, want);
}

static RnSchedule sched(RnSchedKind kind, float base_lr, float warmup_epochs)
{
    RnSchedule s = rn_schedule_defaults(kind);
    s.base_lr = base_lr;
    s.warmup_epochs = warmup_epochs;
    return s;
}

static void test_constant(void)
{
    /* 10 steps/epoch, 5 epochs: T = 50, every step 0.05. */
    RnSchedule s = sched(RN_SCHED_CONSTANT, 0.05f, 0.0f);
    int ok = 1;
    for (long k = 0; k < 50; k++)
        ok &= rn_lr_at(&s, k, 10, 5) == 0.05f;
    CHECK(ok, "constant_every_step", "some step is not 0.05");
}

static void test_warmup(void)
{
    /* 2 warm-up epochs of 10 steps: W = 20, lr = 0.1 * (step+1)/20.
     *   step 0:  0.1/20  = 0.005
     *   step 9:  0.1*10/20 = 0.05
     *   step 19: 0.1 (end of warm-up)
     *   step 20: constant 0.1 */
    RnSchedule s = sched(RN_SCHED_CONSTANT, 0.1f, 2.0f);
    check_lr("warmup_first_step", rn_lr_at(&s, 0, 10, 5), 0.005);
    check_lr("warmup_middle", rn_lr_at(&s, 9, 10, 5), 0.05);
    check_lr("warmup_last_step", rn_lr_at(&s, 19, 10, 5), 0.1);
    check_lr("warmup_then_constant", rn_lr_at(&s, 20, 10, 5), 0.1);
    int inc = 1;
    for (long k = 1; k < 20; k++)
        inc &= rn_lr_at(&s, k, 10, 5) > rn_lr_at(&s, k - 1, 10, 5);
    CHECK(inc, "warmup_strictly_increasing", "warm-up lr not increasing");

    /* Fractional: 0.55 epochs of 10 steps = 5.5 steps, rounds to W = 6:
     *   step 5: 0.1*6/6 = 0.1 ; step 2: 0.1*3/6 = 0.05 */
    s.warmup_epochs = 0.55f;
    check_lr("warmup_fractional_mid", rn_lr_at(&s, 2, 10, 5), 0.05);
    check_lr("warmup_fractional_end", rn_lr_at(&s, 5, 10, 5), 0.1);
    /* 0.25 epochs of 10 = 2.5 steps rounds up to W = 3: step 0 = 0.1/3 */
    s.warmup_epochs = 0.25f;
    check_lr("warmup_fractional_half_rounds_up", rn_lr_at(&s, 0, 10, 5), 0.1 / 3.0);

    /* Warm-up longer than the run is capped at T = 50 steps. */
    s.warmup_epochs = 100.0f;
    check_lr("warmup_capped_at_run", rn_lr_at(&s, 49, 10, 5), 0.1);
    check_lr("warmup_capped_first", rn_lr_at(&s, 0, 10, 5), 0.1 / 50.0);
}

static void test_step(void)
{
    /* 10 steps/epoch, 90 epochs, x0.1 every 30 epochs, base 0.1:
     *   steps 0..299 (epochs 0..29)   0.1
     *   steps 300..599 (30..59)       0.01
     *   steps 600..899 (60..89)       0.001 (the last step, 899, too) */
    RnSchedule s = sched(RN_SCHED_STEP, 0.1f, 0.0f);
    s.step_epochs = 30;
    s.gamma = 0.1f;
    check_lr("step_start", rn_lr_at(&s, 0, 10, 90), 0.1);
    check_lr("step_before_first_drop", rn_lr_at(&s, 299, 10, 90), 0.1);
    check_lr("step_first_drop", rn_lr_at(&s, 300, 10, 90), 0.1 * (double)0.1f);
    check_lr("step_middle_of_second", rn_lr_at(&s, 450, 10, 90), 0.1 * (double)0.1f);
    check_lr("step_second_drop", rn_lr_at(&s, 600, 10, 90), 0.1 * (double)0.1f * (double)0.1f);
    check_lr("step_last_step", rn_lr_at(&s, 899, 10, 90), 0.1 * (double)0.1f * (double)0.1f);

    /* Changes only at epoch boundaries: within every epoch the rate is flat. */
    int flat = 1;
    for (long k = 0; k < 900; k++)
        flat &= k % 10 == 0 || rn_lr_at(&s, k, 10, 90) == rn_lr_at(&s, k - 1, 10, 90);
    CHECK(flat, "step_changes_only_at_epochs", "rate changed inside an epoch");

    /* With a 5-epoch warm-up the drops stay at epochs 30 and 60 of the run:
     *   step 0: 0.1/50 = 0.002; step 49: 0.1; step 50: 0.1; step 300: 0.01 */
    s.warmup_epochs = 5.0f;
    check_lr("step_warmup_first", rn_lr_at(&s, 0, 10, 90), 0.002);
    check_lr("step_warmup_end", rn_lr_at(&s, 49, 10, 90), 0.1);
    check_lr("step_after_warmup", rn_lr_at(&s, 50, 10, 90), 0.1);
    check_lr("step_warmup_drop_at_epoch_30", rn_lr_at(&s, 300, 10, 90), 0.1 * (double)0.1f);
    check_lr("step_warmup_before_drop", rn_lr_at(&s, 299, 10, 90), 0.1);
}

static void test_cosine(void)
{
    /* One epoch of 101 steps, base 0.1, floor 0.001; K - 1 = 100:
     *   step 0:   0.1
     *   step 50:  0.001 + 0.099*(1 + cos(pi/2))/2 = 0.0505
     *   step 25:  0.001 + 0.099*(1 + cos(pi/4))/2 = 0.001 + 0.0495*(1 + 0.70710678)
     *   step 100: 0.001 */
    RnSchedule s = sched(RN_SCHED_COSINE, 0.1f, 0.0f);
    s.min_lr = 0.001f;
    double B = (double)0.1f, lo = (double)0.001f;
    check_lr("cosine_start", rn_lr_at(&s, 0, 101, 1), B);
    check_lr("cosine_middle", rn_lr_at(&s, 50, 101, 1), (B + lo) / 2.0);
    check_lr("cosine_quarter", rn_lr_at(&s, 25, 101, 1), lo + (B - lo) / 2.0 * (1.0 + sqrt(0.5)));
    check_lr("cosine_last_step", rn_lr_at(&s, 100, 101, 1), lo);
    check_lr("cosine_past_end_clamps", rn_lr_at(&s, 150, 101, 1), lo);

    int mono = 1;
    for (long k = 1; k < 101; k++)
        mono &= rn_lr_at(&s, k, 101, 1) <= rn_lr_at(&s, k - 1, 101, 1);
    CHECK(mono, "cosine_non_increasing", "cosine rose somewhere");

    /* Per step, not per epoch: 10 epochs of 10 steps, steps 0 and 1 differ. */
    s.min_lr = 0.0f;
    CHECK(rn_lr_at(&s, 1, 10, 10) < rn_lr_at(&s, 0, 10, 10), "cosine_per_step",
          "step 1 %.9g not below step 0 %.9g", (double)rn_lr_at(&s, 1, 10, 10),
          (double)rn_lr_at(&s, 0, 10, 10));

    /* Warm-up of 1 epoch of 10 steps, 11 epochs: T = 110, W = 10, K = 100,
     * K - 1 = 99, min 0:
     *   step 9  (end of warm-up):  0.1
     *   step 10 (k = 0):           0.1
     *   step 43 (k = 33):          0.1*(1 + cos(pi/3))/2 = 0.075
     *   step 109 (k = 99, last):   0
     * With min 0 the last step is exactly 0; check it absolutely. */
    s.warmup_epochs = 1.0f;
    check_lr("cosine_warmup_first", rn_lr_at(&s, 0, 10, 11), B / 10.0);
    check_lr("cosine_warmup_end", rn_lr_at(&s, 9, 10, 11), B);
    check_lr("cosine_after_warmup", rn_lr_at(&s, 10, 10, 11), B);
    check_lr("cosine_warmup_third", rn_lr_at(&s, 43, 10, 11), B * (1.0 + cos(pi / 3.0)) / 2.0);
    float last = rn_lr_at(&s, 109, 10, 11);
    CHECK(fabs((double)last) < 1e-12, "cosine_warmup_last_step_zero", "got %.9g", (double)last);
    mono = 1;
    for (long k = 11; k < 110; k++)
        mono &= rn_lr_at(&s, k, 10, 11) <= rn_lr_at(&s, k - 1, 10, 11);
    CHECK(mono, "cosine_warmup_non_increasing_after", "cosine rose after warm-up");

    /* A single-step run gets the base rate, not a 0/0. */
    s.warmup_epochs = 0.0f;
    check_lr("cosine_single_step", rn_lr_at(&s, 0, 1, 1), B);
}

static void test_onecycle(void)
{
    /* PyTorch OneCycleLR(max_lr=0.1, total_steps=100), defaults pct_start
     * 0.3, div_factor 25, final_div_factor 1e4, cos:
     *   initial = 0.1/25 = 0.004, final = 0.004/1e4 = 4e-7
     *   phase 1 ends at P = 0.3*100 - 1 = 29: step 0 -> 0.004, step 29 -> 0.1
     *   phase 2 from 29 to 99 (70 steps): step 64 is halfway,
     *     (0.1 + 4e-7)/2 = 0.0500002; step 99 -> 4e-7
     *   step 10 in phase 1: x = 10/29,
     *     lr = 0.1 + (0.004 - 0.1)/2 * (1 + cos(10 pi/29))
     * (P is computed from the float 0.3f, 29.0000012, so the peak and the
     * phase-2 points are off by ~1e-14 relative: invisible at 1e-6.) */
    RnSchedule s = sched(RN_SCHED_ONECYCLE, 0.1f, 0.0f);
    double B = (double)0.1f, lo = B / 25.0, end = lo / 1e4;
    check_lr("onecycle_start", rn_lr_at(&s, 0, 10, 10), lo);
    check_lr("onecycle_phase1_step10", rn_lr_at(&s, 10, 10, 10),
             B + (lo - B) / 2.0 * (1.0 + cos(10.0 * pi / 29.0)));
    check_lr("onecycle_peak", rn_lr_at(&s, 29, 10, 10), B);
    check_lr("onecycle_phase2_middle", rn_lr_at(&s, 64, 10, 10), (B + end) / 2.0);
    check_lr("onecycle_last_step", rn_lr_at(&s, 99, 10, 10), end);

    long argmax = 0;
    int up = 1, down = 1;
    for (long k = 1; k < 100; k++) {
        float a = rn_lr_at(&s, k - 1, 10, 10), b = rn_lr_at(&s, k, 10, 10);
        if (b > rn_lr_at(&s, argmax, 10, 10))
            argmax = k;
        if (k <= 29)
            up &= b > a;
        else
            down &= b < a;
    }
    CHECK(argmax == 29, "onecycle_peak_at_pct_start", "peak at step %ld, want 29", argmax);
    CHECK(up && down, "onecycle_rises_then_falls", "up %d down %d", up, down);

    /* Warm-up composes: 2 warm-up epochs of 10 steps, 12 epochs in all,
     * leaves K = 100 one-cycle steps starting at step 20:
     *   step 19: 0.1 (end of warm-up);  step 20: 0.004;  step 49: 0.1;
     *   step 119: 4e-7 */
    s.warmup_epochs = 2.0f;
    check_lr("onecycle_warmup_end", rn_lr_at(&s, 19, 10, 12), B);
    check_lr("onecycle_after_warmup", rn_lr_at(&s, 20, 10, 12), lo);
    check_lr("onecycle_warmup_peak", rn_lr_at(&s, 49, 10, 12), B);
    check_lr("onecycle_warmup_last", rn_lr_at(&s, 119, 10, 12), end);

    /* pct_start 0.25 of 40 steps: P = 9; div 10, final_div 100:
     *   step 0: 0.01, step 9: 0.1, step 39: 1e-4 */
    s = sched(RN_SCHED_ONECYCLE, 0.1f, 0.0f);
    s.pct_start = 0.25f;
    s.div_factor = 10.0f;
    s.final_div_factor = 100.0f;
    check_lr("onecycle_custom_start", rn_lr_at(&s, 0, 40, 1), B / 10.0);
    check_lr("onecycle_custom_peak", rn_lr_at(&s, 9, 40, 1), B);
    check_lr("onecycle_custom_last", rn_lr_at(&s, 39, 40, 1), B / 1000.0);

    /* pct_start 0.25 of 4 steps: P = 0, a rising phase of zero length
     * (PyTorch divides by zero here); it counts as done, so step 0 is the
     * peak, and phase 2 runs 0..3: step 3 -> 1e-4 */
    check_lr("onecycle_empty_rise_peak", rn_lr_at(&s, 0, 4, 1), B);
    check_lr("onecycle_empty_rise_last", rn_lr_at(&s, 3, 4, 1), B / 1000.0);
}

static void test_tiny_runs(void)
{
    /* Every kind, with and without warm-up, on runs of 1..6 steps: finite
     * and positive everywhere (no 0/0 from a zero-length phase). */
    int ok = 1;
    char why[128] = "";
    for (int kind = 0; kind < RN_SCHED_COUNT; kind++) {
        for (int w = 0; w < 2; w++) {
            for (long total = 1; total <= 6; total++) {
                RnSchedule s = sched((RnSchedKind)kind, 0.1f, w ? 0.5f : 0.0f);
                s.min_lr = 1e-4f;
                s.step_epochs = 1;
                for (long k = 0; k < total; k++) {
                    float lr = rn_lr_at(&s, k, 1, total);
                    if (!(lr > 0.0f) || isinf(lr)) {
                        ok = 0;
                        snprintf(why, sizeof why, "%s warmup %d, %ld steps, step %ld: %g",
                                 rn_sched_kind_name((RnSchedKind)kind), w, total, k, (double)lr);
                    }
                }
            }
        }
    }
    CHECK(ok, "tiny_runs_finite_positive", "%s", why);
    RnSchedule s = sched(RN_SCHED_COSINE, 0.1f, 0.0f);
    check_lr("bad_counts_treated_as_one", rn_lr_at(&s, 0, 0, -3), (double)0.1f);
    check_lr("negative_step_clamps", rn_lr_at(&s, -5, 10, 10), (double)0.1f);
}

static void test_names_and_check(void)
{
    static const struct { const char *name; RnSchedKind kind; } rows[] = {
        { "constant", RN_SCHED_CONSTANT }, { "step", RN_SCHED_STEP },
        { "cosine", RN_SCHED_COSINE }, { "onecycle", RN_SCHED_ONECYCLE },
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        RnSchedKind k = (RnSchedKind)-1;
        ok &= rn_sched_kind_parse(rows[i].name, &k) == 0 && k == rows[i].kind;
        ok &= strcmp(rn_sched_kind_name(rows[i].kind), rows[i].name) == 0;
    }
    CHECK(ok && RN_SCHED_COUNT == 4, "sched_names_round_trip", "a name did not round-trip");
    RnSchedKind k = RN_SCHED_STEP;
    int rc1 = rn_sched_kind_parse("one-cycle", &k), rc2 = rn_sched_kind_parse("Cosine", &k);
    CHECK(rc1 < 0 && rc2 < 0 && k == RN_SCHED_STEP, "sched_unknown_names_rejected",
          "rc %d %d kind %d", rc1, rc2, (int)k);
    CHECK(strcmp(rn_sched_kind_list(), "constant, step, cosine, onecycle") == 0, "sched_kind_list",
          "got \"%s\"", rn_sched_kind_list());

    RnSchedule d = rn_schedule_defaults(RN_SCHED_ONECYCLE);
    CHECK(d.pct_start == 0.3f && d.div_factor == 25.0f && d.final_div_factor == 1e4f &&
          d.min_lr == 0.0f && d.warmup_epochs == 0.0f, "sched_defaults", "pct %g div %g final %g",
          (double)d.pct_start, (double)d.div_factor, (double)d.final_div_factor);
    int all_ok = 1;
    for (int kind = 0; kind < RN_SCHED_COUNT; kind++) {
        RnSchedule s = rn_schedule_defaults((RnSchedKind)kind);
        all_ok &= rn_schedule_check(&s) == NULL;
    }
    CHECK(all_ok, "sched_defaults_pass_check", "a default schedule fails its own check");

    static const struct { RnSchedKind kind; int field; const char *needle; const char *name; } bad[] = {
        { RN_SCHED_CONSTANT, 0, "learning rate", "check_zero_lr" },
        { RN_SCHED_STEP, 1, "step epochs", "check_step_epochs_zero" },
        { RN_SCHED_COSINE, 2, "min lr", "check_min_above_base" },
        { RN_SCHED_ONECYCLE, 3, "pct_start", "check_pct_start_one" },
        { RN_SCHED_CONSTANT, 4, "warm-up", "check_negative_warmup" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RnSchedule s = rn_schedule_defaults(bad[i].kind);
        switch (bad[i].field) {
        case 0: s.base_lr = 0.0f; break;
        case 1: s.step_epochs = 0; break;
        case 2: s.min_lr = 1.0f; break;
        case 3: s.pct_start = 1.0f; break;
        case 4: s.warmup_epochs = -1.0f; break;
        }
        const char *why = rn_schedule_check(&s);
        CHECK(why && strstr(why, bad[i].needle), bad[i].name, "got %s", why ? why : "NULL");
    }
    /* fields a kind does not use are not its business */
    RnSchedule c = rn_schedule_defaults(RN_SCHED_COSINE);
    c.step_epochs = 0;
    c.pct_start = 7.0f;
    CHECK(rn_schedule_check(&c) == NULL, "check_ignores_unused_fields", "got %s", rn_schedule_check(&c));
}

int main(void)
{
    test_constant();
    test_warmup();
    test_step();
    test_cosine();
    test_onecycle();
    test_tiny_runs();
    test_names_and_check();
    CHECK_DONE();
}
