/*
 * isa_avx2.h — the AVX2+FMA vocabulary of layer_template.h: 256-bit ymm
 * vectors, lane masks as all-ones/zero vectors, the register tiles and the
 * blocking. The includer defines LP_F64 (1: double, 0: float) first.
 *
 * Register budget: 16 ymm. Micro-kernel 6 rows × 2 ymm (8 doubles / 16
 * floats, as BLIS's Haswell dgemm) = 12 accumulators + 2 operand registers +
 * 1 broadcast = 15 ymm; twelve independent FMA chains cover the 4-cycle FMA
 * latency on 2 FMA pipes. (4 × 12 = 16 live ymm made clang shuffle registers
 * inside the loop: 2× slower.) Weight gradient 6 rows of G × 2 rows of X =
 * 12 accumulators, + 2 X + 1 G = 15 ymm.
 */
#include <immintrin.h>

#define LP_ISA avx2
#define LP_TARGET "avx2,fma"

/* Bit i of `bits` (i < 8) to the low bit of byte i: for a nibble, bit i times
 * 2^(7i) lands at bit 8i, and the 16 products bit i · 2^(7k) fall on distinct
 * bits (i + 7k, i, k < 4), so nothing carries; a byte is two nibbles. */
static inline unsigned long long lp_avx2_spread(unsigned bits) {
    const unsigned lo = ((bits & 15u) * 0x204081u) & 0x01010101u;
    const unsigned hi = (((bits >> 4) & 15u) * 0x204081u) & 0x01010101u;
    return (unsigned long long)lo | (unsigned long long)hi << 32;
}

#if LP_F64
#define T double
#define S f64
#define VT __m256d
#define VI __m256i
#define VL 4
#define V_LOADU _mm256_loadu_pd
#define V_LOADA _mm256_load_pd
#define V_STOREU _mm256_storeu_pd
#define V_STOREA _mm256_store_pd
#define V_MASKLOAD(p, m) _mm256_maskload_pd(p, m)
#define V_MASKSTORE(p, m, v) _mm256_maskstore_pd(p, m, v)
#define V_SET1 _mm256_set1_pd
#define V_BCAST _mm256_broadcast_sd
#define V_FMA _mm256_fmadd_pd
#define V_ADD _mm256_add_pd
#define V_ZERO _mm256_setzero_pd
#define V_CMP _mm256_cmp_pd
#define V_AND _mm256_and_pd
#define V_MOVEMASK _mm256_movemask_pd
/* VL mask bytes (low bytes of the xmm b, 0 or not) to all-ones/zero lanes. */
#define V_MASK_EXPAND(b) _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_cvtepu8_epi64(b), _mm256_setzero_si256()))
#define V_MASK(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(n)), _mm256_setr_epi64x(0, 1, 2, 3))
/* out[c] = Σ lanes of a_c: two hadds give pair sums per 128-bit half, the
 * cross-half add finishes all four at once. */
#define V_HSUM4(a0, a1, a2, a3, out) do {                                    \
        const __m256d t0_ = _mm256_hadd_pd(a0, a1), t1_ = _mm256_hadd_pd(a2, a3); \
        _mm256_storeu_pd(out, _mm256_add_pd(_mm256_permute2f128_pd(t0_, t1_, 0x20), \
                                            _mm256_permute2f128_pd(t0_, t1_, 0x31))); \
    } while (0)
#define KC 256        /* k-block: packed panel KC × 8 doubles = 16 KiB    */
#define MC 256        /* row block: W slice MC × KC doubles = 512 KiB (L2) */
#else
#define T float
#define S f32
#define VT __m256
#define VI __m256i
#define VL 8
#define V_LOADU _mm256_loadu_ps
#define V_LOADA _mm256_load_ps
#define V_STOREU _mm256_storeu_ps
#define V_STOREA _mm256_store_ps
#define V_MASKLOAD(p, m) _mm256_maskload_ps(p, m)
#define V_MASKSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#define V_SET1 _mm256_set1_ps
#define V_BCAST _mm256_broadcast_ss
#define V_FMA _mm256_fmadd_ps
#define V_ADD _mm256_add_ps
#define V_ZERO _mm256_setzero_ps
#define V_CMP _mm256_cmp_ps
#define V_AND _mm256_and_ps
#define V_MOVEMASK _mm256_movemask_ps
#define V_MASK_EXPAND(b) _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_cvtepu8_epi32(b), _mm256_setzero_si256()))
#define V_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
/* out[c] = Σ lanes of a_c: three hadds give the four sums per 128-bit half,
 * one cross-half add finishes them. */
#define V_HSUM4(a0, a1, a2, a3, out) do {                                    \
        const __m256 t0_ = _mm256_hadd_ps(a0, a1), t1_ = _mm256_hadd_ps(a2, a3); \
        const __m256 t2_ = _mm256_hadd_ps(t0_, t1_);                         \
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t2_), _mm256_extractf128_ps(t2_, 1))); \
    } while (0)
#define KC 256        /* k-block: packed panel KC × 16 floats = 16 KiB    */
#define MC 256        /* row block: W slice MC × KC floats = 256 KiB (L2) */
#endif

/* Predicates (which lanes have ReLU'(z) = 1) are all-ones/zero vectors. */
#define VP VT
/* ReLU'(z) lanes: not (z <= 0), so true for NaN. */
#define V_POS(z) V_CMP(z, V_ZERO(), _CMP_NLE_UQ)
/* x where p, +0 elsewhere. */
#define V_SEL(p, x) V_AND(p, x)
#define LP_ISA_INLINE static inline __attribute__((always_inline, target(LP_TARGET)))
/* Stores p as nl bytes 0/1 (nl = VL if full): movemask, then spread the bits. */
LP_ISA_INLINE void lp_isa_stmask(lp_mask *p, VP pos, int full, int nl) {
    const unsigned long long u = lp_avx2_spread((unsigned)V_MOVEMASK(pos));
    if (full) __builtin_memcpy(p, &u, VL);
    else for (int i = 0; i < nl; ++i) p[i] = (lp_mask)(u >> (8 * i));
}
/* Loads nl mask bytes (nl = VL if full; lanes past nl are false) as a predicate. */
LP_ISA_INLINE VP lp_isa_ldmask(const lp_mask *p, int full, int nl) {
    unsigned long long u = 0;
    if (full) __builtin_memcpy(&u, p, VL);
    else for (int i = 0; i < nl; ++i) u |= (unsigned long long)p[i] << (8 * i);
    return V_MASK_EXPAND(_mm_cvtsi64_si128((long long)u));
}

#define MR 6          /* rows of A per micro-tile                          */
#define NV 2          /* vectors of batch per micro-tile                   */
#define PACK_MIN_M 64 /* pack X panels when more row blocks reuse them     */
#define DR 6          /* rows of G per gradient tile                       */
#define DC 2          /* rows of X per gradient tile                       */
#define DK 256        /* rows of X per L2 block in the gradient            */
#define BC 256        /* batch chunk of the gradient (G buffer DR × BC)    */
