/* AVX2+FMA layer kernels in double precision: the template (layer_template.h)
 * in the AVX2 vocabulary (isa_avx2.h, tile 6 rows × 2 ymm). */
#include "layerpar_kernels.h"

#define LP_F64 1
#include "isa_avx2.h"
#include "layer_template.h"
