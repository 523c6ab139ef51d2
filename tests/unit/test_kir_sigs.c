/* test_kir_sigs.c - compiler/kir_sigs.h against the runtime's prototypes:
 * each symbol converts to a pointer to a function of the listed C
 * parameters (at compile time: this file does not build otherwise), and
 * the argument codes the LLVM backend builds its calls from spell those
 * parameters (here). */
#include <string.h>
#include "check.h"
#include "rn_calls.h"
#include "kir_sigs.h"

/* the code of one C parameter type, or 0 */
static char code(const char *t)
{
    static const struct { const char *type; char code; } map[] = {
        { "float *", 'p' }, { "const float *", 'p' }, { "double *", 'd' }, { "const int *", 'I' },
        { "int", 'i' }, { "long", 'l' }, { "float", 'f' }, { "double", 'D' },
        { "const RnEpilogue *", 'E' }, { "const RnConvShape *", 'S' }, { "const RnExec *", 'X' },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(t, map[i].type))
            return map[i].code;
    return 0;
}

/* "(float *, const float *, long)" -> "ppl" */
static void codes_of(const char *params, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = params + 1;
    while (*p && *p != ')' && n + 1 < cap) {
        const char *e = p + strcspn(p, ",)");
        char t[64];
        size_t len = (size_t)(e - p) < sizeof t - 1 ? (size_t)(e - p) : sizeof t - 1;
        memcpy(t, p, len);
        t[len] = 0;
        char c = code(t);
        out[n++] = c ? c : '?';
        p = *e == ',' ? e + 2 : e;
    }
    out[n] = 0;
}

int main(void)
{
    int count = 0;
#define ONE(name, sym, codes, params)                                                       \
    {                                                                                       \
        void (*fp) params = sym;                                                            \
        (void)fp;                                                                           \
        char got[32];                                                                       \
        codes_of(#params, got, sizeof got);                                                 \
        CHECK(!strcmp(got, codes), "kir_sig_" name, "%s: codes '%s', its parameters %s give '%s'", \
              #sym, codes, #params, got);                                                   \
        count++;                                                                            \
    }
    KIR_SIGS(ONE)
    CHECK(count >= 30, "kir_sigs_listed", "only %d runtime functions listed", count);
    CHECK_DONE();
}
