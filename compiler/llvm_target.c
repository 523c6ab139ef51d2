/* llvm_target.c - the LLVM backend's target side: resolve --target, --cpu
 * and --features (the host's by default) into a target machine, then
 * verify, optimise and write a module (.ll, .bc, .s or .o).
 *
 * LLVM reports an unknown CPU or feature only as a warning on standard
 * error ("'x' is not a recognized processor for this target (ignoring
 * processor)") when the subtarget is first built, and carries on (or, for
 * some, stops the process).  rnetc makes that an error: it first builds
 * the target machine and emits an empty module in a child process with
 * standard error captured, and looks for those warnings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/ErrorHandling.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include "llvm_be.h"

/* LLVM's fatal errors (report_fatal_error) as rnetc errors, never an abort */
static void fatal_handler(const char *reason)
{
    fprintf(stderr, "rnetc: error: LLVM: %s\n", reason);
    fflush(stderr);
    _exit(1);
}

static void init_llvm(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    LLVMInstallFatalErrorHandler(fatal_handler);
}

/* a copy of an LLVM-allocated message in the arena, trimmed, first line only */
static const char *first_line(const char *msg)
{
    if (!msg)
        return "(no message)";
    char *s = arena_strdup(msg);
    char *nl = strchr(s, '\n');
    if (nl)
        *nl = 0;
    return s;
}

/* Build the subtarget once, in a child process with its standard error
 * captured: LLVM only warns about an unknown CPU or feature, and for some
 * (x86-64 with a 32-bit CPU name) then stops the process.  Returns what the
 * child printed (arena), and in *died whether it failed. */
static const char *probe_subtarget(LLVMTargetRef target, const char *triple, const char *cpu,
                                   const char *features, int *died)
{
    int fd[2];
    *died = 0;
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0)
        return "";
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return "";
    }
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features,
                                                          LLVMCodeGenLevelNone, LLVMRelocDefault,
                                                          LLVMCodeModelDefault);
        if (!tm)
            _exit(1);
        LLVMModuleRef m = LLVMModuleCreateWithName("probe");
        LLVMTypeRef fty = LLVMFunctionType(LLVMVoidType(), NULL, 0, 0);
        LLVMValueRef f = LLVMAddFunction(m, "rnet_probe", fty);
        LLVMBuilderRef b = LLVMCreateBuilder();
        LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlock(f, "entry"));
        LLVMBuildRetVoid(b);
        char *err = NULL;
        LLVMMemoryBufferRef buf = NULL;
        int bad = LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &err, &buf);
        if (bad && err)
            fprintf(stderr, "%s\n", err);
        fflush(stderr);
        _exit(bad ? 1 : 0);
    }
    close(fd[1]);
    size_t cap = 4096, n = 0;
    char *s = arena_alloc(cap);
    for (;;) {
        if (n + 1 == cap) {
            char *t = arena_alloc(cap * 2);
            memcpy(t, s, n);
            s = t;
            cap *= 2;
        }
        ssize_t r = read(fd[0], s + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    s[n] = 0;
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    *died = !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    return s;
}


/* "'+foo' is not a recognized feature ..." -> "+foo" */
static const char *quoted_before(const char *text, const char *what)
{
    const char *p = strstr(text, what);
    if (!p)
        return NULL;
    const char *end = p;
    while (end > text && end[-1] != '\'')
        end--;
    if (end == text)
        return "?";
    const char *start = end - 1;
    while (start > text && start[-1] != '\'')
        start--;
    size_t n = (size_t)(end - 1 - start);
    char *s = arena_alloc(n + 1);
    memcpy(s, start, n);
    return s;
}

static int has_feature(const char *features, const char *f)
{
    size_t n = strlen(f);
    for (const char *p = features; (p = strstr(p, f)) != NULL; p += n)
        if ((p == features || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

/* floats per vector register, from the architecture and the features */
static int vector_width(const char *triple, const char *features)
{
    if (has_feature(features, "+avx512f"))
        return 16;
    if (has_feature(features, "+avx") || has_feature(features, "+avx2"))
        return 8;
    if (!strncmp(triple, "x86_64", 6) || !strncmp(triple, "i686", 4) ||
        !strncmp(triple, "i386", 4) || !strncmp(triple, "i586", 4))
        return has_feature(features, "-sse2") ? 1 : 4;
    if (!strncmp(triple, "aarch64", 7) || !strncmp(triple, "arm64", 5))
        return 4;
    if (has_feature(features, "+neon") || has_feature(features, "+simd128") ||
        has_feature(features, "+altivec") || has_feature(features, "+v"))
        return 4;
    return 1;
}

/* A foreign triple's CPU when --cpu is not given: what clang picks for
 * the M-profile triples (so that thumbv7em-none-eabihf gets its FPU), else
 * LLVM's generic one. */
static const char *default_cpu(const char *triple)
{
    static const char *const table[][2] = {
        { "thumbv7em", "cortex-m4" }, { "thumbv7m", "cortex-m3" },    { "thumbv6m", "cortex-m0" },
        { "thumbv8m.main", "cortex-m33" }, { "thumbv8m.base", "cortex-m23" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strncmp(triple, table[i][0], strlen(table[i][0])))
            return table[i][1];
    /* RISC-V has no plain "generic" (LLVM stops on it) */
    if (!strncmp(triple, "riscv64", 7))
        return "generic-rv64";
    if (!strncmp(triple, "riscv32", 7))
        return "generic-rv32";
    return "generic";
}

/* a foreign triple's features when --features is not given: the ones a
 * Linux distribution builds for (riscv64: rv64gc, with the lp64d ABI) */
static const char *default_features(const char *triple)
{
    if (!strncmp(triple, "riscv64", 7) && strstr(triple, "linux"))
        return "+m,+a,+f,+d,+c";
    return "";
}

int llvm_target_open(LlvmTarget *t, const char *triple, const char *cpu, const char *features,
                     int opt)
{
    init_llvm();
    memset(t, 0, sizeof *t);
    char *host = LLVMGetDefaultTargetTriple();
    char *norm_host = LLVMNormalizeTargetTriple(host);
    if (triple) {
        char *nt = LLVMNormalizeTargetTriple(triple);
        t->triple = arena_strdup(nt);
        LLVMDisposeMessage(nt);
    } else {
        t->triple = arena_strdup(norm_host);
    }
    t->host = !strcmp(t->triple, norm_host);
    LLVMDisposeMessage(host);
    LLVMDisposeMessage(norm_host);

    LLVMTargetRef target;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(t->triple, &target, &err)) {
        error_plain("unknown target triple '%s': %s", triple ? triple : t->triple,
                    first_line(err));
        LLVMDisposeMessage(err);
        return 1;
    }
    if (cpu) {
        t->cpu = arena_strdup(cpu);
    } else if (t->host) {
        char *c = LLVMGetHostCPUName();
        t->cpu = arena_strdup(c);
        LLVMDisposeMessage(c);
    } else {
        t->cpu = default_cpu(t->triple);
    }
    if (features) {
        t->features = arena_strdup(features);
    } else if (t->host && !cpu) {
        char *f = LLVMGetHostCPUFeatures();
        t->features = arena_strdup(f);
        LLVMDisposeMessage(f);
    } else {
        t->features = default_features(t->triple);
    }
    LLVMCodeGenOptLevel level = opt <= 0   ? LLVMCodeGenLevelNone
                                : opt == 1 ? LLVMCodeGenLevelLess
                                : opt == 2 ? LLVMCodeGenLevelDefault
                                           : LLVMCodeGenLevelAggressive;
    /* position-independent where a hosted linker may want a PIE */
    LLVMRelocMode reloc = t->host || strstr(t->triple, "linux") ? LLVMRelocPIC : LLVMRelocDefault;
    int died;
    const char *said = probe_subtarget(target, t->triple, t->cpu, t->features, &died);

    const char *bad;
    if ((bad = quoted_before(said, "is not a recognized processor"))) {
        error_plain("unknown CPU '%s' for target '%s' (llc -mtriple=%s -mcpu=help lists them)",
                    bad, t->triple, t->triple);
        llvm_target_close(t);
        return 1;
    }
    if ((bad = quoted_before(said, "is not a recognized feature"))) {
        error_plain("unknown feature '%s' for target '%s' (llc -mtriple=%s -mattr=help lists them)",
                    bad, t->triple, t->triple);
        llvm_target_close(t);
        return 1;
    }
    if (died) {
        /* the last line the child printed says why */
        char *last = arena_strdup(said), *nl;
        while ((nl = strrchr(last, '\n')) && !nl[1])
            *nl = 0;
        const char *why = strrchr(last, '\n') ? strrchr(last, '\n') + 1 : last;
        if (!strncmp(why, "rnetc: error: ", 14)) /* from fatal_handler in the child */
            why += 14;
        error_plain("LLVM cannot generate code for '%s' (cpu '%s', features '%s'): %s", t->triple,
                    t->cpu, t->features, why);
        llvm_target_close(t);
        return 1;
    }
    if (*said)
        fputs(said, stderr); /* some other warning: pass it on */
    t->tm = LLVMCreateTargetMachine(target, t->triple, t->cpu, t->features, level, reloc,
                                    LLVMCodeModelDefault);
    if (!t->tm) {
        error_plain("LLVM cannot make a target machine for '%s' (cpu '%s', features '%s')",
                    t->triple, t->cpu, t->features);
        return 1;
    }
    t->td = LLVMCreateTargetDataLayout(t->tm);
    t->ptr_bits = (int)LLVMPointerSize(t->td) * 8;
    t->long_bits = t->ptr_bits == 64 && !strstr(t->triple, "windows") ? 64 : 32;
    t->vw = vector_width(t->triple, t->features);
    return 0;
}

void llvm_target_close(LlvmTarget *t)
{
    if (t->td)
        LLVMDisposeTargetData(t->td);
    if (t->tm)
        LLVMDisposeTargetMachine(t->tm);
    t->td = NULL;
    t->tm = NULL;
}

/* LLVM 14 takes the ELF float-ABI flags of a RISC-V object from options
 * LLVM-C cannot set, so an object whose code uses lp64d (the module's
 * target-abi flag, see emit_llvm.c) says "soft float" in its header, and
 * GNU ld refuses to link it with the distribution's lp64d libraries.  Set
 * EF_RISCV_FLOAT_ABI to double in e_flags (ELF64, little-endian). */
static int riscv_float_abi_fixup(const LlvmTarget *t, const char *path)
{
    if (strncmp(t->triple, "riscv64", 7) || !has_feature(t->features, "+d"))
        return 0;
    FILE *f = fopen(path, "r+b");
    unsigned char h[52];
    if (!f || fread(h, 1, sizeof h, f) != sizeof h) {
        if (f)
            fclose(f);
        error_plain("cannot read back '%s' to set its float ABI", path);
        return 1;
    }
    int ok = !memcmp(h, "\177ELF", 4) && h[4] == 2 && h[5] == 1 && (h[18] | h[19] << 8) == 243;
    if (ok) {
        unsigned flags = (unsigned)h[48] | (unsigned)h[49] << 8 | (unsigned)h[50] << 16 |
                         (unsigned)h[51] << 24;
        flags = (flags & ~0x6u) | 0x4u; /* EF_RISCV_FLOAT_ABI_DOUBLE */
        unsigned char b[4] = { (unsigned char)flags, (unsigned char)(flags >> 8),
                               (unsigned char)(flags >> 16), (unsigned char)(flags >> 24) };
        ok = fseek(f, 48, SEEK_SET) == 0 && fwrite(b, 1, 4, f) == 4;
    }
    if (fclose(f) != 0 || !ok) {
        error_plain("cannot set the float ABI of '%s'", path);
        return 1;
    }
    return 0;
}

/* LLVMVerifyModule's report, with the first function that fails named */
static int verify(LLVMModuleRef m)
{
    char *msg = NULL;
    if (!LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        LLVMDisposeMessage(msg);
        return 0;
    }
    const char *fname = NULL;
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
        if (LLVMCountBasicBlocks(f) && LLVMVerifyFunction(f, LLVMReturnStatusAction)) {
            size_t n;
            fname = arena_strdup(LLVMGetValueName2(f, &n));
            break;
        }
    if (fname)
        error_plain("LLVM verifier rejected function '%s': %s", fname, first_line(msg));
    else
        error_plain("LLVM verifier rejected the module: %s", first_line(msg));
    LLVMDisposeMessage(msg);
    return 1;
}

int llvm_target_finish(LlvmTarget *t, LLVMModuleRef m, int opt, const char *emit,
                       const char *path)
{
    if (verify(m))
        return 1;
    if (opt > 0) {
        LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
        LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
        LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
        LLVMPassBuilderOptionsSetLoopUnrolling(po, 1);
        const char *pipe = opt == 1 ? "default<O1>" : opt == 2 ? "default<O2>" : "default<O3>";
        LLVMErrorRef e = LLVMRunPasses(m, pipe, t->tm, po);
        LLVMDisposePassBuilderOptions(po);
        if (e) {
            char *s = LLVMGetErrorMessage(e);
            error_plain("LLVM pass pipeline '%s' failed: %s", pipe, first_line(s));
            LLVMDisposeErrorMessage(s);
            return 1;
        }
    }
    /* open the file first, for a plain error naming it and the cause */
    FILE *f = fopen(path, "w");
    if (!f) {
        error_plain("cannot write '%s': %s", path, strerror(errno));
        return 1;
    }
    fclose(f);
    char *err = NULL;
    int bad = 0;
    if (!strcmp(emit, "llvm")) {
        bad = LLVMPrintModuleToFile(m, path, &err);
    } else if (!strcmp(emit, "bc")) {
        bad = LLVMWriteBitcodeToFile(m, path) != 0;
    } else {
        bad = LLVMTargetMachineEmitToFile(t->tm, m, (char *)path,
                                          !strcmp(emit, "asm") ? LLVMAssemblyFile : LLVMObjectFile,
                                          &err);
    }
    if (bad) {
        error_plain("cannot write '%s': %s", path, err ? first_line(err) : "LLVM failed");
        if (err)
            LLVMDisposeMessage(err);
        return 1;
    }
    if (!strcmp(emit, "obj"))
        return riscv_float_abi_fixup(t, path);
    return 0;
}

/* --emit h: what a program calling the module needs to know */
static int write_header(Graph *g, const LlvmInfo *info, int standalone, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        error_plain("cannot write '%s': %s", path, strerror(errno));
        return 1;
    }
    Model *m = g->model;
    const char *p = arena_printf("rnm_%s", c_ident(g->name));
    fprintf(f, "/* generated by rnetc --backend llvm from %s; do not edit. */\n",
            c_string(src_name(m->file)));
    fprintf(f, "#ifndef RNET_LLVM_%s_H\n#define RNET_LLVM_%s_H\n\n", p, p);
    fprintf(f, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n", p, m->in_c, p,
            m->in_h, p, m->in_w);
    fprintf(f, "#define %s_CLASSES %d\n", p, m->classes);
    /* as rn_model_norm (runtime/host/rn_train.c) */
    const TrainDef *t = &m->train;
    fprintf(f, "/* the input's normalisation, per channel: x = (pixel / 255 - MEAN) / STD */\n");
    for (int k = 0; k < 2; k++) {
        fprintf(f, "#define %s_%s {", p, k ? "STD" : "MEAN");
        for (int c = 0; c < m->in_c; c++) {
            int j = t->nmean == 1 ? 0 : c, have = t->nmean == 1 || (t->nmean > c && c < 4);
            double sd = j < t->nstd && t->std[j] > 0 ? t->std[j] : 1.0;
            double v = k ? (have ? sd : 1.0) : (have ? t->mean[j] : 0.0);
            fprintf(f, "%s%.9gf", c ? ", " : " ", (double)(float)v);
        }
        fprintf(f, " }\n");
    }
    if (standalone) {
        fprintf(f, "/* floats of the work buffer rnm_%s_infer needs */\n", c_ident(g->name));
        fprintf(f, "#define %s_INFER_WORK_FLOATS %ldL\n\n", p, info->infer_work);
        fprintf(f, "/* one image: x (C, H, W) in, logits (CLASSES) out; calls nothing,\n"
                   " * allocates nothing; work is INFER_WORK_FLOATS floats, 4-byte aligned */\n");
        fprintf(f, "void %s_infer(const float *x, float *logits, float *work);\n", p);
    } else {
        fprintf(f, "#include \"rn_model.h\"\n\n");
        fprintf(f, "#define %s_PARAM_FLOATS %ldL\n", p, info->param_floats);
        fprintf(f, "/* workspace floats for a batch of N */\n");
        fprintf(f, "#define %s_WORK_FLOATS(N) (%ldL + %ldL * (long)(N))\n\n", p, info->work_fixed,
                info->work_per_image);
        fprintf(f, "void %s_forward(RnExec *e, const float *x, int N, int train);\n", p);
        if (info->training) {
            fprintf(f, "void %s_backward(RnExec *e, const float *dlogits, int N);\n", p);
            fprintf(f, "void %s_update(RnExec *e, const struct RnOptim *o, float lr, long t, float *m, float *v);\n", p);
        }
    }
    fprintf(f, "\n#endif\n");
    if (ferror(f) | fclose(f)) {
        error_plain("cannot write '%s'", path);
        return 1;
    }
    return 0;
}

int llvm_build(Graph *g, const Pipeline *pl, const LlvmOpts *lo, const BuildOpts *bo)
{
    float **w = NULL;
    if (lo->weights && !(w = weights_read(g, lo->weights)))
        return 1;
    LlvmTarget t;
    if (llvm_target_open(&t, lo->triple, lo->cpu, lo->features, lo->opt))
        return 1;
    int rc = 1;
    if (!strcmp(lo->emit, "exe") && !t.host) {
        error_plain("--emit exe links for the host; for --target %s use --emit obj and link it "
                    "against a runtime built for that target (tools/cross.sh)", t.triple);
        llvm_target_close(&t);
        return 1;
    }
    LLVMContextRef cx = LLVMContextCreate();
    LlvmInfo info = { 0 };
    LLVMModuleRef m = emit_llvm_module(g, pl, &t, cx, lo->inference_only, w, &info);
    if (!strcmp(lo->emit, "h")) {
        rc = write_header(g, &info, w != NULL, bo->out);
    } else if (!strcmp(lo->emit, "exe")) {
        char tmpl[] = "/tmp/rnetc.XXXXXX";
        char *dir = mkdtemp(tmpl);
        if (!dir) {
            error_plain("cannot make a temporary directory: %s", strerror(errno));
        } else {
            const char *obj = arena_printf("%s/%s.o", dir, g->name);
            rc = llvm_target_finish(&t, m, lo->opt, "obj", obj);
            if (!rc)
                rc = link_object(obj, bo);
            if (bo->keep_temps) {
                fprintf(stderr, "rnetc: object kept in %s\n", dir);
            } else {
                unlink(obj);
                rmdir(dir);
            }
        }
    } else {
        rc = llvm_target_finish(&t, m, lo->opt, lo->emit, bo->out);
    }
    LLVMDisposeModule(m);
    LLVMContextDispose(cx);
    llvm_target_close(&t);
    return rc;
}

static int llvm_emit(Graph *g, const Pipeline *pl, const LlvmOpts *lo, const BuildOpts *bo,
                     const char *hpath)
{
    (void)hpath;
    return llvm_build(g, pl, lo, bo) ? 1 : 0;
}

static const char *const llvm_emits[] = { "exe", "llvm", "bc", "asm", "obj", "h", NULL };
const Backend backend_llvm = { .name = "llvm", .emits = llvm_emits, .takes_target = 1,
                               .uses_plan = 1, .emit = llvm_emit };
