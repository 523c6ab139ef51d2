/* fuzz_safetensors.c - libFuzzer entry point for the checkpoint reader.
 *
 * Feeds arbitrary bytes to rn_st_open_mem and, when a file is accepted,
 * walks everything the API hands out (tensors, lookups, copies, metadata),
 * so a sanitizer sees any read the validation should have prevented.
 * Built and run by tools/fuzz.sh --target safetensors; by hand (rn_err.c
 * for rn_fail and rn_fault_point):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iruntime/host \
 *       tests/fuzz/fuzz_safetensors.c runtime/host/rn_safetensors.c \
 *       runtime/host/rn_err.c -o /tmp/fz
 *   /tmp/fz -max_total_time=60 */
#include "rn_safetensors.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rn_st_file *f;
    char err[256];
    if (rn_st_open_mem(&f, data, size, "fuzz", err, sizeof err) != 0) {
        if (strlen(err) == 0)
            abort(); /* every refusal must say why */
        return 0;
    }
    for (int i = 0; i < rn_st_count(f); i++) {
        const rn_st_tensor *t = rn_st_at(f, i);
        if (rn_st_find(f, t->name) != t)
            abort();
        size_t n = (size_t)(t->end - t->begin);
        /* Touch every byte the tensor claims. */
        unsigned char sum = 0;
        for (size_t j = 0; j < n; j++)
            sum ^= ((const unsigned char *)t->data)[j];
        (void)sum;
        if (t->dtype == RN_ST_F32 && n <= (1u << 20)) {
            float *dst = malloc(n ? n : 1);
            if (rn_st_expect_f32(f, t->name, t->ndim, t->shape, dst, err, sizeof err) != 0)
                abort();
            free(dst);
        }
    }
    for (int i = 0; i < rn_st_meta_count(f); i++) {
        const char *k, *v;
        rn_st_meta_at(f, i, &k, &v);
        if (rn_st_meta(f, k) != v)
            abort();
    }
    rn_st_find(f, "conv1.weight");
    rn_st_close(f);
    return 0;
}
