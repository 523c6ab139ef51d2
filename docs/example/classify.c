/* classify.c - a program of one's own that uses a network rnetc compiled:
 * it decodes each image named on the command line (PNG or PGM) with the
 * rnet runtime's decoder, fits it to the model's input, normalises it as
 * the model was trained, and prints the most likely class.
 *
 * mnist.h and mnist.o come from rnetc (see the Makefile beside this file):
 *   rnetc mnist.rnet --backend llvm --inference-only --weights W --emit obj -o mnist.o
 *   rnetc mnist.rnet --backend llvm --inference-only --weights W --emit h -o mnist.h
 * rnm_mnist_infer runs one image with the trained weights built in; it
 * allocates nothing and calls nothing.  The decoder is in the runtime
 * library: cc classify.c mnist.o $(pkg-config --cflags --libs rnet). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "mnist.h"
#include "rn_image.h"

#define C rnm_mnist_IN_C
#define H rnm_mnist_IN_H
#define W rnm_mnist_IN_W
#define K rnm_mnist_CLASSES
#if C != 1
#error "this example feeds one-channel (gray) images"
#endif

int main(int argc, char **argv)
{
    static const float mean[C] = rnm_mnist_MEAN, stdev[C] = rnm_mnist_STD;
    static float work[rnm_mnist_INFER_WORK_FLOATS], x[C * H * W];
    if (argc < 2) {
        fprintf(stderr, "usage: %s IMAGE...\n", argv[0]);
        return 2;
    }
    int status = 0;
    for (int a = 1; a < argc; a++) {
        char err[256];
        rn_image img = { 0 }, gray = { 0 }, fit = { 0 };
        /* the model's input: one channel (luma), then a bilinear resize */
        int ok = rn_image_read(argv[a], &img, err, sizeof err) == 0 &&
                 rn_image_to_gray(&img, &gray, err, sizeof err) == 0 &&
                 rn_image_resize(&gray, W, H, RN_RESIZE_BILINEAR, &fit, err, sizeof err) == 0;
        rn_image_free(&img);
        rn_image_free(&gray);
        if (!ok) {
            fprintf(stderr, "%s\n", err);
            rn_image_free(&fit);
            status = 1;
            continue;
        }
        for (int i = 0; i < H * W; i++)
            x[i] = (fit.data[i] / 255.0f - mean[0]) / stdev[0];
        rn_image_free(&fit);

        float logits[K];
        rnm_mnist_infer(x, logits, work);
        int best = 0;
        double z = 0;
        for (int k = 0; k < K; k++) {
            if (logits[k] > logits[best])
                best = k;
        }
        for (int k = 0; k < K; k++)
            z += exp((double)logits[k] - logits[best]);
        printf("%s: %d (p = %.4f)\n", argv[a], best, 1.0 / z);
    }
    return status;
}
