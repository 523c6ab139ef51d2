/* main.c - the rnetc driver: flags in, front end, then what was asked for. */
#include <stdlib.h>
#include <string.h>
#include "rnet.h"

static const char usage[] =
    "usage: rnetc FILE.rnet [options]\n"
    "\n"
    "Reads a residual network described in the rnet language, checks it and\n"
    "infers every shape.\n"
    "\n"
    "options:\n"
    "  --print-shapes   print one row per layer: output shape, parameters, MACs\n"
    "  --dump-ir        print the graph IR as text\n"
    "  --check          only check the file (the default when nothing else is asked)\n"
    "  -h, --help       this text\n"
    "\n"
    "Errors are printed as file:line:col: error: message; the exit status is 1\n"
    "if there was any error, 2 for a bad command line.\n";

int main(int argc, char **argv)
{
    const char *path = NULL;
    int print_shapes_flag = 0, dump_ir = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--print-shapes")) {
            print_shapes_flag = 1;
        } else if (!strcmp(a, "--dump-ir")) {
            dump_ir = 1;
        } else if (!strcmp(a, "--check")) {
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "rnetc: error: unknown option '%s' (see rnetc --help)\n", a);
            return 2;
        } else if (path) {
            fprintf(stderr, "rnetc: error: more than one input file ('%s' and '%s')\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        fputs(usage, stderr);
        return 2;
    }
    Graph *g = compile_file(path);
    if (!g)
        return 1;
    if (print_shapes_flag)
        print_shapes(g, stdout);
    if (dump_ir)
        ir_dump(g, stdout);
    return 0;
}
