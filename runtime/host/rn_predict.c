/* rn_predict.c - classify single inputs with saved weights.
 *
 * An input is an image file (PGM or PNG, read by rn_image), a directory
 * (every .png and .pgm in it, in strcmp order of their names; nothing
 * below it), or IDXFILE:INDEX, entry INDEX (from 0) of an IDX image file,
 * so a test image can be checked without extracting it.  Each becomes
 * planar 8-bit pixels (C, H, W), which must match the model's input: a
 * different size or channel count is refused unless --resize is given,
 * which resizes (bilinear, via rn_image_resize) and turns RGB into gray
 * (BT.601 luma, as rn_image_to_gray) or gray into RGB.  --invert turns
 * dark-on-light images (a digit drawn in black on white) into the
 * light-on-dark of MNIST.  The pixels are normalised exactly as in
 * training (rn_data_fill_image with the model's mean and std), run through
 * the forward pass in inference mode, and the softmax is printed.
 *
 * For comparisons with other frameworks (tools/torch_interop.py), --raw
 * takes files of float32 values in host byte order holding one or more
 * (C, H, W) tensors that go to the network as they are, and --logits
 * prints the logits with 9 significant digits (enough to round-trip a
 * float) instead of the probabilities.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rn_driver.h"
#include "rn_image.h"

/* pixels of one input, planar */
typedef struct {
    int c, h, w;
    uint8_t *px; /* (c, h, w), malloc'd */
} Pixels;

/* the last IDX file read, kept so that many entries of one file load it once */
typedef struct {
    char *path;
    RnIdx idx;
} IdxCache;

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* the inputs with directories replaced by their images */
typedef struct {
    char **v;
    int n, cap;
} InputList;

static int list_push(InputList *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v)
            return -1;
        l->v = v, l->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c)
        return -1;
    memcpy(c, s, len);
    c[len] = '\0';
    l->v[l->n++] = c;
    return 0;
}

static void list_free(InputList *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* ".png" or ".pgm", in any case */
static int image_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 5 || name[n - 4] != '.')
        return 0;
    char ext[4];
    for (int i = 0; i < 3; i++) {
        char c = name[n - 3 + i];
        ext[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    ext[3] = '\0';
    return !strcmp(ext, "png") || !strcmp(ext, "pgm");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* every .png and .pgm file of dir, sorted, appended to l */
static int list_dir(InputList *l, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        rn_errorf("%s: cannot open the directory: %s", dir, strerror(errno));
        return -1;
    }
    int first = l->n;
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) {
                rn_errorf("%s: cannot read the directory: %s", dir, strerror(errno));
                closedir(d);
                return -1;
            }
            break;
        }
        if (e->d_name[0] == '.' || !image_name(e->d_name))
            continue;
        size_t len = dlen + 1 + strlen(e->d_name);
        char *path = malloc(len + 1);
        int bad = !path;
        if (path) {
            snprintf(path, len + 1, "%.*s/%s", (int)dlen, dir, e->d_name);
            bad = is_file(path) && list_push(l, path, len); /* skip a directory x.png */
            free(path);
        }
        if (bad) {
            closedir(d);
            rn_errorf("out of memory");
            return -1;
        }
    }
    closedir(d);
    if (l->n == first) {
        rn_errorf("%s: no .png or .pgm files in this directory", dir);
        return -1;
    }
    qsort(l->v + first, (size_t)(l->n - first), sizeof *l->v, cmp_str);
    return 0;
}

/* "FILE:INDEX" -> file (malloc'd) and index; 0 if it has that form */
static int split_idx_ref(const char *in, char **file, long *index)
{
    const char *colon = strrchr(in, ':');
    if (!colon || colon == in || !colon[1])
        return -1;
    char *end;
    errno = 0;
    long k = strtol(colon + 1, &end, 10);
    if (*end || errno || k < 0)
        return -1;
    *file = malloc((size_t)(colon - in) + 1);
    if (!*file)
        return -1;
    memcpy(*file, in, (size_t)(colon - in));
    (*file)[colon - in] = '\0';
    *index = k;
    return 0;
}

static int from_image(const char *path, Pixels *out)
{
    rn_image img;
    char err[512];
    if (rn_image_read(path, &img, err, sizeof err)) {
        rn_errorf("%s", err);
        return -1;
    }
    out->c = img.channels, out->h = img.height, out->w = img.width;
    out->px = malloc((size_t)img.channels * (size_t)img.height * (size_t)img.width);
    if (!out->px) {
        rn_image_free(&img);
        rn_errorf("%s: out of memory", path);
        return -1;
    }
    for (int c = 0; c < out->c; c++)
        for (int i = 0; i < out->h * out->w; i++)
            out->px[(size_t)c * out->h * out->w + i] = img.data[(size_t)i * out->c + c];
    rn_image_free(&img);
    return 0;
}

static int from_idx(const char *input, const char *file, long index, IdxCache *cache,
                    Pixels *out)
{
    char err[512];
    if (!cache->path || strcmp(cache->path, file)) {
        free(cache->path);
        rn_idx_free(&cache->idx);
        cache->path = NULL;
        if (rn_idx_load(file, &cache->idx, err, sizeof err)) {
            rn_errorf("%s", err);
            return -1;
        }
        if (!(cache->path = strdup(file))) {
            rn_errorf("out of memory");
            return -1;
        }
    }
    const RnIdx *x = &cache->idx;
    if (x->ndims != 3 && x->ndims != 4) {
        rn_errorf("%s: an IDX file of %d dimensions is not an image file (expected N x H x W or "
                  "N x C x H x W)", file, x->ndims);
        return -1;
    }
    if (index >= (long)x->dims[0]) {
        rn_errorf("%s: index %ld is out of range: the file has %u images (0..%u)", input, index,
                  x->dims[0], x->dims[0] - 1);
        return -1;
    }
    out->c = x->ndims == 4 ? (int)x->dims[1] : 1;
    out->h = (int)x->dims[x->ndims - 2];
    out->w = (int)x->dims[x->ndims - 1];
    size_t n = (size_t)out->c * out->h * out->w;
    if (!(out->px = malloc(n))) {
        rn_errorf("out of memory");
        return -1;
    }
    memcpy(out->px, x->data + n * (size_t)index, n);
    return 0;
}

/* resize planar pixels through rn_image (interleaved) */
static int resize(const char *input, Pixels *p, int h, int w)
{
    char err[512];
    if (p->c != 1 && p->c != 3) {
        rn_errorf("%s: cannot resize an image of %d channels", input, p->c);
        return -1;
    }
    rn_image src = { p->w, p->h, p->c, malloc((size_t)p->c * p->h * p->w) }, dst;
    if (!src.data) {
        rn_errorf("out of memory");
        return -1;
    }
    for (int c = 0; c < p->c; c++)
        for (int i = 0; i < p->h * p->w; i++)
            src.data[(size_t)i * p->c + c] = p->px[(size_t)c * p->h * p->w + i];
    int rc = rn_image_resize(&src, w, h, RN_RESIZE_BILINEAR, &dst, err, sizeof err);
    rn_image_free(&src);
    if (rc) {
        rn_errorf("%s: %s", input, err);
        return -1;
    }
    uint8_t *px = malloc((size_t)p->c * h * w);
    if (!px) {
        rn_image_free(&dst);
        rn_errorf("out of memory");
        return -1;
    }
    for (int c = 0; c < p->c; c++)
        for (int i = 0; i < h * w; i++)
            px[(size_t)c * h * w + i] = dst.data[(size_t)i * p->c + c];
    rn_image_free(&dst);
    free(p->px);
    p->px = px;
    p->h = h, p->w = w;
    return 0;
}

/* RGB to gray (rn_image_to_gray's BT.601 luma, rounded) or gray to RGB
 * (the plane three times), planar */
static int convert_channels(Pixels *p, int c)
{
    size_t hw = (size_t)p->h * p->w;
    uint8_t *px = malloc((size_t)c * hw);
    if (!px)
        return -1;
    for (size_t i = 0; i < hw; i++) {
        if (c == 1)
            px[i] = (uint8_t)((299u * p->px[i] + 587u * p->px[hw + i] + 114u * p->px[2 * hw + i] +
                               500u) / 1000u);
        else
            px[i] = px[hw + i] = px[2 * hw + i] = p->px[i];
    }
    free(p->px);
    p->px = px;
    p->c = c;
    return 0;
}

static int load_input(const RnModel *m, const char *input, int allow_resize, IdxCache *cache,
                      Pixels *p)
{
    char *file = NULL;
    long index;
    int rc;
    if (is_file(input))
        rc = from_image(input, p);
    else if (!split_idx_ref(input, &file, &index) && is_file(file))
        rc = from_idx(input, file, index, cache, p);
    else {
        rn_errorf("%s: no such file (an input is an image file or IDXFILE:INDEX)",
                  file ? file : input);
        rc = -1;
    }
    free(file);
    if (rc)
        return -1;
    if (p->c != m->in_c) {
        int convertible = (p->c == 3 && m->in_c == 1) || (p->c == 1 && m->in_c == 3);
        if (!allow_resize || !convertible) {
            rn_errorf("%s: the image has %d channel%s, model '%s' takes %d (%s)", input, p->c,
                      p->c == 1 ? "" : "s", m->name, m->in_c,
                      !convertible ? "give it the model's channels"
                      : m->in_c == 1 ? "convert it to grayscale, or give --resize"
                                     : "convert it to RGB, or give --resize");
            return -1;
        }
        if (convert_channels(p, m->in_c)) {
            rn_errorf("out of memory");
            return -1;
        }
    }
    if (p->h != m->in_h || p->w != m->in_w) {
        if (!allow_resize) {
            rn_errorf("%s: the image is %dx%d (H x W), model '%s' takes %dx%d (give --resize to "
                      "resize it)", input, p->h, p->w, m->name, m->in_h, m->in_w);
            return -1;
        }
        if (resize(input, p, m->in_h, m->in_w))
            return -1;
    }
    return 0;
}

/* A raw input: float32 values in host order, a whole number of (C, H, W)
 * tensors.  *n gets that number; the values are malloc'd into *out. */
static int read_raw(const RnModel *m, const char *path, float **out, long *n)
{
    long img = (long)m->in_c * m->in_h * m->in_w;
    if (is_dir(path)) {
        rn_errorf("%s: is a directory (--raw takes float32 files)", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        rn_errorf("%s: %s", path, strerror(errno));
        return -1;
    }
    long size = -1;
    if (!fseek(f, 0, SEEK_END))
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET)) {
        rn_errorf("%s: cannot find the file's size", path);
        fclose(f);
        return -1;
    }
    long bytes = img * (long)sizeof(float);
    if (size == 0 || size % bytes) {
        rn_errorf("%s: %ld bytes is not a whole number of %dx%dx%d float32 inputs (%ld bytes "
                  "each)", path, size, m->in_c, m->in_h, m->in_w, bytes);
        fclose(f);
        return -1;
    }
    *n = size / bytes;
    *out = malloc((size_t)size);
    if (!*out) {
        rn_errorf("%s: out of memory", path);
        fclose(f);
        return -1;
    }
    if (fread(*out, 1, (size_t)size, f) != (size_t)size) {
        rn_errorf("%s: read error", path);
        free(*out);
        *out = NULL;
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

/* one line for one input from its logits z: the class and the top
 * probabilities, or the logits themselves */
static int report(const RnModel *m, const RnPredictArgs *a, const char *name, const float *z,
                  double *p, int *order, int top)
{
    int C = m->classes;
    if (a->logits) {
        printf("%s: logits", name);
        for (int j = 0; j < C; j++)
            printf(" %.9g", (double)z[j]);
        printf("\n");
        return 0;
    }
    /* softmax in double */
    double mx = z[0], s = 0;
    for (int j = 1; j < C; j++)
        if (z[j] > mx)
            mx = z[j];
    for (int j = 0; j < C; j++)
        s += (p[j] = exp((double)z[j] - mx));
    for (int j = 0; j < C; j++) {
        p[j] /= s;
        order[j] = j;
    }
    /* the top entries by insertion: C is small */
    for (int j = 1; j < C; j++)
        for (int k = j; k > 0 && p[order[k]] > p[order[k - 1]]; k--) {
            int tmp = order[k];
            order[k] = order[k - 1];
            order[k - 1] = tmp;
        }
    if (!isfinite(p[order[0]])) {
        rn_errorf("%s: the model's output is not finite (are the weights trained?)", name);
        return -1;
    }
    printf("%s: class %d (%.2f%%)  top:", name, order[0], 100 * p[order[0]]);
    for (int j = 0; j < top; j++)
        printf("%s %d %.2f%%", j ? "," : "", order[j], 100 * p[order[j]]);
    printf("\n");
    return 0;
}

int rn_predict_run(const RnModel *m, const RnPredictArgs *a)
{
    if (!a->weights || a->ninputs < 1) {
        rn_errorf("predict: --weights and at least one INPUT are required");
        return 2;
    }
    if (a->top < 0) {
        rn_errorf("predict: --top must be at least 1 (0: up to 5)");
        return 2;
    }
    if (a->raw && (a->resize || a->invert)) {
        rn_errorf("predict: --raw inputs are tensors, not images: --%s does not apply",
                  a->resize ? "resize" : "invert");
        return 2;
    }
    if (m->in_c > 64) {
        rn_errorf("model '%s' has %d input channels; at most 64 are supported", m->name, m->in_c);
        return 1;
    }
    int C = m->classes;
    int top = a->top ? a->top : 5;
    if (top > C)
        top = C;
    RnExec e;
    if (rn_exec_alloc(m, 1, &e)) {
        rn_errorf("out of memory for model '%s'", m->name);
        return 1;
    }
    long img = (long)m->in_c * m->in_h * m->in_w;
    float *x = malloc(sizeof(float) * (size_t)img);
    double *p = malloc(sizeof(double) * (size_t)C);
    int *order = malloc(sizeof(int) * (size_t)C);
    IdxCache cache = { 0 };
    InputList in = { 0 };
    char err[512];
    int rc = 1, differs = 0;
    if (!x || !p || !order) {
        rn_errorf("out of memory");
        goto out;
    }
    /* inputs first, so that a bad directory is reported before the weights load */
    for (int i = 0; i < a->ninputs; i++) {
        const char *s = a->inputs[i];
        if (!a->raw && is_dir(s)) {
            if (list_dir(&in, s))
                goto out;
        } else if (list_push(&in, s, strlen(s))) {
            rn_errorf("out of memory");
            goto out;
        }
    }
    rn_exec_params_changed(&e);
    RnCkptInfo info;
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
    float mean[64], std[64];
    rn_model_norm(m, mean, std);
    for (int i = 0; i < in.n; i++) {
        const char *name = in.v[i];
        if (a->raw) {
            float *v = NULL;
            long n = 0;
            if (read_raw(m, name, &v, &n))
                goto out;
            for (long k = 0; k < n; k++) {
                char label[4096];
                if (n > 1)
                    snprintf(label, sizeof label, "%s[%ld]", name, k);
                else
                    snprintf(label, sizeof label, "%s", name);
                m->forward(&e, v + k * img, 1, 0);
                if (report(m, a, label, e.logits, p, order, top)) {
                    free(v);
                    goto out;
                }
            }
            free(v);
            continue;
        }
        Pixels px = { 0 };
        if (load_input(m, name, a->resize, &cache, &px)) {
            free(px.px);
            goto out;
        }
        if (a->invert)
            for (long j = 0; j < img; j++)
                px.px[j] = (uint8_t)(255 - px.px[j]);
        rn_data_fill_image(px.px, px.c, px.h, px.w, mean, std, 0, 0, 0, x);
        free(px.px);
        m->forward(&e, x, 1, 0);
        if (report(m, a, name, e.logits, p, order, top))
            goto out;
    }
    rc = 0;
out:
    free(x), free(p), free(order);
    list_free(&in);
    free(cache.path);
    rn_idx_free(&cache.idx);
    rn_exec_free(&e);
    return rc;
}
