/*
 * optimizer.c — the Adam update (formula and rounding rule in
 * layerpar_kernels.h), reference, AVX2 and AVX-512. The update streams five arrays
 * (p, g, m, v read; p, m, v written: 56 bytes per parameter) and does one
 * division and one square root per parameter (the bias corrections fold into
 * two scalars, lr/c₁ and 1/√c₂, once per call): the divider is the bottleneck,
 * which the scalar loop cannot overlap; four (eight) lanes of vdivpd/vsqrtpd
 * run at a few cycles per parameter.
 * Separate multiplies and adds (no FMA) keep the bits of the scalar loop.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "layerpar_kernels.h"

#pragma STDC FP_CONTRACT OFF

/* s = lr/c₁ and r = 1/√c₂, the per-call scalars of the formula in layerpar_kernels.h. */
static inline void lp_adam_one(double s, double r, double beta1, double beta2, double eps,
                               double *p, const double *g, double *m, double *v) {
    const double gi = *g;
    *m = beta1 * *m + (1 - beta1) * gi;
    *v = beta2 * *v + (1 - beta2) * gi * gi;
    *p -= (s * *m) / (sqrt(*v) * r + eps);
}

LP_ADAM_PROTO(lp_adam_f64_ref) {
    const double s = lr / c1, r = 1 / sqrt(c2);
    for (lp_int i = 0; i < n; i++) lp_adam_one(s, r, beta1, beta2, eps, p + i, g + i, m + i, v + i);
}

/* The vector loop, written once for a prefix X (_mm256_ or _mm512_) and VL
 * lanes; the tail runs the scalar step, whose bits the lanes match. */
#define LP_X_(X, op) X##op
#define LP_X(X, op) LP_X_(X, op)
#define LP_ADAM_SIMD(NAME, TARGET, VT, VL, X)                                              \
    __attribute__((target(TARGET))) LP_ADAM_PROTO(NAME) {                                  \
        const VT b1 = LP_X(X, set1_pd)(beta1), b2 = LP_X(X, set1_pd)(beta2);               \
        const VT a1 = LP_X(X, set1_pd)(1 - beta1), a2 = LP_X(X, set1_pd)(1 - beta2);       \
        const double s = lr / c1, r = 1 / sqrt(c2);                                        \
        const VT vs = LP_X(X, set1_pd)(s), vr = LP_X(X, set1_pd)(r);                       \
        const VT veps = LP_X(X, set1_pd)(eps);                                              \
        lp_int i = 0;                                                                       \
        for (; i + VL <= n; i += VL) {                                                      \
            const VT gi = LP_X(X, loadu_pd)(g + i);                                         \
            const VT mi = LP_X(X, add_pd)(LP_X(X, mul_pd)(b1, LP_X(X, loadu_pd)(m + i)),    \
                                          LP_X(X, mul_pd)(a1, gi));                         \
            const VT vi = LP_X(X, add_pd)(LP_X(X, mul_pd)(b2, LP_X(X, loadu_pd)(v + i)),    \
                                          LP_X(X, mul_pd)(LP_X(X, mul_pd)(a2, gi), gi));    \
            const VT step = LP_X(X, div_pd)(                                                \
                LP_X(X, mul_pd)(vs, mi),                                                    \
                LP_X(X, add_pd)(LP_X(X, mul_pd)(LP_X(X, sqrt_pd)(vi), vr), veps));          \
            LP_X(X, storeu_pd)(m + i, mi);                                                  \
            LP_X(X, storeu_pd)(v + i, vi);                                                  \
            LP_X(X, storeu_pd)(p + i, LP_X(X, sub_pd)(LP_X(X, loadu_pd)(p + i), step));     \
        }                                                                                   \
        for (; i < n; i++) lp_adam_one(s, r, beta1, beta2, eps, p + i, g + i, m + i, v + i);    \
    }

LP_ADAM_SIMD(lp_adam_f64_avx2, "avx2,fma", __m256d, 4, _mm256_)
LP_ADAM_SIMD(lp_adam_f64_avx512, "avx512f", __m512d, 8, _mm512_)

/* A non-finite double has all 11 exponent bits set: adding 1 to the exponent
 * field carries into bit 11 exactly then. Integer operations only, no early
 * exit: the compiler vectorises the loop with the baseline SSE2 (a reduction
 * the FP compare + branch of a scalar loop cannot be), and the pass runs at
 * the memory's speed, which is its bound. */
int lp_all_finite_f64(lp_int n, const double *x) {
    uint64_t bad = 0;
    for (lp_int i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, x + i, sizeof b);
        bad |= (((b >> 52) & 0x7ff) + 1) >> 11;
    }
    return bad == 0;
}
