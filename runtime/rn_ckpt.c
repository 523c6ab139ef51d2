/* rn_ckpt.c - a model's parameter block to and from a .safetensors file.
 *
 * A checkpoint holds every tensor of the parameter table under its
 * torchvision-style name (running statistics included), in table order,
 * as F32, plus metadata: format "rnet-1", the model's name, the hash of
 * its .rnet source and the backend that trained it, and whatever the
 * caller adds (epochs, accuracy).  Writing goes through rn_st_write, which
 * is atomic, so a failed save leaves an older file intact.
 *
 * Loading is strict about what the model needs (every tensor present, F32,
 * the exact shape) and lenient about the rest: tensors the model does not
 * have, such as PyTorch's num_batches_tracked, are ignored, and a file
 * without metadata (one written by PyTorch) is accepted.  A file whose
 * metadata names another model or format is refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn_driver.h"

#define RN_CKPT_FORMAT "rnet-1"

int rn_ckpt_save(const RnModel *m, const float *params, const char *path, const rn_st_kv *extra,
                 int nextra, char *err, size_t errlen)
{
    rn_st_entry *t = calloc((size_t)m->nparams + 1, sizeof *t);
    rn_st_kv *meta = calloc((size_t)nextra + 4, sizeof *meta);
    if (!t || !meta) {
        free(t);
        free(meta);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < m->nparams; i++) {
        const RnParamInfo *p = &m->params[i];
        t[i].name = p->name;
        t[i].dtype = RN_ST_F32;
        t[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++)
            t[i].shape[d] = p->shape[d];
        t[i].data = params + p->offset;
    }
    int nm = 0;
    meta[nm++] = (rn_st_kv){ "format", RN_CKPT_FORMAT };
    meta[nm++] = (rn_st_kv){ "model", m->name };
    if (m->source_hash)
        meta[nm++] = (rn_st_kv){ "source_hash", m->source_hash };
    if (m->backend)
        meta[nm++] = (rn_st_kv){ "backend", m->backend };
    for (int i = 0; i < nextra; i++)
        meta[nm++] = extra[i];
    int rc = rn_st_write(path, t, m->nparams, meta, nm, err, errlen);
    free(t);
    free(meta);
    return rc;
}

int rn_ckpt_load(const RnModel *m, float *params, const char *path, int *source_hash_differs,
                 char *err, size_t errlen)
{
    rn_st_file *f;
    if (rn_st_open(&f, path, err, errlen))
        return -1;
    int rc = -1;
    const char *format = rn_st_meta(f, "format");
    const char *model = rn_st_meta(f, "model");
    const char *hash = rn_st_meta(f, "source_hash");
    if (format && strcmp(format, RN_CKPT_FORMAT)) {
        snprintf(err, errlen, "%s: checkpoint format '%s', this program reads '%s'", path, format,
                 RN_CKPT_FORMAT);
        goto out;
    }
    if (model && strcmp(model, m->name)) {
        snprintf(err, errlen, "%s: these are weights of model '%s', this program is model '%s'",
                 path, model, m->name);
        goto out;
    }
    if (source_hash_differs)
        *source_hash_differs = hash && m->source_hash && strcmp(hash, m->source_hash) != 0;
    for (int i = 0; i < m->nparams; i++) {
        const RnParamInfo *p = &m->params[i];
        int64_t shape[4];
        for (int d = 0; d < p->ndim; d++)
            shape[d] = p->shape[d];
        if (rn_st_expect_f32(f, p->name, p->ndim, shape, params + p->offset, err, errlen))
            goto out;
    }
    rc = 0;
out:
    rn_st_close(f);
    return rc;
}
