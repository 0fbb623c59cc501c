/* dense_avx2.c — placeholder: forwards to the reference kernels until the
 * AVX2+FMA micro-kernels land (dispatch.c does not select them yet). */
#include "layerpar_kernels.h"
LP_DENSE_FWD_PROTO(double, lp_dense_fwd_f64_avx2) { lp_dense_fwd_f64_ref(m, n, B, act, W, ldw, b, X, ldx, Y, ldy, Z, ldz); }
LP_DENSE_FWD_PROTO(float, lp_dense_fwd_f32_avx2) { lp_dense_fwd_f32_ref(m, n, B, act, W, ldw, b, X, ldx, Y, ldy, Z, ldz); }
LP_DENSE_ADJ_PROTO(double, lp_dense_adj_f64_avx2) { lp_dense_adj_f64_ref(m, n, B, act, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db); }
LP_DENSE_ADJ_PROTO(float, lp_dense_adj_f32_avx2) { lp_dense_adj_f32_ref(m, n, B, act, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db); }
