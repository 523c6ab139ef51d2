/* test_passes.c - the pass pipeline and the memory planner on real models.
 *
 * What the passes must do to the graph (which nodes they fuse, fold, put in
 * place or remove) and what the plan must satisfy: no two buffers that are
 * live at once share a byte, every value the backward pass reads is still
 * there, gradients have exactly one first writer, -O0 gives every buffer its
 * own space, and reuse makes the arena much smaller than the sum. */
#include <string.h>
#include "check.h"
#include "rnet.h"

static Graph *build_file(const char *path)
{
    diag_reset();
    return compile_file(path);
}

static Node *find(Graph *g, const char *name)
{
    for (int i = 0; i < g->nodes.n; i++)
        if (!strcmp(((Node *)g->nodes.v[i])->name, name))
            return g->nodes.v[i];
    return NULL;
}

static int count_op(Graph *g, RnOp op)
{
    int k = 0;
    for (int i = 0; i < g->nodes.n; i++)
        k += ((Node *)g->nodes.v[i])->op == op;
    return k;
}

static void test_mnist_fusion(void)
{
    Graph *g = build_file("models/mnist.rnet");
    CHECK(g != NULL, "mnist.rnet builds", "mnist.rnet builds");
    if (!g)
        return;
    PassOpts o = { .optimize = 1 };
    Pipeline pl;
    CHECK(run_pipeline(g, &o, &pl) == 0, "pipeline runs", "pipeline runs");
    /* source graph untouched: 32 nodes, 11 bn, 9 relu */
    CHECK(g->nodes.n == 32 && count_op(g, RN_OP_BN) == 9, "source graph unchanged", "source graph unchanged (%d nodes)",
          g->nodes.n);
    Graph *t = pl.train, *f = pl.infer;
    CHECK(count_op(t, RN_OP_BN) == 0 && count_op(t, RN_OP_RELU) == 0, "training graph: every bn and relu fused", "training graph: every bn and relu fused (%d bn, %d relu left)", count_op(t, RN_OP_BN),
          count_op(t, RN_OP_RELU));
    CHECK(t->nodes.n == 32 - 9 - 7, "training graph: 16 nodes", "training graph has %d nodes", t->nodes.n);
    Node *c = find(t, "layer1.0.conv1");
    CHECK(c && c->ep.bn && c->ep.relu && !c->ep.fold, "layer1.0.conv1 is conv+bn+relu for training", "layer1.0.conv1 is conv+bn+relu for training");
    Node *c2 = find(t, "layer1.0.conv2");
    CHECK(c2 && c2->ep.bn && !c2->ep.relu, "layer1.0.conv2 is conv+bn (its relu follows the add)", "layer1.0.conv2 is conv+bn (its relu follows the add)");
    Node *a = find(t, "layer1.0.add");
    CHECK(a && a->ep.relu && a->inplace == 1, "layer1.0.add is add+relu, in place over conv2", "layer1.0.add is add+relu, in place over conv2");
    Node *fc = find(f, "layer1.0.conv1");
    CHECK(fc && fc->ep.fold && fc->ep.relu, "inference: bn folded, relu fused", "inference: bn folded, relu fused");
    CHECK(t->plan && f->plan, "both graphs planned", "both graphs planned");
    /* the stem conv reads the network input: its backward computes no dx,
     * and conv1's forward input is kept for its weight gradient */
    Node *in = t->nodes.v[0];
    const Buf *b = t->plan->bufs.v[in->buf[NB_ACT]];
    Node *c1 = find(t, "conv1");
    CHECK(c1 && b->to == 2 * t->nodes.n - 1 - c1->id, "the input lives until conv1's backward", "the input lives until conv1's backward");
}

static void test_plan_invariants(const char *path)
{
    Graph *g = build_file(path);
    CHECK(g != NULL, "model builds", "%s builds", path);
    if (!g)
        return;
    for (int opt = 0; opt < 2; opt++) {
        PassOpts o = { .optimize = opt };
        Pipeline pl;
        run_pipeline(g, &o, &pl);
        for (int m = 0; m < 2; m++) {
            Graph *x = m ? pl.infer : pl.train;
            MemPlan *p = x->plan;
            /* overlap: checked pairwise here again, independently of plan_check */
            int bad = 0;
            for (int i = 0; i < p->bufs.n; i++)
                for (int j = 0; j < i; j++) {
                    const Buf *u = p->bufs.v[i], *v = p->bufs.v[j];
                    if (u->per_image != v->per_image || u->from > v->to || v->from > u->to)
                        continue;
                    if (u->offset < v->offset + v->size && v->offset < u->offset + u->size)
                        bad++;
                }
            CHECK(bad == 0, "plan: live buffers never overlap", "%s %s -O%d: %d pairs of live buffers overlap", path,
                  m ? "infer" : "train", opt ? 1 : 0, bad);
            if (!opt)
                CHECK(p->per_image == p->sum_per_image && p->fixed == p->sum_fixed, "plan -O0: every buffer its own space", "%s -O0: every buffer its own space", path);
            else if (m == 0)
                CHECK(p->per_image * 2 < p->sum_per_image, "plan: training reuse halves the per-image arena", "%s: training reuse halves the per-image arena (%ld of %ld)", path,
                      p->per_image, p->sum_per_image);
            if (m == 0) {
                /* every gradient with readers has exactly one first writer */
                int ok = 1;
                for (int i = 1; i < x->nodes.n; i++) {
                    Node *n = x->nodes.v[i];
                    int writers = 0;
                    for (int j = i + 1; j < x->nodes.n; j++) {
                        Node *c = x->nodes.v[j];
                        for (int k = 0; k < c->nin; k++)
                            writers += c->in[k] == n && c->dx_set[k];
                    }
                    if (n != x->output && writers != 1)
                        ok = 0;
                }
                CHECK(ok, "plan: each gradient has one first writer", "%s: each gradient has one first writer", path);
            }
        }
    }
}

static void test_dce(void)
{
    Graph *g = build_file("tests/e2e/small.rnet");
    CHECK(g != NULL, "small.rnet builds", "small.rnet builds");
    if (!g)
        return;
    /* hang a dead relu off the first conv: dce must drop it, nothing else */
    Node *first = g->nodes.v[1];
    Graph *h = graph_clone(g);
    Node *last = h->nodes.v[h->nodes.n - 1];
    h->nodes.n--;
    Node *dead = graph_add(h, RN_OP_RELU, "dead", first->loc, h->nodes.v[1], NULL);
    dead->c = first->c, dead->h = first->h, dead->w = first->w, dead->shape_ok = 1;
    last->id = h->nodes.n;
    vec_push(&h->nodes, last);
    ir_validate(h);
    PassOpts o = { .optimize = 1, .only = "dce" };
    Pipeline pl;
    run_pipeline(h, &o, &pl);
    CHECK(find(pl.train, "dead") == NULL && find(pl.infer, "dead") == NULL, "dce removes",
          "a node the output does not depend on is still there");
    CHECK(pl.train->nodes.n == g->nodes.n, "dce keeps the rest", "dce keeps the rest (%d of %d)", pl.train->nodes.n,
          g->nodes.n);
    PassOpts none = { .optimize = 1, .only = "none" };
    run_pipeline(h, &none, &pl);
    CHECK(find(pl.train, "dead") != NULL, "without dce", "the dead node went away");
}

static void test_unknown_pass(void)
{
    Graph *g = build_file("tests/e2e/small.rnet");
    if (!g)
        return;
    FILE *sink = tmpfile();
    diag_set_stream(sink);
    PassOpts o = { .optimize = 1, .only = "fuse-relux" };
    Pipeline pl;
    CHECK(run_pipeline(g, &o, &pl) == -1 && error_count() == 1, "an unknown pass is an error", "an unknown pass is an error");
    diag_set_stream(stderr);
    fclose(sink);
}

int main(void)
{
    test_mnist_fusion();
    test_plan_invariants("models/mnist.rnet");
    test_plan_invariants("models/resnet50.rnet");
    test_plan_invariants("tests/e2e/mix.rnet");
    test_dce();
    test_unknown_pass();
    CHECK_DONE();
}
