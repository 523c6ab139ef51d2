/* test_kernels.c - values of the float reference kernels.
 *
 * test_gradcheck.c proves each backward matches its forward; this file
 * proves the forwards compute the right thing: small cases worked out by
 * hand (or in closed form), the batch-norm statistics as PyTorch keeps
 * them, and the float instantiation (rn_ref_*) agreeing with the double one
 * (dd_*, the same source compiled for double) on random data, forward and
 * backward, so float rounding cannot hide a bug.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>
#include "rn_dropout.h"
#include "check.h"
#include "rn_kernels.h"

#define RN_T double
#define RN_FN(name) dd_##name
#include "rn_kernels_decl.inc"
#include "rn_kernels.inc"
#undef RN_T
#undef RN_FN

/* ------------------------------------------------------------ utilities */

/* max over i of |got - want| / max(1, |want|) */
static double max_err(const float *got, const double *want, long n)
{
    double worst = 0.0;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        if (!(e <= worst)) worst = e;                 // NaN sticks
    }
    return worst;
}

/* got (float) against a hand-written expected array, tolerance 1e-6. */
static void expect(const char *name, const float *got, const double *want, long n)
{
    double e = max_err(got, want, n);
    long at = 0;
    for (long i = 0; i < n; i++)
        if (fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i])) >= 1e-6 || isnan(got[i])) {
            at = i;
            break;
        }
    CHECK(e < 1e-6, name, "max err %.3e; element %ld is %.9g, expected %.9g",
          e, at, (double)got[at], want[at]);
}

static unsigned long long rng_state = 0x2545F4914F6CDD1Dull;

static float urandf(void)              // uniform in [-1, 1)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void *xcalloc(long n, size_t size)
{
    void *p = calloc(n > 0 ? (size_t)n : 1, size);
    if (!p) {
        fprintf(stderr, "test_kernels: out of memory\n");
        exit(2);
    }
    return p;
}

/* A tensor held in both precisions with the same values. */
typedef struct { float *f; double *d; long n; } Pair;

static Pair pair_zero(long n)
{
    Pair p = { xcalloc(n, sizeof(float)), xcalloc(n, sizeof(double)), n };
    return p;
}

static Pair pair_rand(long n, float scale, float offset)
{
    Pair p = pair_zero(n);
    for (long i = 0; i < n; i++) {
        p.f[i] = offset + scale * urandf();
        p.d[i] = (double)p.f[i];
    }
    return p;
}

static void pair_free(Pair *p)
{
    free(p->f);
    free(p->d);
}

/* float result against the double instantiation's. */
static void agree(const char *name, Pair p)
{
    double e = max_err(p.f, p.d, p.n);
    CHECK(e < 1e-5, name, "float and double instantiations differ: max err %.3e", e);
}

/* ---------------------------------------------------------- hand cases */

static void test_conv_hand(void)
{
    float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};          // (1,1,3,3)
    float out[9];

    // 2x2 kernel, no pad, with bias
    float w[4] = {1, 2, 3, 4}, b[1] = {0.5f};
    rn_ref_conv2d_forward(out, in, w, b, 1, 1, 3, 3, 1, 2, 2, 1, 0, 1);
    expect("conv2d 2x2 valid + bias by hand", out, (double[]){37.5, 47.5, 67.5, 77.5}, 4);

    // 3x3 of ones, pad 1: neighbourhood sums
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    rn_ref_conv2d_forward(out, in, ones, NULL, 1, 1, 3, 3, 1, 3, 3, 1, 1, 1);
    expect("conv2d 3x3 pad 1 by hand", out,
           (double[]){12, 21, 16, 27, 45, 33, 24, 39, 28}, 9);

    // the same with stride 2 keeps the corners
    rn_ref_conv2d_forward(out, in, ones, NULL, 1, 1, 3, 3, 1, 3, 3, 2, 1, 1);
    expect("conv2d 3x3 stride 2 pad 1 by hand", out, (double[]){12, 16, 24, 28}, 4);

    // asymmetric 3x3 kernel picks out one neighbour: w[0][0][2][1] = 1 is
    // the pixel below, so out[h][w] = in[h+1][w] with zeros past the border
    float below[9] = {0, 0, 0, 0, 0, 0, 0, 1, 0};
    rn_ref_conv2d_forward(out, in, below, NULL, 1, 1, 3, 3, 1, 3, 3, 1, 1, 1);
    expect("conv2d kernel orientation (cross-correlation, KH then KW)", out,
           (double[]){4, 5, 6, 7, 8, 9, 0, 0, 0}, 9);

    // groups = 2, two samples, 1x1: K=4 filters, 2 per group, C/groups = 1
    float in2[2 * 2 * 2];                               // (2,2,1,2)
    for (int i = 0; i < 8; i++) in2[i] = (float)(i + 1);
    float wg[4] = {1, 2, 3, 4}, bg[4] = {0, 0, 0, 10};
    float outg[2 * 4 * 2];
    rn_ref_conv2d_forward(outg, in2, wg, bg, 2, 2, 1, 2, 4, 1, 1, 1, 0, 2);
    // sample 0: c0 = [1 2], c1 = [3 4]; sample 1: c0 = [5 6], c1 = [7 8]
    expect("conv2d groups=2 channel mapping, batch 2", outg,
           (double[]){1, 2, 2, 4, 9, 12, 22, 26,
                      5, 6, 10, 12, 21, 24, 38, 42}, 16);

    // 2 input channels, 1x1: a weighted channel sum
    float wc[2] = {1, -1};
    float outc[2];
    rn_ref_conv2d_forward(outc, in2, wc, NULL, 1, 2, 1, 2, 1, 1, 1, 1, 0, 1);
    expect("conv2d sums over input channels", outc, (double[]){-2, -2}, 2);
}

static void test_pool_hand(void)
{
    float in[16] = {1, 5, 2, 0,
                    3, 4, 8, 6,
                    7, 1, 0, 2,
                    9, 3, 4, 5};
    float out[4];
    rn_ref_maxpool_forward(out, in, 1, 1, 4, 4, 2, 2, 2, 0);
    expect("maxpool 2x2 stride 2 by hand", out, (double[]){5, 8, 9, 5}, 4);

    // all-negative input: zero padding must never win
    float neg[9] = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
    rn_ref_maxpool_forward(out, neg, 1, 1, 3, 3, 3, 3, 2, 1);
    expect("maxpool 3x3 s2 p1: padding never wins", out, (double[]){-1, -2, -4, -5}, 4);

    // gradient goes to the winner; on a tie, to the first in scan order
    float din[16] = {0}, dout[4] = {1, 2, 3, 4};
    rn_ref_maxpool_backward(din, dout, in, 1, 1, 4, 4, 2, 2, 2, 0);
    expect("maxpool backward routes to the max", din,
           (double[]){0, 1, 0, 0,
                      0, 0, 2, 0,
                      0, 0, 0, 0,
                      3, 0, 0, 4}, 16);
    float tie[4] = {7, 7, 7, 7}, dtie[4] = {0}, one[1] = {1};
    rn_ref_maxpool_backward(dtie, one, tie, 1, 1, 2, 2, 2, 2, 2, 0);
    expect("maxpool backward tie goes to the first", dtie, (double[]){1, 0, 0, 0}, 4);

    // overlapping windows: both windows' gradients reach a shared max
    float ov[3] = {0, 9, 0}, dov[3] = {0}, dout2[2] = {1, 10};
    rn_ref_maxpool_backward(dov, dout2, ov, 1, 1, 1, 3, 1, 2, 1, 0);
    expect("maxpool backward sums overlapping windows", dov, (double[]){0, 11, 0}, 3);

    // avgpool with padding divides by KH*KW, padding included
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, avg[9];
    rn_ref_avgpool_forward(avg, ones, 1, 1, 3, 3, 3, 3, 1, 1);
    expect("avgpool 3x3 pad 1: divisor counts the padding", avg,
           (double[]){4 / 9., 6 / 9., 4 / 9., 6 / 9., 1, 6 / 9., 4 / 9., 6 / 9., 4 / 9.}, 9);
    rn_ref_avgpool_forward(out, in, 1, 1, 4, 4, 2, 2, 2, 0);
    expect("avgpool 2x2 stride 2 by hand", out, (double[]){13 / 4., 16 / 4., 20 / 4., 11 / 4.}, 4);
    float davg[9] = {0};
    rn_ref_avgpool_backward(davg, ones, 1, 1, 3, 3, 3, 3, 1, 1);
    expect("avgpool backward: 1/9 from each covering window", davg,
           (double[]){4 / 9., 6 / 9., 4 / 9., 6 / 9., 1, 6 / 9., 4 / 9., 6 / 9., 4 / 9.}, 9);

    float gap[2];
    rn_ref_gap_forward(gap, in, 1, 2, 8);
    expect("gap is the mean of each plane", gap, (double[]){29 / 8., 31 / 8.}, 2);
    float dgap[16] = {0}, dg[2] = {8, 16};
    rn_ref_gap_backward(dgap, dg, 1, 2, 8);
    double want[16];
    for (int i = 0; i < 16; i++) want[i] = i < 8 ? 1 : 2;
    expect("gap backward spreads dout/HW", dgap, want, 16);
}

/* dropout: the share dropped is p (within 4 standard deviations), kept
 * elements are scaled by 1 / (1 - p), p = 0 is the identity, the mask
 * depends on the key, and backward passes the gradient where forward kept
 * the element, scaled the same */
static void test_dropout(void)
{
    enum { n = 100000 };
    static float in[n], out[n], dout[n], din[n];
    for (long i = 0; i < n; i++)
        in[i] = 1.0f + (float)(i % 7), dout[i] = 2.0f;
    const float p = 0.3f;
    uint64_t key = rn_dropout_layer_key(rn_dropout_step_key(1, 0), rn_dropout_salt("dropout"));
    rn_ref_dropout_forward(out, in, n, p, key);
    long dropped = 0, badscale = 0;
    for (long i = 0; i < n; i++) {
        if (out[i] == 0.0f)
            dropped++;
        else if (out[i] != in[i] * (1.0f / (1.0f - p)))
            badscale++;
    }
    double share = (double)dropped / n, sd = sqrt(p * (1 - p) / n);
    CHECK(fabs(share - p) < 4 * sd, "dropout drops p of the elements", "dropped %.4f, p %.2f", share, (double)p);
    CHECK(badscale == 0, "dropout scales kept elements by 1/(1-p)", "%ld wrong", badscale);
    memset(din, 0, sizeof din);
    rn_ref_dropout_backward(din, dout, n, p, key);
    long mismatch = 0;
    for (long i = 0; i < n; i++)
        if ((out[i] == 0.0f) != (din[i] == 0.0f) || (din[i] != 0.0f && din[i] != 2.0f * (1.0f / (1.0f - p))))
            mismatch++;
    CHECK(mismatch == 0, "dropout backward uses the forward mask", "%ld elements differ", mismatch);
    static float out2[n];
    uint64_t key2 = rn_dropout_layer_key(rn_dropout_step_key(1, 1), rn_dropout_salt("dropout"));
    rn_ref_dropout_forward(out2, in, n, p, key2);
    long same = 0;
    for (long i = 0; i < n; i++)
        same += (out[i] == 0.0f) == (out2[i] == 0.0f);
    CHECK(same < n * 0.7, "another step draws another mask", "%ld of %d agree", same, n);
    rn_ref_dropout_forward(out2, in, n, 0.0f, key);
    CHECK(!memcmp(out2, in, sizeof in), "dropout 0 is the identity", "differs");
}

static void test_padshort_hand(void)
{
    // in[c][h][w] = 100c + 10h + w + 1, C=2, 4x4; K=4, stride 2: lo = 1
    float in[2 * 16], out[4 * 4];
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 4; h++)
            for (int w = 0; w < 4; w++) in[(c * 4 + h) * 4 + w] = (float)(100 * c + 10 * h + w + 1);
    rn_ref_padshort_forward(out, in, 1, 2, 4, 4, 4, 2);
    expect("padshort C2->K4 stride 2: [0, in0, in1, 0] subsampled", out,
           (double[]){0, 0, 0, 0,
                      1, 3, 21, 23,
                      101, 103, 121, 123,
                      0, 0, 0, 0}, 16);

    // K-C odd: lo = 1 before, 2 after; stride 1 keeps the map
    float in1[2 * 2] = {1, 2, 3, 4}, out1[5 * 2];          // (1,2,1,2)
    rn_ref_padshort_forward(out1, in1, 1, 2, 1, 2, 5, 1);
    expect("padshort C2->K5 stride 1: one zero channel before, two after", out1,
           (double[]){0, 0, 1, 2, 3, 4, 0, 0, 0, 0}, 10);

    // odd map, stride 2: OH = (5-1)/2 + 1 = 3, rows/cols 0, 2, 4
    float in5[25], out5[9];
    for (int i = 0; i < 25; i++) in5[i] = (float)i;
    rn_ref_padshort_forward(out5, in5, 1, 1, 5, 5, 1, 2);
    expect("padshort odd map stride 2 takes ::2", out5, (double[]){0, 2, 4, 10, 12, 14, 20, 22, 24}, 9);

    // backward: the zero channels get nothing, the others land on the taken pixels
    float dout[16], din[2 * 16] = {0};
    for (int i = 0; i < 16; i++) dout[i] = (float)(i + 1);
    rn_ref_padshort_backward(din, dout, 1, 2, 4, 4, 4, 2);
    expect("padshort backward places dout on the subsampled pixels", din,
           (double[]){5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8, 0, 0, 0, 0, 0,
                      9, 0, 10, 0, 0, 0, 0, 0, 11, 0, 12, 0, 0, 0, 0, 0}, 32);
}

static void test_small_ops_hand(void)
{
    float a[4] = {1, 2, 3, 4}, b[6] = {10, 20, 30, 40, 50, 60}, cat[10];
    // a (1,2,2), b (1,3,2)
    rn_ref_concat_forward(cat, a, b, 1, 2, 3, 2);
    expect("concat along channels, N=1", cat, (double[]){1, 2, 3, 4, 10, 20, 30, 40, 50, 60}, 10);
    // the same buffers as a (2,2,1), b (2,3,1)
    rn_ref_concat_forward(cat, a, b, 2, 2, 3, 1);
    expect("concat along channels, N=2 interleaves per sample", cat,
           (double[]){1, 2, 10, 20, 30, 3, 4, 40, 50, 60}, 10);
    float da[4] = {0}, db[6] = {0}, dcat[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    rn_ref_concat_backward(da, db, dcat, 2, 2, 3, 1);
    expect("concat backward da", da, (double[]){1, 2, 6, 7}, 4);
    expect("concat backward db", db, (double[]){3, 4, 5, 8, 9, 10}, 6);

    float sum[4];
    rn_ref_add_forward(sum, a, b, 4);
    expect("add", sum, (double[]){11, 22, 33, 44}, 4);

    float x[5] = {-2, -0.0f, 0, 0.5f, 3}, y[5];
    rn_ref_relu_forward(y, x, 5);
    expect("relu", y, (double[]){0, 0, 0, 0.5, 3}, 5);
    float dx[5] = {0}, dy[5] = {1, 1, 1, 1, 1};
    rn_ref_relu_backward(dx, dy, y, 5);
    expect("relu backward passes where out > 0", dx, (double[]){0, 0, 0, 1, 1}, 5);
    float nan_in[1] = {NAN}, nan_out[1];
    rn_ref_relu_forward(nan_out, nan_in, 1);
    CHECK(isnan(nan_out[0]), "relu propagates NaN", "relu(NaN) = %g", (double)nan_out[0]);
    float nan_pool[4] = {1, NAN, 3, 2}, pooled[1];
    rn_ref_maxpool_forward(pooled, nan_pool, 1, 1, 2, 2, 2, 2, 2, 0);
    CHECK(isnan(pooled[0]), "maxpool propagates NaN", "max of a window with NaN = %g", (double)pooled[0]);

    // fc: in (1,2), w (3,2) = [[1,0],[0,1],[1,1]], bias [0.5, 0, -1]
    float fin[2] = {1, 2}, fw[6] = {1, 0, 0, 1, 1, 1}, fb[3] = {0.5f, 0, -1}, fout[3];
    rn_ref_fc_forward(fout, fin, fw, fb, 1, 2, 3);
    expect("fc by hand (w is OUT x IN)", fout, (double[]){1.5, 2, 2}, 3);
    float fdin[2] = {0}, fdw[6] = {0}, fdb[3] = {0}, fdout[3] = {1, 2, 3};
    rn_ref_fc_backward(fdin, fdw, fdb, fdout, fin, fw, 1, 2, 3);
    expect("fc backward din = dout w", fdin, (double[]){4, 5}, 2);
    expect("fc backward dw = dout^T in", fdw, (double[]){1, 2, 2, 4, 3, 6}, 6);
    expect("fc backward dbias", fdb, (double[]){1, 2, 3}, 3);
}

static void test_xent_hand(void)
{
    // rows: [1 2 3] label 2, [0 0 0] label 0
    float logits[6] = {1, 2, 3, 0, 0, 0}, probs[6], dl[6];
    int labels[2] = {2, 0};
    double lse = log(exp(1.0) + exp(2.0) + exp(3.0));

    float loss = rn_ref_softmax_xent_forward(probs, logits, labels, 2, 3, 0.0f);
    double want = ((lse - 3) + log(3.0)) / 2;
    CHECK(fabs(loss - want) < 1e-6, "softmax_xent loss, no smoothing, closed form",
          "loss %.9g, expected %.9g", (double)loss, want);
    expect("softmax_xent probs", probs,
           (double[]){exp(1 - lse), exp(2 - lse), exp(3 - lse), 1 / 3., 1 / 3., 1 / 3.}, 6);

    // smoothing 0.1: target = 0.9 onehot + 0.1/3; loss = lse - sum target*z
    loss = rn_ref_softmax_xent_forward(probs, logits, labels, 2, 3, 0.1f);
    double eps = (double)0.1f;
    want = ((lse - ((1 - eps) * 3 + eps / 3 * (1 + 2 + 3))) + log(3.0)) / 2;
    CHECK(fabs(loss - want) < 1e-6, "softmax_xent loss, smoothing 0.1, closed form",
          "loss %.9g, expected %.9g", (double)loss, want);
    rn_ref_softmax_xent_backward(dl, probs, labels, 2, 3, 0.1f);
    double t_on = 1 - eps + eps / 3, t_off = eps / 3;
    expect("softmax_xent backward = (probs - target)/N", dl,
           (double[]){(exp(1 - lse) - t_off) / 2, (exp(2 - lse) - t_off) / 2, (exp(3 - lse) - t_on) / 2,
                      (1 / 3. - t_on) / 2, (1 / 3. - t_off) / 2, (1 / 3. - t_off) / 2}, 6);

    // uniform logits: the loss is log(CLS) whatever the smoothing
    float flat[4] = {5, 5, 5, 5}, p4[4];
    int l1[1] = {1};
    loss = rn_ref_softmax_xent_forward(p4, flat, l1, 1, 4, 0.3f);
    CHECK(fabs(loss - log(4.0)) < 1e-6, "softmax_xent uniform logits give log(classes)",
          "loss %.9g", (double)loss);

    // stability: exp(1000) overflows unless the max is subtracted
    float big[3] = {1000, 0, -1000}, pb[3];
    int lb[1] = {1};
    loss = rn_ref_softmax_xent_forward(pb, big, lb, 1, 3, 0.0f);
    CHECK(fabs(loss - 1000) < 1e-3 && fabs(pb[0] - 1) < 1e-7 && pb[2] == 0,
          "softmax_xent is stable for logits of 1000",
          "loss %.9g, probs %g %g %g", (double)loss, (double)pb[0], (double)pb[1], (double)pb[2]);
    loss = rn_ref_softmax_xent_forward(pb, big, lb, 1, 3, 0.1f);
    want = 0.9 * 1000 + 0.1 / 3 * (0 + 1000 + 2000);      // sum target * (lse - z), lse = 1000
    CHECK(fabs(loss - want) < 1e-2, "softmax_xent stable with smoothing",
          "loss %.9g, expected %.9g", (double)loss, want);
}

static void test_batchnorm_hand(void)
{
    // N=2, C=2, HW=2.  channel 0: 1 2 | 3 4 -> mean 2.5, var 1.25 (unbiased 5/3)
    //                  channel 1: 10 10 | 10 14 -> mean 11, var 3 (unbiased 4)
    float in[8] = {1, 2, 10, 10, 3, 4, 10, 14};
    float gamma[2] = {2, 0.5f}, beta[2] = {0.1f, -0.2f};
    float rm[2] = {0.5f, -1}, rv[2] = {2, 1}, sm[2], si[2], out[8];
    float eps = 1e-5f;
    rn_ref_batchnorm_forward_train(out, in, gamma, beta, rm, rv, sm, si, 2, 2, 2, 0.1f, eps);

    double i0 = 1 / sqrt(1.25 + (double)eps), i1 = 1 / sqrt(3 + (double)eps);
    expect("batchnorm train saves the batch mean", sm, (double[]){2.5, 11}, 2);
    expect("batchnorm train saves 1/sqrt(biased var + eps)", si, (double[]){i0, i1}, 2);
    expect("batchnorm running_mean = 0.9 old + 0.1 batch mean", rm,
           (double[]){0.9 * 0.5 + 0.1 * 2.5, 0.9 * -1 + 0.1 * 11}, 2);
    expect("batchnorm running_var uses the unbiased variance", rv,
           (double[]){0.9 * 2 + 0.1 * (5 / 3.), 0.9 * 1 + 0.1 * 4}, 2);
    double g0 = 2, g1 = 0.5, b0 = (double)0.1f, b1 = (double)-0.2f;
    expect("batchnorm train normalises with batch statistics", out,
           (double[]){g0 * -1.5 * i0 + b0, g0 * -0.5 * i0 + b0, g1 * -1 * i1 + b1, g1 * -1 * i1 + b1,
                      g0 * 0.5 * i0 + b0, g0 * 1.5 * i0 + b0, g1 * -1 * i1 + b1, g1 * 3 * i1 + b1}, 8);

    // NULL running statistics are skipped
    rn_ref_batchnorm_forward_train(out, in, gamma, beta, NULL, NULL, sm, si, 2, 2, 2, 0.1f, eps);
    CHECK(sm[1] == 11.0f, "batchnorm train with NULL running statistics", "save_mean %g", (double)sm[1]);

    // inference: out = gamma (x - rm)/sqrt(rv + eps) + beta
    float rmi[2] = {1, -2}, rvi[2] = {4, 0.25f}, outi[8];
    rn_ref_batchnorm_forward_infer(outi, in, gamma, beta, rmi, rvi, 2, 2, 2, eps);
    double wi[8];
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 2; i++) {
                int j = (n * 2 + c) * 2 + i;
                wi[j] = (double)gamma[c] * ((double)in[j] - rmi[c]) / sqrt((double)rvi[c] + (double)eps)
                        + (double)beta[c];
            }
    expect("batchnorm infer uses the running statistics", outi, wi, 8);

    // on random data with gamma 1, beta 0, every channel has mean 0, var 1
    enum { N = 4, C = 3, HW = 25 };
    float *x = xcalloc(N * C * HW, sizeof(float)), *y = xcalloc(N * C * HW, sizeof(float));
    for (int i = 0; i < N * C * HW; i++) x[i] = 3 + 2 * urandf();
    float g3[C] = {1, 1, 1}, b3[C] = {0, 0, 0}, sm3[C], si3[C];
    rn_ref_batchnorm_forward_train(y, x, g3, b3, NULL, NULL, sm3, si3, N, C, HW, 0.1f, 0.0f);
    double worst = 0;
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) s += y[(n * C + c) * HW + i];
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                double d = y[(n * C + c) * HW + i] - s / (N * HW);
                ss += d * d;
            }
        worst = fmax(worst, fmax(fabs(s / (N * HW)), fabs(ss / (N * HW) - 1)));
    }
    CHECK(worst < 1e-5, "batchnorm train output has mean 0, variance 1 per channel",
          "worst deviation %.3e", worst);
    free(x);
    free(y);
}

/* ------------------------------------------- float against double, random */

static void test_agreement(void)
{
    // conv2d: 3x3 stride 2 pad 1, groups 2, bias
    {
        enum { N = 2, C = 4, H = 9, W = 8, K = 6, KH = 3, KW = 3, S = 2, P = 1, G = 2 };
        enum { OH = (H + 2 * P - KH) / S + 1, OW = (W + 2 * P - KW) / S + 1 };
        Pair in = pair_rand(N * C * H * W, 1, 0), w = pair_rand(K * (C / G) * KH * KW, 1, 0);
        Pair b = pair_rand(K, 1, 0), out = pair_zero(N * K * OH * OW), dout = pair_rand(N * K * OH * OW, 1, 0);
        Pair din = pair_rand(in.n, 1, 0), dw = pair_rand(w.n, 1, 0), db = pair_rand(K, 1, 0);
        rn_ref_conv2d_forward(out.f, in.f, w.f, b.f, N, C, H, W, K, KH, KW, S, P, G);
        dd_conv2d_forward(out.d, in.d, w.d, b.d, N, C, H, W, K, KH, KW, S, P, G);
        agree("float = double: conv2d forward", out);
        rn_ref_conv2d_backward(din.f, dw.f, db.f, dout.f, in.f, w.f, N, C, H, W, K, KH, KW, S, P, G);
        dd_conv2d_backward(din.d, dw.d, db.d, dout.d, in.d, w.d, N, C, H, W, K, KH, KW, S, P, G);
        agree("float = double: conv2d din", din);
        agree("float = double: conv2d dw", dw);
        agree("float = double: conv2d dbias", db);
        Pair *all[] = {&in, &w, &b, &out, &dout, &din, &dw, &db};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) pair_free(all[i]);
    }
    // batch norm train + backward, infer
    {
        enum { N = 3, C = 4, HW = 10 };
        Pair in = pair_rand(N * C * HW, 2, 1), g = pair_rand(C, 0.5f, 1), b = pair_rand(C, 1, 0);
        Pair rm = pair_rand(C, 1, 0), rv = pair_rand(C, 0.5f, 1), sm = pair_zero(C), si = pair_zero(C);
        Pair out = pair_zero(in.n), dout = pair_rand(in.n, 1, 0);
        Pair din = pair_rand(in.n, 1, 0), dg = pair_rand(C, 1, 0), db = pair_rand(C, 1, 0);
        rn_ref_batchnorm_forward_train(out.f, in.f, g.f, b.f, rm.f, rv.f, sm.f, si.f, N, C, HW, 0.1f, 1e-5f);
        dd_batchnorm_forward_train(out.d, in.d, g.d, b.d, rm.d, rv.d, sm.d, si.d, N, C, HW, 0.1, (double)1e-5f);
        agree("float = double: batchnorm train forward", out);
        agree("float = double: batchnorm running_mean", rm);
        agree("float = double: batchnorm running_var", rv);
        rn_ref_batchnorm_backward(din.f, dg.f, db.f, dout.f, in.f, g.f, sm.f, si.f, N, C, HW);
        dd_batchnorm_backward(din.d, dg.d, db.d, dout.d, in.d, g.d, sm.d, si.d, N, C, HW);
        agree("float = double: batchnorm din", din);
        agree("float = double: batchnorm dgamma", dg);
        agree("float = double: batchnorm dbeta", db);
        rn_ref_batchnorm_forward_infer(out.f, in.f, g.f, b.f, rm.f, rv.f, N, C, HW, 1e-5f);
        dd_batchnorm_forward_infer(out.d, in.d, g.d, b.d, rm.d, rv.d, N, C, HW, (double)1e-5f);
        agree("float = double: batchnorm infer", out);
        Pair *all[] = {&in, &g, &b, &rm, &rv, &sm, &si, &out, &dout, &din, &dg, &db};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) pair_free(all[i]);
    }
    // pools, gap, relu, padshort
    {
        enum { N = 2, C = 3, H = 7, W = 6, K = 3, S = 2, P = 1 };
        enum { OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1 };
        Pair in = pair_rand(N * C * H * W, 1, 0), out = pair_zero(N * C * OH * OW);
        Pair dout = pair_rand(out.n, 1, 0), din = pair_rand(in.n, 1, 0);
        rn_ref_maxpool_forward(out.f, in.f, N, C, H, W, K, K, S, P);
        dd_maxpool_forward(out.d, in.d, N, C, H, W, K, K, S, P);
        agree("float = double: maxpool forward", out);
        rn_ref_maxpool_backward(din.f, dout.f, in.f, N, C, H, W, K, K, S, P);
        dd_maxpool_backward(din.d, dout.d, in.d, N, C, H, W, K, K, S, P);
        agree("float = double: maxpool backward", din);
        rn_ref_avgpool_forward(out.f, in.f, N, C, H, W, K, K, S, P);
        dd_avgpool_forward(out.d, in.d, N, C, H, W, K, K, S, P);
        agree("float = double: avgpool forward", out);
        rn_ref_avgpool_backward(din.f, dout.f, N, C, H, W, K, K, S, P);
        dd_avgpool_backward(din.d, dout.d, N, C, H, W, K, K, S, P);
        agree("float = double: avgpool backward", din);

        Pair gap = pair_zero(N * C), dgap = pair_rand(N * C, 1, 0);
        rn_ref_gap_forward(gap.f, in.f, N, C, H * W);
        dd_gap_forward(gap.d, in.d, N, C, H * W);
        agree("float = double: gap forward", gap);
        rn_ref_gap_backward(din.f, dgap.f, N, C, H * W);
        dd_gap_backward(din.d, dgap.d, N, C, H * W);
        agree("float = double: gap backward", din);

        Pair r = pair_zero(in.n);
        rn_ref_relu_forward(r.f, in.f, in.n);
        dd_relu_forward(r.d, in.d, in.n);
        agree("float = double: relu forward", r);
        rn_ref_relu_backward(din.f, in.f, r.f, in.n);
        dd_relu_backward(din.d, in.d, r.d, in.n);
        agree("float = double: relu backward", din);

        enum { KP = 5, OHP = (H - 1) / S + 1, OWP = (W - 1) / S + 1 };
        Pair ps = pair_zero(N * KP * OHP * OWP), dps = pair_rand(ps.n, 1, 0);
        rn_ref_padshort_forward(ps.f, in.f, N, C, H, W, KP, S);
        dd_padshort_forward(ps.d, in.d, N, C, H, W, KP, S);
        agree("float = double: padshort forward", ps);
        rn_ref_padshort_backward(din.f, dps.f, N, C, H, W, KP, S);
        dd_padshort_backward(din.d, dps.d, N, C, H, W, KP, S);
        agree("float = double: padshort backward", din);
        Pair *all[] = {&in, &out, &dout, &din, &gap, &dgap, &r, &ps, &dps};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) pair_free(all[i]);
    }
    // fc and softmax_xent
    {
        enum { N = 5, IN = 17, OUT = 10 };
        Pair in = pair_rand(N * IN, 1, 0), w = pair_rand(OUT * IN, 1, 0), b = pair_rand(OUT, 1, 0);
        Pair out = pair_zero(N * OUT), din = pair_rand(in.n, 1, 0), dw = pair_rand(w.n, 1, 0);
        Pair db = pair_rand(OUT, 1, 0), probs = pair_zero(N * OUT), dl = pair_zero(N * OUT);
        rn_ref_fc_forward(out.f, in.f, w.f, b.f, N, IN, OUT);
        dd_fc_forward(out.d, in.d, w.d, b.d, N, IN, OUT);
        agree("float = double: fc forward", out);
        int labels[N] = {3, 0, 9, 9, 4};
        float lf = rn_ref_softmax_xent_forward(probs.f, out.f, labels, N, OUT, 0.1f);
        double ld = dd_softmax_xent_forward(probs.d, out.d, labels, N, OUT, (double)0.1f);
        CHECK(fabs(lf - ld) < 1e-5 * fmax(1, fabs(ld)), "float = double: softmax_xent loss",
              "%.9g vs %.9g", (double)lf, ld);
        agree("float = double: softmax_xent probs", probs);
        rn_ref_softmax_xent_backward(dl.f, probs.f, labels, N, OUT, 0.1f);
        dd_softmax_xent_backward(dl.d, probs.d, labels, N, OUT, (double)0.1f);
        agree("float = double: softmax_xent backward", dl);
        rn_ref_fc_backward(din.f, dw.f, db.f, dl.f, in.f, w.f, N, IN, OUT);
        dd_fc_backward(din.d, dw.d, db.d, dl.d, in.d, w.d, N, IN, OUT);
        agree("float = double: fc din", din);
        agree("float = double: fc dw", dw);
        agree("float = double: fc dbias", db);
        Pair *all[] = {&in, &w, &b, &out, &din, &dw, &db, &probs, &dl};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) pair_free(all[i]);
    }
}

int main(void)
{
    test_conv_hand();
    test_pool_hand();
    test_padshort_hand();
    test_dropout();
    test_small_ops_hand();
    test_xent_hand();
    test_batchnorm_hand();
    test_agreement();
    CHECK_DONE();
}
