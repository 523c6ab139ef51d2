/* test_ir.c - unit tests of the graph IR: lowering, names, shapes, counts.
 *
 * Builds graphs from .rnet text with compile_text() and checks what the
 * passes after the front end rely on: topological order, torchvision names,
 * shortcut kinds, parameter shapes and the MAC and parameter totals that
 * PyTorch gives for the same networks. */
#include <string.h>
#include "check.h"
#include "rnet.h"

static Graph *build(const char *text)
{
    diag_reset();
    return compile_text("<test>", text, strlen(text));
}

static Graph *build_file(const char *path)
{
    diag_reset();
    return compile_file(path);
}

static Node *find(Graph *g, const char *name)
{
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        if (!strcmp(n->name, name))
            return n;
    }
    return NULL;
}

static long total_params(Graph *g)
{
    long s = 0;
    for (int i = 0; i < g->nodes.n; i++)
        s += node_params(g->nodes.v[i]);
    return s;
}

static long total_macs(Graph *g)
{
    long s = 0;
    for (int i = 0; i < g->nodes.n; i++)
        s += node_macs(g->nodes.v[i]);
    return s;
}

static int has_param(Graph *g, const char *name, int ndim, const int *shape)
{
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int k = 0; k < n->nparam; k++)
            if (!strcmp(n->param[k].name, name)) {
                if (n->param[k].ndim != ndim)
                    return 0;
                for (int d = 0; d < ndim; d++)
                    if (n->param[k].shape[d] != shape[d])
                        return 0;
                return 1;
            }
    }
    return 0;
}

static void test_totals(void)
{
    static const struct {
        const char *path;
        long params, macs;
    } want[] = {
        { "models/mnist.rnet", 1229002, 11569920 },
        { "models/resnet18.rnet", 11689512, 1814073344 },
        { "models/resnet34.rnet", 21797672, 3663761408 },
        { "models/resnet50.rnet", 25557032, 4089184256 },
        { "models/cifar_resnet20.rnet", 269722, 40551040 },
        { "models/cifar_resnet56.rnet", 853018, 125485696 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        Graph *g = build_file(want[i].path);
        char name[128];
        snprintf(name, sizeof name, "totals %s", want[i].path);
        if (!g) {
            CHECK(0, name, "does not compile");
            continue;
        }
        ir_validate(g);
        CHECK(total_params(g) == want[i].params && total_macs(g) == want[i].macs, name,
              "params %ld macs %ld, want %ld %ld", total_params(g), total_macs(g), want[i].params,
              want[i].macs);
    }
}

static void test_torchvision_names(void)
{
    Graph *g = build_file("models/resnet50.rnet");
    if (!g) {
        CHECK(0, "resnet50 names", "does not compile");
        return;
    }
    int conv1[] = { 64, 3, 7, 7 }, ds[] = { 512, 256, 1, 1 }, bn[] = { 512 },
        c3[] = { 2048, 512, 1, 1 }, fc[] = { 1000, 2048 }, l2c2[] = { 128, 128, 3, 3 };
    CHECK(has_param(g, "conv1.weight", 4, conv1), "name conv1.weight", "missing or wrong shape");
    CHECK(has_param(g, "layer2.0.downsample.0.weight", 4, ds), "name layer2.0.downsample.0.weight",
          "missing or wrong shape");
    CHECK(has_param(g, "layer2.0.downsample.1.running_var", 1, bn),
          "name layer2.0.downsample.1.running_var", "missing or wrong shape");
    CHECK(has_param(g, "layer4.2.conv3.weight", 4, c3), "name layer4.2.conv3.weight",
          "missing or wrong shape");
    CHECK(has_param(g, "fc.weight", 2, fc), "name fc.weight", "missing or wrong shape");
    /* torchvision v1.5: the stride sits on the 3x3 conv of the bottleneck */
    Node *c2 = find(g, "layer2.0.conv2");
    CHECK(c2 && c2->stride == 2 && has_param(g, "layer2.0.conv2.weight", 4, l2c2),
          "bottleneck strides in conv2", "stride %d", c2 ? c2->stride : -1);
    CHECK(!find(g, "layer1.1.downsample.0"), "shortcut B: identity where shape is kept",
          "layer1.1 has a projection");
    CHECK(find(g, "layer1.0.downsample.0") != NULL, "shortcut B: projection 64->256",
          "layer1.0 lacks a projection");
}

static void test_topological(void)
{
    Graph *g = build_file("models/cifar_resnet20.rnet");
    if (!g) {
        CHECK(0, "topological order", "does not compile");
        return;
    }
    int ok = 1;
    for (int i = 0; i < g->nodes.n; i++) {
        Node *n = g->nodes.v[i];
        for (int k = 0; k < n->nin; k++)
            ok &= n->in[k]->id < n->id;
    }
    CHECK(ok, "topological order", "an input comes after its user");
    CHECK(g->output == g->nodes.v[g->nodes.n - 1] && g->output->op == RN_OP_FC,
          "output is the last node, an fc", "it is %s", g->output ? g->output->name : "none");
}

static void test_option_a(void)
{
    Graph *g = build_file("models/cifar_resnet20.rnet");
    if (!g) {
        CHECK(0, "option A", "does not compile");
        return;
    }
    Node *s = find(g, "layer2.0.shortcut");
    CHECK(s && s->op == RN_OP_PADSHORT && s->c == 32 && s->h == 16 && s->in[0]->c == 16,
          "option A pads 16->32 and halves the map", "got %s",
          s ? rn_op_names[s->op] : "nothing");
    CHECK(total_params(g) == 269722, "option A adds no parameters", "params %ld",
          total_params(g));
}

static void test_shortcut_c_and_concat(void)
{
    Graph *g = build("model m {\n input 3x16x16\n classes 5\n shortcut C\n"
                     " stem { conv 3x3 8; bn; relu }\n"
                     " stage 2 x basic 8\n"
                     " stage 1 x basic 8 join concat\n"
                     " head { gap; fc }\n}\n");
    if (!g) {
        CHECK(0, "shortcut C", "does not compile");
        return;
    }
    CHECK(find(g, "layer1.1.downsample.0") != NULL, "shortcut C projects every block",
          "layer1.1 has no projection");
    Node *cat = find(g, "layer2.0.concat");
    CHECK(cat && cat->c == 16 && cat->h == 16, "concat join adds channels", "got %dx%dx%d",
          cat ? cat->c : 0, cat ? cat->h : 0, cat ? cat->w : 0);
    Node *fc = find(g, "fc");
    CHECK(fc && fc->in[0]->c == 16 && fc->c == 5, "fc reads the concatenated channels",
          "fc %d -> %d", fc ? fc->in[0]->c : 0, fc ? fc->c : 0);
}

static void test_user_block(void)
{
    Graph *g = build("const base = 4\n"
                     "block wide(k = 2) {\n conv 3x3 width*k stride stride\n bn\n relu\n"
                     " conv 3x3 width*k\n bn\n}\n"
                     "model m {\n input 1x8x8\n classes 3\n stem { conv 3x3 base }\n"
                     " stage 1 x wide base\n stage 1 x wide double k 3\n head { gap; fc }\n}\n");
    if (!g) {
        CHECK(0, "user block", "does not compile");
        return;
    }
    Node *a = find(g, "layer1.0.conv2"), *b = find(g, "layer2.0.conv1");
    CHECK(a && a->c == 8, "block parameter default k = 2", "width %d", a ? a->c : 0);
    CHECK(b && b->c == 24 && b->stride == 2 && b->h == 4, "double with k 3: 8*3 filters, stride 2",
          "got %d filters stride %d", b ? b->c : 0, b ? b->stride : 0);
}

static void test_errors_fail(void)
{
    static const char *const bad[] = {
        "model m { input 1x8x8\n classes 3\n head { gap; fc }\n stage 1 x basic 0\n}\n",
        "model m { input 1x2x2\n classes 3\n stem { conv 7x7 4 pad 0 }\n head { gap; fc }\n}\n",
        "model m { input 1x8x8\n head { gap; fc }\n}\n",
        "block a { b }\nblock b { a }\nmodel m { input 1x8x8\n classes 3\n head { gap; fc }\n}\n",
        ("model m { input 1x8x8\n classes 3\n shortcut A\n stem { conv 3x3 8 }\n"
         " stage 1 x basic 4\n head { gap; fc }\n}\n"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *null = fopen("/dev/null", "w");
        diag_set_stream(null);
        Graph *g = build(bad[i]);
        int n = error_count();
        diag_set_stream(NULL);
        if (null)
            fclose(null);
        char name[64];
        snprintf(name, sizeof name, "malformed input %zu is refused", i);
        CHECK(!g && n > 0, name, "compiled with %d errors", n);
    }
}

static void test_dump(void)
{
    Graph *g = build_file("models/tiny.rnet");
    if (!g) {
        CHECK(0, "dump", "does not compile");
        return;
    }
    char buf[65536];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ir_dump(g, f);
    fclose(f);
    CHECK(strstr(buf, "conv %0 3x3/1 pad 1 : 4x12x12  # conv1") != NULL &&
              strstr(buf, "param  layer2.0.downsample.0.weight [8x4x1x1]") != NULL,
          "dump-ir text", "unexpected dump:\n%.400s", buf);
}

int main(void)
{
    test_totals();
    test_torchvision_names();
    test_topological();
    test_option_a();
    test_shortcut_c_and_concat();
    test_user_block();
    test_errors_fail();
    test_dump();
    CHECK_DONE();
}
