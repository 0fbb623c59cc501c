import Foundation
import Studies
import Training

/// The time of one training step (forward + backward of the hidden stack, the
/// gradient reduction and the optimiser update) on a grid of D batch groups × L layer
/// groups, P = D·L ranks, for a mini-batch of B examples — the model behind
/// `layerpar scaling advise`.
///
///     T(D, L) = T_group(L, b) + T_reduce(P, n) + T_update(n),   b = ⌈B/D⌉ (the largest share)
///
/// `T_group(1, b)` is the layer-serial forward + backward passes at batch `b`,
/// measured here: on this machine with D > 1, as min(D, cores) synchronised copies
/// sharing its cores (``timeLayerSerialConcurrently(_:copies:repeats:minimumSeconds:)``,
/// the median step: the ranks' contention for cache and memory bandwidth and each
/// step's wait for the slowest are measured, not assumed away); otherwise one pass
/// alone, the fastest of its repeats, times the machine's `timeScale`.
/// `T_group(L > 1, b)` is ``MGRITCostModel``'s prediction for L ranks, calibrated at
/// batch `b` (so both the work per layer and the boundary messages shrink with the share).
/// With D > 1 the reduction sums the `n` parameters' gradient over all P ranks
/// (data-parallel groups, and the layer ranks of a layer-parallel group, which each
/// hold part of it): on 2 ranks of this machine the median of that in-place allreduce
/// as measured (``ModelMachine/gradientCollectives``), else priced as a ring allreduce
/// on the machine's message model, `2⌈log₂P⌉·α + 2·(P−1)/P·8n/β`; with D = 1 (pure
/// layer-parallel) each rank's block is gathered to the others as training does
/// (`⌈log₂P⌉·α + (P−1)/P·8n/β`). No overlap with the backward pass is assumed (training's
/// default: one reduction after it). `T_update(n)` is Adam's update of all `n` parameters,
/// which every rank applies to its full copy (timed here, the fastest of repeats, times
/// `timeScale`); the one-rank baseline ``GridAdvice/serialSeconds`` includes it too.
/// Left out: the opening and closing layers, the loss and the batch's gathering (a few µs
/// at width 16). Iterations of MGRIT do not depend on L or b beyond what the
/// calibration at `b` measured.
public struct GridPrediction: Codable, Sendable {
    public var dataGroups: Int
    public var layerGroups: Int
    /// Largest share of the batch (examples).
    public var share: Int
    public var computeSeconds: Double
    /// The gradient's reduction (allgather with D = 1, allreduce otherwise).
    public var gradientSeconds: Double
    /// The optimiser's update of every parameter (on every rank).
    public var updateSeconds: Double
    public var seconds: Double { computeSeconds + gradientSeconds + updateSeconds }
}

public struct GridAdvice: Codable, Sendable {
    public var machine: String
    public var depth: Int
    public var width: Int
    public var batch: Int
    public var ranks: Int
    public var parameters: Int
    /// Layer-serial step on one rank at the full batch, passes and update (the baseline).
    public var serialSeconds: Double
    /// Every (D, L) with D·L = P and a share ≥ 1, in order of D.
    public var grids: [GridPrediction]
    /// The fastest of ``grids``.
    public var best: GridPrediction { grids.min { $0.seconds < $1.seconds }! }
    /// Pure data parallelism (D = P), if the batch allows it.
    public var pureData: GridPrediction? { grids.first { $0.layerGroups == 1 } }
}

public enum DataParallelModel {
    /// The allreduce of `doubles` values over `ranks` ranks on `machine` (ring / recursive halving).
    /// On 2 ranks, a length `machine` has measured (``ModelMachine/gradientCollectives``) is its median.
    public static func allreduceSeconds(doubles: Int, ranks p: Int, on machine: ModelMachine) -> Double {
        guard p > 1 else { return 0 }
        if p == 2, let row = machine.gradientCollectives?.first(where: { $0.doubles == doubles }) { return row.allreduceSeconds }
        let bytes = 8.0 * Double(doubles)
        return 2 * ceil(log2(Double(p))) * machine.latencySeconds + 2 * Double(p - 1) / Double(p) * bytes / machine.bandwidthBytesPerSecond
    }

    /// The in-place allgather of `doubles` values spread over `ranks` ranks (recursive
    /// doubling / ring): every value crosses to the other ranks once.
    public static func allgatherSeconds(doubles: Int, ranks p: Int, on machine: ModelMachine) -> Double {
        guard p > 1 else { return 0 }
        let bytes = 8.0 * Double(doubles)
        return ceil(log2(Double(p))) * machine.latencySeconds + Double(p - 1) / Double(p) * bytes / machine.bandwidthBytesPerSecond
    }

    /// Parameters of the paper's network: opening 6 → w, `depth` hidden w × w layers, closing w → 1.
    public static func parameterCount(depth: Int, width w: Int, inputs: Int = 6, outputs: Int = 1) -> Int {
        w * inputs + w + depth * (w * w + w) + outputs * w + outputs
    }

    /// Calibrations by batch share, made once and reused across machines and rank counts.
    public final class Calibrations {
        let width: Int
        let setup: ScalingSolverSetup
        let kernels: KernelStepTimes
        var mgrit: [[Int]: MGRITCostModel] = [:]
        var updates: [Int: Double] = [:]
        let serial: SerialStepTimes
        public init(width: Int, setup: ScalingSolverSetup) throws {
            self.width = width
            self.setup = setup
            serial = SerialStepTimes(width: width)
            kernels = try KernelStepTimes.measure(width: width, batch: 64)
        }
        func serialSeconds(depth: Int, batch: Int) throws -> Double { try serial.seconds(depth: depth, batch: batch) }
        func concurrentSeconds(depth: Int, batch: Int, copies: Int) throws -> Double {
            copies > 1 ? try serial.concurrentSeconds(depth: depth, batch: batch, copies: copies) : try serialSeconds(depth: depth, batch: batch)
        }
        /// Adam's update of `n` parameters (as `train` applies it), the fastest of its repeats.
        func updateSeconds(parameters n: Int) -> Double {
            if let t = updates[n] { return t }
            var p = [Double](repeating: 1e-3, count: n)
            let g = [Double](repeating: 1e-4, count: n)
            let settings = OptimizerSettings(kind: .adam, learningRate: 1e-3)
            var state = OptimizerState(count: n, settings: settings)
            let t = fastestSeconds(atLeast: 21, minimumSeconds: 0.05) { state.update(&p, gradient: g, settings: settings) }
            updates[n] = t
            return t
        }
        func model(depth: Int, batch: Int) throws -> MGRITCostModel {
            if let m = mgrit[[depth, batch]] { return m }
            let m = try ScalingModelStudy.calibrate(depth: depth, width: width, batch: batch, setup: setup, kernels: kernels,
                                                    cacheScaling: false, maxRanks: 1)
            mgrit[[depth, batch]] = m
            return m
        }
    }

    /// The gradient reduction's length for `depth` (the parameters and the loss, as training sums them).
    public static func reducedLength(depth: Int, width: Int) -> Int { parameterCount(depth: depth, width: width) + 1 }

    /// Predictions for every grid of `ranks` ranks. `sharedCores`: the cores of this
    /// machine that layer-serial groups share when `machine` is this machine (their
    /// passes are timed as min(D, sharedCores) concurrent copies); 1 for another machine.
    public static func advise(depth: Int, batch: Int, ranks: Int, on machine: ModelMachine, sharedCores: Int = 1,
                              calibrations c: Calibrations) throws -> GridAdvice {
        let n = parameterCount(depth: depth, width: c.width)
        let update = c.updateSeconds(parameters: n) * machine.timeScale
        var grids: [GridPrediction] = []
        for d in 1 ... ranks where ranks % d == 0 && d <= batch {
            let l = ranks / d, b = (batch + d - 1) / d
            let compute = l == 1 ? try c.concurrentSeconds(depth: depth, batch: b, copies: min(d, max(1, sharedCores))) * machine.timeScale
                                 : try c.model(depth: depth, batch: b).predict(ranks: l, on: machine)
            grids.append(GridPrediction(dataGroups: d, layerGroups: l, share: b, computeSeconds: compute,
                                        gradientSeconds: d == 1 ? allgatherSeconds(doubles: n, ranks: ranks, on: machine)
                                                                 : allreduceSeconds(doubles: reducedLength(depth: depth, width: c.width),
                                                                                    ranks: ranks, on: machine),
                                        updateSeconds: update))
        }
        guard !grids.isEmpty else { throw StudyError("no grid of \(ranks) ranks fits depth \(depth), batch \(batch)") }
        return GridAdvice(machine: machine.name, depth: depth, width: c.width, batch: batch, ranks: ranks, parameters: n,
                          serialSeconds: try c.serialSeconds(depth: depth, batch: batch) * machine.timeScale + update, grids: grids)
    }

    /// Per rank count, where the best grid stops being pure data parallelism: the
    /// (depth, batch) cases in which a layer-parallel or 2-D grid is predicted faster
    /// than pure data parallelism (with the factor), those in which pure data
    /// parallelism wins, and those whose batch is smaller than P (no pure data grid).
    public static func crossoverLines(_ all: [GridAdvice]) -> [String] {
        var out: [String] = []
        for p in Set(all.map(\.ranks)).sorted() {
            let cases = all.filter { $0.ranks == p }.sorted { ($0.depth, $0.batch) < ($1.depth, $1.batch) }
            func name(_ a: GridAdvice) -> String { "depth \(a.depth) batch \(a.batch)" }
            let layer = cases.compactMap { a -> String? in
                guard let pure = a.pureData, a.best.layerGroups > 1 else { return nil }
                return name(a) + String(format: " (%d × %d, %.2f×)", a.best.dataGroups, a.best.layerGroups, pure.seconds / a.best.seconds)
            }
            let data = cases.filter { $0.pureData != nil && $0.best.layerGroups == 1 }.map(name)
            let small = cases.filter { $0.pureData == nil }.map { name($0) + " (\($0.best.dataGroups) × \($0.best.layerGroups))" }
            out.append("crossover at \(p) ranks:")
            out.append("  layer-parallel or 2-D beats pure data parallelism: " + (layer.isEmpty ? "none of these cases" : layer.joined(separator: ", ")))
            out.append("  pure data parallelism is best: " + (data.isEmpty ? "none of these cases" : data.joined(separator: ", ")))
            if !small.isEmpty { out.append("  batch < \(p), no pure data-parallel grid; best: " + small.joined(separator: ", ")) }
        }
        return out
    }

    /// The lines `scaling advise` prints for one case.
    public static func lines(_ a: GridAdvice) -> [String] {
        var out = [String(format: "%@: depth %d, width %d, batch %d, %d ranks (%d parameters); layer-serial step on one rank %.3f ms",
                          a.machine, a.depth, a.width, a.batch, a.ranks, a.parameters, a.serialSeconds * 1e3)]
        out.append("      D ×    L   share   compute [ms]   gradient [ms]   update [ms]   step [ms]   vs serial")
        for g in a.grids {
            out.append(String(format: "  %5d × %4d   %5d   %12.4f  %14.4f  %12.4f  %10.4f   %8.3f%@", g.dataGroups, g.layerGroups, g.share,
                              g.computeSeconds * 1e3, g.gradientSeconds * 1e3, g.updateSeconds * 1e3, g.seconds * 1e3, g.seconds / a.serialSeconds,
                              g.dataGroups == a.best.dataGroups ? "  ← best" : ""))
        }
        let best = a.best
        let kind = best.layerGroups == 1 ? "pure data-parallel" : best.dataGroups == 1 ? "pure layer-parallel" : "2-D"
        var verdict = "  best: \(best.dataGroups) × \(best.layerGroups) (\(kind))"
        if let pure = a.pureData, best.layerGroups > 1 {
            verdict += String(format: ", %.2f× faster than pure data-parallel", pure.seconds / best.seconds)
        } else if a.pureData == nil {
            verdict += " (batch \(a.batch) < \(a.ranks) ranks: pure data parallelism does not fit)"
        }
        out.append(verdict)
        return out
    }
}

/// Layer-serial step times of the hidden stack by depth and batch share, each
/// measured once: alone on one rank (``timeLayerSerial(_:repeats:minimumSeconds:)``,
/// the fastest of the repeats) or as `copies` synchronised copies sharing this machine
/// (``timeLayerSerialConcurrently(_:copies:repeats:minimumSeconds:)``, the median step).
final class SerialStepTimes {
    let width: Int
    private var alone: [[Int]: Double] = [:]
    private var together: [[Int]: Double] = [:]

    init(width: Int) { self.width = width }

    func seconds(depth: Int, batch: Int) throws -> Double {
        if let t = alone[[depth, batch]] { return t }
        let t = try timeLayerSerial(ScalingCase(depth: depth, width: width, batch: batch), repeats: 5)
        alone[[depth, batch]] = t
        return t
    }

    func concurrentSeconds(depth: Int, batch: Int, copies: Int) throws -> Double {
        if let t = together[[depth, batch, copies]] { return t }
        let t = try timeLayerSerialConcurrently(ScalingCase(depth: depth, width: width, batch: batch), copies: copies, repeats: 5)
        together[[depth, batch, copies]] = t
        return t
    }
}

/// The model's time of one pure data-parallel step of the hidden stack (D = P batch
/// groups of one rank), beside which `scaling strong|weak --data-groups` print their
/// measurements: P synchronised copies of the layer-serial forward + backward passes at
/// the share, run at the same time on this machine's cores
/// (``timeLayerSerialConcurrently(_:copies:repeats:minimumSeconds:)``: so the ranks'
/// contention for the shared cache and memory bandwidth, and each step's wait for the
/// slowest, are measured, not assumed away), plus
/// ``DataParallelModel/allreduceSeconds(doubles:ranks:on:)`` of the hidden gradient on
/// this machine's ping-pong message model, with no overlap of the allreduce with the
/// backward pass. (``DataParallelModel/advise(depth:batch:ranks:on:calibrations:)``
/// prices other machines, so it times the passes alone and assumes no contention.)
public final class DataParallelStepModel {
    public let machine: ModelMachine
    private let serial: SerialStepTimes

    /// Measures this machine's ping-pong (`mpirun -np 2 layerpar comm-selftest`).
    public init(width: Int, batch: Int = 64) throws {
        serial = SerialStepTimes(width: width)
        let request = ScalingModelRequest(
            depths: [], weakRanks: [], layersPerRank: 1, maxRanks: 1, cacheScaling: false, width: width, batch: batch,
            setup: ScalingSolverSetup(), latencySeconds: nil, bandwidthBytesPerSecond: nil, eagerLimit: nil,
            clusterLatencySeconds: 1.5e-6, clusterBandwidthBytesPerSecond: 6e9, clusterTimeScale: nil, measured: [])
        machine = try ScalingModelStudy.machines(request)[0]
    }

    public func seconds(depth: Int, share: Int, ranks: Int) throws -> Double {
        let w = serial.width
        return try serial.concurrentSeconds(depth: depth, batch: share, copies: ranks)
            + DataParallelModel.allreduceSeconds(doubles: depth * (w * w + w), ranks: ranks, on: machine)
    }
}
