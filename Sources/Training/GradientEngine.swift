import Comm
import Foundation
import ResNet

/// The gradient engine of a mode: exact layer-serial passes (with optional
/// noise), or the one-shot MGRIT solver of the hidden stack.
/// `preactivations`: whether the layer-serial passes, or the adjoint MGRIT solve, store
/// zⁿ, its ReLU mask, or recompute zⁿ (``PreactivationPlanner``).
public func makeGradientEngine(config: TrainingConfiguration, network: Network, comm: any Communicator,
                               preactivations: PreactivationPolicy = .auto) throws -> any GradientEngine {
    switch config.mode {
    case .serial:
        return SerialEngine(network: network, batchSize: config.batchSize, noiseForward: config.noiseForward,
                            noiseBackward: config.noiseBackward, seed: config.seed, preactivations: preactivations)
    case .parallel:
        return try ParallelEngine(network: network, batchSize: config.batchSize, config: config, comm: comm,
                                  preactivations: preactivations)
    }
}

/// What one optimiser step's gradient computation reports.
public struct StepResult: Sendable {
    public var loss: Double
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    /// MGRIT iterations and final ℓ² residual norms (0 and NaN for layer-serial).
    public var forwardIterations: Int = 0
    public var forwardResidual: Double = .nan
    public var backwardIterations: Int = 0
    public var backwardResidual: Double = .nan
    /// Passes whose MGRIT solve stalled and was replaced by the layer-serial pass
    /// (`--on-stall serial`): "forward", "adjoint", "forward+adjoint"; nil: none.
    public var serialFallback: String? = nil
}

/// A forward pass's loss and cost (``GradientEngine/loss(data:batch:step:)``).
public struct TrialLoss: Sendable {
    public var loss: Double
    public var seconds: Double
    /// Forward MGRIT iterations (0 for layer-serial).
    public var forwardIterations: Int = 0
}

/// Computes a batch's loss and (possibly inexact) gradient of the full network.
public protocol GradientEngine: AnyObject {
    /// Loss of `batch` (rows of the training set) at the network's current parameters,
    /// and its gradient, written into `gradient` (the network's layout; overwritten).
    /// `step` (0-based) seeds per-step randomness such as noise.
    func compute(gradient: NetworkParameters, data: Dataset, batch: [Int], step: Int) throws -> StepResult
    /// Loss of `batch` at the network's current parameters by the forward pass alone (a
    /// line search's trial point), on every rank: the layer-serial pass (with step `step`'s
    /// forward noise, the same draw as its gradient pass), or the forward MGRIT solve with
    /// the run's settings and warm start — an inexact loss, like the step's. Leaves the
    /// per-example warm-start store untouched. Collective like ``compute(gradient:data:batch:step:)``.
    func loss(data: Dataset, batch: [Int], step: Int) throws -> TrialLoss
    /// After ``compute(gradient:data:batch:step:)`` of `batch`, at the same parameters: the
    /// error of the step's approximate states and adjoints against exact layer-serial
    /// passes on the same batch (``SolveError``); nil for an engine whose passes are exact.
    /// Collective: every rank calls it at the same step.
    func measureError(data: Dataset, batch: [Int]) throws -> SolveError?
    /// State carried from step to step (warm starts), for checkpoints; empty if none.
    /// Collective across ranks: every rank calls it at the same step.
    func exportState() throws -> [Double]
    func importState(_ state: [Double]) throws
    /// Called once, before any step or ``importState(_:)``, with the training set's size.
    func prepare(trainingExamples: Int) throws
    /// Bytes of state this rank carries between steps (warm starts).
    var warmStartBytes: Int { get }
    /// Whether this rank's passes store the pre-activations, their masks, or recompute them (nil: no such passes).
    var preactivations: PreactivationChoice? { get }
}

/// The root-mean-square difference, over every entry (neuron × sample) of the compared
/// points, between a step's MGRIT solution and the exact layer-serial pass at the same
/// parameters: forward over the hidden states x¹…xᴺ, adjoint over the λⁿ (n < N) the
/// adjoint solver keeps (C-points and λ⁰). RMS because it is what uniform noise in
/// [−c, c] on every entry matches: that noise has RMS c/√3, so c = √3·RMS is the
/// noise of the same size (`layerpar reproduce oneshot`'s noise-matched control).
public struct SolveError: Sendable, Equatable {
    public var forwardRMS: Double
    public var adjointRMS: Double
    public init(forwardRMS: Double, adjointRMS: Double) {
        self.forwardRMS = forwardRMS
        self.adjointRMS = adjointRMS
    }
}

extension GradientEngine {
    public func measureError(data: Dataset, batch: [Int]) throws -> SolveError? { nil }
    public func prepare(trainingExamples: Int) throws {}
    public var warmStartBytes: Int { 0 }
    public var preactivations: PreactivationChoice? { nil }
}

/// Training's timings read Comm's one monotonic clock.
@inline(__always) func now() -> Double { monotonicSeconds() }

/// Exact layer-by-layer passes, optionally with the noise of the paper's
/// experiments: uniform in [−c, c], drawn for every neuron and sample of each
/// hidden layer's output (forward) or adjoint λⁿ (backward), from the stream
/// `(seed, forwardNoise|backwardNoise, step)` so a resumed run draws the same noise.
public final class SerialEngine: GradientEngine {
    let network: Network
    let workspace: NetworkWorkspace
    let noiseForward: Double
    let noiseBackward: Double
    let seed: UInt64
    let planner: PreactivationPlanner

    public init(network: Network, batchSize: Int, noiseForward: Double = 0, noiseBackward: Double = 0, seed: UInt64,
                preactivations: PreactivationPolicy = .auto) {
        self.network = network
        self.workspace = NetworkWorkspace(shape: network.shape, capacity: batchSize)
        self.planner = PreactivationPlanner(policy: preactivations)
        self.noiseForward = noiseForward
        self.noiseBackward = noiseBackward
        self.seed = seed
    }

    final class Source { var rng: Xoshiro256StarStar; init(_ r: Xoshiro256StarStar) { rng = r } }

    static func noise(_ c: Double, seed: UInt64, stream: RandomStream, step: Int) -> LayerPerturbation {
        let src = Source(Xoshiro256StarStar(seed: seed, stream: stream.rawValue, UInt64(step)))
        return { _, m in
            m.withUnsafeMutablePointer { p, ld in
                for i in 0..<m.rows {
                    let row = p + i * ld
                    for j in 0..<m.cols { row[j] += src.rng.uniform(-c, c) }
                }
            }
        }
    }

    public func compute(gradient: NetworkParameters, data: Dataset, batch: [Int], step: Int) throws -> StepResult {
        let ws = workspace, net = network
        let pb: LayerPerturbation? = noiseBackward > 0 ? Self.noise(noiseBackward, seed: seed, stream: .backwardNoise, step: step) : nil
        planner.begin(ws)
        let t0 = now()
        let loss = try forwardLoss(data: data, batch: batch, step: step, keeping: nil)
        let t1 = now()
        try net.backward(ws, gradient: gradient, perturb: pb)
        let t2 = now()
        planner.end()
        return StepResult(loss: loss, forwardSeconds: t1 - t0, backwardSeconds: t2 - t1)
    }

    /// The forward pass of `batch` (with the step's forward noise) and its loss, in ``workspace``.
    func forwardLoss(data: Dataset, batch: [Int], step: Int, keeping: PreactivationStorage?) throws -> Double {
        let ws = workspace, net = network
        let pf: LayerPerturbation? = noiseForward > 0 ? Self.noise(noiseForward, seed: seed, stream: .forwardNoise, step: step) : nil
        data.features.withUnsafeBufferPointer { net.load(features: $0, samples: batch, batch: batch.count, into: ws) }
        try net.forward(ws, perturb: pf, keeping: keeping)
        return try data.targets.withUnsafeBufferPointer {
            try net.closingForwardAndLoss(ws, last: ws.state(net.shape.depth), targets: $0, samples: batch)
        }
    }

    public func loss(data: Dataset, batch: [Int], step: Int) throws -> TrialLoss {
        let t0 = now()
        let l = try forwardLoss(data: data, batch: batch, step: step, keeping: .recompute)
        return TrialLoss(loss: l, seconds: now() - t0)
    }

    public var preactivations: PreactivationChoice? { planner.choice }

    public func exportState() throws -> [Double] { [] }
    public func importState(_ state: [Double]) throws {}
}

/// Least-squares affine fit `y ≈ A x + c` of a data set and its loss ½·mean residual²:
/// the plateau a network with every ReLU on (an affine map) cannot leave.
public func affineFitLoss(_ data: Dataset) -> Double {
    let n = data.featureCount + 1, m = data.targetCount
    var total = 0.0
    for t in 0..<m {
        var a = [Double](repeating: 0, count: n * n), r = [Double](repeating: 0, count: n)
        var row = [Double](repeating: 1, count: n)
        for s in 0..<data.count {
            for i in 0..<data.featureCount { row[i] = data.features[s * data.featureCount + i] }
            row[n - 1] = 1
            let y = data.targets[s * m + t]
            for i in 0..<n {
                r[i] += row[i] * y
                for k in 0..<n { a[i * n + k] += row[i] * row[k] }
            }
        }
        // Gaussian elimination with partial pivoting on the normal equations.
        for c in 0..<n {
            var piv = c
            for i in c..<n where abs(a[i * n + c]) > abs(a[piv * n + c]) { piv = i }
            if piv != c {
                for k in 0..<n { a.swapAt(c * n + k, piv * n + k) }
                r.swapAt(c, piv)
            }
            let d = a[c * n + c]
            guard abs(d) > 1e-300 else { continue }
            for i in (c + 1)..<n {
                let f = a[i * n + c] / d
                if f == 0 { continue }
                for k in c..<n { a[i * n + k] -= f * a[c * n + k] }
                r[i] -= f * r[c]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for c in stride(from: n - 1, through: 0, by: -1) {
            var s = r[c]
            for k in (c + 1)..<n { s -= a[c * n + k] * x[k] }
            x[c] = abs(a[c * n + c]) > 1e-300 ? s / a[c * n + c] : 0
        }
        for s in 0..<data.count {
            var p = x[n - 1]
            for i in 0..<data.featureCount { p += x[i] * data.features[s * data.featureCount + i] }
            let e = p - data.targets[s * m + t]
            total += e * e
        }
    }
    return 0.5 * total / Double(max(1, data.count * m))
}
