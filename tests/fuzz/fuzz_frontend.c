/* fuzz_frontend.c - libFuzzer entry point for the whole front end.
 *
 * Feeds arbitrary bytes to compile_text (lexer, parser, checker, lowering,
 * shape inference, IR validation) with diagnostics sent to /dev/null, and,
 * when a file is accepted, prints its shape table and IR as rnetc would, so
 * a sanitizer sees everything that touches the graph.  A refusal must have
 * reported an error: NULL with an error count of zero is a bug.  Compiler
 * memory lives in one arena, freed between inputs, so a leak report means
 * a real malloc outside it.  Built and run by tools/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "rnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull) {
        devnull = fopen("/dev/null", "w");
        if (!devnull)
            abort();
        diag_set_stream(devnull);
    }
    Graph *g = compile_text("fuzz.rnet", (const char *)data, size);
    if (g) {
        print_shapes(g, devnull);
        ir_dump(g, devnull);
        /* the middle and the back end too, unless the graph is huge: the
         * passes (with the IR validator and plan checker between them),
         * the memory report and the generated C */
        if (g->nodes.n <= 400) {
            PassOpts o = { .optimize = (int)(size & 1) ? 1 : 0 };
            Pipeline pl;
            if (run_pipeline(g, &o, &pl) == 0) {
                print_memory(&pl, 3, devnull);
                emit_c(g, &pl, devnull, NULL, NULL);
            }
        }
    } else if (error_count() == 0) {
        abort(); /* every refusal must say why */
    }
    arena_free_all();
    diag_reset();
    return 0;
}
