/* test_driver.c - the built program's driver (train, eval, predict, info,
 * check and the command line) on hand_model.h's model A, whose entry points
 * are thin wrappers over the reference interpreter, and a tiny synthetic
 * data set written as IDX files into a temporary directory.
 *
 * Each command runs through rn_cli_main exactly as main() would call it,
 * with stdout and stderr captured, so the tests see exit statuses and the
 * messages a user would see.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "hand_model.h"
#include "rn_driver.h"
#include "rn_image.h"
#include "rn_interp.h"

static RnModel model;           /* model A with the wrappers below */
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

static char dir[256];           /* the temporary directory */
static char out_text[65536], err_text[65536];

static void path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static void slurp(const char *file, char *buf, size_t n)
{
    FILE *f = fopen(file, "rb");
    size_t k = f ? fread(buf, 1, n - 1, f) : 0;
    buf[k] = '\0';
    if (f)
        fclose(f);
}

/* run rn_cli_main on a NULL-terminated argument list, capturing its output */
static int run(const char *arg0, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;

    char fo[300], fe[300];
    path(fo, sizeof fo, "stdout.txt");
    path(fe, sizeof fe, "stderr.txt");
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    FILE *o = freopen(fo, "w", stdout);
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
    slurp(fo, out_text, sizeof out_text);
    slurp(fe, err_text, sizeof err_text);
    return rc;
}

/* 3 classes of 6x6 images: a bright 2x2 square at one of three places, on noise */
static void write_split(const char *img_name, const char *lbl_name, int n, uint64_t seed)
{
    uint8_t *img = calloc((size_t)n, 36), *lbl = malloc((size_t)n);
    RnRng r;
    rn_rng_seed(&r, seed);
    static const int at[3][2] = { { 0, 0 }, { 2, 2 }, { 4, 4 } };
    for (int i = 0; i < n; i++) {
        int k = (int)rn_rng_below(&r, 3);
        lbl[i] = (uint8_t)k;
        for (int p = 0; p < 36; p++)
            img[i * 36 + p] = (uint8_t)rn_rng_below(&r, 60);
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++)
                img[i * 36 + (at[k][0] + dy) * 6 + at[k][1] + dx] = 200 + rn_rng_below(&r, 56);
    }
    char p1[300], p2[300], err[256];
    path(p1, sizeof p1, img_name);
    path(p2, sizeof p2, lbl_name);
    uint32_t di[3] = { (uint32_t)n, 6, 6 }, dl[1] = { (uint32_t)n };
    if (rn_idx_save(p1, 3, di, img, 0, err, sizeof err) ||
        rn_idx_save(p2, 1, dl, lbl, 1, err, sizeof err))
        fprintf(stderr, "%s\n", err);
    free(img);
    free(lbl);
}

static int file_equals(const char *file, const char *bytes, size_t n)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return 0;
    char *buf = malloc(n + 1);
    size_t k = fread(buf, 1, n + 1, f);
    fclose(f);
    int same = k == n && !memcmp(buf, bytes, n);
    free(buf);
    return same;
}

static char *read_all(const char *file, size_t *n)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

int main(void)
{
    char err[512];
    model = hand_model_a();
    model.forward = w_forward;
    model.backward = w_backward;
    model.update = w_update;
    state = rn_interp_new(&model, 64, err, sizeof err);
    snprintf(dir, sizeof dir, "/tmp/rnet_test_driver.XXXXXX");
    if (!state || !mkdtemp(dir)) {
        printf("FAIL setup: %s\n", state ? "mkdtemp" : err);
        return 1;
    }
    write_split("train-images-idx3-ubyte", "train-labels-idx1-ubyte.gz", 150, 1);
    write_split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 45, 2);
    char weights[300], logdir[300], csv[300], saved[300], pgm[300], pgm8[300], idxref[320];
    path(weights, sizeof weights, "w.safetensors");
    path(logdir, sizeof logdir, "logs/run1");
    path(csv, sizeof csv, "logs/run1/metrics.csv");
    path(saved, sizeof saved, "logs/run1/model.safetensors");
    path(pgm, sizeof pgm, "digit.pgm");
    path(pgm8, sizeof pgm8, "big.pgm");
    snprintf(idxref, sizeof idxref, "%s/t10k-images-idx3-ubyte:3", dir);

    /* ---- train ---- */
    int rc = run("hand_a", "train", "--data", dir, "--epochs", "4", "--batch", "16", "--lr",
                 "0.1", "--save", weights, "--seed", "3", NULL);
    CHECK(rc == 0, "train: runs", "exit %d: %s", rc, err_text);
    CHECK(strstr(out_text, "epoch 4/4") && strstr(out_text, "img/s") &&
              strstr(out_text, "test acc"),
          "train: one line per epoch", "output: %s", out_text);
    rn_st_file *f = NULL;
    const char *acc = NULL;
    if (rn_st_open(&f, weights, err, sizeof err) == 0)
        acc = rn_st_meta(f, "test_accuracy");
    CHECK(f && acc && atof(acc) > 0.9 && !strcmp(rn_st_meta(f, "format"), "rnet-1") &&
              !strcmp(rn_st_meta(f, "model"), "hand_a") &&
              !strcmp(rn_st_meta(f, "source_hash"), "0123456789abcdef") &&
              !strcmp(rn_st_meta(f, "epochs"), "4") && rn_st_count(f) == model.nparams &&
              rn_st_find(f, "layer1.0.bn1.running_var"),
          "train: checkpoint with metadata and running stats", "acc %s, %s", acc ? acc : "-",
          f ? "" : err);
    double meta_acc = acc ? atof(acc) : -1;
    rn_st_close(f);

    /* the saved weights give the accuracy the run reported */
    RnExec e;
    rn_exec_alloc(&model, 64, &e);
    RnDataset test;
    rn_dataset_load(dir, 0, &test, err, sizeof err);
    float mean[1], std[1];
    rn_model_norm(&model, mean, std);
    double loss = -1, a2 = -1;
    int lrc = rn_ckpt_load(&model, e.params, weights, NULL, err, sizeof err);
    rn_evaluate(&model, &e, &test, 7, mean, std, &loss, &a2, NULL, NULL);
    CHECK(lrc == 0 && fabs(a2 - meta_acc) < 1e-4 && loss > 0 && loss < 1,
          "ckpt: load + evaluate reproduces the accuracy", "%s; acc %g vs %g, loss %g",
          lrc ? err : "", a2, meta_acc, loss);

    /* the same run with --reference (the bound interpreter) gives the same weights */
    char weights2[300];
    path(weights2, sizeof weights2, "w2.safetensors");
    rc = run("hand_a", "train", "--data", dir, "--epochs", "4", "--batch", "16", "--lr", "0.1",
             "--save", weights2, "--seed", "3", "--reference", NULL);
    RnExec e2;
    rn_exec_alloc(&model, 1, &e2);
    lrc = rc == 0 ? rn_ckpt_load(&model, e2.params, weights2, NULL, err, sizeof err) : -1;
    CHECK(rc == 0 && lrc == 0 &&
              !memcmp(e.params, e2.params, sizeof(float) * (size_t)model.param_floats) &&
              strstr(out_text, "reference"),
          "train --reference: same weights through the bound interpreter", "exit %d %s", rc,
          err_text);
    rn_exec_free(&e2);

    /* log dir: created, metrics.csv, default save path inside it */
    rc = run("hand_a", "train", "--data", dir, "--epochs", "2", "--log-dir", logdir, "--limit",
             "40", "--optimizer", "adamw", "--lr", "0.01", "--schedule", "onecycle",
             "--label-smoothing", "0.1", "--shift", "1", "--flip", "--threads", "1", NULL);
    char text[4096];
    slurp(csv, text, sizeof text);
    struct stat sb;
    CHECK(rc == 0 && count_lines(text) == 3 &&
              !strncmp(text, "epoch,step,train_loss,train_acc,test_loss,test_acc,lr,images_per_s\n",
                       67) &&
              !strncmp(text + 67, "1,5,", 4) && stat(saved, &sb) == 0,
          "train --log-dir: metrics.csv and model.safetensors", "exit %d %s; csv: %s", rc,
          err_text, text);

    /* a diverging run stops, names epoch and step, and keeps the old file */
    size_t n0 = 0;
    char *before = read_all(weights, &n0);
    rc = run("hand_a", "train", "--data", dir, "--epochs", "2", "--lr", "1e30", "--save",
             weights, "--optimizer", "sgd", NULL);
    CHECK(rc == 1 && strstr(err_text, "hand_a: error: training diverged") &&
              strstr(err_text, "epoch 1") && strstr(err_text, "step") && before &&
              file_equals(weights, before, n0),
          "train: NaN loss stops the run, nothing saved", "exit %d: %s", rc, err_text);
    free(before);

    /* data that does not fit the model */
    char wrong[300];
    path(wrong, sizeof wrong, "wrong");
    mkdir(wrong, 0777);
    {
        char p1[400], p2[400];
        snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte", wrong);
        snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte", wrong);
        uint8_t px[2 * 7 * 7] = { 0 }, lb[2] = { 0, 1 };
        uint32_t di[3] = { 2, 7, 7 }, dl[1] = { 2 };
        rn_idx_save(p1, 3, di, px, 0, err, sizeof err);
        rn_idx_save(p2, 1, dl, lb, 0, err, sizeof err);
    }
    rc = run("hand_a", "train", "--data", wrong, NULL);
    CHECK(rc == 1 && strstr(err_text, "train-images-idx3-ubyte") && strstr(err_text, "7x7") &&
              strstr(err_text, "6x6"),
          "train: data of another shape names file and shapes", "exit %d: %s", rc, err_text);

    /* ---- eval ---- */
    rc = run("hand_a", "eval", "--data", dir, "--weights", weights, NULL);
    CHECK(rc == 0 && strstr(out_text, "accuracy") && strstr(out_text, "mean loss") &&
              strstr(out_text, "per class"),
          "eval: accuracy, loss, per class", "exit %d: %s %s", rc, out_text, err_text);

    /* checkpoints of another model, a wrong shape, a missing tensor */
    char other[300], bad[300];
    path(other, sizeof other, "other.safetensors");
    path(bad, sizeof bad, "bad.safetensors");
    RnModel b = hand_model_b();
    float pb[HAND_B_FLOATS] = { 0 };
    rn_ckpt_save(&b, pb, other, NULL, 0, err, sizeof err);
    rc = run("hand_a", "eval", "--data", dir, "--weights", other, NULL);
    CHECK(rc == 1 && strstr(err_text, "hand_b") && strstr(err_text, "hand_a") &&
              strstr(err_text, "other.safetensors"),
          "eval: refuses another model's weights", "exit %d: %s", rc, err_text);
    {
        float w[15] = { 0 };
        rn_st_entry t[1] = { { .name = "fc.weight", .dtype = RN_ST_F32, .ndim = 2,
                               .shape = { 3, 5 }, .data = w } };
        rn_st_kv kv[1] = { { "model", "hand_a" } };
        rn_st_write(bad, t, 1, kv, 1, err, sizeof err);
    }
    rc = run("hand_a", "eval", "--data", dir, "--weights", bad, NULL);
    CHECK(rc == 1 && strstr(err_text, "bad.safetensors") && strstr(err_text, "conv1.weight"),
          "eval: a missing tensor is named", "exit %d: %s", rc, err_text);
    lrc = rn_ckpt_load(&model, e.params, bad, NULL, err, sizeof err);
    (void)lrc;
    {
        /* every tensor present, fc.weight the wrong shape */
        rn_st_entry t[16];
        for (int i = 0; i < model.nparams; i++) {
            const RnParamInfo *p = &model.params[i];
            t[i] = (rn_st_entry){ .name = p->name, .dtype = RN_ST_F32, .ndim = p->ndim,
                                  .data = e.params + p->offset };
            for (int d = 0; d < p->ndim; d++)
                t[i].shape[d] = p->shape[d];
        }
        t[10].shape[0] = 4, t[10].shape[1] = 3;
        rn_st_write(bad, t, model.nparams, NULL, 0, err, sizeof err);
    }
    rc = run("hand_a", "eval", "--data", dir, "--weights", bad, NULL);
    CHECK(rc == 1 && strstr(err_text, "fc.weight") && strstr(err_text, "[4,3]") &&
              strstr(err_text, "[3,4]"),
          "eval: a wrong shape names the tensor and both shapes", "exit %d: %s", rc, err_text);

    /* ---- predict ---- */
    rc = run("hand_a", "predict", "--weights", weights, idxref, NULL);
    CHECK(rc == 0 && strstr(out_text, ":3: class ") && strstr(out_text, "top:"),
          "predict: an IDX entry", "exit %d: %s %s", rc, out_text, err_text);
    /* the same image as a PGM file gives the same answer */
    {
        uint8_t px[36];
        memcpy(px, test.images + 3 * 36, 36);
        rn_image im = { 6, 6, 1, px };
        rn_pgm_write(pgm, &im, err, sizeof err);
        uint8_t big[64] = { 0 };
        rn_image im8 = { 8, 8, 1, big };
        rn_pgm_write(pgm8, &im8, err, sizeof err);
    }
    char first[256] = "";
    const char *colon = strstr(out_text, ": class ");
    if (colon)
        snprintf(first, sizeof first, "%.*s", (int)strcspn(colon, "\n"), colon);
    rc = run("hand_a", "predict", "--weights", weights, pgm, NULL);
    CHECK(rc == 0 && first[0] && strstr(out_text, first), "predict: a PGM image, same answer",
          "exit %d: '%s' vs '%s' %s", rc, out_text, first, err_text);
    rc = run("hand_a", "predict", "--weights", weights, pgm8, NULL);
    CHECK(rc == 1 && strstr(err_text, "big.pgm") && strstr(err_text, "8x8") &&
              strstr(err_text, "--resize"),
          "predict: a wrong size is refused", "exit %d: %s", rc, err_text);
    rc = run("hand_a", "predict", "--weights", weights, "--resize", "--top", "2", pgm8, NULL);
    CHECK(rc == 0 && strstr(out_text, "big.pgm: class"), "predict: --resize",
          "exit %d: %s %s", rc, out_text, err_text);
    char oob[320];
    snprintf(oob, sizeof oob, "%s/t10k-images-idx3-ubyte:45", dir);
    rc = run("hand_a", "predict", "--weights", weights, oob, NULL);
    CHECK(rc == 1 && strstr(err_text, "out of range"), "predict: IDX index out of range",
          "exit %d: %s", rc, err_text);
    rc = run("hand_a", "predict", "--weights", weights, "/nonexistent/x.png", NULL);
    CHECK(rc == 1 && strstr(err_text, "/nonexistent/x.png"), "predict: a missing file",
          "exit %d: %s", rc, err_text);

    /* ---- info, check ---- */
    rc = run("hand_a", "info", NULL);
    CHECK(rc == 0 && strstr(out_text, "layer1.0.conv1") && strstr(out_text, "4x3x3") &&
              strstr(out_text, "211 trainable") && strstr(out_text, "denormals") &&
              strstr(out_text, "threads"),
          "info: layer table and totals", "exit %d: %s", rc, out_text);
    rc = run("hand_a", "check", "--batch", "3", NULL);
    CHECK(rc == 0 && strstr(out_text, "check passed"), "check: via the command line",
          "exit %d: %s", rc, out_text);

    /* ---- usage errors: exit 2, one line ---- */
    static const struct {
        const char *name, *args[8], *want;
    } usage[] = {
        { "usage: unknown command", { "frobnicate" }, "unknown command 'frobnicate'" },
        { "usage: unknown option", { "train", "--data", "x", "--bogus" }, "unknown option '--bogus'" },
        { "usage: missing --data", { "train" }, "--data is required" },
        { "usage: bad integer", { "train", "--data", "x", "--epochs", "ten" }, "'ten' is not an integer" },
        { "usage: bad optimizer", { "train", "--data", "x", "--optimizer", "rmsprop" }, "sgd, adam, adamw" },
        { "usage: nesterov without momentum", { "train", "--data", "x", "--momentum", "0", "--nesterov" }, "nesterov" },
        { "usage: missing value", { "eval", "--data" }, "--data needs a value" },
        { "usage: predict without input", { "predict", "--weights", "w" }, "missing INPUT" },
        { "usage: stray argument", { "info", "extra" }, "unexpected argument 'extra'" },
    };
    for (size_t k = 0; k < sizeof usage / sizeof usage[0]; k++) {
        const char *const *a = usage[k].args;
        rc = run("hand_a", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
        CHECK(rc == 2 && strstr(err_text, usage[k].want) && count_lines(err_text) == 1 &&
                  !strncmp(err_text, "hand_a: error: ", 15),
              usage[k].name, "exit %d: %s", rc, err_text);
    }
    rc = run("hand_a", "train", "--help", NULL);
    CHECK(rc == 0 && strstr(out_text, "--label-smoothing") && strstr(out_text, "(default 3)"),
          "usage: train --help shows options and defaults", "exit %d: %s", rc, out_text);
    rc = run("hand_a", NULL);
    CHECK(rc == 2 && strstr(err_text, "usage:"), "usage: no command", "exit %d", rc);

    rn_exec_free(&e);
    rn_dataset_free(&test);
    rn_interp_free(state);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    CHECK_DONE();
}
