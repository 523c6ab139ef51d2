/* main.c - the rnetc driver: flags in, front end, then what was asked for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rnet.h"
#include "rn_version.h"
#include "rn_version_gen.h"

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
    "  --emit KIND        what to produce (default: exe when -o is given):\n"
    "                     exe  a program (train, eval, predict, info, check)\n"
    "                     c    PATH and PATH with .h in place of .c (C backend)\n"
    "                     dot  a Graphviz graph of the layers (dot -Tsvg)\n"
    "                     llvm, bc, asm, obj  LLVM IR text, bitcode, assembly\n"
    "                          or an object file (LLVM backend)\n"
    "                     h    a header for that object: sizes, prototypes\n"
    "  --print-shapes     print one row per layer: output shape, parameters, MACs\n"
    "  --dump-ir          print the graph IR as text\n"
    "  --check            only check the file (the default without -o)\n"
    "  --print-schedule   print the scheduled, planned graphs: per node its fused\n"
    "                     epilogue, each direction's algorithm (im2col-gemm,\n"
    "                     winograd-2x2-3x3, direct, conv1) and its buffers\n"
    "  --print-memory     print the memory plan (every buffer's offset and\n"
    "                     lifetime, the arena, the peak) for training and\n"
    "                     inference at --batch N (default: the model's batch);\n"
    "                     the C backend's plan (the LLVM backend lays out its own)\n"
    "\n"
    "passes (rnetc --list-passes names them; the C backend's):\n"
    "  --passes LIST      run only these optional passes (comma-separated;\n"
    "                     none: no optional pass); memory planning always runs\n"
    "  --print-after-all  print the IR after every pass, for both pipelines\n"
    "  --print-after=PASS print the IR after PASS\n"
    "  -O0                no optional pass and no buffer reuse (and cc -O0)\n"
    "\n"
    "backends:\n"
    "  --backend c|llvm   c (default): generate C and compile it with --cc;\n"
    "                     llvm: build the module with LLVM 14 directly\n"
    "  --target TRIPLE    LLVM target triple (default: the host), e.g.\n"
    "                     aarch64-linux-gnu, wasm32, thumbv7em-none-eabihf\n"
    "  --cpu NAME         target CPU (default: the host's, else generic)\n"
    "  --features LIST    target features, e.g. +avx512f,-avx2 (default: the\n"
    "                     host's when neither --target nor --cpu is given)\n"
    "  --inference-only   leave out the backward pass and the update (both\n"
    "                     backends); the program then evaluates and predicts\n"
    "  --weights FILE     with --inference-only: embed FILE.safetensors as\n"
    "                     constants and build rnm_NAME_infer(x, logits, work)\n"
    "                     for one image, calling nothing (no runtime, heap or\n"
    "                     files; --emit h gives its work size); --emit obj|asm|\n"
    "                     llvm|bc|h\n"
    "\n"
    "building (--emit exe):\n"
    "  --cc CC            C compiler (default: $CC, else cc)\n"
    "  --cflags FLAGS     more flags for the compile and link commands (default:\n"
    "                     $RNET_CFLAGS), split at blanks; a sanitized program:\n"
    "                     --cflags '-g -fsanitize=address,undefined'\n"
    "  -O0 -O1 -O2 -O3 -Os  optimisation level passed to it (default -O3); with\n"
    "                     llvm: LLVM's default<On> pipeline (-O0: none; -Os: O2)\n"
    "  --no-native        do not pass -march=native\n"
    "  --no-openmp        generated code without OpenMP (the runtime keeps its threads)\n"
    "  --save-temps       keep the generated C (its directory is printed)\n"
    "  -v                 print the compiler command\n"
    "  -h, --help         this text\n"
    "  --version          the version, git revision, compilers and runtime ISA\n"
    "\n"
    "  -fmax-errors=N     print at most N errors (default 50; 0: all)\n"
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

/* Refuse an output before any work: one that is an input (the same file by
 * device and inode, whatever the names: rnetc must never write over its
 * source or the weights it embeds), a directory, or one in a directory that
 * is missing or not writable.  0, or 1 with the error printed. */
static int check_output(const char *out, const char *const *in, int nin)
{
    struct stat so, si;
    if (stat(out, &so) == 0) {
        for (int i = 0; i < nin; i++)
            if (in[i] && stat(in[i], &si) == 0 && si.st_dev == so.st_dev &&
                si.st_ino == so.st_ino) {
                error_plain("output '%s' is the input '%s': refusing to write over it", out, in[i]);
                return 1;
            }
        if (S_ISDIR(so.st_mode)) {
            error_plain("output '%s' is a directory", out);
            return 1;
        }
    }
    const char *slash = strrchr(out, '/');
    char *dir = slash ? arena_printf("%.*s", (int)(slash - out) + (slash == out), out) : ".";
    if (stat(dir, &si) != 0) {
        error_plain("cannot write '%s': directory '%s': %s", out, dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(si.st_mode)) {
        error_plain("cannot write '%s': '%s' is not a directory", out, dir);
        return 1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        error_plain("cannot write '%s': directory '%s': %s", out, dir, strerror(errno));
        return 1;
    }
    return 0;
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
    int print_shapes_flag = 0, dump_ir = 0, print_mem = 0, print_sched = 0, batch = 0;
    PassOpts po = { .optimize = 1 };
    BuildOpts bo = { .cc = NULL, .opt = "-O3", .native = 1, .openmp = 1 };
    LlvmOpts lo = { 0 };
    const Backend *be = &backend_c;
    const char *cflags = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) {
            rn_print_version(stdout, "rnetc");
            printf("LLVM: %s (the LLVM backend, linked in)\n", RN_LLVM_VERSION);
            printf("runtime: %s\n", runtime_lib());
            return 0;
        }
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
        } else if (!strncmp(a, "-fmax-errors=", 13)) {
            char *end;
            long k = strtol(a + 13, &end, 10);
            if (!a[13] || *end || k < 0 || k > 1000000)
                return bad_usage("-fmax-errors wants a number from 0 to 1000000, not '%s'", a + 13);
            diag_set_max_errors((int)k);
        } else if (!strcmp(a, "--print-schedule")) {
            print_sched = 1;
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
        } else if (!strcmp(a, "--inference-only")) {
            lo.inference_only = 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--emit") || !strcmp(a, "--cc") ||
                   !strcmp(a, "--backend") || !strcmp(a, "--target") || !strcmp(a, "--cpu") ||
                   !strcmp(a, "--features") || !strcmp(a, "--weights") ||
                   !strcmp(a, "--cflags")) {
            if (i + 1 >= argc)
                return bad_usage("option '%s' needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-o"))
                bo.out = v;
            else if (!strcmp(a, "--cc"))
                bo.cc = v;
            else if (!strcmp(a, "--cflags"))
                cflags = v;
            else if (!strcmp(a, "--target"))
                lo.triple = v;
            else if (!strcmp(a, "--cpu"))
                lo.cpu = v;
            else if (!strcmp(a, "--features"))
                lo.features = v;
            else if (!strcmp(a, "--weights"))
                lo.weights = v;
            else if (!strcmp(a, "--backend")) {
                if (!strcmp(v, backend_c.name))
                    be = &backend_c;
                else if (!strcmp(v, backend_llvm.name))
                    be = &backend_llvm;
                else
                    return bad_usage("unknown backend '%s' (expected c or llvm)", v);
            } else if (!strcmp(v, "exe") || !strcmp(v, "c") || !strcmp(v, "dot") ||
                       !strcmp(v, "llvm") || !strcmp(v, "bc") || !strcmp(v, "asm") ||
                       !strcmp(v, "obj") || !strcmp(v, "h"))
                emit = v;
            else
                return bad_usage("unknown --emit kind '%s' (expected exe, c or dot; with --backend llvm also llvm, bc, asm, obj or h)", v);
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
    if (emit && strcmp(emit, "dot") && !backend_emits(be, emit))
        return be == &backend_c ? bad_usage("--emit %s needs --backend llvm", emit)
                                : bad_usage("--emit %s is the C backend's (drop --backend llvm)", emit);
    if (!be->takes_target && (lo.triple || lo.cpu || lo.features || lo.weights))
        return bad_usage("%s needs --backend llvm",
                         lo.triple ? "--target" : lo.cpu ? "--cpu" : lo.features ? "--features"
                         : "--weights");
    po.inference_only = lo.inference_only;
    if (lo.weights && !lo.inference_only)
        return bad_usage("--weights %s needs --inference-only", lo.weights);
    if (lo.weights && emit && !strcmp(emit, "exe"))
        return bad_usage("--weights builds a standalone object, not a program: use --emit obj, asm, llvm, bc or h%s", "");
    lo.opt = bo.opt[2] == 's' ? 2 : bo.opt[2] - '0';
    lo.emit = emit;
    if (!cflags)
        cflags = getenv("RNET_CFLAGS");
    if (cflags && build_set_cflags(&bo, cflags))
        return bad_usage("--cflags (or $RNET_CFLAGS) holds more than 32 flags: '%s'", cflags);
    if (!bo.cc) {
        const char *env = getenv("CC");
        bo.cc = env && *env ? env : "cc";
    }
    /* the outputs: -o, and for --emit c the header beside it */
    const char *hpath = NULL;
    if (emit && !strcmp(emit, "c")) {
        size_t n = strlen(bo.out);
        char *h = arena_alloc(n + 3);
        memcpy(h, bo.out, n + 1);
        if (n > 2 && !strcmp(h + n - 2, ".c"))
            h[n - 1] = 'h';
        else
            strcat(h, ".h");
        hpath = h;
    }
    const char *inputs[] = { path, lo.weights };
    if (bo.out && strcmp(bo.out, "-") && check_output(bo.out, inputs, 2))
        return 1;
    if (hpath && check_output(hpath, inputs, 2))
        return 1;
    Graph *g = compile_file(path);
    if (!g)
        return 1;
    if (print_shapes_flag)
        print_shapes(g, stdout);
    if (dump_ir)
        ir_dump(g, stdout);
    Pipeline pl;
    int need = print_mem || print_sched || po.print_all || po.print_after || emit;
    if (emit && !strcmp(emit, "dot"))
        need = print_mem || print_sched || po.print_all || po.print_after;
    if (need && run_pipeline(g, &po, &pl))
        return 1;
    if (print_sched)
        print_schedule(&pl, stdout);
    if (print_mem)
        print_memory(&pl, batch ? batch : g->model->train.batch, stdout);
    if (emit && !strcmp(emit, "dot"))
        return write_dot(g, bo.out);
    if (emit)
        return be->emit(g, &pl, &lo, &bo, hpath);
    return 0;
}
