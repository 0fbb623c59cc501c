/* resnet_avx2.c — placeholder: forwards to the reference kernels until the
 * AVX2+FMA micro-kernels land (dispatch.c does not select them yet). */
#include "layerpar_kernels.h"
LP_RESNET_FWD_PROTO(double, lp_resnet_fwd_f64_avx2) { lp_resnet_fwd_f64_ref(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz); }
LP_RESNET_FWD_PROTO(float, lp_resnet_fwd_f32_avx2) { lp_resnet_fwd_f32_ref(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz); }
LP_RESNET_ADJ_PROTO(double, lp_resnet_adj_f64_avx2) { lp_resnet_adj_f64_ref(w, B, beta, W, ldw, X, ldx, Z, ldz, Lp, ldlp, L, ldl, dW, lddw, db); }
LP_RESNET_ADJ_PROTO(float, lp_resnet_adj_f32_avx2) { lp_resnet_adj_f32_ref(w, B, beta, W, ldw, X, ldx, Z, ldz, Lp, ldlp, L, ldl, dW, lddw, db); }
