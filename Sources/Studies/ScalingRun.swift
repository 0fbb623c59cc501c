import Comm
import Foundation
import Kernels
import MGRIT
import ResNet

/// Time split of one MGRIT level, over a forward plus an adjoint solve, in seconds,
/// read from the solvers' own ``MGRITStatistics`` (the adjoint's gradient sweep is
/// not in any level: see ``ScalingMeasurement/sweepSeconds``).
public struct LevelSplit: Codable {
    public var level: Int
    public var points: Int
    /// Mean over ranks: time on this level outside the communicator (kernels, axpys,
    /// packing), ``MGRITStatistics/computeSecondsPerLevel``.
    public var computeSeconds: Double
    /// Mean over ranks: time posting isend/irecv on this level.
    public var postSeconds: Double
    /// Mean over ranks: time polling receives (testAll) between intervals on this level.
    public var testSeconds: Double?
    /// Mean over ranks: time blocked in waitAll on this level (neighbour not ready yet, or transfer).
    public var waitSeconds: Double
    /// Max over ranks of the time spent on this level (including waits); on one rank
    /// the four parts above add up to it.
    public var maxSeconds: Double
    /// Max over ranks of the problem steps on this level (level 0: with the gradient sweep).
    public var maxSteps: Int
    /// Times the forward and the adjoint cycle entered this level
    /// (``MGRITStatistics/visitsPerLevel``, the same on every rank; nil in older files).
    public var visits: Int? = nil
}

/// One timed configuration on P ranks (written by `layerpar scaling run`).
public struct ScalingMeasurement: Codable {
    public var ranks: Int
    public var depth: Int
    public var width: Int
    public var batch: Int
    /// Stopping rule, hierarchy and adjoint storage of the solves.
    public var setup: ScalingSolverSetup
    /// Ranks bound to cores (`--bind`): each rank's binding as read back from the OS.
    public var bindings: [String]?
    /// Open MPI's shared-memory eager limit in the run (nil: its default, 4096 B).
    public var eagerLimitBytes: Int?
    /// More ranks than cores: times are not meaningful (correctness only).
    public var oversubscribed: Bool
    public var cores: Int
    /// Forward + adjoint solve (with the gradient sweep), slowest rank, each repeat.
    public var secondsPerRepeat: [Double]
    /// Minimum of ``secondsPerRepeat`` (the least disturbed repeat; its split is reported).
    public var seconds: Double
    public var forwardSeconds: Double
    public var adjointSeconds: Double
    public var forwardIterations: Int
    public var adjointIterations: Int
    /// Whether each pass met its tolerance (``MGRITStatistics/converged``: the last
    /// iteration then visits no coarse level); nil in older files.
    public var forwardConverged: Bool? = nil
    public var adjointConverged: Bool? = nil
    /// Per level, of the fastest repeat.
    public var levels: [LevelSplit]
    /// Mean over ranks: residual-norm allreduces of both passes (``MGRITStatistics/reduceSeconds``).
    public var reduceSeconds: Double
    /// Mean over ranks: the adjoint's gradient sweep (``MGRITSolver/sweep()`` after the
    /// adjoint solve, ``MGRITStatistics/sweep``), which is in no level; nil in older files.
    public var sweepSeconds: Double? = nil
    /// Mean over ranks: the part of ``sweepSeconds`` posting, polling and waiting.
    public var sweepCommunicationSeconds: Double? = nil
    /// Max over ranks of (wait seconds, the levels' and the sweep's / solve seconds).
    public var waitFraction: Double
    /// Fused-kernel calls of the forward and the adjoint solve (with the gradient
    /// sweep), summed over ranks, in one repeat.
    public var forwardKernelCalls: Int?
    public var adjointKernelCalls: Int?
    /// Max over ranks of ((post + poll + wait, of the levels and the sweep, + residual
    /// allreduce) seconds / solve seconds).
    public var communicationFraction: Double
    /// Batch × layer grids (``ScalingRun/measureGrid(_:dataGroups:setup:repeats:minimumSeconds:world:)``):
    /// D batch groups of ``ranks``/D ranks (nil: one group, the MGRIT solve alone), the
    /// largest group's share of the batch, and the gradient allreduce over all ranks
    /// that ``seconds`` includes (slowest rank). With one rank per group the group's
    /// passes are layer-serial: no MGRIT iterations or levels, forward and adjoint
    /// seconds are the two passes.
    public var dataGroups: Int? = nil
    public var share: Int? = nil
    public var allreduceSeconds: Double? = nil
}

/// One forward + adjoint MGRIT solve timed on the ranks it runs with, split per level
/// (`layerpar scaling run` writes it; `scaling strong|weak` start that under `mpirun -np P`).
public enum ScalingRun {
    public static func measure(_ c: ScalingCase, setup: ScalingSolverSetup, repeats: Int, minimumSeconds: Double = 0.2,
                        world: any Communicator) throws -> ScalingMeasurement {
        let stack = try c.makeStack()
        let (x0, lN) = c.makeBoundaryData()
        let options = setup.mgritOptions()
        let forward = try ResNetForwardSolver(stack: stack, batch: c.batch, options: options, comm: world,
                                              coarseStep: setup.coarseStep)
        let adjoint = try ResNetAdjointSolver(forward: forward, options: setup.adjointMGRITOptions(), comm: world,
                                              storePreactivations: setup.storePreactivations)
        let gradient = HiddenGradient(like: stack)
        let levelCount = forward.solver.levelCount
        let points = forward.solver.pointsPerLevel

        struct Repeat { var total, fwd, adj: Double; var f, a: MGRITStatistics }
        var kernelCalls = (forward: 0, adjoint: 0)
        var runs: [Repeat] = []
        // Repeat 0 is the warm-up; then at least `repeats`, and until the timed solves add up
        // to `minimumSeconds` on the slowest rank (all ranks take the same decision).
        var rep = 0, total = 0.0
        while try rep <= repeats || (world.allreduceMax(total) < minimumSeconds && rep <= 10_000) {
            defer { rep += 1 }
            gradient.zero()
            try world.barrier()
            let calls = (forward.problem.kernelCalls, adjoint.problem.kernelCalls)
            let t0 = monotonicSeconds()
            let f = try forward.solve(input: x0)
            let t1 = monotonicSeconds()
            let a = try adjoint.solve(terminalAdjoint: forward.output != nil ? lN : nil, gradient: gradient)
            let t2 = monotonicSeconds()
            guard rep > 0 else { continue }
            total += t2 - t0
            kernelCalls = (forward.problem.kernelCalls - calls.0, adjoint.problem.kernelCalls - calls.1)
            runs.append(Repeat(total: t2 - t0, fwd: t1 - t0, adj: t2 - t1, f: f, a: a))
        }
        // Slowest rank per repeat.
        let totals = try world.allreduceMax(runs.map(\.total))
        // The fastest repeat: on a shared machine other load only ever adds time.
        let best = totals.indices.min { totals[$0] < totals[$1] }!
        let r = runs[best]
        let p = Double(world.size)
        // Forward + adjoint, per level.
        func both(_ part: KeyPath<MGRITStatistics, [Double]>) -> [Double] { zip(r.f[keyPath: part], r.a[keyPath: part]).map(+) }
        let compute = both(\.computeSecondsPerLevel), post = both(\.postSecondsPerLevel)
        let poll = both(\.pollSecondsPerLevel), wait = both(\.waitSecondsPerLevel)
        let levelSeconds = both(\.secondsPerLevel)
        let steps = zip(r.f.stepsPerLevel, r.a.stepsPerLevel).map { Double($0 + $1) }
        let visits = zip(r.f.visitsPerLevel, r.a.visitsPerLevel).map(+)
        let sweep = r.a.sweep ?? MGRITSweepStatistics()
        let sweepComm = sweep.postSeconds + sweep.pollSeconds + sweep.waitSeconds
        let reduce = r.f.reduceSeconds + r.a.reduceSeconds
        // Per level: [compute, post, poll, wait] summed over ranks, then the rest.
        var local: [Double] = []
        for l in 0 ..< levelCount { local += [compute[l], post[l], poll[l], wait[l]] }
        local += [reduce, Double(kernelCalls.forward), Double(kernelCalls.adjoint), sweep.seconds, sweepComm]
        let sums = try world.allreduceSum(local)
        let waitAll = wait.reduce(0, +) + sweep.waitSeconds
        let commAll = waitAll + post.reduce(0, +) + poll.reduce(0, +) + sweep.postSeconds + sweep.pollSeconds + reduce
        let maxima = try world.allreduceMax(levelSeconds + steps + [waitAll / r.total, commAll / r.total, r.fwd, r.adj])
        let levels = (0 ..< levelCount).map { l in
            LevelSplit(level: l, points: points[l], computeSeconds: sums[4 * l] / p, postSeconds: sums[4 * l + 1] / p,
                       testSeconds: sums[4 * l + 2] / p, waitSeconds: sums[4 * l + 3] / p,
                       maxSeconds: maxima[l], maxSteps: Int(maxima[levelCount + l]), visits: visits[l])
        }
        let k = 2 * levelCount, n = 4 * levelCount
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return ScalingMeasurement(ranks: world.size, depth: c.depth, width: c.width, batch: c.batch, setup: setup, bindings: nil,
                                  eagerLimitBytes: nil,
                                  oversubscribed: world.size > cores, cores: cores,
                                  secondsPerRepeat: totals, seconds: totals[best],
                                  forwardSeconds: maxima[k + 2], adjointSeconds: maxima[k + 3],
                                  forwardIterations: r.f.iterations, adjointIterations: r.a.iterations,
                                  forwardConverged: r.f.converged, adjointConverged: r.a.converged, levels: levels,
                                  reduceSeconds: sums[n] / p,
                                  sweepSeconds: sums[n + 3] / p, sweepCommunicationSeconds: sums[n + 4] / p,
                                  waitFraction: maxima[k],
                                  forwardKernelCalls: Int(sums[n + 1]),
                                  adjointKernelCalls: Int(sums[n + 2]),
                                  communicationFraction: maxima[k + 1])
    }
}

extension ScalingRun {
    /// One step's gradient on a grid of `dataGroups` batch groups × L = P/D layer groups
    /// (``ProcessGrid``), the way `train --data-groups` computes it: each group takes its
    /// share of the batch (``BlockDistribution``) and computes the hidden stack's
    /// gradient — layer-serial (L = 1, timed as ``timeLayerSerial(_:repeats:minimumSeconds:)``)
    /// or by the forward and adjoint MGRIT solves on its L ranks
    /// (``measure(_:setup:repeats:minimumSeconds:world:)`` on the group's communicator,
    /// all groups at once) — then one in-place allreduce of the hidden gradient over all
    /// P ranks. L = 1: the pass and the allreduce are timed together, repeat by repeat
    /// (slowest rank, fastest repeat); L > 1: the allreduce is timed on its own after the
    /// solves and added (no overlap, as in training). D = 1 is ``measure(_:setup:repeats:minimumSeconds:world:)``.
    public static func measureGrid(_ c: ScalingCase, dataGroups: Int, setup: ScalingSolverSetup, repeats: Int,
                                   minimumSeconds: Double = 0.2, world: any Communicator) throws -> ScalingMeasurement {
        guard dataGroups > 1 else { return try measure(c, setup: setup, repeats: repeats, minimumSeconds: minimumSeconds, world: world) }
        guard dataGroups <= c.batch else {
            throw StudyError("--data-groups \(dataGroups) exceeds --batch \(c.batch): a batch group would get no examples")
        }
        let grid = try ProcessGrid(world: world, dataGroups: dataGroups)
        defer { try? grid.free() }
        let shares = try BlockDistribution(count: c.batch, parts: dataGroups)
        var mine = c
        mine.batch = shares.range(of: grid.batchGroup).count
        // A layer-serial group needs the passes' buffers; an MGRIT group only the gradient to reduce.
        let pass = grid.layerGroups == 1 ? try LayerSerialPass(mine) : nil
        let gradient = try pass?.gradient ?? HiddenGradient(like: mine.makeStack())
        func allreduce() throws {
            try gradient.flat.withUnsafeMutableBufferPointer { try world.allreduceSum(inPlace: $0) }
        }
        var m: ScalingMeasurement
        if let pass {
            // Each rank stores the pre-activations, their masks, or recomputes them, whichever is
            // fastest at its share (as `train --preactivations auto`), decided by timing each alone first.
            let keeping = try timeLayerSerialChoosing(mine, repeats: 3, minimumSeconds: 0.02).keeping
            var runs: [[Double]] = []   // forward, backward, allreduce per repeat
            var rep = 0, total = 0.0
            while try rep <= repeats || (world.allreduceMax(total) < minimumSeconds && rep <= 10_000) {
                defer { rep += 1 }
                try world.barrier()
                let t0 = monotonicSeconds()
                let (f, b) = try pass.run(keeping: keeping)
                let t1 = monotonicSeconds()
                try allreduce()
                let t2 = monotonicSeconds()
                guard rep > 0 else { continue }
                total += t2 - t0
                runs.append([f, b, t2 - t1])
            }
            let totals = try world.allreduceMax(runs.map { $0.reduce(0, +) })
            let best = totals.indices.min { totals[$0] < totals[$1] }!
            let split = try world.allreduceMax(runs[best])
            let cores = ProcessInfo.processInfo.activeProcessorCount
            m = ScalingMeasurement(ranks: world.size, depth: c.depth, width: c.width, batch: c.batch, setup: setup, bindings: nil,
                                   eagerLimitBytes: nil, oversubscribed: world.size > cores, cores: cores,
                                   secondsPerRepeat: totals, seconds: totals[best], forwardSeconds: split[0], adjointSeconds: split[1],
                                   forwardIterations: 0, adjointIterations: 0, levels: [], reduceSeconds: 0,
                                   waitFraction: 0, communicationFraction: split[2] / totals[best])
            m.allreduceSeconds = split[2]
        } else {
            m = try measure(mine, setup: setup, repeats: repeats, minimumSeconds: minimumSeconds, world: grid.layers)
            let slowest = try world.allreduceMax([m.seconds, m.forwardSeconds, m.adjointSeconds])
            // The groups may have run different numbers of repeats: from here on, the same calls on every rank.
            var reduce = Double.infinity
            for rep in 0 ... repeats {
                try world.barrier()
                let t0 = monotonicSeconds()
                try allreduce()
                let t = try world.allreduceMax([monotonicSeconds() - t0])[0]
                if rep > 0 { reduce = min(reduce, t) }
            }
            let cores = ProcessInfo.processInfo.activeProcessorCount
            m.ranks = world.size
            m.batch = c.batch
            m.oversubscribed = world.size > cores
            m.seconds = slowest[0] + reduce
            m.secondsPerRepeat = m.secondsPerRepeat.map { $0 + reduce }   // this group's slowest rank
            m.forwardSeconds = slowest[1]
            m.adjointSeconds = slowest[2]
            m.allreduceSeconds = reduce
        }
        m.dataGroups = dataGroups
        m.share = shares.range(of: 0).count
        return m
    }
}

/// The layer-serial forward and backward passes of a case in buffers allocated once
/// (as the training loop's workspace is): states, pre-activations, two alternating
/// adjoint buffers and the pair a recomputing backward pass writes zⁿ into.
/// `keeping`: the forward pass keeps each zⁿ or its ReLU mask for the backward pass,
/// or the backward pass recomputes it (see ``NetworkWorkspace/preactivationStorage``;
/// the same bits).
public final class LayerSerialPass {
    public let stack: HiddenStack
    public let gradient: HiddenGradient
    let terminal: Matrix<Double>
    let states: [Matrix<Double>]
    let preactivations: [Matrix<Double>]
    let masks: [ReLUMask]
    let lambda: (Matrix<Double>, Matrix<Double>)
    let scratch: (z: Matrix<Double>, y: Matrix<Double>)

    public init(_ c: ScalingCase) throws {
        stack = try c.makeStack()
        gradient = HiddenGradient(like: stack)
        let (x0, lN) = c.makeBoundaryData()
        terminal = lN
        func m() -> Matrix<Double> { Matrix(rows: c.width, cols: c.batch) }
        states = [x0] + (0 ..< c.depth).map { _ in m() }
        preactivations = (0 ..< c.depth).map { _ in m() }
        masks = (0 ..< c.depth).map { _ in ReLUMask(rows: c.width, cols: c.batch) }
        lambda = (m(), m())
        scratch = (m(), m())
    }

    /// One forward and one backward pass (gradient overwritten); returns their seconds.
    @discardableResult
    public func run(keeping: PreactivationStorage) throws -> (forward: Double, backward: Double) {
        let N = stack.depth, (a, b) = lambda
        let zs = keeping == .store ? preactivations : nil, ms = keeping == .mask ? masks : nil
        let t0 = monotonicSeconds()
        try LayerSerial.forward(stack, states: states, preactivations: zs, masks: ms)
        let t1 = monotonicSeconds()
        gradient.zero()
        try a.copy(from: terminal)   // λᴺ in `a`, then alternating
        try LayerSerial.backward(stack, states: states, preactivations: zs, masks: ms,
                                 scratch: keeping == .recompute ? scratch : nil, gradient: gradient,
                                 adjoint: { (N - $0) % 2 == 0 ? a : b })
        return (t1 - t0, monotonicSeconds() - t1)
    }
}

/// The layer-serial baseline: ``LayerSerialPass`` (one fused kernel call per layer
/// and pass, buffers allocated once), the fastest of storing the pre-activations,
/// their masks, and recomputing them — the fastest serial loop there is, as the training loop's
/// `--preactivations auto` picks. Fastest of at least `repeats` after one warm-up
/// (each), repeated until the timed passes add up to `minimumSeconds` too (a pass of
/// a shallow network takes microseconds: a few repeats would catch the clock ramping up).
public func timeLayerSerial(_ c: ScalingCase, repeats: Int, minimumSeconds: Double = 0.2) throws -> Double {
    try timeLayerSerialChoosing(c, repeats: repeats, minimumSeconds: minimumSeconds).seconds
}

/// ``timeLayerSerial(_:repeats:minimumSeconds:)`` and which way of keeping the pre-activations won.
public func timeLayerSerialChoosing(_ c: ScalingCase, repeats: Int, minimumSeconds: Double = 0.2)
    throws -> (seconds: Double, keeping: PreactivationStorage) {
    let pass = try LayerSerialPass(c)
    var best = (seconds: Double.infinity, keeping: PreactivationStorage.store)
    for keeping in [PreactivationStorage.store, .mask, .recompute] {
        let t = try fastestSeconds(atLeast: repeats, minimumSeconds: minimumSeconds / 3) { try pass.run(keeping: keeping) }
        if t < best.seconds { best = (t, keeping) }
    }
    return best
}

/// The fastest of `body`'s timed calls after one untimed warm-up call: at least
/// `repeats` of them, and more until they add up to `minimumSeconds` (capped at
/// 100 000 calls). On a shared machine other load only ever adds time.
public func fastestSeconds(atLeast repeats: Int, minimumSeconds: Double, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var best = Double.infinity, total = 0.0, n = 0
    while n < repeats || (total < minimumSeconds && n < 100_000) {
        let t0 = monotonicSeconds()
        try body()
        let t = monotonicSeconds() - t0
        best = min(best, t); total += t; n += 1
    }
    return best
}
