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

    public init(dataGroups: Int, layerGroups: Int, shares: [Int]) {
        self.dataGroups = dataGroups
        self.layerGroups = layerGroups
        self.shares = shares
    }
}

/// The gradient engine of a ``ProcessGrid``: plain when there is one batch group
/// (D = 1: today's layer-serial or layer-parallel engine on all ranks), else a
/// ``DataParallelEngine`` whose groups run the mode's engine on their share.
public func makeGradientEngine(config: TrainingConfiguration, network: Network, grid: ProcessGrid) throws -> any GradientEngine {
    if grid.dataGroups == 1 { return try makeGradientEngine(config: config, network: network, comm: grid.world) }
    return try DataParallelEngine(config: config, network: network, grid: grid)
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
    /// Seconds spent in the gradient reduction so far (this rank).
    public private(set) var reduceSeconds = 0.0

    public init(config: TrainingConfiguration, network: Network, grid: ProcessGrid) throws {
        let D = grid.dataGroups, B = config.batchSize
        guard B >= D else {
            throw TrainingError("--batch-size \(B) cannot be split over --data-groups \(D): batch group \(B) would get no examples (give a batch of at least D)")
        }
        guard config.noiseForward == 0 && config.noiseBackward == 0 else {
            throw TrainingError("--noise-forward/--noise-backward draw noise for the whole batch on one rank: run them without --data-groups")
        }
        guard config.mode == .parallel || grid.layerGroups == 1 else {
            throw TrainingError("--mode serial runs each batch group's layers on one rank: --data-groups must be the rank count \(grid.world.size), got \(D)")
        }
        self.grid = grid
        batchSize = B
        shares = try BlockDistribution(count: B, parts: D)
        share = shares.range(of: grid.batchGroup)
        switch config.mode {
        case .serial:
            inner = SerialEngine(network: network, batchSize: share.count, seed: config.seed)
        case .parallel:
            guard config.warmStartPolicy != .previous else {
                throw TrainingError("--warm-start previous starts from the last batch's states, which no batch group holds whole: use --warm-start example or none with --data-groups")
            }
            let engine = try ParallelEngine(network: network, batchSize: share.count, config: config, comm: grid.layers)
            engine.reducesGradient = false   // one reduction over the world, below
            inner = engine
        }
        buffer = .allocate(capacity: network.layout.count + 1)
        buffer.initialize(repeating: 0)
    }

    deinit {
        buffer.deallocate()
        exchange?.deallocate()
    }

    /// The decomposition, for the run summary.
    public var decomposition: Decomposition {
        Decomposition(dataGroups: grid.dataGroups, layerGroups: grid.layerGroups,
                      shares: (0 ..< grid.dataGroups).map { shares.range(of: $0).count })
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

    public func compute(gradient: NetworkParameters, data: Dataset, batch: [Int], step: Int) throws -> StepResult {
        precondition(batch.count == batchSize, "the batch groups are built for one batch size")
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
        r.backwardSeconds += t
        return r
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
