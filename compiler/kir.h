/* kir.h - the kernel-call IR: what one layer function of the scheduled,
 * planned graph does, as the calls of runtime kernels it makes.
 *
 * The passes decide (the schedule, the buffer plan); a backend's per-op
 * lowering builds a KFunc from those decisions: pointer locals into the
 * workspace, the parameters and the gradients, calls with typed arguments,
 * per-channel loops marked parallel with their work, and the branch on the
 * batch (N >= RN_DIRECT_MIN_N).  A printer turns it into text: kir_print_c
 * into the C of emit_c.c; an LLVM printer builds the same calls with the
 * LLVM-C API (docs/backends.md).  Values are integers affine in the batch
 * N and the loop variables, so the printers never see an expression tree.
 *
 * Everything is allocated in the compiler's arena.
 */
#ifndef RNET_KIR_H
#define RNET_KIR_H
#include <stdio.h>
#include "rnet.h" /* Vec */

enum { KIR_VARS = 2 };  /* loop variables: 0 is printed "c", 1 "g" */
/* a parallel loop's work (floats) from which it always runs on the threads:
 * RN_PAR_WORK of runtime/rn_gen.h */
enum { RN_KIR_PAR_WORK = 16384 };

/* k + kn N + sum over v of (kv[v] + kvn[v] N) var_v */
typedef struct {
    long k, kn;
    long kv[KIR_VARS], kvn[KIR_VARS];
} KAff;

typedef enum {
    KT_INT,    /* int */
    KT_LONG,   /* long */
    KT_FLOAT,  /* float */
    KT_PTR,    /* float *, const float * */
    KT_DPTR,   /* double * */
    KT_IPTR,   /* const int *: a table */
} KType;

typedef enum {
    KA_VAL,    /* an integer of type t (KT_INT, KT_LONG): a */
    KA_FLOAT,  /* a float constant: f */
    KA_PTR,    /* local[a]: a pointer local plus an affine element offset */
    KA_LOAD,   /* local[a], the element itself (a float): gamma[c] */
    KA_NULL,   /* a null pointer */
    KA_LOCAL,  /* the address of a struct local (an RnEpilogue): &name */
    KA_ADDR,   /* &local[a]: an element's address */
    KA_EXEC,   /* the layer function's RnExec *e itself */
} KArgKind;

typedef struct {
    KArgKind kind;
    KType t;
    KAff a;
    float f;
    int local;  /* KA_PTR, KA_LOAD, KA_LOCAL, KA_ADDR: index into KFunc.locals */
    int idx;    /* KA_PTR: a long local added to it ("dx + o"), or -1 */
} KArg;

/* A local: a pointer into a region (the workspace w, e->params, e->grads,
 * another local) at an affine offset, or a struct literal of arguments. */
typedef enum { KR_WORK, KR_PARAMS, KR_GRADS, KR_LOCAL, KR_SYM } KRegion;
typedef struct {
    const char *name;     /* "x", "gamma" */
    const char *comment;  /* printed after it; NULL for none */
    int is_struct;        /* an RnEpilogue { args } */
    int is_static;        /* struct: a constant (static const), all its fields values */
    const int *table;     /* a constant int table of ntable entries (KT_IPTR) */
    long ntable;
    const char *sym;      /* KR_SYM: a file-scope table's name (KT_IPTR) */
    int is_long;          /* a long: off (a loop body's channel offset, "o") */
    const char *type;     /* struct: "RnEpilogue" */
    KType t;              /* pointer: KT_PTR or KT_DPTR */
    KRegion region;
    int base;             /* KR_LOCAL: the local it points into */
    KAff off;             /* elements of the region's type (floats; doubles for KT_DPTR over KR_LOCAL) */
    int per_image;        /* KR_WORK: a per-image buffer (off.k fixed + off.kn N, both printed) */
    KArg *args;           /* struct: its fields */
    int nargs;
} KLocal;

typedef enum {
    KS_CALL,     /* fn(args) */
    KS_FOR,      /* for (var = 0; var < n; var++) body, parallel as par says */
    KS_IFN,      /* if (N >= n) body else orelse */
    KS_MEMSET,   /* memset(local + a, 0, sizeof(T) * bytes) */
    KS_COMMENT,  /* text */
    KS_LOCAL,    /* declare locals[local] here */
} KStmtKind;

typedef struct KStmt KStmt;
typedef Vec KBlock; /* KStmt* */

struct KStmt {
    KStmtKind kind;
    const char *fn;  /* CALL */
    KArg *args;
    int nargs;
    int var;         /* FOR: the loop variable */
    long n;          /* FOR: trip count; IFN: the batch threshold */
    int par;         /* FOR: 0 serial, 1 parallel over the channels */
    int per_image;   /* FOR parallel: work is per image (times N) */
    long work;       /* FOR parallel: floats of work in all its iterations */
    int local;       /* MEMSET, LOCAL */
    int idx;         /* MEMSET: a long local added to the pointer, or -1 */
    KAff a;          /* MEMSET: offset, count (kn: per image) */
    KAff count;
    const char *text; /* COMMENT; IFN: the threshold's name */
    KBlock body, orelse;
};

typedef struct {
    Vec locals;       /* KLocal* */
    KBlock body;
    KBlock *cur;      /* where kir_* appends */
    KBlock *stack[8];
    int depth;
} KFunc;

/* ---- building: appended at the current block ---- */
void kir_init(KFunc *f);
KAff kaff(long k, long kn);                     /* k + kn N */
KAff kaff_var(KAff a, int var, long kv, long kvn); /* a + (kv + kvn N) var */
KArg karg_int(KAff a);
KArg karg_long(KAff a);
KArg karg_float(float f);
KArg karg_ptr(int local, KAff off);
KArg karg_load(int local, KAff off);
KArg karg_null(void);
KArg karg_exec(void);                            /* e */
KArg karg_local(int local);
KArg karg_addr(int local, KAff index);           /* &local[index] */
KArg karg_ptr_idx(int local, int idx);           /* local + idx (a long local) */
KArg karg_ptr_at(int local, int idx, KAff off);  /* local + idx + off */
/* a long local: name = value */
int kir_long(KFunc *f, const char *name, KAff value);
/* a pointer local: region + off (floats), declared where this is called;
 * kir_work: a buffer of the plan, fixed + per_image N floats into w */
int kir_work(KFunc *f, const char *name, long fixed, long per_image, int is_per_image,
             const char *comment);
int kir_ptr(KFunc *f, const char *name, KRegion region, int base, KType t, KAff off,
            const char *comment);
/* a struct local RnEpilogue-like: type name { args } */
int kir_struct(KFunc *f, const char *name, const char *type, const KArg *args, int nargs);
/* ... a constant one, every field a value: static const type name = { args } */
int kir_struct_const(KFunc *f, const char *name, const char *type, const KArg *args, int nargs);
/* a constant table of n ints (copied) */
int kir_itable(KFunc *f, const char *name, const int *v, long n);
/* a pointer to a file-scope int table that the backend defines: const int *name = sym */
int kir_sym(KFunc *f, const char *name, const char *sym, const char *comment);
void kir_call(KFunc *f, const char *fn, const KArg *args, int nargs);
void kir_comment(KFunc *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kir_memset(KFunc *f, int local, KAff off, KAff count);
void kir_memset_idx(KFunc *f, int local, int idx, KAff count); /* memset(local + idx, ...) */
/* open a loop (kir_end closes it); par: per-channel parallel with work */
void kir_for(KFunc *f, int var, long n, int par, int per_image, long work);
/* if (N >= n) ... kir_else ... kir_end; name: n's name in C (or NULL) */
void kir_ifn(KFunc *f, long n, const char *name);
void kir_else(KFunc *f);
void kir_end(KFunc *f);

/* ---- printing ---- */
/* The body as C at one level of indentation: what emit_c.c prints inside
 * a layer function.  par_threshold: PAR_WORK (per-image parallel loops of
 * training always run threaded, with train). */
void kir_print_c(const KFunc *f, FILE *o, int train);
/* which of a layer function's parameters the C kir_print_c prints reads:
 * KU_E (e: the parameters, gradients), KU_W (the workspace w), KU_N (the
 * batch) - so that the emitter declares only those it uses */
enum { KU_E = 1, KU_W = 2, KU_N = 4 };
unsigned kir_uses(const KFunc *f, int train);

#endif
