import Foundation
import Reports
import Training

/// One training run of `layerpar reproduce` and where it wrote its files.
public struct ReproduceRun: Codable {
    public init(name: String, task: String, mode: String, seed: UInt64, noise: String? = nil, c: Double? = nil, summary: RunSummary? = nil, error: String? = nil, directory: String) {
        self.name = name
        self.task = task
        self.mode = mode
        self.seed = seed
        self.noise = noise
        self.c = c
        self.summary = summary
        self.error = error
        self.directory = directory
    }

    public var name: String
    public var task: String
    public var mode: String
    public var seed: UInt64
    public var noise: String?
    public var c: Double?
    public var summary: RunSummary?
    public var error: String?
    public var directory: String
}

/// The tables and figures of `layerpar reproduce` (the paper's Tables 1–3 and
/// Figures 3–5): our runs aggregated beside the paper's numbers, written to `out`.
public struct ReproduceReport {
    public init(out: String, lr: Double, batchSize: Int, evalEvery: Int) {
        self.out = out
        self.lr = lr
        self.batchSize = batchSize
        self.evalEvery = evalEvery
    }

    public var out: String
    public var lr: Double
    public var batchSize: Int
    public var evalEvery: Int

    // MARK: tables

    public struct PaperRow: Codable, Sendable {
        public var task: String
        public var trainParallel, trainSerial, validationParallel, validationSerial: Double
        public var referenceLoss: Double
        public var secondsParallel, secondsSerial: Double
        public var iterationsParallel, iterationsSerial: Int
    }
    public static let paper = [
        PaperRow(task: "f1", trainParallel: 2.46e-4, trainSerial: 4.53e-4, validationParallel: 2.82e-4, validationSerial: 5.52e-4,
                 referenceLoss: 5e-4, secondsParallel: 718, secondsSerial: 5233, iterationsParallel: 1103, iterationsSerial: 5880),
        PaperRow(task: "f2", trainParallel: 2.36e-3, trainSerial: 2.84e-3, validationParallel: 3.31e-3, validationSerial: 3.75e-3,
                 referenceLoss: 6e-3, secondsParallel: 74, secondsSerial: 385, iterationsParallel: 159, iterationsSerial: 479),
    ]

    public struct Aggregate: Codable {
        public var task: String
        public var mode: String
        public var seeds: [UInt64]
        public var lowestTrain: [Double?]
        public var lowestValidation: [Double?]
        public var iterationsToReference: [Int?]
        public var secondsToReference: [Double?]
        public var plateauEnd: [Int?]
        public var secondsPerStep: [Double?]
        public var meanMGRITIterations: [String?]
        public var errors: [String?]
    }

    public func aggregate(_ runs: [ReproduceRun], task: String, mode: String) -> Aggregate {
        let rs = runs.filter { $0.task == task && $0.mode == mode && $0.noise == nil }
        return Aggregate(task: task, mode: mode, seeds: rs.map(\.seed),
                         lowestTrain: rs.map { $0.summary?.lowestTrainLoss }, lowestValidation: rs.map { $0.summary?.lowestValidationLoss },
                         iterationsToReference: rs.map { $0.summary?.iterationsToTarget },
                         secondsToReference: rs.map { $0.summary?.secondsToTarget },
                         plateauEnd: rs.map { $0.summary?.plateauEndIteration },
                         secondsPerStep: rs.map { $0.summary?.secondsPerStep.total },
                         meanMGRITIterations: rs.map { s in s.summary.flatMap { sm in sm.meanForwardMGRITIterations.map {
                             String(format: "%.2f/%.2f", $0, sm.meanBackwardMGRITIterations ?? 0) } } },
                         errors: rs.map(\.error))
    }

    public static func e(_ v: Double?) -> String { v.map { String(format: "%.2e", $0) } ?? "—" }
    public static func i(_ v: Int?) -> String { v.map(String.init) ?? "not reached" }

    public func writeTables(_ runs: [ReproduceRun]) throws {
        var md = "# Training results beside the paper (Datar & Köstler, Tables 1–3)\n\n"
        md += "Ours: Adam lr \(lr), batch \(batchSize), 5000 training / 1000 validation samples, width 16, β = 0.1, "
        md += "init uniform [0, 1e-3], loss ½·mean (pred − target)² with targets scaled by 1/400 (f1), 1/800 (f2). "
        md += "Losses are full-set losses evaluated every \(evalEvery) steps (iterations to a loss have that resolution). "
        md += "Per-seed values are listed as a / b / c; serial runs use 1 rank, parallel runs the ranks of this job. "
        md += "Plateau end: first evaluation with training loss < 0.9 × the best affine fit's loss.\n\n"
        var aggs: [Aggregate] = []
        for task in ["f1", "f2"] { for mode in ["parallel", "serial"] {
            let a = aggregate(runs, task: task, mode: mode)
            if !a.seeds.isEmpty { aggs.append(a) }
        } }
        func list<T>(_ v: [T?], _ f: (T?) -> String) -> String { v.map(f).joined(separator: " / ") }
        md += "## Table 1: lowest losses\n\n| task | mode | paper train | ours train | paper validation | ours validation |\n|---|---|---|---|---|---|\n"
        for a in aggs {
            let p = Self.paper.first { $0.task == a.task }!
            let par = a.mode == "parallel"
            md += "| \(a.task) | \(a.mode) | \(Self.e(par ? p.trainParallel : p.trainSerial)) | \(list(a.lowestTrain, Self.e)) | "
            md += "\(Self.e(par ? p.validationParallel : p.validationSerial)) | \(list(a.lowestValidation, Self.e)) |\n"
        }
        md += "\n## Table 2: training time to the reference loss\n\n| task | reference | mode | paper (s) | ours (s) | ours s/step | mean MGRIT it. fwd/bwd |\n|---|---|---|---|---|---|---|\n"
        for a in aggs {
            let p = Self.paper.first { $0.task == a.task }!
            md += "| \(a.task) | \(Self.e(p.referenceLoss)) | \(a.mode) | \(a.mode == "parallel" ? p.secondsParallel : p.secondsSerial) | "
            md += "\(list(a.secondsToReference) { $0.map { String(format: "%.2f", $0) } ?? "not reached" }) | "
            md += "\(list(a.secondsPerStep) { $0.map { String(format: "%.2e", $0) } ?? "—" }) | \(list(a.meanMGRITIterations) { $0 ?? "—" }) |\n"
        }
        for task in ["f1", "f2"] {
            guard let s = aggs.first(where: { $0.task == task && $0.mode == "serial" }),
                  let q = aggs.first(where: { $0.task == task && $0.mode == "parallel" }) else { continue }
            let p = Self.paper.first { $0.task == task }!
            if let ts = Median.of(s.secondsToReference), let tp = Median.of(q.secondsToReference) {
                md += "\nSpeed-up \(task) (median seconds): ours \(String(format: "%.3g", ts / tp))×, paper \(String(format: "%.1f", p.secondsSerial / p.secondsParallel))×.\n"
            }
        }
        md += "\n## Table 3: optimiser iterations to the reference loss\n\n| task | reference | paper parallel | paper serial | paper ratio | ours parallel | ours serial | ours ratio (medians) | plateau end parallel | plateau end serial |\n|---|---|---|---|---|---|---|---|---|---|\n"
        for task in ["f1", "f2"] {
            guard let s = aggs.first(where: { $0.task == task && $0.mode == "serial" }),
                  let q = aggs.first(where: { $0.task == task && $0.mode == "parallel" }) else { continue }
            let p = Self.paper.first { $0.task == task }!
            var ratio = "—"
            if let a = Median.of(s.iterationsToReference), let b = Median.of(q.iterationsToReference) { ratio = String(format: "%.2f", a / b) }
            md += "| \(task) | \(Self.e(p.referenceLoss)) | \(p.iterationsParallel) | \(p.iterationsSerial) | "
            md += "\(String(format: "%.2f", Double(p.iterationsSerial) / Double(p.iterationsParallel))) | "
            md += "\(list(q.iterationsToReference, Self.i)) | \(list(s.iterationsToReference, Self.i)) | \(ratio) | "
            md += "\(list(q.plateauEnd, Self.i)) | \(list(s.plateauEnd, Self.i)) |\n"
        }
        md += try figure6(runs)
        let failed = runs.filter { $0.error != nil }
        if !failed.isEmpty {
            md += "\n## Runs that failed\n\n" + failed.map { "- \($0.name): \($0.error!)" }.joined(separator: "\n") + "\n"
        }
        md += "\nFigures: fig3-TASK.png (loss vs training time), fig4-TASK.png (loss vs iteration), first seed of each task run.\n"
        try AtomicFile.write(md, to: out + "/tables.md")
        struct Tables: Codable { var paper: [PaperRow]; var ours: [Aggregate]; var runs: [ReproduceRun] }
        try AtomicFile.writeJSON(Tables(paper: Self.paper, ours: aggs, runs: runs), to: out + "/tables.json")
        for task in ["f1", "f2"] {
            let rs = runs.filter { $0.task == task && $0.summary != nil && $0.seed == runs.first { $0.task == task }?.seed }
            guard !rs.isEmpty else { continue }
            let ref = task == "f1" ? "5e-4" : "6e-3"
            let args = rs.flatMap { ["--run", $0.mode, $0.directory + "/history.csv"] }
            for (fig, x) in [("fig3", "seconds"), ("fig4", "iteration")] {
                do {
                    try Plot.run(script: "tools/plots/loss.py", arguments: [out + "/\(fig)-\(task).png", "--title", "\(task): layer-serial vs layer-parallel",
                                                                            "--reference", ref, "--x", x] + args)
                } catch { FileHandle.standardError.write(Data("note: \(fig)-\(task).png not written: \(error)\n".utf8)) }
            }
        }
        print(md)
        print("results: \(out)/tables.md \(out)/tables.json \(out)/fig3-*.png \(out)/fig4-*.png \(out)/fig6-*.png")
    }

    /// Figure 6: each task's first-seed serial and parallel models on the validation set
    /// (fig6-TASK-MODE.csv, fig6-TASK.png) and their final validation losses beside the paper's.
    func figure6(_ runs: [ReproduceRun]) throws -> String {
        var md = "\n## Figure 6: predictions on the validation set (final models, first seed)\n\n"
        md += "| task | mode | paper lowest validation | ours final validation |\n|---|---|---|---|\n"
        var any = false
        for task in ["f1", "f2"] {
            let seed = runs.first { $0.task == task && $0.noise == nil }?.seed
            var args: [String] = []
            for mode in ["serial", "parallel"] {
                guard let r = runs.first(where: { $0.task == task && $0.mode == mode && $0.seed == seed && $0.summary != nil }) else { continue }
                let csv = out + "/fig6-\(task)-\(mode).csv"
                let p = Self.paper.first { $0.task == task }!
                do {
                    let loss = try ValidationPredictions.write(runDirectory: r.directory, to: csv)
                    md += "| \(task) | \(mode) | \(Self.e(mode == "parallel" ? p.validationParallel : p.validationSerial)) | \(Self.e(loss)) |\n"
                    args += ["--run", "\(task) \(mode)", csv]
                    any = true
                } catch {
                    md += "| \(task) | \(mode) | — | failed: \(error) |\n"
                }
            }
            guard !args.isEmpty else { continue }
            do {
                try Plot.run(script: "tools/plots/predictions.py", arguments: [out + "/fig6-\(task).png", "--title", "\(task): validation predictions"] + args)
            } catch { FileHandle.standardError.write(Data("note: fig6-\(task).png not written: \(error)\n".utf8)) }
        }
        md += any ? "\nfig6-TASK.png: prediction against target with the identity line, and the residual histogram; data in fig6-TASK-MODE.csv.\n" : ""
        return md
    }

    // MARK: noise

    public func writeNoise(_ runs: [ReproduceRun]) throws {
        var md = "# Noise experiments (paper §3.3, Figure 5)\n\nLayer-serial training with uniform noise in [−c, c] on every neuron and sample of each hidden "
        md += "layer's output (forward) or adjoint (backward). Plateau end: first evaluation with training loss < 0.9 × affine-fit loss.\n\n"
        md += "| noise | c | plateau end | iterations to reference | lowest train | lowest validation | stop |\n|---|---|---|---|---|---|---|\n"
        for r in runs {
            let s = r.summary
            md += "| \(r.noise ?? "") | \(r.c.map { $0 == 0 ? "0" : String(format: "%.0e", $0) } ?? "") | \(Self.i(s?.plateauEndIteration)) | "
            md += "\(Self.i(s?.iterationsToTarget)) | \(Self.e(s?.lowestTrainLoss)) | \(Self.e(s?.lowestValidationLoss)) | \(s?.stopReason.rawValue ?? r.error ?? "") |\n"
        }
        try AtomicFile.write(md, to: out + "/noise.md")
        try AtomicFile.writeJSON(runs, to: out + "/noise.json")
        let baseline = runs.first { $0.noise == "none" && $0.summary != nil }
        for (fig, kind) in [("fig5a", "forward"), ("fig5b", "backward")] {
            var args: [String] = []
            if let b = baseline { args += ["--run", "no noise", b.directory + "/history.csv"] }
            for r in runs where r.noise == kind && r.summary != nil {
                args += ["--run", "c=\(String(format: "%.0e", r.c ?? 0))", r.directory + "/history.csv"]
            }
            do {
                try Plot.run(script: "tools/plots/loss.py", arguments: [out + "/\(fig).png", "--title", "noise in the \(kind) pass", "--train-only"] + args)
            } catch { FileHandle.standardError.write(Data("note: \(fig).png not written: \(error)\n".utf8)) }
        }
        print(md)
        print("results: \(out)/noise.md \(out)/noise.json \(out)/fig5a.png \(out)/fig5b.png")
    }
}
