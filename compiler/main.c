/* main.c - the rnetc driver: flags in, front end, then what was asked for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rnet.h"

static const char usage[] =
    "usage: rnetc FILE.rnet [options]\n"
    "\n"
    "Compiles a residual network described in the rnet language.  With -o and\n"
    "no --emit, builds a native program that trains the network and runs\n"
    "inference (see OUT --help).\n"
    "\n"
    "output:\n"
    "  -o PATH            output file (executable, the .c for --emit c, the .dot\n"
    "                     for --emit dot; - for standard output with dot)\n"
    "  --emit exe|c|dot   what to produce (default: exe when -o is given)\n"
    "                     c writes PATH and PATH with .h in place of .c;\n"
    "                     dot writes a Graphviz graph of the layers (dot -Tsvg)\n"
    "  --print-shapes     print one row per layer: output shape, parameters, MACs\n"
    "  --dump-ir          print the graph IR as text\n"
    "  --check            only check the file (the default without -o)\n"
    "  --print-memory     print the memory plan (every buffer's offset and\n"
    "                     lifetime, the arena, the peak) for training and\n"
    "                     inference at --batch N (default: the model's batch)\n"
    "\n"
    "passes (rnetc --list-passes names them):\n"
    "  --passes LIST      run only these optional passes (comma-separated;\n"
    "                     none: no optional pass); memory planning always runs\n"
    "  --print-after-all  print the IR after every pass, for both pipelines\n"
    "  --print-after=PASS print the IR after PASS\n"
    "  -O0                no optional pass and no buffer reuse (and cc -O0)\n"
    "\n"
    "building (--emit exe):\n"
    "  --cc CC            C compiler (default: $CC, else cc)\n"
    "  -O0 -O1 -O2 -O3 -Os  optimisation level passed to it (default -O3)\n"
    "  --no-native        do not pass -march=native\n"
    "  --no-openmp        generated code without OpenMP (the runtime keeps its threads)\n"
    "  --save-temps       keep the generated C (its directory is printed)\n"
    "  -v                 print the compiler command\n"
    "  -h, --help         this text\n"
    "\n"
    "Errors are printed as file:line:col: error: message; the exit status is 1\n"
    "if there was any error, 2 for a bad command line.\n";

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "rnetc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see rnetc --help)\n");
    return 2;
}

/* --emit dot: the graph to PATH, or to standard output for "-" */
static int write_dot(Graph *g, const char *path)
{
    int std = !strcmp(path, "-");
    FILE *f = std ? stdout : fopen(path, "w");
    if (!f) {
        error_plain("cannot write '%s': %s", path, strerror(errno));
        return 1;
    }
    emit_dot(g, f);
    int bad = ferror(f) != 0;
    bad |= std ? fflush(f) != 0 : fclose(f) != 0;
    if (bad) {
        error_plain("cannot write '%s'", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *emit = NULL;
    int print_shapes_flag = 0, dump_ir = 0, print_mem = 0, batch = 0;
    PassOpts po = { .optimize = 1 };
    BuildOpts bo = { .cc = NULL, .opt = "-O3", .native = 1, .openmp = 1 };
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
        } else if (!strcmp(a, "--list-passes")) {
            list_passes(stdout);
            return 0;
        } else if (!strcmp(a, "--print-after-all")) {
            po.print_all = 1;
        } else if (!strncmp(a, "--print-after=", 14)) {
            po.print_after = a + 14;
        } else if (!strcmp(a, "--print-memory")) {
            print_mem = 1;
        } else if (!strcmp(a, "--passes") || !strcmp(a, "--print-after") ||
                   !strcmp(a, "--batch")) {
            if (i + 1 >= argc)
                return bad_usage("option '%s' needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--passes"))
                po.only = v;
            else if (!strcmp(a, "--print-after"))
                po.print_after = v;
            else {
                char *end;
                long b = strtol(v, &end, 10);
                if (*end || b < 1 || b > 1000000)
                    return bad_usage("--batch wants a number from 1 to 1000000, not '%s'", v);
                batch = (int)b;
            }
        } else if (!strcmp(a, "-o") || !strcmp(a, "--emit") || !strcmp(a, "--cc")) {
            if (i + 1 >= argc)
                return bad_usage("option '%s' needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-o"))
                bo.out = v;
            else if (!strcmp(a, "--cc"))
                bo.cc = v;
            else if (!strcmp(v, "exe") || !strcmp(v, "c") || !strcmp(v, "dot"))
                emit = v;
            else
                return bad_usage("unknown --emit kind '%s' (expected exe, c or dot)", v);
        } else if (!strcmp(a, "-O0") || !strcmp(a, "-O1") || !strcmp(a, "-O2") ||
                   !strcmp(a, "-O3") || !strcmp(a, "-Os")) {
            bo.opt = a;
            po.optimize = strcmp(a, "-O0") != 0;
        } else if (!strcmp(a, "--no-native")) {
            bo.native = 0;
        } else if (!strcmp(a, "--no-openmp")) {
            bo.openmp = 0;
        } else if (!strcmp(a, "--save-temps")) {
            bo.keep_temps = 1;
        } else if (!strcmp(a, "-v")) {
            bo.verbose = 1;
        } else if (a[0] == '-' && a[1]) {
            return bad_usage("unknown option '%s'", a);
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
    if (emit && !bo.out)
        return bad_usage("--emit %s needs -o PATH", emit);
    if (bo.out && !emit)
        emit = "exe";
    if (!bo.cc) {
        const char *env = getenv("CC");
        bo.cc = env && *env ? env : "cc";
    }
    Graph *g = compile_file(path);
    if (!g)
        return 1;
    if (print_shapes_flag)
        print_shapes(g, stdout);
    if (dump_ir)
        ir_dump(g, stdout);
    Pipeline pl;
    int need = print_mem || po.print_all || po.print_after || emit;
    if (emit && !strcmp(emit, "dot"))
        need = print_mem || po.print_all || po.print_after;
    if (need && run_pipeline(g, &po, &pl))
        return 1;
    if (print_mem)
        print_memory(&pl, batch ? batch : g->model->train.batch, stdout);
    if (emit && !strcmp(emit, "c")) {
        size_t n = strlen(bo.out);
        char *h = arena_alloc(n + 3);
        memcpy(h, bo.out, n + 1);
        if (n > 2 && !strcmp(h + n - 2, ".c"))
            h[n - 1] = 'h';
        else
            strcat(h, ".h");
        return write_c_files(g, &pl, bo.out, h) ? 1 : 0;
    }
    if (emit && !strcmp(emit, "dot"))
        return write_dot(g, bo.out);
    if (emit)
        return build_executable(g, &pl, &bo) ? 1 : 0;
    return 0;
}
