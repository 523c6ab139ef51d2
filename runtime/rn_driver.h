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
 *   rn_ckpt.c     checkpoints: the model's tensors to and from .safetensors
 *   rn_predict.c  predict: images and IDX entries to class probabilities
 *   rn_info.c     info: the layer table, sizes, defaults, threads, FTZ
 *   rn_check.c    check: generated code against the reference interpreter
 *
 * Conventions: each run function returns the process exit status - 0 done,
 * 1 a runtime error (bad file, diverged run, parity failure), 2 a usage
 * error - after printing one line "PROG: error: ..." that names the file
 * and the problem.  Nothing that was saved before is overwritten by a run
 * that fails.
 */
#ifndef RN_DRIVER_H
#define RN_DRIVER_H

#include <stddef.h>

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
void rn_set_threads(int n);
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
    int quiet;                  /* no per-epoch lines (tests) */
} RnTrainArgs;

/* The model's training defaults as arguments (data, save, log_dir NULL). */
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

/* Load every tensor of the model from path into params: each must be
 * there, F32, with the model's shape.  A file whose metadata names another
 * model (key "model") or another format is refused.  Tensors the model
 * does not have are ignored.  0, or -1 with err set (params may then be
 * partly written).  If source_hash_differs is not NULL it is set to 1 when
 * the file's source_hash is present and differs from the model's. */
int rn_ckpt_load(const RnModel *m, float *params, const char *path, int *source_hash_differs,
                 char *err, size_t errlen);

/* ---- rn_predict.c -------------------------------------------------------- */

typedef struct RnPredictArgs {
    const char *weights;        /* required */
    int ninputs;
    char **inputs;              /* image files (PGM, PNG) or IDXFILE:INDEX */
    int resize;                 /* resize images to the model's input */
    int top;                    /* probabilities to print per input; 0: min(5, classes) */
} RnPredictArgs;

int rn_predict_run(const RnModel *m, const RnPredictArgs *a);

/* ---- rn_info.c ----------------------------------------------------------- */

int rn_info_run(const RnModel *m);

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
} RnCheckArgs;

/* Parity of m's function pointers with the reference interpreter; prints
 * a table and returns 0 when every tensor is within tol, 1 otherwise. */
int rn_check_run(const RnModel *m, const RnCheckArgs *a);

/* max|a - b| / max(max|b|, 1e-3) over n values: the tensor-wise relative
 * error check uses, b the reference.  NaN anywhere gives +inf. */
double rn_rel_err(const float *a, const float *b, long n);

#endif
