/* rn_dropout.h - which elements a dropout layer keeps, one definition for
 * the generated code's kernel (rn_chwn.c) and the reference kernels
 * (host/rn_kernels.inc), so both draw the same mask bit for bit.
 *
 * The mask is a function of the step's key (RnExec.key, set by the
 * training loop from the run's seed and the step), the layer's name
 * and the element's logical index ((n * C + c) * HW + position, whatever
 * the layout): nothing is stored between forward and backward, the
 * backward pass draws the mask again.  An element is kept when 24 bits of
 * a SplitMix64 hash are at least p * 2^24; a kept element is scaled by
 * 1 / (1 - p) (inverted dropout: inference is the identity). */
#ifndef RN_DROPOUT_H
#define RN_DROPOUT_H
#include <stdint.h>

static inline uint64_t rn_dropout_mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* the key of one training step (RnExec.key): a function of the run's seed
 * and the global step, so a resumed run draws the same masks */
static inline uint64_t rn_dropout_step_key(uint64_t seed, long step)
{
    return rn_dropout_mix(rn_dropout_mix(seed ^ 0xD50F0D50F0D50F0Dull) + (uint64_t)step);
}

/* a layer's salt: FNV-1a of its name ("dropout2"), the same in every
 * graph that holds the layer (the source graph the descriptor lists, the
 * fused training graph the code is generated from) */
static inline int rn_dropout_salt(const char *name)
{
    uint32_t h = 2166136261u;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return (int)(h & 0x7fffffff);
}

/* the key of one layer in one step */
static inline uint64_t rn_dropout_layer_key(uint64_t step_key, int salt)
{
    return rn_dropout_mix(step_key ^ rn_dropout_mix((uint64_t)(unsigned)salt));
}

/* p * 2^24 as the threshold the hash is compared with */
static inline uint32_t rn_dropout_threshold(float p)
{
    return (uint32_t)((double)p * 16777216.0);
}

static inline int rn_dropout_keep(uint64_t layer_key, long idx, uint32_t threshold)
{
    return (uint32_t)(rn_dropout_mix(layer_key + (uint64_t)idx) >> 40) >= threshold;
}
#endif
