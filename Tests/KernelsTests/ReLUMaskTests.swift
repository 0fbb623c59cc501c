import Testing
import Kernels

/// The ReLU-mask variants of the residual kernels: the forward kernel's mask is
/// exactly `not (z <= 0)` of the Z it computes (Y unchanged), the adjoint from
/// a mask gives the bits of the adjoint from Z (same G, same arithmetic) in
/// every family, and the optimized mask kernels agree with the reference ones to
/// rounding — over widths 1…64, batches that are not multiples of the vector
/// width, and odd leading dimensions of the mask and the matrices.
@Suite struct ReLUMaskTests {
    static var families: [KernelFamily] { KernelFamily.allCases.filter(\.isSupported) }
    static let batches = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 100, 257]
    /// Sentinel in the mask padding: the kernels must write only the B entries of a row.
    static let sentinel: UInt8 = 0xA5

    @Test("mask kernels, double", arguments: 1 ... 64)
    func double(width: Int) throws { try check(Double.self, width: width) }

    @Test("mask kernels, float", arguments: 1 ... 64)
    func float(width: Int) throws { try check(Float.self, width: width) }

    func check<T: KernelScalar>(_: T.Type, width w: Int) throws {
        var g = SplitMix64(seed: UInt64(w) &* 104_729)
        // Three batches per width, cycling through the list so every batch meets many widths.
        for n in 0 ..< 3 {
            let B = Self.batches[(w * 3 + n) % Self.batches.count]
            let pad = Padding.allCases[(w + n) % Padding.allCases.count]
            let maskLD: Int? = (w + n) % 2 == 0 ? B + 1 + (w % 7) : nil
            try one(T.self, w, B, pad, maskLD, &g)
        }
    }

    func one<T: KernelScalar>(_: T.Type, _ w: Int, _ B: Int, _ pad: Padding, _ maskLD: Int?,
                              _ g: inout SplitMix64) throws {
        let ctx = Comment(rawValue: "w=\(w) B=\(B) pad=\(pad) maskLD=\(maskLD.map(String.init) ?? "default") \(T.precisionName)")
        let (W, b, X) = randomResidualLayer(T.self, w, B, pad, &g)
        if w > 1 { for k in 0 ..< w { W[w - 1, k] = 0 }; b[w - 1] = 0 }  // a row of exact zeros: ReLU'(0) = 0
        let beta = T(0.7)
        let Lp = Matrix<T>.random(w, B, ld: pad.ld(B), using: &g)
        let dW0 = Matrix<T>.random(w, w, ld: pad.ld(w), using: &g), db0 = Vector<T>.random(w, using: &g)
        var results: [KernelFamily: (L: Matrix<T>, dW: Matrix<T>, db: Vector<T>)] = [:]
        for family in Self.families {
            let fctx = Comment(rawValue: "\(ctx.rawValue) \(family.rawValue)")
            // Forward: Y alone, Y + Z + M, Y + M: one Y, and M = not(Z <= 0) of the Z computed.
            let Y0 = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), Y1 = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
            let Y2 = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), Z = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
            let M1 = paddedMask(w, B, maskLD), M2 = paddedMask(w, B, maskLD)
            try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Y0, family: family)
            try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Y1, Z: Z, mask: M1, family: family)
            try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Y2, mask: M2, family: family)
            #expect(sameBits(Y1.toArray(), Y0.toArray()) && sameBits(Y2.toArray(), Y0.toArray()), fctx)
            #expect(M1.toArray() == Z.toArray().map { $0 <= 0 ? 0 : 1 }, fctx)
            #expect(M2.toArray() == M1.toArray(), fctx)
            #expect(paddingIntact(M1) && paddingIntact(M2), "mask padding written: \(fctx.rawValue)")
            if w > 1 { #expect((0 ..< B).allSatisfy { !M1[w - 1, $0] }, fctx) }

            // Adjoint from Z and from M: the same bits in every output.
            let Lz = Matrix<T>(rows: w, cols: B, ld: pad.ld(B)), Lm = Matrix<T>(rows: w, cols: B, ld: pad.ld(B))
            let dWz = dW0.copy(ld: pad.ld(w)), dWm = dW0.copy(ld: pad.ld(w)), dbz = db0.clone(), dbm = db0.clone()
            try LayerKernels.residualAdjoint(beta: beta, W: W, X: X, Z: Z, lambdaNext: Lp, lambda: Lz,
                                             dW: dWz, db: dbz, family: family)
            try LayerKernels.residualAdjoint(beta: beta, W: W, X: X, mask: M1, lambdaNext: Lp, lambda: Lm,
                                             dW: dWm, db: dbm, family: family)
            #expect(sameBits(Lm.toArray(), Lz.toArray()), fctx)
            #expect(sameBits(dWm.toArray(), dWz.toArray()), fctx)
            #expect(sameBits(dbm.toArray(), dbz.toArray()), fctx)
            // Each output alone from the mask.
            let Lonly = Matrix<T>(rows: w, cols: B), dbOnly = db0.clone()
            try LayerKernels.residualAdjoint(beta: beta, W: W, mask: M1, lambdaNext: Lp, lambda: Lonly, family: family)
            try LayerKernels.residualAdjoint(beta: beta, W: W, mask: M1, lambdaNext: Lp, db: dbOnly, family: family)
            #expect(sameBits(Lonly.toArray(), Lz.toArray()) && sameBits(dbOnly.toArray(), dbz.toArray()), fctx)
            results[family] = (Lm, dWm, dbm)
        }
        // Each optimized family from its mask against the reference from its own: to rounding
        // (the masks can differ only where z rounds across 0, which these random data never
        // hit this closely).
        guard let r = results[.reference] else { return }
        try r.dW.axpy(-1, dW0); try r.db.axpy(-1, db0)
        for family in KernelFamily.supportedOptimized {
            guard let a = results[family] else { continue }
            let tol = tolerance(T.self), fctx = Comment(rawValue: "\(ctx.rawValue) \(family)")
            #expect(relativeError(a.L, r.L) <= tol, fctx)
            try a.dW.axpy(-1, dW0); try a.db.axpy(-1, db0)
            #expect(relativeError(a.dW, r.dW) <= tol * 10, fctx)
            #expect(relativeError(a.db, r.db) <= tol * 10, fctx)
        }
    }

    /// NaN pre-activations: the mask is 1 (NaN is not ≤ 0), so the mask adjoint passes λ
    /// through exactly as the Z adjoint does; ±∞ and exact zeros follow the same rule.
    @Test(arguments: families)
    func nanInfinityAndZero(family: KernelFamily) throws {
        try specials(Double.self, family)
        try specials(Float.self, family)
    }

    func specials<T: KernelScalar>(_: T.Type, _ family: KernelFamily) throws {
        let w = 6, B = 11
        var g = SplitMix64(seed: 11)
        let W = Matrix<T>.random(w, w, ld: nil, using: &g)
        for i in 0 ..< w { W[i, 2] = 1 }
        for k in 0 ..< w { W[5, k] = 0 }
        let b = Vector<T>.random(w, using: &g); b[5] = 0
        let X = Matrix<T>.random(w, B, ld: nil, using: &g)
        X[2, 3] = .nan; X[2, 7] = .infinity; X[2, 9] = -.infinity
        let Y = Matrix<T>(rows: w, cols: B), Z = Matrix<T>(rows: w, cols: B), M = ReLUMask(rows: w, cols: B)
        try LayerKernels.residualForward(beta: 0.5, W: W, b: b, X: X, Y: Y, Z: Z, mask: M, family: family)
        for i in 0 ..< 5 {
            #expect(Z[i, 3].isNaN && M[i, 3], "NaN pre-activation: mask 1 (row \(i))")
            #expect(M[i, 7] && !M[i, 9], "row \(i)")
        }
        #expect(M[5, 3], "0·NaN = NaN: row 5 at sample 3 is NaN too")
        #expect(!M[5, 0] && Z[5, 0] == 0, "z = 0 exactly: mask 0")
        let Lp = Matrix<T>.random(w, B, ld: nil, using: &g)
        let Xg = X.clone(); Xg[2, 3] = 1; Xg[2, 7] = 1; Xg[2, 9] = 1  // finite layer input for dW
        let Lz = Matrix<T>(rows: w, cols: B), Lm = Matrix<T>(rows: w, cols: B)
        let dWz = Matrix<T>(rows: w, cols: w), dWm = Matrix<T>(rows: w, cols: w)
        let dbz = Vector<T>(count: w), dbm = Vector<T>(count: w)
        try LayerKernels.residualAdjoint(beta: 1, W: W, X: Xg, Z: Z, lambdaNext: Lp, lambda: Lz, dW: dWz, db: dbz, family: family)
        try LayerKernels.residualAdjoint(beta: 1, W: W, X: Xg, mask: M, lambdaNext: Lp, lambda: Lm, dW: dWm, db: dbm, family: family)
        #expect(sameBits(Lm.toArray(), Lz.toArray()) && sameBits(dWm.toArray(), dWz.toArray())
                && sameBits(dbm.toArray(), dbz.toArray()))
        let finite = dbm.toArray().allSatisfy { $0.isFinite }
        #expect(finite, "a NaN z passes λ, it does not poison G")
    }

    @Test func wrapperNeedsExactlyOneOfZAndMask() throws {
        let w = 3, B = 5
        let W = Matrix<Double>(rows: w, cols: w), Lp = Matrix<Double>(rows: w, cols: B)
        #expect(throws: KernelError.self) { try LayerKernels.residualAdjoint(beta: 1, W: W, lambdaNext: Lp) }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualAdjoint(beta: 1, W: W, Z: Lp.clone(), mask: ReLUMask(rows: w, cols: B), lambdaNext: Lp)
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualAdjoint(beta: 1, W: W, mask: ReLUMask(rows: w, cols: B + 1), lambdaNext: Lp)
        }
        #expect(throws: KernelError.self) {
            try LayerKernels.residualForward(beta: 1, W: W, b: Vector(count: w), X: Lp, Y: Lp.clone(),
                                             mask: ReLUMask(rows: w + 1, cols: B))
        }
    }

    @Test func leadingDimensionAndViews() {
        #expect(ReLUMask.paddedLeadingDimension(1) == 64)
        #expect(ReLUMask.paddedLeadingDimension(65) == 128)
        #expect(ReLUMask.paddedLeadingDimension(1024) == 1088)
        let m = ReLUMask(rows: 3, cols: 100)
        #expect(Int(bitPattern: m.baseAddress) % 64 == 0 && m.ld == 128)
        m.baseAddress[1 * m.ld + 40] = 1
        let v = m.columns(30 ..< 50)
        #expect(v.cols == 20 && v.ld == 128 && v[1, 10] && !v[1, 11])
    }

    func paddedMask(_ w: Int, _ B: Int, _ ld: Int?) -> ReLUMask {
        let m = ReLUMask(rows: w, cols: B, ld: ld)
        for i in 0 ..< w { for j in 0 ..< m.ld { m.baseAddress[i * m.ld + j] = Self.sentinel } }
        return m
    }

    func paddingIntact(_ m: ReLUMask) -> Bool {
        (0 ..< m.rows).allSatisfy { i in (m.cols ..< m.ld).allSatisfy { m.baseAddress[i * m.ld + $0] == Self.sentinel } }
    }
}

/// Bitwise equality of two arrays of floating-point values (NaN payloads included).
func sameBits<T: KernelScalar>(_ a: [T], _ b: [T]) -> Bool {
    a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
}
