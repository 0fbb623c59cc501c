import Testing
import CKernels
import Kernels

/// ReLU at exactly zero, NaN/Inf propagation, empty sizes and the run-time
/// dispatch, for every family this CPU runs.
@Suite struct EdgeCaseTests {
    static var families: [KernelFamily] { KernelFamily.allCases.filter(\.isSupported) }

    @Test(arguments: families)
    func reluAtExactlyZero(family: KernelFamily) throws {
        try reluAtZero(Double.self, family)
        try reluAtZero(Float.self, family)
    }

    func reluAtZero<T: KernelScalar>(_: T.Type, _ family: KernelFamily) throws {
        let w = 5, B = 9
        var g = SplitMix64(seed: 1)
        // W = 0, b = ±0: Z = ±0 exactly, ReLU(±0) = +0, so Y = X bit for bit.
        let W = Matrix<T>(rows: w, cols: w)
        let b = Vector<T>((0..<w).map { $0 % 2 == 0 ? T(0) : -T(0) })
        let X = Matrix<T>.random(w, B, ld: nil, using: &g)
        let Y = Matrix<T>(rows: w, cols: B), Z = Matrix<T>(rows: w, cols: B)
        try LayerKernels.residualForward(beta: 2, W: W, b: b, X: X, Y: Y, Z: Z, family: family)
        #expect(Z.toArray().allSatisfy { $0 == 0 })
        #expect(Y.toArray() == X.toArray())
        let D = Matrix<T>(rows: w, cols: B)
        try LayerKernels.denseForward(activation: .relu, W: W, b: b, X: X, Y: D, family: family)
        #expect(D.toArray().allSatisfy { $0 == 0 && $0.sign == .plus })
        // ReLU'(0) = 0: the adjoint passes Λ⁺ through unchanged and adds nothing.
        let Wr = Matrix<T>.random(w, w, ld: nil, using: &g)
        let Lp = Matrix<T>.random(w, B, ld: nil, using: &g)
        let L = Matrix<T>(rows: w, cols: B), dW = Matrix<T>(rows: w, cols: w), db = Vector<T>(count: w)
        try LayerKernels.residualAdjoint(beta: 2, W: Wr, X: X, Z: Z, lambdaNext: Lp, lambda: L, dW: dW, db: db,
                                         family: family)
        #expect(L.toArray() == Lp.toArray())
        #expect(dW.maxAbs() == 0)
        #expect(db.toArray().allSatisfy { $0 == 0 })
    }

    @Test(arguments: families)
    func nanAndInfinityPropagate(family: KernelFamily) throws {
        try nanInf(Double.self, family)
        try nanInf(Float.self, family)
    }

    func nanInf<T: KernelScalar>(_: T.Type, _ family: KernelFamily) throws {
        let w = 6, B = 11
        var g = SplitMix64(seed: 2)
        let W = Matrix<T>.random(w, w, ld: nil, using: &g)
        for i in 0..<w { W[i, 2] = 1 }  // every output sees input feature 2
        let b = Vector<T>.random(w, using: &g)
        let X = Matrix<T>.random(w, B, ld: nil, using: &g)
        X[2, 3] = .nan       // sample 3: NaN reaches every pre-activation
        X[2, 7] = .infinity  // sample 7: +∞ reaches every pre-activation
        let Y = Matrix<T>(rows: w, cols: B), Z = Matrix<T>(rows: w, cols: B)
        try LayerKernels.residualForward(beta: 0.5, W: W, b: b, X: X, Y: Y, Z: Z, family: family)
        for i in 0..<w {
            #expect(Z[i, 3].isNaN && Y[i, 3].isNaN, "NaN must not be clamped by ReLU (row \(i))")
            #expect(Z[i, 7] == .infinity && Y[i, 7] == .infinity, "row \(i)")
            #expect(Y[i, 0].isFinite)
        }
        // −∞ pre-activation: ReLU(−∞) = 0, a value, not a clamp of NaN.
        let bm = Vector<T>([T](repeating: -.infinity, count: w))
        let Y2 = Matrix<T>(rows: w, cols: B)
        try LayerKernels.residualForward(beta: 0.5, W: W, b: bm, X: X, Y: Y2, family: family)
        #expect(Y2[0, 0] == X[0, 0])
        // Adjoint: NaN in Λ⁺ where ReLU' = 1 propagates to Λ, dW, db.
        let Zp = Matrix<T>(rows: w, cols: B); Zp.fill(1)
        let Lp = Matrix<T>.random(w, B, ld: nil, using: &g)
        Lp[1, 4] = .nan
        let L = Matrix<T>(rows: w, cols: B), dW = Matrix<T>(rows: w, cols: w), db = Vector<T>(count: w)
        try LayerKernels.residualAdjoint(beta: 1, W: W, X: X.columns(0..<B), Z: Zp, lambdaNext: Lp,
                                         lambda: L, dW: dW, db: db, family: family)
        #expect(L[1, 4].isNaN && L[0, 4].isNaN)
        #expect(!L[0, 0].isNaN)
        #expect(db[1].isNaN && !db[0].isNaN)
        #expect(dW[1, 0].isNaN && !dW[0, 0].isNaN)
        // NaN pre-activation: ReLU'(NaN)·λ = λ, as in the reference (NaN is not ≤ 0).
        let Zn = Matrix<T>(rows: w, cols: B); Zn.fill(-1); Zn[0, 0] = .nan
        let Lp2 = Matrix<T>(rows: w, cols: B); Lp2.fill(1)
        let db2 = Vector<T>(count: w)
        try LayerKernels.residualAdjoint(beta: 1, W: W, Z: Zn, lambdaNext: Lp2, db: db2, family: family)
        #expect(db2[0] == 1 && db2[1] == 0)
    }

    @Test(arguments: families)
    func emptySizesDoNothing(family: KernelFamily) throws {
        // Batch 0: outputs and accumulators untouched.
        let w = 4
        let W = Matrix<Double>(rows: w, cols: w); W.fill(1)
        let b = Vector<Double>(count: w)
        let X = Matrix<Double>(rows: w, cols: 0), Y = Matrix<Double>(rows: w, cols: 0)
        try LayerKernels.residualForward(beta: 1, W: W, b: b, X: X, Y: Y, Z: Matrix(rows: w, cols: 0), family: family)
        let dW = Matrix<Double>(rows: w, cols: w); dW.fill(3)
        let db = Vector<Double>(count: w); db.fill(5)
        try LayerKernels.residualAdjoint(beta: 1, W: W, X: X, Z: Matrix(rows: w, cols: 0),
                                         lambdaNext: Matrix(rows: w, cols: 0), lambda: Matrix(rows: w, cols: 0),
                                         dW: dW, db: db, family: family)
        #expect(dW.toArray().allSatisfy { $0 == 3 })
        #expect(db.toArray().allSatisfy { $0 == 5 })
        // Width 0.
        let W0 = Matrix<Double>(rows: 0, cols: 0), X0 = Matrix<Double>(rows: 0, cols: 7)
        try LayerKernels.residualForward(beta: 1, W: W0, b: Vector(count: 0), X: X0, Y: Matrix(rows: 0, cols: 7),
                                         family: family)
        try LayerKernels.residualAdjoint(beta: 1, W: W0, X: X0, Z: X0.clone(), lambdaNext: X0.clone(),
                                         lambda: Matrix(rows: 0, cols: 7), dW: Matrix(rows: 0, cols: 0),
                                         db: Vector(count: 0), family: family)
        // Dense with no inputs: Z = b, and Λin has no rows; with no outputs: Λin = 0.
        let Wd = Matrix<Double>(rows: 3, cols: 0), bd = Vector<Double>([1, -2, 3])
        let Yd = Matrix<Double>(rows: 3, cols: 4)
        try LayerKernels.denseForward(activation: .relu, W: Wd, b: bd, X: Matrix(rows: 0, cols: 4), Y: Yd,
                                      family: family)
        #expect(Yd.row(0) == [1, 1, 1, 1] && Yd.row(1) == [0, 0, 0, 0])
        let Wn = Matrix<Double>(rows: 0, cols: 3), Li = Matrix<Double>(rows: 3, cols: 4); Li.fill(9)
        try LayerKernels.denseAdjoint(activation: .identity, W: Wn, lambdaOut: Matrix(rows: 0, cols: 4),
                                      lambdaIn: Li, family: family)
        #expect(Li.maxAbs() == 0)
    }

    @Test func dispatchSelectionAndEnvironmentRule() throws {
        let best = KernelFamily.best
        #expect(KernelFamily.forEnvironment(nil) == (best, nil))
        #expect(KernelFamily.forEnvironment("") == (best, nil))
        #expect(KernelFamily.forEnvironment("reference") == (.reference, nil))
        let bad = KernelFamily.forEnvironment("sse9")
        #expect(bad.family == best && bad.error != nil)
        // The best family is the widest this CPU supports.
        let widest: KernelFamily = KernelFamily.avx512.isSupported ? .avx512 : KernelFamily.avx2.isSupported ? .avx2 : .reference
        #expect(best == widest)
        #expect(KernelFamily.supportedOptimized == [KernelFamily.avx2, .avx512].filter(\.isSupported))
        for family in [KernelFamily.avx2, .avx512] {
            let forced = KernelFamily.forEnvironment(family.rawValue)
            if family.isSupported {
                #expect(forced == (family, nil))
            } else {
                // An unsupported request falls back to the best family and says why.
                #expect(forced.family == best && forced.error?.contains(family.rawValue) == true, "\(forced)")
            }
        }
        // Without LAYERPAR_KERNELS in the environment, the best family is active at start.
        // (`select` changes it; restore whatever was active.)
        let before = KernelFamily.active
        defer { try? KernelFamily.select(before) }
        try KernelFamily.select(.reference)
        #expect(KernelFamily.active == .reference)
        #expect(String(cString: lp_impl_name(lp_kernels_active())) == "reference")
        for family in [KernelFamily.avx2, .avx512] {
            if family.isSupported {
                try KernelFamily.select(family)
                #expect(KernelFamily.active == family)
                #expect(String(cString: lp_impl_name(lp_kernels_active())) == family.rawValue)
            } else {
                #expect(throws: KernelError.self) { try KernelFamily.select(family) }
                #expect(lp_kernels_select(family == .avx2 ? LP_IMPL_AVX2 : LP_IMPL_AVX512) == -1)
            }
        }
        #expect(lp_kernels_select(lp_impl(rawValue: 7)) == -1)
    }
}
