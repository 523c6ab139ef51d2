/* rn_rng.h - the one random number generator of the runtime.
 *
 * xoshiro256** (Blackman & Vigna, 2018): 256 bits of state, period 2^256-1,
 * a handful of shifts and multiplies per draw, and a state that is four
 * plain 64-bit words, so a checkpoint saves it and a resumed run restores it
 * exactly (rn_rng_get_state / rn_rng_set_state).  Seeds are expanded into
 * the state with splitmix64, as the authors recommend, so any 64-bit seed -
 * 0 included - gives a good state.
 *
 * Everything random in a training run (weight init, shuffling, augmentation,
 * dropout) draws from an RnRng seeded from the run's seed; nothing calls
 * rand().  rn_rng_seed_stream derives independent generators from one seed
 * and two counters (say, an epoch and an example's position), so a stream
 * can be re-created from numbers a checkpoint already holds instead of
 * being replayed.
 *
 *     RnRng r;
 *     rn_rng_seed(&r, 42);
 *     float u = rn_rng_float(&r);          // [0, 1)
 *     int   k = rn_rng_range(&r, -2, 2);   // -2..2 inclusive
 */
#ifndef RN_RNG_H
#define RN_RNG_H

#include <stdint.h>

typedef struct RnRng {
    uint64_t s[4];
} RnRng;

/* Seed from one 64-bit value (splitmix64 expansion). */
void rn_rng_seed(RnRng *r, uint64_t seed);

/* Seed a generator that depends on (seed, stream, index) through a hash, so
 * nearby arguments give unrelated streams. */
void rn_rng_seed_stream(RnRng *r, uint64_t seed, uint64_t stream, uint64_t index);

/* Copy the state out / in (s[0..3]).  set_state returns -1 and leaves r
 * unchanged for the all-zero state, the one state xoshiro never leaves. */
void rn_rng_get_state(const RnRng *r, uint64_t state[4]);
int rn_rng_set_state(RnRng *r, const uint64_t state[4]);

/* Advance by 2^128 draws: call it k times on copies of one generator to get
 * k non-overlapping streams (one per thread or MPI rank). */
void rn_rng_jump(RnRng *r);

static inline uint64_t rn_rng_rotl_(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* Next 64 random bits. */
static inline uint64_t rn_rng_u64(RnRng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rn_rng_rotl_(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rn_rng_rotl_(s[3], 45);
    return result;
}

static inline uint32_t rn_rng_u32(RnRng *r)
{
    return (uint32_t)(rn_rng_u64(r) >> 32);
}

/* Uniform in [0, 1), 24 random bits (every float of the form k * 2^-24). */
static inline float rn_rng_float(RnRng *r)
{
    return (float)(rn_rng_u64(r) >> 40) * 0x1.0p-24f;
}

/* Uniform in [0, 1), 53 random bits. */
static inline double rn_rng_double(RnRng *r)
{
    return (double)(rn_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n), without modulo bias; n must be > 0. */
uint32_t rn_rng_below(RnRng *r, uint32_t n);

/* Uniform integer in [lo, hi], both inclusive; lo <= hi. */
int rn_rng_range(RnRng *r, int lo, int hi);

/* Standard normal (Box-Muller; one value per call, so the state stays just
 * the four words). */
float rn_rng_normal(RnRng *r);

/* Fisher-Yates shuffle of a[0..n) in place. */
void rn_rng_shuffle_u32(RnRng *r, uint32_t *a, uint32_t n);

#endif
