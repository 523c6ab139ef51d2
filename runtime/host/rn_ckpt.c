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
 *
 * Beside a checkpoint that a run may continue from, FILE.state.safetensors
 * holds the rest of the run: the optimizer's buffers as tensors
 * optim.m.<name> and optim.v.<name>, and as metadata (strings, as the
 * format wants) where the run stands and every option that defines it.
 * The metadata is described once, by the table state_keys below, which
 * both writer and reader walk; numbers are written so that they read back
 * exactly (%.9g for floats, %.17g for doubles).  The state file names the
 * CRC-32C of the weights it was saved with, so a pair torn apart (a crash
 * between the two renames, a file copied from another run) is refused
 * instead of resumed; and its own key state_crc32c covers its other
 * values and its tensors, so a damaged state file is refused too.  Unlike
 * the weights, the state file is read strictly: only rnet writes it, so
 * anything unexpected is an error.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "rn_driver.h"
#include "rn_err.h"
#include "rn_tblog.h"

#define RN_CKPT_FORMAT "rnet-1"
#define RN_STATE_FORMAT "rnet-state-1"

int rn_ckpt_first_nonfinite(const RnModel *m, const float *params, long *bad)
{
    for (int i = 0; i < m->nparams; i++) {
        const RnParamInfo *p = &m->params[i];
        const float *v = params + p->offset;
        long n = 0;
        for (long j = 0; j < p->numel; j++)
            n += !isfinite(v[j]);
        if (n) {
            if (bad)
                *bad = n;
            return i;
        }
    }
    return -1;
}

/* CRC-32C of the tensors' data in table order, as the file's metadata
 * tensors_crc32c records it */
static uint32_t tensors_crc(const RnModel *m, const float *params)
{
    uint32_t crc = 0;
    for (int i = 0; i < m->nparams; i++)
        crc = rn_crc32c(crc, params + m->params[i].offset,
                        sizeof(float) * (size_t)m->params[i].numel);
    return crc;
}

/* rn_ckpt_save, or (tmp not NULL) its first half: the file written to tmp */
static int ckpt_write(const RnModel *m, const float *params, const char *path,
                      const rn_st_kv *extra, int nextra, char *tmp, size_t tmplen, char *err,
                      size_t errlen)
{
    long nbad = 0;
    int bad = rn_ckpt_first_nonfinite(m, params, &nbad);
    if (bad >= 0) {
        snprintf(err, errlen, "%s: not saved: tensor '%s' has %ld non-finite value%s (NaN or "
                 "infinity) of %ld; the file on disk is unchanged", path, m->params[bad].name,
                 nbad, nbad == 1 ? "" : "s", m->params[bad].numel);
        return -1;
    }
    rn_st_entry *t = calloc((size_t)m->nparams + 1, sizeof *t);
    rn_st_kv *meta = calloc((size_t)nextra + 5, sizeof *meta);
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
    char crc_s[16];
    snprintf(crc_s, sizeof crc_s, "%08x", (unsigned)tensors_crc(m, params));
    meta[nm++] = (rn_st_kv){ "tensors_crc32c", crc_s };
    int rc = tmp ? rn_st_write_tmp(path, t, m->nparams, meta, nm, tmp, tmplen, err, errlen)
                 : rn_st_write(path, t, m->nparams, meta, nm, err, errlen);
    free(t);
    free(meta);
    return rc;
}

int rn_ckpt_save(const RnModel *m, const float *params, const char *path, const rn_st_kv *extra,
                 int nextra, char *err, size_t errlen)
{
    return ckpt_write(m, params, path, extra, nextra, NULL, 0, err, errlen);
}

void rn_ckpt_note_unchecked(const char *path)
{
    fprintf(stderr, "note: %s: no tensors_crc32c checksum (not written by rnet): its data "
            "could not be verified\n", path);
}

int rn_ckpt_load(const RnModel *m, float *params, const char *path, RnCkptInfo *info,
                 char *err, size_t errlen)
{
    if (info)
        memset(info, 0, sizeof *info);
    rn_st_file *f;
    if (rn_st_open(&f, path, err, errlen))
        return -1;
    int rc = -1;
    const char *format = rn_st_meta(f, "format");
    const char *model = rn_st_meta(f, "model");
    const char *hash = rn_st_meta(f, "source_hash");
    if (format && !strcmp(format, RN_STATE_FORMAT)) {
        snprintf(err, errlen, "%s: the training state saved beside a checkpoint, not weights "
                 "(they are in the file without '.state')", path);
        goto out;
    }
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
    if (info)
        info->source_hash_differs = hash && m->source_hash && strcmp(hash, m->source_hash) != 0;
    for (int i = 0; i < m->nparams; i++) {
        const RnParamInfo *p = &m->params[i];
        int64_t shape[4];
        for (int d = 0; d < p->ndim; d++)
            shape[d] = p->shape[d];
        if (rn_st_expect_f32(f, p->name, p->ndim, shape, params + p->offset, err, errlen))
            goto out;
    }
    /* the data as written: a flipped bit anywhere in a tensor is caught
     * here, not left to give wrong answers */
    const char *want = rn_st_meta(f, "tensors_crc32c");
    if (want) {
        char got[16];
        snprintf(got, sizeof got, "%08x", (unsigned)tensors_crc(m, params));
        if (strcmp(want, got)) {
            snprintf(err, errlen, "%s: damaged: its tensors give CRC-32C %s, the file records %s",
                     path, got, want);
            goto out;
        }
    } else if (info)
        info->unchecked = 1;
    long nbad = 0;
    int bad = rn_ckpt_first_nonfinite(m, params, &nbad);
    if (bad >= 0) {
        snprintf(err, errlen, "%s: tensor '%s' has %ld non-finite value%s (NaN or infinity) of "
                 "%ld: not usable weights", path, m->params[bad].name, nbad,
                 nbad == 1 ? "" : "s", m->params[bad].numel);
        goto out;
    }
    rc = 0;
out:
    rn_st_close(f);
    return rc;
}

/* ---- the state file ------------------------------------------------------ */

char *rn_ckpt_state_path(const char *weights)
{
    static const char ext[] = ".safetensors", add[] = ".state.safetensors";
    size_t n = strlen(weights), e = sizeof ext - 1;
    size_t stem = n > e && !strcmp(weights + n - e, ext) ? n - e : n;
    char *p = malloc(stem + sizeof add);
    if (p) {
        memcpy(p, weights, stem);
        memcpy(p + stem, add, sizeof add);
    }
    return p;
}

uint32_t rn_ckpt_params_crc(const RnModel *m, const float *params)
{
    return rn_crc32c(0, params, sizeof(float) * (size_t)m->param_floats);
}

typedef enum { K_INT, K_LONG, K_FLOAT, K_DOUBLE, K_OPT, K_SCHED, K_CRC, K_STR } KeyKind;

typedef struct {
    const char *key;
    KeyKind kind;
    size_t off;
} StateKey;

#define SK(key, kind, field) { key, kind, offsetof(RnRunState, field) }

/* every field of RnRunState, in the order written */
static const StateKey state_keys[] = {
    SK("epoch", K_INT, epoch),
    SK("batch_index", K_INT, batch_index),
    SK("step", K_LONG, step),
    SK("steps_per_epoch", K_LONG, steps_per_epoch),
    SK("epoch_loss_sum", K_DOUBLE, epoch_loss_sum),
    SK("epoch_seen", K_LONG, epoch_seen),
    SK("epoch_right", K_LONG, epoch_right),
    SK("test_loss", K_DOUBLE, test_loss),
    SK("test_accuracy", K_DOUBLE, test_acc),
    SK("epochs", K_INT, epochs),
    SK("batch", K_INT, batch),
    SK("optimizer", K_OPT, optim.kind),
    SK("momentum", K_FLOAT, optim.momentum),
    SK("nesterov", K_INT, optim.nesterov),
    SK("weight_decay", K_FLOAT, optim.weight_decay),
    SK("decoupled_wd", K_INT, optim.decoupled_wd),
    SK("beta1", K_FLOAT, optim.beta1),
    SK("beta2", K_FLOAT, optim.beta2),
    SK("eps", K_FLOAT, optim.eps),
    SK("no_decay_bn_bias", K_INT, optim.no_decay_bn_bias),
    SK("schedule", K_SCHED, sched.kind),
    SK("lr", K_FLOAT, sched.base_lr),
    SK("min_lr", K_FLOAT, sched.min_lr),
    SK("step_epochs", K_INT, sched.step_epochs),
    SK("gamma", K_FLOAT, sched.gamma),
    SK("pct_start", K_FLOAT, sched.pct_start),
    SK("div_factor", K_FLOAT, sched.div_factor),
    SK("final_div_factor", K_FLOAT, sched.final_div_factor),
    SK("warmup", K_FLOAT, sched.warmup_epochs),
    SK("label_smoothing", K_FLOAT, label_smoothing),
    SK("shift", K_INT, shift),
    SK("flip", K_INT, flip),
    SK("seed", K_LONG, seed),
    SK("limit", K_LONG, limit),
    SK("train_images", K_LONG, train_images),
    SK("train_data_crc32c", K_CRC, train_crc),
    SK("weights_crc32c", K_CRC, weights_crc),
    SK("threads", K_INT, threads),
    SK("save_every", K_INT, save_every),
    SK("log_every", K_INT, log_every),
    SK("data", K_STR, data),
    SK("log_dir", K_STR, log_dir),
};
#define NKEYS ((int)(sizeof state_keys / sizeof state_keys[0]))

static void format_key(const StateKey *k, const RnRunState *rs, char *buf, size_t n)
{
    const char *f = (const char *)rs + k->off;
    switch (k->kind) {
    case K_INT:
        snprintf(buf, n, "%d", *(const int *)f);
        break;
    case K_LONG:
        snprintf(buf, n, "%ld", *(const long *)f);
        break;
    case K_FLOAT:
        snprintf(buf, n, "%.9g", (double)*(const float *)f);
        break;
    case K_DOUBLE:
        snprintf(buf, n, "%.17g", *(const double *)f);
        break;
    case K_OPT:
        snprintf(buf, n, "%s", rn_optim_kind_name(*(const RnOptKind *)f));
        break;
    case K_SCHED:
        snprintf(buf, n, "%s", rn_sched_kind_name(*(const RnSchedKind *)f));
        break;
    case K_CRC:
        snprintf(buf, n, "%08x", (unsigned)*(const uint32_t *)f);
        break;
    case K_STR:
        snprintf(buf, n, "%s", f);
        break;
    }
}

/* 0, or -1 when v is not a well-formed value of the key's kind */
static int parse_key(const StateKey *k, const char *v, RnRunState *rs)
{
    char *f = (char *)rs + k->off, *end = NULL;
    errno = 0;
    switch (k->kind) {
    case K_INT:
    case K_LONG: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || (k->kind == K_INT && (x < -2147483647L || x > 2147483647L)))
            return -1;
        if (k->kind == K_INT)
            *(int *)f = (int)x;
        else
            *(long *)f = x;
        return 0;
    }
    case K_FLOAT: {
        float x = strtof(v, &end);
        if (!*v || *end || !isfinite(x))
            return -1;
        *(float *)f = x;
        return 0;
    }
    case K_DOUBLE: {
        double x = strtod(v, &end);
        if (!*v || *end || !isfinite(x))
            return -1;
        *(double *)f = x;
        return 0;
    }
    case K_OPT:
        return rn_optim_kind_parse(v, (RnOptKind *)f);
    case K_SCHED:
        return rn_sched_kind_parse(v, (RnSchedKind *)f);
    case K_CRC: {
        unsigned long x = strtoul(v, &end, 16);
        if (strlen(v) != 8 || *end || errno || x > 0xffffffffUL)
            return -1;
        *(uint32_t *)f = (uint32_t)x;
        return 0;
    }
    case K_STR:
        if (strlen(v) >= sizeof rs->data)
            return -1;
        memcpy(f, v, strlen(v) + 1);
        return 0;
    }
    return -1;
}

/* crc continued over a tensor's floats */
#define RN_CKPT_MAX_THREADS 65536
#define RN_CKPT_MAX_BATCH 1000000
#define RN_STR_(x) #x
#define RN_STR(x) RN_STR_(x)

static uint32_t tensor_crc(uint32_t crc, const float *data, int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    return rn_crc32c(crc, data, n * sizeof(float));
}

/* the optimizer buffers a state keeps: 0, 1 (m) or 2 (m, v) */
static int state_buffers(const RnOptim *o)
{
    return rn_optim_state_count(o);
}

static int state_write(const RnModel *m, const char *path, const RnRunState *rs,
                       const float *mbuf, const float *vbuf, char *tmp, size_t tmplen, char *err,
                       size_t errlen)
{
    int nbuf = state_buffers(&rs->optim);
    if ((nbuf >= 1 && !mbuf) || (nbuf >= 2 && !vbuf)) {
        snprintf(err, errlen, "%s: internal error: optimizer %s needs %d buffers", path,
                 rn_optim_kind_name(rs->optim.kind), nbuf);
        return -1;
    }
    rn_st_entry *t = calloc((size_t)m->nparams * 2 + 1, sizeof *t);
    char *names = calloc((size_t)m->nparams * 2 + 1, 272);
    rn_st_kv meta[NKEYS + 5];
    char (*vals)[1040] = calloc(NKEYS, sizeof *vals);
    if (!t || !names || !vals) {
        free(t), free(names), free(vals);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (int b = 0; b < nbuf; b++) {
        long nbad = 0;
        int k = rn_ckpt_first_nonfinite(m, b ? vbuf : mbuf, &nbad);
        if (k >= 0) {
            free(t), free(names), free(vals);
            snprintf(err, errlen, "%s: not saved: the optimizer's %s buffer of '%s' has %ld "
                     "non-finite value%s; the file on disk is unchanged", path,
                     b ? "second" : "first", m->params[k].name, nbad, nbad == 1 ? "" : "s");
            return -1;
        }
    }
    int nt = 0;
    for (int b = 0; b < nbuf; b++)
        for (int i = 0; i < m->nparams; i++) {
            const RnParamInfo *p = &m->params[i];
            if (p->is_buffer)
                continue;
            char *name = names + (size_t)nt * 272;
            snprintf(name, 272, "optim.%c.%s", b ? 'v' : 'm', p->name);
            t[nt].name = name;
            t[nt].dtype = RN_ST_F32;
            t[nt].ndim = p->ndim;
            for (int d = 0; d < p->ndim; d++)
                t[nt].shape[d] = p->shape[d];
            t[nt].data = (b ? vbuf : mbuf) + p->offset;
            nt++;
        }
    int nm = 0;
    meta[nm++] = (rn_st_kv){ "format", RN_STATE_FORMAT };
    meta[nm++] = (rn_st_kv){ "model", m->name };
    if (m->source_hash)
        meta[nm++] = (rn_st_kv){ "source_hash", m->source_hash };
    if (m->backend)
        meta[nm++] = (rn_st_kv){ "backend", m->backend };
    uint32_t crc = 0;
    for (int k = 0; k < NKEYS; k++) {
        format_key(&state_keys[k], rs, vals[k], sizeof vals[k]);
        meta[nm++] = (rn_st_kv){ state_keys[k].key, vals[k] };
        crc = rn_crc32c(crc, vals[k], strlen(vals[k]) + 1);
    }
    for (int i = 0; i < nt; i++)
        crc = tensor_crc(crc, t[i].data, t[i].ndim, t[i].shape);
    char crc_s[16];
    snprintf(crc_s, sizeof crc_s, "%08x", (unsigned)crc);
    meta[nm++] = (rn_st_kv){ "state_crc32c", crc_s };
    int rc = tmp ? rn_st_write_tmp(path, t, nt, meta, nm, tmp, tmplen, err, errlen)
                 : rn_st_write(path, t, nt, meta, nm, err, errlen);
    free(t), free(names), free(vals);
    return rc;
}

int rn_ckpt_state_save(const RnModel *m, const char *path, const RnRunState *rs,
                       const float *mbuf, const float *vbuf, char *err, size_t errlen)
{
    return state_write(m, path, rs, mbuf, vbuf, NULL, 0, err, errlen);
}

int rn_ckpt_state_load(const RnModel *m, const char *path, RnRunState *rs, float **mbuf,
                       float **vbuf, char *err, size_t errlen)
{
    *mbuf = *vbuf = NULL;
    memset(rs, 0, sizeof *rs);
    rn_st_file *f;
    if (rn_st_open(&f, path, err, errlen))
        return -1;
    int rc = -1;
    float *mb = NULL, *vb = NULL;
    const char *format = rn_st_meta(f, "format");
    const char *model = rn_st_meta(f, "model");
    const char *hash = rn_st_meta(f, "source_hash");
    if (!format || strcmp(format, RN_STATE_FORMAT)) {
        snprintf(err, errlen, "%s: not an rnet state file (format '%s', expected '%s')", path,
                 format ? format : "none", RN_STATE_FORMAT);
        goto out;
    }
    if (!model || strcmp(model, m->name)) {
        snprintf(err, errlen, "%s: the state of a run of model '%s', this program is model '%s'",
                 path, model ? model : "?", m->name);
        goto out;
    }
    if (m->source_hash && (!hash || strcmp(hash, m->source_hash))) {
        snprintf(err, errlen,
                 "%s: saved by a program built from another source of model '%s' (source hash "
                 "%s, this program %s); a run resumes only with the program that started it",
                 path, m->name, hash ? hash : "none", m->source_hash);
        goto out;
    }
    uint32_t crc = 0;
    for (int k = 0; k < NKEYS; k++) {
        const char *v = rn_st_meta(f, state_keys[k].key);
        if (v)
            crc = rn_crc32c(crc, v, strlen(v) + 1);
        if (!v) {
            snprintf(err, errlen, "%s: metadata '%s' is missing", path, state_keys[k].key);
            goto out;
        }
        if (parse_key(&state_keys[k], v, rs)) {
            snprintf(err, errlen, "%s: metadata '%s' has a bad value '%.40s'", path,
                     state_keys[k].key, v);
            goto out;
        }
    }
    const char *why = rn_optim_check(&rs->optim);
    if (!why)
        why = rn_schedule_check(&rs->sched);
    if (!why && (rs->epoch < 0 || rs->batch_index < 0 || rs->step < 0 ||
                 rs->steps_per_epoch < 1 || rs->batch_index >= rs->steps_per_epoch ||
                 rs->step != (long)rs->epoch * rs->steps_per_epoch + rs->batch_index ||
                 rs->epochs < 1 || rs->batch < 1 || rs->epoch > rs->epochs))
        why = "the position (epoch, batch_index, step, steps_per_epoch, epochs) is inconsistent";
    /* counts the run takes from the file, bounded before anything is sized
     * by them (the checksum proves the file intact, not the values sane) */
    if (!why && (rs->threads < 0 || rs->threads > RN_CKPT_MAX_THREADS))
        why = "metadata 'threads' is out of range (0 to " RN_STR(RN_CKPT_MAX_THREADS) ")";
    if (!why && (rs->batch > RN_CKPT_MAX_BATCH))
        why = "metadata 'batch' is out of range (1 to " RN_STR(RN_CKPT_MAX_BATCH) ")";
    if (!why && (rs->save_every < 0 || rs->log_every < 0 || rs->limit < 0 || rs->shift < 0))
        why = "metadata 'save_every', 'log_every', 'limit' or 'shift' is negative";
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto out;
    }

    int nbuf = state_buffers(&rs->optim);
    if ((nbuf >= 1 && !(mb = calloc((size_t)m->param_floats + 1, sizeof(float)))) ||
        (nbuf >= 2 && !(vb = calloc((size_t)m->param_floats + 1, sizeof(float))))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    int expected = 0;
    for (int b = 0; b < nbuf; b++)
        for (int i = 0; i < m->nparams; i++) {
            const RnParamInfo *p = &m->params[i];
            if (p->is_buffer)
                continue;
            char name[300];
            snprintf(name, sizeof name, "optim.%c.%s", b ? 'v' : 'm', p->name);
            int64_t shape[4];
            for (int d = 0; d < p->ndim; d++)
                shape[d] = p->shape[d];
            if (rn_st_expect_f32(f, name, p->ndim, shape, (b ? vb : mb) + p->offset, err,
                                 errlen))
                goto out;
            crc = tensor_crc(crc, (b ? vb : mb) + p->offset, p->ndim, shape);
            expected++;
        }
    if (rn_st_count(f) != expected) {
        /* name the first tensor that is not one of the above */
        for (int i = 0; i < rn_st_count(f); i++) {
            const char *name = rn_st_at(f, i)->name;
            int ok = 0;
            for (int b = 0; b < nbuf && !ok; b++)
                for (int j = 0; j < m->nparams && !ok; j++) {
                    char want[300];
                    snprintf(want, sizeof want, "optim.%c.%s", b ? 'v' : 'm', m->params[j].name);
                    ok = !m->params[j].is_buffer && !strcmp(name, want);
                }
            if (!ok) {
                snprintf(err, errlen,
                         "%s: tensor '%s' does not belong to the state of optimizer %s%s", path,
                         name, rn_optim_kind_name(rs->optim.kind),
                         nbuf == 0 ? " without momentum" : "");
                goto out;
            }
        }
    }
    const char *want = rn_st_meta(f, "state_crc32c");
    char got[16];
    snprintf(got, sizeof got, "%08x", (unsigned)crc);
    if (!want || strcmp(want, got)) {
        snprintf(err, errlen,
                 "%s: damaged: its contents give CRC-32C %s, the file records %s", path, got,
                 want ? want : "none");
        goto out;
    }
    *mbuf = mb;
    *vbuf = vb;
    mb = vb = NULL;
    rc = 0;
out:
    free(mb);
    free(vb);
    rn_st_close(f);
    return rc;
}

/* ---- saving as a pair, and what a kill may leave ------------------------ */

int rn_ckpt_pair_save(const RnModel *m, const float *params, const char *wpath,
                      const rn_st_kv *extra, int nextra, const char *spath, RnRunState *rs,
                      const float *mbuf, const float *vbuf, char *err, size_t errlen)
{
    size_t wn = strlen(wpath) + 32, sn = strlen(spath) + 32;
    char *wt = malloc(wn), *st = malloc(sn);
    int rc = -1;
    if (!wt || !st) {
        rn_fail(err, errlen, "%s: out of memory", wpath);
        goto out;
    }
    rs->weights_crc = rn_ckpt_params_crc(m, params);
    if (state_write(m, spath, rs, mbuf, vbuf, st, sn, err, errlen))
        goto out;
    if (ckpt_write(m, params, wpath, extra, nextra, wt, wn, err, errlen)) {
        unlink(st);
        goto out;
    }
    /* both complete on disk: from here a kill leaves something resumable */
    int c = rn_st_commit(wt, wpath, err, errlen);
    if (c == -1) {
        unlink(wt);
        unlink(st);
        goto out;
    }
    char err2[512];
    int c2 = rn_st_commit(st, spath, err2, sizeof err2);
    /* a failed rename keeps the state's temporary: rn_ckpt_finish_save
     * completes the pair from it */
    if (c == 0 && c2 != 0)
        snprintf(err, errlen, "%s", err2);
    rc = c || c2 ? -2 : 0;
out:
    free(wt);
    free(st);
    return rc;
}

const char *rn_path_dir(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, n, ".");
    else if (slash == path)
        snprintf(dir, n, "/");
    else
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

/* The pid of a temporary NAME.tmp.<pid> of base, or 0 when name is not one */
static long tmp_pid(const char *name, const char *base)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) || strncmp(name + bl, ".tmp.", 5))
        return 0;
    const char *d = name + bl + 5;
    if (!*d)
        return 0;
    long pid = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || pid > 99999999)
            return 0;
        pid = pid * 10 + (*d - '0');
    }
    return pid;
}

/* Call fn(full path, pid, arg) for each temporary of path; stops at a
 * non-zero return, which it returns */
static int each_tmp(const char *path, int (*fn)(const char *, long, void *), void *arg)
{
    char dir[4096];
    const char *base = rn_path_dir(path, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int r = 0;
    struct dirent *de;
    while (!r && (de = readdir(d))) {
        long pid = tmp_pid(de->d_name, base);
        if (!pid)
            continue;
        char full[8192];
        if (snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >= (int)sizeof full)
            continue;
        r = fn(full, pid, arg);
    }
    closedir(d);
    return r;
}

typedef struct {
    const RnModel *m;
    const char *spath;
    uint32_t crc;
    long step;
} Finish;

static int finish_one(const char *tmp, long pid, void *arg)
{
    (void)pid;
    Finish *f = arg;
    RnRunState rs;
    float *mb, *vb;
    char err[512];
    if (rn_ckpt_state_load(f->m, tmp, &rs, &mb, &vb, err, sizeof err))
        return 0;
    free(mb);
    free(vb);
    if (rs.weights_crc != f->crc || rename(tmp, f->spath) != 0)
        return 0;
    f->step = rs.step;
    return 1;
}

static int any_tmp(const char *tmp, long pid, void *arg)
{
    (void)tmp, (void)pid, (void)arg;
    return 1;
}

int rn_ckpt_finish_save(const RnModel *m, const char *wpath, const char *spath, long *step)
{
    if (!each_tmp(spath, any_tmp, NULL))
        return 0; /* no save was cut short here */
    float *p = calloc((size_t)m->param_floats + 1, sizeof *p);
    char err[512];
    if (!p || rn_ckpt_load(m, p, wpath, NULL, err, sizeof err)) {
        free(p);
        return 0;
    }
    Finish f = { m, spath, rn_ckpt_params_crc(m, p), 0 };
    free(p);
    RnRunState rs;
    float *mb, *vb;
    if (rn_ckpt_state_load(m, spath, &rs, &mb, &vb, err, sizeof err) == 0) {
        free(mb);
        free(vb);
        if (rs.weights_crc == f.crc)
            return 0; /* the pair is whole */
    }
    if (!each_tmp(spath, finish_one, &f))
        return 0;
    if (step)
        *step = f.step;
    return 1;
}

/* Whether the process that wrote tmp is gone: its pid is not a live
 * process, or is this one, or (pids are reused: 32,768 of them go round
 * in minutes on a busy machine) the live process with it started after
 * tmp was last written, as its /proc entry says where there is one. */
static int writer_gone(const char *tmp, long pid)
{
    if (pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        return 1;
    char proc[64];
    struct stat ps, ts;
    snprintf(proc, sizeof proc, "/proc/%ld/stat", pid);
    FILE *f = fopen(proc, "r");
    if (f) { /* a zombie (killed, not yet reaped) answers kill() too */
        char line[512];
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
        const char *e = strrchr(line, ')');
        if (e && e[1] == ' ' && (e[2] == 'Z' || e[2] == 'X'))
            return 1;
    }
    snprintf(proc, sizeof proc, "/proc/%ld", pid);
    return stat(proc, &ps) == 0 && stat(tmp, &ts) == 0 && ps.st_ctime > ts.st_mtime + 1;
}

static int clean_one(const char *tmp, long pid, void *arg)
{
    int *n = arg;
    if (writer_gone(tmp, pid) && unlink(tmp) == 0)
        ++*n;
    return 0;
}

int rn_ckpt_clean_stale(const char *path)
{
    int n = 0;
    each_tmp(path, clean_one, &n);
    return n;
}
