import Comm
import Foundation
import Kernels
import MGRIT
import ResNet
import Training

/// One network of the convergence study and its two MGRIT solves.
///
/// Random networks get the paper's set-up: `depth` layers of `width`, step
/// ``beta`` (the paper: 0.1), weights and biases uniform in `initRange` (the
/// paper: [0, 1e-3]). Its input is what the paper's network feeds it: a batch of
/// task-f1 samples (x ∈ [0, 4]⁶) through an opening dense layer 6 → width with
/// ReLU, and its terminal adjoint comes from a closing dense layer width → 1 and
/// the loss ½·mean (prediction − f1 target)². Opening and closing layers are
/// drawn with the same range and seed, so every rank builds the same network.
///
/// With ``weights`` (a trained model) the network is that model's, its hidden
/// layers interpolated in depth to `depth` layers (``TrainedDepthFamily``) with
/// ``beta`` = trained β·N₀/depth, so the final time `T = N·β` stays the trained one;
/// the inputs are samples of the model's task (f1 when it was trained on files),
/// through the model's feature scaling.
public struct ConvergenceCase {
    public init(depth: Int, width: Int, batch: Int, initRange: ClosedRange<Double>, seed: UInt64,
                storePreactivations: Bool = false) {
        self.depth = depth
        self.width = width
        self.batch = batch
        self.initRange = initRange
        self.seed = seed
        self.storePreactivations = storePreactivations
    }

    /// A case on trained weights, interpolated to `depth` layers at the trained final time.
    public init(weights: TrainedModel, depth: Int, batch: Int, seed: UInt64, storePreactivations: Bool = false) throws {
        try TrainedDepthFamily.check(weights)
        self.init(depth: depth, width: weights.shape.width, batch: batch, initRange: 0 ... 0, seed: seed,
                  storePreactivations: storePreactivations)
        self.weights = weights
        beta = TrainedDepthFamily.beta(of: weights, depth: depth)
    }

    public var depth: Int
    public var width: Int
    public var batch: Int
    public var beta = 0.1
    public var initRange: ClosedRange<Double>
    public var seed: UInt64
    /// Adjoint keeps zⁿ instead of recomputing it (``ResNetAdjointSolver/storePreactivations``).
    public var storePreactivations = false
    /// Trained parameters (nil: random in ``initRange``).
    public private(set) var weights: TrainedModel? = nil

    /// The task whose samples feed the network: the trained model's, else f1.
    var task: RegressionTask {
        if case .task(let t, _, _)? = weights?.provenance?.configuration.data { return t }
        return .f1
    }

    /// What the network is, for tables: `random [lo, hi]` or `trained f1 (depth 322)`.
    public var family: String {
        guard let w = weights else { return "random [\(initRange.lowerBound), \(initRange.upperBound)]" }
        return "trained \(task.rawValue) (depth \(w.shape.depth))"
    }

    /// The network: the trained one interpolated to ``depth``, or hidden layers from the seeded
    /// stream of ``HiddenStack/uniform(width:depth:beta:range:seed:)``, then the opening weights
    /// (row-major) and bias and the closing weights and bias from a second stream.
    func makeNetwork() throws -> Network {
        if let weights { return try TrainedDepthFamily.network(weights, depth: depth) }
        let net = try Network(shape: NetworkShape(inputs: 6, width: width, outputs: 1, depth: depth, beta: beta))
        let stack = try HiddenStack.uniform(width: width, depth: depth, beta: beta, range: initRange, seed: seed)
        try net.hidden.flat.copy(from: stack.flat)
        var rng = SplitMix64Stream(seed: seed ^ 0x5EED_0F0E)
        let p = net.parameters
        for layer in [p.opening, p.closing] {
            let W = layer.W
            for i in 0 ..< W.rows { for k in 0 ..< W.cols { W[i, k] = rng.uniform(initRange) } }
            for i in 0 ..< layer.b.count { layer.b[i] = rng.uniform(initRange) }
        }
        return net
    }

    /// `batch` samples of ``task`` in the network's units (the trained model's scaling).
    func makeData() -> Dataset {
        let d = task.generate(count: batch, seed: seed, stream: .trainData)
        guard let s = weights?.scaling else { return d }
        return Dataset(featureCount: 6, targetCount: 1, features: s.normalizeFeatures(d.features),
                       targets: s.normalizeTargets(d.targets), origin: d.origin)
    }
}

/// A trained network carried to other depths at its own final time (as
/// LayerParallelLearning and torchbraid parameterise depth): layer `n` of `N`
/// sits at time `(n + ½)·T/N`, i.e. at position `t = (n + ½)·N₀/N − ½` of the
/// trained layers `0 … N₀−1`, and gets `Wⁿ = (1 − f)·W_⌊t⌋ + f·W_⌊t⌋₊₁`
/// (`f = t − ⌊t⌋`, `t` clamped to the trained range; the same for `bⁿ`), with
/// `β = β₀·N₀/N`. At `N = N₀` it is the trained network exactly. Opening and
/// closing layers are the trained ones.
public enum TrainedDepthFamily {
    /// - Throws: ``StudyError`` unless the model has the 6 inputs and 1 output of the tasks' samples.
    public static func check(_ m: TrainedModel) throws {
        guard m.shape.inputs == 6, m.shape.outputs == 1 else {
            throw StudyError("--weights \(m.source): the network has \(m.shape.inputs) inputs and \(m.shape.outputs) output(s); the convergence study feeds it task samples (6 inputs, 1 output)")
        }
    }

    /// `β₀·N₀/depth`.
    public static func beta(of m: TrainedModel, depth: Int) -> Double {
        depth == m.shape.depth ? m.shape.beta : m.shape.beta * Double(m.shape.depth) / Double(depth)
    }

    public static func network(_ m: TrainedModel, depth: Int) throws -> Network {
        let trained = try Network(shape: m.shape, parameters: m.parameters)
        guard depth != m.shape.depth else { return trained }
        let s = m.shape
        let net = try Network(shape: NetworkShape(inputs: s.inputs, width: s.width, outputs: s.outputs, depth: depth,
                                                  beta: beta(of: m, depth: depth)))
        for (to, from) in [(net.parameters.opening, trained.parameters.opening), (net.parameters.closing, trained.parameters.closing)] {
            try to.W.copy(from: from.W)
            try to.b.copy(from: from.b)
        }
        let n0 = s.depth
        for n in 0 ..< depth {
            let t = min(max((Double(n) + 0.5) * Double(n0) / Double(depth) - 0.5, 0), Double(n0 - 1))
            let i = Int(t.rounded(.down)), j = min(i + 1, n0 - 1), f = t - Double(i)
            let (W, b) = (net.hidden.weights[n], net.hidden.biases[n])
            let (Wi, Wj, bi, bj) = (trained.hidden.weights[i], trained.hidden.weights[j], trained.hidden.biases[i], trained.hidden.biases[j])
            for r in 0 ..< s.width {
                for c in 0 ..< s.width { W[r, c] = (1 - f) * Wi[r, c] + f * Wj[r, c] }
                b[r] = (1 - f) * bi[r] + f * bj[r]
            }
        }
        return net
    }
}

/// Results of one pass (forward or adjoint) of one case.
public struct ConvergenceRun: Codable {
    public var depth: Int
    public var width: Int
    public var batch: Int
    /// ``ConvergenceCase/family``.
    public var family: String
    public var beta: Double
    public var pass: String
    public var residuals: [Double]
    public var relative: [Double]
    public var iterations: Int
    public var converged: Bool
    /// `converged`, `cap` (ran to --max-iter), or the stall's kind `stalled`/`diverging`.
    public var stop: String
    /// The stall report (``MGRITStall``), if stall detection stopped the solve.
    public var stall: String?
    public var seconds: Double
    /// First k with ‖r_k‖/‖r_1‖ ≤ 1e-10 (k counts measured residuals, the paper's r_k; with
    /// --skip-first-down the unmeasured first iteration is not counted), if reached.
    public var iterationsTo1e10: Int?
    public var levels: Int
    /// Problem steps of all levels and ranks per iteration, divided by the layer count:
    /// the work of one iteration in layer-serial passes (a forward step is one kernel
    /// call, an adjoint step two: the pre-activation is recomputed).
    public var stepsPerIterationOverDepth: Double
    /// Kernel calls of all ranks per iteration divided by those of the layer-serial pass
    /// (forward: N; backward: 2N, one forward call recomputing zⁿ and one adjoint call per layer).
    public var kernelCallsPerIterationOverSerial: Double
    /// States (w×B each) over all ranks, divided by depth + 1: for the forward pass
    /// what its solve allocates; for the adjoint the peak of the forward + adjoint
    /// solve (forward fine states kept, adjoint hierarchy allocated).
    public var statesOverFineStates: Double
    /// The layer-serial pass's own growth: ‖xᴺ‖ (forward) or ‖λ⁰‖ (adjoint), Frobenius
    /// over the batch, beside ‖x⁰‖ or ‖λᴺ‖ (``serialStart``).
    public var serialNorm: Double
    public var serialStart: Double
    /// ‖MGRIT − serial‖/‖serial‖ of xᴺ (forward) or λ⁰ (adjoint) at the end of the solve.
    public var errorVersusSerial: Double
    /// Seconds of the layer-serial pass on rank 0 (adjoint: with zⁿ recomputed, 2 calls per layer).
    public var serialSeconds: Double
    /// The solve's seconds per iteration over ``serialSeconds`` (one rank: the time cost of an iteration).
    public var secondsPerIterationOverSerial: Double
    /// Whether this pass ran with Delta correction (``MGRITOptions/deltaCorrection``).
    public var deltaCorrection = false
    /// Bytes of the Delta-correction store over all ranks (Δ of every coarse point, running
    /// and scratch tangents, tangent message buffers); 0 without it.
    public var deltaBytes = 0.0
    /// Linearised steps, tangent products and Δ applications per iteration, all levels and ranks.
    public var tangentOperationsPerIteration = 0.0
    /// Matrix-multiply flops per iteration over the layer-serial pass's (forward `N·2w²B`, adjoint
    /// `2N·2w²B`, or `N·2w²B` with stored zⁿ; the adjoint's layer calls counted at `2w²B` each); nil: not counted.
    public var flopsPerIterationOverSerial: Double? = nil
    /// Seconds per iteration in the Delta-correction operations (linearised steps with their state
    /// step, products, applications; rank 0) over ``serialSeconds``.
    public var deltaSecondsPerIterationOverSerial = 0.0
}

/// The layer-serial passes of a case: the oracle and the growth of the network itself.
struct SerialReference {
    var xN: Matrix<Double>
    var lambda0: Matrix<Double>
    var norms: (x0: Double, xN: Double, lambdaN: Double, lambda0: Double)
    var seconds: (forward: Double, adjoint: Double)

    /// Forward and backward through `net` from the opening of `data`, as every rank can compute them.
    init(net: Network, data: Dataset, batch: Int) throws {
        let ws = NetworkWorkspace(shape: net.shape, capacity: batch, hiddenStates: false)
        data.features.withUnsafeBufferPointer { net.load(features: $0, samples: nil, batch: batch, into: ws) }
        let x0 = Matrix<Double>(rows: net.shape.width, cols: batch)
        try net.openingForward(ws, into: x0)
        // Each pass is timed as the fastest of 3 (on a shared machine one timing of a short pass is noise).
        let states = [x0.clone()] + (0 ..< net.shape.depth).map { _ in Matrix<Double>(rows: net.shape.width, cols: batch) }
        let forwardSeconds = try Self.fastest { try LayerSerial.forward(net.hidden, states: states) }
        let xN = states[net.shape.depth]
        _ = try data.targets.withUnsafeBufferPointer { try net.closingForwardAndLoss(ws, last: xN, targets: $0, samples: nil) }
        let lambdaN = Matrix<Double>(rows: net.shape.width, cols: batch)
        try net.closingAdjoint(ws, last: xN, gradient: net.makeGradient(), lambda: lambdaN)
        var lambda0 = lambdaN
        let gradient = HiddenGradient(like: net.hidden)   // accumulated into 3 times: only λ⁰ is used
        let adjointSeconds = try Self.fastest {
            lambda0 = try LayerSerial.backward(net.hidden, states: states, terminalAdjoint: lambdaN, gradient: gradient)
        }
        self.xN = xN
        self.lambda0 = lambda0
        norms = (x0.norm(), xN.norm(), lambdaN.norm(), lambda0.norm())
        seconds = (forwardSeconds, adjointSeconds)
    }

    /// The least of 3 timings of `body` (which must give the same result every time).
    static func fastest(_ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0 ..< 3 {
            let t0 = monotonicSeconds()
            try body()
            best = min(best, monotonicSeconds() - t0)
        }
        return best
    }

    /// ‖a − b‖/‖b‖.
    static func relativeError(_ a: Matrix<Double>, _ b: Matrix<Double>) throws -> Double {
        let d = a.clone()
        try d.axpy(-1, b)
        return d.norm() / b.norm()
    }
}

public enum ConvergenceStudy {
    /// Builds the case's network, runs forward and adjoint MGRIT and the layer-serial passes,
    /// and returns both runs (identical on every rank). Throws errors of the solver or the kernels.
    public static func run(_ c: ConvergenceCase, options: MGRITOptions, coarseStep: CoarseStep,
                    comm: any Communicator) throws -> [ConvergenceRun] {
        let net = try c.makeNetwork()
        let data = c.makeData()
        // Every rank runs the serial passes (each holds all parameters); rank 0's timings are reported.
        let serial = try SerialReference(net: net, data: data, batch: c.batch)
        let ws = NetworkWorkspace(shape: net.shape, capacity: c.batch, hiddenStates: false)
        data.features.withUnsafeBufferPointer { net.load(features: $0, samples: nil, batch: c.batch, into: ws) }

        let forward = try ResNetForwardSolver(stack: net.hidden, batch: c.batch, options: options, comm: comm,
                                              coarseStep: coarseStep)
        try net.openingForward(ws, into: forward.problem.input)
        let fStats = try forward.solve()
        forward.solver.releaseCoarseLevels()   // the adjoint's peak counts the forward's fine states only
        let fCalls = try comm.allreduceSum(Double(forward.problem.kernelCalls))
        let adjoint = try ResNetAdjointSolver(forward: forward, options: options, comm: comm,
                                              storePreactivations: c.storePreactivations)
        let gradient = net.makeGradient()
        if let xN = forward.output {
            _ = try data.targets.withUnsafeBufferPointer { try net.closingForwardAndLoss(ws, last: xN, targets: $0, samples: nil) }
            try net.closingAdjoint(ws, last: xN, gradient: gradient, lambda: adjoint.problem.terminalAdjoint)
        }
        let aStats = try adjoint.solve(terminalAdjoint: nil, gradient: gradient.hiddenGradient)
        // Per layer: 2 calls (recomputed zⁿ), or 1 call plus the one-time zⁿ call when stored.
        let serialAdjointCalls = Double(c.depth) * (c.storePreactivations ? 1 : 2)
        // Without the gradient sweep and the one-time zⁿ computation.
        // (Stored zⁿ the forward solve recorded were not computed again: count them as that call.)
        let aCalls = try comm.allreduceSum(Double(adjoint.problem.kernelCalls + adjoint.reusedPreactivations)) - 2 * Double(c.depth)

        let fineStates = Double(c.depth + 1)
        let fStates = try comm.allreduceSum(Double(fStats.statesAllocated))
        let zStates = c.storePreactivations ? Double(c.depth) : 0
        let aStates = try comm.allreduceSum(Double(aStats.statesAllocated + forward.solver.stateCount)) + zStates
        // The adjoint's statistics include the gradient sweep (depth steps); take it out of the per-iteration work.
        let fSteps = try comm.allreduceSum(Double(fStats.totalSteps))
        let aSteps = try comm.allreduceSum(Double(aStats.totalSteps)) - Double(c.depth)
        // Errors against the serial pass on the owners of xᴺ and λ⁰, and rank 0's serial timings.
        var xError = 0.0, lambdaError = 0.0
        if let xN = forward.output { xError = try SerialReference.relativeError(xN, serial.xN) }
        if let l0 = adjoint.inputAdjoint { lambdaError = try SerialReference.relativeError(l0, serial.lambda0) }
        let root = comm.rank == 0
        let shared = try comm.allreduceSum([xError, lambdaError, root ? serial.seconds.forward : 0, root ? serial.seconds.adjoint : 0])
        func make(_ pass: String, _ s: MGRITStatistics, _ steps: Double, _ states: Double, _ calls: Double,
                  _ serialCalls: Double, norm: Double, start: Double, error: Double, serialSeconds: Double) -> ConvergenceRun {
            let rel = s.relativeResiduals
            let k = rel.firstIndex(where: { $0 <= 1e-10 }).map { $0 + 1 }
            let its = Double(max(s.iterations, 1))
            return ConvergenceRun(depth: c.depth, width: c.width, batch: c.batch, family: c.family, beta: c.beta, pass: pass,
                                  residuals: s.residuals, relative: rel, iterations: s.iterations, converged: s.converged,
                                  stop: s.converged ? "converged" : s.stall.map { $0.diverging ? "diverging" : "stalled" } ?? "cap",
                                  stall: s.stall?.description, seconds: s.seconds,
                                  iterationsTo1e10: k, levels: s.levels,
                                  stepsPerIterationOverDepth: steps / its / Double(c.depth),
                                  kernelCallsPerIterationOverSerial: calls / its / serialCalls,
                                  statesOverFineStates: states / fineStates,
                                  serialNorm: norm, serialStart: start, errorVersusSerial: error, serialSeconds: serialSeconds,
                                  secondsPerIterationOverSerial: s.seconds / its / serialSeconds)
        }
        var fRun = make("forward", fStats, fSteps, fStates, fCalls, Double(c.depth), norm: serial.norms.xN, start: serial.norms.x0,
                        error: shared[0], serialSeconds: shared[2])
        var aRun = make("adjoint", aStats, aSteps, aStates, aCalls, serialAdjointCalls, norm: serial.norms.lambda0,
                        start: serial.norms.lambdaN, error: shared[1], serialSeconds: shared[3])
        let layerFlops = 2 * Double(c.width * c.width * c.batch)   // one kernel call of the serial pass
        let fFlops = try comm.allreduceSum(Double(forward.problem.flops))
        fRun.flopsPerIterationOverSerial = fFlops / Double(max(fStats.iterations, 1)) / (Double(c.depth) * layerFlops)
        // The adjoint counts the flops of its tangent operations only: its other calls (forward and
        // adjoint layer calls in the solve) are 2w²B each.
        let aTangent = try comm.allreduceSum([Double(adjoint.problem.tangentKernelCalls), Double(adjoint.problem.flops)])
        aRun.flopsPerIterationOverSerial = ((aCalls - aTangent[0]) * layerFlops + aTangent[1])
            / Double(max(aStats.iterations, 1)) / (serialAdjointCalls * layerFlops)
        if options.deltaCorrection {
            try recordDelta(fStats, into: &fRun, serialSeconds: shared[2], comm: comm)
            try recordDelta(aStats, into: &aRun, serialSeconds: shared[3], comm: comm)
        }
        return [fRun, aRun]
    }

    /// The Delta-correction store, operations and seconds of a solve into its run.
    static func recordDelta(_ s: MGRITStatistics, into run: inout ConvergenceRun, serialSeconds: Double,
                            comm: any Communicator) throws {
        let its = Double(max(s.iterations, 1))
        let ops = s.tangentStepsPerLevel.reduce(0, +) + s.tangentProductsPerLevel.reduce(0, +) + s.tangentAppliesPerLevel.reduce(0, +)
        let d = try comm.allreduceSum([Double(s.deltaDoubles) * 8, Double(ops), comm.rank == 0 ? s.deltaSecondsPerLevel.reduce(0, +) : 0])
        run.deltaCorrection = true
        run.deltaBytes = d[0]
        run.tangentOperationsPerIteration = d[1] / its
        run.deltaSecondsPerIterationOverSerial = d[2] / its / serialSeconds
    }
}
