/* rn_cli.c - the built program's command line: subcommands, options,
 * --help, and the one-line messages every failure prints.
 *
 * Each subcommand is a row of a table (name, runner, summary), and each
 * runner describes its options as a table of ArgSpec rows pointing into
 * the argument struct its run function takes (rn_driver.h).  One parser
 * walks any such table: "--name value", "--name=value" and flags; unknown
 * options, missing or malformed values and stray arguments are usage
 * errors (exit 2) with one line naming the option.  --help prints the
 * table with the model's defaults and exits 0.
 *
 * Only syntax is checked here; the run functions check the values
 * (ranges, combinations), so a test that calls them directly gets the
 * same checks.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn_driver.h"
#include "rn_gemm.h"
#include "rn_version.h"


/* ---- the option parser ---------------------------------------------------- */

typedef enum { A_INT, A_LONG, A_FLOAT, A_DOUBLE, A_STR, A_SET, A_OPTIM, A_SCHED } ArgKind;

typedef struct {
    const char *name;       /* "--epochs" */
    ArgKind kind;
    void *dst;              /* int*, long*, float*, double*, const char**, RnOptKind*, RnSchedKind* */
    int value;              /* A_SET: what the flag stores into *(int *)dst */
    const char *metavar;    /* "N"; NULL for flags */
    const char *help;
} ArgSpec;

typedef struct {
    const char *cmd;        /* "train" */
    const char *usage;      /* after "PROG cmd " */
    const char *about;      /* a paragraph */
    const ArgSpec *spec;
    int nspec;
    int npos_min, npos_max; /* positional arguments allowed */
    const char *posname;    /* for messages: "INPUT" */
} ArgTable;

static void print_default(FILE *f, const ArgSpec *s)
{
    switch (s->kind) {
    case A_INT:
        fprintf(f, " (default %d)", *(int *)s->dst);
        break;
    case A_LONG:
        fprintf(f, " (default %ld)", *(long *)s->dst);
        break;
    case A_FLOAT:
        fprintf(f, " (default %g)", (double)*(float *)s->dst);
        break;
    case A_DOUBLE:
        fprintf(f, " (default %g)", *(double *)s->dst);
        break;
    case A_STR:
        if (*(const char **)s->dst)
            fprintf(f, " (default %s)", *(const char **)s->dst);
        break;
    case A_SET:
        if (*(int *)s->dst == s->value)
            fprintf(f, " (default)");
        break;
    case A_OPTIM:
        fprintf(f, " (default %s)", rn_optim_kind_name(*(RnOptKind *)s->dst));
        break;
    case A_SCHED:
        fprintf(f, " (default %s)", rn_sched_kind_name(*(RnSchedKind *)s->dst));
        break;
    }
}

static void print_help(const ArgTable *t)
{
    printf("usage: %s %s %s\n\n%s\n", rn_prog_name(), t->cmd, t->usage, t->about);
    if (t->nspec)
        printf("\noptions:\n");
    for (int i = 0; i < t->nspec; i++) {
        const ArgSpec *s = &t->spec[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", s->name, s->metavar ? " " : "",
                 s->metavar ? s->metavar : "");
        printf("  %-22s %s", left, s->help);
        print_default(stdout, s);
        printf("\n");
    }
    printf("  %-22s %s\n", "--help", "show this help");
}

static int parse_value(const ArgTable *t, const ArgSpec *s, const char *v)
{
    char *end;
    switch (s->kind) {
    case A_INT:
    case A_LONG: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || (s->kind == A_INT && (x < -2147483647L || x > 2147483647L))) {
            rn_errorf("%s: %s: '%s' is not an integer", t->cmd, s->name, v);
            return 2;
        }
        if (s->kind == A_INT)
            *(int *)s->dst = (int)x;
        else
            *(long *)s->dst = x;
        return 0;
    }
    case A_FLOAT:
    case A_DOUBLE: {
        double x = strtod(v, &end);
        if (!*v || *end || !isfinite(x)) {
            rn_errorf("%s: %s: '%s' is not a number", t->cmd, s->name, v);
            return 2;
        }
        if (s->kind == A_FLOAT)
            *(float *)s->dst = (float)x;
        else
            *(double *)s->dst = x;
        return 0;
    }
    case A_STR:
        if (!*v) {
            rn_errorf("%s: %s needs a non-empty value", t->cmd, s->name);
            return 2;
        }
        *(const char **)s->dst = v;
        return 0;
    case A_SET:
        return 0; /* flags take no value; handled by the caller */
    case A_OPTIM:
        if (rn_optim_kind_parse(v, (RnOptKind *)s->dst)) {
            rn_errorf("%s: %s: unknown optimizer '%s' (expected %s)", t->cmd, s->name, v,
                      rn_optim_kind_list());
            return 2;
        }
        return 0;
    case A_SCHED:
        if (rn_sched_kind_parse(v, (RnSchedKind *)s->dst)) {
            rn_errorf("%s: %s: unknown schedule '%s' (expected %s)", t->cmd, s->name, v,
                      rn_sched_kind_list());
            return 2;
        }
        return 0;
    }
    return 2;
}

/* Parse argv[0..argc) (after the subcommand).  Positional arguments go to
 * pos[0..*npos).  Returns 0 to run, -1 after printing help (exit 0), 2 on a
 * usage error (already reported). */
static int parse_args(const ArgTable *t, int argc, char **argv, char **pos, int *npos)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_help(t);
            return -1;
        }
        else if (!strcmp(argv[i], "--"))
            break;
    int n = 0, only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || !a[1]) {
            if (n >= t->npos_max) {
                if (t->npos_max)
                    rn_errorf("%s: too many arguments at '%s'", t->cmd, a);
                else
                    rn_errorf("%s: unexpected argument '%s' (see '%s %s --help')", t->cmd, a,
                              rn_prog_name(), t->cmd);
                return 2;
            }
            pos[n++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const ArgSpec *s = NULL;
        for (int k = 0; k < t->nspec && !s; k++)
            if (strlen(t->spec[k].name) == len && !strncmp(t->spec[k].name, a, len))
                s = &t->spec[k];
        if (!s) {
            rn_errorf("%s: unknown option '%.*s' (see '%s %s --help')", t->cmd, (int)len, a,
                      rn_prog_name(), t->cmd);
            return 2;
        }
        if (s->kind == A_SET) {
            if (eq) {
                rn_errorf("%s: %s takes no value", t->cmd, s->name);
                return 2;
            }
            *(int *)s->dst = s->value;
            continue;
        }
        const char *v;
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            rn_errorf("%s: %s needs a value (%s)", t->cmd, s->name, s->metavar);
            return 2;
        }
        int rc = parse_value(t, s, v);
        if (rc)
            return rc;
    }
    if (n < t->npos_min) {
        rn_errorf("%s: missing %s (see '%s %s --help')", t->cmd, t->posname, rn_prog_name(), t->cmd);
        return 2;
    }
    *npos = n;
    return 0;
}

#define NSPEC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int require(const char *cmd, const char *opt, const void *v)
{
    if (v)
        return 0;
    rn_errorf("%s: %s is required (see '%s %s --help')", cmd, opt, rn_prog_name(), cmd);
    return 2;
}

/* ---- the subcommands ------------------------------------------------------- */

/* The train options as rows pointing into *a (so one table serves both
 * parses below); returns the row count. */
static int train_spec(RnTrainArgs *a, ArgSpec *spec)
{
    const ArgSpec rows[] = {
        { "--data", A_STR, &a->data, 0, "DIR", "directory with the IDX files (required unless resuming)" },
        { "--epochs", A_INT, &a->epochs, 0, "N", "epochs in the run (may be raised when resuming)" },
        { "--batch", A_INT, &a->batch, 0, "B", "images per step" },
        { "--lr", A_FLOAT, &a->lr, 0, "X", "(peak) learning rate" },
        { "--optimizer", A_OPTIM, &a->optimizer, 0, "NAME", "sgd, adam or adamw" },
        { "--momentum", A_FLOAT, &a->momentum, 0, "X", "SGD momentum, in [0, 1)" },
        { "--nesterov", A_SET, &a->nesterov, 1, NULL, "SGD with Nesterov momentum" },
        { "--no-nesterov", A_SET, &a->nesterov, 0, NULL, "SGD with plain momentum" },
        { "--weight-decay", A_FLOAT, &a->weight_decay, 0, "X", "weight decay" },
        { "--schedule", A_SCHED, &a->schedule, 0, "NAME", "constant, step, cosine or onecycle" },
        { "--warmup", A_FLOAT, &a->warmup, 0, "E", "linear warm-up epochs" },
        { "--label-smoothing", A_FLOAT, &a->label_smoothing, 0, "X", "label smoothing in [0, 1)" },
        { "--shift", A_INT, &a->shift, 0, "P", "random shift of up to P pixels" },
        { "--flip", A_SET, &a->flip, 1, NULL, "random horizontal flips" },
        { "--no-flip", A_SET, &a->flip, 0, NULL, "no flips" },
        { "--seed", A_LONG, &a->seed, 0, "S", "seed for init, shuffling, augmentation" },
        { "--threads", A_INT, &a->threads, 0, "T", "OpenMP threads; 0 keeps OpenMP's default" },
        { "--limit", A_LONG, &a->limit, 0, "N", "train on the first N images only; 0 uses all" },
        { "--save", A_STR, &a->save, 0, "FILE",
          "weights (default: the --resume file, <log-dir>/model.safetensors, NAME.safetensors)" },
        { "--save-every", A_INT, &a->save_every, 0, "N", "also save after every N epochs; 0: never" },
        { "--resume", A_STR, &a->resume, 0, "FILE", "continue the run saved in FILE (and its state)" },
        { "--stop-after", A_FLOAT, &a->stop_after, 0, "E",
          "stop after E epochs (may be fractional), saving; 0: never" },
        { "--log-dir", A_STR, &a->log_dir, 0, "DIR",
          "metrics.csv, steps.csv, TensorBoard events (resuming: the run's)" },
        { "--log-every", A_INT, &a->log_every, 0, "N", "steps between per-step scalars; 0: none" },
        { "--no-progress", A_SET, &a->no_progress, 1, NULL, "no progress report inside epochs" },
        { "--reference", A_SET, &a->reference, 1, NULL,
          "run the reference interpreter instead of the generated code (slow)" },
    };
    int n = NSPEC(rows);
    for (int i = 0; i < n; i++)
        spec[i] = rows[i];
    return n;
}

/* a program built with rnetc --inference-only has no backward pass and no
 * update: train and check cannot run (eval, predict and info can) */
static int need_backward(const RnModel *m, const char *cmd)
{
    if (m->backward && m->update)
        return 0;
    rn_errorf("%s: this program was built with --inference-only: it has no backward pass "
              "or update, so it cannot %s (eval, predict and info work)", cmd, cmd);
    return 1;
}

static int cmd_train(const RnModel *m, int argc, char **argv)
{
    RnTrainArgs a;
    rn_train_args_defaults(m, &a);
    ArgSpec spec[32];
    const ArgTable t = {
        "train", "--data DIR [options]  |  --resume FILE [options]",
        "Train the model from its initial weights on the IDX training set in DIR,\n"
        "evaluate on the test set after every epoch, and save the weights.\n"
        "\n"
        "Inside an epoch a progress line shows batches, running loss, images/s and\n"
        "the time left (on a terminal one line redrawn in place, otherwise a plain\n"
        "line every tenth of an epoch that lasts a few seconds).\n"
        "\n"
        "Checkpoints: FILE.safetensors holds the weights (torchvision names), and\n"
        "FILE.state.safetensors beside it the optimizer state, the position in the\n"
        "run and its options.  They are written at the end, every --save-every\n"
        "epochs, at --stop-after, and when Ctrl-C (SIGINT) or SIGTERM stops the run\n"
        "after its current step (a second Ctrl-C quits at once).  --resume FILE\n"
        "continues such a run exactly where it stopped: with the same thread count\n"
        "the final weights are byte for byte those of a run never stopped.  Options\n"
        "that define the run come from the checkpoint; giving a different value is\n"
        "an error.  --epochs may be raised to extend a run (cosine and one-cycle\n"
        "schedules are then stretched from the current step on).\n"
        "\n"
        "With --log-dir: metrics.csv (a row per epoch), steps.csv (a row per\n"
        "--log-every steps) and events.out.tfevents.* for TensorBoard\n"
        "(tensorboard --logdir DIR): per step train/batch_loss (mean since the\n"
        "last point) and train/lr; per epoch train/loss, train/accuracy,\n"
        "test/loss, test/accuracy and perf/images_per_sec.",
        spec, train_spec(&a, spec), 0, 0, NULL
    };
    int npos = 0, rc = parse_args(&t, argc, argv, NULL, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;

    /* Which options did the command line set (for --resume)?  Parse again
     * into values no option can produce (parse_value refuses non-finite
     * numbers and INT_MIN), and see which changed. */
    RnTrainArgs g;
    memset(&g, 0, sizeof g);
    g.epochs = g.batch = g.shift = g.threads = g.save_every = g.log_every = INT_MIN;
    g.lr = g.momentum = g.weight_decay = g.warmup = g.label_smoothing = NAN;
    g.nesterov = g.flip = -1;
    g.seed = g.limit = LONG_MIN;
    g.optimizer = (RnOptKind)-1;
    g.schedule = (RnSchedKind)-1;
    ArgSpec gspec[32];
    const ArgTable gt = { t.cmd, t.usage, t.about, gspec, train_spec(&g, gspec), 0, 0, NULL };
    if (parse_args(&gt, argc, argv, NULL, &npos))
        return 2; /* cannot happen: the same arguments parsed above */
    a.given = (g.epochs != INT_MIN ? RN_GIVEN_EPOCHS : 0) |
              (g.batch != INT_MIN ? RN_GIVEN_BATCH : 0) | (!isnan(g.lr) ? RN_GIVEN_LR : 0) |
              ((int)g.optimizer != -1 ? RN_GIVEN_OPTIMIZER : 0) |
              (!isnan(g.momentum) ? RN_GIVEN_MOMENTUM : 0) |
              (g.nesterov != -1 ? RN_GIVEN_NESTEROV : 0) |
              (!isnan(g.weight_decay) ? RN_GIVEN_WEIGHT_DECAY : 0) |
              ((int)g.schedule != -1 ? RN_GIVEN_SCHEDULE : 0) |
              (!isnan(g.warmup) ? RN_GIVEN_WARMUP : 0) |
              (!isnan(g.label_smoothing) ? RN_GIVEN_LABEL_SMOOTHING : 0) |
              (g.shift != INT_MIN ? RN_GIVEN_SHIFT : 0) | (g.flip != -1 ? RN_GIVEN_FLIP : 0) |
              (g.seed != LONG_MIN ? RN_GIVEN_SEED : 0) |
              (g.limit != LONG_MIN ? RN_GIVEN_LIMIT : 0) |
              (g.threads != INT_MIN ? RN_GIVEN_THREADS : 0) |
              (g.save_every != INT_MIN ? RN_GIVEN_SAVE_EVERY : 0) |
              (g.log_every != INT_MIN ? RN_GIVEN_LOG_EVERY : 0);
    if (!a.resume && (rc = require("train", "--data", a.data)))
        return rc;
    if (need_backward(m, "train"))
        return 1;
    return rn_train_run(m, &a);
}

static int cmd_eval(const RnModel *m, int argc, char **argv)
{
    RnEvalArgs a = { 0 };
    a.batch = m->defaults.batch > 0 ? m->defaults.batch : 64;
    const ArgSpec spec[] = {
        { "--data", A_STR, &a.data, 0, "DIR", "directory with the IDX test set (required)" },
        { "--weights", A_STR, &a.weights, 0, "FILE", "a .safetensors checkpoint (required)" },
        { "--batch", A_INT, &a.batch, 0, "B", "images per forward pass" },
        { "--threads", A_INT, &a.threads, 0, "T", "OpenMP threads; 0 keeps OpenMP's default" },
        { "--reference", A_SET, &a.reference, 1, NULL, "run the reference interpreter" },
    };
    const ArgTable t = { "eval", "--data DIR --weights FILE [options]",
                         "Evaluate saved weights on the test set in DIR: accuracy, mean loss and\n"
                         "per-class accuracy.",
                         spec, NSPEC(spec), 0, 0, NULL };
    int npos = 0, rc = parse_args(&t, argc, argv, NULL, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    if ((rc = require("eval", "--data", a.data)) || (rc = require("eval", "--weights", a.weights)))
        return rc;
    return rn_eval_run(m, &a);
}

static int cmd_predict(const RnModel *m, int argc, char **argv)
{
    RnPredictArgs a = { 0 };
    const ArgSpec spec[] = {
        { "--weights", A_STR, &a.weights, 0, "FILE", "a .safetensors checkpoint (required)" },
        { "--resize", A_SET, &a.resize, 1, NULL,
          "fit images to the model's input: size, and RGB <-> gray" },
        { "--top", A_INT, &a.top, 0, "K", "probabilities to print per input (0: up to 5)" },
        { "--invert", A_SET, &a.invert, 1, NULL, "invert pixels (dark-on-light images)" },
        { "--logits", A_SET, &a.logits, 1, NULL, "print the logits instead of probabilities" },
        { "--raw", A_SET, &a.raw, 1, NULL,
          "inputs are raw float32 files (N x C x H x W), fed unnormalised" },
    };
    const ArgTable t = { "predict", "--weights FILE [options] INPUT...",
                         "Classify each INPUT: a PGM or PNG image, a directory (every .png and\n"
                         ".pgm in it, sorted), or IDXFILE:INDEX for entry INDEX (from 0) of an\n"
                         "IDX image file.  Images must have the model's size and channel count\n"
                         "(or give --resize); the model's normalisation is applied.",
                         spec, NSPEC(spec), 1, argc, "INPUT" };
    char **pos = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!pos) {
        rn_errorf("out of memory");
        return 1;
    }
    int npos = 0, rc = parse_args(&t, argc, argv, pos, &npos);
    if (!rc)
        rc = require("predict", "--weights", a.weights);
    if (!rc) {
        a.inputs = pos;
        a.ninputs = npos;
        rc = rn_predict_run(m, &a);
    } else if (rc < 0)
        rc = 0;
    free(pos);
    return rc;
}

static int cmd_info(const RnModel *m, int argc, char **argv)
{
    int batch = 0;
    const ArgSpec spec[] = {
        { "--batch", A_INT, &batch, 0, "N", "report the workspace for batch N" },
    };
    const ArgTable t = { "info", "[--batch N]",
                         "Describe the model: layers, parameters, MACs, memory, training defaults,\n"
                         "threads and floating-point modes.",
                         spec, NSPEC(spec), 0, 0, NULL };
    int npos = 0, rc = parse_args(&t, argc, argv, NULL, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    return rn_info_run(m, batch);
}

static int cmd_check(const RnModel *m, int argc, char **argv)
{
    RnCheckArgs a = { .seed = 1, .batch = 4, .tol = 1e-4, .kink_margin = 1e-5, .verbose = 0 };
    const ArgSpec spec[] = {
        { "--seed", A_LONG, &a.seed, 0, "S", "seed for the weights, input and gradients" },
        { "--batch", A_INT, &a.batch, 0, "N", "images in the test batch" },
        { "--tol", A_DOUBLE, &a.tol, 0, "X", "largest relative error accepted" },
        { "--kink-margin", A_DOUBLE, &a.kink_margin, 0, "X",
          "ReLU inputs this close to zero (relative) may take either side; 0: none" },
        { "--verbose", A_SET, &a.verbose, 1, NULL, "one line per tensor" },
        { "--dump", A_STR, &a.dump, 0, "FILE",
          "also write the generated side's train logits, gradients and inference logits\n"
          "(raw float32) to FILE, to compare two builds" },
    };
    const ArgTable t = { "check", "[options]",
                         "Compare this program's generated code with the reference interpreter on\n"
                         "random weights and inputs: logits (train and inference), gradients,\n"
                         "running statistics, and one SGD, Adam and AdamW update.  Exit status 1\n"
                         "if any tensor's relative error max|a-b| / max(max|ref|, 1e-3) exceeds\n"
                         "the tolerance.  Where a ReLU input lies within float rounding of zero the\n"
                         "two sides may take different sides of the kink; a gradient mismatch that\n"
                         "reversing such a unit's mask removes is reported, not failed.",
                         spec, NSPEC(spec), 0, 0, NULL };
    int npos = 0, rc = parse_args(&t, argc, argv, NULL, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (need_backward(m, "check"))
        return 1;
    return rn_check_run(m, &a);
}

static int cmd_bench(const RnModel *m, int argc, char **argv)
{
    RnBenchArgs a;
    rn_bench_args_defaults(&a);
    const ArgSpec spec[] = {
        { "--data", A_STR, &a.data, 0, "DIR", "directory with the IDX files (required)" },
        { "--mode", A_STR, &a.mode, 0, "MODE", "train, infer or latency" },
        { "--batch", A_INT, &a.batch, 0, "N", "images per step; 0: 64 (train), 256 (infer)" },
        { "--seconds", A_DOUBLE, &a.seconds, 0, "S", "timed seconds; 0: 3 unless --steps" },
        { "--steps", A_LONG, &a.steps, 0, "K", "time exactly K steps; 0: --seconds" },
        { "--warmup", A_INT, &a.warmup, 0, "K", "untimed steps first; -1: 3 (latency 20)" },
        { "--threads", A_INT, &a.threads, 0, "T", "OpenMP threads; 0 keeps OpenMP's default" },
        { "--per-layer", A_SET, &a.per_layer, 1, NULL,
          "time each layer's forward and backward alone (ms, GFLOP/s, % of the total)" },
        { "--csv", A_SET, &a.csv, 1, NULL, "machine-readable records (bench/bench.sh reads them)" },
    };
    const ArgTable t = { "bench", "--data DIR [options]",
                         "Measure speed on real data.  train: whole training steps (batch, forward,\n"
                         "loss, backward, the model's optimizer) over shuffled training images,\n"
                         "images/s.  infer: forward passes in inference mode over test batches,\n"
                         "images/s.  latency: single-image forward passes, median and 90th\n"
                         "percentile milliseconds.  Warm-up steps first; everything is allocated\n"
                         "before the clock starts.  --per-layer times every layer on its own.",
                         spec, NSPEC(spec), 0, 0, NULL };
    int npos = 0, rc = parse_args(&t, argc, argv, NULL, &npos);
    if (rc)
        return rc < 0 ? 0 : rc;
    if ((rc = require("bench", "--data", a.data)))
        return rc;
    return rn_bench_run(m, &a);
}

typedef struct {
    const char *name;
    int (*run)(const RnModel *m, int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    { "train", cmd_train, "train the model on an IDX data set" },
    { "eval", cmd_eval, "evaluate saved weights on the test set" },
    { "predict", cmd_predict, "classify images (PGM, PNG) or IDX entries" },
    { "info", cmd_info, "describe the model: layers, sizes, defaults" },
    { "check", cmd_check, "compare the generated code with the reference interpreter" },
    { "bench", cmd_bench, "measure training and inference speed on real data" },
};

static void usage(FILE *f, const RnModel *m)
{
    fprintf(f, "usage: %s <command> [options]\n\n%s: the %s network, built by rnetc.\n\ncommands:\n",
            rn_prog_name(), rn_prog_name(), m->name);
    for (int i = 0; i < NSPEC(commands); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'%s <command> --help' lists a command's options; '%s --version' the version.\n",
            rn_prog_name(), rn_prog_name());
}

int rn_cli_main(const RnModel *m, int argc, char **argv)
{
    rn_set_prog_name(m->name);
    if (argc > 0)
        rn_set_prog_name(argv[0]);
    rn_fpu_setup();
    if (argc < 2) {
        usage(stderr, m);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout, m);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        rn_print_version(stdout, rn_prog_name());
        printf("model: %s, built by rnetc's %s backend\n", m->name, m->backend);
        printf("GEMM kernel on this machine: %s\n", rn_gemm_isa());
        return 0;
    }
    for (int i = 0; i < NSPEC(commands); i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].run(m, argc - 2, argv + 2);
    char list[128] = "";
    for (int i = 0; i < NSPEC(commands); i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 commands[i].name);
    rn_errorf("unknown command '%s' (expected one of %s; see '%s --help')", cmd, list, rn_prog_name());
    return 2;
}
