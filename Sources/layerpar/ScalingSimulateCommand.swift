import ArgumentParser
import Comm
import Foundation
import Performance
import Reports
import Studies

/// `layerpar scaling simulate`: the real solver's schedule replayed in SimGrid.
struct ScalingSimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay the real MGRIT schedule on P ranks in SimGrid on a platform (e.g. the paper's cluster), beside the analytic model.",
        discussion: """
            For every depth, calibrates one forward + adjoint solve on one rank here (compute per step and level, \
            iterations, residuals), runs the real MGRIT solver's control flow on P in-process ranks over a problem \
            that records each step's cost, writes each rank's SimGrid time-independent trace, and replays it with \
            `smpirun -replay` on --platform (ranks fill each host's cores in order). Prints and writes T(P), \
            S(P) = T_serial/T(P), efficiency, the per-level compute/communication split of the replay and the \
            analytic model (`scaling model`) from the same calibration on the platform's latency, bandwidth and clock. \
            --validate measures T(1), T(2) here (as `scaling strong`) and replays them on this machine's platform \
            (written from `mpirun -np 2 layerpar comm-selftest`'s ping-pong). Platforms: platforms/meggie.xml \
            (the paper's cluster), or one written by --validate --trace-dir DIR (DIR/this-machine.xml). \
            Example: layerpar scaling simulate --platform platforms/meggie.xml --depths 5120 --ranks 1,16,128,1280 --json sim.json
            """)

    @Option(help: "SimGrid platform file to replay on (needs <prop id=\"layerpar-latency\"> and <prop id=\"layerpar-bandwidth\">; default with --validate: this machine's).")
    var platform: String?
    @Option(help: "Depths for strong scaling.") var depths: String = "20,320,5120"
    @Option(help: "Rank counts for strong scaling (each ≤ depth + 1 and ≤ the platform's cores; larger ones are left out).")
    var ranks: String = "1,2,4,8,16,32,64,128,256,512,1024,2048"
    @Option(help: "Rank counts for weak scaling (depth = --layers-per-rank × P); empty: none.") var weakRanks: String = ""
    @Option(help: "Layers per rank for weak scaling.") var layersPerRank: Int = 4
    @Flag(name: .customLong("validate"), help: "Measure T(1) and T(2) here for --depths and compare with their replay on this machine's platform (\"validation\" in the JSON).")
    var validateHere = false
    @Option(help: "With --validate: rounds of (one-rank calibration, T(1), T(2)) interleaved; the fastest of each is kept.")
    var validationRounds: Int = 3
    @Option(help: "Width.") var width: Int = 16
    @Option(help: "Batch size.") var batch: Int = 64
    @Option(help: "Repeats of the calibration and of measured runs (fastest kept).") var repeats: Int = 5
    @Option(help: "Keep the traces (and with --validate this machine's platform file) in this folder.") var traceDir: String?
    @Option(help: "Open MPI shared-memory eager limit for --validate's runs and ping-pong (default: the boundary state plus headers; 0: Open MPI's default).")
    var eagerLimit: Int?
    @OptionGroup(title: "Solver (the paper's set-up by default)") var solver: ScalingSolverOptions
    @Option(help: "Write the results as JSON here.") var json: String?
    @Option(help: "Write the results as CSV here (one row per point and level).") var csv: String?
    @Option(help: "Plot replay beside model to this PNG; needs --json.") var plot: String?

    func validate() throws {
        _ = try positiveIntegers(depths, option: "depths")
        _ = try positiveIntegers(ranks, option: "ranks")
        if !weakRanks.isEmpty { _ = try positiveIntegers(weakRanks, option: "weak-ranks") }
        try NumericCheck.atLeast(1, ["--layers-per-rank": layersPerRank, "--width": width, "--batch": batch, "--repeats": repeats,
                                     "--validation-rounds": validationRounds])
        if let eagerLimit, eagerLimit < 0 { throw ValidationError("--eager-limit must be ≥ 0 bytes, got \(eagerLimit)") }
        if platform == nil && !validateHere { throw ValidationError("--platform FILE is needed (or --validate, which replays on this machine's platform)") }
        if let platform, !FileManager.default.isReadableFile(atPath: platform) {
            throw ValidationError("--platform: cannot read '\(platform)'")
        }
        if plot != nil && json == nil { throw ValidationError("--plot needs --json") }
        if Launch.underMPILauncher(ProcessInfo.processInfo.environment) {
            throw ValidationError("start `layerpar scaling simulate` without mpirun (it runs every simulated rank in this process)")
        }
    }

    func run() throws {
        var request = SimulateRequest(
            depths: try positiveIntegers(depths, option: "depths"), ranks: try positiveIntegers(ranks, option: "ranks"),
            weakRanks: weakRanks.isEmpty ? [] : try positiveIntegers(weakRanks, option: "weak-ranks"), layersPerRank: layersPerRank,
            platform: platform, validate: validateHere, width: width, batch: batch, setup: solver.setup, repeats: repeats,
            traceDirectory: traceDir, eagerLimit: eagerLimit)
        request.validationRounds = validationRounds
        let report = try SimulateStudy.run(request, command: CommandLine.arguments.joined(separator: " "))
        for line in report.lines { print(line) }
        if let json { try AtomicFile.writeJSON(report.output, to: json) }
        if let csv { try SimulateStudy.writeCSV(report.output, to: csv) }
        if let plot, let json { try Plot.run(script: "tools/plots/simulate.py", arguments: ["--results", json, "--out", plot]) }
    }
}
