import ArgumentParser
import Comm
import Foundation
import Performance
import Reports
import Studies

/// `layerpar scaling advise`: which batch × layer grid trains fastest (``DataParallelModel``).
struct ScalingAdvise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "advise",
        abstract: "Predicted time per training step of every D × L grid of P ranks (data-parallel, layer-parallel, 2-D), and the best.",
        discussion: """
            For each --depth, --batch and --ranks: every D batch groups × L layer groups with D·L = P and a share \
            ⌈B/D⌉ ≥ 1. A step is the group's passes, the gradient's reduction and the optimiser update. The \
            passes: layer-serial at the share (L = 1; measured here, on this machine as min(D, cores) concurrent \
            copies sharing its cores, median step) or the MGRIT cost model on L ranks calibrated at the share (as \
            scaling model). The reduction: one allreduce of the gradient over all P ranks — on 2 ranks of this \
            machine its measured median (mpirun -np 2 layerpar comm-selftest), else a ring on the machine's \
            message model (ping-pong here; --cluster: the paper's cluster, as scaling model). The update: Adam \
            on every parameter, on every rank (timed here). The one-rank baseline is the layer-serial passes at \
            the full batch plus the update. Calibrates on one rank; start it without mpirun.
            Example: layerpar scaling advise --depth 50,322,5120 --batch 16,64,256 --ranks 16,64,256 --cluster
            """)

    @Option(help: "Hidden layers (comma-separated list).") var depth: String
    @Option(help: "Mini-batch size B (comma-separated list).") var batch: String
    @Option(help: "Rank count P (comma-separated list).") var ranks: String
    @Flag(help: "Predict for the paper's cluster (2 × E5-2630 v4 nodes) instead of this machine.") var cluster = false
    @Option(help: "Width.") var width: Int = 16
    @Option(help: "This machine's message latency in µs (default: measured by ping-pong).") var latencyUs: Double?
    @Option(help: "This machine's bandwidth in GB/s (default: measured by ping-pong).") var bandwidthGbs: Double?
    @Option(help: "Paper cluster: message latency in µs.") var clusterLatencyUs: Double = 1.5
    @Option(help: "Paper cluster: bandwidth in GB/s.") var clusterBandwidthGbs: Double = 6
    @OptionGroup(title: "Solver of the layer-parallel groups (as in scaling model)") var solver: ScalingSolverOptions
    @Option(help: "Write every prediction as JSON here.") var json: String?

    func list(_ s: String, _ name: String) throws -> [Int] { try positiveIntegers(s, option: name, rule: "must be positive integers") }

    func validate() throws {
        _ = try list(depth, "depth"); _ = try list(batch, "batch"); _ = try list(ranks, "ranks")
        try NumericCheck.atLeast(1, ["--width": width])
        if Launch.underMPILauncher(ProcessInfo.processInfo.environment) {
            throw ValidationError("start `layerpar scaling advise` without mpirun (it runs its ping-pong under mpirun itself)")
        }
    }

    func run() throws {
        let depths = try list(depth, "depth")
        var request = ScalingModelRequest(
            depths: [], weakRanks: [], layersPerRank: 1, maxRanks: 1, cacheScaling: false, width: width, batch: 64, setup: solver.setup,
            latencySeconds: cluster ? 1e-6 : latencyUs.map { $0 * 1e-6 }, bandwidthBytesPerSecond: cluster ? 1e9 : bandwidthGbs.map { $0 * 1e9 },
            eagerLimit: nil, clusterLatencySeconds: clusterLatencyUs * 1e-6, clusterBandwidthBytesPerSecond: clusterBandwidthGbs * 1e9,
            clusterTimeScale: nil, measured: [])
        // On this machine the ping-pong run also times the allreduce of each depth's gradient on 2 ranks.
        if !cluster { request.gradientLengths = depths.map { DataParallelModel.reducedLength(depth: $0, width: width) } }
        let machines = try ScalingModelStudy.machines(request)
        let machine = machines[cluster ? 1 : 0]
        print("machine: \(machine.name); latency \(String(format: "%.2f", machine.latencySeconds * 1e6)) µs, bandwidth \(String(format: "%.2f", machine.bandwidthBytesPerSecond / 1e9)) GB/s, compute × \(String(format: "%.3f", machine.timeScale)) (\(machine.source))")
        let calibrations = try DataParallelModel.Calibrations(width: width, setup: solver.setup)
        var all: [GridAdvice] = []
        let cores = cluster ? 1 : ProcessInfo.processInfo.activeProcessorCount
        for d in depths {
            for b in try list(batch, "batch") {
                for p in try list(ranks, "ranks") {
                    let advice = try DataParallelModel.advise(depth: d, batch: b, ranks: p, on: machine, sharedCores: cores,
                                                                calibrations: calibrations)
                    DataParallelModel.lines(advice).forEach { print($0) }
                    all.append(advice)
                }
            }
        }
        DataParallelModel.crossoverLines(all).forEach { print($0) }
        if let json { try AtomicFile.writeJSON(all, to: json) }
    }
}
