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
    let workspace: NetworkWorkspace
    let stack: HiddenStack
    let hiddenGradient: HiddenGradient
    let forwardSolver: ResNetForwardSolver
    let adjointSolver: ResNetAdjointSolver
    let input: Matrix<Double>
    let terminal: Matrix<Double>
    var solves = 0

    public init(network: Network, batchSize: Int, config: TrainingConfiguration, comm: any Communicator) throws {
        self.network = network
        self.comm = comm
        let shape = network.shape
        workspace = NetworkWorkspace(shape: shape, capacity: batchSize)
        stack = try HiddenStack(width: shape.width, depth: shape.depth, beta: shape.beta)
        hiddenGradient = HiddenGradient(like: stack)
        func options(tolerance: Double, iterations: Int) -> MGRITOptions {
            let o = MGRITOptions(coarsening: config.coarsening, maxLevels: config.maxLevels,
                                 absoluteTolerance: tolerance, maxIterations: iterations)
            return tolerance == 0 ? o.fixedIterations(iterations, measureLast: true) : o
        }
        let fo = options(tolerance: config.tolForward, iterations: config.maxForwardIterations)
        let bo = options(tolerance: config.tolBackward, iterations: config.maxBackwardIterations)
        forwardSolver = try ResNetForwardSolver(stack: stack, batch: batchSize, options: fo, comm: comm)
        adjointSolver = try ResNetAdjointSolver(forward: forwardSolver, options: bo, comm: comm)
        input = Matrix(rows: shape.width, cols: batchSize)
        terminal = Matrix(rows: shape.width, cols: batchSize)
    }

    /// Copies a width × B block between a workspace buffer (row stride `ld`) and a Matrix.
    static func copy(_ src: UnsafePointer<Double>, ld: Int, into m: Matrix<Double>) {
        for i in 0..<m.rows { (m.baseAddress + i * m.ld).update(from: src + i * ld, count: m.cols) }
    }
    static func copy(_ m: Matrix<Double>, into dst: UnsafeMutablePointer<Double>, ld: Int) {
        for i in 0..<m.rows { (dst + i * ld).update(from: m.baseAddress + i * m.ld, count: m.cols) }
    }

    public func compute(parameters: [Double], gradient: inout [Double], data: Dataset, batch: [Int], step: Int) throws -> StepResult {
        let net = network, ws = workspace, L = network.layout, N = network.shape.depth
        precondition(batch.count == ws.capacity, "the layer-parallel solvers are built for one batch size")
        let warm = solves > 0
        solves += 1
        return try parameters.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!
            let t0 = now()
            stack.load(from: p, weightOffset: L.hiddenWeights, biasOffset: L.hiddenBias)
            data.features.withUnsafeBufferPointer { net.load(features: $0, samples: batch, batch: batch.count, into: ws) }
            net.openingForward(p, ws)   // cheap: every rank computes x⁰ (the forward solver wants it everywhere)
            Self.copy(ws.state(0), ld: ws.capacity, into: input)
            let fs = try forwardSolver.solve(input: input, warmStart: warm)
            var loss = 0.0
            var g = [Double](repeating: 0, count: L.count)
            let ownsLast = forwardSolver.ownedRange.contains(N)
            if ownsLast, let out = forwardSolver.output {
                Self.copy(out, into: ws.state(N), ld: ws.capacity)
                loss = data.targets.withUnsafeBufferPointer { net.closingForwardAndLoss(p, targets: $0, samples: batch, ws) }
            }
            let t1 = now()
            g.withUnsafeMutableBufferPointer { gb in
                if ownsLast { net.closingAdjoint(p, gradient: gb.baseAddress!, lambda: ws.lambdaA, ws) }
            }
            if ownsLast { Self.copy(ws.lambdaA, ld: ws.capacity, into: terminal) }
            hiddenGradient.zero()
            let bs = try adjointSolver.solve(terminalAdjoint: ownsLast ? terminal : nil, gradient: hiddenGradient, warmStart: warm)
            g.withUnsafeMutableBufferPointer { gb in
                let gp = gb.baseAddress!
                hiddenGradient.add(into: gp, weightOffset: L.hiddenWeights, biasOffset: L.hiddenBias)
                if let l0 = adjointSolver.inputAdjoint {
                    Self.copy(l0, into: ws.lambdaB, ld: ws.capacity)
                    net.openingAdjoint(p, gradient: gp, lambda: ws.lambdaB, ws)
                }
            }
            if comm.size > 1 {
                g.append(loss)
                g = try comm.allreduceSum(g)
                loss = g.removeLast()
            }
            gradient = g
            let t2 = now()
            return StepResult(loss: loss, forwardSeconds: t1 - t0, backwardSeconds: t2 - t1,
                              forwardIterations: fs.iterations, forwardResidual: fs.residuals.last ?? .nan,
                              backwardIterations: bs.iterations, backwardResidual: bs.residuals.last ?? .nan)
        }
    }

    /// The warm start: the fine forward states x⁰…xᴺ and adjoints of every point,
    /// w×B each, packed row by row. Each rank fills the points it owns and a sum over
    /// ranks assembles the whole (collective: every rank must call it).
    public func exportState() throws -> [Double] {
        guard solves > 0 else { return [] }
        let n = network.shape.depth + 1, size = input.count
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
        let n = network.shape.depth + 1, size = input.count
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
