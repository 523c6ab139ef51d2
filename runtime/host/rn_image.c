/* rn_image.c - PGM and PNG decoders, gray conversion, resizing, PGM writer.
 *
 * Both decoders work on the whole file in memory behind a bounds-checked
 * cursor, so a lying header can only produce an error message.  The PNG
 * path is the one the spec lays out: signature, chunks (length, type, data,
 * CRC over type and data), IHDR first, IDAT data concatenated and inflated
 * by zlib into rows of one filter byte plus the packed samples, each row
 * unfiltered against the row above it, samples widened or narrowed to
 * 8 bits.  Chunk types are dispatched by switching on their 32-bit tag. */
#define ZLIB_CONST
#include "rn_err.h"
#define im_err_at(err, errlen, label, ...) rn_fail_at(err, errlen, (label) ? (label) : "image", __VA_ARGS__)
#include "rn_image.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef RN_NO_ZLIB
#include "rn_nozlib.h" /* crc32 only: PNG is refused (cross builds) */
#else
#include <zlib.h>
#endif

#if defined(__GNUC__)
#define IM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IM_PRINTF(a, b)
#endif


void rn_image_free(rn_image *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* Allocate img for w x h x c, refusing sizes beyond RN_IMAGE_MAX_PIXELS. */
static int im_alloc(rn_image *img, int w, int h, int c, const char *label, char *err, size_t errlen)
{
    if (w <= 0 || h <= 0)
        return im_err_at(err, errlen, label, "image has zero size (%d x %d)", w, h);
    if ((uint64_t)w * (uint64_t)h > RN_IMAGE_MAX_PIXELS)
        return im_err_at(err, errlen, label, "image of %d x %d pixels exceeds the %d-pixel limit", w, h,
                      RN_IMAGE_MAX_PIXELS);
    img->data = malloc((size_t)w * (size_t)h * (size_t)c);
    if (!img->data)
        return im_err_at(err, errlen, label, "out of memory for a %d x %d image", w, h);
    img->width = w;
    img->height = h;
    img->channels = c;
    return 0;
}

/* ---- PGM -------------------------------------------------------------- */

typedef struct im_cur {
    const uint8_t *p, *end;
} im_cur;

static int pgm_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Skip whitespace and '#' comments (to the end of the line). */
static void pgm_skip(im_cur *c)
{
    while (c->p < c->end) {
        if (pgm_space(*c->p)) {
            c->p++;
        } else if (*c->p == '#') {
            while (c->p < c->end && *c->p != '\n' && *c->p != '\r')
                c->p++;
        } else {
            break;
        }
    }
}

/* A decimal number after optional whitespace/comments; must end at
 * whitespace, a comment or the end of the data.  1: no number there (end
 * of data); -1: malformed. */
static int pgm_uint(im_cur *c, unsigned *out)
{
    pgm_skip(c);
    if (c->p >= c->end)
        return 1;
    if (*c->p < '0' || *c->p > '9')
        return -1;
    unsigned long v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (unsigned)(*c->p - '0');
        if (v > 0x7fffffffUL)
            return -1;
        c->p++;
    }
    if (c->p < c->end && !pgm_space(*c->p) && *c->p != '#')
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int pgm_decode(const uint8_t *b, size_t len, const char *label, rn_image *img, char *err,
                      size_t errlen)
{
    static const char *const field[3] = {"width", "height", "maxval"};
    int ascii = b[1] == '2';
    unsigned hdr[3];
    im_cur c = {b + 2, b + len};
    if (c.p < c.end && !pgm_space(*c.p) && *c.p != '#')
        return im_err_at(err, errlen, label, "not a PNG or PGM file");
    for (int i = 0; i < 3; i++) {
        int r = pgm_uint(&c, &hdr[i]);
        if (r > 0)
            return im_err_at(err, errlen, label, "truncated PGM header (no %s)", field[i]);
        if (r < 0)
            return im_err_at(err, errlen, label, "bad PGM header: %s is not a number", field[i]);
    }
    unsigned w = hdr[0], h = hdr[1], maxval = hdr[2];
    if (maxval < 1 || maxval > 65535)
        return im_err_at(err, errlen, label, "PGM maxval %u outside 1..65535", maxval);
    if (im_alloc(img, (int)w, (int)h, 1, label, err, errlen))
        return -1;
    size_t n = (size_t)w * h;
    if (ascii) {
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            int r = pgm_uint(&c, &v);
            if (r > 0) {
                rn_image_free(img);
                return im_err_at(err, errlen, label, "truncated pixel data (%zu of %zu samples)", i, n);
            }
            if (r < 0 || v > maxval) {
                rn_image_free(img);
                return r < 0 ? im_err_at(err, errlen, label, "bad sample %zu in PGM data", i)
                             : im_err_at(err, errlen, label, "sample %u exceeds maxval %u", v, maxval);
            }
            img->data[i] = (uint8_t)((v * 255u + maxval / 2) / maxval);
        }
        return 0;
    }
    /* P5: exactly one whitespace byte after maxval, then the raster. */
    if (c.p >= c.end) {
        rn_image_free(img);
        return im_err_at(err, errlen, label, "truncated pixel data (0 of %zu samples)", n);
    }
    c.p++;
    size_t bps = maxval > 255 ? 2 : 1;
    size_t have = (size_t)(c.end - c.p);
    if (have / bps < n) {
        rn_image_free(img);
        return im_err_at(err, errlen, label, "truncated pixel data (%zu of %zu samples)", have / bps, n);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v = bps == 2 ? (unsigned)c.p[2 * i] << 8 | c.p[2 * i + 1] : c.p[i];
        if (v > maxval) {
            rn_image_free(img);
            return im_err_at(err, errlen, label, "sample %u exceeds maxval %u", v, maxval);
        }
        img->data[i] = (uint8_t)((v * 255u + maxval / 2) / maxval);
    }
    return 0;
}

/* ---- PNG -------------------------------------------------------------- */

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

#define TAG(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int png_paeth(int a, int b, int c)
{
    int p = a + b - c;
    int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc)
        return a;
    return pb <= pc ? b : c;
}

/* Undo the filter of one row in place.  cur: (rowbytes), prev: the
 * unfiltered row above, or NULL for the first row (all zeros). */
static int png_unfilter(int type, uint8_t *cur, const uint8_t *prev, size_t rowbytes, size_t bpp)
{
    switch (type) {
    case 0:
        return 0;
    case 1:
        for (size_t i = bpp; i < rowbytes; i++)
            cur[i] = (uint8_t)(cur[i] + cur[i - bpp]);
        return 0;
    case 2:
        if (prev)
            for (size_t i = 0; i < rowbytes; i++)
                cur[i] = (uint8_t)(cur[i] + prev[i]);
        return 0;
    case 3:
        for (size_t i = 0; i < rowbytes; i++) {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev ? prev[i] : 0;
            cur[i] = (uint8_t)(cur[i] + ((a + b) >> 1));
        }
        return 0;
    case 4:
        for (size_t i = 0; i < rowbytes; i++) {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev ? prev[i] : 0;
            int c = prev && i >= bpp ? prev[i - bpp] : 0;
            cur[i] = (uint8_t)(cur[i] + png_paeth(a, b, c));
        }
        return 0;
    default:
        return -1;
    }
}

/* Sample i of a row packed at `depth` bits per sample (big-endian bits). */
static unsigned png_sample(const uint8_t *row, size_t i, int depth)
{
    switch (depth) {
    case 8:
        return row[i];
    case 16:
        return (unsigned)row[2 * i] << 8 | row[2 * i + 1];
    default: {
        size_t bit = i * (size_t)depth;
        unsigned shift = 8u - (unsigned)depth - (unsigned)(bit & 7);
        return (row[bit >> 3] >> shift) & ((1u << depth) - 1);
    }
    }
}

/* A sample of `depth` bits scaled to 0..255. */
static uint8_t png_to8(unsigned v, int depth)
{
    if (depth == 8)
        return (uint8_t)v;
    if (depth == 16)
        return (uint8_t)((v * 255u + 32767u) / 65535u);
    return (uint8_t)(v * 255u / ((1u << depth) - 1));
}

typedef struct png_info {
    uint32_t width, height;
    int depth, ctype, spp; /* samples per pixel */
    uint8_t palette[256][3];
    int npalette;
} png_info;

static int png_ihdr(png_info *I, const uint8_t *d, uint32_t n, const char *label, char *err,
                    size_t errlen)
{
    if (n != 13)
        return im_err_at(err, errlen, label, "IHDR chunk of %u bytes, expected 13", n);
    I->width = be32(d);
    I->height = be32(d + 4);
    I->depth = d[8];
    I->ctype = d[9];
    if (I->width == 0 || I->height == 0 || I->width > 0x7fffffffu || I->height > 0x7fffffffu)
        return im_err_at(err, errlen, label, "bad image size %u x %u", I->width, I->height);
    int ok;
    switch (I->ctype) {
    case 0: I->spp = 1; ok = I->depth == 1 || I->depth == 2 || I->depth == 4 || I->depth == 8 || I->depth == 16; break;
    case 3: I->spp = 1; ok = I->depth == 1 || I->depth == 2 || I->depth == 4 || I->depth == 8; break;
    case 2: I->spp = 3; ok = I->depth == 8 || I->depth == 16; break;
    case 4: I->spp = 2; ok = I->depth == 8 || I->depth == 16; break;
    case 6: I->spp = 4; ok = I->depth == 8 || I->depth == 16; break;
    default:
        return im_err_at(err, errlen, label, "unknown PNG colour type %d", I->ctype);
    }
    if (!ok)
        return im_err_at(err, errlen, label, "unsupported bit depth %d for colour type %d", I->depth,
                      I->ctype);
    if (d[10] != 0)
        return im_err_at(err, errlen, label, "unknown compression method %d", d[10]);
    if (d[11] != 0)
        return im_err_at(err, errlen, label, "unknown filter method %d", d[11]);
    if (d[12] == 1)
        return im_err_at(err, errlen, label, "interlaced PNG not supported (save it non-interlaced)");
    if (d[12] != 0)
        return im_err_at(err, errlen, label, "unknown interlace method %d", d[12]);
    if ((uint64_t)I->width * I->height > RN_IMAGE_MAX_PIXELS)
        return im_err_at(err, errlen, label, "image of %u x %u pixels exceeds the %d-pixel limit",
                      I->width, I->height, RN_IMAGE_MAX_PIXELS);
    return 0;
}

/* Inflate src into exactly dst_len bytes.  Data past that is ignored (as
 * libpng does); too little is an error. */
static int png_inflate(const uint8_t *src, size_t src_len, uint8_t *dst, size_t dst_len,
                       const char *label, char *err, size_t errlen)
{
#ifdef RN_NO_ZLIB
    (void)src, (void)src_len, (void)dst, (void)dst_len;
    return im_err_at(err, errlen, label,
                     "PNG image data is zlib-compressed, and this runtime was built without "
                     "zlib (RN_NO_ZLIB): use a PGM image");
#else
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return im_err_at(err, errlen, label, "out of memory starting zlib");
    size_t out = 0;
    int zr = Z_OK;
    while (out < dst_len) {
        if (zs.avail_in == 0) {
            if (src_len == 0)
                break;
            uInt take = src_len > (1u << 30) ? (1u << 30) : (uInt)src_len;
            zs.next_in = src;
            zs.avail_in = take;
            src += take;
            src_len -= take;
        }
        size_t room = dst_len - out;
        zs.next_out = dst + out;
        zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt before_out = zs.avail_out, before_in = zs.avail_in;
        zr = inflate(&zs, Z_NO_FLUSH);
        out += before_out - zs.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT) {
            im_err_at(err, errlen, label, "corrupt compressed image data (zlib: %s)",
                   zs.msg ? zs.msg : "data error");
            inflateEnd(&zs);
            return -1;
        }
        if (zr == Z_MEM_ERROR) {
            inflateEnd(&zs);
            return im_err_at(err, errlen, label, "out of memory in zlib");
        }
        if (zr == Z_BUF_ERROR && before_out == zs.avail_out && before_in == zs.avail_in &&
            zs.avail_in != 0)
            break; /* no progress possible */
    }
    inflateEnd(&zs);
    if (out < dst_len)
        return im_err_at(err, errlen, label, "truncated image data (%zu of %zu bytes after inflating)",
                      out, dst_len);
    return 0;
#endif
}

static int png_decode(const uint8_t *b, size_t len, const char *label, rn_image *img, char *err,
                      size_t errlen)
{
    png_info I;
    memset(&I, 0, sizeof I);
    uint8_t *idat = NULL, *raw = NULL;
    size_t idat_len = 0, idat_cap = 0;
    int seen_ihdr = 0, seen_plte = 0, idat_state = 0; /* 0 none yet, 1 in IDATs, 2 after */
    size_t pos = 8;

    for (;;) {
        if (len - pos < 8) {
            im_err_at(err, errlen, label, "truncated file (%s)",
                   len == pos ? "no IEND chunk" : "in a chunk header");
            goto fail;
        }
        uint32_t n = be32(b + pos);
        const uint8_t *t = b + pos + 4;
        char name[5] = {0};
        for (int i = 0; i < 4; i++) {
            if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z'))) {
                im_err_at(err, errlen, label, "bad chunk type %02x%02x%02x%02x at byte %zu", t[0], t[1],
                       t[2], t[3], pos + 4);
                goto fail;
            }
            name[i] = (char)t[i];
        }
        if (n > 0x7fffffffu) {
            im_err_at(err, errlen, label, "%s chunk length %u too large", name, n);
            goto fail;
        }
        if (len - pos - 8 < (size_t)n + 4) {
            im_err_at(err, errlen, label, "truncated file in %s chunk", name);
            goto fail;
        }
        const uint8_t *d = b + pos + 8;
        if ((uint32_t)crc32(0L, t, (uInt)n + 4) != be32(d + n)) {
            im_err_at(err, errlen, label, "bad CRC in %s chunk", name);
            goto fail;
        }
        pos += (size_t)n + 12;

        uint32_t tag = be32(t);
        if (!seen_ihdr && tag != TAG('I', 'H', 'D', 'R')) {
            im_err_at(err, errlen, label, "first chunk is %s, not IHDR", name);
            goto fail;
        }
        if (idat_state == 1 && tag != TAG('I', 'D', 'A', 'T'))
            idat_state = 2;
        switch (tag) {
        case TAG('I', 'H', 'D', 'R'):
            if (seen_ihdr++) {
                im_err_at(err, errlen, label, "second IHDR chunk");
                goto fail;
            }
            if (png_ihdr(&I, d, n, label, err, errlen))
                goto fail;
            break;
        case TAG('P', 'L', 'T', 'E'):
            if (seen_plte++ || idat_state) {
                im_err_at(err, errlen, label, "PLTE chunk %s", idat_state ? "after IDAT" : "repeated");
                goto fail;
            }
            if (I.ctype == 0 || I.ctype == 4) {
                im_err_at(err, errlen, label, "PLTE chunk in a grayscale image");
                goto fail;
            }
            if (n == 0 || n % 3 || n / 3 > 256 || (I.ctype == 3 && n / 3 > (1u << I.depth))) {
                im_err_at(err, errlen, label, "PLTE chunk of %u bytes is not a valid palette", n);
                goto fail;
            }
            I.npalette = (int)(n / 3);
            memcpy(I.palette, d, n);
            break;
        case TAG('I', 'D', 'A', 'T'):
            if (idat_state == 2) {
                im_err_at(err, errlen, label, "IDAT chunks are not consecutive");
                goto fail;
            }
            idat_state = 1;
            if (idat_len + n > idat_cap) {
                size_t cap = idat_cap ? idat_cap : 4096;
                while (cap < idat_len + n)
                    cap *= 2;
                uint8_t *p = realloc(idat, cap);
                if (!p) {
                    im_err_at(err, errlen, label, "out of memory");
                    goto fail;
                }
                idat = p;
                idat_cap = cap;
            }
            if (n)
                memcpy(idat + idat_len, d, n);
            idat_len += n;
            break;
        case TAG('I', 'E', 'N', 'D'):
            goto chunks_done;
        default:
            if (!(t[0] & 0x20)) { /* upper-case first letter: critical */
                im_err_at(err, errlen, label, "unknown critical chunk %s", name);
                goto fail;
            }
            break; /* ancillary: tRNS, gAMA, tEXt, ... are not needed */
        }
    }
chunks_done:
    if (I.ctype == 3 && !seen_plte) {
        im_err_at(err, errlen, label, "palette image without a PLTE chunk");
        goto fail;
    }
    if (!idat_state) {
        im_err_at(err, errlen, label, "no IDAT chunk");
        goto fail;
    }

    /* Inflate to rows of 1 filter byte + rowbytes, then unfilter. */
    uint64_t bits = (uint64_t)I.width * (uint64_t)(I.spp * I.depth);
    size_t rowbytes = (size_t)((bits + 7) / 8);
    size_t stride = rowbytes + 1;
    size_t bpp = (size_t)(I.spp * I.depth) / 8;
    if (bpp == 0)
        bpp = 1;
    raw = malloc(stride * I.height);
    if (!raw) {
        im_err_at(err, errlen, label, "out of memory for %u x %u image data", I.width, I.height);
        goto fail;
    }
    if (png_inflate(idat, idat_len, raw, stride * I.height, label, err, errlen))
        goto fail;
    for (uint32_t y = 0; y < I.height; y++) {
        uint8_t *row = raw + (size_t)y * stride;
        if (png_unfilter(row[0], row + 1, y ? row + 1 - stride : NULL, rowbytes, bpp)) {
            im_err_at(err, errlen, label, "bad filter type %d in row %u", row[0], y);
            goto fail;
        }
    }

    int out_c = I.ctype == 0 || I.ctype == 4 ? 1 : 3;
    if (im_alloc(img, (int)I.width, (int)I.height, out_c, label, err, errlen))
        goto fail;
    for (uint32_t y = 0; y < I.height; y++) {
        const uint8_t *row = raw + (size_t)y * stride + 1;
        uint8_t *o = img->data + (size_t)y * I.width * (size_t)out_c;
        for (uint32_t x = 0; x < I.width; x++) {
            size_t s = (size_t)x * (size_t)I.spp;
            if (I.ctype == 3) {
                unsigned k = png_sample(row, s, I.depth);
                if ((int)k >= I.npalette) {
                    rn_image_free(img);
                    im_err_at(err, errlen, label,
                           "palette index %u out of range (palette has %d entries) at pixel (%u, %u)",
                           k, I.npalette, x, y);
                    goto fail;
                }
                memcpy(o, I.palette[k], 3);
                o += 3;
            } else {
                for (int c = 0; c < out_c; c++)
                    *o++ = png_to8(png_sample(row, s + (size_t)c, I.depth), I.depth);
            }
        }
    }
    free(idat);
    free(raw);
    return 0;
fail:
    free(idat);
    free(raw);
    return -1;
}

/* ---- entry points ----------------------------------------------------- */

int rn_image_decode(const void *bytes, size_t len, const char *label, rn_image *img, char *err,
                    size_t errlen)
{
    const uint8_t *b = bytes;
    memset(img, 0, sizeof *img);
    if (!label)
        label = "<memory>";
    if (len >= 8 && memcmp(b, png_sig, 8) == 0)
        return png_decode(b, len, label, img, err, errlen);
    if (len > 0 && len < 8 && memcmp(b, png_sig, len) == 0)
        return im_err_at(err, errlen, label, "truncated file (in the PNG signature)");
    if (len >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '2'))
        return pgm_decode(b, len, label, img, err, errlen);
    return im_err_at(err, errlen, label, "not a PNG or PGM file");
}

int rn_image_read(const char *path, rn_image *img, char *err, size_t errlen)
{
    struct stat st;
    memset(img, 0, sizeof *img);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return im_err_at(err, errlen, path, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > (1ull << 31)) {
        close(fd);
        return im_err_at(err, errlen, path, "not a regular file of readable size");
    }
    size_t len = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return im_err_at(err, errlen, path, "out of memory reading %zu bytes", len);
    }
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return im_err_at(err, errlen, path, "read error: %s", r ? strerror(e) : "file shrank");
        }
        got += (size_t)r;
    }
    close(fd);
    int rc = rn_image_decode(buf, len, path, img, err, errlen);
    free(buf);
    return rc;
}

/* ---- conversions ------------------------------------------------------ */

int rn_image_to_gray(const rn_image *src, rn_image *dst, char *err, size_t errlen)
{
    memset(dst, 0, sizeof *dst);
    if (im_alloc(dst, src->width, src->height, 1, "to_gray", err, errlen))
        return -1;
    size_t n = (size_t)src->width * (size_t)src->height;
    if (src->channels == 1) {
        memcpy(dst->data, src->data, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = src->data + 3 * i;
        dst->data[i] = (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
    }
    return 0;
}

int rn_image_resize(const rn_image *src, int width, int height, rn_resize_mode mode, rn_image *dst,
                    char *err, size_t errlen)
{
    memset(dst, 0, sizeof *dst);
    int C = src->channels, sw = src->width, sh = src->height;
    if (im_alloc(dst, width, height, C, "resize", err, errlen))
        return -1;
    switch (mode) {
    case RN_RESIZE_NEAREST:
        for (int y = 0; y < height; y++) {
            int sy = (int)(((2 * (int64_t)y + 1) * sh) / (2 * (int64_t)height));
            for (int x = 0; x < width; x++) {
                int sx = (int)(((2 * (int64_t)x + 1) * sw) / (2 * (int64_t)width));
                memcpy(dst->data + ((size_t)y * width + x) * C,
                       src->data + ((size_t)sy * sw + sx) * C, (size_t)C);
            }
        }
        return 0;
    case RN_RESIZE_BILINEAR:
        for (int y = 0; y < height; y++) {
            double fy = (y + 0.5) * sh / height - 0.5;
            if (fy < 0)
                fy = 0;
            int y0 = (int)fy, y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
            double wy = fy - y0;
            for (int x = 0; x < width; x++) {
                double fx = (x + 0.5) * sw / width - 0.5;
                if (fx < 0)
                    fx = 0;
                int x0 = (int)fx, x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
                double wx = fx - x0;
                for (int c = 0; c < C; c++) {
                    double a = src->data[((size_t)y0 * sw + x0) * C + c];
                    double b = src->data[((size_t)y0 * sw + x1) * C + c];
                    double d = src->data[((size_t)y1 * sw + x0) * C + c];
                    double e = src->data[((size_t)y1 * sw + x1) * C + c];
                    double v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
                    dst->data[((size_t)y * width + x) * C + c] = (uint8_t)floor(v + 0.5);
                }
            }
        }
        return 0;
    }
    rn_image_free(dst);
    return im_err_at(err, errlen, "resize", "unknown resize mode %d", (int)mode);
}

void rn_image_to_chw_f32(const rn_image *img, float *dst)
{
    size_t hw = (size_t)img->width * (size_t)img->height;
    for (int c = 0; c < img->channels; c++)
        for (size_t i = 0; i < hw; i++)
            dst[(size_t)c * hw + i] = img->data[i * (size_t)img->channels + (size_t)c] / 255.0f;
}

int rn_pgm_write(const char *path, const rn_image *img, char *err, size_t errlen)
{
    if (img->channels != 1)
        return im_err_at(err, errlen, path, "PGM holds one channel, image has %d (convert to gray first)",
                      img->channels);
    if (img->width <= 0 || img->height <= 0)
        return im_err_at(err, errlen, path, "image has zero size");
    FILE *f = fopen(path, "wb");
    if (!f)
        return im_err_at(err, errlen, path, "cannot create: %s", strerror(errno));
    size_t n = (size_t)img->width * (size_t)img->height;
    int bad = fprintf(f, "P5\n%d %d\n255\n", img->width, img->height) < 0 ||
              fwrite(img->data, 1, n, f) != n;
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        remove(path);
        return im_err_at(err, errlen, path, "write failed: %s", strerror(e));
    }
    return 0;
}
