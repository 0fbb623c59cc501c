import Comm
import Kernels
import MGRIT

/// Layer-parallel forward pass of a ``HiddenStack`` with MGRIT.
///
/// Keeps every fine state it owns (``MGRITStorage/allPoints``: `(N+1)` w×B
/// states over all ranks), because the adjoint is linearised around them. The
/// coarse levels (`u` and `g` at ≈ `N/(m−1)` points, ⅔N states for m = 4) are
/// rebuilt from the fine states by every cycle; they stay allocated between
/// solves (one-shot training solves thousands of times: allocating them anew
/// each time cost ≈ 5 % of a step), and ``MGRITSolver/releaseCoarseLevels()``
/// frees them for a caller that keeps the solver only for its fine states. A
/// second ``solve(input:warmStart:)`` with `warmStart: true` starts from the
/// previous fine states (one-shot training).
public final class ResNetForwardSolver {
    public let stack: HiddenStack
    public let problem: ResNetForwardProblem
    public let solver: MGRITSolver<ResNetForwardProblem>
    private var tracksFineStates = false

    /// - Parameters:
    ///   - partition: layer ownership; default: block distribution of the `N+1` points over `comm`.
    /// - Throws: ``MGRITError`` for bad options, ``ResNetError`` for a bad batch.
    public init(stack: HiddenStack, batch: Int, options: MGRITOptions, comm: any Communicator,
                partition: TimePartition? = nil, coarseStep: CoarseStep = .cPointLayer) throws {
        guard options.storage == .allPoints else {
            throw MGRITError.invalidOption("the forward solver must keep all fine states (the adjoint needs them)")
        }
        self.stack = stack
        problem = try ResNetForwardProblem(stack: stack, batch: batch, coarseStep: coarseStep)
        solver = try MGRITSolver(problem: problem, options: options, comm: comm, partition: partition)
    }

    /// Solves for `x¹ … xᴺ` from `input = x⁰` (w×B, the same on every rank), or, without
    /// `input`, from what the caller wrote into ``ResNetForwardProblem/input`` (the opening
    /// layer writes there directly). The parameters are read from ``stack`` at every step,
    /// so they may change between solves.
    public func solve(input: Matrix<Double>? = nil, warmStart: Bool = false) throws -> MGRITStatistics {
        if let input { try problem.input.copy(from: input) }
        problem.averages.reset()
        defer { problem.averages.reset() }
        if problem.recordsPreactivations {
            if !tracksFineStates {   // the fine level is allocated once, with the solver
                problem.trackFineStates(solver.ownedRange.compactMap { n in solver.state(at: n).map { (n, $0) } })
                tracksFineStates = true
            }
            problem.beginSolve()
        }
        return try solver.solve(warmStart: warmStart)
    }

    /// `xⁿ` if this rank owns point `n`, else nil.
    public func state(at layer: Int) -> Matrix<Double>? { solver.state(at: layer) }
    /// The points (layers `0 … N`) this rank owns.
    public var ownedRange: Range<Int> { solver.ownedRange }
    /// `xᴺ` on the rank that owns it (feed it to the closing layer there).
    public var output: Matrix<Double>? { state(at: stack.depth) }
}

/// Layer-parallel backward pass: MGRIT on the adjoint system in reversed time,
/// then the weight gradients from the fine adjoints.
///
/// Runs on ``TimePartition/reversed()`` of the forward solver's partition, so
/// each rank works on the layers whose forward states it holds. After the solve,
/// one ``MGRITSolver/sweep()`` recomputes each fine adjoint once from its
/// predecessor with the fused kernel that also accumulates `dWⁿ`, `dbⁿ` — one
/// adjoint call per layer (plus the forward call that recomputes `zⁿ`).
///
/// Memory: by default the fine level keeps only C-points and `λ⁰`
/// (``MGRITStorage/cPointsOnly``, ≈ `N/m` states), since the gradient sweep
/// recomputes every F-point adjoint anyway; the coarse levels (≈ ⅔N for m = 4)
/// stay allocated between solves, as the forward solver's do. With the forward
/// solver's `N+1` states the peak of a forward + adjoint solve is ≈
/// `(1 + 1/m + 2/(m−1))·N` states (1.92 N for m = 4) when the forward solver's
/// coarse levels are released, `2/(m−1)·N` more when they are kept; the
/// linearisation points are recomputed, not stored (unless `storePreactivations`).
public final class ResNetAdjointSolver {
    public let forward: ResNetForwardSolver
    public let problem: ResNetAdjointProblem
    public let solver: MGRITSolver<ResNetAdjointProblem>
    /// What the adjoint linearises around: `zⁿ` or its ReLU mask recorded by the forward
    /// solve (store, mask), or `zⁿ` recomputed in every adjoint step (recompute). May
    /// change between steps (``ResNetForwardSolver``'s problem records only while it is
    /// on): set it before the forward solve whose states the next adjoint solve uses.
    public var preactivationStorage: PreactivationStorage {
        didSet {
            forward.problem.recordsPreactivations = preactivationStorage != .recompute
            forward.problem.recordsMasks = preactivationStorage == .mask
            used.removeAll()
        }
    }
    /// Whether the adjoint keeps `zⁿ` (``preactivationStorage`` store) or recomputes it.
    public var storePreactivations: Bool {
        get { preactivationStorage != .recompute }
        set { preactivationStorage = newValue ? .store : .recompute }
    }
    /// `zⁿ` (or masks) of the owned layers the forward solve did not record, kept between
    /// solves, and the output the forward call that computes them discards.
    private var preactivations: [Int: Matrix<Double>] = [:]
    private var masks: [Int: ReLUMask] = [:]
    private lazy var scratch = problem.makeState()
    /// The linearisation points of the current solve: recorded by the forward solve or computed here.
    private var used: [Int: Linearisation] = [:]
    /// Layers whose `zⁿ` the last solve took from the forward solve (no kernel call).
    public private(set) var reusedPreactivations = 0

    /// - Parameters:
    ///   - storage: fine-level storage of the adjoint (default: C-points only).
    ///   - storePreactivations: keep `zⁿ = Wⁿxⁿ + bⁿ` of every owned layer during a
    ///     solve instead of recomputing it in every adjoint step: halves the kernel calls
    ///     of the fine adjoint steps for `N` more states of memory (peak ≈ 2.9 N instead
    ///     of 1.9 N states). The forward solver then records `zⁿ` in its fine steps (the
    ///     fused kernel writes it for free); layers whose state changed after their last
    ///     fine step (in fixed-iteration solves, ≈ N/m of them) are recomputed, one
    ///     forward call each.
    public init(forward: ResNetForwardSolver, options: MGRITOptions, comm: any Communicator,
                storage: MGRITStorage = .cPointsOnly, storePreactivations: Bool = false,
                preactivationStorage: PreactivationStorage? = nil) throws {
        self.forward = forward
        let keep = preactivationStorage ?? (storePreactivations ? .store : .recompute)
        self.preactivationStorage = keep
        forward.problem.recordsPreactivations = keep != .recompute
        forward.problem.recordsMasks = keep == .mask
        var options = options
        options.storage = storage
        let fwd = forward.solver
        problem = ResNetAdjointProblem(stack: forward.stack, batch: forward.problem.batch,
                                       coarseStep: forward.problem.coarseStep, forwardState: { [unowned fwd] n in fwd.state(at: n) })
        solver = try MGRITSolver(problem: problem, options: options, comm: comm, partition: fwd.partition.reversed())
    }

    /// Solves the adjoint system from `terminalAdjoint` `= λᴺ = ∂L/∂xᴺ` (needed
    /// only on the rank owning layer `N`; pass nil elsewhere, or when the caller wrote
    /// it into ``ResNetAdjointProblem/terminalAdjoint`` itself), then accumulates the
    /// gradients of the layers this rank owns into `gradient` (added to what is there).
    /// The forward solver must hold the forward states to linearise around.
    public func solve(terminalAdjoint: Matrix<Double>?, gradient: HiddenGradient, warmStart: Bool = false) throws -> MGRITStatistics {
        if let t = terminalAdjoint { try problem.terminalAdjoint.copy(from: t) }
        problem.averages.reset()
        defer { problem.averages.reset(); problem.stored = nil }
        if preactivationStorage != .recompute {
            // zⁿ (or its mask) the forward solve's last fine step from xⁿ recorded (that of
            // the final xⁿ), else one forward call into a buffer of our own.
            let stack = forward.stack, keepMasks = preactivationStorage == .mask
            reusedPreactivations = 0
            for n in forward.ownedRange where n < stack.depth {
                if keepMasks, let m = forward.problem.mask(at: n) {
                    used[n] = .mask(m)
                    reusedPreactivations += 1
                    continue
                }
                if !keepMasks, let z = forward.problem.preactivation(at: n) {
                    used[n] = .preactivation(z)
                    reusedPreactivations += 1
                    continue
                }
                let x = forward.state(at: n)!
                if keepMasks {
                    let m = masks[n] ?? ReLUMask(rows: stack.width, cols: problem.batch)
                    masks[n] = m
                    try LayerKernels.residualForward(beta: stack.beta, W: stack.weights[n], b: stack.biases[n],
                                                     X: x, Y: scratch, mask: m)
                    used[n] = .mask(m)
                } else {
                    let z = preactivations[n] ?? problem.makeState()
                    preactivations[n] = z
                    try LayerKernels.residualForward(beta: stack.beta, W: stack.weights[n], b: stack.biases[n],
                                                     X: x, Y: scratch, Z: z)
                    used[n] = .preactivation(z)
                }
                problem.kernelCalls += 1
            }
            problem.stored = used
        }
        var stats = try solver.solve(warmStart: warmStart)
        problem.gradient = gradient
        defer { problem.gradient = nil }
        stats.sweep = try solver.sweep()   // in no level of `stats`: its own split
        let owned = solver.ownedRange
        stats.stepsPerLevel[0] += owned.count - (owned.contains(0) ? 1 : 0)   // the gradient sweep
        return stats
    }

    /// `λⁿ` (adjoint of layer n's input) if this rank owns it and stores it (with
    /// ``MGRITStorage/cPointsOnly``, only C-points and `λ⁰`), else nil.
    public func adjoint(at layer: Int) -> Matrix<Double>? { solver.state(at: forward.stack.depth - layer) }
    /// `λ⁰ = ∂L/∂x⁰` on the rank that owns layer 0 (feed it to the opening layer there).
    public var inputAdjoint: Matrix<Double>? { adjoint(at: 0) }
}
