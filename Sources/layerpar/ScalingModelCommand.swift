import ArgumentParser
import Comm
import Foundation
import Performance
import Reports
import Studies

/// `layerpar scaling model`: calibrates ``MGRITCostModel`` here and prints and writes its predictions.
struct ScalingModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Performance model of MGRIT's cycle: predicted strong and weak scaling here and on the paper's cluster.",
        discussion: """
            Calibrates on one rank (iterations and compute time per level of one forward + adjoint solve, \
            the layer-serial time), measures ping-pong latency/bandwidth with `mpirun -np 2 layerpar comm-selftest` \
            (or takes --latency-us/--bandwidth-gbs), and predicts T(P) and S(P) for --depths (strong) and for \
            --weak-ranks × --layers-per-rank (weak), for this machine and for the paper's cluster \
            (2 × Xeon E5-2630 v4 at 2.2 GHz per node; InfiniBand-class latency as a parameter). \
            With --measured FILE (from scaling strong/weak --json) it states the model's error on the measured points \
            (P ≤ cores only) and plots model beside measurement.
            Example: layerpar scaling model --measured strong.json --json model.json --plot model.png
            """)

    @Option(help: "Depths for strong scaling (paper: 20,320,5120).") var depths: String = "20,320,5120"
    @Option(help: "Rank counts for weak scaling (paper: 80…1280).") var weakRanks: String = "80,160,320,640,1280"
    @Option(help: "Layers per rank for weak scaling (paper: 4).") var layersPerRank: Int = 4
    @Option(help: "Largest rank count of the strong-scaling predictions.") var maxRanks: Int = 2048
    @Flag(inversion: .prefixedNo, help: "Scale each rank's compute by the layer-serial time per layer at its share of the depth (measured here at depth/2ᵏ): a rank whose layers fit in its caches steps faster than one holding them all. Off by default: it assumes caches of its own for every rank, which the two ranks here (sharing an L3) do not have.")
    var cacheScaling = false
    @Option(help: "Width.") var width: Int = 16
    @Option(help: "Batch size.") var batch: Int = 64
    @Option(help: "This machine's message latency in µs (default: measured by ping-pong).") var latencyUs: Double?
    @Option(help: "This machine's bandwidth in GB/s (default: measured by ping-pong).") var bandwidthGbs: Double?
    @Option(help: "Open MPI shared-memory eager limit in bytes for the ping-pong, as for scaling strong|weak (default: the boundary-state message plus headers; 0: Open MPI's default).")
    var eagerLimit: Int?
    @Option(help: "Paper cluster: message latency in µs (InfiniBand-class).") var clusterLatencyUs: Double = 1.5
    @Option(help: "Paper cluster: bandwidth in GB/s (FDR InfiniBand ≈ 6).") var clusterBandwidthGbs: Double = 6
    @Option(help: "Paper cluster: compute-time factor relative to this machine (default: this clock / 2.2 GHz, same work per cycle assumed).") var clusterTimeScale: Double?
    @Option(help: "Measured scaling results (JSON of scaling strong|weak) to check the model against; comma-separated.") var measured: String?
    @OptionGroup(title: "Solver (as in scaling strong|weak; a --measured file's points are calibrated with that file's set-up)")
    var solver: ScalingSolverOptions
    @Option(help: "Optimiser steps the layer-parallel set-up needs to the reference loss, over the serial loop's (e.g. `layerpar reproduce oneshot`'s steps to the reference, parallel / serial, median of seeds): adds the break-even of training to the reference loss, the smallest P with S(P) ≥ this ratio.")
    var stepsRatio: Double?
    @Option(help: "Write the model as JSON here.") var json: String?
    @Option(help: "Write the predicted curves as CSV here.") var csv: String?
    @Option(help: "Plot model (and --measured) to this PNG; needs --json.") var plot: String?

    func list(_ s: String, _ name: String) throws -> [Int] { try positiveIntegers(s, option: name, rule: "must be positive integers") }

    func validate() throws {
        _ = try list(depths, "depths")
        _ = try list(weakRanks, "weak-ranks")
        try NumericCheck.atLeast(1, ["--layers-per-rank": layersPerRank, "--max-ranks": maxRanks, "--width": width, "--batch": batch])
        if let eagerLimit, eagerLimit < 0 { throw ValidationError("--eager-limit must be ≥ 0 bytes, got \(eagerLimit)") }
        try NumericCheck.nonNegative(latencyUs, "--latency-us")
        try NumericCheck.positive(bandwidthGbs, "--bandwidth-gbs")
        try NumericCheck.nonNegative(clusterLatencyUs, "--cluster-latency-us")
        try NumericCheck.positive(clusterBandwidthGbs, "--cluster-bandwidth-gbs")
        try NumericCheck.positive(clusterTimeScale, "--cluster-time-scale")
        try NumericCheck.positive(stepsRatio, "--steps-ratio")
        if plot != nil && json == nil { throw ValidationError("--plot needs --json") }
        if Launch.underMPILauncher(ProcessInfo.processInfo.environment) {
            throw ValidationError("start `layerpar scaling model` without mpirun (it runs its ping-pong under mpirun itself)")
        }
    }

    func run() throws {
        try OutputPath.checkFiles([("--json", json), ("--csv", csv), ("--plot", plot)])
        var request = ScalingModelRequest(
            depths: try list(depths, "depths"), weakRanks: try list(weakRanks, "weak-ranks"), layersPerRank: layersPerRank,
            maxRanks: maxRanks, cacheScaling: cacheScaling, width: width, batch: batch, setup: solver.setup,
            latencySeconds: latencyUs.map { $0 * 1e-6 }, bandwidthBytesPerSecond: bandwidthGbs.map { $0 * 1e9 }, eagerLimit: eagerLimit,
            clusterLatencySeconds: clusterLatencyUs * 1e-6, clusterBandwidthBytesPerSecond: clusterBandwidthGbs * 1e9,
            clusterTimeScale: clusterTimeScale,
            measured: try ScalingModelStudy.readMeasured(paths: measured.map { $0.split(separator: ",").map(String.init) } ?? []))
        request.stepsRatio = stepsRatio
        let report = try ScalingModelStudy.run(request)
        for line in report.lines { print(line) }
        if let json { try AtomicFile.writeJSON(report.output, to: json) }
        if let csv { try ScalingModelStudy.writeCSV(report.output, to: csv) }
        if let plot, let json {
            var args = ["--model", json, "--out", plot]
            if let measured { args += ["--measured"] + measured.split(separator: ",").map(String.init) }
            try Plot.run(script: "tools/plots/scaling.py", arguments: args)
        }
    }
}
