import Comm

/// Multigrid-reduction-in-time solver (FAS, V- and F-cycles, F/FCF relaxation)
/// for any ``MGRITProblem``, distributed over the ranks of a ``Communicator``.
///
/// ## Grids
/// Level `l` has the points `j = 0 … nₗ−1` at fine indices `j·Mₗ`
/// (`M₀ = 1`, `Mₗ₊₁ = mₗ·Mₗ`, `nₗ = ⌊N/Mₗ⌋ + 1`); C-points of level `l` are the
/// multiples of its coarsening factor `mₗ` (``MGRITOptions/coarsening(onLevel:)``:
/// the fine level may have its own) and form level `l+1`. A fine point `N` that
/// is not a C-point is an F-point of the last, possibly shorter interval, so every
/// coarse step spans exactly `mₗ` steps of the level below (XBraid's grid).
///
/// ## Algorithm (Falgout et al. 2014, "Parallel time integration with multigrid";
/// FAS as in XBraid)
/// Level `l` solves `uⱼ = Φₗ(uⱼ₋₁) + gⱼ` (`g = 0` on the fine level).
/// - F-relaxation: `uⱼ = Φₗ(uⱼ₋₁) + gⱼ` for the F-points of each interval, in order.
/// - C-relaxation: the same at C-points `j ≥ 1`, optionally weighted:
///   `uⱼ ← (1 − ω)·uⱼ + ω·(Φₗ(uⱼ₋₁) + gⱼ)` (``MGRITOptions/cRelaxationWeight``).
/// - Relaxation per level (``MGRITOptions/relaxation(onLevel:)``): F, or FCF.
/// - Restriction (FAS with injection): `Uⱼ = u_{jm}`,
///   `Gⱼ = Φₗ(u_{jm−1}) + g_{jm} − Φₗ₊₁(Uⱼ₋₁)`; the fine residual
///   `r_{jm} = Φ(u_{jm−1}) + g_{jm} − u_{jm}` is measured on the way.
/// - Correction: since injection restricts, the FAS correction `u += U − Rᵤ`
///   is the replacement `u_{jm} = Uⱼ`; F-points follow by F-relaxation. On the
///   fine level that F-relaxation is deferred to the next iteration's first
///   F-relaxation (or a final one), which computes the same values.
/// - Coarsest level: exact sequential solve (relayed rank to rank, see below).
///
/// ## Distribution
/// Each rank owns a contiguous range of fine points (``TimePartition``) and, on
/// every level, the points whose fine index it owns — possibly none. The only
/// cross-rank operations are (1) sending the last owned point of a level to the
/// next rank that owns points there (after every F-relaxation, in the
/// restriction, and in the coarsest solve), with receives posted first, polled
/// between intervals (so a message above MPI's eager limit moves during the work)
/// and waited for as late as possible, into buffers the solver owns for its lifetime (a send
/// completes only when its buffer is needed again or the solve ends), and
/// (2) one `allreduceSum` per iteration for the residual norm (none, or one per
/// solve, with a fixed iteration count: ``MGRITOptions/residualCheck``). F-relaxation
/// computes the rank's last interval first and sends its last point at once, so
/// the right neighbour's wait overlaps the middle intervals. The coarsest level is
/// solved by a *sequential relay*: each rank waits for its left neighbour's last
/// point, propagates its own points, and sends on; it is small (≤ `m`·minCoarse
/// points or `maxLevels` reached) and needs no gather.
///
/// Every point is computed by the same operations in the same order whatever
/// the rank count, and the residual norm sums per-point squared norms in global
/// point order (a slot vector reduced with `allreduceSum`, where adding zeros is
/// exact), so results are bitwise independent of the number of ranks (for more
/// than 65536 fine C-points the per-rank partial sums are reduced instead, which
/// changes the norm only by rounding).
///
/// ## Memory (states of the problem's size)
/// Fine level: `N+1` (``MGRITStorage/allPoints``). Coarse levels: `uⱼ` and `gⱼ`
/// for every point, `2·Σₗ≥₁ nₗ ≈ 2N/(m₀(1 − 1/m))` (⅔N for m₀ = m = 4), plus 2 scratch states
/// per level and two message buffers per level of ``MGRITProblem/bufferCount``.
///
/// ## Files
/// As XBraid splits grid.c, drive.c, relax.c and communication.c: this file
/// (construction, fine-level access), ``MGRITHierarchy`` and
/// `MGRITSolver+Levels.swift` (levels and storage), `MGRITSolver+Cycles.swift`
/// (the solve driver, V- and F-cycles, visit planning),
/// `MGRITSolver+Relaxation.swift` (relaxation, restriction, correction, coarsest
/// solve) and `MGRITSolver+Communication.swift` (halo exchange, norm reduction).
public final class MGRITSolver<P: MGRITProblem> {
    public let problem: P
    public let options: MGRITOptions
    public let comm: any Communicator
    public let partition: TimePartition
    /// This rank's position in ``partition`` (0 = earliest times).
    public let position: Int
    /// The levels this solver built (points per level, coarsening, and with
    /// ``partition`` the points every rank owns on each level).
    public let hierarchy: MGRITHierarchy

    var levels: [Level] = []
    let bufferCount: Int
    /// Seconds in the residual norm's reductions during the current solve.
    var reduceSeconds = 0.0

    /// Builds the hierarchy and allocates every state and buffer.
    ///
    /// - Parameters:
    ///   - partition: who owns which fine points; default: block distribution over `comm` in rank order.
    /// - Throws: ``MGRITError`` for bad options, a problem with `stepCount < 1`, or a
    ///   partition that does not match the communicator.
    public init(problem: P, options: MGRITOptions = MGRITOptions(), comm: any Communicator,
                partition: TimePartition? = nil) throws {
        let n = problem.stepCount
        let hierarchy = try MGRITHierarchy(stepCount: n, options: options)
        let part = try partition ?? TimePartition.block(stepCount: n, size: comm.size)
        guard part.ranges.last!.upperBound == n + 1 else {
            throw MGRITError.invalidProblem("partition covers \(part.ranges.last!.upperBound) points, the problem has \(n + 1)")
        }
        guard part.ranks.count == comm.size, let pos = part.ranks.firstIndex(of: comm.rank) else {
            throw MGRITError.invalidProblem("partition has \(part.ranks.count) ranks, the communicator \(comm.size)")
        }
        guard problem.bufferCount >= 1 else { throw MGRITError.invalidProblem("bufferCount is \(problem.bufferCount)") }
        if options.deltaCorrection {
            guard problem.supportsDeltaCorrection else {
                throw MGRITError.invalidOption("Delta correction needs a problem with tangent operations; \(P.self) has none")
            }
            guard problem.tangentBufferCount >= 1 else { throw MGRITError.invalidProblem("tangentBufferCount is \(problem.tangentBufferCount)") }
        }
        self.problem = problem
        self.options = options
        self.comm = comm
        self.partition = part
        self.position = pos
        self.hierarchy = hierarchy
        self.bufferCount = problem.bufferCount

        for l in 0 ..< hierarchy.levelCount {
            // Owned points of every position on this level.
            let owned = hierarchy.ownedPoints(level: l, partition: part)
            var left: Int? = nil, right: Int? = nil
            if !owned[pos].isEmpty {
                left = (0 ..< pos).last(where: { !owned[$0].isEmpty }).map { part.ranks[$0] }
                right = (pos + 1 ..< owned.count).first(where: { !owned[$0].isEmpty }).map { part.ranks[$0] }
            }
            levels.append(Level(index: l, m: hierarchy.factor(level: l), stride: hierarchy.strides[l],
                                count: hierarchy.pointsPerLevel[l], owned: owned[pos],
                                left: left, right: right, problem: problem, withRHS: l > 0,
                                cPointsOnly: l == 0 && options.storage == .cPointsOnly, bufferCount: bufferCount,
                                hasDelta: options.deltaCorrection && l > 0,
                                propagatesTangents: options.deltaCorrection && l < hierarchy.levelCount - 1))
        }
        try resetToInitialGuess()
    }

    // MARK: - Public access to the fine level

    /// Number of levels of the hierarchy.
    public var levelCount: Int { levels.count }
    /// Points of each level.
    public var pointsPerLevel: [Int] { levels.map(\.count) }
    /// Fine points this rank owns (possibly empty).
    public var ownedRange: Range<Int> { levels[0].lo ..< levels[0].hi + 1 }
    /// Points of `level` this rank owns, in that level's indices (possibly empty:
    /// the rank idles there); `hierarchy.ownedPoints(level:partition:)[position]`.
    /// - Precondition: `0 ≤ level < levelCount`.
    public func ownedRange(level: Int) -> Range<Int> { levels[level].lo ..< levels[level].hi + 1 }
    /// States the solver holds on this rank (all levels, including scratch and ghosts).
    public var stateCount: Int { levels.reduce(0) { $0 + $1.stateCount } }
    /// Doubles of the Delta-correction store on this rank: the Δⱼ of every owned coarse
    /// point, running and scratch tangents, and tangent message buffers
    /// (``MGRITProblem/tangentBufferCount`` doubles each; 0 without Delta correction).
    public var deltaDoubles: Int { levels.reduce(0) { $0 + $1.tangentsHeld } * (options.deltaCorrection ? problem.tangentBufferCount : 0) }

    /// Δⱼ of point `point` of coarse `level` (≥ 1) as the last restriction into that level
    /// computed it, if this rank owns the point and Delta correction is on; for inspection.
    public func deltaCorrection(level: Int, point: Int) -> P.Tangent? {
        guard level >= 1, level < levels.count else { return nil }
        let L = levels[level]
        guard L.hasDelta, L.deltaValid, point >= L.lo, point <= L.hi, point >= 1 else { return nil }
        return L.delta[point - L.lo]
    }

    /// Frees the states of the coarse levels, which every cycle rebuilds from the
    /// fine level; the next ``solve(warmStart:)`` allocates them again. Lets a
    /// caller that keeps the solver (for warm starts) hold only the fine states
    /// between solves.
    public func releaseCoarseLevels() {
        for L in levels.dropFirst() { L.release() }
    }

    /// The current state at fine point `index` if this rank owns it, else nil.
    /// Writing into it before ``solve(warmStart:)`` with `warmStart: true` sets a warm start.
    public func state(at index: Int) -> P.State? {
        let f = levels[0]
        guard index >= f.lo, index <= f.hi, f.stores(index) else { return nil }
        return f.u[index - f.lo]
    }

    /// Rewrites the owned fine points with the problem's initial guess: every point, or
    /// with `cPointsOnly` point 0 and the C-points alone — all a solve reads. Every
    /// iteration starts with an F-relaxation of the fine level (F and FCF alike), and
    /// the first iteration's alternatives (skipped down-cycle, nested iteration) read
    /// and write only C-points before it, so an F-point is always recomputed from its
    /// interval's C-point before anything reads it (tested with NaN F-points).
    public func resetToInitialGuess(cPointsOnly: Bool = false) throws {
        let f = levels[0]
        for j in f.lo ..< f.hi + 1 where f.stores(j) && (!cPointsOnly || j == 0 || f.isC(j)) {
            try problem.initialGuess(at: j, into: f.u[j - f.lo])
        }
    }

    // MARK: - Timing

    /// Seconds on Comm's monotonic clock (``monotonicSeconds()``, the package's one
    /// interval clock) since `t`, a reading of it.
    @inline(__always)
    func seconds(since t: Double) -> Double { monotonicSeconds() - t }
}
