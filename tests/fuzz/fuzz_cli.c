/* fuzz_cli.c - libFuzzer entry point for the built program's command line.
 *
 * The input is split into arguments at NUL and newline bytes ("train\0
 * --data\0d\0--epochs\03"; a separator at the very end ends the last
 * argument) and handed to rn_cli_main after a fixed argv[0], so the real
 * dispatch and option parser (rn_cli.c) run, --help texts included.  The
 * parser itself never exits or runs anything; what it calls on success
 * are the run functions, and this file defines them (and the two argument
 * defaults that live beside them in rn_train.c and rn_bench.c) as stubs
 * that only check what they were given: every string an option set is a
 * non-empty argument of this input (or a default), required options are
 * there, train's "given" bits match what the double parse should find,
 * and train and check are never reached on an inference-only model.  Odd
 * input sizes use that inference-only model.  stdout and stderr (help and
 * usage messages) are pointed at /dev/null; sanitizer reports still reach
 * file descriptor 2.  Built and run by tools/fuzz.sh --target cli; by hand:
 *
 *   clang -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L \
 *       -fsanitize=fuzzer,address,undefined -Iruntime -Iruntime/host \
 *       tests/fuzz/fuzz_cli.c runtime/host/rn_cli.c runtime/host/rn_host.c \
 *       runtime/host/rn_cpu.c runtime/host/rn_schedule.c runtime/rn_optim.c -lm -o /tmp/fz
 *   /tmp/fz -max_total_time=60 tests/fuzz/corpus_cli */
#include "rn_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_backward(RnExec *e, const float *dlogits, int N)
{
    (void)e, (void)dlogits, (void)N;
    abort();
}

static void no_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v)
{
    (void)e, (void)o, (void)lr, (void)t, (void)m, (void)v;
    abort();
}

static const RnModel full = { .name = "fuzznet", .backward = no_backward, .update = no_update };
static const RnModel inference_only = { .name = "fuzznet" };

/* this input's arguments: [args, args_end) */
static const char *args, *args_end;

/* s is NULL, dflt, or one whole non-empty argument */
static void check_str(const char *s, const char *dflt)
{
    if (!s || s == dflt)
        return;
    if (s < args || s >= args_end || !*s)
        abort();
}

/* ---- the stubs ------------------------------------------------------------ */

const char *rn_gemm_isa(void) /* --version names the GEMM kernel */
{
    return "none (fuzzing)";
}

void rn_train_args_defaults(const RnModel *m, RnTrainArgs *a)
{
    (void)m;
    memset(a, 0, sizeof *a);
    a->epochs = 10;
    a->batch = 64;
    a->lr = 0.1f;
    a->optimizer = RN_OPT_SGD;
    a->schedule = RN_SCHED_CONSTANT;
    a->log_every = 10;
}

int rn_train_run(const RnModel *m, const RnTrainArgs *a)
{
    RnTrainArgs d;
    rn_train_args_defaults(m, &d);
    if (!m->backward || (!a->data && !a->resume) || a->quiet)
        abort();
    check_str(a->data, NULL);
    check_str(a->save, NULL);
    check_str(a->log_dir, NULL);
    check_str(a->resume, NULL);
    /* an option the command line did not give keeps its default */
#define SAME_UNLESS(bit, f) \
    if (!(a->given & (bit)) && a->f != d.f) \
        abort();
    SAME_UNLESS(RN_GIVEN_EPOCHS, epochs)
    SAME_UNLESS(RN_GIVEN_BATCH, batch)
    SAME_UNLESS(RN_GIVEN_LR, lr)
    SAME_UNLESS(RN_GIVEN_OPTIMIZER, optimizer)
    SAME_UNLESS(RN_GIVEN_MOMENTUM, momentum)
    SAME_UNLESS(RN_GIVEN_NESTEROV, nesterov)
    SAME_UNLESS(RN_GIVEN_WEIGHT_DECAY, weight_decay)
    SAME_UNLESS(RN_GIVEN_SCHEDULE, schedule)
    SAME_UNLESS(RN_GIVEN_WARMUP, warmup)
    SAME_UNLESS(RN_GIVEN_LABEL_SMOOTHING, label_smoothing)
    SAME_UNLESS(RN_GIVEN_SHIFT, shift)
    SAME_UNLESS(RN_GIVEN_FLIP, flip)
    SAME_UNLESS(RN_GIVEN_SEED, seed)
    SAME_UNLESS(RN_GIVEN_LIMIT, limit)
    SAME_UNLESS(RN_GIVEN_THREADS, threads)
    SAME_UNLESS(RN_GIVEN_SAVE_EVERY, save_every)
    SAME_UNLESS(RN_GIVEN_LOG_EVERY, log_every)
#undef SAME_UNLESS
    return 0;
}

int rn_eval_run(const RnModel *m, const RnEvalArgs *a)
{
    (void)m;
    if (!a->data || !a->weights)
        abort();
    check_str(a->data, NULL);
    check_str(a->weights, NULL);
    return 0;
}

int rn_predict_run(const RnModel *m, const RnPredictArgs *a)
{
    (void)m;
    if (!a->weights || a->ninputs < 1 || !a->inputs)
        abort();
    check_str(a->weights, NULL);
    for (int i = 0; i < a->ninputs; i++) {
        /* a positional argument may be empty ("" is a file name like any other) */
        if (a->inputs[i] < args || a->inputs[i] >= args_end)
            abort();
    }
    return 0;
}

int rn_info_run(const RnModel *m, int batch)
{
    (void)m, (void)batch;
    return 0;
}

int rn_check_run(const RnModel *m, const RnCheckArgs *a)
{
    if (!m->backward)
        abort();
    check_str(a->dump, NULL);
    return 0;
}

static const char default_mode[] = "train";

void rn_bench_args_defaults(RnBenchArgs *a)
{
    memset(a, 0, sizeof *a);
    a->mode = default_mode;
    a->warmup = -1;
}

int rn_bench_run(const RnModel *m, const RnBenchArgs *a)
{
    (void)m;
    if (!a->data || !a->mode)
        abort();
    check_str(a->data, NULL);
    check_str(a->mode, default_mode);
    return 0;
}

/* ---- the entry point ------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char prog[] = "fuzznet";
    static FILE *devnull;
    if (!devnull) {
        if (!(devnull = fopen("/dev/null", "w")))
            abort();
        stdout = stderr = devnull; /* glibc's stdout and stderr are plain variables */
    }
    char *buf = malloc(size + 1);
    char **argv = malloc(sizeof *argv * (size + 2));
    if (!buf || !argv)
        abort();
    memcpy(buf, data, size);
    buf[size] = 0;
    int argc = 0;
    argv[argc++] = prog;
    for (size_t i = 0; i < size;) {
        argv[argc++] = buf + i;
        while (i < size && buf[i] && buf[i] != '\n')
            i++;
        buf[i++] = 0;
    }
    argv[argc] = NULL;
    args = buf;
    args_end = buf + size + 1;

    int rc = rn_cli_main(size & 1 ? &inference_only : &full, argc, argv);
    if (rc < 0 || rc > 2)
        abort();
    free(argv);
    free(buf);
    return 0;
}
