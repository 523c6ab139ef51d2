/* hand_model.h - two small RnModels written out by hand, for the tests of
 * the interpreter and the driver (test_interp.c, test_driver.c), which
 * cannot use generated code.
 *
 * Model A, "hand_a", the shape of a tiny ResNet:
 *   input 1x6x6 -> conv1 3x3 (4) -> bn1 -> relu -> maxpool 2x2/2 (4x3x3)
 *   -> layer1.0: conv 3x3 (4) -> bn -> add(shortcut = the maxpool) -> relu
 *   -> gap (4) -> fc (3)
 * Model B, "hand_b", the other ops, no batch norm:
 *   input 2x5x5 -> conv 3x3/2 pad 1 with bias (4x3x3)
 *               -> padshort to 4 channels, stride 2 (4x3x3)
 *   concat (8x3x3) -> avgpool 2x2/1 (8x2x2) -> fc (2) over the flattened 32
 *
 * The function pointers are left NULL; each test points them at what it
 * runs (thin wrappers over the interpreter). */
#ifndef HAND_MODEL_H
#define HAND_MODEL_H

#include "rn_model.h"

#define HP(nm, k, nd, s0, s1, s2, s3, n, off, buf, nodec) \
    { .name = nm, .kind = k, .ndim = nd, .shape = { s0, s1, s2, s3 }, .numel = n, \
      .offset = off, .is_buffer = buf, .no_decay = nodec }

static const RnParamInfo hand_a_params[] = {
    HP("conv1.weight", RN_P_CONV_W, 4, 4, 1, 3, 3, 36, 0, 0, 0),
    HP("bn1.weight", RN_P_BN_W, 1, 4, 0, 0, 0, 4, 36, 0, 1),
    HP("bn1.bias", RN_P_BN_B, 1, 4, 0, 0, 0, 4, 40, 0, 1),
    HP("bn1.running_mean", RN_P_BN_MEAN, 1, 4, 0, 0, 0, 4, 44, 1, 1),
    HP("bn1.running_var", RN_P_BN_VAR, 1, 4, 0, 0, 0, 4, 48, 1, 1),
    HP("layer1.0.conv1.weight", RN_P_CONV_W, 4, 4, 4, 3, 3, 144, 52, 0, 0),
    HP("layer1.0.bn1.weight", RN_P_BN_W, 1, 4, 0, 0, 0, 4, 196, 0, 1),
    HP("layer1.0.bn1.bias", RN_P_BN_B, 1, 4, 0, 0, 0, 4, 200, 0, 1),
    HP("layer1.0.bn1.running_mean", RN_P_BN_MEAN, 1, 4, 0, 0, 0, 4, 204, 1, 1),
    HP("layer1.0.bn1.running_var", RN_P_BN_VAR, 1, 4, 0, 0, 0, 4, 208, 1, 1),
    HP("fc.weight", RN_P_FC_W, 2, 3, 4, 0, 0, 12, 212, 0, 0),
    HP("fc.bias", RN_P_FC_B, 1, 3, 0, 0, 0, 3, 224, 0, 1),
};
#define HAND_A_FLOATS 227

/* attributes: kh, kw, stride, pad, groups, filters, bias */
#define HN(o, nm, a, b, C, H, W, KH, KW, S, P, G, F, BI, p0, p1, p2, p3) \
    { .op = o, .name = nm, .in = { a, b }, .c = C, .h = H, .w = W, .kh = KH, .kw = KW, \
      .stride = S, .pad = P, .groups = G, .filters = F, .bias = BI, .param = { p0, p1, p2, p3 } }

static const RnNodeInfo hand_a_nodes[] = {
    HN(RN_OP_INPUT, "input", -1, -1, 1, 6, 6, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_CONV, "conv1", 0, -1, 4, 6, 6, 3, 3, 1, 1, 1, 4, 0, 0, -1, -1, -1),
    HN(RN_OP_BN, "bn1", 1, -1, 4, 6, 6, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4),
    HN(RN_OP_RELU, "relu", 2, -1, 4, 6, 6, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_MAXPOOL, "maxpool", 3, -1, 4, 3, 3, 2, 2, 2, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_CONV, "layer1.0.conv1", 4, -1, 4, 3, 3, 3, 3, 1, 1, 1, 4, 0, 5, -1, -1, -1),
    HN(RN_OP_BN, "layer1.0.bn1", 5, -1, 4, 3, 3, 0, 0, 0, 0, 0, 0, 0, 6, 7, 8, 9),
    HN(RN_OP_ADD, "layer1.0.add", 6, 4, 4, 3, 3, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_RELU, "layer1.0.relu", 7, -1, 4, 3, 3, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_GAP, "avgpool", 8, -1, 4, 1, 1, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_FC, "fc", 9, -1, 3, 1, 1, 0, 0, 0, 0, 0, 3, 1, 10, 11, -1, -1),
};

static const RnParamInfo hand_b_params[] = {
    HP("conv.weight", RN_P_CONV_W, 4, 4, 2, 3, 3, 72, 0, 0, 0),
    HP("conv.bias", RN_P_CONV_B, 1, 4, 0, 0, 0, 4, 72, 0, 1),
    HP("fc.weight", RN_P_FC_W, 2, 2, 32, 0, 0, 64, 76, 0, 0),
    HP("fc.bias", RN_P_FC_B, 1, 2, 0, 0, 0, 2, 140, 0, 1),
};
#define HAND_B_FLOATS 142

static const RnNodeInfo hand_b_nodes[] = {
    HN(RN_OP_INPUT, "input", -1, -1, 2, 5, 5, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_CONV, "conv", 0, -1, 4, 3, 3, 3, 3, 2, 1, 1, 4, 1, 0, 1, -1, -1),
    HN(RN_OP_PADSHORT, "short", 0, -1, 4, 3, 3, 0, 0, 2, 0, 0, 4, 0, -1, -1, -1, -1),
    HN(RN_OP_CONCAT, "cat", 1, 2, 8, 3, 3, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_AVGPOOL, "pool", 3, -1, 8, 2, 2, 2, 2, 1, 0, 0, 0, 0, -1, -1, -1, -1),
    HN(RN_OP_FC, "fc", 4, -1, 2, 1, 1, 0, 0, 0, 0, 0, 2, 1, 2, 3, -1, -1),
};

static RnModel hand_model_a(void)
{
    RnModel m = {
        .name = "hand_a",
        .source_hash = "0123456789abcdef",
        .backend = "c",
        .in_c = 1, .in_h = 6, .in_w = 6, .classes = 3,
        .nparams = (int)(sizeof hand_a_params / sizeof hand_a_params[0]),
        .params = hand_a_params,
        .param_floats = HAND_A_FLOATS,
        .nnodes = (int)(sizeof hand_a_nodes / sizeof hand_a_nodes[0]),
        .nodes = hand_a_nodes,
        .output = 10,
        .defaults = { .optimizer = 0, .lr = 0.05f, .momentum = 0.9f, .beta1 = 0.9f,
                      .beta2 = 0.999f, .eps = 1e-8f, .nesterov = 1, .weight_decay = 5e-4f,
                      .no_decay_bn_bias = 1, .schedule = 2, .step_epochs = 30, .gamma = 0.1f,
                      .batch = 8, .epochs = 3, .nmean = 1, .mean = { 0.1f }, .std = { 0.3f },
                      .seed = 1 },
        .macs = 4 * 36 * 9 + 4 * 9 * 36 + 12,
        .work_fixed = 0, .work_per_image = 0,
    };
    return m;
}

static RnModel hand_model_b(void)
{
    RnModel m = {
        .name = "hand_b",
        .source_hash = "fedcba9876543210",
        .backend = "c",
        .in_c = 2, .in_h = 5, .in_w = 5, .classes = 2,
        .nparams = (int)(sizeof hand_b_params / sizeof hand_b_params[0]),
        .params = hand_b_params,
        .param_floats = HAND_B_FLOATS,
        .nnodes = (int)(sizeof hand_b_nodes / sizeof hand_b_nodes[0]),
        .nodes = hand_b_nodes,
        .output = 5,
        .defaults = { .optimizer = 1, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                      .schedule = 0, .batch = 4, .epochs = 1, .seed = 7 },
        .macs = 4 * 9 * 18 + 64,
    };
    return m;
}

#endif
