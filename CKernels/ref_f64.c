/* Reference kernels in double precision (see ref_template.h). */
#include "layerpar_kernels.h"
#define T double
#define S f64
#include "ref_template.h"
