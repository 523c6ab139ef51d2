/* check.c - resolve the parsed statements into a Model.
 *
 * The grammar accepts any "word item item ..." statement; here every word is
 * looked up in a table that says what the statement takes.  That makes the
 * language's vocabulary data (the tables below), and lets every mistake be
 * reported where it is, with a suggestion:
 *
 *   mnist.rnet:9:5: error: unknown layer 'cnv'; did you mean 'conv'?
 *
 * Nothing gets a silent default it was not documented to have: unknown
 * words, missing required fields, duplicates, wrong types and sizes of zero
 * or below are all errors.  Errors are counted and checking goes on, so one
 * run reports as many as it can. */
#include <math.h>
#include <string.h>
#include "rnet.h"

/* ---- argument schemas ---- */

typedef enum {
    A_INT,    /* integer expression */
    A_FLOAT,  /* number (an integer expression is accepted too) */
    A_KERNEL, /* k or KHxKW */
    A_SHAPE3, /* CxHxW */
    A_WORD,   /* one of words[] */
    A_FLAG,   /* option without a value */
    A_FLOATS, /* one or more numbers (per-channel lists) */
    A_WIDTH,  /* stage width: integer expression or 'double' */
} ArgType;

typedef struct {
    const char *name;
    ArgType type;
    const char *const *words; /* A_WORD: NULL-terminated choices */
    int required;
} ArgSpec;

enum { MAXPOS = 2, MAXOPT = 8 };

typedef struct {
    const char *name;
    int kind;                 /* LayerKind, or a statement id */
    ArgSpec pos[MAXPOS];
    ArgSpec opt[MAXOPT];
    int body;                 /* takes { ... } */
} StmtSpec;

/* a resolved argument */
typedef struct {
    int present;
    Loc loc;
    long long i;
    double f;
    int word;                 /* index into words[] */
    int dims[3];
    int n;                    /* A_FLOATS count; A_KERNEL/A_SHAPE3 ndims */
    double list[4];
} Val;

static const char *const shortcut_words[] = { "A", "B", "C", NULL };
static const char *const join_words[] = { "add", "concat", NULL };
static const char *const post_words[] = { "relu", "none", NULL };
static const char *const proj_words[] = { "bn", "conv", NULL };
static const char *const opt_words[] = { "sgd", "adam", "adamw", NULL };
static const char *const sched_words[] = { "constant", "step", "cosine", "onecycle", NULL };

/* layers: in a stem, a head or a block body */
static const StmtSpec layer_specs[] = {
    { "conv", L_CONV,
      { { "kernel size", A_KERNEL, NULL, 1 }, { "filters", A_INT, NULL, 1 } },
      { { "stride", A_INT, NULL, 0 }, { "pad", A_INT, NULL, 0 },
        { "groups", A_INT, NULL, 0 }, { "bias", A_FLAG, NULL, 0 } }, 0 },
    { "bn", L_BN, { { 0 } }, { { 0 } }, 0 },
    { "relu", L_RELU, { { 0 } }, { { 0 } }, 0 },
    { "maxpool", L_MAXPOOL, { { "kernel size", A_KERNEL, NULL, 1 } },
      { { "stride", A_INT, NULL, 0 }, { "pad", A_INT, NULL, 0 } }, 0 },
    { "avgpool", L_AVGPOOL, { { "kernel size", A_KERNEL, NULL, 1 } },
      { { "stride", A_INT, NULL, 0 }, { "pad", A_INT, NULL, 0 } }, 0 },
    { "gap", L_GAP, { { 0 } }, { { 0 } }, 0 },
    { "dropout", L_DROPOUT, { { "probability", A_FLOAT, NULL, 1 } }, { { 0 } }, 0 },
    { "fc", L_FC, { { "outputs", A_INT, NULL, 0 } }, { { 0 } }, 0 },
    { "fork", L_FORK, { { 0 } }, { { 0 } }, 0 },
};
enum { NLAYER_SPECS = sizeof layer_specs / sizeof layer_specs[0] };

/* statements of a model */
enum { M_INPUT, M_CLASSES, M_SHORTCUT, M_JOIN, M_POST, M_PROJ, M_STEM, M_HEAD, M_TRAIN, M_COUNT };
static const StmtSpec model_specs[] = {
    { "input", M_INPUT, { { "input shape", A_SHAPE3, NULL, 1 } }, { { 0 } }, 0 },
    { "classes", M_CLASSES, { { "number of classes", A_INT, NULL, 1 } }, { { 0 } }, 0 },
    { "shortcut", M_SHORTCUT, { { "shortcut type", A_WORD, shortcut_words, 1 } }, { { 0 } }, 0 },
    { "join", M_JOIN, { { "join", A_WORD, join_words, 1 } }, { { 0 } }, 0 },
    { "post", M_POST, { { "activation after the join", A_WORD, post_words, 1 } }, { { 0 } }, 0 },
    { "projection", M_PROJ, { { "projection", A_WORD, proj_words, 1 } }, { { 0 } }, 0 },
    { "stem", M_STEM, { { 0 } }, { { 0 } }, 1 },
    { "head", M_HEAD, { { 0 } }, { { 0 } }, 1 },
    { "train", M_TRAIN, { { 0 } }, { { 0 } }, 1 },
};
enum { NMODEL_SPECS = sizeof model_specs / sizeof model_specs[0] };

/* the options of a stage line; block parameters are added per block */
static const StmtSpec stage_spec = {
    "stage", 0, { { "width", A_WIDTH, NULL, 1 } },
    { { "stride", A_INT, NULL, 0 }, { "shortcut", A_WORD, shortcut_words, 0 },
      { "join", A_WORD, join_words, 0 }, { "post", A_WORD, post_words, 0 },
      { "projection", A_WORD, proj_words, 0 } }, 0
};

/* the training section */
enum { T_OPTIMIZER, T_LR, T_SCHEDULE, T_WD, T_SMOOTH, T_BATCH, T_EPOCHS, T_NORMALIZE,
       T_AUGMENT, T_SEED, T_COUNT };
static const StmtSpec train_specs[] = {
    { "optimizer", T_OPTIMIZER, { { "optimizer", A_WORD, opt_words, 1 } },
      { { "momentum", A_FLOAT, NULL, 0 }, { "nesterov", A_FLAG, NULL, 0 },
        { "beta1", A_FLOAT, NULL, 0 }, { "beta2", A_FLOAT, NULL, 0 },
        { "eps", A_FLOAT, NULL, 0 } }, 0 },
    { "lr", T_LR, { { "learning rate", A_FLOAT, NULL, 1 } }, { { 0 } }, 0 },
    { "schedule", T_SCHEDULE, { { "schedule", A_WORD, sched_words, 1 } },
      { { "warmup", A_FLOAT, NULL, 0 }, { "every", A_INT, NULL, 0 },
        { "gamma", A_FLOAT, NULL, 0 }, { "min_lr", A_FLOAT, NULL, 0 } }, 0 },
    { "weight_decay", T_WD, { { "weight decay", A_FLOAT, NULL, 1 } },
      { { "decoupled", A_FLAG, NULL, 0 }, { "exclude_bn_bias", A_FLAG, NULL, 0 } }, 0 },
    { "label_smoothing", T_SMOOTH, { { "label smoothing", A_FLOAT, NULL, 1 } }, { { 0 } }, 0 },
    { "batch", T_BATCH, { { "batch size", A_INT, NULL, 1 } }, { { 0 } }, 0 },
    { "epochs", T_EPOCHS, { { "epochs", A_INT, NULL, 1 } }, { { 0 } }, 0 },
    { "normalize", T_NORMALIZE, { { 0 } },
      { { "mean", A_FLOATS, NULL, 1 }, { "std", A_FLOATS, NULL, 1 } }, 0 },
    { "augment", T_AUGMENT, { { 0 } },
      { { "shift", A_INT, NULL, 0 }, { "flip", A_FLAG, NULL, 0 } }, 0 },
    { "seed", T_SEED, { { "seed", A_INT, NULL, 1 } }, { { 0 } }, 0 },
};
enum { NTRAIN_SPECS = sizeof train_specs / sizeof train_specs[0] };

_Static_assert((int)NMODEL_SPECS == (int)M_COUNT, "one model_specs row per statement");
_Static_assert((int)NTRAIN_SPECS == (int)T_COUNT, "one train_specs row per setting");

static const StmtSpec *find_spec(const StmtSpec *specs, int n, const char *word)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(specs[i].name, word))
            return &specs[i];
    return NULL;
}

static void suggest(Loc loc, const char *what, const char *word, const StmtSpec *specs, int n,
                    const char *const *extra, int nextra)
{
    const char *names[64];
    int k = 0;
    for (int i = 0; i < n && k < 64; i++)
        names[k++] = specs[i].name;
    for (int i = 0; i < nextra && k < 64; i++)
        names[k++] = extra[i];
    const char *best = closest_name(word, names, k);
    if (best)
        error_at(loc, "unknown %s '%s'; did you mean '%s'?", what, word, best);
    else
        error_at(loc, "unknown %s '%s'", what, word);
}

/* ---- expressions ---- */

static int env_lookup(Env *env, const char *name, long long *out)
{
    for (; env; env = env->up)
        for (int i = 0; i < env->n; i++)
            if (!strcmp(env->names[i], name)) {
                *out = env->vals[i];
                return 1;
            }
    return 0;
}

void env_bind(Env *env, const char *name, long long v)
{
    for (int i = 0; i < env->n; i++)
        if (!strcmp(env->names[i], name)) {
            env->vals[i] = v;
            return;
        }
    if (env->n == (int)(sizeof env->names / sizeof env->names[0]))
        die("environment full");
    env->names[env->n] = name;
    env->vals[env->n++] = v;
}

static void unknown_name(Expr *e, Env *env)
{
    const char *names[64];
    int k = 0;
    for (Env *v = env; v; v = v->up)
        for (int i = 0; i < v->n && k < 64; i++)
            names[k++] = v->names[i];
    const char *best = closest_name(e->name, names, k);
    if (best)
        error_at(e->loc, "unknown name '%s'; did you mean '%s'?", e->name, best);
    else
        error_at(e->loc, "unknown name '%s'", e->name);
}

enum { VMAX = 1000000000, MAX_EXPR_DEPTH = 200, MAX_KERNEL = 16384 };
/* layers in a whole model, blocks expanded: ResNet-1202 has about 5,400.
 * (ir_validate is quadratic in the number of nodes, so keep it modest.) */
enum { MAX_LAYERS = 20000, MAX_BLOCKS = 1000 };

/* While a block body is checked without values (every name bound to 1),
 * value errors such as a division by zero say nothing about the real
 * values, so they are not reported. */
static int quiet_values;
static int expr_depth, expr_too_deep;

static int eval_rec(Expr *e, Env *env, long long *out);

int eval_int(Expr *e, Env *env, long long *out)
{
    expr_depth = 0;
    expr_too_deep = 0;
    return eval_rec(e, env, out);
}

/* Expressions are evaluated recursively; a left-leaning chain such as
 * 1+1+1+... costs the parser no stack, so its depth is limited here. */
static int eval_rec(Expr *e, Env *env, long long *out)
{
    long long a, b;
    if (expr_depth >= MAX_EXPR_DEPTH) {
        if (!expr_too_deep)
            error_at(e->loc, "expression is nested too deeply (more than %d levels)",
                     MAX_EXPR_DEPTH);
        expr_too_deep = 1;
        return 1;
    }
    switch (e->kind) {
    case EX_INT:
        *out = e->ival;
        return 0;
    case EX_FLOAT:
        error_at(e->loc, "expected an integer, got the number %g", e->fval);
        return 1;
    case EX_NAME:
        if (env_lookup(env, e->name, out))
            return 0;
        unknown_name(e, env);
        return 1;
    case EX_BIN: {
        /* both sides, so that an unknown name on each is reported */
        expr_depth++;
        int bad = eval_rec(e->lhs, env, &a);
        bad |= eval_rec(e->rhs, env, &b);
        expr_depth--;
        if (bad)
            return 1;
        switch (e->op) {
        case '+': *out = a + b; break;
        case '-': *out = a - b; break;
        case '*': *out = a * b; break;
        case '/':
        case '%':
            if (b == 0) {
                if (quiet_values) {
                    *out = 1;
                    return 0;
                }
                error_at(e->loc, "division by zero");
                return 1;
            }
            *out = e->op == '/' ? a / b : a % b;
            break;
        default:
            die("bad operator %d", e->op);
        }
        if (*out > VMAX || *out < -VMAX) {
            if (quiet_values) {
                *out = 1;
                return 0;
            }
            error_at(e->loc, "value %lld is out of range (at most %d in size)", *out, VMAX);
            return 1;
        }
        return 0;
    }
    }
    die("bad expression kind");
}

/* ---- arguments ---- */

static const ArgSpec *find_opt(const StmtSpec *spec, const ArgSpec *extra, int nextra,
                               const char *name, int *index)
{
    for (int i = 0; i < MAXOPT && spec->opt[i].name; i++)
        if (!strcmp(spec->opt[i].name, name)) {
            *index = i;
            return &spec->opt[i];
        }
    for (int i = 0; i < nextra; i++)
        if (!strcmp(extra[i].name, name)) {
            *index = MAXOPT + i;
            return &extra[i];
        }
    return NULL;
}

static const char *type_name(ArgType t)
{
    switch (t) {
    case A_INT: return "an integer";
    case A_FLOAT: return "a number";
    case A_KERNEL: return "a size such as 3x3";
    case A_SHAPE3: return "a shape CxHxW such as 1x28x28";
    case A_WORD: return "a word";
    case A_FLAG: return "nothing";
    case A_FLOATS: return "numbers";
    case A_WIDTH: return "an integer or 'double'";
    }
    return "?";
}

static int is_word(Item *it, const char *w)
{
    return it->ndims == 1 && it->e[0]->kind == EX_NAME && (!w || !strcmp(it->e[0]->name, w));
}

/* A value that is a lone float where an integer belongs, or a lone word
 * that names nothing: say what the argument wants, rather than only
 * "unknown name" (unless the word is close to a known name, which
 * eval_int then suggests).  Returns 1 if it reported an error. */
static int wrong_value(Item *it, const ArgSpec *a, Env *env)
{
    Expr *e = it->e[0];
    const char *want = a->type == A_FLOATS ? "a number" : type_name(a->type);
    if (e->kind == EX_FLOAT && (a->type == A_INT || a->type == A_WIDTH)) {
        error_at(it->loc, "%s must be %s, got %g", a->name, want, e->fval);
        return 1;
    }
    long long dummy;
    if (e->kind != EX_NAME || env_lookup(env, e->name, &dummy))
        return 0;
    const char *names[64];
    int k = 0;
    for (Env *v = env; v; v = v->up)
        for (int i = 0; i < v->n && k < 64; i++)
            names[k++] = v->names[i];
    if (closest_name(e->name, names, k))
        return 0;
    error_at(it->loc, "%s must be %s; '%s' is not a known name", a->name, want, e->name);
    return 1;
}

/* Resolve one item against an ArgSpec.  Returns 0 on success. */
static int resolve_item(Item *it, const ArgSpec *a, Env *env, int dry, Val *v)
{
    v->present = 1;
    v->loc = it->loc;
    switch (a->type) {
    case A_WIDTH:
        if (is_word(it, "double")) {
            v->word = 1;
            return 0;
        }
        /* fall through */
    case A_INT:
        if (it->ndims != 1) {
            error_at(it->loc, "%s must be %s, not a size", a->name, type_name(a->type));
            return 1;
        }
        if (wrong_value(it, a, env) || eval_int(it->e[0], env, &v->i))
            return 1;
        if (!dry && v->i <= 0 && strcmp(a->name, "pad") && strcmp(a->name, "seed")) {
            error_at(it->loc, "%s must be positive, got %lld", a->name, v->i);
            return 1;
        }
        if (!dry && v->i < 0) {
            error_at(it->loc, "%s must not be negative, got %lld", a->name, v->i);
            return 1;
        }
        return 0;
    case A_FLOAT:
    case A_FLOATS:
        if (it->ndims != 1) {
            error_at(it->loc, "%s must be a number, not a size", a->name);
            return 1;
        }
        if (wrong_value(it, a, env))
            return 1;
        if (it->e[0]->kind == EX_FLOAT) {
            v->f = it->e[0]->fval;
        } else {
            long long i;
            if (eval_int(it->e[0], env, &i))
                return 1;
            v->f = (double)i;
        }
        if (!isfinite(v->f) || v->f < 0) {
            error_at(it->loc, "%s must be a finite number >= 0", a->name);
            return 1;
        }
        return 0;
    case A_KERNEL:
    case A_SHAPE3: {
        int want = a->type == A_SHAPE3 ? 3 : 2;
        if (a->type == A_KERNEL && it->ndims == 1) {
            /* "conv 3 64": a square kernel */
            long long k;
            if (eval_int(it->e[0], env, &k))
                return 1;
            v->dims[0] = v->dims[1] = (int)k;
            v->n = 2;
        } else if (it->ndims != want) {
            if (a->type == A_SHAPE3)
                error_at(it->loc, "%s must have 3 dimensions (CxHxW, such as 1x28x28), not %d",
                         a->name, it->ndims);
            else
                error_at(it->loc, "%s must have 1 or 2 dimensions (such as 3 or 3x3), not %d",
                         a->name, it->ndims);
            return 1;
        } else {
            v->n = want;
            for (int d = 0; d < want; d++) {
                long long k;
                if (eval_int(it->e[d], env, &k))
                    return 1;
                v->dims[d] = (int)k;
            }
        }
        for (int d = 0; d < v->n && !dry; d++) {
            if (v->dims[d] <= 0) {
                error_at(it->loc, "%s must be positive in every dimension, got %d", a->name,
                         v->dims[d]);
                return 1;
            }
            /* the largest input is 16384 wide; this also keeps the shape
             * arithmetic far from integer overflow */
            if (a->type == A_KERNEL && v->dims[d] > MAX_KERNEL) {
                error_at(it->loc, "%s %d is too large (at most %d)", a->name, v->dims[d],
                         MAX_KERNEL);
                return 1;
            }
        }
        return 0;
    }
    case A_WORD:
        if (!is_word(it, NULL)) {
            error_at(it->loc, "%s must be one of the words below", a->name);
            goto choices;
        }
        for (int i = 0; a->words[i]; i++)
            if (!strcmp(a->words[i], it->e[0]->name)) {
                v->word = i;
                return 0;
            }
        {
            int n = 0;
            while (a->words[n])
                n++;
            const char *best = closest_name(it->e[0]->name, (const char *const *)a->words, n);
            if (best)
                error_at(it->loc, "unknown %s '%s'; did you mean '%s'?", a->name, it->e[0]->name,
                         best);
            else
                error_at(it->loc, "unknown %s '%s'", a->name, it->e[0]->name);
        }
    choices: {
        char buf[256] = "";
        for (int i = 0; a->words[i]; i++) {
            strcat(buf, i ? ", " : "");
            strcat(buf, a->words[i]);
        }
        note_at(it->loc, "%s is one of: %s", a->name, buf);
    }
        return 1;
    case A_FLAG:
        return 0;
    }
    die("bad arg type");
}

/* Resolve the items of a statement against its spec: positionals in order,
 * options by name (each at most once).  extra[] adds options (block
 * parameters on a stage line).  Returns the number of errors. */
static int resolve_args(Stmt *s, const StmtSpec *spec, const ArgSpec *extra, int nextra, Env *env,
                        int dry, Val *pos, Val *opt)
{
    int errs = 0, npos = 0;
    for (int k = 0; k < s->items.n; k++) {
        Item *it = s->items.v[k];
        int oi;
        const ArgSpec *o = NULL;
        long long dummy;
        /* a bare word that names an option is that option ("stride 2");
         * the word after it is its value, even if it is "stride" too */
        if (is_word(it, NULL))
            o = find_opt(spec, extra, nextra, it->e[0]->name, &oi);
        if (o) {
            Val *v = &opt[oi];
            if (v->present) {
                error_at(it->loc, "duplicate option '%s'", o->name);
                note_at(v->loc, "first given here");
                errs++;
            }
            v->present = 1;
            v->loc = it->loc;
            if (o->type == A_FLAG)
                continue;
            if (k + 1 >= s->items.n) {
                error_at(it->loc, "option '%s' needs %s", o->name, type_name(o->type));
                errs++;
                continue;
            }
            if (o->type == A_FLOATS) {
                /* numbers up to the next word that names an option */
                v->n = 0;
                while (k + 1 < s->items.n) {
                    Item *nx = s->items.v[k + 1];
                    if (is_word(nx, NULL) && find_opt(spec, extra, nextra, nx->e[0]->name, &oi))
                        break;
                    if (v->n == 4) {
                        error_at(nx->loc, "at most 4 values for '%s'", o->name);
                        errs++;
                        break;
                    }
                    Val one = { 0 };
                    k++;
                    if (resolve_item(nx, o, env, dry, &one))
                        errs++;
                    v->list[v->n++] = one.f;
                }
                if (v->n == 0) {
                    error_at(it->loc, "option '%s' needs a number", o->name);
                    errs++;
                }
                continue;
            }
            Loc keep = v->loc;
            errs += resolve_item(s->items.v[++k], o, env, dry, v);
            v->loc = keep;
            continue;
        }
        if (npos >= MAXPOS || !spec->pos[npos].name) {
            if (is_word(it, NULL) && !env_lookup(env, it->e[0]->name, &dummy)) {
                const char *names[MAXOPT + 16];
                int n = 0;
                for (int i = 0; i < MAXOPT && spec->opt[i].name; i++)
                    names[n++] = spec->opt[i].name;
                for (int i = 0; i < nextra && n < MAXOPT + 16; i++)
                    names[n++] = extra[i].name;
                const char *best = closest_name(it->e[0]->name, names, n);
                if (best)
                    error_at(it->loc, "unknown option '%s' for '%s'; did you mean '%s'?",
                             it->e[0]->name, spec->name, best);
                else if (n)
                    error_at(it->loc, "unknown option '%s' for '%s'", it->e[0]->name, spec->name);
                else
                    error_at(it->loc, "'%s' takes no option '%s'", spec->name, it->e[0]->name);
                /* a number after it is most likely its value: one error is enough */
                if (k + 1 < s->items.n && !is_word(s->items.v[k + 1], NULL))
                    k++;
            } else {
                error_at(it->loc, "too many arguments for '%s'", spec->name);
            }
            errs++;
            continue;
        }
        errs += resolve_item(it, &spec->pos[npos], env, dry, &pos[npos]);
        npos++;
    }
    for (int i = 0; i < MAXPOS && spec->pos[i].name; i++)
        if (spec->pos[i].required && !pos[i].present && i >= npos) {
            error_at(s->word_loc, "'%s' needs its %s", spec->name, spec->pos[i].name);
            errs++;
        }
    if (s->has_body && !spec->body) {
        error_at(s->word_loc, "'%s' takes no { ... } body", spec->name);
        errs++;
    }
    return errs;
}

/* ---- blocks ---- */

/* Per-file state, reset by check_program: the blocks defined so far and
 * the file's top-level constants, which block bodies read when a stage
 * expands them (after check_program has returned). */
static Vec blocks;     /* BlockDef* */
static Env *file_env;
static Vec const_defs; /* Stmt* (ST_CONST) defined so far, for "first defined here" */
static int recursive;  /* some block uses itself (reported): its size is unknown */

static BlockDef *find_block(const char *name)
{
    for (int i = 0; i < blocks.n; i++) {
        BlockDef *b = blocks.v[i];
        if (!strcmp(b->name, name))
            return b;
    }
    return NULL;
}

static const char *const block_vars[] = { "width", "stride", "in" };

/* names that a block body may read: width, stride, in, its parameters */
static void block_env(BlockDef *b, Env *env, Env *up)
{
    memset(env, 0, sizeof *env);
    env->up = up;
    for (int i = 0; i < 3; i++)
        env_bind(env, block_vars[i], 1);
    for (int i = 0; i < b->params.n; i++) {
        Param *p = b->params.v[i];
        env_bind(env, p->name, 1);
    }
}

/* Resolve one layer statement.  In dry mode (checking a block body without
 * values) range errors are not reported. */
static int resolve_layer(Stmt *s, Env *env, int dry, Layer *out)
{
    if (s->kind == ST_STAGE) {
        error_at(s->loc, "'stage' belongs in a model, not here");
        return 1;
    }
    if (s->kind == ST_CONST) {
        error_at(s->loc, "constants belong at the top of the file or in the model");
        return 1;
    }
    if (s->kind == ST_BLOCK || s->kind == ST_MODEL) {
        error_at(s->loc, "definitions belong at the top level of the file");
        return 1;
    }
    const StmtSpec *spec = find_spec(layer_specs, NLAYER_SPECS, s->word);
    memset(out, 0, sizeof *out);
    out->loc = s->word_loc;
    if (!spec) {
        BlockDef *b = find_block(s->word);
        if (b) {
            out->kind = L_CALL;
            out->callee = b;
            if (s->items.n) {
                Item *it = s->items.v[0];
                error_at(it->loc, "a block used inside a block takes no arguments; it reads "
                                  "width and stride from its caller");
                return 1;
            }
            return 0;
        }
        const char *names[64];
        int k = 0;
        for (int i = 0; i < blocks.n && k < 64; i++)
            names[k++] = ((BlockDef *)blocks.v[i])->name;
        suggest(s->word_loc, "layer", s->word, layer_specs, NLAYER_SPECS, names, k);
        return 1;
    }
    Val pos[MAXPOS] = { { 0 } }, opt[MAXOPT] = { { 0 } };
    int errs = resolve_args(s, spec, NULL, 0, env, dry, pos, opt);
    out->kind = (LayerKind)spec->kind;
    switch (out->kind) {
    case L_CONV:
        out->kh = pos[0].dims[0];
        out->kw = pos[0].dims[1];
        out->filters = (int)pos[1].i;
        out->stride = opt[0].present ? (int)opt[0].i : 1;
        out->pad = opt[1].present ? (int)opt[1].i : out->kh / 2;
        out->groups = opt[2].present ? (int)opt[2].i : 1;
        out->bias = opt[3].present;
        if (!dry && !errs && out->filters % out->groups) {
            error_at(opt[2].loc, "groups (%d) must divide the filters (%d)", out->groups,
                     out->filters);
            errs++;
        }
        if (!dry && !errs && opt[1].present && (out->pad >= out->kh || out->pad >= out->kw)) {
            error_at(opt[1].loc, "padding %d is not smaller than the kernel %dx%d", out->pad,
                     out->kh, out->kw);
            errs++;
        }
        break;
    case L_MAXPOOL:
    case L_AVGPOOL:
        out->kh = pos[0].dims[0];
        out->kw = pos[0].dims[1];
        out->stride = opt[0].present ? (int)opt[0].i : out->kh;
        out->pad = opt[1].present ? (int)opt[1].i : 0;
        if (!dry && !errs && (2 * out->pad > out->kh || 2 * out->pad > out->kw)) {
            error_at(opt[1].loc, "pool padding %d is more than half the kernel %dx%d", out->pad,
                     out->kh, out->kw);
            errs++;
        }
        break;
    case L_FC:
        out->filters = pos[0].present ? (int)pos[0].i : 0;
        out->bias = 1;
        break;
    case L_DROPOUT:
        out->p = (float)pos[0].f;
        if (!dry && !errs && !(pos[0].f >= 0 && pos[0].f < 1)) {
            error_at(pos[0].loc, "a dropout probability is at least 0 and below 1, not %g",
                     pos[0].f);
            errs++;
        }
        break;
    case L_BN:
    case L_RELU:
    case L_GAP:
    case L_FORK:
    case L_CALL:
        break;
    }
    return errs;
}

int expand_block(BlockDef *b, Env *env, Vec *out_layers, Loc use)
{
    int errs = 0;
    (void)use;
    /* a body reads width, stride, in and its parameters (bound in env by
     * the caller) and the file's top-level constants */
    if (!env->up)
        env->up = file_env;
    for (int i = 0; i < b->body.n; i++) {
        Layer *l = arena_alloc(sizeof *l);
        if (resolve_layer(b->body.v[i], env, 0, l)) {
            errs++;
            continue;
        }
        if (l->kind == L_CALL) {
            /* the callee reads its caller's names, and its own parameters
             * at their defaults (check_block_body made sure it has them),
             * which, like the file's blocks, see the top-level constants */
            Env inner = { .up = env };
            BlockDef *c = l->callee;
            for (int k = 0; k < c->params.n; k++) {
                Param *p = c->params.v[k];
                long long v = 0;
                if (!p->def || eval_int(p->def, file_env, &v))
                    errs++;
                env_bind(&inner, p->name, v);
            }
            errs += expand_block(c, &inner, out_layers, l->loc);
        } else {
            vec_push(out_layers, l);
        }
    }
    return errs;
}

/* A block may not use itself, directly or through others.  A depth-first
 * walk over the "uses" edges; each block is walked once (visiting: 1 on the
 * path, 2 done), so each cycle is reported once, at the use that closes
 * it.  path[] holds the blocks on the current path, uses[] the statements
 * that lead from each to the next. */
static int check_recursion(BlockDef *b, BlockDef **path, Stmt **uses, int depth)
{
    if (b->visiting == 2)
        return 0;
    if (b->visiting == 1) {
        int start = 0;
        while (path[start] != b)
            start++;
        char chain[512];
        int len = 0;
        for (int i = start; i <= depth; i++) {
            const char *name = i < depth ? path[i]->name : b->name;
            int n = snprintf(chain + len, sizeof chain - (size_t)len, "%s%s", name,
                             i < depth ? " -> " : "");
            if (n < 0 || n >= (int)sizeof chain - len) {
                snprintf(chain + sizeof chain - 5, 5, "...");
                break;
            }
            len += n;
        }
        Stmt *use = uses[depth - 1];
        if (depth - start == 1)
            error_at(use->word_loc, "block '%s' uses itself", b->name);
        else
            error_at(use->word_loc, "recursive blocks: %s", chain);
        return 1;
    }
    b->visiting = 1;
    path[depth] = b;
    int errs = 0;
    for (int i = 0; i < b->body.n; i++) {
        Stmt *s = b->body.v[i];
        if (s->kind != ST_PLAIN || find_spec(layer_specs, NLAYER_SPECS, s->word))
            continue;
        BlockDef *c = find_block(s->word);
        if (c) {
            uses[depth] = s;
            errs += check_recursion(c, path, uses, depth + 1);
        }
    }
    b->visiting = 2;
    return errs;
}

/* About the number of layers one use of a block expands to (each use of
 * another block counts one more), or more than MAX_LAYERS: nesting can
 * double the count at every level, so the walk stops there.  A recursive
 * block (already reported) counts as too large. */
static long block_layers(BlockDef *b, int depth)
{
    long n = 0;
    for (int i = 0; i < b->body.n && n <= MAX_LAYERS; i++) {
        Stmt *s = b->body.v[i];
        BlockDef *c = NULL;
        if (s->kind == ST_PLAIN && !find_spec(layer_specs, NLAYER_SPECS, s->word))
            c = find_block(s->word);
        n++;
        if (c)
            n += depth < MAX_BLOCKS ? block_layers(c, depth + 1) : MAX_LAYERS + 1;
    }
    return n;
}

/* ---- the built-in blocks, written in the language itself ---- */

static const char prelude[] =
    "# basic: two 3x3 convolutions (ResNet-18/34); the first one strides\n"
    "block basic {\n"
    "    conv 3x3 width stride stride\n"
    "    bn\n"
    "    relu\n"
    "    conv 3x3 width\n"
    "    bn\n"
    "}\n"
    "# bottleneck: 1x1 reduce, 3x3 (strided, as torchvision), 1x1 expand by 4\n"
    "block bottleneck {\n"
    "    conv 1x1 width\n"
    "    bn\n"
    "    relu\n"
    "    conv 3x3 width stride stride\n"
    "    bn\n"
    "    relu\n"
    "    conv 1x1 width*4\n"
    "    bn\n"
    "}\n";

/* ---- the model ---- */

static void train_defaults(TrainDef *t)
{
    memset(t, 0, sizeof *t);
    t->optimizer = OPT_SGD;
    t->lr = 0.1;
    t->momentum = 0.9;
    t->beta1 = 0.9;
    t->beta2 = 0.999;
    t->eps = 1e-8;
    t->schedule = SCHED_CONSTANT;
    t->step_epochs = 30;
    t->gamma = 0.1;
    t->batch = 64;
    t->epochs = 10;
    t->seed = 1;
}

/* in_c, in_h, in_w: the input's shape, or 0 if unknown (for normalize
 * and augment) */
static int check_train(Stmt *sec, Env *env, TrainDef *t, int in_c, int in_h, int in_w,
                       Loc in_loc)
{
    int errs = 0;
    Loc seen[T_COUNT] = { { 0 } };
    for (int i = 0; i < sec->body.n; i++) {
        Stmt *s = sec->body.v[i];
        if (s->kind != ST_PLAIN) {
            error_at(s->loc, "only settings belong in 'train'");
            errs++;
            continue;
        }
        const StmtSpec *spec = find_spec(train_specs, NTRAIN_SPECS, s->word);
        if (!spec) {
            suggest(s->word_loc, "training setting", s->word, train_specs, NTRAIN_SPECS, NULL, 0);
            errs++;
            continue;
        }
        if (seen[spec->kind].line) {
            error_at(s->word_loc, "duplicate '%s'", spec->name);
            note_at(seen[spec->kind], "first given here");
            errs++;
            continue;
        }
        seen[spec->kind] = s->word_loc;
        Val pos[MAXPOS] = { { 0 } }, opt[MAXOPT] = { { 0 } };
        if (resolve_args(s, spec, NULL, 0, env, 0, pos, opt)) {
            errs++;
            continue;
        }
        switch (spec->kind) {
        case T_OPTIMIZER:
            t->optimizer = pos[0].word;
            if (opt[0].present) t->momentum = opt[0].f;
            t->nesterov = opt[1].present;
            if (opt[2].present) t->beta1 = opt[2].f;
            if (opt[3].present) t->beta2 = opt[3].f;
            if (opt[4].present) t->eps = opt[4].f;
            if (t->optimizer != OPT_SGD && (opt[0].present || opt[1].present)) {
                error_at(opt[0].present ? opt[0].loc : opt[1].loc,
                         "momentum and nesterov are options of sgd");
                errs++;
            }
            if (t->optimizer == OPT_SGD && (opt[2].present || opt[3].present || opt[4].present)) {
                error_at(opt[2].present ? opt[2].loc : opt[3].present ? opt[3].loc : opt[4].loc,
                         "beta1, beta2 and eps are options of adam and adamw");
                errs++;
            }
            for (int k = 0; k < 3; k++) {
                static const int which[] = { 0, 2, 3 }; /* momentum, beta1, beta2 */
                Val *v = &opt[which[k]];
                if (v->present && v->f >= 1) {
                    error_at(v->loc, "%s must be below 1, got %g",
                             spec->opt[which[k]].name, v->f);
                    errs++;
                }
            }
            if (t->nesterov && t->momentum <= 0) {
                error_at(opt[1].loc, "nesterov needs a momentum above 0");
                errs++;
            }
            break;
        case T_LR:
            t->lr = pos[0].f;
            if (t->lr <= 0) {
                error_at(pos[0].loc, "learning rate must be positive");
                errs++;
            }
            break;
        case T_SCHEDULE:
            t->schedule = pos[0].word;
            if (opt[0].present) t->warmup = opt[0].f;
            if (opt[1].present) t->step_epochs = (int)opt[1].i;
            if (opt[2].present) t->gamma = opt[2].f;
            if (opt[3].present) t->min_lr = opt[3].f;
            if ((opt[1].present || opt[2].present) && t->schedule != SCHED_STEP) {
                error_at(opt[1].present ? opt[1].loc : opt[2].loc,
                         "'every' and 'gamma' are options of the step schedule");
                errs++;
            }
            break;
        case T_WD:
            t->weight_decay = pos[0].f;
            t->decoupled = opt[0].present;
            t->no_decay_bn_bias = opt[1].present;
            break;
        case T_SMOOTH:
            t->label_smoothing = pos[0].f;
            if (t->label_smoothing >= 1) {
                error_at(pos[0].loc, "label smoothing must be below 1");
                errs++;
            }
            break;
        case T_BATCH:
            t->batch = (int)pos[0].i;
            break;
        case T_EPOCHS:
            t->epochs = (int)pos[0].i;
            break;
        case T_NORMALIZE:
            t->nmean = opt[0].n;
            t->nstd = opt[1].n;
            memcpy(t->mean, opt[0].list, sizeof t->mean);
            memcpy(t->std, opt[1].list, sizeof t->std);
            for (int k = 0; k < t->nstd; k++)
                if (t->std[k] <= 0) {
                    error_at(opt[1].loc, "std must be positive");
                    errs++;
                    break;
                }
            if (!opt[0].present || !opt[1].present) {
                error_at(s->word_loc, "'normalize' needs both mean and std");
                errs++;
            } else if (t->nmean != t->nstd) {
                error_at(opt[1].loc, "'normalize' has %d means but %d stds", t->nmean, t->nstd);
                errs++;
            } else if (in_c && t->nmean != 1 && t->nmean != in_c) {
                error_at(opt[0].loc, "'normalize' gives %d means for %d input channel%s",
                         t->nmean, in_c, in_c == 1 ? "" : "s");
                note_at(in_loc, "the input is declared here");
                errs++;
            }
            break;
        case T_AUGMENT:
            t->shift = opt[0].present ? (int)opt[0].i : 0;
            t->flip = opt[1].present;
            /* the programs refuse --shift outside [0, H) x [0, W): say it here */
            if (in_h && (t->shift >= in_h || t->shift >= in_w)) {
                error_at(opt[0].loc, "'augment shift %d' moves a %dx%d image by its whole size "
                         "or more; at most %d", t->shift, in_h, in_w,
                         (in_h < in_w ? in_h : in_w) - 1);
                note_at(in_loc, "the input is declared here");
                errs++;
            }
            break;
        case T_SEED:
            t->seed = pos[0].i;
            break;
        }
    }
    return errs;
}

static int check_layers(Stmt *sec, Env *env, Vec *out, int in_head)
{
    int errs = 0;
    for (int i = 0; i < sec->body.n; i++) {
        Stmt *s = sec->body.v[i];
        Layer *l = arena_alloc(sizeof *l);
        if (resolve_layer(s, env, 0, l)) {
            errs++;
            continue;
        }
        if (l->kind == L_CALL) {
            error_at(s->word_loc, "block '%s' can only be used by a stage", s->word);
            errs++;
            continue;
        }
        if (!in_head && l->kind == L_FC) {
            error_at(s->word_loc, "'fc' belongs in the head");
            errs++;
            continue;
        }
        if (l->kind == L_FORK) {
            error_at(s->word_loc, "'fork' belongs in a block: it marks where the block's "
                                  "shortcut reads");
            errs++;
            continue;
        }
        vec_push(out, l);
    }
    return errs;
}

static void add_const(Stmt *s, Env *env)
{
    long long v, old;
    if (eval_int(s->value, env, &v))
        return;
    if (env_lookup(env, s->word, &old)) {
        error_at(s->word_loc, "duplicate definition of '%s'", s->word);
        for (int i = 0; i < const_defs.n; i++) {
            Stmt *first = const_defs.v[i];
            if (!strcmp(first->word, s->word)) {
                note_at(first->word_loc, "first defined here");
                break;
            }
        }
        return;
    }
    if (env->n == (int)(sizeof env->names / sizeof env->names[0])) {
        error_at(s->word_loc, "too many constants (at most %d)", env->n);
        return;
    }
    if (find_spec(layer_specs, NLAYER_SPECS, s->word) || !strcmp(s->word, "double") ||
        !strcmp(s->word, "width") || !strcmp(s->word, "stride") || !strcmp(s->word, "in")) {
        error_at(s->word_loc, "'%s' is a reserved word and cannot name a constant", s->word);
        return;
    }
    env_bind(env, s->word, v);
    vec_push(&const_defs, s);
}

static int check_stage(Stmt *s, Model *m, Env *env, int *prev_width, int index, long *nlayers)
{
    StageDef *st = arena_alloc(sizeof *st);
    st->loc = s->loc;
    BlockDef *b = find_block(s->block);
    if (!b) {
        const char *names[64];
        int k = 0;
        for (int i = 0; i < blocks.n && k < 64; i++)
            names[k++] = ((BlockDef *)blocks.v[i])->name;
        const char *best = closest_name(s->block, names, k);
        if (find_spec(layer_specs, NLAYER_SPECS, s->block))
            error_at(s->block_loc, "'%s' is a layer; a stage repeats a block, such as basic",
                     s->block);
        else if (best)
            error_at(s->block_loc, "unknown block kind '%s'; did you mean '%s'?", s->block, best);
        else
            error_at(s->block_loc, "unknown block kind '%s'", s->block);
        return 1;
    }
    st->block = b;
    long long rep;
    if (eval_int(s->repeat, env, &rep))
        return 1;
    if (rep <= 0 || rep > 1000) {
        error_at(s->repeat->loc, "a stage repeats its block 1 to 1000 times, not %lld", rep);
        return 1;
    }
    st->repeat = (int)rep;
    /* the branch, and at most a projection (conv, bn), the join and a relu */
    *nlayers += rep * (block_layers(b, 0) + 4);
    if (*nlayers > MAX_LAYERS && !recursive) {
        error_at(s->loc, "the model has more than %d layers once its blocks are expanded",
                 MAX_LAYERS);
        return 1;
    }

    /* the block's parameters become options of the stage line */
    ArgSpec extra[16];
    int nextra = b->params.n;
    for (int i = 0; i < nextra; i++) {
        Param *p = b->params.v[i];
        extra[i] = (ArgSpec){ p->name, A_INT, NULL, p->def == NULL };
    }
    Val pos[MAXPOS] = { { 0 } }, opt[MAXOPT + 16] = { { 0 } };
    if (resolve_args(s, &stage_spec, extra, nextra, env, 0, pos, opt))
        return 1;
    int dbl = pos[0].word == 1;
    if (dbl && !*prev_width) {
        error_at(pos[0].loc, "'double' needs a previous stage to double");
        return 1;
    }
    long long width = dbl ? 2LL * *prev_width : pos[0].i;
    if (width > 1000000) {
        error_at(pos[0].loc, "width %lld is too large", width);
        return 1;
    }
    st->width = (int)width;
    *prev_width = st->width;
    st->stride = opt[0].present ? (int)opt[0].i : (dbl ? 2 : 1);
    st->shortcut = opt[1].present ? (ShortcutKind)opt[1].word : m->shortcut;
    st->join = opt[2].present ? (JoinKind)opt[2].word : m->join;
    st->post = opt[3].present ? (PostKind)opt[3].word : m->post;
    st->proj = opt[4].present ? (ProjKind)opt[4].word : m->proj;
    int errs = 0;
    for (int i = 0; i < nextra; i++) {
        Param *p = b->params.v[i];
        st->param_locs[i] = s->loc;
        if (opt[MAXOPT + i].present) {
            st->param_vals[i] = opt[MAXOPT + i].i;
            st->param_locs[i] = opt[MAXOPT + i].loc;
        } else if (p->def) {
            errs += eval_int(p->def, env, &st->param_vals[i]);
        } else {
            error_at(s->loc, "stage %d: block '%s' needs a value for its parameter '%s'", index,
                     b->name, p->name);
            note_at(p->loc, "'%s' is declared here", p->name);
            errs++;
        }
    }
    st->nparam = nextra;
    vec_push(&m->stages, st);
    return errs;
}

static int check_model(Stmt *ms, Model *m, Env *genv)
{
    int errs = 0;
    Env env = { .up = genv };
    Loc seen[M_COUNT] = { { 0 } };
    int prev_width = 0, nstage = 0;
    long nlayers = 0;
    m->name = ms->word;
    m->loc = ms->word_loc;
    m->shortcut = SC_B;
    m->join = JOIN_ADD;
    m->post = POST_RELU;
    m->proj = PROJ_BN;
    train_defaults(&m->train);

    /* constants and the model-wide settings first: stages read them */
    for (int i = 0; i < ms->body.n; i++) {
        Stmt *s = ms->body.v[i];
        if (s->kind == ST_CONST) {
            int before = error_count();
            add_const(s, &env);
            errs += error_count() - before;
            vec_push(&m->consts, s);
        }
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < ms->body.n; i++) {
            Stmt *s = ms->body.v[i];
            if (s->kind == ST_CONST)
                continue;
            if (s->kind == ST_STAGE) {
                if (pass == 1)
                    errs += check_stage(s, m, &env, &prev_width, ++nstage, &nlayers);
                continue;
            }
            if (s->kind != ST_PLAIN) {
                if (pass == 0) {
                    error_at(s->loc, "definitions belong at the top level, not in a model");
                    errs++;
                }
                continue;
            }
            const StmtSpec *spec = find_spec(model_specs, NMODEL_SPECS, s->word);
            if (!spec) {
                if (pass == 0) {
                    static const char *const more[] = { "stage", "const" };
                    suggest(s->word_loc, "model statement", s->word, model_specs, NMODEL_SPECS,
                            more, 2);
                    errs++;
                }
                continue;
            }
            /* settings in pass 0, sections (which read them) in pass 1 */
            int is_section = spec->body;
            if (is_section != pass)
                continue;
            if (seen[spec->kind].line) {
                error_at(s->word_loc, "duplicate '%s'", spec->name);
                note_at(seen[spec->kind], "first given here");
                errs++;
                continue;
            }
            seen[spec->kind] = s->word_loc;
            Val pos[MAXPOS] = { { 0 } }, opt[MAXOPT] = { { 0 } };
            if (resolve_args(s, spec, NULL, 0, &env, 0, pos, opt)) {
                errs++;
                continue;
            }
            if (spec->body && !s->has_body) {
                error_at(s->word_loc, "'%s' needs a { ... } body", spec->name);
                errs++;
                continue;
            }
            switch (spec->kind) {
            case M_INPUT:
                m->in_c = pos[0].dims[0];
                m->in_h = pos[0].dims[1];
                m->in_w = pos[0].dims[2];
                if (m->in_c > 4096 || m->in_h > 16384 || m->in_w > 16384) {
                    error_at(pos[0].loc, "input %dx%dx%d is too large", m->in_c, m->in_h,
                             m->in_w);
                    errs++;
                } else if (m->in_c > 64) {
                    /* the programs' normalisation keeps 64 channels (rn_model_norm) */
                    error_at(pos[0].loc, "input %dx%dx%d has %d channels; the programs rnetc "
                             "builds take at most 64", m->in_c, m->in_h, m->in_w, m->in_c);
                    errs++;
                }
                break;
            case M_CLASSES:
                m->classes = (int)pos[0].i;
                break;
            case M_SHORTCUT:
                m->shortcut = (ShortcutKind)pos[0].word;
                break;
            case M_JOIN:
                m->join = (JoinKind)pos[0].word;
                break;
            case M_POST:
                m->post = (PostKind)pos[0].word;
                break;
            case M_PROJ:
                m->proj = (ProjKind)pos[0].word;
                break;
            case M_STEM:
                errs += check_layers(s, &env, &m->stem, 0);
                break;
            case M_HEAD:
                errs += check_layers(s, &env, &m->head, 1);
                break;
            case M_TRAIN:
                errs += check_train(s, &env, &m->train, m->in_c, m->in_h, m->in_w,
                                    seen[M_INPUT]);
                break;
            }
        }
    static const int required[] = { M_INPUT, M_CLASSES, M_HEAD };
    for (int i = 0; i < 3; i++)
        if (!seen[required[i]].line) {
            error_at(ms->word_loc, "model '%s' has no '%s'", m->name,
                     model_specs[required[i]].name);
            errs++;
        }
    return errs;
}

/* Register a block and check its name and parameters.  Its body is
 * checked later by check_block_body, once every block and top-level
 * constant of the file is known, so blocks may use blocks defined after
 * them. */
static int define_block(Stmt *s, int builtin)
{
    BlockDef *old = find_block(s->word);
    if (old) {
        error_at(s->word_loc, "duplicate definition of block '%s'", s->word);
        if (old->builtin)
            note_at(s->word_loc, "'%s' is a built-in block", s->word);
        else
            note_at(old->loc, "first defined here");
        return 1;
    }
    if (find_spec(layer_specs, NLAYER_SPECS, s->word)) {
        error_at(s->word_loc, "'%s' is a layer and cannot name a block", s->word);
        return 1;
    }
    if (blocks.n >= MAX_BLOCKS) {
        error_at(s->word_loc, "too many blocks (at most %d)", MAX_BLOCKS);
        return 1;
    }
    BlockDef *b = arena_alloc(sizeof *b);
    b->name = s->word;
    b->loc = s->word_loc;
    b->params = s->params;
    b->body = s->body;
    b->builtin = builtin;
    int errs = 0;
    if (b->params.n > 16) {
        error_at(s->word_loc, "block '%s' has more than 16 parameters", b->name);
        return 1;
    }
    for (int i = 0; i < b->params.n; i++) {
        Param *p = b->params.v[i];
        for (int j = 0; j < i; j++)
            if (!strcmp(((Param *)b->params.v[j])->name, p->name)) {
                error_at(p->loc, "duplicate parameter '%s'", p->name);
                note_at(((Param *)b->params.v[j])->loc, "first declared here");
                errs++;
                break;
            }
        int oi;
        if (find_opt(&stage_spec, NULL, 0, p->name, &oi) || !strcmp(p->name, "width") ||
            !strcmp(p->name, "in") || !strcmp(p->name, "double")) {
            error_at(p->loc, "'%s' is reserved and cannot name a block parameter", p->name);
            errs++;
        }
    }
    if (!b->body.n) {
        error_at(s->word_loc, "block '%s' is empty", b->name);
        errs++;
    }
    vec_push(&blocks, b);
    return errs;
}

/* check a block body's words and types, without values */
static int check_block_body(BlockDef *b, Env *genv)
{
    int errs = 0;
    Env env;
    block_env(b, &env, genv);
    quiet_values = 1;
    for (int i = 0; i < b->body.n && !errs; i++) {
        Layer l;
        errs += resolve_layer(b->body.v[i], &env, 1, &l) ? 1 : 0;
        if (!errs && l.kind == L_FC) {
            error_at(l.loc, "'fc' belongs in the head, not in a block");
            errs++;
        }
        for (int k = 0; !errs && l.kind == L_CALL && k < l.callee->params.n; k++) {
            Param *p = l.callee->params.v[k];
            if (!p->def) {
                error_at(l.loc, "block '%s' needs a value for its parameter '%s', so only a "
                                "stage can use it", l.callee->name, p->name);
                note_at(p->loc, "'%s' is declared here", p->name);
                errs++;
            }
        }
    }
    quiet_values = 0;
    return errs;
}

Model *check_program(Vec *stmts, SrcFile *f)
{
    int errs = 0;
    memset(&blocks, 0, sizeof blocks);
    memset(&const_defs, 0, sizeof const_defs);
    quiet_values = 0;
    recursive = 0;
    Env *genv = arena_alloc(sizeof *genv);
    file_env = genv;

    /* built-in blocks first, from the prelude */
    static SrcFile *pre;
    Vec pstmts = { 0 };
    pre = src_new("<builtin>", prelude, sizeof prelude - 1);
    if (parse_source(pre, &pstmts))
        die("the prelude does not parse");
    for (int i = 0; i < pstmts.n; i++)
        if (define_block(pstmts.v[i], 1) || check_block_body(blocks.v[i], genv))
            die("the prelude does not check");
    int nbuiltin = blocks.n;
    for (int i = 0; i < blocks.n; i++) {
        BlockDef *b = blocks.v[i];
        b->expansion = !strcmp(b->name, "bottleneck") ? 4 : 1;
    }

    Stmt *model = NULL;
    for (int i = 0; i < stmts->n; i++) {
        Stmt *s = stmts->v[i];
        switch (s->kind) {
        case ST_CONST: {
            int before = error_count();
            add_const(s, genv);
            errs += error_count() - before;
            break;
        }
        case ST_BLOCK:
            errs += define_block(s, 0);
            break;
        case ST_MODEL:
            if (model) {
                error_at(s->word_loc, "a file holds one model; '%s' is a second", s->word);
                note_at(model->word_loc, "the first is '%s'", model->word);
                errs++;
            } else {
                model = s;
            }
            break;
        case ST_PLAIN:
        case ST_STAGE:
            error_at(s->loc, "'%s' must be inside a model { ... }", s->word);
            errs++;
            break;
        }
    }
    for (int i = nbuiltin; i < blocks.n; i++)
        errs += check_block_body(blocks.v[i], genv);
    BlockDef **path = arena_alloc(sizeof *path * (size_t)(blocks.n + 1));
    Stmt **uses = arena_alloc(sizeof *uses * (size_t)(blocks.n + 1));
    for (int i = 0; i < blocks.n; i++)
        recursive += check_recursion(blocks.v[i], path, uses, 0);
    errs += recursive;
    if (!model) {
        error_at((Loc){ f, 0, 0 }, "no model in this file (expected 'model NAME { ... }')");
        return NULL;
    }
    Model *m = arena_alloc(sizeof *m);
    m->file = f;
    errs += check_model(model, m, genv);
    return errs || error_count() ? NULL : m;
}
