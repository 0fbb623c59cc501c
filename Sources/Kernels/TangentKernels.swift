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

    /// Adjoint linearised residual layer through the fused adjoint kernel, one call per column
    /// block: `T = S + β·Wᵀ(ReLU'(z) ⊙ S)`, ReLU'(z) from `Z` or its `mask` (exactly one).
    /// ``addLinearizedResidualAdjoint(beta:W:Z:S:into:scratch:_:)`` computes the same map by
    /// one GEMM and two element-wise passes.
    ///
    /// - Parameters: `W` w×w; `Z` or `mask` w×B; `S`, `T` w×(w·B), distinct.
    /// - Returns: flops.
    @discardableResult
    public static func adjointLayer(beta: Double, W: Matrix<Double>, Z: Matrix<Double>? = nil, mask: ReLUMask? = nil,
                                    S: Matrix<Double>, into t: Matrix<Double>) throws(KernelError) -> Int {
        let w = W.rows, B = S.cols / max(w, 1)
        for m in [S, t] where m.rows != w || m.cols != w * B {
            throw KernelError("tangent adjoint layer: tangent is \(m.shapeDescription), expected \(w)×\(w * B)")
        }
        guard S !== t else { throw KernelError("tangent adjoint layer: the output is the input") }
        for k in 0 ..< w {
            let block = k * B ..< (k + 1) * B
            try LayerKernels.residualAdjoint(beta: beta, W: W, Z: Z, mask: mask, lambdaNext: S.columns(block), lambda: t.columns(block))
        }
        return 2 * w * w * w * B
    }

    /// The Jacobian of a residual layer itself, per example: `T = I + β·diag(ReLU'(z))·W`
    /// (forward), or with `transposed` `T = I + β·Wᵀ·diag(ReLU'(z))` (adjoint); ReLU'(z) from
    /// `Z` or its `mask` (exactly one), as the layer kernels take it. Bitwise what
    /// ``setIdentity(_:)`` followed by ``addLinearizedResidual(beta:W:Z:S:into:scratch:)`` or
    /// ``adjointLayer(beta:W:Z:mask:S:into:)`` give, without their products with the identity.
    /// - Returns: flops (none: no multiply-add).
    @discardableResult
    public static func setLinearizedResidual(beta: Double, W: Matrix<Double>, Z: Matrix<Double>? = nil, mask: ReLUMask? = nil,
                                             transposed: Bool, into t: Matrix<Double>) throws(KernelError) -> Int {
        guard (Z == nil) != (mask == nil) else { throw KernelError("tangent Jacobian: needs exactly one of Z and mask") }
        let w = W.rows, B = Z?.cols ?? mask!.cols
        guard W.cols == w, (Z?.rows ?? mask!.rows) == w, t.rows == w, t.cols == w * B else {
            throw KernelError("tangent Jacobian: W \(W.shapeDescription), tangent \(t.shapeDescription) for batch \(B)")
        }
        withExtendedLifetime((W, Z, mask, t)) {
            let p = t.baseAddress
            for r in 0 ..< w {
                for k in 0 ..< w {
                    // Forward: row r of example b is on where z[r, b] is; adjoint: column k, where z[k, b] is.
                    let i = transposed ? k : r
                    let a = beta * (transposed ? W[k, r] : W[r, k]), one: Double = r == k ? 1 : 0
                    let trow = p + r * t.ld + k * B
                    if let Z {
                        let zrow = Z.baseAddress + i * Z.ld
                        for b in 0 ..< B { trow[b] = one + (zrow[b] <= 0 ? 0 : a) }
                    } else {
                        let mrow = mask!.baseAddress + i * mask!.ld
                        for b in 0 ..< B { trow[b] = one + (mrow[b] != 0 ? a : 0) }
                    }
                }
            }
        }
        return 0
    }

    /// `C = A·Bm` per example (`C_b = A_b·B_b`, w×w each); `C` must not be `A` or `Bm`.
    /// `reference`: the plain loops (the oracle of the vectorised `Double` path).
    /// - Returns: flops.
    @discardableResult
    public static func product<T: KernelScalar>(_ A: Matrix<T>, _ Bm: Matrix<T>, into C: Matrix<T>,
                                               reference: Bool = false) throws(KernelError) -> Int {
        let w = A.rows, B = A.cols / max(w, 1)
        for m in [Bm, C] where m.rows != w || m.cols != A.cols {
            throw KernelError("tangent product: shapes \(A.shapeDescription), \(Bm.shapeDescription), \(C.shapeDescription) differ")
        }
        guard C !== A && C !== Bm else { throw KernelError("tangent product: the output is an input") }
        withExtendedLifetime((A, Bm, C)) {
            if !reference, T.self == Double.self {
                BatchedSIMD.product(w, B, A.baseAddress.doubles, A.ld, Bm.baseAddress.doubles, Bm.ld, C.baseAddress.doubles, C.ld)
                return
            }
            C.zero()
            let a = A.baseAddress, bp = Bm.baseAddress, c = C.baseAddress
            // C[r, jB+b] = Σ_k A[r, kB+b]·B[k, jB+b], in k order from 0.
            for r in 0 ..< w {
                for j in 0 ..< w {
                    let crow = c + r * C.ld + j * B
                    for k in 0 ..< w {
                        let arow = a + r * A.ld + k * B, brow = bp + k * Bm.ld + j * B
                        for b in 0 ..< B { crow[b] += arow[b] * brow[b] }
                    }
                }
            }
        }
        return 2 * w * w * w * B
    }

    /// `y += A·x` per example (`y_b += A_b·x_b`); `x`, `y` w×B, distinct.
    /// `reference`: the plain loops (the oracle of the vectorised `Double` path).
    /// - Returns: flops.
    @discardableResult
    public static func apply<T: KernelScalar>(_ A: Matrix<T>, to x: Matrix<T>, addingTo y: Matrix<T>,
                                             reference: Bool = false) throws(KernelError) -> Int {
        let w = x.rows, B = x.cols
        guard A.rows == w, A.cols == w * B, y.rows == w, y.cols == B else {
            throw KernelError("tangent apply: A is \(A.shapeDescription), x \(x.shapeDescription), y \(y.shapeDescription)")
        }
        guard y !== x else { throw KernelError("tangent apply: y is x") }
        withExtendedLifetime((A, x, y)) {
            if !reference, T.self == Double.self {
                BatchedSIMD.apply(w, B, A.baseAddress.doubles, A.ld, x.baseAddress.doubles, x.ld, y.baseAddress.doubles, y.ld)
                return
            }
            let a = A.baseAddress, xp = x.baseAddress, yp = y.baseAddress
            // y[r, b] += Σ_k A[r, kB+b]·x[k, b], in k order from 0, added to y at the end.
            for r in 0 ..< w {
                let yrow = yp + r * y.ld
                for b in 0 ..< B {
                    var s: T = 0
                    for k in 0 ..< w { s += a[r * A.ld + k * B + b] * xp[k * x.ld + b] }
                    yrow[b] += s
                }
            }
        }
        return 2 * w * w * B
    }

    /// `T[r, kB+b] += β·(Z[r,b] <= 0 ? 0 : Y[r, kB+b])`: ReLU'(z) as the layer kernels take it
    /// (0 at z ≤ 0, 1 elsewhere, NaN included).
    static func maskedAdd<T: KernelScalar>(beta: T, Z: Matrix<T>, _ Y: Matrix<T>, into t: Matrix<T>) {
        let w = Z.rows, B = Z.cols
        withExtendedLifetime((Z, Y, t)) {
            if T.self == Double.self {
                BatchedSIMD.maskedAdd(w, B, Double(beta), Z.baseAddress.doubles, Z.ld, Y.baseAddress.doubles, Y.ld,
                                      t.baseAddress.doubles, t.ld)
                return
            }
            let z = Z.baseAddress, y = Y.baseAddress, p = t.baseAddress
            for r in 0 ..< w {
                let zrow = z + r * Z.ld
                for k in 0 ..< w {
                    let yrow = y + r * Y.ld + k * B, trow = p + r * t.ld + k * B
                    for b in 0 ..< B { trow[b] += zrow[b] <= 0 ? 0 : beta * yrow[b] }
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

private extension UnsafeMutablePointer {
    /// The same address as `Double` (only where `Pointee` is `Double`).
    var doubles: UnsafeMutablePointer<Double> { UnsafeMutableRawPointer(self).assumingMemoryBound(to: Double.self) }
}

/// The `Double` tangent loops vectorised over the batch (SIMD4: one AVX2 register; the
/// examples of a tangent's column block are contiguous), with the reference loops'
/// order of operations: the same sums in the same order, so the same bits.
enum BatchedSIMD {
    typealias V = SIMD4<Double>
    @inline(__always) static func load(_ p: UnsafePointer<Double>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Double>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// C[r, jB+b] = Σ_k A[r, kB+b]·B[k, jB+b]: per row r and 4 examples, 4 columns j at a time in registers.
    static func product(_ w: Int, _ B: Int, _ a: UnsafeMutablePointer<Double>, _ lda: Int, _ bm: UnsafeMutablePointer<Double>,
                        _ ldb: Int, _ c: UnsafeMutablePointer<Double>, _ ldc: Int) {
        let vb = B & ~3
        for r in 0 ..< w {
            let arow = a + r * lda, crow = c + r * ldc
            var j = 0
            while j + 4 <= w {
                var b = 0
                while b < vb {
                    var c0 = V(), c1 = V(), c2 = V(), c3 = V()
                    for k in 0 ..< w {
                        let av = load(arow + k * B + b), brow = bm + k * ldb + b
                        c0 += av * load(brow + j * B)
                        c1 += av * load(brow + (j + 1) * B)
                        c2 += av * load(brow + (j + 2) * B)
                        c3 += av * load(brow + (j + 3) * B)
                    }
                    store(c0, crow + j * B + b); store(c1, crow + (j + 1) * B + b)
                    store(c2, crow + (j + 2) * B + b); store(c3, crow + (j + 3) * B + b)
                    b += 4
                }
                j += 4
            }
            while j < w {
                var b = 0
                while b < vb {
                    var acc = V()
                    for k in 0 ..< w { acc += load(arow + k * B + b) * load(bm + k * ldb + j * B + b) }
                    store(acc, crow + j * B + b)
                    b += 4
                }
                j += 1
            }
            for j in 0 ..< w {   // the examples past the last whole vector
                for b in vb ..< B {
                    var s = 0.0
                    for k in 0 ..< w { s += arow[k * B + b] * bm[k * ldb + j * B + b] }
                    crow[j * B + b] = s
                }
            }
        }
    }

    /// y[r, b] += Σ_k A[r, kB+b]·x[k, b].
    static func apply(_ w: Int, _ B: Int, _ a: UnsafeMutablePointer<Double>, _ lda: Int, _ x: UnsafeMutablePointer<Double>,
                      _ ldx: Int, _ y: UnsafeMutablePointer<Double>, _ ldy: Int) {
        let vb = B & ~3
        for r in 0 ..< w {
            let arow = a + r * lda, yrow = y + r * ldy
            var b = 0
            while b < vb {
                var s = V()
                for k in 0 ..< w { s += load(arow + k * B + b) * load(x + k * ldx + b) }
                store(load(yrow + b) + s, yrow + b)
                b += 4
            }
            for b in vb ..< B {
                var s = 0.0
                for k in 0 ..< w { s += arow[k * B + b] * x[k * ldx + b] }
                yrow[b] += s
            }
        }
    }

    /// T[r, kB+b] += z[r, b] <= 0 ? 0 : β·Y[r, kB+b].
    static func maskedAdd(_ w: Int, _ B: Int, _ beta: Double, _ z: UnsafeMutablePointer<Double>, _ ldz: Int,
                          _ y: UnsafeMutablePointer<Double>, _ ldy: Int, _ t: UnsafeMutablePointer<Double>, _ ldt: Int) {
        let vb = B & ~3
        for r in 0 ..< w {
            let zrow = z + r * ldz
            for k in 0 ..< w {
                let yrow = y + r * ldy + k * B, trow = t + r * ldt + k * B
                var b = 0
                while b < vb {
                    let on = .!(load(zrow + b) .<= 0)
                    store(load(trow + b) + V(repeating: 0).replacing(with: beta * load(yrow + b), where: on), trow + b)
                    b += 4
                }
                for b in vb ..< B { trow[b] += zrow[b] <= 0 ? 0 : beta * yrow[b] }
            }
        }
    }
}
