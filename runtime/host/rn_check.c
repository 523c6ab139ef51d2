/* rn_check.c - `check`: the generated code against the reference
 * interpreter, on the same random weights and inputs.
 *
 * Both sides start from identical parameters: rn_init_params, then batch
 * norm's weight, bias and running statistics and any conv bias perturbed
 * away from their trivial initial values (1, 0, 0, 1), so a kernel that
 * ignored one of them would be caught.  Then, in order:
 *
 *   logits (train)        forward(train = 1) on a random batch
 *   running statistics    the buffers it updated (and, after the inference
 *                         pass, that inference left them alone)
 *   gradients             backward with random dlogits into zeroed grads;
 *                         where a ReLU input lies within float rounding of
 *                         zero, the two sides may take different sides of
 *                         the kink, so a mismatch that reversing such
 *                         units' masks removes is reported, not failed
 *   gradients (accum.)    a second forward + backward without zeroing: the
 *                         contract says backward ACCUMULATES
 *   logits (inference)    forward(train = 0)
 *   update sgd/adam/adamw two steps from identical parameters and
 *                         gradients, compared as parameter changes; the
 *                         gradient slots of buffers hold NaN, so an update
 *                         that touches a buffer is caught
 *
 * Each tensor's error is max|a - b| / max(max|b|, 1e-3) with b the
 * interpreter's: relative to the tensor's scale, not element by element,
 * so values near zero do not make noise.  Each class reports its worst
 * tensor; any above --tol fails the check.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn_dropout.h"
#include "rn_driver.h"
#include "rn_interp.h"
#include "rn_rng.h"

double rn_rel_err(const float *a, const float *b, long n)
{
    double diff = 0, scale = 1e-3;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d) || isinf(d))
            return INFINITY;
        if (d > diff)
            diff = d;
        if (fabs((double)b[i]) > scale)
            scale = fabs((double)b[i]);
    }
    return diff / scale;
}

typedef struct {
    const char *what;
    double worst;
    const char *worst_name;
    int count;
} Class;

typedef struct {
    double tol;
    int verbose;
    int failed;
} Report;

static void note(Report *r, Class *c, const char *name, double err)
{
    c->count++;
    if (err > c->worst || isnan(err)) {
        c->worst = err;
        c->worst_name = name;
    }
    if (r->verbose)
        printf("    %-22s %-40s %.3g%s\n", c->what, name, err, err > r->tol ? "  FAIL" : "");
}

static void finish(Report *r, const Class *c)
{
    int bad = !(c->worst <= r->tol);
    r->failed |= bad;
    printf("  %-24s max rel err %9.3g  %-36s %s\n", c->what, c->worst,
           c->worst_name ? c->worst_name : "-", bad ? "FAIL" : "ok");
}

/* compare the running statistics of two parameter blocks */
static void cmp_buffers(const RnModel *m, Report *r, Class *c, const float *a, const float *b)
{
    for (int p = 0; p < m->nparams; p++) {
        const RnParamInfo *pi = &m->params[p];
        if (pi->is_buffer)
            note(r, c, pi->name, rn_rel_err(a + pi->offset, b + pi->offset, pi->numel));
    }
}

static void cmp_grads(const RnModel *m, Report *r, Class *c, const float *a, const float *b)
{
    for (int p = 0; p < m->nparams; p++) {
        const RnParamInfo *pi = &m->params[p];
        if (!pi->is_buffer)
            note(r, c, pi->name, rn_rel_err(a + pi->offset, b + pi->offset, pi->numel));
    }
}

/* the largest error over the trainable tensors' gradients */
static double worst_grad(const RnModel *m, const float *a, const float *b)
{
    double w = 0;
    for (int p = 0; p < m->nparams; p++) {
        const RnParamInfo *pi = &m->params[p];
        if (!pi->is_buffer) {
            double e = rn_rel_err(a + pi->offset, b + pi->offset, pi->numel);
            if (!(e <= w))
                w = e;
        }
    }
    return w;
}

/* The gradients differ by more than tol.  If some ReLU inputs sit within
 * float rounding of zero (a relative margin below `margin`), the generated
 * code may have taken the other side of the kink there: try reversing the
 * interpreter's mask at those units, greedily, one unit at a time, keeping
 * a reversal only when it lowers the error.  If that brings the error
 * within tol, keep the reversals (the caller reports them) and return how
 * many; otherwise undo them and return 0.  ref->grads is left holding the
 * interpreter's gradients for the mask in force. */
static int explain_by_kinks(const RnModel *m, RnInterp *st, const RnExec *gen, RnExec *ref,
                            const float *dl, int N, double tol, double margin,
                            RnInterpKink *chosen)
{
    enum { NCAND = RN_INTERP_MAX_FLIPS };
    RnInterpKink cand[NCAND];
    int nc = rn_interp_kinks(m, st, cand, NCAND), used[NCAND] = { 0 }, nchosen = 0;
    size_t bytes = sizeof(float) * (size_t)m->param_floats;
    while (nc > 0 && !(cand[nc - 1].margin < margin))
        nc--;
    double best = worst_grad(m, gen->grads, ref->grads);
    for (int round = 0; round < 4 && best > tol; round++) {
        int pick = -1;
        for (int c = 0; c < nc; c++) {
            if (used[c])
                continue;
            chosen[nchosen] = cand[c];
            rn_interp_set_flips(st, chosen, nchosen + 1);
            memset(ref->grads, 0, bytes);
            rn_interp_backward(m, st, ref, dl, N);
            double w = worst_grad(m, gen->grads, ref->grads);
            if (w < best)
                best = w, pick = c;
            if (best <= tol)
                break; /* the candidates come nearest first: usually the first */
        }
        if (pick < 0)
            break;
        chosen[nchosen++] = cand[pick];
        used[pick] = 1;
    }
    if (!(best <= tol))
        nchosen = 0;
    rn_interp_set_flips(st, chosen, nchosen);
    memset(ref->grads, 0, bytes);
    rn_interp_backward(m, st, ref, dl, N);
    return nchosen;
}

/* the non-trivial starting point both sides share */
static void random_params(const RnModel *m, float *p, RnRng *rng)
{
    rn_init_params(m, p, rng);
    for (int k = 0; k < m->nparams; k++) {
        const RnParamInfo *pi = &m->params[k];
        float *t = p + pi->offset;
        for (long i = 0; i < pi->numel; i++)
            switch (pi->kind) {
            case RN_P_BN_W:
                t[i] = 0.75f + 0.5f * rn_rng_float(rng);
                break;
            case RN_P_BN_B:
                t[i] = 0.2f * (rn_rng_float(rng) - 0.5f);
                break;
            case RN_P_BN_MEAN:
                t[i] = 0.1f * rn_rng_normal(rng);
                break;
            case RN_P_BN_VAR:
                t[i] = 0.5f + rn_rng_float(rng);
                break;
            case RN_P_CONV_B:
                t[i] = 0.1f * rn_rng_normal(rng);
                break;
            case RN_P_CONV_W:
            case RN_P_FC_W:
            case RN_P_FC_B:
                break;
            }
    }
}

/* How far the reference's own gradients move under a perturbation of the
 * input that moves its logits no more than the two sides already differ
 * (logit_gap).  When that is of the order of the disagreement, comparing
 * gradients at 1e-4 says nothing about the kernels: some discrete choice (a
 * ReLU or max-pool input within rounding) flips either way.  Tries relative
 * perturbations 1e-7, 1e-6, 1e-5 and keeps the largest that qualifies; 0
 * when none does.  Runs the reference into `scratch` and restores its
 * parameters (running statistics), logits and kink flips.  The check still
 * fails: this only says why. */
static double reference_conditioning(const RnModel *m, RnInterp *st, RnExec *ref, const float *x,
                                     const float *dl, int N, long img, double logit_gap,
                                     float *saved_params, float *scratch,
                                     const RnInterpKink *flips, int nflips, double *used)
{
    long n = (long)N * img, P = m->param_floats, C = m->classes;
    float *xp = malloc(sizeof(float) * (size_t)n);
    float *l0 = malloc(sizeof(float) * (size_t)(N * C));
    double best = 0;
    *used = 0;
    if (!xp || !l0) {
        free(xp), free(l0);
        return 0;
    }
    memcpy(l0, ref->logits, sizeof(float) * (size_t)(N * C));
    memcpy(saved_params, ref->params, sizeof(float) * (size_t)P);
    rn_interp_set_flips(st, NULL, 0);
    for (double eps = 1e-7; eps < 2e-5; eps *= 10) {
        RnRng rng;
        rn_rng_seed(&rng, 0x5eed);
        for (long i = 0; i < n; i++)
            xp[i] = x[i] * (1.0f + (float)eps * (2.0f * rn_rng_float(&rng) - 1.0f));
        RnExec alt = *ref;
        alt.grads = scratch;
        memset(scratch, 0, sizeof(float) * (size_t)P);
        rn_interp_forward(m, st, &alt, xp, N, 1);
        memcpy(ref->params, saved_params, sizeof(float) * (size_t)P);
        if (rn_rel_err(alt.logits, l0, N * C) > logit_gap)
            break;
        rn_interp_backward(m, st, &alt, dl, N);
        best = worst_grad(m, scratch, ref->grads);
        *used = eps;
    }
    memcpy(ref->logits, l0, sizeof(float) * (size_t)(N * C));
    rn_interp_set_flips(st, flips, nflips);
    free(xp), free(l0);
    return best;
}

int rn_check_run(const RnModel *m, const RnCheckArgs *a)
{
    if (a->batch < 1) {
        rn_errorf("check: --batch must be at least 1");
        return 2;
    }
    if (!(a->kink_margin >= 0 && a->kink_margin < 1)) {
        rn_errorf("check: --kink-margin must be in [0, 1)");
        return 2;
    }
    if (!(a->tol > 0)) {
        rn_errorf("check: --tol must be a number > 0");
        return 2;
    }
    char err[512];
    if (!rn_batch_fits(m, a->batch, "--batch"))
        return 1;
    RnInterp *st = rn_interp_new(m, a->batch, err, sizeof err);
    if (!st) {
        rn_errorf("check: %s", err);
        return 1;
    }
    int N = a->batch, C = m->classes, rc = 1;
    long P = m->param_floats, img = (long)m->in_c * m->in_h * m->in_w;
    RnModel mref = *m;
    mref.work_fixed = mref.work_per_image = 0;
    RnExec gen = { 0 }, ref = { 0 };
    float *p0 = malloc(sizeof(float) * (size_t)(P + 1));
    float *g0 = malloc(sizeof(float) * (size_t)(P + 1));
    float *saved = malloc(sizeof(float) * (size_t)(P + 1));
    float *x = malloc(sizeof(float) * (size_t)N * (size_t)img);
    float *dl = malloc(sizeof(float) * (size_t)N * (size_t)C);
    float *mg = calloc((size_t)P + 1, sizeof(float)), *vg = calloc((size_t)P + 1, sizeof(float));
    float *mr = calloc((size_t)P + 1, sizeof(float)), *vr = calloc((size_t)P + 1, sizeof(float));
    float *dg = malloc(sizeof(float) * (size_t)(P + 1)), *dr = malloc(sizeof(float) * (size_t)(P + 1));
    if (rn_exec_alloc(m, N, &gen) || rn_exec_alloc(&mref, N, &ref) || !p0 || !g0 || !saved ||
        !x || !dl || !mg || !vg || !mr || !vr || !dg || !dr) {
        rn_errorf("check: out of memory for batch %d of model '%s'", N, m->name);
        goto out;
    }

    RnRng rng;
    rn_rng_seed(&rng, (uint64_t)a->seed);
    random_params(m, p0, &rng);
    for (long i = 0; i < (long)N * img; i++)
        x[i] = rn_rng_normal(&rng);
    for (long i = 0; i < (long)N * C; i++)
        dl[i] = rn_rng_normal(&rng) / (float)N;
    memcpy(gen.params, p0, sizeof(float) * (size_t)P);
    rn_exec_params_changed(&gen);
    memcpy(ref.params, p0, sizeof(float) * (size_t)P);
    gen.key = ref.key = rn_dropout_step_key((uint64_t)a->seed, 1); /* the same dropout masks */

    printf("check %s: %s backend against the reference interpreter, batch %d, seed %ld, "
           "tol %g\n", m->name, m->backend ? m->backend : "?", N, a->seed, a->tol);
    Report r = { a->tol, a->verbose, 0 };

    /* forward, train mode */
    Class lt = { "logits (train)", 0, NULL, 0 };
    m->forward(&gen, x, N, 1);
    rn_interp_forward(m, st, &ref, x, N, 1);
    note(&r, &lt, "logits", rn_rel_err(gen.logits, ref.logits, (long)N * C));
    finish(&r, &lt);

    Class rs = { "running statistics", 0, NULL, 0 };
    cmp_buffers(m, &r, &rs, gen.params, ref.params);

    /* backward into zeroed gradients */
    Class gr = { "gradients", 0, NULL, 0 };
    memset(gen.grads, 0, sizeof(float) * (size_t)P);
    memset(ref.grads, 0, sizeof(float) * (size_t)P);
    m->backward(&gen, dl, N);
    rn_interp_backward(m, st, &ref, dl, N);
    RnInterpKink flips[RN_INTERP_MAX_FLIPS];
    int nflips = 0;
    double conditioning = 0, perturb = 0;
    if (!(worst_grad(m, gen.grads, ref.grads) <= a->tol))
        nflips = explain_by_kinks(m, st, &gen, &ref, dl, N, a->tol, a->kink_margin, flips);
    cmp_grads(m, &r, &gr, gen.grads, ref.grads);
    finish(&r, &gr);
    FILE *dump = NULL;
    if (a->dump && !(dump = fopen(a->dump, "wb"))) {
        rn_errorf("check: cannot write '%s': %s", a->dump, strerror(errno));
        goto out;
    }
    if (dump) {
        /* train logits of the second forward below are the same inputs:
         * write this pass's gradients now, the logits from gen as they are */
        fwrite(gen.logits, sizeof(float), (size_t)N * (size_t)C, dump);
        fwrite(gen.grads, sizeof(float), (size_t)P, dump);
    }
    for (int k = 0; k < nflips; k++)
        printf("    (ReLU %s, unit %ld: its input is %.2g of the tensor's largest from zero, "
               "within float rounding of the kink; the mask the generated code chose there "
               "was used)\n",
               m->nodes[flips[k].node].name, flips[k].index, flips[k].margin);
    if (!(gr.worst <= a->tol))
        conditioning = reference_conditioning(m, st, &ref, x, dl, N, img, lt.worst, saved, dr,
                                               flips, nflips, &perturb);

    /* again without zeroing: both must hold the sum of two passes */
    Class ga = { "gradients (accumulated)", 0, NULL, 0 };
    m->forward(&gen, x, N, 1);
    rn_interp_forward(m, st, &ref, x, N, 1);
    m->backward(&gen, dl, N);
    rn_interp_backward(m, st, &ref, dl, N);
    cmp_grads(m, &r, &ga, gen.grads, ref.grads);
    finish(&r, &ga);
    rn_interp_set_flips(st, NULL, 0);

    /* inference: the same logits, and the running statistics untouched */
    Class li = { "logits (inference)", 0, NULL, 0 };
    memcpy(saved, gen.params, sizeof(float) * (size_t)P);
    m->forward(&gen, x, N, 0);
    rn_interp_forward(m, st, &ref, x, N, 0);
    note(&r, &li, "logits", rn_rel_err(gen.logits, ref.logits, (long)N * C));
    /* again at a smaller batch: what inference keeps between calls (the
     * folded weights) must not depend on the batch it was made at */
    if (N > 1) {
        m->forward(&gen, x, N - 1, 0);
        rn_interp_forward(m, st, &ref, x, N - 1, 0);
        note(&r, &li, "logits, batch - 1", rn_rel_err(gen.logits, ref.logits, (long)(N - 1) * C));
    }
    /* and at batch 1, which generated code may run its own way (latency) */
    if (N > 2) {
        m->forward(&gen, x, 1, 0);
        rn_interp_forward(m, st, &ref, x, 1, 0);
        note(&r, &li, "logits, batch 1", rn_rel_err(gen.logits, ref.logits, C));
    }
    finish(&r, &li);
    if (dump) {
        fwrite(gen.logits, sizeof(float), (size_t)N * (size_t)C, dump);
        if (ferror(dump) | fclose(dump)) {
            rn_errorf("check: cannot write '%s'", a->dump);
            goto out;
        }
    }
    cmp_buffers(m, &r, &rs, gen.params, ref.params);
    cmp_buffers(m, &r, &rs, gen.params, saved);
    finish(&r, &rs);

    /* updates: identical starting parameters and gradients on both sides */
    memcpy(p0, ref.params, sizeof(float) * (size_t)P);
    memcpy(g0, ref.grads, sizeof(float) * (size_t)P);
    for (int k = 0; k < m->nparams; k++)
        if (m->params[k].is_buffer)
            for (long i = 0; i < m->params[k].numel; i++)
                g0[m->params[k].offset + i] = NAN;
    struct {
        const char *what;
        RnOptKind kind;
        float lr, wd, momentum;
        int nesterov, no_decay_bn_bias;
    } opts[] = {
        { "update sgd", RN_OPT_SGD, 0.1f, 5e-4f, 0.9f, 1, 1 },
        { "update adam", RN_OPT_ADAM, 1e-2f, 1e-4f, 0, 0, 0 },
        { "update adamw", RN_OPT_ADAMW, 1e-2f, 1e-2f, 0, 0, 1 },
    };
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        RnOptim o = rn_optim_defaults(opts[k].kind);
        o.weight_decay = opts[k].wd;
        o.no_decay_bn_bias = opts[k].no_decay_bn_bias;
        if (opts[k].kind == RN_OPT_SGD) {
            o.momentum = opts[k].momentum;
            o.nesterov = opts[k].nesterov;
        }
        memcpy(gen.params, p0, sizeof(float) * (size_t)P);
        rn_exec_params_changed(&gen);
        memcpy(ref.params, p0, sizeof(float) * (size_t)P);
        memcpy(gen.grads, g0, sizeof(float) * (size_t)P);
        memcpy(ref.grads, g0, sizeof(float) * (size_t)P);
        memset(mg, 0, sizeof(float) * (size_t)P), memset(vg, 0, sizeof(float) * (size_t)P);
        memset(mr, 0, sizeof(float) * (size_t)P), memset(vr, 0, sizeof(float) * (size_t)P);
        for (long t = 1; t <= 2; t++) {
            m->update(&gen, &o, opts[k].lr, t, mg, vg);
            rn_interp_update(m, &ref, &o, opts[k].lr, t, mr, vr);
        }
        for (long i = 0; i < P; i++) {
            dg[i] = gen.params[i] - p0[i];
            dr[i] = ref.params[i] - p0[i];
        }
        Class up = { opts[k].what, 0, NULL, 0 };
        for (int q = 0; q < m->nparams; q++) {
            const RnParamInfo *pi = &m->params[q];
            note(&r, &up, pi->name, rn_rel_err(dg + pi->offset, dr + pi->offset, pi->numel));
        }
        finish(&r, &up);
    }

    /* inference folds batch norm into the weights once and keeps them:
     * an update in between must make the next inference fold again */
    Class lu = { "logits (after update)", 0, NULL, 0 };
    m->forward(&gen, x, N, 0);
    {
        RnOptim o = rn_optim_defaults(RN_OPT_SGD);
        m->update(&gen, &o, 0.01f, 3, mg, vg);
        rn_interp_update(m, &ref, &o, 0.01f, 3, mr, vr);
    }
    m->forward(&gen, x, N, 0);
    rn_interp_forward(m, st, &ref, x, N, 0);
    note(&r, &lu, "logits", rn_rel_err(gen.logits, ref.logits, (long)N * C));
    finish(&r, &lu);

    /* (no line may start with PASS or FAIL: the test runner counts those) */
    if (perturb > 0 && conditioning > 0.1 * gr.worst)
        printf("check inconclusive: perturbing the input by %g relative moves the reference's "
               "logits less than the two sides differ, yet moves its own gradients by %.3g "
               "(the sides differ by %.3g): the gradients are ill-conditioned at these weights "
               "(a ReLU or max-pool choice within rounding); try another --seed or --batch\n",
               perturb, conditioning, gr.worst);
    else if (perturb > 0 && a->verbose)
        printf("  (a %g relative input perturbation moves the reference's gradients by %.3g)\n",
               perturb, conditioning);
    if (r.failed)
        printf("check failed: %s differs from the reference by more than %g\n", m->name,
               a->tol);
    else
        printf("check passed: every tensor within %g\n", a->tol);
    rc = r.failed ? 1 : 0;
out:
    rn_interp_free(st);
    rn_exec_free(&gen);
    rn_exec_free(&ref);
    free(p0), free(g0), free(saved), free(x), free(dl);
    free(mg), free(vg), free(mr), free(vr), free(dg), free(dr);
    return rc;
}
