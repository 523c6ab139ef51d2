/* rn_idx.c - read and write IDX files, plain or gzipped.
 *
 * A gzip file (its members inflated here) and a plain file are read by one
 * code path; bytes after the last gzip member are an error, as bytes after
 * the data are.  The header is checked field by field before anything
 * large is allocated, and the data buffer grows as data actually arrives
 * (never straight to the header's claim), so a lying header in a small file
 * costs a small allocation and a clear "truncated" message rather than a
 * multi-gigabyte malloc.  After the data the reader reads on to make sure
 * nothing follows: a file longer than its header says is as suspect as a
 * shorter one.
 */
#include "rn_err.h"
#include "rn_data.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef RN_NO_ZLIB
#include "rn_nozlib.h" /* plain files only (cross builds) */
#else
#include <zlib.h>
#endif


static const char *type_name(int code)
{
    switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return NULL;
}

/* "8004x28x28" */
static void dims_str(char *buf, size_t len, int ndims, const uint32_t *dims)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < ndims && at < len; i++) {
        int k = snprintf(buf + at, len - at, i ? "x%u" : "%u", (unsigned)dims[i]);
        if (k < 0)
            break;
        at += (size_t)k;
    }
}

static const char *data_noun(int ndims)
{
    return ndims == 1 ? "labels" : ndims >= 3 ? "pixels" : "data";
}

/* The source of an IDX file: plain bytes, or gzip members inflated here
 * (zlib's gzread ignores whatever follows the last member, so a file with
 * garbage appended would load without a word). */
enum { SRC_OK, SRC_TRUNC, SRC_CORRUPT, SRC_IO, SRC_TRAIL, SRC_NOMEM };
typedef struct {
    FILE *fp;
    int gz;             /* gzip (magic 1f 8b), else plain */
    int done;           /* the last member ended with the file */
    int fail;           /* SRC_* */
    int err_no;         /* errno of SRC_IO */
    long long trailing; /* bytes after the last member (SRC_TRAIL) */
    const char *msg;    /* zlib's word for SRC_CORRUPT */
#ifndef RN_NO_ZLIB
    z_stream z;
    int zinit;
#endif
    unsigned char in[1 << 16];
} Src;

static Src *src_open(const char *path)
{
    Src *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (!(s->fp = fopen(path, "rb"))) {
        int e = errno;
        free(s);
        errno = e;
        return NULL;
    }
    unsigned char m[2];
    s->gz = fread(m, 1, 2, s->fp) == 2 && m[0] == 0x1f && m[1] == 0x8b;
    rewind(s->fp);
    return s;
}

static void src_close(Src *s)
{
#ifndef RN_NO_ZLIB
    if (s->zinit)
        inflateEnd(&s->z);
#endif
    fclose(s->fp);
    free(s);
}

#ifndef RN_NO_ZLIB
/* more compressed input when none is left; the count now available */
static unsigned src_fill(Src *s)
{
    if (s->z.avail_in == 0 && !feof(s->fp)) {
        size_t n = fread(s->in, 1, sizeof s->in, s->fp);
        if (ferror(s->fp)) {
            s->fail = SRC_IO, s->err_no = errno;
            return 0;
        }
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)n;
    }
    return s->z.avail_in;
}

/* a member ended: another one follows, or the file ends, or it is garbage */
static void src_member_end(Src *s)
{
    if (!src_fill(s)) {
        s->done = !s->fail;
        return;
    }
    if (s->z.next_in[0] == 0x1f) { /* inflate checks the rest of the header */
        inflateReset(&s->z);
        return;
    }
    long long n = s->z.avail_in;
    size_t r;
    while ((r = fread(s->in, 1, sizeof s->in, s->fp)) > 0)
        n += (long long)r;
    s->z.avail_in = 0;
    s->fail = SRC_TRAIL, s->trailing = n;
}

static size_t src_inflate(Src *s, uint8_t *buf, size_t n)
{
    if (!s->zinit) {
        if (inflateInit2(&s->z, 15 + 16) != Z_OK) {
            s->fail = SRC_NOMEM;
            return 0;
        }
        s->zinit = 1;
    }
    size_t got = 0;
    while (got < n && !s->done && !s->fail) {
        if (!src_fill(s)) {
            if (!s->fail)
                s->fail = SRC_TRUNC;
            break;
        }
        size_t want = n - got < (1u << 30) ? n - got : (1u << 30);
        s->z.next_out = buf + got;
        s->z.avail_out = (uInt)want;
        int r = inflate(&s->z, Z_NO_FLUSH);
        got += want - s->z.avail_out;
        if (r == Z_STREAM_END)
            src_member_end(s);
        else if (r == Z_MEM_ERROR)
            s->fail = SRC_NOMEM;
        else if (r != Z_OK && r != Z_BUF_ERROR)
            s->fail = SRC_CORRUPT, s->msg = s->z.msg;
    }
    return got;
}
#endif

/* Read up to n bytes; the count, short only at the end of the data or on a
 * failure (src_failed says which) */
static long long read_some(Src *s, uint8_t *buf, size_t n)
{
#ifndef RN_NO_ZLIB
    if (s->gz)
        return (long long)src_inflate(s, buf, n);
#endif
    size_t got = fread(buf, 1, n, s->fp);
    if (ferror(s->fp))
        s->fail = SRC_IO, s->err_no = errno;
    return (long long)got;
}

/* 0 when the source has not failed, else -1 with the message */
static int src_failed(const Src *s, const char *path, char *err, size_t errlen)
{
    switch (s->fail) {
    case SRC_OK:
        return 0;
    case SRC_TRUNC:
        return rn_fail(err, errlen, "%s: truncated gzip stream: the compressed file is cut short",
                       path);
    case SRC_IO:
        return rn_fail(err, errlen, "%s: read error: %s", path, strerror(s->err_no));
    case SRC_TRAIL:
        return rn_fail(err, errlen,
                       "%s: %lld byte%s of garbage after the end of the gzip stream", path,
                       s->trailing, s->trailing == 1 ? "" : "s");
    case SRC_NOMEM:
        return rn_fail(err, errlen, "%s: out of memory for the gzip decoder", path);
    }
    return rn_fail(err, errlen, "%s: corrupt gzip data: %s", path,
                   s->msg ? s->msg : "unknown error");
}

int rn_idx_load(const char *path, RnIdx *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);

    struct stat st;
    if (stat(path, &st) != 0)
        return rn_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return rn_fail(err, errlen, "%s: is a directory, not an IDX file", path);
    if (!S_ISREG(st.st_mode))
        return rn_fail(err, errlen, "%s: not a regular file", path);

    errno = 0;
    Src *f = src_open(path);
    if (!f)
        return rn_fail(err, errlen, "%s: cannot open: %s", path,
                    errno ? strerror(errno) : "out of memory");
#ifdef RN_NO_ZLIB
    if (f->gz) {
        src_close(f);
        return rn_fail(err, errlen,
                       "%s: gzip-compressed, and this runtime was built without zlib "
                       "(RN_NO_ZLIB): gunzip it first (gunzip -k %s)",
                       path, path);
    }
#endif

    int rc = -1;
    uint8_t *data = NULL;
    uint8_t head[4 + 4 * RN_IDX_MAX_DIMS];

    long long got = read_some(f, head, 4);
    if (got < 0) {
        src_failed(f, path, err, errlen);
        goto done;
    }
    if (got < 4) {
        if (src_failed(f, path, err, errlen))
            goto done;
        if (got == 0)
            rn_fail(err, errlen, "%s: empty file, expected an IDX header", path);
        else
            rn_fail(err, errlen, "%s: truncated header: %lld bytes, an IDX magic number alone is 4",
                 path, got);
        goto done;
    }
    if (head[0] != 0 || head[1] != 0) {
        rn_fail(err, errlen,
             "%s: bad magic 0x%02x%02x%02x%02x: not an IDX file (IDX files start 00 00 "
             "<type> <ndims>, e.g. 0x00000803 for images)",
             path, head[0], head[1], head[2], head[3]);
        goto done;
    }
    int type = head[2], ndims = head[3];
    if (type != 0x08) {
        const char *name = type_name(type);
        if (name)
            rn_fail(err, errlen,
                 "%s: IDX type code 0x%02X (%s) is not supported: rnet reads unsigned-byte "
                 "IDX files (type 0x08)",
                 path, type, name);
        else
            rn_fail(err, errlen,
                 "%s: bad magic 0x%08X: 0x%02X is not an IDX type code (0x08 unsigned byte, "
                 "0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)",
                 path, (unsigned)type << 8 | (unsigned)ndims, type);
        goto done;
    }
    if (ndims < 1 || ndims > RN_IDX_MAX_DIMS) {
        rn_fail(err, errlen, "%s: magic 0x%08X says %d dimensions; rnet reads 1 to %d", path,
             (unsigned)type << 8 | (unsigned)ndims, ndims, RN_IDX_MAX_DIMS);
        goto done;
    }

    got = read_some(f, head + 4, 4 * (size_t)ndims);
    if (got < 0) {
        src_failed(f, path, err, errlen);
        goto done;
    }
    if (got < 4 * ndims) {
        if (!src_failed(f, path, err, errlen))
            rn_fail(err, errlen,
                 "%s: truncated header: magic says %d dimensions (a %d-byte header), file "
                 "has %lld bytes",
                 path, ndims, 4 + 4 * ndims, 4 + got);
        goto done;
    }

    uint32_t dims[RN_IDX_MAX_DIMS] = {0};
    uint64_t size = 1;
    int too_big = 0;
    for (int i = 0; i < ndims; i++) {
        const uint8_t *p = head + 4 + 4 * i;
        dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
    char dstr[80];
    dims_str(dstr, sizeof dstr, ndims, dims);
    for (int i = 0; i < ndims; i++) {
        if (dims[i] == 0) {
            rn_fail(err, errlen, "%s: dimension %d is 0 (header says %s)", path, i, dstr);
            goto done;
        }
    }
    /* each factor < 2^32 and we stop once past 2^34, so no overflow */
    for (int i = 0; i < ndims && !too_big; i++) {
        size *= dims[i];
        too_big = size > RN_IDX_MAX_BYTES;
    }
    if (too_big || size > SIZE_MAX / 2) {
        rn_fail(err, errlen, "%s: header says %s, more than the %llu GiB rnet will load", path,
             dstr, (unsigned long long)(RN_IDX_MAX_BYTES >> 30));
        goto done;
    }

    /* Grow the buffer as data arrives, doubling, never past the claim. */
    size_t cap = size < (1u << 20) ? (size_t)size : (1u << 20);
    size_t have = 0;
    data = malloc(cap);
    if (!data) {
        rn_fail(err, errlen, "%s: out of memory for %zu bytes", path, cap);
        goto done;
    }
    for (;;) {
        long long r = read_some(f, data + have, cap - have);
        if (r < 0) {
            src_failed(f, path, err, errlen);
            goto done;
        }
        have += (size_t)r;
        if (have < cap || have == size)
            break;
        size_t ncap = cap * 2 < size ? cap * 2 : (size_t)size;
        uint8_t *nd = realloc(data, ncap);
        if (!nd) {
            rn_fail(err, errlen, "%s: out of memory for %zu bytes", path, ncap);
            goto done;
        }
        data = nd;
        cap = ncap;
    }
    if (have < size) {
        if (!src_failed(f, path, err, errlen))
            rn_fail(err, errlen, "%s: truncated: header says %s (%llu bytes of %s), file has %zu",
                 path, dstr, (unsigned long long)size, data_noun(ndims), have);
        goto done;
    }

    /* Anything after the data? Count it all for the message. */
    unsigned long long extra = 0;
    for (;;) {
        uint8_t scratch[4096];
        long long r = read_some(f, scratch, sizeof scratch);
        if (r <= 0)
            break;
        extra += (unsigned long long)r;
    }
    if (src_failed(f, path, err, errlen))
        goto done;
    if (extra) {
        rn_fail(err, errlen,
             "%s: trailing bytes: header says %s (%llu bytes of %s), file has %llu (%llu extra)",
             path, dstr, (unsigned long long)size, data_noun(ndims),
             (unsigned long long)size + extra, extra);
        goto done;
    }

    out->ndims = ndims;
    for (int i = 0; i < ndims; i++)
        out->dims[i] = dims[i];
    out->size = (size_t)size;
    out->data = data;
    data = NULL;
    rc = 0;

done:
    free(data);
    src_close(f);
    return rc;
}

void rn_idx_free(RnIdx *idx)
{
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* Written to "<path>.tmp<pid>" and renamed, so a reader never sees half a
 * file and a failed write leaves any previous file in place. */
int rn_idx_save(const char *path, int ndims, const uint32_t *dims, const uint8_t *data, int gzip,
                char *err, size_t errlen)
{
    if (ndims < 1 || ndims > RN_IDX_MAX_DIMS)
        return rn_fail(err, errlen, "%s: cannot write %d dimensions; IDX u8 files have 1 to %d",
                    path, ndims, RN_IDX_MAX_DIMS);
    uint64_t size = 1;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] == 0)
            return rn_fail(err, errlen, "%s: cannot write dimension %d of size 0", path, i);
        size *= dims[i];
        if (size > RN_IDX_MAX_BYTES)
            return rn_fail(err, errlen, "%s: data larger than %llu GiB", path,
                        (unsigned long long)(RN_IDX_MAX_BYTES >> 30));
    }

    uint8_t head[4 + 4 * RN_IDX_MAX_DIMS];
    head[0] = 0;
    head[1] = 0;
    head[2] = 0x08;
    head[3] = (uint8_t)ndims;
    for (int i = 0; i < ndims; i++) {
        head[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        head[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        head[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        head[7 + 4 * i] = (uint8_t)dims[i];
    }
    size_t hlen = 4 + 4 * (size_t)ndims;

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp)
        return rn_fail(err, errlen, "%s: out of memory", path);
    snprintf(tmp, tlen, "%s.tmp%ld", path, (long)getpid());

    int ok = 1;
#ifdef RN_NO_ZLIB
    if (gzip) {
        free(tmp);
        return rn_fail(err, errlen,
                       "%s: cannot write gzip: this runtime was built without zlib (RN_NO_ZLIB)",
                       path);
    }
#endif
    if (gzip) {
        errno = 0;
        gzFile f = gzopen(tmp, "wb6");
        if (!f) {
            rn_fail(err, errlen, "%s: cannot create: %s", tmp, errno ? strerror(errno) : "gzopen");
            free(tmp);
            return -1;
        }
        ok = gzwrite(f, head, (unsigned)hlen) == (int)hlen;
        for (size_t at = 0; ok && at < size;) {
            size_t n = size - at > (1u << 30) ? (1u << 30) : (size_t)(size - at);
            ok = gzwrite(f, data + at, (unsigned)n) == (int)n;
            at += n;
        }
        if (gzclose(f) != Z_OK)
            ok = 0;
    } else {
        FILE *f = fopen(tmp, "wb");
        if (!f) {
            rn_fail(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
            free(tmp);
            return -1;
        }
        ok = fwrite(head, 1, hlen, f) == hlen && fwrite(data, 1, (size_t)size, f) == size;
        if (fclose(f) != 0)
            ok = 0;
    }
    if (!ok) {
        rn_fail(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        rn_fail(err, errlen, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
