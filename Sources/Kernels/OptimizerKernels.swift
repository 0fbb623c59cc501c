import CKernels

/// The optimiser updates of CKernels (formulas in `layerpar_kernels.h`): one
/// pass over the flat parameter vector, vectorised where the CPU allows,
/// giving the same bits on every kernel family.
public enum OptimizerKernels {
    /// One Adam step in place: `m = β₁m + (1−β₁)g`, `v = β₂v + (1−β₂)g²`,
    /// `p −= lr·(m/c₁)/(√(v/c₂) + ε)` with `c₁ = 1−β₁ᵗ`, `c₂ = 1−β₂ᵗ` given.
    ///
    /// - Throws: ``KernelError`` if the four buffers differ in length or the family is not available.
    public static func adam(parameters p: UnsafeMutableBufferPointer<Double>, gradient g: UnsafeBufferPointer<Double>,
                            firstMoment m: UnsafeMutableBufferPointer<Double>,
                            secondMoment v: UnsafeMutableBufferPointer<Double>,
                            learningRate lr: Double, beta1: Double, beta2: Double,
                            biasCorrection1 c1: Double, biasCorrection2 c2: Double, epsilon: Double,
                            family: KernelFamily? = nil) throws(KernelError) {
        let n = p.count
        guard g.count == n, m.count == n, v.count == n else {
            throw KernelError("adam: parameters \(n), gradient \(g.count), moments \(m.count) and \(v.count) differ in length")
        }
        if let family, !family.isSupported {
            throw KernelError("kernel family '\(family.rawValue)' is not available on this CPU")
        }
        guard n > 0, let pp = p.baseAddress, let gp = g.baseAddress, let mp = m.baseAddress, let vp = v.baseAddress else { return }
        switch family {
        case nil: lp_adam_f64(n, lr, beta1, beta2, c1, c2, epsilon, pp, gp, mp, vp)
        case .reference: lp_adam_f64_ref(n, lr, beta1, beta2, c1, c2, epsilon, pp, gp, mp, vp)
        case .avx2: lp_adam_f64_avx2(n, lr, beta1, beta2, c1, c2, epsilon, pp, gp, mp, vp)
        case .avx512: lp_adam_f64_avx512(n, lr, beta1, beta2, c1, c2, epsilon, pp, gp, mp, vp)
        }
    }

    /// Whether every element of `x` is finite (no NaN, no ±∞): one vectorised pass
    /// with no early exit, as fast as the memory (for the per-step gradient check).
    public static func allFinite(_ x: UnsafeBufferPointer<Double>) -> Bool {
        guard let base = x.baseAddress, !x.isEmpty else { return true }
        return lp_all_finite_f64(x.count, base) != 0
    }
}
