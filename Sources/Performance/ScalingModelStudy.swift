import Comm
import Foundation
import Reports
import Studies
import Topology

/// What `layerpar scaling model` is asked: the curves to predict, the case, how to
/// calibrate, and the machines' message parameters where they are given.
public struct ScalingModelRequest {
    /// Depths for strong scaling, rank counts and layers per rank for weak scaling.
    public var depths: [Int]
    public var weakRanks: [Int]
    public var layersPerRank: Int
    /// Largest rank count of the strong-scaling predictions.
    public var maxRanks: Int
    /// Scale each rank's compute by the layer-serial time per layer at its share of the depth.
    public var cacheScaling: Bool
    public var width: Int
    public var batch: Int
    public var setup: ScalingSolverSetup
    /// This machine's message parameters (nil: measured by ping-pong).
    public var latencySeconds: Double?
    public var bandwidthBytesPerSecond: Double?
    /// Open MPI eager limit for the ping-pong (nil: the boundary-state message plus headers).
    public var eagerLimit: Int?
    /// The paper's cluster: message parameters and compute factor (nil: this clock / 2.2 GHz).
    public var clusterLatencySeconds: Double
    public var clusterBandwidthBytesPerSecond: Double
    public var clusterTimeScale: Double?
    /// Measured studies to check the model against (each calibrated with its own set-up).
    public var measured: [ScalingStudyOutput]
    /// Optimiser steps the layer-parallel set-up needs to the reference loss over the
    /// serial loop's (e.g. from `layerpar reproduce oneshot`): training to the reference
    /// breaks even where S(P) ≥ this ratio (nil: not asked).
    public var stepsRatio: Double? = nil
    /// Vector lengths whose in-place allreduce on 2 ranks the ping-pong run also times
    /// (``ModelMachine/gradientCollectives``; empty: none).
    public var gradientLengths: [Int] = []

    public init(depths: [Int], weakRanks: [Int], layersPerRank: Int, maxRanks: Int, cacheScaling: Bool, width: Int, batch: Int,
                setup: ScalingSolverSetup, latencySeconds: Double?, bandwidthBytesPerSecond: Double?, eagerLimit: Int?,
                clusterLatencySeconds: Double, clusterBandwidthBytesPerSecond: Double, clusterTimeScale: Double?,
                measured: [ScalingStudyOutput]) {
        self.depths = depths
        self.weakRanks = weakRanks
        self.layersPerRank = layersPerRank
        self.maxRanks = maxRanks
        self.cacheScaling = cacheScaling
        self.width = width
        self.batch = batch
        self.setup = setup
        self.latencySeconds = latencySeconds
        self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
        self.eagerLimit = eagerLimit
        self.clusterLatencySeconds = clusterLatencySeconds
        self.clusterBandwidthBytesPerSecond = clusterBandwidthBytesPerSecond
        self.clusterTimeScale = clusterTimeScale
        self.measured = measured
    }
}

/// `layerpar scaling model`'s work: calibrate ``MGRITCostModel`` on one rank here,
/// measure the ping-pong, predict the strong and weak curves for this machine and
/// the paper's cluster, and check the model against measured studies.
public enum ScalingModelStudy {
    /// The model and the lines `layerpar scaling model` prints.
    public struct Report {
        public var output: ScalingModelOutput
        public var lines: [String]
    }

    /// Reads `scaling strong|weak --json` files (before any calibration, so a bad path fails at once).
    public static func readMeasured(paths: [String]) throws -> [ScalingStudyOutput] {
        try paths.map { path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw StudyError("--measured: cannot read '\(path)' (no such file, or not readable)")
            }
            do { return try JSONDecoder().decode(ScalingStudyOutput.self, from: data) } catch {
                throw StudyError("--measured: '\(path)' is not the JSON of `layerpar scaling strong|weak --json` (this version): \(error)")
            }
        }
    }

    /// One-rank calibration of `depth` with `setup`: the solver's per-level compute
    /// seconds, iterations and convergence of both passes, the layer-serial time and,
    /// with cache scaling, the layer-serial time per layer at depth/2ᵏ.
    public static func calibrate(depth: Int, width: Int, batch: Int, setup: ScalingSolverSetup, kernels: KernelStepTimes,
                                 cacheScaling: Bool, maxRanks: Int) throws -> MGRITCostModel {
        var perLayer: [MGRITCostModel.DepthTime] = []
        if cacheScaling {
            var d = depth
            while d >= 1 && d >= depth / max(maxRanks, 1) {
                let t = try timeLayerSerial(ScalingCase(depth: d, width: width, batch: batch), repeats: 5)
                perLayer.append(.init(depth: d, secondsPerLayer: t / Double(d)))
                d /= 2
            }
        }
        FileHandle.standardError.write(Data("scaling model: calibrating depth \(depth) on one rank…\n".utf8))
        let c = ScalingCase(depth: depth, width: width, batch: batch)
        let m = try ScalingRun.measure(c, setup: setup, repeats: 7, world: SerialCommunicator())
        let level = m.levels.map(\.computeSeconds)
        var kernelOnly: Double?
        if setup.coarseStep == .cPointLayer, setup.storePreactivations, let f = m.forwardKernelCalls, let a = m.adjointKernelCalls {
            kernelOnly = kernels.mgritSeconds(depth: depth, forwardCalls: f, adjointCalls: a)
        }
        return MGRITCostModel(depth: depth, width: width, batch: batch, cfactor: setup.coarsening, setup: setup, points: m.levels.map(\.points),
                              levelSeconds: level, remainderSeconds: max(m.seconds - level.reduce(0, +), 0),
                              forwardIterations: m.forwardIterations, adjointIterations: m.adjointIterations,
                              forwardConverged: m.forwardConverged, adjointConverged: m.adjointConverged,
                              serialSeconds: try timeLayerSerial(c, repeats: 5),
                              kernelOnlySeconds: kernelOnly, serialKernelOnlySeconds: kernels.serialSeconds(depth: depth),
                              serialPerLayerByDepth: perLayer)
    }

    /// This machine (ping-pong under `mpirun -np 2 layerpar comm-selftest` unless both
    /// parameters are given) and the paper's cluster.
    public static func machines(_ r: ScalingModelRequest) throws -> [ModelMachine] {
        var alpha = r.latencySeconds, bw = r.bandwidthBytesPerSecond
        var source = "given"
        var table: [PingPongRow]?
        var collectives: [GradientCollectiveRow]?
        if alpha == nil || bw == nil {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-pingpong-\(getpid()).json")
            defer { try? FileManager.default.removeItem(at: file) }
            // The ping-pong runs with the eager limit the scaling runs have (comm-selftest does not set one).
            let limit = r.eagerLimit ?? Launch.eagerLimit(forMessageBytes: 8 * r.width * r.batch)
            let lengths = r.gradientLengths.isEmpty ? [] : ["--gradient-doubles", r.gradientLengths.map(String.init).joined(separator: ",")]
            try ScalingLauncher.run(ranks: 2, arguments: ["comm-selftest", "--repetitions", "500", "--output", file.path] + lengths,
                                    timeout: 120, eagerLimit: limit)
            let report = try JSONDecoder().decode(CommCheckReport.self, from: Data(contentsOf: file))
            guard let fit = report.pingPong else { throw StudyError("the ping-pong of `layerpar comm-selftest` on 2 ranks reported nothing") }
            if alpha == nil && bw == nil {
                table = fit.table.sorted { $0.bytes < $1.bytes }
                if !r.gradientLengths.isEmpty { collectives = report.gradientCollectives }
                source = "ping-pong, mpirun -np 2 layerpar comm-selftest, eager limit \(limit.map { "\($0 == 0 ? 4096 : $0) B" } ?? "4096 B (Open MPI's default)") (message times read off its table)"
            } else {
                source = "ping-pong, mpirun -np 2 layerpar comm-selftest, and given values"
            }
            alpha = alpha ?? fit.latencySeconds
            bw = bw ?? fit.bandwidthBytesPerSecond
        }
        let clock = CPUInfo.thisMachine().reportedMHz.map { $0 / 1000 }
        let scale = r.clusterTimeScale ?? (clock.map { $0 / 2.2 } ?? 1)
        return [
            ModelMachine(name: "this machine", latencySeconds: alpha!, bandwidthBytesPerSecond: bw!, timeScale: 1, source: source,
                         pingPong: table, gradientCollectives: collectives),
            ModelMachine(name: "paper cluster (2x E5-2630 v4, 2.2 GHz)", latencySeconds: r.clusterLatencySeconds,
                         bandwidthBytesPerSecond: r.clusterBandwidthBytesPerSecond, timeScale: scale,
                         source: r.clusterTimeScale != nil ? "given" : "compute × (this clock \(clock.map { String(format: "%.2f", $0) } ?? "?") GHz / 2.2 GHz)"),
        ]
    }

    /// Strong curves (P = 1, 2, 4, … ≤ min(maxRanks, depth + 1)) for every depth and the
    /// weak curve, on `machine`, from one calibration per depth.
    public static func curves(_ r: ScalingModelRequest, calibrations: [Int: MGRITCostModel], on machine: ModelMachine) throws -> [ModelCurve] {
        var curves: [ModelCurve] = []
        for d in r.depths {
            let model = calibrations[d]!
            var ranks: [Int] = []
            var p = 1
            while p <= min(r.maxRanks, d + 1) { ranks.append(p); p *= 2 }
            let t = try ranks.map { try model.predict(ranks: $0, on: machine) }
            let serial = model.serialSeconds * machine.timeScale
            let s = t.map { serial / $0 }
            var curve = ModelCurve(machine: machine.name, kind: "strong", depth: d, ranks: ranks, seconds: t,
                                   serialSeconds: serial, speedup: s, breakEvenRanks: zip(ranks, s).first { $0.1 >= 1 }?.0)
            if let ratio = r.stepsRatio { curve.breakEvenToReferenceRanks = zip(ranks, s).first { $0.1 >= ratio }?.0 }
            curves.append(curve)
        }
        let t = try r.weakRanks.map { p in try calibrations[p * r.layersPerRank]!.predict(ranks: p, on: machine) }
        let serial = r.weakRanks.map { calibrations[$0 * r.layersPerRank]!.serialSeconds * machine.timeScale }
        curves.append(ModelCurve(machine: machine.name, kind: "weak", depth: r.layersPerRank, ranks: r.weakRanks, seconds: t,
                                 serialSeconds: serial.last ?? 0, speedup: zip(serial, t).map { $0 / $1 }, breakEvenRanks: nil))
        return curves
    }

    /// Calibrates, predicts and checks; the output `layerpar scaling model --json` writes.
    public static func run(_ r: ScalingModelRequest) throws -> Report {
        let machines = try machines(r)
        let setup = r.setup
        let kernels = try KernelStepTimes.measure(width: r.width, batch: r.batch)
        var calibrations: [Int: MGRITCostModel] = [:]
        for d in Set(r.depths + r.weakRanks.map { $0 * r.layersPerRank }).sorted() {
            calibrations[d] = try calibrate(depth: d, width: r.width, batch: r.batch, setup: setup, kernels: kernels,
                                            cacheScaling: r.cacheScaling, maxRanks: r.maxRanks)
        }
        let curves = try machines.flatMap { try self.curves(r, calibrations: calibrations, on: $0) }

        // Check against measurements (P ≤ cores only).
        var checks: [ModelCheck] = []
        var checkCalibrations: [ScalingSolverSetup: [Int: MGRITCostModel]] = [setup: calibrations]
        for out in r.measured {
            for pt in out.points where !pt.measurement.oversubscribed {
                let m = pt.measurement
                let model = try checkCalibrations[out.setup]?[m.depth]
                    ?? calibrate(depth: m.depth, width: r.width, batch: r.batch, setup: out.setup, kernels: kernels,
                                 cacheScaling: r.cacheScaling, maxRanks: r.maxRanks)
                checkCalibrations[out.setup, default: [:]][m.depth] = model
                let pred = try model.predict(ranks: m.ranks, on: machines[0])
                checks.append(ModelCheck(depth: m.depth, ranks: m.ranks, measuredSeconds: m.seconds,
                                         predictedSeconds: pred, relativeError: (pred - m.seconds) / m.seconds))
            }
        }
        var notes: [String] = []
        let ratios = calibrations.values.map { $0.oneRankSeconds / $0.serialSeconds }
        if let lo = ratios.min(), let hi = ratios.max() {
            notes.append(String(format: "One-rank MGRIT costs w = %.1f–%.1f × the layer-serial passes; with T(P) ≥ T(1)/P (no superlinear speed-up, e.g. from a rank's layers fitting in its caches: --cache-scaling), S(P) ≤ P/w: break-even needs P ≥ w, whatever the network.", lo, hi))
        }
        notes.append("Iterations per pass are measured on one rank and hold for every P (the solver is rank-count invariant).")
        notes.append("Compute per level is this machine's one-rank time; the cluster's is scaled by \(String(format: "%.3f", machines[1].timeScale)).")

        let out = ScalingModelOutput(width: r.width, batch: r.batch, setup: setup, kernelTimes: kernels, machines: machines,
                                     calibrations: checkCalibrations.values.flatMap(\.values).sorted { ($0.depth, $0.setup.minCoarse) < ($1.depth, $1.setup.minCoarse) },
                                     curves: curves, checks: checks, notes: notes)
        return Report(output: out, lines: summary(out, calibrations: calibrations, layersPerRank: r.layersPerRank, stepsRatio: r.stepsRatio))
    }

    /// The lines `layerpar scaling model` prints: kernels, machines, calibrations, curves, notes, checks.
    static func summary(_ out: ScalingModelOutput, calibrations: [Int: MGRITCostModel], layersPerRank: Int, stepsRatio: Double? = nil) -> [String] {
        let k = out.kernelTimes
        var lines = ["MGRIT performance model: width \(out.width), batch \(out.batch), \(out.setup.summary)"]
        lines.append(String(format: "  kernels at %d×%d: forward %.2f µs (keeping z %.2f µs), adjoint %.2f µs (with gradient %.2f µs) per call",
                            out.width, out.batch, k.forward * 1e6, k.forwardKeepingZ * 1e6, k.adjoint * 1e6, k.adjointWithGradient * 1e6))
        for m in out.machines {
            lines.append(String(format: "  %@: latency %.2f µs, bandwidth %.2f GB/s, compute × %.3f (%@)", m.name,
                                m.latencySeconds * 1e6, m.bandwidthBytesPerSecond / 1e9, m.timeScale, m.source))
        }
        for (d, c) in calibrations.sorted(by: { $0.key < $1.key }) {
            lines.append(String(format: "  depth %5d: iterations %d/%d, levels %d, one-rank MGRIT %.4f s, serial %.5f s (work ratio %.1f)",
                                d, c.forwardIterations, c.adjointIterations, c.points.count,
                                c.oneRankSeconds, c.serialSeconds, c.oneRankSeconds / c.serialSeconds))
            if let kk = c.kernelOnlySeconds {
                lines.append(String(format: "      kernels alone: MGRIT %.4f s (%.0f %% of it), serial %.5f s (%.0f %%), kernel work ratio %.1f",
                                    kk, 100 * kk / c.oneRankSeconds, c.serialKernelOnlySeconds, 100 * c.serialKernelOnlySeconds / c.serialSeconds,
                                    kk / c.serialKernelOnlySeconds))
            }
        }
        for curve in out.curves {
            if curve.kind == "strong" {
                let cells = zip(curve.ranks, curve.speedup).map { String(format: "%d:%.2f", $0.0, $0.1) }.joined(separator: " ")
                var line = "  strong \(curve.machine), depth \(curve.depth): S(P) \(cells); break-even P = \(curve.breakEvenRanks.map(String.init) ?? "none ≤ \(curve.ranks.last!)")"
                if let ratio = stepsRatio {
                    line += String(format: "; to the reference loss (%.2f× the serial steps): P = ", ratio)
                        + (curve.breakEvenToReferenceRanks.map(String.init) ?? "none ≤ \(curve.ranks.last!)")
                }
                lines.append(line)
            } else {
                let cells = zip(curve.ranks, curve.seconds).map { String(format: "%d:%.4fs", $0.0, $0.1) }.joined(separator: " ")
                lines.append("  weak \(curve.machine), \(layersPerRank) layers/rank: T(P) \(cells)")
            }
        }
        for n in out.notes { lines.append("  note: \(n)") }
        for c in out.checks {
            lines.append(String(format: "  check depth %d P=%d: measured %.4f s, model %.4f s, error %+.1f%%",
                                c.depth, c.ranks, c.measuredSeconds, c.predictedSeconds, 100 * c.relativeError))
        }
        return lines
    }

    /// The predicted curves as CSV (machine, kind, depth or layers per rank, ranks, seconds, speed-up).
    public static func writeCSV(_ out: ScalingModelOutput, to path: String) throws {
        var t = CSVTable(columns: ["machine", "kind", "depth_or_layers_per_rank", "ranks", "seconds", "speedup"])
        for c in out.curves { for i in c.ranks.indices {
            try t.append([.text(c.machine), .text(c.kind), .int(c.depth), .int(c.ranks[i]), .double(c.seconds[i]), .double(c.speedup[i])])
        } }
        try t.write(to: path)
    }
}
