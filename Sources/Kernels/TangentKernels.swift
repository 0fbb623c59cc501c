/// Batched per-example linear maps ("tangents") of a width-`w` residual layer, for
/// MGRIT's Delta correction: the Jacobian of a batch step is block diagonal, one
/// w×w block per example, and a tangent holds all B blocks.
///
/// Layout: a tangent is a w × (w·B) ``Matrix`` whose column block `k` (columns
/// `k·B ..< (k+1)·B`) is the image of the unit vector `e_k` for every example:
/// `T[r, k·B + b] = (T_b)[r, k]`. Column block `k` is shaped like a w×B batch
/// state, so `W·T` for all examples and all basis vectors is one GEMM
/// (w×w times w×(w·B)), and the ReLU mask `ReLU'(z)` (w×B) applies to every
/// column block alike. Flops are counted as matrix-multiply flops (2 per
/// multiply-add) and returned, so callers can report them.
public enum TangentKernels {
    /// `T = I` for every example.
    public static func setIdentity<T: KernelScalar>(_ t: Matrix<T>) {
        t.zero()
        let w = t.rows, B = t.cols / max(w, 1)
        let p = t.baseAddress
        withExtendedLifetime(t) {
            for k in 0 ..< w { (p + k * t.ld + k * B).update(repeating: 1, count: B) }
        }
    }

    /// Forward linearised residual layer: `Y = W·S` (one GEMM), then
    /// `T += β·ReLU'(Z) ⊙ Y` per column block; `S` may be `T`. This is
    /// `T ← T + β·diag(ReLU'(z_b))·W·S_b` for every example `b`: with `S = T`, the
    /// Jacobian `I + β·diag(ReLU'(z_b))·W` of `x ↦ x + β·ReLU(Wx + b)` applied to `T`.
    ///
    /// - Parameters: `W` w×w; `Z` w×B (pre-activations); `S`, `T`, `Y` w×(w·B).
    /// - Returns: flops.
    @discardableResult
    public static func addLinearizedResidual<T: KernelScalar>(beta: T, W: Matrix<T>, Z: Matrix<T>, S: Matrix<T>,
                                                              into t: Matrix<T>, scratch Y: Matrix<T>) throws(KernelError) -> Int {
        let w = Z.rows, B = Z.cols
        try check(W, Z, [S, t, Y], "tangent forward")
        withExtendedLifetime((W, S, Y)) {
            T._gemm(transA: false, transB: false, w, w * B, w, 1, W.baseAddress, W.ld, S.baseAddress, S.ld, 0, Y.baseAddress, Y.ld)
        }
        maskedAdd(beta: beta, Z: Z, Y, into: t)
        return 2 * w * w * w * B
    }

    /// Adjoint linearised residual layer: `M = ReLU'(Z) ⊙ S` per column block,
    /// `Y = Wᵀ·M` (one GEMM), `T += β·Y`; `S` may be `T`. With `S = T`: the
    /// Jacobian `I + β·Wᵀ·diag(ReLU'(z_b))` of `λ ↦ λ + β·Wᵀ(ReLU'(z) ⊙ λ)`.
    ///
    /// - Parameters: `W` w×w; `Z` w×B; `S`, `T`, `M`, `Y` w×(w·B).
    /// - Returns: flops.
    @discardableResult
    public static func addLinearizedResidualAdjoint<T: KernelScalar>(beta: T, W: Matrix<T>, Z: Matrix<T>, S: Matrix<T>,
                                                                     into t: Matrix<T>, scratch M: Matrix<T>,
                                                                     _ Y: Matrix<T>) throws(KernelError) -> Int {
        let w = Z.rows, B = Z.cols
        try check(W, Z, [S, t, M, Y], "tangent adjoint")
        M.zero()
        maskedAdd(beta: 1, Z: Z, S, into: M)
        withExtendedLifetime((W, M, Y)) {
            T._gemm(transA: true, transB: false, w, w * B, w, 1, W.baseAddress, W.ld, M.baseAddress, M.ld, 0, Y.baseAddress, Y.ld)
        }
        try t.axpy(beta, Y)
        return 2 * w * w * w * B
    }

    /// `C = A·Bm` per example (`C_b = A_b·B_b`, w×w each); `C` must not be `A` or `Bm`.
    /// - Returns: flops.
    @discardableResult
    public static func product<T: KernelScalar>(_ A: Matrix<T>, _ Bm: Matrix<T>, into C: Matrix<T>) throws(KernelError) -> Int {
        let w = A.rows, B = A.cols / max(w, 1)
        for m in [Bm, C] where m.rows != w || m.cols != A.cols {
            throw KernelError("tangent product: shapes \(A.shapeDescription), \(Bm.shapeDescription), \(C.shapeDescription) differ")
        }
        guard C !== A && C !== Bm else { throw KernelError("tangent product: the output is an input") }
        C.zero()
        let a = A.baseAddress, bp = Bm.baseAddress, c = C.baseAddress
        withExtendedLifetime((A, Bm, C)) {
            // C[r, jB+b] = Σ_k A[r, kB+b]·B[k, jB+b]: the inner loop runs over the batch (contiguous).
            for j in 0 ..< w {
                for k in 0 ..< w {
                    let brow = bp + k * Bm.ld + j * B
                    for r in 0 ..< w {
                        let arow = a + r * A.ld + k * B, crow = c + r * C.ld + j * B
                        for b in 0 ..< B { crow[b] += arow[b] * brow[b] }
                    }
                }
            }
        }
        return 2 * w * w * w * B
    }

    /// `y += A·x` per example (`y_b += A_b·x_b`); `x`, `y` w×B, distinct.
    /// - Returns: flops.
    @discardableResult
    public static func apply<T: KernelScalar>(_ A: Matrix<T>, to x: Matrix<T>, addingTo y: Matrix<T>) throws(KernelError) -> Int {
        let w = x.rows, B = x.cols
        guard A.rows == w, A.cols == w * B, y.rows == w, y.cols == B else {
            throw KernelError("tangent apply: A is \(A.shapeDescription), x \(x.shapeDescription), y \(y.shapeDescription)")
        }
        guard y !== x else { throw KernelError("tangent apply: y is x") }
        let a = A.baseAddress, xp = x.baseAddress, yp = y.baseAddress
        withExtendedLifetime((A, x, y)) {
            for r in 0 ..< w {
                let yrow = yp + r * y.ld
                for k in 0 ..< w {
                    let arow = a + r * A.ld + k * B, xrow = xp + k * x.ld
                    for b in 0 ..< B { yrow[b] += arow[b] * xrow[b] }
                }
            }
        }
        return 2 * w * w * B
    }

    /// `T[r, kB+b] += β·(Z[r,b] > 0 ? Y[r, kB+b] : 0)` (ReLU'(0) = 0, as the layer kernels).
    static func maskedAdd<T: KernelScalar>(beta: T, Z: Matrix<T>, _ Y: Matrix<T>, into t: Matrix<T>) {
        let w = Z.rows, B = Z.cols
        let z = Z.baseAddress, y = Y.baseAddress, p = t.baseAddress
        withExtendedLifetime((Z, Y, t)) {
            for r in 0 ..< w {
                let zrow = z + r * Z.ld
                for k in 0 ..< w {
                    let yrow = y + r * Y.ld + k * B, trow = p + r * t.ld + k * B
                    for b in 0 ..< B { trow[b] += zrow[b] > 0 ? beta * yrow[b] : 0 }
                }
            }
        }
    }

    static func check<T>(_ W: Matrix<T>, _ Z: Matrix<T>, _ tangents: [Matrix<T>], _ op: String) throws(KernelError) {
        let w = Z.rows, B = Z.cols
        guard W.rows == w, W.cols == w else { throw KernelError("\(op): W is \(W.shapeDescription), expected \(w)×\(w)") }
        for m in tangents where m.rows != w || m.cols != w * B {
            throw KernelError("\(op): tangent is \(m.shapeDescription), expected \(w)×\(w * B) for width \(w) and batch \(B)")
        }
    }
}
