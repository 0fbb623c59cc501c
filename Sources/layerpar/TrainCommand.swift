import ArgumentParser
import Comm
import Foundation
import Kernels
import Reports
import ResNet
import Topology
import Training

extension RegressionTask: ExpressibleByArgument {}
extension TrainingMode: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension NormalizationKind: ExpressibleByArgument {}
extension WarmStartPolicy: ExpressibleByArgument {}
extension SolverPreset: ExpressibleByArgument {}

/// `layerpar train`: trains the paper's ResNet on task f1/f2 or on CSV files,
/// layer-serial or layer-parallel (one-shot MGRIT), and writes history, summary,
/// plot and checkpoints to `--out DIR`.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a deep ResNet on a regression task, layer-serial or layer-parallel.",
        discussion: """
            Data: --task f1|f2 generates the paper's tasks from --seed (targets scaled by 1/400 and 1/800 \
            into [0, 1]); or --train FILE --validation FILE read CSV (header row, feature columns, then \
            --targets target columns). Loss: ½·mean over samples and outputs of (prediction − target)².
            Example: layerpar train --task f2 --mode parallel --depth 50 --lr 3e-3 --iterations 2000 --out results/f2
            """)

    @Option(help: "Paper task to generate: f1 or f2.") var task: RegressionTask?
    @Option(help: "Training data CSV file (instead of --task).") var train: String?
    @Option(help: "Validation data CSV file (with --train).") var validation: String?
    @Option(help: "Number of target columns at the end of each CSV row.") var targets: Int = 1
    @Option(help: "Scaling of CSV features and targets, fitted on the training set only and stored with the model (predict applies it and answers in the data's units): none, standard (mean 0, standard deviation 1 per column) or minmax ([min, max] → [0, 1]). Losses are reported in the scaled units. --task data keeps the paper's fixed scaling.") var normalize: NormalizationKind = .none
    @Option(help: "Training samples generated for --task.") var trainSamples: Int = 5000
    @Option(help: "Validation samples generated for --task.") var validationSamples: Int = 1000

    @Option(help: "serial (exact passes) or parallel (one-shot MGRIT).") var mode: TrainingMode = .serial
    @Option(help: "Number of hidden residual layers (default: 322 for f1, 50 otherwise).") var depth: Int?
    @Option(help: "Width of the hidden layers.") var width: Int = 16
    @Option(help: "Step size β of the residual layers.") var beta: Double = 0.1
    @Option(help: "Mini-batch size.") var batchSize: Int = 64
    @Option(help: "Optimiser: adam, sgd (with momentum) or lbfgs (L-BFGS with a backtracking Armijo line search, the optimiser of the paper's reference code). lbfgs works on the full batch: --batch-size must be the training set's size (an error otherwise). Each step computes the loss and gradient, then the direction d = −H·g by the two-loop recursion over the last --lbfgs-history pairs (H₀ = γI, γ = sᵀy/yᵀy of the newest pair; a pair with sᵀy ≤ 1e-8·‖s‖‖y‖ is skipped), then tries α = 1, ρ, ρ², … until the loss at x + αd is at most f + c₁·α·gᵀd; every trial is one more forward pass (--mode parallel: the forward MGRIT solve with this run's settings, so the trial losses are as inexact as the step's). history.csv's line_search_trials counts the trials per step (negative: none accepted, the step was not taken and the memory cleared).")
    var optimizer: OptimizerKind = .adam
    @Option(help: "Learning rate (adam, sgd); for lbfgs the scale γ of the first step's direction −γ·g, before any pair exists.") var lr: Double = 3e-3
    @Option(help: "L-BFGS: pairs (s, y) kept (default 10).") var lbfgsHistory: Int?
    @Option(help: "L-BFGS: Armijo sufficient-decrease constant c₁ in (0, 1) (default 1e-4).") var lbfgsArmijo: Double?
    @Option(help: "L-BFGS: backtracking factor ρ in (0, 1): α ← ρα after a rejected trial (default 0.5).") var lbfgsBacktrack: Double?
    @Option(help: "L-BFGS: trials per line search before the step is abandoned (default 20).") var lbfgsMaxTrials: Int?
    @Option(help: "Learning-rate schedule: constant, step:EVERY:FACTOR, cosine:STEPS, or inverse:DECAY.") var lrSchedule: String = "constant"
    @Option(help: "SGD momentum.") var momentum: Double = 0.9
    @Option(help: "Lower bound of the uniform initialisation.") var initLow: Double = 0
    @Option(help: "Upper bound of the uniform initialisation (paper: 1e-3).") var initHigh: Double = 1e-3

    @Option(help: "Stop after this many optimiser steps.") var iterations: Int?
    @Option(help: "Stop when the full training loss (evaluated every --eval-every steps) is at most this.") var targetLoss: Double?
    @Option(help: "Stop after this many seconds of training time.") var timeLimit: Double?
    @Option(help: "Watchdog: end the job (exit status 124) if it still runs after this many seconds of wall time — e.g. a rank stopped or hung leaves the others waiting; the last checkpoint and the history so far remain.") var timeout: Double?

    @Option(help: "One-shot configuration the solver flags below refine: adaptive (the default: the forward solve to an absolute residual of 1, at most 5 iterations, exactly 1 adjoint iteration, F-relaxation on a fine level coarsened by 16, no warm start — the one set-up measured that reaches the reference loss of both f1 and f2 at under 4× serial's work; fixed 2 or 3 forward iterations let f1's forward residual grow over training), oneshot (exactly 2 forward and 1 adjoint iteration, otherwise as adaptive: slightly less work to f2's reference, but f1 at depth 322 stalls short of its reference), paper (solve to --tol-forward/--tol-backward, default 1e-8/1e-8 for f1 and 1e-4/1e-6 otherwise, per-example warm starts: 12–14× serial's work to the reference), layerparallel (LayerParallelLearning: exactly 2 forward and 2 adjoint iterations, F-relaxation on the fine level), torchbraid (exactly 2 forward, 1 adjoint iteration).")
    var preset: SolverPreset = .adaptive
    @Option(help: "Forward MGRIT tolerance on the ℓ² residual norm (default: the preset's — adaptive 1; paper 1e-8 for f1, 1e-4 otherwise); 0 runs exactly --max-forward-iterations iterations with no residual reduction but the last.") var tolForward: Double?
    @Option(help: "Adjoint MGRIT tolerance (default: 1e-8 for f1, 1e-6 otherwise); 0: exactly --max-backward-iterations iterations, as for --tol-forward.") var tolBackward: Double?
    @Option(help: "Cap on forward MGRIT iterations per step (default 10).") var maxForwardIterations: Int?
    @Option(help: "Cap on adjoint MGRIT iterations per step (default 10).") var maxBackwardIterations: Int?
    @Option(help: "Run exactly K forward MGRIT iterations per step, no tolerance (the residual of the last is still reported).") var forwardIterations: Int?
    @Option(help: "Run exactly K adjoint MGRIT iterations per step, no tolerance.") var backwardIterations: Int?
    @Option(help: "Coarse step over k layers: cPointLayer (the C-point's layer with kβ, the paper; the default), intervalAverage (mean W, b of the k layers with kβ) or secondOrder (mean W, b, two-stage step exact to second order; with --preset adaptive less work to f1's reference loss, more to f2's).")
    var coarseStep: CoarseStep?
    @OptionGroup(title: "MGRIT (one-shot: F-cycles, FCF)") var mgrit: MGRITOptionGroup
    @Option(help: "Where each step's MGRIT solves start (parallel mode): example (each example from its own C-point states at its last visit), previous (the previous step's states, another batch's), or none (the initial guess). Default: none with --preset oneshot and adaptive, example otherwise.")
    var warmStart: WarmStartPolicy?
    @Option(help: "Bound in MiB on one rank's per-example warm-start store (training examples × owned C-points × width × 8 B, forward and adjoint).")
    var warmStartMemory: Int = 4096

    @Option(help: "Noise experiment: add uniform [-c, c] noise to each hidden layer's output (serial mode; may be combined with --noise-backward).") var noiseForward: Double = 0
    @Option(help: "Noise experiment: add uniform [-c, c] noise to each hidden layer's adjoint (serial mode).") var noiseBackward: Double = 0
    @Option(help: "Parallel mode: every k steps, also run exact layer-serial passes on the step's batch at the step's parameters and record in history.csv (forward_state_error, adjoint_error) the root-mean-square difference of the MGRIT forward states x¹…xᴺ and of the adjoints the adjoint solver keeps (C-points and λ⁰) from the exact ones. RMS: uniform noise in [−c, c] has RMS c/√3, so --noise-forward/--noise-backward c = √3·RMS is noise of the measured size. Not counted as training time. Default: off.")
    var measureErrorEvery: Int?

    @Option(help: "Output directory (created if missing; checked writable before training). One that already holds a run is refused unless --resume or --force.") var out: String

    @Option(help: "Data parallelism: split the job's P ranks (mpirun -np P) into D batch groups of L = P/D ranks; each group takes its share of every mini-batch (B/D examples, shares differing by one when D does not divide B) and solves the layers on its L ranks (layer-serial with --mode serial, which needs D = P; one-shot MGRIT with --mode parallel); one gradient allreduce over all ranks per step. D must divide P and be at most --batch-size. --mode serial --data-groups P is plain data-parallel training. A checkpoint resumes on any decomposition.")
    var dataGroups: Int = 1
    @Option(help: "With --data-groups and --mode serial: reduce the gradient in this many buckets of consecutive layers, each started (MPI_Iallreduce) as soon as the backward pass has finished its layers, so the reduction overlaps the rest of the pass; 1 (default): one reduction of gradient and loss after the backward pass.")
    var gradientBuckets: Int = DataParallelEngine.defaultBuckets
    @Option(help: "What the forward pass keeps of each hidden layer's pre-activation z = W x + b for the backward pass (--mode serial), or the forward MGRIT solve for the adjoint solve (--mode parallel): store (z itself, 8 bytes per entry), mask (its ReLU mask, 1 byte per entry, written by the same kernel call: the backward pass needs only the sign), or recompute (nothing kept: one more forward kernel call per layer and adjoint step). Same gradients bitwise in all three; which is fastest depends on whether a batch's states fit in cache. auto (default): the first steps cycle through the three, timed in CPU time on each rank, and the rest of the run keeps the fastest; summary.json records rank 0's choice and timings.")
    var preactivations: PreactivationPolicy = .auto

    @OptionGroup(title: "Placement") var placement: PlacementOptions
    @Flag(help: "Continue the run in --out from its checkpoint (checkpoint.lpck, or checkpoint.prev.lpck if that one is damaged).") var resume = false
    @Flag(help: "Replace the run that --out already holds (its checkpoints, history and summary are deleted).") var force = false
    @Option(help: "Random seed (data, initial weights, batches, noise).") var seed: UInt64 = 1
    @Option(help: "Evaluate full training and validation losses every k steps.") var evalEvery: Int = 25
    @Option(help: "Print a progress line every k steps.") var progressEvery: Int = 100
    @Option(help: "Write a checkpoint every k steps (and at the end).") var checkpointEvery: Int = 1000
    @Option(help: ArgumentHelp("Test hook: replace the loss of this step with NaN.", visibility: .hidden)) var debugNanAtStep: Int?

    func validate() throws {
        if task == nil && train == nil { throw ValidationError("give --task f1|f2 or --train FILE --validation FILE") }
        if task != nil && (train != nil || validation != nil) { throw ValidationError("--task and --train/--validation exclude each other") }
        if (train == nil) != (validation == nil) { throw ValidationError("--train and --validation go together") }
        if targets < 1 { throw ValidationError("--targets must be at least 1, got \(targets)") }
        if let timeout, !(timeout > 0 && timeout.isFinite) { throw ValidationError("--timeout must be a positive finite number of seconds, got \(timeout)") }
        _ = try schedule()
        if optimizer != .lbfgs, lbfgsHistory != nil || lbfgsArmijo != nil || lbfgsBacktrack != nil || lbfgsMaxTrials != nil {
            throw ValidationError("--lbfgs-history, --lbfgs-armijo, --lbfgs-backtrack and --lbfgs-max-trials apply to --optimizer lbfgs, not \(optimizer.rawValue)")
        }
        for (k, name) in [(forwardIterations, "--forward-iterations"), (backwardIterations, "--backward-iterations")] {
            if let k, k < 1 { throw ValidationError("\(name) must be at least 1, got \(k)") }
        }
        if forwardIterations != nil && (tolForward != nil || maxForwardIterations != nil) {
            throw ValidationError("--forward-iterations runs a fixed count: give it or --tol-forward/--max-forward-iterations, not both")
        }
        if backwardIterations != nil && (tolBackward != nil || maxBackwardIterations != nil) {
            throw ValidationError("--backward-iterations runs a fixed count: give it or --tol-backward/--max-backward-iterations, not both")
        }
        do { try configuration().validate() } catch let e as TrainingError { throw ValidationError(e.message) }
        do { try MemoryEstimate.require(configuration().estimatedBytes, what: "--depth, --width and --batch-size") } catch let e as ReportError {
            throw ValidationError(e.message)
        }
        try validateDecomposition()
    }

    /// The grid against the rank count the launcher reports, before MPI starts.
    func validateDecomposition() throws {
        guard let ranks = Launch.worldSize(ProcessInfo.processInfo.environment) else { return }
        do { try ProcessGrid.check(ranks: ranks, dataGroups: dataGroups) } catch let e as CommError { throw ValidationError("\(e.call) \(dataGroups): \(e.message)") }
        if gradientBuckets < 1 { throw ValidationError("--gradient-buckets must be at least 1, got \(gradientBuckets)") }
        if dataGroups > batchSize {
            throw ValidationError("--data-groups \(dataGroups) exceeds --batch-size \(batchSize): a batch group would get no examples")
        }
        if mode == .serial && ranks > 1 && ranks / dataGroups > 1 {
            throw ValidationError("--mode serial on \(ranks) ranks needs --data-groups \(ranks) (data-parallel: each rank takes a share of the batch); layer groups of \(ranks / dataGroups) ranks need --mode parallel")
        }
        if dataGroups > 1 && measureErrorEvery != nil {
            throw ValidationError("--measure-error-every compares one group's solves with exact passes over the whole batch: drop --data-groups")
        }
        if dataGroups > 1 && (noiseForward != 0 || noiseBackward != 0) {
            throw ValidationError("--noise-forward/--noise-backward run on one batch group: drop --data-groups")
        }
    }

    var lbfgsSettings: LBFGSSettings {
        let d = LBFGSSettings()
        return LBFGSSettings(history: lbfgsHistory ?? d.history, armijo: lbfgsArmijo ?? d.armijo,
                             backtrack: lbfgsBacktrack ?? d.backtrack, maxTrials: lbfgsMaxTrials ?? d.maxTrials)
    }

    func schedule() throws -> LearningRateSchedule {
        let parts = lrSchedule.split(separator: ":").map(String.init)
        func bad() -> ValidationError { ValidationError("--lr-schedule '\(lrSchedule)' is not one of constant, step:EVERY:FACTOR, cosine:STEPS, inverse:DECAY") }
        switch parts.first {
        case "constant" where parts.count == 1: return .constant
        case "step" where parts.count == 3:
            guard let e = Int(parts[1]), e >= 1, let f = Double(parts[2]), f > 0, f.isFinite else { throw bad() }
            return .step(every: e, factor: f)
        case "cosine" where parts.count == 2:
            guard let s = Int(parts[1]), s >= 1 else { throw bad() }
            return .cosine(steps: s)
        case "inverse" where parts.count == 2:
            guard let d = Double(parts[1]), d >= 0, d.isFinite else { throw bad() }
            return .inverseTime(decay: d)
        default: throw bad()
        }
    }

    /// Fixed iteration counts: the flags, else the preset's unless a tolerance or cap is given (nil: solve to the tolerance).
    var fixed: (forward: Int?, backward: Int?) {
        let p = preset.fixedIterations
        return (forwardIterations ?? (tolForward == nil && maxForwardIterations == nil ? p.forward : nil),
                backwardIterations ?? (tolBackward == nil && maxBackwardIterations == nil ? p.backward : nil))
    }

    /// The option group's cycle, relaxation and hierarchy, the preset's fine relaxation and coarsening, and the coarse step.
    func solverSettings() -> SolverSettings {
        preset.fillingFineLevel(of: SolverSettings(mgrit.options(), coarseStep: coarseStep ?? .cPointLayer))
    }

    func configuration() throws -> TrainingConfiguration {
        let data: DataSource = task.map { .task($0, train: trainSamples, validation: validationSamples) }
            ?? .files(train: train ?? "", validation: validation ?? "", targets: targets)
        let isF1 = task == .f1
        return TrainingConfiguration(
            data: data, normalization: normalize, mode: mode, depth: depth ?? (isF1 ? 322 : 50), width: width, beta: beta, batchSize: batchSize,
            optimizer: OptimizerSettings(kind: optimizer, learningRate: lr, schedule: try schedule(), momentum: momentum,
                                         lbfgs: optimizer == .lbfgs ? lbfgsSettings : nil),
            initLow: initLow, initHigh: initHigh, iterations: iterations, targetLoss: targetLoss, timeLimit: timeLimit,
            tolForward: fixed.forward != nil ? 0 : tolForward ?? preset.forwardTolerance ?? (isF1 ? 1e-8 : 1e-4),
            tolBackward: fixed.backward != nil ? 0 : tolBackward ?? (isF1 ? 1e-8 : 1e-6),
            maxForwardIterations: fixed.forward ?? maxForwardIterations ?? preset.maxForwardIterations ?? 10,
            maxBackwardIterations: fixed.backward ?? maxBackwardIterations ?? 10,
            coarsening: mgrit.factor, maxLevels: mgrit.maxLevels, warmStart: warmStart ?? preset.warmStart, warmStartMemoryMiB: warmStartMemory,
            solver: solverSettings(),
            noiseForward: noiseForward, noiseBackward: noiseBackward, seed: seed,
            evalEvery: evalEvery, progressEvery: progressEvery, checkpointEvery: checkpointEvery,
            measureErrorEvery: measureErrorEvery, nanAtStep: debugNanAtStep)
    }

    func run() throws {
        let config = try configuration()
        try RunDirectory.check(out, resume: resume, force: force)
        StopSignal.install()
        if let timeout {
            Watchdog.start(seconds: timeout, message: "layerpar: train --timeout \(timeout) s exceeded: ending the job (the last checkpoint and the history so far are kept)")
        }
        try runStoppable { try withWorld(messageBytes: 8 * config.width * config.batchSize) { comm in
            let log: (String) -> Void = { line in
                if comm.rank == 0 { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            let grid = try ProcessGrid(world: comm, dataGroups: dataGroups)
            defer { try? grid.free() }
            do {
                let trainer = try Trainer(config: config, outputDirectory: out, comm: comm, resume: resume,
                                          engineFactory: { try makeGradientEngine(config: $0, network: $1, grid: grid, gradientBuckets: gradientBuckets,
                                                                         preactivations: preactivations) },
                                          log: log)
                trainer.decomposition = Decomposition(dataGroups: 1, layerGroups: comm.size, shares: [config.batchSize])
                trainer.version = LayerPar.version
                trainer.kernelsDescription = KernelFamily.active.rawValue
                trainer.topologySummary = topologySummary()
                if let binding = try placement.apply(rank: comm.rank, ranks: comm.size) {
                    trainer.rankBindings = try gatherLines(describe(binding), comm: comm)
                }
                let summary: RunSummary
                do { summary = try trainer.run() } catch let e as TrainingStopped {
                    throw CollectiveStop(status: ExitStatus.trainingStopped, message: e.message)
                }
                if comm.rank == 0 {
                    let files = ["history.csv", "summary.json", "loss.png"].map { "\(out)/\($0)" }
                    print("results: " + files.filter { FileManager.default.fileExists(atPath: $0) }.joined(separator: " "))
                }
                switch summary.stopReason {
                case .deadNetwork: throw CollectiveStop(status: ExitStatus.trainingStopped, message: summary.stopMessage)
                case .signal: throw CollectiveStop(status: 128 + trainer.stopSignal, message: summary.stopMessage)
                default: break
                }
            }
        } }
    }
}

/// One line describing this machine for run summaries (nil if hwloc cannot load it).
func topologySummary() -> String? {
    guard let t = try? MachineTopology.load(.thisMachine) else { return nil }
    let model = t.packages.compactMap(\.cpuModel).first ?? "unknown CPU"
    return "\(t.packages.count) package(s), \(t.cores.count) core(s), \(t.pus.count) PU(s), \(t.numaNodes.count) NUMA node(s), \(model)"
}

extension PreactivationPolicy: ExpressibleByArgument {}
