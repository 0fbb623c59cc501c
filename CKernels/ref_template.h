/*
 * ref_template.h — plain C reference kernels, instantiated once per precision
 * by ref_f64.c and ref_f32.c (T = element type, S = name suffix f64/f32).
 * These loops are the oracle every optimized kernel is tested against: they
 * follow the formulas of layerpar_kernels.h literally, one output at a time,
 * with no blocking and no reordering beyond the natural k-summation order.
 */
#define LP_CAT3(a, b, c) a##b##c
#define LP_NAME(base, s) LP_CAT3(base, s, _ref)
#define LP_RELU(z) ((z) <= (T)0 ? (T)0 : (z))
#define LP_DRELU(z, lam) ((z) <= (T)0 ? (T)0 : (lam))

LP_RESNET_FWD_PROTO(T, LP_NAME(lp_resnet_fwd_, S)) {
    for (lp_int i = 0; i < w; ++i) {
        for (lp_int j = 0; j < B; ++j) {
            T z = b[i];
            for (lp_int k = 0; k < w; ++k) z += W[i * ldw + k] * X[k * ldx + j];
            if (Z) Z[i * ldz + j] = z;
            if (M) M[i * ldm + j] = !(z <= (T)0); /* ReLU'(z), 1 for NaN */
            Y[i * ldy + j] = X[i * ldx + j] + beta * LP_RELU(z);
        }
    }
}

LP_RESNET_ADJ_PROTO(T, LP_NAME(lp_resnet_adj_, S)) {
    /* G(i, j) from the mask if given, else from Z: the same value either way. */
#define LP_G(i, j) (M ? (M[(i) * ldm + (j)] ? Lp[(i) * ldlp + (j)] : (T)0) \
                      : LP_DRELU(Z[(i) * ldz + (j)], Lp[(i) * ldlp + (j)]))
    if (L) {
        for (lp_int i = 0; i < w; ++i) {
            for (lp_int j = 0; j < B; ++j) {
                T s = 0;
                for (lp_int k = 0; k < w; ++k)
                    s += W[k * ldw + i] * LP_G(k, j);
                L[i * ldl + j] = Lp[i * ldlp + j] + beta * s;
            }
        }
    }
    for (lp_int i = 0; i < w; ++i) {
        if (dW) {
            for (lp_int k = 0; k < w; ++k) {
                T s = 0;
                for (lp_int j = 0; j < B; ++j)
                    s += LP_G(i, j) * X[k * ldx + j];
                dW[i * lddw + k] += beta * s;
            }
        }
        if (db) {
            T s = 0;
            for (lp_int j = 0; j < B; ++j) s += LP_G(i, j);
            db[i] += beta * s;
        }
    }
#undef LP_G
}

LP_DENSE_FWD_PROTO(T, LP_NAME(lp_dense_fwd_, S)) {
    for (lp_int i = 0; i < m; ++i) {
        for (lp_int j = 0; j < B; ++j) {
            T z = b[i];
            for (lp_int k = 0; k < n; ++k) z += W[i * ldw + k] * X[k * ldx + j];
            if (Z) Z[i * ldz + j] = z;
            Y[i * ldy + j] = act == LP_ACT_RELU ? LP_RELU(z) : z;
        }
    }
}

LP_DENSE_ADJ_PROTO(T, LP_NAME(lp_dense_adj_, S)) {
#define LP_G(i, j) (act == LP_ACT_RELU ? LP_DRELU(Z[(i) * ldz + (j)], Lout[(i) * ldlo + (j)]) \
                                       : Lout[(i) * ldlo + (j)])
    if (Lin) {
        for (lp_int k = 0; k < n; ++k) {
            for (lp_int j = 0; j < B; ++j) {
                T s = 0;
                for (lp_int i = 0; i < m; ++i) s += W[i * ldw + k] * LP_G(i, j);
                Lin[k * ldli + j] = s;
            }
        }
    }
    for (lp_int i = 0; i < m; ++i) {
        if (dW) {
            for (lp_int k = 0; k < n; ++k) {
                T s = 0;
                for (lp_int j = 0; j < B; ++j) s += LP_G(i, j) * X[k * ldx + j];
                dW[i * lddw + k] += s;
            }
        }
        if (db) {
            T s = 0;
            for (lp_int j = 0; j < B; ++j) s += LP_G(i, j);
            db[i] += s;
        }
    }
#undef LP_G
}

#undef LP_CAT3
#undef LP_NAME
#undef LP_RELU
#undef LP_DRELU
