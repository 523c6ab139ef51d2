/* test_tblog.c - TensorBoard event files (rn_tblog.c): CRC-32C against
 * published vectors, the protobuf bytes of each event against encodings
 * worked out by hand from event.proto / summary.proto, and whole files
 * written by the writer and read back by a decoder written here, which
 * checks every record's framing and both CRCs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "rn_tblog.h"

/* ---- a small independent reader ------------------------------------------- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n) /* bit by bit, no table */
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

static uint32_t masked(const uint8_t *p, size_t n)
{
    uint32_t c = crc_bitwise(p, n);
    return (uint32_t)(((c >> 15) | (c << 17)) + 0xa282ead8u);
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int rd_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int s = 0; s < 64 && *i < n; s += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

typedef struct {
    double wall_time;
    int64_t step;
    char version[32];
    int session_start;
    int nvalues;
    char tags[8][160];
    float values[8];
} Ev;

/* decode one Event; -1 on anything unexpected */
static int decode_event(const uint8_t *p, size_t n, Ev *ev)
{
    memset(ev, 0, sizeof *ev);
    size_t i = 0;
    while (i < n) {
        uint64_t key, len;
        if (rd_varint(p, n, &i, &key))
            return -1;
        int field = (int)(key >> 3), wt = (int)(key & 7);
        if (field == 1 && wt == 1 && i + 8 <= n) {
            uint64_t u = rd_le(p + i, 8);
            memcpy(&ev->wall_time, &u, 8);
            i += 8;
        } else if (field == 2 && wt == 0) {
            uint64_t v;
            if (rd_varint(p, n, &i, &v))
                return -1;
            ev->step = (int64_t)v;
        } else if ((field == 3 || field == 5 || field == 7) && wt == 2) {
            if (rd_varint(p, n, &i, &len) || len > n - i)
                return -1;
            const uint8_t *q = p + i;
            size_t m = (size_t)len, j = 0;
            i += m;
            if (field == 3) {
                if (m >= sizeof ev->version)
                    return -1;
                memcpy(ev->version, q, m);
            } else if (field == 7) {
                uint64_t k2, st;
                if (rd_varint(q, m, &j, &k2) || k2 != 8 || rd_varint(q, m, &j, &st) || j != m)
                    return -1;
                ev->session_start = st == 1;
            } else {
                while (j < m) { /* Summary: repeated Value value = 1 */
                    uint64_t k2, vl;
                    if (rd_varint(q, m, &j, &k2) || k2 != ((1 << 3) | 2) ||
                        rd_varint(q, m, &j, &vl) || vl > m - j || ev->nvalues >= 8)
                        return -1;
                    const uint8_t *r = q + j;
                    size_t rn = (size_t)vl, k = 0;
                    j += rn;
                    while (k < rn) {
                        uint64_t k3, tl;
                        if (rd_varint(r, rn, &k, &k3))
                            return -1;
                        if (k3 == ((1 << 3) | 2)) { /* tag */
                            if (rd_varint(r, rn, &k, &tl) || tl > rn - k || tl >= 160)
                                return -1;
                            memcpy(ev->tags[ev->nvalues], r + k, (size_t)tl);
                            k += (size_t)tl;
                        } else if (k3 == ((2 << 3) | 5) && k + 4 <= rn) { /* simple_value */
                            uint32_t u = (uint32_t)rd_le(r + k, 4);
                            memcpy(&ev->values[ev->nvalues], &u, 4);
                            k += 4;
                        } else
                            return -1;
                    }
                    ev->nvalues++;
                }
            }
        } else
            return -1;
    }
    return 0;
}

/* read a whole event file into records; returns the count, or -1 on a
 * framing or CRC error (why in *bad) */
static int read_events(const char *path, Ev *evs, int max, const char **bad)
{
    FILE *f = fopen(path, "rb");
    *bad = "cannot open";
    if (!f)
        return -1;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t i = 0;
    int k = 0;
    while (i < n) {
        if (n - i < 12) {
            *bad = "truncated header";
            return -1;
        }
        uint64_t len = rd_le(buf + i, 8);
        if ((uint32_t)rd_le(buf + i + 8, 4) != masked(buf + i, 8)) {
            *bad = "length CRC";
            return -1;
        }
        if (len > n - i - 12 || n - i - 12 - len < 4) {
            *bad = "truncated data";
            return -1;
        }
        const uint8_t *d = buf + i + 12;
        if ((uint32_t)rd_le(d + len, 4) != masked(d, (size_t)len)) {
            *bad = "data CRC";
            return -1;
        }
        if (k >= max || decode_event(d, (size_t)len, &evs[k])) {
            *bad = "bad event";
            return -1;
        }
        k++;
        i += 12 + (size_t)len + 4;
    }
    return k;
}

static int hex_equals(const uint8_t *got, size_t n, const char *hex)
{
    size_t k = 0;
    for (const char *h = hex; *h; h++) {
        if (*h == ' ')
            continue;
        unsigned v;
        if (sscanf(h, "%2x", &v) != 1 || k >= n || got[k] != v)
            return 0;
        k++;
        h++;
    }
    return k == n;
}

int main(void)
{
    /* ---- CRC-32C: RFC 3720 B.4 and the check value ---- */
    uint8_t zeros[32] = { 0 }, ones[32], up[32], down[32];
    for (int i = 0; i < 32; i++)
        ones[i] = 0xff, up[i] = (uint8_t)i, down[i] = (uint8_t)(31 - i);
    CHECK(rn_crc32c(0, "123456789", 9) == 0xE3069283u, "crc32c: check value 123456789",
          "got %08x", rn_crc32c(0, "123456789", 9));
    CHECK(rn_crc32c(0, "", 0) == 0, "crc32c: empty", "got %08x", rn_crc32c(0, "", 0));
    CHECK(rn_crc32c(0, zeros, 32) == 0x8A9136AAu && rn_crc32c(0, ones, 32) == 0x62A8AB43u &&
              rn_crc32c(0, up, 32) == 0x46DD794Eu && rn_crc32c(0, down, 32) == 0x113FDB5Cu,
          "crc32c: RFC 3720 vectors", "%08x %08x %08x %08x", rn_crc32c(0, zeros, 32),
          rn_crc32c(0, ones, 32), rn_crc32c(0, up, 32), rn_crc32c(0, down, 32));
    {
        uint8_t big[1000];
        for (int i = 0; i < 1000; i++)
            big[i] = (uint8_t)(i * 7 + (i >> 3));
        uint32_t whole = rn_crc32c(0, big, 1000);
        uint32_t parts = rn_crc32c(rn_crc32c(rn_crc32c(0, big, 1), big + 1, 500), big + 501, 499);
        CHECK(whole == parts && whole == crc_bitwise(big, 1000),
              "crc32c: chained = whole = bitwise", "%08x %08x %08x", whole, parts,
              crc_bitwise(big, 1000));
    }
    CHECK(rn_crc32c_mask(0) == 0xa282ead8u &&
              rn_crc32c_mask(0x12345678u) ==
                  (uint32_t)(((0x12345678u >> 15) | (0x12345678u << 17)) + 0xa282ead8u),
          "crc32c: mask", "mask(0) = %08x", rn_crc32c_mask(0));

    /* ---- protobuf bytes, worked out by hand ---- */
    uint8_t b[512];
    size_t n = rn_tb_encode_version(b, sizeof b, 1.5, "brain.Event:2");
    CHECK(n == 24 && hex_equals(b, n, "09 000000000000f83f 1a 0d 627261696e2e4576656e743a32"),
          "encode: file_version event", "%zu bytes", n);
    /* wall_time 1.5, step 3, summary{value{tag "a", simple_value 1.0}} */
    const char *tags1[] = { "a" };
    float vals1[] = { 1.0f };
    n = rn_tb_encode_scalars(b, sizeof b, 1.5, 3, 1, tags1, vals1);
    CHECK(hex_equals(b, n, "09 000000000000f83f 10 03 2a 0a 0a 08 0a 01 61 15 0000803f"),
          "encode: one scalar", "%zu bytes", n);
    /* two values, a step needing two varint bytes (300 = ac 02) */
    const char *tags2[] = { "x/y", "z" };
    float vals2[] = { -2.0f, 0.5f };
    n = rn_tb_encode_scalars(b, sizeof b, 0.0, 300, 2, tags2, vals2);
    CHECK(hex_equals(b, n, "09 0000000000000000 10 ac02 2a 16"
                           " 0a 0a 0a 03 782f79 15 000000c0"
                           " 0a 08 0a 01 7a 15 0000003f"),
          "encode: two scalars, two-byte step", "%zu bytes", n);
    n = rn_tb_encode_start(b, sizeof b, 2.0, 7);
    CHECK(hex_equals(b, n, "09 0000000000000040 10 07 3a 02 08 01"), "encode: SessionLog START",
          "%zu bytes", n);
    /* snprintf convention: a short buffer gets the length needed, no overrun */
    uint8_t small[8];
    memset(small, 0xEE, sizeof small);
    size_t need = rn_tb_encode_scalars(small, 4, 1.5, 3, 1, tags1, vals1);
    CHECK(need == 23 && small[4] == 0xEE && small[0] == 0x09, "encode: measures past cap",
          "need %zu", need);
    /* a tag longer than 127 bytes: two-byte lengths at every level */
    char longtag[151];
    memset(longtag, 'q', 150);
    longtag[150] = '\0';
    const char *tags3[] = { longtag };
    n = rn_tb_encode_scalars(b, sizeof b, 0.0, 1, 1, tags3, vals1);
    Ev ev;
    CHECK(n <= sizeof b && decode_event(b, n, &ev) == 0 && ev.nvalues == 1 &&
              strlen(ev.tags[0]) == 150 && ev.values[0] == 1.0f && ev.step == 1,
          "encode: long tag round-trips", "%zu bytes", n);

    /* ---- framing: TensorFlow's well-known first 12 bytes of an event file ---- */
    uint8_t hdr[12], ftr[4];
    n = rn_tb_encode_version(b, sizeof b, 1.5, "brain.Event:2");
    rn_tb_frame(hdr, ftr, b, n);
    CHECK(hex_equals(hdr, 12, "1800000000000000 a37f4b22") &&
              rd_le(ftr, 4) == masked(b, n),
          "frame: header of a 24-byte record, data CRC", "%02x %02x %02x %02x", hdr[8], hdr[9],
          hdr[10], hdr[11]);

    /* ---- the writer, read back ---- */
    char dir[] = "/tmp/rnet_test_tblog.XXXXXX";
    if (!mkdtemp(dir)) {
        printf("FAIL setup: mkdtemp\n");
        return 1;
    }
    char err[512];
    RnTbLog *t = NULL, *t2 = NULL;
    int rc = rn_tblog_open(&t, dir, 1700000000.25, err, sizeof err);
    char expect[512];
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    snprintf(expect, sizeof expect, "%s/events.out.tfevents.1700000000.", dir);
    CHECK(rc == 0 && !strncmp(rn_tblog_path(t), expect, strlen(expect)),
          "writer: file name events.out.tfevents.<time>.<host>", "%s",
          rc ? err : rn_tblog_path(t));
    int rc2 = rn_tblog_open(&t2, dir, 1700000000.75, err, sizeof err);
    CHECK(rc == 0 && rc2 == 0 && strcmp(rn_tblog_path(t), rn_tblog_path(t2)) != 0,
          "writer: a second file in the same second gets another name", "%s",
          rc2 ? err : rn_tblog_path(t2));
    if (rc == 0) {
        const char *tg[] = { "train/loss", "train/lr" };
        int bad = 0;
        for (int s = 1; s <= 5; s++) {
            float v[2] = { 1.0f / (float)s, 0.1f };
            bad |= rn_tblog_scalars(t, s * 10, 1700000001.0 + s, 2, tg, v, err, sizeof err);
        }
        bad |= rn_tblog_start(t, 51, 1700000010.0, err, sizeof err);
        bad |= rn_tblog_flush(t, err, sizeof err);
        char path[600];
        snprintf(path, sizeof path, "%s", rn_tblog_path(t));
        bad |= rn_tblog_close(t, err, sizeof err);
        Ev evs[16];
        const char *why = "";
        int k = read_events(path, evs, 16, &why);
        int ok = !bad && k == 7 && !strcmp(evs[0].version, "brain.Event:2") &&
                 evs[0].wall_time == 1700000000.25 && evs[6].session_start && evs[6].step == 51;
        for (int s = 1; ok && s <= 5; s++)
            ok = evs[s].step == s * 10 && evs[s].nvalues == 2 &&
                 !strcmp(evs[s].tags[0], "train/loss") && !strcmp(evs[s].tags[1], "train/lr") &&
                 evs[s].values[0] == 1.0f / (float)s && evs[s].values[1] == 0.1f &&
                 evs[s].wall_time == 1700000001.0 + s;
        CHECK(ok, "writer: records read back, CRCs valid, values exact", "%d records (%s) %s",
              k, k < 0 ? why : "", bad ? err : "");

        /* one flipped byte anywhere is caught by a CRC */
        FILE *f = fopen(path, "rb");
        static uint8_t file[4096];
        size_t fn = f ? fread(file, 1, sizeof file, f) : 0;
        if (f)
            fclose(f);
        int caught = 0, tried = 0;
        char mpath[620];
        snprintf(mpath, sizeof mpath, "%s.mut", path);
        for (size_t at = 0; at < fn; at += 7) {
            file[at] ^= 0x10;
            FILE *g = fopen(mpath, "wb");
            if (g) {
                fwrite(file, 1, fn, g);
                fclose(g);
            }
            file[at] ^= 0x10;
            tried++;
            caught += read_events(mpath, evs, 16, &why) < 0;
        }
        remove(mpath);
        CHECK(tried > 10 && caught == tried, "writer: every corrupted byte is detected",
              "%d of %d", caught, tried);
    }
    rn_tblog_close(t2, NULL, 0);

    RnTbLog *t3 = NULL;
    rc = rn_tblog_open(&t3, "/nonexistent/dir", 1.0, err, sizeof err);
    CHECK(rc == -1 && !t3 && strstr(err, "/nonexistent/dir/events.out.tfevents.1.") &&
              strstr(err, "No such file"),
          "writer: a missing directory is named", "%s", err);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    CHECK_DONE();
}
