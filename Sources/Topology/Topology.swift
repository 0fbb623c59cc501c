// Topology: hwloc/libnuma topology reports, rank placement plans, binding and NUMA-local allocation.
