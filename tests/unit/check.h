/* check.h - the smallest test harness that will do.
 *
 * Every check prints one line, "PASS name" or "FAIL name: why"; the runner
 * (tests/run.sh) counts those lines across all test programs.  A test
 * program exits non-zero if any of its checks failed. */
#ifndef RN_CHECK_H
#define RN_CHECK_H
#include <stdio.h>
#include <stdarg.h>

static int check_failures;

static void check_report(int ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        printf("PASS %s\n", name);
    } else {
        va_list ap;
        printf("FAIL %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        check_failures++;
    }
    fflush(stdout);
}

/* CHECK(cond, name, fmt, ...) - fmt explains the failure. */
#define CHECK(cond, name, ...) check_report((cond) ? 1 : 0, name, __VA_ARGS__)
#define CHECK_DONE() return check_failures ? 1 : 0

#endif
