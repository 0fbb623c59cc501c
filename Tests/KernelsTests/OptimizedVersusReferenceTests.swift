import Testing
import Kernels

/// Every optimized kernel family this CPU runs (AVX2, AVX-512) against the
/// reference kernel, norm-wise relative error ≤ 1e-13 (double) / 1e-5
/// (float), on all widths and batches of issue 3, packed and padded leading
/// dimensions. Each width runs every batch, so the whole product (9 × 7) is
/// covered; padding cycles over the batches, and each padding appears with
/// every width.
@Suite(.enabled(if: !KernelFamily.supportedOptimized.isEmpty, "CPU has no optimized kernel family"))
struct OptimizedVersusReferenceTests {
    static let widths = [1, 3, 7, 15, 16, 17, 33, 100, 257]
    static let batches = [1, 2, 5, 63, 64, 65, 257]
    static var families: [KernelFamily] { KernelFamily.supportedOptimized }

    @Test("residual and dense kernels, double", arguments: families, widths)
    func double(family: KernelFamily, width: Int) throws { try check(Double.self, family, width: width) }

    @Test("residual and dense kernels, float", arguments: families, widths)
    func float(family: KernelFamily, width: Int) throws { try check(Float.self, family, width: width) }

    func check<T: KernelScalar>(_: T.Type, _ family: KernelFamily, width w: Int) throws {
        var g = SplitMix64(seed: UInt64(w) &* 7919)
        for (n, B) in Self.batches.enumerated() {
            let pad = Padding.allCases[(n + w) % Padding.allCases.count]
            try residual(T.self, family, w, B, pad, &g)
            // The opening layer (3 inputs → w, ReLU) and the closing layer (w → 2, linear).
            try dense(T.self, family, m: w, n: 3, B, .relu, pad, &g)
            try dense(T.self, family, m: 2, n: w, B, .identity, pad, &g)
            // A square ReLU dense layer, as wide as the residual one.
            try dense(T.self, family, m: w, n: w, B, .relu, pad, &g)
        }
    }

    func residual<T: KernelScalar>(_: T.Type, _ family: KernelFamily, _ w: Int, _ B: Int, _ pad: Padding,
                                   _ g: inout SplitMix64) throws {
        let tol = tolerance(T.self)
        let ctx = Comment(rawValue: "\(family) w=\(w) B=\(B) pad=\(pad) \(T.precisionName)")
        let (W, b, X) = randomResidualLayer(T.self, w, B, pad, &g)
        let beta = T(0.7)
        let Yr = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), Zr = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
        let Ya = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), Za = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
        try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Yr, Z: Zr, family: .reference)
        try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Ya, Z: Za, family: family)
        #expect(relativeError(Ya, Yr) <= tol, ctx)
        #expect(relativeError(Za, Zr) <= tol, ctx)
        // Without Z: Y alone.
        let Yb = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
        try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Yb, family: family)
        #expect(relativeError(Yb, Yr) <= tol, ctx)

        // Adjoint at the reference Z, with some pre-activations exactly 0.
        if w * B > 2 { Zr[0, 0] = 0; Zr[w - 1, B - 1] = 0 }
        let Lp = Matrix<T>.random(w, B, ld: pad.ld(B), using: &g)
        let Lr = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), La = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
        let dW0 = Matrix<T>.random(w, w, ld: pad.ld(w), using: &g), db0 = Vector<T>.random(w, using: &g)
        let dWr = dW0.copy(ld: pad.ld(w)), dWa = dW0.copy(ld: pad.ld(w))
        let dbr = db0.clone(), dba = db0.clone()
        try LayerKernels.residualAdjoint(beta: beta, W: W, X: X, Z: Zr, lambdaNext: Lp, lambda: Lr,
                                         dW: dWr, db: dbr, family: .reference)
        try LayerKernels.residualAdjoint(beta: beta, W: W, X: X, Z: Zr, lambdaNext: Lp, lambda: La,
                                         dW: dWa, db: dba, family: family)
        #expect(relativeError(La, Lr) <= tol, ctx)
        // Compare the accumulated increments, not the (larger) initial values.
        try dWa.axpy(-1, dW0); try dWr.axpy(-1, dW0)
        try dba.axpy(-1, db0); try dbr.axpy(-1, db0)
        #expect(relativeError(dWa, dWr) <= tol * 10, ctx)
        #expect(relativeError(dba, dbr) <= tol * 10, ctx)
        // Each output alone (the kernels skip what is not asked for).
        let Lonly = Matrix<T>(rows: w, cols: B)
        try LayerKernels.residualAdjoint(beta: beta, W: W, Z: Zr, lambdaNext: Lp, lambda: Lonly, family: family)
        #expect(relativeError(Lonly, Lr) <= tol, ctx)
        let dbOnly = Vector<T>(count: w)
        try LayerKernels.residualAdjoint(beta: beta, W: W, Z: Zr, lambdaNext: Lp, db: dbOnly, family: family)
        #expect(relativeError(dbOnly, dbr) <= tol * 10, ctx)
    }

    func dense<T: KernelScalar>(_: T.Type, _ family: KernelFamily, m: Int, n: Int, _ B: Int, _ act: Activation, _ pad: Padding,
                                _ g: inout SplitMix64) throws {
        let tol = tolerance(T.self)
        let ctx = Comment(rawValue: "\(family) dense \(m)×\(n) B=\(B) \(act) pad=\(pad) \(T.precisionName)")
        let W = Matrix<T>.random(m, n, ld: pad.ld(n), scale: 1 / Double(n).squareRoot(), using: &g)
        let b = Vector<T>.random(m, scale: 0.5, using: &g)
        let X = Matrix<T>.random(n, B, ld: pad.ld(B), using: &g)
        let Yr = Matrix<T>(rows: m, cols: B, ld: pad.ld(B)), Zr = Matrix<T>(rows: m, cols: B, ld: pad.ld(B))
        let Ya = Matrix<T>(rows: m, cols: B, ld: pad.ld(B)), Za = Matrix<T>(rows: m, cols: B, ld: pad.ld(B))
        try LayerKernels.denseForward(activation: act, W: W, b: b, X: X, Y: Yr, Z: Zr, family: .reference)
        try LayerKernels.denseForward(activation: act, W: W, b: b, X: X, Y: Ya, Z: Za, family: family)
        #expect(relativeError(Ya, Yr) <= tol, ctx)
        #expect(relativeError(Za, Zr) <= tol, ctx)

        let Lo = Matrix<T>.random(m, B, ld: pad.ld(B), using: &g)
        let Lr = Matrix<T>(rows: n, cols: B, ld: pad.ld(B)), La = Matrix<T>(rows: n, cols: B, ld: pad.ld(B))
        let dWr = Matrix<T>(rows: m, cols: n, ld: pad.ld(n)), dWa = Matrix<T>(rows: m, cols: n, ld: pad.ld(n))
        let dbr = Vector<T>(count: m), dba = Vector<T>(count: m)
        try LayerKernels.denseAdjoint(activation: act, W: W, X: X, Z: Zr, lambdaOut: Lo, lambdaIn: Lr,
                                      dW: dWr, db: dbr, family: .reference)
        try LayerKernels.denseAdjoint(activation: act, W: W, X: X, Z: Zr, lambdaOut: Lo, lambdaIn: La,
                                      dW: dWa, db: dba, family: family)
        #expect(relativeError(La, Lr) <= tol, ctx)
        #expect(relativeError(dWa, dWr) <= tol * 10, ctx)
        #expect(relativeError(dba, dbr) <= tol * 10, ctx)
    }

    /// Sub-batches through column views give the same result as the whole batch.
    @Test(arguments: families)
    func columnViewsMatchWholeBatch(family: KernelFamily) throws {
        var g = SplitMix64(seed: 5)
        let w = 17, B = 70
        let W = Matrix<Double>.random(w, w, ld: nil, using: &g), b = Vector<Double>.random(w, using: &g)
        let X = Matrix<Double>.random(w, B, ld: nil, using: &g)
        let Y = Matrix<Double>(rows: w, cols: B), Yv = Matrix<Double>(rows: w, cols: B)
        try LayerKernels.residualForward(beta: 0.3, W: W, b: b, X: X, Y: Y, family: family)
        for r in [0..<13, 13..<40, 40..<70] {
            try LayerKernels.residualForward(beta: 0.3, W: W, b: b, X: X.columns(r), Y: Yv.columns(r), family: family)
        }
        #expect(relativeError(Yv, Y) <= 1e-15)
    }
}

/// The AVX2 and AVX-512 families against each other, where the CPU runs both:
/// the forward kernels compute every output as the same in-order FMA chain
/// over k, so Y and Z agree bit for bit, as does the adjoint state Λ (the
/// same chain over the rows of W); the weight and bias gradients reduce over
/// the batch in 4/8 against 8/16 lanes and agree to rounding.
@Suite(.enabled(if: KernelFamily.avx2.isSupported && KernelFamily.avx512.isSupported, "CPU lacks AVX-512 or AVX2"))
struct AVX2VersusAVX512Tests {
    @Test("residual kernels, double and float", arguments: [1, 7, 16, 33, 100, 257])
    func residual(width w: Int) throws {
        try check(Double.self, w)
        try check(Float.self, w)
    }

    func check<T: KernelScalar>(_: T.Type, _ w: Int) throws {
        var g = SplitMix64(seed: UInt64(w) &* 31)
        for (n, B) in [1, 5, 17, 64, 65, 257].enumerated() {
            let pad = Padding.allCases[(n + w) % Padding.allCases.count]
            let ctx = Comment(rawValue: "w=\(w) B=\(B) pad=\(pad) \(T.precisionName)")
            let (W, b, X) = randomResidualLayer(T.self, w, B, pad, &g)
            let Lp = Matrix<T>.random(w, B, ld: pad.ld(B), using: &g)
            var out: [KernelFamily: (Y: [T], Z: [T], L: [T], dW: Matrix<T>, db: Vector<T>)] = [:]
            for family in [KernelFamily.avx2, .avx512] {
                let Y = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), Z = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
                try LayerKernels.residualForward(beta: 0.7, W: W, b: b, X: X, Y: Y, Z: Z, family: family)
                let L = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
                let dW = Matrix<T>(rows: w, cols: w, ld: pad.ld(w)), db = Vector<T>(count: w)
                try LayerKernels.residualAdjoint(beta: 0.7, W: W, X: X, Z: Z, lambdaNext: Lp, lambda: L,
                                                 dW: dW, db: db, family: family)
                out[family] = (Y.toArray(), Z.toArray(), L.toArray(), dW, db)
            }
            let a = out[.avx2]!, z = out[.avx512]!
            #expect(sameBits(a.Y, z.Y) && sameBits(a.Z, z.Z), ctx)
            #expect(sameBits(a.L, z.L), ctx)
            #expect(relativeError(a.dW, z.dW) <= tolerance(T.self) * 10, ctx)
            #expect(relativeError(a.db, z.db) <= tolerance(T.self) * 10, ctx)
            #expect(a.Y.contains { $0 != 0 } && a.L.contains { $0 != 0 }, "outputs all zero: the test would prove nothing")
        }
    }
}
