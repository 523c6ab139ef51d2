/* fuzz_idx.c - libFuzzer entry point for the IDX loader.
 *
 * rn_idx_load reads files only, so each input is written to two temporary
 * files, /tmp/rnet-fuzz-idx.<pid> and .<pid>.gz (reused for every input of
 * the process): the bytes as they are, which a 1f 8b start sends down the
 * gzip path, and the bytes gzipped here as two members (first half, second
 * half), which sends any IDX content through inflate and across a member
 * boundary.  Unless the input is itself gzip, the two loads must agree:
 * both refused, or both accepted with the same dimensions and data
 * (compared in full, so every byte is read).  A refusal must say why; an
 * accepted file must hold exactly the product of its dimensions.  Accepted
 * data is written back with rn_idx_save (gzipped for odd input sizes) and
 * read again, and must come back the same.  Built and run by
 * tools/fuzz.sh --target idx; by hand:
 *
 *   clang -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L \
 *       -fsanitize=fuzzer,address,undefined -Iruntime -Iruntime/host \
 *       tests/fuzz/fuzz_idx.c runtime/host/rn_idx.c runtime/host/rn_err.c -lz -o /tmp/fz
 *   /tmp/fz -max_total_time=60 tests/fuzz/corpus_idx */
#include "rn_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char raw_path[64], gz_path[64], save_path[64];

static void remove_files(void)
{
    remove(raw_path);
    remove(gz_path);
    remove(save_path);
}

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        abort();
}

/* p[0..n) as one gzip member appended to f */
static void gz_member(FILE *f, const uint8_t *p, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    uLong cap = deflateBound(&z, (uLong)n);
    uint8_t *out = malloc(cap);
    if (!out)
        abort();
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    if (fwrite(out, 1, z.total_out, f) != z.total_out)
        abort();
    deflateEnd(&z);
    free(out);
}

/* 1 when the load succeeded; a refusal must have a message */
static int load(const char *path, RnIdx *idx)
{
    char err[512] = "";
    if (rn_idx_load(path, idx, err, sizeof err) != 0) {
        if (!err[0] || idx->data)
            abort();
        return 0;
    }
    if (idx->ndims < 1 || idx->ndims > RN_IDX_MAX_DIMS)
        abort();
    size_t n = 1;
    for (int i = 0; i < idx->ndims; i++) {
        if (idx->dims[i] == 0)
            abort();
        n *= idx->dims[i];
    }
    if (n != idx->size)
        abort();
    return 1;
}

static void expect_same(const RnIdx *a, const RnIdx *b)
{
    if (a->ndims != b->ndims || a->size != b->size ||
        memcmp(a->dims, b->dims, sizeof a->dims) != 0 || memcmp(a->data, b->data, a->size) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!raw_path[0]) {
        long pid = (long)getpid();
        snprintf(raw_path, sizeof raw_path, "/tmp/rnet-fuzz-idx.%ld", pid);
        snprintf(gz_path, sizeof gz_path, "/tmp/rnet-fuzz-idx.%ld.gz", pid);
        snprintf(save_path, sizeof save_path, "/tmp/rnet-fuzz-idx.%ld.saved", pid);
        atexit(remove_files);
    }
    spit(raw_path, data, size);
    FILE *f = fopen(gz_path, "wb");
    if (!f)
        abort();
    gz_member(f, data, size / 2);
    gz_member(f, data + size / 2, size - size / 2);
    if (fclose(f) != 0)
        abort();

    RnIdx a, b;
    int ok_raw = load(raw_path, &a), ok_gz = load(gz_path, &b);
    int gz_input = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gz_input && ok_raw != ok_gz)
        abort(); /* the same IDX bytes, plain and gzipped, judged differently */
    if (!gz_input && ok_raw)
        expect_same(&a, &b);
    if (ok_raw) {
        char err[512];
        RnIdx c;
        if (rn_idx_save(save_path, a.ndims, a.dims, a.data, (int)(size & 1), err, sizeof err) != 0 ||
            !load(save_path, &c))
            abort();
        expect_same(&a, &c);
        rn_idx_free(&c);
    }
    rn_idx_free(&a);
    rn_idx_free(&b);
    return 0;
}
