/*
 * isa_avx512.h — the AVX-512 vocabulary of layer_template.h: 512-bit zmm
 * vectors, lane masks in k registers (__mmask8/16), the register tiles and
 * the blocking. Needs AVX-512 F, DQ, BW and VL (the BW/VL byte masks move
 * ReLU masks in and out of k registers). The includer defines LP_F64 first.
 *
 * Register budget: 32 zmm. Micro-kernel 8 rows × 2 zmm (16 doubles / 32
 * floats) = 16 accumulators + 2 operand vectors; A is broadcast straight
 * from memory into the FMA ({1to8}/{1to16}), so per k: 2 vector loads and
 * 8 broadcast loads feed 16 FMAs — 10 loads per 8 cycles on 2 FMA ports,
 * within 2–3 load ports; sixteen independent chains cover the 4-cycle
 * latency twice over. Rows of a width-16 layer are two whole tiles. Weight
 * gradient 8 rows of G × 2 rows of X = 16 accumulators.
 * Tails need no special loads: masked loads/stores take a k mask, and the
 * masked-off lanes neither fault nor are written.
 */
#include <immintrin.h>

#define LP_ISA avx512
#define LP_TARGET "avx512f,avx512dq,avx512bw,avx512vl"

#if LP_F64
#define T double
#define S f64
#define VT __m512d
#define VI __mmask8
#define VL 8
#define V_LOADU _mm512_loadu_pd
#define V_LOADA _mm512_load_pd
#define V_STOREU _mm512_storeu_pd
#define V_STOREA _mm512_store_pd
#define V_MASKLOAD(p, m) _mm512_maskz_loadu_pd(m, p)
#define V_MASKSTORE(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define V_SET1 _mm512_set1_pd
#define V_BCAST(p) _mm512_set1_pd(*(p))
#define V_FMA _mm512_fmadd_pd
#define V_ADD _mm512_add_pd
#define V_ZERO _mm512_setzero_pd
#define V_POS(z) _mm512_cmp_pd_mask(z, _mm512_setzero_pd(), _CMP_NLE_UQ)
#define V_SEL(p, x) _mm512_maskz_mov_pd(p, x)
/* Halves added, then the AVX2 four-way sum: out[c] = Σ lanes of a_c. */
#define LP_HALF(a) _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1))
#define V_HSUM4(a0, a1, a2, a3, out) do {                                    \
        const __m256d t0_ = _mm256_hadd_pd(LP_HALF(a0), LP_HALF(a1));        \
        const __m256d t1_ = _mm256_hadd_pd(LP_HALF(a2), LP_HALF(a3));        \
        _mm256_storeu_pd(out, _mm256_add_pd(_mm256_permute2f128_pd(t0_, t1_, 0x20), \
                                            _mm256_permute2f128_pd(t0_, t1_, 0x31))); \
    } while (0)
#else
#define T float
#define S f32
#define VT __m512
#define VI __mmask16
#define VL 16
#define V_LOADU _mm512_loadu_ps
#define V_LOADA _mm512_load_ps
#define V_STOREU _mm512_storeu_ps
#define V_STOREA _mm512_store_ps
#define V_MASKLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define V_MASKSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define V_SET1 _mm512_set1_ps
#define V_BCAST(p) _mm512_set1_ps(*(p))
#define V_FMA _mm512_fmadd_ps
#define V_ADD _mm512_add_ps
#define V_ZERO _mm512_setzero_ps
#define V_POS(z) _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_NLE_UQ)
#define V_SEL(p, x) _mm512_maskz_mov_ps(p, x)
#define LP_HALF(a) _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1))
#define V_HSUM4(a0, a1, a2, a3, out) do {                                    \
        const __m256 t0_ = _mm256_hadd_ps(LP_HALF(a0), LP_HALF(a1));         \
        const __m256 t1_ = _mm256_hadd_ps(LP_HALF(a2), LP_HALF(a3));         \
        const __m256 t2_ = _mm256_hadd_ps(t0_, t1_);                         \
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t2_), _mm256_extractf128_ps(t2_, 1))); \
    } while (0)
#endif

/* The first n lanes (0 <= n <= VL). */
#define V_MASK(n) ((VI)((1u << (n)) - 1u))
/* Predicates are k masks. */
#define VP VI

#define LP_ISA_INLINE static inline __attribute__((always_inline, target(LP_TARGET)))
/* Stores p as nl bytes 0/1 (nl = VL if full): one masked byte broadcast. */
LP_ISA_INLINE void lp_isa_stmask(lp_mask *p, VP pos, int full, int nl) {
    const __m128i bytes = _mm_maskz_set1_epi8((__mmask16)pos, 1);
    if (!full) _mm_mask_storeu_epi8(p, (__mmask16)((1u << nl) - 1u), bytes);
    else if (VL == 8) _mm_storel_epi64((__m128i *)p, bytes);
    else _mm_storeu_si128((__m128i *)p, bytes);
}
/* Loads nl mask bytes (nl = VL if full; lanes past nl are false) as a predicate. */
LP_ISA_INLINE VP lp_isa_ldmask(const lp_mask *p, int full, int nl) {
    const __m128i b = !full ? _mm_maskz_loadu_epi8((__mmask16)((1u << nl) - 1u), p)
        : VL == 8 ? _mm_loadl_epi64((const __m128i *)p) : _mm_loadu_si128((const __m128i *)p);
    return (VP)_mm_test_epi8_mask(b, b);
}

#define MR 8          /* rows of A per micro-tile                          */
#define NV 2          /* vectors of batch per micro-tile                   */
#define KC 128        /* k-block: packed panel KC × 2 zmm = 16 KiB         */
#define MC 256        /* row block: W slice MC × KC (≤ 256 KiB, L2)        */
#define PACK_MIN_M 64 /* pack X panels when more row blocks reuse them     */
#define DR 8          /* rows of G per gradient tile                       */
#define DC 2          /* rows of X per gradient tile                       */
#define DK 256        /* rows of X per L2 block in the gradient            */
#define BC 256        /* batch chunk of the gradient (G buffer DR × BC)    */
