/* test_kir.c - the kernel-call IR (compiler/kir.h): what kir_print_c makes
 * of each statement and value, and the parallel loop's three forms (always
 * threaded, never, or chosen by the batch), as the C backend prints them. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "kir.h"
#include "rnet.h"

static char *print(const KFunc *f, int train)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    kir_print_c(f, o, train);
    fclose(o);
    return buf;
}

static void expect(const char *name, const KFunc *f, int train, const char *want)
{
    char *got = print(f, train);
    CHECK(!strcmp(got, want), name, "got\n%s\nwant\n%s", got, want);
    free(got);
}

#define A(...) (const KArg[]){ __VA_ARGS__ }, (int)(sizeof((const KArg[]){ __VA_ARGS__ }) / sizeof(KArg))

int main(void)
{
    /* locals: the plan's buffers (fixed, per image), parameters, a derived pointer */
    KFunc f;
    kir_init(&f);
    int x = kir_work(&f, "x", 100, 49, 1, "x (1, 7, 7, N)");
    int s = kir_work(&f, "s", 300, 0, 0, NULL);
    int p = kir_ptr(&f, "gamma", KR_PARAMS, 0, KT_PTR, kaff(64, 0), "bn.weight [64]");
    int sum = kir_ptr(&f, "sum", KR_WORK, 0, KT_DPTR, kaff(400, 0), NULL);
    int sq = kir_ptr(&f, "sumsq", KR_LOCAL, sum, KT_DPTR, kaff(64, 0), NULL);
    kir_memset(&f, sum, kaff(0, 0), kaff(128, 0));
    int ep = kir_struct(&f, "ep", "RnEpilogue", A(karg_null(), karg_int(kaff(1, 0)), karg_ptr(sum, kaff(0, 0)),
                                                   karg_ptr(sq, kaff(0, 0))));
    kir_call(&f, "k", A(karg_ptr(x, kaff(3, 0)), karg_long(kaff(0, 49)), karg_int(kaff(0, 1)),
                        karg_float(0.0f), karg_float(0.5f), karg_float(1e-20f), karg_load(p, kaff(2, 0)),
                        karg_ptr(s, kaff(0, 0)), karg_local(ep)));
    kir_comment(&f, "a comment");
    expect("kir_locals_and_values", &f, 0,
           "    float *x = w + 100L + 49L * N;  /* x (1, 7, 7, N) */\n"
           "    float *s = w + 300L;\n"
           "    float *gamma = e->params + 64;  /* bn.weight [64] */\n"
           "    double *sum = (double *)(w + 400L);\n"
           "    double *sumsq = sum + 64;\n"
           "    memset(sum, 0, sizeof(double) * 128);\n"
           "    RnEpilogue ep = { NULL, 1, sum, sumsq };\n"
           "    k(x + 3, N * 49L, N, 0.0f, 0.5f, 9.99999968e-21f, gamma[2], s, &ep);\n"
           "    /* a comment */\n");

    /* a per-channel loop of a per-image work below RN_PAR_WORK: the batch
     * decides in inference, threads always in training */
    kir_init(&f);
    x = kir_work(&f, "x", 0, 49, 1, NULL);
    kir_for(&f, 0, 4, 1, 1, 4 * 49);
    kir_call(&f, "rn_relu_fwd", A(karg_ptr(x, kaff_var(kaff(0, 0), 0, 0, 49)), karg_long(kaff(0, 49))));
    kir_end(&f);
    expect("kir_par_by_batch", &f, 0,
           "    float *x = w + 0L + 49L * N;\n"
           "    if (RN_PAR(N * 196L)) {\n"
           "        RN_OMP_PAR_FOR\n"
           "        for (int c = 0; c < 4; c++)\n"
           "            rn_relu_fwd(x + (long)c * N * 49, N * 49L);\n"
           "    } else {\n"
           "        for (int c = 0; c < 4; c++)\n"
           "            rn_relu_fwd(x + (long)c * N * 49, N * 49L);\n"
           "    }\n");
    expect("kir_par_training", &f, 1,
           "    float *x = w + 0L + 49L * N;\n"
           "    RN_OMP_PAR_FOR\n"
           "    for (int c = 0; c < 4; c++)\n"
           "        rn_relu_fwd(x + (long)c * N * 49, N * 49L);\n");

    /* fixed work: threads from RN_PAR_WORK floats, never below; two
     * statements in a body take braces; the branch on the batch */
    kir_init(&f);
    x = kir_work(&f, "x", 8, 0, 0, NULL);
    kir_for(&f, 1, 2, 1, 0, 16384);
    kir_call(&f, "a", A(karg_ptr(x, kaff_var(kaff(1, 0), 1, 5, 0))));
    kir_call(&f, "b", A(karg_int(kaff_var(kaff(0, 0), 1, 0, 3))));
    kir_end(&f);
    kir_for(&f, 0, 2, 1, 0, 100);
    kir_call(&f, "c", A(karg_int(kaff(7, 0))));
    kir_end(&f);
    kir_ifn(&f, 16, "RN_DIRECT_MIN_N");
    kir_call(&f, "direct", NULL, 0);
    kir_else(&f);
    kir_call(&f, "gemm", NULL, 0);
    kir_end(&f);
    expect("kir_par_fixed_and_branch", &f, 0,
           "    float *x = w + 8L;\n"
           "    RN_OMP_PAR_FOR\n"
           "    for (int g = 0; g < 2; g++) {\n"
           "        a(x + (long)g * 5 + 1);\n"
           "        b((long)g * N * 3);\n"
           "    }\n"
           "    for (int c = 0; c < 2; c++)\n"
           "        c(7);\n"
           "    if (N >= RN_DIRECT_MIN_N) {\n"
           "        direct();\n"
           "    } else {\n"
           "        gemm();\n"
           "    }\n");

    /* constant tables and structs, a file-scope table, an index local plus
     * an offset, a unit coefficient */
    kir_init(&f);
    static const int tk[26] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25 };
    int t = kir_itable(&f, "tk", tk, 26);
    int sh = kir_struct_const(&f, "sh", "RnConvShape", A(karg_int(kaff(4, 0)), karg_int(kaff(2, 0))));
    int pos = kir_sym(&f, "pos", "tab3_pos", "forward");
    x = kir_work(&f, "x", 8, 0, 0, NULL);
    kir_for(&f, 0, 3, 0, 0, 0);
    int o = kir_long(&f, "o", kaff_var(kaff(0, 0), 0, 0, 9));
    kir_call(&f, "r", A(karg_ptr_at(x, o, kaff(0, 4)), karg_int(kaff_var(kaff(0, 0), 0, 1, 0)),
                        karg_ptr(t, kaff(0, 0)), karg_local(sh), karg_ptr(pos, kaff(0, 0))));
    kir_end(&f);
    expect("kir_tables", &f, 0,
           "    static const int tk[26] = {\n"
           "        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,\n"
           "        24, 25\n"
           "    };\n"
           "    static const RnConvShape sh = { 4, 2 };\n"
           "    const int *pos = tab3_pos;  /* forward */\n"
           "    float *x = w + 8L;\n"
           "    for (int c = 0; c < 3; c++) {\n"
           "        long o = (long)c * N * 9;\n"
           "        r(x + o + N * 4, c, tk, &sh, pos);\n"
           "    }\n");
    CHECK_DONE();
}
