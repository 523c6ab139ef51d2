/* infer_main.c - a test harness for rnetc's standalone inference objects
 * (--backend llvm --inference-only --weights W --emit obj), built by
 * tools/cross.sh: it links the Cortex-M4F object into an ARM Linux program
 * so that qemu-arm can run the very code a microcontroller would, on test
 * digits, and print the logits in the format of `predict --logits`.
 *
 * Why a separate program: the object needs no runtime, no libc and no heap
 * (that is its point), so the program rnetc builds cannot drive it; this
 * file supplies what a firmware would: the input, normalised exactly as the
 * runtime does (rn_data_fill_image: ((v / 255) - mean) / std in float), a
 * logits array and the work buffer.
 *
 *   cc -DRN_INFER=rnm_mnist_infer -DRN_WORK_FLOATS=N -DRN_CLASSES=10 \
 *      infer_main.c X.o -o prog
 *   prog IDXFILE COUNT MEAN STD      (an uncompressed IDX image file)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(RN_INFER) || !defined(RN_WORK_FLOATS) || !defined(RN_CLASSES)
#error "define RN_INFER, RN_WORK_FLOATS and RN_CLASSES"
#endif

void RN_INFER(const float *x, float *logits, float *work);

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s IDXFILE COUNT MEAN STD\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    long want = atol(argv[2]);
    float mean = strtof(argv[3], NULL), sd = strtof(argv[4], NULL);
    FILE *f = fopen(path, "rb");
    unsigned char head[16];
    if (!f || fread(head, 1, 16, f) != 16 || be32(head) != 0x803) {
        fprintf(stderr, "%s: error: %s is not an uncompressed IDX image file\n", argv[0], path);
        return 1;
    }
    long n = (long)be32(head + 4), hw = (long)be32(head + 8) * (long)be32(head + 12);
    if (want > 0 && want < n)
        n = want;
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = ((float)v / 255.0f - mean) / sd;
    unsigned char *px = malloc((size_t)hw);
    float *x = malloc(sizeof(float) * (size_t)hw);
    float *work = malloc(sizeof(float) * (size_t)RN_WORK_FLOATS);
    float logits[RN_CLASSES];
    if (!px || !x || !work) {
        fprintf(stderr, "%s: error: out of memory\n", argv[0]);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        if (fread(px, 1, (size_t)hw, f) != (size_t)hw) {
            fprintf(stderr, "%s: error: %s: truncated at image %ld\n", argv[0], path, i);
            return 1;
        }
        for (long j = 0; j < hw; j++)
            x[j] = lut[px[j]];
        RN_INFER(x, logits, work);
        printf("%s:%ld: logits", path, i);
        for (int k = 0; k < RN_CLASSES; k++)
            printf(" %.9g", (double)logits[k]);
        printf("\n");
    }
    fclose(f);
    free(px);
    free(x);
    free(work);
    return 0;
}
