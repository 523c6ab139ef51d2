/* rn_safetensors.h - checkpoints as .safetensors files.
 *
 * Safetensors is the format PyTorch users share weights in, so a checkpoint
 * written here loads with `safetensors.torch.load_file` and the other way
 * round.  The layout:
 *
 *     u64 N (little-endian)   length of the header
 *     N bytes of JSON         {"__metadata__": {"k": "v", ...},
 *                              "name": {"dtype": "F32", "shape": [64, 1, 7, 7],
 *                                       "data_offsets": [begin, end]}, ...}
 *                             padded with spaces to a multiple of 8
 *     data section            raw little-endian tensor bytes; offsets are
 *                             relative to its start; tensors are contiguous,
 *                             non-overlapping and cover it exactly
 *
 * Reading:
 *
 *     rn_st_file *f;
 *     char err[512];
 *     if (rn_st_open(&f, "runs/x/model.safetensors", err, sizeof err))
 *         { fprintf(stderr, "%s\n", err); return 1; }
 *     int64_t shape[4] = {64, 1, 7, 7};
 *     if (rn_st_expect_f32(f, "conv1.weight", 4, shape, w, err, sizeof err)) ...
 *     const char *epoch = rn_st_meta(f, "epoch");
 *     rn_st_close(f);
 *
 * The whole file is read into memory and validated before rn_st_open
 * returns: header length within the file, strict JSON, known dtypes,
 * shape x dtype size == end - begin, offsets in range, no overlaps, no gaps,
 * no duplicate names.  Whatever the bytes, the reader never reads out of
 * bounds and never exits; every error is one line in the caller's buffer
 * naming the file (and the tensor, where there is one) and the problem.
 *
 * Writing is one call, atomic: the bytes go to FILE.tmp.<pid> in the same
 * directory, which is fsynced and renamed over FILE, and then the directory
 * is fsynced.  On any error the temporary file is removed and an existing
 * FILE is left as it was.
 *
 * All functions that can fail return 0 on success and -1 on failure, with
 * the message in err (err may be NULL, errlen may be 0). */
#ifndef RN_SAFETENSORS_H
#define RN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* The dtypes of the safetensors spec: X(name as written in the file, bytes
 * per element).  Every one is accepted by the reader; rnet itself writes
 * F32 (parameters, statistics), I64 (counters) and U8. */
#define RN_ST_DTYPES(X) \
    X(BOOL, 1)          \
    X(U8, 1)            \
    X(I8, 1)            \
    X(F8_E5M2, 1)       \
    X(F8_E4M3, 1)       \
    X(I16, 2)           \
    X(U16, 2)           \
    X(F16, 2)           \
    X(BF16, 2)          \
    X(I32, 4)           \
    X(U32, 4)           \
    X(F32, 4)           \
    X(F64, 8)           \
    X(I64, 8)           \
    X(U64, 8)

typedef enum {
#define RN_ST_X(name, size) RN_ST_##name,
    RN_ST_DTYPES(RN_ST_X)
#undef RN_ST_X
    RN_ST_NDTYPES
} rn_st_dtype;

const char *rn_st_dtype_name(rn_st_dtype dt); /* "F32"; "?" if out of range */
size_t rn_st_dtype_size(rn_st_dtype dt);      /* 4 for F32; 0 if out of range */

#define RN_ST_MAX_DIMS 8

/* ---- reading ---------------------------------------------------------- */

typedef struct rn_st_tensor {
    const char *name;           /* NUL-terminated, owned by the rn_st_file */
    rn_st_dtype dtype;
    int ndim;                   /* 0 for a scalar */
    int64_t shape[RN_ST_MAX_DIMS];
    uint64_t begin, end;        /* data_offsets, relative to the data section */
    const void *data;           /* little-endian bytes, end - begin of them;
                                   NOT necessarily aligned: copy, don't cast */
} rn_st_tensor;

typedef struct rn_st_file rn_st_file;

/* Read and validate a whole file. */
int rn_st_open(rn_st_file **out, const char *path, char *err, size_t errlen);

/* The same from memory (the fuzzer's entry point).  The bytes are borrowed,
 * not copied: they must outlive the rn_st_file.  label names the source in
 * error messages. */
int rn_st_open_mem(rn_st_file **out, const void *bytes, size_t len,
                   const char *label, char *err, size_t errlen);

void rn_st_close(rn_st_file *f); /* NULL is fine */

/* Tensors in the order of their data offsets (the file's own order). */
int rn_st_count(const rn_st_file *f);
const rn_st_tensor *rn_st_at(const rn_st_file *f, int i);

/* NULL when there is no tensor of that name. */
const rn_st_tensor *rn_st_find(const rn_st_file *f, const char *name);

/* Like rn_st_find, but a missing tensor is an error message. */
int rn_st_get(const rn_st_file *f, const char *name, const rn_st_tensor **out,
              char *err, size_t errlen);

/* Check that `name` exists, is F32 and has exactly the shape the model
 * expects, then copy its ndim-product floats into dst (host byte order).
 * Error e.g. "runs/x/model.safetensors: tensor 'layer1.0.conv1.weight':
 * shape [64,64,3,3] in file, model expects [128,64,3,3]". */
int rn_st_expect_f32(const rn_st_file *f, const char *name, int ndim,
                     const int64_t *shape, float *dst, char *err, size_t errlen);

/* The same for I64 tensors (step counters and the like). */
int rn_st_expect_i64(const rn_st_file *f, const char *name, int ndim,
                     const int64_t *shape, int64_t *dst, char *err, size_t errlen);

/* __metadata__: value for key, or NULL.  Keys and values are UTF-8 and
 * NUL-terminated; the file may not contain \u0000 in them. */
const char *rn_st_meta(const rn_st_file *f, const char *key);
int rn_st_meta_count(const rn_st_file *f);
void rn_st_meta_at(const rn_st_file *f, int i, const char **key, const char **value);

/* The label errors use (the path for rn_st_open). */
const char *rn_st_label(const rn_st_file *f);

/* ---- writing ---------------------------------------------------------- */

typedef struct rn_st_entry {
    const char *name;                 /* unique, non-empty, valid UTF-8 */
    rn_st_dtype dtype;
    int ndim;                         /* 0..RN_ST_MAX_DIMS */
    int64_t shape[RN_ST_MAX_DIMS];
    const void *data;                 /* host byte order; may be NULL if empty */
} rn_st_entry;

typedef struct rn_st_kv {
    const char *key, *value;          /* UTF-8; keys unique */
} rn_st_kv;

/* Write tensors t[0..nt) in that order, and the metadata pairs, to path,
 * atomically.  nmeta == 0 writes no __metadata__ entry. */
int rn_st_write(const char *path, const rn_st_entry *t, int nt,
                const rn_st_kv *meta, int nmeta, char *err, size_t errlen);
/* rn_st_write in two halves, for files that must change together: the
 * whole file written and fsynced to tmp (path.tmp.<pid>, tmplen at least
 * strlen(path) + 32; removed again on failure), then renamed over path and
 * the directory synced.  A failed write leaves path as it was.
 * rn_st_commit: 0; -1 when the rename failed (tmp is left for the caller
 * to remove or keep); -2 when path was replaced but the directory's sync
 * failed. */
/* The temporary a save into path writes first: path.tmp.<pid> */
void rn_st_tmp_name(const char *path, char *tmp, size_t tmplen);
int rn_st_write_tmp(const char *path, const rn_st_entry *t, int nt, const rn_st_kv *meta,
                    int nmeta, char *tmp, size_t tmplen, char *err, size_t errlen);
int rn_st_commit(const char *tmp, const char *path, char *err, size_t errlen);

#endif
