/* rnet.h - the compiler's one header: a section per source file, each
 * listing what that file exports.
 *
 * The pipeline, front to back:
 *   grammar/rnet.l, rnet.y   text -> AST (generic statements with locations)
 *   check.c                  AST -> Model (keywords resolved, values checked)
 *   lower.c                  Model -> Graph (one node per layer, named params)
 *   shape.c                  shape inference over the Graph (a pass)
 *   ir.c                     the Graph itself: build, validate, dump
 *   print.c                  --print-shapes table
 *   main.c                   the driver
 */
#ifndef RNET_H
#define RNET_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include "rn_ops.h"
#include "rn_geom.h"

/* ---- arena.c: compiler memory; nothing is freed node by node ---- */

void *arena_alloc(size_t n);          /* zeroed */
char *arena_strdup(const char *s);
char *arena_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void arena_free_all(void);

/* a growable array of pointers, arena-backed */
typedef struct {
    void **v;
    int n, cap;
} Vec;
void vec_push(Vec *v, void *p);

/* ---- cquote.c: outside text into generated C, escaped ---- */

/* s as the inside of a C string literal that is also safe inside a comment
 * (octal escapes for quotes, backslashes, '*', '?', control bytes) */
const char *c_string(const char *s);
/* s as an identifier: every byte but [A-Za-z0-9_] becomes '_' ("a.b" ->
 * "a_b"), and a leading digit gets a '_' before it */
const char *c_ident(const char *s);

/* ---- diag.c: GCC-style diagnostics ---- */

typedef struct SrcFile SrcFile;
typedef struct {
    SrcFile *file;
    int line, col; /* 1-based; line 0 = no location */
} Loc;

SrcFile *src_new(const char *name, const char *text, size_t len);
const char *src_name(const SrcFile *f);
const char *src_text(const SrcFile *f);
size_t src_len(const SrcFile *f);

void error_at(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void note_at(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void error_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int error_count(void);
void diag_reset(void);
void diag_set_stream(FILE *f);
/* print at most n errors (0: all); the default as GCC's -fmax-errors */
enum { DIAG_MAX_ERRORS_DEFAULT = 50 };
void diag_set_max_errors(int n);
/* internal compiler bugs, never user errors */
_Noreturn void die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)
/* "did you mean" helper: closest of names[0..n) to s, or NULL */
const char *closest_name(const char *s, const char *const *names, int n);

/* ---- AST (built by grammar/rnet.y) ----
 * The grammar fixes the structure (const, block, model, stage, nesting);
 * ordinary statements are generic "word item item ..." lines that check.c
 * resolves against its keyword tables, so unknown keywords get a located
 * error and a suggestion instead of a bare syntax error. */

typedef enum { EX_INT, EX_FLOAT, EX_NAME, EX_BIN } ExprKind;
typedef struct Expr Expr;
struct Expr {
    ExprKind kind;
    Loc loc;
    long long ival;   /* EX_INT */
    double fval;      /* EX_FLOAT */
    const char *name; /* EX_NAME */
    int op;           /* EX_BIN: '+', '-', '*', '/', '%' */
    Expr *lhs, *rhs;
};

/* one argument of a statement: an expression, or dims "a x b x c" */
typedef struct {
    Loc loc;
    int ndims;        /* 1 = plain expression; 2 or 3 = a x b [x c] */
    Expr *e[3];
} Item;

typedef enum { ST_PLAIN, ST_CONST, ST_BLOCK, ST_MODEL, ST_STAGE } StmtKind;

typedef struct Param {
    const char *name;
    Loc loc;
    Expr *def; /* default value or NULL */
} Param;

typedef struct Stmt Stmt;
struct Stmt {
    StmtKind kind;
    Loc loc;
    const char *word; /* statement keyword, const/block/model name */
    Loc word_loc;
    Vec items;        /* Item* */
    Vec body;         /* Stmt*, when followed by { ... } */
    int has_body;
    Vec params;       /* Param*, ST_BLOCK */
    Expr *value;      /* ST_CONST */
    Expr *repeat;     /* ST_STAGE: the N of "stage N x kind" */
    const char *block; /* ST_STAGE: block kind */
    Loc block_loc;
};

/* parse.c: run the bison parser over one source; appends top-level
 * statements to *out.  Returns the number of syntax errors. */
int parse_source(SrcFile *f, Vec *out);

/* ---- check.c: AST -> Model ---- */

typedef enum { SC_A, SC_B, SC_C } ShortcutKind;
typedef enum { JOIN_ADD, JOIN_CONCAT } JoinKind;
/* what follows a block's join: a relu (post-activation, the original
 * ResNet) or nothing (pre-activation blocks, ResNet v2) */
typedef enum { POST_RELU, POST_NONE } PostKind;
/* a projection shortcut: 1x1 conv and bn (the paper's B and C), or the conv alone */
typedef enum { PROJ_BN, PROJ_CONV } ProjKind;

/* a layer in a stem, head or block body, its values known */
/* L_FORK: in a block body, where its shortcut reads when it is not the
 * identity (pre-activation blocks: the projection reads relu(bn(x))) */
typedef enum { L_CONV, L_BN, L_RELU, L_MAXPOOL, L_AVGPOOL, L_GAP, L_DROPOUT, L_FC, L_FORK, L_CALL } LayerKind;
typedef struct Layer Layer;
typedef struct BlockDef BlockDef;
struct Layer {
    LayerKind kind;
    Loc loc;
    /* conv / pool */
    int kh, kw, stride, pad, groups, bias;
    int filters;     /* conv filters, fc outputs (0 = classes) */
    float p;         /* dropout: the probability of dropping an element */
    /* L_CALL: inline another block's body */
    BlockDef *callee;
};

/* a block definition: its body is kept as statements and expanded per use,
 * since it reads width, stride and its parameters */
struct BlockDef {
    const char *name;
    Loc loc;
    Vec params;      /* Param* */
    Vec body;        /* Stmt* */
    int builtin;
    int expansion;   /* output channels = width * expansion (builtin kinds) */
    int visiting;    /* recursion check */
};

typedef struct {
    Loc loc;
    int repeat;
    BlockDef *block;
    int width;       /* resolved width */
    int stride;
    ShortcutKind shortcut;
    JoinKind join;
    PostKind post;
    ProjKind proj;
    /* parameter values for the block, by position in block->params */
    Vec param_names; /* const char* */
    long long param_vals[16];
    Loc param_locs[16];
    int nparam;
} StageDef;

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } OptKindAst;
typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED_ONECYCLE } SchedKindAst;

/* training defaults; the built program's flags override them */
typedef struct {
    int optimizer;        /* OptKindAst */
    double lr, momentum, beta1, beta2, eps;
    int nesterov;
    double weight_decay;
    int decoupled;
    int no_decay_bn_bias;
    int schedule;         /* SchedKindAst */
    double warmup;        /* epochs */
    int step_epochs;
    double gamma, min_lr;
    double label_smoothing;
    int batch, epochs;
    int nmean, nstd;
    double mean[4], std[4];
    int shift, flip;
    long long seed;
} TrainDef;

typedef struct {
    const char *name;
    Loc loc;
    SrcFile *file;
    int in_c, in_h, in_w;
    int classes;
    ShortcutKind shortcut;
    JoinKind join;
    PostKind post;
    ProjKind proj;
    Vec stem;         /* Layer* */
    Vec stages;       /* StageDef* */
    Vec head;         /* Layer* */
    TrainDef train;
    Vec consts;       /* Stmt* (ST_CONST), for the record */
} Model;

/* Resolve the statements of one file into a Model.  Reports every error it
 * can find; returns NULL if there were any. */
Model *check_program(Vec *stmts, SrcFile *f);

/* evaluate an integer expression in an environment of names */
typedef struct Env Env;
struct Env {
    Env *up;
    int n;
    const char *names[24];
    long long vals[24];
};
int eval_int(Expr *e, Env *env, long long *out); /* 0 ok; reports errors */
void env_bind(Env *env, const char *name, long long v);

/* Expand a block body into layers with width/stride/params bound. */
int expand_block(BlockDef *b, Env *env, Vec *out_layers, Loc use);

/* ---- ir.c: the graph IR ---- */

typedef struct {
    const char *name;  /* torchvision-style, e.g. "layer1.0.conv1.weight" */
    int ndim;
    int shape[4];
    long numel;
    int is_buffer;     /* running statistics: state, not trained */
    int no_decay;      /* bn parameters and biases */
    long offset;       /* floats into the parameter block (param_layout) */
    int index;         /* position in the flat parameter list */
} ParamT;

typedef struct Node Node;

/* What runs on a node's output after its op, in its own loop or inside the
 * op's epilogue: a fused batch norm (conv, training: statistics of the
 * conv's output; inference: folded into the weights and bias), a relu. */
typedef struct {
    Node *bn;               /* conv: the batch norm fused into it (its params) */
    int fold;               /* that bn folded into the weights (inference) */
    int relu;               /* conv, add, bn: a relu on the output */
    const char *relu_name;  /* the fused relu's own name */
} Epilogue;

/* How a convolution runs, one algorithm per direction (the X-macro gives
 * the enum and the names --dump-ir prints):
 *   im2col-gemm        columns (none for 1x1/1) and one GEMM per group
 *   winograd-2x2-3x3   F(2x2, 3x3): forward and input gradient (3x3/1 pad 1)
 *   direct             rn_conv_direct / rn_conv_wgrad over batch vectors at
 *                      batches of RN_DIRECT_MIN_N or more; smaller batches
 *                      run the direction's `small` algorithm
 *   conv1              rn_conv1 image by image from zero-padded planes
 *                      (folded inference below RN_DIRECT_MIN_N) */
#define CONV_ALGOS(X)                          \
    X(CONV_IM2COL_GEMM, "im2col-gemm")         \
    X(CONV_WINOGRAD_2X2_3X3, "winograd-2x2-3x3") \
    X(CONV_DIRECT, "direct")                   \
    X(CONV_CONV1, "conv1")
#define CONV_ALGO_ENUM_(id, name) id,
typedef enum { CONV_ALGOS(CONV_ALGO_ENUM_) CONV_ALGO_COUNT } ConvAlgo;
#undef CONV_ALGO_ENUM_
extern const char *const conv_algo_names[CONV_ALGO_COUNT];

typedef struct {
    ConvAlgo fwd, fwd_small;   /* forward; below RN_DIRECT_MIN_N when fwd is direct */
    ConvAlgo bwd_data;         /* input gradient (training); direct: im2col-gemm below */
    ConvAlgo bwd_weights;      /* weight gradient (training); direct: im2col-gemm below */
    int ntaps;                 /* > 0: only these kernel taps (of kh*kw) ever read
                                  inside the input; the rest see only padding
                                  and are left out of every direction */
    unsigned char *tap_live;   /* [kh*kw], with ntaps */
} ConvSched;

/* The buffers one node may own in the workspace arena, by role (plan.c
 * places them; --print-schedule lists them).  One X-macro: the enum and the
 * names. */
#define NODE_BUFS(X)                                                          \
    X(NB_ACT, "act")          /* the output */                               \
    X(NB_PRE, "pre-bn")       /* conv + bn, training: the conv output */     \
    X(NB_DACT, "grad")        /* gradient of the output */                   \
    X(NB_SAVE, "bn-save")     /* bn: mean, inverse std, then the sums */     \
    X(NB_COL, "col")          /* conv forward: im2col, or Winograd's work */ \
    X(NB_BCOL, "bcol")        /* the same for the backward step */           \
    X(NB_WINO_F, "wino-u")    /* Winograd: transformed filter, forward */    \
    X(NB_WINO_B, "wino-ut")   /* ... and for the input gradient */           \
    X(NB_TAPS_F, "taps")      /* dead taps: the live taps' weights */        \
    X(NB_TAPS_B, "dtaps")     /* ... and their gradient, backward */         \
    X(NB_FOLD, "folded")      /* conv + folded bn: weights, bias */          \
    X(NB_PACK_F, "pack")      /* direct: packed filter, forward */           \
    X(NB_PACK_B, "dpack")     /* direct: packed filter, input gradient */    \
    X(NB_WGRAD, "wgrad")      /* direct: the weight gradient's work */       \
    X(NB_PACK1, "pack1")      /* conv1: the filter packed for batch 1 */     \
    X(NB_PAD1, "pad1")        /* conv1: zero-padded input at batch 1 */      \
    X(NB_PADN, "padn")        /* conv1: padded inputs, batches 2..15 */
#define NODE_BUF_ENUM_(id, name) id,
typedef enum { NODE_BUFS(NODE_BUF_ENUM_) NB_COUNT } NodeBufRole;
#undef NODE_BUF_ENUM_
extern const char *const node_buf_names[NB_COUNT];

struct Node {
    int id;
    RnOp op;
    const char *name;  /* layer name, e.g. "layer1.0.conv1" */
    Loc loc;           /* the .rnet line that made it */
    Loc ctx;           /* the stage line that instantiated it, if any */
    int nin;
    Node *in[2];
    /* attributes */
    int kh, kw, stride, pad, groups, bias, filters;
    float p;           /* dropout: the probability of dropping an element */
    /* output shape per image (the batch is symbolic) */
    int c, h, w;
    int shape_ok;
    /* parameters, in a fixed order per op */
    int nparam;
    ParamT param[4];

    /* ---- the schedule: set by the passes (passes.c), zero in the source
     * graph; the backends print it and decide nothing ---- */
    Epilogue ep;       /* conv, add, bn: what runs on the output */
    ConvSched cs;      /* conv: the algorithm of each direction */
    int inplace;       /* 1 + k: the output overwrites input k's buffer */
    int uses;          /* consumers in this graph (pass_uses) */

    /* ---- set by the memory planner (plan.c) ---- */
    int buf[NB_COUNT]; /* per role: an index into plan->bufs, -1 none */
    int dx_set[2];     /* backward: input k's gradient is written, not added */
};

typedef enum { MODE_TRAIN, MODE_INFER } PipeMode;

/* one buffer of the workspace arena */
typedef enum { BUF_ACT, BUF_PRE, BUF_GRAD, BUF_SAVE, BUF_COL, BUF_FOLD } BufKind;
typedef struct {
    const char *name;  /* the node's name */
    NodeBufRole role;  /* what it holds for that node */
    BufKind kind;
    int per_image;     /* the size is per image: times the batch N */
    long size;         /* floats (per image when per_image) */
    int from, to;      /* live over steps [from, to] */
    long offset;       /* floats, in its region (per image when per_image) */
} Buf;

typedef struct {
    Vec bufs;           /* Buf* */
    int nsteps;
    int reuse;          /* 0: every buffer its own space (-O0) */
    long per_image;     /* arena: per_image * N + fixed floats */
    long fixed;
    long sum_per_image, sum_fixed;   /* every buffer on its own */
} MemPlan;

typedef struct {
    const char *name;
    Model *model;
    Vec nodes;          /* Node*, in topological order */
    Node *output;
    PipeMode mode;      /* what the passes made it for */
    int scheduled;      /* a pipeline's graph (run_pipeline), not the source */
    MemPlan *plan;      /* plan_memory */
} Graph;

Graph *graph_new(Model *m);
Node *graph_add(Graph *g, RnOp op, const char *name, Loc loc, Node *a, Node *b);
void node_add_param(Node *n, const char *suffix, int ndim, const int *shape,
                    int is_buffer, int no_decay);
/* validate structural invariants; die()s on an internal error */
void ir_validate(Graph *g);
void ir_dump(Graph *g, FILE *out);
void node_attrs(const Node *n, char *buf, size_t len);
long node_macs(const Node *n);
long node_useful_macs(const Node *n);
long node_params(const Node *n); /* trainable scalars */

Graph *graph_clone(Graph *g);      /* nodes copied, edges remapped */
const char *node_cname(const Node *n); /* "layer1.0.conv1" -> "layer1_0_conv1" */
/* parameter offsets (16-float aligned, graph order) and the total floats */
long param_layout(Graph *g);
/* the descriptor's facts about node n's j-th parameter: its RnParamKind
 * (runtime/rn_model.h) and the fans its initialisation uses */
int param_kind(const Node *n, int j);
void param_fans(const Node *n, const ParamT *p, int *fan_in, int *fan_out);

/* ---- passes.c: the pass pipeline ----
 * One flat table of passes, each a function over a graph that states what
 * it requires.  The source graph stays as lowered (the descriptor, the
 * checkpoints and the reference interpreter read it); the pipeline runs on
 * copies, one for training and one for inference. */
typedef struct {
    int optimize;              /* 0 (-O0 / --passes none): no optional pass */
    const char *only;          /* comma-separated optional passes to run, or NULL: all */
    int inference_only;        /* no training pipeline (Pipeline.train NULL) */
    int print_all;             /* --print-after-all */
    const char *print_after;   /* --print-after=PASS */
    FILE *print_to;
} PassOpts;
typedef struct {
    Graph *train, *infer;      /* train is NULL for --inference-only */
} Pipeline;
/* 0 and *out filled, or -1 after an error (an unknown pass name) */
int run_pipeline(Graph *src, const PassOpts *o, Pipeline *out);
int pass_known(const char *name);
void list_passes(FILE *out);
void pass_uses(Graph *g);

/* ---- plan.c: memory planning ---- */
void plan_memory(Graph *g, int reuse);
long conv_col_floats(const Node *n); /* im2col floats per image, 0: none */
long conv1_pad_floats(const Node *n); /* rn_conv1's padded input, per image */
RnConvGeom conv_geom(const Node *n);  /* a conv's shape and live taps, for rn_geom.h */
int conv_tap_live(const Node *n, int kh, int kw); /* does the tap ever read input? */
void plan_check(const MemPlan *p);   /* no two live buffers overlap; die()s */
void print_memory(const Pipeline *p, int N, FILE *out);
void print_schedule(const Pipeline *p, FILE *out);  /* --print-schedule */
/* the workspace the program allocates: per_image * N + fixed floats */
void plan_workspace(const Pipeline *p, long *per_image, long *fixed);

/* ---- lower.c: Model -> Graph ---- */
Graph *lower_model(Model *m);

/* ---- shape.c: shape inference ----
 * shape_node infers one node from its inputs and reports errors at the
 * node's location; pass_shapes runs it over the whole graph. */
int shape_node(Node *n);
void pass_shapes(Graph *g);

/* ---- print.c ---- */
void print_shapes(Graph *g, FILE *out);
const char *fmt_commas(long v, char *buf); /* 1234567 -> "1,234,567"; buf >= 32 */

/* ---- emit_c.c: the C backend ---- */
void emit_c(Graph *g, const Pipeline *p, FILE *out, FILE *hdr, const char *hname);
void emit_dot(Graph *g, FILE *out); /* emit_dot.c: the graph as Graphviz (--emit dot) */

/* ---- driver.c: building executables ---- */
#define RN_MAX_CFLAGS 32
typedef struct {
    const char *cc;    /* C compiler: --cc, $CC, else cc */
    const char *opt;   /* -O level, default -O3 */
    int native;        /* -march=native */
    int openmp;
    int verbose;
    int keep_temps;
    const char *out;
    /* --cflags, else $RNET_CFLAGS: words added to the compile and link
     * commands (split at blanks, no quoting), e.g. -fsanitize=address */
    char *extra[RN_MAX_CFLAGS + 1];
    int nextra;
} BuildOpts;
/* split FLAGS at blanks into o->extra; 0, or -1 (more than RN_MAX_CFLAGS) */
int build_set_cflags(BuildOpts *o, const char *flags);
/* the runtime library rnetc links programs with (driver.c: $RNET_HOME, beside
 * rnetc, or the configured prefix), or "not found" */
const char *runtime_lib(void);
int run_command(char *const argv[], int verbose);
int write_c_files(Graph *g, const Pipeline *pl, const char *cpath, const char *hpath);
int build_executable(Graph *g, const Pipeline *pl, const BuildOpts *o);

/* ---- frontend.c: the whole front end, file -> Graph ---- */
Graph *compile_file(const char *path);
Graph *compile_text(const char *name, const char *text, size_t len);

/* ---- weights.c: a .safetensors checkpoint as the graph's parameters ----
 * One float array per parameter in graph order (node by node, parameter by
 * parameter), checked against the graph (names, F32, shapes); NULL after
 * reporting every problem, each naming the file and the tensor. */
float **weights_read(Graph *g, const char *path);

/* ---- the LLVM backend: emit_llvm.c (the module), llvm_target.c (target,
 * optimisation, output); linked into rnetc only, so nothing else needs
 * LLVM ---- */
typedef struct {
    const char *triple, *cpu, *features; /* NULL: the host's */
    int opt;                             /* 0..3: -O level */
    int inference_only;                  /* no backward, no update */
    const char *weights;                 /* embed these; standalone rnm_X_infer */
    const char *emit;                    /* llvm, bc, asm, obj, exe or h */
} LlvmOpts;
int llvm_build(Graph *g, const Pipeline *pl, const LlvmOpts *lo, const BuildOpts *bo); /* 0 ok, 1 reported */

/* driver.c: link an object file (the LLVM backend's) into a program, with
 * the C compiler against out/librnet.a, as build_executable does */
int link_object(const char *obj, const BuildOpts *o);

/* ---- backends: one struct each, chosen by --backend.  main.c runs the
 * front end and the pipeline (passes, schedule, buffer plan) once and hands
 * the result to the backend's emit.  --emit dot is the driver's own. ---- */
typedef struct {
    const char *name;          /* --backend NAME */
    const char *const *emits;  /* the --emit kinds it produces, NULL-terminated */
    int takes_target;          /* --target, --cpu, --features, --weights */
    /* Whether it builds from the pipeline's schedule and buffer plan (both
     * do, through klower.c; the LLVM backend's standalone --weights object
     * still lowers the source graph with its own layout). */
    int uses_plan;
    /* write what lo->emit names (exe, c, llvm, ...) to bo->out; hpath: the
     * header beside it for --emit c; 0, or 1 with the error reported */
    int (*emit)(Graph *g, const Pipeline *pl, const LlvmOpts *lo, const BuildOpts *bo,
                const char *hpath);
} Backend;
extern const Backend backend_c;    /* driver.c */
extern const Backend backend_llvm; /* llvm_target.c */
int backend_emits(const Backend *be, const char *kind); /* driver.c */

#endif
