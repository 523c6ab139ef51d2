/* test_image.c - PGM and PNG reading, gray conversion, resizing.
 *
 * The PNG files are made here by a minimal encoder (zlib compress for the
 * data, zlib crc32 for the chunks) that applies a chosen filter to each row,
 * so every one of the five filters is undone by the decoder under test.
 * Fixtures go to a mkdtemp directory, which is also the working directory
 * so error messages read exactly as a user would see them. */
#include "check.h"
#include "rn_image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64];

static uint32_t rng = 2463534242u;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (uint8_t)(rng >> 11);
}

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

/* ---- a minimal PNG encoder --------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put32(buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

static void chunk(buf *b, const char *type, const uint8_t *d, uint32_t n)
{
    put32(b, n);
    put(b, type, 4);
    if (n)
        put(b, d, n);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (n)
        crc = crc32(crc, d, n);
    put32(b, (uint32_t)crc);
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

typedef struct pngspec {
    int w, h, depth, ctype;
    const uint8_t *rows;  /* h rows of packed samples, rowbytes each */
    const int *filters;   /* filter type per row (NULL: all 0) */
    const uint8_t *plte;  /* nplte RGB triples */
    int nplte;
    int interlace;        /* written into IHDR as given */
    int nidat;            /* split the zlib stream over this many IDATs */
    int text;             /* add an ancillary tEXt chunk before IDAT */
    int drop_rows;        /* compress this many fewer rows than h */
} pngspec;

static size_t rowbytes_of(const pngspec *s)
{
    int spp = s->ctype == 2 ? 3 : s->ctype == 4 ? 2 : s->ctype == 6 ? 4 : 1;
    return ((size_t)s->w * spp * s->depth + 7) / 8;
}

static uint8_t *png_encode(const pngspec *s, size_t *len)
{
    int spp = s->ctype == 2 ? 3 : s->ctype == 4 ? 2 : s->ctype == 6 ? 4 : 1;
    size_t rb = rowbytes_of(s), bpp = (size_t)(spp * s->depth + 7) / 8;
    int h = s->h - s->drop_rows;
    uint8_t *filt = malloc((rb + 1) * (size_t)h);
    for (int y = 0; y < h; y++) {
        const uint8_t *cur = s->rows + (size_t)y * rb, *prev = y ? cur - rb : NULL;
        int f = s->filters ? s->filters[y] : 0;
        uint8_t *o = filt + (size_t)y * (rb + 1);
        o[0] = (uint8_t)f;
        for (size_t i = 0; i < rb; i++) {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev ? prev[i] : 0;
            int c = prev && i >= bpp ? prev[i - bpp] : 0;
            int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : paeth(a, b, c);
            o[1 + i] = (uint8_t)(cur[i] - pred);
        }
    }
    uLongf zlen = compressBound((uLong)((rb + 1) * (size_t)h));
    uint8_t *z = malloc(zlen);
    compress(z, &zlen, filt, (uLong)((rb + 1) * (size_t)h));
    free(filt);

    buf b = {0};
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(&b, sig, 8);
    uint8_t ihdr[13] = {(uint8_t)(s->w >> 24), (uint8_t)(s->w >> 16), (uint8_t)(s->w >> 8), (uint8_t)s->w,
                        (uint8_t)(s->h >> 24), (uint8_t)(s->h >> 16), (uint8_t)(s->h >> 8), (uint8_t)s->h,
                        (uint8_t)s->depth, (uint8_t)s->ctype, 0, 0, (uint8_t)s->interlace};
    chunk(&b, "IHDR", ihdr, 13);
    if (s->text)
        chunk(&b, "tEXt", (const uint8_t *)"Comment\0made by test_image", 26);
    if (s->nplte)
        chunk(&b, "PLTE", s->plte, (uint32_t)(3 * s->nplte));
    int parts = s->nidat > 0 ? s->nidat : 1;
    size_t at = 0;
    for (int i = 0; i < parts; i++) {
        size_t n = i == parts - 1 ? zlen - at : zlen / (size_t)parts;
        chunk(&b, "IDAT", z + at, (uint32_t)n);
        at += n;
    }
    chunk(&b, "IEND", NULL, 0);
    free(z);
    *len = b.len;
    return b.p;
}

/* Offset of the first chunk of this type (its length field), or 0. */
static size_t find_chunk(const uint8_t *p, size_t len, const char *type)
{
    size_t pos = 8;
    while (pos + 8 <= len) {
        uint32_t n = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 | (uint32_t)p[pos + 2] << 8 | p[pos + 3];
        if (memcmp(p + pos + 4, type, 4) == 0)
            return pos;
        pos += 12 + (size_t)n;
    }
    return 0;
}

/* Decode from memory; compare against the expected 8-bit output. */
static void expect_image(const char *name, const uint8_t *file, size_t len, int w, int h, int c,
                         const uint8_t *want)
{
    rn_image img;
    char err[256] = "";
    int rc = rn_image_decode(file, len, name, &img, err, sizeof err);
    if (rc) {
        CHECK(0, name, "%s", err);
        return;
    }
    int ok = img.width == w && img.height == h && img.channels == c;
    size_t bad = 0;
    if (ok)
        for (size_t i = 0; i < (size_t)w * h * c; i++)
            if (img.data[i] != want[i]) {
                ok = 0;
                bad = i;
                break;
            }
    CHECK(ok, name, "got %dx%dx%d, first difference at byte %zu (%d vs %d)", img.width, img.height,
          img.channels, bad, ok ? 0 : img.data[bad], want[bad]);
    rn_image_free(&img);
}

/* Decode must fail with a message containing want. */
static void expect_refused(const char *name, const void *file, size_t len, const char *want)
{
    rn_image img;
    char err[256] = "";
    int rc = rn_image_decode(file, len, "digit.png", &img, err, sizeof err);
    CHECK(rc != 0 && img.data == NULL && strstr(err, want) && strncmp(err, "digit.png: ", 11) == 0,
          name, "rc=%d err='%s', wanted '%s'", rc, err, want);
    if (rc == 0)
        rn_image_free(&img);
}

static const int filters_cycle[64] = {0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 2, 4, 1, 3, 0, 3,
                                      1, 4, 2, 0, 4, 0, 3, 1, 2, 1, 2, 3, 4, 0, 0, 4};

static void test_png_8bit(void)
{
    /* Gray, every filter. */
    enum { W = 13, H = 11 };
    uint8_t rows[W * H * 4], want[W * H * 3];
    for (size_t i = 0; i < sizeof rows; i++)
        rows[i] = rnd8();
    pngspec s = {W, H, 8, 0, rows, filters_cycle, NULL, 0, 0, 1, 0, 0};
    size_t len;
    uint8_t *f = png_encode(&s, &len);
    expect_image("png_gray8_filters", f, len, W, H, 1, rows);
    free(f);

    /* Smooth and flat areas, where the Paeth predictor's ties decide. */
    uint8_t smooth[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            smooth[y * W + x] = (uint8_t)(x < 4 ? 200 : y < 3 ? 10 * x : (x * 7 + y * 3) ^ (x & y));
    int all4[H] = {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};
    pngspec sm = {W, H, 8, 0, smooth, all4, NULL, 0, 0, 1, 0, 0};
    f = png_encode(&sm, &len);
    expect_image("png_gray8_paeth_ties", f, len, W, H, 1, smooth);
    free(f);

    /* Gray split over three IDATs with an ancillary chunk. */
    s.nidat = 3;
    s.text = 1;
    f = png_encode(&s, &len);
    expect_image("png_multi_idat", f, len, W, H, 1, rows);
    free(f);

    /* RGB: bpp 3 in the filters. */
    pngspec rgb = {W, H, 8, 2, rows, filters_cycle, NULL, 0, 0, 1, 0, 0};
    f = png_encode(&rgb, &len);
    expect_image("png_rgb8_filters", f, len, W, H, 3, rows);
    free(f);

    /* RGBA: alpha dropped. */
    pngspec rgba = {W, H, 8, 6, rows, filters_cycle, NULL, 0, 0, 1, 0, 0};
    for (int i = 0; i < W * H; i++)
        memcpy(want + 3 * i, rows + 4 * i, 3);
    f = png_encode(&rgba, &len);
    expect_image("png_rgba8_filters", f, len, W, H, 3, want);
    free(f);

    /* Gray + alpha. */
    pngspec ga = {W, H, 8, 4, rows, filters_cycle, NULL, 0, 0, 1, 0, 0};
    for (int i = 0; i < W * H; i++)
        want[i] = rows[2 * i];
    f = png_encode(&ga, &len);
    expect_image("png_gray_alpha8", f, len, W, H, 1, want);
    free(f);

    /* Palette, 8-bit indices into 200 entries. */
    uint8_t plte[256 * 3], idx[W * H];
    for (size_t i = 0; i < sizeof plte; i++)
        plte[i] = rnd8();
    for (int i = 0; i < W * H; i++) {
        idx[i] = (uint8_t)(rnd8() % 200);
        memcpy(want + 3 * i, plte + 3 * idx[i], 3);
    }
    pngspec pal = {W, H, 8, 3, idx, filters_cycle, plte, 200, 0, 1, 0, 0};
    f = png_encode(&pal, &len);
    expect_image("png_palette8", f, len, W, H, 3, want);
    free(f);
}

/* Pack samples of `depth` bits into rows, big-endian bit order. */
static void pack(uint8_t *out, const unsigned *v, int w, int h, int spp, int depth, size_t rb)
{
    memset(out, 0, rb * (size_t)h);
    for (int y = 0; y < h; y++)
        for (int i = 0; i < w * spp; i++) {
            unsigned x = v[y * w * spp + i];
            uint8_t *row = out + (size_t)y * rb;
            if (depth == 16) {
                row[2 * i] = (uint8_t)(x >> 8);
                row[2 * i + 1] = (uint8_t)x;
            } else if (depth == 8) {
                row[i] = (uint8_t)x;
            } else {
                size_t bit = (size_t)i * depth;
                row[bit / 8] |= (uint8_t)(x << (8 - depth - bit % 8));
            }
        }
}

static void test_png_depths(void)
{
    enum { W = 13, H = 9 };
    unsigned v[W * H * 3];
    uint8_t rows[W * H * 6], want[W * H * 3];
    static const int depths[] = {1, 2, 4, 16};
    static const uint8_t expect_scale[17] = {[1] = 255, [2] = 85, [4] = 17};
    for (int k = 0; k < 4; k++) {
        int d = depths[k];
        unsigned max = (1u << d) - 1;
        for (int i = 0; i < W * H; i++) {
            v[i] = (unsigned)(rnd8() << 8 | rnd8()) & max;
            want[i] = d == 16 ? (uint8_t)((v[i] * 255u + 32767u) / 65535u) : (uint8_t)(v[i] * expect_scale[d]);
        }
        v[0] = max; /* white must come out as 255 */
        want[0] = 255;
        pngspec s = {W, H, d, 0, rows, filters_cycle, NULL, 0, 0, 1, 0, 0};
        pack(rows, v, W, H, 1, d, rowbytes_of(&s));
        size_t len;
        uint8_t *f = png_encode(&s, &len);
        char name[64];
        snprintf(name, sizeof name, "png_gray%d_filters", d);
        expect_image(name, f, len, W, H, 1, want);
        free(f);
    }

    /* Palette at 2 bits: four entries, indices packed four to a byte. */
    uint8_t plte[4 * 3] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 30};
    for (int i = 0; i < W * H; i++) {
        v[i] = rnd8() & 3;
        memcpy(want + 3 * i, plte + 3 * v[i], 3);
    }
    pngspec pal = {W, H, 2, 3, rows, filters_cycle, plte, 4, 0, 1, 0, 0};
    pack(rows, v, W, H, 1, 2, rowbytes_of(&pal));
    size_t len;
    uint8_t *f = png_encode(&pal, &len);
    expect_image("png_palette2", f, len, W, H, 3, want);
    free(f);

    /* RGB at 16 bits. */
    for (int i = 0; i < W * H * 3; i++) {
        v[i] = (unsigned)(rnd8() << 8 | rnd8());
        want[i] = (uint8_t)((v[i] * 255u + 32767u) / 65535u);
    }
    pngspec rgb = {W, H, 16, 2, rows, filters_cycle, NULL, 0, 0, 1, 0, 0};
    pack(rows, v, W, H, 3, 16, rowbytes_of(&rgb));
    f = png_encode(&rgb, &len);
    expect_image("png_rgb16_filters", f, len, W, H, 3, want);
    free(f);
}

static void test_png_malformed(void)
{
    enum { W = 6, H = 5 };
    uint8_t rows[W * H * 4];
    for (size_t i = 0; i < sizeof rows; i++)
        rows[i] = rnd8();
    pngspec s = {W, H, 8, 0, rows, filters_cycle, NULL, 0, 0, 1, 0, 0};
    size_t len;
    uint8_t *good = png_encode(&s, &len);
    uint8_t *f = malloc(len);

    memcpy(f, good, len);
    f[3] = 'X';
    expect_refused("png_bad_signature", f, len, "not a PNG or PGM file");
    expect_refused("png_text_file", "hello, world", 12, "not a PNG or PGM file");
    expect_refused("png_empty_file", "", 0, "not a PNG or PGM file");

    memcpy(f, good, len);
    size_t at = find_chunk(f, len, "IDAT");
    f[at + 8 + 3] ^= 0x40; /* a data byte: the CRC no longer matches */
    expect_refused("png_bad_crc", f, len, "bad CRC in IDAT chunk");
    memcpy(f, good, len);
    f[find_chunk(f, len, "IHDR") + 8 + 1] ^= 1;
    expect_refused("png_bad_crc_ihdr", f, len, "bad CRC in IHDR chunk");

    /* The user-facing message, read from a file, word for word. */
    memcpy(f, good, len);
    f[at + 8 + 3] ^= 0x40;
    spit("digit.png", f, len);
    rn_image img;
    char err[256] = "";
    int rc = rn_image_read("digit.png", &img, err, sizeof err);
    CHECK(rc != 0 && strcmp(err, "digit.png: bad CRC in IDAT chunk") == 0, "png_bad_crc_file",
          "'%s'", err);
    spit("digit.png", "GIF89a", 6);
    rc = rn_image_read("digit.png", &img, err, sizeof err);
    CHECK(rc != 0 && strcmp(err, "digit.png: not a PNG or PGM file") == 0, "png_not_image_file",
          "'%s'", err);
    rc = rn_image_read("missing.png", &img, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "missing.png: cannot open"), "png_missing_file", "'%s'", err);

    /* Every proper prefix is refused as truncated (exact-size copies, so a
     * sanitizer sees any overread). */
    int all = 1;
    size_t badn = 0;
    char lastmsg[256] = "";
    for (size_t n = 1; n < len; n++) {
        uint8_t *p = malloc(n);
        memcpy(p, good, n);
        rc = rn_image_decode(p, n, "cut.png", &img, err, sizeof err);
        if (rc == 0 || !strstr(err, "truncated")) {
            all = 0;
            badn = n;
            snprintf(lastmsg, sizeof lastmsg, "%s", rc ? err : "accepted");
            if (rc == 0)
                rn_image_free(&img);
        }
        free(p);
    }
    CHECK(all, "png_every_prefix_truncated", "prefix %zu of %zu: %s", badn, len, lastmsg);
    expect_refused("png_truncated_in_idat", good, find_chunk(good, len, "IDAT") + 20,
                   "truncated file in IDAT chunk");

    pngspec t = s;
    t.interlace = 1;
    uint8_t *g = png_encode(&t, &len);
    expect_refused("png_interlaced", g, len, "interlaced PNG not supported");
    free(g);
    t = s;
    t.depth = 3;
    g = png_encode(&t, &len);
    expect_refused("png_gray_depth3", g, len, "unsupported bit depth 3 for colour type 0");
    free(g);
    t = s;
    t.ctype = 2;
    t.depth = 4;
    g = png_encode(&t, &len);
    expect_refused("png_rgb_depth4", g, len, "unsupported bit depth 4 for colour type 2");
    free(g);
    t = s;
    t.ctype = 5;
    g = png_encode(&t, &len);
    expect_refused("png_colour_type5", g, len, "unknown PNG colour type 5");
    free(g);

    /* A filter byte of 5. */
    int badf[H] = {0, 1, 5, 0, 0};
    t = s;
    t.filters = badf;
    g = png_encode(&t, &len);
    expect_refused("png_bad_filter", g, len, "bad filter type 5 in row 2");
    free(g);

    /* Too few rows in the zlib stream. */
    t = s;
    t.drop_rows = 2;
    g = png_encode(&t, &len);
    expect_refused("png_short_data", g, len, "truncated image data");
    free(g);

    /* Palette trouble. */
    uint8_t plte[6] = {1, 2, 3, 4, 5, 6}, idx[W * H] = {0};
    idx[7] = 2;
    t = (pngspec){W, H, 8, 3, idx, NULL, plte, 2, 0, 1, 0, 0};
    g = png_encode(&t, &len);
    expect_refused("png_palette_index", g, len, "palette index 2 out of range (palette has 2 entries)");
    free(g);
    t.nplte = 0;
    g = png_encode(&t, &len);
    expect_refused("png_palette_missing", g, len, "palette image without a PLTE chunk");
    free(g);

    /* Valid CRCs around bytes that are not zlib. */
    buf b = {0};
    put(&b, good, 33); /* signature + IHDR */
    chunk(&b, "IDAT", (const uint8_t *)"this is not zlib", 16);
    chunk(&b, "IEND", NULL, 0);
    expect_refused("png_corrupt_zlib", b.p, b.len, "corrupt compressed image data");
    b.len = 0;
    put(&b, good, 33);
    chunk(&b, "ABCD", (const uint8_t *)"x", 1);
    expect_refused("png_unknown_critical", b.p, b.len, "unknown critical chunk ABCD");
    b.len = 0;
    put(&b, good, 33);
    chunk(&b, "IEND", NULL, 0);
    expect_refused("png_no_idat", b.p, b.len, "no IDAT chunk");
    b.len = 0;
    put(&b, good, 8);
    chunk(&b, "IDAT", (const uint8_t *)"x", 1);
    expect_refused("png_ihdr_not_first", b.p, b.len, "first chunk is IDAT, not IHDR");
    b.len = 0;
    put(&b, good, 8);
    chunk(&b, "IHDR", good + 16, 12);
    expect_refused("png_short_ihdr", b.p, b.len, "IHDR chunk of 12 bytes, expected 13");
    free(b.p);

    /* A width times height beyond the limit is refused before allocating. */
    t = s;
    t.w = 1 << 20;
    t.h = 1 << 20;
    t.rows = rows;
    t.drop_rows = t.h; /* no rows at all */
    g = png_encode(&t, &len);
    expect_refused("png_too_large", g, len, "exceeds the");
    free(g);

    free(f);
    free(good);
}

static void test_pgm(void)
{
    enum { W = 17, H = 9 };
    rn_image img = {W, H, 1, malloc(W * H)}, back;
    for (int i = 0; i < W * H; i++)
        img.data[i] = rnd8();
    char err[256] = "";
    int rc = rn_pgm_write("out.pgm", &img, err, sizeof err);
    CHECK(rc == 0, "pgm_write", "%s", err);
    rc = rn_image_read("out.pgm", &back, err, sizeof err);
    CHECK(rc == 0 && back.width == W && back.height == H && back.channels == 1 &&
              memcmp(back.data, img.data, W * H) == 0,
          "pgm_round_trip", "%s", err);
    if (rc == 0)
        rn_image_free(&back);

    rn_image rgb = {2, 2, 3, img.data};
    rc = rn_pgm_write("rgb.pgm", &rgb, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "rgb.pgm: PGM holds one channel"), "pgm_write_refuses_rgb", "%s", err);
    rc = rn_pgm_write("no/such/dir.pgm", &img, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "no/such/dir.pgm: cannot create"), "pgm_write_missing_dir", "%s", err);

    const char *p2 = "P2\n# made by hand\n3 2\n# maxval next\n255\n0 128 255\n# a comment mid-raster\n1 2 3\n";
    static const uint8_t w2[6] = {0, 128, 255, 1, 2, 3};
    expect_image("pgm_p2_comments", (const uint8_t *)p2, strlen(p2), 3, 2, 1, w2);
    const char *p2s = "P2 4 1 15 0 7 8 15";
    static const uint8_t w2s[4] = {0, 119, 136, 255};
    expect_image("pgm_p2_maxval15", (const uint8_t *)p2s, strlen(p2s), 4, 1, 1, w2s);
    static const uint8_t p5c[] = "P5 #c\n2 2 255\n\x00\x10\xfe\xff";
    static const uint8_t w5c[4] = {0, 16, 254, 255};
    expect_image("pgm_p5_comment", p5c, sizeof p5c - 1, 2, 2, 1, w5c);
    static const uint8_t p16[] = "P5\n3 1\n65535\n\x00\x00\xff\xff\x80\x00";
    static const uint8_t w16[3] = {0, 255, 128};
    expect_image("pgm_p5_16bit", p16, sizeof p16 - 1, 3, 1, 1, w16);
    static const uint8_t p1k[] = "P5\n2 1\n1000\n\x03\xe8\x01\xf4";
    static const uint8_t w1k[2] = {255, 128};
    expect_image("pgm_p5_maxval1000", p1k, sizeof p1k - 1, 2, 1, 1, w1k);

    static const uint8_t trunc[] = "P5\n4 4\n255\n\x01\x02\x03";
    expect_refused("pgm_truncated", trunc, sizeof trunc - 1, "truncated pixel data (3 of 16 samples)");
    expect_refused("pgm_maxval_zero", "P5\n1 1\n0\n\x00", 10, "PGM maxval 0 outside 1..65535");
    expect_refused("pgm_maxval_big", "P5\n1 1\n70000\n\x00", 14, "PGM maxval 70000 outside");
    expect_refused("pgm_p2_over_maxval", "P2 2 1 15 3 16", 14, "sample 16 exceeds maxval 15");
    expect_refused("pgm_p5_over_maxval", "P5 1 1 15\n\x10", 11, "sample 16 exceeds maxval 15");
    expect_refused("pgm_no_height", "P5\n3", 4, "truncated PGM header (no height)");
    expect_refused("pgm_bad_header", "P5\n3x 2 255\n", 12, "bad PGM header: width is not a number");
    expect_refused("pgm_zero_width", "P5 0 2 255\n", 11, "zero size");
    expect_refused("pgm_p2_garbage", "P2 2 1 255 1 x", 14, "bad sample 1");
    expect_refused("ppm_refused", "P6 1 1 255\n\x00\x00\x00", 14, "not a PNG or PGM file");

    /* Every proper prefix of a P5 file is refused. */
    FILE *fp = fopen("out.pgm", "rb");
    uint8_t whole[512];
    size_t len = fread(whole, 1, sizeof whole, fp);
    fclose(fp);
    int all = 1;
    size_t badn = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, whole, n);
        rc = rn_image_decode(p, n, "cut.pgm", &back, err, sizeof err);
        if (rc == 0) {
            all = 0;
            badn = n;
            rn_image_free(&back);
        }
        free(p);
    }
    CHECK(all, "pgm_every_prefix_refused", "prefix %zu of %zu accepted", badn, len);
    free(img.data);
}

static void test_convert(void)
{
    uint8_t px[5 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30};
    rn_image rgb = {5, 1, 3, px}, g;
    char err[256] = "";
    int rc = rn_image_to_gray(&rgb, &g, err, sizeof err);
    static const uint8_t want[5] = {76, 150, 29, 255, 18};
    CHECK(rc == 0 && g.channels == 1 && g.width == 5 && memcmp(g.data, want, 5) == 0, "gray_bt601",
          "%s got %d %d %d %d %d", err, g.data ? g.data[0] : -1, g.data ? g.data[1] : -1,
          g.data ? g.data[2] : -1, g.data ? g.data[3] : -1, g.data ? g.data[4] : -1);
    rn_image g2;
    rc = rn_image_to_gray(&g, &g2, err, sizeof err);
    CHECK(rc == 0 && memcmp(g2.data, want, 5) == 0, "gray_of_gray", "%s", err);
    rn_image_free(&g);
    rn_image_free(&g2);

    float chw[6];
    uint8_t two[6] = {1, 2, 3, 4, 5, 6};
    rn_image t = {2, 1, 3, two};
    rn_image_to_chw_f32(&t, chw);
    CHECK(chw[0] == 1 / 255.0f && chw[1] == 4 / 255.0f && chw[2] == 2 / 255.0f &&
              chw[3] == 5 / 255.0f && chw[4] == 3 / 255.0f && chw[5] == 6 / 255.0f,
          "to_chw_f32", "planes out of order");
}

static void test_resize(void)
{
    char err[256] = "";
    rn_image r;
    uint8_t q[4] = {1, 2, 3, 4};
    rn_image sq = {2, 2, 1, q};
    int rc = rn_image_resize(&sq, 4, 4, RN_RESIZE_NEAREST, &r, err, sizeof err);
    static const uint8_t up[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    CHECK(rc == 0 && r.width == 4 && r.height == 4 && memcmp(r.data, up, 16) == 0,
          "resize_nearest_up", "%s", err);
    rn_image_free(&r);

    uint8_t g16[16];
    for (int i = 0; i < 16; i++)
        g16[i] = (uint8_t)i;
    rn_image s16 = {4, 4, 1, g16};
    rc = rn_image_resize(&s16, 2, 2, RN_RESIZE_NEAREST, &r, err, sizeof err);
    static const uint8_t down[4] = {5, 7, 13, 15};
    CHECK(rc == 0 && memcmp(r.data, down, 4) == 0, "resize_nearest_down", "%s %d %d %d %d", err,
          r.data[0], r.data[1], r.data[2], r.data[3]);
    rn_image_free(&r);

    uint8_t row[2] = {0, 100};
    rn_image s2 = {2, 1, 1, row};
    rc = rn_image_resize(&s2, 4, 1, RN_RESIZE_BILINEAR, &r, err, sizeof err);
    static const uint8_t bl[4] = {0, 25, 75, 100};
    CHECK(rc == 0 && memcmp(r.data, bl, 4) == 0, "resize_bilinear_up", "%s %d %d %d %d", err,
          r.data[0], r.data[1], r.data[2], r.data[3]);
    rn_image_free(&r);

    uint8_t row4[4] = {0, 10, 20, 30};
    rn_image s4 = {4, 1, 1, row4};
    rc = rn_image_resize(&s4, 2, 1, RN_RESIZE_BILINEAR, &r, err, sizeof err);
    CHECK(rc == 0 && r.data[0] == 5 && r.data[1] == 25, "resize_bilinear_down", "%s %d %d", err,
          r.data[0], r.data[1]);
    rn_image_free(&r);

    uint8_t px[6 * 5 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = rnd8();
    rn_image rgb = {6, 5, 3, px};
    rc = rn_image_resize(&rgb, 6, 5, RN_RESIZE_BILINEAR, &r, err, sizeof err);
    CHECK(rc == 0 && r.channels == 3 && memcmp(r.data, px, sizeof px) == 0, "resize_identity_rgb",
          "%s", err);
    rn_image_free(&r);
    rc = rn_image_resize(&rgb, 0, 5, RN_RESIZE_BILINEAR, &r, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "zero size"), "resize_zero_refused", "%s", err);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/rn_img_XXXXXX");
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror(dir);
        return 2;
    }
    test_png_8bit();
    test_png_depths();
    test_png_malformed();
    test_pgm();
    test_convert();
    test_resize();
    if (chdir("/") == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    CHECK_DONE();
}
