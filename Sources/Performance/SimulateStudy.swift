import Comm
import Foundation
import Reports
import Studies

/// What `layerpar scaling simulate` is asked.
public struct SimulateRequest {
    public var depths: [Int]
    public var ranks: [Int]
    /// Weak scaling: depth = layersPerRank × P for every P of ``weakRanks``.
    public var weakRanks: [Int]
    public var layersPerRank: Int
    /// Platform file to replay on (nil with ``validate``: this machine's, from a ping-pong).
    public var platform: String?
    /// Measure T(1), T(2) here and replay the same runs on this machine's platform.
    public var validate: Bool
    public var width: Int
    public var batch: Int
    public var setup: ScalingSolverSetup
    public var repeats: Int
    /// Keep every trace folder under this directory (nil: temporary, removed).
    public var traceDirectory: String?
    /// Open MPI eager limit for the measured runs and the ping-pong (nil: the boundary state plus headers).
    public var eagerLimit: Int?
    /// Rounds of (calibration, T(1), T(2)) with ``validate``; the fastest of each is kept.
    public var validationRounds = 3

    public init(depths: [Int], ranks: [Int], weakRanks: [Int], layersPerRank: Int, platform: String?, validate: Bool,
                width: Int, batch: Int, setup: ScalingSolverSetup, repeats: Int, traceDirectory: String?, eagerLimit: Int?) {
        self.depths = depths; self.ranks = ranks; self.weakRanks = weakRanks; self.layersPerRank = layersPerRank
        self.platform = platform; self.validate = validate; self.width = width; self.batch = batch; self.setup = setup
        self.repeats = repeats; self.traceDirectory = traceDirectory; self.eagerLimit = eagerLimit
    }
}

/// One level of a replayed point.
public struct SimulatedLevel: Codable {
    public var level: Int
    public var points: Int
    /// Mean over ranks of replayed compute and of point-to-point time (isend/irecv/test/wait) on this level.
    public var computeSeconds: Double
    public var communicationSeconds: Double
    /// Max over ranks of the traced compute on this level (what the slowest rank computes).
    public var maxComputeSeconds: Double
}

/// One (depth, P) replayed on the platform, beside the analytic model.
public struct SimulatedPoint: Codable {
    public var kind: String
    public var depth: Int
    public var ranks: Int
    public var simulatedSeconds: Double
    /// The layer-serial passes measured here, scaled to the platform's clock.
    public var serialSeconds: Double
    public var speedup: Double
    public var efficiency: Double
    /// ``MGRITCostModel`` from the same calibration, on the platform's latency, bandwidth and clock.
    public var modelSeconds: Double
    public var modelSpeedup: Double
    public var forwardIterations: Int
    public var adjointIterations: Int
    public var levels: [SimulatedLevel]
    /// Mean over ranks: replayed compute in no level, and residual allreduces.
    public var otherComputeSeconds: Double
    public var reduceSeconds: Double
    public var messages: Int
    /// Wall seconds of recording the schedule and of the replay.
    public var scheduleWallSeconds: Double
    public var replayWallSeconds: Double
}

/// A measured run here beside its replay on this machine's platform.
public struct ValidationPoint: Codable {
    public var ranks: Int
    public var depth: Int
    public var measuredSeconds: Double
    public var simulatedSeconds: Double
    public var relativeError: Double
}

public struct SimulateOutput: Codable {
    public var command: String
    public var version = LayerParallel.version
    public var platform: String
    public var platformFile: String
    public var platformClockHz: Double
    public var thisClockHz: Double
    public var modelLatencySeconds: Double
    public var modelBandwidthBytesPerSecond: Double
    public var width: Int
    public var batch: Int
    public var setup: ScalingSolverSetup
    public var points: [SimulatedPoint]
    public var validation: [ValidationPoint]?
    public var notes: [String]
}

/// `layerpar scaling simulate`: the real solver's schedule (``Schedule``) replayed in
/// SimGrid on a platform, beside the analytic model from the same calibration.
public enum SimulateStudy {
    /// The analytic model from a schedule calibration (the compute of both passes per level).
    static func model(_ cal: ScheduleCalibration, serialSeconds: Double) -> MGRITCostModel {
        let level = zip(cal.forward.computeSeconds, cal.adjoint.computeSeconds).map(+)
        return MGRITCostModel(depth: cal.depth, width: cal.width, batch: cal.batch, cfactor: cal.setup.coarsening, setup: cal.setup,
                              points: [], levelSeconds: level, remainderSeconds: max(cal.oneRankSeconds - level.reduce(0, +), 0),
                              forwardIterations: cal.forward.iterations, adjointIterations: cal.adjoint.iterations,
                              forwardConverged: cal.forward.converged, adjointConverged: cal.adjoint.converged,
                              serialSeconds: serialSeconds, serialKernelOnlySeconds: 0)
    }

    /// Records and replays one point.
    static func point(kind: String, cal: ScheduleCalibration, ranks p: Int, serial: Double, platform: String,
                      description d: SimGridPlatform.Description, thisClock: Double, keep: String?) throws -> SimulatedPoint {
        let t0 = monotonicSeconds()
        let schedule = try Schedule.record(cal, ranks: p, cyclesPerSecond: thisClock)
        let dir = keep.map { "\($0)/\(kind)-depth\(cal.depth)-ranks\(p)" }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-sim-\(getpid())-\(cal.depth)-\(p)").path
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let summary = try schedule.write(to: dir)
        let t1 = monotonicSeconds()
        let levels = schedule.levelCount
        let r = try SimGridReplay.run(directory: dir, ranks: p, levels: levels, platform: platform)
        let scale = thisClock / d.clockHz
        let model = try model(cal, serialSeconds: serial / scale).predict(
            ranks: p, on: ModelMachine(name: d.name, latencySeconds: d.latencySeconds, bandwidthBytesPerSecond: d.bandwidthBytesPerSecond,
                                       timeScale: scale, source: platform))
        let points = schedule.ranks[0].forward.pointsPerLevel
        let lv = (0 ..< levels).map { l in
            SimulatedLevel(level: l, points: points[l], computeSeconds: r.computeSeconds[l], communicationSeconds: r.communicationSeconds[l],
                           maxComputeSeconds: summary.maxComputeSeconds[l] * scale)
        }
        return SimulatedPoint(kind: kind, depth: cal.depth, ranks: p, simulatedSeconds: r.seconds, serialSeconds: serial,
                              speedup: serial / r.seconds, efficiency: serial / r.seconds / Double(p),
                              modelSeconds: model, modelSpeedup: serial / model,
                              forwardIterations: summary.forwardIterations, adjointIterations: summary.adjointIterations,
                              levels: lv, otherComputeSeconds: r.otherComputeSeconds, reduceSeconds: r.reduceSeconds,
                              messages: summary.messages, scheduleWallSeconds: t1 - t0, replayWallSeconds: r.wallSeconds)
    }

    /// This machine's platform from `mpirun -np 2 layerpar comm-selftest`'s ping-pong, written to `path`.
    static func thisMachinePlatform(_ r: SimulateRequest, to path: String) throws -> ModelMachine {
        let request = ScalingModelRequest(depths: [], weakRanks: [], layersPerRank: 1, maxRanks: 1, cacheScaling: false,
                                          width: r.width, batch: r.batch, setup: r.setup, latencySeconds: nil,
                                          bandwidthBytesPerSecond: nil, eagerLimit: r.eagerLimit,
                                          clusterLatencySeconds: 0, clusterBandwidthBytesPerSecond: 1, clusterTimeScale: 1, measured: [])
        var m = try ScalingModelStudy.machines(request)[0]
        // The boundary state's one-way time off the ping-pong table, as an effective latency at the fit's bandwidth.
        let bytes = 8 * r.width * r.batch
        let t = m.messageSeconds(bytes: bytes)
        m.latencySeconds = max(t - Double(bytes) / m.bandwidthBytesPerSecond, 1e-8)
        let xml = SimGridPlatform.thisMachine(latencySeconds: m.latencySeconds, bandwidthBytesPerSecond: m.bandwidthBytesPerSecond,
                                              cores: max(2, ProcessInfo.processInfo.activeProcessorCount),
                                              clockHz: SimGridPlatform.thisMachineClockHz(),
                                              source: m.source + String(format: "; %d-byte message %.2f µs", bytes, t * 1e6))
        try AtomicFile.write(xml, to: path)
        return m
    }

    public struct Report {
        public var output: SimulateOutput
        public var lines: [String]
    }

    public static func run(_ r: SimulateRequest, command: String) throws -> Report {
        let thisClock = SimGridPlatform.thisMachineClockHz()
        _ = try SimGridReplay.smpirun()
        var notes: [String] = []
        var validation: [ValidationPoint]?
        var platform = r.platform
        var scratch: String?
        defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
        if r.validate {
            let path = r.traceDirectory.map { "\($0)/this-machine.xml" }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-this-machine-\(getpid()).xml").path
            if r.traceDirectory == nil { scratch = path } else {
                try FileManager.default.createDirectory(atPath: r.traceDirectory!, withIntermediateDirectories: true)
            }
            let m = try thisMachinePlatform(r, to: path)
            notes.append(String(format: "this machine's platform: latency %.2f µs, bandwidth %.2f GB/s (%@)",
                                m.latencySeconds * 1e6, m.bandwidthBytesPerSecond / 1e9, m.source))
            if platform == nil { platform = path }
            let d = try SimGridPlatform.describe(path)
            var v: [ValidationPoint] = []
            let settings = ScalingStudySettings(width: r.width, batch: r.batch, repeats: r.repeats, timeout: 900,
                                                eagerLimit: r.eagerLimit, setup: r.setup)
            for depth in r.depths {
                // Calibration and measurements interleaved, the fastest of each kept: on a shared
                // machine other load only ever adds time, and it comes and goes.
                var cal: ScheduleCalibration?
                var measured: [Int: Double] = [:]
                let counts = [1, 2].filter { $0 <= depth + 1 }
                for round in 1 ... r.validationRounds {
                    let c = try ScheduleCalibration.measure(ScalingCase(depth: depth, width: r.width, batch: r.batch), setup: r.setup, repeats: r.repeats)
                    if c.oneRankSeconds < cal?.oneRankSeconds ?? .infinity { cal = c }
                    for p in counts {
                        FileHandle.standardError.write(Data("scaling simulate: measuring depth \(depth) on \(p) rank(s), round \(round)…\n".utf8))
                        measured[p] = min(measured[p] ?? .infinity, try ScalingLauncher.measure(depth: depth, ranks: p, settings).seconds)
                    }
                }
                for p in counts {
                    let sim = try point(kind: "validate", cal: cal!, ranks: p, serial: 1, platform: path, description: d,
                                        thisClock: thisClock, keep: r.traceDirectory)
                    v.append(ValidationPoint(ranks: p, depth: depth, measuredSeconds: measured[p]!, simulatedSeconds: sim.simulatedSeconds,
                                             relativeError: (sim.simulatedSeconds - measured[p]!) / measured[p]!))
                }
            }
            validation = v
        }
        guard let platform else { throw StudyError("--platform FILE is needed (or --validate, which replays on this machine's platform)") }
        let d = try SimGridPlatform.describe(platform)
        var points: [SimulatedPoint] = []
        var calibrations: [Int: (ScheduleCalibration, Double)] = [:]
        func calibrated(_ depth: Int) throws -> (ScheduleCalibration, Double) {
            if let c = calibrations[depth] { return c }
            FileHandle.standardError.write(Data("scaling simulate: calibrating depth \(depth) on one rank…\n".utf8))
            let c = ScalingCase(depth: depth, width: r.width, batch: r.batch)
            let cal = try ScheduleCalibration.measure(c, setup: r.setup, repeats: r.repeats)
            let serial = try timeLayerSerial(c, repeats: r.repeats) * thisClock / d.clockHz
            calibrations[depth] = (cal, serial)
            return (cal, serial)
        }
        for depth in r.depths {
            for p in r.ranks where p <= depth + 1 && p <= d.slots.count {
                let (cal, serial) = try calibrated(depth)
                FileHandle.standardError.write(Data("scaling simulate: depth \(depth) on \(p) rank(s)…\n".utf8))
                points.append(try point(kind: "strong", cal: cal, ranks: p, serial: serial, platform: platform, description: d,
                                        thisClock: thisClock, keep: r.traceDirectory))
            }
        }
        for p in r.weakRanks where p <= d.slots.count {
            let (cal, serial) = try calibrated(p * r.layersPerRank)
            FileHandle.standardError.write(Data("scaling simulate: weak, \(p) ranks…\n".utf8))
            points.append(try point(kind: "weak", cal: cal, ranks: p, serial: serial, platform: platform, description: d,
                                    thisClock: thisClock, keep: r.traceDirectory))
        }
        notes.append("Schedules are the real MGRITSolver's control flow over a problem that records each step's one-rank cost (per level and pass); compute outside the levels is spread evenly over the ranks.")
        notes.append(String(format: "Compute is scaled by this clock / the platform's (%.2f / %.2f GHz); the model uses the platform's latency %.2f µs and bandwidth %.2f GB/s.",
                            thisClock / 1e9, d.clockHz / 1e9, d.latencySeconds * 1e6, d.bandwidthBytesPerSecond / 1e9))
        let out = SimulateOutput(command: command, platform: d.name, platformFile: platform, platformClockHz: d.clockHz, thisClockHz: thisClock,
                                 modelLatencySeconds: d.latencySeconds, modelBandwidthBytesPerSecond: d.bandwidthBytesPerSecond,
                                 width: r.width, batch: r.batch, setup: r.setup, points: points, validation: validation, notes: notes)
        return Report(output: out, lines: summary(out))
    }

    static func summary(_ out: SimulateOutput) -> [String] {
        var lines = ["SimGrid replay on \(out.platform) (\(out.platformFile)), width \(out.width), batch \(out.batch), \(out.setup.summary)"]
        if !out.points.isEmpty {
            lines.append(" kind    depth  ranks  T_serial[s]  T_sim[s]   S_sim  effic.  T_model[s]  S_model  it f/b  messages  replay[s]")
        }
        for p in out.points {
            lines.append(String(format: "%-6@ %6d  %5d  %11.5f  %9.5f  %6.2f  %6.3f  %10.5f  %7.2f  %2d/%-2d  %8d  %8.1f",
                                p.kind, p.depth, p.ranks, p.serialSeconds, p.simulatedSeconds, p.speedup, p.efficiency,
                                p.modelSeconds, p.modelSpeedup, p.forwardIterations, p.adjointIterations, p.messages, p.replayWallSeconds))
            let split = p.levels.map { l in
                String(format: "L%d %.2f/%.2f", l.level, l.computeSeconds * 1e3, l.communicationSeconds * 1e3)
            }.joined(separator: "  ")
            lines.append("        per level compute/comm [ms], mean over ranks: \(split)")
        }
        for v in out.validation ?? [] {
            lines.append(String(format: "  validation depth %d P=%d: measured %.5f s, replayed %.5f s, error %+.1f%%",
                                v.depth, v.ranks, v.measuredSeconds, v.simulatedSeconds, 100 * v.relativeError))
        }
        for n in out.notes { lines.append("  note: \(n)") }
        return lines
    }

    public static func writeCSV(_ out: SimulateOutput, to path: String) throws {
        var t = CSVTable(columns: ["kind", "depth", "ranks", "serial_seconds", "simulated_seconds", "speedup", "efficiency",
                                  "model_seconds", "model_speedup", "level", "level_compute_seconds", "level_communication_seconds"])
        for p in out.points { for l in p.levels {
            try t.append([.text(p.kind), .int(p.depth), .int(p.ranks), .double(p.serialSeconds), .double(p.simulatedSeconds),
                          .double(p.speedup), .double(p.efficiency), .double(p.modelSeconds), .double(p.modelSpeedup),
                          .int(l.level), .double(l.computeSeconds), .double(l.communicationSeconds)])
        } }
        try t.write(to: path)
    }
}
