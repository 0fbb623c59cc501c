import Comm
import Foundation
import Reports

/// What `scaling strong|weak` measure with: the case's shape, the timing, the
/// solver set-up, extra `scaling run` arguments (placement) and the result files.
public struct ScalingStudySettings {
    public var width: Int
    public var batch: Int
    public var repeats: Int
    /// Seconds before one configuration's run is killed.
    public var timeout: Double
    /// Open MPI shared-memory eager limit of the runs (nil: each run raises it itself; 0: Open MPI's default).
    public var eagerLimit: Int?
    public var setup: ScalingSolverSetup
    /// Appended to every `scaling run` (e.g. `--bind --placement …`).
    public var runArguments: [String] = []
    public var json: String?
    public var csv: String?
    public var plot: String?
    /// Batch groups D to measure at every P (``ScalingRun/measureGrid(_:dataGroups:setup:repeats:minimumSeconds:world:)``);
    /// 0 stands for D = P (pure data parallelism). Only D dividing P and at most the batch are run. Default: [1].
    public var dataGroups: [Int] = [1]
    /// The model's time of a pure data-parallel step (depth, share, ranks), for the points with L = 1 and D > 1.
    public var dataParallelModel: ((Int, Int, Int) throws -> Double)?

    public init(width: Int, batch: Int, repeats: Int, timeout: Double, eagerLimit: Int?, setup: ScalingSolverSetup,
         runArguments: [String] = [], json: String? = nil, csv: String? = nil, plot: String? = nil) {
        self.width = width
        self.batch = batch
        self.repeats = repeats
        self.timeout = timeout
        self.eagerLimit = eagerLimit
        self.setup = setup
        self.runArguments = runArguments
        self.json = json
        self.csv = csv
        self.plot = plot
    }
}

/// One configuration's result with the serial baseline it is compared to.
public struct ScalingPoint: Codable {
    public var measurement: ScalingMeasurement
    public var serialSeconds: Double
    /// S = T_serial / T_parallel(P) (the paper's S_LS).
    public var speedup: Double
    /// S / P.
    public var efficiency: Double
    /// Pure data-parallel points: ``ScalingStudySettings/dataParallelModel``'s prediction of ``ScalingMeasurement/seconds``.
    public var modelSeconds: Double? = nil
}

public struct ScalingStudyOutput: Codable {
    public var command: String
    public var version = LayerParallel.version
    public var kind: String
    public var host: String
    public var cores: Int
    public var width: Int
    public var batch: Int
    public var setup: ScalingSolverSetup
    public var note: String
    /// Layer-serial forward + backward seconds by depth (one process, no MPI).
    public var serialSeconds: [String: Double]
    public var points: [ScalingPoint]
    /// Configurations whose run failed or timed out (nil or empty: none); the others are in ``points``.
    public var failed: [ScalingFailure]?
}

/// A configuration of a study that produced no measurement, and why.
public struct ScalingFailure: Codable {
    public var depth: Int
    public var ranks: Int
    public var error: String
    /// Batch groups of the grid (nil: 1).
    public var dataGroups: Int? = nil
}

/// Runs `mpirun -np P <this executable> scaling run …` and reads its JSON.
public enum ScalingLauncher {
    public static func selfPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public static func mpirun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw StudyError("mpirun not found on PATH (install Open MPI: tools/setup)")
    }

    /// Starts `arguments` of this executable on `ranks` ranks; returns when it ends
    /// (killed after `timeout` seconds). Throws with the run's stderr if it fails.
    /// `eagerLimit`: passed as `--mca btl_vader_eager_limit` (0: Open MPI's default, 4096,
    /// set explicitly so the run does not raise it).
    public static func run(ranks: Int, arguments: [String], timeout: Double, eagerLimit: Int? = nil) throws {
        var args = ["--oversubscribe", "-np", String(ranks)]
        if let eagerLimit { args += ["--mca", "btl_vader_eager_limit", String(eagerLimit == 0 ? 4096 : eagerLimit)] }
        if geteuid() == 0 { args.append("--allow-run-as-root") }
        // This process is not an MPI job: ChildProcess's default environment makes sure mpirun does not think it runs inside one.
        let r = try ChildProcess.run(try mpirun(), args + [selfPath()] + arguments, timeout: timeout)
        if r.timedOut {
            throw StudyError("mpirun -np \(ranks) \(arguments.joined(separator: " ")) took over \(Int(timeout)) s and was stopped")
        }
        guard r.status == 0 else {
            throw StudyError("mpirun -np \(ranks) \(arguments.joined(separator: " ")) failed (exit \(r.status)):\n\(r.stderr)")
        }
    }

    /// Times one configuration on `ranks` ranks (as `dataGroups` batch groups).
    public static func measure(depth: Int, ranks: Int, dataGroups: Int = 1, _ o: ScalingStudySettings) throws -> ScalingMeasurement {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-scaling-\(getpid())-\(depth)-\(ranks)-\(dataGroups).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try run(ranks: ranks, arguments: ["scaling", "run", "--depth", String(depth), "--width", String(o.width),
                                          "--batch", String(o.batch), "--repeats", String(o.repeats), "--output", file.path]
                                          + (dataGroups > 1 ? ["--data-groups", String(dataGroups)] : [])
                                          + o.setup.arguments + o.runArguments,
                                          timeout: o.timeout, eagerLimit: o.eagerLimit)
        return try JSONDecoder().decode(ScalingMeasurement.self, from: Data(contentsOf: file))
    }
}

public enum ScalingStudy {
    /// Measures every (depth, P) pair with `measure` against the layer-serial times `serial`
    /// (by depth). A configuration that fails or times out is recorded in `failed` and the
    /// study goes on: one bad configuration must not lose the others' measurements.
    public static func measure(pairs: [(depth: Int, ranks: Int)], serial: [Int: Double],
                               _ measure: (Int, Int) throws -> ScalingMeasurement) -> (points: [ScalingPoint], failed: [ScalingFailure]) {
        var points: [ScalingPoint] = []
        var failed: [ScalingFailure] = []
        for (d, p) in pairs {
            FileHandle.standardError.write(Data("scaling: depth \(d) on \(p) rank(s)…\n".utf8))
            let m: ScalingMeasurement
            do { m = try measure(d, p) } catch {
                FileHandle.standardError.write(Data("scaling: depth \(d) on \(p) rank(s) FAILED: \(error)\n".utf8))
                failed.append(ScalingFailure(depth: d, ranks: p, error: "\(error)"))
                continue
            }
            let s = serial[d]! / m.seconds
            points.append(ScalingPoint(measurement: m, serialSeconds: serial[d]!, speedup: s, efficiency: s / Double(p)))
        }
        return (points, failed)
    }

    /// Runs the (depth, P) pairs, prints a table, writes JSON/CSV/plot.
    /// `timeSerial` runs the layer-serial timing it is given (the command binds the
    /// thread as one rank would be bound, when asked to).
    public static func run(kind: String, command: String, pairs: [(depth: Int, ranks: Int)], _ o: ScalingStudySettings,
                    timeSerial: (() throws -> Double) throws -> Double = { try $0() }) throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var serial: [Int: Double] = [:]
        for d in Set(pairs.map(\.depth)).sorted() {
            serial[d] = try timeSerial {
                try timeLayerSerial(ScalingCase(depth: d, width: o.width, batch: o.batch), repeats: o.repeats)
            }
            FileHandle.standardError.write(Data("scaling: layer-serial depth \(d): \(String(format: "%.4f", serial[d]!)) s\n".utf8))
        }
        // Every (depth, P, D) once, D = 0 standing for P; D must divide P and be at most the batch.
        var configs: [(depth: Int, ranks: Int, groups: Int)] = []
        for g in o.dataGroups {
            for p in pairs {
                let d = g == 0 ? p.ranks : g
                if p.ranks % d == 0 && d <= o.batch && !configs.contains(where: { $0 == (p.depth, p.ranks, d) }) {
                    configs.append((p.depth, p.ranks, d))
                }
            }
        }
        var points: [ScalingPoint] = [], failed: [ScalingFailure] = []
        for c in configs {
            var (pts, bad) = measure(pairs: [(c.depth, c.ranks)], serial: serial) {
                try ScalingLauncher.measure(depth: $0, ranks: $1, dataGroups: c.groups, o)
            }
            for i in bad.indices where c.groups > 1 { bad[i].dataGroups = c.groups }
            if let model = o.dataParallelModel {
                for i in pts.indices {
                    let m = pts[i].measurement
                    if m.dataGroups == m.ranks, let share = m.share { pts[i].modelSeconds = try model(m.depth, share, m.ranks) }
                }
            }
            points += pts
            failed += bad
        }
        let note = "This machine has \(cores) cores: runs with P ≤ \(cores) are real measurements; runs with P > \(cores) are oversubscribed and check correctness only — their times are not scaling data."
        print("\(kind) scaling, width \(o.width), batch \(o.batch), \(o.setup.summary)")
        let grids = o.dataGroups != [1]
        print(" depth  ranks\(grids ? "      D × L " : "")  T_serial[s]  T_MGRIT[s]  speed-up  effic.  it f/b   wait%  comm%\(grids ? "  allreduce[s]  model[s]" : "")")
        for pt in points {
            let m = pt.measurement
            let d = m.dataGroups ?? 1
            let grid = grids ? String(format: "  %5d × %-4d", d, m.ranks / d) : ""
            let extra = grids ? (m.allreduceSeconds.map { String(format: "  %12.5f", $0) } ?? String(repeating: " ", count: 14))
                + (pt.modelSeconds.map { String(format: "  %8.5f", $0) } ?? "") : ""
            print(String(format: "%6d  %5d%@  %11.4f  %10.4f  %8.3f  %6.3f  %2d/%-2d  %6.1f  %5.1f%@%@",
                         m.depth, m.ranks, grid, pt.serialSeconds, m.seconds, pt.speedup, pt.efficiency,
                         m.forwardIterations, m.adjointIterations, 100 * m.waitFraction, 100 * m.communicationFraction, extra,
                         m.oversubscribed ? "  (oversubscribed: correctness only)" : ""))
            for line in m.bindings ?? [] { print("        \(line)") }
        }
        let limits = Set(points.map { $0.measurement.ranks > 1 ? $0.measurement.eagerLimitBytes ?? 4096 : -1 }).subtracting([-1]).sorted()
        if !limits.isEmpty {
            print("Open MPI shared-memory eager limit in the runs: \(limits.map { "\($0) B" }.joined(separator: ", ")) (boundary state: \(8 * o.width * o.batch) B)")
        }
        for f in failed {
            print(String(format: "%6d  %5d  %@FAILED (no measurement; see the JSON's \"failed\")", f.depth, f.ranks,
                         f.dataGroups.map { "D = \($0): " } ?? ""))
        }
        if grids {
            print("D × L: D batch groups of L ranks (L = 1: layer-serial passes on each rank's share, D = 1: MGRIT over all ranks); T includes the gradient allreduce over all ranks; model: P copies of the layer-serial passes at the share run together here (barrier after every step) + the allreduce on the ping-pong message model (pure data parallelism).")
        }
        print(note)
        var out = ScalingStudyOutput(command: command, kind: kind, host: ProcessInfo.processInfo.hostName, cores: cores,
                                     width: o.width, batch: o.batch, setup: o.setup, note: note,
                                     serialSeconds: Dictionary(uniqueKeysWithValues: serial.map { (String($0.key), $0.value) }),
                                     points: points)
        out.failed = failed.isEmpty ? nil : failed
        if let json = o.json { try AtomicFile.writeJSON(out, to: json) }
        if let csv = o.csv {
            var t = CSVTable(columns: ["kind", "depth", "ranks", "oversubscribed", "serial_seconds", "mgrit_seconds", "speedup",
                                      "efficiency", "forward_iterations", "adjoint_iterations", "wait_fraction",
                                      "communication_fraction", "levels", "data_groups", "layer_groups", "allreduce_seconds", "model_seconds"])
            for pt in points {
                let m = pt.measurement
                let d = m.dataGroups ?? 1
                try t.append([.text(kind), .int(m.depth), .int(m.ranks), .text(m.oversubscribed ? "yes" : "no"),
                              .double(pt.serialSeconds), .double(m.seconds), .double(pt.speedup), .double(pt.efficiency),
                              .int(m.forwardIterations), .int(m.adjointIterations), .double(m.waitFraction),
                              .double(m.communicationFraction), .int(m.levels.count), .int(d), .int(m.ranks / d),
                              m.allreduceSeconds.map { .double($0) } ?? "", pt.modelSeconds.map { .double($0) } ?? ""])
            }
            try t.write(to: csv)
        }
        if let plot = o.plot, let json = o.json {
            try Plot.run(script: "tools/plots/scaling.py", arguments: ["--measured", json, "--out", plot])
        }
        if !failed.isEmpty {
            let what = failed.map { "depth \($0.depth) on \($0.ranks) rank(s)" + ($0.dataGroups.map { " (D = \($0))" } ?? "") }
                .joined(separator: ", ")
            throw StudyError("\(failed.count) of \(points.count + failed.count) configuration(s) failed (\(what)); the \(points.count) measured point(s) were written")
        }
    }
}
