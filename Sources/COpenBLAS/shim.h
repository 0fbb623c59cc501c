// COpenBLAS: the only place OpenBLAS's C interface is imported.
// Debian's libopenblas-dev puts cblas.h under an include directory that
// pkg-config (`openblas`) names; we re-export CBLAS plus OpenBLAS's own
// threading controls, which benchmarks use to stay single-threaded.
#ifndef LAYERPAR_COPENBLAS_SHIM_H
#define LAYERPAR_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
