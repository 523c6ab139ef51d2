/* rn_data.c - data sets (a pair of IDX files) and the batches a training
 * loop reads from them.
 *
 * Images stay as raw bytes, (N, C, H, W), for the whole run: 1/4 the memory
 * of floats and the exact pixels every epoch.  Each batch is converted to
 * float when it is filled, through a 256-entry table per channel, so
 * normalisation costs one lookup per pixel.
 *
 * Randomness never comes from a shared running stream: the permutation of
 * epoch e is seeded from (seed, e) and the augmentation of the example at
 * position p of epoch e from (seed, e, p) (see rn_rng_seed_stream).  That
 * makes any batch of any epoch reproducible from three numbers, which is
 * what resuming and data-parallel training need.
 */
#include "rn_err.h"
#include "rn_data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Stream tags for rn_rng_seed_stream; the augmentation tag carries the
 * epoch in its low bits. */
#define STREAM_SHUFFLE ((uint64_t)1 << 62)
#define STREAM_AUGMENT ((uint64_t)1 << 63)


static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* dir + "/" + name (+ ".gz"), malloc'd */
static char *join(const char *dir, const char *name, const char *ext)
{
    size_t nd = strlen(dir);
    int slash = nd > 0 && dir[nd - 1] != '/';
    size_t len = nd + 1 + strlen(name) + strlen(ext) + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s%s%s%s", dir, slash ? "/" : "", name, ext);
    return p;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The path of name or name.gz in dir, or NULL with a message. */
static char *find_file(const char *dir, const char *name, char *err, size_t errlen)
{
    char *p = join(dir, name, "");
    if (p && is_file(p))
        return p;
    free(p);
    p = join(dir, name, ".gz");
    if (p && is_file(p))
        return p;
    free(p);
    rn_fail(err, errlen, "%s: found neither %s nor %s.gz in this directory", dir, name, name);
    return NULL;
}

int rn_dataset_load(const char *dir, int train, RnDataset *ds, char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    struct stat st;
    if (stat(dir, &st) != 0)
        return rn_fail(err, errlen, "%s: cannot open data directory: %s%s", dir, strerror(errno),
                    errno == ENOENT ? " (`make data` fetches MNIST and Fashion-MNIST)" : "");
    if (!S_ISDIR(st.st_mode))
        return rn_fail(err, errlen, "%s: not a directory; --data takes the directory holding the "
                    "IDX files", dir);

    const char *iname = train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte";
    const char *lname = train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte";
    char *ipath = find_file(dir, iname, err, errlen);
    if (!ipath)
        return -1;
    char *lpath = find_file(dir, lname, err, errlen);
    if (!lpath) {
        free(ipath);
        return -1;
    }
    int rc = rn_dataset_load_files(ipath, lpath, ds, err, errlen);
    free(ipath);
    free(lpath);
    return rc;
}

int rn_dataset_load_files(const char *images_path, const char *labels_path, RnDataset *ds,
                          char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    RnIdx im, lb;
    if (rn_idx_load(images_path, &im, err, errlen))
        return -1;
    if (rn_idx_load(labels_path, &lb, err, errlen)) {
        rn_idx_free(&im);
        return -1;
    }

    int rc = -1;
    if (im.ndims != 3 && im.ndims != 4) {
        rn_fail(err, errlen,
             "%s: expected images (IDX magic 0x00000803, N x H x W, or 0x00000804, "
             "N x C x H x W), found %d dimension%s (magic 0x0000080%d)%s",
             images_path, im.ndims, im.ndims == 1 ? "" : "s", im.ndims,
             im.ndims == 1 ? ": is this a label file?" : "");
        goto done;
    }
    if (lb.ndims != 1) {
        rn_fail(err, errlen,
             "%s: expected labels (IDX magic 0x00000801, N), found %d dimensions (magic "
             "0x0000080%d)%s",
             labels_path, lb.ndims, lb.ndims, lb.ndims >= 3 ? ": is this an image file?" : "");
        goto done;
    }
    uint32_t n = im.dims[0];
    uint32_t c = im.ndims == 4 ? im.dims[1] : 1;
    uint32_t h = im.dims[im.ndims - 2], w = im.dims[im.ndims - 1];
    if (n > INT_MAX || (uint64_t)c * h * w > INT_MAX) {
        rn_fail(err, errlen, "%s: %u images of %ux%ux%u is too large", images_path, n, c, h, w);
        goto done;
    }
    if (lb.dims[0] != n) {
        rn_fail(err, errlen, "%s has %u images but %s has %u labels", images_path, n, labels_path,
             lb.dims[0]);
        goto done;
    }
    ds->images_path = str_dup(images_path);
    ds->labels_path = str_dup(labels_path);
    if (!ds->images_path || !ds->labels_path) {
        rn_fail(err, errlen, "%s: out of memory", images_path);
        goto done;
    }
    int maxl = 0;
    for (uint32_t i = 0; i < n; i++)
        if (lb.data[i] > maxl)
            maxl = lb.data[i];
    ds->n = (int)n;
    ds->c = (int)c;
    ds->h = (int)h;
    ds->w = (int)w;
    ds->classes = maxl + 1;
    ds->images = im.data;
    ds->labels = lb.data;
    im.data = NULL;
    lb.data = NULL;
    rc = 0;

done:
    rn_idx_free(&im);
    rn_idx_free(&lb);
    if (rc)
        rn_dataset_free(ds);
    return rc;
}

int rn_dataset_check(const RnDataset *ds, int c, int h, int w, int classes, char *err,
                     size_t errlen)
{
    if (ds->c != c || ds->h != h || ds->w != w)
        return rn_fail(err, errlen, "%s: images are %dx%dx%d (C x H x W) but the model takes "
                    "%dx%dx%d", ds->images_path, ds->c, ds->h, ds->w, c, h, w);
    if (classes < 1)
        return rn_fail(err, errlen, "%s: the model has %d classes", ds->labels_path, classes);
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] >= classes)
            return rn_fail(err, errlen,
                        "%s: label %d at index %d is out of range: the model has %d "
                        "classes (0..%d)",
                        ds->labels_path, ds->labels[i], i, classes, classes - 1);
    return 0;
}

void rn_dataset_free(RnDataset *ds)
{
    free(ds->images);
    free(ds->labels);
    free(ds->images_path);
    free(ds->labels_path);
    memset(ds, 0, sizeof *ds);
}

/* ---- images and batches -------------------------------------------------- */

void rn_data_fill_image(const uint8_t *src, int c, int h, int w, // (c, h, w)
                        const float *mean, const float *std, int dy, int dx, int flip,
                        float *dst) // (c, h, w)
{
    float lut[256];
    for (int ch = 0; ch < c; ch++) {
        float m = mean ? mean[ch] : 0.0f, s = std ? std[ch] : 1.0f;
        for (int v = 0; v < 256; v++)
            lut[v] = ((float)v / 255.0f - m) / s;
        const uint8_t *in = src + (size_t)ch * h * w;
        float *out = dst + (size_t)ch * h * w;
        for (int i = 0; i < h; i++) {
            int si = i + dy;
            for (int j = 0; j < w; j++) {
                int sj = (flip ? w - 1 - j : j) + dx;
                int inside = si >= 0 && si < h && sj >= 0 && sj < w;
                out[(size_t)i * w + j] = lut[inside ? in[(size_t)si * w + sj] : 0];
            }
        }
    }
}

/* One example's augmentation, drawn in a fixed order: dy, dx, flip. */
static void draw_augment(RnRng *r, int pad, int flip, int *dy, int *dx, int *fl)
{
    *dy = *dx = *fl = 0;
    if (pad > 0) {
        *dy = rn_rng_range(r, -pad, pad);
        *dx = rn_rng_range(r, -pad, pad);
    }
    if (flip)
        *fl = (int)(rn_rng_u32(r) >> 31);
}

void rn_batch_fill(const RnDataset *ds, const uint32_t *idx, int count, const float *mean,
                   const float *std, int pad, int flip, RnRng *rng,
                   float *x, // (count, c, h, w)
                   int *y)   // (count)
{
    size_t chw = (size_t)ds->c * ds->h * ds->w;
    for (int i = 0; i < count; i++) {
        int dy = 0, dx = 0, fl = 0;
        if (pad > 0 || flip)
            draw_augment(rng, pad, flip, &dy, &dx, &fl);
        rn_data_fill_image(ds->images + idx[i] * chw, ds->c, ds->h, ds->w, mean, std, dy, dx,
                           fl, x + i * chw);
        y[i] = ds->labels[idx[i]];
    }
}

int rn_batcher_init(RnBatcher *b, const RnDataset *ds, const RnBatchConfig *cfg, char *err,
                    size_t errlen)
{
    memset(b, 0, sizeof *b);
    const char *name = ds->images_path ? ds->images_path : "data set";
    if (ds->n <= 0 || !ds->images)
        return rn_fail(err, errlen, "%s: no examples", name);
    if (cfg->batch <= 0)
        return rn_fail(err, errlen, "%s: batch size %d must be positive", name, cfg->batch);
    if (cfg->pad < 0 || cfg->pad > 4096)
        return rn_fail(err, errlen, "%s: augmentation pad %d out of range (0..4096)", name,
                    cfg->pad);
    for (int ch = 0; cfg->std && ch < ds->c; ch++)
        if (!(fabsf(cfg->std[ch]) > 0.0f) || !isfinite(cfg->std[ch]))
            return rn_fail(err, errlen, "%s: std[%d] is %g; normalisation divides by it", name, ch,
                        (double)cfg->std[ch]);
    for (int ch = 0; cfg->mean && ch < ds->c; ch++)
        if (!isfinite(cfg->mean[ch]))
            return rn_fail(err, errlen, "%s: mean[%d] is %g", name, ch, (double)cfg->mean[ch]);

    int batches = cfg->drop_last ? ds->n / cfg->batch
                                 : (int)(((long long)ds->n + cfg->batch - 1) / cfg->batch);
    if (batches == 0)
        return rn_fail(err, errlen,
                    "%s: batch size %d is larger than the %d examples and drop_last is set: "
                    "an epoch would have no batches",
                    name, cfg->batch, ds->n);

    b->ds = ds;
    b->cfg = *cfg;
    b->batches = batches;
    b->mean = malloc(sizeof(float) * (size_t)ds->c);
    b->std = malloc(sizeof(float) * (size_t)ds->c);
    b->order = malloc(sizeof(uint32_t) * (size_t)ds->n);
    if (!b->mean || !b->std || !b->order) {
        rn_batcher_free(b);
        return rn_fail(err, errlen, "%s: out of memory for the batch order", name);
    }
    for (int ch = 0; ch < ds->c; ch++) {
        b->mean[ch] = cfg->mean ? cfg->mean[ch] : 0.0f;
        b->std[ch] = cfg->std ? cfg->std[ch] : 1.0f;
    }
    b->cfg.mean = b->mean;
    b->cfg.std = b->std;
    rn_batcher_begin_epoch(b, 0);
    return 0;
}

void rn_batcher_free(RnBatcher *b)
{
    free(b->mean);
    free(b->std);
    free(b->order);
    memset(b, 0, sizeof *b);
}

int rn_batcher_batches(const RnBatcher *b)
{
    return b->batches;
}

void rn_batcher_begin_epoch(RnBatcher *b, int epoch)
{
    uint32_t n = (uint32_t)b->ds->n;
    for (uint32_t i = 0; i < n; i++)
        b->order[i] = i;
    if (b->cfg.shuffle) {
        RnRng r;
        rn_rng_seed_stream(&r, b->cfg.seed, STREAM_SHUFFLE, (uint64_t)(uint32_t)epoch);
        rn_rng_shuffle_u32(&r, b->order, n);
    }
    b->epoch = epoch;
    b->next_batch = 0;
}

void rn_batcher_seek(RnBatcher *b, int epoch, int batch)
{
    rn_batcher_begin_epoch(b, epoch);
    b->next_batch = batch < 0 ? 0 : batch > b->batches ? b->batches : batch;
}

int rn_batcher_fill(const RnBatcher *b, int k, int lo, int hi, float *x, int *y)
{
    const RnDataset *ds = b->ds;
    if (k < 0 || k >= b->batches)
        return 0;
    long long start = (long long)k * b->cfg.batch;
    int size = (int)(ds->n - start < b->cfg.batch ? ds->n - start : b->cfg.batch);
    if (lo < 0)
        lo = 0;
    if (hi > size)
        hi = size;
    if (lo >= hi)
        return 0;

    size_t chw = (size_t)ds->c * ds->h * ds->w;
    uint64_t stream = STREAM_AUGMENT | (uint64_t)(uint32_t)b->epoch;
    for (int i = lo; i < hi; i++) {
        uint64_t pos = (uint64_t)start + (uint64_t)i;
        uint32_t src = b->order[pos];
        int dy = 0, dx = 0, fl = 0;
        if (b->cfg.pad > 0 || b->cfg.flip) {
            RnRng r;
            rn_rng_seed_stream(&r, b->cfg.seed, stream, pos);
            draw_augment(&r, b->cfg.pad, b->cfg.flip, &dy, &dx, &fl);
        }
        rn_data_fill_image(ds->images + src * chw, ds->c, ds->h, ds->w, b->mean, b->std, dy, dx,
                           fl, x + (size_t)(i - lo) * chw);
        y[i - lo] = ds->labels[src];
    }
    return hi - lo;
}

int rn_batcher_next(RnBatcher *b, float *x, int *y)
{
    if (b->next_batch >= b->batches)
        return 0;
    int n = rn_batcher_fill(b, b->next_batch, 0, b->cfg.batch, x, y);
    b->next_batch++;
    return n;
}
