import Kernels

/// The layer-serial passes through a ``HiddenStack``: plain loops over the
/// layers with the same fused kernels the MGRIT problems use. They are the
/// oracle of the tests and the baseline of the timings.
public enum LayerSerial {
    /// `x⁰ = input`, `xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿxⁿ + bⁿ)`: returns all `depth + 1`
    /// states and, if asked, the pre-activations `zⁿ = Wⁿxⁿ + bⁿ` (`depth` of them).
    /// One kernel call per layer.
    public static func forward(_ stack: HiddenStack, input: Matrix<Double>, storePreactivations: Bool = false)
        throws -> (states: [Matrix<Double>], preactivations: [Matrix<Double>]?) {
        guard input.rows == stack.width else {
            throw ResNetError("input has \(input.rows) rows, the stack has width \(stack.width)")
        }
        var states = [input.clone()]
        var zs: [Matrix<Double>]? = storePreactivations ? [] : nil
        for n in 0 ..< stack.depth {
            let y = Matrix<Double>(rows: stack.width, cols: input.cols)
            let z = storePreactivations ? Matrix<Double>(rows: stack.width, cols: input.cols) : nil
            try LayerKernels.residualForward(beta: stack.beta, W: stack.weights[n], b: stack.biases[n],
                                             X: states[n], Y: y, Z: z)
            states.append(y)
            if let z { zs!.append(z) }
        }
        return (states, zs)
    }

    /// Backpropagation from `terminalAdjoint` `λᴺ = ∂L/∂xᴺ` down to layer 0:
    /// `λⁿ = λⁿ⁺¹ + β·Wⁿᵀ(ReLU'(zⁿ) ⊙ λⁿ⁺¹)`, accumulating `dWⁿ += β·(ReLU'(zⁿ)⊙λⁿ⁺¹)(xⁿ)ᵀ`
    /// and `dbⁿ` into `gradient` (one fused adjoint call per layer). `zⁿ` is taken from
    /// `preactivations` if given, else recomputed by one forward call per layer.
    /// Returns `λ⁰ = ∂L/∂x⁰`.
    public static func backward(_ stack: HiddenStack, states: [Matrix<Double>], preactivations: [Matrix<Double>]? = nil,
                                terminalAdjoint: Matrix<Double>, gradient: HiddenGradient) throws -> Matrix<Double> {
        guard states.count == stack.depth + 1 else {
            throw ResNetError("backward needs \(stack.depth + 1) states, got \(states.count)")
        }
        let B = terminalAdjoint.cols
        var next = terminalAdjoint.clone()
        var cur = Matrix<Double>(rows: stack.width, cols: B)
        let zScratch = Matrix<Double>(rows: stack.width, cols: B), yScratch = Matrix<Double>(rows: stack.width, cols: B)
        for n in stride(from: stack.depth - 1, through: 0, by: -1) {
            let z: Matrix<Double>
            if let pre = preactivations { z = pre[n] } else {
                try LayerKernels.residualForward(beta: stack.beta, W: stack.weights[n], b: stack.biases[n],
                                                 X: states[n], Y: yScratch, Z: zScratch)
                z = zScratch
            }
            try LayerKernels.residualAdjoint(beta: stack.beta, W: stack.weights[n], X: states[n], Z: z,
                                             lambdaNext: next, lambda: cur, dW: gradient.dW[n], db: gradient.db[n])
            swap(&next, &cur)
        }
        return next
    }
}
