/*
 * optimizer.c — the Adam update (formula and rounding rule in
 * layerpar_kernels.h), reference and AVX2. The update streams five arrays
 * (p, g, m, v read; p, m, v written: 56 bytes per parameter) and does one
 * division and one square root per parameter, which the scalar loop cannot
 * overlap; four lanes of vdivpd/vsqrtpd run at a few cycles per parameter.
 * Separate multiplies and adds (no FMA) keep the bits of the scalar loop.
 */
#include <immintrin.h>
#include <math.h>
#include "layerpar_kernels.h"

#pragma STDC FP_CONTRACT OFF

static inline void lp_adam_one(double lr, double beta1, double beta2, double c1, double c2, double eps,
                               double *p, const double *g, double *m, double *v) {
    const double gi = *g;
    *m = beta1 * *m + (1 - beta1) * gi;
    *v = beta2 * *v + (1 - beta2) * gi * gi;
    *p -= lr * (*m / c1) / (sqrt(*v / c2) + eps);
}

LP_ADAM_PROTO(lp_adam_f64_ref) {
    for (lp_int i = 0; i < n; i++) lp_adam_one(lr, beta1, beta2, c1, c2, eps, p + i, g + i, m + i, v + i);
}

__attribute__((target("avx2,fma")))
LP_ADAM_PROTO(lp_adam_f64_avx2) {
    const __m256d b1 = _mm256_set1_pd(beta1), b2 = _mm256_set1_pd(beta2);
    const __m256d a1 = _mm256_set1_pd(1 - beta1), a2 = _mm256_set1_pd(1 - beta2);
    const __m256d vc1 = _mm256_set1_pd(c1), vc2 = _mm256_set1_pd(c2);
    const __m256d vlr = _mm256_set1_pd(lr), veps = _mm256_set1_pd(eps);
    lp_int i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d gi = _mm256_loadu_pd(g + i);
        const __m256d mi = _mm256_add_pd(_mm256_mul_pd(b1, _mm256_loadu_pd(m + i)), _mm256_mul_pd(a1, gi));
        const __m256d vi = _mm256_add_pd(_mm256_mul_pd(b2, _mm256_loadu_pd(v + i)),
                                         _mm256_mul_pd(_mm256_mul_pd(a2, gi), gi));
        const __m256d step = _mm256_div_pd(_mm256_mul_pd(vlr, _mm256_div_pd(mi, vc1)),
                                           _mm256_add_pd(_mm256_sqrt_pd(_mm256_div_pd(vi, vc2)), veps));
        _mm256_storeu_pd(m + i, mi);
        _mm256_storeu_pd(v + i, vi);
        _mm256_storeu_pd(p + i, _mm256_sub_pd(_mm256_loadu_pd(p + i), step));
    }
    for (; i < n; i++) lp_adam_one(lr, beta1, beta2, c1, c2, eps, p + i, g + i, m + i, v + i);
}
