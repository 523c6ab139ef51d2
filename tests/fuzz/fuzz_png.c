/* fuzz_png.c - libFuzzer entry point for the image decoders.
 *
 * Feeds arbitrary bytes to rn_image_decode (PNG, and PGM, whichever the
 * first bytes say).  A mutated PNG chunk almost never keeps its CRC, so a
 * PNG is decoded twice: as it is, and with every chunk's CRC recomputed,
 * which lets mutations inside IHDR, PLTE and IDAT reach the inflating,
 * unfiltering and sample conversion (seeds with stored, uncompressed
 * deflate blocks let them reach the pixels too).  A refusal must say why
 * and leave no image; an accepted image must have a sane size, and, when
 * not huge, is converted to gray, resized both ways and to floats, so a
 * sanitizer sees every read of its pixels.  Built and run by
 * tools/fuzz.sh --target png; by hand:
 *
 *   clang -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L \
 *       -fsanitize=fuzzer,address,undefined -Iruntime -Iruntime/host \
 *       tests/fuzz/fuzz_png.c runtime/host/rn_image.c runtime/host/rn_err.c -lz -lm -o /tmp/fz
 *   /tmp/fz -max_total_time=60 tests/fuzz/corpus_png */
#include "rn_image.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Recompute the CRC of every whole chunk of the PNG in p[0..n), in place.
 * 1 when any changed. */
static int fix_crcs(uint8_t *p, size_t n)
{
    int changed = 0;
    for (size_t pos = 8; n - pos >= 12;) {
        uint32_t len = be32(p + pos);
        if (len > n - pos - 12)
            break;
        uint32_t crc = (uint32_t)crc32(0L, p + pos + 4, (uInt)len + 4);
        uint8_t *c = p + pos + 8 + len;
        if (be32(c) != crc) {
            c[0] = (uint8_t)(crc >> 24), c[1] = (uint8_t)(crc >> 16);
            c[2] = (uint8_t)(crc >> 8), c[3] = (uint8_t)crc;
            changed = 1;
        }
        pos += 12 + (size_t)len;
    }
    return changed;
}

static void decode(const uint8_t *data, size_t size)
{
    rn_image img, gray, small, big;
    char err[256] = "";
    if (rn_image_decode(data, size, "fuzz.png", &img, err, sizeof err) != 0) {
        if (!err[0] || img.data)
            abort(); /* every refusal must say why, and leave nothing */
        return;
    }
    size_t px = (size_t)img.width * (size_t)img.height;
    if (img.width <= 0 || img.height <= 0 || px > RN_IMAGE_MAX_PIXELS ||
        (img.channels != 1 && img.channels != 3) || !img.data)
        abort();
    if (px <= (1u << 16)) {
        if (rn_image_to_gray(&img, &gray, err, sizeof err) != 0)
            abort();
        if (rn_image_resize(&img, 1 + img.width % 7, 1 + img.height % 5, RN_RESIZE_BILINEAR,
                            &small, err, sizeof err) != 0 ||
            rn_image_resize(&gray, 2 * img.width, 2 * img.height, RN_RESIZE_NEAREST, &big, err,
                            sizeof err) != 0)
            abort();
        float *chw = malloc(px * (size_t)img.channels * sizeof *chw);
        if (!chw)
            abort();
        rn_image_to_chw_f32(&img, chw);
        free(chw);
        rn_image_free(&gray);
        rn_image_free(&small);
        rn_image_free(&big);
    }
    rn_image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size);
    if (size < 8 || memcmp(data, png_sig, 8) != 0)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        abort();
    memcpy(fixed, data, size);
    if (fix_crcs(fixed, size))
        decode(fixed, size);
    free(fixed);
    return 0;
}
