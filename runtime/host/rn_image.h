/* rn_image.h - read the images `predict` is given: PGM and PNG.
 *
 * The decoders are written here rather than taken from a library because
 * the runtime links with -lz -lm only; zlib does the inflating, the rest
 * (PNG chunks, CRCs, filters, bit depths, palettes; PGM headers) is here.
 *
 *     rn_image img;
 *     char err[256];
 *     if (rn_image_read("digit.png", &img, err, sizeof err))
 *         { fprintf(stderr, "%s\n", err); return 1; }   // "digit.png: bad CRC in IDAT chunk"
 *     rn_image gray;
 *     rn_image_to_gray(&img, &gray, err, sizeof err);
 *     rn_image_free(&img);
 *
 * What is read:
 *   - PGM: P5 (binary) and P2 (ASCII), comments anywhere whitespace may go,
 *     maxval 1..65535; samples are scaled to 0..255.
 *   - PNG: colour types 0 (gray), 2 (RGB), 3 (palette), 4 (gray+alpha) and
 *     6 (RGBA) at every bit depth the PNG spec allows for them (1/2/4/8/16
 *     gray, 1/2/4/8 palette, 8/16 otherwise), all five row filters, CRCs
 *     checked on every chunk.  Interlaced (Adam7) files are refused.
 * What comes out: 8-bit samples, 1 channel (gray) or 3 (RGB), alpha dropped
 * (not composited), rows top to bottom, channels interleaved.
 *
 * Functions that can fail return 0 on success and -1 on failure, with one
 * line in err naming the file and the problem; they never exit and never
 * read outside the bytes they were given. */
#ifndef RN_IMAGE_H
#define RN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Larger images are refused before anything is allocated for them. */
#define RN_IMAGE_MAX_PIXELS (1 << 26)

typedef struct rn_image {
    int width, height;
    int channels;  /* 1 or 3 */
    uint8_t *data; /* (H, W, C), malloc'd; rn_image_free releases it */
} rn_image;

/* Read a PNG or PGM file, whichever its first bytes say it is. */
int rn_image_read(const char *path, rn_image *img, char *err, size_t errlen);

/* The same from memory; label names the source in error messages. */
int rn_image_decode(const void *bytes, size_t len, const char *label, rn_image *img,
                    char *err, size_t errlen);

void rn_image_free(rn_image *img); /* frees data and zeroes the struct */

/* dst = src as one channel, by ITU-R BT.601 luma:
 * Y = (299 R + 587 G + 114 B) / 1000, rounded.  A gray src is copied. */
int rn_image_to_gray(const rn_image *src, rn_image *dst, char *err, size_t errlen);

typedef enum {
    RN_RESIZE_NEAREST,
    RN_RESIZE_BILINEAR,
} rn_resize_mode;

/* dst = src resampled to width x height.  Pixel centres are aligned as in
 * PIL and OpenCV (a destination pixel x samples source x' = (x + 0.5) *
 * src_w / dst_w - 0.5).  Bilinear does no antialiasing: shrinking by much
 * more than 2x skips detail. */
int rn_image_resize(const rn_image *src, int width, int height, rn_resize_mode mode,
                    rn_image *dst, char *err, size_t errlen);

/* dst = img as floats in [0, 1], planar.  dst: (C, H, W). */
void rn_image_to_chw_f32(const rn_image *img, float *dst);

/* Write a one-channel image as binary PGM (P5, maxval 255). */
int rn_pgm_write(const char *path, const rn_image *img, char *err, size_t errlen);

#endif
