import Comm

/// Multigrid cycle shape.
public enum MGRITCycle: String, CaseIterable, Codable, Sendable {
    /// Down to the coarsest level and back up once.
    case V
    /// Standard F-cycle: `F(l) = relax, restrict, F(l+1), V(l+1), correct`
    /// (with `F(coarsest) = exact solve`, and the extra `V(l+1)` omitted when
    /// `l+1` is the coarsest level, where it would repeat an exact solve).
    case F
}

/// Relaxation on every level but the coarsest.
public enum MGRITRelaxation: String, CaseIterable, Codable, Sendable {
    /// F-relaxation: propagate from each C-point through its F-points.
    case F
    /// FCF-relaxation: F, then `sweeps` times (C-relaxation, F-relaxation).
    case FCF
}

/// The first iteration of a solve (``MGRITOptions/firstIteration(warmStart:)``).
public enum MGRITFirstIteration: String, CaseIterable, Sendable {
    /// An ordinary iteration: relax the fine level, measure, cycle.
    case cycle
    /// ``MGRITOptions/skipFirstDown``: inject, solve the coarsest level, interpolate up.
    case skipDown
    /// ``MGRITOptions/fmg``: nested iteration, one V-cycle per coarse level on the way up.
    case nested
}

/// What the solver keeps of the fine level.
public enum MGRITStorage: String, CaseIterable, Sendable {
    /// Every fine point: (N+1) states. Needed when the caller reads all states
    /// (the forward pass, whose states linearise the adjoint).
    case allPoints
    /// Only the fine C-points and the last point `N`: ⌊N/m⌋ + 2 states plus two
    /// scratch states for the F-point values, which exist only while an
    /// F-relaxation runs (C-relaxation and the restriction are fused into it). Same
    /// work and results as ``allPoints``; ``MGRITSolver/state(at:)`` returns nil
    /// for F-points. For the adjoint, whose F-point values the gradient sweep
    /// (``MGRITSolver/sweep()``) recomputes anyway.
    case cPointsOnly
}

/// When the solver measures the fine residual norm, which costs a global
/// reduction (`allreduceSum`) on every rank.
public enum MGRITResidualCheck: String, CaseIterable, Sendable {
    /// After every iteration's relaxation: the tolerances can stop the solve.
    case everyIteration
    /// Only in the last of exactly `maxIterations` iterations: one reduction per
    /// solve, and ``MGRITStatistics/residuals`` holds that one norm.
    case lastIteration
    /// Never: exactly `maxIterations` iterations with no global reduction at all;
    /// the residual is not even computed locally, and `residuals` stays empty.
    /// NaN or Inf in a state is then not detected by the solver (with the other
    /// cases it throws ``MGRITError/nonFinite(_:)``): the caller checks its outputs.
    case never
}

/// Configuration of an MGRIT solve. ``validate()`` throws on a bad value.
public struct MGRITOptions: Sendable, Equatable {
    /// Coarsening factor `m ≥ 2` between consecutive levels (the paper: 4); with
    /// ``fineCoarsening`` set, only between the coarse levels `l ≥ 1` and `l + 1`.
    public var coarsening: Int = 4
    /// Coarsening factor `m₀ ≥ 2` from the fine level to level 1 (XBraid's
    /// `braid_SetCFactor(core, 0, m₀)`); nil: ``coarsening``. A larger `m₀` than
    /// the coarse levels' factor makes level 1 — and every level below it — smaller,
    /// at the price of longer fine intervals (more sequential F-relaxation work per
    /// C-point). Fine C-points are then the multiples of `m₀`
    /// (``coarsening(onLevel:)``): ``MGRITStorage/cPointsOnly`` keeps those.
    public var fineCoarsening: Int? = nil
    /// Maximum number of levels (≥ 1; 1 = a sequential solve).
    public var maxLevels: Int = 30
    /// A coarser level is added only if it has at least this many points (≥ 2).
    public var minCoarseSize: Int = 2
    public var cycle: MGRITCycle = .F
    /// Relaxation on every level but the coarsest; with ``fineRelaxation`` set,
    /// only on the coarse levels `l ≥ 1`.
    public var relaxation: MGRITRelaxation = .FCF
    /// Relaxation on the fine level; nil: ``relaxation``. `.F` with `relaxation
    /// == .FCF` is the one-shot training configuration of LayerParallelLearning
    /// (XBraid's `braid_SetNRelax(core, 0, 0)`, FCF below): the fine level, where a
    /// relaxation costs most, does one F-relaxation per iteration.
    public var fineRelaxation: MGRITRelaxation? = nil
    /// CF sweeps after the first F-relaxation on every level whose relaxation is
    /// ``MGRITRelaxation/FCF`` (≥ 1; XBraid's `nrelax`); with ``fineSweeps`` set,
    /// only on the coarse levels `l ≥ 1`.
    public var sweeps: Int = 1
    /// CF sweeps of the fine level; nil: ``sweeps``. `sweeps > fineSweeps` relaxes the
    /// coarse levels more where a sweep is cheap (XBraid's `braid_SetNRelax(core, level, n)`).
    public var fineSweeps: Int? = nil
    /// Weight `ω` of C-relaxation on every level (XBraid's `braid_SetCRelaxWt`):
    /// at each C-point `c ≥ 1`, `u_c ← (1 − ω)·u_c + ω·(Φ(u_{c−1}) + g_c)`, where
    /// `u_c` is its value before this C-relaxation. Range `0 < ω < 2`: for a
    /// strongly damped `Φ` the C-point error is multiplied by about `1 − ω`, which
    /// does not shrink outside that range. `ω = 1` is unweighted C-relaxation, with
    /// bitwise the results of a solver without the weight. Weights above 1
    /// (≈ 1.3–1.8 with FCF) are reported to save iterations (Sugiyama, Schroder,
    /// Southworth, Friedhoff, "Weighted relaxation for multigrid reduction in time",
    /// 2023); what they save here is measured in the MGRIT tests. Acts only
    /// where a level does C-relaxation (``MGRITRelaxation/FCF``); never in the
    /// coarsest level's exact solve nor in ``MGRITSolver/sweep()``.
    public var cRelaxationWeight: Double = 1
    /// `ω` on the fine level; nil: ``cRelaxationWeight``. Same range.
    public var fineCRelaxationWeight: Double? = nil
    /// Skip all relaxation on the first down-cycle (XBraid's `skip`): the first
    /// iteration only injects, solves the coarsest level and interpolates up; its
    /// residual is not measured.
    public var skipFirstDown: Bool = false
    /// Full multigrid (nested iteration; XBraid's FMG with one V-cycle per level): the first
    /// iteration of a cold solve (``MGRITSolver/solve(warmStart:)`` with `warmStart: false`)
    /// starts on the coarsest level instead of the fine one. It injects the initial guess down
    /// with `g = 0`, solves the coarsest level, and then on every level `l` from the coarsest
    /// but one up to level 1 interpolates the level below's solution (injection at the
    /// C-points) and runs one V-cycle on levels `l …` for level `l`'s own problem (`gₗ = 0`);
    /// finally it interpolates to the fine level. Like ``skipFirstDown`` (which is nested
    /// iteration without those V-cycles, and which FMG supersedes in a cold solve) it does not
    /// relax the fine level and measures no residual. With Delta correction each V-cycle corrects
    /// the levels below its own from that level's linearisation; all Δ are rebuilt from the fine
    /// level afterwards. A warm-started solve ignores this (nested iteration would overwrite the
    /// warm start at every C-point), and so does a solve allowed a single iteration
    /// (``maxIterations`` 1): nested iteration would be all of it, and the fine level would never
    /// be relaxed nor its residual measured.
    public var fmg: Bool = false
    /// Stop when the fine C-point residual norm is ≤ this (nil: not used).
    public var absoluteTolerance: Double? = nil
    /// Stop when ‖r_k‖ ≤ this · ‖r_1‖ (nil: not used).
    public var relativeTolerance: Double? = nil
    /// At most this many iterations (≥ 1).
    public var maxIterations: Int = 30
    /// Stall and divergence detection: the solve stops (``MGRITStatistics/stall``) when the
    /// fine residual norm has failed to fall below ``stallRatio`` × its previous value in
    /// this many consecutive iterations (≥ 1; nil: never), instead of running to
    /// ``maxIterations``. Acts only when the residual is measured in every iteration.
    public var stallIterations: Int? = nil
    /// An iteration makes no progress when `‖r_k‖ > stallRatio · ‖r_{k−1}‖` (0 < ratio;
    /// 1: only growth counts).
    public var stallRatio: Double = 0.95
    /// After a stall, solve the fine level exactly by the sequential pass (relayed rank to
    /// rank, `N` fine steps: the layer-serial pass) instead of returning the stalled iterate.
    public var sequentialOnStall: Bool = false
    /// Delta correction (Vargas, Falgout, Günther, Schroder et al., "Multigrid
    /// reduction in time for chaotic dynamical systems", SISC 2023; XBraid's
    /// `braid_SetDeltaCorrection`, full rank): the coarse step of every level `l ≥ 1`
    /// at point `j` becomes `v ↦ Φₗ(v) + Δⱼ·v` with
    /// `Δⱼ = (Φ̃ₗ₋₁^m)'(u) − Φₗ'(U_{j−1})`: the product of the linearised (corrected)
    /// steps of the level below over the interval, along its current iterate from the
    /// interval's C-point `u`, minus the coarse step's own linearisation at the
    /// injected `U_{j−1} = u`. The FAS right-hand side is formed with the corrected
    /// step, so the coarse level reproduces the level below to first order around
    /// its iterate (exactly, for a linear problem). Δ is recomputed in every
    /// restriction (the final F-relaxation before it propagates the tangents), or
    /// once per solve for a problem whose linearisation does not depend on the state
    /// (``MGRITProblem/tangentsIndependentOfState``).
    /// Needs a problem with tangent operations (``MGRITProblem/supportsDeltaCorrection``).
    public var deltaCorrection: Bool = false
    /// Fine-level storage.
    public var storage: MGRITStorage = .allPoints
    /// When the residual norm (a global reduction) is measured. Anything but
    /// ``MGRITResidualCheck/everyIteration`` runs a fixed `maxIterations`
    /// iterations and allows no tolerance.
    public var residualCheck: MGRITResidualCheck = .everyIteration

    public init(coarsening: Int = 4, fineCoarsening: Int? = nil, maxLevels: Int = 30, minCoarseSize: Int = 2,
                cycle: MGRITCycle = .F, relaxation: MGRITRelaxation = .FCF, fineRelaxation: MGRITRelaxation? = nil,
                sweeps: Int = 1, fineSweeps: Int? = nil, cRelaxationWeight: Double = 1, fineCRelaxationWeight: Double? = nil,
                skipFirstDown: Bool = false, fmg: Bool = false,
                absoluteTolerance: Double? = nil, relativeTolerance: Double? = nil, maxIterations: Int = 30,
                storage: MGRITStorage = .allPoints, residualCheck: MGRITResidualCheck = .everyIteration,
                stallIterations: Int? = nil, stallRatio: Double = 0.95, sequentialOnStall: Bool = false,
                deltaCorrection: Bool = false) {
        self.deltaCorrection = deltaCorrection
        self.coarsening = coarsening
        self.fineCoarsening = fineCoarsening
        self.maxLevels = maxLevels
        self.minCoarseSize = minCoarseSize
        self.cycle = cycle
        self.relaxation = relaxation
        self.fineRelaxation = fineRelaxation
        self.sweeps = sweeps
        self.fineSweeps = fineSweeps
        self.cRelaxationWeight = cRelaxationWeight
        self.fineCRelaxationWeight = fineCRelaxationWeight
        self.skipFirstDown = skipFirstDown
        self.fmg = fmg
        self.absoluteTolerance = absoluteTolerance
        self.relativeTolerance = relativeTolerance
        self.maxIterations = maxIterations
        self.storage = storage
        self.residualCheck = residualCheck
        self.stallIterations = stallIterations
        self.stallRatio = stallRatio
        self.sequentialOnStall = sequentialOnStall
    }

    // MARK: - Per-level values

    /// What the first iteration of a solve does (FMG: in a cold solve with room for an ordinary iteration after it).
    public func firstIteration(warmStart: Bool) -> MGRITFirstIteration {
        if fmg && !warmStart && maxIterations >= 2 { return .nested }
        return skipFirstDown ? .skipDown : .cycle
    }

    /// Coarsening factor from `level` to `level + 1`: ``fineCoarsening`` (if set)
    /// on level 0, ``coarsening`` elsewhere. Fine point `j` is a C-point iff
    /// `j % coarsening(onLevel: 0) == 0`.
    public func coarsening(onLevel level: Int) -> Int {
        level == 0 ? fineCoarsening ?? coarsening : coarsening
    }

    /// Relaxation of `level` (not used on the coarsest level, which is solved exactly).
    public func relaxation(onLevel level: Int) -> MGRITRelaxation {
        level == 0 ? fineRelaxation ?? relaxation : relaxation
    }

    /// CF sweeps of `level` (used only where that level's relaxation is FCF).
    public func sweeps(onLevel level: Int) -> Int {
        level == 0 ? fineSweeps ?? sweeps : sweeps
    }

    /// C-relaxation weight `ω` of `level` (used only where that level's relaxation is FCF).
    public func cRelaxationWeight(onLevel level: Int) -> Double {
        level == 0 ? fineCRelaxationWeight ?? cRelaxationWeight : cRelaxationWeight
    }

    /// Exactly `iterations` iterations without any residual reduction
    /// (``MGRITResidualCheck/never``) or with one in the last iteration.
    public func fixedIterations(_ iterations: Int, measureLast: Bool = false) -> MGRITOptions {
        var o = self
        o.maxIterations = iterations
        o.absoluteTolerance = nil
        o.relativeTolerance = nil
        o.residualCheck = measureLast ? .lastIteration : .never
        return o
    }

    /// Throws ``MGRITError/invalidOption(_:)`` naming the first bad field.
    public func validate() throws {
        guard coarsening >= 2 else { throw MGRITError.invalidOption("coarsening factor must be ≥ 2, got \(coarsening)") }
        if let m0 = fineCoarsening, m0 < 2 {
            throw MGRITError.invalidOption("fineCoarsening (the fine level's coarsening factor) must be ≥ 2, got \(m0)")
        }
        let weights: [(String, Double?)] = [("cRelaxationWeight", cRelaxationWeight), ("fineCRelaxationWeight", fineCRelaxationWeight)]
        for (name, w) in weights {
            if let w, !(w > 0 && w < 2) {
                throw MGRITError.invalidOption("\(name) (C-relaxation weight ω) must satisfy 0 < ω < 2, got \(w)")
            }
        }
        guard maxLevels >= 1 else { throw MGRITError.invalidOption("maxLevels must be ≥ 1, got \(maxLevels)") }
        guard minCoarseSize >= 2 else { throw MGRITError.invalidOption("minCoarseSize must be ≥ 2, got \(minCoarseSize)") }
        guard sweeps >= 1 else { throw MGRITError.invalidOption("sweeps must be ≥ 1, got \(sweeps)") }
        if let s = fineSweeps, s < 1 { throw MGRITError.invalidOption("fineSweeps must be ≥ 1, got \(s)") }
        if let k = stallIterations, k < 1 { throw MGRITError.invalidOption("stallIterations must be ≥ 1, got \(k)") }
        guard stallRatio > 0 && stallRatio.isFinite else { throw MGRITError.invalidOption("stallRatio must be a positive finite number, got \(stallRatio)") }
        guard maxIterations >= 1 else { throw MGRITError.invalidOption("maxIterations must be ≥ 1, got \(maxIterations)") }
        if let t = absoluteTolerance, !(t > 0 && t.isFinite) {
            throw MGRITError.invalidOption("absolute tolerance must be a positive finite number, got \(t)")
        }
        if let t = relativeTolerance, !(t > 0 && t.isFinite) {
            throw MGRITError.invalidOption("relative tolerance must be a positive finite number, got \(t)")
        }
        if residualCheck != .everyIteration && (absoluteTolerance != nil || relativeTolerance != nil) {
            throw MGRITError.invalidOption("a tolerance needs the residual measured in every iteration, but residualCheck is \(residualCheck.rawValue) (fixed iteration count)")
        }
    }
}

/// Errors of the MGRIT solver; every message names the problem.
public enum MGRITError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A configuration value out of range.
    case invalidOption(String)
    /// The problem or partition does not fit (zero steps, ranges that do not tile the points, …).
    case invalidProblem(String)
    /// A residual norm became NaN or infinite (a state contains NaN/Inf, or the iteration diverged).
    case nonFinite(String)
    /// A problem implementation violates the protocol (from ``MGRITConformance``).
    case conformance(String)

    public var description: String {
        switch self {
        case .invalidOption(let m): return "invalid MGRIT option: \(m)"
        case .invalidProblem(let m): return "invalid MGRIT problem: \(m)"
        case .nonFinite(let m): return "MGRIT diverged: \(m)"
        case .conformance(let m): return "MGRIT problem contract violated: \(m)"
        }
    }
}

/// Which rank owns which fine time points, in time order.
///
/// Position `p` (0 = earliest times) is rank `ranks[p]` owning fine points
/// `ranges[p]`; the ranges tile `0 … N` contiguously (empty ranges allowed).
/// Coarse levels inherit it: a rank owns the coarse points whose fine index it
/// owns, so a rank may own no point of a coarse level (it then idles there).
/// The adjoint runs in reversed time on ``reversed()``, so that every rank keeps
/// the layers whose forward states it holds.
public struct TimePartition: Sendable, Equatable {
    public let ranks: [Int]
    public let ranges: [Range<Int>]

    /// - Throws: ``MGRITError/invalidProblem(_:)`` unless the ranges tile `0 ..< pointCount`
    ///   in order and the ranks are a permutation of `0 ..< ranks.count`.
    public init(ranks: [Int], ranges: [Range<Int>], pointCount: Int) throws {
        guard ranks.count == ranges.count, !ranks.isEmpty else {
            throw MGRITError.invalidProblem("partition has \(ranks.count) ranks and \(ranges.count) ranges")
        }
        guard Set(ranks) == Set(0 ..< ranks.count) else { throw MGRITError.invalidProblem("partition ranks \(ranks) are not a permutation of 0..<\(ranks.count)") }
        var next = 0
        for r in ranges {
            guard r.lowerBound == next else { throw MGRITError.invalidProblem("partition ranges \(ranges) do not tile 0..<\(pointCount)") }
            next = r.upperBound
        }
        guard next == pointCount else { throw MGRITError.invalidProblem("partition ranges end at \(next), expected \(pointCount)") }
        self.ranks = ranks
        self.ranges = ranges
    }

    /// Block distribution of the `stepCount + 1` points over the communicator's
    /// ranks in rank order (``BlockDistribution``).
    public static func block(stepCount: Int, size: Int) throws -> TimePartition {
        let d = try BlockDistribution(count: stepCount + 1, parts: size)
        return try TimePartition(ranks: Array(0 ..< size), ranges: (0 ..< size).map { d.range(of: $0) }, pointCount: stepCount + 1)
    }

    /// The same ownership seen in reversed time: fine point `i` becomes `N − i`.
    public func reversed() -> TimePartition {
        let n = ranges.last!.upperBound   // N + 1
        let rr = ranges.reversed().map { (n - $0.upperBound) ..< (n - $0.lowerBound) }
        // Safe: a reversed tiling is a tiling.
        return try! TimePartition(ranks: ranks.reversed(), ranges: rr, pointCount: n)
    }
}
