/* rn_nozlib.h - a stand-in for the few zlib calls the runtime makes, used
 * only when RN_NO_ZLIB is defined.
 *
 * Why: Debian ships cross compilers and a cross libc but no cross zlib, so
 * tools/cross.sh builds the aarch64 and riscv64 runtimes with -DRN_NO_ZLIB.
 * rn_idx.c then reads through these functions, which read a plain file
 * exactly as gzread reads an uncompressed one (stdio underneath).  A gzip
 * file is recognised by its magic bytes (rn_nozlib_is_gzip) and refused by
 * the caller with a message saying to gunzip it; writing gzip and inflating
 * (PNG) are refused by their callers too.  crc32 is the real CRC-32 (PNG
 * chunks use it), bit by bit: small, and PNG decoding stops before it
 * matters anyway.  Nothing here is compiled into a normal build.
 */
#ifndef RN_NOZLIB_H
#define RN_NOZLIB_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define Z_OK 0
#define Z_ERRNO (-1)
#define Z_BUF_ERROR (-5)

typedef unsigned int uInt;
typedef struct rn_nozlib_file {
    FILE *fp;
    int err; /* Z_OK or Z_ERRNO */
} *gzFile;

static inline gzFile gzopen(const char *path, const char *mode)
{
    if (mode[0] != 'r') {
        errno = ENOTSUP;
        return NULL;
    }
    gzFile f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->fp = fopen(path, "rb");
    if (!f->fp) {
        int e = errno;
        free(f);
        errno = e;
        return NULL;
    }
    return f;
}

/* 1 when the file starts with the gzip magic 1f 8b; leaves it at offset 0 */
static inline int rn_nozlib_is_gzip(gzFile f)
{
    unsigned char m[2] = {0, 0};
    size_t n = fread(m, 1, 2, f->fp);
    rewind(f->fp);
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static inline int gzbuffer(gzFile f, unsigned size)
{
    (void)f, (void)size;
    return 0;
}

static inline int gzread(gzFile f, void *buf, unsigned len)
{
    size_t n = fread(buf, 1, len, f->fp);
    if (n < len && ferror(f->fp)) {
        f->err = Z_ERRNO;
        return -1;
    }
    return (int)n;
}

static inline int gzwrite(gzFile f, const void *buf, unsigned len)
{
    (void)f, (void)buf, (void)len;
    return 0;
}

static inline const char *gzerror(gzFile f, int *code)
{
    *code = f->err;
    return f->err ? "read error" : "";
}

static inline int gzclose(gzFile f)
{
    if (!f)
        return Z_OK;
    int rc = fclose(f->fp) == 0 ? Z_OK : Z_ERRNO;
    free(f);
    return rc;
}

static inline unsigned long crc32(unsigned long crc, const unsigned char *p, uInt n)
{
    crc = ~crc & 0xffffffffUL;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0xedb88320UL : crc >> 1;
    }
    return ~crc & 0xffffffffUL;
}

#endif
