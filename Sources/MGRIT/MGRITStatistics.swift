/// What one ``MGRITSolver/solve(warmStart:)`` did. Identical on every rank.
public struct MGRITStatistics: Sendable, Equatable {
    /// ℓ² norm of the fine-level residual `rᵢ = Φ(uᵢ₋₁) − uᵢ` over the fine
    /// C-points `i ≥ 1` (summed over all ranks), one entry per iteration, measured
    /// after that iteration's relaxation and before its coarse-grid correction.
    /// Entry `k−1` is the paper's `‖r_k‖`. (With ``MGRITOptions/skipFirstDown``, or ``MGRITOptions/fmg`` in a cold solve,
    /// the first iteration measures nothing.) A one-level hierarchy is a direct
    /// sequential solve and reports `[0]`. With a fixed iteration count
    /// (``MGRITOptions/residualCheck``) it holds the last iteration's norm or nothing.
    public var residuals: [Double] = []
    /// Iterations (cycles) begun: the last one stops at its residual check when converged.
    public var iterations: Int = 0
    /// Whether a tolerance was met (false: stopped at ``MGRITOptions/maxIterations``
    /// or by a ``stall``, always the case with a fixed iteration count).
    public var converged: Bool = false
    /// Set when stall detection (``MGRITOptions/stallIterations``) stopped the solve.
    public var stall: MGRITStall? = nil
    /// Number of levels of the hierarchy.
    public var levels: Int = 0
    /// Points per level (level 0 = fine, `N + 1`).
    public var pointsPerLevel: [Int] = []
    /// Calls of the problem's step on each level by this rank (kernel work).
    public var stepsPerLevel: [Int] = []
    /// Wall seconds this rank spent on each level (including waits for neighbours).
    /// Split into ``computeSecondsPerLevel`` + ``postSecondsPerLevel`` +
    /// ``pollSecondsPerLevel`` + ``waitSecondsPerLevel`` (equal up to rounding).
    /// Not in any level: the residual reductions (``reduceSeconds``), the FAS
    /// corrections and injections (copies), and bookkeeping between phases.
    public var secondsPerLevel: [Double] = []
    /// Seconds of ``secondsPerLevel`` outside the communicator: the problem's
    /// steps, sums and copies, packing and unpacking messages. Never negative.
    public var computeSecondsPerLevel: [Double] = []
    /// Seconds of ``secondsPerLevel`` posting point-to-point requests (`isend`,
    /// `irecv`; an eager send copies its message here).
    public var postSecondsPerLevel: [Double] = []
    /// Seconds of ``secondsPerLevel`` polling receives (`testAll`) between
    /// intervals, which lets a message above the eager limit move during the work.
    public var pollSecondsPerLevel: [Double] = []
    /// Seconds of ``secondsPerLevel`` blocked in `waitAll`: receives whose
    /// neighbour was not ready yet, and completing this level's deferred sends.
    public var waitSecondsPerLevel: [Double] = []
    /// Times the cycle entered each level, identical on every rank (whether or
    /// not it owns points there): level 0 once per iteration, a coarse level once
    /// per relax–restrict–…–correct pass over it, the coarsest once per exact
    /// solve; the skipped first down-cycle (``MGRITOptions/skipFirstDown``) visits
    /// every level once, nested iteration (``MGRITOptions/fmg``) adds a V-cycle from every
    /// coarse level but the coarsest. Planned without solving by
    /// ``MGRITCycle/visits(levelCount:iterations:first:converged:)``.
    public var visitsPerLevel: [Int] = []
    /// The fine level's counters over the ``MGRITSolver/sweep()`` a caller ran after
    /// this solve (the adjoint's gradient sweep: ``MGRITSolver/sweep()`` returns them,
    /// the caller stores them here); nil if none ran. Not in any per-level field.
    public var sweep: MGRITSweepStatistics? = nil
    /// Seconds this rank spent in the residual norm's global reductions
    /// (`allreduceSum`); 0 on one rank and without residual checks.
    public var reduceSeconds: Double = 0
    /// States (of the problem's size) the solver held on this rank at the end of the solve.
    public var statesAllocated: Int = 0
    /// Delta correction (``MGRITOptions/deltaCorrection``; all empty or 0 without it), per
    /// level on this rank: linearised steps (each also one of ``stepsPerLevel``), tangent
    /// products `Δⱼ·T` and applications `Δⱼ·u`, and the seconds in these operations
    /// (part of ``secondsPerLevel``: the linearised steps include their state step).
    public var tangentStepsPerLevel: [Int] = []
    public var tangentProductsPerLevel: [Int] = []
    public var tangentAppliesPerLevel: [Int] = []
    public var deltaSecondsPerLevel: [Double] = []
    /// Doubles of the Delta-correction store on this rank (``MGRITSolver/deltaDoubles``).
    public var deltaDoubles: Int = 0
    /// Wall seconds of the whole solve on this rank.
    public var seconds: Double = 0

    public init() {}

    /// `‖r_k‖ / ‖r_1‖` for every measured iteration (the paper's relative residual).
    public var relativeResiduals: [Double] {
        guard let first = residuals.first, first > 0 else { return residuals.map { _ in 0 } }
        return residuals.map { $0 / first }
    }

    /// All steps of all levels on this rank.
    public var totalSteps: Int { stepsPerLevel.reduce(0, +) }
}

/// Why and where a solve stopped on a stall (``MGRITOptions/stallIterations``).
/// Identical on every rank.
public struct MGRITStall: Sendable, Equatable, CustomStringConvertible {
    /// The iteration whose residual check stopped the solve.
    public var iteration: Int
    /// The level whose residual stalled (0: the fine level, the one the solver measures).
    public var level: Int
    /// The last `stallIterations + 1` fine residual norms, oldest first.
    public var residuals: [Double]
    /// ``MGRITOptions/stallRatio``.
    public var ratio: Double
    /// Whether the fine level was then solved exactly by the sequential pass
    /// (``MGRITOptions/sequentialOnStall``), and its fine steps on this rank.
    public var sequentialSteps: Int? = nil

    /// Whether the residual grew in every one of the stalled iterations (divergence).
    public var diverging: Bool { zip(residuals, residuals.dropFirst()).allSatisfy { $1 > $0 } }

    public var description: String {
        let r = residuals.map { String(format: "%.3e", $0) }.joined(separator: " → ")
        return "MGRIT \(diverging ? "diverging" : "stalled") at iteration \(iteration), level \(level): residual \(r) "
            + "(above \(ratio)× the previous for \(residuals.count - 1) iterations)"
            + (sequentialSteps != nil ? "; solved by the sequential pass instead" : "")
    }
}

/// What one ``MGRITSolver/sweep()`` did on this rank: the fine level's step count
/// and its time, split as ``MGRITStatistics`` splits a level's
/// (``computeSeconds`` + ``postSeconds`` + ``pollSeconds`` + ``waitSeconds`` = ``seconds``
/// up to rounding).
public struct MGRITSweepStatistics: Sendable, Equatable {
    /// Calls of the problem's step (one per owned fine point `i ≥ 1`).
    public var steps = 0
    /// Wall seconds of the sweep, including waits for the left neighbour.
    public var seconds = 0.0
    /// Seconds outside the communicator. Never negative.
    public var computeSeconds = 0.0
    public var postSeconds = 0.0
    public var pollSeconds = 0.0
    public var waitSeconds = 0.0

    public init() {}
}
