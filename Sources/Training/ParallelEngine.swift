import Comm
import Foundation
import Kernels
import MGRIT
import ResNet

/// One-shot layer-parallel gradients (Günther et al. 2020; the paper's §3.3):
/// every step solves the hidden stack's forward system with MGRIT until the ℓ²
/// residual norm is ≤ `tolForward` (or `maxForwardIterations`), evaluates the
/// closing layer and loss on the last state, solves the adjoint system with
/// MGRIT to `tolBackward` (or its cap), and assembles the gradient from the
/// approximate states and adjoints — an inexact gradient. From the second step
/// on, both solves start from the previous step's states (warm start).
///
/// Across ranks: every rank holds all parameters; the opening layer runs on the
/// owner of layer 0, the closing layer and loss on the owner of layer N; each
/// rank adds the gradients of what it owns and one `allreduceSum` assembles the
/// full gradient and loss on every rank, so all ranks take the same step.
public final class ParallelEngine: GradientEngine {
    let network: Network
    let comm: any Communicator
    /// Input, opening pre-activation and outputs; the solvers hold the hidden states.
    let workspace: NetworkWorkspace
    let forwardSolver: ResNetForwardSolver
    let adjointSolver: ResNetAdjointSolver
    var solves = 0

    public init(network: Network, batchSize: Int, config: TrainingConfiguration, comm: any Communicator) throws {
        self.network = network
        self.comm = comm
        workspace = NetworkWorkspace(shape: network.shape, capacity: batchSize, hiddenStates: false)
        func options(tolerance: Double, iterations: Int) -> MGRITOptions {
            let o = MGRITOptions(coarsening: config.coarsening, maxLevels: config.maxLevels,
                                 absoluteTolerance: tolerance, maxIterations: iterations)
            return tolerance == 0 ? o.fixedIterations(iterations, measureLast: true) : o
        }
        let fo = options(tolerance: config.tolForward, iterations: config.maxForwardIterations)
        let bo = options(tolerance: config.tolBackward, iterations: config.maxBackwardIterations)
        // The solvers read the network's parameters through views: nothing is copied per step.
        forwardSolver = try ResNetForwardSolver(stack: network.hidden, batch: batchSize, options: fo, comm: comm)
        adjointSolver = try ResNetAdjointSolver(forward: forwardSolver, options: bo, comm: comm)
    }

    public func compute(gradient: NetworkParameters, data: Dataset, batch: [Int], step: Int) throws -> StepResult {
        let net = network, ws = workspace, N = network.shape.depth
        precondition(batch.count == ws.capacity, "the layer-parallel solvers are built for one batch size")
        let warm = solves > 0
        solves += 1
        let t0 = now()
        data.features.withUnsafeBufferPointer { net.load(features: $0, samples: batch, batch: batch.count, into: ws) }
        // Cheap: every rank computes x⁰ (the forward solver wants it everywhere), straight into the solver's input.
        try net.openingForward(ws, into: forwardSolver.problem.input)
        let fs = try forwardSolver.solve(warmStart: warm)
        gradient.flat.zero()
        var loss = 0.0
        let last = forwardSolver.output   // x^N on the rank that owns layer N
        if let last {
            loss = try data.targets.withUnsafeBufferPointer { try net.closingForwardAndLoss(ws, last: last, targets: $0, samples: batch) }
        }
        let t1 = now()
        if let last { try net.closingAdjoint(ws, last: last, gradient: gradient, lambda: adjointSolver.problem.terminalAdjoint) }
        // The adjoint's gradient sweep accumulates dWⁿ, dbⁿ of the owned layers straight into `gradient`.
        let bs = try adjointSolver.solve(terminalAdjoint: nil, gradient: gradient.hiddenGradient, warmStart: warm)
        if let l0 = adjointSolver.inputAdjoint { try net.openingAdjoint(ws, lambda: l0, gradient: gradient) }
        if comm.size > 1 {
            var g = gradient.toArray()
            g.append(loss)
            g = try comm.allreduceSum(g)
            loss = g.removeLast()
            try gradient.load(g)
        }
        let t2 = now()
        return StepResult(loss: loss, forwardSeconds: t1 - t0, backwardSeconds: t2 - t1,
                          forwardIterations: fs.iterations, forwardResidual: fs.residuals.last ?? .nan,
                          backwardIterations: bs.iterations, backwardResidual: bs.residuals.last ?? .nan)
    }

    /// The warm start: the fine forward states x⁰…xᴺ and adjoints of every point,
    /// w×B each, packed row by row. Each rank fills the points it owns and a sum over
    /// ranks assembles the whole (collective: every rank must call it).
    public func exportState() throws -> [Double] {
        guard solves > 0 else { return [] }
        let n = network.shape.depth + 1, size = network.shape.width * workspace.capacity
        var out = [Double](repeating: 0, count: 2 * n * size)
        out.withUnsafeMutableBufferPointer { buf in
            for k in 0..<n {
                forwardSolver.solver.state(at: k)?.pack(into: UnsafeMutableBufferPointer(rebasing: buf[k * size ..< (k + 1) * size]))
                adjointSolver.solver.state(at: k)?.pack(into: UnsafeMutableBufferPointer(rebasing: buf[(n + k) * size ..< (n + k + 1) * size]))
            }
        }
        return comm.size > 1 ? try comm.allreduceSum(out) : out
    }

    /// Restores ``exportState()``'s warm start on the points this rank owns.
    public func importState(_ state: [Double]) throws {
        guard !state.isEmpty else { solves = 0; return }
        let n = network.shape.depth + 1, size = network.shape.width * workspace.capacity
        guard state.count == 2 * n * size else {
            throw TrainingError("checkpoint warm-start state has \(state.count) values, this network and batch need \(2 * n * size)")
        }
        state.withUnsafeBufferPointer { buf in
            for k in 0..<n {
                forwardSolver.solver.state(at: k)?.unpack(from: UnsafeBufferPointer(rebasing: buf[k * size ..< (k + 1) * size]))
                adjointSolver.solver.state(at: k)?.unpack(from: UnsafeBufferPointer(rebasing: buf[(n + k) * size ..< (n + k + 1) * size]))
            }
        }
        solves = 1
    }
}
