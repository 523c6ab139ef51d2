/* rn_err.c - see rn_err.h. */
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include "rn_err.h"

int rn_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int rn_fail_at(char *err, size_t errlen, const char *label, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "%s: ", label);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

void rn_fault_point(const char *what)
{
    static int init;
    static long kill_at, passed;
    static int trace;
    if (!init) {
        const char *k = getenv("RN_FAULT_KILL"), *t = getenv("RN_FAULT_TRACE");
        kill_at = k ? strtol(k, NULL, 10) : 0;
        trace = t && *t && *t != '0';
        init = 1;
    }
    if (!kill_at && !trace)
        return;
    passed++;
    if (trace)
        fprintf(stderr, "fault point %ld: %s\n", passed, what);
    if (passed == kill_at) {
        fflush(NULL);
        raise(SIGKILL);
    }
}
