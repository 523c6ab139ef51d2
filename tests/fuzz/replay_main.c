/* replay_main.c - run a fuzz target over saved inputs without libFuzzer.
 *
 * Linked with any tests/fuzz/fuzz_*.c in place of clang's fuzzer runtime,
 * so a corpus and its crashers replay under gcc (or any compiler) with
 * -fsanitize=address,undefined: each file named on the command line is
 * read into a buffer of exactly its size and given once to
 * LLVMFuzzerTestOneInput.  A sanitizer report or an abort ends the run
 * with the file named just before it; otherwise it prints the count and
 * exits 0.  tools/fuzz.sh --replay builds and runs it for every target. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    FILE *log = stderr; /* a target may point stderr elsewhere */
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f || fseek(f, 0, SEEK_END) != 0) {
            fprintf(log, "replay: cannot read %s\n", argv[i]);
            return 2;
        }
        long n = ftell(f);
        rewind(f);
        uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
        if (n < 0 || !buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            fprintf(log, "replay: cannot read %s\n", argv[i]);
            return 2;
        }
        fclose(f);
        fprintf(log, "replay: %s\n", argv[i]);
        fflush(log);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
    }
    fprintf(log, "replay: %d input%s ok\n", argc - 1, argc == 2 ? "" : "s");
    return 0;
}
