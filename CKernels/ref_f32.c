/* Reference kernels in single precision (see ref_template.h). */
#include "layerpar_kernels.h"
#define T float
#define S f32
#include "ref_template.h"
