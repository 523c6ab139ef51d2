/* test_interp.c - the reference interpreter, parameter initialisation and
 * the parity check, on the hand-written models of hand_model.h.
 *
 * The reference kernels are finite-difference-checked one by one in double
 * (test_gradcheck.c); what is checked here is the WIRING: that the
 * interpreter connects them as the node table says, so the gradient of the
 * whole graph matches central differences of the whole forward pass, the
 * running statistics move as PyTorch moves them, inference differs from
 * training exactly by the statistics it uses, updates are rn_optim_step
 * with the right decay, and `check` catches a model that differs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hand_model.h"
#include "rn_driver.h"
#include "rn_interp.h"

#define NB 4 /* batch used throughout */

/* ---- helpers ------------------------------------------------------------- */

static void fill_normal(float *p, long n, float scale, RnRng *r)
{
    for (long i = 0; i < n; i++)
        p[i] = scale * rn_rng_normal(r);
}

static long param_index(const RnModel *m, const char *name)
{
    for (int p = 0; p < m->nparams; p++)
        if (!strcmp(m->params[p].name, name))
            return p;
    fprintf(stderr, "no parameter %s\n", name);
    abort();
}

static float *param(const RnModel *m, float *block, const char *name)
{
    return block + m->params[param_index(m, name)].offset;
}

/* sum R * logits in double: a loss whose dlogits is R */
static double loss_of(const RnModel *m, RnInterp *st, RnExec *e, const float *x, const float *R)
{
    rn_interp_forward(m, st, e, x, NB, 1);
    double s = 0;
    for (long i = 0; i < (long)NB * m->classes; i++)
        s += (double)R[i] * (double)e->logits[i];
    return s;
}

/* random but non-trivial parameters: init, then batch norm moved off 1/0 */
static void setup_params(const RnModel *m, float *p, uint64_t seed)
{
    RnRng r;
    rn_rng_seed(&r, seed);
    rn_init_params(m, p, &r);
    for (int k = 0; k < m->nparams; k++) {
        const RnParamInfo *pi = &m->params[k];
        for (long i = 0; i < pi->numel; i++) {
            float *v = p + pi->offset + i;
            if (pi->kind == RN_P_BN_W)
                *v = 0.8f + 0.4f * rn_rng_float(&r);
            else if (pi->kind == RN_P_BN_B || pi->kind == RN_P_CONV_B)
                *v = 0.1f * rn_rng_normal(&r);
        }
    }
}

/* ---- validation ---------------------------------------------------------- */

static void test_validate(void)
{
    char err[256];
    RnModel a = hand_model_a(), b = hand_model_b();
    CHECK(rn_model_validate(&a, err, sizeof err) == 0, "validate: model A", "%s", err);
    CHECK(rn_model_validate(&b, err, sizeof err) == 0, "validate: model B", "%s", err);

    RnNodeInfo nodes[16];
    RnParamInfo params[16];
    RnModel bad;

    /* a wrong output shape in the table */
    memcpy(nodes, hand_a_nodes, sizeof hand_a_nodes);
    bad = a, bad.nodes = nodes;
    nodes[5].h = 4;
    CHECK(rn_model_validate(&bad, err, sizeof err) != 0 && strstr(err, "layer1.0.conv1"),
          "validate: wrong shape names the node", "got '%s'", err);

    /* an input that comes later in the table */
    memcpy(nodes, hand_a_nodes, sizeof hand_a_nodes);
    nodes[7].in[1] = 8;
    CHECK(rn_model_validate(&bad, err, sizeof err) != 0 && strstr(err, "layer1.0.add"),
          "validate: order", "got '%s'", err);

    /* a parameter whose shape does not fit the node */
    memcpy(params, hand_a_params, sizeof hand_a_params);
    bad = a, bad.params = params;
    params[10].shape[1] = 5, params[10].numel = 15;
    CHECK(rn_model_validate(&bad, err, sizeof err) != 0 && strstr(err, "fc.weight"),
          "validate: parameter shape", "got '%s'", err);

    /* a parameter outside the block */
    memcpy(params, hand_a_params, sizeof hand_a_params);
    params[11].offset = 225;
    CHECK(rn_model_validate(&bad, err, sizeof err) != 0 && strstr(err, "fc.bias"),
          "validate: parameter offset", "got '%s'", err);

    /* the output must be the fc */
    bad = a, bad.output = 9;
    CHECK(rn_model_validate(&bad, err, sizeof err) != 0, "validate: output is an fc",
          "accepted a gap as the output");

    /* rn_interp_new refuses what validate refuses */
    memcpy(nodes, hand_a_nodes, sizeof hand_a_nodes);
    bad = a, bad.nodes = nodes;
    nodes[4].kh = 7;
    RnInterp *st = rn_interp_new(&bad, 2, err, sizeof err);
    CHECK(st == NULL && strstr(err, "maxpool"), "interp_new: refuses a bad table", "got '%s'",
          err);
    rn_interp_free(st);
}

/* ---- initialisation ------------------------------------------------------- */

static void test_init(void)
{
    /* a parameters-only model big enough for statistics */
    static const RnParamInfo big[] = {
        HP("conv.weight", RN_P_CONV_W, 4, 64, 16, 3, 3, 9216, 0, 0, 0),
        HP("bn.weight", RN_P_BN_W, 1, 64, 0, 0, 0, 64, 9216, 0, 1),
        HP("bn.bias", RN_P_BN_B, 1, 64, 0, 0, 0, 64, 9280, 0, 1),
        HP("bn.running_mean", RN_P_BN_MEAN, 1, 64, 0, 0, 0, 64, 9344, 1, 1),
        HP("bn.running_var", RN_P_BN_VAR, 1, 64, 0, 0, 0, 64, 9408, 1, 1),
        HP("fc.weight", RN_P_FC_W, 2, 10, 100, 0, 0, 1000, 9472, 0, 0),
        { .name = "fc.bias", .kind = RN_P_FC_B, .ndim = 1, .shape = { 10 }, .numel = 10,
          .offset = 10472, .no_decay = 1, .fan_in = 100 },
        HP("conv2.bias", RN_P_CONV_B, 1, 8, 0, 0, 0, 8, 10482, 0, 1),
    };
    RnModel m = { .name = "init", .nparams = 8, .params = big, .param_floats = 10490 };
    float *p = malloc(sizeof(float) * 10490), *q = malloc(sizeof(float) * 10490);
    for (int i = 0; i < 10490; i++)
        p[i] = q[i] = 12345.0f;
    RnRng r;
    rn_rng_seed(&r, 5);
    rn_init_params(&m, p, &r);

    double s = 0, ss = 0;
    for (int i = 0; i < 9216; i++)
        s += p[i], ss += (double)p[i] * p[i];
    double mean = s / 9216, sd = sqrt(ss / 9216 - mean * mean), want = sqrt(2.0 / (64 * 9));
    CHECK(fabs(sd / want - 1) < 0.04 && fabs(mean) < 4 * want / sqrt(9216.0),
          "init: conv kaiming normal fan_out", "std %g (want %g), mean %g", sd, want, mean);

    int ones = 1, zeros = 1;
    for (int i = 0; i < 64; i++) {
        ones &= p[9216 + i] == 1.0f && p[9408 + i] == 1.0f;
        zeros &= p[9280 + i] == 0.0f && p[9344 + i] == 0.0f;
    }
    for (int i = 0; i < 8; i++)
        zeros &= p[10482 + i] == 0.0f;
    CHECK(ones && zeros, "init: bn ones and zeros, conv bias zero", "wrong constants");

    float lo = 1, hi = -1;
    for (int i = 0; i < 1000; i++)
        lo = fminf(lo, p[9472 + i]), hi = fmaxf(hi, p[9472 + i]);
    CHECK(lo >= -0.1f && hi <= 0.1f && lo < -0.09f && hi > 0.09f, "init: fc weight uniform 1/sqrt(IN)",
          "range [%g, %g], want +-0.1", lo, hi);
    float bmax = 0;
    for (int i = 0; i < 10; i++)
        bmax = fmaxf(bmax, fabsf(p[10472 + i]));
    CHECK(bmax <= 0.1f && bmax > 0.0f, "init: fc bias uses fan_in when no node names it",
          "max |b| %g", bmax);

    /* the fc bias of a model with nodes takes IN from its node's weight:
     * model A's fc is (3, 4), so the bound is 1/2 */
    RnModel a = hand_model_a();
    float pa[HAND_A_FLOATS];
    rn_rng_seed(&r, 9);
    rn_init_params(&a, pa, &r);
    float *fb = param(&a, pa, "fc.bias");
    int in_range = 1, over_quarter = 0;
    for (int i = 0; i < 3; i++)
        in_range &= fabsf(fb[i]) <= 0.5f, over_quarter |= fabsf(fb[i]) > 0.1f;
    CHECK(in_range && over_quarter, "init: fc bias bound from its node", "%g %g %g", fb[0], fb[1],
          fb[2]);

    rn_rng_seed(&r, 5);
    rn_init_params(&m, q, &r);
    CHECK(!memcmp(p, q, sizeof(float) * 10490), "init: same seed, same weights", "differ");
    rn_rng_seed(&r, 6);
    rn_init_params(&m, q, &r);
    CHECK(memcmp(p, q, sizeof(float) * 9216) != 0, "init: another seed, other weights", "same");
    free(p);
    free(q);
}

/* ---- gradients by finite differences ------------------------------------- */

typedef struct {
    const char *name;
    int index;
} Probe;

static void gradcheck(const char *label, const RnModel *m, const Probe *probes, int nprobes,
                      double h, double tol)
{
    char err[256], name[128];
    RnInterp *st = rn_interp_new(m, NB, err, sizeof err);
    RnExec e = { 0 };
    rn_exec_alloc(m, NB, &e);
    long img = (long)m->in_c * m->in_h * m->in_w;
    float *x = malloc(sizeof(float) * NB * img), *R = malloc(sizeof(float) * NB * m->classes);
    RnRng r;
    rn_rng_seed(&r, 77);
    setup_params(m, e.params, 3);
    fill_normal(x, NB * img, 1.0f, &r);
    fill_normal(R, NB * m->classes, 1.0f, &r);

    loss_of(m, st, &e, x, R);
    memset(e.grads, 0, sizeof(float) * m->param_floats);
    rn_interp_backward(m, st, &e, R, NB);

    for (int k = 0; k < nprobes; k++) {
        float *p = param(m, e.params, probes[k].name) + probes[k].index;
        float g = (param(m, e.grads, probes[k].name))[probes[k].index];
        float old = *p;
        *p = old + (float)h;
        double lp = loss_of(m, st, &e, x, R);
        *p = old - (float)h;
        double lm = loss_of(m, st, &e, x, R);
        *p = old;
        double fd = (lp - lm) / (2 * h);
        double bound = tol * fmax(fabs(fd), fabs((double)g)) + 1e-3;
        snprintf(name, sizeof name, "%s: d/d %s[%d]", label, probes[k].name, probes[k].index);
        CHECK(fabs(fd - g) <= bound, name, "backward %g, finite differences %g", (double)g, fd);
    }
    free(x);
    free(R);
    rn_exec_free(&e);
    rn_interp_free(st);
}

static void test_gradients(void)
{
    RnModel a = hand_model_a(), b = hand_model_b();
    static const Probe pa[] = {
        { "conv1.weight", 0 }, { "conv1.weight", 13 }, { "conv1.weight", 35 },
        { "bn1.weight", 1 }, { "bn1.bias", 2 },
        { "layer1.0.conv1.weight", 5 }, { "layer1.0.conv1.weight", 77 },
        { "layer1.0.bn1.weight", 0 }, { "layer1.0.bn1.bias", 3 },
        { "fc.weight", 4 }, { "fc.bias", 1 },
    };
    gradcheck("grad A", &a, pa, (int)(sizeof pa / sizeof pa[0]), 1e-3, 1e-2);
    /* B is linear in every parameter: differences are exact up to rounding */
    static const Probe pb[] = {
        { "conv.weight", 0 }, { "conv.weight", 40 }, { "conv.weight", 71 },
        { "conv.bias", 1 }, { "fc.weight", 3 }, { "fc.weight", 63 }, { "fc.bias", 0 },
    };
    gradcheck("grad B", &b, pb, (int)(sizeof pb / sizeof pb[0]), 1e-2, 2e-3);
}

/* backward accumulates; a second pass doubles every gradient */
static void test_accumulate(void)
{
    RnModel a = hand_model_a();
    char err[256];
    RnInterp *st = rn_interp_new(&a, NB, err, sizeof err);
    RnExec e;
    rn_exec_alloc(&a, NB, &e);
    float x[NB * 36], R[NB * 3], g1[HAND_A_FLOATS];
    RnRng r;
    rn_rng_seed(&r, 8);
    setup_params(&a, e.params, 4);
    fill_normal(x, NB * 36, 1, &r);
    fill_normal(R, NB * 3, 1, &r);
    rn_interp_forward(&a, st, &e, x, NB, 1);
    rn_interp_backward(&a, st, &e, R, NB);
    memcpy(g1, e.grads, sizeof g1);
    rn_interp_backward(&a, st, &e, R, NB);
    double worst = 0;
    int nonzero = 0;
    for (int p = 0; p < a.nparams; p++) {
        const RnParamInfo *pi = &a.params[p];
        if (pi->is_buffer)
            continue;
        for (long i = 0; i < pi->numel; i++) {
            worst = fmax(worst, fabs(e.grads[pi->offset + i] - 2 * g1[pi->offset + i]));
            nonzero += g1[pi->offset + i] != 0;
        }
    }
    CHECK(worst < 1e-6 && nonzero > 100, "backward accumulates into grads",
          "max |g2 - 2 g1| = %g, %d nonzero", worst, nonzero);
    rn_exec_free(&e);
    rn_interp_free(st);
}

/* ---- batch norm: running statistics, train vs inference ------------------- */

/* per-channel batch mean and variance (biased or not) of a node's output */
static void channel_stats(const float *act, int N, int C, int HW, int c, double *mean,
                          double *var, int unbiased)
{
    double s = 0, ss = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < HW; i++)
            s += act[((long)n * C + c) * HW + i];
    *mean = s / (N * HW);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < HW; i++) {
            double d = act[((long)n * C + c) * HW + i] - *mean;
            ss += d * d;
        }
    *var = ss / (N * HW - (unbiased ? 1 : 0));
}

static void test_batchnorm(void)
{
    RnModel a = hand_model_a();
    char err[256];
    RnInterp *st = rn_interp_new(&a, NB, err, sizeof err);
    RnExec e;
    rn_exec_alloc(&a, NB, &e);
    float x[NB * 36], train_logits[NB * 3];
    RnRng r;
    rn_rng_seed(&r, 10);
    setup_params(&a, e.params, 5);
    fill_normal(x, NB * 36, 1, &r);

    /* running statistics after one training pass from (0, 1) */
    rn_interp_forward(&a, st, &e, x, NB, 1);
    memcpy(train_logits, e.logits, sizeof train_logits);
    const float *c1 = rn_interp_activation(st, 1); /* bn1's input */
    double worst = 0;
    for (int c = 0; c < 4; c++) {
        double mean, var;
        channel_stats(c1, NB, 4, 36, c, &mean, &var, 1);
        worst = fmax(worst, fabs(param(&a, e.params, "bn1.running_mean")[c] - 0.1 * mean));
        worst = fmax(worst, fabs(param(&a, e.params, "bn1.running_var")[c] - (0.9 + 0.1 * var)));
    }
    CHECK(worst < 1e-5, "bn: running stats move by momentum 0.1, unbiased var",
          "max error %g", worst);

    /* inference with the initial-looking statistics gives other logits and
     * leaves the statistics alone */
    float before[HAND_A_FLOATS];
    memcpy(before, e.params, sizeof before);
    rn_interp_forward(&a, st, &e, x, NB, 0);
    double diff = 0;
    for (int i = 0; i < NB * 3; i++)
        diff = fmax(diff, fabs(e.logits[i] - train_logits[i]));
    CHECK(diff > 1e-2, "bn: inference differs from training", "max diff %g", diff);
    CHECK(!memcmp(before, e.params, sizeof before), "bn: inference keeps running stats",
          "parameters changed");

    /* with the running statistics set to this batch's own (biased variance),
     * inference reproduces the training forward */
    rn_interp_forward(&a, st, &e, x, NB, 1);
    memcpy(train_logits, e.logits, sizeof train_logits);
    static const struct { int node; const char *mean, *var; int HW; } bns[] = {
        { 1, "bn1.running_mean", "bn1.running_var", 36 },
        { 5, "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var", 9 },
    };
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < 4; c++) {
            double mean, var;
            channel_stats(rn_interp_activation(st, bns[k].node), NB, 4, bns[k].HW, c, &mean, &var,
                          0);
            param(&a, e.params, bns[k].mean)[c] = (float)mean;
            param(&a, e.params, bns[k].var)[c] = (float)var;
        }
    rn_interp_forward(&a, st, &e, x, NB, 0);
    diff = 0;
    for (int i = 0; i < NB * 3; i++)
        diff = fmax(diff, fabs(e.logits[i] - train_logits[i]));
    CHECK(diff < 1e-4, "bn: inference with the batch's stats equals training", "max diff %g",
          diff);

    /* inference is per image: a smaller batch gives the same rows */
    float full[NB * 3];
    memcpy(full, e.logits, sizeof full);
    rn_interp_forward(&a, st, &e, x + 36, 2, 0);
    CHECK(!memcmp(e.logits, full + 3, sizeof(float) * 6), "interp: batch smaller than N_max",
          "rows differ");
    rn_exec_free(&e);
    rn_interp_free(st);
}

/* ---- update --------------------------------------------------------------- */

static void test_update(void)
{
    RnModel a = hand_model_a();
    float p[HAND_A_FLOATS], g[HAND_A_FLOATS], p_ref[HAND_A_FLOATS], m1[HAND_A_FLOATS] = { 0 },
          m2[HAND_A_FLOATS] = { 0 }, p_nodecay[HAND_A_FLOATS], m3[HAND_A_FLOATS] = { 0 };
    RnRng r;
    rn_rng_seed(&r, 12);
    setup_params(&a, p, 6);
    fill_normal(g, HAND_A_FLOATS, 0.1f, &r);
    for (int k = 0; k < a.nparams; k++)
        if (a.params[k].is_buffer)
            for (long i = 0; i < a.params[k].numel; i++)
                g[a.params[k].offset + i] = NAN; /* must never be read */
    memcpy(p_ref, p, sizeof p);
    memcpy(p_nodecay, p, sizeof p);

    RnOptim o = rn_optim_defaults(RN_OPT_SGD);
    o.nesterov = 1;
    o.weight_decay = 0.05f;
    o.no_decay_bn_bias = 1;
    RnOptim o0 = o;
    o0.weight_decay = 0;
    RnExec e = { .params = p, .grads = g, .N_max = 1 };
    for (long t = 1; t <= 2; t++)
        rn_interp_update(&a, &e, &o, 0.1f, t, m1, NULL);

    /* by hand: rn_optim_step per trainable tensor; and without decay */
    int same = 1, bn_undecayed = 1, weights_decayed = 0;
    for (long t = 1; t <= 2; t++)
        for (int k = 0; k < a.nparams; k++) {
            const RnParamInfo *pi = &a.params[k];
            if (pi->is_buffer)
                continue;
            rn_optim_step(&o, 0.1f, t, p_ref + pi->offset, g + pi->offset, m2 + pi->offset, NULL,
                          pi->numel, !pi->no_decay);
            rn_optim_step(&o0, 0.1f, t, p_nodecay + pi->offset, g + pi->offset, m3 + pi->offset,
                          NULL, pi->numel, 1);
        }
    for (int k = 0; k < a.nparams; k++) {
        const RnParamInfo *pi = &a.params[k];
        for (long i = 0; i < pi->numel; i++) {
            long j = pi->offset + i;
            same &= p[j] == p_ref[j];
            if (pi->no_decay && !pi->is_buffer)
                bn_undecayed &= p[j] == p_nodecay[j];
            if (!pi->no_decay)
                weights_decayed |= p[j] != p_nodecay[j];
        }
    }
    CHECK(same, "update: rn_optim_step per tensor, buffers untouched", "differs");
    CHECK(bn_undecayed && weights_decayed, "update: no_decay tensors skip weight decay",
          "undecayed %d decayed %d", bn_undecayed, weights_decayed);
}

/* ---- an RnModel that runs the interpreter, and the parity check ---------- */

/* model C: input 1x4x4 -> conv 3x3 pad 1 (2) -> relu -> gap -> fc (2) */
static const RnParamInfo c_params[] = {
    HP("conv.weight", RN_P_CONV_W, 4, 2, 1, 3, 3, 18, 0, 0, 0),
    HP("fc.weight", RN_P_FC_W, 2, 2, 2, 0, 0, 4, 18, 0, 0),
    HP("fc.bias", RN_P_FC_B, 1, 2, 0, 0, 0, 2, 22, 0, 1),
};
static const RnNodeInfo c_nodes[] = {
    HN(RN_OP_INPUT, "input", -1, -1, 1, 4, 4, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_CONV, "conv", 0, -1, 2, 4, 4, 3, 3, 1, 1, 1, 2, 0, 0, -1, -1, -1),
    HN(RN_OP_RELU, "relu", 1, -1, 2, 4, 4, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_GAP, "gap", 2, -1, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_FC, "fc", 3, -1, 2, 1, 1, 0, 0, 0, 0, 0, 2, 1, 1, 2, -1, -1),
};
static const RnModel model_c = {
    .name = "hand_c", .backend = "c", .in_c = 1, .in_h = 4, .in_w = 4, .classes = 2,
    .nparams = 3, .params = c_params, .param_floats = 24,
    .nnodes = 5, .nodes = c_nodes, .output = 4,
};

static RnModel wrapped;         /* the model the wrappers run */
static RnInterp *wrapped_state;
static int sabotage;            /* 1: logits off; 2: one gradient off; 3: update touches a buffer;
                                   4: the other side of a ReLU kink */

static void w_forward(RnExec *e, const float *x, int N, int train)
{
    rn_interp_forward(&wrapped, wrapped_state, e, x, N, train);
    if (sabotage == 1)
        e->logits[1] += 1e-2f;
}

static void w_backward(RnExec *e, const float *dlogits, int N)
{
    if (sabotage == 4) {
        /* reverse the mask of the unit nearest its kink, as a correct
         * implementation whose rounding put that input on the other side
         * of zero would */
        RnInterpKink k[1];
        int n = rn_interp_kinks(&wrapped, wrapped_state, k, 1);
        rn_interp_set_flips(wrapped_state, k, n);
    }
    rn_interp_backward(&wrapped, wrapped_state, e, dlogits, N);
    rn_interp_set_flips(wrapped_state, NULL, 0);
    if (sabotage == 2)
        e->grads[wrapped.params[5].offset + 3] *= 1.01f;
}

static void w_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v)
{
    rn_interp_update(&wrapped, e, o, lr, t, m, v);
    if (sabotage == 3)
        e->params[wrapped.params[3].offset] += e->grads[wrapped.params[3].offset];
}

static void test_parity(void)
{
    char err[256];
    RnModel a = hand_model_a();
    wrapped = a;
    wrapped.forward = w_forward;
    wrapped.backward = w_backward;
    wrapped.update = w_update;
    wrapped_state = rn_interp_new(&wrapped, NB, err, sizeof err);

    /* a bound model gives the same logits as the wrappers */
    RnModel bound;
    CHECK(rn_interp_bind(&a, NB, &bound, err, sizeof err) == 0 &&
              !strcmp(bound.backend, "reference") && bound.forward,
          "bind: a model running the interpreter", "%s", err);
    RnExec e1, e2;
    rn_exec_alloc(&a, NB, &e1);
    rn_exec_alloc(&a, NB, &e2);
    setup_params(&a, e1.params, 2);
    memcpy(e2.params, e1.params, sizeof(float) * HAND_A_FLOATS);
    float x[NB * 36];
    RnRng r;
    rn_rng_seed(&r, 4);
    fill_normal(x, NB * 36, 1, &r);
    bound.forward(&e1, x, NB, 1);
    wrapped.forward(&e2, x, NB, 1);
    CHECK(!memcmp(e1.logits, e2.logits, sizeof(float) * NB * 3), "bind: same logits",
          "differ");
    rn_interp_unbind();
    rn_exec_free(&e1);
    rn_exec_free(&e2);

    RnCheckArgs ca = { .seed = 3, .batch = NB, .tol = 1e-4 };
    sabotage = 0;
    CHECK(rn_check_run(&wrapped, &ca) == 0, "check: the interpreter agrees with itself",
          "check failed");
    static const char *const what[] = { "", "check: catches wrong logits",
                                        "check: catches a wrong gradient",
                                        "check: catches an update of a buffer" };
    for (sabotage = 1; sabotage <= 3; sabotage++)
        CHECK(rn_check_run(&wrapped, &ca) == 1, what[sabotage], "check passed");
    sabotage = 0;

    /* the kinks come sorted, nearest first, from RELU nodes, for the last
     * forward pass: one made here, not whatever check ran last */
    RnExec e3;
    rn_exec_alloc(&a, NB, &e3);
    setup_params(&a, e3.params, 2);
    wrapped.forward(&e3, x, NB, 1);
    rn_exec_free(&e3);
    RnInterpKink k[RN_INTERP_MAX_FLIPS];
    int nk = rn_interp_kinks(&wrapped, wrapped_state, k, RN_INTERP_MAX_FLIPS), sorted = nk > 0;
    for (int i = 0; i < nk; i++)
        sorted &= wrapped.nodes[k[i].node].op == RN_OP_RELU && k[i].margin >= 0 &&
                  k[i].margin <= 1 && (i == 0 || k[i - 1].margin <= k[i].margin);
    CHECK(nk == RN_INTERP_MAX_FLIPS && sorted, "interp: kinks listed nearest first",
          "%d kinks", nk);

    RnModel b = hand_model_b();
    wrapped = b;
    wrapped.forward = w_forward, wrapped.backward = w_backward, wrapped.update = w_update;
    rn_interp_free(wrapped_state);
    wrapped_state = rn_interp_new(&wrapped, NB, err, sizeof err);
    CHECK(rn_check_run(&wrapped, &ca) == 0, "check: model B", "check failed");
    rn_interp_free(wrapped_state);

    /* a ReLU unit on the other side of its kink: explained when the margin
     * allows that unit, a failure when no margin is allowed.  Model C's
     * ReLU feeds a global pool, so every unit's mask matters. */
    wrapped = model_c;
    wrapped.forward = w_forward, wrapped.backward = w_backward, wrapped.update = w_update;
    wrapped_state = rn_interp_new(&wrapped, NB, err, sizeof err);
    CHECK(wrapped_state && rn_check_run(&wrapped, &ca) == 0, "check: model C", "%s", err);
    sabotage = 4;
    ca.kink_margin = 0.5;
    CHECK(rn_check_run(&wrapped, &ca) == 0, "check: a kink within the margin is explained",
          "check failed");
    ca.kink_margin = 0;
    CHECK(rn_check_run(&wrapped, &ca) == 1, "check: a kink outside the margin fails",
          "check passed");
    sabotage = 0;
    rn_interp_free(wrapped_state);

    CHECK(fabs(rn_rel_err((float[]){ 1, 2 }, (float[]){ 1, 2.5f }, 2) - 0.2) < 1e-12 &&
              fabs(rn_rel_err((float[]){ 1e-5f }, (float[]){ 0 }, 1) - 1e-2) < 1e-8 &&
              isinf(rn_rel_err((float[]){ NAN }, (float[]){ 0 }, 1)),
          "rel err: max|a-b| / max(max|b|, 1e-3), NaN is infinite", "wrong values");
}

int main(void)
{
    test_validate();
    test_init();
    test_gradients();
    test_accumulate();
    test_batchnorm();
    test_update();
    test_parity();
    CHECK_DONE();
}
