/*
 * peak.c — FMA-throughput and clock-estimation loops (see layerpar_peak.h).
 */
#include "layerpar_peak.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* Twelve chains: an FMA has a latency of 4–5 cycles and modern cores issue
 * two per cycle, so 8–10 chains keep both ports busy; 12 leaves headroom and
 * still fits in the 16 ymm registers with the two operands (32 zmm). */
#define LP_FMA_BODY(V, FMA)                                                    \
    a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c);               \
    a3 = FMA(a3, m, c); a4 = FMA(a4, m, c); a5 = FMA(a5, m, c);               \
    a6 = FMA(a6, m, c); a7 = FMA(a7, m, c); a8 = FMA(a8, m, c);               \
    a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);

/* One FMA loop per vector width and precision: V the vector type, VL lanes,
 * X the intrinsic prefix (_mm256_ or _mm512_), P the suffix (pd or ps). The
 * multiplier and addend come through volatiles so the compiler can neither
 * fold the chains nor prove the result unused; m < 1 keeps the accumulators
 * bounded (a fixed point at c/(1-m)), never denormal. */
#define LP_X_(X, op) X##op
#define LP_X(X, op) LP_X_(X, op)
#define LP_PEAK_LOOP(NAME, TARGET, ST, MV, V, VL, X, P)                        \
    __attribute__((target(TARGET))) ST NAME(long iters) {                      \
        volatile ST mv = MV, cv = (ST)1e-3;                                    \
        V m = LP_X(X, set1_##P)(mv), c = LP_X(X, set1_##P)(cv);                \
        V a0 = LP_X(X, setzero_##P)(), a1 = a0, a2 = a0, a3 = a0, a4 = a0;     \
        V a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;     \
        for (long i = 0; i < iters; ++i) { LP_FMA_BODY(V, LP_X(X, fmadd_##P)) } \
        V s = LP_X(X, add_##P)(LP_X(X, add_##P)(LP_X(X, add_##P)(a0, a1), LP_X(X, add_##P)(a2, a3)), \
                               LP_X(X, add_##P)(LP_X(X, add_##P)(a4, a5), LP_X(X, add_##P)(a6, a7))); \
        s = LP_X(X, add_##P)(s, LP_X(X, add_##P)(LP_X(X, add_##P)(a8, a9), LP_X(X, add_##P)(a10, a11))); \
        ST out[VL], r = 0;                                                     \
        LP_X(X, storeu_##P)(out, s);                                           \
        for (int i = 0; i < VL; ++i) r += out[i];                              \
        return r;                                                              \
    }

LP_PEAK_LOOP(lp_peak_fma_f64, "avx2,fma", double, 0.999999, __m256d, 4, _mm256_, pd)
LP_PEAK_LOOP(lp_peak_fma_f32, "avx2,fma", float, 0.9999f, __m256, 8, _mm256_, ps)
LP_PEAK_LOOP(lp_peak_fma512_f64, "avx512f", double, 0.999999, __m512d, 8, _mm512_, pd)
LP_PEAK_LOOP(lp_peak_fma512_f32, "avx512f", float, 0.9999f, __m512, 16, _mm512_, ps)

/* Register + register adds: Intel cores since Golden Cove fold chains of
 * add-immediate at rename (several per cycle), which would read as a clock
 * of twice the real one; an add of a register takes an ALU cycle everywhere. */
#define LP_ADD8 "addq %1, %0\n\taddq %1, %0\n\taddq %1, %0\n\taddq %1, %0\n\t" \
                "addq %1, %0\n\taddq %1, %0\n\taddq %1, %0\n\taddq %1, %0\n\t"

long lp_peak_add_chain(long iters) {
    long x = 0, one = 1;
    for (long i = 0; i < iters; ++i) {
        /* 64 adds, each depending on the previous one (LP_PEAK_ADD_CHAIN). */
        __asm__ volatile(LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8 LP_ADD8
                         : "+r"(x) : "r"(one));
    }
    return x;
}

#else /* not x86-64: no AVX2, and no portable one-cycle chain */

double lp_peak_fma_f64(long iters) { (void)iters; return 0.0; }
float lp_peak_fma_f32(long iters) { (void)iters; return 0.0f; }
double lp_peak_fma512_f64(long iters) { (void)iters; return 0.0; }
float lp_peak_fma512_f32(long iters) { (void)iters; return 0.0f; }
long lp_peak_add_chain(long iters) { (void)iters; return -1; }

#endif
