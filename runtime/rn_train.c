/* rn_train.c - the training loop and evaluation of the built program.
 *
 * One training step is the textbook sequence over the model's entry
 * points: zero the gradients, forward (train mode), softmax cross-entropy
 * with label smoothing on the logits, backward, one optimizer update with
 * the schedule's learning rate.  After each epoch the test set is run in
 * inference mode and one line is printed (and, with --log-dir, one row of
 * metrics.csv).  A loss that is not finite stops the run before anything
 * is saved; the weights are written once, at the end, atomically.
 *
 * Randomness comes from the seed alone: weights from rn_rng_seed(seed),
 * shuffling and augmentation from the batcher's (seed, epoch, position)
 * streams, so the same seed gives the same run.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rn_driver.h"
#include "rn_interp.h"
#include "rn_kernels.h"
#include "rn_rng.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- shared pieces ------------------------------------------------------- */

void rn_train_args_defaults(const RnModel *m, RnTrainArgs *a)
{
    const RnTrainDefaults *d = &m->defaults;
    memset(a, 0, sizeof *a);
    a->epochs = d->epochs > 0 ? d->epochs : 10;
    a->batch = d->batch > 0 ? d->batch : 64;
    a->lr = d->lr > 0 ? d->lr : 0.1f;
    a->optimizer = (unsigned)d->optimizer < RN_OPT_COUNT ? (RnOptKind)d->optimizer : RN_OPT_SGD;
    a->momentum = d->momentum;
    a->nesterov = d->nesterov;
    a->weight_decay = d->weight_decay;
    a->schedule = (unsigned)d->schedule < RN_SCHED_COUNT ? (RnSchedKind)d->schedule
                                                          : RN_SCHED_CONSTANT;
    a->warmup = d->warmup;
    a->label_smoothing = d->label_smoothing;
    a->shift = d->shift;
    a->flip = d->flip;
    a->seed = d->seed;
}

int rn_exec_alloc(const RnModel *m, int N_max, RnExec *e)
{
    memset(e, 0, sizeof *e);
    long work = rn_model_work_floats(m, N_max);
    e->N_max = N_max;
    e->params = calloc((size_t)m->param_floats + 1, sizeof(float));
    e->grads = calloc((size_t)m->param_floats + 1, sizeof(float));
    e->work = calloc((size_t)(work > 0 ? work : 0) + 1, sizeof(float));
    e->logits = calloc((size_t)N_max * (size_t)m->classes, sizeof(float));
    if (!e->params || !e->grads || !e->work || !e->logits) {
        rn_exec_free(e);
        return -1;
    }
    return 0;
}

void rn_exec_free(RnExec *e)
{
    free(e->params);
    free(e->grads);
    free(e->work);
    free(e->logits);
    memset(e, 0, sizeof *e);
}

void rn_model_norm(const RnModel *m, float *mean, float *std)
{
    const RnTrainDefaults *d = &m->defaults;
    for (int c = 0; c < m->in_c; c++) {
        int k = d->nmean == 1 ? 0 : c;
        int have = d->nmean == 1 || (d->nmean > c && c < 4);
        mean[c] = have ? d->mean[k] : 0.0f;
        std[c] = have && d->std[k] > 0 ? d->std[k] : 1.0f;
    }
}

static int argmax(const float *z, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (z[j] > z[best])
            best = j;
    return best;
}

int rn_evaluate(const RnModel *m, RnExec *e, const RnDataset *ds, int B, const float *mean,
                const float *std, double *loss, double *acc, long *correct, long *total)
{
    int C = m->classes;
    long img = (long)ds->c * ds->h * ds->w;
    if (B > e->N_max)
        B = e->N_max;
    float *x = malloc(sizeof(float) * (size_t)B * (size_t)img);
    float *probs = malloc(sizeof(float) * (size_t)B * (size_t)C);
    int *y = malloc(sizeof(int) * (size_t)B);
    uint32_t *idx = malloc(sizeof(uint32_t) * (size_t)B);
    if (!x || !probs || !y || !idx) {
        free(x), free(probs), free(y), free(idx);
        return -1;
    }
    if (correct)
        memset(correct, 0, sizeof(long) * (size_t)C);
    if (total)
        memset(total, 0, sizeof(long) * (size_t)C);
    double sum_loss = 0;
    long right = 0;
    for (int i = 0; i < ds->n; i += B) {
        int n = ds->n - i < B ? ds->n - i : B;
        for (int k = 0; k < n; k++)
            idx[k] = (uint32_t)(i + k);
        rn_batch_fill(ds, idx, n, mean, std, 0, 0, NULL, x, y);
        m->forward(e, x, n, 0);
        sum_loss += (double)rn_ref_softmax_xent_forward(probs, e->logits, y, n, C, 0.0f) * n;
        for (int k = 0; k < n; k++) {
            int ok = argmax(e->logits + (long)k * C, C) == y[k];
            right += ok;
            if (y[k] >= 0 && y[k] < C) {
                if (correct)
                    correct[y[k]] += ok;
                if (total)
                    total[y[k]]++;
            }
        }
    }
    *loss = ds->n ? sum_loss / ds->n : 0.0;
    *acc = ds->n ? (double)right / ds->n : 0.0;
    free(x), free(probs), free(y), free(idx);
    return 0;
}

/* mkdir -p; 0, or -1 with errno set */
static int make_dirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (stat(buf, &st) != 0) {
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
        } else if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
        buf[i] = saved;
    }
    return 0;
}

/* the directory `path` would be written into exists and is a directory */
static int check_parent_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat st;
    if (stat(dir, &st) != 0) {
        rn_errorf("%s: cannot save there: directory %s: %s", path, dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        rn_errorf("%s: cannot save there: %s is not a directory", path, dir);
        return -1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        rn_errorf("%s: is a directory, not a weights file", path);
        return -1;
    }
    return 0;
}

static int load_split(const RnModel *m, const char *dir, int train, RnDataset *ds)
{
    char err[512];
    if (rn_dataset_load(dir, train, ds, err, sizeof err) ||
        rn_dataset_check(ds, m->in_c, m->in_h, m->in_w, m->classes, err, sizeof err)) {
        rn_errorf("%s", err);
        rn_dataset_free(ds);
        return -1;
    }
    if (ds->n < 1) {
        rn_errorf("%s: no images", ds->images_path);
        rn_dataset_free(ds);
        return -1;
    }
    return 0;
}

/* ---- train --------------------------------------------------------------- */

static int check_train_args(const RnModel *m, const RnTrainArgs *a, RnOptim *o, RnSchedule *s)
{
    const RnTrainDefaults *d = &m->defaults;
    const char *why = NULL;
    char buf[160];
    if (!a->data)
        why = "--data is required";
    else if (a->epochs < 1)
        why = "--epochs must be at least 1";
    else if (a->batch < 1)
        why = "--batch must be at least 1";
    else if (!(a->lr > 0) || isinf(a->lr))
        why = "--lr must be a number > 0";
    else if (!(a->label_smoothing >= 0 && a->label_smoothing < 1))
        why = "--label-smoothing must be in [0, 1)";
    else if (a->shift < 0 || a->shift >= m->in_h || a->shift >= m->in_w) {
        snprintf(buf, sizeof buf, "--shift must be in [0, %d) for %dx%d images",
                 m->in_h < m->in_w ? m->in_h : m->in_w, m->in_h, m->in_w);
        why = buf;
    } else if (a->threads < 0)
        why = "--threads must be at least 1 (0: OpenMP's default)";
    else if (a->limit < 0)
        why = "--limit must be at least 1 (0: all images)";
    if (why) {
        rn_errorf("train: %s", why);
        return 2;
    }

    *o = rn_optim_defaults(a->optimizer);
    o->momentum = a->momentum;
    o->nesterov = a->nesterov;
    o->weight_decay = a->weight_decay;
    o->decoupled_wd = d->decoupled;
    o->no_decay_bn_bias = d->no_decay_bn_bias;
    if (d->beta1 > 0)
        o->beta1 = d->beta1;
    if (d->beta2 > 0)
        o->beta2 = d->beta2;
    if (d->eps > 0)
        o->eps = d->eps;
    if (o->kind != RN_OPT_SGD)
        o->nesterov = 0, o->momentum = 0; /* SGD's options; the model's may name them */
    if ((why = rn_optim_check(o))) {
        rn_errorf("train: optimizer %s: %s", rn_optim_kind_name(o->kind), why);
        return 2;
    }

    *s = rn_schedule_defaults(a->schedule);
    s->base_lr = a->lr;
    s->warmup_epochs = a->warmup;
    s->min_lr = d->min_lr;
    if (d->step_epochs > 0)
        s->step_epochs = d->step_epochs;
    if (d->gamma > 0)
        s->gamma = d->gamma;
    if (s->kind == RN_SCHED_COSINE && s->min_lr > s->base_lr)
        s->min_lr = 0; /* a --lr below the model's floor: decay to 0 instead */
    if ((why = rn_schedule_check(s))) {
        rn_errorf("train: schedule %s: %s", rn_sched_kind_name(s->kind), why);
        return 2;
    }
    return 0;
}

typedef struct {
    RnDataset train, test;
    RnBatcher batcher;
    int have_batcher;
    RnExec e;
    float *mbuf, *vbuf, *x, *probs, *dlogits;
    int *y;
    FILE *csv;
    char *save_path, *csv_path;
    int bound;
} TrainState;

static void train_state_free(TrainState *t)
{
    if (t->have_batcher)
        rn_batcher_free(&t->batcher);
    rn_dataset_free(&t->train);
    rn_dataset_free(&t->test);
    rn_exec_free(&t->e);
    free(t->mbuf), free(t->vbuf), free(t->x), free(t->probs), free(t->dlogits), free(t->y);
    if (t->csv)
        fclose(t->csv);
    free(t->save_path), free(t->csv_path);
    if (t->bound)
        rn_interp_unbind();
}

static char *path_join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", file);
    return p;
}

int rn_train_run(const RnModel *m0, const RnTrainArgs *a)
{
    RnOptim o;
    RnSchedule sched;
    int rc = check_train_args(m0, a, &o, &sched);
    if (rc)
        return rc;
    rn_set_threads(a->threads);

    TrainState t;
    memset(&t, 0, sizeof t);
    rc = 1;
    const RnModel *m = m0;
    RnModel ref;
    char err[512];

    /* where things go, checked before any work is done */
    if (a->log_dir) {
        if (make_dirs(a->log_dir)) {
            rn_errorf("%s: cannot create the log directory: %s", a->log_dir, strerror(errno));
            goto out;
        }
        t.csv_path = path_join(a->log_dir, "metrics.csv");
    }
    if (a->save)
        t.save_path = strdup(a->save);
    else if (a->log_dir)
        t.save_path = path_join(a->log_dir, "model.safetensors");
    else {
        size_t n = strlen(m->name) + 16;
        if ((t.save_path = malloc(n)))
            snprintf(t.save_path, n, "%s.safetensors", m->name);
    }
    if (!t.save_path || (a->log_dir && !t.csv_path)) {
        rn_errorf("out of memory");
        goto out;
    }
    if (check_parent_dir(t.save_path))
        goto out;

    if (load_split(m, a->data, 1, &t.train) || load_split(m, a->data, 0, &t.test))
        goto out;
    if (a->limit > 0 && a->limit < t.train.n)
        t.train.n = (int)a->limit;

    int B = a->batch;
    if (a->reference) {
        if (rn_interp_bind(m0, B, &ref, err, sizeof err)) {
            rn_errorf("%s", err);
            goto out;
        }
        t.bound = 1;
        m = &ref;
    }

    float mean[64], std[64];
    if (m->in_c > 64) {
        rn_errorf("model '%s' has %d input channels; at most 64 are supported", m->name, m->in_c);
        goto out;
    }
    rn_model_norm(m, mean, std);
    RnBatchConfig cfg = { .batch = B, .drop_last = 0, .shuffle = 1, .seed = (uint64_t)a->seed,
                          .mean = mean, .std = std, .pad = a->shift, .flip = a->flip };
    if (rn_batcher_init(&t.batcher, &t.train, &cfg, err, sizeof err)) {
        rn_errorf("%s", err);
        goto out;
    }
    t.have_batcher = 1;

    long img = (long)m->in_c * m->in_h * m->in_w;
    int C = m->classes;
    if (rn_exec_alloc(m, B, &t.e) ||
        !(t.mbuf = calloc((size_t)m->param_floats + 1, sizeof(float))) ||
        (rn_optim_state_count(&o) > 1 &&
         !(t.vbuf = calloc((size_t)m->param_floats + 1, sizeof(float)))) ||
        !(t.x = malloc(sizeof(float) * (size_t)B * (size_t)img)) ||
        !(t.probs = malloc(sizeof(float) * (size_t)B * (size_t)C)) ||
        !(t.dlogits = malloc(sizeof(float) * (size_t)B * (size_t)C)) ||
        !(t.y = malloc(sizeof(int) * (size_t)B))) {
        rn_errorf("out of memory for batch %d of model '%s'", B, m->name);
        goto out;
    }

    RnRng rng;
    rn_rng_seed(&rng, (uint64_t)a->seed);
    rn_init_params(m, t.e.params, &rng);

    if (t.csv_path) {
        t.csv = fopen(t.csv_path, "w");
        if (!t.csv) {
            rn_errorf("%s: cannot write: %s", t.csv_path, strerror(errno));
            goto out;
        }
        fprintf(t.csv, "epoch,step,train_loss,train_acc,test_loss,test_acc,lr,images_per_s\n");
    }

    long S = rn_batcher_batches(&t.batcher);
    if (!a->quiet)
        printf("train %s (%s): %d training images, %d test, batch %d, %ld steps/epoch, "
               "%d epoch%s, %s lr %g %s, %d thread%s\n",
               m->name, m->backend, t.train.n, t.test.n, B, S, a->epochs,
               a->epochs == 1 ? "" : "s", rn_optim_kind_name(o.kind), (double)a->lr, rn_sched_kind_name(sched.kind),
               rn_threads(), rn_threads() == 1 ? "" : "s");

    long step = 0;
    double test_acc = 0, test_loss = 0;
    float lr = 0;
    for (int epoch = 0; epoch < a->epochs; epoch++) {
        double t0 = now_s();
        rn_batcher_begin_epoch(&t.batcher, epoch);
        double sum_loss = 0;
        long seen = 0, right = 0;
        int n;
        for (int k = 0; (n = rn_batcher_next(&t.batcher, t.x, t.y)) > 0; k++, step++) {
            memset(t.e.grads, 0, sizeof(float) * (size_t)m->param_floats);
            m->forward(&t.e, t.x, n, 1);
            float loss = rn_ref_softmax_xent_forward(t.probs, t.e.logits, t.y, n, C,
                                                     a->label_smoothing);
            if (!isfinite(loss)) {
                rn_errorf("training diverged: the loss is %s at epoch %d, step %d of %ld "
                          "(global step %ld); nothing was saved (try a lower --lr)",
                          isnan(loss) ? "nan" : "infinite", epoch + 1, k + 1, S, step + 1);
                goto out;
            }
            sum_loss += (double)loss * n;
            seen += n;
            for (int i = 0; i < n; i++)
                right += argmax(t.e.logits + (long)i * C, C) == t.y[i];
            rn_ref_softmax_xent_backward(t.dlogits, t.probs, t.y, n, C, a->label_smoothing);
            m->backward(&t.e, t.dlogits, n);
            lr = rn_lr_at(&sched, step, S, a->epochs);
            m->update(&t.e, &o, lr, step + 1, t.mbuf, t.vbuf);
        }
        double t1 = now_s();
        if (rn_evaluate(m, &t.e, &t.test, B, mean, std, &test_loss, &test_acc, NULL, NULL)) {
            rn_errorf("out of memory while evaluating");
            goto out;
        }
        if (!isfinite(test_loss)) {
            rn_errorf("training diverged: the test loss is not finite after epoch %d; nothing "
                      "was saved (try a lower --lr)", epoch + 1);
            goto out;
        }
        double t2 = now_s();
        double ips = t1 > t0 ? (double)seen / (t1 - t0) : 0.0;
        double train_loss = seen ? sum_loss / seen : 0, train_acc = seen ? (double)right / seen : 0;
        if (!a->quiet) {
            printf("epoch %*d/%d  loss %.4f  acc %6.2f%%  test acc %6.2f%%  test loss %.4f  "
                   "%.0f img/s  %.1f s\n",
                   a->epochs >= 100 ? 3 : a->epochs >= 10 ? 2 : 1, epoch + 1, a->epochs,
                   train_loss, 100 * train_acc, 100 * test_acc, test_loss, ips, t2 - t0);
            fflush(stdout);
        }
        if (t.csv) {
            fprintf(t.csv, "%d,%ld,%.6f,%.6f,%.6f,%.6f,%.6g,%.1f\n", epoch + 1, step, train_loss,
                    train_acc, test_loss, test_acc, (double)lr, ips);
            fflush(t.csv);
        }
    }

    if (t.csv) {
        int bad = ferror(t.csv);
        bad |= fclose(t.csv) != 0;
        t.csv = NULL;
        if (bad) {
            rn_errorf("%s: write failed: %s", t.csv_path, strerror(errno));
            goto out;
        }
    }

    char s_epochs[32], s_acc[32], s_seed[32], s_steps[32];
    snprintf(s_epochs, sizeof s_epochs, "%d", a->epochs);
    snprintf(s_acc, sizeof s_acc, "%.4f", test_acc);
    snprintf(s_seed, sizeof s_seed, "%ld", a->seed);
    snprintf(s_steps, sizeof s_steps, "%ld", step);
    rn_st_kv meta[] = {
        { "epochs", s_epochs },
        { "test_accuracy", s_acc },
        { "seed", s_seed },
        { "steps", s_steps },
    };
    if (rn_ckpt_save(m, t.e.params, t.save_path, meta, 4, err, sizeof err)) {
        rn_errorf("%s", err);
        goto out;
    }
    if (!a->quiet)
        printf("saved %s (test accuracy %.2f%%)\n", t.save_path, 100 * test_acc);
    rc = 0;
out:
    train_state_free(&t);
    return rc;
}

/* ---- eval ---------------------------------------------------------------- */

int rn_eval_run(const RnModel *m0, const RnEvalArgs *a)
{
    if (!a->data || !a->weights) {
        rn_errorf("eval: --data and --weights are required");
        return 2;
    }
    if (a->batch < 1) {
        rn_errorf("eval: --batch must be at least 1");
        return 2;
    }
    if (a->threads < 0) {
        rn_errorf("eval: --threads must be at least 1 (0: OpenMP's default)");
        return 2;
    }
    rn_set_threads(a->threads);
    const RnModel *m = m0;
    RnModel ref;
    RnDataset test = { 0 };
    RnExec e = { 0 };
    long *correct = NULL, *total = NULL;
    char err[512];
    int rc = 1, bound = 0, differs = 0;
    float mean[64], std[64];
    if (m->in_c > 64) {
        rn_errorf("model '%s' has %d input channels; at most 64 are supported", m->name, m->in_c);
        return 1;
    }
    rn_model_norm(m, mean, std);

    if (load_split(m, a->data, 0, &test))
        goto out;
    if (a->reference) {
        if (rn_interp_bind(m0, a->batch, &ref, err, sizeof err)) {
            rn_errorf("%s", err);
            goto out;
        }
        bound = 1;
        m = &ref;
    }
    correct = calloc((size_t)m->classes, sizeof *correct);
    total = calloc((size_t)m->classes, sizeof *total);
    if (!correct || !total || rn_exec_alloc(m, a->batch, &e)) {
        rn_errorf("out of memory for batch %d of model '%s'", a->batch, m->name);
        goto out;
    }
    if (rn_ckpt_load(m, e.params, a->weights, &differs, err, sizeof err)) {
        rn_errorf("%s", err);
        goto out;
    }
    if (differs)
        rn_warnf("%s: saved from a different source of model '%s' (source hash differs)",
                 a->weights, m->name);
    double loss, acc;
    if (rn_evaluate(m, &e, &test, a->batch, mean, std, &loss, &acc, correct, total)) {
        rn_errorf("out of memory while evaluating");
        goto out;
    }
    long right = 0;
    for (int k = 0; k < m->classes; k++)
        right += correct[k];
    printf("test set   %s (%d images)\n", test.images_path, test.n);
    printf("weights    %s\n", a->weights);
    printf("accuracy   %.2f%% (%ld/%d)\n", 100 * acc, right, test.n);
    printf("mean loss  %.4f\n", loss);
    printf("per class:\n");
    for (int k = 0; k < m->classes; k++) {
        if (total[k])
            printf("  %4d  %6.2f%%  (%ld/%ld)\n", k, 100.0 * (double)correct[k] / (double)total[k],
                   correct[k], total[k]);
        else
            printf("  %4d       -   (no images)\n", k);
    }
    rc = 0;
out:
    free(correct);
    free(total);
    rn_exec_free(&e);
    rn_dataset_free(&test);
    if (bound)
        rn_interp_unbind();
    return rc;
}
