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
/// approximate states and adjoints — an inexact gradient. Both solves are
/// warm-started as ``WarmStartPolicy`` says: by default each example from its
/// own states at its last visit (``ExampleWarmStart``).
///
/// Across ranks: every rank holds all parameters; the opening layer runs on the
/// owner of layer 0, the closing layer and loss on the owner of layer N; each
/// rank writes the gradients of the layers it owns — one contiguous block of the
/// flat gradient — and one in-place allgather assembles the full gradient on every
/// rank (a sum over ranks of mostly zeros moves and adds every entry: for 348k
/// doubles on 2 ranks here 2.5× the allgather's time with the ring, 6.5× with
/// libnbc's default; `layerpar comm-selftest` times both), so all ranks take the same step.
public final class ParallelEngine: GradientEngine {
    let network: Network
    let comm: any Communicator
    /// Input, opening pre-activation and outputs; the solvers hold the hidden states.
    let workspace: NetworkWorkspace
    let forwardSolver: ResNetForwardSolver
    let adjointSolver: ResNetAdjointSolver
    let warmStart: WarmStartPolicy
    let warmStartMemoryBytes: Int
    /// Per-example stores (``WarmStartPolicy/example``), made by ``prepare(trainingExamples:)``.
    var forwardStore: ExampleWarmStart?
    var adjointStore: ExampleWarmStart?
    var solves = 0
    /// ``gradientBlocks(adjoint:depth:layout:)`` of this network on `comm`.
    let gradientBlocks: [Range<Int>]
    /// Whether ``compute(gradient:data:batch:step:)`` sums the gradient and loss over
    /// `comm` (false: each rank returns its own part, for a caller that reduces once
    /// over a larger group, as ``DataParallelEngine`` does).
    public var reducesGradient = true
    /// Stores zⁿ or its mask for the adjoint, or recomputes it, step by step.
    let planner: PreactivationPlanner
    public var preactivations: PreactivationChoice? { planner.choice }

    /// - Parameter preactivations: whether the adjoint solve reuses the zⁿ the forward solve
    ///   recorded (store), or their ReLU masks (mask: an eighth of the traffic), or
    ///   recomputes them in every adjoint step (the same gradient, a third of the memory
    ///   traffic: faster once the states outgrow the cache), or which is fastest, timed
    ///   on the first steps (auto, ``PreactivationPlanner``).
    public init(network: Network, batchSize: Int, config: TrainingConfiguration, comm: any Communicator,
                preactivations: PreactivationPolicy = .auto) throws {
        self.network = network
        self.comm = comm
        workspace = NetworkWorkspace(shape: network.shape, capacity: batchSize, hiddenStates: false)
        func options(tolerance: Double, iterations: Int, adjoint: Bool) -> MGRITOptions {
            let o = (config.solver ?? SolverSettings()).apply(
                to: MGRITOptions(absoluteTolerance: tolerance, maxIterations: iterations),
                coarsening: config.coarsening, maxLevels: config.maxLevels, adjoint: adjoint)
            return tolerance == 0 ? o.fixedIterations(iterations, measureLast: true) : o
        }
        let fo = options(tolerance: config.tolForward, iterations: config.maxForwardIterations, adjoint: false)
        let bo = options(tolerance: config.tolBackward, iterations: config.maxBackwardIterations, adjoint: true)
        // The solvers read the network's parameters through views: nothing is copied per step.
        forwardSolver = try ResNetForwardSolver(stack: network.hidden, batch: batchSize, options: fo, comm: comm,
                                                coarseStep: (config.solver ?? SolverSettings()).coarseStep)
        // zⁿ = Wⁿxⁿ + bⁿ is computed once per step (N forward calls over all ranks) and
        // reused by every adjoint step and the gradient sweep, instead of recomputed in
        // each: N more states of memory for ≈ 1.6 N fewer kernel calls per adjoint iteration.
        planner = PreactivationPlanner(policy: preactivations)
        adjointSolver = try ResNetAdjointSolver(forward: forwardSolver, options: bo, comm: comm,
                                                preactivationStorage: preactivations.storage ?? .store)
        gradientBlocks = Self.gradientBlocks(adjoint: adjointSolver.solver.partition, depth: network.shape.depth,
                                             layout: network.shape.layout)
        warmStart = config.warmStartPolicy
        warmStartMemoryBytes = (config.warmStartMemoryMiB ?? 4096) << 20
    }

    /// Allocates the per-example stores for a training set of `count` examples.
    /// - Throws: ``TrainingError`` when they would exceed `--warm-start-memory`.
    public func prepare(trainingExamples count: Int) throws {
        guard warmStart == .example else { return }
        let w = network.shape.width
        let points = ExampleWarmStart.ownedCPoints(forwardSolver.solver).count + ExampleWarmStart.ownedCPoints(adjointSolver.solver).count
        let need = ExampleWarmStart.bytes(points: points,
                                          width: w, examples: count)
        guard need <= warmStartMemoryBytes else {
            throw TrainingError(String(format: "per-example warm starts need %.1f MiB on rank %d (%d examples × their C-points × width %d × 8 B, forward and adjoint), more than --warm-start-memory %d MiB: raise it, use more ranks, or --warm-start previous",
                                       Double(need) / 1048576, comm.rank, count, w, warmStartMemoryBytes >> 20))
        }
        forwardStore = ExampleWarmStart(solver: forwardSolver.solver, width: w, examples: count)
        adjointStore = ExampleWarmStart(solver: adjointSolver.solver, width: w, examples: count)
    }

    /// Bytes of warm-start state this rank keeps between steps.
    public var warmStartBytes: Int { (forwardStore?.bytes ?? 0) + (adjointStore?.bytes ?? 0) }

    public func compute(gradient: NetworkParameters, data: Dataset, batch: [Int], step: Int) throws -> StepResult {
        let net = network, ws = workspace
        precondition(batch.count == ws.capacity, "the layer-parallel solvers are built for one batch size")
        guard warmStart != .example || forwardStore?.examples == data.count else {
            throw TrainingError("the per-example warm starts were prepared for \(forwardStore?.examples ?? 0) examples, the data has \(data.count)")
        }
        let warm = warmStart == .example || (warmStart == .previous && solves > 0)
        solves += 1
        adjointSolver.preactivationStorage = planner.begin()
        let t0 = now()
        data.features.withUnsafeBufferPointer { net.load(features: $0, samples: batch, batch: batch.count, into: ws) }
        // Cheap: every rank computes x⁰ (the forward solver wants it everywhere), straight into the solver's input.
        try net.openingForward(ws, into: forwardSolver.problem.input)
        try forwardStore?.gather(into: forwardSolver.solver, batch: batch)
        let fs = try forwardSolver.solve(warmStart: warm)
        forwardStore?.scatter(from: forwardSolver.solver, batch: batch)
        gradient.flat.zero()
        var loss = 0.0
        let last = forwardSolver.output   // x^N on the rank that owns layer N
        if let last {
            loss = try data.targets.withUnsafeBufferPointer { try net.closingForwardAndLoss(ws, last: last, targets: $0, samples: batch) }
        }
        let t1 = now()
        if let last { try net.closingAdjoint(ws, last: last, gradient: gradient, lambda: adjointSolver.problem.terminalAdjoint) }
        // The adjoint's gradient sweep accumulates dWⁿ, dbⁿ of the owned layers straight into `gradient`.
        try adjointStore?.gather(into: adjointSolver.solver, batch: batch)
        let bs = try adjointSolver.solve(terminalAdjoint: nil, gradient: gradient.hiddenGradient, warmStart: warm)
        adjointStore?.scatter(from: adjointSolver.solver, batch: batch)
        if let l0 = adjointSolver.inputAdjoint { try net.openingAdjoint(ws, lambda: l0, gradient: gradient) }
        planner.end()
        if reducesGradient && comm.size > 1 {
            try assemble(gradient)
            loss = try comm.allreduceSum(loss)
        }
        let t2 = now()
        return StepResult(loss: loss, forwardSeconds: t1 - t0, backwardSeconds: t2 - t1,
                          forwardIterations: fs.iterations, forwardResidual: fs.residuals.last ?? .nan,
                          backwardIterations: bs.iterations, backwardResidual: bs.residuals.last ?? .nan,
                          serialFallback: Self.fallback(forward: fs, adjoint: bs))
    }

    /// Every rank's block of the flat gradient: the hidden layers whose fine adjoint
    /// steps it owns (adjoint point k ≥ 1 is λᴺ⁻ᵏ, reached from point k − 1 by layer
    /// N − k), with the opening layer on the owner of λ⁰ (adjoint point N) and the
    /// closing layer on the owner of xᴺ (adjoint point 0), each adjacent to its end of
    /// the hidden layers. The same on every rank: it follows from the partition.
    public static func gradientBlocks(adjoint partition: TimePartition, depth N: Int, layout: ParameterLayout) -> [Range<Int>] {
        var blocks = [Range<Int>](repeating: 0 ..< 0, count: partition.ranks.count)
        for (rank, owned) in zip(partition.ranks, partition.ranges) where !owned.isEmpty {
            let steps = max(owned.lowerBound, 1) ..< owned.upperBound
            let layers = (N + 1 - steps.upperBound) ..< (N + 1 - steps.lowerBound)
            let lo = owned.contains(N) ? 0 : layout.hiddenWeights(layers.lowerBound)
            let hi = owned.contains(0) ? layout.count : layout.hiddenWeights(layers.upperBound)
            blocks[rank] = lo ..< max(lo, hi)
        }
        return blocks
    }

    /// Whether ``assemble(_:)`` has checked, at its first call, that this rank wrote nothing outside its block.
    var checkedGradientBlock = false

    /// Assembles the full gradient on every rank from each rank's block (collective).
    func assemble(_ gradient: NetworkParameters) throws {
        let mine = gradientBlocks[comm.rank]
        if !checkedGradientBlock {
            let outside = gradient.flat.withUnsafeMutableBufferPointer { g in
                g.indices.first { !mine.contains($0) && g[$0] != 0 }
            }
            if let i = outside {
                throw TrainingError("internal error: rank \(comm.rank) wrote gradient entry \(i) outside its block \(mine) of the layers it owns")
            }
            checkedGradientBlock = true
        }
        try gradient.flat.withUnsafeMutableBufferPointer { try comm.allgather(inPlace: $0, blocks: gradientBlocks) }
    }

    /// The forward solve alone, started as the step's was but without scattering its
    /// states into the per-example store (a rejected trial point must not become a warm
    /// start); `previous` keeps the trial's states, as it keeps any solve's.
    public func loss(data: Dataset, batch: [Int], step: Int) throws -> TrialLoss {
        let net = network, ws = workspace
        precondition(batch.count == ws.capacity, "the layer-parallel solvers are built for one batch size")
        let warm = warmStart == .example || (warmStart == .previous && solves > 0)
        let t0 = now()
        data.features.withUnsafeBufferPointer { net.load(features: $0, samples: batch, batch: batch.count, into: ws) }
        try net.openingForward(ws, into: forwardSolver.problem.input)
        try forwardStore?.gather(into: forwardSolver.solver, batch: batch)
        let fs = try forwardSolver.solve(warmStart: warm)
        var loss = 0.0
        if let last = forwardSolver.output {
            loss = try data.targets.withUnsafeBufferPointer { try net.closingForwardAndLoss(ws, last: last, targets: $0, samples: batch) }
        }
        if reducesGradient && comm.size > 1 { loss = try comm.allreduceSum([loss])[0] }
        return TrialLoss(loss: loss, seconds: now() - t0, forwardIterations: fs.iterations)
    }

    /// Exact layer-serial passes for ``measureError(data:batch:)`` (made at its first call).
    lazy var exact = (workspace: NetworkWorkspace(shape: network.shape, capacity: workspace.capacity), gradient: network.makeGradient())

    /// Every rank runs the whole layer-serial forward and backward pass of `batch` (the
    /// measurement is occasional; only the points a rank owns are compared there) and
    /// compares, layer by layer as the passes produce them, with the MGRIT states and
    /// adjoints it owns; one `allreduceSum` of the squared differences and counts.
    public func measureError(data: Dataset, batch: [Int]) throws -> SolveError? {
        let net = network, (ws, g) = exact, fwd = forwardSolver, adj = adjointSolver
        var sums = [0.0, 0.0, 0.0, 0.0]   // Σ(Δx)², entries, Σ(Δλ)², entries
        func add(_ a: Matrix<Double>, _ b: Matrix<Double>, _ k: Int) {
            a.withUnsafeMutablePointer { pa, la in
                b.withUnsafeMutablePointer { pb, lb in
                    for i in 0..<a.rows {
                        for j in 0..<a.cols { let d = pa[i * la + j] - pb[i * lb + j]; sums[k] += d * d }
                    }
                }
            }
            sums[k + 1] += Double(a.rows * a.cols)
        }
        data.features.withUnsafeBufferPointer { net.load(features: $0, samples: batch, batch: batch.count, into: ws) }
        try net.forward(ws, perturb: { n, x in if let m = fwd.state(at: n + 1) { add(x, m, 0) } }, keeping: .store)
        _ = try data.targets.withUnsafeBufferPointer {
            try net.closingForwardAndLoss(ws, last: ws.state(net.shape.depth), targets: $0, samples: batch)
        }
        try net.backward(ws, gradient: g, perturb: { n, l in if let m = adj.adjoint(at: n) { add(l, m, 2) } })
        if comm.size > 1 { sums = try comm.allreduceSum(sums) }
        return SolveError(forwardRMS: (sums[0] / max(sums[1], 1)).squareRoot(), adjointRMS: (sums[2] / max(sums[3], 1)).squareRoot())
    }

    /// The history's `serial_fallback` entry: which passes stalled and were solved serially.
    static func fallback(forward: MGRITStatistics, adjoint: MGRITStatistics) -> String? {
        let passes = [("forward", forward), ("adjoint", adjoint)].filter { $0.1.stall?.sequentialSteps != nil }.map(\.0)
        return passes.isEmpty ? nil : passes.joined(separator: "+")
    }

    /// The warm start, assembled on every rank by a sum over ranks (each fills what it
    /// owns; collective: every rank must call it). `previous`: the fine forward states
    /// x⁰…xᴺ and adjoints of every point, w×B each, packed row by row. `example`: the
    /// forward and adjoint stores over all fine C-points, then one seen-flag per example.
    public func exportState() throws -> [Double] {
        guard solves > 0, warmStart != .none else { return [] }
        if let f = forwardStore, let a = adjointStore {
            var out = f.exportGlobal() + a.exportGlobal()
            out += comm.rank == 0 ? f.seen.map { $0 ? 1 : 0 } : [Double](repeating: 0, count: f.examples)
            return comm.size > 1 ? try comm.allreduceSum(out) : out
        }
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
        if let f = forwardStore, let a = adjointStore {
            let block = f.globalCount
            guard state.count == 2 * block + f.examples else {
                throw TrainingError("checkpoint warm-start state has \(state.count) values, per-example warm starts of this network and data need \(2 * block + f.examples)")
            }
            let seen = state[(2 * block)...].map { $0 != 0 }
            f.importGlobal(state[0 ..< block], seen: seen)
            a.importGlobal(state[block ..< 2 * block], seen: seen)
            solves = 1
            return
        }
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
