/* emit_dot.c - `rnetc --emit dot`: the graph IR as a Graphviz picture.
 *
 * One box per node of the IR, labelled with what --print-shapes and the
 * built program's `info` print for it (layer name, op, output shape
 * C x H x W per image, trainable parameters), plus the op's attributes as
 * --dump-ir writes them; one edge per input.  The nodes of a residual block
 * (every name under layerS.B) are drawn inside a cluster named after the
 * block, and the blocks of a stage inside a cluster for the stage, so the
 * picture shows the structure the .rnet file wrote.  The graph's label is
 * the legend: model, input, parameter and MAC totals.
 *
 * Requires: shapes inferred (pass_shapes).  Lowering adds a block's nodes
 * contiguously and stage after stage, so one pass in topological order can
 * open and close clusters as the prefix changes.  Layer names are
 * identifiers with dots; they are quoted anyway, as is every string. */
#include <stdio.h>
#include <string.h>
#include "rnet.h"

/* a DOT string body: quotes and backslashes escaped */
static void dot_str(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
}



static const char *fill(RnOp op)
{
    switch (op) {
    case RN_OP_INPUT: return "#dddddd";
    case RN_OP_CONV: return "#cfe2f3";
    case RN_OP_BN: return "#d9ead3";
    case RN_OP_RELU: return "#fff2cc";
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
    case RN_OP_GAP: return "#ead1dc";
    case RN_OP_ADD:
    case RN_OP_CONCAT: return "#f4cccc";
    case RN_OP_PADSHORT:
    case RN_OP_DROPOUT: return "#eeeeee";
    case RN_OP_FC: return "#d9d2e9";
    case RN_OP_COUNT: break;
    }
    die("bad op %d", op);
}

/* "layer2.0.conv1" -> stage 2, block 0; 0 when the node is in no block */
static int block_of(const Node *n, int *stage, int *block)
{
    int used = 0;
    if (sscanf(n->name, "layer%d.%d.%n", stage, block, &used) == 2 && used > 0)
        return 1;
    return 0;
}

static const char *const shortcut_names[] = { "A", "B", "C" };

static void open_stage(FILE *out, Model *m, int s)
{
    fprintf(out, "  subgraph \"cluster_layer%d\" {\n", s);
    fprintf(out, "    style=\"rounded\"; color=\"#999999\"; fontsize=12; labelloc=\"t\";\n");
    if (m && s >= 1 && s <= m->stages.n) {
        StageDef *st = m->stages.v[s - 1];
        fprintf(out, "    label=\"layer%d: %d x ", s, st->repeat);
        dot_str(out, st->block->name);
        fprintf(out, " %d, stride %d, shortcut %s, %s%s\";\n", st->width, st->stride,
                shortcut_names[st->shortcut], st->join == JOIN_ADD ? "add" : "concat",
                st->post == POST_NONE ? ", post none" : "");
    } else {
        fprintf(out, "    label=\"layer%d\";\n", s);
    }
}

static void open_block(FILE *out, int s, int b)
{
    fprintf(out, "    subgraph \"cluster_layer%d.%d\" {\n", s, b);
    fprintf(out, "      style=\"rounded,dashed\"; color=\"#555555\"; fontsize=11; labelloc=\"t\";\n");
    fprintf(out, "      label=\"layer%d.%d\";\n", s, b);
}

static void node_line(FILE *out, const Graph *g, const Node *n, const char *indent)
{
    char a[96], b1[32];
    node_attrs(n, a, sizeof a);
    fprintf(out, "%s\"n%d\" [label=\"", indent, n->id);
    dot_str(out, n->name);
    fprintf(out, "\\n%s%s%s\\n%dx%dx%d", rn_op_names[n->op], a[0] ? " " : "", a, n->c, n->h, n->w);
    long p = node_params(n);
    if (p)
        fprintf(out, "\\n%s params", fmt_commas(p, b1));
    fprintf(out, "\", fillcolor=\"%s\"", fill(n->op));
    if (n->op == RN_OP_INPUT || n == g->output)
        fprintf(out, ", shape=\"ellipse\"");
    fprintf(out, "];\n");
}

void emit_dot(Graph *g, FILE *out)
{
    Model *m = g->model;
    long tp = 0, tm = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        tp += node_params(g->nodes.v[i]);
        tm += node_macs(g->nodes.v[i]);
    }
    char b1[32], b2[32];
    fprintf(out, "// model %s, drawn by rnetc --emit dot", c_string(g->name));
    if (m && m->file)
        fprintf(out, " from %s", c_string(src_name(m->file)));
    fprintf(out, ".\n"
                 "// One box per layer of the graph IR: name, op and attributes, output shape\n"
                 "// (C x H x W per image, the batch left out) and trainable parameters, as\n"
                 "// --print-shapes and the built program's `info` print them.  Dashed clusters\n"
                 "// are residual blocks (layerS.B), solid ones stages.\n"
                 "// Fused groups: none.  rnetc has no fusion passes yet; every layer is its own\n"
                 "// kernel.\n"
                 "// Render: dot -Tsvg FILE.dot -o FILE.svg\n");
    fprintf(out, "digraph \"");
    dot_str(out, g->name);
    fprintf(out, "\" {\n");
    fprintf(out, "  graph [rankdir=TB, fontname=\"Helvetica\", labelloc=\"b\", label=\"");
    dot_str(out, g->name);
    if (m)
        fprintf(out, ": input %dx%dx%d, %d classes", m->in_c, m->in_h, m->in_w, m->classes);
    fprintf(out, "\\n%s parameters, %s MACs per image, %d layers\"];\n", fmt_commas(tp, b1),
            fmt_commas(tm, b2), g->nodes.n);
    fprintf(out, "  node [shape=\"box\", style=\"rounded,filled\", fontname=\"Helvetica\", "
                 "fontsize=10];\n");
    fprintf(out, "  edge [color=\"#444444\", arrowsize=0.6];\n");

    int cur_s = 0, cur_b = -1; /* the open stage and block clusters; 0 = none */
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        int s = 0, b = -1;
        if (!block_of(n, &s, &b))
            s = 0, b = -1;
        if (s != cur_s || b != cur_b) {
            if (cur_s && (s != cur_s || b != cur_b))
                fprintf(out, "    }\n"); /* block */
            if (cur_s && s != cur_s)
                fprintf(out, "  }\n"); /* stage */
            if (s && s != cur_s)
                open_stage(out, m, s);
            if (s)
                open_block(out, s, b);
            cur_s = s, cur_b = b;
        }
        node_line(out, g, n, s ? "      " : "  ");
    }
    if (cur_s)
        fprintf(out, "    }\n  }\n");

    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int k = 0; k < n->nin; k++) {
            fprintf(out, "  \"n%d\" -> \"n%d\"", n->in[k]->id, n->id);
            /* a join reading a node from outside its block reads the block's
             * input itself: the identity shortcut */
            int s, b, s2, b2;
            if ((n->op == RN_OP_ADD || n->op == RN_OP_CONCAT) && block_of(n, &s, &b) &&
                !(block_of(n->in[k], &s2, &b2) && s2 == s && b2 == b))
                fprintf(out, " [style=\"dashed\", label=\"identity\", fontsize=9]");
            fprintf(out, ";\n");
        }
    }
    fprintf(out, "}\n");
}
