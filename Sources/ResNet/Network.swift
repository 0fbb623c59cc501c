import Kernels

/// The full regression network of the paper: an opening dense layer
/// (inputs → width, ReLU), `depth` hidden residual layers
/// `xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿxⁿ + bⁿ)` (DESIGN.md, paper eq. 2–3), and a closing
/// dense layer (width → outputs, identity), with the loss
/// `L = 1/(2·B·m) · Σ (prediction − target)²` over `B` samples and `m` outputs.
///
/// Parameters live in one flat vector (optimisers work on flat vectors), in
/// the order of ``ParameterLayout``. Batches are feature-major with the batch
/// contiguous, as in `layerpar_kernels.h`: element (feature i, sample j) is at
/// `i*B + j`.
public struct NetworkShape: Sendable, Codable, Equatable {
    public var inputs: Int
    public var width: Int
    public var outputs: Int
    public var depth: Int
    public var beta: Double

    public init(inputs: Int, width: Int, outputs: Int, depth: Int, beta: Double = 0.1) {
        self.inputs = inputs
        self.width = width
        self.outputs = outputs
        self.depth = depth
        self.beta = beta
    }

    public var layout: ParameterLayout { ParameterLayout(shape: self) }
}

/// Offsets of each block in the flat parameter vector:
/// `[W_open (width×inputs, row-major), b_open (width),
///   W⁰, b⁰, W¹, b¹, …, W^{N-1}, b^{N-1} (width×width, width each),
///   W_close (outputs×width), b_close (outputs)]`.
public struct ParameterLayout: Sendable, Equatable {
    public let shape: NetworkShape
    public let openingWeights: Int
    public let openingBias: Int
    public let hiddenStart: Int
    public let hiddenStride: Int
    public let closingWeights: Int
    public let closingBias: Int
    public let count: Int

    public init(shape: NetworkShape) {
        self.shape = shape
        let w = shape.width
        openingWeights = 0
        openingBias = w * shape.inputs
        hiddenStart = openingBias + w
        hiddenStride = w * w + w
        closingWeights = hiddenStart + shape.depth * hiddenStride
        closingBias = closingWeights + shape.outputs * w
        count = closingBias + shape.outputs
    }

    /// Offset of `Wⁿ`; `bⁿ` follows at `+ width*width`.
    public func hiddenWeights(_ n: Int) -> Int { hiddenStart + n * hiddenStride }
    public func hiddenBias(_ n: Int) -> Int { hiddenStart + n * hiddenStride + shape.width * shape.width }
    /// The range of all hidden-layer parameters.
    public var hiddenRange: Range<Int> { hiddenStart ..< closingWeights }
}

/// Uniform initial parameters in `[low, high)` from `rng` — the paper uses `[0, 1e-3]`.
public func initialParameters<G: RandomNumberGenerator>(shape: NetworkShape, low: Double, high: Double,
                                                        using rng: inout G) -> [Double] {
    (0..<shape.layout.count).map { _ in
        low + (high - low) * Double(rng.next() >> 11) * 0x1.0p-53
    }
}

/// Storage for one batch's pass through the network: every hidden state
/// `x⁰…x^N` and pre-activation `z⁰…z^{N-1}` (the linearisation points the
/// backward pass needs), the opening pre-activation, outputs and adjoints.
public final class NetworkWorkspace {
    public let shape: NetworkShape
    public let capacity: Int
    /// Batch size of the last ``Network/forward``.
    public internal(set) var batch = 0
    let input: UnsafeMutablePointer<Double>        // inputs × B
    let openZ: UnsafeMutablePointer<Double>        // width × B
    /// States x⁰…x^N, each width × B, consecutive (stride width·capacity).
    public let states: UnsafeMutablePointer<Double>
    /// Pre-activations z⁰…z^{N-1} of the hidden layers.
    public let preActivations: UnsafeMutablePointer<Double>
    let output: UnsafeMutablePointer<Double>       // outputs × B
    let dOutput: UnsafeMutablePointer<Double>      // outputs × B
    /// Adjoint buffers (width × B): λ at the current and next layer, and G scratch.
    public let lambdaA: UnsafeMutablePointer<Double>
    public let lambdaB: UnsafeMutablePointer<Double>
    let scratch: UnsafeMutablePointer<Double>

    public init(shape: NetworkShape, capacity: Int) {
        precondition(capacity >= 1)
        self.shape = shape
        self.capacity = capacity
        let w = shape.width
        func alloc(_ n: Int) -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        input = alloc(shape.inputs * capacity)
        openZ = alloc(w * capacity)
        states = alloc((shape.depth + 1) * w * capacity)
        preActivations = alloc(shape.depth * w * capacity)
        output = alloc(shape.outputs * capacity)
        dOutput = alloc(shape.outputs * capacity)
        lambdaA = alloc(w * capacity)
        lambdaB = alloc(w * capacity)
        scratch = alloc(w * capacity)
    }

    deinit {
        for p in [input, openZ, states, preActivations, output, dOutput, lambdaA, lambdaB, scratch] { p.deallocate() }
    }

    /// State xⁿ (n = 0…depth) of the last forward pass, width × ``batch`` with stride ``capacity``.
    public func state(_ n: Int) -> UnsafeMutablePointer<Double> { states + n * shape.width * capacity }
    public func preActivation(_ n: Int) -> UnsafeMutablePointer<Double> { preActivations + n * shape.width * capacity }

    /// Predictions of the last forward pass, sample-major (sample s, output k at `s*outputs + k`).
    public func predictions() -> [Double] {
        var out = [Double](repeating: 0, count: batch * shape.outputs)
        for k in 0..<shape.outputs { for j in 0..<batch { out[j * shape.outputs + k] = output[k * capacity + j] } }
        return out
    }

    /// Fraction of (neuron, sample) pairs whose opening-layer ReLU is on in the last forward pass.
    public func openingActiveFraction() -> Double {
        var on = 0
        for i in 0..<shape.width { for j in 0..<batch where openZ[i * capacity + j] > 0 { on += 1 } }
        return Double(on) / Double(max(1, shape.width * batch))
    }
}

/// Perturbation hook of the noise experiments: called with the hidden layer
/// index and its width × B buffer (row stride = capacity) to add noise in place.
public typealias LayerPerturbation = (_ layer: Int, _ buffer: UnsafeMutablePointer<Double>, _ rows: Int, _ batch: Int, _ stride: Int) -> Void

/// Full-network forward, loss and gradient, layer-serial (the exact passes).
public struct Network: Sendable {
    public let shape: NetworkShape
    public let layout: ParameterLayout

    public init(shape: NetworkShape) {
        self.shape = shape
        self.layout = shape.layout
    }

    // MARK: pieces (used by the layer-serial passes and by layer-parallel solvers of the hidden stack)

    /// Loads a sample-major batch (`batch` samples of `inputs` features) into the workspace, feature-major.
    public func load(features: UnsafeBufferPointer<Double>, samples: [Int]?, batch: Int, into ws: NetworkWorkspace) {
        precondition(batch <= ws.capacity)
        let n = shape.inputs
        for j in 0..<batch {
            let s = samples?[j] ?? j
            for i in 0..<n { ws.input[i * ws.capacity + j] = features[s * n + i] }
        }
        ws.batch = batch
    }

    /// Opening layer: x⁰ = ReLU(W_open · input + b_open).
    public func openingForward(_ p: UnsafePointer<Double>, _ ws: NetworkWorkspace) {
        denseForward(m: shape.width, n: shape.inputs, B: ws.batch, ld: ws.capacity, relu: true,
                     W: p + layout.openingWeights, b: p + layout.openingBias,
                     X: ws.input, Y: ws.state(0), Z: ws.openZ)
    }

    /// Hidden layer n: xⁿ⁺¹ = xⁿ + β·ReLU(Wⁿxⁿ + bⁿ), storing zⁿ.
    public func hiddenForward(_ p: UnsafePointer<Double>, layer n: Int, _ ws: NetworkWorkspace) {
        resnetForward(w: shape.width, B: ws.batch, ld: ws.capacity, beta: shape.beta,
                      W: p + layout.hiddenWeights(n), b: p + layout.hiddenBias(n),
                      X: ws.state(n), Y: ws.state(n + 1), Z: ws.preActivation(n))
    }

    /// Closing layer on x^N, then the loss against sample-major `targets` (rows `samples` or 0..<batch).
    /// Stores dL/dprediction for ``closingAdjoint``.
    public func closingForwardAndLoss(_ p: UnsafePointer<Double>, targets: UnsafeBufferPointer<Double>,
                                      samples: [Int]?, _ ws: NetworkWorkspace) -> Double {
        let B = ws.batch, m = shape.outputs, ld = ws.capacity
        denseForward(m: m, n: shape.width, B: B, ld: ld, relu: false,
                     W: p + layout.closingWeights, b: p + layout.closingBias,
                     X: ws.state(shape.depth), Y: ws.output, Z: nil)
        var sum = 0.0
        let scale = 1.0 / Double(B * m)
        for j in 0..<B {
            let s = samples?[j] ?? j
            for k in 0..<m {
                let r = ws.output[k * ld + j] - targets[s * m + k]
                sum += r * r
                ws.dOutput[k * ld + j] = r * scale
            }
        }
        return 0.5 * sum * scale
    }

    /// Closing adjoint: accumulates dW_close, db_close into `g`, writes λ^N = W_closeᵀ·dL/dpred into `lambda`.
    public func closingAdjoint(_ p: UnsafePointer<Double>, gradient g: UnsafeMutablePointer<Double>,
                               lambda: UnsafeMutablePointer<Double>, _ ws: NetworkWorkspace) {
        denseAdjoint(m: shape.outputs, n: shape.width, B: ws.batch, ld: ws.capacity, relu: false,
                     W: p + layout.closingWeights, X: ws.state(shape.depth), Z: nil, Lout: ws.dOutput,
                     Lin: lambda, dW: g + layout.closingWeights, db: g + layout.closingBias)
    }

    /// Hidden layer n adjoint: λⁿ = λⁿ⁺¹ + β·Wⁿᵀ(ReLU'(zⁿ) ⊙ λⁿ⁺¹), accumulating dWⁿ, dbⁿ.
    public func hiddenAdjoint(_ p: UnsafePointer<Double>, gradient g: UnsafeMutablePointer<Double>, layer n: Int,
                              lambdaNext: UnsafePointer<Double>, lambda: UnsafeMutablePointer<Double>,
                              _ ws: NetworkWorkspace) {
        resnetAdjoint(w: shape.width, B: ws.batch, ld: ws.capacity, beta: shape.beta,
                      W: p + layout.hiddenWeights(n), X: ws.state(n), Z: ws.preActivation(n),
                      Lp: lambdaNext, L: lambda, G: ws.scratch,
                      dW: g + layout.hiddenWeights(n), db: g + layout.hiddenBias(n))
    }

    /// Opening adjoint: accumulates dW_open, db_open from λ⁰.
    public func openingAdjoint(_ p: UnsafePointer<Double>, gradient g: UnsafeMutablePointer<Double>,
                               lambda: UnsafePointer<Double>, _ ws: NetworkWorkspace) {
        denseAdjoint(m: shape.width, n: shape.inputs, B: ws.batch, ld: ws.capacity, relu: true,
                     W: p + layout.openingWeights, X: ws.input, Z: ws.openZ, Lout: lambda,
                     Lin: nil, dW: g + layout.openingWeights, db: g + layout.openingBias)
    }

    // MARK: layer-serial passes

    /// Forward pass through every layer; `perturb` (noise experiments) is applied to each hidden layer's output.
    public func forward(_ p: UnsafePointer<Double>, _ ws: NetworkWorkspace, perturb: LayerPerturbation? = nil) {
        openingForward(p, ws)
        for n in 0..<shape.depth {
            hiddenForward(p, layer: n, ws)
            perturb?(n, ws.state(n + 1), shape.width, ws.batch, ws.capacity)
        }
    }

    /// Backward pass after ``closingForwardAndLoss``: writes the full gradient into `g` (overwritten).
    /// `perturb` is applied to each hidden layer's adjoint λⁿ after it is computed.
    public func backward(_ p: UnsafePointer<Double>, gradient g: UnsafeMutablePointer<Double>, _ ws: NetworkWorkspace,
                         perturb: LayerPerturbation? = nil) {
        g.update(repeating: 0, count: layout.count)
        var next = ws.lambdaA, cur = ws.lambdaB
        closingAdjoint(p, gradient: g, lambda: next, ws)
        for n in stride(from: shape.depth - 1, through: 0, by: -1) {
            hiddenAdjoint(p, gradient: g, layer: n, lambdaNext: next, lambda: cur, ws)
            perturb?(n, cur, shape.width, ws.batch, ws.capacity)
            swap(&next, &cur)
        }
        openingAdjoint(p, gradient: g, lambda: next, ws)
    }

    /// Loss and gradient of one batch, layer-serial. `samples` selects rows of the sample-major data.
    public func lossAndGradient(parameters: [Double], gradient: inout [Double],
                                features: [Double], targets: [Double], samples: [Int]?, batch: Int,
                                workspace ws: NetworkWorkspace,
                                perturbForward: LayerPerturbation? = nil,
                                perturbBackward: LayerPerturbation? = nil) -> Double {
        precondition(parameters.count == layout.count && gradient.count == layout.count)
        return parameters.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!
            features.withUnsafeBufferPointer { load(features: $0, samples: samples, batch: batch, into: ws) }
            forward(p, ws, perturb: perturbForward)
            let loss = targets.withUnsafeBufferPointer { closingForwardAndLoss(p, targets: $0, samples: samples, ws) }
            gradient.withUnsafeMutableBufferPointer { backward(p, gradient: $0.baseAddress!, ws, perturb: perturbBackward) }
            return loss
        }
    }

    /// Loss over a whole data set (sample-major), in chunks of the workspace's capacity,
    /// and the fraction of opening-layer ReLUs that are on.
    public func evaluate(parameters: [Double], features: [Double], targets: [Double], count: Int,
                         workspace ws: NetworkWorkspace) -> (loss: Double, openingActive: Double, outputSpread: Double) {
        var weighted = 0.0, active = 0.0
        var lo = Double.infinity, hi = -Double.infinity
        parameters.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!
            var start = 0
            while start < count {
                let b = min(ws.capacity, count - start)
                let idx = Array(start ..< start + b)
                features.withUnsafeBufferPointer { load(features: $0, samples: idx, batch: b, into: ws) }
                forward(p, ws)
                let l = targets.withUnsafeBufferPointer { closingForwardAndLoss(p, targets: $0, samples: idx, ws) }
                weighted += l * Double(b)
                active += ws.openingActiveFraction() * Double(b)
                for k in 0..<shape.outputs {
                    for j in 0..<b { lo = min(lo, ws.output[k * ws.capacity + j]); hi = max(hi, ws.output[k * ws.capacity + j]) }
                }
                start += b
            }
        }
        let n = Double(max(count, 1))
        return (weighted / n, active / n, hi - lo)
    }
}

// MARK: - layer kernels
// Thin adapters from the network's flat parameter vector and workspace (row
// stride `ld`) to the fused kernels of module Kernels (formulas in
// layerpar_kernels.h); weights are row-major with leading dimension = inputs.

@inline(__always)
func denseForward(m: Int, n: Int, B: Int, ld: Int, relu: Bool,
                  W: UnsafePointer<Double>, b: UnsafePointer<Double>, X: UnsafePointer<Double>,
                  Y: UnsafeMutablePointer<Double>, Z: UnsafeMutablePointer<Double>?) {
    Double._denseForward(nil, m, n, B, relu ? .relu : .identity, W, n, b, X, ld, Y, ld, Z, ld)
}

@inline(__always)
func denseAdjoint(m: Int, n: Int, B: Int, ld: Int, relu: Bool,
                  W: UnsafePointer<Double>, X: UnsafePointer<Double>, Z: UnsafePointer<Double>?,
                  Lout: UnsafePointer<Double>, Lin: UnsafeMutablePointer<Double>?,
                  dW: UnsafeMutablePointer<Double>, db: UnsafeMutablePointer<Double>) {
    Double._denseAdjoint(nil, m, n, B, relu ? .relu : .identity, W, n, X, ld, relu ? Z : nil, ld,
                         Lout, ld, Lin, ld, dW, n, db)
}

@inline(__always)
func resnetForward(w: Int, B: Int, ld: Int, beta: Double, W: UnsafePointer<Double>, b: UnsafePointer<Double>,
                   X: UnsafePointer<Double>, Y: UnsafeMutablePointer<Double>, Z: UnsafeMutablePointer<Double>) {
    Double._resnetForward(nil, w, B, beta, W, w, b, X, ld, Y, ld, Z, ld)
}

@inline(__always)
func resnetAdjoint(w: Int, B: Int, ld: Int, beta: Double, W: UnsafePointer<Double>, X: UnsafePointer<Double>,
                   Z: UnsafePointer<Double>, Lp: UnsafePointer<Double>, L: UnsafeMutablePointer<Double>,
                   G: UnsafeMutablePointer<Double>, dW: UnsafeMutablePointer<Double>, db: UnsafeMutablePointer<Double>) {
    Double._resnetAdjoint(nil, w, B, beta, W, w, X, ld, Z, ld, Lp, ld, L, ld, dW, w, db)
}
