import Kernels

/// Buffers for one batch's pass through a ``Network``: the input, the opening
/// pre-activation, the hidden states `x⁰…x^N` and pre-activations
/// `z⁰…z^{N-1}` or their ReLU masks (the linearisation points of the backward
/// pass), the outputs and their adjoint, and two alternating adjoint buffers.
///
/// Every buffer is a padded, 64-byte-aligned ``Matrix`` with `capacity`
/// columns (the leading dimension of ``paddedLeadingDimension(_:_:)``). A
/// smaller batch (the last chunk of an evaluation) runs on column views,
/// made once per batch size.
public final class NetworkWorkspace {
    public let shape: NetworkShape
    public let capacity: Int
    /// Batch size of the last ``Network/load(features:samples:batch:into:)``.
    public private(set) var batch = 0

    private let full: Buffers
    private var views: Buffers
    /// What ``Network/forward(_:perturb:keeping:)`` keeps of each `zⁿ` for
    /// ``Network/backward(_:gradient:perturb:)``: `zⁿ` (store), its ReLU mask (mask:
    /// one byte per entry, written by the same kernel call), or nothing, the backward
    /// pass recomputing `zⁿ` by one forward kernel call per layer. The gradients are
    /// bitwise the same; recomputing costs a third more flops but halves the passes'
    /// working set, which pays once the states and pre-activations no longer fit in
    /// cache; a mask adds an eighth of a state per layer instead of a whole one.
    public var preactivationStorage: PreactivationStorage = .store
    /// What the last forward pass kept (what the backward pass reads).
    public internal(set) var keptPreactivations: PreactivationStorage = .recompute
    /// The pair of w × capacity buffers a recomputing backward pass writes zⁿ (and an unused xⁿ⁺¹) into.
    private lazy var recomputeScratch = (z: Matrix<Double>(rows: shape.width, cols: capacity),
                                         y: Matrix<Double>(rows: shape.width, cols: capacity))

    /// The buffers at one batch size.
    struct Buffers {
        var input: Matrix<Double>          // inputs × B
        var openingZ: Matrix<Double>       // width × B
        var states: [Matrix<Double>]       // x⁰ … x^N (only x⁰ without hidden states)
        var preactivations: [Matrix<Double>]
        var masks: [ReLUMask]
        var output: Matrix<Double>         // outputs × B
        var outputAdjoint: Matrix<Double>  // outputs × B: dL/dprediction
        var lambda: (Matrix<Double>, Matrix<Double>)

        func columns(_ b: Int) -> Buffers {
            let r = 0 ..< b
            return Buffers(input: input.columns(r), openingZ: openingZ.columns(r), states: states.map { $0.columns(r) },
                           preactivations: preactivations.map { $0.columns(r) }, masks: masks.map { $0.columns(r) },
                           output: output.columns(r),
                           outputAdjoint: outputAdjoint.columns(r), lambda: (lambda.0.columns(r), lambda.1.columns(r)))
        }
    }

    /// - Parameter hiddenStates: keep `x¹…x^N` and `z⁰…z^{N-1}` (the layer-serial passes);
    ///   false for a layer-parallel engine, whose solvers hold the hidden states.
    public init(shape: NetworkShape, capacity: Int, hiddenStates: Bool = true) {
        precondition(capacity >= 1)
        self.shape = shape
        self.capacity = capacity
        let w = shape.width
        func m(_ rows: Int) -> Matrix<Double> { Matrix(rows: rows, cols: capacity) }
        full = Buffers(input: m(shape.inputs), openingZ: m(w),
                       states: (0 ... (hiddenStates ? shape.depth : 0)).map { _ in m(w) },
                       preactivations: hiddenStates ? (0 ..< shape.depth).map { _ in m(w) } : [],
                       masks: hiddenStates ? (0 ..< shape.depth).map { _ in ReLUMask(rows: w, cols: capacity) } : [],
                       output: m(shape.outputs), outputAdjoint: m(shape.outputs), lambda: (m(w), m(w)))
        views = full
        batch = capacity
    }

    func setBatch(_ b: Int) {
        precondition(b >= 1 && b <= capacity, "batch \(b) outside 1…\(capacity)")
        guard b != batch else { return }
        views = b == capacity ? full : full.columns(b)
        batch = b
    }

    /// ``recomputeScratch`` at the current batch size.
    var scratch: (z: Matrix<Double>, y: Matrix<Double>) {
        let s = recomputeScratch
        return batch == capacity ? s : (s.z.columns(0 ..< batch), s.y.columns(0 ..< batch))
    }

    /// The network input of the last load, inputs × ``batch``.
    public var input: Matrix<Double> { views.input }
    /// The opening layer's pre-activation.
    public var openingPreactivation: Matrix<Double> { views.openingZ }
    /// State xⁿ (n = 0…depth; only n = 0 without hidden states), width × ``batch``.
    public func state(_ n: Int) -> Matrix<Double> { views.states[n] }
    /// Every state x⁰ … x^N.
    public var states: [Matrix<Double>] { views.states }
    /// Every pre-activation z⁰ … z^{N-1}.
    public var preactivations: [Matrix<Double>] { views.preactivations }
    /// Every ReLU mask of z⁰ … z^{N-1} (written by a forward pass keeping masks).
    public var masks: [ReLUMask] { views.masks }
    /// Pre-activation zⁿ (n = 0…depth−1) of the last layer-serial forward pass.
    public func preActivation(_ n: Int) -> Matrix<Double> { views.preactivations[n] }
    /// The network output (outputs × ``batch``) and its adjoint dL/dprediction.
    public var output: Matrix<Double> { views.output }
    public var outputAdjoint: Matrix<Double> { views.outputAdjoint }
    /// Two adjoint buffers (width × ``batch``) that the layer-serial backward pass alternates.
    public var lambdaBuffers: (Matrix<Double>, Matrix<Double>) { views.lambda }

    /// Fraction of (neuron, sample) pairs whose opening-layer ReLU is on in the last forward pass.
    public func openingActiveFraction() -> Double {
        var on = 0
        let z = openingPreactivation
        for i in 0..<shape.width { for j in 0..<batch where z[i, j] > 0 { on += 1 } }
        return Double(on) / Double(max(1, shape.width * batch))
    }
}

/// The paper's regression network with its parameters: an opening dense layer
/// (inputs → width, ReLU), the hidden residual layers (a ``HiddenStack`` viewing
/// the same parameters), a closing dense layer (width → outputs, identity) and
/// the loss `L = 1/(2·B·m) · Σ (prediction − target)²` over `B` samples and `m`
/// outputs.
///
/// This is the one network representation: the layer-serial passes run here,
/// and the layer-parallel engines hand ``hidden`` to the MGRIT problems and call
/// the opening and closing pieces around the solves. Gradients use the same
/// layout (a second ``NetworkParameters``).
public final class Network: @unchecked Sendable {
    public let shape: NetworkShape
    public let layout: ParameterLayout
    /// The parameters; optimisers update ``NetworkParameters/flat`` in place.
    public let parameters: NetworkParameters
    /// The hidden layers, as views of ``parameters``.
    public let hidden: HiddenStack

    /// A network with zero parameters.
    /// - Throws: ``ResNetError`` for a shape without hidden layers, width, inputs or outputs, or a non-finite β.
    public init(shape: NetworkShape) throws {
        guard shape.inputs >= 1, shape.width >= 1, shape.outputs >= 1 else {
            throw ResNetError("a network needs ≥ 1 input, width and output, got \(shape.inputs), \(shape.width), \(shape.outputs)")
        }
        self.shape = shape
        layout = shape.layout
        parameters = NetworkParameters(shape: shape)
        hidden = try HiddenStack(viewing: parameters)
    }

    /// A network holding `parameters` (in ``ParameterLayout`` order).
    public convenience init(shape: NetworkShape, parameters values: [Double]) throws {
        try self.init(shape: shape)
        try parameters.load(values)
    }

    /// A zero gradient of this network's layout.
    public func makeGradient() -> NetworkParameters { NetworkParameters(shape: shape) }

    // MARK: pieces (the layer-serial passes and the layer-parallel engines use them)

    /// Loads a sample-major batch (rows `samples`, or the first `batch`) of `inputs`
    /// features into the workspace's input, feature-major.
    public func load(features: UnsafeBufferPointer<Double>, samples: [Int]?, batch: Int, into ws: NetworkWorkspace) {
        ws.setBatch(batch)
        let n = shape.inputs, x = ws.input
        for j in 0..<batch {
            let s = samples?[j] ?? j
            for i in 0..<n { x[i, j] = features[s * n + i] }
        }
    }

    /// Opening layer: `x⁰ = ReLU(W_open · input + b_open)` into `state` (default: the workspace's x⁰).
    public func openingForward(_ ws: NetworkWorkspace, into state: Matrix<Double>? = nil) throws {
        let p = parameters.opening
        try LayerKernels.denseForward(activation: .relu, W: p.W, b: p.b, X: ws.input, Y: state ?? ws.state(0),
                                      Z: ws.openingPreactivation)
    }

    /// Closing layer on `last` (x^N), then the loss against sample-major `targets`
    /// (rows `samples` or 0..<batch). Stores dL/dprediction for ``closingAdjoint(_:last:gradient:lambda:)``.
    public func closingForwardAndLoss(_ ws: NetworkWorkspace, last: Matrix<Double>, targets: UnsafeBufferPointer<Double>,
                                      samples: [Int]?) throws -> Double {
        let B = ws.batch, m = shape.outputs, p = parameters.closing
        let out = ws.output, dOut = ws.outputAdjoint
        try LayerKernels.denseForward(activation: .identity, W: p.W, b: p.b, X: last, Y: out)
        var sum = 0.0
        let scale = 1.0 / Double(B * m)
        for j in 0..<B {
            let s = samples?[j] ?? j
            for k in 0..<m {
                let r = out[k, j] - targets[s * m + k]
                sum += r * r
                dOut[k, j] = r * scale
            }
        }
        return 0.5 * sum * scale
    }

    /// Closing adjoint: accumulates dW_close, db_close into `g`, writes λ^N = W_closeᵀ·dL/dpred into `lambda`.
    public func closingAdjoint(_ ws: NetworkWorkspace, last: Matrix<Double>, gradient g: NetworkParameters,
                               lambda: Matrix<Double>) throws {
        try LayerKernels.denseAdjoint(activation: .identity, W: parameters.closing.W, X: last, lambdaOut: ws.outputAdjoint,
                                      lambdaIn: lambda, dW: g.closing.W, db: g.closing.b)
    }

    /// Opening adjoint: accumulates dW_open, db_open from λ⁰.
    public func openingAdjoint(_ ws: NetworkWorkspace, lambda: Matrix<Double>, gradient g: NetworkParameters) throws {
        try LayerKernels.denseAdjoint(activation: .relu, W: parameters.opening.W, X: ws.input, Z: ws.openingPreactivation,
                                      lambdaOut: lambda, dW: g.opening.W, db: g.opening.b)
    }

    // MARK: layer-serial passes

    /// Forward pass through every layer; `perturb` (noise experiments) is applied to each hidden layer's output.
    /// Keeps each zⁿ (or its mask) as ``NetworkWorkspace/preactivationStorage`` says, or as `keeping` if given.
    public func forward(_ ws: NetworkWorkspace, perturb: LayerPerturbation? = nil, keeping: PreactivationStorage? = nil) throws {
        let keep = keeping ?? ws.preactivationStorage
        try openingForward(ws)
        try LayerSerial.forward(hidden, states: ws.states, preactivations: keep == .store ? ws.preactivations : nil,
                                masks: keep == .mask ? ws.masks : nil, perturb: perturb)
        ws.keptPreactivations = keep
    }

    /// Backward pass after ``closingForwardAndLoss(_:last:targets:samples:)``: writes the full
    /// gradient into `g` (overwritten). `perturb` is applied to each hidden layer's adjoint λⁿ
    /// after it is computed. (``LayerSerial/adjoints(_:states:preactivations:terminalAdjoint:gradient:)``
    /// keeps every λⁿ of the hidden stack.)
    public func backward(_ ws: NetworkWorkspace, gradient g: NetworkParameters, perturb: LayerPerturbation? = nil) throws {
        g.flat.zero()
        let N = shape.depth, (a, b) = ws.lambdaBuffers
        // λⁿ alternates between the two buffers, λᴺ in `a`.
        let buffer: (Int) -> Matrix<Double> = { (N - $0) % 2 == 0 ? a : b }
        try closingAdjoint(ws, last: ws.state(N), gradient: g, lambda: buffer(N))
        let kept = ws.keptPreactivations
        try LayerSerial.backward(hidden, states: ws.states, preactivations: kept == .store ? ws.preactivations : nil,
                                 masks: kept == .mask ? ws.masks : nil, scratch: kept == .recompute ? ws.scratch : nil,
                                 gradient: g.hiddenGradient, adjoint: buffer, perturb: perturb)
        try openingAdjoint(ws, lambda: buffer(0), gradient: g)
    }

    /// Loss and gradient of one batch, layer-serial. `samples` selects rows of the sample-major data.
    public func lossAndGradient(gradient: NetworkParameters, features: [Double], targets: [Double], samples: [Int]?,
                                batch: Int, workspace ws: NetworkWorkspace,
                                perturbForward: LayerPerturbation? = nil,
                                perturbBackward: LayerPerturbation? = nil) throws -> Double {
        features.withUnsafeBufferPointer { load(features: $0, samples: samples, batch: batch, into: ws) }
        try forward(ws, perturb: perturbForward)
        let loss = try targets.withUnsafeBufferPointer {
            try closingForwardAndLoss(ws, last: ws.state(shape.depth), targets: $0, samples: samples)
        }
        try backward(ws, gradient: gradient, perturb: perturbBackward)
        return loss
    }

    /// Loss over a whole data set (sample-major), in chunks of the workspace's capacity,
    /// the fraction of opening-layer ReLUs that are on, and the spread of the outputs.
    public func evaluate(features: [Double], targets: [Double], count: Int,
                         workspace ws: NetworkWorkspace) throws -> (loss: Double, openingActive: Double, outputSpread: Double) {
        var weighted = 0.0, active = 0.0
        var lo = Double.infinity, hi = -Double.infinity
        var start = 0
        while start < count {
            let b = min(ws.capacity, count - start)
            let idx = Array(start ..< start + b)
            features.withUnsafeBufferPointer { load(features: $0, samples: idx, batch: b, into: ws) }
            try forward(ws, keeping: .recompute)
            let l = try targets.withUnsafeBufferPointer {
                try closingForwardAndLoss(ws, last: ws.state(shape.depth), targets: $0, samples: idx)
            }
            weighted += l * Double(b)
            active += ws.openingActiveFraction() * Double(b)
            let out = ws.output
            for k in 0..<shape.outputs {
                for j in 0..<b { lo = min(lo, out[k, j]); hi = max(hi, out[k, j]) }
            }
            start += b
        }
        let n = Double(max(count, 1))
        return (weighted / n, active / n, hi - lo)
    }
}
