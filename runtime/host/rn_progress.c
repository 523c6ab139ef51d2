/* rn_progress.c - the progress report inside a training epoch.
 *
 * On a terminal one line is redrawn in place with a carriage return, at
 * most ten times a second:
 *
 *     epoch 3/10 [########------------]  100/250  loss 0.3412  1520 img/s  ETA 0:09
 *
 * and wiped before the epoch's summary line is printed over it.  When the
 * output is a file or a pipe (a log), a carriage return would pile up
 * garbage, so a plain line is printed instead at each tenth of an epoch
 * expected to last at least RN_PROGRESS_PLAIN_MIN_S seconds (shorter
 * epochs have their summary line soon enough):
 *
 *     epoch 3/10  40% (100/250)  loss 0.3412  1520 img/s  ETA 0:09
 *
 * The caller passes the time in, so tests can drive the report with any
 * clock; the loss is the running mean over the epoch, the rate counts the
 * images since rn_progress_begin, and the ETA extrapolates the batch rate
 * since then.
 */
#include <stdio.h>
#include <string.h>

#include "rn_driver.h"

#define RN_PROGRESS_PLAIN_MIN_S 3.0
#define RN_PROGRESS_REDRAW_S 0.1
#define BAR 20

void rn_progress_begin(RnProgress *p, FILE *out, int tty, int epoch, int epochs, long total,
                       long done, double now)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = tty;
    p->epoch = epoch;
    p->epochs = epochs;
    p->total = total > 0 ? total : 1;
    p->start = done;
    p->t0 = now;
    p->last_draw = -1e300;
    p->tenths = (int)(10 * done / p->total);
}

/* "1:02:03", "2:03" or "0:09" */
static void fmt_secs(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void rn_progress_update(RnProgress *p, long done, double loss, long images, double now)
{
    if (!p->out)
        return;
    double dt = now - p->t0;
    long steps = done - p->start;
    double ips = dt > 0 ? (double)images / dt : 0.0;
    double eta = steps > 0 ? dt / (double)steps * (double)(p->total - done) : -1.0;
    char eta_s[32];
    fmt_secs(eta_s, sizeof eta_s, eta);
    int w = p->epochs >= 100 ? 3 : p->epochs >= 10 ? 2 : 1;
    if (p->tty) {
        if (done < p->total && now - p->last_draw < RN_PROGRESS_REDRAW_S)
            return;
        p->last_draw = now;
        char bar[BAR + 1];
        int filled = (int)(BAR * done / p->total);
        for (int i = 0; i < BAR; i++)
            bar[i] = i < filled ? '#' : '-';
        bar[BAR] = '\0';
        char line[200];
        int n = snprintf(line, sizeof line,
                         "epoch %*d/%d [%s] %*ld/%ld  loss %.4f  %.0f img/s  ETA %s", w, p->epoch,
                         p->epochs, bar, (int)snprintf(NULL, 0, "%ld", p->total), done, p->total,
                         loss, ips, eta_s);
        if (n < 0)
            return;
        if (n >= (int)sizeof line)
            n = (int)sizeof line - 1;
        /* pad over the end of a longer previous line */
        fprintf(p->out, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
        p->width = n;
        fflush(p->out);
        return;
    }
    int tenth = (int)(10 * done / p->total);
    if (tenth <= p->tenths || done >= p->total)
        return;
    p->tenths = tenth;
    /* the epoch's projected length: elapsed time plus the ETA */
    if (!(eta >= 0) || dt + eta < RN_PROGRESS_PLAIN_MIN_S)
        return;
    fprintf(p->out, "epoch %*d/%d  %3d%% (%ld/%ld)  loss %.4f  %.0f img/s  ETA %s\n", w,
            p->epoch, p->epochs, (int)(100 * done / p->total), done, p->total, loss, ips, eta_s);
    fflush(p->out);
}

void rn_progress_clear(RnProgress *p)
{
    if (p->out && p->tty && p->width > 0) {
        fprintf(p->out, "\r%*s\r", p->width, "");
        fflush(p->out);
    }
    p->width = 0;
}
