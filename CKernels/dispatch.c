/*
 * dispatch.c — run-time choice of kernel family (BLIS-style context table).
 * One table per family, each with every slot filled; a family's table is
 * used only when the CPU supports it. The default is the widest supported
 * family (a fixed rule, so all ranks on one kind of node agree).
 */
#include <stdlib.h>
#include <string.h>
#include "layerpar_kernels.h"

typedef struct lp_kernel_table {
    lp_impl impl;
    LP_RESNET_FWD_PROTO(double, (*resnet_fwd_f64));
    LP_RESNET_FWD_PROTO(float, (*resnet_fwd_f32));
    LP_RESNET_ADJ_PROTO(double, (*resnet_adj_f64));
    LP_RESNET_ADJ_PROTO(float, (*resnet_adj_f32));
    LP_DENSE_FWD_PROTO(double, (*dense_fwd_f64));
    LP_DENSE_FWD_PROTO(float, (*dense_fwd_f32));
    LP_DENSE_ADJ_PROTO(double, (*dense_adj_f64));
    LP_DENSE_ADJ_PROTO(float, (*dense_adj_f32));
    LP_ADAM_PROTO((*adam_f64));
} lp_kernel_table;

#define LP_TABLE(IMPL, SUFFIX)                                               \
    {                                                                        \
        IMPL,                                                                \
        lp_resnet_fwd_f64##SUFFIX, lp_resnet_fwd_f32##SUFFIX,                \
        lp_resnet_adj_f64##SUFFIX, lp_resnet_adj_f32##SUFFIX,                \
        lp_dense_fwd_f64##SUFFIX, lp_dense_fwd_f32##SUFFIX,                  \
        lp_dense_adj_f64##SUFFIX, lp_dense_adj_f32##SUFFIX,                  \
        lp_adam_f64##SUFFIX,                                                 \
    }
static const lp_kernel_table lp_reference_table = LP_TABLE(LP_IMPL_REFERENCE, _ref);
static const lp_kernel_table lp_avx2_table = LP_TABLE(LP_IMPL_AVX2, _avx2);
static const lp_kernel_table lp_avx512_table = LP_TABLE(LP_IMPL_AVX512, _avx512);

static const lp_kernel_table *lp_active;
static const char *lp_env_error;

int lp_cpu_supports_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* XCR0 bits the OS must enable for zmm state: SSE (1), AVX (2), opmask (5),
 * ZMM_Hi256 (6), Hi16_ZMM (7). CPUID.1:ECX.OSXSAVE (bit 27) says XGETBV exists. */
static int lp_os_saves_zmm(void) {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
    if (!(ecx & (1u << 27))) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xE6u) == 0xE6u;
#else
    return 0;
#endif
}

int lp_cpu_supports_avx512(void) {
    __builtin_cpu_init();
    return lp_cpu_supports_avx2_fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && lp_os_saves_zmm();
}

static int lp_supported(lp_impl impl) {
    switch (impl) {
    case LP_IMPL_REFERENCE: return 1;
    case LP_IMPL_AVX2: return lp_cpu_supports_avx2_fma();
    case LP_IMPL_AVX512: return lp_cpu_supports_avx512();
    default: return 0;
    }
}

static const lp_kernel_table *lp_table_for(lp_impl impl) {
    if (!lp_supported(impl)) return NULL;
    switch (impl) {
    case LP_IMPL_REFERENCE: return &lp_reference_table;
    case LP_IMPL_AVX2: return &lp_avx2_table;
    case LP_IMPL_AVX512: return &lp_avx512_table;
    default: return NULL;
    }
}

lp_impl lp_kernels_family_for_env(const char *value, const char **error) {
    const lp_impl best = lp_supported(LP_IMPL_AVX512) ? LP_IMPL_AVX512
        : lp_supported(LP_IMPL_AVX2) ? LP_IMPL_AVX2 : LP_IMPL_REFERENCE;
    if (error) *error = NULL;
    if (!value || !*value) return best;
    if (strcmp(value, "reference") == 0) return LP_IMPL_REFERENCE;
    if (strcmp(value, "avx2") == 0) {
        if (lp_supported(LP_IMPL_AVX2)) return LP_IMPL_AVX2;
        if (error) *error = "LAYERPAR_KERNELS=avx2 but this CPU lacks AVX2+FMA: using 'reference'";
        return best;
    }
    if (strcmp(value, "avx512") == 0) {
        if (lp_supported(LP_IMPL_AVX512)) return LP_IMPL_AVX512;
        if (error) *error = best == LP_IMPL_AVX2
            ? "LAYERPAR_KERNELS=avx512 but this CPU (or OS) lacks AVX-512 F/DQ/BW/VL: using 'avx2'"
            : "LAYERPAR_KERNELS=avx512 but this CPU (or OS) lacks AVX-512 F/DQ/BW/VL: using 'reference'";
        return best;
    }
    if (error) *error = "LAYERPAR_KERNELS must be 'reference', 'avx2' or 'avx512': using the best supported family";
    return best;
}

static const lp_kernel_table *lp_table(void) {
    const lp_kernel_table *t = __atomic_load_n(&lp_active, __ATOMIC_ACQUIRE);
    if (t) return t;
    const char *error = NULL;
    t = lp_table_for(lp_kernels_family_for_env(getenv("LAYERPAR_KERNELS"), &error));
    lp_env_error = error;
    __atomic_store_n(&lp_active, t, __ATOMIC_RELEASE);
    return t;
}

lp_impl lp_kernels_active(void) { return lp_table()->impl; }

int lp_kernels_select(lp_impl impl) {
    const lp_kernel_table *t = lp_table_for(impl);
    if (!t) return -1;
    __atomic_store_n(&lp_active, t, __ATOMIC_RELEASE);
    return 0;
}

const char *lp_impl_name(lp_impl impl) {
    switch (impl) {
    case LP_IMPL_REFERENCE: return "reference";
    case LP_IMPL_AVX2: return "avx2";
    case LP_IMPL_AVX512: return "avx512";
    default: return NULL;
    }
}

const char *lp_kernels_env_error(void) { (void)lp_table(); return lp_env_error; }

LP_RESNET_FWD_PROTO(double, lp_resnet_fwd_f64) {
    lp_table()->resnet_fwd_f64(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm);
}
LP_RESNET_FWD_PROTO(float, lp_resnet_fwd_f32) {
    lp_table()->resnet_fwd_f32(w, B, beta, W, ldw, b, X, ldx, Y, ldy, Z, ldz, M, ldm);
}
LP_RESNET_ADJ_PROTO(double, lp_resnet_adj_f64) {
    lp_table()->resnet_adj_f64(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db);
}
LP_RESNET_ADJ_PROTO(float, lp_resnet_adj_f32) {
    lp_table()->resnet_adj_f32(w, B, beta, W, ldw, X, ldx, Z, ldz, M, ldm, Lp, ldlp, L, ldl, dW, lddw, db);
}
LP_DENSE_FWD_PROTO(double, lp_dense_fwd_f64) {
    lp_table()->dense_fwd_f64(m, n, B, act, W, ldw, b, X, ldx, Y, ldy, Z, ldz);
}
LP_DENSE_FWD_PROTO(float, lp_dense_fwd_f32) {
    lp_table()->dense_fwd_f32(m, n, B, act, W, ldw, b, X, ldx, Y, ldy, Z, ldz);
}
LP_DENSE_ADJ_PROTO(double, lp_dense_adj_f64) {
    lp_table()->dense_adj_f64(m, n, B, act, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db);
}
LP_DENSE_ADJ_PROTO(float, lp_dense_adj_f32) {
    lp_table()->dense_adj_f32(m, n, B, act, W, ldw, X, ldx, Z, ldz, Lout, ldlo, Lin, ldli, dW, lddw, db);
}
LP_ADAM_PROTO(lp_adam_f64) {
    lp_table()->adam_f64(n, lr, beta1, beta2, c1, c2, eps, p, g, m, v);
}
