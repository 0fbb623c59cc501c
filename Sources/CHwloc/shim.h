// CHwloc: the only place hwloc's C interface is imported (by module Topology).
// Inline hwloc helpers and macros that Swift cannot import get wrappers here,
// each prefixed CHwloc_ and commented with the reason it exists.
#ifndef LAYERPAR_CHWLOC_SHIM_H
#define LAYERPAR_CHWLOC_SHIM_H
#include <hwloc.h>
#include <stdint.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

// HWLOC_API_VERSION is a preprocessor constant of the headers we compiled
// against; Swift imports only simple literal macros, and this one is an
// expression in some hwloc releases.
static inline unsigned CHwloc_api_version(void) { return HWLOC_API_VERSION; }

// HWLOC_VERSION ("2.9.0") is the release of the headers we built against; the
// library offers only hwloc_get_api_version() at run time, which stays at the
// API level (0x20800 for 2.8–2.9) and so cannot name the release.
static inline const char *CHwloc_release_version(void) { return HWLOC_VERSION; }

// The attribute union of an object is reached through a pointer to an
// anonymous-member union; these accessors keep Topology free of union layout
// details and return 0 when the object carries no such attribute.
static inline uint64_t CHwloc_obj_cache_size(hwloc_obj_t obj) {
    return (obj && obj->attr && hwloc_obj_type_is_cache(obj->type)) ? obj->attr->cache.size : 0;
}
static inline unsigned CHwloc_obj_cache_depth(hwloc_obj_t obj) {
    return (obj && obj->attr && hwloc_obj_type_is_cache(obj->type)) ? obj->attr->cache.depth : 0;
}
static inline int CHwloc_obj_cache_type(hwloc_obj_t obj) {
    return (obj && obj->attr && hwloc_obj_type_is_cache(obj->type)) ? (int)obj->attr->cache.type : -1;
}
static inline uint64_t CHwloc_obj_numanode_memory(hwloc_obj_t obj) {
    return (obj && obj->attr && obj->type == HWLOC_OBJ_NUMANODE) ? obj->attr->numanode.local_memory : 0;
}

// sched_getcpu(3) is declared by <sched.h> only under _GNU_SOURCE, which the
// Swift Glibc module does not define; the current CPU is how binding is checked.
extern int sched_getcpu(void);
static inline int CHwloc_current_cpu(void) { return sched_getcpu(); }

// ISA features of the CPU this process runs on. hwloc does not report them,
// and __builtin_cpu_supports needs a string literal per feature and libgcc's
// __cpu_model, so read CPUID directly (as __builtin_cpu_supports does) and
// check with XGETBV that the OS saves the wider registers (otherwise the
// instructions fault even if CPUID lists them).
typedef struct {
    int avx, avx2, fma, avx512f;
    unsigned family, model;
    int isAMD, isIntel;
} CHwloc_cpu_features;

static inline CHwloc_cpu_features CHwloc_read_cpu_features(void) {
    CHwloc_cpu_features f = {0, 0, 0, 0, 0, 0, 0, 0};
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    unsigned maxLeaf = a;
    f.isIntel = (b == 0x756e6547u);              // "Genu"ineIntel
    f.isAMD = (b == 0x68747541u);                // "Auth"enticAMD
    __get_cpuid(1, &a, &b, &c, &d);
    unsigned baseFamily = (a >> 8) & 0xf, baseModel = (a >> 4) & 0xf;
    f.family = baseFamily == 0xf ? baseFamily + ((a >> 20) & 0xff) : baseFamily;
    f.model = (baseFamily == 0xf || baseFamily == 0x6) ? (((a >> 16) & 0xf) << 4) | baseModel : baseModel;
    int osxsave = (c >> 27) & 1;
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((unsigned long long)hi << 32) | lo;
    }
    int osAVX = osxsave && (xcr0 & 0x6) == 0x6;            // XMM and YMM state
    int osAVX512 = osAVX && (xcr0 & 0xe0) == 0xe0;          // opmask, ZMM_Hi256, Hi16_ZMM
    f.avx = osAVX && ((c >> 28) & 1);
    f.fma = osAVX && ((c >> 12) & 1);
    if (maxLeaf >= 7) {
        __get_cpuid_count(7, 0, &a, &b, &c, &d);
        f.avx2 = osAVX && ((b >> 5) & 1);
        f.avx512f = osAVX512 && ((b >> 16) & 1);
    }
#endif
    return f;
}
#endif
