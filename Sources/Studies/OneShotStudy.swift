import Foundation
import MGRIT
import Reports
import ResNet
import Training

/// One training set-up of `layerpar reproduce oneshot`: layer-serial, or a
/// one-shot layer-parallel configuration (tolerances or fixed iterations, warm
/// starts, the solver's relaxation and hierarchy).
public struct OneShotVariant: Codable, Sendable, Equatable {
    public var name: String
    /// What the set-up is, for the tables.
    public var description: String
    public var mode: TrainingMode
    /// Exact MGRIT iterations per step (nil: solve to the paper's tolerances, at most 10).
    public var forwardIterations: Int?
    public var backwardIterations: Int?
    /// The forward tolerance and cap when the forward solve is not a fixed count (nil: the paper's).
    public var forwardTolerance: Double?
    public var maxForwardIterations: Int?
    public var warmStart: WarmStartPolicy
    public var solver: SolverSettings
    /// A noise-matched serial control: layer-serial training with uniform noise of the size
    /// of the MGRIT error this parallel set-up's run of the same task and seed measured
    /// (``NoiseMatch``). nil for the other set-ups.
    public var noiseMatchedTo: String?

    public init(name: String, description: String, mode: TrainingMode = .parallel, forwardIterations: Int? = nil,
                backwardIterations: Int? = nil, forwardTolerance: Double? = nil, maxForwardIterations: Int? = nil,
                warmStart: WarmStartPolicy = .example, solver: SolverSettings = SolverSettings(), noiseMatchedTo: String? = nil) {
        self.name = name
        self.description = description
        self.mode = mode
        self.forwardIterations = forwardIterations
        self.backwardIterations = backwardIterations
        self.forwardTolerance = forwardTolerance
        self.maxForwardIterations = maxForwardIterations
        self.warmStart = warmStart
        self.solver = solver
        self.noiseMatchedTo = noiseMatchedTo
    }

    public static let noiseMatchedPrefix = "noise-matched-"

    /// `noise-matched-V`: the serial control of the parallel set-up `V` (nil if `V` is not one).
    public static func noiseMatched(_ name: String) -> OneShotVariant? {
        guard name.hasPrefix(noiseMatchedPrefix) else { return nil }
        let base = String(name.dropFirst(noiseMatchedPrefix.count))
        guard standard.contains(where: { $0.name == base && $0.mode == .parallel }) else { return nil }
        return OneShotVariant(name: name, description: "layer-serial with uniform noise on every hidden state and adjoint of the size (√3 × median RMS) of the MGRIT error \(base) measured",
                              mode: .serial, noiseMatchedTo: base)
    }

    /// `base` (a serial configuration with the paper's tolerances) run this way.
    public func apply(to base: TrainingConfiguration) -> TrainingConfiguration {
        var c = base
        c.mode = mode
        guard mode == .parallel else { return c }
        c.warmStart = warmStart
        c.solver = solver
        if let t = forwardTolerance { c.tolForward = t }
        if let k = maxForwardIterations { c.maxForwardIterations = k }
        if let k = forwardIterations { c.tolForward = 0; c.maxForwardIterations = k }
        if let k = backwardIterations { c.tolBackward = 0; c.maxBackwardIterations = k }
        return c
    }

    static func fineF(coarsening: Int? = nil) -> SolverSettings {
        var s = SolverSettings()
        s.fineRelaxation = .F
        s.fineCoarsening = coarsening
        return s
    }

    /// The set-up `train --preset p` runs with no other solver flag: its iteration counts or
    /// forward tolerance, fine level, coarse step and warm start, taken from the preset itself.
    static func preset(_ p: SolverPreset, name: String, description: String, coarseStep: CoarseStep = .cPointLayer) -> OneShotVariant {
        var s = p.fillingFineLevel(of: SolverSettings())
        s.coarseStep = coarseStep
        return OneShotVariant(name: name, description: description, forwardIterations: p.fixedIterations.forward,
                              backwardIterations: p.fixedIterations.backward, forwardTolerance: p.forwardTolerance,
                              maxForwardIterations: p.maxForwardIterations, warmStart: p.warmStart, solver: s)
    }

    /// The set-ups of the study: the serial baseline, the paper's tolerances,
    /// torchbraid's 2/1 with and without per-example warm starts, 2/1 with
    /// F-relaxation on the fine level (LayerParallelLearning's `nrelax0 = 0`), also
    /// with a fine coarsening factor of 16 (train's `--preset oneshot`), with it the forward
    /// solve to an absolute residual of 1 and 1 adjoint iteration (`--preset adaptive`, train's
    /// default), also with the second-order coarse step, and 1/1 fine F.
    public static let standard: [OneShotVariant] = [
        OneShotVariant(name: "serial", description: "layer-serial (exact passes)", mode: .serial),
        OneShotVariant(name: "paper", description: "tolerances (1e-8/1e-8 f1, 1e-4/1e-6 f2), FCF, per-example warm starts"),
        OneShotVariant(name: "2-1-example", description: "2 forward / 1 adjoint iterations, FCF, per-example warm starts",
                       forwardIterations: 2, backwardIterations: 1),
        OneShotVariant(name: "2-1-none", description: "2 forward / 1 adjoint iterations, FCF, no warm start",
                       forwardIterations: 2, backwardIterations: 1, warmStart: .none),
        OneShotVariant(name: "2-1-fineF-none", description: "2 / 1 iterations, F-relaxation on the fine level, no warm start",
                       forwardIterations: 2, backwardIterations: 1, warmStart: .none, solver: fineF()),
        .preset(.oneshot, name: "2-1-fineF16-none",
                description: "2 / 1 iterations, F-relaxation on a fine level coarsened by 16, no warm start (train --preset oneshot)"),
        .preset(.adaptive, name: "tol1-1-fineF16-none",
                description: "forward to an absolute residual of 1 (at most 5 iterations) / 1 adjoint iteration, F-relaxation on a fine level coarsened by 16, no warm start (train --preset adaptive, the default)"),
        .preset(.adaptive, name: "tol1-1-fineF16-so-none",
                description: "tol1-1-fineF16-none with the second-order coarse step (train --preset adaptive --coarse-step secondOrder)",
                coarseStep: .secondOrder),
        OneShotVariant(name: "1-1-fineF-example", description: "1 / 1 iterations, F-relaxation on the fine level, per-example warm starts",
                       forwardIterations: 1, backwardIterations: 1, solver: fineF()),
    ]
}

/// The noise of a noise-matched control, from the parallel run it imitates: the medians
/// over the measured steps of `history.csv`'s `forward_state_error` and `adjoint_error`
/// (RMS differences from exact passes, ``SolveError``) and the uniform noise magnitudes
/// c = √3 · median, whose noise has that RMS.
public struct NoiseMatch: Codable, Sendable, Equatable {
    public var measuredSteps: Int
    public var forwardRMS: Double
    public var adjointRMS: Double
    public var noiseForward: Double { 3.0.squareRoot() * forwardRMS }
    public var noiseBackward: Double { 3.0.squareRoot() * adjointRMS }

    /// Reads `path` (a `layerpar train` history with the error columns).
    public static func read(history path: String) throws -> NoiseMatch {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StudyError("cannot read \(path) for the noise-matched control")
        }
        let lines = text.split(separator: "\n")
        guard let header = lines.first?.split(separator: ",", omittingEmptySubsequences: false).map(String.init),
              let fi = header.firstIndex(of: "forward_state_error"), let ai = header.firstIndex(of: "adjoint_error") else {
            throw StudyError("\(path) has no forward_state_error/adjoint_error columns (train with --measure-error-every)")
        }
        var f: [Double?] = [], a: [Double?] = []
        for line in lines.dropFirst() {
            let v = line.split(separator: ",", omittingEmptySubsequences: false)
            guard v.count == header.count, let x = Double(v[fi]), let y = Double(v[ai]) else { continue }
            f.append(x); a.append(y)
        }
        guard let mf = Median.of(f), let ma = Median.of(a) else {
            throw StudyError("\(path) records no measured MGRIT error (no step of the run was measured)")
        }
        return NoiseMatch(measuredSteps: f.count, forwardRMS: mf, adjointRMS: ma)
    }
}

/// One run of the study and where it wrote its files.
public struct OneShotRun: Codable {
    public var task: String
    public var variant: String
    public var seed: UInt64
    public var ranks: Int
    public var summary: RunSummary?
    public var error: String?
    public var directory: String
    /// A noise-matched control's noise and where it was measured.
    public var noise: NoiseMatch?

    public init(task: String, variant: String, seed: UInt64, ranks: Int, summary: RunSummary?, error: String?, directory: String,
                noise: NoiseMatch? = nil) {
        self.task = task
        self.variant = variant
        self.seed = seed
        self.ranks = ranks
        self.summary = summary
        self.error = error
        self.directory = directory
        self.noise = noise
    }
}

/// The tables and the figure of `layerpar reproduce oneshot`: for each task and
/// set-up, optimiser steps, training time and CPU time to the reference loss,
/// the cost per step, and the work ratios against the serial run of the same
/// seed — W (to the reference loss) and w (per step), each the median over seeds
/// of the per-seed ratio.
public struct OneShotReport {
    public var out: String
    public var variants: [OneShotVariant]

    public init(out: String, variants: [OneShotVariant]) {
        self.out = out
        self.variants = variants
    }

    public struct Row: Codable {
        public var task: String
        public var variant: String
        public var ranks: Int
        public var seeds: [UInt64]
        public var stepsToReference: [Int?]
        public var secondsToReference: [Double?]
        public var cpuSecondsToReference: [Double?]
        public var msPerStep: [Double?]
        public var cpuMsPerStep: [Double?]
        public var meanForwardIterations: [Double?]
        public var meanBackwardIterations: [Double?]
        public var lowestTrainLoss: [Double?]
        /// Per seed: this set-up's CPU (wall) time to the reference loss over serial's, and per step.
        public var workRatio: [Double?]
        public var wallRatio: [Double?]
        public var stepWorkRatio: [Double?]
        public var medianWorkRatio: Double?
        public var medianWallRatio: Double?
        public var medianStepWorkRatio: Double?
        public var errors: [String?]
    }

    public func rows(_ runs: [OneShotRun]) -> [Row] {
        var rows: [Row] = []
        for task in ["f2", "f1"] {
            let serial = runs.filter { $0.task == task && $0.variant == "serial" }
            func serialRun(_ seed: UInt64) -> RunSummary? { serial.first { $0.seed == seed }?.summary }
            for v in variants {
                let rs = runs.filter { $0.task == task && $0.variant == v.name }
                guard !rs.isEmpty else { continue }
                func ratio(_ r: OneShotRun, _ f: (RunSummary) -> Double?) -> Double? {
                    guard let a = r.summary.flatMap(f), let b = serialRun(r.seed).flatMap(f), b > 0 else { return nil }
                    return a / b
                }
                let cpuPerStep: (RunSummary) -> Double? = { s in s.trainCPUSeconds.map { $0 / Double(max(s.steps, 1)) } }
                let w = rs.map { ratio($0) { $0.cpuSecondsToTarget } }
                let ww = rs.map { ratio($0) { $0.secondsToTarget } }
                let sw = rs.map { ratio($0, cpuPerStep) }
                rows.append(Row(task: task, variant: v.name, ranks: rs[0].ranks, seeds: rs.map(\.seed),
                                stepsToReference: rs.map { $0.summary?.iterationsToTarget },
                                secondsToReference: rs.map { $0.summary?.secondsToTarget },
                                cpuSecondsToReference: rs.map { $0.summary?.cpuSecondsToTarget },
                                msPerStep: rs.map { $0.summary.map { 1e3 * $0.secondsPerStep.total } },
                                cpuMsPerStep: rs.map { $0.summary.flatMap(cpuPerStep).map { 1e3 * $0 } },
                                meanForwardIterations: rs.map { $0.summary?.meanForwardMGRITIterations },
                                meanBackwardIterations: rs.map { $0.summary?.meanBackwardMGRITIterations },
                                lowestTrainLoss: rs.map { $0.summary?.lowestTrainLoss },
                                workRatio: w, wallRatio: ww, stepWorkRatio: sw,
                                medianWorkRatio: Median.of(w), medianWallRatio: Median.of(ww),
                                medianStepWorkRatio: Median.of(sw), errors: rs.map(\.error)))
            }
        }
        return rows
    }

    public func write(_ runs: [OneShotRun], note: String) throws {
        let rows = rows(runs)
        func list<T>(_ v: [T?], _ f: (T) -> String) -> String { v.map { $0.map(f) ?? "—" }.joined(separator: " / ") }
        let f2 = { (x: Double) in String(format: "%.2f", x) }, f3 = { (x: Double) in String(format: "%.3f", x) }
        var md = "# One-shot layer-parallel training against layer-serial\n\n" + note + "\n\n"
        md += "W = CPU time to the reference loss over the serial run's (same seed), w = CPU time per step over serial's; "
        md += "medians over seeds. CPU time is the training thread's (forward, backward, update; no evaluation), which other "
        md += "jobs on a shared machine disturb far less than wall time; wall-time ratios are listed too. Per-seed values a / b / c.\n\n"
        md += "| task | set-up | ranks | steps to ref. | CPU s to ref. | wall s to ref. | CPU ms/step | W (CPU) | W (wall) | w per step | MGRIT it. fwd/bwd | lowest train loss |\n"
        md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            let its = zip(r.meanForwardIterations, r.meanBackwardIterations).map { f, b in f.map { String(format: "%.2f/%.2f", $0, b ?? 0) } ?? "—" }
            md += "| \(r.task) | \(r.variant) | \(r.ranks) | \(list(r.stepsToReference) { "\($0)" }) | \(list(r.cpuSecondsToReference, f2)) | "
            md += "\(list(r.secondsToReference, f2)) | \(list(r.cpuMsPerStep, f3)) | \(r.medianWorkRatio.map(f2) ?? "—") | "
            md += "\(r.medianWallRatio.map(f2) ?? "—") | \(r.medianStepWorkRatio.map(f2) ?? "—") | \(its.joined(separator: " / ")) | "
            md += "\(list(r.lowestTrainLoss) { String(format: "%.2e", $0) }) |\n"
        }
        md += "\nSet-ups:\n" + variants.map { "- \($0.name): \($0.description)" }.joined(separator: "\n") + "\n"
        md += "\n\"—\" in steps: the reference loss was not reached within the iteration cap.\n"
        let controls = runs.filter { $0.noise != nil }
        if !controls.isEmpty {
            md += "\n## Noise-matched serial controls\n\nThe parallel runs compared their MGRIT forward states and adjoints with exact "
            md += "layer-serial passes every --eval-every steps (RMS over neurons × samples; forward x¹…xᴺ, adjoint the stored C-points and λ⁰); "
            md += "each control trains layer-serial with uniform noise in [−c, c] on every hidden state and adjoint, c = √3 × the median RMS "
            md += "(uniform noise of that RMS).\n\n| task | control | seed | measured steps | forward RMS | adjoint RMS | c forward | c backward |\n|---|---|---|---|---|---|---|---|\n"
            for r in controls {
                let n = r.noise!
                md += "| \(r.task) | \(r.variant) | \(r.seed) | \(n.measuredSteps) | " + [n.forwardRMS, n.adjointRMS, n.noiseForward, n.noiseBackward]
                    .map { String(format: "%.3e", $0) }.joined(separator: " | ") + " |\n"
            }
        }
        let failed = runs.filter { $0.error != nil }
        if !failed.isEmpty {
            md += "\n## Runs that failed\n\n" + failed.map { "- \($0.task) \($0.variant) seed \($0.seed): \($0.error!)" }.joined(separator: "\n") + "\n"
        }
        try AtomicFile.write(md, to: out + "/oneshot.md")
        struct Report: Codable { var variants: [OneShotVariant]; var rows: [Row]; var runs: [OneShotRun] }
        try AtomicFile.writeJSON(Report(variants: variants, rows: rows, runs: runs), to: out + "/oneshot.json")
        var csv = CSVTable(columns: ["task", "variant", "ranks", "seed", "steps_to_reference", "cpu_seconds_to_reference",
                                     "seconds_to_reference", "cpu_ms_per_step", "work_ratio", "step_work_ratio"])
        func opt(_ v: Double?) -> CSVValue { v.map { .double($0) } ?? "" }
        for r in rows {
            for (k, seed) in r.seeds.enumerated() {
                try csv.append([.text(r.task), .text(r.variant), .int(r.ranks), .int(Int(seed)),
                                r.stepsToReference[k].map { .int($0) } ?? "", opt(r.cpuSecondsToReference[k]),
                                opt(r.secondsToReference[k]), opt(r.cpuMsPerStep[k]), opt(r.workRatio[k]), opt(r.stepWorkRatio[k])])
            }
        }
        try csv.write(to: out + "/oneshot.csv")
        for task in ["f2", "f1"] {
            let first = runs.first { $0.task == task }?.seed
            let rs = runs.filter { $0.task == task && $0.seed == first && $0.summary != nil }
            guard !rs.isEmpty else { continue }
            let ref = task == "f1" ? "5e-4" : "6e-3"
            let args = rs.flatMap { ["--run", $0.variant, $0.directory + "/history.csv"] }
            do {
                try Plot.run(script: "tools/plots/loss.py", arguments: [out + "/oneshot-\(task).png", "--title",
                                                                        "\(task): training loss against CPU time, seed \(first!)",
                                                                        "--reference", ref, "--x", "cpu_seconds", "--train-only"] + args)
            } catch { FileHandle.standardError.write(Data("note: oneshot-\(task).png not written: \(error)\n".utf8)) }
        }
        print(md)
        print("results: \(out)/oneshot.md \(out)/oneshot.json \(out)/oneshot.csv \(out)/oneshot-*.png")
    }
}
