/* test_weights.c - the compiler's safetensors reader (compiler/weights.c),
 * which --inference-only --weights uses to embed trained weights: a file
 * written by the runtime's writer reads back value for value, and every
 * kind of mismatch (missing tensor, wrong shape, wrong dtype, a tensor of
 * another model, a truncated file) is refused with an error naming the
 * file and the tensor. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "rn_safetensors.h"
#include "rnet.h"

static const char *src = "model w { input 1x6x6\n classes 3\n stem { conv 3x3 2; bn; relu }\n"
                         " head { gap; fc }\n}\n";

static char path[64], errs[64];

/* write the model's parameters (value = index + 0.5 * tensor), with one
 * tensor changed by `how`: 0 none, 1 drop it, 2 wrong shape, 3 I64,
 * 4 an extra tensor, 5 an extra num_batches_tracked */
static void write_ckpt(Graph *g, int how)
{
    rn_st_entry e[32];
    static float data[32][64];
    static long long i64[64];
    int n = 0;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *nd = g->nodes.v[i];
        for (int j = 0; j < nd->nparam; j++) {
            const ParamT *p = &nd->param[j];
            rn_st_entry *t = &e[n];
            memset(t, 0, sizeof *t);
            t->name = p->name;
            t->dtype = RN_ST_F32;
            t->ndim = p->ndim;
            for (int d = 0; d < p->ndim; d++)
                t->shape[d] = p->shape[d];
            for (long q = 0; q < p->numel; q++)
                data[n][q] = (float)q + 0.5f * (float)n;
            t->data = data[n];
            if (n == 1 && how == 2)
                t->shape[0] = 1;
            if (n == 1 && how == 3) {
                t->dtype = RN_ST_I64;
                t->data = i64;
            }
            if (!(n == 1 && how == 1))
                n++;
            else
                memset(t, 0, sizeof *t);
        }
    }
    if (how == 4 || how == 5) {
        memset(&e[n], 0, sizeof e[n]);
        e[n].name = how == 4 ? "head.extra" : "bn1.num_batches_tracked";
        e[n].dtype = how == 4 ? RN_ST_F32 : RN_ST_I64;
        e[n].ndim = 0;
        e[n].data = how == 4 ? (const void *)data[31] : (const void *)i64;
        n++;
    }
    char err[256];
    if (rn_st_write(path, e, n, NULL, 0, err, sizeof err))
        printf("write failed: %s\n", err);
}

/* read with diagnostics captured; returns the arrays, *out the messages */
static float **read_quiet(Graph *g, char *out, size_t len)
{
    FILE *f = fopen(errs, "w+");
    diag_set_stream(f);
    float **w = weights_read(g, path);
    diag_set_stream(NULL);
    out[0] = 0;
    if (f) {
        rewind(f);
        size_t n = fread(out, 1, len - 1, f);
        out[n] = 0;
        fclose(f);
    }
    return w;
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/rnet_test_weights.%d.safetensors", (int)getpid());
    snprintf(errs, sizeof errs, "/tmp/rnet_test_weights.%d.err", (int)getpid());
    Graph *g = compile_text("<test>", src, strlen(src));
    CHECK(g != NULL, "test model compiles", "no graph");
    if (!g)
        CHECK_DONE();
    char msg[4096];

    write_ckpt(g, 0);
    float **w = read_quiet(g, msg, sizeof msg);
    int same = w != NULL, k = 0;
    for (int i = 0; same && i < g->nodes.n; i++) {
        Node *nd = g->nodes.v[i];
        for (int j = 0; same && j < nd->nparam; j++, k++)
            for (long q = 0; q < nd->param[j].numel; q++)
                same &= w[k][q] == (float)q + 0.5f * (float)k;
    }
    CHECK(same, "weights read back value for value", "%s", msg);

    write_ckpt(g, 5);
    CHECK(read_quiet(g, msg, sizeof msg) != NULL, "num_batches_tracked is ignored", "%s", msg);

    static const struct {
        int how;
        const char *want;
    } bad[] = {
        { 1, "tensor 'bn1.weight' of model 'w' is missing" },
        { 2, "tensor 'bn1.weight' has shape [1], model 'w' wants [2]" },
        { 3, "tensor 'bn1.weight' is I64, expected F32" },
        { 4, "tensor 'head.extra' is not a parameter of model 'w'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_ckpt(g, bad[i].how);
        float **r = read_quiet(g, msg, sizeof msg);
        char name[96];
        snprintf(name, sizeof name, "refused: %s", bad[i].want);
        CHECK(!r && strstr(msg, bad[i].want) && strstr(msg, path), name, "got: %s", msg);
    }

    /* truncated: the header claims more than the file holds */
    write_ckpt(g, 0);
    if (truncate(path, 20) == 0) {
        float **r = read_quiet(g, msg, sizeof msg);
        CHECK(!r && strstr(msg, "not a safetensors file"), "truncated file refused", "got: %s", msg);
    }
    unlink(path);
    float **r = read_quiet(g, msg, sizeof msg);
    CHECK(!r && strstr(msg, "cannot read") && strstr(msg, "No such file"), "missing file refused",
          "got: %s", msg);
    unlink(errs);
    CHECK_DONE();
}
