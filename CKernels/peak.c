/*
 * peak.c — FMA-throughput and clock-estimation loops (see layerpar_peak.h).
 */
#include "layerpar_peak.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* Twelve chains: an FMA has a latency of 4–5 cycles and modern cores issue
 * two per cycle, so 8–10 chains keep both ports busy; 12 leaves headroom and
 * still fits in the 16 ymm registers with the two operands. */
#define LP_FMA_BODY(V, FMA)                                                    \
    a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c);               \
    a3 = FMA(a3, m, c); a4 = FMA(a4, m, c); a5 = FMA(a5, m, c);               \
    a6 = FMA(a6, m, c); a7 = FMA(a7, m, c); a8 = FMA(a8, m, c);               \
    a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);

__attribute__((target("avx2,fma")))
double lp_peak_fma_f64(long iters) {
    /* The multiplier and addend come through volatiles so the compiler can
     * neither fold the chains nor prove the result unused; m < 1 keeps the
     * accumulators bounded (a fixed point at c/(1-m)), never denormal. */
    volatile double mv = 0.999999, cv = 1e-3;
    __m256d m = _mm256_set1_pd(mv), c = _mm256_set1_pd(cv);
    __m256d a0 = _mm256_set1_pd(0.0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256d a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    for (long i = 0; i < iters; ++i) { LP_FMA_BODY(__m256d, _mm256_fmadd_pd) }
    __m256d s = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)),
                              _mm256_add_pd(_mm256_add_pd(a4, a5), _mm256_add_pd(a6, a7)));
    s = _mm256_add_pd(s, _mm256_add_pd(_mm256_add_pd(a8, a9), _mm256_add_pd(a10, a11)));
    double out[4];
    _mm256_storeu_pd(out, s);
    return out[0] + out[1] + out[2] + out[3];
}

__attribute__((target("avx2,fma")))
float lp_peak_fma_f32(long iters) {
    volatile float mv = 0.9999f, cv = 1e-3f;
    __m256 m = _mm256_set1_ps(mv), c = _mm256_set1_ps(cv);
    __m256 a0 = _mm256_set1_ps(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    for (long i = 0; i < iters; ++i) { LP_FMA_BODY(__m256, _mm256_fmadd_ps) }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

#define LP_ADD8 "addq $1, %0\n\taddq $1, %0\n\taddq $1, %0\n\taddq $1, %0\n\t" \
                "addq $1, %0\n\taddq $1, %0\n\taddq $1, %0\n\taddq $1, %0\n\t"

long lp_peak_add_chain(long iters) {
    long x = 0;
    for (long i = 0; i < iters; ++i) {
        /* 64 adds, each depending on the previous one (LP_PEAK_ADD_CHAIN). */
        __asm__ volatile(LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8
                         : "+r"(x));
    }
    return x;
}

#else /* not x86-64: no AVX2, and no portable one-cycle chain */

double lp_peak_fma_f64(long iters) { (void)iters; return 0.0; }
float lp_peak_fma_f32(long iters) { (void)iters; return 0.0f; }
long lp_peak_add_chain(long iters) { (void)iters; return -1; }

#endif
