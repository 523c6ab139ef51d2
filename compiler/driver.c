/* driver.c - turning generated C into an executable: find the runtime,
 * write the C into a private temporary directory, run the C compiler with
 * an argument vector (no shell), link against out/librnet.a. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rnet.h"
#include "rn_version_gen.h" /* RNET_PREFIX */

/* Where the runtime is.  Two layouts:
 *   installed   PREFIX/lib/rnet/librnet.a, headers in PREFIX/include/rnet
 *               (make install; rnetc in PREFIX/bin)
 *   checkout    ROOT/out/librnet.a, headers in ROOT/runtime (out/rnetc)
 * searched in $RNET_HOME (either layout), then beside this rnetc (its
 * directory's parent as a prefix, or the directory as a checkout's out/),
 * then in the prefix rnetc was configured with (RNET_PREFIX). */
static char rt_lib[PATH_MAX], rt_inc[PATH_MAX], rt_tried[3 * PATH_MAX];

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ROOT as a prefix or a checkout: 1 and the paths set when it holds one */
static int try_root(const char *root, int checkout_too)
{
    char lib[PATH_MAX], inc[PATH_MAX];
    snprintf(lib, sizeof lib, "%s/lib/rnet/librnet.a", root);
    snprintf(inc, sizeof inc, "%s/include/rnet", root);
    size_t n = strlen(rt_tried);
    snprintf(rt_tried + n, sizeof rt_tried - n, "%s'%s'", n ? ", " : "", lib);
    if (!is_file(lib) && checkout_too) {
        snprintf(lib, sizeof lib, "%s/out/librnet.a", root);
        snprintf(inc, sizeof inc, "%s/runtime", root);
        n = strlen(rt_tried);
        snprintf(rt_tried + n, sizeof rt_tried - n, ", '%s'", lib);
    }
    if (!is_file(lib))
        return 0;
    memcpy(rt_lib, lib, sizeof lib);
    memcpy(rt_inc, inc, sizeof inc);
    return 1;
}

static int find_runtime(void)
{
    if (rt_lib[0])
        return 1;
    const char *env = getenv("RNET_HOME");
    if (env && *env)
        return try_root(env, 1); /* an explicit home is the only place looked */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0; /* the directory of rnetc: PREFIX/bin or ROOT/out */
            slash = strrchr(self, '/');
            if (slash) {
                *slash = 0;
                if (try_root(self[0] ? self : "/", 1))
                    return 1;
            }
        }
    }
    return try_root(RNET_PREFIX, 0);
}

const char *runtime_lib(void)
{
    return find_runtime() ? rt_lib : "not found";
}

/* the library and the include flag, or 1 with the error printed */
static int runtime_paths(const char **lib, const char **inc)
{
    if (!find_runtime()) {
        error_plain("the rnet runtime library was not found (looked for %s; run make, or set "
                    "RNET_HOME to a checkout or an installation prefix)", rt_tried);
        return 1;
    }
    static char flag[PATH_MAX + 2];
    snprintf(flag, sizeof flag, "-I%s", rt_inc);
    *lib = rt_lib;
    *inc = flag;
    return 0;
}

int run_command(char *const argv[], int verbose)
{
    if (verbose) {
        for (int i = 0; argv[i]; i++)
            fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
        fputc('\n', stderr);
    }
    pid_t pid = fork();
    if (pid < 0) {
        error_plain("cannot start '%s': %s", argv[0], strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "rnetc: error: cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* The standard output of argv (at most cap - 1 bytes, NUL-terminated), or
 * -1 when it cannot run or does not exit with status 0. */
static int capture(char *const argv[], char *out, size_t cap)
{
    int fd[2];
    if (pipe(fd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fd[1], 1);
        if (null >= 0)
            dup2(null, 2);
        close(fd[0]), close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    char sink[4096];
    /* read to the end (a child blocked on a full pipe never exits) */
    while ((r = read(fd[0], n < cap - 1 ? out + n : sink,
                     n < cap - 1 ? cap - 1 - n : sizeof sink)) != 0) {
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && n < cap - 1)
            n += (size_t)r;
    }
    close(fd[0]);
    out[n] = 0;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* The compiler's static libgomp (`CC -print-file-name=libgomp.a`), or NULL
 * when it has none or is clang (whose -fopenmp runtime is libomp, which
 * also serves the runtime's GOMP_ calls: a second OpenMP runtime would
 * start a second thread pool).  Linked statically, libgomp reads its
 * environment after the program's first constructor, which sets rnet's
 * OpenMP wait policy (runtime/host/rn_main.c).  --as-needed after it keeps
 * -fopenmp's shared -lgomp out of the program. */
static const char *static_gomp(const char *cc)
{
    static char path[PATH_MAX];
    static char macros[1 << 16];
    char *pp[] = { (char *)cc, "-dM", "-E", "-x", "c", "/dev/null", NULL };
    if (capture(pp, macros, sizeof macros) < 0 || strstr(macros, "#define __clang__ "))
        return NULL;
    char *pf[] = { (char *)cc, "-print-file-name=libgomp.a", NULL };
    if (capture(pf, path, sizeof path) < 0)
        return NULL;
    path[strcspn(path, "\n")] = 0;
    /* a compiler that lacks the file prints its bare name back */
    if (path[0] != '/' || !is_file(path))
        return NULL;
    return path;
}

/* the libraries a program links after the runtime: the static libgomp
 * when the compiler has one, zlib and libm; argv NULL-terminated, returns
 * the argument count before the NULL */
static int link_libs(char **argv, int k, const BuildOpts *o)
{
    const char *gomp = static_gomp(o->cc);
    if (gomp) {
        argv[k++] = (char *)gomp;
        argv[k++] = "-Wl,--as-needed";
    }
    argv[k++] = "-lz";
    argv[k++] = "-lm";
    argv[k] = NULL;
    return k;
}

int build_set_cflags(BuildOpts *o, const char *flags)
{
    o->nextra = 0;
    for (const char *p = flags; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        const char *q = p;
        while (*q && *q != ' ' && *q != '\t' && *q != '\n')
            q++;
        if (o->nextra == RN_MAX_CFLAGS)
            return -1;
        o->extra[o->nextra++] = arena_printf("%.*s", (int)(q - p), p);
        p = q;
    }
    o->extra[o->nextra] = NULL;
    return 0;
}

int write_c_files(Graph *g, const Pipeline *pl, const char *cpath, const char *hpath)
{
    const char *hbase = strrchr(hpath, '/') ? strrchr(hpath, '/') + 1 : hpath;
    if (strcmp(c_string(hbase), hbase)) {
        error_plain("'%s': the generated C cannot #include a header of that name (it holds a "
                    "quote, backslash, '*', '?', '/' pair or control character); choose another -o",
                    hpath);
        return 1;
    }
    FILE *c = fopen(cpath, "w");
    if (!c) {
        error_plain("cannot write '%s': %s", cpath, strerror(errno));
        return 1;
    }
    FILE *h = fopen(hpath, "w");
    if (!h) {
        error_plain("cannot write '%s': %s", hpath, strerror(errno));
        fclose(c);
        return 1;
    }
    emit_c(g, pl, c, h, hbase);
    int bad = ferror(c) | ferror(h);
    bad |= fclose(c) | fclose(h);
    if (bad) {
        error_plain("cannot write '%s' or '%s'", cpath, hpath);
        return 1;
    }
    return 0;
}

int build_executable(Graph *g, const Pipeline *pl, const BuildOpts *o)
{
    const char *lib, *inc;
    if (runtime_paths(&lib, &inc))
        return 1;
    char tmpl[] = "/tmp/rnetc.XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        error_plain("cannot make a temporary directory: %s", strerror(errno));
        return 1;
    }
    char cpath[PATH_MAX], hpath[PATH_MAX];
    snprintf(cpath, sizeof cpath, "%s/%s.c", dir, g->name);
    snprintf(hpath, sizeof hpath, "%s/%s.h", dir, g->name);
    int rc = write_c_files(g, pl, cpath, hpath);
    if (!rc) {
        char *argv[32 + RN_MAX_CFLAGS];
        int k = 0;
        argv[k++] = (char *)o->cc;
        argv[k++] = "-std=c11";
        argv[k++] = (char *)o->opt;
        if (o->native)
            argv[k++] = "-march=native";
        /* the runtime library is built with OpenMP, so the program always
         * links with it; --no-openmp only keeps the generated loops serial */
        argv[k++] = "-fopenmp";
        if (!o->openmp)
            argv[k++] = "-DRN_NO_OPENMP";
        argv[k++] = (char *)inc;
        for (int i = 0; i < o->nextra; i++)
            argv[k++] = o->extra[i];
        argv[k++] = "-o";
        argv[k++] = (char *)o->out;
        argv[k++] = cpath;
        argv[k++] = (char *)lib;
        k = link_libs(argv, k, o);
        int st = run_command(argv, o->verbose);
        if (st != 0) {
            error_plain("the C compiler '%s' failed (status %d) on '%s'", o->cc, st, cpath);
            rc = 1;
        }
    }
    if (o->keep_temps) {
        fprintf(stderr, "rnetc: generated C kept in %s\n", dir);
    } else {
        unlink(cpath);
        unlink(hpath);
        rmdir(dir);
    }
    return rc;
}

int link_object(const char *obj, const BuildOpts *o)
{
    const char *lib, *inc;
    if (runtime_paths(&lib, &inc))
        return 1;
    /* the runtime uses OpenMP threads, zlib and libm */
    char *argv[16 + RN_MAX_CFLAGS];
    int k = 0;
    argv[k++] = (char *)o->cc;
    for (int i = 0; i < o->nextra; i++)
        argv[k++] = o->extra[i];
    char *tail[] = { "-o", (char *)o->out, (char *)obj, (char *)lib, "-fopenmp", NULL };
    for (int i = 0; tail[i]; i++)
        argv[k++] = tail[i];
    k = link_libs(argv, k, o);
    int st = run_command(argv, o->verbose);
    if (st != 0) {
        error_plain("the linker '%s' failed (status %d) on '%s'", o->cc, st, obj);
        return 1;
    }
    return 0;
}

int backend_emits(const Backend *be, const char *kind)
{
    for (int i = 0; be->emits[i]; i++)
        if (!strcmp(be->emits[i], kind))
            return 1;
    return 0;
}

/* the C backend: the scheduled, planned graph printed as C (emit_c.c), then
 * compiled and linked against the runtime (exe) or written out (c) */
static int c_emit(Graph *g, const Pipeline *pl, const LlvmOpts *lo, const BuildOpts *bo,
                  const char *hpath)
{
    if (!strcmp(lo->emit, "c"))
        return write_c_files(g, pl, bo->out, hpath) ? 1 : 0;
    return build_executable(g, pl, bo) ? 1 : 0;
}

static const char *const c_emits[] = { "exe", "c", NULL };
const Backend backend_c = { .name = "c", .emits = c_emits, .uses_plan = 1, .emit = c_emit };
