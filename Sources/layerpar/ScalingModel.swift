import ArgumentParser
import Comm
import Foundation
import MGRIT
import Reports

/// A performance model of one forward + adjoint MGRIT solve on P ranks.
///
/// Calibration (one rank, this machine): a one-rank solve of the same case gives
/// the iterations (which do not depend on P: the solver is bitwise rank-count
/// invariant) and, per level `l`, the compute time `C_l` of all its steps; the
/// remainder `R` (gradient sweep, bookkeeping) is spread over the ranks.
///
/// On P ranks every level's work divides by the largest share of that level's
/// points one rank owns (block distribution, as the solver does) — but by no
/// more than one interval's share `m/n_l`, because an F-relaxation runs the
/// `m−1` F-points of an interval in order even when they lie on several ranks —
/// except the coarsest level, which is solved by a sequential relay:
///
///     T(P) = Σ_{l<L} C_l·max(f_l(P), m/n_l) + C_L + R/P
///          + Σ_{l≥1} V_l·(4·k_l·τ)  + V_L·(P_L − 1)·τ  + I·⌈log₂P⌉·(α + 8·n₁/β_bw)
///
/// with `f_l(P)` the largest owned fraction of level l, `τ = α + 8wB/β_bw` one
/// boundary-state message (read off the measured ping-pong table when there is
/// one), `V_l` the visits of level l (from the cycle's recursion, times the
/// iterations I of both passes), `k_l = 1` if more than one rank owns points of
/// level l, 4 message rounds per visit (three F-relaxations and the FAS
/// right-hand side), `P_L` the ranks owning coarsest points, and one allreduce of
/// the `n₁` C-point residuals per iteration. Level 0 has 2 rounds per iteration
/// plus one per coarse correction. The serial pass is measured. All compute terms
/// are multiplied by the machine's clock ratio and, with cache scaling, by
/// ``computeScale(ranks:)``.
struct MGRITCostModel: Codable {
    var depth: Int
    var width: Int
    var batch: Int
    var cfactor: Int
    /// How the calibration solved (stopping rule, hierarchy, adjoint storage).
    var setup: ScalingSolverSetup
    var points: [Int]
    /// Compute seconds per level, forward + adjoint, one rank.
    var levelSeconds: [Double]
    var remainderSeconds: Double
    var forwardIterations: Int
    var adjointIterations: Int
    var serialSeconds: Double
    /// The same solve and passes priced from the kernel timings alone (kernel calls ×
    /// seconds per call); nil where the count cannot be priced that way (a coarse step
    /// other than the paper's, or an adjoint that recomputes z).
    var kernelOnlySeconds: Double?
    var serialKernelOnlySeconds: Double
    /// Layer-serial seconds per layer at depth `depth / 2ᵏ` (k = 0, 1, …): how the cost
    /// of a step falls as a rank's share of the layers comes to fit in its caches.
    /// Empty: no cache scaling.
    var serialPerLayerByDepth: [DepthTime] = []
    struct DepthTime: Codable { var depth: Int; var secondsPerLayer: Double }

    /// The calibrated one-rank solve: all levels plus the remainder.
    var oneRankSeconds: Double { levelSeconds.reduce(0, +) + remainderSeconds }

    /// Compute on `p` ranks costs this factor of the one-rank calibration per step:
    /// the layer-serial time per layer at the per-rank depth `depth/p` (rounded up to
    /// the nearest measured depth) over that at the full depth. 1 without the table.
    func computeScale(ranks p: Int) -> Double {
        guard let full = serialPerLayerByDepth.first(where: { $0.depth == depth })?.secondsPerLayer, full > 0 else { return 1 }
        let share = (depth + p - 1) / p
        guard let t = serialPerLayerByDepth.filter({ $0.depth >= share }).min(by: { $0.depth < $1.depth }) else { return 1 }
        return t.secondsPerLayer / full
    }

    /// Largest fraction of level `l`'s points that one of `p` ranks owns.
    func maxOwnedFraction(level l: Int, ranks p: Int) -> (fraction: Double, owners: Int) {
        var stride = 1
        for _ in 0 ..< l { stride *= cfactor }
        let n = depth + 1
        let base = n / p, extra = n % p
        var best = 0, owners = 0
        // Ranks differ only in size (base or base+1) and alignment: evaluate every
        // rank for p ≤ 4096 (cheap), which is all the model is asked for.
        for r in 0 ..< p {
            let lo = r * base + min(r, extra), hi = lo + base + (r < extra ? 1 : 0)   // [lo, hi)
            guard hi > lo else { continue }
            let c = (hi - 1) / stride - (lo + stride - 1) / stride + 1
            if c > 0 { owners += 1; best = max(best, c) }
        }
        return (Double(best) / Double(points[l]), owners)
    }

    /// Visits of each level in one iteration (level 0 once; a V-cycle visits every level once).
    var visitsPerIteration: [Int] {
        let L = points.count - 1
        var v = [Int](repeating: 0, count: points.count)
        v[0] = 1
        guard L >= 1 else { return v }
        if setup.cycle == .V { return [Int](repeating: 1, count: points.count) }
        func vCycle(_ l: Int) { v[l] += 1; if l < L { vCycle(l + 1) } }
        func fCycle(_ l: Int) {
            v[l] += 1
            guard l < L else { return }
            fCycle(l + 1)
            if l + 1 < L { vCycle(l + 1) }
        }
        fCycle(1)
        return v
    }

    /// Predicted seconds on `p` ranks of `machine` (its message times; compute
    /// times scaled by its `timeScale`).
    func predict(ranks p: Int, on machine: ModelMachine) -> Double {
        let L = points.count - 1
        let iters = Double(forwardIterations + adjointIterations)
        let timeScale = machine.timeScale * computeScale(ranks: p)
        let tau = machine.messageSeconds(bytes: 8 * width * batch)
        let visits = visitsPerIteration
        var t = remainderSeconds * timeScale / Double(p)
        for l in 0 ... L {
            let (f, owners) = maxOwnedFraction(level: l, ranks: p)
            if l == L {   // coarsest (with one level, the whole solve): a sequential relay
                t += levelSeconds[l] * timeScale
                t += iters * Double(visits[l]) * Double(max(owners - 1, 0)) * tau
            } else {
                let oneInterval = p > 1 ? min(1, Double(cfactor) / Double(points[l])) : 1
                t += levelSeconds[l] * timeScale * max(f, oneInterval)
                let rounds = l == 0 ? 3.0 : 4.0
                if owners > 1 { t += iters * Double(visits[l]) * rounds * tau }
            }
        }
        if p > 1 {
            let n1 = Double(points.count > 1 ? points[1] : 1)
            t += iters * ceil(log2(Double(p))) * machine.messageSeconds(bytes: 8 * Int(n1))
        }
        return t
    }
}

/// A set of machine parameters for the model.
struct ModelMachine: Codable {
    var name: String
    var latencySeconds: Double
    var bandwidthBytesPerSecond: Double
    /// Multiplies this machine's measured compute times (clock ratio).
    var timeScale: Double
    var source: String
    /// Measured one-way times by message size (ping-pong), sorted by size; within
    /// its range a message's time is read off it (linear between sizes) instead of the fit.
    var pingPong: [CommSelfTest.PingPongRow]? = nil

    /// One-way time of a `bytes`-byte message.
    func messageSeconds(bytes: Int) -> Double {
        if let t = pingPong, let first = t.first, let last = t.last,
           bytes >= first.bytes, bytes <= last.bytes {
            for (a, b) in zip(t, t.dropFirst()) where bytes <= b.bytes {
                if b.bytes == a.bytes { return b.oneWaySeconds }
                let x = Double(bytes - a.bytes) / Double(b.bytes - a.bytes)
                return a.oneWaySeconds + x * (b.oneWaySeconds - a.oneWaySeconds)
            }
            return last.oneWaySeconds
        }
        return latencySeconds + Double(bytes) / bandwidthBytesPerSecond
    }
}

struct ModelCurve: Codable {
    var machine: String
    var kind: String
    var depth: Int
    var ranks: [Int]
    var seconds: [Double]
    var serialSeconds: Double
    var speedup: [Double]
    /// Smallest P with predicted speed-up ≥ 1 (nil: none in range).
    var breakEvenRanks: Int?
}

struct ModelCheck: Codable {
    var depth: Int
    var ranks: Int
    var measuredSeconds: Double
    var predictedSeconds: Double
    var relativeError: Double
}

struct ScalingModelOutput: Codable {
    var command = "layerpar scaling model"
    var version = LayerPar.version
    var width: Int
    var batch: Int
    var setup: ScalingSolverSetup
    /// Seconds per fused-kernel call at width × batch (this machine).
    var kernelTimes: KernelStepTimes
    var machines: [ModelMachine]
    var calibrations: [MGRITCostModel]
    var curves: [ModelCurve]
    var checks: [ModelCheck]
    var notes: [String]
}

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

    func list(_ s: String, _ name: String) throws -> [Int] {
        let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw ValidationError("--\(name) '\(s)' must be positive integers") }
        return v.map { $0! }
    }

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

    /// Clock of this machine in GHz from /proc/cpuinfo (nil if unknown).
    static func clockGHz() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("cpu MHz") {
            if let v = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) { return v / 1000 }
        }
        return nil
    }

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
        return MGRITCostModel(depth: depth, width: width, batch: batch, cfactor: 4, setup: setup, points: m.levels.map(\.points),
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
        var table: [CommSelfTest.PingPongRow]?
        if alpha == nil || bw == nil {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("layerpar-pingpong-\(getpid()).json")
            defer { try? FileManager.default.removeItem(at: file) }
            // The ping-pong runs with the eager limit the scaling runs have (comm-selftest does not set one).
            let limit = eagerLimit ?? Launch.eagerLimit(forMessageBytes: 8 * width * batch)
            try ScalingLauncher.run(ranks: 2, arguments: ["comm-selftest", "--repetitions", "500", "--output", file.path], timeout: 120,
                                    eagerLimit: limit)
            let r = try JSONDecoder().decode(CommSelfTest.Report.self, from: Data(contentsOf: file))
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
