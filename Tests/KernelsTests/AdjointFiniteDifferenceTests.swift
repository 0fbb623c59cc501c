import Testing
import Kernels

/// The adjoint kernels against central finite differences of the forward
/// kernels (double, small shapes), for every family this CPU runs.
///
/// With the linear functional ℓ(Y) = ⟨Λ⁺, Y⟩ of the layer output, the adjoint
/// gives ∂ℓ/∂X = Λ, ∂ℓ/∂W = dW, ∂ℓ/∂b = db. For a random direction D,
/// (ℓ(P + hD) − ℓ(P − hD)) / 2h = ⟨∇ℓ, D⟩ + O(h²) away from ReLU kinks; the
/// data keep every pre-activation at least 0.05 from 0, so h = 1e-6 never
/// crosses one and the agreement is to ~1e-8 relative.
@Suite struct AdjointFiniteDifferenceTests {
    static var families: [KernelFamily] { KernelFamily.allCases.filter(\.isSupported) }

    /// Random data whose pre-activations W x + b all stay ≥ 0.05 away from 0.
    func data(_ w: Int, _ n: Int, _ B: Int, seed: UInt64) throws
        -> (W: Matrix<Double>, b: Vector<Double>, X: Matrix<Double>) {
        var g = SplitMix64(seed: seed)
        while true {
            let W = Matrix<Double>.random(w, n, ld: nil, scale: 1, using: &g)
            let b = Vector<Double>.random(w, scale: 1, using: &g)
            let X = Matrix<Double>.random(n, B, ld: nil, using: &g)
            let Z = Matrix<Double>(rows: w, cols: B), Y = Matrix<Double>(rows: w, cols: B)
            try LayerKernels.denseForward(activation: .identity, W: W, b: b, X: X, Y: Y, Z: Z, family: .reference)
            if Z.toArray().allSatisfy({ abs($0) >= 0.05 }) { return (W, b, X) }
        }
    }

    /// Central differences of `loss` along (DX, DW, Db) jointly and along each part alone
    /// against the adjoint's directional derivatives ⟨gX, DX⟩ + ⟨gW, DW⟩ + ⟨gb, Db⟩.
    func checkAgainstFiniteDifferences(
        _ loss: (Matrix<Double>, Vector<Double>, Matrix<Double>) throws -> Double,
        W: Matrix<Double>, b: Vector<Double>, X: Matrix<Double>,
        DW: Matrix<Double>, Db: Vector<Double>, DX: Matrix<Double>,
        gradients g: (X: Matrix<Double>, W: Matrix<Double>, b: Vector<Double>), names: [String], h: Double
    ) throws {
        let exactParts = [try g.X.dot(DX), try g.W.dot(DW), try g.b.dot(Db)]
        for parts in [[0, 1, 2], [0], [1], [2]] {
            func shifted(_ s: Double) throws -> Double {
                let W2 = W.clone(), X2 = X.clone(), b2 = b.clone()
                if parts.contains(0) { try X2.axpy(s, DX) }
                if parts.contains(1) { try W2.axpy(s, DW) }
                if parts.contains(2) { try b2.axpy(s, Db) }
                return try loss(W2, b2, X2)
            }
            let fd = try (shifted(h) - shifted(-h)) / (2 * h)
            let exact = parts.map { exactParts[$0] }.reduce(0, +)
            let what = parts.count == 3 ? "joint" : names[parts[0]]
            #expect(abs(fd - exact) <= 1e-7 * max(1, abs(exact)), "\(what): fd \(fd) vs adjoint \(exact)")
        }
    }

    @Test(arguments: families, [(1, 1), (3, 2), (5, 7), (9, 5)] as [(Int, Int)])
    func residual(family: KernelFamily, shape: (Int, Int)) throws {
        let (w, B) = shape
        let beta = 0.8, h = 1e-6
        let (W, b, X) = try data(w, w, B, seed: UInt64(w * 100 + B))
        var g = SplitMix64(seed: 99)
        let Lp = Matrix<Double>.random(w, B, ld: nil, using: &g)
        func loss(_ W: Matrix<Double>, _ b: Vector<Double>, _ X: Matrix<Double>) throws -> Double {
            let Y = Matrix<Double>(rows: w, cols: B)
            try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Y, family: family)
            return try Y.dot(Lp)
        }
        let Z = Matrix<Double>(rows: w, cols: B), Y = Matrix<Double>(rows: w, cols: B)
        try LayerKernels.residualForward(beta: beta, W: W, b: b, X: X, Y: Y, Z: Z, family: family)
        let L = Matrix<Double>(rows: w, cols: B), dW = Matrix<Double>(rows: w, cols: w), db = Vector<Double>(count: w)
        try LayerKernels.residualAdjoint(beta: beta, W: W, X: X, Z: Z, lambdaNext: Lp, lambda: L, dW: dW, db: db,
                                         family: family)

        let DX = Matrix<Double>.random(w, B, ld: nil, using: &g)
        let DW = Matrix<Double>.random(w, w, ld: nil, using: &g)
        let Db = Vector<Double>.random(w, using: &g)
        try checkAgainstFiniteDifferences(loss, W: W, b: b, X: X, DW: DW, Db: Db, DX: DX,
                                          gradients: (L, dW, db), names: ["Λ", "dW", "db"], h: h)
    }

    @Test(arguments: families, [Activation.relu, .identity])
    func dense(family: KernelFamily, activation: Activation) throws {
        let m = 4, n = 6, B = 5, h = 1e-6
        let (W, b, X) = try data(m, n, B, seed: 7)
        var g = SplitMix64(seed: 8)
        let Lo = Matrix<Double>.random(m, B, ld: nil, using: &g)
        func loss(_ W: Matrix<Double>, _ b: Vector<Double>, _ X: Matrix<Double>) throws -> Double {
            let Y = Matrix<Double>(rows: m, cols: B)
            try LayerKernels.denseForward(activation: activation, W: W, b: b, X: X, Y: Y, family: family)
            return try Y.dot(Lo)
        }
        let Z = Matrix<Double>(rows: m, cols: B), Y = Matrix<Double>(rows: m, cols: B)
        try LayerKernels.denseForward(activation: activation, W: W, b: b, X: X, Y: Y, Z: Z, family: family)
        let Li = Matrix<Double>(rows: n, cols: B), dW = Matrix<Double>(rows: m, cols: n), db = Vector<Double>(count: m)
        try LayerKernels.denseAdjoint(activation: activation, W: W, X: X, Z: Z, lambdaOut: Lo, lambdaIn: Li,
                                      dW: dW, db: db, family: family)
        let DX = Matrix<Double>.random(n, B, ld: nil, using: &g)
        let DW = Matrix<Double>.random(m, n, ld: nil, using: &g)
        let Db = Vector<Double>.random(m, using: &g)
        try checkAgainstFiniteDifferences(loss, W: W, b: b, X: X, DW: DW, Db: Db, DX: DX,
                                          gradients: (Li, dW, db), names: ["Λin", "dW", "db"], h: h)
    }
}
