// CHwloc: the only place hwloc's C interface is imported (by module Topology).
// Inline hwloc helpers and macros that Swift cannot import get wrappers here.
#ifndef LAYERPAR_CHWLOC_SHIM_H
#define LAYERPAR_CHWLOC_SHIM_H
#include <hwloc.h>

static inline unsigned CHwloc_api_version(void) { return HWLOC_API_VERSION; }
#endif
