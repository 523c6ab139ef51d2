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

#endif
