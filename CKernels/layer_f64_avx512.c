/* AVX-512 layer kernels in double precision: the template (layer_template.h)
 * in the AVX-512 vocabulary (isa_avx512.h, tile 8 rows × 2 zmm). Called only
 * when lp_cpu_supports_avx512() says the CPU and the OS have it. */
#include "layerpar_kernels.h"

#define LP_F64 1
#include "isa_avx512.h"
#include "layer_template.h"
