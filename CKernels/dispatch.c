/*
 * dispatch.c — run-time choice of kernel family (BLIS-style context table).
 * The table starts as all-reference; the optimized family replaces slots only
 * when the CPU supports it, so no slot is ever NULL.
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

static const lp_kernel_table lp_reference_table = {
    LP_IMPL_REFERENCE,
    lp_resnet_fwd_f64_ref, lp_resnet_fwd_f32_ref,
    lp_resnet_adj_f64_ref, lp_resnet_adj_f32_ref,
    lp_dense_fwd_f64_ref, lp_dense_fwd_f32_ref,
    lp_dense_adj_f64_ref, lp_dense_adj_f32_ref,
    lp_adam_f64_ref,
};

/* Reference slots first, then the AVX2 kernels replace them (every slot here
 * has one); it is used only if lp_cpu_supports_avx2_fma(). */
static const lp_kernel_table lp_avx2_table = {
    LP_IMPL_AVX2,
    lp_resnet_fwd_f64_avx2, lp_resnet_fwd_f32_avx2,
    lp_resnet_adj_f64_avx2, lp_resnet_adj_f32_avx2,
    lp_dense_fwd_f64_avx2, lp_dense_fwd_f32_avx2,
    lp_dense_adj_f64_avx2, lp_dense_adj_f32_avx2,
    lp_adam_f64_avx2,
};

static const lp_kernel_table *lp_active;
static const char *lp_env_error;

int lp_cpu_supports_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static const lp_kernel_table *lp_table_for(lp_impl impl) {
    switch (impl) {
    case LP_IMPL_REFERENCE: return &lp_reference_table;
    case LP_IMPL_AVX2: return lp_cpu_supports_avx2_fma() ? &lp_avx2_table : NULL;
    default: return NULL;
    }
}

lp_impl lp_kernels_family_for_env(const char *value, const char **error) {
    const lp_impl best = lp_cpu_supports_avx2_fma() ? LP_IMPL_AVX2 : LP_IMPL_REFERENCE;
    if (error) *error = NULL;
    if (!value || !*value) return best;
    if (strcmp(value, "reference") == 0) return LP_IMPL_REFERENCE;
    if (strcmp(value, "avx2") == 0) {
        if (best == LP_IMPL_AVX2) return LP_IMPL_AVX2;
        if (error) *error = "LAYERPAR_KERNELS=avx2 but this CPU lacks AVX2+FMA: using 'reference'";
        return best;
    }
    if (error) *error = "LAYERPAR_KERNELS must be 'reference' or 'avx2': using the best supported family";
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
