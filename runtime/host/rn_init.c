/* rn_init.c - initial parameter values, PyTorch's defaults for a ResNet.
 *
 * torchvision's ResNet initialises convolutions with kaiming_normal_
 * (mode='fan_out', nonlinearity='relu'), batch norm with weight 1 and bias
 * 0, and leaves nn.Linear at its default, uniform +-1/sqrt(fan_in) for both
 * weight and bias.  Running statistics start at mean 0, variance 1.  The
 * draws come from the project RNG in parameter order, so a seed fixes the
 * initial weights on every machine.
 *
 * Fans are computed from the shapes, not taken from RnParamInfo.fan_in /
 * fan_out, so a table with those left out still initialises correctly.
 */
#include <math.h>

#include "rn_interp.h"

/* IN of the fc whose bias is parameter p: the second dimension of the
 * weight in the same node; the table's fan_in if no node claims p. */
static long fc_bias_fan_in(const RnModel *m, int p)
{
    for (int i = 0; i < m->nnodes; i++) {
        const RnNodeInfo *n = &m->nodes[i];
        if (n->param[1] == p && n->param[0] >= 0 && n->param[0] < m->nparams &&
            m->params[n->param[0]].ndim == 2)
            return m->params[n->param[0]].shape[1];
    }
    return m->params[p].fan_in;
}

static void fill(float *p, long n, float v)
{
    for (long i = 0; i < n; i++)
        p[i] = v;
}

static void fill_uniform(float *p, long n, double bound, RnRng *rng)
{
    for (long i = 0; i < n; i++)
        p[i] = (float)((2.0 * rn_rng_double(rng) - 1.0) * bound);
}

void rn_init_params(const RnModel *m, float *params, RnRng *rng)
{
    for (int k = 0; k < m->nparams; k++) {
        const RnParamInfo *pi = &m->params[k];
        float *p = params + pi->offset;
        switch (pi->kind) {
        case RN_P_CONV_W: {
            /* (K, C/groups, KH, KW): fan_out = K * KH * KW */
            long fan_out = pi->ndim == 4 ? (long)pi->shape[0] * pi->shape[2] * pi->shape[3]
                                         : (long)pi->shape[0];
            double std = sqrt(2.0 / (double)(fan_out > 0 ? fan_out : 1));
            for (long i = 0; i < pi->numel; i++)
                p[i] = (float)(std * (double)rn_rng_normal(rng));
            break;
        }
        case RN_P_FC_W: {
            long in = pi->ndim == 2 ? pi->shape[1] : pi->fan_in;
            fill_uniform(p, pi->numel, 1.0 / sqrt((double)(in > 0 ? in : 1)), rng);
            break;
        }
        case RN_P_FC_B: {
            long in = fc_bias_fan_in(m, k);
            fill_uniform(p, pi->numel, 1.0 / sqrt((double)(in > 0 ? in : 1)), rng);
            break;
        }
        case RN_P_CONV_B:
        case RN_P_BN_B:
        case RN_P_BN_MEAN:
            fill(p, pi->numel, 0.0f);
            break;
        case RN_P_BN_W:
        case RN_P_BN_VAR:
            fill(p, pi->numel, 1.0f);
            break;
        }
    }
}
