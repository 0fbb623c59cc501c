// CXSMM: LIBXSMM, used only as a benchmark baseline for small GEMMs.
// Debian ships LIBXSMM as a static library that also needs OpenBLAS at link
// time. Its JIT kernel pointer types are variadic, so Swift cannot call them:
// the benchmark calls them through the static inline functions below, which
// pass kernels around as opaque `const void *`.
//
// LIBXSMM is column-major: C(m×n) = A(m×k)·B(k×n) (+ C if beta = 1), with
// element (i, j) of A at A[i + j*lda]. Its JIT (1.17) supports alpha = 1,
// beta ∈ {0, 1}, and transposing B but not A.
//
// VZEROUPPER. LIBXSMM 1.17's JIT kernels (AVX-512 on this project's machines)
// return with the upper halves of the vector registers dirty. Until some code
// executes vzeroupper, every legacy-SSE instruction that follows — Swift's
// baseline x86-64 code, the epilogue loop of the unfused baseline, even
// unrelated code — runs several times slower (measured ≈ 3.5× on the loop
// after a 16×64 GEMM). Compiled code (OpenBLAS, our kernels) clears the state
// on return; the call wrappers below do it for LIBXSMM (unless asked not to),
// as a careful caller must, so the baseline is not penalised by accident.
#ifndef LAYERPAR_CXSMM_SHIM_H
#define LAYERPAR_CXSMM_SHIM_H
#include <libxsmm.h>

/** Initialises LIBXSMM (idempotent). */
static inline void lp_xsmm_init(void) { libxsmm_init(); }

/** The instruction set LIBXSMM generates code for (e.g. "hsw", "skx"). */
static inline const char *lp_xsmm_target_arch(void) { return libxsmm_get_target_arch(); }

/** JIT-dispatches C = A·op(B) (+ C if accumulate), op(B) = Bᵀ if transB, for
 *  exactly this shape; NULL if LIBXSMM cannot generate it. */
static inline const void *lp_xsmm_dispatch_f64(int m, int n, int k, int lda, int ldb, int ldc,
                                               int accumulate, int transB) {
    const libxsmm_blasint lm = m, ln = n, lk = k, la = lda, lb = ldb, lc = ldc;
    const double alpha = 1.0, beta = accumulate ? 1.0 : 0.0;
    const int flags = transB ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
    const int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    libxsmm_dmmfunction f = libxsmm_dmmdispatch(lm, ln, lk, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
    return (const void *)f;
}

static inline const void *lp_xsmm_dispatch_f32(int m, int n, int k, int lda, int ldb, int ldc,
                                               int accumulate, int transB) {
    const libxsmm_blasint lm = m, ln = n, lk = k, la = lda, lb = ldb, lc = ldc;
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    const int flags = transB ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
    const int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    libxsmm_smmfunction f = libxsmm_smmdispatch(lm, ln, lk, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
    return (const void *)f;
}

/** Clears the upper vector-register state left by a JIT kernel (no-op without AVX). */
static inline void lp_xsmm_vzeroupper(void) {
    if (__builtin_cpu_supports("avx")) __asm__ volatile("vzeroupper" ::: "memory");
}

/** Calls a kernel returned by lp_xsmm_dispatch_f64, then clears the upper state if asked. */
static inline void lp_xsmm_call_f64(const void *kernel, const double *a, const double *b, double *c,
                                    int vzeroupper) {
    ((libxsmm_dmmfunction)kernel)(a, b, c);
    if (vzeroupper) lp_xsmm_vzeroupper();
}

/** Calls a kernel returned by lp_xsmm_dispatch_f32, then clears the upper state if asked. */
static inline void lp_xsmm_call_f32(const void *kernel, const float *a, const float *b, float *c,
                                    int vzeroupper) {
    ((libxsmm_smmfunction)kernel)(a, b, c);
    if (vzeroupper) lp_xsmm_vzeroupper();
}
#endif
