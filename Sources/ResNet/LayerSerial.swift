import Kernels

/// Perturbation hook of the noise experiments: called with a hidden layer's
/// index and its width × B state (forward) or adjoint (backward), to add noise in place.
public typealias LayerPerturbation = (_ layer: Int, _ buffer: Matrix<Double>) -> Void

/// The layer-serial passes through a ``HiddenStack``: plain loops over the
/// layers with the same fused kernels the MGRIT problems use. They are the
/// layer-serial training loop (through ``Network``), the oracle of the tests
/// and the baseline of the timings.
public enum LayerSerial {
    /// `xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿxⁿ + bⁿ)` for `n = 0 … depth−1`, from `states[0]`
    /// into `states[1…depth]`, storing `zⁿ = Wⁿxⁿ + bⁿ` into `preactivations[n]`
    /// and its ReLU mask into `masks[n]` if given. One kernel call per layer;
    /// `perturb` (noise experiments) is applied to each layer's output. Allocates nothing.
    public static func forward(_ stack: HiddenStack, states: [Matrix<Double>], preactivations: [Matrix<Double>]? = nil,
                               masks: [ReLUMask]? = nil, perturb: LayerPerturbation? = nil) throws {
        guard states.count == stack.depth + 1 else {
            throw ResNetError("forward needs \(stack.depth + 1) states, got \(states.count)")
        }
        for n in 0 ..< stack.depth {
            try LayerKernels.residualForward(beta: stack.beta, W: stack.weights[n], b: stack.biases[n],
                                             X: states[n], Y: states[n + 1], Z: preactivations?[n], mask: masks?[n])
            perturb?(n, states[n + 1])
        }
    }

    /// `x⁰ = input`, then ``forward(_:states:preactivations:perturb:)``: returns all
    /// `depth + 1` states and, if asked, the pre-activations (`depth` of them).
    public static func forward(_ stack: HiddenStack, input: Matrix<Double>, storePreactivations: Bool = false)
        throws -> (states: [Matrix<Double>], preactivations: [Matrix<Double>]?) {
        guard input.rows == stack.width else {
            throw ResNetError("input has \(input.rows) rows, the stack has width \(stack.width)")
        }
        let states = [input.clone()] + (0 ..< stack.depth).map { _ in Matrix<Double>(rows: stack.width, cols: input.cols) }
        let zs = storePreactivations ? (0 ..< stack.depth).map { _ in Matrix<Double>(rows: stack.width, cols: input.cols) } : nil
        try forward(stack, states: states, preactivations: zs)
        return (states, zs)
    }

    /// Backpropagation from `λᴺ = ∂L/∂xᴺ`, which must be in `adjoint(depth)`, down to
    /// layer 0: `λⁿ = λⁿ⁺¹ + β·Wⁿᵀ(ReLU'(zⁿ) ⊙ λⁿ⁺¹)` into `adjoint(n)`, accumulating
    /// `dWⁿ += β·(ReLU'(zⁿ)⊙λⁿ⁺¹)(xⁿ)ᵀ` and `dbⁿ` into `gradient` (one fused adjoint call
    /// per layer). `adjoint(n)` and `adjoint(n+1)` must be different buffers (two
    /// alternating buffers suffice, or one per layer to keep every λⁿ). `zⁿ` comes from
    /// `preactivations` if given, else its ReLU mask from `masks` if given, else is
    /// recomputed into `scratch` (a pair of w×B buffers) by one forward call per
    /// layer. `perturb` is applied to each λⁿ.
    public static func backward(_ stack: HiddenStack, states: [Matrix<Double>], preactivations: [Matrix<Double>]?,
                                masks: [ReLUMask]? = nil, scratch: (z: Matrix<Double>, y: Matrix<Double>)? = nil,
                                gradient: HiddenGradient?, adjoint: (Int) -> Matrix<Double>,
                                perturb: LayerPerturbation? = nil) throws {
        guard states.count == stack.depth + 1 else {
            throw ResNetError("backward needs \(stack.depth + 1) states, got \(states.count)")
        }
        guard preactivations != nil || masks != nil || scratch != nil else {
            throw ResNetError("backward needs the pre-activations, their masks or scratch buffers to recompute them")
        }
        for n in stride(from: stack.depth - 1, through: 0, by: -1) {
            let point: Linearisation
            if let pre = preactivations { point = .preactivation(pre[n]) } else if let masks { point = .mask(masks[n]) } else {
                try LayerKernels.residualForward(beta: stack.beta, W: stack.weights[n], b: stack.biases[n],
                                                 X: states[n], Y: scratch!.y, Z: scratch!.z)
                point = .preactivation(scratch!.z)
            }
            let lambda = adjoint(n)
            try point.adjoint(beta: stack.beta, W: stack.weights[n], X: states[n], lambdaNext: adjoint(n + 1),
                              lambda: lambda, dW: gradient?.dW[n], db: gradient?.db[n])
            perturb?(n, lambda)
        }
    }

    /// Backpropagation from `terminalAdjoint` (see ``backward(_:states:preactivations:scratch:gradient:adjoint:perturb:)``),
    /// allocating its buffers. Returns `λ⁰ = ∂L/∂x⁰`.
    @discardableResult
    public static func backward(_ stack: HiddenStack, states: [Matrix<Double>], preactivations: [Matrix<Double>]? = nil,
                                terminalAdjoint: Matrix<Double>, gradient: HiddenGradient) throws -> Matrix<Double> {
        try backward(stack, states: states, preactivations: preactivations, terminalAdjoint: terminalAdjoint,
                     gradient: gradient, keepAll: false)[0]
    }

    /// As ``backward(_:states:preactivations:terminalAdjoint:gradient:)``, returning every `λ⁰ … λᴺ`.
    public static func adjoints(_ stack: HiddenStack, states: [Matrix<Double>], preactivations: [Matrix<Double>]? = nil,
                                terminalAdjoint: Matrix<Double>, gradient: HiddenGradient) throws -> [Matrix<Double>] {
        try backward(stack, states: states, preactivations: preactivations, terminalAdjoint: terminalAdjoint,
                     gradient: gradient, keepAll: true)
    }

    private static func backward(_ stack: HiddenStack, states: [Matrix<Double>], preactivations: [Matrix<Double>]?,
                                 terminalAdjoint: Matrix<Double>, gradient: HiddenGradient,
                                 keepAll: Bool) throws -> [Matrix<Double>] {
        let w = stack.width, B = terminalAdjoint.cols
        let buffers = (0 ..< (keepAll ? stack.depth : 1)).map { _ in Matrix<Double>(rows: w, cols: B) } + [terminalAdjoint.clone()]
        let scratch = preactivations == nil ? (z: Matrix<Double>(rows: w, cols: B), y: Matrix<Double>(rows: w, cols: B)) : nil
        // keepAll: λⁿ in buffers[n]; else λⁿ alternates between buffers[0] and buffers[1] (which holds λᴺ).
        let slot: (Int) -> Int = keepAll ? { $0 } : { (stack.depth - $0) % 2 == 0 ? 1 : 0 }
        try backward(stack, states: states, preactivations: preactivations, scratch: scratch, gradient: gradient,
                     adjoint: { buffers[slot($0)] })
        return keepAll ? buffers : [buffers[slot(0)]]
    }
}
