/* AVX2+FMA layer kernels in single precision (see avx2_template.h):
 * micro-kernel 6 rows × 16 floats (2 ymm) in 12 ymm accumulators;
 * weight-gradient kernel 6 rows of G × 2 rows of X in 12 ymm accumulators. */
#include <immintrin.h>
#include "layerpar_kernels.h"

#define T float
#define S f32
#define VT __m256
#define VI __m256i
#define VL 8
#define V_LOADU _mm256_loadu_ps
#define V_LOADA _mm256_load_ps
#define V_STOREU _mm256_storeu_ps
#define V_STOREA _mm256_store_ps
#define V_MASKLOAD _mm256_maskload_ps
#define V_MASKSTORE _mm256_maskstore_ps
#define V_SET1 _mm256_set1_ps
#define V_BCAST _mm256_broadcast_ss
#define V_FMA _mm256_fmadd_ps
#define V_ADD _mm256_add_ps
#define V_AND _mm256_and_ps
#define V_CMP _mm256_cmp_ps
#define V_ZERO _mm256_setzero_ps
#define V_MOVEMASK _mm256_movemask_ps
/* VL mask bytes (low bytes of the xmm b, 0 or not) to all-ones/zero lanes. */
#define V_MASK_EXPAND(b) _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_cvtepu8_epi32(b), _mm256_setzero_si256()))
#define V_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
/* out[c] = Σ lanes of a_c: three hadds give the four sums per 128-bit half,
 * one cross-half add finishes them. */
#define V_HSUM4(a0, a1, a2, a3, out) do {                                    \
        const __m256 t0_ = _mm256_hadd_ps(a0, a1), t1_ = _mm256_hadd_ps(a2, a3); \
        const __m256 t2_ = _mm256_hadd_ps(t0_, t1_);                         \
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(t2_), _mm256_extractf128_ps(t2_, 1))); \
    } while (0)

#define MR 6          /* rows of A per micro-tile                         */
#define NV 2          /* ymm vectors of batch per micro-tile (16 floats) */
#define KC 256        /* k-block: packed panel KC × 16 floats = 16 KiB   */
#define MC 256        /* row block: W slice MC × KC floats = 256 KiB (L2) */
#define PACK_MIN_M 64 /* pack X panels when more row blocks reuse them    */
#define DR 6          /* rows of G per gradient tile                      */
#define DC 2          /* rows of X per gradient tile                      */
#define DK 256        /* rows of X per L2 block in the gradient           */
#define BC 256        /* batch chunk of the gradient (G buffer DR × BC)   */

#include "avx2_template.h"
