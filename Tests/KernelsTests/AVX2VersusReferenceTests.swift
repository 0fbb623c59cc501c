import Testing
import Kernels

/// Every AVX2 kernel against the reference kernel, norm-wise relative error
/// ≤ 1e-13 (double) / 1e-5 (float), on all widths and batches of issue 3,
/// packed and padded leading dimensions. Each width runs every batch, so the
/// whole product (9 × 7) is covered; padding cycles over the batches, and
/// each padding appears with every width.
@Suite(.enabled(if: KernelFamily.avx2.isSupported, "CPU lacks AVX2+FMA"))
struct AVX2VersusReferenceTests {
    static let widths = [1, 3, 7, 15, 16, 17, 33, 100, 257]
    static let batches = [1, 2, 5, 63, 64, 65, 257]

    @Test("residual and dense kernels, double", arguments: widths)
    func double(width: Int) throws { try check(Double.self, width: width) }

    @Test("residual and dense kernels, float", arguments: widths)
    func float(width: Int) throws { try check(Float.self, width: width) }

    func check<T: KernelScalar>(_: T.Type, width w: Int) throws {
        var g = SplitMix64(seed: UInt64(w) &* 7919)
        for (n, B) in Self.batches.enumerated() {
            let pad = Padding.allCases[(n + w) % Padding.allCases.count]
            try residual(T.self, w, B, pad, &g)
            // The opening layer (3 inputs → w, ReLU) and the closing layer (w → 2, linear).
            try dense(T.self, m: w, n: 3, B, .relu, pad, &g)
            try dense(T.self, m: 2, n: w, B, .identity, pad, &g)
            // A square ReLU dense layer, as wide as the residual one.
            try dense(T.self, m: w, n: w, B, .relu, pad, &g)
        }
    }

    func residual<T: KernelScalar>(_: T.Type, _ w: Int, _ B: Int, _ pad: Padding,
                                   _ g: inout SplitMix64) throws {
        let tol = tolerance(T.self)
        let ctx = Comment(rawValue: "w=\(w) B=\(B) pad=\(pad) \(T.precisionName)")
        let W = Matrix<T>.random(w, w, ld: pad.ld(w), scale: 1 / Double(w).squareRoot(), using: &g)
        let b = Vector<T>.random(w, scale: 0.5, using: &g)
        let X = Matrix<T>.random(w, B, ld: pad.ld(B), using: &g)
        let beta = T(0.7)
        let Yr = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), Zr = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
        let Ya = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), Za = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
        try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Yr, Z: Zr, family: .reference)
        try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Ya, Z: Za, family: .avx2)
        #expect(relativeError(Ya, Yr) <= tol, ctx)
        #expect(relativeError(Za, Zr) <= tol, ctx)
        // Without Z: Y alone.
        let Yb = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
        try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Yb, family: .avx2)
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
                                         dW: dWa, db: dba, family: .avx2)
        #expect(relativeError(La, Lr) <= tol, ctx)
        // Compare the accumulated increments, not the (larger) initial values.
        try dWa.axpy(-1, dW0); try dWr.axpy(-1, dW0)
        try dba.axpy(-1, db0); try dbr.axpy(-1, db0)
        #expect(relativeError(dWa, dWr) <= tol * 10, ctx)
        #expect(relativeError(dba, dbr) <= tol * 10, ctx)
        // Each output alone (the kernels skip what is not asked for).
        let Lonly = Matrix<T>(rows: w, cols: B)
        try LayerKernels.residualAdjoint(beta: beta, W: W, Z: Zr, lambdaNext: Lp, lambda: Lonly, family: .avx2)
        #expect(relativeError(Lonly, Lr) <= tol, ctx)
        let dbOnly = Vector<T>(count: w)
        try LayerKernels.residualAdjoint(beta: beta, W: W, Z: Zr, lambdaNext: Lp, db: dbOnly, family: .avx2)
        #expect(relativeError(dbOnly, dbr) <= tol * 10, ctx)
    }

    func dense<T: KernelScalar>(_: T.Type, m: Int, n: Int, _ B: Int, _ act: Activation, _ pad: Padding,
                                _ g: inout SplitMix64) throws {
        let tol = tolerance(T.self)
        let ctx = Comment(rawValue: "dense \(m)×\(n) B=\(B) \(act) pad=\(pad) \(T.precisionName)")
        let W = Matrix<T>.random(m, n, ld: pad.ld(n), scale: 1 / Double(n).squareRoot(), using: &g)
        let b = Vector<T>.random(m, scale: 0.5, using: &g)
        let X = Matrix<T>.random(n, B, ld: pad.ld(B), using: &g)
        let Yr = Matrix<T>(rows: m, cols: B, ld: pad.ld(B)), Zr = Matrix<T>(rows: m, cols: B, ld: pad.ld(B))
        let Ya = Matrix<T>(rows: m, cols: B, ld: pad.ld(B)), Za = Matrix<T>(rows: m, cols: B, ld: pad.ld(B))
        try LayerKernels.denseForward(activation: act, W: W, b: b, X: X, Y: Yr, Z: Zr, family: .reference)
        try LayerKernels.denseForward(activation: act, W: W, b: b, X: X, Y: Ya, Z: Za, family: .avx2)
        #expect(relativeError(Ya, Yr) <= tol, ctx)
        #expect(relativeError(Za, Zr) <= tol, ctx)

        let Lo = Matrix<T>.random(m, B, ld: pad.ld(B), using: &g)
        let Lr = Matrix<T>(rows: n, cols: B, ld: pad.ld(B)), La = Matrix<T>(rows: n, cols: B, ld: pad.ld(B))
        let dWr = Matrix<T>(rows: m, cols: n, ld: pad.ld(n)), dWa = Matrix<T>(rows: m, cols: n, ld: pad.ld(n))
        let dbr = Vector<T>(count: m), dba = Vector<T>(count: m)
        try LayerKernels.denseAdjoint(activation: act, W: W, X: X, Z: Zr, lambdaOut: Lo, lambdaIn: Lr,
                                      dW: dWr, db: dbr, family: .reference)
        try LayerKernels.denseAdjoint(activation: act, W: W, X: X, Z: Zr, lambdaOut: Lo, lambdaIn: La,
                                      dW: dWa, db: dba, family: .avx2)
        #expect(relativeError(La, Lr) <= tol, ctx)
        #expect(relativeError(dWa, dWr) <= tol * 10, ctx)
        #expect(relativeError(dba, dbr) <= tol * 10, ctx)
    }

    /// Sub-batches through column views give the same result as the whole batch.
    @Test func columnViewsMatchWholeBatch() throws {
        var g = SplitMix64(seed: 5)
        let w = 17, B = 70
        let W = Matrix<Double>.random(w, w, ld: nil, using: &g), b = Vector<Double>.random(w, using: &g)
        let X = Matrix<Double>.random(w, B, ld: nil, using: &g)
        let Y = Matrix<Double>(rows: w, cols: B), Yv = Matrix<Double>(rows: w, cols: B)
        try LayerKernels.residualForward(beta: 0.3, W: W, b: b, X: X, Y: Y, family: .avx2)
        for r in [0..<13, 13..<40, 40..<70] {
            try LayerKernels.residualForward(beta: 0.3, W: W, b: b, X: X.columns(r), Y: Yv.columns(r), family: .avx2)
        }
        #expect(relativeError(Yv, Y) <= 1e-15)
    }
}
