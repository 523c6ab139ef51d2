/* test_resume.c - the state file beside a checkpoint (rn_ckpt.c) and
 * `train --resume` (rn_train.c) on hand_model.h's model A, whose entry
 * points wrap the reference interpreter, with a small synthetic data set:
 *
 *   - the state file's name, and every field of RnRunState and both
 *     optimizer buffers surviving a save and a load exactly;
 *   - refusals naming the file and the key or tensor: another model, a
 *     tensor of another optimizer, a missing or malformed key, a damaged
 *     value, an impossible position;
 *   - in-process runs: stopped and resumed (inside an epoch, then at a
 *     boundary) equals uninterrupted, byte for byte; an option equal to
 *     the saved one is accepted and a different one refused (exit 2).
 * The generated-code version of the same checks is tests/e2e/resume.sh.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hand_model.h"
#include "rn_driver.h"
#include "rn_interp.h"

static RnModel model;
static RnInterp *state;

static void w_forward(RnExec *e, const float *x, int N, int train)
{
    rn_interp_forward(&model, state, e, x, N, train);
}

static void w_backward(RnExec *e, const float *dlogits, int N)
{
    rn_interp_backward(&model, state, e, dlogits, N);
}

static void w_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v)
{
    rn_interp_update(&model, e, o, lr, t, m, v);
}

static char dir[256];
static char err_text[16384];

static void path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

/* rn_cli_main on a NULL-terminated list, stdout to /dev/null, stderr kept */
static int run(const char *arg0, ...)
{
    char *argv[40];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < 39; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    char fe[300];
    path(fe, sizeof fe, "stderr.txt");
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    FILE *o = freopen("/dev/null", "w", stdout);
    FILE *e = freopen(fe, "w", stderr);
    int rc = (o && e) ? rn_cli_main(&model, argc, argv) : 99;
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    clearerr(stdout);
    clearerr(stderr);
    FILE *f = fopen(fe, "rb");
    size_t k = f ? fread(err_text, 1, sizeof err_text - 1, f) : 0;
    err_text[k] = '\0';
    if (f)
        fclose(f);
    return rc;
}

static void write_split(const char *img_name, const char *lbl_name, int n, uint64_t seed)
{
    uint8_t *img = calloc((size_t)n, 36), *lbl = malloc((size_t)n);
    RnRng r;
    rn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = (int)rn_rng_below(&r, 3);
        lbl[i] = (uint8_t)k;
        for (int p = 0; p < 36; p++)
            img[i * 36 + p] = (uint8_t)rn_rng_below(&r, 60);
        for (int d = 0; d < 4; d++)
            img[i * 36 + (2 * k + d / 2) * 6 + 2 * k + d % 2] = 220;
    }
    char p1[300], p2[300], err[256];
    path(p1, sizeof p1, img_name);
    path(p2, sizeof p2, lbl_name);
    uint32_t di[3] = { (uint32_t)n, 6, 6 }, dl[1] = { (uint32_t)n };
    if (rn_idx_save(p1, 3, di, img, 0, err, sizeof err) ||
        rn_idx_save(p2, 1, dl, lbl, 0, err, sizeof err))
        fprintf(stderr, "%s\n", err);
    free(img);
    free(lbl);
}

static int same_file(const char *a, const char *b)
{
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    int same = f && g;
    while (same) {
        int x = fgetc(f), y = fgetc(g);
        same = x == y;
        if (x == EOF)
            break;
    }
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    return same;
}

/* a state with every field set to something that must round-trip */
static RnRunState sample_state(void)
{
    RnRunState s;
    memset(&s, 0, sizeof s);
    s.epoch = 3, s.batch_index = 5, s.steps_per_epoch = 19, s.step = 3 * 19 + 5;
    s.epoch_loss_sum = 1.0 / 3.0 * 1e3, s.epoch_seen = 80, s.epoch_right = 61;
    s.test_loss = 0.1 + 0.2, s.test_acc = 2.0 / 3.0;
    s.epochs = 7, s.batch = 8;
    s.optim = rn_optim_defaults(RN_OPT_ADAM);
    s.optim.weight_decay = 1e-3f / 3.0f, s.optim.beta2 = 0.99f;
    s.sched = rn_schedule_defaults(RN_SCHED_ONECYCLE);
    s.sched.base_lr = 0.1f / 3.0f, s.sched.warmup_epochs = 0.7f;
    s.label_smoothing = 0.1f, s.shift = 2, s.flip = 1, s.seed = -12345678901L, s.limit = 150;
    s.train_images = 150, s.train_crc = 0xdeadbeefu, s.weights_crc = 0x01234567u;
    s.threads = 3, s.save_every = 2, s.log_every = 5;
    snprintf(s.data, sizeof s.data, "data/\"quoted\" dir\\x");
    snprintf(s.log_dir, sizeof s.log_dir, "runs/ü");
    return s;
}

static int same_state(const RnRunState *a, const RnRunState *b)
{
    return a->epoch == b->epoch && a->batch_index == b->batch_index && a->step == b->step &&
           a->steps_per_epoch == b->steps_per_epoch && a->epoch_loss_sum == b->epoch_loss_sum &&
           a->epoch_seen == b->epoch_seen && a->epoch_right == b->epoch_right &&
           a->test_loss == b->test_loss && a->test_acc == b->test_acc && a->epochs == b->epochs &&
           a->batch == b->batch && !memcmp(&a->optim, &b->optim, sizeof a->optim) &&
           !memcmp(&a->sched, &b->sched, sizeof a->sched) &&
           a->label_smoothing == b->label_smoothing && a->shift == b->shift &&
           a->flip == b->flip && a->seed == b->seed && a->limit == b->limit &&
           a->train_images == b->train_images && a->train_crc == b->train_crc &&
           a->weights_crc == b->weights_crc && a->threads == b->threads &&
           a->save_every == b->save_every && a->log_every == b->log_every &&
           !strcmp(a->data, b->data) && !strcmp(a->log_dir, b->log_dir);
}

int main(void)
{
    char err[512];
    model = hand_model_a();
    model.forward = w_forward;
    model.backward = w_backward;
    model.update = w_update;
    state = rn_interp_new(&model, 64, err, sizeof err);
    snprintf(dir, sizeof dir, "/tmp/rnet_test_resume.XXXXXX");
    if (!state || !mkdtemp(dir)) {
        printf("FAIL setup: %s\n", state ? "mkdtemp" : err);
        return 1;
    }

    /* ---- names ---- */
    char *p1 = rn_ckpt_state_path("runs/x/model.safetensors");
    char *p2 = rn_ckpt_state_path("w.bin");
    char *p3 = rn_ckpt_state_path(".safetensors");
    CHECK(p1 && p2 && p3 && !strcmp(p1, "runs/x/model.state.safetensors") &&
              !strcmp(p2, "w.bin.state.safetensors") &&
              !strcmp(p3, ".safetensors.state.safetensors"),
          "state path: beside the weights", "%s %s %s", p1, p2, p3);
    free(p1), free(p2), free(p3);

    /* ---- round trip ---- */
    long P = model.param_floats;
    float *m = calloc((size_t)P, sizeof(float)), *v = calloc((size_t)P, sizeof(float));
    for (long i = 0; i < P; i++)
        m[i] = (float)sin((double)i) / 7.0f, v[i] = (float)i * 1e-7f + 1e-30f;
    for (int i = 0; i < model.nparams; i++) /* buffers keep no optimizer state */
        if (model.params[i].is_buffer)
            for (long k = 0; k < model.params[i].numel; k++)
                m[model.params[i].offset + k] = v[model.params[i].offset + k] = 0;
    RnRunState s = sample_state(), back;
    char sp[300];
    path(sp, sizeof sp, "s.state.safetensors");
    int rc = rn_ckpt_state_save(&model, sp, &s, m, v, err, sizeof err);
    float *m2 = NULL, *v2 = NULL;
    int rc2 = rc ? -1 : rn_ckpt_state_load(&model, sp, &back, &m2, &v2, err, sizeof err);
    CHECK(rc == 0 && rc2 == 0 && same_state(&s, &back) && m2 && v2 &&
              !memcmp(m, m2, sizeof(float) * (size_t)P) && !memcmp(v, v2, sizeof(float) * (size_t)P),
          "state: every field and both buffers round-trip exactly", "%s", err);
    free(m2), free(v2);
    rn_st_file *f = NULL;
    int rc3 = rn_st_open(&f, sp, err, sizeof err);
    CHECK(rc3 == 0 && rn_st_count(f) == 2 * 8 && rn_st_find(f, "optim.m.layer1.0.conv1.weight") &&
              rn_st_find(f, "optim.v.fc.bias") && !rn_st_find(f, "optim.m.bn1.running_mean") &&
              !strcmp(rn_st_meta(f, "format"), "rnet-state-1") &&
              !strcmp(rn_st_meta(f, "optimizer"), "adam") &&
              !strcmp(rn_st_meta(f, "seed"), "-12345678901"),
          "state: tensors optim.m/v.<trainable>, readable metadata", "%s", rc3 ? err : "");

    /* SGD keeps m only; SGD without momentum nothing */
    s.optim = rn_optim_defaults(RN_OPT_SGD);
    rc = rn_ckpt_state_save(&model, sp, &s, m, NULL, err, sizeof err);
    rc2 = rc ? -1 : rn_ckpt_state_load(&model, sp, &back, &m2, &v2, err, sizeof err);
    CHECK(rc == 0 && rc2 == 0 && m2 && !v2 && !memcmp(m, m2, sizeof(float) * (size_t)P),
          "state: SGD with momentum keeps one buffer", "%s", err);
    free(m2), free(v2);
    s.optim.momentum = 0;
    rc = rn_ckpt_state_save(&model, sp, &s, NULL, NULL, err, sizeof err);
    rc2 = rc ? -1 : rn_ckpt_state_load(&model, sp, &back, &m2, &v2, err, sizeof err);
    CHECK(rc == 0 && rc2 == 0 && !m2 && !v2, "state: plain SGD keeps none", "%s", err);

    /* ---- non-finite values are never written over a file ---- */
    {
        char wp[300];
        path(wp, sizeof wp, "w.safetensors");
        float *w = calloc((size_t)P, sizeof(float));
        for (long i = 0; i < P; i++)
            w[i] = (float)cos((double)i);
        int ok0 = rn_ckpt_save(&model, w, wp, NULL, 0, err, sizeof err) == 0;
        FILE *fp = fopen(wp, "rb");
        char before[4096];
        size_t nb = fp ? fread(before, 1, sizeof before, fp) : 0;
        if (fp)
            fclose(fp);
        const RnParamInfo *last = &model.params[model.nparams - 1];
        w[last->offset + last->numel - 1] = NAN;
        long nbad = 0;
        int k = rn_ckpt_first_nonfinite(&model, w, &nbad);
        int rcn = rn_ckpt_save(&model, w, wp, NULL, 0, err, sizeof err);
        fp = fopen(wp, "rb");
        char after[4096];
        size_t na = fp ? fread(after, 1, sizeof after, fp) : 0;
        if (fp)
            fclose(fp);
        CHECK(ok0 && k == model.nparams - 1 && nbad == 1 && rcn == -1 && strstr(err, last->name) &&
                  strstr(err, "non-finite") && na == nb && !memcmp(before, after, nb),
              "weights with a NaN: refused, named, the saved file unchanged", "k %d nbad %ld: %s",
              k, nbad, err);
        w[last->offset + last->numel - 1] = 0;
        w[0] = INFINITY;
        rcn = rn_ckpt_save(&model, w, wp, NULL, 0, err, sizeof err);
        CHECK(rcn == -1 && strstr(err, model.params[0].name), "weights with an infinity: refused",
              "%s", err);
        float *mm = calloc((size_t)P, sizeof(float));
        mm[model.params[1].offset] = NAN;
        RnRunState s2 = sample_state();
        rcn = rn_ckpt_state_save(&model, sp, &s2, mm, mm, err, sizeof err);
        CHECK(rcn == -1 && strstr(err, model.params[1].name) && strstr(err, "optimizer"),
              "optimizer state with a NaN: refused", "%s", err);
        free(w), free(mm);
    }

    /* ---- refusals ---- */
    s = sample_state();
    rn_ckpt_state_save(&model, sp, &s, m, v, err, sizeof err);
    RnModel b = hand_model_b();
    rc = rn_ckpt_state_load(&b, sp, &back, &m2, &v2, err, sizeof err);
    CHECK(rc == -1 && strstr(err, sp) && strstr(err, "'hand_a'") && strstr(err, "'hand_b'"),
          "refused: another model", "%s", err);
    RnModel a2 = model;
    a2.source_hash = "1111111111111111";
    rc = rn_ckpt_state_load(&a2, sp, &back, &m2, &v2, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "another source") && strstr(err, "0123456789abcdef"),
          "refused: another source hash", "%s", err);

    /* rewrite the file with one change to its tensors or metadata */
    rn_st_file *src = f;
    int nt = rn_st_count(src), nm = rn_st_meta_count(src);
    rn_st_entry *t = calloc((size_t)nt + 1, sizeof *t);
    rn_st_kv *kv = calloc((size_t)nm + 1, sizeof *kv);
    float *copies = calloc((size_t)P * 2 + 64, sizeof(float));
    long used = 0;
    for (int i = 0; i < nt; i++) {
        const rn_st_tensor *x = rn_st_at(src, i);
        t[i] = (rn_st_entry){ .name = x->name, .dtype = x->dtype, .ndim = x->ndim };
        memcpy(t[i].shape, x->shape, sizeof x->shape);
        memcpy(copies + used, x->data, (size_t)(x->end - x->begin));
        t[i].data = copies + used;
        used += (long)(x->end - x->begin) / 4;
    }
    for (int i = 0; i < nm; i++)
        rn_st_meta_at(src, i, &kv[i].key, &kv[i].value);
    char bad[300];
    path(bad, sizeof bad, "bad.state.safetensors");
    struct {
        const char *name, *key, *value, *want;
        int drop_tensor; /* -1: none */
    } cases[] = {
        { "refused: a missing key", "lr", NULL, "metadata 'lr' is missing", -1 },
        { "refused: a malformed number", "lr", "0.1x", "metadata 'lr' has a bad value '0.1x'", -1 },
        { "refused: an unknown optimizer", "optimizer", "rmsprop", "metadata 'optimizer'", -1 },
        { "refused: a changed value (CRC)", "seed", "5", "damaged", -1 },
        { "refused: an impossible position", "batch_index", "19", "position", -1 },
        { "refused: a missing tensor", NULL, NULL, "optim.v.fc.bias", nt - 1 },
        { "refused: Adam's buffers in a plain SGD state", "optimizer", "sgd",
          "tensor 'optim.m.conv1.weight' does not belong to the state of optimizer sgd without momentum", -1 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rn_st_kv kv2[64];
        int n2 = 0;
        for (int i = 0; i < nm && n2 < 64; i++) {
            if (cases[c].key && !strcmp(kv[i].key, cases[c].key)) {
                if (cases[c].value)
                    kv2[n2++] = (rn_st_kv){ kv[i].key, cases[c].value };
                continue;
            }
            kv2[n2++] = kv[i];
        }
        rn_st_entry t2[32];
        int m2n = 0;
        for (int i = 0; i < nt; i++)
            if (i != cases[c].drop_tensor)
                t2[m2n++] = t[i];
        rn_st_write(bad, t2, m2n, kv2, n2, err, sizeof err);
        rc = rn_ckpt_state_load(&model, bad, &back, &m2, &v2, err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad) && strstr(err, cases[c].want) && !m2 && !v2,
              cases[c].name, "%s", err);
    }
    rn_st_close(f);
    free(t), free(kv), free(copies), free(m), free(v);

    /* ---- in-process runs: stop and resume equals straight ---- */
    write_split("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 150, 1);
    write_split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 30, 2);
    char w1[300], w2[300], log2[300];
    path(w1, sizeof w1, "straight.safetensors");
    path(w2, sizeof w2, "stopped.safetensors");
    path(log2, sizeof log2, "logs");
    rc = run("hand_a", "train", "--data", dir, "--epochs", "3", "--batch", "16", "--save", w1,
             "--shift", "1", "--optimizer", "adamw", "--lr", "0.01", NULL);
    rc2 = run("hand_a", "train", "--data", dir, "--epochs", "3", "--batch", "16", "--save", w2,
              "--shift", "1", "--optimizer", "adamw", "--lr", "0.01", "--stop-after", "1.3",
              "--log-dir", log2, NULL);
    rc3 = run("hand_a", "train", "--resume", w2, "--stop-after", "2", "--batch", "16", NULL);
    int rc4 = run("hand_a", "train", "--resume", w2, NULL);
    CHECK(rc == 0 && rc2 == 0 && rc3 == 0 && rc4 == 0 && same_file(w1, w2),
          "resume: stopped at 1.3 and 2 epochs, resumed, same bytes", "exit %d %d %d %d: %s", rc,
          rc2, rc3, rc4, err_text);
    rc = run("hand_a", "train", "--resume", w2, "--epochs", "4", "--lr", "0.02", NULL);
    CHECK(rc == 2 && strstr(err_text, "--lr 0.02 conflicts") && strstr(err_text, "(--lr 0.01)"),
          "resume: a conflicting option is a usage error", "exit %d: %s", rc, err_text);
    rc = run("hand_a", "train", "--resume", w2, "--stop-after", "2", NULL);
    CHECK(rc == 2 && strstr(err_text, "finished its 3 epochs"),
          "resume: a finished run needs a larger --epochs", "exit %d: %s", rc, err_text);
    rc = run("hand_a", "train", "--resume", w2, "--epochs", "4", "--stop-after", "2", NULL);
    CHECK(rc == 2 && strstr(err_text, "--stop-after 2 is step") && strstr(err_text, "already"),
          "resume: --stop-after before the checkpoint", "exit %d: %s", rc, err_text);
    rc = run("hand_a", "train", "--resume", w2, "--epochs", "4", "--batch", "16", "--optimizer",
             "adamw", "--shift", "1", NULL);
    CHECK(rc == 0, "resume: extended, options equal to the saved ones accepted", "exit %d: %s",
          rc, err_text);

    rn_interp_free(state);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    CHECK_DONE();
}
