/* kir_sigs.h - every runtime function a lowered layer (klower.c) calls,
 * with the symbol a module that cannot inline C calls it by and the
 * signature, for the LLVM backend: X(name in the KFunc, symbol, argument
 * codes, the C parameter list).  Argument codes:
 *   p float*   d double*   I const int*   E const RnEpilogue*   S const RnConvShape*
 *   X const RnExec*
 *   i int      l long      f float        D double
 * The names rn_gen.h defines inline are called through their out-of-line
 * copies (runtime/rn_calls.h).  tests/unit/test_kir_sigs.c checks each
 * symbol's prototype against the C parameter list, and the codes against
 * that list, so a runtime change that this table misses fails the build of
 * the test, not a program at run time. */
#define KIR_SIGS(X)                                                                                     \
    X("rn_relu_fwd", rn_x_relu_fwd, "ppl", (float *, const float *, long))                              \
    X("rn_relu_bwd", rn_relu_bwd, "pppli", (float *, const float *, const float *, long, int))          \
    X("rn_relu_mask", rn_relu_mask, "ppl", (float *, const float *, long))                              \
    X("rn_copy_acc", rn_copy_acc, "ppli", (float *, const float *, long, int))                          \
    X("rn_add_chwn", rn_add_chwn, "pppli", (float *, const float *, const float *, long, int))          \
    X("rn_add_bias", rn_x_add_bias, "ppil", (float *, const float *, int, long))                        \
    X("rn_bias_grad", rn_bias_grad, "ppil", (float *, const float *, int, long))                        \
    X("rn_gap_chwn", rn_gap_chwn, "ppil", (float *, const float *, int, long))                          \
    X("rn_dropout_chwn", rn_dropout_chwn, "Xppiliifi",                                                  \
      (const RnExec *, float *, const float *, int, long, int, int, float, int))                       \
    X("rn_dropout_chwn_bwd", rn_dropout_chwn_bwd, "Xppiliifii",                                         \
      (const RnExec *, float *, const float *, int, long, int, int, float, int, int))                  \
    X("rn_gap_chwn_bwd", rn_gap_chwn_bwd, "ppili", (float *, const float *, int, long, int))            \
    X("rn_maxpool_chwn", rn_x_maxpool_chwn, "ppiiiiiiiii",                                              \
      (float *, const float *, int, int, int, int, int, int, int, int, int))                            \
    X("rn_avgpool_chwn", rn_x_avgpool_chwn, "ppiiiiiiiii",                                              \
      (float *, const float *, int, int, int, int, int, int, int, int, int))                            \
    X("rn_maxpool_chwn_bwd", rn_maxpool_chwn_bwd, "pppiiiiiiiii",                                       \
      (float *, const float *, const float *, int, int, int, int, int, int, int, int, int))             \
    X("rn_avgpool_chwn_bwd", rn_avgpool_chwn_bwd, "ppiiiiiiiii",                                        \
      (float *, const float *, int, int, int, int, int, int, int, int, int))                            \
    X("rn_bn_infer_channel", rn_x_bn_infer_channel, "pplffffi",                                         \
      (float *, const float *, long, float, float, float, float, int))                                  \
    X("rn_bn_train_channel", rn_bn_train_channel, "pplffppppi",                                         \
      (float *, const float *, long, float, float, float *, float *, float *, float *, int))            \
    X("rn_bn_train_from_sums", rn_bn_train_from_sums, "pplDDffppppi",                                   \
      (float *, const float *, long, double, double, float, float, float *, float *, float *, float *,  \
       int))                                                                                            \
    X("rn_bn_backward_channel", rn_bn_backward_channel, "pppppplfffii",                                 \
      (float *, float *, float *, const float *, const float *, const float *, long, float, float,      \
       float, int, int))                                                                                \
    X("rn_bn_fold_filter", rn_x_bn_fold_filter, "pppiiiIfffff",                                         \
      (float *, float *, const float *, int, int, int, const int *, float, float, float, float, float)) \
    X("rn_im2col_tap", rn_x_im2col_tap, "ppiiiiiiiii",                                                  \
      (float *, const float *, int, int, int, int, int, int, int, int, int))                            \
    X("rn_im2col_tap_n", rn_x_im2col_tap, "ppiiiiiiiii",                                                \
      (float *, const float *, int, int, int, int, int, int, int, int, int))                            \
    X("rn_im2col_row", rn_x_im2col_row, "ppiiiiiiiiiII",                                                \
      (float *, const float *, int, int, int, int, int, int, int, int, int, const int *, const int *))  \
    X("rn_im2col_row_n", rn_x_im2col_row, "ppiiiiiiiiiII",                                              \
      (float *, const float *, int, int, int, int, int, int, int, int, int, const int *, const int *))  \
    X("rn_col2im_tap_n", rn_x_col2im_tap, "ppiiiiiiiii",                                                \
      (float *, const float *, int, int, int, int, int, int, int, int, int))                            \
    X("rn_taps_row", rn_x_taps_row, "ppiIi", (float *, const float *, int, const int *, int))           \
    X("rn_sgemm", rn_sgemm, "iiiiifpipifpi",                                                            \
      (int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int))    \
    X("rn_sgemm_ep", rn_sgemm_ep, "iilllfplplfplE",                                                     \
      (int, int, long, long, long, float, const float *, long, const float *, long, float, float *,     \
       long, const RnEpilogue *))                                                                       \
    X("rn_wino_filter", rn_wino_filter, "ppiii", (float *, const float *, int, int, int))               \
    X("rn_wino_conv", rn_x_wino_conv, "pppiiiiipEi",                                                    \
      (float *, const float *, const float *, int, int, int, int, int, float *, const RnEpilogue *,     \
       int))                                                                                            \
    X("rn_conv_pack", rn_conv_pack, "ppiiiiIi", (float *, const float *, int, int, int, int, const int *, int)) \
    X("rn_conv_direct", rn_conv_direct, "iiiiiIIpplpfE",                                                \
      (int, int, int, int, int, const int *, const int *, const float *, const float *, long, float *,  \
       float, const RnEpilogue *))                                                                      \
    X("rn_conv_wgrad", rn_conv_wgrad, "iiiiiiIIpppiIp",                                                 \
      (int, int, int, int, int, int, const int *, const int *, const float *, const float *, float *,   \
       int, const int *, float *))                                                                      \
    X("rn_conv1_pack", rn_conv1_pack, "ppiiiiI", (float *, const float *, int, int, int, int, const int *)) \
    X("rn_conv1_small", rn_conv1_small, "SiiIppppppi",                                                 \
      (const RnConvShape *, int, int, const int *, const float *, const float *, float *, float *,      \
       float *, const float *, int))                                                                    \
    X("rn_padshort_chwn", rn_padshort_chwn, "ppiiiiiiiii",                                              \
      (float *, const float *, int, int, int, int, int, int, int, int, int))                            \
    X("rn_padshort_chwn_bwd", rn_padshort_chwn_bwd, "ppiiiiiiiii",                                      \
      (float *, const float *, int, int, int, int, int, int, int, int, int))
