/* test_optim.c - optimizers against hand-worked numbers and an independent
 * double-precision reference.
 *
 * The reference functions below restate PyTorch's torch.optim update rules
 * (SGD with dampening 0, Adam, AdamW) in double, in PyTorch's own order
 * (the SGD momentum buffer is a copy of the gradient on the first step, not
 * a zero-initialised sum), so they share no code with rn_optim.c.  The first
 * checks work one element out by hand in the comments.
 */
#include "check.h"
#include "rn_optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* |got - want| <= tol * max(1, |want|) for every element; prints the worst. */
static void check_close(const char *name, const float *got, const double *want,
                        long n, double tol)
{
    double worst = 0.0;
    long at = 0;
    for (long i = 0; i < n; i++) {
        double scale = fabs(want[i]) > 1.0 ? fabs(want[i]) : 1.0;
        double err = fabs((double)got[i] - want[i]) / scale;
        if (!(err <= worst)) { /* also catches NaN */
            worst = err;
            at = i;
        }
    }
    CHECK(worst <= tol, name, "element %ld: got %.9g want %.9g (rel err %.3g > %.3g)",
          at, (double)got[at], want[at], worst, tol);
}

static void check_scalar(const char *name, double got, double want, double tol)
{
    CHECK(fabs(got - want) <= tol * (fabs(want) > 1.0 ? fabs(want) : 1.0), name,
          "got %.9g want %.9g", got, want);
}

/* ---- reference: PyTorch's rules in double ------------------------------ */

typedef struct {
    double lr, momentum, wd;
    int nesterov, decoupled;
} RefSgd;

/* torch.optim.SGD._single_tensor_sgd, dampening 0, plus the decoupled
 * variant (p *= 1 - lr*wd before the step). */
static void ref_sgd(const RefSgd *c, double *p, const double *grad, double *buf,
                    int *have_buf, long n)
{
    for (long i = 0; i < n; i++) {
        double d = grad[i];
        if (c->decoupled)
            p[i] *= 1.0 - c->lr * c->wd;
        else if (c->wd != 0.0)
            d = d + c->wd * p[i];
        if (c->momentum != 0.0) {
            if (!*have_buf)
                buf[i] = d;
            else
                buf[i] = buf[i] * c->momentum + d;
            d = c->nesterov ? d + c->momentum * buf[i] : buf[i];
        }
        p[i] -= c->lr * d;
    }
    *have_buf = 1;
}

/* torch.optim.Adam / AdamW, single tensor, no amsgrad. */
static void ref_adam(int adamw, double lr, double b1, double b2, double eps, double wd,
                     long t, double *p, const double *grad, double *m, double *v, long n)
{
    double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    for (long i = 0; i < n; i++) {
        double g = grad[i];
        if (adamw)
            p[i] *= 1.0 - lr * wd;
        else
            g += wd * p[i];
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        double mhat = m[i] / bc1, vhat = v[i] / bc2;
        p[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
}

static void to_double(double *d, const float *f, long n)
{
    for (long i = 0; i < n; i++)
        d[i] = f[i];
}

/* A deterministic, irregular gradient for step t. */
static float grad_at(long i, long t)
{
    return (float)(sin(0.7 * (double)i + 1.3 * (double)t) * (1.0 + 0.1 * (double)(i % 5)));
}

/* ---- hand-worked SGD ----------------------------------------------------- */

static void test_sgd_nesterov_by_hand(void)
{
    /* lr 0.1, momentum 0.9, nesterov, L2 weight decay 0.1, two steps with
     * the same gradient.
     *
     * Element 0, p = 1, g = 0.5:
     *   step 1: g' = 0.5 + 0.1*1 = 0.6;  buf = 0.6
     *           d = g' + 0.9*buf = 0.6 + 0.54 = 1.14;  p = 1 - 0.1*1.14 = 0.886
     *   step 2: g' = 0.5 + 0.1*0.886 = 0.5886
     *           buf = 0.9*0.6 + 0.5886 = 1.1286
     *           d = 0.5886 + 0.9*1.1286 = 0.5886 + 1.01574 = 1.60434
     *           p = 0.886 - 0.160434 = 0.725566
     * Element 1, p = -2, g = 0 (decay alone moves it):
     *   step 1: g' = -0.2; buf = -0.2; d = -0.2 - 0.18 = -0.38; p = -2 + 0.038 = -1.962
     *   step 2: g' = -0.1962; buf = -0.18 - 0.1962 = -0.3762
     *           d = -0.1962 - 0.33858 = -0.53478;  p = -1.962 + 0.053478 = -1.908522
     * Element 2, p = 0.25, g = -1:
     *   step 1: g' = -1 + 0.025 = -0.975; buf = -0.975
     *           d = -0.975 - 0.8775 = -1.8525;  p = 0.25 + 0.18525 = 0.43525
     *   step 2: g' = -1 + 0.043525 = -0.956475
     *           buf = -0.8775 - 0.956475 = -1.833975
     *           d = -0.956475 - 1.6505775 = -2.6070525;  p = 0.43525 + 0.26070525 = 0.69595525
     */
    RnOptim o = rn_optim_defaults(RN_OPT_SGD);
    o.momentum = 0.9f;
    o.nesterov = 1;
    o.weight_decay = 0.1f;
    o.decoupled_wd = 0;
    float p[3] = { 1.0f, -2.0f, 0.25f };
    const float g[3] = { 0.5f, 0.0f, -1.0f };
    float m[3] = { 0 };
    rn_optim_step(&o, 0.1f, 1, p, g, m, NULL, 3, 1);
    const double want1[3] = { 0.886, -1.962, 0.43525 };
    check_close("sgd_nesterov_l2_hand_step1", p, want1, 3, 1e-6);
    const double buf1[3] = { 0.6, -0.2, -0.975 };
    check_close("sgd_nesterov_l2_hand_buf1", m, buf1, 3, 1e-6);
    rn_optim_step(&o, 0.1f, 2, p, g, m, NULL, 3, 1);
    const double want2[3] = { 0.725566, -1.908522, 0.69595525 };
    check_close("sgd_nesterov_l2_hand_step2", p, want2, 3, 1e-6);
    const double buf2[3] = { 1.1286, -0.3762, -1.833975 };
    check_close("sgd_nesterov_l2_hand_buf2", m, buf2, 3, 1e-6);

    /* The same two steps through the double reference (with its
     * first-step buffer copy) must agree too. */
    RefSgd c = { 0.1, 0.9, 0.1, 1, 0 };
    double rp[3] = { 1.0, -2.0, 0.25 }, rg[3] = { 0.5, 0.0, -1.0 }, rb[3];
    int have = 0;
    ref_sgd(&c, rp, rg, rb, &have, 3);
    ref_sgd(&c, rp, rg, rb, &have, 3);
    check_close("sgd_nesterov_l2_hand_vs_ref", p, rp, 3, 1e-6);
}

static void test_sgd_momentum_by_hand(void)
{
    /* Plain (heavy-ball) momentum 0.5, lr 1, no decay, g = 1 then g = 2:
     *   step 1: buf = 1;            p = 0 - 1 = -1
     *   step 2: buf = 0.5*1 + 2 = 2.5;  p = -1 - 2.5 = -3.5 */
    RnOptim o = rn_optim_defaults(RN_OPT_SGD);
    o.momentum = 0.5f;
    o.weight_decay = 0.0f;
    float p[1] = { 0.0f }, m[1] = { 0.0f };
    float g[1] = { 1.0f };
    rn_optim_step(&o, 1.0f, 1, p, g, m, NULL, 1, 1);
    g[0] = 2.0f;
    rn_optim_step(&o, 1.0f, 2, p, g, m, NULL, 1, 1);
    check_scalar("sgd_momentum_hand_p", p[0], -3.5, 0.0);
    check_scalar("sgd_momentum_hand_buf", m[0], 2.5, 0.0);
}

static void test_sgd_plain_no_state(void)
{
    /* momentum 0 needs no state buffer: p -= lr*(g + wd*p).
     * p = 2, g = 1, lr 0.5, wd 0.25: p = 2 - 0.5*(1 + 0.5) = 1.25 */
    RnOptim o = rn_optim_defaults(RN_OPT_SGD);
    o.momentum = 0.0f;
    o.weight_decay = 0.25f;
    CHECK(rn_optim_state_count(&o) == 0, "sgd_plain_state_count", "got %d", rn_optim_state_count(&o));
    float p[1] = { 2.0f };
    const float g[1] = { 1.0f };
    rn_optim_step(&o, 0.5f, 1, p, g, NULL, NULL, 1, 1);
    check_scalar("sgd_plain_hand", p[0], 1.25, 0.0);
}

static void test_sgd_decoupled_by_hand(void)
{
    /* Decoupled decay: p *= 1 - lr*wd, then the momentum step on the raw g.
     * lr 0.1, wd 0.5, momentum 0.9, p = 4, g = 1:
     *   p = 4 * (1 - 0.05) = 3.8;  buf = 1;  p = 3.8 - 0.1 = 3.7
     * The L2 form would give g' = 1 + 2 = 3, p = 4 - 0.3 = 3.7 as well on
     * step 1 (the two agree without momentum history), so take a second
     * step with g = 1 where they part:
     *   decoupled: p = 3.7*0.95 = 3.515; buf = 0.9 + 1 = 1.9; p = 3.515 - 0.19 = 3.325
     *   L2:        g' = 1 + 1.85 = 2.85; buf = 2.7 + 2.85 = 5.55; p = 3.7 - 0.555 = 3.145 */
    RnOptim o = rn_optim_defaults(RN_OPT_SGD);
    o.momentum = 0.9f;
    o.weight_decay = 0.5f;
    float g[1] = { 1.0f };

    o.decoupled_wd = 1;
    float p[1] = { 4.0f }, m[1] = { 0.0f };
    rn_optim_step(&o, 0.1f, 1, p, g, m, NULL, 1, 1);
    check_scalar("sgd_decoupled_hand_step1", p[0], 3.7, 1e-6);
    rn_optim_step(&o, 0.1f, 2, p, g, m, NULL, 1, 1);
    check_scalar("sgd_decoupled_hand_step2", p[0], 3.325, 1e-6);

    o.decoupled_wd = 0;
    float q[1] = { 4.0f }, mq[1] = { 0.0f };
    rn_optim_step(&o, 0.1f, 1, q, g, mq, NULL, 1, 1);
    rn_optim_step(&o, 0.1f, 2, q, g, mq, NULL, 1, 1);
    check_scalar("sgd_l2_hand_step2", q[0], 3.145, 1e-6);
}

/* ---- many elements, many steps, against the reference ------------------- */

enum { N = 1003 }; /* not a multiple of any vector width: the epilogue runs too */

static void run_sgd_vs_ref(const char *name, float momentum, int nesterov, float wd, int decoupled)
{
    RnOptim o = rn_optim_defaults(RN_OPT_SGD);
    o.momentum = momentum;
    o.nesterov = nesterov;
    o.weight_decay = wd;
    o.decoupled_wd = decoupled;
    static float p[N], m[N], g[N];
    static double rp[N], rg[N], rb[N];
    for (long i = 0; i < N; i++) {
        p[i] = (float)cos(0.37 * (double)i);
        m[i] = 0.0f;
    }
    to_double(rp, p, N);
    RefSgd c = { 0, momentum, wd, nesterov, decoupled };
    int have = 0;
    for (long t = 1; t <= 10; t++) {
        float lr = 0.05f * (float)t; /* changes per step, as a schedule would */
        for (long i = 0; i < N; i++)
            g[i] = grad_at(i, t);
        to_double(rg, g, N);
        c.lr = lr;
        rn_optim_step(&o, lr, t, p, g, momentum != 0.0f ? m : NULL, NULL, N, 1);
        ref_sgd(&c, rp, rg, rb, &have, N);
    }
    check_close(name, p, rp, N, 2e-5);
}

static void run_adam_vs_ref(const char *name, RnOptKind kind, float b1, float b2, float wd)
{
    RnOptim o = rn_optim_defaults(kind);
    o.beta1 = b1;
    o.beta2 = b2;
    o.weight_decay = wd;
    static float p[N], m[N], v[N], g[N];
    static double rp[N], rm[N], rv[N], rg[N];
    for (long i = 0; i < N; i++) {
        p[i] = (float)cos(0.37 * (double)i);
        m[i] = v[i] = 0.0f;
        rm[i] = rv[i] = 0.0;
    }
    to_double(rp, p, N);
    for (long t = 1; t <= 20; t++) {
        float lr = 1e-2f;
        for (long i = 0; i < N; i++)
            g[i] = grad_at(i, t);
        to_double(rg, g, N);
        rn_optim_step(&o, lr, t, p, g, m, v, N, 1);
        ref_adam(kind == RN_OPT_ADAMW, lr, b1, b2, o.eps, wd, t, rp, rg, rm, rv, N);
    }
    check_close(name, p, rp, N, 2e-5);
    char buf[96];
    snprintf(buf, sizeof buf, "%s_first_moment", name);
    check_close(buf, m, rm, N, 2e-5);
    snprintf(buf, sizeof buf, "%s_second_moment", name);
    check_close(buf, v, rv, N, 2e-5);
}

/* ---- Adam specifics ------------------------------------------------------ */

static void test_adam_bias_correction(void)
{
    /* Step 1: m = (1-b1) g, v = (1-b2) g^2, so the corrected moments are
     * m/(1-b1) = g and v/(1-b2) = g^2, and the update is lr * g/(|g| + eps):
     * a step of lr against the sign of g, whatever the size of g.
     * Without the correction it would be lr*0.1*g/(0.0316*|g|) = 3.16 lr. */
    RnOptim o = rn_optim_defaults(RN_OPT_ADAM);
    float p[4] = { 1.0f, 1.0f, 1.0f, 1.0f };
    const float g[4] = { 1e-3f, -2.0f, 50.0f, -0.3f };
    float m[4] = { 0 }, v[4] = { 0 };
    rn_optim_step(&o, 0.01f, 1, p, g, m, v, 4, 1);
    double want[4];
    for (int i = 0; i < 4; i++) {
        double gi = g[i];
        want[i] = 1.0 - 0.01 * gi / (fabs(gi) + 1e-8); /* 1 -/+ 0.01 */
    }
    check_close("adam_step1_is_lr_times_sign", p, want, 4, 1e-6);

    /* Step 2 with the same g for element 1 (g = -2), b1 0.9, b2 0.999:
     *   m = 0.9*(-0.2) + 0.1*(-2) = -0.38,   mhat = -0.38/(1 - 0.81)   = -2
     *   v = 0.999*0.004 + 0.001*4 = 0.007996, vhat = 0.007996/(1-0.998001) = 4
     * so again p += 0.01 * 2/(2 + 1e-8): p = 1.01 + 0.01 = 1.02 (to 1e-8). */
    rn_optim_step(&o, 0.01f, 2, p, g, m, v, 4, 1);
    check_scalar("adam_step2_first_moment", m[1], -0.38, 1e-6);
    check_scalar("adam_step2_second_moment", v[1], 0.007996, 1e-6);
    check_scalar("adam_step2_hand", p[1], 1.02, 1e-6);

    /* t is what drives the correction: from the same state, step 3 and
     * step 50 must use 1-b1^t and 1-b2^t of their own t.  Element 1 again:
     *   m = 0.9*(-0.38) + 0.1*(-2) = -0.542
     *   v = 0.999*0.007996 + 0.001*4 = 0.011988004
     *   t = 3:  mhat = -0.542/0.271 = -2, vhat = 0.011988004/0.002997001 = 4,
     *           so p = 1 + 0.01*2/2 = 1.01
     *   t = 50: mhat = -0.542/(1-0.9^50), vhat = 0.011988004/(1-0.999^50),
     *           a step of 0.01*0.5447/0.4955 = 0.01099 (computed below) */
    const float g1[1] = { -2.0f };
    float p3[1] = { 1.0f }, m3[1] = { m[1] }, v3[1] = { v[1] };
    float p50[1] = { 1.0f }, m50[1] = { m[1] }, v50[1] = { v[1] };
    rn_optim_step(&o, 0.01f, 3, p3, g1, m3, v3, 1, 1);
    rn_optim_step(&o, 0.01f, 50, p50, g1, m50, v50, 1, 1);
    check_scalar("adam_step3_hand", p3[0], 1.01, 1e-6);
    double m_ = -0.542, v_ = 0.011988004;
    double want50 = 1.0 - 0.01 * (m_ / (1.0 - pow(0.9, 50))) / (sqrt(v_ / (1.0 - pow(0.999, 50))) + 1e-8);
    check_scalar("adam_step50_uses_t", p50[0], want50, 1e-6);
}

static void test_adamw_vs_adam(void)
{
    /* AdamW = decoupled decay p *= (1 - lr*wd), then the Adam step on the
     * raw gradient.  So stepping AdamW(wd) and Adam(wd = 0) from the same
     * state: the moments are identical, and the parameters differ by
     * exactly -lr*wd*p0 (up to float rounding).  Adam with L2 decay instead
     * feeds wd*p into the moments. */
    const float lr = 0.01f, wd = 0.1f;
    static float p0[N], g[N], pw[N], mw[N], vw[N], pa[N], ma[N], va[N], pl[N], ml[N], vl[N];
    for (long i = 0; i < N; i++) {
        p0[i] = (float)(2.0 * cos(0.37 * (double)i));
        g[i] = grad_at(i, 1);
        mw[i] = ma[i] = ml[i] = 0.1f * g[i];
        vw[i] = va[i] = vl[i] = 0.01f * g[i] * g[i] + 1e-4f;
    }
    memcpy(pw, p0, sizeof pw);
    memcpy(pa, p0, sizeof pa);
    memcpy(pl, p0, sizeof pl);

    RnOptim adamw = rn_optim_defaults(RN_OPT_ADAMW);
    adamw.weight_decay = wd;
    RnOptim adam0 = rn_optim_defaults(RN_OPT_ADAM);
    adam0.weight_decay = 0.0f;
    RnOptim adaml2 = rn_optim_defaults(RN_OPT_ADAM);
    adaml2.weight_decay = wd;
    rn_optim_step(&adamw, lr, 3, pw, g, mw, vw, N, 1);
    rn_optim_step(&adam0, lr, 3, pa, g, ma, va, N, 1);
    rn_optim_step(&adaml2, lr, 3, pl, g, ml, vl, N, 1);

    CHECK(memcmp(mw, ma, sizeof mw) == 0 && memcmp(vw, va, sizeof vw) == 0,
          "adamw_moments_ignore_decay", "AdamW's m/v differ from Adam(wd=0)'s");
    /* pw - pa is ~2e-3 and each side carries ~1 ulp of a value ~2, so
     * compare the difference scaled by 1e3 at a tolerance of 1e-3. */
    static float got[N];
    static double want[N];
    for (long i = 0; i < N; i++) {
        got[i] = (float)(((double)pw[i] - (double)pa[i]) * 1e3);
        want[i] = -(double)lr * (double)wd * (double)p0[i] * 1e3;
    }
    check_close("adamw_minus_adam_is_decoupled_decay", got, want, N, 1e-3);

    int moments_differ = 0;
    for (long i = 0; i < N; i++)
        moments_differ |= ml[i] != ma[i];
    CHECK(moments_differ, "adam_l2_decay_enters_moments", "Adam(wd) m equals Adam(0) m");
}

/* ---- weight-decay exclusion ---------------------------------------------- */

static void test_no_decay_flag(void)
{
    RnOptim o = rn_optim_defaults(RN_OPT_SGD);
    o.no_decay_bn_bias = 0;
    CHECK(rn_optim_decays(&o, 0) == 1 && rn_optim_decays(&o, 1) == 1,
          "decays_all_when_flag_off", "got %d %d", rn_optim_decays(&o, 0), rn_optim_decays(&o, 1));
    o.no_decay_bn_bias = 1;
    CHECK(rn_optim_decays(&o, 0) == 1 && rn_optim_decays(&o, 1) == 0,
          "decays_weights_only_when_flag_on", "got %d %d", rn_optim_decays(&o, 0), rn_optim_decays(&o, 1));

    /* decay_this_tensor = 0 must give bit-for-bit the wd = 0 result, for
     * every kind and decay form, and decay_this_tensor = 1 must not. */
    static const struct { RnOptKind kind; int decoupled; const char *name; } cases[] = {
        { RN_OPT_SGD, 0, "no_decay_sgd_l2" },
        { RN_OPT_SGD, 1, "no_decay_sgd_decoupled" },
        { RN_OPT_ADAM, 0, "no_decay_adam" },
        { RN_OPT_ADAMW, 0, "no_decay_adamw" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        RnOptim with = rn_optim_defaults(cases[c].kind);
        with.weight_decay = 0.05f;
        with.decoupled_wd = cases[c].decoupled;
        RnOptim none = with;
        none.weight_decay = 0.0f;
        float p[3][5], m[3][5] = { { 0 } }, v[3][5] = { { 0 } }, g[5];
        for (int i = 0; i < 5; i++) {
            g[i] = grad_at(i, 7);
            p[0][i] = p[1][i] = p[2][i] = 1.0f + 0.5f * (float)i;
        }
        for (long t = 1; t <= 3; t++) {
            rn_optim_step(&with, 0.1f, t, p[0], g, m[0], v[0], 5, 0);
            rn_optim_step(&none, 0.1f, t, p[1], g, m[1], v[1], 5, 1);
            rn_optim_step(&with, 0.1f, t, p[2], g, m[2], v[2], 5, 1);
        }
        CHECK(memcmp(p[0], p[1], sizeof p[0]) == 0 && memcmp(p[0], p[2], sizeof p[0]) != 0,
              cases[c].name, "excluded tensor: p[0]=%.9g, wd=0: %.9g, decayed: %.9g",
              (double)p[0][0], (double)p[1][0], (double)p[2][0]);
    }
}

/* ---- config, names, state ------------------------------------------------ */

static void test_names(void)
{
    static const struct { const char *name; RnOptKind kind; } rows[] = {
        { "sgd", RN_OPT_SGD }, { "adam", RN_OPT_ADAM }, { "adamw", RN_OPT_ADAMW },
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        RnOptKind k = (RnOptKind)-1;
        ok &= rn_optim_kind_parse(rows[i].name, &k) == 0 && k == rows[i].kind;
        ok &= strcmp(rn_optim_kind_name(rows[i].kind), rows[i].name) == 0;
    }
    CHECK(ok, "optim_names_round_trip", "a name did not parse to its kind or back");
    CHECK(RN_OPT_COUNT == 3, "optim_count", "RN_OPT_COUNT = %d", (int)RN_OPT_COUNT);

    RnOptKind k = RN_OPT_ADAMW;
    int rc1 = rn_optim_kind_parse("Adam", &k);
    int rc2 = rn_optim_kind_parse("adam ", &k);
    int rc3 = rn_optim_kind_parse("", &k);
    int rc4 = rn_optim_kind_parse("adamax", &k);
    CHECK(rc1 < 0 && rc2 < 0 && rc3 < 0 && rc4 < 0 && k == RN_OPT_ADAMW, "optim_unknown_names_rejected",
          "rc %d %d %d %d, kind %d", rc1, rc2, rc3, rc4, (int)k);
    CHECK(strcmp(rn_optim_kind_list(), "sgd, adam, adamw") == 0, "optim_kind_list",
          "got \"%s\"", rn_optim_kind_list());
    CHECK(strcmp(rn_optim_kind_name((RnOptKind)99), "?") == 0, "optim_bad_kind_name",
          "got \"%s\"", rn_optim_kind_name((RnOptKind)99));
}

static void test_defaults_and_check(void)
{
    RnOptim s = rn_optim_defaults(RN_OPT_SGD);
    RnOptim a = rn_optim_defaults(RN_OPT_ADAM);
    RnOptim w = rn_optim_defaults(RN_OPT_ADAMW);
    CHECK(s.kind == RN_OPT_SGD && s.momentum == 0.9f && s.weight_decay == 1e-4f && !s.nesterov &&
          !s.decoupled_wd, "sgd_defaults", "momentum %g wd %g", (double)s.momentum, (double)s.weight_decay);
    CHECK(a.kind == RN_OPT_ADAM && a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-8f &&
          a.weight_decay == 0.0f, "adam_defaults", "b1 %g b2 %g eps %g wd %g",
          (double)a.beta1, (double)a.beta2, (double)a.eps, (double)a.weight_decay);
    CHECK(w.kind == RN_OPT_ADAMW && w.weight_decay == 1e-2f, "adamw_defaults", "wd %g",
          (double)w.weight_decay);
    CHECK(!rn_optim_check(&s) && !rn_optim_check(&a) && !rn_optim_check(&w), "defaults_pass_check",
          "%s / %s / %s", rn_optim_check(&s) ? rn_optim_check(&s) : "ok",
          rn_optim_check(&a) ? rn_optim_check(&a) : "ok", rn_optim_check(&w) ? rn_optim_check(&w) : "ok");

    RnOptim bad = s;
    bad.momentum = 0.0f;
    bad.nesterov = 1;
    const char *why = rn_optim_check(&bad);
    CHECK(why && strstr(why, "nesterov"), "check_nesterov_without_momentum", "got %s", why ? why : "NULL");
    bad = s;
    bad.weight_decay = -1.0f;
    why = rn_optim_check(&bad);
    CHECK(why && strstr(why, "weight decay"), "check_negative_wd", "got %s", why ? why : "NULL");
    bad = a;
    bad.beta2 = 1.0f;
    why = rn_optim_check(&bad);
    CHECK(why && strstr(why, "beta2"), "check_beta2_one", "got %s", why ? why : "NULL");
    bad = a;
    bad.eps = NAN;
    why = rn_optim_check(&bad);
    CHECK(why && strstr(why, "eps"), "check_eps_nan", "got %s", why ? why : "NULL");

    CHECK(rn_optim_state_count(&s) == 1 && rn_optim_state_count(&a) == 2 &&
          rn_optim_state_count(&w) == 2, "state_counts", "%d %d %d",
          rn_optim_state_count(&s), rn_optim_state_count(&a), rn_optim_state_count(&w));
}

/* ---- each optimizer actually minimises something ------------------------- */

static void test_converges(void)
{
    /* f(p) = 0.5 * sum (p_i - c_i)^2, grad = p - c; 300 steps from 0. */
    static const struct { RnOptKind kind; int nesterov; float lr; const char *name; } rows[] = {
        { RN_OPT_SGD, 0, 0.1f, "sgd_converges" },
        { RN_OPT_SGD, 1, 0.1f, "sgd_nesterov_converges" },
        { RN_OPT_ADAM, 0, 0.05f, "adam_converges" },
        { RN_OPT_ADAMW, 0, 0.05f, "adamw_converges" },
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        RnOptim o = rn_optim_defaults(rows[r].kind);
        o.weight_decay = 0.0f;
        o.nesterov = rows[r].nesterov;
        float p[7] = { 0 }, g[7], m[7] = { 0 }, v[7] = { 0 }, c[7];
        for (int i = 0; i < 7; i++)
            c[i] = (float)i - 3.0f;
        for (long t = 1; t <= 300; t++) {
            float lr = rows[r].lr * (t > 200 ? 0.1f : 1.0f);
            for (int i = 0; i < 7; i++)
                g[i] = p[i] - c[i];
            rn_optim_step(&o, lr, t, p, g, m, v, 7, 1);
        }
        double worst = 0.0;
        for (int i = 0; i < 7; i++)
            worst = fmax(worst, fabs((double)p[i] - c[i]));
        CHECK(worst < 1e-2, rows[r].name, "max |p - c| = %.3g after 300 steps", worst);
    }
}

/* a tensor large enough to be split across threads updates exactly as the
 * same values one element at a time */
static void test_large_tensor_split(void)
{
    enum { n = 200003 };
    static float p1[n], p2[n], g[n], m1[n], m2[n], v1[n], v2[n];
    const RnOptKind kinds[] = { RN_OPT_SGD, RN_OPT_ADAMW };
    for (int k = 0; k < 2; k++) {
        RnOptim o = rn_optim_defaults(kinds[k]);
        o.nesterov = kinds[k] == RN_OPT_SGD;
        o.weight_decay = 1e-3f;
        for (long i = 0; i < n; i++) {
            p1[i] = p2[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
            g[i] = (float)((i * 104729) % 997) / 997.0f - 0.5f;
            m1[i] = m2[i] = v1[i] = v2[i] = 0.0f;
        }
        for (long t = 1; t <= 3; t++) {
            rn_optim_step(&o, 0.05f, t, p1, g, m1, v1, n, 1);
            for (long i = 0; i < n; i++)
                rn_optim_step(&o, 0.05f, t, p2 + i, g + i, m2 + i, v2 + i, 1, 1);
        }
        long bad = 0;
        for (long i = 0; i < n; i++)
            bad += p1[i] != p2[i] || m1[i] != m2[i] || v1[i] != v2[i];
        CHECK(bad == 0, kinds[k] == RN_OPT_SGD ? "large tensor split: sgd" : "large tensor split: adamw",
              "%ld of %d elements differ", bad, (int)n);
    }
}

int main(void)
{
    test_large_tensor_split();
    test_sgd_nesterov_by_hand();
    test_sgd_momentum_by_hand();
    test_sgd_plain_no_state();
    test_sgd_decoupled_by_hand();

    run_sgd_vs_ref("sgd_plain_vs_ref", 0.0f, 0, 0.0f, 0);
    run_sgd_vs_ref("sgd_plain_l2_vs_ref", 0.0f, 0, 1e-2f, 0);
    run_sgd_vs_ref("sgd_momentum_l2_vs_ref", 0.9f, 0, 5e-4f, 0);
    run_sgd_vs_ref("sgd_nesterov_l2_vs_ref", 0.9f, 1, 5e-4f, 0);
    run_sgd_vs_ref("sgd_nesterov_decoupled_vs_ref", 0.9f, 1, 5e-2f, 1);
    run_adam_vs_ref("adam_vs_ref", RN_OPT_ADAM, 0.9f, 0.999f, 0.0f);
    run_adam_vs_ref("adam_l2_vs_ref", RN_OPT_ADAM, 0.9f, 0.999f, 1e-2f);
    run_adam_vs_ref("adamw_vs_ref", RN_OPT_ADAMW, 0.9f, 0.999f, 1e-2f);
    run_adam_vs_ref("adam_low_beta1_vs_ref", RN_OPT_ADAM, 0.3f, 0.99f, 0.0f);

    test_adam_bias_correction();
    test_adamw_vs_adam();
    test_no_decay_flag();
    test_names();
    test_defaults_and_check();
    test_converges();
    CHECK_DONE();
}
