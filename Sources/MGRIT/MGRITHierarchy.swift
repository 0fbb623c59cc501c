/// The levels of the MGRIT hierarchy for a problem of `stepCount` fine steps,
/// and which points of each level a ``TimePartition`` gives each rank: exactly
/// what ``MGRITSolver`` builds (it builds its levels from this type), so a cost
/// model or a schedule can plan without constructing a solver.
///
/// Level `l` has the points `j = 0 … nₗ−1` at fine indices `j·Mₗ` (`M₀ = 1`,
/// `Mₗ₊₁ = mₗ·Mₗ`, `nₗ = ⌊N/Mₗ⌋ + 1`), where `mₗ` is
/// ``MGRITOptions/coarsening(onLevel:)``: ``MGRITOptions/fineCoarsening`` on the
/// fine level if set, ``MGRITOptions/coarsening`` on every other. The C-points of
/// level `l` are its points `j` with `j % mₗ == 0`. Levels are added while the
/// next one has at least ``MGRITOptions/minCoarseSize`` points and fewer than the
/// current one, up to ``MGRITOptions/maxLevels``.
public struct MGRITHierarchy: Sendable, Equatable {
    /// Coarsening factor `m` between the coarse levels `l ≥ 1` and `l + 1`
    /// (``MGRITOptions/coarsening``); also the fine level's unless ``fineCoarsening`` differs.
    public let coarsening: Int
    /// Coarsening factor `m₀` from the fine level to level 1
    /// (``MGRITOptions/fineCoarsening``, else ``coarsening``): fine point `i` is a
    /// C-point iff `i % fineCoarsening == 0`.
    public let fineCoarsening: Int
    /// Points of each level; level 0 (fine) has `stepCount + 1`, the last is the coarsest.
    public let pointsPerLevel: [Int]
    /// Fine indices between consecutive points of each level, `Mₗ = mₗ₋₁·Mₗ₋₁`
    /// (level 0: 1; `m₀ = fineCoarsening`, `m` = ``coarsening`` below).
    public let strides: [Int]

    /// - Throws: ``MGRITError/invalidOption(_:)`` for bad options,
    ///   ``MGRITError/invalidProblem(_:)`` for `stepCount < 1`.
    public init(stepCount n: Int, options: MGRITOptions) throws {
        try options.validate()
        guard n >= 1 else { throw MGRITError.invalidProblem("the problem has \(n) time steps (layers); need at least 1") }
        var counts = [n + 1], strides = [1]
        while counts.count < options.maxLevels {
            let m = options.coarsening(onLevel: counts.count - 1)
            let next = (counts.last! - 1) / m + 1
            guard next >= options.minCoarseSize, next < counts.last! else { break }
            counts.append(next)
            strides.append(strides.last! * m)
        }
        coarsening = options.coarsening
        fineCoarsening = options.coarsening(onLevel: 0)
        pointsPerLevel = counts
        self.strides = strides
    }

    /// Coarsening factor from `level` to `level + 1` (`level ≥ 0`): ``fineCoarsening``
    /// on level 0, ``coarsening`` elsewhere; level `l`'s C-points are its points `j`
    /// with `j % factor(level: l) == 0`.
    public func factor(level: Int) -> Int { level == 0 ? fineCoarsening : coarsening }

    /// Number of levels (1: a sequential solve on the fine level).
    public var levelCount: Int { pointsPerLevel.count }

    /// The points of `level` that each position of `partition` owns, in that
    /// level's indices, by position (0 = earliest times): the points whose fine
    /// index `j·Mₗ` lies in the position's fine range. Empty for a position that
    /// owns no point there (it idles on that level); the ranges tile
    /// `0 ..< pointsPerLevel[level]` in order.
    ///
    /// - Precondition: `0 ≤ level < levelCount`, and `partition` covers this
    ///   hierarchy's `pointsPerLevel[0]` fine points.
    public func ownedPoints(level: Int, partition: TimePartition) -> [Range<Int>] {
        let stride = strides[level], last = pointsPerLevel[level] - 1
        return partition.ranges.map { r in
            // First point at or after the range's start; last one before its end.
            let lo = (r.lowerBound + stride - 1) / stride
            let hi = r.isEmpty ? lo - 1 : min((r.upperBound - 1) / stride, last)
            return lo ..< max(hi + 1, lo)
        }
    }
}
