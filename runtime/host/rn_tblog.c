/* rn_tblog.c - TensorBoard event files: CRC-32C, protobuf encoding by
 * hand, TFRecord framing, and a small writer (see rn_tblog.h).
 *
 * The encoders write through a cursor that counts every byte but stores
 * only those that fit, so one pass both measures and writes a message;
 * the writer keeps a growing buffer and encodes each event once, or twice
 * when it outgrows the buffer.  Nested messages (Summary inside Event,
 * Value inside Summary) are length-prefixed, so their sizes are computed
 * first by encoding them into a NULL buffer.
 */
#include "rn_tblog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rn_err.h"

/* ---- CRC-32C ------------------------------------------------------------- */

/* table[b] = the CRC register after shifting byte b through it (reflected
 * polynomial 0x82F63B78), built once on first use */
static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[b] = c;
    }
    crc_ready = 1;
}

uint32_t rn_crc32c(uint32_t crc, const void *data, size_t n)
{
    if (!crc_ready)
        crc_init(); /* idempotent: a racing second init writes the same values */
    const uint8_t *p = data;
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return ~c;
}

uint32_t rn_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- protobuf wire format ------------------------------------------------ */

typedef struct {
    uint8_t *buf;   /* NULL: measure only */
    size_t cap, n;  /* n counts every byte, stored or not */
} Enc;

static void put_byte(Enc *e, uint8_t b)
{
    if (e->buf && e->n < e->cap)
        e->buf[e->n] = b;
    e->n++;
}

static void put_varint(Enc *e, uint64_t v)
{
    while (v >= 0x80) {
        put_byte(e, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_byte(e, (uint8_t)v);
}

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static void put_key(Enc *e, int field, int wire_type)
{
    put_varint(e, (uint64_t)field << 3 | (uint64_t)wire_type);
}

static void put_le(Enc *e, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        put_byte(e, (uint8_t)(v >> (8 * i)));
}

static void put_double(Enc *e, int field, double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
    put_key(e, field, WT_I64);
    put_le(e, u, 8);
}

static void put_float(Enc *e, int field, float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    put_key(e, field, WT_I32);
    put_le(e, u, 4);
}

static void put_bytes(Enc *e, int field, const void *s, size_t n)
{
    put_key(e, field, WT_LEN);
    put_varint(e, n);
    for (size_t i = 0; i < n; i++)
        put_byte(e, ((const uint8_t *)s)[i]);
}

/* field numbers of event.proto and summary.proto */
enum {
    EVENT_WALL_TIME = 1, EVENT_STEP = 2, EVENT_FILE_VERSION = 3, EVENT_SUMMARY = 5,
    EVENT_SESSION_LOG = 7,
    SUMMARY_VALUE = 1,
    VALUE_TAG = 1, VALUE_SIMPLE_VALUE = 2,
    SESSION_LOG_STATUS = 1, SESSION_START = 1,
};

/* Summary.Value{tag, simple_value} */
static void put_value(Enc *e, const char *tag, float v)
{
    put_bytes(e, VALUE_TAG, tag, strlen(tag));
    put_float(e, VALUE_SIMPLE_VALUE, v);
}

static size_t value_size(const char *tag, float v)
{
    Enc m = { 0 };
    put_value(&m, tag, v);
    return m.n;
}

size_t rn_tb_encode_version(uint8_t *buf, size_t cap, double wall_time, const char *version)
{
    Enc e = { buf, cap, 0 };
    put_double(&e, EVENT_WALL_TIME, wall_time);
    put_bytes(&e, EVENT_FILE_VERSION, version, strlen(version));
    return e.n;
}

size_t rn_tb_encode_scalars(uint8_t *buf, size_t cap, double wall_time, int64_t step, int n,
                            const char *const *tags, const float *values)
{
    Enc e = { buf, cap, 0 };
    put_double(&e, EVENT_WALL_TIME, wall_time);
    put_key(&e, EVENT_STEP, WT_VARINT);
    put_varint(&e, (uint64_t)step); /* int64: negative steps take 10 bytes, as protobuf says */
    size_t summary = 0;
    for (int i = 0; i < n; i++) {
        size_t vs = value_size(tags[i], values[i]);
        Enc k = { 0 };
        put_key(&k, SUMMARY_VALUE, WT_LEN);
        put_varint(&k, vs);
        summary += k.n + vs;
    }
    put_key(&e, EVENT_SUMMARY, WT_LEN);
    put_varint(&e, summary);
    for (int i = 0; i < n; i++) {
        put_key(&e, SUMMARY_VALUE, WT_LEN);
        put_varint(&e, value_size(tags[i], values[i]));
        put_value(&e, tags[i], values[i]);
    }
    return e.n;
}

size_t rn_tb_encode_start(uint8_t *buf, size_t cap, double wall_time, int64_t step)
{
    Enc e = { buf, cap, 0 };
    put_double(&e, EVENT_WALL_TIME, wall_time);
    put_key(&e, EVENT_STEP, WT_VARINT);
    put_varint(&e, (uint64_t)step);
    Enc s = { 0 };
    put_key(&s, SESSION_LOG_STATUS, WT_VARINT);
    put_varint(&s, SESSION_START);
    put_key(&e, EVENT_SESSION_LOG, WT_LEN);
    put_varint(&e, s.n);
    put_key(&e, SESSION_LOG_STATUS, WT_VARINT);
    put_varint(&e, SESSION_START);
    return e.n;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void rn_tb_frame(uint8_t header[12], uint8_t footer[4], const void *data, size_t n)
{
    uint64_t len = n;
    for (int i = 0; i < 8; i++)
        header[i] = (uint8_t)(len >> (8 * i));
    le32(header + 8, rn_crc32c_mask(rn_crc32c(0, header, 8)));
    le32(footer, rn_crc32c_mask(rn_crc32c(0, data, n)));
}

/* ---- the writer ------------------------------------------------------------ */

struct RnTbLog {
    FILE *f;
    char *path;
    uint8_t *buf;
    size_t cap;
    int failed;     /* a write failed: errno saved in err_no */
    int err_no;
};

double rn_wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* a host name safe in a file name: letters, digits, '-', '_' and '.' */
static void host_name(char *out, size_t n)
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0 || !h[0])
        snprintf(h, sizeof h, "localhost");
    h[sizeof h - 1] = '\0';
    size_t k = 0;
    for (const char *p = h; *p && k + 1 < n; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        out[k++] = ok ? c : '_';
    }
    out[k] = '\0';
}

static int write_record(RnTbLog *t, const uint8_t *data, size_t n)
{
    uint8_t header[12], footer[4];
    rn_tb_frame(header, footer, data, n);
    if (fwrite(header, 1, 12, t->f) != 12 || (n && fwrite(data, 1, n, t->f) != n) ||
        fwrite(footer, 1, 4, t->f) != 4) {
        if (!t->failed)
            t->failed = 1, t->err_no = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

static int fail_io(RnTbLog *t, char *err, size_t errlen, const char *what)
{
    return rn_fail(err, errlen, "%s: %s: %s", t->path, what,
                   strerror(t->err_no ? t->err_no : EIO));
}

/* make sure t->buf holds need bytes */
static int reserve(RnTbLog *t, size_t need, char *err, size_t errlen)
{
    if (need <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *b = realloc(t->buf, cap);
    if (!b)
        return rn_fail(err, errlen, "%s: out of memory for an event of %zu bytes", t->path, need);
    t->buf = b;
    t->cap = cap;
    return 0;
}

int rn_tblog_open(RnTbLog **out, const char *dir, double wall_time, char *err, size_t errlen)
{
    *out = NULL;
    RnTbLog *t = calloc(1, sizeof *t);
    char host[128];
    host_name(host, sizeof host);
    size_t plen = strlen(dir) + strlen(host) + 64;
    if (!t || !(t->path = malloc(plen))) {
        free(t);
        return rn_fail(err, errlen, "%s: out of memory", dir);
    }
    const char *sep = dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/";
    long long secs = (long long)wall_time;
    int fd = -1;
    for (int k = 0; k < 1000 && fd < 0; k++) {
        if (k == 0)
            snprintf(t->path, plen, "%s%sevents.out.tfevents.%lld.%s", dir, sep, secs, host);
        else
            snprintf(t->path, plen, "%s%sevents.out.tfevents.%lld.%s.%d", dir, sep, secs, host, k);
        fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0 || !(t->f = fdopen(fd, "wb"))) {
        int e = errno;
        rn_fail(err, errlen, "%s: cannot create an event file: %s", t->path, strerror(e));
        if (fd >= 0)
            close(fd);
        free(t->path);
        free(t);
        return -1;
    }
    const char *version = "brain.Event:2";
    size_t n = rn_tb_encode_version(NULL, 0, wall_time, version);
    if (reserve(t, n, err, errlen)) {
        rn_tblog_close(t, NULL, 0);
        return -1;
    }
    rn_tb_encode_version(t->buf, t->cap, wall_time, version);
    if (write_record(t, t->buf, n) || fflush(t->f) != 0) {
        if (!t->failed)
            t->err_no = errno;
        fail_io(t, err, errlen, "write failed");
        rn_tblog_close(t, NULL, 0);
        return -1;
    }
    *out = t;
    return 0;
}

const char *rn_tblog_path(const RnTbLog *t)
{
    return t->path;
}

int rn_tblog_scalars(RnTbLog *t, int64_t step, double wall_time, int n, const char *const *tags,
                     const float *values, char *err, size_t errlen)
{
    size_t len = rn_tb_encode_scalars(NULL, 0, wall_time, step, n, tags, values);
    if (reserve(t, len, err, errlen))
        return -1;
    rn_tb_encode_scalars(t->buf, t->cap, wall_time, step, n, tags, values);
    if (write_record(t, t->buf, len))
        return fail_io(t, err, errlen, "write failed");
    return 0;
}

int rn_tblog_start(RnTbLog *t, int64_t step, double wall_time, char *err, size_t errlen)
{
    size_t len = rn_tb_encode_start(NULL, 0, wall_time, step);
    if (reserve(t, len, err, errlen))
        return -1;
    rn_tb_encode_start(t->buf, t->cap, wall_time, step);
    if (write_record(t, t->buf, len))
        return fail_io(t, err, errlen, "write failed");
    return 0;
}

int rn_tblog_flush(RnTbLog *t, char *err, size_t errlen)
{
    if (!t->failed && fflush(t->f) != 0)
        t->failed = 1, t->err_no = errno;
    if (t->failed)
        return fail_io(t, err, errlen, "write failed");
    return 0;
}

int rn_tblog_close(RnTbLog *t, char *err, size_t errlen)
{
    if (!t)
        return 0;
    int rc = 0;
    if (t->f) {
        if (!t->failed && (fflush(t->f) != 0 || ferror(t->f)))
            t->failed = 1, t->err_no = errno;
        if (fclose(t->f) != 0 && !t->failed)
            t->failed = 1, t->err_no = errno;
    }
    if (t->failed)
        rc = fail_io(t, err, errlen, "write failed");
    free(t->buf);
    free(t->path);
    free(t);
    return rc;
}
