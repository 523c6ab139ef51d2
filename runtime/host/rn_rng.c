/* rn_rng.c - seeding, bounded integers, normals and shuffling on top of the
 * xoshiro256** core in rn_rng.h.
 *
 * The reference for the core, the jump polynomial and splitmix64 is
 * Blackman & Vigna, "Scrambled linear pseudorandom number generators"
 * (prng.di.unimi.it).  Bounded integers use Lemire's multiply-and-reject
 * method, so every value in [0, n) is exactly equally likely.
 */
#include "rn_rng.h"

#include <math.h>
#include <stddef.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rn_rng_seed(RnRng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    /* splitmix64 is a bijection of its counter, so four consecutive outputs
     * are never all zero; the check costs nothing and documents the rule. */
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
        r->s[0] = 1;
}

void rn_rng_seed_stream(RnRng *r, uint64_t seed, uint64_t stream, uint64_t index)
{
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ stream;
    h = splitmix64(&x);
    x = h ^ index;
    h = splitmix64(&x);
    rn_rng_seed(r, h);
}

void rn_rng_get_state(const RnRng *r, uint64_t state[4])
{
    for (int i = 0; i < 4; i++)
        state[i] = r->s[i];
}

int rn_rng_set_state(RnRng *r, const uint64_t state[4])
{
    if ((state[0] | state[1] | state[2] | state[3]) == 0)
        return -1;
    for (int i = 0; i < 4; i++)
        r->s[i] = state[i];
    return 0;
}

void rn_rng_jump(RnRng *r)
{
    static const uint64_t jump[4] = {
        0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
        0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL,
    };
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int i = 0; i < 4; i++) {
        for (int b = 0; b < 64; b++) {
            if (jump[i] & ((uint64_t)1 << b)) {
                s0 ^= r->s[0];
                s1 ^= r->s[1];
                s2 ^= r->s[2];
                s3 ^= r->s[3];
            }
            (void)rn_rng_u64(r);
        }
    }
    r->s[0] = s0;
    r->s[1] = s1;
    r->s[2] = s2;
    r->s[3] = s3;
}

uint32_t rn_rng_below(RnRng *r, uint32_t n)
{
    /* Lemire: the high word of x*n is uniform once the low word is outside
     * the short band 2^32 mod n at the bottom. */
    uint64_t m = (uint64_t)rn_rng_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (lo < threshold) {
            m = (uint64_t)rn_rng_u32(r) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

int rn_rng_range(RnRng *r, int lo, int hi)
{
    uint32_t span = (uint32_t)((int64_t)hi - (int64_t)lo + 1);
    if (span == 0) /* the full 32-bit range */
        return (int)rn_rng_u32(r);
    return (int)((int64_t)lo + rn_rng_below(r, span));
}

float rn_rng_normal(RnRng *r)
{
    /* u1 in (0, 1] so the log is finite. */
    double u1 = 1.0 - rn_rng_double(r);
    double u2 = rn_rng_double(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void rn_rng_shuffle_u32(RnRng *r, uint32_t *a, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rn_rng_below(r, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
