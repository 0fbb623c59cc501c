// CNuma: the only place libnuma is imported (by module Topology).
// numaif.h provides move_pages(2), used to verify where pages really live.
#ifndef LAYERPAR_CNUMA_SHIM_H
#define LAYERPAR_CNUMA_SHIM_H
#include <numa.h>
#include <numaif.h>
#endif
