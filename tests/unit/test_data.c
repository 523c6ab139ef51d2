/* test_data.c - IDX reading, data sets, the RNG, shuffling and batches.
 *
 * Every fixture is written by this program into a fresh mkdtemp directory
 * (plain and gzipped), so nothing binary is committed and every error path
 * gets exactly the broken file it needs.  The RNG is held to published
 * test vectors (splitmix64 seeded with 1234567; xoshiro256** from state
 * {1, 2, 3, 4}).  If data/mnist or data/fashion-mnist exists (after
 * `make data`), the real sets are loaded and counted too; otherwise that
 * part is skipped with a note.
 */
#include "check.h"
#include "rn_data.h"
#include "rn_rng.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- fixtures ----------------------------------------------------------- */

static char tmpdir[64];
static char created[64][128];
static int ncreated;

/* A path inside the temp dir, remembered for cleanup. */
static const char *tmp_path(const char *name)
{
    if (ncreated == 64) {
        fprintf(stderr, "test_data: too many fixtures\n");
        exit(2);
    }
    snprintf(created[ncreated], sizeof created[0], "%s/%s", tmpdir, name);
    return created[ncreated++];
}

static void write_bytes(const char *path, const uint8_t *buf, size_t len, int gz)
{
    int ok;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ok = f && gzwrite(f, buf, (unsigned)len) == (int)len;
        ok = f && gzclose(f) == Z_OK && ok;
    } else {
        FILE *f = fopen(path, "wb");
        ok = f && fwrite(buf, 1, len, f) == len;
        ok = f && fclose(f) == 0 && ok;
    }
    if (!ok) {
        fprintf(stderr, "test_data: cannot write %s\n", path);
        exit(2);
    }
}

/* Header bytes for type/ndims/dims, then len bytes of data (which need not
 * match the header: that is the point of several tests). */
static size_t make_idx(uint8_t *buf, int type, int ndims, const uint32_t *dims,
                       const uint8_t *data, size_t len)
{
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = (uint8_t)type;
    buf[3] = (uint8_t)ndims;
    size_t at = 4;
    for (int i = 0; i < ndims; i++) {
        buf[at++] = (uint8_t)(dims[i] >> 24);
        buf[at++] = (uint8_t)(dims[i] >> 16);
        buf[at++] = (uint8_t)(dims[i] >> 8);
        buf[at++] = (uint8_t)dims[i];
    }
    if (len)
        memcpy(buf + at, data, len);
    return at + len;
}

static const char *write_idx(const char *name, int type, int ndims, const uint32_t *dims,
                             const uint8_t *data, size_t len, int gz)
{
    uint8_t *buf = malloc(len + 4 + 4 * 8);
    size_t n = make_idx(buf, type, ndims, dims, data, len);
    const char *p = tmp_path(name);
    write_bytes(p, buf, n, gz);
    free(buf);
    return p;
}

static void cleanup(void)
{
    for (int i = ncreated - 1; i >= 0; i--) {
        struct stat st;
        if (stat(created[i], &st) == 0)
            S_ISDIR(st.st_mode) ? rmdir(created[i]) : remove(created[i]);
    }
    rmdir(tmpdir);
}

/* Expect failure with every needle in the message. */
static void expect_err(const char *name, int rc, const char *err, const char *n1,
                       const char *n2)
{
    int ok = rc != 0 && strstr(err, n1) && (!n2 || strstr(err, n2));
    CHECK(ok, name, "rc %d, message \"%s\", wanted \"%s\"%s%s%s", rc, err, n1, n2 ? " and \"" : "",
          n2 ? n2 : "", n2 ? "\"" : "");
}

static void expect_idx_err(const char *name, const char *path, const char *n1, const char *n2)
{
    RnIdx idx;
    char err[512] = "";
    int rc = rn_idx_load(path, &idx, err, sizeof err);
    if (rc == 0)
        rn_idx_free(&idx);
    /* the message must name the file */
    int named = strncmp(err, path, strlen(path)) == 0;
    CHECK(rc != 0 && named, name, "message does not start with the path: \"%s\"", err);
    expect_err(name, rc, err, n1, n2);
}

/* ---- IDX ------------------------------------------------------------------ */

static void test_idx_roundtrip(void)
{
    uint32_t dims[3] = {5, 4, 3};
    uint8_t data[60];
    for (int i = 0; i < 60; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    const char *plain = write_idx("rt-plain", 8, 3, dims, data, 60, 0);
    const char *gz = write_idx("rt-gz", 8, 3, dims, data, 60, 1);

    for (int k = 0; k < 2; k++) {
        RnIdx idx;
        char err[256] = "";
        int rc = rn_idx_load(k ? gz : plain, &idx, err, sizeof err);
        int ok = rc == 0 && idx.ndims == 3 && idx.dims[0] == 5 && idx.dims[1] == 4 &&
                 idx.dims[2] == 3 && idx.size == 60 && memcmp(idx.data, data, 60) == 0;
        CHECK(ok, k ? "idx_roundtrip_gzip" : "idx_roundtrip_plain", "rc %d: %s", rc, err);
        if (rc == 0)
            rn_idx_free(&idx);
    }

    /* rn_idx_save writes exactly the bytes of a hand-made file */
    const char *saved = tmp_path("saved");
    const char *savedgz = tmp_path("saved.gz");
    char err[256] = "";
    int rc = rn_idx_save(saved, 3, dims, data, 0, err, sizeof err);
    rc |= rn_idx_save(savedgz, 3, dims, data, 1, err, sizeof err);
    uint8_t want[80], got[96];
    size_t wn = make_idx(want, 8, 3, dims, data, 60);
    FILE *f = fopen(saved, "rb");
    size_t gn = f ? fread(got, 1, sizeof got, f) : 0;
    if (f)
        fclose(f);
    CHECK(rc == 0 && gn == wn && memcmp(got, want, wn) == 0, "idx_save_bytes",
          "rc %d (%s), %zu bytes, want %zu", rc, err, gn, wn);
    RnIdx idx;
    rc = rn_idx_load(savedgz, &idx, err, sizeof err);
    CHECK(rc == 0 && idx.size == 60 && memcmp(idx.data, data, 60) == 0, "idx_save_gzip_roundtrip",
          "rc %d: %s", rc, err);
    if (rc == 0)
        rn_idx_free(&idx);
    /* is it really gzip? */
    f = fopen(savedgz, "rb");
    gn = f ? fread(got, 1, 2, f) : 0;
    if (f)
        fclose(f);
    CHECK(gn == 2 && got[0] == 0x1f && got[1] == 0x8b, "idx_save_gzip_magic", "not gzip");

    /* 4-D file */
    uint32_t d4[4] = {2, 3, 2, 2};
    const char *p4 = write_idx("rt-4d", 8, 4, d4, data, 24, 1);
    rc = rn_idx_load(p4, &idx, err, sizeof err);
    CHECK(rc == 0 && idx.ndims == 4 && idx.dims[1] == 3 && idx.size == 24 &&
              memcmp(idx.data, data, 24) == 0,
          "idx_4d", "rc %d: %s", rc, err);
    if (rc == 0)
        rn_idx_free(&idx);
}

static void test_idx_errors(void)
{
    uint8_t data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (uint8_t)i;
    uint32_t d3[3] = {2, 3, 3};
    uint8_t buf[64];
    size_t n;

    n = make_idx(buf, 8, 3, d3, data, 18);
    buf[0] = 0x12;
    buf[1] = 0x34;
    const char *p = tmp_path("bad-magic");
    write_bytes(p, buf, n, 0);
    expect_idx_err("idx_err_bad_magic", p, "bad magic 0x12340803", "not an IDX file");

    p = write_idx("float-type", 0x0D, 3, d3, data, 18 * 4, 0);
    expect_idx_err("idx_err_type_float", p, "type code 0x0D (float32) is not supported", "0x08");
    p = write_idx("bogus-type", 0x05, 3, d3, data, 18, 1);
    expect_idx_err("idx_err_type_unknown", p, "0x05 is not an IDX type code", NULL);

    p = write_idx("zero-ndims", 8, 0, d3, data, 18, 0);
    expect_idx_err("idx_err_zero_ndims", p, "0 dimensions", NULL);
    p = write_idx("five-ndims", 8, 5, (uint32_t[]){1, 1, 1, 1, 1}, data, 1, 0);
    expect_idx_err("idx_err_five_ndims", p, "5 dimensions; rnet reads 1 to 4", NULL);

    p = write_idx("zero-dim", 8, 3, (uint32_t[]){3, 0, 4}, data, 0, 0);
    expect_idx_err("idx_err_zero_dim", p, "dimension 1 is 0 (header says 3x0x4)", NULL);

    uint32_t mn[3] = {8004, 28, 28};
    p = write_idx("train-images-idx3-ubyte", 8, 3, mn, data, 1000, 0);
    expect_idx_err("idx_err_truncated",  p,
                   ": truncated: header says 8004x28x28 (6275136 bytes of pixels), file has 1000",
                   NULL);
    p = write_idx("truncated.gz", 8, 3, mn, data, 1000, 1);
    expect_idx_err("idx_err_truncated_gzip", p,
                   ": truncated: header says 8004x28x28 (6275136 bytes of pixels), file has 1000",
                   NULL);

    /* A header claiming ~16 GiB, too much to load, and one claiming 3 GiB
     * in a tiny file: the second must be a quick "truncated", not a 3 GiB
     * allocation. */
    p = write_idx("huge", 8, 3, (uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, data, 10, 0);
    expect_idx_err("idx_err_huge_header", p, "more than the 16 GiB", NULL);
    p = write_idx("liar", 8, 3, (uint32_t[]){3000000, 32, 32}, data, 10, 1);
    expect_idx_err("idx_err_lying_header", p, "truncated: header says 3000000x32x32",
                   "file has 10");

    uint32_t d1[1] = {10};
    p = write_idx("trailing", 8, 1, d1, data, 15, 0);
    expect_idx_err("idx_err_trailing", p,
                   "trailing bytes: header says 10 (10 bytes of labels), file has 15 (5 extra)",
                   NULL);
    p = write_idx("trailing.gz", 8, 1, d1, data, 11, 1);
    expect_idx_err("idx_err_trailing_gzip", p, "trailing bytes", "(1 extra)");

    p = tmp_path("empty");
    write_bytes(p, buf, 0, 0);
    expect_idx_err("idx_err_empty", p, "empty file", NULL);
    p = tmp_path("short-header");
    n = make_idx(buf, 8, 3, d3, data, 0);
    write_bytes(p, buf, 9, 0);
    expect_idx_err("idx_err_short_header", p, "truncated header", "3 dimensions");
    p = tmp_path("short-magic");
    write_bytes(p, buf, 3, 0);
    expect_idx_err("idx_err_short_magic", p, "truncated header: 3 bytes", NULL);

    expect_idx_err("idx_err_missing", "/nonexistent-rnet-dir/train-images-idx3-ubyte",
                   "cannot open: No such file or directory", NULL);
    expect_idx_err("idx_err_directory", tmpdir, "is a directory", NULL);

    /* A gzip file cut short, and one with a corrupted body. */
    uint8_t big[4000];
    for (int i = 0; i < 4000; i++)
        big[i] = (uint8_t)(i * 7 ^ i >> 3);
    p = write_idx("cut.gz", 8, 1, (uint32_t[]){4000}, big, 4000, 1);
    FILE *f = fopen(p, "rb");
    uint8_t gzbuf[8192];
    size_t gzn = fread(gzbuf, 1, sizeof gzbuf, f);
    fclose(f);
    write_bytes(p, gzbuf, gzn - 6, 0); /* drop most of the CRC/size trailer */
    expect_idx_err("idx_err_gzip_cut_trailer", p, "truncated gzip stream", NULL);
    write_bytes(p, gzbuf, gzn / 2, 0);
    expect_idx_err("idx_err_gzip_cut_half", p, "truncated", NULL);
    for (size_t i = 20; i < gzn - 8; i += 3)
        gzbuf[i] ^= 0x5a;
    write_bytes(p, gzbuf, gzn, 0);
    expect_idx_err("idx_err_gzip_corrupt", p, "gzip", NULL);

    /* After the last gzip member: garbage (zlib's gzread ignored it), one
     * zero byte, a second member (valid: the data go on), a second member
     * whose header is broken. */
    uint8_t idx10[32];
    size_t in10 = make_idx(idx10, 8, 1, (uint32_t[]){10}, data, 10);
    p = tmp_path("member.gz");
    write_bytes(p, idx10, in10, 1);
    f = fopen(p, "rb");
    gzn = fread(gzbuf, 1, sizeof gzbuf, f);
    fclose(f);
    memcpy(gzbuf + gzn, "garbage", 7);
    write_bytes(p, gzbuf, gzn + 7, 0);
    expect_idx_err("idx_err_gzip_trailing_garbage", p,
                   "7 bytes of garbage after the end of the gzip stream", NULL);
    gzbuf[gzn] = 0;
    write_bytes(p, gzbuf, gzn + 1, 0);
    expect_idx_err("idx_err_gzip_trailing_zero", p, "1 byte of garbage after the end", NULL);
    /* the header in one member, the labels in a second */
    const char *p2 = tmp_path("two-members.gz");
    write_bytes(p2, idx10, 8, 1);
    const char *p3 = tmp_path("second.gz");
    write_bytes(p3, idx10 + 8, 10, 1);
    uint8_t two[512];
    f = fopen(p2, "rb");
    size_t tn = fread(two, 1, sizeof two, f);
    fclose(f);
    f = fopen(p3, "rb");
    size_t tn2 = fread(two + tn, 1, sizeof two - tn, f);
    fclose(f);
    write_bytes(p2, two, tn + tn2, 0);
    RnIdx two_idx;
    char terr[256] = "";
    int trc = rn_idx_load(p2, &two_idx, terr, sizeof terr);
    CHECK(trc == 0 && two_idx.size == 10 && memcmp(two_idx.data, data, 10) == 0,
          "idx_gzip_two_members", "rc %d: %s", trc, terr);
    if (trc == 0)
        rn_idx_free(&two_idx);
    two[tn + 1] = 0x8c; /* the second member's magic broken */
    write_bytes(p2, two, tn + tn2, 0);
    expect_idx_err("idx_err_gzip_bad_second_member", p2, "corrupt gzip data", NULL);
}

/* ---- data sets ------------------------------------------------------------ */

static const char *make_dir(const char *name)
{
    const char *d = tmp_path(name);
    if (mkdir(d, 0700) != 0) {
        fprintf(stderr, "test_data: cannot mkdir %s\n", d);
        exit(2);
    }
    return d;
}

/* Write an (n, h, w) image file and its labels into dir under names. */
static void write_pair(const char *dir, const char *iname, const char *lname, int n, int h, int w,
                       const uint8_t *labels, int nlabels, int gz)
{
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/%s", strrchr(dir, '/') + 1, iname);
    snprintf(b, sizeof b, "%s/%s", strrchr(dir, '/') + 1, lname);
    uint8_t *img = malloc((size_t)n * h * w);
    for (int i = 0; i < n * h * w; i++)
        img[i] = (uint8_t)(i % 251);
    write_idx(a, 8, 3, (uint32_t[]){(uint32_t)n, (uint32_t)h, (uint32_t)w}, img,
              (size_t)n * h * w, gz);
    write_idx(b, 8, 1, (uint32_t[]){(uint32_t)nlabels}, labels, (size_t)nlabels, gz);
    free(img);
}

static void test_dataset(void)
{
    uint8_t labels[8] = {3, 1, 4, 1, 5, 9, 2, 6};
    char err[512] = "";
    RnDataset ds;
    int rc;

    /* train split gzipped, test split plain */
    const char *dir = make_dir("ds");
    write_pair(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 8, 4, 3, labels, 8,
               1);
    write_pair(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 5, 4, 3, labels, 5, 0);
    rc = rn_dataset_load(dir, 1, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 8 && ds.c == 1 && ds.h == 4 && ds.w == 3 && ds.classes == 10 &&
              ds.labels[5] == 9 && ds.images[13] == 13 && strstr(ds.images_path, ".gz"),
          "dataset_load_train_gz", "rc %d: %s", rc, err);
    if (rc == 0) {
        rc = rn_dataset_check(&ds, 1, 4, 3, 10, err, sizeof err);
        CHECK(rc == 0, "dataset_check_ok", "%s", err);
        rc = rn_dataset_check(&ds, 1, 4, 3, 9, err, sizeof err); /* label 9 is one too many */
        expect_err("dataset_err_label_range", rc, err,
                   "train-labels-idx1-ubyte.gz: label 9 at index 5 is out of range", "(0..8)");
        rc = rn_dataset_check(&ds, 1, 28, 28, 10, err, sizeof err);
        expect_err("dataset_err_shape", rc, err,
                   "train-images-idx3-ubyte.gz: images are 1x4x3 (C x H x W) but the model takes "
                   "1x28x28",
                   NULL);
        rc = rn_dataset_check(&ds, 3, 4, 3, 10, err, sizeof err);
        expect_err("dataset_err_channels", rc, err, "images are 1x4x3", "takes 3x4x3");
        rn_dataset_free(&ds);
    }
    rc = rn_dataset_load(dir, 0, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 5 && ds.classes == 6 && !strstr(ds.images_path, ".gz"),
          "dataset_load_test_plain", "rc %d: %s", rc, err);
    if (rc == 0)
        rn_dataset_free(&ds);

    /* a trailing slash on the directory is fine */
    char slash[128];
    snprintf(slash, sizeof slash, "%s/", dir);
    rc = rn_dataset_load(slash, 0, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 5, "dataset_load_trailing_slash", "rc %d: %s", rc, err);
    if (rc == 0)
        rn_dataset_free(&ds);

    rc = rn_dataset_load("/nonexistent-rnet-data/mnist", 1, &ds, err, sizeof err);
    expect_err("dataset_err_missing_dir", rc, err,
               "/nonexistent-rnet-data/mnist: cannot open data directory: No such file",
               "make data");
    rc = rn_dataset_load(created[0], 1, &ds, err, sizeof err); /* a plain file */
    expect_err("dataset_err_not_dir", rc, err, "not a directory", NULL);

    const char *empty = make_dir("empty-ds");
    rc = rn_dataset_load(empty, 1, &ds, err, sizeof err);
    expect_err("dataset_err_missing_files", rc, err,
               "found neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz", empty);
    /* images there, labels not */
    const char *half = make_dir("half-ds");
    write_pair(half, "t10k-images-idx3-ubyte", "unrelated-name", 5, 4, 3, labels, 5, 0);
    rc = rn_dataset_load(half, 0, &ds, err, sizeof err);
    expect_err("dataset_err_missing_labels", rc, err,
               "found neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz", NULL);

    const char *mism = make_dir("mismatch-ds");
    write_pair(mism, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 8, 4, 3, labels, 7, 0);
    rc = rn_dataset_load(mism, 1, &ds, err, sizeof err);
    expect_err("dataset_err_count_mismatch", rc, err, "train-images-idx3-ubyte has 8 images but",
               "train-labels-idx1-ubyte has 7 labels");

    /* images and labels swapped */
    const char *swap = make_dir("swap-ds");
    write_pair(swap, "train-labels-idx1-ubyte", "train-images-idx3-ubyte", 8, 4, 3, labels, 8, 0);
    rc = rn_dataset_load(swap, 1, &ds, err, sizeof err);
    expect_err("dataset_err_swapped", rc, err, "train-images-idx3-ubyte: expected images",
               "is this a label file?");

    /* plain wins over .gz when both exist */
    const char *both = make_dir("both-ds");
    write_pair(both, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 5, 4, 3, labels, 5, 0);
    write_pair(both, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 3, 4, 3, labels, 3,
               1);
    rc = rn_dataset_load(both, 0, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 5, "dataset_plain_over_gz", "rc %d n %d: %s", rc, ds.n, err);
    if (rc == 0)
        rn_dataset_free(&ds);

    /* a 4-D (N, C, H, W) image file */
    uint8_t px[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++)
        px[i] = (uint8_t)(10 * i);
    const char *i4 = write_idx("four-d-images", 8, 4, (uint32_t[]){2, 3, 2, 2}, px, 24, 0);
    const char *l4 = write_idx("four-d-labels", 8, 1, (uint32_t[]){2}, labels, 2, 0);
    rc = rn_dataset_load_files(i4, l4, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 2 && ds.c == 3 && ds.h == 2 && ds.w == 2 && ds.images[23] == 230,
          "dataset_4d", "rc %d: %s", rc, err);
    if (rc == 0)
        rn_dataset_free(&ds);
}

/* ---- RNG ------------------------------------------------------------------ */

static void test_rng(void)
{
    /* splitmix64 test vector: seeding with 1234567 puts its first four
     * outputs in the state. */
    RnRng r;
    uint64_t st[4];
    rn_rng_seed(&r, 1234567);
    rn_rng_get_state(&r, st);
    CHECK(st[0] == 6457827717110365317ULL && st[1] == 3203168211198807973ULL &&
              st[2] == 9817491932198370423ULL && st[3] == 4593380528125082431ULL,
          "rng_splitmix_vector", "state %llu %llu", (unsigned long long)st[0],
          (unsigned long long)st[1]);

    /* xoshiro256** from {1, 2, 3, 4} */
    static const uint64_t want[6] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL,
                                     1216172134540287360ULL, 607988272756665600ULL};
    uint64_t s1234[4] = {1, 2, 3, 4};
    int ok = rn_rng_set_state(&r, s1234) == 0;
    for (int i = 0; i < 6; i++)
        ok &= rn_rng_u64(&r) == want[i];
    CHECK(ok, "rng_xoshiro_vector", "stream differs from the reference");

    uint64_t zero[4] = {0, 0, 0, 0};
    RnRng keep = r;
    CHECK(rn_rng_set_state(&r, zero) != 0 && memcmp(&r, &keep, sizeof r) == 0,
          "rng_reject_zero_state", "all-zero state accepted");

    /* save, draw, restore, draw again: the same stream */
    rn_rng_seed(&r, 99);
    for (int i = 0; i < 17; i++)
        (void)rn_rng_u64(&r);
    rn_rng_get_state(&r, st);
    uint64_t a[200];
    for (int i = 0; i < 200; i++)
        a[i] = i % 2 ? rn_rng_u64(&r) : (uint64_t)rn_rng_range(&r, -5, 5);
    RnRng r2;
    rn_rng_seed(&r2, 12345);
    ok = rn_rng_set_state(&r2, st) == 0;
    for (int i = 0; i < 200; i++)
        ok &= a[i] == (i % 2 ? rn_rng_u64(&r2) : (uint64_t)rn_rng_range(&r2, -5, 5));
    CHECK(ok, "rng_state_restore", "restored stream differs");

    RnRng x, y;
    rn_rng_seed(&x, 7);
    rn_rng_seed(&y, 7);
    ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= rn_rng_u64(&x) == rn_rng_u64(&y);
    CHECK(ok, "rng_same_seed", "same seed, different streams");
    rn_rng_seed(&x, 7);
    rn_rng_seed(&y, 8);
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += rn_rng_u64(&x) == rn_rng_u64(&y);
    CHECK(same == 0, "rng_different_seed", "%d equal draws", same);

    RnRng s0, s1, s2;
    rn_rng_seed_stream(&s0, 5, 1, 0);
    rn_rng_seed_stream(&s1, 5, 1, 1);
    rn_rng_seed_stream(&s2, 5, 1, 0);
    uint64_t v0 = rn_rng_u64(&s0), v1 = rn_rng_u64(&s1), v2 = rn_rng_u64(&s2);
    CHECK(v0 != v1 && v0 == v2, "rng_seed_stream", "streams not distinct / not repeatable");

    rn_rng_seed(&x, 3);
    y = x;
    rn_rng_jump(&y);
    same = 0;
    for (int i = 0; i < 100; i++)
        same += rn_rng_u64(&x) == rn_rng_u64(&y);
    CHECK(same == 0 && memcmp(&x, &y, sizeof x) != 0, "rng_jump", "jumped stream overlaps");

    /* uniformity: 10 buckets of rn_rng_below, floats in [0, 1), range ends */
    rn_rng_seed(&r, 2024);
    int bucket[10] = {0};
    for (int i = 0; i < 100000; i++)
        bucket[rn_rng_below(&r, 10)]++;
    ok = 1;
    for (int i = 0; i < 10; i++)
        ok &= bucket[i] > 9500 && bucket[i] < 10500;
    CHECK(ok, "rng_below_uniform", "buckets %d %d %d ...", bucket[0], bucket[1], bucket[2]);
    int lo = 0, hi = 0, outside = 0;
    double sum = 0, fmin = 1, fmax = 0;
    for (int i = 0; i < 20000; i++) {
        int k = rn_rng_range(&r, -3, 3);
        lo += k == -3;
        hi += k == 3;
        outside += k < -3 || k > 3;
        float u = rn_rng_float(&r);
        sum += u;
        fmin = u < fmin ? u : fmin;
        fmax = u > fmax ? u : fmax;
    }
    CHECK(outside == 0 && lo > 2300 && hi > 2300, "rng_range_inclusive", "lo %d hi %d out %d", lo,
          hi, outside);
    CHECK(fmin >= 0 && fmax < 1 && fabs(sum / 20000 - 0.5) < 0.01, "rng_float_unit",
          "min %g max %g mean %g", fmin, fmax, sum / 20000);
    double m = 0, v = 0;
    for (int i = 0; i < 20000; i++) {
        double g = rn_rng_normal(&r);
        m += g;
        v += g * g;
    }
    m /= 20000;
    v = v / 20000 - m * m;
    CHECK(fabs(m) < 0.03 && fabs(v - 1) < 0.05, "rng_normal_moments", "mean %g var %g", m, v);
}

static int is_perm(const uint32_t *a, uint32_t n)
{
    int ok = 1;
    char *seen = calloc(n, 1);
    for (uint32_t i = 0; i < n; i++) {
        if (a[i] >= n || seen[a[i]])
            ok = 0;
        else
            seen[a[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle(void)
{
    enum { N = 1000 };
    uint32_t a[N], b[N], c[N];
    RnRng r;
    for (uint32_t i = 0; i < N; i++)
        a[i] = b[i] = c[i] = i;
    rn_rng_seed(&r, 1);
    rn_rng_shuffle_u32(&r, a, N);
    rn_rng_seed(&r, 1);
    rn_rng_shuffle_u32(&r, b, N);
    rn_rng_seed(&r, 2);
    rn_rng_shuffle_u32(&r, c, N);
    int moved = 0;
    for (uint32_t i = 0; i < N; i++)
        moved += a[i] != i;
    CHECK(is_perm(a, N) && moved > N / 2, "shuffle_permutation", "moved %d", moved);
    CHECK(memcmp(a, b, sizeof a) == 0, "shuffle_same_seed", "orders differ");
    CHECK(memcmp(a, c, sizeof a) != 0, "shuffle_different_seed", "orders equal");

    /* all 6 orders of 3 items about equally often */
    int count[6] = {0};
    rn_rng_seed(&r, 77);
    for (int t = 0; t < 60000; t++) {
        uint32_t p[3] = {0, 1, 2};
        rn_rng_shuffle_u32(&r, p, 3);
        count[p[0] * 2 + (p[1] > p[2])]++;
    }
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= count[i] > 9500 && count[i] < 10500;
    CHECK(ok, "shuffle_uniform", "%d %d %d %d %d %d", count[0], count[1], count[2], count[3],
          count[4], count[5]);
}

/* ---- batches -------------------------------------------------------------- */

/* An in-memory data set: n images (c, h, w) with pixel = f(example, pixel),
 * label = example index % 256. */
static void fake_dataset(RnDataset *ds, int n, int c, int h, int w, int border)
{
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->classes = 256;
    ds->images = malloc((size_t)n * c * h * w);
    ds->labels = malloc((size_t)n);
    ds->images_path = malloc(16);
    ds->labels_path = malloc(16);
    strcpy(ds->images_path, "fake-images");
    strcpy(ds->labels_path, "fake-labels");
    for (int e = 0; e < n; e++) {
        ds->labels[e] = (uint8_t)e;
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) {
                    int inner = i >= border && i < h - border && j >= border && j < w - border;
                    ds->images[(((size_t)e * c + ch) * h + i) * w + j] =
                        inner ? (uint8_t)(1 + (e * 31 + ch * 17 + i * 7 + j * 3 + i * j) % 255)
                              : 0;
                }
    }
}

/* Does out (h, w), normalised with (m, s), equal the raw image in shifted by
 * (dy, dx) and flipped as given? */
static int matches(const float *out, const uint8_t *in, int h, int w, float m, float s, int dy,
                   int dx, int flip)
{
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            int si = i + dy, sj = (flip ? w - 1 - j : j) + dx;
            int v = si >= 0 && si < h && sj >= 0 && sj < w ? in[si * w + sj] : 0;
            float want = ((float)v / 255.0f - m) / s;
            if (fabsf(out[i * w + j] - want) > 1e-5f)
                return 0;
        }
    return 1;
}

static void test_normalise(void)
{
    RnDataset ds;
    fake_dataset(&ds, 3, 2, 3, 4, 0);
    ds.images[0] = 0;
    ds.images[1] = 255;
    float mean[2] = {0.5f, 0.25f}, std[2] = {0.2f, 2.0f};
    RnBatchConfig cfg = {.batch = 3, .mean = mean, .std = std};
    RnBatcher b;
    char err[256] = "";
    int rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    CHECK(rc == 0, "batcher_init", "%s", err);
    if (rc)
        return;
    float x[3 * 2 * 3 * 4];
    int y[3];
    int n = rn_batcher_next(&b, x, y);
    int ok = n == 3;
    double maxd = 0;
    for (int i = 0; i < 3 * 2 * 12; i++) {
        int ch = (i / 12) % 2;
        double want = ((double)ds.images[i] / 255.0 - mean[ch]) / std[ch];
        double d = fabs(x[i] - want);
        maxd = d > maxd ? d : maxd;
    }
    ok &= maxd < 1e-6;
    ok &= fabsf(x[0] - (-2.5f)) < 1e-6f && fabsf(x[1] - 2.5f) < 1e-6f;
    ok &= y[0] == 0 && y[1] == 1 && y[2] == 2;
    CHECK(ok, "batch_normalise", "n %d, max diff %g, x0 %g x1 %g", n, maxd, x[0], x[1]);
    rn_batcher_free(&b);

    /* the config's arrays are copied: changing them later changes nothing */
    float m2[2] = {0, 0};
    cfg.mean = m2;
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    m2[0] = 100;
    float x2[3 * 2 * 3 * 4];
    rn_batcher_next(&b, x2, y);
    CHECK(rc == 0 && fabsf(x2[1] - 1.0f / 0.2f) < 1e-5f, "batch_config_copied", "x %g", x2[1]);
    rn_batcher_free(&b);

    cfg.std = (float[]){1.0f, 0.0f};
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    expect_err("batcher_err_zero_std", rc, err, "fake-images: std[1] is 0", NULL);
    cfg.std = NULL;
    cfg.batch = 0;
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    expect_err("batcher_err_zero_batch", rc, err, "batch size 0 must be positive", NULL);
    rn_dataset_free(&ds);
}

static void test_augment(void)
{
    enum { H = 8, W = 7, PAD = 2, N = 200 };
    RnDataset ds;
    fake_dataset(&ds, N, 1, H, W, PAD); /* content only inside a PAD-wide border */
    float mean = 0.1307f, std = 0.3081f;
    char err[256] = "";
    RnBatcher b;
    float *x = malloc(sizeof(float) * N * H * W);
    int y[N];

    /* pad 0, no flip: the normalised image itself */
    RnBatchConfig cfg = {.batch = N, .shuffle = 1, .seed = 5, .mean = &mean, .std = &std};
    int rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    int n = rc == 0 ? rn_batcher_next(&b, x, y) : 0;
    int ok = n == N;
    for (int i = 0; ok && i < n; i++)
        ok = matches(x + i * H * W, ds.images + y[i] * H * W, H, W, mean, std, 0, 0, 0);
    CHECK(ok, "augment_pad0_identity", "rc %d n %d: %s", rc, n, err);
    rn_batcher_free(&b);

    /* pad > 0: each output is a shifted copy with |dy|, |dx| <= pad; the
     * content sits inside a pad-wide border, so every pixel survives. */
    cfg.pad = PAD;
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    n = rc == 0 ? rn_batcher_next(&b, x, y) : 0;
    int shifted_ok = n == N, conserved = 1, seen[2 * PAD + 1][2 * PAD + 1] = {{0}};
    for (int i = 0; i < n; i++) {
        const uint8_t *in = ds.images + y[i] * H * W;
        int found = 0;
        for (int dy = -PAD; dy <= PAD && !found; dy++)
            for (int dx = -PAD; dx <= PAD && !found; dx++)
                if (matches(x + i * H * W, in, H, W, mean, std, dy, dx, 0)) {
                    found = 1;
                    seen[dy + PAD][dx + PAD]++;
                }
        shifted_ok &= found;
        /* un-normalise and sum: the same total as the source image */
        long s_in = 0, s_out = 0;
        for (int p = 0; p < H * W; p++) {
            s_in += in[p];
            s_out += lrintf((x[i * H * W + p] * std + mean) * 255.0f);
        }
        conserved &= s_in == s_out;
    }
    CHECK(shifted_ok, "augment_shifted_copy", "an output is no shift of its input");
    CHECK(conserved, "augment_pixel_conservation", "pixel sums differ");
    int all = 1;
    for (int i = 0; i < 2 * PAD + 1; i++)
        for (int j = 0; j < 2 * PAD + 1; j++)
            all &= seen[i][j] > 0;
    CHECK(all, "augment_all_shifts_drawn", "some of the 25 shifts never appeared in 200 draws");

    /* the same epoch again gives the same batch; another epoch a different one */
    float *x2 = malloc(sizeof(float) * N * H * W);
    int y2[N];
    rn_batcher_begin_epoch(&b, 0);
    rn_batcher_next(&b, x2, y2);
    CHECK(memcmp(x, x2, sizeof(float) * N * H * W) == 0 && memcmp(y, y2, sizeof y) == 0,
          "augment_repeatable", "epoch 0 twice differs");
    rn_batcher_begin_epoch(&b, 1);
    rn_batcher_next(&b, x2, y2);
    CHECK(memcmp(y, y2, sizeof y) != 0, "shuffle_epochs_differ", "epoch 1 order = epoch 0");
    rn_batcher_free(&b);

    /* shifts fill with raw 0, i.e. the normalised value of black */
    float one[H * W];
    /* shifted down past the border: the top rows show the lower rows, the
     * bottom rows are padding */
    rn_data_fill_image(ds.images, 1, H, W, &mean, &std, PAD + 3, 0, 0, one);
    ok = 1;
    for (int p = 0; p < (H - (PAD + 3)) * W; p++)
        ok &= fabsf(one[p] - ((float)ds.images[(p / W + PAD + 3) * W + p % W] / 255.0f - mean) /
                                 std) < 1e-6f;
    for (int p = (H - (PAD + 3)) * W; p < H * W; p++)
        ok &= fabsf(one[p] - (0.0f - mean) / std) < 1e-6f;
    CHECK(ok, "augment_fill_is_black", "padding is not (0 - mean) / std");

    /* flip: mirror of the row; with flip on and pad 0 about half flip */
    rn_data_fill_image(ds.images, 1, H, W, NULL, NULL, 0, 0, 1, one);
    ok = 1;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            ok &= one[i * W + j] == (float)ds.images[i * W + (W - 1 - j)] / 255.0f;
    CHECK(ok, "augment_flip_mirror", "flip is not out[i][j] = in[i][w-1-j]");
    cfg.pad = 0;
    cfg.flip = 1;
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    int flipped = 0, plain = 0, neither = 0;
    for (int e = 0; e < 5 && rc == 0; e++) {
        rn_batcher_begin_epoch(&b, e);
        n = rn_batcher_next(&b, x, y);
        for (int i = 0; i < n; i++) {
            const uint8_t *in = ds.images + y[i] * H * W;
            if (matches(x + i * H * W, in, H, W, mean, std, 0, 0, 0))
                plain++;
            else if (matches(x + i * H * W, in, H, W, mean, std, 0, 0, 1))
                flipped++;
            else
                neither++;
        }
    }
    CHECK(rc == 0 && neither == 0 && flipped > 400 && plain > 400, "augment_flip_half",
          "%d flipped, %d plain, %d neither of 1000", flipped, plain, neither);
    rn_batcher_free(&b);

    /* rn_batch_fill draws dy, dx, flip per example in that order */
    uint32_t idx[4] = {7, 3, 3, 150};
    RnRng r, rc2;
    rn_rng_seed(&r, 11);
    rc2 = r;
    rn_batch_fill(&ds, idx, 4, &mean, &std, PAD, 1, &r, x, y);
    ok = 1;
    for (int i = 0; i < 4; i++) {
        int dy = rn_rng_range(&rc2, -PAD, PAD), dx = rn_rng_range(&rc2, -PAD, PAD);
        int fl = (int)(rn_rng_u32(&rc2) >> 31);
        ok &= y[i] == (int)idx[i] &&
              matches(x + i * H * W, ds.images + idx[i] * H * W, H, W, mean, std, dy, dx, fl);
    }
    CHECK(ok && memcmp(&r, &rc2, sizeof r) == 0, "batch_fill_rng_order",
          "outputs do not follow the documented draw order");

    free(x);
    free(x2);
    rn_dataset_free(&ds);
}

static void test_partial_batches(void)
{
    enum { N = 10, C = 1, H = 3, W = 3 };
    RnDataset ds;
    fake_dataset(&ds, N, C, H, W, 0);
    char err[256] = "";
    RnBatcher b;
    float x[4 * H * W];
    int y[4];

    RnBatchConfig cfg = {.batch = 4, .shuffle = 1, .seed = 9, .pad = 1, .flip = 1};
    int rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    int counts[5] = {0}, seen[N] = {0}, k = 0;
    if (rc == 0)
        while (k < 5 && (counts[k] = rn_batcher_next(&b, x, y)) > 0) {
            for (int i = 0; i < counts[k]; i++)
                seen[y[i]]++;
            k++;
        }
    int once = 1;
    for (int i = 0; i < N; i++)
        once &= seen[i] == 1;
    CHECK(rc == 0 && rn_batcher_batches(&b) == 3 && k == 3 && counts[0] == 4 && counts[1] == 4 &&
              counts[2] == 2 && counts[3] == 0 && once,
          "batch_partial_kept", "batches %d, counts %d %d %d %d", rn_batcher_batches(&b),
          counts[0], counts[1], counts[2], counts[3]);
    CHECK(rn_batcher_next(&b, x, y) == 0, "batch_epoch_end_sticky", "more after the end");

    /* seek reproduces batch 2 of epoch 4, and split fills match the whole */
    float xa[4 * H * W], xb[4 * H * W];
    int ya[4], yb[4];
    rn_batcher_begin_epoch(&b, 4);
    rn_batcher_next(&b, xa, ya);
    int n1 = rn_batcher_next(&b, xa, ya);
    rn_batcher_begin_epoch(&b, 0);
    rn_batcher_seek(&b, 4, 1);
    int n2 = rn_batcher_next(&b, xb, yb);
    CHECK(n1 == 4 && n2 == 4 && memcmp(xa, xb, sizeof xa) == 0 && memcmp(ya, yb, sizeof ya) == 0,
          "batch_seek", "seek(4, 1) differs from the second batch of epoch 4");
    rn_batcher_begin_epoch(&b, 4);
    int s1 = rn_batcher_fill(&b, 1, 0, 3, xb, yb);
    int s2 = rn_batcher_fill(&b, 1, 3, 99, xb + 3 * H * W, yb + 3);
    CHECK(s1 == 3 && s2 == 1 && memcmp(xa, xb, sizeof xa) == 0 && memcmp(ya, yb, sizeof ya) == 0,
          "batch_fill_slices", "slices %d + %d differ from the whole batch", s1, s2);
    int s3 = rn_batcher_fill(&b, 2, 1, 4, xb, yb);
    CHECK(s3 == 1 && rn_batcher_fill(&b, 3, 0, 4, xb, yb) == 0, "batch_fill_clipped",
          "short batch slice gave %d", s3);
    rn_batcher_free(&b);

    cfg.drop_last = 1;
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    memset(seen, 0, sizeof seen);
    k = 0;
    int total = 0, n;
    while (rc == 0 && k < 5 && (n = rn_batcher_next(&b, x, y)) > 0) {
        for (int i = 0; i < n; i++)
            seen[y[i]]++;
        total += n;
        k++;
    }
    int dup = 0;
    for (int i = 0; i < N; i++)
        dup |= seen[i] > 1;
    CHECK(rc == 0 && rn_batcher_batches(&b) == 2 && k == 2 && total == 8 && !dup,
          "batch_partial_dropped", "batches %d, %d examples in %d", rn_batcher_batches(&b), total,
          k);
    rn_batcher_free(&b);

    cfg.batch = 11;
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    expect_err("batch_err_drop_all", rc, err, "batch size 11 is larger than the 10 examples",
               "no batches");
    cfg.drop_last = 0;
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    float xx[11 * H * W];
    int yy[11];
    n = rc == 0 ? rn_batcher_next(&b, xx, yy) : -1;
    CHECK(rc == 0 && rn_batcher_batches(&b) == 1 && n == 10, "batch_larger_than_set",
          "rc %d n %d", rc, n);
    if (rc == 0)
        rn_batcher_free(&b);

    /* no shuffle: file order */
    cfg = (RnBatchConfig){.batch = 4};
    rc = rn_batcher_init(&b, &ds, &cfg, err, sizeof err);
    rn_batcher_begin_epoch(&b, 3);
    rn_batcher_next(&b, x, y);
    n = rn_batcher_next(&b, x, y);
    CHECK(rc == 0 && n == 4 && y[0] == 4 && y[3] == 7, "batch_no_shuffle_order", "y %d..%d",
          y[0], y[3]);
    rn_batcher_free(&b);
    rn_dataset_free(&ds);
}

/* ---- the real sets, when `make data` has run ------------------------------ */

static void test_real(const char *dir, int ntrain, int ntest, int first_labels_in_order)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("note: %s absent (run `make data`); real-data checks skipped\n", dir);
        return;
    }
    char err[512] = "", name[64];
    RnDataset tr, te;
    int rc1 = rn_dataset_load(dir, 1, &tr, err, sizeof err);
    snprintf(name, sizeof name, "real_%s_train", strrchr(dir, '/') + 1);
    int ok = rc1 == 0 && tr.n == ntrain && tr.c == 1 && tr.h == 28 && tr.w == 28 &&
             tr.classes == 10 && rn_dataset_check(&tr, 1, 28, 28, 10, err, sizeof err) == 0;
    if (ok && first_labels_in_order)
        for (int i = 0; i < 10; i++)
            ok &= tr.labels[i] == i;
    CHECK(ok, name, "rc %d n %d: %s", rc1, rc1 ? 0 : tr.n, err);
    int rc2 = rn_dataset_load(dir, 0, &te, err, sizeof err);
    snprintf(name, sizeof name, "real_%s_test", strrchr(dir, '/') + 1);
    CHECK(rc2 == 0 && te.n == ntest && te.classes == 10 &&
              rn_dataset_check(&te, 1, 28, 28, 10, err, sizeof err) == 0,
          name, "rc %d n %d: %s", rc2, rc2 ? 0 : te.n, err);
    if (rc1 == 0)
        rn_dataset_free(&tr);
    if (rc2 == 0)
        rn_dataset_free(&te);
}

int main(void)
{
    strcpy(tmpdir, "/tmp/rnet-test-data-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_idx_roundtrip();
    test_idx_errors();
    test_dataset();
    test_rng();
    test_shuffle();
    test_normalise();
    test_augment();
    test_partial_batches();
    cleanup();
    test_real("data/mnist", 8004, 1996, 1);
    test_real("data/fashion-mnist", 60000, 10000, 0);
    CHECK_DONE();
}
