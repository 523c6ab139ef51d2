/* emit_c.c - the C backend: one model -> a .c and a .h.
 *
 * Requires: a graph with shapes (pass_shapes) and parameters.
 *
 * What it writes:
 *   - the RnModel descriptor (parameters with offsets, the node table, the
 *     training defaults) that the runtime's driver and checkpoints read;
 *   - one forward function per layer and one backward function per layer,
 *     named after the layer ("fwd_layer1_0_conv1"), each with a comment
 *     giving its shapes, every size a literal;
 *   - NAME_forward / NAME_backward / NAME_update that call them in order.
 *
 * Activations are CHWN inside, batch innermost (see runtime/rn_gen.h): a
 * convolution is one GEMM over the whole batch, or a direct convolution
 * over batch vectors (runtime/rn_conv.h); the batch N is the only runtime
 * size.  Buffers live in the workspace at offsets the memory plan
 * (compiler/plan.c) fixed: constants, or constants times N.
 */
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include "rnet.h"
#include "klower.h"

typedef struct {
    const Pipeline *pl;
    Graph *src;          /* the source graph: the descriptor's */
    FILE *o;
    long pimg, pfix;     /* the workspace: pimg * N + pfix floats */
    long nparam_floats;
    KLower kl;           /* the lowering: its index tables */
} Emit;

#define P(...) fprintf(E->o, __VA_ARGS__)

/* the expression for buffer b of graph g */
static const char *buf_expr(Emit *E, const Graph *g, int b)
{
    if (b < 0)
        die("no buffer");
    /* the fixed region comes first, so that what outlives a call (the
     * folded weights) stays put whatever the next call's batch */
    const Buf *B = g->plan->bufs.v[b];
    if (B->per_image)
        return arena_printf("w + %ldL + %ldL * N", E->pfix, B->offset);
    return arena_printf("w + %ldL", B->offset);
}

/* the tables' declarations and the function that fills them, once */
static void emit_tables(Emit *E)
{
    if (!E->kl.tables.n)
        return;
    P("\n/* ---- the direct convolutions' index tables, one per geometry, filled once by\n"
      " * rn_geom (runtime/rn_geom.h) from the shape: (tap, position) pairs inside\n"
      " * the input ---- */\n");
    static const char *const fn[] = { "rn_geom_fwd_table", "rn_geom_bwd_table",
                                      "rn_geom_wgrad_table" };
    for (int i = 0; i < E->kl.tables.n; i++) {
        Table *t = E->kl.tables.v[i];
        P("static int tab%d_pos[%ld], tab%d_tq[%ld];\n", t->id, t->npos, t->id,
          t->nent ? 2 * t->nent : 2);
        if (t->g.live) {
            P("static const unsigned char tab%d_live[%d] = {", t->id, t->g.KH * t->g.KW);
            for (int k = 0; k < t->g.KH * t->g.KW; k++)
                P("%s%d", k ? ", " : " ", t->g.live[k] != 0);
            P(" };\n");
        }
    }
    P("\nstatic void tables_fill(void)\n{\n");
    for (int i = 0; i < E->kl.tables.n; i++) {
        Table *t = E->kl.tables.v[i];
        const RnConvGeom *g = &t->g;
        P("    %s(&(RnConvGeom){ 0, %d, %d, 0, %d, %d, %d, %d, %d, %d, %s }, tab%d_pos, tab%d_tq);\n",
          fn[t->kind], g->H, g->W, g->OH, g->OW, g->KH, g->KW, g->S, g->PAD,
          g->live ? arena_printf("tab%d_live", t->id) : "NULL", t->id, t->id);
    }
    P("}\n");
}

/* layer n lowered (klower.c) and printed as C, after a line that marks
 * the parameters of the layer table's signature (e, w, N) it does not read */
static void print_lowered(Emit *E, void (*lower)(KLower *, Graph *, Node *, KFunc *), Graph *g,
                          Node *n, unsigned params)
{
    KFunc k;
    kir_init(&k);
    lower(&E->kl, g, n, &k);
    unsigned unused = params & ~kir_uses(&k, E->kl.train);
    if (unused) {
        P("   ");
        if (unused & KU_E)
            P(" (void)e;");
        if (unused & KU_W)
            P(" (void)w;");
        if (unused & KU_N)
            P(" (void)N;");
        P("\n");
    }
    kir_print_c(&k, E->o, E->kl.train);
}

static void emit_forward_layer(Emit *E, Graph *g, Node *n)
{
    const char *nm = node_cname(n);
    int train = g->mode == MODE_TRAIN;
    if (n->op == RN_OP_INPUT)
        return; /* the entry point fills the input */
    Node *x = n->in[0], *y = n->in[1];
    P("\n/* %s: %s", c_string(n->name), c_string(klower_describe(n)));
    if (x)
        P(", %dx%dx%d", x->c, x->h, x->w);
    if (y)
        P(" + %dx%dx%d", y->c, y->h, y->w);
    P(" -> %dx%dx%d */\n", n->c, n->h, n->w);
    /* inference layers are inlined, into inf_pass1 and infn_* (see there) */
    P("static %svoid %s_%s(RnExec *e, float *w, int N)\n{\n",
      train ? "" : "inline __attribute__((always_inline)) ", train ? "fwd" : "inf", nm);
    print_lowered(E, klower_forward, g, n, KU_E | KU_W | KU_N);
    P("}\n");
}

/* ---- backward, one function per layer of the training graph ----
 * A node's gradient buffer is written by the first of its readers in
 * backward order (dx_set) and added to by the others. */
static void emit_backward_layer(Emit *E, Graph *g, Node *n)
{
    if (n->op == RN_OP_INPUT)
        return;
    P("\n/* d %s: %s */\n", c_string(n->name), c_string(klower_describe(n)));
    P("static void bwd_%s(RnExec *e, float *w, int N)\n{\n", node_cname(n));
    print_lowered(E, klower_backward, g, n, KU_E | KU_W | KU_N);
    P("}\n");
}

/* inference: each batch norm folded into its conv's weights and bias, a
 * function per conv (kfold), called in order by fold_weights */
static int emit_fold(Emit *E, Graph *g)
{
    int nfold = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (!n->ep.fold)
            continue;
        P("\n/* %s: batch norm %s folded in */\n", c_string(n->name), c_string(n->ep.bn->name));
        P("static void fold_%s(RnExec *e, float *w)\n{\n", node_cname(n));
        print_lowered(E, klower_fold, g, n, KU_E | KU_W);
        P("}\n");
        nfold++;
    }
    if (!nfold)
        return 0; /* nothing to fold (no batch norm after a conv, or -O0) */
    P("\n/* batch norm folded into the convolutions, for inference */\n");
    P("static void fold_weights(RnExec *e, float *w)\n{\n");
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (n->ep.fold)
            P("    fold_%s(e, w);\n", node_cname(n));
    }
    P("}\n");
    return 1;
}

/* ---- the descriptor ---- */

/* RnParamKind's spellings, in its order (runtime/rn_model.h) */
static const char *const pkind_names[] = { "RN_P_CONV_W", "RN_P_CONV_B", "RN_P_BN_W",
                                           "RN_P_BN_B",   "RN_P_BN_MEAN", "RN_P_BN_VAR",
                                           "RN_P_FC_W",   "RN_P_FC_B" };

static unsigned long long fnv1a(const char *s, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* the op name as an enum spelling, for the node table */
static const char *op_enum(RnOp op)
{
    static const char *const names[RN_OP_COUNT] = {
#define X(e, name, nin, params) "RN_OP_" #e,
        RN_OPS(X)
#undef X
    };
    return names[op];
}

static void emit_descriptor(Emit *E, const char *prefix)
{
    Graph *g = E->src;
    Model *m = g->model;
    P("\n/* ---- the descriptor ---- */\n\n");
    P("static const RnParamInfo params[] = {\n");
    int k = 0, np = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++, k++) {
            const ParamT *p = &n->param[j];
            int fan_in, fan_out;
            param_fans(n, p, &fan_in, &fan_out);
            P("    { \"%s\", %s, %d, { %d, %d, %d, %d }, %ldL, %ldL, %d, %d, %d, %d },\n", c_string(p->name),
              pkind_names[param_kind(n, j)], p->ndim, p->shape[0], p->ndim > 1 ? p->shape[1] : 0,
              p->ndim > 2 ? p->shape[2] : 0, p->ndim > 3 ? p->shape[3] : 0, p->numel, p->offset,
              p->is_buffer, p->no_decay, fan_in, fan_out);
        }
        np += n->nparam;
    }
    P("};\n\n");
    P("static const RnNodeInfo nodes[] = {\n");
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        int pi[4] = { -1, -1, -1, -1 };
        for (int j = 0; j < n->nparam; j++)
            pi[j] = n->param[j].index;
        P("    { %s, \"%s\", { %d, %d }, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, { %d, %d, %d, %d }, %.9g },\n",
          op_enum(n->op), c_string(n->name), n->in[0] ? n->in[0]->id : -1,
          n->in[1] ? n->in[1]->id : -1, n->c, n->h, n->w, n->kh, n->kw, n->stride, n->pad,
          n->groups, n->filters, n->bias, pi[0], pi[1], pi[2], pi[3], (double)n->p);
    }
    P("};\n\n");
    long macs = 0;
    for (int i = 0; i < g->nodes.n; i++)
        macs += node_macs(g->nodes.v[i]);
    const TrainDef *t = &m->train;
    const char *text = src_text(m->file);
    P("static const RnLayerInfo layers[] = {\n");
    int io = !E->pl->train;  /* --inference-only: the inference layers */
    Graph *tg = io ? E->pl->infer : E->pl->train;
    for (int i = 1; i < tg->nodes.n; i++) {
        Node *n = tg->nodes.v[i];
        long f = 2 * node_useful_macs(n), fb = 0;
        if (n->op == RN_OP_CONV || n->op == RN_OP_FC)
            fb = n->in[0]->op == RN_OP_INPUT ? f : 2 * f;
        P("    { \"%s\", \"%s\", %s_%s, %s%s, %ldL, %ldL },\n", c_string(n->name), c_string(klower_describe(n)),
          io ? "inf" : "fwd", node_cname(n), io ? "NULL" : "bwd_", io ? "" : node_cname(n), f, io ? 0 : fb);
    }
    P("};\n\n");
    Graph *ig = E->pl->infer;
    if (!io) {
        /* the inference graph's layers: infn_*, what forward(train = 0) calls */
        P("static const RnLayerInfo infer_layers[] = {\n");
        for (int i = 1; i < ig->nodes.n; i++) {
            Node *n = ig->nodes.v[i];
            P("    { \"%s\", \"%s\", infn_%s, NULL, %ldL, 0L },\n", c_string(n->name),
              c_string(klower_describe(n)), node_cname(n), 2 * node_useful_macs(n));
        }
        P("};\n\n");
    }
    P("const RnModel rn_model = {\n");
    P("    .name = \"%s\",\n", c_string(m->name));
    P("    .source_hash = \"%016llx\",\n", fnv1a(text, src_len(m->file)));
    P("    .backend = \"c\",\n");
    P("    .in_c = %d, .in_h = %d, .in_w = %d, .classes = %d,\n", m->in_c, m->in_h, m->in_w,
      m->classes);
    P("    .nparams = %d, .params = params, .param_floats = %ldL,\n", np, E->nparam_floats);
    P("    .nnodes = %d, .nodes = nodes, .output = %d,\n", g->nodes.n, g->output->id);
    P("    .defaults = {\n");
    P("        .optimizer = %d, .lr = %.9g, .momentum = %.9g, .beta1 = %.9g, .beta2 = %.9g, .eps = %.9g,\n",
      t->optimizer, t->lr, t->momentum, t->beta1, t->beta2, t->eps);
    P("        .nesterov = %d, .weight_decay = %.9g, .decoupled = %d, .no_decay_bn_bias = %d,\n",
      t->nesterov, t->weight_decay, t->decoupled, t->no_decay_bn_bias);
    P("        .schedule = %d, .warmup = %.9g, .step_epochs = %d, .gamma = %.9g, .min_lr = %.9g,\n",
      t->schedule, t->warmup, t->step_epochs, t->gamma, t->min_lr);
    P("        .label_smoothing = %.9g, .batch = %d, .epochs = %d,\n", t->label_smoothing, t->batch,
      t->epochs);
    P("        .nmean = %d, .mean = { %.9g, %.9g, %.9g, %.9g }, .std = { %.9g, %.9g, %.9g, %.9g },\n",
      t->nmean, t->mean[0], t->mean[1], t->mean[2], t->mean[3], t->nstd ? t->std[0] : 1.0,
      t->nstd > 1 ? t->std[1] : 1.0, t->nstd > 2 ? t->std[2] : 1.0, t->nstd > 3 ? t->std[3] : 1.0);
    P("        .shift = %d, .flip = %d, .seed = %lldL,\n", t->shift, t->flip, t->seed);
    P("    },\n");
    P("    .macs = %ldL,\n", macs);
    P("    .work_fixed = %ldL, .work_per_image = %ldL,\n", E->pfix, E->pimg);
    P("    .forward = %s_forward,\n", prefix);
    if (io) {
        P("    .backward = NULL,  /* built with --inference-only */\n");
        P("    .update = NULL,\n");
    } else {
        P("    .backward = %s_backward,\n", prefix);
        P("    .update = %s_update,\n", prefix);
    }
    P("    .nlayers = %d, .layers = layers,\n", tg->nodes.n - 1);
    P("    .ninfer_layers = %d, .infer_layers = %s,\n", ig->nodes.n - 1, io ? "layers" : "infer_layers");
    P("};\n");
}

static void emit_training_entries(Emit *E, Graph *g, Graph *tg, const char *prefix);

void emit_c(Graph *g, const Pipeline *pl, FILE *out, FILE *hdr, const char *hname)
{
    Emit em = { .pl = pl, .src = g, .o = out };
    Emit *E = &em;
    E->nparam_floats = param_layout(g);
    plan_workspace(pl, &E->pimg, &E->pfix);
    E->kl.pfix = E->pfix;
    const char *prefix = arena_printf("rnm_%s", c_ident(g->name));
    Model *m = g->model;
    Graph *tg = pl->train, *ig = pl->infer;  /* tg NULL: --inference-only */

    if (hdr) {
        fprintf(hdr, "/* %s - generated by rnetc from %s; do not edit. */\n", c_string(hname),
                c_string(src_name(m->file)));
        fprintf(hdr, "#ifndef RNET_MODEL_%s_H\n#define RNET_MODEL_%s_H\n", prefix, prefix);
        fprintf(hdr, "#include \"rn_model.h\"\n\n");
        fprintf(hdr, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n", prefix,
                m->in_c, prefix, m->in_h, prefix, m->in_w);
        fprintf(hdr, "#define %s_CLASSES %d\n", prefix, m->classes);
        fprintf(hdr, "#define %s_PARAM_FLOATS %ldL\n", prefix, E->nparam_floats);
        fprintf(hdr, "/* workspace floats for a batch of N (the planned arena) */\n");
        fprintf(hdr, "#define %s_WORK_FLOATS(N) (%ldL + %ldL * (long)(N))\n\n", prefix,
                E->pfix, E->pimg);
        fprintf(hdr, "void %s_forward(RnExec *e, const float *x, int N, int train);\n", prefix);
        if (tg) {
            fprintf(hdr, "void %s_backward(RnExec *e, const float *dlogits, int N);\n", prefix);
            fprintf(hdr, "void %s_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v);\n",
                    prefix);
        }
        fprintf(hdr, "\n#endif\n");
    }

    P("/* generated by rnetc from %s; do not edit.\n", c_string(src_name(m->file)));
    if (tg)
        P(" *\n * model %s: input %dx%dx%d, %d classes, %d layers (%d fused for training, %d for\n"
          " * inference).", c_string(m->name), m->in_c, m->in_h, m->in_w, m->classes, g->nodes.n,
          tg->nodes.n, ig->nodes.n);
    else
        P(" *\n * model %s: input %dx%dx%d, %d classes, %d layers (%d fused); inference only.", c_string(m->name),
          m->in_c, m->in_h, m->in_w, m->classes, g->nodes.n, ig->nodes.n);
    P("  Activations are CHWN (batch innermost); every size but the batch N is a\n * constant.\n");
    P(" * Workspace: %ld floats per image + %ld fixed, planned by liveness. */\n", E->pimg,
      E->pfix);
    P("#include \"rn_gen.h\"\n");
    if (hname)
        P("#include \"%s\"\n", hname);
    /* the layers and entry points first into memory: the tables they use
     * are declared above them */
    FILE *file = E->o;
    char *body;
    size_t body_len;
    E->o = open_memstream(&body, &body_len);
    if (!E->o)
        die("out of memory");
    if (tg) {
        P("\n/* ---- training: forward ---- */\n");
        for (int i = 0; i < tg->nodes.n; i++)
            emit_forward_layer(E, tg, tg->nodes.v[i]);
        P("\n/* ---- training: backward ---- */\n");
        for (int i = 0; i < tg->nodes.n; i++)
            emit_backward_layer(E, tg, tg->nodes.v[i]);
    }
    P("\n/* ---- inference ---- */\n");
    int folds = emit_fold(E, ig);
    for (int i = 0; i < ig->nodes.n; i++)
        emit_forward_layer(E, ig, ig->nodes.v[i]);

    /* batch 1 gets its own copy of the inference pass, every size in it a
     * constant: the layers are always inlined into inf_pass1 (a loop of
     * runtime length 1 costs its vector set-up each time: a global
     * pooling took 5.6 us at batch 1, 0.1 us with N = 1); other batches
     * call each layer's own copy (one function each: inlining them all
     * into one made a ResNet-18's C compile 30% longer) */
    P("\n/* the inference pass at batch 1, every size a constant */\n");
    P("static void inf_pass1(RnExec *e, float *w, const float *x)\n{\n");
    P("    const int N = 1;\n");
    P("    rn_nchw_to_chwn(%s, x, N, %d, %ld);\n",
      buf_expr(E, ig, ((Node *)ig->nodes.v[0])->buf[NB_ACT]), m->in_c, (long)m->in_h * m->in_w);
    for (int i = 1; i < ig->nodes.n; i++)
        P("    inf_%s(e, w, N);\n", node_cname(ig->nodes.v[i]));
    P("    rn_chwn_to_nchw(e->logits, %s, N, %d, 1);\n", buf_expr(E, ig, ig->output->buf[NB_ACT]),
      m->classes);
    P("}\n");
    P("\n/* ... and at other batches, each layer a function of its own */\n");
    for (int i = 1; i < ig->nodes.n; i++)
        P("static __attribute__((noinline)) void infn_%s(RnExec *e, float *w, int N) { inf_%s(e, w, N); }\n",
          node_cname(ig->nodes.v[i]), node_cname(ig->nodes.v[i]));

    P("\n/* ---- entry points ---- */\n\n");
    P("void %s_forward(RnExec *e, const float *x, int N, int train)\n{\n", prefix);
    P("    float *w = e->work;\n");
    if (E->kl.tables.n)
        P("    rn_once(&tables_done, tables_fill);\n");
    if (!tg)
        P("    (void)train;  /* built with --inference-only: always inference */\n");
    else {
    P("    if (train) {\n");
    P("        e->folded = 0;  /* running statistics move */\n");
    P("        rn_nchw_to_chwn(%s, x, N, %d, %ld);\n", buf_expr(E, tg, ((Node *)tg->nodes.v[0])->buf[NB_ACT]),
      m->in_c, (long)m->in_h * m->in_w);
    for (int i = 1; i < tg->nodes.n; i++)
        P("        fwd_%s(e, w, N);\n", node_cname(tg->nodes.v[i]));
    P("        rn_chwn_to_nchw(e->logits, %s, N, %d, 1);\n", buf_expr(E, tg, tg->output->buf[NB_ACT]),
      m->classes);
    P("        return;\n    }\n");
    }
    if (folds)
        P("    if (!e->folded) {\n        fold_weights(e, w);\n        e->folded = 1;\n    }\n");
    P("    if (N == 1) {\n        inf_pass1(e, w, x);\n        return;\n    }\n");
    P("    rn_nchw_to_chwn(%s, x, N, %d, %ld);\n", buf_expr(E, ig, ((Node *)ig->nodes.v[0])->buf[NB_ACT]),
      m->in_c, (long)m->in_h * m->in_w);
    for (int i = 1; i < ig->nodes.n; i++)
        P("    infn_%s(e, w, N);\n", node_cname(ig->nodes.v[i]));
    P("    rn_chwn_to_nchw(e->logits, %s, N, %d, 1);\n", buf_expr(E, ig, ig->output->buf[NB_ACT]),
      m->classes);
    P("}\n");
    if (tg)
        emit_training_entries(E, g, tg, prefix);
    if (fclose(E->o) != 0)
        die("out of memory");
    E->o = file;
    emit_tables(E);
    if (E->kl.tables.n)
        P("static int tables_done;\n");
    fwrite(body, 1, body_len, E->o);
    free(body);
    emit_descriptor(E, prefix);
}

/* NAME_backward and NAME_update */
static void emit_training_entries(Emit *E, Graph *g, Graph *tg, const char *prefix)
{
    Model *m = g->model;
    P("\n");
    P("void %s_backward(RnExec *e, const float *dlogits, int N)\n{\n", prefix);
    P("    float *w = e->work;\n");
    if (E->kl.tables.n)
        P("    rn_once(&tables_done, tables_fill);\n");
    P("    rn_nchw_to_chwn(%s, dlogits, N, %d, 1);\n", buf_expr(E, tg, tg->output->buf[NB_DACT]),
      m->classes);
    for (int i = tg->nodes.n - 1; i >= 1; i--)
        P("    bwd_%s(e, w, N);\n", node_cname(tg->nodes.v[i]));
    P("}\n\n");
    P("void %s_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v)\n{\n",
      prefix);
    P("    e->folded = 0;\n");
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++) {
            const ParamT *p = &n->param[j];
            if (p->is_buffer)
                continue;
            P("    rn_optim_step(o, lr, t, e->params + %ld, e->grads + %ld, m + %ld, v ? v + %ld : 0, %ld,\n",
              p->offset, p->offset, p->offset, p->offset, p->numel);
            P("                  rn_optim_decays(o, %d));  /* %s */\n", p->no_decay,
              c_string(p->name));
        }
    }
    P("}\n");
}
