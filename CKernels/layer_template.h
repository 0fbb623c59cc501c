/*
 * layer_template.h — the SIMD layer kernels, written once and instantiated
 * per instruction set and precision: layer_f64_avx2.c, layer_f32_avx2.c,
 * layer_f64_avx512.c and layer_f32_avx512.c each define LP_F64 and include
 * the ISA's vocabulary (isa_avx2.h or isa_avx512.h: T, S, the vector macros,
 * VL = lanes per vector, predicates VP, the register tile MR × NV and the
 * blocking constants KC, MC, DR, DC, DK, BC), then this file. Only the
 * vocabulary and the tile are per ISA; the loop nest, the packing, the
 * epilogues and the gradient reduction are these lines.
 *
 * Layout (layerpar_kernels.h): a batch is feature-major with the batch
 * contiguous, so SIMD lanes run over samples and every GEMM here is
 *     C (rows × batch) = A (rows × k) · Bop (k × batch)
 * with A = W (forward) or Wᵀ (adjoint) read as scalars and broadcast, and
 * Bop = X (forward) or G = ReLU'(Z)⊙Λ⁺ (adjoint) read as vectors.
 *
 * 1. Micro-kernel (BLIS-style outer product, "MR × NV·VL"):
 *    MR rows of A × NV vectors of batch columns held in MR·NV vector
 *    accumulators; per k: NV vector loads of Bop, MR broadcasts of A, MR·NV
 *    FMAs (the tiles and their register budgets: isa_*.h). The accumulators start from the
 *    bias (forward) and the epilogue — ReLU (compare + and), the residual FMA
 *    x + β·relu(z), or Λ⁺ + β·(WᵀG) — runs on the registers before the single
 *    store of each output tile. The common case (one k-block, full panel) is
 *    compiled once per epilogue mode with every flag constant.
 * 2. Blocking (Goto/BLIS loop order): k in blocks of KC (partial sums kept in
 *    the output between k-blocks; the epilogue runs after the last), rows in
 *    blocks of MC so the MC×KC slice of W stays in L2, batch in panels of
 *    NR = NV·VL columns. A Bop panel (KC × NR) is packed contiguous into a
 *    stack buffer (16 KiB, fits L1) when it is reused by many row blocks
 *    or when it is a batch tail (zero-padded, so the k-loop never masks);
 *    G is always packed: it is formed on the fly, one KC × NR panel at a
 *    time, and never stored as a full matrix.
 * 3. Weight gradient dW += β·G Xᵀ and db += β·G1: a reduction along the
 *    batch. DR rows of G (formed into a DR × BC stack buffer, again never the
 *    full G) × DC rows of X, accumulated over batch vectors in DR·DC vector
 *    registers, then
 *    reduced horizontally four at a time (hadd + cross-lane add) and added to
 *    dW once per chunk of BC samples. Rows of X are blocked by DK so the
 *    DK × BC slice stays in L2.
 * 4. ReLU masks (lp_mask bytes, 0/1): the forward epilogue stores the
 *    predicate it already forms for the ReLU as VL bytes (lp_isa_stmask: AVX2
 *    spreads the movemask bits with one multiply, AVX-512 broadcasts a byte
 *    under the k mask), one store per output vector and no pass of its own.
 *    The adjoint reads VL bytes where it would read a vector of Z — while
 *    forming a packed G panel (1.) or a G row of the gradient (3.) — and
 *    turns them back into the predicate (lp_isa_ldmask) that selects Λ⁺: the
 *    same lanes the Z compare selects, so G, and every result, has the bits
 *    of the Z path.
 * Tails: row tails use smaller MR/DR instances, column (batch) tails use
 * masked loads/stores (V_MASKLOAD/V_MASKSTORE) in the epilogue and the
 * zero-padded packed panel, dW tails use masked loads; any leading
 * dimension, no alignment assumed.
 */
#define LP_CAT3_(a, b, c) a##b##c
#define LP_CAT3(a, b, c) LP_CAT3_(a, b, c)
#define LP_CAT4_(a, b, c, d) a##b##c##d
#define LP_CAT4(a, b, c, d) LP_CAT4_(a, b, c, d)
#define LP_NAME(base, s) LP_CAT4(base, s, _, LP_ISA)
#define LP_I(name) LP_CAT4(lp_, LP_ISA, _, LP_CAT3(name, _, S))
#define LP_SIMD __attribute__((target(LP_TARGET)))
#define LP_INLINE LP_ISA_INLINE

#define NR (NV * VL)
#define LP_UNROLL _Pragma("clang loop unroll(full)")

/* Epilogue modes. */
enum {
    LP_EPI_RESNET = 0, /* Y = X + β·ReLU(acc), Z = acc             */
    LP_EPI_RELU = 1,   /* Y = ReLU(acc), Z = acc                   */
    LP_EPI_IDENT = 2,  /* Y = acc, Z = acc                         */
    LP_EPI_ADJ = 3,    /* Y = AUX + β·acc  (Λ = Λ⁺ + β WᵀG)        */
    LP_EPI_SET = 4,    /* Y = acc          (Λin = WᵀG)             */
};

typedef struct LP_I(epi) {
    int mode;
    T beta;
    const T *aux; lp_int ldaux; /* X (residual) or Λ⁺ (adjoint), at the tile */
    T *Y; lp_int ldy;
    T *Z; lp_int ldz;           /* may be NULL */
    lp_mask *M; lp_int ldm;     /* may be NULL (LP_EPI_RESNET only) */
} LP_I(epi);

/* What the forward epilogue stores besides Y (the HASZ argument below). */
enum { LP_OUT_Z = 1, LP_OUT_M = 2 };

LP_INLINE VT LP_I(ld)(const T *p, int full, VI m) { return full ? V_LOADU(p) : V_MASKLOAD(p, m); }
LP_INLINE void LP_I(st)(T *p, VT v, int full, VI m) {
    if (full) V_STOREU(p, v); else V_MASKSTORE(p, m, v);
}
/* ReLU(z) = (z <= 0) ? +0 : z, NaN kept: the predicate "not (z <= 0)" is true for NaN. */
LP_INLINE VT LP_I(relu)(VT z) { return V_SEL(V_POS(z), z); }
/* ReLU'(z)·λ = (z <= 0) ? 0 : λ. */
LP_INLINE VT LP_I(drelu)(VT z, VT lam) { return V_SEL(V_POS(z), lam); }

/* Epilogue of one accumulator (row r, vector v of the tile), straight from its
 * register. MODE and HASZ are compile-time constants on the fast path. */
LP_INLINE void LP_I(epilogue)(const int MODE, const int HASZ, const LP_I(epi) *e, int r, int v, VT z,
                              VT beta, int full, VI m, int nl, int last) {
    T *y = e->Y + r * e->ldy + v * VL;
    if (!last) { LP_I(st)(y, z, full, m); return; }
    switch (MODE) {
    case LP_EPI_RESNET: {
        if (HASZ & LP_OUT_Z) LP_I(st)(e->Z + r * e->ldz + v * VL, z, full, m);
        const VP pos = V_POS(z); /* ReLU'(z): not (z <= 0) */
        if (HASZ & LP_OUT_M) lp_isa_stmask(e->M + r * e->ldm + v * VL, pos, full, nl);
        const VT x = LP_I(ld)(e->aux + r * e->ldaux + v * VL, full, m);
        LP_I(st)(y, V_FMA(beta, V_SEL(pos, z), x), full, m);
        break;
    }
    case LP_EPI_RELU:
        if (HASZ & LP_OUT_Z) LP_I(st)(e->Z + r * e->ldz + v * VL, z, full, m);
        LP_I(st)(y, LP_I(relu)(z), full, m);
        break;
    case LP_EPI_IDENT:
        if (HASZ & LP_OUT_Z) LP_I(st)(e->Z + r * e->ldz + v * VL, z, full, m);
        LP_I(st)(y, z, full, m);
        break;
    case LP_EPI_ADJ: {
        const VT lp = LP_I(ld)(e->aux + r * e->ldaux + v * VL, full, m);
        LP_I(st)(y, V_FMA(beta, z, lp), full, m);
        break;
    }
    default:
        LP_I(st)(y, z, full, m);
        break;
    }
}

/*
 * The micro-kernel: C[i..i+mr, j..j+nc] for one k-block of length kc.
 * A: element (r, k) at A[r*lda + k], or at A[k*lda + r] if TRANSA (A = Wᵀ).
 * Bp: k-th row of the panel at Bp + k*ldb, NR readable columns (zero padding past nc).
 * INIT: 0 = zero, 1 = bias[r], 2 = load partial sums from Y. LAST: run the epilogue
 * (else store the partial sums). FULLP: nc == NR is known. The fast path passes
 * constants for all of these, so the epilogue is straight-line code.
 */
LP_INLINE void LP_I(kern)(const int mr, const int TRANSA, const int MODE, const int HASZ, const int INIT,
                          const int LAST, const int FULLP, lp_int kc, const T *A, lp_int lda,
                          const T *Bp, lp_int ldb, const T *bias, const LP_I(epi) *e, lp_int nc) {
    VT acc[MR][NV];
    if (FULLP) nc = NR;
    const VI m = V_MASK(nc % VL); /* lanes of the last, partial vector (unused if none) */
    LP_UNROLL
    for (int r = 0; r < mr; ++r) {
        LP_UNROLL
        for (int v = 0; v < NV; ++v) {
            if (INIT == 1) acc[r][v] = V_SET1(bias[r]);
            else if (INIT == 2) {
                const int full = (v + 1) * VL <= nc;
                acc[r][v] = (v * VL < nc) ? LP_I(ld)(e->Y + r * e->ldy + v * VL, full, m) : V_ZERO();
            } else acc[r][v] = V_ZERO();
        }
    }
    for (lp_int k = 0; k < kc; ++k) {
        VT b[NV];
        LP_UNROLL
        for (int v = 0; v < NV; ++v) b[v] = V_LOADU(Bp + k * ldb + v * VL);
        LP_UNROLL
        for (int r = 0; r < mr; ++r) {
            const VT a = V_BCAST(TRANSA ? A + k * lda + r : A + r * lda + k);
            LP_UNROLL
            for (int v = 0; v < NV; ++v) acc[r][v] = V_FMA(a, b[v], acc[r][v]);
        }
    }
    const VT beta = V_SET1(e->beta);
    LP_UNROLL
    for (int r = 0; r < mr; ++r) {
        LP_UNROLL
        for (int v = 0; v < NV; ++v)
            if (v * VL < nc)
                LP_I(epilogue)(MODE, HASZ, e, r, v, acc[r][v], beta, (v + 1) * VL <= nc, m, (int)(nc % VL), LAST);
    }
}

/* One row block of mr (1..MR, MR <= 8) rows: dispatch to a fully unrolled instance. */
#if MR > 8
#error "LP_KERN_ROWS has cases for MR <= 8"
#endif
#define LP_KERN_ROWS(mr, ...)                                        \
    switch (mr) {                                                    \
    case 8: LP_I(kern)(MR > 7 ? 8 : 1, __VA_ARGS__); break;          \
    case 7: LP_I(kern)(MR > 6 ? 7 : 1, __VA_ARGS__); break;          \
    case 6: LP_I(kern)(MR > 5 ? 6 : 1, __VA_ARGS__); break;          \
    case 5: LP_I(kern)(MR > 4 ? 5 : 1, __VA_ARGS__); break;          \
    case 4: LP_I(kern)(4, __VA_ARGS__); break;                       \
    case 3: LP_I(kern)(3, __VA_ARGS__); break;                       \
    case 2: LP_I(kern)(2, __VA_ARGS__); break;                       \
    default: LP_I(kern)(1, __VA_ARGS__); break;                      \
    }

/* Source of the B operand: a matrix (X, or Λout for a linear layer), or G. */
typedef struct LP_I(bsrc) {
    const T *P; lp_int ldp;        /* X or Λout                             */
    const T *Zm; lp_int ldz;       /* non-NULL: G = ReLU'(Zm) ⊙ P           */
    const lp_mask *Mm; lp_int ldm; /* non-NULL: G = Mm ⊙ P (Zm then NULL)   */
} LP_I(bsrc);

/* How G is formed from P (the HASZM argument below). */
enum { LP_G_NONE = 0, LP_G_Z = 1, LP_G_M = 2 };
LP_INLINE int LP_I(gkind)(const LP_I(bsrc) *s) { return s->Mm ? LP_G_M : s->Zm ? LP_G_Z : LP_G_NONE; }

/* The vector at column offset j of the B operand rows p (P), z (Zm), mk (Mm):
 * P, or G; z and mk are read only when HASZM says so (NULL otherwise). */
LP_INLINE VT LP_I(bvec)(const int HASZM, const T *p, const T *z, const lp_mask *mk, lp_int j, int full,
                        VI m, int nl) {
    const VT x = LP_I(ld)(p + j, full, m);
    if (HASZM == LP_G_Z) return LP_I(drelu)(LP_I(ld)(z + j, full, m), x);
    if (HASZM == LP_G_M) return V_SEL(lp_isa_ldmask(mk + j, full, nl), x);
    return x;
}

/* Packs rows [k0, k0+kc) × columns [j0, j0+nc) of the B operand into buf (kc × NR,
 * zero-padded). HASZM and FULLP (nc == NR) are constants on the common path. */
LP_INLINE void LP_I(pack_impl)(const int HASZM, const int FULLP, const LP_I(bsrc) *s, lp_int k0, lp_int kc,
                               lp_int j0, lp_int nc, T *buf) {
    if (FULLP) nc = NR;
    const VI m = V_MASK(nc % VL);
    for (lp_int k = 0; k < kc; ++k) {
        const T *p = s->P + (k0 + k) * s->ldp + j0;
        const T *z = HASZM == LP_G_Z ? s->Zm + (k0 + k) * s->ldz + j0 : NULL;
        const lp_mask *mk = HASZM == LP_G_M ? s->Mm + (k0 + k) * s->ldm + j0 : NULL;
        LP_UNROLL
        for (int v = 0; v < NV; ++v) {
            VT x = V_ZERO();
            if (v * VL < nc)
                x = LP_I(bvec)(HASZM, p, z, mk, v * VL, (v + 1) * VL <= nc, m, (int)(nc % VL));
            V_STOREA(buf + k * NR + v * VL, x);
        }
    }
}

LP_INLINE void LP_I(pack)(const LP_I(bsrc) *s, lp_int k0, lp_int kc, lp_int j0, lp_int nc, T *buf) {
    switch (LP_I(gkind)(s) + 3 * (nc == NR)) {
    case LP_G_NONE: LP_I(pack_impl)(LP_G_NONE, 0, s, k0, kc, j0, nc, buf); break;
    case LP_G_Z: LP_I(pack_impl)(LP_G_Z, 0, s, k0, kc, j0, nc, buf); break;
    case LP_G_M: LP_I(pack_impl)(LP_G_M, 0, s, k0, kc, j0, nc, buf); break;
    case 3 + LP_G_NONE: LP_I(pack_impl)(LP_G_NONE, 1, s, k0, kc, j0, nc, buf); break;
    case 3 + LP_G_Z: LP_I(pack_impl)(LP_G_Z, 1, s, k0, kc, j0, nc, buf); break;
    default: LP_I(pack_impl)(LP_G_M, 1, s, k0, kc, j0, nc, buf); break;
    }
}

/*
 * C (M × N) = epilogue(A (M × K) · Bop (K × N) [+ bias]), blocked as described
 * at the top. e describes the whole output (Y, Z, aux at (0, 0)). MODE, HASZ
 * and TRANSA are compile-time constants (see gemm below); the common case — one
 * k-block, a full batch panel — runs a micro-kernel specialised for all flags.
 */
LP_INLINE void LP_I(gemm_impl)(const int MODE, const int HASZ, const int TRANSA, lp_int M, lp_int N,
                               lp_int K, const T *A, lp_int lda, const LP_I(bsrc) *src, const T *bias,
                               const LP_I(epi) *e0) {
    T buf[KC * NR] __attribute__((aligned(64)));
    const int INIT0 = MODE <= LP_EPI_IDENT ? 1 : 0; /* forward modes start from the bias */
    /* Packing pays when a panel is reused by many row blocks; G is always packed. */
    const int pack_all = LP_I(gkind)(src) != LP_G_NONE || M > PACK_MIN_M || K > KC;
    for (lp_int kb = 0; kb < K; kb += KC) {
        const lp_int kc = K - kb < KC ? K - kb : KC;
        const int init = kb > 0 ? 2 : INIT0;
        const int last = kb + kc == K;
        for (lp_int ib = 0; ib < M; ib += MC) {
            const lp_int mc = M - ib < MC ? M - ib : MC;
            for (lp_int jb = 0; jb < N; jb += NR) {
                const lp_int nc = N - jb < NR ? N - jb : NR;
                const T *Bp; lp_int ldb;
                if (pack_all || nc < NR) {
                    LP_I(pack)(src, kb, kc, jb, nc, buf);
                    Bp = buf; ldb = NR;
                } else {
                    Bp = src->P + kb * src->ldp + jb; ldb = src->ldp;
                }
                const int fast = kc == K && nc == NR;
                for (lp_int i = ib; i < ib + mc; i += MR) {
                    const int mr = (int)(ib + mc - i < MR ? ib + mc - i : MR);
                    LP_I(epi) e = *e0;
                    e.Y = e0->Y + i * e0->ldy + jb;
                    if (HASZ & LP_OUT_Z) e.Z = e0->Z + i * e0->ldz + jb;
                    if (HASZ & LP_OUT_M) e.M = e0->M + i * e0->ldm + jb;
                    if (e0->aux) e.aux = e0->aux + i * e0->ldaux + jb;
                    const T *b = INIT0 ? bias + i : NULL;
                    const T *Ai = TRANSA ? A + kb * lda + i : A + i * lda + kb;
                    if (fast) {
                        LP_KERN_ROWS(mr, TRANSA, MODE, HASZ, INIT0, 1, 1, kc, Ai, lda, Bp, ldb, b, &e, nc)
                    } else {
                        LP_KERN_ROWS(mr, TRANSA, MODE, HASZ, init, last, 0, kc, Ai, lda, Bp, ldb, b, &e, nc)
                    }
                }
            }
        }
    }
}

static LP_SIMD void LP_I(gemm)(lp_int M, lp_int N, lp_int K, const T *A, lp_int lda,
                               const LP_I(bsrc) *src, const T *bias, const LP_I(epi) *e) {
    const int z = e->Z != NULL;
    switch (e->mode) {
    case LP_EPI_RESNET:
        switch (z * LP_OUT_Z + (e->M != NULL) * LP_OUT_M) {
        case 0: LP_I(gemm_impl)(LP_EPI_RESNET, 0, 0, M, N, K, A, lda, src, bias, e); break;
        case LP_OUT_Z: LP_I(gemm_impl)(LP_EPI_RESNET, LP_OUT_Z, 0, M, N, K, A, lda, src, bias, e); break;
        case LP_OUT_M: LP_I(gemm_impl)(LP_EPI_RESNET, LP_OUT_M, 0, M, N, K, A, lda, src, bias, e); break;
        default: LP_I(gemm_impl)(LP_EPI_RESNET, LP_OUT_Z | LP_OUT_M, 0, M, N, K, A, lda, src, bias, e); break;
        }
        break;
    case LP_EPI_RELU:
        if (z) LP_I(gemm_impl)(LP_EPI_RELU, 1, 0, M, N, K, A, lda, src, bias, e);
        else LP_I(gemm_impl)(LP_EPI_RELU, 0, 0, M, N, K, A, lda, src, bias, e);
        break;
    case LP_EPI_IDENT:
        if (z) LP_I(gemm_impl)(LP_EPI_IDENT, 1, 0, M, N, K, A, lda, src, bias, e);
        else LP_I(gemm_impl)(LP_EPI_IDENT, 0, 0, M, N, K, A, lda, src, bias, e);
        break;
    case LP_EPI_ADJ: LP_I(gemm_impl)(LP_EPI_ADJ, 0, 1, M, N, K, A, lda, src, NULL, e); break;
    default: LP_I(gemm_impl)(LP_EPI_SET, 0, 1, M, N, K, A, lda, src, NULL, e); break;
    }
}

/* ---- weight gradients: dW += β·G Xᵀ, db += β·G 1 ------------------------- */

/* Sums of 4 accumulators, lane-reduced, into out[0..3]. */
LP_INLINE void LP_I(hsum4)(VT a0, VT a1, VT a2, VT a3, T *out) { V_HSUM4(a0, a1, a2, a3, out); }

/*
 * dW[r, c] += β Σ_j G[r, j]·X[c, j] for dr rows of the G buffer (ld BC, zero
 * past nb) and dc rows of X (masked past nb, so garbage beyond the batch never
 * meets a zero of G: 0·NaN would not be 0). Per batch vector: dc loads of X
 * held in registers, then one G row at a time broadcast over them.
 */
LP_INLINE void LP_I(dwkern)(const int dr, const int dc, lp_int nb, const T *G, const T *X, lp_int ldx,
                            T *dW, lp_int lddw, T beta) {
    VT acc[DR * DC];
    LP_UNROLL
    for (int q = 0; q < dr * dc; ++q) acc[q] = V_ZERO();
    const lp_int nfull = nb / VL * VL;
    lp_int j = 0;
    for (; j < nfull; j += VL) {
        VT x[DC];
        LP_UNROLL
        for (int c = 0; c < dc; ++c) x[c] = V_LOADU(X + c * ldx + j);
        LP_UNROLL
        for (int r = 0; r < dr; ++r) {
            const VT g = V_LOADA(G + r * BC + j);
            LP_UNROLL
            for (int c = 0; c < dc; ++c) acc[r * dc + c] = V_FMA(g, x[c], acc[r * dc + c]);
        }
    }
    if (j < nb) {
        const VI m = V_MASK(nb - j);
        VT x[DC];
        LP_UNROLL
        for (int c = 0; c < dc; ++c) x[c] = V_MASKLOAD(X + c * ldx + j, m);
        LP_UNROLL
        for (int r = 0; r < dr; ++r) {
            const VT g = V_LOADA(G + r * BC + j);
            LP_UNROLL
            for (int c = 0; c < dc; ++c) acc[r * dc + c] = V_FMA(g, x[c], acc[r * dc + c]);
        }
    }
    /* Horizontal sums four accumulators at a time (row-major order r·dc + c). */
    T s[DR * DC + 3];
    LP_UNROLL
    for (int q = 0; q < dr * dc; q += 4)
        LP_I(hsum4)(acc[q], q + 1 < dr * dc ? acc[q + 1] : V_ZERO(), q + 2 < dr * dc ? acc[q + 2] : V_ZERO(),
                    q + 3 < dr * dc ? acc[q + 3] : V_ZERO(), s + q);
    for (int r = 0; r < dr; ++r)
        for (int c = 0; c < dc; ++c) dW[r * lddw + c] += beta * s[r * dc + c];
}

LP_INLINE void LP_I(dwkern_cols)(const int dr, int dc, lp_int nb, const T *G, const T *X, lp_int ldx,
                                 T *dW, lp_int lddw, T beta) {
    if (dc == DC) LP_I(dwkern)(dr, DC, nb, G, X, ldx, dW, lddw, beta);
    else LP_I(dwkern)(dr, 1, nb, G, X, ldx, dW, lddw, beta);
}

/* One row of G = ReLU'(Z) ⊙ P, M ⊙ P (or P) over nb samples into g (zero past
 * nb); returns the lane sums (for db). Full vectors first, then one masked tail. */
LP_INLINE VT LP_I(grow)(const int HASZM, const T *p, const T *z, const lp_mask *mk, lp_int nb, VI tm, T *g) {
    VT sum = V_ZERO();
    lp_int j = 0;
    for (; j + VL <= nb; j += VL) {
        const VT x = LP_I(bvec)(HASZM, p, z, mk, j, 1, tm, VL);
        V_STOREA(g + j, x);
        sum = V_ADD(sum, x);
    }
    if (j < nb) {
        const VT x = LP_I(bvec)(HASZM, p, z, mk, j, 0, tm, (int)(nb - j));
        V_STOREA(g + j, x);
        sum = V_ADD(sum, x);
    }
    return sum;
}

/*
 * G is m × B (rows of src), X is n × B. For each chunk of BC samples, each
 * block of DK rows of X (L2-resident) and each DR rows of G: form those G
 * rows once into a stack buffer (and add their sums to db on the first X
 * block), then sweep the X block DC rows at a time.
 */
static LP_SIMD void LP_I(grad)(lp_int m, lp_int n, lp_int B, T beta, const LP_I(bsrc) *src,
                               const T *X, lp_int ldx, T *dW, lp_int lddw, T *db) {
    T gbuf[DR * BC] __attribute__((aligned(64)));
    for (lp_int jc = 0; jc < B; jc += BC) {
        const lp_int nb = B - jc < BC ? B - jc : BC;
        const VI tm = V_MASK(nb % VL);
        const lp_int kend = dW ? n : 1; /* db alone still needs one pass */
        for (lp_int kb = 0; kb < kend; kb += DK) {
            const lp_int kd = kend - kb < DK ? kend - kb : DK;
            for (lp_int i = 0; i < m; i += DR) {
                const int dr = (int)(m - i < DR ? m - i : DR);
                for (int r = 0; r < dr; ++r) {
                    const T *p = src->P + (i + r) * src->ldp + jc;
                    T *g = gbuf + r * BC;
                    const VT sum = src->Mm ? LP_I(grow)(LP_G_M, p, NULL, src->Mm + (i + r) * src->ldm + jc, nb, tm, g)
                        : src->Zm ? LP_I(grow)(LP_G_Z, p, src->Zm + (i + r) * src->ldz + jc, NULL, nb, tm, g)
                        : LP_I(grow)(LP_G_NONE, p, NULL, NULL, nb, tm, g);
                    if (db && kb == 0) {
                        T s[4];
                        LP_I(hsum4)(sum, V_ZERO(), V_ZERO(), V_ZERO(), s);
                        db[i + r] += beta * s[0];
                    }
                }
                if (!dW) continue;
                for (lp_int k = kb; k < kb + kd; k += DC) {
                    const int dc = (int)(kb + kd - k < DC ? kb + kd - k : DC);
                    const T *xk = X + k * ldx + jc;
                    T *dwp = dW + i * lddw + k;
                    switch (dr) {
                    case 8: LP_I(dwkern_cols)(DR > 7 ? 8 : 1, dc, nb, gbuf, xk, ldx, dwp, lddw, beta); break;
                    case 7: LP_I(dwkern_cols)(DR > 6 ? 7 : 1, dc, nb, gbuf, xk, ldx, dwp, lddw, beta); break;
                    case 6: LP_I(dwkern_cols)(DR > 5 ? 6 : 1, dc, nb, gbuf, xk, ldx, dwp, lddw, beta); break;
                    case 5: LP_I(dwkern_cols)(DR > 4 ? 5 : 1, dc, nb, gbuf, xk, ldx, dwp, lddw, beta); break;
                    case 4: LP_I(dwkern_cols)(4, dc, nb, gbuf, xk, ldx, dwp, lddw, beta); break;
                    case 3: LP_I(dwkern_cols)(3, dc, nb, gbuf, xk, ldx, dwp, lddw, beta); break;
                    case 2: LP_I(dwkern_cols)(2, dc, nb, gbuf, xk, ldx, dwp, lddw, beta); break;
                    default: LP_I(dwkern_cols)(1, dc, nb, gbuf, xk, ldx, dwp, lddw, beta); break;
                    }
                }
            }
        }
    }
}

/* ---- the four public kernels --------------------------------------------- */

LP_SIMD LP_RESNET_FWD_PROTO(T, LP_NAME(lp_resnet_fwd_, S)) {
    if (w <= 0 || B <= 0) return;
    const LP_I(bsrc) src = {X, ldx, NULL, 0, NULL, 0};
    const LP_I(epi) e = {LP_EPI_RESNET, beta, X, ldx, Y, ldy, Z, ldz, M, ldm};
    LP_I(gemm)(w, B, w, W, ldw, &src, b, &e);
}

LP_SIMD LP_RESNET_ADJ_PROTO(T, LP_NAME(lp_resnet_adj_, S)) {
    if (w <= 0 || B <= 0) return;
    const LP_I(bsrc) g = {Lp, ldlp, M ? NULL : Z, ldz, M, ldm};
    if (L) {
        const LP_I(epi) e = {LP_EPI_ADJ, beta, Lp, ldlp, L, ldl, NULL, 0, NULL, 0};
        LP_I(gemm)(w, B, w, W, ldw, &g, NULL, &e);
    }
    if (dW || db) LP_I(grad)(w, w, B, beta, &g, X, ldx, dW, lddw, db);
}

LP_SIMD LP_DENSE_FWD_PROTO(T, LP_NAME(lp_dense_fwd_, S)) {
    if (m <= 0 || B <= 0) return;
    if (n <= 0) { /* Z = b·1ᵀ (an empty sum): nothing to multiply, the reference does it */
        LP_CAT3(lp_dense_fwd_, S, _ref)(m, n, B, act, W, ldw, b, X, ldx, Y, ldy, Z, ldz);
        return;
    }
    const LP_I(bsrc) src = {X, ldx, NULL, 0, NULL, 0};
    const LP_I(epi) e = {act == LP_ACT_RELU ? LP_EPI_RELU : LP_EPI_IDENT, (T)1, NULL, 0, Y, ldy, Z, ldz, NULL, 0};
    LP_I(gemm)(m, B, n, W, ldw, &src, b, &e);
}

LP_SIMD LP_DENSE_ADJ_PROTO(T, LP_NAME(lp_dense_adj_, S)) {
    if (B <= 0) return;
    const LP_I(bsrc) g = {Lout, ldlo, act == LP_ACT_RELU ? Z : NULL, ldz, NULL, 0};
    if (Lin && n > 0) {
        if (m <= 0) { /* Λin = Wᵀ·(empty) = 0 */
            for (lp_int k = 0; k < n; ++k)
                for (lp_int j = 0; j < B; ++j) Lin[k * ldli + j] = 0;
        } else {
            const LP_I(epi) e = {LP_EPI_SET, (T)1, NULL, 0, Lin, ldli, NULL, 0, NULL, 0};
            LP_I(gemm)(n, B, m, W, ldw, &g, NULL, &e);
        }
    }
    if (m > 0 && (dW || db)) LP_I(grad)(m, n, B, (T)1, &g, X, ldx, n > 0 ? dW : NULL, lddw, db);
}

#undef NR
#undef LP_UNROLL
#undef LP_KERN_ROWS
#undef LP_CAT3
#undef LP_CAT3_
#undef LP_CAT4
#undef LP_CAT4_
#undef LP_NAME
#undef LP_I
#undef LP_SIMD
#undef LP_INLINE
