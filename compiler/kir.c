/* kir.c - the kernel-call IR (kir.h): building, and printing as C. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "kir.h"
#include "rnet.h"

static const char *const var_names[KIR_VARS] = { "c", "g" };

void kir_init(KFunc *f)
{
    memset(f, 0, sizeof *f);
    f->cur = &f->body;
}

KAff kaff(long k, long kn)
{
    KAff a = { 0 };
    a.k = k;
    a.kn = kn;
    return a;
}

KAff kaff_var(KAff a, int var, long kv, long kvn)
{
    a.kv[var] += kv;
    a.kvn[var] += kvn;
    return a;
}

static KArg arg(KArgKind kind, KType t)
{
    KArg a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.t = t;
    a.idx = -1;
    return a;
}

KArg karg_int(KAff v)
{
    KArg a = arg(KA_VAL, KT_INT);
    a.a = v;
    return a;
}

KArg karg_long(KAff v)
{
    KArg a = arg(KA_VAL, KT_LONG);
    a.a = v;
    return a;
}

KArg karg_float(float f)
{
    KArg a = arg(KA_FLOAT, KT_FLOAT);
    a.f = f;
    return a;
}

/* an argument that names a local, at an affine offset or index */
static KArg at_local(KArgKind kind, KType t, int local, KAff off)
{
    KArg a = arg(kind, t);
    a.local = local;
    a.a = off;
    return a;
}

KArg karg_ptr(int local, KAff off)
{
    return at_local(KA_PTR, KT_PTR, local, off);
}

KArg karg_load(int local, KAff off)
{
    return at_local(KA_LOAD, KT_FLOAT, local, off);
}

KArg karg_exec(void)
{
    return arg(KA_EXEC, KT_PTR);
}

KArg karg_null(void)
{
    return arg(KA_NULL, KT_PTR);
}

KArg karg_local(int local)
{
    return at_local(KA_LOCAL, KT_PTR, local, kaff(0, 0));
}

KArg karg_addr(int local, KAff index)
{
    return at_local(KA_ADDR, KT_PTR, local, index);
}

KArg karg_ptr_idx(int local, int idx)
{
    return karg_ptr_at(local, idx, kaff(0, 0));
}

KArg karg_ptr_at(int local, int idx, KAff off)
{
    KArg a = at_local(KA_PTR, KT_PTR, local, off);
    a.idx = idx;
    return a;
}

static KLocal *loc(const KFunc *f, int i)
{
    return f->locals.v[i];
}

static KStmt *push(KFunc *f, KStmtKind kind)
{
    KStmt *s = arena_alloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->kind = kind;
    vec_push(f->cur, s);
    return s;
}

static int add_local(KFunc *f, KLocal *l)
{
    vec_push(&f->locals, l);
    push(f, KS_LOCAL)->local = f->locals.n - 1;
    return f->locals.n - 1;
}

int kir_ptr(KFunc *f, const char *name, KRegion region, int base, KType t, KAff off,
            const char *comment)
{
    KLocal *l = arena_alloc(sizeof *l);
    memset(l, 0, sizeof *l);
    l->name = name;
    l->comment = comment;
    l->t = t;
    l->region = region;
    l->base = base;
    l->off = off;
    return add_local(f, l);
}

int kir_long(KFunc *f, const char *name, KAff value)
{
    KLocal *l = arena_alloc(sizeof *l);
    memset(l, 0, sizeof *l);
    l->name = name;
    l->is_long = 1;
    l->t = KT_LONG;
    l->off = value;
    return add_local(f, l);
}

int kir_work(KFunc *f, const char *name, long fixed, long per_image, int is_per_image,
             const char *comment)
{
    int i = kir_ptr(f, name, KR_WORK, 0, KT_PTR, kaff(fixed, per_image), comment);
    loc(f, i)->per_image = is_per_image;
    return i;
}

int kir_struct(KFunc *f, const char *name, const char *type, const KArg *args, int nargs)
{
    KLocal *l = arena_alloc(sizeof *l);
    memset(l, 0, sizeof *l);
    l->name = name;
    l->is_struct = 1;
    l->type = type;
    l->args = arena_alloc(sizeof *args * (size_t)nargs);
    memcpy(l->args, args, sizeof *args * (size_t)nargs);
    l->nargs = nargs;
    return add_local(f, l);
}

int kir_struct_const(KFunc *f, const char *name, const char *type, const KArg *args, int nargs)
{
    for (int i = 0; i < nargs; i++)
        if (args[i].kind != KA_VAL && args[i].kind != KA_FLOAT && args[i].kind != KA_NULL)
            die("kir: constant struct %s: field %d is not a value", name, i);
    int l = kir_struct(f, name, type, args, nargs);
    loc(f, l)->is_static = 1;
    return l;
}

int kir_itable(KFunc *f, const char *name, const int *v, long n)
{
    KLocal *l = arena_alloc(sizeof *l);
    memset(l, 0, sizeof *l);
    l->name = name;
    l->t = KT_IPTR;
    int *t = arena_alloc(sizeof(int) * (size_t)(n ? n : 1));
    memcpy(t, v, sizeof(int) * (size_t)n);
    l->table = t;
    l->ntable = n;
    return add_local(f, l);
}

int kir_sym(KFunc *f, const char *name, const char *sym, const char *comment)
{
    int i = kir_ptr(f, name, KR_SYM, 0, KT_IPTR, kaff(0, 0), comment);
    loc(f, i)->sym = sym;
    return i;
}

void kir_call(KFunc *f, const char *fn, const KArg *args, int nargs)
{
    KStmt *s = push(f, KS_CALL);
    s->fn = fn;
    s->args = arena_alloc(sizeof *args * (size_t)(nargs ? nargs : 1));
    if (nargs)
        memcpy(s->args, args, sizeof *args * (size_t)nargs);
    s->nargs = nargs;
}

void kir_comment(KFunc *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    push(f, KS_COMMENT)->text = arena_printf("%s", buf);
}

void kir_memset(KFunc *f, int local, KAff off, KAff count)
{
    KStmt *s = push(f, KS_MEMSET);
    s->local = local;
    s->idx = -1;
    s->a = off;
    s->count = count;
}

void kir_memset_idx(KFunc *f, int local, int idx, KAff count)
{
    kir_memset(f, local, kaff(0, 0), count);
    ((KStmt *)f->cur->v[f->cur->n - 1])->idx = idx;
}

static void open_block(KFunc *f, KBlock *b)
{
    if (f->depth == (int)(sizeof f->stack / sizeof f->stack[0]))
        die("kir: blocks nested too deep");
    f->stack[f->depth++] = f->cur;
    f->cur = b;
}

void kir_for(KFunc *f, int var, long n, int par, int per_image, long work)
{
    KStmt *s = push(f, KS_FOR);
    s->var = var;
    s->n = n;
    s->par = par;
    s->per_image = per_image;
    s->work = work;
    open_block(f, &s->body);
}

void kir_ifn(KFunc *f, long n, const char *name)
{
    KStmt *s = push(f, KS_IFN);
    s->n = n;
    s->text = name;
    open_block(f, &s->body);
}

void kir_else(KFunc *f)
{
    if (!f->depth)
        die("kir: else outside an if");
    KBlock *outer = f->stack[f->depth - 1];
    KStmt *s = outer->v[outer->n - 1];
    if (s->kind != KS_IFN || f->cur != &s->body)
        die("kir: else not after an if's body");
    f->cur = &s->orelse;
}

void kir_end(KFunc *f)
{
    if (!f->depth)
        die("kir: end without a block");
    f->cur = f->stack[--f->depth];
}

/* ---- C ---- */

/* A parallel loop over `work` units (times the batch N with per_image),
 * run by the OpenMP threads when there is enough work to pay for it and
 * plainly otherwise: printed once where the choice is known here (work >= RN_KIR_PAR_WORK per
 * image: always threads; a fixed work below it: never), and in inference
 * otherwise twice, the batch deciding:
 *
 *     if (RN_PAR(N * work)) {
 *         RN_OMP_PAR_FOR
 *         loop
 *     } else {
 *         loop
 *     }
 *
 * An OpenMP `if` clause would keep one copy, but a parallel region whose
 * `if` is false still costs libgomp a thread team: measured 1-6 us a
 * region at batch 1, more than the small layers' loops themselves.  A
 * training step's loops are always threaded: a region of two threads
 * costs no more than a false `if` (about 1 us), the work is large at the
 * batches training runs, and two copies of every loop of the backward
 * pass made a ResNet-18's C compile 40% longer. */

/* whether a loop is printed behind the run-time test RN_PAR(N * work):
 * a parallel per-image loop below the always-threaded work of
 * RN_KIR_PAR_WORK, outside a training step */
static int par_tested(const KStmt *s, int train)
{
    return s->par && s->per_image && s->work < RN_KIR_PAR_WORK && !train;
}

static void indent(FILE *o, int d)
{
    for (int i = 0; i < d; i++)
        fputs("    ", o);
}

/* an affine value: "0", "N * 49L", "(long)c * N * 49 + 3L" */
static void put_aff(FILE *o, const KAff *a, int is_long)
{
    const char *L = is_long ? "L" : "";
    int first = 1;
#define SEP() (first ? (first = 0, "") : " + ")
    for (int v = 0; v < KIR_VARS; v++) {
        if (a->kvn[v] == 1)
            fprintf(o, "%s(long)%s * N", SEP(), var_names[v]);
        else if (a->kvn[v])
            fprintf(o, "%s(long)%s * N * %ld", SEP(), var_names[v], a->kvn[v]);
        if (a->kv[v] == 1)
            fprintf(o, "%s%s", SEP(), var_names[v]);
        else if (a->kv[v])
            fprintf(o, "%s(long)%s * %ld", SEP(), var_names[v], a->kv[v]);
    }
    if (a->kn)
        fprintf(o, a->kn == 1 ? "%sN" : "%sN * %ld%s", SEP(), a->kn, L);
    if (a->k || first)
        fprintf(o, "%s%ld%s", SEP(), a->k, L);
#undef SEP
}

static int aff_zero(const KAff *a)
{
    static const KAff z;
    return !memcmp(a, &z, sizeof z);
}

static int aff_vars(const KAff *a)
{
    for (int v = 0; v < KIR_VARS; v++)
        if (a->kv[v] || a->kvn[v])
            return 1;
    return 0;
}

/* an index: "c", "64 + c", "3" */
static void put_index(FILE *o, const KAff *a)
{
    int v = -1, simple = !a->kn;
    for (int i = 0; i < KIR_VARS; i++) {
        if (a->kvn[i] || (a->kv[i] && a->kv[i] != 1))
            simple = 0;
        if (a->kv[i])
            v = v < 0 ? i : (simple = 0, v);
    }
    if (!simple) {
        put_aff(o, a, 0);
    } else if (v < 0) {
        fprintf(o, "%ld", a->k);
    } else if (a->k) {
        fprintf(o, "%ld + %s", a->k, var_names[v]);
    } else {
        fputs(var_names[v], o);
    }
}

static void put_arg(const KFunc *f, FILE *o, const KArg *a)
{
    switch (a->kind) {
    case KA_VAL:
        put_aff(o, &a->a, a->t == KT_LONG);
        break;
    case KA_FLOAT: {
        char buf[32];
        snprintf(buf, sizeof buf, "%.9g", (double)a->f);
        fprintf(o, "%s%sf", buf, strpbrk(buf, ".en") ? "" : ".0");
        break;
    }
    case KA_PTR:
        fputs(loc(f, a->local)->name, o);
        if (a->idx >= 0)
            fprintf(o, " + %s", loc(f, a->idx)->name);
        if (!aff_zero(&a->a)) {
            fputs(" + ", o);
            put_aff(o, &a->a, 0);
        }
        break;
    case KA_LOAD:
    case KA_ADDR:
        fprintf(o, "%s%s[", a->kind == KA_ADDR ? "&" : "", loc(f, a->local)->name);
        put_index(o, &a->a);
        fputc(']', o);
        break;
    case KA_NULL:
        fputs("NULL", o);
        break;
    case KA_EXEC:
        fputc('e', o);
        break;
    case KA_LOCAL:
        fprintf(o, "&%s", loc(f, a->local)->name);
        break;
    }
}

static void put_args(const KFunc *f, FILE *o, const KArg *args, int n)
{
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", o);
        put_arg(f, o, &args[i]);
    }
}

static void put_local(const KFunc *f, FILE *o, const KLocal *l, int d)
{
    indent(o, d);
    if (l->table) {
        fprintf(o, "static const int %s[%ld] = {", l->name, l->ntable);
        for (long i = 0; i < l->ntable; i++) {
            fputs(i ? "," : "", o);
            if (i % 24 == 0) {
                fputc('\n', o);
                indent(o, d + 1);
            } else {
                fputc(' ', o);
            }
            fprintf(o, "%d", l->table[i]);
        }
        fputc('\n', o);
        indent(o, d);
        fputs("};\n", o);
        return;
    }
    if (l->region == KR_SYM) {
        fprintf(o, "const int *%s = %s;", l->name, l->sym);
        if (l->comment)
            fprintf(o, "  /* %s */", l->comment);
        fputc('\n', o);
        return;
    }
    if (l->is_struct) {
        fprintf(o, "%s%s %s = { ", l->is_static ? "static const " : "", l->type, l->name);
        put_args(f, o, l->args, l->nargs);
        fputs(" };\n", o);
        return;
    }
    if (l->is_long) {
        fprintf(o, "long %s = ", l->name);
        put_aff(o, &l->off, 0);
        fputs(";\n", o);
        return;
    }
    const char *T = l->t == KT_DPTR ? "double" : "float";
    fprintf(o, "%s *%s = ", T, l->name);
    const char *base = l->region == KR_WORK ? "w" : l->region == KR_PARAMS ? "e->params"
                       : l->region == KR_GRADS ? "e->grads" : loc(f, l->base)->name;
    if (l->region == KR_WORK && l->t == KT_PTR && !aff_vars(&l->off)) {
        /* the plan's buffers as the C backend always wrote them */
        if (l->per_image)
            fprintf(o, "w + %ldL + %ldL * N;", l->off.k, l->off.kn);
        else
            fprintf(o, "w + %ldL;", l->off.k);
        if (l->comment)
            fprintf(o, "  /* %s */", l->comment);
        fputc('\n', o);
        return;
    }
    if (l->t == KT_DPTR && l->region != KR_LOCAL)
        fprintf(o, "(double *)(%s + ", base);
    else
        fprintf(o, "%s + ", base);
    put_aff(o, &l->off, l->region == KR_WORK);
    fputs(l->t == KT_DPTR && l->region != KR_LOCAL ? ");" : ";", o);
    if (l->comment)
        fprintf(o, "  /* %s */", l->comment);
    fputc('\n', o);
}

static void put_block(const KFunc *f, FILE *o, const KBlock *b, int d, int train);

static void put_loop(const KFunc *f, FILE *o, const KStmt *s, int d, int train)
{
    const char *v = var_names[s->var];
    indent(o, d);
    fprintf(o, "for (int %s = 0; %s < %ld; %s++)%s\n", v, v, s->n, v, s->body.n > 1 ? " {" : "");
    put_block(f, o, &s->body, d + 1, train);
    if (s->body.n > 1) {
        indent(o, d);
        fputs("}\n", o);
    }
}

static void put_stmt(const KFunc *f, FILE *o, const KStmt *s, int d, int train)
{
    switch (s->kind) {
    case KS_CALL: {
        /* one line, or broken after an argument and aligned after the
         * parenthesis where it would pass 110 columns */
        char *line = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&line, &len);
        if (!m)
            die("out of memory");
        for (int i = 0; i < d; i++)
            fputs("    ", m);
        fprintf(m, "%s(", s->fn);
        size_t open = (size_t)ftell(m), col = open;
        for (int i = 0; i < s->nargs; i++) {
            char *a = NULL;
            size_t alen = 0;
            FILE *am = open_memstream(&a, &alen);
            put_arg(f, am, &s->args[i]);
            fclose(am);
            int last = i == s->nargs - 1;
            if (i && col + 1 + alen + (last ? 2 : 1) > 110) {
                fprintf(m, ",\n%*s", (int)open, "");
                col = open;
            } else if (i) {
                fputs(", ", m);
                col += 2;
            }
            fputs(a, m);
            col += alen;
            free(a);
        }
        fputs(");\n", m);
        fclose(m);
        fputs(line, o);
        free(line);
        break;
    }
    case KS_FOR:
        if (par_tested(s, train)) {
            indent(o, d);
            fprintf(o, "if (RN_PAR(N * %ldL)) {\n", s->work);
            indent(o, d + 1);
            fputs("RN_OMP_PAR_FOR\n", o);
            put_loop(f, o, s, d + 1, train);
            indent(o, d);
            fputs("} else {\n", o);
            put_loop(f, o, s, d + 1, train);
            indent(o, d);
            fputs("}\n", o);
        } else if (s->par && (s->work >= RN_KIR_PAR_WORK || s->per_image)) {
            indent(o, d);
            fputs("RN_OMP_PAR_FOR\n", o);
            put_loop(f, o, s, d, train);
        } else {
            put_loop(f, o, s, d, train);
        }
        break;
    case KS_IFN:
        indent(o, d);
        if (s->text)
            fprintf(o, "if (N >= %s) {\n", s->text);
        else
            fprintf(o, "if (N >= %ld) {\n", s->n);
        put_block(f, o, &s->body, d + 1, train);
        if (s->orelse.n) {
            indent(o, d);
            fputs("} else {\n", o);
            put_block(f, o, &s->orelse, d + 1, train);
        }
        indent(o, d);
        fputs("}\n", o);
        break;
    case KS_MEMSET: {
        const KLocal *l = loc(f, s->local);
        indent(o, d);
        fprintf(o, "memset(%s", l->name);
        if (s->idx >= 0)
            fprintf(o, " + %s", loc(f, s->idx)->name);
        if (!aff_zero(&s->a)) {
            fputs(" + ", o);
            put_aff(o, &s->a, 0);
        }
        fprintf(o, ", 0, sizeof(%s) * ", l->t == KT_DPTR ? "double" : "float");
        put_aff(o, &s->count, 0);
        fputs(");\n", o);
        break;
    }
    case KS_COMMENT:
        indent(o, d);
        fprintf(o, "/* %s */\n", s->text);
        break;
    case KS_LOCAL:
        put_local(f, o, loc(f, s->local), d);
        break;
    }
}

static void put_block(const KFunc *f, FILE *o, const KBlock *b, int d, int train)
{
    for (int i = 0; i < b->n; i++)
        put_stmt(f, o, b->v[i], d, train);
}

void kir_print_c(const KFunc *f, FILE *o, int train)
{
    put_block(f, o, &f->body, 1, train);
}

/* ---- what the printed C reads, as the printer above prints it ---- */

static unsigned aff_uses(const KAff *a)
{
    unsigned u = a->kn ? KU_N : 0;
    for (int v = 0; v < KIR_VARS; v++)
        if (a->kvn[v])
            u |= KU_N;
    return u;
}

static unsigned args_uses(const KArg *args, int n)
{
    unsigned u = 0;
    for (int i = 0; i < n; i++) {
        switch (args[i].kind) {
        case KA_VAL:
        case KA_PTR:
        case KA_LOAD:
        case KA_ADDR:
            u |= aff_uses(&args[i].a);
            break;
        case KA_EXEC:
            u |= KU_E;
            break;
        case KA_FLOAT:
        case KA_NULL:
        case KA_LOCAL:
            break;
        }
    }
    return u;
}

static unsigned local_uses(const KLocal *l)
{
    if (l->table || l->region == KR_SYM)
        return 0;
    if (l->is_struct)
        return args_uses(l->args, l->nargs);
    if (l->is_long)
        return aff_uses(&l->off);
    unsigned u = 0;
    switch (l->region) {
    case KR_WORK:
        u = KU_W;
        if (l->t == KT_PTR && !aff_vars(&l->off))
            return u | (l->per_image ? KU_N : 0);
        break;
    case KR_PARAMS:
    case KR_GRADS:
        u = KU_E;
        break;
    case KR_LOCAL:
    case KR_SYM:
        break;
    }
    return u | aff_uses(&l->off);
}

static unsigned block_uses(const KFunc *f, const KBlock *b, int train)
{
    unsigned u = 0;
    for (int i = 0; i < b->n; i++) {
        const KStmt *s = b->v[i];
        switch (s->kind) {
        case KS_CALL:
            u |= args_uses(s->args, s->nargs);
            break;
        case KS_FOR:
            if (par_tested(s, train)) /* RN_PAR(N * work) */
                u |= KU_N;
            u |= block_uses(f, &s->body, train);
            break;
        case KS_IFN:
            u |= KU_N | block_uses(f, &s->body, train) | block_uses(f, &s->orelse, train);
            break;
        case KS_MEMSET:
            u |= aff_uses(&s->a) | aff_uses(&s->count);
            break;
        case KS_COMMENT:
            break;
        case KS_LOCAL:
            u |= local_uses(loc(f, s->local));
            break;
        }
    }
    return u;
}

unsigned kir_uses(const KFunc *f, int train)
{
    return block_uses(f, &f->body, train);
}
