/* print.c - the --print-shapes table: one row per layer with its output
 * shape, trainable parameters and forward multiply-accumulates per image.
 * MACs count out_elements x in_channels/groups x kh x kw for a conv and
 * in x out for an fc, as PyTorch's profilers do; other layers count 0. */
#include "rnet.h"

/* 1234567 -> "1,234,567" */
const char *fmt_commas(long v, char *buf)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%ld", v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0 && tmp[i - 1] != '-')
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

void print_shapes(Graph *g, FILE *out)
{
    Model *m = g->model;
    char b1[32], b2[32];
    long tp = 0, tm = 0;
    fprintf(out, "model %s: input %dx%dx%d, %d classes\n", g->name, m->in_c, m->in_h, m->in_w,
            m->classes);
    fprintf(out, "%-28s %-9s %-14s %12s %15s\n", "layer", "op", "output", "params", "MACs");
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        char shape[48];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->c, n->h, n->w);
        long p = node_params(n), mac = node_macs(n);
        tp += p;
        tm += mac;
        fprintf(out, "%-28s %-9s %-14s %12s %15s\n", n->name, rn_op_names[n->op], shape,
                fmt_commas(p, b1), fmt_commas(mac, b2));
    }
    fprintf(out, "%-28s %-9s %-14s %12s %15s\n", "total", "", "", fmt_commas(tp, b1), fmt_commas(tm, b2));
}
