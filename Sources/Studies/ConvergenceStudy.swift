import Comm
import Foundation
import Kernels
import MGRIT
import ResNet
import Training

/// One network of the convergence study and its two MGRIT solves.
///
/// The hidden stack gets the paper's set-up: `depth` layers of `width`,
/// β = 0.1, weights and biases uniform in `initRange` (the paper: [0, 1e-3]).
/// Its input is what the paper's network feeds it: a batch of task-f1 samples
/// (x ∈ [0, 4]⁶) through an opening dense layer 6 → width with ReLU, and its
/// terminal adjoint comes from a closing dense layer width → 1 and the loss
/// ½·mean (prediction − f1 target)². Opening and closing layers are drawn with
/// the same range and seed, so every rank builds the same network.
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

    public var depth: Int
    public var width: Int
    public var batch: Int
    public var beta = 0.1
    public var initRange: ClosedRange<Double>
    public var seed: UInt64
    /// Adjoint keeps zⁿ instead of recomputing it (``ResNetAdjointSolver/storePreactivations``).
    public var storePreactivations = false

    /// The network: hidden layers from the seeded stream of ``HiddenStack/uniform(width:depth:beta:range:seed:)``,
    /// then the opening weights (row-major) and bias and the closing weights and bias from a second stream.
    func makeNetwork() throws -> Network {
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
}

/// Results of one pass (forward or adjoint) of one case.
public struct ConvergenceRun: Codable {
    public var depth: Int
    public var width: Int
    public var batch: Int
    public var pass: String
    public var residuals: [Double]
    public var relative: [Double]
    public var iterations: Int
    public var converged: Bool
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
}

public enum ConvergenceStudy {
    /// Builds the case's network, runs forward and adjoint MGRIT, and returns both runs
    /// (identical on every rank). Throws errors of the solver or the kernels.
    public static func run(_ c: ConvergenceCase, options: MGRITOptions, coarseStep: CoarseStep,
                    comm: any Communicator) throws -> [ConvergenceRun] {
        let net = try c.makeNetwork()
        let data = RegressionTask.f1.generate(count: c.batch, seed: c.seed, stream: .trainData)
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
        func make(_ pass: String, _ s: MGRITStatistics, _ steps: Double, _ states: Double, _ calls: Double,
                  _ serialCalls: Double) -> ConvergenceRun {
            let rel = s.relativeResiduals
            let k = rel.firstIndex(where: { $0 <= 1e-10 }).map { $0 + 1 }
            return ConvergenceRun(depth: c.depth, width: c.width, batch: c.batch, pass: pass, residuals: s.residuals,
                                  relative: rel, iterations: s.iterations, converged: s.converged, seconds: s.seconds,
                                  iterationsTo1e10: k, levels: s.levels,
                                  stepsPerIterationOverDepth: steps / Double(max(s.iterations, 1)) / Double(c.depth),
                                  kernelCallsPerIterationOverSerial: calls / Double(max(s.iterations, 1)) / serialCalls,
                                  statesOverFineStates: states / fineStates)
        }
        return [make("forward", fStats, fSteps, fStates, fCalls, Double(c.depth)),
                make("adjoint", aStats, aSteps, aStates, aCalls, serialAdjointCalls)]
    }
}
