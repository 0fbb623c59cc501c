// CNuma: the only place libnuma is imported (by module Topology).
// numaif.h provides move_pages(2), used to verify where pages really live.
#ifndef LAYERPAR_CNUMA_SHIM_H
#define LAYERPAR_CNUMA_SHIM_H
#include <numa.h>
#include <numaif.h>

// MPOL_MF_MOVE and friends are plain macros Swift imports; move_pages with a
// NULL node array only queries, which is what CNuma_query_pages names: it
// fills status[i] with the node of pages[i] or a negative errno (-ENOENT if
// the page was never touched). Kept as a named wrapper so the query-only use
// (nodes == NULL, flags == 0) is explicit at the call site.
static inline long CNuma_query_pages(unsigned long count, void **pages, int *status) {
    return move_pages(0, count, pages, NULL, status, 0);
}
#endif
