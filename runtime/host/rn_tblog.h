/* rn_tblog.h - TensorBoard event files, written without TensorFlow.
 *
 * `train --log-dir DIR` writes DIR/events.out.tfevents.<unix time>.<host>,
 * the file TensorBoard's scalar dashboard reads.  The format has two
 * layers, both small enough to write by hand:
 *
 * TFRecord framing, one record per event, all integers little-endian:
 *
 *     u64  length                      of the data
 *     u32  masked_crc32c(length)       over the 8 bytes above
 *     u8   data[length]                one serialized Event
 *     u32  masked_crc32c(data)
 *
 *     masked_crc32c(x) = rotr(crc32c(x), 15) + 0xa282ead8   (mod 2^32)
 *
 * where crc32c is the Castagnoli CRC (reflected polynomial 0x82F63B78,
 * initial value and final xor 0xFFFFFFFF).
 *
 * Protocol-buffer messages (tensorboard/compat/proto/event.proto and
 * summary.proto; only the fields written here):
 *
 *     message Event      { double wall_time = 1;  int64 step = 2;
 *                          oneof what { string file_version = 3;
 *                                       Summary summary = 5;
 *                                       SessionLog session_log = 7; } }
 *     message Summary    { repeated Value value = 1;
 *                          message Value { string tag = 1; float simple_value = 2; } }
 *     message SessionLog { SessionStatus status = 1; }   START = 1
 *
 * encoded as protobuf's wire format: a key varint (field << 3 | wire
 * type), then a varint (type 0), 8 little-endian bytes (type 1, the
 * double), a varint length and the bytes (type 2: strings, messages) or 4
 * little-endian bytes (type 5, the float).
 *
 * The first record of a file is Event{wall_time, file_version =
 * "brain.Event:2"}.  A resumed run starts a new file and writes a
 * SessionLog START at its first new step: TensorBoard then drops the
 * points of earlier files at that step and later, which a run that went on
 * past its last checkpoint had written.
 *
 * Every function that can fail returns 0 or -1 with one line naming the
 * file in err; nothing prints or exits.
 */
#ifndef RN_TBLOG_H
#define RN_TBLOG_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli) of n bytes, continuing from crc (0 to start):
 * rn_crc32c(rn_crc32c(0, a, na), b, nb) == rn_crc32c(0, a ++ b, na + nb).
 * rn_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t rn_crc32c(uint32_t crc, const void *data, size_t n);

/* TFRecord's mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t rn_crc32c_mask(uint32_t crc);

/* ---- encoding (exposed for tests) ----------------------------------------
 * Each encoder writes at most cap bytes to buf and returns the length the
 * whole message needs (snprintf's convention): a result above cap means
 * the output was cut and the caller must retry with a larger buffer. */

/* Event{wall_time, file_version} */
size_t rn_tb_encode_version(uint8_t *buf, size_t cap, double wall_time, const char *version);

/* Event{wall_time, step, summary{value{tag[i], simple_value = value[i]}...}} */
size_t rn_tb_encode_scalars(uint8_t *buf, size_t cap, double wall_time, int64_t step, int n,
                            const char *const *tags, const float *values);

/* Event{wall_time, step, session_log{status = START}} */
size_t rn_tb_encode_start(uint8_t *buf, size_t cap, double wall_time, int64_t step);

/* The 12-byte header (length, masked CRC of the length) and 4-byte footer
 * (masked CRC of the data) that frame n bytes of data as a record. */
void rn_tb_frame(uint8_t header[12], uint8_t footer[4], const void *data, size_t n);

/* ---- the writer ------------------------------------------------------------ */

typedef struct RnTbLog RnTbLog;

/* Create a new event file in the existing directory dir (never
 * overwriting one: a name already taken gets a ".1", ".2"... suffix) and
 * write its file_version record.  wall_time is seconds since the epoch;
 * its integer part names the file. */
int rn_tblog_open(RnTbLog **out, const char *dir, double wall_time, char *err, size_t errlen);

/* The file's path. */
const char *rn_tblog_path(const RnTbLog *t);

/* One event with n scalars at step. */
int rn_tblog_scalars(RnTbLog *t, int64_t step, double wall_time, int n, const char *const *tags,
                     const float *values, char *err, size_t errlen);

/* A SessionLog START at step (a resumed run). */
int rn_tblog_start(RnTbLog *t, int64_t step, double wall_time, char *err, size_t errlen);

/* Hand what was written to the operating system, so TensorBoard sees it. */
int rn_tblog_flush(RnTbLog *t, char *err, size_t errlen);

/* Flush and close; t may be NULL.  0, or -1 if anything written was lost. */
int rn_tblog_close(RnTbLog *t, char *err, size_t errlen);

/* Seconds since the epoch (CLOCK_REALTIME), for wall_time. */
double rn_wall_time(void);

#endif
