/* rn_geom.c - sizes and index tables of a convolution, from its shape
 * alone (see rn_geom.h): the one place rnetc and the runtime take them
 * from. */
#include "rn_geom.h"

static long round_up(long v, long m) { return (v + m - 1) / m * m; }

int rn_geom_taps(const RnConvGeom *g)
{
    int kk = g->KH * g->KW, n = 0;
    if (!g->live)
        return kk;
    for (int t = 0; t < kk; t++)
        n += g->live[t] != 0;
    return n;
}

/* the packed number of tap t, or -1 when t is left out */
static int packed_tap(const RnConvGeom *g, int t)
{
    if (!g->live)
        return t;
    if (!g->live[t])
        return -1;
    int l = 0;
    for (int u = 0; u < t; u++)
        l += g->live[u] != 0;
    return l;
}

static long finish(int *tq, long e)
{
    if (tq && e == 0)
        tq[0] = tq[1] = 0;
    return e;
}

long rn_geom_fwd_table(const RnConvGeom *g, int *pos, int *tq)
{
    long e = 0;
    int P = g->OH * g->OW;
    for (int p = 0; p < P; p++) {
        if (pos)
            pos[p] = (int)e;
        for (int kh = 0; kh < g->KH; kh++)
            for (int kw = 0; kw < g->KW; kw++) {
                int l = packed_tap(g, kh * g->KW + kw);
                int ih = p / g->OW * g->S - g->PAD + kh, iw = p % g->OW * g->S - g->PAD + kw;
                if (l < 0 || ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
                    continue;
                if (tq) {
                    tq[2 * e] = l;
                    tq[2 * e + 1] = ih * g->W + iw;
                }
                e++;
            }
    }
    if (pos)
        pos[P] = (int)e;
    return finish(tq, e);
}

long rn_geom_bwd_table(const RnConvGeom *g, int *pos, int *tq)
{
    long e = 0;
    int P = g->H * g->W, S = g->S;
    for (int p = 0; p < P; p++) {
        if (pos)
            pos[p] = (int)e;
        for (int kh = 0; kh < g->KH; kh++)
            for (int kw = 0; kw < g->KW; kw++) {
                int l = packed_tap(g, kh * g->KW + kw);
                int a = p / g->W + g->PAD - kh, b = p % g->W + g->PAD - kw;
                if (l < 0 || a < 0 || b < 0 || a % S || b % S || a / S >= g->OH || b / S >= g->OW)
                    continue;
                if (tq) {
                    tq[2 * e] = l;
                    tq[2 * e + 1] = a / S * g->OW + b / S;
                }
                e++;
            }
    }
    if (pos)
        pos[P] = (int)e;
    return finish(tq, e);
}

long rn_geom_wgrad_table(const RnConvGeom *g, int *pos, int *tq)
{
    long e = 0;
    int P = g->OH * g->OW, T = rn_geom_taps(g);
    for (int t = 0; t < g->KH * g->KW; t++) {
        int l = packed_tap(g, t);
        if (l < 0)
            continue;
        if (pos)
            pos[l] = (int)e;
        for (int p = 0; p < P; p++) {
            int ih = p / g->OW * g->S - g->PAD + t / g->KW;
            int iw = p % g->OW * g->S - g->PAD + t % g->KW;
            if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
                continue;
            if (tq) {
                tq[2 * e] = p;
                tq[2 * e + 1] = ih * g->W + iw;
            }
            e++;
        }
    }
    if (pos)
        pos[T] = (int)e;
    return finish(tq, e);
}

long rn_conv_pack_floats(int M, int C, int T) { return (long)M * C * T; }

long rn_conv1_pack_floats(int M, int C, int T) { return round_up(M, 32) * C * T; }

long rn_conv1_pad_floats_of(int C, int OH, int OW, int KH, int KW, int S)
{
    return (long)C * ((OH - 1) * S + KH) * ((OW - 1) * S + KW);
}

long rn_conv_wgrad_floats(int M, int C, int N, int P, int Q)
{
    return (long)M * P * N + (long)Q * N * round_up(C, 16);
}

long rn_wino_work_floats(int N, int C, int K, int H, int W)
{
    long T = (long)N * ((H + 1) / 2) * ((W + 1) / 2);
    return 16 * (T * ((long)C + K) + 2 * RN_WINO_SKEW);
}

long rn_wino_filter_floats(int K, int C) { return 16L * K * C; }
