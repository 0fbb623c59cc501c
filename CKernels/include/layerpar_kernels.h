/*
 * layerpar_kernels.h — fused dense-layer kernels of LayerParallel.
 *
 * The ResNet step of the paper (eq. 2–3):  x⁺ = x + β·ReLU(W x + b),
 * its transposed linearisation (the backward/adjoint pass), and the plain
 * dense layers that open (input → width, ReLU) and close (width → output,
 * identity) the network.
 *
 * LAYOUT (decided once, here). A batch of B samples of width w is a w×B
 * matrix stored feature-major with the batch contiguous: element
 * (feature i, sample j) is X[i*ldx + j], ldx >= B. SIMD lanes therefore run
 * over samples, so any width — 6 inputs, 1 output, 17 neurons — vectorises
 * fully, and bias and ReLU are applied to whole vectors of one feature.
 * Weights are row-major: W[i*ldw + k] is the weight from input k to output i,
 * ldw >= number of inputs. Biases are contiguous vectors.
 *
 * ALIGNMENT. None is required: kernels use unaligned loads. The Kernels
 * module allocates 64-byte-aligned buffers with leading dimensions rounded up
 * to a whole cache line (8 doubles / 16 floats), which the optimized kernels
 * run fastest on, plus one line when the row stride would be a multiple of
 * 1 KiB (such strides alias rows onto few L1 sets: ~12 % slower).
 *
 * CONVENTIONS.
 *  - ReLU(z) = (z <= 0) ? 0 : z, so NaN propagates (it is not clamped to 0);
 *    ReLU'(z)·λ = (z <= 0) ? 0 : λ (the derivative at exactly 0 is 0).
 *  - Sizes of 0 are valid and do nothing (accumulators are left untouched).
 *  - Outputs must not overlap inputs unless stated.
 *  - Kernels allocate nothing, keep no state, do no I/O, and are thread-safe.
 *    The SIMD kernels pack operand panels into stack buffers (at most about
 *    17 KiB of stack per call), see CKernels/layer_template.h for the blocking.
 *  - Results of the SIMD and reference kernels agree to rounding (summation
 *    order and FMA contraction differ), not bitwise. The AVX2 and AVX-512
 *    forward results are bitwise equal (each output is the same FMA chain
 *    along k from the bias); weight and bias gradients, summed over the batch
 *    in 4/8 (AVX2) or 8/16 (AVX-512) lanes, agree to rounding.
 *  - Every kernel exists as `NAME_ref` (plain C, the oracle), `NAME_avx2`
 *    (AVX2+FMA; call only when lp_cpu_supports_avx2_fma()) and `NAME_avx512`
 *    (AVX-512 F/DQ/BW/VL; only when lp_cpu_supports_avx512()), and as `NAME`,
 *    which calls the implementation chosen at run time (see lp_kernels_*).
 */
#ifndef LAYERPAR_KERNELS_H
#define LAYERPAR_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Sizes and leading dimensions (a Swift `Int`). */
typedef ptrdiff_t lp_int;

/** One entry of a ReLU mask: 1 where ReLU'(z) = 1, else 0 (see lp_resnet_fwd). */
typedef unsigned char lp_mask;

/** Activation of a dense (non-residual) layer. */
typedef enum lp_activation {
    LP_ACT_IDENTITY = 0,
    LP_ACT_RELU = 1,
} lp_activation;

/** Kernel implementation families. */
typedef enum lp_impl {
    LP_IMPL_REFERENCE = 0,
    LP_IMPL_AVX2 = 1,
    LP_IMPL_AVX512 = 2,
} lp_impl;

/*
 * Prototypes come from one macro per kernel so that the reference, the
 * optimized and the dispatching variants cannot drift apart.
 *
 * lp_resnet_fwd — hidden residual layer, forward (w inputs = w outputs):
 *     Z = W X + b·1ᵀ                      (stored only if Z != NULL)
 *     M = ReLU'(Z) = not(Z <= 0)          (stored only if M != NULL)
 *     Y = X + β·ReLU(Z)
 *   W: w×w, b: w, X, Y, Z: w×B. M: w×B bytes (lp_mask, 0 or 1), element
 *   (i, j) at M[i*ldm + j], ldm >= B, the same feature-major layout. Y must
 *   not overlap X, W, b, Z or M. M is 1 for a NaN pre-activation, exactly
 *   as ReLU' treats it (so a mask gives the bits of Z in the adjoint); it is
 *   the 1/8 of Z's memory traffic (f64) that the adjoint needs.
 *
 * lp_resnet_adj — hidden residual layer, transposed (adjoint) step at the
 * linearisation point Z (the pre-activation of the forward step), or at its
 * mask M from lp_resnet_fwd, given the adjoint Λ⁺ at the layer output:
 *     G  = ReLU'(Z) ⊙ Λ⁺, or M ⊙ Λ⁺       (never stored)
 *     Λ  = Λ⁺ + β·Wᵀ G                    (if L != NULL; overwritten)
 *     dW += β·G Xᵀ                        (if dW != NULL; accumulated)
 *     db += β·G 1                         (if db != NULL; accumulated)
 *   X is the layer input (used only for dW; may be NULL if dW == NULL).
 *   If M != NULL, G is formed from M and Z is not read (may be NULL); G, and
 *   so every output, is then bit for bit the one from the Z it came from.
 *
 * lp_dense_fwd — dense layer with m outputs and n inputs:
 *     Z = W X + b·1ᵀ (stored only if Z != NULL), Y = act(Z)
 *   W: m×n, b: m, X: n×B, Y, Z: m×B. For LP_ACT_IDENTITY, Y = Z.
 *
 * lp_dense_adj — its transpose, given the adjoint Λout (m×B) at the output:
 *     G    = act'(Z) ⊙ Λout               (Z unused for identity, may be NULL)
 *     Λin  = Wᵀ G                         (n×B, if Lin != NULL; overwritten)
 *     dW  += G Xᵀ                         (if dW != NULL; accumulated)
 *     db  += G 1                          (if db != NULL; accumulated)
 */
#define LP_RESNET_FWD_PROTO(T, NAME)                                         \
    void NAME(lp_int w, lp_int B, T beta, const T *W, lp_int ldw,            \
              const T *b, const T *X, lp_int ldx, T *Y, lp_int ldy,          \
              T *Z, lp_int ldz, lp_mask *M, lp_int ldm)
#define LP_RESNET_ADJ_PROTO(T, NAME)                                         \
    void NAME(lp_int w, lp_int B, T beta, const T *W, lp_int ldw,            \
              const T *X, lp_int ldx, const T *Z, lp_int ldz,                \
              const lp_mask *M, lp_int ldm,                                  \
              const T *Lp, lp_int ldlp, T *L, lp_int ldl,                    \
              T *dW, lp_int lddw, T *db)
#define LP_DENSE_FWD_PROTO(T, NAME)                                          \
    void NAME(lp_int m, lp_int n, lp_int B, lp_activation act,               \
              const T *W, lp_int ldw, const T *b, const T *X, lp_int ldx,    \
              T *Y, lp_int ldy, T *Z, lp_int ldz)
#define LP_DENSE_ADJ_PROTO(T, NAME)                                          \
    void NAME(lp_int m, lp_int n, lp_int B, lp_activation act,               \
              const T *W, lp_int ldw, const T *X, lp_int ldx,                \
              const T *Z, lp_int ldz, const T *Lout, lp_int ldlo,            \
              T *Lin, lp_int ldli, T *dW, lp_int lddw, T *db)

/*
 * lp_adam_f64 — one Adam step (Kingma & Ba 2015) on n parameters, element-wise:
 *     m = β₁·m + (1−β₁)·g,   v = β₂·v + (1−β₂)·g·g,
 *     p = p − (s·m) / (√v·r + ε),   s = lr/c₁,  r = 1/√c₂
 *   — lr·m̂/(√v̂ + ε) with m̂ = m/c₁, v̂ = v/c₂, the bias corrections folded
 *   into two scalars so each parameter costs one division and one square
 *   root — with c₁ = 1−β₁ᵗ, c₂ = 1−β₂ᵗ from the caller. Each
 *   operation is rounded once, in this order, and none is contracted into an
 *   FMA: every implementation gives the bits of the plain scalar loop (an
 *   optimiser step must not depend on the CPU, or resumed runs would drift).
 *   p, m, v: n each, updated in place; g: n.
 */
#define LP_ADAM_PROTO(NAME)                                                  \
    void NAME(lp_int n, double lr, double beta1, double beta2, double c1,    \
              double c2, double eps, double *p, const double *g, double *m,  \
              double *v)

/*
 * lp_all_finite_f64 — 1 if none of x[0..n) is a NaN or an infinity, else 0
 *   (the per-step check of a gradient before the optimiser uses it; one pass,
 *   the same on every CPU).
 */
int lp_all_finite_f64(lp_int n, const double *x);

/* One declaration set per implementation suffix: `` (dispatching), _ref, _avx2, _avx512. */
#define LP_DECLARE_KERNELS(SUFFIX)                                           \
    LP_RESNET_FWD_PROTO(double, lp_resnet_fwd_f64##SUFFIX);                  \
    LP_RESNET_FWD_PROTO(float, lp_resnet_fwd_f32##SUFFIX);                   \
    LP_RESNET_ADJ_PROTO(double, lp_resnet_adj_f64##SUFFIX);                  \
    LP_RESNET_ADJ_PROTO(float, lp_resnet_adj_f32##SUFFIX);                   \
    LP_DENSE_FWD_PROTO(double, lp_dense_fwd_f64##SUFFIX);                    \
    LP_DENSE_FWD_PROTO(float, lp_dense_fwd_f32##SUFFIX);                     \
    LP_DENSE_ADJ_PROTO(double, lp_dense_adj_f64##SUFFIX);                    \
    LP_DENSE_ADJ_PROTO(float, lp_dense_adj_f32##SUFFIX);                   \
    LP_ADAM_PROTO(lp_adam_f64##SUFFIX)

LP_DECLARE_KERNELS();
LP_DECLARE_KERNELS(_ref);
LP_DECLARE_KERNELS(_avx2);
LP_DECLARE_KERNELS(_avx512);

/* ---- Run-time dispatch ------------------------------------------------
 * The CPU is probed once (__builtin_cpu_supports, and XGETBV for the OS's
 * AVX-512 state) and the choice cached. The default is a fixed rule, never
 * a timing: AVX-512 if supported, else AVX2+FMA, else reference, so every
 * MPI rank on one kind of node runs the same kernels. Every family fills
 * every slot. The environment variable LAYERPAR_KERNELS=reference|avx2|avx512
 * forces a family at first use (an unsupported or unknown value falls back
 * to the best supported family and is reported by lp_kernels_env_error()).
 */

/** 1 if this CPU (and OS) supports AVX2 and FMA, else 0. */
int lp_cpu_supports_avx2_fma(void);
/** 1 if this CPU supports AVX-512 F, DQ, BW and VL and the OS saves the
 *  zmm and mask registers (XCR0), else 0. */
int lp_cpu_supports_avx512(void);
/** The family the dispatching kernels currently call. */
lp_impl lp_kernels_active(void);
/** Forces a family. Returns 0, or -1 if the CPU cannot run it (no change). */
int lp_kernels_select(lp_impl impl);
/** "reference", "avx2" or "avx512" (NULL for an unknown value). */
const char *lp_impl_name(lp_impl impl);
/** Non-NULL message if LAYERPAR_KERNELS held an unusable value. */
const char *lp_kernels_env_error(void);
/** The family that LAYERPAR_KERNELS=value selects on this CPU (NULL or ""
 *  means the best supported one); *error (if error != NULL) is set to a
 *  message for an unknown or unsupported value, else to NULL. Pure: this is
 *  the rule applied at first use, exposed so it can be tested. */
lp_impl lp_kernels_family_for_env(const char *value, const char **error);

#ifdef __cplusplus
}
#endif
#endif /* LAYERPAR_KERNELS_H */
