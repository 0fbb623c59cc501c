import Comm
import Foundation
import MGRIT
import Reports
import Studies

/// A performance model of one forward + adjoint MGRIT solve on P ranks.
///
/// Calibration (one rank, this machine): a one-rank solve of the same case gives
/// the iterations (which do not depend on P: the solver is bitwise rank-count
/// invariant) and, per level `l`, the compute time `C_l` of all its steps; the
/// remainder `R` (gradient sweep, bookkeeping) is spread over the ranks.
///
/// On P ranks every level's work divides by the largest share of that level's
/// points one rank owns (block distribution, as the solver does) — but by no
/// more than one interval's share `m/n_l`, because an F-relaxation runs the
/// `m−1` F-points of an interval in order even when they lie on several ranks —
/// except the coarsest level, which is solved by a sequential relay:
///
///     T(P) = Σ_{l<L} C_l·max(f_l(P), m/n_l) + C_L + R/P
///          + Σ_{l≥1} V_l·(4·k_l·τ)  + V_L·(P_L − 1)·τ  + I·⌈log₂P⌉·(α + 8·n₁/β_bw)
///
/// with `f_l(P)` the largest owned fraction of level l, `τ = α + 8wB/β_bw` one
/// boundary-state message (read off the measured ping-pong table when there is
/// one), `V_l` the visits of level l in both passes, `k_l = 1` if more than one
/// rank owns points of level l, 4 message rounds per visit (three F-relaxations
/// and the FAS right-hand side), `P_L` the ranks owning coarsest points, and one
/// allreduce of the `n₁` C-point residuals per residual check (`I` of them).
/// Level 0 has 2 rounds per iteration plus one per coarse correction (1 plus one
/// with F-relaxation on the fine level, `--fine-relax F`). The serial
/// pass is measured. All compute terms are multiplied by the machine's clock
/// ratio and, with cache scaling, by ``computeScale(ranks:)``.
///
/// Nothing of the solver's structure is re-derived here: the levels, their points
/// and coarsening factors are ``MGRITHierarchy``'s, the owned points those of
/// ``MGRITHierarchy/ownedPoints(level:partition:)`` under
/// ``TimePartition/block(stepCount:size:)``, the visits `V_l`
/// ``MGRITOptions/plannedVisits(levelCount:iterations:converged:warmStart:)`` of each pass
/// (the skipped first down-cycle and a converged last iteration included) and the
/// residual checks ``MGRITOptions/plannedResidualChecks(levelCount:iterations:warmStart:)``.
/// Both passes are priced on the forward partition (the adjoint's reversed one
/// owns the same number of fine points per rank).
public struct MGRITCostModel: Codable {
    public init(depth: Int, width: Int, batch: Int, cfactor: Int, setup: ScalingSolverSetup, points: [Int], levelSeconds: [Double], remainderSeconds: Double, forwardIterations: Int, adjointIterations: Int, forwardConverged: Bool? = nil, adjointConverged: Bool? = nil, serialSeconds: Double, kernelOnlySeconds: Double? = nil, serialKernelOnlySeconds: Double, serialPerLayerByDepth: [DepthTime] = []) {
        self.depth = depth
        self.width = width
        self.batch = batch
        self.cfactor = cfactor
        self.setup = setup
        self.points = points
        self.levelSeconds = levelSeconds
        self.remainderSeconds = remainderSeconds
        self.forwardIterations = forwardIterations
        self.adjointIterations = adjointIterations
        self.forwardConverged = forwardConverged
        self.adjointConverged = adjointConverged
        self.serialSeconds = serialSeconds
        self.kernelOnlySeconds = kernelOnlySeconds
        self.serialKernelOnlySeconds = serialKernelOnlySeconds
        self.serialPerLayerByDepth = serialPerLayerByDepth
    }

    public var depth: Int
    public var width: Int
    public var batch: Int
    /// The coarsening factor of ``setup`` (recorded; the model reads every level's
    /// factor from ``hierarchy()``).
    public var cfactor: Int
    /// How the calibration solved (stopping rule, hierarchy, adjoint storage).
    public var setup: ScalingSolverSetup
    /// Points per level of the calibrated solve (recorded; equal to ``hierarchy()``'s).
    public var points: [Int]
    /// Compute seconds per level, forward + adjoint, one rank.
    public var levelSeconds: [Double]
    public var remainderSeconds: Double
    public var forwardIterations: Int
    public var adjointIterations: Int
    /// Whether each calibration pass met its tolerance (its last iteration then
    /// visits no coarse level). nil in files written before it was recorded: then
    /// taken as "stopped before the iteration limit" (``passConverged``).
    public var forwardConverged: Bool? = nil
    public var adjointConverged: Bool? = nil
    public var serialSeconds: Double
    /// The same solve and passes priced from the kernel timings alone (kernel calls ×
    /// seconds per call); nil where the count cannot be priced that way (a coarse step
    /// other than the paper's, or an adjoint that recomputes z).
    public var kernelOnlySeconds: Double?
    public var serialKernelOnlySeconds: Double
    /// Layer-serial seconds per layer at depth `depth / 2ᵏ` (k = 0, 1, …): how the cost
    /// of a step falls as a rank's share of the layers comes to fit in its caches.
    /// Empty: no cache scaling.
    public var serialPerLayerByDepth: [DepthTime] = []
    public struct DepthTime: Codable {
        public var depth: Int
        public var secondsPerLayer: Double
        public init(depth: Int, secondsPerLayer: Double) { self.depth = depth; self.secondsPerLayer = secondsPerLayer }
    }

    /// The calibrated one-rank solve: all levels plus the remainder.
    public var oneRankSeconds: Double { levelSeconds.reduce(0, +) + remainderSeconds }

    /// Compute on `p` ranks costs this factor of the one-rank calibration per step:
    /// the layer-serial time per layer at the per-rank depth `depth/p` (rounded up to
    /// the nearest measured depth) over that at the full depth. 1 without the table.
    public func computeScale(ranks p: Int) -> Double {
        guard let full = serialPerLayerByDepth.first(where: { $0.depth == depth })?.secondsPerLayer, full > 0 else { return 1 }
        let share = (depth + p - 1) / p
        guard let t = serialPerLayerByDepth.filter({ $0.depth >= share }).min(by: { $0.depth < $1.depth }) else { return 1 }
        return t.secondsPerLayer / full
    }

    /// The solver's hierarchy for ``depth`` and ``setup`` (what the calibration ran).
    public func hierarchy() throws -> MGRITHierarchy {
        try MGRITHierarchy(stepCount: depth, options: setup.mgritOptions())
    }

    /// A pass of `iterations` iterations converged: as recorded, or for older
    /// calibrations, with a tolerance and fewer iterations than allowed.
    func passConverged(_ recorded: Bool?, iterations: Int) -> Bool {
        recorded ?? (setup.fixedIterations == nil && iterations < setup.maxIterations)
    }

    /// Visits of each level in the calibrated forward plus adjoint solve, as the
    /// solvers' ``MGRITStatistics/visitsPerLevel`` report them (the same on any P).
    public func visitsPerLevel() throws -> [Int] {
        let options = setup.mgritOptions(), n = try hierarchy().levelCount
        let f = options.plannedVisits(levelCount: n, iterations: forwardIterations,
                                      converged: passConverged(forwardConverged, iterations: forwardIterations))
        let a = setup.adjointMGRITOptions().plannedVisits(levelCount: n, iterations: adjointIterations,
                                      converged: passConverged(adjointConverged, iterations: adjointIterations))
        return zip(f, a).map(+)
    }

    /// Residual-norm allreduces of the calibrated forward plus adjoint solve on more than one rank.
    public func residualChecks() throws -> Int {
        let n = try hierarchy().levelCount
        return setup.mgritOptions().plannedResidualChecks(levelCount: n, iterations: forwardIterations)
            + setup.adjointMGRITOptions().plannedResidualChecks(levelCount: n, iterations: adjointIterations)
    }

    /// Largest number of level `l`'s points that one of `p` ranks owns under the
    /// solver's block distribution, and how many ranks own any.
    public func largestShare(of hierarchy: MGRITHierarchy, level l: Int, ranks p: Int) throws -> (points: Int, owners: Int) {
        let owned = hierarchy.ownedPoints(level: l, partition: try TimePartition.block(stepCount: depth, size: p))
        return (owned.map(\.count).max() ?? 0, owned.filter { !$0.isEmpty }.count)
    }

    /// Predicted seconds on `p` ranks of `machine` (its message times; compute
    /// times scaled by its `timeScale`).
    public func predict(ranks p: Int, on machine: ModelMachine) throws -> Double {
        let h = try hierarchy()
        let n = h.pointsPerLevel, L = h.levelCount - 1
        let timeScale = machine.timeScale * computeScale(ranks: p)
        let tau = machine.messageSeconds(bytes: 8 * width * batch)
        let visits = try visitsPerLevel()
        var t = remainderSeconds * timeScale / Double(p)
        for l in 0 ... L {
            let (share, owners) = try largestShare(of: h, level: l, ranks: p)
            if l == L {   // coarsest (with one level, the whole solve): a sequential relay
                t += levelSeconds[l] * timeScale
                t += Double(visits[l]) * Double(max(owners - 1, 0)) * tau
            } else {
                let f = Double(share) / Double(n[l])
                let oneInterval = p > 1 ? min(1, Double(h.factor(level: l)) / Double(n[l])) : 1
                t += levelSeconds[l] * timeScale * max(f, oneInterval)
                let rounds = l == 0 ? (setup.fineRelaxation == .F ? 2.0 : 3.0) : 4.0
                if owners > 1 { t += Double(visits[l]) * rounds * tau }
            }
        }
        if p > 1 {
            let n1 = Double(n.count > 1 ? n[1] : 1)
            t += Double(try residualChecks()) * ceil(log2(Double(p))) * machine.messageSeconds(bytes: 8 * Int(n1))
        }
        return t
    }
}

/// A set of machine parameters for the model.
public struct ModelMachine: Codable {
    public init(name: String, latencySeconds: Double, bandwidthBytesPerSecond: Double, timeScale: Double, source: String,
                pingPong: [PingPongRow]? = nil, gradientCollectives: [GradientCollectiveRow]? = nil) {
        self.gradientCollectives = gradientCollectives
        self.name = name
        self.latencySeconds = latencySeconds
        self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
        self.timeScale = timeScale
        self.source = source
        self.pingPong = pingPong
    }

    public var name: String
    public var latencySeconds: Double
    public var bandwidthBytesPerSecond: Double
    /// Multiplies this machine's measured compute times (clock ratio).
    public var timeScale: Double
    public var source: String
    /// Measured one-way times by message size (ping-pong), sorted by size; within
    /// its range a message's time is read off it (linear between sizes) instead of the fit.
    public var pingPong: [PingPongRow]? = nil
    /// In-place allreduces of gradient-sized vectors timed on 2 ranks of this machine
    /// (`comm-selftest --gradient-doubles`): ``DataParallelModel/allreduceSeconds(doubles:ranks:on:)``
    /// takes a length's measured median from here on 2 ranks instead of the formula.
    public var gradientCollectives: [GradientCollectiveRow]? = nil

    /// One-way time of a `bytes`-byte message.
    public func messageSeconds(bytes: Int) -> Double {
        if let t = pingPong, let first = t.first, let last = t.last,
           bytes >= first.bytes, bytes <= last.bytes {
            for (a, b) in zip(t, t.dropFirst()) where bytes <= b.bytes {
                if b.bytes == a.bytes { return b.oneWaySeconds }
                let x = Double(bytes - a.bytes) / Double(b.bytes - a.bytes)
                return a.oneWaySeconds + x * (b.oneWaySeconds - a.oneWaySeconds)
            }
            return last.oneWaySeconds
        }
        return latencySeconds + Double(bytes) / bandwidthBytesPerSecond
    }
}

public struct ModelCurve: Codable {
    public init(machine: String, kind: String, depth: Int, ranks: [Int], seconds: [Double], serialSeconds: Double, speedup: [Double], breakEvenRanks: Int? = nil) {
        self.machine = machine
        self.kind = kind
        self.depth = depth
        self.ranks = ranks
        self.seconds = seconds
        self.serialSeconds = serialSeconds
        self.speedup = speedup
        self.breakEvenRanks = breakEvenRanks
    }

    public var machine: String
    public var kind: String
    public var depth: Int
    public var ranks: [Int]
    public var seconds: [Double]
    public var serialSeconds: Double
    public var speedup: [Double]
    /// Smallest P with predicted speed-up ≥ 1 (nil: none in range).
    public var breakEvenRanks: Int?
    /// Smallest P whose speed-up per step pays for the extra optimiser steps to the
    /// reference loss (S(P) ≥ ``ScalingModelRequest/stepsRatio``; nil: none in range or not asked).
    public var breakEvenToReferenceRanks: Int? = nil
}

public struct ModelCheck: Codable {
    public init(depth: Int, ranks: Int, measuredSeconds: Double, predictedSeconds: Double, relativeError: Double) {
        self.depth = depth
        self.ranks = ranks
        self.measuredSeconds = measuredSeconds
        self.predictedSeconds = predictedSeconds
        self.relativeError = relativeError
    }

    public var depth: Int
    public var ranks: Int
    public var measuredSeconds: Double
    public var predictedSeconds: Double
    public var relativeError: Double
}

public struct ScalingModelOutput: Codable {
    public init(width: Int, batch: Int, setup: ScalingSolverSetup, kernelTimes: KernelStepTimes, machines: [ModelMachine], calibrations: [MGRITCostModel], curves: [ModelCurve], checks: [ModelCheck], notes: [String]) {
        self.width = width
        self.batch = batch
        self.setup = setup
        self.kernelTimes = kernelTimes
        self.machines = machines
        self.calibrations = calibrations
        self.curves = curves
        self.checks = checks
        self.notes = notes
    }

    public var command = "layerpar scaling model"
    public var version = LayerParallel.version
    public var width: Int
    public var batch: Int
    public var setup: ScalingSolverSetup
    /// Seconds per fused-kernel call at width × batch (this machine).
    public var kernelTimes: KernelStepTimes
    public var machines: [ModelMachine]
    public var calibrations: [MGRITCostModel]
    public var curves: [ModelCurve]
    public var checks: [ModelCheck]
    public var notes: [String]
}
