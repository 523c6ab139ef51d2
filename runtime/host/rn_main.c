/* rn_main.c - main() of every program rnetc builds.
 *
 * The generated file defines `const RnModel rn_model`; everything the
 * program does lives in the driver (rn_driver.h), which takes the model as
 * an argument.  This file holds only what cannot: main, the reference to
 * rn_model, and the OpenMP wait policy, which must be set before libgomp
 * starts.  It sits in librnet.a like the rest of the runtime; a test
 * program defines its own main, so the linker never pulls this file into
 * a test, and rn_model need not exist there.
 */
#define _GNU_SOURCE 1 /* dladdr */
#include <stdlib.h>

#include "rn_driver.h"

/* libgomp's threads spin 300,000 times (about 20 ms here) waiting for the
 * next parallel region before they sleep.  With one other busy process on
 * a 2-core machine that spinning steals the core the team needs: 2-thread
 * training fell to 0.42-0.56x of --threads 1.  A short spin keeps most of
 * the idle speed (the team stays awake between the layers of a step) and
 * gives the core back within microseconds when the program waits;
 * bench/load.sh measures it (docs/performance.md, "Under load").  A user's
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
 *
 * libgomp reads its environment once, in its constructor.  rnetc links it
 * statically (compiler/driver.c), so that constructor runs from this
 * program's .init_array, after this one (priority 101); a shared libgomp
 * (or clang's libomp, with --cc clang)
 * has read the environment before any of the program's code runs, and
 * then nothing is changed and `info` says so. */
#define RN_SPINCOUNT "300"

#if defined(_OPENMP) && defined(__ELF__) && defined(__GLIBC__)
#include <dlfcn.h>
#include <omp.h>

__attribute__((constructor(101))) static void rn_wait_policy(void)
{
    Dl_info gomp, self;
    if (!dladdr((void *)omp_get_max_threads, &gomp) || !dladdr((void *)rn_wait_policy, &self) ||
        gomp.dli_fbase != self.dli_fbase) {
        rn_wait_default = -1;           /* libgomp is a shared library */
        return;
    }
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        setenv("GOMP_SPINCOUNT", RN_SPINCOUNT, 0);
        rn_wait_default = 1;
    }
}
#endif

int main(int argc, char **argv)
{
    return rn_cli_main(&rn_model, argc, argv);
}
