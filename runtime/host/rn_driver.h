/* rn_driver.h - the built program: train, eval, predict, info, check.
 *
 * Every program rnetc builds is the generated model (`const RnModel
 * rn_model`) plus this driver.  rn_main.c is only
 *
 *     int main(int argc, char **argv) { return rn_cli_main(&rn_model, argc, argv); }
 *
 * so everything else takes the model as an argument and can be linked into
 * a test with a hand-made model.  The pieces:
 *
 *   rn_cli.c      command-line parsing, --help texts, dispatch, messages
 *   rn_train.c    train and eval: the loops, evaluation, metrics.csv
 *   rn_ckpt.c     checkpoints: the model's tensors to and from .safetensors,
 *                 and the state a resumed run needs beside them
 *   rn_progress.c the progress line inside an epoch
 *   rn_tblog.c    TensorBoard event files (rn_tblog.h)
 *   rn_predict.c  predict: images and IDX entries to class probabilities
 *   rn_info.c     info: the layer table, sizes, defaults, threads, FTZ
 *   rn_check.c    check: generated code against the reference interpreter
 *
 * Conventions: each run function returns the process exit status - 0 done,
 * 1 a runtime error (bad file, diverged run, parity failure), 2 a usage
 * error - after printing one line "PROG: error: ..." that names the file
 * and the problem.  Nothing that was saved before is overwritten by a run
 * that fails.  A training run stopped by SIGINT or SIGTERM saves a
 * checkpoint to resume from and returns 128 + the signal number.
 */
#ifndef RN_DRIVER_H
#define RN_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rn_data.h"
#include "rn_model.h"
#include "rn_optim.h"
#include "rn_safetensors.h"
#include "rn_schedule.h"

/* ---- rn_cli.c ------------------------------------------------------------ */

/* Parse argv, run the subcommand on m, return the exit status. */
int rn_cli_main(const RnModel *m, int argc, char **argv);

/* The name messages start with: basename of argv[0] once rn_cli_main has
 * run, the model name before that. */
void rn_set_prog_name(const char *name);
const char *rn_prog_name(void);

/* "PROG: error: <fmt>\n" and "PROG: warning: <fmt>\n" on stderr. */
void rn_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rn_warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Flush denormals to zero (FTZ and DAZ) on x86 with SSE; a no-op
 * elsewhere.  rn_fpu_ftz_on says whether both modes are on now. */
void rn_fpu_setup(void);
int rn_fpu_ftz_on(void);

/* Whether the program has an OpenMP runtime (this file built with
 * -fopenmp, or the program linked with one); omp_set_num_threads(n) when
 * it has and n > 0; the thread count a parallel region gets (1 without
 * OpenMP). */
int rn_have_openmp(void);
/* the OpenMP wait policy rn_main.c chose before libgomp started: 1 it set
 * GOMP_SPINCOUNT, 0 the user's environment (or none) stands, -1 libgomp is
 * a shared library that had read its environment already */
extern int rn_wait_default;
/* OpenMP threads for what follows (n <= 0: OpenMP's default); more than
 * the machine's processors is capped to them, with a warning */
void rn_set_threads(int n);
int rn_processors(void);    /* processors online */
int rn_threads(void);

/* ---- rn_train.c ---------------------------------------------------------- */

typedef struct RnTrainArgs {
    const char *data;           /* directory with the IDX files (required) */
    int epochs, batch;
    float lr;
    RnOptKind optimizer;
    float momentum;
    int nesterov;
    float weight_decay;
    RnSchedKind schedule;
    float warmup;               /* epochs */
    float label_smoothing;
    int shift, flip;            /* augmentation */
    long seed;
    int threads;                /* 0: OpenMP's default */
    const char *save;           /* NULL: <log_dir>/model.safetensors or NAME.safetensors */
    const char *log_dir;        /* NULL: no metrics.csv */
    long limit;                 /* 0: all training images */
    int reference;              /* run the reference interpreter */
    int quiet;                  /* no per-epoch lines, no progress (tests) */
    int no_progress;            /* no progress line inside an epoch */
    const char *resume;         /* NULL: a fresh run; else a weights file whose
                                   state file (rn_ckpt_state_path) is beside it */
    int save_every;             /* also save after every N epochs; 0: at the end only */
    float stop_after;           /* stop after this many epochs (may be fractional),
                                   saving a checkpoint; 0: run them all */
    int log_every;              /* steps between per-step TensorBoard scalars
                                   (and steps.csv rows); 0: per epoch only */
    unsigned given;             /* RN_GIVEN_* bits: the options the command line
                                   set.  With resume, the run-defining ones must
                                   agree with the saved run (--epochs may
                                   change); threads, save_every, log_every and
                                   the paths may change; the rest are taken
                                   from the saved run. */
} RnTrainArgs;

enum {
    RN_GIVEN_EPOCHS = 1u << 0, RN_GIVEN_BATCH = 1u << 1, RN_GIVEN_LR = 1u << 2,
    RN_GIVEN_OPTIMIZER = 1u << 3, RN_GIVEN_MOMENTUM = 1u << 4, RN_GIVEN_NESTEROV = 1u << 5,
    RN_GIVEN_WEIGHT_DECAY = 1u << 6, RN_GIVEN_SCHEDULE = 1u << 7, RN_GIVEN_WARMUP = 1u << 8,
    RN_GIVEN_LABEL_SMOOTHING = 1u << 9, RN_GIVEN_SHIFT = 1u << 10, RN_GIVEN_FLIP = 1u << 11,
    RN_GIVEN_SEED = 1u << 12, RN_GIVEN_LIMIT = 1u << 13, RN_GIVEN_THREADS = 1u << 14,
    RN_GIVEN_SAVE_EVERY = 1u << 15, RN_GIVEN_LOG_EVERY = 1u << 16,
};

/* The model's training defaults as arguments (data, save, log_dir, resume
 * NULL; log_every 10; given 0). */
void rn_train_args_defaults(const RnModel *m, RnTrainArgs *a);
int rn_train_run(const RnModel *m, const RnTrainArgs *a);

typedef struct RnEvalArgs {
    const char *data, *weights; /* both required */
    int batch;                  /* 0: the model's default */
    int threads;
    int reference;
} RnEvalArgs;

int rn_eval_run(const RnModel *m, const RnEvalArgs *a);

/* The buffers a model runs on, sized for N_max (rn_model.h's RnExec);
 * grads zeroed.  0, or -1 when out of memory. */
int rn_exec_alloc(const RnModel *m, int N_max, RnExec *e);
/* Whether batch N of m fits in the machine's memory (the buffers of
 * rn_exec_alloc and a batch of inputs); if not, 0 with an error naming WHAT
 * (the flag, "--batch") and the sizes: checked before allocating. */
int rn_batch_fits(const RnModel *m, int N, const char *what);
void rn_exec_free(RnExec *e);

/* The model's per-channel normalisation: mean/std of in_c entries each
 * (0 and 1 when the model has none). */
void rn_model_norm(const RnModel *m, float *mean, float *std);

/* Inference over a whole data set in file order, in batches of B <=
 * e->N_max (forward, train = 0): mean cross-entropy (no smoothing) into
 * *loss, accuracy in [0, 1] into *acc, and, when not NULL, per-class
 * counts correct[classes] and total[classes].  0, or -1 when out of
 * memory. */
int rn_evaluate(const RnModel *m, RnExec *e, const RnDataset *ds, int B, const float *mean,
                 const float *std, double *loss, double *acc, long *correct, long *total);

/* ---- rn_ckpt.c ----------------------------------------------------------- */

/* Save every tensor of the parameter block (running statistics included)
 * under its name, with metadata format=rnet-1, model, source_hash, backend
 * and the extra pairs, atomically.  0, or -1 with err set. */
int rn_ckpt_save(const RnModel *m, const float *params, const char *path, const rn_st_kv *extra,
                 int nextra, char *err, size_t errlen);

/* The index in m->params of the first tensor holding a NaN or an infinity,
 * with the count of such values in it in *bad; -1 when every value is
 * finite.  rn_ckpt_save refuses such weights: a diverged run must never
 * replace a good file. */
int rn_ckpt_first_nonfinite(const RnModel *m, const float *params, long *bad);

/* What rn_ckpt_load found besides the tensors */
typedef struct RnCkptInfo {
    int source_hash_differs;    /* the file's source_hash is there and not the model's */
    int unchecked;              /* no tensors_crc32c (not written by rnet): data unverified */
} RnCkptInfo;

/* Load every tensor of the model from path into params: each must be
 * there, F32, with the model's shape.  A file whose metadata names another
 * model (key "model") or another format is refused; so is one whose
 * tensors do not give the CRC-32C its metadata records (tensors_crc32c,
 * written by rn_ckpt_save over the tensors' data in table order) and one
 * with a NaN or an infinity in any tensor (named).  Tensors the model does
 * not have are ignored.  0, or -1 with err set (params may then be partly
 * written).  info, when not NULL, says what else was found. */
int rn_ckpt_load(const RnModel *m, float *params, const char *path, RnCkptInfo *info,
                 char *err, size_t errlen);

/* rn_ckpt_load's note for a file it could not verify (info->unchecked),
 * on stderr: "PATH: no tensors_crc32c checksum (not written by rnet): its
 * data could not be verified" */
void rn_ckpt_note_unchecked(const char *path);

/* What a resumed run needs besides the weights: where the run stands, the
 * options that define it, and (in the file's tensors) the optimizer's
 * buffers.  Shuffling and augmentation are functions of (seed, epoch,
 * position) and the schedule of the step, so no generator state is kept. */
typedef struct RnRunState {
    /* where the run stands */
    int epoch;                  /* epochs completed */
    int batch_index;            /* batches done of the next epoch (0 at a boundary) */
    long step;                  /* global steps done */
    long steps_per_epoch;
    double epoch_loss_sum;      /* sums over the batch_index batches done */
    long epoch_seen, epoch_right;
    double test_loss, test_acc; /* the evaluation after epoch `epoch` (epoch >= 1) */
    /* what defines it */
    int epochs, batch;
    RnOptim optim;
    RnSchedule sched;
    float label_smoothing;
    int shift, flip;
    long seed, limit;
    long train_images;          /* after --limit */
    uint32_t train_crc;         /* CRC-32C of those images, then their labels */
    uint32_t weights_crc;       /* rn_ckpt_params_crc of the weights it goes with */
    int threads;                /* the thread count it ran with */
    int save_every, log_every;  /* its checkpoint and logging intervals */
    char data[1024];            /* the data directory; "" when unknown */
    char log_dir[1024];         /* "" when none */
} RnRunState;

/* The state file of a weights file: "dir/model.safetensors" ->
 * "dir/model.state.safetensors"; a name not ending in ".safetensors" gets
 * ".state.safetensors" appended.  malloc'd; NULL when out of memory. */
char *rn_ckpt_state_path(const char *weights);

/* CRC-32C of the parameter block (param_floats floats, host order): ties a
 * state file to the weights saved with it. */
uint32_t rn_ckpt_params_crc(const RnModel *m, const float *params);

/* Write rs and the optimizer buffers to path, atomically: tensors
 * optim.m.<name> (when rn_optim_state_count >= 1) and optim.v.<name> (>= 2)
 * for every trainable tensor, metadata format=rnet-state-1, model,
 * source_hash, backend and one key per RnRunState field. */
int rn_ckpt_state_save(const RnModel *m, const char *path, const RnRunState *rs,
                       const float *mbuf, const float *vbuf, char *err, size_t errlen);

/* A checkpoint, weights and state, saved as a pair: both written and
 * synced to temporaries beside their targets (NAME.tmp.<pid>) before
 * either is renamed into place, the weights first.  A failure before the
 * renames (a full disk, a kill) leaves the previous pair as it was; a
 * kill between the two renames leaves the new weights with the state's
 * temporary complete beside the old state, which rn_ckpt_finish_save
 * puts in place.  rs->weights_crc is set here.  0; -1 with err set when
 * the previous pair is untouched; -2 with err set when the new weights
 * are in place (a rename or a directory sync failed after them). */
int rn_ckpt_pair_save(const RnModel *m, const float *params, const char *wpath,
                      const rn_st_kv *extra, int nextra, const char *spath, RnRunState *rs,
                      const float *mbuf, const float *vbuf, char *err, size_t errlen);

/* Complete a pair save cut short between its two renames: when the
 * weights at wpath are not the ones the state at spath records and a
 * temporary SPATH.tmp.<pid> beside it is a whole state file that records
 * them, it replaces spath.  1 when it did (*step the step it records), 0
 * when nothing needed doing or could be done (the caller's checks then
 * report what is wrong). */
int rn_ckpt_finish_save(const RnModel *m, const char *wpath, const char *spath, long *step);

/* The directory a file path is in, into dir ("." for a bare name, "/" at
 * the root); returns where the file's own name starts in path. */
const char *rn_path_dir(const char *path, char *dir, size_t n);

/* Remove the temporaries (PATH.tmp.<pid>) that saves into path left when
 * their process died: those whose pid is not a live process, is this one,
 * or is a process started after the file was last written (a reused pid).
 * The number removed. */
int rn_ckpt_clean_stale(const char *path);

/* Read a state file written by rn_ckpt_state_save for model m: *rs, and
 * the optimizer buffers into new zeroed allocations of param_floats each
 * (*vbuf NULL when the optimizer keeps one buffer, both NULL for none).
 * Refused with a message naming the file and, where there is one, the
 * tensor or key: another format, model or source hash; a key missing or
 * malformed; a tensor missing, not F32, of the wrong shape, or one the
 * saved optimizer does not keep.  0, or -1 with nothing allocated. */
int rn_ckpt_state_load(const RnModel *m, const char *path, RnRunState *rs, float **mbuf,
                       float **vbuf, char *err, size_t errlen);

/* ---- rn_progress.c ------------------------------------------------------- */

/* The progress report inside an epoch: on a terminal (tty) one line
 * redrawn with \r (bar, batches, running loss, images/s, ETA); otherwise
 * a plain line at each tenth of an epoch that lasts a few seconds.  Times
 * are the caller's, in seconds. */
typedef struct RnProgress {
    FILE *out;                  /* NULL: report nothing */
    int tty;
    int epoch, epochs;          /* as printed: 1-based */
    long total, start;          /* batches in the epoch; done at begin */
    double t0, last_draw;
    int tenths;                 /* plain lines: tenths reported */
    int width;                  /* terminal: length of the line on screen */
} RnProgress;

void rn_progress_begin(RnProgress *p, FILE *out, int tty, int epoch, int epochs, long total,
                       long done, double now);
/* done batches of total; loss the running mean; images since begin */
void rn_progress_update(RnProgress *p, long done, double loss, long images, double now);
/* wipe the terminal line (before the epoch's summary or an error) */
void rn_progress_clear(RnProgress *p);

/* ---- rn_predict.c -------------------------------------------------------- */

typedef struct RnPredictArgs {
    const char *weights;        /* required */
    int ninputs;
    char **inputs;              /* image files (PGM, PNG), directories of them, or
                                   IDXFILE:INDEX; with raw, float32 files */
    int resize;                 /* resize images to the model's input */
    int top;                    /* probabilities to print per input; 0: min(5, classes) */
    int invert;                 /* 255 - pixel first: dark-on-light images */
    int logits;                 /* print the logits (%.9g) instead of probabilities */
    int raw;                    /* inputs are raw float32 (N, C, H, W), not normalised */
} RnPredictArgs;

int rn_predict_run(const RnModel *m, const RnPredictArgs *a);

/* ---- rn_info.c ----------------------------------------------------------- */

/* batch: the batch the workspace is reported for (0: the model's default) */
int rn_info_run(const RnModel *m, int batch);

/* ---- rn_check.c ---------------------------------------------------------- */

typedef struct RnCheckArgs {
    long seed;
    int batch;
    double tol;                 /* max relative error allowed */
    double kink_margin;         /* ReLU inputs closer to zero than this
                                   (relative to their tensor's largest) may
                                   take either side of the kink; 0: none.
                                   The command line's default is 1e-5. */
    int verbose;                /* a line per tensor */
    const char *dump;           /* NULL, or a file for the generated side's
                                   train logits (N x classes), gradients
                                   (param_floats) and inference logits, raw
                                   float32 in that order: builds compared */
} RnCheckArgs;

/* Parity of m's function pointers with the reference interpreter; prints
 * a table and returns 0 when every tensor is within tol, 1 otherwise. */
int rn_check_run(const RnModel *m, const RnCheckArgs *a);

/* max|a - b| / max(max|b|, 1e-3) over n values: the tensor-wise relative
 * error check uses, b the reference.  NaN anywhere gives +inf. */
double rn_rel_err(const float *a, const float *b, long n);

/* ---- rn_bench.c ---------------------------------------------------------- */

/* What `bench` measures (rn_bench.c's opening comment has the details):
 * train - whole training steps over shuffled real batches; infer - forward
 * in inference mode over real test batches; latency - the same, one image
 * per call. */
typedef enum { RN_BENCH_TRAIN, RN_BENCH_INFER, RN_BENCH_LATENCY, RN_BENCH_MODE_COUNT } RnBenchMode;

typedef struct RnBenchArgs {
    const char *data;           /* directory with the IDX files (required) */
    const char *mode;           /* "train", "infer" or "latency" */
    int batch;                  /* 0: 64 for train, 256 for infer; latency is 1 */
    double seconds;             /* timed seconds; 0: 3, or --steps */
    long steps;                 /* > 0: exactly this many timed steps */
    int warmup;                 /* untimed steps first; -1: 3 (latency 20) */
    int threads;                /* 0: OpenMP's default */
    int per_layer;              /* time each RnLayerInfo alone instead */
    int csv;                    /* machine-readable records instead of a report */
} RnBenchArgs;

/* mode "train", warmup -1, the rest 0 */
void rn_bench_args_defaults(RnBenchArgs *a);
int rn_bench_run(const RnModel *m, const RnBenchArgs *a);

/* "train" / "infer" / "latency" <-> the enum; parse returns 0, or -1 for
 * an unknown name (*out untouched). */
const char *rn_bench_mode_name(RnBenchMode mode);
int rn_bench_mode_parse(const char *name, RnBenchMode *out);

#endif
