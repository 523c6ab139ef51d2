/* rn_geom.h - what depends only on a convolution's shape: the sizes of its
 * work buffers and the index tables of the direct convolutions.
 *
 * One function each, called by rnetc (to plan the arena and size the
 * tables it declares) and by the runtime and generated code (to fill and
 * use them), so the two can never disagree by a copied formula.  Plain C,
 * no ISA: rnetc links rn_geom.o as it links rn_ops.o. */
#ifndef RN_GEOM_H
#define RN_GEOM_H

/* the smallest batch that takes the direct convolutions (rnetc's
 * direct-conv pass); batch 1 takes rn_conv1, batches 2 .. RN_DIRECT_MIN_N-1
 * im2col + GEMM.  Here, where rnetc sees it too: a backend that cannot
 * print the name (LLVM) writes the number. */
#ifndef RN_DIRECT_MIN_N
#define RN_DIRECT_MIN_N 16
#endif

/* A convolution of x (C, H, W) into (M, OH, OW), kernel KH x KW, stride S,
 * zero padding PAD.  live: NULL (every tap), or KH*KW flags of the taps
 * that are kept (rnetc's dead-taps pass); packed tap l is the l-th live. */
typedef struct {
    int C, H, W, M, OH, OW, KH, KW, S, PAD;
    const unsigned char *live;
} RnConvGeom;

/* the taps kept (KH*KW without live) */
int rn_geom_taps(const RnConvGeom *g);

/* Direct-convolution tables.  Each returns the number of entries e; with
 * pos and tq non-NULL it also writes them: pos (n + 1 offsets), tq (2e
 * ints).  Every table has at least one pair of ints (tq[0..1] are zero
 * when e is 0), so its declaration is never empty.
 *   forward:        per output position p (n = OH*OW), its (packed tap,
 *                   input position) pairs inside the input;
 *   input gradient: per input position (n = H*W), its (packed tap, output
 *                   position) pairs;
 *   weight grad:    per packed tap (n = taps), its (output position, input
 *                   position) pairs inside the input. */
long rn_geom_fwd_table(const RnConvGeom *g, int *pos, int *tq);
long rn_geom_bwd_table(const RnConvGeom *g, int *pos, int *tq);
long rn_geom_wgrad_table(const RnConvGeom *g, int *pos, int *tq);

/* floats of rn_conv_pack's packed filter: M x C x T */
long rn_conv_pack_floats(int M, int C, int T);
/* floats of rn_conv1_pack's packed filter: M rounded up to 32, x C x T */
long rn_conv1_pack_floats(int M, int C, int T);
/* floats of one zero-padded input plane set for rn_conv1: C x the rows and
 * columns the taps reach, ((OH-1)*S + KH) x ((OW-1)*S + KW) */
long rn_conv1_pad_floats_of(int C, int OH, int OW, int KH, int KW, int S);
/* floats of rn_conv_wgrad's work: dy packed (M*P*N), x transposed with
 * its channels padded to 16 (Q*N*round_up(C, 16)) */
long rn_conv_wgrad_floats(int M, int C, int N, int P, int Q);
/* The 16 planes of V and M of rn_wino_conv lie this many floats apart
 * beyond their size: at power-of-two sizes the 16 streams a tile reads or
 * writes would otherwise fall into the same cache sets. */
#define RN_WINO_SKEW 80
/* floats of work rn_wino_conv needs: 16 * (T * (C + K) + 2 * RN_WINO_SKEW),
 * T = N * tiles */
long rn_wino_work_floats(int N, int C, int K, int H, int W);
/* floats of a transformed Winograd filter (16, K, C) */
long rn_wino_filter_floats(int K, int C);

#endif
