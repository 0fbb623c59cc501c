import ArgumentParser
import Comm
import Foundation
import Kernels
import Reports
import Studies
import Training

/// `layerpar reproduce tables|noise|oneshot`: the paper's training experiments
/// (Tables 1–3, Figures 3–5) run with our code, side by side with the paper, and
/// the one-shot study (layer-serial against each layer-parallel set-up).
struct Reproduce: ParsableCommand {
    enum Experiment: String, ExpressibleByArgument, CaseIterable { case tables, noise, oneshot }

    static let configuration = CommandConfiguration(
        abstract: "Rerun the paper's training experiments and put our numbers beside its Tables 1–3 and Figures 3–5.",
        discussion: """
            tables: layer-serial and layer-parallel training of f1 (depth 322) and f2 (depth 50) over --seeds, \
            with identical optimiser settings; writes tables.md / tables.json (lowest losses, time and \
            iterations to the reference losses 5e-4 / 6e-3, plateau lengths) and fig3-*.png (loss vs time), \
            fig4-*.png (loss vs iteration). noise: layer-serial training with uniform noise on each hidden \
            layer's output (forward) or adjoint (backward), c = 1e-1 … 1e-10; writes noise.md / noise.json, \
            fig5a.png, fig5b.png. oneshot: f2 (depth 50) and f1 (depth 322) trained to the reference loss \
            (6e-3 / 5e-4) over --seeds, layer-serial and each one-shot set-up (--variants; the paper's \
            tolerances, fixed 2/1 with and without per-example warm starts, 1/1 with F-relaxation on the fine \
            level); writes oneshot.md / oneshot.json / oneshot.csv (steps, CPU and wall time to the reference, \
            CPU ms per step, work ratios W and w against serial) and oneshot-TASK.png (loss vs CPU time). \
            --quick shrinks everything to a few minutes.
            Example: mpirun -np 2 layerpar reproduce tables --quick --out results/reproduce
            """)

    @Argument(help: "tables, noise or oneshot.") var experiment: Experiment
    @Flag(help: "Minutes instead of hours: f2 only at full depth, fewer iterations and seeds, fewer noise levels.") var quick = false
    @Option(help: "Output directory.") var out: String = "results/reproduce"
    @Option(help: "Comma-separated seeds (default: 1,2,3; quick: 1).") var seeds: String?
    @Option(help: "Optimiser iterations for f1 (default 12000; quick 0 = f1 skipped; oneshot: the cap, default 15000).") var iterationsF1: Int?
    @Option(help: "Optimiser iterations for f2 (default 4000; quick 1200: past the plateau, short of 6e-3; oneshot: the cap, default 8000).") var iterationsF2: Int?
    @Option(help: "oneshot: comma-separated set-ups to run (default: all of \(OneShotVariant.standard.map(\.name).joined(separator: ", "))); serial is always run. noise-matched-V (V a parallel set-up, run too) adds a noise-matched serial control: layer-serial training with uniform noise in [−c, c] on every hidden state and adjoint, c = √3 × the median RMS error of V's MGRIT states / adjoints against exact passes, which every parallel set-up measures at its evaluation steps (train --measure-error-every).") var variants: String?
    @Option(help: "Adam learning rate for every run.") var lr: Double = 3e-3
    @Option(help: "Mini-batch size for every run.") var batchSize: Int = 64
    @Option(help: "Evaluate full training/validation losses every k steps.") var evalEvery: Int = 25
    @OptionGroup(title: "MGRIT of the layer-parallel runs (F-cycles, FCF)") var mgrit: MGRITOptionGroup

    func validate() throws {
        _ = try seedList()
        try mgrit.requireDefaults(except: [], command: "reproduce")
        try NumericCheck.atLeast(0, ["--iterations-f1": iterationsF1, "--iterations-f2": iterationsF2])
        try NumericCheck.positive(lr, "--lr")
        try NumericCheck.atLeast(1, ["--batch-size": batchSize, "--eval-every": evalEvery])
        if variants != nil && experiment != .oneshot { throw ValidationError("--variants applies to reproduce oneshot only") }
        _ = try variantList()
    }

    func variantList() throws -> [OneShotVariant] {
        guard let variants else { return OneShotVariant.standard }
        let names = variants.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for n in names where !OneShotVariant.standard.contains(where: { $0.name == n }) && OneShotVariant.noiseMatched(n) == nil {
            throw ValidationError("--variants: unknown set-up '\(n)' (known: \(OneShotVariant.standard.map(\.name).joined(separator: ", ")), and \(OneShotVariant.noiseMatchedPrefix)V for a parallel set-up V)")
        }
        let controls = names.compactMap(OneShotVariant.noiseMatched)
        // A control's parallel set-up runs first (it measures the noise), listed or not.
        let needed = Set(names + controls.compactMap(\.noiseMatchedTo))
        return OneShotVariant.standard.filter { $0.name == "serial" || needed.contains($0.name) } + controls
    }

    func seedList() throws -> [UInt64] {
        guard let seeds else { return quick ? [1] : [1, 2, 3] }
        return try commaList(seeds, option: "seeds", rule: "is not a comma-separated list of integers")
    }

    func base(task: RegressionTask, iterations: Int, seed: UInt64) -> TrainingConfiguration {
        TrainingConfiguration(
            data: .task(task, train: 5000, validation: 1000), mode: .serial, depth: task == .f1 ? 322 : 50,
            batchSize: batchSize, optimizer: OptimizerSettings(kind: .adam, learningRate: lr),
            iterations: iterations, tolForward: task == .f1 ? 1e-8 : 1e-4, tolBackward: task == .f1 ? 1e-8 : 1e-6,
            coarsening: mgrit.factor, maxLevels: mgrit.maxLevels, seed: seed, evalEvery: evalEvery, progressEvery: 500, checkpointEvery: 1_000_000)
    }

    func run() throws {
        let seedValues = try seedList()
        try OutputPath.prepareDirectory(out, option: "--out")
        let report = ReproduceReport(out: out, lr: lr, batchSize: batchSize, evalEvery: evalEvery)
        try withWorld { comm in
            let log: (String) -> Void = { if comm.rank == 0 { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } }
            var runs: [ReproduceRun] = []
            func train(_ name: String, _ config: TrainingConfiguration, noise: String? = nil, c: Double? = nil) {
                let dir = out + "/runs/" + name
                log("== \(name)")
                var r = ReproduceRun(name: name, task: config.data.name, mode: config.mode.rawValue, seed: config.seed,
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
                if comm.rank == 0 { try report.writeTables(runs) }
            case .oneshot:
                let chosen = try variantList()
                let caps = [(RegressionTask.f2, iterationsF2 ?? 8000), (.f1, iterationsF1 ?? (quick ? 0 : 15000))]
                var results: [OneShotRun] = []
                for (task, cap) in caps where cap > 0 {
                    for seed in seedValues {
                        for v in chosen {
                            var c = v.apply(to: base(task: task, iterations: cap, seed: seed))
                            c.targetLoss = c.data.referenceLoss
                            // Every parallel set-up measures its MGRIT error at the evaluation steps (not training time).
                            if c.mode == .parallel { c.measureErrorEvery = evalEvery }
                            let name = "\(task.rawValue)-\(v.name)-seed\(seed)"
                            var noise: NoiseMatch?
                            if let matched = v.noiseMatchedTo {
                                let from = results.first { $0.task == task.rawValue && $0.variant == matched && $0.seed == seed }
                                do {
                                    guard let from else { throw StudyError("no \(matched) run to match") }
                                    let n = try NoiseMatch.read(history: from.directory + "/history.csv")
                                    c.noiseForward = n.noiseForward
                                    c.noiseBackward = n.noiseBackward
                                    noise = n
                                    log(String(format: "== %@: noise c = %.3e forward, %.3e backward (√3 × median RMS error of %@ over %d steps)",
                                               name, n.noiseForward, n.noiseBackward, matched, n.measuredSteps))
                                } catch {
                                    results.append(OneShotRun(task: task.rawValue, variant: v.name, seed: seed, ranks: 1, summary: nil,
                                                              error: "\(error)", directory: out + "/runs/" + name))
                                    continue
                                }
                            }
                            train(name, c)
                            let r = runs.last!
                            results.append(OneShotRun(task: task.rawValue, variant: v.name, seed: seed,
                                                      ranks: c.mode == .parallel ? comm.size : 1, summary: r.summary,
                                                      error: r.error, directory: r.directory, noise: noise))
                        }
                    }
                }
                if comm.rank == 0 {
                    let note = "Adam lr \(lr), batch \(batchSize), 5000 training / 1000 validation samples, full losses every \(evalEvery) steps "
                        + "(steps to the reference have that resolution); kernels \(KernelFamily.active.rawValue); parallel set-ups on \(comm.size) rank\(comm.size == 1 ? "" : "s"), serial on 1."
                    try OneShotReport(out: out, variants: chosen).write(results, note: note)
                }
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
                if comm.rank == 0 { try report.writeNoise(runs) }
            }
        }
    }
}
