import Comm
import Foundation
import Kernels
import Reports
import ResNet

/// Why a run ended.
public enum StopReason: String, Codable, Sendable {
    case iterations, targetLoss = "target-loss", timeLimit = "time-limit"
    case nanLoss = "nan-loss", deadNetwork = "dead-network"
    /// SIGTERM or SIGINT (``StopSignal``): the step finished and the files were written.
    case signal
}

/// Training stopped on a NaN loss or gradient; the files (history, summary; the last
/// good checkpoint untouched) are written and every rank throws it together.
public struct TrainingStopped: Error, CustomStringConvertible, Sendable {
    public let reason: StopReason
    public let message: String
    public var description: String { message }
}

/// The JSON summary of a run (`DIR/summary.json`).
public struct RunSummary: Codable, Sendable {
    public var tool: String
    public var version: String
    public var configuration: TrainingConfiguration
    public var ranks: Int
    public var host: HostSummary
    public var trainingSamples: Int
    public var validationSamples: Int
    public var parameterCount: Int
    public var affineFitLoss: Double
    public var steps: Int
    public var stopReason: StopReason
    public var stopMessage: String
    public var lowestTrainLoss: Double?
    public var lowestTrainLossIteration: Int?
    public var lowestValidationLoss: Double?
    public var lowestValidationLossIteration: Int?
    public var lowestBatchLoss: Double?
    /// First evaluation at which the full training loss was ≤ the target (resolution: evalEvery).
    public var iterationsToTarget: Int?
    public var secondsToTarget: Double?
    /// CPU seconds of the training thread to the same evaluation (nil if not measured).
    public var cpuSecondsToTarget: Double?
    /// First evaluation with training loss below 0.9 × the affine-fit loss: where the plateau ends.
    public var plateauEndIteration: Int?
    public var trainSeconds: Double
    /// CPU seconds of the training thread over the training steps (forward, backward,
    /// update; no evaluation): the work, robust to other jobs on a shared machine.
    public var trainCPUSeconds: Double?
    /// Mean seconds per optimiser step by phase.
    public var secondsPerStep: PhaseTimes
    public var meanForwardMGRITIterations: Double?
    public var meanBackwardMGRITIterations: Double?
    public var resumedFromStep: Int?
    /// Hardware summary from hwloc (packages, cores, PUs, NUMA nodes, CPU model), if available.
    public var topology: String?
    /// Each rank's placement with `--bind`, as read back from the OS (rank order); nil without it.
    public var rankBindings: [String]?
    /// Layer-parallel: where the solves started, and the bytes of warm-start state rank 0 keeps.
    public var warmStart: WarmStartPolicy?
    public var warmStartBytesPerRank: Int?
    /// Batch groups × layer groups of the job and each batch group's share (``DataParallelEngine``).
    public var decomposition: Decomposition?
    /// Whether rank 0's passes stored the pre-activations, their masks, or recomputed them, with the trial's timings.
    public var preactivations: PreactivationChoice?
}

public struct PhaseTimes: Codable, Sendable {
    public var forward, backward, update, evaluation, total: Double
}

public struct HostSummary: Codable, Sendable {
    public var hostname: String
    public var activeProcessors: Int
    public var physicalMemoryBytes: UInt64
    public var kernels: String

    public static func current(kernels: String) -> HostSummary {
        HostSummary(hostname: ProcessInfo.processInfo.hostName,
                    activeProcessors: ProcessInfo.processInfo.activeProcessorCount,
                    physicalMemoryBytes: ProcessInfo.processInfo.physicalMemory, kernels: kernels)
    }
}

/// Runs one training job: data, network, optimiser, loop, files.
///
/// Files in the output directory (rank 0 alone writes): `history.csv` (one
/// row per step), `summary.json`, `loss.png`, `checkpoint.lpck` (+ `.prev`).
public final class Trainer {
    public let config: TrainingConfiguration
    public let outputDirectory: String?
    /// Training and validation sets in network units (after ``scaling``).
    public let train: Dataset
    public let validation: Dataset
    /// The map from the data's units to the network's, fitted on the training set.
    public let scaling: DataScaling
    /// The training set as read, before scaling.
    public let trainingData: DataFingerprint
    let columnNames: [String]?
    public let network: Network
    let comm: any Communicator
    let engine: any GradientEngine
    let log: (String) -> Void
    public var version = "unknown"
    public var kernelsDescription = "default"
    public var topologySummary: String?
    /// Bindings of all ranks for the summary (set by the caller with `--bind`).
    public var rankBindings: [String]?
    /// The job's batch × layer decomposition for the summary (set by the caller).
    public var decomposition: Decomposition?

    /// The parameters (a copy of the network's flat vector, for checkpoints and tests).
    public var parameters: [Double] { network.parameters.toArray() }
    /// The gradient of the last step, in the network's layout.
    let gradient: NetworkParameters
    public private(set) var optimizer: OptimizerState
    var sampler: MiniBatchSampler
    public private(set) var step = 0
    public private(set) var history: [HistoryRow] = []
    var trainSeconds = 0.0
    var trainCPUSeconds = 0.0
    /// CPU seconds of the current step spent measuring the solves' error (not training).
    var excludedCPU = 0.0
    var timing = TimingTotals()
    var resumedFrom: Int?
    let evalWorkspace: NetworkWorkspace
    public private(set) var affineLoss: Double
    /// The signal that stopped the run (``StopReason/signal``), else 0.
    public private(set) var stopSignal: Int32 = 0
    var lastCheckpointStep: Int?

    /// Loads or generates the data and builds the network (from a checkpoint if `resume`).
    public init(config: TrainingConfiguration, outputDirectory: String?, comm: any Communicator, resume: Bool,
                engineFactory: (TrainingConfiguration, Network) throws -> any GradientEngine,
                log: @escaping (String) -> Void) throws {
        try config.validate()
        self.config = config
        self.outputDirectory = outputDirectory
        self.comm = comm
        self.log = log
        let rawTrain: Dataset, rawValidation: Dataset
        switch config.data {
        case .task(let task, let ntrain, let nval):
            rawTrain = task.generate(count: ntrain, seed: config.seed, stream: .trainData)
            rawValidation = task.generate(count: nval, seed: config.seed, stream: .validationData)
        case .files(let trainPath, let valPath, let targets):
            rawTrain = try CSVDataReader.read(path: trainPath, targetCount: targets)
            rawValidation = try CSVDataReader.read(path: valPath, targetCount: targets)
            guard rawTrain.featureCount == rawValidation.featureCount else {
                throw TrainingError("\(trainPath) has \(rawTrain.featureCount) feature columns but \(valPath) has \(rawValidation.featureCount)")
            }
        }
        if config.optimizer.kind == .lbfgs && config.batchSize != rawTrain.count {
            throw TrainingError("--optimizer lbfgs works on the full batch: give --batch-size \(rawTrain.count) (the training set's size), got \(config.batchSize)")
        }
        scaling = DataScaling.fit(config.normalizationKind, to: rawTrain)
        trainingData = DataFingerprint(rawTrain)
        columnNames = rawTrain.columnNames
        train = scaling.apply(to: rawTrain)
        validation = scaling.apply(to: rawValidation)
        let shape = NetworkShape(inputs: train.featureCount, width: config.width, outputs: train.targetCount,
                                 depth: config.depth, beta: config.beta)
        var rng = Xoshiro256StarStar(seed: config.seed, stream: RandomStream.initialWeights.rawValue)
        network = try Network(shape: shape, parameters: initialParameters(shape: shape, low: config.initLow,
                                                                          high: config.initHigh, using: &rng))
        gradient = network.makeGradient()
        evalWorkspace = NetworkWorkspace(shape: shape, capacity: 256)
        engine = try engineFactory(config, network)
        try engine.prepare(trainingExamples: train.count)
        affineLoss = affineFitLoss(train)
        optimizer = OptimizerState(count: shape.layout.count, settings: config.optimizer)
        sampler = MiniBatchSampler(count: train.count, batchSize: config.batchSize, seed: config.seed)
        if resume {
            guard let dir = outputDirectory else { throw TrainingError("--resume needs --out DIR") }
            let (c, note) = try Checkpoint.loadForResume(directory: dir)
            if let note { log("note: \(note)") }
            let differences = c.header.configuration.runDifferences(from: config)
            guard differences.isEmpty else {
                throw TrainingError("--resume: the checkpoint in \(dir) belongs to a different configuration (checkpoint → now: \(differences.joined(separator: "; "))); only --iterations, --target-loss, --time-limit, --progress-every and --checkpoint-every may change (a parallel run begun when --preset paper was the default resumes with --preset paper)")
            }
            if let recorded = c.header.trainingData, recorded != trainingData {
                throw TrainingError("--resume: the training data changed since the checkpoint in \(dir) (then \(recorded); now \(trainingData))")
            }
            try c.checkBounds(configuration: config, parameterCount: network.layout.count, trainingExamples: train.count,
                              path: Checkpoint.path(in: dir))
            try network.parameters.load(c.parameters)
            optimizer = c.optimizer
            try engine.importState(c.engineState)
            sampler = MiniBatchSampler(count: train.count, batchSize: config.batchSize, seed: config.seed,
                                       epoch: c.header.samplerEpoch, position: c.header.samplerPosition)
            step = c.header.step
            history = c.header.history
            // A run that stopped between evaluation steps evaluated once more at its end;
            // the uninterrupted run has no evaluation there, so drop it to keep histories identical.
            if var last = history.last, last.iteration % config.evalEvery != 0 {
                last.trainLoss = nil; last.validationLoss = nil
                history[history.count - 1] = last
            }
            trainSeconds = c.header.trainSeconds
            trainCPUSeconds = c.header.history.last?.cpuSeconds ?? 0
            timing = c.header.timing
            resumedFrom = step
            if note == nil { lastCheckpointStep = step }   // checkpoint.lpck is this step's
            log("resumed from \(Checkpoint.path(in: dir)) at step \(step)")
        }
    }

    var isWriter: Bool { comm.rank == 0 && outputDirectory != nil }

    /// Trains until a stopping rule holds; writes files; returns the summary.
    /// Throws ``TrainingStopped`` after writing the files if the loss became NaN.
    /// Collective: every rank decides every stop together (NaN, signal, time limit),
    /// rank 0 writes the files, then all ranks pass a barrier before returning or throwing.
    @discardableResult
    public func run() throws -> RunSummary {
        var historyLog: HistoryLog?
        if isWriter, let dir = outputDirectory {
            if resumedFrom == nil { RunDirectory.clearForNewRun(dir) } else { RunDirectory.removeStrayTemporaries(in: dir) }
            historyLog = try HistoryLog(path: dir + "/history.csv", rows: history, log: log)
        }
        defer { historyLog?.close() }
        var lastTrain: Double? = history.last(where: { $0.trainLoss != nil })?.trainLoss
        var lastVal: Double? = history.last(where: { $0.validationLoss != nil })?.validationLoss
        var stop: (StopReason, String)?
        if step == 0 {
            // Evaluation of the initial network (iteration 0).
            let e = try evaluate()
            lastTrain = e.train; lastVal = e.validation
            history.append(HistoryRow(iteration: 0, seconds: 0, batchLoss: e.train, trainLoss: e.train, validationLoss: e.validation,
                                      forwardIterations: 0, forwardResidual: nil, backwardIterations: 0, backwardResidual: nil,
                                      cpuSeconds: 0))
            historyLog?.append(history[history.count - 1])
            log(String(format: "step %6d  train %.4e  val %.4e  (initial; affine-fit loss %.4e, %d parameters, %@ mode, %d rank%@)",
                       0, e.train, e.validation, affineLoss, network.layout.count, config.mode.rawValue, comm.size, comm.size == 1 ? "" : "s"))
        }
        let wallStart = now()
        while stop == nil {
            if let it = config.iterations, step >= it { stop = (.iterations, "reached \(it) iterations"); break }
            if let tl = config.timeLimit {
                // Ranks measure slightly different times: decide together, or some would stop alone.
                let t = comm.size > 1 ? try comm.allreduceMax(trainSeconds) : trainSeconds
                if t >= tl { stop = (.timeLimit, String(format: "time limit %.1f s reached", tl)); break }
            }
            let batch = sampler.next()
            let cpu0 = threadCPUSeconds()
            var r = try engine.compute(gradient: gradient, data: train, batch: batch, step: step)
            if config.nanAtStep == step + 1 { r.loss = .nan }
            let finite = r.loss.isFinite && gradient.flat.withUnsafeMutableBufferPointer { OptimizerKernels.allFinite(UnsafeBufferPointer($0)) }
            // One decision for all ranks: a non-finite value on any rank, or a signal on any rank.
            var flags = [finite ? 0 : 1, Double(StopSignal.received)]
            if comm.size > 1 { flags = try comm.allreduceMax(flags) }
            guard flags[0] == 0 else {
                let what = !finite && r.loss.isFinite ? "gradient" : "loss"
                let value = finite ? "non-finite on another rank" : r.loss.isFinite ? "non-finite" : "\(r.loss)"
                stop = (.nanLoss, "the \(what) became \(value) at step \(step + 1); parameters of step \(step) kept, the last good checkpoint is untouched; try a smaller --lr")
                break
            }
            // The error of the step's solves against exact passes, at the step's parameters; not training time.
            var measured: SolveError?
            if let k = config.measureErrorEvery, (step + 1) % k == 0 {
                let c0 = threadCPUSeconds()
                measured = try engine.measureError(data: train, batch: batch)
                excludedCPU += threadCPUSeconds() - c0
            }
            let t0 = now()
            var search: LineSearchOutcome?
            var trialSeconds = 0.0
            if config.optimizer.kind == .lbfgs {
                // Each trial point's loss is a forward pass on the same (full) batch; its time counts as forward time.
                let engine = self.engine, data = train, at = step
                search = try network.parameters.flat.withUnsafeMutableBufferPointer { p in
                    try gradient.flat.withUnsafeMutableBufferPointer { g in
                        try optimizer.lbfgsStep(p, gradient: UnsafeBufferPointer(g), loss: r.loss, settings: config.optimizer) {
                            let t = try engine.loss(data: data, batch: batch, step: at)
                            trialSeconds += t.seconds
                            return t.loss
                        }
                    }
                }
            } else {
                network.parameters.flat.withUnsafeMutableBufferPointer { p in
                    gradient.flat.withUnsafeMutableBufferPointer { optimizer.update(p, gradient: UnsafeBufferPointer($0), settings: config.optimizer) }
                }
            }
            let tu = now() - t0 - trialSeconds
            r.forwardSeconds += trialSeconds
            trainCPUSeconds += threadCPUSeconds() - cpu0 - excludedCPU
            excludedCPU = 0
            step += 1
            timing.forward += r.forwardSeconds; timing.backward += r.backwardSeconds; timing.update += tu; timing.steps += 1
            trainSeconds += r.forwardSeconds + r.backwardSeconds + tu
            var row = HistoryRow(iteration: step, seconds: trainSeconds, batchLoss: r.loss, trainLoss: nil, validationLoss: nil,
                                 forwardIterations: r.forwardIterations, forwardResidual: r.forwardResidual.isNaN ? nil : r.forwardResidual,
                                 backwardIterations: r.backwardIterations, backwardResidual: r.backwardResidual.isNaN ? nil : r.backwardResidual,
                                 cpuSeconds: trainCPUSeconds, serialFallback: r.serialFallback,
                                 lineSearchTrials: search.map { $0.accepted ? $0.trials : -$0.trials },
                                 forwardError: measured?.forwardRMS, adjointError: measured?.adjointRMS)
            let last = config.iterations.map { step >= $0 } ?? false
            if step % config.evalEvery == 0 || last {
                let e = try evaluate()
                row.trainLoss = e.train; row.validationLoss = e.validation
                lastTrain = e.train; lastVal = e.validation
                if e.openingActive == 0 {
                    stop = (.deadNetwork, "dead network at step \(step): every ReLU of the opening layer is off for every training and validation sample, so the output is constant (\(String(format: "%.6g", e.spread)) spread) and no gradient reaches the opening layer again; lower --lr")
                } else if let target = config.targetLoss, e.train <= target {
                    stop = (.targetLoss, String(format: "training loss %.4e ≤ target %.4e at step %d", e.train, target, step))
                }
            }
            history.append(row)
            historyLog?.append(row)
            if stop == nil, flags[1] != 0 {
                stopSignal = Int32(flags[1])
                stop = (.signal, "\(StopSignal.name(Int32(flags[1]))) received: stopped after step \(step) with checkpoint, history and summary written (--resume continues)")
            }
            if step % config.progressEvery == 0 || stop != nil {
                var line = String(format: "step %6d  batch %.4e  train %@  val %@  elapsed %.2fs",
                                  step, r.loss, fmt(lastTrain), fmt(lastVal), trainSeconds)
                if config.mode == .parallel {
                    line += String(format: "  mgrit fwd %d (%.1e) bwd %d (%.1e)", r.forwardIterations, r.forwardResidual,
                                   r.backwardIterations, r.backwardResidual)
                }
                log(line)
            }
            if step % config.checkpointEvery == 0 { try checkpoint() }
        }
        let (reason, message) = stop!
        log("stopped: \(message) (wall \(String(format: "%.2f", now() - wallStart)) s)")
        if reason == .deadNetwork { log("WARNING: \(message)") }
        let summary = makeSummary(reason: reason, message: message)
        if reason != .nanLoss { try checkpoint() }
        historyLog?.close()
        if isWriter { try writeFiles(summary) }
        // The other ranks wait until rank 0's files are complete before anyone ends the job.
        if comm.size > 1 { try comm.barrier() }
        if reason == .nanLoss { throw TrainingStopped(reason: reason, message: message) }
        return summary
    }

    func fmt(_ v: Double?) -> String { v.map { String(format: "%.4e", $0) } ?? "-" }

    func evaluate() throws -> (train: Double, validation: Double, openingActive: Double, spread: Double) {
        let t0 = now()
        let a = try network.evaluate(features: train.features, targets: train.targets, count: train.count, workspace: evalWorkspace)
        let b = try network.evaluate(features: validation.features, targets: validation.targets, count: validation.count, workspace: evalWorkspace)
        timing.evaluation += now() - t0
        return (a.loss, b.loss, max(a.openingActive, b.openingActive), max(a.outputSpread, b.outputSpread))
    }

    /// Collective: every rank calls it (the engine's warm start is gathered); rank 0 writes.
    func checkpoint() throws {
        // Not twice for one step (a run ending on a checkpoint step): the previous checkpoint stays an older one.
        guard let dir = outputDirectory, step != lastCheckpointStep else { return }
        lastCheckpointStep = step
        let engineState = try engine.exportState()
        guard isWriter else { return }
        let header = Checkpoint.Header(formatVersion: Checkpoint.formatVersion, configuration: config, step: step,
                                       samplerEpoch: sampler.epoch, samplerPosition: sampler.position,
                                       optimizerSteps: optimizer.steps, trainSeconds: trainSeconds, timing: timing,
                                       history: history, parameterCount: 0, firstMomentCount: 0, secondMomentCount: 0,
                                       engineStateCount: 0, scaling: scaling.isIdentity ? nil : scaling,
                                       tool: "layerpar \(version)", ranks: comm.size, trainingData: trainingData,
                                       columnNames: columnNames)
        try Checkpoint(header: header, parameters: parameters, optimizer: optimizer, engineState: engineState)
            .write(directory: dir)
    }

    func makeSummary(reason: StopReason, message: String) -> RunSummary {
        let evals = history.filter { $0.trainLoss != nil }
        let bestTrain = evals.min { $0.trainLoss! < $1.trainLoss! }
        let bestVal = history.filter { $0.validationLoss != nil }.min { $0.validationLoss! < $1.validationLoss! }
        let target = config.targetLoss ?? config.data.referenceLoss
        let hit = target.flatMap { t in evals.first { $0.iteration > 0 && $0.trainLoss! <= t } }
        let plateau = evals.first { $0.iteration > 0 && $0.trainLoss! < 0.9 * affineLoss }
        let n = Double(max(timing.steps, 1))
        let steps = history.filter { $0.iteration > 0 }
        let par = config.mode == .parallel && !steps.isEmpty
        return RunSummary(
            tool: "layerpar train", version: version, configuration: config, ranks: comm.size,
            host: .current(kernels: kernelsDescription), trainingSamples: train.count, validationSamples: validation.count,
            parameterCount: network.layout.count, affineFitLoss: affineLoss, steps: step, stopReason: reason, stopMessage: message,
            lowestTrainLoss: bestTrain?.trainLoss, lowestTrainLossIteration: bestTrain?.iteration,
            lowestValidationLoss: bestVal?.validationLoss, lowestValidationLossIteration: bestVal?.iteration,
            lowestBatchLoss: steps.map(\.batchLoss).min(),
            iterationsToTarget: hit?.iteration, secondsToTarget: hit?.seconds, cpuSecondsToTarget: hit?.cpuSeconds,
            plateauEndIteration: plateau?.iteration, trainSeconds: trainSeconds, trainCPUSeconds: trainCPUSeconds,
            secondsPerStep: PhaseTimes(forward: timing.forward / n, backward: timing.backward / n, update: timing.update / n,
                                       evaluation: timing.evaluation / n,
                                       total: (timing.forward + timing.backward + timing.update) / n),
            meanForwardMGRITIterations: par ? Double(steps.map(\.forwardIterations).reduce(0, +)) / Double(steps.count) : nil,
            meanBackwardMGRITIterations: par ? Double(steps.map(\.backwardIterations).reduce(0, +)) / Double(steps.count) : nil,
            resumedFromStep: resumedFrom, topology: topologySummary, rankBindings: rankBindings,
            warmStart: config.mode == .parallel ? config.warmStartPolicy : nil,
            warmStartBytesPerRank: config.mode == .parallel ? engine.warmStartBytes : nil,
            decomposition: (engine as? DataParallelEngine)?.decomposition ?? decomposition,
            preactivations: engine.preactivations)
    }

    public static let historyColumns = ["iteration", "seconds", "batch_loss", "train_loss", "validation_loss",
                                        "forward_mgrit_iterations", "forward_residual", "backward_mgrit_iterations", "backward_residual",
                                        "cpu_seconds", "serial_fallback", "line_search_trials",
                                        "forward_state_error", "adjoint_error"]

    public static func historyTable(_ history: [HistoryRow]) throws -> CSVTable {
        var t = CSVTable(columns: historyColumns)
        func opt(_ v: Double?) -> CSVValue { v.map { .double($0) } ?? "" }
        for h in history {
            try t.append([.int(h.iteration), .double(h.seconds), .double(h.batchLoss), opt(h.trainLoss), opt(h.validationLoss),
                          .int(h.forwardIterations), opt(h.forwardResidual), .int(h.backwardIterations), opt(h.backwardResidual),
                          opt(h.cpuSeconds), .text(h.serialFallback ?? ""), h.lineSearchTrials.map { .int($0) } ?? "",
                          opt(h.forwardError), opt(h.adjointError)])
        }
        return t
    }

    func writeFiles(_ summary: RunSummary) throws {
        guard let dir = outputDirectory else { return }
        try Self.historyTable(history).write(to: dir + "/history.csv")
        try AtomicFile.writeJSON(summary, to: dir + "/summary.json")
        do {
            var args = [dir + "/loss.png", "--title", "\(config.data.name) \(config.mode.rawValue) depth \(config.depth)"]
            if let t = config.targetLoss ?? config.data.referenceLoss { args += ["--reference", String(t)] }
            try Plot.run(script: "tools/plots/loss.py", arguments: args + ["--run", config.mode.rawValue, dir + "/history.csv"])
        } catch {
            log("note: loss.png not written: \(error)")
        }
    }
}

extension DataSource {
    /// The paper's reference training loss for its tasks (Tables 2–3): f1 5e-4, f2 6e-3.
    public var referenceLoss: Double? {
        if case .task(let t, _, _) = self { return t == .f1 ? 5e-4 : 6e-3 }
        return nil
    }
    public var name: String {
        switch self {
        case .task(let t, _, _): return t.rawValue
        case .files(let a, _, _): return URL(fileURLWithPath: a).lastPathComponent
        }
    }
}
