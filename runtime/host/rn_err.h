/* rn_err.h - how runtime functions report errors: one line into a
 * caller-supplied buffer, and -1, so that callers can `return rn_fail(...)`.
 * The library never prints and never exits; the driver decides. */
#ifndef RN_ERR_H
#define RN_ERR_H
#include <stddef.h>

/* err <- the message; returns -1.  err may be NULL. */
int rn_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* err <- "label: message"; returns -1. */
int rn_fail_at(char *err, size_t errlen, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fault injection, for tests of what survives a crash: with RN_FAULT_KILL=N
 * in the environment the process kills itself (SIGKILL) at the N-th point
 * it passes (every write, fsync and rename of a save, every training step);
 * RN_FAULT_TRACE=1 names each point on stderr as it passes.  Without them
 * a point costs one test of a flag. */
void rn_fault_point(const char *what);

#endif
