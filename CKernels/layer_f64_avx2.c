/* AVX2+FMA layer kernels in double precision (see avx2_template.h):
 * micro-kernel 6 rows × 8 doubles (2 ymm) in 12 ymm accumulators;
 * weight-gradient kernel 6 rows of G × 2 rows of X in 12 ymm accumulators. */
#include <immintrin.h>
#include "layerpar_kernels.h"

#define T double
#define S f64
#define VT __m256d
#define VI __m256i
#define VL 4
#define V_LOADU _mm256_loadu_pd
#define V_LOADA _mm256_load_pd
#define V_STOREU _mm256_storeu_pd
#define V_STOREA _mm256_store_pd
#define V_MASKLOAD _mm256_maskload_pd
#define V_MASKSTORE _mm256_maskstore_pd
#define V_SET1 _mm256_set1_pd
#define V_BCAST _mm256_broadcast_sd
#define V_FMA _mm256_fmadd_pd
#define V_ADD _mm256_add_pd
#define V_AND _mm256_and_pd
#define V_CMP _mm256_cmp_pd
#define V_ZERO _mm256_setzero_pd
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

#define MR 6          /* rows of A per micro-tile                         */
#define NV 2          /* ymm vectors of batch per micro-tile (8 doubles) */
#define KC 256        /* k-block: packed panel KC × 8 doubles = 16 KiB   */
#define MC 256        /* row block: W slice MC × KC doubles = 512 KiB (L2) */
#define PACK_MIN_M 64 /* pack X panels when more row blocks reuse them    */
#define DR 6          /* rows of G per gradient tile                      */
#define DC 2          /* rows of X per gradient tile                      */
#define DK 256        /* rows of X per L2 block in the gradient           */
#define BC 256        /* batch chunk of the gradient (G buffer DR × BC)   */

#include "avx2_template.h"
