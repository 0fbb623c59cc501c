import Kernels

/// What a forward pass keeps of each hidden layer's pre-activation `zⁿ = Wⁿxⁿ + bⁿ`
/// for the backward (adjoint) pass, which needs only ReLU'(zⁿ):
/// - ``store``: `zⁿ` itself, `w×B` doubles per layer (as much memory traffic as the states);
/// - ``mask``: its ReLU mask, `w×B` bytes per layer (``ReLUMask``, an eighth of that),
///   written by the same fused forward kernel call;
/// - ``recompute``: nothing; the backward pass recomputes `zⁿ`, one more forward
///   kernel call per layer.
/// All three give bitwise the same gradients (the adjoint kernel forms the same G).
public enum PreactivationStorage: String, Sendable, Codable, CaseIterable {
    case store
    case mask
    case recompute
}

/// The linearisation point of one hidden layer's adjoint step, as kept by a forward pass.
public enum Linearisation {
    case preactivation(Matrix<Double>)
    case mask(ReLUMask)

    /// `λ = λ⁺ + β·Wᵀ(ReLU'(z) ⊙ λ⁺)` and the gradients, from `z` or its mask
    /// (``LayerKernels/residualAdjoint(beta:W:X:Z:mask:lambdaNext:lambda:dW:db:family:)``).
    @inlinable
    public func adjoint(beta: Double, W: Matrix<Double>, X: Matrix<Double>?, lambdaNext: Matrix<Double>,
                        lambda: Matrix<Double>?, dW: Matrix<Double>? = nil, db: Vector<Double>? = nil) throws {
        switch self {
        case .preactivation(let z):
            try LayerKernels.residualAdjoint(beta: beta, W: W, X: X, Z: z, lambdaNext: lambdaNext, lambda: lambda, dW: dW, db: db)
        case .mask(let m):
            try LayerKernels.residualAdjoint(beta: beta, W: W, X: X, mask: m, lambdaNext: lambdaNext, lambda: lambda, dW: dW, db: db)
        }
    }
}
