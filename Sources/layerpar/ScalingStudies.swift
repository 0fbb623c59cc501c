import ArgumentParser
import Comm
import Foundation
import Reports

/// Options shared by `scaling strong` and `scaling weak`.
struct ScalingStudyOptions: ParsableArguments {
    @Option(help: "Comma-separated rank counts P (P = 1 is MGRIT on one rank).") var ranks: String = "1,2,4,8"
    @Option(help: "Width of the hidden layers (paper: 16).") var width: Int = 16
    @Option(help: "Batch size: samples per state.") var batch: Int = 64
    @Option(help: "Timed repeats per configuration, at least; more until they add up to 0.2 s (the fastest is reported; one warm-up before).") var repeats: Int = 7
    @Option(help: "Seconds before a run of one configuration is killed and reported as failed.") var timeout: Double = 900
    @Option(help: "Open MPI shared-memory eager limit in bytes for the runs (mpirun --mca btl_vader_eager_limit). Default: each run raises it to the boundary-state message plus headers (8·width·batch + 1024) when that is above 4096 and at most 32768, so a boundary state goes without a rendezvous; 0: Open MPI's default (4096).")
    var eagerLimit: Int?
    @OptionGroup(title: "Solver (the paper's set-up by default)") var solver: ScalingSolverOptions
    @OptionGroup(title: "Placement") var placement: PlacementOptions
    @Option(help: "Write results as JSON here.") var json: String?
    @Option(help: "Write one row per configuration as CSV here.") var csv: String?
    @Option(help: "Plot (matplotlib) to this PNG; needs --json.") var plot: String?

    func rankList() throws -> [Int] {
        let v = ranks.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--ranks '\(ranks)' must be a comma-separated list of positive integers")
        }
        return v.map { $0! }
    }

    func check() throws {
        _ = try rankList()
        guard width >= 1, batch >= 1, repeats >= 1, timeout > 0 else {
            throw ValidationError("--width, --batch, --repeats must be ≥ 1 and --timeout > 0")
        }
        if let eagerLimit, eagerLimit < 0 { throw ValidationError("--eager-limit must be ≥ 0 bytes, got \(eagerLimit)") }
        if plot != nil && json == nil { throw ValidationError("--plot needs --json (the plot reads it)") }
        if Launch.underMPILauncher(ProcessInfo.processInfo.environment) {
            throw ValidationError("start `layerpar scaling strong|weak` without mpirun: it launches `mpirun -np P` itself for every rank count")
        }
    }
}

/// One configuration's result with the serial baseline it is compared to.
struct ScalingPoint: Codable {
    var measurement: ScalingMeasurement
    var serialSeconds: Double
    /// S = T_serial / T_parallel(P) (the paper's S_LS).
    var speedup: Double
    /// S / P.
    var efficiency: Double
}

struct ScalingStudyOutput: Codable {
    var command: String
    var version = LayerPar.version
    var kind: String
    var host: String
    var cores: Int
    var width: Int
    var batch: Int
    var setup: ScalingSolverSetup
    var note: String
    /// Layer-serial forward + backward seconds by depth (one process, no MPI).
    var serialSeconds: [String: Double]
    var points: [ScalingPoint]
}

/// Runs `mpirun -np P <this executable> scaling run …` and reads its JSON.
enum ScalingLauncher {
    static func selfPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func mpirun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw ValidationError("mpirun not found on PATH (install Open MPI: tools/setup)")
    }

    /// Starts `arguments` of this executable on `ranks` ranks; returns when it ends
    /// (killed after `timeout` seconds). Throws with the run's stderr if it fails.
    /// `eagerLimit`: passed as `--mca btl_vader_eager_limit` (0: Open MPI's default, 4096,
    /// set explicitly so the run does not raise it).
    static func run(ranks: Int, arguments: [String], timeout: Double, eagerLimit: Int? = nil) throws {
        var args = ["--oversubscribe", "-np", String(ranks)]
        if let eagerLimit { args += ["--mca", "btl_vader_eager_limit", String(eagerLimit == 0 ? 4096 : eagerLimit)] }
        if geteuid() == 0 { args.append("--allow-run-as-root") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try mpirun())
        process.arguments = args + [selfPath()] + arguments
        // This process is not an MPI job; make sure mpirun does not think it runs inside one.
        process.environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_COMM_WORLD", "PMIX_", "PMI_", "ORTE_"].contains { key.hasPrefix($0) }
        }
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-scaling-\(getpid())-\(ranks).err")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let err = try FileHandle(forWritingTo: errFile)
        defer { try? err.close(); try? FileManager.default.removeItem(at: errFile) }
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let start = Date()
        while process.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                process.terminate()
                process.waitUntilExit()
                throw ValidationError("mpirun -np \(ranks) \(arguments.joined(separator: " ")) took over \(Int(timeout)) s and was stopped")
            }
            usleep(20_000)
        }
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
            throw ValidationError("mpirun -np \(ranks) \(arguments.joined(separator: " ")) failed (exit \(process.terminationStatus)):\n\(text)")
        }
    }

    /// Times one configuration on `ranks` ranks.
    static func measure(depth: Int, ranks: Int, _ o: ScalingStudyOptions) throws -> ScalingMeasurement {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-scaling-\(getpid())-\(depth)-\(ranks).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try run(ranks: ranks, arguments: ["scaling", "run", "--depth", String(depth), "--width", String(o.width),
                                          "--batch", String(o.batch), "--repeats", String(o.repeats), "--output", file.path]
                                          + o.solver.setup.arguments
                                          + (o.placement.bind ? ["--bind", "--placement", o.placement.placement.rawValue] : []),
                                          timeout: o.timeout, eagerLimit: o.eagerLimit)
        return try JSONDecoder().decode(ScalingMeasurement.self, from: Data(contentsOf: file))
    }
}

enum ScalingStudy {
    /// Runs the (depth, P) pairs, prints a table, writes JSON/CSV/plot.
    static func run(kind: String, command: String, pairs: [(depth: Int, ranks: Int)], _ o: ScalingStudyOptions) throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var serial: [Int: Double] = [:]
        for d in Set(pairs.map(\.depth)).sorted() {
            serial[d] = try o.placement.withThreadBoundAsOneRank {
                try timeLayerSerial(ScalingCase(depth: d, width: o.width, batch: o.batch), repeats: o.repeats)
            }
            FileHandle.standardError.write(Data("scaling: layer-serial depth \(d): \(String(format: "%.4f", serial[d]!)) s\n".utf8))
        }
        var points: [ScalingPoint] = []
        for (d, p) in pairs {
            FileHandle.standardError.write(Data("scaling: depth \(d) on \(p) rank(s)…\n".utf8))
            let m = try ScalingLauncher.measure(depth: d, ranks: p, o)
            let s = serial[d]! / m.seconds
            points.append(ScalingPoint(measurement: m, serialSeconds: serial[d]!, speedup: s, efficiency: s / Double(p)))
        }
        let note = "This machine has \(cores) cores: runs with P ≤ \(cores) are real measurements; runs with P > \(cores) are oversubscribed and check correctness only — their times are not scaling data."
        print("\(kind) scaling, width \(o.width), batch \(o.batch), \(o.solver.setup.summary)")
        print(" depth  ranks  T_serial[s]  T_MGRIT[s]  speed-up  effic.  it f/b   wait%  comm%")
        for pt in points {
            let m = pt.measurement
            print(String(format: "%6d  %5d  %11.4f  %10.4f  %8.3f  %6.3f  %2d/%-2d  %6.1f  %5.1f%@",
                         m.depth, m.ranks, pt.serialSeconds, m.seconds, pt.speedup, pt.efficiency,
                         m.forwardIterations, m.adjointIterations, 100 * m.waitFraction, 100 * m.communicationFraction,
                         m.oversubscribed ? "  (oversubscribed: correctness only)" : ""))
            for line in m.bindings ?? [] { print("        \(line)") }
        }
        let limits = Set(points.map { $0.measurement.ranks > 1 ? $0.measurement.eagerLimitBytes ?? 4096 : -1 }).subtracting([-1]).sorted()
        if !limits.isEmpty {
            print("Open MPI shared-memory eager limit in the runs: \(limits.map { "\($0) B" }.joined(separator: ", ")) (boundary state: \(8 * o.width * o.batch) B)")
        }
        print(note)
        let out = ScalingStudyOutput(command: command, kind: kind, host: ProcessInfo.processInfo.hostName, cores: cores,
                                     width: o.width, batch: o.batch, setup: o.solver.setup, note: note,
                                     serialSeconds: Dictionary(uniqueKeysWithValues: serial.map { (String($0.key), $0.value) }),
                                     points: points)
        if let json = o.json { try AtomicFile.writeJSON(out, to: json) }
        if let csv = o.csv {
            var t = CSVTable(columns: ["kind", "depth", "ranks", "oversubscribed", "serial_seconds", "mgrit_seconds", "speedup",
                                      "efficiency", "forward_iterations", "adjoint_iterations", "wait_fraction",
                                      "communication_fraction", "levels"])
            for pt in points {
                let m = pt.measurement
                try t.append([.text(kind), .int(m.depth), .int(m.ranks), .text(m.oversubscribed ? "yes" : "no"),
                              .double(pt.serialSeconds), .double(m.seconds), .double(pt.speedup), .double(pt.efficiency),
                              .int(m.forwardIterations), .int(m.adjointIterations), .double(m.waitFraction),
                              .double(m.communicationFraction), .int(m.levels.count)])
            }
            try t.write(to: csv)
        }
        if let plot = o.plot, let json = o.json {
            try Plot.run(script: "tools/plots/scaling.py", arguments: ["--measured", json, "--out", plot])
        }
    }
}

struct ScalingStrong: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strong",
        abstract: "Strong scaling: fixed depths on growing rank counts (the paper's Figure 2a).",
        discussion: """
            For every depth, times the layer-serial forward + backward pass in this process, then for every P \
            starts `mpirun -np P layerpar scaling run …` (so start this command plainly, not under mpirun), \
            which times one forward and one adjoint MGRIT solve to the tolerance. Reports speed-up \
            S = T_serial/T_MGRIT(P), efficiency S/P, iterations and the communication wait.
            Example: layerpar scaling strong --depths 20,320,5120 --ranks 1,2,4,8 --json strong.json --plot strong.png
            """)

    @Option(help: "Comma-separated depths (paper: 20,320,5120).") var depths: String = "20,320,5120"
    @OptionGroup var study: ScalingStudyOptions

    func depthList() throws -> [Int] {
        let v = depths.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw ValidationError("--depths '\(depths)' must be positive integers") }
        return v.map { $0! }
    }

    func validate() throws {
        _ = try depthList()
        try study.check()
    }

    func run() throws {
        let ranks = try study.rankList()
        let pairs = try depthList().flatMap { d in ranks.map { (depth: d, ranks: $0) } }
        try ScalingStudy.run(kind: "strong", command: "layerpar scaling strong --depths \(depths) --ranks \(study.ranks)", pairs: pairs, study)
    }
}

struct ScalingWeak: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weak",
        abstract: "Weak scaling: depth = layers-per-rank × P (the paper's Figure 2b: 4 layers per rank).",
        discussion: """
            Like `scaling strong`, with depth growing with P. The layer-serial time is measured for every depth.
            Example: layerpar scaling weak --layers-per-rank 4 --ranks 1,2,4,8 --json weak.json --plot weak.png
            """)

    @Option(help: "Layers per rank (paper: 4).") var layersPerRank: Int = 4
    @OptionGroup var study: ScalingStudyOptions

    func validate() throws {
        guard layersPerRank >= 1 else { throw ValidationError("--layers-per-rank must be ≥ 1, got \(layersPerRank)") }
        try study.check()
    }

    func run() throws {
        let pairs = try study.rankList().map { (depth: layersPerRank * $0, ranks: $0) }
        try ScalingStudy.run(kind: "weak", command: "layerpar scaling weak --layers-per-rank \(layersPerRank) --ranks \(study.ranks)", pairs: pairs, study)
    }
}
