/* rn_bench.c - `bench`: how fast the built program trains and infers.
 *
 * What bench/bench.sh compares with PyTorch, measured inside the program
 * so that nothing but the model's own code is timed:
 *
 *   train    real training steps over shuffled, normalised training images
 *            (no augmentation, as on the PyTorch side): fill the batch, zero
 *            the gradients, forward (train mode), softmax cross-entropy,
 *            backward, one optimizer update with the model's optimizer at
 *            its base learning rate.  Each step is timed whole.
 *   infer    forward in inference mode over batches of real test images in
 *            file order (wrapping around); each forward call is timed, the
 *            batch is filled before the clock starts.
 *   latency  the same with one image per call: median and 90th percentile.
 *
 * After warm-up steps (page faults, first-touch, OpenMP's thread start and
 * the GEMM's per-thread buffers all happen there), steps are timed one by
 * one until --seconds have passed or --steps are done; images/s is images
 * over the summed step times.  Every buffer is allocated before timing.
 *
 * --per-layer times each entry of the model's layer table (rn_model.h's
 * RnLayerInfo) on its own, after warm-up full steps: each function is
 * called repeatedly until about 50 ms have passed and the median call is
 * reported, forward and (training) backward, with GFLOP/s from the
 * table's FLOP counts.  Layer functions read and write the workspace at
 * their fixed offsets, so calling one alone runs exactly the code a full
 * step runs (the values it reads are those the last full step left).
 *
 * Output is a short human report, or with --csv machine-readable records
 * (one kind per first field; a "#" line before each kind names its
 * columns), the format bench/torch_bench.py prints too.
 *
 * Reported, not set: whether denormals are flushed (MXCSR's FTZ and DAZ,
 * on every OpenMP thread), and - when the program runs under bench.sh's
 * allocation counter (an LD_PRELOAD library defining rn_alloc_calls) - how
 * many malloc-family calls the timed steps made.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rn_driver.h"
#include "rn_interp.h"
#include "rn_kernels.h"
#include "rn_rng.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* bench.sh's allocation counter, when preloaded: malloc-family calls so far */
#if defined(__GNUC__) && defined(__ELF__)
extern unsigned long rn_alloc_calls(void) __attribute__((weak));
#define RN_ALLOC_PROBE 1
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- modes ---------------------------------------------------------------- */

static const char *const mode_names[RN_BENCH_MODE_COUNT] = {
    [RN_BENCH_TRAIN] = "train",
    [RN_BENCH_INFER] = "infer",
    [RN_BENCH_LATENCY] = "latency",
};
_Static_assert(sizeof mode_names / sizeof mode_names[0] == RN_BENCH_MODE_COUNT,
               "a name for every bench mode");

int rn_bench_mode_parse(const char *name, RnBenchMode *out)
{
    for (int i = 0; i < RN_BENCH_MODE_COUNT; i++)
        if (!strcmp(name, mode_names[i])) {
            *out = (RnBenchMode)i;
            return 0;
        }
    return -1;
}

const char *rn_bench_mode_name(RnBenchMode mode)
{
    return (unsigned)mode < RN_BENCH_MODE_COUNT ? mode_names[mode] : "?";
}

void rn_bench_args_defaults(RnBenchArgs *a)
{
    memset(a, 0, sizeof *a);
    a->mode = "train";
    a->warmup = -1;
}

/* ---- what the machine is doing -------------------------------------------- */

/* 2: FTZ and DAZ both on, 1: one of them, 0: neither, -1: not x86 */
static int fpu_flush_state(void)
{
#if defined(__SSE__)
    unsigned csr = _mm_getcsr();
    return ((csr >> 15) & 1) + ((csr >> 6) & 1);
#else
    return -1;
#endif
}

/* "flushed (FTZ and DAZ on 2 of 2 threads)" and the like */
static void denormal_report(char *buf, size_t n)
{
    int threads = 1, full = fpu_flush_state() == 2, some = fpu_flush_state() > 0;
    if (fpu_flush_state() < 0) {
        snprintf(buf, n, "unknown (not x86)");
        return;
    }
#ifdef _OPENMP
    full = some = 0;
#pragma omp parallel reduction(+ : full, some)
    {
        int s = fpu_flush_state();
        full += s == 2;
        some += s > 0;
#pragma omp single
        threads = omp_get_num_threads();
    }
#endif
    if (full == threads)
        snprintf(buf, n, "flushed (FTZ and DAZ on, %d of %d thread%s)", full, threads,
                 threads == 1 ? "" : "s");
    else if (some == 0)
        snprintf(buf, n, "not flushed (FTZ and DAZ off, %d thread%s)", threads,
                 threads == 1 ? "" : "s");
    else
        snprintf(buf, n, "partly flushed (FTZ and DAZ both on in %d, one on in %d, of %d threads)",
                 full, some - full, threads);
}

static long alloc_calls(void)
{
#ifdef RN_ALLOC_PROBE
    if (rn_alloc_calls)
        return (long)rn_alloc_calls();
#endif
    return -1;
}

/* ---- timing helpers ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* the q-quantile (0.5: median) of t[0..n), n >= 1; sorts t */
static double quantile(double *t, long n, double q)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    if (q == 0.5)
        return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    long k = (long)ceil(q * (double)n) - 1;
    return t[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* The longest any per-step time array gets: 2^18 steps, allocated up
 * front (a 1 ms step for 4 minutes). */
#define MAX_STEPS (1L << 18)
#define LAYER_SECONDS 0.05   /* --per-layer: time per function */
#define LAYER_MAX_CALLS 20000L

/* ---- the benchmark state ------------------------------------------------------- */

typedef struct {
    const RnModel *m;
    RnBenchMode mode;
    int N, train;
    RnDataset ds;               /* training set (train) or test set */
    RnBatcher batcher;
    int have_batcher;
    RnExec e;
    RnOptim o;
    float lr, smoothing;
    float *mbuf, *vbuf;         /* optimizer state */
    float *x, *probs, *dlogits; /* (N, C, H, W), (N, classes) x 2 */
    int *y;
    uint32_t *idx;              /* (N) */
    long pos;                   /* infer/latency: next test image */
    long step;                  /* optimizer steps taken */
    double *times;              /* (MAX_STEPS) */
    float mean[64], std[64];
} Bench;

static void bench_free(Bench *b)
{
    if (b->have_batcher)
        rn_batcher_free(&b->batcher);
    rn_dataset_free(&b->ds);
    rn_exec_free(&b->e);
    free(b->mbuf), free(b->vbuf), free(b->x), free(b->probs), free(b->dlogits);
    free(b->y), free(b->idx), free(b->times);
}

/* the next inference batch: N test images from pos on, wrapping around */
static void fill_test_batch(Bench *b)
{
    for (int k = 0; k < b->N; k++)
        b->idx[k] = (uint32_t)((b->pos + k) % b->ds.n);
    b->pos = (b->pos + b->N) % b->ds.n;
    rn_batch_fill(&b->ds, b->idx, b->N, b->mean, b->std, 0, 0, NULL, b->x, b->y);
}

/* One training step on the next shuffled batch; the loss, or NaN. */
static float train_step(Bench *b)
{
    const RnModel *m = b->m;
    int n = rn_batcher_next(&b->batcher, b->x, b->y);
    if (n == 0) { /* the epoch is over: a fresh permutation */
        rn_batcher_begin_epoch(&b->batcher, b->batcher.epoch + 1);
        n = rn_batcher_next(&b->batcher, b->x, b->y);
    }
    memset(b->e.grads, 0, sizeof(float) * (size_t)m->param_floats);
    b->e.key++; /* dropout draws another mask each step */
    m->forward(&b->e, b->x, n, 1);
    float loss = rn_ref_softmax_xent_forward(b->probs, b->e.logits, b->y, n, m->classes,
                                             b->smoothing);
    rn_ref_softmax_xent_backward(b->dlogits, b->probs, b->y, n, m->classes, b->smoothing);
    m->backward(&b->e, b->dlogits, n);
    m->update(&b->e, &b->o, b->lr, ++b->step, b->mbuf, b->vbuf);
    return loss;
}

/* One timed unit of the mode: its seconds, or -1 when training diverged. */
static double one_step(Bench *b)
{
    if (b->mode == RN_BENCH_TRAIN) {
        double t0 = now_s();
        float loss = train_step(b);
        double t = now_s() - t0;
        return isfinite(loss) ? t : -1;
    }
    fill_test_batch(b);
    double t0 = now_s();
    b->m->forward(&b->e, b->x, b->N, 0);
    return now_s() - t0;
}

static int diverged(const Bench *b)
{
    rn_errorf("bench: training diverged (the loss is not finite) after %ld steps", b->step);
    return 1;
}

/* ---- setup ---------------------------------------------------------------------- */

static int bench_setup(Bench *b, const RnModel *m, const RnBenchArgs *a, RnBenchMode mode)
{
    char err[512];
    b->m = m;
    b->mode = mode;
    b->N = mode == RN_BENCH_LATENCY ? 1 : a->batch > 0 ? a->batch : mode == RN_BENCH_TRAIN ? 64 : 256;
    b->train = mode == RN_BENCH_TRAIN;
    if (m->in_c > 64) {
        rn_errorf("model '%s' has %d input channels; at most 64 are supported", m->name, m->in_c);
        return 1;
    }
    rn_model_norm(m, b->mean, b->std);
    if (rn_dataset_load(a->data, b->train, &b->ds, err, sizeof err) ||
        rn_dataset_check(&b->ds, m->in_c, m->in_h, m->in_w, m->classes, err, sizeof err)) {
        rn_errorf("%s", err);
        return 1;
    }
    if (b->ds.n < 1) {
        rn_errorf("%s: no images", b->ds.images_path);
        return 1;
    }
    if (b->train && b->ds.n < b->N) {
        rn_errorf("bench: %s has %d images, fewer than one batch of %d", b->ds.images_path,
                  b->ds.n, b->N);
        return 2;
    }

    /* the optimizer and loss of the model's train section, at a constant
     * learning rate (the schedule costs nothing and would only start the
     * run in its warm-up) */
    RnTrainArgs ta;
    rn_train_args_defaults(m, &ta);
    b->o = rn_optim_defaults(ta.optimizer);
    b->o.momentum = ta.momentum;
    b->o.nesterov = ta.nesterov;
    b->o.weight_decay = ta.weight_decay;
    b->o.decoupled_wd = m->defaults.decoupled;
    b->o.no_decay_bn_bias = m->defaults.no_decay_bn_bias;
    if (b->o.kind != RN_OPT_SGD)
        b->o.momentum = 0, b->o.nesterov = 0;
    const char *why = rn_optim_check(&b->o);
    if (why) {
        rn_errorf("bench: the model's optimizer %s: %s", rn_optim_kind_name(b->o.kind), why);
        return 1;
    }
    b->lr = ta.lr;
    b->smoothing = ta.label_smoothing;

    long img = (long)m->in_c * m->in_h * m->in_w;
    int C = m->classes, nbuf = rn_optim_state_count(&b->o);
    if (!rn_batch_fits(m, b->N, "--batch"))
        return 1;
    if (rn_exec_alloc(m, b->N, &b->e) ||
        (b->train && !(b->mbuf = calloc((size_t)m->param_floats + 1, sizeof(float)))) ||
        (b->train && nbuf > 1 && !(b->vbuf = calloc((size_t)m->param_floats + 1, sizeof(float)))) ||
        !(b->x = calloc((size_t)b->N * (size_t)img, sizeof(float))) ||
        !(b->probs = calloc((size_t)b->N * (size_t)C, sizeof(float))) ||
        !(b->dlogits = calloc((size_t)b->N * (size_t)C, sizeof(float))) ||
        !(b->y = calloc((size_t)b->N, sizeof(int))) ||
        !(b->idx = calloc((size_t)b->N, sizeof(uint32_t))) ||
        !(b->times = calloc((size_t)MAX_STEPS, sizeof(double)))) {
        rn_errorf("out of memory for batch %d of model '%s'", b->N, m->name);
        return 1;
    }
    RnRng rng;
    rn_rng_seed(&rng, (uint64_t)m->defaults.seed);
    rn_init_params(m, b->e.params, &rng);
    if (b->train) {
        RnBatchConfig cfg = { .batch = b->N, .drop_last = 1, .shuffle = 1,
                              .seed = (uint64_t)m->defaults.seed, .mean = b->mean,
                              .std = b->std, .pad = 0, .flip = 0 };
        if (rn_batcher_init(&b->batcher, &b->ds, &cfg, err, sizeof err)) {
            rn_errorf("%s", err);
            return 1;
        }
        b->have_batcher = 1;
        rn_batcher_begin_epoch(&b->batcher, 0);
    }
    return 0;
}

/* ---- reports --------------------------------------------------------------------- */

static double mib(long floats) { return (double)floats * sizeof(float) / (1024.0 * 1024.0); }

static void print_header(const Bench *b, const RnBenchArgs *a, int warmup)
{
    const RnModel *m = b->m;
    char den[160];
    denormal_report(den, sizeof den);
    long work = rn_model_work_floats(m, b->N);
    int nbuf = b->train ? rn_optim_state_count(&b->o) : 0;
    if (a->csv) {
        printf("# meta,side,model,key,value\n");
        printf("meta,rnet,%s,backend,%s\n", m->name, m->backend);
        printf("meta,rnet,%s,threads,%d\n", m->name, rn_threads());
        printf("meta,rnet,%s,denormals,%s\n", m->name, den);
        printf("meta,rnet,%s,memory,parameters %.2f MiB; gradients %.2f MiB; optimizer state "
               "%.2f MiB; workspace %.2f MiB for batch %d; allocated once before timing\n",
               m->name, mib(m->param_floats), mib(m->param_floats),
               mib(m->param_floats * nbuf), mib(work), b->N);
        if (b->train)
            printf("meta,rnet,%s,optimizer,%s momentum %g%s weight_decay %g%s lr %g constant "
                   "label_smoothing %g\n",
                   m->name, rn_optim_kind_name(b->o.kind), (double)b->o.momentum,
                   b->o.nesterov ? " nesterov" : "", (double)b->o.weight_decay,
                   b->o.no_decay_bn_bias ? " (not on bn and biases)" : "", (double)b->lr,
                   (double)b->smoothing);
        printf("meta,rnet,%s,data,%s (%d images)\n", m->name, b->ds.images_path, b->ds.n);
        return;
    }
    printf("bench %s (backend %s): %s, batch %d, %d thread%s%s\n", m->name, m->backend,
           rn_bench_mode_name(b->mode), b->N, rn_threads(), rn_threads() == 1 ? "" : "s",
           rn_have_openmp() ? " (OpenMP)" : "");
    printf("  denormals   %s\n", den);
    printf("  memory      parameters %.2f MiB, gradients %.2f MiB, optimizer state %.2f MiB,\n"
           "              workspace %.2f MiB for batch %d: allocated once, before timing\n",
           mib(m->param_floats), mib(m->param_floats), mib(m->param_floats * nbuf), mib(work),
           b->N);
    if (b->train) {
        printf("  data        %s: %d images, shuffled each epoch, normalised, no augmentation\n",
               b->ds.images_path, b->ds.n);
        printf("  optimizer   %s momentum %g%s, weight decay %g%s, lr %g constant, label "
               "smoothing %g\n",
               rn_optim_kind_name(b->o.kind), (double)b->o.momentum,
               b->o.nesterov ? " nesterov" : "", (double)b->o.weight_decay,
               b->o.no_decay_bn_bias ? " (not on bn and biases)" : "", (double)b->lr,
               (double)b->smoothing);
    } else {
        printf("  data        %s: %d images in file order, normalised; the batch is filled "
               "before the clock starts\n",
               b->ds.images_path, b->ds.n);
    }
    printf("  warm-up     %d step%s\n", warmup, warmup == 1 ? "" : "s");
}

static void print_allocs(const Bench *b, const RnBenchArgs *a, long before, long after, long steps)
{
    if (before < 0) {
        if (!a->csv)
            printf("  allocations not counted (run under bench/bench.sh's counter to count them)\n");
        return;
    }
    if (a->csv)
        printf("meta,rnet,%s,allocations_in_timed_steps,%ld in %ld steps\n", b->m->name,
               after - before, steps);
    else
        printf("  allocations %ld malloc-family calls in the %ld timed steps\n", after - before,
               steps);
}

/* ---- the throughput and latency measurements ----------------------------------------- */

static int run_timed(Bench *b, const RnBenchArgs *a, int warmup)
{
    for (int i = 0; i < warmup; i++)
        if (one_step(b) < 0)
            return diverged(b);
    double seconds = a->seconds > 0 ? a->seconds : 3.0;
    long limit = a->steps > 0 ? a->steps : MAX_STEPS;
    if (limit > MAX_STEPS)
        limit = MAX_STEPS;
    long n = 0, a0 = alloc_calls();
    double total = 0, wall0 = now_s();
    while (n < limit) {
        double t = one_step(b);
        if (t < 0)
            return diverged(b);
        b->times[n++] = t;
        total += t;
        if (a->steps <= 0 && now_s() - wall0 >= seconds)
            break;
    }
    long a1 = alloc_calls();
    double wall = now_s() - wall0;
    double ips = total > 0 ? (double)n * b->N / total : 0;
    double med = 1e3 * quantile(b->times, n, 0.5), p90 = 1e3 * quantile(b->times, n, 0.9);
    print_allocs(b, a, a0, a1, n);
    if (a->csv) {
        printf("# result,side,model,mode,batch,threads,steps,seconds,images_per_s,median_ms,"
               "p90_ms\n");
        printf("result,rnet,%s,%s,%d,%d,%ld,%.3f,%.1f,%.4f,%.4f\n", b->m->name,
               rn_bench_mode_name(b->mode), b->N, rn_threads(), n, total, ips, med, p90);
    } else if (b->mode == RN_BENCH_LATENCY) {
        printf("  timed       %ld single-image calls in %.2f s: median %.3f ms, p90 %.3f ms "
               "(%.0f img/s)\n",
               n, wall, med, p90, ips);
    } else {
        printf("  timed       %ld step%s in %.2f s: %.1f img/s; per step median %.2f ms, "
               "p90 %.2f ms\n",
               n, n == 1 ? "" : "s", wall, ips, med, p90);
    }
    return 0;
}

/* ---- per layer ---------------------------------------------------------------------------- */

/* one layer function with its arguments */
typedef struct {
    const RnLayerInfo *L;
    RnExec *e;
    int N, backward;
} LayerCall;

static void layer_call(const LayerCall *c)
{
    if (c->backward)
        c->L->backward(c->e, c->e->work, c->N);
    else
        c->L->forward(c->e, c->e->work, c->N);
}

/* median seconds of one call: repeated until LAYER_SECONDS have passed
 * (at least 3 calls); t has room for LAYER_MAX_CALLS */
static double time_layer(const LayerCall *c, double *t)
{
    layer_call(c); /* one untimed call: caches, and a first touch of its output */
    long n = 0;
    double total = 0;
    while (n < 3 || (total < LAYER_SECONDS && n < LAYER_MAX_CALLS)) {
        double t0 = now_s();
        layer_call(c);
        t[n] = now_s() - t0;
        total += t[n++];
    }
    return quantile(t, n, 0.5);
}

/* the node the layer (or fused group) starts at, for its shape; NULL if
 * the name is not a node's */
static const RnNodeInfo *layer_node(const RnModel *m, const char *name)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].name && !strcmp(m->nodes[i].name, name))
            return &m->nodes[i];
    return NULL;
}

/* "conv 3x3/1 64x7x7" for the table: the layer's text, and for a conv
 * node its kernel and stride, then the output shape; commas become ';' so
 * the CSV keeps its columns */
static void layer_what(const RnModel *m, const RnLayerInfo *L, char *buf, size_t n)
{
    const RnNodeInfo *nd = layer_node(m, L->name);
    int len = snprintf(buf, n, "%s", L->what ? L->what : "");
    if (nd && len >= 0 && (size_t)len < n) {
        if (nd->op == RN_OP_CONV && !strchr(L->what ? L->what : "", 'x'))
            len += snprintf(buf + len, n - (size_t)len, " %dx%d/%d", nd->kh, nd->kw, nd->stride);
        if (len >= 0 && (size_t)len < n)
            snprintf(buf + len, n - (size_t)len, " %dx%dx%d", nd->c, nd->h, nd->w);
    }
    for (char *p = buf; *p; p++)
        if (*p == ',' || *p == '\n')
            *p = ';';
}

static double gflops(long flops_per_image, int N, double seconds)
{
    return seconds > 0 ? (double)flops_per_image * N / seconds * 1e-9 : 0;
}

static int run_per_layer(Bench *b, const RnBenchArgs *a, int warmup)
{
    const RnModel *m = b->m;
    /* training times the training graph's layers, inference the inference
     * graph's (the functions forward(train = 0) runs, on its workspace) */
    const RnLayerInfo *layers = b->train ? m->layers : m->infer_layers;
    int L = b->train ? m->nlayers : m->ninfer_layers, backward = b->train;
    if (L <= 0 || !layers) {
        rn_errorf("bench: --per-layer: this program has no %s layer table (backend %s)",
                  b->train ? "training" : "inference", m->backend);
        return 1;
    }
    double *fwd = calloc((size_t)L, sizeof(double)), *bwd = calloc((size_t)L, sizeof(double));
    double *t = calloc((size_t)LAYER_MAX_CALLS, sizeof(double));
    if (!fwd || !bwd || !t) {
        free(fwd), free(bwd), free(t);
        rn_errorf("out of memory");
        return 1;
    }
    if (warmup < 1)
        warmup = 1;
    for (int i = 0; i < warmup; i++)
        if (one_step(b) < 0) {
            free(fwd), free(bwd), free(t);
            return diverged(b);
        }

    /* the whole step, for comparison with the sum of the layers: forward,
     * backward and update timed separately on the batch the last step left */
    double w_fwd, w_bwd = 0, w_upd = 0;
    {
        long n = 0;
        double total = 0;
        while (n < 3 || (total < 4 * LAYER_SECONDS && n < LAYER_MAX_CALLS)) {
            double t0 = now_s();
            m->forward(&b->e, b->x, b->N, b->train);
            t[n] = now_s() - t0;
            total += t[n++];
        }
        w_fwd = quantile(t, n, 0.5);
    }
    if (backward) {
        long n = 0;
        double total = 0;
        while (n < 3 || (total < 4 * LAYER_SECONDS && n < LAYER_MAX_CALLS)) {
            double t0 = now_s();
            m->backward(&b->e, b->dlogits, b->N);
            t[n] = now_s() - t0;
            total += t[n++];
        }
        w_bwd = quantile(t, n, 0.5);
        /* those backward passes summed their gradients many times over:
         * time the update on zero gradients, which costs the same */
        memset(b->e.grads, 0, sizeof(float) * (size_t)m->param_floats);
        n = 0, total = 0;
        while (n < 3 || (total < LAYER_SECONDS && n < LAYER_MAX_CALLS)) {
            double t0 = now_s();
            m->update(&b->e, &b->o, b->lr, ++b->step, b->mbuf, b->vbuf);
            t[n] = now_s() - t0;
            total += t[n++];
        }
        w_upd = quantile(t, n, 0.5);
        /* the updates above moved the weights without a forward: one
         * real step puts the workspace back in step with them */
        if (one_step(b) < 0) {
            free(fwd), free(bwd), free(t);
            return diverged(b);
        }
    }

    double sum_f = 0, sum_b = 0;
    long flops_f = 0, flops_b = 0;
    for (int i = 0; i < L; i++) {
        LayerCall c = { &layers[i], &b->e, b->N, 0 };
        fwd[i] = time_layer(&c, t);
        sum_f += fwd[i];
        flops_f += layers[i].flops_fwd;
    }
    if (backward)
        for (int i = L - 1; i >= 0; i--) {
            if (!layers[i].backward)
                continue;
            LayerCall c = { &layers[i], &b->e, b->N, 1 };
            bwd[i] = time_layer(&c, t);
            sum_b += bwd[i];
            flops_b += layers[i].flops_bwd;
        }
    double sum = sum_f + sum_b;

    if (a->csv)
        printf("# layer,side,model,batch,index,name,what,fwd_ms,bwd_ms,fwd_gflops,bwd_gflops,"
               "pct_of_total,fwd_flops_per_image,bwd_flops_per_image\n");
    else
        printf("\n  %3s  %-24s %-36s %9s %9s %8s %8s %6s\n", "#", "layer", "what", "fwd ms",
               "bwd ms", "fwd GF/s", "bwd GF/s", "%");
    for (int i = 0; i < L; i++) {
        const RnLayerInfo *l = &layers[i];
        char what[96], gf[32] = "", gb[32] = "", bms[32] = "";
        layer_what(m, l, what, sizeof what);
        int has_b = backward && l->backward;
        if (l->flops_fwd > 0)
            snprintf(gf, sizeof gf, "%.1f", gflops(l->flops_fwd, b->N, fwd[i]));
        if (has_b && l->flops_bwd > 0)
            snprintf(gb, sizeof gb, "%.1f", gflops(l->flops_bwd, b->N, bwd[i]));
        if (has_b)
            snprintf(bms, sizeof bms, "%.4f", 1e3 * bwd[i]);
        double pct = sum > 0 ? 100 * (fwd[i] + bwd[i]) / sum : 0;
        if (a->csv)
            printf("layer,rnet,%s,%d,%d,%s,%s,%.4f,%s,%s,%s,%.2f,%ld,%ld\n", m->name, b->N, i,
                   l->name, what, 1e3 * fwd[i], bms, gf, gb, pct, l->flops_fwd,
                   has_b ? l->flops_bwd : 0L);
        else
            printf("  %3d  %-24s %-36s %9.4f %9s %8s %8s %6.2f\n", i, l->name, what, 1e3 * fwd[i],
                   has_b ? bms : "-", gf[0] ? gf : "-", gb[0] ? gb : "-", pct);
    }
    char gb_tot[32] = "", bms_tot[32] = "";
    if (backward) {
        snprintf(gb_tot, sizeof gb_tot, "%.1f", gflops(flops_b, b->N, sum_b));
        snprintf(bms_tot, sizeof bms_tot, "%.4f", 1e3 * sum_b);
    }
    if (a->csv) {
        printf("layer_total,rnet,%s,%d,%d,all layers,sum of the rows,%.4f,%s,%.1f,%s,100.00,%ld,"
               "%ld\n",
               m->name, b->N, L, 1e3 * sum_f, bms_tot, gflops(flops_f, b->N, sum_f), gb_tot,
               flops_f, flops_b);
        printf("# whole,side,model,batch,forward_ms,backward_ms,update_ms\n");
        if (backward)
            printf("whole,rnet,%s,%d,%.4f,%.4f,%.4f\n", m->name, b->N, 1e3 * w_fwd, 1e3 * w_bwd,
                   1e3 * w_upd);
        else
            printf("whole,rnet,%s,%d,%.4f,,\n", m->name, b->N, 1e3 * w_fwd);
    } else {
        printf("  %3s  %-24s %-36s %9.4f %9s %8.1f %8s %6.2f\n", "", "total (sum of the rows)", "",
               1e3 * sum_f, backward ? bms_tot : "-", gflops(flops_f, b->N, sum_f),
               backward ? gb_tot : "-", 100.0);
        if (backward)
            printf("\n  whole step, each part timed alone: forward %.3f ms, backward %.3f ms, "
                   "update %.3f ms\n",
                   1e3 * w_fwd, 1e3 * w_bwd, 1e3 * w_upd);
        else
            printf("\n  whole forward pass: %.3f ms\n", 1e3 * w_fwd);
    }
    free(fwd), free(bwd), free(t);
    return 0;
}

/* ---- the subcommand ----------------------------------------------------------------------- */

int rn_bench_run(const RnModel *m, const RnBenchArgs *a)
{
    RnBenchMode mode;
    const char *why = NULL;
    char buf[160];
    if (!a->data)
        why = "--data is required";
    else if (!a->mode || rn_bench_mode_parse(a->mode, &mode)) {
        snprintf(buf, sizeof buf, "--mode: unknown mode '%s' (expected train, infer or latency)",
                 a->mode ? a->mode : "");
        why = buf;
    } else if (a->batch < 0)
        why = "--batch must be at least 1 (0: 64 for train, 256 for infer)";
    else if (mode == RN_BENCH_LATENCY && a->batch > 1)
        why = "--batch: latency is measured at batch 1";
    else if (!(a->seconds >= 0) || isinf(a->seconds))
        why = "--seconds must be a number > 0";
    else if (a->steps < 0)
        why = "--steps must be at least 1";
    else if (a->seconds > 0 && a->steps > 0)
        why = "give --seconds or --steps, not both";
    else if (a->steps > MAX_STEPS) {
        snprintf(buf, sizeof buf, "--steps must be at most %ld", MAX_STEPS);
        why = buf;
    } else if (a->warmup < -1)
        why = "--warmup must be at least 0";
    else if (a->threads < 0)
        why = "--threads must be at least 1 (0: OpenMP's default)";
    if (why) {
        rn_errorf("bench: %s", why);
        return 2;
    }
    rn_set_threads(a->threads);

    Bench b;
    memset(&b, 0, sizeof b);
    int rc = bench_setup(&b, m, a, mode);
    if (!rc) {
        int warmup = a->warmup >= 0 ? a->warmup : mode == RN_BENCH_LATENCY ? 20 : 3;
        print_header(&b, a, warmup);
        rc = a->per_layer ? run_per_layer(&b, a, warmup) : run_timed(&b, a, warmup);
    }
    fflush(stdout);
    bench_free(&b);
    return rc;
}
