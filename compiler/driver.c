/* driver.c - turning generated C into an executable: find the runtime,
 * write the C into a private temporary directory, run the C compiler with
 * an argument vector (no shell), link against out/librnet.a. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rnet.h"

/* The project root: $RNET_HOME, else the parent of the directory holding
 * this rnetc (out/rnetc -> .). */
const char *rnet_home(void)
{
    static char buf[PATH_MAX];
    const char *env = getenv("RNET_HOME");
    if (env && *env)
        return env;
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return ".";
    buf[n] = 0;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(buf, '/');
        if (!slash)
            return ".";
        *slash = 0;
    }
    return buf[0] ? buf : "/";
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
    const char *home = rnet_home();
    char lib[PATH_MAX], inc[PATH_MAX];
    snprintf(lib, sizeof lib, "%s/out/librnet.a", home);
    snprintf(inc, sizeof inc, "-I%s/runtime", home);
    struct stat sb;
    if (stat(lib, &sb) != 0) {
        error_plain("runtime library not found at '%s' (run make, or set RNET_HOME)", lib);
        return 1;
    }
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
        argv[k++] = inc;
        for (int i = 0; i < o->nextra; i++)
            argv[k++] = o->extra[i];
        argv[k++] = "-o";
        argv[k++] = (char *)o->out;
        argv[k++] = cpath;
        argv[k++] = lib;
        argv[k++] = "-lz";
        argv[k++] = "-lm";
        argv[k] = NULL;
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
    char lib[PATH_MAX];
    snprintf(lib, sizeof lib, "%s/out/librnet.a", rnet_home());
    struct stat sb;
    if (stat(lib, &sb) != 0) {
        error_plain("runtime library not found at '%s' (run make, or set RNET_HOME)", lib);
        return 1;
    }
    /* the runtime uses OpenMP threads, zlib and libm */
    char *argv[16 + RN_MAX_CFLAGS];
    int k = 0;
    argv[k++] = (char *)o->cc;
    for (int i = 0; i < o->nextra; i++)
        argv[k++] = o->extra[i];
    char *tail[] = { "-o", (char *)o->out, (char *)obj, lib, "-fopenmp", "-lz", "-lm", NULL };
    for (int i = 0; tail[i]; i++)
        argv[k++] = tail[i];
    argv[k] = NULL;
    int st = run_command(argv, o->verbose);
    if (st != 0) {
        error_plain("the linker '%s' failed (status %d) on '%s'", o->cc, st, obj);
        return 1;
    }
    return 0;
}
