import ArgumentParser
import Comm
import Foundation
import Kernels
import Reports
import Training

/// `layerpar reproduce tables|noise`: the paper's training experiments
/// (Tables 1–3, Figures 3–5) run with our code, side by side with the paper.
struct Reproduce: ParsableCommand {
    enum Experiment: String, ExpressibleByArgument, CaseIterable { case tables, noise }

    static let configuration = CommandConfiguration(
        abstract: "Rerun the paper's training experiments and put our numbers beside its Tables 1–3 and Figures 3–5.",
        discussion: """
            tables: layer-serial and layer-parallel training of f1 (depth 322) and f2 (depth 50) over --seeds, \
            with identical optimiser settings; writes tables.md / tables.json (lowest losses, time and \
            iterations to the reference losses 5e-4 / 6e-3, plateau lengths) and fig3-*.png (loss vs time), \
            fig4-*.png (loss vs iteration). noise: layer-serial training with uniform noise on each hidden \
            layer's output (forward) or adjoint (backward), c = 1e-1 … 1e-10; writes noise.md / noise.json, \
            fig5a.png, fig5b.png. --quick shrinks everything to a few minutes.
            Example: mpirun -np 2 layerpar reproduce tables --quick --out results/reproduce
            """)

    @Argument(help: "tables or noise.") var experiment: Experiment
    @Flag(help: "Minutes instead of hours: f2 only at full depth, fewer iterations and seeds, fewer noise levels.") var quick = false
    @Option(help: "Output directory.") var out: String = "results/reproduce"
    @Option(help: "Comma-separated seeds (default: 1,2,3; quick: 1).") var seeds: String?
    @Option(help: "Optimiser iterations for f1 (default 12000; quick 0 = f1 skipped).") var iterationsF1: Int?
    @Option(help: "Optimiser iterations for f2 (default 4000; quick 1200: past the plateau, short of 6e-3).") var iterationsF2: Int?
    @Option(help: "Adam learning rate for every run.") var lr: Double = 3e-3
    @Option(help: "Mini-batch size for every run.") var batchSize: Int = 64
    @Option(help: "Evaluate full training/validation losses every k steps.") var evalEvery: Int = 25

    func validate() throws {
        _ = try seedList()
        if let i = iterationsF1, i < 0 { throw ValidationError("--iterations-f1 must be ≥ 0") }
        if let i = iterationsF2, i < 0 { throw ValidationError("--iterations-f2 must be ≥ 0") }
        if lr <= 0 { throw ValidationError("--lr must be positive") }
        if batchSize < 1 || evalEvery < 1 { throw ValidationError("--batch-size and --eval-every must be ≥ 1") }
    }

    func seedList() throws -> [UInt64] {
        guard let seeds else { return quick ? [1] : [1, 2, 3] }
        let v = seeds.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ $0 != nil }) else { throw ValidationError("--seeds '\(seeds)' is not a comma-separated list of integers") }
        return v.map { $0! }
    }

    struct Run: Codable {
        var name: String
        var task: String
        var mode: String
        var seed: UInt64
        var noise: String?
        var c: Double?
        var summary: RunSummary?
        var error: String?
        var directory: String
    }

    func base(task: RegressionTask, iterations: Int, seed: UInt64) -> TrainingConfiguration {
        TrainingConfiguration(
            data: .task(task, train: 5000, validation: 1000), mode: .serial, depth: task == .f1 ? 322 : 50,
            batchSize: batchSize, optimizer: OptimizerSettings(kind: .adam, learningRate: lr),
            iterations: iterations, tolForward: task == .f1 ? 1e-8 : 1e-4, tolBackward: task == .f1 ? 1e-8 : 1e-6,
            seed: seed, evalEvery: evalEvery, progressEvery: 500, checkpointEvery: 1_000_000)
    }

    func run() throws {
        let seedValues = try seedList()
        try withWorld { comm in
            let log: (String) -> Void = { if comm.rank == 0 { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } }
            var runs: [Run] = []
            func train(_ name: String, _ config: TrainingConfiguration, noise: String? = nil, c: Double? = nil) {
                let dir = out + "/runs/" + name
                log("== \(name)")
                var r = Run(name: name, task: config.data.name, mode: config.mode.rawValue, seed: config.seed,
                            noise: noise, c: c, summary: nil, error: nil, directory: dir)
                do {
                    // Layer-serial runs use one rank, as the paper's t_ser; the other ranks wait.
                    let useComm: any Communicator = config.mode == .parallel ? comm : SerialCommunicator()
                    if config.mode == .parallel || comm.rank == 0 {
                        let t = try Trainer(config: config, outputDirectory: dir, comm: useComm, resume: false,
                                            engineFactory: { try makeGradientEngine(config: $0, network: $1, comm: useComm) },
                                            log: { log("   " + $0) })
                        t.version = LayerPar.version
                        t.kernelsDescription = KernelFamily.active.rawValue
                        t.topologySummary = topologySummary()
                        r.summary = try t.run()
                    }
                } catch {
                    r.error = "\(error)"
                    log("   failed: \(error)")
                }
                if comm.size > 1 { try? comm.barrier() }
                runs.append(r)
            }
            switch experiment {
            case .tables:
                let f1 = iterationsF1 ?? (quick ? 0 : 12000), f2 = iterationsF2 ?? (quick ? 1200 : 4000)
                for (task, iters) in [(RegressionTask.f2, f2), (.f1, f1)] where iters > 0 {
                    for seed in seedValues {
                        for mode in [TrainingMode.serial, .parallel] {
                            var c = base(task: task, iterations: iters, seed: seed)
                            c.mode = mode
                            train("\(task.rawValue)-\(mode.rawValue)-seed\(seed)", c)
                        }
                    }
                }
                if comm.rank == 0 { try writeTables(runs) }
            case .noise:
                let task: RegressionTask = quick ? .f2 : .f1
                let iters = quick ? (iterationsF2 ?? 1500) : (iterationsF1 ?? 8000)
                let levels: [Double] = quick ? [1e-2, 1e-4, 1e-6] : (1...10).map { pow(10, -Double($0)) }
                let seed = seedValues[0]
                train("\(task.rawValue)-noise-none", base(task: task, iterations: iters, seed: seed), noise: "none", c: 0)
                for kind in ["forward", "backward"] {
                    for c in levels {
                        var cfg = base(task: task, iterations: iters, seed: seed)
                        if kind == "forward" { cfg.noiseForward = c } else { cfg.noiseBackward = c }
                        train("\(task.rawValue)-noise-\(kind)-\(String(format: "%.0e", c))", cfg, noise: kind, c: c)
                    }
                }
                if comm.rank == 0 { try writeNoise(runs) }
            }
        }
    }

    // MARK: tables

    struct PaperRow: Codable {
        var task: String
        var trainParallel, trainSerial, validationParallel, validationSerial: Double
        var referenceLoss: Double
        var secondsParallel, secondsSerial: Double
        var iterationsParallel, iterationsSerial: Int
    }
    static let paper = [
        PaperRow(task: "f1", trainParallel: 2.46e-4, trainSerial: 4.53e-4, validationParallel: 2.82e-4, validationSerial: 5.52e-4,
                 referenceLoss: 5e-4, secondsParallel: 718, secondsSerial: 5233, iterationsParallel: 1103, iterationsSerial: 5880),
        PaperRow(task: "f2", trainParallel: 2.36e-3, trainSerial: 2.84e-3, validationParallel: 3.31e-3, validationSerial: 3.75e-3,
                 referenceLoss: 6e-3, secondsParallel: 74, secondsSerial: 385, iterationsParallel: 159, iterationsSerial: 479),
    ]

    struct Aggregate: Codable {
        var task: String
        var mode: String
        var seeds: [UInt64]
        var lowestTrain: [Double?]
        var lowestValidation: [Double?]
        var iterationsToReference: [Int?]
        var secondsToReference: [Double?]
        var plateauEnd: [Int?]
        var secondsPerStep: [Double?]
        var meanMGRITIterations: [String?]
        var errors: [String?]
    }

    func aggregate(_ runs: [Run], task: String, mode: String) -> Aggregate {
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

    static func e(_ v: Double?) -> String { v.map { String(format: "%.2e", $0) } ?? "—" }
    static func i(_ v: Int?) -> String { v.map(String.init) ?? "not reached" }
    static func med<T: Comparable>(_ v: [T?]) -> T? {
        let s = v.compactMap { $0 }.sorted()
        return s.isEmpty ? nil : s[(s.count - 1) / 2]
    }

    func writeTables(_ runs: [Run]) throws {
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
            if let ts = Self.med(s.secondsToReference), let tp = Self.med(q.secondsToReference) {
                md += "\nSpeed-up \(task) (median seconds): ours \(String(format: "%.3g", ts / tp))×, paper \(String(format: "%.1f", p.secondsSerial / p.secondsParallel))×.\n"
            }
        }
        md += "\n## Table 3: optimiser iterations to the reference loss\n\n| task | reference | paper parallel | paper serial | paper ratio | ours parallel | ours serial | ours ratio (medians) | plateau end parallel | plateau end serial |\n|---|---|---|---|---|---|---|---|---|---|\n"
        for task in ["f1", "f2"] {
            guard let s = aggs.first(where: { $0.task == task && $0.mode == "serial" }),
                  let q = aggs.first(where: { $0.task == task && $0.mode == "parallel" }) else { continue }
            let p = Self.paper.first { $0.task == task }!
            var ratio = "—"
            if let a = Self.med(s.iterationsToReference), let b = Self.med(q.iterationsToReference) { ratio = String(format: "%.2f", Double(a) / Double(b)) }
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
        struct Tables: Codable { var paper: [PaperRow]; var ours: [Aggregate]; var runs: [Run] }
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
    func figure6(_ runs: [Run]) throws -> String {
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

    func writeNoise(_ runs: [Run]) throws {
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
