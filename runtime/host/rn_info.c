/* rn_info.c - `info`: what the built program is, from its RnModel alone.
 *
 * The layer table comes from the node table (name, op, output shape per
 * image, trainable parameters); the totals from the parameter table, so
 * what is printed is what a checkpoint holds.  Memory figures are the
 * blocks the driver allocates: parameters (with running statistics),
 * gradients, and the generated code's workspace for the default batch.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "rn_driver.h"

static void human(char *buf, size_t n, double bytes)
{
    if (bytes >= 1024.0 * 1024 * 1024)
        snprintf(buf, n, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else if (bytes >= 1024.0 * 1024)
        snprintf(buf, n, "%.2f MiB", bytes / (1024.0 * 1024));
    else
        snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
}

/* 1234567 -> "1,234,567" */
static const char *grouped(char *buf, size_t n, long v)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%ld", v < 0 ? -v : v), o = 0;
    if (v < 0 && o < (int)n - 1)
        buf[o++] = '-';
    for (int i = 0; i < len && o < (int)n - 1; i++) {
        if (i && (len - i) % 3 == 0 && o < (int)n - 1)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static long node_trainable(const RnModel *m, const RnNodeInfo *n)
{
    long s = 0;
    for (int k = 0; k < 4; k++)
        if (n->param[k] >= 0 && n->param[k] < m->nparams && !m->params[n->param[k]].is_buffer)
            s += m->params[n->param[k]].numel;
    return s;
}

int rn_info_run(const RnModel *m, int batch_arg)
{
    const RnTrainDefaults *d = &m->defaults;
    char a[64], b[64];
    printf("model        %s\n", m->name);
    printf("backend      %s\n", m->backend ? m->backend : "?");
    printf("source hash  %s\n", m->source_hash ? m->source_hash : "?");
    printf("input        %dx%dx%d (C x H x W)\n", m->in_c, m->in_h, m->in_w);
    printf("classes      %d\n\n", m->classes);

    int wname = 4;
    for (int i = 0; i < m->nnodes; i++) {
        int l = m->nodes[i].name ? (int)strlen(m->nodes[i].name) : 1;
        if (l > wname)
            wname = l;
    }
    printf("  %3s  %-*s  %-8s  %-12s  %12s\n", "#", wname, "name", "op", "output", "params");
    for (int i = 0; i < m->nnodes; i++) {
        const RnNodeInfo *n = &m->nodes[i];
        char shape[48];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->c, n->h, n->w);
        const char *op = (unsigned)n->op < RN_OP_COUNT ? rn_op_names[n->op] : "?";
        printf("  %3d  %-*s  %-8s  %-12s  %12s\n", i, wname, n->name ? n->name : "-", op, shape,
               grouped(a, sizeof a, node_trainable(m, n)));
    }

    long trainable = 0, buffers = 0;
    for (int p = 0; p < m->nparams; p++) {
        if (m->params[p].is_buffer)
            buffers += m->params[p].numel;
        else
            trainable += m->params[p].numel;
    }
    int batch = batch_arg > 0 ? batch_arg : d->batch > 0 ? d->batch : 64;
    printf("\nparameters   %s trainable, %s in buffers (running statistics)\n",
           grouped(a, sizeof a, trainable), grouped(b, sizeof b, buffers));
    printf("MACs         %s per image (%.2f M)\n", grouped(a, sizeof a, m->macs),
           (double)m->macs / 1e6);
    human(a, sizeof a, 4.0 * (double)m->param_floats);
    printf("memory       parameters %s (and as much again for gradients)\n", a);
    human(a, sizeof a, 4.0 * (double)rn_model_work_floats(m, batch));
    printf("             workspace %s for batch %d\n", a, batch);
    printf("workspace    %ld bytes at batch %d = %ld per image + %ld fixed (planned by rnetc)\n",
           4 * rn_model_work_floats(m, batch), batch, 4 * m->work_per_image, 4 * m->work_fixed);

    printf("\ntraining defaults\n");
    printf("  optimizer  %s", rn_optim_kind_name((RnOptKind)d->optimizer));
    if (d->optimizer == RN_OPT_SGD)
        printf(" momentum %g%s", (double)d->momentum, d->nesterov ? " nesterov" : "");
    else
        printf(" betas %g %g eps %g", (double)d->beta1, (double)d->beta2, (double)d->eps);
    printf("\n  lr         %g, schedule %s", (double)d->lr,
           rn_sched_kind_name((RnSchedKind)d->schedule));
    if (d->schedule == RN_SCHED_STEP)
        printf(" every %d epochs x %g", d->step_epochs, (double)d->gamma);
    if (d->schedule == RN_SCHED_COSINE && d->min_lr > 0)
        printf(" to %g", (double)d->min_lr);
    if (d->warmup > 0)
        printf(", warm-up %g epochs", (double)d->warmup);
    printf("\n  decay      %g%s%s\n", (double)d->weight_decay, d->decoupled ? " decoupled" : "",
           d->no_decay_bn_bias ? ", not on batch norm and biases" : "");
    if (d->label_smoothing > 0)
        printf("  smoothing  %g\n", (double)d->label_smoothing);
    printf("  batch      %d, epochs %d, seed %ld\n", d->batch, d->epochs, d->seed);
    if (d->nmean > 0) {
        printf("  normalize  mean");
        for (int c = 0; c < d->nmean && c < 4; c++)
            printf(" %g", (double)d->mean[c]);
        printf(" std");
        for (int c = 0; c < d->nmean && c < 4; c++)
            printf(" %g", (double)d->std[c]);
        printf("\n");
    }
    if (d->shift > 0 || d->flip)
        printf("  augment    shift %d%s\n", d->shift, d->flip ? ", flip" : "");

    printf("\nthreads      %d %s\n", rn_threads(),
           rn_have_openmp() ? "(OpenMP; set with --threads or OMP_NUM_THREADS)"
                            : "(built without OpenMP)");
    if (rn_have_openmp()) {
        /* the policy the team runs with (rn_main.c) */
        const char *w = getenv("OMP_WAIT_POLICY"), *s = getenv("GOMP_SPINCOUNT");
        if (rn_wait_default < 0)
            printf("waiting      OpenMP's default (a shared OpenMP runtime, libgomp or clang's libomp: "
                   "rnet's short spin not applied)\n");
        else if (w || (s && !rn_wait_default))
            printf("waiting      %s%s%s%s%s (from the environment)\n", w ? "OMP_WAIT_POLICY=" : "",
                   w ? w : "", w && s ? ", " : "", s ? "GOMP_SPINCOUNT=" : "", s ? s : "");
        else if (s)
            printf("waiting      GOMP_SPINCOUNT=%s: idle threads spin that long, then sleep "
                   "(rnet's default; OMP_WAIT_POLICY or GOMP_SPINCOUNT overrides)\n", s);
        else
            printf("waiting      OpenMP's default\n");
    }
    printf("denormals    %s\n", rn_fpu_ftz_on() ? "flushed to zero (FTZ and DAZ on)"
                                               : "kept (FTZ/DAZ not available here)");
    return 0;
}
