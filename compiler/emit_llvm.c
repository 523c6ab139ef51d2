/* emit_llvm.c - the LLVM backend: one model -> an LLVM module, built with
 * the LLVM-C builder API (not by compiling the C backend's text).
 *
 * Requires: the pipeline's scheduled, planned graphs (run_pipeline).
 *
 * It builds what emit_c.c prints, from the same lowering (klower.c), with
 * the same symbols and ABI, so the same runtime (out/librnet.a) links with
 * either:
 *   - fwd_<layer> / bwd_<layer> / inf_<layer> (internal): each layer's
 *     KFunc built by kbuild, calls typed from kir_sigs.h, parallel loops
 *     outlined and run through rn_llvm_par (runtime/rn_llvm_rt.c) where the
 *     C backend writes RN_OMP_PAR_FOR; fold_weights, the index tables and
 *     tables_fill; the entry points rnm_<name>_forward / _backward /
 *     _update; and the `rn_model` descriptor as constants laid out for the
 *     target's data layout (build_planned);
 *   - the workspace, its layout (C x H x W x N) and offsets are the plan's.
 *
 * With --inference-only the backward pass and the update are left out (the
 * descriptor's pointers are NULL).  With --weights the module is instead
 * standalone: the trained weights as one constant array and
 * rnm_<name>_infer(x, logits, work) for one image, which calls nothing
 * (convolutions become generated GEMM loops), so that an object for a
 * microcontroller or wasm32 needs no runtime, heap or file system.  That
 * object is the one part built from the source graph with this file's own
 * generated loops and layout (C x N x H x W, plan_buffers).
 *
 * Floating point follows the C helpers of runtime/rn_gen.h operation for
 * operation (double accumulators where they use them, no reassociation,
 * no fast-math), so both backends agree with the reference interpreter.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <llvm-c/DebugInfo.h>
#include "llvm_be.h"
#include "kir_sigs.h"
#include "klower.h"
#include "rn_model.h"

/* ---- the buffer plan: kept in one function (see plan_buffers) ---- */

typedef struct {
    long act, dact;      /* per-image offsets (floats); dact -1 when none */
    long save;           /* fixed offset of batch-norm mean/invstd (2*c) */
    long size;           /* per-image floats */
} LBuf;

typedef struct {
    Graph *g;
    LlvmTarget *t;
    LLVMContextRef cx;
    LLVMModuleRef m;
    LLVMBuilderRef b, ab;            /* body builder; alloca builder (entry block) */
    LLVMTypeRef f32, f64, i1, i8, i32, i64, lng, pf, pi8, exec_t, pexec;
    int vw;
    int standalone;                  /* --weights: no runtime, N = 1 */
    float *const *weights;           /* standalone: per parameter, graph order */
    int grads;                       /* backward pass built */
    /* plan */
    LBuf *buf;
    long per_image, fixed, col, nparam_floats;
    long *poff;
    /* the function being built */
    LLVMValueRef fn, e, w, N, xin;
    LLVMValueRef wconst;             /* standalone: the weights array (float*) */
    LLVMValueRef sgemm, optim_step, optim_decays;
    LLVMTypeRef par_body_t;          /* an outlined loop body: void (ctx, lo, hi) */
    LLVMValueRef par;                /* rn_llvm_par: the KFuncs' parallel loops */
    LLVMTypeRef par_t;
    int npar;
    LLVMMetadataRef loop_props[3];   /* vectorize.width 1, interleave.count 1, unroll.disable */
    LLVMTypeRef sgemm_t, optim_step_t, optim_decays_t;
    const char *prefix;
} L;

static long conv_col(const Node *n)
{
    if (n->kh == 1 && n->kw == 1 && n->stride == 1 && n->pad == 0)
        return 0;
    return (long)n->in[0]->c * n->kh * n->kw * n->h * n->w;
}

static int needs_flatten(const Node *n)
{
    return n->op == RN_OP_FC && n->in[0]->h * n->in[0]->w != 1;
}

/* Where every tensor lives.  With a backward pass, the C backend's layout:
 * per node an activation and a gradient buffer, each size*N floats; then
 * one im2col/flatten scratch; batch-norm saves in the fixed part.  Without
 * one (inference-only, standalone) activations share space by liveness
 * (plan_reuse).  Parameters in graph order, each 16-float aligned.  A
 * shared memory planner replaces these functions and nothing else. */
/* Without a backward pass an activation is dead after its last reader:
 * first-fit reuse of freed space, in per-image floats.  A node's output
 * is placed before its inputs are released, so no op reads and writes the
 * same floats.  Returns the floats used. */
typedef struct {
    long off, size;
} Span;

static long take(Span *fr, int *nfr, long *top, long size)
{
    for (int i = 0; i < *nfr; i++)
        if (fr[i].size >= size) {
            long off = fr[i].off;
            fr[i].off += size;
            fr[i].size -= size;
            return off;
        }
    long off = *top;
    *top += size;
    return off;
}

static void give(Span *fr, int *nfr, long off, long size)
{
    int i = 0;
    while (i < *nfr && fr[i].off < off)
        i++;
    memmove(&fr[i + 1], &fr[i], sizeof(Span) * (size_t)(*nfr - i));
    fr[i] = (Span){ off, size };
    (*nfr)++;
    /* merge neighbours */
    for (int j = 0; j + 1 < *nfr;)
        if (fr[j].off + fr[j].size == fr[j + 1].off) {
            fr[j].size += fr[j + 1].size;
            memmove(&fr[j + 1], &fr[j + 2], sizeof(Span) * (size_t)(*nfr - j - 2));
            (*nfr)--;
        } else {
            j++;
        }
}

static long plan_reuse(L *E)
{
    Graph *g = E->g;
    int nn = g->nodes.n;
    int *last = arena_alloc(sizeof(int) * (size_t)nn);
    for (int i = 0; i < nn; i++) {
        Node *n = g->nodes.v[i];
        last[i] = n == g->output ? nn : i;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] && last[n->in[k]->id] < i)
                last[n->in[k]->id] = i;
    }
    Span *fr = arena_alloc(sizeof(Span) * (size_t)(nn + 2));
    int nfr = 0;
    long top = 0;
    for (int i = 0; i < nn; i++) {
        LBuf *b = &E->buf[i];
        /* standalone: the input is read in place from x */
        long need = i == 0 && E->standalone ? 0 : b->size;
        b->act = need ? take(fr, &nfr, &top, need) : 0;
        Node *n = g->nodes.v[i];
        for (int k = 0; k < n->nin; k++) {
            Node *in = n->in[k];
            if (in && last[in->id] == i && !(k == 1 && n->in[0] == in) &&
                !(in->id == 0 && E->standalone))
                give(fr, &nfr, E->buf[in->id].act, E->buf[in->id].size);
        }
    }
    return top;
}

static void plan_buffers(L *E)
{
    Graph *g = E->g;
    E->buf = arena_alloc(sizeof(LBuf) * (size_t)g->nodes.n);
    long off = 0, fixed = 0, col = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        LBuf *b = &E->buf[i];
        b->size = (long)n->c * n->h * n->w;
        b->act = off;
        off += b->size;
        b->dact = -1;
        if (E->grads) {
            b->dact = off;
            off += b->size;
        }
        if (n->op == RN_OP_BN) {
            b->save = fixed;
            fixed += 2L * n->c;
        }
        if (n->op == RN_OP_CONV && conv_col(n) > col)
            col = conv_col(n);
        if (needs_flatten(n)) {
            long f = (long)n->in[0]->c * n->in[0]->h * n->in[0]->w;
            if (f > col)
                col = f;
        }
    }
    if (!E->grads)
        off = plan_reuse(E);
    E->col = off;
    E->per_image = off + col;
    E->fixed = fixed;
    /* parameter offsets: the same layout as the C backend's (ir.c) */
    int np = 0;
    for (int i = 0; i < g->nodes.n; i++)
        np += ((Node *)g->nodes.v[i])->nparam;
    E->poff = arena_alloc(sizeof(long) * (size_t)(np + 1));
    E->nparam_floats = param_layout(g);
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++)
            E->poff[n->param[j].index] = n->param[j].offset;
    }
}

static int param_index(Graph *g, const Node *n, int j)
{
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *m = g->nodes.v[i];
        if (m == n)
            return k + j;
        k += m->nparam;
    }
    die("node not in graph");
}

/* ---- IR helpers ---- */

static LLVMValueRef ci(L *E, long v) { return LLVMConstInt(E->i64, (unsigned long long)v, 1); }
static LLVMValueRef ci32(L *E, int v) { return LLVMConstInt(E->i32, (unsigned long long)v, 1); }
static LLVMValueRef clong(L *E, long v) { return LLVMConstInt(E->lng, (unsigned long long)v, 1); }
static LLVMValueRef cf(L *E, float v) { return LLVMConstReal(E->f32, v); }
static LLVMValueRef cd(L *E, double v) { return LLVMConstReal(E->f64, v); }

/* a float constant, or that constant in every lane of a w-wide vector */
static LLVMValueRef cfw(L *E, float v, int w)
{
    if (w == 1)
        return cf(E, v);
    LLVMValueRef lanes[16];
    for (int i = 0; i < w; i++)
        lanes[i] = cf(E, v);
    return LLVMConstVector(lanes, (unsigned)w);
}

static LLVMValueRef splat(L *E, LLVMValueRef s, int w)
{
    if (w == 1)
        return s;
    LLVMTypeRef vt = LLVMVectorType(E->f32, (unsigned)w);
    LLVMValueRef v = LLVMBuildInsertElement(E->b, LLVMGetUndef(vt), s, ci32(E, 0), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(E->i32, (unsigned)w));
    return LLVMBuildShuffleVector(E->b, v, LLVMGetUndef(vt), zeros, "");
}

static LLVMValueRef add(L *E, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(E->b, a, b, ""); }
static LLVMValueRef mul(L *E, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(E->b, a, b, ""); }
static LLVMValueRef mulc(L *E, LLVMValueRef a, long c) { return c == 1 ? a : mul(E, a, ci(E, c)); }
static LLVMValueRef fadd_(L *E, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(E->b, a, b, ""); }
static LLVMValueRef fsub_(L *E, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(E->b, a, b, ""); }
static LLVMValueRef fmul_(L *E, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(E->b, a, b, ""); }
static LLVMValueRef fdiv_(L *E, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFDiv(E->b, a, b, ""); }

static LLVMValueRef gep(L *E, LLVMValueRef p, LLVMValueRef i)
{
    return LLVMBuildInBoundsGEP2(E->b, E->f32, p, &i, 1, "");
}
static LLVMValueRef gepc(L *E, LLVMValueRef p, long i) { return i ? gep(E, p, ci(E, i)) : p; }

/* load/store w floats at p (w = 1: a scalar), 4-byte aligned */
static LLVMValueRef ldw(L *E, LLVMValueRef p, int w)
{
    LLVMTypeRef t = E->f32;
    if (w > 1) {
        t = LLVMVectorType(E->f32, (unsigned)w);
        p = LLVMBuildBitCast(E->b, p, LLVMPointerType(t, 0), "");
    }
    LLVMValueRef v = LLVMBuildLoad2(E->b, t, p, "");
    LLVMSetAlignment(v, 4);
    return v;
}
static void stw(L *E, LLVMValueRef v, LLVMValueRef p, int w)
{
    if (w > 1)
        p = LLVMBuildBitCast(E->b, p, LLVMPointerType(LLVMVectorType(E->f32, (unsigned)w), 0), "");
    LLVMSetAlignment(LLVMBuildStore(E->b, v, p), 4);
}
static LLVMValueRef ld(L *E, LLVMValueRef p) { return ldw(E, p, 1); }
static void st(L *E, LLVMValueRef v, LLVMValueRef p) { stw(E, v, p, 1); }

/* a stack slot in the entry block (promoted to a register by the pipeline) */
static LLVMValueRef local(L *E, LLVMTypeRef t, LLVMValueRef init)
{
    LLVMValueRef a = LLVMBuildAlloca(E->ab, t, "");
    LLVMBuildStore(E->b, init, a);
    return a;
}
static LLVMValueRef get(L *E, LLVMValueRef slot, LLVMTypeRef t) { return LLVMBuildLoad2(E->b, t, slot, ""); }

static LLVMBasicBlockRef block(L *E, const char *name)
{
    return LLVMAppendBasicBlockInContext(E->cx, E->fn, name);
}

/* for (i = lo; i < hi; i += step) { ... }: loop_open returns i (i64) */
typedef struct {
    LLVMValueRef i;
    long step;
    int runtime;         /* the trip count depends on the batch (or: never unroll) */
    LLVMBasicBlockRef head, exit;
} Loop;

static LLVMValueRef loop_open(L *E, Loop *lp, LLVMValueRef lo, LLVMValueRef hi, long step)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(E->b);
    lp->head = block(E, "loop");
    LLVMBasicBlockRef body = block(E, "body");
    lp->exit = block(E, "done");
    lp->step = step;
    lp->runtime = !LLVMIsAConstantInt(lo) || !LLVMIsAConstantInt(hi);
    LLVMBuildBr(E->b, lp->head);
    LLVMPositionBuilderAtEnd(E->b, lp->head);
    lp->i = LLVMBuildPhi(E->b, E->i64, "i");
    LLVMAddIncoming(lp->i, &lo, &pre, 1);
    LLVMBuildCondBr(E->b, LLVMBuildICmp(E->b, LLVMIntSLT, lp->i, hi, ""), body, lp->exit);
    LLVMPositionBuilderAtEnd(E->b, body);
    return lp->i;
}

/* Loop metadata that keeps LLVM's loop vectoriser off the loops built
 * here: the elementwise ones are vectorised already, explicitly, and
 * re-vectorising every small tail and row loop multiplies the code (and
 * the compile time) for nothing.  Loops over the batch are not unrolled
 * either (LLVM would copy whole fully-unrolled tap nests four times);
 * constant-trip loops are LLVM's to unroll. */
static LLVMValueRef loop_md(L *E, int runtime)
{
    if (!E->loop_props[0]) {
        const char *names[3] = { "llvm.loop.vectorize.width", "llvm.loop.interleave.count",
                                 "llvm.loop.unroll.disable" };
        for (int i = 0; i < 3; i++) {
            LLVMMetadataRef ops[2] = { LLVMMDStringInContext2(E->cx, names[i], strlen(names[i])),
                                       LLVMValueAsMetadata(ci32(E, 1)) };
            E->loop_props[i] = LLVMMDNodeInContext2(E->cx, ops, i < 2 ? 2 : 1);
        }
    }
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(E->cx, NULL, 0);
    LLVMMetadataRef ops[4] = { tmp, E->loop_props[0], E->loop_props[1], E->loop_props[2] };
    LLVMMetadataRef id = LLVMMDNodeInContext2(E->cx, ops, runtime ? 4 : 3);
    LLVMMetadataReplaceAllUsesWith(tmp, id);
    return LLVMMetadataAsValue(E->cx, id);
}

static void loop_close(L *E, Loop *lp)
{
    LLVMValueRef next = add(E, lp->i, ci(E, lp->step));
    LLVMBasicBlockRef end = LLVMGetInsertBlock(E->b);
    LLVMValueRef br = LLVMBuildBr(E->b, lp->head);
    LLVMSetMetadata(br, LLVMGetMDKindIDInContext(E->cx, "llvm.loop", 9), loop_md(E, lp->runtime));
    LLVMAddIncoming(lp->i, &next, &end, 1);
    LLVMPositionBuilderAtEnd(E->b, lp->exit);
}

/* if (cond) { ... } [else { ... }] */
typedef struct {
    LLVMBasicBlockRef els, end;
} If;

static void if_open(L *E, If *f, LLVMValueRef cond)
{
    LLVMBasicBlockRef then = block(E, "then");
    f->els = block(E, "else");
    f->end = NULL;
    LLVMBuildCondBr(E->b, cond, then, f->els);
    LLVMPositionBuilderAtEnd(E->b, then);
}
static void if_else(L *E, If *f)
{
    f->end = block(E, "endif");
    LLVMBuildBr(E->b, f->end);
    LLVMPositionBuilderAtEnd(E->b, f->els);
}
static void if_close(L *E, If *f)
{
    if (!f->end) {
        LLVMBuildBr(E->b, f->els);
        LLVMPositionBuilderAtEnd(E->b, f->els);
        return;
    }
    LLVMBuildBr(E->b, f->end);
    LLVMPositionBuilderAtEnd(E->b, f->end);
}

/* ---- elementwise maps: out[i] (+)= f(in0[i], in1[i], ...) for i < n,
 * on vectors of E->vw floats, then a scalar tail ---- */

typedef enum {
    M_COPY,      /* a */
    M_ZERO,      /* 0 */
    M_ADD,       /* a + b */
    M_RELU,      /* a > 0 ? a : 0 */
    M_RELU_BWD,  /* b > 0 ? a : 0      (a = dy, b = y) */
    M_AFFINE,    /* a * s0 + s1 */
    M_PLUS_S,    /* a + s0 (y += bias, as "y[i] += b[k]") */
    M_S,         /* s0 (for an accumulating map: out += s0) */
    M_BN_BWD,    /* s0 * (s1 * a - s2 - ((b - s3) * s4) * s5)  a = dy, b = x */
} MapKind;

typedef struct {
    MapKind k;
    LLVMValueRef s[6]; /* scalar operands, splatted per width */
} Map;

static LLVMValueRef map_value(L *E, const Map *mp, LLVMValueRef a, LLVMValueRef b, int w)
{
    LLVMValueRef s[6];
    for (int i = 0; i < 6; i++)
        s[i] = mp->s[i] ? splat(E, mp->s[i], w) : NULL;
    switch (mp->k) {
    case M_COPY:
        return a;
    case M_ZERO:
        return cfw(E, 0.0f, w);
    case M_ADD:
        return fadd_(E, a, b);
    case M_RELU:
        return LLVMBuildSelect(E->b, LLVMBuildFCmp(E->b, LLVMRealOGT, a, cfw(E, 0.0f, w), ""), a,
                               cfw(E, 0.0f, w), "");
    case M_RELU_BWD:
        return LLVMBuildSelect(E->b, LLVMBuildFCmp(E->b, LLVMRealOGT, b, cfw(E, 0.0f, w), ""), a,
                               cfw(E, 0.0f, w), "");
    case M_AFFINE:
        return fadd_(E, fmul_(E, a, s[0]), s[1]);
    case M_PLUS_S:
        return fadd_(E, a, s[0]);
    case M_S:
        return s[0];
    case M_BN_BWD: {
        LLVMValueRef xhat = fmul_(E, fsub_(E, b, s[3]), s[4]);
        return fmul_(E, s[0], fsub_(E, fsub_(E, fmul_(E, s[1], a), s[2]), fmul_(E, xhat, s[5])));
    }
    }
    die("bad map");
}

static int map_inputs(MapKind k)
{
    switch (k) {
    case M_ZERO:
    case M_S:
        return 0;
    case M_COPY:
    case M_RELU:
    case M_AFFINE:
    case M_PLUS_S:
        return 1;
    case M_ADD:
    case M_RELU_BWD:
    case M_BN_BWD:
        return 2;
    }
    return 0;
}

/* out[i] = f(a[i], b[i]) or, with acc, out[i] = out[i] + f(...), i < n */
static void vmap(L *E, const Map *mp, LLVMValueRef n, LLVMValueRef out, LLVMValueRef a,
                 LLVMValueRef b, int acc)
{
    int nin = map_inputs(mp->k);
    LLVMValueRef split = ci(E, 0);
    int konst = LLVMIsAConstantInt(n) != NULL;
    long kn = konst ? (long)LLVMConstIntGetSExtValue(n) : 0;
    for (int pass = 0; pass < 2; pass++) {
        int w = pass == 0 ? E->vw : 1;
        if (pass == 0 && w == 1)
            continue;
        LLVMValueRef lo = pass == 0 ? ci(E, 0) : split;
        LLVMValueRef hi = n;
        if (pass == 0) {
            split = konst ? ci(E, kn / w * w) : LLVMBuildAnd(E->b, n, ci(E, -(long)w), "");
            hi = split;
        }
        /* a constant count: leave out a loop that would run no times */
        if (konst && (pass == 0 ? kn < w : kn % E->vw == 0 && E->vw > 1))
            continue;
        Loop lp;
        LLVMValueRef i = loop_open(E, &lp, lo, hi, w);
        LLVMValueRef va = nin > 0 ? ldw(E, gep(E, a, i), w) : NULL;
        LLVMValueRef vb = nin > 1 ? ldw(E, gep(E, b, i), w) : NULL;
        LLVMValueRef r = map_value(E, mp, va, vb, w);
        LLVMValueRef po = gep(E, out, i);
        if (acc)
            r = fadd_(E, ldw(E, po, w), r);
        stw(E, r, po, w);
        loop_close(E, &lp);
    }
}

static void vmap_c(L *E, MapKind k, LLVMValueRef n, LLVMValueRef out, LLVMValueRef a,
                   LLVMValueRef b, int acc)
{
    Map mp = { .k = k };
    vmap(E, &mp, n, out, a, b, acc);
}

/* dst[i] = src[i * stride] (or += with acc) for i < count, all constant */
static void copy_strided(L *E, LLVMValueRef dst, LLVMValueRef src, long count, long stride, int acc)
{
    if (count <= 0)
        return;
    if (stride == 1) {
        vmap_c(E, M_COPY, ci(E, count), dst, src, NULL, acc);
        return;
    }
    Loop lp;
    LLVMValueRef i = loop_open(E, &lp, ci(E, 0), ci(E, count), 1);
    LLVMValueRef v = ld(E, gep(E, src, mulc(E, i, stride)));
    LLVMValueRef pd = gep(E, dst, i);
    st(E, acc ? fadd_(E, ld(E, pd), v) : v, pd);
    loop_close(E, &lp);
}

/* the adjoint: dst[i * stride] += src[i] */
static void scatter_add(L *E, LLVMValueRef dst, LLVMValueRef src, long count, long stride)
{
    if (count <= 0)
        return;
    if (stride == 1) {
        vmap_c(E, M_COPY, ci(E, count), dst, src, NULL, 1);
        return;
    }
    Loop lp;
    LLVMValueRef i = loop_open(E, &lp, ci(E, 0), ci(E, count), 1);
    LLVMValueRef pd = gep(E, dst, mulc(E, i, stride));
    st(E, fadd_(E, ld(E, pd), ld(E, gep(E, src, i))), pd);
    loop_close(E, &lp);
}

static void zero(L *E, LLVMValueRef dst, long count)
{
    if (count > 0)
        vmap_c(E, M_ZERO, ci(E, count), dst, NULL, NULL, 0);
}

/* ---- per-channel loops of the standalone object ----
 * for (i = 0; i < count; i++) body(i), inline: the standalone object has
 * no runtime to spread them over threads (the programs' parallel loops
 * are the KFuncs', kpar_for below). */

typedef struct {
    const Node *n;
    int flag;
} ParArg;
typedef void (*ParBody)(L *E, LLVMValueRef i, const ParArg *a);

static LLVMValueRef fn_begin(L *E, const char *name, LLVMTypeRef ty, int internal);
static void fn_end(L *E);

static void par_for(L *E, long count, long work_per_image, ParBody body, ParArg a)
{
    (void)work_per_image;
    Loop l;
    LLVMValueRef i = loop_open(E, &l, ci(E, 0), ci(E, count), 1);
    body(E, i, &a);
    loop_close(E, &l);
}

/* ---- tensors of the function being built ---- */

static LLVMValueRef exec_field(L *E, int idx)
{
    LLVMValueRef p = LLVMBuildStructGEP2(E->b, E->exec_t, E->e, (unsigned)idx, "");
    return LLVMBuildLoad2(E->b, E->pf, p, "");
}

static LLVMValueRef act(L *E, const Node *n)
{
    if (E->xin && n->op == RN_OP_INPUT)
        return E->xin;
    return gep(E, E->w, mulc(E, E->N, E->buf[n->id].act));
}
static LLVMValueRef dact(L *E, const Node *n)
{
    return gep(E, E->w, mulc(E, E->N, E->buf[n->id].dact));
}
static LLVMValueRef colbuf(L *E) { return gep(E, E->w, mulc(E, E->N, E->col)); }

/* parameter j of n, from e->params (or e->grads), or the constant weights */
static LLVMValueRef param(L *E, const Node *n, int j, int grad)
{
    long off = E->poff[param_index(E->g, n, j)];
    if (E->standalone)
        return LLVMConstInBoundsGEP2(E->f32, E->wconst, (LLVMValueRef[]){ ci(E, off) }, 1);
    return gepc(E, exec_field(E, grad ? 1 : 0), off);
}

static LLVMValueRef to_i32(L *E, LLVMValueRef v) { return LLVMBuildTrunc(E->b, v, E->i32, ""); }

/* rn_sgemm(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc); sizes i64 */
static void call_sgemm(L *E, int ta, int tb, LLVMValueRef M, LLVMValueRef Nn, LLVMValueRef K,
                       LLVMValueRef A, LLVMValueRef lda, LLVMValueRef B, LLVMValueRef ldb,
                       float beta, LLVMValueRef C, LLVMValueRef ldc)
{
    LLVMValueRef args[] = { ci32(E, ta), ci32(E, tb), to_i32(E, M), to_i32(E, Nn), to_i32(E, K),
                            cf(E, 1.0f), A, to_i32(E, lda), B, to_i32(E, ldb), cf(E, beta), C,
                            to_i32(E, ldc) };
    LLVMValueRef c = LLVMBuildCall2(E->b, E->sgemm_t, E->sgemm, args, 13, "");
    unsigned se = LLVMGetEnumAttributeKindForName("signext", 7);
    static const unsigned ints[] = { 1, 2, 3, 4, 5, 8, 10, 13 };
    for (int i = 0; i < 8; i++)
        LLVMAddCallSiteAttribute(c, ints[i], LLVMCreateEnumAttribute(E->cx, se, 0));
}

/* Generated GEMM for standalone builds: y (M, P) = A (M, K) x B (K, P),
 * every size constant; P vectorised.  Replaces rn_sgemm where the object
 * must call nothing. */
static void gen_gemm(L *E, LLVMValueRef A, LLVMValueRef B, LLVMValueRef y, long M, long K, long P)
{
    Loop lm;
    LLVMValueRef m = loop_open(E, &lm, ci(E, 0), ci(E, M), 1);
    LLVMValueRef arow = gep(E, A, mulc(E, m, K));
    LLVMValueRef yrow = gep(E, y, mulc(E, m, P));
    long split = E->vw > 1 ? P / E->vw * E->vw : 0;
    for (int pass = 0; pass < 2; pass++) {
        int w = pass == 0 ? E->vw : 1;
        long lo = pass == 0 ? 0 : split, hi = pass == 0 ? split : P;
        if (lo >= hi)
            continue;
        LLVMTypeRef t = w > 1 ? LLVMVectorType(E->f32, (unsigned)w) : E->f32;
        Loop lp;
        LLVMValueRef p = loop_open(E, &lp, ci(E, lo), ci(E, hi), w);
        LLVMValueRef acc = local(E, t, cfw(E, 0.0f, w));
        Loop lk;
        LLVMValueRef k = loop_open(E, &lk, ci(E, 0), ci(E, K), 1);
        LLVMValueRef a = splat(E, ld(E, gep(E, arow, k)), w);
        LLVMValueRef bv = ldw(E, gep(E, B, add(E, mulc(E, k, P), p)), w);
        LLVMBuildStore(E->b, fadd_(E, get(E, acc, t), fmul_(E, a, bv)), acc);
        loop_close(E, &lk);
        stw(E, get(E, acc, t), gep(E, yrow, p), w);
        loop_close(E, &lp);
    }
    loop_close(E, &lm);
}

/* the output columns of a window tap that read inside the input */
static void tap_range(int W, int OW, int S, int P, int k, int *lo, int *hi)
{
    int l = P - k > 0 ? (P - k + S - 1) / S : 0;
    int h = (W - 1 + P - k) >= 0 ? (W - 1 + P - k) / S + 1 : 0;
    if (h > OW)
        h = OW;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* im2col (C*KH*KW, N*OH*OW) in the scratch <- x (C, N, H, W), channel c,
 * every tap unrolled; with back (flag), the adjoint: dx += col2im(col) */
static void im2col_channel(L *E, LLVMValueRef c, const ParArg *a)
{
    const Node *n = a->n, *in = n->in[0];
    int back = a->flag;
    LLVMValueRef col = colbuf(E), x = back ? dact(E, in) : act(E, in);
    long np = (long)n->h * n->w, hw = (long)in->h * in->w;
    LLVMValueRef src = gep(E, x, mul(E, c, mulc(E, E->N, hw)));
    LLVMValueRef dst = gep(E, col, mul(E, c, mulc(E, E->N, (long)n->kh * n->kw * np)));
    for (int kh = 0; kh < n->kh; kh++)
        for (int kw = 0; kw < n->kw; kw++) {
            int lo, hi, rlo, rhi;
            tap_range(in->w, n->w, n->stride, n->pad, kw, &lo, &hi);
            tap_range(in->h, n->h, n->stride, n->pad, kh, &rlo, &rhi);
            LLVMValueRef d = gep(E, dst, mulc(E, E->N, (long)(kh * n->kw + kw) * np));
            Loop ln;
            LLVMValueRef b = loop_open(E, &ln, ci(E, 0), E->N, 1);
            LLVMValueRef dn = gep(E, d, mulc(E, b, np));
            LLVMValueRef sn = gep(E, src, mulc(E, b, hw));
            if (!back)
                zero(E, dn, (long)rlo * n->w);
            if (rlo < rhi) {
                Loop lr;
                LLVMValueRef oh = loop_open(E, &lr, ci(E, rlo), ci(E, rhi), 1);
                lr.runtime = 1; /* rows stay a loop: taps x rows unrolled is too much code */
                LLVMValueRef dr = gep(E, dn, mulc(E, oh, n->w));
                LLVMValueRef row = add(E, mulc(E, oh, (long)n->stride * in->w),
                                       ci(E, (long)(kh - n->pad) * in->w));
                LLVMValueRef sr = gep(E, sn, add(E, row, ci(E, (long)lo * n->stride + kw - n->pad)));
                if (back) {
                    scatter_add(E, sr, gepc(E, dr, lo), hi - lo, n->stride);
                } else {
                    zero(E, dr, lo);
                    copy_strided(E, gepc(E, dr, lo), sr, hi - lo, n->stride, 0);
                    zero(E, gepc(E, dr, hi), n->w - hi);
                }
                loop_close(E, &lr);
            }
            if (!back)
                zero(E, gepc(E, dn, (long)rhi * n->w), (long)(n->h - rhi) * n->w);
            loop_close(E, &ln);
        }
}

static void im2col(L *E, const Node *n, int back)
{
    par_for(E, n->in[0]->c, (long)n->kh * n->kw * n->h * n->w, im2col_channel, (ParArg){ n, back });
}

/* y (K, NP) += b[k] per row */
static void add_bias(L *E, LLVMValueRef y, LLVMValueRef b, long K, LLVMValueRef NP)
{
    Loop lk;
    LLVMValueRef k = loop_open(E, &lk, ci(E, 0), ci(E, K), 1);
    LLVMValueRef row = gep(E, y, mul(E, k, NP));
    Map mp = { .k = M_PLUS_S, .s = { ld(E, gep(E, b, k)) } };
    vmap(E, &mp, NP, row, row, NULL, 0);
    loop_close(E, &lk);
}

/* sum of n floats in double, as the C helpers accumulate */
static LLVMValueRef dsum(L *E, LLVMValueRef p, LLVMValueRef n)
{
    LLVMValueRef s = local(E, E->f64, cd(E, 0));
    Loop l;
    LLVMValueRef i = loop_open(E, &l, ci(E, 0), n, 1);
    LLVMValueRef v = LLVMBuildFPExt(E->b, ld(E, gep(E, p, i)), E->f64, "");
    LLVMBuildStore(E->b, fadd_(E, get(E, s, E->f64), v), s);
    loop_close(E, &l);
    return get(E, s, E->f64);
}

/* db[k] += sum_i dy[k][i] over (K, NP) */

static LLVMValueRef intrinsic(L *E, const char *name, LLVMTypeRef t, LLVMValueRef x)
{
    LLVMTypeRef ft = LLVMFunctionType(t, &t, 1, 0);
    LLVMValueRef f = LLVMGetNamedFunction(E->m, name);
    if (!f)
        f = LLVMAddFunction(E->m, name, ft);
    return LLVMBuildCall2(E->b, ft, f, &x, 1, "");
}

/* one window of a pool at (oh, ow) over plane xp (H, W): every tap
 * unrolled, out-of-range taps masked (their load clamped to element 0).
 * kind 0 max, 1 average, 2 max's argmax (the first maximum, -1 if none) */
static LLVMValueRef pool_window(L *E, const Node *n, LLVMValueRef xp, LLVMValueRef oh,
                                LLVMValueRef ow, int kind, LLVMValueRef *at_out)
{
    const Node *in = n->in[0];
    LLVMValueRef m = kind == 1 ? cf(E, 0.0f) : cf(E, -INFINITY);
    LLVMValueRef at = ci(E, -1);
    for (int kh = 0; kh < n->kh; kh++) {
        LLVMValueRef ih = add(E, mulc(E, oh, n->stride), ci(E, kh - n->pad));
        LLVMValueRef vh = LLVMBuildAnd(E->b, LLVMBuildICmp(E->b, LLVMIntSGE, ih, ci(E, 0), ""),
                                       LLVMBuildICmp(E->b, LLVMIntSLT, ih, ci(E, in->h), ""), "");
        for (int kw = 0; kw < n->kw; kw++) {
            LLVMValueRef iw = add(E, mulc(E, ow, n->stride), ci(E, kw - n->pad));
            LLVMValueRef v = LLVMBuildAnd(
                E->b, vh,
                LLVMBuildAnd(E->b, LLVMBuildICmp(E->b, LLVMIntSGE, iw, ci(E, 0), ""),
                             LLVMBuildICmp(E->b, LLVMIntSLT, iw, ci(E, in->w), ""), ""),
                "");
            LLVMValueRef idx = LLVMBuildSelect(E->b, v, add(E, mulc(E, ih, in->w), iw), ci(E, 0), "");
            LLVMValueRef x = ld(E, gep(E, xp, idx));
            if (kind == 1) {
                m = fadd_(E, m, LLVMBuildSelect(E->b, v, x, cf(E, 0.0f), ""));
            } else {
                LLVMValueRef gt = LLVMBuildFCmp(E->b, LLVMRealOGT, x, m, "");
                if (kind == 2)
                    gt = LLVMBuildOr(E->b, gt, LLVMBuildICmp(E->b, LLVMIntSLT, at, ci(E, 0), ""), "");
                LLVMValueRef take = LLVMBuildAnd(E->b, v, gt, "");
                m = LLVMBuildSelect(E->b, take, x, m, "");
                at = LLVMBuildSelect(E->b, take, idx, at, "");
            }
        }
    }
    if (at_out)
        *at_out = at;
    return m;
}

/* ---- forward, one case per op ---- */

static void fwd_conv(L *E, const Node *n)
{
    const Node *x = n->in[0];
    long K = n->filters, G = n->groups, C = x->c, np = (long)n->h * n->w;
    long ckk = C / G * n->kh * n->kw;
    LLVMValueRef X = act(E, x), Y = act(E, n), W = param(E, n, 0, 0);
    LLVMValueRef B = X;
    if (conv_col(n)) {
        B = colbuf(E);
        im2col(E, n, 0);
    }
    LLVMValueRef NP = mulc(E, E->N, np);
    Loop lg;
    LLVMValueRef g = loop_open(E, &lg, ci(E, 0), ci(E, G), 1);
    LLVMValueRef Wg = gep(E, W, mulc(E, g, K / G * ckk));
    LLVMValueRef Bg = gep(E, B, mul(E, mulc(E, g, ckk), NP));
    LLVMValueRef Yg = gep(E, Y, mul(E, mulc(E, g, K / G), NP));
    if (E->standalone)
        gen_gemm(E, Wg, Bg, Yg, K / G, ckk, np);
    else
        call_sgemm(E, 0, 0, ci(E, K / G), NP, ci(E, ckk), Wg, ci(E, ckk), Bg, NP, 0.0f, Yg, NP);
    loop_close(E, &lg);
    if (n->bias)
        add_bias(E, Y, param(E, n, 1, 0), K, NP);
}

/* a constant float array (standalone builds), as a pointer to its first */
static LLVMValueRef const_floats(L *E, const char *name, const float *v, long n)
{
    LLVMValueRef *e = arena_alloc(sizeof(LLVMValueRef) * (size_t)n);
    for (long i = 0; i < n; i++)
        e[i] = cf(E, v[i]);
    LLVMValueRef init = LLVMConstArray(E->f32, e, (unsigned)n);
    LLVMValueRef gv = LLVMAddGlobal(E->m, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMInternalLinkage);
    return LLVMConstBitCast(gv, E->pf);
}

/* batch norm, training mode, channel c: batch statistics (in double, as
 * rn_bn_train_channel), normalise, save mean/invstd, update running stats */
static void bn_train_channel(L *E, LLVMValueRef c, const ParArg *a)
{
    const Node *n = a->n;
    long np = (long)n->h * n->w;
    LLVMValueRef X = act(E, n->in[0]), Y = act(E, n);
    LLVMValueRef gamma = param(E, n, 0, 0), beta = param(E, n, 1, 0);
    LLVMValueRef rmean = param(E, n, 2, 0), rvar = param(E, n, 3, 0);
    LLVMValueRef M = mulc(E, E->N, np);
    LLVMValueRef save = gep(E, E->w, add(E, mulc(E, E->N, E->per_image), ci(E, E->buf[n->id].save)));
    LLVMValueRef o = mul(E, c, M);
    LLVMValueRef xs = gep(E, X, o), ys = gep(E, Y, o);
    LLVMValueRef Md = LLVMBuildSIToFP(E->b, M, E->f64, "");
    LLVMValueRef mean = fdiv_(E, dsum(E, xs, M), Md);
    LLVMValueRef ss = local(E, E->f64, cd(E, 0));
    Loop li;
    LLVMValueRef i = loop_open(E, &li, ci(E, 0), M, 1);
    LLVMValueRef d = fsub_(E, LLVMBuildFPExt(E->b, ld(E, gep(E, xs, i)), E->f64, ""), mean);
    LLVMBuildStore(E->b, fadd_(E, get(E, ss, E->f64), fmul_(E, d, d)), ss);
    loop_close(E, &li);
    LLVMValueRef ssv = get(E, ss, E->f64);
    LLVMValueRef var = fdiv_(E, ssv, Md);
    LLVMValueRef sq = intrinsic(E, "llvm.sqrt.f64", E->f64, fadd_(E, var, cd(E, (double)RN_BN_EPS)));
    LLVMValueRef invstd = LLVMBuildFPTrunc(E->b, fdiv_(E, cd(E, 1.0), sq), E->f32, "");
    LLVMValueRef fm = LLVMBuildFPTrunc(E->b, mean, E->f32, "");
    LLVMValueRef scale = fmul_(E, ld(E, gep(E, gamma, c)), invstd);
    LLVMValueRef shift = fsub_(E, ld(E, gep(E, beta, c)), fmul_(E, fm, scale));
    Map mp = { .k = M_AFFINE, .s = { scale, shift } };
    vmap(E, &mp, M, ys, xs, NULL, 0);
    st(E, fm, gep(E, save, c));
    st(E, invstd, gep(E, save, add(E, c, ci(E, n->c))));
    LLVMValueRef gt1 = LLVMBuildICmp(E->b, LLVMIntSGT, M, ci(E, 1), "");
    LLVMValueRef unb = LLVMBuildSelect(
        E->b, gt1, fdiv_(E, ssv, LLVMBuildSIToFP(E->b, add(E, M, ci(E, -1)), E->f64, "")), var, "");
    float keep = 1.0f - RN_BN_MOMENTUM;
    LLVMValueRef pm = gep(E, rmean, c), pv = gep(E, rvar, c);
    st(E, fadd_(E, fmul_(E, cf(E, keep), ld(E, pm)), fmul_(E, cf(E, RN_BN_MOMENTUM), fm)), pm);
    st(E, fadd_(E, fmul_(E, cf(E, keep), ld(E, pv)),
                fmul_(E, cf(E, RN_BN_MOMENTUM), LLVMBuildFPTrunc(E->b, unb, E->f32, ""))),
       pv);
}

/* batch norm, inference mode, channel c (as rn_bn_infer_channel) */
static void bn_infer_channel(L *E, LLVMValueRef c, const ParArg *a)
{
    const Node *n = a->n;
    long np = (long)n->h * n->w;
    LLVMValueRef X = act(E, n->in[0]), Y = act(E, n);
    LLVMValueRef gamma = param(E, n, 0, 0), beta = param(E, n, 1, 0);
    LLVMValueRef rmean = param(E, n, 2, 0), rvar = param(E, n, 3, 0);
    LLVMValueRef M = mulc(E, E->N, np);
    LLVMValueRef o = mul(E, c, M);
    LLVMValueRef sq = intrinsic(E, "llvm.sqrt.f32", E->f32,
                                fadd_(E, ld(E, gep(E, rvar, c)), cf(E, RN_BN_EPS)));
    LLVMValueRef scale = fdiv_(E, ld(E, gep(E, gamma, c)), sq);
    LLVMValueRef shift = fsub_(E, ld(E, gep(E, beta, c)), fmul_(E, ld(E, gep(E, rmean, c)), scale));
    Map mp = { .k = M_AFFINE, .s = { scale, shift } };
    vmap(E, &mp, M, gep(E, Y, o), gep(E, X, o), NULL, 0);
}

static void fwd_bn(L *E, const Node *n, LLVMValueRef train)
{
    if (E->standalone) {
        /* the weights are known: scale and shift folded here, exactly as
         * the inference branch below computes them (no sqrt on the target) */
        int k = param_index(E->g, n, 0);
        float *sc = arena_alloc(sizeof(float) * (size_t)n->c), *sh = arena_alloc(sizeof(float) * (size_t)n->c);
        for (int c = 0; c < n->c; c++) {
            sc[c] = E->weights[k][c] / sqrtf(E->weights[k + 3][c] + RN_BN_EPS);
            sh[c] = E->weights[k + 1][c] - E->weights[k + 2][c] * sc[c];
        }
        LLVMValueRef S = const_floats(E, arena_printf("%s.scale", n->name), sc, n->c);
        LLVMValueRef T = const_floats(E, arena_printf("%s.shift", n->name), sh, n->c);
        long np = (long)n->h * n->w;
        LLVMValueRef X = act(E, n->in[0]), Y = act(E, n);
        Loop lc;
        LLVMValueRef c = loop_open(E, &lc, ci(E, 0), ci(E, n->c), 1);
        Map mp = { .k = M_AFFINE, .s = { ld(E, gep(E, S, c)), ld(E, gep(E, T, c)) } };
        vmap(E, &mp, ci(E, np), gep(E, Y, mulc(E, c, np)), gep(E, X, mulc(E, c, np)), NULL, 0);
        loop_close(E, &lc);
        return;
    }
    If f = { 0 };
    if (train) {
        if_open(E, &f, LLVMBuildICmp(E->b, LLVMIntNE, train, ci32(E, 0), ""));
        par_for(E, n->c, (long)n->h * n->w, bn_train_channel, (ParArg){ n, 0 });
        if_else(E, &f);
    }
    par_for(E, n->c, (long)n->h * n->w, bn_infer_channel, (ParArg){ n, 0 });
    if (train)
        if_close(E, &f);
}

/* max or average pool over channel c of every image */
static void pool_channel(L *E, LLVMValueRef c, const ParArg *a)
{
    const Node *n = a->n, *x = n->in[0];
    long np = (long)n->h * n->w, hw = (long)x->h * x->w;
    LLVMValueRef X = act(E, x), Y = act(E, n);
    Loop lb, lh, lw;
    LLVMValueRef b = loop_open(E, &lb, ci(E, 0), E->N, 1);
    LLVMValueRef p = add(E, mul(E, c, E->N), b);
    LLVMValueRef xp = gep(E, X, mulc(E, p, hw)), yp = gep(E, Y, mulc(E, p, np));
    LLVMValueRef oh = loop_open(E, &lh, ci(E, 0), ci(E, n->h), 1);
    LLVMValueRef ow = loop_open(E, &lw, ci(E, 0), ci(E, n->w), 1);
    int avg = n->op == RN_OP_AVGPOOL;
    LLVMValueRef v = pool_window(E, n, xp, oh, ow, avg, NULL);
    if (avg)
        v = fmul_(E, v, cf(E, 1.0f / (float)(n->kh * n->kw)));
    st(E, v, gep(E, yp, add(E, mulc(E, oh, n->w), ow)));
    loop_close(E, &lw);
    loop_close(E, &lh);
    loop_close(E, &lb);
}

static void fwd_pool(L *E, const Node *n)
{
    par_for(E, n->c, (long)n->h * n->w * n->kh * n->kw, pool_channel, (ParArg){ n, 0 });
}

static void fwd_gap(L *E, const Node *n)
{
    const Node *x = n->in[0];
    long hw = (long)x->h * x->w;
    LLVMValueRef X = act(E, x), Y = act(E, n);
    Loop lp, li;
    LLVMValueRef p = loop_open(E, &lp, ci(E, 0), mulc(E, E->N, n->c), 1);
    LLVMValueRef xp = gep(E, X, mulc(E, p, hw));
    LLVMValueRef s = local(E, E->f32, cf(E, 0.0f));
    LLVMValueRef i = loop_open(E, &li, ci(E, 0), ci(E, hw), 1);
    LLVMBuildStore(E->b, fadd_(E, get(E, s, E->f32), ld(E, gep(E, xp, i))), s);
    loop_close(E, &li);
    st(E, fmul_(E, get(E, s, E->f32), cf(E, 1.0f / (float)hw)), gep(E, Y, p));
    loop_close(E, &lp);
}

/* padshort: y's channels lo.. take x subsampled; back: the adjoint */
static void padshort(L *E, const Node *n, LLVMValueRef Y, LLVMValueRef X, int back)
{
    const Node *x = n->in[0];
    int lo = (n->c - x->c) / 2;
    long np = (long)n->h * n->w, hw = (long)x->h * x->w;
    Loop lc, lb, lh;
    LLVMValueRef c = loop_open(E, &lc, ci(E, 0), ci(E, x->c), 1);
    LLVMValueRef b = loop_open(E, &lb, ci(E, 0), E->N, 1);
    LLVMValueRef yb = gep(E, Y, mulc(E, add(E, mul(E, add(E, c, ci(E, lo)), E->N), b), np));
    LLVMValueRef xb = gep(E, X, mulc(E, add(E, mul(E, c, E->N), b), hw));
    LLVMValueRef oh = loop_open(E, &lh, ci(E, 0), ci(E, n->h), 1);
    LLVMValueRef yr = gep(E, yb, mulc(E, oh, n->w));
    LLVMValueRef xr = gep(E, xb, mulc(E, oh, (long)n->stride * x->w));
    if (back)
        scatter_add(E, xr, yr, n->w, n->stride);
    else
        copy_strided(E, yr, xr, n->w, n->stride, 0);
    loop_close(E, &lh);
    loop_close(E, &lb);
    loop_close(E, &lc);
}

/* (C, N, HW) <-> per-image columns (C*HW, N); back: dx += unflatten(xf) */
static void flatten(L *E, LLVMValueRef xf, LLVMValueRef X, int C, long hw, int back)
{
    Loop lc, lb;
    LLVMValueRef c = loop_open(E, &lc, ci(E, 0), ci(E, C), 1);
    LLVMValueRef b = loop_open(E, &lb, ci(E, 0), E->N, 1);
    LLVMValueRef xr = gep(E, X, mulc(E, add(E, mul(E, c, E->N), b), hw));
    LLVMValueRef fr = gep(E, xf, add(E, mul(E, mulc(E, c, hw), E->N), b));
    Loop lp;
    LLVMValueRef p = loop_open(E, &lp, ci(E, 0), ci(E, hw), 1);
    LLVMValueRef pf = gep(E, fr, mul(E, p, E->N)), px = gep(E, xr, p);
    if (back)
        st(E, fadd_(E, ld(E, px), ld(E, pf)), px);
    else
        st(E, ld(E, px), pf);
    loop_close(E, &lp);
    loop_close(E, &lb);
    loop_close(E, &lc);
}

static void fwd_fc(L *E, const Node *n)
{
    const Node *x = n->in[0];
    long in = (long)x->c * x->h * x->w;
    LLVMValueRef X = act(E, x), Y = act(E, n), W = param(E, n, 0, 0), b = param(E, n, 1, 0);
    if (E->standalone) {
        /* one image: CHW is already the feature column */
        gen_gemm(E, W, X, Y, n->c, in, 1);
    } else {
        if (needs_flatten(n)) {
            LLVMValueRef xf = colbuf(E);
            flatten(E, xf, X, x->c, (long)x->h * x->w, 0);
            X = xf;
        }
        call_sgemm(E, 0, 0, ci(E, n->c), E->N, ci(E, in), W, ci(E, in), X, E->N, 0.0f, Y, E->N);
    }
    add_bias(E, Y, b, n->c, E->N);
}

/* elementwise ops, channel c of every image (flag: 0 relu, 1 add, 2 relu
 * backward, 3 add backward into the first input, 4 into the second) */
static void ew_channel(L *E, LLVMValueRef c, const ParArg *a)
{
    const Node *n = a->n, *x = n->in[0], *y = n->in[1];
    LLVMValueRef cnt = mulc(E, E->N, (long)n->h * n->w);
    LLVMValueRef o = mul(E, c, cnt);
    switch (a->flag) {
    case 0:
        vmap_c(E, M_RELU, cnt, gep(E, act(E, n), o), gep(E, act(E, x), o), NULL, 0);
        break;
    case 1:
        vmap_c(E, M_ADD, cnt, gep(E, act(E, n), o), gep(E, act(E, x), o), gep(E, act(E, y), o), 0);
        break;
    case 2:
        vmap_c(E, M_RELU_BWD, cnt, gep(E, dact(E, x), o), gep(E, dact(E, n), o), gep(E, act(E, n), o), 1);
        break;
    default:
        vmap_c(E, M_COPY, cnt, gep(E, dact(E, a->flag == 3 ? x : y), o), gep(E, dact(E, n), o), NULL, 1);
        break;
    }
}

/* the forward pass of one node; train is the i32 flag (NULL: inference) */
static void forward_node(L *E, Node *n, LLVMValueRef train)
{
    const Node *x = n->in[0], *y = n->in[1];
    long np = (long)n->h * n->w;
    switch (n->op) {
    case RN_OP_INPUT:
        break;
    case RN_OP_CONV:
        fwd_conv(E, n);
        break;
    case RN_OP_BN:
        fwd_bn(E, n, train);
        break;
    case RN_OP_RELU:
        par_for(E, n->c, np, ew_channel, (ParArg){ n, 0 });
        break;
    case RN_OP_DROPOUT: /* inference: the identity */
        vmap_c(E, M_COPY, mulc(E, E->N, n->c * np), act(E, n), act(E, x), NULL, 0);
        break;
    case RN_OP_MAXPOOL:
    case RN_OP_AVGPOOL:
        fwd_pool(E, n);
        break;
    case RN_OP_GAP:
        fwd_gap(E, n);
        break;
    case RN_OP_ADD:
        par_for(E, n->c, np, ew_channel, (ParArg){ n, 1 });
        break;
    case RN_OP_CONCAT: {
        /* CNHW: a concat along channels is two copies */
        LLVMValueRef Y = act(E, n);
        vmap_c(E, M_COPY, mulc(E, E->N, x->c * np), Y, act(E, x), NULL, 0);
        vmap_c(E, M_COPY, mulc(E, E->N, y->c * np), gep(E, Y, mulc(E, E->N, x->c * np)), act(E, y),
               NULL, 0);
        break;
    }
    case RN_OP_PADSHORT:
        vmap_c(E, M_ZERO, mulc(E, E->N, n->c * np), act(E, n), NULL, NULL, 0);
        padshort(E, n, act(E, n), act(E, x), 0);
        break;
    case RN_OP_FC:
        fwd_fc(E, n);
        break;
    case RN_OP_COUNT:
        die("bad op");
    }
}

/* ---- backward, one case per op ---- */


/* batch norm backward, channel c (as rn_bn_backward_channel) */






/* ---- functions ---- */

static void add_signext(L *E, LLVMValueRef fn, const unsigned *idx, int n)
{
    unsigned se = LLVMGetEnumAttributeKindForName("signext", 7);
    for (int i = 0; i < n; i++)
        LLVMAddAttributeAtIndex(fn, idx[i], LLVMCreateEnumAttribute(E->cx, se, 0));
}

/* start a function: an entry block for allocas, then the body */
static LLVMValueRef fn_begin(L *E, const char *name, LLVMTypeRef ty, int internal)
{
    E->fn = LLVMAddFunction(E->m, name, ty);
    if (internal)
        LLVMSetLinkage(E->fn, LLVMInternalLinkage);
    LLVMAddAttributeAtIndex(E->fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(E->cx, LLVMGetEnumAttributeKindForName("nounwind", 8), 0));
    if (E->standalone)
        /* no memset/memcpy calls made up from loops: the object stands alone */
        LLVMAddAttributeAtIndex(E->fn, LLVMAttributeFunctionIndex,
                                LLVMCreateStringAttribute(E->cx, "no-builtins", 11, "", 0));
    LLVMBasicBlockRef entry = block(E, "entry");
    LLVMPositionBuilderAtEnd(E->ab, entry);
    LLVMPositionBuilderAtEnd(E->b, block(E, "start"));
    return E->fn;
}

static void fn_end(L *E)
{
    LLVMBuildRetVoid(E->b);
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(E->fn);
    LLVMPositionBuilderAtEnd(E->ab, entry);
    LLVMBuildBr(E->ab, LLVMGetNextBasicBlock(entry));
    E->xin = NULL;
}

/* a layer function, forward or backward: (e, w, N) */
static LLVMTypeRef layer_type(L *E)
{
    return LLVMFunctionType(LLVMVoidTypeInContext(E->cx), (LLVMTypeRef[]){ E->pexec, E->pf, E->i32 },
                            3, 0);
}


/* NCHW (N, C, HW) <-> CNHW (C, N, HW) */

static LLVMTypeRef named_struct(L *E, const char *name, LLVMTypeRef *f, int n);

static void declare_runtime(L *E)
{
    LLVMTypeRef v = LLVMVoidTypeInContext(E->cx);
    LLVMTypeRef sg[] = { E->i32, E->i32, E->i32, E->i32, E->i32, E->f32, E->pf,
                         E->i32, E->pf,  E->i32, E->f32, E->pf,  E->i32 };
    E->sgemm_t = LLVMFunctionType(v, sg, 13, 0);
    E->sgemm = LLVMAddFunction(E->m, "rn_sgemm", E->sgemm_t);
    add_signext(E, E->sgemm, (const unsigned[]){ 1, 2, 3, 4, 5, 8, 10, 13 }, 8);
    LLVMTypeRef os[] = { E->pi8, E->f32, E->lng, E->pf, E->pf, E->pf, E->pf, E->lng, E->i32 };
    E->optim_step_t = LLVMFunctionType(v, os, 9, 0);
    E->optim_step = LLVMAddFunction(E->m, "rn_optim_step", E->optim_step_t);
    add_signext(E, E->optim_step, (const unsigned[]){ 9 }, 1);
    LLVMTypeRef od[] = { E->pi8, E->i32 };
    E->optim_decays_t = LLVMFunctionType(E->i32, od, 2, 0);
    E->optim_decays = LLVMAddFunction(E->m, "rn_optim_decays", E->optim_decays_t);
    E->par_body_t = LLVMFunctionType(v, (LLVMTypeRef[]){ E->pi8, E->lng, E->lng }, 3, 0);
    add_signext(E, E->optim_decays, (const unsigned[]){ 0, 2 }, 2);
}

/* update(e, o, lr, t, m, v): the optimizer step of every parameter */
static LLVMValueRef build_update(L *E)
{
    Graph *g = E->g;
    LLVMTypeRef v = LLVMVoidTypeInContext(E->cx);
    LLVMValueRef fn = fn_begin(E, arena_printf("%s_update", E->prefix),
                  LLVMFunctionType(v, (LLVMTypeRef[]){ E->pexec, E->pi8, E->f32, E->lng, E->pf, E->pf }, 6, 0), 0);
    E->e = LLVMGetParam(fn, 0);
    LLVMValueRef o = LLVMGetParam(fn, 1), lr = LLVMGetParam(fn, 2), t = LLVMGetParam(fn, 3);
    /* the weights move: inference folds them again */
    LLVMBuildStore(E->b, ci32(E, 0), LLVMBuildStructGEP2(E->b, E->exec_t, E->e, 5, ""));
    LLVMValueRef mm = LLVMGetParam(fn, 4), vv = LLVMGetParam(fn, 5);
    LLVMValueRef P = exec_field(E, 0), G = exec_field(E, 1);
    LLVMValueRef hasv = LLVMBuildIsNotNull(E->b, vv, ""), hasm = LLVMBuildIsNotNull(E->b, mm, "");
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++, k++) {
            const ParamT *p = &n->param[j];
            if (p->is_buffer)
                continue;
            long off = E->poff[k];
            LLVMValueRef dec = LLVMBuildCall2(E->b, E->optim_decays_t, E->optim_decays,
                                              (LLVMValueRef[]){ o, ci32(E, p->no_decay) }, 2, "");
            /* state buffers may be NULL (v for SGD, m without momentum): stay NULL */
            LLVMValueRef vp = LLVMBuildSelect(E->b, hasv, gepc(E, vv, off), LLVMConstNull(E->pf), "");
            LLVMValueRef mp = LLVMBuildSelect(E->b, hasm, gepc(E, mm, off), LLVMConstNull(E->pf), "");
            LLVMValueRef args[] = { o, lr, t, gepc(E, P, off), gepc(E, G, off), mp, vp,
                                    clong(E, p->numel), dec };
            LLVMValueRef c = LLVMBuildCall2(E->b, E->optim_step_t, E->optim_step, args, 9, "");
            LLVMAddCallSiteAttribute(c, 9, LLVMCreateEnumAttribute(E->cx, LLVMGetEnumAttributeKindForName("signext", 7), 0));
        }
    }
    fn_end(E);
    return fn;
}


/* ---- the descriptor, as constants laid out for the target ---- */

static LLVMValueRef cstr(L *E, const char *s)
{
    size_t n = strlen(s);
    LLVMValueRef init = LLVMConstStringInContext(E->cx, s, (unsigned)n, 0);
    LLVMValueRef gv = LLVMAddGlobal(E->m, LLVMTypeOf(init), ".str");
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    LLVMValueRef zero2[] = { ci(E, 0), ci(E, 0) };
    return LLVMConstInBoundsGEP2(LLVMTypeOf(init), gv, zero2, 2);
}

static LLVMTypeRef named_struct(L *E, const char *name, LLVMTypeRef *f, int n)
{
    LLVMTypeRef t = LLVMStructCreateNamed(E->cx, name);
    LLVMStructSetBody(t, f, (unsigned)n, 0);
    return t;
}

static LLVMValueRef carr_i32(L *E, const int *v, int n)
{
    LLVMValueRef e[8];
    for (int i = 0; i < n; i++)
        e[i] = ci32(E, v[i]);
    return LLVMConstArray(E->i32, e, (unsigned)n);
}

static LLVMValueRef carr_f32(L *E, const double *v, int n)
{
    LLVMValueRef e[8];
    for (int i = 0; i < n; i++)
        e[i] = cf(E, (float)v[i]);
    return LLVMConstArray(E->f32, e, (unsigned)n);
}

/* a constant global array of n elements of type t, as a pointer to t */
static LLVMValueRef const_table(L *E, const char *name, LLVMTypeRef t, LLVMValueRef *v, int n)
{
    LLVMValueRef init = LLVMConstArray(t, v, (unsigned)n);
    LLVMValueRef gv = LLVMAddGlobal(E->m, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMInternalLinkage);
    LLVMValueRef zero2[] = { ci(E, 0), ci(E, 0) };
    return LLVMConstInBoundsGEP2(LLVMTypeOf(init), gv, zero2, 2);
}

static unsigned long long fnv1a(const char *s, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static LLVMValueRef fptr(L *E, LLVMValueRef f)
{
    return f ? LLVMConstBitCast(f, E->pi8) : LLVMConstNull(E->pi8);
}

/* one layer table: g's layers (fwd, bwd: their functions, by node) */
static LLVMValueRef layer_table(L *E, LLVMTypeRef linfo_t, const char *name, Graph *lg,
                                LLVMValueRef *fwd, LLVMValueRef *bwd)
{
    LLVMValueRef *lv = arena_alloc(sizeof(LLVMValueRef) * (size_t)lg->nodes.n);
    for (int i = 1; i < lg->nodes.n; i++) {
        Node *n = lg->nodes.v[i];
        long fl = 2 * node_useful_macs(n), fb = 0;
        if (bwd && (n->op == RN_OP_CONV || n->op == RN_OP_FC))
            fb = n->in[0]->op == RN_OP_INPUT ? fl : 2 * fl;
        LLVMValueRef fv[] = { cstr(E, n->name), cstr(E, klower_describe(n)), fptr(E, fwd[i]),
                              fptr(E, bwd ? bwd[i] : NULL), clong(E, fl), clong(E, fb) };
        lv[i - 1] = LLVMConstNamedStruct(linfo_t, fv, 6);
    }
    return const_table(E, name, linfo_t, lv, lg->nodes.n - 1);
}

/* lg: the graph whose layers the layer table lists (fwd, bwd: their
 * functions, by node); ig and inf: the inference graph's, for the
 * inference layer table */
static void build_descriptor(L *E, Graph *lg, LLVMValueRef *fwd, LLVMValueRef *bwd, Graph *ig,
                             LLVMValueRef *inf, LLVMValueRef forward, LLVMValueRef backward,
                             LLVMValueRef update)
{
    Graph *g = E->g;
    Model *m = g->model;
    LLVMTypeRef i32 = E->i32, lng = E->lng, p = E->pi8, f = E->f32;
    LLVMTypeRef a4i = LLVMArrayType(i32, 4), a2i = LLVMArrayType(i32, 2), a4f = LLVMArrayType(f, 4);
    LLVMTypeRef pinfo_t = named_struct(E, "RnParamInfo",
                                       (LLVMTypeRef[]){ p, i32, i32, a4i, lng, lng, i32, i32, i32, i32 }, 10);
    LLVMTypeRef ninfo_t = named_struct(E, "RnNodeInfo",
                                       (LLVMTypeRef[]){ i32, p, a2i, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, a4i, f }, 15);
    LLVMTypeRef defs_t = named_struct(
        E, "RnTrainDefaults",
        (LLVMTypeRef[]){ i32, f, f, f, f, f, i32, f, i32, i32, i32, f, i32, f, f, f, i32, i32, i32, a4f, a4f, i32, i32, lng },
        24);
    LLVMTypeRef linfo_t = named_struct(E, "RnLayerInfo", (LLVMTypeRef[]){ p, p, p, p, lng, lng }, 6);
    LLVMTypeRef model_t = named_struct(
        E, "RnModel",
        (LLVMTypeRef[]){ p, p, p, i32, i32, i32, i32, i32, LLVMPointerType(pinfo_t, 0), lng, i32,
                         LLVMPointerType(ninfo_t, 0), i32, defs_t, lng, lng, lng, p, p, p, i32,
                         LLVMPointerType(linfo_t, 0), i32, LLVMPointerType(linfo_t, 0) },
        24);

    int np = 0;
    for (int i = 0; i < g->nodes.n; i++)
        np += ((Node *)g->nodes.v[i])->nparam;
    LLVMValueRef *pv = arena_alloc(sizeof(LLVMValueRef) * (size_t)(np + 1));
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++, k++) {
            const ParamT *pt = &n->param[j];
            int fan_in, fan_out;
            param_fans(n, pt, &fan_in, &fan_out);
            int sh[4] = { pt->shape[0], pt->ndim > 1 ? pt->shape[1] : 0, pt->ndim > 2 ? pt->shape[2] : 0,
                          pt->ndim > 3 ? pt->shape[3] : 0 };
            LLVMValueRef fv[] = { cstr(E, pt->name), ci32(E, param_kind(n, j)), ci32(E, pt->ndim), carr_i32(E, sh, 4),
                                  clong(E, pt->numel), clong(E, E->poff[k]), ci32(E, pt->is_buffer),
                                  ci32(E, pt->no_decay), ci32(E, fan_in), ci32(E, fan_out) };
            pv[k] = LLVMConstNamedStruct(pinfo_t, fv, 10);
        }
    }
    LLVMValueRef params = const_table(E, "params", pinfo_t, pv, np);
    LLVMValueRef *nv = arena_alloc(sizeof(LLVMValueRef) * (size_t)g->nodes.n);
    long macs = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        int pi[4] = { -1, -1, -1, -1 };
        for (int j = 0; j < n->nparam; j++)
            pi[j] = param_index(g, n, j);
        int ins[2] = { n->in[0] ? n->in[0]->id : -1, n->in[1] ? n->in[1]->id : -1 };
        LLVMValueRef fv[] = { ci32(E, (int)n->op), cstr(E, n->name), carr_i32(E, ins, 2), ci32(E, n->c),
                              ci32(E, n->h), ci32(E, n->w), ci32(E, n->kh), ci32(E, n->kw),
                              ci32(E, n->stride), ci32(E, n->pad), ci32(E, n->groups), ci32(E, n->filters),
                              ci32(E, n->bias), carr_i32(E, pi, 4), cf(E, n->p) };
        nv[i] = LLVMConstNamedStruct(ninfo_t, fv, 15);
        macs += node_macs(n);
    }
    LLVMValueRef nodes = const_table(E, "nodes", ninfo_t, nv, g->nodes.n);
    LLVMValueRef layers = layer_table(E, linfo_t, "layers", lg, fwd, bwd);
    LLVMValueRef infer_layers = lg == ig ? layers : layer_table(E, linfo_t, "infer_layers", ig, inf, NULL);
    const TrainDef *t = &m->train;
    double stdv[4] = { t->nstd ? t->std[0] : 1.0, t->nstd > 1 ? t->std[1] : 1.0,
                       t->nstd > 2 ? t->std[2] : 1.0, t->nstd > 3 ? t->std[3] : 1.0 };
    LLVMValueRef dv[] = { ci32(E, t->optimizer), cf(E, (float)t->lr), cf(E, (float)t->momentum),
                          cf(E, (float)t->beta1), cf(E, (float)t->beta2), cf(E, (float)t->eps),
                          ci32(E, t->nesterov), cf(E, (float)t->weight_decay), ci32(E, t->decoupled),
                          ci32(E, t->no_decay_bn_bias), ci32(E, t->schedule), cf(E, (float)t->warmup),
                          ci32(E, t->step_epochs), cf(E, (float)t->gamma), cf(E, (float)t->min_lr),
                          cf(E, (float)t->label_smoothing), ci32(E, t->batch), ci32(E, t->epochs),
                          ci32(E, t->nmean), carr_f32(E, t->mean, 4), carr_f32(E, stdv, 4),
                          ci32(E, t->shift), ci32(E, t->flip), clong(E, (long)t->seed) };
    const char *text = src_text(m->file);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", fnv1a(text, src_len(m->file)));
    LLVMValueRef mv[] = { cstr(E, m->name), cstr(E, hash), cstr(E, "llvm"), ci32(E, m->in_c),
                          ci32(E, m->in_h), ci32(E, m->in_w), ci32(E, m->classes), ci32(E, np), params,
                          clong(E, E->nparam_floats), ci32(E, g->nodes.n), nodes, ci32(E, g->output->id),
                          LLVMConstNamedStruct(defs_t, dv, 24), clong(E, macs), clong(E, E->fixed),
                          clong(E, E->per_image), fptr(E, forward), fptr(E, backward), fptr(E, update),
                          ci32(E, lg->nodes.n - 1), layers, ci32(E, ig->nodes.n - 1), infer_layers };
    LLVMValueRef gv = LLVMAddGlobal(E->m, model_t, "rn_model");
    LLVMSetInitializer(gv, LLVMConstNamedStruct(model_t, mv, 24));
    LLVMSetGlobalConstant(gv, 1);
}

/* ---- the scheduled, planned program: klower.c's KFuncs built with the
 * LLVM-C API, against the same runtime calls and the same workspace as the
 * C backend's (kir_print_c) ---- */

/* one runtime function: its symbol, argument codes (kir_sigs.h) */
typedef struct {
    const char *name, *sym, *codes;
} KSig;

#define KSIG_ROW(name, sym, codes, params) { name, #sym, codes },
static const KSig ksigs[] = { KIR_SIGS(KSIG_ROW) };
#undef KSIG_ROW

static const KSig *ksig(const char *name)
{
    for (size_t i = 0; i < sizeof ksigs / sizeof ksigs[0]; i++)
        if (!strcmp(ksigs[i].name, name))
            return &ksigs[i];
    die("LLVM backend: runtime function '%s' is not in compiler/kir_sigs.h", name);
}

/* the struct types the KFuncs name */
static LLVMTypeRef kstruct_type(L *E, const char *name)
{
    LLVMTypeRef t = LLVMGetTypeByName2(E->cx, name);
    if (t)
        return t;
    if (!strcmp(name, "RnEpilogue"))
        return named_struct(E, name, (LLVMTypeRef[]){ E->pf, E->i32, LLVMPointerType(E->f64, 0),
                                                      LLVMPointerType(E->f64, 0) }, 4);
    if (!strcmp(name, "RnConvShape")) {
        LLVMTypeRef f[10];
        for (int i = 0; i < 10; i++)
            f[i] = E->i32;
        return named_struct(E, name, f, 10);
    }
    die("LLVM backend: no struct type '%s'", name);
}

static LLVMTypeRef kcode_type(L *E, char c)
{
    switch (c) {
    case 'p': return E->pf;
    case 'd': return LLVMPointerType(E->f64, 0);
    case 'I': return LLVMPointerType(E->i32, 0);
    case 'E': return LLVMPointerType(kstruct_type(E, "RnEpilogue"), 0);
    case 'S': return LLVMPointerType(kstruct_type(E, "RnConvShape"), 0);
    case 'X': return E->pexec;
    case 'i': return E->i32;
    case 'l': return E->lng;
    case 'f': return E->f32;
    case 'D': return E->f64;
    default: die("LLVM backend: argument code '%c'", c);
    }
}

/* the declaration of a runtime function, added on first use */
static LLVMValueRef kdeclare(L *E, const KSig *s, LLVMTypeRef *fty)
{
    int n = (int)strlen(s->codes);
    LLVMTypeRef p[16];
    for (int i = 0; i < n; i++)
        p[i] = kcode_type(E, s->codes[i]);
    *fty = LLVMFunctionType(LLVMVoidTypeInContext(E->cx), p, (unsigned)n, 0);
    LLVMValueRef f = LLVMGetNamedFunction(E->m, s->sym);
    if (f)
        return f;
    f = LLVMAddFunction(E->m, s->sym, *fty);
    for (int i = 0; i < n; i++)
        if (s->codes[i] == 'i' || (s->codes[i] == 'l' && E->lng == E->i32))
            add_signext(E, f, (const unsigned[]){ (unsigned)i + 1 }, 1);
    return f;
}

/* building one KFunc: the values of its locals in the function being built */
typedef struct {
    L *E;
    KLower *kl;
    const KFunc *f;
    LLVMValueRef *val;                /* per local; NULL: not built in this function yet */
    LLVMValueRef var[KIR_VARS];       /* the loop variables (i64) */
    int train;
} KB;

static LLVMValueRef kaff_val(KB *k, const KAff *a)
{
    L *E = k->E;
    LLVMValueRef v = ci(E, a->k);
    if (a->kn)
        v = add(E, v, mulc(E, E->N, a->kn));
    for (int i = 0; i < KIR_VARS; i++) {
        if (a->kv[i])
            v = add(E, v, mulc(E, k->var[i], a->kv[i]));
        if (a->kvn[i])
            v = add(E, v, mulc(E, mul(E, k->var[i], E->N), a->kvn[i]));
    }
    return v;
}

static LLVMTypeRef kelem(L *E, KType t)
{
    return t == KT_DPTR ? E->f64 : t == KT_IPTR ? E->i32 : E->f32;
}

static LLVMValueRef kgep(L *E, LLVMTypeRef t, LLVMValueRef p, LLVMValueRef i)
{
    return LLVMBuildInBoundsGEP2(E->b, t, p, &i, 1, "");
}

/* a private constant global, as a pointer to its first element */
static LLVMValueRef kconst_global(L *E, LLVMValueRef init, const char *name)
{
    LLVMValueRef gv = LLVMAddGlobal(E->m, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    return gv;
}

/* the file-scope tables of the direct convolutions, sized at lowering */
static LLVMValueRef ktable_global(L *E, KLower *kl, const char *sym)
{
    LLVMValueRef gv = LLVMGetNamedGlobal(E->m, sym);
    if (!gv) {
        int id, pos = strstr(sym, "_pos") != NULL;
        if (sscanf(sym, "tab%d_", &id) != 1 || id < 0 || id >= kl->tables.n)
            die("LLVM backend: no table '%s'", sym);
        const Table *t = kl->tables.v[id];
        long n = pos ? t->npos : (t->nent ? 2 * t->nent : 2);
        LLVMTypeRef at = LLVMArrayType(E->i32, (unsigned)n);
        gv = LLVMAddGlobal(E->m, at, sym);
        LLVMSetInitializer(gv, LLVMConstNull(at));
        LLVMSetLinkage(gv, LLVMInternalLinkage);
    }
    LLVMValueRef z2[] = { ci(E, 0), ci(E, 0) };
    return LLVMConstInBoundsGEP2(LLVMGlobalGetValueType(gv), gv, z2, 2);
}

static LLVMValueRef karg(KB *k, const KArg *a, char code);

/* local i's value in the function being built (built here on first use:
 * every local is a function of e, w, N and the loop variables, so an
 * outlined loop body rebuilds what it uses) */
static LLVMValueRef klocal(KB *k, int i)
{
    if (k->val[i])
        return k->val[i];
    L *E = k->E;
    const KLocal *l = k->f->locals.v[i];
    LLVMValueRef v;
    if (l->table) {
        LLVMValueRef *e = arena_alloc(sizeof(LLVMValueRef) * (size_t)(l->ntable ? l->ntable : 1));
        for (long j = 0; j < l->ntable; j++)
            e[j] = ci32(E, l->table[j]);
        LLVMValueRef gv = kconst_global(E, LLVMConstArray(E->i32, e, (unsigned)l->ntable), l->name);
        LLVMValueRef z2[] = { ci(E, 0), ci(E, 0) };
        v = LLVMConstInBoundsGEP2(LLVMGlobalGetValueType(gv), gv, z2, 2);
    } else if (l->region == KR_SYM) {
        v = ktable_global(E, k->kl, l->sym);
    } else if (l->is_struct) {
        LLVMTypeRef st = kstruct_type(E, l->type);
        if (l->is_static) {
            LLVMValueRef f[16];
            for (int j = 0; j < l->nargs; j++)
                f[j] = karg(k, &l->args[j], 'i');
            v = kconst_global(E, LLVMConstNamedStruct(st, f, (unsigned)l->nargs), l->name);
        } else {
            v = LLVMBuildAlloca(E->ab, st, l->name);
            static const char *const epi = "pidd";
            for (int j = 0; j < l->nargs; j++)
                LLVMBuildStore(E->b, karg(k, &l->args[j], epi[j]),
                               LLVMBuildStructGEP2(E->b, st, v, (unsigned)j, ""));
        }
    } else if (l->is_long) {
        v = kaff_val(k, &l->off);
    } else {
        LLVMValueRef base;
        LLVMTypeRef et = kelem(E, l->t);
        switch (l->region) {
        case KR_WORK: base = E->w; break;
        case KR_PARAMS: base = exec_field(E, 0); break;
        case KR_GRADS: base = exec_field(E, 1); break;
        case KR_LOCAL: base = klocal(k, l->base); break;
        case KR_SYM: default: die("LLVM backend: local %s", l->name);
        }
        if (l->region == KR_LOCAL) {
            v = kgep(E, kelem(E, ((KLocal *)k->f->locals.v[l->base])->t), base, kaff_val(k, &l->off));
        } else {
            v = gep(E, base, kaff_val(k, &l->off));  /* the regions are floats */
            if (l->t != KT_PTR)
                v = LLVMBuildBitCast(E->b, v, LLVMPointerType(et, 0), l->name);
        }
    }
    k->val[i] = v;
    return v;
}

static LLVMValueRef kcast_ptr(L *E, LLVMValueRef p, LLVMTypeRef t)
{
    return LLVMTypeOf(p) == t ? p : LLVMBuildBitCast(E->b, p, t, "");
}

/* the element address local[off (+ idx)] */
static LLVMValueRef kaddr(KB *k, const KArg *a)
{
    L *E = k->E;
    const KLocal *l = k->f->locals.v[a->local];
    LLVMValueRef off = kaff_val(k, &a->a);
    if (a->idx >= 0)
        off = add(E, off, klocal(k, a->idx));
    return kgep(E, kelem(E, l->t), klocal(k, a->local), off);
}

static LLVMValueRef karg(KB *k, const KArg *a, char code)
{
    L *E = k->E;
    LLVMTypeRef t = kcode_type(E, code);
    switch (a->kind) {
    case KA_VAL: {
        LLVMValueRef v = kaff_val(k, &a->a);
        if (LLVMIsConstant(v))
            return LLVMConstIntCast(v, t, 1);
        return t == E->i64 ? v : LLVMBuildTrunc(E->b, v, t, "");
    }
    case KA_FLOAT:
        return LLVMConstReal(t, (double)a->f);
    case KA_PTR:
    case KA_ADDR:
        return kcast_ptr(E, kaddr(k, a), t);
    case KA_LOAD: {
        const KLocal *l = k->f->locals.v[a->local];
        LLVMValueRef v = LLVMBuildLoad2(E->b, kelem(E, l->t), kaddr(k, a), "");
        if (LLVMTypeOf(v) != t)
            die("LLVM backend: %s[] loaded as '%c'", l->name, code);
        return v;
    }
    case KA_NULL:
        return LLVMConstNull(t);
    case KA_LOCAL:
        return kcast_ptr(E, klocal(k, a->local), t);
    case KA_EXEC:
        return kcast_ptr(E, E->e, t);
    }
    die("LLVM backend: bad argument");
}

static void kcall(KB *k, const KStmt *s)
{
    L *E = k->E;
    if (!strcmp(s->fn, "memcpy")) {
        LLVMValueRef d = kcast_ptr(E, karg(k, &s->args[0], 'p'), E->pi8);
        LLVMValueRef src = kcast_ptr(E, karg(k, &s->args[1], 'p'), E->pi8);
        LLVMBuildMemCpy(E->b, d, 4, src, 4, kaff_val(k, &s->args[2].a));
        return;
    }
    const KSig *sig = ksig(s->fn);
    if ((int)strlen(sig->codes) != s->nargs)
        die("LLVM backend: %s takes %d arguments, the lowering passes %d", s->fn,
            (int)strlen(sig->codes), s->nargs);
    LLVMTypeRef fty;
    LLVMValueRef fn = kdeclare(E, sig, &fty);
    LLVMValueRef args[16];
    for (int i = 0; i < s->nargs; i++)
        args[i] = karg(k, &s->args[i], sig->codes[i]);
    LLVMValueRef c = LLVMBuildCall2(E->b, fty, fn, args, (unsigned)s->nargs, "");
    unsigned se = LLVMGetEnumAttributeKindForName("signext", 7);
    for (int i = 0; i < s->nargs; i++)
        if (sig->codes[i] == 'i' || (sig->codes[i] == 'l' && E->lng == E->i32))
            LLVMAddCallSiteAttribute(c, (unsigned)i + 1, LLVMCreateEnumAttribute(E->cx, se, 0));
}

static void kblock(KB *k, const KBlock *b);

/* a parallel loop, outlined: body(ctx, lo, hi) over iterations [lo, hi),
 * ctx = { e, w, N, the loop variables }; rn_llvm_par runs it on the
 * OpenMP threads when always, or when the work reaches RN_PAR_WORK (the
 * C backend's RN_PAR); the outlined body rebuilds the locals it uses */
static void kpar_for(KB *k, const KStmt *s, int always)
{
    L *E = k->E;
    LLVMValueRef pfn = E->fn, pe = E->e, pw = E->w, pN = E->N;
    LLVMBasicBlockRef pblk = LLVMGetInsertBlock(E->b);
    LLVMTypeRef ctx_t = LLVMGetTypeByName2(E->cx, "RnKirCtx");
    if (!ctx_t)
        ctx_t = named_struct(E, "RnKirCtx", (LLVMTypeRef[]){ E->pexec, E->pf, E->i64, E->i64, E->i64 }, 5);
    LLVMValueRef ctx = LLVMBuildAlloca(E->ab, ctx_t, "ctx");
    LLVMValueRef fields[5] = { pe, pw, pN, k->var[0] ? k->var[0] : ci(E, 0), k->var[1] ? k->var[1] : ci(E, 0) };
    for (int i = 0; i < 5; i++)
        LLVMBuildStore(E->b, fields[i], LLVMBuildStructGEP2(E->b, ctx_t, ctx, (unsigned)i, ""));
    size_t nl;
    const char *pname = LLVMGetValueName2(pfn, &nl);
    LLVMValueRef fn = fn_begin(E, arena_printf("%s.par%d", pname, ++E->npar), E->par_body_t, 1);
    LLVMValueRef c = LLVMBuildBitCast(E->b, LLVMGetParam(fn, 0), LLVMPointerType(ctx_t, 0), "");
    E->e = LLVMBuildLoad2(E->b, E->pexec, LLVMBuildStructGEP2(E->b, ctx_t, c, 0, ""), "e");
    E->w = LLVMBuildLoad2(E->b, E->pf, LLVMBuildStructGEP2(E->b, ctx_t, c, 1, ""), "w");
    E->N = LLVMBuildLoad2(E->b, E->i64, LLVMBuildStructGEP2(E->b, ctx_t, c, 2, ""), "N");
    LLVMValueRef *pval = k->val, pvar[KIR_VARS] = { k->var[0], k->var[1] };
    k->val = arena_alloc(sizeof(LLVMValueRef) * (size_t)(k->f->locals.n ? k->f->locals.n : 1));
    memset(k->val, 0, sizeof(LLVMValueRef) * (size_t)k->f->locals.n);
    for (int i = 0; i < KIR_VARS; i++)
        k->var[i] = LLVMBuildLoad2(E->b, E->i64, LLVMBuildStructGEP2(E->b, ctx_t, c, (unsigned)(3 + i), ""), "");
    Loop l;
    k->var[s->var] = loop_open(E, &l, LLVMBuildIntCast2(E->b, LLVMGetParam(fn, 1), E->i64, 1, ""),
                               LLVMBuildIntCast2(E->b, LLVMGetParam(fn, 2), E->i64, 1, ""), 1);
    kblock(k, &s->body);
    loop_close(E, &l);
    fn_end(E);
    k->val = pval;
    k->var[0] = pvar[0];
    k->var[1] = pvar[1];
    E->fn = pfn;
    E->e = pe;
    E->w = pw;
    E->N = pN;
    LLVMPositionBuilderAtEnd(E->b, pblk);
    LLVMPositionBuilderAtEnd(E->ab, LLVMGetEntryBasicBlock(pfn));
    LLVMValueRef work = always ? clong(E, 0)
                        : LLVMBuildIntCast2(E->b, s->per_image ? mulc(E, pN, s->work) : ci(E, s->work),
                                            E->lng, 1, "");
    LLVMValueRef args[] = { LLVMConstBitCast(fn, E->pi8), LLVMBuildBitCast(E->b, ctx, E->pi8, ""),
                            clong(E, s->n), work, ci32(E, always) };
    LLVMValueRef call = LLVMBuildCall2(E->b, E->par_t, E->par, args, 5, "");
    LLVMAddCallSiteAttribute(call, 5, LLVMCreateEnumAttribute(E->cx, LLVMGetEnumAttributeKindForName("signext", 7), 0));
}

static void kstmt(KB *k, const KStmt *s)
{
    L *E = k->E;
    switch (s->kind) {
    case KS_CALL:
        kcall(k, s);
        break;
    case KS_FOR: {
        /* as kir_print_c decides: threads always, never, or by the batch */
        int always = s->par && (s->work >= RN_KIR_PAR_WORK || (s->per_image && k->train));
        if (s->par && s->n > 1 && (always || s->per_image)) {
            kpar_for(k, s, always);
            break;
        }
        Loop l;
        LLVMValueRef outer = k->var[s->var];
        k->var[s->var] = loop_open(E, &l, ci(E, 0), ci(E, s->n), 1);
        kblock(k, &s->body);
        loop_close(E, &l);
        k->var[s->var] = outer;
        break;
    }
    case KS_IFN: {
        If f;
        if_open(E, &f, LLVMBuildICmp(E->b, LLVMIntSGE, E->N, ci(E, s->n), ""));
        kblock(k, &s->body);
        if (s->orelse.n) {
            if_else(E, &f);
            kblock(k, &s->orelse);
        }
        if_close(E, &f);
        break;
    }
    case KS_MEMSET: {
        const KLocal *l = k->f->locals.v[s->local];
        KArg a = karg_ptr_at(s->local, s->idx, s->a);
        LLVMValueRef p = kcast_ptr(E, kaddr(k, &a), E->pi8);
        LLVMValueRef bytes = mulc(E, kaff_val(k, &s->count), l->t == KT_DPTR ? 8 : 4);
        LLVMBuildMemSet(E->b, p, LLVMConstInt(E->i8, 0, 0), bytes, 4);
        break;
    }
    case KS_COMMENT:
        break;
    case KS_LOCAL:
        k->val[s->local] = NULL;  /* (re)declared here: built now */
        klocal(k, s->local);
        break;
    }
}

static void kblock(KB *k, const KBlock *b)
{
    for (int i = 0; i < b->n; i++)
        kstmt(k, b->v[i]);
}

/* the KFunc's body into the function being built (E->e, E->w, E->N set) */
static void kbuild(L *E, KLower *kl, const KFunc *f, int train)
{
    KB k = { .E = E, .kl = kl, .f = f, .train = train };
    k.val = arena_alloc(sizeof(LLVMValueRef) * (size_t)(f->locals.n ? f->locals.n : 1));
    memset(k.val, 0, sizeof(LLVMValueRef) * (size_t)f->locals.n);
    kblock(&k, &f->body);
}

/* a layer function: fwd_/inf_ or bwd_ (e, w, N) */
static LLVMValueRef build_klayer(L *E, KLower *kl, Graph *g, Node *n, int back)
{
    int train = g->mode == MODE_TRAIN;
    const char *nm = arena_printf("%s_%s", back ? "bwd" : train ? "fwd" : "inf", node_cname(n));
    LLVMValueRef fn = fn_begin(E, nm, layer_type(E), 1);
    add_signext(E, fn, (const unsigned[]){ 3 }, 1);
    E->e = LLVMGetParam(fn, 0);
    E->w = LLVMGetParam(fn, 1);
    E->N = LLVMBuildSExt(E->b, LLVMGetParam(fn, 2), E->i64, "N");
    if (!back && n == g->nodes.v[1] && getenv("RNET_LLVM_BREAK_VERIFIER"))
        LLVMBuildRetVoid(E->b); /* tests/e2e/llvm.sh: a terminator mid-block */
    KFunc k;
    kir_init(&k);
    if (back)
        klower_backward(kl, g, n, &k);
    else
        klower_forward(kl, g, n, &k);
    kbuild(E, kl, &k, kl->train);
    fn_end(E);
    return fn;
}

/* buffer b of g's plan: w + offset, or w + fixed + offset * N */
static LLVMValueRef plan_ptr(L *E, const Graph *g, int b, long pfix)
{
    const Buf *B = g->plan->bufs.v[b];
    return B->per_image ? gep(E, gepc(E, E->w, pfix), mulc(E, E->N, B->offset)) : gepc(E, E->w, B->offset);
}

static LLVMValueRef call_rt(L *E, const char *sym, const char *codes, LLVMValueRef *args)
{
    KSig s = { sym, sym, codes };
    LLVMTypeRef fty;
    LLVMValueRef fn = kdeclare(E, &s, &fty);
    return LLVMBuildCall2(E->b, fty, fn, args, (unsigned)strlen(codes), "");
}

/* the layout changes at the entry points: NCHW <-> CHWN */
static void relayout_chwn(L *E, LLVMValueRef y, LLVMValueRef x, int C, long hw, int to_chwn)
{
    LLVMValueRef a[] = { y, x, LLVMBuildTrunc(E->b, E->N, E->i32, ""), ci32(E, C), clong(E, hw) };
    call_rt(E, to_chwn ? "rn_x_nchw_to_chwn" : "rn_x_chwn_to_nchw", "ppiil", a);
}

static LLVMValueRef exec_field_ptr(L *E, int idx)
{
    return LLVMBuildStructGEP2(E->b, E->exec_t, E->e, (unsigned)idx, "");
}

/* tables_fill(): every index table from its geometry (rn_geom.h) */
static LLVMValueRef build_tables_fill(L *E, KLower *kl)
{
    LLVMTypeRef v = LLVMVoidTypeInContext(E->cx);
    LLVMTypeRef gf[11];
    for (int i = 0; i < 10; i++)
        gf[i] = E->i32;
    gf[10] = E->pi8;
    LLVMTypeRef geom_t = named_struct(E, "RnConvGeom", gf, 11);
    LLVMTypeRef pi32 = LLVMPointerType(E->i32, 0);
    LLVMTypeRef tfn_t = LLVMFunctionType(E->lng, (LLVMTypeRef[]){ LLVMPointerType(geom_t, 0), pi32, pi32 }, 3, 0);
    LLVMValueRef fn = fn_begin(E, "tables_fill", LLVMFunctionType(v, NULL, 0, 0), 1);
    static const char *const fname[] = { "rn_geom_fwd_table", "rn_geom_bwd_table", "rn_geom_wgrad_table" };
    for (int i = 0; i < kl->tables.n; i++) {
        const Table *t = kl->tables.v[i];
        const RnConvGeom *g = &t->g;
        LLVMValueRef live = LLVMConstNull(E->pi8);
        if (g->live) {
            LLVMValueRef e[64];
            for (int j = 0; j < g->KH * g->KW && j < 64; j++)
                e[j] = LLVMConstInt(E->i8, g->live[j] != 0, 0);
            LLVMValueRef gv = kconst_global(E, LLVMConstArray(E->i8, e, (unsigned)(g->KH * g->KW)),
                                            arena_printf("tab%d_live", t->id));
            live = LLVMConstBitCast(gv, E->pi8);
        }
        LLVMValueRef f[11] = { ci32(E, 0), ci32(E, g->H), ci32(E, g->W), ci32(E, 0), ci32(E, g->OH),
                               ci32(E, g->OW), ci32(E, g->KH), ci32(E, g->KW), ci32(E, g->S),
                               ci32(E, g->PAD), live };
        LLVMValueRef gv = kconst_global(E, LLVMConstNamedStruct(geom_t, f, 11), arena_printf("tab%d_geom", t->id));
        LLVMValueRef tf = LLVMGetNamedFunction(E->m, fname[t->kind]);
        if (!tf)
            tf = LLVMAddFunction(E->m, fname[t->kind], tfn_t);
        LLVMValueRef a[] = { gv, ktable_global(E, kl, arena_printf("tab%d_pos", t->id)),
                             ktable_global(E, kl, arena_printf("tab%d_tq", t->id)) };
        LLVMBuildCall2(E->b, tfn_t, tf, a, 3, "");
    }
    fn_end(E);
    return fn;
}

/* the entry points, the fold, the update: what emit_c.c's glue does */
static void build_planned(L *E, const Pipeline *pl, LlvmInfo *info)
{
    Graph *g = E->g, *tg = pl->train, *ig = pl->infer;
    Model *m = g->model;
    long pimg, pfix;
    plan_workspace(pl, &pimg, &pfix);
    info->work_fixed = pfix;
    info->work_per_image = pimg;
    info->infer_work = pimg;
    info->training = tg != NULL;
    E->fixed = pfix;
    E->per_image = pimg;
    KLower kl = { .pfix = pfix };
    declare_runtime(E);
    LLVMTypeRef v = LLVMVoidTypeInContext(E->cx);
    E->par_t = LLVMFunctionType(v, (LLVMTypeRef[]){ E->pi8, E->pi8, E->lng, E->lng, E->i32 }, 5, 0);
    E->par = LLVMAddFunction(E->m, "rn_llvm_par", E->par_t);
    add_signext(E, E->par, (const unsigned[]){ 5 }, 1);
    Graph *lg = tg ? tg : ig;  /* the descriptor's layers */
    LLVMValueRef *fwd = arena_alloc(sizeof(LLVMValueRef) * (size_t)lg->nodes.n);
    LLVMValueRef *bwd = arena_alloc(sizeof(LLVMValueRef) * (size_t)lg->nodes.n);
    LLVMValueRef *inf = arena_alloc(sizeof(LLVMValueRef) * (size_t)ig->nodes.n);
    memset(bwd, 0, sizeof(LLVMValueRef) * (size_t)lg->nodes.n);
    for (int i = 1; tg && i < tg->nodes.n; i++)
        fwd[i] = build_klayer(E, &kl, tg, tg->nodes.v[i], 0);
    for (int i = 1; tg && i < tg->nodes.n; i++)
        bwd[i] = build_klayer(E, &kl, tg, tg->nodes.v[i], 1);
    for (int i = 1; i < ig->nodes.n; i++)
        inf[i] = build_klayer(E, &kl, ig, ig->nodes.v[i], 0);
    if (!tg)
        memcpy(fwd, inf, sizeof(LLVMValueRef) * (size_t)ig->nodes.n);
    /* fold_weights(e, w): each folded conv's KFunc in turn */
    LLVMTypeRef fold_t = LLVMFunctionType(v, (LLVMTypeRef[]){ E->pexec, E->pf }, 2, 0);
    LLVMValueRef fold = fn_begin(E, "fold_weights", fold_t, 1);
    E->e = LLVMGetParam(fold, 0);
    E->w = LLVMGetParam(fold, 1);
    E->N = ci(E, 0);
    for (int i = 0; i < ig->nodes.n; i++) {
        Node *n = ig->nodes.v[i];
        if (!n->ep.fold)
            continue;
        KFunc k;
        kir_init(&k);
        klower_fold(&kl, ig, n, &k);
        kbuild(E, &kl, &k, 0);
    }
    fn_end(E);
    LLVMValueRef fill = kl.tables.n ? build_tables_fill(E, &kl) : NULL;
    LLVMValueRef done = NULL;
    if (fill) {
        done = LLVMAddGlobal(E->m, E->i32, "tables_done");
        LLVMSetInitializer(done, ci32(E, 0));
        LLVMSetLinkage(done, LLVMInternalLinkage);
    }
    LLVMTypeRef once_t = LLVMFunctionType(v, (LLVMTypeRef[]){ LLVMPointerType(E->i32, 0),
                                                              LLVMPointerType(LLVMFunctionType(v, NULL, 0, 0), 0) }, 2, 0);
    LLVMValueRef once = fill ? LLVMAddFunction(E->m, "rn_x_once", once_t) : NULL;
    /* forward(e, x, N, train) */
    LLVMValueRef fo = fn_begin(E, arena_printf("%s_forward", E->prefix),
                               LLVMFunctionType(v, (LLVMTypeRef[]){ E->pexec, E->pf, E->i32, E->i32 }, 4, 0), 0);
    add_signext(E, fo, (const unsigned[]){ 3, 4 }, 2);
    E->e = LLVMGetParam(fo, 0);
    E->N = LLVMBuildSExt(E->b, LLVMGetParam(fo, 2), E->i64, "N");
    E->w = exec_field(E, 2);
    LLVMValueRef x = LLVMGetParam(fo, 1), Ni = LLVMGetParam(fo, 2), logits = exec_field(E, 3);
    if (fill)
        LLVMBuildCall2(E->b, once_t, once, (LLVMValueRef[]){ done, fill }, 2, "");
    long in_hw = (long)m->in_h * m->in_w;
    if (tg) {
        If f;
        if_open(E, &f, LLVMBuildICmp(E->b, LLVMIntNE, LLVMGetParam(fo, 3), ci32(E, 0), ""));
        LLVMBuildStore(E->b, ci32(E, 0), exec_field_ptr(E, 5));  /* running statistics move */
        relayout_chwn(E, plan_ptr(E, tg, ((Node *)tg->nodes.v[0])->buf[NB_ACT], pfix), x, m->in_c, in_hw, 1);
        for (int i = 1; i < tg->nodes.n; i++)
            LLVMBuildCall2(E->b, layer_type(E), fwd[i], (LLVMValueRef[]){ E->e, E->w, Ni }, 3, "");
        relayout_chwn(E, logits, plan_ptr(E, tg, tg->output->buf[NB_ACT], pfix), m->classes, 1, 0);
        LLVMBuildRetVoid(E->b);
        LLVMPositionBuilderAtEnd(E->b, f.els);
    }
    {
        If f;
        LLVMValueRef folded = LLVMBuildLoad2(E->b, E->i32, exec_field_ptr(E, 5), "");
        if_open(E, &f, LLVMBuildICmp(E->b, LLVMIntEQ, folded, ci32(E, 0), ""));
        LLVMBuildCall2(E->b, fold_t, fold, (LLVMValueRef[]){ E->e, E->w }, 2, "");
        LLVMBuildStore(E->b, ci32(E, 1), exec_field_ptr(E, 5));
        if_close(E, &f);
    }
    relayout_chwn(E, plan_ptr(E, ig, ((Node *)ig->nodes.v[0])->buf[NB_ACT], pfix), x, m->in_c, in_hw, 1);
    for (int i = 1; i < ig->nodes.n; i++)
        LLVMBuildCall2(E->b, layer_type(E), inf[i], (LLVMValueRef[]){ E->e, E->w, Ni }, 3, "");
    relayout_chwn(E, logits, plan_ptr(E, ig, ig->output->buf[NB_ACT], pfix), m->classes, 1, 0);
    fn_end(E);
    LLVMValueRef ba = NULL, up = NULL;
    if (tg) {
        /* backward(e, dlogits, N) */
        ba = fn_begin(E, arena_printf("%s_backward", E->prefix),
                      LLVMFunctionType(v, (LLVMTypeRef[]){ E->pexec, E->pf, E->i32 }, 3, 0), 0);
        add_signext(E, ba, (const unsigned[]){ 3 }, 1);
        E->e = LLVMGetParam(ba, 0);
        E->N = LLVMBuildSExt(E->b, LLVMGetParam(ba, 2), E->i64, "N");
        E->w = exec_field(E, 2);
        if (fill)
            LLVMBuildCall2(E->b, once_t, once, (LLVMValueRef[]){ done, fill }, 2, "");
        relayout_chwn(E, plan_ptr(E, tg, tg->output->buf[NB_DACT], pfix), LLVMGetParam(ba, 1), m->classes, 1, 1);
        for (int i = tg->nodes.n - 1; i >= 1; i--)
            LLVMBuildCall2(E->b, layer_type(E), bwd[i], (LLVMValueRef[]){ E->e, E->w, LLVMGetParam(ba, 2) }, 3, "");
        fn_end(E);
        up = build_update(E);
    }
    build_descriptor(E, lg, fwd, tg ? bwd : NULL, ig, inf, fo, ba, up);
}

/* ---- standalone inference (--weights) ---- */

static void build_infer(L *E, float *const *weights)
{
    Graph *g = E->g;
    /* the weights, one constant array in the target's byte order */
    size_t bytes = (size_t)E->nparam_floats * 4;
    unsigned char *raw = calloc(bytes ? bytes : 1, 1);
    if (!raw)
        die("out of memory");
    int big = LLVMByteOrder(E->t->td) == LLVMBigEndian;
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int j = 0; j < n->nparam; j++, k++) {
            unsigned char *dst = raw + (size_t)E->poff[k] * 4;
            for (long q = 0; q < n->param[j].numel; q++) {
                unsigned int u;
                memcpy(&u, &weights[k][q], 4);
                for (int by = 0; by < 4; by++)
                    dst[q * 4 + by] = (unsigned char)(u >> (big ? 24 - 8 * by : 8 * by));
            }
        }
    }
    LLVMValueRef init = LLVMConstStringInContext(E->cx, (const char *)raw, (unsigned)bytes, 1);
    free(raw);
    LLVMValueRef gv = LLVMAddGlobal(E->m, LLVMTypeOf(init), arena_printf("%s_weights", E->prefix));
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMInternalLinkage);
    LLVMSetAlignment(gv, 16);
    E->wconst = LLVMConstBitCast(gv, E->pf);

    Node *outn = g->output;
    LLVMValueRef fn = fn_begin(E, arena_printf("%s_infer", E->prefix),
                               LLVMFunctionType(LLVMVoidTypeInContext(E->cx),
                                                (LLVMTypeRef[]){ E->pf, E->pf, E->pf }, 3, 0), 0);
    E->N = ci(E, 1);
    E->w = LLVMGetParam(fn, 2);
    E->xin = LLVMGetParam(fn, 0); /* one image: NCHW is CNHW; read x in place */
    for (int i = 1; i < g->nodes.n; i++)
        forward_node(E, g->nodes.v[i], NULL);
    vmap_c(E, M_COPY, ci(E, outn->c), LLVMGetParam(fn, 1), act(E, outn), NULL, 0);
    fn_end(E);
}

/* ---- the module ---- */

LLVMModuleRef emit_llvm_module(Graph *g, const Pipeline *pl, LlvmTarget *t, LLVMContextRef cx,
                               int inference_only, float *const *weights, LlvmInfo *info)
{
    L em = { .g = g, .t = t, .cx = cx, .vw = t->vw };
    L *E = &em;
    E->standalone = weights != NULL;
    E->weights = weights;
    E->grads = !inference_only && !weights;
    E->prefix = arena_printf("rnm_%s", c_ident(g->name));
    E->m = LLVMModuleCreateWithNameInContext(g->name, cx);
    LLVMSetTarget(E->m, t->triple);
    LLVMSetModuleDataLayout(E->m, t->td);
    if (!strncmp(t->triple, "riscv64", 7) && strstr(t->features, "+d")) {
        /* the float ABI of Linux on RISC-V: doubles in registers */
        LLVMMetadataRef abi = LLVMMDStringInContext2(cx, "lp64d", 5);
        LLVMAddModuleFlag(E->m, LLVMModuleFlagBehaviorError, "target-abi", 10, abi);
    }
    E->b = LLVMCreateBuilderInContext(cx);
    E->ab = LLVMCreateBuilderInContext(cx);
    E->f32 = LLVMFloatTypeInContext(cx);
    E->f64 = LLVMDoubleTypeInContext(cx);
    E->i1 = LLVMInt1TypeInContext(cx);
    E->i8 = LLVMInt8TypeInContext(cx);
    E->i32 = LLVMInt32TypeInContext(cx);
    E->i64 = LLVMInt64TypeInContext(cx);
    E->lng = t->long_bits == 64 ? E->i64 : E->i32;
    E->pf = LLVMPointerType(E->f32, 0);
    E->pi8 = LLVMPointerType(E->i8, 0);
    E->exec_t = named_struct(E, "RnExec", (LLVMTypeRef[]){ E->pf, E->pf, E->pf, E->pf, E->i32, E->i32, E->i64 }, 7);
    E->pexec = LLVMPointerType(E->exec_t, 0);
    plan_buffers(E);
    info->param_floats = E->nparam_floats;
    info->work_fixed = E->fixed;
    info->work_per_image = E->per_image;
    info->infer_work = E->per_image;
    if (weights)
        build_infer(E, weights);
    else
        build_planned(E, pl, info);
    LLVMDisposeBuilder(E->b);
    LLVMDisposeBuilder(E->ab);
    return E->m;
}
