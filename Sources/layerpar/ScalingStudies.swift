import ArgumentParser
import Comm
import Foundation
import Performance
import Reports
import Studies

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
    @Option(help: "Batch × layer grids to measure at every P: comma-separated batch-group counts D, P standing for D = P (pure data parallelism), e.g. 1,2,P. D batch groups of P/D ranks each take their share of the batch and compute the hidden stack's gradient (layer-serial with one rank per group, MGRIT on the group's ranks otherwise), then one gradient allreduce over all ranks. D must divide P and be at most --batch (other pairs are skipped). Pure data-parallel points are printed beside the model's prediction (P synchronised copies of the layer-serial passes at the share, run at the same time here, + the allreduce on a ping-pong message model). Default 1: MGRIT over all P ranks alone.")
    var dataGroups: String = "1"

    /// ``dataGroups`` as numbers, 0 for P.
    func dataGroupList() throws -> [Int] {
        try dataGroups.split(separator: ",", omittingEmptySubsequences: false).map { item in
            let t = item.trimmingCharacters(in: .whitespaces)
            if t == "P" || t == "p" { return 0 }
            guard let d = Int(t), d >= 1 else {
                throw ValidationError("--data-groups must be positive integers or P, comma-separated; got '\(t)' in '\(dataGroups)'")
            }
            return d
        }
    }

    func rankList() throws -> [Int] {
        try positiveIntegers(ranks, option: "ranks")
    }

    /// The library's form of these options.
    var settings: ScalingStudySettings {
        ScalingStudySettings(width: width, batch: batch, repeats: repeats, timeout: timeout, eagerLimit: eagerLimit,
                             setup: solver.setup,
                             runArguments: placement.bind ? ["--bind", "--placement", placement.placement.rawValue] : [],
                             json: json, csv: csv, plot: plot)
    }

    /// ``settings`` with the grids, and the data-parallel model when a pure data-parallel grid is asked for
    /// (measures this machine's ping-pong first, under mpirun).
    func gridSettings() throws -> ScalingStudySettings {
        var s = settings
        s.dataGroups = try dataGroupList()
        if s.dataGroups.contains(where: { $0 != 1 }) {
            let model = try DataParallelStepModel(width: width, batch: batch)
            s.dataParallelModel = { try model.seconds(depth: $0, share: $1, ranks: $2) }
        }
        return s
    }

    /// Before any measurement: the result files can be written.
    func checkOutputs() throws {
        try OutputPath.checkFiles([("--json", json), ("--csv", csv), ("--plot", plot)])
    }

    func check() throws {
        _ = try rankList()
        _ = try dataGroupList()
        try NumericCheck.atLeast(1, ["--width": width, "--batch": batch, "--repeats": repeats])
        try NumericCheck.positive(timeout, "--timeout")
        if let eagerLimit, eagerLimit < 0 { throw ValidationError("--eager-limit must be ≥ 0 bytes, got \(eagerLimit)") }
        if plot != nil && json == nil { throw ValidationError("--plot needs --json (the plot reads it)") }
        if Launch.underMPILauncher(ProcessInfo.processInfo.environment) {
            throw ValidationError("start `layerpar scaling strong|weak` without mpirun: it launches `mpirun -np P` itself for every rank count")
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
        try positiveIntegers(depths, option: "depths", rule: "must be positive integers")
    }

    func validate() throws {
        _ = try depthList()
        try study.check()
    }

    func run() throws {
        try study.checkOutputs()
        let ranks = try study.rankList()
        let pairs = try depthList().flatMap { d in ranks.map { (depth: d, ranks: $0) } }
        try ScalingStudy.run(kind: "strong", command: "layerpar scaling strong --depths \(depths) --ranks \(study.ranks)", pairs: pairs, try study.gridSettings(),
                             timeSerial: { try study.placement.withThreadBoundAsOneRank($0) })
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
        try study.checkOutputs()
        let pairs = try study.rankList().map { (depth: layersPerRank * $0, ranks: $0) }
        try ScalingStudy.run(kind: "weak", command: "layerpar scaling weak --layers-per-rank \(layersPerRank) --ranks \(study.ranks)", pairs: pairs, try study.gridSettings(),
                             timeSerial: { try study.placement.withThreadBoundAsOneRank($0) })
    }
}
