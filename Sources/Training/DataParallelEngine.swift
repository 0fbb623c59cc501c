import Comm
import Foundation
import ResNet

/// How a job's ranks were decomposed for training, for summaries.
public struct Decomposition: Codable, Sendable, Equatable {
    /// D batch groups × L layer groups (ranks = D·L).
    public var dataGroups: Int
    public var layerGroups: Int
    /// Examples of every mini-batch each batch group takes, in group order.
    public var shares: [Int]
    /// Mean seconds per step rank 0 spent in the gradient reduction and warm-start
    /// exchange after its own backward pass (the steps of this process; part of the
    /// backward phase). nil with one batch group.
    public var reduceSecondsPerStep: Double?

    public init(dataGroups: Int, layerGroups: Int, shares: [Int]) {
        self.dataGroups = dataGroups
        self.layerGroups = layerGroups
        self.shares = shares
    }
}

/// The gradient engine of a ``ProcessGrid``: plain when there is one batch group
/// (D = 1: today's layer-serial or layer-parallel engine on all ranks), else a
/// ``DataParallelEngine`` whose groups run the mode's engine on their share.
/// `gradientBuckets`: see ``DataParallelEngine/init(config:network:grid:gradientBuckets:preactivations:)``;
/// `preactivations`: see ``PreactivationPlanner`` (layer-serial passes).
public func makeGradientEngine(config: TrainingConfiguration, network: Network, grid: ProcessGrid,
                               gradientBuckets: Int = DataParallelEngine.defaultBuckets,
                               preactivations: PreactivationPolicy = .auto) throws -> any GradientEngine {
    if grid.dataGroups == 1 {
        return try makeGradientEngine(config: config, network: network, comm: grid.world, preactivations: preactivations)
    }
    return try DataParallelEngine(config: config, network: network, grid: grid, gradientBuckets: gradientBuckets,
                                  preactivations: preactivations)
}

/// Data-parallel gradients over the D batch groups of a ``ProcessGrid``.
///
/// Every rank holds all parameters and sees the whole mini-batch (the sampler is
/// the same on every rank); batch group `g` takes the block `g` of it
/// (``BlockDistribution`` of the B examples over D groups: uneven shares differ by
/// one). Within a group the mode's engine runs on the group's share: layer-serial
/// on one rank (L = 1), or the one-shot MGRIT engine on the group's
/// ``ProcessGrid/layers`` communicator (L > 1), which then leaves its partial
/// gradient unreduced. Each rank weights its gradient and loss by its share
/// `B_g / B` — the loss is `½·mean` over the batch, so the batch's gradient is the
/// share-weighted sum of the groups' — and one in-place `allreduceSum` over the
/// whole world of `[gradient…, loss]` gives every rank the batch's loss and
/// gradient; all ranks then take the same optimiser step.
///
/// Layer-serial groups overlap the reduction with the backward pass, as DDP does:
/// the gradient is cut into `gradientBuckets` buckets of consecutive layers in the
/// order the backward pass finishes them (closing and the last hidden layers first,
/// the opening layer last); as soon as a bucket's layers are done its share-weighted
/// values are summed by a non-blocking in-place allreduce (`MPI_Iallreduce`), and the
/// requests are polled after every further layer (Open MPI progresses a non-blocking
/// collective only inside MPI calls). The last bucket (the opening layer and the
/// first hidden layers) and the loss are summed by one blocking reduction after the
/// backward pass, so a step makes `gradientBuckets` reductions: with one bucket, a
/// single allreduce after the backward pass.
///
/// Layer-parallel groups with per-example warm starts also exchange the batch's
/// C-point states over ``ProcessGrid/batches`` after each step, so every group
/// starts each example from its own last visit, as one group would; `previous`
/// (another batch's states, which no group holds whole) is refused.
///
/// Layer-serial: equal to one rank's step up to the order of floating-point sums
/// (loss histories within 1e-12 relative); layer-parallel: to the solver's error.
/// The reduction's time counts in the backward phase.
public final class DataParallelEngine: GradientEngine {
    let grid: ProcessGrid
    let inner: any GradientEngine
    let shares: BlockDistribution
    let share: Range<Int>
    let batchSize: Int
    /// `[gradient…, loss]`, pinned for the reduction.
    let buffer: UnsafeMutableBufferPointer<Double>
    /// The batch's warm-start blocks, exchanged over ``ProcessGrid/batches`` (layer-parallel groups).
    var exchange: UnsafeMutableBufferPointer<Double>?
    /// Seconds spent in the gradient reduction so far (this rank) and the steps they cover.
    public private(set) var reduceSeconds = 0.0
    public private(set) var reduceSteps = 0

    /// Buckets of the overlapped reduction (layer-serial groups). One: on the shared
    /// 2-core machine here (load ≈ 9) 4 buckets cost 8.0 ms per step against 6.5 ms for
    /// one reduction (f2, depth 50, batch 64, 2 ranks, 3 interleaved runs): every extra
    /// synchronisation waits for the other rank's time slice.
    public static let defaultBuckets = 1
    let buckets: Int
    let network: Network
    /// The layer-serial group's buffers (nil for a layer-parallel group).
    let workspace: NetworkWorkspace?
    let planner: PreactivationPlanner

    /// - Parameter gradientBuckets: how many pieces the layer-serial gradient is
    ///   reduced in, overlapped with the backward pass (≥ 1; 1: one reduction after it).
    /// - Parameter preactivations: whether a layer-serial group's passes store zⁿ, its mask, or recompute zⁿ (``PreactivationPlanner``).
    public init(config: TrainingConfiguration, network: Network, grid: ProcessGrid,
                gradientBuckets: Int = DataParallelEngine.defaultBuckets,
                preactivations: PreactivationPolicy = .auto) throws {
        let D = grid.dataGroups, B = config.batchSize
        guard gradientBuckets >= 1 else { throw TrainingError("--gradient-buckets must be at least 1, got \(gradientBuckets)") }
        guard B >= D else {
            throw TrainingError("--batch-size \(B) cannot be split over --data-groups \(D): batch group \(B) would get no examples (give a batch of at least D)")
        }
        guard config.noiseForward == 0 && config.noiseBackward == 0 else {
            throw TrainingError("--noise-forward/--noise-backward draw noise for the whole batch on one rank: run them without --data-groups")
        }
        guard config.measureErrorEvery == nil else {
            throw TrainingError("--measure-error-every compares one group's solves with exact passes over the whole batch: drop --data-groups")
        }
        guard config.mode == .parallel || grid.layerGroups == 1 else {
            throw TrainingError("--mode serial runs each batch group's layers on one rank: --data-groups must be the rank count \(grid.world.size), got \(D)")
        }
        self.grid = grid
        self.network = network
        buckets = min(gradientBuckets, max(1, network.shape.depth))
        batchSize = B
        shares = try BlockDistribution(count: B, parts: D)
        share = shares.range(of: grid.batchGroup)
        switch config.mode {
        case .serial:
            inner = SerialEngine(network: network, batchSize: share.count, seed: config.seed)   // for its state only
        case .parallel:
            guard config.warmStartPolicy != .previous else {
                throw TrainingError("--warm-start previous starts from the last batch's states, which no batch group holds whole: use --warm-start example or none with --data-groups")
            }
            let engine = try ParallelEngine(network: network, batchSize: share.count, config: config, comm: grid.layers,
                                            preactivations: preactivations)
            engine.reducesGradient = false   // one reduction over the world, below
            inner = engine
        }
        workspace = config.mode == .serial ? NetworkWorkspace(shape: network.shape, capacity: share.count) : nil
        planner = PreactivationPlanner(policy: preactivations)
        buffer = .allocate(capacity: network.layout.count + 1)
        buffer.initialize(repeating: 0)
    }

    deinit {
        buffer.deallocate()
        exchange?.deallocate()
    }

    /// The decomposition, for the run summary.
    public var decomposition: Decomposition {
        var d = Decomposition(dataGroups: grid.dataGroups, layerGroups: grid.layerGroups,
                              shares: (0 ..< grid.dataGroups).map { shares.range(of: $0).count })
        d.reduceSecondsPerStep = reduceSteps > 0 ? reduceSeconds / Double(reduceSteps) : nil
        return d
    }

    /// Prepares the group's engine, and makes one reduction over the world so that
    /// MPI's connections are set up before the first timed step.
    public func prepare(trainingExamples: Int) throws {
        try inner.prepare(trainingExamples: trainingExamples)
        if let stores {
            let block = max(stores.forward.points.count, stores.adjoint.points.count) * stores.forward.width
            exchange = .allocate(capacity: max(1, batchSize * block))
            exchange!.initialize(repeating: 0)
        }
        try grid.world.allreduceSum(inPlace: buffer)
    }

    /// The per-example warm starts of a layer-parallel group.
    var stores: (forward: ExampleWarmStart, adjoint: ExampleWarmStart)? {
        guard let p = inner as? ParallelEngine, let f = p.forwardStore, let a = p.adjointStore else { return nil }
        return (f, a)
    }

    public var warmStartBytes: Int { inner.warmStartBytes }
    public var preactivations: PreactivationChoice? { workspace == nil ? inner.preactivations : planner.choice }

    public func compute(gradient: NetworkParameters, data: Dataset, batch: [Int], step: Int) throws -> StepResult {
        precondition(batch.count == batchSize, "the batch groups are built for one batch size")
        if let workspace { return try overlapped(gradient: gradient, data: data, batch: batch, workspace: workspace) }
        var r = try inner.compute(gradient: gradient, data: data, batch: Array(batch[share]), step: step)
        let t0 = now()
        let weight = Double(share.count) / Double(batchSize)
        let n = gradient.layout.count
        gradient.flat.withUnsafeMutableBufferPointer { g in
            for i in 0 ..< n { buffer[i] = g[i] * weight }
        }
        buffer[n] = r.loss * weight
        // The gradient reduction runs while the groups exchange the batch's warm starts.
        var pending = try grid.world.startAllreduceSum(inPlace: buffer).map { [$0] } ?? []
        if let stores, let exchange {
            try stores.forward.share(batch: batch, share: share, over: grid.batches, buffer: exchange)
            let shares = self.shares, mine = Double(share.count)
            try stores.adjoint.share(batch: batch, share: share, over: grid.batches, buffer: exchange) {
                Double(shares.range(of: shares.owner(of: $0)).count) / mine
            }
        }
        try grid.world.waitAll(&pending)
        gradient.flat.withUnsafeMutableBufferPointer { g in
            for i in 0 ..< n { g[i] = buffer[i] }
        }
        r.loss = buffer[n]
        let t = now() - t0
        reduceSeconds += t
        reduceSteps += 1
        r.backwardSeconds += t
        return r
    }

    /// The groups' share-weighted losses summed over the world (one reduction), so every
    /// rank sees the batch's loss at the trial point.
    public func loss(data: Dataset, batch: [Int], step: Int) throws -> TrialLoss {
        precondition(batch.count == batchSize, "the batch groups are built for one batch size")
        let local = Array(batch[share])
        let t0 = now()
        var r: TrialLoss
        if let ws = workspace {
            let net = network
            data.features.withUnsafeBufferPointer { net.load(features: $0, samples: local, batch: local.count, into: ws) }
            try net.forward(ws, keeping: .recompute)
            let l = try data.targets.withUnsafeBufferPointer {
                try net.closingForwardAndLoss(ws, last: ws.state(net.shape.depth), targets: $0, samples: local)
            }
            r = TrialLoss(loss: l, seconds: 0)
        } else {
            r = try inner.loss(data: data, batch: local, step: step)
        }
        r.loss = try grid.world.allreduceSum([r.loss * Double(share.count) / Double(batchSize)])[0]
        r.seconds = now() - t0
        return r
    }

    /// The layer-serial group's step with its reduction in buckets overlapped with the
    /// backward pass (the layer hook runs right after each hidden layer's dWⁿ, dbⁿ).
    func overlapped(gradient: NetworkParameters, data: Dataset, batch: [Int], workspace ws: NetworkWorkspace) throws -> StepResult {
        let net = network, N = net.shape.depth, layout = gradient.layout, world = grid.world
        let local = Array(batch[share])
        let weight = Double(share.count) / Double(batchSize)
        planner.begin(ws)
        let t0 = now()
        data.features.withUnsafeBufferPointer { net.load(features: $0, samples: local, batch: local.count, into: ws) }
        try net.forward(ws)
        let loss = try data.targets.withUnsafeBufferPointer {
            try net.closingForwardAndLoss(ws, last: ws.state(N), targets: $0, samples: local)
        }
        let t1 = now()
        var pending: [CommRequest] = []
        var failure: Error?
        let g = gradient.flat.baseAddress   // the gradient's storage: pinned while `gradient` lives
        // Bucket k holds hidden layers [n, previous n) — the first also the closing layer; the last bucket,
        // the opening layer with the first hidden layers, goes with the loss through `buffer`.
        let per = (N + buckets - 1) / buckets
        var done = layout.count   // values from here on are started
        let hook: LayerPerturbation = { n, _ in
            guard failure == nil else { return }
            do {
                if n > 0 && n % per == 0 {
                    let range = layout.hiddenWeights(n) ..< done
                    for i in range { g[i] *= weight }
                    if let r = try world.startAllreduceSum(inPlace: UnsafeMutableBufferPointer(start: g + range.lowerBound, count: range.count)) {
                        pending.append(r)
                    }
                    done = range.lowerBound
                } else if !pending.isEmpty {
                    _ = try world.testAll(&pending)
                }
            } catch { failure = error }
        }
        try net.backward(ws, gradient: gradient, perturb: hook)
        if let failure { throw failure }
        let t2 = now()
        planner.end()
        for i in 0 ..< done { buffer[i] = g[i] * weight }
        buffer[done] = loss * weight
        try world.allreduceSum(inPlace: UnsafeMutableBufferPointer(rebasing: buffer[0 ... done]))
        for i in 0 ..< done { g[i] = buffer[i] }
        try world.waitAll(&pending)
        let t3 = now()
        reduceSeconds += t3 - t2
        reduceSteps += 1
        return StepResult(loss: buffer[done], forwardSeconds: t1 - t0, backwardSeconds: t3 - t1)
    }

    /// The group's state in the layout and scale of one group solving the whole batch,
    /// so it resumes on any decomposition. The groups' stores hold the same states
    /// (``ExampleWarmStart/share(batch:share:over:buffer:incoming:)``), the adjoints
    /// scaled by the group's `1/B_g` where one group's are by `1/B`: the adjoint part
    /// is rescaled by `B_g/B` on the way out and back on the way in.
    public func exportState() throws -> [Double] {
        var state = try inner.exportState()
        try rescaleAdjoints(&state, by: Double(share.count) / Double(batchSize))
        return state
    }

    public func importState(_ state: [Double]) throws {
        var state = state
        try rescaleAdjoints(&state, by: Double(batchSize) / Double(share.count))
        try inner.importState(state)
    }

    /// Multiplies the adjoint block of a per-example state (forward, adjoint, seen flags).
    func rescaleAdjoints(_ state: inout [Double], by factor: Double) throws {
        guard let stores, !state.isEmpty else { return }
        let block = stores.adjoint.globalCount
        guard state.count == 2 * block + stores.adjoint.examples else {
            throw TrainingError("checkpoint warm-start state has \(state.count) values, per-example warm starts of this network and data need \(2 * block + stores.adjoint.examples)")
        }
        for i in block ..< 2 * block { state[i] *= factor }
    }
}
