// Runs of the training loop: resume, NaN handling, checkpoints, options.
import Comm
import Foundation
import MGRIT
import ResNet
import Testing
import Training

func tempDir(_ name: String) -> String {
    let d = NSTemporaryDirectory() + "layerpar-training-tests-\(getpid())-\(name)"
    try? FileManager.default.removeItem(atPath: d)
    return d
}

func smallConfig(iterations: Int, mode: TrainingMode = .serial) -> TrainingConfiguration {
    TrainingConfiguration(data: .task(.f2, train: 300, validation: 100), mode: mode, depth: 8, width: 6,
                          batchSize: 16, optimizer: OptimizerSettings(kind: .adam, learningRate: 1e-2),
                          iterations: iterations, seed: 42, evalEvery: 5, progressEvery: 1000, checkpointEvery: 7)
}

func makeTrainer(_ c: TrainingConfiguration, dir: String?, resume: Bool = false) throws -> Trainer {
    let comm = SerialCommunicator()
    return try Trainer(config: c, outputDirectory: dir, comm: comm, resume: resume,
                       engineFactory: { try makeGradientEngine(config: $0, network: $1, comm: comm) }, log: { _ in })
}

/// A trainer that has run to its stopping rule.
func trained(_ c: TrainingConfiguration, dir: String? = nil, resume: Bool = false) throws -> Trainer {
    let t = try makeTrainer(c, dir: dir, resume: resume)
    try t.run()
    return t
}

/// The largest relative difference of two runs' batch-loss histories, step by step (∞ if their lengths differ).
func worstLossDifference(_ a: Trainer, _ b: Trainer) -> Double {
    let (x, y) = (a.history.map(\.batchLoss), b.history.map(\.batchLoss))
    guard x.count == y.count else { return .infinity }
    return zip(x, y).map { abs($0 - $1) / abs($0) }.max() ?? 0
}

/// Everything of a history row except the timing.
func losses(_ h: [HistoryRow]) -> [[Double?]] {
    h.map { [Double($0.iteration), $0.batchLoss, $0.trainLoss, $0.validationLoss] }
}

@Suite("Training runs", .serialized)
struct TrainerTests {
    @Test("Resume from a checkpoint gives the same history and parameters as an uninterrupted run")
    func resume() throws {
        let full = try makeTrainer(smallConfig(iterations: 40), dir: nil)
        try full.run()
        let dir = tempDir("resume")
        let first = try makeTrainer(smallConfig(iterations: 19), dir: dir)   // checkpoint at 14 and at the end (19)
        try first.run()
        let second = try makeTrainer(smallConfig(iterations: 40), dir: dir, resume: true)
        #expect(second.step == 19)
        try second.run()
        #expect(losses(second.history) == losses(full.history))
        #expect(second.parameters == full.parameters)
        let csv = try String(contentsOfFile: dir + "/history.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 42)   // header + iterations 0…40
    }

    @Test("Resuming with another configuration is refused naming each changed field, checkpoint → now; the stopping rule may change")
    func resumeWithAnotherConfigurationNamesTheDifferences() throws {
        let dir = tempDir("resume-other")
        try makeTrainer(smallConfig(iterations: 5), dir: dir).run()
        var changed = smallConfig(iterations: 9)
        changed.optimizer.learningRate *= 2
        changed.solver = SolverSettings()
        changed.solver!.fmg = true
        let lr = smallConfig(iterations: 5).optimizer.learningRate
        do {
            _ = try makeTrainer(changed, dir: dir, resume: true)
            Issue.record("a run with another learning rate and solver resumed")
        } catch let e as TrainingError {
            let text = "\(e)"
            #expect(text.contains("optimizer.learningRate: \(lr) → \(2 * lr)"), "\(text)")
            #expect(text.contains("solver.fmg: none → true"), "\(text)")
            #expect(!text.contains("iterations:"), "the iteration count may change: \(text)")
        }
        #expect(smallConfig(iterations: 5).runDifferences(from: smallConfig(iterations: 9)).isEmpty)
    }

    /// Depth 16: 4 levels with coarsening 2, a real multilevel solve.
    static func multilevel(iterations: Int) -> TrainingConfiguration {
        var c = smallConfig(iterations: iterations)
        c.depth = 16
        c.coarsening = 2
        return c
    }

    /// Parallel mode, both solves to 1e-13.
    static func solveTightly(_ c: inout TrainingConfiguration) {
        c.mode = .parallel
        c.tolForward = 1e-13; c.tolBackward = 1e-13
        c.maxForwardIterations = 40; c.maxBackwardIterations = 40
    }

    @Test("Layer-parallel training with tight MGRIT tolerances gives the layer-serial loss history to 1e-8")
    func parallelMatchesSerial() throws {
        var c = Self.multilevel(iterations: 12)
        let serial = try makeTrainer(c, dir: nil)
        try serial.run()
        Self.solveTightly(&c)
        let parallel = try makeTrainer(c, dir: nil)
        try parallel.run()
        let a = serial.history.map(\.batchLoss)
        #expect(a.count == 13 && parallel.history.count == 13)
        let worst = worstLossDifference(serial, parallel)
        #expect(worst < 1e-8, "largest relative difference of the loss histories: \(worst)")
        #expect(parallel.history.dropFirst().allSatisfy { $0.forwardIterations >= 1 && $0.backwardIterations >= 1 })
        // And with the paper's loose f2 tolerances the histories differ (inexact gradients).
        c.tolForward = 1e-2; c.tolBackward = 1e-2; c.maxForwardIterations = 1; c.maxBackwardIterations = 1
        let loose = try makeTrainer(c, dir: nil)
        try loose.run()
        #expect(loose.history.map(\.batchLoss) != a)
    }

    @Test("Layer-parallel training with Delta correction of both solves: the layer-serial loss history to 1e-8 with fewer adjoint iterations")
    func parallelWithDeltaCorrectionMatchesSerial() throws {
        var c = Self.multilevel(iterations: 10)
        let serial = try makeTrainer(c, dir: nil)
        try serial.run()
        Self.solveTightly(&c)
        let plain = try makeTrainer(c, dir: nil)
        try plain.run()
        var settings = SolverSettings()
        settings.deltaCorrection = true
        settings.adjointDeltaCorrection = true
        c.solver = settings
        let corrected = try makeTrainer(c, dir: nil)
        try corrected.run()
        let worst = worstLossDifference(serial, corrected)
        #expect(worst < 1e-8, "largest relative difference of the loss histories: \(worst)")
        let adjoint = { (t: Trainer) in t.history.dropFirst().map(\.backwardIterations).reduce(0, +) }
        #expect(adjoint(corrected) < adjoint(plain), "adjoint iterations: corrected \(adjoint(corrected)), plain \(adjoint(plain))")
        #expect(corrected.history.dropFirst().allSatisfy { $0.backwardIterations <= 3 },
                "\(corrected.history.map(\.backwardIterations))")
    }

    @Test("Layer-parallel training with FMG (cold solves): the layer-serial loss history to 1e-8, recorded in the summary line")
    func parallelWithNestedIterationMatchesSerial() throws {
        var c = Self.multilevel(iterations: 10)
        let serial = try makeTrainer(c, dir: nil)
        try serial.run()
        Self.solveTightly(&c)
        c.warmStart = WarmStartPolicy.none
        var settings = SolverSettings()
        settings.fmg = true
        c.solver = settings
        #expect(settings.summary.contains("FMG"))
        #expect(settings.apply(to: MGRITOptions(), coarsening: 2, maxLevels: 30).firstIteration(warmStart: false) == .nested)
        // A pass of one iteration (the default preset's adjoint) keeps its one real iteration.
        #expect(settings.apply(to: MGRITOptions(maxIterations: 1), coarsening: 2, maxLevels: 30, adjoint: true).firstIteration(warmStart: false) == .cycle)
        #expect(settings.apply(to: MGRITOptions(maxIterations: 2), coarsening: 2, maxLevels: 30, adjoint: true).firstIteration(warmStart: false) == .nested)
        let nested = try makeTrainer(c, dir: nil)
        try nested.run()
        let worst = worstLossDifference(serial, nested)
        #expect(worst < 1e-8, "largest relative difference of the loss histories: \(worst)")
        // Iteration 1 is the nested one, which measures nothing: every solve has at least 2.
        #expect(nested.history.dropFirst().allSatisfy { $0.forwardIterations >= 2 && $0.backwardIterations >= 2 })
    }

    @Test("Solves that stall fall back to the layer-serial passes with --on-stall serial: the serial history, and the history says so")
    func stallFallsBackToSerial() throws {
        var c = smallConfig(iterations: 10)
        c.depth = 16
        c.coarsening = 2
        let serial = try trained(c)
        c.mode = .parallel
        c.warmStart = WarmStartPolicy.none
        c.tolForward = 1e-300; c.tolBackward = 1e-300; c.maxForwardIterations = 10; c.maxBackwardIterations = 10
        var s = SolverSettings()
        s.stallIterations = 1
        s.stallRatio = 1e-6   // an iteration that does not gain six digits "stalls": every solve stops at iteration 2
        c.solver = s
        let stopped = try trained(c)
        #expect(stopped.history.dropFirst().allSatisfy { $0.forwardIterations == 2 && $0.backwardIterations == 2 && $0.serialFallback == nil })
        s.serialOnStall = true
        c.solver = s
        let fallback = try trained(c)
        #expect(fallback.history.dropFirst().allSatisfy { $0.serialFallback == "forward+adjoint" })
        let a = serial.history.map(\.batchLoss)
        let worst = worstLossDifference(serial, fallback)
        #expect(a.count == 11 && worst < 1e-12, "largest relative difference of the loss histories: \(worst)")
        #expect(stopped.history.map(\.batchLoss) != a)
        let csv = try Trainer.historyTable(fallback.history).text
        #expect(csv.hasPrefix(Trainer.historyColumns.joined(separator: ",")) && csv.contains(",forward+adjoint,"))
    }

    @Test("Tolerance 0 runs the capped iterations without per-iteration norms: same history as a tolerance never met")
    func fixedIterationCount() throws {
        var c = smallConfig(iterations: 8, mode: .parallel)
        c.tolForward = 1e-300; c.tolBackward = 1e-300; c.maxForwardIterations = 2; c.maxBackwardIterations = 3
        let measured = try trained(c)
        c.tolForward = 0; c.tolBackward = 0
        let fixed = try trained(c)
        #expect(losses(fixed.history) == losses(measured.history))
        #expect(fixed.parameters == measured.parameters)
        for (f, m) in zip(fixed.history.dropFirst(), measured.history.dropFirst()) {
            #expect(f.forwardIterations == 2 && f.backwardIterations == 3)
            #expect(f.forwardResidual == m.forwardResidual && f.backwardResidual == m.backwardResidual,
                    "the last iteration's residual is still measured and reported")
        }
    }

    @Test("Resume of a layer-parallel run restores the MGRIT warm start: same history as uninterrupted")
    func resumeParallel() throws {
        var c = smallConfig(iterations: 16, mode: .parallel)
        c.tolForward = 1e-3; c.tolBackward = 1e-3; c.maxForwardIterations = 2; c.maxBackwardIterations = 2
        let full = try trained(c)
        let dir = tempDir("resume-parallel")
        var a = c; a.iterations = 9
        _ = try trained(a, dir: dir)
        let second = try trained(c, dir: dir, resume: true)
        #expect(losses(second.history) == losses(full.history))
        #expect(second.parameters == full.parameters)
    }

    @Test("L-BFGS (full batch) lowers the loss, records its line-search trials, and resumes bit for bit, serial and one-shot")
    func lbfgsResume() throws {
        for mode in [TrainingMode.serial, .parallel] {
            var c = smallConfig(iterations: 18, mode: mode)
            c.data = .task(.f2, train: 120, validation: 40)
            c.batchSize = 120
            c.optimizer = OptimizerSettings(kind: .lbfgs, learningRate: 1e-2, lbfgs: LBFGSSettings(history: 4))
            c.tolForward = 0; c.tolBackward = 0; c.maxForwardIterations = 2; c.maxBackwardIterations = 1
            let full = try trained(c)
            let rows = full.history.dropFirst()
            #expect(rows.allSatisfy { ($0.lineSearchTrials ?? 0) >= 1 }, "\(rows.map(\.lineSearchTrials))")
            #expect(full.optimizer.steps == 18 && full.optimizer.lbfgsPairs == 4)
            if mode == .serial {
                // Exact passes: every accepted step lowers the full-batch loss (Armijo).
                let b = full.history.map(\.batchLoss)
                for k in 2..<b.count { #expect(b[k] < b[k - 1], "step \(k): \(b[k - 1]) → \(b[k])") }
            }
            #expect(full.history.last!.trainLoss! < full.history[0].trainLoss!)
            let dir = tempDir("resume-lbfgs-\(mode.rawValue)")
            var a = c; a.iterations = 9   // checkpoints at 7 and 9: a ring of 4 pairs, mid-run
            _ = try trained(a, dir: dir)
            let second = try trained(c, dir: dir, resume: true)
            #expect(second.history == full.history.map { var r = $0; r.seconds = second.history[$0.iteration].seconds
                                                          r.cpuSeconds = second.history[$0.iteration].cpuSeconds; return r })
            #expect(second.parameters == full.parameters)
            #expect(second.optimizer == full.optimizer)
        }
    }

    @Test("--measure-error-every: the MGRIT error against exact passes is 0 to rounding for a solve to 1e-12 and clearly > 0 for one iteration; the history is unchanged")
    func measuredSolveError() throws {
        var c = smallConfig(iterations: 6, mode: .parallel)
        c.depth = 16
        c.coarsening = 2
        c.tolForward = 1e-12; c.tolBackward = 1e-12; c.maxForwardIterations = 40; c.maxBackwardIterations = 40
        let plain = try trained(c)
        c.measureErrorEvery = 2
        let exact = try trained(c)
        #expect(losses(exact.history) == losses(plain.history) && exact.parameters == plain.parameters)
        let measured = exact.history.filter { $0.forwardError != nil }
        #expect(measured.map(\.iteration) == [2, 4, 6])
        for r in measured {
            #expect(r.forwardError! < 1e-13 && r.adjointError! < 1e-15, "step \(r.iteration): \(r.forwardError!) \(r.adjointError!)")
        }
        c.tolForward = 0; c.tolBackward = 0; c.maxForwardIterations = 1; c.maxBackwardIterations = 1
        c.warmStart = WarmStartPolicy.none
        let one = try trained(c).history.filter { $0.forwardError != nil }
        #expect(one.count == 3)
        for r in one {
            #expect(r.forwardError! > 1e-9 && r.adjointError! > 1e-12, "step \(r.iteration): \(r.forwardError!) \(r.adjointError!)")
        }
    }

    @Test("A NaN loss stops with a message naming the step; the last good checkpoint survives")
    func nanStops() throws {
        let dir = tempDir("nan")
        var c = smallConfig(iterations: 30)
        c.nanAtStep = 17
        let t = try makeTrainer(c, dir: dir)
        do {
            try t.run()
            Issue.record("expected a NaN error")
        } catch let e as TrainingStopped {
            #expect(e.reason == .nanLoss)
            #expect(e.message.contains("at step 17"))
        }
        #expect(t.step == 16)
        let ck = try Checkpoint.load(directory: dir)
        #expect(ck.header.step == 14)
        #expect(ck.parameters.allSatisfy { $0.isFinite })
        let summary = try String(contentsOfFile: dir + "/summary.json", encoding: .utf8)
        #expect(summary.contains("nan-loss"))
    }

    @Test("A truncated or corrupt checkpoint is refused; --resume falls back to the previous one, saying so")
    func corrupt() throws {
        let dir = tempDir("corrupt")
        try makeTrainer(smallConfig(iterations: 15), dir: dir).run()   // checkpoints at 7, 14, 15
        let path = Checkpoint.path(in: dir)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        // Truncated.
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: path))
        var said: [String] = []
        let comm = SerialCommunicator()
        let resumed = try Trainer(config: smallConfig(iterations: 20), outputDirectory: dir, comm: comm, resume: true,
                                  engineFactory: { try makeGradientEngine(config: $0, network: $1, comm: comm) }, log: { said.append($0) })
        #expect(resumed.step == 14)
        #expect(said.contains { $0.contains("truncated") && $0.contains("resuming from the previous checkpoint") && $0.contains("step 14") }, "\(said)")
        do { _ = try Checkpoint.load(directory: dir); Issue.record("truncated checkpoint accepted") } catch let e as TrainingError {
            #expect(e.message.contains("truncated"))
        }
        // One flipped byte deep in the binary section.
        data[data.count - 9] ^= 0x40
        try data.write(to: URL(fileURLWithPath: path))
        do { _ = try Checkpoint.load(directory: dir); Issue.record("corrupt checkpoint accepted") } catch let e as TrainingError {
            #expect(e.message.contains("checksum mismatch"))
        }
        #expect(FileManager.default.fileExists(atPath: Checkpoint.previousPath(in: dir)))
        #expect(try Checkpoint.decode(Data(contentsOf: URL(fileURLWithPath: Checkpoint.previousPath(in: dir))),
                                      path: "prev").header.step == 14)
    }

    @Test("Training on a bad CSV file fails before any step, naming file, line and column")
    func badCSV() throws {
        let dir = tempDir("csv")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "a,b,y\n1,2,3\n1,NaN,2\n".write(toFile: dir + "/train.csv", atomically: true, encoding: .utf8)
        try "a,b,y\n1,2,3\n".write(toFile: dir + "/val.csv", atomically: true, encoding: .utf8)
        var c = smallConfig(iterations: 5)
        c.data = .files(train: dir + "/train.csv", validation: dir + "/val.csv", targets: 1)
        do { _ = try makeTrainer(c, dir: dir + "/out"); Issue.record("bad CSV accepted") } catch let e as DataError {
            #expect(e.description.contains("train.csv, line 3, column 2"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/history.csv"))
    }

    @Test("A too-large learning rate that switches every opening ReLU off is reported as a dead network")
    func dead() throws {
        var c = smallConfig(iterations: 200)
        c.optimizer = OptimizerSettings(kind: .sgd, learningRate: 50, momentum: 0)
        let t = try makeTrainer(c, dir: nil)
        let s = try? t.run()
        // Either the loss overflows (NaN stop) or the network dies; with this setting it dies.
        #expect(s?.stopReason == .deadNetwork)
        #expect(s?.stopMessage.contains("constant") == true)
    }
}
