import Foundation
import MGRIT
import ResNet

/// How the hidden stack's forward and backward passes are computed.
public enum TrainingMode: String, Sendable, Codable, CaseIterable {
    /// Exact layer-by-layer passes (the baseline).
    case serial
    /// One-shot layer-parallel: MGRIT solves of the forward and adjoint systems
    /// to tolerances, warm-started from the previous step (inexact gradients).
    case parallel
}

/// Where the data comes from.
public enum DataSource: Sendable, Codable, Equatable {
    /// A paper task generated from the seed: `train` and `validation` samples.
    case task(RegressionTask, train: Int, validation: Int)
    /// User CSV files with `targets` target columns (the last ones).
    case files(train: String, validation: String, targets: Int)
}

/// Everything that defines a training run. Stored in checkpoints (a resume
/// must use the same configuration except the stopping rule) and summaries.
public struct TrainingConfiguration: Sendable, Codable, Equatable {
    public var data: DataSource
    /// Scaling of CSV features and targets, fitted on the training set (``DataScaling``).
    /// Stored as nil for `.none`, so configurations written before the option existed
    /// decode and compare equal; read it through ``normalizationKind``.
    public var normalization: NormalizationKind?
    public var mode: TrainingMode
    public var depth: Int
    public var width: Int
    public var beta: Double
    public var batchSize: Int
    public var optimizer: OptimizerSettings
    /// Initial parameters uniform in `[initLow, initHigh)` (paper: [0, 1e-3]).
    public var initLow: Double
    public var initHigh: Double
    /// Stopping: any that is set ends the run when reached.
    public var iterations: Int?
    public var targetLoss: Double?
    public var timeLimit: Double?
    /// Layer-parallel: stop MGRIT when the ℓ² residual norm is below these, or after the caps.
    /// A tolerance of 0 runs exactly the cap's iterations, measuring (one global
    /// reduction) only the last one's residual.
    public var tolForward: Double
    public var tolBackward: Double
    public var maxForwardIterations: Int
    public var maxBackwardIterations: Int
    /// MGRIT coarsening factor and maximum number of levels (paper: 4, as many as fit).
    public var coarsening: Int
    public var maxLevels: Int
    /// Where the one-shot solves start; nil in runs recorded before the option
    /// existed, which started from the previous step (``warmStartPolicy``).
    public var warmStart: WarmStartPolicy?
    /// Bound in MiB on the per-example warm-start store of one rank (nil: 4096).
    /// A resource limit, not part of the run: a resume may change it.
    public var warmStartMemoryMiB: Int?
    /// Cycle, relaxation, hierarchy and coarse step of the one-shot solves (nil: ``SolverSettings``'s defaults).
    public var solver: SolverSettings?
    /// Noise experiments (layer-serial): uniform noise in [−c, c] on each hidden
    /// layer's output (forward) and/or adjoint (backward); 0 = off.
    public var noiseForward: Double
    public var noiseBackward: Double
    public var seed: UInt64
    /// Evaluate full training and validation loss every `evalEvery` steps.
    public var evalEvery: Int
    public var progressEvery: Int
    public var checkpointEvery: Int
    /// Layer-parallel: every this many steps, compare the step's MGRIT states and adjoints with
    /// exact layer-serial passes on the same batch and record the RMS errors in the history
    /// (``SolveError``; not counted as training time). nil: never. A report, not part of the run:
    /// a resume may change it.
    public var measureErrorEvery: Int?
    /// Fault injection for tests: the batch loss of this step is replaced by NaN.
    public var nanAtStep: Int?

    public init(data: DataSource, normalization: NormalizationKind = .none, mode: TrainingMode = .serial, depth: Int, width: Int = 16, beta: Double = 0.1,
                batchSize: Int = 64, optimizer: OptimizerSettings, initLow: Double = 0, initHigh: Double = 1e-3,
                iterations: Int? = nil, targetLoss: Double? = nil, timeLimit: Double? = nil,
                tolForward: Double = 1e-8, tolBackward: Double = 1e-8,
                maxForwardIterations: Int = 10, maxBackwardIterations: Int = 10,
                coarsening: Int = 4, maxLevels: Int = 10,
                warmStart: WarmStartPolicy = .example, warmStartMemoryMiB: Int? = nil, solver: SolverSettings? = nil,
                noiseForward: Double = 0, noiseBackward: Double = 0, seed: UInt64 = 1,
                evalEvery: Int = 25, progressEvery: Int = 100, checkpointEvery: Int = 1000, measureErrorEvery: Int? = nil,
                nanAtStep: Int? = nil) {
        self.data = data
        self.normalization = normalization == .none ? nil : normalization
        self.mode = mode
        self.depth = depth
        self.width = width
        self.beta = beta
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.initLow = initLow
        self.initHigh = initHigh
        self.iterations = iterations
        self.targetLoss = targetLoss
        self.timeLimit = timeLimit
        self.tolForward = tolForward
        self.tolBackward = tolBackward
        self.maxForwardIterations = maxForwardIterations
        self.maxBackwardIterations = maxBackwardIterations
        self.coarsening = coarsening
        self.maxLevels = maxLevels
        self.warmStart = warmStart
        self.warmStartMemoryMiB = warmStartMemoryMiB
        self.solver = solver
        self.noiseForward = noiseForward
        self.noiseBackward = noiseBackward
        self.seed = seed
        self.evalEvery = evalEvery
        self.progressEvery = progressEvery
        self.checkpointEvery = checkpointEvery
        self.measureErrorEvery = measureErrorEvery
        self.nanAtStep = nanAtStep
    }

    /// Checks the fields that do not depend on each other's meaning.
    public func validate() throws(TrainingError) {
        func need(_ ok: Bool, _ message: String) throws(TrainingError) { if !ok { throw TrainingError(message) } }
        try need(depth >= 1, "--depth must be at least 1, got \(depth)")
        try need(width >= 1, "--width must be at least 1, got \(width)")
        try need(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        try need(optimizer.learningRate > 0 && optimizer.learningRate.isFinite, "--lr must be positive and finite, got \(optimizer.learningRate)")
        try validateNumbers()
        if optimizer.kind == .lbfgs {
            try optimizer.lbfgsSettings.validate()
            try need(optimizer.schedule == .constant,
                     "--lr-schedule does not apply to --optimizer lbfgs (its step length comes from the line search; --lr scales only the first step)")
            if case .task(_, let train, _) = data {
                try need(batchSize == train,
                         "--optimizer lbfgs works on the full batch: give --batch-size \(train) (the training set, --train-samples), got \(batchSize)")
            }
        }
        try need(iterations != nil || targetLoss != nil || timeLimit != nil,
                 "give a stopping rule: --iterations K, --target-loss L or --time-limit S")
        if let iterations { try need(iterations >= 1, "--iterations must be at least 1, got \(iterations)") }
        if let targetLoss { try need(targetLoss > 0 && targetLoss.isFinite, "--target-loss must be positive, got \(targetLoss)") }
        if let timeLimit { try need(timeLimit > 0 && timeLimit.isFinite, "--time-limit must be positive seconds, got \(timeLimit)") }
        try need(tolForward >= 0 && tolBackward >= 0, "MGRIT tolerances must be ≥ 0")
        try need(maxForwardIterations >= 1 && maxBackwardIterations >= 1, "MGRIT iteration caps must be at least 1")
        try need(noiseForward >= 0 && noiseBackward >= 0, "noise magnitudes must be ≥ 0")
        try need(mode == .serial || (noiseForward == 0 && noiseBackward == 0),
                 "noise experiments run layer-serial: use --mode serial with --noise-forward/--noise-backward")
        if let k = measureErrorEvery {
            try need(k >= 1, "--measure-error-every must be at least 1, got \(k)")
            try need(mode == .parallel, "--measure-error-every compares the MGRIT solves with exact passes: it needs --mode parallel")
        }
        try need(initHigh >= initLow, "--init-high must be ≥ --init-low")
        try need(evalEvery >= 1 && progressEvery >= 1 && checkpointEvery >= 1, "--eval-every, --progress-every and --checkpoint-every must be at least 1")
        try need(coarsening >= 2, "--coarsening must be at least 2")
        do {
            try (solver ?? SolverSettings()).apply(to: MGRITOptions(), coarsening: coarsening, maxLevels: maxLevels).validate()
        } catch {
            throw TrainingError("MGRIT options: \(error)")
        }
        if let m = warmStartMemoryMiB { try need(m >= 0 && m <= 1 << 40, "--warm-start-memory must be 0…2⁴⁰ MiB, got \(m)") }
        if case .task(let task, let train, let validation) = data {
            try need(train >= 1 && validation >= 1, "training and validation sets need at least one sample")
            try need(normalizationKind == .none,
                     "--normalize \(normalizationKind.rawValue) applies to CSV data (--train/--validation); task \(task.rawValue) keeps the paper's fixed scaling (targets / \(Int(task.scale)))")
        }
    }

    /// The same run with another stopping rule / reporting cadence (what `--resume` may change).
    public func sameRun(as other: TrainingConfiguration) -> Bool { runDifferences(from: other).isEmpty }

    /// What differs between this run and `other` beyond what `--resume` may change, one
    /// `field: this → other` entry per differing field (nested fields as `solver.fineRelaxation`),
    /// in the fields' JSON spelling; empty for the same run.
    public func runDifferences(from other: TrainingConfiguration) -> [String] {
        let (a, b) = (resumeNormalised(), other.resumeNormalised())
        guard a != b else { return [] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func object(_ c: TrainingConfiguration) -> [String: Any] {
            (try? encoder.encode(c)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        }
        func text(_ v: Any?) -> String {
            guard let v, !(v is NSNull) else { return "none" }
            if let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]),
               let s = String(data: d, encoding: .utf8) { return s }
            return "\(v)"
        }
        func compare(_ x: [String: Any], _ y: [String: Any], prefix: String) -> [String] {
            Set(x.keys).union(y.keys).sorted().flatMap { k -> [String] in
                if let u = x[k] as? [String: Any], let v = y[k] as? [String: Any] { return compare(u, v, prefix: prefix + k + ".") }
                let (u, v) = (text(x[k]), text(y[k]))
                return u == v ? [] : ["\(prefix)\(k): \(u) → \(v)"]
            }
        }
        let found = compare(object(a), object(b), prefix: "")
        return found.isEmpty ? ["(a field the JSON form does not show)"] : found
    }

    /// This configuration with what `--resume` may change (and what older records left out) set alike.
    func resumeNormalised() -> TrainingConfiguration {
        var a = self
        a.iterations = nil
        a.targetLoss = nil
        a.timeLimit = nil
        a.progressEvery = 1
        a.checkpointEvery = 1
        a.warmStartMemoryMiB = nil
        a.measureErrorEvery = nil
        // A configuration recorded before the solver settings existed ran their defaults.
        a.solver = a.solver ?? SolverSettings()
        // Stall handling is a stopping rule of each solve (and runs recorded before it had none).
        a.solver!.stallIterations = nil; a.solver!.stallRatio = nil; a.solver!.serialOnStall = nil
        // …and started from the previous step's states: `--warm-start previous` resumes them.
        a.warmStart = a.warmStartPolicy
        return a
    }

    public var normalizationKind: NormalizationKind { normalization ?? .none }

    /// The warm start the one-shot solves use (`previous` for runs recorded without one).
    public var warmStartPolicy: WarmStartPolicy { warmStart ?? .previous }

    public var shape: NetworkShape { NetworkShape(inputs: 0, width: width, outputs: 0, depth: depth, beta: beta) }
}

/// A training run that cannot start or continue; the message names the problem.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
