/* rn_train.c - the training loop and evaluation of the built program.
 *
 * One training step is the textbook sequence over the model's entry
 * points: zero the gradients, forward (train mode), softmax cross-entropy
 * with label smoothing on the logits, backward, one optimizer update with
 * the schedule's learning rate.  After each epoch the test set is run in
 * inference mode and one line is printed; inside an epoch a progress line
 * (rn_progress.c) shows how far it is.  With --log-dir every epoch is also
 * a row of metrics.csv and an event in a TensorBoard file (rn_tblog.h),
 * and every --log-every steps the recent loss and the learning rate are
 * a row of steps.csv and another event.  A loss that is not finite stops
 * the run before anything is saved.
 *
 * Checkpoints (rn_ckpt.c) are the weights plus a state file: written at
 * the end, every --save-every epochs, at --stop-after, and when SIGINT or
 * SIGTERM asks the run to stop.  `--resume FILE` continues the run bit for
 * bit: the weights, the optimizer's buffers and the step come back from
 * the files, and everything random is a function of the seed - weights
 * from rn_rng_seed(seed), shuffling and augmentation from the batcher's
 * (seed, epoch, position) streams, which rn_batcher_seek re-enters in the
 * middle of an epoch - so no generator state needs saving.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rn_dropout.h"
#include "rn_driver.h"
#include "rn_err.h"
#include "rn_interp.h"
#include "rn_kernels.h"
#include "rn_rng.h"
#include "rn_tblog.h"

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
    a->log_every = 10;
}

int rn_batch_fits(const RnModel *m, int N, const char *what)
{
    /* the buffers rn_exec_alloc and the caller's batch arrays take, in
     * double: no product of file or flag values can wrap */
    double img = (double)m->in_c * m->in_h * m->in_w;
    double floats = 2.0 * m->param_floats + (double)m->work_fixed + (double)m->work_per_image * N +
                    (double)N * (img + 2.0 * m->classes + 1.0);
    double need = floats * sizeof(float);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double have = pages > 0 && psize > 0 ? (double)pages * psize : 0;
    if (have > 0 && need > have) {
        rn_errorf("%s %d of model '%s' needs %.1f GiB of buffers, more than this machine's "
                  "%.1f GiB of memory: choose a smaller %s",
                  what, N, m->name, need / (1 << 30), have / (1 << 30), what);
        return 0;
    }
    return 1;
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

/* A save into wpath cut short between its two renames completed
 * (rn_ckpt_finish_save), with a note */
static void finish_save(const RnModel *m, const char *wpath, const char *spath)
{
    long at = 0;
    if (rn_ckpt_finish_save(m, wpath, spath, &at))
        fprintf(stderr, "note: %s: completed the save cut short at step %ld (its state file "
                "was still a temporary)\n", wpath, at);
}

/* The temporaries dead saves left beside a checkpoint removed, with a note */
static void clean_stale(const char *wpath, const char *spath)
{
    int n = rn_ckpt_clean_stale(wpath) + rn_ckpt_clean_stale(spath);
    if (n)
        fprintf(stderr, "note: removed %d temporar%s left by a save that was cut short beside "
                "%s\n", n, n == 1 ? "y" : "ies", wpath);
}

/* the directory `path` would be written into exists and is a directory */
static int check_parent_dir(const char *path)
{
    char dir[4096];
    rn_path_dir(path, dir, sizeof dir);
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
    /* a save writes a temporary beside the target: try one now rather than
     * after the whole run */
    char probe[4200];
    rn_st_tmp_name(path, probe, sizeof probe);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        rn_errorf("%s: cannot save there: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    unlink(probe);
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
        why = a->resume ? "--data is required (the checkpoint does not name its data directory)"
                        : "--data is required";
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
    else if (a->save_every < 0)
        why = "--save-every must be at least 1 (0: save at the end only)";
    else if (!(a->stop_after >= 0) || isinf(a->stop_after))
        why = "--stop-after must be a number of epochs > 0 (0: run them all)";
    else if (a->log_every < 0)
        why = "--log-every must be at least 1 (0: per-epoch scalars only)";
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
    if (o->kind != RN_OPT_SGD) {
        /* SGD's options: the model's defaults may name them, the command
         * line may not (they would be ignored) */
        if (a->given & (RN_GIVEN_MOMENTUM | RN_GIVEN_NESTEROV)) {
            rn_errorf("train: --%s applies to --optimizer sgd only (this run uses %s)",
                      a->given & RN_GIVEN_MOMENTUM ? "momentum" : "nesterov",
                      rn_optim_kind_name(o->kind));
            return 2;
        }
        o->nesterov = 0, o->momentum = 0;
    }
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

/* ---- resuming ---------------------------------------------------------------
 * A resumed run is the saved run continued: its options come from the
 * state file, and an option the command line gives must say the same
 * (anything else would make the result a different run that looks like
 * the old one).  The thread count, the checkpoint and logging intervals
 * and the data and log directories are kept too unless given anew; they
 * change how the run is watched, not what it computes (a different thread
 * count may change the last bits).  --epochs may change, to extend a
 * finished run; the schedule is then stretched over the new length from
 * the current step on, so only schedules that do not depend on the length
 * (constant, step) continue exactly as a longer run from the start would
 * have. */

static int conflict(const char *file, const char *given, const char *saved)
{
    rn_errorf("train: %s conflicts with the run saved in %s (%s); leave it out to continue that "
              "run, or start a new run without --resume",
              given, file, saved);
    return 2;
}

static int adopt_saved_run(RnTrainArgs *a, const RnRunState *s, const char *file)
{
    unsigned g = a->given;
    char x[80], y[80];
#define RN_SAME(bit, opt, fmt, mine, theirs)                                   \
    if ((g & (bit)) && (mine) != (theirs)) {                                   \
        snprintf(x, sizeof x, "%s " fmt, opt, mine);                           \
        snprintf(y, sizeof y, "%s " fmt, opt, theirs);                         \
        return conflict(file, x, y);                                           \
    }
#define RN_SAME_FLAG(bit, on, off, mine, theirs)                               \
    if ((g & (bit)) && !(mine) != !(theirs))                                   \
        return conflict(file, (mine) ? on : off, (theirs) ? on : off);
    RN_SAME(RN_GIVEN_BATCH, "--batch", "%d", a->batch, s->batch)
    RN_SAME(RN_GIVEN_LR, "--lr", "%g", (double)a->lr, (double)s->sched.base_lr)
    RN_SAME(RN_GIVEN_OPTIMIZER, "--optimizer", "%s", rn_optim_kind_name(a->optimizer),
            rn_optim_kind_name(s->optim.kind))
    if (s->optim.kind == RN_OPT_SGD) {
        RN_SAME(RN_GIVEN_MOMENTUM, "--momentum", "%g", (double)a->momentum,
                (double)s->optim.momentum)
        RN_SAME_FLAG(RN_GIVEN_NESTEROV, "--nesterov", "--no-nesterov", a->nesterov,
                     s->optim.nesterov)
    }
    RN_SAME(RN_GIVEN_WEIGHT_DECAY, "--weight-decay", "%g", (double)a->weight_decay,
            (double)s->optim.weight_decay)
    RN_SAME(RN_GIVEN_SCHEDULE, "--schedule", "%s", rn_sched_kind_name(a->schedule),
            rn_sched_kind_name(s->sched.kind))
    RN_SAME(RN_GIVEN_WARMUP, "--warmup", "%g", (double)a->warmup, (double)s->sched.warmup_epochs)
    RN_SAME(RN_GIVEN_LABEL_SMOOTHING, "--label-smoothing", "%g", (double)a->label_smoothing,
            (double)s->label_smoothing)
    RN_SAME(RN_GIVEN_SHIFT, "--shift", "%d", a->shift, s->shift)
    RN_SAME_FLAG(RN_GIVEN_FLIP, "--flip", "--no-flip", a->flip, s->flip)
    RN_SAME(RN_GIVEN_SEED, "--seed", "%ld", a->seed, s->seed)
    RN_SAME(RN_GIVEN_LIMIT, "--limit", "%ld", a->limit, s->limit)
#undef RN_SAME
#undef RN_SAME_FLAG

    if (!(g & RN_GIVEN_EPOCHS))
        a->epochs = s->epochs;
    int done = s->epoch, inside = s->batch_index > 0;
    if (a->epochs < done + inside || (a->epochs == done && !inside)) {
        if (g & RN_GIVEN_EPOCHS)
            rn_errorf("train: --epochs %d: the run saved in %s has trained %d epoch%s%s; give "
                      "more to train further",
                      a->epochs, file, done, done == 1 ? "" : "s",
                      inside ? " and part of the next" : "");
        else
            rn_errorf("train: the run saved in %s has finished its %d epoch%s; give --epochs N "
                      "(more than %d) to train further",
                      file, done, done == 1 ? "" : "s", done);
        return 2;
    }
    a->batch = s->batch;
    a->lr = s->sched.base_lr;
    a->optimizer = s->optim.kind;
    a->momentum = s->optim.momentum;
    a->nesterov = s->optim.nesterov;
    a->weight_decay = s->optim.weight_decay;
    a->schedule = s->sched.kind;
    a->warmup = s->sched.warmup_epochs;
    a->label_smoothing = s->label_smoothing;
    a->shift = s->shift;
    a->flip = s->flip;
    a->seed = s->seed;
    a->limit = s->limit;
    if (!(g & RN_GIVEN_THREADS))
        a->threads = s->threads;
    if (!(g & RN_GIVEN_SAVE_EVERY))
        a->save_every = s->save_every;
    if (!(g & RN_GIVEN_LOG_EVERY))
        a->log_every = s->log_every;
    if (!a->data && s->data[0])
        a->data = s->data;
    if (!a->log_dir && s->log_dir[0])
        a->log_dir = s->log_dir;
    return 0;
}

/* ---- logs --------------------------------------------------------------------
 * metrics.csv (a row per epoch), steps.csv (a row per logged step) and the
 * TensorBoard event file carry the same numbers.  A resumed run keeps the
 * rows up to its checkpoint and drops those a run that went on past it
 * had written; TensorBoard is told the same with a SessionLog START. */

static const char csv_header[] =
    "epoch,step,train_loss,train_acc,test_loss,test_acc,lr,images_per_s\n";
static const char steps_header[] = "step,epoch,batch_loss,lr\n";

/* Open a CSV log at path with header.  keep < 0: a new file.  Otherwise the
 * file's rows whose first field is at most keep are kept (atomically
 * rewritten) and the file is opened for appending.  NULL with errno set. */
static FILE *open_csv(const char *path, const char *header, long keep)
{
    FILE *in = keep >= 0 ? fopen(path, "r") : NULL;
    if (!in) {
        FILE *f = fopen(path, "w");
        if (f)
            fputs(header, f);
        return f;
    }
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    FILE *out = NULL;
    int ok = tmp != NULL;
    if (ok) {
        snprintf(tmp, n, "%s.tmp", path);
        ok = (out = fopen(tmp, "w")) != NULL;
    }
    if (ok) {
        fputs(header, out);
        char line[4096];
        for (int first = 1; fgets(line, sizeof line, in); first = 0) {
            char *end;
            long v = strtol(line, &end, 10);
            if (!first && end != line && *end == ',' && v <= keep)
                fputs(line, out);
        }
        ok = !ferror(in);
        ok &= !ferror(out);
        ok &= fclose(out) == 0;
        ok = ok && rename(tmp, path) == 0;
        if (!ok)
            remove(tmp);
    }
    int e = errno;
    fclose(in);
    free(tmp);
    errno = e;
    return ok ? fopen(path, "a") : NULL;
}

/* ---- the loop ---------------------------------------------------------------- */

typedef struct {
    RnDataset train, test;
    RnBatcher batcher;
    int have_batcher;
    RnExec e;
    float *mbuf, *vbuf, *x, *probs, *dlogits;
    int *y;
    FILE *csv, *steps_csv;
    RnTbLog *tb;
    char *save_path, *state_path, *csv_path, *steps_path;
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
    if (t->steps_csv)
        fclose(t->steps_csv);
    rn_tblog_close(t->tb, NULL, 0);
    free(t->save_path), free(t->state_path), free(t->csv_path), free(t->steps_path);
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

/* Ctrl-C (or SIGTERM) asks the loop to stop after the step in progress and
 * save a checkpoint; SA_RESETHAND makes a second one end the program at
 * once. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    static const char msg[] =
        "\nstopping after this step to save a checkpoint (again to quit at once)\n";
    stop_signal = sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing to do about it in a signal handler */
    }
}

/* dst <- dir made absolute (the working directory in front of a relative
 * one); "" for NULL or a path that does not fit */
static void keep_dir(char *dst, size_t n, const char *dir)
{
    char cwd[4096];
    int len = -1;
    if (dir && dir[0] != '/' && getcwd(cwd, sizeof cwd))
        len = snprintf(dst, n, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", dir);
    else if (dir)
        len = snprintf(dst, n, "%s", dir);
    if (len < 0 || (size_t)len >= n)
        dst[0] = '\0';
}

/* Weights and state, as a pair (rn_ckpt_pair_save): a save that fails or
 * is cut short leaves the previous checkpoint resumable. */
static int save_checkpoint(const RnModel *m, TrainState *t, RnRunState *rs)
{
    char err[512];
    /* a diverged run must not replace a good checkpoint */
    long nbad = 0;
    int bad = rn_ckpt_first_nonfinite(m, t->e.params, &nbad);
    if (bad >= 0) {
        rn_errorf("training diverged: tensor '%s' has %ld non-finite value%s (NaN or infinity) "
                  "after step %ld; nothing was saved, %s is unchanged (try a lower --lr)",
                  m->params[bad].name, nbad, nbad == 1 ? "" : "s", rs->step, t->save_path);
        return -1;
    }
    char s_epochs[32], s_acc[32], s_seed[32], s_steps[32];
    snprintf(s_epochs, sizeof s_epochs, "%d", rs->epoch);
    snprintf(s_acc, sizeof s_acc, "%.4f", rs->test_acc);
    snprintf(s_seed, sizeof s_seed, "%ld", rs->seed);
    snprintf(s_steps, sizeof s_steps, "%ld", rs->step);
    rn_st_kv meta[] = {
        { "epochs", s_epochs },
        { "test_accuracy", s_acc },
        { "seed", s_seed },
        { "steps", s_steps },
    };
    /* no test accuracy before the first epoch has been evaluated */
    int nmeta = 4;
    if (rs->epoch < 1)
        meta[1] = meta[3], nmeta = 3;
    int rc = rn_ckpt_pair_save(m, t->e.params, t->save_path, meta, nmeta, t->state_path, rs,
                               t->mbuf, t->vbuf, err, sizeof err);
    if (rc) {
        rn_errorf("%s (%s)", err, rc == -1 ? "the previous checkpoint, if any, is unchanged"
                  : "the new weights are in place; 'train --resume' completes the checkpoint");
        return -1;
    }
    return 0;
}

/* ---- the loop: one step, one epoch, the end of an epoch ---------------- */

static const char *const step_tags[] = { "train/batch_loss", "train/lr" };
static const char *const epoch_tags[] = { "train/loss", "train/accuracy", "test/loss",
                                          "test/accuracy", "perf/images_per_sec" };

/* what the loop functions share: the run's fixed parts and where it stands */
typedef struct {
    const RnModel *m;
    const RnTrainArgs *a;
    TrainState *t;
    RnRunState *rs;
    const RnOptim *o;
    const RnSchedule *sched;
    long S;                     /* steps per epoch */
    int B, C;                   /* batch, classes */
    const float *mean, *std;
    long stop_step;             /* --stop-after's step, or -1 */
    long step;                  /* global steps done */
    float lr;                   /* the last step's rate */
    double win_loss;            /* the per-step log's window: loss x images, images */
    long win_n;
    int tty;
    FILE *pout;                 /* the progress line, or NULL */
    RnProgress prog;
    double epoch_t0, epoch_t1;  /* the last epoch's steps, wall clock */
    long epoch_images;          /* ... and the images they trained on */
} Run;

/* One training step on the n images in t->x, t->y, in this order: zero
 * the gradients, forward, loss, backward, update.  Returns the batch's
 * mean loss, or NAN (after the message naming the step) when it is not
 * finite: nothing is updated then. */
static float train_step(Run *r, int n, int epoch, int k)
{
    const RnModel *m = r->m;
    TrainState *t = r->t;
    rn_fault_point("step");
    memset(t->e.grads, 0, sizeof(float) * (size_t)m->param_floats);
    t->e.key = rn_dropout_step_key((uint64_t)r->a->seed, r->step);
    m->forward(&t->e, t->x, n, 1);
    float loss = rn_ref_softmax_xent_forward(t->probs, t->e.logits, t->y, n, r->C,
                                             r->a->label_smoothing);
    if (!isfinite(loss)) {
        rn_progress_clear(&r->prog);
        long nbad = 0;
        int bad = rn_ckpt_first_nonfinite(m, t->e.params, &nbad);
        char where[400] = "";
        if (bad >= 0)
            snprintf(where, sizeof where, "; the first non-finite parameter is '%s' "
                     "(%ld of %ld values)", m->params[bad].name, nbad, m->params[bad].numel);
        else
            snprintf(where, sizeof where, "; every parameter is finite, so the forward "
                     "pass overflowed");
        rn_errorf("training diverged: the loss is %s at epoch %d, step %d of %ld "
                  "(global step %ld)%s; nothing was saved (try a lower --lr)",
                  isnan(loss) ? "nan" : "infinite", epoch + 1, k + 1, r->S, r->step + 1,
                  where);
        return NAN;
    }
    rn_ref_softmax_xent_backward(t->dlogits, t->probs, t->y, n, r->C, r->a->label_smoothing);
    m->backward(&t->e, t->dlogits, n);
    r->lr = rn_lr_at(r->sched, r->step, r->S, r->a->epochs);
    m->update(&t->e, r->o, r->lr, r->step + 1, t->mbuf, t->vbuf);
    r->step++;
    return loss;
}

/* the per-step log: every --log-every steps and at the epoch's end, the
 * mean loss since the last point; 0, or -1 after the message */
static int log_steps(Run *r, int epoch, int last)
{
    const RnTrainArgs *a = r->a;
    TrainState *t = r->t;
    char err[512];
    if (a->log_every <= 0 || !(r->step % a->log_every == 0 || last))
        return 0;
    float v[2] = { (float)(r->win_loss / (double)r->win_n), r->lr };
    if (t->tb && rn_tblog_scalars(t->tb, r->step, rn_wall_time(), 2, step_tags, v, err, sizeof err)) {
        rn_progress_clear(&r->prog);
        rn_errorf("%s", err);
        return -1;
    }
    if (t->steps_csv) {
        fprintf(t->steps_csv, "%ld,%d,%.6f,%.6g\n", r->step, epoch + 1,
                r->win_loss / (double)r->win_n, (double)r->lr);
        fflush(t->steps_csv);
    }
    r->win_loss = 0, r->win_n = 0;
    return 0;
}

/* The steps of one epoch, from where the run stands (a resumed run may
 * start inside it).  0: the epoch is done, its sums in rs (epoch_loss_sum,
 * epoch_seen, epoch_right) and its timing in r for finish_epoch; 1: stopped (a signal or --stop-after), rs says where;
 * -1: failed, after the message. */
static int train_epoch(Run *r, int epoch)
{
    TrainState *t = r->t;
    RnRunState *rs = r->rs;
    int k = rs->batch_index; /* nonzero only in the epoch a resume starts inside */
    double sum_loss = rs->epoch_loss_sum;
    long seen = rs->epoch_seen, right = rs->epoch_right, seen_now = 0;
    rs->batch_index = 0, rs->epoch_loss_sum = 0, rs->epoch_seen = 0, rs->epoch_right = 0;
    rn_batcher_seek(&t->batcher, epoch, k);
    double t0 = now_s();
    rn_progress_begin(&r->prog, r->pout, r->tty, epoch + 1, r->a->epochs, r->S, k, t0);
    int stopped = 0;
    for (; k < r->S; k++) {
        if (stop_signal || r->step == r->stop_step) {
            stopped = 1;
            break;
        }
        int n = rn_batcher_next(&t->batcher, t->x, t->y);
        float loss = train_step(r, n, epoch, k);
        if (isnan(loss))
            return -1;
        sum_loss += (double)loss * n;
        seen += n;
        seen_now += n;
        for (int i = 0; i < n; i++)
            right += argmax(t->e.logits + (long)i * r->C, r->C) == t->y[i];
        r->win_loss += (double)loss * n;
        r->win_n += n;
        if (log_steps(r, epoch, k == r->S - 1))
            return -1;
        rn_progress_update(&r->prog, k + 1, sum_loss / (double)seen, seen_now, now_s());
    }
    rn_progress_clear(&r->prog);
    rs->epoch_loss_sum = sum_loss, rs->epoch_seen = seen, rs->epoch_right = right;
    if (stopped) {
        rs->epoch = epoch, rs->batch_index = k, rs->step = r->step;
        return 1;
    }
    r->epoch_t0 = t0;
    r->epoch_t1 = now_s();
    r->epoch_images = seen_now;
    return 0;
}

/* After an epoch's steps: evaluate on the test set, print the epoch's
 * line, append to metrics.csv and the event file, save when --save-every
 * says so.  0, or -1 after the message. */
static int finish_epoch(Run *r, int epoch)
{
    const RnModel *m = r->m;
    const RnTrainArgs *a = r->a;
    TrainState *t = r->t;
    RnRunState *rs = r->rs;
    char err[512];
    double test_acc, test_loss;
    if (rn_evaluate(m, &t->e, &t->test, r->B, r->mean, r->std, &test_loss, &test_acc, NULL,
                    NULL)) {
        rn_errorf("out of memory while evaluating");
        return -1;
    }
    if (!isfinite(test_loss)) {
        rn_errorf("training diverged: the test loss is not finite after epoch %d; nothing "
                  "was saved (try a lower --lr)", epoch + 1);
        return -1;
    }
    double t0 = r->epoch_t0, t1 = r->epoch_t1, t2 = now_s();
    double ips = t1 > t0 ? (double)r->epoch_images / (t1 - t0) : 0.0;
    double sum_loss = rs->epoch_loss_sum;
    long seen = rs->epoch_seen, right = rs->epoch_right;
    rs->epoch_loss_sum = 0, rs->epoch_seen = 0, rs->epoch_right = 0;
    double train_loss = seen ? sum_loss / seen : 0, train_acc = seen ? (double)right / seen : 0;
    rs->epoch = epoch + 1, rs->batch_index = 0, rs->step = r->step;
    rs->test_loss = test_loss, rs->test_acc = test_acc;
    if (!a->quiet) {
        printf("epoch %*d/%d  loss %.4f  acc %6.2f%%  test acc %6.2f%%  test loss %.4f  "
               "%.0f img/s  %.1f s\n",
               a->epochs >= 100 ? 3 : a->epochs >= 10 ? 2 : 1, epoch + 1, a->epochs,
               train_loss, 100 * train_acc, 100 * test_acc, test_loss, ips, t2 - t0);
        fflush(stdout);
    }
    if (t->csv) {
        fprintf(t->csv, "%d,%ld,%.6f,%.6f,%.6f,%.6f,%.6g,%.1f\n", epoch + 1, r->step, train_loss,
                train_acc, test_loss, test_acc, (double)r->lr, ips);
        if (fflush(t->csv) != 0 || ferror(t->csv)) {
            rn_errorf("%s: write failed: %s", t->csv_path, strerror(errno));
            return -1;
        }
    }
    if (t->tb) {
        float v[5] = { (float)train_loss, (float)train_acc, (float)test_loss, (float)test_acc,
                       (float)ips };
        if (rn_tblog_scalars(t->tb, r->step, rn_wall_time(), 5, epoch_tags, v, err, sizeof err) ||
            rn_tblog_flush(t->tb, err, sizeof err)) {
            rn_errorf("%s", err);
            return -1;
        }
    }
    if (a->save_every > 0 && (epoch + 1) % a->save_every == 0 && epoch + 1 < a->epochs) {
        if (save_checkpoint(m, t, rs))
            return -1;
        if (!a->quiet)
            printf("saved %s (epoch %d)\n", t->save_path, epoch + 1);
    }
    return 0;
}

/* ---- opening and closing a run ------------------------------------------ */

/* --resume FILE: the saved run's state (and its optimizer buffers) into rs,
 * its options into a; 0, or the exit status after the message */
static int open_resume(const RnModel *m, RnTrainArgs *a, RnRunState *rs, float **m_loaded,
                       float **v_loaded)
{
    char err[512];
    struct stat sb;
    if (stat(a->resume, &sb) != 0) {
        rn_errorf("%s: cannot resume from it: %s", a->resume, strerror(errno));
        return 1;
    }
    char *sp = rn_ckpt_state_path(a->resume);
    if (!sp) {
        rn_errorf("out of memory");
        return 1;
    }
    finish_save(m, a->resume, sp);
    if (stat(sp, &sb) != 0 && errno == ENOENT) {
        rn_errorf("%s: no such file: a run resumes from weights saved by 'train' with the "
                  "state file beside them",
                  sp);
        free(sp);
        return 1;
    }
    int rc = rn_ckpt_state_load(m, sp, rs, m_loaded, v_loaded, err, sizeof err);
    if (!rc)
        clean_stale(a->resume, sp);
    free(sp);
    if (rc) {
        rn_errorf("%s", err);
        return 1;
    }
    return adopt_saved_run(a, rs, a->resume);
}

/* where things go (the log directory, the checkpoint pair), checked
 * before any work is done; 0 or 1 after the message */
static int open_outputs(const RnModel *m, const RnTrainArgs *a, TrainState *t, int resuming)
{
    if (a->log_dir) {
        if (make_dirs(a->log_dir)) {
            rn_errorf("%s: cannot create the log directory: %s", a->log_dir, strerror(errno));
            return 1;
        }
        t->csv_path = path_join(a->log_dir, "metrics.csv");
        t->steps_path = path_join(a->log_dir, "steps.csv");
    }
    if (a->save)
        t->save_path = strdup(a->save);
    else if (a->resume)
        t->save_path = strdup(a->resume);
    else if (a->log_dir)
        t->save_path = path_join(a->log_dir, "model.safetensors");
    else {
        size_t n = strlen(m->name) + 16;
        if ((t->save_path = malloc(n)))
            snprintf(t->save_path, n, "%s.safetensors", m->name);
    }
    if (t->save_path)
        t->state_path = rn_ckpt_state_path(t->save_path);
    if (!t->save_path || !t->state_path || (a->log_dir && (!t->csv_path || !t->steps_path))) {
        rn_errorf("out of memory");
        return 1;
    }
    if (check_parent_dir(t->save_path))
        return 1;
    if (!resuming || strcmp(t->save_path, a->resume)) { /* (the resumed one is done already) */
        finish_save(m, t->save_path, t->state_path);
        clean_stale(t->save_path, t->state_path);
    }
    return 0;
}

/* the training and test sets, and the training set's CRC-32C (a resumed
 * run must see the same data); 0 or 1 after the message */
static int open_data(const RnModel *m, const RnTrainArgs *a, TrainState *t, const RnRunState *rs,
                     int resuming, uint32_t *data_crc)
{
    if (load_split(m, a->data, 1, &t->train) || load_split(m, a->data, 0, &t->test))
        return 1;
    if (a->limit > 0 && a->limit < t->train.n)
        t->train.n = (int)a->limit;
    size_t chw = (size_t)t->train.c * t->train.h * t->train.w;
    uint32_t crc = rn_crc32c(0, t->train.images, chw * (size_t)t->train.n);
    *data_crc = rn_crc32c(crc, t->train.labels, (size_t)t->train.n);
    if (resuming && (t->train.n != rs->train_images || *data_crc != rs->train_crc)) {
        rn_errorf("%s: the run saved in %s trained on %ld images (CRC-32C %08x); this data "
                  "gives %d (CRC-32C %08x)",
                  t->train.images_path, a->resume, rs->train_images, (unsigned)rs->train_crc,
                  t->train.n, (unsigned)*data_crc);
        return 1;
    }
    return 0;
}

/* the model's buffers for batch B, the optimizer's state (the loaded one
 * when resuming: taken over) and the batch's; 0 or 1 after the message */
static int open_buffers(const RnModel *m, const RnOptim *o, int B, TrainState *t, float **m_loaded,
                        float **v_loaded)
{
    long img = (long)m->in_c * m->in_h * m->in_w;
    int C = m->classes;
    int nbuf = rn_optim_state_count(o);
    t->mbuf = *m_loaded, t->vbuf = *v_loaded;
    *m_loaded = *v_loaded = NULL;
    if (rn_exec_alloc(m, B, &t->e) ||
        (!t->mbuf && !(t->mbuf = calloc((size_t)m->param_floats + 1, sizeof(float)))) ||
        (nbuf > 1 && !t->vbuf &&
         !(t->vbuf = calloc((size_t)m->param_floats + 1, sizeof(float)))) ||
        !(t->x = malloc(sizeof(float) * (size_t)B * (size_t)img)) ||
        !(t->probs = malloc(sizeof(float) * (size_t)B * (size_t)C)) ||
        !(t->dlogits = malloc(sizeof(float) * (size_t)B * (size_t)C)) ||
        !(t->y = malloc(sizeof(int) * (size_t)B))) {
        rn_errorf("out of memory for batch %d of model '%s'", B, m->name);
        return 1;
    }
    return 0;
}

/* the weights: the checkpoint's when resuming (the ones its state was
 * saved with), else initialised from the seed, with the run's options
 * recorded in rs; 0 or 1 after the message */
static int open_weights(const RnModel *m, const RnTrainArgs *a, TrainState *t, RnRunState *rs,
                        int resuming, const RnOptim *o, const RnSchedule *sched, long S)
{
    char err[512];
    if (resuming) {
        RnCkptInfo info;
        rn_exec_params_changed(&t->e);
        if (rn_ckpt_load(m, t->e.params, a->resume, &info, err, sizeof err)) {
            rn_errorf("%s", err);
            return 1;
        }
        int differs = info.source_hash_differs;
        if (info.unchecked)
            rn_ckpt_note_unchecked(a->resume);
        uint32_t crc = rn_ckpt_params_crc(m, t->e.params);
        if (differs || crc != rs->weights_crc) {
            rn_errorf("%s: not the weights its state file was saved with (CRC-32C %08x, the "
                      "state records %08x%s): changed or damaged since, or a save was cut short "
                      "between the two files",
                      a->resume, (unsigned)crc, (unsigned)rs->weights_crc,
                      differs ? ", and another source hash" : "");
            return 1;
        }
        return 0;
    }
    RnRng rng;
    rn_rng_seed(&rng, (uint64_t)a->seed);
    rn_init_params(m, t->e.params, &rng);
    rn_exec_params_changed(&t->e);
    rs->epochs = a->epochs;
    rs->batch = a->batch;
    rs->optim = *o;
    rs->sched = *sched;
    rs->label_smoothing = a->label_smoothing;
    rs->shift = a->shift;
    rs->flip = a->flip;
    rs->seed = a->seed;
    rs->limit = a->limit;
    rs->steps_per_epoch = S;
    return 0;
}

/* metrics.csv, steps.csv and the TensorBoard events, continued where a
 * resumed run stood; 0 or 1 after the message */
static int open_logs(const RnTrainArgs *a, TrainState *t, const RnRunState *rs, int resuming)
{
    char err[512];
    if (!t->csv_path)
        return 0;
    if (!(t->csv = open_csv(t->csv_path, csv_header, resuming ? rs->epoch : -1))) {
        rn_errorf("%s: cannot write: %s", t->csv_path, strerror(errno));
        return 1;
    }
    if (a->log_every > 0 &&
        !(t->steps_csv = open_csv(t->steps_path, steps_header, resuming ? rs->step : -1))) {
        rn_errorf("%s: cannot write: %s", t->steps_path, strerror(errno));
        return 1;
    }
    if (rn_tblog_open(&t->tb, a->log_dir, rn_wall_time(), err, sizeof err) ||
        (resuming && rn_tblog_start(t->tb, rs->step + 1, rn_wall_time(), err, sizeof err))) {
        rn_errorf("%s", err);
        return 1;
    }
    return 0;
}

/* the logs flushed and closed, each write error reported; 0 or 1 */
static int close_logs(TrainState *t)
{
    char err[512];
    if (t->steps_csv && (fflush(t->steps_csv) != 0 || ferror(t->steps_csv))) {
        rn_errorf("%s: write failed: %s", t->steps_path, strerror(errno));
        return 1;
    }
    if (t->csv) {
        int bad = ferror(t->csv);
        bad |= fclose(t->csv) != 0;
        t->csv = NULL;
        if (bad) {
            rn_errorf("%s: write failed: %s", t->csv_path, strerror(errno));
            return 1;
        }
    }
    if (t->tb) {
        int bad = rn_tblog_close(t->tb, err, sizeof err);
        t->tb = NULL;
        if (bad) {
            rn_errorf("%s", err);
            return 1;
        }
    }
    return 0;
}

/* A training run: open (resume, outputs, data, buffers, weights, logs),
 * the epochs (train_epoch, finish_epoch), close (logs, checkpoint).  The
 * exit status: 0, 1 on an error (reported), 2 for a --stop-after already
 * passed, 128 + the signal when one stopped it. */
int rn_train_run(const RnModel *m0, const RnTrainArgs *a0)
{
    RnTrainArgs a = *a0;        /* the run's options: the saved run's when resuming */
    RnRunState rs;              /* where the run stands: saved and continued */
    memset(&rs, 0, sizeof rs);
    RnOptim o;
    RnSchedule sched;
    TrainState t;
    memset(&t, 0, sizeof t);
    float *m_loaded = NULL, *v_loaded = NULL;
    char err[512];
    int rc;
    int resuming = a.resume != NULL;

    if (resuming && (rc = open_resume(m0, &a, &rs, &m_loaded, &v_loaded)))
        goto early_out;
    if ((rc = check_train_args(m0, &a, &o, &sched)))
        goto early_out;
    if (resuming) {
        o = rs.optim; /* exactly what the run used (the model's defaults included) */
        sched = rs.sched;
    }
    rn_set_threads(a.threads);

    rc = 1;
    const RnModel *m = m0;
    RnModel ref;
    uint32_t data_crc;
    if (open_outputs(m, &a, &t, resuming) || open_data(m, &a, &t, &rs, resuming, &data_crc))
        goto out;
    int B = a.batch;
    if (!rn_batch_fits(m, B, "--batch"))
        goto out;
    if (a.reference) {
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
    RnBatchConfig cfg = { .batch = B, .drop_last = 0, .shuffle = 1, .seed = (uint64_t)a.seed,
                          .mean = mean, .std = std, .pad = a.shift, .flip = a.flip };
    if (rn_batcher_init(&t.batcher, &t.train, &cfg, err, sizeof err)) {
        rn_errorf("%s", err);
        goto out;
    }
    t.have_batcher = 1;
    long S = rn_batcher_batches(&t.batcher);
    if (resuming && S != rs.steps_per_epoch) {
        rn_errorf("%s: the saved run has %ld steps per epoch, this one %ld", a.resume,
                  rs.steps_per_epoch, S);
        goto out;
    }
    if (open_buffers(m, &o, B, &t, &m_loaded, &v_loaded) ||
        open_weights(m, &a, &t, &rs, resuming, &o, &sched, S))
        goto out;
    /* what may differ in a resumed run: the length, the threads, the paths */
    rs.epochs = a.epochs;
    rs.train_images = t.train.n;
    rs.train_crc = data_crc;
    rs.threads = rn_threads();
    rs.save_every = a.save_every;
    rs.log_every = a.log_every;
    /* the directories as absolute paths, so a resume works from anywhere
     * (a.data and a.log_dir may point into rs itself, when taken from it) */
    if (a.data != rs.data)
        keep_dir(rs.data, sizeof rs.data, a.data);
    if (a.log_dir != rs.log_dir)
        keep_dir(rs.log_dir, sizeof rs.log_dir, a.log_dir);
    if (open_logs(&a, &t, &rs, resuming))
        goto out;

    /* where to stop early: --stop-after E is step round(E * S) */
    long total_steps = (long)a.epochs * S;
    long stop_step = a.stop_after > 0 ? (long)floor((double)a.stop_after * (double)S + 0.5) : -1;
    if (stop_step >= total_steps)
        stop_step = -1;
    if (stop_step >= 0 && stop_step <= rs.step) {
        rn_errorf("train: --stop-after %g is step %ld, and the run is at step %ld already",
                  (double)a.stop_after, stop_step, rs.step);
        rc = 2;
        goto out;
    }

    if (!a.quiet) {
        printf("train %s (%s): %d training images, %d test, batch %d, %ld steps/epoch, "
               "%d epoch%s, %s lr %g %s, %d thread%s\n",
               m->name, m->backend, t.train.n, t.test.n, B, S, a.epochs,
               a.epochs == 1 ? "" : "s", rn_optim_kind_name(o.kind), (double)sched.base_lr,
               rn_sched_kind_name(sched.kind), rn_threads(), rn_threads() == 1 ? "" : "s");
        if (resuming)
            printf("resuming %s at epoch %d, batch %d of %ld (step %ld)\n", a.resume,
                   rs.epoch + 1, rs.batch_index, S, rs.step);
        fflush(stdout);
    }

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    Run run = { .m = m, .a = &a, .t = &t, .rs = &rs, .o = &o, .sched = &sched, .S = S, .B = B,
                .C = m->classes, .mean = mean, .std = std, .stop_step = stop_step,
                .step = rs.step, .tty = isatty(fileno(stdout)),
                .pout = a.quiet || a.no_progress ? NULL : stdout };
    int stopped = 0;
    for (int epoch = rs.epoch; epoch < a.epochs && !stopped; epoch++) {
        int st = train_epoch(&run, epoch);
        if (st < 0)
            goto restore;
        stopped = st;
        if (!stopped && finish_epoch(&run, epoch))
            goto restore;
    }
    if (close_logs(&t) || save_checkpoint(m, &t, &rs))
        goto restore;
    if (stopped) {
        if (!a.quiet || stop_signal) {
            if (rs.batch_index == 0)
                printf("stopped after epoch %d of %d (step %ld)", rs.epoch, a.epochs, rs.step);
            else
                printf("stopped in epoch %d of %d after batch %d of %ld (step %ld)",
                       rs.epoch + 1, a.epochs, rs.batch_index, S, rs.step);
            printf("; saved %s and %s\nresume with: %s train --resume %s\n", t.save_path,
                   t.state_path, rn_prog_name(), t.save_path);
            fflush(stdout);
        }
        rc = stop_signal ? 128 + stop_signal : 0;
    } else {
        if (!a.quiet)
            printf("saved %s (test accuracy %.2f%%)\n", t.save_path, 100 * rs.test_acc);
        rc = 0;
    }
restore:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    train_state_free(&t);
early_out:
    free(m_loaded);
    free(v_loaded);
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
    RnCkptInfo info;
    float mean[64], std[64];
    if (m->in_c > 64) {
        rn_errorf("model '%s' has %d input channels; at most 64 are supported", m->name, m->in_c);
        return 1;
    }
    rn_model_norm(m, mean, std);
    if (!rn_batch_fits(m, a->batch, "--batch"))
        return 1;

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
    rn_exec_params_changed(&e);
    if (rn_ckpt_load(m, e.params, a->weights, &info, err, sizeof err)) {
        rn_errorf("%s", err);
        goto out;
    }
    differs = info.source_hash_differs;
    if (info.unchecked)
        rn_ckpt_note_unchecked(a->weights);
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
