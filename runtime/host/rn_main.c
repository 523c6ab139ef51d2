/* rn_main.c - main() of every program rnetc builds.
 *
 * The generated file defines `const RnModel rn_model`; everything the
 * program does lives in the driver (rn_driver.h), which takes the model as
 * an argument.  This file holds only what cannot: main and the reference
 * to rn_model.  It sits in librnet.a like the rest of the runtime; a test
 * program defines its own main, so the linker never pulls this file into
 * a test, and rn_model need not exist there.
 */
#include "rn_driver.h"

int main(int argc, char **argv)
{
    return rn_cli_main(&rn_model, argc, argv);
}
