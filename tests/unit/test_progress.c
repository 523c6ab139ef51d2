/* test_progress.c - the progress report inside an epoch (rn_progress.c),
 * driven with made-up times into a memory stream: plain lines at each
 * tenth of a long epoch and none for a short one, the terminal line
 * redrawn in place at most ten times a second, padded over a longer
 * predecessor and wiped at the end, and an epoch resumed halfway. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rn_driver.h"

static char *buf;
static size_t len;

static FILE *open_buf(void)
{
    free(buf);
    buf = NULL;
    len = 0;
    return open_memstream(&buf, &len);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

int main(void)
{
    RnProgress p;

    /* plain: 100 batches of 0.1 s, 32 images each: a line at each tenth */
    FILE *f = open_buf();
    rn_progress_begin(&p, f, 0, 2, 5, 100, 0, 1000.0);
    for (int k = 1; k <= 100; k++)
        rn_progress_update(&p, k, 2.0 - 0.01 * k, 32L * k, 1000.0 + 0.1 * k);
    rn_progress_clear(&p);
    fclose(f);
    CHECK(count(buf, "\n") == 9 && !strchr(buf, '\r') &&
              strstr(buf, "epoch 2/5   10% (10/100)  loss 1.9000  320 img/s  ETA 0:09\n") &&
              strstr(buf, "epoch 2/5   90% (90/100)  loss 1.1000  320 img/s  ETA 0:01\n") &&
              !strstr(buf, "100%"),
          "plain: a line per tenth, none at the end", "output:\n%s", buf);

    /* plain: a one-second epoch says nothing */
    f = open_buf();
    rn_progress_begin(&p, f, 0, 1, 1, 100, 0, 0.0);
    for (int k = 1; k <= 100; k++)
        rn_progress_update(&p, k, 1.0, 32L * k, 0.01 * k);
    fclose(f);
    CHECK(len == 0, "plain: a short epoch prints nothing", "output:\n%s", buf);

    /* plain: resumed at batch 50 of 100 - the first line at 60%, the rate
     * and ETA from the batches done since */
    f = open_buf();
    rn_progress_begin(&p, f, 0, 3, 10, 100, 50, 0.0);
    for (int k = 51; k <= 100; k++)
        rn_progress_update(&p, k, 0.5, 64L * (k - 50), 0.2 * (k - 50));
    fclose(f);
    CHECK(count(buf, "\n") == 4 &&
              strstr(buf, "epoch  3/10   60% (60/100)  loss 0.5000  320 img/s  ETA 0:08\n") &&
              !strstr(buf, " 50%"),
          "plain: a resumed epoch", "output:\n%s", buf);

    /* terminal: 200 updates 0.02 s apart -> about 40 redraws, the last one
     * at 100%, then wiped */
    f = open_buf();
    rn_progress_begin(&p, f, 1, 1, 1, 200, 0, 0.0);
    for (int k = 1; k <= 200; k++)
        rn_progress_update(&p, k, 1.0, 10L * k, 0.02 * k);
    fflush(f);
    size_t before_clear = len;
    rn_progress_clear(&p);
    fclose(f);
    int draws = count(buf, "\repoch");
    CHECK(draws >= 38 && draws <= 42 && !strchr(buf, '\n') &&
              strstr(buf, "\repoch 1/1 [####################] 200/200  loss 1.0000  500 img/s  "
                          "ETA 0:00") &&
              buf[len - 1] == '\r' && len > before_clear,
          "terminal: redrawn in place, at most 10 per second, wiped", "%d draws:\n%s", draws,
          buf);
    /* the wipe covers the whole line: \r, as many spaces as the line, \r */
    {
        const char *last = strrchr(buf, '\r');
        const char *prev = last - 1;
        while (prev > buf && *prev != '\r')
            prev--;
        size_t spaces = (size_t)(last - prev - 1);
        const char *line = prev - 1;
        while (line > buf && *line != '\r')
            line--;
        size_t width = (size_t)(prev - line - 1);
        CHECK(spaces == width && spaces > 60 && strspn(prev + 1, " ") == spaces,
              "terminal: the wipe is as wide as the line", "%zu spaces, line %zu", spaces, width);
    }

    /* terminal: a shorter line is padded over the longer one before it */
    f = open_buf();
    rn_progress_begin(&p, f, 1, 1, 1, 10, 0, 0.0);
    rn_progress_update(&p, 1, 12345.0, 1000000, 0.001); /* a long loss and rate */
    fflush(f);
    size_t first = len;
    rn_progress_update(&p, 2, 1.0, 2, 1.0);
    fclose(f);
    CHECK(len - first == first, "terminal: a shorter line is padded to the longer one's width",
          "first %zu, second %zu:\n%s", first, len - first, buf);

    /* no stream: nothing, no crash */
    rn_progress_begin(&p, NULL, 1, 1, 1, 10, 0, 0.0);
    rn_progress_update(&p, 5, 1.0, 5, 1.0);
    rn_progress_clear(&p);
    CHECK(1, "no stream: silent", "-");
    free(buf);
    CHECK_DONE();
}
