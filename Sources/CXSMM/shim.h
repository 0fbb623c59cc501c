// CXSMM: LIBXSMM, used only as a benchmark baseline for small GEMMs.
// Debian ships LIBXSMM as a static library that also needs OpenBLAS at link
// time. Its JIT kernel pointer types are variadic, so Swift cannot call them:
// the benchmark calls them through static inline functions added here.
#ifndef LAYERPAR_CXSMM_SHIM_H
#define LAYERPAR_CXSMM_SHIM_H
#include <libxsmm.h>
#endif
