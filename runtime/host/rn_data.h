/* rn_data.h - training data: IDX files, data sets, and batches.
 *
 * Three layers, each usable alone:
 *
 *   1. rn_idx_load reads one IDX file (the format MNIST ships in), plain or
 *      gzipped, and checks it against its own header.
 *   2. rn_dataset_load finds the image and label files of a split in a
 *      directory, loads both and checks they agree; rn_dataset_check checks
 *      the result fits a model's input shape and class count.
 *   3. RnBatcher walks a data set in batches: a fresh permutation each epoch,
 *      images written as float NCHW, normalised, optionally shifted and
 *      flipped.
 *
 * A training loop:
 *
 *     RnDataset ds;
 *     char err[512];
 *     if (rn_dataset_load("data/mnist", 1, &ds, err, sizeof err) ||
 *         rn_dataset_check(&ds, 1, 28, 28, 10, err, sizeof err))
 *         { fprintf(stderr, "%s\n", err); exit(1); }
 *     RnBatchConfig cfg = { .batch = 64, .shuffle = 1, .seed = 42,
 *                           .mean = (float[]){0.1307f}, .std = (float[]){0.3081f},
 *                           .pad = 2 };
 *     RnBatcher b;
 *     if (rn_batcher_init(&b, &ds, &cfg, err, sizeof err)) ...
 *     for (int epoch = 0; epoch < epochs; epoch++) {
 *         rn_batcher_begin_epoch(&b, epoch);
 *         int n;
 *         while ((n = rn_batcher_next(&b, x, y)) > 0)   // x (n, C, H, W), y (n)
 *             train_step(x, y, n);
 *     }
 *     rn_batcher_free(&b);
 *     rn_dataset_free(&ds);
 *
 * Determinism: epoch e's order depends only on (seed, e), and the shift and
 * flip of the example at position p of epoch e only on (seed, e, p).  So a
 * resumed run needs just the seed, the epoch and the batch index
 * (rn_batcher_seek), and a data-parallel run that splits each global batch
 * across ranks (rn_batcher_fill) sees exactly the inputs of one process.
 *
 * Errors: every function that can fail returns non-zero and writes one line
 * naming the file and the problem into the caller's err buffer (err may be
 * NULL).  Nothing here exits or prints.
 */
#ifndef RN_DATA_H
#define RN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "rn_rng.h"

/* ---- IDX files (rn_idx.c) ------------------------------------------------
 * An IDX file is a 4-byte magic 0x00 0x00 TYPE NDIMS, NDIMS big-endian
 * uint32 sizes, then the elements in row-major order.  rnet reads type 0x08
 * (unsigned byte) only, with 1 to 4 dimensions: labels are 0x00000801 (N),
 * images 0x00000803 (N, H, W) or 0x00000804 (N, C, H, W).  The data must be
 * exactly as long as the header says: a short file and trailing bytes are
 * both errors.  gzip files are recognised by content, not by name. */

#define RN_IDX_MAX_DIMS 4
#define RN_IDX_MAX_BYTES ((uint64_t)1 << 34) /* 16 GiB: a saner limit than the header's */

typedef struct RnIdx {
    int ndims;                      /* 1..RN_IDX_MAX_DIMS */
    uint32_t dims[RN_IDX_MAX_DIMS]; /* dims[0] is the item count */
    size_t size;                    /* bytes of data = product of dims */
    uint8_t *data;                  /* (dims[0], dims[1], ...) */
} RnIdx;

int rn_idx_load(const char *path, RnIdx *out, char *err, size_t errlen);
void rn_idx_free(RnIdx *idx);

/* Write data as an IDX u8 file; gzip != 0 writes it gzipped. */
int rn_idx_save(const char *path, int ndims, const uint32_t *dims, const uint8_t *data,
                int gzip, char *err, size_t errlen);

/* ---- data sets (rn_data.c) ------------------------------------------------ */

typedef struct RnDataset {
    int n, c, h, w;       /* images are (n, c, h, w); c is 1 for a 3-D IDX */
    int classes;          /* largest label + 1 */
    uint8_t *images;      /* (n, c, h, w) raw pixels */
    uint8_t *labels;      /* (n) */
    char *images_path;    /* the files they came from, for messages */
    char *labels_path;
} RnDataset;

/* Load the training (train=1) or test (train=0) split from dir:
 * train-images-idx3-ubyte / train-labels-idx1-ubyte or
 * t10k-images-idx3-ubyte / t10k-labels-idx1-ubyte, each plain or with .gz
 * (the plain file wins when both exist). */
int rn_dataset_load(const char *dir, int train, RnDataset *ds, char *err, size_t errlen);

/* The same from two explicit paths. */
int rn_dataset_load_files(const char *images_path, const char *labels_path, RnDataset *ds,
                          char *err, size_t errlen);

/* Check the images are (c, h, w) and every label is below classes. */
int rn_dataset_check(const RnDataset *ds, int c, int h, int w, int classes, char *err,
                     size_t errlen);

void rn_dataset_free(RnDataset *ds);

/* ---- images and batches (rn_data.c) ---------------------------------------
 * Normalisation is out = (pixel / 255 - mean[c]) / std[c].  Augmentation is
 * a shift by (dy, dx), each in [-pad, pad], filling with raw pixel 0 (so the
 * border is the normalised value of black, not 0.0), then a horizontal flip:
 *
 *     out[c][i][j] = in[c][i + dy][j' + dx]   (0 outside the image)
 *     j' = flip ? w - 1 - j : j
 *
 * which is the same as zero-padding by pad, cropping h x w at a random
 * offset, and flipping the crop with probability 1/2. */

/* One image; mean/std have c entries (NULL: 0 and 1). */
void rn_data_fill_image(const uint8_t *src, int c, int h, int w, // (c, h, w)
                        const float *mean, const float *std, int dy, int dx, int flip,
                        float *dst); // (c, h, w)

/* count examples ds[idx[i]] into x and y, drawing each example's shift
 * (dy, then dx, each rn_rng_range(-pad, pad)) and flip (when flip != 0)
 * from rng in order.  rng may be NULL when pad == 0 and flip == 0. */
void rn_batch_fill(const RnDataset *ds, const uint32_t *idx, int count, const float *mean,
                   const float *std, int pad, int flip, RnRng *rng,
                   float *x, // (count, c, h, w)
                   int *y);  // (count)

typedef struct RnBatchConfig {
    int batch;          /* examples per batch, > 0 */
    int drop_last;      /* 1: skip the last short batch; 0: return it short */
    int shuffle;        /* 1: a fresh permutation every epoch; 0: file order */
    uint64_t seed;      /* drives the shuffle and the augmentation */
    const float *mean;  /* (c) per-channel mean, NULL for 0; copied at init */
    const float *std;   /* (c) per-channel std, NULL for 1; copied at init */
    int pad;            /* random shift in [-pad, pad] on each axis; 0: none */
    int flip;           /* 1: horizontal flip with probability 1/2 */
} RnBatchConfig;

typedef struct RnBatcher {
    const RnDataset *ds;
    RnBatchConfig cfg;  /* mean/std point at the batcher's own copies */
    float *mean, *std;  /* (c) */
    uint32_t *order;    /* (n) this epoch's permutation */
    int epoch;
    int next_batch;     /* index of the batch rn_batcher_next returns next */
    int batches;        /* per epoch */
} RnBatcher;

/* Validates cfg against ds and prepares epoch 0. */
int rn_batcher_init(RnBatcher *b, const RnDataset *ds, const RnBatchConfig *cfg, char *err,
                    size_t errlen);
void rn_batcher_free(RnBatcher *b);

/* Batches per epoch: n / batch, rounded up unless drop_last. */
int rn_batcher_batches(const RnBatcher *b);

/* Start epoch e: its permutation, and batch 0 next. */
void rn_batcher_begin_epoch(RnBatcher *b, int epoch);

/* Position at batch k of epoch e (resuming from a checkpoint). */
void rn_batcher_seek(RnBatcher *b, int epoch, int batch);

/* Fill the next batch; returns its example count (batch, or fewer for a
 * short last batch), 0 when the epoch is done. */
int rn_batcher_next(RnBatcher *b, float *x, // (batch, c, h, w)
                    int *y);                // (batch)

/* Fill examples [lo, hi) of batch k of the current epoch (clipped to the
 * batch's real size) - one rank's share of a global batch.  Returns the
 * number written.  The result is the same as the matching slice of
 * rn_batcher_next's output. */
int rn_batcher_fill(const RnBatcher *b, int k, int lo, int hi, float *x, int *y);

#endif
