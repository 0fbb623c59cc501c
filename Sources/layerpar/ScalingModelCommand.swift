import ArgumentParser
import Comm
import Foundation
import MGRIT
import Performance
import Reports
import Studies
import Topology

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
    @Option(help: "Write the model as JSON here.") var json: String?
    @Option(help: "Write the predicted curves as CSV here.") var csv: String?
    @Option(help: "Plot model (and --measured) to this PNG; needs --json.") var plot: String?

    func list(_ s: String, _ name: String) throws -> [Int] { try positiveIntegers(s, option: name, rule: "must be positive integers") }

    func validate() throws {
        _ = try list(depths, "depths")
        _ = try list(weakRanks, "weak-ranks")
        guard layersPerRank >= 1, maxRanks >= 1, width >= 1, batch >= 1 else {
            throw ValidationError("--layers-per-rank, --max-ranks, --width and --batch must be ≥ 1")
        }
        if let eagerLimit, eagerLimit < 0 { throw ValidationError("--eager-limit must be ≥ 0 bytes, got \(eagerLimit)") }
        if plot != nil && json == nil { throw ValidationError("--plot needs --json") }
        if Launch.underMPILauncher(ProcessInfo.processInfo.environment) {
            throw ValidationError("start `layerpar scaling model` without mpirun (it runs its ping-pong under mpirun itself)")
        }
    }

    /// Clock of this machine in GHz as /proc/cpuinfo reports it (nil if unknown).
    static func clockGHz() -> Double? { CPUInfo.thisMachine().reportedMHz.map { $0 / 1000 } }

    func calibrate(depth: Int, setup: ScalingSolverSetup, kernels: KernelStepTimes) throws -> MGRITCostModel {
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
                              serialSeconds: try timeLayerSerial(c, repeats: 5),
                              kernelOnlySeconds: kernelOnly, serialKernelOnlySeconds: kernels.serialSeconds(depth: depth),
                              serialPerLayerByDepth: perLayer)
    }

    /// The `--measured` studies, read before any calibration so a bad path fails at once.
    func measuredStudies() throws -> [ScalingStudyOutput] {
        guard let measured else { return [] }
        return try measured.split(separator: ",").map(String.init).map { path in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("--measured: cannot read '\(path)' (no such file, or not readable)")
            }
            do { return try JSONDecoder().decode(ScalingStudyOutput.self, from: data) } catch {
                throw ValidationError("--measured: '\(path)' is not the JSON of `layerpar scaling strong|weak --json` (this version): \(error)")
            }
        }
    }

    func run() throws {
        let studies = try measuredStudies()
        var notes: [String] = []
        // Ping-pong on this machine.
        var alpha = latencyUs.map { $0 * 1e-6 }, bw = bandwidthGbs.map { $0 * 1e9 }
        var source = "given"
        var table: [PingPongRow]?
        if alpha == nil || bw == nil {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-pingpong-\(getpid()).json")
            defer { try? FileManager.default.removeItem(at: file) }
            // The ping-pong runs with the eager limit the scaling runs have (comm-selftest does not set one).
            let limit = eagerLimit ?? Launch.eagerLimit(forMessageBytes: 8 * width * batch)
            try ScalingLauncher.run(ranks: 2, arguments: ["comm-selftest", "--repetitions", "500", "--output", file.path], timeout: 120,
                                    eagerLimit: limit)
            let r = try JSONDecoder().decode(CommCheckReport.self, from: Data(contentsOf: file))
            guard let fit = r.pingPong else { throw ValidationError("the ping-pong of `layerpar comm-selftest` on 2 ranks reported nothing") }
            if alpha == nil && bw == nil {
                table = fit.table.sorted { $0.bytes < $1.bytes }
                source = "ping-pong, mpirun -np 2 layerpar comm-selftest, eager limit \(limit.map { "\($0 == 0 ? 4096 : $0) B" } ?? "4096 B (Open MPI's default)") (message times read off its table)"
            } else {
                source = "ping-pong, mpirun -np 2 layerpar comm-selftest, and given values"
            }
            alpha = alpha ?? fit.latencySeconds
            bw = bw ?? fit.bandwidthBytesPerSecond
        }
        let clock = Self.clockGHz()
        let scale = clusterTimeScale ?? (clock.map { $0 / 2.2 } ?? 1)
        let machines = [
            ModelMachine(name: "this machine", latencySeconds: alpha!, bandwidthBytesPerSecond: bw!, timeScale: 1, source: source,
                         pingPong: table),
            ModelMachine(name: "paper cluster (2x E5-2630 v4, 2.2 GHz)", latencySeconds: clusterLatencyUs * 1e-6,
                         bandwidthBytesPerSecond: clusterBandwidthGbs * 1e9, timeScale: scale,
                         source: clusterTimeScale != nil ? "given" : "compute × (this clock \(clock.map { String(format: "%.2f", $0) } ?? "?") GHz / 2.2 GHz)"),
        ]
        let strongDepths = try list(depths, "depths")
        let weak = try list(weakRanks, "weak-ranks")
        let setup = solver.setup
        let kernels = try KernelStepTimes.measure(width: width, batch: batch)
        var calibrations: [Int: MGRITCostModel] = [:]
        for d in Set(strongDepths + weak.map { $0 * layersPerRank }).sorted() {
            calibrations[d] = try calibrate(depth: d, setup: setup, kernels: kernels)
        }

        var curves: [ModelCurve] = []
        for machine in machines {
            for d in strongDepths {
                let model = calibrations[d]!
                var ranks: [Int] = []
                var p = 1
                while p <= min(maxRanks, d + 1) { ranks.append(p); p *= 2 }
                let t = ranks.map { model.predict(ranks: $0, on: machine) }
                let serial = model.serialSeconds * machine.timeScale
                let s = t.map { serial / $0 }
                curves.append(ModelCurve(machine: machine.name, kind: "strong", depth: d, ranks: ranks, seconds: t,
                                         serialSeconds: serial, speedup: s, breakEvenRanks: zip(ranks, s).first { $0.1 >= 1 }?.0))
            }
            let t = weak.map { p in calibrations[p * layersPerRank]!.predict(ranks: p, on: machine) }
            let serial = weak.map { calibrations[$0 * layersPerRank]!.serialSeconds * machine.timeScale }
            curves.append(ModelCurve(machine: machine.name, kind: "weak", depth: layersPerRank, ranks: weak, seconds: t,
                                     serialSeconds: serial.last ?? 0, speedup: zip(serial, t).map { $0 / $1 }, breakEvenRanks: nil))
        }

        // Check against measurements (P ≤ cores only).
        var checks: [ModelCheck] = []
        var checkCalibrations: [ScalingSolverSetup: [Int: MGRITCostModel]] = [setup: calibrations]
        for out in studies {
            for pt in out.points where !pt.measurement.oversubscribed {
                let m = pt.measurement
                let model = try checkCalibrations[out.setup]?[m.depth] ?? calibrate(depth: m.depth, setup: out.setup, kernels: kernels)
                checkCalibrations[out.setup, default: [:]][m.depth] = model
                let pred = model.predict(ranks: m.ranks, on: machines[0])
                checks.append(ModelCheck(depth: m.depth, ranks: m.ranks, measuredSeconds: m.seconds,
                                         predictedSeconds: pred, relativeError: (pred - m.seconds) / m.seconds))
            }
        }
        let ratios = calibrations.values.map { $0.oneRankSeconds / $0.serialSeconds }
        if let lo = ratios.min(), let hi = ratios.max() {
            notes.append(String(format: "One-rank MGRIT costs w = %.1f–%.1f × the layer-serial passes; with T(P) ≥ T(1)/P (no superlinear speed-up, e.g. from a rank's layers fitting in its caches: --cache-scaling), S(P) ≤ P/w: break-even needs P ≥ w, whatever the network.", lo, hi))
        }
        notes.append("Iterations per pass are measured on one rank and hold for every P (the solver is rank-count invariant).")
        notes.append("Compute per level is this machine's one-rank time; the cluster's is scaled by \(String(format: "%.3f", scale)).")

        print("MGRIT performance model: width \(width), batch \(batch), \(setup.summary)")
        print(String(format: "  kernels at %d×%d: forward %.2f µs (keeping z %.2f µs), adjoint %.2f µs (with gradient %.2f µs) per call",
                     width, batch, kernels.forward * 1e6, kernels.forwardKeepingZ * 1e6, kernels.adjoint * 1e6,
                     kernels.adjointWithGradient * 1e6))
        for m in machines {
            print(String(format: "  %@: latency %.2f µs, bandwidth %.2f GB/s, compute × %.3f (%@)", m.name,
                         m.latencySeconds * 1e6, m.bandwidthBytesPerSecond / 1e9, m.timeScale, m.source))
        }
        for (d, c) in calibrations.sorted(by: { $0.key < $1.key }) {
            print(String(format: "  depth %5d: iterations %d/%d, levels %d, one-rank MGRIT %.4f s, serial %.5f s (work ratio %.1f)",
                         d, c.forwardIterations, c.adjointIterations, c.points.count,
                         c.oneRankSeconds, c.serialSeconds, c.oneRankSeconds / c.serialSeconds))
            if let k = c.kernelOnlySeconds {
                print(String(format: "      kernels alone: MGRIT %.4f s (%.0f %% of it), serial %.5f s (%.0f %%), kernel work ratio %.1f",
                             k, 100 * k / c.oneRankSeconds, c.serialKernelOnlySeconds, 100 * c.serialKernelOnlySeconds / c.serialSeconds,
                             k / c.serialKernelOnlySeconds))
            }
        }
        for curve in curves {
            if curve.kind == "strong" {
                let cells = zip(curve.ranks, curve.speedup).map { String(format: "%d:%.2f", $0.0, $0.1) }.joined(separator: " ")
                print("  strong \(curve.machine), depth \(curve.depth): S(P) \(cells); break-even P = \(curve.breakEvenRanks.map(String.init) ?? "none ≤ \(curve.ranks.last!)")")
            } else {
                let cells = zip(curve.ranks, curve.seconds).map { String(format: "%d:%.4fs", $0.0, $0.1) }.joined(separator: " ")
                print("  weak \(curve.machine), \(layersPerRank) layers/rank: T(P) \(cells)")
            }
        }
        for n in notes { print("  note: \(n)") }
        for c in checks {
            print(String(format: "  check depth %d P=%d: measured %.4f s, model %.4f s, error %+.1f%%",
                         c.depth, c.ranks, c.measuredSeconds, c.predictedSeconds, 100 * c.relativeError))
        }
        let out = ScalingModelOutput(width: width, batch: batch, setup: setup, kernelTimes: kernels, machines: machines,
                                     calibrations: checkCalibrations.values.flatMap(\.values).sorted { ($0.depth, $0.setup.minCoarse) < ($1.depth, $1.setup.minCoarse) },
                                     curves: curves, checks: checks, notes: notes)
        if let json { try AtomicFile.writeJSON(out, to: json) }
        if let csv {
            var t = CSVTable(columns: ["machine", "kind", "depth_or_layers_per_rank", "ranks", "seconds", "speedup"])
            for c in curves { for i in c.ranks.indices {
                try t.append([.text(c.machine), .text(c.kind), .int(c.depth), .int(c.ranks[i]), .double(c.seconds[i]), .double(c.speedup[i])])
            } }
            try t.write(to: csv)
        }
        if let plot, let json {
            var args = ["--model", json, "--out", plot]
            if let measured { args += ["--measured"] + measured.split(separator: ",").map(String.init) }
            try Plot.run(script: "tools/plots/scaling.py", arguments: args)
        }
    }
}
