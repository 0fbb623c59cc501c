import ArgumentParser
import Comm
import Foundation
import MGRIT
import Reports
import ResNet
import Studies
import Training

extension CoarseStep: ExpressibleByArgument {}

/// `layerpar convergence`: the paper's Figure 1 — residual histories of forward
/// and adjoint MGRIT for ResNets of growing depth (and, with `--width-study`,
/// growing width).
struct Convergence: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "MGRIT convergence of the forward and adjoint passes of deep ResNets (the paper's Figure 1).",
        discussion: """
            For each depth × width, builds the paper's network (β = 0.1, parameters uniform in --init-range, \
            a batch of task-f1 inputs through an opening layer 6 → width, a closing layer width → 1 and the \
            mean-squared loss), runs forward MGRIT and adjoint MGRIT, and reports ‖r_k‖ and ‖r_k‖/‖r_1‖ per iteration, \
            beside the layer-serial pass's own growth (‖x_N‖ forward, ‖λ_0‖ adjoint), the error of the MGRIT result \
            against it and the cost of an iteration (kernel calls and seconds over the serial pass's).
            With --weights the network is a trained run's, interpolated in depth to each of --depths at the trained \
            final time N·β (default depth: the trained one); --final-time T does the same for random networks (β = T/N).
            Example: layerpar convergence --depths 160,640,2560,10240 --json conv.json --csv conv.csv --plot conv.png
            Example: layerpar convergence --weights results/f1 --depths 322,640,2560 --tol 1e-10
            """)

    @Option(help: "Comma-separated depths (hidden layers); with --weights the trained network's depth.") var depths: String = Self.defaultDepths
    static let defaultDepths = "160,640,2560,10240"
    @Option(help: "Comma-separated widths.") var widths: String = "16"
    @Option(help: "Batch size (samples per state).") var batch: Int = 64
    @OptionGroup(title: "MGRIT") var mgrit: MGRITOptionGroup
    @Option(help: "Coarse step over k layers: cPointLayer (the C-point's layer with kβ, the paper), intervalAverage (mean W, b of the k layers with kβ) or secondOrder (mean W, b, two-stage step exact to second order).") var coarseStep: CoarseStep = .cPointLayer
    @Flag(help: "Adjoint keeps the pre-activations zⁿ (N more states) instead of recomputing them (one kernel call per step less).") var storePreactivations = false
    @Option(help: "Stop when ‖r_k‖/‖r_1‖ ≤ this.") var tol: Double = 1e-12
    @Option(help: "Maximum MGRIT iterations per pass.") var maxIter: Int = 30
    @Option(help: "Random seed of parameters and inputs.") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Uniform parameter range LO,HI (paper: 0,1e-3; signed: -0.1,0.1).") var initRange: String = "0,1e-3"
    @Option(help: "Random networks at a fixed final time T: β = T/depth for each depth (default: β = 0.1 at every depth).")
    var finalTime: Double?
    @Option(help: "Study a trained network instead: a run directory of `layerpar train --out` (its checkpoint.lpck) or a checkpoint file, with 6 inputs and 1 output; its hidden layers are interpolated in depth to each of --depths (default: its own depth) with β scaled so that depth·β stays the trained value, and it is fed samples of its task.")
    var weights: String?
    @Flag(help: "Width study instead: depth 40, widths 16,32,64,128,256,512,1000 (overrides --depths/--widths).") var widthStudy = false
    @Option(help: "Write all runs as JSON here.") var json: String?
    @Option(help: "Write one row per run and iteration as CSV here.") var csv: String?
    @Option(help: "Plot log residual vs iteration (needs --json or --csv; matplotlib).") var plot: String?

    func range() throws -> ClosedRange<Double> {
        let p = initRange.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard p.count == 2, let lo = p[0], let hi = p[1], lo.isFinite, hi.isFinite, lo <= hi else {
            throw ValidationError("--init-range '\(initRange)' must be LO,HI with finite LO ≤ HI")
        }
        return lo ... hi
    }

    var options: MGRITOptions {
        mgrit.options(MGRITOptions(relativeTolerance: tol, maxIterations: maxIter))
    }

    /// The trained model of --weights, checked to fit the study (a run-time error: one line naming the file).
    func trainedModel() throws -> TrainedModel? {
        guard let weights else { return nil }
        let m = try TrainedModel.load(path: weights, option: "--weights")
        try TrainedDepthFamily.check(m)
        return m
    }

    func cases(_ model: TrainedModel? = nil) throws -> [(depth: Int, width: Int)] {
        if widthStudy { return [16, 32, 64, 128, 256, 512, 1000].map { (40, $0) } }
        if let model {
            let d = depthsGiven ? try positiveIntegers(depths, option: "depths") : [model.shape.depth]
            return d.map { (depth: $0, width: model.shape.width) }
        }
        let d = try positiveIntegers(depths, option: "depths"), w = try positiveIntegers(widths, option: "widths")
        return w.flatMap { width in d.map { (depth: $0, width: width) } }
    }

    /// Whether --depths differs from its default (with --weights the default is the trained depth).
    var depthsGiven: Bool { depths != Self.defaultDepths }

    func validate() throws {
        if weights != nil {
            for (name, set) in [("--widths", widths != "16"), ("--width-study", widthStudy), ("--init-range", initRange != "0,1e-3"),
                                ("--final-time", finalTime != nil)] where set {
                throw ValidationError("--weights takes the trained network's width, parameters and final time: \(name) does not apply")
            }
        }
        if let t = finalTime, !(t > 0 && t.isFinite) { throw ValidationError("--final-time must be a positive finite number, got \(t)") }
        _ = try cases()
        _ = try range()
        guard batch >= 1 else { throw ValidationError("--batch must be ≥ 1, got \(batch)") }
        try NumericCheck.nonNegative(tol, "--tol")
        // With --weights the width (and the default depth) are the checkpoint's: checked in run().
        if weights == nil {
            do { try checkMemory(cases()) } catch let e as ReportError { throw ValidationError(e.message) }
        }
        do { try options.validate() } catch let e as MGRITError { throw ValidationError(e.description) }
        if plot != nil && json == nil && csv == nil { throw ValidationError("--plot needs --json or --csv to plot from") }
    }

    /// Fine states forward and adjoint with the coarse levels (≈ 3 per layer), the serial
    /// pass's states (1 per layer), and the parameters (twice with --weights: trained and interpolated).
    func checkMemory(_ cases: [(depth: Int, width: Int)]) throws {
        for (depth, width) in cases {
            let m = MemoryEstimate.self
            let bytes = m.sum([m.product([depth &+ 1, width, batch, 4 * 8]), m.product([depth, width, width &+ 1, 8 * 2])])
            try MemoryEstimate.require(bytes, what: "--depths \(depth) with width \(width) and --batch \(batch)")
        }
    }

    func makeCase(depth: Int, width: Int, model: TrainedModel?, range: ClosedRange<Double>) throws -> ConvergenceCase {
        if let model {
            return try ConvergenceCase(weights: model, depth: depth, batch: batch, seed: seed, storePreactivations: storePreactivations)
        }
        var c = ConvergenceCase(depth: depth, width: width, batch: batch, initRange: range, seed: seed, storePreactivations: storePreactivations)
        if let finalTime { c.beta = finalTime / Double(depth) }
        return c
    }

    func run() throws {
        let model = try trainedModel()
        let cases = try cases(model), range = try range(), opts = options
        if model != nil { try checkMemory(cases) }
        try OutputPath.checkFiles([("--json", json), ("--csv", csv), ("--plot", plot)])
        try withWorld { comm in
            var runs: [ConvergenceRun] = []
            let root = comm.rank == 0
            func log(_ s: String) { if root { FileHandle.standardError.write(Data((s + "\n").utf8)) } }
            log("convergence: \(cases.count) networks, \(comm.size) rank(s), \(mgrit.cycle)-cycle \(mgrit.relax) m=\(mgrit.factor) tol=\(tol)")
            for c in cases {
                let r = try ConvergenceStudy.run(makeCase(depth: c.depth, width: c.width, model: model, range: range), options: opts,
                                                coarseStep: coarseStep, comm: comm)
                for x in r {
                    if let stall = x.stall { log("  depth \(x.depth) \(x.pass): \(stall)") }
                    log("  depth \(x.depth) width \(x.width) β \(x.beta) \(x.family) \(x.pass): \(x.iterations) iterations (\(x.stop)), "
                        + "‖r_1‖ = \(fmt(x.residuals.first)), last relative \(fmt(x.relative.last)), "
                        + "to 1e-10: \(x.iterationsTo1e10.map(String.init) ?? "—"), \(String(format: "%.2f", x.seconds)) s, "
                        + "\(x.levels) levels, work/iteration \(String(format: "%.2f", x.stepsPerIterationOverDepth))× serial steps, "
                        + "\(String(format: "%.2f", x.kernelCallsPerIterationOverSerial))× serial kernel calls, "
                        + "memory \(String(format: "%.2f", x.statesOverFineStates))× fine states, "
                        + "serial pass ‖\(x.pass == "forward" ? "x_N" : "λ_0")‖ = \(fmt(x.serialNorm)) (from \(fmt(x.serialStart))), "
                        + "error vs serial \(fmt(x.errorVersusSerial)), \(String(format: "%.2f", x.secondsPerIterationOverSerial))× serial seconds per iteration"
                        + (x.flopsPerIterationOverSerial.map { String(format: ", %.2f× serial flops per iteration", $0) } ?? "")
                        + (x.deltaCorrection ? String(format: ", Delta store %.1f MB, %.2f× serial seconds per iteration in Delta operations",
                                                      x.deltaBytes / 1e6, x.deltaSecondsPerIterationOverSerial) : ""))
                }
                runs += r
            }
            guard root else { return }
            printTable(runs)
            let config: [String: String] = [
                "batch": "\(batch)", "cfactor": "\(mgrit.factor)", "cycle": mgrit.cycle.rawValue, "relax": mgrit.relax.rawValue,
                "sweeps": "\(mgrit.sweeps)", "max_levels": "\(mgrit.maxLevels)", "tol": "\(tol)", "max_iter": "\(maxIter)",
                "seed": "\(seed)", "init_range": weights == nil ? initRange : "", "beta": finalTime == nil && weights == nil ? "0.1" : "T/depth",
                "final_time": finalTime.map { "\($0)" } ?? "", "weights": weights ?? "",
                "stall_iterations": "\(mgrit.stallIterations)", "stall_ratio": "\(mgrit.stallRatio)", "on_stall": mgrit.onStall.rawValue,
                "fine_sweeps": mgrit.fineSweeps.map { "\($0)" } ?? "", "c_relax_weight": "\(mgrit.cRelaxWeight)",
                "fine_c_relax_weight": mgrit.fineCRelaxWeight.map { "\($0)" } ?? "", "coarse_step": coarseStep.rawValue, "skip_first_down": "\(mgrit.skipFirstDown)", "fmg": "\(mgrit.fmg)", "store_preactivations": "\(storePreactivations)",
                "delta_correction": "\(mgrit.deltaCorrection)",
            ]
            if let json { try AtomicFile.writeJSON(ConvergenceOutput(ranks: comm.size, configuration: config, runs: runs), to: json) }
            if let csv {
                var t = CSVTable(columns: ["depth", "width", "batch", "pass", "iteration", "residual", "relative", "beta", "family", "stop",
                                           "delta_correction", "seconds", "seconds_per_iteration_over_serial", "kernel_calls_per_iteration_over_serial",
                                           "flops_per_iteration_over_serial", "delta_bytes", "delta_seconds_per_iteration_over_serial"])
                for r in runs {
                    for (k, v) in r.residuals.enumerated() {
                        try t.append([.int(r.depth), .int(r.width), .int(r.batch), .text(r.pass), .int(k + 1), .double(v), .double(r.relative[k]),
                                      .double(r.beta), .text(r.family), .text(r.stop), .text("\(r.deltaCorrection)"), .double(r.seconds),
                                      .double(r.secondsPerIterationOverSerial), .double(r.kernelCallsPerIterationOverSerial),
                                      r.flopsPerIterationOverSerial.map { .double($0) } ?? .text(""), .double(r.deltaBytes),
                                      .double(r.deltaSecondsPerIterationOverSerial)])
                    }
                }
                try t.write(to: csv)
            }
            if let plot {
                var args = [plot]
                if let json { args += ["--json", json] } else if let csv { args += ["--csv", csv] }
                let net = weights.map { "weights \($0)" } ?? "init [\(initRange)]" + (finalTime.map { ", T=\($0)" } ?? "")
                args += ["--title", "MGRIT \(mgrit.cycle)-cycle \(mgrit.relax), m=\(mgrit.factor), \(net), coarse \(coarseStep.rawValue)"]
                try Plot.run(script: "tools/plots/convergence.py", arguments: args)
            }
        }
    }

    private func fmt(_ v: Double?) -> String { v.map { String(format: "%.3e", $0) } ?? "—" }

    private func printTable(_ runs: [ConvergenceRun]) {
        func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        print([pad("depth", 6), pad("width", 6), pad("β", 9), pad("pass", 8), pad("iters", 6), pad("stop", 10), pad("to1e-10", 8), pad("‖r_1‖", 10),
               pad("final rel", 10), pad("levels", 7), pad("work/it", 8), pad("calls/it", 9), pad("flops/it", 9), pad("time/it", 8), pad("Δ time/it", 9),
               pad("memory", 7), pad("Δ MB", 7), pad("seconds", 8),
               pad("serial ‖x_N‖|‖λ_0‖", 19), pad("err/serial", 10)].joined(separator: " "))
        for r in runs {
            print([pad("\(r.depth)", 6), pad("\(r.width)", 6), pad(String(format: "%.3g", r.beta), 9), pad(r.pass, 8), pad("\(r.iterations)", 6), pad(r.stop, 10),
                   pad(r.iterationsTo1e10.map(String.init) ?? "—", 8), pad(fmt(r.residuals.first), 10),
                   pad(fmt(r.relative.last), 10), pad("\(r.levels)", 7),
                   pad(String(format: "%.2f", r.stepsPerIterationOverDepth), 8),
                   pad(String(format: "%.2f", r.kernelCallsPerIterationOverSerial), 9),
                   pad(r.flopsPerIterationOverSerial.map { String(format: "%.2f", $0) } ?? "—", 9),
                   pad(String(format: "%.2f", r.secondsPerIterationOverSerial), 8),
                   pad(r.deltaCorrection ? String(format: "%.2f", r.deltaSecondsPerIterationOverSerial) : "—", 9),
                   pad(String(format: "%.2f", r.statesOverFineStates), 7), pad(r.deltaCorrection ? String(format: "%.1f", r.deltaBytes / 1e6) : "—", 7),
                   pad(String(format: "%.2f", r.seconds), 8),
                   pad(fmt(r.serialNorm), 19), pad(fmt(r.errorVersusSerial), 10)].joined(separator: " "))
        }
    }
}
